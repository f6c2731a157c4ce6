//! Scaling a cluster's brokers. The voter set never changes (see
//! [`crate::cluster::quorum`]), so a scale adds or removes brokers above
//! the voters, and partitions move by reassignment: [`plan`] decides where
//! they go, [`step`] what to do next, and this module asks the brokers,
//! submits the reassignments and records each step (log line, event, metric).

pub mod drain;
pub mod plan;
pub mod step;
pub mod voters;

use std::{collections::BTreeSet, time::Duration};

use k8s_openapi::jiff::Timestamp;
use karst_client::{AdminClient, ElectionType};
use kube::runtime::events::EventType;

use self::step::{ScaleFacts, ScaleInput, ScaleStep};
use super::{dereference::ObservedCluster, validate::ValidatedCluster};
use crate::{context::Context, crd::KafkaCluster, events};

/// How long the brokers get to answer one request.
pub(crate) const BROKER_TIMEOUT: Duration = Duration::from_secs(10);

/// Takes the next step of a scale up of `kc`, if one is under way
/// (`running` is the StatefulSet's replica count before this reconcile).
pub async fn scale(
    ctx: &Context,
    kc: &KafkaCluster,
    cluster: &ValidatedCluster,
    observed: &ObservedCluster,
    running: Option<i32>,
) -> Option<ScaleStep> {
    let previous = kc.status.as_ref().and_then(|s| s.operation.as_ref());
    // One broker (embedded mode) has nowhere to move partitions.
    cluster.quorum.as_ref()?;
    let nobody = BTreeSet::new();
    let input = ScaleInput {
        name: step::SCALE_UP,
        leaving: &nobody,
        replicas: cluster.replicas,
        previous,
        now: Timestamp::now(),
        timeout: cluster.ready_timeout,
        max_moves: cluster.max_concurrent_moves,
    };
    let addresses = observed.ready_addresses(cluster.kafka_port);
    let Some(admin) = addresses
        .first()
        .map(|a| AdminClient::lazy(a.clone()).with_timeout(BROKER_TIMEOUT))
    else {
        let none = ScaleFacts::default();
        return step::active(running, cluster.replicas, previous, &none)
            .then(|| step::next_step(&input, &none));
    };
    let mut facts = read_facts(&admin, cluster).await;
    // Brokers above spec.replicas are leaving (drained, their Pods about to
    // go): nothing moves back onto them.
    facts.brokers.retain(|b, _| *b < cluster.replicas);
    if !step::active(running, cluster.replicas, previous, &facts) {
        return None;
    }
    Some(act(ctx, kc, cluster, &admin, step::next_step(&input, &facts)).await)
}

/// What the brokers report, or nothing (logged) when they cannot be read.
async fn read_facts(admin: &AdminClient, cluster: &ValidatedCluster) -> ScaleFacts {
    facts(admin).await.unwrap_or_else(|e| {
        tracing::debug!(namespace = %cluster.namespace, cluster = %cluster.name, error = %e, "scale: brokers not readable");
        ScaleFacts::default()
    })
}

/// Submits what `next` asks for and records it; a step the brokers refuse
/// becomes a wait (the next reconcile plans again).
async fn act(
    ctx: &Context,
    kc: &KafkaCluster,
    cluster: &ValidatedCluster,
    admin: &AdminClient,
    mut next: ScaleStep,
) -> ScaleStep {
    let (namespace, name) = (&cluster.namespace, &cluster.name);
    let outcome = match &next {
        ScaleStep::Submit(batch, _) => {
            let moves: Vec<(&str, i32, Option<Vec<i32>>)> = batch
                .iter()
                .map(|((t, p), target)| (t.as_str(), *p, Some(target.clone())))
                .collect();
            admin
                .alter_partition_reassignments(&moves)
                .await
                .map_err(|e| e.to_string())
                .and_then(|outcomes| refused(&outcomes))
        }
        ScaleStep::ElectLeaders(partitions, _) => {
            let names: Vec<(&str, i32)> =
                partitions.iter().map(|(t, p)| (t.as_str(), *p)).collect();
            admin
                .elect_leaders(ElectionType::Preferred, Some(&names))
                .await
                .map(|_| ())
                .map_err(|e| e.to_string())
        }
        _ => Ok(()),
    };
    if let Err(e) = outcome {
        // Not submitted: the next reconcile plans again from what the brokers report.
        tracing::warn!(%namespace, cluster = %name, error = %e, "scale: the brokers refused a step");
        let mut op = next.operation().cloned().unwrap_or_default();
        op.message = Some(format!("the brokers refused the step: {e}"));
        op.partitions_moving = None;
        next = ScaleStep::Wait(op);
    }
    record(ctx, kc, cluster, &next).await;
    next
}

