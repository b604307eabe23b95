/*
 * Model files: parse against the schema of docs/models.md §3, print the
 * normalised form, compare (node/model.h).
 */
#include "model.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "cli.h"
#include "yamlschema.h"

static const char *const top_keys[] = {
	"id", "version", "title", "purpose", "legal_basis", "case_number", "as_of",
	"local", "steps", "filter", "output", NULL
};
static const char *const top_required[] = {
	"id", "version", "title", "purpose", "legal_basis", "steps", "output", NULL
};
static const char *const local_keys[] = { "dataset", "key", "filter", NULL };
static const char *const local_required[] = { "dataset", "key", NULL };
static const char *const step_keys[] = {
	"name", "peer", "policy", "policy_version", "dataset", "mode", "labels",
	"query_size", "delegated", "key", NULL
};
static const char *const owner_keys[] = {
	"peer", "policy", "policy_version", "dataset", "labels", NULL
};
static const char *const owner_required[] = { "peer", "policy", "dataset", NULL };

/*
 * The schema helpers of policies/ point unknown keys at docs/policy.md;
 * for a model file the schema is docs/models.md.
 */
static int
mapping(struct xz_y *y, yaml_node_t *n, const char *path, const char *const *allowed,
    const char *const *required)
{
	if (xz_y_mapping(y, n, path, allowed, required) == 0)
		return 0;
	if (y->e != NULL && strstr(y->e->msg, "docs/policy.md") != NULL)
		snprintf(y->e->msg, sizeof(y->e->msg), "unknown key (see docs/models.md "
		    "for the keys of a model file)");
	return -1;
}

/* ---- pieces ---- */

static int
parse_date(struct xz_y *y, yaml_node_t *n, const char *path, char out[11])
{
	const char *s;
	int64_t d;

	if (xz_y_scalar(y, n, path, &s) != 0)
		return -1;
	if (xz_date_parse(s, strlen(s), &d) != 0)
		return xz_y_fail(y, n, path, "expected a date YYYY-MM-DD, got \"%.40s\"", s);
	memcpy(out, s, 11);
	return 0;
}

/* "id@version", or "id" with policy_version beside it. */
static int
parse_policy(struct xz_y *y, yaml_node_t *map, const char *path, struct xz_model_party *p)
{
	yaml_node_t *n = xz_y_get(y, map, "policy"), *vn = xz_y_get(y, map, "policy_version");
	char kp[XZ_PATH_MAX], id[XZ_NAME_MAX + 16];
	const char *s, *at, *why;
	uint64_t v;

	xz_y_path(kp, path, "policy");
	if (xz_y_scalar(y, n, kp, &s) != 0)
		return -1;
	at = strchr(s, '@');
	if ((at != NULL) == (vn != NULL))
		return xz_y_fail(y, n, kp, at != NULL ? "the version is given twice (policy: "
		    "ID@VERSION or policy_version, not both)" : "the policy needs its version: "
		    "write policy: ID@VERSION (for example fuel-tax@1)");
	if (at != NULL) {
		if ((size_t)(at - s) >= sizeof(id) ||
		    xz_parse_u64(at + 1, 1, XZ_POLICY_VERSION_MAX, &v) != 0)
			return xz_y_fail(y, n, kp, "expected ID@VERSION with VERSION 1 to %llu",
			    (unsigned long long)XZ_POLICY_VERSION_MAX);
		memcpy(id, s, (size_t)(at - s));
		id[at - s] = '\0';
	} else {
		snprintf(id, sizeof(id), "%s", s);
		if (xz_y_u64(y, vn, xz_y_path(kp, path, "policy_version"), 1,
		    XZ_POLICY_VERSION_MAX, &v) != 0)
			return -1;
		xz_y_path(kp, path, "policy");
	}
	if ((why = xz_check_name(id)) != NULL)
		return xz_y_fail(y, n, kp, "not a valid policy id: %s", why);
	memcpy(p->policy_id, id, strlen(id) + 1);
	p->policy_version = (uint32_t)v;
	return 0;
}

