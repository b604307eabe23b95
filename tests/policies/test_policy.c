/*
 * Policy files: every example parses and survives print -> parse; each kind
 * of broken file is refused with the right file, line and key.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "testsupport.h"

#include <sys/stat.h>
#include "policy.h"

/* A valid policy; broken cases below replace one line of it. */
static const char *const good_lines[] = {
	"id: test-policy",						/* 1 */
	"version: 3",							/* 2 */
	"purpose: Find claims by deceased persons",			/* 3 */
	"legal_basis: Criminal Procedure Law, art. 8",			/* 4 */
	"requester: procuratorate.example.gov.cn",			/* 5 */
	"dataset: death_registry",					/* 6 */
	"key_column: id_number",					/* 7 */
	"modes: [intersect, cardinality]",				/* 8 */
	"labels: [date_of_death]",					/* 9 */
	"query_size: {min: 10, max: 1000}",				/* 10 */
	"budget:",							/* 11 */
	"  joins_per_day: 4",						/* 12 */
	"  elements_per_30_days: 10000",				/* 13 */
	"valid:",							/* 14 */
	"  from: 2026-01-01T00:00:00Z",					/* 15 */
	"  until: 2027-01-01T00:00:00Z",				/* 16 */
	"approvals:",							/* 17 */
	"  threshold: 2",						/* 18 */
	"  approvers:",							/* 19 */
	"    - id: leader",						/* 20 */
	"      role: Deputy chief procurator",				/* 21 */
	"      public_key: ktV70v4YG/CPLdMdGPtCX/HqGM2wuwnvNCpHkjlo1wM=",	/* 22 */
	"    - id: officer",						/* 23 */
	"      role: Data officer",					/* 24 */
	"      public_key: T8AARrGFL3L+z3eSp1tfcOwhKikEVeInk3/rike+zUA=",	/* 25 */
	"padding_bound: 100",						/* 26 */
	NULL
};

/* The good policy with lines line..through (1-based) replaced by repl
 * (NULL: dropped; repl may hold several lines). */
static char *
variant_range(int line, int through, const char *repl)
{
	size_t cap = 8192, len = 0;
	char *buf = malloc(cap);

	assert_non_null(buf);
	buf[0] = '\0';
	for (int i = 0; good_lines[i] != NULL; i++) {
		const char *l = good_lines[i];
		if (i + 1 > line && i + 1 <= through)
			continue;
		if (i + 1 == line)
			l = repl;
		if (l == NULL)
			continue;
		len += (size_t)snprintf(buf + len, cap - len, "%s\n", l);
		assert_true(len < cap);
	}
	return buf;
}

static char *
variant(int line, const char *repl)
{
	return variant_range(line, line, repl);
}

static void
test_good_policy_parses(void **state)
{
	struct xz_policy p;
	struct xz_perror e;
	char *y = variant(0, NULL);

	(void)state;
	assert_int_equal(xz_policy_parse("good.yaml", y, strlen(y), &p, &e), 0);
	assert_string_equal(p.id, "test-policy");
	assert_int_equal(p.version, 3);
	assert_int_equal(p.modes, XZ_MODE_BIT(XZ_MODE_INTERSECT) |
	    XZ_MODE_BIT(XZ_MODE_CARDINALITY));
	assert_int_equal(p.n_labels, 1);
	assert_string_equal(p.labels[0], "date_of_death");
	assert_int_equal(p.min_query_size, 10);
	assert_int_equal(p.max_query_size, 1000);
	assert_int_equal(p.joins_per_day, 4);
	assert_int_equal(p.elements_per_30_days, 10000);
	assert_int_equal(p.valid_from, 1767225600);	/* 2026-01-01T00:00:00Z */
	assert_int_equal(p.valid_until, 1798761600);	/* 2027-01-01T00:00:00Z */
	assert_int_equal(p.threshold, 2);
	assert_int_equal(p.n_approvers, 2);
	assert_string_equal(p.approvers[1].id, "officer");
	assert_int_equal(p.padding_bound, 100);
	free(y);
}

