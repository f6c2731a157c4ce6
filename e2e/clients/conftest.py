"""Starts the real `karst` binary for client tests and stops it again.

The broker under test is `$KARST_BIN`, or `target/debug/karst` of this
repository. Every test gets its own data directory and free ports.
"""

import os
import pathlib
import resource
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request

import pytest

HERE = pathlib.Path(__file__).resolve().parent
REPO = HERE.parent.parent
SEED = REPO.parent / "shared" / "seed" / "000_64fc9b0151cb7bed.txt"


def karst_bin() -> pathlib.Path:
    path = pathlib.Path(os.environ.get("KARST_BIN", REPO / "target" / "debug" / "karst"))
    if not path.exists():
        pytest.fail(f"karst binary not found at {path}: build it with `cargo build -p karst-broker` or set KARST_BIN")
    return path


_handed_out = set()


def free_port() -> int:
    """A free loopback port, never the same one twice in this test run."""
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in _handed_out:
            _handed_out.add(port)
            return port


def wait_until(condition, timeout=30.0, interval=0.05, what="condition"):
    """Polls `condition` until it returns a truthy value, or fails the test."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


class Broker:
    """One `karst` process on loopback, restartable on the same data and port."""

    def __init__(self, data_dir: pathlib.Path, overrides=None, nofile=None):
        self.data_dir = data_dir
        self.nofile = nofile  # RLIMIT_NOFILE (soft and hard) of the process, if set
        self.port = free_port()
        self.http_port = free_port()
        self.overrides = dict(overrides or {})
        self.proc = None
        self.killed = False  # set by kill9(); a process that died otherwise fails the test
        self.log_path = data_dir.parent / f"karst-{self.port}.log"

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, probe="readyz"):
        """Starts the process and waits until `probe` (/readyz, or /healthz
        for a broker that serves but is not ready, such as on a full disk)
        answers 200."""
        self.launch()
        return self.wait_ready(probe)

    def wait_ready(self, probe="readyz"):
        wait_until(lambda: self.ready(probe), timeout=30, what=f"broker /{probe} (log: {self.log_path})")
        return self

    def launch(self):
        """Starts the process without waiting for it (several cluster nodes
        must start together: each waits for a quorum)."""
        args = [
            str(karst_bin()),
            "--override", f"listeners=PLAINTEXT://127.0.0.1:{self.port}",
            "--override", f"log.dirs={self.data_dir}",
            "--override", f"karst.http.listener=127.0.0.1:{self.http_port}",
        ]
        for key, value in self.overrides.items():
            args += ["--override", f"{key}={value}"]
        log = open(self.log_path, "ab")
        env = {k: v for k, v in os.environ.items() if not k.startswith("KARST_") or k == "KARST_LOG"}
        self.killed = False
        limit = None
        if self.nofile:
            nofile = self.nofile
            limit = lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))  # noqa: E731
        self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=env, preexec_fn=limit)
        return self

    def ready(self, probe="readyz") -> bool:
        if self.proc.poll() is not None:
            pytest.fail(f"karst exited with {self.proc.returncode}; log:\n{self.log_path.read_text()[-4000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.http_port}/{probe}", timeout=1) as r:
                return r.status == 200
        except OSError:
            return False

    def metrics(self) -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.http_port}/metrics", timeout=5) as r:
            return r.read().decode()

    def stop(self):
        """SIGTERM: a clean shutdown that must exit 0."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            code = self.proc.wait(timeout=30)
            assert code == 0, f"karst exited with {code} on SIGTERM; log:\n{self.log_path.read_text()[-4000:]}"

    def kill9(self):
        self.killed = True
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def restart(self):
        return self.start()


@pytest.fixture
def broker_factory(tmp_path):
    brokers = []

    def make(nofile=None, **overrides):
        b = Broker(tmp_path / f"data-{len(brokers)}", overrides, nofile=nofile).start()
        brokers.append(b)
        return b

    yield make
    crashed = []
    for b in brokers:
        if b.proc and b.proc.poll() is None:
            b.stop()
        elif b.proc and not b.killed:
            crashed.append(f"karst exited by itself with {b.proc.returncode}; log:\n{b.log_path.read_text()[-4000:]}")
    assert not crashed, "\n".join(crashed)


@pytest.fixture
def broker(broker_factory):
    return broker_factory()


def tutorial_script(name: str) -> str:
    """The code block that follows `### <name>` in the tutorial, verbatim."""
    text = SEED.read_text(encoding="utf-8")
    start = text.index(f"### {name}")
    block = text.index("```js", start) + len("```js")
    end = text.index("```", block)
    return text[block:end]


def node_script(script: str, name: str) -> pathlib.Path:
    """Writes an ES-module script into a fresh temporary directory inside
    e2e/clients, so that `kafkajs` resolves from e2e/clients/node_modules."""
    base = HERE / ".run"
    base.mkdir(exist_ok=True)
    path = pathlib.Path(tempfile.mkdtemp(dir=base)) / name
    path.write_text(script, encoding="utf-8")
    return path


def run_node(script: str, name: str, timeout=60, **kwargs) -> subprocess.CompletedProcess:
    """Runs an ES-module script with node to completion."""
    path = node_script(script, name)
    return subprocess.run(["node", str(path)], cwd=HERE, capture_output=True, text=True, timeout=timeout, **kwargs)


def pytest_sessionstart(session):
    """Scripts of earlier runs are thrown away."""
    shutil.rmtree(HERE / ".run", ignore_errors=True)
