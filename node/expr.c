/*
 * The filter language: lexer, recursive-descent parser and canonical
 * printer (node/expr.h; the grammar is docs/models.md §4.1).
 *
 * The text is validated as a whole first (UTF-8, no control or
 * bidirectional characters), then read token by token.  Every node comes
 * from a fixed budget and every recursion counts against the depth limit,
 * so no input can make the parser use more than a bounded amount of stack
 * or memory.
 */
#include "expr_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <utf8proc.h>

#include "policy.h"

#define DUR_MAX 10000000	/* units in one duration literal */

enum tok {
	T_END, T_NAME, T_QNAME, T_STRING, T_NUMBER, T_OP, T_LP, T_RP, T_COMMA, T_DOT,
};

struct token {
	enum tok t;
	const char *p;		/* its bytes in the text */
	size_t len;
	size_t pos;		/* 1-based character position */
};

struct parser {
	const char *text;
	size_t len, off, cpos;	/* byte offset and its character position */
	struct token tok;	/* the current token */
	struct xz_expr *x;
	int depth;
	struct xz_expr_error *e;
	int failed;
};

static int
fail(struct parser *ps, size_t pos, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
fail(struct parser *ps, size_t pos, const char *fmt, ...)
{
	va_list ap;

	if (ps->failed)
		return -1;
	ps->failed = 1;
	if (ps->e != NULL) {
		ps->e->pos = pos;
		va_start(ap, fmt);
		vsnprintf(ps->e->msg, sizeof(ps->e->msg), fmt, ap);
		va_end(ap);
	}
	return -1;
}

/* ---- characters ---- */

/* The code point at p (n bytes left) and its length, 0 for bad UTF-8. */
static size_t
next_cp(const char *p, size_t n, int32_t *cp)
{
	utf8proc_ssize_t r = utf8proc_iterate((const utf8proc_uint8_t *)p,
	    (utf8proc_ssize_t)n, cp);

	return r > 0 ? (size_t)r : 0;
}

/* Characters a terminal could hide or reorder (as xz_check_text refuses). */
static int
forbidden_cp(int32_t c)
{
	return (c < 0x20 && c != '\t' && c != '\n' && c != '\r') ||
	    (c >= 0x7f && c <= 0x9f) || (c >= 0x202a && c <= 0x202e) ||
	    (c >= 0x2066 && c <= 0x2069) || c == 0x200e || c == 0x200f || c == 0x061c;
}

static int
validate_text(struct parser *ps)
{
	size_t pos = 1;

	for (size_t i = 0; i < ps->len; pos++) {
		int32_t c;
		size_t l = next_cp(ps->text + i, ps->len - i, &c);
		if (l == 0)
			return fail(ps, pos, "not valid UTF-8");
		if (forbidden_cp(c))
			return fail(ps, pos, "control or bidirectional character U+%04X is "
			    "not allowed", (unsigned)c);
		i += l;
	}
	return 0;
}

static int
name_start(int32_t c)
{
	if (c < 0x80)
		return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
	utf8proc_category_t k = utf8proc_category(c);
	return k >= UTF8PROC_CATEGORY_LU && k <= UTF8PROC_CATEGORY_LO;
}

static int
name_part(int32_t c)
{
	if (c < 0x80)
		return name_start(c) || (c >= '0' && c <= '9');
	utf8proc_category_t k = utf8proc_category(c);
	return k >= UTF8PROC_CATEGORY_LU && k <= UTF8PROC_CATEGORY_NO;
}

/* ---- lexer ---- */

static void
advance_bytes(struct parser *ps, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (((unsigned char)ps->text[ps->off + i] & 0xc0) != 0x80)
			ps->cpos++;
	ps->off += n;
}

static int
lex_string(struct parser *ps)
{
	size_t i = ps->off + 1;

	for (;;) {
		if (i >= ps->len)
			return fail(ps, ps->tok.pos, "string not closed: add the final '");
		if (ps->text[i] == '\'') {
			if (i + 1 < ps->len && ps->text[i + 1] == '\'') {
				i += 2;
				continue;
			}
			break;
		}
		i++;
	}
	ps->tok.t = T_STRING;
	ps->tok.len = i + 1 - ps->off;
	return 0;
}

static int
lex_qname(struct parser *ps)
{
	const char *end = memchr(ps->text + ps->off + 1, '"', ps->len - ps->off - 1);

	if (end == NULL)
		return fail(ps, ps->tok.pos, "quoted name not closed: add the final \"");
	ps->tok.t = T_QNAME;
	ps->tok.len = (size_t)(end - (ps->text + ps->off)) + 1;
	return 0;
}

static void
lex_number(struct parser *ps)
{
	size_t i = ps->off;

	while (i < ps->len && ps->text[i] >= '0' && ps->text[i] <= '9')
		i++;
	if (i + 1 < ps->len && ps->text[i] == '.' && ps->text[i + 1] >= '0' &&
	    ps->text[i + 1] <= '9') {
		i++;
		while (i < ps->len && ps->text[i] >= '0' && ps->text[i] <= '9')
			i++;
	}
	ps->tok.t = T_NUMBER;
	ps->tok.len = i - ps->off;
}

static int
lex_op(struct parser *ps, char c)
{
	char c2 = ps->off + 1 < ps->len ? ps->text[ps->off + 1] : '\0';

	ps->tok.len = 1;
	switch (c) {
	case '(': ps->tok.t = T_LP; return 0;
	case ')': ps->tok.t = T_RP; return 0;
	case ',': ps->tok.t = T_COMMA; return 0;
	case '.': ps->tok.t = T_DOT; return 0;
	case '=': case '+': case '-': case '*':
		ps->tok.t = T_OP;
		return 0;
	case '<':
		ps->tok.t = T_OP;
		if (c2 == '=' || c2 == '>')
			ps->tok.len = 2;
		return 0;
	case '>':
		ps->tok.t = T_OP;
		if (c2 == '=')
			ps->tok.len = 2;
		return 0;
	case '!':
		if (c2 == '=') {
			ps->tok.t = T_OP;
			ps->tok.len = 2;
			return 0;
		}
		break;
	default:
		break;
	}
	if (c > 0x20 && c < 0x7f)
		return fail(ps, ps->tok.pos, "unexpected character '%c'%s", c,
		    c == ';' ? " (a filter is one condition, not SQL)" :
		    c == '"' ? "" : c == '/' ? " (there is no division: it is not exact)" : "");
	return fail(ps, ps->tok.pos, "unexpected character");
}

/* Reads the next token into ps->tok. */
static int
lex(struct parser *ps)
{
	int32_t c;
	size_t l;

	if (ps->failed)
		return -1;
	advance_bytes(ps, ps->tok.len);
	while (ps->off < ps->len && (ps->text[ps->off] == ' ' || ps->text[ps->off] == '\t' ||
	    ps->text[ps->off] == '\n' || ps->text[ps->off] == '\r'))
		advance_bytes(ps, 1);
	ps->tok.p = ps->text + ps->off;
	ps->tok.pos = ps->cpos + 1;
	ps->tok.len = 0;
	if (ps->off >= ps->len) {
		ps->tok.t = T_END;
		return 0;
	}
	if (ps->text[ps->off] == '\'')
		return lex_string(ps);
	if (ps->text[ps->off] == '"')
		return lex_qname(ps);
	if (ps->text[ps->off] >= '0' && ps->text[ps->off] <= '9') {
		lex_number(ps);
		return 0;
	}
	l = next_cp(ps->text + ps->off, ps->len - ps->off, &c);
	if (l > 0 && name_start(c)) {
		size_t i = ps->off + l;
		while (i < ps->len && (l = next_cp(ps->text + i, ps->len - i, &c)) > 0 &&
		    name_part(c))
			i += l;
		ps->tok.t = T_NAME;
		ps->tok.len = i - ps->off;
		return 0;
	}
	if (l > 1) {
		char what[64];
		snprintf(what, sizeof(what), "U+%04X", (unsigned)c);
		return fail(ps, ps->tok.pos, "unexpected character %s%s", what,
		    c == 0x3000 ? " (a full-width space)" : "");
	}
	return lex_op(ps, ps->text[ps->off]);
}

/* ---- tokens as words ---- */

static int
tok_is(const struct token *t, const char *word)
{
	size_t n = strlen(word);

	if (t->t != T_NAME || t->len != n)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = t->p[i];
		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		if (c != word[i])
			return 0;
	}
	return 1;
}

