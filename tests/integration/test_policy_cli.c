/*
 * The real xiezhi binary: policy check on every example and on broken
 * files (file:line:key in the message), keygen, and the request
 * create -> show -> approve -> decide round trip.
 */
#include "testsupport.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

struct fx {
	char *tmp;
};

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	f->tmp = xzt_mkdtemp("policy-cli");
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	xzt_rmtree(f->tmp);
	free(f->tmp);
	free(f);
	return 0;
}

/* Runs xiezhi with up to 30 arguments (NULL-terminated). */
static void
run(struct xzt_run *r, const char *a0, ...)
{
	const char *argv[32];
	va_list ap;
	int n = 0;

	argv[n++] = xzt_xiezhi_bin();
	va_start(ap, a0);
	for (const char *a = a0; a != NULL && n < 31; a = va_arg(ap, const char *))
		argv[n++] = a;
	va_end(ap);
	argv[n] = NULL;
	xzt_run(r, argv, NULL, NULL);
}

static void
test_examples_check(void **state)
{
	char dir[4096], id_line[256];
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
		struct xzt_run r;
		run(&r, "policy", "check", p, NULL);
		if (r.status != 0)
			fail_msg("%s: %s", p, r.err);
		snprintf(id_line, sizeof(id_line), "\nid: %.*s\n", (int)(l - 5),
		    de->d_name);
		assert_non_null(strstr(r.out, id_line));
		assert_non_null(strstr(r.out, "approvers:"));
		xzt_run_free(&r);
		free(p);
		n++;
	}
	closedir(d);
	assert_true(n >= 5);
}

/* The printed form is itself a valid policy that prints the same. */
static void
test_check_output_round_trips(void **state)
{
	struct fx *f = *state;
	char src[4096];
	struct xzt_run a, b;

	snprintf(src, sizeof(src), "%s/policies/examples/fuel-tax.yaml",
	    xzt_source_dir());
	run(&a, "policy", "check", src, NULL);
	assert_int_equal(a.status, 0);
	char *copy = xzt_path(f->tmp, "printed.yaml");
	xzt_write_file(copy, a.out, strlen(a.out));
	run(&b, "policy", "check", copy, NULL);
	assert_int_equal(b.status, 0);
	/* Identical after the first line, which names the file. */
	assert_string_equal(strchr(a.out, '\n'), strchr(b.out, '\n'));
	xzt_run_free(&a);
	xzt_run_free(&b);
	free(copy);
}

static const char good_policy[] =
    "id: t\n"							/* 1 */
    "version: 1\n"						/* 2 */
    "purpose: p\n"						/* 3 */
    "legal_basis: l\n"						/* 4 */
    "requester: procuratorate.example.gov.cn\n"			/* 5 */
    "dataset: death_registry\n"					/* 6 */
    "key_column: id_number\n"					/* 7 */
    "modes: [intersect]\n"					/* 8 */
    "labels: [date_of_death]\n"					/* 9 */
    "query_size:\n"						/* 10 */
    "  min: 10\n"						/* 11 */
    "  max: 1000\n"						/* 12 */
    "budget: {joins_per_day: 5, elements_per_30_days: 100000}\n"	/* 13 */
    "valid: {from: 2026-01-01T00:00:00Z, until: 2099-01-01T00:00:00Z}\n" /* 14 */
    "approvals:\n"						/* 15 */
    "  threshold: 2\n"						/* 16 */
    "  approvers:\n"						/* 17 */
    "  - id: leader\n"						/* 18 */
    "    role: Deputy chief procurator\n"			/* 19 */
    "    public_key: @LEADER@\n"	/* 20 */
    "  - id: officer\n"						/* 21 */
    "    role: Data officer\n"					/* 22 */
    "    public_key: @OFFICER@\n";	/* 23 */

/* s with the first `from` replaced by `to` (malloc'd; s is freed). */
static char *
replace(char *s, const char *from, const char *to)
{
	char *at = strstr(s, from), *out;
	size_t n;

	assert_non_null(at);
	n = strlen(s) - strlen(from) + strlen(to) + 1;
	out = malloc(n);
	assert_non_null(out);
	snprintf(out, n, "%.*s%s%s", (int)(at - s), s, to, at + strlen(from));
	free(s);
	return out;
}

/* good_policy with the two approvers' keys and one substitution. */
static char *
policy_text(const char *leader, const char *officer, const char *from,
    const char *to)
{
	char *s = strdup(good_policy);

	assert_non_null(s);
	s = replace(s, "@LEADER@", leader);
	s = replace(s, "@OFFICER@", officer);
	if (from != NULL)
		s = replace(s, from, to);
	return s;
}

#define KEY_A "ktV70v4YG/CPLdMdGPtCX/HqGM2wuwnvNCpHkjlo1wM="
#define KEY_B "T8AARrGFL3L+z3eSp1tfcOwhKikEVeInk3/rike+zUA="

