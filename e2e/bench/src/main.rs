//! `karst-bench`: Karst's throughput, latency, memory and start-up, measured
//! with librdkafka, beside the machine's own ceilings and, when asked, a peer
//! broker in the same run. Writes `results.json`, `RESULTS.md` and
//! `throughput.svg` (see issue 4's workloads W1–W7, issue 11's W8 on a
//! three-node cluster and issue 17's W9).

mod ceilings;
mod cluster;
mod cpu;
mod many_clients;
mod replicated;
mod report;
mod request_floor;
mod stats;
mod target;
mod workloads;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::Parser;

use target::{Launch, Target};
use workloads::Throughput;

#[derive(Debug, Parser)]
#[command(
    name = "karst-bench",
    about = "Benchmarks Karst (and optionally a peer) with librdkafka"
)]
struct Cli {
    /// Tiny sizes: every workload in seconds (used by the test suite).
    #[arg(long)]
    quick: bool,
    /// The karst binary to benchmark.
    #[arg(long, default_value = "target/release/karst")]
    karst_bin: PathBuf,
    /// A peer broker's start command, `{port}` replaced by its port
    /// (e.g. Tansu with memory storage).
    #[arg(long)]
    peer_cmd: Option<String>,
    /// Runs per target; medians are reported.
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Before every target's run: `sync` and drop the page cache (Linux,
    /// root), so that each run starts with the same free memory. Without
    /// it, later runs pay for reclaiming the cache earlier runs filled, and
    /// that cost lands on whichever broker runs then.
    #[arg(long)]
    drop_caches: bool,
    /// Where results are written.
    #[arg(long, default_value = "bench")]
    out: PathBuf,
    /// MiB produced by W1 per partition count (W2 takes half, W4 reads
    /// W1's, W3 sends 4096 records of 100 B per MiB).
    #[arg(long, default_value_t = 512)]
    mib: u64,
    /// Which workloads run: `all`, only `w9` (start-up, then W9), only
    /// `w1-w4` (the single-node throughput workloads, for a quick same-run
    /// comparison with an earlier binary as the peer), or only `w8` (W1 and
    /// W2 on one node, then W8 on three: replicated acks=all against
    /// single-node acks=1 in the same run).
    #[arg(long, value_enum, default_value_t = Only::All)]
    only: Only,
    /// W9: small producers (`linger.ms=0`, 1 KB records); ignored with --quick.
    #[arg(long, default_value_t = 50)]
    w9_producers: usize,
    /// W9: records/s offered by all small producers together.
    #[arg(long, default_value_t = 10_000)]
    w9_rate: u32,
    /// W9: seconds of load per variant (acks=all, acks=1, with a heavy producer).
    #[arg(long, default_value_t = 60)]
    w9_secs: u64,
    /// W9: consumer groups of 10 reading the topics; 0 leaves only the
    /// producers, so that broker CPU per request is per Produce request.
    #[arg(long, default_value_t = 2)]
    w9_groups: usize,
    /// W9: the variants that run (`w9_all`, `w9_one`, `w9_heavy`); all
    /// unless given, e.g. `--w9-variants w9_one` to profile acks=1 alone.
    #[arg(long, value_delimiter = ',')]
    w9_variants: Vec<String>,
}

/// Workload selections.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Only {
    All,
    W9,
    #[value(name = "w1-w4")]
    W1W4,
    W8,
}

impl Only {
    /// Whether W8 (a Karst cluster) runs after the single-node workloads.
    fn runs_w8(self) -> bool {
        matches!(self, Self::All | Self::W8)
    }
}

/// Workload sizes of one run.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub(crate) struct Sizes {
    w1_bytes: u64,
    w2_bytes: u64,
    w3_records: u64,
    w5_rate: u32,
    w5_secs: u64,
    ceiling_mib: usize,
    w9: many_clients::Shape,
}

