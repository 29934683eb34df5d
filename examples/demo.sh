#!/usr/bin/env bash
# plumb's main job, end to end: serve examples/apps from a local Git
# repository made on the fly, and reconcile it into the test cluster.
# Run it again after editing examples/apps: plumb applies just the change.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
work=$repo/target/demo
cluster=${PLUMB_TEST_CLUSTER:-$repo/target/test-cluster}
if [ ! -f "$cluster/server" ]; then
    echo "no test cluster: start it with tests/cluster.sh up" >&2
    exit 2
fi
mkdir -p "$work"

# The Git repository: a bare one to serve, a work tree to commit from.
git_() { GIT_CONFIG_GLOBAL=/dev/null GIT_CONFIG_NOSYSTEM=1 git -c user.name=demo -c user.email=demo@localhost -c init.defaultBranch=main "$@"; }
[ -d "$work/examples.git" ] || git_ init -q --bare "$work/examples.git"
[ -d "$work/src/.git" ] || git_ init -q "$work/src"
rm -rf "$work/src/apps" && cp -r "$repo/examples/apps" "$work/src/apps"
git_ -C "$work/src" add -A
git_ -C "$work/src" diff --cached --quiet || git_ -C "$work/src" commit -q -m "examples $(date +%T)"
git_ -C "$work/src" push -q "$work/examples.git" HEAD:refs/heads/main

cat >"$work/plumb.yaml" <<YAML
kubeconfig: $cluster/admin.kubeconfig
stateDir: $work/state
sources:
  - name: examples
    url: file://$work/examples.git
    ref: {branch: main}
syncs:
  - name: demo
    source: examples
    path: apps
    namespace: demo
    prune: true
    # The test cluster runs no controllers, so Deployments never become
    # ready there; on a real cluster leave wait on.
    wait: false
YAML

plumb=${PLUMB:-}
if [ -z "$plumb" ]; then
    cargo build -q -p plumb
    plumb=$repo/target/debug/plumb
fi
"$plumb" reconcile --config "$work/plumb.yaml"
kubectl --kubeconfig "$cluster/admin.kubeconfig" -n demo get deployments,services,configmaps,widgets
