//! Issue 14 against a real API server, the operator binary and real
//! `karst` brokers behind the stand-in kubelet: a change of a dynamic
//! broker setting in `spec.config` restarts no Pod (the kubelet's history
//! and the Pod template's config hash say so) and every broker reports the
//! new value as the cluster-wide dynamic default; removing it restores the
//! default; a change of a setting that needs a restart rolls.

mod common;

use std::time::Duration;

use common::{Kubelet, Operator, PodEvent, apply_json, wait_for, with_kubelet};
use k8s_openapi::api::apps::v1::StatefulSet;
use karst_client::{AdminClient, ConfigSource};
use karst_operator::crd::{ConditionStatus, KafkaCluster, conditions::find};
use kube::Api;
use serde_json::json;

const API_PORT: u16 = 16533;
const ETCD_PORT: u16 = 12469;
const OPERATOR_HTTP: u16 = 18511;
const LOOPBACK_OCTET: u8 = 39;
const KAFKA_PORT: u16 = 19535;
const WAIT: Duration = Duration::from_secs(180);
const CONFIG_HASH: &str = "kafka.karst.dev/config-hash";

fn cluster(config: serde_json::Value) -> serde_json::Value {
    json!({
        "apiVersion": "kafka.karst.dev/v1alpha1", "kind": "KafkaCluster",
        "metadata": { "name": "demo" },
        "spec": {
            "replicas": 3,
            "image": "karst:dyn",
            "listeners": { "kafkaPort": KAFKA_PORT, "httpPort": 19536, "controllerPort": 19537 },
            "config": config,
        },
    })
}

/// `message.max.bytes` and its source as broker `ordinal` describes itself.
async fn described(kubelet: &Kubelet, ordinal: i32) -> Option<(String, ConfigSource)> {
    described_key(kubelet, ordinal, "message.max.bytes").await
}

/// A broker setting and its source as broker `ordinal` describes itself.
async fn described_key(
    kubelet: &Kubelet,
    ordinal: i32,
    key: &str,
) -> Option<(String, ConfigSource)> {
    let ip = kubelet.pod_ip(&format!("demo-broker-{ordinal}"))?;
    let admin = AdminClient::connect(format!("{ip}:{KAFKA_PORT}"))
        .await
        .ok()?;
    let entries = admin
        .describe_broker_configs(&ordinal.to_string())
        .await
        .ok()?;
    let entry = entries.into_iter().find(|e| e.name == key)?;
    Some((entry.value?, entry.source))
}

/// Waits until every broker describes `message.max.bytes` as `expected`.
async fn wait_every_broker_reports(kubelet: &Kubelet, expected: (&str, ConfigSource)) {
    wait_for(
        &format!("every broker to report message.max.bytes {expected:?}"),
        WAIT,
        || async {
            for ordinal in 0..3 {
                let (value, source) = described(kubelet, ordinal).await?;
                if (value.as_str(), source) != expected {
                    return None;
                }
            }
            Some(())
        },
    )
    .await;
}

async fn template_hash(sets: &Api<StatefulSet>) -> Option<String> {
    let set = sets.get("demo-broker").await.ok()?;
    set.spec?
        .template
        .metadata?
        .annotations?
        .get(CONFIG_HASH)
        .cloned()
}

fn restarted(history: &[PodEvent]) -> Vec<&PodEvent> {
    history
        .iter()
        .filter(|e| matches!(e, PodEvent::Stopped(_) | PodEvent::Killed(_)))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dynamic_setting_is_applied_without_a_restart_and_a_static_one_rolls() {
    let ns = "dynamic";
    let (api, client, kubelet) = with_kubelet(API_PORT, ETCD_PORT, ns, LOOPBACK_OCTET).await;
    let _operator = Operator::spawn(&api, "op-d", OPERATOR_HTTP, &[]);
    let clusters: Api<KafkaCluster> = Api::namespaced(client.clone(), ns);
    let sets: Api<StatefulSet> = Api::namespaced(client.clone(), ns);

    apply_json(&clusters, "demo", cluster(json!({})))
        .await
        .unwrap();
    wait_for("3 brokers ready", WAIT, || async {
        let kc = clusters.get("demo").await.ok()?;
        let status = kc.status.as_ref()?;
        let ready = find(&status.conditions, "Ready")?.status == ConditionStatus::True;
        (ready && status.ready_brokers == 3).then_some(())
    })
    .await;
    let default_max = described(&kubelet, 0).await.expect("broker 0 answers");
    assert_eq!(default_max.1, ConfigSource::DefaultConfig);
    // The partition-move throttle (spec.scaling, 50 MiB/s by default) is a
    // cluster-wide dynamic default on every broker.
    for ordinal in 0..3 {
        let key = "follower.replication.throttled.rate";
        let expected = (
            "52428800".to_owned(),
            ConfigSource::DynamicDefaultBrokerConfig,
        );
        wait_for(&format!("broker {ordinal}'s {key}"), WAIT, || async {
            described_key(&kubelet, ordinal, key)
                .await
                .filter(|d| *d == expected)
        })
        .await;
    }
    let hash = template_hash(&sets).await.expect("template hash");
    let before = kubelet.history().len();

    // A dynamic setting: every broker takes it, no Pod restarts.
    let started = std::time::Instant::now();
    apply_json(
        &clusters,
        "demo",
        cluster(json!({ "message.max.bytes": "200000" })),
    )
    .await
    .unwrap();
    wait_every_broker_reports(
        &kubelet,
        ("200000", ConfigSource::DynamicDefaultBrokerConfig),
    )
    .await;
    eprintln!(
        "FIGURE dynamic spec.config change in force on 3 brokers: {:?}",
        started.elapsed()
    );
    assert_eq!(
        template_hash(&sets).await,
        Some(hash.clone()),
        "hash unchanged"
    );
    let events = api.kubectl(&[
        "get",
        "events.events.k8s.io",
        "-n",
        ns,
        "-o",
        "jsonpath={range .items[*]}{.reason}: {.note}{\"\\n\"}{end}",
    ]);
    assert!(
        events.contains("DynamicConfigApplied: Cluster-wide broker defaults (no restart): set message.max.bytes=200000"),
        "{events}"
    );
    wait_for("status.dynamicConfig", WAIT, || async {
        let kc = clusters.get("demo").await.ok()?;
        let applied = &kc.status.as_ref()?.dynamic_config;
        (applied.get("message.max.bytes").map(String::as_str) == Some("200000")).then_some(())
    })
    .await;

    // Removing it deletes the cluster default: the built-in value is back.
    apply_json(&clusters, "demo", cluster(json!({})))
        .await
        .unwrap();
    wait_every_broker_reports(&kubelet, (&default_max.0, ConfigSource::DefaultConfig)).await;
    assert_eq!(
        template_hash(&sets).await,
        Some(hash.clone()),
        "hash unchanged"
    );
    let history = kubelet.history()[before..].to_vec();
    assert!(
        restarted(&history).is_empty(),
        "no Pod restarted: {history:?}"
    );

    // A setting that needs a restart changes the hash and rolls.
    let before = kubelet.history().len();
    apply_json(&clusters, "demo", cluster(json!({ "num.partitions": "2" })))
        .await
        .unwrap();
    wait_for("a broker restarted", WAIT, || async {
        let history = kubelet.history()[before..].to_vec();
        (!restarted(&history).is_empty()).then_some(())
    })
    .await;
    assert_ne!(template_hash(&sets).await, Some(hash), "hash changed");
}
