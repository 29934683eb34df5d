#!/usr/bin/env bash
# plumb beside its peers, one after the other in one run, on the same test
# cluster (kine on SQLite), the same repository over the suite's HTTPS Git
# server and the same 30 s interval:
#   - plumb: `plumb run`, one sync with prune and wait;
#   - Flux: source-controller and kustomize-controller (built from their Go
#     modules, tests/tools/versions), as processes with a kubeconfig, their
#     CRDs applied, one GitRepository and one Kustomization with prune and wait;
#   - the cron job: `git fetch && git reset --hard && kubectl apply
#     --server-side --force-conflicts --prune --applyset=…` every interval.
# For the 300- and the 1,000-object repository: the first apply (wall time,
# peak RSS), a one-line change pushed (seconds until applied), drift (a
# Deployment scaled: seconds until corrected); on the 1,000 objects, MINUTES
# (default 10) idle: requests by verb (audit log, by User-Agent), rows added
# to kine's table, bytes written to disk (/proc/PID/io), CPU seconds and
# resident memory (/proc). The table goes between the BENCH:PEERS markers of
# docs/performance.md.
#
#   tests/peers.sh [MINUTES]   starts the cluster and the Git servers if they are down
#
# PLUMB_BIN=path measures that binary instead of a fresh release build.
set -euo pipefail
# run_peer runs in $(...): without this, a failed step there would go on.
shopt -s inherit_errexit
repo=$(cd "$(dirname "$0")/.." && pwd)
minutes=${1:-10}
interval=30
work=$repo/target/peers
cluster=${PLUMB_TEST_CLUSTER:-$repo/target/test-cluster}
kubeconfig=$cluster/admin.kubeconfig
rm -rf "$work" && mkdir -p "$work"
audit=$cluster/audit.log
db=$cluster/db/state.db
# shellcheck source=tests/bench-table.sh
. "$repo/tests/bench-table.sh"

log() { printf '[peers] %s\n' "$*" >&2; }
bash "$repo/tests/cluster.sh" up >&2
bash "$repo/tests/git-servers.sh" up >&2
# shellcheck disable=SC1091
. "${PLUMB_TEST_GIT:-$repo/target/test-git}/env"
source_controller=$(bash "$repo/tests/tools/build.sh" flux-source-controller)
kustomize_controller=$(bash "$repo/tests/tools/build.sh" flux-kustomize-controller)
plumb=${PLUMB_BIN:-}
if [ -z "$plumb" ]; then
    (cd "$repo" && cargo build -q --release -p plumb)
    plumb=$repo/target/release/plumb
fi
# The script's own kubectl runs as kubectl-bench: its User-Agent is named after
# the command, so the loop's requests (User-Agent kubectl/…) are told from ours.
mkdir -p "$work/bin"
ln -sf "$(command -v kubectl)" "$work/bin/kubectl-bench"
k() { "$work/bin/kubectl-bench" --kubeconfig "$kubeconfig" "$@"; }

git_() { git -c user.name=peers -c user.email=peers@example.org -c init.defaultBranch=main "$@"; }
export GIT_SSL_CAINFO=$GIT_CA

