//! The broker's settings: Kafka's property names, checked at start.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::ConfigError;
use super::catalogue::{ConfigEntry, ConfigSource, Kind, Synonym};
use super::properties;

/// A listener: `NAME://host:port`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listener {
    pub name: String,
    /// Empty means every interface.
    pub host: String,
    pub port: u16,
}

struct Key {
    name: &'static str,
    default: Option<&'static str>,
    kind: Kind,
}

const fn key(name: &'static str, default: Option<&'static str>, kind: Kind) -> Key {
    Key {
        name,
        default,
        kind,
    }
}

const I32: Kind = Kind::Int(i32::MIN as i64);
const POLICIES: &[&str] = &["delete", "compact"];
const TIMESTAMP_TYPES: &[&str] = &["CreateTime", "LogAppendTime"];
const COMPRESSION: &[&str] = &["producer", "uncompressed", "gzip", "snappy", "lz4", "zstd"];

/// Every broker setting Karst accepts. Settings that only matter to a JVM
/// broker (thread pools, socket buffers) are accepted so that an existing
/// `server.properties` loads, and have no effect.
const KEYS: &[Key] = &[
    key("node.id", Some("1"), Kind::Int(0)),
    key("broker.id", None, Kind::Int(-1)),
    key(
        "process.roles",
        Some("broker,controller"),
        Kind::ListOf(&["broker", "controller"]),
    ),
    key("cluster.id", None, Kind::Str),
    key("broker.rack", None, Kind::Str),
    key("listeners", Some("PLAINTEXT://localhost:9092"), Kind::List),
    key("advertised.listeners", None, Kind::List),
    key(
        "listener.security.protocol.map",
        Some("PLAINTEXT:PLAINTEXT"),
        Kind::List,
    ),
    key("inter.broker.listener.name", None, Kind::Str),
    key("controller.listener.names", None, Kind::List),
    key("controller.quorum.voters", None, Kind::List),
    key("controller.quorum.bootstrap.servers", None, Kind::List),
    key("karst.http.listener", Some("localhost:9644"), Kind::Str),
    key("log.dir", Some("./data"), Kind::Str),
    key("log.dirs", None, Kind::List),
    key("num.partitions", Some("1"), Kind::Int(1)),
    key("default.replication.factor", Some("1"), Kind::Short(1)),
    key("auto.create.topics.enable", Some("true"), Kind::Bool),
    key("delete.topic.enable", Some("true"), Kind::Bool),
    key("log.retention.hours", Some("168"), I32),
    key("log.retention.minutes", None, I32),
    key("log.retention.ms", None, Kind::Long(-1)),
    key("log.retention.bytes", Some("-1"), Kind::Long(-1)),
    key(
        "log.retention.check.interval.ms",
        Some("300000"),
        Kind::Long(1),
    ),
    key("log.segment.bytes", Some("1073741824"), Kind::Int(14)),
    key("log.roll.hours", Some("168"), Kind::Int(1)),
    key("log.roll.ms", None, Kind::Long(1)),
    key("log.roll.jitter.ms", Some("0"), Kind::Long(0)),
    key("log.segment.delete.delay.ms", Some("60000"), Kind::Long(0)),
    key(
        "log.flush.interval.messages",
        Some("9223372036854775807"),
        Kind::Long(1),
    ),
    key("log.flush.interval.ms", None, Kind::Long(0)),
    key(
        "log.flush.scheduler.interval.ms",
        Some("9223372036854775807"),
        Kind::Long(0),
    ),
    key("log.index.interval.bytes", Some("4096"), Kind::Int(0)),
    key("log.index.size.max.bytes", Some("10485760"), Kind::Int(4)),
    key(
        "log.message.timestamp.type",
        Some("CreateTime"),
        Kind::OneOf(TIMESTAMP_TYPES),
    ),
    key(
        "log.message.timestamp.before.max.ms",
        Some("9223372036854775807"),
        Kind::Long(0),
    ),
    key(
        "log.message.timestamp.after.max.ms",
        Some("9223372036854775807"),
        Kind::Long(0),
    ),
    key("log.cleanup.policy", Some("delete"), Kind::ListOf(POLICIES)),
    key("log.cleaner.enable", Some("true"), Kind::Bool),
    key(
        "log.cleaner.delete.retention.ms",
        Some("86400000"),
        Kind::Long(0),
    ),
    key(
        "log.cleaner.min.compaction.lag.ms",
        Some("0"),
        Kind::Long(0),
    ),
    key(
        "log.cleaner.max.compaction.lag.ms",
        Some("9223372036854775807"),
        Kind::Long(1),
    ),
    key("log.cleaner.min.cleanable.ratio", Some("0.5"), Kind::Ratio),
    key("log.cleaner.threads", Some("1"), Kind::Int(0)),
    key("log.preallocate", Some("false"), Kind::Bool),
    key(
        "compression.type",
        Some("producer"),
        Kind::OneOf(COMPRESSION),
    ),
    key("message.max.bytes", Some("1048588"), Kind::Int(0)),
    key("min.insync.replicas", Some("1"), Kind::Int(1)),
    key("unclean.leader.election.enable", Some("false"), Kind::Bool),
    key("socket.request.max.bytes", Some("104857600"), Kind::Int(1)),
    key("socket.send.buffer.bytes", Some("102400"), I32),
    key("socket.receive.buffer.bytes", Some("102400"), I32),
    key("max.connections", Some("2147483647"), Kind::Int(1)),
    key("num.network.threads", Some("3"), Kind::Int(1)),
    key("num.io.threads", Some("8"), Kind::Int(1)),
    key("num.recovery.threads.per.data.dir", Some("2"), Kind::Int(1)),
    key("offsets.topic.num.partitions", Some("50"), Kind::Int(1)),
    key(
        "offsets.topic.replication.factor",
        Some("1"),
        Kind::Short(1),
    ),
    key("offsets.retention.minutes", Some("10080"), Kind::Int(1)),
    key(
        "transaction.state.log.replication.factor",
        Some("1"),
        Kind::Short(1),
    ),
    key("transaction.state.log.min.isr", Some("1"), Kind::Int(1)),
    key(
        "group.initial.rebalance.delay.ms",
        Some("3000"),
        Kind::Int(0),
    ),
    key("group.min.session.timeout.ms", Some("6000"), Kind::Int(0)),
    key(
        "group.max.session.timeout.ms",
        Some("1800000"),
        Kind::Int(0),
    ),
    key("group.max.size", Some("2147483647"), Kind::Int(1)),
    key("producer.id.expiration.ms", Some("86400000"), Kind::Int(1)),
    key(
        "transactional.id.expiration.ms",
        Some("604800000"),
        Kind::Int(1),
    ),
    key("zookeeper.connect", None, Kind::Str),
];

