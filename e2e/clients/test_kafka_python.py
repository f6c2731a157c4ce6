"""kafka-python: produce, then read back with an assigned partition."""

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import KafkaAdminClient, NewTopic


def test_kafka_python_produces_and_reads_back_an_assigned_partition(broker):
    admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
    admin.create_topics([NewTopic("py-topic", num_partitions=2, replication_factor=1)])
    admin.close()

    # kafka-python 3 turns idempotence on by default against a new broker.
    producer = KafkaProducer(bootstrap_servers=broker.bootstrap, acks="all")
    futures = [producer.send("py-topic", key=b"k", value=f"msg-{i}".encode(), partition=1) for i in range(500)]
    producer.flush()
    offsets = [f.get(timeout=30).offset for f in futures]
    assert offsets == list(range(500))
    producer.close()

    consumer = KafkaConsumer(bootstrap_servers=broker.bootstrap, enable_auto_commit=False, consumer_timeout_ms=5000)
    tp = TopicPartition("py-topic", 1)
    consumer.assign([tp])
    consumer.seek_to_beginning(tp)
    got = [m.value.decode() for m in consumer]
    consumer.close()
    assert got == [f"msg-{i}" for i in range(500)]
