//! The Markdown table of medians, with ratios to the machine's ceilings and
//! to the peer.

use std::fmt::Write as _;

use super::rows::{CPU_WORKLOADS, ROWS, meta};
use super::w9::is_w9;
use super::{Report, fmt_ratio, fmt_value};
use crate::stats::ratio;
use crate::{Figures, cpu};

impl Report {
    /// The Markdown table of medians.
    pub(crate) fn markdown(&self) -> String {
        let empty = Figures::new();
        let karst = self.medians.get("karst").unwrap_or(&empty);
        let peer = self.medians.get("peer");
        let karst_runs = self.runs.get("karst").map_or(0, Vec::len);
        let c = |k: &str| self.ceilings.get(k).map_or("–".into(), |v| fmt_value(*v));
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{} · commit {}{} · {} sizes · median of {karst_runs} run(s)\n\n\
             Machine ceilings measured in the same run: sequential write with fdatasync \
             (1 MiB + fdatasync each) **{} MB/s**, one loopback TCP stream **{} MB/s**, \
             loopback round trip **{} µs** (medians over runs). Load average \
             (1 min, all processes on the machine) when the runs started: {}.\n\n\
             Command: `{}`\n\n\
             *of ceiling*: median over runs of each run's figure against the ceiling \
             measured in that run: MB/s (records/s × record size for rec/s) as a share of the \
             loopback stream, or of the fdatasync write for acks=all; latencies as \
             multiples of the loopback round trip. *karst / peer*: above 1 is better \
             for MB/s and rec/s, below 1 for ms, MiB and CPU s/GB.\n",
            self.date,
            self.git_commit.get(..10).unwrap_or(&self.git_commit),
            if self.git_dirty {
                " (with local changes)"
            } else {
                ""
            },
            if self.quick { "quick" } else { "full" },
            c("fdatasync_write_mbps"),
            c("loopback_tcp_mbps"),
            c("loopback_rtt_us"),
            self.ceiling_runs
                .iter()
                .filter_map(|r| r.get("load_avg_1m").map(|l| format!("{l:.1}")))
                .collect::<Vec<_>>()
                .join(", "),
            self.command,
        );
        out.push_str(
            "| figure | workload | unit | karst | runs (min–max) | of ceiling | peer | karst / peer | goal |\n\
             |---|---|---|---:|---:|---:|---:|---:|---|\n",
        );
        let mut names: Vec<&str> = ROWS
            .iter()
            .map(|(n, _)| *n)
            .filter(|n| karst.contains_key(*n))
            .collect();
        names.extend(
            karst
                .keys()
                .map(String::as_str)
                // Client CPU goes to the table of CPU per GB.
                // W9 has a table of its own.
                .filter(|n| meta(n).is_none() && !n.ends_with(cpu::CLIENT) && !is_w9(n)),
        );
        for name in names {
            let value = karst[name];
            let m = meta(name);
            let (r, as_percent) = self.ceiling_ratio("karst", name);
            let spread: Vec<f64> = self
                .runs
                .get("karst")
                .into_iter()
                .flatten()
                .filter_map(|f| f.get(name).copied())
                .collect();
            let (lo, hi) = spread
                .iter()
                .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
                    (lo.min(*v), hi.max(*v))
                });
            let spread = if spread.len() > 1 {
                format!("{}–{}", fmt_value(lo), fmt_value(hi))
            } else {
                "–".into()
            };
            let peer_value = peer.and_then(|p| p.get(name).copied());
            let _ = writeln!(
                out,
                "| {name} | {} | {} | {} | {spread} | {} | {} | {} | {} |",
                m.map_or("", |m| m.what),
                m.map_or("", |m| m.unit),
                fmt_value(value),
                fmt_ratio(r, as_percent),
                peer_value.map_or("–".into(), fmt_value),
                fmt_ratio(ratio(Some(value), peer_value), false),
                m.map_or("", |m| m.goal),
            );
        }
        out.push_str(&self.cpu_table());
        out.push_str(&self.w9_table());
        if peer.is_none() {
            out.push_str(
                "\nNo peer in this run. To add Tansu 0.6.0 with memory storage \
                 (`cargo install tansu --version 0.6.0 --locked --features dynostore`, ~20 min):\n\n\
                 ```\ncargo run --release -p karst-bench -- --karst-bin target/release/karst \\\n  \
                 --peer-cmd 'tansu broker --listener-url tcp://127.0.0.1:{port} \
                 --advertised-listener-url tcp://127.0.0.1:{port} --storage-engine memory://tansu/'\n```\n",
            );
        }
        out
    }

    /// The broker's CPU per GB of each workload beside the client's, per
    /// target; empty when no CPU was measured.
    fn cpu_table(&self) -> String {
        let targets: Vec<&str> = ["karst", "peer"]
            .into_iter()
            .filter(|t| self.medians.contains_key(*t))
            .collect();
        let get = |target: &str, prefix: &str, suffix: &str| {
            self.medians
                .get(target)
                .and_then(|m| m.get(&format!("{prefix}{suffix}")).copied())
        };
        let rows: Vec<_> = CPU_WORKLOADS
            .iter()
            .filter(|(p, _)| {
                targets
                    .iter()
                    .any(|t| get(t, p, cpu::BROKER).is_some() || get(t, p, cpu::CLIENT).is_some())
            })
            .collect();
        if rows.is_empty() {
            return String::new();
        }
        let mut out = String::from(
            "\n**CPU per GB moved** (CPU s/GB, lower is better): user + system seconds of \
             all threads from `/proc/<pid>/stat` over each workload, per 10^9 payload \
             bytes, to a clock tick (coarse at quick sizes), of the broker and of the \
             client (this harness: librdkafka's producer or consumer). Times the \
             workload's GB/s it gives the cores each side kept busy: a side near a \
             whole core, or both together near all of the machine's, is what limits \
             the throughput.\n\n| workload |",
        );
        let mut rule = String::from("|---|");
        for t in &targets {
            let _ = write!(out, " {t} broker | {t} client |");
            rule.push_str("---:|---:|");
        }
        let _ = writeln!(out, "\n{rule}");
        for (prefix, label) in rows {
            let _ = write!(out, "| {label} |");
            for t in &targets {
                for suffix in [cpu::BROKER, cpu::CLIENT] {
                    let v = get(t, prefix, suffix);
                    let _ = write!(out, " {} |", v.map_or("–".into(), fmt_value));
                }
            }
            out.push('\n');
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixture::report;

    #[test]
    fn table_shows_medians_ratios_to_ceilings_and_peer() {
        let table = report(true).markdown();
        assert!(
            table.contains(
                "| w1_p1_mbps | W1 produce 1 KiB, acks=1, 1 partition | MB/s | 200 | 100–300 | 20 % | 100 | 2.00x | >= 1.0x peer |"
            ),
            "{table}"
        );
        // 2 M records of 100 B = 200 MB/s of a 1000 MB/s stream.
        assert!(
            table.contains("| 2.00 M | 2.00 M–2.00 M | 20 % | 2.00 M | 1.00x |"),
            "{table}"
        );
        // 5 ms is 100 loopback round trips of 0.05 ms.
        assert!(
            table.contains("| ms | 5.0 | 5.0–5.0 | 100x | 5.0 | 1.00x |"),
            "{table}"
        );
        assert!(
            table.contains("| w7_startup_ms | W7 start-up to /readyz | ms | 5.0 | 5.0–5.0 | – |"),
            "{table}"
        );
        // Broker CPU per GB: lower is better, so 0.50x is half the peer's.
        assert!(
            table.contains(
                "| w1_p1_cpu_s_per_gb | W1 broker CPU per GB produced, 1 partition | CPU s/GB \
                 | 2.0 | 1.3–4.0 | – | 4.0 | 0.50x | lower is better |"
            ),
            "{table}"
        );
        // Unknown figures come last in the main table, without description;
        // client CPU is not among them but in the table of CPU per GB.
        assert!(
            table.contains("| x_other |  |  | 1.0 | 1.0–1.0 | – | 1.0 | 1.00x |  |\n\n"),
            "{table}"
        );
        assert!(!table.contains("| w1_p1_client_cpu_s_per_gb |"), "{table}");
        assert!(
            table.trim_end().ends_with(
                "| workload | karst broker | karst client | peer broker | peer client |\n\
                 |---|---:|---:|---:|---:|\n\
                 | W1 1p | 2.0 | 5.0 | 4.0 | 10.0 |"
            ),
            "{table}"
        );
        assert!(!table.contains("No peer in this run"));
    }

    #[test]
    fn without_a_peer_the_table_says_how_to_add_one() {
        let table = report(false).markdown();
        assert!(
            table.contains("| 200 | 100–300 | 20 % | – | – |"),
            "{table}"
        );
        assert!(table.contains("--peer-cmd 'tansu broker"), "{table}");
        assert!(
            table.contains(
                "| workload | karst broker | karst client |\n|---|---:|---:|\n| W1 1p | 2.0 | 5.0 |\n"
            ),
            "{table}"
        );
    }
}
