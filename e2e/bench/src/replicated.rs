//! W8 (issue 11): produce 1 KiB records with acks=all to a topic of
//! replication factor 3 on a cluster of three local Karst processes, in
//! the same run as the single-node W1/W2, so that its throughput reads as
//! a ratio to single-node acks=1 (`w8_p1_vs_w1`, goal >= 0.5).
//!
//! Every record then crosses loopback three times (producer to leader,
//! leader to each follower's fetch) and is written three times, by three
//! processes sharing the machine's cores with the producer. To say which of
//! them limits the rate, W8 records the CPU time per GB of each broker
//! (leader and followers of the 1-partition topic) and of the client, and
//! how many cores all of them kept busy together.
//!
//! Its latency figures are acknowledgement times of records sent one at a
//! time (acks=all here, acks=1 on the single node as the reference): what
//! replication adds to each produce, free of client-side queueing.

use std::path::Path;
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};

use crate::cluster::Cluster;
use crate::stats::ratio;
use crate::{Figures, Sizes, cpu, timed, workloads};

/// Brokers in the cluster and replicas of each W8 partition.
const REPLICAS: usize = 3;
/// W8's partition counts, as W1's and W2's.
const PARTITIONS: [i32; 2] = [1, 8];

/// Starts a cluster of `karst` binaries `bin`, runs W8 on it, stops it.
pub(crate) fn run(bin: &Path, scratch: &Path, sizes: Sizes) -> anyhow::Result<Figures> {
    let mut f = Figures::new();
    let mut cluster = Cluster::new(bin, scratch, REPLICAS)?;
    let startup = timed("W8 cluster start-up", || cluster.start())?;
    f.insert("w8_startup_ms".into(), startup.as_secs_f64() * 1e3);
    let bootstrap = cluster.bootstrap();
    for partitions in PARTITIONS {
        let topic = format!("w8-p{partitions}");
        timed(&format!("W8 {partitions}p"), || {
            let created = Instant::now();
            workloads::create_replicated_topic(&bootstrap, &topic, partitions, REPLICAS as i32)?;
            let leaders = wait_in_sync(&bootstrap, &topic, partitions, REPLICAS)?;
            // The clock starts once replication flows: a new partition's
            // followers take up to a long poll or more to start fetching,
            // which is recorded apart, not charged to the throughput.
            workloads::ack_every_partition(&bootstrap, &topic, partitions, "all")?;
            f.insert(
                format!("w8_p{partitions}_first_ack_ms"),
                created.elapsed().as_secs_f64() * 1e3,
            );
            throughput(&cluster, &bootstrap, &topic, &leaders, sizes, &mut f)
        })?;
    }
    let latency = timed("W8 ack latency", || {
        ack_latency(&bootstrap, REPLICAS as i32, "all", sizes)
    })?;
    f.extend(latency.into_iter().map(|(k, v)| (format!("w8_{k}"), v)));
    timed("W8 cluster stop", || cluster.stop())?;
    Ok(f)
}

/// W8's reference on the single node, run by `main` while it is up:
/// the acknowledgement latency of acks=1 (`w8_ref_ack_p50_ms`, ...).
pub(crate) fn single_node_reference(bootstrap: &str, sizes: Sizes) -> anyhow::Result<Figures> {
    let latency = ack_latency(bootstrap, 1, "1", sizes)?;
    Ok(latency
        .into_iter()
        .map(|(k, v)| (format!("w8_ref_{k}"), v))
        .collect())
}

/// Acknowledgement latency percentiles (`ack_p50_ms`, `ack_p99_ms`,
/// `ack_p999_ms`) of 1 KiB records sent one at a time at W5's rate to a
/// new 1-partition topic of `replication` replicas.
fn ack_latency(
    bootstrap: &str,
    replication: i32,
    acks: &str,
    sizes: Sizes,
) -> anyhow::Result<Figures> {
    let topic = format!("w8-ack-latency-rf{replication}");
    workloads::create_replicated_topic(bootstrap, &topic, 1, replication)?;
    wait_in_sync(bootstrap, &topic, 1, replication as usize)?;
    workloads::ack_every_partition(bootstrap, &topic, 1, acks)?;
    let l = workloads::ack_latency(
        bootstrap,
        &topic,
        acks,
        1024,
        sizes.w5_rate,
        Duration::from_secs(sizes.w5_secs),
    )?;
    Ok(Figures::from([
        ("ack_p50_ms".to_owned(), l.p50),
        ("ack_p99_ms".to_owned(), l.p99),
        ("ack_p999_ms".to_owned(), l.p999),
    ]))
}

/// Adds W8's throughput against single-node acks=1 (W1) of the same run,
/// measured (`w8_pN_vs_w1`) and at equal CPU (`w8_pN_vs_w1_per_cpu`: W1's
/// CPU per GB, broker + client, over W8's, brokers + client). On a shared
/// machine the measured ratio swings with whichever workload other
/// processes slow down; the ratio at equal CPU is what it would be if both
/// had the same cores to themselves and were limited by them, as they are.
pub(crate) fn add_ratios(f: &mut Figures) {
    for partitions in PARTITIONS {
        let figure = |workload: &str, suffix: &str| {
            f.get(&format!("{workload}_p{partitions}{suffix}")).copied()
        };
        let cpu_per_gb =
            |workload: &str| Some(figure(workload, cpu::BROKER)? + figure(workload, cpu::CLIENT)?);
        let measured = ratio(figure("w8", "_mbps"), figure("w1", "_mbps"));
        let per_cpu = ratio(cpu_per_gb("w1"), cpu_per_gb("w8"));
        for (suffix, value) in [("", measured), ("_per_cpu", per_cpu)] {
            if let Some(r) = value {
                f.insert(format!("w8_p{partitions}_vs_w1{suffix}"), r);
            }
        }
    }
}

