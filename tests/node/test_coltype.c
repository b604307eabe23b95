/*
 * Column type normalisers: table-driven known answers for every type
 * (valid forms, full-width input, bad check characters, 15 -> 18 upgrade,
 * impossible dates), plus check characters computed here from the
 * standards' definitions, independently of node/coltype.c.
 */
#include "testsupport.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "coltype.h"

/* Fixed-width exports pad fields with spaces. */
#define SP10 "          "
#define SP80 SP10 SP10 SP10 SP10 SP10 SP10 SP10 SP10

struct ncase {
	enum xz_coltype t;
	const char *in;
	const char *want;	/* canonical form, or NULL when refused */
	const char *reason;	/* substring of the reason when refused */
	size_t pos;		/* expected position when refused */
};

static const struct ncase cases[] = {
	/* cn_id: GB 11643-1999's own example, and common spellings of it. */
	{ XZ_COL_CN_ID, "11010519491231002X", "11010519491231002X", NULL, 0 },
	{ XZ_COL_CN_ID, "11010519491231002x", "11010519491231002X", NULL, 0 },
	{ XZ_COL_CN_ID, "  11010519491231002X\t", "11010519491231002X", NULL, 0 },
	{ XZ_COL_CN_ID, "\xe3\x80\x80" "11010519491231002X" "\xe3\x80\x80", "11010519491231002X", NULL, 0 },
	{ XZ_COL_CN_ID, "１１０１０５１９４９１２３１００２ｘ", "11010519491231002X", NULL, 0 },
	{ XZ_COL_CN_ID, SP80 "11010519491231002X" SP80, "11010519491231002X", NULL, 0 },
	{ XZ_COL_CN_ID, "11010519491231002X" SP80 "1", NULL, "too long", 0 },
	{ XZ_COL_CN_ID, "１１０１０５１９４９１２３１００２Ｘ", "11010519491231002X", NULL, 0 },
	/* 15-digit first-generation number: century 19 inserted, check computed. */
	{ XZ_COL_CN_ID, "130503670401001", "130503196704010016", NULL, 0 },
	{ XZ_COL_CN_ID, "１３０５０３６７０４０１００１", "130503196704010016", NULL, 0 },
	/* Bad check character: the standard's example with its last digit changed. */
	{ XZ_COL_CN_ID, "110105194912310021", NULL, "check character is 1, expected X", 18 },
	{ XZ_COL_CN_ID, "  110105194912310021", NULL, "check character is 1, expected X", 20 },
	{ XZ_COL_CN_ID, "11010519491231002Y", NULL, "digit or X", 18 },
	/* GB 11643-1999's other example is born in 1880: valid check, refused date. */
	{ XZ_COL_CN_ID, "440524188001010014", NULL, "birth year 1880 is before 1900", 7 },
	{ XZ_COL_CN_ID, "110105202302290010", NULL, "day 29 does not exist in February 2023", 13 },
	{ XZ_COL_CN_ID, "110105202304310010", NULL, "day 31 does not exist in April 2023", 13 },
	{ XZ_COL_CN_ID, "110105202313010010", NULL, "birth month 13 does not exist", 11 },
	{ XZ_COL_CN_ID, "110105202300010010", NULL, "birth month 0 does not exist", 11 },
	{ XZ_COL_CN_ID, "110105190002290010", NULL, "day 29 does not exist in February 1900", 13 },
	{ XZ_COL_CN_ID, "130503670230001", NULL, "day 30 does not exist in February 1967", 11 },
	{ XZ_COL_CN_ID, "010105194912310021", NULL, "region code cannot start with 0", 1 },
	{ XZ_COL_CN_ID, "1101051949123100AX", NULL, "not a digit", 17 },
	{ XZ_COL_CN_ID, "1101051949 1231002X", NULL, "has 19 characters", 0 },
	{ XZ_COL_CN_ID, "1101051949123100", NULL, "has 16 characters", 0 },
	{ XZ_COL_CN_ID, "", NULL, "empty value", 0 },
	{ XZ_COL_CN_ID, " \t ", NULL, "empty value", 0 },
	{ XZ_COL_CN_ID, "1101\xff" "0519491231002X", NULL, "not valid UTF-8", 5 },
	{ XZ_COL_CN_ID, "1101\xc0\xaf" "0519491231002X", NULL, "not valid UTF-8", 5 },

	/* uscc: codes published as valid examples by public validators. */
	{ XZ_COL_USCC, "91350100M000100Y43", "91350100M000100Y43", NULL, 0 },
	{ XZ_COL_USCC, "91230184MA1BUFLT44", "91230184MA1BUFLT44", NULL, 0 },
	{ XZ_COL_USCC, "92371000MA3MXH0E3W", "92371000MA3MXH0E3W", NULL, 0 },
	{ XZ_COL_USCC, "91350100m000100y43", "91350100M000100Y43", NULL, 0 },
	{ XZ_COL_USCC, "９１３５０１００Ｍ０００１００Ｙ４３", "91350100M000100Y43", NULL, 0 },
	{ XZ_COL_USCC, " 92371000ma3mxh0e3w ", "92371000MA3MXH0E3W", NULL, 0 },
	{ XZ_COL_USCC, "91350100M000100Y44", NULL, "check character is 4, expected 3", 18 },
	{ XZ_COL_USCC, "92371000MA3MXH0E3X", NULL, "check character is X, expected W", 18 },
	{ XZ_COL_USCC, "91350100I000100Y43", NULL, "letter I is not used", 9 },
	{ XZ_COL_USCC, "91350100o000100Y43", NULL, "letter O is not used", 9 },
	{ XZ_COL_USCC, "91A50100M000100Y43", NULL, "characters 3-8", 3 },
	{ XZ_COL_USCC, "91350100M000100Y4", NULL, "has 17 characters", 0 },
	{ XZ_COL_USCC, "91350100M000-00Y43", NULL, "not a credit code character", 13 },

	/* phone */
	{ XZ_COL_PHONE, "13800138000", "13800138000", NULL, 0 },
	{ XZ_COL_PHONE, "138-0013-8000", "13800138000", NULL, 0 },
	{ XZ_COL_PHONE, "+86 138 0013 8000", "13800138000", NULL, 0 },
	{ XZ_COL_PHONE, "+8613800138000", "13800138000", NULL, 0 },
	{ XZ_COL_PHONE, "008613800138000", "13800138000", NULL, 0 },
	{ XZ_COL_PHONE, "8613800138000", "13800138000", NULL, 0 },
	{ XZ_COL_PHONE, "１３８００１３８０００", "13800138000", NULL, 0 },
	{ XZ_COL_PHONE, "＋８６　１９９－１２３４－５６７８", "19912345678", NULL, 0 },
	{ XZ_COL_PHONE, "+1 202 555 0123", NULL, "country code must be +86", 2 },
	{ XZ_COL_PHONE, "12800138000", NULL, "must start with 13 to 19", 0 },
	{ XZ_COL_PHONE, "1380013800", NULL, "10 digits, expected 11", 0 },
	{ XZ_COL_PHONE, "010-88886666", NULL, "not a mainland mobile number", 0 },
	{ XZ_COL_PHONE, "138OO138000", NULL, "unexpected character", 4 },
	{ XZ_COL_PHONE, "", NULL, "empty value", 0 },

	/* text */
	{ XZ_COL_TEXT, "  Hello   World \t", "Hello World", NULL, 0 },
	{ XZ_COL_TEXT, "line1\r\nline2", "line1 line2", NULL, 0 },
	{ XZ_COL_TEXT, "ＡＢＣ１２３", "ABC123", NULL, 0 },
	{ XZ_COL_TEXT, "张三\xe3\x80\x80\xe3\x80\x80丰", "张三 丰", NULL, 0 },
	{ XZ_COL_TEXT, "e\xcc\x81t\xc3\xa9", "\xc3\xa9t\xc3\xa9", NULL, 0 },
	{ XZ_COL_TEXT, "\xe3\x88\xb1", "(株)", NULL, 0 },
	{ XZ_COL_TEXT, "", "", NULL, 0 },
	{ XZ_COL_TEXT, " \xc2\xa0 ", "", NULL, 0 },
	{ XZ_COL_TEXT, "a\x01" "b", NULL, "control character", 2 },
	{ XZ_COL_TEXT, "张\xc3\x28", NULL, "not valid UTF-8", 2 },
	{ XZ_COL_TEXT, "\xed\xa0\x80", NULL, "not valid UTF-8", 1 },

	/* int: thousands separators accepted where they belong. */
	{ XZ_COL_INT, "42", "42", NULL, 0 },
	{ XZ_COL_INT, "-42", "-42", NULL, 0 },
	{ XZ_COL_INT, "+42", "42", NULL, 0 },
	{ XZ_COL_INT, "0042", "42", NULL, 0 },
	{ XZ_COL_INT, "-0", "0", NULL, 0 },
	{ XZ_COL_INT, "1,234,567", "1234567", NULL, 0 },
	{ XZ_COL_INT, "１２３", "123", NULL, 0 },
	{ XZ_COL_INT, "－１，２３４", "-1234", NULL, 0 },
	{ XZ_COL_INT, "9223372036854775807", "9223372036854775807", NULL, 0 },
	{ XZ_COL_INT, "-9223372036854775808", "-9223372036854775808", NULL, 0 },
	{ XZ_COL_INT, "9223372036854775808", NULL, "does not fit", 0 },
	{ XZ_COL_INT, "-9223372036854775809", NULL, "does not fit", 0 },
	{ XZ_COL_INT, "12,34", NULL, "thousands separator", 3 },
	{ XZ_COL_INT, "1234,567", NULL, "thousands separator", 5 },
	{ XZ_COL_INT, "1,234,56", NULL, "thousands separator", 6 },
	{ XZ_COL_INT, "1.5", NULL, "not a whole number", 2 },
	{ XZ_COL_INT, "1e5", NULL, "exponent", 2 },
	{ XZ_COL_INT, "1 234", NULL, "space inside a number", 2 },
	{ XZ_COL_INT, "-", NULL, "no digits", 0 },
	{ XZ_COL_INT, "", NULL, "empty value", 0 },

	/* decimal: canonical form, never a float. */
	{ XZ_COL_DECIMAL, "-1234.50", "-1234.5", NULL, 0 },
	{ XZ_COL_DECIMAL, "1,234.56", "1234.56", NULL, 0 },
	{ XZ_COL_DECIMAL, "¥1,234.00", "1234", NULL, 0 },
	{ XZ_COL_DECIMAL, "￥-0.50", "-0.5", NULL, 0 },
	{ XZ_COL_DECIMAL, "-¥12", "-12", NULL, 0 },
	{ XZ_COL_DECIMAL, "0.000", "0", NULL, 0 },
	{ XZ_COL_DECIMAL, "-0.00", "0", NULL, 0 },
	{ XZ_COL_DECIMAL, ".5", "0.5", NULL, 0 },
	{ XZ_COL_DECIMAL, "5.", "5", NULL, 0 },
	{ XZ_COL_DECIMAL, "+007.10", "7.1", NULL, 0 },
	{ XZ_COL_DECIMAL, "００１２．３０", "12.3", NULL, 0 },
	{ XZ_COL_DECIMAL, "0.1", "0.1", NULL, 0 },
	{ XZ_COL_DECIMAL, "12345678901234567890123456789012345678",
	  "12345678901234567890123456789012345678", NULL, 0 },
	{ XZ_COL_DECIMAL, "1234567890123456789012345678901234567.89", NULL, "more than 38", 0 },
	{ XZ_COL_DECIMAL, "1.2.3", NULL, "more than one decimal point", 4 },
	{ XZ_COL_DECIMAL, "1E5", NULL, "exponent", 2 },
	{ XZ_COL_DECIMAL, "12,34.5", NULL, "thousands separator", 3 },
	{ XZ_COL_DECIMAL, "1.234,5", NULL, "not a digit", 6 },
	{ XZ_COL_DECIMAL, "¥", NULL, "no digits", 0 },
	{ XZ_COL_DECIMAL, "12元", NULL, "not a digit", 3 },

	/* date */
	{ XZ_COL_DATE, "2024-03-05", "2024-03-05", NULL, 0 },
	{ XZ_COL_DATE, "2024-3-5", "2024-03-05", NULL, 0 },
	{ XZ_COL_DATE, "2024/3/5", "2024-03-05", NULL, 0 },
	{ XZ_COL_DATE, "2024/03/05", "2024-03-05", NULL, 0 },
	{ XZ_COL_DATE, "2024.3.5", "2024-03-05", NULL, 0 },
	{ XZ_COL_DATE, "2024年3月5日", "2024-03-05", NULL, 0 },
	{ XZ_COL_DATE, "2024年03月05日", "2024-03-05", NULL, 0 },
	{ XZ_COL_DATE, "2024年3月5", "2024-03-05", NULL, 0 },
	{ XZ_COL_DATE, "20240305", "2024-03-05", NULL, 0 },
	{ XZ_COL_DATE, "２０２４－０３－０５", "2024-03-05", NULL, 0 },
	{ XZ_COL_DATE, " 2024-02-29 ", "2024-02-29", NULL, 0 },
	{ XZ_COL_DATE, "2000-02-29", "2000-02-29", NULL, 0 },
	{ XZ_COL_DATE, "2023-02-29", NULL, "day 29 does not exist in February 2023", 9 },
	{ XZ_COL_DATE, "1900-02-29", NULL, "day 29 does not exist in February 1900", 9 },
	{ XZ_COL_DATE, "2023-04-31", NULL, "day 31 does not exist in April 2023", 9 },
	{ XZ_COL_DATE, "2023年4月31日", NULL, "day 31 does not exist in April 2023", 8 },
	{ XZ_COL_DATE, "20230431", NULL, "day 31 does not exist in April 2023", 7 },
	{ XZ_COL_DATE, "2023-04-00", NULL, "day 0 does not exist", 9 },
	{ XZ_COL_DATE, "2023-13-01", NULL, "month 13 does not exist", 6 },
	{ XZ_COL_DATE, "2024-03-05T10:00", NULL, "time of day", 11 },
	{ XZ_COL_DATE, "2024-03-05 10:00", NULL, "time of day", 11 },
	{ XZ_COL_DATE, "24-3-5", NULL, "four digits", 1 },
	{ XZ_COL_DATE, "2024-03", NULL, "incomplete date", 0 },
	{ XZ_COL_DATE, "2024-3/5", NULL, "not a date in a known format", 7 },
	{ XZ_COL_DATE, "2024年3-5", NULL, "not a date in a known format", 7 },
	{ XZ_COL_DATE, "5/3/2024", NULL, "four digits", 1 },
	{ XZ_COL_DATE, "", NULL, "empty value", 0 },
	{ XZ_COL_DATE, "2024-03-05" SP80, "2024-03-05", NULL, 0 },
};

