#!/usr/bin/env bash
# The whole Karst test suite: formatting, lints, Rust unit and integration
# tests (the operator's against a real API server), then real Kafka clients
# (kafkajs, confluent-kafka, kafka-python, kcat) against the real broker.
# Installs the clients it needs into e2e/clients (npm, a Python venv); kcat
# comes from apt (see .ci/run). Safe to run again and again.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
step() { printf '\n==> %s\n' "$*"; }

step "client dependencies"
command -v kcat >/dev/null || { echo "kcat is missing: apt-get install -y kcat" >&2; exit 1; }
command -v node >/dev/null || { echo "node is missing" >&2; exit 1; }
(cd e2e/clients && { [ -d node_modules/kafkajs ] || npm ci --no-audit --no-fund; })
if [ ! -x e2e/clients/.venv/bin/pytest ]; then
  python3 -m venv e2e/clients/.venv
fi
e2e/clients/.venv/bin/pip install -q -r e2e/clients/requirements.txt

step "cargo fmt --check"
cargo fmt --all --check

step "cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "cargo test (unit, integration, operator against an API server)"
cargo test --workspace --locked

step "real Kafka clients against the karst binary"
cargo build -p karst-broker --bin karst --locked
KARST_BIN="$root/target/debug/karst" e2e/clients/.venv/bin/pytest -q e2e/clients

if [ -f e2e/bench/Cargo.toml ]; then
  step "benchmark harness smoke run"
  cargo run -q -p karst-bench --locked -- --quick --karst-bin "$root/target/debug/karst" --out "$root/target/bench-quick"
fi

printf '\nAll Karst tests passed.\n'
