#!/usr/bin/env bash
# The test cluster, as a single-server k3s runs it: kube-apiserver,
# kube-controller-manager and kube-scheduler built from k8s.io/kubernetes, on
# kine with SQLite (or etcd), and three nodes simulated by kwok, all on
# loopback. Versions are pinned in tests/tools/versions and built once per
# machine by tests/tools/build.sh (cached in ~/.cache/plumb).
#
#   tests/cluster.sh install   build what up needs (idempotent)
#   tests/cluster.sh up        start the cluster, write kubeconfigs (idempotent)
#   tests/cluster.sh down      stop it and remove the cluster's folder
#   tests/cluster.sh env       print the variables tests read (PLUMB_TEST_CLUSTER)
#   tests/cluster.sh restart-apiserver [SECONDS]   an API server outage for tests
#
# Options, as flags after the verb or as variables:
#   --kubernetes newest|oldest  (PLUMB_TEST_KUBERNETES) the newest release, or the
#                               oldest one plumb supports; default newest
#   --datastore kine|etcd       (PLUMB_TEST_DATASTORE) default kine (SQLite)
#
# State lives in $PLUMB_TEST_CLUSTER (default: <repo>/target/test-cluster).
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
cache=${PLUMB_CACHE:-$HOME/.cache/plumb}
dir=${PLUMB_TEST_CLUSTER:-$repo/target/test-cluster}
kubernetes=${PLUMB_TEST_KUBERNETES:-newest}
datastore=${PLUMB_TEST_DATASTORE:-kine}
nodes=(pi-1 pi-2 pi-3)
components=(apiserver controller-manager scheduler kwok)

log() { printf '[cluster] %s\n' "$*" >&2; }

. "$repo/tests/apt.sh"

verb=${1:-}
[ $# -gt 0 ] && shift
while [ $# -gt 0 ]; do
    case $1 in
    --kubernetes) kubernetes=$2; shift 2 ;;
    --datastore) datastore=$2; shift 2 ;;
    *) break ;;
    esac
done
# A running cluster's own versions, for the verbs that act on it.
if [ "$verb" != up ] && [ -f "$dir/kind" ]; then
    read -r kubernetes datastore <"$dir/kind"
fi
case $kubernetes in
newest) k8s_tool=kubernetes ;;
oldest) k8s_tool=kubernetes-oldest ;;
*) log "--kubernetes takes newest or oldest, not '$kubernetes'"; exit 2 ;;
esac
case $datastore in
kine | etcd) ;;
*) log "--datastore takes kine or etcd, not '$datastore'"; exit 2 ;;
esac

tool() { bash "$repo/tests/tools/build.sh" "$1"; }

install_all() {
    apt_install openssl curl python3 sqlite3 gcc libc6-dev
    tool "$k8s_tool" >/dev/null
    tool "$datastore" >/dev/null
    tool kwok >/dev/null
}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

alive() { [ -f "$dir/$1.pid" ] && kill -0 "$(cat "$dir/$1.pid")" 2>/dev/null; }

running() {
    local c
    for c in datastore "${components[@]}"; do alive "$c" || return 1; done
}

# EC P-256 keys and X.509 v3 certificates, as k3s makes them: one CA for
# serving, one for clients; client certificates carry their CA in the chain.
ec_key() { openssl ecparam -name prime256v1 -genkey -noout -out "$1"; }
ca() { # name cn
    ec_key "$1.key"
    openssl req -x509 -new -key "$1.key" -days 3650 -subj "/CN=$2" -out "$1.crt" \
        -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
}
client_cert() { # name subject
    ec_key "$1.key"
    openssl req -new -key "$1.key" -subj "$2" -out "$1.csr" 2>/dev/null
    openssl x509 -req -in "$1.csr" -CA client-ca.crt -CAkey client-ca.key -CAcreateserial -days 3650 \
        -extfile client.ext -out "$1.crt" 2>/dev/null
}

