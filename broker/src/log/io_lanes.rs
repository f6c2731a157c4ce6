//! I/O lanes: where a partition's appends run, off the async workers (as
//! Kafka's request handler threads keep disk writes apart from its network
//! threads). A write that sleeps (page-cache dirty throttling, a slow disk,
//! a segment roll's fsync) holds one of these threads and the requests
//! queued behind it on the same partition, never a worker that other
//! connections need.
//!
//! Each partition has one lane: its jobs run one at a time, in the order
//! they were submitted, so a producer's pipelined requests to a partition
//! are appended in order (idempotent sequences depend on it). A lane is
//! queued on the threads at most once; a thread that takes it runs what it
//! holds (a few jobs at a time, then the lane goes to the back of the
//! queue), so requests that arrived together cost one wake-up between
//! them. Lanes of different partitions run in parallel.
//!
//! Process-wide, like the log flusher: every broker in one process (tests
//! run several) shares the disk and these threads.

use std::collections::VecDeque;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::{Arc, LazyLock, OnceLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

/// Threads serving lanes unless `num.io.threads` says otherwise (Kafka's
/// default). Idle ones cost nothing but their stacks.
const DEFAULT_IO_THREADS: usize = 8;

/// Jobs a thread runs from one lane before letting other lanes go first.
const JOBS_PER_TURN: usize = 16;

type Job = Box<dyn FnOnce() + Send>;

/// One partition's queue of I/O jobs, run in submission order.
#[derive(Default)]
pub struct IoLane {
    inner: Arc<LaneInner>,
}

impl std::fmt::Debug for IoLane {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let jobs = self.inner.jobs.lock();
        f.debug_struct("IoLane")
            .field("queued", &jobs.queue.len())
            .field("scheduled", &jobs.scheduled)
            .finish()
    }
}

#[derive(Default)]
struct LaneInner {
    jobs: Mutex<LaneJobs>,
}

#[derive(Default)]
struct LaneJobs {
    queue: VecDeque<Job>,
    /// On the threads' queue or being run: not queued again.
    scheduled: bool,
}

/// I/O lane failures seen by the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LaneError {
    /// The job panicked (a bug); the lane and its thread go on.
    #[error("an I/O job panicked")]
    Panicked,
}

impl IoLane {
    /// Runs `job` on an I/O thread after every job submitted to this lane
    /// before it; the returned future resolves to its result. Submitting
    /// never blocks the caller: the order is fixed here, not when the
    /// future is awaited (dropping the future does not cancel the job).
    pub fn run<T, F>(&self, job: F) -> Completion<T>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.submit(Box::new(move || {
            // A panic drops `tx`: the waiter gets LaneError::Panicked.
            let _ = tx.send(job());
        }));
        Completion(rx)
    }

    fn submit(&self, job: Job) {
        let mut jobs = self.inner.jobs.lock();
        jobs.queue.push_back(job);
        if !jobs.scheduled {
            jobs.scheduled = true;
            drop(jobs);
            THREADS.push(self.inner.clone());
        }
    }
}

/// The result of a job submitted with [`IoLane::run`], once it ran.
#[derive(Debug)]
pub struct Completion<T>(tokio::sync::oneshot::Receiver<T>);

impl<T> Future for Completion<T> {
    type Output = Result<T, LaneError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.0)
            .poll(cx)
            .map_err(|_| LaneError::Panicked)
    }
}

impl LaneInner {
    /// Runs up to [`JOBS_PER_TURN`] jobs; true if more are queued (the lane
    /// stays scheduled and goes back on the threads' queue).
    fn run_turn(&self) -> bool {
        for _ in 0..JOBS_PER_TURN {
            let job = {
                let mut jobs = self.jobs.lock();
                match jobs.queue.pop_front() {
                    Some(job) => job,
                    None => {
                        jobs.scheduled = false;
                        return false;
                    }
                }
            };
            if std::panic::catch_unwind(AssertUnwindSafe(job)).is_err() {
                tracing::error!("an I/O job panicked; its request gets an error");
            }
        }
        let mut jobs = self.jobs.lock();
        if jobs.queue.is_empty() {
            jobs.scheduled = false;
            return false;
        }
        true
    }
}

