/*
 * `xiezhi sample case` as an operator or a demo user runs it: the
 * federation it writes imports into seven real nodes (`xiezhi init`,
 * `xiezhi dataset import` with the column types and encodings of
 * docs/seed-cases.md, copied here from the spec) with no rejected row,
 * every row imported, and repeated keys exactly where the spec says keys
 * repeat; two runs give the same bytes; the refusals of bad options and
 * of a directory that is in use; and a full disk (the fault shim of
 * tests/fault/shim.c making write(2) fail with ENOSPC), a failing fsync
 * and Ctrl-C, after which nothing is left behind.
 */
#include "federation.h"

#include <dirent.h>
#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The datasets of docs/seed-cases.md: node, name, encoding, columns
 * (key first), and whether its keys repeat. */
static const struct spec_ds {
	const char *node, *name, *gb;
	const char *cols[6];
	int repeats;
} spec[] = {
	{ "medical-insurance", "claims", "gb18030", { "id_number:cn_id", "claim_no:text",
	  "name:text", "claim_date:date", "amount:decimal", "hospital:text" }, 1 },
	{ "medical-insurance", "insured_employers", NULL, { "uscc:uscc",
	  "insured_staff:int" }, 0 },
	{ "civil-affairs", "death_registry", NULL, { "id_number:cn_id", "name:text",
	  "date_of_death:date" }, 0 },
	{ "detention-centre", "detention_register", "gb18030", { "id_number:cn_id",
	  "name:text", "admission_date:date", "custody_type:text" }, 0 },
	{ "public-security", "population_register", NULL, { "id_number:cn_id", "name:text",
	  "police_station:text", "registered_address:text" }, 0 },
	{ "public-security", "supervision_list", NULL, { "id_number:cn_id",
	  "supervision_start:date" }, 0 },
	{ "tax", "fuel_tax_filings", NULL, { "uscc:uscc", "tax_period:text",
	  "declared_sales:decimal" }, 1 },
	{ "market-regulation", "enterprise_registry", NULL, { "uscc:uscc", "company_name:text",
	  "registration_date:date", "registered_capital:decimal" }, 0 },
	{ "market-regulation", "abnormal_operations", NULL, { "uscc:uscc", "listed_date:date",
	  "reason:text" }, 0 },
	{ "procuratorate", "effective_judgments", NULL, { "id_number:cn_id", "case_no:text",
	  "name:text", "sentence_type:text", "effective_date:date" }, 1 },
	{ "procuratorate", "deprivation_judgments", NULL, { "id_number:cn_id", "case_no:text",
	  "name:text", "deprivation_start:date", "deprivation_end:date" }, 1 },
	{ "procuratorate", "fuel_sales", NULL, { "uscc:uscc", "station_name:text",
	  "period:text", "sales_amount:decimal" }, 1 },
	{ "procuratorate", "invoice_issuers", NULL, { "uscc:uscc", "company_name:text",
	  "invoice_total:decimal", "first_invoice_date:date" }, 0 },
};
#define NSPEC (sizeof(spec) / sizeof(spec[0]))

static const char *const nodes[] = {
	"procuratorate", "medical-insurance", "civil-affairs", "detention-centre",
	"public-security", "tax", "market-regulation",
};

#define X(r, ...) xzf_runv((r), NULL, (const char *const[]){ __VA_ARGS__, NULL })

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

static size_t
lines(const char *s)
{
	size_t n = 0;

	for (; *s != '\0'; s++)
		n += *s == '\n';
	return n;
}

/* The row count README.txt gives for a file. */
static unsigned long long
readme_rows(const char *readme, const char *rel)
{
	const char *p = strstr(readme, rel);
	char enc[16];
	unsigned long long n;

	if (p == NULL)
		fail_msg("README.txt does not list %s", rel);
	if (sscanf(p + strlen(rel), " %15s %llu", enc, &n) != 2)
		fail_msg("README.txt: no row count for %s", rel);
	return n;
}

