//! The broker's probes: readiness on `/readyz`, liveness on `/healthz`, and
//! a startup probe that holds liveness back while a broker recovers its
//! logs (a large log can take minutes; killing the broker then would only
//! restart the recovery). Users may change each one's timings.

use k8s_openapi::{
    api::core::v1::{HTTPGetAction, Probe},
    apimachinery::pkg::util::intstr::IntOrString,
};

use crate::crd::kafka_cluster::ProbeTimings;

/// `/readyz` every 5 s; 3 failures take the broker out of the Services.
pub fn readiness(user: Option<ProbeTimings>) -> Probe {
    http_probe("/readyz", defaults(0, 5, 3), user)
}

/// `/healthz` every 10 s; 3 failures restart the broker.
pub fn liveness(user: Option<ProbeTimings>) -> Probe {
    http_probe("/healthz", defaults(0, 10, 3), user)
}

/// `/healthz` every 5 s, up to 5 minutes before liveness takes over.
pub fn startup(user: Option<ProbeTimings>) -> Probe {
    http_probe("/healthz", defaults(0, 5, 60), user)
}

fn defaults(initial_delay: i32, period: i32, failure_threshold: i32) -> ProbeTimings {
    ProbeTimings {
        initial_delay_seconds: Some(initial_delay),
        period_seconds: Some(period),
        timeout_seconds: Some(1),
        failure_threshold: Some(failure_threshold),
    }
}

fn http_probe(path: &str, defaults: ProbeTimings, user: Option<ProbeTimings>) -> Probe {
    let user = user.unwrap_or_default();
    Probe {
        http_get: Some(HTTPGetAction {
            path: Some(path.to_owned()),
            port: IntOrString::String("http".to_owned()),
            ..HTTPGetAction::default()
        }),
        initial_delay_seconds: user
            .initial_delay_seconds
            .or(defaults.initial_delay_seconds),
        period_seconds: user.period_seconds.or(defaults.period_seconds),
        timeout_seconds: user.timeout_seconds.or(defaults.timeout_seconds),
        failure_threshold: user.failure_threshold.or(defaults.failure_threshold),
        ..Probe::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_timings_override_only_what_they_set() {
        let p = liveness(Some(ProbeTimings {
            period_seconds: Some(30),
            ..ProbeTimings::default()
        }));
        assert_eq!(p.period_seconds, Some(30));
        assert_eq!(p.failure_threshold, Some(3));
        assert_eq!(p.http_get.unwrap().path.as_deref(), Some("/healthz"));
        let s = startup(None);
        assert_eq!(
            (s.period_seconds, s.failure_threshold),
            (Some(5), Some(60)),
            "five minutes to start"
        );
    }
}
