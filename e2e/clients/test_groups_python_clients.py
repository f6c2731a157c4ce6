"""Issue 3: kafka-python's KafkaConsumer(group_id=...) and aiokafka consume
with a consumer group (JoinGroup/SyncGroup/OffsetCommit/OffsetFetch)."""

FAST_GROUPS = {"group.initial.rebalance.delay.ms": "0"}


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
