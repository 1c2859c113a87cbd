#!/bin/bash
# scripts/install-deps.sh — install every Debian 12 package mobiked needs to build and test.
# Idempotent: if every package is already installed (dpkg-query), apt is not run at all.
#
#   scripts/install-deps.sh            install what is missing, then make sure no system
#                                      strongSwan daemon holds UDP 500/4500
#   scripts/install-deps.sh --check    only report missing packages (exit 1 if any)
#   scripts/install-deps.sh --list     print the package list
#   INSTALL_DEPS_FORCE=1 scripts/install-deps.sh   run apt even if nothing is missing
#
# strongSwan note: Debian's strongswan-charon Depends on strongswan-starter (the package
# with the "ipsec" init script / strongswan-starter.service that starts a system charon).
# It cannot be left out, so this script (1) keeps services from starting while apt runs
# (a temporary /usr/sbin/policy-rc.d returning 101, unless one already exists), (2) disables
# the service's autostart, and (3) stops a system charon/starter that runs in the root network
# namespace. Test daemons (tests/lib/strongswan.sh) run in their own network and mount
# namespaces and are never touched: they are told apart by their network namespace.
set -euo pipefail

BUILD_PKGS=(cmake ninja-build g++ clang libclang-rt-14-dev pkg-config git)
LIB_PKGS=(libssl-dev libconfig++-dev libspdlog-dev libfmt-dev nlohmann-json3-dev libcli11-dev
          libgtest-dev libgmock-dev libbenchmark-dev libipsec-mb-dev)
TEST_PKGS=(strongswan-charon strongswan-swanctl libcharon-extra-plugins libstrongswan-extra-plugins
           libstrongswan-standard-plugins
           tshark iperf3 iputils-ping iproute2 nftables openssl gnuplot-nox procps psmisc
           python3 util-linux coreutils)
PKGS=("${BUILD_PKGS[@]}" "${LIB_PKGS[@]}" "${TEST_PKGS[@]}")

log() { printf 'install-deps: %s\n' "$*" >&2; }

SUDO=
if [ "$(id -u)" != 0 ]; then
    if command -v sudo >/dev/null 2>&1; then SUDO="sudo -n"; else
        log "must run as root (or with sudo available)"; exit 1
    fi
fi

missing_pkgs() {
    local p st
    for p in "${PKGS[@]}"; do
        st=$(dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null || true)
        # "ii " = installed and configured; anything else (absent, half-installed, rc) is missing
        [ "${st:0:2}" = ii ] || printf '%s\n' "$p"
    done
}

case ${1:-} in
    --list) printf '%s\n' "${PKGS[@]}"; exit 0 ;;
    --check)
        m=$(missing_pkgs)
        if [ -n "$m" ]; then log "missing: $(echo $m)"; exit 1; fi
        log "all ${#PKGS[@]} packages installed"; exit 0 ;;
    "") ;;
    *) log "usage: $0 [--check|--list]"; exit 2 ;;
esac

# ------------------------------------------------------------------ install
MISSING=$(missing_pkgs)
if [ -z "$MISSING" ] && [ "${INSTALL_DEPS_FORCE:-0}" != 1 ]; then
    log "all ${#PKGS[@]} packages already installed; skipping apt"
else
    log "missing: $(echo $MISSING)${INSTALL_DEPS_FORCE:+ (forced apt run)}"
    export DEBIAN_FRONTEND=noninteractive
    # tshark: do not ask whether non-root users may capture
    echo "wireshark-common wireshark-common/install-setuid boolean false" | $SUDO debconf-set-selections
    # keep package scripts from starting services (strongswan-starter) during the install
    POLICY=/usr/sbin/policy-rc.d
    OWN_POLICY=0
    if [ ! -e "$POLICY" ]; then
        printf '#!/bin/sh\n# temporary, scripts/install-deps.sh\nexit 101\n' | $SUDO tee "$POLICY" >/dev/null
        $SUDO chmod 755 "$POLICY"
        OWN_POLICY=1
    fi
    cleanup_policy() { [ "$OWN_POLICY" = 1 ] && $SUDO rm -f "$POLICY"; return 0; }
    trap cleanup_policy EXIT
    # --no-upgrade: install what is missing, never upgrade what a colleague already builds with
    # bounded retries: another apt/dpkg run (a colleague's) may hold the lock
    ok=0
    for attempt in 1 2 3; do
        if $SUDO apt-get -o DPkg::Lock::Timeout=120 update \
           && $SUDO apt-get -o DPkg::Lock::Timeout=120 install -y --no-install-recommends --no-upgrade \
                -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "${PKGS[@]}"; then
            ok=1; break
        fi
        log "apt attempt $attempt failed; retrying in 5 s"
        sleep 5
    done
    cleanup_policy; trap - EXIT
    [ "$ok" = 1 ] || { log "apt-get failed"; exit 1; }
    STILL=$(missing_pkgs)
    [ -z "$STILL" ] || { log "still missing after install: $(echo $STILL)"; exit 1; }
    log "apt done${MISSING:+; installed: $(echo $MISSING)}"
fi

# ------------------------------------------------------------------ no system strongSwan
# disable autostart (sysv links and systemd unit), quietly, if the tools exist
if [ -e /etc/init.d/ipsec ] && command -v update-rc.d >/dev/null 2>&1; then
    $SUDO update-rc.d ipsec disable >/dev/null 2>&1 || true
fi
if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
    $SUDO systemctl disable --now strongswan-starter.service strongswan.service >/dev/null 2>&1 || true
fi

# a system charon/starter is one running in the root network namespace (PID 1's)
root_net=$(readlink /proc/1/ns/net 2>/dev/null || true)
system_ss_pids() {
    local d pid exe
    for d in /proc/[0-9]*; do
        pid=${d#/proc/}
        exe=$(readlink "$d/exe" 2>/dev/null) || continue
        case $exe in
            /usr/lib/ipsec/charon|/usr/lib/ipsec/starter|/usr/sbin/charon-systemd) ;;
            *) continue ;;
        esac
        [ "$(readlink "$d/ns/net" 2>/dev/null)" = "$root_net" ] && printf '%s\n' "$pid"
    done
    return 0
}
PIDS=$(system_ss_pids)
if [ -n "$PIDS" ]; then
    log "system strongSwan running in the root namespace (pids $(echo $PIDS)); stopping it"
    if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
        $SUDO systemctl stop strongswan-starter.service strongswan.service >/dev/null 2>&1 || true
    elif [ -x /etc/init.d/ipsec ]; then
        $SUDO /etc/init.d/ipsec stop >/dev/null 2>&1 || true
    fi
    # whatever is left: TERM, bounded wait, KILL — by PID only
    for i in $(seq 1 30); do
        PIDS=$(system_ss_pids); [ -z "$PIDS" ] && break
        [ "$i" = 1 ] && for p in $PIDS; do $SUDO kill -TERM "$p" 2>/dev/null || true; done
        sleep 0.1
    done
    PIDS=$(system_ss_pids)
    for p in $PIDS; do $SUDO kill -KILL "$p" 2>/dev/null || true; done
    [ -z "$(system_ss_pids)" ] || { log "could not stop system strongSwan"; exit 1; }
fi
if command -v ss >/dev/null 2>&1; then
    busy=$(ss -Hulpn 2>/dev/null | awk '$4 ~ /:(500|4500)$/' || true)
    [ -z "$busy" ] || log "warning: UDP 500/4500 in use in the root namespace: $busy"
fi
log "ok"
