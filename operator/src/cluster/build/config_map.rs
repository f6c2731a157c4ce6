//! The ConfigMap with the broker's `server.properties`.
//!
//! Per-pod values (node id, advertised listeners) are not in the file: they
//! come from environment variables set in the StatefulSet, which the broker
//! reads as `KARST_*` overrides.
//!
//! The role is per Pod too (voters run `broker,controller`, the ordinals
//! above them `broker`, see [`crate::cluster::quorum`]), and an environment
//! variable cannot tell one ordinal from another without a shell in the
//! image. So the ConfigMap holds one file per Pod, `<pod name>.properties`,
//! which the container picks with `$(POD_NAME)`; beside them
//! `server.properties`, what every voter reads, which Pods started by an
//! older operator still name on their command line. Every per-Pod file is a
//! function of `server.properties` and the fixed voter set, so the config
//! hash covers `server.properties` alone: adding or removing a Pod (a key)
//! rolls no other Pod, and an operator upgrade rolls nothing.

use std::{collections::BTreeMap, fmt::Write};

use k8s_openapi::api::core::v1::ConfigMap;

use super::labels::{config_map_name, object_meta, stateful_set_name};
use crate::cluster::{broker_config::operator_properties, validate::ValidatedCluster};

/// Key of the properties file in the ConfigMap.
pub const SERVER_PROPERTIES: &str = "server.properties";
/// Where the ConfigMap is mounted.
pub const CONFIG_DIR: &str = "/etc/karst";
/// Where the data volume is mounted.
pub const DATA_DIR: &str = "/var/lib/karst";

/// Renders `server.properties`: the operator's properties, then the user's, sorted.
pub fn render_server_properties(cluster: &ValidatedCluster) -> String {
    render(cluster, None)
}

/// Renders the properties file of the Pod of `ordinal`: `server.properties`
/// with that broker's `process.roles`.
pub fn render_pod_properties(cluster: &ValidatedCluster, ordinal: i32) -> String {
    render(cluster, Some(ordinal))
}

/// The ConfigMap key of the Pod of `ordinal`.
pub fn pod_properties_key(cluster: &ValidatedCluster, ordinal: i32) -> String {
    format!("{}-{ordinal}.properties", stateful_set_name(&cluster.name))
}

/// The file a container reads: its own Pod's (`$(POD_NAME)` is expanded
/// by the kubelet from the downward API).
pub fn pod_properties_file(dir: &str) -> String {
    format!("{dir}/$(POD_NAME).properties")
}

fn render(cluster: &ValidatedCluster, ordinal: Option<i32>) -> String {
    let mut props = operator_properties(
        cluster.kafka_port,
        cluster.http_port,
        cluster.quorum.as_ref(),
    );
    for (k, v) in &cluster.broker_config {
        props.insert(k.clone(), v.clone());
    }
    if let (Some(q), Some(ordinal)) = (cluster.quorum.as_ref(), ordinal) {
        props.insert("process.roles".to_owned(), q.roles(ordinal).to_owned());
    }
    let mut out = format!(
        "# Rendered by karst-operator for KafkaCluster {}/{}; edits are overwritten.\n",
        cluster.namespace, cluster.name
    );
    for (k, v) in &props {
        let _ = writeln!(out, "{}={}", escape(k, true), escape(v, false));
    }
    out
}

/// Escapes a key or value as Java's `Properties.store` does for the characters that matter.
fn escape(s: &str, is_key: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for (i, c) in s.chars().enumerate() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '=' | ':' | '#' | '!' if is_key => {
                out.push('\\');
                out.push(c);
            }
            ' ' if is_key || i == 0 => out.push_str("\\ "),
            c => out.push(c),
        }
    }
    out
}

/// Builds the ConfigMap.
pub fn build(cluster: &ValidatedCluster) -> ConfigMap {
    ConfigMap {
        metadata: object_meta(cluster, config_map_name(&cluster.name)),
        data: Some(
            (0..cluster.replicas)
                .map(|i| {
                    (
                        pod_properties_key(cluster, i),
                        render_pod_properties(cluster, i),
                    )
                })
                .chain([(
                    SERVER_PROPERTIES.to_owned(),
                    render_server_properties(cluster),
                )])
                .collect::<BTreeMap<_, _>>(),
        ),
        ..ConfigMap::default()
    }
}

