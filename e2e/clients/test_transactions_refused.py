"""A transactional producer is refused with the error a Kafka broker gives
for a feature it does not have enabled (UNSUPPORTED_VERSION), not a
"malformed request"; the broker stays up and serves other producers."""

import pytest
from confluent_kafka import KafkaError, KafkaException, Producer


def test_init_transactions_fails_as_unsupported_and_the_broker_keeps_serving(broker):
    producer = Producer({"bootstrap.servers": broker.bootstrap, "transactional.id": "orders-tx"})
    # librdkafka retries any InitProducerId error but a handful of fatal ones
    # until init_transactions' own timeout, then reports the broker's error.
    with pytest.raises(KafkaException) as refused:
        producer.init_transactions(5)
    error = refused.value.args[0]
    assert error.code() == KafkaError.UNSUPPORTED_VERSION, error
    assert error.str() == "Failed to initialize Producer ID: Broker: API version not supported", error.str()
    assert "malformed" not in error.str().lower()
    assert "not supported yet" in broker.log_path.read_text()

    # The broker still serves an idempotent producer.
    plain = Producer({"bootstrap.servers": broker.bootstrap, "enable.idempotence": True})
    delivered = []
    plain.produce("after-txn", value=b"v", on_delivery=lambda err, msg: delivered.append(err))
    assert plain.flush(30) == 0 and delivered == [None], delivered
    assert broker.ready()
