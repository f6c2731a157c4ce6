"""Issue 11: consumer groups keep consuming through partition-leader and
coordinator failures on replicated topics. A kafkajs group and a
confluent-kafka group read a 3-partition RF=3 topic while the coordinator
of the confluent group (the leader of its `__consumer_offsets` partition) is
killed and restarted: each group processes every record at least once, and
the confluent group's committed offsets, written before and after the
coordinator's loss, are all there at the end."""

import subprocess
import threading
import time

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from cluster import Cluster
from conftest import HERE, node_script, wait_until

FAST = {
    "broker.session.timeout.ms": "3000",
    "broker.heartbeat.interval.ms": "500",
    "replica.lag.time.max.ms": "4000",
}
TOPIC, PARTITIONS, TOTAL = "grouped-durable", 3, 3000

KAFKAJS_READER = """
import { Kafka, logLevel } from "kafkajs";
const kafka = new Kafka({ clientId: "js-reader", brokers: BROKERS, logLevel: logLevel.NOTHING,
  retry: { retries: 100, initialRetryTime: 200, maxRetryTime: 2000 } });
const consumer = kafka.consumer({ groupId: "js-group", sessionTimeout: 10000, heartbeatInterval: 500 });
await consumer.connect();
await consumer.subscribe({ topic: TOPIC, fromBeginning: true });
process.on("SIGTERM", async () => { await consumer.disconnect(); process.exit(0); });
await consumer.run({ eachMessage: async ({ message }) => { console.log(message.value.toString()); } });
"""


@pytest.fixture
def cluster(tmp_path):
    c = Cluster(tmp_path, overrides=FAST).start()
    yield c
    for n in c.nodes:
        if n.proc.poll() is None:
            n.stop()


def test_two_consumer_groups_read_everything_through_a_coordinator_kill(cluster):
    admin = AdminClient({"bootstrap.servers": cluster.bootstrap})
    admin.create_topics([NewTopic(TOPIC, PARTITIONS, 3, config={"min.insync.replicas": "2"})])[TOPIC].result(60)
    producer = Producer({"bootstrap.servers": cluster.bootstrap, "acks": "all", "enable.idempotence": True})
    for i in range(TOTAL):
        producer.produce(TOPIC, key=str(i).encode(), value=str(i).encode())
    assert producer.flush(60) == 0

    js_lines = []
    script = KAFKAJS_READER.replace("BROKERS", str([n.bootstrap for n in cluster.nodes])) \
                           .replace("TOPIC", f'"{TOPIC}"')
    js = subprocess.Popen(["node", str(node_script(script, "reader.mjs"))], cwd=HERE,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    threading.Thread(target=lambda: js_lines.extend(iter(js.stdout.readline, "")), daemon=True).start()

    seen, stop = set(), threading.Event()

    def confluent_group():
        consumer = Consumer({"bootstrap.servers": cluster.bootstrap, "group.id": "cf-group",
                             "auto.offset.reset": "earliest", "enable.auto.commit": False,
                             "session.timeout.ms": 10000})
        consumer.subscribe([TOPIC])
        while not stop.is_set():
            msg = consumer.poll(0.2)
            if msg is None or msg.error():
                continue
            seen.add(int(msg.value()))
            # Synchronous commits, retried through the coordinator's loss.
            while not stop.is_set():
                try:
                    consumer.commit(message=msg, asynchronous=False)
                    break
                except Exception:  # noqa: BLE001 - COORDINATOR_NOT_AVAILABLE etc. while it moves
                    time.sleep(0.2)
        consumer.close()

    reader = threading.Thread(target=confluent_group)
    reader.start()
    try:
        wait_until(lambda: len(seen) > TOTAL // 4, timeout=60, what="the confluent group to start reading")
        described = admin.describe_consumer_groups(["cf-group"])["cf-group"].result(timeout=30)
        coordinator = next(n for n in cluster.nodes if n.node_id == described.coordinator.id)
        coordinator.kill9()
        other = next(n for n in cluster.nodes if n is not coordinator)
        others = AdminClient({"bootstrap.servers": other.bootstrap})
        def moved():
            try:
                found = others.describe_consumer_groups(["cf-group"])["cf-group"].result(timeout=10)
            except Exception:  # noqa: BLE001 - no coordinator while the partition moves
                return False
            return found.coordinator.id not in (coordinator.node_id, -1)

        wait_until(moved, timeout=60, what="another broker to coordinate the group")
        coordinator.restart()
        wait_until(lambda: len(seen) == TOTAL, timeout=120, what="the confluent group to read every record")
        wait_until(lambda: {int(x) for x in js_lines if x.strip()} >= set(range(TOTAL)), timeout=120,
                   what="the kafkajs group to read every record")
    finally:
        stop.set()
        reader.join(60)
        js.terminate()
        js.wait(30)
    check = Consumer({"bootstrap.servers": cluster.bootstrap, "group.id": "cf-group"})
    try:
        committed = check.committed([TopicPartition(TOPIC, p) for p in range(PARTITIONS)], timeout=30)
        ends = [check.get_watermark_offsets(TopicPartition(TOPIC, p), timeout=10)[1] for p in range(PARTITIONS)]
    finally:
        check.close()
    assert [tp.offset for tp in committed] == ends, "the group's last commits survived the coordinator's loss"
    assert sum(ends) == TOTAL
