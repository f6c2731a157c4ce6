//! The records of `__consumer_offsets`, in Kafka's own formats so that
//! Kafka tools can read the topic: offset commits (key version 1, value
//! version 3) and group metadata (key version 2, value version 3).

use bytes::{Buf, BufMut, Bytes, BytesMut};

/// A committed offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CommittedOffset {
    pub(crate) offset: i64,
    pub(crate) leader_epoch: i32,
    pub(crate) metadata: String,
    pub(crate) commit_timestamp: i64,
}

/// What a group looked like after its last rebalance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct GroupSnapshot {
    pub(crate) protocol_type: String,
    pub(crate) generation: i32,
    pub(crate) protocol: Option<String>,
    pub(crate) leader: Option<String>,
    pub(crate) timestamp: i64,
    pub(crate) members: Vec<MemberSnapshot>,
}

/// A member as recorded in group metadata (Kafka's member layout).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MemberSnapshot {
    pub(crate) member_id: String,
    pub(crate) instance_id: Option<String>,
    pub(crate) client_id: String,
    pub(crate) client_host: String,
    pub(crate) rebalance_timeout_ms: i32,
    pub(crate) session_timeout_ms: i32,
    /// The member's metadata for the group's protocol.
    pub(crate) subscription: Bytes,
    pub(crate) assignment: Bytes,
}

/// A decoded `__consumer_offsets` record; `None` values are tombstones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum OffsetsRecord {
    Offset {
        group: String,
        topic: String,
        partition: i32,
        value: Option<CommittedOffset>,
    },
    Group {
        group: String,
        value: Option<GroupSnapshot>,
    },
}

fn put_str(buf: &mut BytesMut, s: &str) {
    buf.put_i16(s.len() as i16);
    buf.put_slice(s.as_bytes());
}

fn put_opt_str(buf: &mut BytesMut, s: Option<&str>) {
    match s {
        Some(s) => put_str(buf, s),
        None => buf.put_i16(-1),
    }
}

fn put_bytes(buf: &mut BytesMut, b: &[u8]) {
    buf.put_i32(b.len() as i32);
    buf.put_slice(b);
}

fn get_bytes(buf: &mut Bytes) -> Option<Bytes> {
    if buf.remaining() < 4 {
        return None;
    }
    let len = usize::try_from(buf.get_i32()).unwrap_or(0);
    (buf.remaining() >= len).then(|| buf.split_to(len))
}

fn get_i32(buf: &mut Bytes) -> Option<i32> {
    (buf.remaining() >= 4).then(|| buf.get_i32())
}

fn get_str(buf: &mut Bytes) -> Option<String> {
    get_opt_str(buf)?
}

fn get_opt_str(buf: &mut Bytes) -> Option<Option<String>> {
    if buf.remaining() < 2 {
        return None;
    }
    let len = buf.get_i16();
    if len < 0 {
        return Some(None);
    }
    let len = len as usize;
    if buf.remaining() < len {
        return None;
    }
    String::from_utf8(buf.split_to(len).to_vec()).ok().map(Some)
}

pub(crate) fn offset_key(group: &str, topic: &str, partition: i32) -> Bytes {
    let mut buf = BytesMut::new();
    buf.put_i16(1);
    put_str(&mut buf, group);
    put_str(&mut buf, topic);
    buf.put_i32(partition);
    buf.freeze()
}

pub(crate) fn offset_value(value: &CommittedOffset) -> Bytes {
    let mut buf = BytesMut::new();
    buf.put_i16(3);
    buf.put_i64(value.offset);
    buf.put_i32(value.leader_epoch);
    put_str(&mut buf, &value.metadata);
    buf.put_i64(value.commit_timestamp);
    buf.freeze()
}

pub(crate) fn group_key(group: &str) -> Bytes {
    let mut buf = BytesMut::new();
    buf.put_i16(2);
    put_str(&mut buf, group);
    buf.freeze()
}

/// Group metadata value v3, Kafka's layout: protocol type, generation,
/// protocol, leader, state timestamp, then each member (member id, instance
/// id, client id, client host, rebalance timeout, session timeout,
/// subscription, assignment).
pub(crate) fn group_value(value: &GroupSnapshot) -> Bytes {
    let mut buf = BytesMut::new();
    buf.put_i16(3);
    put_str(&mut buf, &value.protocol_type);
    buf.put_i32(value.generation);
    put_opt_str(&mut buf, value.protocol.as_deref());
    put_opt_str(&mut buf, value.leader.as_deref());
    buf.put_i64(value.timestamp);
    buf.put_i32(value.members.len() as i32);
    for m in &value.members {
        put_str(&mut buf, &m.member_id);
        put_opt_str(&mut buf, m.instance_id.as_deref());
        put_str(&mut buf, &m.client_id);
        put_str(&mut buf, &m.client_host);
        buf.put_i32(m.rebalance_timeout_ms);
        buf.put_i32(m.session_timeout_ms);
        put_bytes(&mut buf, &m.subscription);
        put_bytes(&mut buf, &m.assignment);
    }
    buf.freeze()
}

