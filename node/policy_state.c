/*
 * Replay and budget state for policy decisions, in the node's SQLCipher
 * store (see policy_state.h).
 */
#include "policy_state.h"

#include <inttypes.h>
#include <string.h>

#include <sqlite3.h>

static const char schema_sql[] =
    "CREATE TABLE IF NOT EXISTS policy_seen_requests ("
    " request_id BLOB PRIMARY KEY CHECK (length(request_id) = 16),"
    " policy_id TEXT NOT NULL,"
    " seen_at INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS policy_usage ("
    " id INTEGER PRIMARY KEY,"
    " policy_id TEXT NOT NULL,"
    " request_id BLOB NOT NULL REFERENCES policy_seen_requests(request_id),"
    " at INTEGER NOT NULL,"
    " joins INTEGER NOT NULL CHECK (joins >= 0),"
    " elements INTEGER NOT NULL CHECK (elements >= 0));"
    "CREATE INDEX IF NOT EXISTS policy_usage_by_policy"
    " ON policy_usage (policy_id, at);";

int
xz_policy_state_init(struct xz_node *node, struct xz_diag *d)
{
	if (sqlite3_exec(xz_node_db(node), schema_sql, NULL, NULL, NULL) != SQLITE_OK)
		return xz_node_db_error(node, "creating the policy state tables", d);
	return 0;
}

/* Prepares sql; on failure reports what was being done. */
static int
prepare(struct xz_node *node, const char *sql, sqlite3_stmt **st,
    const char *what, struct xz_diag *d)
{
	if (sqlite3_prepare_v2(xz_node_db(node), sql, -1, st, NULL) != SQLITE_OK) {
		*st = NULL;
		return xz_node_db_error(node, what, d);
	}
	return 0;
}

static int
request_seen(struct xz_node *node, const unsigned char id[XZ_REQUEST_ID_LEN],
    int *seen, struct xz_diag *d)
{
	sqlite3_stmt *st = NULL;
	int rc = -1, step;

	if (prepare(node, "SELECT 1 FROM policy_seen_requests WHERE request_id = ?",
	    &st, "looking up the request id", d) != 0)
		return -1;
	sqlite3_bind_blob(st, 1, id, XZ_REQUEST_ID_LEN, SQLITE_STATIC);
	step = sqlite3_step(st);
	if (step != SQLITE_ROW && step != SQLITE_DONE) {
		xz_node_db_error(node, "looking up the request id", d);
		goto done;
	}
	*seen = step == SQLITE_ROW;
	rc = 0;
done:
	sqlite3_finalize(st);
	return rc;
}

/* Joins charged since day_start, elements charged after window_start. */
static int
sums(struct xz_node *node, const char *policy_id, int64_t day_start,
    int64_t window_start, struct xz_usage *u, struct xz_diag *d)
{
	sqlite3_stmt *st = NULL;
	int rc = -1;
	int64_t joins, elems;

	if (prepare(node, "SELECT"
	    " coalesce(sum(CASE WHEN at >= ?2 THEN joins END), 0),"
	    " coalesce(sum(CASE WHEN at > ?3 THEN elements END), 0)"
	    " FROM policy_usage WHERE policy_id = ?1", &st,
	    "reading the policy's usage", d) != 0)
		return -1;
	sqlite3_bind_text(st, 1, policy_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, day_start);
	sqlite3_bind_int64(st, 3, window_start);
	if (sqlite3_step(st) != SQLITE_ROW) {
		xz_node_db_error(node, "reading the policy's usage", d);
		goto done;
	}
	joins = sqlite3_column_int64(st, 0);
	elems = sqlite3_column_int64(st, 1);
	if (joins < 0 || elems < 0) {
		xz_diag_set(d, "the usage recorded for policy %s is negative: the "
		    "store was altered; restore it from a backup", policy_id);
		goto done;
	}
	u->joins_today = (uint64_t)joins;
	u->elements_30_days = (uint64_t)elems;
	rc = 0;
done:
	sqlite3_finalize(st);
	return rc;
}

