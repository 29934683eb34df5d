#!/usr/bin/env bash
# plumb's static aarch64 binary in an emulated aarch64 machine
# (qemu-system-aarch64, Cortex-A72 like a Raspberry Pi 4, 1 GiB), booted from
# Debian's arm64 kernel and a small initramfs of busybox-static:arm64 and plumb,
# all from Debian's packages. The guest reconciles a 1,000-object repository
# into the host's test cluster over qemu's user network (the host's loopback is
# 10.0.2.2 there), inside a cgroup v2 with memory.high and memory.max as the
# systemd unit's MemoryHigh and MemoryMax set them. Measured inside the guest
# (the emulator's own memory doesn't count): resident memory at the peak of
# the first apply and idle after it, the cgroup's peak, and its memory.events.
# The table goes between the BENCH:AARCH64 markers of docs/performance.md.
#
#   tests/aarch64.sh [IDLE_SECONDS]   default 180; starts the cluster and the Git servers
#
# PLUMB_ARM_BIN=path uses that aarch64 binary instead of building one with cross/build.sh.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
idle=${1:-180}
cache=${PLUMB_CACHE:-$HOME/.cache/plumb}/aarch64
work=$repo/target/aarch64
cluster=${PLUMB_TEST_CLUSTER:-$repo/target/test-cluster}
kubeconfig=$cluster/admin.kubeconfig
# shellcheck source=tests/bench-table.sh
. "$repo/tests/bench-table.sh"
# shellcheck source=tests/apt.sh
. "$repo/tests/apt.sh"
log() { printf '[aarch64] %s\n' "$*" >&2; }

