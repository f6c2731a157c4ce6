//! Pure computation of a cluster's status from what was observed.

use super::{
    build::service::bootstrap_servers,
    dereference::{BrokerView, ObservedCluster},
    membership::{self, Membership},
    rollout::plan::Step,
    scale::step::ScaleStep,
    validate::ValidatedCluster,
};
use crate::crd::{
    Condition, ConditionStatus, KafkaClusterStatus,
    conditions::{DEGRADED, PROGRESSING, READY, find, merge_conditions},
    kafka_cluster::Operation,
};

/// Reason of Progressing while a rolling update runs.
pub const ROLLING_UPDATE_REASON: &str = "RollingUpdate";
/// Reason of Degraded (and Progressing=False) when a roll waited past its bound.
pub const ROLLING_UPDATE_STUCK: &str = "RollingUpdateStuck";

/// Status of a cluster whose objects were applied; `roll` is the step the
/// rolling update took.
pub fn compute(
    cluster: &ValidatedCluster,
    observed: &ObservedCluster,
    roll: &Step,
    previous: Option<&KafkaClusterStatus>,
    now: &str,
) -> KafkaClusterStatus {
    let ready_brokers = observed.ready_brokers();
    let generation = cluster.generation;
    let membership: Option<Membership> = match &observed.brokers {
        BrokerView::Described(answers) => Some(membership::judge(
            cluster.quorum.as_ref().map(|q| q.cluster_id.as_str()),
            cluster.replicas,
            answers,
        )),
        _ => None,
    };
    let problem = membership.as_ref().and_then(|m| m.problem.as_ref());
    let rolling = matches!(roll, Step::Restart { .. } | Step::Wait(_));
    // A broker restarted by the roll is missing on purpose, within the
    // roll's bound (past it, the roll itself is Degraded, naming it).
    let unplanned =
        problem.filter(|(reason, _)| !rolling || *reason != membership::BROKERS_NOT_REGISTERED);
    let degraded = degraded(unplanned, ready_brokers >= cluster.replicas, previous);
    let waiting = |reason: &str, message: String, op: &'static str| {
        (
            Condition::new(READY, ConditionStatus::False, reason, message.clone()),
            Condition::new(PROGRESSING, ConditionStatus::True, op, message),
            op,
        )
    };
    let (ready, progressing, operation) = if ready_brokers < cluster.replicas {
        let op = if ready_brokers == 0 && previous.is_none_or(|p| p.ready_brokers <= 0) {
            "Creating"
        } else {
            "WaitingForBrokers"
        };
        waiting(
            "BrokersNotReady",
            format!("{ready_brokers}/{} brokers ready", cluster.replicas),
            op,
        )
    } else {
        match (&observed.brokers, problem) {
            (_, Some((reason, message))) => waiting(reason, message.clone(), "WaitingForBrokers"),
            (BrokerView::Described(_), None) => (
                Condition::new(
                    READY,
                    ConditionStatus::True,
                    "AllBrokersReady",
                    format!("{ready_brokers}/{} brokers ready", cluster.replicas),
                ),
                Condition::new(
                    PROGRESSING,
                    ConditionStatus::False,
                    "Idle",
                    "no operation in progress",
                ),
                "Idle",
            ),
            (BrokerView::Unreachable(error), _) => waiting(
                "BrokersUnreachable",
                format!("pods are ready but no broker answers: {error}"),
                "WaitingForBrokers",
            ),
            (BrokerView::NotAsked, _) => waiting(
                "BrokersNotAsked",
                "brokers not asked yet".to_owned(),
                "WaitingForBrokers",
            ),
        }
    };
    let (progressing, degraded, operation) = match (roll, roll.operation(now)) {
        (Step::Stuck(w), Some(op)) => (
            Condition::new(
                PROGRESSING,
                ConditionStatus::False,
                ROLLING_UPDATE_STUCK,
                w.message.clone(),
            ),
            Condition::new(
                DEGRADED,
                ConditionStatus::True,
                ROLLING_UPDATE_STUCK,
                w.message.clone(),
            ),
            op,
        ),
        (_, Some(op)) => (
            Condition::new(
                PROGRESSING,
                ConditionStatus::True,
                ROLLING_UPDATE_REASON,
                op.message.clone().unwrap_or_default(),
            ),
            degraded,
            op,
        ),
        (_, None) => {
            let message =
                (progressing.status == ConditionStatus::True).then(|| progressing.message.clone());
            (
                progressing,
                degraded,
                Operation {
                    message,
                    ..Operation::named(operation)
                },
            )
        }
    };
    let fresh = [ready, progressing, degraded]
        .into_iter()
        .map(|c| c.at_generation(generation))
        .collect();
    let previous_conditions = previous
        .map(|p| p.conditions.as_slice())
        .unwrap_or_default();
    KafkaClusterStatus {
        conditions: merge_conditions(previous_conditions, fresh, now),
        observed_generation: generation,
        ready_brokers,
        bootstrap_servers: Some(bootstrap_servers(cluster)),
        version: observed
            .running_version()
            .or_else(|| previous.and_then(|p| p.version.clone())),
        operation: Some(with_since(operation, previous, now)),
        cluster_id: match &membership {
            Some(m) => Some(m.cluster_id.clone()),
            None => previous.and_then(|p| p.cluster_id.clone()),
        },
        brokers: match membership {
            Some(m) => m.brokers,
            None => previous.map(|p| p.brokers.clone()).unwrap_or_default(),
        },
        // Set by the reconcile once applied (`cluster::dynamic_config`).
        dynamic_config: previous
            .map(|p| p.dynamic_config.clone())
            .unwrap_or_default(),
    }
}

