/*
 * The filter language: name resolution, type checking (docs/models.md
 * §4.3) and compilation to SQL with bound parameters (§4.4).
 */
#include "expr_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct checker {
	struct xz_expr *x;
	const struct xz_expr_scope *scope;
	struct xz_expr_error *e;
};

static int
cfail(struct checker *c, size_t pos, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
cfail(struct checker *c, size_t pos, const char *fmt, ...)
{
	va_list ap;

	if (c->e != NULL) {
		c->e->pos = pos;
		va_start(ap, fmt);
		vsnprintf(c->e->msg, sizeof(c->e->msg), fmt, ap);
		va_end(ap);
	}
	return -1;
}

static const char *
type_name(const struct xz_enode *n)
{
	switch (n->type) {
	case TY_BOOL: return "a condition (true/false)";
	case TY_STR: return "a quoted value";
	case TY_TEXT: return xz_coltype_name(n->sub);
	case TY_INT: return "int";
	case TY_DEC: return "decimal";
	case TY_DATE: return "date";
	case TY_DUR: return "a duration";
	default: return "nothing";
	}
}

static int
is_num(enum xz_etype t)
{
	return t == TY_INT || t == TY_DEC;
}

static enum xz_etype
type_of_col(enum xz_coltype t)
{
	switch (t) {
	case XZ_COL_INT: return TY_INT;
	case XZ_COL_DECIMAL: return TY_DEC;
	case XZ_COL_DATE: return TY_DATE;
	default: return TY_TEXT;
	}
}

/*
 * Gives the quoted literal n the type t (TY_TEXT with sub, or TY_DATE):
 * its value is normalised exactly as an import would store it, so it
 * compares equal to the stored values it means.
 */
static int
adopt(struct checker *c, struct xz_enode *n, enum xz_etype t, enum xz_coltype sub)
{
	enum xz_coltype ct = t == TY_DATE ? XZ_COL_DATE : sub;
	size_t len = strlen(n->s), cap, olen, bad;
	const char *why;

	if (n->kind != K_STR || n->type != TY_STR)
		return 0;
	if (len == 0)
		return cfail(c, n->pos, "'' never matches: empty cells are stored as "
		    "missing; write 'is null'");
	cap = ct == XZ_COL_TEXT ? XZ_TEXT_OUT_CAP(len) : XZ_NORM_FIXED_CAP;
	if ((n->norm = malloc(cap)) == NULL)
		return cfail(c, n->pos, "out of memory");
	if (xz_normalize(ct, n->s, len, n->norm, cap, &olen, &why, &bad) != 0)
		return cfail(c, n->pos, "the quoted value is not a valid %s: %s",
		    xz_coltype_name(ct), why);
	if (olen == 0)
		return cfail(c, n->pos, "the quoted value is blank: empty cells are stored "
		    "as missing; write 'is null'");
	n->type = t;
	n->sub = ct;
	return 0;
}

static int check_node(struct checker *c, int i);

/* Two values compared with op: returns 0 when they can be. */
static int
check_pair(struct checker *c, struct xz_enode *a, struct xz_enode *b, int op, size_t pos)
{
	if (a->type == TY_STR && b->type == TY_STR) {
		if (adopt(c, a, TY_TEXT, XZ_COL_TEXT) != 0 || adopt(c, b, TY_TEXT, XZ_COL_TEXT) != 0)
			return -1;
	}
	if (a->type == TY_STR || b->type == TY_STR) {
		struct xz_enode *lit = a->type == TY_STR ? a : b, *other = lit == a ? b : a;
		if (other->type == TY_TEXT || other->type == TY_DATE)
			return adopt(c, lit, other->type, other->sub);
		if (is_num(other->type))
			return cfail(c, lit->pos, "%s is compared with a number: write the "
			    "number without quotes", type_name(lit));
		return cfail(c, pos, "cannot compare %s with a quoted value", type_name(other));
	}
	if (a->type == TY_DUR || b->type == TY_DUR)
		return cfail(c, pos, "a duration (30 days) can only be added to or taken "
		    "from a date");
	if (a->type == TY_BOOL && b->type == TY_BOOL) {
		if (op != C_EQ && op != C_NE)
			return cfail(c, pos, "conditions can only be compared with = or !=");
		return 0;
	}
	if ((a->type == TY_TEXT && b->type == TY_TEXT) ||
	    (a->type == TY_DATE && b->type == TY_DATE) ||
	    (is_num(a->type) && is_num(b->type)))
		return 0;
	return cfail(c, pos, "cannot compare %s with %s", type_name(a), type_name(b));
}

static int
check_in(struct checker *c, struct xz_enode *n)
{
	struct xz_enode *s = &c->x->n[n->a];

	/* A quoted subject takes its type from the first typed item. */
	if (s->type == TY_STR) {
		for (int it = n->b; it >= 0; it = c->x->n[it].next) {
			struct xz_enode *v = &c->x->n[it];
			if (v->type == TY_TEXT || v->type == TY_DATE) {
				if (adopt(c, s, v->type, v->sub) != 0)
					return -1;
				break;
			}
		}
	}
	for (int it = n->b; it >= 0; it = c->x->n[it].next)
		if (check_pair(c, s, &c->x->n[it], C_EQ, c->x->n[it].pos) != 0)
			return -1;
	if (s->type == TY_BOOL)
		return cfail(c, n->pos, "'in' needs values, not conditions");
	return 0;
}

static int
check_arith(struct checker *c, struct xz_enode *n, struct xz_enode *a, struct xz_enode *b)
{
	const char *verb = n->kind == K_ADD ? "add" : n->kind == K_SUB ? "subtract" :
	    "multiply";

	/* A quoted value next to a duration or a date is a date. */
	if (a->type == TY_STR && (b->type == TY_DUR || (n->kind == K_SUB && b->type == TY_DATE)) &&
	    adopt(c, a, TY_DATE, XZ_COL_DATE) != 0)
		return -1;
	if (b->type == TY_STR && n->kind == K_SUB && a->type == TY_DATE &&
	    adopt(c, b, TY_DATE, XZ_COL_DATE) != 0)
		return -1;
	if (a->type == TY_STR || b->type == TY_STR)
		return cfail(c, (a->type == TY_STR ? a : b)->pos, "arithmetic needs numbers "
		    "or dates: write numbers without quotes, dates as date 'YYYY-MM-DD'");
	if (n->kind == K_MUL) {
		if (!is_num(a->type) || !is_num(b->type))
			return cfail(c, n->pos, "cannot multiply %s by %s: only numbers can be "
			    "multiplied", type_name(a), type_name(b));
		n->type = a->type == TY_INT && b->type == TY_INT ? TY_INT : TY_DEC;
		return 0;
	}
	if (is_num(a->type) && is_num(b->type)) {
		n->type = a->type == TY_INT && b->type == TY_INT ? TY_INT : TY_DEC;
		return 0;
	}
	if (a->type == TY_DATE && b->type == TY_DUR) {
		n->type = TY_DATE;
		return 0;
	}
	if (n->kind == K_SUB && a->type == TY_DATE && b->type == TY_DATE) {
		n->type = TY_INT;	/* days between */
		return 0;
	}
	if (b->type == TY_DATE && a->type == TY_DUR)
		return cfail(c, n->pos, "write the date first: date + 30 days");
	return cfail(c, n->pos, "cannot %s %s and %s", verb, type_name(a), type_name(b));
}

static int
need_bool(struct checker *c, const struct xz_enode *n, const char *what)
{
	if (n->type == TY_BOOL)
		return 0;
	return cfail(c, n->pos, "%s needs a condition (a comparison, 'in', 'is null'), "
	    "not %s", what, type_name(n));
}

static int
check_ref(struct checker *c, struct xz_enode *n)
{
	char why[300] = "";
	enum xz_coltype t;

	if (c->scope == NULL || c->scope->resolve == NULL ||
	    c->scope->resolve(c->scope->arg, n->step, n->s, &t, n->alias, why,
	    sizeof(why)) != 0)
		return cfail(c, n->pos, "%s", why[0] != '\0' ? why : "unknown name");
	n->type = type_of_col(t);
	n->sub = t;
	return 0;
}

static int
check_node(struct checker *c, int i)
{
	struct xz_enode *n = &c->x->n[i], *a, *b;

	if (n->a >= 0 && check_node(c, n->a) != 0)
		return -1;
	if (n->kind != K_IN && n->b >= 0 && check_node(c, n->b) != 0)
		return -1;
	if (n->kind == K_IN)
		for (int it = n->b; it >= 0; it = c->x->n[it].next)
			if (check_node(c, it) != 0)
				return -1;
	a = n->a >= 0 ? &c->x->n[n->a] : NULL;
	b = n->b >= 0 ? &c->x->n[n->b] : NULL;
	switch (n->kind) {
	case K_OR: case K_AND:
		if (need_bool(c, a, n->kind == K_OR ? "'or'" : "'and'") != 0 ||
		    need_bool(c, b, n->kind == K_OR ? "'or'" : "'and'") != 0)
			return -1;
		n->type = TY_BOOL;
		return 0;
	case K_NOT:
		if (need_bool(c, a, "'not'") != 0)
			return -1;
		n->type = TY_BOOL;
		return 0;
	case K_CMP:
		if (check_pair(c, a, b, n->op, n->pos) != 0)
			return -1;
		n->type = TY_BOOL;
		return 0;
	case K_IN:
		if (check_in(c, n) != 0)
			return -1;
		n->type = TY_BOOL;
		return 0;
	case K_ISNULL:
		if (a->type == TY_STR && adopt(c, a, TY_TEXT, XZ_COL_TEXT) != 0)
			return -1;
		if (a->type == TY_BOOL || a->type == TY_DUR)
			return cfail(c, n->pos, "'is null' needs a value, not %s", type_name(a));
		n->type = TY_BOOL;
		return 0;
	case K_ADD: case K_SUB: case K_MUL:
		return check_arith(c, n, a, b);
	case K_NEG:
		if (!is_num(a->type) && a->type != TY_DUR)
			return cfail(c, n->pos, "'-' needs a number or a duration, not %s",
			    type_name(a));
		n->type = a->type;
		return 0;
	case K_REF: return check_ref(c, n);
	case K_ASOF: n->type = TY_DATE; return 0;
	case K_STR: n->type = TY_STR; return 0;
	case K_INT: n->type = TY_INT; return 0;
	case K_DEC: n->type = TY_DEC; return 0;
	case K_DATE: n->type = TY_DATE; return 0;
	case K_BOOL: n->type = TY_BOOL; return 0;
	case K_DUR: n->type = TY_DUR; return 0;
	}
	return cfail(c, n->pos, "internal: unknown node");
}

int
xz_expr_check(struct xz_expr *x, const struct xz_expr_scope *scope,
    struct xz_expr_error *e)
{
	struct checker c = { x, scope, e };
	struct xz_enode *r;

	if (e != NULL)
		memset(e, 0, sizeof(*e));
	for (size_t i = 0; i < x->nn; i++) {
		free(x->n[i].norm);
		x->n[i].norm = NULL;
		x->n[i].type = TY_NONE;
	}
	x->checked = 0;
	if (check_node(&c, x->root) != 0)
		return -1;
	r = &x->n[x->root];
	if (r->type != TY_BOOL)
		return cfail(&c, r->pos, "a filter must be a condition (a comparison, 'in', "
		    "'is null', joined with and/or), not %s", type_name(r));
	x->checked = 1;
	return 0;
}

/* ---- SQL ---- */

void
xz_sql_init(struct xz_sql *s)
{
	memset(s, 0, sizeof(*s));
}

void
xz_sql_free(struct xz_sql *s)
{
	for (size_t i = 0; i < s->np; i++)
		free(s->p[i].text);
	free(s->p);
	free(s->text);
	memset(s, 0, sizeof(*s));
}

void
xz_sql_add(struct xz_sql *s, const char *fixed)
{
	size_t n = strlen(fixed);

	if (s->failed)
		return;
	if (s->len + n + 1 > s->cap) {
		size_t nc = s->cap ? s->cap : 256;
		while (nc < s->len + n + 1)
			nc *= 2;
		char *t = realloc(s->text, nc);
		if (t == NULL) {
			s->failed = 1;
			return;
		}
		s->text = t;
		s->cap = nc;
	}
	memcpy(s->text + s->len, fixed, n + 1);
	s->len += n;
}

static int
ident_ok(const char *a)
{
	int parts = 0;

	for (;;) {
		if (!((*a >= 'a' && *a <= 'z') || (*a >= 'A' && *a <= 'Z') || *a == '_'))
			return 0;
		while ((*a >= 'a' && *a <= 'z') || (*a >= 'A' && *a <= 'Z') ||
		    (*a >= '0' && *a <= '9') || *a == '_')
			a++;
		parts++;
		if (*a == '\0')
			return 1;
		if (*a != '.' || parts == 2)
			return 0;
		a++;
	}
}

void
xz_sql_ident(struct xz_sql *s, const char *alias)
{
	if (strlen(alias) >= XZ_EXPR_ALIAS_MAX || !ident_ok(alias)) {
		s->failed = 1;
		return;
	}
	xz_sql_add(s, alias);
}

static struct xz_sql_param *
new_param(struct xz_sql *s)
{
	if (s->failed)
		return NULL;
	if (s->np == s->pcap) {
		size_t nc = s->pcap ? s->pcap * 2 : 16;
		struct xz_sql_param *p = realloc(s->p, nc * sizeof(*p));
		if (p == NULL) {
			s->failed = 1;
			return NULL;
		}
		s->p = p;
		s->pcap = nc;
	}
	memset(&s->p[s->np], 0, sizeof(s->p[0]));
	return &s->p[s->np];
}

void
xz_sql_param_text(struct xz_sql *s, const char *v)
{
	struct xz_sql_param *p = new_param(s);

	if (p == NULL)
		return;
	if ((p->text = strdup(v)) == NULL) {
		s->failed = 1;
		return;
	}
	s->np++;
	xz_sql_add(s, "?");
}

void
xz_sql_param_int(struct xz_sql *s, int64_t v)
{
	struct xz_sql_param *p = new_param(s);

	if (p == NULL)
		return;
	p->is_int = 1;
	p->i = v;
	s->np++;
	xz_sql_add(s, "?");
}

int
xz_sql_bind(const struct xz_sql *s, sqlite3_stmt *st, int first)
{
	int rc = SQLITE_OK;

	for (size_t i = 0; i < s->np && rc == SQLITE_OK; i++) {
		int idx = first + (int)i;
		if (s->p[i].is_int)
			rc = sqlite3_bind_int64(st, idx, s->p[i].i);
		else
			rc = sqlite3_bind_text(st, idx, s->p[i].text, -1, SQLITE_TRANSIENT);
	}
	return rc;
}

/* ---- emitting ---- */

struct emitter {
	const struct xz_expr *x;
	const char *as_of;
	struct xz_sql *s;
};

static void emit(struct emitter *m, int i);

static void
emit_call(struct emitter *m, const char *fn, int a, int b)
{
	xz_sql_add(m->s, fn);
	xz_sql_add(m->s, "(");
	emit(m, a);
	if (b >= 0) {
		xz_sql_add(m->s, ", ");
		emit(m, b);
	}
	xz_sql_add(m->s, ")");
}

/* A duration node (a literal, maybe negated) as its count and unit. */
static void
fold_duration(const struct xz_expr *x, int i, int64_t *n, int *unit)
{
	int64_t sign = 1;

	while (x->n[i].kind == K_NEG) {
		sign = -sign;
		i = x->n[i].a;
	}
	*n = sign * x->n[i].i;
	*unit = x->n[i].op;
}

static void
emit_date_add(struct emitter *m, int date, int dur, int64_t sign)
{
	int64_t n;
	int unit;

	fold_duration(m->x, dur, &n, &unit);
	xz_sql_add(m->s, "xz_date_add(");
	emit(m, date);
	xz_sql_add(m->s, ", ");
	xz_sql_param_int(m->s, sign * n);
	xz_sql_add(m->s, ", ");
	xz_sql_param_int(m->s, unit);
	xz_sql_add(m->s, ")");
}

static void
emit_cmp(struct emitter *m, int a, int op, int b)
{
	static const char *const ops[] = { " = ", " <> ", " < ", " <= ", " > ", " >= " };
	const struct xz_enode *na = &m->x->n[a], *nb = &m->x->n[b];

	if (na->type == TY_DEC || nb->type == TY_DEC) {
		xz_sql_add(m->s, "(xz_dec_cmp(");
		emit(m, a);
		xz_sql_add(m->s, ", ");
		emit(m, b);
		xz_sql_add(m->s, ")");
		xz_sql_add(m->s, ops[op]);
		xz_sql_add(m->s, "0)");
		return;
	}
	xz_sql_add(m->s, "(");
	emit(m, a);
	xz_sql_add(m->s, ops[op]);
	emit(m, b);
	xz_sql_add(m->s, ")");
}

static void
emit_arith(struct emitter *m, const struct xz_enode *n)
{
	const struct xz_enode *a = &m->x->n[n->a];

	if (n->type == TY_DATE) {
		emit_date_add(m, n->a, n->b, n->kind == K_SUB ? -1 : 1);
		return;
	}
	if (a->type == TY_DATE) {		/* date - date */
		emit_call(m, "xz_date_diff", n->a, n->b);
		return;
	}
	if (n->type == TY_INT)
		emit_call(m, n->kind == K_ADD ? "xz_int_add" : n->kind == K_SUB ?
		    "xz_int_sub" : "xz_int_mul", n->a, n->b);
	else
		emit_call(m, n->kind == K_ADD ? "xz_dec_add" : n->kind == K_SUB ?
		    "xz_dec_sub" : "xz_dec_mul", n->a, n->b);
}

static void
emit(struct emitter *m, int i)
{
	const struct xz_enode *n = &m->x->n[i];

	switch (n->kind) {
	case K_OR: case K_AND:
		xz_sql_add(m->s, "(");
		emit(m, n->a);
		xz_sql_add(m->s, n->kind == K_OR ? " OR " : " AND ");
		emit(m, n->b);
		xz_sql_add(m->s, ")");
		break;
	case K_NOT:
		xz_sql_add(m->s, "(NOT ");
		emit(m, n->a);
		xz_sql_add(m->s, ")");
		break;
	case K_CMP:
		emit_cmp(m, n->a, n->op, n->b);
		break;
	case K_IN:
		xz_sql_add(m->s, n->op ? "(NOT (" : "(");
		for (int it = n->b; it >= 0; it = m->x->n[it].next) {
			emit_cmp(m, n->a, C_EQ, it);
			if (m->x->n[it].next >= 0)
				xz_sql_add(m->s, " OR ");
		}
		xz_sql_add(m->s, n->op ? "))" : ")");
		break;
	case K_ISNULL:
		xz_sql_add(m->s, "(");
		emit(m, n->a);
		xz_sql_add(m->s, n->op ? " IS NOT NULL)" : " IS NULL)");
		break;
	case K_ADD: case K_SUB: case K_MUL:
		emit_arith(m, n);
		break;
	case K_NEG:
		emit_call(m, n->type == TY_INT ? "xz_int_neg" : "xz_dec_neg", n->a, -1);
		break;
	case K_REF: xz_sql_ident(m->s, n->alias); break;
	case K_ASOF: xz_sql_param_text(m->s, m->as_of); break;
	case K_STR: xz_sql_param_text(m->s, n->norm != NULL ? n->norm : n->s); break;
	case K_INT: xz_sql_param_int(m->s, n->i); break;
	case K_DEC: case K_DATE: xz_sql_param_text(m->s, n->s); break;
	case K_BOOL: xz_sql_param_int(m->s, n->op); break;
	case K_DUR: m->s->failed = 1; break;	/* only inside a date sum */
	}
}

int
xz_expr_compile(const struct xz_expr *x, const char *as_of, struct xz_sql *s,
    struct xz_expr_error *e)
{
	struct emitter m = { x, as_of, s };
	int64_t d;

	if (e != NULL)
		memset(e, 0, sizeof(*e));
	if (!x->checked) {
		if (e != NULL)
			snprintf(e->msg, sizeof(e->msg), "internal: filter compiled before "
			    "it was checked");
		return -1;
	}
	if (xz_expr_uses_as_of(x) && (as_of == NULL ||
	    xz_date_parse(as_of, strlen(as_of), &d) != 0)) {
		if (e != NULL)
			snprintf(e->msg, sizeof(e->msg), "as_of must be a date YYYY-MM-DD");
		return -1;
	}
	emit(&m, x->root);
	if (s->failed) {
		if (e != NULL)
			snprintf(e->msg, sizeof(e->msg), "could not build the query (out of "
			    "memory, or a column alias that is not a plain name)");
		return -1;
	}
	return 0;
}
