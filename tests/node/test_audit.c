/*
 * The audit log on a real node: record encoding, appends (standalone and
 * inside a caller's transaction), checkpoints checked independently with
 * libsodium, tampering with the SQLCipher store (opened here with the key
 * from DIR/keys/store.key), rollback of the store file, and tampering with
 * exports, including random single-byte mutations (XIEZHI_LONG_TESTS=1 runs
 * the full 10,000).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>
#include <sqlite3.h>

#include "testsupport.h"
#include "audit.h"
#include "node.h"

#define HLEN XZ_MERKLE_HASH_LEN

static const uint8_t req1[16] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16 };

/* ---- fixtures ---- */

struct fx {
	char *dir;
	struct xz_node *node;
};

static void
fx_open(struct fx *f)
{
	struct xz_diag d = { "" };

	if (xz_node_open(f->dir, &f->node, &d) != 0)
		fail_msg("open: %s", d.msg);
}

static void
fx_close(struct fx *f)
{
	xz_node_close(f->node);
	f->node = NULL;
}

static struct fx *
fx_new(const char *name)
{
	struct fx *f = calloc(1, sizeof(*f));
	char *parent = xzt_mkdtemp("audit");
	struct xz_diag d = { "" };

	assert_non_null(f);
	f->dir = xzt_path(parent, "node");
	free(parent);
	if (xz_node_init(f->dir, name, &d) != 0)
		fail_msg("init: %s", d.msg);
	fx_open(f);
	return f;
}

static void
fx_free(struct fx *f)
{
	char *slash;

	fx_close(f);
	slash = strrchr(f->dir, '/');
	*slash = '\0';
	xzt_rmtree(f->dir);
	free(f->dir);
	free(f);
}

static uint64_t
append_ok(struct xz_node *node, const struct xz_audit_event *ev)
{
	struct xz_diag d = { "" };
	uint64_t seq = UINT64_MAX;

	if (xz_audit_append(node, ev, &seq, &d) != 0)
		fail_msg("append: %s", d.msg);
	return seq;
}

/* A mix of record types, as a node would write them. */
static void
append_sample(struct xz_node *node, int n)
{
	struct xz_audit_field imp[] = {
		{ .name = "dataset", .kind = XZ_AUDIT_STR, .str = "户籍人口" },
		{ .name = "rows", .kind = XZ_AUDIT_INT, .num = 1000 },
	};
	struct xz_audit_field join[] = {
		{ .name = "transcript", .kind = XZ_AUDIT_HASH, .hash = { 0xab, 0xcd } },
		{ .name = "mode", .kind = XZ_AUDIT_STR, .str = "psi-cardinality" },
		{ .name = "role", .kind = XZ_AUDIT_STR, .str = "responder" },
		{ .name = "peer", .kind = XZ_AUDIT_STR, .str = "beta" },
		{ .name = "local_size", .kind = XZ_AUDIT_INT, .num = 1000 },
		{ .name = "peer_size", .kind = XZ_AUDIT_INT, .num = 800 },
		{ .name = "result_size", .kind = XZ_AUDIT_INT, .num = 42 },
	};
	struct xz_audit_event evs[] = {
		{ .type = XZ_AUDIT_NODE_STARTED, .actor = "operator:root" },
		{ .type = XZ_AUDIT_DATASET_IMPORTED, .actor = "operator:root", .fields = imp, .nfields = 2 },
		{ .type = XZ_AUDIT_JOIN_COMPLETED, .actor = "CN=beta.gov", .request_id = req1,
		  .fields = join, .nfields = 7 },
	};

	for (int i = 0; i < n; i++)
		append_ok(node, &evs[i % 3]);
}

static void
verify_ok(struct xz_node *node, struct xz_audit_status *st)
{
	struct xz_diag d = { "" };

	if (xz_audit_verify(node, st, &d) != 0)
		fail_msg("verify: %s", d.msg);
}

static void
verify_fails(struct xz_node *node, const char *want)
{
	struct xz_audit_status st;
	struct xz_diag d = { "" };

	assert_int_not_equal(xz_audit_verify(node, &st, &d), 0);
	if (strstr(d.msg, want) == NULL)
		fail_msg("verify failed with '%s', expected '%s'", d.msg, want);
}

/* ---- records ---- */

