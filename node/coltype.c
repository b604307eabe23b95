/*
 * Column type normalisers: one canonical spelling per value, so that equal
 * values from two agencies compare equal after blinding.  The rules are
 * described for operators in docs/import.md; this file is their
 * implementation and quotes the standards where a rule comes from one.
 *
 * Structure: every fixed-format type (everything but text) first "folds"
 * its field into a short array of ASCII-ish bytes, one per code point,
 * remembering each code point's position for error messages.  Folding
 * maps full-width forms (U+FF01..U+FF5E) to ASCII, ideographic and
 * no-break spaces to a space, the yen signs and 年/月/日 to marker bytes,
 * and everything else non-ASCII to a marker that no parser accepts.
 * The type parsers then work on that array without any allocation.
 */
#include "coltype.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <utf8proc.h>

/* ---- failure reasons ---------------------------------------------------- */

/* Room for the longest formatted reason; reasons are built only on failure. */
static _Thread_local char reason_buf[192];

struct nctx {
	char *out;
	size_t cap;
	size_t *outlen;
	const char **reason;
	size_t *pos;
};

/* Records a failure: a fixed phrase (no formatting) at position p. */
static int
fail(const struct nctx *x, size_t p, const char *phrase)
{
	*x->reason = phrase;
	*x->pos = p;
	return -1;
}

