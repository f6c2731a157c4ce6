//! A client load beside an operator action: `e2e/clients/load.py` (an
//! idempotent acks=all confluent-kafka producer and a consumer group) run
//! from the test suite's Python venv, and its verdict read back.
//!
//! The venv is `e2e/clients/.venv` (made by `e2e/test-all.sh`); a test that
//! needs it fails with a message saying so when it is missing.

use std::{
    path::{Path, PathBuf},
    process::Stdio,
    time::Duration,
};

use tokio::{
    io::{AsyncBufReadExt, BufReader},
    process::{Child, Command},
};

/// What load.py found when it stopped: see its module documentation.
#[derive(Debug, serde::Deserialize)]
pub struct Verdict {
    pub sent: u64,
    pub acked: u64,
    pub failed: u64,
    pub errors: Vec<String>,
    pub retriable_errors: u64,
    pub missing: u64,
    pub duplicates: u64,
    pub out_of_order: u64,
    pub log_complete: bool,
    pub group_missing: u64,
    pub group_redelivered: u64,
}

impl Verdict {
    /// Panics unless every send succeeded and every acknowledged record is
    /// in the log exactly once, in order, and reached the consumer group.
    pub fn assert_nothing_lost(&self) {
        assert!(self.acked > 0, "the load acknowledged nothing: {self:?}");
        assert_eq!(self.failed, 0, "failed sends: {self:?}");
        assert!(
            self.log_complete,
            "the final read did not reach every high watermark: {self:?}"
        );
        assert_eq!(
            self.missing, 0,
            "acknowledged records missing from the log: {self:?}"
        );
        assert_eq!(self.duplicates, 0, "records in the log twice: {self:?}");
        assert_eq!(
            self.out_of_order, 0,
            "records out of order in a partition: {self:?}"
        );
        assert_eq!(
            self.group_missing, 0,
            "records the group never delivered: {self:?}"
        );
    }
}

/// A running load.py.
pub struct Load {
    child: Child,
    out: PathBuf,
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

impl Load {
    /// Starts producing to `topic` (which must exist) at `rate` records/s
    /// through `bootstrap`, and returns once the first record is
    /// acknowledged. Its log goes to `<work_dir>/load-<topic>.log`.
    pub async fn start(bootstrap: &str, topic: &str, rate: u32, work_dir: &Path) -> Self {
        let root = repo_root();
        let python = root.join("e2e/clients/.venv/bin/python");
        assert!(
            python.exists(),
            "{} is missing: run e2e/test-all.sh once (its client dependencies step makes the venv)",
            python.display()
        );
        let out = work_dir.join(format!("load-{topic}.json"));
        let log = std::fs::File::create(work_dir.join(format!("load-{topic}.log"))).unwrap();
        let mut child = Command::new(python)
            .arg(root.join("e2e/clients/load.py"))
            .args(["--bootstrap", bootstrap, "--topic", topic, "--rate"])
            .arg(rate.to_string())
            .arg("--out")
            .arg(&out)
            .stdout(Stdio::piped())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .expect("start load.py");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let ready = tokio::time::timeout(Duration::from_secs(60), lines.next_line()).await;
        assert!(
            matches!(ready, Ok(Ok(Some(ref l))) if l == "ready"),
            "load.py did not acknowledge a first record within 60 s: {ready:?}"
        );
        Self { child, out }
    }

    /// Stops producing, lets the group catch up, and returns the verdict.
    pub async fn stop(mut self) -> Verdict {
        let pid = self.child.id().expect("load.py running") as i32;
        // SIGTERM: load.py flushes, drains and writes its verdict.
        let status = Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .await
            .unwrap();
        assert!(status.success());
        let exit = tokio::time::timeout(Duration::from_secs(300), self.child.wait())
            .await
            .expect("load.py finishes within 5 minutes of SIGTERM")
            .unwrap();
        assert!(exit.success(), "load.py failed: {exit}");
        serde_json::from_slice(&std::fs::read(&self.out).unwrap()).expect("load.py verdict")
    }
}
