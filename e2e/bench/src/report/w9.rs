//! W9's table (many clients, small requests): one row per figure, one
//! column per variant and target, each cell the median with the runs'
//! range, since tails vary from run to run.

use std::fmt::Write as _;

use super::{Report, fmt_value};
use crate::many_clients::VARIANTS;

/// W9 figures: suffix after the variant's key, label, unit.
const FIGURES: &[(&str, &str, &str)] = &[
    (
        "requests_per_s",
        "requests/s (all APIs, counted by the clients)",
        "req/s",
    ),
    ("produce_requests_per_s", "Produce requests/s", "req/s"),
    ("broker_cpu_us_per_request", "broker CPU per request", "µs"),
    (
        "broker_switches_per_request",
        "broker context switches per request",
        "",
    ),
    ("broker_cpu_cores", "broker CPU", "cores"),
    (
        "client_cpu_cores",
        "clients' CPU (librdkafka, this harness)",
        "cores",
    ),
    ("p50_ms", "produce ack latency p50", "ms"),
    ("p99_ms", "produce ack latency p99", "ms"),
    ("p999_ms", "produce ack latency p99.9", "ms"),
    ("max_ms", "produce ack latency max", "ms"),
    (
        "acked_records_per_s",
        "records acknowledged/s (all producers)",
        "rec/s",
    ),
    (
        "consumed_records_per_s",
        "records consumed/s (all groups)",
        "rec/s",
    ),
];

/// Whether `name` is a W9 figure (shown in its own table).
pub(super) fn is_w9(name: &str) -> bool {
    name.starts_with("w9_")
}

impl Report {
    /// The W9 table; empty when W9 did not run.
    pub(super) fn w9_table(&self) -> String {
        let targets: Vec<&str> = ["karst", "peer"]
            .into_iter()
            .filter(|t| {
                self.medians
                    .get(*t)
                    .is_some_and(|m| m.keys().any(|k| is_w9(k)))
            })
            .collect();
        if targets.is_empty() {
            return String::new();
        }
        let shape = self.sizes.w9;
        let floor = |k: &str| self.ceilings.get(k).map_or("–".into(), |v| fmt_value(*v));
        let mut out = format!(
            "\n**W9 many clients, small requests** (issue 17): {} producers with \
             `linger.ms=0` offering {} records/s of 1 KB together over {} topics x {} \
             partitions, {} consumer group(s) of {}, {} s per variant; acks=all producers \
             are idempotent; *heavy* adds one producer sending {} MB/s in 1 MB batches \
             (its own acks are not in the latencies). Median (min–max) over runs. CPU in \
             cores is CPU seconds per second of the variant; µs per request is the \
             broker's CPU over every request the clients sent. Floors on this machine \
             under the same offered load (a minimal server's CPU per request, \
             `request_floor.rs`): a thread per connection **{} µs**; one async worker \
             with a reader and a writer task per connection **{} µs**; that, appending \
             each request to a file on the worker, **{} µs**; the append handed to \
             another thread and answered back **{} µs**.\n\n\
             | figure | unit |",
            shape.producers,
            shape.rate,
            shape.topics,
            shape.partitions,
            shape.groups,
            shape.consumers_per_group,
            shape.secs,
            shape.heavy_mb_per_s,
            floor("small_request_floor_us"),
            floor("small_request_floor_tokio_us"),
            floor("small_request_floor_tokio_append_us"),
            floor("small_request_floor_tokio_handoff_us"),
        );
        // Only the variants that ran (`--w9-variants`).
        let variants: Vec<_> = VARIANTS
            .iter()
            .filter(|v| {
                targets.iter().any(|t| {
                    self.medians[*t]
                        .keys()
                        .any(|k| k.starts_with(&format!("{}_", v.key)))
                })
            })
            .collect();
        let mut rule = String::from("|---|---|");
        for variant in &variants {
            for t in &targets {
                let _ = write!(out, " {} {t} |", variant.label);
                rule.push_str("---:|");
            }
        }
        let _ = writeln!(out, "\n{rule}");
        for (suffix, label, unit) in FIGURES {
            let _ = write!(out, "| {label} | {unit} |");
            for variant in &variants {
                let name = format!("{}_{suffix}", variant.key);
                for t in &targets {
                    let _ = write!(out, " {} |", self.cell(t, &name));
                }
            }
            out.push('\n');
        }
        out
    }

    /// `median (min–max)` of a figure for a target, `–` when missing.
    fn cell(&self, target: &str, name: &str) -> String {
        let Some(median) = self.medians.get(target).and_then(|m| m.get(name)) else {
            return "–".into();
        };
        let runs: Vec<f64> = self
            .runs
            .get(target)
            .into_iter()
            .flatten()
            .filter_map(|f| f.get(name).copied())
            .collect();
        if runs.len() < 2 {
            return fmt_value(*median);
        }
        let lo = runs.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = runs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        format!(
            "{} ({}–{})",
            fmt_value(*median),
            fmt_value(lo),
            fmt_value(hi)
        )
    }
}
