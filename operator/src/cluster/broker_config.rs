//! The broker properties of a cluster, checked with the broker's own rules
//! (`karst_broker::config`: the same key catalogue and value parsers the
//! broker runs at start) before anything is rendered. A key or value the
//! broker would refuse is refused here with a condition naming it, instead
//! of reaching a ConfigMap that makes every broker exit at start.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::EnvVar;
use karst_broker::config::BrokerConfig;

use super::{
    quorum::{self, CONTROLLER_LISTENER, Quorum},
    validate::ValidationError,
};

/// Properties the operator renders itself; users must not set them in `spec.config`.
pub const RESERVED_BROKER_PROPERTIES: &[&str] = &[
    "node.id",
    "broker.id",
    "listeners",
    "advertised.listeners",
    "log.dirs",
    "log.dir",
    "karst.http.listener",
    "process.roles",
    "controller.listener.names",
    "controller.quorum.voters",
    "controller.quorum.bootstrap.servers",
    "cluster.id",
];

/// Environment variables the operator sets in the broker container itself.
pub const RESERVED_ENV: &[&str] = &["KARST_NODE_ID", "POD_NAME", "KARST_ADVERTISED_LISTENERS"];

/// Broker properties that name a replica count and so cannot exceed `spec.replicas`.
const REPLICA_COUNT_PROPERTIES: &[&str] = &[
    "default.replication.factor",
    "min.insync.replicas",
    "offsets.topic.replication.factor",
];

/// `log.dirs` inside the data volume.
pub const LOG_DIRS: &str = "/var/lib/karst/data";

/// The properties the operator writes into `server.properties` itself; with
/// a `quorum`, the controller listener and the quorum settings too.
pub fn operator_properties(
    kafka_port: i32,
    http_port: i32,
    quorum: Option<&Quorum>,
) -> BTreeMap<String, String> {
    let mut listeners = format!("PLAINTEXT://0.0.0.0:{kafka_port}");
    if let Some(q) = quorum {
        listeners.push_str(&format!(
            ",{CONTROLLER_LISTENER}://0.0.0.0:{}",
            q.controller_port
        ));
    }
    let mut props = BTreeMap::from([
        ("listeners".to_owned(), listeners),
        ("log.dirs".to_owned(), LOG_DIRS.to_owned()),
        (
            "karst.http.listener".to_owned(),
            format!("0.0.0.0:{http_port}"),
        ),
    ]);
    props.extend(
        quorum
            .into_iter()
            .flat_map(quorum::properties)
            .map(|(k, v)| (k.to_owned(), v)),
    );
    props
}

/// Checks `config` (the user's `spec.config`) and the user's extra `env`
/// as the broker of ordinal 0 would load them: the operator's properties,
/// the user's, the per-Pod values the StatefulSet sets through the
/// environment, and the user's `KARST_*` variables (those with a literal
/// value; one taken from a Secret or field cannot be known here).
pub fn check(
    config: &BTreeMap<String, String>,
    env: &[EnvVar],
    replicas: i32,
    kafka_port: i32,
    http_port: i32,
    quorum: Option<&Quorum>,
) -> Result<(), ValidationError> {
    let ports = (kafka_port, http_port);
    check_config(config, replicas, ports, quorum, &[])?;
    let mut karst_env = Vec::new();
    for var in env {
        let property = var
            .name
            .strip_prefix("KARST_")
            .map(|p| p.to_ascii_lowercase().replace('_', "."));
        if RESERVED_ENV.contains(&var.name.as_str())
            || property.is_some_and(|p| RESERVED_BROKER_PROPERTIES.contains(&p.as_str()))
        {
            return Err(ValidationError::ReservedEnv(var.name.clone()));
        }
        if let (true, Some(value)) = (var.name.starts_with("KARST_"), &var.value) {
            karst_env.push((var.name.clone(), value.clone()));
        }
    }
    // The config alone passed: a refusal now is about the environment.
    check_config(config, replicas, ports, quorum, &karst_env).map_err(|e| match e {
        ValidationError::BrokerConfig { message, .. } => ValidationError::BrokerConfig {
            field: "spec.podTemplate.env".to_owned(),
            message,
        },
        other => other,
    })
}

