"""Helpers of check.sh for rendered Helm output (PyYAML from kubernetes-validate's venv).

  manifests.py served RENDERED APIVERSIONS OUT   docs whose apiVersion the API server serves -> OUT;
                                                 prints the kinds left out
  manifests.py command RENDERED                  the operator Deployment's command, one arg per line
  manifests.py exec RENDERED BIN POD NAMESPACE   runs BIN with the Deployment's arguments and env
                                                 (downward-API fields resolved to POD and NAMESPACE)
  manifests.py metrics RENDERED SRC_DIR...       every karst_* metric the alerts and the dashboard
                                                 use is exported by the code in SRC_DIR
  manifests.py promql RENDERED                   every alert expression and dashboard query parses as PromQL
  manifests.py documented VALUES SCHEMA          every value in values.yaml has a comment above it and
                                                 is in the schema, and the schema has nothing else
  manifests.py restricted RENDERED               checks every Pod template against the restricted
                                                 Pod Security Standard (+ read-only root filesystem)
"""
import os
import re
import sys

import yaml



def docs(path):
    with open(path) as f:
        return [d for d in yaml.safe_load_all(f) if d]


def served(rendered, apiversions_file, out):
    with open(apiversions_file) as f:
        versions = {line.strip() for line in f if line.strip()}
    keep, left = [], []
    for d in docs(rendered):
        (keep if d["apiVersion"] in versions else left).append(d)
    with open(out, "w") as f:
        yaml.safe_dump_all(keep, f)
    for d in left:
        print(f'{d["apiVersion"]} {d["kind"]} {d["metadata"]["name"]}')


def deployment(rendered):
    found = [d for d in docs(rendered) if d["kind"] == "Deployment"]
    if len(found) != 1:
        sys.exit(f"expected one Deployment, found {len(found)}")
    return found[0]


def command(rendered):
    c = container(rendered)
    print("\n".join(c["command"] + c.get("args", [])))


def container(rendered):
    (c,) = deployment(rendered)["spec"]["template"]["spec"]["containers"]
    return c


def exec_operator(rendered, binary, pod, namespace):
    c = container(rendered)
    fields = {"metadata.name": pod, "metadata.namespace": namespace}
    env = dict(os.environ)
    for var in c.get("env", []):
        if "value" in var:
            env[var["name"]] = var["value"]
        else:
            env[var["name"]] = fields[var["valueFrom"]["fieldRef"]["fieldPath"]]
    args = c["command"][1:] + c.get("args", [])
    os.execve(binary, [binary] + args, env)


def metrics(rendered, *src_dirs):
    exported = set()
    for d in src_dirs:
        for dirpath, _, files in os.walk(d):
            for f in files:
                if f.endswith(".rs"):
                    with open(os.path.join(dirpath, f)) as fh:
                        exported |= set(re.findall(r'"(karst_[a-z_]+)"', fh.read()))
    used = set()
    for d in docs(rendered):
        if d["kind"] in ("PrometheusRule", "ConfigMap"):
            used |= set(re.findall(r"\b(karst_[a-z_]+)", yaml.safe_dump(d)))
    used = {re.sub(r"_(bucket|count|sum)$", "", m) for m in used}
    if not used:
        sys.exit("no karst_* metric found in the alerts and dashboard")
    unknown = used - exported
    if unknown:
        sys.exit(f"alerts/dashboard use metrics nobody exports: {sorted(unknown)}")
    print(f"{len(used)} karst_* metrics used, all exported")


# Grafana's variables, replaced by values of the same type before parsing.
GRAFANA_VARIABLES = {"$__rate_interval": "5m", "$namespace": ".*", "$cluster": ".*"}


def promql(rendered):
    import json

    import promql_parser

    exprs = []
    for d in docs(rendered):
        if d["kind"] == "PrometheusRule":
            for group in d["spec"]["groups"]:
                exprs += [(f'alert {r["alert"]}', r["expr"]) for r in group["rules"]]
        elif d["kind"] == "ConfigMap" and any(k.endswith(".json") for k in d.get("data", {})):
            for text in d["data"].values():
                for panel in json.loads(text)["panels"]:
                    exprs += [(f'panel "{panel["title"]}"', t["expr"]) for t in panel.get("targets", [])]
    if not any(w.startswith("alert") for w, _ in exprs) or not any(w.startswith("panel") for w, _ in exprs):
        sys.exit("expected both alerts and dashboard panels in the rendering")
    problems = []
    for where, expr in exprs:
        for var, value in GRAFANA_VARIABLES.items():
            expr = expr.replace(var, value)
        try:
            promql_parser.parse(expr)
        except ValueError as e:
            problems.append(f"{where}: {e}: {expr}")
    if problems:
        sys.exit("PromQL that does not parse:\n" + "\n".join(problems))
    print(f"{len(exprs)} PromQL expressions parse (alerts and dashboard)")


