//! Bytes <-> frames: a 4-byte big-endian size, then header and body, encoded
//! at the header version Kafka prescribes for the API version in use.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::{
    messages::{ApiKey, RequestHeader, ResponseHeader},
    protocol::{Decodable, Encodable, StrBytes},
};

use crate::error::{Error, Result};

/// Largest response frame accepted; larger sizes mean a corrupt stream.
pub(crate) const MAX_RESPONSE_FRAME: usize = 256 * 1024 * 1024;

/// Encodes one size-prefixed request frame.
pub(crate) fn encode_request<B: Encodable>(
    api: ApiKey,
    version: i16,
    correlation_id: i32,
    client_id: &str,
    body: &B,
) -> Result<Bytes> {
    let header = RequestHeader::default()
        .with_request_api_key(api as i16)
        .with_request_api_version(version)
        .with_correlation_id(correlation_id)
        .with_client_id(Some(StrBytes::from_string(client_id.to_owned())));
    let header_version = api.request_header_version(version);
    let mut buf = BytesMut::new();
    buf.put_i32(0);
    header
        .encode(&mut buf, header_version)
        .map_err(|e| Error::Encode {
            api,
            version,
            reason: e.to_string(),
        })?;
    body.encode(&mut buf, version).map_err(|e| Error::Encode {
        api,
        version,
        reason: e.to_string(),
    })?;
    let size = i32::try_from(buf.len() - 4).map_err(|_| Error::Encode {
        api,
        version,
        reason: format!("request of {} bytes exceeds the frame limit", buf.len()),
    })?;
    buf[..4].copy_from_slice(&size.to_be_bytes());
    Ok(buf.freeze())
}

/// Splits a response frame (without its size prefix) into correlation id and body bytes.
pub(crate) fn decode_response_header(
    api: ApiKey,
    version: i16,
    mut frame: Bytes,
) -> Result<(i32, Bytes)> {
    let header =
        ResponseHeader::decode(&mut frame, api.response_header_version(version)).map_err(|e| {
            Error::Decode {
                api,
                version,
                reason: e.to_string(),
            }
        })?;
    Ok((header.correlation_id, frame))
}

/// Decodes a response body at `version`.
pub(crate) fn decode_body<R: Decodable>(api: ApiKey, version: i16, mut body: Bytes) -> Result<R> {
    let decoded = R::decode(&mut body, version).map_err(|e| Error::Decode {
        api,
        version,
        reason: e.to_string(),
    })?;
    if body.has_remaining() {
        tracing::debug!(
            ?api,
            version,
            trailing = body.remaining(),
            "response has trailing bytes"
        );
    }
    Ok(decoded)
}

#[cfg(test)]
mod tests {
    use kafka_protocol::messages::{MetadataRequest, MetadataResponse};

    use super::*;

    #[test]
    fn request_frame_round_trips_with_flexible_header() {
        let frame = encode_request(
            ApiKey::Metadata,
            12,
            7,
            "karst-test",
            &MetadataRequest::default(),
        )
        .unwrap();
        let mut bytes = frame.clone();
        let size = bytes.get_i32();
        assert_eq!(size as usize, bytes.len());
        let header =
            kafka_protocol::protocol::decode_request_header_from_buffer(&mut bytes).unwrap();
        assert_eq!(
            (
                header.request_api_key,
                header.request_api_version,
                header.correlation_id
            ),
            (3, 12, 7)
        );
        assert_eq!(header.client_id.as_deref(), Some("karst-test"));
        let body = MetadataRequest::decode(&mut bytes, 12).unwrap();
        assert_eq!(body, MetadataRequest::default());
    }

    #[test]
    fn response_header_version_follows_the_api_version() {
        for (version, header_version) in [(8i16, 0i16), (9, 1)] {
            let mut buf = BytesMut::new();
            ResponseHeader::default()
                .with_correlation_id(42)
                .encode(&mut buf, header_version)
                .unwrap();
            MetadataResponse::default()
                .encode(&mut buf, version)
                .unwrap();
            let (correlation_id, body) =
                decode_response_header(ApiKey::Metadata, version, buf.freeze()).unwrap();
            assert_eq!(correlation_id, 42);
            let decoded: MetadataResponse = decode_body(ApiKey::Metadata, version, body).unwrap();
            assert_eq!(decoded, MetadataResponse::default());
        }
    }
}
