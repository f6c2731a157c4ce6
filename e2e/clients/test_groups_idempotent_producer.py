"""An idempotent librdkafka producer (enable.idempotence=true) writes each
record exactly once, in order."""

from confluent_kafka import Consumer, Producer, TopicPartition


def test_idempotent_producer_writes_each_record_once(broker):
    producer = Producer({
        "bootstrap.servers": broker.bootstrap,
        "enable.idempotence": True,
        "linger.ms": 2,
        "max.in.flight.requests.per.connection": 5,
    })
    errors = []
    for i in range(20_000):
        while True:
            try:
                producer.produce("idem", value=str(i).encode(), on_delivery=lambda e, m: e and errors.append(e))
                break
            except BufferError:
                producer.poll(0.05)
        producer.poll(0)
    assert producer.flush(60) == 0
    assert not errors, errors[:3]

    consumer = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "unused", "enable.auto.commit": False})
    consumer.assign([TopicPartition("idem", 0, 0)])
    values = []
    while len(values) < 20_000:
        batch = consumer.consume(num_messages=10_000, timeout=5.0)
        if not batch:
            break
        values += [int(m.value()) for m in batch if m.error() is None]
    consumer.close()
    assert values == list(range(20_000))
