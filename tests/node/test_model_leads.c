/*
 * Leads of model runs on a real node (node/leads.h): the flat JSON of
 * lead values (hostile input, round trips), recording a run (begin,
 * steps, finish, fail) with its audit records, the --model filter, the
 * values export, and retention (purge: what goes, what a remaining lead
 * still needs, the audit record, the dry run).
 *
 * Join results are written with the schema node/requester.c uses, as
 * tests/node/test_leads.c does; real model runs against a daemon are in
 * tests/integration/test_model_cli.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>
#include <sqlite3.h>

#include "testsupport.h"
#include "audit.h"
#include "leads.h"
#include "node.h"

static const char results_schema[] =
    "CREATE TABLE IF NOT EXISTS join_results ("
    " request_id BLOB PRIMARY KEY CHECK (length(request_id) = 16),"
    " peer TEXT NOT NULL, peer_identity TEXT NOT NULL, mode TEXT NOT NULL,"
    " dataset TEXT NOT NULL, key_column TEXT NOT NULL,"
    " local_size INTEGER NOT NULL, peer_size INTEGER NOT NULL,"
    " result_size INTEGER NOT NULL, transcript BLOB NOT NULL,"
    " receipt BLOB NOT NULL, checkpoint TEXT NOT NULL, completed_at INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS join_result_rows ("
    " request_id BLOB NOT NULL REFERENCES join_results(request_id),"
    " pos INTEGER NOT NULL, k TEXT NOT NULL, labels TEXT);";

/* ---- values ---- */

struct collect {
	char buf[2048];
	size_t n;
};

static int
collect(void *arg, const char *name, const char *value)
{
	struct collect *c = arg;

	c->n += (size_t)snprintf(c->buf + c->n, sizeof(c->buf) - c->n, "[%s=%s]", name,
	    value != NULL ? value : "NULL");
	return 0;
}

static void
test_values_parser(void **state)
{
	static const struct { const char *json, *want; } good[] = {
		{ "{}", "" },
		{ " { } ", "" },
		{ "{\"a\": \"1\"}", "[a=1]" },
		{ "{\"a\":\"1\",\"b\":null}", "[a=1][b=NULL]" },
		{ "{\"period\": \"2025Q3\", \"volume\": \"1500\"}", "[period=2025Q3][volume=1500]" },
		{ "{\"纳税人\": \"张三\"}", "[纳税人=张三]" },
		{ "{\"q\": \"a\\\"b\\\\c\\/d\"}", "[q=a\"b\\c/d]" },
		{ "{\"u\": \"\\u5f20\\u0041\\ud83d\\ude00\"}", "[u=张A\xf0\x9f\x98\x80]" },
		{ "{\"c\": \"x\\u0001y\\n\"}", "[c=x\x01y\n]" },
		{ "{\"a\": \"\"}", "[a=]" },
	};
	static const char *const bad[] = {
		"", "{", "}", "[]", "{\"a\"}", "{\"a\": 1}", "{\"a\": \"x\",}", "{,}",
		"{\"a\": \"x\" \"b\": \"y\"}", "{\"a\": \"\x01\"}", "{\"a\": \"\\u0000\"}",
		"{\"a\": \"\\ud800\"}", "{\"a\": \"\\udc00\"}", "{\"a\": \"\\ud800\\u0041\"}",
		"{\"a\": \"\\x\"}", "{\"a\": \"\\u12\"}", "{} x", "{\"a\": {}}", "{\"a\": nul}",
		"{\"a\": \"unterminated}", "{'a': 'b'}", "null", "{\"a\": \"b\"}}",
	};
	struct collect c;

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		memset(&c, 0, sizeof(c));
		if (xz_lead_values(good[i].json, collect, &c) != 0)
			fail_msg("[%s] refused", good[i].json);
		if (strcmp(c.buf, good[i].want) != 0)
			fail_msg("[%s]: got %s, want %s", good[i].json, c.buf, good[i].want);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&c, 0, sizeof(c));
		if (xz_lead_values(bad[i], collect, &c) == 0)
			fail_msg("[%s] accepted as %s", bad[i], c.buf);
	}
}

