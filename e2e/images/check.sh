#!/usr/bin/env bash
# The images in the test command (issue 15, issue 12's broker image):
#   1. images/build.sh builds karst:<version> and karst-operator:<version>
#      (static release binaries, FROM scratch); the time it takes is printed;
#   2. the broker image runs as uid 10001 with a read-only root filesystem and
#      its data in a volume at /var/lib/karst (as the operator's Pods run it);
#      kcat produces one record on a 127.0.0.1 port and consumes it, and reads
#      it again after the container restarted on the same volume;
#   3. the operator image's `crd` prints exactly the files of crds/, and its
#      `run` (read-only root filesystem, host network) takes its Lease and
#      serves /metrics against a local API server (../shared/k8s);
#   4. each image is under KARST_IMAGE_MAX_BYTES (20,000,000 by default);
#   5. three broker containers on a user-defined network form one cluster
#      (voters by container DNS name); `docker kill` + `docker start` of one
#      under an acks=all load loses nothing (e2e/images/docker_cluster.py).
# Starts dockerd when none answers and stops it at the end (images/dockerd.sh).
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -1)
max_bytes=${KARST_IMAGE_MAX_BYTES:-20000000}
name="karst-image-check-$$"
work=$(mktemp -d "${TMPDIR:-/tmp}/karst-images.XXXXXX")

# shellcheck source=images/dockerd.sh
. "$root/images/dockerd.sh"
api_port=${KARST_IMAGES_API_PORT:-16563}
etcd_port=${KARST_IMAGES_ETCD_PORT:-12599}
cleanup() {
  docker rm -f "$name" "$name-operator" >/dev/null 2>&1 || true
  for p in apiserver etcd; do
    if [ -f "$work/k8s/$p.pid" ]; then kill "$(cat "$work/k8s/$p.pid")" 2>/dev/null || true; fi
  done
  docker volume rm "$name" >/dev/null 2>&1 || true
  docker_stop_if_started
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "image check FAILED: $*" >&2; exit 1; }
command -v kcat >/dev/null || fail "kcat not found (apt-get install -y kcat)"
docker_ensure

start=$(date +%s)
"$root/images/build.sh"
echo "images built in $(( $(date +%s) - start )) s (static release build included)"

for image in "karst:$version" "karst-operator:$version"; do
  size=$(docker image inspect -f '{{.Size}}' "$image")
  [ "$size" -lt "$max_bytes" ] || fail "$image is $size bytes, over the $max_bytes goal"
done

echo "--- broker image: one record through kcat, kept in the volume across a restart"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
docker volume create "$name" >/dev/null
docker run -d --name "$name" --read-only --tmpfs /tmp \
  -v "$name:/var/lib/karst" -p "127.0.0.1:$port:9092" \
  -e KARST_ADVERTISED_LISTENERS="PLAINTEXT://127.0.0.1:$port" \
  "karst:$version" >/dev/null
[ "$(docker inspect -f '{{.Config.User}}' "$name")" = "10001:10001" ] || fail "the broker does not run as 10001"
broker_up() { kcat -b "127.0.0.1:$port" -L -m 2 >/dev/null 2>&1; }
wait_broker() {
  for _ in $(seq 1 300); do broker_up && return 0; sleep 0.1; done
  docker logs "$name" >&2; fail "the broker container did not answer on 127.0.0.1:$port"
}
wait_broker
record="image-check $(date +%s%N)"
printf '%s\n' "$record" | kcat -b "127.0.0.1:$port" -P -t image-check -p 0 -X acks=all
read_back() {
  kcat -b "127.0.0.1:$port" -C -t image-check -p 0 -o beginning -c 1 -e -q -m 30
}
got=$(read_back)
[ "$got" = "$record" ] || fail "consumed '$got', produced '$record'"
docker restart "$name" >/dev/null
wait_broker
got=$(read_back)
[ "$got" = "$record" ] || fail "after a restart on the same volume: consumed '$got'"
echo "produced and consumed '$record'; still there after a restart (volume $name at /var/lib/karst)"

echo "--- operator image: crd prints crds/"
docker run --rm --read-only "karst-operator:$version" crd > "$work/crds.yaml"
for f in "$root"/crds/*.yaml; do printf -- '---\n'; cat "$f"; done > "$work/expected.yaml"
cmp -s "$work/crds.yaml" "$work/expected.yaml" || { diff "$work/expected.yaml" "$work/crds.yaml" | head -20; fail "the image's crd output differs from crds/"; }
echo "karst-operator:$version crd == crds/*.yaml"
"$root/../shared/k8s/start-apiserver.sh" "$work/k8s" "$api_port" "$etcd_port" >/dev/null
KUBECONFIG="$work/k8s/kubeconfig" kubectl apply --server-side -f "$root/crds/" >/dev/null
chmod 644 "$work/k8s/kubeconfig"
metrics_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
docker run -d --name "$name-operator" --network host --read-only \
  -v "$work/k8s/kubeconfig:/etc/karst/kubeconfig:ro" -e KUBECONFIG=/etc/karst/kubeconfig \
  -e POD_NAME=image-check -e POD_NAMESPACE=default \
  "karst-operator:$version" run --http-addr="127.0.0.1:$metrics_port" >/dev/null
leads() { curl -sf "http://127.0.0.1:$metrics_port/metrics" | grep -qx 'karst_operator_leader 1'; }
for _ in $(seq 1 300); do leads && break; sleep 0.1; done
leads || { docker logs "$name-operator" >&2; fail "the operator container did not take its Lease"; }
holder=$(KUBECONFIG="$work/k8s/kubeconfig" kubectl get lease karst-operator -o 'jsonpath={.spec.holderIdentity}')
[ "$holder" = image-check ] || fail "Lease held by '$holder'"
echo "karst-operator:$version run: Lease taken, /metrics served (read-only root filesystem)"
echo "--- three broker containers on a Docker network: one cluster, a docker kill under load"
venv_python="$root/e2e/clients/.venv/bin/python"
[ -x "$venv_python" ] || fail "the client venv is missing ($venv_python): run e2e/test-all.sh, which creates it first"
"$venv_python" "$root/e2e/images/docker_cluster.py" "karst:$version" || fail "the Docker cluster check"

echo "image checks passed"
