#!/usr/bin/env bash
# Karst end to end on a real Kubernetes cluster in Docker (kind), for
# machines with Docker, kind, kubectl and helm (and a registry to pull
# kind's node image and node:22-alpine from). Our own machines cannot run it:
# see e2e/README.md for the local tests that carry the same scenarios.
#
#   1. creates a kind cluster; builds both images (images/build.sh) and a
#      clients image (kafkajs, the tutorial's producer/consumer, the load),
#      and loads them into the cluster;
#   2. helm installs charts/karst; applies a 3-broker KafkaCluster and its
#      KafkaTopics, waits until all are Ready;
#   3. runs the tutorial's producer.js and consumer.js as Jobs against the
#      bootstrap Service (the consumer prints the producer's message);
#   4. starts an acks=all idempotent load, changes the cluster's image tag
#      (same binary, new tag) so that every broker restarts, one at a time,
#      and checks zero failed sends and every acknowledged record read back;
#   5. deletes the cluster (KARST_KIND_KEEP=1 keeps it).
#
# The operator rolls the brokers itself (one at a time, active controller
# last); KARST_KIND_MANUAL_ROLL=1 deletes the Pods one at a time from this
# script instead. KARST_KIND_TOPIC_REPLICAS (default 3) is the load topic's
# replication factor.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
here="$root/e2e/kind"
cluster=${KARST_KIND_CLUSTER:-karst-e2e}
ns=karst-e2e
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -1)
roll_tag="$version-roll"
tutorial=${KARST_TUTORIAL:-$root/../shared/seed/000_64fc9b0151cb7bed.txt}
topic_replicas=${KARST_KIND_TOPIC_REPLICAS:-3}
manual_roll=${KARST_KIND_MANUAL_ROLL:-0}
bootstrap="demo-bootstrap.$ns.svc:9092"