static void
test_json_round_trip(void **state)
{
	static const char *const values[] = {
		"plain", "", "with \"quotes\" and \\back\\slashes", "line\nbreak\ttab\r",
		"\x01\x1f\x7f", "中文 ／ 全角", "\xe2\x80\xae" "bidi", "🙂",
	};
	char *buf = NULL;
	size_t len = 0, cap = 0;
	struct collect c;
	char want[2048];
	size_t wn = 0;

	(void)state;
	assert_int_equal(xz_buf_add(&buf, &len, &cap, "{"), 0);
	for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
		char name[16];
		snprintf(name, sizeof(name), "n%zu", i);
		if (i > 0)
			assert_int_equal(xz_buf_add(&buf, &len, &cap, ", "), 0);
		assert_int_equal(xz_json_append(&buf, &len, &cap, name), 0);
		assert_int_equal(xz_buf_add(&buf, &len, &cap, ": "), 0);
		assert_int_equal(xz_json_append(&buf, &len, &cap, values[i]), 0);
		wn += (size_t)snprintf(want + wn, sizeof(want) - wn, "[%s=%s]", name, values[i]);
	}
	assert_int_equal(xz_buf_add(&buf, &len, &cap, "}"), 0);
	assert_int_equal(strlen(buf), len);
	/* No raw control character survives into the text. */
	for (size_t i = 0; i < len; i++)
		assert_true((unsigned char)buf[i] >= 0x20 && buf[i] != 0x7f);
	memset(&c, 0, sizeof(c));
	assert_int_equal(xz_lead_values(buf, collect, &c), 0);
	assert_string_equal(c.buf, want);
	free(buf);
}

/* ---- runs ---- */

struct fx {
	char *parent, *dir;
	struct xz_node *node;
};

static struct fx *
fx_new(void)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct xz_diag d = { "" };

	assert_non_null(f);
	assert_true(sodium_init() >= 0);
	f->parent = xzt_mkdtemp("model-leads");
	f->dir = xzt_path(f->parent, "node");
	if (xz_node_init(f->dir, "proc", &d) != 0 || xz_node_open(f->dir, &f->node, &d) != 0)
		fail_msg("node: %s", d.msg);
	return f;
}

static void
fx_free(struct fx *f)
{
	xz_node_close(f->node);
	xzt_rmtree(f->parent);
	free(f->parent);
	free(f->dir);
	free(f);
}

static void
exec_ok(struct fx *f, const char *sql)
{
	char *err = NULL;

	if (sqlite3_exec(xz_node_db(f->node), sql, NULL, NULL, &err) != SQLITE_OK)
		fail_msg("%s: %s", sql, err);
}

static void
add_join(struct fx *f, const uint8_t rid[16], const char *mode, int64_t completed,
    int nrows)
{
	sqlite3_stmt *st = NULL;
	sqlite3 *db = xz_node_db(f->node);
	uint8_t zero[100] = {0};
	char k[16];

	exec_ok(f, results_schema);
	assert_int_equal(sqlite3_prepare_v2(db, "INSERT INTO join_results VALUES (?, 'tax', "
	    "'tax.example', ?, 'suspects', 'code', 10, 200, ?, ?, ?, 'cp', ?)", -1, &st, NULL),
	    SQLITE_OK);
	sqlite3_bind_blob(st, 1, rid, 16, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, mode, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, nrows);
	sqlite3_bind_blob(st, 4, zero, 32, SQLITE_STATIC);
	sqlite3_bind_blob(st, 5, zero, 96, SQLITE_STATIC);
	sqlite3_bind_int64(st, 6, completed);
	assert_int_equal(sqlite3_step(st), SQLITE_DONE);
	sqlite3_finalize(st);
	assert_int_equal(sqlite3_prepare_v2(db, "INSERT INTO join_result_rows VALUES "
	    "(?, ?, ?, NULL)", -1, &st, NULL), SQLITE_OK);
	for (int i = 0; i < nrows; i++) {
		sqlite3_reset(st);
		snprintf(k, sizeof(k), "K%04d", i);
		sqlite3_bind_blob(st, 1, rid, 16, SQLITE_STATIC);
		sqlite3_bind_int(st, 2, i);
		sqlite3_bind_text(st, 3, k, -1, SQLITE_TRANSIENT);
		assert_int_equal(sqlite3_step(st), SQLITE_DONE);
	}
	sqlite3_finalize(st);
}

