#!/usr/bin/env bash
# Builds plumb as it last landed before this version (the commit pinned as plumb-previous in
# tests/tools/versions), once per machine, into $PLUMB_CACHE/tools/plumb-<commit>/plumb, and
# prints that folder. The upgrade test runs a sync with it, then with this plumb.
# The commit comes from this repository's own history (a shallow clone lacks it: fails).
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
cache=${PLUMB_CACHE:-$HOME/.cache/plumb}
log() { printf '[previous-plumb] %s\n' "$*" >&2; }
commit=$(awk '$1 == "plumb-previous" { print $4 }' "$repo/tests/tools/versions")
[ -n "$commit" ] || { log "no plumb-previous in tests/tools/versions"; exit 2; }
out=$cache/tools/plumb-$commit
if [ ! -x "$out/plumb" ]; then
    git -C "$repo" cat-file -e "$commit^{commit}" 2>/dev/null ||
        { log "commit $commit is not in this clone's history (a shallow clone?): fetch it"; exit 2; }
    src=$cache/build/plumb-$commit
    rm -rf "$src" && mkdir -p "$src"
    git -C "$repo" archive "$commit" | tar -x -C "$src"
    log "building plumb at ${commit:0:7} (debug; once per machine)"
    # Its own target folder: the build must not replace this plumb's target/debug/plumb.
    CARGO_TARGET_DIR=$cache/build/plumb-previous-target \
        cargo build --locked -q -p plumb --bin plumb --manifest-path "$src/Cargo.toml"
    install -D -m 0755 "$cache/build/plumb-previous-target/debug/plumb" "$out/plumb"
    rm -rf "$src" "$cache/build/plumb-previous-target"
fi
echo "$out"
