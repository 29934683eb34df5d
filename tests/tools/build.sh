#!/usr/bin/env bash
# Builds a pinned test tool from its Go module (versions in tests/tools/versions),
# once per machine, into $PLUMB_CACHE/tools/<name>-<version>/.
#
#   tests/tools/build.sh NAME     build NAME if it isn't cached; print its folder
#   tests/tools/build.sh version NAME   print NAME's pinned version
#
# Each tool gets a throwaway wrapper module that requires the pinned module and
# lists the commands as `tool` directives, so the tool's own replace directives
# (which make `go install` refuse it) are copied in where it needs them.
# No checksum database is reachable here (only the module proxy), hence GOSUMDB=off.
set -euo pipefail

repo=$(cd "$(dirname "$0")/../.." && pwd)
cache=${PLUMB_CACHE:-$HOME/.cache/plumb}
export GOPROXY=${GOPROXY:-https://proxy.golang.org} GOSUMDB=off GOFLAGS=-mod=mod GOTOOLCHAIN=local
# Go 1.26 from the machine, never Debian's older golang-go.
if [ -x /usr/local/go/bin/go ]; then export PATH=/usr/local/go/bin:$PATH; fi

log() { printf '[tools] %s\n' "$*" >&2; }

field() { # name column
    awk -v n="$1" -v c="$2" '$1 == n { print $c; found = 1 } END { exit !found }' "$repo/tests/tools/versions" ||
        { log "no tool '$1' in tests/tools/versions"; exit 2; }
}

# Writes go.mod for a wrapper module that requires $module@$version.
wrapper() { # dir module version tool-packages...
    local dir=$1 module=$2 version=$3
    shift 3
    mkdir -p "$dir"
    cd "$dir"
    rm -f go.mod go.sum
    go mod init plumb.test/tools >/dev/null 2>&1
    go mod edit -require="$module@$version"
    local p
    for p in "$@"; do go mod edit -tool="$p"; done
}

# Kubernetes' staging modules are v0.0.0 in its go.mod, replaced by folders of
# its repository; the published v0.N.M of each stands in for them.
k8s_staging_replaces() { # version
    local v=$1 minor patch staging
    minor=$(echo "$v" | cut -d. -f2); patch=$(echo "$v" | cut -d. -f3)
    staging="v0.$minor.$patch"
    local modfile
    modfile=$(go mod download -json "k8s.io/kubernetes@$v" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
    awk '/^\t(k8s\.io\/[a-z0-9-]+) v0\.0\.0$/ { print $1 }' "$modfile" | sort -u | while read -r m; do
        go mod edit -replace="$m=$m@$staging"
    done
}

k8s_ldflags() { # version
    local v=$1 major minor commit date
    major=$(echo "$v" | cut -d. -f1 | tr -d v); minor=$(echo "$v" | cut -d. -f2)
    commit=$(go mod download -json "k8s.io/kubernetes@$v" | sed -n 's/.*"Hash": "\([0-9a-f]*\)".*/\1/p' | head -n1)
    date=$(go mod download -json "k8s.io/kubernetes@$v" | sed -n 's/.*"Time": "\([^"]*\)".*/\1/p' | head -n1)
    local flags="-s -w" pkg
    for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
        flags+=" -X $pkg.gitVersion=$v -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor"
        flags+=" -X $pkg.gitCommit=${commit:-0000000000000000000000000000000000000000}"
        flags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=${date:-1970-01-01T00:00:00Z}"
    done
    echo "$flags"
}

# What a tool's build depends on besides its pinned version, written into
# .done: a build whose stamp differs is rebuilt. Empty for most tools.
stamp() { # name
    case $1 in
    helm) sha256sum "$repo/tests/tools/helm-engine-ref/main.go" | cut -c1-16 ;;
    flux-envsubst) sha256sum "$repo/tests/tools/envsubst-ref/main.go" | cut -c1-16 ;;
    esac
}

# Helm's release ldflags (its Makefile): the version, and the Kubernetes
# version of its default capabilities from the client-go it builds with.
helm_ldflags() { # version
    local v=$1 commit client major minor
    commit=$(go mod download -json "helm.sh/helm/v3@$v" | sed -n 's/.*"Hash": "\([0-9a-f]*\)".*/\1/p' | head -n1)
    client=$(go list -m -f '{{.Version}}' k8s.io/client-go | tr -d v)
    major=$(( $(echo "$client" | cut -d. -f1) + 1 )); minor=$(echo "$client" | cut -d. -f2)
    local flags="-w -s -X helm.sh/helm/v3/internal/version.version=$v -X helm.sh/helm/v3/internal/version.metadata="
    flags+=" -X helm.sh/helm/v3/internal/version.gitCommit=${commit:-0000000000000000000000000000000000000000}"
    flags+=" -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
    local pkg
    for pkg in helm.sh/helm/v3/pkg/lint/rules helm.sh/helm/v3/pkg/chartutil; do
        flags+=" -X $pkg.k8sVersionMajor=$major -X $pkg.k8sVersionMinor=$minor"
    done
    echo "$flags"
}

