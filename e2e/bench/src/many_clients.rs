//! W9: many clients sending small requests, as real clusters see them (issue
//! 17). Many producers with `linger.ms=0` send 1 KB records at a fixed
//! offered rate over several topics while consumer groups read them. What
//! counts is the per-request cost and the tail: requests/s, broker CPU µs per
//! request, the produce acknowledgement latency (p50/p99/p99.9/max, an HDR
//! histogram) and the clients' own CPU, so that a run limited by the clients
//! (on a shared machine) is recognised as such.
//!
//! Requests are counted by the clients (librdkafka's statistics: requests
//! sent to each broker), so a peer broker is measured the same way.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rdkafka::ClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};

use crate::stats::Latencies;
use crate::{Figures, cpu, workloads};

/// librdkafka's statistics period; the counts are read one full period
/// after the load ends, so nothing the load sent is missed.
const STATS_INTERVAL_MS: u64 = 1000;

/// The shape of one W9 run.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub(crate) struct Shape {
    pub(crate) producers: usize,
    pub(crate) topics: usize,
    pub(crate) partitions: i32,
    pub(crate) groups: usize,
    pub(crate) consumers_per_group: usize,
    /// Records/s offered by all the small producers together.
    pub(crate) rate: u32,
    pub(crate) secs: u64,
    /// MB/s offered by the one heavy producer in 1 MB batches (its own
    /// run), to show whether it raises the small producers' tail.
    pub(crate) heavy_mb_per_s: u32,
}

/// A W9 variant: acknowledgements and whether the heavy producer joins.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Variant {
    /// Figure prefix, e.g. `w9_all`.
    pub(crate) key: &'static str,
    /// Column heading.
    pub(crate) label: &'static str,
    pub(crate) acks: &'static str,
    pub(crate) heavy: bool,
}

pub(crate) const VARIANTS: &[Variant] = &[
    Variant {
        key: "w9_all",
        label: "acks=all",
        acks: "all",
        heavy: false,
    },
    Variant {
        key: "w9_one",
        label: "acks=1",
        acks: "1",
        heavy: false,
    },
    Variant {
        key: "w9_heavy",
        label: "acks=all + heavy",
        acks: "all",
        heavy: true,
    },
];

/// The variants named (all of them if none is), in their usual order.
pub(crate) fn select(names: &[String]) -> anyhow::Result<Vec<Variant>> {
    if let Some(unknown) = names.iter().find(|n| !VARIANTS.iter().any(|v| v.key == *n)) {
        let known: Vec<_> = VARIANTS.iter().map(|v| v.key).collect();
        anyhow::bail!(
            "--w9-variants: no variant {unknown:?} (known: {})",
            known.join(", ")
        );
    }
    Ok(VARIANTS
        .iter()
        .filter(|v| names.is_empty() || names.iter().any(|n| n == v.key))
        .copied()
        .collect())
}

const RECORD_SIZE: usize = 1000;

/// One client's requests so far, from its latest statistics.
#[derive(Default)]
struct Meter {
    /// Statistics received (each a full snapshot).
    reports: AtomicU64,
    requests: AtomicU64,
    produce_requests: AtomicU64,
}

/// The part of librdkafka's statistics W9 reads: requests sent per broker.
/// Decoding only this (serde skips the rest) keeps the clients' cost of
/// the statistics small; the full `Statistics` costs milliseconds each.
#[derive(serde::Deserialize)]
struct Requests {
    brokers: HashMap<String, BrokerRequests>,
}

#[derive(serde::Deserialize)]
struct BrokerRequests {
    /// Requests sent.
    tx: u64,
    /// Requests sent, by API name.
    #[serde(default)]
    req: HashMap<String, u64>,
}

impl Meter {
    fn update(&self, statistics: &[u8]) {
        let Ok(stats) = serde_json::from_slice::<Requests>(statistics) else {
            return;
        };
        let brokers = stats.brokers.values();
        let (requests, produce) = brokers.fold((0, 0), |(all, produce), b| {
            let p = b.req.get("Produce").copied().unwrap_or(0);
            (all + b.tx, produce + p)
        });
        self.requests.store(requests, Ordering::Relaxed);
        self.produce_requests.store(produce, Ordering::Relaxed);
        self.reports.fetch_add(1, Ordering::Release);
    }
}