static void
test_record_round_trip(void **state)
{
	struct xz_audit_field f[] = {
		{ .name = "zeta", .kind = XZ_AUDIT_INT, .num = UINT64_MAX },
		{ .name = "alpha", .kind = XZ_AUDIT_STR, .str = "标签 a, b" },
		{ .name = "hash", .kind = XZ_AUDIT_HASH, .hash = { 1, 2, 3 } },
		{ .name = "outcome", .kind = XZ_AUDIT_STR, .str = "refuse" },
		{ .name = "reason", .kind = XZ_AUDIT_STR, .str = "" },
	};
	struct xz_audit_event ev = { .type = XZ_AUDIT_DECISION, .actor = "CN=机构",
	    .request_id = req1, .fields = f, .nfields = 5 };
	struct xz_audit_record *r = malloc(sizeof(*r));
	struct xz_diag d = { "" };
	uint8_t *buf, *again;
	size_t len, len2;

	(void)state;
	assert_non_null(r);
	assert_int_equal(xz_audit_record_encode(&ev, 7, 1700000000, &buf, &len, &d), 0);
	assert_int_equal(xz_audit_record_decode(buf, len, r, &d), 0);
	assert_int_equal(r->seq, 7);
	assert_int_equal(r->time, 1700000000);
	assert_int_equal(r->type, XZ_AUDIT_DECISION);
	assert_string_equal(r->actor, "CN=机构");
	assert_true(r->has_request);
	assert_memory_equal(r->request_id, req1, 16);
	assert_int_equal(r->nfields, 5);
	/* stored sorted by name */
	assert_string_equal(r->field[0].name, "alpha");
	assert_string_equal(r->field[1].name, "hash");
	assert_string_equal(r->field[4].name, "zeta");
	assert_string_equal(xz_audit_record_field(r, "alpha")->str, "标签 a, b");
	assert_true(xz_audit_record_field(r, "zeta")->num == UINT64_MAX);
	assert_int_equal(xz_audit_record_field(r, "hash")->hash[2], 3);
	assert_null(xz_audit_record_field(r, "nope"));
	/* Canonical: the fields in any order encode to the same bytes. */
	struct xz_audit_field g[5] = { f[4], f[3], f[2], f[1], f[0] };
	ev.fields = g;
	assert_int_equal(xz_audit_record_encode(&ev, 7, 1700000000, &again, &len2, &d), 0);
	assert_int_equal(len, len2);
	assert_memory_equal(buf, again, len);
	/* Every strict prefix and every extension is refused. */
	for (size_t i = 0; i < len; i++)
		assert_int_not_equal(xz_audit_record_decode(buf, i, r, &d), 0);
	uint8_t *longer = malloc(len + 1);
	memcpy(longer, buf, len);
	longer[len] = 0;
	assert_int_not_equal(xz_audit_record_decode(longer, len + 1, r, &d), 0);
	free(longer);
	free(buf);
	free(again);
	free(r);
}

static void
test_record_rejects(void **state)
{
	static const struct xz_audit_field ok_fields[] = {
		{ .name = "outcome", .kind = XZ_AUDIT_STR, .str = "allow" },
		{ .name = "reason", .kind = XZ_AUDIT_STR, .str = "policy p1" },
	};
	struct xz_audit_field bad[3];
	const struct {
		const char *what;
		unsigned type;
		const char *actor;
		const uint8_t *req;
		struct xz_audit_field extra;
		int has_extra;
		const char *want;
	} cases[] = {
		{ "unknown type", 999, "a", req1, { 0 }, 0, "unknown audit record type" },
		{ "empty actor", XZ_AUDIT_DECISION, "", req1, { 0 }, 0, "actor" },
		{ "control char in actor", XZ_AUDIT_DECISION, "a\nb", req1, { 0 }, 0, "actor" },
		{ "bidi override in actor", XZ_AUDIT_DECISION, "a\xe2\x80\xae" "b", req1, { 0 }, 0, "actor" },
		{ "bad UTF-8 in actor", XZ_AUDIT_DECISION, "a\xff", req1, { 0 }, 0, "actor" },
		{ "no request id", XZ_AUDIT_DECISION, "a", NULL, { 0 }, 0, "request id" },
		{ "bad field name", XZ_AUDIT_DECISION, "a", req1,
		  { .name = "Bad", .kind = XZ_AUDIT_INT }, 1, "not valid" },
		{ "repeated field", XZ_AUDIT_DECISION, "a", req1,
		  { .name = "reason", .kind = XZ_AUDIT_STR, .str = "x" }, 1, "twice" },
		{ "control char in value", XZ_AUDIT_DECISION, "a", req1,
		  { .name = "note", .kind = XZ_AUDIT_STR, .str = "x\ty" }, 1, "control" },
		{ "bad kind", XZ_AUDIT_DECISION, "a", req1,
		  { .name = "note", .kind = 9 }, 1, "unknown kind" },
	};
	struct xz_diag d = { "" };
	uint8_t *buf = NULL;
	size_t len;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memcpy(bad, ok_fields, sizeof(ok_fields));
		bad[2] = cases[i].extra;
		struct xz_audit_event ev = { .type = (enum xz_audit_type)cases[i].type,
		    .actor = cases[i].actor, .request_id = cases[i].req, .fields = bad,
		    .nfields = 2 + (size_t)cases[i].has_extra };
		d.msg[0] = '\0';
		if (xz_audit_record_encode(&ev, 0, 0, &buf, &len, &d) == 0)
			fail_msg("case '%s' was accepted", cases[i].what);
		if (strstr(d.msg, cases[i].want) == NULL)
			fail_msg("case '%s': message '%s' lacks '%s'", cases[i].what, d.msg,
			    cases[i].want);
	}
	/* Required fields and closed vocabularies. */
	struct xz_audit_field wrong[] = {
		{ .name = "outcome", .kind = XZ_AUDIT_STR, .str = "maybe" },
		{ .name = "reason", .kind = XZ_AUDIT_STR, .str = "x" },
	};
	struct xz_audit_event ev = { .type = XZ_AUDIT_DECISION, .actor = "a",
	    .request_id = req1, .fields = wrong, .nfields = 2 };
	assert_int_not_equal(xz_audit_record_encode(&ev, 0, 0, &buf, &len, &d), 0);
	assert_non_null(strstr(d.msg, "outcome"));
	ev.nfields = 1;
	wrong[0].str = "allow";
	assert_int_not_equal(xz_audit_record_encode(&ev, 0, 0, &buf, &len, &d), 0);
	assert_non_null(strstr(d.msg, "needs field 'reason'"));
	char big[XZ_AUDIT_STR_MAX + 2];
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	wrong[1].str = big;
	ev.nfields = 2;
	assert_int_not_equal(xz_audit_record_encode(&ev, 0, 0, &buf, &len, &d), 0);
}