/// The first partition a reassignment answered with an error, if any.
fn refused(outcomes: &[karst_client::PartitionOutcome]) -> Result<(), String> {
    match outcomes
        .iter()
        .find_map(|((t, p), r)| r.as_ref().err().map(|e| format!("{t}-{p}: {e}")))
    {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// Log line, event and metric of a step that did something.
async fn record(ctx: &Context, kc: &KafkaCluster, cluster: &ValidatedCluster, next: &ScaleStep) {
    let (namespace, name) = (&cluster.namespace, &cluster.name);
    let message = next
        .operation()
        .and_then(|op| op.message.clone())
        .unwrap_or_default();
    let (reason, event_type) = match next {
        ScaleStep::Submit(batch, _) => {
            ctx.metrics.partitions_moved(namespace, name, batch.len());
            ("MovePartitions", EventType::Normal)
        }
        ScaleStep::ElectLeaders(..) => ("ElectPreferredLeaders", EventType::Normal),
        ScaleStep::Stuck(_) => ("ScaleStuck", EventType::Warning),
        ScaleStep::Refused(_) => ("ScaleRefused", EventType::Warning),
        ScaleStep::Wait(_) | ScaleStep::Idle => return,
    };
    tracing::info!(%namespace, cluster = %name, %message, "scale: {reason}");
    events::publish(ctx, kc, event_type, reason, "Scale", message).await;
}

/// The registered brokers, every partition's replicas (the target of a
/// move in progress) and the moves in progress.
async fn facts(admin: &AdminClient) -> Result<ScaleFacts, karst_client::Error> {
    let described = admin.describe_cluster().await?;
    let ongoing = admin.list_partition_reassignments(None).await?;
    let metadata = admin.metadata(None).await?;
    let mut facts = ScaleFacts {
        brokers: described
            .brokers
            .iter()
            .map(|b| (b.node_id, b.rack.clone()))
            .collect(),
        ..ScaleFacts::default()
    };
    for topic in &metadata.topics {
        for p in &topic.partitions {
            let id = (topic.name.clone(), p.partition);
            if p.replicas.first().is_some_and(|first| *first != p.leader) {
                facts.unpreferred_leaders.push(id.clone());
            }
            facts.assignment.insert(id, p.replicas.clone());
        }
    }
    for o in ongoing {
        let id = (o.topic.clone(), o.partition);
        let target: Vec<i32> = o
            .replicas
            .iter()
            .copied()
            .filter(|r| !o.removing_replicas.contains(r))
            .collect();
        facts.assignment.insert(id.clone(), target);
        facts.ongoing.push(id);
    }
    Ok(facts)
}

/// The broker settings of `config` with the partition-move throttle of
/// `scaling` added as Kafka's two throttle rates, unless `config` sets them.
pub fn with_move_throttle(
    config: &std::collections::BTreeMap<String, String>,
    scaling: &crate::crd::kafka_cluster::ScalingSpec,
) -> std::collections::BTreeMap<String, String> {
    let mut config = config.clone();
    for key in [
        "leader.replication.throttled.rate",
        "follower.replication.throttled.rate",
    ] {
        config
            .entry(key.to_owned())
            .or_insert_with(|| scaling.throttle_bytes_per_second.to_string());
    }
    config
}
