"""Issue 11 (Cluster II): partitions replicated over three brokers. A
confluent-kafka idempotent acks=all producer keeps every acknowledged
record through a kill -9 of a partition leader; followers hold the same
log as the leader; min.insync.replicas is enforced."""

import time

import pytest
from confluent_kafka import Consumer, KafkaException, Producer
from confluent_kafka.admin import AdminClient, NewTopic

from cluster import Cluster
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


def test_acked_records_survive_a_leader_kill(cluster):
    bootstrap = cluster.bootstrap
    admin = create(bootstrap, "durable", 3, 3, {"min.insync.replicas": "2"})
    wait_until(lambda: all(len(isr) == 3 for _, _, isr in partition_state(admin, "durable").values()),
               what="every replica in sync")
    acked, failed = [], []

    def report(err, msg):
        (failed if err else acked).append(err or msg.value().decode())

    producer = Producer({
        "bootstrap.servers": bootstrap,
        "acks": "all",
        "enable.idempotence": True,
        "linger.ms": 5,
        "message.timeout.ms": 60000,
    })
    total = 6000
    leader_of_0 = partition_state(admin, "durable")[0][0]
    victim = next(n for n in cluster.nodes if n.node_id == leader_of_0)
    for i in range(total):
        while True:
            try:
                producer.produce("durable", key=str(i % 97).encode(), value=f"v{i}".encode(), on_delivery=report)
                break
            except BufferError:
                producer.poll(0.1)
        producer.poll(0)
        if i == total // 3:
            producer.flush(60)
            victim.kill9()
    assert producer.flush(120) == 0
    assert failed == [], failed[:5]
    assert len(acked) == total

    survivor = next(n for n in cluster.nodes if n is not victim)
    survivors = AdminClient({"bootstrap.servers": survivor.bootstrap})
    state = partition_state(survivors, "durable")
    assert state[0][0] != leader_of_0, f"partition 0 got a new leader: {state}"
    seen = consume_all(survivor.bootstrap, "durable", total, "after-kill")
    assert sorted(seen) == sorted(acked), f"{len(seen)} read, {len(acked)} acknowledged"
    assert len(set(seen)) == len(seen), "no record stored twice"

    # The killed broker comes back, catches up and rejoins every ISR.
    victim.restart()
    wait_until(lambda: all(len(isr) == 3 for _, _, isr in partition_state(survivors, "durable").values()),
               timeout=60, what="the restarted broker back in every ISR")


def test_too_few_in_sync_replicas_refuse_acks_all(cluster):
    admin = create(cluster.bootstrap, "strict", 1, 3, {"min.insync.replicas": "3"})
    wait_until(lambda: len(partition_state(admin, "strict")[0][2]) == 3, what="three in sync")
    leader = partition_state(admin, "strict")[0][0]
    follower = next(n for n in cluster.nodes if n.node_id != leader)
    follower.kill9()
    wait_until(lambda: len(partition_state(admin, "strict")[0][2]) == 2, timeout=30,
               what="the dead follower leaves the ISR")
    producer = Producer({"bootstrap.servers": cluster.bootstrap, "acks": "all",
                         "message.timeout.ms": 3000, "enable.idempotence": False, "retries": 0})
    errors = []
    producer.produce("strict", value=b"x", on_delivery=lambda err, msg: errors.append(err))
    producer.flush(30)
    assert errors and errors[0] is not None
    assert errors[0].name() in ("NOT_ENOUGH_REPLICAS", "_MSG_TIMED_OUT"), errors[0]
