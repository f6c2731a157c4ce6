"""The karst binary on a full disk (a small tmpfs the test mounts; it needs
root, as CI has): /readyz says why it is not ready, a SIGTERM whose flush
fails exits non-zero without the clean-shutdown marker, and the next start
on the still-full disk recovers every acknowledged record."""

import os
import signal
import subprocess
import urllib.error
import urllib.request

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from conftest import Broker, wait_until


@pytest.fixture
def small_disk(tmp_path):
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(mount_point)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.fail(f"mounting a tmpfs failed (this test needs root, as CI has): {done.stderr}")
    yield mount_point
    subprocess.run(["umount", "-l", str(mount_point)])


def fill(disk) -> None:
    with open(disk / "filler", "ab", buffering=0) as f:
        for chunk in (64 * 1024, 4096, 1):
            data = b"\0" * chunk
            try:
                while True:
                    f.write(data)
            except OSError:
                pass
    stats = os.statvfs(disk)
    assert stats.f_bavail == 0


def readyz(broker):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{broker.http_port}/readyz", timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def test_a_failed_flush_at_sigterm_exits_non_zero_and_acked_records_survive(small_disk, tmp_path):
    broker = Broker(small_disk / "data")
    broker.log_path = tmp_path / "karst.log"  # the log itself off the full disk
    broker.start()
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    admin.create_topics([NewTopic("acked", 1, 1)])["acked"].result(timeout=30)
    producer = Producer({"bootstrap.servers": broker.bootstrap, "acks": "all"})
    errors = []
    for i in range(10):
        producer.produce("acked", value=f"v{i}".encode(), on_delivery=lambda err, msg: errors.append(err))
    assert producer.flush(30) == 0 and errors == [None] * 10

    fill(small_disk)
    wait_until(lambda: readyz(broker)[0] == 503 and "disk full" in readyz(broker)[1],
               what="/readyz to report the full disk")
    broker.proc.send_signal(signal.SIGTERM)
    assert broker.proc.wait(timeout=30) != 0
    assert not (small_disk / "data" / ".karst_clean_shutdown").exists()

    # Still full: it starts anyway (serving, not ready), recovering the logs.
    broker.start(probe="healthz")
    wait_until(lambda: readyz(broker)[0] == 503, what="/readyz to report the full disk after the restart")
    consumer = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "g",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})
    consumer.assign([TopicPartition("acked", 0, 0)])
    values = []
    while len(values) < 10:
        msg = consumer.poll(30)
        assert msg is not None, f"only {values} came back"
        assert msg.error() is None, msg.error()
        values.append(msg.value())
    consumer.close()
    assert values == [f"v{i}".encode() for i in range(10)]
    os.remove(small_disk / "filler")
    wait_until(lambda: readyz(broker)[0] == 200, what="/readyz to recover")
    broker.stop()
