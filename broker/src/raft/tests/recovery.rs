//! Durability: restart from snapshot plus log tail, snapshot catch-up.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarting_every_voter_restores_the_same_image_from_snapshot_and_log_tail() {
    let timing = RaftTiming {
        snapshot_every_entries: 5,
        entries_kept_after_snapshot: 2,
        ..test_timing()
    };
    let mut cluster = Cluster::start(3, timing).await;
    for i in 0..13 {
        cluster.propose(create_topic(&format!("t{i}"))).await;
    }
    let last = cluster.propose(set_config(7)).await.log_index;
    let mut before = BTreeMap::new();
    for id in 1..=3 {
        before.insert(id, fingerprint(&*cluster.applied(id, last).await));
    }
    assert!(before.values().all(|f| *f == before[&1]));
    for id in 1..=3 {
        cluster.stop(id).await;
    }
    for id in 1..=3 {
        let dir = cluster.metadata_dir(id);
        assert!(
            file_exists(&dir, "snapshot.json"),
            "node {id} took a snapshot"
        );
        assert!(file_exists(&dir, "raft.log"));
    }

    // Each voter alone: without a quorum nothing can reach it from a peer,
    // so the image it applies comes from its own snapshot and log tail.
    for id in 1..=3 {
        cluster.restart(id).await;
        let image = cluster.applied(id, last).await;
        assert_eq!(
            fingerprint(&image),
            before[&id],
            "node {id} restored its image"
        );
        assert_eq!(probe(&image), Some("7"));
        cluster.stop(id).await;
    }
    for id in 1..=3 {
        cluster.restart(id).await;
    }
    // And the restarted quorum takes proposals again.
    let proposed = cluster.propose(create_topic("after-restart")).await;
    assert!(proposed.log_index > last);
    assert!(proposed.image.topic("after-restart").is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lagging_voter_catches_up_by_snapshot() {
    let timing = RaftTiming {
        snapshot_every_entries: 5,
        entries_kept_after_snapshot: 0,
        ..test_timing()
    };
    let mut cluster = Cluster::start(3, timing).await;
    let leader = cluster.leader(None).await;
    let lagging = (1..=3).find(|id| *id != leader).unwrap();
    let seen = cluster.propose(create_topic("seen")).await.log_index;
    cluster.applied(lagging, seen).await;
    cluster.stop(lagging).await;

    let mut last = seen;
    for i in 0..20 {
        last = cluster
            .propose(create_topic(&format!("t{i}")))
            .await
            .log_index;
    }
    // The leader's log no longer holds what the lagging node needs next, so
    // appending entries cannot bring it up to date: only a snapshot can.
    let mut metrics = cluster.node(leader).raft_metrics();
    within("the leader to purge its log behind a snapshot", async {
        metrics
            .wait_for(|m| m.purged.is_some_and(|p| p.index > seen + 1))
            .await
            .unwrap();
    })
    .await;

    cluster.restart(lagging).await;
    let image = cluster.applied(lagging, last).await;
    let on_leader = cluster.applied(leader, last).await;
    assert_eq!(fingerprint(&image), fingerprint(&on_leader));
    let snapshot = cluster.node(lagging).raft_metrics().borrow().snapshot;
    assert!(
        snapshot.is_some_and(|s| s.index > seen),
        "the lagging node installed a snapshot, got {snapshot:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_former_leader_restarted_alone_neither_claims_leadership_nor_commits() {
    let timing = RaftTiming {
        proposal_timeout: Duration::from_secs(1),
        ..test_timing()
    };
    let mut cluster = Cluster::start(3, timing).await;
    let leader = cluster.leader(None).await;
    cluster.propose(create_topic("x")).await;
    for id in 1..=3 {
        cluster.stop(id).await;
    }
    cluster.restart(leader).await;
    let node = cluster.node(leader);
    assert!(!node.is_leader());
    assert_eq!(node.leader_id(), None);
    assert!(matches!(
        node.confirm_leadership(Duration::from_secs(1)).await,
        Err(QuorumError::NoQuorum { .. })
    ));
    assert!(matches!(
        node.propose(create_topic("y")).await,
        Err(QuorumError::NoQuorum { .. })
    ));

    // With a majority back, leadership is confirmed again and the
    // proposal that timed out either committed or did not, never half.
    let other = (1..=3).find(|id| *id != leader).unwrap();
    cluster.restart(other).await;
    let now = cluster.leader(None).await;
    cluster
        .node(now)
        .confirm_leadership(DEADLINE)
        .await
        .unwrap();
    let proposed = cluster.propose(set_config(1)).await;
    let image = cluster.applied(now, proposed.log_index).await;
    assert!(image.topic("x").is_some());
    if let Some(y) = image.topic("y") {
        assert_eq!(y.partitions.len(), 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_torn_log_tail_is_cut_on_restart_and_the_node_catches_up() {
    let mut cluster = Cluster::start(3, test_timing()).await;
    let leader = cluster.leader(None).await;
    let follower = (1..=3).find(|id| *id != leader).unwrap();
    let first = cluster.propose(create_topic("a")).await.log_index;
    cluster.applied(follower, first).await;
    cluster.stop(follower).await;

    // A crash in the middle of an append: a frame header promising more
    // bytes than follow.
    let log = cluster.metadata_dir(follower).join("raft.log");
    let intact = std::fs::metadata(&log).unwrap().len();
    let mut torn = 4096u32.to_be_bytes().to_vec();
    torn.extend_from_slice(&[0xab; 100]);
    let mut file = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
    std::io::Write::write_all(&mut file, &torn).unwrap();
    drop(file);

    let second = cluster.propose(create_topic("b")).await.log_index;
    cluster.restart(follower).await;
    let image = cluster.applied(follower, second).await;
    assert!(image.topic("a").is_some() && image.topic("b").is_some());
    // What is on disk now reopens cleanly with nothing cut: the torn bytes
    // were cut and the new entries appended after the intact ones.
    cluster.stop(follower).await;
    let len = std::fs::metadata(&log).unwrap().len();
    assert!(len > intact);
    let (_, entries) = crate::raft::log_file::LogFile::open(&log).unwrap();
    assert!(entries.last().unwrap().log_id.index >= second);
    assert_eq!(std::fs::metadata(&log).unwrap().len(), len);
}

/// A batch of about `bytes` bytes of JSON.
fn large_config(bytes: usize) -> Vec<MetadataRecord> {
    vec![MetadataRecord::Config {
        resource: ConfigResourceKey::Broker(0),
        name: "large".into(),
        value: Some("x".repeat(bytes)),
    }]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_behind_by_more_than_a_frame_catches_up_in_smaller_appends() {
    // An unoptimized build needs more than the tests' usual heartbeat to
    // encode and decode a 1 MiB entry.
    let timing = RaftTiming {
        heartbeat_interval: Duration::from_millis(250),
        election_timeout: (Duration::from_millis(750), Duration::from_millis(1500)),
        ..test_timing()
    };
    let mut cluster = Cluster::start(3, timing).await;
    let leader = cluster.leader(None).await;
    let follower = (1..=3).find(|id| *id != leader).unwrap();
    cluster.stop(follower).await;
    // Eight entries of nearly 1 MiB: one append of all of them would be
    // far over the append limit of 2 MiB.
    let mut last = 0;
    for i in 0..8 {
        let mut batch = large_config(1000 * 1000);
        batch.extend(set_config(i));
        last = cluster.propose(batch).await.log_index;
    }
    cluster.restart(follower).await;
    let image = cluster.applied(follower, last).await;
    assert_eq!(image.broker_configs[&0]["large"].len(), 1000 * 1000);
    assert_eq!(probe(&image), Some("7"));

    let result = cluster.node(leader).propose(large_config(2 << 20)).await;
    assert!(
        matches!(result, Err(QuorumError::BatchTooLarge { .. })),
        "{result:?}"
    );
}
