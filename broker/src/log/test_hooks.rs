//! Hooks for tests only (feature `test-hooks`, never in a release build):
//! hold one partition's appends or group commit fsyncs, standing in for a
//! disk that takes a second to write or sync, to show what else a slow disk
//! stalls.

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

/// Which blocking log work a hold stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Work {
    Append,
    Fsync,
}

/// Held (work, partition directory `<topic>-<partition>`) and how many
/// calls wait on each.
static HOLDS: Mutex<Option<HashMap<(Work, String), usize>>> = Mutex::new(None);
static CHANGED: Condvar = Condvar::new();

/// A hold ends by itself after this long, so that a test whose hold stalls
/// what it should not (the thread that would release it) fails instead of
/// hanging: [`IoHold::release`] then says it had expired.
const HOLD_EXPIRES: Duration = Duration::from_secs(30);

/// Appends to the partition whose directory is named `partition_dir` block
/// (on the thread that runs them) until the returned guard is dropped.
/// Holds are process-wide: use a topic name of one test alone.
#[must_use = "appends are released when the hold is dropped"]
pub fn hold_appends(partition_dir: &str) -> IoHold {
    hold(Work::Append, partition_dir)
}

/// Group commit fsyncs of the partition whose directory is named
/// `partition_dir` block (on their flusher thread) until the returned guard
/// is dropped.
#[must_use = "fsyncs are released when the hold is dropped"]
pub fn hold_fsyncs(partition_dir: &str) -> IoHold {
    hold(Work::Fsync, partition_dir)
}

fn hold(work: Work, partition_dir: &str) -> IoHold {
    let key = (work, partition_dir.to_owned());
    HOLDS
        .lock()
        .get_or_insert_with(HashMap::new)
        .insert(key.clone(), 0);
    IoHold { key }
}

/// Releases the held work of its partition when dropped.
#[derive(Debug)]
pub struct IoHold {
    key: (Work, String),
}

impl IoHold {
    /// Blocks until a call of the held work waits on the hold.
    pub fn wait_until_held(&self) {
        let mut holds = HOLDS.lock();
        while holds
            .as_ref()
            .and_then(|h| h.get(&self.key))
            .is_none_or(|waiting| *waiting == 0)
        {
            CHANGED.wait(&mut holds);
        }
    }

    /// Releases the hold; false if it had expired first (something the
    /// test needed to run was stalled behind it).
    pub fn release(self) -> bool {
        HOLDS
            .lock()
            .as_ref()
            .is_some_and(|h| h.contains_key(&self.key))
    }
}

impl Drop for IoHold {
    fn drop(&mut self) {
        if let Some(holds) = HOLDS.lock().as_mut() {
            holds.remove(&self.key);
        }
        CHANGED.notify_all();
    }
}

/// Called by the group commit before it fsyncs the log in `dir`.
pub(crate) fn before_fsync(dir: &Path) {
    wait_while_held(Work::Fsync, dir);
}

/// Called by an append to the log in `dir` before it writes.
pub(crate) fn before_append(dir: &Path) {
    wait_while_held(Work::Append, dir);
}

fn wait_while_held(work: Work, dir: &Path) {
    let Some(name) = dir.file_name().and_then(|n| n.to_str()) else {
        return;
    };
    let mut holds = HOLDS.lock();
    // Cheap when nothing is held: most tests hold nothing.
    if holds.as_ref().is_none_or(|h| h.is_empty()) {
        return;
    }
    let key = (work, name.to_owned());
    let Some(waiting) = holds.as_mut().and_then(|h| h.get_mut(&key)) else {
        return;
    };
    *waiting += 1;
    CHANGED.notify_all();
    let expires = Instant::now() + HOLD_EXPIRES;
    while holds.as_ref().is_some_and(|h| h.contains_key(&key)) {
        if CHANGED.wait_until(&mut holds, expires).timed_out() {
            if let Some(h) = holds.as_mut() {
                h.remove(&key);
            }
            tracing::error!(?work, dir = %dir.display(), "test hold expired");
            return;
        }
    }
}
