"""Consumer groups with real clients: the tutorial's consumer.js, kafkajs
consumers sharing partitions while members come and go, confluent-kafka
commits surviving kill -9, and kafka-python group consumption."""

import json
import subprocess
import threading
import time

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from conftest import HERE, run_node, tutorial_script, wait_until

FAST_GROUPS = {"group.initial.rebalance.delay.ms": "0"}


def test_tutorial_consumer_prints_what_the_tutorial_producer_sent(broker):
    producer = tutorial_script("producter.js").replace("localhost:9092", broker.bootstrap)
    sent = run_node(producer, "producer.mjs")
    assert sent.returncode == 0, sent.stderr

    consumer = tutorial_script("consumer.js").replace("localhost:9092", broker.bootstrap)
    path = HERE / ".run" / "consumer.mjs"
    path.write_text(consumer, encoding="utf-8")
    proc = subprocess.Popen(["node", str(path)], cwd=HERE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines = []
    reader = threading.Thread(target=lambda: lines.extend(iter(proc.stdout.readline, "")), daemon=True)
    reader.start()
    try:
        wait_until(lambda: any("测试kafka所发送的消息" in line for line in lines), timeout=60,
                   what="consumer.js to print the tutorial's message")
    finally:
        proc.kill()
        proc.wait()
    printed = "".join(lines)
    assert "topic: 'test'" in printed and "partition: '0'" in printed, printed


def test_confluent_group_consumer_resumes_at_the_committed_offset_after_kill_9(broker_factory):
    broker = broker_factory(**FAST_GROUPS)
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    admin.create_topics([NewTopic("resume", 1, 1)])["resume"].result(30)
    producer = Producer({"bootstrap.servers": broker.bootstrap, "acks": "all"})
    for i in range(1000):
        producer.produce("resume", value=str(i).encode())
    assert producer.flush(30) == 0

    def consumer():
        return Consumer({
            "bootstrap.servers": broker.bootstrap,
            "group.id": "resumers",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "session.timeout.ms": 6000,
        })

    first = consumer()
    first.subscribe(["resume"])
    seen = []
    deadline = time.monotonic() + 60
    while len(seen) < 500 and time.monotonic() < deadline:
        m = first.poll(0.5)
        if m is not None and m.error() is None:
            seen.append(int(m.value()))
            if len(seen) == 500:
                first.commit(message=m, asynchronous=False)
    assert seen == list(range(500))
    broker.kill9()
    broker.restart()

    second = consumer()
    second.subscribe(["resume"])
    resumed = None
    deadline = time.monotonic() + 60
    while resumed is None and time.monotonic() < deadline:
        m = second.poll(0.5)
        if m is not None and m.error() is None:
            resumed = m
    second.close()
    first.close()
    assert resumed is not None
    assert resumed.offset() == 500 and int(resumed.value()) == 500


KAFKAJS_GROUP = """
import { Kafka, logLevel } from "kafkajs";
const kafka = new Kafka({ clientId: NAME, brokers: [BROKER], logLevel: logLevel.NOTHING });
const consumer = kafka.consumer({ groupId: "sharers", sessionTimeout: 10000, heartbeatInterval: 500, maxBytesPerPartition: 16384 });
await consumer.connect();
await consumer.subscribe({ topic: "shared", fromBeginning: true });
let processed = 0;
const stop = async () => { await consumer.disconnect(); process.exit(0); };
process.on("SIGTERM", stop);
await consumer.run({
  autoCommit: false,
  eachBatch: async ({ batch, resolveOffset, heartbeat }) => {
    for (const m of batch.messages) {
      console.log(JSON.stringify({ c: NAME, p: batch.partition, o: m.offset, v: m.value.toString(), n: batch.messages.length }));
      resolveOffset(m.offset);
    }
    await consumer.commitOffsets([{ topic: batch.topic, partition: batch.partition,
      offset: (BigInt(batch.messages[batch.messages.length - 1].offset) + 1n).toString() }]);
    await heartbeat();
  },
});
"""


def test_three_kafkajs_consumers_share_six_partitions_while_members_come_and_go(broker_factory):
    broker = broker_factory(**FAST_GROUPS)
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    admin.create_topics([NewTopic("shared", 6, 1)])["shared"].result(30)
    total = 30_000
    producer = Producer({"bootstrap.servers": broker.bootstrap, "linger.ms": 5})
    for i in range(total):
        producer.produce("shared", key=str(i).encode(), value=str(i).encode())
        if i % 1000 == 0:
            producer.poll(0)
    assert producer.flush(60) == 0

    seen = []
    lock = threading.Lock()

    def start(name):
        script = KAFKAJS_GROUP.replace("BROKER", json.dumps(broker.bootstrap)).replace("NAME", json.dumps(name))
        path = HERE / ".run" / f"{name}.mjs"
        path.parent.mkdir(exist_ok=True)
        path.write_text(script, encoding="utf-8")
        proc = subprocess.Popen(["node", str(path)], cwd=HERE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)

        def read():
            for line in iter(proc.stdout.readline, ""):
                if line.startswith("{"):
                    with lock:
                        seen.append(json.loads(line))

        threading.Thread(target=read, daemon=True).start()
        return proc

    procs = [start(f"c{i}") for i in range(3)]
    wait_until(lambda: len({r["p"] for r in seen}) >= 2 and len(seen) > 3000, timeout=90, what="several consumers to make progress")
    leaver = procs.pop(0)
    leaver.terminate()
    leaver.wait(timeout=30)
    procs.append(start("c3"))
    wait_until(lambda: len({r["v"] for r in seen}) == total, timeout=120, what="every record to be processed")
    for p in procs:
        p.terminate()
    for p in procs:
        p.wait(timeout=30)
    values = {r["v"] for r in seen}
    assert values == {str(i) for i in range(total)}, "nothing is lost"
    # Reprocessing only where a partition changed hands, and at most one
    # uncommitted batch each time (every batch is committed when processed).
    max_batch = max(r["n"] for r in seen)
    for partition in range(6):
        records = [r for r in seen if r["p"] == partition]
        handovers = sum(1 for a, b in zip(records, records[1:]) if a["c"] != b["c"])
        duplicates = len(records) - len({r["o"] for r in records})
        assert duplicates <= handovers * max_batch, (partition, duplicates, handovers, max_batch)


def test_kafka_python_group_consumer_reads_everything(broker_factory):
    from kafka import KafkaConsumer, KafkaProducer

    broker = broker_factory(**FAST_GROUPS)
    producer = KafkaProducer(bootstrap_servers=broker.bootstrap)
    for i in range(200):
        producer.send("py-group", value=str(i).encode())
    producer.flush()
    producer.close()
    consumer = KafkaConsumer("py-group", bootstrap_servers=broker.bootstrap, group_id="py",
                             auto_offset_reset="earliest", consumer_timeout_ms=15000)
    values = []
    for m in consumer:
        values.append(int(m.value))
        if len(values) == 200:
            break
    consumer.commit()
    committed = consumer.committed(TopicPartitionPy("py-group", 0))
    consumer.close()
    assert values == list(range(200))
    assert committed == 200


def TopicPartitionPy(topic, partition):  # noqa: N802 - kafka-python's type, imported lazily
    from kafka import TopicPartition as KafkaPythonTopicPartition

    return KafkaPythonTopicPartition(topic, partition)


def test_aiokafka_group_consumer_reads_everything(broker_factory):
    import asyncio

    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

    broker = broker_factory(**FAST_GROUPS)

    async def scenario():
        producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap)
        await producer.start()
        for i in range(100):
            await producer.send_and_wait("aio", str(i).encode())
        await producer.stop()
        consumer = AIOKafkaConsumer("aio", bootstrap_servers=broker.bootstrap, group_id="aio-group",
                                    auto_offset_reset="earliest")
        await consumer.start()
        values = []
        try:
            async with asyncio.timeout(60):
                async for m in consumer:
                    values.append(int(m.value))
                    if len(values) == 100:
                        break
        finally:
            await consumer.stop()
        return values

    assert asyncio.run(scenario()) == list(range(100))
