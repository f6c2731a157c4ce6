"""kcat (librdkafka 2.0.2 from Debian): metadata listing, and 10,000 lines
produced and consumed back. Old librdkafka mis-skips tagged fields, so this
also guards against responses carrying any."""

import shutil
import subprocess

import pytest

LINES = 10_000


def kcat(*args, input=None, timeout=60):
    path = shutil.which("kcat")
    if path is None:
        pytest.fail("kcat is not installed (apt-get install kcat)")
    return subprocess.run([path, *args], input=input, capture_output=True, text=True, timeout=timeout)


def test_kcat_lists_metadata_and_round_trips_ten_thousand_lines(broker):
    listing = kcat("-b", broker.bootstrap, "-L")
    assert listing.returncode == 0, listing.stderr
    assert "1 brokers:" in listing.stdout
    assert f"broker 1 at 127.0.0.1:{broker.port}" in listing.stdout

    lines = "".join(f"line {i}\n" for i in range(LINES))
    produced = kcat("-b", broker.bootstrap, "-t", "kcat-lines", "-P", input=lines)
    assert produced.returncode == 0, produced.stderr

    consumed = kcat("-b", broker.bootstrap, "-t", "kcat-lines", "-C", "-o", "beginning", "-e", "-q")
    assert consumed.returncode == 0, consumed.stderr
    assert consumed.stdout == lines

    listing = kcat("-b", broker.bootstrap, "-L", "-t", "kcat-lines")
    assert 'topic "kcat-lines" with 1 partitions' in listing.stdout
