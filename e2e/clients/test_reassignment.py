"""Issue 12 (Cluster III): partition reassignment and leader elections on a
four-broker cluster (three combined nodes and one broker-only node),
driven by kafka-python's and confluent-kafka's admin clients. A partition
moves from brokers {1,2,3} to {2,3,4} under an acks=all idempotent producer
and a consumer without losing or repeating a record, and the new replica's
log ends equal to the leader's; a move shows in the list while it runs
(the throttle slows it down), a cancelled move restores the old replicas,
and preferred elections put leadership back where placement wanted it."""

import pathlib
import struct
import threading
import time

import pytest
from confluent_kafka import Consumer, ElectionType, KafkaError, Producer
from confluent_kafka import TopicPartition as CkTopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from kafka import KafkaAdminClient, TopicPartition
from kafka import errors as py_errors

from cluster import Cluster, gauge
from conftest import wait_until

FAST = {
    "broker.session.timeout.ms": "3000",
    "broker.heartbeat.interval.ms": "500",
    "replica.lag.time.max.ms": "4000",
    # A replica being added copies at most 1 MB/s: a few MB of history
    # keep the move in progress for seconds, long enough to list it.
    "follower.replication.throttled.rate": "1000000",
}
RECORD = b"x" * 1000


def start_cluster(tmp_path, **overrides):
    cluster = Cluster(tmp_path, controllers=3, brokers=1)
    for n in cluster.nodes:
        n.overrides.update(FAST | overrides)
    return cluster.start()


@pytest.fixture
def cluster(tmp_path):
    c = start_cluster(tmp_path)
    yield c
    stop_all(c)


def stop_all(cluster):
    for n in cluster.nodes:
        if n.proc.poll() is None:
            n.stop()


def node(cluster, node_id):
    return next(n for n in cluster.nodes if n.node_id == node_id)


def create(admin, name, assignment, config=None):
    topic = NewTopic(name, num_partitions=len(assignment), replication_factor=-1,
                     replica_assignment=assignment, config=config or {})
    admin.create_topics([topic], request_timeout=30)[name].result(timeout=60)


def state(admin, topic, partition=0):
    """(leader, replicas in order, sorted ISR) of a partition from Metadata."""
    p = admin.list_topics(topic, timeout=10).topics[topic].partitions[partition]
    return p.leader, list(p.replicas), sorted(p.isrs)


def all_in_sync(admin, topic, replicas):
    leader, current, isr = state(admin, topic)
    return sorted(current) == sorted(replicas) and isr == sorted(replicas) and leader in replicas


def batches(data_dir: pathlib.Path, topic: str, partition: int):
    """(base offset, CRC) of every record batch in a partition's segment files."""
    found = []
    for segment in sorted((data_dir / f"{topic}-{partition}").glob("*.log")):
        data = segment.read_bytes()
        pos = 0
        while pos + 21 <= len(data):
            base_offset, length = struct.unpack_from(">qi", data, pos)
            if length <= 0 or pos + 12 + length > len(data):
                break
            (crc,) = struct.unpack_from(">I", data, pos + 17)
            found.append((base_offset, crc))
            pos += 12 + length
    return found


class Load:
    """An acks=all idempotent producer and a consumer running in threads."""

    def __init__(self, bootstrap, topic):
        self.topic = topic
        self.acked, self.failed, self.seen = [], [], []
        self.stop = threading.Event()  # the producer stops
        self.done = threading.Event()  # the consumer stops
        self.producer = Producer({
            "bootstrap.servers": bootstrap,
            "acks": "all",
            "enable.idempotence": True,
            "linger.ms": 5,
            "message.timeout.ms": 120000,
        })
        self.consumer = Consumer({
            "bootstrap.servers": bootstrap,
            "group.id": f"{topic}-reader",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        })
        self.consumer.subscribe([topic])
        self.threads = [threading.Thread(target=self._produce, daemon=True),
                        threading.Thread(target=self._consume, daemon=True)]
        self.next = 0

    def _report(self, err, msg):
        (self.failed if err else self.acked).append(err or msg.value().decode())

    def send(self, count, value=RECORD):
        for _ in range(count):
            key = f"k{self.next}".encode()
            self.producer.produce(self.topic, key=key, value=f"{self.next}:".encode() + value,
                                  on_delivery=self._report)
            self.next += 1
            self.producer.poll(0)

    def _produce(self):
        while not self.stop.is_set():
            self.send(1, value=b"live")
            # Paces the load (a few hundred records a second), well under the throttle.
            self.producer.poll(0.003)

    def _consume(self):
        while not self.done.is_set():
            msg = self.consumer.poll(0.2)
            if msg is not None and not msg.error():
                self.seen.append(msg.value().decode())

    def start(self):
        for t in self.threads:
            t.start()

    def finish(self):
        self.stop.set()
        self.threads[0].join(timeout=30)
        assert self.producer.flush(120) == 0, "every record delivered or failed"
        wait_until(lambda: len(self.seen) >= len(self.acked), timeout=90,
                   what="the consumer reading every acknowledged record")
        self.done.set()
        self.threads[1].join(timeout=30)
        self.consumer.close()


