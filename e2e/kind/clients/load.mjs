// Load for the roll: an idempotent kafkajs producer (acks=all, the kafkajs
// default of -1) sends numbered records one batch at a time to $TOPIC until
// SIGTERM, then prints one line: result {"acked": N, "failed": F, "firstError": ...}.
// Records 0..acked-1 are the acknowledged ones when failed is 0 (sends are
// sequential). A send counts as failed only when kafkajs gives up after its
// retries; retriable errors it retried through are fine.
import { Kafka, logLevel } from "kafkajs";

const topic = process.env.TOPIC ?? "load";
const batch = Number(process.env.BATCH ?? 20);
const kafka = new Kafka({
  clientId: "karst-kind-load",
  brokers: [process.env.BOOTSTRAP],
  logLevel: logLevel.WARN,
  retry: { retries: 30, initialRetryTime: 200, maxRetryTime: 5000 },
});
const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
let stop = false;
process.on("SIGTERM", () => { stop = true; });

await producer.connect();
let next = 0, acked = 0, failed = 0, firstError = null, lastReport = Date.now();
while (!stop) {
  const messages = [];
  for (let i = 0; i < batch; i++, next++) messages.push({ key: String(next % 64), value: String(next) });
  try {
    await producer.send({ topic, acks: -1, messages });
    acked += messages.length;
  } catch (e) {
    failed += messages.length;
    firstError ??= String(e);
    // Numbering stays dense for the verifier: a failed batch is reported, not resent.
  }
  if (Date.now() - lastReport > 2000) {
    console.log(`progress acked=${acked} failed=${failed}`);
    lastReport = Date.now();
  }
}
await producer.disconnect();
console.log(`result ${JSON.stringify({ acked, failed, sent: next, firstError })}`);
