//! Prometheus metrics of the broker. Hot-path updates are atomic increments
//! on children created once (per API at start, per topic on first use).

use crate::alloc_count::AllocationMetrics;
use kafka_protocol::ResponseError;
use kafka_protocol::messages::ApiKey;
use prometheus::core::Collector;
use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};

/// Highest API key number we keep a pre-created child for.
const MAX_API_KEY: usize = 100;

/// A broker's life as Kafka numbers it (`kafka.server:type=KafkaServer,
/// name=BrokerState`), so dashboards built for Kafka read it unchanged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BrokerState {
    /// Not registered with the controller yet.
    Starting = 1,
    /// Registered and fenced: catching up with the metadata log (or fenced
    /// for missed heartbeats).
    Recovery = 2,
    /// Unfenced: serving its partitions.
    Running = 3,
    /// SIGTERM received: asking the controller to move leadership away.
    PendingControlledShutdown = 6,
    /// Leadership moved (or the bound passed): draining and flushing.
    ShuttingDown = 7,
}

/// The cluster as one node sees it, sampled periodically.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ClusterView {
    /// Whether this node is the active controller.
    pub active_controller: bool,
    /// Brokers in the metadata image, fenced or not.
    pub registered_brokers: usize,
    pub fenced_brokers: usize,
    /// Of those, the ones fenced by their own controlled shutdown.
    pub controlled_shutdown_brokers: usize,
    /// This node's broker: starting, catching up (fenced) or running; `None`
    /// on a controller-only node.
    pub broker_state: Option<BrokerState>,
    /// Whether this node's own broker is fenced (or not registered).
    pub broker_fenced: bool,
    /// This node's broker epoch, -1 before it registers.
    pub broker_epoch: i64,
    /// Raft log index of the image this node serves.
    pub applied_index: u64,
    /// Last Raft log index this node holds.
    pub log_end_index: u64,
    /// On the active controller: (node id, entries behind its log end).
    pub replica_lag: Vec<(u64, u64)>,
}

