"""Issue 3: the tutorial's consumer.js (group "test-group", fromBeginning),
unchanged apart from the broker address, prints the message that the
tutorial's producer.js sent."""

import subprocess
import threading

from conftest import HERE, node_script, run_node, tutorial_script, wait_until


def test_tutorial_consumer_prints_what_the_tutorial_producer_sent(broker):
    producer = tutorial_script("producter.js").replace("localhost:9092", broker.bootstrap)
    sent = run_node(producer, "producer.mjs")
    assert sent.returncode == 0, sent.stderr

    consumer = tutorial_script("consumer.js").replace("localhost:9092", broker.bootstrap)
    path = node_script(consumer, "consumer.mjs")
    proc = subprocess.Popen(["node", str(path)], cwd=HERE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines = []
    reader = threading.Thread(target=lambda: lines.extend(iter(proc.stdout.readline, "")), daemon=True)
    reader.start()
    try:
        wait_until(lambda: any("测试kafka所发送的消息" in line for line in lines), timeout=60,
                   what="consumer.js to print the tutorial's message")
    finally:
        proc.kill()
        proc.wait()
    printed = "".join(lines)
    assert "topic: 'test'" in printed and "partition: '0'" in printed, printed
