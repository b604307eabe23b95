/*
 * The filter language (node/expr.h): parsing and canonical printing,
 * hostile text, type checking, exact decimal and date arithmetic, and
 * compiled filters run on a real SQLCipher store against an imported
 * dataset, checking the rows they select.
 */
#include "testsupport.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>
#include <sqlite3.h>

#include "dataset.h"
#include "expr.h"
#include "node.h"

/* ---- parse and print ---- */

static void
canon(const char *in, char *out, size_t cap)
{
	struct xz_expr *x = NULL, *y = NULL;
	struct xz_expr_error e;
	char again[8192];

	if (xz_expr_parse(in, &x, &e) != 0)
		fail_msg("parse of [%s] failed at %zu: %s", in, e.pos, e.msg);
	assert_int_equal(xz_expr_print(x, out, cap), 0);
	/* The canonical text parses to the same tree: it prints the same. */
	if (xz_expr_parse(out, &y, &e) != 0)
		fail_msg("reparse of [%s] failed at %zu: %s", out, e.pos, e.msg);
	assert_int_equal(xz_expr_print(y, again, sizeof(again)), 0);
	assert_string_equal(out, again);
	xz_expr_free(x);
	xz_expr_free(y);
}

static void
test_canonical_printing(void **state)
{
	static const struct { const char *in, *out; } cases[] = {
		{ "a=1", "a = 1" },
		{ "A = 1 AND b <> 'x' Or NOT c >= 2.50", "A = 1 and b != 'x' or not c >= 2.5" },
		{ "(a = 1 or b = 2) and c = 3", "(a = 1 or b = 2) and c = 3" },
		{ "a = 1 or (b = 2 and c = 3)", "a = 1 or b = 2 and c = 3" },
		{ "((((x = 1))))", "x = 1" },
		{ "x - (y - z) = x - y - z", "x - (y - z) = x - y - z" },
		{ "(x - y) - z = 2 * (a + b) * c", "x - y - z = 2 * (a + b) * c" },
		{ "-(-5) < - x * 3", "- -5 < -x * 3" },
		{ "x = - - - 1", "x = - - -1" },
		{ "-(a * b) = 1.0", "-(a * b) = 1.0" },
		{ "effective_date <= as_of - 30 days", "effective_date <= as_of - 30 days" },
		{ "d + 1 DAY > d - 2 Months + 3 year", "d + 1 day > d - 2 months + 3 years" },
		{ "x in (1,2 , 3)", "x in (1, 2, 3)" },
		{ "x NOT IN ('a')", "x not in ('a')" },
		{ "not x in ('a')", "not x in ('a')" },
		{ "x is null or y IS NOT NULL", "x is null or y is not null" },
		{ "s = 'it''s'", "s = 'it''s'" },
		{ "\"身份 证\" = '有期徒刑'", "\"身份 证\" = '有期徒刑'" },
		{ "身份证号 = \"身份证号\"", "身份证号 = 身份证号" },
		{ "\"and\" = \"x-y\"", "\"and\" = \"x-y\"" },
		{ "held.admission_date > date '2024-3-5'", "held.admission_date > date '2024-03-05'" },
		{ "d = date '2024-1-3' or d = DATE '2024年1月3日'", "d = date '2024-01-03' or d = date '2024-01-03'" },
		{ "\"my-step\".\"a b\" = 1", "\"my-step\".\"a b\" = 1" },
		{ "date = 1", "date = 1" },
		{ "days = 1", "days = 1" },
		{ "x = 007", "x = 7" },
		{ "x = 0.500", "x = 0.5" },
		{ "x = 12345678901234567890123", "x = 12345678901234567890123.0" },
		{ "x = 23456779012345678901233456790123456720",
		  "x = 23456779012345678901233456790123456720.0" },
		{ "x = 1.50000000000000000000000000000000000000000000",  "x = 1.5" },
		{ "true", "true" },
		{ "(a = 1) = (b = 2)", "(a = 1) = (b = 2)" },
		{ "filed.tax_period = period and filed.declared_sales < 0.5 * sales_amount",
		  "filed.tax_period = period and filed.declared_sales < 0.5 * sales_amount" },
		{ "a = 1\n\tand\r\nb = 2", "a = 1 and b = 2" },
	};
	char out[8192];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		canon(cases[i].in, out, sizeof(out));
		if (strcmp(out, cases[i].out) != 0)
			fail_msg("case %zu [%s]: got [%s], want [%s]", i, cases[i].in, out,
			    cases[i].out);
	}
}

