//! The broker: its shared state, start-up and shutdown.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::config::BrokerConfig;
use crate::controller::{self, NewTopic, TopicError};
use crate::group::GroupCoordinator;
use crate::http::{self, Health};
use crate::log::{LogConfig, LogManager};
use crate::metadata::{MetadataImage, MetadataRecord, MetadataStore, TopicImage};
use crate::metrics::Metrics;
use crate::producer::ProducerIdAllocator;
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
    #[error(transparent)]
    StorageMeta(#[from] storage_meta::StorageMetaError),
}

/// State shared by every connection and background task.
#[derive(Debug)]
pub struct Broker {
    pub(crate) config: Arc<BrokerConfig>,
    pub(crate) node_id: i32,
    pub(crate) cluster_id: String,
    pub(crate) metadata: MetadataStore,
    pub(crate) replicas: ReplicaManager,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) producer_ids: ProducerIdAllocator,
    pub(crate) groups: GroupCoordinator,
}

/// A started broker; dropping it does not stop it, [`RunningBroker::shutdown`] does.
#[derive(Debug)]
pub struct RunningBroker {
    broker: Arc<Broker>,
    kafka_addr: SocketAddr,
    http_addr: SocketAddr,
    health: Health,
    shutdown: watch::Sender<bool>,
    tasks: JoinSet<()>,
}