static const char *const outputs[] = { "code", "filed.declared" };

static void
run_rec(struct xz_leads_run *r, uint8_t id, const char *model)
{
	memset(r, 0, sizeof(*r));
	memset(r->run_id, id, 16);
	r->model_id = model;
	r->model_version = 3;
	r->title = "测试";
	memset(r->model_sha256, 0x5a, 32);
	r->as_of = "2026-11-30";
	r->purpose = "a purpose";
	r->legal_basis = "a basis";
	r->case_number = "2026-017";
	r->n_outputs = 2;
	r->outputs = outputs;
	r->n_steps = 2;
	r->actor = "local:analyst";
}

/* A completed run with leads for keys (values {"code": k, "filed.declared": "1.5"}),
 * whose steps used requests s1 and s2. */
static uint64_t
complete_run(struct fx *f, const struct xz_leads_run *r, const uint8_t s1[16],
    const uint8_t s2[16], const char *const *keys, size_t n)
{
	struct xz_leads_run_step st1 = { 0, "filed", "intersect", { "tax", NULL }, { s1, NULL },
	    5, 4, 4, 0 };
	struct xz_leads_run_step st2 = { 1, "unregistered", "difference", { "tax", NULL },
	    { s2, NULL }, 4, 3, 3, 0 };
	sqlite3_stmt *st = NULL;
	struct xz_diag d;
	uint64_t created = 0;
	char *vals = NULL;
	size_t vl = 0, vc = 0;

	if (xz_leads_run_begin(f->node, r, &d) != 0 ||
	    xz_leads_run_step(f->node, r->run_id, &st1, &d) != 0 ||
	    xz_leads_run_step(f->node, r->run_id, &st2, &d) != 0)
		fail_msg("run: %s", d.msg);
	exec_ok(f, "DROP TABLE IF EXISTS temp.xz_model_leads; CREATE TEMP TABLE xz_model_leads "
	    "(k TEXT NOT NULL, vals TEXT NOT NULL)");
	assert_int_equal(sqlite3_prepare_v2(xz_node_db(f->node), "INSERT INTO xz_model_leads "
	    "VALUES (?, ?)", -1, &st, NULL), SQLITE_OK);
	for (size_t i = 0; i < n; i++) {
		vl = 0;
		assert_int_equal(xz_buf_add(&vals, &vl, &vc, "{\"code\": "), 0);
		assert_int_equal(xz_json_append(&vals, &vl, &vc, keys[i]), 0);
		assert_int_equal(xz_buf_add(&vals, &vl, &vc, i == 1 ?
		    ", \"filed.declared\": null}" : ", \"filed.declared\": \"1.5\"}"), 0);
		sqlite3_reset(st);
		sqlite3_bind_text(st, 1, keys[i], -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, vals, -1, SQLITE_TRANSIENT);
		assert_int_equal(sqlite3_step(st), SQLITE_DONE);
	}
	sqlite3_finalize(st);
	free(vals);
	if (xz_leads_run_finish(f->node, r, 5, &created, &d) != 0)
		fail_msg("finish: %s", d.msg);
	return created;
}

struct leads_seen {
	int n;
	char keys[512];
	int model_leads;
};

static int
seen(void *arg, const struct xz_lead *l)
{
	struct leads_seen *s = arg;

	s->n++;
	strncat(s->keys, l->key, sizeof(s->keys) - strlen(s->keys) - 2);
	strcat(s->keys, ",");
	s->model_leads += strcmp(l->mode, "model") == 0 && l->model_run != NULL;
	return 0;
}

/* Audit records hold no key value. */
struct audit_scan {
	int started, completed, failed, purged;
	int leak;
	char requests[1100], reason[1100];
	uint64_t leads, purged_leads, purged_rows;
};