/// The broker's metrics and the registry that serves them.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// Per-API request counter and latency, indexed by API key.
    per_api: Vec<Option<(IntCounter, Histogram)>>,
    /// The families of `per_api`'s children.
    requests: IntCounterVec,
    request_latency: HistogramVec,
    /// Requests answered with an error, by API and Kafka error name.
    request_errors: IntCounterVec,
    bytes_in: IntCounterVec,
    bytes_out: IntCounterVec,
    messages_in: IntCounterVec,
    log_size: IntGaugeVec,
    connections: IntGauge,
    connections_accepted: IntCounter,
    connections_closed: IntCounter,
    frames_rejected: IntCounter,
    /// 1 on the active controller, 0 elsewhere: sums to 1 over a cluster.
    active_controller: IntGauge,
    registered_brokers: IntGauge,
    fenced_brokers: IntGauge,
    /// 1 while this node's broker is fenced (or not registered yet).
    broker_fenced: IntGauge,
    controlled_shutdown_brokers: IntGauge,
    broker_state: IntGauge,
    /// Set once shutdown begins: the periodic sample no longer writes the
    /// broker state (the shutdown steps do).
    shutting_down: std::sync::atomic::AtomicBool,
    /// This node's broker epoch (-1 before it registers).
    broker_epoch: IntGauge,
    /// Raft log index of the metadata image this node serves.
    metadata_applied_index: IntGauge,
    /// Last index in this node's copy of the metadata log.
    metadata_log_end_index: IntGauge,
    /// On the active controller only: per node, how many metadata log
    /// entries it has not replicated yet.
    metadata_replica_lag: IntGaugeVec,
    connections_refused: IntCounterVec,
    connections_idle_closed: IntCounter,
    partition_damaged: IntGaugeVec,
    request_memory_held: IntGauge,
    request_memory_waiting: IntGauge,
    allocations: Option<AllocationMetrics>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Registers collectors owned elsewhere (the replica manager's).
    pub fn register(&self, collectors: Vec<Box<dyn Collector>>) {
        for collector in collectors {
            self.registry
                .register(collector)
                .expect("metric names are unique");
        }
    }

    pub fn new() -> Self {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new("karst_requests_total", "Kafka requests answered, by API"),
            &["api"],
        )
        .expect("valid metric");
        let request_latency = HistogramVec::new(
            HistogramOpts::new(
                "karst_request_duration_seconds",
                "Time from request decoded to response ready, by API",
            )
            .buckets(vec![
                0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
            ]),
            &["api"],
        )
        .expect("valid metric");
        let request_errors = IntCounterVec::new(
            Opts::new(
                "karst_request_errors_total",
                "Errors returned in responses, by API and Kafka error name",
            ),
            &["api", "error"],
        )
        .expect("valid metric");
        let bytes_in = IntCounterVec::new(
            Opts::new(
                "karst_topic_bytes_in_total",
                "Record batch bytes produced, by topic",
            ),
            &["topic"],
        )
        .expect("valid metric");
        let bytes_out = IntCounterVec::new(
            Opts::new(
                "karst_topic_bytes_out_total",
                "Record batch bytes fetched, by topic",
            ),
            &["topic"],
        )
        .expect("valid metric");
        let messages_in = IntCounterVec::new(
            Opts::new(
                "karst_topic_messages_in_total",
                "Records produced, by topic",
            ),
            &["topic"],
        )
        .expect("valid metric");
        let log_size = IntGaugeVec::new(
            Opts::new("karst_log_size_bytes", "Size of a partition's log on disk"),
            &["topic", "partition"],
        )
        .expect("valid metric");
        let connections =
            IntGauge::new("karst_connections", "Open client connections").expect("valid metric");
        let connections_accepted = IntCounter::new(
            "karst_connections_accepted_total",
            "Client connections accepted",
        )
        .expect("valid metric");
        let connections_closed = IntCounter::new(
            "karst_connections_closed_total",
            "Client connections closed, by either side",
        )
        .expect("valid metric");
        let frames_rejected = IntCounter::new(
            "karst_frames_rejected_total",
            "Connections closed for an oversized, malformed or unsupported request",
        )
        .expect("valid metric");
        let active_controller = IntGauge::new(
            "karst_active_controller",
            "1 if this node is the active controller; sums to 1 across a healthy cluster",
        )
        .expect("valid metric");
        let registered_brokers = IntGauge::new(
            "karst_registered_brokers",
            "Brokers registered in the cluster metadata",
        )
        .expect("valid metric");
        let fenced_brokers = IntGauge::new(
            "karst_fenced_brokers",
            "Registered brokers that are fenced (missed their heartbeats or shut down)",
        )
        .expect("valid metric");
        let broker_fenced = IntGauge::new(
            "karst_broker_fenced",
            "1 while this node's broker is fenced or not registered, 0 while it is live",
        )
        .expect("valid metric");
        let controlled_shutdown_brokers = IntGauge::new(
            "karst_brokers_in_controlled_shutdown",
            "Registered brokers fenced by their own controlled shutdown (SIGTERM), until they register again",
        )
        .expect("valid metric");
        let broker_state = IntGauge::new(
            "karst_broker_state",
            "This broker's state in Kafka's numbering: 1 starting, 2 recovery (fenced, catching up), 3 running, 6 pending controlled shutdown, 7 shutting down; 0 on a controller-only node",
        )
        .expect("valid metric");
        let broker_epoch = IntGauge::new(
            "karst_broker_epoch",
            "This node's broker epoch: new with every registration (-1 before registering)",
        )
        .expect("valid metric");
        let metadata_applied_index = IntGauge::new(
            "karst_metadata_applied_index",
            "Raft log index of the metadata image this node serves (0 on a single node)",
        )
        .expect("valid metric");
        let metadata_log_end_index = IntGauge::new(
            "karst_metadata_log_end_index",
            "Last Raft log index in this node's copy of the metadata log (0 on a single node)",
        )
        .expect("valid metric");
        let metadata_replica_lag = IntGaugeVec::new(
            Opts::new(
                "karst_metadata_replica_lag",
                "On the active controller: metadata log entries each node has yet to replicate",
            ),
            &["node_id"],
        )
        .expect("valid metric");
        let connections_refused = IntCounterVec::new(
            Opts::new(
                "karst_connections_refused_total",
                "Client connections closed at once because a limit was reached, by limit",
            ),
            &["limit"],
        )
        .expect("valid metric");
        let connections_idle_closed = IntCounter::new(
            "karst_connections_idle_closed_total",
            "Client connections closed after connections.max.idle.ms without a request",
        )
        .expect("valid metric");
        let partition_damaged = IntGaugeVec::new(
            Opts::new(
                "karst_partition_damaged",
                "1 when part of a partition's log cannot be read (see /readyz for the file)",
            ),
            &["topic", "partition"],
        )
        .expect("valid metric");
        let request_memory_held = IntGauge::new(
            "karst_request_memory_bytes",
            "Bytes of requests being read or handled (bounded by queued.max.request.bytes)",
        )
        .expect("valid metric");
        let request_memory_waiting = IntGauge::new(
            "karst_request_memory_waiting",
            "Connections waiting for request memory before reading their next request",
        )
        .expect("valid metric");
        let per_api = (0..MAX_API_KEY as i16)
            .map(|key| {
                api_name(key).map(|name| {
                    (
                        requests.with_label_values(&[name.as_str()]),
                        request_latency.with_label_values(&[name.as_str()]),
                    )
                })
            })
            .collect();
        let metrics = Self {
            registry,
            per_api,
            requests,
            request_latency,
            request_errors,
            bytes_in,
            bytes_out,
            messages_in,
            log_size,
            connections,
            connections_accepted,
            connections_closed,
            frames_rejected,
            active_controller,
            registered_brokers,
            fenced_brokers,
            broker_fenced,
            controlled_shutdown_brokers,
            broker_state,
            shutting_down: std::sync::atomic::AtomicBool::new(false),
            broker_epoch,
            metadata_applied_index,
            metadata_log_end_index,
            metadata_replica_lag,
            connections_refused,
            connections_idle_closed,
            partition_damaged,
            request_memory_held,
            request_memory_waiting,
            allocations: AllocationMetrics::new(),
        };
        metrics.register(metrics.collectors());
        if let Some(allocations) = &metrics.allocations {
            metrics.register(allocations.collectors());
        }
        metrics
    }

    /// Every collector of the broker's own metrics (the replica manager's
    /// are added with [`Metrics::register`]); docs/metrics.md lists them.
    fn collectors(&self) -> Vec<Box<dyn Collector>> {
        vec![
            Box::new(self.active_controller.clone()),
            Box::new(self.registered_brokers.clone()),
            Box::new(self.fenced_brokers.clone()),
            Box::new(self.broker_fenced.clone()),
            Box::new(self.controlled_shutdown_brokers.clone()),
            Box::new(self.broker_state.clone()),
            Box::new(self.broker_epoch.clone()),
            Box::new(self.metadata_applied_index.clone()),
            Box::new(self.metadata_log_end_index.clone()),
            Box::new(self.metadata_replica_lag.clone()),
            Box::new(self.request_memory_held.clone()),
            Box::new(self.request_memory_waiting.clone()),
            Box::new(self.partition_damaged.clone()),
            Box::new(self.connections_refused.clone()),
            Box::new(self.connections_idle_closed.clone()),
            Box::new(self.requests.clone()),
            Box::new(self.request_latency.clone()),
            Box::new(self.request_errors.clone()),
            Box::new(self.bytes_in.clone()),
            Box::new(self.bytes_out.clone()),
            Box::new(self.messages_in.clone()),
            Box::new(self.log_size.clone()),
            Box::new(self.connections.clone()),
            Box::new(self.connections_accepted.clone()),
            Box::new(self.connections_closed.clone()),
            Box::new(self.frames_rejected.clone()),
        ]
    }

    /// A step of the controlled shutdown; from now on only these steps
    /// write the broker state.
    pub fn set_shutdown_state(&self, state: BrokerState) {
        self.shutting_down
            .store(true, std::sync::atomic::Ordering::Relaxed);
        self.broker_state.set(state as i64);
    }

    /// Adds `bytes` (negative: gives back) to the request memory held.
    pub fn request_memory_held(&self, bytes: i64) {
        self.request_memory_held.add(bytes);
    }

    /// Adds `connections` to those waiting for request memory.
    pub fn request_memory_waiting(&self, connections: i64) {
        self.request_memory_waiting.add(connections);
    }

    /// Marks a partition whose log cannot be read in part.
    pub fn set_partition_damaged(&self, topic: &str, partition: i32, damaged: bool) {
        self.partition_damaged
            .with_label_values(&[topic, &partition.to_string()])
            .set(i64::from(damaged));
    }

    /// Counts a connection refused by `limit` (the setting's name).
    pub fn connection_refused(&self, limit: &str) {
        self.connections_refused.with_label_values(&[limit]).inc();
    }

    /// Counts a connection closed for idleness.
    pub fn connection_idle_closed(&self) {
        self.connections_idle_closed.inc();
    }

    /// Counts an answered request of `api_key` that took `seconds`.
    pub fn observe_request(&self, api_key: i16, seconds: f64) {
        if let Some(Some((count, latency))) = self.per_api.get(api_key as usize) {
            count.inc();
            latency.observe(seconds);
        }
    }

    /// Counts an error code (other than NONE) in a response to `api_key`.
    /// A response can carry several (one per partition); count each.
    pub fn request_error(&self, api_key: i16, error_code: i16) {
        if error_code == 0 {
            return;
        }
        let Some(api) = api_name(api_key) else {
            return;
        };
        self.request_errors
            .with_label_values(&[api.as_str(), error_name(error_code).as_str()])
            .inc();
    }

    /// Counts produced record batch bytes and records of `topic`.
    pub fn topic_bytes_in(&self, topic: &str, bytes: u64, messages: u64) {
        self.bytes_in.with_label_values(&[topic]).inc_by(bytes);
        self.messages_in
            .with_label_values(&[topic])
            .inc_by(messages);
    }

    /// Counts fetched record batch bytes of `topic`.
    pub fn topic_bytes_out(&self, topic: &str, bytes: u64) {
        self.bytes_out.with_label_values(&[topic]).inc_by(bytes);
    }

    /// Sets the on-disk size of a partition's log.
    pub fn set_log_size(&self, topic: &str, partition: i32, bytes: u64) {
        self.log_size
            .with_label_values(&[topic, &partition.to_string()])
            .set(bytes as i64);
    }

    /// Forgets a deleted topic's series.
    pub fn remove_topic(&self, topic: &str) {
        let _ = self.bytes_in.remove_label_values(&[topic]);
        let _ = self.bytes_out.remove_label_values(&[topic]);
        let _ = self.messages_in.remove_label_values(&[topic]);
        // Partition series are keyed by (topic, partition): find this
        // topic's partitions among the series and drop just those.
        use prometheus::core::Collector;
        for family in self.log_size.collect() {
            for metric in family.get_metric() {
                let labels = metric.get_label();
                let label = |name: &str| {
                    labels
                        .iter()
                        .find(|l| l.name() == name)
                        .map(|l| l.value().to_owned())
                };
                if label("topic").as_deref() == Some(topic)
                    && let Some(partition) = label("partition")
                {
                    let _ = self.log_size.remove_label_values(&[topic, &partition]);
                    let _ = self
                        .partition_damaged
                        .remove_label_values(&[topic, &partition]);
                }
            }
        }
    }

    pub fn connection_opened(&self) {
        self.connections.inc();
        self.connections_accepted.inc();
    }

    pub fn connection_closed(&self) {
        self.connections.dec();
        self.connections_closed.inc();
    }

    /// Counts a connection closed for an oversized, malformed or
    /// unsupported frame.
    pub fn frame_rejected(&self) {
        self.frames_rejected.inc();
    }

    /// The cluster as this node sees it (see [`ClusterView`]).
    pub fn set_cluster(&self, view: &ClusterView) {
        self.active_controller
            .set(i64::from(view.active_controller));
        self.registered_brokers.set(view.registered_brokers as i64);
        self.fenced_brokers.set(view.fenced_brokers as i64);
        self.broker_fenced.set(i64::from(view.broker_fenced));
        self.controlled_shutdown_brokers
            .set(view.controlled_shutdown_brokers as i64);
        if !self
            .shutting_down
            .load(std::sync::atomic::Ordering::Relaxed)
            && let Some(state) = view.broker_state
        {
            self.broker_state.set(state as i64);
        }
        self.broker_epoch.set(view.broker_epoch);
        self.metadata_applied_index.set(view.applied_index as i64);
        self.metadata_log_end_index.set(view.log_end_index as i64);
        // Only the active controller knows its followers' positions: a node
        // that lost the leadership drops its stale per-node figures.
        self.metadata_replica_lag.reset();
        for (node_id, lag) in &view.replica_lag {
            self.metadata_replica_lag
                .with_label_values(&[node_id.to_string().as_str()])
                .set(*lag as i64);
        }
    }

    /// The Prometheus text exposition of every metric.
    pub fn encode_text(&self) -> String {
        if let Some(allocations) = &self.allocations {
            allocations.refresh();
        }
        let mut buf = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut buf)
            .expect("text encoding into memory does not fail");
        String::from_utf8(buf).expect("text format is UTF-8")
    }
}

/// The `api` label of a Kafka API key: its name in Kafka's messages
/// (`Produce`, `FindCoordinator`), or `None` for a key Karst does not know.
fn api_name(api_key: i16) -> Option<String> {
    ApiKey::try_from(api_key).ok().map(|api| format!("{api:?}"))
}

/// The `error` label: Kafka's name for the code (`NOT_LEADER_OR_FOLLOWER`).
fn error_name(code: i16) -> String {
    match ResponseError::try_from_code(code) {
        Some(ResponseError::Unknown(_)) | None => format!("UNKNOWN_{code}"),
        Some(error) => {
            let camel = format!("{error:?}");
            let mut snake = String::with_capacity(camel.len() + 8);
            for (i, c) in camel.chars().enumerate() {
                if c.is_ascii_uppercase() && i > 0 {
                    snake.push('_');
                }
                snake.push(c.to_ascii_uppercase());
            }
            snake
        }
    }
}

#[cfg(test)]
#[path = "metrics_tests.rs"]
mod tests;
