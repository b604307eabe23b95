/*
 * CSV reader: table-driven dialect cases (quotes, embedded line breaks,
 * BOM, CRLF, blank lines, ragged rows, empty file, header only) and
 * malformed files (unterminated quote, stray quotes, over-long field, too
 * many fields, bad UTF-8, NUL bytes), each checked against the exact
 * records and line numbers read back; GB18030 fixtures are made here with
 * iconv(3) from UTF-8 text.
 */
#include "testsupport.h"

#include <iconv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csvread.h"

/* A growable string for dumps of what the reader returned. */
struct sbuf {
	char *s;
	size_t n, cap;
};

static void
sb_add(struct sbuf *b, const char *s, size_t n)
{
	if (b->n + n + 1 > b->cap) {
		b->cap = (b->n + n + 1) * 2;
		b->s = realloc(b->s, b->cap);
		assert_non_null(b->s);
	}
	memcpy(b->s + b->n, s, n);
	b->n += n;
	b->s[b->n] = '\0';
}

/*
 * Reads the whole file: every record as "LINE:[f1|f2|...]\n" into *dump;
 * returns the last xz_csv_next result (0 at a clean end, -1 on error with
 * the message in d).
 */
static int
read_all(const char *path, const char *enc, char **dump, struct xz_diag *d, uint64_t *bytes)
{
	struct xz_csv *c = NULL;
	struct sbuf b = { NULL, 0, 0 };
	const char *const *f;
	const size_t *l;
	size_t nf;
	uint64_t line;
	int rc;

	sb_add(&b, "", 0);
	if (xz_csv_open(path, enc, &c, d) != 0) {
		*dump = b.s;
		return -2;
	}
	while ((rc = xz_csv_next(c, &f, &l, &nf, &line, d)) == 1) {
		char head[32];
		int hn = snprintf(head, sizeof(head), "%llu:[", (unsigned long long)line);
		sb_add(&b, head, (size_t)hn);
		for (size_t i = 0; i < nf; i++) {
			assert_int_equal(strlen(f[i]), l[i]);	/* NUL-terminated, no NUL inside */
			if (i > 0)
				sb_add(&b, "|", 1);
			sb_add(&b, f[i], l[i]);
		}
		sb_add(&b, "]\n", 2);
	}
	/* The end (or the failure) is sticky. */
	assert_int_equal(xz_csv_next(c, &f, &l, &nf, &line, d), rc);
	if (bytes != NULL)
		*bytes = xz_csv_bytes_read(c);
	if (rc == 0)
		assert_int_equal(xz_csv_bytes_read(c), xz_csv_file_size(c));
	xz_csv_close(c);
	*dump = b.s;
	return rc;
}

struct ccase {
	const char *name;
	const char *data;
	size_t len;		/* 0: strlen(data) */
	const char *want;	/* records read (before the error, if any) */
	const char *err;	/* substring of the error, NULL when the file is fine */
};

static const struct ccase ccases[] = {
	{ "lf", "a,b\nc,d\n", 0, "1:[a|b]\n2:[c|d]\n", NULL },
	{ "crlf", "a,b\r\nc,d\r\n", 0, "1:[a|b]\n2:[c|d]\n", NULL },
	{ "no final newline", "a,b\nc,d", 0, "1:[a|b]\n2:[c|d]\n", NULL },
	{ "quotes", "\"x,y\",\"say \"\"hi\"\"\"\n", 0, "1:[x,y|say \"hi\"]\n", NULL },
	{ "embedded newline", "id,addr\n1,\"line1\nline2\"\n2,z\n", 0,
	  "1:[id|addr]\n2:[1|line1\nline2]\n4:[2|z]\n", NULL },
	{ "embedded crlf", "a,\"x\r\ny\"\r\nb,c\r\n", 0, "1:[a|x\r\ny]\n3:[b|c]\n", NULL },
	{ "bom", "\xEF\xBB\xBFname,id\n张三,1\n", 0, "1:[name|id]\n2:[张三|1]\n", NULL },
	{ "blank lines", "a\n\n\r\n  \nb\n", 0, "1:[a]\n5:[b]\n", NULL },
	{ "ragged", "a,b,c\nd\ne,f\n", 0, "1:[a|b|c]\n2:[d]\n3:[e|f]\n", NULL },
	{ "empty fields", ",\n\"\"\n,,\n", 0, "1:[|]\n2:[]\n3:[||]\n", NULL },
	{ "empty file", "", 0, "", NULL },
	{ "header only", "id,name\n", 0, "1:[id|name]\n", NULL },
	{ "bom only", "\xEF\xBB\xBF", 0, "", NULL },
	{ "spaces", " a , b \n\" a \",b\n", 0, "1:[a|b]\n2:[ a |b]\n", NULL },
	{ "unterminated quote", "a,b\n1,\"abc\n2,x\n", 0, "1:[a|b]\n", "line 2, field 2: a quoted field" },
	{ "quote in unquoted", "ok\na,b\"c\n", 0, "1:[ok]\n", "line 2, field 2: a quote inside an unquoted" },
	{ "text after quote", "\"a\"b,c\n", 0, "", "line 1, field 1: text after a closing quote" },
	{ "bad utf-8", "a\nb,\xff\n", 0, "1:[a]\n", "line 2, field 2: not valid UTF-8" },
	{ "bad utf-8 in multi-line", "a,\"x\ny\xc3\"\n", 0, "", "line 2, field 2: not valid UTF-8" },
	{ "nul byte", "a\0,b\n", 5, "", "line 1, field 1: NUL byte" },
	{ "utf-16", "\xff\xfe" "a\0,\0b\0\n\0", 10, "", "UTF-8" },
};

