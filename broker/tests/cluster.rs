//! Three in-process nodes (combined broker + controller roles) on loopback
//! forming one cluster over the Raft metadata quorum: admin writes from any
//! node, leaders spread, and a broker that does not lead a partition
//! refuses its records with NOT_LEADER_OR_FOLLOWER.

mod common;

use std::time::Duration;

use common::{
    RawClient, create_topic, describe_producers, produce, record_batch, topic_name, wait_until,
};
use kafka_protocol::ResponseError;
use kafka_protocol::messages::MetadataRequest;
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use karst_broker::Node;
use karst_broker::config::BrokerConfig;

/// One cluster at a time: a cluster restarted on its ports must not find
/// one taken meanwhile by another test's connections or listeners.
static ONE_CLUSTER_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A loopback port nobody listens on right now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The configs of three voters on loopback, data under `dir`.
fn cluster_configs(dir: &std::path::Path) -> Vec<BrokerConfig> {
    let ports: Vec<(u16, u16)> = (0..3).map(|_| (free_port(), free_port())).collect();
    let voters: Vec<String> = ports
        .iter()
        .enumerate()
        .map(|(i, (_, controller))| format!("{}@127.0.0.1:{controller}", i + 1))
        .collect();
    let configs = ports.iter().enumerate().map(|(i, (kafka, controller))| {
        let mut config = BrokerConfig::default();
        let data = dir.join(format!("node-{}", i + 1));
        for (key, value) in [
            ("node.id", (i + 1).to_string()),
            ("cluster.id", "karst-test-cluster".to_owned()),
            ("process.roles", "broker,controller".to_owned()),
            (
                "listeners",
                format!("PLAINTEXT://127.0.0.1:{kafka},CONTROLLER://127.0.0.1:{controller}"),
            ),
            ("controller.listener.names", "CONTROLLER".to_owned()),
            ("controller.quorum.voters", voters.join(",")),
            ("karst.http.listener", "127.0.0.1:0".to_owned()),
            ("log.dirs", data.to_str().unwrap().to_owned()),
        ] {
            config.set(key, &value).unwrap();
        }
        config
    });
    configs.collect()
}

/// Starts the nodes at once (each waits for a quorum to register), and
/// waits until every node lists every broker: a broker registers fenced and
/// is unfenced by a heartbeat once it has caught up, and only live brokers
/// are listed and placed on.
async fn start_cluster(configs: &[BrokerConfig]) -> Vec<Node> {
    let nodes: Vec<Node> = futures::future::join_all(configs.iter().cloned().map(Node::start))
        .await
        .into_iter()
        .map(|started| started.expect("a cluster node starts"))
        .collect();
    for node in &nodes {
        let addr = node.kafka_addr();
        wait_until(
            Duration::from_secs(20),
            "every broker to be live",
            || async move {
                live_brokers(&mut RawClient::connect(addr).await)
                    .await
                    .len()
                    == configs.len()
            },
        )
        .await;
    }
    nodes
}

/// The brokers `client`'s broker lists in Metadata.
async fn live_brokers(client: &mut RawClient) -> Vec<i32> {
    let request = MetadataRequest::default().with_topics(Some(vec![]));
    let response = client.send(&request, 12).await;
    response.brokers.iter().map(|b| b.node_id.0).collect()
}

