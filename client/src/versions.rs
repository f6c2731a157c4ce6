//! API version negotiation: the client picks, per API, the highest version
//! both sides support (min of the two maxima), as every Kafka client does.

use std::collections::HashMap;

use kafka_protocol::{
    messages::{ApiKey, ApiVersionsResponse},
    protocol::VersionRange,
};

use crate::error::{Error, Result};

/// The inclusive version range a broker advertises for one API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApiVersionRange {
    /// Lowest supported version.
    pub min: i16,
    /// Highest supported version.
    pub max: i16,
}

/// What the broker said it supports, keyed by API key.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NegotiatedVersions {
    broker: HashMap<i16, ApiVersionRange>,
}

impl NegotiatedVersions {
    /// Reads the broker's ranges from an ApiVersions response.
    pub fn from_response(response: &ApiVersionsResponse) -> Self {
        let broker = response
            .api_keys
            .iter()
            .map(|k| {
                (
                    k.api_key,
                    ApiVersionRange {
                        min: k.min_version,
                        max: k.max_version,
                    },
                )
            })
            .collect();
        Self { broker }
    }

    /// The broker's range for `api`, if it offers the API at all.
    pub fn broker_range(&self, api: ApiKey) -> Option<ApiVersionRange> {
        self.broker.get(&(api as i16)).copied()
    }

    /// Picks `min(client max, broker max)`, failing when the ranges do not overlap.
    pub fn pick(&self, api: ApiKey, client: VersionRange) -> Result<i16> {
        let unsupported = |broker: Option<ApiVersionRange>| Error::UnsupportedVersion {
            api,
            client_min: client.min,
            client_max: client.max,
            broker: broker.map(|b| (b.min, b.max)),
        };
        let broker = self.broker_range(api).ok_or_else(|| unsupported(None))?;
        let version = client.max.min(broker.max);
        if version < client.min.max(broker.min) {
            return Err(unsupported(Some(broker)));
        }
        Ok(version)
    }
}

#[cfg(test)]
mod tests {
    use kafka_protocol::messages::api_versions_response::ApiVersion;

    use super::*;

    fn broker(ranges: &[(ApiKey, i16, i16)]) -> NegotiatedVersions {
        let response = ApiVersionsResponse::default().with_api_keys(
            ranges
                .iter()
                .map(|&(k, min, max)| {
                    ApiVersion::default()
                        .with_api_key(k as i16)
                        .with_min_version(min)
                        .with_max_version(max)
                })
                .collect(),
        );
        NegotiatedVersions::from_response(&response)
    }

    #[test]
    fn picks_the_lower_of_the_two_maxima() {
        let v = broker(&[(ApiKey::Metadata, 0, 9), (ApiKey::CreateTopics, 2, 9)]);
        assert_eq!(
            v.pick(ApiKey::Metadata, VersionRange { min: 0, max: 13 })
                .unwrap(),
            9
        );
        assert_eq!(
            v.pick(ApiKey::CreateTopics, VersionRange { min: 2, max: 7 })
                .unwrap(),
            7
        );
    }

    #[test]
    fn refuses_disjoint_ranges_and_missing_apis() {
        let v = broker(&[(ApiKey::Fetch, 12, 17)]);
        let err = v
            .pick(ApiKey::Fetch, VersionRange { min: 4, max: 11 })
            .unwrap_err();
        assert!(
            matches!(
                err,
                Error::UnsupportedVersion {
                    broker: Some((12, 17)),
                    ..
                }
            ),
            "{err}"
        );
        let err = v
            .pick(ApiKey::DeleteTopics, VersionRange { min: 1, max: 6 })
            .unwrap_err();
        assert!(
            matches!(err, Error::UnsupportedVersion { broker: None, .. }),
            "{err}"
        );
    }
}