static int
tok_op(const struct token *t, const char *op)
{
	return t->t == T_OP && t->len == strlen(op) && memcmp(t->p, op, t->len) == 0;
}

/* Reserved: these words are never names (quote a column that has one). */
static const char *const reserved[] = {
	"and", "or", "not", "in", "is", "null", "true", "false", "as_of", NULL,
};

static int
word_reserved(const char *s, size_t n)
{
	struct token t = { T_NAME, s, n, 0 };

	for (size_t i = 0; reserved[i] != NULL; i++)
		if (tok_is(&t, reserved[i]))
			return 1;
	return 0;
}

static int
unit_of(const struct token *t)
{
	if (tok_is(t, "day") || tok_is(t, "days"))
		return XZ_DAYS;
	if (tok_is(t, "month") || tok_is(t, "months"))
		return XZ_MONTHS;
	if (tok_is(t, "year") || tok_is(t, "years"))
		return XZ_YEARS;
	return -1;
}

const char *
xz_expr_unit_name(int unit, int64_t n)
{
	static const char *const one[] = { "day", "month", "year" };
	static const char *const many[] = { "days", "months", "years" };

	if (unit < 0 || unit > 2)
		return "?";
	return n == 1 ? one[unit] : many[unit];
}

/* ---- nodes ---- */

