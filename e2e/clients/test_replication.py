"""Issue 11 (Cluster II): partitions replicated over three brokers. A
confluent-kafka idempotent acks=all producer keeps every acknowledged
record through a kill -9 of a partition leader; followers hold the same
log as the leader; min.insync.replicas is enforced."""

import signal
import statistics
import struct
import threading
import time

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from cluster import Cluster, gauge
from conftest import wait_until

FAST = {
    # Short sessions and lag limits keep failover tests quick.
    "broker.session.timeout.ms": "3000",
    "broker.heartbeat.interval.ms": "500",
    "replica.lag.time.max.ms": "4000",
}


@pytest.fixture
def cluster(tmp_path):
    c = Cluster(tmp_path)
    for n in c.nodes:
        n.overrides.update(FAST)
    c.start()
    yield c
    for n in c.nodes:
        if n.proc.poll() is None:
            n.stop()


def create(bootstrap, name, partitions, rf, config=None):
    admin = AdminClient({"bootstrap.servers": bootstrap})
    futures = admin.create_topics([NewTopic(name, partitions, rf, config=config or {})], request_timeout=30)
    futures[name].result(timeout=60)
    return admin


def partition_state(admin, topic):
    meta = admin.list_topics(topic, timeout=10).topics[topic]
    return {p.id: (p.leader, sorted(p.replicas), sorted(p.isrs)) for p in meta.partitions.values()}


def consume_all(bootstrap, topic, expected, group):
    consumer = Consumer({
        "bootstrap.servers": bootstrap,
        "group.id": group,
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
    })
    consumer.subscribe([topic])
    seen = []
    deadline = time.monotonic() + 90
    while len(seen) < expected and time.monotonic() < deadline:
        msg = consumer.poll(0.5)
        if msg is None or msg.error():
            continue
        seen.append(msg.value().decode())
    consumer.close()
    return seen


def replica_batches(node, topic, partition, below):
    """(base offset, leader epoch, crc) of every batch below `below` in a
    replica's segment files, read straight from disk."""
    batches = []
    for segment in sorted((node.data_dir / f"{topic}-{partition}").glob("*.log")):
        data = segment.read_bytes()
        pos = 0
        while pos + 61 <= len(data):
            base, length, epoch, _magic, crc = struct.unpack(">qiibI", data[pos:pos + 21])
            if length <= 0 or base >= below:
                break
            batches.append((base, epoch, crc))
            pos += 12 + length
    return batches


def high_watermarks(bootstrap, topic, partitions):
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "hw-probe"})
    try:
        return [consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in range(partitions)]
    finally:
        consumer.close()


def wait_full_isr(admin, topic, rf=3, timeout=60):
    wait_until(lambda: all(len(isr) == rf and leader != -1
                           for leader, _, isr in partition_state(admin, topic).values()),
               timeout=timeout, what=f"every replica of {topic} in sync")


def wait_converged(nodes, topic, rf=3, timeout=60):
    """Every broker's own Metadata shows every replica in sync and the same
    leaders: a broker that was stopped serves its old view until it has
    caught up with the metadata log, so one broker's answer is not enough."""
    admins = [AdminClient({"bootstrap.servers": n.bootstrap}) for n in nodes]

    def converged():
        states = [partition_state(a, topic) for a in admins]
        return all(s == states[0] for s in states) and all(
            len(isr) == rf and leader != -1 for leader, _, isr in states[0].values())

    wait_until(converged, timeout=timeout, what=f"every broker to see {topic} fully in sync")
    return partition_state(admins[0], topic)


