//! One client connection: bytes <-> frames <-> requests.
//!
//! The read side decodes a frame, runs its handler and queues the reply; the
//! write side sends replies strictly in request order. A reply may be a
//! future (a produce waiting for fsync): the reader goes on with the next
//! request meanwhile, so one connection pipelines without reordering. A frame
//! that is oversized or cannot be decoded closes the connection, never the
//! process.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, RequestHeader, RequestKind, ResponseHeader, ResponseKind};
use kafka_protocol::protocol::{Decodable, Encodable};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader, BufWriter};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::{mpsc, watch};

use crate::broker::Broker;
use crate::frame::Frame;
use crate::handler::{self, Reply, RequestContext};
use crate::limits::{ConnectionLimits, RequestMemory};

/// Replies queued ahead of the writer; past this the reader waits, which
/// pushes back on a client that pipelines faster than we can answer.
const MAX_IN_FLIGHT: usize = 64;

/// Why a connection was closed by the broker.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ConnectionError {
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    #[error("idle for {0:?} (connections.max.idle.ms)")]
    Idle(Duration),
    #[error("frame of {size} bytes is outside 8..={max} (socket.request.max.bytes)")]
    FrameSize { size: i64, max: usize },
    #[error("unknown api key {0}")]
    UnknownApiKey(i16),
    #[error("unsupported api {0:?}")]
    UnsupportedApi(ApiKey),
    #[error("unsupported version {version} of {api:?}")]
    UnsupportedVersion { api: ApiKey, version: i16 },
    #[error("malformed {api:?} v{version} request: {reason}")]
    Malformed {
        api: ApiKey,
        version: i16,
        reason: String,
    },
    #[error("could not encode {api:?} v{version} response: {reason}")]
    Encode {
        api: ApiKey,
        version: i16,
        reason: String,
    },
}

/// A reply waiting its turn to be written.
struct Queued {
    correlation_id: i32,
    api: ApiKey,
    version: i16,
    received: Instant,
    reply: Reply,
}

pub(crate) struct Connection {
    broker: Arc<Broker>,
    reader: BufReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
    peer: SocketAddr,
    limits: Arc<ConnectionLimits>,
}

impl Connection {
    pub(crate) fn new(
        broker: Arc<Broker>,
        socket: TcpStream,
        peer: SocketAddr,
        limits: Arc<ConnectionLimits>,
    ) -> Self {
        let (read, write) = socket.into_split();
        Self {
            broker,
            reader: BufReader::with_capacity(64 * 1024, read),
            writer: write,
            peer,
            limits,
        }
    }

