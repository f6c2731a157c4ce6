//! Status conditions (Ready, Progressing, Degraded), in the shape of
//! `metav1.Condition`, with helpers that keep `lastTransitionTime` stable
//! while a condition's status does not change.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// `True`, `False` or `Unknown`, as Kubernetes spells them.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum ConditionStatus {
    /// The condition holds.
    True,
    /// The condition does not hold.
    False,
    /// Not known yet.
    Unknown,
}

/// One observation about a resource.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    /// `Ready`, `Progressing` or `Degraded`.
    #[serde(rename = "type")]
    pub type_: String,
    /// Whether the condition holds.
    pub status: ConditionStatus,
    /// A CamelCase reason, stable enough for alerts.
    pub reason: String,
    /// A human-readable explanation.
    pub message: String,
    /// The spec generation this condition was computed from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// When `status` last changed (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<String>,
}

/// Condition type: the resource serves what its spec asks.
pub const READY: &str = "Ready";
/// Condition type: the operator is changing something.
pub const PROGRESSING: &str = "Progressing";
/// Condition type: the operator cannot do what the spec asks.
pub const DEGRADED: &str = "Degraded";

impl Condition {
    /// Builds a condition with no transition time (filled in by [`merge_conditions`]).
    pub fn new(
        type_: &str,
        status: ConditionStatus,
        reason: &str,
        message: impl Into<String>,
    ) -> Self {
        Self {
            type_: type_.to_owned(),
            status,
            reason: reason.to_owned(),
            message: message.into(),
            observed_generation: None,
            last_transition_time: None,
        }
    }

    /// Sets the generation the condition describes.
    pub fn at_generation(mut self, generation: Option<i64>) -> Self {
        self.observed_generation = generation;
        self
    }
}

/// Merges freshly computed conditions into the previous ones: a condition
/// whose status is unchanged keeps its `lastTransitionTime`; others get `now`.
pub fn merge_conditions(
    previous: &[Condition],
    fresh: Vec<Condition>,
    now: &str,
) -> Vec<Condition> {
    fresh
        .into_iter()
        .map(|mut c| {
            let old = previous.iter().find(|p| p.type_ == c.type_);
            c.last_transition_time = match old {
                Some(p) if p.status == c.status => p
                    .last_transition_time
                    .clone()
                    .or_else(|| Some(now.to_owned())),
                _ => Some(now.to_owned()),
            };
            c
        })
        .collect()
}

/// Finds a condition by type.
pub fn find<'a>(conditions: &'a [Condition], type_: &str) -> Option<&'a Condition> {
    conditions.iter().find(|c| c.type_ == type_)
}

/// The current time in RFC 3339, for `lastTransitionTime`.
pub fn now_rfc3339() -> String {
    k8s_openapi::jiff::Timestamp::now()
        .round(k8s_openapi::jiff::Unit::Second)
        .map(|t| t.to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unchanged_status_keeps_its_transition_time() {
        let old = vec![Condition {
            last_transition_time: Some("2026-01-01T00:00:00Z".into()),
            ..Condition::new(READY, ConditionStatus::True, "Ready", "ok")
        }];
        let merged = merge_conditions(
            &old,
            vec![
                Condition::new(READY, ConditionStatus::True, "Ready", "still ok"),
                Condition::new(DEGRADED, ConditionStatus::False, "AsExpected", ""),
            ],
            "2026-02-02T00:00:00Z",
        );
        assert_eq!(
            merged[0].last_transition_time.as_deref(),
            Some("2026-01-01T00:00:00Z")
        );
        assert_eq!(merged[0].message, "still ok");
        assert_eq!(
            merged[1].last_transition_time.as_deref(),
            Some("2026-02-02T00:00:00Z")
        );
    }

    #[test]
    fn changed_status_moves_the_transition_time() {
        let old = vec![Condition {
            last_transition_time: Some("2026-01-01T00:00:00Z".into()),
            ..Condition::new(READY, ConditionStatus::True, "Ready", "ok")
        }];
        let merged = merge_conditions(
            &old,
            vec![Condition::new(READY, ConditionStatus::False, "Down", "")],
            "2026-02-02T00:00:00Z",
        );
        assert_eq!(
            merged[0].last_transition_time.as_deref(),
            Some("2026-02-02T00:00:00Z")
        );
    }
}