need() {
  command -v "$1" >/dev/null || { echo "e2e/kind/run.sh needs $1 ($2); it is not installed." >&2; exit 1; }
}
need docker "https://docs.docker.com/engine/install/"
docker info >/dev/null 2>&1 || {
  echo "e2e/kind/run.sh: docker is installed but no Docker engine answers (start dockerd, or set DOCKER_HOST)." >&2
  exit 1
}
need kind "https://kind.sigs.k8s.io/docs/user/quick-start/#installation"
need kubectl "https://kubernetes.io/docs/tasks/tools/"
need helm "https://helm.sh/docs/intro/install/"
need python3 "to extract the tutorial's code"
[ -f "$tutorial" ] || { echo "the tutorial is not at $tutorial (set KARST_TUTORIAL)" >&2; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/karst-kind.XXXXXX")
say() { printf '\n==> %s\n' "$*"; }
fail() { echo "kind e2e FAILED: $*" >&2; exit 1; }
# Waits up to $1 seconds for the command after it to succeed (once a second).
wait_until() {
  local limit=$1; shift
  for _ in $(seq 1 "$limit"); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 1
  done
  return 1
}
finish() {
  rc=$?
  if [ $rc -ne 0 ] && kind get clusters 2>/dev/null | grep -qx "$cluster"; then
    echo "--- diagnostics" >&2
    kubectl get all,kafkaclusters,kafkatopics -A -o wide >&2 || true
    kubectl -n "$ns" describe kafkaclusters,kafkatopics >&2 || true
    kubectl -n karst-system logs deployment/karst-operator --tail=100 >&2 || true
  fi
  if [ "${KARST_KIND_KEEP:-0}" != 1 ]; then kind delete cluster --name "$cluster" >/dev/null 2>&1 || true; fi
  rm -rf "$work"
  exit $rc
}
trap finish EXIT

say "kind cluster $cluster"
kind get clusters 2>/dev/null | grep -qx "$cluster" || kind create cluster --name "$cluster" --wait 180s
kubectl config use-context "kind-$cluster" >/dev/null

say "images"
"$root/images/build.sh"
docker tag "karst:$version" "karst:$roll_tag"
mkdir -p "$work/clients"
cp "$root/e2e/clients/package.json" "$root/e2e/clients/package-lock.json" "$here"/clients/*.mjs \
  "$here/clients/Dockerfile" "$work/clients/"
python3 "$here/clients/tutorial.py" "$tutorial" "$work/clients" "$bootstrap"
docker build -t "karst-e2e-clients:$version" "$work/clients"
kind load docker-image --name "$cluster" "karst:$version" "karst:$roll_tag" \
  "karst-operator:$version" "karst-e2e-clients:$version"

say "helm install charts/karst"
helm upgrade --install karst "$root/charts/karst" --namespace karst-system --create-namespace --wait --timeout 180s
kubectl -n karst-system rollout status deployment/karst-operator --timeout=120s

say "a 3-broker KafkaCluster and its KafkaTopics"
kubectl create namespace "$ns" --dry-run=client -o yaml | kubectl apply -f -
kubectl apply -n "$ns" -f - <<YAML
apiVersion: kafka.karst.dev/v1alpha1
kind: KafkaCluster
metadata: {name: demo}
spec:
  replicas: 3
  image: karst:$version
  storage: {size: 1Gi}
---
apiVersion: kafka.karst.dev/v1alpha1
kind: KafkaTopic
metadata: {name: test}
spec: {clusterRef: {name: demo}, partitions: 1, replicas: 1}
---
apiVersion: kafka.karst.dev/v1alpha1
kind: KafkaTopic
metadata: {name: load}
spec:
  clusterRef: {name: demo}
  partitions: 6
  replicas: $topic_replicas
  config: {min.insync.replicas: "$(( topic_replicas > 1 ? 2 : 1 ))"}
YAML
kubectl -n "$ns" wait --for=condition=Ready kafkacluster/demo --timeout=300s
kubectl -n "$ns" wait --for=condition=Ready kafkatopic/test kafkatopic/load --timeout=120s

# A Job running one of the client scripts, restricted like the brokers.
job() {
  local name=$1 script=$2; shift 2
  local env="" kv
  for kv in "BOOTSTRAP=$bootstrap" KAFKAJS_NO_PARTITIONER_WARNING=1 "$@"; do
    env+="            - {name: ${kv%%=*}, value: \"${kv#*=}\"}"$'\n'
  done
  kubectl -n "$ns" delete job "$name" --ignore-not-found --wait=true >/dev/null
  kubectl apply -n "$ns" -f - <<YAML
apiVersion: batch/v1
kind: Job
metadata: {name: $name}
spec:
  backoffLimit: 0
  template:
    spec:
      restartPolicy: Never
      securityContext: {runAsNonRoot: true, runAsUser: 10001, seccompProfile: {type: RuntimeDefault}}
      containers:
        - name: client
          image: karst-e2e-clients:$version
          imagePullPolicy: Never
          command: [node, $script]
          env:
$env          securityContext: {allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: {drop: [ALL]}}
YAML
}
job_pod() { kubectl -n "$ns" get pods -l "job-name=$1" -o 'jsonpath={.items[0].metadata.name}'; }

say "the tutorial: producer.js, then consumer.js, against $bootstrap"
job tutorial-producer producer.mjs
kubectl -n "$ns" wait --for=condition=Complete job/tutorial-producer --timeout=120s
job tutorial-consumer consumer.mjs
message=$(python3 -c 'import re,sys; print(re.search(r"value: \"([^\"]+)\"", open(sys.argv[1], encoding="utf-8").read()).group(1))' "$work/clients/producer.mjs")
consumer_printed() { kubectl -n "$ns" logs job/tutorial-consumer | grep -qF "$message"; }
wait_until 180 consumer_printed || fail "consumer.js did not print the producer's message"
kubectl -n "$ns" logs job/tutorial-consumer | grep -F "$message"
kubectl -n "$ns" delete job tutorial-consumer --wait=false

say "roll the cluster to karst:$roll_tag under an acks=all load"
job load load.mjs TOPIC=load
wait_until 120 job_pod load || fail "the load Job has no Pod"
load_pod=$(job_pod load)
kubectl -n "$ns" wait --for=condition=Ready "pod/$load_pod" --timeout=180s
load_acks() { kubectl -n "$ns" logs "$load_pod" | grep -q '^progress acked=[1-9]'; }
wait_until 120 load_acks || fail "the load does not get acknowledgements"
kubectl -n "$ns" patch kafkacluster demo --type merge -p "{\"spec\":{\"image\":\"karst:$roll_tag\"}}"
sts_image() { [ "$(kubectl -n "$ns" get statefulset demo-broker -o 'jsonpath={.spec.template.spec.containers[0].image}')" = "karst:$roll_tag" ]; }
wait_until 120 sts_image || fail "the operator did not put karst:$roll_tag into the StatefulSet"
pod_image() { [ "$(kubectl -n "$ns" get pod "$1" -o 'jsonpath={.spec.containers[0].image}')" = "karst:$roll_tag" ]; }
for i in 2 1 0; do
  pod="demo-broker-$i"
  if [ "$manual_roll" = 1 ]; then
    # Today's operator leaves restarts to the user (updateStrategy OnDelete).
    kubectl -n "$ns" delete pod "$pod" --wait=true
  fi
  wait_until 600 pod_image "$pod" || fail "$pod was not restarted with karst:$roll_tag"
  kubectl -n "$ns" wait --for=condition=Ready "pod/$pod" --timeout=300s
  echo "$pod runs karst:$roll_tag"
done
kubectl -n "$ns" wait --for=condition=Ready kafkacluster/demo --timeout=300s
# Some more load on the rolled cluster before stopping it.
last_progress() { kubectl -n "$ns" logs "$load_pod" | grep '^progress' | tail -1; }
before=$(last_progress)
progressed() { [ "$(last_progress)" != "$before" ]; }
wait_until 60 progressed || fail "the load stopped getting acknowledgements after the roll"
kubectl -n "$ns" exec "$load_pod" -- kill -TERM 1
kubectl -n "$ns" wait --for=condition=Complete job/load --timeout=120s
result() { kubectl -n "$ns" logs "$1" | sed -n 's/^result //p' | tail -1; }
summary=$(result "$load_pod")
[ -n "$summary" ] || fail "the load printed no result"
echo "load: $summary"
acked=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["acked"])' "$summary")
failed=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["failed"])' "$summary")
job verify verify.mjs TOPIC=load "EXPECT=$acked"
kubectl -n "$ns" wait --for=condition=Complete job/verify --timeout=600s
verdict=$(result job/verify)
[ -n "$verdict" ] || fail "the verifier printed no result"
echo "verify: $verdict"
[ "$failed" = 0 ] || fail "$failed records failed to send during the roll"
python3 -c 'import json,sys; v=json.loads(sys.argv[1]); sys.exit(0 if v["missing"] == 0 else 1)' "$verdict" \
  || fail "acknowledged records are missing after the roll"

say "kind e2e passed: tutorial through $bootstrap; roll to karst:$roll_tag with $acked acknowledged records, 0 failed, 0 missing"
