#!/bin/sh
# make demo: one agency node, end to end, on invented data.
# Creates a node under BUILD/demo (wiped first), writes a sample export of
# invented people, imports it into the encrypted store and lists it.
set -eu

build=${1:-build}
xiezhi="$build/node/xiezhi"
demo="$build/demo"

step() { printf '\n== %s\n' "$*"; }

[ -x "$xiezhi" ] || { echo "demo: $xiezhi is missing; run 'make build' first" >&2; exit 1; }
rm -rf "$demo"
mkdir -p "$demo"

step "1. The civil-affairs bureau sets up its node (encrypted store, keys)"
"$xiezhi" init --dir "$demo/civil-affairs" --name civil-affairs

step "2. It exports its death registry (here: 20,000 invented people)"
"$xiezhi" sample people --rows 20000 --out "$demo/death-registry.csv" --seed 2024
head -n 3 "$demo/death-registry.csv"

step "3. It imports the export; identifiers are checked and normalised"
"$xiezhi" dataset import death-registry --dir "$demo/civil-affairs" \
	--csv "$demo/death-registry.csv" \
	--key 身份证号:cn_id --column 姓名:text --column 金额:decimal --column 日期:date

step "4. What the node now holds"
"$xiezhi" dataset list --dir "$demo/civil-affairs"
echo
"$xiezhi" dataset show death-registry --dir "$demo/civil-affairs"

step "5. Nothing readable on disk: the store is encrypted"
id=$(sed -n 2p "$demo/death-registry.csv" | cut -d, -f2)
if grep -rqa -- "$id" "$demo/civil-affairs"; then
	echo "demo: FAILED: an identifier is readable in the node directory" >&2
	exit 1
fi
echo "searched $demo/civil-affairs for $id: not found (store.db is SQLCipher, AES-256)"
"$xiezhi" store check --dir "$demo/civil-affairs"

printf '\nDemo node left in %s; try: %s dataset show death-registry --dir %s\n' \
	"$demo/civil-affairs" "$xiezhi" "$demo/civil-affairs"