static void
expect_parse_error(const char *in, size_t pos, const char *msg)
{
	struct xz_expr *x = NULL;
	struct xz_expr_error e;

	if (xz_expr_parse(in, &x, &e) == 0)
		fail_msg("[%s] parsed, expected an error containing '%s'", in, msg);
	assert_null(x);
	if (strstr(e.msg, msg) == NULL || (pos != (size_t)-1 && e.pos != pos))
		fail_msg("[%s]: got pos %zu '%s', want pos %zu '%s'", in, e.pos, e.msg, pos, msg);
}

static void
test_hostile_text(void **state)
{
	static const struct { const char *in; size_t pos; const char *msg; } cases[] = {
		{ "", 0, "empty" },
		{ "   ", 0, "empty" },
		{ "a = 1; DROP TABLE datasets", 6, "not SQL" },
		{ "a = 'x", 5, "string not closed" },
		{ "x\"; DROP TABLE t; --\" = 1", 2, "expected 'and', 'or'" },
		{ "x\"; DROP TABLE t; -- = 1", 2, "not closed" },
		{ "\"x\\\" = 1", 1, "not a usable column name" },
		{ "\"\" = 1", 1, "not a usable column name" },
		{ "\" a\" = 1", 1, "space" },
		{ "a = 1 ) or (b = 2", 7, "without a matching" },
		{ "(a = 1", 7, "expected ')'" },
		{ "a = ", 5, "end of the filter" },
		{ "a < b < c", 7, "do not chain" },
		{ "a = 1 b = 2", 7, "expected 'and', 'or'" },
		{ "a / 2 = 1", 3, "no division" },
		{ "a = 1.", 6, "" },
		{ "a = .5", 5, "" },
		{ "a = 1e5", 6, "expected 'and'" },
		{ "and = 1", 1, "is a keyword" },
		{ "a in 1", 6, "expected '('" },
		{ "a in ()", 7, "expected a value" },
		{ "a is nul", 6, "expected 'null'" },
		{ "a not b", 7, "expected 'in'" },
		{ "a = 1\x01", 6, "control" },
		{ "a = '\xe2\x80\xae'", 6, "bidirectional" },
		{ "a = 'x\xff'", 7, "UTF-8" },
		{ "a = '\xc0\xaf'", 6, "UTF-8" },
		{ "a\xe3\x80\x80= 1", 2, "full-width space" },
		{ "a = date '2023-02-29'", 10, "not a date" },
		{ "a = 123456789012345678901234567890123456789", 5, "significant digits" },
		{ "d + 1.5 days = d", 5, "whole number" },
		{ "d + 99999999 days = d", 5, "at most" },
		{ "s.and = 1", 3, "label name" },
		{ "身份证.x = 1", 1, "not a step name" },
		{ "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa = 1", 1,
		  "longer than 64" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		expect_parse_error(cases[i].in, cases[i].pos, cases[i].msg);
}

static void
test_limits(void **state)
{
	char *s = malloc(XZ_EXPR_MAX + 64);
	size_t n = 0;
	struct xz_expr *x = NULL;
	struct xz_expr_error e;

	(void)state;
	assert_non_null(s);
	/* Deep nesting stops at the depth limit, not at the stack. */
	for (int i = 0; i < 1000; i++)
		s[n++] = '(';
	memcpy(s + n, "a = 1", 6);
	expect_parse_error(s, XZ_EXPR_MAX_DEPTH + 1, "nested more than");
	n = 0;
	for (int i = 0; i < 40; i++)
		n += (size_t)snprintf(s + n, 8, "not ");
	memcpy(s + n, "a = 1", 6);
	expect_parse_error(s, (size_t)-1, "nested more than");
	n = 0;
	for (int i = 0; i < 40; i++)
		s[n++] = '-';
	memcpy(s + n, "a = 1", 6);
	expect_parse_error(s, (size_t)-1, "nested more than");
	/* Too long. */
	memset(s, ' ', XZ_EXPR_MAX + 1);
	memcpy(s, "a = 1", 5);
	s[XZ_EXPR_MAX + 1] = '\0';
	expect_parse_error(s, 0, "longer than");
	/* Too many nodes: a flat chain of 600 additions. */
	n = (size_t)snprintf(s, 8, "a = 0");
	for (int i = 0; i < 600 && n < XZ_EXPR_MAX - 8; i++)
		n += (size_t)snprintf(s + n, 8, "+1");
	expect_parse_error(s, (size_t)-1, "too complex");
	/* An IN list over the limit. */
	n = (size_t)snprintf(s, 16, "a in (1");
	for (int i = 0; i < XZ_EXPR_MAX_IN; i++)
		n += (size_t)snprintf(s + n, 8, ",1");
	memcpy(s + n, ")", 2);
	assert_int_not_equal(xz_expr_parse(s, &x, &e), 0);
	assert_non_null(strstr(e.msg, "more than 256 values"));
	/* At the limits it parses. */
	n = 0;
	for (int i = 0; i < XZ_EXPR_MAX_DEPTH - 1; i++)
		s[n++] = '(';
	n += (size_t)snprintf(s + n, 8, "a = 1");
	for (int i = 0; i < XZ_EXPR_MAX_DEPTH - 1; i++)
		s[n++] = ')';
	s[n] = '\0';
	assert_int_equal(xz_expr_parse(s, &x, &e), 0);
	xz_expr_free(x);
	free(s);
}

/* ---- types ---- */

static const struct { const char *step, *name; enum xz_coltype t; const char *alias; } cols[] = {
	{ "", "id", XZ_COL_CN_ID, "L.k" },
	{ "", "name", XZ_COL_TEXT, "L.c1" },
	{ "", "n", XZ_COL_INT, "L.c2" },
	{ "", "amount", XZ_COL_DECIMAL, "L.c3" },
	{ "", "d", XZ_COL_DATE, "L.c4" },
	{ "", "bad alias", XZ_COL_TEXT, "L.c5; DROP" },
	{ "s", "x", XZ_COL_DECIMAL, "s1.l1" },
	{ "s", "when", XZ_COL_DATE, "s1.l2" },
};

static int
resolve(void *arg, const char *step, const char *name, enum xz_coltype *type,
    char alias[XZ_EXPR_ALIAS_MAX], char *why, size_t cap)
{
	(void)arg;
	for (size_t i = 0; i < sizeof(cols) / sizeof(cols[0]); i++) {
		if (strcmp(cols[i].step, step) == 0 && strcmp(cols[i].name, name) == 0) {
			*type = cols[i].t;
			snprintf(alias, XZ_EXPR_ALIAS_MAX, "%s", cols[i].alias);
			return 0;
		}
	}
	snprintf(why, cap, "no column '%s'", name);
	return -1;
}

static const struct xz_expr_scope scope = { resolve, NULL };

static int
check_text(const char *in, struct xz_expr **out, struct xz_expr_error *e)
{
	struct xz_expr *x = NULL;

	*out = NULL;
	if (xz_expr_parse(in, &x, e) != 0)
		fail_msg("[%s] does not parse: %s", in, e->msg);
	if (xz_expr_check(x, &scope, e) != 0) {
		xz_expr_free(x);
		return -1;
	}
	*out = x;
	return 0;
}

static void
test_type_errors(void **state)
{
	static const struct { const char *in; size_t pos; const char *msg; } cases[] = {
		{ "name", 1, "must be a condition" },
		{ "n + 1", 3, "must be a condition" },
		{ "nope = 1", 1, "no column 'nope'" },
		{ "name = 1", 6, "cannot compare text with int" },
		{ "n = '5'", 5, "without quotes" },
		{ "d = 'yesterday'", 5, "not a valid date" },
		{ "id = '110105194912310021'", 6, "not a valid cn_id" },
		{ "name = ''", 8, "is null" },
		{ "name = '   '", 8, "blank" },
		{ "d + 30 = d", 3, "cannot add date and int" },
		{ "d = 30 days", 3, "duration" },
		{ "30 days + d = d", 9, "write the date first" },
		{ "name * 2 = n", 6, "only numbers" },
		{ "d - name = 1", 3, "cannot subtract date and text" },
		{ "(n = 1) < (n = 2)", 9, "= or !=" },
		{ "not n", 5, "'not' needs a condition" },
		{ "n = 1 -- comment", 10, "no column 'comment'" },
		{ "n = 1 and amount", 11, "'and' needs a condition" },
		{ "-name = 1", 1, "'-' needs a number" },
		{ "(n = 1) is null", 9, "needs a value" },
		{ "(n = 1) in (true)", 9, "not conditions" },
		{ "s.x + 'a' = 1", 7, "arithmetic needs numbers" },
		{ "s.nope = 1", 1, "no column 'nope'" },
	};
	struct xz_expr *x;
	struct xz_expr_error e;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (check_text(cases[i].in, &x, &e) == 0) {
			xz_expr_free(x);
			fail_msg("[%s] type-checked, expected '%s'", cases[i].in, cases[i].msg);
		}
		if (strstr(e.msg, cases[i].msg) == NULL || e.pos != cases[i].pos)
			fail_msg("[%s]: got %zu '%s', want %zu '%s'", cases[i].in, e.pos, e.msg,
			    cases[i].pos, cases[i].msg);
	}
}

/* Compiled SQL holds no literal text: every literal is a '?' parameter. */
static void
test_compiled_sql_has_only_parameters(void **state)
{
	static const struct { const char *in, *sql; size_t np; } cases[] = {
		{ "name = 'x'';DROP TABLE t;--'", "(L.c1 = ?)", 1 },
		{ "n in (1, 2) and not d > as_of - 1 month",
		  "(((L.c2 = ?) OR (L.c2 = ?)) AND (NOT (L.c4 > xz_date_add(?, ?, ?))))", 5 },
		{ "amount >= 1000000", "(xz_dec_cmp(L.c3, ?) >= 0)", 1 },
		{ "s.x < 0.5 * amount + n", "(xz_dec_cmp(s1.l1, xz_dec_add(xz_dec_mul(?, L.c3), "
		  "L.c2)) < 0)", 1 },
		{ "s.when - d > 30 or d is null", "((xz_date_diff(s1.l2, L.c4) > ?) OR (L.c4 IS NULL))", 1 },
		{ "-n * 2 = n - 1", "(xz_int_mul(xz_int_neg(L.c2), ?) = xz_int_sub(L.c2, ?))", 2 },
		{ "true", "?", 1 },
	};
	struct xz_expr *x;
	struct xz_expr_error e;
	struct xz_sql s;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (check_text(cases[i].in, &x, &e) != 0)
			fail_msg("[%s]: %s", cases[i].in, e.msg);
		xz_sql_init(&s);
		assert_int_equal(xz_expr_compile(x, "2026-11-30", &s, &e), 0);
		if (strcmp(s.text, cases[i].sql) != 0 || s.np != cases[i].np)
			fail_msg("[%s]: got [%s] with %zu parameters", cases[i].in, s.text, s.np);
		xz_sql_free(&s);
		xz_expr_free(x);
	}
	/* A resolver alias that is not a plain name is refused. */
	assert_int_equal(check_text("\"bad alias\" = 'x'", &x, &e), 0);
	xz_sql_init(&s);
	assert_int_equal(xz_expr_compile(x, "2026-11-30", &s, &e), -1);
	xz_sql_free(&s);
	xz_expr_free(x);
	/* The quoted literal is normalised as the column's type. */
	assert_int_equal(check_text("name = '  ＡＢＣ   有期徒刑 '", &x, &e), 0);
	xz_sql_init(&s);
	assert_int_equal(xz_expr_compile(x, "2026-11-30", &s, &e), 0);
	assert_string_equal(s.p[0].text, "ABC 有期徒刑");
	xz_sql_free(&s);
	xz_expr_free(x);
	assert_int_equal(check_text("d in ('2024年3月5日', '2024/3/6')", &x, &e), 0);
	xz_sql_init(&s);
	assert_int_equal(xz_expr_compile(x, "2026-11-30", &s, &e), 0);
	assert_int_equal(s.np, 2);
	assert_string_equal(s.p[0].text, "2024-03-05");
	assert_string_equal(s.p[1].text, "2024-03-06");
	xz_sql_free(&s);
	xz_expr_free(x);
}

