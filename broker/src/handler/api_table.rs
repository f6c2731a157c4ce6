//! The API table: every Kafka API key, whether Karst serves it, and what it
//! does on one node now and in a cluster later.
//!
//! This is the single source for ApiVersions (see [`super::api_versions`])
//! and for the connection's check of which requests it decodes; the README's
//! "Kafka APIs" section is generated from it ([`markdown`]) and a test fails
//! when the two differ. A served API is served in every version the
//! `kafka-protocol` crate knows: clients infer the broker's generation from
//! the maximum versions, so stopping short would make Karst look older.

use kafka_protocol::messages::ApiKey;

/// One row of the table.
pub(crate) struct ApiRow {
    pub(crate) key: ApiKey,
    /// What the API is for, in Kafka's words.
    #[cfg_attr(not(test), expect(dead_code, reason = "read by the README table test"))]
    pub(crate) purpose: &'static str,
    pub(crate) service: Service,
}

/// How Karst answers an API.
pub(crate) enum Service {
    /// Served, the same on one node and in a cluster.
    Served,
    /// Served with single-node semantics; `cluster` says what changes when
    /// the cluster issues land.
    SingleNode {
        #[cfg_attr(not(test), expect(dead_code, reason = "read by the README table test"))]
        cluster: &'static str,
    },
    /// Not advertised in ApiVersions; a request for it closes the connection
    /// as Kafka does for an API it does not know. `why` says why.
    NotServed {
        #[cfg_attr(not(test), expect(dead_code, reason = "read by the README table test"))]
        why: &'static str,
    },
}

impl ApiRow {
    pub(crate) fn is_served(&self) -> bool {
        !matches!(self.service, Service::NotServed { .. })
    }
}

const fn served(key: ApiKey, purpose: &'static str) -> ApiRow {
    ApiRow {
        key,
        purpose,
        service: Service::Served,
    }
}

const fn single_node(key: ApiKey, purpose: &'static str, cluster: &'static str) -> ApiRow {
    ApiRow {
        key,
        purpose,
        service: Service::SingleNode { cluster },
    }
}

const fn not_served(key: ApiKey, purpose: &'static str, why: &'static str) -> ApiRow {
    ApiRow {
        key,
        purpose,
        service: Service::NotServed { why },
    }
}

const TRANSACTIONS: &str = "transactions are not supported yet";
const AUTH: &str = "no authentication yet (PLAINTEXT listeners only)";
const KRAFT_INTERNAL: &str = "KRaft internal (controller quorum), not a client API";
const NO_AUTHORIZER: &str = "SECURITY_DISABLED until an authorizer exists";
const TRANSACTIONS_LATER: &str = "the transaction coordinator's state, when transactions exist";
const SHARE_GROUPS: &str = "share groups (KIP-932) are not supported";
const NEW_CONSUMER: &str =
    "the consumer group protocol of KIP-848 is not supported; the classic protocol is";

use ApiKey as K;