impl Sizes {
    fn new(quick: bool, mib: u64) -> Self {
        // Issue 17's shape: 10 topics x 4 partitions, two groups of 10.
        let w9 = many_clients::Shape {
            producers: 50,
            topics: 10,
            partitions: 4,
            groups: 2,
            consumers_per_group: 10,
            rate: 10_000,
            secs: 60,
            heavy_mb_per_s: 10,
        };
        if quick {
            Self {
                w1_bytes: 8 << 20,
                w2_bytes: 2 << 20,
                w3_records: 50_000,
                w5_rate: 500,
                w5_secs: 2,
                ceiling_mib: 16,
                w9: many_clients::Shape {
                    producers: 5,
                    topics: 2,
                    partitions: 2,
                    groups: 1,
                    consumers_per_group: 2,
                    rate: 500,
                    secs: 2,
                    heavy_mb_per_s: 2,
                },
            }
        } else {
            Self {
                w1_bytes: mib << 20,
                w2_bytes: (mib / 2) << 20,
                w3_records: mib * 4096,
                w5_rate: 1000,
                w5_secs: 20,
                ceiling_mib: 512,
                w9,
            }
        }
    }
}

/// Named figures of one run (e.g. `w1_p8_mbps`).
pub(crate) type Figures = BTreeMap<String, f64>;

/// Runs `f`, logging how long it took (to see where a run's time goes).
fn timed<T>(what: &str, f: impl FnOnce() -> anyhow::Result<T>) -> anyhow::Result<T> {
    let start = Instant::now();
    let result = f();
    eprintln!("  {what}: {:.2} s", start.elapsed().as_secs_f64());
    result.map_err(|e| e.context(what.to_owned()))
}

/// Runs `work` and records its CPU cost per GB moved: the broker's
/// (process `broker`) as `{key}_cpu_s_per_gb` and this harness's, the
/// librdkafka client's, as `{key}_client_cpu_s_per_gb`.
fn costed(
    f: &mut Figures,
    key: &str,
    broker: Option<u32>,
    work: impl FnOnce() -> anyhow::Result<Throughput>,
) -> anyhow::Result<Throughput> {
    let before = cpu::Sample::now(broker);
    let t = work()?;
    let cost = cpu::Sample::now(broker).per_gb_since(&before, t.bytes);
    for (suffix, value) in [(cpu::BROKER, cost.broker), (cpu::CLIENT, cost.client)] {
        if let Some(v) = value {
            f.insert(format!("{key}{suffix}"), v);
        }
    }
    Ok(t)
}

fn run_once(
    target: &mut Target,
    sizes: Sizes,
    only: Only,
    w9_variants: &[many_clients::Variant],
) -> anyhow::Result<Figures> {
    let mut f = Figures::new();
    let startup = timed("W7 start-up", || target.start())?;
    f.insert("w7_startup_ms".into(), startup.as_secs_f64() * 1e3);
    match only {
        Only::All => run_w1_to_w7(target, sizes, &mut f)?,
        Only::W1W4 | Only::W8 => {
            run_w1_to_w4(target, sizes, only, &mut f)?;
        }
        Only::W9 => {}
    }
    // Last: its topics change neither W6's memory nor W7's log.
    let w9 = if matches!(only, Only::All | Only::W9) {
        w9_variants
    } else {
        &[][..]
    };
    for &variant in w9 {
        let figures = timed(&format!("W9 {}", variant.key), || {
            many_clients::run(&target.bootstrap(), target.pid(), sizes.w9, variant)
        })?;
        f.extend(figures);
    }
    if only.runs_w8() && target.is_karst() {
        f.extend(timed(
            "W8 reference: acks=1 ack latency on one node",
            || replicated::single_node_reference(&target.bootstrap(), sizes),
        )?);
    }
    timed("stop", || target.stop())?;
    Ok(f)
}

