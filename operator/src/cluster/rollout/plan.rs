//! The next step of a rolling restart, decided from what is observed (pure).
//!
//! The StatefulSet is `OnDelete`: a Pod runs the template it was created
//! from until the operator deletes it. A broker is due for a restart when
//! its Pod's config hash or image differs from the template's, or it carries
//! the manual rolling-update annotation. One broker at a time: a broker that
//! does not run anyway (Pod not Ready) is restarted at once; otherwise a
//! restart waits until every broker is Ready, registered with the cluster
//! and in sync, and until its own restart keeps every partition at
//! `min.insync.replicas`; the active controller goes last. Every wait is
//! bounded: past `readyTimeoutSeconds` the roll is stuck and says on which
//! broker.

use std::time::Duration;

use k8s_openapi::jiff::Timestamp;

use super::availability::{self, PartitionReplicas};
use crate::{
    cluster::{dereference::ObservedPod, node_id::ordinal},
    crd::kafka_cluster::Operation,
};

/// `status.operation.name` while a roll runs.
pub const ROLLING_UPDATE: &str = "RollingUpdate";

/// What the Pods should run: the StatefulSet template's config hash and image.
#[derive(Debug, Clone, Copy)]
pub struct Desired<'a> {
    /// Config hash on the Pod template.
    pub config_hash: &'a str,
    /// Image of the broker container.
    pub image: &'a str,
}

/// Why a broker is restarted (also the `reason` label of the restart metric).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestartReason {
    /// The rendered configuration changed.
    ConfigChanged,
    /// The image (version) changed.
    ImageChanged,
    /// The manual rolling-update annotation asks for it.
    Manual,
}

impl RestartReason {
    /// Every reason (the metric's label values).
    pub const ALL: [RestartReason; 3] = [
        RestartReason::ConfigChanged,
        RestartReason::ImageChanged,
        RestartReason::Manual,
    ];

    /// Metric label and event wording.
    pub fn label(self) -> &'static str {
        match self {
            RestartReason::ConfigChanged => "config_changed",
            RestartReason::ImageChanged => "image_changed",
            RestartReason::Manual => "manual",
        }
    }

    fn phrase(self) -> &'static str {
        match self {
            RestartReason::ConfigChanged => "its configuration changed",
            RestartReason::ImageChanged => "its image changed",
            RestartReason::Manual => "a manual rolling update was requested",
        }
    }
}

/// What the brokers report, read while a roll is due or runs.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BrokerFacts {
    /// The active controller (DescribeQuorum's leader), if any.
    pub controller: Option<i32>,
    /// Registered brokers (DescribeCluster).
    pub registered: Vec<i32>,
    /// Every partition's replicas and ISR, with its topic's min ISR.
    pub partitions: Vec<PartitionReplicas>,
}

/// What the roll does now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// No broker is due; `finished` when a roll just completed.
    Idle {
        /// A roll was in progress and is now complete.
        finished: bool,
    },
    /// Delete this Pod now (the StatefulSet re-creates it from the template).
    Restart {
        /// Pod name.
        pod: String,
        /// Its node id.
        broker: i32,
        /// Why.
        reason: RestartReason,
        /// The sentence for the status, the event and the log.
        message: String,
    },
    /// The roll waits, within its bound.
    Wait(Waiting),
    /// The roll waited longer than its bound: stopped until the cause is fixed.
    Stuck(Waiting),
}

/// A wait of the roll: on which broker, since when, why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Waiting {
    /// The broker waited for, if one.
    pub broker: Option<i32>,
    /// When the wait began (RFC 3339).
    pub since: String,
    /// Why it waits.
    pub message: String,
}

