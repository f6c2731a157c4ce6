"""Small requests of one kind at a time, for bench/callgrind-requests.sh.

Each phase sends many requests of one API (kafka-python, a client that is
not ours); the caller zeroes the broker's instruction counters before a
phase and dumps them after, when this script prints `phase NAME` and
`done NAME` and waits for a line on stdin. Request counts come from the
broker's own /metrics, so the script need not know how many the client
sent.

    requests.py BOOTSTRAP COUNT
"""

import sys
import time

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import KafkaAdminClient, NewTopic


def step(word, name):
    print(f"{word} {name}", flush=True)
    sys.stdin.readline()


def main():
    bootstrap, count = sys.argv[1], int(sys.argv[2])
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=120000)
    admin.create_topics([NewTopic("small", 1, 1)])
    admin.close()

    # Produce: one 100-byte record per request, acks=1, waited for in turn.
    producer = KafkaProducer(
        bootstrap_servers=bootstrap, acks=1, linger_ms=0, request_timeout_ms=120000
    )
    producer.send("small", b"w", partition=0).get(timeout=120)
    step("phase", "Produce")
    for _ in range(count):
        producer.send("small", b"r" * 100, partition=0).get(timeout=120)
    step("done", "Produce")
    producer.close()

    # Fetch: one small batch per request (the partition holds COUNT batches
    # of one record each; a fetch may take only one).
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap,
        max_partition_fetch_bytes=200,
        fetch_max_bytes=200,
        request_timeout_ms=120000,
        enable_auto_commit=False,
    )
    partition = TopicPartition("small", 0)
    consumer.assign([partition])
    consumer.seek(partition, 0)
    consumer.poll(timeout_ms=60000, max_records=1)
    step("phase", "Fetch")
    read = 0
    while read < count:
        read += sum(len(r) for r in consumer.poll(timeout_ms=60000, max_records=1).values())
    step("done", "Fetch")
    consumer.close()

    # Heartbeat: a group member that stops polling keeps heartbeating from
    # its background thread; nothing else is sent meanwhile.
    member = KafkaConsumer(
        "small",
        bootstrap_servers=bootstrap,
        group_id="callgrind",
        heartbeat_interval_ms=20,
        session_timeout_ms=60000,
        request_timeout_ms=120000,
        enable_auto_commit=False,
        fetch_max_wait_ms=10,
    )
    while not member.assignment():
        member.poll(timeout_ms=1000)
    member.pause(*member.assignment())
    member.poll(timeout_ms=100)
    step("phase", "Heartbeat")
    time.sleep(count * 0.02)
    step("done", "Heartbeat")
    member.close()


if __name__ == "__main__":
    main()
