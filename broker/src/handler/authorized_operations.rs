//! Authorized operations (KIP-430) as a broker without an authorizer reports
//! them: every operation the resource type supports, as a bit field of
//! Kafka's `AclOperation` codes. Clients ask for them with
//! `include_*_authorized_operations`; when they do not, Kafka leaves the
//! field at its "not requested" default (`i32::MIN`).

/// Kafka's `AclOperation` codes.
const READ: i8 = 3;
const WRITE: i8 = 4;
const CREATE: i8 = 5;
const DELETE: i8 = 6;
const ALTER: i8 = 7;
const DESCRIBE: i8 = 8;
const CLUSTER_ACTION: i8 = 9;
const DESCRIBE_CONFIGS: i8 = 10;
const ALTER_CONFIGS: i8 = 11;
const IDEMPOTENT_WRITE: i8 = 12;

/// The field's value when the client did not ask.
pub(crate) const NOT_REQUESTED: i32 = i32::MIN;

fn bits(ops: &[i8]) -> i32 {
    ops.iter().fold(0, |acc, op| acc | (1 << op))
}

/// Operations on a topic (Kafka's `AclEntry.supportedOperations(TOPIC)`).
pub(crate) fn topic(requested: bool) -> i32 {
    if !requested {
        return NOT_REQUESTED;
    }
    bits(&[
        READ,
        WRITE,
        CREATE,
        DESCRIBE,
        DELETE,
        ALTER,
        DESCRIBE_CONFIGS,
        ALTER_CONFIGS,
    ])
}

/// Operations on the cluster (Kafka's `AclEntry.supportedOperations(CLUSTER)`).
pub(crate) fn cluster(requested: bool) -> i32 {
    if !requested {
        return NOT_REQUESTED;
    }
    bits(&[
        CREATE,
        CLUSTER_ACTION,
        DESCRIBE_CONFIGS,
        ALTER_CONFIGS,
        IDEMPOTENT_WRITE,
        ALTER,
        DESCRIBE,
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bit_fields_match_kafkas_codes() {
        // READ..ALTER_CONFIGS without CLUSTER_ACTION (9): bits 3-8, 10, 11.
        assert_eq!(topic(true), 0b1101_1111_1000);
        assert_eq!(cluster(true), 0b1_1111_1010_0000);
        assert_eq!(topic(false), i32::MIN);
    }
}
