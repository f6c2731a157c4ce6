//! Kafka's replication throttle, in Karst's simpler form. On a follower,
//! `follower.replication.throttled.rate` (bytes/s, a broker config) caps
//! what it fetches for the replicas a reassignment is adding here; on a
//! leader, `leader.replication.throttled.rate` caps what it sends to the
//! replicas a reassignment is adding that are not in sync yet. Either way a
//! move copying a partition's history cannot starve the followers already
//! in sync (and the acks=all producers waiting on them). Kafka instead
//! names the throttled replicas in the topic configs
//! `*.replication.throttled.replicas`; Karst throttles exactly the replicas
//! a reassignment adds, which is what those configs are set to in practice.
//!
//! A token bucket of one second's worth of bytes: bytes moved spend tokens,
//! and while the bucket is empty the throttled partitions are left out of
//! fetches (as Kafka's follower does) or answered without data (as Kafka's
//! leader does), so the others keep going.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use parking_lot::Mutex;

/// Which followed partitions are throttled, and the byte budget they share.
#[derive(Debug)]
pub(crate) struct ReplicationThrottle {
    /// Bytes per second; [`UNLIMITED`] (Kafka's default, Long.MAX) is none.
    /// Atomic: a dynamic broker config change sets it while fetchers run.
    rate: AtomicU64,
    throttled: Mutex<HashSet<(Arc<str>, i32)>>,
    bucket: Mutex<Bucket>,
}

#[derive(Debug)]
struct Bucket {
    /// Bytes that may be fetched now; negative after a fetch overspent.
    tokens: f64,
    refilled: Instant,
}

/// The rate that throttles nothing.
const UNLIMITED: u64 = i64::MAX as u64;

impl ReplicationThrottle {
    /// A throttle of `rate` bytes/s; `i64::MAX` or more means none.
    pub(crate) fn new(rate: u64) -> Self {
        Self {
            rate: AtomicU64::new(rate.min(UNLIMITED)),
            throttled: Mutex::new(HashSet::new()),
            bucket: Mutex::new(Bucket {
                tokens: rate.min(i64::MAX as u64) as f64,
                refilled: Instant::now(),
            }),
        }
    }

    /// The rate in force, `None` when unlimited.
    fn rate(&self) -> Option<u64> {
        let rate = self.rate.load(Ordering::Relaxed);
        (rate < UNLIMITED).then_some(rate)
    }

    /// Changes the rate (the throttle configs altered dynamically); it
    /// applies from the next fetch.
    pub(crate) fn set_rate(&self, rate: u64) {
        self.rate.store(rate.min(UNLIMITED), Ordering::Relaxed);
        let mut bucket = self.bucket.lock();
        bucket.tokens = bucket.tokens.min(rate.min(UNLIMITED) as f64);
    }

    /// Marks `topic`-`partition` throttled (a reassignment is adding
    /// replicas: this broker's, on a follower; any, on the leader) or not.
    /// Tracked even while unlimited, so that a rate set later applies to
    /// the moves already running.
    pub(crate) fn set(&self, topic: &Arc<str>, partition: i32, throttled: bool) {
        let mut set = self.throttled.lock();
        if throttled {
            set.insert((topic.clone(), partition));
        } else {
            set.remove(&(topic.clone(), partition));
        }
    }

    /// Whether fetches of `topic`-`partition` count against the budget.
    pub(crate) fn is_throttled(&self, topic: &Arc<str>, partition: i32) -> bool {
        self.rate().is_some() && self.throttled.lock().contains(&(topic.clone(), partition))
    }

    /// The most bytes a throttled partition may ask for in the next fetch:
    /// `None` while the budget is spent (leave it out of the fetch).
    pub(crate) fn allowance(&self, max: i32) -> Option<i32> {
        let Some(rate) = self.rate() else {
            return Some(max);
        };
        let tokens = self.refill(rate);
        (tokens >= 1.0).then(|| (tokens as i64).min(i64::from(max)) as i32)
    }

    /// Spends `bytes` fetched for throttled partitions.
    pub(crate) fn spend(&self, bytes: usize) {
        if self.rate().is_some() {
            self.bucket.lock().tokens -= bytes as f64;
        }
    }

    /// Adds the tokens earned since the last refill, up to one second's
    /// worth; the tokens now.
    fn refill(&self, rate: u64) -> f64 {
        let mut bucket = self.bucket.lock();
        let now = Instant::now();
        let earned = now.duration_since(bucket.refilled).as_secs_f64() * rate as f64;
        bucket.tokens = (bucket.tokens + earned).min(rate as f64);
        bucket.refilled = now;
        bucket.tokens
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unlimited_throttle_throttles_nothing() {
        let throttle = ReplicationThrottle::new(i64::MAX as u64);
        let topic: Arc<str> = Arc::from("t");
        throttle.set(&topic, 0, true);
        assert!(!throttle.is_throttled(&topic, 0));
        throttle.spend(1 << 40);
        assert_eq!(throttle.allowance(1024), Some(1024));
    }

    #[test]
    fn a_spent_budget_leaves_throttled_partitions_out() {
        let throttle = ReplicationThrottle::new(1000);
        let topic: Arc<str> = Arc::from("t");
        throttle.set(&topic, 0, true);
        assert!(throttle.is_throttled(&topic, 0));
        assert!(!throttle.is_throttled(&topic, 1));
        // At most one second's worth per fetch.
        assert_eq!(throttle.allowance(1 << 20), Some(1000));
        throttle.spend(1 << 30);
        assert_eq!(throttle.allowance(1 << 20), None);
        throttle.set(&topic, 0, false);
        assert!(!throttle.is_throttled(&topic, 0));
    }

    #[test]
    fn a_rate_set_while_running_throttles_the_moves_already_marked() {
        let throttle = ReplicationThrottle::new(i64::MAX as u64);
        let topic: Arc<str> = Arc::from("t");
        throttle.set(&topic, 0, true);
        throttle.set_rate(500);
        assert!(throttle.is_throttled(&topic, 0));
        assert_eq!(throttle.allowance(1 << 20), Some(500));
        throttle.set_rate(i64::MAX as u64);
        assert!(!throttle.is_throttled(&topic, 0));
    }
}