/// Reason of Progressing while partitions move onto added brokers.
pub const SCALE_UP_REASON: &str = "ScaleUp";
/// Reason of Degraded (and Progressing=False) when a batch of moves did not
/// finish within its bound.
pub const SCALE_STUCK: &str = "ScaleStuck";
/// Reason of Degraded when the moves of a scale cannot be planned.
pub const SCALE_REFUSED: &str = "ScaleRefused";

/// Shows the step of a scale in `status` (computed by [`compute`]): its
/// operation, Progressing, and Degraded naming the cause when it stopped.
pub fn show_scale(
    status: &mut KafkaClusterStatus,
    step: &ScaleStep,
    previous: Option<&KafkaClusterStatus>,
    generation: Option<i64>,
    now: &str,
) {
    let Some(op) = step.operation() else {
        return;
    };
    let message = op.message.clone().unwrap_or_default();
    let stopped = match step {
        ScaleStep::Stuck(_) => Some(SCALE_STUCK),
        ScaleStep::Refused(_) => Some(SCALE_REFUSED),
        _ => None,
    };
    let progressing = match stopped {
        Some(reason) => Condition::new(PROGRESSING, ConditionStatus::False, reason, &message),
        None => Condition::new(
            PROGRESSING,
            ConditionStatus::True,
            SCALE_UP_REASON,
            &message,
        ),
    };
    let fresh = status
        .conditions
        .iter()
        .map(|c| match (c.type_.as_str(), stopped) {
            (PROGRESSING, _) => progressing.clone(),
            (DEGRADED, Some(reason)) => {
                Condition::new(DEGRADED, ConditionStatus::True, reason, &message)
            }
            _ => c.clone(),
        })
        .map(|c| c.at_generation(generation))
        .collect();
    let previous_conditions = previous
        .map(|p| p.conditions.as_slice())
        .unwrap_or_default();
    status.conditions = merge_conditions(previous_conditions, fresh, now);
    status.operation = Some(with_since(op.clone(), previous, now));
}

/// `op` with its start: that of the previous operation when it is the
/// same step (name and broker), `now` otherwise.
fn with_since(mut op: Operation, previous: Option<&KafkaClusterStatus>, now: &str) -> Operation {
    if op.since.is_none() {
        let same = previous
            .and_then(|p| p.operation.as_ref())
            .filter(|p| p.name == op.name && p.broker == op.broker);
        op.since = same
            .and_then(|p| p.since.clone())
            .or_else(|| Some(now.to_owned()));
    }
    op
}

