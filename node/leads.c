/*
 * Leads (node/leads.h; docs/leads.md for analysts).
 *
 * The key values and labels of leads never leave the encrypted store except
 * through `leads show/list` on the operator's terminal and `leads export`
 * into a 0600 file; audit records carry lead numbers, statuses and hashes.
 */
#include "leads.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "audit.h"
#include "cli.h"

static const char leads_schema[] =
    "CREATE TABLE IF NOT EXISTS lead_requests ("
    " request_id BLOB PRIMARY KEY CHECK (length(request_id) = 16),"
    " created_at INTEGER NOT NULL, actor TEXT NOT NULL, leads INTEGER NOT NULL,"
    " purpose TEXT, case_number TEXT, legal_basis TEXT, policy TEXT);"
    "CREATE TABLE IF NOT EXISTS lead_leads ("
    " id INTEGER PRIMARY KEY,"
    " request_id BLOB NOT NULL REFERENCES lead_requests(request_id),"
    " pos INTEGER NOT NULL, mode TEXT NOT NULL, k TEXT NOT NULL, labels TEXT,"
    " model_run TEXT,"
    " status TEXT NOT NULL CHECK (status IN"
    "  ('new','verifying','confirmed','dismissed','referred')),"
    " created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL,"
    " UNIQUE (request_id, pos));"
    "CREATE INDEX IF NOT EXISTS lead_leads_by_status ON lead_leads (status);"
    "CREATE TABLE IF NOT EXISTS lead_history ("
    " lead INTEGER NOT NULL REFERENCES lead_leads(id),"
    " at INTEGER NOT NULL, actor TEXT NOT NULL, from_status TEXT,"
    " to_status TEXT NOT NULL, note TEXT NOT NULL,"
    " salt BLOB CHECK (salt IS NULL OR length(salt) = 16));"
    "CREATE INDEX IF NOT EXISTS lead_history_by_lead ON lead_history (lead);"
    "CREATE TABLE IF NOT EXISTS model_runs ("
    " run_id BLOB PRIMARY KEY CHECK (length(run_id) = 16), run_hex TEXT NOT NULL UNIQUE,"
    " model_id TEXT NOT NULL, model_version INTEGER NOT NULL, title TEXT NOT NULL,"
    " model_sha256 BLOB NOT NULL, as_of TEXT NOT NULL, outputs TEXT NOT NULL,"
    " actor TEXT NOT NULL, started_at INTEGER NOT NULL, finished_at INTEGER,"
    " status TEXT NOT NULL CHECK (status IN ('running','completed','failed')),"
    " failed_step TEXT, reason TEXT, local_keys INTEGER, leads INTEGER);"
    "CREATE INDEX IF NOT EXISTS model_runs_by_model ON model_runs (model_id);"
    "CREATE TABLE IF NOT EXISTS model_run_steps ("
    " run_id BLOB NOT NULL REFERENCES model_runs(run_id), pos INTEGER NOT NULL,"
    " name TEXT NOT NULL, mode TEXT NOT NULL, peer TEXT NOT NULL, peer2 TEXT,"
    " request_id BLOB, request_id2 BLOB, sent INTEGER NOT NULL,"
    " result_size INTEGER NOT NULL, keys_after INTEGER NOT NULL, skipped INTEGER NOT NULL,"
    " PRIMARY KEY (run_id, pos));"
    "CREATE INDEX IF NOT EXISTS lead_leads_by_run ON lead_leads (model_run);";

static const char *const status_names[] = {
	"new", "verifying", "confirmed", "dismissed", "referred",
};

/* allowed[from] is a bit set of the statuses `from` may move to. */
#define B(s) (1u << (s))
static const unsigned allowed[] = {
	[XZ_LEAD_NEW] = B(XZ_LEAD_VERIFYING) | B(XZ_LEAD_DISMISSED),
	[XZ_LEAD_VERIFYING] = B(XZ_LEAD_CONFIRMED) | B(XZ_LEAD_DISMISSED),
	[XZ_LEAD_CONFIRMED] = B(XZ_LEAD_REFERRED) | B(XZ_LEAD_VERIFYING),
	[XZ_LEAD_DISMISSED] = B(XZ_LEAD_VERIFYING),
	[XZ_LEAD_REFERRED] = 0,
};
#undef B

const char *
xz_lead_status_name(int status)
{
	if (status < XZ_LEAD_NEW || status > XZ_LEAD_REFERRED)
		return NULL;
	return status_names[status];
}

int
xz_lead_status_from_name(const char *name, enum xz_lead_status *out)
{
	for (int i = XZ_LEAD_NEW; i <= XZ_LEAD_REFERRED; i++) {
		if (strcmp(name, status_names[i]) == 0) {
			*out = (enum xz_lead_status)i;
			return 0;
		}
	}
	return -1;
}

int
xz_lead_transition_allowed(enum xz_lead_status from, enum xz_lead_status to)
{
	if ((int)from < XZ_LEAD_NEW || from > XZ_LEAD_REFERRED ||
	    (int)to < XZ_LEAD_NEW || to > XZ_LEAD_REFERRED)
		return 0;
	return (allowed[from] >> to) & 1u;
}

int
xz_lead_parse_request_id(const char *hex, uint8_t id[16])
{
	size_t len = 0;

	if (hex == NULL || strlen(hex) != 32)
		return -1;
	for (size_t i = 0; i < 32; i++)
		if (!((hex[i] >= '0' && hex[i] <= '9') || (hex[i] >= 'a' && hex[i] <= 'f') ||
		    (hex[i] >= 'A' && hex[i] <= 'F')))
			return -1;
	if (sodium_hex2bin(id, 16, hex, 32, NULL, &len, NULL) != 0 || len != 16)
		return -1;
	return 0;
}

static int
ensure_schema(struct xz_node *node, struct xz_diag *d)
{
	if (sqlite3_exec(xz_node_db(node), leads_schema, NULL, NULL, NULL) != SQLITE_OK)
		return xz_node_db_error(node, "creating the lead tables", d);
	return 0;
}

static int
table_exists(struct xz_node *node, const char *name, int *yes, struct xz_diag *d)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if (sqlite3_prepare_v2(xz_node_db(node), "SELECT 1 FROM sqlite_master WHERE "
	    "type = 'table' AND name = ?", -1, &st, NULL) != SQLITE_OK)
		return xz_node_db_error(node, "reading the store schema", d);
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	*yes = rc == SQLITE_ROW;
	sqlite3_finalize(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return xz_node_db_error(node, "reading the store schema", d);
	return 0;
}

static void
hex_id(const uint8_t id[16], char out[33])
{
	sodium_bin2hex(out, 33, id, 16);
}

/* ---- create ---- */

struct create_ctx {
	const uint8_t *rid;
	const struct xz_request *req;
	const char *actor;
	uint64_t created;
	int already;
};

/* Already created?  Sets c->already and c->created from lead_requests. */
static int
check_done(struct xz_node *node, struct create_ctx *c, struct xz_diag *d)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if (sqlite3_prepare_v2(xz_node_db(node), "SELECT leads FROM lead_requests WHERE "
	    "request_id = ?", -1, &st, NULL) != SQLITE_OK)
		return xz_node_db_error(node, "reading lead_requests", d);
	sqlite3_bind_blob(st, 1, c->rid, 16, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		c->already = 1;
		c->created = (uint64_t)sqlite3_column_int64(st, 0);
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return xz_node_db_error(node, "reading lead_requests", d);
	return 0;
}

