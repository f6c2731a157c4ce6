//! Figures for the record, printed (run with `--nocapture`): how long the
//! quorum is without an active controller after the leader stops, and how
//! long a proposal takes to commit. The outcomes asserted are that a new
//! leader is elected every time and that every proposal is applied.

use std::time::Instant;

use super::*;

/// Stops the leader ten times (restarting it after each new election) and
/// returns the time from the stop to an agreed new leader, sorted.
async fn ten_leader_stops(timing: RaftTiming) -> Vec<Duration> {
    let mut cluster = Cluster::start(3, timing).await;
    let mut durations = Vec::new();
    for round in 0..10 {
        let old = cluster.leader(None).await;
        let proposed = cluster.propose(set_config(round)).await;
        for id in 1..=3 {
            cluster.applied(id, proposed.log_index).await;
        }
        let started = Instant::now();
        cluster.stop(old).await;
        let new = cluster.leader(Some(old)).await;
        durations.push(started.elapsed());
        assert_ne!(new, old);
        cluster.restart(old).await;
    }
    durations.sort();
    durations
}

fn report(label: &str, timing: &RaftTiming, durations: &[Duration]) {
    let median = (durations[4] + durations[5]) / 2;
    eprintln!(
        "leader re-election after a stop ({label}, election timeout {:?}, heartbeat {:?}), 10 rounds: \
         median {median:?}, min {:?}, max {:?}",
        timing.election_timeout, timing.heartbeat_interval, durations[0], durations[9]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_leader_is_elected_after_each_of_ten_leader_stops() {
    let durations = ten_leader_stops(test_timing()).await;
    report("test timings", &test_timing(), &durations);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_leader_is_elected_after_each_of_ten_leader_stops_with_default_timings() {
    let durations = ten_leader_stops(RaftTiming::default()).await;
    report("default timings", &RaftTiming::default(), &durations);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_proposals_commit_one_after_another() {
    let cluster = Cluster::start(3, test_timing()).await;
    let leader = cluster.leader(None).await;
    let mut durations = Vec::new();
    let mut last = 0;
    for i in 0..100 {
        let started = Instant::now();
        last = cluster
            .node(leader)
            .propose(set_config(i))
            .await
            .unwrap()
            .log_index;
        durations.push(started.elapsed());
    }
    let image = cluster.applied(leader, last).await;
    assert_eq!(probe(&image), Some("99"));
    durations.sort();
    eprintln!(
        "proposal commit latency, 3 voters on disk, 100 sequential proposals: median {:?}, p90 {:?}, max {:?}",
        durations[50], durations[90], durations[99]
    );
}
