//! `meta.properties` in the data directory: which cluster and node the data
//! belongs to, as Kafka writes it. A data directory of another node or
//! cluster is refused instead of being silently mixed in.

use std::path::Path;

/// The identity of a data directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StorageMeta {
    pub(crate) cluster_id: String,
    pub(crate) node_id: i32,
}

#[derive(Debug, thiserror::Error)]
pub enum StorageMetaError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} belongs to node.id {found}, but this broker is node.id {configured}")]
    NodeMismatch {
        path: String,
        found: i32,
        configured: i32,
    },
    #[error("{path} belongs to cluster.id {found}, but cluster.id is configured as {configured}")]
    ClusterMismatch {
        path: String,
        found: String,
        configured: String,
    },
    #[error("{path} is malformed: {reason}")]
    Malformed { path: String, reason: &'static str },
}

/// Reads `meta.properties`, or writes a new one (with a fresh cluster id
/// unless one is configured) in an empty directory.
pub(crate) fn load_or_init(
    data_dir: &Path,
    node_id: i32,
    configured_cluster_id: Option<&str>,
) -> Result<StorageMeta, StorageMetaError> {
    let path = data_dir.join("meta.properties");
    let display = path.display().to_string();
    let io = |source| StorageMetaError::Io {
        path: display.clone(),
        source,
    };
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let value = |key: &str| {
                text.lines()
                    .filter_map(|l| l.split_once('='))
                    .find(|(k, _)| k.trim() == key)
                    .map(|(_, v)| v.trim().to_owned())
            };
            let malformed = |reason| StorageMetaError::Malformed {
                path: display.clone(),
                reason,
            };
            let cluster_id = value("cluster.id").ok_or_else(|| malformed("no cluster.id"))?;
            let found: i32 = value("node.id")
                .and_then(|v| v.parse().ok())
                .ok_or_else(|| malformed("no valid node.id"))?;
            if found != node_id {
                return Err(StorageMetaError::NodeMismatch {
                    path: display,
                    found,
                    configured: node_id,
                });
            }
            if let Some(configured) = configured_cluster_id.filter(|c| *c != cluster_id) {
                return Err(StorageMetaError::ClusterMismatch {
                    path: display,
                    found: cluster_id,
                    configured: configured.to_owned(),
                });
            }
            Ok(StorageMeta {
                cluster_id,
                node_id,
            })
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let cluster_id = configured_cluster_id
                .map(str::to_owned)
                .unwrap_or_else(new_cluster_id);
            let text = format!(
                "# Written by karst; identifies this data directory.\nversion=1\ncluster.id={cluster_id}\nnode.id={node_id}\n"
            );
            let tmp = data_dir.join("meta.properties.tmp");
            std::fs::write(&tmp, text).map_err(io)?;
            std::fs::rename(&tmp, &path).map_err(io)?;
            Ok(StorageMeta {
                cluster_id,
                node_id,
            })
        }
        Err(e) => Err(io(e)),
    }
}

/// A cluster id in Kafka's form: a random UUID as 22 characters of URL-safe base64.
fn new_cluster_id() -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let value = uuid::Uuid::new_v4().as_u128();
    (0..22)
        .map(|i| {
            let shift = 128i32 - 6 * (i + 1);
            let bits = if shift >= 0 {
                (value >> shift) & 0x3f
            } else {
                (value << -shift) & 0x3f
            };
            ALPHABET[bits as usize] as char
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_is_kept_and_foreign_directories_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let first = load_or_init(dir.path(), 1, None).unwrap();
        assert_eq!(first.cluster_id.len(), 22);
        assert_eq!(load_or_init(dir.path(), 1, None).unwrap(), first);
        assert!(matches!(
            load_or_init(dir.path(), 2, None),
            Err(StorageMetaError::NodeMismatch { found: 1, .. })
        ));
        assert!(matches!(
            load_or_init(dir.path(), 1, Some("other")),
            Err(StorageMetaError::ClusterMismatch { .. })
        ));
    }
}
