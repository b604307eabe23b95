/*
 * Exact values of the filter language (node/expr.h) and the SQL functions
 * compiled filters call.
 *
 * Decimals are a signed 128-bit coefficient with a power-of-ten scale: the
 * 38 significant digits docs/import.md allows fit (10^38 < 2^127), and
 * every operation either gives the exact result or fails; nothing is
 * rounded.  Dates are day numbers (days since 1970-01-01) converted with
 * the civil-calendar algorithms of H. Hinnant ("chrono-Compatible
 * Low-Level Date Algorithms"), in integers only.
 */
#include "expr.h"

#include <stdio.h>
#include <string.h>

#define DEC_MAX_DIGITS 38

/* ---- decimals ---- */

static const __int128 ten = 10;

static int
count_digits(__int128 m)
{
	int n = 0;

	if (m < 0)
		m = -m;
	do {
		n++;
		m /= 10;
	} while (m != 0);
	return n;
}

/*
 * Strips every trailing zero into the scale (which goes negative for
 * 1200 = 12 * 10^2), so products of round numbers stay small, then checks
 * the value against the import's limit: at most 38 digits counted as
 * docs/import.md counts them (the integer part without leading zeros,
 * plus the fraction without trailing zeros, its leading zeros included).
 */
static int
normalise(struct xz_dec *d)
{
	int digits, sig;

	if (d->m == 0) {
		d->scale = 0;
		return 0;
	}
	while (d->m % 10 == 0) {
		d->m /= 10;
		d->scale--;
	}
	digits = count_digits(d->m);
	sig = d->scale >= 0 ? (digits > d->scale ? digits : d->scale) : digits - d->scale;
	if (sig > DEC_MAX_DIGITS || d->scale > XZ_DEC_MAX_SCALE)
		return -1;
	return 0;
}

int
xz_dec_parse(const char *s, size_t len, struct xz_dec *out)
{
	size_t i = 0, ip, ni, fp = 0, nf = 0, lead = 0;
	__int128 m = 0;
	int neg = 0;

	if (i < len && s[i] == '-') {
		neg = 1;
		i++;
	}
	ip = i;
	while (i < len && s[i] >= '0' && s[i] <= '9')
		i++;
	ni = i - ip;
	if (i < len && s[i] == '.') {
		fp = ++i;
		while (i < len && s[i] >= '0' && s[i] <= '9')
			i++;
		nf = i - fp;
		if (nf == 0)
			return -1;		/* "5." */
	}
	if (i != len || ni == 0)
		return -1;			/* junk, ".5", "-" */
	/* Digits as docs/import.md counts them: no leading zeros of the
	 * integer part, no trailing zeros of the fraction. */
	while (lead < ni && s[ip + lead] == '0')
		lead++;
	while (nf > 0 && s[fp + nf - 1] == '0')
		nf--;
	if ((ni - lead) + nf > DEC_MAX_DIGITS)
		return -1;
	for (size_t k = ip + lead; k < ip + ni; k++)
		m = m * 10 + (s[k] - '0');
	for (size_t k = fp; k < fp + nf; k++)
		m = m * 10 + (s[k] - '0');
	out->m = neg ? -m : m;
	out->scale = (int)nf;
	return normalise(out);
}

void
xz_dec_format(const struct xz_dec *d, char buf[XZ_DEC_TEXT_MAX])
{
	char rev[XZ_DEC_TEXT_MAX];
	__int128 m = d->m < 0 ? -d->m : d->m;
	size_t n = 0, o = 0;

	for (int z = d->scale; z < 0 && n < 64; z++)
		rev[n++] = '0';		/* 12 * 10^2: the zeros stripped into the scale */
	do {
		rev[n++] = (char)('0' + (int)(m % 10));
		m /= 10;
	} while (m != 0);
	while (d->scale > 0 && n <= (size_t)d->scale)
		rev[n++] = '0';		/* "0.05": zeros before the digits */
	if (d->m < 0)
		buf[o++] = '-';
	for (size_t i = n; i > 0; i--) {
		if (d->scale > 0 && i == (size_t)d->scale)
			buf[o++] = '.';
		buf[o++] = rev[i - 1];
	}
	buf[o] = '\0';
}

