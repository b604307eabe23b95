#!/bin/sh
# make demo: the deceased-persons' insurance-claims model on invented data.
# A civil-affairs bureau's node holds the death registry; the procuratorate's
# node holds insurance claims; an approved join over mutual TLS finds the
# claims made on dead people's cards; auditors cross-check both logs.
# Everything lives under BUILD/demo (wiped first).
set -eu

build=$(cd "${1:-build}" && pwd)
xiezhi="$build/node/xiezhi"
xiezhid="$build/node/xiezhid"
here=$(cd "$(dirname "$0")" && pwd)
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

step "6. The bureau's policy: who may ask what of the death registry"
mkdir -p "$demo/approvers"
( cd "$demo/approvers" &&
  "$xiezhi" keygen --out deputy-chief >/dev/null &&
  "$xiezhi" keygen --out data-officer >/dev/null )
cat > "$demo/civil-affairs/policies/deceased-insurance-claims.yaml" <<POLICY
id: deceased-insurance-claims
version: 1
purpose: >-
  Find insurance claims filed in the name of persons registered as deceased,
  as leads for insurance-fraud investigations.
legal_basis: >-
  Criminal Procedure Law of the PRC, art. 8; Criminal Law of the PRC, art. 198.
requester: procuratorate.demo.gov.cn
dataset: death-registry
key_column: 身份证号
modes: [intersect, cardinality]
labels: [日期]
query_size: {min: 10, max: 200000}
budget: {joins_per_day: 5, elements_per_30_days: 1000000}
valid: {from: 2026-01-01T00:00:00Z, until: 2030-01-01T00:00:00Z}
approvals:
  threshold: 2
  approvers:
    - id: deputy-chief
      role: Deputy chief procurator, requesting procuratorate
      public_key: $(cat "$demo/approvers/deputy-chief.pub")
    - id: data-officer
      role: Data officer, civil affairs bureau
      public_key: $(cat "$demo/approvers/data-officer.pub")
POLICY
chmod 600 "$demo/civil-affairs/policies/deceased-insurance-claims.yaml"
"$xiezhi" policy check "$demo/civil-affairs/policies/deceased-insurance-claims.yaml"

step "7. The procuratorate writes a join request; both approvers sign it"
policy="$demo/civil-affairs/policies/deceased-insurance-claims.yaml"
"$xiezhi" request create --out "$demo/request.yaml" --from-policy "$policy" \
	--responder civil-affairs.demo.gov.cn --mode intersect --label 日期 \
	--query-size 5000 --case-number "京检刑监〔2026〕12号"
"$xiezhi" request approve "$demo/request.yaml" --key "$demo/approvers/deputy-chief.key"
"$xiezhi" request approve "$demo/request.yaml" --key "$demo/approvers/data-officer.key"
"$xiezhi" request show "$demo/request.yaml" --policy "$policy"
echo
"$xiezhi" request decide "$demo/request.yaml" --policy "$policy" \
	--peer procuratorate.demo.gov.cn --self civil-affairs.demo.gov.cn

step "8. An auditor checks the node's log offline"
"$xiezhi" audit log --dir "$demo/civil-affairs"
"$xiezhi" audit export --dir "$demo/civil-affairs" --out "$demo/civil-affairs-audit.export"
"$xiezhi" audit verify-export "$demo/civil-affairs-audit.export" \
	--pubkey "$demo/civil-affairs/keys/node.pub"

step "9. Both agencies get node certificates from the federation CA (mutual TLS)"
sh "$here/pki/make-ca.sh" "$demo/ca" >/dev/null 2>&1
sh "$here/pki/make-node.sh" "$demo/ca" "$demo/pki" civil-affairs.demo.gov.cn >/dev/null 2>&1
sh "$here/pki/make-node.sh" "$demo/ca" "$demo/pki" procuratorate.demo.gov.cn >/dev/null 2>&1
"$xiezhi" config set identity civil-affairs.demo.gov.cn listen 127.0.0.1:0 \
	tls_ca "$demo/ca/ca.pem" tls_cert "$demo/pki/civil-affairs.demo.gov.cn.pem" \
	tls_key "$demo/pki/civil-affairs.demo.gov.cn.key" --dir "$demo/civil-affairs"
