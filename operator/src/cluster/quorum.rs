//! What makes the brokers of one `KafkaCluster` one Kafka cluster: a Raft
//! metadata quorum whose voters are every broker Pod (combined roles, as
//! KRaft's `process.roles=broker,controller`), and one `cluster.id` shared
//! by every node.
//!
//! A cluster of one broker keeps the broker's embedded single-node mode (no
//! voters): a single-node cluster created by an operator before the quorum
//! existed holds a broker-generated cluster id on disk, and a rendered
//! `cluster.id` would make that broker refuse to start after an operator
//! upgrade. A one-voter quorum would buy nothing, since the voter set cannot
//! change yet (see [`crate::cluster::validate::check_replicas_unchanged`]).

use super::build::labels::{headless_service_name, stateful_set_name};

/// Name of the controller listener in `listeners` and `controller.listener.names`.
pub const CONTROLLER_LISTENER: &str = "CONTROLLER";

/// The rendered quorum settings of a multi-broker cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quorum {
    /// `cluster.id`, the same on every node.
    pub cluster_id: String,
    /// `controller.quorum.voters`: `<ordinal>@<pod DNS name>:<controllerPort>,...`.
    pub voters: String,
    /// Port of the controller listener.
    pub controller_port: i32,
}

/// Where a cluster's Pods are named: enough to spell each one's DNS name.
#[derive(Debug, Clone, Copy)]
pub struct PodNaming<'a> {
    /// `metadata.name` of the cluster.
    pub cluster: &'a str,
    /// Its namespace.
    pub namespace: &'a str,
    /// The Kubernetes cluster's DNS domain.
    pub cluster_domain: &'a str,
}

impl PodNaming<'_> {
    /// The stable DNS name the headless Service gives `pod` (a Pod name, or
    /// `$(POD_NAME)` for the container to expand).
    pub fn dns_name(&self, pod: &str) -> String {
        format!(
            "{pod}.{}.{}.svc.{}",
            headless_service_name(self.cluster),
            self.namespace,
            self.cluster_domain
        )
    }

    /// The DNS name of the Pod of `ordinal`.
    pub fn ordinal_dns_name(&self, ordinal: i32) -> String {
        self.dns_name(&format!("{}-{ordinal}", stateful_set_name(self.cluster)))
    }
}

/// The quorum of a cluster of `replicas` brokers; `None` for one broker
/// (embedded single-node mode, see the module documentation).
pub fn quorum(
    naming: PodNaming<'_>,
    uid: &str,
    replicas: i32,
    controller_port: i32,
) -> Option<Quorum> {
    (replicas > 1).then(|| Quorum {
        cluster_id: cluster_id(uid),
        voters: (0..replicas)
            .map(|i| format!("{i}@{}:{controller_port}", naming.ordinal_dns_name(i)))
            .collect::<Vec<_>>()
            .join(","),
        controller_port,
    })
}

/// The cluster id of the resource of `uid`: a cluster deleted and created
/// again under the same name gets a new UID, so its brokers never mistake
/// the old cluster's volumes for their own. Characters the broker does not
/// accept in a cluster id (letters, digits, `-`, `_`) become `-` (an API
/// server gives UUIDs, which have none).
pub fn cluster_id(uid: &str) -> String {
    uid.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect()
}

/// The properties of `quorum` the operator renders beside the listeners.
pub fn properties(quorum: &Quorum) -> [(&'static str, String); 4] {
    [
        ("process.roles", "broker,controller".to_owned()),
        ("controller.listener.names", CONTROLLER_LISTENER.to_owned()),
        ("controller.quorum.voters", quorum.voters.clone()),
        ("cluster.id", quorum.cluster_id.clone()),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    const NAMING: PodNaming<'static> = PodNaming {
        cluster: "demo",
        namespace: "ns1",
        cluster_domain: "cluster.local",
    };

    #[test]
    fn every_pod_is_a_voter_by_its_stable_dns_name() {
        let q = quorum(NAMING, "6f1c2e4a-0b1d-4c5e-9f00-112233445566", 3, 9093).unwrap();
        assert_eq!(
            q.voters,
            "0@demo-broker-0.demo-brokers.ns1.svc.cluster.local:9093,\
             1@demo-broker-1.demo-brokers.ns1.svc.cluster.local:9093,\
             2@demo-broker-2.demo-brokers.ns1.svc.cluster.local:9093"
        );
        assert_eq!(q.cluster_id, "6f1c2e4a-0b1d-4c5e-9f00-112233445566");
        assert_eq!(
            quorum(NAMING, "u", 1, 9093),
            None,
            "one broker: embedded mode"
        );
    }

    #[test]
    fn the_cluster_id_follows_the_uid_within_the_broker_charset() {
        assert_eq!(cluster_id("a.b/c_d-1"), "a-b-c_d-1");
        assert_ne!(cluster_id("uid-1"), cluster_id("uid-2"));
    }
}