/* a * 10^k; -1 on overflow. */
static int
scale_up(__int128 a, int k, __int128 *out)
{
	for (int i = 0; i < k; i++)
		if (__builtin_mul_overflow(a, ten, &a))
			return -1;
	*out = a;
	return 0;
}

int
xz_dec_add(const struct xz_dec *a, const struct xz_dec *b, struct xz_dec *out)
{
	int s = a->scale > b->scale ? a->scale : b->scale;
	__int128 x, y, r;

	if (scale_up(a->m, s - a->scale, &x) != 0 || scale_up(b->m, s - b->scale, &y) != 0 ||
	    __builtin_add_overflow(x, y, &r))
		return -1;
	out->m = r;
	out->scale = s;
	return normalise(out);
}

int
xz_dec_sub(const struct xz_dec *a, const struct xz_dec *b, struct xz_dec *out)
{
	struct xz_dec nb = { -b->m, b->scale };	/* |m| < 10^38: no overflow */

	return xz_dec_add(a, &nb, out);
}

int
xz_dec_mul(const struct xz_dec *a, const struct xz_dec *b, struct xz_dec *out)
{
	__int128 r;

	if (__builtin_mul_overflow(a->m, b->m, &r))
		return -1;
	out->m = r;
	out->scale = a->scale + b->scale;
	return normalise(out);
}

int
xz_dec_cmp(const struct xz_dec *a, const struct xz_dec *b)
{
	int sa = (a->m > 0) - (a->m < 0), sb = (b->m > 0) - (b->m < 0);
	__int128 x, y;

	if (sa != sb)
		return sa < sb ? -1 : 1;
	if (sa == 0)
		return 0;
	/* Same sign: bring both to the larger scale.  When that overflows,
	 * the scaled value is beyond any 38-digit coefficient, so it is the
	 * one of larger magnitude. */
	if (a->scale <= b->scale) {
		if (scale_up(a->m, b->scale - a->scale, &x) != 0)
			return sa;
		y = b->m;
	} else {
		if (scale_up(b->m, a->scale - b->scale, &y) != 0)
			return -sa;
		x = a->m;
	}
	return (x > y) - (x < y);
}

/* ---- dates ---- */

static int64_t
days_from_civil(int64_t y, unsigned m, unsigned d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	unsigned yoe = (unsigned)(y - era * 400);
	unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;

	return era * 146097 + (int64_t)doe - 719468;
}

static void
civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
	z += 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	unsigned doe = (unsigned)(z - era * 146097);
	unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	unsigned mp = (5 * doy + 2) / 153;

	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp < 10 ? mp + 3 : mp - 9;
	*y = (int64_t)yoe + era * 400 + (*m <= 2);
}

