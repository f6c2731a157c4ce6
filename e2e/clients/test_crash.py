"""kill -9 while a producer sends with acks=all: after a restart on the same
data directory, every acknowledged record is there, once, in order."""

import threading
import time

from confluent_kafka import Consumer, Producer, TopicPartition

from conftest import wait_until


def test_acknowledged_records_survive_kill_9(broker):
    producer = Producer({
        "bootstrap.servers": broker.bootstrap,
        "acks": "all",
        "linger.ms": 1,
        "message.timeout.ms": 60000,
        "retries": 0,
    })
    acked = []
    lock = threading.Lock()

    def on_delivery(err, msg):
        if err is None:
            with lock:
                assert msg.key() == msg.value()
                acked.append((msg.offset(), int(msg.value())))

    # Topic exists before the crash, so nothing depends on auto-creation timing.
    producer.produce("crash", key=b"-1", value=b"-1", on_delivery=on_delivery)
    assert producer.flush(30) == 0

    stop = threading.Event()

    def send():
        i = 0
        while not stop.is_set():
            try:
                producer.produce("crash", key=str(i).encode(), value=str(i).encode(), on_delivery=on_delivery)
                i += 1
            except BufferError:
                pass
            producer.poll(0.001)

    sender = threading.Thread(target=send)
    sender.start()
    wait_until(lambda: len(acked) > 2000, timeout=60, what="2000 acknowledged records")
    broker.kill9()
    stop.set()
    sender.join()
    producer.flush(5)  # delivery reports of what was in flight: failures, not acks
    with lock:
        acknowledged = sorted(acked)
    assert len(acknowledged) > 2000

    broker.restart()
    consumer = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "unused", "enable.auto.commit": False})
    consumer.assign([TopicPartition("crash", 0, 0)])
    stored = []
    deadline = time.monotonic() + 60
    last = acknowledged[-1][0]
    while (not stored or stored[-1][0] < last) and time.monotonic() < deadline:
        for m in consumer.consume(num_messages=10000, timeout=1.0):
            assert m.error() is None, m.error()
            assert m.key() == m.value(), (m.offset(), m.key(), m.value())
            stored.append((m.offset(), int(m.value())))
    consumer.close()
    stored_by_offset = dict(stored)
    # Every acknowledged record is stored at the offset it was acknowledged with.
    missing = [(o, v) for o, v in acknowledged if stored_by_offset.get(o) != v]
    assert not missing, f"{len(missing)} acknowledged records lost, e.g. {missing[:5]}"
    # Once and in order: offsets are dense and values never repeat.
    assert [o for o, _ in stored] == list(range(len(stored)))
    values = [v for _, v in stored]
    assert len(values) == len(set(values)), "no record is stored twice"
    assert values == sorted(values), "records are stored in the order they were sent"
