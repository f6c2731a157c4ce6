//! How long the quorum is without an active controller after the leader
//! stops. The outcome asserted is that a new leader is elected every time;
//! the median duration is printed (run with `--nocapture`) for the record.

use std::time::Instant;

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_leader_is_elected_after_each_of_ten_leader_stops() {
    let mut cluster = Cluster::start(3, test_timing()).await;
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
    let median = (durations[4] + durations[5]) / 2;
    eprintln!(
        "leader re-election after a stop, 10 rounds, election timeout {:?}: median {median:?}, min {:?}, max {:?}",
        test_timing().election_timeout,
        durations[0],
        durations[9]
    );
}
