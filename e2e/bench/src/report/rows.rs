//! The table's rows: what each figure is, its unit, the ceiling that limits
//! it on this machine and the goal it is held to.

/// What limits a figure on this machine.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Ceiling {
    /// Bytes through loopback TCP; the figure is MB/s, or records/s of
    /// records of this many bytes.
    Tcp(f64),
    /// Sequential writes with fdatasync (MB/s).
    Fdatasync,
    /// One loopback round trip (ms); the ratio is a multiple of it.
    Rtt,
}

/// How a figure is shown.
pub(super) struct Meta {
    pub(super) what: &'static str,
    pub(super) unit: &'static str,
    pub(super) ceiling: Option<Ceiling>,
    pub(super) goal: &'static str,
}

/// The unit of CPU cost: user + system seconds per 1e9 bytes moved.
pub(super) const CPU: &str = "CPU s/GB";

/// The workloads whose CPU cost is measured: figure prefix and label. The
/// broker's cost is a row of its own (`{prefix}_cpu_s_per_gb`); the table
/// of CPU per GB sets it beside the client's.
pub(super) const CPU_WORKLOADS: &[(&str, &str)] = &[
    ("w1_p1", "W1 1p"),
    ("w1_p8", "W1 8p"),
    ("w2_p1", "W2 1p"),
    ("w2_p8", "W2 8p"),
    ("w3_p1", "W3 1p"),
    ("w3_p8", "W3 8p"),
    ("w4_p1", "W4 1p"),
    ("w4_p8", "W4 8p"),
    ("w8_p1", "W8 1p (3 brokers)"),
    ("w8_p8", "W8 8p (3 brokers)"),
];