static unsigned long long
json_u64(const char *json, const char *field)
{
	char key[64];
	const char *p;

	snprintf(key, sizeof(key), "\"%s\": ", field);
	if ((p = strstr(json, key)) == NULL)
		fail_msg("no %s in %s", field, json);
	return strtoull(p + strlen(key), NULL, 10);
}

static void
test_generate_and_import(void **state)
{
	char *tmp = xzt_mkdtemp("samplecli"), *out = xzt_path(tmp, "case");
	char *readme_path = xzt_path(out, "README.txt"), *readme;
	struct xzt_run r;
	size_t len;

	(void)state;
	X(&r, "sample", "case", "--out", out, "--size", "1000", "--seed", "3");
	if (r.status != 0)
		fail_msg("sample case: %s", r.err);
	assert_non_null(strstr(r.out, "Wrote the seed-case federation to"));
	assert_non_null(strstr(r.out, "(seed 3, 1000 people, 200 companies, as of 2026-11-30)"));
	assert_non_null(strstr(r.out, "README.txt says how to import each dataset"));
	assert_int_equal(lines(r.out), 1 + 13 + 5 + 1);
	xzt_run_free(&r);
	readme = xzt_read_file(readme_path, &len);
	for (size_t i = 0; i < sizeof(nodes) / sizeof(nodes[0]); i++) {
		char *dir = xzt_path(tmp, nodes[i]);

		X(&r, "init", "--dir", dir, "--name", nodes[i]);
		xzf_must(&r, "init");
		free(dir);
	}
	for (size_t i = 0; i < NSPEC; i++) {
		const struct spec_ds *s = &spec[i];
		char rel[128], *csv, *dir = xzt_path(tmp, s->node);
		const char *argv[40] = { xzt_xiezhi_bin(), "dataset", "import", s->name, "--dir",
			dir, "--csv", NULL, "--key", s->cols[0], "--json" };
		size_t n = 11;
		unsigned long long rows;

		snprintf(rel, sizeof(rel), "%s/%s.csv", s->node, s->name);
		csv = xzt_path(out, rel);
		argv[7] = csv;
		if (s->gb != NULL) {
			argv[n++] = "--encoding";
			argv[n++] = s->gb;
		}
		for (size_t k = 1; k < 6 && s->cols[k] != NULL; k++) {
			argv[n++] = "--column";
			argv[n++] = s->cols[k];
		}
		argv[n] = NULL;
		xzt_run(&r, argv, NULL, NULL);
		if (r.status != 0)
			fail_msg("import %s: %s %s", rel, r.out, r.err);
		rows = readme_rows(readme, rel);
		assert_true(rows > 0);
		assert_non_null(strstr(r.out, "\"committed\": true"));
		if (json_u64(r.out, "rows_rejected") != 0 || json_u64(r.out, "rows_imported") != rows)
			fail_msg("import %s: %s (README.txt: %llu rows)", rel, r.out, rows);
		if ((json_u64(r.out, "duplicates") > 0) != s->repeats)
			fail_msg("import %s: duplicates %llu, the spec says keys %s", rel,
			    json_u64(r.out, "duplicates"), s->repeats ? "repeat" : "do not repeat");
		xzt_run_free(&r);
		free(csv);
		free(dir);
	}
	free(readme);
	free(readme_path);
	xzt_rmtree(tmp);
	free(out);
	free(tmp);
}

static void
test_same_options_same_bytes(void **state)
{
	char *tmp = xzt_mkdtemp("samplecli"), *a = xzt_path(tmp, "a"), *b = xzt_path(tmp, "b");
	char cmd[9000];
	struct xzt_run r;

	(void)state;
	X(&r, "sample", "case", "--out", a, "--size", "1500", "--seed", "11", "--as-of",
	    "2025-06-30");
	xzf_must(&r, "sample case a");
	X(&r, "sample", "case", "--out", b, "--size", "1500", "--seed", "11", "--as-of",
	    "2025-06-30");
	xzf_must(&r, "sample case b");
	/* same file list, same SHA-256 of every file */
	snprintf(cmd, sizeof(cmd), "cd '%s' && find . -type f | LC_ALL=C sort | xargs sha256sum "
	    "> ../a.sum && cd '%s' && find . -type f | LC_ALL=C sort | xargs sha256sum > "
	    "../b.sum && cmp -s ../a.sum ../b.sum && test $(wc -l < ../a.sum) -eq 19", a, b);
	assert_int_equal(system(cmd), 0);
	xzt_rmtree(tmp);
	free(a);
	free(b);
	free(tmp);
}

