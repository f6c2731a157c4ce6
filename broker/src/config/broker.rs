//! The broker's settings: Kafka's property names, checked at start.
//!
//! Explicit values are kept as given, with where they came from; the typed
//! fields are derived from them (defaults filled in, Kafka's rules for
//! settings that share a meaning applied) every time a value changes.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::broker_keys::{self, KEYS};
use super::dynamic::DynamicLayers;
use super::listener::{Listener, invalid, parse_listeners, parse_protocol_map};
use super::{ConfigError, closest, properties};

/// Where an explicitly given setting came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueOrigin {
    /// The `--config` properties file.
    File,
    /// A `KARST_*` environment variable.
    Environment,
    /// `--override key=value`.
    Override,
    /// [`BrokerConfig::set`], by code embedding the broker.
    Api,
}

/// The broker's configuration: every explicitly set value with its origin,
/// and typed fields derived from them (defaults filled in).
#[derive(Debug, Clone)]
pub struct BrokerConfig {
    explicit: BTreeMap<&'static str, (String, ValueOrigin)>,
    /// Dynamic broker configs from the metadata log, above `explicit`.
    dynamic: DynamicLayers,
    pub node_id: i32,
    /// `process.roles`; one process plays both roles.
    pub process_roles: Vec<String>,
    pub cluster_id: Option<String>,
    pub broker_rack: Option<String>,
    /// Client listeners: `listeners` without `controller.listener.names`.
    pub listeners: Vec<Listener>,
    /// Listeners named in `controller.listener.names`: where the metadata
    /// quorum's Raft traffic (and forwarded controller commands) arrives.
    pub controller_listeners: Vec<Listener>,
    /// `controller.quorum.voters`; empty: one node that keeps its metadata
    /// log in a local file (the embedded default).
    pub controller_quorum_voters: Vec<crate::raft::Voter>,
    /// Empty: advertise the listener (with the port actually bound).
    pub advertised_listeners: Vec<Listener>,
    /// `karst.http.listener`: `host:port` of `/metrics`, `/healthz`, `/readyz`.
    pub http_listener: String,
    /// `log.dirs`, else `log.dir`; the first directory holds the data.
    pub log_dirs: Vec<PathBuf>,
    pub num_partitions: i32,
    pub default_replication_factor: i16,
    pub auto_create_topics_enable: bool,
    pub delete_topic_enable: bool,
    /// `log.retention.ms`, else minutes, else hours, as Kafka resolves them.
    pub log_retention_ms: i64,
    pub log_retention_bytes: i64,
    pub log_retention_check_interval_ms: u64,
    pub log_segment_bytes: i32,
    /// `log.roll.ms`, else `log.roll.hours`.
    pub log_roll_ms: i64,
    pub log_flush_interval_messages: i64,
    /// `log.flush.interval.ms`, else `log.flush.scheduler.interval.ms`.
    pub log_flush_interval_ms: i64,
    pub log_index_interval_bytes: i32,
    /// `CreateTime` or `LogAppendTime`.
    pub log_message_timestamp_type: String,
    /// `delete`, `compact` or both.
    pub log_cleanup_policy: Vec<String>,
    pub log_cleaner_delete_retention_ms: i64,
    pub compression_type: String,
    pub message_max_bytes: i32,
    pub min_insync_replicas: i32,
    pub unclean_leader_election_enable: bool,
    pub socket_request_max_bytes: usize,
    /// `max.connections`; lowered at start to what the file limit allows.
    pub max_connections: usize,
    pub max_connections_per_ip: usize,
    /// `connections.max.idle.ms`; -1: never closed for idleness.
    pub connections_max_idle_ms: i64,
    /// `queued.max.request.bytes`: total bytes of requests being read and
    /// handled at once; -1: no bound.
    pub queued_max_request_bytes: i64,
    /// `max.broker.partitions`; lowered at start to what the file limit allows.
    pub max_broker_partitions: usize,
    /// `num.network.threads` when set; see [`Self::network_threads`].
    pub num_network_threads: Option<i32>,
    /// I/O threads that run partition appends (`num.io.threads`).
    pub num_io_threads: i32,
    pub offsets_topic_num_partitions: i32,
    pub offsets_topic_replication_factor: i16,
    /// `offsets.retention.minutes` in milliseconds.
    pub offsets_retention_ms: i64,
    pub group_initial_rebalance_delay_ms: u64,
    /// `replica.lag.time.max.ms`: an in-sync follower that has not caught
    /// up for this long leaves the ISR.
    pub replica_lag_time_max_ms: i64,
    /// `replica.high.watermark.checkpoint.interval.ms`.
    pub replica_high_watermark_checkpoint_interval_ms: u64,
    /// `broker.session.timeout.ms`: a broker that has not heartbeated to
    /// the active controller for this long is fenced.
    pub broker_session_timeout_ms: u64,
    /// `broker.heartbeat.interval.ms`: how often a broker heartbeats.
    pub broker_heartbeat_interval_ms: u64,
    /// `auto.leader.rebalance.enable`: the active controller moves
    /// leadership back to preferred replicas when brokers are imbalanced.
    pub auto_leader_rebalance_enable: bool,
    /// `leader.imbalance.per.broker.percentage`: the share of a broker's
    /// preferred partitions it may not lead before a rebalance.
    pub leader_imbalance_per_broker_percentage: u32,
    /// `leader.imbalance.check.interval.seconds`, in milliseconds.
    pub leader_imbalance_check_interval_ms: u64,
    /// `follower.replication.throttled.rate` (bytes/s): the most a follower
    /// fetches per second for the replicas a reassignment is adding.
    pub follower_replication_throttled_rate: u64,
    /// `leader.replication.throttled.rate` (bytes/s): the most a leader
    /// sends per second to the replicas a reassignment is adding.
    pub leader_replication_throttled_rate: u64,
    pub group_min_session_timeout_ms: i32,
    pub group_max_session_timeout_ms: i32,
    pub group_max_size: usize,
    pub producer_id_expiration_ms: i64,
    pub transactional_id_expiration_ms: i64,
}