/// Every API key of the `kafka-protocol` crate, in key order.
pub(crate) const API_TABLE: &[ApiRow] = &[
    served(K::Produce, "append record batches to partitions"),
    served(K::Fetch, "read record batches from partitions"),
    served(K::ListOffsets, "offsets by time, earliest, latest"),
    served(K::Metadata, "brokers, topics, partitions, leaders"),
    served(K::OffsetCommit, "commit a group's offsets"),
    served(K::OffsetFetch, "read a group's committed offsets"),
    single_node(
        K::FindCoordinator,
        "find a group's (or transaction's) coordinator",
        "the leader of the group's `__consumer_offsets` partition",
    ),
    served(K::JoinGroup, "join a consumer group (classic protocol)"),
    served(K::Heartbeat, "keep a group membership alive"),
    served(K::LeaveGroup, "leave a consumer group"),
    served(K::SyncGroup, "distribute a group's assignment"),
    served(K::DescribeGroups, "describe consumer groups"),
    served(K::ListGroups, "list consumer groups"),
    not_served(K::SaslHandshake, "SASL mechanism handshake", AUTH),
    served(K::ApiVersions, "the APIs and versions served (this table)"),
    served(K::CreateTopics, "create topics"),
    served(K::DeleteTopics, "delete topics"),
    served(K::DeleteRecords, "move a partition's log start offset"),
    served(
        K::InitProducerId,
        "producer id and epoch for idempotent producers; a transactional id gets UNSUPPORTED_VERSION",
    ),
    served(
        K::OffsetForLeaderEpoch,
        "where a leader epoch ends: follower truncation (KIP-101/279)",
    ),
    not_served(K::AddPartitionsToTxn, "transactions", TRANSACTIONS),
    not_served(K::AddOffsetsToTxn, "transactions", TRANSACTIONS),
    not_served(K::EndTxn, "transactions", TRANSACTIONS),
    not_served(K::WriteTxnMarkers, "transactions", TRANSACTIONS),
    not_served(K::TxnOffsetCommit, "transactions", TRANSACTIONS),
    single_node(K::DescribeAcls, "list ACLs", NO_AUTHORIZER),
    single_node(K::CreateAcls, "create ACLs", NO_AUTHORIZER),
    single_node(K::DeleteAcls, "delete ACLs", NO_AUTHORIZER),
    served(
        K::DescribeConfigs,
        "topic and broker configs, sources, synonyms",
    ),
    served(K::AlterConfigs, "replace topic or broker configs"),
    single_node(
        K::AlterReplicaLogDirs,
        "move replicas between log dirs (no-op to the current dir)",
        "moves between several log dirs (JBOD) when Karst has them",
    ),
    single_node(
        K::DescribeLogDirs,
        "log dirs and partition sizes",
        "each broker describes its own log dirs",
    ),
    not_served(K::SaslAuthenticate, "SASL authentication", AUTH),
    served(K::CreatePartitions, "add partitions to topics"),
    not_served(K::CreateDelegationToken, "delegation tokens", AUTH),
    not_served(K::RenewDelegationToken, "delegation tokens", AUTH),
    not_served(K::ExpireDelegationToken, "delegation tokens", AUTH),
    not_served(K::DescribeDelegationToken, "delegation tokens", AUTH),
    served(K::DeleteGroups, "delete consumer groups"),
    served(
        K::ElectLeaders,
        "elect preferred or unclean leaders (the controller decides)",
    ),
    served(
        K::IncrementalAlterConfigs,
        "set, delete, append, subtract configs",
    ),
    served(
        K::AlterPartitionReassignments,
        "move partition replicas, or cancel a move (KIP-455)",
    ),
    served(
        K::ListPartitionReassignments,
        "list moves in progress with adding/removing replicas",
    ),
    served(K::OffsetDelete, "delete a group's offsets"),
    not_served(
        K::DescribeClientQuotas,
        "client quotas",
        "quotas are not supported",
    ),
    not_served(
        K::AlterClientQuotas,
        "client quotas",
        "quotas are not supported",
    ),
    not_served(K::DescribeUserScramCredentials, "SCRAM users", AUTH),
    not_served(K::AlterUserScramCredentials, "SCRAM users", AUTH),
    not_served(K::Vote, "Raft election", KRAFT_INTERNAL),
    not_served(K::BeginQuorumEpoch, "Raft leadership", KRAFT_INTERNAL),
    not_served(K::EndQuorumEpoch, "Raft leadership", KRAFT_INTERNAL),
    single_node(
        K::DescribeQuorum,
        "the metadata quorum (one voter: this node)",
        "the Raft voters and observers",
    ),
    not_served(K::AlterPartition, "ISR changes", KRAFT_INTERNAL),
    not_served(
        K::UpdateFeatures,
        "finalized feature levels",
        "no feature flags yet",
    ),
    not_served(K::Envelope, "forwarded requests", KRAFT_INTERNAL),
    not_served(K::FetchSnapshot, "Raft snapshots", KRAFT_INTERNAL),
    single_node(
        K::DescribeCluster,
        "cluster id, controller, brokers",
        "every live (unfenced) broker; a live broker as controller (KIP-590)",
    ),
    single_node(
        K::DescribeProducers,
        "active idempotent producers of partitions",
        "the partition leader answers; NOT_LEADER_OR_FOLLOWER elsewhere",
    ),
    not_served(K::BrokerRegistration, "broker registration", KRAFT_INTERNAL),
    not_served(K::BrokerHeartbeat, "broker liveness", KRAFT_INTERNAL),
    not_served(K::UnregisterBroker, "remove a broker", KRAFT_INTERNAL),
    single_node(
        K::DescribeTransactions,
        "describe transactions (TRANSACTIONAL_ID_NOT_FOUND)",
        TRANSACTIONS_LATER,
    ),
    single_node(
        K::ListTransactions,
        "list transactions (none)",
        TRANSACTIONS_LATER,
    ),
    not_served(K::AllocateProducerIds, "producer id blocks", KRAFT_INTERNAL),
    not_served(
        K::ConsumerGroupHeartbeat,
        "KIP-848 consumer groups",
        NEW_CONSUMER,
    ),
    not_served(
        K::ConsumerGroupDescribe,
        "KIP-848 consumer groups",
        NEW_CONSUMER,
    ),
    not_served(
        K::ControllerRegistration,
        "controller registration",
        KRAFT_INTERNAL,
    ),
    not_served(
        K::GetTelemetrySubscriptions,
        "client metrics (KIP-714)",
        "client telemetry is not collected",
    ),
    not_served(
        K::PushTelemetry,
        "client metrics (KIP-714)",
        "client telemetry is not collected",
    ),
    not_served(
        K::AssignReplicasToDirs,
        "JBOD directory assignment",
        KRAFT_INTERNAL,
    ),
    served(
        K::ListConfigResources,
        "list config resources (topics, broker)",
    ),
    served(
        K::DescribeTopicPartitions,
        "topics and partitions, paginated with a cursor",
    ),
    not_served(K::ShareGroupHeartbeat, "share groups", SHARE_GROUPS),
    not_served(K::ShareGroupDescribe, "share groups", SHARE_GROUPS),
    not_served(K::ShareFetch, "share groups", SHARE_GROUPS),
    not_served(K::ShareAcknowledge, "share groups", SHARE_GROUPS),
    not_served(K::AddRaftVoter, "Raft membership", KRAFT_INTERNAL),
    not_served(K::RemoveRaftVoter, "Raft membership", KRAFT_INTERNAL),
    not_served(K::UpdateRaftVoter, "Raft membership", KRAFT_INTERNAL),
    not_served(K::InitializeShareGroupState, "share groups", SHARE_GROUPS),
    not_served(K::ReadShareGroupState, "share groups", SHARE_GROUPS),
    not_served(K::WriteShareGroupState, "share groups", SHARE_GROUPS),
    not_served(K::DeleteShareGroupState, "share groups", SHARE_GROUPS),
    not_served(K::ReadShareGroupStateSummary, "share groups", SHARE_GROUPS),
    not_served(K::DescribeShareGroupOffsets, "share groups", SHARE_GROUPS),
    not_served(K::AlterShareGroupOffsets, "share groups", SHARE_GROUPS),
    not_served(K::DeleteShareGroupOffsets, "share groups", SHARE_GROUPS),
];

