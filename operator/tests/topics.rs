//! KafkaTopic against a real API server and a real `karst` broker: topics are
//! created, grown, kept in sync, refused when Kafka cannot comply, and deleted.

mod common;

use std::time::Duration;

use common::{
    ApiServer, Operator, apply_json, create_namespace, install_crds, wait_for, with_kubelet,
};
use karst_client::{AdminClient, AlterConfigOp, ConfigSource};
use karst_operator::crd::{ConditionStatus, KafkaCluster, KafkaTopic, conditions::find};
use kube::{Api, api::DeleteParams};
use serde_json::json;

const API_PORT: u16 = 16463;
const ETCD_PORT: u16 = 12399;
const OPERATOR_HTTP: u16 = 18451;
const LOOPBACK_OCTET: u8 = 33;
const KAFKA_PORT: u16 = 19292;
const WAIT: Duration = Duration::from_secs(60);

fn topic(name: &str, spec: serde_json::Value) -> serde_json::Value {
    json!({
        "apiVersion": "kafka.karst.dev/v1alpha1", "kind": "KafkaTopic",
        "metadata": { "name": name }, "spec": spec,
    })
}

async fn wait_condition(
    topics: &Api<KafkaTopic>,
    name: &str,
    type_: &str,
    status: ConditionStatus,
    reason: &str,
) -> KafkaTopic {
    wait_for(
        &format!("{name} {type_}={status:?} ({reason})"),
        WAIT,
        || async move {
            let kt = topics.get(name).await.ok()?;
            let c = find(&kt.status.as_ref()?.conditions, type_)?;
            (c.status == status
                && c.reason == reason
                && kt.status.as_ref()?.observed_generation == kt.metadata.generation)
                .then_some(kt.clone())
        },
    )
    .await
}

