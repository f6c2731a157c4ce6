//! ApiVersions: which APIs and versions this broker speaks, generated from
//! the API table ([`super::api_table`]).

use kafka_protocol::ResponseError;
use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::{ApiVersionsRequest, ApiVersionsResponse};

use super::RequestContext;
use super::api_table::served_apis;

fn api_keys() -> Vec<ApiVersion> {
    served_apis()
        .map(|api| {
            let range = api.valid_versions();
            ApiVersion::default()
                .with_api_key(api as i16)
                .with_min_version(range.min)
                .with_max_version(range.max)
        })
        .collect()
}

/// Lists every supported API. No features are advertised: librdkafka before
/// 2.2 mis-parses a response that carries tagged fields.
pub(crate) fn handle(_ctx: &RequestContext, _request: ApiVersionsRequest) -> ApiVersionsResponse {
    ApiVersionsResponse::default().with_api_keys(api_keys())
}

/// The v0 answer to an ApiVersions version this broker does not know; the
/// client retries with a version from the list.
pub(crate) fn unsupported_version() -> ApiVersionsResponse {
    ApiVersionsResponse::default()
        .with_error_code(ResponseError::UnsupportedVersion.code())
        .with_api_keys(api_keys())
}