fn find(name: &str) -> Option<&'static Key> {
    KEYS.iter().find(|k| k.name == name)
}

/// Environment variables that configure the binary, not the broker.
const NON_CONFIG_ENV: &[&str] = &["KARST_LOG", "KARST_LOG_FORMAT", "KARST_BIN"];

/// The broker's configuration: every explicitly set value with its source,
/// and typed fields derived from them (defaults filled in).
#[derive(Debug, Clone)]
pub struct BrokerConfig {
    set: BTreeMap<&'static str, String>,
    pub node_id: i32,
    pub cluster_id: Option<String>,
    pub broker_rack: Option<String>,
    pub listeners: Vec<Listener>,
    /// Empty: advertise the listener (with the port actually bound).
    pub advertised_listeners: Vec<Listener>,
    pub http_listener: String,
    pub log_dirs: Vec<PathBuf>,
    pub num_partitions: i32,
    pub default_replication_factor: i16,
    pub auto_create_topics_enable: bool,
    pub delete_topic_enable: bool,
    /// `log.retention.ms`, else minutes, else hours, as Kafka resolves them.
    pub log_retention_ms: i64,
    pub log_retention_check_interval_ms: u64,
    /// `log.roll.ms`, else `log.roll.hours`.
    pub log_roll_ms: i64,
    pub socket_request_max_bytes: usize,
    pub max_connections: usize,
    pub offsets_topic_num_partitions: i32,
    pub offsets_retention_ms: i64,
    pub group_initial_rebalance_delay_ms: u64,
    pub group_min_session_timeout_ms: i32,
    pub group_max_session_timeout_ms: i32,
    pub group_max_size: usize,
    pub producer_id_expiration_ms: i64,
}

