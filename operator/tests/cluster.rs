//! KafkaCluster against a real API server, with the operator binary running
//! and real `karst` brokers standing in for the Pods.

mod common;

use std::time::Duration;

use common::{Operator, apply_json, wait_for, with_kubelet};
use k8s_openapi::api::{
    apps::v1::StatefulSet,
    core::v1::{ConfigMap, Service, ServiceAccount},
    policy::v1::PodDisruptionBudget,
};
use karst_operator::crd::{ConditionStatus, KafkaCluster, KafkaClusterStatus, conditions::find};
use kube::Api;
use serde_json::json;

const API_PORT: u16 = 16443;
const ETCD_PORT: u16 = 12379;
const OPERATOR_HTTP: u16 = 18431;
const LOOPBACK_OCTET: u8 = 31;
const WAIT: Duration = Duration::from_secs(90);
/// Three brokers start, form their quorum and register well within this.
const ONE_CLUSTER_WAIT: Duration = Duration::from_secs(60);

fn condition(kc: &KafkaCluster, type_: &str) -> Option<(ConditionStatus, String, String)> {
    let c = find(&kc.status.as_ref()?.conditions, type_)?;
    Some((c.status, c.reason.clone(), c.message.clone()))
}

fn condition_of(status: &KafkaClusterStatus, type_: &str) -> (ConditionStatus, String) {
    let c = find(&status.conditions, type_).expect("condition set");
    (c.status, c.message.clone())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_cluster_becomes_ready_and_invalid_specs_are_refused() {
    let ns = "kc-test";
    let (api, client, kubelet) = with_kubelet(API_PORT, ETCD_PORT, ns, LOOPBACK_OCTET).await;
    let operator = Operator::spawn(&api, "op-a", OPERATOR_HTTP, &[]);

    let clusters: Api<KafkaCluster> = Api::namespaced(client.clone(), ns);
    apply_json(
        &clusters,
        "demo",
        json!({
            "apiVersion": "kafka.karst.dev/v1alpha1", "kind": "KafkaCluster",
            "metadata": { "name": "demo" },
            "spec": {
                "replicas": 1,
                "listeners": { "kafkaPort": 19092, "httpPort": 19644 },
                "config": { "num.partitions": "2" },
            },
        }),
    )
    .await
    .expect("apply demo");

    // Ready, with the status a user reads.
    let kc = wait_for("demo Ready", WAIT, || {
        let clusters = clusters.clone();
        async move {
            let kc = clusters.get("demo").await.ok()?;
            (condition(&kc, "Ready")?.0 == ConditionStatus::True).then_some(kc)
        }
    })
    .await;
    let status = kc.status.clone().unwrap();
    assert_eq!(status.ready_brokers, 1);
    assert_eq!(status.observed_generation, kc.metadata.generation);
    assert_eq!(
        status.bootstrap_servers.as_deref(),
        Some("demo-bootstrap.kc-test.svc:19092")
    );
    assert_eq!(status.version.as_deref(), Some(env!("CARGO_PKG_VERSION")));
    assert_eq!(
        status.operation.as_ref().map(|o| o.name.as_str()),
        Some("Idle")
    );
    assert_eq!(
        condition(&kc, "Progressing").unwrap().0,
        ConditionStatus::False
    );
    assert_eq!(
        condition(&kc, "Degraded").unwrap().0,
        ConditionStatus::False
    );

    // The children exist, owned by the cluster, ConfigMap carrying the broker config.
    let cm = Api::<ConfigMap>::namespaced(client.clone(), ns)
        .get("demo-config")
        .await
        .unwrap();
    let props = &cm.data.as_ref().unwrap()["server.properties"];
    assert!(
        props.contains("listeners=PLAINTEXT://0.0.0.0:19092\n"),
        "{props}"
    );
    assert!(props.contains("num.partitions=2\n"), "{props}");
    assert_eq!(cm.metadata.owner_references.unwrap()[0].name, "demo");
    let sts = Api::<StatefulSet>::namespaced(client.clone(), ns)
        .get("demo-broker")
        .await
        .unwrap();
    assert_eq!(
        sts.spec
            .as_ref()
            .unwrap()
            .update_strategy
            .as_ref()
            .unwrap()
            .type_
            .as_deref(),
        Some("OnDelete")
    );
    for svc in ["demo-bootstrap", "demo-brokers"] {
        Api::<Service>::namespaced(client.clone(), ns)
            .get(svc)
            .await
            .unwrap();
    }
    Api::<PodDisruptionBudget>::namespaced(client.clone(), ns)
        .get("demo-broker")
        .await
        .unwrap();
    Api::<ServiceAccount>::namespaced(client.clone(), ns)
        .get("demo-broker")
        .await
        .unwrap();

    // Printer columns.
    let table = api.kubectl(&["get", "kc", "-n", ns]);
    let header: Vec<&str> = table.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(
        header,
        ["NAME", "DESIRED", "READY", "VERSION", "STATUS", "AGE"],
        "{table}"
    );
    let row: Vec<&str> = table.lines().nth(1).unwrap().split_whitespace().collect();
    assert_eq!(
        &row[..5],
        ["demo", "1", "1", env!("CARGO_PKG_VERSION"), "True"],
        "{table}"
    );

    // The operator's own health endpoint.
    assert_eq!(
        common::http_get(operator.http, "/healthz")
            .await
            .map(|r| r.0),
        Some(200)
    );

    // Per-cluster readiness metric.
    let series = "karst_operator_cluster_ready{cluster=\"demo\",namespace=\"kc-test\"}";
    wait_for("cluster_ready metric", WAIT, || async {
        (operator.metric(series).await? == 1.0).then_some(())
    })
    .await;

    // The schema rejects nonsense at apply time, naming the field.
    for (spec, field) in [
        (json!({ "replicas": 0 }), "spec.replicas"),
        (
            json!({ "replicas": 1, "config": { "log.retention.hours": 24 } }),
            "spec.config.log.retention.hours",
        ),
        (
            json!({ "replicas": 1, "storage": { "size": "1Gi", "sizee": "2Gi" } }),
            "sizee",
        ),
    ] {
        let doc = json!({
            "apiVersion": "kafka.karst.dev/v1alpha1", "kind": "KafkaCluster",
            "metadata": { "name": "nonsense", "namespace": ns }, "spec": spec,
        });
        let out = api.kubectl_stdin(&["apply", "--server-side", "-f", "-"], &doc.to_string());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{spec} was accepted");
        assert!(
            stderr.contains(field),
            "{spec}: error does not name {field}: {stderr}"
        );
    }

    // A spec the schema accepts but the operator cannot run: Degraded names the field.
    apply_json(
        &clusters,
        "bad",
        json!({
            "apiVersion": "kafka.karst.dev/v1alpha1", "kind": "KafkaCluster",
            "metadata": { "name": "bad" },
            "spec": { "replicas": 1, "config": { "listeners": "PLAINTEXT://0.0.0.0:1" } },
        }),
    )
    .await
    .unwrap();
    let (_, reason, message) = wait_for("bad Degraded", WAIT, || {
        let clusters = clusters.clone();
        async move {
            let kc = clusters.get("bad").await.ok()?;
            condition(&kc, "Degraded").filter(|c| c.0 == ConditionStatus::True)
        }
    })
    .await;
    assert_eq!(reason, "InvalidSpec");
    assert!(message.contains("spec.config[\"listeners\"]"), "{message}");
    assert!(
        Api::<StatefulSet>::namespaced(client.clone(), ns)
            .get_opt("bad-broker")
            .await
            .unwrap()
            .is_none()
    );

    // ... while other clusters keep being served: a new one still gets its objects.
    apply_json(
        &clusters,
        "later",
        json!({
            "apiVersion": "kafka.karst.dev/v1alpha1", "kind": "KafkaCluster",
            "metadata": { "name": "later" },
            "spec": { "replicas": 1, "listeners": { "kafkaPort": 19093, "httpPort": 19645 } },
        }),
    )
    .await
    .unwrap();
    wait_for("later Ready", WAIT, || {
        let clusters = clusters.clone();
        async move {
            let kc = clusters.get("later").await.ok()?;
            (condition(&kc, "Ready")?.0 == ConditionStatus::True).then_some(())
        }
    })
    .await;
    assert_eq!(
        condition(&clusters.get("demo").await.unwrap(), "Ready")
            .unwrap()
            .0,
        ConditionStatus::True
    );

    // Fixing the spec clears Degraded.
    apply_json(
        &clusters,
        "bad",
        json!({
            "apiVersion": "kafka.karst.dev/v1alpha1", "kind": "KafkaCluster",
            "metadata": { "name": "bad" },
            "spec": { "replicas": 1, "listeners": { "kafkaPort": 19094, "httpPort": 19646 } },
        }),
    )
    .await
    .unwrap();
    wait_for("bad repaired", WAIT, || {
        let clusters = clusters.clone();
        async move {
            let kc = clusters.get("bad").await.ok()?;
            (condition(&kc, "Degraded")?.0 == ConditionStatus::False
                && condition(&kc, "Ready")?.0 == ConditionStatus::True)
                .then_some(())
        }
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
    for reason in ["ClusterReady", "InvalidSpec"] {
        assert!(events.contains(reason), "no {reason} event: {events}");
    }

    // The broker behind the Pod answers Kafka requests with the node id from the ordinal.
    let ip = kubelet.pod_ip("demo-broker-0").expect("demo-broker-0 runs");
    let admin = karst_client::AdminClient::connect(format!("{ip}:19092"))
        .await
        .expect("broker reachable");
    let described = admin.describe_cluster().await.expect("DescribeCluster");
    assert_eq!(
        described
            .brokers
            .iter()
            .map(|b| b.node_id)
            .collect::<Vec<_>>(),
        [0]
    );

    // Three brokers form ONE cluster: one metadata quorum whose voters are
    // the three Pods, one cluster id derived from the resource; each broker
    // takes its node id from the Pod ordinal and lists all three.
    apply_json(
        &clusters,
        "trio",
        json!({
            "apiVersion": "kafka.karst.dev/v1alpha1", "kind": "KafkaCluster",
            "metadata": { "name": "trio" },
            "spec": { "replicas": 3, "listeners": { "kafkaPort": 19095, "httpPort": 19647, "controllerPort": 19096 } },
        }),
    )
    .await
    .unwrap();
    let kc = wait_for("trio Ready", ONE_CLUSTER_WAIT, || {
        let clusters = clusters.clone();
        async move {
            let kc = clusters.get("trio").await.ok()?;
            (condition(&kc, "Ready")?.0 == ConditionStatus::True).then_some(kc)
        }
    })
    .await;
    let uid = kc.metadata.uid.clone().unwrap();
    let status = kc.status.unwrap();
    assert_eq!(status.ready_brokers, 3);
    assert_eq!(status.cluster_id.as_deref(), Some(uid.as_str()));
    assert_eq!(status.brokers, [0, 1, 2]);
    assert_eq!(condition_of(&status, "Degraded").0, ConditionStatus::False);
    for ordinal in 0..3 {
        let ip = kubelet
            .pod_ip(&format!("trio-broker-{ordinal}"))
            .expect("pod runs");
        let admin = karst_client::AdminClient::connect(format!("{ip}:19095"))
            .await
            .unwrap();
        let described = admin.describe_cluster().await.unwrap();
        assert_eq!(described.cluster_id, uid, "trio-broker-{ordinal}");
        let mut brokers: Vec<(i32, String)> = described
            .brokers
            .iter()
            .map(|b| (b.node_id, b.host.clone()))
            .collect();
        brokers.sort();
        let expected: Vec<(i32, String)> = (0..3)
            .map(|i| {
                let ip = kubelet.pod_ip(&format!("trio-broker-{i}")).unwrap();
                (i, ip.to_string())
            })
            .collect();
        assert_eq!(brokers, expected, "trio-broker-{ordinal} lists all three");
    }

    // The voter set is fixed: a scale below the voters is refused with a clear condition.
    apply_json(
        &clusters,
        "trio",
        json!({
            "apiVersion": "kafka.karst.dev/v1alpha1", "kind": "KafkaCluster",
            "metadata": { "name": "trio" },
            "spec": { "replicas": 2, "listeners": { "kafkaPort": 19095, "httpPort": 19647, "controllerPort": 19096 } },
        }),
    )
    .await
    .unwrap();
    let (_, message) = wait_for("scaling refused", ONE_CLUSTER_WAIT, || {
        let clusters = clusters.clone();
        async move {
            let kc = clusters.get("trio").await.ok()?;
            let (status, reason, message) = condition(&kc, "Degraded")?;
            (status == ConditionStatus::True && reason == "ScalingRefused")
                .then_some((reason, message))
        }
    })
    .await;
    assert!(
        message.starts_with(
            "spec.replicas: the cluster runs 3 brokers and 2 were asked for; brokers 0 to 2 are the 3 voters"
        ),
        "{message}"
    );
    let sts: Api<StatefulSet> = Api::namespaced(client.clone(), ns);
    assert_eq!(
        sts.get("trio-broker").await.unwrap().spec.unwrap().replicas,
        Some(3),
        "nothing applied"
    );
}