static int
scan(void *arg, const struct xz_audit_record *rec, struct xz_diag *d)
{
	struct audit_scan *a = arg;
	const struct xz_audit_rfield *f;

	(void)d;
	for (size_t i = 0; i < rec->nfields; i++)
		if (rec->field[i].kind == XZ_AUDIT_STR && strstr(rec->field[i].str, "K00") != NULL)
			a->leak = 1;
	if (rec->type == XZ_AUDIT_MODEL_RUN_STARTED)
		a->started++;
	if (rec->type == XZ_AUDIT_MODEL_RUN_COMPLETED) {
		a->completed++;
		if ((f = xz_audit_record_field(rec, "requests")) != NULL)
			snprintf(a->requests, sizeof(a->requests), "%s", f->str);
		if ((f = xz_audit_record_field(rec, "leads")) != NULL)
			a->leads = f->num;
		assert_true(rec->has_request);
	}
	if (rec->type == XZ_AUDIT_MODEL_RUN_FAILED) {
		a->failed++;
		if ((f = xz_audit_record_field(rec, "reason")) != NULL)
			snprintf(a->reason, sizeof(a->reason), "%s", f->str);
	}
	if (rec->type == XZ_AUDIT_LEADS_PURGED) {
		a->purged++;
		a->purged_leads = xz_audit_record_field(rec, "leads")->num;
		a->purged_rows = xz_audit_record_field(rec, "result_rows")->num;
	}
	return 0;
}

static void
test_run_records_and_leads(void **state)
{
	static const uint8_t s1[16] = { 0x11 }, s2[16] = { 0x22 };
	static const char *const keys[] = { "K0001", "K0002", "K0003" };
	struct fx *f = fx_new();
	struct xz_leads_run r, r2;
	struct leads_seen s = {0};
	struct xz_lead_filter flt = { NULL, -1, "fuel" };
	struct xz_lead_run_info *ri = calloc(1, sizeof(*ri));
	struct audit_scan a = {0};
	struct xz_diag d;
	struct xz_lead l;
	uint64_t created;
	char hex[33];

	(void)state;
	assert_non_null(ri);
	run_rec(&r, 0xa1, "fuel");
	assert_int_equal(complete_run(f, &r, s1, s2, keys, 3), 3);
	/* The model filter. */
	assert_int_equal(xz_leads_foreach(f->node, &flt, seen, &s, &d), 0);
	assert_int_equal(s.n, 3);
	assert_int_equal(s.model_leads, 3);
	assert_string_equal(s.keys, "K0001,K0002,K0003,");
	flt.model = "other";
	memset(&s, 0, sizeof(s));
	assert_int_equal(xz_leads_foreach(f->node, &flt, seen, &s, &d), 0);
	assert_int_equal(s.n, 0);
	/* The lead and its run. */
	assert_int_equal(xz_lead_get(f->node, 2, &l, &d), 0);
	sodium_bin2hex(hex, sizeof(hex), r.run_id, 16);
	assert_string_equal(l.model_run, hex);
	assert_string_equal(l.mode, "model");
	assert_string_equal(l.labels, "{\"code\": \"K0002\", \"filed.declared\": null}");
	assert_memory_equal(l.request_id, r.run_id, 16);
	xz_lead_release(&l);
	assert_int_equal(xz_lead_run_info(f->node, hex, ri, &d), 0);
	assert_string_equal(ri->model_id, "fuel");
	assert_int_equal(ri->model_version, 3);
	assert_string_equal(ri->status, "completed");
	assert_string_equal(ri->outputs, "[\"code\", \"filed.declared\"]");
	assert_int_equal(ri->n_steps, 2);
	assert_string_equal(ri->step[1].name, "unregistered");
	assert_memory_equal(ri->step[0].request_id[0], s1, 16);
	assert_int_equal(ri->step[0].n_requests, 1);
	assert_int_equal(ri->leads, 3);
	/* Finishing it again is refused and changes nothing. */
	assert_int_equal(xz_leads_run_finish(f->node, &r, 5, &created, &d), -1);
	memset(&s, 0, sizeof(s));
	flt.model = "fuel";
	assert_int_equal(xz_leads_foreach(f->node, &flt, seen, &s, &d), 0);
	assert_int_equal(s.n, 3);
	/* A failed run: recorded, no leads; its reason made safe for the log. */
	run_rec(&r2, 0xb2, "fuel");
	assert_int_equal(xz_leads_run_begin(f->node, &r2, &d), 0);
	assert_int_equal(xz_leads_run_fail(f->node, &r2, "filed", "peer said \x01no\xe2\x80\xae"
	    " \xff", &d), 0);
	sodium_bin2hex(hex, sizeof(hex), r2.run_id, 16);
	assert_int_equal(xz_lead_run_info(f->node, hex, ri, &d), 0);
	assert_string_equal(ri->status, "failed");
	memset(&s, 0, sizeof(s));
	assert_int_equal(xz_leads_foreach(f->node, &flt, seen, &s, &d), 0);
	assert_int_equal(s.n, 3);
	assert_int_equal(xz_audit_foreach(f->node, scan, &a, &d), 0);
	assert_int_equal(a.started, 2);
	assert_int_equal(a.completed, 1);
	assert_int_equal(a.failed, 1);
	assert_int_equal(a.leads, 3);
	assert_string_equal(a.requests, "11000000000000000000000000000000,"
	    "22000000000000000000000000000000");
	assert_string_equal(a.reason, "peer said ?no? ?");
	assert_false(a.leak);
	assert_int_equal(xz_audit_check_anchor(f->node, &d), 0);
	free(ri);
	fx_free(f);
}

