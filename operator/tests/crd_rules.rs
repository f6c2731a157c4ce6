//! The API server itself guards what cannot change (CEL rules in the CRDs):
//! a KafkaTopic's cluster and topic name, a cluster's storage class, and a
//! storage size that would shrink are refused at `kubectl apply` time with a
//! message naming the field. The CRDs apply without warnings.

mod common;

use std::path::Path;

use common::{ApiServer, create_namespace, install_crds};
use serde_json::json;

const API_PORT: u16 = 16483;
const ETCD_PORT: u16 = 12419;

/// `kubectl apply --server-side` of `doc`; returns (success, stderr).
fn apply(api: &ApiServer, doc: &serde_json::Value) -> (bool, String) {
    let out = api.kubectl_stdin(
        &[
            "apply",
            "--server-side",
            "--field-manager",
            "user",
            "-f",
            "-",
        ],
        &doc.to_string(),
    );
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn topic(spec: serde_json::Value) -> serde_json::Value {
    json!({
        "apiVersion": "kafka.karst.dev/v1alpha1", "kind": "KafkaTopic",
        "metadata": { "name": "orders", "namespace": "rules" }, "spec": spec,
    })
}

fn cluster(storage: serde_json::Value) -> serde_json::Value {
    json!({
        "apiVersion": "kafka.karst.dev/v1alpha1", "kind": "KafkaCluster",
        "metadata": { "name": "demo", "namespace": "rules" },
        "spec": { "replicas": 1, "storage": storage },
    })
}

fn assert_refused(api: &ApiServer, doc: &serde_json::Value, field: &str, why: &str) {
    let (ok, stderr) = apply(api, doc);
    assert!(!ok, "{doc} was accepted");
    assert!(
        stderr.contains(field) && stderr.contains(why),
        "the refusal of {doc} does not name {field} ({why}): {stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn immutable_fields_are_refused_by_the_api_server() {
    let api = ApiServer::start(API_PORT, ETCD_PORT);
    let client = api.client().await;

    // The CRDs apply without warnings (no `unrecognized format "int16"`).
    let crds = Path::new(env!("CARGO_MANIFEST_DIR")).join("../crds");
    let out = api.kubectl_output(&["apply", "--server-side", "-f", crds.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        !stderr.contains("Warning"),
        "CRDs apply with warnings: {stderr}"
    );
    install_crds(&client).await;
    create_namespace(&client, "rules").await;

    // KafkaTopic: partitions and replicas may be left to the broker; the
    // cluster and the topic name are fixed once created.
    let base = json!({ "clusterRef": { "name": "demo" }, "topicName": "orders" });
    let (ok, stderr) = apply(&api, &topic(base.clone()));
    assert!(ok, "{stderr}");
    assert_refused(
        &api,
        &topic(json!({ "clusterRef": { "name": "other" }, "topicName": "orders" })),
        "spec.clusterRef",
        "cannot be changed",
    );
    assert_refused(
        &api,
        &topic(json!({ "clusterRef": { "name": "demo" }, "topicName": "orders-v2" })),
        "spec.topicName",
        "cannot be changed",
    );
    let (ok, stderr) = apply(
        &api,
        &topic(json!({ "clusterRef": { "name": "demo" }, "topicName": "orders", "partitions": 6 })),
    );
    assert!(ok, "other fields still change: {stderr}");

    // KafkaCluster: the size grows, never shrinks; the class is fixed.
    let (ok, stderr) = apply(
        &api,
        &cluster(json!({ "size": "10Gi", "storageClass": "fast" })),
    );
    assert!(ok, "{stderr}");
    let (ok, stderr) = apply(
        &api,
        &cluster(json!({ "size": "20Gi", "storageClass": "fast" })),
    );
    assert!(ok, "a growing size is accepted: {stderr}");
    assert_refused(
        &api,
        &cluster(json!({ "size": "5Gi", "storageClass": "fast" })),
        "spec.storage.size",
        "can only grow",
    );
    assert_refused(
        &api,
        &cluster(json!({ "size": "20Gi", "storageClass": "slow" })),
        "spec.storage.storageClass",
        "cannot be changed",
    );
    assert_refused(
        &api,
        &cluster(json!({ "size": "20Gi" })),
        "spec.storage.storageClass",
        "cannot be changed",
    );
    assert_refused(
        &api,
        &cluster(json!({ "size": "lots", "storageClass": "fast" })),
        "spec.storage.size",
        "Kubernetes quantity",
    );
}
