/*
 * Leads on a real node (node/leads.h): creation from stored join results,
 * idempotence, the transition table, audited status changes (and that the
 * audit records never carry the key value or the note), and exports (exact
 * RFC 4180 bytes, mode 0600, never replacing a file, audited with the
 * file's hash).
 *
 * The join results are written with the schema node/requester.c uses
 * (join_results, join_result_rows): the requester does not expose its
 * storing function, and a real join is exercised by
 * tests/integration/test_leads_cli.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>
#include <sqlite3.h>

#include "testsupport.h"
#include "audit.h"
#include "leads.h"
#include "node.h"

static const uint8_t rid_x[16] = { 0xa1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16 };
static const uint8_t rid_d[16] = { 0xd1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16 };
static const uint8_t rid_c[16] = { 0xc1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16 };
static const uint8_t rid_none[16] = { 0xee };

/* The same tables as node/requester.c creates. */
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
	f->parent = xzt_mkdtemp("leads");
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
add_join(struct fx *f, const uint8_t rid[16], const char *mode, const char *const *rows,
    size_t nrows)
{
	sqlite3_stmt *st = NULL;
	sqlite3 *db = xz_node_db(f->node);
	uint8_t zero[256] = {0};

	exec_ok(f, results_schema);
	assert_int_equal(sqlite3_prepare_v2(db, "INSERT INTO join_results VALUES (?, 'tax', "
	    "'tax.example', ?, 'suspects', 'code', 10, 200, ?, ?, ?, 'cp', 1700000000)", -1,
	    &st, NULL), SQLITE_OK);
	sqlite3_bind_blob(st, 1, rid, 16, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, mode, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, (int64_t)nrows);
	sqlite3_bind_blob(st, 4, zero, 32, SQLITE_STATIC);
	sqlite3_bind_blob(st, 5, zero, 100, SQLITE_STATIC);
	assert_int_equal(sqlite3_step(st), SQLITE_DONE);
	sqlite3_finalize(st);
	assert_int_equal(sqlite3_prepare_v2(db, "INSERT INTO join_result_rows VALUES "
	    "(?, ?, ?, ?)", -1, &st, NULL), SQLITE_OK);
	for (size_t i = 0; i < nrows; i++) {
		sqlite3_reset(st);
		sqlite3_bind_blob(st, 1, rid, 16, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, (int64_t)i);
		sqlite3_bind_text(st, 3, rows[2 * i], -1, SQLITE_STATIC);
		if (rows[2 * i + 1] != NULL)
			sqlite3_bind_text(st, 4, rows[2 * i + 1], -1, SQLITE_STATIC);
		else
			sqlite3_bind_null(st, 4);
		assert_int_equal(sqlite3_step(st), SQLITE_DONE);
	}
	sqlite3_finalize(st);
}

/* Intersect: 3 matches, one key with a comma and a quote, Chinese labels. */
static const char *const x_rows[] = {
	"K0150", "{\"period\": \"2025Q3\", \"volume\": \"1500\"}",
	"K,\"151\"", "{\"period\": \"2025Q4\", \"volume\": \"1510\"}",
	"K0152", "{\"纳税人\": \"张三\"}",
};
/* Difference: 2 keys the peer lacks, no labels. */
static const char *const d_rows[] = { "K0201", NULL, "K0202", NULL };

static struct fx *
fx_with_joins(void)
{
	struct fx *f = fx_new();

	add_join(f, rid_x, "intersect", x_rows, 3);
	add_join(f, rid_d, "difference", d_rows, 2);
	add_join(f, rid_c, "cardinality", NULL, 0);
	return f;
}

static void
create_ok(struct fx *f, const uint8_t rid[16], const struct xz_request *req, uint64_t want)
{
	struct xz_diag d = { "" };
	uint64_t n = 99;

	if (xz_leads_create(f->node, rid, req, "local:analyst", &n, &d) != 0)
		fail_msg("create: %s", d.msg);
	assert_int_equal(n, want);
}

/* ---- statuses ---- */

