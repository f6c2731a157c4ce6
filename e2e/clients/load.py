#!/usr/bin/env python3
"""A client load that checks itself: tests outside pytest (the operator's
Rust integration tests) run it beside a rolling restart, a scale or a
reassignment and read its verdict.

It runs one idempotent acks=all confluent-kafka producer writing numbered
records at a steady rate, and one consumer in a consumer group reading them.
It prints `ready` on stdout once the first record is acknowledged. On
SIGTERM (or SIGINT) it stops producing, flushes, keeps consuming until every
acknowledged record was read (or `--drain-seconds` pass), and writes a JSON
verdict to `--out`:

    {"acked": N, "failed": N, "errors": ["..."], "retriable_errors": N,
     "missing": N, "duplicates": N, "out_of_order": N,
     "group_missing": N, "group_redelivered": N}

`failed` counts records the producer gave up on (a failed send);
`retriable_errors` counts client-side error callbacks that the client
retried by itself (informational). `missing`, `duplicates` and
`out_of_order` come from a final read of every partition from its start:
acknowledged records absent from the log, records in the log more than
once, records behind a higher sequence of their partition. `group_missing`
counts acknowledged records the consumer group never delivered;
`group_redelivered` the ones it delivered twice (at-least-once after a
rebalance, informational).

Usage: load.py --bootstrap HOST:PORT[,..] --topic T --out verdict.json
       [--rate 200] [--group load-check] [--drain-seconds 60]
"""

import argparse
import json
import signal
import sys
import threading
import time

from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition


def main() -> int:
    args = parse_args()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())

    acked: dict[int, int] = {}  # sequence -> partition
    failed: list[str] = []
    retriable: list[str] = []
    first_ack = threading.Event()

    def on_delivery(err, msg):
        if err is not None:
            failed.append(str(err))
            return
        acked[int(msg.key())] = msg.partition()
        first_ack.set()

    producer = Producer({
        "bootstrap.servers": args.bootstrap,
        "enable.idempotence": True,
        "acks": "all",
        "linger.ms": 5,
        # Long enough that a broker restart or a leadership move is retried
        # by the client rather than reported as a failed send.
        "delivery.timeout.ms": 120000,
        "error_cb": lambda err: retriable.append(str(err)),
    })
    reader = GroupReader(args.bootstrap, args.topic, args.group)
    reader.start()

    interval = 1.0 / args.rate
    sequence = 0
    next_send = time.monotonic()
    announced = False
    while not stop.is_set():
        producer.produce(args.topic, key=str(sequence).encode(), value=f"load-{sequence}".encode(),
                         on_delivery=on_delivery)
        sequence += 1
        next_send += interval
        producer.poll(max(0.0, next_send - time.monotonic()))
        if not announced and first_ack.is_set():
            print("ready", flush=True)
            announced = True
    remaining = producer.flush(120)
    if remaining:
        failed.append(f"{remaining} records still unacknowledged after 120 s of flushing")

    deadline = time.monotonic() + args.drain_seconds
    while time.monotonic() < deadline and not reader.has_read(acked):
        time.sleep(0.2)
    reader.stop()

    verdict = read_log(args.bootstrap, args.topic, acked)
    verdict.update(reader.verdict(acked))
    verdict.update(acked=len(acked), sent=sequence, failed=len(failed), errors=failed[:20],
                   retriable_errors=len(retriable), retriable_samples=retriable[:20])
    with open(args.out, "w") as f:
        json.dump(verdict, f, indent=1)
    return 0


class GroupReader:
    """One consumer of a consumer group, committing as it goes, that counts
    every sequence number it reads."""

    def __init__(self, bootstrap, topic, group):
        self.consumer = Consumer({
            "bootstrap.servers": bootstrap,
            "group.id": group,
            "auto.offset.reset": "earliest",
            "enable.auto.commit": True,
            "auto.commit.interval.ms": 500,
        })
        self.consumer.subscribe([topic])
        self.counts: dict[int, int] = {}
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def start(self):
        self.thread.start()

    def _run(self):
        while not self.stopping.is_set():
            msg = self.consumer.poll(0.5)
            if msg is None or msg.error():
                continue
            seq = int(msg.key())
            with self.lock:
                self.counts[seq] = self.counts.get(seq, 0) + 1
        self.consumer.close()

    def has_read(self, acked):
        with self.lock:
            return all(seq in self.counts for seq in acked)

    def stop(self):
        self.stopping.set()
        self.thread.join(timeout=30)

    def verdict(self, acked):
        with self.lock:
            return {
                "group_missing": sum(1 for seq in acked if seq not in self.counts),
                "group_redelivered": sum(1 for n in self.counts.values() if n > 1),
            }


def read_log(bootstrap, topic, acked):
    """Reads every partition of `topic` from its start to its high
    watermark and checks the log against the acknowledged records."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "load-verify",
                         "enable.auto.commit": False})
    partitions = consumer.list_topics(topic, timeout=30).topics[topic].partitions
    ends = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=30)[1]
            for p in partitions}
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
    counts: dict[int, int] = {}
    last: dict[int, int] = {}
    out_of_order = 0
    done = {p for p, end in ends.items() if end == 0}
    deadline = time.monotonic() + 120
    while len(done) < len(ends) and time.monotonic() < deadline:
        msg = consumer.poll(0.5)
        if msg is None or msg.error():
            continue
        seq = int(msg.key())
        counts[seq] = counts.get(seq, 0) + 1
        if seq < last.get(msg.partition(), -1):
            out_of_order += 1
        last[msg.partition()] = max(last.get(msg.partition(), -1), seq)
        if msg.offset() + 1 >= ends[msg.partition()]:
            done.add(msg.partition())
    consumer.close()
    return {
        "missing": sum(1 for seq in acked if seq not in counts),
        "duplicates": sum(1 for n in counts.values() if n > 1),
        "out_of_order": out_of_order,
        "log_complete": len(done) == len(ends),
    }


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--bootstrap", required=True)
    p.add_argument("--topic", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--rate", type=float, default=200.0, help="records per second")
    p.add_argument("--group", default="load-check")
    p.add_argument("--drain-seconds", type=float, default=60.0)
    return p.parse_args()


if __name__ == "__main__":
    sys.exit(main())