static void
test_values_export(void **state)
{
	static const uint8_t s1[16] = { 0x11 }, s2[16] = { 0x22 }, jid[16] = { 0x99 };
	static const char *const keys[] = { "K0001", "K,\"2\"", "K0003" };
	struct fx *f = fx_new();
	struct xz_leads_run r;
	struct xz_lead_filter flt = { NULL, -1, "fuel" }, all = { NULL, -1, NULL };
	struct xz_diag d;
	uint64_t n = 0, made = 0;
	char *path = xzt_path(f->parent, "v.csv"), *path2 = xzt_path(f->parent, "v2.csv"), *got;
	size_t len;
	struct stat sb;

	(void)state;
	run_rec(&r, 0xa1, "fuel");
	assert_int_equal(complete_run(f, &r, s1, s2, keys, 3), 3);
	assert_int_equal(xz_leads_export(f->node, &flt, XZ_LEAD_VALUES, path, "local:t", &n, &d),
	    0);
	assert_int_equal(n, 3);
	got = xzt_read_file(path, &len);
	assert_string_equal(got, "code,filed.declared\r\nK0001,1.5\r\n\"K,\"\"2\"\"\",\r\n"
	    "K0003,1.5\r\n");
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);
	free(got);
	/* A join's lead has no model columns: the values table refuses the mix
	 * and leaves no file. */
	add_join(f, jid, "intersect", (int64_t)time(NULL), 2);
	assert_int_equal(xz_leads_create(f->node, jid, NULL, "local:t", &made, &d), 0);
	assert_int_equal(xz_leads_export(f->node, &all, XZ_LEAD_VALUES, path2, "local:t", &n,
	    &d), -1);
	assert_non_null(strstr(d.msg, "same columns"));
	assert_int_not_equal(access(path2, F_OK), 0);
	free(path);
	free(path2);
	fx_free(f);
}

static void
set_created(struct fx *f, const char *where, int64_t t)
{
	char sql[256];

	snprintf(sql, sizeof(sql), "UPDATE lead_leads SET created_at = %lld WHERE %s",
	    (long long)t, where);
	exec_ok(f, sql);
}

