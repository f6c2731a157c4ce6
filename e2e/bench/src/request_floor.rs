//! The floor under W9's "broker CPU per request": what the kernel alone
//! costs a server that reads one small request and writes one small reply
//! per wake-up, measured with the least server there is. Each connection
//! has a thread blocked in `recv` (one wake-up, one `recv`, one `send` per
//! request: no event loop, no queues, no parsing); clients pace requests
//! as W9's producers do (one in flight per connection, `linger.ms=0`). The
//! servers' own CPU time (`/proc/thread-self/schedstat`, nanoseconds) over
//! the requests answered is the floor: a broker doing real work per request
//! cannot go below it on the same machine.

use std::io::{BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// A Produce request of one 1 KB record is about this long.
const REQUEST_BYTES: usize = 1100;
/// A Produce response of one partition is about this long.
const REPLY_BYTES: usize = 60;

/// Server CPU µs per request: `connections` clients offering `rate`
/// requests/s together for `secs`.
pub(crate) fn small_request_floor_us(
    connections: usize,
    rate: u32,
    secs: f64,
) -> anyhow::Result<f64> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let per_connection = Duration::from_secs_f64(connections as f64 / f64::from(rate.max(1)));
    let start = Instant::now() + Duration::from_millis(200);
    let end = start + Duration::from_secs_f64(secs);
    let mut servers: Vec<JoinHandle<std::io::Result<(u64, u64)>>> = Vec::new();
    let mut clients: Vec<JoinHandle<std::io::Result<()>>> = Vec::new();
    for c in 0..connections {
        let socket = TcpStream::connect(addr)?;
        let (accepted, _) = listener.accept()?;
        servers.push(std::thread::spawn(move || serve(accepted)));
        // Spread over one period, as W9's producers are.
        let first = start + per_connection.mul_f64(c as f64 / connections as f64);
        clients.push(std::thread::spawn(move || {
            client(socket, first, per_connection, end)
        }));
    }
    for client in clients {
        client
            .join()
            .map_err(|_| anyhow::anyhow!("client thread panicked"))??;
    }
    let (mut cpu_ns, mut requests) = (0, 0);
    for server in servers {
        let (ns, n) = server
            .join()
            .map_err(|_| anyhow::anyhow!("server thread panicked"))??;
        cpu_ns += ns;
        requests += n;
    }
    anyhow::ensure!(requests > 0, "no request was answered");
    Ok(cpu_ns as f64 / 1e3 / requests as f64)
}

/// Answers requests until the client closes; returns this thread's CPU
/// nanoseconds and the requests it answered.
fn serve(socket: TcpStream) -> std::io::Result<(u64, u64)> {
    socket.set_nodelay(true)?;
    let mut reader = BufReader::with_capacity(64 * 1024, socket.try_clone()?);
    let mut writer = socket;
    let mut request = vec![0u8; REQUEST_BYTES];
    let reply = [0x42u8; REPLY_BYTES];
    let mut answered = 0;
    loop {
        match reader.read_exact(&mut request) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
            Err(e) => return Err(e),
        }
        writer.write_all(&reply)?;
        answered += 1;
    }
    Ok((thread_cpu_ns()?, answered))
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

/// This thread's time on a CPU so far (user and system), in nanoseconds.
fn thread_cpu_ns() -> std::io::Result<u64> {
    let schedstat = std::fs::read_to_string("/proc/thread-self/schedstat")?;
    schedstat
        .split_whitespace()
        .next()
        .and_then(|ns| ns.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("unreadable schedstat: {schedstat:?}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_floor_is_a_positive_cost_per_answered_request() {
        let floor = small_request_floor_us(4, 400, 0.3).unwrap();
        // A wake-up, a recv and a send cost something, and not a millisecond.
        assert!(floor > 0.1 && floor < 1000.0, "{floor} µs");
    }
}
