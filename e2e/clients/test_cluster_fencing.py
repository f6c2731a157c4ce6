"""Issue 10 (Cluster I): the broker lifecycle as clients see it. A broker
that dies is fenced after `broker.session.timeout.ms` (3 s here): Metadata
stops listing it, its partitions answer LEADER_NOT_AVAILABLE with leader -1,
new topics are placed on the live brokers only, and the other partitions
keep taking records; when it comes back it registers with a new broker
epoch and leads its partitions again, with every record. A SIGTERM fences a
broker at once; a second process with a live broker's node.id is refused."""

import os
import signal
import subprocess
import threading
import time

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Producer, TopicCollection, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from cluster import FAST_FENCING, Cluster, gauge, broker_epochs
from conftest import wait_until
from test_cluster import java_hash_partition

LEADER_NOT_AVAILABLE = KafkaError.LEADER_NOT_AVAILABLE


def start(tmp_path, **overrides):
    return Cluster(tmp_path, overrides={**FAST_FENCING, **overrides}).start()


@pytest.fixture
def cluster(tmp_path):
    c = start(tmp_path)
    yield c
    for n in c.nodes:
        if n.proc.poll() is None:
            n.stop()


def metadata(node, topic):
    """(broker ids, {partition: (leader, error code or None, replicas)}) as
    `node` answers Metadata, or None if it does not answer in time."""
    admin = AdminClient({"bootstrap.servers": node.bootstrap})
    try:
        md = admin.list_topics(topic, timeout=10)
    except Exception:  # noqa: BLE001 - the caller waits and asks again
        return None
    partitions = {
        p.id: (p.leader, p.error.code() if p.error else None, sorted(p.replicas))
        for p in md.topics[topic].partitions.values()
    }
    return sorted(md.brokers), partitions


def create(node, name, partitions):
    admin = AdminClient({"bootstrap.servers": node.bootstrap})
    admin.create_topics([NewTopic(name, partitions, 1)], request_timeout=30)[name].result(timeout=60)
    wait_until(lambda: (m := metadata(node, name)) and len(m[1]) == partitions,
               what=f"{name} in {node.bootstrap}'s metadata")
    return metadata(node, name)[1]


def not_the_active_controller(cluster):
    active = wait_until(cluster.active_controller, timeout=30, what="an active controller")
    return next(n for n in cluster.nodes if n is not active)


class BackgroundProducer:
    """Produces to `partitions` of `topic` until stopped; every record must be acknowledged."""

    def __init__(self, bootstrap, topic, partitions):
        self.topic, self.partitions = topic, partitions
        self.producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 1})
        self.delivered, self.failed = [], []
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _on_delivery(self, err, msg):
        if err:
            self.failed.append(err)
        else:
            self.delivered.append((msg.partition(), msg.value()))

    def _run(self):
        i = 0
        while not self.stopping.is_set():
            partition = self.partitions[i % len(self.partitions)]
            self.producer.produce(self.topic, value=f"live-{i}".encode(), partition=partition,
                                  on_delivery=self._on_delivery)
            self.producer.poll(0.01)
            i += 1

    def stop(self):
        self.stopping.set()
        self.thread.join(timeout=30)
        assert self.producer.flush(60) == 0
        assert not self.failed, self.failed[:5]
        return self.delivered