/// Partition index -> leader of `topic`, as `client`'s broker reports it.
async fn leaders(client: &mut RawClient, topic: &str) -> Vec<(i32, i32)> {
    let request = MetadataRequest::default()
        .with_allow_auto_topic_creation(false)
        .with_topics(Some(vec![
            MetadataRequestTopic::default().with_name(Some(topic_name(topic))),
        ]));
    let response = client.send(&request, 12).await;
    assert_eq!(response.brokers.len(), 3, "every broker is listed");
    let topic = &response.topics[0];
    topic
        .partitions
        .iter()
        .map(|p| (p.partition_index, p.leader_id.0))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn brokers_share_topics_and_refuse_partitions_they_do_not_lead() {
    let _turn = ONE_CLUSTER_AT_A_TIME.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let configs = cluster_configs(dir.path());
    let nodes = start_cluster(&configs).await;
    let mut clients = Vec::new();
    for node in &nodes {
        clients.push(RawClient::connect(node.kafka_addr()).await);
    }

    // Created through node 2, whoever the active controller is.
    let (code, message) = create_topic(&mut clients[1], "orders", 6).await;
    assert_eq!(code, 0, "{message:?}");

    // Every node sees the same leaders, spread two per broker. The node
    // that took the request has applied the change when it answers; the
    // others apply it as the quorum replicates it, a moment later.
    for node in &nodes {
        let addr = node.kafka_addr();
        wait_until(
            Duration::from_secs(10),
            "every node to see the topic",
            || async move {
                leaders(&mut RawClient::connect(addr).await, "orders")
                    .await
                    .len()
                    == 6
            },
        )
        .await;
    }
    let mut seen = Vec::new();
    for client in &mut clients {
        seen.push(leaders(client, "orders").await);
    }
    assert_eq!(seen[0].len(), 6);
    assert!(seen.iter().all(|l| *l == seen[0]), "{seen:?}");
    for broker in 1..=3 {
        let led = seen[0]
            .iter()
            .filter(|(_, leader)| *leader == broker)
            .count();
        assert_eq!(led, 2, "broker {broker} leads {led} of 6: {seen:?}");
    }

    // Each partition takes records, and describes its producers, at its leader only.
    for (partition, leader) in seen[0].clone() {
        let at_leader = &mut clients[(leader - 1) as usize];
        let ok = produce(at_leader, "orders", partition, record_batch(&[b"v"])).await;
        assert_eq!(ok, 0, "partition {partition} at its leader {leader}");
        let other = (leader % 3) as usize; // the next broker, never the leader
        let refused = produce(
            &mut clients[other],
            "orders",
            partition,
            record_batch(&[b"v"]),
        )
        .await;
        assert_eq!(
            refused,
            ResponseError::NotLeaderOrFollower.code(),
            "partition {partition} at broker {}",
            other + 1
        );
        // KIP-951: from Produce v10 the refusal names the leader and where it is.
        let hinted = produce_v10(&mut clients[other], "orders", partition).await;
        let p = &hinted.responses[0].partition_responses[0];
        assert_eq!(p.current_leader.leader_id.0, leader, "{hinted:?}");
        assert_eq!(hinted.node_endpoints.len(), 1, "{hinted:?}");
        assert_eq!(
            hinted.node_endpoints[0].port,
            nodes[(leader - 1) as usize].kafka_addr().port() as i32
        );
        let leader_client = &mut clients[(leader - 1) as usize];
        let at_leader = describe_producers(leader_client, "orders", partition).await;
        assert_eq!(
            at_leader.error_code, 0,
            "partition {partition} at its leader"
        );
        assert!(
            at_leader.active_producers.is_empty(),
            "no idempotent producer"
        );
        let elsewhere = describe_producers(&mut clients[other], "orders", partition).await;
        assert_eq!(
            elsewhere.error_code,
            ResponseError::NotLeaderOrFollower.code(),
            "DescribeProducers of partition {partition} at broker {}",
            other + 1
        );
    }

    // A replication factor above the number of brokers is refused.
    use kafka_protocol::messages::CreateTopicsRequest;
    use kafka_protocol::messages::create_topics_request::CreatableTopic;
    let request = CreateTopicsRequest::default().with_topics(vec![
        CreatableTopic::default()
            .with_name(topic_name("replicated"))
            .with_num_partitions(1)
            .with_replication_factor(4),
    ]);
    let result = clients[0].send(&request, 7).await.topics.remove(0);
    assert_eq!(
        result.error_code,
        ResponseError::InvalidReplicationFactor.code()
    );

    // Stopping and starting every node gives the same metadata back, from
    // the quorum's snapshot and log tail.
    for node in nodes {
        node.shutdown().await;
    }
    let nodes = start_cluster(&configs).await;
    let mut client = RawClient::connect(nodes[2].kafka_addr()).await;
    wait_until(
        Duration::from_secs(20),
        "the restarted cluster serves",
        || {
            let addr = nodes[2].kafka_addr();
            async move {
                let mut client = RawClient::connect(addr).await;
                leaders(&mut client, "orders").await.len() == 6
            }
        },
    )
    .await;
    assert_eq!(leaders(&mut client, "orders").await, seen[0]);
    for node in nodes {
        node.shutdown().await;
    }
}

/// Produce v10 (acks=1) of one record; the whole response.
async fn produce_v10(
    client: &mut RawClient,
    topic: &str,
    partition: i32,
) -> kafka_protocol::messages::ProduceResponse {
    use kafka_protocol::messages::ProduceRequest;
    use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
    let request = ProduceRequest::default()
        .with_acks(1)
        .with_timeout_ms(10_000)
        .with_topic_data(vec![
            TopicProduceData::default()
                .with_name(topic_name(topic))
                .with_partition_data(vec![
                    PartitionProduceData::default()
                        .with_index(partition)
                        .with_records(Some(record_batch(&[b"v"]))),
                ]),
        ]);
    client.send(&request, 10).await
}

/// The node FindCoordinator names for `group` at `client`'s broker, or its error.
async fn find_coordinator(client: &mut RawClient, group: &str) -> Result<i32, i16> {
    use kafka_protocol::messages::FindCoordinatorRequest;
    let key = kafka_protocol::protocol::StrBytes::from_string(group.to_owned());
    let request = FindCoordinatorRequest::default().with_key(key);
    let response = client.send(&request, 3).await;
    match response.error_code {
        0 => Ok(response.node_id.0),
        code => Err(code),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_stopped_broker_is_fenced_and_leads_no_partition_or_group() {
    let _turn = ONE_CLUSTER_AT_A_TIME.lock().await;
    use kafka_protocol::messages::{DescribeClusterRequest, OffsetFetchRequest};
    let dir = tempfile::tempdir().unwrap();
    let configs = cluster_configs(dir.path());
    let mut nodes = start_cluster(&configs).await;
    let mut client = RawClient::connect(nodes[0].kafka_addr()).await;
    let (code, message) = create_topic(&mut client, "fenced", 6).await;
    assert_eq!(code, 0, "{message:?}");
    // A group coordinated by broker 3 (FindCoordinator creates the offsets
    // topic, replicated on all three brokers).
    let mut group = None;
    for i in 0..1000 {
        let id = format!("group-{i}");
        let found = loop {
            match find_coordinator(&mut client, &id).await {
                Err(code) if code == ResponseError::CoordinatorNotAvailable.code() => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                other => break other,
            }
        };
        if found == Ok(3) {
            group = Some(id);
            break;
        }
    }
    let group = group.expect("some group is coordinated by broker 3");

    // SIGTERM's path: the broker asks to be fenced before it stops.
    nodes.pop().unwrap().shutdown().await;
    wait_until(Duration::from_secs(10), "broker 3 to be fenced", || {
        let addr = nodes[0].kafka_addr();
        async move { live_brokers(&mut RawClient::connect(addr).await).await == [1, 2] }
    })
    .await;

    let request = MetadataRequest::default().with_topics(Some(vec![
        MetadataRequestTopic::default().with_name(Some(topic_name("fenced"))),
    ]));
    let response = client.send(&request, 12).await;
    let partitions = &response.topics[0].partitions;
    let theirs: Vec<_> = partitions
        .iter()
        .filter(|p| p.replica_nodes[0].0 == 3)
        .collect();
    assert_eq!(theirs.len(), 2, "{partitions:?}");
    for p in theirs {
        assert_eq!(p.error_code, ResponseError::LeaderNotAvailable.code());
        assert_eq!(p.leader_id.0, -1);
        assert_eq!(
            p.offline_replicas.iter().map(|b| b.0).collect::<Vec<_>>(),
            [3]
        );
    }
    for p in partitions.iter().filter(|p| p.replica_nodes[0].0 != 3) {
        assert_eq!((p.error_code, p.leader_id.0), (0, p.replica_nodes[0].0));
        assert!(p.offline_replicas.is_empty());
    }

    // DescribeCluster lists the fenced broker only when asked to (v2).
    let request = DescribeClusterRequest::default().with_endpoint_type(1);
    let live = client.send(&request, 2).await.brokers;
    assert_eq!(
        live.iter().map(|b| b.broker_id.0).collect::<Vec<_>>(),
        [1, 2]
    );
    let all = client
        .send(&request.with_include_fenced_brokers(true), 2)
        .await
        .brokers;
    let fenced: Vec<_> = all.iter().map(|b| (b.broker_id.0, b.is_fenced)).collect();
    assert_eq!(fenced, [(1, false), (2, false), (3, true)]);

    // Its groups move with their replicated offsets partition: another
    // live broker coordinates them (its offsets partition's new leader),
    // and only that broker answers for them.
    let coordinator = loop {
        match find_coordinator(&mut client, &group).await {
            Ok(3) | Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            Ok(node) => break node,
        }
    };
    assert!([1, 2].contains(&coordinator), "{coordinator}");
    let offset_fetch = |group: String| {
        OffsetFetchRequest::default()
            .with_group_id(kafka_protocol::protocol::StrBytes::from_string(group).into())
    };
    let mut at_coordinator =
        RawClient::connect(nodes[(coordinator - 1) as usize].kafka_addr()).await;
    let fetch = at_coordinator.send(&offset_fetch(group.clone()), 7).await;
    assert_eq!(fetch.error_code, 0);
    let other = if coordinator == 1 { 2 } else { 1 };
    let mut elsewhere = RawClient::connect(nodes[other - 1].kafka_addr()).await;
    let fetch = elsewhere.send(&offset_fetch(group.clone()), 7).await;
    assert_eq!(fetch.error_code, ResponseError::NotCoordinator.code());
    for node in nodes {
        node.shutdown().await;
    }
}
