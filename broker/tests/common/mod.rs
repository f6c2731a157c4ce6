//! Helpers for integration tests: an in-process broker on 127.0.0.1:0 and a
//! raw Kafka protocol connection to it.
#![allow(dead_code, unreachable_pub)]

use std::path::Path;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, Request, StrBytes};
use karst_broker::config::BrokerConfig;
use karst_broker::{Broker, RunningBroker};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Starts a broker on an ephemeral port with its data in `dir`.
pub async fn start_broker(dir: &Path, overrides: &[(&str, &str)]) -> RunningBroker {
    let mut config = BrokerConfig::default();
    config.set("listeners", "PLAINTEXT://127.0.0.1:0").unwrap();
    config.set("karst.http.listener", "127.0.0.1:0").unwrap();
    config.set("log.dirs", dir.to_str().unwrap()).unwrap();
    for (k, v) in overrides {
        config.set(k, v).unwrap();
    }
    Broker::start(config).await.expect("broker starts")
}

/// One raw connection speaking the Kafka protocol.
pub struct RawClient {
    stream: TcpStream,
    correlation_id: i32,
}

impl RawClient {
    pub async fn connect(addr: std::net::SocketAddr) -> Self {
        let stream = TcpStream::connect(addr).await.expect("connect");
        stream.set_nodelay(true).unwrap();
        Self {
            stream,
            correlation_id: 0,
        }
    }

    /// Sends `request` at `version` and decodes the response.
    pub async fn send<R: Request>(&mut self, request: &R, version: i16) -> R::Response
    where
        R::Response: Decodable + HeaderVersion,
    {
        let id = self.next_id();
        self.send_frame(&encode_request(request, version, id))
            .await
            .expect("write");
        let mut frame = self.read_frame().await.expect("response frame");
        ResponseHeader::decode(&mut frame, R::Response::header_version(version)).expect("header");
        R::Response::decode(&mut frame, version).expect("response body")
    }

    fn next_id(&mut self) -> i32 {
        self.correlation_id += 1;
        self.correlation_id
    }

    /// Writes a frame body with its size prefix.
    pub async fn send_frame(&mut self, body: &[u8]) -> std::io::Result<()> {
        let mut buf = BytesMut::with_capacity(body.len() + 4);
        buf.put_i32(body.len() as i32);
        buf.put_slice(body);
        self.stream.write_all(&buf).await
    }

    /// Writes raw bytes (no size prefix added).
    pub async fn send_raw(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.stream.write_all(bytes).await
    }

    /// Reads one size-prefixed frame.
    pub async fn read_frame(&mut self) -> std::io::Result<Bytes> {
        let size = self.stream.read_i32().await?;
        let mut buf = vec![0u8; size as usize];
        self.stream.read_exact(&mut buf).await?;
        Ok(Bytes::from(buf))
    }
}

/// The frame body (header + request) of `request` at `version`.
pub fn encode_request<R: Request>(request: &R, version: i16, correlation_id: i32) -> Bytes {
    let header = RequestHeader::default()
        .with_request_api_key(R::KEY)
        .with_request_api_version(version)
        .with_correlation_id(correlation_id)
        .with_client_id(Some(StrBytes::from_static_str("karst-test")));
    let mut buf = BytesMut::new();
    header.encode(&mut buf, R::header_version(version)).unwrap();
    request.encode(&mut buf, version).unwrap();
    buf.freeze()
}

/// The correlation id of a response frame.
pub fn correlation_id(mut frame: Bytes) -> i32 {
    frame.get_i32()
}
