#!/usr/bin/env bash
# Real Git servers on loopback for the integration tests:
#   - git daemon (git://), serving $dir/repos
#   - git http-backend behind nginx + fcgiwrap: HTTPS with basic auth at /,
#     bearer-token auth at /bearer/, no auth at /anon/; plain HTTP at /anon/ only
#   - sshd with a deploy key restricted to git-shell
#
#   tests/git-servers.sh install   install the Debian packages it needs (idempotent)
#   tests/git-servers.sh up        start the servers, write $dir/env (idempotent)
#   tests/git-servers.sh down      stop them and remove the folder
#   tests/git-servers.sh env       print the variables tests read (also in $dir/env)
#
# State lives in $PLUMB_TEST_GIT (default: <repo>/target/test-git). Tests make
# their repositories under $dir/repos; every server serves them all. Every
# server runs as root and listens on 127.0.0.1 only.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
dir=${PLUMB_TEST_GIT:-$repo/target/test-git}
PATH=$PATH:/usr/sbin:/sbin

log() { printf '[git-servers] %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

case "$dir" in /|'') die "refusing PLUMB_TEST_GIT='$dir'" ;; esac

. "$repo/tests/apt.sh"

install_all() {
    local missing=()
    command -v git >/dev/null || missing+=(git)
    command -v nginx >/dev/null || missing+=(nginx-light)
    command -v fcgiwrap >/dev/null || missing+=(fcgiwrap)
    command -v sshd >/dev/null || missing+=(openssh-server)
    command -v ssh-keygen >/dev/null || missing+=(openssh-client)
    command -v openssl >/dev/null || missing+=(openssl)
    command -v curl >/dev/null || missing+=(curl)
    command -v python3 >/dev/null || missing+=(python3)
    command -v setsid >/dev/null || missing+=(util-linux)
    apt_install "${missing[@]}"
}

free_ports() { # count: distinct free loopback ports, one a line
    python3 -c '
import socket, sys
socks = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in socks: s.bind(("127.0.0.1", 0))
for s in socks: print(s.getsockname()[1])' "$1"
}

servers=(daemon fcgiwrap nginx sshd)

# This machine's init reaps orphans late: a zombie counts as stopped.
alive() { ps -o stat= -p "$1" 2>/dev/null | grep -v "^Z" >/dev/null; }

# Live members of process group $1 (each server leads its own, see start).
group_alive() { ps -eo pgid=,stat= | awk -v g="$1" '$1 == g && $2 !~ /^Z/ { f = 1 } END { exit !f }'; }

# Group $1 is one this script started: its leader's command line names $dir,
# or its leader is gone (Linux does not reuse a pid while its group lives).
group_ours() {
    if alive "$1"; then ps -o args= -p "$1" | grep -F "$dir" >/dev/null; else true; fi
}

running() {
    local s
    [ -f "$dir/env" ] || return 1
    for s in "${servers[@]}"; do
        [ -f "$dir/$s.pid" ] && alive "$(cat "$dir/$s.pid")" || return 1
    done
}

# Each server is started with setsid, so it leads its own process group and
# stopping the group also stops its workers and per-connection children.
start() { # name command...
    local name=$1; shift
    setsid "$@" >>"$dir/$name.log" 2>&1 </dev/null &
    echo $! >"$dir/$name.pid"
}

make_pki() { # ECDSA P-256 keys: as widely supported as RSA, and made in no time
    local p=$dir/pki ec=(-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes)
    mkdir -p "$p"
    (
        cd "$p"
        exec 2>>openssl.log
        openssl req -x509 "${ec[@]}" -days 3650 -subj "/CN=plumb-git-test-ca" -keyout ca.key -out ca.crt
        # A second CA that signed nothing: clients trusting only it must refuse the server.
        openssl req -x509 "${ec[@]}" -days 3650 -subj "/CN=plumb-git-wrong-ca" -keyout wrong-ca.key -out wrong-ca.crt
        openssl req "${ec[@]}" -subj "/CN=localhost" -keyout server.key -out server.csr
        printf '%s\n' 'basicConstraints=CA:FALSE' 'keyUsage=digitalSignature' \
            'extendedKeyUsage=serverAuth' 'subjectAltName=IP:127.0.0.1,DNS:localhost' \
            'subjectKeyIdentifier=hash' 'authorityKeyIdentifier=keyid' >server.ext
        openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 3650 \
            -extfile server.ext -out server.crt
    )
}

