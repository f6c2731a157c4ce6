//! All partition logs of a data directory: opened at start (recovered after
//! a crash), created and deleted as topics come and go, flushed at shutdown.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::RwLock;

use super::{LogConfig, LogError, PartitionLog};

/// Present in the data directory only after a clean shutdown.
const CLEAN_SHUTDOWN_MARKER: &str = ".karst_clean_shutdown";

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// `orders-3` -> ("orders", 3). Topic names may contain '-', so the
/// partition is after the last one. Other directories are not partitions.
fn parse_partition_dir(name: &str) -> Option<(String, i32)> {
    let (topic, partition) = name.rsplit_once('-')?;
    if topic.is_empty()
        || topic.starts_with("__cluster_metadata")
        || topic.contains('.') && name.ends_with("-delete")
    {
        return None;
    }
    let partition: i32 = partition.parse().ok()?;
    crate::config::topic_name::validate(topic).ok()?;
    Some((topic.to_owned(), partition))
}

#[derive(Debug)]
pub struct LogManager {
    dir: PathBuf,
    logs: RwLock<HashMap<(String, i32), Arc<PartitionLog>>>,
    /// Whether logs opened now must be recovered (no clean shutdown marker).
    recovering: bool,
}

impl LogManager {
    /// The data directory the logs live in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Opens every partition log under `dir`. Without a clean-shutdown
    /// marker, each log's active segment is checked and a torn tail cut off.
    pub fn open(dir: &Path, default_config: LogConfig) -> Result<Self, LogError> {
        let marker = dir.join(CLEAN_SHUTDOWN_MARKER);
        let clean = marker.exists();
        let mut logs = HashMap::new();
        let entries =
            std::fs::read_dir(dir).map_err(LogError::io(format!("list {}", dir.display())))?;
        let now = now_ms();
        for entry in entries.filter_map(Result::ok) {
            if !entry.path().is_dir() {
                continue;
            }
            let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
                continue;
            };
            let Some((topic, partition)) = parse_partition_dir(&name) else {
                continue;
            };
            let log = PartitionLog::open(&entry.path(), default_config.clone(), !clean, now)?;
            logs.insert((topic, partition), log);
        }
        if clean {
            std::fs::remove_file(&marker)
                .map_err(LogError::io(format!("remove {}", marker.display())))?;
        } else if !logs.is_empty() {
            tracing::info!(
                partitions = logs.len(),
                "no clean shutdown marker: recovered log tails"
            );
        }
        Ok(Self {
            dir: dir.to_owned(),
            logs: RwLock::new(logs),
            recovering: !clean,
        })
    }

    pub fn get(&self, topic: &str, partition: i32) -> Option<Arc<PartitionLog>> {
        self.logs
            .read()
            .get(&(topic.to_owned(), partition))
            .cloned()
    }

    /// The log of a partition, created if missing; its config is set to `config`.
    pub fn get_or_create(
        &self,
        topic: &str,
        partition: i32,
        config: LogConfig,
    ) -> Result<Arc<PartitionLog>, LogError> {
        if let Some(log) = self.get(topic, partition) {
            log.update_config(config);
            return Ok(log);
        }
        let mut logs = self.logs.write();
        if let Some(log) = logs.get(&(topic.to_owned(), partition)) {
            log.update_config(config.clone());
            return Ok(log.clone());
        }
        let dir = self.dir.join(format!("{topic}-{partition}"));
        let log = PartitionLog::open(&dir, config, self.recovering, now_ms())?;
        logs.insert((topic.to_owned(), partition), log.clone());
        Ok(log)
    }

    /// (topic, partition) of every log open here.
    pub fn partitions(&self) -> Vec<(String, i32)> {
        self.logs.read().keys().cloned().collect()
    }

    pub fn all(&self) -> Vec<Arc<PartitionLog>> {
        self.logs.read().values().cloned().collect()
    }

    /// Opens the logs of partitions about to be created (`(topic,
    /// partition, config)`), before their metadata is written: a partition
    /// that cannot be opened (no file descriptors, a full disk) then fails
    /// the request instead of leaving a topic that exists but cannot be used.
    /// All or nothing: on failure the logs opened here are deleted again.
    /// Returns the logs it created, for [`Self::discard`].
    pub fn open_new(
        &self,
        wanted: Vec<(String, i32, LogConfig)>,
    ) -> Result<Vec<(String, i32)>, LogError> {
        let mut created = Vec::new();
        for (topic, partition, config) in wanted {
            if self.get(&topic, partition).is_some() {
                continue;
            }
            if let Err(error) = self.get_or_create(&topic, partition, config) {
                self.discard(&created);
                return Err(error);
            }
            created.push((topic, partition));
        }
        Ok(created)
    }

    /// Deletes logs that [`Self::open_new`] created for a change that was
    /// then not persisted.
    pub fn discard(&self, created: &[(String, i32)]) {
        for (topic, partition) in created {
            if let Err(error) = self.delete_partition(topic, *partition) {
                tracing::error!(%topic, partition, %error, "could not remove the log of a partition that was not created");
            }
        }
    }

    /// Deletes every partition log of `topic`.
    pub fn delete_topic(&self, topic: &str) -> Result<(), LogError> {
        let partitions: Vec<i32> = self
            .logs
            .read()
            .keys()
            .filter(|(t, _)| t == topic)
            .map(|(_, p)| *p)
            .collect();
        for partition in partitions {
            self.delete_partition(topic, partition)?;
        }
        Ok(())
    }

    /// Deletes one partition log: its directory is first renamed out of the
    /// way (so a new partition of the same name starts clean), then removed.
    /// Removing files needs no free space, so this works on a full disk.
    pub fn delete_partition(&self, topic: &str, partition: i32) -> Result<(), LogError> {
        if self
            .logs
            .write()
            .remove(&(topic.to_owned(), partition))
            .is_none()
        {
            return Ok(());
        }
        let dir = self.dir.join(format!("{topic}-{partition}"));
        let trash = self.dir.join(format!(
            "{topic}-{partition}.{}-delete",
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::rename(&dir, &trash).map_err(LogError::io(format!("rename {}", dir.display())))?;
        std::fs::remove_dir_all(&trash).map_err(LogError::io(format!("remove {}", trash.display())))
    }

    /// Applies retention to every log and runs due periodic flushes.
    pub fn run_retention(&self, now_ms: i64) {
        for log in self.all() {
            if let Err(error) = log.enforce_retention(now_ms) {
                tracing::error!(%error, "retention failed");
            }
            if let Err(error) = log.flush_if_due(now_ms) {
                tracing::error!(%error, "periodic flush failed");
            }
        }
    }

    /// Flushes every log and writes the clean-shutdown marker, so that the
    /// next start skips recovery.
    /// Every log is flushed even when one fails; the marker is written only
    /// when all succeeded, and the first failure is returned.
    pub fn shutdown(&self) -> Result<(), LogError> {
        let mut first_error = None;
        // Appends still queued on I/O lanes (a connection cut off at the
        // drain's time-out, an acks=0 producer) are refused from here on.
        let logs = self.all();
        for log in &logs {
            log.close_for_appends();
        }
        for log in logs {
            if let Err(error) = log.flush_all() {
                tracing::error!(dir = %log.dir.display(), %error, "flushing a log at shutdown failed");
                first_error.get_or_insert(error);
            }
        }
        if let Some(error) = first_error {
            return Err(error);
        }
        let marker = self.dir.join(CLEAN_SHUTDOWN_MARKER);
        std::fs::write(&marker, b"")
            .map_err(LogError::io(format!("write {}", marker.display())))?;
        if let Ok(dir) = std::fs::File::open(&self.dir) {
            let _ = dir.sync_all();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::batch::tests::batch;
    use kafka_protocol::records::Compression;

    /// Flips the last byte of the partition's first segment: the CRC of its
    /// last batch breaks while every header stays readable.
    fn corrupt_last_batch(dir: &Path) {
        let path = dir.join("orders-0").join("00000000000000000000.log");
        let mut bytes = std::fs::read(&path).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 0xff;
        std::fs::write(&path, bytes).unwrap();
    }

    #[test]
    fn clean_shutdown_marker_skips_recovery_and_a_crash_does_not() {
        let dir = tempfile::tempdir().unwrap();
        let logs = LogManager::open(dir.path(), LogConfig::default()).unwrap();
        let log = logs
            .get_or_create("orders", 0, LogConfig::default())
            .unwrap();
        log.append(batch(3, 10, Compression::None), 1).unwrap();
        log.append(batch(2, 20, Compression::None), 1).unwrap();
        logs.shutdown().unwrap();
        // Nothing lands after the final flush (an append still queued on
        // an I/O lane is refused, retriably).
        let late = log.append(batch(1, 30, Compression::None), 1).unwrap_err();
        assert!(matches!(late, LogError::ShuttingDown), "{late}");
        assert_eq!(log.log_end_offset(), 5);
        drop((log, logs));
        let marker = dir.path().join(CLEAN_SHUTDOWN_MARKER);
        assert!(marker.exists());

        // Clean shutdown: the files are trusted, CRCs are not re-checked,
        // and the marker is consumed so that a later crash is noticed.
        corrupt_last_batch(dir.path());
        let logs = LogManager::open(dir.path(), LogConfig::default()).unwrap();
        assert!(!marker.exists());
        assert_eq!(logs.get("orders", 0).unwrap().log_end_offset(), 5);
        drop(logs);

        // No marker (a crash): the tail is verified and the bad batch cut.
        let logs = LogManager::open(dir.path(), LogConfig::default()).unwrap();
        let log = logs.get("orders", 0).unwrap();
        assert_eq!(log.log_end_offset(), 3);
        assert_eq!(
            log.append(batch(1, 30, Compression::None), 1)
                .unwrap()
                .first_offset,
            3
        );
    }

    #[test]
    fn partition_directories_are_recognized() {
        assert_eq!(parse_partition_dir("orders-3"), Some(("orders".into(), 3)));
        assert_eq!(
            parse_partition_dir("my-topic-0"),
            Some(("my-topic".into(), 0))
        );
        assert_eq!(parse_partition_dir("__cluster_metadata-0"), None);
        assert_eq!(parse_partition_dir("orders-0.abc-delete"), None);
        assert_eq!(parse_partition_dir("lost+found"), None);
    }
}

#[cfg(test)]
#[path = "index_recovery_tests.rs"]
mod index_recovery_tests;
