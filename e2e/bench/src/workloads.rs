//! The workloads, driven by librdkafka (the `rdkafka` crate): a client that
//! is not ours, configured as users configure it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::{ClientContext, Offset, TopicPartitionList};

use crate::stats::Latencies;

/// Counts delivery reports.
#[derive(Default)]
struct Deliveries {
    ok: AtomicU64,
    failed: AtomicU64,
}

impl ClientContext for Deliveries {}

impl ProducerContext for Deliveries {
    type DeliveryOpaque = ();
    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        let counter = if result.is_ok() {
            &self.ok
        } else {
            &self.failed
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// Creates `topic` with `partitions` partitions (replication 1).
pub(crate) fn create_topic(bootstrap: &str, topic: &str, partitions: i32) -> anyhow::Result<()> {
    create_replicated_topic(bootstrap, topic, partitions, 1)
}

/// Creates `topic` with `partitions` partitions of `replication` replicas.
pub(crate) fn create_replicated_topic(
    bootstrap: &str,
    topic: &str,
    partitions: i32,
    replication: i32,
) -> anyhow::Result<()> {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let results = runtime.block_on(admin.create_topics(
        &[NewTopic::new(
            topic,
            partitions,
            TopicReplication::Fixed(replication),
        )],
        &AdminOptions::new().operation_timeout(Some(Duration::from_secs(30))),
    ))?;
    for result in results {
        result.map_err(|(name, code)| anyhow::anyhow!("creating {name}: {code}"))?;
    }
    Ok(())
}

/// What a produce workload achieved.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Throughput {
    pub(crate) records: u64,
    pub(crate) bytes: u64,
    pub(crate) secs: f64,
}

impl Throughput {
    pub(crate) fn mb_per_s(&self) -> f64 {
        self.bytes as f64 / 1e6 / self.secs
    }

    pub(crate) fn records_per_s(&self) -> f64 {
        self.records as f64 / self.secs
    }
}

/// Produces `total_bytes` of `record_size`-byte records over the topic's
/// partitions, and fails unless every record is acknowledged.
pub(crate) fn produce(
    bootstrap: &str,
    topic: &str,
    record_size: usize,
    total_bytes: u64,
    acks: &str,
    linger_ms: u32,
) -> anyhow::Result<Throughput> {
    let producer: BaseProducer<Deliveries> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("acks", acks)
        .set("linger.ms", linger_ms.to_string())
        .set("enable.idempotence", "false")
        .set("queue.buffering.max.kbytes", "1048576")
        .set("queue.buffering.max.messages", "1000000")
        .set("batch.size", "1000000")
        .create_with_context(Deliveries::default())?;
    let payload = vec![0x6b_u8; record_size];
    let records = total_bytes / record_size as u64;
    let start = Instant::now();
    // Keyless records and no explicit partition: librdkafka's sticky
    // partitioner (KIP-480, the default of Kafka clients) fills a batch for
    // one partition, then moves on, so every partition gets data in whole
    // batches, as from a real producer.
    for i in 0..records {
        let mut record = BaseRecord::<(), [u8]>::to(topic).payload(&payload[..]);
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((_, back)) => {
                    record = back;
                    producer.poll(Duration::from_millis(1));
                }
            }
        }
        if i % 1024 == 0 {
            producer.poll(Duration::ZERO);
        }
    }
    producer.flush(Duration::from_secs(300))?;
    let secs = start.elapsed().as_secs_f64();
    let context = producer.context();
    let (ok, failed) = (
        context.ok.load(Ordering::Relaxed),
        context.failed.load(Ordering::Relaxed),
    );
    anyhow::ensure!(
        ok == records && failed == 0,
        "{ok} of {records} records acknowledged, {failed} failed"
    );
    Ok(Throughput {
        records,
        bytes: records * record_size as u64,
        secs,
    })
}