/* ---- exact arithmetic ---- */

static void
dec(const char *s, struct xz_dec *d)
{
	if (xz_dec_parse(s, strlen(s), d) != 0)
		fail_msg("decimal %s", s);
}

static void
test_decimals(void **state)
{
	static const struct { const char *a, op, *b, *want; } cases[] = {
		{ "0.1", '+', "0.2", "0.3" },
		{ "1234.5", '-', "1234.5", "0" },
		{ "-0.05", '+', "0.05", "0" },
		{ "0.5", '*', "123456789.99", "61728394.995" },
		{ "99999999999999999999999999999999999999", '+', "0", "99999999999999999999999999999999999999" },
		{ "99999999999999999999999999999999999999", '+', "1", NULL },
		{ "9999999999999999999.9999999999999999999", '*', "10", "99999999999999999999.999999999999999999" },
		{ "10000000000000000000", '*', "10000000000000000000", NULL },
		{ "1000000000000000000", '*', "0.000000000000000001", "1" },
		{ "1000000000000000000000000000000000000", '*', "10", "10000000000000000000000000000000000000" },
		{ "1000000000000000000000000000000000000", '*', "100", NULL },
		{ "1200", '+', "0.05", "1200.05" },
		{ "0.00000000000000000000000000000000000001", '+', "1", NULL },
		{ "-3", '*', "-2.5", "7.5" },
		{ "5", '-', "7.25", "-2.25" },
	};
	static const struct { const char *a, *b; int want; } cmps[] = {
		{ "0.5", "0.50", 0 }, { "1", "0.999999999999999999999999999999999999", 1 },
		{ "-1", "0", -1 }, { "-2", "-10", 1 }, { "0", "-0", 0 },
		{ "99999999999999999999999999999999999999", "0.00000000000000000000000000000000000001", 1 },
		{ "-99999999999999999999999999999999999999", "-0.00000000000000000000000000000000000001", -1 },
		{ "0.00000000000000000000000000000000000001", "99999999999999999999999999999999999999", -1 },
	};
	static const char *const bad[] = { "", "-", ".5", "5.", "1.2.3", "1e5", "+1", " 1", "0x10",
		"123456789012345678901234567890123456789" };
	struct xz_dec a, b, r;
	char buf[XZ_DEC_TEXT_MAX];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int rc;
		dec(cases[i].a, &a);
		dec(cases[i].b, &b);
		rc = cases[i].op == '+' ? xz_dec_add(&a, &b, &r) : cases[i].op == '-' ?
		    xz_dec_sub(&a, &b, &r) : xz_dec_mul(&a, &b, &r);
		if (cases[i].want == NULL) {
			if (rc == 0)
				fail_msg("case %zu should overflow", i);
			continue;
		}
		if (rc != 0)
			fail_msg("case %zu failed", i);
		xz_dec_format(&r, buf);
		if (strcmp(buf, cases[i].want) != 0)
			fail_msg("case %zu: %s %c %s = %s, want %s", i, cases[i].a, cases[i].op,
			    cases[i].b, buf, cases[i].want);
	}
	for (size_t i = 0; i < sizeof(cmps) / sizeof(cmps[0]); i++) {
		dec(cmps[i].a, &a);
		dec(cmps[i].b, &b);
		if (xz_dec_cmp(&a, &b) != cmps[i].want || xz_dec_cmp(&b, &a) != -cmps[i].want)
			fail_msg("compare %zu", i);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (xz_dec_parse(bad[i], strlen(bad[i]), &a) == 0)
			fail_msg("'%s' parsed as a decimal", bad[i]);
	dec("00000000000000000000000000000000000000000001.1000000000000000000000000000000000000000", &a);
	xz_dec_format(&a, buf);
	assert_string_equal(buf, "1.1");
	dec("-0.0500", &a);
	xz_dec_format(&a, buf);
	assert_string_equal(buf, "-0.05");
}