    /// Serves requests until the client closes, an error, or shutdown.
    pub(crate) async fn run(
        self,
        mut shutdown: watch::Receiver<bool>,
    ) -> Result<(), ConnectionError> {
        let Self {
            broker,
            mut reader,
            writer,
            peer,
            limits,
        } = self;
        let (tx, rx) = mpsc::channel(MAX_IN_FLIGHT);
        // Replies queued or being written: while any is, the connection is
        // busy (a long-polling fetch), not idle.
        let unanswered = Arc::new(AtomicUsize::new(0));
        let write_side = tokio::spawn(write_replies(
            broker.clone(),
            writer,
            rx,
            unanswered.clone(),
        ));
        let max = broker.config.socket_request_max_bytes;
        // One idle timer per connection, moved only when it fires: no timer
        // work per request.
        let idle = limits.idle_timeout;
        let mut last_frame = Instant::now();
        let idle_timer = tokio::time::sleep(idle.unwrap_or(Duration::MAX / 4));
        tokio::pin!(idle_timer);
        // Ok(true): the client closed its end.
        let read_result = async {
            loop {
                let frame = {
                    let reading = read_frame(&mut reader, &limits, max);
                    tokio::pin!(reading);
                    loop {
                        tokio::select! {
                            frame = &mut reading => break frame?,
                            _ = shutdown.wait_for(|stop| *stop) => return Ok(false),
                            () = &mut idle_timer, if idle.is_some() => {
                                let idle = idle.unwrap_or_default();
                                let next = idle_check(last_frame, idle, &unanswered)?;
                                idle_timer.as_mut().reset(next.into());
                            }
                        }
                    }
                };
                let Some((frame, memory)) = frame else {
                    return Ok(true);
                };
                last_frame = Instant::now();
                // A handler may wait long (a long-polling fetch, a group
                // rebalance): neither shutdown nor a client that went away
                // waits for it. `fill_buf` only peeks, so a request that
                // arrives meanwhile stays buffered for the next round.
                let handling = handle_frame(&broker, peer, frame);
                tokio::pin!(handling);
                let mut watch_close = true;
                let queued = loop {
                    tokio::select! {
                        queued = &mut handling => break queued?,
                        _ = shutdown.wait_for(|stop| *stop) => return Ok(false),
                        ready = reader.fill_buf(), if watch_close => match ready {
                            Ok([]) => return Ok(true),
                            Ok(_) => watch_close = false,
                            Err(error) => return Err(error.into()),
                        },
                    }
                };
                drop(memory);
                if let Some(queued) = queued {
                    unanswered.fetch_add(1, Ordering::AcqRel);
                    if tx.send(queued).await.is_err() {
                        return Ok(false); // the writer failed; it reports why
                    }
                }
            }
        }
        .await;
        drop(tx);
        // A client that is gone cannot read replies: as Kafka does, drop
        // those still pending (a long-polling fetch may wait for minutes)
        // instead of holding the connection's place until they complete.
        if matches!(read_result, Ok(true) | Err(ConnectionError::Io(_))) {
            write_side.abort();
        }
        let write_result = write_side.await.unwrap_or(Ok(()));
        if let Err(error) = &read_result
            && !matches!(error, ConnectionError::Io(_) | ConnectionError::Idle(_))
        {
            broker.metrics.frame_rejected();
        }
        read_result.map(drop).and(write_result)
    }
}

/// When the idle timer fires: a connection with nothing unanswered (no
/// long-polling fetch, no produce waiting for its fsync) that completed no
/// request for `connections.max.idle.ms` (sent nothing, or took that long
/// to send one request) is closed; otherwise the time the timer fires next.
fn idle_check(
    last_frame: Instant,
    idle: Duration,
    unanswered: &AtomicUsize,
) -> Result<Instant, ConnectionError> {
    let now = Instant::now();
    if unanswered.load(Ordering::Acquire) > 0 {
        return Ok(now + idle);
    }
    match last_frame.checked_add(idle) {
        Some(due) if due > now => Ok(due),
        _ => Err(ConnectionError::Idle(idle)),
    }
}

