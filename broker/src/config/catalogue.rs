//! Kinds of settings, their validation, and the entries DescribeConfigs returns.

use super::ConfigError;

/// Kafka's `DescribeConfigsResponse` config source codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(i8)]
pub enum ConfigSource {
    Unknown = 0,
    /// TOPIC_CONFIG: an override set on the topic.
    DynamicTopicConfig = 1,
    DynamicBrokerConfig = 2,
    DynamicDefaultBrokerConfig = 3,
    /// From `server.properties`, `KARST_*` or `--override`.
    StaticBrokerConfig = 4,
    DefaultConfig = 5,
    DynamicBrokerLoggerConfig = 6,
}

/// Kafka's `ConfigDef.Type` codes as DescribeConfigs v3+ reports them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(i8)]
pub enum ConfigType {
    Boolean = 1,
    String = 2,
    Int = 3,
    Short = 4,
    Long = 5,
    Double = 6,
    List = 7,
    Password = 9,
}

/// A synonym of a config (e.g. `log.retention.ms` for topic `retention.ms`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Synonym {
    pub name: String,
    pub value: Option<String>,
    pub source: ConfigSource,
}

/// One config as DescribeConfigs shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigEntry {
    pub name: String,
    pub value: Option<String>,
    pub source: ConfigSource,
    /// Whether `value` is the built-in default (DescribeConfigs v0).
    pub is_default: bool,
    pub read_only: bool,
    pub sensitive: bool,
    pub config_type: ConfigType,
    /// Where the value could come from, most specific first.
    pub synonyms: Vec<Synonym>,
}

/// How a setting's value is checked.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Kind {
    /// A 32-bit integer with a lower bound.
    Int(i64),
    /// A 16-bit integer with a lower bound.
    Short(i64),
    /// A 64-bit integer with a lower bound.
    Long(i64),
    /// A floating point number in `0.0..=1.0`.
    Ratio,
    Bool,
    Str,
    /// A comma-separated list of any strings.
    List,
    /// One of these strings.
    OneOf(&'static [&'static str]),
    /// A comma-separated list of these strings.
    ListOf(&'static [&'static str]),
}

impl Kind {
    pub(crate) fn config_type(self) -> ConfigType {
        match self {
            Kind::Int(_) => ConfigType::Int,
            Kind::Short(_) => ConfigType::Short,
            Kind::Long(_) => ConfigType::Long,
            Kind::Ratio => ConfigType::Double,
            Kind::Bool => ConfigType::Boolean,
            Kind::Str | Kind::OneOf(_) => ConfigType::String,
            Kind::List | Kind::ListOf(_) => ConfigType::List,
        }
    }

    /// Checks `value` for `key`, with a message naming both when it is wrong.
    pub(crate) fn validate(self, key: &str, value: &str) -> Result<(), ConfigError> {
        let invalid = |reason: String| ConfigError::InvalidValue {
            key: key.to_owned(),
            value: value.to_owned(),
            reason,
        };
        let v = value.trim();
        match self {
            Kind::Int(min) | Kind::Short(min) | Kind::Long(min) => {
                let (lo, hi, what) = match self {
                    Kind::Int(_) => (i64::from(i32::MIN), i64::from(i32::MAX), "an integer"),
                    Kind::Short(_) => (i64::from(i16::MIN), i64::from(i16::MAX), "a short integer"),
                    _ => (i64::MIN, i64::MAX, "a long integer"),
                };
                let n: i64 = v
                    .parse()
                    .map_err(|_| invalid(format!("expected {what} >= {min}")))?;
                if n < min || n < lo || n > hi {
                    return Err(invalid(format!("expected {what} >= {min}")));
                }
            }
            Kind::Ratio => {
                let r: f64 = v
                    .parse()
                    .map_err(|_| invalid("expected a number between 0 and 1".into()))?;
                if !(0.0..=1.0).contains(&r) {
                    return Err(invalid("expected a number between 0 and 1".into()));
                }
            }
            Kind::Bool => {
                if !v.eq_ignore_ascii_case("true") && !v.eq_ignore_ascii_case("false") {
                    return Err(invalid("expected true or false".into()));
                }
            }
            Kind::Str | Kind::List => {}
            Kind::OneOf(allowed) => {
                if !allowed.contains(&v) {
                    return Err(invalid(format!("expected one of {}", allowed.join(", "))));
                }
            }
            Kind::ListOf(allowed) => {
                let items: Vec<&str> = v
                    .split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .collect();
                if items.is_empty() || items.iter().any(|i| !allowed.contains(i)) {
                    return Err(invalid(format!(
                        "expected a list of {}",
                        allowed.join(", ")
                    )));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_checked_with_messages_naming_key_and_value() {
        assert!(
            Kind::Int(14)
                .validate("log.segment.bytes", "1048576")
                .is_ok()
        );
        let err = Kind::Int(14)
            .validate("log.segment.bytes", "abc")
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid value \"abc\" for log.segment.bytes: expected an integer >= 14"
        );
        assert!(Kind::Int(0).validate("x", "3000000000").is_err());
        assert!(Kind::Bool.validate("x", "TRUE").is_ok());
        assert!(Kind::Bool.validate("x", "yes").is_err());
        assert!(
            Kind::ListOf(&["delete", "compact"])
                .validate("cleanup.policy", "compact,delete")
                .is_ok()
        );
        assert!(
            Kind::ListOf(&["delete", "compact"])
                .validate("cleanup.policy", "keep")
                .is_err()
        );
        assert!(Kind::Ratio.validate("x", "1.5").is_err());
    }
}