static void
run_case(size_t i, const struct ncase *c)
{
	char out[256];
	size_t outlen = 99, pos = 99;
	const char *reason = NULL;
	int rc = xz_normalize(c->t, c->in, strlen(c->in), out, sizeof(out), &outlen, &reason, &pos);

	if (c->want != NULL) {
		if (rc != 0)
			fail_msg("case %zu (%s \"%s\"): refused: %s (pos %zu)", i, xz_coltype_name(c->t),
			         c->in, reason, pos);
		if (strcmp(out, c->want) != 0 || outlen != strlen(c->want))
			fail_msg("case %zu (%s \"%s\"): got \"%s\", want \"%s\"", i, xz_coltype_name(c->t),
			         c->in, out, c->want);
		return;
	}
	if (rc != -1)
		fail_msg("case %zu (%s \"%s\"): accepted as \"%s\"", i, xz_coltype_name(c->t), c->in, out);
	if (reason == NULL || strstr(reason, c->reason) == NULL || pos != c->pos)
		fail_msg("case %zu (%s \"%s\"): reason \"%s\" pos %zu, want \"%s\" pos %zu", i,
		         xz_coltype_name(c->t), c->in, reason ? reason : "(null)", pos, c->reason, c->pos);
	if (out[0] != '\0' || outlen != 0)
		fail_msg("case %zu: output not cleared on failure", i);
}

