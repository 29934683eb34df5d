#!/usr/bin/env bash
# Fuzzes the parsers that read what Git and files hold (issue 12): the manifest reader, the
# kustomization builder, the config parser, the kubeconfig parser and kustomize's patchers.
#   tests/fuzz.sh [MINUTES] [TARGET ...]     default: 10 minutes for each of fuzz/'s targets
# Beside the tests, not in the README's test command: it runs for an hour.
# Installs the nightly toolchain and cargo-fuzz if missing (cargo-fuzz cached in
# ~/.cache/plumb); seeds each corpus from the repository's fixtures; keeps corpora in
# ~/.cache/plumb/fuzz. A crash stops the run with its input under fuzz/artifacts/TARGET:
# fix it, and copy the input to fuzz/regressions/TARGET/, which `cargo test` replays
# (agent/tests/fuzz_regressions.rs) on stable, with no fuzzer.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
cache=${PLUMB_CACHE:-$HOME/.cache/plumb}
minutes=${1:-10}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(manifests kustomize config kubeconfig strategic_merge)
log() { printf '[fuzz] %s\n' "$*" >&2; }

rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
cargo_fuzz=$cache/cargo-fuzz/bin/cargo-fuzz
if [ ! -x "$cargo_fuzz" ]; then
    log "installing cargo-fuzz into $cache/cargo-fuzz"
    cargo install --locked --root "$cache/cargo-fuzz" cargo-fuzz
fi
export PATH=$cache/cargo-fuzz/bin:$PATH
export CARGO_TARGET_DIR=$repo/target/fuzz
mkdir -p "$CARGO_TARGET_DIR"

seed() { # seed TARGET: fills its corpus from the fixtures, once
    local corpus=$cache/fuzz/corpus/$1
    mkdir -p "$corpus"
    [ -z "$(ls -A "$corpus")" ] || return 0
    case $1 in
    manifests)
        find tests/fixtures examples -name '*.yaml' -size -64k | while read -r f; do
            cp "$f" "$corpus/$(echo "$f" | tr / _)"
        done ;;
    kustomize) # one archive per fixture folder: `==> PATH` lines between files
        for dir in tests/fixtures/kustomize/*/ tests/fixtures/kustomize-errors/*/; do
            [ -f "$dir/kustomization.yaml" ] || continue
            out=$corpus/$(basename "$dir")
            cat "$dir/kustomization.yaml" >"$out"
            (cd "$dir" && find . -type f -name '*.yaml' ! -path ./kustomization.yaml ! -name 'expected*' -size -16k |
                sed 's|^\./||' | while read -r f; do printf '\n==> %s\n' "$f"; cat "$f"; done) >>"$out"
        done ;;
    config)
        cp fuzz/seeds/config/* "$corpus/"
        awk '/^```yaml/{n++; f=1; next} /^```/{f=0} f{print > ("'"$corpus"'/doc-" n ".yaml")}' docs/configuration.md ;;
    *) cp fuzz/seeds/"$1"/* "$corpus/" ;;
    esac
    log "$1: seeded $(ls "$corpus" | wc -l) inputs"
}

SECONDS=0
for target in "${targets[@]}"; do
    seed "$target"
    log "== $target for $minutes min (${SECONDS}s in)"
    start=$SECONDS
    (cd fuzz && cargo +nightly fuzz run "$target" "$cache/fuzz/corpus/$target" -- \
        -max_total_time=$((minutes * 60)) -rss_limit_mb=2048 -max_len=65536 -timeout=20 \
        -print_final_stats=1 2>&1 | tee "$CARGO_TARGET_DIR/$target.log" | grep -E '^(#[0-9]+.*(DONE|pulse)|==|SUMMARY|stat::number_of_executed_units|artifact_prefix|Test unit written)' || true)
    if grep -q 'Test unit written' "$CARGO_TARGET_DIR/$target.log"; then
        log "FAIL: $target found a crash: see $CARGO_TARGET_DIR/$target.log and fuzz/artifacts/$target"
        exit 1
    fi
    runs=$(grep -o 'stat::number_of_executed_units: [0-9]*' "$CARGO_TARGET_DIR/$target.log" | grep -o '[0-9]*$' || echo '?')
    log "$target: $runs inputs in $((SECONDS - start)) s, no crash; corpus $(ls "$cache/fuzz/corpus/$target" | wc -l)"
done
