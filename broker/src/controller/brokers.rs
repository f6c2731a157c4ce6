//! Broker lifecycle decisions, as in KRaft (KIP-631): registration with a
//! new broker epoch, heartbeats that unfence a broker once it has caught up
//! with the metadata log, and fencing (on a missed session or a shutdown)
//! that moves leadership away. Liveness itself (when each broker last
//! heartbeated) is the active controller's memory, not metadata: see
//! [`super::liveness`].

use uuid::Uuid;

use crate::config::BrokerConfig;
use crate::metadata::{MetadataImage, MetadataRecord};

use super::partition_change::{elect_returning_broker, leave_broker};
use super::topics::TopicError;

/// A broker's registration, as the Register command carries it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Registration {
    pub node_id: i32,
    pub host: String,
    pub port: i32,
    pub rack: Option<String>,
    /// The registering process (random per start): a retry of the same
    /// process changes nothing, a new process gets a new broker epoch.
    pub incarnation: Option<Uuid>,
}

/// The records that register `broker`, and its broker epoch. In a quorum a
/// broker registers fenced and leads nothing until its first heartbeat
/// after catching up; a new incarnation of a broker that was running also
/// leaves its ISRs, since it may have lost what it had not flushed. A single
/// node (no quorum) registers unfenced: nothing else could lead.
pub(crate) fn register(
    image: &MetadataImage,
    config: &BrokerConfig,
    broker: &Registration,
) -> (Vec<MetadataRecord>, i64) {
    let quorum = !config.controller_quorum_voters.is_empty();
    if let Some(existing) = image.brokers.get(&broker.node_id)
        && existing.host == broker.host
        && existing.port == broker.port
        && existing.rack == broker.rack
        && (!quorum || existing.incarnation == broker.incarnation)
    {
        return (vec![], existing.epoch);
    }
    let epoch = image.offset + 1;
    let mut records = Vec::new();
    if quorum && image.brokers.contains_key(&broker.node_id) {
        records.extend(leave_broker(image, broker.node_id));
    }
    records.push(MetadataRecord::RegisterBroker {
        node_id: broker.node_id,
        host: broker.host.clone(),
        port: broker.port,
        rack: broker.rack.clone(),
        fenced: quorum,
        epoch,
        incarnation: broker.incarnation,
    });
    (records, epoch)
}

/// A heartbeat from broker `node_id` of epoch `epoch` whose metadata image
/// has applied up to `metadata_offset`: unfences it once it has seen its
/// own registration; with `want_shutdown`, fences it (leadership moves to
/// other in-sync replicas before the broker stops). Returns the records and
/// whether the broker is fenced afterwards.
pub(crate) fn heartbeat(
    image: &MetadataImage,
    node_id: i32,
    epoch: i64,
    metadata_offset: i64,
    want_shutdown: bool,
) -> Result<(Vec<MetadataRecord>, bool), TopicError> {
    let broker = image
        .brokers
        .get(&node_id)
        .filter(|b| b.epoch == epoch)
        .ok_or_else(|| {
            TopicError::StaleBrokerEpoch(format!(
                "broker {node_id} with epoch {epoch} is not registered; register again"
            ))
        })?;
    if want_shutdown {
        return Ok((fence(image, node_id, true), true));
    }
    if broker.fenced && metadata_offset >= broker.epoch {
        let mut records = vec![MetadataRecord::UnfenceBroker { node_id }];
        let mut unfenced = image.clone();
        unfenced.apply(&records[0]);
        records.extend(elect_returning_broker(&unfenced, node_id));
        return Ok((records, false));
    }
    Ok((vec![], broker.fenced))
}

/// Fences `node_id` (a missed session, or its `controlled_shutdown`): it
/// leaves the ISRs and leads nothing. Nothing when it is fenced or unknown
/// already (a shutdown of a fenced broker is still marked as one).
pub(crate) fn fence(
    image: &MetadataImage,
    node_id: i32,
    controlled_shutdown: bool,
) -> Vec<MetadataRecord> {
    let record = MetadataRecord::FenceBroker {
        node_id,
        controlled_shutdown,
    };
    match image.brokers.get(&node_id) {
        Some(broker) if !broker.fenced => {
            let mut records = leave_broker(image, node_id);
            records.push(record);
            records
        }
        Some(broker) if controlled_shutdown && !broker.in_controlled_shutdown => vec![record],
        _ => vec![],
    }
}