static void
test_cases(void **state)
{
	char *dir = xzt_mkdtemp("csv");

	(void)state;
	for (size_t i = 0; i < sizeof(ccases) / sizeof(ccases[0]); i++) {
		const struct ccase *k = &ccases[i];
		char *path = xzt_path(dir, "in.csv"), *dump = NULL;
		struct xz_diag d = { "" };

		xzt_write_file(path, k->data, k->len ? k->len : strlen(k->data));
		int rc = read_all(path, NULL, &dump, &d, NULL);
		if (strcmp(dump, k->want) != 0)
			fail_msg("%s: read\n%s\nwant\n%s", k->name, dump, k->want);
		if (k->err == NULL && rc != 0)
			fail_msg("%s: failed: %s", k->name, d.msg);
		if (k->err != NULL && (rc != -1 || strstr(d.msg, k->err) == NULL))
			fail_msg("%s: rc %d, message \"%s\", want \"%s\"", k->name, rc, d.msg, k->err);
		if (k->err != NULL && strstr(d.msg, path) == NULL)
			fail_msg("%s: message does not name the file: %s", k->name, d.msg);
		free(dump);
		free(path);
	}
	xzt_rmtree(dir);
	free(dir);
}

/* Writes one record of n copies of fill (a field of flen bytes) to path. */
static void
write_wide(const char *path, size_t nfields, size_t flen)
{
	size_t n = nfields * (flen + 1) + 8;
	char *buf = malloc(n), *p = buf;

	assert_non_null(buf);
	for (size_t i = 0; i < nfields; i++) {
		memset(p, 'x', flen);
		p += flen;
		*p++ = i + 1 < nfields ? ',' : '\n';
	}
	memcpy(p, "end\n", 4);
	p += 4;
	xzt_write_file(path, buf, (size_t)(p - buf));
	free(buf);
}

static void
test_limits(void **state)
{
	static const struct {
		size_t nfields, flen;
		const char *err;
	} lim[] = {
		{ 1, XZ_CSV_MAX_FIELD, NULL },
		{ 2, XZ_CSV_MAX_FIELD + 1, "line 1, field 1: field longer than 65536 bytes" },
		{ XZ_CSV_MAX_FIELDS, 1, NULL },
		{ XZ_CSV_MAX_FIELDS + 1, 1, "line 1: more than 1024 fields" },
		{ 40, 30000, "record longer than" },
	};
	char *dir = xzt_mkdtemp("csvlim"), *path = xzt_path(dir, "wide.csv");

	(void)state;
	for (size_t i = 0; i < sizeof(lim) / sizeof(lim[0]); i++) {
		struct xz_diag d = { "" };
		char *dump;

		write_wide(path, lim[i].nfields, lim[i].flen);
		int rc = read_all(path, NULL, &dump, &d, NULL);
		if (lim[i].err == NULL) {
			if (rc != 0)
				fail_msg("limit case %zu failed: %s", i, d.msg);
			assert_int_equal(strlen(dump), lim[i].nfields * (lim[i].flen + 1) + 12);
		} else if (rc != -1 || strstr(d.msg, lim[i].err) == NULL) {
			fail_msg("limit case %zu: rc %d, \"%s\"", i, rc, d.msg);
		}
		free(dump);
	}
	/* A runaway quote is caught at the field cap, not at the end of memory. */
	{
		struct xz_diag d = { "" };
		char *dump, *buf = malloc(200000);
		assert_non_null(buf);
		memcpy(buf, "ok\n\"", 4);
		for (size_t i = 4; i < 200000; i++)
			buf[i] = (i % 50 == 0) ? '\n' : 'y';
		xzt_write_file(path, buf, 200000);
		assert_int_equal(read_all(path, NULL, &dump, &d, NULL), -1);
		assert_string_equal(dump, "1:[ok]\n");
		assert_non_null(strstr(d.msg, "line 2, field 1: field longer than"));
		free(buf);
		free(dump);
	}
	xzt_rmtree(dir);
	free(path);
	free(dir);
}

