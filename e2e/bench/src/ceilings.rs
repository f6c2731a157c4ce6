//! The machine's own limits, measured in the same run so that every figure
//! can be read as a fraction of what the hardware allows.

use std::fs::File;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::time::Instant;

const CHUNK: usize = 1 << 20;

/// Sequential write of 1 MiB chunks, each followed by fdatasync: MB/s.
pub(crate) fn fdatasync_write_mbps(dir: &Path, total_mib: usize) -> anyhow::Result<f64> {
    let path = dir.join("ceiling-fdatasync.bin");
    let mut file = File::create(&path)?;
    let chunk = vec![0x5a_u8; CHUNK];
    let start = Instant::now();
    for _ in 0..total_mib {
        file.write_all(&chunk)?;
        file.sync_data()?;
    }
    let secs = start.elapsed().as_secs_f64();
    drop(file);
    std::fs::remove_file(&path)?;
    Ok(total_mib as f64 * CHUNK as f64 / 1e6 / secs)
}

/// One loopback TCP stream, 1 MiB writes: MB/s.
pub(crate) fn loopback_tcp_mbps(total_mib: usize) -> anyhow::Result<f64> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let reader = std::thread::spawn(move || -> std::io::Result<usize> {
        let (mut socket, _) = listener.accept()?;
        let mut buf = vec![0u8; CHUNK];
        let mut total = 0;
        loop {
            let n = socket.read(&mut buf)?;
            if n == 0 {
                return Ok(total);
            }
            total += n;
        }
    });
    let mut socket = TcpStream::connect(addr)?;
    let chunk = vec![0xa5_u8; CHUNK];
    let start = Instant::now();
    for _ in 0..total_mib {
        socket.write_all(&chunk)?;
    }
    drop(socket);
    let received = reader
        .join()
        .map_err(|_| anyhow::anyhow!("reader thread panicked"))??;
    let secs = start.elapsed().as_secs_f64();
    anyhow::ensure!(received == total_mib * CHUNK, "loopback lost bytes");
    Ok(received as f64 / 1e6 / secs)
}

/// Median round trip (µs) of a 64-byte ping-pong over one loopback TCP
/// connection (Nagle off): the floor under any produce-to-consume latency.
pub(crate) fn loopback_rtt_us(round_trips: usize) -> anyhow::Result<f64> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let echo = std::thread::spawn(move || -> std::io::Result<()> {
        let (mut socket, _) = listener.accept()?;
        socket.set_nodelay(true)?;
        let mut buf = [0u8; 64];
        loop {
            match socket.read_exact(&mut buf) {
                Ok(()) => socket.write_all(&buf)?,
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(()),
                Err(e) => return Err(e),
            }
        }
    });
    let mut socket = TcpStream::connect(addr)?;
    socket.set_nodelay(true)?;
    let mut buf = [0x33_u8; 64];
    let mut samples = Vec::with_capacity(round_trips);
    for _ in 0..round_trips {
        let start = Instant::now();
        socket.write_all(&buf)?;
        socket.read_exact(&mut buf)?;
        samples.push(start.elapsed().as_secs_f64() * 1e6);
    }
    drop(socket);
    echo.join()
        .map_err(|_| anyhow::anyhow!("echo thread panicked"))??;
    Ok(crate::stats::median(&samples))
}

/// Writes dirty pages back and empties the page cache (needs root), so that
/// the next run starts from the same memory state as the others.
pub(crate) fn drop_page_cache() -> anyhow::Result<()> {
    let synced = std::process::Command::new("sync").status()?;
    anyhow::ensure!(synced.success(), "sync failed: {synced}");
    std::fs::write("/proc/sys/vm/drop_caches", "1").map_err(|e| {
        anyhow::anyhow!("--drop-caches: cannot write /proc/sys/vm/drop_caches (root needed): {e}")
    })
}
