#!/bin/sh
# Installs every Debian 12 package that building, testing and the demo of
# xiezhi need, from the machine's configured Debian archive and nowhere else.
# Idempotent: when everything is already installed it changes nothing.
set -eu

PACKAGES="
build-essential cmake pkg-config make git
openssl libssl-dev
libsodium-dev
libgrpc-dev libprotobuf-c-dev protobuf-c-compiler protobuf-compiler
libsqlcipher-dev sqlcipher
libcmocka-dev
libcsv-dev
libutf8proc-dev
libyaml-dev
libseccomp-dev
clang libclang-rt-14-dev
"

missing=""
for p in $PACKAGES; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
		missing="$missing $p"
	fi
done

if [ -z "$missing" ]; then
	echo "install-deps: all build, test and demo packages are installed."
	exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
	if command -v sudo >/dev/null 2>&1; then
		SUDO="sudo"
	else
		echo "install-deps: missing packages:$missing" >&2
		echo "install-deps: run this script as root (or install sudo) to install them." >&2
		exit 1
	fi
fi

echo "install-deps: installing:$missing"
$SUDO apt-get update -q
# shellcheck disable=SC2086
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends $missing
