//! A fuzz run of 100,000+ mutated request frames of every API the broker
//! serves leaves it with bounded files and memory, serving a normal client,
//! and able to restart. Frames are sent on several connections at once; each
//! is followed by an ApiVersions "sentinel", so a frame that gets no reply
//! (acks=0) or closes the connection is told apart from a hang.

mod common;

use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use common::{
    RawClient, create_topic, fetch_values, produce, record_batch, start_broker, topic_name,
};
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Encodable, Message, Request, StrBytes};
use rand::{Rng, SeedableRng, rngs::StdRng};

const FRAMES: usize = 100_000;
const CONNECTIONS: usize = 8;
/// A frame whose reply (and the sentinel's) takes longer than this is
/// counted as stalled; only APIs that may wait by design may stall.
const STALL: Duration = Duration::from_secs(2);
/// APIs that legitimately wait as long as the request says: Fetch
/// (`max_wait_ms`), JoinGroup and SyncGroup (the rebalance).
const WAITING_APIS: [i16; 3] = [1, 11, 14];
const SENTINEL_ID: i32 = i32::MIN;

/// The frame of `request` at `version`, if it encodes there.
fn try_encode<R: Request>(request: &R, version: i16) -> Option<Bytes> {
    let header = RequestHeader::default()
        .with_request_api_key(R::KEY)
        .with_request_api_version(version)
        .with_correlation_id(7)
        .with_client_id(Some(StrBytes::from_static_str("fuzz")));
    let mut buf = BytesMut::new();
    header.encode(&mut buf, R::header_version(version)).ok()?;
    request.encode(&mut buf, version).ok()?;
    Some(buf.freeze())
}

/// `request` at every version of its API.
fn all_versions<R: Request>(request: R, out: &mut Vec<Bytes>) {
    let versions = <R as Message>::VERSIONS;
    out.extend((versions.min..=versions.max).filter_map(|v| try_encode(&request, v)));
}

/// Real frames of every API the broker serves, some with content.
fn seeds() -> Vec<Bytes> {
    let name = || topic_name("fuzz");
    let produce = ProduceRequest::default()
        .with_acks(1)
        .with_timeout_ms(1000)
        .with_topic_data(vec![
            TopicProduceData::default()
                .with_name(name())
                .with_partition_data(vec![
                    PartitionProduceData::default()
                        .with_index(0)
                        .with_records(Some(record_batch(&[b"fuzz"]))),
                ]),
        ]);
    let fetch = FetchRequest::default()
        .with_max_wait_ms(0)
        .with_min_bytes(0)
        .with_topics(vec![
            FetchTopic::default()
                .with_topic(name())
                .with_partitions(vec![FetchPartition::default()]),
        ]);
    let create = CreateTopicsRequest::default().with_topics(vec![
        CreatableTopic::default()
            .with_name(topic_name("fuzz2"))
            .with_num_partitions(2)
            .with_replication_factor(1),
    ]);
    let mut out = Vec::new();
    all_versions(produce, &mut out);
    all_versions(fetch, &mut out);
    all_versions(create, &mut out);
    all_versions(ProduceRequest::default(), &mut out);
    all_versions(FetchRequest::default(), &mut out);
    all_versions(ListOffsetsRequest::default(), &mut out);
    all_versions(MetadataRequest::default(), &mut out);
    all_versions(ApiVersionsRequest::default(), &mut out);
    all_versions(CreateTopicsRequest::default(), &mut out);
    all_versions(DeleteTopicsRequest::default(), &mut out);
    all_versions(CreatePartitionsRequest::default(), &mut out);
    all_versions(DescribeConfigsRequest::default(), &mut out);
    all_versions(AlterConfigsRequest::default(), &mut out);
    all_versions(IncrementalAlterConfigsRequest::default(), &mut out);
    all_versions(DeleteRecordsRequest::default(), &mut out);
    all_versions(DescribeClusterRequest::default(), &mut out);
    all_versions(DescribeLogDirsRequest::default(), &mut out);
    all_versions(InitProducerIdRequest::default(), &mut out);
    all_versions(FindCoordinatorRequest::default(), &mut out);
    all_versions(JoinGroupRequest::default(), &mut out);
    all_versions(SyncGroupRequest::default(), &mut out);
    all_versions(HeartbeatRequest::default(), &mut out);
    all_versions(LeaveGroupRequest::default(), &mut out);
    all_versions(OffsetCommitRequest::default(), &mut out);
    all_versions(OffsetFetchRequest::default(), &mut out);
    all_versions(OffsetDeleteRequest::default(), &mut out);
    all_versions(DescribeGroupsRequest::default(), &mut out);
    all_versions(ListGroupsRequest::default(), &mut out);
    all_versions(DeleteGroupsRequest::default(), &mut out);
    out
}