struct broken {
	const char *what;
	int line;		/* lines of good_lines to replace: line.. */
	int through;		/* ..through (0: just line) */
	const char *repl;
	unsigned long err_line;	/* expected error line */
	const char *err_key;	/* expected key path */
	const char *err_msg;	/* expected message fragment */
};

static const struct broken broken[] = {
	{ "unknown key", 26, 0, "padding_bonud: 100", 26, "padding_bonud", "unknown key" },
	{ "unknown nested key", 12, 0, "  joins_per_week: 4", 12, "budget.joins_per_week",
	  "unknown key" },
	{ "bad type: text for integer", 2, 0, "version: one", 2, "version",
	  "expected an unsigned integer" },
	{ "bad type: quoted integer", 2, 0, "version: \"3\"", 2, "version",
	  "quoted string" },
	{ "bad type: scalar for list", 8, 0, "modes: intersect", 8, "modes",
	  "expected a list" },
	{ "bad type: list for text", 3, 0, "purpose: [a, b]", 3, "purpose",
	  "expected a single value" },
	{ "missing approvers", 19, 25, NULL, 18, "approvals.approvers",
	  "missing required key" },
	{ "missing field", 7, 0, NULL, 1, "key_column", "missing required key" },
	{ "bad public key: base64", 22, 0, "      public_key: ktV70v4YG/CPLdMdGPtCX/HqGM2wuwnvNCpHkjlo1w!=", 22,
	  "approvals.approvers[0].public_key", "not valid base64" },
	{ "bad public key: short", 22, 0, "      public_key: AAAA", 22,
	  "approvals.approvers[0].public_key", "44 characters" },
	{ "bad public key: small order", 25, 0,
	  "      public_key: AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", 25,
	  "approvals.approvers[1].public_key", "not a valid Ed25519 public key" },
	{ "bad public key: identity point", 25, 0,
	  "      public_key: AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", 25,
	  "approvals.approvers[1].public_key", "not a valid Ed25519 public key" },
	{ "min > max", 10, 0, "query_size: {min: 5000, max: 1000}", 10,
	  "query_size.min", "larger than max" },
	{ "threshold above approvers", 18, 0, "  threshold: 3", 18,
	  "approvals.threshold", "more than the 2 approvers" },
	{ "duplicate key", 26, 0, "id: again", 26, "id", "given twice" },
	{ "unknown mode", 8, 0, "modes: [intersect, union]", 8, "modes[1]",
	  "unknown mode" },
	{ "duplicate mode", 8, 0, "modes: [intersect, intersect]", 8, "modes[1]",
	  "listed twice" },
	{ "label is key column", 9, 0, "labels: [id_number]", 9, "labels[0]",
	  "key column" },
	{ "bad name", 6, 0, "dataset: death registry", 6, "dataset",
	  "only letters" },
	{ "requester with space", 5, 0, "requester: spp example", 5, "requester",
	  "printable ASCII" },
	{ "window reversed", 16, 0, "  until: 2025-01-01T00:00:00Z", 16,
	  "valid.until", "later than valid.from" },
	{ "bad time", 15, 0, "  from: 2026-02-30T00:00:00Z", 15, "valid.from",
	  "UTC time" },
	{ "time with offset", 15, 0, "  from: 2026-01-01T00:00:00+08:00", 15,
	  "valid.from", "UTC time" },
	{ "bidi override", 3, 0, "purpose: \"abc\\u202Edef\"", 3, "purpose",
	  "bidirectional" },
	{ "control char", 3, 0, "purpose: \"abc\\u001Bdef\"", 3, "purpose",
	  "control character" },
	{ "NUL in text", 3, 0, "purpose: \"abc\\0def\"", 3, "purpose", "NUL" },
	{ "alias", 4, 0, "legal_basis: *x", 4, "", "aliases" },
	{ "two documents", 26, 0, "---\nid: x", 26, "", "more than one" },
	{ "not yaml", 10, 0, "query_size: {min: 10, max: 1000", 11, "", "not valid YAML" },
	{ "budget below min", 13, 0, "  elements_per_30_days: 5", 13,
	  "budget.elements_per_30_days", "could ever be allowed" },
	{ "padding zero", 26, 0, "padding_bound: 0", 26, "padding_bound",
	  "between 1 and" },
	{ "zero version", 2, 0, "version: 0", 2, "version", "between 1 and" },
	{ "duplicate approver key", 25, 0,
	  "      public_key: ktV70v4YG/CPLdMdGPtCX/HqGM2wuwnvNCpHkjlo1wM=", 23,
	  "approvals.approvers[1]", "same public key" },
	{ "root is a list", 1, 26, "- a\n- b", 1, "", "expected a mapping" },
};