static int
new_node(struct parser *ps, enum xz_ekind k, size_t pos)
{
	struct xz_enode *n;

	if (ps->x->nn >= XZ_EXPR_MAX_NODES)
		return fail(ps, pos, "expression too complex (more than %d parts)",
		    XZ_EXPR_MAX_NODES);
	n = &ps->x->n[ps->x->nn];
	memset(n, 0, sizeof(*n));
	n->kind = k;
	n->pos = pos;
	n->a = n->b = n->next = -1;
	return (int)ps->x->nn++;
}

static char *
dup_bytes(struct parser *ps, const char *p, size_t n)
{
	char *s = malloc(n + 1);

	if (s == NULL) {
		fail(ps, 0, "out of memory");
		return NULL;
	}
	memcpy(s, p, n);
	s[n] = '\0';
	return s;
}

static int parse_or(struct parser *ps);

static int
enter(struct parser *ps)
{
	if (++ps->depth > XZ_EXPR_MAX_DEPTH)
		return fail(ps, ps->tok.pos, "nested more than %d levels deep",
		    XZ_EXPR_MAX_DEPTH);
	return 0;
}

static int
binary(struct parser *ps, enum xz_ekind k, int op, size_t pos, int a, int b)
{
	int i;

	if (a < 0 || b < 0 || (i = new_node(ps, k, pos)) < 0)
		return -1;
	ps->x->n[i].a = a;
	ps->x->n[i].b = b;
	ps->x->n[i].op = op;
	return i;
}

/* A name token (bare or quoted) into a malloc'd string. */
static char *
take_name(struct parser *ps)
{
	const char *why;
	char *s;

	if (ps->tok.t == T_QNAME) {
		if ((s = dup_bytes(ps, ps->tok.p + 1, ps->tok.len - 2)) == NULL)
			return NULL;
		if ((why = xz_check_column(s)) != NULL) {
			fail(ps, ps->tok.pos, "quoted name is not a usable column name: %s", why);
			free(s);
			return NULL;
		}
		return s;
	}
	if (ps->tok.len > XZ_EXPR_NAME_MAX) {
		fail(ps, ps->tok.pos, "name longer than %d bytes", XZ_EXPR_NAME_MAX);
		return NULL;
	}
	return dup_bytes(ps, ps->tok.p, ps->tok.len);
}

