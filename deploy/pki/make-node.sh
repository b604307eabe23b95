#!/bin/sh
# make-node.sh CA-DIR OUT-DIR IDENTITY [START END]
#
# Issues a node certificate from the CA made by make-ca.sh:
#   OUT-DIR/IDENTITY.key  private key (mode 0600; P-256, or Ed25519 with XZ_PKI_KEY=ed25519)
#   OUT-DIR/IDENTITY.pem  certificate: subject CN=IDENTITY, subjectAltName
#                         DNS:IDENTITY, usable as TLS server and client
# IDENTITY is the node's name in the federation (what peers' policies match
# on): letters, digits, '.', '-', '_', at most 253 characters.
# Validity: 1 year from now (XZ_PKI_DAYS overrides), or exactly START..END
# given as YYYYMMDDHHMMSSZ (tests use this to make an expired certificate).
set -eu

# Key type: XZ_PKI_KEY=p256 (default, ECDSA P-256) or ed25519.
case ${XZ_PKI_KEY:-p256} in
	p256) keyopts="-algorithm EC -pkeyopt ec_paramgen_curve:P-256";;
	ed25519) keyopts="-algorithm ED25519";;
	*) echo "make-node: XZ_PKI_KEY must be p256 or ed25519" >&2; exit 2;;
esac

usage() { echo "usage: $0 CA-DIR OUT-DIR IDENTITY [START END]" >&2; exit 2; }
if [ $# -ne 3 ] && [ $# -ne 5 ]; then usage; fi
cadir=$1
out=$2
id=$3
days=${XZ_PKI_DAYS:-365}

case $id in
	''|*[!A-Za-z0-9._-]*) echo "make-node: identity '$id' must be letters, digits, '.', '-', '_'" >&2; exit 2;;
esac
if [ ${#id} -gt 253 ]; then echo "make-node: identity longer than 253 characters" >&2; exit 2; fi
case $days in ''|*[!0-9]*) echo "make-node: XZ_PKI_DAYS must be a number of days" >&2; exit 2;; esac
for f in "$cadir/ca.pem" "$cadir/ca.key"; do
	[ -r "$f" ] || { echo "make-node: cannot read $f (run make-ca.sh first)" >&2; exit 1; }
done
if [ $# -eq 5 ]; then
	for t in "$4" "$5"; do
		case $t in
			[0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9]Z) ;;
			*) echo "make-node: '$t' is not YYYYMMDDHHMMSSZ" >&2; exit 2;;
		esac
	done
	validity="-startdate $4 -enddate $5"
else
	validity="-days $days"
fi
if [ -e "$out/$id.key" ] || [ -e "$out/$id.pem" ]; then
	echo "make-node: $out/$id.pem or .key exists; remove it first" >&2
	exit 1
fi
mkdir -p "$out"
umask 077

work=$(mktemp -d "$out/.node-$id.XXXXXX")
trap 'rm -rf "$work"' EXIT
: >"$work/index.txt"
cat >"$work/cnf" <<CNF
[ req ]
distinguished_name = dn
prompt = no
[ dn ]
CN = $id
[ ca ]
default_ca = xz
[ xz ]
database = $work/index.txt
new_certs_dir = $work
rand_serial = yes
default_md = default
policy = pol
unique_subject = no
copy_extensions = none
email_in_dn = no
[ pol ]
commonName = supplied
[ node_ext ]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth,clientAuth
subjectAltName = DNS:$id
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
CNF

# shellcheck disable=SC2086
openssl genpkey $keyopts -out "$out/$id.key"
chmod 600 "$out/$id.key"
openssl req -new -config "$work/cnf" -key "$out/$id.key" -out "$work/csr"
# shellcheck disable=SC2086
openssl ca -batch -notext -config "$work/cnf" -cert "$cadir/ca.pem" -keyfile "$cadir/ca.key" \
	-extensions node_ext $validity -in "$work/csr" -out "$out/$id.pem" 2>"$work/log" || {
	cat "$work/log" >&2; rm -f "$out/$id.key"; exit 1; }
chmod 644 "$out/$id.pem"
echo "make-node: created $out/$id.pem (CN=$id, DNS:$id) and $out/$id.key"
