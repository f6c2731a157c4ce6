//! What makes the brokers of one `KafkaCluster` one Kafka cluster: a Raft
//! metadata quorum, and one `cluster.id` shared by every node.
//!
//! The voter set is fixed for the life of a cluster, because the brokers
//! cannot change it (no dynamic voters): a new cluster's voters are its
//! first `min(replicas, 3)` ordinals, which run combined roles (KRaft's
//! `process.roles=broker,controller`); every higher ordinal is broker-only
//! (`process.roles=broker`, a Raft learner following the metadata log), so
//! brokers can come and go above the voters. An existing cluster keeps the
//! voters it was rendered with (clusters created before this rule have every
//! ordinal as a voter): [`rendered_voter_count`] reads them back.
//!
//! A cluster of one broker keeps the broker's embedded single-node mode (no
//! voters): a single-node cluster created by an operator before the quorum
//! existed holds a broker-generated cluster id on disk, and a rendered
//! `cluster.id` would make that broker refuse to start after an operator
//! upgrade. Such a cluster therefore cannot grow (see
//! [`crate::cluster::scale::voters::check_scale`]).

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

/// Most voters a new cluster gets: three tolerate one voter down (a roll)
/// and more would only slow every metadata commit.
pub const MAX_NEW_VOTERS: i32 = 3;

impl Quorum {
    /// How many voters `voters` lists.
    pub fn voter_count(&self) -> i32 {
        i32::try_from(self.voters.split(',').count()).unwrap_or(i32::MAX)
    }

    /// Whether the broker of `ordinal` is a voter (voters are always the
    /// lowest ordinals, and a voter's id is its ordinal).
    pub fn is_voter(&self, ordinal: i32) -> bool {
        ordinal < self.voter_count()
    }

    /// `process.roles` of the broker of `ordinal`.
    pub fn roles(&self, ordinal: i32) -> &'static str {
        if self.is_voter(ordinal) {
            "broker,controller"
        } else {
            "broker"
        }
    }
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

/// The quorum of a new cluster of `replicas` brokers: the first
/// [`MAX_NEW_VOTERS`] ordinals vote; `None` for one broker (embedded
/// single-node mode, see the module documentation).
pub fn quorum(
    naming: PodNaming<'_>,
    uid: &str,
    replicas: i32,
    controller_port: i32,
) -> Option<Quorum> {
    (replicas > 1).then(|| with_voters(naming, uid, replicas.min(MAX_NEW_VOTERS), controller_port))
}

/// The quorum whose voters are the first `voters` ordinals: a running
/// cluster's, whose voter count is read back from what was rendered (see
/// [`rendered_voter_count`]) because changing it would split the quorum.
/// The names and port are rendered afresh, so a changed controller port
/// still reaches every voter.
pub fn with_voters(naming: PodNaming<'_>, uid: &str, voters: i32, controller_port: i32) -> Quorum {
    Quorum {
        cluster_id: cluster_id(uid),
        voters: (0..voters)
            .map(|i| format!("{i}@{}:{controller_port}", naming.ordinal_dns_name(i)))
            .collect::<Vec<_>>()
            .join(","),
        controller_port,
    }
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

/// How many voters `controller.quorum.voters` in a rendered properties file
/// lists; `None` when it has none (a new cluster, or one broker).
pub fn rendered_voter_count(properties: &str) -> Option<i32> {
    properties
        .lines()
        .find_map(|l| l.strip_prefix("controller.quorum.voters="))
        .map(|v| i32::try_from(v.split(',').count()).unwrap_or(i32::MAX))
}

/// The properties of `quorum` the operator renders beside the listeners,
/// as a voter reads them (a broker-only Pod's file overrides
/// `process.roles` with [`Quorum::roles`]).
pub fn properties(quorum: &Quorum) -> [(&'static str, String); 4] {
    [
        ("process.roles", quorum.roles(0).to_owned()),
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
    fn the_first_three_pods_vote_and_the_others_are_brokers_only() {
        let q = quorum(NAMING, "u", 5, 9093).unwrap();
        assert_eq!(q.voter_count(), 3);
        assert_eq!(q.roles(2), "broker,controller");
        assert_eq!(q.roles(3), "broker");
        assert_eq!(quorum(NAMING, "u", 2, 9093).unwrap().voter_count(), 2);
    }

    #[test]
    fn a_running_cluster_keeps_the_voters_it_was_rendered_with() {
        let old = quorum(NAMING, "u", 3, 9093).unwrap();
        let rendered = format!("# header\ncontroller.quorum.voters={}\n", old.voters);
        assert_eq!(rendered_voter_count(&rendered), Some(3));
        assert_eq!(with_voters(NAMING, "u", 3, 9093), old);
        let five = with_voters(NAMING, "u", 5, 9093);
        assert!(
            five.is_voter(4),
            "clusters from before the rule keep every voter"
        );
        assert_eq!(rendered_voter_count("a=b"), None);
    }

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