static int
parse_ref(struct parser *ps)
{
	size_t pos = ps->tok.pos;
	char *first, *second = NULL;
	int i;

	if ((first = take_name(ps)) == NULL || lex(ps) != 0) {
		free(first);
		return -1;
	}
	if (ps->tok.t == T_DOT) {
		if (lex(ps) != 0 || (ps->tok.t != T_NAME && ps->tok.t != T_QNAME) ||
		    (ps->tok.t == T_NAME && word_reserved(ps->tok.p, ps->tok.len))) {
			free(first);
			return fail(ps, ps->tok.pos, "expected a label name after '.' "
			    "(step.label)");
		}
		if (xz_check_name(first) != NULL) {
			free(first);
			return fail(ps, pos, "not a step name: steps are named with letters, "
			    "digits, '.', '_' and '-'");
		}
		if ((second = take_name(ps)) == NULL || lex(ps) != 0) {
			free(first);
			free(second);
			return -1;
		}
	}
	if ((i = new_node(ps, K_REF, pos)) < 0) {
		free(first);
		free(second);
		return -1;
	}
	if (second != NULL) {
		ps->x->n[i].step = first;
		ps->x->n[i].s = second;
	} else {
		ps->x->n[i].s = first;
		if ((ps->x->n[i].step = dup_bytes(ps, "", 0)) == NULL)
			return -1;
	}
	return i;
}

/* A quoted literal's content with '' turned back into '. */
static int
parse_string(struct parser *ps, enum xz_ekind k, size_t pos)
{
	const char *p = ps->tok.p + 1;
	size_t n = ps->tok.len - 2, o = 0;
	char *s;
	int i;

	if (n > XZ_EXPR_MAX_STRING)
		return fail(ps, pos, "quoted value longer than %d bytes", XZ_EXPR_MAX_STRING);
	if ((s = malloc(n + 1)) == NULL)
		return fail(ps, pos, "out of memory");
	for (size_t j = 0; j < n; j++) {
		s[o++] = p[j];
		if (p[j] == '\'')
			j++;
	}
	s[o] = '\0';
	if (k == K_DATE) {
		char buf[XZ_NORM_FIXED_CAP];
		const char *why;
		size_t olen, bad;
		if (xz_normalize(XZ_COL_DATE, s, o, buf, sizeof(buf), &olen, &why, &bad) != 0) {
			free(s);
			return fail(ps, pos, "not a date: %s", why);
		}
		/* The stored form can be longer than what was written ('2024-1-3'). */
		free(s);
		if ((s = dup_bytes(ps, buf, olen)) == NULL)
			return -1;
	}
	if ((i = new_node(ps, k, pos)) < 0) {
		free(s);
		return -1;
	}
	ps->x->n[i].s = s;
	return lex(ps) != 0 ? -1 : i;
}

static int
parse_number(struct parser *ps)
{
	size_t pos = ps->tok.pos;
	struct xz_dec dv;
	char buf[XZ_DEC_TEXT_MAX];
	int64_t v = 0;
	const char *tp = ps->tok.p;
	size_t tl = ps->tok.len;
	int i, is_int = memchr(tp, '.', tl) == NULL, unit;

	for (size_t j = 0; is_int && j < tl; j++) {
		int dgt = tp[j] - '0';
		if (v > (INT64_MAX - dgt) / 10)
			is_int = 0;	/* larger than 64 bits: a decimal */
		else
			v = v * 10 + dgt;
	}
	if (lex(ps) != 0)
		return -1;
	if ((unit = unit_of(&ps->tok)) >= 0) {
		if (!is_int || v > DUR_MAX)
			return fail(ps, pos, "a duration is a whole number of at most %d "
			    "days, months or years", DUR_MAX);
		if ((i = new_node(ps, K_DUR, pos)) < 0)
			return -1;
		ps->x->n[i].i = v;
		ps->x->n[i].op = unit;
		return lex(ps) != 0 ? -1 : i;
	}
	if (is_int) {
		if ((i = new_node(ps, K_INT, pos)) < 0)
			return -1;
		ps->x->n[i].i = v;
		return i;
	}
	if (xz_dec_parse(tp, tl, &dv) != 0)
		return fail(ps, pos, "number has more than %d significant digits",
		    XZ_DECIMAL_MAX_DIGITS);
	xz_dec_format(&dv, buf);
	if ((i = new_node(ps, K_DEC, pos)) < 0)
		return -1;
	if ((ps->x->n[i].s = dup_bytes(ps, buf, strlen(buf))) == NULL)
		return -1;
	return i;
}

