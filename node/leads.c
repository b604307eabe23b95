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
    "CREATE INDEX IF NOT EXISTS lead_history_by_lead ON lead_history (lead);";

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
	    " ORDER BY id", -1, &st, NULL) != SQLITE_OK)
		return xz_node_db_error(node, "reading leads", d);
	if (f != NULL && f->request_id != NULL)
		sqlite3_bind_blob(st, 1, f->request_id, 16, SQLITE_STATIC);
	if (f != NULL && f->status >= 0)
		sqlite3_bind_text(st, 2, xz_lead_status_name(f->status), -1, SQLITE_STATIC);
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

static int
export_one(void *arg, const struct xz_lead *l)
{
	struct export_ctx *c = arg;
	char rid[33], id[24];

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
	else
		fputs("[", c->f);
	r = xz_leads_foreach(node, flt, export_one, c, d);
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
	    .str = fmt == XZ_LEAD_CSV ? "csv" : "json" };
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
	free(tmp);
	return rc;
}
