/*
 * Models against the node: the plan a run follows, the SQL of its
 * queries, and the requests of its steps (node/model.h; docs/models.md
 * §5-§6).
 */
#include "model.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int
pfail(struct xz_perror *e, const char *file, unsigned long line, const char *key,
    const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static int
pfail(struct xz_perror *e, const char *file, unsigned long line, const char *key,
    const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return xz_perror_set(e, file, line, key, "%s", msg);
}

/* ---- names in scope ---- */

struct scope_ctx {
	struct xz_model_plan *plan;
	int local_only;
	int mark;		/* record the steps referenced in plan->joined */
};

static int
local_column(const struct xz_model_plan *plan, const char *name, size_t *idx)
{
	for (size_t i = 0; i < plan->local.ncolumns; i++)
		if (strcmp(plan->local.columns[i].name, name) == 0) {
			*idx = i;
			return 0;
		}
	return -1;
}

static int
resolve(void *arg, const char *step, const char *name, enum xz_coltype *type,
    char alias[XZ_EXPR_ALIAS_MAX], char *why, size_t cap)
{
	struct scope_ctx *c = arg;
	const struct xz_model *m = c->plan->m;
	const struct xz_model_label *l;
	size_t idx;

	if (step[0] == '\0') {
		if (!m->has_local || local_column(c->plan, name, &idx) != 0) {
			snprintf(why, cap, "dataset %s has no column '%s' ('xiezhi dataset show "
			    "%s' lists them)", m->local_dataset, name, m->local_dataset);
			return -1;
		}
		*type = c->plan->local.columns[idx].type;
		snprintf(alias, XZ_EXPR_ALIAS_MAX, "L.%s", c->plan->local.columns[idx].sql);
		return 0;
	}
	for (size_t i = 0; i < m->n_steps && !c->local_only; i++) {
		if (strcmp(m->steps[i].name, step) != 0)
			continue;
		if ((l = xz_model_step_label(&m->steps[i], name, &idx)) == NULL)
			break;
		*type = l->type;
		snprintf(alias, XZ_EXPR_ALIAS_MAX, "s%zu.l%zu", i + 1, idx + 1);
		if (c->mark)
			c->plan->joined[i] = 1;
		return 0;
	}
	snprintf(why, cap, "no label %s.%s in scope", step, name);
	return -1;
}

static int
check_filter(struct xz_model_plan *plan, const char *text, int local_only, const char *file,
    unsigned long line, const char *key, struct xz_expr **out, struct xz_perror *e)
{
	struct scope_ctx c = { plan, local_only, 1 };
	struct xz_expr_scope sc = { resolve, &c };
	struct xz_expr_error ee;

	*out = NULL;
	if (text[0] == '\0')
		return 0;
	if (xz_expr_parse(text, out, &ee) != 0 || xz_expr_check(*out, &sc, &ee) != 0) {
		xz_expr_free(*out);
		*out = NULL;
		/* Positions refer to the canonical text: quote the part. */
		if (ee.pos > 0)
			return pfail(e, file, line, key, "%s (at character %zu of \"%.200s\")",
			    ee.msg, ee.pos, text);
		return pfail(e, file, line, key, "%s", ee.msg);
	}
	return 0;
}

static int
check_outputs(struct xz_model_plan *plan, const char *file, struct xz_perror *e)
{
	const struct xz_model *m = plan->m;
	struct scope_ctx c = { plan, 0, 1 };
	char why[400], key[32];

	for (size_t i = 0; i < m->n_output; i++) {
		struct xz_model_output *o = &plan->out[i];
		xz_model_ref_name(&m->output[i], o->name, sizeof(o->name));
		snprintf(key, sizeof(key), "output[%zu]", i);
		if (resolve(&c, m->output[i].step, m->output[i].name, &o->type, o->alias, why,
		    sizeof(why)) != 0)
			return pfail(e, file, m->lines.output[i], key, "%s", why);
	}
	return 0;
}

static int
check_local(struct xz_node *node, struct xz_model_plan *plan, const char *file,
    struct xz_perror *e)
{
	const struct xz_model *m = plan->m;
	struct xz_diag d;

	if (xz_dataset_schema(node, m->local_dataset, &plan->local, &d) != 0)
		return pfail(e, file, m->lines.local_dataset, "local.dataset", "%s", d.msg);
	if (local_column(plan, m->local_key, &plan->key_col) != 0)
		return pfail(e, file, m->lines.local_key, "local.key", "dataset %s has no "
		    "column '%s' ('xiezhi dataset show %s' lists them)", m->local_dataset,
		    m->local_key, m->local_dataset);
	return 0;
}

static int
check_peers(const struct xz_nodeconf *conf, struct xz_model_plan *plan, const char *file,
    struct xz_perror *e)
{
	const struct xz_model *m = plan->m;
	char key[96];

	if (conf->identity[0] == '\0')
		return pfail(e, file, 0, NULL, "this node has no identity yet: set it with "
		    "'xiezhi config set identity ID' (its certificate's name)");
	snprintf(plan->identity, sizeof(plan->identity), "%s", conf->identity);
	for (size_t i = 0; i < m->n_steps; i++) {
		const struct xz_model_step *s = &m->steps[i];
		for (size_t p = 0; p < s->n_parties; p++) {
			const struct xz_conf_peer *peer = xz_nodeconf_peer(conf, s->party[p].peer);
			if (s->mode == XZ_MODE_DELEGATED)
				snprintf(key, sizeof(key), "steps[%zu].delegated[%zu].peer", i, p);
			else
				snprintf(key, sizeof(key), "steps[%zu].peer", i);
			if (peer == NULL || peer->identity[0] == '\0')
				return pfail(e, file, m->lines.party[i][p], key, "no peer '%s' with "
				    "an identity in xiezhi.conf: add it with 'xiezhi config set "
				    "peer.%s.address HOST:PORT peer.%s.identity ID'", s->party[p].peer,
				    s->party[p].peer, s->party[p].peer);
			snprintf(plan->peer_identity[i][p], sizeof(plan->peer_identity[i][p]), "%s",
			    peer->identity);
		}
	}
	return 0;
}

int
xz_model_check(struct xz_node *node, const struct xz_nodeconf *conf,
    const struct xz_model *m, const char *file, struct xz_model_plan *plan,
    struct xz_perror *e)
{
	memset(plan, 0, sizeof(*plan));
	plan->m = m;
	if (m->has_local && check_local(node, plan, file, e) != 0)
		goto fail;
	if (check_peers(conf, plan, file, e) != 0 ||
	    check_filter(plan, m->local_filter, 1, file, m->lines.local_filter,
	    "local.filter", &plan->local_filter, e) != 0 ||
	    check_filter(plan, m->filter, 0, file, m->lines.filter, "filter", &plan->filter,
	    e) != 0 || check_outputs(plan, file, e) != 0)
		goto fail;
	/* A delegated first step is where the working set starts. */
	if (m->steps[0].mode == XZ_MODE_DELEGATED)
		plan->joined[0] = 1;
	return 0;
fail:
	xz_model_plan_release(plan);
	return -1;
}

void
xz_model_plan_release(struct xz_model_plan *plan)
{
	xz_expr_free(plan->local_filter);
	xz_expr_free(plan->filter);
	plan->local_filter = plan->filter = NULL;
}

/* ---- SQL ---- */

/* The lead key: the local key column, as text (an int key is sent as its
 * decimal digits), or the delegated step's matched key. */
static void
add_key(const struct xz_model_plan *plan, struct xz_sql *s)
{
	const struct xz_dataset_column *c;
	char alias[16];

	if (!plan->m->has_local) {
		xz_sql_ident(s, "s1.k");
		return;
	}
	c = &plan->local.columns[plan->key_col];
	snprintf(alias, sizeof(alias), "L.%s", c->sql);
	if (c->type == XZ_COL_INT) {
		xz_sql_add(s, "CAST(");
		xz_sql_ident(s, alias);
		xz_sql_add(s, " AS TEXT)");
	} else {
		xz_sql_ident(s, alias);
	}
}

static int
add_filter(const struct xz_expr *x, const char *as_of, struct xz_sql *s, struct xz_diag *d)
{
	struct xz_expr_error ee;

	if (x == NULL)
		return 0;
	xz_sql_add(s, " AND ");
	if (xz_expr_compile(x, as_of, s, &ee) != 0)
		return xz_diag_set(d, "compiling a filter: %s", ee.msg);
	return 0;
}

/* FROM ... WHERE <keys>: the local rows (or the delegated matches) joined
 * with the label tables of the steps the filter and outputs use. */
static void
add_from(const struct xz_model_plan *plan, int with_keys, struct xz_sql *s)
{
	const struct xz_model *m = plan->m;
	char t[32], a[32];

	xz_sql_add(s, " FROM ");
	if (m->has_local) {
		xz_sql_ident(s, plan->local.table);
		xz_sql_add(s, " AS L");
	} else {
		xz_sql_add(s, "xz_s1 AS s1");
	}
	for (size_t i = m->has_local ? 0 : 1; with_keys && i < m->n_steps; i++) {
		if (!plan->joined[i])
			continue;
		snprintf(t, sizeof(t), "xz_s%zu", i + 1);
		snprintf(a, sizeof(a), "s%zu", i + 1);
		xz_sql_add(s, " JOIN ");
		xz_sql_ident(s, t);
		xz_sql_add(s, " AS ");
		xz_sql_ident(s, a);
		xz_sql_add(s, " ON ");
		snprintf(a, sizeof(a), "s%zu.k", i + 1);
		xz_sql_ident(s, a);
		xz_sql_add(s, " = ");
		add_key(plan, s);
	}
	xz_sql_add(s, " WHERE ");
	add_key(plan, s);
	xz_sql_add(s, " IS NOT NULL");
	if (with_keys) {
		xz_sql_add(s, " AND ");
		add_key(plan, s);
		xz_sql_add(s, " IN (SELECT k FROM xz_keys)");
	}
}

int
xz_model_sql(const struct xz_model_plan *plan, enum xz_model_query q, const char *as_of,
    struct xz_sql *s, struct xz_diag *d)
{
	int with_keys = q == XZ_MQ_LEADS || q == XZ_MQ_WORKING;

	if (!plan->m->has_local && !with_keys)
		return xz_diag_set(d, "internal: a delegated model has no local query");
	xz_sql_add(s, "SELECT ");
	switch (q) {
	case XZ_MQ_KEYS:
		add_key(plan, s);
		break;
	case XZ_MQ_ROWS: case XZ_MQ_WORKING:
		xz_sql_add(s, "count(*)");
		break;
	case XZ_MQ_LEADS:
		xz_sql_add(s, "DISTINCT ");
		add_key(plan, s);
		for (size_t i = 0; i < plan->m->n_output; i++) {
			xz_sql_add(s, ", ");
			xz_sql_ident(s, plan->out[i].alias);
		}
		break;
	}
	add_from(plan, with_keys, s);
	if (add_filter(plan->local_filter, as_of, s, d) != 0 ||
	    (q == XZ_MQ_LEADS && add_filter(plan->filter, as_of, s, d) != 0))
		return -1;
	if (q == XZ_MQ_KEYS) {
		xz_sql_add(s, " GROUP BY 1 ORDER BY min(L.rowid)");
	} else if (q == XZ_MQ_LEADS) {
		xz_sql_add(s, " ORDER BY 1");
		for (size_t i = 0; i < plan->m->n_output; i++) {
			char num[16];
			snprintf(num, sizeof(num), ", %zu", i + 2);
			xz_sql_add(s, num);
		}
	}
	if (s->failed)
		return xz_diag_set(d, "building the model's query failed (out of memory, or a "
		    "store name that is not a plain name)");
	return 0;
}

int
xz_model_as_of(const struct xz_model *m, const char *override,
    char out[XZ_MODEL_DATE_LEN + 1], struct xz_diag *d)
{
	int64_t days;
	time_t now;
	struct tm tm;

	if (override != NULL) {
		if (xz_date_parse(override, strlen(override), &days) != 0)
			return xz_diag_set(d, "--as-of must be a date YYYY-MM-DD, not '%s'",
			    override);
		snprintf(out, XZ_MODEL_DATE_LEN + 1, "%s", override);
		return 0;
	}
	if (m->as_of[0] != '\0') {
		snprintf(out, XZ_MODEL_DATE_LEN + 1, "%s", m->as_of);
		return 0;
	}
	now = time(NULL);
	if (gmtime_r(&now, &tm) == NULL ||
	    strftime(out, XZ_MODEL_DATE_LEN + 1, "%Y-%m-%d", &tm) != XZ_MODEL_DATE_LEN)
		return xz_diag_set(d, "cannot read today's date");
	return 0;
}

/* ---- requests ---- */

void
xz_model_request_name(const struct xz_model_step *s, size_t p, char *buf, size_t cap)
{
	if (s->mode == XZ_MODE_DELEGATED)
		snprintf(buf, cap, "%s.%s.yaml", s->name, s->party[p].peer);
	else
		snprintf(buf, cap, "%s.yaml", s->name);
}

uint64_t
xz_model_query_size(const struct xz_model_step *s, uint64_t n)
{
	uint64_t unit = 1;

	if (s->query_size > 0)
		return s->query_size;
	if (n <= 100)
		return 100;
	/* Two significant digits, rounded up: the owner learns the size of
	 * the query only to within a few per cent. */
	while (n / unit >= 100)
		unit *= 10;
	n = (n + unit - 1) / unit * unit;
	return n > XZ_QUERY_SIZE_MAX ? XZ_QUERY_SIZE_MAX : n;
}

static void
party_labels(const struct xz_model_party *p, struct xz_request *r)
{
	r->n_labels = p->n_labels;
	for (size_t i = 0; i < p->n_labels; i++)
		snprintf(r->labels[i], sizeof(r->labels[i]), "%s", p->labels[i].name);
	xz_request_sort_labels(r);
}

int
xz_model_draft(const struct xz_model_plan *plan, size_t i, size_t p, uint64_t query_size,
    const char *case_number, int64_t created, int64_t expires,
    const unsigned char link[XZ_REQUEST_ID_LEN], struct xz_request *r, struct xz_diag *d)
{
	const struct xz_model *m = plan->m;
	const struct xz_model_step *s = &m->steps[i];
	const struct xz_model_party *pa = &s->party[p];

	memset(r, 0, sizeof(*r));
	if (strlen(case_number) > XZ_CASE_NUMBER_MAX)
		return xz_diag_set(d, "the case number is longer than %d bytes",
		    XZ_CASE_NUMBER_MAX);
	xz_request_new_id(r->id);
	snprintf(r->requester, sizeof(r->requester), "%s", plan->identity);
	snprintf(r->responder, sizeof(r->responder), "%s", plan->peer_identity[i][p]);
	snprintf(r->policy_id, sizeof(r->policy_id), "%s", pa->policy_id);
	r->policy_version = pa->policy_version;
	snprintf(r->dataset, sizeof(r->dataset), "%s", pa->dataset);
	r->mode = s->mode;
	party_labels(pa, r);
	r->query_size = query_size;
	snprintf(r->purpose, sizeof(r->purpose), "%s", m->purpose);
	snprintf(r->legal_basis, sizeof(r->legal_basis), "%s", m->legal_basis);
	snprintf(r->case_number, sizeof(r->case_number), "%s", case_number);
	r->created_at = created;
	r->expires_at = expires;
	if (s->mode == XZ_MODE_DELEGATED) {
		snprintf(r->partner, sizeof(r->partner), "%s", plan->peer_identity[i][1 - p]);
		memcpy(r->link, link, XZ_REQUEST_ID_LEN);
	}
	return 0;
}

int
xz_model_request_matches(const struct xz_model_plan *plan, size_t i, size_t p,
    const struct xz_request *req, struct xz_diag *d)
{
	const struct xz_model_step *s = &plan->m->steps[i];
	const struct xz_model_party *pa = &s->party[p];
	struct xz_request want;
	static const unsigned char zero[XZ_REQUEST_ID_LEN];

	memset(&want, 0, sizeof(want));
	party_labels(pa, &want);
	if (strcmp(req->requester, plan->identity) != 0)
		return xz_diag_set(d, "it is a request of '%s', not of this node (%s)",
		    req->requester, plan->identity);
	if (strcmp(req->responder, plan->peer_identity[i][p]) != 0)
		return xz_diag_set(d, "it is addressed to '%s', but peer %s is '%s'",
		    req->responder, pa->peer, plan->peer_identity[i][p]);
	if (strcmp(req->policy_id, pa->policy_id) != 0 ||
	    req->policy_version != pa->policy_version)
		return xz_diag_set(d, "it names policy %s version %u, the step %s@%u",
		    req->policy_id, (unsigned)req->policy_version, pa->policy_id,
		    (unsigned)pa->policy_version);
	if (strcmp(req->dataset, pa->dataset) != 0)
		return xz_diag_set(d, "it asks for dataset %s, the step for %s", req->dataset,
		    pa->dataset);
	if (req->mode != s->mode)
		return xz_diag_set(d, "its mode is %s, the step's %s",
		    xz_mode_name(req->mode) ? xz_mode_name(req->mode) : "delegated",
		    s->mode == XZ_MODE_DELEGATED ? "delegated" : xz_mode_name(s->mode));
	if (req->n_labels != want.n_labels)
		return xz_diag_set(d, "it asks for %zu labels, the step for %zu", req->n_labels,
		    want.n_labels);
	for (size_t k = 0; k < want.n_labels; k++)
		if (strcmp(req->labels[k], want.labels[k]) != 0)
			return xz_diag_set(d, "its labels differ from the step's (%s where the "
			    "step has %s)", req->labels[k], want.labels[k]);
	if (s->mode == XZ_MODE_DELEGATED) {
		if (strcmp(req->partner, plan->peer_identity[i][1 - p]) != 0)
			return xz_diag_set(d, "its partner is '%s', the step's other owner '%s'",
			    req->partner, plan->peer_identity[i][1 - p]);
		if (memcmp(req->link, zero, sizeof(zero)) == 0)
			return xz_diag_set(d, "it carries no link id for the delegated join");
	}
	return 0;
}