/// The members of a group metadata value of `version` (0-3).
fn get_members(v: &mut Bytes, version: i16) -> Option<Vec<MemberSnapshot>> {
    let count = get_i32(v)?;
    let mut members = Vec::new();
    for _ in 0..count.max(0) {
        let member_id = get_str(v)?;
        let instance_id = if version >= 3 { get_opt_str(v)? } else { None };
        let client_id = get_str(v)?;
        let client_host = get_str(v)?;
        let session_first = version == 0;
        let (rebalance_timeout_ms, session_timeout_ms) = if session_first {
            let session = get_i32(v)?;
            (session, session)
        } else {
            let rebalance = get_i32(v)?;
            (rebalance, get_i32(v)?)
        };
        members.push(MemberSnapshot {
            member_id,
            instance_id,
            client_id,
            client_host,
            rebalance_timeout_ms,
            session_timeout_ms,
            subscription: get_bytes(v)?,
            assignment: get_bytes(v)?,
        });
    }
    Some(members)
}

/// Decodes one record; `None` for keys of versions this broker does not know
/// (they are skipped, as Kafka skips unknown record types).
pub(crate) fn decode(mut key: Bytes, value: Option<Bytes>) -> Option<OffsetsRecord> {
    if key.remaining() < 2 {
        return None;
    }
    match key.get_i16() {
        0 | 1 => {
            let group = get_str(&mut key)?;
            let topic = get_str(&mut key)?;
            if key.remaining() < 4 {
                return None;
            }
            let partition = key.get_i32();
            let value = match value {
                None => None,
                Some(mut v) => {
                    if v.remaining() < 2 + 8 {
                        return None;
                    }
                    let version = v.get_i16();
                    let offset = v.get_i64();
                    let leader_epoch = if version >= 3 && v.remaining() >= 4 {
                        v.get_i32()
                    } else {
                        -1
                    };
                    let metadata = get_str(&mut v).unwrap_or_default();
                    let commit_timestamp = if v.remaining() >= 8 { v.get_i64() } else { -1 };
                    Some(CommittedOffset {
                        offset,
                        leader_epoch,
                        metadata,
                        commit_timestamp,
                    })
                }
            };
            Some(OffsetsRecord::Offset {
                group,
                topic,
                partition,
                value,
            })
        }
        2 => {
            let group = get_str(&mut key)?;
            let value = match value {
                None => None,
                Some(mut v) => {
                    if v.remaining() < 2 {
                        return None;
                    }
                    let version = v.get_i16();
                    let protocol_type = get_str(&mut v)?;
                    let generation = if v.remaining() >= 4 { v.get_i32() } else { 0 };
                    let protocol = get_opt_str(&mut v)?;
                    let leader = get_opt_str(&mut v)?;
                    let timestamp = if version >= 2 && v.remaining() >= 8 {
                        v.get_i64()
                    } else {
                        -1
                    };
                    // A member list that cannot be read loads as empty: the
                    // members rejoin, as after any coordinator move.
                    let members = get_members(&mut v, version).unwrap_or_default();
                    Some(GroupSnapshot {
                        protocol_type,
                        generation,
                        protocol,
                        leader,
                        timestamp,
                        members,
                    })
                }
            };
            Some(OffsetsRecord::Group { group, value })
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip() {
        let committed = CommittedOffset {
            offset: 42,
            leader_epoch: 3,
            metadata: "m".into(),
            commit_timestamp: 7,
        };
        assert_eq!(
            decode(offset_key("g", "t", 2), Some(offset_value(&committed))),
            Some(OffsetsRecord::Offset {
                group: "g".into(),
                topic: "t".into(),
                partition: 2,
                value: Some(committed),
            })
        );
        let snapshot = GroupSnapshot {
            protocol_type: "consumer".into(),
            generation: 5,
            protocol: Some("range".into()),
            leader: Some("m1".into()),
            timestamp: 9,
            members: vec![MemberSnapshot {
                member_id: "m1".into(),
                instance_id: Some("i1".into()),
                client_id: "c".into(),
                client_host: "/127.0.0.1".into(),
                rebalance_timeout_ms: 300_000,
                session_timeout_ms: 10_000,
                subscription: Bytes::from_static(b"sub"),
                assignment: Bytes::from_static(b"asg"),
            }],
        };
        assert_eq!(
            decode(group_key("g"), Some(group_value(&snapshot))),
            Some(OffsetsRecord::Group {
                group: "g".into(),
                value: Some(snapshot),
            })
        );
        assert_eq!(
            decode(group_key("g"), None),
            Some(OffsetsRecord::Group {
                group: "g".into(),
                value: None
            })
        );
        assert_eq!(decode(Bytes::from_static(&[0, 9]), None), None);
    }
}
