//! The catalogue of broker settings: Kafka's names, defaults and checks.

use super::catalogue::Kind;
use super::{ConfigError, closest};

/// One broker setting Karst accepts.
pub(super) struct Key {
    pub(super) name: &'static str,
    /// The built-in default; `None` when Kafka derives the value from
    /// another setting (`log.retention.ms` from `log.retention.hours`).
    pub(super) default: Option<&'static str>,
    pub(super) kind: Kind,
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
pub(super) const KEYS: &[Key] = &[
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
        Some(
            "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL",
        ),
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
    // As in Kafka, `.ms` has no default and `.hours` gives it (0).
    key("log.roll.jitter.hours", Some("0"), Kind::Int(0)),
    key("log.roll.jitter.ms", None, Kind::Long(0)),
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
    key("max.connections.per.ip", Some("2147483647"), Kind::Int(0)),
    key("connections.max.idle.ms", Some("600000"), Kind::Long(-1)),
    // Kafka's default is -1 (no bound); Karst bounds the memory of requests
    // being read by default, so that slow or hostile senders cannot exhaust it.
    key(
        "queued.max.request.bytes",
        Some("268435456"),
        Kind::Long(-1),
    ),
    // KIP-578's name; also capped at start by what the file limit allows.
    key("max.broker.partitions", Some("2147483647"), Kind::Int(1)),
    // Unset: one less than the cores (see BrokerConfig::network_threads).
    key("num.network.threads", None, Kind::Int(1)),
    key("num.io.threads", Some("8"), Kind::Int(1)),
    key("num.recovery.threads.per.data.dir", Some("2"), Kind::Int(1)),
    key("offsets.topic.num.partitions", Some("50"), Kind::Int(1)),
    key(
        "offsets.topic.replication.factor",
        Some("3"),
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
    key("broker.session.timeout.ms", Some("9000"), Kind::Int(1)),
    key("broker.heartbeat.interval.ms", Some("2000"), Kind::Int(1)),
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
    key(
        "log.message.timestamp.difference.max.ms",
        Some("9223372036854775807"),
        Kind::Long(0),
    ),
    key(
        "log.message.downconversion.enable",
        Some("true"),
        Kind::Bool,
    ),
    key("log.local.retention.ms", Some("-2"), Kind::Long(-2)),
    key("log.local.retention.bytes", Some("-2"), Kind::Long(-2)),
    key("compression.gzip.level", Some("-1"), I32),
    key("compression.lz4.level", Some("9"), I32),
    key("compression.zstd.level", Some("3"), I32),
    key("auto.leader.rebalance.enable", Some("true"), Kind::Bool),
    key(
        "leader.imbalance.per.broker.percentage",
        Some("10"),
        Kind::Int(0),
    ),
    key(
        "leader.imbalance.check.interval.seconds",
        Some("300"),
        Kind::Long(1),
    ),
    key(
        "leader.replication.throttled.rate",
        Some("9223372036854775807"),
        Kind::Long(0),
    ),
    key(
        "follower.replication.throttled.rate",
        Some("9223372036854775807"),
        Kind::Long(0),
    ),
    key("metadata.log.dir", None, Kind::Str),
    key(
        "transaction.state.log.num.partitions",
        Some("50"),
        Kind::Int(1),
    ),
    key("transaction.max.timeout.ms", Some("900000"), Kind::Int(1)),
    key("replica.lag.time.max.ms", Some("30000"), Kind::Long(0)),
    key(
        "replica.high.watermark.checkpoint.interval.ms",
        Some("5000"),
        Kind::Long(1),
    ),
    key("num.replica.fetchers", Some("1"), Kind::Int(1)),
    key("queued.max.requests", Some("500"), Kind::Int(1)),
    key("offsets.commit.timeout.ms", Some("5000"), Kind::Int(1)),
    key(
        "share.coordinator.state.topic.replication.factor",
        Some("3"),
        Kind::Short(1),
    ),
    key(
        "share.coordinator.state.topic.min.isr",
        Some("2"),
        Kind::Short(1),
    ),
    key("zookeeper.connect", None, Kind::Str),
];

pub(super) fn find(name: &str) -> Option<&'static Key> {
    KEYS.iter().find(|k| k.name == name)
}

/// The `KARST_*` variable that sets `name`: `log.dirs` is `KARST_LOG_DIRS`.
pub(super) fn env_name(name: &str) -> String {
    format!(
        "KARST_{}",
        name.to_ascii_uppercase().replace(['.', '-'], "_")
    )
}

/// The setting a `KARST_*` variable names, if any.
pub(super) fn from_env_name(var: &str) -> Option<&'static Key> {
    KEYS.iter().find(|k| env_name(k.name) == var)
}