# A repository of N objects (a third each ConfigMaps, Deployments, Services),
# namespace-less: each peer puts them into its own namespace.
make_repo() { # name apps
    local src=$work/$1-src
    git_ init -q --bare "$GIT_REPOS/$1-$$.git"
    git_ init -q "$src"
    write_apps "$src/apps" "$2"
    git_ -C "$src" add -A && git_ -C "$src" commit -q -m apps
    git_ -C "$src" remote add origin "$GIT_REPOS/$1-$$.git"
    git_ -C "$src" push -q origin HEAD:refs/heads/main
    echo "$GIT_HTTPS_URL/anon/$1-$$.git"
}

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
audit_lines() { wc -l <"$audit"; }
top_row() { python3 -c 'import sqlite3, sys; print(sqlite3.connect("file:%s?mode=ro" % sys.argv[1], uri=True).execute("select max(id) from kine").fetchone()[0])' "$db"; }
# Rows kine added after id $1 whose key starts with one of $2... (its
# compaction deletes old rows meanwhile, so counting what is there would not do).
rows_since() {
    python3 - "$db" "$@" <<'PY'
import sqlite3, sys
c = sqlite3.connect("file:%s?mode=ro" % sys.argv[1], uri=True)
since = int(sys.argv[2])
print(sum(c.execute("select count(*) from kine where id > ? and name like ?", (since, p + "%")).fetchone()[0] for p in sys.argv[3:]))
PY
}
# Requests after audit line $1 whose User-Agent matches the regex $2, and
# whose namespace, if any, is one of $3... (another script's kubectl, the soak's
# say, may run meanwhile): "total|verb n, verb n (d dry-run), ...".
verbs_since() {
    tail -n +"$(($1 + 1))" "$audit" | python3 -c '
import json, re, sys, collections
ua = re.compile(sys.argv[1])
count, dry = collections.Counter(), collections.Counter()
for line in sys.stdin:
    e = json.loads(line)
    if e.get("stage") != "ResponseComplete" or not ua.search(e.get("userAgent", "")):
        continue
    ns = (e.get("objectRef") or {}).get("namespace")
    if ns and ns not in sys.argv[2:]:
        continue
    count[e["verb"]] += 1
    if "dryRun=All" in e.get("requestURI", ""):
        dry[e["verb"]] += 1
print("%d|%s" % (sum(count.values()), ", ".join(
    "%s %d%s" % (v, n, " (%d dry-run)" % dry[v] if dry[v] else "") for v, n in sorted(count.items())) or "none"))' "${@:2}"
}
# Of processes $@: summed CPU ticks (their own and their reaped children's),
# bytes written to storage, resident and peak resident KiB.
cpu_ticks() { local t=0 p; for p in "$@"; do t=$((t + $(awk '{print $14 + $15 + $16 + $17}' "/proc/$p/stat"))); done; echo "$t"; }
write_bytes() { local b=0 p; for p in "$@"; do b=$((b + $(awk '$1 == "write_bytes:" {print $2}' "/proc/$p/io"))); done; echo "$b"; }
vm() { local kib=0 p; for p in "${@:2}"; do kib=$((kib + $(awk -v k="$1:" '$1 == k {print $2}' "/proc/$p/status"))); done; echo "$kib"; }
mb() { awk "BEGIN{printf \"%.1f\", $1 / 1024}"; }

# Waits until namespace $1 holds $2 ConfigMaps, Deployments and Services (the
# kubectl loop's ApplySet parent is one more ConfigMap); prints the seconds since $3.
wait_objects() {
    local i n
    for i in $(seq 1800); do
        n=$(k -n "$1" get configmaps,deployments,services -o name 2>/dev/null | grep -vc -e kube-root-ca.crt -e peer-applyset || true)
        if [ "$n" -ge "$2" ]; then
            awk "BEGIN{printf \"%.1f\", $(date +%s.%N) - $3}"
            return 0
        fi
        sleep 0.5
    done
    echo "never"
}
# Polls until `kubectl -n $1 get $2 -o jsonpath=$3` prints $4; prints the seconds since $5.
wait_value() {
    local i
    for i in $(seq 600); do
        if [ "$(k -n "$1" get "$2" -o "jsonpath=$3" 2>/dev/null)" = "$4" ]; then
            awk "BEGIN{printf \"%.1f\", $(date +%s.%N) - $5}"
            return 0
        fi
        sleep 0.5
    done
    echo "never"
}

# The peers. Each start_* starts one against repository $1 ($2 objects) in
# namespace $3 and sets pids (the processes to measure), ua (a regex of their
# User-Agent) and keys (the datastore keys of what it writes besides the objects).
start_plumb() {
    local url=$1 ns=$3
    cat >"$work/$ns.yaml" <<YAML
kubeconfig: $kubeconfig
stateDir: $work/$ns-state
nodeName: $ns
interval: ${interval}s
jitter: 0.05
listen: ""
leaderElection: {enabled: false}
sources: [{name: peers, url: "$url", ref: {branch: main}, caFile: $GIT_CA}]
syncs: [{name: $ns, source: peers, path: apps, namespace: $ns, prune: true, wait: true, timeout: 5m}]
YAML
    "$plumb" run --config "$work/$ns.yaml" >"$work/$ns.log" 2>&1 &
    pids=($!)
    ua="\\($ns\\)"
    keys=("/registry/configmaps/plumb-system/plumb-$ns" "/registry/events/plumb-system/")
}
stop_plumb() { kill "${pids[@]}"; wait "${pids[@]}" 2>/dev/null || true; }

