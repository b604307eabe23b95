/*
 * `xiezhi audit` as auditors and operators use it, on real nodes: verify,
 * log, export, verify-export (with and without a pinned key), prove,
 * consistency, publish, crosscheck of two nodes' join records, and the
 * refusals: a record altered in the SQLCipher store, a store rolled back to
 * an older copy, and exports edited or mutated byte by byte.
 *
 * Records are appended through the library (the commands that will append
 * them in production, joins and imports, belong to other issues); every
 * check goes through the real binary.
 */
#include "testsupport.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>
#include <sqlite3.h>

#include "audit.h"
#include "node.h"

#define X(...) xiezhi_n((const char *[]){ __VA_ARGS__, NULL })

static struct xzt_run
xiezhi_n(const char **args)
{
	const char *argv[32] = { xzt_xiezhi_bin() };
	size_t n = 1;
	struct xzt_run r;

	for (; args[n - 1] != NULL && n < 31; n++)
		argv[n] = args[n - 1];
	argv[n] = NULL;
	xzt_run(&r, argv, NULL, NULL);
	return r;
}

/* Runs and checks the exit status and that `want` (may be NULL) occurs in
 * stdout or stderr. */
static void
expect(struct xzt_run r, int status, const char *want)
{
	if (r.status != status || (want != NULL && strstr(r.out, want) == NULL &&
	    strstr(r.err, want) == NULL))
		fail_msg("exit %d (wanted %d), looking for '%s'\nstdout: %s\nstderr: %s",
		    r.status, status, want ? want : "", r.out, r.err);
	xzt_run_free(&r);
}

struct fixture {
	char *tmp, *a, *b;
};

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	f->tmp = xzt_mkdtemp("auditcli");
	f->a = xzt_path(f->tmp, "civil-affairs");
	f->b = xzt_path(f->tmp, "tax-bureau");
	expect(X("init", "--dir", f->a, "--name", "civil-affairs"), 0, NULL);
	expect(X("init", "--dir", f->b, "--name", "tax-bureau"), 0, NULL);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	xzt_rmtree(f->tmp);
	free(f->tmp);
	free(f->a);
	free(f->b);
	free(f);
	return 0;
}

static struct xz_node *
open_node(const char *dir)
{
	struct xz_node *node = NULL;
	struct xz_diag d = { "" };

	if (xz_node_open(dir, &node, &d) != 0)
		fail_msg("open %s: %s", dir, d.msg);
	return node;
}

static void
req_id(int n, uint8_t id[16])
{
	memset(id, 0, 16);
	id[0] = 0xee;
	id[15] = (uint8_t)n;
}

/* A join as one side records it (docs/audit-format.md §Joins). */
static void
add_join(const char *dir, int req, const char *role, const char *peer, uint64_t local,
    uint64_t peer_size, uint64_t result)
{
	struct xz_node *node = open_node(dir);
	struct xz_diag d = { "" };
	uint8_t id[16];
	struct xz_audit_field f[] = {
		{ .name = "mode", .kind = XZ_AUDIT_STR, .str = "psi-cardinality" },
		{ .name = "role", .kind = XZ_AUDIT_STR, .str = role },
		{ .name = "peer", .kind = XZ_AUDIT_STR, .str = peer },
		{ .name = "local_size", .kind = XZ_AUDIT_INT, .num = local },
		{ .name = "peer_size", .kind = XZ_AUDIT_INT, .num = peer_size },
		{ .name = "result_size", .kind = XZ_AUDIT_INT, .num = result },
		/* stands in for the transcript hash: it depends on the request
		 * and on what was computed, as a real transcript does */
		{ .name = "transcript", .kind = XZ_AUDIT_HASH,
		  .hash = { (uint8_t)req, (uint8_t)result, 0x77 } },
	};
	struct xz_audit_event ev = { .type = XZ_AUDIT_JOIN_COMPLETED, .actor = "CN=peer",
	    .request_id = id, .fields = f, .nfields = 7 };

	req_id(req, id);
	if (xz_audit_append(node, &ev, NULL, &d) != 0 || xz_audit_publish(node, &d) != 0)
		fail_msg("append: %s", d.msg);
	xz_node_close(node);
}