/* ---- GB18030 ------------------------------------------------------------ */

/* Converts UTF-8 text to enc with iconv(3); *outlen gets the size. */
static char *
to_encoding(const char *enc, const char *utf8, size_t len, size_t *outlen)
{
	iconv_t cd = iconv_open(enc, "UTF-8");
	size_t cap = len * 2 + 16, inleft = len, outleft = cap;
	char *out = malloc(cap), *op = out, *ip = (char *)(uintptr_t)utf8;

	assert_true(cd != (iconv_t)-1);
	assert_non_null(out);
	assert_int_not_equal(iconv(cd, &ip, &inleft, &op, &outleft), (size_t)-1);
	assert_int_equal(inleft, 0);
	iconv_close(cd);
	*outlen = cap - outleft;
	return out;
}

static const char gb_text[] =
	"姓名,身份证号,住址\r\n"
	"张三,11010519491231002X,\"北京市,朝阳区\"\r\n"
	"欧阳娜娜,130503670401001,\"上海市\r\n浦东新区\"\r\n"
	"李\"\"四\"\"\n";

static const char gb_dump[] =
	"1:[姓名|身份证号|住址]\n"
	"2:[张三|11010519491231002X|北京市,朝阳区]\n"
	"3:[欧阳娜娜|130503670401001|上海市\r\n浦东新区]\n";

static void
test_gb18030(void **state)
{
	char *dir = xzt_mkdtemp("csvgb"), *path = xzt_path(dir, "gb.csv"), *dump;
	size_t n;
	char *gb = to_encoding("GB18030", gb_text, sizeof(gb_text) - 1, &n);
	struct xz_diag d = { "" };

	(void)state;
	/* The fixture really is in another encoding: 张 is 0xD5 0xC5 in GB18030. */
	assert_true(n < sizeof(gb_text) - 1);
	assert_true(xzt_memmem(gb, n, "\xd5\xc5", 2));
	xzt_write_file(path, gb, n);

	static const char *const encs[] = { "gb18030", "GB18030", "gbk" };
	for (size_t i = 0; i < 3; i++) {
		/* The last line has an unescaped quote: records come first, then the error. */
		assert_int_equal(read_all(path, encs[i], &dump, &d, NULL), -1);
		assert_string_equal(dump, gb_dump);
		assert_non_null(strstr(d.msg, "line 5, field 1: a quote inside an unquoted field"));
		free(dump);
	}
	/* Read as UTF-8 by mistake: the message says which option to use. */
	assert_int_equal(read_all(path, NULL, &dump, &d, NULL), -1);
	assert_non_null(strstr(d.msg, "line 1, field 1: not valid UTF-8"));
	assert_non_null(strstr(d.msg, "--encoding gb18030"));
	free(dump);

	/* Bytes that are not GB18030 are an error naming their line. */
	xzt_write_file(path, "a,b\nc,\x81\x20\n", 10);
	assert_int_equal(read_all(path, "gb18030", &dump, &d, NULL), -1);
	assert_string_equal(dump, "1:[a|b]\n");
	assert_non_null(strstr(d.msg, "line 2: bytes that are not valid GB18030"));
	free(dump);

	/* A file cut in the middle of a two-byte character. */
	xzt_write_file(path, "a,b\nc,\xd5", 7);
	assert_int_equal(read_all(path, "gb18030", &dump, &d, NULL), -1);
	assert_non_null(strstr(d.msg, "line 2: the file ends in the middle of a character"));
	free(dump);

	/* GB18030's byte order mark (U+FEFF) is dropped like UTF-8's. */
	xzt_write_file(path, "\x84\x31\x95\x33" "id\n1\n", 9);
	assert_int_equal(read_all(path, "gb18030", &dump, &d, NULL), 0);
	assert_string_equal(dump, "1:[id]\n2:[1]\n");
	free(dump);

	free(gb);
	xzt_rmtree(dir);
	free(path);
	free(dir);
}