def test_ten_leader_kills_lose_no_acknowledged_record_and_replicas_stay_equal(cluster):
    """An idempotent acks=all producer writes a keyed stream to a 6-partition
    RF=3 topic (min.insync.replicas=2) while the leader of partition 0 is
    killed and restarted ten times. Every acknowledged record is there exactly
    once, in order per key; every replica holds the same batches below the
    high watermark."""
    topic, partitions = "durable", 6
    admin = create(cluster.bootstrap, topic, partitions, 3, {"min.insync.replicas": "2"})
    wait_full_isr(admin, topic)
    acked, failed = [], []
    stop = threading.Event()

    def report(err, msg):
        if err:
            failed.append(err)
        else:
            acked.append((msg.partition(), msg.offset(), msg.key().decode(), msg.value().decode()))

    def produce():
        producer = Producer({
            "bootstrap.servers": cluster.bootstrap,
            "acks": "all",
            "enable.idempotence": True,
            "linger.ms": 5,
            "message.timeout.ms": 120000,
        })
        i = 0
        while not stop.is_set():
            try:
                producer.produce(topic, key=f"k{i % 50}".encode(), value=f"{i}".encode(), on_delivery=report)
                i += 1
            except BufferError:
                pass
            producer.poll(0.001 if i % 20 else 0.01)
        assert producer.flush(180) == 0

    writer = threading.Thread(target=produce)
    writer.start()
    failovers = []
    try:
        for _ in range(10):
            leader = partition_state(admin, topic)[0][0]
            victim = next(n for n in cluster.nodes if n.node_id == leader)
            victim.kill9()
            killed_at = time.monotonic()
            other = next(n for n in cluster.nodes if n is not victim)
            survivors_admin = AdminClient({"bootstrap.servers": other.bootstrap})
            wait_until(lambda: partition_state(survivors_admin, topic)[0][0] not in (-1, leader),
                       timeout=30, interval=0.05, what="a new leader for partition 0")
            failovers.append(time.monotonic() - killed_at)
            victim.restart()
            wait_full_isr(survivors_admin, topic)
    finally:
        stop.set()
        writer.join(240)
    print(f"kill -9 of the leader -> new leader (broker.session.timeout.ms=3000): "
          f"median {statistics.median(failovers):.2f}s of {len(failovers)}, {[round(f, 2) for f in failovers]}; "
          f"{len(acked)} records acknowledged")
    assert failed == [], failed[:5]
    assert len(acked) > 1000, f"only {len(acked)} records acknowledged"

    seen = consume_all(cluster.bootstrap, topic, len(acked), "after-kills")
    assert len(seen) == len(acked), f"{len(seen)} read, {len(acked)} acknowledged"
    assert sorted(seen) == sorted(v for _, _, _, v in acked)
    # Per key, values come back in the order they were sent.
    by_key = {}
    for _, _, key, value in sorted(acked, key=lambda r: (r[0], r[1])):
        by_key.setdefault(key, []).append(int(value))
    assert all(values == sorted(values) for values in by_key.values())

    wait_converged(cluster.nodes, topic)
    hws = high_watermarks(cluster.bootstrap, topic, partitions)
    for p, hw in enumerate(hws):
        logs = [replica_batches(n, topic, p, hw) for n in cluster.nodes]
        assert logs[0], f"partition {p} has batches"
        assert logs[0] == logs[1] == logs[2], f"partition {p}: replicas differ below the high watermark {hw}"


def send(bootstrap, topic, values, acks):
    producer = Producer({"bootstrap.servers": bootstrap, "acks": acks, "enable.idempotence": False,
                         "message.timeout.ms": 30000})
    errors = []
    for v in values:
        producer.produce(topic, value=v.encode(), on_delivery=lambda err, msg: err and errors.append(err))
    assert producer.flush(60) == 0
    assert errors == [], errors


@pytest.fixture
def patient_cluster(tmp_path):
    """FAST sessions, but followers stay in the ISR for 30 s without
    fetching: the pauses of the divergence test must not shrink the ISR."""
    c = Cluster(tmp_path, overrides={**FAST, "replica.lag.time.max.ms": "30000"})
    c.start()
    yield c
    for n in c.nodes:
        if n.proc.poll() is None:
            n.stop()