impl Default for BrokerConfig {
    fn default() -> Self {
        let mut config = Self {
            set: BTreeMap::new(),
            node_id: 0,
            cluster_id: None,
            broker_rack: None,
            listeners: vec![],
            advertised_listeners: vec![],
            http_listener: String::new(),
            log_dirs: vec![],
            num_partitions: 0,
            default_replication_factor: 0,
            auto_create_topics_enable: false,
            delete_topic_enable: false,
            log_retention_ms: 0,
            log_retention_check_interval_ms: 0,
            log_roll_ms: 0,
            socket_request_max_bytes: 0,
            max_connections: 0,
            offsets_topic_num_partitions: 0,
            offsets_retention_ms: 0,
            group_initial_rebalance_delay_ms: 0,
            group_min_session_timeout_ms: 0,
            group_max_session_timeout_ms: 0,
            group_max_size: 0,
            producer_id_expiration_ms: 0,
        };
        config.derive().expect("built-in defaults are valid");
        config
    }
}

impl BrokerConfig {
    /// Loads defaults < `file` < `KARST_*` variables of `env` < `overrides`.
    pub fn load(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
        overrides: &[(String, String)],
    ) -> Result<Self, ConfigError> {
        let mut config = Self::default();
        if let Some(path) = file {
            let text = std::fs::read_to_string(path).map_err(|e| ConfigError::File {
                path: path.display().to_string(),
                reason: e.to_string(),
            })?;
            for (k, v) in properties::parse(&text) {
                config.put(&k, &v)?;
            }
        }
        for (var, value) in env {
            let Some(suffix) = var.strip_prefix("KARST_") else {
                continue;
            };
            if NON_CONFIG_ENV.contains(&var.as_str()) {
                continue;
            }
            let key = KEYS
                .iter()
                .find(|k| k.name.to_ascii_uppercase().replace(['.', '-'], "_") == suffix)
                .ok_or(ConfigError::UnknownEnv { var: var.clone() })?;
            config.put(key.name, &value)?;
        }
        for (k, v) in overrides {
            config.put(k, v)?;
        }
        config.derive()?;
        Ok(config)
    }