static void
test_dates(void **state)
{
	static const struct { const char *d; int64_t n; int unit; const char *want; } cases[] = {
		{ "2026-11-30", -30, XZ_DAYS, "2026-10-31" },
		{ "2024-01-31", 1, XZ_MONTHS, "2024-02-29" },
		{ "2023-01-31", 1, XZ_MONTHS, "2023-02-28" },
		{ "2024-02-29", 1, XZ_YEARS, "2025-02-28" },
		{ "2024-02-29", -4, XZ_YEARS, "2020-02-29" },
		{ "2000-03-01", -1, XZ_DAYS, "2000-02-29" },
		{ "1900-03-01", -1, XZ_DAYS, "1900-02-28" },
		{ "1970-01-01", 0, XZ_DAYS, "1970-01-01" },
		{ "0001-01-01", 0, XZ_DAYS, "0001-01-01" },
		{ "9999-12-31", 1, XZ_DAYS, NULL },
		{ "0001-01-31", -1, XZ_MONTHS, NULL },
		{ "2026-12-15", 13, XZ_MONTHS, "2028-01-15" },
		{ "2026-01-15", -13, XZ_MONTHS, "2024-12-15" },
	};
	static const char *const bad[] = { "2023-02-29", "2023-13-01", "2023-00-10", "0000-01-01",
		"2023-1-5", "2023/01/05", "20230105", "2023-01-32", "2023-04-31" };
	int64_t d, r;
	char buf[11];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(xz_date_parse(cases[i].d, strlen(cases[i].d), &d), 0);
		if (cases[i].want == NULL) {
			if (xz_date_add(d, cases[i].n, (enum xz_date_unit)cases[i].unit, &r) == 0)
				fail_msg("case %zu should be out of range", i);
			continue;
		}
		assert_int_equal(xz_date_add(d, cases[i].n, (enum xz_date_unit)cases[i].unit, &r), 0);
		assert_int_equal(xz_date_format(r, buf), 0);
		if (strcmp(buf, cases[i].want) != 0)
			fail_msg("case %zu: %s, want %s", i, buf, cases[i].want);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (xz_date_parse(bad[i], strlen(bad[i]), &d) == 0)
			fail_msg("'%s' parsed as a date", bad[i]);
	assert_int_equal(xz_date_parse("1970-01-02", 10, &d), 0);
	assert_int_equal(d, 1);
	/* Every day of 400 years round-trips. */
	assert_int_equal(xz_date_parse("1800-01-01", 10, &d), 0);
	for (int64_t k = d; k < d + 146097; k++) {
		int64_t back;
		assert_int_equal(xz_date_format(k, buf), 0);
		assert_int_equal(xz_date_parse(buf, 10, &back), 0);
		assert_int_equal(back, k);
	}
}