/// Sends one small record with `acks` to each partition of `topic` and
/// waits until every one is acknowledged: on a replicated topic, proof that
/// the followers of every partition fetch (W8 starts its clock after it).
pub(crate) fn ack_every_partition(
    bootstrap: &str,
    topic: &str,
    partitions: i32,
    acks: &str,
) -> anyhow::Result<()> {
    let producer: BaseProducer<Deliveries> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("acks", acks)
        .set("linger.ms", "0")
        .set("enable.idempotence", "false")
        .create_with_context(Deliveries::default())?;
    for partition in 0..partitions {
        producer
            .send(
                BaseRecord::<(), [u8]>::to(topic)
                    .partition(partition)
                    .payload(&b"warm-up"[..]),
            )
            .map_err(|(e, _)| e)?;
    }
    producer.flush(Duration::from_secs(60))?;
    let context = producer.context();
    let ok = context.ok.load(Ordering::Relaxed);
    anyhow::ensure!(
        ok == partitions as u64,
        "{topic}: {ok} of {partitions} warm-up records acknowledged"
    );
    Ok(())
}

/// Reads every partition from the beginning until `records` are consumed.
pub(crate) fn consume(
    bootstrap: &str,
    topic: &str,
    partitions: i32,
    records: u64,
) -> anyhow::Result<Throughput> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "karst-bench")
        .set("enable.auto.commit", "false")
        .set("fetch.max.bytes", "52428800")
        .set("max.partition.fetch.bytes", "10485760")
        .set("queued.max.messages.kbytes", "1048576")
        .create()?;
    // Connected and with metadata before the clock starts: W4 is about
    // reading, not about connecting.
    consumer.fetch_metadata(Some(topic), Duration::from_secs(30))?;
    let mut assignment = TopicPartitionList::new();
    for p in 0..partitions {
        assignment.add_partition_offset(topic, p, Offset::Beginning)?;
    }
    consumer.assign(&assignment)?;
    let (mut seen, mut bytes) = (0u64, 0u64);
    let start = Instant::now();
    let deadline = start + Duration::from_secs(600);
    while seen < records {
        anyhow::ensure!(
            Instant::now() < deadline,
            "consumed {seen} of {records} records"
        );
        if let Some(message) = consumer.poll(Duration::from_millis(100)) {
            bytes += message?.payload_len() as u64;
            seen += 1;
        }
    }
    let secs = start.elapsed().as_secs_f64();
    Ok(Throughput {
        records: seen,
        bytes,
        secs,
    })
}

/// End-to-end latency percentiles, in milliseconds.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Latency {
    pub(crate) p50: f64,
    pub(crate) p99: f64,
    pub(crate) p999: f64,
    pub(crate) max: f64,
}

impl Latency {
    /// The percentiles a report shows, from recorded samples.
    fn of(samples: &Latencies) -> Self {
        Self {
            p50: samples.percentile_ms(50.0),
            p99: samples.percentile_ms(99.0),
            p999: samples.percentile_ms(99.9),
            max: samples.percentile_ms(100.0),
        }
    }
}

/// Times each record from `send` to its delivery report.
#[derive(Default)]
struct AckTimes {
    latencies: std::sync::Mutex<Option<Latencies>>,
    failed: AtomicU64,
}

impl ClientContext for AckTimes {}

impl ProducerContext for AckTimes {
    type DeliveryOpaque = Box<Instant>;
    fn delivery(&self, result: &DeliveryResult<'_>, sent: Box<Instant>) {
        if result.is_err() {
            self.failed.fetch_add(1, Ordering::Relaxed);
        } else if let Some(latencies) = self.latencies.lock().expect("not poisoned").as_mut() {
            latencies.record(sent.elapsed());
        }
    }
}