static void
expect(const char *const *args, int status, const char *needle)
{
	const char *argv[16] = { xzt_xiezhi_bin() };
	struct xzt_run r;
	size_t n = 1;

	for (; args[n - 1] != NULL; n++)
		argv[n] = args[n - 1];
	argv[n] = NULL;
	xzt_run(&r, argv, NULL, NULL);
	if (r.status != status || strstr(r.err, needle) == NULL)
		fail_msg("%s %s: exit %d (expected %d), stderr '%s' (expected '%s')", argv[1],
		    argv[2], r.status, status, r.err, needle);
	/* one line saying what is wrong (and, for usage errors, where help is) */
	assert_int_equal(lines(r.err), status == 2 ? 2 : 1);
	assert_string_equal(r.out, "");
	xzt_run_free(&r);
}
#define EXPECT(status, needle, ...) \
	expect((const char *const[]){ "sample", "case", __VA_ARGS__, NULL }, (status), (needle))

static void
test_refusals(void **state)
{
	char *tmp = xzt_mkdtemp("samplecli"), *busy = xzt_path(tmp, "busy");
	char *file = xzt_path(tmp, "file"), *mine = xzt_path(busy, "notes.txt");
	char *new = xzt_path(tmp, "new");
	struct xzt_run r;

	(void)state;
	assert_int_equal(mkdir(busy, 0700), 0);
	xzt_write_file(mine, "mine", 4);
	xzt_write_file(file, "x", 1);
	EXPECT(1, "is not empty (1 entry)", "--out", busy);
	EXPECT(1, "exists and is not a directory", "--out", file);
	EXPECT(2, "--size must be a whole number of people from 1000 to 10000000, not '999'",
	    "--out", new, "--size", "999");
	EXPECT(2, "not '10000001'", "--out", new, "--size", "10000001");
	EXPECT(2, "not '1e4'", "--out", new, "--size", "1e4");
	EXPECT(2, "not '-5'", "--out", new, "--size", "-5");
	EXPECT(2, "--as-of must be a calendar date written YYYY-MM-DD", "--out", new, "--as-of",
	    "2026-02-30");
	EXPECT(2, "not '2026/11/30'", "--out", new, "--as-of", "2026/11/30");
	EXPECT(2, "--as-of must be from 2000-01-01 to 2099-12-31", "--out", new, "--as-of",
	    "1999-12-31");
	EXPECT(2, "--seed must be a whole number", "--out", new, "--seed", "x");
	EXPECT(2, "sample case needs --out DIR", "--size", "1000");
	EXPECT(2, "unexpected argument 'extra'", "--out", new, "extra");
	assert_int_equal(count_entries(busy), 1);
	assert_int_equal(count_entries(tmp), 2);	/* busy, file: nothing new */
	X(&r, "sample", "case", "--help");
	assert_int_equal(r.status, 0);
	assert_non_null(strstr(r.out, "xiezhi sample case --out DIR"));
	assert_non_null(strstr(r.out, "--as-of DATE"));
	assert_non_null(strstr(r.out, "DIR/truth/<model>.csv"));
	xzt_run_free(&r);
	/* the people form still works */
	X(&r, "sample", "people", "--rows", "10", "--out", file);
	assert_int_equal(r.status, 1);
	assert_non_null(strstr(r.err, "File exists"));
	xzt_run_free(&r);
	xzt_rmtree(tmp);
	free(busy);
	free(file);
	free(mine);
	free(new);
	free(tmp);
}

/* build/node/xiezhi -> build/tests/fault/libxzfaultshim.so (both builds
 * lay out the tree the same way). */