/// Waits until every partition of `topic` has a leader and all replicas in
/// its ISR (so that W8 measures replication, not a follower catching up),
/// and returns the leader of each partition.
fn wait_in_sync(
    bootstrap: &str,
    topic: &str,
    partitions: i32,
    replicas: usize,
) -> anyhow::Result<Vec<i32>> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()?;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let metadata = consumer.fetch_metadata(Some(topic), Duration::from_secs(10))?;
        let leaders: Option<Vec<i32>> = metadata
            .topics()
            .iter()
            .find(|t| t.name() == topic)
            .filter(|t| t.partitions().len() == partitions as usize)
            .and_then(|t| {
                t.partitions()
                    .iter()
                    .map(|p| (p.leader() >= 0 && p.isr().len() == replicas).then_some(p.leader()))
                    .collect()
            });
        if let Some(leaders) = leaders {
            return Ok(leaders);
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "{topic}: partitions not all with a leader and {replicas} in-sync replicas within 60 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// W8's produce on `topic` (acks=all, W2's size), with the CPU time per GB
/// of every process involved.
fn throughput(
    cluster: &Cluster,
    bootstrap: &str,
    topic: &str,
    leaders: &[i32],
    sizes: Sizes,
    f: &mut Figures,
) -> anyhow::Result<()> {
    let cpu_now = || {
        let brokers: Vec<Option<f64>> = cluster
            .node_ids()
            .map(|id| cpu::cpu_secs(cluster.pid(id)))
            .collect();
        (brokers, cpu::cpu_secs(None))
    };
    let (brokers_before, client_before) = cpu_now();
    let t = workloads::produce(bootstrap, topic, 1024, sizes.w2_bytes, "all", 5)?;
    let (brokers_after, client_after) = cpu_now();
    let spent = |after: Option<f64>, before: Option<f64>| Some(after? - before?);
    let brokers: Option<Vec<f64>> = brokers_after
        .iter()
        .zip(&brokers_before)
        .map(|(a, b)| spent(*a, *b))
        .collect();
    let client = spent(client_after, client_before);
    let key = format!("w8_p{}", leaders.len());
    let gb = t.bytes as f64 / 1e9;
    f.insert(format!("{key}_mbps"), t.mb_per_s());
    if let (Some(brokers), Some(client)) = (brokers, client) {
        let all: f64 = brokers.iter().sum();
        f.insert(format!("{key}{}", cpu::BROKER), all / gb);
        f.insert(format!("{key}{}", cpu::CLIENT), client / gb);
        f.insert(format!("{key}_cores"), (all + client) / t.secs);
        if let [leader] = leaders {
            // One partition: one leader, the other nodes its followers.
            let leader_cpu = usize::try_from(*leader - 1)
                .ok()
                .and_then(|i| brokers.get(i).copied())
                .ok_or_else(|| anyhow::anyhow!("{topic}: leader {leader} is no node of ours"))?;
            let followers = (brokers.len() - 1) as f64;
            f.insert(format!("{key}_leader{}", cpu::BROKER), leader_cpu / gb);
            f.insert(
                format!("{key}_follower{}", cpu::BROKER),
                (all - leader_cpu) / followers / gb,
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn w8_reads_as_a_share_of_single_node_acks_1() {
        let mut f = Figures::from([
            ("w1_p1_mbps".to_owned(), 400.0),
            ("w8_p1_mbps".to_owned(), 100.0),
            // No W1 at 8 partitions (it failed or did not run): no ratio.
            ("w8_p8_mbps".to_owned(), 100.0),
        ]);
        add_ratios(&mut f);
        assert_eq!(f.get("w8_p1_vs_w1"), Some(&0.25));
        assert_eq!(f.get("w8_p8_vs_w1"), None);
        // CPU per GB: W1 0.5 + 1.5 = 2, W8 3 + 2 = 5; no W8 CPU at 8 partitions.
        for (name, value) in [
            ("w1_p1_cpu_s_per_gb", 0.5),
            ("w1_p1_client_cpu_s_per_gb", 1.5),
            ("w8_p1_cpu_s_per_gb", 3.0),
            ("w8_p1_client_cpu_s_per_gb", 2.0),
            ("w1_p8_mbps", 400.0),
            ("w1_p8_cpu_s_per_gb", 0.5),
            ("w1_p8_client_cpu_s_per_gb", 1.5),
        ] {
            f.insert(name.to_owned(), value);
        }
        add_ratios(&mut f);
        assert_eq!(f.get("w8_p1_vs_w1_per_cpu"), Some(&0.4));
        assert_eq!(f.get("w8_p8_vs_w1"), Some(&0.25));
        assert_eq!(f.get("w8_p8_vs_w1_per_cpu"), None);
    }
}
