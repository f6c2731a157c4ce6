//! Encodes a Fetch response into a [`Frame`] with each partition's records
//! as a file slice. kafka-protocol encodes every field; this module only
//! cuts its encodings around the one field it leaves out at each level (the
//! topics array, the partitions array, the records) and writes that field's
//! length and contents itself. Each of those fields is the last before the
//! level's tagged fields (flexible versions) or the last of all.

use bytes::{BufMut, BytesMut};
use kafka_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
use kafka_protocol::protocol::Encodable;

use super::FetchReply;
use crate::frame::Frame;
use crate::log::FileSlice;

/// First version with flexible (compact, tagged) encodings.
const FIRST_FLEXIBLE: i16 = 12;

/// Appends the body of `reply` (after the response header) to `frame`.
pub(crate) fn encode(frame: &mut Frame, reply: FetchReply, version: i16) -> anyhow::Result<()> {
    let flexible = version >= FIRST_FLEXIBLE;
    let FetchReply {
        mut response,
        records,
    } = reply;
    let mut records = records.into_iter();
    let mut scratch = BytesMut::new();
    let topics = std::mem::take(&mut response.responses);
    let mut cleared = response.clone();
    cleared.node_endpoints.clear();
    cleared.unknown_tagged_fields.clear();
    let top = Split::new(&response, &cleared, version, &mut scratch)?;
    frame.buf_mut().put_slice(top.head(&scratch));
    let top_tail = top.tail(&scratch).to_vec();
    put_length(frame.buf_mut(), topics.len(), flexible)?;
    for mut topic in topics {
        let partitions = std::mem::take(&mut topic.partitions);
        let mut cleared: FetchableTopicResponse = topic.clone();
        cleared.unknown_tagged_fields.clear();
        let split = Split::new(&topic, &cleared, version, &mut scratch)?;
        frame.buf_mut().put_slice(split.head(&scratch));
        let topic_tail = split.tail(&scratch).to_vec();
        put_length(frame.buf_mut(), partitions.len(), flexible)?;
        for partition in partitions {
            let slice = records.next().flatten();
            encode_partition(frame, &partition, slice, version, &mut scratch)?;
        }
        frame.buf_mut().put_slice(&topic_tail);
    }
    frame.buf_mut().put_slice(&top_tail);
    Ok(())
}

/// One partition: its fields around the records, which go in as `slice`
/// (an empty records field when there is none).
fn encode_partition(
    frame: &mut Frame,
    partition: &PartitionData,
    slice: Option<FileSlice>,
    version: i16,
    scratch: &mut BytesMut,
) -> anyhow::Result<()> {
    let flexible = version >= FIRST_FLEXIBLE;
    let mut partition = partition.clone();
    partition.records = None;
    let mut cleared = partition.clone();
    cleared.diverging_epoch = Default::default();
    cleared.current_leader = Default::default();
    cleared.snapshot_id = Default::default();
    cleared.unknown_tagged_fields.clear();
    let split = Split::new(&partition, &cleared, version, scratch)?;
    frame.buf_mut().put_slice(split.head(scratch));
    let len = slice.as_ref().map_or(0, FileSlice::len);
    put_length(frame.buf_mut(), len, flexible)?;
    if let Some(slice) = slice.filter(|s| !s.is_empty()) {
        frame.push_file(slice)?;
    }
    frame.buf_mut().put_slice(split.tail(scratch));
    Ok(())
}

/// An array's element count or a byte field's length: i32, or an unsigned
/// varint of length + 1 in flexible versions.
fn put_length(buf: &mut BytesMut, len: usize, flexible: bool) -> anyhow::Result<()> {
    if flexible {
        // Unsigned varint: 7 bits a byte, low bits first.
        let mut n = u32::try_from(len + 1)?;
        while n >= 0x80 {
            buf.put_u8((n as u8) | 0x80);
            n >>= 7;
        }
        buf.put_u8(n as u8);
    } else {
        buf.put_i32(i32::try_from(len)?);
    }
    Ok(())
}

/// The encoding of a message whose last field before its tagged fields is
/// empty (an empty array or null bytes), cut around that field.
struct Split {
    /// Bytes before the field.
    head: usize,
    /// Where the bytes after the field start.
    tail: usize,
}

impl Split {
    /// `message` has the field emptied; `cleared` is the same message with
    /// its tagged fields cleared too, so its encoding ends with the empty
    /// field and (flexible versions) a zero tag count: that gives the head's
    /// length. Leaves `message`'s encoding in `scratch`.
    fn new<M: Encodable>(
        message: &M,
        cleared: &M,
        version: i16,
        scratch: &mut BytesMut,
    ) -> anyhow::Result<Self> {
        let flexible = version >= FIRST_FLEXIBLE;
        // The emptied field: a zero count or null length, one varint byte
        // when flexible, else an i32.
        let field = if flexible { 1 } else { 4 };
        let tags = usize::from(flexible);
        scratch.clear();
        cleared.encode(scratch, version)?;
        let head = scratch.len() - field - tags;
        scratch.clear();
        message.encode(scratch, version)?;
        Ok(Self {
            head,
            tail: head + field,
        })
    }

    fn head<'a>(&self, scratch: &'a BytesMut) -> &'a [u8] {
        &scratch[..self.head]
    }

    fn tail<'a>(&self, scratch: &'a BytesMut) -> &'a [u8] {
        &scratch[self.tail..]
    }
}

#[cfg(test)]
#[path = "encode_tests.rs"]
mod tests;