/* The join's mode, or a message saying why there is nothing to make leads of. */
static int
join_mode(struct xz_node *node, const uint8_t *rid, char mode[16], struct xz_diag *d)
{
	sqlite3_stmt *st = NULL;
	char hex[33];
	int yes = 0, rc;

	hex_id(rid, hex);
	if (table_exists(node, "join_results", &yes, d) != 0)
		return -1;
	if (!yes)
		return xz_diag_set(d, "this node has no completed joins: run 'xiezhi join' "
		    "first, then create leads from its request id");
	if (sqlite3_prepare_v2(xz_node_db(node), "SELECT mode FROM join_results WHERE "
	    "request_id = ?", -1, &st, NULL) != SQLITE_OK)
		return xz_node_db_error(node, "reading join_results", d);
	sqlite3_bind_blob(st, 1, rid, 16, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		snprintf(mode, 16, "%s", (const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	if (rc == SQLITE_DONE)
		return xz_diag_set(d, "no completed join with request id %s in this node's "
		    "store ('xiezhi audit log' lists the joins; a refused or aborted join "
		    "has no result)", hex);
	if (rc != SQLITE_ROW)
		return xz_node_db_error(node, "reading join_results", d);
	if (strcmp(mode, "intersect") != 0 && strcmp(mode, "difference") != 0 &&
	    strcmp(mode, "delegated") != 0)
		return xz_diag_set(d, "request %s was a %s join: it gave a count, not "
		    "records, so it has no leads", hex, mode);
	return 0;
}

static void
bind_opt_text(sqlite3_stmt *st, int i, const struct xz_request *req, const char *s)
{
	if (req != NULL && s[0] != '\0')
		sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, i);
}

static int
insert_request(struct xz_node *node, struct create_ctx *c, int64_t now, struct xz_diag *d)
{
	const struct xz_request *q = c->req;
	sqlite3_stmt *st = NULL;
	int rc;

	if (sqlite3_prepare_v2(xz_node_db(node), "INSERT INTO lead_requests VALUES "
	    "(?,?,?,0,?,?,?,?)", -1, &st, NULL) != SQLITE_OK)
		return xz_node_db_error(node, "storing lead_requests", d);
	sqlite3_bind_blob(st, 1, c->rid, 16, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, now);
	sqlite3_bind_text(st, 3, c->actor, -1, SQLITE_STATIC);
	bind_opt_text(st, 4, q, q != NULL ? q->purpose : "");
	bind_opt_text(st, 5, q, q != NULL ? q->case_number : "");
	bind_opt_text(st, 6, q, q != NULL ? q->legal_basis : "");
	bind_opt_text(st, 7, q, q != NULL ? q->policy_id : "");
	rc = sqlite3_step(st) == SQLITE_DONE ? 0 :
	    xz_node_db_error(node, "storing lead_requests", d);
	sqlite3_finalize(st);
	return rc;
}

/* Copies the join's rows into lead_leads and gives each a first history row. */
static int
insert_leads(struct xz_node *node, struct create_ctx *c, const char *mode, int64_t now,
    struct xz_diag *d)
{
	sqlite3 *db = xz_node_db(node);
	sqlite3_stmt *st = NULL;
	int rc = -1;

	if (sqlite3_prepare_v2(db, "INSERT INTO lead_leads (request_id, pos, mode, k, labels,"
	    " model_run, status, created_at, updated_at) SELECT request_id, pos, ?, k, labels,"
	    " NULL, 'new', ?, ? FROM join_result_rows WHERE request_id = ? ORDER BY pos",
	    -1, &st, NULL) != SQLITE_OK)
		return xz_node_db_error(node, "creating leads", d);
	sqlite3_bind_text(st, 1, mode, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, now);
	sqlite3_bind_int64(st, 3, now);
	sqlite3_bind_blob(st, 4, c->rid, 16, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE) {
		xz_node_db_error(node, "creating leads", d);
		goto done;
	}
	c->created = (uint64_t)sqlite3_changes(db);
	sqlite3_finalize(st);
	st = NULL;
	if (sqlite3_prepare_v2(db, "INSERT INTO lead_history (lead, at, actor, from_status,"
	    " to_status, note) SELECT id, ?, ?, NULL, 'new', 'created from the join result'"
	    " FROM lead_leads WHERE request_id = ?", -1, &st, NULL) != SQLITE_OK) {
		xz_node_db_error(node, "creating lead history", d);
		goto done;
	}
	sqlite3_bind_int64(st, 1, now);
	sqlite3_bind_text(st, 2, c->actor, -1, SQLITE_STATIC);
	sqlite3_bind_blob(st, 3, c->rid, 16, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE) {
		xz_node_db_error(node, "creating lead history", d);
		goto done;
	}
	sqlite3_finalize(st);
	st = NULL;
	if (sqlite3_prepare_v2(db, "UPDATE lead_requests SET leads = ? WHERE request_id = ?",
	    -1, &st, NULL) != SQLITE_OK) {
		xz_node_db_error(node, "storing lead_requests", d);
		goto done;
	}
	sqlite3_bind_int64(st, 1, (int64_t)c->created);
	sqlite3_bind_blob(st, 2, c->rid, 16, SQLITE_STATIC);
	rc = sqlite3_step(st) == SQLITE_DONE ? 0 :
	    xz_node_db_error(node, "storing lead_requests", d);
done:
	sqlite3_finalize(st);
	return rc;
}

static int
create_tx(struct xz_node *node, void *arg, struct xz_diag *d)
{
	struct create_ctx *c = arg;
	int64_t now = (int64_t)time(NULL);
	char mode[16] = "";

	if (ensure_schema(node, d) != 0 || check_done(node, c, d) != 0)
		return -1;
	if (c->already)
		return 0;
	if (join_mode(node, c->rid, mode, d) != 0 || insert_request(node, c, now, d) != 0)
		return -1;
	return insert_leads(node, c, mode, now, d);
}

int
xz_leads_create(struct xz_node *node, const uint8_t request_id[16],
    const struct xz_request *req, const char *actor, uint64_t *created,
    struct xz_diag *d)
{
	struct create_ctx c = { .rid = request_id, .req = req, .actor = actor };
	char a[33], b[33];

	if (req != NULL && sodium_memcmp(req->id, request_id, 16) != 0) {
		hex_id(req->id, a);
		hex_id(request_id, b);
		return xz_diag_set(d, "the request file is request %s, not %s: give the "
		    "file of the join the leads come from", a, b);
	}
	if (xz_node_transaction(node, create_tx, &c, d) != 0)
		return -1;
	*created = c.created;
	return c.already ? 1 : 0;
}

/* ---- reading ---- */

void
xz_lead_release(struct xz_lead *l)
{
	if (l == NULL)
		return;
	free(l->key);
	free(l->labels);
	free(l->model_run);
	memset(l, 0, sizeof(*l));
}

static char *
col_dup(sqlite3_stmt *st, int i)
{
	const unsigned char *t = sqlite3_column_text(st, i);

	return t != NULL ? strdup((const char *)t) : NULL;
}

#define LEAD_COLUMNS "id, request_id, mode, k, labels, model_run, status, created_at," \
	" updated_at"

/* Reads the current row (LEAD_COLUMNS) into *l; -1 on a row the schema
 * should not allow or when out of memory. */
static int
read_lead(sqlite3_stmt *st, struct xz_lead *l, struct xz_diag *d)
{
	enum xz_lead_status s;
	const char *status = (const char *)sqlite3_column_text(st, 6);

	memset(l, 0, sizeof(*l));
	l->id = sqlite3_column_int64(st, 0);
	if (sqlite3_column_bytes(st, 1) != 16 || status == NULL ||
	    xz_lead_status_from_name(status, &s) != 0)
		return xz_diag_set(d, "lead %lld is malformed in the store: run 'xiezhi "
		    "store check'", (long long)l->id);
	memcpy(l->request_id, sqlite3_column_blob(st, 1), 16);
	snprintf(l->mode, sizeof(l->mode), "%s", (const char *)sqlite3_column_text(st, 2));
	l->key = col_dup(st, 3);
	l->labels = col_dup(st, 4);
	l->model_run = col_dup(st, 5);
	l->status = s;
	l->created_at = sqlite3_column_int64(st, 7);
	l->updated_at = sqlite3_column_int64(st, 8);
	if (l->key == NULL || (l->labels == NULL && sqlite3_column_type(st, 4) != SQLITE_NULL) ||
	    (l->model_run == NULL && sqlite3_column_type(st, 5) != SQLITE_NULL)) {
		xz_lead_release(l);
		return xz_diag_set(d, "out of memory");
	}
	return 0;
}

int
xz_leads_foreach(struct xz_node *node, const struct xz_lead_filter *f,
    int (*fn)(void *arg, const struct xz_lead *l), void *arg, struct xz_diag *d)
{
	sqlite3_stmt *st = NULL;
	struct xz_lead l;
	int rc = -1, step;

	if (ensure_schema(node, d) != 0)
		return -1;
	if (sqlite3_prepare_v2(xz_node_db(node), "SELECT " LEAD_COLUMNS " FROM lead_leads"
	    " WHERE (?1 IS NULL OR request_id = ?1) AND (?2 IS NULL OR status = ?2)"
	    " AND (?3 IS NULL OR model_run IN (SELECT run_hex FROM model_runs"
	    " WHERE model_id = ?3)) ORDER BY id", -1, &st, NULL) != SQLITE_OK)
		return xz_node_db_error(node, "reading leads", d);
	if (f != NULL && f->request_id != NULL)
		sqlite3_bind_blob(st, 1, f->request_id, 16, SQLITE_STATIC);
	if (f != NULL && f->status >= 0)
		sqlite3_bind_text(st, 2, xz_lead_status_name(f->status), -1, SQLITE_STATIC);
	if (f != NULL && f->model != NULL)
		sqlite3_bind_text(st, 3, f->model, -1, SQLITE_STATIC);
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		int r;
		if (read_lead(st, &l, d) != 0)
			goto done;
		r = fn(arg, &l);
		xz_lead_release(&l);
		if (r != 0) {
			rc = r;
			goto done;
		}
	}
	rc = step == SQLITE_DONE ? 0 : xz_node_db_error(node, "reading leads", d);
done:
	sqlite3_finalize(st);
	return rc;
}

int
xz_lead_get(struct xz_node *node, int64_t id, struct xz_lead *out, struct xz_diag *d)
{
	sqlite3_stmt *st = NULL;
	int rc = -1, step;

	if (ensure_schema(node, d) != 0)
		return -1;
	if (sqlite3_prepare_v2(xz_node_db(node), "SELECT " LEAD_COLUMNS " FROM lead_leads"
	    " WHERE id = ?", -1, &st, NULL) != SQLITE_OK)
		return xz_node_db_error(node, "reading a lead", d);
	sqlite3_bind_int64(st, 1, id);
	step = sqlite3_step(st);
	if (step == SQLITE_ROW)
		rc = read_lead(st, out, d);
	else if (step == SQLITE_DONE)
		xz_diag_set(d, "there is no lead %lld ('xiezhi leads list' shows them)",
		    (long long)id);
	else
		xz_node_db_error(node, "reading a lead", d);
	sqlite3_finalize(st);
	return rc;
}

static const char *
col_text(sqlite3_stmt *st, int i)
{
	const unsigned char *t = sqlite3_column_text(st, i);

	return t != NULL ? (const char *)t : "";
}

int
xz_lead_history(struct xz_node *node, int64_t id,
    int (*fn)(void *arg, const struct xz_lead_change *c), void *arg, struct xz_diag *d)
{
	sqlite3_stmt *st = NULL;
	int rc = 0, step;

	if (ensure_schema(node, d) != 0)
		return -1;
	if (sqlite3_prepare_v2(xz_node_db(node), "SELECT at, actor, from_status, to_status,"
	    " note FROM lead_history WHERE lead = ? ORDER BY rowid", -1, &st, NULL) != SQLITE_OK)
		return xz_node_db_error(node, "reading lead history", d);
	sqlite3_bind_int64(st, 1, id);
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		struct xz_lead_change c = { sqlite3_column_int64(st, 0), col_text(st, 1),
		    col_text(st, 2), col_text(st, 3), col_text(st, 4) };
		if ((rc = fn(arg, &c)) != 0)
			break;
	}
	if (rc == 0 && step != SQLITE_DONE)
		rc = xz_node_db_error(node, "reading lead history", d);
	sqlite3_finalize(st);
	return rc;
}