/* NAME or NAME:TYPE, split at the last ':'. */
static int
parse_label(struct xz_y *y, yaml_node_t *n, const char *path, struct xz_model_label *l)
{
	const char *s, *colon, *why;
	char name[2 * XZ_NAME_MAX + 16];
	size_t nl;

	if (xz_y_scalar(y, n, path, &s) != 0)
		return -1;
	colon = strrchr(s, ':');
	nl = colon != NULL ? (size_t)(colon - s) : strlen(s);
	if (nl >= sizeof(name))
		return xz_y_fail(y, n, path, "label name longer than %d bytes", XZ_NAME_MAX);
	memcpy(name, s, nl);
	name[nl] = '\0';
	l->type = XZ_COL_TEXT;
	if (colon != NULL && xz_coltype_parse(colon + 1, &l->type) != 0)
		return xz_y_fail(y, n, path, "unknown type \"%.20s\" (write NAME or NAME:TYPE, "
		    "TYPE one of cn_id, uscc, phone, text, int, decimal, date)", colon + 1);
	if ((why = xz_check_column(name)) != NULL)
		return xz_y_fail(y, n, path, "not a usable label name: %s", why);
	memcpy(l->name, name, nl + 1);
	return 0;
}

static int
parse_labels(struct xz_y *y, yaml_node_t *n, const char *path, struct xz_model_party *p)
{
	char kp[XZ_PATH_MAX];
	size_t count;

	if (n == NULL)
		return 0;
	if (xz_y_seq(y, n, path, 0, XZ_POLICY_MAX_LABELS, &count) != 0)
		return -1;
	for (size_t i = 0; i < count; i++) {
		yaml_node_t *it = xz_y_item(y, n, i);
		xz_y_path_idx(kp, path, i);
		if (parse_label(y, it, kp, &p->labels[i]) != 0)
			return -1;
		for (size_t j = 0; j < i; j++)
			if (strcmp(p->labels[i].name, p->labels[j].name) == 0)
				return xz_y_fail(y, it, kp, "label %s listed twice", p->labels[i].name);
		p->n_labels = i + 1;
	}
	return 0;
}

static int
parse_party(struct xz_y *y, yaml_node_t *map, const char *path, struct xz_model_party *p)
{
	char kp[XZ_PATH_MAX];

	if (xz_y_name(y, xz_y_get(y, map, "peer"), xz_y_path(kp, path, "peer"), p->peer,
	    sizeof(p->peer)) != 0 ||
	    parse_policy(y, map, path, p) != 0 ||
	    xz_y_name(y, xz_y_get(y, map, "dataset"), xz_y_path(kp, path, "dataset"),
	    p->dataset, sizeof(p->dataset)) != 0)
		return -1;
	return parse_labels(y, xz_y_get(y, map, "labels"), xz_y_path(kp, path, "labels"), p);
}

static int
parse_mode(struct xz_y *y, yaml_node_t *n, const char *path, struct xz_model_step *s)
{
	const char *v;

	if (xz_y_scalar(y, n, path, &v) != 0)
		return -1;
	if ((s->mode = xz_mode_from_name(v)) == 0)
		return xz_y_fail(y, n, path, "unknown mode \"%.40s\" (use intersect, "
		    "difference or cardinality; a three-party step is written with "
		    "delegated:)", v);
	return 0;
}

