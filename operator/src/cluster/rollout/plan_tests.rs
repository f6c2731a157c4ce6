use super::*;

const DESIRED: Desired<'static> = Desired {
    config_hash: "new",
    image: "karst:2",
};

fn pod(ordinal: i32, ready: bool, hash: &str) -> ObservedPod {
    ObservedPod {
        name: format!("demo-broker-{ordinal}"),
        ready,
        ip: None,
        config_hash: Some(hash.to_owned()),
        version: None,
        pod_index: Some(ordinal.to_string()),
        image: Some("karst:2".to_owned()),
        manual_restart: false,
        container_problem: None,
    }
}

fn facts(controller: i32) -> BrokerFacts {
    BrokerFacts {
        controller: Some(controller),
        registered: vec![0, 1, 2],
        partitions: Vec::new(),
    }
}

fn input<'a>(pods: &'a [ObservedPod], previous: Option<&'a Operation>) -> RollInput<'a> {
    RollInput {
        pods,
        stateful_set: "demo-broker",
        replicas: 3,
        desired: DESIRED,
        previous,
        now: "2026-01-01T00:10:00Z".parse().unwrap(),
        ready_timeout: Duration::from_secs(300),
    }
}

fn restarted(step: &Step) -> Option<i32> {
    match step {
        Step::Restart { broker, .. } => Some(*broker),
        _ => None,
    }
}

fn rolling_on(broker: i32, since: &str) -> Operation {
    Operation {
        name: ROLLING_UPDATE.into(),
        broker: Some(broker),
        since: Some(since.into()),
        message: Some("restarting".into()),
        ..Operation::default()
    }
}

#[test]
fn nothing_due_is_idle_without_asking_the_brokers() {
    let pods = [
        pod(0, true, "new"),
        pod(1, true, "new"),
        pod(2, true, "new"),
    ];
    let i = input(&pods, None);
    assert!(!facts_needed(&i));
    assert_eq!(
        next_step(&i, Err("not asked")),
        Step::Idle { finished: false }
    );
}

#[test]
fn brokers_roll_one_at_a_time_in_ordinal_order_with_the_controller_last() {
    let mut pods = vec![
        pod(0, true, "old"),
        pod(1, true, "old"),
        pod(2, true, "old"),
    ];
    let f = facts(0);
    let mut order = Vec::new();
    let mut previous: Option<Operation> = None;
    for _ in 0..3 {
        let i = input(&pods, previous.as_ref());
        assert!(facts_needed(&i));
        let step = next_step(&i, Ok(&f));
        let broker = restarted(&step).expect("a restart");
        order.push(broker);
        previous = step.operation("2026-01-01T00:10:00Z");
        // The StatefulSet re-creates the Pod from the new template.
        pods[broker as usize] = pod(broker, false, "new");
        let waiting = next_step(&input(&pods, previous.as_ref()), Ok(&f));
        match &waiting {
            Step::Wait(w) => {
                assert_eq!(w.broker, Some(broker));
                assert_eq!(
                    w.since, "2026-01-01T00:10:00Z",
                    "the bound counts from the restart"
                );
                assert!(w.message.contains("is not Ready"), "{}", w.message);
            }
            other => panic!("no other broker goes down meanwhile: {other:?}"),
        }
        pods[broker as usize].ready = true;
    }
    assert_eq!(order, [1, 2, 0], "the active controller (0) last");
    assert_eq!(
        next_step(&input(&pods, previous.as_ref()), Ok(&f)),
        Step::Idle { finished: true }
    );
}

#[test]
fn image_and_manual_annotation_are_reasons_too() {
    let mut p = pod(0, true, "new");
    assert_eq!(restart_reason(&p, DESIRED), None);
    p.manual_restart = true;
    assert_eq!(restart_reason(&p, DESIRED), Some(RestartReason::Manual));
    p.image = Some("karst:1".into());
    assert_eq!(
        restart_reason(&p, DESIRED),
        Some(RestartReason::ImageChanged)
    );
    p.image = Some("karst:2".into());
    p.config_hash = Some("old".into());
    assert_eq!(
        restart_reason(&p, DESIRED),
        Some(RestartReason::ConfigChanged)
    );
}