flux_crds_applied=
start_flux() {
    local url=$1 ns=$3
    if [ -z "$flux_crds_applied" ]; then
        k apply --server-side -f "$source_controller" -f "$kustomize_controller" >/dev/null
        k wait --for condition=established --timeout=60s crd/gitrepositories.source.toolkit.fluxcd.io crd/kustomizations.kustomize.toolkit.fluxcd.io >/dev/null
        k create namespace flux-system >/dev/null 2>&1 || true
        flux_crds_applied=1
    fi
    k -n flux-system delete secret peers-ca --ignore-not-found >/dev/null
    k -n flux-system create secret generic peers-ca --from-file=ca.crt="$GIT_CA" >/dev/null
    local storage=$work/$ns-storage sport; sport=$(free_port)
    mkdir -p "$storage"
    RUNTIME_NAMESPACE=flux-system KUBECONFIG=$kubeconfig "$source_controller/source-controller" \
        --storage-path="$storage" --storage-addr="127.0.0.1:$sport" --storage-adv-addr="127.0.0.1:$sport" \
        --metrics-addr="127.0.0.1:$(free_port)" --health-addr="127.0.0.1:$(free_port)" \
        --enable-leader-election=false --events-addr= >"$work/$ns-source.log" 2>&1 &
    local s=$!
    RUNTIME_NAMESPACE=flux-system KUBECONFIG=$kubeconfig "$kustomize_controller/kustomize-controller" \
        --metrics-addr="127.0.0.1:$(free_port)" --health-addr="127.0.0.1:$(free_port)" \
        --enable-leader-election=false --events-addr= --no-remote-bases >"$work/$ns-kustomize.log" 2>&1 &
    pids=("$s" $!)
    k apply --server-side -f - >/dev/null <<YAML
apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata: {name: peers, namespace: flux-system}
spec:
  interval: ${interval}s
  url: $url
  ref: {branch: main}
  secretRef: {name: peers-ca}
---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {name: peers, namespace: flux-system}
spec:
  interval: ${interval}s
  sourceRef: {kind: GitRepository, name: peers}
  path: ./apps
  prune: true
  wait: true
  timeout: 5m
  targetNamespace: $ns
YAML
    ua='^(source|kustomize)-controller'
    keys=("/registry/source.toolkit.fluxcd.io/" "/registry/kustomize.toolkit.fluxcd.io/" "/registry/events/flux-system/" "/registry/secrets/flux-system/")
}
stop_flux() {
    # While the controllers run, so that their finalizers let go (and prune).
    k -n flux-system delete kustomization peers --timeout=300s >/dev/null || true
    k -n flux-system delete gitrepository peers --timeout=120s >/dev/null || true
    kill "${pids[@]}"
    wait "${pids[@]}" 2>/dev/null || true
}

start_kubectl() {
    local url=$1 ns=$3
    git clone -q "$url" "$work/$ns-clone"
    cat >"$work/$ns.sh" <<SH
#!/usr/bin/env bash
trap 'exit 0' TERM
cd "$work/$ns-clone"
while :; do
    git fetch -q origin main && git reset -q --hard origin/main &&
        KUBECTL_APPLYSET=true /usr/bin/time -a -o "$work/$ns.rss" -f %M kubectl --kubeconfig "$kubeconfig" \\
            apply --server-side --force-conflicts --prune --applyset=configmaps/peer-applyset -n $ns -f apps/ >/dev/null
    sleep $interval & wait \$!
done
SH
    chmod +x "$work/$ns.sh"
    : >"$work/$ns.rss"
    "$work/$ns.sh" >"$work/$ns.log" 2>&1 &
    pids=($!)
    ua='^kubectl/'
    keys=()
}
stop_kubectl() { kill -TERM "${pids[@]}"; wait "${pids[@]}" 2>/dev/null || true; }
# The loop's kubectl runs one after the other: its resident memory is theirs.
kubectl_peak() { sort -n "$work/$1.rss" | tail -1; }