    /// Sets one property (for tests and embedding), checking it.
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), ConfigError> {
        self.put(key, value)?;
        self.derive()
    }

    fn put(&mut self, name: &str, value: &str) -> Result<(), ConfigError> {
        let key = find(name).ok_or_else(|| ConfigError::UnknownKey {
            key: name.to_owned(),
        })?;
        key.kind.validate(name, value)?;
        self.set.insert(key.name, value.trim().to_owned());
        Ok(())
    }

    /// The value of a setting: explicit, else its default.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.set
            .get(name)
            .map(String::as_str)
            .or_else(|| find(name).and_then(|k| k.default))
    }

    /// Whether a setting was given explicitly.
    pub fn is_set(&self, name: &str) -> bool {
        self.set.contains_key(name)
    }

    fn int<T: std::str::FromStr>(&self, name: &str) -> T {
        self.get(name)
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("{name} has a validated value or a default"))
    }

    fn bool(&self, name: &str) -> bool {
        self.get(name)
            .is_some_and(|v| v.eq_ignore_ascii_case("true"))
    }

    /// Recomputes the typed fields and checks settings that depend on each other.
    fn derive(&mut self) -> Result<(), ConfigError> {
        self.node_id = if self.is_set("broker.id") && !self.is_set("node.id") {
            self.int("broker.id")
        } else {
            self.int("node.id")
        };
        self.cluster_id = self.get("cluster.id").map(str::to_owned);
        self.broker_rack = self.get("broker.rack").map(str::to_owned);
        self.listeners = parse_listeners("listeners", self.get("listeners").unwrap_or_default())?;
        if self.listeners.is_empty() {
            return Err(invalid(
                "listeners",
                "",
                "at least one listener is required",
            ));
        }
        self.advertised_listeners = parse_listeners(
            "advertised.listeners",
            self.get("advertised.listeners").unwrap_or_default(),
        )?;
        let http = self
            .get("karst.http.listener")
            .unwrap_or_default()
            .to_owned();
        if http
            .rsplit_once(':')
            .and_then(|(_, p)| p.parse::<u16>().ok())
            .is_none()
        {
            return Err(invalid("karst.http.listener", &http, "expected host:port"));
        }
        self.http_listener = http;
        self.log_dirs = match self.get("log.dirs") {
            Some(dirs) => dirs
                .split(',')
                .map(str::trim)
                .filter(|d| !d.is_empty())
                .map(PathBuf::from)
                .collect(),
            None => vec![PathBuf::from(self.get("log.dir").unwrap_or("./data"))],
        };
        if self.log_dirs.is_empty() {
            return Err(invalid(
                "log.dirs",
                "",
                "at least one directory is required",
            ));
        }
        self.num_partitions = self.int("num.partitions");
        self.default_replication_factor = self.int("default.replication.factor");
        self.auto_create_topics_enable = self.bool("auto.create.topics.enable");
        self.delete_topic_enable = self.bool("delete.topic.enable");
        self.log_retention_ms = if self.is_set("log.retention.ms") {
            self.int("log.retention.ms")
        } else if self.is_set("log.retention.minutes") {
            self.int::<i64>("log.retention.minutes")
                .saturating_mul(60_000)
        } else {
            self.int::<i64>("log.retention.hours")
                .saturating_mul(3_600_000)
        };
        self.log_retention_check_interval_ms = self.int("log.retention.check.interval.ms");
        self.log_roll_ms = if self.is_set("log.roll.ms") {
            self.int("log.roll.ms")
        } else {
            self.int::<i64>("log.roll.hours").saturating_mul(3_600_000)
        };
        self.socket_request_max_bytes = self.int::<u32>("socket.request.max.bytes") as usize;
        self.max_connections = self.int::<u32>("max.connections") as usize;
        self.offsets_topic_num_partitions = self.int("offsets.topic.num.partitions");
        self.offsets_retention_ms = self.int::<i64>("offsets.retention.minutes") * 60_000;
        self.group_initial_rebalance_delay_ms = self.int("group.initial.rebalance.delay.ms");
        self.group_min_session_timeout_ms = self.int("group.min.session.timeout.ms");
        self.group_max_session_timeout_ms = self.int("group.max.session.timeout.ms");
        self.group_max_size = self.int::<u32>("group.max.size") as usize;
        self.producer_id_expiration_ms = self.int("producer.id.expiration.ms");
        if self.is_set("zookeeper.connect") {
            tracing::warn!(
                "zookeeper.connect is ignored: Karst keeps metadata in its own Raft log"
            );
        }
        Ok(())
    }

    /// Every broker setting for DescribeConfigs on this broker.
    pub fn describe(&self) -> Vec<ConfigEntry> {
        KEYS.iter()
            .map(|k| {
                let explicit = self.set.get(k.name);
                let source = if explicit.is_some() {
                    ConfigSource::StaticBrokerConfig
                } else {
                    ConfigSource::DefaultConfig
                };
                let value = explicit.cloned().or(k.default.map(str::to_owned));
                ConfigEntry {
                    name: k.name.to_owned(),
                    value: value.clone(),
                    source,
                    read_only: true,
                    sensitive: false,
                    config_type: k.kind.config_type(),
                    synonyms: vec![Synonym {
                        name: k.name.to_owned(),
                        value,
                        source,
                    }],
                }
            })
            .collect()
    }

    /// Source of a broker setting (static when given, else default).
    pub(crate) fn source_of(&self, name: &str) -> ConfigSource {
        if self.is_set(name) {
            ConfigSource::StaticBrokerConfig
        } else {
            ConfigSource::DefaultConfig
        }
    }
}

fn invalid(key: &str, value: &str, reason: &str) -> ConfigError {
    ConfigError::InvalidValue {
        key: key.to_owned(),
        value: value.to_owned(),
        reason: reason.to_owned(),
    }
}

