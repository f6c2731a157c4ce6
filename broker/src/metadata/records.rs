//! The records of the metadata log. They are the only way metadata changes.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// What a config record applies to.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConfigResourceKey {
    /// A topic, by name.
    Topic(String),
    /// A broker, by node id (dynamic broker configs).
    Broker(i32),
}

/// One change to cluster metadata. Serialized into the metadata log, so
/// variants and fields may be added but never renamed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum MetadataRecord {
    /// A broker announced itself with its advertised Kafka endpoint. In a
    /// quorum it registers fenced and is unfenced by its first heartbeat
    /// once it has caught up; `epoch` (the broker epoch) is new with every
    /// registration, `incarnation` names the process that registered.
    RegisterBroker {
        node_id: i32,
        host: String,
        port: i32,
        rack: Option<String>,
        #[serde(default)]
        fenced: bool,
        #[serde(default)]
        epoch: i64,
        #[serde(default)]
        incarnation: Option<Uuid>,
    },
    /// A broker missed heartbeats for `broker.session.timeout.ms` or shut
    /// down: it leads nothing and is left out of placement and Metadata.
    FenceBroker {
        node_id: i32,
        /// Fenced because it asked to (a controlled shutdown), not because
        /// it went silent; Kafka's `inControlledShutdown`.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        controlled_shutdown: bool,
    },
    /// A fenced broker heartbeats again and has caught up.
    UnfenceBroker { node_id: i32 },
    /// A topic came into being with a permanent id.
    Topic { name: String, id: Uuid },
    /// A partition of a topic: its replicas, in-sync replicas and leader.
    /// Also written again when leadership or the ISR changes.
    Partition {
        topic_id: Uuid,
        partition: i32,
        replicas: Vec<i32>,
        isr: Vec<i32>,
        leader: i32,
        leader_epoch: i32,
        /// Bumped by every change of the partition (leader or ISR); an
        /// AlterPartition from an older view is refused.
        #[serde(default)]
        partition_epoch: i32,
        /// Replicas a reassignment in progress adds (KIP-455); they are in
        /// `replicas` and catch up as followers before the move completes.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        adding_replicas: Vec<i32>,
        /// Replicas a reassignment in progress removes once every adding
        /// replica is in sync; still in `replicas` until then.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        removing_replicas: Vec<i32>,
    },
    /// A config override set (`Some`) or removed (`None`).
    Config {
        resource: ConfigResourceKey,
        name: String,
        value: Option<String>,
    },
    /// A topic and all its partitions were deleted.
    RemoveTopic { id: Uuid },
    /// Producer ids below `next_producer_id` are handed out; the next
    /// InitProducerId allocation starts there.
    ProducerIds { next_producer_id: i64 },
}

#[cfg(test)]
impl MetadataRecord {
    /// A broker registration for tests: `node_id` at localhost:9090+id,
    /// broker epoch 1, in `rack`, fenced or not.
    pub(crate) fn test_broker(node_id: i32, rack: Option<&str>, fenced: bool) -> Self {
        Self::RegisterBroker {
            node_id,
            host: "localhost".into(),
            port: 9090 + node_id,
            rack: rack.map(str::to_owned),
            fenced,
            epoch: 1,
            incarnation: None,
        }
    }
}