def test_a_partition_moves_to_a_new_broker_under_load(cluster):
    admin = AdminClient({"bootstrap.servers": cluster.bootstrap})
    create(admin, "moved", [[1, 2, 3]], {"min.insync.replicas": "2"})
    wait_until(lambda: all_in_sync(admin, "moved", [1, 2, 3]), what="every replica in sync")

    load = Load(cluster.bootstrap, "moved")
    # About 4 MB of history for the new replica to copy.
    load.send(4000)
    assert load.producer.flush(60) == 0
    load.start()

    py = KafkaAdminClient(bootstrap_servers=cluster.bootstrap)
    tp = TopicPartition("moved", 0)
    assert py.alter_partition_reassignments({tp: [2, 3, 4]}) == {tp: None}
    ongoing = py.list_partition_reassignments()
    assert ongoing == {tp: {"replicas": [2, 3, 4, 1], "adding_replicas": [4], "removing_replicas": [1]}}, ongoing

    wait_until(lambda: all_in_sync(admin, "moved", [2, 3, 4]), timeout=90,
               what="the move to {2,3,4} completes")
    leader, replicas, _ = state(admin, "moved")
    assert replicas == [2, 3, 4] and leader == 2, (leader, replicas)
    assert py.list_partition_reassignments() == {}
    load.send(500, value=b"after")
    load.finish()
    py.close()

    assert load.failed == [], load.failed[:5]
    assert len(load.acked) == load.next
    assert sorted(load.seen) == sorted(load.acked), f"{len(load.seen)} read, {len(load.acked)} acknowledged"
    assert len(set(load.seen)) == len(load.seen), "no record read twice"

    stop_all(cluster)
    logs = {n: batches(node(cluster, n).data_dir, "moved", 0) for n in (2, 3, 4)}
    assert logs[2], "the leader holds the records"
    assert logs[4] == logs[2], f"new replica: {len(logs[4])} batches, leader: {len(logs[2])}"
    assert logs[3] == logs[2]
    assert not (node(cluster, 1).data_dir / "moved-0").exists(), "the removed replica's log is deleted"


def test_replicas_moved_or_deleted_while_a_broker_was_down_are_deleted_when_it_returns(cluster):
    admin = AdminClient({"bootstrap.servers": cluster.bootstrap})
    for name, replicas in (("away", [4, 2, 3]), ("gone", [4, 2, 3]), ("kept", [4, 1, 2])):
        create(admin, name, [replicas])
        load = Load(cluster.bootstrap, name)
        load.send(50)
        assert load.producer.flush(30) == 0 and load.failed == []
        load.consumer.close()
        wait_until(lambda: all_in_sync(admin, name, replicas), what=f"{name}: every replica in sync")
    broker4 = node(cluster, 4)
    broker4.stop()

    # While broker 4 is down, "away" moves off it and "gone" is deleted.
    py = KafkaAdminClient(bootstrap_servers=cluster.bootstrap)
    tp = TopicPartition("away", 0)
    assert py.alter_partition_reassignments({tp: [1, 2, 3]}) == {tp: None}
    wait_until(lambda: all_in_sync(admin, "away", [1, 2, 3]) and py.list_partition_reassignments() == {},
               what="the move off the stopped broker completes")
    py.close()
    admin.delete_topics(["gone"])["gone"].result(timeout=30)
    assert (broker4.data_dir / "away-0").exists() and (broker4.data_dir / "gone-0").exists()

    # Ready means caught up and unfenced, by which time the strays are gone.
    broker4.start()
    assert not (broker4.data_dir / "away-0").exists(), "the replica moved away is deleted"
    assert not (broker4.data_dir / "gone-0").exists(), "the deleted topic's replica is deleted"
    assert (broker4.data_dir / "kept-0").exists(), "a replica still placed here stays"
    wait_until(lambda: all_in_sync(admin, "kept", [4, 1, 2]), what="broker 4 back in kept's ISR")