static int
parse_primary(struct parser *ps)
{
	size_t pos = ps->tok.pos;
	int i;

	switch (ps->tok.t) {
	case T_LP:
		if (enter(ps) != 0 || lex(ps) != 0 || (i = parse_or(ps)) < 0)
			return -1;
		ps->depth--;
		if (ps->tok.t != T_RP)
			return fail(ps, ps->tok.pos, "expected ')' to close the '(' at "
			    "character %zu", pos);
		return lex(ps) != 0 ? -1 : i;
	case T_NUMBER:
		return parse_number(ps);
	case T_STRING:
		return parse_string(ps, K_STR, pos);
	case T_QNAME:
		return parse_ref(ps);
	case T_NAME:
		break;
	case T_END:
		return fail(ps, pos, "expected a value, found the end of the filter");
	default:
		return fail(ps, pos, "expected a value (a column, step.label, a number, "
		    "a quoted value or '(')");
	}
	if (tok_is(&ps->tok, "true") || tok_is(&ps->tok, "false")) {
		if ((i = new_node(ps, K_BOOL, pos)) < 0)
			return -1;
		ps->x->n[i].op = tok_is(&ps->tok, "true");
		return lex(ps) != 0 ? -1 : i;
	}
	if (tok_is(&ps->tok, "as_of")) {
		if ((i = new_node(ps, K_ASOF, pos)) < 0)
			return -1;
		return lex(ps) != 0 ? -1 : i;
	}
	if (word_reserved(ps->tok.p, ps->tok.len))
		return fail(ps, pos, "'%.*s' is a keyword: expected a value here (quote a "
		    "column with that name: \"%.*s\")", (int)ps->tok.len, ps->tok.p,
		    (int)ps->tok.len, ps->tok.p);
	/* date 'YYYY-MM-DD': "date" is a name anywhere else. */
	if (tok_is(&ps->tok, "date") && ps->off + ps->tok.len < ps->len) {
		size_t save_off = ps->off, save_cpos = ps->cpos;
		struct token save = ps->tok;
		if (lex(ps) != 0)
			return -1;
		if (ps->tok.t == T_STRING)
			return parse_string(ps, K_DATE, ps->tok.pos);
		ps->off = save_off;
		ps->cpos = save_cpos;
		ps->tok = save;
	}
	return parse_ref(ps);
}

static int
parse_unary(struct parser *ps)
{
	size_t pos = ps->tok.pos;
	int a, i;

	if (!tok_op(&ps->tok, "-"))
		return parse_primary(ps);
	if (enter(ps) != 0 || lex(ps) != 0 || (a = parse_unary(ps)) < 0)
		return -1;
	ps->depth--;
	if ((i = new_node(ps, K_NEG, pos)) < 0)
		return -1;
	ps->x->n[i].a = a;
	return i;
}

static int
parse_product(struct parser *ps)
{
	int a = parse_unary(ps);

	while (a >= 0 && tok_op(&ps->tok, "*")) {
		size_t pos = ps->tok.pos;
		if (lex(ps) != 0)
			return -1;
		a = binary(ps, K_MUL, 0, pos, a, parse_unary(ps));
	}
	return a;
}

static int
parse_sum(struct parser *ps)
{
	int a = parse_product(ps);

	while (a >= 0 && (tok_op(&ps->tok, "+") || tok_op(&ps->tok, "-"))) {
		size_t pos = ps->tok.pos;
		enum xz_ekind k = ps->tok.p[0] == '+' ? K_ADD : K_SUB;
		if (lex(ps) != 0)
			return -1;
		a = binary(ps, k, 0, pos, a, parse_product(ps));
	}
	return a;
}

static int
cmp_of(const struct token *t)
{
	static const struct { const char *op; int c; } ops[] = {
		{ "=", C_EQ }, { "!=", C_NE }, { "<>", C_NE }, { "<", C_LT },
		{ "<=", C_LE }, { ">", C_GT }, { ">=", C_GE },
	};

	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
		if (tok_op(t, ops[i].op))
			return ops[i].c;
	return -1;
}

