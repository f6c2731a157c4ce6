use super::*;

/// `topics` x `partitions` partitions of `rf` replicas over brokers
/// `0..brokers`, round robin as a broker creates them.
fn round_robin(topics: &[&str], partitions: i32, rf: i32, brokers: i32) -> Assignment {
    let mut out = Assignment::new();
    for (t, topic) in topics.iter().enumerate() {
        for p in 0..partitions {
            let start = p + i32::try_from(t).unwrap();
            let replicas = (0..rf).map(|r| (start + r) % brokers).collect();
            out.insert(((*topic).to_owned(), p), replicas);
        }
    }
    out
}

fn brokers(
    ids: std::ops::Range<i32>,
    rack: impl Fn(i32) -> Option<String>,
) -> BTreeMap<i32, Option<String>> {
    ids.map(|b| (b, rack(b))).collect()
}

fn no_rack(_: i32) -> Option<String> {
    None
}

fn spread(counts: &BTreeMap<i32, usize>) -> usize {
    counts.values().max().unwrap() - counts.values().min().unwrap()
}

fn counts(target: &Assignment, brokers: &[i32], leaders_only: bool) -> BTreeMap<i32, usize> {
    let mut c: BTreeMap<i32, usize> = brokers.iter().map(|b| (*b, 0)).collect();
    for rs in target.values() {
        let held = if leaders_only { &rs[..1] } else { &rs[..] };
        for b in held {
            *c.get_mut(b).expect("only target brokers hold replicas") += 1;
        }
    }
    c
}

/// Replicas that land on a broker that did not hold them: the data copied.
fn copies(current: &Assignment, target: &Assignment) -> usize {
    target
        .iter()
        .map(|(p, rs)| rs.iter().filter(|b| !current[p].contains(b)).count())
        .sum()
}

#[test]
fn scale_up_spreads_replicas_and_leaders_with_minimal_copies() {
    // 3 topics x 20 partitions x RF 3 (60 partitions, 180 replicas) plus
    // __consumer_offsets, from 3 brokers onto 5.
    let mut current = round_robin(&["a", "b", "c"], 20, 3, 3);
    current.extend(round_robin(&["__consumer_offsets"], 50, 3, 3));
    let plan = plan(&current, &brokers(0..5, no_rack), &BTreeSet::new()).unwrap();
    let all: Vec<i32> = (0..5).collect();
    let replicas = counts(&plan.target, &all, false);
    assert!(spread(&replicas) <= 1, "{replicas:?}");
    let leaders = counts(&plan.target, &all, true);
    assert!(spread(&leaders) <= 1, "{leaders:?}");
    // 330 replicas over 5: the new brokers take 66 each, and nothing else moves.
    assert_eq!(copies(&current, &plan.target), 132);
    for (p, rs) in &plan.target {
        assert_eq!(
            rs.len(),
            current[p].len(),
            "{p:?} keeps its replication factor"
        );
        assert_eq!(
            rs.iter().collect::<BTreeSet<_>>().len(),
            rs.len(),
            "{p:?}: {rs:?}"
        );
    }
    assert!(
        plan.moved
            .iter()
            .all(|p| sorted(&current[p]) != sorted(&plan.target[p]))
    );
}

#[test]
fn a_balanced_assignment_is_left_alone() {
    let current = round_robin(&["a"], 12, 3, 3);
    let plan = plan(&current, &brokers(0..3, no_rack), &BTreeSet::new()).unwrap();
    assert_eq!(plan.target, current);
    assert!(plan.moved.is_empty() && plan.reordered.is_empty());
}

#[test]
fn scale_down_empties_the_leaving_brokers_and_stays_balanced() {
    let current = round_robin(&["a", "b"], 15, 3, 5);
    let leaving = BTreeSet::from([3, 4]);
    let plan = plan(&current, &brokers(0..5, no_rack), &leaving).unwrap();
    let kept = [0, 1, 2];
    // counts() panics on a replica outside `kept`.
    let replicas = counts(&plan.target, &kept, false);
    assert!(spread(&replicas) <= 1, "{replicas:?}");
    assert!(spread(&counts(&plan.target, &kept, true)) <= 1);
    let on_leaving: usize = current
        .values()
        .flatten()
        .filter(|b| leaving.contains(b))
        .count();
    assert_eq!(
        copies(&current, &plan.target),
        on_leaving,
        "only the leaving replicas move"
    );
}

#[test]
fn replicas_on_a_broker_that_is_gone_are_placed_again() {
    let current = Assignment::from([(("a".to_owned(), 0), vec![7, 0])]);
    let plan = plan(&current, &brokers(0..3, no_rack), &BTreeSet::new()).unwrap();
    let rs = &plan.target[&("a".to_owned(), 0)];
    assert!(
        !rs.contains(&7) && rs.contains(&0) && rs.len() == 2,
        "{rs:?}"
    );
}

#[test]
fn replicas_stay_on_distinct_racks() {
    // Racks r0, r1, r2 hold brokers {0, 3}, {1, 4}, {2, 5}.
    let rack = |b: i32| Some(format!("r{}", b % 3));
    let current = round_robin(&["a"], 30, 3, 3);
    let all = brokers(0..6, rack);
    let plan = plan(&current, &all, &BTreeSet::new()).unwrap();
    for (p, rs) in &plan.target {
        let racks: BTreeSet<_> = rs.iter().map(|b| &all[b]).collect();
        assert_eq!(racks.len(), 3, "{p:?}: {rs:?}");
    }
    let ids: Vec<i32> = (0..6).collect();
    assert!(spread(&counts(&plan.target, &ids, false)) <= 1);
    assert!(spread(&counts(&plan.target, &ids, true)) <= 1);
}

#[test]
fn fewer_brokers_than_a_replication_factor_cannot_be_planned() {
    let current = round_robin(&["a"], 3, 3, 3);
    let err = plan(&current, &brokers(0..3, no_rack), &BTreeSet::from([2])).unwrap_err();
    assert_eq!(err.replication_factor, 3);
    assert_eq!(err.brokers, 2);
    assert_eq!(
        err.to_string(),
        "partition a-0 has 3 replicas but only 2 brokers would remain"
    );
}