static int
parse_delegated(struct xz_y *y, yaml_node_t *step, const char *path, struct xz_model *m,
    size_t idx)
{
	struct xz_model_step *s = &m->steps[idx];
	yaml_node_t *list = xz_y_get(y, step, "delegated"), *k;
	char kp[XZ_PATH_MAX], ip[XZ_PATH_MAX];
	size_t count;
	static const char *const alone[] = { "peer", "policy", "policy_version", "dataset",
		"mode", "labels", NULL };

	for (size_t i = 0; alone[i] != NULL; i++)
		if ((k = xz_y_get(y, step, alone[i])) != NULL)
			return xz_y_fail(y, k, xz_y_path(kp, path, alone[i]), "a delegated step "
			    "names its two owners under delegated:, not here");
	xz_y_path(kp, path, "delegated");
	if (xz_y_seq(y, list, kp, 2, 2, &count) != 0)
		return -1;
	s->mode = XZ_MODE_DELEGATED;
	s->n_parties = 2;
	for (size_t p = 0; p < 2; p++) {
		yaml_node_t *it = xz_y_item(y, list, p);
		xz_y_path_idx(ip, kp, p);
		m->lines.party[idx][p] = xz_y_line(it);
		if (mapping(y, it, ip, owner_keys, owner_required) != 0 ||
		    parse_party(y, it, ip, &s->party[p]) != 0)
			return -1;
	}
	if (strcmp(s->party[0].peer, s->party[1].peer) == 0)
		return xz_y_fail(y, xz_y_item(y, list, 1), kp, "both owners are peer %s: a "
		    "delegated step joins two different owners (use two steps for two "
		    "datasets of one owner)", s->party[0].peer);
	if ((k = xz_y_get(y, step, "key")) != NULL &&
	    xz_y_column(y, k, xz_y_path(ip, path, "key"), s->key, sizeof(s->key)) != 0)
		return -1;
	for (size_t i = 0; i < s->party[1].n_labels; i++)
		for (size_t j = 0; j < s->party[0].n_labels; j++)
			if (strcmp(s->party[1].labels[i].name, s->party[0].labels[j].name) == 0 &&
			    strcmp(s->party[1].labels[i].name, s->key) != 0)
				return xz_y_fail(y, xz_y_item(y, list, 1), kp, "label %s is asked of "
				    "both owners: label names must be unique in a delegated step "
				    "(only its key may be asked of both)", s->party[1].labels[i].name);
	if (xz_y_get(y, step, "query_size") == NULL)
		return xz_y_fail(y, step, xz_y_path(ip, path, "query_size"), "a delegated step "
		    "needs query_size: this node holds no data to size the join from");
	return 0;
}

static int
parse_step(struct xz_y *y, yaml_node_t *n, const char *path, struct xz_model *m, size_t idx)
{
	struct xz_model_step *s = &m->steps[idx];
	yaml_node_t *k;
	char kp[XZ_PATH_MAX];

	m->lines.step[idx] = xz_y_line(n);
	if (mapping(y, n, path, step_keys, NULL) != 0)
		return -1;
	if ((k = xz_y_get(y, n, "name")) == NULL)
		return xz_y_fail(y, n, xz_y_path(kp, path, "name"), "missing required key");
	if (xz_y_name(y, k, xz_y_path(kp, path, "name"), s->name, sizeof(s->name)) != 0)
		return -1;
	for (size_t j = 0; j < idx; j++)
		if (strcmp(m->steps[j].name, s->name) == 0)
			return xz_y_fail(y, k, kp, "step name %s is used twice", s->name);
	if ((k = xz_y_get(y, n, "query_size")) != NULL &&
	    xz_y_u64(y, k, xz_y_path(kp, path, "query_size"), 1, XZ_QUERY_SIZE_MAX,
	    &s->query_size) != 0)
		return -1;
	if (xz_y_get(y, n, "delegated") != NULL)
		return parse_delegated(y, n, path, m, idx);
	if ((k = xz_y_get(y, n, "key")) != NULL)
		return xz_y_fail(y, k, xz_y_path(kp, path, "key"), "key belongs to delegated "
		    "steps (a two-party step matches on local.key)");
	static const char *const need[] = { "peer", "policy", "dataset", "mode", NULL };
	for (size_t i = 0; need[i] != NULL; i++)
		if (xz_y_get(y, n, need[i]) == NULL)
			return xz_y_fail(y, n, xz_y_path(kp, path, need[i]), "missing required "
			    "key (or write a three-party step with delegated:)");
	s->n_parties = 1;
	m->lines.party[idx][0] = xz_y_line(n);
	if (parse_mode(y, xz_y_get(y, n, "mode"), xz_y_path(kp, path, "mode"), s) != 0 ||
	    parse_party(y, n, path, &s->party[0]) != 0)
		return -1;
	if (s->mode != XZ_MODE_INTERSECT && s->party[0].n_labels > 0)
		return xz_y_fail(y, xz_y_get(y, n, "labels"), xz_y_path(kp, path, "labels"),
		    "a %s step reveals no labels: only intersect steps ask for them",
		    xz_mode_name(s->mode));
	return 0;
}