static void
copy_col(sqlite3_stmt *st, int i, char *out, size_t cap)
{
	snprintf(out, cap, "%s", col_text(st, i));
}

int
xz_lead_request_info(struct xz_node *node, const uint8_t request_id[16],
    struct xz_lead_request *out, struct xz_diag *d)
{
	sqlite3_stmt *st = NULL;
	int yes = 0, step;

	memset(out, 0, sizeof(*out));
	if (ensure_schema(node, d) != 0 || table_exists(node, "join_results", &yes, d) != 0)
		return -1;
	if (yes) {
		if (sqlite3_prepare_v2(xz_node_db(node), "SELECT peer, mode, dataset, key_column,"
		    " completed_at, result_size FROM join_results WHERE request_id = ?", -1, &st,
		    NULL) != SQLITE_OK)
			return xz_node_db_error(node, "reading join_results", d);
		sqlite3_bind_blob(st, 1, request_id, 16, SQLITE_STATIC);
		if ((step = sqlite3_step(st)) == SQLITE_ROW) {
			copy_col(st, 0, out->peer, sizeof(out->peer));
			copy_col(st, 1, out->mode, sizeof(out->mode));
			copy_col(st, 2, out->dataset, sizeof(out->dataset));
			copy_col(st, 3, out->key_column, sizeof(out->key_column));
			out->completed_at = sqlite3_column_int64(st, 4);
			out->result_size = (uint64_t)sqlite3_column_int64(st, 5);
		}
		sqlite3_finalize(st);
		if (step != SQLITE_ROW && step != SQLITE_DONE)
			return xz_node_db_error(node, "reading join_results", d);
	}
	if (sqlite3_prepare_v2(xz_node_db(node), "SELECT purpose, case_number, legal_basis,"
	    " policy FROM lead_requests WHERE request_id = ? AND (purpose IS NOT NULL OR"
	    " case_number IS NOT NULL)", -1, &st, NULL) != SQLITE_OK)
		return xz_node_db_error(node, "reading lead_requests", d);
	sqlite3_bind_blob(st, 1, request_id, 16, SQLITE_STATIC);
	if ((step = sqlite3_step(st)) == SQLITE_ROW) {
		out->has_text = 1;
		copy_col(st, 0, out->purpose, sizeof(out->purpose));
		copy_col(st, 1, out->case_number, sizeof(out->case_number));
		copy_col(st, 2, out->legal_basis, sizeof(out->legal_basis));
		copy_col(st, 3, out->policy, sizeof(out->policy));
	}
	sqlite3_finalize(st);
	if (step != SQLITE_ROW && step != SQLITE_DONE)
		return xz_node_db_error(node, "reading lead_requests", d);
	return 0;
}

/* ---- update ---- */

struct update_ctx {
	int64_t id;
	enum xz_lead_status to;
	const char *note, *actor;
	uint8_t salt[16];
};

/*
 * The record names the lead by number and the note by a salted hash,
 * SHA-256(salt || note) with the 16 random salt bytes kept in the history
 * row: the key value and the analyst's words (which may quote it) stay in
 * the store, an auditor holding the store can still tie the record to the
 * note, and a short note cannot be guessed from the log alone.
 */
static int
audit_change(struct xz_node *node, const struct update_ctx *u, const struct xz_lead *l,
    struct xz_diag *d)
{
	char lead[24];
	struct xz_audit_field f[4];
	struct xz_audit_event ev = { XZ_AUDIT_LEAD_STATUS_CHANGED, u->actor, l->request_id,
	    f, 4 };
	crypto_hash_sha256_state h;

	snprintf(lead, sizeof(lead), "%lld", (long long)l->id);
	f[0] = (struct xz_audit_field){ .name = "lead", .kind = XZ_AUDIT_STR, .str = lead };
	f[1] = (struct xz_audit_field){ .name = "status", .kind = XZ_AUDIT_STR,
	    .str = xz_lead_status_name(u->to) };
	f[2] = (struct xz_audit_field){ .name = "from", .kind = XZ_AUDIT_STR,
	    .str = xz_lead_status_name(l->status) };
	f[3] = (struct xz_audit_field){ .name = "note_sha256", .kind = XZ_AUDIT_HASH };
	crypto_hash_sha256_init(&h);
	crypto_hash_sha256_update(&h, u->salt, sizeof(u->salt));
	crypto_hash_sha256_update(&h, (const unsigned char *)u->note, strlen(u->note));
	crypto_hash_sha256_final(&h, f[3].hash);
	return xz_audit_append(node, &ev, NULL, d);
}

static int
update_tx(struct xz_node *node, void *arg, struct xz_diag *d)
{
	struct update_ctx *u = arg;
	int64_t now = (int64_t)time(NULL);
	sqlite3_stmt *st = NULL;
	struct xz_lead l;
	int rc = -1;

	if (xz_lead_get(node, u->id, &l, d) != 0)
		return -1;
	if (!xz_lead_transition_allowed(l.status, u->to)) {
		xz_diag_set(d, "lead %lld is %s and cannot become %s (see 'xiezhi leads "
		    "update --help' for the allowed changes)", (long long)u->id,
		    xz_lead_status_name(l.status), xz_lead_status_name(u->to));
		goto done;
	}
	if (sqlite3_prepare_v2(xz_node_db(node), "UPDATE lead_leads SET status = ?, "
	    "updated_at = ? WHERE id = ?", -1, &st, NULL) != SQLITE_OK)
		goto db;
	sqlite3_bind_text(st, 1, xz_lead_status_name(u->to), -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, now);
	sqlite3_bind_int64(st, 3, u->id);
	if (sqlite3_step(st) != SQLITE_DONE)
		goto db;
	sqlite3_finalize(st);
	if (sqlite3_prepare_v2(xz_node_db(node), "INSERT INTO lead_history (lead, at, actor,"
	    " from_status, to_status, note, salt) VALUES (?,?,?,?,?,?,?)", -1, &st, NULL) != SQLITE_OK)
		goto db;
	sqlite3_bind_int64(st, 1, u->id);
	sqlite3_bind_int64(st, 2, now);
	sqlite3_bind_text(st, 3, u->actor, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, xz_lead_status_name(l.status), -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, xz_lead_status_name(u->to), -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 6, u->note, -1, SQLITE_STATIC);
	randombytes_buf(u->salt, sizeof(u->salt));
	sqlite3_bind_blob(st, 7, u->salt, sizeof(u->salt), SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE)
		goto db;
	rc = audit_change(node, u, &l, d);
	goto done;
db:
	xz_node_db_error(node, "changing the lead's status", d);
done:
	sqlite3_finalize(st);
	xz_lead_release(&l);
	return rc;
}

/* A note is text for people: bounded, not empty, no control characters
 * other than line breaks and tabs (it is printed on terminals). */
