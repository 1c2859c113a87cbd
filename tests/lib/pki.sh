# shellcheck shell=bash
# tests/lib/pki.sh — throw-away test PKI made with the openssl CLI (OpenSSL 3).
#
# Every file goes into one directory DIR:
#   DIR/ca.key DIR/ca.pem DIR/ca.der                    CA key (PKCS#8 PEM) and cert
#   DIR/NAME.key DIR/NAME.pem DIR/NAME.der DIR/NAME.key.der   end entity
# PEM is what strongSwan's x509/pem plugins read (swanctl x509/, x509ca/, private/);
# DER copies are there for code that wants raw CERT payload bytes (RFC 7296 §3.6, enc 4).
#
# Public functions:
#   pki_key FILE TYPE             new private key: TYPE ecdsa (P-256, default), ecdsa384, rsa (2048), rsa3072, ed25519
#   pki_ca DIR [TYPE] [CN]        self-signed CA (basicConstraints CA:TRUE, keyCertSign)
#   pki_cert DIR NAME TYPE SAN... end-entity cert signed by DIR/ca; SAN items as openssl
#                                 writes them: DNS:host.example.com email:a@example.com
#                                 IP:192.0.2.1; subject CN = value of the first SAN
#   pki_peers DIR [TYPE]          CA + "initiator" and "responder" certs (see below)
#   pki_subject FILE              subject of a PEM cert, RFC 2253 form (strongSwan-like DN)
#   pki_san FILE                  subjectAltName line of a PEM cert
#   pki_verify DIR NAME           openssl verify NAME.pem against ca.pem
#
# pki_peers identities (documentation domain example.com, RFC 2606):
#   initiator: DNS:initiator.example.com, email:initiator@example.com
#   responder: DNS:responder.example.com, email:responder@example.com

PKI_DAYS=${PKI_DAYS:-30}

pki_key() {
    local file=$1 type=${2:-ecdsa}
    case $type in
        ecdsa|ecdsa256|p256) openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$file" ;;
        ecdsa384|p384)       openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384 -out "$file" ;;
        rsa|rsa2048)         openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$file" ;;
        rsa3072)             openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:3072 -out "$file" ;;
        ed25519)             openssl genpkey -algorithm ED25519 -out "$file" ;;
        *) echo "pki_key: unknown key type '$type'" >&2; return 1 ;;
    esac 2>/dev/null || { echo "pki_key: openssl genpkey failed for $type" >&2; return 1; }
    chmod 600 "$file"
}

_pki_serial() { openssl rand -hex 8; }

# pki_ca DIR [TYPE] [CN]
pki_ca() {
    local dir=$1 type=${2:-ecdsa} cn=${3:-mobiked test CA}
    mkdir -p "$dir" || return 1
    pki_key "$dir/ca.key" "$type" || return 1
    openssl req -x509 -new -key "$dir/ca.key" -out "$dir/ca.pem" -days "$PKI_DAYS" \
        -set_serial "0x$(_pki_serial)" \
        -subj "/C=XX/O=mobiked test/CN=$cn" \
        -addext "basicConstraints=critical,CA:TRUE" \
        -addext "keyUsage=critical,keyCertSign,cRLSign" \
        -addext "subjectKeyIdentifier=hash" 2>"$dir/ca.err" \
        || { cat "$dir/ca.err" >&2; return 1; }
    rm -f "$dir/ca.err"
    openssl x509 -in "$dir/ca.pem" -outform DER -out "$dir/ca.der" || return 1
}

# pki_cert DIR NAME TYPE SAN...
pki_cert() {
    local dir=$1 name=$2 type=${3:-ecdsa}; shift 3
    [ $# -gt 0 ] || { echo "pki_cert: at least one SAN needed" >&2; return 1; }
    [ -f "$dir/ca.pem" ] && [ -f "$dir/ca.key" ] || { echo "pki_cert: no CA in $dir" >&2; return 1; }
    local san cn
    san=$(IFS=,; printf '%s' "$*")
    cn=${1#*:}
    pki_key "$dir/$name.key" "$type" || return 1
    openssl req -new -key "$dir/$name.key" -out "$dir/$name.csr" \
        -subj "/C=XX/O=mobiked test/CN=$cn" 2>"$dir/$name.err" || { cat "$dir/$name.err" >&2; return 1; }
    cat >"$dir/$name.ext" <<EOX
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth, clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
subjectAltName = $san
EOX
    openssl x509 -req -in "$dir/$name.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" \
        -set_serial "0x$(_pki_serial)" -days "$PKI_DAYS" -extfile "$dir/$name.ext" \
        -out "$dir/$name.pem" 2>"$dir/$name.err" || { cat "$dir/$name.err" >&2; return 1; }
    openssl x509 -in "$dir/$name.pem" -outform DER -out "$dir/$name.der" || return 1
    openssl pkey -in "$dir/$name.key" -outform DER -out "$dir/$name.key.der" 2>/dev/null || return 1
    rm -f "$dir/$name.csr" "$dir/$name.err"
}

# pki_peers DIR [TYPE] — CA (same TYPE) + initiator + responder
pki_peers() {
    local dir=$1 type=${2:-ecdsa}
    pki_ca "$dir" "$type" || return 1
    pki_cert "$dir" initiator "$type" DNS:initiator.example.com email:initiator@example.com || return 1
    pki_cert "$dir" responder "$type" DNS:responder.example.com email:responder@example.com || return 1
}

pki_subject() { openssl x509 -in "$1" -noout -subject -nameopt RFC2253 | sed 's/^subject=//'; }
pki_san()     { openssl x509 -in "$1" -noout -ext subjectAltName | sed -n '2p' | sed 's/^ *//'; }
pki_verify()  { openssl verify -CAfile "$1/ca.pem" "$1/$2.pem" >/dev/null; }