static void
add_misc(const char *dir, int n)
{
	struct xz_node *node = open_node(dir);
	struct xz_diag d = { "" };
	struct xz_audit_field imp[] = {
		{ .name = "dataset", .kind = XZ_AUDIT_STR, .str = "people" },
		{ .name = "rows", .kind = XZ_AUDIT_INT, .num = 500 },
	};
	struct xz_audit_event ev = { .type = XZ_AUDIT_DATASET_IMPORTED,
	    .actor = "operator:test", .fields = imp, .nfields = 2 };

	for (int i = 0; i < n; i++) {
		if (xz_audit_append(node, &ev, NULL, &d) != 0)
			fail_msg("append: %s", d.msg);
	}
	if (xz_audit_publish(node, &d) != 0)
		fail_msg("publish: %s", d.msg);
	xz_node_close(node);
}

static size_t
count(const char *hay, const char *needle)
{
	size_t n = 0;

	for (const char *p = hay; (p = strstr(p, needle)) != NULL; p++)
		n++;
	return n;
}

static void
test_verify_log_export_prove(void **state)
{
	struct fixture *f = *state;
	char *exp = xzt_path(f->tmp, "a.export");
	char *pub_a = xzt_path(f->a, "keys/node.pub"), *pub_b = xzt_path(f->b, "keys/node.pub");
	struct xzt_run r;

	expect(X("audit", "verify", "--dir", f->a), 0, "0 records");
	add_misc(f->a, 3);
	add_join(f->a, 1, "requester", "tax-bureau", 500, 300, 20);
	expect(X("audit", "verify", "--dir", f->a), 0, "OK: audit log of civil-affairs "
	    "xiezhi audit verified: 4 records, 4 checkpoints");

	r = X("audit", "log", "--dir", f->a);
	assert_int_equal(r.status, 0);
	assert_int_equal(count(r.out, "\n"), 4);
	assert_non_null(strstr(r.out, "#3 "));
	assert_non_null(strstr(r.out, "join_completed actor=\"CN=peer\" request=ee00"));
	assert_non_null(strstr(r.out, "result_size=20"));
	xzt_run_free(&r);
	r = X("audit", "log", "--dir", f->a, "--type", "join_completed", "--json");
	assert_int_equal(r.status, 0);
	assert_non_null(strstr(r.out, "{\"node\":\"civil-affairs\",\"records\":["));
	assert_int_equal(count(r.out, "\"seq\":"), 1);
	assert_non_null(strstr(r.out, "\"result_size\":20"));
	xzt_run_free(&r);
	expect(X("audit", "log", "--dir", f->a, "--request",
	    "ee000000-0000-0000-0000-000000000001"), 0, "#3 ");
	r = X("audit", "log", "--dir", f->a, "--since", "2999-01-01");
	assert_int_equal(r.status, 0);
	assert_string_equal(r.out, "");
	xzt_run_free(&r);
	expect(X("audit", "log", "--dir", f->a, "--since", "2024-02-30"), 2, "not a time");
	expect(X("audit", "log", "--dir", f->a, "--type", "nonsense"), 2, "not a record type");

	expect(X("audit", "export", "--dir", f->a, "--out", exp), 0, "exported 5 audit records");
	expect(X("audit", "verify-export", exp), 0, "warning: no --pubkey");
	expect(X("audit", "verify-export", exp, "--pubkey", pub_a), 0, "5 records, 5 checkpoints");
	expect(X("audit", "verify-export", exp, "--pubkey", pub_b), 1, "different key");
	expect(X("audit", "log", "--dir", f->a, "--type", "audit_exported"), 0, "#4 ");

	expect(X("audit", "prove", "--dir", f->a, "--seq", "2"), 0, "tree_size 5");
	expect(X("audit", "prove", "--dir", f->a, "--seq", "2", "--size", "3", "--json"), 0,
	    "\"tree_size\":3");
	expect(X("audit", "prove", "--dir", f->a, "--seq", "5"), 1, "not in the tree");
	expect(X("audit", "prove", "--dir", f->a), 2, "--seq");
	expect(X("audit", "consistency", "--dir", f->a, "--from", "2"), 0, "from 2\nto 5\n");
	expect(X("audit", "consistency", "--dir", f->a, "--from", "9"), 1, "fewer than 9");
	expect(X("audit", "publish", "--dir", f->a), 0, "up to date");
	free(exp);
	free(pub_a);
	free(pub_b);
}

static void
test_usage(void **state)
{
	struct fixture *f = *state;

	expect(X("audit"), 2, "usage: xiezhi audit");
	expect(X("audit", "--help"), 0, "verify-export FILE");
	expect(X("audit", "frobnicate"), 2, "unknown audit subcommand");
	expect(X("audit", "verify", "--dir", f->a, "extra"), 2, "unexpected argument");
	expect(X("audit", "verify-export", "/nonexistent/export"), 1, "cannot open");
	expect(X("audit", "export", "--dir", f->a), 2, "--out FILE");
	expect(X("audit", "verify-export", "x", "--pubkey", "zz"), 2, "not a public key");
}