/* ---- on a real store ---- */

struct store {
	char *tmp, *dir;
	struct xz_node *node;
	struct xz_dataset_schema schema;
};

static const char people_csv[] =
    "code,name,sentence,amount,taken,count\n"
    "A1,Zhang,有期徒刑,1000000,2026-10-01,3\n"
    "A2,Li,拘役,999999.99,2026-10-31,\n"
    "A3,Wang,有期徒刑,0.10,2026-11-01,-2\n"
    "A4,Zhao,有期徒刑,,2025-02-28,9223372036854775807\n"
    "A5,\"O'Neil; DROP\",管制,12.5,,0\n"
    "A6,Qian,  有期徒刑 ,2000000.005,2026-10-31,5\n";

static int
schema_resolve(void *arg, const char *step, const char *name, enum xz_coltype *type,
    char alias[XZ_EXPR_ALIAS_MAX], char *why, size_t cap)
{
	const struct xz_dataset_schema *s = arg;

	if (step[0] == '\0')
		for (size_t i = 0; i < s->ncolumns; i++)
			if (strcmp(s->columns[i].name, name) == 0) {
				*type = s->columns[i].type;
				snprintf(alias, XZ_EXPR_ALIAS_MAX, "L.%s", s->columns[i].sql);
				return 0;
			}
	snprintf(why, cap, "dataset has no column '%s'", name);
	return -1;
}