/// Degraded: the brokers do not form one cluster of every desired broker
/// (`problem`, from [`membership::judge`]). A broker of another cluster
/// always degrades it; a broker missing from the registered set does once
/// every Pod is Ready, or when the cluster was Ready (or already degraded
/// so) before: not while the brokers of a new cluster start one by one.
fn degraded(
    problem: Option<&(&'static str, String)>,
    all_pods_ready: bool,
    previous: Option<&KafkaClusterStatus>,
) -> Condition {
    let was_whole_or_degraded = previous.is_some_and(|p| {
        find(&p.conditions, READY).is_some_and(|c| c.status == ConditionStatus::True)
            || find(&p.conditions, DEGRADED).is_some_and(|c| {
                c.status == ConditionStatus::True
                    && membership::REASONS.contains(&c.reason.as_str())
            })
    });
    match problem {
        Some((reason, message))
            if *reason == membership::CLUSTER_ID_MISMATCH
                || all_pods_ready
                || was_whole_or_degraded =>
        {
            Condition::new(DEGRADED, ConditionStatus::True, reason, message.clone())
        }
        _ => Condition::new(
            DEGRADED,
            ConditionStatus::False,
            "AsExpected",
            "spec is valid and applied",
        ),
    }
}

/// Status of a cluster whose reconcile failed for `reason`: Ready=False and
/// Degraded=True carry the message (which names the field), the status is
/// marked as describing this generation, and what is still observed (ready
/// brokers, cluster id, bootstrap address) is kept.
pub fn failed(
    reason: &str,
    message: &str,
    generation: Option<i64>,
    previous: Option<&KafkaClusterStatus>,
    now: &str,
) -> KafkaClusterStatus {
    let mut status = previous.cloned().unwrap_or_default();
    let fresh = vec![
        Condition::new(READY, ConditionStatus::False, reason, message),
        Condition::new(PROGRESSING, ConditionStatus::False, reason, message),
        Condition::new(DEGRADED, ConditionStatus::True, reason, message),
    ]
    .into_iter()
    .map(|c| c.at_generation(generation))
    .collect();
    status.conditions = merge_conditions(&status.conditions, fresh, now);
    status.observed_generation = generation;
    status.operation = Some(with_since(Operation::named("Blocked"), previous, now));
    status
}

/// Status of a paused cluster: Progressing says so, `operation` is
/// `Paused`, everything else (what was last observed) is kept.
pub fn paused(
    generation: Option<i64>,
    previous: Option<&KafkaClusterStatus>,
    now: &str,
) -> KafkaClusterStatus {
    let mut status = previous.cloned().unwrap_or_default();
    status.conditions = crate::crd::paused_conditions(&status.conditions, generation, now);
    status.operation = Some(with_since(Operation::named("Paused"), previous, now));
    status
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::{
        dereference::{Described, ObservedPod},
        validate::tests::ClusterFixture,
    };

    const IDLE: Step = Step::Idle { finished: false };

    fn observed(ready: &[bool]) -> ObservedCluster {
        ObservedCluster {
            brokers: BrokerView::Described(vec![Described {
                pod: "demo-0".into(),
                cluster_id: "uid-1".into(),
                brokers: (0..i32::try_from(ready.len()).unwrap()).collect(),
                fenced: vec![],
            }]),
            pods: ready
                .iter()
                .enumerate()
                .map(|(i, &ready)| ObservedPod {
                    name: format!("demo-{i}"),
                    ready,
                    ip: None,
                    config_hash: None,
                    version: Some("0.1.0".into()),
                    pod_index: Some(i.to_string()),
                    image: None,
                    manual_restart: false,
                    container_problem: None,
                })
                .collect(),
            ..ObservedCluster::default()
        }
    }

    #[test]
    fn ready_when_every_broker_is_ready() {
        let v = ClusterFixture::new("demo", 3).validated();
        let s = compute(&v, &observed(&[true, true, true]), &IDLE, None, "t1");
        assert_eq!(
            find(&s.conditions, READY).unwrap().status,
            ConditionStatus::True
        );
        assert_eq!(
            find(&s.conditions, PROGRESSING).unwrap().status,
            ConditionStatus::False
        );
        assert_eq!(s.ready_brokers, 3);
        assert_eq!(s.observed_generation, Some(3));
        assert_eq!(
            s.bootstrap_servers.as_deref(),
            Some("demo-bootstrap.ns1.svc:9092")
        );
        assert_eq!(s.version.as_deref(), Some("0.1.0"));
        assert_eq!(s.operation.as_ref().map(|o| o.name.as_str()), Some("Idle"));
        assert_eq!(
            (s.cluster_id.as_deref(), s.brokers.as_slice()),
            (Some("uid-1"), &[0, 1, 2][..])
        );
    }

    #[test]
    fn ready_pods_of_a_split_cluster_are_degraded_naming_the_broker() {
        let v = ClusterFixture::new("demo", 3).validated();
        let mut o = observed(&[true, true, true]);
        answers_of(&mut o)[0].brokers = vec![0, 2];
        let s = compute(&v, &o, &IDLE, None, "t1");
        let degraded = find(&s.conditions, DEGRADED).unwrap();
        assert_eq!(
            (degraded.status, degraded.reason.as_str()),
            (ConditionStatus::True, "BrokersNotRegistered")
        );
        assert!(
            degraded.message.starts_with("brokers 1 are not"),
            "{}",
            degraded.message
        );
        assert_eq!(
            find(&s.conditions, READY).unwrap().status,
            ConditionStatus::False
        );
        answers_of(&mut o).push(Described {
            pod: "demo-2".into(),
            cluster_id: "elsewhere".into(),
            brokers: vec![2],
            fenced: vec![],
        });
        let s = compute(&v, &o, &IDLE, None, "t1");
        assert_eq!(
            find(&s.conditions, DEGRADED).unwrap().reason,
            "ClusterIdMismatch"
        );
        assert_eq!(s.cluster_id.as_deref(), Some("uid-1"));
    }

    #[test]
    fn a_broker_lost_by_a_ready_cluster_degrades_it_but_a_starting_one_does_not() {
        let v = ClusterFixture::new("demo", 3).validated();
        let mut starting = observed(&[true, false, false]);
        answers_of(&mut starting)[0].brokers = vec![0];
        let s = compute(&v, &starting, &IDLE, None, "t1");
        assert_eq!(
            find(&s.conditions, DEGRADED).unwrap().status,
            ConditionStatus::False,
            "brokers of a new cluster start one by one"
        );
        let whole = compute(&v, &observed(&[true, true, true]), &IDLE, None, "t1");
        let mut lost = observed(&[true, true, false]);
        answers_of(&mut lost)[0].brokers = vec![0, 1];
        let s = compute(&v, &lost, &IDLE, Some(&whole), "t2");
        let degraded = find(&s.conditions, DEGRADED).unwrap();
        assert_eq!(
            (degraded.status, degraded.reason.as_str()),
            (ConditionStatus::True, "BrokersNotRegistered")
        );
        assert!(
            degraded.message.starts_with("brokers 2 are not"),
            "{}",
            degraded.message
        );
        let again = compute(&v, &lost, &IDLE, Some(&s), "t3");
        assert_eq!(
            find(&again.conditions, DEGRADED).unwrap().status,
            ConditionStatus::True,
            "stays degraded until the broker is back"
        );
    }

    fn answers_of(o: &mut ObservedCluster) -> &mut Vec<Described> {
        match &mut o.brokers {
            BrokerView::Described(answers) => answers,
            _ => unreachable!(),
        }
    }

    #[test]
    fn ready_pods_whose_brokers_do_not_answer_are_not_ready() {
        let v = ClusterFixture::new("demo", 1).validated();
        let mut o = observed(&[true]);
        o.brokers = BrokerView::Unreachable("10.0.0.1:9092: connection refused".into());
        let s = compute(&v, &o, &IDLE, None, "t1");
        let ready = find(&s.conditions, READY).unwrap();
        assert_eq!(
            (ready.status, ready.reason.as_str()),
            (ConditionStatus::False, "BrokersUnreachable")
        );
        assert!(ready.message.contains("connection refused"));
    }

    #[test]
    fn progressing_while_brokers_start() {
        let v = ClusterFixture::new("demo", 3).validated();
        let s = compute(&v, &observed(&[true, false]), &IDLE, None, "t1");
        let ready = find(&s.conditions, READY).unwrap();
        assert_eq!(
            (ready.status, ready.message.as_str()),
            (ConditionStatus::False, "1/3 brokers ready")
        );
        assert_eq!(
            find(&s.conditions, PROGRESSING).unwrap().status,
            ConditionStatus::True
        );
        assert_eq!(
            compute(&v, &observed(&[]), &IDLE, None, "t")
                .operation
                .map(|o| o.name)
                .as_deref(),
            Some("Creating")
        );
    }

    #[test]
    fn a_roll_shows_in_progressing_and_operation_and_a_stuck_one_degrades() {
        use crate::cluster::rollout::plan::Waiting;
        let v = ClusterFixture::new("demo", 3).validated();
        let mut o = observed(&[true, false, true]);
        answers_of(&mut o)[0].brokers = vec![0, 2];
        let whole = compute(&v, &observed(&[true, true, true]), &IDLE, None, "t0");
        let waiting = Waiting {
            broker: Some(1),
            since: "t1".into(),
            message: "waiting for broker 1: Pod demo-broker-1 is not Ready".into(),
        };
        let s = compute(&v, &o, &Step::Wait(waiting.clone()), Some(&whole), "t2");
        let progressing = find(&s.conditions, PROGRESSING).unwrap();
        assert_eq!(
            (progressing.status, progressing.reason.as_str()),
            (ConditionStatus::True, ROLLING_UPDATE_REASON)
        );
        assert_eq!(
            find(&s.conditions, DEGRADED).unwrap().status,
            ConditionStatus::False,
            "a broker restarted on purpose is not a fault"
        );
        let op = s.operation.unwrap();
        assert_eq!(
            (op.name.as_str(), op.broker, op.since.as_deref()),
            ("RollingUpdate", Some(1), Some("t1"))
        );
        assert_eq!(op.message.as_deref(), Some(waiting.message.as_str()));

        let s = compute(&v, &o, &Step::Stuck(waiting.clone()), Some(&whole), "t3");
        let degraded = find(&s.conditions, DEGRADED).unwrap();
        assert_eq!(
            (degraded.status, degraded.reason.as_str()),
            (ConditionStatus::True, ROLLING_UPDATE_STUCK)
        );
        assert!(degraded.message.contains("demo-broker-1"));
        assert_eq!(
            find(&s.conditions, PROGRESSING).unwrap().status,
            ConditionStatus::False
        );
    }

    #[test]
    fn an_operation_keeps_its_start_while_it_lasts() {
        let v = ClusterFixture::new("demo", 3).validated();
        let first = compute(&v, &observed(&[true, false, false]), &IDLE, None, "t1");
        let later = compute(
            &v,
            &observed(&[true, true, false]),
            &IDLE,
            Some(&first),
            "t2",
        );
        let op = later.operation.unwrap();
        assert_eq!(op.name, "WaitingForBrokers");
        assert_eq!(op.since.as_deref(), Some("t1"));
        assert_eq!(op.message.as_deref(), Some("2/3 brokers ready"));
    }

    #[test]
    fn a_failure_is_not_ready_names_the_field_and_keeps_what_runs() {
        let v = ClusterFixture::new("demo", 1).validated();
        let running = compute(&v, &observed(&[true]), &IDLE, None, "t1");
        let s = failed(
            "InvalidSpec",
            "spec.config[\"listeners\"] is set by the operator",
            Some(4),
            Some(&running),
            "t2",
        );
        for type_ in [READY, DEGRADED] {
            let c = find(&s.conditions, type_).unwrap();
            assert_eq!(c.reason, "InvalidSpec");
            assert!(c.message.contains("spec.config[\"listeners\"]"));
            assert_eq!(c.observed_generation, Some(4), "{type_}");
        }
        assert_eq!(
            find(&s.conditions, DEGRADED).unwrap().status,
            ConditionStatus::True
        );
        assert_eq!(
            find(&s.conditions, READY).unwrap().status,
            ConditionStatus::False
        );
        assert_eq!(s.ready_brokers, 1, "brokers still serve");
        assert_eq!(s.cluster_id.as_deref(), Some("uid-1"));
        assert_eq!(s.observed_generation, Some(4));
    }
}