/* Opens DIR/store.db with the raw key from DIR/keys/store.key. */
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
	free(key);
	free(kp);
	free(dbp);
	return db;
}

static void
test_tampered_store(void **state)
{
	struct fixture *f = *state;
	char *t = xzt_path(f->tmp, "tamper");
	sqlite3 *db;

	expect(X("init", "--dir", t, "--name", "tamper-node"), 0, NULL);
	add_misc(t, 4);
	expect(X("audit", "verify", "--dir", t), 0, "4 records");
	/* Change the row count of record 2 ("rows" is the last 8 bytes). */
	db = raw_open(t);
	assert_int_equal(sqlite3_exec(db, "UPDATE audit_records SET body = "
	    "substr(body, 1, length(body) - 1) || X'FF' WHERE seq = 2", NULL, NULL, NULL),
	    SQLITE_OK);
	sqlite3_close(db);
	expect(X("audit", "verify", "--dir", t), 1, "checkpoint 3 does not match the records");
	/* Put it back by deleting it: a gap. */
	db = raw_open(t);
	assert_int_equal(sqlite3_exec(db, "DELETE FROM audit_records WHERE seq = 2", NULL,
	    NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	expect(X("audit", "verify", "--dir", t), 1, "record 2 is missing");
	expect(X("audit", "export", "--dir", t, "--out", "/dev/null"), 1, NULL);
	xzt_rmtree(t);
	free(t);
}

static void
copy_file(const char *from, const char *to)
{
	size_t len;
	char *data = xzt_read_file(from, &len);

	xzt_write_file(to, data, len);
	free(data);
}

static void
test_rolled_back_store(void **state)
{
	struct fixture *f = *state;
	char *t = xzt_path(f->tmp, "rollback");
	char *db = xzt_path(t, "store.db"), *old = xzt_path(f->tmp, "rollback-store.db");
	char *wal = xzt_path(t, "store.db-wal"), *shm = xzt_path(t, "store.db-shm");
	char *exp = xzt_path(f->tmp, "rollback.export");

	expect(X("init", "--dir", t, "--name", "rollback-node"), 0, NULL);
	add_misc(t, 3);
	copy_file(db, old);
	add_misc(t, 2);
	expect(X("audit", "verify", "--dir", t), 0, "anchor at size 5");
	copy_file(old, db);
	unlink(wal);
	unlink(shm);
	expect(X("audit", "verify", "--dir", t), 1, "rollback");
	expect(X("audit", "export", "--dir", t, "--out", exp), 1, "rollback");
	expect(X("audit", "publish", "--dir", t), 1, "rollback");
	assert_int_not_equal(access(exp, F_OK), 0);
	/* Losing the anchor as well is not silently accepted either. */
	char *anchor = xzt_path(t, "audit/checkpoint");
	unlink(anchor);
	expect(X("audit", "verify", "--dir", t), 1, "is missing");
	expect(X("audit", "publish", "--dir", t), 0, "up to date");
	expect(X("audit", "verify", "--dir", t), 0, "3 records");
	free(anchor);
	xzt_rmtree(t);
	free(t);
	free(db);
	free(old);
	free(wal);
	free(shm);
	free(exp);
}

/* Edits and random byte changes to an export file: verify-export refuses
 * every one, through the real binary. */
static void
test_tampered_export(void **state)
{
	struct fixture *f = *state;
	char *exp = xzt_path(f->tmp, "t.export"), *bad = xzt_path(f->tmp, "bad.export");
	size_t len;
	char *orig;

	add_misc(f->b, 4);
	expect(X("audit", "export", "--dir", f->b, "--out", exp), 0, NULL);
	orig = xzt_read_file(exp, &len);
	/* swap records 1 and 2 (lines 5 and 7: magic, origin, vkey, r0, c1, r1, c2, r2) */
	{
		char *lines[64];
		size_t n = 0;
		char *copy = strdup(orig), *save = NULL;
		for (char *l = strtok_r(copy, "\n", &save); l && n < 64; l = strtok_r(NULL, "\n", &save))
			lines[n++] = l;
		char *t = lines[5];
		lines[5] = lines[7];
		lines[7] = t;
		FILE *o = fopen(bad, "w");
		for (size_t i = 0; i < n; i++)
			fprintf(o, "%s\n", lines[i]);
		fclose(o);
		expect(X("audit", "verify-export", bad), 1, "FAILED");
		/* drop record 1 and its checkpoint */
		o = fopen(bad, "w");
		for (size_t i = 0; i < n; i++) {
			if (i != 7 && i != 8)
				fprintf(o, "%s\n", i == 5 ? lines[7] : i == 7 ? lines[5] : lines[i]);
		}
		fclose(o);
		expect(X("audit", "verify-export", bad), 1, "FAILED");
		free(copy);
	}
	for (int i = 0; i < 25; i++) {
		size_t pos = randombytes_uniform((uint32_t)len);
		char *m = malloc(len);
		memcpy(m, orig, len);
		m[pos] = (char)(m[pos] ^ (1 + randombytes_uniform(255)));
		xzt_write_file(bad, m, len);
		expect(X("audit", "verify-export", bad), 1, "FAILED");
		free(m);
	}
	free(orig);
	free(exp);
	free(bad);
}

static void
test_crosscheck(void **state)
{
	struct fixture *fx = *state;
	struct fixture fresh = { fx->tmp, xzt_path(fx->tmp, "x-civil"), xzt_path(fx->tmp, "x-tax") };
	struct fixture *f = &fresh;
	char *ea = xzt_path(f->tmp, "x-a.export"), *eb = xzt_path(f->tmp, "x-b.export");
	char *pub_a = xzt_path(f->a, "keys/node.pub"), *pub_b = xzt_path(f->b, "keys/node.pub");
	char r2[33], r3[33];
	uint8_t id[16];

	/* Two new nodes, so the joins of the other tests do not count. */
	expect(X("init", "--dir", f->a, "--name", "civil-affairs"), 0, NULL);
	expect(X("init", "--dir", f->b, "--name", "tax-bureau"), 0, NULL);

	/* request 11: both sides agree */
	add_join(f->a, 11, "requester", "tax-bureau", 500, 300, 20);
	add_join(f->b, 11, "responder", "civil-affairs", 300, 500, 20);
	expect(X("audit", "export", "--dir", f->a, "--out", ea), 0, NULL);
	expect(X("audit", "export", "--dir", f->b, "--out", eb), 0, NULL);
	expect(X("audit", "crosscheck", ea, eb, "--pubkey-a", pub_a, "--pubkey-b", pub_b), 0,
	    "1 agree, 0 only in civil-affairs, 0 only in tax-bureau, 0 differ");
	/* 12: only A; 13: result differs; 14: A with a third node (ignored) */
	add_join(f->a, 12, "requester", "tax-bureau", 500, 300, 7);
	add_join(f->a, 13, "requester", "tax-bureau", 500, 300, 9);
	add_join(f->b, 13, "responder", "civil-affairs", 300, 500, 8);
	add_join(f->a, 14, "requester", "health-commission", 500, 100, 1);
	expect(X("audit", "export", "--dir", f->a, "--out", ea), 0, NULL);
	expect(X("audit", "export", "--dir", f->b, "--out", eb), 0, NULL);
	req_id(12, id);
	sodium_bin2hex(r2, sizeof(r2), id, 16);
	req_id(13, id);
	sodium_bin2hex(r3, sizeof(r3), id, 16);
	struct xzt_run r = X("audit", "crosscheck", ea, eb);
	assert_int_equal(r.status, 1);
	char want[160];
	snprintf(want, sizeof(want), "MISSING request %s: civil-affairs recorded join_completed", r2);
	assert_non_null(strstr(r.out, want));
	snprintf(want, sizeof(want), "DIFFERS request %s", r3);
	assert_non_null(strstr(r.out, want));
	assert_non_null(strstr(r.out, "transcript hashes differ"));
	assert_non_null(strstr(r.out, "1 agree, 1 only in civil-affairs, 0 only in tax-bureau, 1 differ"));
	xzt_run_free(&r);
	/* Wrong pins, and a tampered side, are refused before comparing. */
	expect(X("audit", "crosscheck", ea, eb, "--pubkey-a", pub_b), 1, "does not verify");
	free(ea);
	free(eb);
	free(pub_a);
	free(pub_b);
	free(fresh.a);
	free(fresh.b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_verify_log_export_prove),
		cmocka_unit_test(test_usage),
		cmocka_unit_test(test_tampered_store),
		cmocka_unit_test(test_rolled_back_store),
		cmocka_unit_test(test_tampered_export),
		cmocka_unit_test(test_crosscheck),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, setup, teardown);
}
