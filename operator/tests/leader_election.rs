//! Two operator processes: only the Lease holder reconciles; killing it hands over.

mod common;

use std::time::Duration;

use common::{ApiServer, Kubelet, Operator, apply_json, create_namespace, install_crds, wait_for};
use k8s_openapi::api::coordination::v1::Lease;
use karst_operator::crd::{ConditionStatus, KafkaCluster, conditions::find};
use kube::Api;
use serde_json::json;

const API_PORT: u16 = 16453;
const ETCD_PORT: u16 = 12389;
const LOOPBACK_OCTET: u8 = 32;
const WAIT: Duration = Duration::from_secs(90);
const RECONCILES: &str = "karst_operator_reconciliations_total{controller=\"kafkacluster\"}";

fn cluster(name: &str, port: u16) -> serde_json::Value {
    json!({
        "apiVersion": "kafka.karst.dev/v1alpha1", "kind": "KafkaCluster",
        "metadata": { "name": name },
        "spec": { "replicas": 1, "listeners": { "kafkaPort": port, "httpPort": port + 1000 } },
    })
}

async fn wait_ready(clusters: &Api<KafkaCluster>, name: &str) {
    wait_for(&format!("{name} Ready"), WAIT, || async move {
        let kc = clusters.get(name).await.ok()?;
        (find(&kc.status?.conditions, "Ready")?.status == ConditionStatus::True).then_some(())
    })
    .await;
}

async fn holder(leases: &Api<Lease>) -> Option<String> {
    leases
        .get("karst-operator")
        .await
        .ok()?
        .spec?
        .holder_identity
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_lease_holder_reconciles_and_killing_it_hands_over() {
    let api = ApiServer::start(API_PORT, ETCD_PORT);
    let client = api.client().await;
    install_crds(&client).await;
    let ns = "leader-test";
    create_namespace(&client, ns).await;
    let _kubelet = Kubelet::start(
        client.clone(),
        ns,
        LOOPBACK_OCTET,
        api.dir.path().join("pods"),
    );
    let leases: Api<Lease> = Api::namespaced(client.clone(), "default");

    let mut first = Operator::spawn(&api, "op-1", 18441, &[]);
    wait_for("op-1 holds the lease", WAIT, || async {
        (holder(&leases).await? == "op-1").then_some(())
    })
    .await;
    let second = Operator::spawn(&api, "op-2", 18442, &[]);
    wait_for("op-2 serves metrics", WAIT, || second.metrics()).await;

    let clusters: Api<KafkaCluster> = Api::namespaced(client.clone(), ns);
    apply_json(&clusters, "one", cluster("one", 19192))
        .await
        .unwrap();
    wait_ready(&clusters, "one").await;

    // The holder reconciled; the standby did not touch anything.
    assert!(first.metric(RECONCILES).await.unwrap_or(0.0) >= 1.0);
    assert_eq!(first.metric("karst_operator_leader").await, Some(1.0));
    assert_eq!(second.metric("karst_operator_leader").await, Some(0.0));
    assert_eq!(
        second.metric(RECONCILES).await.unwrap_or(0.0),
        0.0,
        "standby reconciled"
    );

    // Kill the holder without letting it release the lease: the standby takes over once it expires.
    first.kill().await;
    wait_for("op-2 holds the lease", WAIT, || async {
        (holder(&leases).await? == "op-2").then_some(())
    })
    .await;
    wait_for("op-2 leads", WAIT, || async {
        (second.metric("karst_operator_leader").await? == 1.0).then_some(())
    })
    .await;
    apply_json(&clusters, "two", cluster("two", 19193))
        .await
        .unwrap();
    wait_ready(&clusters, "two").await;
    assert!(second.metric(RECONCILES).await.unwrap_or(0.0) >= 1.0);

    // SIGTERM is a graceful shutdown: controllers stop, the Lease is released, exit 0.
    let mut second = second;
    let status = second.terminate(Duration::from_secs(30)).await;
    assert!(status.success(), "operator exited with {status}");
    let released = holder(&leases).await;
    assert!(
        released.as_deref().is_none_or(str::is_empty),
        "lease still held by {released:?}"
    );
}
