#!/usr/bin/env bash
# The whole Karst test suite, in order:
#   1. installs the real Kafka clients into e2e/clients (npm ci from the
#      committed lock file; a Python venv from the pinned requirements.txt);
#   2. cargo fmt --check, clippy -D warnings, build, cargo test (unit and
#      integration tests, the operator's against a real API server);
#   3. the client suite (pytest e2e/clients): kafkajs, confluent-kafka,
#      kafka-python, aiokafka and kcat against the built `karst` binary
#      (or $KARST_BIN);
#   4. the Helm chart (e2e/chart/check.sh: helm lint/template, schema
#      validation, server-side dry-run against a local API server, the
#      operator run from the rendered Deployment);
#   5. the container images (e2e/images/check.sh: images/build.sh builds the
#      static broker and operator images; kcat through the broker container,
#      the operator image's `crd`; starts and stops dockerd if none runs);
#   6. a quick benchmark smoke run.
# kcat comes from apt (see .ci/run). Missing tools fail the run: nothing is
# skipped. Safe to run again and again (installs are idempotent).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
clients="$root/e2e/clients"
current="setup"
step() { current="$*"; printf '\n==> %s\n' "$*"; }
trap 'rc=$?; [ $rc -eq 0 ] || { printf "\nKarst tests FAILED at step: %s (exit %s)\n" "$current" "$rc" >&2; df -h . /tmp >&2 || true; }' EXIT

step "checking tools"
missing=()
for tool in cargo node npm python3 kcat docker dockerd; do
  command -v "$tool" >/dev/null || missing+=("$tool")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "missing tools: ${missing[*]} (kcat, docker.io: apt-get install -y kcat docker.io; see .ci/run)" >&2
  exit 1
fi
python3 -c 'import venv, ensurepip' 2>/dev/null || { echo "python3 venv/ensurepip missing: apt-get install -y python3-venv" >&2; exit 1; }

step "client dependencies (npm ci, Python venv)"
# npm ci only when the installed tree does not match the lock file.
if ! cmp -s "$clients/package-lock.json" "$clients/node_modules/.package-lock.json.installed" 2>/dev/null \
   || [ ! -f "$clients/node_modules/kafkajs/package.json" ]; then
  (cd "$clients" && npm ci --no-audit --no-fund)
  cp "$clients/package-lock.json" "$clients/node_modules/.package-lock.json.installed"
fi
[ -x "$clients/.venv/bin/python" ] || python3 -m venv "$clients/.venv"
if ! cmp -s "$clients/requirements.txt" "$clients/.venv/.requirements.installed" 2>/dev/null; then
  "$clients/.venv/bin/python" -m pip install -q --disable-pip-version-check -r "$clients/requirements.txt"
  cp "$clients/requirements.txt" "$clients/.venv/.requirements.installed"
fi

step "cargo fmt --check"
cargo fmt --all --check

step "cargo clippy -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "cargo build (all binaries)"
cargo build --workspace --bins --locked

step "cargo test (unit, integration, operator against an API server)"
cargo test --workspace --locked

step "Helm chart (e2e/chart/check.sh)"
KARST_OPERATOR_BIN="${CARGO_TARGET_DIR:-$root/target}/debug/karst-operator" ./e2e/chart/check.sh

step "container images (e2e/images/check.sh)"
./e2e/images/check.sh

step "real Kafka clients against the karst binary (pytest e2e/clients)"
export KARST_BIN="${KARST_BIN:-${CARGO_TARGET_DIR:-$root/target}/debug/karst}"
[ -x "$KARST_BIN" ] || { echo "karst binary not found at $KARST_BIN" >&2; exit 1; }
"$clients/.venv/bin/python" -m pytest -q "$clients"

# --- benchmark smoke hook (owned by the bench engineer: e2e/bench) ---------
# Tiny sizes, one run: checks that the harness still drives the broker; the
# figures of a smoke run are not benchmark results.
if [ -d e2e/bench ]; then
  step "benchmark smoke run (karst-bench --quick)"
  cargo run -q -p karst-bench --locked -- --quick --karst-bin "$KARST_BIN" --out "${CARGO_TARGET_DIR:-$root/target}/bench-quick"
fi
# ---------------------------------------------------------------------------

current="done"
printf '\nAll Karst tests passed: fmt, clippy, build, cargo test, Helm chart, images, client suite (%s), bench smoke.\n' "$KARST_BIN"
