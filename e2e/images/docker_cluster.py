"""Three broker containers on a user-defined Docker network form one
cluster (issue 12): the quorum voters are the containers' DNS names on the
network; each advertises its fixed address on it, which the host reaches.
Under an idempotent acks=all load to an RF=3 topic, one container is
`docker kill`ed and started again: nothing acknowledged is lost, nothing is
stored twice, and the restarted broker rejoins every ISR under the same
name, with the data its volume kept.

Usage: docker_cluster.py IMAGE   (run by e2e/images/check.sh, with a Docker
engine answering; confluent-kafka from the e2e/clients venv)."""

import os
import subprocess
import sys
import threading
import time

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

IMAGE = sys.argv[1]
TAG = f"karst-dc-{os.getpid()}"
SUBNET = "172.31.77"
NODES = (1, 2, 3)
TOPIC, PARTITIONS = "docker-durable", 3


def docker(*args, check=True):
    out = subprocess.run(["docker", *args], capture_output=True, text=True)
    if check and out.returncode != 0:
        sys.exit(f"docker {' '.join(args)} failed: {out.stderr}")
    return out.stdout.strip()


def address(i):
    return f"{SUBNET}.1{i}:9092"


def wait_until(what, check, timeout=90):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except Exception:  # noqa: BLE001 - retried until the deadline
            pass
        time.sleep(0.2)
    for i in NODES:
        print(docker("logs", "--tail", "30", f"{TAG}-{i}", check=False), file=sys.stderr)
    sys.exit(f"timed out waiting for {what}")


def start(i):
    voters = ",".join(f"{n}@kafka-{n}:9093" for n in NODES)
    env = {
        "KARST_NODE_ID": str(i),
        "KARST_PROCESS_ROLES": "broker,controller",
        "KARST_CLUSTER_ID": TAG,
        "KARST_LISTENERS": "PLAINTEXT://0.0.0.0:9092,CONTROLLER://0.0.0.0:9093",
        "KARST_ADVERTISED_LISTENERS": f"PLAINTEXT://{address(i)}",
        "KARST_CONTROLLER_LISTENER_NAMES": "CONTROLLER",
        "KARST_CONTROLLER_QUORUM_VOTERS": voters,
        "KARST_BROKER_SESSION_TIMEOUT_MS": "3000",
        "KARST_BROKER_HEARTBEAT_INTERVAL_MS": "500",
    }
    args = ["run", "-d", "--name", f"{TAG}-{i}", "--hostname", f"kafka-{i}",
            "--network", TAG, "--network-alias", f"kafka-{i}", "--ip", f"{SUBNET}.1{i}",
            "--read-only", "--tmpfs", "/tmp", "-v", f"{TAG}-{i}:/var/lib/karst"]
    for k, v in env.items():
        args += ["-e", f"{k}={v}"]
    docker(*args, IMAGE)


def partitions(admin):
    meta = admin.list_topics(TOPIC, timeout=5).topics[TOPIC]
    return {p.id: (p.leader, sorted(p.isrs)) for p in meta.partitions.values()}


def main():
    docker("network", "create", "--subnet", f"{SUBNET}.0/24", TAG)
    try:
        for i in NODES:
            start(i)
        bootstrap = ",".join(address(i) for i in NODES)
        admin = AdminClient({"bootstrap.servers": bootstrap})
        wait_until("three live brokers", lambda: len(admin.list_topics(timeout=5).brokers) == 3)
        futures = admin.create_topics([NewTopic(TOPIC, PARTITIONS, 3, config={"min.insync.replicas": "2"})])
        futures[TOPIC].result(timeout=60)
        wait_until("every replica in sync", lambda: all(len(isr) == 3 for _, isr in partitions(admin).values()))

        acked, failed, stop = [], [], threading.Event()

        def produce():
            producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "enable.idempotence": True,
                                 "linger.ms": 5, "message.timeout.ms": 120000})
            i = 0
            while not stop.is_set():
                try:
                    producer.produce(TOPIC, value=str(i).encode(),
                                     on_delivery=lambda err, m: (failed if err else acked).append(err or m.value()))
                    i += 1
                except BufferError:
                    pass
                producer.poll(0.002)
            producer.flush(120)

        writer = threading.Thread(target=produce)
        writer.start()
        try:
            wait_until("some acknowledged records", lambda: len(acked) > 500)
            victim = partitions(admin)[0][0]
            docker("kill", f"{TAG}-{victim}")
            wait_until("a new leader for partition 0", lambda: partitions(admin)[0][0] not in (-1, victim))
            docker("start", f"{TAG}-{victim}")
            wait_until("the restarted broker back in every ISR",
                       lambda: all(len(isr) == 3 for _, isr in partitions(admin).values()))
            wait_until("more acknowledged records", lambda: len(acked) > 2000)
        finally:
            stop.set()
            writer.join(180)
        if failed:
            sys.exit(f"{len(failed)} failed sends, first: {failed[:3]}")
        consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"{TAG}-reader",
                             "auto.offset.reset": "earliest", "enable.auto.commit": False})
        consumer.assign([TopicPartition(TOPIC, p, 0) for p in range(PARTITIONS)])
        seen, deadline = [], time.monotonic() + 90
        while len(seen) < len(acked) and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is not None and not msg.error():
                seen.append(msg.value())
        consumer.close()
        if sorted(seen) != sorted(acked):
            sys.exit(f"{len(seen)} records read, {len(acked)} acknowledged")
        names = docker("inspect", "-f", "{{.Config.Hostname}}", f"{TAG}-{victim}")
        print(f"docker cluster: 3 containers (voters by DNS name), broker {victim} ({names}) killed and "
              f"restarted on its volume under an acks=all load: {len(acked)} acknowledged, all read once, "
              f"0 failed sends; it rejoined every ISR")
    finally:
        for i in NODES:
            docker("rm", "-f", f"{TAG}-{i}", check=False)
            docker("volume", "rm", f"{TAG}-{i}", check=False)
        docker("network", "rm", TAG, check=False)


main()
