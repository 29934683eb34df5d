#!/usr/bin/env bash
# The test cluster: a real kube-apiserver (Kubernetes 1.20, built once from
# Debian's source package) and etcd on loopback ports.
#
#   tests/cluster.sh install   install Debian packages and build kube-apiserver (idempotent)
#   tests/cluster.sh up        start etcd + kube-apiserver, write kubeconfigs (idempotent)
#   tests/cluster.sh down      stop both and remove the cluster's folder
#   tests/cluster.sh env       print the variables tests read (PLUMB_TEST_CLUSTER)
#
# State lives in $PLUMB_TEST_CLUSTER (default: <repo>/target/test-cluster);
# the apiserver binary is cached in $PLUMB_CACHE (default: ~/.cache/plumb).
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
cache=${PLUMB_CACHE:-$HOME/.cache/plumb}
dir=${PLUMB_TEST_CLUSTER:-$repo/target/test-cluster}
apiserver=$cache/kube-apiserver-1.20.2
k8s_version="1.20.5+really1.20.2-1.1+deb12u1"

log() { printf '[cluster] %s\n' "$*" >&2; }

. "$repo/tests/apt.sh"

add_deb_src() {
    local f=/etc/apt/sources.list.d/plumb-deb-src.sources
    [ -f "$f" ] && return 0
    # Same signed-by keyring as the existing entries, or apt refuses both.
    cat >"$f" <<'SRC'
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb-src
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
    apt_updated=0
}

