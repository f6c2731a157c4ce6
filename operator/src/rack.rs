//! `karst-operator rack`: the init step of a rack-aware broker Pod (as
//! Strimzi's kafka-init). A Pod cannot read its Node's labels through the
//! downward API, so this step reads the Node (`get nodes`, with the broker
//! ServiceAccount's token, mounted in this container only), takes the value
//! of `spec.rackAwareness.topologyKey` and writes the broker's
//! `server.properties` with `broker.rack` set to it. A Node without the
//! label fails the step (the Pod stays in `Init:Error` and says why), rather
//! than starting a broker that would silently defeat rack-aware placement.

use std::{collections::BTreeMap, path::Path};

use k8s_openapi::api::core::v1::Node;
use kube::{Api, Client};

use crate::events::api_error_message;

/// Why the rack cannot be determined.
#[derive(Debug, thiserror::Error)]
pub enum RackError {
    /// The Node lacks the label.
    #[error(
        "node {node:?} has no label {key:?}: every node brokers may run on needs it (spec.rackAwareness.topologyKey)"
    )]
    MissingLabel {
        /// Node name.
        node: String,
        /// Label key.
        key: String,
    },
    /// The label value cannot be a `broker.rack` line.
    #[error("node {node:?} label {key:?} has the value {value:?}, which is not a rack name")]
    InvalidValue {
        /// Node name.
        node: String,
        /// Label key.
        key: String,
        /// Its value.
        value: String,
    },
    /// The environment lacks the node name (the downward API's `spec.nodeName`).
    #[error("no node name: NODE_NAME must come from the Pod's spec.nodeName")]
    NoNodeName,
    /// Reading the Node failed.
    #[error("reading node {node:?}: {}{}", api_error_message(.source), rbac_hint(.source))]
    ReadNode {
        /// Node name.
        node: String,
        /// API error.
        source: kube::Error,
    },
    /// Reading or writing the properties file failed.
    #[error("{path}: {source}")]
    File {
        /// Path.
        path: String,
        /// I/O error.
        source: std::io::Error,
    },
}

/// What to do about a refusal: the binding this step needs.
fn rbac_hint(error: &kube::Error) -> &'static str {
    match error {
        kube::Error::Api(status) if status.code == 403 => {
            " (bind a ClusterRole with `get nodes` to the broker ServiceAccount, see the operator README)"
        }
        _ => "",
    }
}

/// `base` (the rendered `server.properties`) with `broker.rack` set to the
/// value of `key` among the Node's `labels`.
pub fn with_rack(
    base: &str,
    node: &str,
    labels: &BTreeMap<String, String>,
    key: &str,
) -> Result<String, RackError> {
    let value = labels.get(key).ok_or_else(|| RackError::MissingLabel {
        node: node.to_owned(),
        key: key.to_owned(),
    })?;
    // Label values are at most 63 of [A-Za-z0-9._-], beginning and ending
    // alphanumeric; checked again here since the value becomes a property line.
    let valid = !value.is_empty()
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if !valid {
        return Err(RackError::InvalidValue {
            node: node.to_owned(),
            key: key.to_owned(),
            value: value.clone(),
        });
    }
    let mut out = base.to_owned();
    if !out.is_empty() && !out.ends_with('\n') {
        out.push('\n');
    }
    out.push_str(&format!(
        "# From label {key} of node {node} (karst-operator rack)\nbroker.rack={value}\n"
    ));
    Ok(out)
}

/// Reads node `node`, then writes `config` with its rack to `out`.
pub async fn run(node: &str, key: &str, config: &Path, out: &Path) -> Result<String, RackError> {
    if node.is_empty() {
        return Err(RackError::NoNodeName);
    }
    let file_error = |path: &Path| {
        let path = path.display().to_string();
        move |source| RackError::File { path, source }
    };
    let base = std::fs::read_to_string(config).map_err(file_error(config))?;
    let read_node = |source| RackError::ReadNode {
        node: node.to_owned(),
        source,
    };
    let client = Client::try_default().await.map_err(read_node)?;
    let found = Api::<Node>::all(client)
        .get(node)
        .await
        .map_err(read_node)?;
    let labels = found.metadata.labels.unwrap_or_default();
    let properties = with_rack(&base, node, &labels, key)?;
    std::fs::write(out, &properties).map_err(file_error(out))?;
    Ok(labels.get(key).cloned().unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn the_rack_is_the_nodes_label_value_appended_to_the_properties() {
        let zone = "topology.kubernetes.io/zone";
        let out = with_rack(
            "listeners=PLAINTEXT://0.0.0.0:9092",
            "node-a",
            &labels(&[(zone, "eu-west-1b"), ("kubernetes.io/hostname", "node-a")]),
            zone,
        )
        .unwrap();
        let lines: Vec<&str> = out.lines().filter(|l| !l.starts_with('#')).collect();
        assert_eq!(
            lines,
            [
                "listeners=PLAINTEXT://0.0.0.0:9092",
                "broker.rack=eu-west-1b"
            ]
        );
    }

    #[test]
    fn a_node_without_the_label_is_an_error_naming_both() {
        let err = with_rack("", "node-a", &labels(&[]), "zone").unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("node \"node-a\" has no label \"zone\""),
            "{text}"
        );
        let err = with_rack("", "n", &labels(&[("zone", "a\nb=c")]), "zone").unwrap_err();
        assert!(matches!(err, RackError::InvalidValue { .. }), "{err}");
    }

    #[test]
    fn the_rendered_broker_properties_parse_with_the_rack() {
        // The file the broker reads: the broker's own parser takes the rack.
        let out = with_rack(
            "node.id=0\nlog.dirs=/tmp/x\n",
            "n",
            &labels(&[("zone", "z1")]),
            "zone",
        )
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("server.properties");
        std::fs::write(&path, out).unwrap();
        let config = karst_broker::config::BrokerConfig::load(
            Some(path.as_path()),
            std::iter::empty::<(String, String)>(),
            &[],
        )
        .unwrap();
        assert_eq!(config.broker_rack.as_deref(), Some("z1"));
    }
}