# One peer on one repository: "first_s|first_peak_kib|change_s|drift_s|idle..." where
# idle is "requests|verbs|rows|write_bytes|cpu_s|rss_kib" (or empty without idle).
run_peer() { # peer url apps ns idle-minutes
    local peer=$1 url=$2 apps=$3 ns=$4 idle=$5 objects=$(($3 * 3))
    k create namespace "$ns" >/dev/null
    local t0; t0=$(date +%s.%N)
    "start_$peer" "$url" "$apps" "$ns"
    # run_peer is a subshell: a step that fails ends it, and its peer with it.
    trap 'kill "${pids[@]}" 2>/dev/null || true' EXIT
    local first; first=$(wait_objects "$ns" "$objects" "$t0")
    log "$peer, $objects objects: first apply in $first s"
    # Settled: every Deployment available (the peers that wait have seen it;
    # on 2 cores the controllers and kwok take minutes for 333), then a minute.
    k -n "$ns" wait --for condition=Available deployment --all --timeout=900s >/dev/null
    if [ "$peer" = flux ]; then
        k -n flux-system wait --for condition=Ready kustomization/peers --timeout=600s >/dev/null
    fi
    sleep 60
    local peak
    if [ "$peer" = kubectl ]; then peak=$(kubectl_peak "$ns"); else peak=$(vm VmHWM "${pids[@]}"); fi
    local idle_figures=
    if [ "$idle" -gt 0 ]; then
        local l row ticks bytes
        l=$(audit_lines); row=$(top_row); ticks=$(cpu_ticks "${pids[@]}"); bytes=$(write_bytes "${pids[@]}")
        : >"$work/$ns.rss"
        sleep $((idle * 60))
        local v rows cpu written rss
        v=$(verbs_since "$l" "$ua" "$ns" flux-system plumb-system)
        rows=$(rows_since "$row" "/registry/configmaps/$ns/" "/registry/deployments/$ns/" "/registry/services/specs/$ns/" "/registry/events/$ns/" "${keys[@]}")
        cpu=$(awk "BEGIN{printf \"%.1f\", ($(cpu_ticks "${pids[@]}") - $ticks) / $(getconf CLK_TCK)}")
        written=$(( $(write_bytes "${pids[@]}") - bytes ))
        if [ "$peer" = kubectl ]; then rss=$(kubectl_peak "$ns"); else rss=$(vm VmRSS "${pids[@]}"); fi
        idle_figures="$v|$rows|$written|$cpu|$rss"
        log "$peer idle: $v, $rows rows, $written bytes written, $cpu CPU s"
    fi
    # A one-line change, then drift.
    local src=$work/repo-$apps-src t
    sed -i "s/index: \"1\"/index: \"changed-$peer\"/" "$src/apps/app-1.yaml"
    git_ -C "$src" commit -q -am "change for $peer"
    t=$(date +%s.%N)
    git_ -C "$src" push -q origin HEAD:refs/heads/main
    local change; change=$(wait_value "$ns" configmap/cfg-1 '{.data.index}' "changed-$peer" "$t")
    git_ -C "$src" revert --no-edit HEAD >/dev/null
    git_ -C "$src" push -q origin HEAD:refs/heads/main
    wait_value "$ns" configmap/cfg-1 '{.data.index}' 1 "$t" >/dev/null
    t=$(date +%s.%N)
    k -n "$ns" scale deployment app-2 --replicas=3 >/dev/null
    local drift; drift=$(wait_value "$ns" deployment/app-2 '{.spec.replicas}' 1 "$t")
    log "$peer: change applied in $change s, drift corrected in $drift s"
    "stop_$peer"
    k delete namespace "$ns" --timeout=300s >/dev/null || true
    echo "$first|$peak|$change|$drift|$idle_figures"
}

url300=$(make_repo repo-100 100)
url1000=$(make_repo repo-333 333)
declare -A r300 r1000
none="—|0|—|—|—|—|—|0|—|0"
for peer in plumb flux kubectl; do r300[$peer]=$none r1000[$peer]=$none; done
# PLUMB_PEERS="flux" measures only those (to try the script); the table says — for the others.
for peer in ${PLUMB_PEERS:-plumb flux kubectl}; do
    r300[$peer]=$(run_peer "$peer" "$url300" 100 "peer-$peer-300" 0)
    r1000[$peer]=$(run_peer "$peer" "$url1000" 333 "peer-$peer-1000" "$minutes")
    printf '%s 300 %s\n%s 1000 %s\n' "$peer" "${r300[$peer]}" "$peer" "${r1000[$peer]}" >>"$work/results"
done

