//! A Karst node: start-up (data directory, metadata, logs, listeners,
//! background tasks), registration and shutdown. The shared state it wires
//! together is [`Broker`]; connections are served by [`crate::server`].

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::broker::Broker;
use crate::config::BrokerConfig;
use crate::controller::{ControllerChannel, Registration, TopicError};
use crate::group::GroupCoordinator;
use crate::http::{self, Health};
use crate::lifecycle::BrokerLifecycle;
use crate::log::{LogConfig, LogManager};
use crate::metadata::MetadataStore;
use crate::metrics::{BrokerState, Metrics};
use crate::producer::ProducerIdAllocator;
use crate::raft::{
    MetadataDelta, MetadataQuorum, MetadataUpdate, QuorumConfig, QuorumRole, QuorumStorage,
    RaftTiming,
};
use crate::replica::ReplicaManager;
use crate::{server, storage_meta};

/// Why the broker could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot bind {what} listener {address}: {source}")]
    Bind {
        what: &'static str,
        address: String,
        #[source]
        source: std::io::Error,
    },
    #[error("data directory {path}: {source}")]
    DataDir {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Metadata(#[from] crate::metadata::MetadataError),
    #[error(transparent)]
    Log(#[from] crate::log::LogError),
    #[error(transparent)]
    Replica(#[from] crate::replica::ReplicaError),
    #[error("invalid default log config: {0}")]
    LogConfig(#[from] crate::log::LogConfigError),
    #[error("registering this broker: {0}")]
    Register(TopicError),
    #[error("metadata quorum: {0}")]
    Quorum(#[from] crate::raft::QuorumError),
    #[error(transparent)]
    StorageMeta(#[from] storage_meta::StorageMetaError),
}

/// A started node; dropping it does not stop it, [`Node::shutdown`] does.
#[derive(Debug)]
pub struct Node {
    broker: Arc<Broker>,
    kafka_addr: SocketAddr,
    http_addr: SocketAddr,
    /// This node's part in the metadata quorum, when there is one.
    quorum: Option<Arc<MetadataQuorum>>,
    /// Registration and heartbeats of a broker in a quorum.
    lifecycle: Option<Arc<BrokerLifecycle>>,
    health: Health,
    shutdown: watch::Sender<bool>,
    tasks: JoinSet<()>,
}

impl Node {
    /// Opens the data directory (recovering logs after a crash), binds the
    /// Kafka and HTTP listeners and starts serving.
    pub async fn start(mut config: BrokerConfig) -> Result<Node, StartError> {
        crate::limits::fit_to_file_limit(&mut config);
        let config = Arc::new(config);
        let data_dir = config.log_dirs[0].clone();
        std::fs::create_dir_all(&data_dir).map_err(|source| StartError::DataDir {
            path: data_dir.display().to_string(),
            source,
        })?;
        let meta =
            storage_meta::load_or_init(&data_dir, config.node_id, config.cluster_id.as_deref())?;
        let metrics = Arc::new(Metrics::new());
        let health = Health::default();

        let listener = &config.listeners[0];
        let kafka_listeners = bind_kafka(&listener.host, listener.port).await?;
        let kafka_addr = kafka_listeners[0]
            .local_addr()
            .expect("bound socket has an address");
        let http_listener = bind_addr("HTTP", &config.http_listener).await?;
        let http_addr = http_listener
            .local_addr()
            .expect("bound socket has an address");

        let default_log_config = LogConfig::from_topic_configs(
            &crate::config::effective_topic_config(&Default::default(), &config),
        )?;
        crate::log::set_io_threads(config.num_io_threads.max(1) as usize);
        let logs = Arc::new(LogManager::open(&data_dir, default_log_config)?);
        let (shutdown, shutdown_rx) = watch::channel(false);
        let mut tasks = JoinSet::new();
        let quorum = match config.controller_quorum_voters.is_empty() {
            true => None,
            false => Some(Arc::new(
                start_quorum(&config, &meta.cluster_id, &data_dir).await?,
            )),
        };
        let metadata = Arc::new(match quorum {
            None => MetadataStore::open(&data_dir.join(crate::metadata::METADATA_DIR))?,
            Some(_) => MetadataStore::following_quorum(),
        });
        let replicas = Arc::new(ReplicaManager::new(
            config.node_id,
            config.clone(),
            logs.clone(),
        ));
        // Open every hosted partition now, so a log that cannot be opened
        // stops the start; then follow every metadata change.
        replicas.sync(&metadata.image())?;
        metadata.subscribe(replicas.clone());
        let controller = match &quorum {
            None => ControllerChannel::new(metadata.clone(), config.clone()),
            Some(quorum) => {
                tasks.spawn(follow_quorum(
                    quorum.subscribe(),
                    metadata.clone(),
                    shutdown_rx.clone(),
                ));
                ControllerChannel::with_quorum(
                    metadata.clone(),
                    config.clone(),
                    quorum.clone(),
                    meta.cluster_id.clone(),
                )
            }
        };
        replicas.set_controller(controller.clone());
        metrics.register(replicas.metrics().collectors());
        metrics.register(crate::log::log_io_metrics().collectors());
        tasks.spawn(replicas.clone().run_background(shutdown_rx.clone()));
        let broker = Arc::new(Broker {
            node_id: config.node_id,
            cluster_id: meta.cluster_id,
            controller: controller.clone(),
            replicas: replicas.clone(),
            metadata: metadata.clone(),
            metrics: metrics.clone(),
            producer_ids: ProducerIdAllocator::default(),
            groups: Arc::new(GroupCoordinator::new(
                config.clone(),
                metadata.clone(),
                replicas.clone(),
                controller.clone(),
            )),
            config: config.clone(),
        });
        let lifecycle = match config.process_roles.iter().any(|r| r == "broker") {
            true => Some(register(&broker, advertised(&config, kafka_addr)).await?),
            false => None,
        };
        if quorum.is_some() {
            if let Some(lifecycle) = &lifecycle {
                tasks.spawn(lifecycle.clone().run_heartbeats(shutdown_rx.clone()));
                tasks.spawn(follow_unfencing(
                    lifecycle.subscribe_unfenced(),
                    broker.clone(),
                    health.clone(),
                    shutdown_rx.clone(),
                ));
            }
            if config.process_roles.iter().any(|r| r == "controller") {
                tasks.spawn(crate::lifecycle::run_fencing(
                    controller.clone(),
                    Duration::from_millis(config.broker_heartbeat_interval_ms),
                    shutdown_rx.clone(),
                ));
                tasks.spawn(crate::controller::run_leader_balancing(
                    controller.clone(),
                    metadata.clone(),
                    config.clone(),
                    shutdown_rx.clone(),
                ));
            }
        }
        // The group coordinator loads the groups of each offsets partition
        // this node leads (now, and whenever leadership moves) and answers
        // for a group only once its partition is loaded.
        metadata.subscribe(broker.groups.clone());

        let limits = Arc::new(crate::limits::ConnectionLimits::new(
            &config,
            broker.metrics.clone(),
        ));
        for kafka_listener in kafka_listeners {
            tasks.spawn(server::serve(
                broker.clone(),
                kafka_listener,
                limits.clone(),
                shutdown_rx.clone(),
            ));
        }
        let mut http_shutdown = shutdown_rx.clone();
        tasks.spawn(http::serve(
            http_listener,
            metrics,
            health.clone(),
            async move {
                let _ = http_shutdown.wait_for(|stop| *stop).await;
            },
        ));
        tasks.spawn(crate::log::run_retention(
            logs,
            Duration::from_millis(config.log_retention_check_interval_ms),
            shutdown_rx.clone(),
        ));
        tasks.spawn(report_log_sizes(broker.clone(), shutdown_rx.clone()));
        tasks.spawn(crate::storage_health::watch_partitions(
            broker.clone(),
            health.clone(),
            shutdown_rx.clone(),
        ));
        tasks.spawn(crate::storage_health::watch_free_space(
            data_dir.clone(),
            config.message_max_bytes.max(0) as u64,
            health.clone(),
            shutdown_rx.clone(),
        ));
        tasks.spawn(report_cluster(
            broker.clone(),
            quorum.clone(),
            shutdown_rx.clone(),
        ));
        tasks.spawn(crate::group::run_session_reaper(
            broker.groups.clone(),
            shutdown_rx.clone(),
        ));
        health.set_ready(true);
        tracing::info!(
            node_id = broker.node_id,
            cluster_id = %broker.cluster_id,
            kafka = %kafka_addr,
            http = %http_addr,
            data = %data_dir.display(),
            "karst broker started"
        );
        Ok(Node {
            broker,
            lifecycle: lifecycle.filter(|_| quorum.is_some()),
            quorum,
            kafka_addr,
            http_addr,
            health,
            shutdown,
            tasks,
        })
    }
}

/// Starts this node's part of the metadata quorum: a voter when it has the
/// controller role, else an observer (a Raft learner that follows the log).
async fn start_quorum(
    config: &BrokerConfig,
    cluster_id: &str,
    data_dir: &std::path::Path,
) -> Result<MetadataQuorum, StartError> {
    let listener = &config.controller_listeners[0];
    let bound = bind_addr(
        "controller",
        &format!("{}:{}", listener.host, listener.port),
    )
    .await?;
    let role = if config.process_roles.iter().any(|r| r == "controller") {
        QuorumRole::Voter
    } else {
        QuorumRole::Observer
    };
    let quorum_config = QuorumConfig {
        node_id: config.node_id as u64,
        role,
        voters: config.controller_quorum_voters.clone(),
        cluster_id: cluster_id.to_owned(),
        storage: QuorumStorage::OnDisk {
            data_dir: data_dir.to_owned(),
        },
        timing: RaftTiming::default(),
    };
    Ok(MetadataQuorum::start(quorum_config, bound).await?)
}

/// Installs every image the quorum applies into the metadata store, which
/// publishes it to the replica manager and the other listeners.
async fn follow_quorum(
    mut updates: watch::Receiver<MetadataUpdate>,
    store: Arc<MetadataStore>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        let update = updates.borrow_and_update().clone();
        let delta: Vec<_> = match &update.delta {
            MetadataDelta::Records(records) => records.to_vec(),
            MetadataDelta::None | MetadataDelta::Snapshot => Vec::new(),
        };
        let index = update.applied.map_or(0, |id| id.index);
        store.apply_committed(index, update.image, &delta);
        tokio::select! {
            changed = updates.changed() => if changed.is_err() { return },
            _ = shutdown.wait_for(|stop| *stop) => return,
        }
    }
}

/// This broker's lifecycle: registered (or re-registered, when the
/// endpoint changed) before it serves; in a quorum, unfenced by a first
/// heartbeat, then heartbeating in the background.
async fn register(
    broker: &Broker,
    (host, port): (String, i32),
) -> Result<Arc<BrokerLifecycle>, StartError> {
    let config = &broker.config;
    // A node that is not a voter follows the metadata log at its controller
    // listener; the active controller adds it as an observer there.
    let controller_address = config
        .controller_listeners
        .first()
        .filter(|_| !config.controller_quorum_voters.is_empty())
        .map(|l| match l.host.as_str() {
            "" | "0.0.0.0" | "::" => format!("{host}:{}", l.port),
            listener_host => format!("{listener_host}:{}", l.port),
        });
    let registration = Registration {
        node_id: broker.node_id,
        host,
        port,
        rack: config.broker_rack.clone(),
        incarnation: Some(uuid::Uuid::new_v4()),
    };
    let lifecycle = Arc::new(BrokerLifecycle::new(
        broker.controller.clone(),
        registration,
        controller_address,
        Duration::from_millis(config.broker_heartbeat_interval_ms),
        Duration::from_millis(config.broker_session_timeout_ms),
    ));
    lifecycle.register().await.map_err(StartError::Register)?;
    if !config.controller_quorum_voters.is_empty() {
        lifecycle.heartbeat().await.map_err(StartError::Register)?;
    }
    Ok(lifecycle)
}

impl Node {
    pub fn kafka_addr(&self) -> SocketAddr {
        self.kafka_addr
    }

    pub fn http_addr(&self) -> SocketAddr {
        self.http_addr
    }

    /// The shared broker state (for in-process tests).
    pub fn broker(&self) -> &Arc<Broker> {
        &self.broker
    }

    /// Controlled shutdown: stop accepting, let connections finish, flush
    /// every log and write the clean-shutdown marker. A failed flush is
    /// logged; [`Self::shutdown_checked`] returns it.
    pub async fn shutdown(self) {
        let _ = self.shutdown_checked().await;
    }

    /// [`Self::shutdown`], returning whether every log was flushed. When one
    /// was not, no clean-shutdown marker is written (the next start recovers
    /// the logs) and the process should exit non-zero.
    pub async fn shutdown_checked(mut self) -> Result<(), crate::log::LogError> {
        self.health.set_ready(false);
        if let Some(lifecycle) = &self.lifecycle {
            let metrics = &self.broker.metrics;
            metrics.set_shutdown_state(BrokerState::PendingControlledShutdown);
            // Leadership moves away while this node still serves followers.
            lifecycle.shut_down().await;
            metrics.set_shutdown_state(BrokerState::ShuttingDown);
            // Whatever the controller could do: nothing waits on followers
            // any more (acks=all waits end with a retriable error).
            self.broker.replicas.resign_all();
        }
        if let Some(quorum) = &self.quorum {
            let started = std::time::Instant::now();
            if let Some(leader) = quorum.resign().await {
                tracing::info!(new_leader = leader, took = ?started.elapsed(), "quorum leadership moved to another controller");
            }
        }
        let _ = self.shutdown.send(true);
        let drained = tokio::time::timeout(Duration::from_secs(10), async {
            while self.tasks.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            tracing::warn!("connections did not finish within 10 s; closing them");
            self.tasks.abort_all();
        }
        if let Some(quorum) = &self.quorum {
            quorum.shutdown().await;
        }
        let flushed = self.broker.replicas.logs().shutdown();
        match &flushed {
            Ok(()) => tracing::info!("logs flushed; clean shutdown"),
            Err(error) => tracing::error!(
                %error,
                "flushing logs at shutdown failed; no clean-shutdown marker written, the next start recovers the logs"
            ),
        }
        flushed
    }
}

/// Follows this broker's fencing in a cluster: `/readyz` fails while the
/// controller has it fenced (still catching up with the metadata log after
/// a start, or cut off), so Kubernetes (and a rolling restart) waits for a
/// broker that serves its partitions, as Kafka's RUNNING state. At the first
/// unfencing the image is known to be caught up, which is when stray
/// replicas (moved away or deleted while this broker was down) are deleted.
async fn follow_unfencing(
    mut unfenced: watch::Receiver<bool>,
    broker: Arc<Broker>,
    health: Health,
    mut shutdown: watch::Receiver<bool>,
) {
    const KEY: &str = "fenced";
    let mut strays_checked = false;
    loop {
        let now_unfenced = *unfenced.borrow_and_update();
        let reason = (!now_unfenced).then(|| {
            "fenced by the controller (catching up with the metadata log, or missed heartbeats)"
                .to_owned()
        });
        if now_unfenced && !strays_checked {
            strays_checked = true;
            broker.replicas.delete_strays(&broker.image());
        }
        health.set_problem(KEY, reason);
        tokio::select! {
            changed = unfenced.changed() => if changed.is_err() { return },
            _ = shutdown.wait_for(|stop| *stop) => return,
        }
    }
}

/// Publishes the cluster gauges every second: active controller,
/// registered brokers, metadata position.
async fn report_cluster(
    broker: Arc<Broker>,
    quorum: Option<Arc<MetadataQuorum>>,
    mut shutdown: watch::Receiver<bool>,
) {
    let is_broker = broker.config.process_roles.iter().any(|r| r == "broker");
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.wait_for(|stop| *stop) => return,
        }
        let image = broker.image();
        let mut view = crate::metrics::ClusterView {
            active_controller: broker.controller.active_controller() == broker.node_id,
            registered_brokers: image.brokers.len(),
            fenced_brokers: image.brokers.values().filter(|b| b.fenced).count(),
            controlled_shutdown_brokers: image
                .brokers
                .values()
                .filter(|b| b.in_controlled_shutdown)
                .count(),
            broker_state: is_broker.then(|| match image.brokers.get(&broker.node_id) {
                None => BrokerState::Starting,
                Some(b) if b.fenced => BrokerState::Recovery,
                Some(_) => BrokerState::Running,
            }),
            broker_fenced: is_broker && image.brokers.get(&broker.node_id).is_none_or(|b| b.fenced),
            broker_epoch: image.brokers.get(&broker.node_id).map_or(-1, |b| b.epoch),
            ..Default::default()
        };
        if let Some(quorum) = &quorum {
            let raft = quorum.raft_metrics().borrow().clone();
            // The image this node serves (the state machine's publication).
            view.applied_index = quorum.subscribe().borrow().applied.map_or(0, |id| id.index);
            let log_end = raft.last_log_index.unwrap_or(0);
            view.log_end_index = log_end;
            // Raft reports its followers' matched positions only on the leader.
            view.replica_lag = raft
                .replication
                .iter()
                .flatten()
                .map(|(node, matched)| {
                    let matched = matched.map_or(0, |id| id.index);
                    (*node, log_end.saturating_sub(matched))
                })
                .collect();
        }
        broker.metrics.set_cluster(&view);
        broker
            .replicas
            .report_metrics(&image, view.active_controller);
    }
}

/// Publishes each hosted partition's size on disk as a gauge, periodically:
/// cheap enough to be exact at scrape resolution without touching the hot path.
async fn report_log_sizes(broker: Arc<Broker>, mut shutdown: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(Duration::from_secs(10));
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.wait_for(|stop| *stop) => return,
        }
        for partition in broker.replicas.all() {
            broker
                .metrics
                .set_log_size(&partition.topic, partition.index, partition.size_bytes());
        }
    }
}

/// The host and port clients are told to use: `advertised.listeners`, or the
/// listener's host with the port actually bound.
fn advertised(config: &BrokerConfig, bound: SocketAddr) -> (String, i32) {
    if let Some(listener) = config.advertised_listeners.first() {
        return (listener.host.clone(), listener.port as i32);
    }
    let host = match config.listeners[0].host.as_str() {
        "" | "0.0.0.0" | "::" => "localhost".to_owned(),
        host => host.to_owned(),
    };
    (host, i32::from(bound.port()))
}

/// Binds the Kafka listener. `localhost` is bound on both 127.0.0.1 and ::1
/// (when the host has IPv6), since clients resolve it either way.
async fn bind_kafka(host: &str, port: u16) -> Result<Vec<TcpListener>, StartError> {
    let error = |address: String| {
        move |source| StartError::Bind {
            what: "Kafka",
            address,
            source,
        }
    };
    match host {
        "" => Ok(vec![
            TcpListener::bind(("0.0.0.0", port))
                .await
                .map_err(error(format!("0.0.0.0:{port}")))?,
        ]),
        "localhost" => {
            let v4 = TcpListener::bind(("127.0.0.1", port))
                .await
                .map_err(error(format!("127.0.0.1:{port}")))?;
            let bound = v4.local_addr().expect("bound socket has an address").port();
            let mut listeners = vec![v4];
            if let Ok(v6) = TcpListener::bind(("::1", bound)).await {
                listeners.push(v6);
            }
            Ok(listeners)
        }
        host => Ok(vec![
            TcpListener::bind((host, port))
                .await
                .map_err(error(format!("{host}:{port}")))?,
        ]),
    }
}

async fn bind_addr(what: &'static str, address: &str) -> Result<TcpListener, StartError> {
    TcpListener::bind(address)
        .await
        .map_err(|source| StartError::Bind {
            what,
            address: address.to_owned(),
            source,
        })
}
