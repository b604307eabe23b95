#!/bin/sh
# make-ca.sh DIR [CA-NAME]
#
# Creates a federation certificate authority for demos and tests:
#   DIR/ca.key  private key (mode 0600; P-256 or XZ_PKI_KEY=ed25519) -- keep offline in real use
#   DIR/ca.pem  self-signed CA certificate (10 years; XZ_PKI_CA_DAYS overrides)
# Refuses to overwrite an existing CA.  Agencies with their own CA do not
# need this script: see README.md.
set -eu

# Key type: XZ_PKI_KEY=p256 (default, ECDSA P-256) or ed25519.
case ${XZ_PKI_KEY:-p256} in
	p256) keyopts="-algorithm EC -pkeyopt ec_paramgen_curve:P-256";;
	ed25519) keyopts="-algorithm ED25519";;
	*) echo "make-ca: XZ_PKI_KEY must be p256 or ed25519" >&2; exit 2;;
esac

usage() { echo "usage: $0 DIR [CA-NAME]" >&2; exit 2; }
if [ $# -lt 1 ] || [ $# -gt 2 ]; then usage; fi
dir=$1
name=${2:-xiezhi federation CA}
days=${XZ_PKI_CA_DAYS:-3650}

case $days in ''|*[!0-9]*) echo "make-ca: XZ_PKI_CA_DAYS must be a number of days" >&2; exit 2;; esac
if [ -e "$dir/ca.key" ] || [ -e "$dir/ca.pem" ]; then
	echo "make-ca: $dir already holds a CA (ca.key/ca.pem); remove it first or use another DIR" >&2
	exit 1
fi
mkdir -p "$dir"
umask 077

cnf=$(mktemp "$dir/.ca-cnf.XXXXXX")
trap 'rm -f "$cnf"' EXIT
cat >"$cnf" <<CNF
[ req ]
distinguished_name = dn
prompt = no
[ dn ]
CN = $name
[ ca_ext ]
basicConstraints = critical,CA:TRUE,pathlen:0
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
CNF

# shellcheck disable=SC2086
openssl genpkey $keyopts -out "$dir/ca.key"
chmod 600 "$dir/ca.key"
openssl req -new -x509 -config "$cnf" -extensions ca_ext -key "$dir/ca.key" \
	-days "$days" -out "$dir/ca.pem"
chmod 644 "$dir/ca.pem"
echo "make-ca: created $dir/ca.pem (CN=$name) and $dir/ca.key"