static void
test_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		run_case(i, &cases[i]);
}

/* ---- check characters computed from the standards ----------------------- */

/* GB 11643-1999: weight of position i (1..17) is 2^(18-i) mod 11; the check
 * value a18 satisfies sum(a_i * W_i) + a18 == 1 (mod 11); 10 is written X. */
static char
ref_cn_check(const char *d17)
{
	unsigned sum = 0, w = 1;
	unsigned weights[17];

	for (int i = 16; i >= 0; i--) {
		w = (w * 2) % 11;
		weights[i] = w;
	}
	for (int i = 0; i < 17; i++)
		sum += (unsigned)(d17[i] - '0') * weights[i];
	unsigned a18 = (12 - sum % 11) % 11;
	return a18 == 10 ? 'X' : (char)('0' + a18);
}

/* GB 32100-2015: W_i = 3^(i-1) mod 31, C18 = 31 - (sum mod 31), 31 -> 0. */
static char
ref_uscc_check(const char *c17)
{
	static const char set[] = "0123456789ABCDEFGHJKLMNPQRTUWXY";
	unsigned sum = 0, w = 1;

	for (int i = 0; i < 17; i++) {
		sum += (unsigned)(strchr(set, c17[i]) - set) * w;
		w = w * 3 % 31;
	}
	return set[(31 - sum % 31) % 31];
}