int
xz_policy_state_usage(struct xz_node *node, const char *policy_id,
    const unsigned char request_id[XZ_REQUEST_ID_LEN], int64_t now,
    struct xz_usage *out, struct xz_diag *d)
{
	memset(out, 0, sizeof(*out));
	if (now < 0)
		return xz_diag_set(d, "the clock is before 1970");
	if (xz_policy_state_init(node, d) != 0 ||
	    request_seen(node, request_id, &out->request_seen, d) != 0 ||
	    sums(node, policy_id, now - now % 86400,
	    now - XZ_BUDGET_WINDOW_SECONDS, out, d) != 0)
		return -1;
	return 0;
}

struct record_args {
	const char *policy_id;
	const unsigned char *request_id;
	int64_t now;
	uint64_t joins, elements;
};

static int
insert_charge(struct xz_node *node, const struct record_args *a, struct xz_diag *d)
{
	sqlite3_stmt *st = NULL;
	int rc = -1;

	if (a->elements > (uint64_t)INT64_MAX || a->joins > (uint64_t)INT64_MAX)
		return xz_diag_set(d, "charge too large to record");
	if (prepare(node, "INSERT INTO policy_seen_requests (request_id, policy_id,"
	    " seen_at) VALUES (?, ?, ?)", &st, "recording the request id", d) != 0)
		return -1;
	sqlite3_bind_blob(st, 1, a->request_id, XZ_REQUEST_ID_LEN, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, a->policy_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, a->now);
	if (sqlite3_step(st) != SQLITE_DONE) {
		if ((sqlite3_extended_errcode(xz_node_db(node)) & 0xff) == SQLITE_CONSTRAINT)
			xz_diag_set(d, "request id already recorded (replayed request)");
		else
			xz_node_db_error(node, "recording the request id", d);
		goto done;
	}
	sqlite3_finalize(st);
	if (prepare(node, "INSERT INTO policy_usage (policy_id, request_id, at,"
	    " joins, elements) VALUES (?, ?, ?, ?, ?)", &st,
	    "recording the budget charge", d) != 0)
		return -1;
	sqlite3_bind_text(st, 1, a->policy_id, -1, SQLITE_STATIC);
	sqlite3_bind_blob(st, 2, a->request_id, XZ_REQUEST_ID_LEN, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, a->now);
	sqlite3_bind_int64(st, 4, (int64_t)a->joins);
	sqlite3_bind_int64(st, 5, (int64_t)a->elements);
	if (sqlite3_step(st) != SQLITE_DONE) {
		xz_node_db_error(node, "recording the budget charge", d);
		goto done;
	}
	rc = 0;
done:
	sqlite3_finalize(st);
	return rc;
}

static int
record_txn(struct xz_node *node, void *arg, struct xz_diag *d)
{
	if (xz_policy_state_init(node, d) != 0)
		return -1;
	return insert_charge(node, arg, d);
}

int
xz_policy_state_record(struct xz_node *node, const char *policy_id,
    const unsigned char request_id[XZ_REQUEST_ID_LEN], int64_t now,
    uint64_t elements, struct xz_diag *d)
{
	struct record_args a = { policy_id, request_id, now, 1, elements };

	return xz_node_transaction(node, record_txn, &a, d);
}

struct decide_args {
	struct xz_decision_input in;
	struct xz_decision *out;
};

static int
decide_txn(struct xz_node *node, void *arg, struct xz_diag *d)
{
	struct decide_args *a = arg;
	const struct xz_request *r = a->in.request;

	if (xz_policy_state_usage(node, r->policy_id, r->id, a->in.now,
	    &a->in.usage, d) != 0)
		return -1;
	if (xz_decide(&a->in, a->out) != 0)
		return 0;	/* refused: nothing to record, commit is a no-op */
	struct record_args rec = { r->policy_id, r->id, a->in.now,
	    a->out->charge_joins, a->out->charge_elements };
	return insert_charge(node, &rec, d);
}

int
xz_policy_state_decide(struct xz_node *node, const struct xz_decision_input *in,
    struct xz_decision *out, struct xz_diag *d)
{
	struct decide_args a = { *in, out };

	memset(out, 0, sizeof(*out));
	if (xz_node_transaction(node, decide_txn, &a, d) != 0) {
		memset(out, 0, sizeof(*out));
		return -1;
	}
	return 0;
}
