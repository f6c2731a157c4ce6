//! Results: JSON with every run, a Markdown table of medians with ratios to
//! the machine's ceilings and to the peer, and an SVG bar chart.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use serde::Serialize;

use crate::stats::median;
use crate::{Figures, Sizes};

/// Figures that have a machine ceiling, and which ceiling.
const CEILING_OF: &[(&str, &str)] = &[
    ("w1_p1_mbps", "loopback_tcp_mbps"),
    ("w1_p8_mbps", "loopback_tcp_mbps"),
    ("w2_p1_mbps", "fdatasync_write_mbps"),
    ("w2_p8_mbps", "fdatasync_write_mbps"),
    ("w4_p1_mbps", "loopback_tcp_mbps"),
    ("w4_p8_mbps", "loopback_tcp_mbps"),
];

/// The goals of issue 4, for the table (not asserted anywhere).
const GOALS: &[(&str, &str)] = &[
    ("w1_p1_mbps", ">= 1.0x peer"),
    ("w2_p1_mbps", ">= 250 MB/s or 80 % of fdatasync"),
    ("w3_p1_records_per_s", ">= 2.5 M/s"),
    ("w4_p1_mbps", ">= 1000 MB/s"),
    ("w6_idle_rss_mb", "<= 20 MB"),
    ("w6_loaded_rss_mb", "<= 200 MB"),
    ("w7_startup_ms", "<= 100 ms"),
    ("w7_recovery_ms", "<= 2000 ms"),
];

#[derive(Serialize)]
pub(crate) struct Report {
    date_unix_s: u64,
    git_commit: String,
    quick: bool,
    sizes: Sizes,
    ceilings: BTreeMap<String, f64>,
    runs: BTreeMap<String, Vec<Figures>>,
    medians: BTreeMap<String, Figures>,
}

impl Report {
    pub(crate) fn new(
        quick: bool,
        sizes: Sizes,
        ceilings: BTreeMap<String, f64>,
        runs: BTreeMap<String, Vec<Figures>>,
    ) -> Self {
        let medians = runs
            .iter()
            .map(|(target, all)| {
                let keys: std::collections::BTreeSet<&String> =
                    all.iter().flat_map(|f| f.keys()).collect();
                let m = keys
                    .into_iter()
                    .map(|k| {
                        let values: Vec<f64> =
                            all.iter().filter_map(|f| f.get(k).copied()).collect();
                        (k.clone(), median(&values))
                    })
                    .collect();
                (target.clone(), m)
            })
            .collect();
        let git_commit = std::process::Command::new("git")
            .args(["rev-parse", "--short", "HEAD"])
            .output()
            .ok()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
            .unwrap_or_default();
        let date_unix_s = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        Self {
            date_unix_s,
            git_commit,
            quick,
            sizes,
            ceilings,
            runs,
            medians,
        }
    }

    /// The Markdown table of medians.
    pub(crate) fn markdown(&self) -> String {
        let karst = self.medians.get("karst").cloned().unwrap_or_default();
        let peer = self.medians.get("peer");
        let mut out = String::new();
        let _ = writeln!(
            out,
            "Commit {} · {} · machine ceilings: fdatasync write {:.0} MB/s, loopback TCP {:.0} MB/s\n",
            self.git_commit,
            if self.quick {
                "quick sizes"
            } else {
                "full sizes"
            },
            self.ceilings
                .get("fdatasync_write_mbps")
                .unwrap_or(&f64::NAN),
            self.ceilings.get("loopback_tcp_mbps").unwrap_or(&f64::NAN),
        );
        out.push_str("| figure | karst | of ceiling | peer | karst / peer | goal |\n|---|---:|---:|---:|---:|---|\n");
        for (name, value) in &karst {
            let ceiling = CEILING_OF
                .iter()
                .find(|(f, _)| f == name)
                .and_then(|(_, c)| self.ceilings.get(*c))
                .map_or(String::from("–"), |c| {
                    format!("{:.0} %", 100.0 * value / c)
                });
            let peer_value = peer.and_then(|p| p.get(name));
            let (peer_cell, ratio) = match peer_value {
                Some(p) => (format!("{p:.1}"), format!("{:.2}x", value / p)),
                None => ("–".into(), "–".into()),
            };
            let goal = GOALS.iter().find(|(f, _)| f == name).map_or("", |(_, g)| g);
            let _ = writeln!(
                out,
                "| {name} | {value:.1} | {ceiling} | {peer_cell} | {ratio} | {goal} |"
            );
        }
        out
    }