/*
 * Many records across many read chunks, in both encodings, with quoted
 * line breaks and multi-byte characters landing on chunk boundaries:
 * every record and every line number must come back exactly.
 */
static void
test_large(void **state)
{
	static const char *const names[] = { "张三", "李四", "欧阳娜娜", "王五", "赵六" };
	const size_t rows = 30000;
	struct sbuf text = { NULL, 0, 0 }, want = { NULL, 0, 0 };
	char *dir = xzt_mkdtemp("csvbig"), *path = xzt_path(dir, "big.csv"), *dump;
	uint64_t line = 1;

	(void)state;
	sb_add(&text, "", 0);
	sb_add(&want, "", 0);
	for (size_t i = 0; i < rows; i++) {
		char rec[160], exp[160];
		int multi = i % 7 == 3;
		int n = snprintf(rec, sizeof(rec), "%zu,%s,\"%s%s\"\r\n", i, names[i % 5],
		                 multi ? "路\n" : "", "号");
		int m = snprintf(exp, sizeof(exp), "%llu:[%zu|%s|%s%s]\n", (unsigned long long)line, i,
		                 names[i % 5], multi ? "路\n" : "", "号");
		sb_add(&text, rec, (size_t)n);
		sb_add(&want, exp, (size_t)m);
		line += multi ? 2 : 1;
		if (i % 1000 == 999) {	/* blank lines count too */
			sb_add(&text, "\r\n", 2);
			line++;
		}
	}
	assert_true(text.n > 3 * 256 * 1024 / 2);

	struct xz_diag d = { "" };
	uint64_t bytes;
	xzt_write_file(path, text.s, text.n);
	assert_int_equal(read_all(path, "utf-8", &dump, &d, &bytes), 0);
	assert_int_equal(bytes, text.n);
	assert_string_equal(dump, want.s);
	free(dump);

	size_t gn;
	char *gb = to_encoding("GB18030", text.s, text.n, &gn);
	xzt_write_file(path, gb, gn);
	assert_int_equal(read_all(path, "gb18030", &dump, &d, &bytes), 0);
	assert_int_equal(bytes, gn);
	assert_string_equal(dump, want.s);
	free(dump);
	free(gb);

	free(text.s);
	free(want.s);
	xzt_rmtree(dir);
	free(path);
	free(dir);
}

/*
 * Round trip: random records (fields with commas, quotes, line breaks,
 * spaces, Chinese text, empty fields; ragged widths) written the way RFC
 * 4180 says, with LF or CRLF, read back field for field and line for line.
 */
