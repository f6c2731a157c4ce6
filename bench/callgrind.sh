#!/usr/bin/env bash
# Counts the broker's instructions (valgrind callgrind: repeatable, unlike
# wall-clock figures on a shared machine) for a fixed produce + catch-up
# read through librdkafka (kcat), and prints instructions per MiB moved.
#
#   bench/callgrind.sh [KARST_BIN] [MIB]     (defaults: target/release/karst, 64)
#
# Writes bench/callgrind/<label>.out (open with callgrind_annotate) and a
# summary line to stdout. Needs valgrind and kcat (apt).
set -euo pipefail
bin=${1:-target/release/karst}
mib=${2:-64}
label=${LABEL:-$(git rev-parse --short HEAD 2>/dev/null || echo run)}
out_dir=$(dirname "$0")/callgrind
mkdir -p "$out_dir"
work=$(mktemp -d)
trap 'kill -9 $pid 2>/dev/null || true; rm -rf "$work"' EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
http=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
valgrind --tool=callgrind --callgrind-out-file="$out_dir/$label.out" -q \
  "$bin" --override "listeners=PLAINTEXT://127.0.0.1:$port" \
  --override "advertised.listeners=PLAINTEXT://127.0.0.1:$port" \
  --override "log.dirs=$work/data" --override "karst.http.listener=127.0.0.1:$http" \
  > "$work/karst.log" 2>&1 &
pid=$!
for _ in $(seq 600); do
  curl -sf "http://127.0.0.1:$http/readyz" >/dev/null 2>&1 && break
  sleep 0.1
done
records=$((mib * 1024))
python3 -c "import sys; line=b'k'*1023+b'\n'; sys.stdout.buffer.write(line*$records)" > "$work/in"
kcat -P -b "127.0.0.1:$port" -t bench -p 0 -X linger.ms=5 -X batch.size=1000000 \
  -X acks=1 -X enable.idempotence=false < "$work/in"
got=$(kcat -C -b "127.0.0.1:$port" -t bench -p 0 -o beginning -e -q \
  -X fetch.max.bytes=52428800 -X max.partition.fetch.bytes=10485760 | wc -l)
[ "$got" -eq "$records" ] || { echo "read $got of $records records" >&2; exit 1; }
kill -TERM $pid
wait $pid
total=$(callgrind_annotate "$out_dir/$label.out" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",","",$1); print $1}')
echo "$label: $total instructions for $mib MiB produced and read back: $((total / mib / 1000)) k instructions per MiB"