    /// A bar chart of the MB/s figures, karst beside the peer.
    pub(crate) fn svg(&self) -> String {
        let karst = self.medians.get("karst").cloned().unwrap_or_default();
        let peer = self.medians.get("peer");
        let bars: Vec<(&String, f64, Option<f64>)> = karst
            .iter()
            .filter(|(k, _)| k.ends_with("_mbps"))
            .map(|(k, v)| (k, *v, peer.and_then(|p| p.get(k).copied())))
            .collect();
        let max = bars
            .iter()
            .map(|(_, k, p)| k.max(p.unwrap_or(0.0)))
            .fold(1.0_f64, f64::max);
        let (row, left, width) = (28.0, 110.0, 460.0);
        let height = 40.0 + row * bars.len() as f64;
        let mut svg = format!(
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="640" height="{height}" font-family="sans-serif" font-size="12">
<text x="10" y="18" font-weight="bold">Throughput, MB/s (median{}; blue karst, grey peer)</text>
"#,
            if self.quick { ", quick sizes" } else { "" }
        );
        for (i, (name, k, p)) in bars.iter().enumerate() {
            let y = 30.0 + row * i as f64;
            let _ = writeln!(svg, r#"<text x="10" y="{}">{name}</text>"#, y + 14.0);
            let _ = writeln!(
                svg,
                r##"<rect x="{left}" y="{y}" width="{:.1}" height="10" fill="#2a6fdb"/><text x="{:.1}" y="{}">{k:.0}</text>"##,
                width * k / max,
                left + width * k / max + 4.0,
                y + 9.0
            );
            if let Some(p) = p {
                let _ = writeln!(
                    svg,
                    r##"<rect x="{left}" y="{}" width="{:.1}" height="10" fill="#999"/><text x="{:.1}" y="{}">{p:.0}</text>"##,
                    y + 11.0,
                    width * p / max,
                    left + width * p / max + 4.0,
                    y + 20.0
                );
            }
        }
        svg.push_str("</svg>\n");
        svg
    }

    pub(crate) fn write(&self, dir: &Path) -> anyhow::Result<()> {
        std::fs::write(
            dir.join("results.json"),
            serde_json::to_string_pretty(self)?,
        )?;
        std::fs::write(dir.join("RESULTS.md"), self.markdown())?;
        std::fs::write(dir.join("throughput.svg"), self.svg())?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_shows_ratios_to_ceilings_and_peer() {
        let figures = |v: f64| {
            Figures::from([
                ("w1_p1_mbps".to_owned(), v),
                ("w7_startup_ms".to_owned(), 5.0),
            ])
        };
        let runs = BTreeMap::from([
            (
                "karst".to_owned(),
                vec![figures(100.0), figures(300.0), figures(200.0)],
            ),
            ("peer".to_owned(), vec![figures(100.0)]),
        ]);
        let ceilings = BTreeMap::from([("loopback_tcp_mbps".to_owned(), 1000.0)]);
        let report = Report::new(true, crate::Sizes::new(true, 1), ceilings, runs);
        let table = report.markdown();
        assert!(
            table.contains("| w1_p1_mbps | 200.0 | 20 % | 100.0 | 2.00x | >= 1.0x peer |"),
            "{table}"
        );
        assert!(table.contains("| w7_startup_ms | 5.0 | – |"), "{table}");
        let svg = report.svg();
        assert!(
            svg.starts_with("<svg")
                && svg.contains("w1_p1_mbps")
                && svg.trim_end().ends_with("</svg>")
        );
    }
}
