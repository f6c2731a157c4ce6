//! Floors under W9's "broker CPU per request": what the kernel and the
//! runtime alone cost a server that reads one small request and writes one
//! small reply, measured with the least servers there are, under W9's load
//! (clients pace requests as W9's producers do: one in flight per
//! connection, `linger.ms=0`). Each shape adds one thing a broker does:
//!
//! - `blocking`: a thread per connection blocked in `recv` (one wake-up,
//!   one `recv`, one `send` per request; no event loop, no queues);
//! - `tokio`: one async worker (the broker's network thread on 2 cores),
//!   a reader and a writer task per connection joined by a channel, as the
//!   broker's connections are;
//! - `tokio_append`: that, plus each request appended to a file on the
//!   worker (a page-cache write, as an append before the I/O lanes);
//! - `tokio_handoff`: the append handed to another thread and the answer
//!   sent back, as an append on an I/O lane.
//!
//! The servers' own CPU time (`/proc/thread-self/schedstat`, nanoseconds)
//! over the requests answered is the floor of that shape on this machine;
//! the difference between shapes is what that step costs.

use std::io::{BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::cpu;

/// A Produce request of one 1 KB record is about this long.
const REQUEST_BYTES: usize = 1100;
/// A Produce response of one partition is about this long.
const REPLY_BYTES: usize = 60;

/// The server shapes, in the order each adds a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Shape {
    Blocking,
    Tokio,
    TokioAppend,
    TokioHandoff,
}

impl Shape {
    pub(crate) const ALL: [Shape; 4] = [
        Self::Blocking,
        Self::Tokio,
        Self::TokioAppend,
        Self::TokioHandoff,
    ];

    /// The figure's name.
    pub(crate) fn figure(self) -> &'static str {
        match self {
            Self::Blocking => "small_request_floor_us",
            Self::Tokio => "small_request_floor_tokio_us",
            Self::TokioAppend => "small_request_floor_tokio_append_us",
            Self::TokioHandoff => "small_request_floor_tokio_handoff_us",
        }
    }
}

/// Server CPU µs per request of `shape`: `connections` clients offering
/// `rate` requests/s together for `secs`; appends go under `dir`.
pub(crate) fn floor_us(
    shape: Shape,
    connections: usize,
    rate: u32,
    secs: f64,
    dir: &std::path::Path,
) -> anyhow::Result<f64> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let period = Duration::from_secs_f64(connections as f64 / f64::from(rate.max(1)));
    let start = Instant::now() + Duration::from_millis(200);
    let end = start + Duration::from_secs_f64(secs);
    let mut sockets = Vec::new();
    let mut clients: Vec<JoinHandle<std::io::Result<()>>> = Vec::new();
    for c in 0..connections {
        let socket = TcpStream::connect(addr)?;
        let (accepted, _) = listener.accept()?;
        accepted.set_nodelay(true)?;
        sockets.push(accepted);
        // Spread over one period, as W9's producers are.
        let first = start + period.mul_f64(c as f64 / connections as f64);
        clients.push(std::thread::spawn(move || {
            client(socket, first, period, end)
        }));
    }
    let server = match shape {
        Shape::Blocking => std::thread::spawn(move || serve_blocking(sockets)),
        tokio_shape => {
            let dir = dir.to_owned();
            std::thread::spawn(move || serve_tokio(sockets, tokio_shape, &dir))
        }
    };
    for client in clients {
        client
            .join()
            .map_err(|_| anyhow::anyhow!("client thread panicked"))??;
    }
    let (cpu_ns, requests) = server
        .join()
        .map_err(|_| anyhow::anyhow!("server panicked"))??;
    anyhow::ensure!(requests > 0, "no request was answered");
    Ok(cpu_ns as f64 / 1e3 / requests as f64)
}

/// A thread per connection; returns their CPU nanoseconds and the requests
/// answered.
fn serve_blocking(sockets: Vec<TcpStream>) -> std::io::Result<(u64, u64)> {
    let threads: Vec<JoinHandle<std::io::Result<(u64, u64)>>> = sockets
        .into_iter()
        .map(|socket| {
            std::thread::spawn(move || {
                let mut reader = BufReader::with_capacity(64 * 1024, socket.try_clone()?);
                let mut writer = socket;
                let mut request = vec![0u8; REQUEST_BYTES];
                let mut answered = 0;
                while read_request(reader.read_exact(&mut request))? {
                    writer.write_all(&[0x42u8; REPLY_BYTES])?;
                    answered += 1;
                }
                Ok((cpu::thread_cpu_ns()?, answered))
            })
        })
        .collect();
    let (mut cpu_ns, mut answered) = (0, 0);
    for thread in threads {
        let (ns, n) = thread
            .join()
            .map_err(|_| std::io::Error::other("server thread panicked"))??;
        cpu_ns += ns;
        answered += n;
    }
    Ok((cpu_ns, answered))
}

/// `Ok(false)` at the client's end of stream.
fn read_request(read: std::io::Result<()>) -> std::io::Result<bool> {
    match read {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Ok(false),
        Err(e) => Err(e),
    }
}

