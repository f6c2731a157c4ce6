//! RecordBatch v2 headers: parsed, checked and patched without decoding
//! records. Layout (big-endian): baseOffset i64 | batchLength i32 |
//! partitionLeaderEpoch i32 | magic i8 | crc u32 | attributes i16 |
//! lastOffsetDelta i32 | baseTimestamp i64 | maxTimestamp i64 |
//! producerId i64 | producerEpoch i16 | baseSequence i32 | recordCount i32 |
//! records. The CRC32C covers everything from `attributes` on.

use super::LogError;

/// Bytes before the records of a batch.
pub const HEADER_SIZE: usize = 61;
/// Bytes before `batchLength`'s coverage starts (baseOffset + batchLength).
pub(crate) const LOG_OVERHEAD: usize = 12;
const MAGIC_AT: usize = 16;
const CRC_AT: usize = 17;
const ATTRIBUTES_AT: usize = 21;
const MAX_TIMESTAMP_AT: usize = 35;
const TIMESTAMP_TYPE_BIT: i16 = 1 << 3;

fn i16_at(b: &[u8], at: usize) -> i16 {
    i16::from_be_bytes([b[at], b[at + 1]])
}

fn i32_at(b: &[u8], at: usize) -> i32 {
    i32::from_be_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}

fn i64_at(b: &[u8], at: usize) -> i64 {
    i64::from_be_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

/// The header fields of one record batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchHeader {
    pub base_offset: i64,
    /// Whole batch size in bytes, including the 12-byte log overhead.
    pub size: usize,
    pub partition_leader_epoch: i32,
    pub magic: i8,
    pub crc: u32,
    pub attributes: i16,
    pub last_offset_delta: i32,
    pub base_timestamp: i64,
    pub max_timestamp: i64,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub base_sequence: i32,
    pub record_count: i32,
}

impl BatchHeader {
    /// Parses the header at the start of `bytes`, which must hold at least
    /// [`HEADER_SIZE`] bytes. Does not check the CRC.
    pub fn parse(bytes: &[u8]) -> Result<Self, LogError> {
        if bytes.len() < HEADER_SIZE {
            return Err(LogError::CorruptMessage(
                "record batch shorter than its header",
            ));
        }
        let length = i32_at(bytes, 8);
        if length < (HEADER_SIZE - LOG_OVERHEAD) as i32 {
            return Err(LogError::CorruptMessage(
                "record batch length is smaller than its header",
            ));
        }
        Ok(Self {
            base_offset: i64_at(bytes, 0),
            size: LOG_OVERHEAD + length as usize,
            partition_leader_epoch: i32_at(bytes, 12),
            magic: bytes[MAGIC_AT] as i8,
            crc: u32::from_be_bytes(bytes[CRC_AT..CRC_AT + 4].try_into().expect("4 bytes")),
            attributes: i16_at(bytes, ATTRIBUTES_AT),
            last_offset_delta: i32_at(bytes, 23),
            base_timestamp: i64_at(bytes, 27),
            max_timestamp: i64_at(bytes, MAX_TIMESTAMP_AT),
            producer_id: i64_at(bytes, 43),
            producer_epoch: i16_at(bytes, 51),
            base_sequence: i32_at(bytes, 53),
            record_count: i32_at(bytes, 57),
        })
    }

    pub fn last_offset(&self) -> i64 {
        self.base_offset + i64::from(self.last_offset_delta)
    }

    /// The compression codec (0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd).
    pub fn compression(&self) -> i16 {
        self.attributes & 0x7
    }

    pub fn is_log_append_time(&self) -> bool {
        self.attributes & TIMESTAMP_TYPE_BIT != 0
    }

    pub fn is_transactional(&self) -> bool {
        self.attributes & (1 << 4) != 0
    }

    pub fn is_control(&self) -> bool {
        self.attributes & (1 << 5) != 0
    }
}

/// Checks one complete batch: magic, lengths, counts, codec and CRC32C.
pub(crate) fn validate(batch: &[u8], header: &BatchHeader) -> Result<(), LogError> {
    if header.magic != 2 {
        return Err(LogError::UnsupportedMagic(header.magic));
    }
    if batch.len() != header.size {
        return Err(LogError::CorruptMessage(
            "record batch length does not match its bytes",
        ));
    }
    if header.last_offset_delta < 0 || header.record_count < 0 {
        return Err(LogError::InvalidRecord(
            "negative record count or last offset delta",
        ));
    }
    if header.compression() > 4 {
        return Err(LogError::InvalidRecord("unknown compression codec"));
    }
    if crc32c::crc32c(&batch[ATTRIBUTES_AT..]) != header.crc {
        return Err(LogError::CorruptMessage(
            "record batch CRC32C does not match",
        ));
    }
    Ok(())
}

/// Splits `bytes` into whole batches, validating each. Fails if the bytes do
/// not end exactly at a batch boundary.
pub(crate) fn validate_all(bytes: &[u8]) -> Result<Vec<BatchHeader>, LogError> {
    let mut headers = Vec::with_capacity(1);
    let mut pos = 0;
    while pos < bytes.len() {
        let header = BatchHeader::parse(&bytes[pos..])?;
        let end = pos
            .checked_add(header.size)
            .filter(|end| *end <= bytes.len())
            .ok_or(LogError::CorruptMessage(
                "record batch extends past the end of the request",
            ))?;
        validate(&bytes[pos..end], &header)?;
        headers.push(header);
        pos = end;
    }
    if headers.is_empty() {
        return Err(LogError::CorruptMessage("no record batch"));
    }
    Ok(headers)
}

