/*
 * Running a model (node/model.h; docs/models.md §6).
 *
 * Everything is checked before the first request leaves the node: the
 * model against the node, every step's signed request against its step,
 * the local query.  Then the run is recorded and the steps go out one by
 * one, each with the keys the steps before it left, so a peer learns only
 * how many keys were asked (the request's padded query size).  Results
 * are kept where node/requester.c stores them (join_result_rows); the
 * working set is built in TEMP tables of the store's connection (held in
 * memory, PRAGMA temp_store = MEMORY, and zeroed when dropped).  Leads are
 * created in one transaction at the end, or not at all.
 */
#include "model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "audit.h"
#include "daemon_wire.h"
#include "decision.h"
#include "leads.h"
#include "requester.h"

struct run {
	const struct xz_model_run_opts *o;
	struct xz_model_run_result *out;
	struct xz_model *m;
	struct xz_model_plan plan;
	int plan_ok;
	struct xz_nodeconf *conf;
	struct xz_net *net;		/* every step's calls go through it */
	struct xz_node *node;
	struct xz_request_file *rf[XZ_MODEL_MAX_STEPS][2];
	char path[XZ_MODEL_MAX_STEPS][2][4096];
	const char *outputs[XZ_MODEL_MAX_OUTPUT];
	struct xz_leads_run rec;
	size_t cur;			/* the step running, for progress */
	int steps_done;			/* every step ran (or was skipped) */
};

static int
perr(struct xz_diag *d, const struct xz_perror *e)
{
	char buf[900];

	xz_perror_format(e, buf, sizeof(buf));
	return xz_diag_set(d, "%s", buf);
}

static int
exec(struct run *r, const char *sql, struct xz_diag *d)
{
	if (sqlite3_exec(xz_node_db(r->node), sql, NULL, NULL, NULL) != SQLITE_OK)
		return xz_node_db_error(r->node, "building the model's working set", d);
	return 0;
}

/* ---- before anything leaves ---- */

/* The network process for every step's calls, started before the store is
 * opened so that it never holds the store key (node/netproc.h). */
static int
start_net(struct run *r, struct xz_diag *d)
{
	char ca[4096], cert[4096], key[4096];
	const char *tls[3] = { ca, cert, key };

	if (xz_nodeconf_path(r->o->dir, r->conf->tls_ca, ca, sizeof(ca), d) != 0 ||
	    xz_nodeconf_path(r->o->dir, r->conf->tls_cert, cert, sizeof(cert), d) != 0 ||
	    xz_nodeconf_path(r->o->dir, r->conf->tls_key, key, sizeof(key), d) != 0)
		return -1;
	return xz_net_start(tls, r->o->dir, &r->net, d);
}

static int
load(struct run *r, struct xz_diag *d)
{
	struct xz_perror e;

	if ((r->m = calloc(1, sizeof(*r->m))) == NULL || (r->conf = calloc(1,
	    sizeof(*r->conf))) == NULL)
		return xz_diag_set(d, "out of memory");
	if (xz_model_load(r->o->model_file, r->m, r->out->model_sha256, &e) != 0)
		return perr(d, &e);
	snprintf(r->out->model, sizeof(r->out->model), "%s@%u", r->m->id,
	    (unsigned)r->m->version);
	snprintf(r->out->title, sizeof(r->out->title), "%s", r->m->title);
	r->out->n_steps = r->m->n_steps;
	if (xz_nodeconf_read(r->o->dir, r->conf, d) != 0 ||
	    xz_nodeconf_check_federation(r->conf, 0, d) != 0 ||
	    start_net(r, d) != 0 ||
	    xz_node_open(r->o->dir, &r->node, d) != 0 ||
	    xz_audit_check_anchor(r->node, d) != 0)
		return -1;
	if (xz_model_check(r->node, r->conf, r->m, r->o->model_file, &r->plan, &e) != 0)
		return perr(d, &e);
	r->plan_ok = 1;
	for (size_t i = 0; i < r->m->n_output; i++)
		r->outputs[i] = r->plan.out[i].name;
	return xz_model_as_of(r->m, r->o->as_of, r->out->as_of, d);
}