def read_all(bootstrap, topic, partitions, expected):
    """Every (partition, value) of `topic`, read from the beginning until
    `expected` records arrived (or a minute passed)."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "fencing-check",
                         "enable.auto.commit": False})
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
    seen = []
    deadline = time.monotonic() + 60
    try:
        while len(seen) < expected and time.monotonic() < deadline:
            msg = consumer.poll(1)
            if msg is not None and not msg.error():
                seen.append((msg.partition(), msg.value()))
    finally:
        consumer.close()
    return seen


def test_a_killed_broker_is_fenced_left_out_of_placement_and_returns_with_its_records(cluster):
    victim = not_the_active_controller(cluster)
    survivors = [n for n in cluster.nodes if n is not victim]
    survivor = survivors[0]
    live_ids = sorted(n.node_id for n in survivors)
    leaders = {p: leader for p, (leader, _, _) in create(survivor, "fenced", 6).items()}
    theirs = sorted(p for p, leader in leaders.items() if leader == victim.node_id)
    ours = sorted(p for p, leader in leaders.items() if leader != victim.node_id)
    assert theirs and ours, leaders

    before = Producer({"bootstrap.servers": cluster.bootstrap})
    written = [(p, f"before-{p}-{i}".encode()) for p in range(6) for i in range(10)]
    for p, value in written:
        before.produce("fenced", value=value, partition=p)
    assert before.flush(30) == 0
    epochs_before = broker_epochs(victim)
    assert len(epochs_before) == 1, epochs_before

    background = BackgroundProducer(",".join(n.bootstrap for n in survivors), "fenced", ours)
    wait_until(lambda: background.delivered, what="the background producer's first record")
    victim.kill9()
    killed_at = time.monotonic()

    def fenced():
        seen = metadata(survivor, "fenced")
        if not seen or seen[0] != live_ids:
            return False
        partitions = seen[1]
        return (all(partitions[p][:2] == (-1, LEADER_NOT_AVAILABLE) for p in theirs)
                and all(partitions[p][:2] == (leaders[p], None) for p in ours))

    # The session timeout is 3 s; the rest is slack for a loaded machine.
    wait_until(fenced, timeout=20, interval=0.2, what="the dead broker to be fenced and its partitions leaderless")
    print(f"kill -9 to fenced in Metadata: {time.monotonic() - killed_at:.1f}s")
    # Gauges are sampled every second.
    wait_until(lambda: gauge(survivor, "karst_fenced_brokers") == 1, what="karst_fenced_brokers 1")
    delivered_while_fenced = len(background.delivered)
    # The active controller sees the dead broker's copy of the metadata log fall behind.
    active = wait_until(cluster.active_controller, timeout=30, what="an active controller")
    victim_lag = f'karst_metadata_replica_lag{{node_id="{victim.node_id}"}}'
    wait_until(lambda: (gauge(active, victim_lag) or 0) >= 1, what=f"{victim_lag} >= 1")
    # DescribeTopicPartitions (confluent-kafka's describe_topics) agrees.
    admin = AdminClient({"bootstrap.servers": survivor.bootstrap})
    described = admin.describe_topics(TopicCollection(["fenced"]), request_timeout=10)["fenced"].result(timeout=30)
    assert sorted(p.id for p in described.partitions if p.leader is None) == theirs
    # librdkafka 2.0 (kcat) reads a Metadata answer with a leaderless partition.
    kcat = subprocess.run(["kcat", "-b", survivor.bootstrap, "-L", "-t", "fenced"],
                          capture_output=True, text=True, timeout=30)
    assert kcat.returncode == 0 and " 2 brokers:" in kcat.stdout, kcat.stdout + kcat.stderr

    # Placement skips the fenced broker.
    placed = create(survivor, "after-kill", 6)
    assert all(replicas and set(replicas) <= set(live_ids) for _, _, replicas in placed.values()), placed

    victim.restart()
    epochs_after = broker_epochs(victim)
    assert len(epochs_after) == 2 and epochs_after[1] > epochs_after[0], epochs_after
    wait_until(lambda: gauge(victim, "karst_broker_epoch") == epochs_after[1],
               what=f"karst_broker_epoch {epochs_after[1]}")

    def back():
        seen = metadata(survivor, "fenced")
        return (seen and seen[0] == sorted(n.node_id for n in cluster.nodes)
                and all(seen[1][p][:2] == (victim.node_id, None) for p in theirs))

    wait_until(back, timeout=30, interval=0.2, what="the returned broker to lead its partitions again")
    wait_until(lambda: gauge(active, victim_lag) == 0, what=f"{victim_lag} back to 0")
    wait_until(lambda: len(background.delivered) > delivered_while_fenced,
               what="records acknowledged after the broker returned")
    written += background.stop()
    read = read_all(survivor.bootstrap, "fenced", range(6), len(written))
    assert sorted(read) == sorted(written)


def test_sigterm_fences_a_broker_at_once(tmp_path):
    # A minute of session: only the shutdown heartbeat can fence it in time.
    c = start(tmp_path, **{"broker.session.timeout.ms": "60000"})
    try:
        victim = not_the_active_controller(c)
        survivor = next(n for n in c.nodes if n is not victim)
        leaders = create(survivor, "drained", 6)
        theirs = [p for p, (leader, _, _) in leaders.items() if leader == victim.node_id]
        assert theirs, leaders
        stopped_at = time.monotonic()
        victim.stop()

        def leaderless():
            seen = metadata(survivor, "drained")
            return (seen and victim.node_id not in seen[0]
                    and all(seen[1][p][:2] == (-1, LEADER_NOT_AVAILABLE) for p in theirs))

        wait_until(leaderless, timeout=20, interval=0.1, what="the stopped broker's partitions to be leaderless")
        print(f"SIGTERM to leaderless in Metadata: {time.monotonic() - stopped_at:.1f}s (session 60 s)")
        assert "fenced for shutdown" in victim.log_path.read_text()
        # Every node's image marks it as fenced by its own controlled shutdown.
        wait_until(lambda: gauge(survivor, "karst_brokers_in_controlled_shutdown") == 1,
                   what="karst_brokers_in_controlled_shutdown 1")
        admin = AdminClient({"bootstrap.servers": survivor.bootstrap})
        described = admin.describe_cluster(request_timeout=10).result(timeout=30)
        assert victim.node_id not in {n.id for n in described.nodes}
    finally:
        for n in c.nodes:
            if n.proc.poll() is None:
                n.stop()


def test_a_second_process_with_a_live_node_id_is_refused_and_disturbs_nothing(tmp_path):
    # A voter and a broker-only node: a second process may claim either id.
    c = Cluster(tmp_path, controllers=1, brokers=1, overrides=FAST_FENCING).start()
    voter, target = c.nodes
    try:
        leaders = create(voter, "undisturbed", 2)
        assert sorted(leader for leader, _, _ in leaders.values()) == [1, 2]

        # A broker-only process may not take a voter's id: refused at once.
        impostor = c.impostor(voter.node_id)
        impostor.launch()
        assert impostor.proc.wait(timeout=30) != 0
        assert "node.id 1 is in controller.quorum.voters" in impostor.log_path.read_text()

        # A live broker's id: DUPLICATE_BROKER_REGISTRATION, retried for two
        # session timeouts (the old process might be dying), then it gives up.
        impostor = c.impostor(target.node_id)
        impostor.launch()
        code = impostor.proc.wait(timeout=60)
        log = impostor.log_path.read_text()
        assert code != 0, log[-2000:]
        assert f"node id {target.node_id} is registered by another live process" in log, log[-2000:]

        assert all(n.proc.poll() is None for n in c.nodes)
        assert len(broker_epochs(target)) == 1, "the live broker did not register again"
        assert metadata(voter, "undisturbed")[1] == leaders
        admin = AdminClient({"bootstrap.servers": voter.bootstrap})
        assert admin.list_topics(timeout=10).brokers[target.node_id].port == target.port
        wait_until(lambda: gauge(voter, "karst_fenced_brokers") == 0, what="no fenced broker")
        producer = Producer({"bootstrap.servers": target.bootstrap})
        for p in range(2):
            producer.produce("undisturbed", value=b"still here", partition=p)
        assert producer.flush(30) == 0
    finally:
        for n in c.nodes:
            if n.proc.poll() is None:
                n.stop()


def test_a_fenced_group_coordinator_hands_its_groups_and_offsets_to_another_broker(cluster):
    """A coordinator that stops (SIGSTOP) past its session is fenced: its
    offsets partition (replicated) gets another leader, which loads the
    group's committed offsets from its replica and coordinates the group;
    the old coordinator drops the group when it comes back."""
    coordinator = not_the_active_controller(cluster)
    other = next(n for n in cluster.nodes if n is not coordinator)
    create(other, "tracked", 3)
    producer = Producer({"bootstrap.servers": cluster.bootstrap})
    for i in range(300):
        producer.produce("tracked", value=str(i).encode(), partition=i % 3)
    assert producer.flush(30) == 0
    # __consumer_offsets exists once a group has looked for its coordinator.
    probe = Consumer({"bootstrap.servers": other.bootstrap, "group.id": "probe"})
    probe.committed([TopicPartition("tracked", 0)], timeout=30)
    probe.close()
    offsets = metadata(other, "__consumer_offsets")[1]
    group = next(g for g in (f"tracked-{i}" for i in range(1000))
                 if offsets[java_hash_partition(g, len(offsets))][0] == coordinator.node_id)
    offsets_partition = java_hash_partition(group, len(offsets))

    consumer = Consumer({"bootstrap.servers": other.bootstrap, "group.id": group,
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})
    consumer.subscribe(["tracked"])
    read = 0
    deadline = time.monotonic() + 60
    while read < 300 and time.monotonic() < deadline:
        msg = consumer.poll(1)
        if msg is not None and not msg.error():
            read += 1
    assert read == 300
    consumer.commit(asynchronous=False)
    consumer.close()

    def leader_seen_by(node):
        seen = metadata(node, "__consumer_offsets")
        return seen and seen[1][offsets_partition][0]

    os.kill(coordinator.proc.pid, signal.SIGSTOP)
    try:
        # __consumer_offsets is replicated (offsets.topic.replication.factor
        # 3): another in-sync replica leads the partition and coordinates
        # the group, with its committed offsets.
        wait_until(lambda: leader_seen_by(other) not in (-1, coordinator.node_id, None), timeout=20, interval=0.2,
                   what="another broker to lead the stopped coordinator's offsets partition")
        # The client is sent to the new leader by whichever broker it asks:
        # wait until both live brokers' images name the same one (the new
        # leader's own image then says it coordinates the group).
        live = [n for n in cluster.nodes if n is not coordinator]

        def live_brokers_agree_on_a_new_leader():
            seen = {leader_seen_by(n) for n in live}
            return len(seen) == 1 and seen.isdisjoint({-1, coordinator.node_id, None})

        wait_until(live_brokers_agree_on_a_new_leader, timeout=20, interval=0.2,
                   what="both live brokers to see the offsets partition's new leader")
        reader = Consumer({"bootstrap.servers": other.bootstrap, "group.id": group})
        try:
            committed = reader.committed([TopicPartition("tracked", p) for p in range(3)], timeout=30)
        finally:
            reader.close()
        assert [tp.offset for tp in committed] == [100, 100, 100]
    finally:
        os.kill(coordinator.proc.pid, signal.SIGCONT)
    assert len(broker_epochs(coordinator)) == 1, "fenced and back, not registered again"

    # The old coordinator learns that it lost the partition when its
    # metadata catches up, and drops the group (until then it answers from
    # what it had, as any lagging leader does).
    def unloaded():
        return f"its groups were unloaded partition={offsets_partition} " in coordinator.log_path.read_text()

    wait_until(unloaded, timeout=30, interval=0.2, what="the old coordinator to drop the group")

    reader = Consumer({"bootstrap.servers": other.bootstrap, "group.id": group})
    try:
        committed = reader.committed([TopicPartition("tracked", p) for p in range(3)], timeout=30)
    finally:
        reader.close()
    assert [tp.offset for tp in committed] == [100, 100, 100]
