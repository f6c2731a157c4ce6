//! `karst-bench`: Karst's throughput, latency, memory and start-up, measured
//! with librdkafka, beside the machine's own ceilings and, when asked, a peer
//! broker in the same run. Writes `results.json`, `RESULTS.md` and
//! `throughput.svg` (see issue 4's workloads W1–W7).

mod ceilings;
mod report;
mod stats;
mod target;
mod workloads;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

use target::{Launch, Target};

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
    /// Where results are written.
    #[arg(long, default_value = "bench")]
    out: PathBuf,
    /// MiB produced by W1 per partition count (W2 takes half, W4 reads W1's).
    #[arg(long, default_value_t = 512)]
    mib: u64,
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
}

impl Sizes {
    fn new(quick: bool, mib: u64) -> Self {
        if quick {
            Self {
                w1_bytes: 8 << 20,
                w2_bytes: 2 << 20,
                w3_records: 50_000,
                w5_rate: 500,
                w5_secs: 2,
                ceiling_mib: 16,
            }
        } else {
            Self {
                w1_bytes: mib << 20,
                w2_bytes: (mib / 2) << 20,
                w3_records: 2_000_000,
                w5_rate: 1000,
                w5_secs: 20,
                ceiling_mib: 512,
            }
        }
    }
}

/// Named figures of one run (e.g. `w1_p8_mbps`).
pub(crate) type Figures = BTreeMap<String, f64>;

fn run_once(target: &mut Target, sizes: Sizes, recover: bool) -> anyhow::Result<Figures> {
    let mut f = Figures::new();
    f.insert("w7_startup_ms".into(), target.start()?.as_secs_f64() * 1e3);
    std::thread::sleep(Duration::from_millis(200));
    if let Some(rss) = target.rss_mb() {
        f.insert("w6_idle_rss_mb".into(), rss);
    }
    let bootstrap = target.bootstrap();
    for partitions in [1, 8] {
        let w1 = format!("w1-p{partitions}");
        workloads::create_topic(&bootstrap, &w1, partitions)?;
        let t = workloads::produce(&bootstrap, &w1, partitions, 1024, sizes.w1_bytes, "1", 5)?;
        f.insert(format!("w1_p{partitions}_mbps"), t.mb_per_s());
        f.insert(format!("w1_p{partitions}_records_per_s"), t.records_per_s());
        let c = workloads::consume(&bootstrap, &w1, partitions, t.records)?;
        f.insert(format!("w4_p{partitions}_mbps"), c.mb_per_s());

        let w2 = format!("w2-p{partitions}");
        workloads::create_topic(&bootstrap, &w2, partitions)?;
        let t = workloads::produce(&bootstrap, &w2, partitions, 1024, sizes.w2_bytes, "all", 5)?;
        f.insert(format!("w2_p{partitions}_mbps"), t.mb_per_s());

        let w3 = format!("w3-p{partitions}");
        workloads::create_topic(&bootstrap, &w3, partitions)?;
        let t = workloads::produce(
            &bootstrap,
            &w3,
            partitions,
            100,
            sizes.w3_records * 100,
            "1",
            5,
        )?;
        f.insert(format!("w3_p{partitions}_records_per_s"), t.records_per_s());
    }
    workloads::create_topic(&bootstrap, "w5", 1)?;
    let l = workloads::latency(
        &bootstrap,
        "w5",
        sizes.w5_rate,
        Duration::from_secs(sizes.w5_secs),
    )?;
    f.insert("w5_p50_ms".into(), l.p50);
    f.insert("w5_p99_ms".into(), l.p99);
    f.insert("w5_p999_ms".into(), l.p999);
    if let Some(rss) = target.rss_mb() {
        f.insert("w6_loaded_rss_mb".into(), rss);
    }
    if recover {
        target.kill9();
        f.insert("w7_recovery_ms".into(), target.start()?.as_secs_f64() * 1e3);
    }
    target.stop();
    Ok(f)
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let sizes = Sizes::new(cli.quick, cli.mib);
    let runs = if cli.quick { 1 } else { cli.runs.max(1) };
    anyhow::ensure!(
        cli.karst_bin.exists(),
        "karst binary not found at {}",
        cli.karst_bin.display()
    );
    let scratch = tempfile::tempdir()?;
    eprintln!("measuring machine ceilings");
    let ceilings = BTreeMap::from([
        (
            "fdatasync_write_mbps".to_owned(),
            ceilings::fdatasync_write_mbps(scratch.path(), sizes.ceiling_mib)?,
        ),
        (
            "loopback_tcp_mbps".to_owned(),
            ceilings::loopback_tcp_mbps(sizes.ceiling_mib * 4)?,
        ),
    ]);
    let mut targets = vec![("karst".to_owned(), Launch::Karst(cli.karst_bin.clone()))];
    if let Some(cmd) = &cli.peer_cmd {
        targets.push(("peer".to_owned(), Launch::Command(cmd.clone())));
    }
    let mut results = BTreeMap::new();
    for (name, launch) in targets {
        let mut all = Vec::new();
        for run in 0..runs {
            eprintln!("{name}: run {} of {runs}", run + 1);
            let mut target = Target::new(&name, launch.clone(), scratch.path())?;
            let recover = matches!(launch, Launch::Karst(_));
            all.push(run_once(&mut target, sizes, recover)?);
        }
        results.insert(name, all);
    }
    let report = report::Report::new(cli.quick, sizes, ceilings, results);
    std::fs::create_dir_all(&cli.out)?;
    report.write(&cli.out)?;
    println!("{}", report.markdown());
    Ok(())
}