static void
test_cn_id_generated(void **state)
{
	static const char *const regions[] = { "110105", "310104", "440305", "510107", "650102" };
	char id[19], out[32], wrong[19];
	size_t outlen, pos;
	const char *reason;

	(void)state;
	srand(20240305);
	for (int n = 0; n < 3000; n++) {
		unsigned y = 1900 + (unsigned)rand() % 120, m = 1 + (unsigned)rand() % 12;
		unsigned d = 1 + (unsigned)rand() % 28, seq = (unsigned)rand() % 1000;

		snprintf(id, sizeof(id), "%s%04u%02u%02u%03u", regions[n % 5], y, m, d, seq);
		id[17] = ref_cn_check(id);
		id[18] = '\0';
		assert_int_equal(xz_cn_id_check_char(id), id[17]);
		assert_int_equal(xz_normalize(XZ_COL_CN_ID, id, 18, out, sizeof(out), &outlen, &reason,
		                              &pos), 0);
		assert_string_equal(out, id);
		/* Every other check character is refused, at position 18. */
		for (const char *k = "0123456789X"; *k; k++) {
			if (*k == id[17])
				continue;
			memcpy(wrong, id, 19);
			wrong[17] = *k;
			assert_int_equal(xz_normalize(XZ_COL_CN_ID, wrong, 18, out, sizeof(out), &outlen,
			                              &reason, &pos), -1);
			assert_int_equal(pos, 18);
			assert_non_null(strstr(reason, "check character"));
		}
		/* The first-generation form of a 19xx number upgrades to it. */
		if (y < 2000) {
			char old[16];
			memcpy(old, id, 6);
			memcpy(old + 6, id + 8, 9);
			old[15] = '\0';
			assert_int_equal(xz_normalize(XZ_COL_CN_ID, old, 15, out, sizeof(out), &outlen,
			                              &reason, &pos), 0);
			assert_string_equal(out, id);
		}
	}
}

