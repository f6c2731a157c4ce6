#!/usr/bin/env bash
# Counts the broker's instructions per small request (valgrind callgrind:
# repeatable, unlike wall-clock figures on a shared machine), for Produce
# (one 100 B record, acks=1), Fetch (one small batch) and Heartbeat, sent by
# kafka-python (bench/requests.py). Counters are zeroed before each phase
# and dumped after it; the requests answered in the phase come from the
# broker's /metrics, so background work (timers, flushes) in a phase is
# charged to its requests too.
#
#   bench/callgrind-requests.sh [KARST_BIN] [COUNT]   (defaults: target/release/karst, 2000)
#
# With a broker built with the `alloc-count` feature it also reports heap
# allocations per request (karst_allocations_total over the same phases):
#   cargo build --release -p karst-broker --features alloc-count --target-dir target/alloc-count
#   bench/callgrind-requests.sh target/alloc-count/release/karst
# (the counting adds an atomic add per allocation to the instruction counts).
#
# Needs valgrind (apt) and the client venv of e2e/test-all.sh
# (e2e/clients/.venv with kafka-python). Writes bench/callgrind/<label>-requests.*
set -euo pipefail
bin=${1:-target/release/karst}
count=${2:-2000}
here=$(cd "$(dirname "$0")" && pwd)
python=${PYTHON:-$here/../e2e/clients/.venv/bin/python}
label=${LABEL:-$(git rev-parse --short HEAD 2>/dev/null || echo run)}
out_dir=$here/callgrind
mkdir -p "$out_dir"
rm -f "$out_dir/$label-requests".*
work=$(mktemp -d)
trap 'kill -9 $pid 2>/dev/null || true; rm -rf "$work"' EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
http=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
valgrind --tool=callgrind --callgrind-out-file="$out_dir/$label-requests" -q \
  "$bin" --override "listeners=PLAINTEXT://127.0.0.1:$port" \
  --override "advertised.listeners=PLAINTEXT://127.0.0.1:$port" \
  --override "log.dirs=$work/data" --override "karst.http.listener=127.0.0.1:$http" \
  > "$work/karst.log" 2>&1 &
pid=$!
for _ in $(seq 600); do
  curl -sf "http://127.0.0.1:$http/readyz" >/dev/null 2>&1 && break
  sleep 0.1
done
answered() {
  curl -sf "http://127.0.0.1:$http/metrics" |
    awk -v api="$1" '$1 == "karst_requests_total{api=\"" api "\"}" { print $2 }'
}
allocated() {
  curl -sf "http://127.0.0.1:$http/metrics" | awk '$1 == "karst_allocations_total" { print $2 }'
}
declare -A requests allocations
# A scrape allocates too: measure one, and take the two a phase spans off.
scrape_cost=0
if first=$(allocated) && [ -n "$first" ]; then
  scrape_cost=$(( $(allocated) - first ))
fi
coproc client { "$python" -u "$here/requests.py" "127.0.0.1:$port" "$count"; }
client_pid=$client_PID
while read -r word api <&"${client[0]}"; do
  case $word in
    phase)
      callgrind_control -z "$pid" >/dev/null 2>&1
      requests[$api]=$(answered "$api")
      allocations[$api]=$(allocated)
      ;;
    done)
      callgrind_control -d "$api" "$pid" >/dev/null 2>&1
      requests[$api]=$(( $(answered "$api") - ${requests[$api]:-0} ))
      if [ -n "${allocations[$api]}" ]; then
        allocations[$api]=$(( $(allocated) - ${allocations[$api]} - 2 * scrape_cost ))
      fi
      ;;
  esac
  echo >&"${client[1]}"
done
wait "$client_pid"
kill -TERM "$pid"
wait "$pid" || true
# Each phase's dump names its trigger ("Dump ... <API>") and its total.
for dump in "$out_dir/$label-requests".*; do
  api=$(awk '/^desc: Trigger:/ { print $NF }' "$dump")
  [ -n "${requests[$api]:-}" ] || continue
  total=$(awk '/^(summary|totals):/ { print $2; exit }' "$dump")
  echo "$label: $api: $((total / requests[$api])) instructions per request ($total over ${requests[$api]} requests)"
  if [ -n "${allocations[$api]:-}" ]; then
    echo "$label: $api: $(( (allocations[$api] + requests[$api] / 2) / requests[$api] )) heap allocations per request (${allocations[$api]} over ${requests[$api]} requests)"
  fi
done