fn check_config(
    config: &BTreeMap<String, String>,
    replicas: i32,
    (kafka_port, http_port): (i32, i32),
    quorum: Option<&Quorum>,
    karst_env: &[(String, String)],
) -> Result<(), ValidationError> {
    if let Some(key) = config
        .keys()
        .find(|k| RESERVED_BROKER_PROPERTIES.contains(&k.as_str()))
    {
        return Err(ValidationError::ReservedProperty(key.clone()));
    }
    check_replica_counts(config, replicas)?;
    let mut properties: Vec<(String, String)> = operator_properties(kafka_port, http_port, quorum)
        .into_iter()
        .chain(config.iter().map(|(k, v)| (k.clone(), v.clone())))
        .collect();
    properties.push(("node.id".to_owned(), "0".to_owned()));
    properties.push((
        "advertised.listeners".to_owned(),
        format!("PLAINTEXT://broker-0.cluster.local:{kafka_port}"),
    ));
    BrokerConfig::load(None, karst_env.to_vec(), &properties)
        .map(|_| ())
        .map_err(|e| {
            let field = match e.key() {
                Some(key) if config.contains_key(key) => format!("spec.config[\"{key}\"]"),
                _ => "spec.config".to_owned(),
            };
            ValidationError::BrokerConfig {
                field,
                message: e.to_string(),
            }
        })
}

fn check_replica_counts(
    config: &BTreeMap<String, String>,
    replicas: i32,
) -> Result<(), ValidationError> {
    for key in REPLICA_COUNT_PROPERTIES {
        let Some(value) = config.get(*key) else {
            continue;
        };
        let invalid = |reason: String| ValidationError::InvalidReplicaCount {
            key: (*key).to_owned(),
            value: value.clone(),
            reason,
        };
        let n: i64 = value
            .trim()
            .parse()
            .map_err(|_| invalid("not an integer".to_owned()))?;
        if n < 1 {
            return Err(invalid("must be at least 1".to_owned()));
        }
        if n > i64::from(replicas) {
            return Err(invalid(format!("exceeds spec.replicas ({replicas})")));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn settings_the_broker_accepts_pass() {
        let ok = config(&[("log.retention.hours", "24"), ("num.partitions", "3")]);
        assert_eq!(check(&ok, &[], 1, 9092, 9644, None), Ok(()));
    }

    #[test]
    fn unknown_keys_and_bad_values_are_refused_naming_the_key() {
        let err = check(
            &config(&[("no.such.property", "x")]),
            &[],
            1,
            9092,
            9644,
            None,
        )
        .unwrap_err();
        let text = err.to_string();
        assert!(
            text.starts_with("spec.config[\"no.such.property\"]: unknown configuration"),
            "{text}"
        );
        let err = check(
            &config(&[("log.retention.hours", "banana")]),
            &[],
            1,
            9092,
            9644,
            None,
        )
        .unwrap_err();
        let text = err.to_string();
        assert!(
            text.starts_with("spec.config[\"log.retention.hours\"]: invalid value \"banana\""),
            "{text}"
        );
        assert_eq!(err.metric_label(), "invalid_broker_config");
    }

    #[test]
    fn typos_carry_the_broker_suggestion() {
        let err = check(&config(&[("num.partitons", "3")]), &[], 1, 9092, 9644, None).unwrap_err();
        assert!(
            err.to_string().contains("did you mean num.partitions?"),
            "{err}"
        );
    }

    #[test]
    fn reserved_and_replica_count_properties_are_refused() {
        let err = check(&config(&[("listeners", "x")]), &[], 1, 9092, 9644, None).unwrap_err();
        assert_eq!(err, ValidationError::ReservedProperty("listeners".into()));
        let err = check(
            &config(&[("min.insync.replicas", "2")]),
            &[],
            1,
            9092,
            9644,
            None,
        )
        .unwrap_err();
        assert_eq!(err.metric_label(), "invalid_replica_count");
        assert!(
            check(
                &config(&[("min.insync.replicas", "2")]),
                &[],
                3,
                9092,
                9644,
                None
            )
            .is_ok()
        );
    }

    #[test]
    fn broker_settings_in_the_environment_are_checked_too() {
        let var = |name: &str, value: &str| EnvVar {
            name: name.to_owned(),
            value: Some(value.to_owned()),
            ..EnvVar::default()
        };
        let none = BTreeMap::new();
        let ok = [var("KARST_LOG_RETENTION_HOURS", "24"), var("TZ", "UTC")];
        assert_eq!(check(&none, &ok, 1, 9092, 9644, None), Ok(()));
        let err = check(
            &none,
            &[var("KARST_LOG_RETENTION_HOURS", "x")],
            1,
            9092,
            9644,
            None,
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("spec.podTemplate.env: invalid value"),
            "{err}"
        );
        for reserved in ["KARST_NODE_ID", "POD_NAME", "KARST_LISTENERS"] {
            assert_eq!(
                check(&none, &[var(reserved, "1")], 1, 9092, 9644, None),
                Err(ValidationError::ReservedEnv(reserved.to_owned()))
            );
        }
    }
}
