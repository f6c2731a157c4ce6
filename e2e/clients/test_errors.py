"""Bad requests get the error code a Kafka broker would send, and the broker
stays up: unknown topic without auto-creation, invalid topic names, records
over max.message.bytes, keyless records on a compacted topic, an unknown
ApiVersions version, an oversized frame."""

import socket
import struct

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic


def still_serving(broker):
    """A follow-up produce and fetch round trip works."""
    producer = Producer({"bootstrap.servers": broker.bootstrap, "acks": "all"})
    errors = []
    producer.produce("alive", value=b"still here", on_delivery=lambda e, m: e and errors.append(e))
    assert producer.flush(30) == 0 and not errors, errors
    consumer = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "unused", "enable.auto.commit": False})
    consumer.assign([TopicPartition("alive", 0, 0)])
    got = None
    for _ in range(30):
        m = consumer.poll(1.0)
        if m is not None and m.error() is None:
            got = m.value()
            break
    consumer.close()
    assert got == b"still here"
    assert broker.ready()


def test_unknown_topic_without_auto_create_is_unknown_topic_or_partition(broker_factory):
    broker = broker_factory(**{"auto.create.topics.enable": "false"})
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    # Metadata for one named topic (librdkafka sends Metadata v12 here).
    metadata = admin.list_topics(topic="no-such-topic", timeout=10)
    topic = metadata.topics["no-such-topic"]
    assert topic.error is not None and topic.error.code() == KafkaError.UNKNOWN_TOPIC_OR_PART, topic.error
    # It was not created as a side effect.
    assert "no-such-topic" not in admin.list_topics(timeout=10).topics

    # A producer gives up on it (librdkafka reports its local unknown-topic
    # error once metadata keeps saying UNKNOWN_TOPIC_OR_PARTITION).
    producer = Producer({"bootstrap.servers": broker.bootstrap, "topic.metadata.propagation.max.ms": 1000,
                         "message.timeout.ms": 10000})
    errors = []
    producer.produce("no-such-topic", value=b"x", on_delivery=lambda e, m: errors.append(e))
    producer.flush(20)
    assert len(errors) == 1 and errors[0] is not None
    assert errors[0].code() in (KafkaError.UNKNOWN_TOPIC_OR_PART, KafkaError._UNKNOWN_TOPIC), errors[0]

    admin.create_topics([NewTopic("alive", 1, 1)])["alive"].result(30)
    still_serving(broker)


@pytest.mark.parametrize("name", ["bad name", "bad/name", "a" * 250, ".."])
def test_invalid_topic_names_are_invalid_topic_exception(broker, name):
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    with pytest.raises(KafkaException) as failure:
        admin.create_topics([NewTopic(name, 1, 1)])[name].result(30)
    assert failure.value.args[0].code() == KafkaError.TOPIC_EXCEPTION, failure.value  # 17 INVALID_TOPIC_EXCEPTION
    # Metadata with auto-creation for the same name: the same error, no topic.
    metadata = admin.list_topics(topic=name, timeout=10)
    error = metadata.topics[name].error
    assert error is not None and error.code() == KafkaError.TOPIC_EXCEPTION, error
    still_serving(broker)


def test_record_over_max_message_bytes_is_message_too_large(broker):
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    admin.create_topics([NewTopic("small", 1, 1, config={"max.message.bytes": "10000"})])["small"].result(30)
    # The client allows far larger records, so the broker is the one refusing.
    producer = Producer({"bootstrap.servers": broker.bootstrap, "message.max.bytes": 1_000_000,
                         "compression.type": "none", "acks": "all"})
    results = []
    # Separate batches: the broker refuses a whole batch.
    producer.produce("small", value=b"x" * 50_000, on_delivery=lambda e, m: results.append(e))
    producer.flush(30)
    producer.produce("small", value=b"fits", on_delivery=lambda e, m: results.append(e))
    producer.flush(30)
    assert len(results) == 2
    assert results[0] is not None and results[0].code() == KafkaError.MSG_SIZE_TOO_LARGE, results[0]
    assert results[1] is None, results[1]
    admin.create_topics([NewTopic("alive", 1, 1)])["alive"].result(30)
    still_serving(broker)


def test_keyless_record_on_a_compacted_topic_is_invalid_record(broker):
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    admin.create_topics([NewTopic("compacted", 1, 1, config={"cleanup.policy": "compact"})])["compacted"].result(30)
    producer = Producer({"bootstrap.servers": broker.bootstrap, "acks": "all"})
    results = []
    producer.produce("compacted", value=b"no key", on_delivery=lambda e, m: results.append(e))
    producer.flush(30)
    producer.produce("compacted", key=b"k", value=b"keyed", on_delivery=lambda e, m: results.append(e))
    producer.flush(30)
    assert len(results) == 2
    assert results[0] is not None and results[0].code() == KafkaError.INVALID_RECORD, results[0]
    assert results[1] is None, results[1]
    # Only the keyed record is in the log, at offset 0.
    consumer = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "unused", "enable.auto.commit": False})
    consumer.assign([TopicPartition("compacted", 0, 0)])
    got = []
    for _ in range(30):
        m = consumer.poll(1.0)
        if m is not None and m.error() is None:
            got.append((m.offset(), m.key(), m.value()))
            break
    consumer.close()
    assert got == [(0, b"k", b"keyed")]


def kafka_request(sock, api_key, api_version, correlation_id, body=b""):
    """Sends a request with header v1 (non-flexible) and returns the response body."""
    client_id = b"karst-e2e"
    header = struct.pack(">hhih", api_key, api_version, correlation_id, len(client_id)) + client_id
    payload = header + body
    sock.sendall(struct.pack(">i", len(payload)) + payload)
    size = struct.unpack(">i", recv_exact(sock, 4))[0]
    return recv_exact(sock, size)


def recv_exact(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError("connection closed")
        data += chunk
    return data


def test_unknown_api_versions_version_gets_v0_unsupported_version(broker):
    with socket.create_connection(("127.0.0.1", broker.port), timeout=10) as sock:
        response = kafka_request(sock, 18, 999, 7)
        correlation_id, error_code, count = struct.unpack(">ihi", response[:10])
        assert correlation_id == 7
        assert error_code == 35, "UNSUPPORTED_VERSION"
        # v0 body: an array of (api_key, min, max) int16 triples, ApiVersions among them.
        apis = [struct.unpack(">hhh", response[10 + 6 * i: 16 + 6 * i]) for i in range(count)]
        assert len(response) == 10 + 6 * count
        assert any(key == 18 and low == 0 and high >= 3 for key, low, high in apis), apis
        # The connection stays usable: a supported version (v0) answers normally.
        response = kafka_request(sock, 18, 0, 8)
        assert struct.unpack(">ih", response[:6]) == (8, 0)


def test_oversized_frame_closes_that_connection_only(broker):
    with socket.create_connection(("127.0.0.1", broker.port), timeout=10) as sock:
        sock.sendall(struct.pack(">i", 0x7FFF_FFFF) + b"\x00" * 64)
        sock.settimeout(10)
        try:
            assert sock.recv(1) == b"", "the broker closes the connection"
        except ConnectionResetError:
            pass
    with socket.create_connection(("127.0.0.1", broker.port), timeout=10) as sock:
        sock.sendall(struct.pack(">i", 3) + b"\x00\x12\x00")  # truncated header
        sock.settimeout(10)
        try:
            assert sock.recv(1) == b"", "a malformed frame closes the connection"
        except ConnectionResetError:
            pass
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    admin.create_topics([NewTopic("alive", 1, 1)])["alive"].result(30)
    still_serving(broker)