/// Reads one request frame, holding its size in request memory
/// (`queued.max.request.bytes`) until the caller drops the permit.
/// `Ok(None)` on a clean end of stream.
async fn read_frame(
    reader: &mut BufReader<OwnedReadHalf>,
    limits: &ConnectionLimits,
    max: usize,
) -> Result<Option<(Bytes, Option<RequestMemory>)>, ConnectionError> {
    let size = match reader.read_i32().await {
        Ok(size) => size,
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    if size < 8 || size as usize > max {
        return Err(ConnectionError::FrameSize {
            size: size.into(),
            max,
        });
    }
    let size = size as usize;
    // Memory is taken before it is allocated: many connections announcing
    // large frames wait here instead of all allocating at once.
    let memory = limits.reserve_request(size).await;
    // Read into spare capacity: no zero-filling of up to 100 MiB per frame,
    // and `take` stops at the frame's end so the next frame stays buffered.
    let mut frame = BytesMut::with_capacity(size);
    let mut body = (&mut *reader).take(size as u64);
    while frame.len() < size {
        if body.read_buf(&mut frame).await? == 0 {
            return Err(std::io::Error::from(std::io::ErrorKind::UnexpectedEof).into());
        }
    }
    Ok(Some((frame.freeze(), memory)))
}

/// Decodes a frame and runs its handler. `Ok(None)` when no reply is due
/// (acks=0 produce).
async fn handle_frame(
    broker: &Arc<Broker>,
    peer: SocketAddr,
    mut frame: Bytes,
) -> Result<Option<Queued>, ConnectionError> {
    let received = Instant::now();
    let api_key = i16::from_be_bytes([frame[0], frame[1]]);
    let version = i16::from_be_bytes([frame[2], frame[3]]);
    let correlation_id = i32::from_be_bytes([frame[4], frame[5], frame[6], frame[7]]);
    let api = ApiKey::try_from(api_key).map_err(|()| ConnectionError::UnknownApiKey(api_key))?;
    let range = api.valid_versions();
    if api != ApiKey::ApiVersions && !handler::is_supported(api) {
        return Err(ConnectionError::UnsupportedApi(api));
    }
    if version < range.min || version > range.max {
        if api == ApiKey::ApiVersions {
            // Kafka answers an ApiVersions it does not know with v0 and
            // UNSUPPORTED_VERSION, listing what it does support.
            return Ok(Some(Queued {
                correlation_id,
                api,
                version: 0,
                received,
                reply: Reply::Now(Box::new(ResponseKind::ApiVersions(
                    handler::api_versions::unsupported_version(),
                ))),
            }));
        }
        return Err(ConnectionError::UnsupportedVersion { api, version });
    }
    let malformed = |e: anyhow::Error| ConnectionError::Malformed {
        api,
        version,
        reason: format!("{e:#}"),
    };
    let header = RequestHeader::decode(&mut frame, api.request_header_version(version))
        .map_err(malformed)?;
    let request = RequestKind::decode(api, &mut frame, version).map_err(malformed)?;
    if frame.has_remaining() {
        tracing::debug!(
            ?api,
            version,
            trailing = frame.remaining(),
            "request has trailing bytes"
        );
    }
    let ctx = RequestContext {
        broker: broker.clone(),
        header,
        api,
        version,
        peer,
    };
    let reply = handler::dispatch(ctx, request).await;
    if matches!(reply, Reply::None) {
        broker
            .metrics
            .observe_request(api_key, received.elapsed().as_secs_f64());
        return Ok(None);
    }
    Ok(Some(Queued {
        correlation_id,
        api,
        version,
        received,
        reply,
    }))
}

/// Writes replies in the order their requests arrived, flushing when no
/// further reply is ready so that pipelined responses share syscalls.
async fn write_replies(
    broker: Arc<Broker>,
    writer: OwnedWriteHalf,
    mut rx: mpsc::Receiver<Queued>,
    unanswered: Arc<AtomicUsize>,
) -> Result<(), ConnectionError> {
    let mut writer = BufWriter::with_capacity(64 * 1024, writer);
    let mut frame = Frame::default();
    while let Some(queued) = rx.recv().await {
        let (api, version) = (queued.api, queued.version);
        let encode_error = |e: anyhow::Error| ConnectionError::Encode {
            api,
            version,
            reason: format!("{e:#}"),
        };
        frame.start();
        encode_header(frame.buf_mut(), queued.correlation_id, api, version)
            .map_err(encode_error)?;
        match queued.reply {
            Reply::Now(response) => response.encode(frame.buf_mut(), version),
            Reply::Later(future) => future.await.encode(frame.buf_mut(), version),
            Reply::Fetch(reply) => handler::fetch::encode::encode(&mut frame, *reply, version),
            Reply::None => {
                unanswered.fetch_sub(1, Ordering::AcqRel);
                continue;
            }
        }
        .map_err(encode_error)?;
        frame
            .finish()
            .map_err(|e| encode_error(anyhow::Error::new(e)))?;
        broker
            .metrics
            .observe_request(api as i16, queued.received.elapsed().as_secs_f64());
        frame.write_to(&mut writer).await?;
        unanswered.fetch_sub(1, Ordering::AcqRel);
        if rx.is_empty() {
            writer.flush().await?;
        }
    }
    writer.flush().await?;
    writer.into_inner().shutdown().await.ok();
    Ok(())
}

fn encode_header(
    buf: &mut BytesMut,
    correlation_id: i32,
    api: ApiKey,
    version: i16,
) -> anyhow::Result<()> {
    ResponseHeader::default()
        .with_correlation_id(correlation_id)
        .encode(buf, api.response_header_version(version))
}