static void
test_broken_policies(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(broken) / sizeof(broken[0]); i++) {
		const struct broken *b = &broken[i];
		struct xz_policy p;
		struct xz_perror e;
		char *y = variant_range(b->line, b->through ? b->through : b->line,
		    b->repl);
		char msg[1024];

		memset(&e, 0, sizeof(e));
		memset(&p, 0xa5, sizeof(p));
		int rc = xz_policy_parse("broken.yaml", y, strlen(y), &p, &e);
		xz_perror_format(&e, msg, sizeof(msg));
		print_message("%-32s -> %s\n", b->what, msg);
		assert_int_equal(rc, -1);
		assert_string_equal(e.file, "broken.yaml");
		assert_int_equal(e.line, b->err_line);
		assert_string_equal(e.key, b->err_key);
		assert_non_null(strstr(e.msg, b->err_msg));
		/* A refused policy is never half-filled. */
		assert_int_equal(p.id[0], '\0');
		free(y);
	}
}

static void
test_empty_approvers_list(void **state)
{
	struct xz_policy p;
	struct xz_perror e;
	(void)state;
	const char *text =
	    "id: t\nversion: 1\npurpose: p\nlegal_basis: l\nrequester: r.example\n"
	    "dataset: d\nkey_column: k\nmodes: [intersect]\nlabels: []\n"
	    "query_size: {min: 1, max: 2}\nbudget: {joins_per_day: 1, "
	    "elements_per_30_days: 10}\nvalid: {from: 2026-01-01T00:00:00Z, "
	    "until: 2027-01-01T00:00:00Z}\napprovals:\n  threshold: 1\n"
	    "  approvers: []\n";
	assert_int_equal(xz_policy_parse("e.yaml", text, strlen(text), &p, &e), -1);
	assert_int_equal(e.line, 15);
	assert_string_equal(e.key, "approvals.approvers");
	assert_non_null(strstr(e.msg, "at least 1"));
}

static void
round_trip(const char *path)
{
	struct xz_policy a, b;
	struct xz_perror e;
	char *text = NULL, *text2 = NULL;
	char msg[1024];

	if (xz_policy_load(path, &a, &e) != 0) {
		xz_perror_format(&e, msg, sizeof(msg));
		fail_msg("%s", msg);
	}
	assert_int_equal(xz_policy_print(&a, &text, &e), 0);
	if (xz_policy_parse("printed", text, strlen(text), &b, &e) != 0) {
		xz_perror_format(&e, msg, sizeof(msg));
		fail_msg("reparse of %s: %s\n%s", path, msg, text);
	}
	assert_true(xz_policy_equal(&a, &b));
	/* Normalised means a fixed point: printing again gives the same text. */
	assert_int_equal(xz_policy_print(&b, &text2, &e), 0);
	assert_string_equal(text, text2);
	free(text);
	free(text2);
}

static void
test_examples_round_trip(void **state)
{
	char dir[4096];
	DIR *d;
	struct dirent *de;
	int n = 0;

	(void)state;
	snprintf(dir, sizeof(dir), "%s/policies/examples", xzt_source_dir());
	assert_non_null(d = opendir(dir));
	while ((de = readdir(d)) != NULL) {
		size_t l = strlen(de->d_name);
		if (l < 6 || strcmp(de->d_name + l - 5, ".yaml") != 0)
			continue;
		char *p = xzt_path(dir, de->d_name);
		round_trip(p);
		free(p);
		n++;
	}
	closedir(d);
	assert_true(n >= 5);
}

