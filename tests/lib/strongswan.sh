# shellcheck shell=bash
# tests/lib/strongswan.sh — run strongSwan 5.9.x (Debian) charon daemons as peers inside
# network namespaces, with the user-space data plane (kernel-libipsec, TUN "ipsec0").
# Requires tests/lib/netns.sh to be sourced first. See /work/shared/interop/strongswan.md
# and tests/interop/README.md.
#
# Every daemon lives in one directory DIR:
#   DIR/strongswan.conf        charon settings (load_modular = no, own vici socket, filelog)
#   DIR/swanctl/swanctl.conf   connection + secrets (SWANCTL_DIR=DIR/swanctl)
#   DIR/swanctl/{x509,x509ca,private}/   certificates and keys (pubkey auth)
#   DIR/run/                   bound over /run in charon's private mount namespace
#   DIR/charon.vici            vici control socket   DIR/charon.log  charon's file log
#   DIR/charon.out             charon stdout/stderr  DIR/pid, DIR/ns  PID and namespace
#
# Public functions:
#   ss_conf DIR key=value...      write strongswan.conf + swanctl.conf (keys below)
#   ss_start DIR NS [TIMEOUT]     start charon in NS (private /run), wait for vici
#   ss_stop DIR                   stop charon (TERM, bounded wait, KILL)
#   ss_ctl DIR ARGS...            swanctl ARGS --uri unix://DIR/charon.vici
#   ss_load DIR                   swanctl --load-all
#   ss_initiate DIR [CHILD] [TIMEOUT]   initiate CHILD (default: conf'd child)
#   ss_terminate_ike DIR [IKE] [TIMEOUT]  terminate the IKE_SA (and its children)
#   ss_list_sas DIR               human --list-sas output
#   ss_sas DIR                    flattened --list-sas --pretty: one "path=value" a line
#   ss_flatten_sas                filter: --list-sas --pretty on stdin -> "path=value" lines
#   ss_sa_get DIR KEY             value of one flattened key (first IKE_SA / CHILD_SA)
#   ss_ike_spis DIR               "<initiator-spi> <responder-spi>" of the first IKE_SA
#   ss_ike_state DIR              state of the first IKE_SA (ESTABLISHED, ...) or empty
#   ss_child_spis DIR             "<spi-in> <spi-out>" of the current CHILD_SA (first INSTALLED,
#                                 else first listed: a rekeyed one stays listed ~5 s)
#   ss_child_state DIR            state of the current CHILD_SA (INSTALLED, ...) or empty
#   ss_child_ts DIR               "<local-ts> <remote-ts>" of the current CHILD_SA (lists: a,b)
#   ss_child_get DIR KEY          any field of the current CHILD_SA (packets-in, mode, ...)
#   ss_ike_count DIR              number of IKE_SAs listed
#   ss_child_count DIR [STATE]    number of CHILD_SAs listed (only those in STATE)
#   ss_wait_ike_state DIR STATE TIMEOUT     poll until the first IKE_SA is in STATE
#   ss_wait_no_sa DIR TIMEOUT     poll until no IKE_SA is listed
#   ss_child_keys DIR [N]         CHILD_SA keys from charon.log (chd 4), N-th derivation
#   ss_ike_keys DIR [N]           IKE_SA keys SK_* from charon.log (needs ike 4)
#   ss_key_count DIR              number of CHILD_SA key derivations logged so far
#   ss_rekey_child DIR [CHILD]    rekey a CHILD_SA (CREATE_CHILD_SA), blocks until done
#   ss_rekey_ike DIR [IKE]        rekey the IKE_SA
#   ss_field LINE NAME            value of NAME=.. in a key line (ss_child_keys output)
#   ss_log DIR                    path of charon.log
#
# ss_conf keys (defaults in brackets):
#   role=initiator|responder [initiator]      conn=NAME [s2s]   child=NAME [net]
#   local_addrs=[%any]  remote_addrs=[%any; required for initiator]
#   local_id=  remote_id=  (required)
#   auth=psk|pubkey [psk]   psk=SECRET [mobiked-test-psk-0123456789]
#   cert=PEM  key=PEM  cacert=PEM   (pubkey: own cert, own private key, CA cert)
#   ike_proposal=[aes128gcm16-prfsha256-x25519]   esp_proposal=[aes128gcm16]
#   local_ts=  remote_ts=  [dynamic]   mode=tunnel|transport [tunnel]
#   mobike=yes|no [yes]   encap=yes|no [no]   start_action=[none]
#   dpd_delay=[0]   rekey_time=[0 = strongSwan default]   reauth_time=[0]
#   install_routes=yes|no [yes]   retransmit_tries=[3]   retransmit_timeout=[1.0]
#   plugins="..." [SS_DEFAULT_PLUGINS]
#   loglevels="default = 1, ike = 2, chd = 4, ..." [SS_DEFAULT_LOGLEVELS]
#   charon_extra="lines"  inserted verbatim in the charon { } section
#   ike_extra="lines"  child_extra="lines"  inserted in the connection / child section