static int
parse_in_list(struct parser *ps, int subject, int negated, size_t pos)
{
	int i, last = -1, item, count = 0;

	if ((i = new_node(ps, K_IN, pos)) < 0)
		return -1;
	ps->x->n[i].a = subject;
	ps->x->n[i].op = negated;
	if (lex(ps) != 0)
		return -1;
	if (ps->tok.t != T_LP)
		return fail(ps, ps->tok.pos, "expected '(' after 'in'");
	do {
		if (lex(ps) != 0 || (item = parse_sum(ps)) < 0)
			return -1;
		if (++count > XZ_EXPR_MAX_IN)
			return fail(ps, pos, "more than %d values in one 'in' list",
			    XZ_EXPR_MAX_IN);
		if (last < 0)
			ps->x->n[i].b = item;
		else
			ps->x->n[last].next = item;
		last = item;
	} while (ps->tok.t == T_COMMA);
	if (ps->tok.t != T_RP)
		return fail(ps, ps->tok.pos, "expected ',' or ')' in the 'in' list");
	return lex(ps) != 0 ? -1 : i;
}

static int
parse_predicate(struct parser *ps)
{
	int a = parse_sum(ps), c, i;
	size_t pos = ps->tok.pos;

	if (a < 0)
		return -1;
	if ((c = cmp_of(&ps->tok)) >= 0) {
		if (lex(ps) != 0)
			return -1;
		a = binary(ps, K_CMP, c, pos, a, parse_sum(ps));
		if (a >= 0 && cmp_of(&ps->tok) >= 0)
			return fail(ps, ps->tok.pos, "comparisons do not chain: write "
			    "'a < b and b < c'");
		return a;
	}
	if (tok_is(&ps->tok, "in"))
		return parse_in_list(ps, a, 0, pos);
	if (tok_is(&ps->tok, "not")) {
		if (lex(ps) != 0)
			return -1;
		if (!tok_is(&ps->tok, "in"))
			return fail(ps, ps->tok.pos, "expected 'in' after 'not' here (or put "
			    "'not' before the whole condition)");
		return parse_in_list(ps, a, 1, pos);
	}
	if (tok_is(&ps->tok, "is")) {
		int neg = 0;
		if (lex(ps) != 0)
			return -1;
		if (tok_is(&ps->tok, "not")) {
			neg = 1;
			if (lex(ps) != 0)
				return -1;
		}
		if (!tok_is(&ps->tok, "null"))
			return fail(ps, ps->tok.pos, "expected 'null' after 'is%s'",
			    neg ? " not" : "");
		if ((i = new_node(ps, K_ISNULL, pos)) < 0)
			return -1;
		ps->x->n[i].a = a;
		ps->x->n[i].op = neg;
		return lex(ps) != 0 ? -1 : i;
	}
	return a;
}

static int
parse_not(struct parser *ps)
{
	size_t pos = ps->tok.pos;
	int a, i;

	if (!tok_is(&ps->tok, "not"))
		return parse_predicate(ps);
	if (enter(ps) != 0 || lex(ps) != 0 || (a = parse_not(ps)) < 0)
		return -1;
	ps->depth--;
	if ((i = new_node(ps, K_NOT, pos)) < 0)
		return -1;
	ps->x->n[i].a = a;
	return i;
}

static int
parse_and(struct parser *ps)
{
	int a = parse_not(ps);

	while (a >= 0 && tok_is(&ps->tok, "and")) {
		size_t pos = ps->tok.pos;
		if (lex(ps) != 0)
			return -1;
		a = binary(ps, K_AND, 0, pos, a, parse_not(ps));
	}
	return a;
}

static int
parse_or(struct parser *ps)
{
	int a = parse_and(ps);

	while (a >= 0 && tok_is(&ps->tok, "or")) {
		size_t pos = ps->tok.pos;
		if (lex(ps) != 0)
			return -1;
		a = binary(ps, K_OR, 0, pos, a, parse_and(ps));
	}
	return a;
}

void
xz_expr_free(struct xz_expr *x)
{
	if (x == NULL)
		return;
	for (size_t i = 0; i < x->nn; i++) {
		free(x->n[i].s);
		free(x->n[i].step);
		free(x->n[i].norm);
	}
	free(x->n);
	free(x);
}

