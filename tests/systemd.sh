#!/usr/bin/env bash
# Checks systemd/plumb.service without a running systemd:
#   1. `systemd-analyze verify` is clean (no output at all: unknown keys are
#      only warnings there, and count as failures here), in a throwaway root
#      that holds the unit, systemd's own units and the commands it runs;
#   2. a broken copy of the unit is caught (so check 1 can fail);
#   3. `systemd-analyze security --offline=true` exposure is at most
#      $PLUMB_MAX_EXPOSURE (default 2.0);
#   4. the promises other files rely on: the user, the paths, Type=notify;
#   5. the unit for real: systemd 252 boots in systemd-nspawn (a Debian
#      bookworm root made once with debootstrap, cached in $PLUMB_CACHE) and
#      starts plumb.service as installed: it must reach active (running)
#      through READY=1 with plumb's STATUS= line, stay up with the watchdog
#      cut to 3 s by a drop-in (so WATCHDOG=1 arrives), survive
#      `systemctl reload`, answer /healthz, and reconcile a ConfigMap from a
#      file:// repository into the test cluster, all under the hardening.
#      Needs the test cluster (tests/cluster.sh up; tests/run starts it).
# `tests/systemd.sh --static` runs 1-4 only. Installs what it needs (systemd,
# procps, systemd-container, debootstrap) if missing.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
unit=$repo/systemd/plumb.service
max=${PLUMB_MAX_EXPOSURE:-2.0}
static_only=0
[ "${1:-}" = --static ] && static_only=1

log() { printf '[systemd] %s\n' "$*" >&2; }
fail() { log "FAIL: $*"; exit 1; }

. "$repo/tests/apt.sh"
apt_install systemd procps
[ $static_only = 1 ] || apt_install systemd-container debootstrap
log "$(systemd-analyze --version | head -n1)"

root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
# The root: merged /usr like Debian, systemd's units (for the dependencies'
# targets), /bin/kill (ExecReload) and an executable at /usr/local/bin/plumb
# (verify checks that ExecStart= is executable, nothing more).
mkdir -p "$root/usr/bin" "$root/usr/lib/systemd" "$root/usr/local/bin" "$root/etc/systemd/system"
ln -s usr/bin "$root/bin"
ln -s usr/lib "$root/lib"
systemd_units=$(pkg-config --variable=systemdsystemunitdir systemd 2>/dev/null || echo /usr/lib/systemd/system)
[ -d "$systemd_units" ] || systemd_units=/lib/systemd/system
cp -a "$systemd_units" "$root/usr/lib/systemd/system"
cp /bin/kill "$root/usr/bin/kill"
printf '#!/bin/sh\nexit 0\n' >"$root/usr/local/bin/plumb"
chmod 0755 "$root/usr/local/bin/plumb"

verify() { # prints everything systemd-analyze says about the unit in the root
    cp "$1" "$root/etc/systemd/system/plumb.service"
    systemd-analyze verify --root="$root" --man=no plumb.service 2>&1 || true
}

log "systemd-analyze verify"
out=$(verify "$unit")
[ -z "$out" ] || fail "systemd-analyze verify is not clean:
$out"
log "clean"

log "negative control: a misspelt key must be reported"
sed 's/^Restart=/Restrat=/' "$unit" >"$root/broken.service"
out=$(verify "$root/broken.service")
printf '%s\n' "$out" | grep -q "Unknown key 'Restrat'" || fail "verify did not report a misspelt key: '$out'"
log "reported: $(printf '%s' "$out" | head -n1)"

log "systemd-analyze security --offline=true"
report=$(systemd-analyze security --offline=true --no-pager "$unit" 2>&1) || true
printf '%s\n' "$report" | grep '✗' | sed 's/^/    /' >&2 || true
score=$(printf '%s\n' "$report" | sed -n 's/.*Overall exposure level for plumb.service: \([0-9.]*\).*/\1/p')
[ -n "$score" ] || fail "no exposure level in:
$report"
awk -v s="$score" -v m="$max" 'BEGIN { exit !(s <= m) }' || fail "exposure $score is above $max"
log "exposure $score (at most $max)"