static void
test_transition_table(void **state)
{
	/* Rows: from; columns: to (new verifying confirmed dismissed referred). */
	static const int want[5][5] = {
		[XZ_LEAD_NEW] =       { 0, 1, 0, 1, 0 },
		[XZ_LEAD_VERIFYING] = { 0, 0, 1, 1, 0 },
		[XZ_LEAD_CONFIRMED] = { 0, 1, 0, 0, 1 },
		[XZ_LEAD_DISMISSED] = { 0, 1, 0, 0, 0 },
		[XZ_LEAD_REFERRED] =  { 0, 0, 0, 0, 0 },
	};
	enum xz_lead_status s;

	(void)state;
	for (int a = 0; a < 5; a++) {
		for (int b = 0; b < 5; b++)
			if (xz_lead_transition_allowed((enum xz_lead_status)a,
			    (enum xz_lead_status)b) != want[a][b])
				fail_msg("%s -> %s", xz_lead_status_name(a), xz_lead_status_name(b));
		assert_int_equal(xz_lead_status_from_name(xz_lead_status_name(a), &s), 0);
		assert_int_equal((int)s, a);
	}
	assert_null(xz_lead_status_name(5));
	assert_null(xz_lead_status_name(-1));
	assert_int_equal(xz_lead_status_from_name("New", &s), -1);
	assert_int_equal(xz_lead_status_from_name("", &s), -1);
	assert_int_equal(xz_lead_transition_allowed((enum xz_lead_status)7, XZ_LEAD_NEW), 0);
}

static void
test_parse_request_id(void **state)
{
	static const struct { const char *in; int ok; } cases[] = {
		{ "a102030405060708090a0b0c0d0e0f10", 1 },
		{ "A102030405060708090A0B0C0D0E0F10", 1 },
		{ "a102030405060708090a0b0c0d0e0f1", 0 },
		{ "a102030405060708090a0b0c0d0e0f100", 0 },
		{ "g102030405060708090a0b0c0d0e0f10", 0 },
		{ "a1 2030405060708090a0b0c0d0e0f10", 0 },
		{ "", 0 },
	};
	uint8_t id[16];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int r = xz_lead_parse_request_id(cases[i].in, id);
		if ((r == 0) != cases[i].ok)
			fail_msg("'%s': %d", cases[i].in, r);
		if (r == 0)
			assert_memory_equal(id, rid_x, 16);
	}
}

/* ---- create ---- */

struct collect {
	char text[4096];
	size_t used;
	int n;
};

static int
collect_lead(void *arg, const struct xz_lead *l)
{
	struct collect *c = arg;

	c->used += (size_t)snprintf(c->text + c->used, sizeof(c->text) - c->used,
	    "%lld %s %s %s %s\n", (long long)l->id, xz_lead_status_name(l->status), l->mode,
	    l->key, l->labels != NULL ? l->labels : "-");
	c->n++;
	return 0;
}

static void
test_create_from_join_results(void **state)
{
	struct fx *f = fx_with_joins();
	struct xz_lead_filter all = { NULL, -1, NULL }, onlyd = { rid_d, -1, NULL };
	struct collect c = {0};
	struct xz_diag d = { "" };

	(void)state;
	create_ok(f, rid_x, NULL, 3);
	create_ok(f, rid_d, NULL, 2);
	assert_int_equal(xz_leads_foreach(f->node, &all, collect_lead, &c, &d), 0);
	assert_string_equal(c.text,
	    "1 new intersect K0150 {\"period\": \"2025Q3\", \"volume\": \"1500\"}\n"
	    "2 new intersect K,\"151\" {\"period\": \"2025Q4\", \"volume\": \"1510\"}\n"
	    "3 new intersect K0152 {\"纳税人\": \"张三\"}\n"
	    "4 new difference K0201 -\n"
	    "5 new difference K0202 -\n");
	memset(&c, 0, sizeof(c));
	assert_int_equal(xz_leads_foreach(f->node, &onlyd, collect_lead, &c, &d), 0);
	assert_int_equal(c.n, 2);
	fx_free(f);
}