static struct store *
store_new(void)
{
	struct store *f = calloc(1, sizeof(*f));
	static const struct xz_column_spec specs[] = {
		{ "name", XZ_COL_TEXT }, { "sentence", XZ_COL_TEXT },
		{ "amount", XZ_COL_DECIMAL }, { "taken", XZ_COL_DATE }, { "count", XZ_COL_INT },
	};
	struct xz_import_spec sp = { .dataset = "people", .key = { "code", XZ_COL_TEXT },
	    .columns = specs, .ncolumns = 5, .mode = XZ_IMPORT_CREATE, .actor = "test" };
	struct xz_import_result r;
	struct xz_diag d;
	char *csv;

	assert_non_null(f);
	assert_true(sodium_init() >= 0);
	f->tmp = xzt_mkdtemp("expr");
	f->dir = xzt_path(f->tmp, "node");
	csv = xzt_path(f->tmp, "people.csv");
	xzt_write_file(csv, people_csv, strlen(people_csv));
	sp.csv_path = csv;
	if (xz_node_init(f->dir, "expr", &d) != 0 || xz_node_open(f->dir, &f->node, &d) != 0 ||
	    xz_dataset_import(f->node, &sp, &r, &d) != 0 ||
	    xz_dataset_schema(f->node, "people", &f->schema, &d) != 0)
		fail_msg("store: %s", d.msg);
	assert_int_equal(xz_expr_register(xz_node_db(f->node)), SQLITE_OK);
	free(csv);
	return f;
}

