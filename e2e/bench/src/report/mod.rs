//! Results: JSON with every run, a Markdown table of medians with ratios to
//! the machine's ceilings and to the peer, and an SVG chart (plotters).

mod chart;
mod format;
mod markdown;
mod rows;
mod w9;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde::Serialize;

pub(crate) use self::format::{fmt_ratio, fmt_value, iso8601_utc};
use self::rows::{Ceiling, meta};
use crate::stats::{median, ratio};
use crate::{Figures, Sizes};

fn medians_of(runs: &[Figures]) -> Figures {
    let keys: BTreeSet<&String> = runs.iter().flat_map(|f| f.keys()).collect();
    keys.into_iter()
        .map(|k| {
            let values: Vec<f64> = runs.iter().filter_map(|f| f.get(k).copied()).collect();
            (k.clone(), median(&values))
        })
        .collect()
}

fn git(args: &[&str]) -> Option<String> {
    let out = std::process::Command::new("git").args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

#[derive(Serialize)]
pub(crate) struct Report {
    date: String,
    /// How the harness was run.
    command: String,
    git_commit: String,
    /// Whether the work tree had changes against that commit.
    git_dirty: bool,
    quick: bool,
    sizes: Sizes,
    /// Medians over the runs.
    ceilings: Figures,
    ceiling_runs: Vec<Figures>,
    /// Every run's figures per target ("karst", "peer").
    runs: BTreeMap<String, Vec<Figures>>,
    medians: BTreeMap<String, Figures>,
    /// Per target, each figure against its ceiling (see `ceiling_ratio`).
    ceiling_ratios: BTreeMap<String, Figures>,
}

impl Report {
    pub(crate) fn new(
        command: String,
        quick: bool,
        sizes: Sizes,
        ceiling_runs: Vec<Figures>,
        runs: BTreeMap<String, Vec<Figures>>,
    ) -> Self {
        let medians = runs
            .iter()
            .map(|(t, all)| (t.clone(), medians_of(all)))
            .collect::<BTreeMap<_, _>>();
        let date = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let mut report = Self {
            date: iso8601_utc(date),
            command,
            git_commit: git(&["rev-parse", "HEAD"]).unwrap_or_default(),
            git_dirty: git(&["status", "--porcelain", "--untracked-files=no"])
                .is_some_and(|s| !s.is_empty()),
            quick,
            sizes,
            ceilings: medians_of(&ceiling_runs),
            ceiling_runs,
            runs,
            medians,
            ceiling_ratios: BTreeMap::new(),
        };
        report.ceiling_ratios = report
            .medians
            .iter()
            .map(|(target, figures)| {
                let ratios = figures
                    .keys()
                    .filter_map(|k| Some((k.clone(), report.ceiling_ratio(target, k).0?)))
                    .collect();
                (target.clone(), ratios)
            })
            .collect();
        report
    }

    /// `name`'s ratio to its ceiling for `target`: the median over runs of
    /// each run's figure against the ceiling measured in that same run
    /// (`true` when it reads as a percentage).
    fn ceiling_ratio(&self, target: &str, name: &str) -> (Option<f64>, bool) {
        let Some(ceiling) = meta(name).and_then(|m| m.ceiling) else {
            return (None, false);
        };
        let per_run: Vec<f64> = self
            .runs
            .get(target)
            .into_iter()
            .flatten()
            .zip(&self.ceiling_runs)
            .filter_map(|(figures, ceilings)| {
                let value = figures.get(name).copied();
                let c = |k: &str| ceilings.get(k).copied();
                match ceiling {
                    Ceiling::Tcp(bytes) => {
                        ratio(value.map(|v| v * bytes / 1e6), c("loopback_tcp_mbps"))
                    }
                    Ceiling::Fdatasync => ratio(value, c("fdatasync_write_mbps")),
                    Ceiling::Rtt => ratio(value.map(|v| v * 1e3), c("loopback_rtt_us")),
                }
            })
            .collect();
        let as_percent = ceiling != Ceiling::Rtt;
        if per_run.is_empty() {
            (None, as_percent)
        } else {
            (Some(median(&per_run)), as_percent)
        }
    }

    pub(crate) fn write(&self, dir: &Path) -> anyhow::Result<()> {
        std::fs::write(
            dir.join("results.json"),
            serde_json::to_string_pretty(self)? + "\n",
        )?;
        std::fs::write(dir.join("RESULTS.md"), self.markdown())?;
        std::fs::write(dir.join("throughput.svg"), self.svg()?)?;
        Ok(())
    }
}

/// A report over three Karst runs (and optionally one peer run) for the tests
/// of the table and the chart.
#[cfg(test)]
mod fixture {
    use super::*;

    pub(super) fn report(with_peer: bool) -> Report {
        let figures = |mbps: f64| {
            Figures::from([
                ("w1_p1_mbps".to_owned(), mbps),
                // CPU s/GB that falls as throughput rises.
                ("w1_p1_cpu_s_per_gb".to_owned(), 400.0 / mbps),
                ("w1_p1_client_cpu_s_per_gb".to_owned(), 1000.0 / mbps),
                ("w3_p1_records_per_s".to_owned(), 2_000_000.0),
                ("w5_p99_ms".to_owned(), 5.0),
                ("w7_startup_ms".to_owned(), 5.0),
                ("x_other".to_owned(), 1.0),
            ])
        };
        let mut runs = BTreeMap::from([(
            "karst".to_owned(),
            vec![figures(100.0), figures(300.0), figures(200.0)],
        )]);
        if with_peer {
            runs.insert("peer".to_owned(), vec![figures(100.0)]);
        }
        let ceilings = |tcp: f64| {
            Figures::from([
                ("loopback_tcp_mbps".to_owned(), tcp),
                ("fdatasync_write_mbps".to_owned(), 300.0),
                ("loopback_rtt_us".to_owned(), 50.0),
            ])
        };
        Report::new(
            "karst-bench --quick".into(),
            true,
            crate::Sizes::new(true, 1),
            vec![ceilings(500.0), ceilings(1500.0), ceilings(1000.0)],
            runs,
        )
    }
}
