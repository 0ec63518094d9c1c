#!/bin/sh
# mkcerts.sh DIR [NAME...] — a throwaway CA and certificates for tests and
# `make run`. Never for production. Creates in DIR (once; existing files are
# kept):
#   ca.crt/ca.key                 the private CA
#   server.crt/server.key         ECDSA P-256 server certificate for the clients'
#                                 TLS (CN/SAN: vpn.example.test, localhost, 127.0.0.1)
#   server-rsa.crt/server-rsa.key RSA 2048 variant of the same names
#   backend.crt/backend.key       backend's certificate for the mTLS listener
#   proxy-client.crt/.key         sstp-proxy's client certificate towards backends
# Each NAME given adds NAME.crt/NAME.key (ECDSA, SAN DNS:NAME).
set -eu
dir=$1; shift
mkdir -p "$dir"
cd "$dir"
days=825

ca() {
    [ -f ca.crt ] && return
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days $days \
        -subj "/CN=sstp-lb test CA" -keyout ca.key -out ca.crt 2>/dev/null
}

# leaf NAME KEYALG EKU SAN
leaf() {
    [ -f "$1.crt" ] && return
    case $2 in
        rsa) openssl genrsa -out "$1.key" 2048 2>/dev/null ;;
        *) openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1.key" 2>/dev/null ;;
    esac
    openssl req -new -key "$1.key" -subj "/CN=$1" -out "$1.csr" 2>/dev/null
    printf 'basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=%s\nsubjectAltName=%s\n' \
        "$3" "$4" > "$1.ext"
    openssl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days $days \
        -extfile "$1.ext" -out "$1.crt" 2>/dev/null
    rm -f "$1.csr" "$1.ext"
    chmod 600 "$1.key"
}

ca
san="DNS:vpn.example.test,DNS:localhost,IP:127.0.0.1"
leaf server ec serverAuth "$san"
leaf server-rsa rsa serverAuth "$san"
leaf backend ec serverAuth "DNS:backend,DNS:localhost,IP:127.0.0.1"
leaf proxy-client ec clientAuth "DNS:sstp-proxy"
for n in "$@"; do
    leaf "$n" ec serverAuth "DNS:$n,DNS:localhost,IP:127.0.0.1"
done