static void
store_free(struct store *f)
{
	xz_node_close(f->node);
	xzt_rmtree(f->tmp);
	free(f->tmp);
	free(f->dir);
	free(f);
}

/* The codes of the rows filter keeps, in code order, comma-separated; or
 * "error: ..." when evaluation fails. */
static void
select_codes(struct store *f, const char *filter, char *out, size_t cap)
{
	struct xz_expr_scope sc = { schema_resolve, &f->schema };
	struct xz_expr *x = NULL;
	struct xz_expr_error e;
	struct xz_sql s;
	sqlite3_stmt *st = NULL;
	size_t n = 0;
	int rc;

	out[0] = '\0';
	if (xz_expr_parse(filter, &x, &e) != 0 || xz_expr_check(x, &sc, &e) != 0)
		fail_msg("[%s]: %s", filter, e.msg);
	xz_sql_init(&s);
	xz_sql_add(&s, "SELECT L.k FROM ");
	xz_sql_ident(&s, f->schema.table);
	xz_sql_add(&s, " AS L WHERE ");
	assert_int_equal(xz_expr_compile(x, "2026-11-30", &s, &e), 0);
	xz_sql_add(&s, " ORDER BY L.k");
	assert_false(s.failed);
	assert_int_equal(sqlite3_prepare_v2(xz_node_db(f->node), s.text, -1, &st, NULL), SQLITE_OK);
	assert_int_equal(xz_sql_bind(&s, st, 1), SQLITE_OK);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		n += (size_t)snprintf(out + n, cap - n, "%s%s", n ? "," : "",
		    (const char *)sqlite3_column_text(st, 0));
	if (rc != SQLITE_DONE)
		snprintf(out, cap, "error: %s", sqlite3_errmsg(xz_node_db(f->node)));
	sqlite3_finalize(st);
	xz_sql_free(&s);
	xz_expr_free(x);
}