int
xz_expr_parse(const char *text, struct xz_expr **out, struct xz_expr_error *e)
{
	struct parser ps = { .text = text, .e = e };
	int root;

	*out = NULL;
	if (e != NULL)
		memset(e, 0, sizeof(*e));
	ps.len = strlen(text);
	if (ps.len > XZ_EXPR_MAX)
		return fail(&ps, 0, "longer than %d bytes", XZ_EXPR_MAX);
	if (validate_text(&ps) != 0)
		return -1;
	if ((ps.x = calloc(1, sizeof(*ps.x))) == NULL ||
	    (ps.x->n = calloc(XZ_EXPR_MAX_NODES, sizeof(*ps.x->n))) == NULL) {
		free(ps.x);
		return fail(&ps, 0, "out of memory");
	}
	if (lex(&ps) != 0)
		goto bad;
	if (ps.tok.t == T_END) {
		fail(&ps, 0, "empty: write a condition, or leave the key out");
		goto bad;
	}
	if ((root = parse_or(&ps)) < 0)
		goto bad;
	if (ps.tok.t != T_END) {
		fail(&ps, ps.tok.pos, ps.tok.t == T_RP ? "')' without a matching '('" :
		    "expected 'and', 'or' or the end of the filter");
		goto bad;
	}
	ps.x->root = root;
	*out = ps.x;
	return 0;
bad:
	xz_expr_free(ps.x);
	return -1;
}

/* ---- printing ---- */

struct pbuf {
	char *p;
	size_t len, cap;
	int over;
};

