"""Issue 3: three kafkajs consumers in one group share a 6-partition topic;
one leaves, one joins; every record of a 30,000-record stream is processed,
with a commit after each batch, so nothing is lost and records are processed
again only within the last uncommitted batch of a partition that changed
hands."""

import json
import subprocess
import threading

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

from conftest import HERE, node_script, wait_until

TOTAL = 30_000
PARTITIONS = 6

# Each consumer prints one JSON line per group join (its assignment) and per
# processed record; it commits after each batch, and sleeps a little per
# batch so that members come and go while the stream is being processed.
KAFKAJS_GROUP = """
import { Kafka, logLevel } from "kafkajs";
const kafka = new Kafka({ clientId: NAME, brokers: [BROKER], logLevel: logLevel.NOTHING });
const consumer = kafka.consumer({ groupId: "sharers", sessionTimeout: 10000, heartbeatInterval: 500,
                                  maxBytesPerPartition: 2048 });
consumer.on(consumer.events.GROUP_JOIN, (e) =>
  console.log(JSON.stringify({ join: NAME, a: e.payload.memberAssignment })));
await consumer.connect();
await consumer.subscribe({ topic: "shared", fromBeginning: true });
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
    await new Promise((r) => setTimeout(r, 100));
  },
});
"""


def test_three_kafkajs_consumers_share_six_partitions_while_members_come_and_go(broker_factory):
    # Kafka's default initial delay, so that the three first members join one generation.
    broker = broker_factory(**{"group.initial.rebalance.delay.ms": "3000"})
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    admin.create_topics([NewTopic("shared", PARTITIONS, 1)])["shared"].result(30)
    producer = Producer({"bootstrap.servers": broker.bootstrap, "linger.ms": 5, "batch.num.messages": 100})

    def produce(values):
        for i in values:
            producer.produce("shared", key=str(i).encode(), value=str(i).encode())
            if i % 1000 == 0:
                producer.poll(0)
        assert producer.flush(60) == 0

    seen, joins = [], []
    lock = threading.Lock()
    procs = {}

    def start(name):
        script = KAFKAJS_GROUP.replace("BROKER", json.dumps(broker.bootstrap)).replace("NAME", json.dumps(name))
        path = node_script(script, f"{name}.mjs")
        proc = subprocess.Popen(["node", str(path)], cwd=HERE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)

        def read():
            for line in iter(proc.stdout.readline, ""):
                if line.startswith("{"):
                    record = json.loads(line)
                    with lock:
                        (joins if "join" in record else seen).append(record)

        threading.Thread(target=read, daemon=True).start()
        procs[name] = proc

    def consumers_with_records():
        with lock:
            return {r["c"] for r in seen}

    def assigned(name):
        with lock:
            return any(j["join"] == name and j["a"].get("shared") for j in joins)

    try:
        produce(range(TOTAL // 2))
        for i in range(3):
            start(f"c{i}")
        wait_until(lambda: consumers_with_records() >= {"c0", "c1", "c2"}, timeout=90,
                   what="all three consumers to process records")
        with lock:
            first_generation = [j for j in joins if j["a"].get("shared")]
        covered = sorted(p for j in first_generation[:3] for p in j["a"]["shared"])
        assert covered == list(range(PARTITIONS)), f"three members share the six partitions: {first_generation}"

        with lock:
            before_leave = len({r["v"] for r in seen})
        assert before_leave < TOTAL // 2, "c0 leaves while the stream is being processed"
        leaver = procs.pop("c0")
        leaver.terminate()  # kafkajs disconnect: LeaveGroup
        assert leaver.wait(timeout=30) == 0
        start("c3")
        wait_until(lambda: assigned("c3"), timeout=60, what="c3 to join and get partitions")
        produce(range(TOTAL // 2, TOTAL))
        wait_until(lambda: len({r["v"] for r in seen}) == TOTAL, timeout=180, what="every record to be processed")
    finally:
        for p in procs.values():
            p.terminate()
        for p in procs.values():
            p.wait(timeout=30)

    values = {r["v"] for r in seen}
    assert values == {str(i) for i in range(TOTAL)}, "nothing is lost"
    assert {"c0", "c1", "c2", "c3"} <= {r["c"] for r in seen}, "the joiner processed records too"
    # Reprocessing only where a partition changed hands, and at most one
    # uncommitted batch each time (every batch is committed when processed).
    max_batch = max(r["n"] for r in seen)
    for partition in range(PARTITIONS):
        records = [r for r in seen if r["p"] == partition]
        handovers = sum(1 for a, b in zip(records, records[1:]) if a["c"] != b["c"])
        duplicates = len(records) - len({r["o"] for r in records})
        assert duplicates <= handovers * max_batch, (partition, duplicates, handovers, max_batch)