/// A client's context: its meter, and for producers the acknowledgement
/// latencies of the records (each carries its send time).
struct Client {
    meter: Arc<Meter>,
    base: Instant,
    latencies: Option<Mutex<Latencies>>,
    acked: AtomicU64,
    failed: AtomicU64,
}

impl Client {
    fn new(meter: Arc<Meter>, base: Instant, measure_latency: bool) -> Self {
        Self {
            meter,
            base,
            latencies: measure_latency.then(|| Mutex::new(Latencies::new())),
            acked: AtomicU64::new(0),
            failed: AtomicU64::new(0),
        }
    }
}

impl ClientContext for Client {
    fn stats_raw(&self, statistics: &[u8]) {
        self.meter.update(statistics);
    }
}

impl ConsumerContext for Client {}

impl ProducerContext for Client {
    type DeliveryOpaque = ();
    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        let Ok(message) = result else {
            self.failed.fetch_add(1, Ordering::Relaxed);
            return;
        };
        self.acked.fetch_add(1, Ordering::Relaxed);
        if let Some(latencies) = &self.latencies {
            let payload = message.payload().unwrap_or_default();
            let sent = payload
                .get(..8)
                .and_then(|b| b.try_into().ok())
                .map_or(0, u64::from_be_bytes);
            let latency = self
                .base
                .elapsed()
                .saturating_sub(Duration::from_nanos(sent));
            latencies.lock().expect("not poisoned").record(latency);
        }
    }
}

/// What every client thread shares.
struct Run {
    base: Instant,
    load_end: Instant,
    /// Set once the counts are read: clients close.
    done: AtomicBool,
    /// Producers that have flushed (or failed).
    flushed: AtomicUsize,
    topics: Vec<String>,
}

fn config(bootstrap: &str) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", bootstrap)
        .set("statistics.interval.ms", STATS_INTERVAL_MS.to_string());
    config
}

/// A small producer's load: `rate` records/s from `offset` into its
/// schedule, round robin over the topics, until the load ends.
fn small_load(
    producer: &BaseProducer<Client>,
    run: &Run,
    rate: f64,
    offset: Duration,
) -> anyhow::Result<u64> {
    let period = Duration::from_secs_f64(1.0 / rate);
    let mut payload = vec![0x6b_u8; RECORD_SIZE];
    let mut sent = 0u64;
    loop {
        let due = run.base + offset + period.mul_f64(sent as f64);
        if due >= run.load_end {
            return Ok(sent);
        }
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            // Serve callbacks while waiting for the next record's turn.
            std::thread::sleep(wait);
            continue;
        }
        let now = (Instant::now() - run.base).as_nanos() as u64;
        payload[..8].copy_from_slice(&now.to_be_bytes());
        let topic = &run.topics[sent as usize % run.topics.len()];
        producer
            .send(BaseRecord::<[u8], [u8]>::to(topic).payload(&payload[..]))
            .map_err(|(e, _)| e)?;
        sent += 1;
    }
}

/// The heavy producer's load: each 1 MB of its rate in one burst to one
/// partition, which librdkafka sends as one batch of about 1 MB.
fn heavy_load(producer: &BaseProducer<Client>, run: &Run, mb_per_s: u32) -> anyhow::Result<u64> {
    let records_per_burst = 1_000_000 / RECORD_SIZE;
    let period = Duration::from_secs_f64(1.0 / f64::from(mb_per_s.max(1)));
    let payload = vec![0x68_u8; RECORD_SIZE];
    let mut sent = 0u64;
    let mut bursts = 0u32;
    loop {
        let due = run.base + period * bursts;
        if due >= run.load_end {
            return Ok(sent);
        }
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
            continue;
        }
        let topic = &run.topics[bursts as usize % run.topics.len()];
        for _ in 0..records_per_burst {
            let mut record = BaseRecord::<[u8], [u8]>::to(topic)
                .partition(0)
                .payload(&payload[..]);
            while let Err((_, back)) = producer.send(record) {
                record = back;
                producer.poll(Duration::from_millis(1));
            }
            sent += 1;
        }
        bursts += 1;
    }
}

