"""Several `karst` processes on loopback forming one cluster over the Raft
metadata quorum: each node gets a client port, a controller port and its
own data directory; they are started together, since each waits for a
quorum before it is ready."""

import re
import urllib.request

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

from conftest import Broker, free_port, wait_until

CLUSTER_ID = "karst-e2e-cluster"


# Broker sessions short enough for fencing tests to stay short.
FAST_FENCING = {"broker.session.timeout.ms": "3000", "broker.heartbeat.interval.ms": "500"}


class Cluster:
    def __init__(self, base_dir, controllers=3, brokers=0, combined=True, overrides=None):
        """`controllers` voters (combined broker + controller roles when
        `combined`, else controller-only), plus `brokers` broker-only nodes;
        `overrides` are set on every node."""
        self.base_dir = base_dir
        self.nodes = []
        specs = [("broker,controller" if combined else "controller") for _ in range(controllers)]
        specs += ["broker"] * brokers
        for node_id, roles in enumerate(specs, start=1):
            node = Broker(base_dir / f"node-{node_id}")
            node.node_id = node_id
            node.roles = roles
            node.controller_port = free_port()
            self.nodes.append(node)
        voters = ",".join(
            f"{n.node_id}@127.0.0.1:{n.controller_port}" for n in self.nodes if "controller" in n.roles
        )
        for n in self.nodes:
            n.overrides.update({
                "node.id": str(n.node_id),
                "process.roles": n.roles,
                "cluster.id": CLUSTER_ID,
                "listeners": f"PLAINTEXT://127.0.0.1:{n.port},CONTROLLER://127.0.0.1:{n.controller_port}",
                "controller.listener.names": "CONTROLLER",
                "controller.quorum.voters": voters,
                **(overrides or {}),
            })

    @property
    def brokers(self):
        """The nodes that serve clients' partitions."""
        return [n for n in self.nodes if "broker" in n.roles]

    @property
    def bootstrap(self) -> str:
        return ",".join(b.bootstrap for b in self.brokers)

    def start(self):
        for n in self.nodes:
            n.launch()
        for n in self.nodes:
            n.wait_ready()
        self.wait_all_live()
        return self

    def wait_all_live(self):
        """Waits until Metadata from every broker lists every broker: a
        broker registers fenced and is unfenced by a heartbeat once it has
        caught up, and only live brokers are listed (or placed on)."""
        ids = sorted(n.node_id for n in self.brokers)
        for n in self.brokers:
            wait_until(lambda n=n: live_brokers(n) == ids, timeout=30,
                       what=f"{n.bootstrap} to list brokers {ids}")

    def active_controller(self):
        """The node whose karst_active_controller gauge is 1, if exactly one."""
        active = [n for n in self.nodes if n.proc.poll() is None and gauge(n, "karst_active_controller") == 1]
        return active[0] if len(active) == 1 else None

    def impostor(self, node_id):
        """A broker-only process claiming the `node_id` of a cluster node,
        with its own ports and data directory (not started)."""
        node = Broker(self.base_dir / f"impostor-{node_id}")
        node.controller_port = free_port()
        node.overrides.update(self.nodes[0].overrides)
        node.overrides.update({
            "node.id": str(node_id),
            "process.roles": "broker",
            "listeners": f"PLAINTEXT://127.0.0.1:{node.port},CONTROLLER://127.0.0.1:{node.controller_port}",
        })
        return node

    def stop(self):
        for n in self.nodes:
            n.stop()


def live_brokers(node):
    """The broker ids `node`'s Metadata lists (None if it does not answer)."""
    try:
        return sorted(AdminClient({"bootstrap.servers": node.bootstrap}).list_topics(timeout=5).brokers)
    except KafkaException:
        return None


def broker_epochs(node):
    """The broker epochs `node` has registered with, in order, from its log
    (a restarted broker registers again with a new epoch)."""
    return [int(e) for e in re.findall(r"registered with the controller.*?broker_epoch=(\d+)", node.log_path.read_text())]


def gauge(node, name):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{node.http_port}/metrics", timeout=2) as r:
            text = r.read().decode()
    except OSError:
        return None
    match = re.search(rf"^{re.escape(name)} (\S+)$", text, re.M)
    return float(match.group(1)) if match else None
