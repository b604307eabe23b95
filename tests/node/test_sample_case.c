/*
 * xiezhi sample case, the files themselves: the same (seed, size, as-of)
 * gives byte-identical output (SHA-256 of every file of two runs) and any
 * change of one of them changes it; the layout, modes and README counts;
 * the keys that docs/seed-cases.md says are unique are; plausible shares;
 * and the refusals and clean-up (an existing non-empty directory, a file,
 * a symbolic link, a missing parent, an interrupted run) that leave
 * nothing behind.  The ground truth itself is checked by
 * tests/node/test_sample_truth.c.
 */
#include "testsupport.h"

#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "coltype.h"
#include "sample.h"

static const char *const files[] = {
	"README.txt",
	"procuratorate/effective_judgments.csv", "procuratorate/deprivation_judgments.csv",
	"procuratorate/fuel_sales.csv", "procuratorate/invoice_issuers.csv",
	"medical-insurance/claims.csv", "medical-insurance/insured_employers.csv",
	"civil-affairs/death_registry.csv", "detention-centre/detention_register.csv",
	"public-security/population_register.csv", "public-security/supervision_list.csv",
	"tax/fuel_tax_filings.csv", "market-regulation/enterprise_registry.csv",
	"market-regulation/abnormal_operations.csv",
	"truth/deceased-claims.csv", "truth/detention-overdue.csv",
	"truth/rights-unsupervised.csv", "truth/fuel-tax.csv", "truth/shell-companies.csv",
};
#define NFILES (sizeof(files) / sizeof(files[0]))

static void
run(const char *dir, uint64_t size, uint64_t seed, const char *as_of,
    struct xz_sample_case_result *res)
{
	struct xz_sample_case_opts o = { .size = size, .seed = seed, .as_of = as_of };
	struct xz_diag d;

	if (xz_sample_case_write(dir, &o, res, &d) != 0)
		fail_msg("sample case: %s", d.msg);
}

static void
hash_file(const char *dir, const char *rel, unsigned char md[32])
{
	char *p = xzt_path(dir, rel), *text;
	size_t len;

	text = xzt_read_file(p, &len);
	crypto_hash_sha256(md, (const unsigned char *)text, len);
	free(text);
	free(p);
}

static size_t
count_entries(const char *dir)
{
	DIR *dp = opendir(dir);
	struct dirent *e;
	size_t n = 0;

	if (dp == NULL)
		return 0;
	while ((e = readdir(dp)) != NULL)
		n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
	closedir(dp);
	return n;
}

static void
test_deterministic(void **state)
{
	char *tmp = xzt_mkdtemp("case"), *a = xzt_path(tmp, "a"), *b = xzt_path(tmp, "b");
	char *c = xzt_path(tmp, "c"), *e = xzt_path(tmp, "e"), *f = xzt_path(tmp, "f");
	struct xz_sample_case_result ra, rb, rc;
	unsigned char ha[32], hb[32];

	(void)state;
	run(a, 2000, 42, "2026-11-30", &ra);
	run(b, 2000, 42, "2026-11-30", &rb);
	for (size_t i = 0; i < NFILES; i++) {
		hash_file(a, files[i], ha);
		hash_file(b, files[i], hb);
		if (memcmp(ha, hb, 32) != 0)
			fail_msg("%s differs between two runs with the same options", files[i]);
	}
	/* another seed, size or as-of date: every file changes */
	run(c, 2000, 43, "2026-11-30", &rc);
	run(e, 2005, 42, "2026-11-30", &rc);	/* 401 companies, not 400 */
	run(f, 2000, 42, "2026-12-01", &rc);
	for (size_t i = 1; i < NFILES; i++) {
		const char *other[3] = { c, e, f };

		hash_file(a, files[i], ha);
		for (int k = 0; k < 3; k++) {
			/* the one dataset without a date does not move with as-of */
			if (k == 2 && strstr(files[i], "insured_employers") != NULL)
				continue;
			hash_file(other[k], files[i], hb);
			if (memcmp(ha, hb, 32) == 0)
				fail_msg("%s is the same for different options (%d)", files[i], k);
		}
	}
	xzt_rmtree(tmp);
	free(a);
	free(b);
	free(c);
	free(e);
	free(f);
	free(tmp);
}

