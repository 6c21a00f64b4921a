#!/usr/bin/env bash
# make-test-ca.sh DIR: a throwaway certificate authority and a server
# certificate signed by it, for the TLS tests. Never use them elsewhere: the
# keys are unencrypted and the CA is trusted only where a test says so.
#
#   DIR/ca.pem                 the CA certificate (the trust anchor to pass)
#   DIR/server.pem DIR/server.key
#                              certificate (leaf, then CA) and key for
#                              127.0.0.1, ::1 and localhost
#   DIR/wrong-host.pem DIR/wrong-host.key
#                              signed by the same CA for another name only
set -euo pipefail
dir=${1:?usage: make-test-ca.sh DIR}
mkdir -p "$dir"
cd "$dir"

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout ca.key -out ca.pem -days 2 -subj "/CN=libwsproto test CA" \
    -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null

leaf() { # NAME SUBJECT_ALT_NAMES
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
        -keyout "$1.key" -out "$1.csr" -subj "/CN=$1" 2>/dev/null
    printf 'subjectAltName=%s\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' \
        "$2" > "$1.ext"
    openssl x509 -req -in "$1.csr" -CA ca.pem -CAkey ca.key -CAcreateserial \
        -days 2 -extfile "$1.ext" -out "$1.crt" 2>/dev/null
    cat "$1.crt" ca.pem > "$1.pem"
    rm -f "$1.csr" "$1.ext" "$1.crt"
}
leaf server "IP:127.0.0.1,IP:::1,DNS:localhost"
leaf wrong-host "DNS:wrong.example"
