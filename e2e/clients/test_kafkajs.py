"""The tutorial's kafkajs code, unchanged apart from the broker address,
and the kafkajs admin client."""

import json

from conftest import run_node, tutorial_script

ADMIN = """
import { Kafka, logLevel } from "kafkajs";
const kafka = new Kafka({ clientId: "karst-admin-test", brokers: [BROKER], logLevel: logLevel.NOTHING });
const admin = kafka.admin();
await admin.connect();
const out = {};
out.topicsBefore = (await admin.listTopics()).sort();
out.metadata = await admin.fetchTopicMetadata({ topics: ["test"] });
out.offsets = await admin.fetchTopicOffsets("test");
out.created = await admin.createTopics({ topics: [{ topic: "admin-made", numPartitions: 2, configEntries: [{ name: "retention.ms", value: "3600000" }] }] });
out.createdAgain = await admin.createTopics({ topics: [{ topic: "admin-made", numPartitions: 2 }] });
await admin.createPartitions({ topicPartitions: [{ topic: "admin-made", count: 4 }] });
out.grown = await admin.fetchTopicMetadata({ topics: ["admin-made"] });
out.configs = await admin.describeConfigs({ resources: [{ type: 2, name: "admin-made", configNames: ["retention.ms", "cleanup.policy"] }], includeSynonyms: false });
await admin.deleteTopics({ topics: ["admin-made"] });
out.topicsAfter = (await admin.listTopics()).sort();
await admin.disconnect();
console.log(JSON.stringify(out));
"""


def test_tutorial_producer_sends_and_admin_client_sees_it(broker):
    producer = tutorial_script("producter.js").replace("localhost:9092", broker.bootstrap)
    assert "connection.producer()" in producer, "the tutorial's producer code was found"
    sent = run_node(producer, "producer.mjs")
    assert sent.returncode == 0, sent.stderr

    admin = run_node(ADMIN.replace("BROKER", json.dumps(broker.bootstrap)), "admin.mjs")
    assert admin.returncode == 0, admin.stderr
    out = json.loads(admin.stdout.strip().splitlines()[-1])
    assert "test" in out["topicsBefore"]
    topic = out["metadata"]["topics"][0]
    assert topic["name"] == "test" and len(topic["partitions"]) == 1
    # The tutorial's one message is at offset 0: the high watermark is 1.
    assert out["offsets"] == [{"partition": 0, "offset": "1", "high": "1", "low": "0"}]
    assert out["created"] is True
    assert out["createdAgain"] is False, "creating an existing topic reports false"
    assert len(out["grown"]["topics"][0]["partitions"]) == 4
    entries = {e["configName"]: e for e in out["configs"]["resources"][0]["configEntries"]}
    assert entries["retention.ms"]["configValue"] == "3600000"
    assert entries["retention.ms"]["isDefault"] is False
    assert entries["cleanup.policy"]["configValue"] == "delete"
    assert "admin-made" not in out["topicsAfter"]
