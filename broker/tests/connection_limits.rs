//! Connections are bounded: idle ones are closed after
//! `connections.max.idle.ms`, those over `max.connections` or
//! `max.connections.per.ip` are refused at once, and the HTTP probes keep
//! answering on their own listener throughout.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::{RawClient, http_get, start_broker};
use kafka_protocol::messages::ApiVersionsRequest;
use tokio::io::AsyncReadExt;
use tokio::net::{TcpSocket, TcpStream};

/// Bounds every wait of these tests; nothing here should take long.
const BOUND: Duration = Duration::from_secs(60);

/// The value of a metric series (exact name and labels) on `/metrics`.
async fn metric(addr: SocketAddr, series: &str) -> u64 {
    let (_, body) = http_get(addr, "/metrics").await;
    body.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or(0)
}

/// Whether an ApiVersions request on `stream` is answered.
async fn answered(stream: TcpStream) -> bool {
    let mut client = RawClient::from_stream(stream);
    let request = common::encode_request(&ApiVersionsRequest::default(), 3, 1);
    client.send_frame(&request).await.is_ok()
        && matches!(
            tokio::time::timeout(BOUND, client.read_frame()).await,
            Ok(Ok(_))
        )
}

/// Whether the broker closed `stream` (end of stream or reset) without a word.
async fn closed_by_broker(stream: &mut TcpStream) -> bool {
    let mut byte = [0u8; 1];
    match tokio::time::timeout(BOUND, stream.read(&mut byte)).await {
        Ok(Ok(0)) | Ok(Err(_)) => true,
        Ok(Ok(_)) => false,
        Err(_) => panic!("the broker neither answered nor closed within {BOUND:?}"),
    }
}

async fn answers(client: &mut RawClient) -> bool {
    client
        .send(&ApiVersionsRequest::default(), 3)
        .await
        .error_code
        == 0
}

async fn connect_from(source: &str, addr: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(format!("{source}:0").parse().unwrap()).unwrap();
    socket.connect(addr).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_thousand_idle_connections_are_closed_after_the_idle_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let idle = Duration::from_millis(1500);
    let broker = start_broker(dir.path(), &[("connections.max.idle.ms", "1500")]).await;
    let opened = Instant::now();
    let mut idle_sockets = Vec::new();
    for _ in 0..2000 {
        idle_sockets.push(TcpStream::connect(broker.kafka_addr()).await.unwrap());
    }
    let closes = idle_sockets.iter_mut().map(closed_by_broker);
    let closed = futures::future::join_all(closes).await;
    assert!(closed.iter().all(|c| *c), "every idle connection is closed");
    assert!(
        opened.elapsed() >= idle,
        "none is closed before the timeout"
    );
    let http = broker.http_addr();
    assert_eq!(http_get(http, "/healthz").await.0, 200);
    // The broker counts a close just after it closes the socket, so the
    // last count may trail the client seeing the close by a moment.
    common::wait_until(
        Duration::from_secs(10),
        "2000 idle closes counted",
        || async {
            metric(http, "karst_connections_idle_closed_total").await == 2000
                && metric(http, "karst_connections").await == 0
        },
    )
    .await;
    broker.shutdown().await;
}

#[tokio::test]
async fn connections_over_the_limits_are_refused_and_probes_still_answer() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start_broker(
        dir.path(),
        &[("max.connections", "4"), ("max.connections.per.ip", "3")],
    )
    .await;
    let addr = broker.kafka_addr();
    let mut admitted = Vec::new();
    for _ in 0..3 {
        let mut client = RawClient::connect(addr).await;
        assert!(answers(&mut client).await);
        admitted.push(client);
    }
    // A fourth from the same address is over max.connections.per.ip...
    let mut same_ip = TcpStream::connect(addr).await.unwrap();
    assert!(closed_by_broker(&mut same_ip).await);
    // ...one from another loopback address is not...
    let mut other = RawClient::from_stream(connect_from("127.0.0.2", addr).await);
    assert!(answers(&mut other).await);
    // ...and a fifth from anywhere is over max.connections.
    let mut over = connect_from("127.0.0.3", addr).await;
    assert!(closed_by_broker(&mut over).await);
    let http = broker.http_addr();
    assert_eq!(http_get(http, "/healthz").await.0, 200);
    assert_eq!(http_get(http, "/readyz").await.0, 200);
    for limit in ["max.connections", "max.connections.per.ip"] {
        let series = format!("karst_connections_refused_total{{limit=\"{limit}\"}}");
        assert!(metric(http, &series).await >= 1, "{series}");
    }
    // A freed place is taken again.
    drop(admitted.pop());
    let deadline = Instant::now() + BOUND;
    while !answered(TcpStream::connect(addr).await.unwrap()).await {
        assert!(Instant::now() < deadline, "the freed place never came back");
    }
    broker.shutdown().await;
}

/// An ApiVersions request padded to `size` bytes (the broker ignores
/// trailing bytes), so that it holds that much request memory.
fn padded_request(size: usize) -> Vec<u8> {
    let mut frame = common::encode_request(&ApiVersionsRequest::default(), 3, 1).to_vec();
    frame.resize(size, 0);
    frame
}

#[tokio::test]
async fn requests_being_read_share_a_bounded_memory() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start_broker(dir.path(), &[("queued.max.request.bytes", "1000000")]).await;
    let (addr, http) = (broker.kafka_addr(), broker.http_addr());
    let bound = Duration::from_secs(30);

    // A announces 900 kB and sends half: it holds 900 kB while it dawdles.
    let big = padded_request(900_000);
    let mut a = RawClient::connect(addr).await;
    a.send_raw(&(big.len() as i32).to_be_bytes()).await.unwrap();
    a.send_raw(&big[..450_000]).await.unwrap();
    common::wait_until(bound, "A to hold its request memory", || async {
        metric(http, "karst_request_memory_bytes").await == 900_000
    })
    .await;

    // B's 200 kB do not fit beside it: B waits instead of allocating.
    let mut b = RawClient::connect(addr).await;
    b.send_frame(&padded_request(200_000)).await.unwrap();
    common::wait_until(bound, "B to wait for request memory", || async {
        metric(http, "karst_request_memory_waiting").await == 1
    })
    .await;

    // A finishes: both are answered, and the memory is given back.
    a.send_raw(&big[450_000..]).await.unwrap();
    assert!(
        tokio::time::timeout(BOUND, a.read_frame())
            .await
            .unwrap()
            .is_ok()
    );
    assert!(
        tokio::time::timeout(BOUND, b.read_frame())
            .await
            .unwrap()
            .is_ok()
    );
    common::wait_until(bound, "request memory to be given back", || async {
        metric(http, "karst_request_memory_bytes").await == 0
    })
    .await;
    broker.shutdown().await;
}
