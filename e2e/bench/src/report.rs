//! Results: JSON with every run, a Markdown table of medians with ratios to
//! the machine's ceilings and to the peer, and an SVG chart (plotters).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::Path;

use plotters::prelude::*;
use serde::Serialize;

use crate::stats::{median, ratio};
use crate::{Figures, Sizes};

/// What limits a figure on this machine.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Ceiling {
    /// Bytes through loopback TCP; the figure is MB/s, or records/s of
    /// records of this many bytes.
    Tcp(f64),
    /// Sequential writes with fdatasync (MB/s).
    Fdatasync,
    /// One loopback round trip (ms); the ratio is a multiple of it.
    Rtt,
}

/// How a figure is shown.
struct Meta {
    what: &'static str,
    unit: &'static str,
    ceiling: Option<Ceiling>,
    goal: &'static str,
}

/// The table's rows, in order; figures not listed follow by name.
const ROWS: &[(&str, Meta)] = &[
    row(
        "w1_p1_mbps",
        "W1 produce 1 KiB, acks=1, 1 partition",
        "MB/s",
        Some(Ceiling::Tcp(1e6)),
        ">= 1.0x peer",
    ),
    row(
        "w1_p8_mbps",
        "W1 produce 1 KiB, acks=1, 8 partitions",
        "MB/s",
        Some(Ceiling::Tcp(1e6)),
        ">= 1.0x peer",
    ),
    row(
        "w1_p1_records_per_s",
        "W1 records, 1 partition",
        "rec/s",
        Some(Ceiling::Tcp(1024.0)),
        "",
    ),
    row(
        "w1_p8_records_per_s",
        "W1 records, 8 partitions",
        "rec/s",
        Some(Ceiling::Tcp(1024.0)),
        "",
    ),
    row(
        "w2_p1_mbps",
        "W2 produce 1 KiB, acks=all, 1 partition",
        "MB/s",
        Some(Ceiling::Fdatasync),
        ">= 250 MB/s or 80 % of fdatasync",
    ),
    row(
        "w2_p8_mbps",
        "W2 produce 1 KiB, acks=all, 8 partitions",
        "MB/s",
        Some(Ceiling::Fdatasync),
        ">= 250 MB/s or 80 % of fdatasync",
    ),
    row(
        "w3_p1_records_per_s",
        "W3 produce 100 B, 1 partition",
        "rec/s",
        Some(Ceiling::Tcp(100.0)),
        ">= 2.5 M/s",
    ),
    row(
        "w3_p8_records_per_s",
        "W3 produce 100 B, 8 partitions",
        "rec/s",
        Some(Ceiling::Tcp(100.0)),
        ">= 2.5 M/s",
    ),
    row(
        "w4_p1_mbps",
        "W4 consume from the beginning, 1 partition",
        "MB/s",
        Some(Ceiling::Tcp(1e6)),
        ">= 1000 MB/s",
    ),
    row(
        "w4_p8_mbps",
        "W4 consume from the beginning, 8 partitions",
        "MB/s",
        Some(Ceiling::Tcp(1e6)),
        ">= 1000 MB/s",
    ),
    row(
        "w5_p50_ms",
        "W5 end-to-end latency p50",
        "ms",
        Some(Ceiling::Rtt),
        "",
    ),
    row(
        "w5_p99_ms",
        "W5 end-to-end latency p99",
        "ms",
        Some(Ceiling::Rtt),
        "",
    ),
    row(
        "w5_p999_ms",
        "W5 end-to-end latency p99.9",
        "ms",
        Some(Ceiling::Rtt),
        "",
    ),
    row(
        "w5_max_ms",
        "W5 end-to-end latency max",
        "ms",
        Some(Ceiling::Rtt),
        "",
    ),
    row("w6_idle_rss_mb", "W6 RSS idle", "MiB", None, "<= 20 MB"),
    row(
        "w6_loaded_rss_mb",
        "W6 RSS after producing",
        "MiB",
        None,
        "<= 200 MB",
    ),
    row(
        "w6_produced_mib",
        "W6 bytes produced before that",
        "MiB",
        None,
        "4 GB",
    ),
    row(
        "w7_startup_ms",
        "W7 start-up to /readyz",
        "ms",
        None,
        "<= 100 ms",
    ),
    row(
        "w7_recovery_ms",
        "W7 recovery after kill -9",
        "ms",
        None,
        "<= 2000 ms",
    ),
    row(
        "w7_log_mib",
        "W7 log size at the kill",
        "MiB",
        None,
        "10 GB",
    ),
];