build() { # name
    local name=$1 module version out want
    module=$(field "$name" 2); version=$(field "$name" 3)
    out=$cache/tools/$name-$version
    want=$(stamp "$name")
    if [ -f "$out/.done" ] && [ "$(cat "$out/.done")" = "$want" ]; then echo "$out"; return 0; fi
    local work=$cache/tools/build-$name-$version
    rm -rf "$out" "$work"
    mkdir -p "$out"
    local start=$SECONDS
    log "building $name $version from $module (once per machine)"
    # errexit is off in a subshell that is the left side of ||, so the
    # recipe runs apart with it on, and its status is read after.
    set +e
    (
        set -e
        case $name in
        kubernetes*)
            local cmds=(kube-apiserver kube-controller-manager kube-scheduler)
            wrapper "$work" "$module" "$version" "${cmds[@]/#/k8s.io/kubernetes/cmd/}"
            k8s_staging_replaces "$version"
            go mod tidy >/dev/null
            local flags; flags=$(k8s_ldflags "$version")
            for c in "${cmds[@]}"; do
                CGO_ENABLED=0 go build -trimpath -ldflags "$flags" -o "$out/$c" "k8s.io/kubernetes/cmd/$c"
            done
            ;;
        kine)
            # SQLite through cgo (mattn/go-sqlite3), as k3s links it.
            wrapper "$work" "$module" "$version" "$module"
            go mod tidy >/dev/null
            CGO_ENABLED=1 go build -trimpath \
                -ldflags "-s -w -X github.com/k3s-io/kine/pkg/version.Version=$version" -o "$out/kine" "$module"
            ;;
        etcd)
            wrapper "$work" "$module" "$version" "$module"
            go mod tidy >/dev/null
            CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$out/etcd" "$module"
            ;;
        kwok)
            wrapper "$work" "$module" "$version" "$module/cmd/kwok"
            go mod tidy >/dev/null
            CGO_ENABLED=0 go build -trimpath \
                -ldflags "-s -w -X sigs.k8s.io/kwok/pkg/consts.Version=$version" -o "$out/kwok" "$module/cmd/kwok"
            ;;
        helm)
            # The helm CLI, and helm-engine-ref (ours: Helm's engine on JSON
            # cases, for helm-template's reference tests) in the wrapper module.
            wrapper "$work" "$module" "$version" "$module/cmd/helm"
            mkdir -p helm-engine-ref
            cp "$repo/tests/tools/helm-engine-ref/main.go" helm-engine-ref/
            go mod tidy >/dev/null
            local flags; flags=$(helm_ldflags "$version")
            CGO_ENABLED=0 go build -trimpath -ldflags "$flags" -o "$out/helm" "$module/cmd/helm"
            CGO_ENABLED=0 go build -trimpath -ldflags "$flags" -o "$out/helm-engine-ref" ./helm-engine-ref
            ;;
        flux-envsubst)
            # envsubst-ref (ours: Flux's envsubst on JSON cases, for
            # tests/substitute.rs), with the YAML module Flux converts with.
            wrapper "$work" "$module" "$version"
            go mod edit -require=sigs.k8s.io/yaml@v1.4.0
            mkdir -p envsubst-ref
            cp "$repo/tests/tools/envsubst-ref/main.go" envsubst-ref/
            go mod tidy >/dev/null
            CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$out/envsubst-ref" ./envsubst-ref
            ;;
        sops)
            wrapper "$work" "$module" "$version" "$module/cmd/sops"
            go mod tidy >/dev/null
            CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X $module/version.Version=${version#v}" \
                -o "$out/sops" "$module/cmd/sops"
            ;;
        flux-*)
            # A Flux controller, its module's replaces that name versions copied
            # into the wrapper (those naming its own folders are published
            # modules, required as they are), and its CRDs beside the binary.
            local cmd=${name#flux-}
            wrapper "$work" "$module" "$version" "$module"
            local modfile; modfile=$(go mod download -json "$module@$version" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
            go mod edit -json "$modfile" | python3 -c '
import json, sys
for r in json.load(sys.stdin).get("Replace") or []:
    if r["New"].get("Version"):
        old = r["Old"]["Path"] + ("@" + r["Old"]["Version"] if r["Old"].get("Version") else "")
        print(old + "=" + r["New"]["Path"] + "@" + r["New"]["Version"])' | while read -r rep; do
                go mod edit -replace="$rep"
            done
            go mod tidy >/dev/null
            CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$out/$cmd" "$module"
            local src; src=$(go mod download -json "$module@$version" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')
            cp "$src"/config/crd/bases/*.yaml "$out/"
            ;;
        *) log "no build recipe for '$name'"; exit 2 ;;
        esac
    ) >"$cache/tools/$name-$version.log" 2>&1
    local status=$?
    set -e
    [ "$status" = 0 ] || {
        tail -n 40 "$cache/tools/$name-$version.log" >&2
        log "building $name $version failed; the whole log: $cache/tools/$name-$version.log"
        exit 1
    }
    rm -rf "$work"
    printf '%s' "$want" >"$out/.done"
    log "built $name $version in $(( (SECONDS - start) / 60 )) min $(( (SECONDS - start) % 60 )) s: $out"
    echo "$out"
}

mkdir -p "$cache/tools"
case "${1:-}" in
version) field "${2:?name}" 3 ;;
"" | -h | --help) echo "usage: $0 NAME | version NAME" >&2; exit 2 ;;
*) build "$1" ;;
esac