/// W1-W6 and W7's recovery, on a started target.
fn run_w1_to_w7(target: &mut Target, sizes: Sizes, f: &mut Figures) -> anyhow::Result<()> {
    std::thread::sleep(Duration::from_millis(200));
    if let Some(rss) = target.rss_mb() {
        f.insert("w6_idle_rss_mb".into(), rss);
    }
    let produced = run_w1_to_w4(target, sizes, Only::All, f)?;
    let bootstrap = target.bootstrap();
    let l = timed("W5 latency", || {
        workloads::create_topic(&bootstrap, "w5", 1)?;
        workloads::latency(
            &bootstrap,
            "w5",
            sizes.w5_rate,
            Duration::from_secs(sizes.w5_secs),
        )
    })?;
    f.insert("w5_p50_ms".into(), l.p50);
    f.insert("w5_p99_ms".into(), l.p99);
    f.insert("w5_p999_ms".into(), l.p999);
    f.insert("w5_max_ms".into(), l.max);
    if let Some(rss) = target.rss_mb() {
        f.insert("w6_loaded_rss_mb".into(), rss);
        f.insert(
            "w6_produced_mib".into(),
            produced as f64 / f64::from(1 << 20),
        );
    }
    if target.is_karst() {
        // Kill -9 with the log of every workload above, then start again.
        f.insert(
            "w7_log_mib".into(),
            target.data_bytes() as f64 / f64::from(1 << 20),
        );
        target.kill9();
        let recovery = timed("W7 recovery", || target.start())?;
        f.insert("w7_recovery_ms".into(), recovery.as_secs_f64() * 1e3);
    }
    Ok(())
}

/// W1-W4 at 1 and 8 partitions (only W1 and W2 for `--only w8`); returns
/// the bytes produced.
fn run_w1_to_w4(
    target: &mut Target,
    sizes: Sizes,
    only: Only,
    f: &mut Figures,
) -> anyhow::Result<u64> {
    let w3_w4 = only != Only::W8;
    let bootstrap = target.bootstrap();
    let pid = target.pid();
    let mut produced = 0u64;
    for partitions in [1, 8] {
        let w1 = format!("w1-p{partitions}");
        let t = timed(&format!("W1 {partitions}p"), || {
            workloads::create_topic(&bootstrap, &w1, partitions)?;
            costed(f, &format!("w1_p{partitions}"), pid, || {
                workloads::produce(&bootstrap, &w1, 1024, sizes.w1_bytes, "1", 5)
            })
        })?;
        produced += t.bytes;
        f.insert(format!("w1_p{partitions}_mbps"), t.mb_per_s());
        f.insert(format!("w1_p{partitions}_records_per_s"), t.records_per_s());
        if w3_w4 {
            let c = timed(&format!("W4 {partitions}p"), || {
                costed(f, &format!("w4_p{partitions}"), pid, || {
                    workloads::consume(&bootstrap, &w1, partitions, t.records)
                })
            })?;
            anyhow::ensure!(
                c.records == t.records && c.bytes == t.bytes,
                "W4 {partitions}p consumed {} records / {} bytes of {} / {}",
                c.records,
                c.bytes,
                t.records,
                t.bytes
            );
            f.insert(format!("w4_p{partitions}_mbps"), c.mb_per_s());
        }

        let w2 = format!("w2-p{partitions}");
        let t = timed(&format!("W2 {partitions}p"), || {
            workloads::create_topic(&bootstrap, &w2, partitions)?;
            costed(f, &format!("w2_p{partitions}"), pid, || {
                workloads::produce(&bootstrap, &w2, 1024, sizes.w2_bytes, "all", 5)
            })
        })?;
        produced += t.bytes;
        f.insert(format!("w2_p{partitions}_mbps"), t.mb_per_s());

        if !w3_w4 {
            continue;
        }
        let w3 = format!("w3-p{partitions}");
        let t = timed(&format!("W3 {partitions}p"), || {
            workloads::create_topic(&bootstrap, &w3, partitions)?;
            costed(f, &format!("w3_p{partitions}"), pid, || {
                workloads::produce(&bootstrap, &w3, 100, sizes.w3_records * 100, "1", 5)
            })
        })?;
        produced += t.bytes;
        f.insert(format!("w3_p{partitions}_records_per_s"), t.records_per_s());
    }
    Ok(produced)
}

