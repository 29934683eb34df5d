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
#   zig  musl via cargo-zigbuild with zig (PyPI's ziglang) as C compiler and
#        linker: needs rustup's rust-std for the musl target.
#   gnu  static glibc via Debian's gcc-<arch>-linux-gnu* cross compiler and
#        rustup's gnu target, linked with -C target-feature=+crt-static.
# A musl target whose route can't be had (rustup answers 404 for
# armv7-unknown-linux-musleabihf on some machines) falls back to the gnu
# triple of the same architecture, and the script says so.
# PLUMB_BUILD_ROUTE=zig|gnu forces a route (no fallback).
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

apt_updated=0
apt_install() {
    local missing=() p
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    log "installing Debian packages: ${missing[*]}"
    if [ $apt_updated -eq 0 ]; then
        DEBIAN_FRONTEND=noninteractive apt-get update -qq
        apt_updated=1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

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
zig)
    [ "$target" = "$gnu" ] && die "route zig builds musl targets only, not $target"
    rust_target "$target" || die "$why"
    setup_zig || die "$why"
    setup_zigbuild || die "$why"
    chosen=zig
    ;;
gnu) chosen=gnu ;;
auto)
    if [ "$target" = "$gnu" ]; then
        chosen=gnu
        log "route gnu: $target is a glibc target"
    elif rust_target "$target" && setup_zig && setup_zigbuild; then
        chosen=zig
        log "route zig: rustup has $target, zig and cargo-zigbuild are here"
    else
        chosen=gnu
        log "route zig unavailable ($why); falling back to static glibc: $gnu"
    fi
    ;;
*) die "PLUMB_BUILD_ROUTE must be zig or gnu, not '$route'" ;;
esac

SECONDS=0
out_triple=$target
if [ "$chosen" = zig ]; then
    if ! build_zig; then
        [ "$route" = auto ] || die "the zig route failed"
        log "the zig route failed (above); falling back to static glibc: $gnu"
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