/* Text with quotes, backslashes, newlines, tabs, colons and CJK survives. */
static void
test_round_trip_awkward_text(void **state)
{
	char *y = variant(3, "purpose: \"引号 \\\"quoted\\\" back\\\\slash: #hash\\n"
	    "second line\\tTab - [x]\"");
	struct xz_policy a, b;
	struct xz_perror e;
	char *text = NULL;

	(void)state;
	assert_int_equal(xz_policy_parse("t.yaml", y, strlen(y), &a, &e), 0);
	assert_string_equal(a.purpose, "引号 \"quoted\" back\\slash: #hash\n"
	    "second line\tTab - [x]");
	assert_int_equal(xz_policy_print(&a, &text, &e), 0);
	assert_int_equal(xz_policy_parse("p.yaml", text, strlen(text), &b, &e), 0);
	assert_true(xz_policy_equal(&a, &b));
	b.modes = 0;
	assert_false(xz_policy_equal(&a, &b));
	free(text);
	free(y);
}

struct time_case {
	const char *s;
	int ok;
	int64_t t;
};

static void
test_times(void **state)
{
	static const struct time_case cases[] = {
		{ "1970-01-01T00:00:00Z", 1, 0 },
		{ "2000-02-29T12:34:56Z", 1, 951827696 },
		{ "2026-11-25T14:33:24Z", 1, 1795617204 },
		{ "9999-12-31T23:59:59Z", 1, 253402300799LL },
		{ "1900-02-29T00:00:00Z", 0, 0 },
		{ "2100-02-29T00:00:00Z", 0, 0 },
		{ "2026-13-01T00:00:00Z", 0, 0 },
		{ "2026-01-01T24:00:00Z", 0, 0 },
		{ "2026-01-01T00:00:60Z", 0, 0 },
		{ "2026-01-01 00:00:00Z", 0, 0 },
		{ "2026-01-01T00:00:00", 0, 0 },
		{ "2026-01-01T00:00:00z", 0, 0 },
		{ "+026-01-01T00:00:00Z", 0, 0 },
		{ "1969-12-31T23:59:59Z", 0, 0 },
	};
	char buf[32];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int64_t t = -1;
		int rc = xz_time_parse(cases[i].s, &t);
		assert_int_equal(rc, cases[i].ok ? 0 : -1);
		if (!cases[i].ok)
			continue;
		assert_int_equal(t, cases[i].t);
		assert_int_equal(xz_time_format(t, buf, sizeof(buf)), 0);
		assert_string_equal(buf, cases[i].s);
	}
}

static void
test_key_base64(void **state)
{
	unsigned char pk[32], sk[64], got[32];
	char b64[64];
	const char *why;

	(void)state;
	crypto_sign_keypair(pk, sk);
	xz_key_to_base64(pk, b64, sizeof(b64));
	assert_int_equal(strlen(b64), 44);
	assert_int_equal(xz_key_from_base64(b64, got, &why), 0);
	assert_memory_equal(pk, got, 32);
	/* Non-canonical: the last character carries two unused bits. */
	char alt[64];
	memcpy(alt, b64, sizeof(alt));
	alt[42] = alt[42] == 'A' ? 'B' : 'A';
	if (xz_key_from_base64(alt, got, &why) == 0)
		assert_memory_not_equal(pk, got, 32);
	/* A point that is not on the curve: y = 2 has no x. */
	unsigned char bad[32] = { 2 };
	xz_key_to_base64(bad, b64, sizeof(b64));
	assert_int_equal(xz_key_from_base64(b64, got, &why), -1);
}