SS_CHARON=${SS_CHARON:-/usr/lib/ipsec/charon}
SS_SWANCTL=${SS_SWANCTL:-swanctl}
# kernel-libipsec MUST come before kernel-netlink (else "Function not implemented").
SS_DEFAULT_PLUGINS=${SS_DEFAULT_PLUGINS:-"openssl random nonce aes gcm sha1 sha2 hmac kdf curve25519 gmp pem pkcs1 pkcs8 pubkey x509 constraints kernel-libipsec kernel-netlink socket-default vici"}
# chd 4 makes charon log the CHILD_SA keys (see ss_child_keys).
SS_DEFAULT_LOGLEVELS=${SS_DEFAULT_LOGLEVELS:-"default = 1, ike = 2, chd = 4, knl = 2, net = 1, cfg = 2, esp = 1"}

_ss_vici() { printf 'unix://%s/charon.vici' "$1"; }

# ss_conf DIR key=value...
ss_conf() {
    local dir=$1; shift
    local role=initiator conn=s2s child=net local_addrs=%any remote_addrs=''
    local local_id='' remote_id='' auth=psk psk=mobiked-test-psk-0123456789
    local cert='' key='' cacert=''
    local ike_proposal=aes128gcm16-prfsha256-x25519 esp_proposal=aes128gcm16
    local local_ts='' remote_ts='' mode=tunnel mobike=yes encap=no start_action=none
    local dpd_delay=0 rekey_time=0 reauth_time=0 install_routes=yes
    local retransmit_tries=3 retransmit_timeout=1.0
    local plugins=$SS_DEFAULT_PLUGINS loglevels=$SS_DEFAULT_LOGLEVELS
    local charon_extra='' ike_extra='' child_extra=''
    local kv k v
    for kv in "$@"; do
        k=${kv%%=*}; v=${kv#*=}
        case $k in
            role|conn|child|local_addrs|remote_addrs|local_id|remote_id|auth|psk|cert|key|cacert|\
            ike_proposal|esp_proposal|local_ts|remote_ts|mode|mobike|encap|start_action|\
            dpd_delay|rekey_time|reauth_time|install_routes|retransmit_tries|\
            retransmit_timeout|plugins|loglevels|charon_extra|ike_extra|child_extra)
                printf -v "$k" '%s' "$v" ;;
            *) echo "ss_conf: unknown key '$k'" >&2; return 1 ;;
        esac
    done
    [ -n "$local_id" ] && [ -n "$remote_id" ] || { echo "ss_conf: local_id and remote_id required" >&2; return 1; }
    if [ "$role" = initiator ] && [ -z "$remote_addrs" ]; then
        echo "ss_conf: initiator needs remote_addrs" >&2; return 1
    fi
    [ -n "$remote_addrs" ] || remote_addrs=%any
    mkdir -p "$dir/run" || return 1
    local sub; for sub in x509 x509ca x509aa x509ocsp x509crl x509ac pubkey private rsa ecdsa bliss pkcs8 pkcs12; do mkdir -p "$dir/swanctl/$sub" || return 1; done
    dir=$(cd "$dir" && pwd)
    printf '%s\n' "$conn" >"$dir/conn"; printf '%s\n' "$child" >"$dir/child"
    printf '%s\n' "$role" >"$dir/role"

    # comma-separated loglevels -> "ike = 2" lines
    local lv_lines
    lv_lines=$(printf '%s\n' "$loglevels" | tr ',' '\n' | sed -e 's/^ *//' -e 's/ *$//' -e '/^$/d' -e 's/^/            /')

    cat >"$dir/strongswan.conf" <<EOC