/*
 * Parses an expression and keeps its canonical text; errors name the
 * character position in the file's text.
 */
struct refcheck {
	const struct xz_model *m;
	int local_only;
	char why[400];
	size_t pos;
};

/*
 * What a reference may name, as far as the file alone can tell: the
 * local filter runs before any step, so only local columns; elsewhere a
 * step.label must name a step and a label it asks for, and a model
 * without a local dataset has no local columns.
 */
static int
ref_ok(const struct xz_model *m, int local_only, const char *step, const char *name,
    char *why, size_t cap)
{
	const struct xz_model_step *st;

	if (step[0] == '\0') {
		if (!m->has_local) {
			snprintf(why, cap, "this model has no local dataset, so '%s' is not a "
			    "column: name what a step received as step.label", name);
			return -1;
		}
		return 0;
	}
	if (local_only) {
		snprintf(why, cap, "the local filter runs before any step: it can use only "
		    "columns of the local dataset (the model's filter can use %s.%s)",
		    step, name);
		return -1;
	}
	if ((st = xz_model_step_named(m, step)) == NULL) {
		snprintf(why, cap, "there is no step '%s'", step);
		return -1;
	}
	if (st->mode != XZ_MODE_INTERSECT && st->mode != XZ_MODE_DELEGATED) {
		snprintf(why, cap, "step %s is a %s step: it receives no labels", step,
		    xz_mode_name(st->mode));
		return -1;
	}
	if (xz_model_step_label(st, name, NULL) == NULL) {
		snprintf(why, cap, "step %s does not ask for a label '%s' (add it to its "
		    "labels)", step, name);
		return -1;
	}
	return 0;
}

static int
refcheck_fn(void *arg, const char *step, const char *name, size_t pos)
{
	struct refcheck *c = arg;

	if (ref_ok(c->m, c->local_only, step, name, c->why, sizeof(c->why)) != 0) {
		c->pos = pos;
		return 1;
	}
	return 0;
}

static int
parse_filter(struct xz_y *y, yaml_node_t *n, const char *path, char *out, size_t cap,
    unsigned long *line, const struct xz_model *m, int local_only)
{
	struct refcheck rc_ = { m, local_only, "", 0 };
	struct xz_expr *x = NULL;
	struct xz_expr_error ee;
	const char *s;
	int rc = -1;

	*line = xz_y_line(n);
	if (xz_y_scalar(y, n, path, &s) != 0)
		return -1;
	if (xz_expr_parse(s, &x, &ee) != 0) {
		if (ee.pos > 0)
			return xz_y_fail(y, n, path, "at character %zu: %s", ee.pos, ee.msg);
		return xz_y_fail(y, n, path, "%s", ee.msg);
	}
	if (xz_expr_foreach_ref(x, refcheck_fn, &rc_) != 0)
		xz_y_fail(y, n, path, "at character %zu: %s", rc_.pos, rc_.why);
	else if (xz_expr_print(x, out, cap) != 0)
		xz_y_fail(y, n, path, "longer than %d bytes once written out in full",
		    XZ_EXPR_MAX);
	else
		rc = 0;
	xz_expr_free(x);
	return rc;
}

/* ---- the whole file ---- */

static int
parse_local(struct xz_y *y, yaml_node_t *n, struct xz_model *m)
{
	yaml_node_t *f;

	m->has_local = 1;
	m->lines.local = xz_y_line(n);
	if (mapping(y, n, "local", local_keys, local_required) != 0 ||
	    xz_y_name(y, xz_y_get(y, n, "dataset"), "local.dataset", m->local_dataset,
	    sizeof(m->local_dataset)) != 0 ||
	    xz_y_column(y, xz_y_get(y, n, "key"), "local.key", m->local_key,
	    sizeof(m->local_key)) != 0)
		return -1;
	m->lines.local_dataset = xz_y_line(xz_y_get(y, n, "dataset"));
	m->lines.local_key = xz_y_line(xz_y_get(y, n, "key"));
	if ((f = xz_y_get(y, n, "filter")) != NULL &&
	    parse_filter(y, f, "local.filter", m->local_filter, sizeof(m->local_filter),
	    &m->lines.local_filter, m, 1) != 0)
		return -1;
	return 0;
}

