//! One TCP connection to a broker: ApiVersions on connect, then requests
//! answered in order, matched by correlation id.

use bytes::{Buf, Bytes, BytesMut};
use kafka_protocol::{
    ResponseError,
    messages::{ApiKey, ApiVersionsRequest, ApiVersionsResponse},
    protocol::{Message, Request, StrBytes},
};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt, BufWriter},
    net::{TcpStream, ToSocketAddrs},
};

use crate::{
    error::{Error, KafkaError, Result},
    frame::{MAX_RESPONSE_FRAME, decode_body, decode_response_header, encode_request},
    versions::NegotiatedVersions,
};

const CLIENT_SOFTWARE_NAME: &str = "karst-client";

/// A connection to one broker with negotiated API versions.
///
/// Requests are sent one at a time (`&mut self`): Kafka answers in order on a
/// connection, so correlation ids only guard against a confused stream.
#[derive(Debug)]
pub struct Connection {
    stream: BufWriter<TcpStream>,
    peer: String,
    client_id: String,
    next_correlation_id: i32,
    versions: NegotiatedVersions,
}

impl Connection {
    /// Connects and negotiates versions with ApiVersions.
    pub async fn connect(addr: impl ToSocketAddrs + std::fmt::Display) -> Result<Self> {
        Self::connect_with_client_id(addr, CLIENT_SOFTWARE_NAME).await
    }

    /// Like [`Connection::connect`], with the client id sent in every request header.
    pub async fn connect_with_client_id(
        addr: impl ToSocketAddrs + std::fmt::Display,
        client_id: &str,
    ) -> Result<Self> {
        let peer = addr.to_string();
        let stream = TcpStream::connect(addr)
            .await
            .map_err(|source| Error::Connect {
                addr: peer.clone(),
                source,
            })?;
        stream.set_nodelay(true)?;
        let mut conn = Self {
            stream: BufWriter::new(stream),
            peer,
            client_id: client_id.to_owned(),
            next_correlation_id: 0,
            versions: NegotiatedVersions::default(),
        };
        let response = conn.api_versions().await?;
        conn.versions = NegotiatedVersions::from_response(&response);
        Ok(conn)
    }

    /// The address this connection was opened to.
    pub fn peer(&self) -> &str {
        &self.peer
    }

    /// The broker's advertised API versions.
    pub fn versions(&self) -> &NegotiatedVersions {
        &self.versions
    }

    /// The version [`Connection::send`] would use for `R` when given none.
    pub fn negotiated_version<R: Request>(&self) -> Result<i16> {
        let api = api_key::<R>()?;
        self.versions.pick(api, R::VERSIONS)
    }

    /// Sends a request and waits for its response.
    ///
    /// `version: None` uses the negotiated version (min of client and broker
    /// maxima); `Some(v)` sends exactly `v`, which lets tests probe a broker with
    /// any version, including ones it does not support.
    pub async fn send<R: Request>(
        &mut self,
        request: R,
        version: Option<i16>,
    ) -> Result<R::Response> {
        let api = api_key::<R>()?;
        let version = match version {
            Some(v) => v,
            None => self.versions.pick(api, R::VERSIONS)?,
        };
        let body = self.round_trip(api, version, &request).await?;
        decode_body(api, version, body)
    }