impl Default for BrokerConfig {
    /// One node on `localhost:9092` with data in `./data`.
    fn default() -> Self {
        Self::resolve(BTreeMap::new(), DynamicLayers::default())
            .expect("built-in defaults are valid")
    }
}

impl BrokerConfig {
    /// Loads defaults < `file` < `KARST_*` variables of `env` < `overrides`.
    /// Variables outside the `KARST_` prefix are ignored; a `KARST_` variable
    /// that names no setting is refused, except the binary's own (`KARST_LOG`,
    /// `KARST_LOG_FORMAT`) and those Kubernetes injects for Services.
    pub fn load(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
        overrides: &[(String, String)],
    ) -> Result<Self, ConfigError> {
        let mut explicit = BTreeMap::new();
        if let Some(path) = file {
            let text = std::fs::read_to_string(path).map_err(|e| ConfigError::File {
                path: path.display().to_string(),
                reason: e.to_string(),
            })?;
            for (k, v) in properties::parse(&text) {
                put(&mut explicit, &k, &v, ValueOrigin::File)?;
            }
        }
        let mut env: Vec<(String, String)> = env
            .into_iter()
            .filter(|(var, _)| var.starts_with("KARST_") && !broker_keys::is_not_a_setting(var))
            .collect();
        // Deterministic whichever order the environment lists them in.
        env.sort();
        for (var, value) in env {
            let key =
                broker_keys::from_env_name(&var).ok_or_else(|| broker_keys::unknown_env(&var))?;
            put(&mut explicit, key.name, &value, ValueOrigin::Environment)?;
        }
        for (k, v) in overrides {
            put(&mut explicit, k, v, ValueOrigin::Override)?;
        }
        Self::resolve(explicit, DynamicLayers::default())
    }