/// One mutation of a seed: bytes flipped, cut, inserted or the header's
/// version changed; or plain random bytes.
fn mutate(rng: &mut StdRng, seeds: &[Bytes]) -> Vec<u8> {
    if rng.random_range(0..10) == 0 {
        let len = rng.random_range(8..120);
        return (0..len).map(|_| rng.random()).collect();
    }
    let mut frame = seeds[rng.random_range(0..seeds.len())].to_vec();
    for _ in 0..rng.random_range(1..4) {
        let at = rng.random_range(0..frame.len());
        match rng.random_range(0..4) {
            0 => frame[at] = rng.random(),
            1 => frame.truncate(at.max(8)),
            2 => frame.insert(at, rng.random()),
            _ => frame[3] = rng.random_range(0..20),
        }
    }
    frame
}

/// What one connection saw.
#[derive(Default)]
struct Outcome {
    sent: usize,
    closed: usize,
    stalled_waiting_apis: usize,
}

/// Sends `count` mutated frames, each followed by the sentinel, reading
/// replies until the sentinel's (or the connection closes).
async fn fuzz(addr: std::net::SocketAddr, seed: u64, count: usize) -> Outcome {
    let mut rng = StdRng::seed_from_u64(seed);
    let seeds = seeds();
    let sentinel = try_encode(&ApiVersionsRequest::default(), 0)
        .unwrap()
        .to_vec();
    let mut sentinel = sentinel;
    sentinel[4..8].copy_from_slice(&SENTINEL_ID.to_be_bytes());
    let mut outcome = Outcome::default();
    let mut client = RawClient::connect(addr).await;
    while outcome.sent < count {
        let frame = mutate(&mut rng, &seeds);
        outcome.sent += 1;
        let api = i16::from_be_bytes([frame[0], frame[1]]);
        let sent =
            client.send_frame(&frame).await.is_ok() && client.send_frame(&sentinel).await.is_ok();
        let answered = sent
            && tokio::time::timeout(STALL, async {
                while let Ok(reply) = client.read_frame().await {
                    if common::correlation_id(reply) == SENTINEL_ID {
                        return true;
                    }
                }
                false
            })
            .await
            .map_err(|_| {
                assert!(
                    WAITING_APIS.contains(&api),
                    "a frame of api {api} got no reply and no close within {STALL:?}: {frame:?}"
                );
                outcome.stalled_waiting_apis += 1;
            })
            .unwrap_or(false);
        if !answered {
            outcome.closed += 1;
            client = RawClient::connect(addr).await;
        }
    }
    outcome
}

fn open_files() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

fn resident_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    kib * 1024
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_thousand_mutated_frames_leave_the_broker_bounded_and_serving() {
    // In memory when the machine has it: the run is about the protocol,
    // and fsyncs of mutated acks=all produces would only slow it down.
    let dir = tempfile::tempdir_in("/dev/shm")
        .or_else(|_| tempfile::tempdir())
        .unwrap();
    let overrides = [
        ("socket.request.max.bytes", "100000"),
        ("max.broker.partitions", "300"),
        ("group.initial.rebalance.delay.ms", "0"),
    ];
    let broker = start_broker(dir.path(), &overrides).await;
    let addr = broker.kafka_addr();
    let files_before = open_files();
    let started = Instant::now();
    let runs: Vec<_> = (0..CONNECTIONS)
        .map(|i| {
            tokio::spawn(fuzz(
                addr,
                0x6b61_7273_7400 + i as u64,
                FRAMES / CONNECTIONS,
            ))
        })
        .collect();
    let mut total = Outcome::default();
    for run in runs {
        let outcome = run.await.unwrap();
        total.sent += outcome.sent;
        total.closed += outcome.closed;
        total.stalled_waiting_apis += outcome.stalled_waiting_apis;
    }
    assert!(total.sent >= FRAMES);

    // Bounded: the partitions the fuzz could create (max.broker.partitions)
    // cost at most a few descriptors each; connections are gone.
    let files_after = open_files();
    let rss = resident_bytes();
    eprintln!(
        "{} frames in {:?}: {} connections closed by the broker, {} stalled in waiting APIs; \
         open files {files_before} -> {files_after}, resident memory {} MiB",
        total.sent,
        started.elapsed(),
        total.closed,
        total.stalled_waiting_apis,
        rss >> 20
    );
    assert!(
        files_after <= files_before + 3 * 300 + 64,
        "open files grew from {files_before} to {files_after}"
    );
    assert!(rss < 1 << 30, "resident memory {rss} bytes");

    // A normal client works, and after a restart too.
    let mut client = RawClient::connect(addr).await;
    assert_eq!(create_topic(&mut client, "after-fuzz", 1).await.0, 0);
    assert_eq!(
        produce(&mut client, "after-fuzz", 0, record_batch(&[b"ok"])).await,
        0
    );
    drop(client);
    broker.shutdown_checked().await.unwrap();
    let broker = start_broker(dir.path(), &overrides).await;
    let mut client = RawClient::connect(broker.kafka_addr()).await;
    assert_eq!(
        fetch_values(&mut client, "after-fuzz", 0, 0).await.unwrap(),
        [&b"ok"[..]]
    );
    drop(client);
    broker.shutdown_checked().await.unwrap();
}
