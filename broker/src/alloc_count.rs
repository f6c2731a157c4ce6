//! Heap allocations counted process-wide (feature `alloc-count`, for the
//! per-request figures of `bench/callgrind-requests.sh`): the global
//! allocator is the system's, wrapped by `stats_alloc` to count calls and
//! bytes. Without the feature nothing is wrapped and nothing is counted.

/// Allocations and bytes allocated since start, when counted.
pub(crate) fn allocations() -> Option<(u64, u64)> {
    counting::totals()
}

#[cfg(feature = "alloc-count")]
mod counting {
    use std::alloc::System;

    use stats_alloc::{INSTRUMENTED_SYSTEM, StatsAlloc};

    #[global_allocator]
    static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

    pub(super) fn totals() -> Option<(u64, u64)> {
        let stats = GLOBAL.stats();
        // A realloc is an allocation too (it may move the block).
        let calls = stats.allocations + stats.reallocations;
        let bytes = stats.bytes_allocated + stats.bytes_reallocated.max(0) as usize;
        Some((calls as u64, bytes as u64))
    }
}

#[cfg(not(feature = "alloc-count"))]
mod counting {
    pub(super) fn totals() -> Option<(u64, u64)> {
        None
    }
}

/// `karst_allocations_total` and `karst_allocated_bytes_total`, brought up
/// to date at each scrape; registered only when allocations are counted.
#[derive(Debug)]
pub(crate) struct AllocationMetrics {
    calls: prometheus::IntCounter,
    bytes: prometheus::IntCounter,
}

impl AllocationMetrics {
    /// The metrics, or `None` in a build that does not count.
    pub(crate) fn new() -> Option<Self> {
        allocations()?;
        let counter =
            |name: &str, help: &str| prometheus::IntCounter::new(name, help).expect("valid metric");
        Some(Self {
            calls: counter(
                "karst_allocations_total",
                "Heap allocations (and reallocations) since start; builds with feature alloc-count only",
            ),
            bytes: counter(
                "karst_allocated_bytes_total",
                "Bytes heap-allocated since start; builds with feature alloc-count only",
            ),
        })
    }

    pub(crate) fn collectors(&self) -> Vec<Box<dyn prometheus::core::Collector>> {
        vec![Box::new(self.calls.clone()), Box::new(self.bytes.clone())]
    }

    /// Catches the counters up with the allocator's totals.
    pub(crate) fn refresh(&self) {
        if let Some((calls, bytes)) = allocations() {
            self.calls.inc_by(calls.saturating_sub(self.calls.get()));
            self.bytes.inc_by(bytes.saturating_sub(self.bytes.get()));
        }
    }
}