def documented(values_file, schema_file):
    """Walks values.yaml line by line: a key's path comes from indentation."""
    import json

    with open(schema_file) as f:
        schema = json.load(f)
    problems, stack, seen = [], [], set()
    with open(values_file) as f:
        lines = f.read().splitlines()
    for i, line in enumerate(lines):
        m = re.match(r"^( *)([A-Za-z][A-Za-z0-9_]*):", line)
        if not m:
            continue
        depth = len(m.group(1)) // 2
        stack = stack[:depth] + [m.group(2)]
        node = schema
        for key in stack[:-1]:
            node = node.get("properties", {}).get(key, {})
        if "properties" not in node:
            continue  # inside a free-form value (resources, labels, ...), documented as a whole
        path = ".".join(stack)
        seen.add(path)
        if stack[-1] not in node["properties"]:
            problems.append(f"{path}: not in values.schema.json")
        previous = next((lines[j].strip() for j in range(i - 1, -1, -1) if lines[j].strip()), "")
        if not previous.startswith("#"):
            problems.append(f"{path}: no comment above it")

    def schema_paths(node, prefix):
        for key, sub in node.get("properties", {}).items():
            path = f"{prefix}{key}"
            if not sub.get("description"):
                problems.append(f"{path}: no description in values.schema.json")
            yield path
            yield from schema_paths(sub, f"{path}.")

    problems += [f"{p}: in the schema, not in values.yaml" for p in schema_paths(schema, "") if p not in seen]
    if problems:
        sys.exit("values.yaml / values.schema.json:\n" + "\n".join(problems))
    print(f"{len(seen)} values, each documented and typed")


def restricted(rendered):
    """The restricted profile's rules (kubernetes.io/docs/concepts/security/pod-security-standards)."""
    problems = []
    templates = [d for d in docs(rendered) if d["kind"] in ("Deployment", "StatefulSet", "DaemonSet", "Job")]
    if not templates:
        sys.exit("no Pod templates rendered")
    for d in templates:
        name = f'{d["kind"]}/{d["metadata"]["name"]}'
        pod = d["spec"]["template"]["spec"]
        psc = pod.get("securityContext", {})
        for key in ("hostNetwork", "hostPID", "hostIPC"):
            if pod.get(key):
                problems.append(f"{name}: {key}")
        for v in pod.get("volumes", []):
            if "hostPath" in v:
                problems.append(f"{name}: hostPath volume {v['name']}")
        for c in pod.get("initContainers", []) + pod["containers"]:
            sc = c.get("securityContext", {})
            where = f"{name} container {c['name']}"
            if not (sc.get("runAsNonRoot", psc.get("runAsNonRoot")) is True):
                problems.append(f"{where}: runAsNonRoot is not true")
            if sc.get("runAsUser", psc.get("runAsUser")) == 0:
                problems.append(f"{where}: runs as uid 0")
            if sc.get("allowPrivilegeEscalation") is not False:
                problems.append(f"{where}: allowPrivilegeEscalation is not false")
            if sc.get("privileged"):
                problems.append(f"{where}: privileged")
            if "ALL" not in sc.get("capabilities", {}).get("drop", []):
                problems.append(f"{where}: capabilities do not drop ALL")
            added = set(sc.get("capabilities", {}).get("add", [])) - {"NET_BIND_SERVICE"}
            if added:
                problems.append(f"{where}: adds capabilities {sorted(added)}")
            seccomp = sc.get("seccompProfile", psc.get("seccompProfile", {})).get("type")
            if seccomp not in ("RuntimeDefault", "Localhost"):
                problems.append(f"{where}: seccompProfile is {seccomp}")
            if sc.get("readOnlyRootFilesystem") is not True:
                problems.append(f"{where}: root filesystem is writable")
            for p in c.get("ports", []):
                if "hostPort" in p:
                    problems.append(f"{where}: hostPort")
    if problems:
        sys.exit("not restricted:\n" + "\n".join(problems))
    print(f"restricted: {', '.join(d['kind'] + '/' + d['metadata']['name'] for d in templates)}")


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    {
        "served": served,
        "command": command,
        "exec": exec_operator,
        "metrics": metrics,
        "promql": promql,
        "documented": documented,
        "restricted": restricted,
    }[cmd](*args)
