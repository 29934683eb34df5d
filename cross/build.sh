#!/usr/bin/env bash
# Docker-free cross build of plumb for the Pis.
#
#   cross/build.sh TARGET [PROFILE]
#
# TARGET: aarch64-unknown-linux-musl       (Pi 3/4/5, 64-bit OS; the design's target)
#         armv7-unknown-linux-musleabihf   (Pi 2/3/4, 32-bit OS)
#         aarch64-unknown-linux-gnu        (static glibc, the fallback)
#         armv7-unknown-linux-gnueabihf    (static glibc, the fallback)
#         or the short names aarch64 / armv7 (= the musl triple, with fallback)
# PROFILE: a cargo profile, default release.
#
# Routes, in order of preference:
#   zig      musl via cargo-zigbuild with zig (PyPI's ziglang) as C compiler
#            and linker: needs rustup's rust-std for the musl target.
#   zig-std  the same on a nightly toolchain that is already installed, with
#            -Zbuild-std (std built from rust-src), for a musl target rustup
#            has no rust-std for (it answers 404 for
#            armv7-unknown-linux-musleabihf on some machines).
#   gnu      static glibc via Debian's gcc-<arch>-linux-gnu* cross compiler
#            and rustup's gnu target, linked with -C target-feature=+crt-static.
# A musl target whose routes can't be had falls back to the gnu triple of
# the same architecture, and the script says so.
# PLUMB_BUILD_ROUTE=zig|zig-std|gnu forces a route (no fallback).
#
# Everything it needs is installed idempotently: rustup targets, Debian
# packages (apt-get update once, only when something is missing), zig into a
# venv under target/tools, cargo-zigbuild with `cargo install --locked`.
# Output: target/<triple>/<profile>/plumb; the last line printed is its path.
# It never runs `cargo clean`: target/ is shared with other builds, and
# cargo's lock serialises them.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
target=${1:?usage: cross/build.sh TARGET [PROFILE]}
profile=${2:-release}
route=${PLUMB_BUILD_ROUTE:-auto}
tdir=${CARGO_TARGET_DIR:-$repo/target}
tools=$tdir/tools

log() { printf '[cross] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

case "$target" in
aarch64 | arm64) target=aarch64-unknown-linux-musl ;;
armv7 | armhf) target=armv7-unknown-linux-musleabihf ;;
esac
case "$target" in
aarch64-unknown-linux-musl) gnu=aarch64-unknown-linux-gnu ;;
armv7-unknown-linux-musleabihf) gnu=armv7-unknown-linux-gnueabihf ;;
aarch64-unknown-linux-gnu | armv7-unknown-linux-gnueabihf) gnu=$target ;;
*) die "unsupported target '$target' (aarch64-unknown-linux-musl, armv7-unknown-linux-musleabihf, aarch64-unknown-linux-gnu, armv7-unknown-linux-gnueabihf)" ;;
esac

# apt_install, shared with the test scripts.
. "$repo/tests/apt.sh"

# rustup target add, quietly; returns 1 (with the reason in $why) if it can't.
why=""
rust_target() {
    rustup target list --installed 2>/dev/null | grep -qx "$1" && return 0
    log "rustup target add $1"
    local out
    if out=$(rustup target add "$1" 2>&1); then return 0; fi
    why="rustup target add $1 failed: $(printf '%s\n' "$out" | grep -m1 'status code' || printf '%s\n' "$out" | grep -m1 error || printf '%s' "$out" | tail -n1)"
    return 1
}

# zig from PyPI into target/tools/zig-venv; puts `zig` on PATH.
setup_zig() {
    local venv=$tools/zig-venv
    if command -v zig >/dev/null 2>&1; then return 0; fi
    if [ ! -x "$venv/bin/python" ]; then
        log "pip install ziglang (into $venv)"
        python3 -m venv "$venv" || { why="python3 -m venv failed (apt-get install python3-venv?)"; return 1; }
    fi
    if ! "$venv/bin/python" -c 'import ziglang' 2>/dev/null; then
        "$venv/bin/pip" install -q ziglang || { why="pip install ziglang failed"; return 1; }
    fi
    local zigdir
    zigdir=$("$venv/bin/python" -c 'import ziglang, os; print(os.path.dirname(ziglang.__file__))')
    [ -x "$zigdir/zig" ] || { why="the ziglang package has no zig binary in $zigdir"; return 1; }
    export PATH="$zigdir:$PATH"
}

setup_zigbuild() {
    command -v cargo-zigbuild >/dev/null 2>&1 && return 0
    log "cargo install cargo-zigbuild --locked (a few minutes, once)"
    cargo install -q cargo-zigbuild --locked || { why="cargo install cargo-zigbuild failed"; return 1; }
}

build_zig() {
    log "route zig: cargo zigbuild --target $target --profile $profile (zig $(zig version))"
    cargo zigbuild --locked -p plumb --bin plumb --target "$target" --profile "$profile"
}