/// Runs a producer's load, flushes, says so, keeps serving its statistics
/// until the run is done, then checks that every record was acknowledged.
/// Returns the records sent and their acknowledgement latencies.
fn producer_thread(
    producer: BaseProducer<Client>,
    run: &Run,
    load: impl FnOnce(&BaseProducer<Client>, &Run) -> anyhow::Result<u64>,
) -> anyhow::Result<(u64, Latencies)> {
    let producer = Arc::new(producer);
    let result = std::thread::scope(|scope| {
        // Acknowledgements are served as they come, by a thread of their
        // own: the load thread sleeps between records. rdkafka's poll spins
        // through the last millisecond of its timeout, so the timeout is
        // long (one spin per second, not one per record).
        let poller = producer.clone();
        scope.spawn(move || {
            serve_until_done(run, || poller.poll(Duration::from_secs(1)));
        });
        let result = load(&producer, run).and_then(|sent| {
            producer.flush(Duration::from_secs(120))?;
            Ok(sent)
        });
        run.flushed.fetch_add(1, Ordering::AcqRel);
        result
    });
    let sent = result?;
    let context = producer.context();
    let (acked, failed) = (
        context.acked.load(Ordering::Relaxed),
        context.failed.load(Ordering::Relaxed),
    );
    anyhow::ensure!(
        acked == sent && failed == 0,
        "{acked} of {sent} records acknowledged, {failed} failed"
    );
    let latencies = context.latencies.as_ref().map_or_else(Latencies::new, |l| {
        std::mem::replace(&mut *l.lock().expect("not poisoned"), Latencies::new())
    });
    Ok((sent, latencies))
}

/// A group member: reads until the run is done; returns records read.
fn consumer(consumer: BaseConsumer<Client>, run: Arc<Run>) -> anyhow::Result<u64> {
    let topics: Vec<&str> = run.topics.iter().map(String::as_str).collect();
    consumer.subscribe(&topics)?;
    let mut read = 0u64;
    while !run.done.load(Ordering::Acquire) {
        if let Some(message) = consumer.poll(Duration::from_millis(500)) {
            message?;
            read += 1;
        }
    }
    Ok(read)
}

fn serve_until_done(run: &Run, mut poll: impl FnMut()) {
    while !run.done.load(Ordering::Acquire) {
        poll();
    }
}