/// The machine's ceilings (see `ceilings`), measured in `dir`.
/// The floors under W9 (`with_floors`) take 20 s at full sizes: only when
/// W9 runs.
fn measure_ceilings(
    dir: &std::path::Path,
    sizes: Sizes,
    with_floors: bool,
) -> anyhow::Result<Figures> {
    // Not a ceiling: how busy the machine was (other work skews figures).
    let load = std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next()?.parse::<f64>().ok());
    Ok(Figures::from_iter(
        load.map(|l| ("load_avg_1m".to_owned(), l))
            .into_iter()
            .chain([
                (
                    "fdatasync_write_mbps".to_owned(),
                    ceilings::fdatasync_write_mbps(dir, sizes.ceiling_mib)?,
                ),
                (
                    "loopback_tcp_mbps".to_owned(),
                    ceilings::loopback_tcp_mbps(sizes.ceiling_mib * 4)?,
                ),
                (
                    "loopback_rtt_us".to_owned(),
                    ceilings::loopback_rtt_us(2000)?,
                ),
            ])
            .chain(if with_floors {
                small_request_floors(dir, sizes)?
            } else {
                Figures::new()
            }),
    ))
}

/// The floors under W9's CPU per request (see `request_floor`), under
/// W9's load.
fn small_request_floors(dir: &std::path::Path, sizes: Sizes) -> anyhow::Result<Figures> {
    let secs = (sizes.w9.secs as f64 / 12.0).clamp(0.5, 5.0);
    let appends = tempfile::tempdir_in(dir)?;
    request_floor::Shape::ALL
        .into_iter()
        .map(|shape| {
            let us = request_floor::floor_us(
                shape,
                sizes.w9.producers,
                sizes.w9.rate,
                secs,
                appends.path(),
            )?;
            Ok((shape.figure().to_owned(), us))
        })
        .collect()
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let mut sizes = Sizes::new(cli.quick, cli.mib);
    if !cli.quick {
        sizes.w9.producers = cli.w9_producers;
        sizes.w9.rate = cli.w9_rate;
        sizes.w9.secs = cli.w9_secs;
        sizes.w9.groups = cli.w9_groups;
    }
    let w9_variants = many_clients::select(&cli.w9_variants)?;
    let runs = if cli.quick { 1 } else { cli.runs.max(1) };
    anyhow::ensure!(
        cli.karst_bin.exists(),
        "karst binary not found at {}",
        cli.karst_bin.display()
    );
    let scratch = tempfile::tempdir()?;
    let mut targets = vec![("karst".to_owned(), Launch::Karst(cli.karst_bin.clone()))];
    if let Some(cmd) = &cli.peer_cmd {
        targets.push(("peer".to_owned(), Launch::Command(cmd.clone())));
    }
    // Runs interleave the targets and re-measure the ceilings, so that a
    // drift of the machine touches every column alike.
    let mut ceiling_runs = Vec::new();
    let mut results: BTreeMap<String, Vec<Figures>> = BTreeMap::new();
    for run in 0..runs {
        let c = timed("machine ceilings", || {
            measure_ceilings(
                scratch.path(),
                sizes,
                matches!(cli.only, Only::All | Only::W9),
            )
        })?;
        eprintln!(
            "run {} of {runs}: ceilings {}",
            run + 1,
            serde_json::to_string(&c)?
        );
        ceiling_runs.push(c);
        for (name, launch) in &targets {
            eprintln!("{name}: run {} of {runs}", run + 1);
            if cli.drop_caches {
                ceilings::drop_page_cache()?;
            }
            let mut target = Target::new(name, launch.clone(), scratch.path())?;
            let mut figures = run_once(&mut target, sizes, cli.only, &w9_variants)
                .map_err(|e| e.context(name.clone()))?;
            if let (Launch::Karst(bin), true) = (launch, cli.only.runs_w8()) {
                drop(target);
                let w8 =
                    replicated::run(bin, scratch.path(), sizes).map_err(|e| e.context("W8"))?;
                figures.extend(w8);
                replicated::add_ratios(&mut figures);
            }
            results.entry(name.clone()).or_default().push(figures);
        }
    }
    let report = report::Report::new(
        std::env::args().collect::<Vec<_>>().join(" "),
        cli.quick,
        sizes,
        ceiling_runs,
        results,
    );
    std::fs::create_dir_all(&cli.out)?;
    report.write(&cli.out)?;
    println!("{}", report.markdown());
    Ok(())
}