/* Hand-made byte strings the decoder must refuse although each is close
 * to a valid record. */
static void
test_record_decode_rejects(void **state)
{
	struct xz_audit_field f[] = {
		{ .name = "dataset", .kind = XZ_AUDIT_STR, .str = "d" },
		{ .name = "rows", .kind = XZ_AUDIT_INT, .num = 5 },
	};
	struct xz_audit_event ev = { .type = XZ_AUDIT_DATASET_IMPORTED, .actor = "op",
	    .fields = f, .nfields = 2 };
	struct xz_audit_record *r = malloc(sizeof(*r));
	struct xz_diag d = { "" };
	uint8_t *buf;
	size_t len;

	(void)state;
	assert_int_equal(xz_audit_record_encode(&ev, 1, 2, &buf, &len, &d), 0);
	assert_int_equal(xz_audit_record_decode(buf, len, r, &d), 0);
	/* layout: ver(1) seq(8) time(8) type(2) alen(1) "op" flag(1) nf(1)
	 *   nlen(1) "dataset" kind(1) slen(2) "d"  nlen(1) "rows" kind(1) u64 */
	const struct { size_t off; uint8_t val; const char *what; } muts[] = {
		{ 0, 2, "version" },
		{ 17, 0, "type 0" },		/* type high byte 0 with low byte 0 below */
		{ 19, 0, "actor length 0" },
		{ 22, 2, "request flag 2" },
		{ 23, 33, "field count" },
		{ 24, 0, "field name length 0" },
		{ 25, 'D', "uppercase field name" },
		{ 32, 7, "unknown kind" },
		{ 34, 2, "string length past the end" },
		{ 35, 0x01, "control character in value" },
	};
	for (size_t i = 0; i < sizeof(muts) / sizeof(muts[0]); i++) {
		uint8_t *m = malloc(len);
		memcpy(m, buf, len);
		m[muts[i].off] = muts[i].val;
		if (muts[i].off == 17)
			m[18] = 0;
		if (xz_audit_record_decode(m, len, r, &d) == 0)
			fail_msg("decoder accepted: %s", muts[i].what);
		free(m);
	}
	/* Fields out of order: swap the two fields' bytes. */
	size_t f1 = 24, f1len = 1 + 7 + 1 + 2 + 1, f2len = 1 + 4 + 1 + 8;
	uint8_t *sw = malloc(len);
	memcpy(sw, buf, f1);
	memcpy(sw + f1, buf + f1 + f1len, f2len);
	memcpy(sw + f1 + f2len, buf + f1, f1len);
	assert_int_equal(f1 + f1len + f2len, len);
	assert_int_not_equal(xz_audit_record_decode(sw, len, r, &d), 0);
	assert_non_null(strstr(d.msg, "out of order"));
	free(sw);
	free(buf);
	free(r);
}

/* ---- appends and checkpoints ---- */

/* Checks a checkpoint note the way an independent verifier would: the
 * C2SP text, the key id and the Ed25519 signature, with libsodium only. */