    /// Sets one property (for tests and embedding), checking it and the
    /// settings that depend on it. On error the configuration is unchanged.
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), ConfigError> {
        let mut explicit = self.explicit.clone();
        put(&mut explicit, key, value, ValueOrigin::Api)?;
        *self = Self::resolve(explicit, self.dynamic.clone())?;
        Ok(())
    }

    /// The effective value of a setting: per-broker dynamic, else
    /// cluster-wide dynamic, else static, else its default.
    pub fn get(&self, name: &str) -> Option<&str> {
        value_of(&self.explicit, &self.dynamic, name)
    }

    /// Async threads that read requests, run their handlers and write
    /// replies (the runtime's workers): `num.network.threads`, else one less
    /// than the cores, at least one. Appends and their fsyncs run on the
    /// `num.io.threads` threads beside them, and on few cores every extra
    /// worker costs wake-ups between workers on each small request.
    pub fn network_threads(&self) -> usize {
        match self.num_network_threads {
            Some(threads) => threads.max(1) as usize,
            None => std::thread::available_parallelism()
                .map_or(1, |cores| cores.get().saturating_sub(1))
                .max(1),
        }
    }

    /// Whether a setting was given explicitly (statically or dynamically).
    pub fn is_set(&self, name: &str) -> bool {
        self.explicit.contains_key(name) || self.dynamic.get(name).is_some()
    }

    /// This configuration with `layers` of dynamic broker configs applied
    /// over the static settings (the previous dynamic ones are replaced).
    /// A combination the static checks refuse leaves the previous value.
    pub(crate) fn with_dynamic(&self, layers: DynamicLayers) -> Result<Self, ConfigError> {
        Self::resolve(self.explicit.clone(), layers)
    }

    /// Where an explicit setting came from; `None` for defaults.
    pub fn origin(&self, name: &str) -> Option<ValueOrigin> {
        self.explicit.get(name).map(|(_, origin)| *origin)
    }

    /// The explicitly given settings, by name, for a start-up log line.
    pub fn explicit(&self) -> impl Iterator<Item = (&'static str, &str, ValueOrigin)> + '_ {
        self.explicit
            .iter()
            .map(|(name, (value, origin))| (*name, value.as_str(), *origin))
    }

    /// Settings given explicitly that have no effect because a more
    /// specific synonym is also set, as `(ignored, winner)`: with both
    /// `log.retention.hours` and `log.retention.ms` set, Kafka uses the
    /// latter whichever source each came from. `main` warns about these.
    pub fn shadowed(&self) -> Vec<(&'static str, &'static str)> {
        let mut shadowed = Vec::new();
        for key in KEYS {
            let group = broker_keys::synonyms_of(key.name);
            let Some(position) = group.iter().position(|n| *n == key.name) else {
                continue;
            };
            // broker.id must equal node.id when both are set: nothing is lost.
            if !self.explicit.contains_key(key.name) || key.name == "broker.id" {
                continue;
            }
            if let Some(winner) = group[..position]
                .iter()
                .find(|n| self.explicit.contains_key(*n))
            {
                shadowed.push((key.name, *winner));
            }
        }
        shadowed
    }

    /// Derives the typed fields and checks settings that depend on each other.
    fn resolve(
        explicit: BTreeMap<&'static str, (String, ValueOrigin)>,
        dynamic: DynamicLayers,
    ) -> Result<Self, ConfigError> {
        let v = Values(&explicit, &dynamic);
        // `broker.id` is ZooKeeper-era; -1 there meant "generate one".
        let broker_id: Option<i32> = v
            .is_set("broker.id")
            .then(|| v.int("broker.id"))
            .filter(|id| *id >= 0);
        let node_id: i32 = match broker_id {
            Some(id) if !v.is_set("node.id") => id,
            _ => v.int("node.id"),
        };
        if broker_id.is_some_and(|id| id != node_id) {
            return Err(invalid(
                "broker.id",
                v.str("broker.id"),
                format!("must equal node.id ({node_id}) when both are set"),
            ));
        }
        let protocols = parse_protocol_map(
            "listener.security.protocol.map",
            v.str("listener.security.protocol.map"),
        )?;
        let controller_names: Vec<String> = v
            .list("controller.listener.names")
            .map(str::to_ascii_uppercase)
            .collect();
        let (controller_listeners, listeners): (Vec<_>, Vec<_>) =
            parse_listeners("listeners", v.str("listeners"), &protocols)?
                .into_iter()
                .partition(|l| controller_names.contains(&l.name));
        if listeners.is_empty() {
            return Err(invalid(
                "listeners",
                v.str("listeners"),
                "at least one listener for clients is required",
            ));
        }
        let controller_quorum_voters = match v.get("controller.quorum.voters") {
            None => Vec::new(),
            Some(value) => crate::raft::parse_voters(value)
                .map_err(|e| invalid("controller.quorum.voters", value, e.to_string()))?,
        };
        let roles: Vec<&str> = v.list("process.roles").collect();
        if controller_quorum_voters.is_empty() && roles.len() < 2 {
            return Err(invalid(
                "process.roles",
                v.str("process.roles"),
                "a node with only one role needs controller.quorum.voters (id@host:port,...)",
            ));
        }
        if !controller_quorum_voters.is_empty() && v.get("cluster.id").is_none() {
            return Err(invalid(
                "cluster.id",
                "",
                "with controller.quorum.voters every node needs the same cluster.id \
                 (any string of letters, digits, '-' and '_', e.g. one from `uuidgen`)",
            ));
        }
        if !controller_quorum_voters.is_empty() && controller_listeners.is_empty() {
            return Err(invalid(
                "controller.listener.names",
                v.str("controller.listener.names"),
                "with controller.quorum.voters, one listener in `listeners` must be named in \
                 controller.listener.names (e.g. listeners=PLAINTEXT://:9092,CONTROLLER://:9093 \
                 and controller.listener.names=CONTROLLER); every node binds it to take part in \
                 the metadata quorum",
            ));
        }
        let advertised_listeners: Vec<Listener> = parse_listeners(
            "advertised.listeners",
            v.str("advertised.listeners"),
            &protocols,
        )?
        .into_iter()
        .filter(|l| !controller_names.contains(&l.name))
        .collect();
        for l in &advertised_listeners {
            if l.host.is_empty() || l.host == "0.0.0.0" || l.host == "::" {
                return Err(invalid(
                    "advertised.listeners",
                    v.str("advertised.listeners"),
                    format!("{l} is not an address clients can connect to; name the host"),
                ));
            }
            if !listeners.iter().any(|c| c.name == l.name) {
                return Err(invalid(
                    "advertised.listeners",
                    v.str("advertised.listeners"),
                    format!("{} is not one of the listeners", l.name),
                ));
            }
        }
        let http_listener = v.str("karst.http.listener").to_owned();
        if http_listener
            .rsplit_once(':')
            .and_then(|(_, p)| p.parse::<u16>().ok())
            .is_none()
        {
            return Err(invalid(
                "karst.http.listener",
                &http_listener,
                "expected host:port",
            ));
        }
        let log_dirs: Vec<PathBuf> = if v.is_set("log.dirs") {
            v.list("log.dirs").map(PathBuf::from).collect()
        } else {
            vec![PathBuf::from(v.str("log.dir"))]
        };
        if log_dirs.is_empty() || log_dirs[0].as_os_str().is_empty() {
            return Err(invalid(
                "log.dirs",
                v.str("log.dirs"),
                "at least one directory is required",
            ));
        }
        let log_retention_ms = if v.is_set("log.retention.ms") {
            v.int("log.retention.ms")
        } else if v.is_set("log.retention.minutes") {
            v.int::<i64>("log.retention.minutes").saturating_mul(60_000)
        } else {
            v.int::<i64>("log.retention.hours")
                .saturating_mul(3_600_000)
        };
        let log_roll_ms = if v.is_set("log.roll.ms") {
            v.int("log.roll.ms")
        } else {
            v.int::<i64>("log.roll.hours").saturating_mul(3_600_000)
        };
        let log_flush_interval_ms = if v.is_set("log.flush.interval.ms") {
            v.int("log.flush.interval.ms")
        } else {
            v.int("log.flush.scheduler.interval.ms")
        };
        let group_min_session_timeout_ms: i32 = v.int("group.min.session.timeout.ms");
        let group_max_session_timeout_ms: i32 = v.int("group.max.session.timeout.ms");
        if group_min_session_timeout_ms > group_max_session_timeout_ms {
            return Err(invalid(
                "group.min.session.timeout.ms",
                v.str("group.min.session.timeout.ms"),
                format!(
                    "must not exceed group.max.session.timeout.ms ({group_max_session_timeout_ms})"
                ),
            ));
        }
        let broker_session_timeout_ms: u64 = v.int("broker.session.timeout.ms");
        let broker_heartbeat_interval_ms: u64 = v.int("broker.heartbeat.interval.ms");
        if broker_heartbeat_interval_ms >= broker_session_timeout_ms {
            return Err(invalid(
                "broker.heartbeat.interval.ms",
                v.str("broker.heartbeat.interval.ms"),
                format!(
                    "must be below broker.session.timeout.ms ({broker_session_timeout_ms}), \
                     or every broker would be fenced between two heartbeats"
                ),
            ));
        }
        if v.is_set("zookeeper.connect") {
            tracing::warn!("zookeeper.connect is ignored: Karst keeps metadata in its own log");
        }
        Ok(Self {
            node_id,
            process_roles: v.list("process.roles").map(str::to_owned).collect(),
            cluster_id: v.get("cluster.id").map(str::to_owned),
            broker_rack: v.get("broker.rack").map(str::to_owned),
            listeners,
            controller_listeners,
            controller_quorum_voters,
            advertised_listeners,
            http_listener,
            log_dirs,
            num_partitions: v.int("num.partitions"),
            default_replication_factor: v.int("default.replication.factor"),
            auto_create_topics_enable: v.bool("auto.create.topics.enable"),
            delete_topic_enable: v.bool("delete.topic.enable"),
            log_retention_ms,
            log_retention_bytes: v.int("log.retention.bytes"),
            log_retention_check_interval_ms: v.int("log.retention.check.interval.ms"),
            log_segment_bytes: v.int("log.segment.bytes"),
            log_roll_ms,
            log_flush_interval_messages: v.int("log.flush.interval.messages"),
            log_flush_interval_ms,
            log_index_interval_bytes: v.int("log.index.interval.bytes"),
            log_message_timestamp_type: v.str("log.message.timestamp.type").to_owned(),
            log_cleanup_policy: v.list("log.cleanup.policy").map(str::to_owned).collect(),
            log_cleaner_delete_retention_ms: v.int("log.cleaner.delete.retention.ms"),
            compression_type: v.str("compression.type").to_owned(),
            message_max_bytes: v.int("message.max.bytes"),
            min_insync_replicas: v.int("min.insync.replicas"),
            unclean_leader_election_enable: v.bool("unclean.leader.election.enable"),
            socket_request_max_bytes: v.int::<u32>("socket.request.max.bytes") as usize,
            max_connections: v.int::<u32>("max.connections") as usize,
            max_connections_per_ip: v.int::<u32>("max.connections.per.ip") as usize,
            connections_max_idle_ms: v.int("connections.max.idle.ms"),
            queued_max_request_bytes: v.int("queued.max.request.bytes"),
            max_broker_partitions: v.int::<u32>("max.broker.partitions") as usize,
            num_network_threads: v
                .is_set("num.network.threads")
                .then(|| v.int("num.network.threads")),
            num_io_threads: v.int("num.io.threads"),
            offsets_topic_num_partitions: v.int("offsets.topic.num.partitions"),
            offsets_topic_replication_factor: v.int("offsets.topic.replication.factor"),
            offsets_retention_ms: v
                .int::<i64>("offsets.retention.minutes")
                .saturating_mul(60_000),
            group_initial_rebalance_delay_ms: v.int("group.initial.rebalance.delay.ms"),
            group_min_session_timeout_ms,
            group_max_session_timeout_ms,
            broker_session_timeout_ms,
            broker_heartbeat_interval_ms,
            replica_lag_time_max_ms: v.int("replica.lag.time.max.ms"),
            auto_leader_rebalance_enable: v.bool("auto.leader.rebalance.enable"),
            leader_imbalance_per_broker_percentage: v.int("leader.imbalance.per.broker.percentage"),
            leader_imbalance_check_interval_ms: v
                .int::<u64>("leader.imbalance.check.interval.seconds")
                .saturating_mul(1000),
            follower_replication_throttled_rate: v.int("follower.replication.throttled.rate"),
            leader_replication_throttled_rate: v.int("leader.replication.throttled.rate"),
            replica_high_watermark_checkpoint_interval_ms: v
                .int("replica.high.watermark.checkpoint.interval.ms"),
            group_max_size: v.int::<u32>("group.max.size") as usize,
            producer_id_expiration_ms: v.int("producer.id.expiration.ms"),
            transactional_id_expiration_ms: v.int("transactional.id.expiration.ms"),
            explicit,
            dynamic,
        })
    }
}