struct broken_file {
	const char *name, *from, *to, *where;	/* where: "FILE:LINE: KEY:" tail */
};

static void
test_broken_files(void **state)
{
	static const struct broken_file cases[] = {
		{ "unknown-key.yaml", "labels:", "lables:", ":9: lables: unknown key" },
		{ "bad-type.yaml", "  max: 1000", "  max: lots",
		  ":12: query_size.max: expected an unsigned integer" },
		{ "misspelled-approvers.yaml", "  approvers:\n",
		  "  approver_list:\n", ":17: approvals.approver_list: unknown key" },
		{ "bad-public-key.yaml", KEY_B, "T8AARrGFL3L+z3eSp1tfcOwhKikEVeInk3/rike+zUA",
		  ":23: approvals.approvers[1].public_key: bad Ed25519 public key" },
		{ "min-gt-max.yaml", "  min: 10", "  min: 5000",
		  ":11: query_size.min: min (5000) is larger than max (1000)" },
	};
	struct fx *f = *state;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *text = policy_text(KEY_A, KEY_B, cases[i].from, cases[i].to);
		char *path = xzt_path(f->tmp, cases[i].name), want[4096];
		struct xzt_run r;

		xzt_write_file(path, text, strlen(text));
		run(&r, "policy", "check", path, NULL);
		print_message("%s", r.err);
		assert_int_equal(r.status, 1);
		snprintf(want, sizeof(want), "xiezhi: %s%s", path, cases[i].where);
		assert_non_null(strstr(r.err, want));
		assert_string_equal(r.out, "");
		xzt_run_free(&r);
		free(path);
		free(text);
	}
}

/* A policy without any approvers key at all: missing, named at its parent. */
static void
test_missing_approvers_key(void **state)
{
	struct fx *f = *state;
	char *text = policy_text(KEY_A, KEY_B, NULL, NULL), *path, want[4096];
	struct xzt_run r;

	*strstr(text, "  approvers:") = '\0';	/* cut everything from line 17 */
	path = xzt_path(f->tmp, "cut.yaml");
	xzt_write_file(path, text, strlen(text));
	run(&r, "policy", "check", path, NULL);
	snprintf(want, sizeof(want), "xiezhi: %s:16: approvals.approvers: missing "
	    "required key", path);
	assert_int_equal(r.status, 1);
	assert_non_null(strstr(r.err, want));
	xzt_run_free(&r);
	free(path);
	free(text);
}

static char *
read_pub(const char *dir, const char *name)
{
	char file[256];
	size_t len;

	snprintf(file, sizeof(file), "%s.pub", name);
	char *p = xzt_path(dir, file);
	char *s = xzt_read_file(p, &len);
	assert_int_equal(len, 45);
	s[44] = '\0';
	free(p);
	return s;
}

static void
keygen(struct fx *f, const char *name)
{
	struct xzt_run r;
	char *base = xzt_path(f->tmp, name);

	run(&r, "keygen", "--out", base, NULL);
	assert_int_equal(r.status, 0);
	assert_non_null(strstr(r.out, "public_key: "));
	xzt_run_free(&r);
	free(base);
}

