"""Issue 3: a confluent-kafka group consumer commits manually after reading
half a topic; the broker is killed (-9) and restarted on the same data; a new
consumer in the group resumes exactly at the committed offset."""

import time

from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, NewTopic

FAST_GROUPS = {"group.initial.rebalance.delay.ms": "0"}


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
    # The restarted coordinator remembers the group's members (as Kafka
    # does), so the first consumer would keep its partition: it leaves now,
    # without committing what it fetched beyond the commit.
    first.close()

    second = consumer()
    second.subscribe(["resume"])
    resumed = None
    deadline = time.monotonic() + 60
    while resumed is None and time.monotonic() < deadline:
        m = second.poll(0.5)
        if m is not None and m.error() is None:
            resumed = m
    second.close()
    assert resumed is not None
    assert resumed.offset() == 500 and int(resumed.value()) == 500
