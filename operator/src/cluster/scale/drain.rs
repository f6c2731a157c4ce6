//! Scale down: the leaving brokers (the highest ordinals) are drained by
//! reassignment before the StatefulSet shrinks, and a scale that would
//! leave a partition without room is refused before anything moves.

use std::collections::BTreeSet;

use k8s_openapi::jiff::Timestamp;
use karst_client::AdminClient;

use super::{
    BROKER_TIMEOUT, act, read_facts,
    step::{self, ScaleInput, ScaleStep},
};
use crate::{
    cluster::{
        dereference::ObservedCluster,
        rollout::{availability::PartitionReplicas, observe::broker_facts},
        validate::{ValidatedCluster, ValidationError},
    },
    context::Context,
    crd::{KafkaCluster, kafka_cluster::Operation},
};

/// Where a drain stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Drain {
    /// Partitions still move off the leaving brokers (or wait to): the
    /// StatefulSet keeps them.
    Draining(ScaleStep),
    /// The leaving brokers hold nothing: the StatefulSet may shrink.
    Drained,
}

/// Why `wanted` brokers cannot hold `partitions`, if they cannot: a topic
/// wider than them, or (for topics whose replication factor exceeds
/// `min.insync.replicas`) fewer than `min.insync.replicas` + 1, where the
/// next restart of a broker would block writes.
pub fn refusal(partitions: &[PartitionReplicas], wanted: i32) -> Option<String> {
    let widest = partitions.iter().max_by_key(|p| p.replicas.len())?;
    let rf = i32::try_from(widest.replicas.len()).unwrap_or(i32::MAX);
    if wanted < rf {
        return Some(format!(
            "topic {:?} has replication factor {rf}, more than {wanted} brokers could hold (lower its replication factor first)",
            widest.topic
        ));
    }
    partitions
        .iter()
        .filter(|p| i32::try_from(p.replicas.len()).is_ok_and(|rf| rf > p.min_isr))
        .find(|p| wanted < p.min_isr + 1)
        .map(|p| {
            format!(
                "topic {:?} has min.insync.replicas {}, so {wanted} brokers would block its writes while one restarts",
                p.topic, p.min_isr
            )
        })
}

/// The next step of draining brokers `wanted..running`.
pub async fn drain(
    ctx: &Context,
    kc: &KafkaCluster,
    cluster: &ValidatedCluster,
    observed: &ObservedCluster,
    running: i32,
) -> Result<Drain, ValidationError> {
    let wanted = cluster.replicas;
    let addresses = observed.ready_addresses(cluster.kafka_port);
    let refused = |why| ValidationError::ScalingRefused {
        running,
        wanted,
        why,
    };
    let mut brokers = match broker_facts(&addresses, BROKER_TIMEOUT).await {
        Ok(brokers) => brokers,
        // Nothing moves and nothing shrinks until the brokers answer.
        Err(e) => {
            let mut op = Operation::named(step::SCALE_DOWN);
            op.message = Some(format!(
                "the brokers cannot be asked what the leaving ones hold: {e}"
            ));
            return Ok(Drain::Draining(ScaleStep::Wait(op)));
        }
    };
    let admin = AdminClient::lazy(addresses[0].clone()).with_timeout(BROKER_TIMEOUT);
    let facts = read_facts(&admin, cluster).await;
    // A partition being moved lists its old and new replicas: judge its target.
    for p in &mut brokers.partitions {
        if let Some(target) = facts.assignment.get(&(p.topic.clone(), p.partition)) {
            p.replicas.clone_from(target);
        }
    }
    if let Some(why) = refusal(&brokers.partitions, wanted) {
        return Err(refused(why));
    }
    let leaving: BTreeSet<i32> = (wanted..running).collect();
    let previous = kc.status.as_ref().and_then(|s| s.operation.as_ref());
    let input = ScaleInput {
        name: step::SCALE_DOWN,
        replicas: running,
        leaving: &leaving,
        previous,
        now: Timestamp::now(),
        timeout: cluster.ready_timeout,
        max_moves: cluster.max_concurrent_moves,
    };
    let held = facts
        .assignment
        .values()
        .flatten()
        .any(|b| leaving.contains(b));
    let next = step::next_step(&input, &facts);
    if next == ScaleStep::Idle && !held && facts.ongoing.is_empty() && !facts.brokers.is_empty() {
        return Ok(Drain::Drained);
    }
    Ok(Drain::Draining(act(ctx, kc, cluster, &admin, next).await))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn partition(topic: &str, rf: i32, min_isr: i32) -> PartitionReplicas {
        PartitionReplicas {
            topic: topic.to_owned(),
            partition: 0,
            replicas: (0..rf).collect(),
            isr: (0..rf).collect(),
            min_isr,
        }
    }

    #[test]
    fn a_scale_below_a_replication_factor_or_min_isr_plus_one_is_refused() {
        let rf3 = [
            partition("orders", 3, 1),
            partition("__consumer_offsets", 1, 1),
        ];
        assert!(
            refusal(&rf3, 1)
                .unwrap()
                .contains("\"orders\" has replication factor 3")
        );
        assert_eq!(refusal(&rf3, 3), None);
        // RF 2 with min ISR 2 does not block (it cannot lose a replica anyway).
        assert_eq!(refusal(&[partition("t", 2, 2)], 2), None);
        assert_eq!(refusal(&[], 1), None);
    }
}
