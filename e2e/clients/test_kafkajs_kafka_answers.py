"""kafkajs sees Kafka's answers field by field: null error messages where
there is no error (CreateTopics, DescribeConfigs, FindCoordinator), the
synonym lists Kafka gives for topic configs, and a transactional producer
refused as unsupported rather than as a malformed request."""

import json

from conftest import run_node

SCRIPT = """
import { Kafka, logLevel } from "kafkajs";
const kafka = new Kafka({ clientId: "karst-answers", brokers: [BROKER], logLevel: logLevel.NOTHING });
const out = {};

// The raw responses, through kafkajs' own cluster and broker objects.
const createCluster = kafka[Object.getOwnPropertySymbols(kafka).find(s => s.description === "private:Kafka:createCluster")];
const cluster = createCluster({});
await cluster.connect();
await cluster.refreshMetadata();
const controller = await cluster.findControllerBroker();
out.created = await controller.createTopics({
  topics: [{ topic: "answers", numPartitions: 1, replicationFactor: 1, configEntries: [{ name: "segment.bytes", value: "1048576" }] }],
});
try {
  await controller.createTopics({ topics: [{ topic: "answers", numPartitions: 1, replicationFactor: 1 }] });
  out.createdAgain = "no error";
} catch (e) {
  out.createdAgain = { type: e.type ?? e.errors?.[0]?.type, name: e.name, message: e.message };
}
out.coordinator = await cluster.findGroupCoordinatorMetadata({ groupId: "answers-group" });
await cluster.disconnect();

const admin = kafka.admin();
await admin.connect();
out.configs = await admin.describeConfigs({
  resources: [{ type: 2, name: "answers", configNames: ["retention.ms", "segment.bytes", "cleanup.policy"] }],
  includeSynonyms: true,
});
await admin.disconnect();

const producer = kafka.producer({ transactionalId: "answers-tx", idempotent: true, maxInFlightRequests: 1 });
await producer.connect();
try {
  const transaction = await producer.transaction();
  out.transaction = "started";
  await transaction.abort();
} catch (e) {
  out.transaction = { name: e.name, type: e.type, message: e.message, retriable: e.retriable };
}
await producer.disconnect();
console.log(JSON.stringify(out));
"""


def test_kafkajs_sees_null_error_messages_kafkas_synonyms_and_unsupported_transactions(broker):
    run = run_node(SCRIPT.replace("BROKER", json.dumps(broker.bootstrap)), "answers.mjs")
    assert run.returncode == 0, run.stderr
    out = json.loads(run.stdout.strip().splitlines()[-1])

    (created,) = out["created"]["topicErrors"]
    assert created["errorCode"] == 0 and created["errorMessage"] is None, created
    assert out["createdAgain"]["type"] == "TOPIC_ALREADY_EXISTS", out["createdAgain"]

    assert out["coordinator"]["errorCode"] == 0
    assert out["coordinator"]["errorMessage"] is None, out["coordinator"]

    (resource,) = out["configs"]["resources"]
    assert resource["errorCode"] == 0 and resource["errorMessage"] is None, resource
    entries = {e["configName"]: e for e in resource["configEntries"]}
    synonyms = {
        name: [(s["configName"], s["configSource"]) for s in entries[name]["configSynonyms"]] for name in entries
    }
    # Kafka's lists: retention.ms has none while log.retention.ms is unset
    # (log.retention.hours' default is not listed); an override comes first
    # (TOPIC_CONFIG = 1), then the broker setting's default (DEFAULT_CONFIG = 5).
    assert synonyms == {
        "retention.ms": [],
        "segment.bytes": [("segment.bytes", 1), ("log.segment.bytes", 5)],
        "cleanup.policy": [("log.cleanup.policy", 5)],
    }, synonyms
    assert entries["retention.ms"]["configSource"] == 5
    assert entries["segment.bytes"]["configSource"] == 1

    refused = out["transaction"]
    assert refused["type"] == "UNSUPPORTED_VERSION", refused
    assert "malformed" not in refused["message"].lower(), refused
    assert broker.ready()
