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
    /// When [`BrokerLiveness::expired`] last ran (every heartbeat interval).
    last_check: Option<Instant>,
}

impl BrokerLiveness {
    pub(crate) fn new(session_timeout: Duration) -> Self {
        Self {
            session_timeout,
            inner: Mutex::new(Sessions {
                since: Instant::now(),
                was_active: false,
                last_heartbeat: HashMap::new(),
                last_check: None,
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

    /// Whether `node_id` has a live session: it heartbeated within the
    /// session timeout, or it is unfenced in `image` and this controller has
    /// not been active for a session timeout yet (as in [`Self::expired`],
    /// and as Kafka's new active controller gives every registered broker a
    /// fresh session: right after a failover, before the broker's next
    /// heartbeat, a second process with its node id must still be refused).
    pub(crate) fn has_session(&self, image: &MetadataImage, node_id: i32) -> bool {
        let sessions = self.inner.lock().expect("liveness lock");
        match sessions.last_heartbeat.get(&node_id) {
            Some(at) => at.elapsed() < self.session_timeout,
            None => {
                image.brokers.get(&node_id).is_some_and(|b| !b.fenced)
                    && sessions.since.elapsed() < self.session_timeout
            }
        }
    }

    /// Ends `node_id`'s session (it shut down or was fenced).
    pub(crate) fn end_session(&self, node_id: i32) {
        let mut sessions = self.inner.lock().expect("liveness lock");
        sessions.last_heartbeat.remove(&node_id);
    }

    /// Unfenced brokers whose session has run out. A controller that did
    /// not run for half a session (the process was stopped, or starved of
    /// CPU) cannot have received the heartbeats sent meanwhile: it starts
    /// every session afresh instead of fencing brokers that were alive.
    pub(crate) fn expired(&self, image: &MetadataImage) -> Vec<i32> {
        let mut sessions = self.inner.lock().expect("liveness lock");
        let now = Instant::now();
        let paused = sessions
            .last_check
            .replace(now)
            .is_some_and(|last| now.duration_since(last) > self.session_timeout / 2);
        if paused {
            tracing::warn!(
                "the active controller did not run for half a broker session; broker sessions start afresh"
            );
            sessions.since = now;
            return vec![];
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metadata::MetadataRecord;

    fn image(fenced: bool) -> MetadataImage {
        let mut image = MetadataImage::empty();
        image.apply(&MetadataRecord::test_broker(1, None, fenced));
        image
    }

    #[test]
    fn a_new_active_controller_gives_unfenced_brokers_a_session() {
        let liveness = BrokerLiveness::new(Duration::from_secs(60));
        liveness.set_active(true);
        assert!(
            liveness.has_session(&image(false), 1),
            "before its first heartbeat here"
        );
        assert!(
            !liveness.has_session(&image(true), 1),
            "a fenced broker has none"
        );
        assert!(
            !liveness.has_session(&image(false), 2),
            "nor an unknown one"
        );
        liveness.heartbeat(1);
        liveness.end_session(1);
        // Ended sessions are fenced in the image (FenceBroker) as they end.
        assert!(!liveness.has_session(&image(true), 1));
    }

    #[test]
    fn a_controller_that_did_not_run_fences_nobody_for_a_session() {
        let liveness = BrokerLiveness::new(Duration::from_millis(200));
        liveness.set_active(true);
        let image = image(false);
        assert!(liveness.expired(&image).is_empty());
        // The controller sleeps past the session (as if stopped): the
        // brokers' heartbeats could not reach it, so nobody is fenced now...
        std::thread::sleep(Duration::from_millis(250));
        assert!(liveness.expired(&image).is_empty());
        // ...but a broker silent for a whole session afterwards is.
        for _ in 0..5 {
            std::thread::sleep(Duration::from_millis(50));
            liveness.expired(&image);
        }
        assert!(!liveness.expired(&image).is_empty());
    }

    #[test]
    fn a_session_ends_after_the_timeout() {
        let liveness = BrokerLiveness::new(Duration::ZERO);
        liveness.set_active(true);
        liveness.heartbeat(1);
        assert!(!liveness.has_session(&image(false), 1));
    }
}
