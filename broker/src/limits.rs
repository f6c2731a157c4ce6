//! Limits that keep one client, or many, from taking the broker down:
//! connections in total and per IP address (`max.connections`,
//! `max.connections.per.ip`), idle connections (`connections.max.idle.ms`),
//! the memory of requests being read (`queued.max.request.bytes`), and the
//! file descriptors all of these and the partitions need, checked against
//! the process's file limit at start.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::config::BrokerConfig;
use crate::metrics::Metrics;

/// Descriptors kept aside from the budget: listeners, the HTTP server, the
/// metadata log, the runtime, index files opened for a moment.
const RESERVED_FDS: u64 = 64;
/// What a partition costs: its active segment's `.log`, and on average one
/// closed segment (closed segments keep their `.log` open for reads).
const FDS_PER_PARTITION: u64 = 2;
/// Below this file limit the start-up line about the budget is a warning.
const LOW_FILE_LIMIT: u64 = 16_384;

/// Raises the soft file limit to the hard one (as Kafka's start scripts
/// advise) and fits `max.connections` and `max.broker.partitions` into it:
/// half of the descriptors for connections, half for partitions. Warns when
/// it lowers a setting, so the operator knows to raise `ulimit -n`.
pub(crate) fn fit_to_file_limit(config: &mut BrokerConfig) {
    let limit = raise_file_limit();
    let Some(limit) = limit else {
        return;
    };
    let usable = limit.saturating_sub(RESERVED_FDS);
    let connections = (usable / 2).max(1) as usize;
    let partitions = (usable / 2 / FDS_PER_PARTITION).max(1) as usize;
    if config.max_connections > connections {
        if config.is_set("max.connections") {
            tracing::warn!(
                file_limit = limit,
                "max.connections={} does not fit the file limit; using {connections} (raise `ulimit -n`)",
                config.max_connections
            );
        }
        config.max_connections = connections;
    }
    if config.max_broker_partitions > partitions {
        if config.is_set("max.broker.partitions") {
            tracing::warn!(
                file_limit = limit,
                "max.broker.partitions={} does not fit the file limit; using {partitions} (raise `ulimit -n`)",
                config.max_broker_partitions
            );
        }
        config.max_broker_partitions = partitions;
    }
    if limit < LOW_FILE_LIMIT {
        tracing::warn!(
            file_limit = limit,
            max_connections = config.max_connections,
            max_broker_partitions = config.max_broker_partitions,
            "the file limit is low and bounds connections and partitions; raise `ulimit -n` (Kafka advises 100000 or more)"
        );
    } else {
        tracing::info!(
            file_limit = limit,
            max_connections = config.max_connections,
            max_broker_partitions = config.max_broker_partitions,
            "file descriptor budget"
        );
    }
}

/// Raises the soft `RLIMIT_NOFILE` to the hard limit; returns the soft
/// limit in force afterwards (`None`: unlimited or unknown).
fn raise_file_limit() -> Option<u64> {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let mut rlimit = getrlimit(Resource::Nofile);
    if rlimit.current != rlimit.maximum {
        let raised = rustix::process::Rlimit {
            current: rlimit.maximum,
            maximum: rlimit.maximum,
        };
        match setrlimit(Resource::Nofile, raised) {
            Ok(()) => rlimit = getrlimit(Resource::Nofile),
            Err(error) => {
                tracing::warn!(%error, "could not raise the soft file limit to the hard one")
            }
        }
    }
    rlimit.current
}

/// Why a new connection was refused.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Refused {
    #[error("max.connections ({0}) reached")]
    Total(usize),
    #[error("max.connections.per.ip ({limit}) reached for {ip}")]
    PerIp { ip: IpAddr, limit: usize },
}

impl Refused {
    /// The setting that refused, as a metric label.
    pub(crate) fn setting(&self) -> &'static str {
        match self {
            Self::Total(_) => "max.connections",
            Self::PerIp { .. } => "max.connections.per.ip",
        }
    }
}

/// Connection and request-memory limits shared by every listener.
#[derive(Debug)]
pub(crate) struct ConnectionLimits {
    max_connections: usize,
    max_per_ip: usize,
    /// Open connections: in total and by peer address.
    open: Mutex<(usize, HashMap<IpAddr, usize>)>,
    /// `None`: connections are never closed for idleness.
    pub(crate) idle_timeout: Option<Duration>,
    /// Bytes of requests being read or handled; `None`: no bound.
    request_memory: Option<(Arc<Semaphore>, usize)>,
    metrics: Arc<Metrics>,
}