static void
test_cn_id_future(void **state)
{
	time_t now = time(NULL);
	struct tm tm;
	char id[19], out[32];
	size_t outlen, pos;
	const char *reason;

	(void)state;
	/* Born today: accepted.  Born in a year's time: refused. */
	localtime_r(&now, &tm);
	memcpy(id, "110105", 6);
	assert_int_equal(strftime(id + 6, 9, "%Y%m%d", &tm), 8);
	memcpy(id + 14, "001", 3);
	id[17] = ref_cn_check(id);
	id[18] = '\0';
	assert_int_equal(xz_normalize(XZ_COL_CN_ID, id, 18, out, sizeof(out), &outlen, &reason, &pos), 0);
	tm.tm_year += 1;
	tm.tm_mon = 0;
	tm.tm_mday = 1;
	assert_int_equal(strftime(id + 6, 9, "%Y%m%d", &tm), 8);
	memcpy(id + 14, "001", 3);
	id[17] = ref_cn_check(id);
	id[18] = '\0';
	assert_int_equal(xz_normalize(XZ_COL_CN_ID, id, 18, out, sizeof(out), &outlen, &reason, &pos), -1);
	assert_string_equal(reason, "date of birth is in the future");
	assert_int_equal(pos, 7);
}

static void
test_uscc_generated(void **state)
{
	static const char set[] = "0123456789ABCDEFGHJKLMNPQRTUWXY";
	char code[19], out[32];
	size_t outlen, pos;
	const char *reason;

	(void)state;
	srand(32100);
	for (int n = 0; n < 3000; n++) {
		for (int i = 0; i < 17; i++)
			code[i] = set[(i >= 2 && i <= 7) ? rand() % 10 : rand() % 31];
		code[17] = ref_uscc_check(code);
		code[18] = '\0';
		assert_int_equal(xz_uscc_check_char(code), code[17]);
		assert_int_equal(xz_normalize(XZ_COL_USCC, code, 18, out, sizeof(out), &outlen, &reason,
		                              &pos), 0);
		assert_string_equal(out, code);
		code[17] = set[(strchr(set, code[17]) - set + 1) % 31];
		assert_int_equal(xz_normalize(XZ_COL_USCC, code, 18, out, sizeof(out), &outlen, &reason,
		                              &pos), -1);
		assert_int_equal(pos, 18);
	}
}