    /// ApiVersions at the highest version this crate knows; when the broker
    /// answers UNSUPPORTED_VERSION (with a v0 body, as Kafka does) retry at the
    /// broker's highest ApiVersions version.
    async fn api_versions(&mut self) -> Result<ApiVersionsResponse> {
        let request = ApiVersionsRequest::default()
            .with_client_software_name(StrBytes::from_static_str(CLIENT_SOFTWARE_NAME))
            .with_client_software_version(StrBytes::from_static_str(env!("CARGO_PKG_VERSION")));
        let mut version = ApiVersionsRequest::VERSIONS.max;
        loop {
            let body = self
                .round_trip(ApiKey::ApiVersions, version, &request)
                .await?;
            // Every ApiVersions version starts with the error code; an
            // UNSUPPORTED_VERSION answer is encoded as v0 whatever was asked.
            let code = body.clone().try_get_i16().map_err(|e| Error::Decode {
                api: ApiKey::ApiVersions,
                version,
                reason: e.to_string(),
            })?;
            if code == ResponseError::UnsupportedVersion.code() {
                let response: ApiVersionsResponse = decode_body(ApiKey::ApiVersions, 0, body)?;
                let broker_max = response
                    .api_keys
                    .iter()
                    .find(|k| k.api_key == ApiKey::ApiVersions as i16)
                    .map(|k| k.max_version)
                    .unwrap_or(0);
                if broker_max >= version {
                    return Err(unsupported_api_versions(code));
                }
                version = broker_max;
                continue;
            }
            let response: ApiVersionsResponse = decode_body(ApiKey::ApiVersions, version, body)?;
            if let Some(err) =
                KafkaError::from_code(ApiKey::ApiVersions, None, response.error_code, None)
            {
                return Err(err.into());
            }
            return Ok(response);
        }
    }

    async fn round_trip<B: kafka_protocol::protocol::Encodable>(
        &mut self,
        api: ApiKey,
        version: i16,
        body: &B,
    ) -> Result<Bytes> {
        let correlation_id = self.next_correlation_id;
        self.next_correlation_id = self.next_correlation_id.wrapping_add(1);
        let frame = encode_request(api, version, correlation_id, &self.client_id, body)?;
        self.stream.write_all(&frame).await?;
        self.stream.flush().await?;
        let response = self.read_frame().await?;
        let (received, body) = decode_response_header(api, version, response)?;
        if received != correlation_id {
            return Err(Error::CorrelationMismatch {
                sent: correlation_id,
                received,
            });
        }
        Ok(body)
    }

    async fn read_frame(&mut self) -> Result<Bytes> {
        let size = match self.stream.read_i32().await {
            Ok(size) => size,
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Err(Error::Closed),
            Err(e) => return Err(e.into()),
        };
        let len = usize::try_from(size)
            .ok()
            .filter(|&len| len <= MAX_RESPONSE_FRAME)
            .ok_or(Error::FrameSize {
                size: i64::from(size),
                max: MAX_RESPONSE_FRAME,
            })?;
        let mut buf = BytesMut::zeroed(len);
        match self.stream.read_exact(&mut buf).await {
            Ok(_) => Ok(buf.freeze()),
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Err(Error::Closed),
            Err(e) => Err(e.into()),
        }
    }
}

fn unsupported_api_versions(code: i16) -> Error {
    KafkaError::from_code(ApiKey::ApiVersions, None, code, None)
        .map(Error::from)
        .unwrap_or(Error::Closed)
}

fn api_key<R: Request>() -> Result<ApiKey> {
    ApiKey::try_from(R::KEY).map_err(|_| Error::UnknownApiKey(R::KEY))
}

#[cfg(test)]
mod tests {
    //! A scripted broker on 127.0.0.1:0 answers with `kafka-protocol` types, so
    //! the client's framing, headers and negotiation are checked end to end.
    use bytes::BufMut;
    use kafka_protocol::{
        messages::{
            MetadataRequest, MetadataResponse, ResponseHeader, api_versions_response::ApiVersion,
            metadata_response::MetadataResponseBroker,
        },
        protocol::{Decodable, Encodable, decode_request_header_from_buffer},
    };
    use tokio::net::TcpListener;

    use super::*;

    async fn write_response<B: Encodable>(
        stream: &mut TcpStream,
        api: ApiKey,
        version: i16,
        correlation_id: i32,
        body: &B,
    ) {
        let mut buf = BytesMut::new();
        buf.put_i32(0);
        ResponseHeader::default()
            .with_correlation_id(correlation_id)
            .encode(&mut buf, api.response_header_version(version))
            .unwrap();
        body.encode(&mut buf, version).unwrap();
        let size = (buf.len() - 4) as i32;
        buf[..4].copy_from_slice(&size.to_be_bytes());
        stream.write_all(&buf).await.unwrap();
    }

