//! Several Karst processes on loopback forming one cluster: every node is
//! broker and controller (combined roles, as a small Kafka cluster in KRaft
//! mode runs), with a client port, a controller port for the Raft metadata
//! quorum and a data directory of its own. W8 runs on it.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::target::{Launch, Target, free_port};

/// The `cluster.id` every node is given.
const CLUSTER_ID: &str = "karst-bench-cluster";

/// A running (or stopped) cluster; node `i` of `nodes` has `node.id` i + 1.
pub(crate) struct Cluster {
    nodes: Vec<Target>,
}

impl Cluster {
    /// `size` nodes of the `karst` binary `bin`, data under `scratch`.
    pub(crate) fn new(bin: &Path, scratch: &Path, size: usize) -> anyhow::Result<Self> {
        let controller_ports = (0..size)
            .map(|_| free_port())
            .collect::<anyhow::Result<Vec<u16>>>()?;
        let voters = controller_ports
            .iter()
            .enumerate()
            .map(|(i, port)| format!("{}@127.0.0.1:{port}", i + 1))
            .collect::<Vec<_>>()
            .join(",");
        let nodes = controller_ports
            .iter()
            .enumerate()
            .map(|(i, controller_port)| {
                let node = Target::new(
                    &format!("karst node {}", i + 1),
                    Launch::Karst(bin.to_owned()),
                    scratch,
                )?;
                let listeners = format!(
                    "listeners=PLAINTEXT://127.0.0.1:{},CONTROLLER://127.0.0.1:{controller_port}",
                    node.port
                );
                Ok(node.with_overrides([
                    format!("node.id={}", i + 1),
                    "process.roles=broker,controller".to_owned(),
                    format!("cluster.id={CLUSTER_ID}"),
                    listeners,
                    "controller.listener.names=CONTROLLER".to_owned(),
                    format!("controller.quorum.voters={voters}"),
                ]))
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        Ok(Self { nodes })
    }

    /// Starts every node, then waits for all: each is ready only once a
    /// quorum of them runs. Returns the time until the last was ready.
    pub(crate) fn start(&mut self) -> anyhow::Result<Duration> {
        let started = Instant::now();
        for node in &mut self.nodes {
            node.spawn()?;
        }
        for node in &mut self.nodes {
            node.wait_ready(started)?;
        }
        Ok(started.elapsed())
    }

    /// Every node's client address, for `bootstrap.servers`.
    pub(crate) fn bootstrap(&self) -> String {
        self.nodes
            .iter()
            .map(Target::bootstrap)
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The process id of node `node_id` while it runs.
    pub(crate) fn pid(&self, node_id: i32) -> Option<u32> {
        let index = usize::try_from(node_id).ok()?.checked_sub(1)?;
        self.nodes.get(index)?.pid()
    }

    /// The node ids, 1 to `len`.
    pub(crate) fn node_ids(&self) -> impl Iterator<Item = i32> + use<> {
        1..=i32::try_from(self.nodes.len()).unwrap_or(i32::MAX)
    }

    /// Stops the nodes one by one with SIGTERM, each of which must exit
    /// cleanly, except the last: it has no quorum left to be fenced by, and
    /// a lone node's controlled shutdown waits 5 s for a controller and
    /// then 10 s for its connections, which would be most of a quick run.
    /// It is killed; the benchmark is done with its data.
    pub(crate) fn stop(&mut self) -> anyhow::Result<()> {
        let Some((last, others)) = self.nodes.split_last_mut() else {
            return Ok(());
        };
        for node in others {
            node.stop()?;
        }
        last.kill9();
        Ok(())
    }
}
