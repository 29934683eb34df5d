#!/usr/bin/env bash
# Soak: one `plumb run` daemon with 5 syncs at a 2 s interval for MINUTES
# (default 60; about 9,000 sync cycles an hour) on the test cluster, its
# repository on the suite's HTTPS Git server; a one-line change pushed every
# 100 sync cycles and drift (a ConfigMap edited, a Deployment scaled) made every 50.
# Each minute: resident memory, open file descriptors and cycles; at the end
# the memory slope after a warm-up, cycles lost (a minute in which a sync
# reconciled less often than its interval allows, or a cycle that failed),
# and whether every change and every drift was applied or corrected. The
# table goes between the BENCH:SOAK markers of docs/performance.md.
#
#   tests/soak.sh [MINUTES]   starts the cluster and the Git servers if they are down
#
# Not part of the README's test command: it is long, and it measures.
# PLUMB_BIN=path soaks that binary instead of a fresh release build.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
minutes=${1:-60}
work=$repo/target/soak
cluster=${PLUMB_TEST_CLUSTER:-$repo/target/test-cluster}
kubeconfig=$cluster/admin.kubeconfig
# shellcheck source=tests/bench-table.sh
. "$repo/tests/bench-table.sh"

bash "$repo/tests/cluster.sh" up >&2
bash "$repo/tests/git-servers.sh" up >&2
# shellcheck disable=SC1091
. "${PLUMB_TEST_GIT:-$repo/target/test-git}/env"
plumb=${PLUMB_BIN:-}
if [ -z "$plumb" ]; then
    (cd "$repo" && cargo build -q --release -p plumb)
    plumb=$repo/target/release/plumb
fi

rm -rf "$work" && mkdir -p "$work"
git_() { git -c user.name=soak -c user.email=soak@example.org -c init.defaultBranch=main "$@"; }
name=soak-$$
git_ init -q --bare "$GIT_REPOS/$name.git"
git_ init -q "$work/src"
for s in 1 2 3 4 5; do
    mkdir -p "$work/src/s$s"
    for i in $(seq 1 10); do
        printf 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cfg-%s}\ndata: {value: "0"}\n' "$i" >"$work/src/s$s/cfg-$i.yaml"
    done
    for i in $(seq 1 5); do
        cat >"$work/src/s$s/app-$i.yaml" <<YAML
apiVersion: apps/v1
kind: Deployment
metadata: {name: app-$i}
spec:
  replicas: 1
  selector: {matchLabels: {app: app-$i}}
  template:
    metadata: {labels: {app: app-$i}}
    spec: {containers: [{name: app, image: nginx:1.27-alpine}]}
YAML
    done
done
git_ -C "$work/src" add -A && git_ -C "$work/src" commit -q -m soak
git_ -C "$work/src" remote add origin "$GIT_REPOS/$name.git"
git_ -C "$work/src" push -q origin HEAD:refs/heads/main

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
{
    cat <<YAML
kubeconfig: $kubeconfig
stateDir: $work/state
nodeName: soak
interval: 2s
jitter: 0
listen: 127.0.0.1:$port
sources: [{name: soak, url: "$GIT_HTTPS_URL/anon/$name.git", ref: {branch: main}, caFile: $GIT_CA}]
syncs:
YAML
    for s in 1 2 3 4 5; do
        echo "  - {name: soak-$s, source: soak, path: s$s, namespace: soak-$s, prune: true, timeout: 30s}"
    done
} >"$work/plumb.yaml"
for s in 1 2 3 4 5; do kubectl --kubeconfig "$kubeconfig" create namespace "soak-$s" >/dev/null 2>&1 || true; done

"$plumb" run --config "$work/plumb.yaml" >"$work/plumb.log" 2>&1 &
daemon=$!
trap 'kill $daemon 2>/dev/null || true' EXIT

python3 - "$daemon" "$port" "$minutes" "$work" "$kubeconfig" >"$work/result" <<'PY'
import json, os, re, subprocess, sys, time, urllib.request

pid, port, minutes, work, kubeconfig = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
src = os.path.join(work, "src")
interval, syncs = 2.0, 5
env = dict(os.environ, GIT_SSL_CAINFO=os.environ.get("GIT_CA", ""))