impl Step {
    /// The `status.operation` this step shows (`None` when idle).
    pub fn operation(&self, now: &str) -> Option<Operation> {
        let op = |broker, since: &str, message: &str| Operation {
            name: ROLLING_UPDATE.to_owned(),
            broker,
            since: Some(since.to_owned()),
            message: Some(message.to_owned()),
            ..Operation::default()
        };
        match self {
            Step::Idle { .. } => None,
            Step::Restart {
                broker, message, ..
            } => Some(op(Some(*broker), now, message)),
            Step::Wait(w) | Step::Stuck(w) => Some(op(w.broker, &w.since, &w.message)),
        }
    }
}

/// Everything the decision depends on.
#[derive(Debug, Clone)]
pub struct RollInput<'a> {
    /// Broker Pods (not being deleted), sorted by name.
    pub pods: &'a [ObservedPod],
    /// StatefulSet name (Pod names are `<name>-<ordinal>`).
    pub stateful_set: &'a str,
    /// `spec.replicas`.
    pub replicas: i32,
    /// What the Pods should run.
    pub desired: Desired<'a>,
    /// `status.operation` as last written.
    pub previous: Option<&'a Operation>,
    /// Now.
    pub now: Timestamp,
    /// `spec.rollingUpdate.readyTimeoutSeconds`.
    pub ready_timeout: Duration,
}

/// Why `pod` must be restarted, if it must.
pub fn restart_reason(pod: &ObservedPod, desired: Desired<'_>) -> Option<RestartReason> {
    if pod.image.as_deref() != Some(desired.image) {
        Some(RestartReason::ImageChanged)
    } else if pod.config_hash.as_deref() != Some(desired.config_hash) {
        Some(RestartReason::ConfigChanged)
    } else if pod.manual_restart {
        Some(RestartReason::Manual)
    } else {
        None
    }
}

/// Whether the brokers must be asked for [`BrokerFacts`]: some broker is
/// due, or a roll is in progress (its last broker may not be back yet).
pub fn facts_needed(input: &RollInput<'_>) -> bool {
    rolling(input.previous).is_some()
        || input
            .pods
            .iter()
            .any(|p| restart_reason(p, input.desired).is_some())
}

fn rolling(previous: Option<&Operation>) -> Option<&Operation> {
    previous.filter(|op| op.name == ROLLING_UPDATE)
}

/// The next step, given what the brokers report (`Err`: they could not be asked).
pub fn next_step(input: &RollInput<'_>, facts: Result<&BrokerFacts, &str>) -> Step {
    let due: Vec<(&ObservedPod, i32, RestartReason)> = input
        .pods
        .iter()
        .filter_map(|p| {
            let reason = restart_reason(p, input.desired)?;
            let broker = i32::try_from(ordinal(&p.name, input.stateful_set)?).ok()?;
            Some((p, broker, reason))
        })
        .collect();
    let in_progress = rolling(input.previous).is_some();
    if due.is_empty() && !in_progress {
        return Step::Idle { finished: false };
    }
    // A due broker that does not serve anyway is restarted at once: this is
    // also how a roll stuck on a broken Pod resumes once the spec is fixed.
    if let Some((pod, broker, reason)) = due.iter().find(|(p, ..)| !p.ready) {
        return restart(pod, *broker, *reason);
    }
    let facts = match facts {
        Ok(facts) => facts,
        Err(error) => {
            return wait(
                input,
                None,
                format!("the brokers' state cannot be read: {error}"),
            );
        }
    };
    // Nobody goes down while another broker is down or unregistered, nor
    // before the broker restarted last is back in sync.
    let restarted_last = rolling(input.previous).and_then(|op| op.broker);
    for broker in 0..input.replicas {
        if let Some(problem) = not_back(input, facts, broker, restarted_last == Some(broker)) {
            return wait(input, Some(broker), problem);
        }
    }
    if due.is_empty() {
        return Step::Idle { finished: true };
    }
    // The active controller last: every restart of it moves the quorum's leadership.
    let (others, controller): (Vec<_>, Vec<_>) = due
        .iter()
        .partition(|(_, broker, _)| Some(*broker) != facts.controller);
    let candidates = if others.is_empty() {
        controller
    } else {
        others
    };
    let mut refusals = Vec::new();
    for &(pod, broker, reason) in candidates {
        let blocking = availability::blocking(broker, &facts.partitions);
        if blocking.is_empty() {
            return restart(pod, broker, reason);
        }
        let partitions: Vec<String> = blocking.iter().map(|p| p.describe()).collect();
        refusals.push((
            broker,
            format!(
                "restarting broker {broker} would take {} below min.insync.replicas",
                partitions.join(", ")
            ),
        ));
    }
    let (broker, _) = refusals[0];
    let message = refusals
        .into_iter()
        .map(|(_, m)| m)
        .collect::<Vec<_>>()
        .join("; ");
    wait(input, Some(broker), message)
}