static void
test_create_twice_changes_nothing(void **state)
{
	struct fx *f = fx_with_joins();
	struct xz_lead_filter all = { NULL, -1, NULL };
	struct collect c = {0};
	struct xz_diag d = { "" };
	uint64_t n = 0;

	(void)state;
	create_ok(f, rid_x, NULL, 3);
	assert_int_equal(xz_leads_create(f->node, rid_x, NULL, "local:other", &n, &d), 1);
	assert_int_equal(n, 3);
	assert_int_equal(xz_leads_foreach(f->node, &all, collect_lead, &c, &d), 0);
	assert_int_equal(c.n, 3);
	fx_free(f);
}

static void
test_create_refusals(void **state)
{
	static const struct { const uint8_t *rid; const char *msg; } cases[] = {
		{ rid_c, "cardinality join: it gave a count" },
		{ rid_none, "no completed join with request id ee000000" },
	};
	struct fx *f = fx_with_joins(), *empty = fx_new();
	struct xz_request req = {0};
	struct xz_diag d = { "" };
	uint64_t n = 0;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(xz_leads_create(f->node, cases[i].rid, NULL, "local:a", &n, &d), -1);
		if (strstr(d.msg, cases[i].msg) == NULL)
			fail_msg("case %zu: %s", i, d.msg);
	}
	/* A request file of another join is refused before anything is stored. */
	memcpy(req.id, rid_d, 16);
	assert_int_equal(xz_leads_create(f->node, rid_x, &req, "local:a", &n, &d), -1);
	assert_non_null(strstr(d.msg, "the request file is request d1"));
	/* A node that never joined says so. */
	assert_int_equal(xz_leads_create(empty->node, rid_x, NULL, "local:a", &n, &d), -1);
	assert_non_null(strstr(d.msg, "no completed joins"));
	/* A refusal leaves no half-made leads: creating later still works. */
	create_ok(f, rid_x, NULL, 3);
	fx_free(f);
	fx_free(empty);
}

static void
test_request_info_kept(void **state)
{
	struct fx *f = fx_with_joins();
	struct xz_lead_request q;
	struct xz_request req = {0};
	struct xz_diag d = { "" };

	(void)state;
	memcpy(req.id, rid_x, 16);
	snprintf(req.purpose, sizeof(req.purpose), "fuel sold without tax");
	snprintf(req.case_number, sizeof(req.case_number), "2026-001");
	snprintf(req.legal_basis, sizeof(req.legal_basis), "CPL art. 8");
	snprintf(req.policy_id, sizeof(req.policy_id), "fuel");
	create_ok(f, rid_x, &req, 3);
	create_ok(f, rid_d, NULL, 2);
	assert_int_equal(xz_lead_request_info(f->node, rid_x, &q, &d), 0);
	assert_int_equal(q.has_text, 1);
	assert_string_equal(q.purpose, "fuel sold without tax");
	assert_string_equal(q.case_number, "2026-001");
	assert_string_equal(q.policy, "fuel");
	assert_string_equal(q.peer, "tax");
	assert_string_equal(q.dataset, "suspects");
	assert_int_equal(q.completed_at, 1700000000);
	assert_int_equal(xz_lead_request_info(f->node, rid_d, &q, &d), 0);
	assert_int_equal(q.has_text, 0);
	assert_string_equal(q.mode, "difference");
	fx_free(f);
}

/* ---- update ---- */

struct audit_scan {
	int changes;
	char last_lead[XZ_AUDIT_STR_MAX + 1], last_status[XZ_AUDIT_STR_MAX + 1];
	char last_from[XZ_AUDIT_STR_MAX + 1];
	uint8_t last_rid[16], last_note_hash[32];
	int leaked;
	unsigned last_type;
};