def wait_fetches_quiet(node, quiet=1.5):
    """Waits until `node` has completed no Fetch request for `quiet` seconds."""
    def fetches():
        return gauge(node, 'karst_requests_total{api="Fetch"}')
    last, since = fetches(), time.monotonic()
    assert last is not None, "the leader's /metrics counts Fetch requests"
    deadline = since + 30
    while time.monotonic() - since < quiet:
        assert time.monotonic() < deadline, "the leader kept answering fetches for 30 s"
        time.sleep(0.25)
        now = fetches()
        if now != last:
            last, since = now, time.monotonic()


def test_an_isolated_leader_truncates_its_divergent_tail_when_it_returns(patient_cluster):
    """The leader takes acks=1 writes its followers never see (they are
    stopped); then it is stopped itself and a follower is elected and takes
    other writes. When the old leader returns it truncates the tail of the
    old epoch (KIP-101) and every replica ends equal."""
    admin = create(patient_cluster.bootstrap, "diverge", 1, 3, {"min.insync.replicas": "1"})
    wait_full_isr(admin, "diverge")
    send(patient_cluster.bootstrap, "diverge", [f"a{i}" for i in range(100)], "all")
    leader_id = partition_state(admin, "diverge")[0][0]
    leader = next(n for n in patient_cluster.nodes if n.node_id == leader_id)
    followers = [n for n in patient_cluster.nodes if n is not leader]
    stopped = []
    try:
        for f in followers:
            f.proc.send_signal(signal.SIGSTOP)
            stopped.append(f)
        # The followers' fetches already at the leader are answered within
        # their 500 ms long poll (into socket buffers the stopped processes
        # read later); only records appended after the last of them stay on
        # the leader. Under load a fetch can be handled late, so wait until
        # the leader has answered no Fetch for longer than a long poll.
        wait_fetches_quiet(leader)
        send(leader.bootstrap, "diverge", [f"lost{i}" for i in range(50)], "1")
        leader.proc.send_signal(signal.SIGSTOP)
        stopped.append(leader)
        for f in followers:
            f.proc.send_signal(signal.SIGCONT)
            stopped.remove(f)
        others = AdminClient({"bootstrap.servers": ",".join(f.bootstrap for f in followers)})
        wait_until(lambda: partition_state(others, "diverge")[0][0] in [f.node_id for f in followers],
                   timeout=60, what="a follower elected while the old leader is stopped")
        send(",".join(f.bootstrap for f in followers), "diverge", [f"b{i}" for i in range(30)], "all")
    finally:
        for n in stopped:
            n.proc.send_signal(signal.SIGCONT)
    state = wait_converged(patient_cluster.nodes, "diverge")
    leader = next(n for n in patient_cluster.nodes if n.node_id == state[0][0])
    wait_until(lambda: all(replica_batches(n, "diverge", 0, 1 << 62) == replica_batches(leader, "diverge", 0, 1 << 62)
                           for n in patient_cluster.nodes), what="every replica to hold the leader's batches")
    hw = high_watermarks(leader.bootstrap, "diverge", 1)[0]
    assert hw == 130, f"high watermark {hw}: 100 + 30 committed, the 50 acks=1 records of the old epoch gone"
    logs = [replica_batches(n, "diverge", 0, 1 << 62) for n in patient_cluster.nodes]
    assert logs[0] == logs[1] == logs[2], "the old leader kept a divergent tail"
    seen = consume_all(patient_cluster.bootstrap, "diverge", 130, "diverge-reader")
    assert sorted(seen) == sorted([f"a{i}" for i in range(100)] + [f"b{i}" for i in range(30)])