static void
check_note_independently(const char *note, const char *name, uint64_t size,
    const uint8_t root[HLEN], const uint8_t pk[32])
{
	char body[256], root64[64], key_name[128], line[512];
	uint8_t id_in[4 + 32 + 2], h[32], sig[68];
	size_t siglen;
	crypto_hash_sha256_state s;

	sodium_bin2base64(root64, sizeof(root64), root, HLEN, sodium_base64_VARIANT_ORIGINAL);
	snprintf(body, sizeof(body), "%s xiezhi audit\n%llu\n%s\n", name,
	    (unsigned long long)size, root64);
	assert_int_equal(strncmp(note, body, strlen(body)), 0);
	snprintf(key_name, sizeof(key_name), "%s/xiezhi-audit", name);
	snprintf(line, sizeof(line), "\n\xe2\x80\x94 %s ", key_name);
	assert_int_equal(strncmp(note + strlen(body), line, strlen(line)), 0);
	const char *b64 = note + strlen(body) + strlen(line);
	assert_int_equal(sodium_base642bin(sig, sizeof(sig), b64, strlen(b64) - 1, NULL,
	    &siglen, NULL, sodium_base64_VARIANT_ORIGINAL), 0);
	assert_int_equal(siglen, 68);
	assert_int_equal(b64[strlen(b64) - 1], '\n');
	crypto_hash_sha256_init(&s);
	crypto_hash_sha256_update(&s, (const uint8_t *)key_name, strlen(key_name));
	id_in[0] = '\n';
	id_in[1] = 0x01;
	crypto_hash_sha256_update(&s, id_in, 2);
	crypto_hash_sha256_update(&s, pk, 32);
	crypto_hash_sha256_final(&s, h);
	assert_memory_equal(sig, h, 4);
	assert_int_equal(crypto_sign_verify_detached(sig + 4, (const uint8_t *)body,
	    strlen(body), pk), 0);
}

static void
test_append_and_verify(void **state)
{
	struct fx *f = fx_new("alpha");
	struct xz_audit_status st;
	struct xz_diag d = { "" };
	char *note = NULL;
	uint64_t size;
	uint8_t pk[32];

	(void)state;
	verify_ok(f->node, &st);
	assert_int_equal(st.size, 0);
	assert_int_equal(xz_audit_check_anchor(f->node, &d), 0);
	append_sample(f->node, 9);
	assert_int_equal(append_ok(f->node, &(struct xz_audit_event){
	    .type = XZ_AUDIT_NODE_STOPPED, .actor = "operator:root" }), 9);
	assert_int_equal(xz_audit_publish(f->node, &d), 0);
	verify_ok(f->node, &st);
	assert_int_equal(st.size, 10);
	assert_int_equal(st.checkpoints, 10);
	assert_true(st.anchor_present);
	assert_int_equal(st.anchor_size, 10);
	assert_string_equal(st.origin, "alpha xiezhi audit");
	assert_int_equal(xz_audit_latest_checkpoint(f->node, &note, &size, &d), 0);
	assert_int_equal(size, 10);
	assert_int_equal(xz_node_public_key(f->node, pk, &d), 0);
	check_note_independently(note, "alpha", 10, st.root, pk);
	/* The anchor file holds exactly the latest checkpoint. */
	char *apath = xzt_path(f->dir, "audit/checkpoint");
	size_t alen;
	char *anchor = xzt_read_file(apath, &alen);
	assert_string_equal(anchor, note);
	free(anchor);
	free(apath);
	free(note);
	assert_int_equal(xz_audit_check_anchor(f->node, &d), 0);
	fx_free(f);
}

static int
append_then_fail(struct xz_node *node, void *arg, struct xz_diag *d)
{
	append_ok(node, arg);
	return xz_diag_set(d, "the caller's work failed after the audit record");
}