# generated by tests/lib/strongswan.sh ($role)
charon {
    load_modular = no
    load = $plugins
    install_routes = $install_routes
    retransmit_tries = $retransmit_tries
    retransmit_timeout = $retransmit_timeout
    plugins {
        vici {
            socket = unix://$dir/charon.vici
        }
    }
    filelog {
        charonlog {
            path = $dir/charon.log
            time_format = %H:%M:%S
            ike_name = yes
            append = no
            flush_line = yes
$lv_lines
        }
    }
    syslog {
        identifier = charon-test
        daemon {
            default = -1
        }
        auth {
            default = -1
        }
    }
$charon_extra
}
EOC

    local local_auth remote_auth secrets
    if [ "$auth" = psk ]; then
        local_auth="auth = psk
            id = $local_id"
        remote_auth="auth = psk
            id = $remote_id"
        secrets="    ike-psk {
        id-a = $local_id
        id-b = $remote_id
        secret = \"$psk\"
    }"
    elif [ "$auth" = pubkey ]; then
        [ -f "$cert" ] && [ -f "$key" ] || { echo "ss_conf: pubkey needs cert= and key= files" >&2; return 1; }
        cp "$cert" "$dir/swanctl/x509/local.pem" || return 1
        cp "$key" "$dir/swanctl/private/local.pem" || return 1
        [ -n "$cacert" ] && { cp "$cacert" "$dir/swanctl/x509ca/ca.pem" || return 1; }
        local_auth="auth = pubkey
            certs = local.pem
            id = $local_id"
        remote_auth="auth = pubkey
            id = $remote_id"
        secrets="    private-local {
        file = local.pem
    }"
    else
        echo "ss_conf: auth must be psk or pubkey" >&2; return 1
    fi

    local ts_lines=''
    [ -n "$local_ts" ] && ts_lines+="                local_ts = $local_ts
"
    [ -n "$remote_ts" ] && ts_lines+="                remote_ts = $remote_ts
"
    local ike_opts=''
    [ "$rekey_time" != 0 ] && ike_opts+="        rekey_time = $rekey_time
"
    [ "$reauth_time" != 0 ] && ike_opts+="        reauth_time = $reauth_time
"
    [ "$dpd_delay" != 0 ] && ike_opts+="        dpd_delay = $dpd_delay
"

    cat >"$dir/swanctl/swanctl.conf" <<EOC
# generated by tests/lib/strongswan.sh ($role)
connections {
    $conn {
        version = 2
        local_addrs = $local_addrs
        remote_addrs = $remote_addrs
        proposals = $ike_proposal
        mobike = $mobike
        encap = $encap
$ike_opts$ike_extra
        local {
            $local_auth
        }
        remote {
            $remote_auth
        }
        children {
            $child {
$ts_lines                esp_proposals = $esp_proposal
                mode = $mode
                start_action = $start_action
$child_extra
            }
        }
    }
}
secrets {
$secrets
}
EOC
}