def test_acks_all_needs_min_insync_replicas_and_acks_1_does_not(tmp_path):
    """One controller-only node and three brokers. With two brokers down,
    acks=all to an RF=3 topic with min.insync.replicas=2 is refused with
    NOT_ENOUGH_REPLICAS and nothing is appended; acks=1 still works; one
    broker back restores acks=all."""
    c = Cluster(tmp_path, controllers=1, brokers=3, combined=False)
    for n in c.nodes:
        n.overrides.update(FAST)
    c.start()
    try:
        admin = create(c.bootstrap, "guarded", 1, 3, {"min.insync.replicas": "2"})
        wait_full_isr(admin, "guarded")
        leader_id = partition_state(admin, "guarded")[0][0]
        leader = next(n for n in c.brokers if n.node_id == leader_id)
        down = [n for n in c.brokers if n is not leader]
        for n in down:
            n.kill9()
        # Asked of the leader alone: an admin client that knew the killed
        # brokers may queue its Metadata request on one of them and time out.
        survivor = AdminClient({"bootstrap.servers": leader.bootstrap})
        wait_until(lambda: partition_state(survivor, "guarded")[0][2] == [leader_id], timeout=30,
                   what="the ISR shrinks to the leader")
        before = high_watermarks(leader.bootstrap, "guarded", 1)[0]
        producer = Producer({"bootstrap.servers": leader.bootstrap, "acks": "all", "retries": 0,
                             "enable.idempotence": False, "message.timeout.ms": 10000})
        errors = []
        producer.produce("guarded", value=b"refused", on_delivery=lambda err, msg: errors.append(err))
        producer.flush(30)
        assert errors and errors[0] is not None and errors[0].name() == "NOT_ENOUGH_REPLICAS", errors
        assert high_watermarks(leader.bootstrap, "guarded", 1)[0] == before, "nothing appended"
        send(leader.bootstrap, "guarded", ["one-copy"], "1")
        down[0].restart()
        wait_until(lambda: len(partition_state(survivor, "guarded")[0][2]) == 2, timeout=60,
                   what="a returning broker rejoins the ISR")
        send(leader.bootstrap, "guarded", ["two-copies"], "all")
    finally:
        for n in c.nodes:
            if n.proc.poll() is None:
                n.stop()


def test_sigterm_moves_leadership_first_so_acks_all_producers_see_no_failure(cluster):
    """Controlled shutdown: a SIGTERM'd leader is fenced before it stops, so
    its partitions move to in-sync replicas at once; an idempotent acks=all
    producer sees only retriable errors (none fail) while each broker in turn
    restarts."""
    topic = "rolling"
    admin = create(cluster.bootstrap, topic, 3, 3, {"min.insync.replicas": "2"})
    wait_full_isr(admin, topic)
    acked, failed = [], []
    stop = threading.Event()

    def produce():
        producer = Producer({"bootstrap.servers": cluster.bootstrap, "acks": "all",
                             "enable.idempotence": True, "linger.ms": 5, "message.timeout.ms": 120000})
        i = 0
        while not stop.is_set():
            try:
                producer.produce(topic, value=f"{i}".encode(),
                                 on_delivery=lambda err, msg: (failed if err else acked).append(err or msg.value()))
                i += 1
            except BufferError:
                pass
            producer.poll(0.002)
        assert producer.flush(120) == 0

    writer = threading.Thread(target=produce)
    writer.start()
    shutdowns = []
    try:
        for node in cluster.nodes:
            led = [p for p, (leader, _, _) in partition_state(admin, topic).items() if leader == node.node_id]
            stopping = time.monotonic()
            node.stop()
            shutdowns.append(time.monotonic() - stopping)
            other = AdminClient({"bootstrap.servers": next(n for n in cluster.nodes if n is not node).bootstrap})
            # Leadership has moved by the time the process is gone: no wait
            # for the session timeout.
            state = partition_state(other, topic)
            assert all(state[p][0] not in (-1, node.node_id) for p in led), state
            node.restart()
            wait_full_isr(other, topic)
            admin = other
    finally:
        stop.set()
        writer.join(180)
    print(f"SIGTERM to exit under acks=all load, per broker: {[round(t, 2) for t in shutdowns]} s; "
          f"{len(acked)} records acknowledged")
    assert failed == [], failed[:5]
    seen = consume_all(cluster.bootstrap, topic, len(acked), "after-roll")
    assert sorted(seen) == sorted(v.decode() for v in acked)