make_pki() {
    local p=$dir/pki
    mkdir -p "$p"
    cd "$p"
    ca ca "k3s-server-ca@plumb-test"
    ca client-ca "k3s-client-ca@plumb-test"
    # A CA that signed nothing: kubeconfigs pointing at it must be refused.
    ca wrong-ca plumb-wrong-ca
    ec_key apiserver.key
    openssl req -new -key apiserver.key -subj "/CN=kube-apiserver" -out apiserver.csr 2>/dev/null
    # 10.0.2.2: the host as the emulated aarch64 machine of tests/aarch64.sh sees it.
    printf 'subjectAltName=IP:127.0.0.1,IP:10.0.2.2,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default.svc\nextendedKeyUsage=serverAuth\n' >apiserver.ext
    openssl x509 -req -in apiserver.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 3650 \
        -extfile apiserver.ext -out apiserver.crt 2>/dev/null
    printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n' >client.ext
    # k3s's admin: system:admin in system:masters, the client CA after it.
    client_cert admin "/O=system:masters/CN=system:admin"
    cat admin.crt client-ca.crt >admin-chain.crt
    client_cert controller-manager "/CN=system:kube-controller-manager"
    client_cert scheduler "/CN=system:kube-scheduler"
    client_cert kwok "/O=system:masters/CN=kwok"
    # The other key formats: an RSA key in PKCS#8, the same request signed as
    # an X.509 v1 certificate (which TLS libraries refuse), a bare EC one.
    openssl req -newkey rsa:2048 -nodes -subj "/O=system:masters/CN=cert-admin" \
        -keyout cert-admin.key -out cert-admin.csr 2>/dev/null
    openssl x509 -req -in cert-admin.csr -CA client-ca.crt -CAkey client-ca.key -CAcreateserial -days 3650 \
        -extfile client.ext -out cert-admin.crt 2>/dev/null
    openssl x509 -req -in cert-admin.csr -CA client-ca.crt -CAkey client-ca.key -CAcreateserial -days 3650 \
        -out cert-v1.crt 2>/dev/null
    client_cert cert-ec "/O=system:masters/CN=cert-ec"
    openssl genrsa -out sa.key 2048 2>/dev/null
    openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
    cd - >/dev/null
}

b64() { base64 -w0 <"$1"; }

# A kubeconfig laid out as k3s writes /etc/rancher/k3s/k3s.yaml.
write_kubeconfig() { # name user-yaml
    cat >"$dir/$1.kubeconfig" <<KC
apiVersion: v1
clusters:
- cluster:
    certificate-authority-data: $(b64 "$dir/pki/ca.crt")
    server: https://127.0.0.1:$api_port
  name: default
contexts:
- context:
    cluster: default
    user: default
  name: default
current-context: default
kind: Config
preferences: {}
users:
- name: default
  user:
$2
KC
}

cert_user() { # cert key
    printf '    client-certificate-data: %s\n    client-key-data: %s' "$(b64 "$dir/pki/$1")" "$(b64 "$dir/pki/$2")"
}

read_ports() { read -r store_port api_port <"$dir/ports"; }

start_datastore() {
    local bin
    bin=$(tool "$datastore")
    if [ "$datastore" = kine ]; then
        # k3s's own datastore string for a single server.
        mkdir -p "$dir/db"
        "$bin/kine" --endpoint "sqlite://$dir/db/state.db?_journal=WAL&cache=shared&_busy_timeout=30000&_txlock=immediate" \
            --listen-address "127.0.0.1:$store_port" --metrics-bind-address 0 \
            >>"$dir/datastore.log" 2>&1 &
    else
        local peer; peer=$(free_port)
        "$bin/etcd" --name plumb-test --data-dir "$dir/etcd" \
            --listen-client-urls "http://127.0.0.1:$store_port" --advertise-client-urls "http://127.0.0.1:$store_port" \
            --listen-peer-urls "http://127.0.0.1:$peer" --initial-advertise-peer-urls "http://127.0.0.1:$peer" \
            --initial-cluster "plumb-test=http://127.0.0.1:$peer" --unsafe-no-fsync \
            >>"$dir/datastore.log" 2>&1 &
    fi
    echo $! >"$dir/datastore.pid"
}