static void
put(struct pbuf *b, const char *s, size_t n)
{
	if (b->over || n >= b->cap - b->len) {
		b->over = 1;
		return;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void
puts_(struct pbuf *b, const char *s)
{
	put(b, s, strlen(s));
}

/* A name bare when it lexes back as the same bare name, else quoted. */
static void
put_name(struct pbuf *b, const char *s)
{
	size_t n = strlen(s), i = 0;
	int32_t c;
	size_t l = n > 0 ? next_cp(s, n, &c) : 0;
	int bare = l > 0 && name_start(c) && !word_reserved(s, n);

	for (i = l; bare && i < n; i += l)
		bare = (l = next_cp(s + i, n - i, &c)) > 0 && name_part(c);
	if (bare) {
		puts_(b, s);
		return;
	}
	puts_(b, "\"");
	puts_(b, s);
	puts_(b, "\"");
}

static void
put_quoted(struct pbuf *b, const char *s)
{
	puts_(b, "'");
	for (; *s != '\0'; s++) {
		put(b, s, 1);
		if (*s == '\'')
			put(b, s, 1);
	}
	puts_(b, "'");
}

static int
prec(const struct xz_enode *n)
{
	switch (n->kind) {
	case K_OR: return 1;
	case K_AND: return 2;
	case K_NOT: return 3;
	case K_CMP: case K_IN: case K_ISNULL: return 4;
	case K_ADD: case K_SUB: return 5;
	case K_MUL: return 6;
	case K_NEG: return 7;
	default: return 8;
	}
}

static void print_node(const struct xz_expr *x, int i, int min, struct pbuf *b);

static void
print_bin(const struct xz_expr *x, const struct xz_enode *n, const char *op, int lmin,
    int rmin, struct pbuf *b)
{
	print_node(x, n->a, lmin, b);
	puts_(b, op);
	print_node(x, n->b, rmin, b);
}

static void
print_leaf(const struct xz_enode *n, struct pbuf *b)
{
	char num[32];

	switch (n->kind) {
	case K_REF:
		if (n->step[0] != '\0') {
			put_name(b, n->step);
			puts_(b, ".");
		}
		put_name(b, n->s);
		break;
	case K_ASOF: puts_(b, "as_of"); break;
	case K_STR: put_quoted(b, n->s); break;
	case K_DATE: puts_(b, "date "); put_quoted(b, n->s); break;
	case K_BOOL: puts_(b, n->op ? "true" : "false"); break;
	case K_INT:
		snprintf(num, sizeof(num), "%lld", (long long)n->i);
		puts_(b, num);
		break;
	case K_DEC:
		/* Always with a point, so it reads back as a decimal. */
		puts_(b, n->s);
		if (strchr(n->s, '.') == NULL)
			puts_(b, ".0");
		break;
	case K_DUR:
		snprintf(num, sizeof(num), "%lld ", (long long)n->i);
		puts_(b, num);
		puts_(b, xz_expr_unit_name(n->op, n->i));
		break;
	default:
		b->over = 1;
	}
}

static void
print_node(const struct xz_expr *x, int i, int min, struct pbuf *b)
{
	static const char *const cmps[] = { " = ", " != ", " < ", " <= ", " > ", " >= " };
	const struct xz_enode *n = &x->n[i];
	int p = prec(n), paren = p < min;

	if (paren)
		puts_(b, "(");
	switch (n->kind) {
	case K_OR: print_bin(x, n, " or ", 1, 2, b); break;
	case K_AND: print_bin(x, n, " and ", 2, 3, b); break;
	case K_NOT: puts_(b, "not "); print_node(x, n->a, 3, b); break;
	case K_CMP: print_bin(x, n, cmps[n->op], 5, 5, b); break;
	case K_ADD: print_bin(x, n, " + ", 5, 6, b); break;
	case K_SUB: print_bin(x, n, " - ", 5, 6, b); break;
	case K_MUL: print_bin(x, n, " * ", 6, 7, b); break;
	case K_NEG:
		/* "- -x", not "-(-x)": parentheses would count against the
		 * nesting limit when the canonical text is read back. */
		puts_(b, x->n[n->a].kind == K_NEG ? "- " : "-");
		print_node(x, n->a, 7, b);
		break;
	case K_ISNULL:
		print_node(x, n->a, 5, b);
		puts_(b, n->op ? " is not null" : " is null");
		break;
	case K_IN:
		print_node(x, n->a, 5, b);
		puts_(b, n->op ? " not in (" : " in (");
		for (int it = n->b; it >= 0; it = x->n[it].next) {
			print_node(x, it, 5, b);
			if (x->n[it].next >= 0)
				puts_(b, ", ");
		}
		puts_(b, ")");
		break;
	default:
		print_leaf(n, b);
	}
	if (paren)
		puts_(b, ")");
}

int
xz_expr_print(const struct xz_expr *x, char *buf, size_t cap)
{
	struct pbuf b = { buf, 0, cap, 0 };

	if (cap == 0)
		return -1;
	buf[0] = '\0';
	print_node(x, x->root, 0, &b);
	return b.over ? -1 : 0;
}

/* ---- walking ---- */

int
xz_expr_foreach_ref(const struct xz_expr *x,
    int (*fn)(void *arg, const char *step, const char *name, size_t pos), void *arg)
{
	int r;

	/* Nodes are created after their children, except that a K_REF is made
	 * when read: node order is text order for references. */
	for (size_t i = 0; i < x->nn; i++)
		if (x->n[i].kind == K_REF && (r = fn(arg, x->n[i].step, x->n[i].s,
		    x->n[i].pos)) != 0)
			return r;
	return 0;
}

int
xz_expr_uses_as_of(const struct xz_expr *x)
{
	for (size_t i = 0; i < x->nn; i++)
		if (x->n[i].kind == K_ASOF)
			return 1;
	return 0;
}

int
xz_expr_parse_ref(const char *text, char *step, char *name, struct xz_expr_error *e)
{
	struct xz_expr *x = NULL;
	const struct xz_enode *r;

	if (xz_expr_parse(text, &x, e) != 0)
		return -1;
	r = &x->n[x->root];
	if (x->nn != 1 || r->kind != K_REF || strlen(r->s) > XZ_EXPR_NAME_MAX ||
	    strlen(r->step) > XZ_EXPR_NAME_MAX) {
		xz_expr_free(x);
		if (e != NULL) {
			e->pos = 0;
			snprintf(e->msg, sizeof(e->msg), "expected one column or step.label, "
			    "not an expression");
		}
		return -1;
	}
	memcpy(step, r->step, strlen(r->step) + 1);
	memcpy(name, r->s, strlen(r->s) + 1);
	xz_expr_free(x);
	return 0;
}