/// Lanes with jobs, served in order by the I/O threads.
struct Threads {
    state: Mutex<ThreadsState>,
    /// Threads that may run lanes at once without being slow ones: the
    /// machine's cores. More gain nothing for appends.
    active_max: usize,
}

/// What an I/O thread is doing.
#[derive(Debug, Clone, Copy)]
enum Doing {
    Idle,
    /// Woken for a lane, not yet running it: it will take the next one.
    Woken,
    /// Running a lane's turn, taken then.
    Running(Instant),
}

struct ThreadsState {
    lanes: VecDeque<Arc<LaneInner>>,
    /// Idle threads, the last to go idle on top (warm, woken first).
    idle: Vec<usize>,
    doing: Vec<Doing>,
    handles: Vec<std::thread::Thread>,
}

/// A turn running longer than this is taken as held by a slow disk: it no
/// longer counts as a thread that will come back for queued lanes.
const SLOW_TURN: Duration = Duration::from_millis(2);

impl ThreadsState {
    /// Wakes an idle thread if queued lanes need one: fewer than
    /// `active_max` threads are on their way or running short turns (a
    /// burst of lanes, one request's partitions, costs at most that many
    /// wake-ups, not one each; a thread held by a slow write does not
    /// count, so lanes behind it get another).
    fn thread_to_wake(&mut self, active_max: usize) -> Option<std::thread::Thread> {
        if self.lanes.is_empty() {
            return None;
        }
        let now = Instant::now();
        let mut coming = 0;
        for doing in &self.doing {
            match doing {
                Doing::Woken => coming += 1,
                Doing::Running(since) if now.duration_since(*since) < SLOW_TURN => coming += 1,
                _ => {}
            }
        }
        if coming >= active_max {
            return None;
        }
        let thread = self.idle.pop()?;
        self.doing[thread] = Doing::Woken;
        Some(self.handles[thread].clone())
    }
}

/// How many I/O threads the process starts (`num.io.threads` of the first
/// broker that starts; later ones share the threads).
static THREAD_COUNT: OnceLock<usize> = OnceLock::new();

/// Sets the number of I/O threads, if they have not started yet.
pub fn set_io_threads(count: usize) {
    let count = count.max(1);
    if THREAD_COUNT.set(count).is_err() && THREAD_COUNT.get() != Some(&count) {
        tracing::debug!(
            count,
            "num.io.threads: this process's I/O threads are already sized"
        );
    }
}

static THREADS: LazyLock<Arc<Threads>> = LazyLock::new(|| {
    let count = *THREAD_COUNT.get_or_init(|| DEFAULT_IO_THREADS);
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let threads = Arc::new(Threads {
        state: Mutex::new(ThreadsState {
            lanes: VecDeque::new(),
            idle: Vec::with_capacity(count),
            doing: vec![Doing::Idle; count],
            handles: Vec::with_capacity(count),
        }),
        active_max: cores.max(2),
    });
    // The state stays locked until every handle is recorded.
    let mut state = threads.state.lock();
    for i in 0..count {
        let serving = threads.clone();
        let handle = std::thread::Builder::new()
            .name(format!("karst-io-{i}"))
            .spawn(move || serving.serve(i))
            .expect("start an I/O thread");
        state.handles.push(handle.thread().clone());
    }
    drop(state);
    threads
});