apt_install qemu-system-arm cpio openssl
# The guest's packages, downloaded (not installed) with apt's arm64 lists kept apart
# from the machine's, so that the host's dpkg learns no foreign architecture.
mkdir -p "$cache/lists/partial" "$cache/archives/partial"
apt_arm64() {
    apt-get -o APT::Architecture=arm64 -o APT::Architectures::=arm64 -o Dir::State::Lists="$cache/lists" \
        -o Dir::Cache="$cache" -o Dir::Cache::archives="$cache/archives" -o Dir::State::status=/dev/null "$@"
}
if [ ! -f "$cache/.debs" ]; then
    log "downloading Debian's arm64 kernel and busybox-static (once per machine)"
    apt_arm64 update -qq
    kernel=$(apt-cache -o APT::Architecture=arm64 -o APT::Architectures::=arm64 -o Dir::State::Lists="$cache/lists" \
        -o Dir::Cache="$cache" -o Dir::State::status=/dev/null depends linux-image-arm64 |
        sed -n 's/^ *Depends: \(linux-image-[0-9].*-arm64\)$/\1/p' | head -n1)
    [ -n "$kernel" ] || { log "apt names no kernel for linux-image-arm64"; exit 1; }
    rm -rf "$cache/debs" && mkdir -p "$cache/debs"
    (cd "$cache/debs" && apt_arm64 download -qq "$kernel" busybox-static 2>/dev/null)
    for deb in "$cache"/debs/*.deb; do dpkg-deb -x "$deb" "$cache/root"; done
    basename -a "$cache"/debs/*.deb >"$cache/.debs"
fi
vmlinuz=$(ls "$cache"/root/boot/vmlinuz-*-arm64 | head -n1)
modules=$(ls -d "$cache"/root/lib/modules/*-arm64 | head -n1)

arm=${PLUMB_ARM_BIN:-}
if [ -z "$arm" ]; then
    arm=$("$repo/cross/build.sh" aarch64-unknown-linux-musl release | tail -n1)
fi

# The API server's certificate names 10.0.2.2 (tests/cluster.sh); one made
# before it did is made again.
if [ -f "$cluster/admin.kubeconfig" ] && ! openssl x509 -in "$cluster/pki/apiserver.crt" -noout -ext subjectAltName 2>/dev/null | grep -q 10.0.2.2; then
    log "the test cluster's certificate predates 10.0.2.2: restarting the cluster"
    bash "$repo/tests/cluster.sh" down >&2
fi
bash "$repo/tests/cluster.sh" up >&2
bash "$repo/tests/git-servers.sh" up >&2
# shellcheck disable=SC1091
. "${PLUMB_TEST_GIT:-$repo/target/test-git}/env"

rm -rf "$work" && mkdir -p "$work/initramfs"/{bin,etc/plumb,proc,sys,dev,tmp,var/lib/plumb,modules}
git_() { git -c user.name=arm -c user.email=arm@example.org -c init.defaultBranch=main "$@"; }
name=aarch64-$$
git_ init -q --bare "$GIT_REPOS/$name.git"
git_ init -q "$work/src"
write_apps "$work/src/apps" 333
git_ -C "$work/src" add -A && git_ -C "$work/src" commit -q -m apps
git_ -C "$work/src" push -q "$GIT_REPOS/$name.git" HEAD:refs/heads/main
ns=arm-$$
kubectl --kubeconfig "$kubeconfig" create namespace "$ns" >/dev/null

root=$work/initramfs
cp "$cache/root/bin/busybox" "$root/bin/busybox"
cp "$arm" "$root/bin/plumb"
# virtio-net and what it needs, in the order modules.dep gives.
for m in failover net_failover virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci virtio_net; do
    f=$(find "$modules" -name "$m.ko" | head -n1)
    [ -n "$f" ] || { log "no $m.ko in $modules"; exit 1; }
    cp "$f" "$root/modules/"
done
kubectl --kubeconfig "$kubeconfig" config view --raw --flatten --minify |
    sed "s#server: https://127.0.0.1:#server: https://10.0.2.2:#" >"$root/etc/plumb/kubeconfig"
url=${GIT_HTTP_URL/127.0.0.1/10.0.2.2}/$name.git
cat >"$root/etc/plumb/config.yaml" <<YAML
kubeconfig: /etc/plumb/kubeconfig
stateDir: /var/lib/plumb
nodeName: pi-qemu
interval: 30s
jitter: 0
leaderElection: {enabled: false}
sources: [{name: apps, url: "$url", ref: {branch: main}}]
syncs: [{name: arm, source: apps, path: apps, namespace: $ns, prune: true, wait: true, timeout: 5m}]
YAML
memory_high=$(sed -n 's/^MemoryHigh=//p' "$repo/systemd/plumb.service")
memory_max=$(sed -n 's/^MemoryMax=//p' "$repo/systemd/plumb.service")
cat >"$root/init" <<SH
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
for m in failover net_failover virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci virtio_net; do
    insmod /modules/\$m.ko || echo "RESULT error insmod \$m"
done
ip link set lo up; ip link set eth0 up
ip addr add 10.0.2.15/24 dev eth0; ip route add default via 10.0.2.2
echo "RESULT kernel \$(uname -rm)"
echo "RESULT cpu \$(grep -m1 'CPU part' /proc/cpuinfo)"
mount -t cgroup2 none /sys/fs/cgroup
echo +memory >/sys/fs/cgroup/cgroup.subtree_control
mkdir /sys/fs/cgroup/plumb
echo $memory_high >/sys/fs/cgroup/plumb/memory.high
echo $memory_max >/sys/fs/cgroup/plumb/memory.max
sh -c 'echo \$\$ >/sys/fs/cgroup/plumb/cgroup.procs; exec /bin/plumb run --config /etc/plumb/config.yaml >/tmp/plumb.log 2>&1' &
pid=\$!
start=\$(date +%s)
applied=
while [ \$((\$(date +%s) - start)) -lt 1500 ]; do
    if wget -q -O - http://127.0.0.1:9469/metrics 2>/dev/null | grep -q '^plumb_reconciles_total{sync="arm",result="ready"} [1-9]'; then
        applied=1; break
    fi
    kill -0 \$pid 2>/dev/null || break
    sleep 1
done
echo "RESULT first_apply_s \$((\$(date +%s) - start))"
[ -n "\$applied" ] || { echo "RESULT error the first apply did not end Ready"; tail -n 20 /tmp/plumb.log; poweroff -f; }
status() { awk -v k="\$1:" '\$1 == k {print \$2}' /proc/\$pid/status; }
echo "RESULT first_hwm_kib \$(status VmHWM)"
echo "RESULT first_cgroup_peak_bytes \$(cat /sys/fs/cgroup/plumb/memory.peak)"
sleep $idle
echo "RESULT idle_rss_kib \$(status VmRSS)"
echo "RESULT idle_anon_kib \$(status RssAnon)"
echo "RESULT idle_file_kib \$(status RssFile)"
echo "RESULT idle_cgroup_current_bytes \$(cat /sys/fs/cgroup/plumb/memory.current)"
echo "RESULT cgroup_peak_bytes \$(cat /sys/fs/cgroup/plumb/memory.peak)"
echo "RESULT cgroup_events \$(tr '\n' ' ' </sys/fs/cgroup/plumb/memory.events)"
echo "RESULT cycles \$(wget -q -O - http://127.0.0.1:9469/metrics | grep '^plumb_reconciles_total' | tr '\n' ' ')"
echo "RESULT done"
poweroff -f
SH
chmod +x "$root/init"
(cd "$root" && find . | cpio -o -H newc --quiet | gzip -1) >"$work/initramfs.gz"

log "booting $(basename "$vmlinuz") under qemu-system-aarch64 (emulated: minutes)"
SECONDS=0
timeout $((idle + 1800)) qemu-system-aarch64 -M virt -cpu cortex-a72 -smp 4 -m 1024 -nographic -no-reboot \
    -kernel "$vmlinuz" -initrd "$work/initramfs.gz" -append "console=ttyAMA0 rdinit=/init quiet" \
    -netdev user,id=net0 -device virtio-net-pci,netdev=net0,romfile= >"$work/console.log" 2>&1 || true
log "the guest ran ${SECONDS}s"
kubectl --kubeconfig "$kubeconfig" delete namespace "$ns" --wait=false >/dev/null 2>&1 || true
grep -q '^RESULT done' "$work/console.log" || { tail -n 40 "$work/console.log" >&2; log "the guest did not finish: $work/console.log"; exit 1; }

table=$(python3 - "$work/console.log" "$idle" "$(basename "$vmlinuz")" "$(stat -c %s "$arm")" "$memory_high" "$memory_max" <<'PY'
import sys, datetime, re
path, idle, kernel, size, high, maxi = sys.argv[1:]
r = {}
for line in open(path, errors="replace"):
    line = line.strip("\r\n")
    if line.startswith("RESULT "):
        k, _, v = line[7:].partition(" ")
        r[k] = v
mb = lambda kib: "%.1f" % (int(kib) / 1024)
mbb = lambda b: "%.1f" % (int(b) / 1048576)
events = dict(re.findall(r"(\w+) (\d+)", r.get("cgroup_events", "")))
print(f"Measured by `tests/aarch64.sh {idle}` on {datetime.date.today()}: plumb's static aarch64 release binary ({int(size):,} bytes) "
      f"in qemu-system-aarch64 (TCG, `-cpu cortex-a72 -smp 4 -m 1024`), Debian's {kernel.replace('vmlinuz-', '')} kernel, "
      "an initramfs of busybox-static:arm64 and plumb; one sync of 1,000 objects (333 ConfigMaps, Deployments and Services) over plain HTTP Git, "
      f"into the host's test cluster over qemu's user network, in a cgroup with memory.high {high} and memory.max {maxi} as the unit sets them. "
      "Read inside the guest from /proc/PID/status and the cgroup's files. Emulation is slow, so the wall time says nothing about a Pi's.")
print()
print("| figure | value |")
print("|---|---:|")
print(f"| first apply of 1,000 objects, Ready after (emulated, s) | {r.get('first_apply_s')} |")
print(f"| peak resident memory, first apply included (VmHWM, MB) | {mb(r['first_hwm_kib'])} |")
print(f"| cgroup's peak after the first apply (memory.peak, MB) | {mbb(r['first_cgroup_peak_bytes'])} |")
print(f"| idle {idle} s later: resident (MB) | {mb(r['idle_rss_kib'])} |")
print(f"| idle: anonymous / file-backed (MB) | {mb(r['idle_anon_kib'])} / {mb(r['idle_file_kib'])} |")
print(f"| idle: the cgroup's memory.current (MB) | {mbb(r['idle_cgroup_current_bytes'])} |")
print(f"| memory.events: high / max / oom / oom_kill | {events.get('high', '?')} / {events.get('max', '?')} / {events.get('oom', '?')} / {events.get('oom_kill', '?')} |")
PY
)
write_table AARCH64 "$table"
echo "$table"