static int
parse_steps(struct xz_y *y, yaml_node_t *n, struct xz_model *m)
{
	char kp[XZ_PATH_MAX];
	size_t count;

	if (xz_y_seq(y, n, "steps", 1, XZ_MODEL_MAX_STEPS, &count) != 0)
		return -1;
	for (size_t i = 0; i < count; i++) {
		yaml_node_t *it = xz_y_item(y, n, i);
		xz_y_path_idx(kp, "steps", i);
		if (parse_step(y, it, kp, m, i) != 0)
			return -1;
		m->n_steps = i + 1;
		if (m->steps[i].mode == XZ_MODE_DELEGATED && i > 0)
			return xz_y_fail(y, it, kp, "a delegated step must be the first step "
			    "(its matches are where the model starts)");
	}
	return 0;
}

static int
parse_output(struct xz_y *y, yaml_node_t *n, struct xz_model *m)
{
	char kp[XZ_PATH_MAX], why[400], a[2 * XZ_NAME_MAX + 8], b[2 * XZ_NAME_MAX + 8];
	struct xz_expr_error ee;
	size_t count;
	const char *s;

	if (xz_y_seq(y, n, "output", 1, XZ_MODEL_MAX_OUTPUT, &count) != 0)
		return -1;
	for (size_t i = 0; i < count; i++) {
		yaml_node_t *it = xz_y_item(y, n, i);
		struct xz_model_ref *r = &m->output[i];
		xz_y_path_idx(kp, "output", i);
		m->lines.output[i] = xz_y_line(it);
		if (xz_y_scalar(y, it, kp, &s) != 0)
			return -1;
		if (xz_expr_parse_ref(s, r->step, r->name, &ee) != 0)
			return xz_y_fail(y, it, kp, "%s", ee.msg);
		if (ref_ok(m, 0, r->step, r->name, why, sizeof(why)) != 0)
			return xz_y_fail(y, it, kp, "%s", why);
		xz_model_ref_name(r, a, sizeof(a));
		for (size_t j = 0; j < i; j++) {
			xz_model_ref_name(&m->output[j], b, sizeof(b));
			if (strcmp(a, b) == 0)
				return xz_y_fail(y, it, kp, "%s is listed twice", a);
		}
		m->n_output = i + 1;
	}
	return 0;
}

/*
 * The requester of a delegated step holds no data: only a revealed key
 * says whom a match is about, so the step names the label that carries it.
 */
static int
check_delegated_key(struct xz_y *y, yaml_node_t *step, const struct xz_model_step *s)
{
	if (s->key[0] == '\0')
		return xz_y_fail(y, step, "steps[0].key", "a delegated step needs key: the "
		    "label that names whom a match is about (an owner's key column, asked "
		    "among its labels, e.g. key: id_number)");
	for (size_t p = 0; p < 2; p++)
		for (size_t i = 0; i < s->party[p].n_labels; i++)
			if (strcmp(s->party[p].labels[i].name, s->key) == 0)
				return 0;
	return xz_y_fail(y, xz_y_get(y, step, "key"), "steps[0].key", "no owner is asked "
	    "for label %s: add it to the labels of the owner whose key column it is",
	    s->key);
}