static int
load_request(struct run *r, size_t i, size_t p, struct xz_diag *d)
{
	const struct xz_model_step *s = &r->m->steps[i];
	struct xz_perror e;
	struct xz_diag why;
	char name[XZ_NAME_MAX * 2 + 16];

	xz_model_request_name(s, p, name, sizeof(name));
	if ((size_t)snprintf(r->path[i][p], sizeof(r->path[i][p]), "%s/%s", r->o->request_dir,
	    name) >= sizeof(r->path[i][p]))
		return xz_diag_set(d, "step %s: request path too long", s->name);
	if ((r->rf[i][p] = calloc(1, sizeof(*r->rf[i][p]))) == NULL)
		return xz_diag_set(d, "out of memory");
	if (xz_request_file_load(r->path[i][p], r->rf[i][p], &e) != 0) {
		perr(&why, &e);
		return xz_diag_set(d, "step %s: %s (write the requests with 'xiezhi model "
		    "requests' and have them approved)", s->name, why.msg);
	}
	if (xz_model_request_matches(&r->plan, i, p, &r->rf[i][p]->req, &why) != 0)
		return xz_diag_set(d, "step %s: %s is not this step's request: %s", s->name,
		    r->path[i][p], why.msg);
	if (r->rf[i][p]->n_approvals == 0)
		return xz_diag_set(d, "step %s: %s carries no approvals: have it approved with "
		    "'xiezhi request approve' first", s->name, r->path[i][p]);
	return 0;
}

static int
load_requests(struct run *r, struct xz_diag *d)
{
	for (size_t i = 0; i < r->m->n_steps; i++) {
		const struct xz_model_step *s = &r->m->steps[i];
		for (size_t p = 0; p < s->n_parties; p++) {
			if (load_request(r, i, p, d) != 0)
				return -1;
			memcpy(r->out->step[i].request_id[p], r->rf[i][p]->req.id, 16);
			/* One request, one join: a file given for two steps would be
			 * refused as a replay halfway through the run. */
			for (size_t j = 0; j <= i; j++)
				for (size_t q = 0; q < r->m->steps[j].n_parties; q++)
					if ((j < i || q < p) && memcmp(r->rf[j][q]->req.id,
					    r->rf[i][p]->req.id, 16) == 0)
						return xz_diag_set(d, "steps %s and %s use the same "
						    "request (%s): each step needs its own",
						    r->m->steps[j].name, s->name, r->path[i][p]);
		}
		if (s->mode == XZ_MODE_DELEGATED &&
		    memcmp(r->rf[i][0]->req.link, r->rf[i][1]->req.link, 16) != 0)
			return xz_diag_set(d, "step %s: the two owners' requests do not share one "
			    "link id: write them together with 'xiezhi model requests'", s->name);
		if (r->rf[i][0]->req.case_number[0] != '\0' && r->rec.case_number == NULL)
			r->rec.case_number = r->rf[i][0]->req.case_number;
	}
	return 0;
}

static int create_step_table(struct run *r, size_t i, struct xz_diag *d);

static int
temp_tables(struct run *r, struct xz_diag *d)
{
	char sql[128];

	if (xz_expr_register(xz_node_db(r->node)) != SQLITE_OK)
		return xz_node_db_error(r->node, "registering the filter functions", d);
	if (exec(r, "PRAGMA temp.secure_delete = ON; DROP TABLE IF EXISTS temp.xz_keys;"
	    " DROP TABLE IF EXISTS temp.xz_model_leads;"
	    " CREATE TEMP TABLE xz_keys (k TEXT PRIMARY KEY NOT NULL);"
	    " CREATE TEMP TABLE xz_model_leads (k TEXT NOT NULL, vals TEXT NOT NULL);", d) != 0)
		return -1;
	for (size_t i = 0; i < r->m->n_steps; i++) {
		int mode = r->m->steps[i].mode;
		snprintf(sql, sizeof(sql), "DROP TABLE IF EXISTS temp.xz_s%zu;", i + 1);
		if (exec(r, sql, d) != 0)
			return -1;
		/* Every step with labels has its table, empty when it was skipped. */
		if ((mode == XZ_MODE_INTERSECT || mode == XZ_MODE_DELEGATED) &&
		    create_step_table(r, i, d) != 0)
			return -1;
	}
	return 0;
}

