//! A broker under test: Karst started from its binary, or a peer started by
//! a command line; each on free loopback ports with a fresh data directory.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How to start a broker.
#[derive(Debug, Clone)]
pub(crate) enum Launch {
    /// The `karst` binary; readiness from its /readyz.
    Karst(PathBuf),
    /// A shell command with `{port}` in it; readiness when the port accepts.
    Command(String),
}

pub(crate) struct Target {
    pub(crate) name: String,
    launch: Launch,
    pub(crate) port: u16,
    http_port: u16,
    pub(crate) data: tempfile::TempDir,
    /// Karst `key=value` settings passed after the defaults (the later
    /// `--override` wins), e.g. a cluster node's identity and listeners.
    overrides: Vec<String>,
    child: Option<Child>,
}

pub(crate) fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

impl Target {
    pub(crate) fn new(name: &str, launch: Launch, scratch: &Path) -> anyhow::Result<Self> {
        Ok(Self {
            name: name.to_owned(),
            launch,
            port: free_port()?,
            http_port: free_port()?,
            data: tempfile::tempdir_in(scratch)?,
            overrides: Vec::new(),
            child: None,
        })
    }

    /// Adds Karst settings to the command line (see `overrides`).
    pub(crate) fn with_overrides(mut self, overrides: impl IntoIterator<Item = String>) -> Self {
        self.overrides.extend(overrides);
        self
    }

    pub(crate) fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Starts the broker and returns the time until it is ready.
    pub(crate) fn start(&mut self) -> anyhow::Result<Duration> {
        let started = Instant::now();
        self.spawn()?;
        self.wait_ready(started)?;
        Ok(started.elapsed())
    }

    /// Starts the broker process without waiting for it: the nodes of a
    /// cluster start together, since each waits for a quorum to be ready.
    pub(crate) fn spawn(&mut self) -> anyhow::Result<()> {
        let child = match &self.launch {
            Launch::Karst(bin) => Command::new(bin)
                .args([
                    "--override",
                    &format!("listeners=PLAINTEXT://127.0.0.1:{}", self.port),
                ])
                .args([
                    "--override",
                    &format!("log.dirs={}", self.data.path().display()),
                ])
                .args([
                    "--override",
                    &format!("karst.http.listener=127.0.0.1:{}", self.http_port),
                ])
                .args(["--override", "num.partitions=8"])
                .args(
                    self.overrides
                        .iter()
                        .flat_map(|o| ["--override", o.as_str()]),
                )
                .env("KARST_LOG", "warn")
                .stdout(Stdio::null())
                .spawn()?,
            Launch::Command(cmd) => Command::new("sh")
                // `exec`: the peer itself gets the child's PID, so that its
                // memory is measured and signals reach it.
                .args([
                    "-c",
                    &format!("exec {}", cmd.replace("{port}", &self.port.to_string())),
                ])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()?,
        };
        self.child = Some(child);
        Ok(())
    }

    /// Waits until the spawned broker is ready, at most 120 s after `started`.
    pub(crate) fn wait_ready(&mut self, started: Instant) -> anyhow::Result<()> {
        let deadline = started + Duration::from_secs(120);
        while !self.ready() {
            anyhow::ensure!(
                Instant::now() < deadline,
                "{} did not become ready",
                self.name
            );
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                anyhow::bail!("{} exited during start-up: {status}", self.name);
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        Ok(())
    }

    fn ready(&self) -> bool {
        match &self.launch {
            Launch::Karst(_) => http_get_ok(self.http_port, "/readyz"),
            Launch::Command(_) => TcpStream::connect(("127.0.0.1", self.port)).is_ok(),
        }
    }

    /// The broker's process id while it runs (a peer's own, by `exec`).
    pub(crate) fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Resident memory of the broker process, in MB.
    pub(crate) fn rss_mb(&self) -> Option<f64> {
        let pid = self.pid()?;
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        let kb: f64 = status
            .lines()
            .find(|l| l.starts_with("VmRSS:"))?
            .split_whitespace()
            .nth(1)?
            .parse()
            .ok()?;
        Some(kb / 1024.0)
    }

    /// Bytes in the broker's data directory (its log, for W7).
    pub(crate) fn data_bytes(&self) -> u64 {
        fn walk(dir: &Path) -> u64 {
            let Ok(entries) = std::fs::read_dir(dir) else {
                return 0;
            };
            entries
                .flatten()
                .map(|e| match e.metadata() {
                    Ok(m) if m.is_dir() => walk(&e.path()),
                    Ok(m) => m.len(),
                    Err(_) => 0,
                })
                .sum()
        }
        walk(self.data.path())
    }

    /// Whether a broker is running under this target.
    pub(crate) fn is_karst(&self) -> bool {
        matches!(self.launch, Launch::Karst(_))
    }

    pub(crate) fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM and wait; Karst must then exit 0 (a clean shutdown).
    pub(crate) fn stop(&mut self) -> anyhow::Result<()> {
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Some(status) = child.try_wait()? {
                anyhow::ensure!(
                    status.success() || !self.is_karst(),
                    "{} exited with {status} on SIGTERM",
                    self.name
                );
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = child.kill();
        let _ = child.wait();
        anyhow::ensure!(
            !self.is_karst(),
            "{} did not exit within 30 s of SIGTERM",
            self.name
        );
        Ok(())
    }
}

impl Drop for Target {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// A bare HTTP/1.0 GET; true on a 200 answer.
fn http_get_ok(port: u16, path: &str) -> bool {
    use std::io::{Read, Write};
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(1)));
    if s.write_all(format!("GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").as_bytes())
        .is_err()
    {
        return false;
    }
    let mut buf = [0u8; 32];
    let n = s.read(&mut buf).unwrap_or(0);
    std::str::from_utf8(&buf[..n]).is_ok_and(|l| l.contains(" 200 "))
}