static unsigned
month_days(int64_t y, unsigned m)
{
	static const unsigned len[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

	return m == 2 && leap ? 29 : len[m - 1];
}

/* Day numbers of 0001-01-01 and 9999-12-31. */
#define DAY_MIN (-719162)
#define DAY_MAX 2932896

int
xz_date_parse(const char *s, size_t len, int64_t *days)
{
	unsigned v[3] = { 0, 0, 0 };
	static const size_t width[3] = { 4, 2, 2 };
	size_t i = 0;

	if (len != 10 || s[4] != '-' || s[7] != '-')
		return -1;
	for (int f = 0; f < 3; f++) {
		for (size_t k = 0; k < width[f]; k++, i++) {
			if (s[i] < '0' || s[i] > '9')
				return -1;
			v[f] = v[f] * 10 + (unsigned)(s[i] - '0');
		}
		i++;
	}
	if (v[0] < 1 || v[1] < 1 || v[1] > 12 || v[2] < 1 || v[2] > month_days(v[0], v[1]))
		return -1;
	*days = days_from_civil(v[0], v[1], v[2]);
	return 0;
}

int
xz_date_format(int64_t days, char buf[11])
{
	int64_t y;
	unsigned m, d;

	if (days < DAY_MIN || days > DAY_MAX)
		return -1;
	civil_from_days(days, &y, &m, &d);
	snprintf(buf, 11, "%04d-%02u-%02u", (int)y, m, d);
	return 0;
}

int
xz_date_add(int64_t days, int64_t n, enum xz_date_unit unit, int64_t *out)
{
	int64_t y, months, r;
	unsigned m, d;

	if (days < DAY_MIN || days > DAY_MAX || n < -100000000 || n > 100000000)
		return -1;
	if (unit == XZ_DAYS) {
		r = days + n;
	} else {
		civil_from_days(days, &y, &m, &d);
		months = y * 12 + (int64_t)(m - 1) + (unit == XZ_YEARS ? n * 12 : n);
		y = months >= 0 ? months / 12 : (months - 11) / 12;
		m = (unsigned)(months - y * 12) + 1;
		if (y < 1 || y > 9999)
			return -1;
		if (d > month_days(y, m))
			d = month_days(y, m);
		r = days_from_civil(y, m, d);
	}
	if (r < DAY_MIN || r > DAY_MAX)
		return -1;
	*out = r;
	return 0;
}

/* ---- SQL functions ---- */

/* Returns 1 when any argument is NULL (the result is then NULL). */
static int
any_null(sqlite3_context *cx, int argc, sqlite3_value **argv)
{
	for (int i = 0; i < argc; i++) {
		if (sqlite3_value_type(argv[i]) == SQLITE_NULL) {
			sqlite3_result_null(cx);
			return 1;
		}
	}
	return 0;
}

static int
arg_dec(sqlite3_context *cx, sqlite3_value *v, struct xz_dec *out)
{
	if (sqlite3_value_type(v) == SQLITE_INTEGER) {
		out->m = sqlite3_value_int64(v);
		out->scale = 0;
		return 0;
	}
	if (sqlite3_value_type(v) == SQLITE_TEXT) {
		const char *s = (const char *)sqlite3_value_text(v);
		if (s != NULL && xz_dec_parse(s, (size_t)sqlite3_value_bytes(v), out) == 0)
			return 0;
	}
	sqlite3_result_error(cx, "a value used as a decimal is not a decimal in its "
	    "stored form", -1);
	return -1;
}

static void
result_dec(sqlite3_context *cx, const struct xz_dec *d)
{
	char buf[XZ_DEC_TEXT_MAX];

	xz_dec_format(d, buf);
	sqlite3_result_text(cx, buf, -1, SQLITE_TRANSIENT);
}

static void
fn_dec(sqlite3_context *cx, int argc, sqlite3_value **argv)
{
	int op = *(const int *)sqlite3_user_data(cx), rc;
	struct xz_dec a, b, r;

	if (any_null(cx, argc, argv) || arg_dec(cx, argv[0], &a) != 0 ||
	    arg_dec(cx, argv[1], &b) != 0)
		return;
	rc = op == 0 ? xz_dec_add(&a, &b, &r) : op == 1 ? xz_dec_sub(&a, &b, &r) :
	    xz_dec_mul(&a, &b, &r);
	if (rc != 0) {
		sqlite3_result_error(cx, "decimal arithmetic overflow: the exact result "
		    "needs more than 38 significant digits", -1);
		return;
	}
	result_dec(cx, &r);
}

static void
fn_dec_neg(sqlite3_context *cx, int argc, sqlite3_value **argv)
{
	struct xz_dec a;

	if (any_null(cx, argc, argv) || arg_dec(cx, argv[0], &a) != 0)
		return;
	a.m = -a.m;
	result_dec(cx, &a);
}

static void
fn_dec_cmp(sqlite3_context *cx, int argc, sqlite3_value **argv)
{
	struct xz_dec a, b;

	if (any_null(cx, argc, argv) || arg_dec(cx, argv[0], &a) != 0 ||
	    arg_dec(cx, argv[1], &b) != 0)
		return;
	sqlite3_result_int(cx, xz_dec_cmp(&a, &b));
}

static int
arg_int(sqlite3_context *cx, sqlite3_value *v, int64_t *out)
{
	if (sqlite3_value_type(v) != SQLITE_INTEGER) {
		sqlite3_result_error(cx, "a value used as an int is not an integer", -1);
		return -1;
	}
	*out = sqlite3_value_int64(v);
	return 0;
}

static void
fn_int(sqlite3_context *cx, int argc, sqlite3_value **argv)
{
	int op = *(const int *)sqlite3_user_data(cx);
	int64_t a, b = 0, r;
	int over;

	if (any_null(cx, argc, argv) || arg_int(cx, argv[0], &a) != 0 ||
	    (argc > 1 && arg_int(cx, argv[1], &b) != 0))
		return;
	switch (op) {
	case 0: over = __builtin_add_overflow(a, b, &r); break;
	case 1: over = __builtin_sub_overflow(a, b, &r); break;
	case 2: over = __builtin_mul_overflow(a, b, &r); break;
	default: over = __builtin_sub_overflow((int64_t)0, a, &r); break;
	}
	if (over) {
		sqlite3_result_error(cx, "int arithmetic overflow: the result is outside "
		    "the 64-bit range", -1);
		return;
	}
	sqlite3_result_int64(cx, r);
}

static int
arg_date(sqlite3_context *cx, sqlite3_value *v, int64_t *out)
{
	const char *s = (const char *)sqlite3_value_text(v);

	if (sqlite3_value_type(v) == SQLITE_TEXT && s != NULL &&
	    xz_date_parse(s, (size_t)sqlite3_value_bytes(v), out) == 0)
		return 0;
	sqlite3_result_error(cx, "a value used as a date is not a date YYYY-MM-DD", -1);
	return -1;
}

static void
fn_date_add(sqlite3_context *cx, int argc, sqlite3_value **argv)
{
	int64_t d, n, unit, r;
	char buf[11];

	if (any_null(cx, argc, argv) || arg_date(cx, argv[0], &d) != 0 ||
	    arg_int(cx, argv[1], &n) != 0 || arg_int(cx, argv[2], &unit) != 0)
		return;
	if (unit < XZ_DAYS || unit > XZ_YEARS ||
	    xz_date_add(d, n, (enum xz_date_unit)unit, &r) != 0 || xz_date_format(r, buf) != 0) {
		sqlite3_result_error(cx, "date arithmetic leaves the years 0001 to 9999", -1);
		return;
	}
	sqlite3_result_text(cx, buf, 10, SQLITE_TRANSIENT);
}

static void
fn_date_diff(sqlite3_context *cx, int argc, sqlite3_value **argv)
{
	int64_t a, b;

	if (any_null(cx, argc, argv) || arg_date(cx, argv[0], &a) != 0 ||
	    arg_date(cx, argv[1], &b) != 0)
		return;
	sqlite3_result_int64(cx, a - b);
}

int
xz_expr_register(sqlite3 *db)
{
	static const int ops[] = { 0, 1, 2, 3 };
	static const struct {
		const char *name;
		int argc;
		void (*fn)(sqlite3_context *, int, sqlite3_value **);
		void *data;
	} fns[] = {
		{ "xz_int_add", 2, fn_int, (void *)(uintptr_t)&ops[0] },
		{ "xz_int_sub", 2, fn_int, (void *)(uintptr_t)&ops[1] },
		{ "xz_int_mul", 2, fn_int, (void *)(uintptr_t)&ops[2] },
		{ "xz_int_neg", 1, fn_int, (void *)(uintptr_t)&ops[3] },
		{ "xz_dec_add", 2, fn_dec, (void *)(uintptr_t)&ops[0] },
		{ "xz_dec_sub", 2, fn_dec, (void *)(uintptr_t)&ops[1] },
		{ "xz_dec_mul", 2, fn_dec, (void *)(uintptr_t)&ops[2] },
		{ "xz_dec_neg", 1, fn_dec_neg, NULL },
		{ "xz_dec_cmp", 2, fn_dec_cmp, NULL },
		{ "xz_date_add", 3, fn_date_add, NULL },
		{ "xz_date_diff", 2, fn_date_diff, NULL },
	};

	for (size_t i = 0; i < sizeof(fns) / sizeof(fns[0]); i++) {
		int rc = sqlite3_create_function(db, fns[i].name, fns[i].argc,
		    SQLITE_UTF8 | SQLITE_DETERMINISTIC, fns[i].data, fns[i].fn, NULL, NULL);
		if (rc != SQLITE_OK)
			return rc;
	}
	return SQLITE_OK;
}