static char *
shim_path(void)
{
	char *bin = strdup(xzt_xiezhi_bin()), *top, *p;
	struct stat st;

	assert_non_null(bin);
	top = dirname(dirname(bin));
	p = xzt_path(top, "tests/fault/libxzfaultshim.so");
	free(bin);
	if (stat(p, &st) != 0) {
		free(p);
		return NULL;
	}
	return p;
}

static void
disk_fault(const char *shim, const char *file, const char *op, const char *err,
    const char *needle)
{
	char *tmp = xzt_mkdtemp("samplecli"), *out = xzt_path(tmp, "case");
	char e[6][4400];
	const char *env[7], *asan = getenv("ASAN_OPTIONS");
	struct xzt_run r;

	snprintf(e[0], sizeof(e[0]), "LD_PRELOAD=%s", shim);
	snprintf(e[1], sizeof(e[1]), "XZ_FAULT_PATH=%s", file);
	snprintf(e[2], sizeof(e[2]), "XZ_FAULT_OP=%s", op);
	snprintf(e[3], sizeof(e[3]), "XZ_FAULT_AFTER=%d", 1);
	snprintf(e[4], sizeof(e[4]), "XZ_FAULT_ERRNO=%s", err);
	/* under ASan the shim is preloaded ahead of libasan */
	snprintf(e[5], sizeof(e[5]), "ASAN_OPTIONS=%s%sverify_asan_link_order=0",
	    asan != NULL ? asan : "", asan != NULL && *asan != '\0' ? ":" : "");
	for (int i = 0; i < 6; i++)
		env[i] = e[i];
	env[6] = NULL;
	xzf_runv(&r, env, (const char *const[]){ "sample", "case", "--out", out, "--size",
	    "2000", NULL });
	if (r.status != 1 || strstr(r.err, needle) == NULL ||
	    strstr(r.err, "nothing was written to") == NULL)
		fail_msg("%s failing on %s: exit %d, '%s'", op, file, r.status, r.err);
	assert_int_equal(lines(r.err), 1);
	assert_int_equal(count_entries(tmp), 0);	/* no DIR, no DIR.tmp-* */
	xzt_run_free(&r);
	xzt_rmtree(tmp);
	free(out);
	free(tmp);
}

static void
test_disk_full_leaves_nothing(void **state)
{
	char *shim = shim_path();

	(void)state;
	if (shim == NULL)
		skip();	/* the shim is built with the tests; absent only in odd builds */
	disk_fault(shim, "medical-insurance/claims.csv", "write", "ENOSPC",
	    "cannot write");
	disk_fault(shim, "medical-insurance/claims.csv", "write", "ENOSPC",
	    "No space left on device");
	disk_fault(shim, "truth/fuel-tax.csv", "fsync", "EIO", "Input/output error");
	disk_fault(shim, "README.txt", "write", "EDQUOT", "quota");
	free(shim);
}

/* Ctrl-C halfway through a large run: it stops, says so, removes all. */
static void
test_interrupt_leaves_nothing(void **state)
{
	char *tmp = xzt_mkdtemp("samplecli"), *out = xzt_path(tmp, "case");
	char *so = xzt_path(tmp, "..so"), *se = xzt_path(tmp, "..se"), *err;
	const char *argv[] = { xzt_xiezhi_bin(), "sample", "case", "--out", out, "--size",
		"10000000", NULL };
	pid_t pid;
	int status;
	size_t len;

	(void)state;
	pid = xzf_spawn(argv, NULL, so, se);
	usleep(400 * 1000);
	kill(pid, SIGINT);
	status = xzf_wait_child(pid, 60000);
	err = xzt_read_file(se, &len);
	if (status != 1 || strstr(err, "interrupted; nothing was written to") == NULL)
		fail_msg("after SIGINT: exit %d, '%s'", status, err);
	unlink(so);
	unlink(se);
	assert_int_equal(count_entries(tmp), 0);
	free(err);
	xzt_rmtree(tmp);
	free(so);
	free(se);
	free(out);
	free(tmp);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_generate_and_import),
		cmocka_unit_test(test_same_options_same_bytes),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_disk_full_leaves_nothing),
		cmocka_unit_test(test_interrupt_leaves_nothing),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
