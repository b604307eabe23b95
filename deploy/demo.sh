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

printf '\nDemo node left in %s; try: %s dataset show death-registry --dir %s\n' \
	"$demo/civil-affairs" "$xiezhi" "$demo/civil-affairs"
