# shellcheck shell=bash
# Puts a table between the markers <!-- BENCH:NAME:BEGIN --> and
# <!-- BENCH:NAME:END --> of docs/performance.md (NAME "" for the plain
# BENCH markers), adding them at the end the first time. Sourced by the
# benchmark scripts (tests/bench.sh, tests/peers.sh, tests/soak.sh, tests/aarch64.sh),
# with write_apps, the apps they reconcile.
write_table() { # name table
    local marker=BENCH${1:+:$1}
    python3 - "$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/docs/performance.md" "$marker" "$2" <<'PY'
import sys
path, marker, table = sys.argv[1], sys.argv[2], sys.argv[3]
text = open(path).read()
begin, end = f"<!-- {marker}:BEGIN -->", f"<!-- {marker}:END -->"
if begin not in text:
    text = text.rstrip("\n") + f"\n\n{begin}\n{end}\n"
head, rest = text.split(begin, 1)
_, tail = rest.split(end, 1)
open(path, "w").write(f"{head}{begin}\n{table}\n{end}{tail}")
PY
}

# Writes DIR/app-1.yaml … app-N.yaml: a ConfigMap, a Deployment and a Service each.
write_apps() { # dir count
    local i
    mkdir -p "$1"
    for i in $(seq 1 "$2"); do
        cat >"$1/app-$i.yaml" <<YAML
apiVersion: v1
kind: ConfigMap
metadata: {name: cfg-$i}
data: {index: "$i"}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: app-$i}
spec:
  replicas: 1
  selector: {matchLabels: {app: app-$i}}
  template:
    metadata: {labels: {app: app-$i}}
    spec: {containers: [{name: app, image: nginx:1.27-alpine, ports: [{containerPort: 80}]}]}
---
apiVersion: v1
kind: Service
metadata: {name: app-$i}
spec:
  selector: {app: app-$i}
  ports: [{port: 80}]
YAML
    done
}