start_apiserver() {
    read_ports
    local bin; bin=$(tool "$k8s_tool")
    "$bin/kube-apiserver" --etcd-servers "http://127.0.0.1:$store_port" \
        --secure-port "$api_port" --bind-address 127.0.0.1 --advertise-address 127.0.0.1 --endpoint-reconciler-type none \
        --cert-dir "$dir/pki" --tls-cert-file "$dir/pki/apiserver.crt" --tls-private-key-file "$dir/pki/apiserver.key" \
        --client-ca-file "$dir/pki/client-ca.crt" --token-auth-file "$dir/tokens.csv" \
        --anonymous-auth=false --authorization-mode Node,RBAC --enable-admission-plugins NodeRestriction \
        --allow-privileged=true --profiling=false \
        --service-account-key-file "$dir/pki/sa.pub" --service-account-signing-key-file "$dir/pki/sa.key" \
        --service-account-issuer https://kubernetes.default.svc.cluster.local \
        --api-audiences https://kubernetes.default.svc.cluster.local \
        --service-cluster-ip-range 10.43.0.0/16 \
        --audit-policy-file "$dir/audit-policy.yaml" --audit-log-path "$dir/audit.log" \
        >>"$dir/apiserver.log" 2>&1 &
    echo $! >"$dir/apiserver.pid"
}

start_controllers() {
    local bin; bin=$(tool "$k8s_tool")
    # The controllers k3s runs, each under its own service account, the garbage
    # collector and namespace finaliser among them; host-path volumes for claims.
    "$bin/kube-controller-manager" --kubeconfig "$dir/controller-manager.kubeconfig" \
        --authentication-kubeconfig "$dir/controller-manager.kubeconfig" \
        --authorization-kubeconfig "$dir/controller-manager.kubeconfig" \
        --secure-port 0 --leader-elect=false --use-service-account-credentials=true \
        --service-account-private-key-file "$dir/pki/sa.key" --root-ca-file "$dir/pki/ca.crt" \
        --cluster-signing-cert-file "$dir/pki/client-ca.crt" --cluster-signing-key-file "$dir/pki/client-ca.key" \
        --cluster-cidr 10.42.0.0/16 --service-cluster-ip-range 10.43.0.0/16 \
        --enable-hostpath-provisioner=true --profiling=false \
        >>"$dir/controller-manager.log" 2>&1 &
    echo $! >"$dir/controller-manager.pid"
    "$bin/kube-scheduler" --kubeconfig "$dir/scheduler.kubeconfig" \
        --authentication-kubeconfig "$dir/scheduler.kubeconfig" \
        --authorization-kubeconfig "$dir/scheduler.kubeconfig" \
        --secure-port 0 --leader-elect=false --profiling=false \
        >>"$dir/scheduler.log" 2>&1 &
    echo $! >"$dir/scheduler.pid"
    local kwok; kwok=$(tool kwok)
    "$kwok/kwok" --kubeconfig "$dir/kwok.kubeconfig" --config "$repo/tests/cluster/kwok-stages.yaml" \
        --node-ip 127.0.0.1 \
        >>"$dir/kwok.log" 2>&1 &
    echo $! >"$dir/kwok.pid"
}

api_ready() {
    curl -sf --cacert "$dir/pki/ca.crt" -H "Authorization: Bearer $(cat "$dir/admin.token")" \
        "https://127.0.0.1:$api_port/readyz" >/dev/null 2>&1
}

wait_ready() {
    read_ports
    local i
    for i in $(seq 1 240); do
        api_ready && return 0
        if ! alive apiserver || ! alive datastore; then
            log "a server died while starting; last lines of its log:"
            tail -n 20 "$dir/datastore.log" "$dir/apiserver.log" >&2
            return 1
        fi
        sleep 0.5
    done
    log "kube-apiserver not ready after 120 s"; tail -n 20 "$dir/apiserver.log" >&2; return 1
}

kubectl_() { kubectl --kubeconfig "$dir/admin.kubeconfig" "$@"; }