static void
test_keygen(void **state)
{
	struct fx *f = *state;
	struct xzt_run r;
	struct stat st;
	char *base = xzt_path(f->tmp, "k"), *key = xzt_path(f->tmp, "k.key");

	keygen(f, "k");
	assert_int_equal(stat(key, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	char *pub = read_pub(f->tmp, "k");
	run(&r, "keygen", "--out", base, NULL);
	assert_int_equal(r.status, 1);
	assert_non_null(strstr(r.err, "refusing to overwrite"));
	xzt_run_free(&r);
	/* The old pair is untouched. */
	char *pub2 = read_pub(f->tmp, "k");
	assert_string_equal(pub, pub2);
	run(&r, "keygen", NULL);
	assert_int_equal(r.status, 2);
	xzt_run_free(&r);
	free(pub);
	free(pub2);
	free(base);
	free(key);
}

static void
test_request_round_trip(void **state)
{
	struct fx *f = *state;
	struct xzt_run r;

	keygen(f, "leader");
	keygen(f, "officer");
	char *la = read_pub(f->tmp, "leader"), *oa = read_pub(f->tmp, "officer");
	char *ptext = policy_text(la, oa, NULL, NULL);
	char *pol = xzt_path(f->tmp, "policy.yaml");
	char *req = xzt_path(f->tmp, "req.yaml");
	char *lk = xzt_path(f->tmp, "leader.key"), *ok = xzt_path(f->tmp, "officer.key");
	xzt_write_file(pol, ptext, strlen(ptext));

	run(&r, "request", "create", "--out", req, "--from-policy", pol,
	    "--responder", "civil-affairs.example.gov.cn", "--mode", "intersect",
	    "--label", "date_of_death", "--query-size", "500", "--case-number",
	    "JIAN-2026-0017", NULL);
	if (r.status != 0)
		fail_msg("create: %s", r.err);
	xzt_run_free(&r);
	/* A missing field is named by its option. */
	char *req2 = xzt_path(f->tmp, "req2.yaml");
	run(&r, "request", "create", "--out", req2, "--requester", "a.example",
	    "--responder", "b.example", "--policy", "t", "--policy-version", "1",
	    "--dataset", "d", "--mode", "intersect", "--query-size", "10",
	    "--case-number", "c", "--legal-basis", "l", NULL);
	assert_int_equal(r.status, 2);
	assert_non_null(strstr(r.err, "--purpose is required"));
	xzt_run_free(&r);
	free(req2);
	/* Never overwrites. */
	run(&r, "request", "create", "--out", req, "--from-policy", pol,
	    "--responder", "x.example", "--mode", "intersect", "--query-size", "500",
	    "--case-number", "c", NULL);
	assert_int_equal(r.status, 1);
	xzt_run_free(&r);

	run(&r, "request", "show", req, NULL);
	assert_int_equal(r.status, 0);
	assert_non_null(strstr(r.out, "procuratorate.example.gov.cn"));
	assert_non_null(strstr(r.out, "JIAN-2026-0017"));
	assert_non_null(strstr(r.out, "date_of_death"));
	assert_non_null(strstr(r.out, "(none yet)"));
	char digest[65];
	const char *dp = strstr(r.out, "digest (SHA-256):");
	assert_non_null(dp);
	assert_int_equal(sscanf(dp, "digest (SHA-256): %64s", digest), 1);
	xzt_run_free(&r);

	/* A wrong expected digest refuses to sign. */
	run(&r, "request", "approve", req, "--key", lk, "--digest",
	    "0000000000000000000000000000000000000000000000000000000000000000", NULL);
	assert_int_equal(r.status, 1);
	assert_non_null(strstr(r.err, "changed since you read it"));
	xzt_run_free(&r);
	run(&r, "request", "approve", req, "--key", lk, "--digest", digest, NULL);
	assert_int_equal(r.status, 0);
	xzt_run_free(&r);

	const char *decide[] = { "request", "decide", req, "--policy", pol, "--peer",
	    "procuratorate.example.gov.cn", "--self", "civil-affairs.example.gov.cn",
	    NULL };
	run(&r, decide[0], decide[1], decide[2], decide[3], decide[4], decide[5],
	    decide[6], decide[7], decide[8], NULL);
	assert_int_equal(r.status, 1);
	assert_non_null(strstr(r.out, "not_enough_approvals"));
	xzt_run_free(&r);

	run(&r, "request", "approve", req, "--key", ok, NULL);
	assert_int_equal(r.status, 0);
	xzt_run_free(&r);
	run(&r, "request", "show", req, "--policy", pol, NULL);
	assert_int_equal(r.status, 0);
	assert_non_null(strstr(r.out, "1. leader (Deputy chief procurator)"));
	assert_non_null(strstr(r.out, "2. officer (Data officer)"));
	assert_null(strstr(r.out, "BAD"));
	assert_non_null(strstr(r.out, "needs 2 approvals; 2 valid: enough"));
	xzt_run_free(&r);
	run(&r, decide[0], decide[1], decide[2], decide[3], decide[4], decide[5],
	    decide[6], decide[7], decide[8], NULL);
	assert_int_equal(r.status, 0);
	assert_non_null(strstr(r.out, "allow: "));
	xzt_run_free(&r);

	/* One changed byte after signing: "500" -> "501". */
	size_t len;
	char *text = xzt_read_file(req, &len);
	char *q = strstr(text, "query_size: 500");
	assert_non_null(q);
	q[strlen("query_size: 50")] = '1';
	xzt_write_file(req, text, len);
	run(&r, decide[0], decide[1], decide[2], decide[3], decide[4], decide[5],
	    decide[6], decide[7], decide[8], NULL);
	assert_int_equal(r.status, 1);
	assert_non_null(strstr(r.out, "bad_signature"));
	xzt_run_free(&r);
	run(&r, "request", "show", req, NULL);
	assert_non_null(strstr(r.out, "BAD SIGNATURE"));
	xzt_run_free(&r);

	free(text);
	free(la);
	free(oa);
	free(ptext);
	free(pol);
	free(req);
	free(lk);
	free(ok);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_examples_check),
		cmocka_unit_test_setup_teardown(test_check_output_round_trips, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_broken_files, setup, teardown),
		cmocka_unit_test_setup_teardown(test_missing_approvers_key, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_keygen, setup, teardown),
		cmocka_unit_test_setup_teardown(test_request_round_trip, setup,
		    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