# ss_start DIR NS [TIMEOUT_S] — start charon inside NS in its own mount namespace with
# DIR/run bound over /run (charon's pid file is hard-wired to /var/run/charon.pid).
ss_start() {
    local dir=$1 ns=$2 timeout=${3:-10}
    dir=$(cd "$dir" && pwd) || return 1
    [ -f "$dir/strongswan.conf" ] || { echo "ss_start: no $dir/strongswan.conf" >&2; return 1; }
    rm -f "$dir/charon.vici" "$dir/run/charon.pid" "$dir/run/charon.ctl"
    printf '%s\n' "$ns" >"$dir/ns"
    STRONGSWAN_CONF="$dir/strongswan.conf" ip netns exec "$ns" \
        unshare -m --propagation private \
        sh -c "mount --bind '$dir/run' /run && exec '$SS_CHARON'" \
        >"$dir/charon.out" 2>&1 </dev/null &
    local pid=$!
    printf '%s\n' "$pid" >"$dir/pid"
    track_pid "$pid"
    if ! wait_for "kill -0 $pid && $SS_SWANCTL --stats --uri $(_ss_vici "$dir")" "$timeout" 0.1; then
        log_err "charon in $ns did not answer on vici within ${timeout}s"
        return 1
    fi
    return 0
}

ss_stop() {
    local dir=$1 pid
    pid=$(cat "$dir/pid" 2>/dev/null) || return 0
    kill_pid "$pid" 5
}

ss_log() { printf '%s/charon.log\n' "$1"; }

# ss_ctl DIR ARGS... — swanctl against this daemon's vici socket.
ss_ctl() {
    local dir=$1; shift
    SWANCTL_DIR="$dir/swanctl" "$SS_SWANCTL" "$@" --uri "$(_ss_vici "$dir")"
}

ss_load() {
    local dir=$1
    ss_ctl "$dir" --load-all --noprompt --file "$dir/swanctl/swanctl.conf"
}

# ss_initiate DIR [CHILD] [TIMEOUT_S] — blocks until the CHILD_SA is up or failed.
ss_initiate() {
    local dir=$1 child=${2:-} timeout=${3:-10}
    [ -n "$child" ] || child=$(cat "$dir/child")
    ss_ctl "$dir" --initiate --child "$child" --timeout "$timeout"
}

# ss_terminate_ike DIR [IKE] [TIMEOUT_S]
ss_terminate_ike() {
    local dir=$1 ike=${2:-} timeout=${3:-10}
    [ -n "$ike" ] || ike=$(cat "$dir/conn")
    ss_ctl "$dir" --terminate --ike "$ike" --timeout "$timeout"
}

ss_list_sas() { ss_ctl "$1" --list-sas --noblock; }

_SS_LIBDIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

# ss_sas DIR — flattened SA list ("path=value" lines, see ss_parse.py). Returns 1 if
# swanctl failed (daemon gone), so callers can tell "no SA" from "no daemon".
ss_sas() {
    local out
    out=$(ss_ctl "$1" --list-sas --noblock --pretty 2>/dev/null) || return 1
    printf '%s\n' "$out" | ss_flatten_sas
}