static int
note_ok(const char *note, struct xz_diag *d)
{
	size_t n = note != NULL ? strlen(note) : 0;

	if (n == 0)
		return xz_diag_set(d, "a note is required: say why the status changes");
	if (n > XZ_LEAD_NOTE_MAX)
		return xz_diag_set(d, "the note is %zu bytes; the limit is %d", n,
		    XZ_LEAD_NOTE_MAX);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)note[i];
		if ((c < 0x20 && c != '\n' && c != '\t') || c == 0x7f)
			return xz_diag_set(d, "the note contains a control character at "
			    "byte %zu", i + 1);
	}
	return 0;
}

int
xz_lead_update(struct xz_node *node, int64_t id, enum xz_lead_status to,
    const char *note, const char *actor, struct xz_diag *d)
{
	struct update_ctx u = { id, to, note, actor, {0} };

	if (xz_lead_status_name((int)to) == NULL)
		return xz_diag_set(d, "unknown lead status %d", (int)to);
	if (note_ok(note, d) != 0 || ensure_schema(node, d) != 0 ||
	    xz_audit_check_anchor(node, d) != 0)
		return -1;
	if (xz_node_transaction(node, update_tx, &u, d) != 0)
		return -1;
	return xz_audit_publish(node, d);
}

/* ---- export ---- */

struct export_ctx {
	FILE *f;
	enum xz_lead_format format;
	uint64_t n;
	/* XZ_LEAD_VALUES: the first lead's column names, each followed by a
	 * NUL, to compare the others with. */
	char *cols;
	size_t cols_len, cols_cap;
	int mismatch;
};

/* RFC 4180 §2: a field with a comma, quote, CR or LF is enclosed in double
 * quotes and each quote inside it doubled; others are written as they are. */
static void
csv_field(FILE *f, const char *s)
{
	if (s == NULL)
		return;
	if (strpbrk(s, ",\"\r\n") == NULL) {
		fputs(s, f);
		return;
	}
	fputc('"', f);
	for (; *s != '\0'; s++) {
		if (*s == '"')
			fputc('"', f);
		fputc(*s, f);
	}
	fputc('"', f);
}

static void
json_field(FILE *f, const char *name, const char *s, int comma)
{
	fprintf(f, "%s\"%s\": ", comma ? ", " : "", name);
	if (s == NULL)
		fputs("null", f);
	else
		xz_json_string(f, s);
}

struct values_row {
	struct export_ctx *c;
	char *names;
	size_t len, cap, n;
	int first;
};

static int
values_field(void *arg, const char *name, const char *value)
{
	struct values_row *v = arg;

	if (xz_buf_add(&v->names, &v->len, &v->cap, name) != 0 ||
	    xz_buf_add(&v->names, &v->len, &v->cap, "\x1f") != 0)
		return 2;
	if (v->n++ > 0)
		fputc(',', v->c->f);
	if (value != NULL)
		csv_field(v->c->f, value);
	return 0;
}

static int
values_name(void *arg, const char *name, const char *value)
{
	struct values_row *v = arg;

	(void)value;
	if (v->n++ > 0)
		fputc(',', v->c->f);
	csv_field(v->c->f, name);
	return 0;
}

/* One row of values; the first lead also writes the header.  The row is
 * written before its names are compared: on a mismatch the whole export
 * fails and its file is removed. */
static int
export_values(struct export_ctx *c, const struct xz_lead *l)
{
	struct values_row v = { .c = c };
	int r;

	if (l->labels == NULL) {
		c->mismatch = 1;
		return 1;
	}
	if (c->n == 0) {
		if (xz_lead_values(l->labels, values_name, &v) != 0) {
			c->mismatch = 1;
			return 1;
		}
		fputs("\r\n", c->f);
		v.n = 0;
	}
	r = xz_lead_values(l->labels, values_field, &v);
	fputs("\r\n", c->f);
	if (r == 0 && c->n == 0) {
		c->cols = v.names;
		c->cols_len = v.len;
		c->cols_cap = v.cap;
		v.names = NULL;
	} else if (r == 0 && (v.len != c->cols_len || memcmp(v.names, c->cols, v.len) != 0)) {
		r = 1;
	}
	free(v.names);
	if (r != 0) {
		c->mismatch = 1;
		return 1;
	}
	c->n++;
	return ferror(c->f) ? 1 : 0;
}

static int
export_one(void *arg, const struct xz_lead *l)
{
	struct export_ctx *c = arg;
	char rid[33], id[24];

	if (c->format == XZ_LEAD_VALUES)
		return export_values(c, l);

	hex_id(l->request_id, rid);
	snprintf(id, sizeof(id), "%lld", (long long)l->id);
	if (c->format == XZ_LEAD_CSV) {
		const char *v[] = { id, rid, l->mode, l->key, l->labels, l->model_run,
		    xz_lead_status_name(l->status) };
		for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
			if (i > 0)
				fputc(',', c->f);
			csv_field(c->f, v[i]);
		}
		fprintf(c->f, ",%lld,%lld\r\n", (long long)l->created_at,
		    (long long)l->updated_at);
	} else {
		fprintf(c->f, "%s\n  {\"id\": %s", c->n > 0 ? "," : "", id);
		json_field(c->f, "request_id", rid, 1);
		json_field(c->f, "mode", l->mode, 1);
		json_field(c->f, "key", l->key, 1);
		json_field(c->f, "labels", l->labels, 1);
		json_field(c->f, "model_run", l->model_run, 1);
		json_field(c->f, "status", xz_lead_status_name(l->status), 1);
		fprintf(c->f, ", \"created_at\": %lld, \"updated_at\": %lld}",
		    (long long)l->created_at, (long long)l->updated_at);
	}
	c->n++;
	return ferror(c->f) ? 1 : 0;
}

static int
write_leads(struct xz_node *node, const struct xz_lead_filter *flt, struct export_ctx *c,
    struct xz_diag *d)
{
	int r;

	if (c->format == XZ_LEAD_CSV)
		fputs("id,request_id,mode,key,labels,model_run,status,created_at,"
		    "updated_at\r\n", c->f);
	else if (c->format == XZ_LEAD_JSON)
		fputs("[", c->f);
	r = xz_leads_foreach(node, flt, export_one, c, d);
	if (r > 0 && c->mismatch)
		return xz_diag_set(d, "the values format needs leads with the same columns: "
		    "lead %llu has others (or none); choose the leads of one model with "
		    "--model ID", (unsigned long long)c->n + 1);
	if (r > 0)
		return xz_diag_set(d, "writing the export failed: %s", strerror(errno));
	if (r < 0)
		return -1;
	if (c->format == XZ_LEAD_JSON)
		fputs(c->n > 0 ? "\n]\n" : "]\n", c->f);
	return 0;
}

/* SHA-256 of the file at fd (from its start), for the audit record. */
static int
hash_fd(int fd, uint8_t out[32], struct xz_diag *d)
{
	crypto_hash_sha256_state h;
	unsigned char buf[65536];
	ssize_t n;

	if (lseek(fd, 0, SEEK_SET) != 0)
		return xz_diag_set(d, "cannot reread the export: %s", strerror(errno));
	crypto_hash_sha256_init(&h);
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		crypto_hash_sha256_update(&h, buf, (unsigned long long)n);
	if (n < 0)
		return xz_diag_set(d, "cannot reread the export: %s", strerror(errno));
	crypto_hash_sha256_final(&h, out);
	return 0;
}

static int
audit_export(struct xz_node *node, const char *actor, enum xz_lead_format fmt,
    uint64_t n, const uint8_t hash[32], struct xz_diag *d)
{
	struct xz_audit_field f[4];
	struct xz_audit_event ev = { XZ_AUDIT_LEADS_EXPORTED, actor, NULL, f, 4 };

	f[0] = (struct xz_audit_field){ .name = "what", .kind = XZ_AUDIT_STR, .str = "leads" };
	f[1] = (struct xz_audit_field){ .name = "format", .kind = XZ_AUDIT_STR,
	    .str = fmt == XZ_LEAD_CSV ? "csv" : fmt == XZ_LEAD_JSON ? "json" : "values" };
	f[2] = (struct xz_audit_field){ .name = "count", .kind = XZ_AUDIT_INT, .num = n };
	f[3] = (struct xz_audit_field){ .name = "sha256", .kind = XZ_AUDIT_HASH };
	memcpy(f[3].hash, hash, 32);
	if (xz_audit_append(node, &ev, NULL, d) != 0)
		return -1;
	return xz_audit_publish(node, d);
}

/* fsync of the directory holding path, so the new name survives a crash. */
static int
sync_dir(const char *path, struct xz_diag *d)
{
	char *copy = strdup(path);
	int fd, rc = 0;

	if (copy == NULL)
		return xz_diag_set(d, "out of memory");
	fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || fsync(fd) != 0)
		rc = xz_diag_set(d, "cannot sync the directory of %s: %s", path,
		    strerror(errno));
	if (fd >= 0)
		close(fd);
	free(copy);
	return rc;
}