"$xiezhi" init --dir "$demo/procuratorate" --name procuratorate >/dev/null
"$xiezhi" config set identity procuratorate.demo.gov.cn \
	tls_ca "$demo/ca/ca.pem" tls_cert "$demo/pki/procuratorate.demo.gov.cn.pem" \
	tls_key "$demo/pki/procuratorate.demo.gov.cn.key" --dir "$demo/procuratorate"
"$xiezhid" --dir "$demo/civil-affairs" --check

step "10. The procuratorate imports the insurance claims it is checking (5,000)"
# 300 claims are taken from registered deaths; the other 4,700 are invented afresh.
"$xiezhi" sample people --rows 4700 --out "$demo/other-claims.csv" --seed 7 >/dev/null
{ head -n 1 "$demo/death-registry.csv"
  sed -n '2,301p' "$demo/death-registry.csv"
  tail -n +2 "$demo/other-claims.csv"; } > "$demo/claims.csv"
"$xiezhi" dataset import claims --dir "$demo/procuratorate" --csv "$demo/claims.csv" \
	--key 身份证号:cn_id --column 金额:decimal --column 日期:date

step "11. The bureau's node serves; the procuratorate runs the approved join"
: > "$demo/civil-affairs.log"
"$xiezhid" --dir "$demo/civil-affairs" 2> "$demo/civil-affairs.log" &
daemon=$!
trap 'kill $daemon 2>/dev/null' EXIT
port=""
for _ in $(seq 1 50); do
	port=$(sed -n 's/.*listening on port \([0-9]*\).*/\1/p' "$demo/civil-affairs.log")
	[ -n "$port" ] && break
	sleep 0.1
done
[ -n "$port" ] || { echo "demo: xiezhid did not start:" >&2; cat "$demo/civil-affairs.log" >&2; exit 1; }
"$xiezhi" config set peer.civil-affairs.address "127.0.0.1:$port" \
	peer.civil-affairs.identity civil-affairs.demo.gov.cn --dir "$demo/procuratorate"
"$xiezhi" join --peer civil-affairs --request "$demo/request.yaml" --dataset claims \
	--key 身份证号 --dir "$demo/procuratorate"
echo
echo "The bureau's node logged (no identifiers, only ids and counts):"
sed 's/^/  /' "$demo/civil-affairs.log"

step "12. An analyst works the leads: claims made on the cards of the dead"
"$xiezhi" leads list --dir "$demo/procuratorate" | head -n 6
echo "  ..."
"$xiezhi" leads update 1 --status verifying --dir "$demo/procuratorate" \
	--note "Claim filed after the registered date of death; requesting the claim file."
"$xiezhi" leads show 1 --dir "$demo/procuratorate"

step "13. Auditors cross-check what both nodes recorded about the join"
"$xiezhi" audit export --dir "$demo/civil-affairs" --out "$demo/civil-affairs-audit.export" >/dev/null
"$xiezhi" audit export --dir "$demo/procuratorate" --out "$demo/procuratorate-audit.export" >/dev/null
"$xiezhi" audit crosscheck "$demo/procuratorate-audit.export" "$demo/civil-affairs-audit.export" \
	--pubkey-a "$demo/procuratorate/keys/node.pub" --pubkey-b "$demo/civil-affairs/keys/node.pub"
kill $daemon
wait $daemon 2>/dev/null || true
trap - EXIT

printf '\nDemo nodes left in %s; try: %s audit log --dir %s\n' \
	"$demo" "$xiezhi" "$demo/civil-affairs"