static void
drop_temp(struct run *r)
{
	char sql[64];

	if (r->node == NULL)
		return;
	sqlite3_exec(xz_node_db(r->node), "DROP TABLE IF EXISTS temp.xz_keys;"
	    " DROP TABLE IF EXISTS temp.xz_model_leads;", NULL, NULL, NULL);
	for (size_t i = 0; r->m != NULL && i < r->m->n_steps; i++) {
		snprintf(sql, sizeof(sql), "DROP TABLE IF EXISTS temp.xz_s%zu;", i + 1);
		sqlite3_exec(xz_node_db(r->node), sql, NULL, NULL, NULL);
	}
}

/* Runs a model query whose first column is an integer (a count) or which
 * inserts rows (into != NULL: "INSERT INTO xz_keys (k) " before it). */
static int
run_query(struct run *r, enum xz_model_query q, const char *into, uint64_t *count,
    struct xz_diag *d)
{
	struct xz_sql s;
	sqlite3_stmt *st = NULL;
	int rc = -1, step;

	xz_sql_init(&s);
	if (into != NULL)
		xz_sql_add(&s, into);
	if (xz_model_sql(&r->plan, q, r->out->as_of, &s, d) != 0)
		goto done;
	if (sqlite3_prepare_v2(xz_node_db(r->node), s.text, -1, &st, NULL) != SQLITE_OK ||
	    xz_sql_bind(&s, st, 1) != SQLITE_OK) {
		xz_node_db_error(r->node, "preparing the model's query", d);
		goto done;
	}
	step = sqlite3_step(st);
	if (step == SQLITE_ROW && count != NULL)
		*count = (uint64_t)sqlite3_column_int64(st, 0);
	else if (step == SQLITE_DONE && count != NULL)
		*count = (uint64_t)sqlite3_changes(xz_node_db(r->node));
	if (step != SQLITE_ROW && step != SQLITE_DONE) {
		xz_diag_set(d, "evaluating the model's filters failed: %s",
		    sqlite3_errmsg(xz_node_db(r->node)));
		goto done;
	}
	rc = 0;
done:
	sqlite3_finalize(st);
	xz_sql_free(&s);
	return rc;
}