# -Zbuild-std for a target rustup has no rust-std for: nightly (only if it is
# installed already) and its rust-src.
setup_build_std() {
    rustup toolchain list 2>/dev/null | grep -q '^nightly' || { why="$why; no nightly toolchain for -Zbuild-std"; return 1; }
    rustup component list --toolchain nightly --installed 2>/dev/null | grep -q '^rust-src' ||
        rustup component add rust-src --toolchain nightly >/dev/null 2>&1 || { why="$why; rustup component add rust-src failed"; return 1; }
}

build_zig_std() {
    local up
    up=$(printf '%s' "$target" | tr 'a-z-' 'A-Z_')
    # zig brings the C runtime objects; a std built from source has none of its own.
    if [ -n "${RUSTFLAGS:-}" ]; then
        export RUSTFLAGS="$RUSTFLAGS -C link-self-contained=no"
    else
        export "CARGO_TARGET_${up}_RUSTFLAGS=-C link-self-contained=no"
    fi
    log "route zig-std: cargo +nightly zigbuild -Zbuild-std --target $target --profile $profile (zig $(zig version), $(rustc +nightly --version))"
    cargo +nightly zigbuild --locked -Zbuild-std=std,panic_abort -p plumb --bin plumb --target "$target" --profile "$profile"
}

build_gnu() {
    local t=$1 cc pkg
    case "$t" in
    aarch64-unknown-linux-gnu) cc=aarch64-linux-gnu-gcc pkg=gcc-aarch64-linux-gnu ;;
    armv7-unknown-linux-gnueabihf) cc=arm-linux-gnueabihf-gcc pkg=gcc-arm-linux-gnueabihf ;;
    esac
    apt_install "$pkg" libc6-dev-"$(case $t in aarch64*) echo arm64 ;; *) echo armhf ;; esac)"-cross
    rust_target "$t" || die "$why"
    local up
    up=$(printf '%s' "$t" | tr 'a-z-' 'A-Z_')
    export "CARGO_TARGET_${up}_LINKER=$cc"
    export "CC_${t//-/_}=$cc"
    # +crt-static: link glibc statically (see docs/install.md on NSS).
    # target.<triple>.rustflags loses to RUSTFLAGS, so add to that if it is set.
    if [ -n "${RUSTFLAGS:-}" ]; then
        export RUSTFLAGS="$RUSTFLAGS -C target-feature=+crt-static"
    else
        export "CARGO_TARGET_${up}_RUSTFLAGS=-C target-feature=+crt-static"
    fi
    log "route gnu: cargo build --target $t --profile $profile, linker $cc, +crt-static (static glibc)"
    cargo build --locked -p plumb --bin plumb --target "$t" --profile "$profile"
}

# The route, with the reason.
chosen=""
case "$route" in
zig | zig-std)
    [ "$target" = "$gnu" ] && die "route $route builds musl targets only, not $target"
    if [ "$route" = zig ]; then rust_target "$target" || die "$why"; fi
    setup_zig || die "$why"
    setup_zigbuild || die "$why"
    if [ "$route" = zig-std ]; then setup_build_std || die "$why"; fi
    chosen=$route
    ;;
gnu) chosen=gnu ;;
auto)
    if [ "$target" = "$gnu" ]; then
        chosen=gnu
        log "route gnu: $target is a glibc target"
    elif rust_target "$target" && setup_zig && setup_zigbuild; then
        chosen=zig
        log "route zig: rustup has $target, zig and cargo-zigbuild are here"
    elif [ -n "$why" ] && ! rustup target list --installed 2>/dev/null | grep -qx "$target" &&
        setup_zig && setup_zigbuild && setup_build_std; then
        chosen=zig-std
        log "route zig-std: $why; building its std from source on the installed nightly"
    else
        chosen=gnu
        log "routes zig and zig-std unavailable ($why); falling back to static glibc: $gnu"
    fi
    ;;
*) die "PLUMB_BUILD_ROUTE must be zig, zig-std or gnu, not '$route'" ;;
esac

SECONDS=0
out_triple=$target
if [ "$chosen" = zig ] || [ "$chosen" = zig-std ]; then
    if ! { if [ "$chosen" = zig ]; then build_zig; else build_zig_std; fi; }; then
        [ "$route" = auto ] || die "the $chosen route failed"
        log "the $chosen route failed (above); falling back to static glibc: $gnu"
        chosen=gnu
    fi
fi
if [ "$chosen" = gnu ]; then
    build_gnu "$gnu"
    out_triple=$gnu
fi
dir=$profile
[ "$profile" = dev ] && dir=debug
bin=$tdir/$out_triple/$dir/plumb
[ -x "$bin" ] || die "no binary at $bin"
log "built $out_triple ($chosen route, profile $profile) in ${SECONDS}s: $(stat -c %s "$bin") bytes"
echo "$bin"