log "the unit's promises"
want=(
    'Type=notify'
    'WatchdogSec='
    'User=plumb'
    'ExecStart=/usr/local/bin/plumb run --config /etc/plumb/plumb.yaml'
    'ExecReload=/bin/kill -HUP $MAINPID'
    'StateDirectory=plumb'
    'ConfigurationDirectory=plumb'
    'MemoryMax='
    'CapabilityBoundingSet='
    'RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6'
    'SystemCallFilter=@system-service'
)
for w in "${want[@]}"; do
    grep -qF -- "$w" "$unit" || fail "the unit has no '$w'"
done
grep -qx 'CapabilityBoundingSet=' "$unit" || fail "CapabilityBoundingSet= must be empty"
[ $static_only = 1 ] && { log "ok: exposure $score (static checks only)"; exit 0; }

# ---------------------------------------------------------------- 5. boot
cluster=${PLUMB_TEST_CLUSTER:-$repo/target/test-cluster}
cache=${PLUMB_CACHE:-$HOME/.cache/plumb}
work=$repo/target/systemd-test
croot=$work/root
[ -f "$cluster/admin.kubeconfig" ] || fail "no test cluster at $cluster: start it with tests/cluster.sh up (tests/run does), or run tests/systemd.sh --static"
kubectl_() { kubectl --kubeconfig "$cluster/admin.kubeconfig" "$@"; }
kubectl_ get --raw /version >/dev/null 2>&1 || fail "the test cluster does not answer: tests/cluster.sh up"

tarball=$cache/nspawn-bookworm.tar
if [ ! -f "$tarball" ]; then
    log "debootstrap a bookworm root with systemd (once, cached as $tarball)"
    mkdir -p "$cache"
    tmp=$(mktemp -d "$cache/debootstrap.XXXXXX")
    debootstrap --variant=minbase --include=systemd,systemd-sysv,dbus,git,procps bookworm "$tmp/root" \
        http://deb.debian.org/debian >"$tmp/log" 2>&1 || { tail -n 20 "$tmp/log" >&2; rm -rf "$tmp"; fail "debootstrap failed"; }
    tar -C "$tmp/root" -cf "$tarball.part" . && mv "$tarball.part" "$tarball"
    rm -rf "$tmp"
fi

log "the container root: plumb, its user, config, kubeconfig, a file:// repository, the unit"
rm -rf "$work" && mkdir -p "$croot"
tar -C "$croot" -xf "$tarball"
plumb=$repo/target/debug/plumb
[ -x "$plumb" ] || (cd "$repo" && cargo build -q -p plumb)
install -m 0755 "$plumb" "$croot/usr/local/bin/plumb"
chroot "$croot" useradd --system --user-group --home-dir /var/lib/plumb --shell /usr/sbin/nologin plumb
uid=$(chroot "$croot" id -u plumb) gid=$(chroot "$croot" id -g plumb)
install -d -m 0750 -o 0 -g "$gid" "$croot/etc/plumb"
install -m 0600 -o "$uid" -g "$gid" "$cluster/admin.kubeconfig" "$croot/etc/plumb/kubeconfig"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat >"$croot/etc/plumb/plumb.yaml" <<YAML
kubeconfig: /etc/plumb/kubeconfig
stateDir: /var/lib/plumb
nodeName: nspawn
listen: 127.0.0.1:$port
leaderElection: {enabled: false}
interval: 10s
sources:
  - {name: src, url: "file:///srv/repo.git", ref: {branch: main}}
syncs:
  - {name: nspawn, source: src, path: apps, namespace: apps, wait: false}