/// Checks one setting and records it; the last value given wins.
fn put(
    explicit: &mut BTreeMap<&'static str, (String, ValueOrigin)>,
    name: &str,
    value: &str,
    origin: ValueOrigin,
) -> Result<(), ConfigError> {
    let key = broker_keys::find(name).ok_or_else(|| ConfigError::UnknownKey {
        key: name.to_owned(),
        value: value.to_owned(),
        did_you_mean: closest(name, KEYS.iter().map(|k| k.name)),
    })?;
    key.kind.validate(name, value)?;
    explicit.insert(key.name, (value.trim().to_owned(), origin));
    Ok(())
}

fn value_of<'a>(
    explicit: &'a BTreeMap<&'static str, (String, ValueOrigin)>,
    dynamic: &'a DynamicLayers,
    name: &str,
) -> Option<&'a str> {
    dynamic
        .get(name)
        .or_else(|| explicit.get(name).map(|(value, _)| value.as_str()))
        .or_else(|| broker_keys::find(name).and_then(|k| k.default))
}

/// Typed reads of validated values (dynamic, else explicit, else default).
struct Values<'a>(
    &'a BTreeMap<&'static str, (String, ValueOrigin)>,
    &'a DynamicLayers,
);

impl Values<'_> {
    fn get(&self, name: &str) -> Option<&str> {
        value_of(self.0, self.1, name)
    }

    fn is_set(&self, name: &str) -> bool {
        self.0.contains_key(name) || self.1.get(name).is_some()
    }

    fn str(&self, name: &str) -> &str {
        self.get(name).unwrap_or_default()
    }

    fn list(&self, name: &str) -> impl Iterator<Item = &str> {
        self.str(name)
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
    }

    /// Only called for settings whose kind is numeric and that have a
    /// default or were checked before, so parsing cannot fail.
    fn int<T: std::str::FromStr>(&self, name: &str) -> T {
        self.get(name)
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("{name} has a validated value or a default"))
    }

    fn bool(&self, name: &str) -> bool {
        self.get(name)
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
    }
}

mod describe;
#[cfg(test)]
mod tests;