/// Parses `NAME://host:port,...`; only PLAINTEXT is served so far.
fn parse_listeners(key: &str, value: &str) -> Result<Vec<Listener>, ConfigError> {
    value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|item| {
            let (name, address) = item
                .split_once("://")
                .ok_or_else(|| invalid(key, item, "expected NAME://host:port"))?;
            let (host, port) = address
                .rsplit_once(':')
                .ok_or_else(|| invalid(key, item, "expected NAME://host:port"))?;
            let port: u16 = port
                .parse()
                .map_err(|_| invalid(key, item, "the port must be a number between 0 and 65535"))?;
            if name != "PLAINTEXT" {
                return Err(invalid(
                    key,
                    item,
                    "only PLAINTEXT listeners are supported so far",
                ));
            }
            Ok(Listener {
                name: name.to_owned(),
                host: host
                    .trim_start_matches('[')
                    .trim_end_matches(']')
                    .to_owned(),
                port,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn defaults_run_one_node_on_localhost_9092_with_data_in_dot_data() {
        let c = BrokerConfig::default();
        assert_eq!(c.node_id, 1);
        assert_eq!(
            c.listeners,
            vec![Listener {
                name: "PLAINTEXT".into(),
                host: "localhost".into(),
                port: 9092
            }]
        );
        assert_eq!(c.log_dirs, vec![PathBuf::from("./data")]);
        assert!(c.auto_create_topics_enable);
        assert_eq!(c.log_retention_ms, 168 * 3_600_000);
    }

    #[test]
    fn file_then_env_then_overrides() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("server.properties");
        std::fs::write(&file, "node.id=2\nnum.partitions=3\nlog.dirs=/a\n").unwrap();
        let c = BrokerConfig::load(
            Some(&file),
            env(&[
                ("KARST_NUM_PARTITIONS", "4"),
                ("KARST_LOG_DIRS", "/b"),
                ("PATH", "/bin"),
            ]),
            &[("log.dirs".into(), "/c".into())],
        )
        .unwrap();
        assert_eq!(c.node_id, 2);
        assert_eq!(c.num_partitions, 4);
        assert_eq!(c.log_dirs, vec![PathBuf::from("/c")]);
    }

    #[test]
    fn unknown_and_invalid_settings_are_named() {
        let err = BrokerConfig::load(None, env(&[]), &[("log.segmnt.bytes".into(), "1".into())])
            .unwrap_err();
        assert_eq!(err.to_string(), "unknown configuration 'log.segmnt.bytes'");
        let err = BrokerConfig::load(None, env(&[("KARST_NO_SUCH", "1")]), &[]).unwrap_err();
        assert!(err.to_string().contains("KARST_NO_SUCH"));
        let err = BrokerConfig::load(None, env(&[]), &[("num.partitions".into(), "0".into())])
            .unwrap_err();
        assert!(err.to_string().contains("num.partitions"));
        let err = BrokerConfig::load(
            None,
            env(&[]),
            &[("listeners".into(), "SSL://:9093".into())],
        )
        .unwrap_err();
        assert!(err.to_string().contains("listeners"));
    }

    #[test]
    fn retention_ms_wins_over_minutes_over_hours() {
        let mut c = BrokerConfig::default();
        c.set("log.retention.hours", "1").unwrap();
        assert_eq!(c.log_retention_ms, 3_600_000);
        c.set("log.retention.minutes", "2").unwrap();
        assert_eq!(c.log_retention_ms, 120_000);
        c.set("log.retention.ms", "5").unwrap();
        assert_eq!(c.log_retention_ms, 5);
    }

    #[test]
    fn describe_reports_sources() {
        let mut c = BrokerConfig::default();
        c.set("num.partitions", "3").unwrap();
        let entries = c.describe();
        let np = entries.iter().find(|e| e.name == "num.partitions").unwrap();
        assert_eq!(np.source, ConfigSource::StaticBrokerConfig);
        assert_eq!(np.value.as_deref(), Some("3"));
        let mb = entries
            .iter()
            .find(|e| e.name == "message.max.bytes")
            .unwrap();
        assert_eq!(mb.source, ConfigSource::DefaultConfig);
    }
}