def test_a_cancelled_move_restores_the_old_replicas(cluster):
    admin = AdminClient({"bootstrap.servers": cluster.bootstrap})
    create(admin, "stays", [[1, 2, 3]])
    wait_until(lambda: all_in_sync(admin, "stays", [1, 2, 3]), what="every replica in sync")
    # About 4 MB to copy at the throttled 1 MB/s: the move is still running
    # when it is cancelled.
    load = Load(cluster.bootstrap, "stays")
    load.send(4000)
    assert load.producer.flush(60) == 0 and load.failed == []
    py = KafkaAdminClient(bootstrap_servers=cluster.bootstrap)
    tp = TopicPartition("stays", 0)
    assert py.alter_partition_reassignments({tp: [2, 3, 4]}) == {tp: None}
    assert py.list_partition_reassignments({"stays": [0]})[tp]["adding_replicas"] == [4]
    # The leader's /metrics shows the move while it runs.
    leader = node(cluster, 1)
    adding = 'karst_partition_adding_replicas{partition="0",topic="stays"}'
    wait_until(lambda: gauge(leader, "karst_reassigning_partitions") == 1 and gauge(leader, adding) == 1,
               what="the leader's metrics showing the move")
    assert gauge(leader, 'karst_partition_removing_replicas{partition="0",topic="stays"}') == 1
    assert gauge(leader, 'karst_partition_replicas{partition="0",topic="stays"}') == 4

    assert py.alter_partition_reassignments({tp: None}) == {tp: None}
    assert py.list_partition_reassignments() == {}
    wait_until(lambda: all_in_sync(admin, "stays", [1, 2, 3]) and state(admin, "stays")[0] == 1,
               what="the old replicas back, broker 1 leading")
    wait_until(lambda: not (node(cluster, 4).data_dir / "stays-0").exists(),
               what="broker 4 deleting the replica it no longer has")
    wait_until(lambda: gauge(leader, "karst_reassigning_partitions") == 0 and gauge(leader, adding) == 0,
               what="the leader's metrics showing no move")
    again = py.alter_partition_reassignments({tp: None})
    assert again == {tp: py_errors.NoReassignmentInProgressError}, again
    py.close()
    load.consumer.close()


def test_bad_reassignments_and_elections_get_kafka_errors(cluster):
    admin = AdminClient({"bootstrap.servers": cluster.bootstrap})
    create(admin, "guarded", [[4, 1]])
    wait_until(lambda: all_in_sync(admin, "guarded", [4, 1]), what="every replica in sync")
    py = KafkaAdminClient(bootstrap_servers=node(cluster, 1).bootstrap)
    tp = lambda p: TopicPartition("guarded", p)  # noqa: E731
    missing = TopicPartition("no-such-topic", 0)
    invalid = py_errors.InvalidReplicationAssignmentError
    assert py.alter_partition_reassignments({tp(0): [1, 99]}) == {tp(0): invalid}
    # (kafka-python refuses an empty list itself; client/tests covers the broker's answer.)
    assert py.alter_partition_reassignments({tp(0): [1, 1]}) == {tp(0): invalid}
    unknown = py_errors.UnknownTopicOrPartitionError
    assert py.alter_partition_reassignments({tp(7): [1], missing: [1]}) == {tp(7): unknown, missing: unknown}
    assert py.list_partition_reassignments() == {}
    assert state(admin, "guarded") == (4, [4, 1], [1, 4]), "nothing disturbed"

    # The preferred replica stops: it cannot lead again until it is back.
    node(cluster, 4).stop()
    wait_until(lambda: state(admin, "guarded")[0] == 1, what="broker 1 takes over")
    results = admin.elect_leaders(ElectionType.PREFERRED, [CkTopicPartition("guarded", 0)]).result(timeout=30)
    assert results[CkTopicPartition("guarded", 0)].code() == KafkaError.PREFERRED_LEADER_NOT_AVAILABLE, results
    # Broker 1 leads: an unclean election is not needed.
    results = admin.elect_leaders(ElectionType.UNCLEAN, [CkTopicPartition("guarded", 0)]).result(timeout=30)
    assert results[CkTopicPartition("guarded", 0)].code() == KafkaError.ELECTION_NOT_NEEDED, results
    py.close()


