//! Kafka's null conventions, applied to every response before it is written.
//!
//! `kafka-protocol` builds `Default` values from the schema's defaults, and
//! for many nullable strings (`error_message` above all) that default is
//! `Some("")`, not null. A Kafka broker sends null there when there is no
//! error, and clients test for it (`errorMessage === null` in kafkajs code).
//! Rather than trusting every handler to remember, [`apply`] runs on every
//! response in [`super::dispatch`]: handlers set what they mean, and this is
//! the one place that turns "nothing" into Kafka's null. The walk in
//! `conventions_tests` checks every served API and version against it.

use kafka_protocol::messages::{FetchResponse, ResponseKind};
use kafka_protocol::protocol::StrBytes;

/// Applies Kafka's null conventions to `response`, encoded at `version`.
pub(crate) fn apply(response: &mut ResponseKind, version: i16) {
    use ResponseKind as S;
    match response {
        S::CreateTopics(r) => {
            for t in &mut r.topics {
                error_message(t.error_code, &mut t.error_message);
            }
        }
        S::AlterConfigs(r) => {
            for t in &mut r.responses {
                error_message(t.error_code, &mut t.error_message);
            }
        }
        S::IncrementalAlterConfigs(r) => {
            for t in &mut r.responses {
                error_message(t.error_code, &mut t.error_message);
            }
        }
        S::DescribeConfigs(r) => {
            for result in &mut r.results {
                error_message(result.error_code, &mut result.error_message);
                for config in &mut result.configs {
                    // Null unless the client asked for documentation.
                    empty_to_null(&mut config.documentation);
                }
            }
        }
        S::FindCoordinator(r) => {
            error_message(r.error_code, &mut r.error_message);
            for c in &mut r.coordinators {
                error_message(c.error_code, &mut c.error_message);
            }
        }
        // Nullable from v7; a member that has not joined a generation has no protocol.
        S::JoinGroup(r) if version >= 7 => empty_to_null(&mut r.protocol_name),
        S::LeaveGroup(r) => {
            for m in &mut r.members {
                empty_to_null(&mut m.group_instance_id);
            }
        }
        S::CreateAcls(r) => {
            for result in &mut r.results {
                error_message(result.error_code, &mut result.error_message);
            }
        }
        S::DescribeAcls(r) => error_message(r.error_code, &mut r.error_message),
        S::DeleteAcls(r) => {
            for f in &mut r.filter_results {
                error_message(f.error_code, &mut f.error_message);
                for m in &mut f.matching_acls {
                    error_message(m.error_code, &mut m.error_message);
                }
            }
        }
        S::ElectLeaders(r) => {
            for topic in &mut r.replica_election_results {
                for p in &mut topic.partition_result {
                    error_message(p.error_code, &mut p.error_message);
                }
            }
        }
        S::AlterPartitionReassignments(r) => {
            error_message(r.error_code, &mut r.error_message);
            for topic in &mut r.responses {
                for p in &mut topic.partitions {
                    error_message(p.error_code, &mut p.error_message);
                }
            }
        }
        S::ListPartitionReassignments(r) => error_message(r.error_code, &mut r.error_message),
        S::DescribeQuorum(r) => {
            error_message(r.error_code, &mut r.error_message);
            for topic in &mut r.topics {
                for p in &mut topic.partitions {
                    error_message(p.error_code, &mut p.error_message);
                }
            }
        }
        S::DescribeProducers(r) => {
            for topic in &mut r.topics {
                for p in &mut topic.partitions {
                    error_message(p.error_code, &mut p.error_message);
                }
            }
        }
        _ => {}
    }
}

/// Fetch's conventions (its reply is encoded apart, with records from the
/// log files): aborted transactions are null unless the consumer reads
/// committed data (isolation level 1), as Kafka's log read leaves them.
pub(crate) fn apply_fetch(response: &mut FetchResponse, isolation_level: i8) {
    const READ_COMMITTED: i8 = 1;
    if isolation_level == READ_COMMITTED {
        return;
    }
    for topic in &mut response.responses {
        for partition in &mut topic.partitions {
            partition.aborted_transactions = None;
        }
    }
}

/// An error message is null when there is no error, and null rather than
/// empty when there is an error but nothing to add to its code.
fn error_message(error_code: i16, message: &mut Option<StrBytes>) {
    if error_code == 0 {
        *message = None;
    } else {
        empty_to_null(message);
    }
}

fn empty_to_null(value: &mut Option<StrBytes>) {
    if value.as_ref().is_some_and(|v| v.is_empty()) {
        *value = None;
    }
}

#[cfg(test)]
mod tests {
    use kafka_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};

    use super::*;

    fn fetch_response() -> FetchResponse {
        FetchResponse::default().with_responses(vec![
            FetchableTopicResponse::default().with_partitions(vec![PartitionData::default()]),
        ])
    }

    #[test]
    fn aborted_transactions_are_null_unless_reading_committed() {
        let mut uncommitted = fetch_response();
        apply_fetch(&mut uncommitted, 0);
        assert_eq!(
            uncommitted.responses[0].partitions[0].aborted_transactions,
            None
        );
        let mut committed = fetch_response();
        apply_fetch(&mut committed, 1);
        assert_eq!(
            committed.responses[0].partitions[0].aborted_transactions,
            Some(vec![])
        );
    }
}