/// The row of `api`.
pub(crate) fn row(api: ApiKey) -> Option<&'static ApiRow> {
    API_TABLE.iter().find(|r| r.key == api)
}

/// The APIs this broker serves, in key order.
pub(crate) fn served_apis() -> impl Iterator<Item = ApiKey> {
    API_TABLE.iter().filter(|r| r.is_served()).map(|r| r.key)
}

/// The table as Markdown, for the README.
#[cfg(test)]
fn markdown() -> String {
    let mut out = String::from(
        "| key | API | versions | what it does | single node now | in a cluster |\n\
         |---:|---|---|---|---|---|\n",
    );
    for row in API_TABLE {
        let range = row.key.valid_versions();
        let (versions, now, cluster) = match row.service {
            Service::Served => (format!("{}–{}", range.min, range.max), "served", "same"),
            Service::SingleNode { cluster } => (
                format!("{}–{}", range.min, range.max),
                "served (this node)",
                cluster,
            ),
            Service::NotServed { why } => ("—".to_owned(), "not served", why),
        };
        out.push_str(&format!(
            "| {} | {:?} | {versions} | {} | {now} | {cluster} |\n",
            row.key as i16, row.key, row.purpose
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_lists_every_api_key_once_in_key_order() {
        let keys: Vec<ApiKey> = API_TABLE.iter().map(|r| r.key).collect();
        let all: Vec<ApiKey> = ApiKey::iter().collect();
        assert_eq!(keys, all);
    }

    /// Set `KARST_BLESS=1` to rewrite the README section from the table.
    #[test]
    fn readme_api_table_matches_the_code() {
        const BEGIN: &str =
            "<!-- api-table:begin (generated from broker/src/handler/api_table.rs) -->\n";
        const END: &str = "<!-- api-table:end -->";
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md");
        let readme = std::fs::read_to_string(path).expect("README.md");
        let start = readme
            .find(BEGIN)
            .expect("README has the api-table markers")
            + BEGIN.len();
        let end = readme[start..].find(END).expect("api-table end marker") + start;
        let table = markdown();
        if std::env::var_os("KARST_BLESS").is_some() {
            let updated = format!("{}{table}{}", &readme[..start], &readme[end..]);
            std::fs::write(path, updated).expect("write README.md");
            return;
        }
        assert!(
            readme[start..end] == table,
            "README's API table is stale: run `KARST_BLESS=1 cargo test -p karst-broker --lib readme_api_table`"
        );
    }
}