static void
test_load_dir(void **state)
{
	char dir[4096];
	struct xz_policy *ps = NULL;
	size_t n = 0;
	struct xz_perror e;

	(void)state;
	/* A node's policy directory: a private copy of the examples, so the
	 * checkout's file modes do not matter. */
	char *copy = xzt_mkdtemp("policy-examples");
	static const char *const examples[] = {
		"deceased-claims-medical-insurance.yaml", "detention-overdue.yaml",
		"fuel-tax.yaml", "rights-unsupervised-population.yaml",
		"shell-companies-registry.yaml",
	};
	for (size_t i = 0; i < sizeof(examples) / sizeof(examples[0]); i++) {
		size_t len;
		snprintf(dir, sizeof(dir), "%s/policies/examples/%s", xzt_source_dir(),
		    examples[i]);
		char *text = xzt_read_file(dir, &len), *to = xzt_path(copy, examples[i]);
		assert_non_null(text);
		xzt_write_file(to, text, len);
		assert_int_equal(chmod(to, 0644), 0);
		free(text);
		free(to);
	}
	assert_int_equal(xz_policy_load_dir(copy, &ps, &n, &e), 0);
	assert_int_equal(n, 5);
	/* Name order: deceased-... comes first. */
	assert_string_equal(ps[0].id, "deceased-claims-medical-insurance");
	free(ps);
	/* A policy others may write is refused, with the fix in the message. */
	char *fuel = xzt_path(copy, "fuel-tax.yaml");
	assert_int_equal(chmod(fuel, 0664), 0);
	assert_int_equal(xz_policy_load_dir(copy, &ps, &n, &e), -1);
	assert_non_null(strstr(e.msg, "chmod go-w"));
	free(fuel);
	xzt_rmtree(copy);
	free(copy);

	/* The same id and version in two files is refused, naming both. */
	char *tmp = xzt_mkdtemp("policy-dir");
	char *a = xzt_path(tmp, "a.yaml"), *b = xzt_path(tmp, "b.yaml");
	char *y = variant(0, NULL);
	xzt_write_file(a, y, strlen(y));
	xzt_write_file(b, y, strlen(y));
	assert_int_equal(xz_policy_load_dir(tmp, &ps, &n, &e), -1);
	assert_string_equal(e.file, b);
	assert_non_null(strstr(e.msg, "also defined in a.yaml"));
	free(y);
	free(a);
	free(b);
	xzt_rmtree(tmp);
	free(tmp);
}

/*
 * Hostile-input smoke test: every single-byte substitution of a valid
 * policy either parses to a policy or fails with a located error; never a
 * crash, leak or sanitizer report (the suite runs under ASan/UBSan too).
 */
static void
test_mutations_never_crash(void **state)
{
	static const char subst[] = { '\0', ':', '-', '[', '{', '"', '*', '&', '!',
	    '\n', ' ', '9', '\xff' };
	char *y = variant(0, NULL);
	size_t len = strlen(y), ok = 0, bad = 0;
	struct xz_policy p;
	struct xz_perror e;

	(void)state;
	for (size_t i = 0; i < len; i++) {
		char orig = y[i];
		for (size_t k = 0; k < sizeof(subst); k++) {
			y[i] = subst[k];
			memset(&e, 0, sizeof(e));
			if (xz_policy_parse("m.yaml", y, len, &p, &e) == 0) {
				ok++;
			} else {
				bad++;
				assert_string_equal(e.file, "m.yaml");
				assert_true(e.msg[0] != '\0');
			}
		}
		y[i] = orig;
	}
	print_message("%zu mutants parsed, %zu refused\n", ok, bad);
	assert_true(bad > 0 && ok > 0);
	free(y);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good_policy_parses),
		cmocka_unit_test(test_broken_policies),
		cmocka_unit_test(test_empty_approvers_list),
		cmocka_unit_test(test_examples_round_trip),
		cmocka_unit_test(test_round_trip_awkward_text),
		cmocka_unit_test(test_times),
		cmocka_unit_test(test_key_base64),
		cmocka_unit_test(test_mutations_never_crash),
		cmocka_unit_test(test_load_dir),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
