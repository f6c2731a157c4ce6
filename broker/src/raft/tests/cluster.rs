//! Election, ordering, redirection and failover.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_voters_elect_one_leader_and_apply_proposals_in_the_same_order() {
    elect_and_apply_in_order(Cluster::start(3, test_timing()).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_in_memory_voters_elect_one_leader_and_apply_proposals_in_the_same_order() {
    elect_and_apply_in_order(Cluster::start_in_memory(3, test_timing()).await).await;
}

async fn elect_and_apply_in_order(cluster: Cluster) {
    let leader = cluster.leader(None).await;
    assert!(cluster.node(leader).is_leader());

    let mut last = 0;
    for i in 0..20 {
        let records = if i % 2 == 0 {
            create_topic(&format!("t{i}"))
        } else {
            set_config(i)
        };
        let proposed = cluster.propose(records).await;
        assert!(proposed.log_index > last, "log indices grow");
        last = proposed.log_index;
    }
    let on_leader = cluster.applied(leader, last).await;
    assert_eq!(probe(&on_leader), Some("19"));
    assert_eq!(on_leader.topics.len(), 10);
    for id in 1..=3 {
        let image = cluster.applied(id, last).await;
        assert_eq!(
            fingerprint(&image),
            fingerprint(&on_leader),
            "node {id} applied the same records in the same order"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_proposal_to_a_follower_gets_not_leader_naming_the_leader() {
    let cluster = Cluster::start(3, test_timing()).await;
    let leader = cluster.leader(None).await;
    let follower = (1..=3).find(|id| *id != leader).unwrap();
    assert!(!cluster.node(follower).is_leader());
    assert_eq!(cluster.node(follower).leader_id(), Some(leader));

    let result = cluster.node(follower).propose(create_topic("t")).await;
    assert_eq!(not_leader(result), Some(leader));
    // Nothing was written by the refused proposal.
    let proposed = cluster.propose(set_config(1)).await;
    let image = cluster.applied(follower, proposed.log_index).await;
    assert!(image.topic("t").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopping_the_leader_elects_another_and_proposals_continue() {
    let mut cluster = Cluster::start(3, test_timing()).await;
    let old = cluster.leader(None).await;
    cluster.propose(create_topic("before")).await;

    cluster.stop(old).await;
    let new = cluster.leader(Some(old)).await;
    assert_ne!(new, old);
    let proposed = cluster.propose(create_topic("after")).await;
    for id in cluster.running.keys().copied().collect::<Vec<_>>() {
        let image = cluster.applied(id, proposed.log_index).await;
        assert!(image.topic("before").is_some() && image.topic("after").is_some());
    }

    // The old leader comes back as a follower and catches up.
    cluster.restart(old).await;
    let image = cluster.applied(old, proposed.log_index).await;
    assert!(image.topic("after").is_some());
    assert_eq!(cluster.leader(None).await, new);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_observer_follows_the_log_without_voting_and_across_restarts() {
    let mut cluster = Cluster::start(3, test_timing()).await;
    let before = cluster.propose(create_topic("before")).await.log_index;
    let leader = cluster.leader(None).await;
    let observer = 4;
    let addr = cluster.start_observer(observer).await;
    cluster
        .node(leader)
        .add_observer(observer, addr.to_string())
        .await
        .unwrap();

    let after = cluster.propose(create_topic("after")).await;
    let image = cluster.applied(observer, after.log_index).await;
    assert!(image.topic("before").is_some() && image.topic("after").is_some());
    assert!(before < after.log_index);
    let on_leader = cluster.applied(leader, after.log_index).await;
    assert_eq!(fingerprint(&image), fingerprint(&on_leader));

    // It is not a voter: it never leads, and it refuses proposals.
    let result = cluster.node(observer).propose(create_topic("x")).await;
    assert_eq!(not_leader(result), Some(leader));
    let voters = cluster
        .node(leader)
        .raft_metrics()
        .borrow()
        .membership_config
        .clone();
    assert!(!voters.membership().voter_ids().any(|id| id == observer));
    // A voter id cannot be added as an observer.
    let follower = (1..=3).find(|id| *id != leader).unwrap();
    assert!(matches!(
        cluster
            .node(leader)
            .add_observer(follower, "127.0.0.1:1".into())
            .await,
        Err(QuorumError::ObserverIsVoter { .. })
    ));

    // Restarted, it is still in the membership and follows on.
    cluster.stop(observer).await;
    let later = cluster.propose(create_topic("later")).await.log_index;
    cluster.restart(observer).await;
    assert!(
        cluster
            .applied(observer, later)
            .await
            .topic("later")
            .is_some()
    );
}

#[tokio::test]
async fn a_node_in_the_wrong_role_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let voters = crate::raft::parse_voters("1@127.0.0.1:1,2@127.0.0.1:2").unwrap();
    let config = |node_id, role| QuorumConfig {
        node_id,
        role,
        cluster_id: CLUSTER_ID.to_owned(),
        voters: voters.clone(),
        storage: QuorumStorage::OnDisk {
            data_dir: dir.path().to_owned(),
        },
        timing: test_timing(),
    };
    let listener = || TcpListener::bind("127.0.0.1:0");
    let err = MetadataQuorum::start(config(3, QuorumRole::Voter), listener().await.unwrap())
        .await
        .err()
        .unwrap();
    assert!(
        matches!(err, QuorumError::NotAVoter { node_id: 3, .. }),
        "{err}"
    );
    assert!(
        err.to_string().contains("1@127.0.0.1:1,2@127.0.0.1:2"),
        "{err}"
    );
    let err = MetadataQuorum::start(config(1, QuorumRole::Observer), listener().await.unwrap())
        .await
        .err()
        .unwrap();
    assert!(
        matches!(err, QuorumError::ObserverIsVoter { node_id: 1, .. }),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_single_voter_leads_alone_and_restores_after_a_restart() {
    let mut cluster = Cluster::start(1, test_timing()).await;
    assert_eq!(cluster.leader(None).await, 1);
    let proposed = cluster.propose(create_topic("t")).await;
    assert!(proposed.image.topic("t").is_some());
    cluster.stop(1).await;
    cluster.restart(1).await;
    assert_eq!(cluster.leader(None).await, 1);
    assert!(
        cluster
            .applied(1, proposed.log_index)
            .await
            .topic("t")
            .is_some()
    );
    let next = cluster.propose(set_config(2)).await;
    assert!(next.log_index > proposed.log_index);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_proposals_each_get_their_own_entry_and_image() {
    let cluster = Cluster::start(3, test_timing()).await;
    let leader = cluster.node(cluster.leader(None).await);
    let proposals = (0..50).map(|i| async move {
        let name = format!("t{i}");
        let proposed = leader.propose(create_topic(&name)).await.unwrap();
        (name, proposed)
    });
    let results = futures::future::join_all(proposals).await;
    let mut indices: Vec<u64> = results.iter().map(|(_, p)| p.log_index).collect();
    indices.sort();
    indices.dedup();
    assert_eq!(indices.len(), 50, "every proposal is its own log entry");
    for (name, proposed) in &results {
        // The image returned is the one right after this entry: it holds
        // this topic, and exactly the topics of entries up to it.
        assert!(proposed.image.topic(name).is_some());
        let earlier = results
            .iter()
            .filter(|(_, p)| p.log_index <= proposed.log_index)
            .count();
        assert_eq!(proposed.image.topics.len(), earlier);
    }
    let last = *indices.last().unwrap();
    for id in 1..=3 {
        assert_eq!(cluster.applied(id, last).await.topics.len(), 50);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_cut_off_from_the_quorum_stops_claiming_leadership_after_its_lease() {
    let mut cluster = Cluster::start(3, test_timing()).await;
    let leader = cluster.leader(None).await;
    for id in (1..=3).filter(|id| *id != leader) {
        cluster.stop(id).await;
    }
    // openraft keeps it in the Leader state; the quorum view does not.
    let node = cluster.node(leader);
    let mut metrics = node.raft_metrics();
    within("the cut-off leader to stop claiming leadership", async {
        while node.is_leader() {
            metrics.changed().await.unwrap();
        }
    })
    .await;
    assert_eq!(node.leader_id(), None);
    assert_eq!(
        metrics.borrow().state,
        openraft::ServerState::Leader,
        "openraft itself still thinks it leads"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_updates_decide_one_after_another_so_a_topic_is_created_once() {
    let cluster = Cluster::start(3, test_timing()).await;
    let leader_id = cluster.leader(None).await;
    let leader = cluster.node(leader_id);
    let attempts = (0..10).map(|_| {
        leader.update(|image| {
            if image.topic("t").is_some() {
                Ok::<_, QuorumError>((Vec::new(), false))
            } else {
                Ok((create_topic("t"), true))
            }
        })
    });
    let results = futures::future::join_all(attempts).await;
    let created = results
        .iter()
        .filter(|r| matches!(r, Ok((_, true))))
        .count();
    assert_eq!(created, 1, "{results:?}");
    let ids: Vec<_> = results
        .iter()
        .map(|r| r.as_ref().unwrap().0.topic("t").unwrap().id)
        .collect();
    assert!(
        ids.iter().all(|id| *id == ids[0]),
        "one topic id everywhere"
    );

    let follower = (1..=3).find(|id| *id != leader_id).unwrap();
    let refused = cluster
        .node(follower)
        .update(|_| Ok::<_, QuorumError>((create_topic("u"), ())))
        .await;
    assert!(
        matches!(refused, Err(QuorumError::NotLeader { leader: Some(l) }) if l == leader_id),
        "{refused:?}"
    );
}
