//! The log start offset of a partition, persisted so that DeleteRecords and
//! retention survive a restart (Kafka keeps it in `log-start-offset-checkpoint`).

use std::path::Path;

use super::LogError;

const FILE: &str = "log-start-offset";

/// The persisted log start offset, if any.
pub(crate) fn read_log_start(dir: &Path) -> Result<Option<i64>, LogError> {
    match std::fs::read_to_string(dir.join(FILE)) {
        Ok(text) => Ok(text.trim().parse().ok()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(LogError::io(format!("read {}", dir.join(FILE).display()))(
            e,
        )),
    }
}

/// Persists the log start offset atomically (write, fsync, rename).
pub(crate) fn write_log_start(dir: &Path, offset: i64) -> Result<(), LogError> {
    let tmp = dir.join(format!("{FILE}.tmp"));
    let path = dir.join(FILE);
    let io = |what: &str| LogError::io(format!("{what} {}", path.display()));
    let file = std::fs::File::create(&tmp).map_err(io("create"))?;
    std::io::Write::write_all(&mut &file, format!("{offset}\n").as_bytes()).map_err(io("write"))?;
    file.sync_data().map_err(io("fsync"))?;
    std::fs::rename(&tmp, &path).map_err(io("rename"))
}
