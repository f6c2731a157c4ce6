//! The blocking-I/O pool: where produce appends (the `writev`, a segment
//! roll and its fsync, index writes) run, away from the async workers that
//! read sockets.
//!
//! Why: a file write can sleep (page-cache dirty throttling, a slow fsync
//! during a roll). Run on an async worker, that sleep stalls every other
//! connection the worker serves, and there are as few workers as cores.
//! Kafka keeps its request handler threads (`num.io.threads`, default 8)
//! apart from its network threads for the same reason. Here at most
//! [`IO_THREADS`] appends block at a time, each on a thread that has handed
//! its async work to another (see [`run`]), so a slow disk holds up only the
//! requests that write to it and cannot spawn an unbounded number of
//! threads.

use tokio::sync::Semaphore;

/// How many blocking appends may run at once (Kafka's `num.io.threads`
/// default). Callers beyond it wait asynchronously, holding no thread.
pub(crate) const IO_THREADS: usize = 8;

static PERMITS: Semaphore = Semaphore::const_new(IO_THREADS);

/// Runs `work` where it may block and returns its result. Once started,
/// `work` runs to the end even if the caller is dropped (a client that
/// disconnects mid-append), so no append is left half-recorded.
///
/// On the broker's multi-thread runtime the work runs right here, in
/// `block_in_place`: tokio hands this worker's other tasks to another
/// thread, so they go on, while the request itself pays no hand-off (a
/// round trip to a pool thread costs two wake-ups per request, and on a
/// busy machine each wake-up waits for a core: measured with karst-bench
/// W9, it raised acks=1 latency from about 1 ms to hundreds). A
/// current-thread runtime (some tests) cannot do that, so there the work
/// goes to a blocking thread.
pub(crate) async fn run<T, F>(work: F) -> T
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let permit = PERMITS.acquire().await.expect("the pool is never closed");
    let flavor = tokio::runtime::Handle::current().runtime_flavor();
    if flavor == tokio::runtime::RuntimeFlavor::MultiThread {
        let value = tokio::task::block_in_place(work);
        drop(permit);
        return value;
    }
    let result = tokio::task::spawn_blocking(work).await;
    drop(permit);
    match result {
        Ok(value) => value,
        // A panic in the work is a bug: surface it in the caller as if the
        // work had run there.
        Err(error) => std::panic::resume_unwind(error.into_panic()),
    }
}

/// A test hook (feature `test-hooks`, off by default): holds the appends to
/// one topic until released, standing in for a disk that sleeps, so a test
/// can show that other connections are still answered meanwhile.
#[cfg(feature = "test-hooks")]
pub mod test_hooks {
    use std::collections::HashMap;

    use parking_lot::{Condvar, Mutex};

    #[derive(Default)]
    struct Holds {
        /// Held topics and how many appends wait on each.
        held: HashMap<String, usize>,
    }

    static HOLDS: Mutex<Option<Holds>> = Mutex::new(None);
    static CHANGED: Condvar = Condvar::new();

    /// Appends to `topic` block (on their I/O thread) until the returned
    /// guard is dropped.
    #[must_use = "appends are released when the hold is dropped"]
    pub fn hold_appends(topic: &str) -> AppendHold {
        HOLDS
            .lock()
            .get_or_insert_with(Holds::default)
            .held
            .insert(topic.to_owned(), 0);
        AppendHold {
            topic: topic.to_owned(),
        }
    }

    /// Releases the appends of its topic when dropped.
    pub struct AppendHold {
        topic: String,
    }

    impl AppendHold {
        /// Blocks until at least one append to the topic waits on the hold.
        pub fn wait_for_held_append(&self) {
            let mut holds = HOLDS.lock();
            while holds
                .as_ref()
                .and_then(|h| h.held.get(&self.topic))
                .is_none_or(|waiting| *waiting == 0)
            {
                CHANGED.wait(&mut holds);
            }
        }
    }

    impl Drop for AppendHold {
        fn drop(&mut self) {
            if let Some(holds) = HOLDS.lock().as_mut() {
                holds.held.remove(&self.topic);
            }
            CHANGED.notify_all();
        }
    }

    /// Called by the append path before it writes to `topic`.
    pub(crate) fn before_append(topic: &str) {
        let mut holds = HOLDS.lock();
        let Some(waiting) = holds.as_mut().and_then(|h| h.held.get_mut(topic)) else {
            return;
        };
        *waiting += 1;
        CHANGED.notify_all();
        while holds.as_ref().is_some_and(|h| h.held.contains_key(topic)) {
            CHANGED.wait(&mut holds);
        }
    }
}