    async fn read_request(
        stream: &mut TcpStream,
    ) -> (kafka_protocol::messages::RequestHeader, Bytes) {
        let size = stream.read_i32().await.unwrap();
        let mut buf = BytesMut::zeroed(size as usize);
        stream.read_exact(&mut buf).await.unwrap();
        let mut bytes = buf.freeze();
        let header = decode_request_header_from_buffer(&mut bytes).unwrap();
        (header, bytes)
    }

    /// Serves ApiVersions (refusing versions above `api_versions_max` like Kafka) and Metadata.
    async fn scripted_broker(api_versions_max: i16) -> std::net::SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            let keys = vec![
                ApiVersion::default()
                    .with_api_key(ApiKey::ApiVersions as i16)
                    .with_max_version(api_versions_max),
                ApiVersion::default()
                    .with_api_key(ApiKey::Metadata as i16)
                    .with_max_version(9),
            ];
            loop {
                let (header, mut body) = read_request(&mut stream).await;
                let version = header.request_api_version;
                match ApiKey::try_from(header.request_api_key).unwrap() {
                    ApiKey::ApiVersions if version > api_versions_max => {
                        let response = ApiVersionsResponse::default()
                            .with_error_code(ResponseError::UnsupportedVersion.code())
                            .with_api_keys(keys.clone());
                        write_response(
                            &mut stream,
                            ApiKey::ApiVersions,
                            0,
                            header.correlation_id,
                            &response,
                        )
                        .await;
                    }
                    ApiKey::ApiVersions => {
                        let response = ApiVersionsResponse::default().with_api_keys(keys.clone());
                        write_response(
                            &mut stream,
                            ApiKey::ApiVersions,
                            version,
                            header.correlation_id,
                            &response,
                        )
                        .await;
                    }
                    ApiKey::Metadata => {
                        MetadataRequest::decode(&mut body, version).unwrap();
                        let response = MetadataResponse::default().with_brokers(vec![
                            MetadataResponseBroker::default()
                                .with_node_id(kafka_protocol::messages::BrokerId(version as i32))
                                .with_host(StrBytes::from_static_str("127.0.0.1"))
                                .with_port(9092),
                        ]);
                        write_response(
                            &mut stream,
                            ApiKey::Metadata,
                            version,
                            header.correlation_id,
                            &response,
                        )
                        .await;
                    }
                    other => panic!("unexpected {other:?}"),
                }
            }
        });
        addr
    }

    #[tokio::test]
    async fn negotiates_versions_and_sends_requests_in_order() {
        let addr = scripted_broker(4).await;
        let mut conn = Connection::connect(addr).await.unwrap();
        assert_eq!(conn.negotiated_version::<MetadataRequest>().unwrap(), 9);
        for _ in 0..3 {
            let response = conn.send(MetadataRequest::default(), None).await.unwrap();
            // The scripted broker echoes the version it decoded as the node id.
            assert_eq!(response.brokers[0].node_id.0, 9);
        }
        let response = conn
            .send(MetadataRequest::default(), Some(4))
            .await
            .unwrap();
        assert_eq!(response.brokers[0].node_id.0, 4);
    }

    #[tokio::test]
    async fn falls_back_when_broker_refuses_the_api_versions_version() {
        let addr = scripted_broker(2).await;
        let conn = Connection::connect(addr).await.unwrap();
        assert_eq!(
            conn.versions()
                .broker_range(ApiKey::ApiVersions)
                .unwrap()
                .max,
            2
        );
    }

    #[tokio::test]
    async fn connect_error_names_the_address() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let err = Connection::connect(addr).await.unwrap_err();
        assert!(
            matches!(err, Error::Connect { .. }) && err.to_string().contains(&addr.to_string()),
            "{err}"
        );
        assert!(err.is_transport());
    }
}