static int
parse_root(struct xz_y *y, yaml_node_t *r, struct xz_model *m)
{
	yaml_node_t *n;
	uint64_t v;

	if (mapping(y, r, "", top_keys, top_required) != 0)
		return -1;
	if (xz_y_name(y, xz_y_get(y, r, "id"), "id", m->id, sizeof(m->id)) != 0 ||
	    xz_y_u64(y, xz_y_get(y, r, "version"), "version", 1, XZ_POLICY_VERSION_MAX,
	    &v) != 0)
		return -1;
	m->version = (uint32_t)v;
	if (xz_y_text(y, xz_y_get(y, r, "title"), "title", m->title, sizeof(m->title)) != 0 ||
	    xz_y_text(y, xz_y_get(y, r, "purpose"), "purpose", m->purpose,
	    sizeof(m->purpose)) != 0 ||
	    xz_y_text(y, xz_y_get(y, r, "legal_basis"), "legal_basis", m->legal_basis,
	    sizeof(m->legal_basis)) != 0)
		return -1;
	if ((n = xz_y_get(y, r, "case_number")) != NULL &&
	    xz_y_text(y, n, "case_number", m->case_number, sizeof(m->case_number)) != 0)
		return -1;
	if ((n = xz_y_get(y, r, "as_of")) != NULL && parse_date(y, n, "as_of", m->as_of) != 0)
		return -1;
	if ((n = xz_y_get(y, r, "local")) != NULL && parse_local(y, n, m) != 0)
		return -1;
	if (parse_steps(y, xz_y_get(y, r, "steps"), m) != 0)
		return -1;
	if (!m->has_local && m->steps[0].mode != XZ_MODE_DELEGATED)
		return xz_y_fail(y, r, "local", "missing: a model starts from a local dataset "
		    "(local: dataset, key) unless its first step is delegated");
	if (m->has_local && m->steps[0].mode == XZ_MODE_DELEGATED)
		return xz_y_fail(y, xz_y_get(y, r, "local"), "local", "a model whose first "
		    "step is delegated starts from that step's matches: remove local");
	if (m->steps[0].mode == XZ_MODE_DELEGATED &&
	    check_delegated_key(y, xz_y_item(y, xz_y_get(y, r, "steps"), 0), &m->steps[0]) != 0)
		return -1;
	if ((n = xz_y_get(y, r, "filter")) != NULL &&
	    parse_filter(y, n, "filter", m->filter, sizeof(m->filter), &m->lines.filter, m,
	    0) != 0)
		return -1;
	return parse_output(y, xz_y_get(y, r, "output"), m);
}

int
xz_model_parse(const char *file, const void *yaml, size_t len, struct xz_model *out,
    struct xz_perror *e)
{
	struct xz_y y;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	if (xz_y_load(&y, file, yaml, len, e) != 0)
		goto done;
	if (parse_root(&y, xz_y_root(&y), out) != 0)
		goto done;
	rc = 0;
done:
	xz_y_free(&y);
	if (rc != 0)
		memset(out, 0, sizeof(*out));
	return rc;
}

int
xz_model_load(const char *path, struct xz_model *out, uint8_t sha256[32],
    struct xz_perror *e)
{
	char *buf = NULL;
	size_t len = 0;
	int rc;

	memset(out, 0, sizeof(*out));
	if (xz_read_small_file(path, XZ_MODEL_FILE_MAX, &buf, &len, e) != 0)
		return -1;
	if (sha256 != NULL)
		crypto_hash_sha256(sha256, (const unsigned char *)buf, len);
	rc = xz_model_parse(path, buf, len, out, e);
	free(buf);
	return rc;
}

/* ---- lookups ---- */

const struct xz_model_step *
xz_model_step_named(const struct xz_model *m, const char *name)
{
	for (size_t i = 0; i < m->n_steps; i++)
		if (strcmp(m->steps[i].name, name) == 0)
			return &m->steps[i];
	return NULL;
}

const struct xz_model_label *
xz_model_step_label(const struct xz_model_step *s, const char *name, size_t *index)
{
	size_t k = 0;

	for (size_t p = 0; p < s->n_parties; p++)
		for (size_t i = 0; i < s->party[p].n_labels; i++, k++)
			if (strcmp(s->party[p].labels[i].name, name) == 0) {
				if (index != NULL)
					*index = k;
				return &s->party[p].labels[i];
			}
	return NULL;
}