/* Lines of a file (each ends in LF or CRLF). */
static size_t
lines_of(const char *dir, const char *rel)
{
	char *p = xzt_path(dir, rel), *text;
	size_t len, n = 0;

	text = xzt_read_file(p, &len);
	for (size_t i = 0; i < len; i++)
		n += text[i] == '\n';
	assert_true(len == 0 || text[len - 1] == '\n');
	free(text);
	free(p);
	return n;
}

static void
test_layout_and_counts(void **state)
{
	char *tmp = xzt_mkdtemp("case"), *dir = xzt_path(tmp, "out");
	struct xz_sample_case_result res;
	char *readme, *p, line[256];
	size_t len;
	struct stat st;

	(void)state;
	/* an existing empty directory is fine */
	assert_int_equal(mkdir(dir, 0755), 0);
	run(dir, 1000, 1, XZ_SAMPLE_CASE_DEFAULT_AS_OF, &res);
	assert_int_equal(stat(dir, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
	assert_int_equal(count_entries(tmp), 1);	/* no DIR.tmp-* left */
	assert_int_equal(count_entries(dir), 9);	/* README + 7 nodes + truth */
	for (size_t i = 0; i < NFILES; i++) {
		p = xzt_path(dir, files[i]);
		assert_int_equal(stat(p, &st), 0);
		assert_int_equal(st.st_mode & 0777, 0600);
		free(p);
	}
	assert_int_equal(res.people, 1000);
	assert_int_equal(res.companies, 200);
	p = xzt_path(dir, "README.txt");
	readme = xzt_read_file(p, &len);
	free(p);
	assert_non_null(strstr(readme, "seed       1\n"));
	assert_non_null(strstr(readme, "size       1000 people, 200 companies\n"));
	assert_non_null(strstr(readme, "as-of      2026-11-30\n"));
	for (size_t i = 0; i < XZ_SAMPLE_CASE_DATASETS; i++) {
		assert_string_equal(res.datasets[i].path, files[i + 1]);
		assert_int_equal(lines_of(dir, res.datasets[i].path), res.datasets[i].rows + 1);
		assert_true(res.datasets[i].rows > 0);
		snprintf(line, sizeof(line), "%-44s %-8s %10llu\n", res.datasets[i].path,
		    res.datasets[i].encoding, (unsigned long long)res.datasets[i].rows);
		if (strstr(readme, line) == NULL)
			fail_msg("README.txt lacks '%s'", line);
	}
	for (size_t i = 0; i < XZ_SAMPLE_CASE_MODELS; i++) {
		assert_string_equal(res.models[i].path, files[i + 1 + XZ_SAMPLE_CASE_DATASETS]);
		assert_int_equal(lines_of(dir, res.models[i].path), res.models[i].leads + 1);
		assert_true(res.models[i].leads > 0);
		snprintf(line, sizeof(line), "%-44s %-8s %10llu\n", res.models[i].path, "UTF-8",
		    (unsigned long long)res.models[i].leads);
		if (strstr(readme, line) == NULL)
			fail_msg("README.txt lacks '%s'", line);
	}
	assert_non_null(strstr(readme, "xiezhi dataset import claims --dir NODEDIR --csv "
	    "medical-insurance/claims.csv --encoding gb18030 --key id_number:cn_id"));
	free(readme);
	xzt_rmtree(tmp);
	free(dir);
	free(tmp);
}

/* Every key of a file in stored form, one per row, with column col2
 * (0-based) appended when it is not 0 (for "one row per station and
 * month"). */
static char **
keys_of(const char *dir, const char *rel, int col2, size_t *n)
{
	char *p = xzt_path(dir, rel), *text, *line, *save = NULL, **v = NULL;
	size_t len, cap = 0;

	text = xzt_read_file(p, &len);
	*n = 0;
	strtok_r(text, "\r\n", &save);	/* header */
	while ((line = strtok_r(NULL, "\r\n", &save)) != NULL) {
		char *c1 = strchr(line, ','), *f = c1, *e;
		char key[128], norm[64];
		const char *why;
		size_t klen = (size_t)(c1 - line), outlen, pos;

		/* Keys are ASCII: the same bytes in UTF-8 and in GB18030. */
		assert_non_null(c1);
		assert_int_equal(xz_normalize(klen == 18 && line[0] == '9' && line[1] == '1' ?
		    XZ_COL_USCC : XZ_COL_CN_ID, line, klen, norm, sizeof(norm), &outlen, &why,
		    &pos), 0);
		for (int k = 1; col2 && k < col2; k++)
			assert_non_null(f = strchr(f + 1, ','));
		e = strchr(f + 1, ',');
		if (col2)
			snprintf(key, sizeof(key), "%s|%.*s", norm,
			    (int)(e ? (size_t)(e - f - 1) : strlen(f + 1)), f + 1);
		else
			snprintf(key, sizeof(key), "%s", norm);
		if (*n == cap) {
			cap = cap ? cap * 2 : 256;
			v = realloc(v, cap * sizeof(*v));
			assert_non_null(v);
		}
		v[(*n)++] = strdup(key);
	}
	free(text);
	free(p);
	return v;
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Number of keys that occur more than once. */
static size_t
repeats(const char *dir, const char *rel, int col2)
{
	size_t n, dup = 0;
	char **v = keys_of(dir, rel, col2, &n);

	qsort(v, n, sizeof(*v), cmp_str);
	for (size_t i = 1; i < n; i++)
		dup += strcmp(v[i - 1], v[i]) == 0;
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
	return dup;
}

static void
test_keys_and_shares(void **state)
{
	char *tmp = xzt_mkdtemp("case"), *dir = xzt_path(tmp, "out");
	struct xz_sample_case_result res;
	static const char *const unique[] = {
		"medical-insurance/insured_employers.csv", "civil-affairs/death_registry.csv",
		"public-security/population_register.csv", "public-security/supervision_list.csv",
		"market-regulation/enterprise_registry.csv",
		"market-regulation/abnormal_operations.csv", "procuratorate/invoice_issuers.csv",
	};
	static const char *const repeated[] = {
		"medical-insurance/claims.csv", "procuratorate/effective_judgments.csv",
		"procuratorate/deprivation_judgments.csv", "procuratorate/fuel_sales.csv",
		"tax/fuel_tax_filings.csv",
	};

	(void)state;
	run(dir, XZ_SAMPLE_CASE_DEFAULT_SIZE, 1, XZ_SAMPLE_CASE_DEFAULT_AS_OF, &res);
	for (size_t i = 0; i < sizeof(unique) / sizeof(unique[0]); i++)
		if (repeats(dir, unique[i], 0) != 0)
			fail_msg("%s repeats a key", unique[i]);
	assert_int_equal(repeats(dir, "detention-centre/detention_register.csv", 0), 0);
	for (size_t i = 0; i < sizeof(repeated) / sizeof(repeated[0]); i++)
		if (repeats(dir, repeated[i], 0) == 0)
			fail_msg("%s has no repeated key", repeated[i]);
	/* one filing and one sales figure per station and month */
	assert_int_equal(repeats(dir, "procuratorate/fuel_sales.csv", 2), 0);
	assert_int_equal(repeats(dir, "tax/fuel_tax_filings.csv", 1), 0);
	/* shares: deaths about 5 %, claims about 1.4 per person, most people
	 * registered, tens to a few hundred leads per model */
	assert_in_range(res.datasets[6].rows, 450, 550);
	assert_in_range(res.datasets[4].rows, 10000, 18000);
	assert_in_range(res.datasets[8].rows, 8800, 9600);
	for (size_t i = 0; i < XZ_SAMPLE_CASE_MODELS; i++)
		assert_in_range(res.models[i].leads, 20, 300);
	xzt_rmtree(tmp);
	free(dir);
	free(tmp);
}

static void
test_scales_with_size(void **state)
{
	char *tmp = xzt_mkdtemp("case"), *a = xzt_path(tmp, "a"), *b = xzt_path(tmp, "b");
	struct xz_sample_case_result small, big;

	(void)state;
	run(a, 1000, 3, XZ_SAMPLE_CASE_DEFAULT_AS_OF, &small);
	run(b, 20000, 3, XZ_SAMPLE_CASE_DEFAULT_AS_OF, &big);
	for (size_t i = 0; i < XZ_SAMPLE_CASE_DATASETS; i++) {
		double ratio = (double)big.datasets[i].rows / (double)small.datasets[i].rows;

		if (ratio < 8 || ratio > 40)
			fail_msg("%s: %llu rows at 1000 people, %llu at 20000",
			    small.datasets[i].path, (unsigned long long)small.datasets[i].rows,
			    (unsigned long long)big.datasets[i].rows);
	}
	/* the planted leads are fixed shares: exactly 30 in 10000 people */
	assert_int_equal(big.models[1].leads, 60);
	assert_int_equal(big.models[2].leads, 60);
	assert_int_equal(big.models[4].leads, 60);
	xzt_rmtree(tmp);
	free(a);
	free(b);
	free(tmp);
}

static void
expect_refusal(const char *dir, uint64_t size, const char *as_of, const char *needle)
{
	struct xz_sample_case_opts o = { .size = size, .seed = 1, .as_of = as_of };
	struct xz_sample_case_result res;
	struct xz_diag d = { "" };

	assert_int_equal(xz_sample_case_write(dir, &o, &res, &d), -1);
	if (strstr(d.msg, needle) == NULL)
		fail_msg("expected '%s' in '%s'", needle, d.msg);
}

static void
test_refusals(void **state)
{
	char *tmp = xzt_mkdtemp("case"), *full = xzt_path(tmp, "full");
	char *file = xzt_path(tmp, "file"), *link = xzt_path(tmp, "link");
	char *mine = xzt_path(full, "mine.txt"), *missing = xzt_path(tmp, "no/such/dir");
	char *text;
	size_t len;

	(void)state;
	assert_int_equal(mkdir(full, 0755), 0);
	xzt_write_file(mine, "keep me", 7);
	xzt_write_file(file, "x", 1);
	assert_int_equal(symlink(full, link), 0);
	expect_refusal(full, 1000, XZ_SAMPLE_CASE_DEFAULT_AS_OF, "is not empty (1 entry)");
	text = xzt_read_file(mine, &len);
	assert_int_equal(len, 7);	/* untouched */
	free(text);
	assert_int_equal(count_entries(full), 1);
	expect_refusal(file, 1000, XZ_SAMPLE_CASE_DEFAULT_AS_OF, "is not a directory");
	expect_refusal(link, 1000, XZ_SAMPLE_CASE_DEFAULT_AS_OF, "symbolic link");
	expect_refusal(missing, 1000, XZ_SAMPLE_CASE_DEFAULT_AS_OF, "must exist");
	expect_refusal(full, 999, XZ_SAMPLE_CASE_DEFAULT_AS_OF, "from 1000 to 10000000");
	expect_refusal(full, 10000001, XZ_SAMPLE_CASE_DEFAULT_AS_OF, "from 1000 to 10000000");
	expect_refusal(full, 1000, "2026-02-29", "calendar date");
	expect_refusal(full, 1000, "2026-11-30x", "calendar date");
	expect_refusal(full, 1000, "1999-12-31", "from 2000-01-01 to 2099-12-31");
	assert_int_equal(count_entries(tmp), 3);	/* full, file, link: nothing new */
	assert_int_equal(xz_sample_parse_as_of("2024-02-29", NULL), 0);
	assert_int_equal(xz_sample_parse_as_of("2023-02-29", NULL), -1);
	assert_int_equal(xz_sample_parse_as_of("2024-2-29", NULL), -1);
	xzt_rmtree(tmp);
	free(full);
	free(file);
	free(link);
	free(mine);
	free(missing);
	free(tmp);
}

static volatile sig_atomic_t stop_flag;

static void
stop_midway(void *arg, uint64_t done, uint64_t total)
{
	(void)arg;
	if (done > total / 3)
		stop_flag = 1;
}

/* A run stopped halfway (Ctrl-C in the CLI) removes everything. */
static void
test_interrupted_leaves_nothing(void **state)
{
	char *tmp = xzt_mkdtemp("case"), *dir = xzt_path(tmp, "out");
	struct xz_sample_case_opts o = {
		.size = 50000, .seed = 1, .as_of = XZ_SAMPLE_CASE_DEFAULT_AS_OF,
		.progress = stop_midway, .stop = &stop_flag,
	};
	struct xz_sample_case_result res;
	struct xz_diag d = { "" };

	(void)state;
	stop_flag = 0;
	assert_int_equal(xz_sample_case_write(dir, &o, &res, &d), -1);
	assert_int_equal(stop_flag, 1);
	assert_non_null(strstr(d.msg, "interrupted; nothing was written to"));
	assert_int_equal(count_entries(tmp), 0);
	xzt_rmtree(tmp);
	free(dir);
	free(tmp);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_deterministic),
		cmocka_unit_test(test_layout_and_counts),
		cmocka_unit_test(test_keys_and_shares),
		cmocka_unit_test(test_scales_with_size),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_interrupted_leaves_nothing),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