static void
test_filters_on_a_real_store(void **state)
{
	static const struct { const char *filter, *want; } cases[] = {
		{ "sentence = '有期徒刑'", "A1,A3,A4,A6" },
		{ "sentence = '有期徒刑' and taken <= as_of - 30 days", "A1,A4,A6" },
		{ "taken > as_of - 30 days", "A3" },
		{ "taken is null", "A5" },
		{ "amount >= 1000000", "A1,A6" },
		{ "amount < 1000000", "A2,A3,A5" },
		{ "not amount >= 1000000", "A2,A3,A5" },
		{ "amount is null or amount = 12.5", "A4,A5" },
		{ "amount * 2 > 1999999.99", "A1,A6" },
		{ "amount * 2 >= 1999999.98", "A1,A2,A6" },
		{ "amount - 0.1 = 0", "A3" },
		{ "amount = 0.1", "A3" },
		{ "amount in (0.1, 12.50)", "A3,A5" },
		{ "count < 0", "A3" },
		{ "count >= 0 and count != 9223372036854775807", "A1,A5,A6" },
		{ "count * 1.5 = 4.5 or count * 1.5 = -3", "A1,A3" },
		{ "name = 'O''Neil; DROP'", "A5" },
		{ "name in ('Li', 'Wang') or code = 'A6'", "A2,A3,A6" },
		{ "code not in ('A1', 'A2', 'A3')", "A4,A5,A6" },
		{ "taken + 1 month = date '2026-12-01'", "A3" },
		{ "taken + 1 year = '2026-02-28'", "A4" },
		{ "as_of - taken >= 60", "A1,A4" }, { "as_of - taken > 60", "A4" },
		{ "count + 1 > 0", "error: int arithmetic overflow: the result is outside the 64-bit range" },
	};
	struct store *f = store_new();
	char out[512];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		select_codes(f, cases[i].filter, out, sizeof(out));
		if (strcmp(out, cases[i].want) != 0)
			fail_msg("[%s]: got [%s], want [%s]", cases[i].filter, out, cases[i].want);
	}
	/* The store is untouched by a filter that tries to inject SQL. */
	select_codes(f, "name = 'x'') OR 1=1; DROP TABLE datasets; --'", out, sizeof(out));
	assert_string_equal(out, "");
	assert_int_equal(sqlite3_exec(xz_node_db(f->node), "SELECT count(*) FROM datasets",
	    NULL, NULL, NULL), SQLITE_OK);
	store_free(f);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_canonical_printing),
		cmocka_unit_test(test_hostile_text),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_type_errors),
		cmocka_unit_test(test_compiled_sql_has_only_parameters),
		cmocka_unit_test(test_decimals),
		cmocka_unit_test(test_dates),
		cmocka_unit_test(test_filters_on_a_real_store),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