void
xz_model_ref_name(const struct xz_model_ref *r, char *buf, size_t cap)
{
	char text[2 * XZ_NAME_MAX + 32];
	struct xz_expr *x = NULL;
	struct xz_expr_error e;

	/* Printed by the filter printer, so it reads back as the same name. */
	snprintf(text, sizeof(text), "%s%s%s\"%s\" is null", r->step[0] ? "\"" : "",
	    r->step, r->step[0] ? "\"." : "", r->name);
	if (xz_expr_parse(text, &x, &e) != 0 || xz_expr_print(x, text, sizeof(text)) != 0) {
		snprintf(buf, cap, "%s%s%s", r->step, r->step[0] ? "." : "", r->name);
	} else {
		text[strlen(text) - strlen(" is null")] = '\0';
		snprintf(buf, cap, "%s", text);
	}
	xz_expr_free(x);
}

/* ---- printing ---- */

static void
label_text(const struct xz_model_label *l, char *buf, size_t cap)
{
	if (l->type != XZ_COL_TEXT || strchr(l->name, ':') != NULL)
		snprintf(buf, cap, "%s:%s", l->name, xz_coltype_name(l->type));
	else
		snprintf(buf, cap, "%s", l->name);
}

static void
print_party(struct xz_yout *o, const struct xz_model_party *p, int with_mode, int mode)
{
	char buf[XZ_NAME_MAX + 32];

	xz_yout_plain(o, "peer");
	xz_yout_plain(o, p->peer);
	xz_yout_plain(o, "policy");
	snprintf(buf, sizeof(buf), "%s@%" PRIu32, p->policy_id, p->policy_version);
	xz_yout_plain(o, buf);
	xz_yout_plain(o, "dataset");
	xz_yout_plain(o, p->dataset);
	if (with_mode) {
		xz_yout_plain(o, "mode");
		xz_yout_plain(o, xz_mode_name(mode));
	}
	if (p->n_labels > 0 || (with_mode && mode == XZ_MODE_INTERSECT)) {
		xz_yout_plain(o, "labels");
		xz_yout_seq_start(o, 1);
		for (size_t i = 0; i < p->n_labels; i++) {
			label_text(&p->labels[i], buf, sizeof(buf));
			xz_yout_plain(o, buf);
		}
		xz_yout_seq_end(o);
	}
}

static void
print_step(struct xz_yout *o, const struct xz_model_step *s)
{
	xz_yout_map_start(o, 0);
	xz_yout_plain(o, "name");
	xz_yout_plain(o, s->name);
	if (s->mode == XZ_MODE_DELEGATED) {
		xz_yout_plain(o, "delegated");
		xz_yout_seq_start(o, 0);
		for (size_t p = 0; p < 2; p++) {
			xz_yout_map_start(o, 0);
			print_party(o, &s->party[p], 0, 0);
			xz_yout_map_end(o);
		}
		xz_yout_seq_end(o);
		if (s->key[0] != '\0') {
			xz_yout_plain(o, "key");
			xz_yout_plain(o, s->key);
		}
	} else {
		print_party(o, &s->party[0], 1, s->mode);
	}
	if (s->query_size > 0) {
		xz_yout_plain(o, "query_size");
		xz_yout_u64(o, s->query_size);
	}
	xz_yout_map_end(o);
}

