// Reads $TOPIC from the beginning with a fresh group until every record
// 0..$EXPECT-1 has been seen (or $TIMEOUT_SECONDS pass), then prints one line,
// `result {"expected", "seen", "missing", "duplicates"}`.
import { Kafka, logLevel } from "kafkajs";

const topic = process.env.TOPIC ?? "load";
const expect = Number(process.env.EXPECT);
const kafka = new Kafka({ clientId: "karst-kind-verify", brokers: [process.env.BOOTSTRAP], logLevel: logLevel.WARN });
const consumer = kafka.consumer({ groupId: `verify-${Date.now()}` });
const seen = new Uint8Array(expect);
let distinct = 0, duplicates = 0;
let done;
const finished = new Promise((resolve) => { done = resolve; });

await consumer.connect();
await consumer.subscribe({ topic, fromBeginning: true });
await consumer.run({
  eachMessage: async ({ message }) => {
    const n = Number(message.value.toString());
    if (n >= expect) return;
    if (seen[n]) duplicates++; else { seen[n] = 1; distinct++; }
    if (distinct === expect) done();
  },
});
if (expect === 0) done();
const timer = setTimeout(done, Number(process.env.TIMEOUT_SECONDS ?? 300) * 1000);
await finished;
clearTimeout(timer);
await consumer.disconnect();
console.log(`result ${JSON.stringify({ expected: expect, seen: distinct, missing: expect - distinct, duplicates })}`);