# Config every git server process reads: $HOME/.gitconfig, no system config.
write_gitconfig() {
    mkdir -p "$dir/home"
    cat >"$dir/home/.gitconfig" <<'CFG'
[uploadpack]
	# Fetch by SHA (protocol v0/v1; v2 allows any want anyway).
	allowAnySHA1InWant = true
	allowReachableSHA1InWant = true
	allowTipSHA1InWant = true
	allowFilter = true
[safe]
	directory = *
CFG
}

write_nginx() {
    local n=$dir/nginx
    mkdir -p "$n/tmp"
    cat >"$n/git-backend.conf" <<CONF
fastcgi_pass unix:$dir/fcgiwrap.sock;
fastcgi_param SCRIPT_FILENAME $git_exec/git-http-backend;
fastcgi_param GIT_PROJECT_ROOT $dir/repos;
fastcgi_param GIT_HTTP_EXPORT_ALL 1;
fastcgi_param HOME $dir/home;
fastcgi_param GIT_CONFIG_NOSYSTEM 1;
fastcgi_param PATH_INFO \$git_path;
fastcgi_param QUERY_STRING \$query_string;
fastcgi_param REQUEST_METHOD \$request_method;
fastcgi_param CONTENT_TYPE \$content_type;
fastcgi_param CONTENT_LENGTH \$content_length;
fastcgi_param REQUEST_URI \$request_uri;
fastcgi_param SERVER_PROTOCOL \$server_protocol;
fastcgi_param GATEWAY_INTERFACE CGI/1.1;
fastcgi_param REMOTE_ADDR \$remote_addr;
fastcgi_param REMOTE_USER \$remote_user;
CONF
    cat >"$n/nginx.conf" <<CONF
daemon off;
user root;
worker_processes 2;
pid $dir/nginx/nginx.pid;
error_log $n/error.log info;
events { worker_connections 512; }
http {
    access_log $n/access.log;
    client_body_temp_path $n/tmp/client_body;
    fastcgi_temp_path $n/tmp/fastcgi;
    proxy_temp_path $n/tmp/proxy;
    uwsgi_temp_path $n/tmp/uwsgi;
    scgi_temp_path $n/tmp/scgi;
    client_max_body_size 0;
    fastcgi_read_timeout 300s;
    server_tokens off;

    server {
        listen 127.0.0.1:$https_port ssl;
        server_name localhost;
        ssl_certificate $dir/pki/server.crt;
        ssl_certificate_key $dir/pki/server.key;

        location ~ ^/anon(?<git_path>/.*)\$ {
            include $n/git-backend.conf;
        }
        location ~ ^/bearer(?<git_path>/.*)\$ {
            if (\$http_authorization != "Bearer $http_token") { return 401; }
            include $n/git-backend.conf;
        }
        location ~ ^(?<git_path>/.*)\$ {
            auth_basic "plumb test git";
            auth_basic_user_file $n/htpasswd;
            include $n/git-backend.conf;
        }
    }

    server {
        listen 127.0.0.1:$http_port;
        server_name localhost;
        location ~ ^/anon(?<git_path>/.*)\$ {
            include $n/git-backend.conf;
        }
        location / { return 404; }
    }
}
CONF
    printf 'git:%s\n' "$(openssl passwd -apr1 "$http_password")" >"$n/htpasswd"
}