const fn row(
    name: &'static str,
    what: &'static str,
    unit: &'static str,
    ceiling: Option<Ceiling>,
    goal: &'static str,
) -> (&'static str, Meta) {
    (
        name,
        Meta {
            what,
            unit,
            ceiling,
            goal,
        },
    )
}

fn meta(name: &str) -> Option<&'static Meta> {
    ROWS.iter().find(|(n, _)| *n == name).map(|(_, m)| m)
}

/// A figure with sensible precision: 2.51 M, 40716, 408, 13.4, 0.42.
pub(crate) fn fmt_value(v: f64) -> String {
    let a = v.abs();
    if !v.is_finite() {
        "–".into()
    } else if a >= 1e6 {
        format!("{:.2} M", v / 1e6)
    } else if a >= 100.0 {
        format!("{v:.0}")
    } else if a >= 1.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// A ratio: a percentage below 10x, a multiple from there (e.g. RTTs).
pub(crate) fn fmt_ratio(r: Option<f64>, as_percent: bool) -> String {
    match r {
        None => "–".into(),
        Some(r) if as_percent => format!("{:.0} %", 100.0 * r),
        Some(r) if r >= 10.0 => format!("{r:.0}x"),
        Some(r) => format!("{r:.2}x"),
    }
}

/// `secs` since the Unix epoch as `YYYY-MM-DDTHH:MM:SSZ`.
pub(crate) fn iso8601_utc(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Days to a civil date in the proleptic Gregorian calendar, counting
    // 400-year eras from 0000-03-01.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

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
             for MB/s and rec/s, below 1 for ms and MiB.\n",
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
                .filter(|n| meta(n).is_none()),
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

    /// Throughput in MB/s per workload, karst beside the peer, with the
    /// machine's ceilings as lines.
    pub(crate) fn svg(&self) -> anyhow::Result<String> {
        const BARS: &[(&str, &str, f64)] = &[
            ("w1_p1_mbps", "W1 1p", 1e6),
            ("w1_p8_mbps", "W1 8p", 1e6),
            ("w2_p1_mbps", "W2 1p", 1e6),
            ("w2_p8_mbps", "W2 8p", 1e6),
            ("w3_p1_records_per_s", "W3 1p", 100.0),
            ("w3_p8_records_per_s", "W3 8p", 100.0),
            ("w4_p1_mbps", "W4 1p", 1e6),
            ("w4_p8_mbps", "W4 8p", 1e6),
        ];
        let value = |target: &str, key: &str, bytes: f64| {
            self.medians
                .get(target)
                .and_then(|m| m.get(key))
                .map_or(0.0, |v| v * bytes / 1e6)
        };
        let has_peer = self.medians.contains_key("peer");
        let tcp = self
            .ceilings
            .get("loopback_tcp_mbps")
            .copied()
            .unwrap_or(0.0);
        let sync = self
            .ceilings
            .get("fdatasync_write_mbps")
            .copied()
            .unwrap_or(0.0);
        let top = BARS
            .iter()
            .flat_map(|(k, _, b)| [value("karst", k, *b), value("peer", k, *b)])
            .chain([tcp, sync])
            .fold(1.0_f64, f64::max)
            * 1.1;
        let n = BARS.len() as f64;
        let mut svg = String::new();
        {
            let root = SVGBackend::with_string(&mut svg, (900, 480)).into_drawing_area();
            root.fill(&WHITE)?;
            let caption = format!(
                "Throughput, MB/s (median{}){}",
                if self.quick { ", quick sizes" } else { "" },
                if has_peer {
                    ": karst blue, peer grey"
                } else {
                    ": karst"
                }
            );
            let mut chart = ChartBuilder::on(&root)
                .caption(caption, ("sans-serif", 20))
                .margin(12)
                .x_label_area_size(36)
                .y_label_area_size(60)
                .build_cartesian_2d(0.0..n, 0.0..top)?;
            let label_of = |x: &f64| {
                let i = x.floor();
                if (x - i - 0.5).abs() < 1e-6 && i >= 0.0 && (i as usize) < BARS.len() {
                    BARS[i as usize].1.to_owned()
                } else {
                    String::new()
                }
            };
            chart
                .configure_mesh()
                .disable_x_mesh()
                .x_labels(2 * BARS.len() + 1)
                .x_label_formatter(&label_of)
                .y_label_formatter(&|y| format!("{y:.0}"))
                .y_desc("MB/s")
                .draw()?;
            let blue = RGBColor(42, 111, 219);
            let grey = RGBColor(150, 150, 150);
            let width = if has_peer { 0.38 } else { 0.7 };
            chart
                .draw_series(BARS.iter().enumerate().map(|(i, (k, _, b))| {
                    let x = i as f64 + 0.5 - if has_peer { width } else { width / 2.0 };
                    Rectangle::new(
                        [(x, 0.0), (x + width, value("karst", k, *b))],
                        blue.filled(),
                    )
                }))?
                .label("karst")
                .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], blue.filled()));
            if has_peer {
                chart
                    .draw_series(BARS.iter().enumerate().map(|(i, (k, _, b))| {
                        let x = i as f64 + 0.5;
                        Rectangle::new([(x, 0.0), (x + width, value("peer", k, *b))], grey.filled())
                    }))?
                    .label("peer")
                    .legend(move |(x, y)| {
                        Rectangle::new([(x, y - 5), (x + 12, y + 5)], grey.filled())
                    });
            }
            let labels = ["karst", "peer"].into_iter().flat_map(|target| {
                let offset = match (has_peer, target) {
                    (false, _) => 0.0,
                    (true, "karst") => -width / 2.0,
                    (true, _) => width / 2.0,
                };
                BARS.iter().enumerate().filter_map(move |(i, (k, _, b))| {
                    let v = value(target, k, *b);
                    (v > 0.0).then(|| {
                        Text::new(
                            format!("{v:.0}"),
                            (i as f64 + 0.5 + offset - 0.12, v + top * 0.035),
                            ("sans-serif", 12),
                        )
                    })
                })
            });
            chart.draw_series(labels)?;
            for (c, name, color) in [
                (tcp, "loopback TCP", RGBColor(46, 160, 67)),
                (sync, "fdatasync write", RGBColor(214, 39, 40)),
            ] {
                chart
                    .draw_series(LineSeries::new([(0.0, c), (n, c)], color.stroke_width(2)))?
                    .label(format!("{name} ceiling {c:.0} MB/s"))
                    .legend(move |(x, y)| {
                        PathElement::new([(x, y), (x + 12, y)], color.stroke_width(2))
                    });
            }
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::UpperRight)
                .background_style(WHITE.mix(0.9))
                .border_style(BLACK)
                .draw()?;
            root.present()?;
        }
        Ok(svg)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn report(with_peer: bool) -> Report {
        let figures = |mbps: f64| {
            Figures::from([
                ("w1_p1_mbps".to_owned(), mbps),
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
        // Unknown figures come last, without description.
        assert!(
            table
                .trim_end()
                .ends_with("| x_other |  |  | 1.0 | 1.0–1.0 | – | 1.0 | 1.00x |  |"),
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
    }

    #[test]
    fn chart_is_an_svg_with_labels_and_ceilings() {
        let svg = report(true).svg().unwrap();
        assert!(svg.starts_with("<svg"), "{svg}");
        assert!(svg.trim_end().ends_with("</svg>"));
        for text in [
            "W1 1p",
            "W4 8p",
            "karst",
            "peer",
            "loopback TCP ceiling 1000 MB/s",
        ] {
            assert!(svg.contains(text), "{text} missing from {svg}");
        }
    }

    #[test]
    fn values_ratios_and_dates_format() {
        assert_eq!(fmt_value(2_512_345.0), "2.51 M");
        assert_eq!(fmt_value(40716.4), "40716");
        assert_eq!(fmt_value(13.44), "13.4");
        assert_eq!(fmt_value(0.423), "0.42");
        assert_eq!(fmt_value(f64::NAN), "–");
        assert_eq!(fmt_ratio(Some(0.174), true), "17 %");
        assert_eq!(fmt_ratio(Some(1.2), true), "120 %");
        assert_eq!(fmt_ratio(Some(1.234), false), "1.23x");
        assert_eq!(fmt_ratio(Some(412.6), false), "413x");
        assert_eq!(fmt_ratio(None, true), "–");
        assert_eq!(iso8601_utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(iso8601_utc(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(iso8601_utc(1_795_594_515), "2026-11-25T08:15:15Z");
    }
}