int
xz_leads_export(struct xz_node *node, const struct xz_lead_filter *flt,
    enum xz_lead_format format, const char *path, const char *actor,
    uint64_t *count, struct xz_diag *d)
{
	struct export_ctx c = { .format = format };
	size_t tlen = strlen(path) + 16;
	char *tmp = malloc(tlen);
	uint8_t hash[32];
	int fd = -1, linked = 0, rc = -1;

	if (tmp == NULL)
		return xz_diag_set(d, "out of memory");
	if (xz_audit_check_anchor(node, d) != 0)
		goto done;
	if (access(path, F_OK) == 0) {
		xz_diag_set(d, "%s already exists: leads exports never replace a file; "
		    "choose a new name", path);
		goto done;
	}
	snprintf(tmp, tlen, "%s.tmpXXXXXX", path);
	/* mkstemp creates the file 0600 and exclusively. */
	if ((fd = mkstemp(tmp)) < 0) {
		xz_diag_set(d, "cannot create a file next to %s: %s", path, strerror(errno));
		tmp[0] = '\0';
		goto done;
	}
	if ((c.f = fdopen(dup(fd), "w")) == NULL) {
		xz_diag_set(d, "cannot write %s: %s", tmp, strerror(errno));
		goto done;
	}
	if (write_leads(node, flt, &c, d) != 0)
		goto done;
	if (fflush(c.f) != 0 || ferror(c.f) || fsync(fd) != 0) {
		xz_diag_set(d, "writing %s failed: %s", tmp, strerror(errno));
		goto done;
	}
	if (hash_fd(fd, hash, d) != 0)
		goto done;
	/* link(2) refuses an existing name: the export never replaces a file,
	 * even one created since the check above. */
	if (link(tmp, path) != 0) {
		xz_diag_set(d, "cannot create %s: %s%s", path, strerror(errno),
		    errno == EEXIST ? " (leads exports never replace a file; choose a new "
		    "name)" : "");
		goto done;
	}
	linked = 1;
	if (sync_dir(path, d) != 0 || audit_export(node, actor, format, c.n, hash, d) != 0)
		goto done;
	*count = c.n;
	rc = 0;
done:
	if (c.f != NULL)
		fclose(c.f);
	if (fd >= 0)
		close(fd);
	if (tmp[0] != '\0' && fd >= 0)
		unlink(tmp);
	/* An export that is not on record does not stay on disk. */
	if (rc != 0 && linked)
		unlink(path);
	free(c.cols);
	free(tmp);
	return rc;
}

/* ---- lead values (flat JSON objects) ---- */

int
xz_buf_add(char **buf, size_t *len, size_t *cap, const char *text)
{
	size_t n = strlen(text);

	if (*len + n + 1 > *cap) {
		size_t nc = *cap ? *cap : 256;
		char *b;
		while (nc < *len + n + 1)
			nc *= 2;
		if ((b = malloc(nc)) == NULL)
			return -1;
		if (*buf != NULL) {
			memcpy(b, *buf, *len);
			/* The old buffer may hold identifiers: wipe before freeing. */
			sodium_memzero(*buf, *cap);
			free(*buf);
		}
		*buf = b;
		*cap = nc;
	}
	memcpy(*buf + *len, text, n + 1);
	*len += n;
	return 0;
}

int
xz_json_append(char **buf, size_t *len, size_t *cap, const char *s)
{
	char esc[8];

	if (xz_buf_add(buf, len, cap, "\"") != 0)
		return -1;
	for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
		const char *piece = esc;
		if (*p == '"')
			piece = "\\\"";
		else if (*p == '\\')
			piece = "\\\\";
		else if (*p < 0x20 || *p == 0x7f)
			snprintf(esc, sizeof(esc), "\\u%04x", *p);
		else {
			esc[0] = (char)*p;
			esc[1] = '\0';
		}
		if (xz_buf_add(buf, len, cap, piece) != 0)
			return -1;
	}
	return xz_buf_add(buf, len, cap, "\"");
}

#define VALUES_MAX (1u << 20)

struct jcur {
	const char *p, *end;
};

static void
jspace(struct jcur *c)
{
	while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' ||
	    *c->p == '\r'))
		c->p++;
}

