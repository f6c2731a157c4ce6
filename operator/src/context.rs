//! State shared by every reconciliation.

use std::{collections::HashMap, sync::Mutex, time::Duration};

use kube::{Client, runtime::events::Reporter};

use crate::metrics::Metrics;

/// Tunables of the controllers.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Version (and image tag) when a cluster does not name one.
    pub default_version: String,
    /// How often a ready cluster is re-checked.
    pub cluster_resync: Duration,
    /// How often each topic is compared with the broker (drift is reverted then).
    pub topic_resync: Duration,
    /// Longest retry delay after failures.
    pub max_backoff: Duration,
    /// The Kubernetes cluster's DNS domain, in the brokers' advertised names.
    pub cluster_domain: String,
    /// The operator's own image: rack-aware broker Pods run it as their
    /// init container (`karst-operator rack`).
    pub operator_image: String,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            default_version: env!("CARGO_PKG_VERSION").to_owned(),
            cluster_resync: Duration::from_secs(60),
            topic_resync: Duration::from_secs(60),
            max_backoff: Duration::from_secs(300),
            cluster_domain: "cluster.local".to_owned(),
            operator_image: default_operator_image(),
        }
    }
}

/// `karst-operator:<version>`, the image this operator would be released as.
pub fn default_operator_image() -> String {
    concat!("karst-operator:", env!("CARGO_PKG_VERSION")).to_owned()
}

/// Shared by both controllers.
pub struct Context {
    /// API client.
    pub client: Client,
    /// Metrics.
    pub metrics: Metrics,
    /// Who publishes Events.
    pub reporter: Reporter,
    /// Tunables.
    pub settings: Settings,
    failures: Mutex<HashMap<String, u32>>,
}

impl Context {
    /// Creates the context.
    pub fn new(client: Client, metrics: Metrics, reporter: Reporter, settings: Settings) -> Self {
        Self {
            client,
            metrics,
            reporter,
            settings,
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// Records a failed reconcile of `key` (see [`backoff_key`]) under
    /// `reason` and requeues it after the key's backoff delay; the error
    /// policy of both controllers.
    pub fn requeue_after_failure(
        &self,
        controller: &str,
        reason: &'static str,
        key: &str,
        error: &dyn std::fmt::Display,
    ) -> kube::runtime::controller::Action {
        self.metrics.reconcile_failed(controller, reason);
        let delay = self.backoff(key);
        tracing::warn!(controller, resource = %key, %error, retry_in = ?delay, "reconcile failed");
        kube::runtime::controller::Action::requeue(delay)
    }

    /// Next retry delay for `key` (1 s doubling up to `max_backoff`); counts the failure.
    pub fn backoff(&self, key: &str) -> Duration {
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        let n = failures.entry(key.to_owned()).or_insert(0);
        *n = n.saturating_add(1);
        backoff_delay(*n, self.settings.max_backoff)
    }

    /// Forgets failures of `key` after a success.
    pub fn reset_backoff(&self, key: &str) {
        self.failures
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(key);
    }
}

/// Exponential backoff: 1 s after the first failure, doubling, capped.
pub fn backoff_delay(failures: u32, max: Duration) -> Duration {
    let secs = 1u64
        .checked_shl(failures.saturating_sub(1).min(20))
        .unwrap_or(u64::MAX);
    Duration::from_secs(secs).min(max)
}

/// The key under which failures of `object` are counted for backoff:
/// `<Kind>/<namespace>/<name>`, the same for the error policy and for the
/// reset after a success.
pub fn backoff_key<K: kube::Resource<DynamicType = ()>>(object: &K) -> String {
    use kube::ResourceExt;
    format!(
        "{}/{}/{}",
        K::kind(&()),
        object.namespace().unwrap_or_default(),
        object.name_any()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        let max = Duration::from_secs(60);
        let delays: Vec<u64> = (1..=8).map(|n| backoff_delay(n, max).as_secs()).collect();
        assert_eq!(delays, [1, 2, 4, 8, 16, 32, 60, 60]);
        assert_eq!(backoff_delay(1000, max), max);
    }
}