/// An append handed to the hand-off thread, answered when written.
type Handoff = (
    Vec<u8>,
    Arc<std::sync::Mutex<std::fs::File>>,
    tokio::sync::oneshot::Sender<()>,
);

/// One async worker serving every connection (a reader and a writer task
/// each); its CPU and the hand-off thread's, and the requests answered.
fn serve_tokio(
    sockets: Vec<TcpStream>,
    shape: Shape,
    dir: &std::path::Path,
) -> std::io::Result<(u64, u64)> {
    let cpu_ns = Arc::new(AtomicU64::new(0));
    let on_stop = cpu_ns.clone();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .on_thread_stop(move || {
            on_stop.fetch_add(cpu::thread_cpu_ns().unwrap_or(0), Ordering::Relaxed);
        })
        .build()?;
    let (handoff, jobs) = std::sync::mpsc::channel::<Handoff>();
    let appender = (shape == Shape::TokioHandoff).then(|| {
        std::thread::spawn(move || -> std::io::Result<u64> {
            for (request, file, done) in jobs {
                file.lock().expect("append lock").write_all(&request)?;
                let _ = done.send(());
            }
            cpu::thread_cpu_ns()
        })
    });
    let answered = runtime.block_on(async {
        let mut connections = Vec::new();
        for (i, socket) in sockets.into_iter().enumerate() {
            socket.set_nonblocking(true)?;
            let socket = tokio::net::TcpStream::from_std(socket)?;
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(dir.join(format!("floor-{i}.log")))?;
            let file = Arc::new(std::sync::Mutex::new(file));
            let handoff = handoff.clone();
            connections.push(tokio::spawn(connection(socket, shape, file, handoff)));
        }
        let mut answered = 0;
        for connection in connections {
            answered += connection.await.map_err(std::io::Error::other)??;
        }
        Ok::<_, std::io::Error>(answered)
    })?;
    drop(runtime);
    drop(handoff);
    let mut total = cpu_ns.load(Ordering::Relaxed);
    if let Some(appender) = appender {
        total += appender
            .join()
            .map_err(|_| std::io::Error::other("append thread panicked"))??;
    }
    Ok((total, answered))
}

/// A connection's reader task; its writer task sends each reply once the
/// request's append (if any) is done, in order.
async fn connection(
    socket: tokio::net::TcpStream,
    shape: Shape,
    file: Arc<std::sync::Mutex<std::fs::File>>,
    handoff: std::sync::mpsc::Sender<Handoff>,
) -> std::io::Result<u64> {
    let (read, mut write) = socket.into_split();
    let mut reader = tokio::io::BufReader::with_capacity(64 * 1024, read);
    let (replies, mut queued) =
        tokio::sync::mpsc::channel::<tokio::sync::oneshot::Receiver<()>>(64);
    let writer = tokio::spawn(async move {
        while let Some(done) = queued.recv().await {
            let _ = done.await;
            write.write_all(&[0x42u8; REPLY_BYTES]).await?;
        }
        Ok::<_, std::io::Error>(())
    });
    let mut request = vec![0u8; REQUEST_BYTES];
    let mut answered = 0;
    while read_request(reader.read_exact(&mut request).await.map(drop))? {
        let (done, appended) = tokio::sync::oneshot::channel();
        match shape {
            Shape::TokioHandoff => handoff
                .send((request.clone(), file.clone(), done))
                .map_err(std::io::Error::other)?,
            Shape::TokioAppend => {
                file.lock().expect("append lock").write_all(&request)?;
                let _ = done.send(());
            }
            _ => {
                let _ = done.send(());
            }
        }
        if replies.send(appended).await.is_err() {
            break;
        }
        answered += 1;
    }
    drop(replies);
    writer.await.map_err(std::io::Error::other)??;
    Ok(answered)
}

/// Sends a request every `period` from `first` until `end`, each after the
/// previous reply (a late reply delays the next request, as with one
/// request in flight).
fn client(
    mut socket: TcpStream,
    first: Instant,
    period: Duration,
    end: Instant,
) -> std::io::Result<()> {
    socket.set_nodelay(true)?;
    let request = vec![0x17u8; REQUEST_BYTES];
    let mut reply = [0u8; REPLY_BYTES];
    let mut due = first;
    while due < end {
        let now = Instant::now();
        if due > now {
            std::thread::sleep(due - now);
        }
        socket.write_all(&request)?;
        socket.read_exact(&mut reply)?;
        due += period;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shape_has_a_positive_cost_per_answered_request() {
        let dir = tempfile::tempdir().unwrap();
        for shape in Shape::ALL {
            let floor = floor_us(shape, 4, 400, 0.3, dir.path()).unwrap();
            // A wake-up, a recv and a send cost something, and not a millisecond.
            assert!(floor > 0.1 && floor < 1000.0, "{shape:?}: {floor} µs");
        }
        // The appends were written.
        let written: u64 = (0..4)
            .map(|i| {
                std::fs::metadata(dir.path().join(format!("floor-{i}.log")))
                    .unwrap()
                    .len()
            })
            .sum();
        assert!(
            written >= 2 * 4 * REQUEST_BYTES as u64,
            "{written} bytes appended"
        );
    }
}