/// The table's rows, in order; figures not listed follow by name.
pub(super) const ROWS: &[(&str, Meta)] = &[
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
        "w8_p1_mbps",
        "W8 produce 1 KiB, acks=all, RF=3 on 3 local brokers, 1 partition",
        "MB/s",
        Some(Ceiling::Tcp(1e6)),
        ">= 0.5x W1",
    ),
    row(
        "w8_p8_mbps",
        "W8 produce 1 KiB, acks=all, RF=3 on 3 local brokers, 8 partitions",
        "MB/s",
        Some(Ceiling::Tcp(1e6)),
        ">= 0.5x W1",
    ),
    row(
        "w8_p1_vs_w1",
        "W8 / W1 (acks=1 on one node, same run), 1 partition",
        "ratio",
        None,
        ">= 0.5",
    ),
    row(
        "w8_p8_vs_w1",
        "W8 / W1 (acks=1 on one node, same run), 8 partitions",
        "ratio",
        None,
        ">= 0.5",
    ),
    row(
        "w8_p1_vs_w1_per_cpu",
        "W8 / W1 at equal CPU: W1's CPU per GB over W8's (brokers + client), 1 partition",
        "ratio",
        None,
        ">= 0.5",
    ),
    row(
        "w8_p8_vs_w1_per_cpu",
        "W8 / W1 at equal CPU: W1's CPU per GB over W8's (brokers + client), 8 partitions",
        "ratio",
        None,
        ">= 0.5",
    ),
    row(
        "w8_ack_p50_ms",
        "W8 ack latency p50, acks=all, RF=3, one record at a time at W5's rate",
        "ms",
        Some(Ceiling::Rtt),
        "",
    ),
    row(
        "w8_ack_p99_ms",
        "W8 ack latency p99, acks=all, RF=3, one record at a time at W5's rate",
        "ms",
        Some(Ceiling::Rtt),
        "",
    ),
    row(
        "w8_ack_p999_ms",
        "W8 ack latency p99.9, acks=all, RF=3, one record at a time at W5's rate",
        "ms",
        Some(Ceiling::Rtt),
        "",
    ),
    row(
        "w8_ref_ack_p50_ms",
        "W8 reference: ack latency p50, acks=1 on one node, same rate",
        "ms",
        Some(Ceiling::Rtt),
        "",
    ),
    row(
        "w8_ref_ack_p99_ms",
        "W8 reference: ack latency p99, acks=1 on one node, same rate",
        "ms",
        Some(Ceiling::Rtt),
        "",
    ),
    row(
        "w8_ref_ack_p999_ms",
        "W8 reference: ack latency p99.9, acks=1 on one node, same rate",
        "ms",
        Some(Ceiling::Rtt),
        "",
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
        "w1_p1_cpu_s_per_gb",
        "W1 broker CPU per GB produced, 1 partition",
        CPU,
        None,
        "lower is better",
    ),
    row(
        "w1_p8_cpu_s_per_gb",
        "W1 broker CPU per GB produced, 8 partitions",
        CPU,
        None,
        "lower is better",
    ),
    row(
        "w2_p1_cpu_s_per_gb",
        "W2 broker CPU per GB produced, acks=all, 1 partition",
        CPU,
        None,
        "lower is better",
    ),
    row(
        "w2_p8_cpu_s_per_gb",
        "W2 broker CPU per GB produced, acks=all, 8 partitions",
        CPU,
        None,
        "lower is better",
    ),
    row(
        "w3_p1_cpu_s_per_gb",
        "W3 broker CPU per GB produced in 100 B records, 1 partition",
        CPU,
        None,
        "lower is better",
    ),
    row(
        "w3_p8_cpu_s_per_gb",
        "W3 broker CPU per GB produced in 100 B records, 8 partitions",
        CPU,
        None,
        "lower is better",
    ),
    row(
        "w4_p1_cpu_s_per_gb",
        "W4 broker CPU per GB consumed, 1 partition",
        CPU,
        None,
        "lower is better",
    ),
    row(
        "w4_p8_cpu_s_per_gb",
        "W4 broker CPU per GB consumed, 8 partitions",
        CPU,
        None,
        "lower is better",
    ),
    row(
        "w8_p1_cpu_s_per_gb",
        "W8 CPU per GB produced, the 3 brokers together, 1 partition",
        CPU,
        None,
        "lower is better",
    ),
    row(
        "w8_p8_cpu_s_per_gb",
        "W8 CPU per GB produced, the 3 brokers together, 8 partitions",
        CPU,
        None,
        "lower is better",
    ),
    row(
        "w8_p1_leader_cpu_s_per_gb",
        "W8 CPU per GB produced, the partition leader, 1 partition",
        CPU,
        None,
        "lower is better",
    ),
    row(
        "w8_p1_follower_cpu_s_per_gb",
        "W8 CPU per GB produced, each follower (mean of 2), 1 partition",
        CPU,
        None,
        "lower is better",
    ),
    row(
        "w8_p1_cores",
        "W8 cores kept busy: 3 brokers + client, 1 partition",
        "cores",
        None,
        "",
    ),
    row(
        "w8_p8_cores",
        "W8 cores kept busy: 3 brokers + client, 8 partitions",
        "cores",
        None,
        "",
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
        "w8_p1_first_ack_ms",
        "W8 topic created to first acks=all ack on every partition, 1 partition",
        "ms",
        None,
        "",
    ),
    row(
        "w8_p8_first_ack_ms",
        "W8 topic created to first acks=all ack on every partition, 8 partitions",
        "ms",
        None,
        "",
    ),
    row(
        "w8_startup_ms",
        "W8 cluster start-up: 3 nodes, all /readyz",
        "ms",
        None,
        "",
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

pub(super) fn meta(name: &str) -> Option<&'static Meta> {
    ROWS.iter().find(|(n, _)| *n == name).map(|(_, m)| m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_costed_workload_has_a_broker_cpu_row() {
        for (prefix, _) in CPU_WORKLOADS {
            let name = format!("{prefix}{}", crate::cpu::BROKER);
            let m = meta(&name).unwrap_or_else(|| panic!("no row for {name}"));
            assert_eq!((m.unit, m.ceiling), (CPU, None));
            let client = format!("{prefix}{}", crate::cpu::CLIENT);
            assert!(meta(&client).is_none(), "{client} belongs to the CPU table");
        }
    }
}