static int
count_keys(struct run *r, uint64_t *n, struct xz_diag *d)
{
	sqlite3_stmt *st = NULL;
	int rc = -1;

	if (sqlite3_prepare_v2(xz_node_db(r->node), "SELECT count(*) FROM xz_keys", -1, &st,
	    NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW) {
		*n = (uint64_t)sqlite3_column_int64(st, 0);
		rc = 0;
	} else {
		xz_node_db_error(r->node, "counting the keys in play", d);
	}
	sqlite3_finalize(st);
	return rc;
}

static int
local_query(struct run *r, struct xz_diag *d)
{
	if (!r->m->has_local)
		return 0;
	if (run_query(r, XZ_MQ_ROWS, NULL, &r->out->local_rows, d) != 0 ||
	    run_query(r, XZ_MQ_KEYS, "INSERT INTO xz_keys (k) ", NULL, d) != 0)
		return -1;
	return count_keys(r, &r->out->local_keys, d);
}

/* ---- steps ---- */

static void
join_progress(void *arg, const char *phase, uint64_t done, uint64_t total)
{
	struct run *r = arg;
	struct xz_model_progress p = { r->cur, r->m->steps[r->cur].name, phase, done, total };

	if (r->o->progress != NULL)
		r->o->progress(r->o->progress_arg, &p);
}

static int
build_elements(struct run *r, struct xz_join_data **jd, struct xz_diag *d)
{
	sqlite3_stmt *st = NULL;
	size_t cap = 0;
	int step, rc = -1;

	*jd = NULL;
	if (sqlite3_prepare_v2(xz_node_db(r->node), "SELECT k FROM xz_keys ORDER BY rowid", -1,
	    &st, NULL) != SQLITE_OK)
		return xz_node_db_error(r->node, "reading the keys in play", d);
	while ((step = sqlite3_step(st)) == SQLITE_ROW)
		if (xz_join_data_add(jd, &cap, sqlite3_column_text(st, 0),
		    (size_t)sqlite3_column_bytes(st, 0), d) != 0)
			goto done;
	if (step != SQLITE_DONE) {
		xz_node_db_error(r->node, "reading the keys in play", d);
		goto done;
	}
	rc = 0;
done:
	sqlite3_finalize(st);
	if (rc != 0) {
		xz_join_data_free(*jd);
		*jd = NULL;
	}
	return rc;
}

/* The step's label table xz_s<I>(k, l1..lN): int labels as INTEGER. */
static int
create_step_table(struct run *r, size_t i, struct xz_diag *d)
{
	const struct xz_model_step *s = &r->m->steps[i];
	char sql[4096];
	size_t n = 0, k = 0;

	n += (size_t)snprintf(sql + n, sizeof(sql) - n, "CREATE TEMP TABLE xz_s%zu (k TEXT "
	    "NOT NULL", i + 1);
	for (size_t p = 0; p < s->n_parties; p++)
		for (size_t j = 0; j < s->party[p].n_labels; j++)
			n += (size_t)snprintf(sql + n, sizeof(sql) - n, ", l%zu %s", ++k,
			    s->party[p].labels[j].type == XZ_COL_INT ? "INTEGER" : "TEXT");
	n += (size_t)snprintf(sql + n, sizeof(sql) - n, "); CREATE INDEX temp.xz_s%zu_k ON "
	    "xz_s%zu (k);", i + 1, i + 1);
	if (n >= sizeof(sql))
		return xz_diag_set(d, "internal: step table too wide");
	return exec(r, sql, d);
}

struct labels_ctx {
	const struct xz_model_step *s;
	const char *val[2 * XZ_POLICY_MAX_LABELS];
	char *own[2 * XZ_POLICY_MAX_LABELS];
	int dup;
};

static int
label_value(void *arg, const char *name, const char *value)
{
	struct labels_ctx *c = arg;
	size_t idx;

	if (xz_model_step_label(c->s, name, &idx) == NULL)
		return 0;	/* asked by the request but not declared: not used */
	if (c->own[idx] != NULL) {
		c->dup = 1;
		return 1;
	}
	if ((c->own[idx] = strdup(value != NULL ? value : "")) == NULL)
		return 2;
	c->val[idx] = c->own[idx];
	return 0;
}

/*
 * Binds one received label: an empty value is a missing one (NULL, as an
 * empty cell is at import); a typed label must be in the stored form of
 * its type, or the run stops: a filter over it could not be trusted.
 */
static int
bind_label(sqlite3_stmt *ins, int col, const struct xz_model_label *l, const char *v,
    const char *step, struct xz_diag *d)
{
	char norm[XZ_NORM_FIXED_CAP];
	const char *why;
	size_t olen, pos;

	if (v == NULL || v[0] == '\0') {
		sqlite3_bind_null(ins, col);
		return 0;
	}
	if (l->type != XZ_COL_TEXT) {
		size_t n = strlen(v);
		if (n >= sizeof(norm) || xz_normalize(l->type, v, n, norm, sizeof(norm), &olen,
		    &why, &pos) != 0 || olen != n || memcmp(norm, v, n) != 0)
			return xz_diag_set(d, "step %s: a value of label %s is not a %s in its "
			    "stored form: declare the label's type as the peer's dataset has it",
			    step, l->name, xz_coltype_name(l->type));
	}
	if (l->type == XZ_COL_INT)
		sqlite3_bind_int64(ins, col, strtoll(v, NULL, 10));
	else
		sqlite3_bind_text(ins, col, v, -1, SQLITE_TRANSIENT);
	return 0;
}

static int
store_row(struct run *r, size_t i, sqlite3_stmt *ins, const char *k, const char *labels,
    struct xz_diag *d)
{
	const struct xz_model_step *s = &r->m->steps[i];
	struct labels_ctx c = { .s = s };
	int rc = -1, col = 2;
	size_t idx = 0;

	if (labels != NULL && xz_lead_values(labels, label_value, &c) != 0) {
		xz_diag_set(d, "step %s: a result row's labels are malformed%s", s->name,
		    c.dup ? " (a label given twice)" : "");
		goto done;
	}
	sqlite3_reset(ins);
	sqlite3_clear_bindings(ins);
	sqlite3_bind_text(ins, 1, k, -1, SQLITE_TRANSIENT);
	for (size_t p = 0; p < s->n_parties; p++)
		for (size_t j = 0; j < s->party[p].n_labels; j++, idx++, col++) {
			/* A delegated key asked of both owners: owner 0's copy. */
			if (p == 1 && s->key[0] != '\0' && strcmp(s->party[p].labels[j].name,
			    s->key) == 0) {
				size_t first;
				(void)xz_model_step_label(s, s->key, &first);
				c.val[idx] = c.val[first];
			}
			if (bind_label(ins, col, &s->party[p].labels[j], c.val[idx], s->name,
			    d) != 0)
				goto done;
		}
	if (sqlite3_step(ins) != SQLITE_DONE) {
		xz_node_db_error(r->node, "building the model's working set", d);
		goto done;
	}
	rc = 0;
done:
	for (size_t j = 0; j < 2 * XZ_POLICY_MAX_LABELS; j++) {
		if (c.own[j] != NULL)
			sodium_memzero(c.own[j], strlen(c.own[j]));
		free(c.own[j]);
	}
	return rc;
}

/* Copies the rows of request rid into xz_s<I> and makes their keys the
 * keys in play. */
static int
take_matches(struct run *r, size_t i, const uint8_t rid[16], struct xz_diag *d)
{
	const struct xz_model_step *s = &r->m->steps[i];
	sqlite3_stmt *rd = NULL, *ins = NULL;
	char sql[4096];
	size_t n = 0, nl = 0;
	int step, rc = -1;

	for (size_t p = 0; p < s->n_parties; p++)
		nl += s->party[p].n_labels;
	n = (size_t)snprintf(sql, sizeof(sql), "INSERT INTO xz_s%zu VALUES (?", i + 1);
	for (size_t j = 0; j < nl; j++)
		n += (size_t)snprintf(sql + n, sizeof(sql) - n, ", ?");
	snprintf(sql + n, sizeof(sql) - n, ")");
	if (sqlite3_prepare_v2(xz_node_db(r->node), sql, -1, &ins, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(xz_node_db(r->node), "SELECT k, labels FROM join_result_rows "
	    "WHERE request_id = ? ORDER BY pos", -1, &rd, NULL) != SQLITE_OK) {
		xz_node_db_error(r->node, "reading the step's result", d);
		goto done;
	}
	sqlite3_bind_blob(rd, 1, rid, 16, SQLITE_STATIC);
	while ((step = sqlite3_step(rd)) == SQLITE_ROW) {
		const char *k = (const char *)sqlite3_column_text(rd, 0);
		if (k == NULL || store_row(r, i, ins, k, (const char *)sqlite3_column_text(rd, 1),
		    d) != 0)
			goto done;
	}
	if (step != SQLITE_DONE) {
		xz_node_db_error(r->node, "reading the step's result", d);
		goto done;
	}
	snprintf(sql, sizeof(sql), "DELETE FROM xz_keys; INSERT OR IGNORE INTO xz_keys (k) "
	    "SELECT k FROM xz_s%zu ORDER BY rowid;", i + 1);
	rc = exec(r, sql, d);
done:
	sqlite3_finalize(rd);
	sqlite3_finalize(ins);
	return rc;
}

/* Difference: the keys the peer lacks are the keys in play. */
static int
take_missing(struct run *r, const uint8_t rid[16], struct xz_diag *d)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if (exec(r, "DELETE FROM xz_keys;", d) != 0)
		return -1;
	if (sqlite3_prepare_v2(xz_node_db(r->node), "INSERT OR IGNORE INTO xz_keys (k) SELECT "
	    "k FROM join_result_rows WHERE request_id = ? ORDER BY pos", -1, &st, NULL) !=
	    SQLITE_OK)
		return xz_node_db_error(r->node, "reading the step's result", d);
	sqlite3_bind_blob(st, 1, rid, 16, SQLITE_STATIC);
	rc = sqlite3_step(st) == SQLITE_DONE ? 0 :
	    xz_node_db_error(r->node, "reading the step's result", d);
	sqlite3_finalize(st);
	return rc;
}

static int
result_rows(struct run *r, const uint8_t rid[16], uint64_t *n, struct xz_diag *d)
{
	sqlite3_stmt *st = NULL;
	int rc = -1;

	if (sqlite3_prepare_v2(xz_node_db(r->node), "SELECT count(*) FROM join_result_rows "
	    "WHERE request_id = ?", -1, &st, NULL) == SQLITE_OK) {
		sqlite3_bind_blob(st, 1, rid, 16, SQLITE_STATIC);
		if (sqlite3_step(st) == SQLITE_ROW) {
			*n = (uint64_t)sqlite3_column_int64(st, 0);
			rc = 0;
		}
	}
	if (rc != 0)
		xz_node_db_error(r->node, "reading the step's result", d);
	sqlite3_finalize(st);
	return rc;
}

/* A two-party step with the keys still in play. */
static int
run_join(struct run *r, size_t i, struct xz_diag *d)
{
	const struct xz_model_step *s = &r->m->steps[i];
	struct xz_model_step_result *sr = &r->out->step[i];
	struct xz_join_opts jo = {0};
	struct xz_join_outcome jout;
	struct xz_join_data *jd = NULL;
	int rc;

	if (build_elements(r, &jd, d) != 0)
		return -1;
	sr->sent = jd != NULL ? jd->n : 0;
	if (sr->sent > r->rf[i][0]->req.query_size) {
		xz_join_data_free(jd);
		return xz_diag_set(d, "step %s: %llu keys are in play but its request declares "
		    "at most %llu: write new requests ('xiezhi model requests')", s->name,
		    (unsigned long long)sr->sent,
		    (unsigned long long)r->rf[i][0]->req.query_size);
	}
	jo.dir = r->o->dir;
	jo.peer = s->party[0].peer;
	jo.request_file = r->path[i][0];
	jo.dataset = r->m->has_local ? r->m->local_dataset : r->m->id;
	jo.key_column = r->m->has_local ? r->m->local_key : r->m->steps[0].name;
	jo.elements = jd;
	jo.net = r->net;
	jo.deadline_ms = r->o->deadline_ms;
	jo.progress = join_progress;
	jo.progress_arg = r;
	rc = xz_requester_join(&jo, &jout, d);
	xz_join_data_free(jd);
	sr->seconds = jout.seconds;
	if (rc == 1) {
		r->out->refused = 1;
		return xz_diag_set(d, "step %s: %s refused the request (%s): %s", s->name,
		    jout.peer_name[0] ? jout.peer_name : s->party[0].peer,
		    xz_verdict_name((enum xz_verdict)jout.refusal_code), jout.reason);
	}
	if (rc != 0) {
		struct xz_diag why = *d;
		return xz_diag_set(d, "step %s: the join with %s failed: %s", s->name,
		    s->party[0].peer, why.msg);
	}
	sr->result_size = jout.result_size;
	sr->rows = jout.stored_rows;
	if (s->mode == XZ_MODE_INTERSECT)
		return take_matches(r, i, jout.request_id, d);
	if (s->mode == XZ_MODE_DIFFERENCE)
		return take_missing(r, jout.request_id, d);
	return 0;	/* cardinality: a count; the keys stay in play */
}

static int
run_delegated(struct run *r, struct xz_diag *d)
{
	const struct xz_model_step *s = &r->m->steps[0];
	struct xz_model_step_result *sr = &r->out->step[0];
	struct xz_delegated_opts dop = {0};
	struct xz_delegated_outcome dout;
	int rc;

	dop.dir = r->o->dir;
	for (size_t p = 0; p < 2; p++) {
		dop.peer[p] = s->party[p].peer;
		dop.request_file[p] = r->path[0][p];
	}
	dop.key_label = s->key;
	dop.net = r->net;
	dop.deadline_ms = r->o->deadline_ms;
	dop.progress = join_progress;
	dop.progress_arg = r;
	rc = xz_requester_delegated_join(&dop, &dout, d);
	sr->seconds = dout.seconds;
	if (rc == 1) {
		size_t p = dout.owner[0].refused ? 0 : 1;
		r->out->refused = 1;
		return xz_diag_set(d, "step %s: %s refused the request (%s): %s", s->name,
		    s->party[p].peer, xz_verdict_name((enum xz_verdict)dout.owner[p].refusal_code),
		    dout.owner[p].reason);
	}
	if (rc != 0) {
		struct xz_diag why = *d;
		return xz_diag_set(d, "step %s: the delegated join with %s and %s failed: %s",
		    s->name, s->party[0].peer, s->party[1].peer, why.msg);
	}
	sr->result_size = dout.result_size;
	/* Stored under owner 0's request id (node/requester.h). */
	if (result_rows(r, r->rf[0][0]->req.id, &sr->rows, d) != 0)
		return -1;
	return take_matches(r, 0, r->rf[0][0]->req.id, d);
}

static int
record_step(struct run *r, size_t i, struct xz_diag *d)
{
	const struct xz_model_step *s = &r->m->steps[i];
	struct xz_model_step_result *sr = &r->out->step[i];
	struct xz_leads_run_step rs = { .pos = i, .name = s->name, .mode = sr->mode,
	    .sent = sr->sent, .result_size = sr->result_size, .keys_after = sr->keys_after,
	    .skipped = sr->skipped };

	for (size_t p = 0; p < s->n_parties; p++) {
		rs.peer[p] = s->party[p].peer;
		/* A skipped step's request never left the node. */
		rs.request_id[p] = sr->skipped ? NULL : sr->request_id[p];
	}
	return xz_leads_run_step(r->node, r->out->run_id, &rs, d);
}

static int
run_steps(struct run *r, struct xz_diag *d)
{
	int skipping = 0;

	for (size_t i = 0; i < r->m->n_steps; i++) {
		const struct xz_model_step *s = &r->m->steps[i];
		struct xz_model_step_result *sr = &r->out->step[i];
		uint64_t left = 0;

		r->cur = i;
		if (s->mode != XZ_MODE_DELEGATED && count_keys(r, &left, d) != 0)
			return -1;
		/* No key left: asking would tell the peer nothing it needs and
		 * send an empty query; the lead set is already empty. */
		if (s->mode != XZ_MODE_DELEGATED && left == 0)
			skipping = 1;
		if (skipping) {
			sr->skipped = 1;
		} else if ((s->mode == XZ_MODE_DELEGATED ? run_delegated(r, d) :
		    run_join(r, i, d)) != 0) {
			r->out->failed_step = (int)i;
			return -1;
		}
		if (count_keys(r, &sr->keys_after, d) != 0 || record_step(r, i, d) != 0) {
			r->out->failed_step = (int)i;
			return -1;
		}
		if (r->o->step_done != NULL)
			r->o->step_done(r->o->progress_arg, i, sr);
	}
	r->steps_done = 1;
	return 0;
}

/* ---- leads ---- */

/* Builds xz_model_leads: one row per distinct output row, its values as
 * a JSON object named by the output columns. */
static int
collect_leads(struct run *r, struct xz_diag *d)
{
	sqlite3_stmt *q = NULL, *ins = NULL;
	struct xz_sql s;
	char *buf = NULL;
	size_t len, cap = 0;
	int step, rc = -1;

	xz_sql_init(&s);
	if (xz_model_sql(&r->plan, XZ_MQ_LEADS, r->out->as_of, &s, d) != 0)
		goto done;
	if (sqlite3_prepare_v2(xz_node_db(r->node), s.text, -1, &q, NULL) != SQLITE_OK ||
	    xz_sql_bind(&s, q, 1) != SQLITE_OK ||
	    sqlite3_prepare_v2(xz_node_db(r->node), "INSERT INTO xz_model_leads VALUES (?, ?)",
	    -1, &ins, NULL) != SQLITE_OK) {
		xz_node_db_error(r->node, "preparing the model's query", d);
		goto done;
	}
	while ((step = sqlite3_step(q)) == SQLITE_ROW) {
		len = 0;
		if (xz_buf_add(&buf, &len, &cap, "{") != 0)
			goto oom;
		for (size_t i = 0; i < r->m->n_output; i++) {
			const char *v = (const char *)sqlite3_column_text(q, (int)i + 1);
			if ((i > 0 && xz_buf_add(&buf, &len, &cap, ", ") != 0) ||
			    xz_json_append(&buf, &len, &cap, r->plan.out[i].name) != 0 ||
			    xz_buf_add(&buf, &len, &cap, ": ") != 0 ||
			    (v == NULL ? xz_buf_add(&buf, &len, &cap, "null") :
			    xz_json_append(&buf, &len, &cap, v)) != 0)
				goto oom;
		}
		if (xz_buf_add(&buf, &len, &cap, "}") != 0)
			goto oom;
		sqlite3_reset(ins);
		sqlite3_bind_text(ins, 1, (const char *)sqlite3_column_text(q, 0), -1,
		    SQLITE_TRANSIENT);
		sqlite3_bind_text(ins, 2, buf, (int)len, SQLITE_STATIC);
		if (sqlite3_step(ins) != SQLITE_DONE) {
			xz_node_db_error(r->node, "collecting the leads", d);
			goto done;
		}
		sodium_memzero(buf, len);
	}
	if (step != SQLITE_DONE) {
		xz_diag_set(d, "evaluating the model's filter failed: %s",
		    sqlite3_errmsg(xz_node_db(r->node)));
		goto done;
	}
	rc = 0;
	goto done;
oom:
	xz_diag_set(d, "out of memory collecting the leads");
done:
	if (buf != NULL)
		sodium_memzero(buf, cap);
	free(buf);
	sqlite3_finalize(q);
	sqlite3_finalize(ins);
	xz_sql_free(&s);
	return rc;
}

/* ---- the whole run ---- */

static void
fill_record(struct run *r)
{
	struct xz_leads_run *c = &r->rec;

	memcpy(c->run_id, r->out->run_id, 16);
	c->model_id = r->m->id;
	c->model_version = r->m->version;
	c->title = r->m->title;
	memcpy(c->model_sha256, r->out->model_sha256, 32);
	c->as_of = r->out->as_of;
	c->purpose = r->m->purpose;
	c->legal_basis = r->m->legal_basis;
	if (c->case_number == NULL)
		c->case_number = r->m->case_number;
	c->n_outputs = r->m->n_output;
	c->outputs = r->outputs;
	c->n_steps = r->m->n_steps;
	c->actor = r->o->actor;
}

static int
run(struct run *r, struct xz_diag *d)
{
	if (load(r, d) != 0 || load_requests(r, d) != 0 || temp_tables(r, d) != 0 ||
	    local_query(r, d) != 0)
		return -1;
	for (size_t i = 0; i < r->m->n_steps; i++) {
		const struct xz_model_step *s = &r->m->steps[i];
		snprintf(r->out->step[i].name, sizeof(r->out->step[i].name), "%s", s->name);
		snprintf(r->out->step[i].mode, sizeof(r->out->step[i].mode), "%s",
		    s->mode == XZ_MODE_DELEGATED ? "delegated" : xz_mode_name(s->mode));
		for (size_t p = 0; p < s->n_parties; p++)
			snprintf(r->out->step[i].peer[p], sizeof(r->out->step[i].peer[p]), "%s",
			    s->party[p].peer);
		r->out->step[i].n_requests = s->n_parties;
	}
	randombytes_buf(r->out->run_id, sizeof(r->out->run_id));
	fill_record(r);
	if (xz_leads_run_begin(r->node, &r->rec, d) != 0)
		return -1;
	r->out->started = 1;
	if (run_steps(r, d) != 0 || run_query(r, XZ_MQ_WORKING, NULL, &r->out->working_rows,
	    d) != 0 || collect_leads(r, d) != 0 ||
	    xz_leads_run_finish(r->node, &r->rec, r->out->local_keys, &r->out->leads, d) != 0)
		return -1;
	return 0;
}

int
xz_model_run(const struct xz_model_run_opts *o, struct xz_model_run_result *out,
    struct xz_diag *d)
{
	struct run *r = calloc(1, sizeof(*r));
	struct timespec t0, t1;
	int rc;

	memset(out, 0, sizeof(*out));
	out->failed_step = -1;
	if (r == NULL)
		return xz_diag_set(d, "out of memory");
	r->o = o;
	r->out = out;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	rc = run(r, d);
	if (rc != 0 && out->started) {
		struct xz_diag d2;
		const char *step = out->failed_step >= 0 ?
		    r->m->steps[out->failed_step].name : r->steps_done ?
		    "(after the last step)" : NULL;
		snprintf(out->reason, sizeof(out->reason), "%s", d->msg);
		if (xz_leads_run_fail(r->node, &r->rec, step, d->msg, &d2) != 0)
			fprintf(stderr, "xiezhi: recording the failed run failed: %s\n", d2.msg);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	out->seconds = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	drop_temp(r);
	if (r->plan_ok)
		xz_model_plan_release(&r->plan);
	for (size_t i = 0; i < XZ_MODEL_MAX_STEPS; i++)
		for (size_t p = 0; p < 2; p++)
			free(r->rf[i][p]);
	xz_node_close(r->node);
	xz_net_stop(r->net);
	free(r->conf);
	free(r->m);
	free(r);
	return rc;
}