/* ---- type names and buffers --------------------------------------------- */

static void
test_type_names(void **state)
{
	static const char *const names[] = { "cn_id", "uscc", "phone", "text", "int", "decimal", "date" };
	enum xz_coltype t;

	(void)state;
	for (int i = 0; i < XZ_COLTYPE_COUNT; i++) {
		assert_int_equal(xz_coltype_parse(names[i], &t), 0);
		assert_int_equal((int)t, i);
		assert_string_equal(xz_coltype_name(t), names[i]);
	}
	t = XZ_COL_TEXT;
	assert_int_equal(xz_coltype_parse("CN_ID", &t), -1);
	assert_int_equal(xz_coltype_parse("", &t), -1);
	assert_int_equal(xz_coltype_parse("float", &t), -1);
	assert_int_equal((int)t, XZ_COL_TEXT);
	assert_string_equal(xz_coltype_name((enum xz_coltype)99), "unknown");
}

static void
test_small_output(void **state)
{
	char out[18];	/* one short of an 18-character ID and its NUL */
	size_t outlen, pos;
	const char *reason;

	(void)state;
	assert_int_equal(xz_normalize(XZ_COL_CN_ID, "11010519491231002X", 18, out, sizeof(out), &outlen,
	                              &reason, &pos), -1);
	assert_non_null(strstr(reason, "output buffer"));
	assert_int_equal(xz_normalize(XZ_COL_TEXT, "abcdefghijklmnopqrstuvwxyz", 26, out, sizeof(out),
	                              &outlen, &reason, &pos), -1);
	assert_string_equal(out, "");
}