impl Broker {
    /// Opens the data directory (recovering logs after a crash), binds the
    /// Kafka and HTTP listeners and starts serving.
    pub async fn start(mut config: BrokerConfig) -> Result<RunningBroker, StartError> {
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
        let logs = Arc::new(LogManager::open(&data_dir, default_log_config)?);
        let metadata = MetadataStore::open(&data_dir.join(crate::metadata::METADATA_DIR))?;
        let broker = Arc::new(Broker {
            node_id: config.node_id,
            cluster_id: meta.cluster_id,
            replicas: ReplicaManager::new(config.node_id, config.clone(), logs.clone()),
            metadata,
            metrics: metrics.clone(),
            producer_ids: ProducerIdAllocator::default(),
            groups: GroupCoordinator::default(),
            config: config.clone(),
        });
        broker.register(advertised(&config, kafka_addr))?;
        // Groups and committed offsets are rebuilt before any request is
        // served, so no client can read offsets that are not loaded yet.
        broker.groups.load(&broker);

        let (shutdown, shutdown_rx) = watch::channel(false);
        let mut tasks = JoinSet::new();
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
        tasks.spawn(crate::group::run_session_reaper(
            broker.clone(),
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
        Ok(RunningBroker {
            broker,
            kafka_addr,
            http_addr,
            health,
            shutdown,
            tasks,
        })
    }

    /// Registers (or re-registers, when the endpoint changed) this broker.
    fn register(&self, (host, port): (String, i32)) -> Result<(), StartError> {
        let node_id = self.node_id;
        let (image, ()) = self.metadata.update(|image| {
            let current = image.brokers.get(&node_id);
            let unchanged = current.is_some_and(|b| b.host == host && b.port == port);
            let records = if unchanged {
                vec![]
            } else {
                vec![MetadataRecord::RegisterBroker {
                    node_id,
                    host: host.clone(),
                    port,
                    rack: self.config.broker_rack.clone(),
                }]
            };
            Ok::<_, StartError>((records, ()))
        })?;
        self.replicas.sync(&image)?;
        Ok(())
    }

    /// The current metadata image.
    pub(crate) fn image(&self) -> Arc<MetadataImage> {
        self.metadata.image()
    }

    /// Runs a controller decision against the current image, persists its
    /// records and brings hosted partitions in line. Returns the new image.
    /// The logs of new partitions are opened before the records are written
    /// and removed again if writing fails, so a change that succeeds has
    /// every partition usable and one that fails leaves nothing behind.
    pub(crate) fn commit<T>(
        &self,
        decide: impl FnOnce(&MetadataImage) -> Result<(Vec<MetadataRecord>, T), TopicError>,
    ) -> Result<(Arc<MetadataImage>, T), TopicError> {
        let logs = self.replicas.logs();
        let (image, out) = self.metadata.update_prepared(
            decide,
            |current, next| {
                let wanted = self.new_hosted_partitions(current, next)?;
                logs.open_new(wanted).map_err(|e| {
                    TopicError::StorageFailed(format!("cannot open a partition log: {e}"))
                })
            },
            |created| logs.discard(&created),
        )?;
        if let Err(error) = self.replicas.sync(&image) {
            tracing::error!(%error, "metadata committed but a partition could not be opened");
            return Err(TopicError::StorageFailed(format!(
                "committed, but a partition could not be opened: {error}"
            )));
        }
        Ok((image, out))
    }

    /// Partitions that `next` places on this broker and `current` does not
    /// have, with their log configs.
    fn new_hosted_partitions(
        &self,
        current: &MetadataImage,
        next: &MetadataImage,
    ) -> Result<Vec<(String, i32, LogConfig)>, TopicError> {
        let mut wanted = Vec::new();
        for topic in next.topics.values() {
            let existing = current
                .topic(&topic.name)
                .filter(|t| t.id == topic.id)
                .map_or(0, |t| t.partitions.len());
            let mut new = topic.partitions[existing.min(topic.partitions.len())..]
                .iter()
                .filter(|p| p.replicas.contains(&self.node_id))
                .peekable();
            if new.peek().is_none() {
                continue;
            }
            let config = self
                .replicas
                .log_config(topic)
                .map_err(|e| TopicError::InvalidConfig(e.to_string()))?;
            wanted.extend(new.map(|p| (topic.name.clone(), p.partition, config.clone())));
        }
        Ok(wanted)
    }

    /// Creates topics, each independently: one failing does not stop the
    /// others. With `validate_only` nothing is written.
    pub(crate) fn create_topics(
        &self,
        topics: &[NewTopic],
        validate_only: bool,
    ) -> Vec<Result<Arc<TopicImage>, TopicError>> {
        let result = self.commit(|image| {
            let mut scratch = image.clone();
            let mut records = Vec::new();
            let mut outcomes = Vec::with_capacity(topics.len());
            for topic in topics {
                match controller::create_topic_records(&scratch, &self.config, topic) {
                    Ok(new) => {
                        for record in &new {
                            scratch.apply(record);
                        }
                        outcomes.push(Ok(()));
                        if !validate_only {
                            records.extend(new);
                        }
                    }
                    Err(e) => outcomes.push(Err(e)),
                }
            }
            Ok((records, (outcomes, scratch)))
        });
        match result {
            Ok((_, (outcomes, scratch))) => outcomes
                .into_iter()
                .zip(topics)
                .map(|(outcome, topic)| {
                    outcome.map(|()| scratch.topic(&topic.name).expect("just created").clone())
                })
                .collect(),
            // One failed write answers every topic of the request with it.
            Err(e) => {
                let message = e.to_string();
                let storage = e.code() == kafka_protocol::ResponseError::KafkaStorageError;
                topics
                    .iter()
                    .map(|_| {
                        Err(if storage {
                            TopicError::StorageFailed(message.clone())
                        } else {
                            TopicError::InvalidRequest(message.clone())
                        })
                    })
                    .collect()
            }
        }
    }

    /// Creates `name` with the broker defaults if `auto.create.topics.enable`.
    pub(crate) fn auto_create_topic(
        &self,
        name: &str,
    ) -> Option<Result<Arc<TopicImage>, TopicError>> {
        if !self.config.auto_create_topics_enable {
            return None;
        }
        let topic = NewTopic {
            name: name.to_owned(),
            num_partitions: -1,
            replication_factor: -1,
            assignments: vec![],
            configs: vec![],
        };
        let outcome = self
            .create_topics(std::slice::from_ref(&topic), false)
            .pop()?;
        Some(match outcome {
            // Lost a race with another creator: the topic exists, use it.
            Err(TopicError::AlreadyExists(_)) => self
                .image()
                .topic(name)
                .cloned()
                .ok_or_else(|| TopicError::UnknownTopic(name.to_owned())),
            other => other,
        })
    }
}

impl RunningBroker {
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
        let _ = self.shutdown.send(true);
        let drained = tokio::time::timeout(Duration::from_secs(10), async {
            while self.tasks.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            tracing::warn!("connections did not finish within 10 s; closing them");
            self.tasks.abort_all();
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
            broker.metrics.set_log_size(
                &partition.topic,
                partition.index,
                partition.log.size_bytes(),
            );
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
