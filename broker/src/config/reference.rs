//! The configuration reference (docs/configuration.md): what each setting
//! of the catalogues does in Karst, or why it is accepted without effect.
//!
//! Karst accepts every Kafka setting an existing `server.properties` or
//! topic is likely to carry, so that they load unchanged; this table says
//! which of them act. A test fails when a setting is added to a catalogue
//! without a line here, and when the generated document is stale.

/// What a setting does in Karst.
#[derive(Debug, Clone, Copy)]
pub(super) enum Effect {
    /// Karst acts on the setting, as described.
    Acts(&'static str),
    /// Accepted and validated so that Kafka configs load; changes nothing,
    /// for the reason given.
    None(&'static str),
}

use Effect::{Acts, None as Inert};

const NO_TRANSACTIONS: &str = "transactions are not supported yet";
const NO_TIERED_STORAGE: &str = "there is no tiered storage";
const NO_RECOMPRESSION: &str = "batches are stored as the producer compressed them";
const NO_TIMESTAMP_BOUNDS: &str = "record timestamps are not range-checked";
const NO_COMPACTION_TUNING: &str =
    "the cleaner compacts a topic's closed segments each time one more segment closes";
const TOKIO: &str = "Karst runs on the tokio runtime's threads";

/// What each broker setting does; one line per key of `broker_keys::KEYS`.
// One line per setting reads as a table; rustfmt would spread each over four.
#[rustfmt::skip]
pub(super) const BROKER: &[(&str, Effect)] = &[
    ("node.id", Acts("This node's id: its broker id and its voter id in `controller.quorum.voters`.")),
    ("broker.id", Acts("ZooKeeper-era name of `node.id`; must equal it when both are set (-1: not set).")),
    ("process.roles", Acts("`broker`, `controller` or both. A controller-only node hosts no partitions and is not listed to clients; a broker-only node follows the metadata log as a Raft learner. One role needs `controller.quorum.voters`.")),
    ("cluster.id", Acts("The cluster's id, the same on every node; required with `controller.quorum.voters` (a single node generates one). A data directory of another cluster is refused.")),
    ("broker.rack", Acts("This broker's rack: a new partition's replicas go to different racks where the racks allow.")),
    ("listeners", Acts("`NAME://host:port,...` to listen on; PLAINTEXT only (SSL and SASL listeners are refused). `localhost` binds 127.0.0.1 and ::1. Listeners named in `controller.listener.names` carry the metadata quorum, the others clients.")),
    ("advertised.listeners", Acts("What Metadata tells clients; each must name a host and one of the listeners. Not set: the client listeners, with the port actually bound.")),
    ("listener.security.protocol.map", Acts("Security protocol of each listener name; every listener used must map to PLAINTEXT.")),
    ("inter.broker.listener.name", Inert("there is one kind of listener (PLAINTEXT)")),
    ("controller.listener.names", Acts("The listeners in `listeners` that carry the Raft metadata quorum and forwarded admin writes; required with `controller.quorum.voters`. Unlike Kafka, broker-only nodes bind one too: the active controller pushes the metadata log to them there.")),
    ("controller.quorum.voters", Acts("`id@host:port,...` of the voters' controller listeners. Not set: a single node that keeps its metadata log in a local file.")),
    ("controller.quorum.bootstrap.servers", Inert("the quorum is the static `controller.quorum.voters`; dynamic voters (KIP-853) are not supported")),
    ("karst.http.listener", Acts("Karst's own: `host:port` of `/metrics`, `/healthz` and `/readyz`.")),
    ("log.dir", Acts("The data directory when `log.dirs` is not set.")),
    ("log.dirs", Acts("Data directories; only the first is used (no JBOD): partitions, the metadata log and checkpoints.")),
    ("num.partitions", Acts("Partitions of a topic created without a count (auto-created, or CreateTopics with -1).")),
    ("default.replication.factor", Acts("Replication factor of a topic created without one (auto-created, or CreateTopics with -1).")),
    ("auto.create.topics.enable", Acts("Create a topic that a Metadata request names and that does not exist (the tutorial's producer relies on it).")),
    ("delete.topic.enable", Acts("`false` refuses DeleteTopics (TOPIC_DELETION_DISABLED).")),
    ("log.retention.hours", Acts("Default `retention.ms` of topics, in hours; `log.retention.minutes` and `log.retention.ms` win over it.")),
    ("log.retention.minutes", Acts("Default `retention.ms` of topics, in minutes; `log.retention.ms` wins over it.")),
    ("log.retention.ms", Acts("Default `retention.ms` of topics; -1 keeps records forever.")),
    ("log.retention.bytes", Acts("Default `retention.bytes` of topics; -1: no size limit.")),
    ("log.retention.check.interval.ms", Acts("How often retention looks for segments to delete.")),
    ("log.segment.bytes", Acts("Default `segment.bytes` of topics.")),
    ("log.roll.hours", Acts("Default `segment.ms` of topics, in hours; `log.roll.ms` wins over it.")),
    ("log.roll.ms", Acts("Default `segment.ms` of topics.")),
    ("log.roll.jitter.hours", Inert("segments roll without jitter (`segment.jitter.ms`)")),
    ("log.roll.jitter.ms", Inert("segments roll without jitter (`segment.jitter.ms`)")),
    ("log.segment.delete.delay.ms", Inert("a deleted segment's files are removed at once (`file.delete.delay.ms`)")),
    ("log.flush.interval.messages", Acts("Default `flush.messages` of topics.")),
    ("log.flush.interval.ms", Acts("Default `flush.ms` of topics.")),
    ("log.flush.scheduler.interval.ms", Acts("Default `flush.ms` of topics when `log.flush.interval.ms` is not set, as in Kafka.")),
    ("log.index.interval.bytes", Acts("Default `index.interval.bytes` of topics.")),
    ("log.index.size.max.bytes", Inert("index files grow with their segment (`segment.index.bytes`)")),
    ("log.message.timestamp.type", Acts("Default `message.timestamp.type` of topics.")),
    ("log.message.timestamp.before.max.ms", Inert(NO_TIMESTAMP_BOUNDS)),
    ("log.message.timestamp.after.max.ms", Inert(NO_TIMESTAMP_BOUNDS)),
    ("log.cleanup.policy", Acts("Default `cleanup.policy` of topics.")),
    ("log.cleaner.enable", Inert("compacted topics are always cleaned")),
    ("log.cleaner.delete.retention.ms", Acts("Default `delete.retention.ms` of topics.")),
    ("log.cleaner.min.compaction.lag.ms", Inert(NO_COMPACTION_TUNING)),
    ("log.cleaner.max.compaction.lag.ms", Inert(NO_COMPACTION_TUNING)),
    ("log.cleaner.min.cleanable.ratio", Inert(NO_COMPACTION_TUNING)),
    ("log.cleaner.threads", Inert("one background task cleans every compacted log")),
    ("log.preallocate", Inert("segment files are not preallocated")),
    ("compression.type", Inert(NO_RECOMPRESSION)),
    ("message.max.bytes", Acts("Default `max.message.bytes` of topics; also the free disk space below which the broker stops taking writes.")),
    ("min.insync.replicas", Acts("Default `min.insync.replicas` of topics.")),
    ("unclean.leader.election.enable", Acts("Default `unclean.leader.election.enable` of topics, as the cluster-wide dynamic default: the active controller elects leaders and reads that one (not a per-broker or static value).")),
    ("socket.request.max.bytes", Acts("Largest request frame; a larger one closes the connection, with a log line.")),
    ("socket.send.buffer.bytes", Inert("the kernel sizes socket buffers")),
    ("socket.receive.buffer.bytes", Inert("the kernel sizes socket buffers")),
    ("max.connections", Acts("Client connections at once; more are refused. Lowered at start to what the open-file limit allows.")),
    ("max.connections.per.ip", Acts("Client connections at once from one IP address; more are refused.")),
    ("connections.max.idle.ms", Acts("A connection idle this long is closed; -1: never.")),
    ("queued.max.request.bytes", Acts("Bytes of requests being read and handled at once; a connection waits before reading its next request beyond it. Kafka's default is -1 (no bound); Karst bounds it, so slow or hostile senders cannot exhaust memory.")),
    ("max.broker.partitions", Acts("Partitions this broker hosts at most (KIP-578). Lowered at start to what the open-file limit allows.")),
    ("num.network.threads", Acts("Async threads that read requests, run their handlers and write replies. Unset: one less than the cores, at least 1 (Kafka's default is 3; here appends run on the `num.io.threads` threads, and each extra network thread costs wake-ups on every small request).")),
    ("num.io.threads", Acts("Threads that run partition appends (Produce, replication, in order per partition) off the async network threads, so a slow disk holds no connection but those waiting for it; process-wide, sized by the first broker to start.")),
    ("num.recovery.threads.per.data.dir", Inert(TOKIO)),
    ("offsets.topic.num.partitions", Acts("Partitions of `__consumer_offsets`, created when a group first needs it.")),
    ("offsets.topic.replication.factor", Inert("`__consumer_offsets` is created with one replica")),
    ("offsets.retention.minutes", Inert("committed offsets are kept until OffsetDelete or DeleteGroups removes them")),
    ("transaction.state.log.replication.factor", Inert(NO_TRANSACTIONS)),
    ("transaction.state.log.min.isr", Inert(NO_TRANSACTIONS)),
    ("group.initial.rebalance.delay.ms", Acts("How long the first rebalance of an empty group waits for more members to join.")),
    ("broker.session.timeout.ms", Acts("A broker that has not heartbeated to the active controller for this long is fenced: it leaves every ISR and its partitions get new leaders.")),
    ("broker.heartbeat.interval.ms", Acts("How often a broker heartbeats to the active controller; must be below `broker.session.timeout.ms`.")),
    ("group.min.session.timeout.ms", Acts("Smallest session timeout a JoinGroup may ask for (INVALID_SESSION_TIMEOUT below).")),
    ("group.max.session.timeout.ms", Acts("Largest session timeout a JoinGroup may ask for (INVALID_SESSION_TIMEOUT above).")),
    ("group.max.size", Acts("Members of one group; one more gets GROUP_MAX_SIZE_REACHED.")),
    ("producer.id.expiration.ms", Inert("idle producers' state does not expire by time")),
    ("transactional.id.expiration.ms", Inert(NO_TRANSACTIONS)),
    ("log.message.timestamp.difference.max.ms", Inert(NO_TIMESTAMP_BOUNDS)),
    ("log.message.downconversion.enable", Inert("only record batch v2 is served (Produce v3+, Fetch v4+): nothing is converted")),
    ("log.local.retention.ms", Inert(NO_TIERED_STORAGE)),
    ("log.local.retention.bytes", Inert(NO_TIERED_STORAGE)),
    ("compression.gzip.level", Inert(NO_RECOMPRESSION)),
    ("compression.lz4.level", Inert(NO_RECOMPRESSION)),
    ("compression.zstd.level", Inert(NO_RECOMPRESSION)),
    ("auto.leader.rebalance.enable", Acts("The active controller moves leadership back to preferred replicas (the first of each partition's replicas) when a broker's imbalance passes the threshold.")),
    ("leader.imbalance.per.broker.percentage", Acts("The share of a broker's preferred partitions led elsewhere above which the controller rebalances leadership.")),
    ("leader.imbalance.check.interval.seconds", Acts("How often the active controller checks the leader imbalance.")),
    ("leader.replication.throttled.rate", Acts("Bytes per second a leader sends to the replicas a reassignment is adding (those not yet in sync); in-sync followers are not throttled.")),
    ("follower.replication.throttled.rate", Acts("Bytes per second a broker fetches for replicas a reassignment is adding to it; other partitions keep replicating unthrottled.")),
    ("metadata.log.dir", Inert("the metadata log is kept in the first of `log.dirs`")),
    ("transaction.state.log.num.partitions", Inert(NO_TRANSACTIONS)),
    ("transaction.max.timeout.ms", Inert(NO_TRANSACTIONS)),
    ("replica.lag.time.max.ms", Acts("A follower that has not caught up with its leader for this long leaves the ISR.")),
    ("replica.high.watermark.checkpoint.interval.ms", Acts("How often high watermarks are written to `replication-offset-checkpoint`.")),
    ("num.replica.fetchers", Inert("a follower keeps one fetch connection per leader broker")),
    ("queued.max.requests", Inert("requests in flight are bounded by `queued.max.request.bytes`")),
    ("offsets.commit.timeout.ms", Inert("an offset commit waits at most Kafka's default, 5000 ms, for its `__consumer_offsets` write")),
    ("share.coordinator.state.topic.replication.factor", Inert("share groups (KIP-932) are not supported")),
    ("share.coordinator.state.topic.min.isr", Inert("share groups (KIP-932) are not supported")),
    ("zookeeper.connect", Inert("metadata is kept in Karst's own log; a warning says so at start")),
];

/// What each topic config does; one line per key of `topic::KEYS`.
#[rustfmt::skip]
pub(super) const TOPIC: &[(&str, Effect)] = &[
    ("cleanup.policy", Acts("`delete`: retention deletes old segments; `compact`: the cleaner keeps the latest record of each key, and records without a key are refused (INVALID_RECORD); both: both.")),
    ("compression.type", Inert(NO_RECOMPRESSION)),
    ("delete.retention.ms", Acts("How long compaction keeps tombstones (records with a null value).")),
    ("file.delete.delay.ms", Inert("a deleted segment's files are removed at once")),
    ("flush.messages", Acts("fsync in the background once this many records are unflushed; 1: after every write.")),
    ("flush.ms", Acts("fsync in the background data unflushed for this long.")),
    ("index.interval.bytes", Acts("Bytes of records between two offset index entries.")),
    ("max.compaction.lag.ms", Inert(NO_COMPACTION_TUNING)),
    ("max.message.bytes", Acts("Largest record batch accepted; larger: MESSAGE_TOO_LARGE.")),
    ("message.timestamp.type", Acts("`CreateTime` keeps the producer's timestamps; `LogAppendTime` stamps the broker's clock at append.")),
    ("message.timestamp.before.max.ms", Inert(NO_TIMESTAMP_BOUNDS)),
    ("message.timestamp.after.max.ms", Inert(NO_TIMESTAMP_BOUNDS)),
    ("message.timestamp.difference.max.ms", Inert(NO_TIMESTAMP_BOUNDS)),
    ("min.cleanable.dirty.ratio", Inert(NO_COMPACTION_TUNING)),
    ("min.compaction.lag.ms", Inert(NO_COMPACTION_TUNING)),
    ("min.insync.replicas", Acts("With acks=all, a partition whose ISR is smaller refuses writes (NOT_ENOUGH_REPLICAS).")),
    ("preallocate", Inert("segment files are not preallocated")),
    ("retention.bytes", Acts("Size a partition keeps; the oldest closed segments beyond it are deleted. -1: no limit.")),
    ("retention.ms", Acts("Age after which a closed segment is deleted; -1 keeps records forever.")),
    ("segment.bytes", Acts("The active segment rolls past this size.")),
    ("segment.index.bytes", Inert("index files grow with their segment")),
    ("segment.jitter.ms", Inert("segments roll without jitter")),
    ("segment.ms", Acts("The active segment rolls after this age.")),
    ("unclean.leader.election.enable", Acts("When no in-sync replica is left, an out-of-sync one may lead (records may be lost).")),
    ("message.downconversion.enable", Inert("only record batch v2 is served: nothing is converted")),
    ("local.retention.ms", Inert(NO_TIERED_STORAGE)),
    ("local.retention.bytes", Inert(NO_TIERED_STORAGE)),
    ("compression.gzip.level", Inert(NO_RECOMPRESSION)),
    ("compression.lz4.level", Inert(NO_RECOMPRESSION)),
    ("compression.zstd.level", Inert(NO_RECOMPRESSION)),
    ("remote.storage.enable", Inert(NO_TIERED_STORAGE)),
    ("leader.replication.throttled.replicas", Inert("Karst throttles exactly the replicas a reassignment adds (`leader.replication.throttled.rate`), whatever this lists")),
    ("follower.replication.throttled.replicas", Inert("Karst throttles exactly the replicas a reassignment adds (`follower.replication.throttled.rate`), whatever this lists")),
];

#[cfg(test)]
mod tests;
