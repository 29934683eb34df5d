# Sourced by the project's scripts (tests/*.sh, cross/build.sh):
#   apt_install PACKAGE...
# installs the Debian packages that are not installed yet, quietly, with one
# `apt-get update` per script, and without starting their services (a
# policy-rc.d for the duration), so that nginx or sshd never listen
# system-wide because a test needed their binaries.
apt_updated=0
apt_install() {
    local missing=() p policy=/usr/sbin/policy-rc.d own_policy=0 rc=0
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    printf '[apt] installing %s\n' "${missing[*]}" >&2
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 0755 "$policy" && own_policy=1
    fi
    if [ $apt_updated -eq 0 ]; then
        DEBIAN_FRONTEND=noninteractive apt-get update -qq || rc=$?
        apt_updated=1
    fi
    if [ $rc -eq 0 ]; then
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null || rc=$?
    fi
    if [ $own_policy -eq 1 ]; then rm -f "$policy"; fi
    return $rc
}