fn restart(pod: &ObservedPod, broker: i32, reason: RestartReason) -> Step {
    Step::Restart {
        pod: pod.name.clone(),
        broker,
        reason,
        message: format!(
            "restarting broker {broker} (Pod {}): {}",
            pod.name,
            reason.phrase()
        ),
    }
}

/// Why `broker` is not back: Pod Ready, registered, and (`check_isr`, for
/// the broker restarted last) in every ISR it belongs to. Other brokers
/// lagging are the min ISR check's concern, not a reason to stop.
fn not_back(
    input: &RollInput<'_>,
    facts: &BrokerFacts,
    broker: i32,
    check_isr: bool,
) -> Option<String> {
    let pod_name = format!("{}-{broker}", input.stateful_set);
    let Some(pod) = input.pods.iter().find(|p| p.name == pod_name) else {
        return Some(format!(
            "waiting for broker {broker}: Pod {pod_name} does not exist yet"
        ));
    };
    if !pod.ready {
        let detail = pod
            .container_problem
            .as_ref()
            .map(|p| format!(" ({p})"))
            .unwrap_or_default();
        return Some(format!(
            "waiting for broker {broker}: Pod {pod_name} is not Ready{detail}"
        ));
    }
    if !facts.registered.contains(&broker) {
        return Some(format!(
            "waiting for broker {broker} (Pod {pod_name}) to register with the cluster"
        ));
    }
    let behind = availability::out_of_sync(broker, &facts.partitions);
    if check_isr && !behind.is_empty() {
        let partitions: Vec<String> = behind.iter().map(|p| p.describe()).collect();
        return Some(format!(
            "waiting for broker {broker} (Pod {pod_name}) to catch up: not in the ISR of {}",
            partitions.join(", ")
        ));
    }
    None
}

/// A wait on `broker`: it keeps the start of the previous step when that
/// concerned the same broker (the bound counts from the restart), and is
/// stuck once longer than the bound.
fn wait(input: &RollInput<'_>, broker: Option<i32>, message: String) -> Step {
    let since = rolling(input.previous)
        .filter(|op| op.broker == broker)
        .and_then(|op| op.since.clone())
        .filter(|since| since.parse::<Timestamp>().is_ok())
        .unwrap_or_else(|| rfc3339(input.now));
    let started = since.parse::<Timestamp>().unwrap_or(input.now);
    let waited = input.now.duration_since(started).as_secs();
    let bound = input.ready_timeout;
    if waited > i64::try_from(bound.as_secs()).unwrap_or(i64::MAX) {
        Step::Stuck(Waiting {
            broker,
            since,
            message: format!(
                "rolling update stopped after {}s (spec.rollingUpdate.readyTimeoutSeconds): {message}",
                bound.as_secs()
            ),
        })
    } else {
        Step::Wait(Waiting {
            broker,
            since,
            message,
        })
    }
}

/// `t` as RFC 3339, to the second.
pub fn rfc3339(t: Timestamp) -> String {
    t.round(k8s_openapi::jiff::Unit::Second)
        .unwrap_or(t)
        .to_string()
}

#[cfg(test)]
#[path = "plan_tests.rs"]
mod tests;
