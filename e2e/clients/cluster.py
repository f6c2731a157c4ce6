"""Several `karst` processes on loopback forming one cluster over the Raft
metadata quorum: each node gets a client port, a controller port and its
own data directory; they are started together, since each waits for a
quorum before it is ready."""

import re
import urllib.request

from conftest import Broker, free_port

CLUSTER_ID = "karst-e2e-cluster"


class Cluster:
    def __init__(self, base_dir, controllers=3, brokers=0, combined=True):
        """`controllers` voters (combined broker + controller roles when
        `combined`, else controller-only), plus `brokers` broker-only nodes."""
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
        return self

    def active_controller(self):
        """The node whose karst_active_controller gauge is 1, if exactly one."""
        active = [n for n in self.nodes if n.proc.poll() is None and _gauge(n, "karst_active_controller") == 1]
        return active[0] if len(active) == 1 else None

    def stop(self):
        for n in self.nodes:
            n.stop()


def _gauge(node, name):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{node.http_port}/metrics", timeout=2) as r:
            text = r.read().decode()
    except OSError:
        return None
    match = re.search(rf"^{name} (\S+)$", text, re.M)
    return float(match.group(1)) if match else None
