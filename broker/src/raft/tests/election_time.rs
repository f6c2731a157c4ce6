//! How long the quorum is without an active controller after the leader
//! stops. The outcome asserted is that a new leader is elected every time;
//! the median duration is printed (run with `--nocapture`) for the record.

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