YAML
chown 0:"$gid" "$croot/etc/plumb/plumb.yaml" && chmod 0640 "$croot/etc/plumb/plumb.yaml"
kubectl_ get namespace apps >/dev/null 2>&1 || kubectl_ create namespace apps >/dev/null
kubectl_ -n apps delete configmap nspawn-check --ignore-not-found >/dev/null
stamp="booted $(date +%s)"
mkdir -p "$work/src/apps"
cat >"$work/src/apps/cm.yaml" <<YAML
apiVersion: v1
kind: ConfigMap
metadata: {name: nspawn-check, namespace: apps}
data: {from: "$stamp"}
YAML
git_() { GIT_CONFIG_GLOBAL=/dev/null GIT_CONFIG_NOSYSTEM=1 git -c user.name=t -c user.email=t@localhost "$@"; }
git_ -C "$work/src" init -q -b main && git_ -C "$work/src" add -A && git_ -C "$work/src" commit -q -m apps
git_ clone -q --bare "$work/src" "$croot/srv/repo.git"
# Root owns the repository, as when an admin made it on the node: plumb
# must read it anyway (git calls that "dubious ownership" unless told).
install -m 0644 "$unit" "$croot/etc/systemd/system/plumb.service"
ln -s /etc/systemd/system/plumb.service "$croot/etc/systemd/system/multi-user.target.wants/plumb.service"
mkdir -p "$croot/etc/systemd/system/plumb.service.d"
printf '[Service]\nWatchdogSec=3s\n' >"$croot/etc/systemd/system/plumb.service.d/watchdog.conf"
# The probe: waits for plumb's first cycle, reloads it, waits past a few
# watchdog periods, writes what systemd says, and powers the container off.
cat >"$croot/etc/systemd/system/probe.service" <<'UNIT'
[Unit]
After=plumb.service
[Service]
Type=oneshot
StandardOutput=file:/root/probe.txt
# Not inherit: `file:` writes from the file's start, so a message of the
# poweroff below ("Call to PowerOff failed", when it races the shutdown)
# would overwrite the first lines of the report.
StandardError=journal
ExecStart=/bin/sh -c 'for i in $(seq 1 60); do systemctl show plumb -p StatusText | grep -q Ready && break; sleep 1; done; systemctl reload plumb && echo reload=ok; sleep 10; systemctl show plumb -p ActiveState -p SubState -p Type -p StatusText -p NRestarts -p WatchdogUSec -p User; journalctl -u plumb --no-pager -o cat'
ExecStartPost=/bin/systemctl poweroff
UNIT
ln -s /etc/systemd/system/probe.service "$croot/etc/systemd/system/multi-user.target.wants/probe.service"

log "boot the container (systemd-nspawn --boot)"
timeout 240 systemd-nspawn -D "$croot" --boot --register=no --keep-unit --console=pipe \
    --machine=plumb-systemd-test </dev/null >"$work/boot.log" 2>&1 &
boot_pid=$!
healthz=""
for _ in $(seq 1 120); do
    if healthz=$(curl -fsS "http://127.0.0.1:$port/healthz" 2>/dev/null); then break; fi
    kill -0 "$boot_pid" 2>/dev/null || break
    sleep 1
done
wait "$boot_pid" || true
[ -f "$croot/root/probe.txt" ] || { tail -n 30 "$work/boot.log" >&2; fail "the container wrote no probe report"; }
sed 's/^/    /' "$croot/root/probe.txt" >&2
probe() { grep -qx "$1" "$croot/root/probe.txt" || fail "systemd says otherwise: want '$1'"; }
probe 'Type=notify'
probe 'User=plumb'
probe 'ActiveState=active'
probe 'SubState=running'
probe 'NRestarts=0'
probe 'WatchdogUSec=3s'
probe 'reload=ok'
grep -q '^StatusText=nspawn: .*Ready' "$croot/root/probe.txt" || fail "no STATUS= line with the sync Ready"
! grep -qi 'watchdog timeout' "$croot/root/probe.txt" "$work/boot.log" || fail "the watchdog fired"
[ -n "$healthz" ] || fail "/healthz on 127.0.0.1:$port never answered"
log "/healthz: $healthz"
[ "$(kubectl_ -n apps get configmap nspawn-check -o 'jsonpath={.data.from}')" = "$stamp" ] ||
    fail "plumb under systemd did not apply apps/nspawn-check"
log "plumb.service ran under systemd $(chroot "$croot" systemctl --version | sed -n '1s/^systemd \([0-9]*\).*/\1/p') and reconciled apps/nspawn-check"
log "ok: exposure $score; the unit starts, notifies, pings the watchdog, reloads and reconciles"
