#!/bin/sh
# make demo: a whole federation of seven agencies on invented data, running
# the five seed supervision models of docs/seed-cases.md end to end.
#
#   deploy/demo.sh [BUILD_DIR] [--size N]
#
# Every agency gets its own node (encrypted store, keys, certificate from a
# throwaway federation CA); the six data owners import their exports,
# install their policies and serve joins with real xiezhid processes on
# 127.0.0.1; the procuratorate runs the models with approved requests and
# works the leads; auditors verify every log and cross-check them.  All of
# it lives under BUILD_DIR/demo (wiped first); the nodes are stopped at the
# end.  --size scales the invented population (default 10000 people).
set -eu

build=build
size=10000
while [ $# -gt 0 ]; do
	case $1 in
	--size) size=${2:?--size needs a number}; shift 2 ;;
	--size=*) size=${1#--size=}; shift ;;
	-h|--help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	-*) echo "demo: unknown option $1 (see --help)" >&2; exit 2 ;;
	*) build=$1; shift ;;
	esac
done
case $size in
'' | *[!0-9]*) echo "demo: --size must be a whole number of people, got '$size'" >&2; exit 2 ;;
esac

build=$(cd "$build" && pwd)
xiezhi="$build/node/xiezhi"
xiezhid="$build/node/xiezhid"
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/.." && pwd)
demo="$build/demo"
asof=2026-11-30
owners="medical-insurance civil-affairs detention-centre public-security tax market-regulation"
models="deceased-claims detention-overdue rights-unsupervised fuel-tax shell-companies"

[ -x "$xiezhi" ] && [ -x "$xiezhid" ] || {
	echo "demo: $xiezhi or $xiezhid is missing; run 'make build' first" >&2; exit 1; }

step() { printf '\n== %s\n' "$*"; }
quiet() { "$@" >/dev/null; }
identity() { printf '%s.example.gov.cn' "$1"; }

rm -rf "$demo"
mkdir -p "$demo"
pids=""
stop_nodes() {
	for p in $pids; do kill "$p" 2>/dev/null || true; done
	for p in $pids; do wait "$p" 2>/dev/null || true; done
	pids=""
}
trap stop_nodes EXIT INT TERM

step "1. Invented exports of seven agencies ($size people; docs/seed-cases.md)"
quiet "$xiezhi" sample case --out "$demo/data" --size "$size" --seed 1 --as-of "$asof"
sed -n '/^file /,/^$/p' "$demo/data/README.txt" | sed 's/^/  /'

step "2. A federation CA; each agency creates its node and gets a certificate"
sh "$here/pki/make-ca.sh" "$demo/ca" >/dev/null 2>&1
for n in procuratorate $owners; do
	sh "$here/pki/make-node.sh" "$demo/ca" "$demo/pki" "$(identity "$n")" >/dev/null 2>&1
	quiet "$xiezhi" init --dir "$demo/$n" --name "$n"
	"$xiezhi" config set identity "$(identity "$n")" tls_ca "$demo/ca/ca.pem" \
		tls_cert "$demo/pki/$(identity "$n").pem" \
		tls_key "$demo/pki/$(identity "$n").key" --dir "$demo/$n" >/dev/null
	printf '  %-18s %s\n' "$n" "$(identity "$n")"
done

step "3. Each agency imports its own exports into its encrypted store"
# The import commands are the ones the generator's README lists.
sed -n 's/^  xiezhi dataset import \([a-z_]*\) --dir NODEDIR --csv \([a-z-]*\)\/\(.*\)$/\2 \1 \3/p' \
	"$demo/data/README.txt" > "$demo/imports.txt"
while read -r node dataset rest; do
	# shellcheck disable=SC2086
	( cd "$demo/data" && "$xiezhi" dataset import "$dataset" --dir "$demo/$node" \
		--csv $node/$rest --json >/dev/null ) ||
		{ echo "demo: importing $dataset into $node failed" >&2; exit 1; }
done < "$demo/imports.txt"
for n in procuratorate $owners; do
	printf '  %s:\n' "$n"
	"$xiezhi" dataset list --dir "$demo/$n" | sed 's/^/    /'
done

step "4. Approvers' keys: the deputy chief procurator and each owner's data officer"
mkdir -p "$demo/approvers"
( cd "$demo/approvers" && quiet "$xiezhi" keygen --out procuratorate-deputy-chief &&
  for n in $owners; do quiet "$xiezhi" keygen --out "$n-data-officer"; done )
ls "$demo/approvers" | sed -n 's/\.pub$//p' | sed 's/^/  /'