def kubectl(*args):
    return subprocess.run(["kubectl", "--kubeconfig", kubeconfig, *args], capture_output=True, text=True)

def metrics():
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        text = r.read().decode()
    cycles, failed = {}, 0
    for m in re.finditer(r'^plumb_reconciles_total\{sync="([^"]+)",result="([^"]+)"\} (\d+)', text, re.M):
        cycles[m[1]] = cycles.get(m[1], 0) + int(m[3])
        if m[2] in ("failed", "stalled"):
            failed += int(m[3])
    return cycles, failed

def status(key):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith(key + ":"):
            return int(line.split()[1])

def fds():
    return len(os.listdir(f"/proc/{pid}/fd"))

def total(c):
    return sum(c.values())

# Until every sync has reconciled once: the first apply.
start = time.time()
while True:
    try:
        c, _ = metrics()
        if len(c) == syncs:
            break
    except OSError:
        pass
    if time.time() - start > 300:
        sys.exit("soak: the daemon did not reconcile every sync within 5 minutes")
    time.sleep(1)

samples = []          # (minute, rss KiB, anon KiB, fds, cycles per sync)
changes, drifts = [], []  # [due check, what, check(), seconds to apply or None]
next_change = next_drift = total(c)
n_change = n_drift = 0
t0 = time.time()
last_sample = -1
while True:
    now = time.time()
    minute = int((now - t0) // 60)
    c, failed = metrics()
    if minute != last_sample:
        if minute >= minutes:
            break
        samples.append((minute, status("VmRSS"), status("RssAnon"), fds(), dict(c), failed))
        last_sample = minute
    cycles = total(c)
    if cycles >= next_change:
        n_change += 1
        s = n_change % syncs + 1
        path = os.path.join(src, f"s{s}", "cfg-1.yaml")
        text = open(path).read()
        open(path, "w").write(re.sub(r'value: "\d+"', f'value: "{n_change}"', text))
        subprocess.run(["git", "-C", src, "-c", "user.name=soak", "-c", "user.email=soak@example.org",
                        "commit", "-q", "-am", f"change {n_change}"], check=True)
        subprocess.run(["git", "-C", src, "push", "-q", "origin", "HEAD:refs/heads/main"], check=True, env=env)
        want = str(n_change)
        changes.append([now, f"soak-{s}/cfg-1={want}",
                        (lambda s=s, want=want: kubectl("-n", f"soak-{s}", "get", "configmap", "cfg-1",
                                                        "-o", "jsonpath={.data.value}").stdout == want), None])
        next_change = cycles + 100
    if cycles >= next_drift:
        n_drift += 1
        s = n_drift % syncs + 1
        if n_drift % 2:
            kubectl("-n", f"soak-{s}", "patch", "configmap", "cfg-2", "--type", "merge", "-p", '{"data":{"value":"drifted"}}')
            check = lambda s=s: kubectl("-n", f"soak-{s}", "get", "configmap", "cfg-2", "-o", "jsonpath={.data.value}").stdout == "0"
            what = f"soak-{s}/cfg-2 edited"
        else:
            kubectl("-n", f"soak-{s}", "scale", "deployment", "app-1", "--replicas=3")
            check = lambda s=s: kubectl("-n", f"soak-{s}", "get", "deployment", "app-1", "-o", "jsonpath={.spec.replicas}").stdout == "1"
            what = f"soak-{s}/app-1 scaled"
        drifts.append([now, what, check, None])
        next_drift = cycles + 50
    for item in changes + drifts:
        if item[3] is None and now - item[0] < 60 and item[2]():
            item[3] = time.time() - item[0]
    time.sleep(0.5)
# The last ones get their minute.
deadline = time.time() + 60
while time.time() < deadline and any(i[3] is None and time.time() - i[0] < 60 for i in changes + drifts):
    for item in changes + drifts:
        if item[3] is None and time.time() - item[0] < 60 and item[2]():
            item[3] = time.time() - item[0]
    time.sleep(0.5)

warm = [s for s in samples if s[0] >= 5] or samples
def slope(points):  # least squares, per hour
    n = len(points)
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    den = sum((x - mx) ** 2 for x, _ in points) or 1
    return sum((x - mx) * (y - my) for x, y in points) / den * 60
rss_slope = slope([(s[0], s[1]) for s in warm])
anon_slope = slope([(s[0], s[2]) for s in warm])
per_minute = []
for a, b in zip(samples, samples[1:]):
    per_minute.append(min(b[4].get(k, 0) - a[4].get(k, 0) for k in a[4]))
final_cycles, final_failed = metrics()
lost_minutes = sum(1 for n in per_minute if n < 60 / interval * 0.9)
result = {
    "minutes": minutes,
    "cycles": total(final_cycles),
    "cycles_per_sync": final_cycles,
    "failed_or_stalled": final_failed,
    "fewest_cycles_in_a_minute": min(per_minute) if per_minute else 0,
    "minutes_below_90pct": lost_minutes,
    "rss_kib": [s[1] for s in samples],
    "anon_kib": [s[2] for s in samples],
    "fds": [s[3] for s in samples],
    "rss_slope_kib_per_hour": round(rss_slope),
    "anon_slope_kib_per_hour": round(anon_slope),
    "changes": len(changes), "changes_applied": sum(1 for c in changes if c[3] is not None),
    "change_seconds_max": round(max((c[3] for c in changes if c[3] is not None), default=0), 1),
    "drifts": len(drifts), "drifts_corrected": sum(1 for d in drifts if d[3] is not None),
    "drift_seconds_max": round(max((d[3] for d in drifts if d[3] is not None), default=0), 1),
    "not_applied": [c[1] for c in changes + drifts if c[3] is None],
}
json.dump(result, sys.stdout)
PY
kill "$daemon" && wait "$daemon" 2>/dev/null || true
trap - EXIT
for s in 1 2 3 4 5; do kubectl --kubeconfig "$kubeconfig" delete namespace "soak-$s" --wait=false >/dev/null 2>&1 || true; done

table=$(python3 - "$work/result" "$minutes" "$("$plumb" --version 2>/dev/null | head -1)" <<'PY'
import json, sys, datetime, os
r, minutes, version = json.load(open(sys.argv[1])), sys.argv[2], sys.argv[3]
rss, anon, fds = r["rss_kib"], r["anon_kib"], r["fds"]
mb = lambda k: "%.1f" % (k / 1024)
warm = 5 if len(rss) > 5 else 0
print(f"Measured by `tests/soak.sh {minutes}` on {datetime.date.today()} ({os.cpu_count()} cores; {version}, release build): "
      "one daemon, 5 syncs of 15 objects (10 ConfigMaps, 5 Deployments) from one repository over the suite's HTTPS Git server, "
      "a 2 s interval without jitter, leader election on; a one-line change pushed every 100 sync cycles, "
      "drift (a ConfigMap edited, a Deployment scaled, in turn) every 50. Memory and descriptors from /proc each minute; "
      f"the slope is a least-squares fit from minute {warm} on.")
print()
print("| figure | value |")
print("|---|---:|")
print(f"| sync cycles | {r['cycles']:,} ({', '.join(f'{k} {v:,}' for k, v in sorted(r['cycles_per_sync'].items()))}) |")
print(f"| cycles failed or stalled | {r['failed_or_stalled']} |")
print(f"| fewest cycles of one sync in a minute (30 at most) | {r['fewest_cycles_in_a_minute']} |")
print(f"| resident memory, MB: minute {warm} / last / max | {mb(rss[warm])} / {mb(rss[-1])} / {mb(max(rss[warm:]))} |")
print(f"| anonymous memory, MB: minute {warm} / last / max | {mb(anon[warm])} / {mb(anon[-1])} / {mb(max(anon[warm:]))} |")
print(f"| slope after warm-up, KiB per hour: resident / anonymous | {r['rss_slope_kib_per_hour']} / {r['anon_slope_kib_per_hour']} |")
print(f"| open file descriptors: min / max | {min(fds)} / {max(fds)} |")
print(f"| changes pushed / applied (slowest, s) | {r['changes']} / {r['changes_applied']} ({r['change_seconds_max']}) |")
print(f"| drifts made / corrected (slowest, s) | {r['drifts']} / {r['drifts_corrected']} ({r['drift_seconds_max']}) |")
if r["not_applied"]:
    print(f"| not applied within a minute | {', '.join(r['not_applied'])} |")
print()
print("Resident memory each minute (MB): " + " ".join(mb(k) for k in rss))
PY
)
write_table SOAK "$table"
echo "$table"