static void
test_round_trip(void **state)
{
	static const char *const atoms[] = {
		"a", "Z", "7", ",", "\"", "\n", "\r\n", " ", "张", "欧阳", "\xe3\x80\x80", "x y", "'",
	};
	const size_t natoms = sizeof(atoms) / sizeof(atoms[0]);
	struct sbuf text = { NULL, 0, 0 }, want = { NULL, 0, 0 };
	char *dir = xzt_mkdtemp("csvrt"), *path = xzt_path(dir, "rt.csv"), *dump;
	struct xz_diag d = { "" };
	uint64_t line = 1;

	(void)state;
	sb_add(&text, "", 0);
	sb_add(&want, "", 0);
	srand(4180);
	for (int r = 0; r < 20000; r++) {
		size_t nf = 1 + (size_t)rand() % 6;
		char head[32];
		uint64_t lf = 0;

		sb_add(&want, head, (size_t)snprintf(head, sizeof(head), "%llu:[",
		                                     (unsigned long long)line));
		for (size_t i = 0; i < nf; i++) {
			char field[128];
			size_t fl = 0, na = (size_t)rand() % 5;

			for (size_t k = 0; k < na; k++) {
				const char *a = atoms[(size_t)rand() % natoms];
				memcpy(field + fl, a, strlen(a));
				fl += strlen(a);
			}
			if (nf == 1 && fl == 0)
				memcpy(field + fl++, "a", 1);	/* a lone empty field is a blank line */
			/* Quote always when it matters, sometimes when it does not. */
			int quote = rand() % 4 == 0 || fl == 0 || field[0] == ' ' || field[fl - 1] == ' ';
			for (size_t k = 0; k < fl; k++)
				quote |= field[k] == ',' || field[k] == '"' || field[k] == '\n' ||
				         field[k] == '\r';
			if (i > 0) {
				sb_add(&text, ",", 1);
				sb_add(&want, "|", 1);
			}
			sb_add(&want, field, fl);
			if (quote)
				sb_add(&text, "\"", 1);
			for (size_t k = 0; k < fl; k++) {
				if (field[k] == '"')
					sb_add(&text, "\"", 1);
				if (field[k] == '\n')
					lf++;
				sb_add(&text, field + k, 1);
			}
			if (quote)
				sb_add(&text, "\"", 1);
		}
		sb_add(&want, "]\n", 2);
		if (r + 1 < 20000 || rand() % 2) {	/* the last line end is optional */
			int crlf = rand() % 2;
			sb_add(&text, crlf ? "\r\n" : "\n", crlf ? 2 : 1);
		}
		line += lf + 1;
	}
	xzt_write_file(path, text.s, text.n);
	if (read_all(path, NULL, &dump, &d, NULL) != 0)
		fail_msg("round trip failed: %s", d.msg);
	assert_int_equal(strlen(dump), want.n);
	assert_string_equal(dump, want.s);
	free(dump);
	free(text.s);
	free(want.s);
	xzt_rmtree(dir);
	free(path);
	free(dir);
}

/* Random bytes: the reader ends cleanly or with a message, never worse. */
static void
test_garbage(void **state)
{
	static const char alphabet[] = "a,\"\n\r \t\xe5\xbc\xa0\xff";
	char *dir = xzt_mkdtemp("csvjunk"), *path = xzt_path(dir, "junk.csv"), *dump;
	char buf[512];

	(void)state;
	srand(7);
	for (int n = 0; n < 3000; n++) {
		size_t len = (size_t)rand() % sizeof(buf);
		struct xz_diag d = { "" };

		for (size_t i = 0; i < len; i++)
			buf[i] = alphabet[(size_t)rand() % (sizeof(alphabet) - 1)];
		xzt_write_file(path, buf, len);
		for (int e = 0; e < 2; e++) {
			int rc = read_all(path, e ? "gb18030" : NULL, &dump, &d, NULL);
			assert_true(rc == 0 || rc == -1);
			if (rc == -1)
				assert_non_null(strstr(d.msg, "line "));
			free(dump);
		}
	}
	xzt_rmtree(dir);
	free(path);
	free(dir);
}

static void
test_open_errors(void **state)
{
	struct xz_csv *c = (struct xz_csv *)(uintptr_t)1;
	struct xz_diag d = { "" };
	char *dir = xzt_mkdtemp("csvopen"), *path = xzt_path(dir, "x.csv");

	(void)state;
	xzt_write_file(path, "a\n", 2);
	assert_int_equal(xz_csv_open(path, "latin1", &c, &d), -1);
	assert_null(c);
	assert_non_null(strstr(d.msg, "unknown encoding 'latin1'"));
	assert_int_equal(xz_csv_open("/nonexistent/x.csv", NULL, &c, &d), -1);
	assert_non_null(strstr(d.msg, "/nonexistent/x.csv: cannot open"));
	assert_int_equal(xz_csv_open(dir, NULL, &c, &d), -1);
	assert_non_null(strstr(d.msg, "not a readable file"));
	assert_int_equal(xz_csv_open(path, "UTF-8", &c, &d), 0);
	assert_int_equal(xz_csv_file_size(c), 2);
	xz_csv_close(c);
	xz_csv_close(NULL);
	xzt_rmtree(dir);
	free(path);
	free(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cases),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_gb18030),
		cmocka_unit_test(test_large),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_garbage),
		cmocka_unit_test(test_open_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
