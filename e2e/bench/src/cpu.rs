//! CPU time of processes, from `/proc/<pid>/stat`: user + system time of
//! all threads, living and exited (`utime` + `stime`). Per GB moved, it
//! says what a workload cost the broker and the client (this harness,
//! librdkafka) beside how fast it went.

/// Suffix of a workload's broker CPU figure (e.g. `w1_p1_cpu_s_per_gb`).
pub(crate) const BROKER: &str = "_cpu_s_per_gb";
/// Suffix of a workload's client CPU figure (`w1_p1_client_cpu_s_per_gb`).
pub(crate) const CLIENT: &str = "_client_cpu_s_per_gb";

/// Clock ticks per second of /proc's times: `sysconf(_SC_CLK_TCK)`, which
/// rustix reads, as glibc does, from the aux vector (AT_CLKTCK) without
/// the unsafe code that the workspace forbids.
fn ticks_per_second() -> u64 {
    rustix::param::clock_ticks_per_second()
}

/// `utime` + `stime` (fields 14 and 15) of a `/proc/<pid>/stat` line, in
/// clock ticks. The command name (field 2) is in parentheses and may hold
/// spaces and parentheses, so fields are counted after its last `)`.
fn parse_ticks(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    // `rest` starts with field 3 (state): utime is the 12th from there.
    let mut fields = rest.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

/// CPU seconds used so far by process `pid` (this process for `None`), or
/// `None` when it cannot be read (no /proc, the process is gone).
pub(crate) fn cpu_secs(pid: Option<u32>) -> Option<f64> {
    let path = pid.map_or_else(
        || "/proc/self/stat".to_owned(),
        |p| format!("/proc/{p}/stat"),
    );
    let ticks = parse_ticks(&std::fs::read_to_string(path).ok()?)?;
    let hz = ticks_per_second();
    (hz > 0).then(|| ticks as f64 / hz as f64)
}

/// This thread's time on a CPU so far (user and system), in nanoseconds.
pub(crate) fn thread_cpu_ns() -> std::io::Result<u64> {
    let schedstat = std::fs::read_to_string("/proc/thread-self/schedstat")?;
    schedstat
        .split_whitespace()
        .next()
        .and_then(|ns| ns.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("unreadable schedstat: {schedstat:?}")))
}

/// Context switches so far (voluntary and not) of the living threads of
/// process `pid`, from `/proc/<pid>/task/*/status`: what a request costs
/// in sleeps and wake-ups, which on a VM is much of a small request's CPU.
pub(crate) fn context_switches(pid: u32) -> Option<u64> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).ok()?;
    let mut total = 0;
    for task in tasks.filter_map(Result::ok) {
        let Ok(status) = std::fs::read_to_string(task.path().join("status")) else {
            continue; // the thread ended meanwhile
        };
        total += parse_switches(&status);
    }
    Some(total)
}

fn parse_switches(status: &str) -> u64 {
    status
        .lines()
        .filter_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.ends_with("ctxt_switches")
                .then(|| value.trim().parse::<u64>().ok())?
        })
        .sum()
}

/// The CPU seconds of the broker and of this harness at one moment.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Sample {
    pub(crate) broker: Option<f64>,
    pub(crate) client: Option<f64>,
}

/// CPU seconds per GB (1e9 bytes) moved between two samples.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Cost {
    pub(crate) broker: Option<f64>,
    pub(crate) client: Option<f64>,
}

impl Sample {
    /// Now, for the broker process `broker` and this process.
    pub(crate) fn now(broker: Option<u32>) -> Self {
        Self {
            broker: broker.and_then(|pid| cpu_secs(Some(pid))),
            client: cpu_secs(None),
        }
    }

    /// The CPU spent from `earlier` to this sample per GB of `bytes`.
    pub(crate) fn per_gb_since(&self, earlier: &Self, bytes: u64) -> Cost {
        let per_gb = |after: Option<f64>, before: Option<f64>| {
            let spent = after? - before?;
            (bytes > 0 && spent >= 0.0).then(|| spent / (bytes as f64 / 1e9))
        };
        Cost {
            broker: per_gb(self.broker, earlier.broker),
            client: per_gb(self.client, earlier.client),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::hint::black_box;
    use std::time::{Duration, Instant};

    use super::*;

    #[test]
    fn stat_lines_parse_past_odd_command_names() {
        let line = "4242 (a) b (c) 1 2) S 1 4242 4242 0 -1 4194560 500 0 0 0 \
                    731 269 0 0 20 0 3 0 12345 1000000 200 18446744073709551615\n";
        assert_eq!(parse_ticks(line), Some(1000));
        assert_eq!(parse_ticks("1 (x) S 1 2 3"), None);
        assert_eq!(parse_ticks("no parenthesis"), None);
    }

    #[test]
    fn burning_cpu_here_shows_in_the_measured_time() {
        assert!(ticks_per_second() > 0);
        let before = cpu_secs(None).expect("/proc/self/stat");
        let by_pid = cpu_secs(Some(std::process::id())).expect("/proc/<pid>/stat");
        assert!(by_pid >= before, "{by_pid} < {before}");
        // Spin until a tenth of a CPU second shows (the machine may be
        // busy, so wall time is no measure of it).
        let start = Instant::now();
        let mut x = 1u64;
        let mut now = before;
        while now - before < 0.1 && start.elapsed() < Duration::from_secs(60) {
            for i in 0..1_000_000u64 {
                x = black_box(x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(i));
            }
            now = cpu_secs(None).expect("/proc/self/stat");
        }
        black_box(x);
        let spent = now - before;
        assert!(spent >= 0.1, "{spent} CPU s after spinning");
        // Other tests run in this process too, but not beyond every core.
        let cores = std::thread::available_parallelism().map_or(64, |n| n.get()) as f64;
        let wall = start.elapsed().as_secs_f64();
        assert!(spent <= wall * cores + 0.05, "{spent} CPU s in {wall} s");
    }

    #[test]
    fn context_switches_add_both_kinds() {
        let status =
            "Name:\tkarst\nvoluntary_ctxt_switches:\t150\nnonvoluntary_ctxt_switches:\t7\n";
        assert_eq!(parse_switches(status), 157);
        assert!(context_switches(std::process::id()).is_some());
    }

    #[test]
    fn costs_are_seconds_per_gb() {
        let at = |broker, client| Sample { broker, client };
        let cost = at(Some(3.0), Some(1.5)).per_gb_since(&at(Some(1.0), Some(1.0)), 500_000_000);
        assert_eq!(
            cost,
            Cost {
                broker: Some(4.0),
                client: Some(1.0)
            }
        );
        let gone = at(None, Some(1.0)).per_gb_since(&at(Some(1.0), Some(1.0)), 0);
        assert_eq!(
            gone,
            Cost {
                broker: None,
                client: None
            }
        );
    }
}
