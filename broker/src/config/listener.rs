//! `listeners` and `advertised.listeners`: `NAME://host:port` entries whose
//! security protocol comes from `listener.security.protocol.map`.

use super::ConfigError;

/// A listener: `NAME://host:port`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listener {
    pub name: String,
    /// Empty means every interface.
    pub host: String,
    pub port: u16,
}

impl std::fmt::Display for Listener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.host.contains(':') {
            write!(f, "{}://[{}]:{}", self.name, self.host, self.port)
        } else {
            write!(f, "{}://{}:{}", self.name, self.host, self.port)
        }
    }
}

pub(super) fn invalid(key: &str, value: &str, reason: impl Into<String>) -> ConfigError {
    ConfigError::InvalidValue {
        key: key.to_owned(),
        value: value.to_owned(),
        reason: reason.into(),
    }
}

/// Parses `listener.security.protocol.map` (`NAME:PROTOCOL,...`).
pub(super) fn parse_protocol_map(
    key: &str,
    value: &str,
) -> Result<Vec<(String, String)>, ConfigError> {
    value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|item| {
            let (name, protocol) = item.split_once(':').ok_or_else(|| {
                invalid(key, value, format!("expected NAME:PROTOCOL, got {item:?}"))
            })?;
            let protocol = protocol.trim().to_ascii_uppercase();
            if !["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"].contains(&protocol.as_str()) {
                return Err(invalid(
                    key,
                    value,
                    format!("unknown security protocol {protocol:?}"),
                ));
            }
            Ok((name.trim().to_ascii_uppercase(), protocol))
        })
        .collect()
}

/// Parses `NAME://host:port,...`. Every name must map to a security
/// protocol, and Karst serves PLAINTEXT only so far; names must be unique.
pub(super) fn parse_listeners(
    key: &str,
    value: &str,
    protocols: &[(String, String)],
) -> Result<Vec<Listener>, ConfigError> {
    let mut listeners: Vec<Listener> = Vec::new();
    for item in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (name, address) = item.split_once("://").ok_or_else(|| {
            invalid(
                key,
                value,
                format!("expected NAME://host:port, got {item:?}"),
            )
        })?;
        let name = name.trim().to_ascii_uppercase();
        let (host, port) = address.rsplit_once(':').ok_or_else(|| {
            invalid(
                key,
                value,
                format!("expected NAME://host:port, got {item:?}"),
            )
        })?;
        let port: u16 = port.parse().map_err(|_| {
            invalid(
                key,
                value,
                format!("the port of {item:?} must be a number between 0 and 65535"),
            )
        })?;
        match protocols.iter().find(|(n, _)| *n == name) {
            None => {
                return Err(invalid(
                    key,
                    value,
                    format!(
                        "listener {name} has no security protocol in listener.security.protocol.map"
                    ),
                ));
            }
            Some((_, protocol)) if protocol != "PLAINTEXT" => {
                return Err(invalid(
                    key,
                    value,
                    format!("listener {name} uses {protocol}; only PLAINTEXT is supported so far"),
                ));
            }
            Some(_) => {}
        }
        if listeners.iter().any(|l| l.name == name) {
            return Err(invalid(
                key,
                value,
                format!("listener name {name} is used twice"),
            ));
        }
        listeners.push(Listener {
            name,
            host: host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_owned(),
            port,
        });
    }
    Ok(listeners)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plaintext_map() -> Vec<(String, String)> {
        parse_protocol_map("m", "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,SSL:SSL").unwrap()
    }

    #[test]
    fn names_hosts_and_ports_including_ipv6_and_all_interfaces() {
        let listeners = parse_listeners(
            "listeners",
            "PLAINTEXT://:9092, CONTROLLER://[::1]:9093",
            &plaintext_map(),
        )
        .unwrap();
        assert_eq!(listeners[0].host, "");
        assert_eq!(listeners[0].port, 9092);
        assert_eq!(listeners[1].host, "::1");
        assert_eq!(listeners[1].to_string(), "CONTROLLER://[::1]:9093");
    }

    #[test]
    fn unmapped_secure_duplicate_and_malformed_listeners_are_refused() {
        let map = plaintext_map();
        let refuse = |v: &str| {
            parse_listeners("listeners", v, &map)
                .unwrap_err()
                .to_string()
        };
        assert!(refuse("EXTERNAL://:9094").contains("no security protocol"));
        assert!(refuse("SSL://:9093").contains("only PLAINTEXT"));
        assert!(refuse("PLAINTEXT://:1,PLAINTEXT://:2").contains("used twice"));
        assert!(refuse("localhost:9092").contains("expected NAME://host:port"));
        assert!(refuse("PLAINTEXT://:99999").contains("port"));
        assert!(parse_protocol_map("m", "A:TLS").is_err());
    }
}