/// A stable hash (FNV-1a) of the ConfigMap data, put on the Pod template so
/// that a config change marks the Pods for restart. Only `server.properties`
/// counts: the per-Pod files follow from it (see the module documentation).
pub fn config_hash(config_map: &ConfigMap) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for (k, v) in config_map
        .data
        .iter()
        .flatten()
        .filter(|(k, _)| k.as_str() == SERVER_PROPERTIES)
    {
        for b in k.bytes().chain([0]).chain(v.bytes()).chain([0]) {
            hash ^= u64::from(b);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    format!("{hash:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::validate::tests::ClusterFixture;

    #[test]
    fn properties_hold_operator_and_user_settings() {
        let v = ClusterFixture::new("demo", 1)
            .config("log.retention.hours", "24")
            .validated();
        let props = render_server_properties(&v);
        let lines: Vec<&str> = props.lines().filter(|l| !l.starts_with('#')).collect();
        assert_eq!(
            lines,
            [
                // The partition-move throttle (spec.scaling), 50 MiB/s.
                "follower.replication.throttled.rate=52428800",
                "karst.http.listener=0.0.0.0:9644",
                "leader.replication.throttled.rate=52428800",
                "listeners=PLAINTEXT://0.0.0.0:9092",
                "log.dirs=/var/lib/karst/data",
                "log.retention.hours=24",
            ]
        );
    }

    #[test]
    fn brokers_of_a_multi_broker_cluster_share_one_quorum() {
        let props = render_server_properties(&ClusterFixture::new("demo", 3).validated());
        for line in [
            "listeners=PLAINTEXT://0.0.0.0:9092,CONTROLLER://0.0.0.0:9093",
            "process.roles=broker,controller",
            "controller.listener.names=CONTROLLER",
            "cluster.id=uid-1",
        ] {
            assert!(props.lines().any(|l| l == line), "{line} in {props}");
        }
        let voters = props
            .lines()
            .find_map(|l| l.strip_prefix("controller.quorum.voters="))
            .expect("voters rendered");
        assert_eq!(voters.split(',').count(), 3, "{voters}");
        assert!(voters.starts_with("0@demo-broker-0.demo-brokers.ns1.svc.cluster.local:9093"));
    }

    #[test]
    fn each_pod_has_its_role_and_adding_pods_rolls_nobody() {
        let three = build(&ClusterFixture::new("demo", 3).validated());
        let five = build(&ClusterFixture::new("demo", 5).validated());
        let mut kept = ClusterFixture::new("demo", 5).validated();
        let rendered = three.data.as_ref().unwrap()[SERVER_PROPERTIES].clone();
        kept.keep_voters(crate::cluster::quorum::rendered_voter_count(&rendered));
        let kept = build(&kept);
        assert_eq!(config_hash(&three), config_hash(&kept));
        assert_eq!(
            config_hash(&three),
            config_hash(&five),
            "a new cluster of 5 has 3 voters too"
        );
        let data = kept.data.unwrap();
        let role = |key: &str| {
            data[key]
                .lines()
                .find_map(|l| l.strip_prefix("process.roles="))
                .unwrap()
                .to_owned()
        };
        assert_eq!(data.len(), 6, "{:?}", data.keys());
        assert_eq!(role("demo-broker-2.properties"), "broker,controller");
        assert_eq!(role("demo-broker-3.properties"), "broker");
        assert_eq!(role("demo-broker-4.properties"), "broker");
        assert_eq!(data["demo-broker-0.properties"], data[SERVER_PROPERTIES]);
    }

    #[test]
    fn values_with_newlines_cannot_inject_properties() {
        let v = ClusterFixture::new("demo", 1)
            .config("broker.rack", "x\nlisteners=evil")
            .validated();
        let props = render_server_properties(&v);
        assert!(props.contains("broker.rack=x\\nlisteners=evil"), "{props}");
        assert!(!props.lines().any(|l| l == "listeners=evil"));
    }

    #[test]
    fn config_hash_changes_with_the_config() {
        let a = build(&ClusterFixture::new("demo", 1).validated());
        let b = build(
            &ClusterFixture::new("demo", 1)
                .config("num.partitions", "3")
                .validated(),
        );
        assert_ne!(config_hash(&a), config_hash(&b));
        assert_eq!(config_hash(&a), config_hash(&a.clone()));
        assert_eq!(a.metadata.name.as_deref(), Some("demo-config"));
        assert_eq!(
            a.metadata.owner_references.as_ref().unwrap()[0].kind,
            "KafkaCluster"
        );
    }
}
