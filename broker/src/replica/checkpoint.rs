//! The high watermarks of every hosted partition, persisted so that a
//! restarted leader does not show consumers records its followers may not
//! have (Kafka's `replication-offset-checkpoint`, written every
//! `replica.high.watermark.checkpoint.interval.ms` and at shutdown).
//! Format: a version line (0), a count line, then `topic partition offset`.

use std::collections::HashMap;
use std::path::Path;

const FILE: &str = "replication-offset-checkpoint";

/// The checkpointed high watermarks; empty when there is no file or it
/// does not parse (the high watermark then starts at the log end, as before
/// checkpoints existed).
pub(super) fn read(dir: &Path) -> HashMap<(String, i32), i64> {
    let Ok(text) = std::fs::read_to_string(dir.join(FILE)) else {
        return HashMap::new();
    };
    let mut lines = text.lines();
    if lines.next() != Some("0") {
        tracing::warn!(file = %dir.join(FILE).display(), "unknown checkpoint version; ignored");
        return HashMap::new();
    }
    lines
        .skip(1)
        .filter_map(|line| {
            let mut fields = line.split(' ');
            let topic = fields.next()?.to_owned();
            let partition = fields.next()?.parse().ok()?;
            let offset = fields.next()?.parse().ok()?;
            Some(((topic, partition), offset))
        })
        .collect()
}

/// Writes `entries` atomically (write, fsync, rename).
pub(super) fn write(dir: &Path, entries: &[(String, i32, i64)]) -> std::io::Result<()> {
    let mut text = format!("0\n{}\n", entries.len());
    for (topic, partition, offset) in entries {
        text.push_str(&format!("{topic} {partition} {offset}\n"));
    }
    let tmp = dir.join(format!("{FILE}.tmp"));
    let file = std::fs::File::create(&tmp)?;
    std::io::Write::write_all(&mut &file, text.as_bytes())?;
    file.sync_data()?;
    std::fs::rename(&tmp, dir.join(FILE))
}

#[cfg(test)]
mod tests {
    #[test]
    fn high_watermarks_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        assert!(super::read(dir.path()).is_empty());
        super::write(dir.path(), &[("a-b".into(), 3, 42), ("c".into(), 0, 7)]).unwrap();
        let read = super::read(dir.path());
        assert_eq!(read[&("a-b".to_owned(), 3)], 42);
        assert_eq!(read[&("c".to_owned(), 0)], 7);
    }
}