static int
hex4(const char *p, unsigned *v)
{
	*v = 0;
	for (int i = 0; i < 4; i++) {
		char c = p[i];
		*v <<= 4;
		if (c >= '0' && c <= '9')
			*v |= (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			*v |= (unsigned)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			*v |= (unsigned)(c - 'A' + 10);
		else
			return -1;
	}
	return 0;
}

static size_t
utf8_put(unsigned cp, char *o)
{
	if (cp < 0x80) {
		o[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		o[0] = (char)(0xc0 | cp >> 6);
		o[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		o[0] = (char)(0xe0 | cp >> 12);
		o[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		o[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	o[0] = (char)(0xf0 | cp >> 18);
	o[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
	o[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
	o[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

/* A JSON string at c into a malloc'd, NUL-terminated *out. */
static int
jstring(struct jcur *c, char **out)
{
	size_t n = 0;
	char *o;

	if (c->p >= c->end || *c->p != '"')
		return -1;
	c->p++;
	if ((o = malloc((size_t)(c->end - c->p) + 1)) == NULL)
		return -1;
	while (c->p < c->end && *c->p != '"') {
		unsigned char ch = (unsigned char)*c->p;
		unsigned cp, lo;
		if (ch < 0x20)
			goto bad;
		if (ch != '\\') {
			o[n++] = (char)ch;
			c->p++;
			continue;
		}
		if (++c->p >= c->end)
			goto bad;
		switch (*c->p) {
		case '"': o[n++] = '"'; break;
		case '\\': o[n++] = '\\'; break;
		case '/': o[n++] = '/'; break;
		case 'b': o[n++] = '\b'; break;
		case 'f': o[n++] = '\f'; break;
		case 'n': o[n++] = '\n'; break;
		case 'r': o[n++] = '\r'; break;
		case 't': o[n++] = '\t'; break;
		case 'u':
			if (c->end - c->p < 5 || hex4(c->p + 1, &cp) != 0)
				goto bad;
			c->p += 4;
			if (cp >= 0xdc00 && cp <= 0xdfff)
				goto bad;
			if (cp >= 0xd800 && cp <= 0xdbff) {
				if (c->end - c->p < 7 || c->p[1] != '\\' || c->p[2] != 'u' ||
				    hex4(c->p + 3, &lo) != 0 || lo < 0xdc00 || lo > 0xdfff)
					goto bad;
				c->p += 6;
				cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
			}
			if (cp == 0)
				goto bad;	/* values are C strings */
			n += utf8_put(cp, o + n);
			break;
		default:
			goto bad;
		}
		c->p++;
	}
	if (c->p >= c->end)
		goto bad;
	c->p++;
	o[n] = '\0';
	*out = o;
	return 0;
bad:
	free(o);
	return -1;
}

int
xz_lead_values(const char *json, int (*fn)(void *arg, const char *name,
    const char *value), void *arg)
{
	size_t len = strlen(json);
	struct jcur c = { json, json + len };
	char *name = NULL, *value = NULL;
	int r = -1, first = 1;

	if (len > VALUES_MAX)
		return -1;
	jspace(&c);
	if (c.p >= c.end || *c.p++ != '{')
		return -1;
	for (;;) {
		jspace(&c);
		if (c.p < c.end && *c.p == '}' && first) {
			c.p++;
			break;
		}
		if (!first) {
			if (c.p < c.end && *c.p == '}') {
				c.p++;
				break;
			}
			if (c.p >= c.end || *c.p++ != ',')
				goto done;
			jspace(&c);
		}
		first = 0;
		if (jstring(&c, &name) != 0)
			goto done;
		jspace(&c);
		if (c.p >= c.end || *c.p++ != ':')
			goto done;
		jspace(&c);
		if (c.end - c.p >= 4 && memcmp(c.p, "null", 4) == 0) {
			c.p += 4;
		} else if (jstring(&c, &value) != 0) {
			goto done;
		}
		int fr = fn(arg, name, value);
		free(name);
		name = NULL;
		if (value != NULL) {
			sodium_memzero(value, strlen(value));
			free(value);
			value = NULL;
		}
		if (fr != 0) {
			r = fr;
			goto done;
		}
	}
	jspace(&c);
	r = c.p == c.end ? 0 : -1;
done:
	free(name);
	if (value != NULL) {
		sodium_memzero(value, strlen(value));
		free(value);
	}
	return r;
}

/* ---- model runs ---- */

/* Text for an audit string field: valid UTF-8 without control or
 * bidirectional characters (docs/audit-format.md §2.2), at most max bytes;
 * anything else becomes '?'. */
static void
audit_text(const char *in, char *out, size_t max)
{
	const unsigned char *p = (const unsigned char *)in;
	size_t o = 0;

	while (*p != '\0' && o + 4 < max) {
		size_t l = *p < 0x80 ? 1 : (*p >> 5) == 0x6 ? 2 : (*p >> 4) == 0xe ? 3 :
		    (*p >> 3) == 0x1e ? 4 : 0;
		uint32_t cp = l == 1 ? *p : l == 2 ? (*p & 0x1fu) : l == 3 ? (*p & 0x0fu) :
		    (*p & 0x07u);
		int ok = l > 0, shown;
		for (size_t i = 1; ok && i < l; i++) {
			ok = (p[i] & 0xc0) == 0x80;
			cp = cp << 6 | (p[i] & 0x3fu);
		}
		ok = ok && !(l == 2 && cp < 0x80) && !(l == 3 && cp < 0x800) &&
		    !(l == 4 && (cp < 0x10000 || cp > 0x10ffff)) &&
		    !(cp >= 0xd800 && cp <= 0xdfff);
		shown = cp >= 0x20 && !(cp >= 0x7f && cp <= 0x9f) &&
		    !(cp >= 0x202a && cp <= 0x202e) && !(cp >= 0x2066 && cp <= 0x2069);
		if (!ok || !shown) {
			/* One '?' per bad byte, or per character not to be shown. */
			out[o++] = '?';
			p += ok ? l : 1;
			continue;
		}
		memcpy(out + o, p, l);
		o += l;
		p += l;
	}
	out[o] = '\0';
}

static void
model_name(const struct xz_leads_run *r, char *buf, size_t cap)
{
	snprintf(buf, cap, "%s@%u", r->model_id, (unsigned)r->model_version);
}

struct run_tx {
	const struct xz_leads_run *r;
	const struct xz_leads_run_step *step;
	const char *failed_step, *reason;
	uint64_t local_keys, created;
};

static int
outputs_json(const struct xz_leads_run *r, char **out)
{
	size_t len = 0, cap = 0;

	*out = NULL;
	if (xz_buf_add(out, &len, &cap, "[") != 0)
		return -1;
	for (size_t i = 0; i < r->n_outputs; i++)
		if ((i > 0 && xz_buf_add(out, &len, &cap, ", ") != 0) ||
		    xz_json_append(out, &len, &cap, r->outputs[i]) != 0)
			return -1;
	return xz_buf_add(out, &len, &cap, "]");
}

static int
begin_tx(struct xz_node *node, void *arg, struct xz_diag *d)
{
	struct run_tx *t = arg;
	const struct xz_leads_run *r = t->r;
	char hex[33], model[XZ_NAME_MAX + 16], *outs = NULL;
	struct xz_audit_field f[4];
	struct xz_audit_event ev = { XZ_AUDIT_MODEL_RUN_STARTED, r->actor, r->run_id, f, 4 };
	sqlite3_stmt *st = NULL;
	int rc = -1;

	hex_id(r->run_id, hex);
	model_name(r, model, sizeof(model));
	if (outputs_json(r, &outs) != 0) {
		free(outs);
		return xz_diag_set(d, "out of memory");
	}
	if (sqlite3_prepare_v2(xz_node_db(node), "INSERT INTO model_runs (run_id, run_hex,"
	    " model_id, model_version, title, model_sha256, as_of, outputs, actor, started_at,"
	    " status) VALUES (?,?,?,?,?,?,?,?,?,?,'running')", -1, &st, NULL) != SQLITE_OK) {
		xz_node_db_error(node, "recording the model run", d);
		goto done;
	}
	sqlite3_bind_blob(st, 1, r->run_id, 16, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, hex, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, r->model_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, r->model_version);
	sqlite3_bind_text(st, 5, r->title, -1, SQLITE_STATIC);
	sqlite3_bind_blob(st, 6, r->model_sha256, 32, SQLITE_STATIC);
	sqlite3_bind_text(st, 7, r->as_of, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 8, outs, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 9, r->actor, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 10, (int64_t)time(NULL));
	if (sqlite3_step(st) != SQLITE_DONE) {
		xz_node_db_error(node, "recording the model run", d);
		goto done;
	}
	f[0] = (struct xz_audit_field){ .name = "model", .kind = XZ_AUDIT_STR, .str = model };
	f[1] = (struct xz_audit_field){ .name = "model_sha256", .kind = XZ_AUDIT_HASH };
	memcpy(f[1].hash, r->model_sha256, 32);
	f[2] = (struct xz_audit_field){ .name = "as_of", .kind = XZ_AUDIT_STR, .str = r->as_of };
	f[3] = (struct xz_audit_field){ .name = "steps", .kind = XZ_AUDIT_INT,
	    .num = r->n_steps };
	rc = xz_audit_append(node, &ev, NULL, d);
done:
	sqlite3_finalize(st);
	free(outs);
	return rc;
}

int
xz_leads_run_begin(struct xz_node *node, const struct xz_leads_run *r, struct xz_diag *d)
{
	struct run_tx t = { .r = r };

	if (ensure_schema(node, d) != 0 || xz_audit_check_anchor(node, d) != 0 ||
	    xz_node_transaction(node, begin_tx, &t, d) != 0)
		return -1;
	return xz_audit_publish(node, d);
}

int
xz_leads_run_step(struct xz_node *node, const uint8_t run_id[16],
    const struct xz_leads_run_step *s, struct xz_diag *d)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if (sqlite3_prepare_v2(xz_node_db(node), "INSERT INTO model_run_steps VALUES "
	    "(?,?,?,?,?,?,?,?,?,?,?,?)", -1, &st, NULL) != SQLITE_OK)
		return xz_node_db_error(node, "recording a model step", d);
	sqlite3_bind_blob(st, 1, run_id, 16, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (int64_t)s->pos);
	sqlite3_bind_text(st, 3, s->name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, s->mode, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, s->peer[0], -1, SQLITE_STATIC);
	if (s->peer[1] != NULL)
		sqlite3_bind_text(st, 6, s->peer[1], -1, SQLITE_STATIC);
	for (int i = 0; i < 2; i++)
		if (s->request_id[i] != NULL && (i == 0 || s->peer[1] != NULL))
			sqlite3_bind_blob(st, 7 + i, s->request_id[i], 16, SQLITE_STATIC);
	sqlite3_bind_int64(st, 9, (int64_t)s->sent);
	sqlite3_bind_int64(st, 10, (int64_t)s->result_size);
	sqlite3_bind_int64(st, 11, (int64_t)s->keys_after);
	sqlite3_bind_int(st, 12, s->skipped);
	rc = sqlite3_step(st) == SQLITE_DONE ? 0 :
	    xz_node_db_error(node, "recording a model step", d);
	sqlite3_finalize(st);
	return rc;
}

static int
fail_tx(struct xz_node *node, void *arg, struct xz_diag *d)
{
	struct run_tx *t = arg;
	const struct xz_leads_run *r = t->r;
	char model[XZ_NAME_MAX + 16], reason[1000], step[XZ_NAME_MAX + 32];
	struct xz_audit_field f[3];
	struct xz_audit_event ev = { XZ_AUDIT_MODEL_RUN_FAILED, r->actor, r->run_id, f, 3 };
	sqlite3_stmt *st = NULL;
	int rc;

	model_name(r, model, sizeof(model));
	audit_text(t->reason, reason, sizeof(reason));
	snprintf(step, sizeof(step), "%s", t->failed_step != NULL ? t->failed_step :
	    "(before the first step)");
	if (sqlite3_prepare_v2(xz_node_db(node), "UPDATE model_runs SET status = 'failed',"
	    " finished_at = ?, failed_step = ?, reason = ? WHERE run_id = ?", -1, &st,
	    NULL) != SQLITE_OK)
		return xz_node_db_error(node, "recording the failed run", d);
	sqlite3_bind_int64(st, 1, (int64_t)time(NULL));
	if (t->failed_step != NULL)
		sqlite3_bind_text(st, 2, t->failed_step, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, reason, -1, SQLITE_STATIC);
	sqlite3_bind_blob(st, 4, r->run_id, 16, SQLITE_STATIC);
	rc = sqlite3_step(st) == SQLITE_DONE ? 0 :
	    xz_node_db_error(node, "recording the failed run", d);
	sqlite3_finalize(st);
	if (rc != 0)
		return -1;
	f[0] = (struct xz_audit_field){ .name = "model", .kind = XZ_AUDIT_STR, .str = model };
	f[1] = (struct xz_audit_field){ .name = "step", .kind = XZ_AUDIT_STR, .str = step };
	f[2] = (struct xz_audit_field){ .name = "reason", .kind = XZ_AUDIT_STR, .str = reason };
	return xz_audit_append(node, &ev, NULL, d);
}

int
xz_leads_run_fail(struct xz_node *node, const struct xz_leads_run *r, const char *step,
    const char *reason, struct xz_diag *d)
{
	struct run_tx t = { .r = r, .failed_step = step, .reason = reason };

	/* A half-built lead set is rolled back with its transaction; the
	 * working set is never written as leads. */
	if (xz_node_transaction(node, fail_tx, &t, d) != 0)
		return -1;
	return xz_audit_publish(node, d);
}

static int
insert_run_leads(struct xz_node *node, struct run_tx *t, int64_t now, struct xz_diag *d)
{
	const struct xz_leads_run *r = t->r;
	sqlite3 *db = xz_node_db(node);
	sqlite3_stmt *rd = NULL, *ins = NULL;
	char hex[33];
	int step, rc = -1;

	hex_id(r->run_id, hex);
	if (sqlite3_prepare_v2(db, "SELECT k, vals FROM xz_model_leads ORDER BY rowid", -1, &rd,
	    NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db, "INSERT INTO lead_leads (request_id, pos, mode, k, labels,"
	    " model_run, status, created_at, updated_at) VALUES (?, ?, 'model', ?, ?, ?, 'new',"
	    " ?, ?)", -1, &ins, NULL) != SQLITE_OK) {
		xz_node_db_error(node, "creating the run's leads", d);
		goto done;
	}
	while ((step = sqlite3_step(rd)) == SQLITE_ROW) {
		sqlite3_reset(ins);
		sqlite3_bind_blob(ins, 1, r->run_id, 16, SQLITE_STATIC);
		sqlite3_bind_int64(ins, 2, (int64_t)t->created);
		sqlite3_bind_value(ins, 3, sqlite3_column_value(rd, 0));
		sqlite3_bind_value(ins, 4, sqlite3_column_value(rd, 1));
		sqlite3_bind_text(ins, 5, hex, -1, SQLITE_STATIC);
		sqlite3_bind_int64(ins, 6, now);
		sqlite3_bind_int64(ins, 7, now);
		if (sqlite3_step(ins) != SQLITE_DONE)
			break;
		t->created++;
	}
	if (step != SQLITE_DONE) {
		xz_node_db_error(node, "creating the run's leads", d);
		goto done;
	}
	rc = 0;
done:
	sqlite3_finalize(rd);
	sqlite3_finalize(ins);
	return rc;
}

/* The step request ids of the run, comma-separated hex, in step order. */
static int
run_requests(struct xz_node *node, const uint8_t run_id[16], char *out, size_t cap,
    struct xz_diag *d)
{
	sqlite3_stmt *st = NULL;
	size_t n = 0;
	int step;

	out[0] = '\0';
	if (sqlite3_prepare_v2(xz_node_db(node), "SELECT request_id, request_id2 FROM "
	    "model_run_steps WHERE run_id = ? ORDER BY pos", -1, &st, NULL) != SQLITE_OK)
		return xz_node_db_error(node, "reading the run's steps", d);
	sqlite3_bind_blob(st, 1, run_id, 16, SQLITE_STATIC);
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		for (int i = 0; i < 2; i++) {
			char hex[33];
			if (sqlite3_column_bytes(st, i) != 16)
				continue;
			hex_id(sqlite3_column_blob(st, i), hex);
			if (n + 34 < cap)
				n += (size_t)snprintf(out + n, cap - n, "%s%s", n ? "," : "", hex);
		}
	}
	sqlite3_finalize(st);
	return step == SQLITE_DONE ? 0 : xz_node_db_error(node, "reading the run's steps", d);
}

/* The run's lead_requests row (the leads refer to it), before the leads. */
static int
insert_run_request(struct xz_node *node, const struct xz_leads_run *r, int64_t now,
    struct xz_diag *d)
{
	sqlite3_stmt *st = NULL;
	char policy[XZ_NAME_MAX + 24];
	int ok;

	snprintf(policy, sizeof(policy), "model %s@%u", r->model_id, (unsigned)r->model_version);
	ok = sqlite3_prepare_v2(xz_node_db(node), "INSERT INTO lead_requests VALUES "
	    "(?,?,?,0,?,?,?,?)", -1, &st, NULL) == SQLITE_OK;
	if (ok) {
		sqlite3_bind_blob(st, 1, r->run_id, 16, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, now);
		sqlite3_bind_text(st, 3, r->actor, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 4, r->purpose, -1, SQLITE_STATIC);
		if (r->case_number != NULL && r->case_number[0] != '\0')
			sqlite3_bind_text(st, 5, r->case_number, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 6, r->legal_basis, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 7, policy, -1, SQLITE_STATIC);
		ok = sqlite3_step(st) == SQLITE_DONE;
	}
	sqlite3_finalize(st);
	return ok ? 0 : xz_node_db_error(node, "recording the run's leads", d);
}

static int
finish_meta(struct xz_node *node, struct run_tx *t, int64_t now, struct xz_diag *d)
{
	const struct xz_leads_run *r = t->r;
	sqlite3 *db = xz_node_db(node);
	sqlite3_stmt *st = NULL;
	int ok;

	ok = sqlite3_prepare_v2(db, "UPDATE lead_requests SET leads = ? WHERE request_id = ?",
	    -1, &st, NULL) == SQLITE_OK;
	if (ok) {
		sqlite3_bind_int64(st, 1, (int64_t)t->created);
		sqlite3_bind_blob(st, 2, r->run_id, 16, SQLITE_STATIC);
		ok = sqlite3_step(st) == SQLITE_DONE;
	}
	sqlite3_finalize(st);
	st = NULL;
	ok = ok && sqlite3_prepare_v2(db, "INSERT INTO lead_history (lead, at, actor,"
	    " from_status, to_status, note) SELECT id, ?, ?, NULL, 'new', 'created by the"
	    " model run' FROM lead_leads WHERE request_id = ?", -1, &st, NULL) == SQLITE_OK;
	if (ok) {
		sqlite3_bind_int64(st, 1, now);
		sqlite3_bind_text(st, 2, r->actor, -1, SQLITE_STATIC);
		sqlite3_bind_blob(st, 3, r->run_id, 16, SQLITE_STATIC);
		ok = sqlite3_step(st) == SQLITE_DONE;
	}
	sqlite3_finalize(st);
	st = NULL;
	ok = ok && sqlite3_prepare_v2(db, "UPDATE model_runs SET status = 'completed',"
	    " finished_at = ?, local_keys = ?, leads = ? WHERE run_id = ? AND status ="
	    " 'running'", -1, &st, NULL) == SQLITE_OK;
	if (ok) {
		sqlite3_bind_int64(st, 1, now);
		sqlite3_bind_int64(st, 2, (int64_t)t->local_keys);
		sqlite3_bind_int64(st, 3, (int64_t)t->created);
		sqlite3_bind_blob(st, 4, r->run_id, 16, SQLITE_STATIC);
		ok = sqlite3_step(st) == SQLITE_DONE && sqlite3_changes(db) == 1;
	}
	sqlite3_finalize(st);
	return ok ? 0 : xz_node_db_error(node, "recording the completed run", d);
}

static int
finish_tx(struct xz_node *node, void *arg, struct xz_diag *d)
{
	struct run_tx *t = arg;
	const struct xz_leads_run *r = t->r;
	int64_t now = (int64_t)time(NULL);
	char model[XZ_NAME_MAX + 16], reqs[XZ_AUDIT_STR_MAX];
	struct xz_audit_field f[6];
	struct xz_audit_event ev = { XZ_AUDIT_MODEL_RUN_COMPLETED, r->actor, r->run_id, f, 6 };

	t->created = 0;
	if (insert_run_request(node, r, now, d) != 0 || insert_run_leads(node, t, now, d) != 0 ||
	    finish_meta(node, t, now, d) != 0 ||
	    run_requests(node, r->run_id, reqs, sizeof(reqs), d) != 0)
		return -1;
	model_name(r, model, sizeof(model));
	f[0] = (struct xz_audit_field){ .name = "model", .kind = XZ_AUDIT_STR, .str = model };
	f[1] = (struct xz_audit_field){ .name = "model_sha256", .kind = XZ_AUDIT_HASH };
	memcpy(f[1].hash, r->model_sha256, 32);
	f[2] = (struct xz_audit_field){ .name = "steps", .kind = XZ_AUDIT_INT, .num = r->n_steps };
	f[3] = (struct xz_audit_field){ .name = "requests", .kind = XZ_AUDIT_STR, .str = reqs };
	f[4] = (struct xz_audit_field){ .name = "local_keys", .kind = XZ_AUDIT_INT,
	    .num = t->local_keys };
	f[5] = (struct xz_audit_field){ .name = "leads", .kind = XZ_AUDIT_INT, .num = t->created };
	return xz_audit_append(node, &ev, NULL, d);
}

int
xz_leads_run_finish(struct xz_node *node, const struct xz_leads_run *r, uint64_t local_keys,
    uint64_t *created, struct xz_diag *d)
{
	struct run_tx t = { .r = r, .local_keys = local_keys };

	if (xz_audit_check_anchor(node, d) != 0 ||
	    xz_node_transaction(node, finish_tx, &t, d) != 0)
		return -1;
	*created = t.created;
	return xz_audit_publish(node, d);
}

int
xz_lead_run_info(struct xz_node *node, const char *run_hex, struct xz_lead_run_info *out,
    struct xz_diag *d)
{
	sqlite3_stmt *st = NULL;
	int step;

	memset(out, 0, sizeof(*out));
	if (ensure_schema(node, d) != 0)
		return -1;
	if (sqlite3_prepare_v2(xz_node_db(node), "SELECT model_id, model_version, title, as_of,"
	    " status, outputs, started_at, finished_at, leads, run_id FROM model_runs WHERE"
	    " run_hex = ?", -1, &st, NULL) != SQLITE_OK)
		return xz_node_db_error(node, "reading model_runs", d);
	sqlite3_bind_text(st, 1, run_hex, -1, SQLITE_STATIC);
	step = sqlite3_step(st);
	if (step != SQLITE_ROW) {
		sqlite3_finalize(st);
		return step == SQLITE_DONE ? xz_diag_set(d, "no model run %s in this store",
		    run_hex) : xz_node_db_error(node, "reading model_runs", d);
	}
	copy_col(st, 0, out->model_id, sizeof(out->model_id));
	out->model_version = (uint32_t)sqlite3_column_int64(st, 1);
	copy_col(st, 2, out->title, sizeof(out->title));
	copy_col(st, 3, out->as_of, sizeof(out->as_of));
	copy_col(st, 4, out->status, sizeof(out->status));
	copy_col(st, 5, out->outputs, sizeof(out->outputs));
	out->started_at = sqlite3_column_int64(st, 6);
	out->finished_at = sqlite3_column_int64(st, 7);
	out->leads = (uint64_t)sqlite3_column_int64(st, 8);
	uint8_t rid[16];
	if (sqlite3_column_bytes(st, 9) != 16) {
		sqlite3_finalize(st);
		return xz_diag_set(d, "model run %s is malformed in the store", run_hex);
	}
	memcpy(rid, sqlite3_column_blob(st, 9), 16);
	sqlite3_finalize(st);
	if (sqlite3_prepare_v2(xz_node_db(node), "SELECT name, mode, peer, peer2, request_id,"
	    " request_id2, sent, result_size, keys_after, skipped FROM model_run_steps WHERE"
	    " run_id = ? ORDER BY pos", -1, &st, NULL) != SQLITE_OK)
		return xz_node_db_error(node, "reading model_run_steps", d);
	sqlite3_bind_blob(st, 1, rid, 16, SQLITE_STATIC);
	while ((step = sqlite3_step(st)) == SQLITE_ROW && out->n_steps < 16) {
		__typeof__(out->step[0]) *s = &out->step[out->n_steps++];
		copy_col(st, 0, s->name, sizeof(s->name));
		copy_col(st, 1, s->mode, sizeof(s->mode));
		copy_col(st, 2, s->peer[0], sizeof(s->peer[0]));
		copy_col(st, 3, s->peer[1], sizeof(s->peer[1]));
		for (int i = 0; i < 2; i++)
			if (sqlite3_column_bytes(st, 4 + i) == 16) {
				memcpy(s->request_id[i], sqlite3_column_blob(st, 4 + i), 16);
				s->n_requests = i + 1;
			}
		s->sent = (uint64_t)sqlite3_column_int64(st, 6);
		s->result_size = (uint64_t)sqlite3_column_int64(st, 7);
		s->keys_after = (uint64_t)sqlite3_column_int64(st, 8);
		s->skipped = sqlite3_column_int(st, 9);
	}
	sqlite3_finalize(st);
	return step == SQLITE_DONE || step == SQLITE_ROW ? 0 :
	    xz_node_db_error(node, "reading model_run_steps", d);
}

/* ---- retention ---- */

/* Joins whose result rows no lead left after the purge needs. */
#define PURGE_KEPT \
    "WITH kept AS (SELECT request_id, model_run FROM lead_leads WHERE created_at >= ?1)," \
    " needed AS (SELECT request_id AS r FROM kept" \
    "  UNION SELECT s.request_id FROM model_run_steps s JOIN model_runs m" \
    "   ON m.run_id = s.run_id WHERE m.run_hex IN (SELECT model_run FROM kept)" \
    "  UNION SELECT s.request_id2 FROM model_run_steps s JOIN model_runs m" \
    "   ON m.run_id = s.run_id WHERE m.run_hex IN (SELECT model_run FROM kept))," \
    " gone AS (SELECT request_id FROM join_results WHERE completed_at < ?1" \
    "  AND request_id NOT IN (SELECT r FROM needed WHERE r IS NOT NULL)) "

struct purge_ctx {
	int64_t before;
	uint64_t days;
	int dry_run, have_joins;
	const char *actor;
	struct xz_leads_purge_count *n;
};

static int
count_sql(struct xz_node *node, const char *sql, int64_t before, uint64_t *out,
    struct xz_diag *d)
{
	sqlite3_stmt *st = NULL;
	int rc = -1;

	if (sqlite3_prepare_v2(xz_node_db(node), sql, -1, &st, NULL) != SQLITE_OK)
		return xz_node_db_error(node, "counting what to purge", d);
	sqlite3_bind_int64(st, 1, before);
	if (sqlite3_step(st) == SQLITE_ROW) {
		*out = (uint64_t)sqlite3_column_int64(st, 0);
		rc = 0;
	} else {
		xz_node_db_error(node, "counting what to purge", d);
	}
	sqlite3_finalize(st);
	return rc;
}

static int
exec_before(struct xz_node *node, const char *sql, int64_t before, struct xz_diag *d)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if (sqlite3_prepare_v2(xz_node_db(node), sql, -1, &st, NULL) != SQLITE_OK)
		return xz_node_db_error(node, "purging leads", d);
	sqlite3_bind_int64(st, 1, before);
	rc = sqlite3_step(st) == SQLITE_DONE ? 0 : xz_node_db_error(node, "purging leads", d);
	sqlite3_finalize(st);
	return rc;
}

static int
purge_tx(struct xz_node *node, void *arg, struct xz_diag *d)
{
	struct purge_ctx *c = arg;
	char when[32];
	struct xz_audit_field f[6];
	struct xz_audit_event ev = { XZ_AUDIT_LEADS_PURGED, c->actor, NULL, f, 6 };

	memset(c->n, 0, sizeof(*c->n));
	if (count_sql(node, "SELECT count(*) FROM lead_leads WHERE created_at < ?", c->before,
	    &c->n->leads, d) != 0 ||
	    count_sql(node, "SELECT count(*) FROM lead_history WHERE lead IN (SELECT id FROM"
	    " lead_leads WHERE created_at < ?)", c->before, &c->n->history, d) != 0)
		return -1;
	if (c->have_joins && (count_sql(node, PURGE_KEPT "SELECT count(*) FROM join_result_rows"
	    " WHERE request_id IN (SELECT request_id FROM gone)", c->before,
	    &c->n->result_rows, d) != 0 ||
	    count_sql(node, PURGE_KEPT "SELECT count(DISTINCT request_id) FROM join_result_rows"
	    " WHERE request_id IN (SELECT request_id FROM gone)", c->before, &c->n->joins,
	    d) != 0))
		return -1;
	if (c->dry_run)
		return 0;
	/* Rows first, while the leads that decide what is needed still exist. */
	if ((c->have_joins && exec_before(node, PURGE_KEPT "DELETE FROM join_result_rows WHERE"
	    " request_id IN (SELECT request_id FROM gone)", c->before, d) != 0) ||
	    exec_before(node, "DELETE FROM lead_history WHERE lead IN (SELECT id FROM"
	    " lead_leads WHERE created_at < ?)", c->before, d) != 0 ||
	    exec_before(node, "DELETE FROM lead_leads WHERE created_at < ?", c->before, d) != 0)
		return -1;
	if (xz_time_format(c->before, when, sizeof(when)) != 0)
		snprintf(when, sizeof(when), "%lld", (long long)c->before);
	f[0] = (struct xz_audit_field){ .name = "older_than_days", .kind = XZ_AUDIT_INT,
	    .num = c->days };
	f[1] = (struct xz_audit_field){ .name = "before", .kind = XZ_AUDIT_STR, .str = when };
	f[2] = (struct xz_audit_field){ .name = "leads", .kind = XZ_AUDIT_INT, .num = c->n->leads };
	f[3] = (struct xz_audit_field){ .name = "history", .kind = XZ_AUDIT_INT,
	    .num = c->n->history };
	f[4] = (struct xz_audit_field){ .name = "result_rows", .kind = XZ_AUDIT_INT,
	    .num = c->n->result_rows };
	f[5] = (struct xz_audit_field){ .name = "joins", .kind = XZ_AUDIT_INT, .num = c->n->joins };
	return xz_audit_append(node, &ev, NULL, d);
}

int
xz_leads_purge(struct xz_node *node, int64_t before, uint64_t older_than_days, int dry_run,
    const char *actor, struct xz_leads_purge_count *n, struct xz_diag *d)
{
	struct purge_ctx c = { before, older_than_days, dry_run, 0, actor, n };

	if (ensure_schema(node, d) != 0 ||
	    table_exists(node, "join_result_rows", &c.have_joins, d) != 0 ||
	    (!dry_run && xz_audit_check_anchor(node, d) != 0))
		return -1;
	if (xz_node_transaction(node, purge_tx, &c, d) != 0)
		return -1;
	return dry_run ? 0 : xz_audit_publish(node, d);
}
