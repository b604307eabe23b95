#!/bin/sh
# Federation benchmark (docs/benchmarks.md): a join between two real xiezhid
# processes on 127.0.0.1 over mutual TLS, compared with the in-process engine
# benchmark ('xiezhi bench psi') at the same size on the same machine.
#
#   deploy/bench-federation.sh [BUILD_DIR] [N ...]     (default: build 65536)
#
# For each N: a responder node holding N keys and a requester node holding N
# keys, half of them shared; throwaway CA and certificates from deploy/pki;
# a policy and a request signed by two approvers; then 'xiezhi join --json'.
# Prints end-to-end seconds, bytes on the wire and the ratio to the engine.
set -eu

build=${1:-build}
[ $# -gt 0 ] && shift
sizes=${*:-65536}
here=$(cd "$(dirname "$0")" && pwd)
bin=$(cd "$build/node" && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/xiezhi-bench-fed-XXXXXX")
pid=""
cleanup() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT INT TERM

field() { sed -n "s/.*\"$1\": \\([0-9.]*\\).*/\\1/p"; }

setup_pki() {
	sh "$here/pki/make-ca.sh" "$work/ca" >/dev/null 2>&1
	sh "$here/pki/make-node.sh" "$work/ca" "$work/pki" owner.bench >/dev/null 2>&1
	sh "$here/pki/make-node.sh" "$work/ca" "$work/pki" asker.bench >/dev/null 2>&1
	(cd "$work" && "$bin/xiezhi" keygen --out lead >/dev/null &&
	    "$bin/xiezhi" keygen --out officer >/dev/null)
}

write_policy() {
	cat > "$work/owner/policies/bench.yaml" <<EOF
id: bench
version: 1
purpose: benchmark
legal_basis: benchmark
requester: asker.bench
dataset: keys
key_column: code
modes: [intersect]
labels: []
query_size: {min: 1, max: 100000000}
budget: {joins_per_day: 1000, elements_per_30_days: 100000000000}
valid: {from: 2020-01-01T00:00:00Z, until: 2040-01-01T00:00:00Z}
approvals:
  threshold: 2
  approvers:
    - {id: lead, role: requester leadership, public_key: $(cat "$work/lead.pub")}
    - {id: officer, role: owner data officer, public_key: $(cat "$work/officer.pub")}
EOF
	chmod 600 "$work/owner/policies/bench.yaml"
}

run_one() {
	n=$1
	rm -rf "$work/owner" "$work/asker"
	for node in owner asker; do
		"$bin/xiezhi" init --dir "$work/$node" --name "$node" >/dev/null
		"$bin/xiezhi" config set identity "$node.bench" tls_ca "$work/ca/ca.pem" \
		    tls_cert "$work/pki/$node.bench.pem" tls_key "$work/pki/$node.bench.key" \
		    --dir "$work/$node" >/dev/null
	done
	"$bin/xiezhi" config set listen 127.0.0.1:0 --dir "$work/owner" >/dev/null
	awk -v n="$n" 'BEGIN { print "code"; for (i = 0; i < n; i++) printf "K%09d\n", i }' \
	    > "$work/owner.csv"
	awk -v n="$n" 'BEGIN { print "code"; for (i = n / 2; i < n + n / 2; i++) printf "K%09d\n", i }' \
	    > "$work/asker.csv"
	"$bin/xiezhi" dataset import keys --csv "$work/owner.csv" --key code:text \
	    --dir "$work/owner" >/dev/null
	"$bin/xiezhi" dataset import query --csv "$work/asker.csv" --key code:text \
	    --dir "$work/asker" >/dev/null
	write_policy
	"$bin/xiezhi" request create --out "$work/req-$n.yaml" \
	    --from-policy "$work/owner/policies/bench.yaml" --responder owner.bench \
	    --mode intersect --query-size "$n" --case-number "bench-$n" >/dev/null
	"$bin/xiezhi" request approve "$work/req-$n.yaml" --key "$work/lead.key" >/dev/null
	"$bin/xiezhi" request approve "$work/req-$n.yaml" --key "$work/officer.key" >/dev/null
	: > "$work/owner.log"
	"$bin/xiezhid" --dir "$work/owner" 2> "$work/owner.log" >/dev/null &
	pid=$!
	port=""
	for _ in $(seq 1 50); do
		port=$(sed -n 's/.*listening on port \([0-9]*\).*/\1/p' "$work/owner.log")
		[ -n "$port" ] && break
		sleep 0.1
	done
	[ -n "$port" ] || { echo "bench-federation: xiezhid did not start:" >&2; cat "$work/owner.log" >&2; exit 1; }
	"$bin/xiezhi" config set peer.owner.address "127.0.0.1:$port" \
	    peer.owner.identity owner.bench --dir "$work/asker" >/dev/null
	start=$(date +%s.%N)
	"$bin/xiezhi" join --peer owner --request "$work/req-$n.yaml" --dataset query \
	    --key code --dir "$work/asker" --json > "$work/join-$n.json"
	end=$(date +%s.%N)
	kill "$pid"
	wait "$pid" 2>/dev/null || true
	pid=""
	e2e=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.3f", b - a }')
	sent=$(field bytes_sent < "$work/join-$n.json")
	recv=$(field bytes_received < "$work/join-$n.json")
	matched=$(field result_size < "$work/join-$n.json")
	engine=$("$bin/xiezhi" bench psi --n "$n" --threads "$(nproc)" |
	    sed -n 's/^total *\([0-9.]*\).*/\1/p')
	printf '%-9s %10.2f s %10.2f s %7.3f %12s %12s %9s\n' "$n" "$e2e" "$engine" \
	    "$(awk -v a="$e2e" -v b="$engine" 'BEGIN { print a / b }')" "$sent" "$recv" "$matched"
}

setup_pki
echo "machine: $(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -n 1), $(nproc) cores; load $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-9s %12s %12s %7s %12s %12s %9s\n' "n = m" "end to end" "engine" "ratio" \
    "bytes sent" "bytes recv" "matched"
for n in $sizes; do
	run_one "$n"
done