def test_the_leader_side_throttle_paces_a_move(tmp_path):
    rate = 500_000
    cluster = start_cluster(tmp_path, **{"follower.replication.throttled.rate": "9223372036854775807",
                                         "leader.replication.throttled.rate": str(rate)})
    try:
        admin = AdminClient({"bootstrap.servers": cluster.bootstrap})
        create(admin, "paced", [[1, 2, 3]])
        # About 2 MB of history to copy, in batches of Kafka's default
        # 16 KiB: a fetch may overspend the budget by a batch, no more.
        producer = Producer({"bootstrap.servers": cluster.bootstrap, "batch.size": 16384, "linger.ms": 5})
        for _ in range(2000):
            producer.produce("paced", value=RECORD)
            producer.poll(0)
        assert producer.flush(60) == 0
        wait_until(lambda: all_in_sync(admin, "paced", [1, 2, 3]), what="every replica in sync")
        py = KafkaAdminClient(bootstrap_servers=cluster.bootstrap)
        tp = TopicPartition("paced", 0)
        started = time.monotonic()
        assert py.alter_partition_reassignments({tp: [1, 2, 4]}) == {tp: None}
        wait_until(lambda: py.list_partition_reassignments() == {}, timeout=90, interval=0.1,
                   what="the move to {1,2,4} completes")
        took = time.monotonic() - started
        py.close()
        # The bucket holds one second's worth, then the leader sends `rate`
        # bytes a second: 2 MB cannot arrive in less than (2 MB - rate) / rate
        # (less a batch the last fetch may overspend).
        print(f"2 MB moved at a leader throttle of {rate} B/s in {took:.1f}s")
        assert took >= (2_000_000 - rate) / rate - 0.5, took
        assert all_in_sync(admin, "paced", [1, 2, 4])
    finally:
        stop_all(cluster)


def test_a_preferred_election_moves_leadership_back(cluster):
    admin = AdminClient({"bootstrap.servers": cluster.bootstrap})
    create(admin, "skewed", [[1, 2, 3], [2, 1, 3], [3, 1, 2]])
    wait_until(lambda: all(state(admin, "skewed", p)[0] == p + 1 for p in range(3)), what="preferred leaders")
    # Brokers 2 and 3 restart in turn: broker 1 ends up leading everything.
    for victim in (2, 3):
        node(cluster, victim).stop()
        node(cluster, victim).restart()
        wait_until(lambda: all(len(state(admin, "skewed", p)[2]) == 3 for p in range(3)), timeout=60,
                   what=f"broker {victim} back in every ISR")
    leaders = lambda: [state(admin, "skewed", p)[0] for p in range(3)]  # noqa: E731
    wait_until(lambda: leaders() == [1, 1, 1], what="broker 1 leading every partition")

    every = [CkTopicPartition("skewed", p) for p in range(3)]
    results = admin.elect_leaders(ElectionType.PREFERRED, every).result(timeout=30)
    assert results[every[0]].code() == KafkaError.ELECTION_NOT_NEEDED, results
    assert results[every[1]] is None and results[every[2]] is None, results
    wait_until(lambda: leaders() == [1, 2, 3], what="every partition led by its preferred replica")


def test_leadership_rebalances_by_itself(tmp_path):
    cluster = start_cluster(tmp_path, **{"leader.imbalance.check.interval.seconds": "1"})
    try:
        admin = AdminClient({"bootstrap.servers": cluster.bootstrap})
        create(admin, "balanced", [[1, 2, 3], [2, 3, 1], [3, 1, 2]])
        wait_until(lambda: all(len(state(admin, "balanced", p)[2]) == 3 for p in range(3)), what="all in sync")
        node(cluster, 2).stop()
        wait_until(lambda: state(admin, "balanced", 1)[0] != 2, what="broker 2's partition fails over")
        node(cluster, 2).restart()
        wait_until(lambda: [state(admin, "balanced", p)[0] for p in range(3)] == [1, 2, 3], timeout=60,
                   what="the controller giving broker 2 its partition back")
    finally:
        stop_all(cluster)
