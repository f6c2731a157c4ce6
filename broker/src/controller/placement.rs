//! Where new partitions' replicas go: spread over the live (unfenced)
//! brokers, rack-aware when brokers carry `broker.rack`, with leaders
//! (the first replica) balanced.
//!
//! The brokers are put in one ring in which consecutive brokers sit in
//! different racks where possible (racks taken in turn, as Kafka's
//! rack-aware assignment does); partition `p`'s replicas are the
//! `replication_factor` brokers from ring position `start + p`. So leaders
//! go round the ring evenly and, with at least as many racks as replicas
//! and racks of equal size, a partition's replicas land in distinct racks.
//! `start` continues from the partitions already in the cluster, so many
//! small topics do not all lead on the same broker.

use std::collections::BTreeMap;

use crate::metadata::MetadataImage;

use super::topics::TopicError;

/// Replica lists for partitions `first .. first + count`.
pub(crate) fn place_replicas(
    image: &MetadataImage,
    first: i32,
    count: i32,
    replication_factor: i16,
) -> Result<Vec<Vec<i32>>, TopicError> {
    let ring = rack_alternating_ring(image);
    if replication_factor < 1 || replication_factor as usize > ring.len() {
        return Err(TopicError::InvalidReplicationFactor(format!(
            "replication factor {replication_factor} is not between 1 and the {} live brokers{}",
            ring.len(),
            fenced_note(image)
        )));
    }
    let start = image
        .topics
        .values()
        .map(|t| t.partitions.len())
        .sum::<usize>();
    Ok((first..first + count)
        .map(|p| {
            (0..replication_factor as usize)
                .map(|r| ring[(start + p as usize + r) % ring.len()])
                .collect()
        })
        .collect())
}

/// " (N fenced)" when some registered brokers are fenced, so a refusal says
/// why fewer brokers count than are registered.
fn fenced_note(image: &MetadataImage) -> String {
    let fenced = image.brokers.values().filter(|b| b.fenced).count();
    if fenced == 0 {
        String::new()
    } else {
        format!("; {fenced} registered brokers are fenced")
    }
}

/// Live brokers, racks interleaved: rack A's first, rack B's first, ...,
/// rack A's second, ... Brokers without a rack form one rack of their own.
fn rack_alternating_ring(image: &MetadataImage) -> Vec<i32> {
    let mut racks: BTreeMap<Option<&str>, Vec<i32>> = BTreeMap::new();
    for broker in image.live_brokers() {
        racks
            .entry(broker.rack.as_deref())
            .or_default()
            .push(broker.node_id);
    }
    let deepest = racks.values().map(Vec::len).max().unwrap_or(0);
    (0..deepest)
        .flat_map(|i| racks.values().filter_map(move |ids| ids.get(i).copied()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metadata::MetadataRecord;

    fn image(brokers: &[(i32, Option<&str>, bool)]) -> MetadataImage {
        let mut image = MetadataImage::empty();
        for (id, rack, fenced) in brokers {
            image.apply(&MetadataRecord::test_broker(*id, *rack, *fenced));
        }
        image
    }

    #[test]
    fn replicas_of_a_partition_sit_in_different_racks() {
        let image = image(&[
            (1, Some("a"), false),
            (2, Some("a"), false),
            (3, Some("b"), false),
            (4, Some("b"), false),
            (5, Some("c"), false),
            (6, Some("c"), false),
        ]);
        let placed = place_replicas(&image, 0, 12, 3).unwrap();
        let rack = |id: i32| image.brokers[&id].rack.clone().unwrap();
        for replicas in &placed {
            let mut racks: Vec<String> = replicas.iter().map(|id| rack(*id)).collect();
            racks.sort();
            racks.dedup();
            assert_eq!(racks.len(), 3, "{replicas:?} share a rack");
        }
        let mut leaders = BTreeMap::<i32, usize>::new();
        for replicas in &placed {
            *leaders.entry(replicas[0]).or_default() += 1;
        }
        assert!(leaders.values().all(|n| *n == 2), "{leaders:?}");
    }

    #[test]
    fn fenced_brokers_get_nothing_and_are_named_in_a_refusal() {
        let image = image(&[(1, None, false), (2, None, true), (3, None, false)]);
        let placed = place_replicas(&image, 0, 6, 2).unwrap();
        assert!(placed.iter().flatten().all(|id| *id != 2), "{placed:?}");
        let refused = place_replicas(&image, 0, 1, 3).unwrap_err();
        assert!(
            refused
                .to_string()
                .contains("1 registered brokers are fenced")
        );
    }
}