#[test]
fn a_restarted_broker_must_register_and_catch_up_before_the_next() {
    let pods = [
        pod(0, true, "old"),
        pod(1, true, "new"),
        pod(2, true, "old"),
    ];
    let previous = rolling_on(1, "2026-01-01T00:09:00Z");
    let mut f = facts(0);
    f.registered = vec![0, 2];
    let step = next_step(&input(&pods, Some(&previous)), Ok(&f));
    assert!(
        matches!(&step, Step::Wait(w) if w.message.contains("broker 1 (Pod demo-broker-1) to register")),
        "{step:?}"
    );
    f.registered = vec![0, 1, 2];
    f.partitions = vec![PartitionReplicas {
        topic: "t".into(),
        partition: 3,
        replicas: vec![1, 2],
        isr: vec![2],
        min_isr: 1,
    }];
    let step = next_step(&input(&pods, Some(&previous)), Ok(&f));
    assert!(
        matches!(&step, Step::Wait(w) if w.message.contains("not in the ISR of t-3")),
        "{step:?}"
    );
    f.partitions[0].isr = vec![1, 2];
    assert_eq!(
        restarted(&next_step(&input(&pods, Some(&previous)), Ok(&f))),
        Some(2)
    );
}

#[test]
fn a_broker_whose_partitions_would_drop_below_min_isr_is_skipped_or_waited_for() {
    let pods = [
        pod(0, true, "old"),
        pod(1, true, "old"),
        pod(2, true, "new"),
    ];
    let mut f = facts(2);
    let orders = |isr: Vec<i32>| PartitionReplicas {
        topic: "orders".into(),
        partition: 0,
        replicas: vec![0, 1, 2],
        isr,
        min_isr: 2,
    };
    // ISR [0, 2] at min: broker 0 blocks; broker 1, out of the ISR, may go.
    f.partitions = vec![orders(vec![0, 2])];
    assert_eq!(restarted(&next_step(&input(&pods, None), Ok(&f))), Some(1));
    // ISR [0, 1] at min: both due brokers block; the roll waits, saying why.
    f.partitions = vec![orders(vec![0, 1])];
    match &next_step(&input(&pods, None), Ok(&f)) {
        Step::Wait(w) => {
            assert_eq!(w.broker, Some(0));
            assert!(
                w.message.starts_with(
                    "restarting broker 0 would take orders-0 (ISR [0, 1], min.insync.replicas=2) below min.insync.replicas; restarting broker 1"
                ),
                "{}",
                w.message
            );
        }
        other => panic!("{other:?}"),
    }
    // A full ISR above min: no block.
    f.partitions = vec![orders(vec![0, 1, 2])];
    assert_eq!(restarted(&next_step(&input(&pods, None), Ok(&f))), Some(0));
}

#[test]
fn a_broker_that_does_not_come_back_stops_the_roll_naming_it_and_a_fix_resumes_it() {
    let mut bad = pod(0, false, "new");
    bad.image = Some("karst:2".into());
    bad.container_problem = Some("ErrImagePull: no such image".into());
    let pods = [bad, pod(1, true, "old"), pod(2, true, "old")];
    let previous = rolling_on(0, "2026-01-01T00:04:00Z");
    let step = next_step(&input(&pods, Some(&previous)), Ok(&facts(2)));
    match &step {
        Step::Stuck(w) => {
            assert_eq!(w.broker, Some(0));
            assert!(
                w.message
                    .contains("Pod demo-broker-0 is not Ready (ErrImagePull: no such image)"),
                "{}",
                w.message
            );
            assert!(w.message.contains("300s"), "{}", w.message);
        }
        other => panic!("{other:?}"),
    }
    // Fixed: the template's image changes, so the broken Pod is due and,
    // since it serves nothing, restarted first.
    let fixed = Desired {
        config_hash: "new",
        image: "karst:3",
    };
    let mut i = input(&pods, Some(&previous));
    i.desired = fixed;
    assert_eq!(restarted(&next_step(&i, Ok(&facts(2)))), Some(0));
}

#[test]
fn the_brokers_unreadable_is_a_bounded_wait() {
    let pods = [
        pod(0, true, "old"),
        pod(1, true, "new"),
        pod(2, true, "new"),
    ];
    let step = next_step(&input(&pods, None), Err("connection refused"));
    assert!(
        matches!(&step, Step::Wait(w) if w.broker.is_none() && w.message.contains("connection refused")),
        "{step:?}"
    );
}