/* Inside a caller's transaction the record commits or rolls back with it. */
static void
test_append_in_caller_transaction(void **state)
{
	struct fx *f = fx_new("alpha");
	struct xz_audit_status st;
	struct xz_diag d = { "" };
	struct xz_audit_event ev = { .type = XZ_AUDIT_NODE_STARTED, .actor = "operator:x" };
	sqlite3 *db = xz_node_db(f->node);

	(void)state;
	append_sample(f->node, 2);
	assert_int_equal(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(append_ok(f->node, &ev), 2);
	assert_int_equal(append_ok(f->node, &ev), 3);
	assert_int_equal(sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(xz_audit_publish(f->node, &d), 0);
	verify_ok(f->node, &st);
	assert_int_equal(st.size, 2);
	assert_int_not_equal(xz_node_transaction(f->node, append_then_fail, &ev, &d), 0);
	verify_ok(f->node, &st);
	assert_int_equal(st.size, 2);
	assert_int_equal(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(append_ok(f->node, &ev), 2);
	assert_int_equal(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(xz_audit_publish(f->node, &d), 0);
	verify_ok(f->node, &st);
	assert_int_equal(st.size, 3);
	/* A bad event touches nothing. */
	struct xz_audit_event bad = { .type = XZ_AUDIT_DECISION, .actor = "x" };
	assert_int_not_equal(xz_audit_append(f->node, &bad, NULL, &d), 0);
	verify_ok(f->node, &st);
	assert_int_equal(st.size, 3);
	fx_free(f);
}

/* ---- tampering with the store ---- */

/* Opens DIR/store.db directly with the raw key, as an attacker with the
 * key file would. */
static sqlite3 *
raw_open(const char *dir)
{
	char *kp = xzt_path(dir, "keys/store.key"), *dbp = xzt_path(dir, "store.db");
	char hexkey[65], pragma[128];
	size_t klen;
	char *key = xzt_read_file(kp, &klen);
	sqlite3 *db = NULL;

	assert_int_equal(klen, 32);
	sodium_bin2hex(hexkey, sizeof(hexkey), (const uint8_t *)key, 32);
	snprintf(pragma, sizeof(pragma), "PRAGMA key = \"x'%s'\";", hexkey);
	assert_int_equal(sqlite3_open(dbp, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, pragma, NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "SELECT count(*) FROM sqlite_master", NULL, NULL,
	    NULL), SQLITE_OK);
	sodium_memzero(key, klen);
	free(key);
	free(kp);
	free(dbp);
	return db;
}

static void
raw_exec(sqlite3 *db, const char *sql)
{
	char *err = NULL;

	if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK)
		fail_msg("%s: %s", sql, err);
}

/* XORs one byte of record seq's body at offset off with mask. */
static void
raw_xor(sqlite3 *db, int seq, int off, uint8_t mask)
{
	sqlite3_stmt *s, *u;
	uint8_t buf[4096];
	int n;

	assert_int_equal(sqlite3_prepare_v2(db, "SELECT body FROM audit_records WHERE seq = ?",
	    -1, &s, NULL), SQLITE_OK);
	sqlite3_bind_int(s, 1, seq);
	assert_int_equal(sqlite3_step(s), SQLITE_ROW);
	n = sqlite3_column_bytes(s, 0);
	assert_true(n > off && n <= (int)sizeof(buf));
	memcpy(buf, sqlite3_column_blob(s, 0), (size_t)n);
	sqlite3_finalize(s);
	buf[off] ^= mask;
	assert_int_equal(sqlite3_prepare_v2(db, "UPDATE audit_records SET body = ? WHERE seq = ?",
	    -1, &u, NULL), SQLITE_OK);
	sqlite3_bind_blob(u, 1, buf, n, SQLITE_TRANSIENT);
	sqlite3_bind_int(u, 2, seq);
	assert_int_equal(sqlite3_step(u), SQLITE_DONE);
	sqlite3_finalize(u);
}

static void tamper_alter_actor(sqlite3 *db) { raw_xor(db, 3, 21, 0x01); }
static void tamper_alter_count(sqlite3 *db) { raw_xor(db, 4, 71, 0x01); }
static void tamper_alter_seq(sqlite3 *db) { raw_xor(db, 2, 8, 0x01); }
static void tamper_delete_middle(sqlite3 *db) { raw_exec(db, "DELETE FROM audit_records WHERE seq = 3"); }
static void
tamper_delete_last(sqlite3 *db)
{
	raw_exec(db, "DELETE FROM audit_records WHERE seq = 7;"
	    "DELETE FROM audit_checkpoints WHERE size = 8;");
}
static void
tamper_delete_last_record_only(sqlite3 *db)
{
	raw_exec(db, "DELETE FROM audit_records WHERE seq = 7");
}
static void
tamper_delete_checkpoint(sqlite3 *db)
{
	raw_exec(db, "DELETE FROM audit_checkpoints WHERE size = 3");
}
static void
tamper_reorder(sqlite3 *db)
{
	raw_exec(db, "UPDATE audit_records SET seq = -1 WHERE seq = 2;"
	    "UPDATE audit_records SET seq = 2 WHERE seq = 5;"
	    "UPDATE audit_records SET seq = 5 WHERE seq = -1;");
}
/* A well-formed record 8 (a copy of 7 renumbered), with no checkpoint. */
static void
tamper_insert_end(sqlite3 *db)
{
	raw_exec(db, "INSERT INTO audit_records(seq, body) SELECT 8, body FROM audit_records "
	    "WHERE seq = 7");
	raw_xor(db, 8, 8, 0x0f);	/* seq byte 0x07 -> 0x08 */
}
static void
tamper_insert_middle(sqlite3 *db)
{
	/* Shift records 4.. up by one and put a copy of record 1 at 4. */
	raw_exec(db, "UPDATE audit_records SET seq = seq + 100 WHERE seq >= 4;"
	    "UPDATE audit_records SET seq = seq - 99 WHERE seq >= 100;"
	    "INSERT INTO audit_records(seq, body) SELECT 4, body FROM audit_records WHERE seq = 1;");
}
static void
tamper_frontier(sqlite3 *db)
{
	raw_exec(db, "UPDATE audit_checkpoints SET frontier = zeroblob(length(frontier)) "
	    "WHERE size = 8");
}
static void
tamper_swap_checkpoints(sqlite3 *db)
{
	raw_exec(db, "UPDATE audit_checkpoints SET note = (SELECT note FROM audit_checkpoints "
	    "WHERE size = 3) WHERE size = 4");
}

static void
test_store_tampering(void **state)
{
	const struct {
		const char *what;
		void (*tamper)(sqlite3 *db);
		const char *want;
		int anchor_refuses;
	} cases[] = {
		{ "alter an actor", tamper_alter_actor, "checkpoint 4 does not match", 0 },
		{ "alter a count", tamper_alter_count, "checkpoint 5 does not match", 0 },
		{ "alter a seq", tamper_alter_seq, "says it is record", 0 },
		{ "delete a record", tamper_delete_middle, "record 3 is missing", 0 },
		{ "delete the last record and checkpoint", tamper_delete_last, "rollback", 1 },
		{ "delete the last record", tamper_delete_last_record_only, "covers more records", 1 },
		{ "delete a checkpoint", tamper_delete_checkpoint, "none of size 3", 0 },
		{ "reorder two records", tamper_reorder, "says it is record", 0 },
		{ "insert at the end", tamper_insert_end, "not covered by any signed checkpoint", 1 },
		{ "insert in the middle", tamper_insert_middle, "says it is record", 1 },
		{ "replace a checkpoint", tamper_swap_checkpoints, "checkpoint 4", 0 },
		{ "rewrite the cached tree state", tamper_frontier, "stored tree state differs", 0 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct fx *f = fx_new("alpha");
		struct xz_diag d = { "" };
		sqlite3 *db;

		append_sample(f->node, 8);
		assert_int_equal(xz_audit_publish(f->node, &d), 0);
		fx_close(f);
		db = raw_open(f->dir);
		cases[i].tamper(db);
		sqlite3_close(db);
		fx_open(f);
		print_message("tamper: %s\n", cases[i].what);
		verify_fails(f->node, cases[i].want);
		assert_int_equal(xz_audit_check_anchor(f->node, &d) != 0, cases[i].anchor_refuses);
		/* Nothing more can be appended to a log that does not add up. */
		if (cases[i].tamper == tamper_insert_end || cases[i].tamper == tamper_frontier ||
		    cases[i].tamper == tamper_delete_last_record_only)
			assert_int_not_equal(xz_audit_append(f->node, &(struct xz_audit_event){
			    .type = XZ_AUDIT_NODE_STARTED, .actor = "x" }, NULL, &d), 0);
		fx_free(f);
	}
}

static void
copy_file(const char *from, const char *to)
{
	size_t len;
	char *data = xzt_read_file(from, &len);

	xzt_write_file(to, data, len);
	free(data);
}

/* Restoring an older copy of the whole database makes the anchor check
 * (node start) refuse, and verify say why. */
static void
test_rollback_refused(void **state)
{
	struct fx *f = fx_new("alpha");
	struct xz_diag d = { "" };
	char *db = xzt_path(f->dir, "store.db"), *wal = xzt_path(f->dir, "store.db-wal");
	char *shm = xzt_path(f->dir, "store.db-shm");
	char *saved = xzt_path(f->dir, "../store.db.old");

	(void)state;
	append_sample(f->node, 5);
	assert_int_equal(xz_audit_publish(f->node, &d), 0);
	fx_close(f);
	assert_int_not_equal(access(wal, F_OK), 0);	/* closed: WAL folded in */
	copy_file(db, saved);
	fx_open(f);
	append_sample(f->node, 3);
	assert_int_equal(xz_audit_publish(f->node, &d), 0);
	fx_close(f);
	copy_file(saved, db);
	unlink(wal);
	unlink(shm);
	fx_open(f);
	assert_int_not_equal(xz_audit_check_anchor(f->node, &d), 0);
	assert_non_null(strstr(d.msg, "rollback"));
	assert_non_null(strstr(d.msg, "holds 5 audit records"));
	verify_fails(f->node, "rollback");
	/* publish must not lower the anchor to the rolled-back log */
	assert_int_not_equal(xz_audit_publish(f->node, &d), 0);
	assert_int_not_equal(xz_audit_check_anchor(f->node, &d), 0);
	free(db);
	free(wal);
	free(shm);
	free(saved);
	fx_free(f);
}

/* An anchor from another node, or none at all with a non-empty log. */
static void
test_anchor_foreign_or_missing(void **state)
{
	struct fx *a = fx_new("alpha"), *b = fx_new("alpha");
	struct xz_diag d = { "" };
	char *pa = xzt_path(a->dir, "audit/checkpoint"), *pb = xzt_path(b->dir, "audit/checkpoint");

	(void)state;
	append_sample(a->node, 2);
	append_sample(b->node, 2);
	assert_int_equal(xz_audit_publish(a->node, &d), 0);
	assert_int_equal(xz_audit_publish(b->node, &d), 0);
	copy_file(pb, pa);	/* same name, different key */
	assert_int_not_equal(xz_audit_check_anchor(a->node, &d), 0);
	assert_non_null(strstr(d.msg, "not a checkpoint signed by this node"));
	unlink(pa);
	assert_int_not_equal(xz_audit_check_anchor(a->node, &d), 0);
	assert_non_null(strstr(d.msg, "missing"));
	assert_int_equal(xz_audit_publish(a->node, &d), 0);
	assert_int_equal(xz_audit_check_anchor(a->node, &d), 0);
	free(pa);
	free(pb);
	fx_free(a);
	fx_free(b);
}

/* ---- proofs ---- */

static void
test_proofs(void **state)
{
	struct fx *f = fx_new("alpha");
	struct xz_diag d = { "" };

	(void)state;
	append_sample(f->node, 13);
	for (uint64_t size = 1; size <= 13; size++) {
		for (uint64_t seq = 0; seq < size; seq++) {
			struct xz_audit_inclusion inc;
			if (xz_audit_prove(f->node, seq, size, &inc, &d) != 0)
				fail_msg("prove %llu in %llu: %s", (unsigned long long)seq,
				    (unsigned long long)size, d.msg);
			assert_int_equal(xz_merkle_inclusion_verify(seq, size, inc.leaf,
			    &inc.proof, inc.root), 0);
			free(inc.note);
		}
		struct xz_audit_consistency c;
		assert_int_equal(xz_audit_consistency(f->node, size, &c, &d), 0);
		assert_int_equal(c.to, 13);
		assert_int_equal(xz_merkle_consistency_verify(c.from, c.to, c.old_root,
		    c.new_root, &c.proof), 0);
		free(c.old_note);
		free(c.new_note);
	}
	struct xz_audit_inclusion inc;
	assert_int_not_equal(xz_audit_prove(f->node, 13, 0, &inc, &d), 0);
	assert_int_not_equal(xz_audit_prove(f->node, 3, 3, &inc, &d), 0);
	struct xz_audit_consistency c;
	assert_int_not_equal(xz_audit_consistency(f->node, 14, &c, &d), 0);
	assert_int_not_equal(xz_audit_consistency(f->node, 0, &c, &d), 0);
	fx_free(f);
}

/* ---- exports ---- */

static char *
make_export(struct fx *f, int n, size_t *len)
{
	struct xz_diag d = { "" };
	char *buf = NULL;
	size_t blen = 0;
	FILE *m = open_memstream(&buf, &blen);

	append_sample(f->node, n);
	append_ok(f->node, &(struct xz_audit_event){ .type = XZ_AUDIT_EXPORTED,
	    .actor = "operator:test" });
	assert_non_null(m);
	if (xz_audit_export(f->node, m, NULL, &d) != 0)
		fail_msg("export: %s", d.msg);
	fclose(m);
	*len = blen;
	return buf;
}

static int
verify_buf(const char *buf, size_t len, const uint8_t *pin, struct xz_audit_status *st,
    struct xz_diag *d)
{
	FILE *m = fmemopen((void *)(uintptr_t)buf, len, "r");
	int rc;

	assert_non_null(m);
	rc = xz_audit_verify_export(m, "export", pin, NULL, NULL, st, d);
	fclose(m);
	return rc;
}

/* Line-level edits of an export: each must be refused. */
static char *
edit_lines(const char *src, size_t len, int drop, int swap_a, int swap_b, int dup, size_t *out_len)
{
	const char *lines[256];
	size_t lens[256], n = 0;
	char *out;
	size_t o = 0;

	for (const char *p = src; p < src + len && n < 256;) {
		const char *nl = memchr(p, '\n', (size_t)(src + len - p));
		lines[n] = p;
		lens[n++] = (size_t)(nl - p) + 1;
		p = nl + 1;
	}
	out = malloc(len * 2);
	for (size_t i = 0; i < n; i++) {
		size_t k = i;
		if ((int)i == drop)
			continue;
		if ((int)i == swap_a)
			k = (size_t)swap_b;
		else if ((int)i == swap_b)
			k = (size_t)swap_a;
		memcpy(out + o, lines[k], lens[k]);
		o += lens[k];
		if ((int)i == dup) {
			memcpy(out + o, lines[k], lens[k]);
			o += lens[k];
		}
	}
	*out_len = o;
	return out;
}

static void
test_export_round_trip_and_edits(void **state)
{
	struct fx *f = fx_new("alpha");
	struct xz_audit_status st, dbst;
	struct xz_diag d = { "" };
	uint8_t pk[32], other[32];
	size_t len, elen;
	char *exp = make_export(f, 5, &len);

	(void)state;
	assert_int_equal(xz_audit_publish(f->node, &d), 0);
	verify_ok(f->node, &dbst);
	if (verify_buf(exp, len, NULL, &st, &d) != 0)
		fail_msg("verify-export: %s", d.msg);
	assert_int_equal(st.size, 6);
	assert_int_equal(st.checkpoints, 6);
	assert_memory_equal(st.root, dbst.root, HLEN);
	assert_int_equal(xz_node_public_key(f->node, pk, &d), 0);
	assert_int_equal(verify_buf(exp, len, pk, &st, &d), 0);
	memcpy(other, pk, 32);
	other[0] ^= 1;
	assert_int_not_equal(verify_buf(exp, len, other, &st, &d), 0);
	assert_non_null(strstr(d.msg, "different key"));

	/* lines: 0 magic, 1 origin, 2 vkey, then r c r c ... (records 0..5), end */
	const struct { int drop, sa, sb, dup; const char *what; } edits[] = {
		{ 5, -1, -1, -1, "delete a record" },
		{ 6, -1, -1, -1, "delete a checkpoint" },
		{ -1, 3, 5, -1, "swap two records" },
		{ -1, 5, 7, -1, "reorder record pairs" },
		{ -1, -1, -1, 5, "insert a copy of a record" },
		{ -1, -1, -1, 6, "repeat a checkpoint" },
		{ 15, -1, -1, -1, "drop the end line" },
		{ 1, -1, -1, -1, "drop the origin" },
	};
	for (size_t i = 0; i < sizeof(edits) / sizeof(edits[0]); i++) {
		char *e = edit_lines(exp, len, edits[i].drop, edits[i].sa, edits[i].sb,
		    edits[i].dup, &elen);
		if (verify_buf(e, elen, NULL, &st, &d) == 0)
			fail_msg("export edit accepted: %s", edits[i].what);
		free(e);
	}
	/* Cut the export after the 5th checkpoint and write a matching end
	 * line: every checkpoint verifies, but its own export record is gone. */
	const char *cut = exp;
	for (int k = 0; k < 3 + 10; k++)
		cut = strchr(cut, '\n') + 1;
	char *trunc = malloc(len + 32);
	size_t tl = (size_t)(cut - exp);
	memcpy(trunc, exp, tl);
	tl += (size_t)sprintf(trunc + tl, "end 5\n");
	assert_int_not_equal(verify_buf(trunc, tl, NULL, &st, &d), 0);
	assert_non_null(strstr(d.msg, "audit_exported"));
	/* Truncated mid-line, and trailing data. */
	assert_int_not_equal(verify_buf(exp, len - 1, NULL, &st, &d), 0);
	memcpy(trunc, exp, len);
	memcpy(trunc + len, "x\n", 2);
	assert_int_not_equal(verify_buf(trunc, len + 2, NULL, &st, &d), 0);
	free(trunc);
	free(exp);
	fx_free(f);
}

/*
 * Random single-byte mutations of an export: every one must be refused.
 * Each run changes one byte to a different value at a uniformly random
 * position (libsodium's generator; the seed is printed for reruns).
 */
static void
test_export_random_mutations(void **state)
{
	struct fx *f = fx_new("alpha");
	struct xz_audit_status st;
	struct xz_diag d = { "" };
	size_t len;
	char *exp = make_export(f, 7, &len);
	char *m = malloc(len);
	const char *lt = getenv("XIEZHI_LONG_TESTS");
	unsigned n = (lt != NULL && strcmp(lt, "1") == 0) ? 10000 : 300;

	(void)state;
	assert_int_equal(verify_buf(exp, len, NULL, &st, &d), 0);
	for (unsigned i = 0; i < n; i++) {
		size_t pos = randombytes_uniform((uint32_t)len);
		uint8_t delta = (uint8_t)(1 + randombytes_uniform(255));
		memcpy(m, exp, len);
		m[pos] = (char)((uint8_t)m[pos] ^ delta);
		if (verify_buf(m, len, NULL, &st, &d) == 0)
			fail_msg("mutation %u accepted: byte %zu xor 0x%02x", i, pos, delta);
	}
	print_message("%u random single-byte mutations of a %zu-byte export: all refused\n",
	    n, len);
	free(m);
	free(exp);
	fx_free(f);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_record_round_trip),
		cmocka_unit_test(test_record_rejects),
		cmocka_unit_test(test_record_decode_rejects),
		cmocka_unit_test(test_append_and_verify),
		cmocka_unit_test(test_append_in_caller_transaction),
		cmocka_unit_test(test_store_tampering),
		cmocka_unit_test(test_rollback_refused),
		cmocka_unit_test(test_anchor_foreign_or_missing),
		cmocka_unit_test(test_proofs),
		cmocka_unit_test(test_export_round_trip_and_edits),
		cmocka_unit_test(test_export_random_mutations),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