step "5. Each owner installs its policies (policies/examples, with the demo's keys)"
# Only the approver keys and the validity window differ from the examples.
from=$(date -u -d 'yesterday' +%Y-%m-%dT00:00:00Z)
until=$(date -u -d 'next year' +%Y-%m-%dT00:00:00Z)
for f in "$src"/policies/examples/*.yaml; do
	name=$(basename "$f")
	owner=$(sed -n 's/^    - id: \(.*\)-data-officer$/\1/p' "$f")
	awk -v dir="$demo/approvers" -v from="$from" -v until="$until" '
		/^    - id: / { id = $3 }
		/^      public_key: / {
			getline key < (dir "/" id ".pub"); close(dir "/" id ".pub")
			print "      public_key: " key; next }
		/^  from: / { print "  from: " from; next }
		/^  until: / { print "  until: " until; next }
		{ print }' "$f" > "$demo/$owner/policies/$name"
	chmod 600 "$demo/$owner/policies/$name"
	quiet "$xiezhi" policy check "$demo/$owner/policies/$name"
	printf '  %-18s %s\n' "$owner" "$name"
done

step "6. The six owners' nodes start serving (xiezhid, mutual TLS on 127.0.0.1)"
for n in $owners; do
	"$xiezhi" config set listen 127.0.0.1:0 --dir "$demo/$n" >/dev/null
	quiet "$xiezhid" --dir "$demo/$n" --check
	: > "$demo/$n.log"
	"$xiezhid" --dir "$demo/$n" 2>> "$demo/$n.log" &
	pids="$pids $!"
done
for n in $owners; do
	port=""
	for _ in $(seq 1 100); do
		port=$(sed -n 's/.*listening on port \([0-9]*\).*/\1/p' "$demo/$n.log" | head -n 1)
		[ -n "$port" ] && break
		sleep 0.1
	done
	[ -n "$port" ] || { echo "demo: $n's xiezhid did not start:" >&2; cat "$demo/$n.log" >&2; exit 1; }
	"$xiezhi" config set "peer.$n.address" "127.0.0.1:$port" \
		"peer.$n.identity" "$(identity "$n")" --dir "$demo/procuratorate" >/dev/null
	printf '  %-18s 127.0.0.1:%s\n' "$n" "$port"
done

step "7. The procuratorate runs the five supervision models"
# For each model: check it against the node, write one draft request per
# step, have the deputy chief procurator and the owner's data officer sign
# each, run it; then compare its leads with the generator's ground truth.
approve() {
	owner=$(sed -n 's/^  responder: "\(.*\)\.example\.gov\.cn"$/\1/p' "$1")
	quiet "$xiezhi" request approve "$1" --key "$demo/approvers/procuratorate-deputy-chief.key"
	quiet "$xiezhi" request approve "$1" --key "$demo/approvers/$owner-data-officer.key"
}
# The delegated step's query size (how many of each other's records the
# two owners agree to evaluate) grows with the population: about 1.4 claims
# per person.
qsize=$((size * 2 > 20000 ? size * 2 : 20000))
mkdir -p "$demo/models"
for m in $models; do
	sed "s/^    query_size: 20000$/    query_size: $qsize/" "$here/demo/models/$m.yaml" \
		> "$demo/models/$m.yaml"
done
mismatch=0
for m in $models; do
	model="$demo/models/$m.yaml"
	printf '\n-- %s: %s\n' "$m" "$(sed -n 's/^title: //p' "$model")"
	quiet "$xiezhi" model check "$model" --dir "$demo/procuratorate"
	quiet "$xiezhi" model requests "$model" --out-dir "$demo/requests/$m" \
		--as-of "$asof" --dir "$demo/procuratorate"
	for r in "$demo/requests/$m"/*.yaml; do approve "$r"; done
	"$xiezhi" model run "$model" --request-dir "$demo/requests/$m" --as-of "$asof" \
		--dir "$demo/procuratorate" | sed 's/^/  /'
	"$xiezhi" leads export --model "$m" --format values --out "$demo/leads-$m.csv" \
		--dir "$demo/procuratorate" >/dev/null
	# Both files: a header, then one row per lead; compare them sorted.
	if ( head -n 1 "$demo/leads-$m.csv"; tail -n +2 "$demo/leads-$m.csv" | tr -d '\r' | LC_ALL=C sort ) |
	    tr -d '\r' | cmp -s - "$demo/data/truth/$m.csv"; then
		printf '  ground truth: all %s planted leads found, nothing else\n' \
			"$(($(wc -l < "$demo/data/truth/$m.csv") - 1))"
	else
		printf '  ground truth: MISMATCH (see %s and %s)\n' "$demo/leads-$m.csv" \
			"$demo/data/truth/$m.csv"
		mismatch=1
	fi
done

step "8. An analyst works a lead of the deceased-claims model"
"$xiezhi" leads list --model deceased-claims --dir "$demo/procuratorate" | head -n 4 |
	sed 's/^/  /'
echo "  ..."
lead=$("$xiezhi" leads list --model deceased-claims --dir "$demo/procuratorate" |
	sed -n '2s/^\([0-9]*\).*/\1/p')
"$xiezhi" leads update "$lead" --status verifying --dir "$demo/procuratorate" \
	--note "医保结算日期晚于登记死亡日期，已调取结算单据核实。" >/dev/null
"$xiezhi" leads show "$lead" --dir "$demo/procuratorate" | sed 's/^/  /'

step "9. Auditors verify every node's log and cross-check the procuratorate's with each owner's"
for n in procuratorate $owners; do
	printf '  %-18s ' "$n"
	"$xiezhi" audit verify --dir "$demo/$n" | tail -n 1 | sed 's/, root [0-9a-f]*, key [^,]*//'

done
stop_nodes
for n in procuratorate $owners; do
	quiet "$xiezhi" audit export --dir "$demo/$n" --out "$demo/$n.audit"
	quiet "$xiezhi" audit verify-export "$demo/$n.audit" --pubkey "$demo/$n/keys/node.pub"
done
for n in $owners; do
	"$xiezhi" audit crosscheck "$demo/procuratorate.audit" "$demo/$n.audit" \
		--pubkey-a "$demo/procuratorate/keys/node.pub" --pubkey-b "$demo/$n/keys/node.pub" |
		sed 's/^/  /'
done

step "10. The owners' nodes have stopped; what one of them logged (ids and counts, no identifiers)"
sed -n '1,6p' "$demo/civil-affairs.log" | sed 's/^/  /'
trap - EXIT INT TERM
printf '\nThe federation is in %s: try\n  %s leads list --model fuel-tax --dir %s\n' \
	"$demo" "$xiezhi" "$demo/procuratorate"
exit $mismatch