write_ssh() {
    local s=$dir/ssh k
    mkdir -p "$s"
    ssh-keygen -q -t ed25519 -N '' -C plumb-test-host -f "$s/host_ed25519_key"
    ssh-keygen -q -t ecdsa -b 256 -N '' -C plumb-test-host -f "$s/host_ecdsa_key"
    # Host keys the server does not have, for the wrong known_hosts.
    ssh-keygen -q -t ed25519 -N '' -C plumb-wrong-host -f "$s/wrong_host_ed25519_key"
    ssh-keygen -q -t ecdsa -b 256 -N '' -C plumb-wrong-host -f "$s/wrong_host_ecdsa_key"
    ssh-keygen -q -t ed25519 -N '' -C plumb-deploy -f "$s/deploy_key"
    # A key the server does not authorize.
    ssh-keygen -q -t ed25519 -N '' -C plumb-unauthorized -f "$s/wrong_key"
    : >"$s/known_hosts"
    : >"$s/wrong_known_hosts"
    for k in ed25519 ecdsa; do
        printf '[127.0.0.1]:%s,[localhost]:%s %s\n' "$ssh_port" "$ssh_port" \
            "$(cut -d' ' -f1,2 "$s/host_${k}_key.pub")" >>"$s/known_hosts"
        printf '[127.0.0.1]:%s,[localhost]:%s %s\n' "$ssh_port" "$ssh_port" \
            "$(cut -d' ' -f1,2 "$s/wrong_host_${k}_key.pub")" >>"$s/wrong_known_hosts"
    done
    # The deploy key may only run git's transport commands, through git-shell.
    cat >"$s/git-serve" <<SH
#!/bin/sh
HOME='$dir/home' GIT_CONFIG_NOSYSTEM=1
export HOME GIT_CONFIG_NOSYSTEM
exec '$git_exec/git-shell' -c "\$SSH_ORIGINAL_COMMAND"
SH
    chmod 0755 "$s/git-serve"
    printf 'restrict,command="%s" %s\n' "$s/git-serve" "$(cat "$s/deploy_key.pub")" >"$s/authorized_keys"
    cat >"$s/sshd_config" <<CONF
Port $ssh_port
ListenAddress 127.0.0.1
AddressFamily inet
HostKey $s/host_ed25519_key
HostKey $s/host_ecdsa_key
PidFile $dir/ssh/sshd.pid
UsePAM no
PermitRootLogin forced-commands-only
AllowUsers root
AuthenticationMethods publickey
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
AuthorizedKeysFile $s/authorized_keys
StrictModes no
AcceptEnv GIT_PROTOCOL
PermitUserEnvironment no
AllowTcpForwarding no
AllowAgentForwarding no
X11Forwarding no
PermitTTY no
PrintMotd no
PrintLastLog no
UseDNS no
MaxStartups 100:30:200
LogLevel VERBOSE
CONF
    mkdir -p /run/sshd && chmod 0755 /run/sshd
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

http_status() { # url
    curl -s -o /dev/null -w '%{http_code}' --max-time 2 --cacert "$dir/pki/ca.crt" "$1" || true
}

ready() {
    port_open "$daemon_port" && port_open "$ssh_port" &&
        # 401 from nginx's basic auth; 404 from git http-backend itself (502 until fcgiwrap is up).
        [ "$(http_status "https://127.0.0.1:$https_port/none.git/info/refs")" = 401 ] &&
        [ "$(http_status "http://127.0.0.1:$http_port/anon/none.git/info/refs?service=git-upload-pack")" = 404 ]
}

up() {
    if running; then
        log "already running ($dir)"
        return 0
    fi
    install_all
    down_quiet
    mkdir -p "$dir/repos"
    git_exec=$(git --exec-path)
    local nginx fcgiwrap sshd
    nginx=$(command -v nginx); fcgiwrap=$(command -v fcgiwrap); sshd=$(command -v sshd)
    { read -r daemon_port; read -r https_port; read -r http_port; read -r ssh_port; } < <(free_ports 4)
    http_password=$(openssl rand -hex 16)
    http_token=$(openssl rand -hex 24)
    printf '%s' "$http_password" >"$dir/http.password"
    printf '%s' "$http_token" >"$dir/http.token"
    make_pki
    write_gitconfig
    write_nginx
    write_ssh
    "$nginx" -t -q -p "$dir/nginx" -c "$dir/nginx/nginx.conf" -e "$dir/nginx/error.log"
    "$sshd" -t -f "$dir/ssh/sshd_config"

    start daemon env HOME="$dir/home" GIT_CONFIG_NOSYSTEM=1 "$git_exec/git-daemon" \
        --reuseaddr --listen=127.0.0.1 --port="$daemon_port" \
        --base-path="$dir/repos" --export-all --informative-errors --verbose
    start fcgiwrap "$fcgiwrap" -c 8 -s "unix:$dir/fcgiwrap.sock"
    start nginx "$nginx" -p "$dir/nginx" -c "$dir/nginx/nginx.conf" -e "$dir/nginx/error.log"
    start sshd "$sshd" -D -e -f "$dir/ssh/sshd_config"

    local i s
    for i in $(seq 1 200); do
        ready && break
        for s in "${servers[@]}"; do
            if ! alive "$(cat "$dir/$s.pid")"; then
                log "$s died while starting; last lines of its logs:"
                tail -n 20 "$dir/$s.log" >&2
                [ "$s" = nginx ] && tail -n 20 "$dir/nginx/error.log" >&2
                down_quiet
                exit 1
            fi
        done
        sleep 0.05
    done
    if [ "$i" -eq 200 ]; then
        log "not ready after 10 s"
        tail -n 5 "$dir"/*.log "$dir/nginx/error.log" >&2 || true
        down_quiet
        exit 1
    fi

    cat >"$dir/env.tmp" <<ENV
PLUMB_TEST_GIT=$dir
GIT_REPOS=$dir/repos
GIT_DAEMON_URL=git://127.0.0.1:$daemon_port
GIT_HTTPS_URL=https://127.0.0.1:$https_port
GIT_HTTP_URL=http://127.0.0.1:$http_port/anon
GIT_HTTP_USER=git
GIT_HTTP_PASSWORD_FILE=$dir/http.password
GIT_HTTP_TOKEN_FILE=$dir/http.token
GIT_CA=$dir/pki/ca.crt
GIT_WRONG_CA=$dir/pki/wrong-ca.crt
GIT_SSH_PORT=$ssh_port
GIT_SSH_URL=ssh://root@127.0.0.1:$ssh_port
GIT_SSH_KEY=$dir/ssh/deploy_key
GIT_SSH_WRONG_KEY=$dir/ssh/wrong_key
GIT_SSH_KNOWN_HOSTS=$dir/ssh/known_hosts
GIT_SSH_WRONG_KNOWN_HOSTS=$dir/ssh/wrong_known_hosts
ENV
    mv "$dir/env.tmp" "$dir/env"
    log "ready: git://127.0.0.1:$daemon_port https://127.0.0.1:$https_port http://127.0.0.1:$http_port ssh port $ssh_port ($dir)"
}

down_quiet() {
    local s pid pids=()
    for s in "${servers[@]}"; do
        [ -f "$dir/$s.pid" ] || continue
        pid=$(cat "$dir/$s.pid")
        # The whole group: fcgiwrap's master, for one, leaves its children behind.
        group_alive "$pid" && group_ours "$pid" || continue
        pids+=("$pid")
        kill -TERM -- "-$pid" 2>/dev/null || true
    done
    for pid in ${pids[@]+"${pids[@]}"}; do
        for _ in $(seq 1 50); do group_alive "$pid" || break; sleep 0.1; done
        if group_alive "$pid"; then kill -KILL -- "-$pid" 2>/dev/null || true; fi
    done
    rm -rf "$dir"
}

print_env() {
    if [ ! -f "$dir/env" ]; then
        printf 'PLUMB_TEST_GIT=%q\n' "$dir"
        die "not running: run '$0 up' first"
    fi
    local line
    while IFS= read -r line; do
        printf '%s=%q\n' "${line%%=*}" "${line#*=}"
    done <"$dir/env"
}

case "${1:-}" in
install) install_all ;;
up) up ;;
down) down_quiet; log "stopped" ;;
env) print_env ;;
*) echo "usage: $0 install|up|down|env" >&2; exit 2 ;;
esac