static void
test_blank(void **state)
{
	static const struct {
		const char *in;
		int blank;
	} b[] = {
		{ "", 1 }, { " ", 1 }, { " \t ", 1 }, { "\xe3\x80\x80\xc2\xa0", 1 },
		{ " 0 ", 0 }, { "\xe3\x80\x80x", 0 }, { "\xff", 0 }, { "\n", 0 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(b) / sizeof(b[0]); i++) {
		char out[64];
		size_t outlen, pos;
		const char *reason;

		assert_int_equal(xz_field_is_blank(b[i].in, strlen(b[i].in)), b[i].blank);
		/* Blank is exactly what the fixed-format types call empty. */
		if (b[i].blank) {
			assert_int_equal(xz_normalize(XZ_COL_DATE, b[i].in, strlen(b[i].in), out,
			                              sizeof(out), &outlen, &reason, &pos), -1);
			assert_string_equal(reason, "empty value");
		}
	}
}

/*
 * Property: whatever is accepted comes out in canonical form, so
 * normalising the output again gives the same bytes; whatever is refused
 * names a position inside the field.  Inputs are random strings over the
 * pieces the parsers care about (run under ASan in the sanitizer build).
 */
static void
test_idempotent(void **state)
{
	static const char *const atoms[] = {
		"0", "1", "3", "8", "9", "x", "X", "a", "M", "I", " ", "\t", "-", "+", ",", ".", "/",
		"１", "９", "ｘ", "，", "．", "－", "\xe3\x80\x80", "¥", "￥", "年", "月", "日", "张",
		"e\xcc\x81", "\xef\xbc\xa1", "\xff", "\xc3", "\n", "E", "T", ":", "\"", "2024", "86",
	};
	const size_t natoms = sizeof(atoms) / sizeof(atoms[0]);
	char in[256], out[1024], again[1024];
	size_t outlen, outlen2, pos;
	const char *reason;
	unsigned accepted[XZ_COLTYPE_COUNT] = { 0 };

	(void)state;
	srand(4180);
	for (int n = 0; n < 200000; n++) {
		size_t len = 0, natom = 1 + (size_t)rand() % 20;
		for (size_t k = 0; k < natom; k++) {
			const char *a = atoms[(size_t)rand() % natoms];
			size_t al = strlen(a);
			memcpy(in + len, a, al);
			len += al;
		}
		for (int t = 0; t < XZ_COLTYPE_COUNT; t++) {
			if (xz_normalize((enum xz_coltype)t, in, len, out, sizeof(out), &outlen, &reason,
			                 &pos) != 0) {
				assert_non_null(reason);
				assert_true(pos <= len);
				continue;
			}
			accepted[t]++;
			assert_int_equal(strlen(out), outlen);
			assert_int_equal(xz_normalize((enum xz_coltype)t, out, outlen, again, sizeof(again),
			                              &outlen2, &reason, &pos), 0);
			assert_string_equal(out, again);
		}
	}
	/* The generator reaches the accepting paths of the free-form types. */
	assert_true(accepted[XZ_COL_TEXT] > 1000);
	assert_true(accepted[XZ_COL_INT] > 100);
	assert_true(accepted[XZ_COL_DECIMAL] > 100);
}

/* Text far longer than the stack buffer takes the allocating NFKC path. */
static void
test_long_text(void **state)
{
	size_t n = 3000, outlen, pos;
	char *in = malloc(n * 3 + 8), *out = malloc(XZ_TEXT_OUT_CAP(n * 3 + 8));
	const char *reason;

	(void)state;
	assert_non_null(in);
	assert_non_null(out);
	for (size_t i = 0; i < n; i++)
		memcpy(in + i * 3, "ａ", 3);		/* full-width a, NFKC -> "a" */
	assert_int_equal(xz_normalize(XZ_COL_TEXT, in, n * 3, out, XZ_TEXT_OUT_CAP(n * 3), &outlen,
	                              &reason, &pos), 0);
	assert_int_equal(outlen, n);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(out[i], 'a');
	free(in);
	free(out);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_cn_id_generated),
		cmocka_unit_test(test_cn_id_future),
		cmocka_unit_test(test_uscc_generated),
		cmocka_unit_test(test_type_names),
		cmocka_unit_test(test_small_output),
		cmocka_unit_test(test_long_text),
		cmocka_unit_test(test_blank),
		cmocka_unit_test(test_idempotent),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