build_apiserver() {
    [ -x "$apiserver" ] && return 0
    add_deb_src
    apt_install golang-go rsync jq dpkg-dev golang-github-modern-go-reflect2-dev
    if [ $apt_updated -eq 0 ]; then DEBIAN_FRONTEND=noninteractive apt-get update -qq; apt_updated=1; fi
    local work=$cache/build
    rm -rf "$work" && mkdir -p "$work"
    log "downloading Debian's kubernetes source ($k8s_version)"
    (cd "$work" && apt-get source --download-only -qq "kubernetes=$k8s_version" >/dev/null)
    local orig
    orig=$(ls "$work"/kubernetes_*.orig.tar.* | head -n1)
    mkdir -p "$work/src"
    tar -xf "$orig" -C "$work/src" --strip-components=1
    local tree=$work/src
    # reflect2 1.0.1 (vendored by 1.20) crashes under Go >= 1.18; Debian ships 1.0.2.
    local r2=/usr/share/gocode/src/github.com/modern-go/reflect2
    rm -f "$tree"/vendor/github.com/modern-go/reflect2/*.go "$tree"/vendor/github.com/modern-go/reflect2/*.s
    cp "$r2"/*.go "$tree/vendor/github.com/modern-go/reflect2/"
    cp "$r2"/*.s "$tree/vendor/github.com/modern-go/reflect2/" 2>/dev/null || true
    rm -f "$tree"/vendor/github.com/modern-go/reflect2/*_test.go
    mkdir -p "$work/.go/src/k8s.io" "$work/home"
    ln -sfn "$tree" "$work/.go/src/k8s.io/kubernetes"
    log "building kube-apiserver (a few minutes, once)"
    (cd "$work/.go/src/k8s.io/kubernetes" &&
        GOPATH=$work/.go CGO_ENABLED=0 HOME=$work/home GOFLAGS=-mod=vendor GO111MODULE=on \
            make WHAT=cmd/kube-apiserver >"$work/build.log" 2>&1) || {
        tail -n 40 "$work/build.log" >&2
        exit 1
    }
    install -m 0755 "$tree/_output/bin/kube-apiserver" "$apiserver"
    rm -rf "$work"
    log "kube-apiserver cached at $apiserver"
}

install_all() {
    apt_install etcd-server openssl curl python3
    build_apiserver
}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

running() {
    [ -f "$dir/apiserver.pid" ] && kill -0 "$(cat "$dir/apiserver.pid")" 2>/dev/null &&
        [ -f "$dir/etcd.pid" ] && kill -0 "$(cat "$dir/etcd.pid")" 2>/dev/null
}

make_pki() {
    local p=$dir/pki
    mkdir -p "$p"
    cd "$p"
    openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=plumb-test-ca" \
        -keyout ca.key -out ca.crt 2>/dev/null
    # A second CA that signed nothing: kubeconfigs pointing at it must be refused.
    openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=plumb-wrong-ca" \
        -keyout wrong-ca.key -out wrong-ca.crt 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" -keyout apiserver.key -out apiserver.csr 2>/dev/null
    printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >apiserver.ext
    openssl x509 -req -in apiserver.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 3650 \
        -extfile apiserver.ext -out apiserver.crt 2>/dev/null
    # Client certificate user in system:masters, with a PKCS#8 key.
    openssl req -newkey rsa:2048 -nodes -subj "/O=system:masters/CN=cert-admin" \
        -keyout cert-admin.key -out cert-admin.csr 2>/dev/null
    printf 'basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n' >client.ext
    openssl x509 -req -in cert-admin.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 3650 \
        -extfile client.ext -out cert-admin.crt 2>/dev/null
    # The same request signed as an X.509 v1 certificate, which TLS libraries refuse.
    openssl x509 -req -in cert-admin.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 3650 \
        -out cert-v1.crt 2>/dev/null
    # Same user with an EC (SEC1) key, to cover the other key format.
    openssl ecparam -name prime256v1 -genkey -noout -out cert-ec.key
    openssl req -new -key cert-ec.key -subj "/O=system:masters/CN=cert-ec" -out cert-ec.csr 2>/dev/null
    openssl x509 -req -in cert-ec.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 3650 \
        -extfile client.ext -out cert-ec.crt 2>/dev/null
    openssl genrsa -out sa.key 2048 2>/dev/null
    openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
    cd - >/dev/null
}

b64() { base64 -w0 <"$1"; }

write_kubeconfig() { # name user-yaml
    cat >"$dir/$1.kubeconfig" <<KC
apiVersion: v1
kind: Config
current-context: test
clusters:
- name: test
  cluster:
    server: https://127.0.0.1:$api_port
    certificate-authority-data: $(b64 "$dir/pki/ca.crt")
users:
- name: $1
  user:
$2
contexts:
- name: test
  context: {cluster: test, user: $1}
KC
}

# Starts kube-apiserver on the ports recorded in $dir/ports (used by up and restart-apiserver).
start_apiserver() {
    local etcd_port api_port
    read -r etcd_port api_port <"$dir/ports"
    "$apiserver" --etcd-servers "http://127.0.0.1:$etcd_port" \
        --secure-port "$api_port" --bind-address 127.0.0.1 --insecure-port 0 \
        --cert-dir "$dir/pki" --tls-cert-file "$dir/pki/apiserver.crt" --tls-private-key-file "$dir/pki/apiserver.key" \
        --client-ca-file "$dir/pki/ca.crt" --token-auth-file "$dir/tokens.csv" \
        --authorization-mode RBAC \
        --service-account-key-file "$dir/pki/sa.pub" --service-account-signing-key-file "$dir/pki/sa.key" \
        --service-account-issuer https://kubernetes.default.svc --service-cluster-ip-range 10.96.0.0/16 \
        --audit-policy-file "$dir/audit-policy.yaml" --audit-log-path "$dir/audit.log" \
        --enable-priority-and-fairness=false \
        >>"$dir/apiserver.log" 2>&1 &
    echo $! >"$dir/apiserver.pid"
}

wait_ready() {
    local i
    for i in $(seq 1 120); do
        curl -sf --cacert "$dir/pki/ca.crt" -H "Authorization: Bearer $(cat "$dir/admin.token")" \
            "$(cat "$dir/server")/readyz" >/dev/null 2>&1 && return 0
        sleep 0.5
    done
    log "kube-apiserver not ready after 60 s"; tail -n 20 "$dir/apiserver.log" >&2; return 1
}

# An API server outage for tests: stop kube-apiserver, wait $1 seconds, start it again.
restart_apiserver() {
    local pid; pid=$(cat "$dir/apiserver.pid")
    kill "$pid"
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
    sleep "${1:-3}"
    start_apiserver
    wait_ready
    log "kube-apiserver restarted"
}

up() {
    if running; then
        log "already running ($dir)"
        return 0
    fi
    install_all
    down_quiet
    mkdir -p "$dir"
    make_pki
    local etcd_port peer_port
    etcd_port=$(free_port); peer_port=$(free_port); api_port=$(free_port)
    admin_token=$(head -c 24 /dev/urandom | base64 | tr -dc 'a-zA-Z0-9')
    restricted_token=$(head -c 24 /dev/urandom | base64 | tr -dc 'a-zA-Z0-9')
    cat >"$dir/tokens.csv" <<TOK
$admin_token,admin,admin-uid,system:masters
$restricted_token,restricted,restricted-uid,plumb-restricted
TOK
    cat >"$dir/audit-policy.yaml" <<'POL'
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
- level: Metadata
POL
    etcd --name plumb-test --data-dir "$dir/etcd" \
        --listen-client-urls "http://127.0.0.1:$etcd_port" --advertise-client-urls "http://127.0.0.1:$etcd_port" \
        --listen-peer-urls "http://127.0.0.1:$peer_port" --initial-advertise-peer-urls "http://127.0.0.1:$peer_port" \
        --initial-cluster "plumb-test=http://127.0.0.1:$peer_port" \
        --unsafe-no-fsync >"$dir/etcd.log" 2>&1 &
    echo $! >"$dir/etcd.pid"
    printf '%s %s\n' "$etcd_port" "$api_port" >"$dir/ports"
    start_apiserver
    write_kubeconfig admin "    token: $admin_token"
    write_kubeconfig restricted "    token: $restricted_token"
    write_kubeconfig cert-admin "    client-certificate-data: $(b64 "$dir/pki/cert-admin.crt")
    client-key-data: $(b64 "$dir/pki/cert-admin.key")"
    printf '%s' "$admin_token" >"$dir/admin.token"
    local i
    for i in $(seq 1 120); do
        if curl -sf --cacert "$dir/pki/ca.crt" -H "Authorization: Bearer $admin_token" \
            "https://127.0.0.1:$api_port/readyz" >/dev/null 2>&1; then
            break
        fi
        if ! running; then
            log "a server died while starting; last lines of its log:"
            tail -n 20 "$dir/etcd.log" "$dir/apiserver.log" >&2
            exit 1
        fi
        sleep 0.5
    done
    if [ "$i" -eq 120 ]; then
        log "kube-apiserver not ready after 60 s"; tail -n 20 "$dir/apiserver.log" >&2; exit 1
    fi
    # The restricted user may only read and apply ConfigMaps in 'default'.
    kubectl --kubeconfig "$dir/admin.kubeconfig" apply -f - >/dev/null <<'RBAC'
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: plumb-restricted, namespace: default}
rules:
- apiGroups: [""]
  resources: [configmaps]
  verbs: [get, list]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: plumb-restricted, namespace: default}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: plumb-restricted}
subjects:
- {kind: Group, name: plumb-restricted, apiGroup: rbac.authorization.k8s.io}
RBAC
    echo "https://127.0.0.1:$api_port" >"$dir/server"
    log "ready at https://127.0.0.1:$api_port ($dir)"
}

down_quiet() {
    local f
    for f in apiserver etcd; do
        if [ -f "$dir/$f.pid" ]; then
            kill "$(cat "$dir/$f.pid")" 2>/dev/null || true
        fi
    done
    for f in apiserver etcd; do
        if [ -f "$dir/$f.pid" ]; then
            local pid; pid=$(cat "$dir/$f.pid")
            for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
            kill -9 "$pid" 2>/dev/null || true
        fi
    done
    rm -rf "$dir"
}

case "${1:-}" in
install) install_all ;;
up) up ;;
down) down_quiet; log "stopped" ;;
env) echo "PLUMB_TEST_CLUSTER=$dir" ;;
restart-apiserver) restart_apiserver "${2:-3}" ;;
*) echo "usage: $0 install|up|down|env|restart-apiserver [SECONDS]" >&2; exit 2 ;;
esac