# ss_flatten_sas < `swanctl --list-sas --pretty` — the awk twin of `ss_parse.py sas`
# (awk because this runs in polling loops and python3 start-up costs ~0.1 s here).
ss_flatten_sas() {
    awk 'BEGIN { nike = 0; sp = 0; inlist = 0 }
    function pfx() { return (sp > 0 && (kind[sp] == "ike" || kind[sp] == "child")) ? tag[sp] : "" }
    {
        line = $0; sub(/^[ \t]+/, "", line); sub(/[ \t]+$/, "", line)
        if (line == "") next
        if (inlist) {
            if (line == "]") { if (lkey != "") print lkey "=" lvals; inlist = 0 }
            else lvals = (lvals == "" ? line : lvals "," line)
            next
        }
        if (line ~ /\{$/) {
            name = line; sub(/[ \t]*\{$/, "", name)
            sp++
            if (sp == 1) { kind[sp] = "event"; tag[sp] = name }
            else if (sp == 2 && tag[1] == "list-sa event") {
                cur = "ike" nike; nike++; nchild = 0
                kind[sp] = "ike"; tag[sp] = cur; print cur ".name=" name
            } else if (sp == 3 && kind[2] == "ike" && name == "child-sas") { kind[sp] = "children" }
            else if (sp == 4 && kind[3] == "children") {
                kind[sp] = "child"; tag[sp] = cur ".child" nchild; nchild++
                print tag[sp] ".key=" name
            } else { kind[sp] = "other" }
            next
        }
        if (line == "}") {
            if (sp > 0) { if (kind[sp] == "ike") print cur ".child.count=" nchild; sp-- }
            next
        }
        i = index(line, " =")
        if (i == 0) next
        k = substr(line, 1, i - 1); v = substr(line, i + 2); sub(/^ /, "", v)
        p = pfx()
        if (v == "[") { inlist = 1; lvals = ""; lkey = (p == "" ? "" : p "." k) }
        else if (p != "") print p "." k "=" v
    }
    END { print "ike.count=" nike + 0 }'
}

# ss_sa_get DIR KEY — e.g. ss_sa_get D ike0.state ; ss_sa_get D ike0.child0.spi-in
ss_sa_get() {
    ss_sas "$1" | awk -v k="$2" 'index($0, k "=") == 1 { print substr($0, length(k) + 2); exit }'
}

# _ss_get_many DIR KEY... — values of several keys from ONE listing, space separated
_ss_get_many() {
    local dir=$1; shift
    local flat; flat=$(ss_sas "$dir") || return 1
    local k v res=()
    for k in "$@"; do
        v=$(printf '%s\n' "$flat" | awk -v k="$k" 'index($0, k "=") == 1 { print substr($0, length(k) + 2); exit }')
        res+=("$v")
    done
    printf '%s\n' "${res[*]}"
}

# _ss_cur_child DIR — flattened listing + the prefix of the "current" CHILD_SA: the first
# INSTALLED one (after a rekey the old one stays listed, REKEYED/DELETED, for
# charon.delete_rekeyed_delay = 5 s), else the first listed. Sets _SS_FLAT and _SS_CHILD.
_ss_cur_child() {
    _SS_FLAT=$(ss_sas "$1") || return 1
    _SS_CHILD=$(printf '%s\n' "$_SS_FLAT" | awk -F= '/^ike[0-9]+\.child[0-9]+\.state=INSTALLED$/ { sub(/\.state$/, "", $1); print $1; exit }')
    [ -n "$_SS_CHILD" ] || _SS_CHILD=ike0.child0
}
_ss_cur_get() {
    local dir=$1; shift
    _ss_cur_child "$dir" || return 1
    local k v res=()
    for k in "$@"; do
        v=$(printf '%s\n' "$_SS_FLAT" | awk -v k="$_SS_CHILD.$k" 'index($0, k "=") == 1 { print substr($0, length(k) + 2); exit }')
        res+=("$v")
    done
    printf '%s\n' "${res[*]}"
}

ss_ike_spis()    { _ss_get_many "$1" ike0.initiator-spi ike0.responder-spi; }
ss_ike_state()   { _ss_get_many "$1" ike0.state; }
ss_ike_count()   { _ss_get_many "$1" ike.count; }
# CHILD_SA helpers look at the current CHILD_SA (see _ss_cur_child)
ss_child_spis()  { _ss_cur_get "$1" spi-in spi-out; }
ss_child_state() { _ss_cur_get "$1" state; }
ss_child_ts()    { _ss_cur_get "$1" local-ts remote-ts; }
ss_child_get()   { _ss_cur_get "$1" "$2"; }
# ss_child_count DIR [STATE] — CHILD_SAs listed (in STATE only, if given)
ss_child_count() {
    local flat; flat=$(ss_sas "$1") || return 1
    if [ -n "${2:-}" ]; then
        printf '%s\n' "$flat" | grep -c "^ike[0-9]*\.child[0-9]*\.state=$2\$"
    else
        printf '%s\n' "$flat" | awk -F= '/^ike[0-9]+\.child\.count=/ { n += $2 } END { print n + 0 }'
    fi
    return 0
}

# ss_wait_ike_state DIR STATE TIMEOUT_S
ss_wait_ike_state() { wait_for "[ \"\$(ss_ike_state '$1')\" = '$2' ]" "${3:-10}" 0.1; }

# ss_wait_no_sa DIR TIMEOUT_S — until the daemon answers and lists no IKE_SA.
ss_wait_no_sa() { wait_for "[ \"\$(ss_ike_count '$1')\" = 0 ]" "${2:-10}" 0.1; }

# ss_child_keys DIR [N] — CHILD_SA keys that charon logged at "chd 4", as one line
#   n=.. ike=NAME|ID thread=TT child=NAME{ID} encr_alg=.. integ_alg=.. encr_i=HEX
#   encr_r=HEX integ_i=HEX integ_r=HEX spi_in=HEX spi_out=HEX
# N = index of the derivation in log order (default: the last one; "all" prints all;
# "spi=HEX" the derivation whose inbound SPI is HEX: after a rekey collision each
# charon has logged both children, in different orders).
# encr_i/integ_i protect initiator->responder traffic, *_r the other way (RFC 7296
# §2.17); for AES-GCM encr_* is the key followed by the 4-octet salt (RFC 4106 §8.1).
ss_child_keys() { _ss_pick "${2:-last}" python3 "$_SS_LIBDIR/ss_parse.py" keys "$1/charon.log"; }

# ss_ike_keys DIR [N] — IKE_SA keys logged at "ike 4" (loglevels must contain "ike = 4"):
#   n=.. ike=NAME|ID thread=TT sk_d=HEX sk_ai=HEX sk_ar=HEX sk_ei=HEX sk_er=HEX sk_pi=HEX sk_pr=HEX
# The responder's first derivation is logged before a config is chosen: ike=<ID> only.
ss_ike_keys() { _ss_pick "${2:-last}" python3 "$_SS_LIBDIR/ss_parse.py" ike-keys "$1/charon.log"; }

# _ss_pick N CMD... — select line n=N (or "last", "all") of CMD's output; 1 if none
_ss_pick() {
    local n=${1:-last} all; shift
    all=$("$@") || return 1
    [ -n "$all" ] || return 1
    case $n in
        all)  printf '%s\n' "$all" ;;
        spi=*) printf '%s\n' "$all" | awk -v s="spi_in=${n#spi=}" '{ for (i = 1; i <= NF; i++) if ($i == s) print }' | tail -n 1 | grep . ;;
        last) printf '%s\n' "$all" | tail -n 1 ;;
        *)    printf '%s\n' "$all" | awk -v n="$n" '$1 == "n=" n' | grep . ;;
    esac
}

# ss_key_count DIR — number of CHILD_SA key derivations in the log so far
ss_key_count() { python3 "$_SS_LIBDIR/ss_parse.py" keys "$1/charon.log" | grep -c .; }

# ss_rekey_child DIR [CHILD] / ss_rekey_ike DIR [IKE] — rekey by config name (blocks)
ss_rekey_child() {
    local dir=$1 child=${2:-} ike
    [ -n "$child" ] || child=$(cat "$dir/child")
    ike=$(cat "$dir/conn")
    ss_ctl "$dir" --rekey --ike "$ike" --child "$child"
}
ss_rekey_ike() {
    local dir=$1 ike=${2:-}
    [ -n "$ike" ] || ike=$(cat "$dir/conn")
    ss_ctl "$dir" --rekey --ike "$ike"
}

# ss_field LINE NAME — value of NAME=... in a space-separated key=value line
ss_field() { printf '%s\n' "$1" | tr ' ' '\n' | awk -v k="$2" 'index($0, k "=") == 1 { print substr($0, length(k) + 2); exit }'; }