static int
scan_record(void *arg, const struct xz_audit_record *rec, struct xz_diag *d)
{
	struct audit_scan *s = arg;
	const struct xz_audit_rfield *fl;

	(void)d;
	s->last_type = rec->type;
	for (size_t i = 0; i < rec->nfields; i++)
		if (rec->field[i].kind == XZ_AUDIT_STR &&
		    (strstr(rec->field[i].str, "K0150") != NULL ||
		    strstr(rec->field[i].str, "seen at") != NULL))
			s->leaked = 1;
	if (rec->type != XZ_AUDIT_LEAD_STATUS_CHANGED)
		return 0;
	s->changes++;
	assert_true(rec->has_request);
	memcpy(s->last_rid, rec->request_id, 16);
	assert_non_null(fl = xz_audit_record_field(rec, "lead"));
	snprintf(s->last_lead, sizeof(s->last_lead), "%s", fl->str);
	assert_non_null(fl = xz_audit_record_field(rec, "status"));
	snprintf(s->last_status, sizeof(s->last_status), "%s", fl->str);
	assert_non_null(fl = xz_audit_record_field(rec, "from"));
	snprintf(s->last_from, sizeof(s->last_from), "%s", fl->str);
	assert_non_null(fl = xz_audit_record_field(rec, "note_sha256"));
	memcpy(s->last_note_hash, fl->hash, 32);
	assert_string_equal(rec->actor, "local:analyst");
	return 0;
}

static void
scan_audit(struct fx *f, struct audit_scan *s)
{
	struct xz_audit_status st;
	struct xz_diag d = { "" };

	memset(s, 0, sizeof(*s));
	if (xz_audit_foreach(f->node, scan_record, s, &d) != 0 ||
	    xz_audit_verify(f->node, &st, &d) != 0)
		fail_msg("audit: %s", d.msg);
}

/* SHA-256(salt || note) of the latest history row: what the audit record
 * must carry (the salt lives only in the store). */
