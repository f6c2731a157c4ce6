//! Kafka's rules for topic names.

/// The longest topic name Kafka accepts.
pub const MAX_TOPIC_NAME_LEN: usize = 249;

/// Why a topic name is not acceptable (Kafka answers INVALID_TOPIC_EXCEPTION).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidTopicName {
    #[error("topic name is empty")]
    Empty,
    #[error("topic name cannot be \".\" or \"..\"")]
    Dots,
    #[error("topic name is longer than {MAX_TOPIC_NAME_LEN} characters")]
    TooLong,
    #[error(
        "topic name {0:?} contains a character other than ASCII alphanumerics, '.', '_' and '-'"
    )]
    IllegalCharacter(String),
}

/// Checks a topic name as Kafka does: 1..=249 characters of `[a-zA-Z0-9._-]`,
/// and not `.` or `..`.
pub fn validate(name: &str) -> Result<(), InvalidTopicName> {
    if name.is_empty() {
        return Err(InvalidTopicName::Empty);
    }
    if name == "." || name == ".." {
        return Err(InvalidTopicName::Dots);
    }
    if name.len() > MAX_TOPIC_NAME_LEN {
        return Err(InvalidTopicName::TooLong);
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    {
        return Err(InvalidTopicName::IllegalCharacter(name.to_owned()));
    }
    Ok(())
}

/// Topics managed by the broker itself (`__consumer_offsets`, ...).
pub fn is_internal(name: &str) -> bool {
    name == "__consumer_offsets" || name == "__transaction_state"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_kafka_names_and_refuses_others() {
        assert!(validate("test").is_ok());
        assert!(validate("a.b_c-D9").is_ok());
        assert_eq!(validate(""), Err(InvalidTopicName::Empty));
        assert_eq!(validate(".."), Err(InvalidTopicName::Dots));
        assert!(matches!(
            validate("bad name"),
            Err(InvalidTopicName::IllegalCharacter(_))
        ));
        assert_eq!(validate(&"x".repeat(250)), Err(InvalidTopicName::TooLong));
        assert!(validate(&"x".repeat(249)).is_ok());
    }
}
