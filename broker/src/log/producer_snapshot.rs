//! Idempotent-producer state survives restarts: a snapshot is written when a
//! segment rolls and at clean shutdown, and on open the batches after the
//! snapshot are replayed from the log (headers only).

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::LogError;
use super::segment::Segment;
use crate::producer::ProducerStateTable;

const FILE: &str = "producer-state.json";

#[derive(Serialize, Deserialize)]
struct Snapshot {
    /// The state covers every batch below this offset.
    offset: i64,
    producers: ProducerStateTable,
}

/// Writes the producer state as of `offset` (replacing the previous snapshot).
pub(crate) fn write(
    dir: &Path,
    offset: i64,
    producers: &ProducerStateTable,
) -> Result<(), LogError> {
    if producers.is_empty() && !dir.join(FILE).exists() {
        return Ok(());
    }
    let bytes = serde_json::to_vec(&Snapshot {
        offset,
        producers: producers.clone(),
    })
    .map_err(|e| LogError::io("encode producer snapshot")(std::io::Error::other(e)))?;
    let tmp = dir.join(format!("{FILE}.tmp"));
    std::fs::write(&tmp, bytes).map_err(LogError::io(format!("write {}", tmp.display())))?;
    std::fs::rename(&tmp, dir.join(FILE)).map_err(LogError::io(format!("rename {}", tmp.display())))
}

/// The producer state at the end of the log: the snapshot (when it is
/// usable) plus every idempotent batch after it.
pub(crate) fn rebuild(
    dir: &Path,
    segments: &BTreeMap<i64, Segment>,
    log_start: i64,
    log_end: i64,
) -> Result<ProducerStateTable, LogError> {
    let snapshot = std::fs::read(dir.join(FILE))
        .ok()
        .and_then(|bytes| serde_json::from_slice::<Snapshot>(&bytes).ok())
        .filter(|s| s.offset <= log_end);
    let (mut table, from) = match snapshot {
        Some(s) => (s.producers, s.offset.max(log_start)),
        None => (ProducerStateTable::default(), log_start),
    };
    for segment in segments.values().filter(|s| s.next_offset > from) {
        segment.for_each_header_from(from, |header| table.update(header))?;
    }
    Ok(table)
}
