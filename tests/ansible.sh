#!/usr/bin/env bash
# Tests ansible/: syntax check, ansible-lint, and real runs of ansible/site.yml
# against this machine, with the role's files redirected into a throwaway
# root (plumb_root) and the Kubernetes part run against the test cluster:
#   run 1  installs: files, owners, modes; plumb.yaml passes plumb validate;
#          the kubeconfig the role made from the ServiceAccount token passes
#          every `plumb check` permission check
#   run 2  the same again: changed=0, no handler
#   run 3  one variable changed: only plumb.yaml changes, the handler runs
#   run 4  the binary from a URL with its sha256, in place of a missing one
#   run 5  a wrong sha256: the run fails, the binary stays
# and then the least-privilege RBAC of ansible/examples/rbac-namespaced.yaml
# (docs/install.md): plumb applies, prunes and idles with it.
# Needs the test cluster (tests/cluster.sh up; tests/run starts it) and
# kubectl. Installs ansible 12.3.0 (ansible-core 2.19) and ansible-lint from
# PyPI into a venv under target/tools. Creates the system user plumb if it is
# missing, and removes it again at the end.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
cluster=${PLUMB_TEST_CLUSTER:-$repo/target/test-cluster}
venv=$repo/target/tools/ansible-venv
work=$repo/target/ansible-test
root=$work/root
built=$repo/target/debug/plumb
ansible_version=12.3.0
lint_version=26.10.1

log() { printf '[ansible] %s\n' "$*" >&2; }
fail() { log "FAIL: $*"; exit 1; }
stage() { log "== $1 (${SECONDS}s in)"; }
SECONDS=0

[ -f "$cluster/server" ] && [ -f "$cluster/admin.kubeconfig" ] ||
    fail "no test cluster at $cluster: start it with tests/cluster.sh up (tests/run does)"
command -v kubectl >/dev/null || fail "kubectl is missing"
kubectl_() { kubectl --kubeconfig "$cluster/admin.kubeconfig" "$@"; }
kubectl_ get --raw /version >/dev/null 2>&1 || fail "the test cluster at $(cat "$cluster/server") does not answer: tests/cluster.sh up"

stage "install ansible $ansible_version and ansible-lint $lint_version into $venv"
if ! "$venv/bin/python" -m pip show ansible 2>/dev/null | grep -qx "Version: $ansible_version" ||
    ! "$venv/bin/python" -m pip show ansible-lint 2>/dev/null | grep -qx "Version: $lint_version"; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q "ansible==$ansible_version" "ansible-lint==$lint_version"
fi
export PATH=$venv/bin:$PATH ANSIBLE_NOCOLOR=1 ANSIBLE_FORCE_COLOR=0 ANSIBLE_CONFIG=$repo/ansible/ansible.cfg
log "$(ansible --version 2>&1 | sed -n 1p)"

if [ ! -x "$built" ]; then
    stage "cargo build -p plumb"
    cargo build -q -p plumb
fi

stage "syntax check"
(cd ansible && ansible-playbook --syntax-check site.yml)

stage "ansible-lint"
(cd ansible && ansible-lint --offline -q)

