//! The spliced encoding must equal kafka-protocol's own encoding of the same
//! response with the records inline, in every version and with every kind
//! of field set (tagged fields, aborted transactions, node endpoints).

use std::io::Write;
use std::sync::Arc;

use bytes::Bytes;
use kafka_protocol::messages::fetch_response::{
    AbortedTransaction, EpochEndOffset, FetchableTopicResponse, LeaderIdAndEpoch, NodeEndpoint,
    PartitionData,
};
use kafka_protocol::messages::{BrokerId, FetchResponse, TopicName};
use kafka_protocol::protocol::{Encodable, StrBytes};
use uuid::Uuid;

use super::*;

/// A file of `len` distinct bytes, and a slice of it.
fn slice(file: &Arc<std::fs::File>, position: u64, len: usize) -> FileSlice {
    FileSlice::new(file.clone(), position, len)
}

fn partition(index: i32, version: i16) -> PartitionData {
    let mut p = PartitionData::default()
        .with_partition_index(index)
        .with_high_watermark(1000 + i64::from(index))
        .with_last_stable_offset(900)
        .with_log_start_offset(7);
    if index == 1 {
        p = p.with_aborted_transactions(Some(vec![
            AbortedTransaction::default()
                .with_producer_id(42.into())
                .with_first_offset(5),
        ]));
        p.error_code = 0;
    }
    if version >= 11 {
        p.preferred_read_replica = BrokerId(-1);
    }
    if version >= 12 && index == 2 {
        p.diverging_epoch = EpochEndOffset::default().with_epoch(3).with_end_offset(77);
        p.current_leader = LeaderIdAndEpoch::default()
            .with_leader_id(BrokerId(2))
            .with_leader_epoch(9);
    }
    p
}

fn reply(version: i16, file: &Arc<std::fs::File>) -> FetchReply {
    let topic = |name: &str, id: u128| {
        let mut t = FetchableTopicResponse::default();
        if version <= 12 {
            t.topic = TopicName(StrBytes::from_string(name.to_owned()));
        }
        if version >= 13 {
            t.topic_id = Uuid::from_u128(id);
        }
        t.with_partitions((0..3).map(|i| partition(i, version)).collect())
    };
    let mut response = FetchResponse::default()
        .with_throttle_time_ms(3)
        .with_responses(vec![topic("orders", 1), topic("payments", 2)]);
    if version >= 7 {
        response.error_code = 0;
        response.session_id = 0;
    }
    if version >= 16 {
        response.node_endpoints = vec![
            NodeEndpoint::default()
                .with_node_id(BrokerId(2))
                .with_host(StrBytes::from_static_str("broker-2"))
                .with_port(9092),
        ];
    }
    // Records for some partitions, none (empty) for others; small ones are
    // copied into the frame, the large one stays a file piece (sendfile)
    // and makes flexible lengths take several varint bytes.
    let records = vec![
        Some(slice(file, 0, 100)),
        None,
        Some(slice(file, 100, 70_000)),
        Some(slice(file, 5, 0)),
        Some(slice(file, 200, 1)),
        None,
    ];
    FetchReply { response, records }
}

/// kafka-protocol's encoding of the same reply with the records inline.
fn expected(reply: &FetchReply, version: i16) -> Vec<u8> {
    let mut response = reply.response.clone();
    let mut records = reply.records.iter();
    for topic in &mut response.responses {
        for p in &mut topic.partitions {
            let bytes = match records.next().unwrap() {
                Some(slice) => slice.read().unwrap(),
                None => Bytes::new(),
            };
            p.records = Some(bytes);
        }
    }
    let mut buf = bytes::BytesMut::new();
    response.encode(&mut buf, version).unwrap();
    buf.to_vec()
}

#[test]
fn spliced_encoding_matches_kafka_protocol_in_every_version() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("00000000000000000000.log");
    let mut f = std::fs::File::create(&path).unwrap();
    let data: Vec<u8> = (0..80_000u32).map(|i| (i % 251) as u8).collect();
    f.write_all(&data).unwrap();
    let file = Arc::new(std::fs::File::open(&path).unwrap());
    for version in 4..=18 {
        let reply = reply(version, &file);
        let want = expected(&reply, version);
        let mut frame = Frame::default();
        frame.start();
        encode(&mut frame, reply, version).unwrap();
        frame.finish().unwrap();
        let got = frame.to_vec();
        let size = i32::from_be_bytes(got[..4].try_into().unwrap()) as usize;
        assert_eq!(size, got.len() - 4, "v{version}: size prefix");
        assert!(got[4..] == want[..], "v{version}: bytes differ");
    }
}
