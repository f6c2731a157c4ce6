use super::*;

fn input<'a>(previous: Option<&'a Operation>, now: &str) -> ScaleInput<'a> {
    static NOBODY: BTreeSet<i32> = BTreeSet::new();
    ScaleInput {
        name: SCALE_UP,
        leaving: &NOBODY,
        replicas: 4,
        previous,
        now: now.parse().unwrap(),
        timeout: Duration::from_secs(60),
        max_moves: 2,
    }
}

/// 6 partitions of RF 2 on brokers 0..3, broker 3 new and empty.
fn facts() -> ScaleFacts {
    ScaleFacts {
        brokers: (0..4).map(|b| (b, None)).collect(),
        assignment: (0..6)
            .map(|p| (("t".to_owned(), p), vec![p % 3, (p + 1) % 3]))
            .collect(),
        ..ScaleFacts::default()
    }
}

const T0: &str = "2026-11-25T21:00:00Z";

#[test]
fn new_brokers_register_before_anything_moves() {
    let mut f = facts();
    f.brokers.remove(&3);
    let ScaleStep::Wait(op) = next_step(&input(None, T0), &f) else {
        panic!("waits");
    };
    assert!(op.message.unwrap().contains("brokers [3] to register"));
}

#[test]
fn moves_go_in_bounded_batches_and_progress_is_counted() {
    let step = next_step(&input(None, T0), &facts());
    let ScaleStep::Submit(batch, op) = step else {
        panic!("submits: {step:?}");
    };
    assert_eq!(batch.len(), 2, "maxConcurrentMoves");
    assert!(batch.iter().all(|(_, target)| target.contains(&3)));
    assert_eq!(op.partitions_moving, Some(2));
    assert_eq!(
        op.since.as_deref(),
        Some(T0),
        "the batch's bound starts now"
    );

    // One of the two finished: shown as progress, the bound unchanged.
    let mut f = facts();
    f.ongoing = vec![batch[1].0.clone()];
    let ScaleStep::Wait(waiting) = next_step(&input(Some(&op), "2026-11-25T21:00:30Z"), &f) else {
        panic!("waits");
    };
    let total = op.partitions_to_move.unwrap();
    assert!(
        waiting
            .message
            .as_deref()
            .unwrap()
            .starts_with(&format!("moved 1/{total} partitions")),
        "{waiting:?}"
    );
    assert_eq!(waiting.since.as_deref(), Some(T0));

    // Past the bound: stuck, naming the partition.
    let step = next_step(&input(Some(&waiting), "2026-11-25T21:01:01Z"), &f);
    let ScaleStep::Stuck(stuck) = step else {
        panic!("stuck: {step:?}");
    };
    let (t, p) = &batch[1].0;
    assert!(stuck.message.unwrap().contains(&format!("{t}-{p}")));
}

#[test]
fn a_balanced_cluster_elects_preferred_leaders_then_is_idle() {
    let mut f = facts();
    f.brokers.remove(&3);
    let mut done = input(None, T0);
    done.replicas = 3;
    f.unpreferred_leaders = vec![("t".to_owned(), 0)];
    assert!(
        matches!(next_step(&done, &f), ScaleStep::ElectLeaders(ref p, _) if p == &f.unpreferred_leaders)
    );
    f.unpreferred_leaders.clear();
    assert_eq!(next_step(&done, &f), ScaleStep::Idle);
}

#[test]
fn a_scale_is_active_while_the_statefulset_grows_the_status_says_so_or_a_broker_is_empty() {
    let none = ScaleFacts::default();
    assert!(active(Some(3), 5, None, &none));
    assert!(!active(Some(5), 5, None, &none));
    assert!(active(Some(5), 5, Some(&Operation::named(SCALE_UP)), &none));
    assert!(
        !active(None, 3, None, &none),
        "a new cluster is created, not scaled"
    );
    assert!(active(Some(4), 4, None, &facts()), "broker 3 holds nothing");
    let mut filled = facts();
    filled.assignment.insert(("u".to_owned(), 0), vec![3]);
    assert!(!active(Some(4), 4, None, &filled));
}

#[test]
fn a_drain_moves_everything_off_the_leaving_broker() {
    let mut f = facts();
    let leaving = BTreeSet::from([2]);
    let mut drain = input(None, T0);
    drain.name = SCALE_DOWN;
    drain.replicas = 3;
    drain.leaving = &leaving;
    f.brokers.remove(&3);
    drain.max_moves = 10;
    let ScaleStep::Submit(batch, op) = next_step(&drain, &f) else {
        panic!("submits");
    };
    assert_eq!(op.name, SCALE_DOWN);
    assert!(
        batch.iter().all(|(_, target)| !target.contains(&2)),
        "{batch:?}"
    );
    let on_2 = f.assignment.values().filter(|rs| rs.contains(&2)).count();
    assert!(batch.len() >= on_2);
}