stage "real runs against this machine, into $root"
rm -rf "$work" && mkdir -p "$root"
# A copy: target/debug/plumb may be rebuilt by another cargo run meanwhile.
plumb=$work/plumb
cp "$built" "$plumb"
# What every Debian root has already.
mkdir -p "$root/usr/local/bin" "$root/etc/systemd/system" "$root/var/lib"
user_existed=1
id plumb >/dev/null 2>&1 || user_existed=0
server_pid=""
cleanup() {
    [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null || true
    if [ "$user_existed" = 0 ]; then
        userdel plumb 2>/dev/null || true
        groupdel plumb 2>/dev/null || true
    fi
}
trap cleanup EXIT

cat >"$work/inventory.yml" <<YAML
all:
  children:
    plumb:
      hosts:
        localhost:
          ansible_connection: local
          ansible_python_interpreter: $venv/bin/python
YAML
# A file:// source (the role installs git for it) and an https one with a
# token file (a credential the role installs with mode 0600).
cat >"$work/vars.yml" <<YAML
ansible_become_method: su
plumb_root: $root
plumb_manage_service: false
plumb_binary_files: {x86_64: $plumb}
plumb_k3s_server: localhost
plumb_kubectl: $(command -v kubectl)
plumb_admin_kubeconfig: $cluster/admin.kubeconfig
plumb_api_server: $(cat "$cluster/server")
plumb_sources:
  - name: local
    url: file:///srv/git/homelab.git
    ref: {branch: main}
  - name: forge
    url: https://git.example.com/me/homelab.git
    ref: {branch: main}
    auth: {tokenFile: /etc/plumb/git-token}
plumb_syncs:
  - {name: apps, source: forge, path: clusters/pi, prune: true}
  - {name: infra, source: local, path: infra, namespace: infra}
plumb_credentials:
  - {name: git-token, content: "not-a-real-token"}
plumb_listen: "0.0.0.0:9469"
plumb_listen_token: "not-a-real-page-token"
plumb_age_key: "# not-a-real-age-key\nAGE-SECRET-KEY-1NOTAREALKEY"
plumb_notify:
  - {name: chat, type: discord, url_secret: "https://discord.example/api/webhooks/1/not-a-real-hook", events: [failure, recovery]}
  - {name: phone, type: gotify, url: "https://gotify.example", token_secret: "not-a-real-gotify-token"}
YAML

# The role makes a service-account token Secret; the controller-manager's
# token controller fills it in, as on k3s.
kubectl_ -n plumb-system delete secret plumb-token --ignore-not-found >/dev/null 2>&1 || true

run() { # name, extra ansible-playbook args...: runs site.yml, output in $work/<name>.log
    local name=$1
    shift
    local s=$SECONDS rc=0
    (cd ansible && ansible-playbook -i "$work/inventory.yml" -e "@$work/vars.yml" "$@" site.yml) >"$work/$name.log" 2>&1 || rc=$?
    recap=$(grep -E '^localhost +:' "$work/$name.log" || true)
    log "$name: rc=$rc, $((SECONDS - s))s: $(printf '%s' "$recap" | tr -s ' ')"
    return $rc
}
recap_value() { printf '%s' "$recap" | sed -n "s/.*$1=\([0-9]*\).*/\1/p"; }

run run1 || { cat "$work/run1.log"; fail "run 1 failed"; }
[ "$(recap_value changed)" -gt 0 ] || fail "run 1 changed nothing"
grep -q 'RUNNING HANDLER \[plumb : Restart plumb\]' "$work/run1.log" || fail "run 1 did not notify the handler"

log "files, owners, modes"
check() { # path owner group mode
    local got
    got=$(stat -c '%U %G %a' "$root$1") || fail "$1 is missing"
    [ "$got" = "$2 $3 $4" ] || fail "$1 is '$got', want '$2 $3 $4'"
}
check /usr/local/bin/plumb root root 755
check /etc/plumb root plumb 750
check /etc/plumb/plumb.yaml root plumb 640
check /etc/plumb/kubeconfig plumb plumb 600
check /etc/plumb/git-token plumb plumb 600
check /etc/plumb/listen-token plumb plumb 600
check /etc/plumb/notify-chat.url plumb plumb 600
check /etc/plumb/notify-phone.token plumb plumb 600
check /etc/plumb/age.key plumb plumb 600
[ "$(cat "$root/etc/plumb/notify-chat.url")" = "https://discord.example/api/webhooks/1/not-a-real-hook" ] || fail "notify-chat.url holds the wrong URL"
! grep -q 'not-a-real-' "$root/etc/plumb/plumb.yaml" || fail "a secret was written into plumb.yaml"
for line in 'ageKeyFile: /etc/plumb/age.key' 'bearerTokenFile: /etc/plumb/listen-token' 'urlFile: /etc/plumb/notify-chat.url' 'tokenFile: /etc/plumb/notify-phone.token' 'listen: "0.0.0.0:9469"'; do
    grep -qF "$line" "$root/etc/plumb/plumb.yaml" || { cat "$root/etc/plumb/plumb.yaml"; fail "plumb.yaml lacks '$line'"; }
done
! grep -rq 'not-a-real-page-token\|not-a-real-hook\|not-a-real-gotify\|not-a-real-age' "$work"/run1.log || fail "a secret reached Ansible's output"
check /var/lib/plumb plumb plumb 750
check /etc/systemd/system/plumb.service root root 644
cmp -s "$plumb" "$root/usr/local/bin/plumb" || fail "the installed binary differs from $plumb"
cmp -s systemd/plumb.service "$root/etc/systemd/system/plumb.service" || fail "the installed unit differs from systemd/plumb.service"
getent passwd plumb | grep -q ':/var/lib/plumb:/usr/sbin/nologin$' || fail "user plumb: $(getent passwd plumb)"
grep -q '^  enabled: false$' "$root/etc/plumb/plumb.yaml" || fail "leader election is not off with one node"

log "plumb validate --config (the rendered plumb.yaml)"
"$plumb" validate --config "$root/etc/plumb/plumb.yaml" || fail "plumb validate refused the rendered config"

log "plumb check with the kubeconfig the role made (ServiceAccount token, ClusterRole)"
# The rendered config's kubeconfig and stateDir, moved into the root (its
# sources are examples that don't exist; plumb check would try to reach them).
printf 'kubeconfig: %s\nstateDir: %s\n' "$root$(sed -n 's/^kubeconfig: //p' "$root/etc/plumb/plumb.yaml")" \
    "$root$(sed -n 's/^stateDir: //p' "$root/etc/plumb/plumb.yaml")" >"$work/check.yaml"
"$plumb" check --config "$work/check.yaml" >"$work/check.out" 2>&1 || { cat "$work/check.out"; fail "plumb check failed"; }
grep -q 'may bind clusterroles' "$work/check.out" || { cat "$work/check.out"; fail "plumb check did not check the permissions"; }
tail -n1 "$work/check.out" | sed 's/^/    /' >&2

run run2 || { cat "$work/run2.log"; fail "run 2 failed"; }
[ "$(recap_value changed)" = 0 ] || { grep -B2 '^changed:' "$work/run2.log"; fail "run 2 changed something"; }
! grep -q 'RUNNING HANDLER' "$work/run2.log" || fail "run 2 ran a handler"

run run3 -e plumb_interval=2m || { cat "$work/run3.log"; fail "run 3 failed"; }
[ "$(recap_value changed)" = 1 ] || fail "run 3: changed=$(recap_value changed), want 1 (plumb.yaml)"
grep -q '^changed: \[localhost\]' "$work/run3.log" && grep -B1 '^changed: \[localhost\]' "$work/run3.log" | grep -q 'Write plumb.yaml' ||
    fail "run 3 changed something other than plumb.yaml"
grep -q 'RUNNING HANDLER \[plumb : Restart plumb\]' "$work/run3.log" || fail "run 3 did not notify the handler"
grep -q '^interval: 2m$' "$root/etc/plumb/plumb.yaml" || fail "run 3 did not write the new interval"

# The binary from a URL, served on loopback, in place of a missing one.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mkdir -p "$work/www" && cp "$plumb" "$work/www/plumb"
(cd "$work/www" && exec python3 -m http.server "$port" --bind 127.0.0.1 >/dev/null 2>&1) &
server_pid=$!
for _ in $(seq 1 50); do curl -fsS -o /dev/null "http://127.0.0.1:$port/plumb" 2>/dev/null && break; sleep 0.1; done
sha=$(sha256sum "$plumb" | cut -d' ' -f1)
rm "$root/usr/local/bin/plumb"
run run4 -e plumb_interval=2m -e "{\"plumb_binary_urls\": {\"x86_64\": {\"url\": \"http://127.0.0.1:$port/plumb\", \"sha256\": \"$sha\"}}}" ||
    { cat "$work/run4.log"; fail "run 4 failed"; }
[ "$(recap_value changed)" = 1 ] || fail "run 4: changed=$(recap_value changed), want 1 (the binary)"
grep -B1 '^changed: \[localhost\]' "$work/run4.log" | grep -q 'from its URL' || fail "run 4 did not download the binary"
cmp -s "$plumb" "$root/usr/local/bin/plumb" || fail "run 4 installed other bytes"
check /usr/local/bin/plumb root root 755

# A sha256 that the served file doesn't have (nor the installed one, so
# get_url must download and check it).
bad=$(printf 'not plumb\n' | sha256sum | cut -d' ' -f1)
if run run5 -e plumb_interval=2m -e "{\"plumb_binary_urls\": {\"x86_64\": {\"url\": \"http://127.0.0.1:$port/plumb\", \"sha256\": \"$bad\"}}}"; then
    fail "run 5: a download that doesn't match its sha256 was accepted"
fi
grep -qi 'checksum' "$work/run5.log" || { cat "$work/run5.log"; fail "run 5 failed, but not on the checksum"; }
cmp -s "$plumb" "$root/usr/local/bin/plumb" || fail "run 5 replaced the binary"

log "the least-privilege RBAC (ansible/examples/rbac-namespaced.yaml): apply, prune, idle"
# Its own ServiceAccount (plumb-narrow), so the broad binding above can't help.
narrow=$work/narrow
mkdir -p "$narrow/src/apps"
kubectl_ get namespace apps >/dev/null 2>&1 || kubectl_ create namespace apps >/dev/null
sed -e 's/^  name: plumb$/  name: plumb-narrow/' -e 's/name: plumb-token$/name: plumb-narrow-token/' \
    -e 's/service-account.name: plumb$/service-account.name: plumb-narrow/' \
    -e 's/{kind: ServiceAccount, name: plumb, /{kind: ServiceAccount, name: plumb-narrow, /' \
    ansible/examples/rbac-namespaced.yaml >"$narrow/rbac.yaml"
[ "$(grep -c 'plumb-narrow' "$narrow/rbac.yaml")" -ge 6 ] || fail "could not rename the ServiceAccount in rbac-namespaced.yaml"
kubectl_ apply -f "$narrow/rbac.yaml" >/dev/null
[ "$(kubectl_ auth can-i create deployments.apps -n default --as=system:serviceaccount:plumb-system:plumb-narrow 2>/dev/null || true)" = no ] ||
    fail "the narrow role may write outside its namespace"
cat >"$narrow/kubeconfig" <<YAML
apiVersion: v1
kind: Config
clusters: [{name: test, cluster: {server: $(cat "$cluster/server"), certificate-authority: $cluster/pki/ca.crt}}]
users: [{name: plumb-narrow, user: {token: $(kubectl_ -n plumb-system create token plumb-narrow --duration=1h)}}]
contexts: [{name: test, context: {cluster: test, user: plumb-narrow}}]
current-context: test
YAML
cp examples/apps/20-config.yaml examples/apps/30-web.yaml "$narrow/src/apps/"
sed -i 's/namespace: demo$/namespace: apps/' "$narrow/src/apps/"*.yaml
git_() { GIT_CONFIG_GLOBAL=/dev/null GIT_CONFIG_NOSYSTEM=1 git -C "$narrow/src" -c user.name=t -c user.email=t@localhost "$@"; }
git_ init -q -b main && git_ add -A && git_ commit -q -m apps
cat >"$narrow/plumb.yaml" <<YAML
kubeconfig: $narrow/kubeconfig
stateDir: $narrow/state
leaderElection: {enabled: false}
sources:
  - {name: src, url: "file://$narrow/src", ref: {branch: main}}
syncs:
  - {name: narrow, source: src, path: apps, namespace: apps, prune: true, wait: false}
YAML
"$plumb" reconcile --config "$narrow/plumb.yaml" || fail "reconcile with the narrow role"
git_ rm -q apps/20-config.yaml && git_ commit -q -m "drop the ConfigMap"
out=$("$plumb" reconcile --config "$narrow/plumb.yaml") || fail "prune with the narrow role: $out"
log "$out"
case "$out" in *"1 pruned"*) ;; *) fail "the narrow role did not prune: $out" ;; esac
"$plumb" reconcile --config "$narrow/plumb.yaml" >/dev/null || fail "idle cycle with the narrow role"

log "ok (${SECONDS}s)"