async fn topic_config(
    admin: &AdminClient,
    topic: &str,
    key: &str,
) -> Option<(String, ConfigSource)> {
    let entries = admin.describe_topic_configs(topic).await.ok()?;
    entries
        .into_iter()
        .find(|c| c.name == key)
        .map(|c| (c.value.unwrap_or_default(), c.source))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topics_follow_their_resources_on_a_real_broker() {
    let ns = "kt-test";
    let (api, client, kubelet) = with_kubelet(API_PORT, ETCD_PORT, ns, LOOPBACK_OCTET).await;
    let _operator = Operator::spawn(
        &api,
        "op-t",
        OPERATOR_HTTP,
        &["--topic-resync-seconds", "2"],
    );

    let clusters: Api<KafkaCluster> = Api::namespaced(client.clone(), ns);
    apply_json(
        &clusters,
        "demo",
        json!({
            "apiVersion": "kafka.karst.dev/v1alpha1", "kind": "KafkaCluster",
            "metadata": { "name": "demo" },
            "spec": { "replicas": 1, "listeners": { "kafkaPort": KAFKA_PORT, "httpPort": KAFKA_PORT + 1000 } },
        }),
    )
    .await
    .unwrap();
    wait_for("demo Ready", Duration::from_secs(120), || async {
        let kc = clusters.get("demo").await.ok()?;
        (find(&kc.status?.conditions, "Ready")?.status == ConditionStatus::True).then_some(())
    })
    .await;
    let ip = kubelet.pod_ip("demo-broker-0").expect("demo-broker-0 runs");
    let admin = AdminClient::connect(format!("{ip}:{KAFKA_PORT}"))
        .await
        .expect("broker reachable");

    // Created with its partitions and config.
    let topics: Api<KafkaTopic> = Api::namespaced(client.clone(), ns);
    let orders = |partitions: i32| {
        topic(
            "orders",
            json!({ "clusterRef": { "name": "demo" }, "partitions": partitions, "replicas": 1,
                    "config": { "retention.ms": "3600000" } }),
        )
    };
    apply_json(&topics, "orders", orders(3)).await.unwrap();
    let kt = wait_condition(&topics, "orders", "Ready", ConditionStatus::True, "Synced").await;
    let status = kt.status.unwrap();
    assert_eq!((status.partitions, status.replicas), (Some(3), Some(1)));
    assert_eq!(status.topic_name.as_deref(), Some("orders"));
    let on_broker = admin
        .describe_topic("orders")
        .await
        .unwrap()
        .expect("topic on the broker");
    assert_eq!(on_broker.partitions.len(), 3);
    assert_eq!(status.topic_id, Some(on_broker.topic_id.to_string()));
    assert_eq!(
        topic_config(&admin, "orders", "retention.ms").await,
        Some(("3600000".into(), ConfigSource::TopicConfig))
    );

    // Printer columns.
    let table = api.kubectl(&["get", "kc,kt", "-n", ns]);
    assert!(
        table.contains("NAME") && table.contains("CLUSTER") && table.contains("PARTITIONS"),
        "{table}"
    );
    let kt_table = api.kubectl(&["get", "kt", "-n", ns]);
    let header: Vec<&str> = kt_table
        .lines()
        .next()
        .unwrap()
        .split_whitespace()
        .collect();
    assert_eq!(
        header,
        ["NAME", "CLUSTER", "PARTITIONS", "REPLICAS", "READY", "AGE"],
        "{kt_table}"
    );
    let row: Vec<&str> = kt_table
        .lines()
        .nth(1)
        .unwrap()
        .split_whitespace()
        .collect();
    assert_eq!(
        &row[..5],
        ["orders", "demo", "3", "1", "True"],
        "{kt_table}"
    );

    // Growing partitions.
    apply_json(&topics, "orders", orders(5)).await.unwrap();
    wait_for("5 partitions on the broker", WAIT, || async {
        (admin.describe_topic("orders").await.ok()??.partitions.len() == 5).then_some(())
    })
    .await;
    let kt = wait_condition(&topics, "orders", "Ready", ConditionStatus::True, "Synced").await;
    assert_eq!(kt.status.unwrap().partitions, Some(5));

    // Drift made behind the operator's back is reverted on the next resync.
    admin
        .incremental_alter_topic_configs(
            "orders",
            &[AlterConfigOp::Set {
                name: "retention.ms".into(),
                value: "1000".into(),
            }],
            false,
        )
        .await
        .expect("alter behind the operator's back");
    assert_eq!(
        topic_config(&admin, "orders", "retention.ms")
            .await
            .unwrap()
            .0,
        "1000"
    );
    wait_for("drift reverted", WAIT, || async {
        (topic_config(&admin, "orders", "retention.ms").await?.0 == "3600000").then_some(())
    })
    .await;

    // A decrease is refused with a condition naming the field; the broker keeps 5.
    apply_json(&topics, "orders", orders(2)).await.unwrap();
    let kt = wait_condition(
        &topics,
        "orders",
        "Degraded",
        ConditionStatus::True,
        "NotSupported",
    )
    .await;
    let message = &find(&kt.status.as_ref().unwrap().conditions, "Degraded")
        .unwrap()
        .message;
    assert!(message.starts_with("spec.partitions"), "{message}");
    assert_eq!(
        find(&kt.status.as_ref().unwrap().conditions, "Ready")
            .unwrap()
            .status,
        ConditionStatus::False
    );
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
    apply_json(&topics, "orders", orders(5)).await.unwrap();
    wait_condition(&topics, "orders", "Ready", ConditionStatus::True, "Synced").await;

    // A rename is refused: Kafka topics cannot be renamed.
    let mut renamed = orders(5);
    renamed["spec"]["topicName"] = json!("orders-renamed");
    apply_json(&topics, "orders", renamed).await.unwrap();
    let kt = wait_condition(
        &topics,
        "orders",
        "Degraded",
        ConditionStatus::True,
        "NotSupported",
    )
    .await;
    let message = find(&kt.status.unwrap().conditions, "Degraded")
        .unwrap()
        .message
        .clone();
    assert!(message.starts_with("spec.topicName"), "{message}");
    assert!(
        admin
            .describe_topic("orders-renamed")
            .await
            .unwrap()
            .is_none()
    );
    apply_json(&topics, "orders", orders(5)).await.unwrap();
    wait_condition(&topics, "orders", "Ready", ConditionStatus::True, "Synced").await;

    // A second resource naming the same topic gets ResourceConflict and changes nothing.
    apply_json(
        &topics,
        "orders-again",
        topic("orders-again", json!({ "clusterRef": { "name": "demo" }, "topicName": "orders", "partitions": 9, "replicas": 1 })),
    )
    .await
    .unwrap();
    let kt = wait_condition(
        &topics,
        "orders-again",
        "Ready",
        ConditionStatus::False,
        "ResourceConflict",
    )
    .await;
    assert!(
        find(&kt.status.unwrap().conditions, "Ready")
            .unwrap()
            .message
            .contains("\"orders\"")
    );
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
    // Deleting the loser leaves the topic alone.
    topics
        .delete("orders-again", &DeleteParams::default())
        .await
        .unwrap();
    wait_for("orders-again gone", WAIT, || async {
        topics
            .get_opt("orders-again")
            .await
            .ok()?
            .is_none()
            .then_some(())
    })
    .await;
    assert!(admin.describe_topic("orders").await.unwrap().is_some());

    // Invalid specs: schema rejections at apply time ...
    for (spec, field) in [
        (
            json!({ "clusterRef": { "name": "demo" }, "partitions": 0, "replicas": 1 }),
            "spec.partitions",
        ),
        (
            json!({ "clusterRef": { "name": "demo" }, "partitions": 1, "replicas": 1, "config": { "retention.ms": 5 } }),
            "spec.config.retention.ms",
        ),
    ] {
        let mut doc = topic("nonsense", spec.clone());
        doc["metadata"]["namespace"] = json!(ns);
        let out = api.kubectl_stdin(&["apply", "--server-side", "-f", "-"], &doc.to_string());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{spec} was accepted");
        assert!(
            stderr.contains(field),
            "{spec}: error does not name {field}: {stderr}"
        );
    }
    // ... and a Degraded condition for what only the operator can judge.
    apply_json(
        &topics,
        "wide",
        topic(
            "wide",
            json!({ "clusterRef": { "name": "demo" }, "partitions": 1, "replicas": 3 }),
        ),
    )
    .await
    .unwrap();
    let kt = wait_condition(
        &topics,
        "wide",
        "Degraded",
        ConditionStatus::True,
        "InvalidSpec",
    )
    .await;
    assert!(
        find(&kt.status.unwrap().conditions, "Degraded")
            .unwrap()
            .message
            .starts_with("spec.replicas")
    );
    assert!(admin.describe_topic("wide").await.unwrap().is_none());

    // A topic on a cluster that does not exist says so, and can still be deleted.
    apply_json(
        &topics,
        "lost",
        topic(
            "lost",
            json!({ "clusterRef": { "name": "nowhere" }, "partitions": 1, "replicas": 1 }),
        ),
    )
    .await
    .unwrap();
    wait_condition(
        &topics,
        "lost",
        "Ready",
        ConditionStatus::False,
        "ClusterNotFound",
    )
    .await;
    topics
        .delete("lost", &DeleteParams::default())
        .await
        .unwrap();
    wait_for("lost gone", WAIT, || async {
        topics.get_opt("lost").await.ok()?.is_none().then_some(())
    })
    .await;

    // Deleting a KafkaTopic deletes the topic ...
    topics
        .delete("orders", &DeleteParams::default())
        .await
        .unwrap();
    wait_for("orders resource gone", WAIT, || async {
        topics.get_opt("orders").await.ok()?.is_none().then_some(())
    })
    .await;
    assert!(
        admin.describe_topic("orders").await.unwrap().is_none(),
        "topic still on the broker"
    );

    // ... unless the retain annotation keeps it.
    let mut kept = topic(
        "kept",
        json!({ "clusterRef": { "name": "demo" }, "partitions": 2, "replicas": 1 }),
    );
    kept["metadata"]["annotations"] = json!({ "kafka.karst.dev/retain-topic": "true" });
    apply_json(&topics, "kept", kept).await.unwrap();
    wait_condition(&topics, "kept", "Ready", ConditionStatus::True, "Synced").await;
    topics
        .delete("kept", &DeleteParams::default())
        .await
        .unwrap();
    wait_for("kept resource gone", WAIT, || async {
        topics.get_opt("kept").await.ok()?.is_none().then_some(())
    })
    .await;
    assert_eq!(
        admin
            .describe_topic("kept")
            .await
            .unwrap()
            .expect("retained")
            .partitions
            .len(),
        2
    );

    // A topic whose cluster is deleted does not block its own deletion.
    apply_json(
        &topics,
        "orphan",
        topic(
            "orphan",
            json!({ "clusterRef": { "name": "demo" }, "partitions": 1, "replicas": 1 }),
        ),
    )
    .await
    .unwrap();
    wait_condition(&topics, "orphan", "Ready", ConditionStatus::True, "Synced").await;
    clusters
        .delete("demo", &DeleteParams::default())
        .await
        .unwrap();
    topics
        .delete("orphan", &DeleteParams::default())
        .await
        .unwrap();
    wait_for("orphan gone", WAIT, || async {
        topics.get_opt("orphan").await.ok()?.is_none().then_some(())
    })
    .await;

    // Major actions are recorded as Events.
    let events = api.kubectl(&[
        "get",
        "events.events.k8s.io",
        "-n",
        ns,
        "-o",
        "jsonpath={.items[*].reason}",
    ]);
    for reason in [
        "TopicCreated",
        "PartitionsIncreased",
        "ConfigUpdated",
        "NotSupported",
        "TopicDeleted",
        "TopicRetained",
    ] {
        assert!(events.contains(reason), "no {reason} event:\n{events}");
    }
}

/// A cluster whose broker Pod is Ready but does not answer: the topic says
/// so in its condition and is retried with growing delays.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_cluster_is_reported_and_retried_with_backoff() {
    use k8s_openapi::api::core::v1::Pod;
    use kube::api::{Patch, PatchParams, PostParams};

    let api = ApiServer::start(16473, 12409);
    let client = api.client().await;
    install_crds(&client).await;
    let ns = "kt-unreachable";
    create_namespace(&client, ns).await;
    let operator = Operator::spawn(&api, "op-u", 18461, &["--topic-resync-seconds", "2"]);

    let clusters: Api<KafkaCluster> = Api::namespaced(client.clone(), ns);
    apply_json(
        &clusters,
        "ghost",
        json!({
            "apiVersion": "kafka.karst.dev/v1alpha1", "kind": "KafkaCluster",
            "metadata": { "name": "ghost" },
            "spec": { "replicas": 1, "listeners": { "kafkaPort": 19392, "httpPort": 20392 } },
        }),
    )
    .await
    .unwrap();
    // A Ready broker Pod whose address has nothing listening.
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    let pod: Pod = serde_json::from_value(json!({
        "metadata": { "name": "ghost-0", "labels": {
            "app.kubernetes.io/name": "karst", "app.kubernetes.io/instance": "ghost",
            "app.kubernetes.io/component": "broker", "apps.kubernetes.io/pod-index": "0" } },
        "spec": { "containers": [{ "name": "karst", "image": "karst:test" }] },
    }))
    .unwrap();
    pods.create(&PostParams::default(), &pod).await.unwrap();
    let status = json!({ "status": { "phase": "Running", "podIP": "127.34.0.1",
        "conditions": [{ "type": "Ready", "status": "True", "lastTransitionTime": "2026-01-01T00:00:00Z" }] } });
    pods.patch_status("ghost-0", &PatchParams::default(), &Patch::Merge(status))
        .await
        .unwrap();

    let topics: Api<KafkaTopic> = Api::namespaced(client.clone(), ns);
    apply_json(
        &topics,
        "events",
        topic(
            "events",
            json!({ "clusterRef": { "name": "ghost" }, "partitions": 1, "replicas": 1 }),
        ),
    )
    .await
    .unwrap();
    let kt = wait_condition(
        &topics,
        "events",
        "Ready",
        ConditionStatus::False,
        "ClusterUnreachable",
    )
    .await;
    let message = find(&kt.status.unwrap().conditions, "Ready")
        .unwrap()
        .message
        .clone();
    assert!(message.contains("127.34.0.1:19392"), "{message}");

    // Retried: failures keep being counted, with growing delays between them.
    let series = "karst_operator_reconcile_failures_total{controller=\"kafkatopic\",reason=\"cluster_unreachable\"}";
    let failures_reach = |n: f64| {
        let operator = &operator;
        async move {
            wait_for(&format!("{n} failed attempts"), WAIT, || async {
                (operator.metric(series).await? >= n).then_some(())
            })
            .await
        }
    };
    // The first attempts may follow each other quickly (status writes and the
    // cluster's own updates trigger them); after that the delays double
    // (1 s, 2 s, 4 s, 8 s ...), so the fifth attempt comes well after the fourth.
    failures_reach(4.0).await;
    let fourth = std::time::Instant::now();
    failures_reach(5.0).await;
    assert!(
        fourth.elapsed() >= Duration::from_secs(2),
        "retried after {:?}: no backoff",
        fourth.elapsed()
    );
}
