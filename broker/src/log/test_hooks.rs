//! Hooks for tests only (feature `test-hooks`, never in a release build):
//! hold one partition's group commit fsync, standing in for a disk that
//! takes a second to sync, to show what else a slow fsync stalls.

use std::collections::HashMap;
use std::path::Path;

use parking_lot::{Condvar, Mutex};

/// Held partition directories (`<topic>-<partition>`) and how many fsyncs
/// wait on each.
static HOLDS: Mutex<Option<HashMap<String, usize>>> = Mutex::new(None);
static CHANGED: Condvar = Condvar::new();

/// Group commit fsyncs of the partition whose directory is named
/// `partition_dir` block (on their flusher thread) until the returned guard
/// is dropped. Holds are process-wide: use a topic name of one test alone.
#[must_use = "fsyncs are released when the hold is dropped"]
pub fn hold_fsyncs(partition_dir: &str) -> FsyncHold {
    HOLDS
        .lock()
        .get_or_insert_with(HashMap::new)
        .insert(partition_dir.to_owned(), 0);
    FsyncHold {
        partition_dir: partition_dir.to_owned(),
    }
}

/// Releases the fsyncs of its partition when dropped.
#[derive(Debug)]
pub struct FsyncHold {
    partition_dir: String,
}

impl FsyncHold {
    /// Blocks until an fsync of the partition waits on the hold.
    pub fn wait_for_held_fsync(&self) {
        let mut holds = HOLDS.lock();
        while holds
            .as_ref()
            .and_then(|h| h.get(&self.partition_dir))
            .is_none_or(|waiting| *waiting == 0)
        {
            CHANGED.wait(&mut holds);
        }
    }
}

impl Drop for FsyncHold {
    fn drop(&mut self) {
        if let Some(holds) = HOLDS.lock().as_mut() {
            holds.remove(&self.partition_dir);
        }
        CHANGED.notify_all();
    }
}

/// Called by the group commit before it fsyncs the log in `dir`.
pub(crate) fn before_fsync(dir: &Path) {
    let Some(name) = dir.file_name().and_then(|n| n.to_str()) else {
        return;
    };
    let mut holds = HOLDS.lock();
    let Some(waiting) = holds.as_mut().and_then(|h| h.get_mut(name)) else {
        return;
    };
    *waiting += 1;
    CHANGED.notify_all();
    while holds.as_ref().is_some_and(|h| h.contains_key(name)) {
        CHANGED.wait(&mut holds);
    }
}
