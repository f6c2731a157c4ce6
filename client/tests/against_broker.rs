//! `karst-client` against the real `karst` broker binary (`$KARST_BIN`, or
//! built with `cargo build -p karst-broker --bin karst` into this target dir).

use std::{
    net::{SocketAddr, TcpListener},
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use karst_client::{
    AdminClient, AlterConfigOp, ConfigSource, Connection, ElectionType, Error, NewTopic,
    ResponseError,
    kafka_protocol::messages::{ApiKey, MetadataRequest},
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

struct Broker {
    child: Child,
    kafka: SocketAddr,
    _dir: tempfile::TempDir,
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn broker_binary() -> PathBuf {
    if let Some(bin) = std::env::var_os("KARST_BIN") {
        return bin.into();
    }
    // This test runs from <target>/<profile>/deps/.
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe
        .parent()
        .and_then(|d| d.parent())
        .expect("profile dir")
        .to_path_buf();
    let target_dir = profile_dir.parent().expect("target dir");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .args(["build", "-p", "karst-broker", "--bin", "karst"])
        .env("CARGO_TARGET_DIR", target_dir)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .status()
        .expect("cargo build -p karst-broker");
    assert!(status.success(), "building the broker failed");
    profile_dir.join("karst")
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn ready(http: SocketAddr) -> bool {
    let Ok(mut s) = tokio::net::TcpStream::connect(http).await else {
        return false;
    };
    if s.write_all(b"GET /readyz HTTP/1.0\r\n\r\n").await.is_err() {
        return false;
    }
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf).await;
    buf.starts_with(b"HTTP/1.1 200") || buf.starts_with(b"HTTP/1.0 200")
}

async fn start_broker() -> Broker {
    let dir = tempfile::tempdir().unwrap();
    let kafka = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let http = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let mut cmd = Command::new(broker_binary());
    for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("KARST_")) {
        cmd.env_remove(k);
    }
    let child = cmd
        .args(["--override", &format!("listeners=PLAINTEXT://{kafka}")])
        .args(["--override", &format!("karst.http.listener={http}")])
        .args([
            "--override",
            &format!("log.dirs={}", dir.path().join("data").display()),
        ])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.path().join("broker.log")).unwrap())
        .spawn()
        .expect("spawn karst");
    let broker = Broker {
        child,
        kafka,
        _dir: dir,
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while !ready(http).await {
        assert!(Instant::now() < deadline, "broker not ready on {http}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    broker
}

fn topic(name: &str, partitions: i32, configs: &[(&str, &str)]) -> NewTopic {
    NewTopic {
        name: name.into(),
        partitions,
        replication_factor: 1,
        configs: configs
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect(),
    }
}

#[tokio::test]
async fn admin_round_trip_with_kafka_error_codes() {
    let broker = start_broker().await;
    let admin = AdminClient::connect(broker.kafka.to_string())
        .await
        .expect("connect");

    let cluster = admin.describe_cluster().await.expect("DescribeCluster");
    assert_eq!(cluster.brokers.len(), 1);
    assert_eq!(cluster.brokers[0].port, i32::from(broker.kafka.port()));

    // validate_only creates nothing.
    admin
        .create_topics(&[topic("orders", 3, &[])], true)
        .await
        .expect("validate only");
    assert!(admin.describe_topic("orders").await.unwrap().is_none());

    let created = admin
        .create_topics(&[topic("orders", 3, &[("retention.ms", "3600000")])], false)
        .await
        .expect("CreateTopics");
    assert_eq!(created[0].name, "orders");
    let meta = admin
        .describe_topic("orders")
        .await
        .unwrap()
        .expect("exists");
    assert_eq!(meta.partitions.len(), 3);
    assert_eq!(meta.replication_factor(), 1);
    assert!(!meta.topic_id.is_nil());
    assert!(
        admin
            .metadata(None)
            .await
            .unwrap()
            .topics
            .iter()
            .any(|t| t.name == "orders")
    );

    let err = admin
        .create_topics(&[topic("orders", 3, &[])], false)
        .await
        .unwrap_err();
    assert_eq!(
        err.kafka_kind(),
        Some(ResponseError::TopicAlreadyExists),
        "{err}"
    );
    assert!(err.to_string().contains("orders"), "{err}");

    admin
        .create_partitions("orders", 5, false)
        .await
        .expect("grow");
    assert_eq!(
        admin
            .describe_topic("orders")
            .await
            .unwrap()
            .unwrap()
            .partitions
            .len(),
        5
    );
    let err = admin
        .create_partitions("orders", 2, false)
        .await
        .unwrap_err();
    assert_eq!(
        err.kafka_kind(),
        Some(ResponseError::InvalidPartitions),
        "{err}"
    );

    let find = |entries: &[karst_client::ConfigEntry], k: &str| {
        entries
            .iter()
            .find(|c| c.name == k)
            .map(|c| (c.value.clone(), c.source))
    };
    let configs = admin
        .describe_topic_configs("orders")
        .await
        .expect("DescribeConfigs");
    assert_eq!(
        find(&configs, "retention.ms"),
        Some((Some("3600000".into()), ConfigSource::TopicConfig))
    );
    admin
        .incremental_alter_topic_configs(
            "orders",
            &[
                AlterConfigOp::Set {
                    name: "cleanup.policy".into(),
                    value: "compact".into(),
                },
                AlterConfigOp::Delete {
                    name: "retention.ms".into(),
                },
            ],
            false,
        )
        .await
        .expect("IncrementalAlterConfigs");
    let configs = admin.describe_topic_configs("orders").await.unwrap();
    assert_eq!(
        find(&configs, "cleanup.policy"),
        Some((Some("compact".into()), ConfigSource::TopicConfig))
    );
    assert_ne!(
        find(&configs, "retention.ms").map(|c| c.1),
        Some(ConfigSource::TopicConfig)
    );

    admin
        .delete_topics(&["orders"])
        .await
        .expect("DeleteTopics");
    assert!(admin.describe_topic("orders").await.unwrap().is_none());
    let err = admin.delete_topics(&["orders"]).await.unwrap_err();
    assert_eq!(
        err.kafka_kind(),
        Some(ResponseError::UnknownTopicOrPartition),
        "{err}"
    );
    let err = admin.describe_topic_configs("missing").await.unwrap_err();
    assert!(matches!(err, Error::Kafka(_)), "{err}");
}

#[tokio::test]
async fn raw_requests_at_every_metadata_version() {
    let broker = start_broker().await;
    let mut conn = Connection::connect(broker.kafka).await.expect("connect");
    let range = conn
        .versions()
        .broker_range(ApiKey::Metadata)
        .expect("Metadata offered");
    // Covers non-flexible (header v1 / response header v0) and flexible (v2 / v1) encodings.
    for version in range.min.max(1)..=range.max.min(13) {
        let response = conn
            .send(MetadataRequest::default().with_topics(None), Some(version))
            .await;
        let response = response.unwrap_or_else(|e| panic!("Metadata v{version}: {e}"));
        assert_eq!(response.brokers.len(), 1, "v{version}");
    }
    assert_eq!(
        conn.negotiated_version::<MetadataRequest>().unwrap(),
        range.max.min(13)
    );
}

#[tokio::test]
async fn reassignments_and_elections_report_kafka_errors_per_partition() {
    let broker = start_broker().await;
    let admin = AdminClient::connect(broker.kafka.to_string())
        .await
        .expect("connect");
    admin
        .create_topics(&[topic("moves", 1, &[])], false)
        .await
        .expect("CreateTopics");
    let me = admin.describe_cluster().await.unwrap().controller_id;
    let partition = &admin
        .describe_topic("moves")
        .await
        .unwrap()
        .unwrap()
        .partitions[0];
    assert_eq!(
        (partition.leader, partition.isr.as_slice()),
        (me, [me].as_slice())
    );

    let outcomes = admin
        .alter_partition_reassignments(&[
            ("moves", 0, Some(vec![])),
            ("moves", 0, Some(vec![me, me])),
            ("moves", 0, Some(vec![me + 1])),
            ("moves", 0, None),
            ("moves", 0, Some(vec![me])),
            ("missing", 0, Some(vec![me])),
        ])
        .await
        .expect("AlterPartitionReassignments");
    let kinds: Vec<Option<ResponseError>> = outcomes
        .iter()
        .map(|(_, o)| o.as_ref().err().map(|e| e.kind))
        .collect();
    assert_eq!(
        kinds,
        [
            Some(ResponseError::InvalidReplicaAssignment),
            Some(ResponseError::InvalidReplicaAssignment),
            Some(ResponseError::InvalidReplicaAssignment),
            Some(ResponseError::NoReassignmentInProgress),
            None,
            Some(ResponseError::UnknownTopicOrPartition),
        ],
        "{outcomes:?}"
    );
    assert_eq!(outcomes[5].0, ("missing".to_owned(), 0));
    assert!(
        admin
            .list_partition_reassignments(None)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        admin
            .list_partition_reassignments(Some(&[("moves", 0)]))
            .await
            .unwrap()
            .is_empty()
    );

    for election in [ElectionType::Preferred, ElectionType::Unclean] {
        let outcomes = admin
            .elect_leaders(election, Some(&[("moves", 0), ("missing", 0)]))
            .await
            .expect("ElectLeaders");
        let kinds: Vec<_> = outcomes
            .iter()
            .map(|(_, o)| o.as_ref().err().map(|e| e.kind))
            .collect();
        assert_eq!(
            kinds,
            [
                Some(ResponseError::ElectionNotNeeded),
                Some(ResponseError::UnknownTopicOrPartition)
            ],
            "{election:?}: {outcomes:?}"
        );
    }
    let all = admin
        .elect_leaders(ElectionType::Preferred, None)
        .await
        .unwrap();
    assert!(all.is_empty(), "nothing needs an election: {all:?}");
}