/* Records a failure whose phrase names the part at fault. */
static int failf(const struct nctx *x, size_t p, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int
failf(const struct nctx *x, size_t p, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(reason_buf, sizeof(reason_buf), fmt, ap);
	va_end(ap);
	return fail(x, p, reason_buf);
}

/* Copies the n-byte canonical form to the caller, NUL-terminated. */
static int
emit(const struct nctx *x, const char *s, size_t n)
{
	if (n + 1 > x->cap)
		return fail(x, 0, "normalised value does not fit the output buffer");
	memcpy(x->out, s, n);
	x->out[n] = '\0';
	*x->outlen = n;
	return 0;
}

/* ---- UTF-8 -------------------------------------------------------------- */

/*
 * Decodes one code point at s[*i] (RFC 3629 section 4: no overlong forms,
 * no surrogates, nothing above U+10FFFF).  Returns 0 and advances *i, or
 * -1 on a malformed sequence.
 */
static int
u8_next(const unsigned char *s, size_t len, size_t *i, uint32_t *cp)
{
	size_t k = *i, need;
	uint32_t c = s[k], min;

	if (c < 0x80) {
		*cp = c;
		*i = k + 1;
		return 0;
	}
	if (c >= 0xC2 && c <= 0xDF) {
		need = 1; c &= 0x1F; min = 0x80;
	} else if (c >= 0xE0 && c <= 0xEF) {
		need = 2; c &= 0x0F; min = 0x800;
	} else if (c >= 0xF0 && c <= 0xF4) {
		need = 3; c &= 0x07; min = 0x10000;
	} else {
		return -1;
	}
	if (len - k - 1 < need)
		return -1;
	for (size_t j = 1; j <= need; j++) {
		unsigned char b = s[k + j];
		if ((b & 0xC0) != 0x80)
			return -1;
		c = (c << 6) | (b & 0x3F);
	}
	if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
		return -1;
	*cp = c;
	*i = k + 1 + need;
	return 0;
}

/* ---- folding ------------------------------------------------------------ */

/* Marker bytes: never produced by an ASCII character. */
enum {
	F_YEN = 0x80,	/* ¥ U+00A5, ￥ U+FFE5 */
	F_NIAN = 0x81,	/* 年 U+5E74 */
	F_YUE = 0x82,	/* 月 U+6708 */
	F_RI = 0x83,	/* 日 U+65E5 */
	F_OTHER = 0xFF,	/* any other non-ASCII character */
};

/* No fixed-format value is anywhere near this long. */
#define FOLD_MAX 64

struct fold {
	size_t n;
	unsigned char c[FOLD_MAX];
	uint32_t pos[FOLD_MAX];		/* 1-based code point position */
};

static unsigned char
fold_cp(uint32_t cp)
{
	if (cp < 0x80)
		return (unsigned char)(cp == '\t' ? ' ' : cp);
	if (cp >= 0xFF01 && cp <= 0xFF5E)	/* full-width ASCII forms */
		return (unsigned char)(cp - 0xFEE0);
	switch (cp) {
	case 0x00A0: case 0x3000: case 0x202F: case 0x2007:
		return ' ';
	case 0x2212: case 0x2010: case 0x2011: case 0x2013: case 0x2014:
		return '-';
	case 0x00A5: case 0xFFE5:
		return F_YEN;
	case 0x5E74:
		return F_NIAN;
	case 0x6708:
		return F_YUE;
	case 0x65E5:
		return F_RI;
	default:
		return F_OTHER;
	}
}

/*
 * Folds the field into f, without the blanks that surround it.  Fails on
 * malformed UTF-8 (naming the position), on an empty field and on a field
 * longer than any valid value of the type (what = the type's noun).
 */
static int
fold(const struct nctx *x, const char *in, size_t len, struct fold *f, const char *what)
{
	const unsigned char *s = (const unsigned char *)in;
	size_t i = 0, cpn = 0, n = 0, last = 0;

	f->n = 0;
	while (i < len) {
		uint32_t cp;
		unsigned char c;

		cpn++;
		if (s[i] < 0x80) {
			c = (unsigned char)(s[i] == '\t' ? ' ' : s[i]);
			i++;
		} else {
			if (u8_next(s, len, &i, &cp) != 0)
				return fail(x, cpn, "not valid UTF-8 text");
			c = fold_cp(cp);
		}
		if (n == 0 && c == ' ')
			continue;
		if (n == FOLD_MAX) {
			if (c == ' ')
				continue;	/* padding after a full buffer: trimmed anyway */
			return failf(x, 0, "too long for %s", what);
		}
		f->c[n] = c;
		f->pos[n] = (uint32_t)cpn;
		n++;
		if (c != ' ')
			last = n;
	}
	f->n = last;
	if (f->n == 0)
		return fail(x, 0, "empty value");
	return 0;
}

int
xz_field_is_blank(const char *in, size_t len)
{
	const unsigned char *s = (const unsigned char *)in;
	size_t i = 0;

	while (i < len) {
		uint32_t cp;

		if (u8_next(s, len, &i, &cp) != 0 || fold_cp(cp) != ' ')
			return 0;
	}
	return 1;
}

static int
is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

/* ---- calendar ----------------------------------------------------------- */

static const char *const month_names[13] = {
	"", "January", "February", "March", "April", "May", "June", "July",
	"August", "September", "October", "November", "December",
};

static int
is_leap(unsigned y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static unsigned
days_in_month(unsigned y, unsigned m)
{
	static const unsigned char dim[13] = { 0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };

	return m == 2 && is_leap(y) ? 29 : dim[m];
}

/*
 * Today's date as YYYYMMDD in local time.  Refreshed when the clock leaves
 * the cached day, so a long import across midnight stays right without a
 * localtime_r call per field.
 */
static unsigned
today_ymd(void)
{
	static _Thread_local time_t lo = 1, hi = 0;
	static _Thread_local unsigned ymd;
	time_t now = time(NULL);

	if (now < lo || now >= hi) {
		struct tm tm;

		if (localtime_r(&now, &tm) == NULL)
			return 99991231;
		ymd = (unsigned)(tm.tm_year + 1900) * 10000u + (unsigned)(tm.tm_mon + 1) * 100u +
		      (unsigned)tm.tm_mday;
		/* Wall-clock midnight to midnight; on a DST change day this is
		 * off by the shift, which only delays the new date by an hour. */
		lo = now - (time_t)(tm.tm_hour * 3600 + tm.tm_min * 60 + tm.tm_sec);
		hi = lo + 86400;
	}
	return ymd;
}

/* Value of n ASCII digits at c (caller checked they are digits). */
static unsigned
digits_val(const unsigned char *c, size_t n)
{
	unsigned v = 0;

	for (size_t i = 0; i < n; i++)
		v = v * 10 + (unsigned)(c[i] - '0');
	return v;
}

/*
 * Checks a calendar date; pos_m/pos_d are the positions to blame.  what
 * prefixes the phrases ("birth " for ID numbers).
 */
static int
check_date(const struct nctx *x, unsigned y, unsigned m, unsigned d, size_t pos_m,
           size_t pos_d, const char *what)
{
	if (m < 1 || m > 12)
		return failf(x, pos_m, "%smonth %u does not exist", what, m);
	if (d < 1 || d > days_in_month(y, m))
		return failf(x, pos_d, "day %u does not exist in %s %u", d, month_names[m], y);
	return 0;
}

/* ---- cn_id: GB 11643-1999 ----------------------------------------------- */

/*
 * GB 11643-1999 section 7 / ISO 7064:1983 MOD 11-2: weight of position i
 * (1-based, from the left) is 2^(18-i) mod 11; the check value is the
 * number that makes the weighted sum, including it, congruent to 1 mod 11.
 */
char
xz_cn_id_check_char(const char digits17[17])
{
	static const unsigned char w[17] = { 7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2 };
	static const char map[11] = { '1', '0', 'X', '9', '8', '7', '6', '5', '4', '3', '2' };
	unsigned sum = 0;

	for (int i = 0; i < 17; i++)
		sum += (unsigned)(digits17[i] - '0') * w[i];
	return map[sum % 11];
}

/* The birth date inside an 18-digit number (positions 7-14). */
static int
cn_id_birth(const struct nctx *x, const char *id, const uint32_t *p)
{
	const unsigned char *u = (const unsigned char *)id;
	unsigned y = digits_val(u + 6, 4), m = digits_val(u + 10, 2), d = digits_val(u + 12, 2);
	unsigned today = today_ymd();

	if (y < 1900)
		return failf(x, p[6], "birth year %u is before 1900", y);
	if (check_date(x, y, m, d, p[10], p[12], "birth ") != 0)
		return -1;
	if (y * 10000 + m * 100 + d > today)
		return fail(x, p[6], "date of birth is in the future");
	return 0;
}

static int
norm_cn_id(const struct nctx *x, const char *in, size_t len)
{
	struct fold f;
	char id[18];
	uint32_t p[18];		/* original position of each of the 18 characters */

	if (fold(x, in, len, &f, "a resident ID number") != 0)
		return -1;
	if (f.n != 18 && f.n != 15)
		return failf(x, 0, "has %zu characters, expected 18 (or 15 for a first-generation number)",
		             f.n);
	for (size_t i = 0; i < f.n; i++) {
		unsigned char c = f.c[i];

		if (i == 17 && (c == 'x' || c == 'X'))
			continue;
		if (!is_digit(c))
			return fail(x, f.pos[i], i == 17 ? "check character must be a digit or X"
			                                 : "not a digit");
	}
	if (f.c[0] == '0')
		return fail(x, f.pos[0], "region code cannot start with 0");
	if (f.n == 18) {
		for (size_t i = 0; i < 18; i++) {
			id[i] = (char)(f.c[i] == 'x' ? 'X' : f.c[i]);
			p[i] = f.pos[i];
		}
	} else {
		/* GB 11643-1999 replaced GB 11643-1989: the 15-digit form has a
		 * two-digit year (always 19xx) and no check character. */
		for (size_t i = 0; i < 6; i++) {
			id[i] = (char)f.c[i];
			p[i] = f.pos[i];
		}
		id[6] = '1';
		id[7] = '9';
		p[6] = p[7] = f.pos[6];
		for (size_t i = 6; i < 15; i++) {
			id[i + 2] = (char)f.c[i];
			p[i + 2] = f.pos[i];
		}
	}
	if (cn_id_birth(x, id, p) != 0)
		return -1;
	char want = xz_cn_id_check_char(id);
	if (f.n == 15)
		id[17] = want;
	else if (id[17] != want)
		return failf(x, p[17], "check character is %c, expected %c", id[17], want);
	return emit(x, id, 18);
}

/* ---- uscc: GB 32100-2015 ------------------------------------------------ */

/* GB 32100-2015 table 1: the 31 characters, in value order 0..30. */
static const char uscc_set[31] = "0123456789ABCDEFGHJKLMNPQRTUWXY";

static int
uscc_val(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'z')
		c = (unsigned char)(c - 'a' + 'A');
	const char *hit = c >= 'A' && c <= 'Z' ? memchr(uscc_set + 10, c, 21) : NULL;
	return hit != NULL ? (int)(hit - uscc_set) : -1;
}

/*
 * GB 32100-2015 section 5 (check character): weights W_i = 3^(i-1) mod 31
 * for i = 1..17; C18 = 31 - (sum of value_i * W_i mod 31), with 31 -> 0.
 */
char
xz_uscc_check_char(const char chars17[17])
{
	static const unsigned char w[17] = { 1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28 };
	unsigned sum = 0;

	for (int i = 0; i < 17; i++) {
		int v = uscc_val((unsigned char)chars17[i]);
		if (v < 0)
			return 0;
		sum += (unsigned)v * w[i];
	}
	return uscc_set[(31 - sum % 31) % 31];
}

static int
norm_uscc(const struct nctx *x, const char *in, size_t len)
{
	struct fold f;
	char code[18];

	if (fold(x, in, len, &f, "a credit code") != 0)
		return -1;
	if (f.n != 18)
		return failf(x, 0, "has %zu characters, expected 18", f.n);
	for (size_t i = 0; i < 18; i++) {
		int v = uscc_val(f.c[i]);
		unsigned char up = f.c[i] >= 'a' && f.c[i] <= 'z' ? (unsigned char)(f.c[i] - 32) : f.c[i];

		if (v < 0 && up >= 'A' && up <= 'Z')
			return failf(x, f.pos[i], "letter %c is not used in credit codes (no I, O, S, V, Z)",
			             up);
		if (v < 0)
			return fail(x, f.pos[i], "not a credit code character (digits and capital letters only)");
		/* Characters 3-8 are the administrative division code (GB/T 2260). */
		if (i >= 2 && i <= 7 && v > 9)
			return fail(x, f.pos[i], "characters 3-8 (region code) must be digits");
		code[i] = uscc_set[v];
	}
	char want = xz_uscc_check_char(code);
	if (code[17] != want)
		return failf(x, f.pos[17], "check character is %c, expected %c", code[17], want);
	return emit(x, code, 18);
}

/* ---- phone -------------------------------------------------------------- */

static int
norm_phone(const struct nctx *x, const char *in, size_t len)
{
	struct fold f;
	char d[FOLD_MAX];
	size_t nd = 0, first = 0;
	int plus = 0;

	if (fold(x, in, len, &f, "a phone number") != 0)
		return -1;
	for (size_t i = 0; i < f.n; i++) {
		unsigned char c = f.c[i];

		if (is_digit(c)) {
			if (nd == 0)
				first = f.pos[i];
			d[nd++] = (char)c;
		} else if (c == '+' && i == 0) {
			plus = 1;
		} else if (c != ' ' && c != '-') {
			return fail(x, f.pos[i], "unexpected character in a phone number");
		}
	}
	/* Country code 86 (ITU-T E.164), written +86, 0086 or 86. */
	const char *num = d;
	if (plus) {
		if (nd < 2 || d[0] != '8' || d[1] != '6')
			return fail(x, first, "not a mainland number (country code must be +86)");
		num += 2;
		nd -= 2;
	} else if (nd == 15 && memcmp(d, "0086", 4) == 0) {
		num += 4;
		nd -= 4;
	} else if (nd == 13 && d[0] == '8' && d[1] == '6') {
		num += 2;
		nd -= 2;
	}
	if (nd != 11)
		return failf(x, 0, "not a mainland mobile number (%zu digits, expected 11)", nd);
	if (num[0] != '1' || num[1] < '3')
		return fail(x, 0, "not a mainland mobile number (must start with 13 to 19)");
	return emit(x, num, 11);
}

/* ---- int and decimal ---------------------------------------------------- */

/*
 * Reads digits from f at *i, allowing thousands separators when they are
 * where they belong: "1,234,567" but not "12,34" or "1,,234".  Appends the
 * digits to buf (at most bufcap) and sets *nd.  Stops at the first
 * character that is neither a digit nor a comma.
 */
static int
read_grouped(const struct nctx *x, const struct fold *f, size_t *i, char *buf, size_t bufcap,
             size_t *nd)
{
	size_t n = 0, group = 0, k = *i, comma_pos = 0;
	int grouped = 0;

	for (; k < f->n; k++) {
		unsigned char c = f->c[k];

		if (is_digit(c)) {
			if (n == bufcap)
				return fail(x, 0, "too many digits");
			buf[n++] = (char)c;
			group++;
		} else if (c == ',') {
			if (n == 0 || (grouped ? group != 3 : group > 3))
				return fail(x, f->pos[k], "thousands separator in the wrong place");
			grouped = 1;
			group = 0;
			comma_pos = f->pos[k];
		} else {
			break;
		}
	}
	if (grouped && group != 3)
		return fail(x, comma_pos, "thousands separator in the wrong place");
	*i = k;
	*nd = n;
	return 0;
}

/* Blames the character that stopped a number, with a hint for the usual cases. */
static int
bad_number_char(const struct nctx *x, const struct fold *f, size_t i)
{
	unsigned char c = f->c[i];

	if (c == 'e' || c == 'E')
		return fail(x, f->pos[i], "exponent notation is not accepted; export plain digits");
	if (c == ' ')
		return fail(x, f->pos[i], "space inside a number");
	if (c == '.')
		return fail(x, f->pos[i], "not a whole number");
	return fail(x, f->pos[i], "not a digit");
}

static int
norm_int(const struct nctx *x, const char *in, size_t len)
{
	struct fold f;
	char digits[FOLD_MAX], out[24];
	size_t i = 0, nd, o = 0;
	int neg = 0;
	uint64_t v = 0;

	if (fold(x, in, len, &f, "a whole number") != 0)
		return -1;
	if (f.c[0] == '-' || f.c[0] == '+')
		neg = f.c[i++] == '-';
	if (read_grouped(x, &f, &i, digits, sizeof(digits), &nd) != 0)
		return -1;
	if (i < f.n)
		return bad_number_char(x, &f, i);
	if (nd == 0)
		return fail(x, 0, "no digits");
	/* INT64_MIN has no positive counterpart: compare magnitudes unsigned. */
	uint64_t limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
	for (size_t k = 0; k < nd; k++) {
		unsigned dv = (unsigned)(digits[k] - '0');
		if (v > (limit - dv) / 10)
			return fail(x, 0, "does not fit in a 64-bit integer");
		v = v * 10 + dv;
	}
	if (neg && v != 0)
		out[o++] = '-';
	int w = snprintf(out + o, sizeof(out) - o, "%llu", (unsigned long long)v);
	return emit(x, out, o + (size_t)w);
}

/* Optional sign and currency sign, in either order: "-¥12", "¥-12". */
static void
read_sign_yen(const struct fold *f, size_t *i, int *neg)
{
	int seen_sign = 0, seen_yen = 0;

	while (*i < f->n) {
		unsigned char c = f->c[*i];
		if (!seen_sign && (c == '-' || c == '+')) {
			*neg = c == '-';
			seen_sign = 1;
		} else if (!seen_yen && c == F_YEN) {
			seen_yen = 1;
		} else {
			break;
		}
		(*i)++;
	}
}

/*
 * Canonical decimal: no exponent, no "+", no thousands separators, no
 * leading zeros before the point (but "0.5"), no trailing zeros after it,
 * no point when the fraction is zero, "0" for every zero ("-0.00" too).
 * The value is kept as digits, never as a binary float.
 */
static int
norm_decimal(const struct nctx *x, const char *in, size_t len)
{
	struct fold f;
	char ip[FOLD_MAX], fp[FOLD_MAX], out[XZ_DECIMAL_MAX_DIGITS + 8];
	size_t i = 0, ni, nf = 0, o = 0;
	int neg = 0;

	if (fold(x, in, len, &f, "an amount") != 0)
		return -1;
	read_sign_yen(&f, &i, &neg);
	if (read_grouped(x, &f, &i, ip, sizeof(ip), &ni) != 0)
		return -1;
	if (i < f.n && f.c[i] == '.') {
		for (i++; i < f.n && is_digit(f.c[i]); i++)
			fp[nf++] = (char)f.c[i];
	}
	if (i < f.n)
		return f.c[i] == '.' ? fail(x, f.pos[i], "more than one decimal point")
		                     : bad_number_char(x, &f, i);
	if (ni + nf == 0)
		return fail(x, 0, "no digits");
	size_t lead = 0;
	while (lead < ni && ip[lead] == '0')
		lead++;
	while (nf > 0 && fp[nf - 1] == '0')
		nf--;
	size_t sig = (ni - lead) + nf;
	if (sig > XZ_DECIMAL_MAX_DIGITS)
		return failf(x, 0, "more than %d significant digits", XZ_DECIMAL_MAX_DIGITS);
	if (neg && sig > 0)
		out[o++] = '-';
	if (ni == lead)
		out[o++] = '0';
	memcpy(out + o, ip + lead, ni - lead);
	o += ni - lead;
	if (nf > 0) {
		out[o++] = '.';
		memcpy(out + o, fp, nf);
		o += nf;
	}
	return emit(x, out, o);
}

/* ---- date --------------------------------------------------------------- */

/* Reads 1..max digits at *i into *v; returns how many were read. */
static size_t
read_num(const struct fold *f, size_t *i, size_t max, unsigned *v)
{
	size_t n = 0;

	*v = 0;
	while (*i < f->n && n < max && is_digit(f->c[*i])) {
		*v = *v * 10 + (unsigned)(f->c[*i] - '0');
		(*i)++;
		n++;
	}
	return n;
}

/* Blames whatever stopped a date from parsing. */
static int
bad_date(const struct nctx *x, const struct fold *f, size_t i)
{
	if (i >= f->n)
		return fail(x, 0, "incomplete date (expected year, month and day)");
	if (f->c[i] == 'T' || f->c[i] == ' ' || f->c[i] == ':')
		return fail(x, f->pos[i], "has a time of day; export the date only");
	return fail(x, f->pos[i], "not a date in a known format (use YYYY-MM-DD)");
}

/*
 * Accepted: YYYYMMDD; YYYY-M-D, YYYY/M/D, YYYY.M.D (one or two digits for
 * month and day, the same separator twice, ISO 8601 calendar date being
 * the two-digit case); YYYY年M月D日 (日 optional).
 */
static int
norm_date(const struct nctx *x, const char *in, size_t len)
{
	struct fold f;
	size_t i = 0, py, pm, pd;
	unsigned y, m, d;
	char out[10];

	if (fold(x, in, len, &f, "a date") != 0)
		return -1;
	py = f.pos[0];
	if (f.n == 8 && read_num(&f, &i, 8, &y) == 8) {
		m = (y / 100) % 100;
		d = y % 100;
		y /= 10000;
		pm = f.pos[4];
		pd = f.pos[6];
	} else {
		i = 0;
		if (read_num(&f, &i, 4, &y) != 4)
			return fail(x, py, "year must have four digits");
		if (i >= f.n)
			return bad_date(x, &f, i);
		unsigned char sep = f.c[i], sep2 = sep == F_NIAN ? F_YUE : sep;
		if (sep != '-' && sep != '/' && sep != '.' && sep != F_NIAN)
			return bad_date(x, &f, i);
		i++;
		pm = i < f.n ? f.pos[i] : 0;
		if (read_num(&f, &i, 2, &m) == 0)
			return bad_date(x, &f, i);
		if (i >= f.n || f.c[i] != sep2)
			return bad_date(x, &f, i);
		i++;
		pd = i < f.n ? f.pos[i] : 0;
		if (read_num(&f, &i, 2, &d) == 0)
			return bad_date(x, &f, i);
		if (sep == F_NIAN && i < f.n && f.c[i] == F_RI)
			i++;
		if (i < f.n)
			return bad_date(x, &f, i);
	}
	if (y < 1000)
		return fail(x, py, "year must have four digits");
	if (check_date(x, y, m, d, pm, pd, "") != 0)
		return -1;
	out[0] = (char)('0' + y / 1000);
	out[1] = (char)('0' + y / 100 % 10);
	out[2] = (char)('0' + y / 10 % 10);
	out[3] = (char)('0' + y % 10);
	out[4] = '-';
	out[5] = (char)('0' + m / 10);
	out[6] = (char)('0' + m % 10);
	out[7] = '-';
	out[8] = (char)('0' + d / 10);
	out[9] = (char)('0' + d % 10);
	return emit(x, out, 10);
}

/* ---- text --------------------------------------------------------------- */

/* White_Space code points that survive NFKC (the others map to U+0020). */
static int
is_ws(uint32_t cp)
{
	return cp == ' ' || (cp >= 0x09 && cp <= 0x0D) || cp == 0x85 || cp == 0x1680 ||
	       cp == 0x2028 || cp == 0x2029;
}

static int
is_control(uint32_t cp)
{
	return (cp < 0x20 && !is_ws(cp)) || cp == 0x7F || (cp >= 0x80 && cp <= 0x9F && cp != 0x85);
}

/*
 * Checks the field is UTF-8 without control characters; sets *ascii when
 * every byte is ASCII (then NFKC is the identity and can be skipped).
 */
static int
text_check(const struct nctx *x, const unsigned char *s, size_t len, int *ascii)
{
	size_t i = 0, cpn = 0;

	*ascii = 1;
	while (i < len) {
		uint32_t cp;

		cpn++;
		if (u8_next(s, len, &i, &cp) != 0)
			return fail(x, cpn, "not valid UTF-8 text");
		if (cp >= 0x80)
			*ascii = 0;
		if (is_control(cp))
			return fail(x, cpn, "contains a control character");
	}
	return 0;
}

/* Trims s and collapses its whitespace runs into one space, into x->out. */
static int
collapse_ws(const struct nctx *x, const unsigned char *s, size_t len)
{
	size_t i = 0, o = 0;
	int pending = 0;

	while (i < len) {
		uint32_t cp;
		size_t start = i;

		if (s[i] < 0x80) {
			cp = s[i++];
		} else if (u8_next(s, len, &i, &cp) != 0) {
			return fail(x, 0, "not valid UTF-8 text");
		}
		if (is_ws(cp)) {
			pending = o > 0;
			continue;
		}
		size_t n = i - start;
		if (o + pending + n + 1 > x->cap)
			return fail(x, 0, "text too long after normalisation");
		if (pending)
			x->out[o++] = ' ';
		pending = 0;
		memcpy(x->out + o, s + start, n);
		o += n;
	}
	x->out[o] = '\0';
	*x->outlen = o;
	return 0;
}

/* Unicode NFKC (UAX #15) via utf8proc, as utf8proc_NFKC does, but into a
 * caller buffer so short fields need no allocation. */
static int
norm_text_unicode(const struct nctx *x, const unsigned char *s, size_t len)
{
	const utf8proc_option_t opt = UTF8PROC_STABLE | UTF8PROC_COMPOSE | UTF8PROC_COMPAT;
	utf8proc_int32_t stackbuf[1025], *buf = stackbuf, *heap = NULL;
	utf8proc_ssize_t n, cap = 1024;
	int rc = -1;

	n = utf8proc_decompose(s, (utf8proc_ssize_t)len, buf, cap, opt);
	if (n > cap) {
		cap = n;
		heap = malloc(((size_t)cap + 1) * sizeof(*heap));
		if (heap == NULL)
			return fail(x, 0, "out of memory normalising text");
		buf = heap;
		n = utf8proc_decompose(s, (utf8proc_ssize_t)len, buf, cap, opt);
	}
	if (n < 0 || n > cap) {
		fail(x, 0, "text could not be normalised (NFKC)");
		goto done;
	}
	n = utf8proc_reencode(buf, n, opt);
	if (n < 0) {
		fail(x, 0, "text could not be normalised (NFKC)");
		goto done;
	}
	rc = collapse_ws(x, (const unsigned char *)buf, (size_t)n);
done:
	free(heap);
	return rc;
}

static int
norm_text(const struct nctx *x, const char *in, size_t len)
{
	const unsigned char *s = (const unsigned char *)in;
	int ascii;

	if (text_check(x, s, len, &ascii) != 0)
		return -1;
	return ascii ? collapse_ws(x, s, len) : norm_text_unicode(x, s, len);
}

/* ---- dispatch ----------------------------------------------------------- */

static const char *const type_names[XZ_COLTYPE_COUNT] = {
	[XZ_COL_CN_ID] = "cn_id", [XZ_COL_USCC] = "uscc", [XZ_COL_PHONE] = "phone",
	[XZ_COL_TEXT] = "text", [XZ_COL_INT] = "int", [XZ_COL_DECIMAL] = "decimal",
	[XZ_COL_DATE] = "date",
};

int
xz_coltype_parse(const char *name, enum xz_coltype *out)
{
	if (name == NULL)
		return -1;
	for (int t = 0; t < XZ_COLTYPE_COUNT; t++) {
		if (strcmp(name, type_names[t]) == 0) {
			*out = (enum xz_coltype)t;
			return 0;
		}
	}
	return -1;
}

const char *
xz_coltype_name(enum xz_coltype t)
{
	return (unsigned)t < XZ_COLTYPE_COUNT ? type_names[t] : "unknown";
}

int
xz_normalize(enum xz_coltype t, const char *in, size_t len, char *out, size_t cap,
             size_t *outlen, const char **reason, size_t *pos)
{
	const struct nctx x = { out, cap, outlen, reason, pos };
	int rc;

	if (cap == 0)
		return fail(&x, 0, "no output buffer");
	out[0] = '\0';
	*outlen = 0;
	switch (t) {
	case XZ_COL_CN_ID:	rc = norm_cn_id(&x, in, len); break;
	case XZ_COL_USCC:	rc = norm_uscc(&x, in, len); break;
	case XZ_COL_PHONE:	rc = norm_phone(&x, in, len); break;
	case XZ_COL_TEXT:	rc = norm_text(&x, in, len); break;
	case XZ_COL_INT:	rc = norm_int(&x, in, len); break;
	case XZ_COL_DECIMAL:	rc = norm_decimal(&x, in, len); break;
	case XZ_COL_DATE:	rc = norm_date(&x, in, len); break;
	default:		rc = fail(&x, 0, "unknown column type"); break;
	}
	if (rc != 0) {
		out[0] = '\0';
		*outlen = 0;
	}
	return rc;
}