static int64_t
count(struct fx *f, const char *sql)
{
	sqlite3_stmt *st = NULL;
	int64_t n;

	assert_int_equal(sqlite3_prepare_v2(xz_node_db(f->node), sql, -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return n;
}

/*
 * Old: join A (3 leads), run R1 (steps S1, S2; 2 leads), join X without
 * leads (a cardinality-like leftover, 4 rows).  New: run R2 whose step
 * reused nothing but whose steps T1, T2 are old joins (completed long ago
 * but still needed by R2's fresh leads).
 */
static void
test_purge(void **state)
{
	static const uint8_t ja[16] = { 0xa0 }, jx[16] = { 0xb0 }, s1[16] = { 0x11 },
	    s2[16] = { 0x22 }, t1[16] = { 0x31 }, t2[16] = { 0x32 };
	static const char *const k2[] = { "K0001", "K0002" };
	int64_t now = (int64_t)time(NULL), old = now - 40 * 86400;
	struct fx *f = fx_new();
	struct xz_leads_run r1, r2;
	struct xz_leads_purge_count n;
	struct audit_scan a = {0};
	struct xz_diag d;
	uint64_t made;

	(void)state;
	add_join(f, ja, "intersect", old, 3);
	add_join(f, jx, "intersect", old, 4);
	add_join(f, s1, "intersect", old, 5);
	add_join(f, s2, "difference", old, 2);
	add_join(f, t1, "intersect", old, 6);
	add_join(f, t2, "difference", old, 1);
	assert_int_equal(xz_leads_create(f->node, ja, NULL, "local:t", &made, &d), 0);
	assert_int_equal(made, 3);
	run_rec(&r1, 0xc1, "fuel");
	assert_int_equal(complete_run(f, &r1, s1, s2, k2, 2), 2);
	run_rec(&r2, 0xc2, "fuel");
	assert_int_equal(complete_run(f, &r2, t1, t2, k2, 2), 2);
	set_created(f, "request_id = x'a0000000000000000000000000000000'", old);
	set_created(f, "model_run = 'c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1'", old);
	assert_int_equal(count(f, "SELECT count(*) FROM lead_history"), 7);
	/* Dry run: counts, changes nothing, no record. */
	assert_int_equal(xz_leads_purge(f->node, now - 30 * 86400, 30, 1, "local:t", &n, &d), 0);
	assert_int_equal(n.leads, 5);
	assert_int_equal(n.history, 5);
	assert_int_equal(n.joins, 4);			/* A, X, S1, S2 */
	assert_int_equal(n.result_rows, 3 + 4 + 5 + 2);
	assert_int_equal(count(f, "SELECT count(*) FROM lead_leads"), 7);
	/* The real purge. */
	assert_int_equal(xz_leads_purge(f->node, now - 30 * 86400, 30, 0, "local:t", &n, &d), 0);
	assert_int_equal(n.leads, 5);
	assert_int_equal(count(f, "SELECT count(*) FROM lead_leads"), 2);
	assert_int_equal(count(f, "SELECT count(*) FROM lead_history"), 2);
	/* T1 and T2 stay: R2's leads still need them. */
	assert_int_equal(count(f, "SELECT count(*) FROM join_result_rows"), 6 + 1);
	assert_int_equal(count(f, "SELECT count(*) FROM join_result_rows WHERE request_id = "
	    "x'31000000000000000000000000000000'"), 6);
	/* Summaries, receipts and run records stay. */
	assert_int_equal(count(f, "SELECT count(*) FROM join_results"), 6);
	assert_int_equal(count(f, "SELECT count(*) FROM model_runs"), 2);
	assert_int_equal(count(f, "SELECT count(*) FROM lead_requests"), 3);
	assert_int_equal(xz_audit_foreach(f->node, scan, &a, &d), 0);
	assert_int_equal(a.purged, 1);
	assert_int_equal(a.purged_leads, 5);
	assert_int_equal(a.purged_rows, 14);
	assert_false(a.leak);
	/* Nothing old is left: a second purge deletes nothing. */
	assert_int_equal(xz_leads_purge(f->node, now - 30 * 86400, 30, 0, "local:t", &n, &d), 0);
	assert_int_equal(n.leads + n.history + n.result_rows, 0);
	/* Creating leads again for the purged join changes nothing. */
	assert_int_equal(xz_leads_create(f->node, ja, NULL, "local:t", &made, &d), 1);
	assert_int_equal(count(f, "SELECT count(*) FROM lead_leads"), 2);
	assert_int_equal(xz_audit_check_anchor(f->node, &d), 0);
	fx_free(f);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_values_parser),
		cmocka_unit_test(test_json_round_trip),
		cmocka_unit_test(test_run_records_and_leads),
		cmocka_unit_test(test_values_export),
		cmocka_unit_test(test_purge),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