static void
print_body(struct xz_yout *o, const struct xz_model *m)
{
	char buf[2 * XZ_NAME_MAX + 8];

	xz_yout_map_start(o, 0);
	xz_yout_plain(o, "id");
	xz_yout_plain(o, m->id);
	xz_yout_plain(o, "version");
	xz_yout_u64(o, m->version);
	xz_yout_plain(o, "title");
	xz_yout_quoted(o, m->title);
	xz_yout_plain(o, "purpose");
	xz_yout_quoted(o, m->purpose);
	xz_yout_plain(o, "legal_basis");
	xz_yout_quoted(o, m->legal_basis);
	if (m->case_number[0] != '\0') {
		xz_yout_plain(o, "case_number");
		xz_yout_quoted(o, m->case_number);
	}
	if (m->as_of[0] != '\0') {
		xz_yout_plain(o, "as_of");
		xz_yout_plain(o, m->as_of);
	}
	if (m->has_local) {
		xz_yout_plain(o, "local");
		xz_yout_map_start(o, 0);
		xz_yout_plain(o, "dataset");
		xz_yout_plain(o, m->local_dataset);
		xz_yout_plain(o, "key");
		xz_yout_plain(o, m->local_key);
		if (m->local_filter[0] != '\0') {
			xz_yout_plain(o, "filter");
			xz_yout_quoted(o, m->local_filter);
		}
		xz_yout_map_end(o);
	}
	xz_yout_plain(o, "steps");
	xz_yout_seq_start(o, 0);
	for (size_t i = 0; i < m->n_steps; i++)
		print_step(o, &m->steps[i]);
	xz_yout_seq_end(o);
	if (m->filter[0] != '\0') {
		xz_yout_plain(o, "filter");
		xz_yout_quoted(o, m->filter);
	}
	xz_yout_plain(o, "output");
	xz_yout_seq_start(o, 1);
	for (size_t i = 0; i < m->n_output; i++) {
		xz_model_ref_name(&m->output[i], buf, sizeof(buf));
		xz_yout_plain(o, buf);
	}
	xz_yout_seq_end(o);
	xz_yout_map_end(o);
}

int
xz_model_print(const struct xz_model *m, char **out, struct xz_perror *e)
{
	struct xz_yout o;
	char *body = NULL;

	if (xz_yout_begin(&o) != 0) {
		xz_yout_abort(&o);
		return xz_perror_set(e, NULL, 0, NULL, "cannot start YAML output");
	}
	print_body(&o, m);
	if (xz_yout_end(&o, &body) != 0)
		return xz_perror_set(e, NULL, 0, NULL, "YAML output failed (out of memory?)");
	*out = body;
	return 0;
}

/* ---- comparing ---- */

static int
party_equal(const struct xz_model_party *a, const struct xz_model_party *b)
{
	if (strcmp(a->peer, b->peer) != 0 || strcmp(a->policy_id, b->policy_id) != 0 ||
	    a->policy_version != b->policy_version || strcmp(a->dataset, b->dataset) != 0 ||
	    a->n_labels != b->n_labels)
		return 0;
	for (size_t i = 0; i < a->n_labels; i++)
		if (strcmp(a->labels[i].name, b->labels[i].name) != 0 ||
		    a->labels[i].type != b->labels[i].type)
			return 0;
	return 1;
}

static int
step_equal(const struct xz_model_step *a, const struct xz_model_step *b)
{
	if (strcmp(a->name, b->name) != 0 || a->mode != b->mode ||
	    a->n_parties != b->n_parties || a->query_size != b->query_size ||
	    strcmp(a->key, b->key) != 0)
		return 0;
	for (size_t p = 0; p < a->n_parties; p++)
		if (!party_equal(&a->party[p], &b->party[p]))
			return 0;
	return 1;
}

int
xz_model_equal(const struct xz_model *a, const struct xz_model *b)
{
	if (strcmp(a->id, b->id) != 0 || a->version != b->version ||
	    strcmp(a->title, b->title) != 0 || strcmp(a->purpose, b->purpose) != 0 ||
	    strcmp(a->legal_basis, b->legal_basis) != 0 ||
	    strcmp(a->case_number, b->case_number) != 0 || strcmp(a->as_of, b->as_of) != 0 ||
	    a->has_local != b->has_local || strcmp(a->local_dataset, b->local_dataset) != 0 ||
	    strcmp(a->local_key, b->local_key) != 0 ||
	    strcmp(a->local_filter, b->local_filter) != 0 || a->n_steps != b->n_steps ||
	    strcmp(a->filter, b->filter) != 0 || a->n_output != b->n_output)
		return 0;
	for (size_t i = 0; i < a->n_steps; i++)
		if (!step_equal(&a->steps[i], &b->steps[i]))
			return 0;
	for (size_t i = 0; i < a->n_output; i++)
		if (strcmp(a->output[i].step, b->output[i].step) != 0 ||
		    strcmp(a->output[i].name, b->output[i].name) != 0)
			return 0;
	return 1;
}