/// The error for a `KARST_*` variable that names no setting, suggesting
/// the variable probably meant.
pub(super) fn unknown_env(var: &str) -> ConfigError {
    let names: Vec<String> = KEYS.iter().map(|k| env_name(k.name)).collect();
    ConfigError::UnknownEnv {
        var: var.to_owned(),
        did_you_mean: closest(var, names.iter().map(String::as_str)).map(str::to_owned),
    }
}

/// Settings that give one value between them, most specific first, as
/// Kafka lists them as synonyms (`log.retention.ms` over `.minutes` over
/// `.hours`).
pub(super) fn synonyms_of(name: &str) -> &'static [&'static str] {
    const RETENTION: &[&str] = &[
        "log.retention.ms",
        "log.retention.minutes",
        "log.retention.hours",
    ];
    const ROLL: &[&str] = &["log.roll.ms", "log.roll.hours"];
    const JITTER: &[&str] = &["log.roll.jitter.ms", "log.roll.jitter.hours"];
    const DIRS: &[&str] = &["log.dirs", "log.dir"];
    const FLUSH: &[&str] = &["log.flush.interval.ms", "log.flush.scheduler.interval.ms"];
    const NODE: &[&str] = &["node.id", "broker.id"];
    match name {
        "log.retention.ms" | "log.retention.minutes" | "log.retention.hours" => RETENTION,
        "log.roll.ms" | "log.roll.hours" => ROLL,
        "log.roll.jitter.ms" | "log.roll.jitter.hours" => JITTER,
        "log.dirs" | "log.dir" => DIRS,
        "log.flush.interval.ms" => FLUSH,
        "node.id" | "broker.id" => NODE,
        _ => &[],
    }
}

/// The synonyms Kafka's DescribeConfigs lists for a broker setting: the
/// groups of [`synonyms_of`] that Kafka's `DynamicBrokerConfig` treats as
/// synonyms (retention, roll, roll jitter, flush), not `log.dirs`/`log.dir`
/// or `node.id`/`broker.id`, which it describes each on its own.
pub(super) fn described_synonyms_of(name: &str) -> &'static [&'static str] {
    match name {
        "log.dirs" | "log.dir" | "node.id" | "broker.id" => &[],
        _ => synonyms_of(name),
    }
}

/// Environment variables that configure the binary, not the broker.
const NON_CONFIG_ENV: &[&str] = &["KARST_LOG", "KARST_LOG_FORMAT", "KARST_BIN"];

/// Whether a `KARST_*` variable is not meant for the broker: the binary's
/// own, or one Kubernetes injects for a Service whose name starts with
/// `karst` (`KARST_PORT=tcp://10.0.0.7:9092`, `KARST_SERVICE_HOST`,
/// `KARST_BOOTSTRAP_PORT_9092_TCP_ADDR`), which would otherwise stop a
/// broker in the same namespace from starting.
pub(super) fn is_not_a_setting(var: &str) -> bool {
    if NON_CONFIG_ENV.contains(&var) {
        return true;
    }
    let service_link = var.ends_with("_SERVICE_HOST")
        || var.ends_with("_SERVICE_PORT")
        || var.contains("_SERVICE_PORT_")
        || var.ends_with("_PORT")
        || var.split("_PORT_").nth(1).is_some_and(|rest| {
            let (port, protocol) = rest.split_once('_').unwrap_or((rest, ""));
            !port.is_empty()
                && port.bytes().all(|b| b.is_ascii_digit())
                && ["TCP", "UDP", "SCTP"]
                    .iter()
                    .any(|p| protocol.starts_with(p))
        });
    service_link && from_env_name(var).is_none()
}
