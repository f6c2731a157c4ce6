"""A follower that was away while its leader's log start moved past
everything it holds (DeleteRecords here; retention does the same) cannot
catch up by fetching: it restarts its log at the leader's log start, as
Kafka's follower does, and rejoins the ISR."""

from confluent_kafka import Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from cluster import FAST_FENCING, Cluster
from conftest import wait_until

TOPIC = "far-behind"


def isr(admin):
    return sorted(admin.list_topics(TOPIC, timeout=10).topics[TOPIC].partitions[0].isrs)


def produce(bootstrap, count):
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 5})
    for i in range(count):
        producer.produce(TOPIC, value=b"x" * 1000)
        producer.poll(0)
    assert producer.flush(60) == 0


def test_a_follower_behind_the_leaders_log_start_restarts_there_and_rejoins_the_isr(tmp_path):
    cluster = Cluster(tmp_path, overrides=FAST_FENCING | {"replica.lag.time.max.ms": "4000"}).start()
    try:
        admin = AdminClient({"bootstrap.servers": cluster.bootstrap})
        topic = NewTopic(TOPIC, 1, 3, config={"segment.bytes": "20000"})
        admin.create_topics([topic])[TOPIC].result(timeout=30)
        produce(cluster.bootstrap, 100)
        wait_until(lambda: isr(admin) == [1, 2, 3], what="every replica in sync")

        away = next(n for n in cluster.nodes if n.node_id == 3)
        away.stop()
        wait_until(lambda: isr(admin) == [1, 2], what="broker 3 out of the ISR")
        produce(",".join(n.bootstrap for n in cluster.nodes if n is not away), 1000)
        deleted = admin.delete_records([TopicPartition(TOPIC, 0, 900)])
        low = deleted[TopicPartition(TOPIC, 0, 900)].result(timeout=30)
        assert low.low_watermark == 900, low.low_watermark

        away.start()
        wait_until(lambda: isr(admin) == [1, 2, 3], timeout=60, what="broker 3 back in the ISR")
        assert "log restarted at the leader's start" in away.log_path.read_text()
        # Broker 3 starts where the leader's first remaining segment does (its
        # first batch holds offset 900), not at offset 0.
        def first_base(node):
            return min(int(p.stem) for p in (node.data_dir / f"{TOPIC}-0").glob("*.log"))
        leader = next(n for n in cluster.nodes if n.node_id == 1)
        assert 0 < first_base(away) == first_base(leader) <= 900, (first_base(away), first_base(leader))
    finally:
        for n in cluster.nodes:
            if n.proc.poll() is None:
                n.stop()