static void
salted_note_hash(struct fx *f, const char *note, uint8_t out[32])
{
	crypto_hash_sha256_state h;
	sqlite3_stmt *st = NULL;

	assert_int_equal(sqlite3_prepare_v2(xz_node_db(f->node), "SELECT salt, note FROM "
	    "lead_history ORDER BY rowid DESC LIMIT 1", -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_int_equal(sqlite3_column_bytes(st, 0), 16);
	assert_string_equal((const char *)sqlite3_column_text(st, 1), note);
	crypto_hash_sha256_init(&h);
	crypto_hash_sha256_update(&h, sqlite3_column_blob(st, 0), 16);
	crypto_hash_sha256_update(&h, (const unsigned char *)note, strlen(note));
	crypto_hash_sha256_final(&h, out);
	sqlite3_finalize(st);
	/* And the plain hash, which anyone could check a guess against, differs. */
	{
		uint8_t plain[32];
		crypto_hash_sha256(plain, (const unsigned char *)note, strlen(note));
		assert_memory_not_equal(plain, out, 32);
	}
}

static int
collect_change(void *arg, const struct xz_lead_change *ch)
{
	struct collect *c = arg;

	c->used += (size_t)snprintf(c->text + c->used, sizeof(c->text) - c->used,
	    "%s>%s %s %s\n", ch->from_status, ch->to_status, ch->actor, ch->note);
	c->n++;
	return 0;
}

static void
test_update_walks_the_table_and_audits(void **state)
{
	/* One lead through a whole life; every step checked against the store,
	 * the history and the audit log. */
	static const struct {
		enum xz_lead_status to;
		const char *note;
		int ok;
		const char *msg;
	} steps[] = {
		{ XZ_LEAD_CONFIRMED, "too early", 0, "lead 1 is new and cannot become confirmed" },
		{ XZ_LEAD_VERIFYING, "K0150 seen at two stations", 1, NULL },
		{ XZ_LEAD_REFERRED, "skip", 0, "is verifying and cannot become referred" },
		{ XZ_LEAD_CONFIRMED, "invoices match", 1, NULL },
		{ XZ_LEAD_REFERRED, "sent to the fuel-tax team", 1, NULL },
		{ XZ_LEAD_VERIFYING, "reopen", 0, "is referred and cannot become verifying" },
		{ XZ_LEAD_DISMISSED, "", 0, "a note is required" },
	};
	struct fx *f = fx_with_joins();
	struct audit_scan s;
	struct collect c = {0};
	struct xz_lead l;
	struct xz_diag d = { "" };
	enum xz_lead_status cur = XZ_LEAD_NEW, prev = XZ_LEAD_NEW;
	int changes = 0;
	uint8_t h[32];

	(void)state;
	create_ok(f, rid_x, NULL, 3);
	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		int r = xz_lead_update(f->node, 1, steps[i].to, steps[i].note, "local:analyst", &d);
		if ((r == 0) != steps[i].ok)
			fail_msg("step %zu: %d %s", i, r, d.msg);
		if (!steps[i].ok && strstr(d.msg, steps[i].msg) == NULL)
			fail_msg("step %zu: %s", i, d.msg);
		if (steps[i].ok) {
			prev = cur;
			cur = steps[i].to;
			changes++;
		}
		assert_int_equal(xz_lead_get(f->node, 1, &l, &d), 0);
		assert_int_equal((int)l.status, (int)cur);
		xz_lead_release(&l);
		scan_audit(f, &s);
		assert_int_equal(s.changes, changes);
		if (steps[i].ok) {
			assert_string_equal(s.last_lead, "1");
			assert_string_equal(s.last_status, xz_lead_status_name(cur));
			assert_string_equal(s.last_from, xz_lead_status_name(prev));
			assert_memory_equal(s.last_rid, rid_x, 16);
			salted_note_hash(f, steps[i].note, h);
			assert_memory_equal(s.last_note_hash, h, 32);
		}
	}
	/* Neither the key value nor the note that quotes it reached the log. */
	assert_int_equal(s.leaked, 0);
	assert_int_equal(xz_lead_history(f->node, 1, collect_change, &c, &d), 0);
	assert_string_equal(c.text,
	    ">new local:analyst created from the join result\n"
	    "new>verifying local:analyst K0150 seen at two stations\n"
	    "verifying>confirmed local:analyst invoices match\n"
	    "confirmed>referred local:analyst sent to the fuel-tax team\n");
	/* Lead 2 untouched; an unknown lead is named. */
	assert_int_equal(xz_lead_get(f->node, 2, &l, &d), 0);
	assert_int_equal((int)l.status, XZ_LEAD_NEW);
	xz_lead_release(&l);
	assert_int_equal(xz_lead_update(f->node, 42, XZ_LEAD_VERIFYING, "x", "local:a", &d), -1);
	assert_non_null(strstr(d.msg, "there is no lead 42"));
	assert_int_equal(xz_lead_update(f->node, 2, XZ_LEAD_VERIFYING, "bad\033[2J", "local:a",
	    &d), -1);
	assert_non_null(strstr(d.msg, "control character at byte 4"));
	fx_free(f);
}

static void
test_status_filter(void **state)
{
	struct fx *f = fx_with_joins();
	struct xz_lead_filter flt = { NULL, XZ_LEAD_DISMISSED, NULL };
	struct collect c = {0};
	struct xz_diag d = { "" };

	(void)state;
	create_ok(f, rid_x, NULL, 3);
	create_ok(f, rid_d, NULL, 2);
	assert_int_equal(xz_lead_update(f->node, 2, XZ_LEAD_DISMISSED, "no", "local:analyst",
	    &d), 0);
	assert_int_equal(xz_lead_update(f->node, 5, XZ_LEAD_DISMISSED, "no", "local:analyst",
	    &d), 0);
	assert_int_equal(xz_leads_foreach(f->node, &flt, collect_lead, &c, &d), 0);
	assert_string_equal(c.text,
	    "2 dismissed intersect K,\"151\" {\"period\": \"2025Q4\", \"volume\": \"1510\"}\n"
	    "5 dismissed difference K0202 -\n");
	memset(&c, 0, sizeof(c));
	flt.request_id = rid_d;
	assert_int_equal(xz_leads_foreach(f->node, &flt, collect_lead, &c, &d), 0);
	assert_int_equal(c.n, 1);
	fx_free(f);
}

/* ---- export ---- */

struct export_rec {
	int n;
	uint64_t count;
	char what[XZ_AUDIT_STR_MAX + 1], format[XZ_AUDIT_STR_MAX + 1];
	uint8_t hash[32];
};

static int
find_export(void *arg, const struct xz_audit_record *rec, struct xz_diag *d)
{
	struct export_rec *e = arg;
	const struct xz_audit_rfield *fl;

	(void)d;
	if (rec->type != XZ_AUDIT_LEADS_EXPORTED)
		return 0;
	e->n++;
	assert_non_null(fl = xz_audit_record_field(rec, "what"));
	snprintf(e->what, sizeof(e->what), "%s", fl->str);
	assert_non_null(fl = xz_audit_record_field(rec, "format"));
	snprintf(e->format, sizeof(e->format), "%s", fl->str);
	assert_non_null(fl = xz_audit_record_field(rec, "count"));
	e->count = fl->num;
	assert_non_null(fl = xz_audit_record_field(rec, "sha256"));
	memcpy(e->hash, fl->hash, 32);
	return 0;
}

static void
test_export_csv_exact_and_audited(void **state)
{
	struct fx *f = fx_with_joins();
	struct xz_lead_filter flt = { rid_x, -1, NULL };
	char *out = xzt_path(f->parent, "leads.csv"), *text, *again, expect[2048], ts[64];
	struct audit_scan s;
	struct export_rec e = {0};
	struct xz_lead l;
	struct xz_diag d = { "" };
	struct stat sb;
	uint64_t n = 0;
	size_t len, len2;
	uint8_t h[32];

	(void)state;
	create_ok(f, rid_x, NULL, 3);
	assert_int_equal(xz_lead_get(f->node, 1, &l, &d), 0);
	snprintf(ts, sizeof(ts), "%lld,%lld", (long long)l.created_at, (long long)l.updated_at);
	xz_lead_release(&l);
	if (xz_leads_export(f->node, &flt, XZ_LEAD_CSV, out, "local:analyst", &n, &d) != 0)
		fail_msg("export: %s", d.msg);
	assert_int_equal(n, 3);
	text = xzt_read_file(out, &len);
	snprintf(expect, sizeof(expect),
	    "id,request_id,mode,key,labels,model_run,status,created_at,updated_at\r\n"
	    "1,a102030405060708090a0b0c0d0e0f10,intersect,K0150,"
	    "\"{\"\"period\"\": \"\"2025Q3\"\", \"\"volume\"\": \"\"1500\"\"}\",,new,%s\r\n"
	    "2,a102030405060708090a0b0c0d0e0f10,intersect,\"K,\"\"151\"\"\","
	    "\"{\"\"period\"\": \"\"2025Q4\"\", \"\"volume\"\": \"\"1510\"\"}\",,new,%s\r\n"
	    "3,a102030405060708090a0b0c0d0e0f10,intersect,K0152,"
	    "\"{\"\"纳税人\"\": \"\"张三\"\"}\",,new,%s\r\n", ts, ts, ts);
	assert_string_equal(text, expect);
	assert_int_equal(stat(out, &sb), 0);
	assert_int_equal(sb.st_mode & 07777, 0600);
	/* The audit record names the export by hash and count. */
	scan_audit(f, &s);
	assert_int_equal(s.last_type, XZ_AUDIT_LEADS_EXPORTED);
	assert_int_equal(xz_audit_foreach(f->node, find_export, &e, &d), 0);
	assert_int_equal(e.n, 1);
	assert_string_equal(e.format, "csv");
	assert_int_equal(e.count, 3);
	crypto_hash_sha256(h, (const unsigned char *)text, len);
	assert_memory_equal(e.hash, h, 32);
	/* An existing file is never replaced, and nothing else is left behind. */
	assert_int_equal(xz_leads_export(f->node, NULL, XZ_LEAD_JSON, out, "local:analyst", &n,
	    &d), -1);
	assert_non_null(strstr(d.msg, "already exists"));
	again = xzt_read_file(out, &len2);
	assert_int_equal(len2, len);
	assert_memory_equal(again, text, len);
	free(again);
	free(text);
	free(out);
	fx_free(f);
}

static void
test_export_json_audited_with_hash(void **state)
{
	struct fx *f = fx_with_joins();
	char *out = xzt_path(f->parent, "leads.json"), *text;
	struct export_rec e = {0};
	struct xz_diag d = { "" };
	struct xz_lead l;
	uint64_t n = 0;
	size_t len;
	uint8_t h[32];
	char frag[512];

	(void)state;
	create_ok(f, rid_x, NULL, 3);
	create_ok(f, rid_d, NULL, 2);
	if (xz_leads_export(f->node, NULL, XZ_LEAD_JSON, out, "local:analyst", &n, &d) != 0)
		fail_msg("export: %s", d.msg);
	assert_int_equal(n, 5);
	text = xzt_read_file(out, &len);
	assert_int_equal(xz_lead_get(f->node, 2, &l, &d), 0);
	snprintf(frag, sizeof(frag), "\n  {\"id\": 2, \"request_id\": "
	    "\"a102030405060708090a0b0c0d0e0f10\", \"mode\": \"intersect\", \"key\": "
	    "\"K,\\\"151\\\"\", \"labels\": \"{\\\"period\\\": \\\"2025Q4\\\", \\\"volume\\\": "
	    "\\\"1510\\\"}\", \"model_run\": null, \"status\": \"new\", \"created_at\": %lld, "
	    "\"updated_at\": %lld},", (long long)l.created_at, (long long)l.updated_at);
	xz_lead_release(&l);
	assert_non_null(strstr(text, frag));
	assert_true(strncmp(text, "[\n  {\"id\": 1,", 13) == 0);
	assert_non_null(strstr(text, "\"key\": \"K0202\", \"labels\": null"));
	assert_true(len > 4 && strcmp(text + len - 4, "}\n]\n") == 0);
	assert_int_equal(xz_audit_foreach(f->node, find_export, &e, &d), 0);
	assert_int_equal(e.n, 1);
	assert_string_equal(e.what, "leads");
	assert_string_equal(e.format, "json");
	assert_int_equal(e.count, 5);
	crypto_hash_sha256(h, (const unsigned char *)text, len);
	assert_memory_equal(e.hash, h, 32);
	free(text);
	free(out);
	fx_free(f);
}

static void
test_export_into_missing_directory_fails_cleanly(void **state)
{
	struct fx *f = fx_with_joins();
	char *out = xzt_path(f->parent, "no/such/dir/leads.csv");
	struct export_rec e = {0};
	struct xz_diag d = { "" };
	uint64_t n = 0;

	(void)state;
	create_ok(f, rid_x, NULL, 3);
	assert_int_equal(xz_leads_export(f->node, NULL, XZ_LEAD_CSV, out, "local:a", &n, &d), -1);
	assert_non_null(strstr(d.msg, "cannot create a file next to"));
	/* Not exported, so not on record. */
	assert_int_equal(xz_audit_foreach(f->node, find_export, &e, &d), 0);
	assert_int_equal(e.n, 0);
	free(out);
	fx_free(f);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_transition_table),
		cmocka_unit_test(test_parse_request_id),
		cmocka_unit_test(test_create_from_join_results),
		cmocka_unit_test(test_create_twice_changes_nothing),
		cmocka_unit_test(test_create_refusals),
		cmocka_unit_test(test_request_info_kept),
		cmocka_unit_test(test_update_walks_the_table_and_audits),
		cmocka_unit_test(test_status_filter),
		cmocka_unit_test(test_export_csv_exact_and_audited),
		cmocka_unit_test(test_export_json_audited_with_hash),
		cmocka_unit_test(test_export_into_missing_directory_fails_cleanly),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
