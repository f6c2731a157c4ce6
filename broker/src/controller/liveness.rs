//! When each broker last heartbeated, as the active controller saw it.
//! Kept in memory on the active controller only (as KRaft's heartbeat
//! manager): a new active controller starts every session afresh, so a
//! broker is fenced only after a whole `broker.session.timeout.ms` without
//! heartbeats to the controller that fences it.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::metadata::MetadataImage;

#[derive(Debug)]
pub(crate) struct BrokerLiveness {
    session_timeout: Duration,
    inner: Mutex<Sessions>,
}

#[derive(Debug)]
struct Sessions {
    /// When this node last became the active controller: sessions count
    /// from here for brokers it has not heard from yet.
    since: Instant,
    was_active: bool,
    last_heartbeat: HashMap<i32, Instant>,
}

impl BrokerLiveness {
    pub(crate) fn new(session_timeout: Duration) -> Self {
        Self {
            session_timeout,
            inner: Mutex::new(Sessions {
                since: Instant::now(),
                was_active: false,
                last_heartbeat: HashMap::new(),
            }),
        }
    }

    /// Notes whether this node is the active controller now; becoming it
    /// starts every session afresh.
    pub(crate) fn set_active(&self, active: bool) {
        let mut sessions = self.inner.lock().expect("liveness lock");
        if active && !sessions.was_active {
            sessions.since = Instant::now();
            sessions.last_heartbeat.clear();
        }
        sessions.was_active = active;
    }

    pub(crate) fn heartbeat(&self, node_id: i32) {
        let mut sessions = self.inner.lock().expect("liveness lock");
        sessions.last_heartbeat.insert(node_id, Instant::now());
    }

    /// Whether `node_id` heartbeated within the session timeout.
    pub(crate) fn has_session(&self, node_id: i32) -> bool {
        let sessions = self.inner.lock().expect("liveness lock");
        sessions
            .last_heartbeat
            .get(&node_id)
            .is_some_and(|at| at.elapsed() < self.session_timeout)
    }

    /// Ends `node_id`'s session (it shut down or was fenced).
    pub(crate) fn end_session(&self, node_id: i32) {
        let mut sessions = self.inner.lock().expect("liveness lock");
        sessions.last_heartbeat.remove(&node_id);
    }

    /// Unfenced brokers whose session has run out.
    pub(crate) fn expired(&self, image: &MetadataImage) -> Vec<i32> {
        let sessions = self.inner.lock().expect("liveness lock");
        image
            .live_brokers()
            .map(|b| b.node_id)
            .filter(|id| {
                let last = sessions
                    .last_heartbeat
                    .get(id)
                    .copied()
                    .unwrap_or(sessions.since)
                    .max(sessions.since);
                last.elapsed() >= self.session_timeout
            })
            .collect()
    }
}
