//! Whether the brokers' answers show one cluster holding every desired
//! broker: Pods that are Ready can still be brokers of different clusters
//! (a volume holding another cluster's data) or brokers the quorum never
//! registered, and a client load-balanced to such a broker would write
//! into the wrong cluster.

use super::dereference::Described;

/// Reason: a broker answers with another cluster id.
pub const CLUSTER_ID_MISMATCH: &str = "ClusterIdMismatch";
/// Reason: a desired broker is not live: not registered, or fenced (it
/// missed its heartbeats or is shutting down); the message says which.
pub const BROKERS_NOT_REGISTERED: &str = "BrokersNotRegistered";
/// Every reason [`judge`] gives.
pub const REASONS: &[&str] = &[CLUSTER_ID_MISMATCH, BROKERS_NOT_REGISTERED];

/// The cluster as the brokers report it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Membership {
    /// The cluster id of the reference answer.
    pub cluster_id: String,
    /// The live (registered, unfenced) brokers of the reference answer.
    pub brokers: Vec<i32>,
    /// Why this is not one cluster of every desired broker: condition reason and message.
    pub problem: Option<(&'static str, String)>,
}

/// Judges the `answers` (at least one) of a cluster of `replicas` brokers
/// whose brokers were configured with `expected_id` (`None`: each broker
/// generated its own, so the first answer is the reference).
pub fn judge(expected_id: Option<&str>, replicas: i32, answers: &[Described]) -> Membership {
    let reference = expected_id
        .and_then(|id| answers.iter().find(|a| a.cluster_id == id))
        .or(answers.first())
        .expect("at least one answer");
    let expected = expected_id.unwrap_or(&reference.cluster_id);
    let foreign: Vec<String> = answers
        .iter()
        .filter(|a| a.cluster_id != expected)
        .map(|a| format!("{} answers with cluster id {:?}", a.pod, a.cluster_id))
        .collect();
    let (fenced, unregistered): (Vec<i32>, Vec<i32>) = (0..replicas)
        .filter(|id| !reference.brokers.contains(id))
        .partition(|id| reference.fenced.contains(id));
    let problem = if !foreign.is_empty() {
        Some((
            CLUSTER_ID_MISMATCH,
            format!(
                "{}, not {expected:?}: it is not part of this cluster (does its volume hold another cluster's data?)",
                foreign.join("; ")
            ),
        ))
    } else if !fenced.is_empty() || !unregistered.is_empty() {
        let mut why = Vec::new();
        if !fenced.is_empty() {
            why.push(format!(
                "brokers {} are fenced (they missed their heartbeats for \
                 broker.session.timeout.ms, or are shutting down)",
                ids(&fenced)
            ));
        }
        if !unregistered.is_empty() {
            why.push(format!("brokers {} are not registered", ids(&unregistered)));
        }
        Some((
            BROKERS_NOT_REGISTERED,
            format!(
                "{} in cluster {expected:?} (live: {:?})",
                why.join("; "),
                reference.brokers
            ),
        ))
    } else {
        None
    };
    Membership {
        cluster_id: reference.cluster_id.clone(),
        brokers: reference.brokers.clone(),
        problem,
    }
}

fn ids(ids: &[i32]) -> String {
    ids.iter()
        .map(i32::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(pod: &str, cluster_id: &str, brokers: &[i32]) -> Described {
        Described {
            pod: pod.to_owned(),
            cluster_id: cluster_id.to_owned(),
            brokers: brokers.to_vec(),
            fenced: vec![],
        }
    }

    #[test]
    fn one_cluster_of_every_broker_has_no_problem() {
        let all = [0, 1, 2];
        let answers: Vec<_> = (0..3)
            .map(|i| answer(&format!("demo-broker-{i}"), "c1", &all))
            .collect();
        let m = judge(Some("c1"), 3, &answers);
        assert_eq!(
            (m.cluster_id.as_str(), m.brokers.as_slice()),
            ("c1", &all[..])
        );
        assert_eq!(m.problem, None);
        let single = judge(None, 1, &[answer("demo-broker-0", "generated", &[0])]);
        assert_eq!(single.problem, None, "one broker keeps its own id");
    }

    #[test]
    fn missing_brokers_are_named() {
        let m = judge(Some("c1"), 3, &[answer("demo-broker-0", "c1", &[0, 2])]);
        let (reason, message) = m.problem.unwrap();
        assert_eq!(reason, "BrokersNotRegistered");
        assert!(
            message.starts_with("brokers 1 are not registered in cluster \"c1\" (live: [0, 2])"),
            "{message}"
        );
    }

    #[test]
    fn fenced_brokers_are_named_apart_from_unregistered_ones() {
        let mut described = answer("demo-broker-0", "c1", &[0]);
        described.fenced = vec![2];
        let m = judge(Some("c1"), 4, &[described]);
        let (reason, message) = m.problem.unwrap();
        assert_eq!(reason, "BrokersNotRegistered");
        assert!(
            message.starts_with("brokers 2 are fenced (they missed their heartbeats"),
            "{message}"
        );
        assert!(
            message.ends_with("; brokers 1, 3 are not registered in cluster \"c1\" (live: [0])"),
            "{message}"
        );
    }

    #[test]
    fn a_broker_of_another_cluster_is_named() {
        let m = judge(
            Some("c1"),
            2,
            &[
                answer("demo-broker-0", "old", &[0]),
                answer("demo-broker-1", "c1", &[0, 1]),
            ],
        );
        assert_eq!(
            (m.cluster_id.as_str(), m.brokers.as_slice()),
            ("c1", &[0, 1][..])
        );
        let (reason, message) = m.problem.unwrap();
        assert_eq!(reason, "ClusterIdMismatch");
        assert!(
            message.starts_with("demo-broker-0 answers with cluster id \"old\", not \"c1\""),
            "{message}"
        );
    }
}