/// Acknowledgement latency with `acks`: one producer sends `record_size`
/// records one at a time (`linger.ms=0`) at `rate` records/s for
/// `duration`, each timed from `send` to its delivery report. A fixed rate
/// below what the target can take, so that the figure is the time to
/// acknowledge (for acks=all on a replicated topic: the followers' fetch
/// round trips), not time spent queued in the client.
pub(crate) fn ack_latency(
    bootstrap: &str,
    topic: &str,
    acks: &str,
    record_size: usize,
    rate: u32,
    duration: Duration,
) -> anyhow::Result<Latency> {
    let producer: BaseProducer<AckTimes> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("acks", acks)
        .set("linger.ms", "0")
        .set("enable.idempotence", "false")
        .create_with_context(AckTimes::default())?;
    let payload = vec![0x6b_u8; record_size];
    let send = |producer: &BaseProducer<AckTimes>| {
        producer
            .send(
                BaseRecord::<(), [u8], Box<Instant>>::with_opaque_to(
                    topic,
                    Box::new(Instant::now()),
                )
                .payload(&payload[..]),
            )
            .map_err(|(e, _)| e)
    };
    // Warm up untimed: connections and metadata come before the clock.
    send(&producer)?;
    producer.flush(Duration::from_secs(30))?;
    *producer.context().latencies.lock().expect("not poisoned") = Some(Latencies::new());
    let total = (f64::from(rate) * duration.as_secs_f64()) as u64;
    let interval = Duration::from_secs_f64(1.0 / f64::from(rate));
    let base = Instant::now();
    for i in 0..total {
        // Wait in `poll`, not asleep: delivery reports are served (and
        // timed) as they arrive rather than at the next send.
        let due = base + interval.mul_f64(i as f64);
        while let Some(wait) = due.checked_duration_since(Instant::now()) {
            producer.poll(wait);
        }
        send(&producer)?;
    }
    producer.flush(Duration::from_secs(60))?;
    let context = producer.context();
    let failed = context.failed.load(Ordering::Relaxed);
    let samples = context
        .latencies
        .lock()
        .expect("not poisoned")
        .take()
        .expect("set above");
    anyhow::ensure!(
        failed == 0 && samples.len() == total,
        "{} of {total} records acknowledged, {failed} failed",
        samples.len()
    );
    Ok(Latency::of(&samples))
}

/// Produces at `rate` records/s for `duration` while a consumer reads them;
/// each record carries its send time.
pub(crate) fn latency(
    bootstrap: &str,
    topic: &str,
    rate: u32,
    duration: Duration,
) -> anyhow::Result<Latency> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "karst-bench-latency")
        .set("enable.auto.commit", "false")
        .set("fetch.wait.max.ms", "5")
        .set("fetch.min.bytes", "1")
        .create()?;
    let mut assignment = TopicPartitionList::new();
    assignment.add_partition_offset(topic, 0, Offset::Beginning)?;
    consumer.assign(&assignment)?;
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("acks", "1")
        .set("linger.ms", "0")
        .create()?;
    // Warm up: the consumer must be fetching before the clock starts, or
    // the first records wait for its first fetch.
    producer
        .send(
            BaseRecord::<[u8], [u8]>::to(topic)
                .partition(0)
                .payload(&[0u8; 8][..]),
        )
        .map_err(|(e, _)| e)?;
    producer.flush(Duration::from_secs(30))?;
    let warm_deadline = Instant::now() + Duration::from_secs(30);
    loop {
        anyhow::ensure!(
            Instant::now() < warm_deadline,
            "the latency consumer received nothing"
        );
        if let Some(message) = consumer.poll(Duration::from_millis(50)) {
            message?;
            break;
        }
    }
    let base = Instant::now();
    let topic_name = topic.to_owned();
    let total = (f64::from(rate) * duration.as_secs_f64()) as u64;
    let sender = std::thread::spawn(move || -> anyhow::Result<()> {
        let interval = Duration::from_secs_f64(1.0 / f64::from(rate));
        for i in 0..total {
            let due = base + interval.mul_f64(i as f64);
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
            let sent = (Instant::now() - base).as_nanos() as u64;
            let payload = sent.to_be_bytes();
            producer
                .send(
                    BaseRecord::<[u8], [u8]>::to(&topic_name)
                        .partition(0)
                        .payload(&payload[..]),
                )
                .map_err(|(e, _)| e)?;
            producer.poll(Duration::ZERO);
        }
        producer.flush(Duration::from_secs(30))?;
        Ok(())
    });
    let mut samples = Latencies::new();
    let deadline = Instant::now() + duration + Duration::from_secs(60);
    while samples.len() < total && Instant::now() < deadline {
        if let Some(message) = consumer.poll(Duration::from_millis(50)) {
            let message = message?;
            let now = Instant::now() - base;
            let payload = message.payload().unwrap_or_default();
            let sent = u64::from_be_bytes(payload.try_into().unwrap_or([0; 8]));
            samples.record(now.saturating_sub(Duration::from_nanos(sent)));
        }
    }
    sender
        .join()
        .map_err(|_| anyhow::anyhow!("sender panicked"))??;
    anyhow::ensure!(
        samples.len() == total,
        "received {} of {total} records",
        samples.len()
    );
    Ok(Latency::of(&samples))
}