/// Refuses records without a key, as Kafka does for a compacted topic (the
/// cleaner could never remove them). The one place produce decodes records,
/// and only for `cleanup.policy=compact`.
pub(crate) fn require_keys(records: &bytes::Bytes) -> Result<(), LogError> {
    let mut buf = records.clone();
    let sets = kafka_protocol::records::RecordBatchDecoder::decode_all(&mut buf)
        .map_err(|_| LogError::CorruptMessage("records could not be decoded"))?;
    let keyless = sets
        .iter()
        .flat_map(|set| &set.records)
        .any(|r| r.key.is_none() && !r.control);
    if keyless {
        return Err(LogError::InvalidRecord(
            "a compacted topic cannot accept a record without a key",
        ));
    }
    Ok(())
}

/// The header of `batch` as it is stored: `base_offset` assigned (the CRC
/// does not cover it) and, under `message.timestamp.type=LogAppendTime`,
/// the LogAppendTime attribute and `now_ms` as max timestamp with the CRC
/// recomputed, as Kafka does. The records after the header are never
/// rewritten, so the append path writes them from the request's buffer.
pub(crate) fn patched_header(
    batch: &[u8],
    base_offset: i64,
    partition_leader_epoch: i32,
    log_append_time: Option<i64>,
) -> [u8; HEADER_SIZE] {
    let mut head: [u8; HEADER_SIZE] = batch[..HEADER_SIZE]
        .try_into()
        .expect("a validated batch holds its header");
    head[..8].copy_from_slice(&base_offset.to_be_bytes());
    // Not covered by the CRC (it starts at the attributes).
    head[12..16].copy_from_slice(&partition_leader_epoch.to_be_bytes());
    if let Some(now_ms) = log_append_time {
        let attributes = i16_at(&head, ATTRIBUTES_AT) | TIMESTAMP_TYPE_BIT;
        head[ATTRIBUTES_AT..ATTRIBUTES_AT + 2].copy_from_slice(&attributes.to_be_bytes());
        head[MAX_TIMESTAMP_AT..MAX_TIMESTAMP_AT + 8].copy_from_slice(&now_ms.to_be_bytes());
        let crc = crc32c::crc32c_append(
            crc32c::crc32c(&head[ATTRIBUTES_AT..]),
            &batch[HEADER_SIZE..],
        );
        head[CRC_AT..CRC_AT + 4].copy_from_slice(&crc.to_be_bytes());
    }
    head
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use bytes::{Bytes, BytesMut};
    use kafka_protocol::records::{
        Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
    };

    /// A batch of `n` records with values `v0..`, timestamps from `ts`.
    pub(crate) fn batch(n: usize, ts: i64, compression: Compression) -> Bytes {
        let records: Vec<Record> = (0..n)
            .map(|i| Record {
                transactional: false,
                control: false,
                partition_leader_epoch: 0,
                producer_id: -1,
                producer_epoch: -1,
                timestamp_type: TimestampType::Creation,
                offset: i as i64,
                sequence: i as i32,
                timestamp: ts + i as i64,
                key: None,
                value: Some(Bytes::from(format!("v{i}"))),
                headers: Default::default(),
                delete_horizon: false,
            })
            .collect();
        let mut buf = BytesMut::new();
        RecordBatchEncoder::encode(
            &mut buf,
            &records,
            &RecordEncodeOptions {
                version: 2,
                compression,
            },
        )
        .unwrap();
        buf.freeze()
    }

    #[test]
    fn headers_parse_and_crc_is_checked() {
        let b = batch(3, 1000, Compression::None);
        let headers = validate_all(&b).unwrap();
        assert_eq!(headers.len(), 1);
        assert_eq!(headers[0].record_count, 3);
        assert_eq!(headers[0].last_offset_delta, 2);
        assert_eq!(headers[0].max_timestamp, 1002);
        let mut bad = b.to_vec();
        let last = bad.len() - 1;
        bad[last] ^= 1;
        assert!(matches!(
            validate_all(&bad),
            Err(LogError::CorruptMessage(_))
        ));
        assert!(validate_all(&b[..b.len() - 1]).is_err());
    }

    #[test]
    fn patches_keep_the_batch_valid() {
        let original = batch(2, 5, Compression::Gzip);
        let mut b = patched_header(&original, 42, 0, Some(99)).to_vec();
        b.extend_from_slice(&original[HEADER_SIZE..]);
        let h = validate_all(&b).unwrap()[0];
        assert_eq!(h.base_offset, 42);
        assert_eq!(h.max_timestamp, 99);
        assert!(h.is_log_append_time());
        assert_eq!(h.compression(), 1);
        let plain = patched_header(&original, 7, 0, None);
        assert_eq!(plain[..8], 7i64.to_be_bytes());
        assert_eq!(plain[8..], original[8..HEADER_SIZE]);
    }
}