# Waits until $2 (a kubectl get) prints $3, or fails after $1 seconds.
wait_for() { # seconds what expected args...
    local seconds=$1 what=$2 expected=$3 i
    shift 3
    for i in $(seq 1 $((seconds * 2))); do
        [ "$(kubectl_ "$@" 2>/dev/null || true)" = "$expected" ] && return 0
        sleep 0.5
    done
    log "$what not ready after $seconds s"
    tail -n 20 "$dir/controller-manager.log" "$dir/scheduler.log" "$dir/kwok.log" >&2
    return 1
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
    if running && [ "$(cat "$dir/kind" 2>/dev/null)" = "$kubernetes $datastore" ]; then
        log "already running ($dir)"
        return 0
    fi
    install_all
    down_quiet
    mkdir -p "$dir"
    printf '%s %s\n' "$kubernetes" "$datastore" >"$dir/kind"
    make_pki
    store_port=$(free_port); api_port=$(free_port)
    printf '%s %s\n' "$store_port" "$api_port" >"$dir/ports"
    local admin_token restricted_token
    admin_token=$(head -c 24 /dev/urandom | base64 | tr -dc 'a-zA-Z0-9')
    restricted_token=$(head -c 24 /dev/urandom | base64 | tr -dc 'a-zA-Z0-9')
    cat >"$dir/tokens.csv" <<TOK
$admin_token,admin,admin-uid,system:masters
$restricted_token,restricted,restricted-uid,plumb-restricted
TOK
    printf '%s' "$admin_token" >"$dir/admin.token"
    # Tests read the audit log for their own requests: the controllers' and
    # the simulated nodes' are left out, so it stays small.
    cat >"$dir/audit-policy.yaml" <<'POL'
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
- level: None
  users: [system:kube-controller-manager, system:kube-scheduler, kwok, system:apiserver]
- level: None
  userGroups: [system:serviceaccounts:kube-system, system:nodes]
- level: Metadata
POL
    write_kubeconfig admin "$(cert_user admin-chain.crt admin.key)"
    write_kubeconfig token-admin "    token: $admin_token"
    write_kubeconfig restricted "    token: $restricted_token"
    write_kubeconfig cert-admin "$(cert_user cert-admin.crt cert-admin.key)"
    write_kubeconfig controller-manager "$(cert_user controller-manager.crt controller-manager.key)"
    write_kubeconfig scheduler "$(cert_user scheduler.crt scheduler.key)"
    write_kubeconfig kwok "$(cert_user kwok.crt kwok.key)"
    start_datastore
    start_apiserver
    wait_ready
    start_controllers
    echo "https://127.0.0.1:$api_port" >"$dir/server"
    # Three simulated Pis; kwok reports them Ready, the scheduler binds Pods to them.
    # 250 Pods each rather than k3s's 110: tests/peers.sh's 1,000 objects hold 333 Deployments.
    local n
    for n in "${nodes[@]}"; do
        cat <<NODE
apiVersion: v1
kind: Node
metadata:
  name: $n
  labels: {kubernetes.io/hostname: $n, kubernetes.io/os: linux, kubernetes.io/arch: arm64, type: kwok}
  annotations: {kwok.x-k8s.io/node: fake, node.alpha.kubernetes.io/ttl: "0"}
status:
  allocatable: {cpu: "4", memory: 8Gi, pods: "250"}
  capacity: {cpu: "4", memory: 8Gi, pods: "250"}
---
NODE
    done | kubectl_ apply -f - >/dev/null
    kubectl_ apply -f - >/dev/null <<'OBJECTS'
# Claims bind through the controller-manager's host-path provisioner.
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  name: local-path
  annotations: {storageclass.kubernetes.io/is-default-class: "true"}
provisioner: kubernetes.io/host-path
reclaimPolicy: Delete
volumeBindingMode: Immediate
---
# The restricted user may only read ConfigMaps in 'default'.
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
OBJECTS
    wait_for 60 "the simulated nodes" "True True True" get nodes \
        -o 'jsonpath={.items[*].status.conditions[?(@.type=="Ready")].status}' || exit 1
    wait_for 60 "the default service account" default get serviceaccount default -n default -o 'jsonpath={.metadata.name}' || exit 1
    log "ready at https://127.0.0.1:$api_port: Kubernetes $("$(tool "$k8s_tool")/kube-apiserver" --version | cut -d' ' -f2) on $datastore, ${#nodes[@]} nodes ($dir)"
}

down_quiet() {
    local f
    for f in kwok scheduler controller-manager apiserver datastore; do
        if [ -f "$dir/$f.pid" ]; then
            kill "$(cat "$dir/$f.pid")" 2>/dev/null || true
        fi
    done
    for f in kwok scheduler controller-manager apiserver datastore; do
        if [ -f "$dir/$f.pid" ]; then
            local pid; pid=$(cat "$dir/$f.pid")
            for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
            kill -9 "$pid" 2>/dev/null || true
        fi
    done
    rm -rf "$dir"
}

case "$verb" in
install) install_all ;;
up) up ;;
down) down_quiet; log "stopped" ;;
env) echo "PLUMB_TEST_CLUSTER=$dir" ;;
restart-apiserver) restart_apiserver "${1:-3}" ;;
*) echo "usage: $0 install|up|down|env|restart-apiserver [SECONDS] [--kubernetes newest|oldest] [--datastore kine|etcd]" >&2; exit 2 ;;
esac