kver=$(kubectl version --client 2>/dev/null | sed -n 's/^Client Version: //p')
sver=$(bash "$repo/tests/tools/build.sh" version flux-source-controller)
kcver=$(bash "$repo/tests/tools/build.sh" version flux-kustomize-controller)
pver=$("$plumb" --version | head -1)
table=$(python3 - "$minutes" "$interval" "$pver" "$sver" "$kcver" "$kver" "${r300[plumb]}" "${r300[flux]}" "${r300[kubectl]}" "${r1000[plumb]}" "${r1000[flux]}" "${r1000[kubectl]}" <<'PY'
import sys, datetime, os
minutes, interval, pver, sver, kcver, kver = sys.argv[1:7]
names = ["plumb", "Flux", "kubectl loop"]
small = [r.split("|") for r in sys.argv[7:10]]
large = [r.split("|") for r in sys.argv[10:13]]
mb = lambda kib: "%.1f" % (int(kib) / 1024)
def num(x):
    try:
        return float(x)
    except ValueError:
        return None
def ratio(a, b):
    a, b = num(a), num(b)
    if a is None or b is None or b == 0:
        return "—"
    return "%.2g" % (a / b) if a / b < 10 else "%.0f" % (a / b)
print(f"Measured by `tests/peers.sh {minutes}` on {datetime.date.today()} ({os.cpu_count()} cores, x86_64; the test cluster on kine and SQLite). "
      f"Peers: {pver} (release build; `plumb run`, one sync, prune and wait with a 5m timeout, jitter 0.05); "
      f"Flux: source-controller {sver} and kustomize-controller {kcver} (built from their Go modules; out of cluster, leader election off, "
      f"one GitRepository and one Kustomization with prune, wait and a 5m timeout, Flux's default 5 % jitter); "
      f"kubectl {kver} in a loop (`git fetch && git reset --hard && KUBECTL_APPLYSET=true kubectl apply --server-side --force-conflicts --prune --applyset=…`, "
      "`--force-conflicts` so that it can take back a field someone else changed). "
      f"One repository per size over the suite's HTTPS Git server, a {interval} s interval for all, one peer after the other. "
      "First apply: from the start of the peer's processes until every object exists (then, before anything else, until every Deployment is available, and a minute); its peak is the largest resident set so far (Flux: both controllers summed; the loop: its largest kubectl). "
      "Change: a ConfigMap's value pushed, until the cluster has it. Drift: a Deployment scaled to 3, until it is back at 1. "
      f"Idle: {minutes} minutes from a minute after the first apply; requests from the audit log by User-Agent; rows: what kine added for the peer's objects, their Events, and the peer's own objects "
      "(plumb's parent ConfigMap and Events; Flux's GitRepository, Kustomization, their Events); bytes written: /proc/PID/io `write_bytes` (the loop's shell counts its reaped children); "
      "CPU: /proc/PID/stat, children included; resident: at the end (the loop: its largest kubectl run, as nothing stays resident between runs).")
print()
print("| figure | plumb | Flux | kubectl loop | plumb / Flux | plumb / kubectl |")
print("|---|---:|---:|---:|---:|---:|")
def row(label, values, fmt=lambda x: x):
    shown = [fmt(v) if num(v) is not None else v for v in values]
    print(f"| {label} | {shown[0]} | {shown[1]} | {shown[2]} | {ratio(values[0], values[1])} | {ratio(values[0], values[2])} |")
for size, runs in (("300", small), ("1,000", large)):
    row(f"{size} objects: first apply (s)", [r[0] for r in runs])
    row(f"{size} objects: peak RSS during it (MB)", [r[1] for r in runs], mb)
    row(f"{size} objects: change applied after (s)", [r[2] for r in runs])
    row(f"{size} objects: drift corrected after (s)", [r[3] for r in runs])
row(f"idle {minutes} min on 1,000: API requests", [r[4] for r in large])
print(f"| idle: requests by verb | {' | '.join(r[5] for r in large)} | | |")
row(f"idle: datastore rows", [r[6] for r in large])
row(f"idle: bytes written to disk", [r[7] for r in large], lambda x: f"{int(x):,}")
row(f"idle: CPU seconds", [r[8] for r in large])
row(f"idle: resident memory (MB)", [r[9] for r in large], mb)
PY
)
write_table PEERS "$table"
echo "$table"
