//! `controller.quorum.voters`: Kafka's static list of controller voters,
//! `id@host:port,id@host:port,...` (IPv6 hosts in brackets, `1@[::1]:9093`).

use std::collections::BTreeSet;
use std::fmt;

use super::NodeId;

/// One voter of the metadata quorum: a controller's `node.id` and the
/// endpoint of its controller listener.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Voter {
    pub id: NodeId,
    pub host: String,
    pub port: u16,
}

impl Voter {
    /// `host:port`, as given to the resolver (brackets kept for IPv6).
    pub fn address(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }
}

impl fmt::Display for Voter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}:{}", self.id, self.host, self.port)
    }
}

/// Why a `controller.quorum.voters` value does not parse; each names the
/// entry at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VotersError {
    #[error("controller.quorum.voters is empty; expected id@host:port[,id@host:port...]")]
    Empty,
    #[error("controller.quorum.voters entry {entry:?} has no '@'; expected id@host:port")]
    MissingAt { entry: String },
    #[error(
        "controller.quorum.voters entry {entry:?}: node id {id:?} is not a non-negative integer"
    )]
    BadId { entry: String, id: String },
    #[error("controller.quorum.voters entry {entry:?} has no port; expected id@host:port")]
    MissingPort { entry: String },
    #[error("controller.quorum.voters entry {entry:?}: port {port:?} is not a number in 1..=65535")]
    BadPort { entry: String, port: String },
    #[error("controller.quorum.voters entry {entry:?} has an empty host")]
    EmptyHost { entry: String },
    #[error("controller.quorum.voters lists node id {id} more than once")]
    DuplicateId { id: NodeId },
}

/// Parses `controller.quorum.voters`. Whitespace around entries is ignored;
/// ids must be unique.
pub fn parse_voters(value: &str) -> Result<Vec<Voter>, VotersError> {
    if value.trim().is_empty() {
        return Err(VotersError::Empty);
    }
    let mut voters = Vec::new();
    let mut seen = BTreeSet::new();
    for entry in value.split(',').map(str::trim) {
        let voter = parse_entry(entry)?;
        if !seen.insert(voter.id) {
            return Err(VotersError::DuplicateId { id: voter.id });
        }
        voters.push(voter);
    }
    Ok(voters)
}

fn parse_entry(entry: &str) -> Result<Voter, VotersError> {
    let owned = || entry.to_owned();
    let (id, endpoint) = entry
        .split_once('@')
        .ok_or_else(|| VotersError::MissingAt { entry: owned() })?;
    let id = id
        .trim()
        .parse::<NodeId>()
        .map_err(|_| VotersError::BadId {
            entry: owned(),
            id: id.to_owned(),
        })?;
    let (host, port) = endpoint
        .rsplit_once(':')
        .ok_or_else(|| VotersError::MissingPort { entry: owned() })?;
    if host.is_empty() || host == "[]" {
        return Err(VotersError::EmptyHost { entry: owned() });
    }
    let port = port
        .parse::<u16>()
        .ok()
        .filter(|p| *p != 0)
        .ok_or_else(|| VotersError::BadPort {
            entry: owned(),
            port: port.to_owned(),
        })?;
    Ok(Voter {
        id,
        host: host.to_owned(),
        port,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_kafka_voter_lists() {
        let voters = parse_voters("1@a.example:9093, 2@127.0.0.1:19093,3@[::1]:9093").unwrap();
        assert_eq!(
            voters,
            vec![
                Voter {
                    id: 1,
                    host: "a.example".into(),
                    port: 9093
                },
                Voter {
                    id: 2,
                    host: "127.0.0.1".into(),
                    port: 19093
                },
                Voter {
                    id: 3,
                    host: "[::1]".into(),
                    port: 9093
                },
            ]
        );
        assert_eq!(voters[2].address(), "[::1]:9093");
        assert_eq!(voters[0].to_string(), "1@a.example:9093");
    }

    #[test]
    fn bad_voter_strings_are_refused_naming_the_bad_part() {
        let cases: [(&str, VotersError); 9] = [
            ("", VotersError::Empty),
            (
                "1@a:1,b:2",
                VotersError::MissingAt {
                    entry: "b:2".into(),
                },
            ),
            (
                "x@a:1",
                VotersError::BadId {
                    entry: "x@a:1".into(),
                    id: "x".into(),
                },
            ),
            (
                "-1@a:1",
                VotersError::BadId {
                    entry: "-1@a:1".into(),
                    id: "-1".into(),
                },
            ),
            (
                "1@host",
                VotersError::MissingPort {
                    entry: "1@host".into(),
                },
            ),
            (
                "1@host:http",
                VotersError::BadPort {
                    entry: "1@host:http".into(),
                    port: "http".into(),
                },
            ),
            (
                "1@host:70000",
                VotersError::BadPort {
                    entry: "1@host:70000".into(),
                    port: "70000".into(),
                },
            ),
            (
                "1@:9093",
                VotersError::EmptyHost {
                    entry: "1@:9093".into(),
                },
            ),
            ("1@a:1,1@b:2", VotersError::DuplicateId { id: 1 }),
        ];
        for (input, expected) in cases {
            let err = parse_voters(input).unwrap_err();
            assert_eq!(err, expected, "input {input:?}");
            if let VotersError::BadPort { entry, .. } = &err {
                assert!(err.to_string().contains(entry.as_str()));
            }
        }
        // A trailing comma leaves an empty entry, which is named too.
        assert_eq!(
            parse_voters("1@a:1,").unwrap_err(),
            VotersError::MissingAt { entry: "".into() }
        );
    }
}