/// Runs one W9 variant against `bootstrap` (broker process `broker`) and
/// returns its figures, named `{variant.key}_…`.
pub(crate) fn run(
    bootstrap: &str,
    broker: Option<u32>,
    shape: Shape,
    variant: Variant,
) -> anyhow::Result<Figures> {
    let topics: Vec<String> = (0..shape.topics)
        .map(|i| format!("{}-{i}", variant.key.replace('_', "-")))
        .collect();
    for topic in &topics {
        workloads::create_topic(bootstrap, topic, shape.partitions)?;
    }
    let before = cpu::Sample::now(broker);
    let switches_before = broker.and_then(cpu::context_switches);
    let started = Instant::now();
    let base = started + Duration::from_millis(500);
    let run = Arc::new(Run {
        base,
        load_end: base + Duration::from_secs(shape.secs),
        done: AtomicBool::new(false),
        flushed: AtomicUsize::new(0),
        topics,
    });
    let mut meters = Vec::new();
    let mut meter = || {
        let m = Arc::new(Meter::default());
        meters.push(m.clone());
        m
    };
    let idempotent = variant.acks == "all";
    let per_producer = f64::from(shape.rate) / shape.producers as f64;
    let mut producers: Vec<JoinHandle<anyhow::Result<(u64, Latencies)>>> = Vec::new();
    for p in 0..shape.producers {
        let producer: BaseProducer<Client> = config(bootstrap)
            .set("acks", variant.acks)
            .set("linger.ms", "0")
            .set("enable.idempotence", idempotent.to_string())
            .create_with_context(Client::new(meter(), base, true))?;
        // Producers start spread over one period, not all at once.
        let offset = Duration::from_secs_f64(p as f64 / shape.producers as f64 / per_producer);
        let run = run.clone();
        producers.push(std::thread::spawn(move || {
            producer_thread(producer, &run, |p, r| {
                small_load(p, r, per_producer, offset)
            })
        }));
    }
    if variant.heavy {
        let producer: BaseProducer<Client> = config(bootstrap)
            .set("acks", variant.acks)
            .set("linger.ms", "5")
            .set("batch.size", "1000000")
            .set("message.max.bytes", "2000000")
            .set("enable.idempotence", idempotent.to_string())
            .create_with_context(Client::new(meter(), base, false))?;
        let (run, rate) = (run.clone(), shape.heavy_mb_per_s);
        // Its latencies are not measured: the question is the others'.
        producers.push(std::thread::spawn(move || {
            producer_thread(producer, &run, |p, r| heavy_load(p, r, rate))
        }));
    }
    let mut consumers: Vec<JoinHandle<anyhow::Result<u64>>> = Vec::new();
    for g in 0..shape.groups {
        for _ in 0..shape.consumers_per_group {
            let member: BaseConsumer<Client> = config(bootstrap)
                .set("group.id", format!("{}-group-{g}", variant.key))
                .set("auto.offset.reset", "earliest")
                .create_with_context(Client::new(meter(), base, false))?;
            let run = run.clone();
            consumers.push(std::thread::spawn(move || consumer(member, run)));
        }
    }
    // The load runs and the producers flush; then every client reports
    // once more, so that the counts include the whole load.
    while run.flushed.load(Ordering::Acquire) < producers.len() {
        std::thread::sleep(Duration::from_millis(100));
    }
    let seen: Vec<u64> = meters
        .iter()
        .map(|m| m.reports.load(Ordering::Acquire))
        .collect();
    let report_deadline = Instant::now() + Duration::from_secs(30);
    while meters
        .iter()
        .zip(&seen)
        .any(|(m, s)| m.reports.load(Ordering::Acquire) < s + 2)
        && Instant::now() < report_deadline
    {
        std::thread::sleep(Duration::from_millis(STATS_INTERVAL_MS / 2));
    }
    let after = cpu::Sample::now(broker);
    let switches_after = broker.and_then(cpu::context_switches);
    let elapsed = started.elapsed().as_secs_f64();
    let requests: u64 = meters
        .iter()
        .map(|m| m.requests.load(Ordering::Relaxed))
        .sum();
    let produce_requests: u64 = meters
        .iter()
        .map(|m| m.produce_requests.load(Ordering::Relaxed))
        .sum();
    run.done.store(true, Ordering::Release);
    let mut latencies = Latencies::new();
    let mut sent = 0;
    for producer in producers {
        let (records, measured) = join(producer)?;
        sent += records;
        latencies.merge(&measured);
    }
    let mut read = 0;
    for member in consumers {
        read += join(member)?;
    }
    let k = variant.key;
    let mut f = Figures::new();
    f.insert(format!("{k}_requests_per_s"), requests as f64 / elapsed);
    f.insert(
        format!("{k}_produce_requests_per_s"),
        produce_requests as f64 / elapsed,
    );
    f.insert(
        format!("{k}_acked_records_per_s"),
        sent as f64 / shape.secs as f64,
    );
    f.insert(
        format!("{k}_consumed_records_per_s"),
        read as f64 / shape.secs as f64,
    );
    if let (Some(b0), Some(b1)) = (before.broker, after.broker) {
        f.insert(format!("{k}_broker_cpu_cores"), (b1 - b0) / elapsed);
        if requests > 0 {
            f.insert(
                format!("{k}_broker_cpu_us_per_request"),
                (b1 - b0) * 1e6 / requests as f64,
            );
        }
    }
    if let (Some(s0), Some(s1)) = (switches_before, switches_after)
        && requests > 0
    {
        f.insert(
            format!("{k}_broker_switches_per_request"),
            s1.saturating_sub(s0) as f64 / requests as f64,
        );
    }
    if let (Some(c0), Some(c1)) = (before.client, after.client) {
        f.insert(format!("{k}_client_cpu_cores"), (c1 - c0) / elapsed);
    }
    for (name, p) in [("p50", 50.0), ("p99", 99.0), ("p999", 99.9), ("max", 100.0)] {
        f.insert(format!("{k}_{name}_ms"), latencies.percentile_ms(p));
    }
    Ok(f)
}

fn join<T>(thread: JoinHandle<anyhow::Result<T>>) -> anyhow::Result<T> {
    thread
        .join()
        .map_err(|_| anyhow::anyhow!("a W9 client thread panicked"))?
}