impl Threads {
    fn serve(&self, me: usize) {
        // A lane with jobs left after its turn: queued again behind the
        // others, without waking anyone (this thread comes back for it).
        let mut requeue: Option<Arc<LaneInner>> = None;
        loop {
            let (lane, wake) = {
                let mut state = self.state.lock();
                if let Some(lane) = requeue.take() {
                    state.lanes.push_back(lane);
                }
                loop {
                    if let Some(lane) = state.lanes.pop_front() {
                        state.idle.retain(|&i| i != me);
                        state.doing[me] = Doing::Running(Instant::now());
                        // More queued: maybe a second thread.
                        break (lane, state.thread_to_wake(self.active_max));
                    }
                    // Listed idle already after a spurious wake-up; a thread
                    // that is not listed is not idle yet (woken or running).
                    if !state.idle.contains(&me) {
                        state.doing[me] = Doing::Idle;
                        state.idle.push(me);
                    }
                    // An `unpark` before this `park` is not lost.
                    drop(state);
                    std::thread::park();
                    state = self.state.lock();
                }
            };
            if let Some(thread) = wake {
                thread.unpark();
            }
            if lane.run_turn() {
                requeue = Some(lane);
            }
        }
    }

    fn push(&self, lane: Arc<LaneInner>) {
        let mut state = self.state.lock();
        state.lanes.push_back(lane);
        let wake = state.thread_to_wake(self.active_max);
        drop(state);
        if let Some(thread) = wake {
            thread.unpark();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[tokio::test]
    async fn jobs_of_one_lane_run_in_submission_order() {
        let lane = IoLane::default();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let waits: Vec<_> = (0..100)
            .map(|i| {
                let seen = seen.clone();
                lane.run(move || seen.lock().push(i))
            })
            .collect();
        for wait in waits {
            wait.await.unwrap();
        }
        assert_eq!(*seen.lock(), (0..100).collect::<Vec<_>>());
    }

    #[tokio::test]
    async fn a_held_lane_leaves_other_lanes_running() {
        let (held, other) = (IoLane::default(), IoLane::default());
        let (release, hold) = std::sync::mpsc::channel::<()>();
        let blocked = held.run(move || hold.recv().unwrap());
        let ran = Arc::new(AtomicUsize::new(0));
        let counter = ran.clone();
        other
            .run(move || counter.fetch_add(1, Ordering::SeqCst))
            .await
            .unwrap();
        assert_eq!(ran.load(Ordering::SeqCst), 1);
        release.send(()).unwrap();
        blocked.await.unwrap();
    }

    fn idle_threads(count: usize) -> ThreadsState {
        ThreadsState {
            lanes: VecDeque::new(),
            idle: (0..count).collect(),
            doing: vec![Doing::Idle; count],
            handles: vec![std::thread::current(); count],
        }
    }

    #[test]
    fn a_burst_of_lanes_wakes_at_most_active_max_threads() {
        let mut state = idle_threads(8);
        let mut woken = 0;
        for _ in 0..8 {
            state.lanes.push_back(Arc::new(LaneInner::default()));
            woken += usize::from(state.thread_to_wake(2).is_some());
        }
        assert_eq!(woken, 2);
        // The last to go idle is woken first.
        assert!(matches!(state.doing[7], Doing::Woken));
        assert!(matches!(state.doing[6], Doing::Woken));
    }

    #[test]
    fn a_thread_held_past_a_slow_turn_does_not_hold_back_the_queue() {
        let mut state = idle_threads(3);
        let long_ago = Instant::now() - SLOW_TURN * 10;
        state.doing[0] = Doing::Running(long_ago);
        state.doing[1] = Doing::Running(long_ago);
        state.idle = vec![2];
        state.lanes.push_back(Arc::new(LaneInner::default()));
        assert!(state.thread_to_wake(2).is_some());
        assert!(matches!(state.doing[2], Doing::Woken));
    }

    #[test]
    fn no_thread_is_woken_without_queued_lanes() {
        let mut state = idle_threads(2);
        assert!(state.thread_to_wake(2).is_none());
    }

    #[tokio::test]
    async fn a_panicking_job_fails_its_waiter_and_the_lane_goes_on() {
        let lane = IoLane::default();
        let panicked = lane.run(|| panic!("a bug in a job"));
        let next = lane.run(|| 7);
        assert_eq!(panicked.await, Err(LaneError::Panicked));
        assert_eq!(next.await, Ok(7));
    }
}
