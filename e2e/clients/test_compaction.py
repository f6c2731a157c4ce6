"""A compacted topic keeps the latest value per key: after cleaning, a
consumer from the beginning sees exactly that, and no deleted keys."""

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from conftest import wait_until

KEYS = 50
ROUNDS = 100
DELETED = {f"key-{i}" for i in range(0, KEYS, 5)}


def read_all(bootstrap):
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "unused", "enable.auto.commit": False})
    consumer.assign([TopicPartition("compacted", 0, 0)])
    _, high = consumer.get_watermark_offsets(TopicPartition("compacted", 0), timeout=10)
    records = []
    while not records or records[-1][0] < high - 1:
        batch = consumer.consume(num_messages=10_000, timeout=2.0)
        if not batch:
            break
        records += [(m.offset(), m.key().decode(), m.value()) for m in batch if m.error() is None]
    consumer.close()
    return records


def test_compaction_keeps_latest_value_per_key_and_removes_deleted_keys(broker):
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    config = {"cleanup.policy": "compact", "segment.bytes": "16384", "delete.retention.ms": "0"}
    admin.create_topics([NewTopic("compacted", 1, 1, config=config)])["compacted"].result(30)

    # Small batches, so that segments roll (a batch is never split).
    producer = Producer({"bootstrap.servers": broker.bootstrap, "linger.ms": 5, "batch.num.messages": 100})
    for r in range(ROUNDS):
        for k in range(KEYS):
            producer.produce("compacted", key=f"key-{k}", value=f"round-{r}".encode())
        producer.poll(0)
    for key in DELETED:
        producer.produce("compacted", key=key, value=None)
    # Enough later traffic on one other key to close the segments above.
    for i in range(300):
        producer.produce("compacted", key="filler", value=b"x" * 100)
    assert producer.flush(30) == 0
    written = ROUNDS * KEYS + len(DELETED) + 300

    def cleaned():
        records = read_all(broker.bootstrap)
        return records if len(records) < written // 2 else None

    records = wait_until(cleaned, timeout=60, interval=0.5, what="the cleaner to compact the topic")
    latest = {}
    for offset, key, value in records:
        latest[key] = value
    for k in range(KEYS):
        key = f"key-{k}"
        if key in DELETED:
            assert latest.get(key) is None, f"{key} was deleted"
        else:
            assert latest[key] == f"round-{ROUNDS - 1}".encode(), key
    offsets = [o for o, _, _ in records]
    assert offsets == sorted(offsets), "offsets keep their order"