impl ConnectionLimits {
    pub(crate) fn new(config: &BrokerConfig, metrics: Arc<Metrics>) -> Self {
        let request_memory = usize::try_from(config.queued_max_request_bytes)
            .ok()
            .filter(|&bytes| bytes > 0)
            .map(|bytes| {
                let bytes = bytes.min(Semaphore::MAX_PERMITS);
                (Arc::new(Semaphore::new(bytes)), bytes)
            });
        Self {
            max_connections: config.max_connections,
            max_per_ip: config.max_connections_per_ip,
            open: Mutex::new((0, HashMap::new())),
            idle_timeout: u64::try_from(config.connections_max_idle_ms)
                .ok()
                .map(Duration::from_millis),
            request_memory,
            metrics,
        }
    }

    /// Admits a connection from `ip`, or says which limit refuses it. The
    /// slot is given back when the returned value is dropped.
    pub(crate) fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<ConnectionSlot, Refused> {
        let mut open = self.open.lock();
        if open.0 >= self.max_connections {
            return Err(Refused::Total(self.max_connections));
        }
        let per_ip = open.1.entry(ip).or_default();
        if *per_ip >= self.max_per_ip {
            let limit = self.max_per_ip;
            if *per_ip == 0 {
                open.1.remove(&ip);
            }
            return Err(Refused::PerIp { ip, limit });
        }
        *per_ip += 1;
        open.0 += 1;
        Ok(ConnectionSlot {
            limits: self.clone(),
            ip,
        })
    }

    /// Waits until `size` bytes of request memory are free and takes them
    /// (a request larger than the whole budget takes all of it, so it still
    /// runs, alone). `None` when memory is not bounded.
    pub(crate) async fn reserve_request(&self, size: usize) -> Option<RequestMemory> {
        let (memory, total) = self.request_memory.as_ref()?;
        let permits = u32::try_from(size.min(*total)).unwrap_or(u32::MAX);
        let permit = match memory.clone().try_acquire_many_owned(permits) {
            Ok(permit) => permit,
            Err(_) => {
                self.metrics.request_memory_waiting(1);
                let permit = memory.clone().acquire_many_owned(permits).await;
                self.metrics.request_memory_waiting(-1);
                permit.expect("the request memory semaphore is never closed")
            }
        };
        self.metrics.request_memory_held(i64::from(permits));
        Some(RequestMemory {
            _permit: permit,
            bytes: permits,
            metrics: self.metrics.clone(),
        })
    }
}

/// Request memory held while a request is read and handled; dropping it
/// gives the bytes back.
#[derive(Debug)]
pub(crate) struct RequestMemory {
    _permit: OwnedSemaphorePermit,
    bytes: u32,
    metrics: Arc<Metrics>,
}

impl Drop for RequestMemory {
    fn drop(&mut self) {
        self.metrics.request_memory_held(-i64::from(self.bytes));
    }
}

/// An admitted connection; dropping it frees its place.
#[derive(Debug)]
pub(crate) struct ConnectionSlot {
    limits: Arc<ConnectionLimits>,
    ip: IpAddr,
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        let mut open = self.limits.open.lock();
        open.0 -= 1;
        if let Some(count) = open.1.get_mut(&self.ip) {
            *count -= 1;
            if *count == 0 {
                open.1.remove(&self.ip);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(total: &str, per_ip: &str) -> Arc<ConnectionLimits> {
        let mut config = BrokerConfig::default();
        config.set("max.connections", total).unwrap();
        config.set("max.connections.per.ip", per_ip).unwrap();
        Arc::new(ConnectionLimits::new(&config, Arc::default()))
    }

    #[test]
    fn connections_are_capped_in_total_and_per_address_and_slots_come_back() {
        let limits = limits("3", "2");
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let a1 = limits.admit(a).unwrap();
        let _a2 = limits.admit(a).unwrap();
        assert!(matches!(
            limits.admit(a),
            Err(Refused::PerIp { limit: 2, .. })
        ));
        let _b1 = limits.admit(b).unwrap();
        assert!(matches!(limits.admit(b), Err(Refused::Total(3))));
        drop(a1);
        let _b2 = limits.admit(b).unwrap();
        assert!(matches!(limits.admit(a), Err(Refused::Total(3))));
    }

    #[tokio::test]
    async fn request_memory_is_bounded_and_an_oversized_request_runs_alone() {
        let mut config = BrokerConfig::default();
        config.set("queued.max.request.bytes", "1000").unwrap();
        let limits = ConnectionLimits::new(&config, Arc::default());
        let big = limits.reserve_request(5000).await.unwrap();
        let memory = &limits.request_memory.as_ref().unwrap().0;
        assert_eq!(memory.available_permits(), 0);
        drop(big);
        let _half = limits.reserve_request(500).await.unwrap();
        assert_eq!(memory.available_permits(), 500);
    }
}
