/*
 * Delegated (three-party) joins between real processes: two data owners
 * ("tax", holding claims, and "civil", holding deaths), each a real
 * xiezhid on 127.0.0.1 with its own policy, and a requester "proc" that
 * holds no data and runs `xiezhi join` with both owners' approved
 * requests.  The test checks the exact pairs the requester stores, that
 * refusals and oversized partners stop the join with nothing stored, and
 * that the three audit logs cross-check.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sodium.h>
#include <sqlite3.h>

#include "federation.h"
#include "node.h"

static struct {
	char *tmp;
	char tax[4200], proc[4200], civil[4200], log[4200], log2[4200];
	pid_t d_tax, d_civil;
} fx;

/* 12 claims of 8 people (two with several), 6 deaths; 3 of the dead have
 * claims (4 claims between them). */
static const char claims_csv[] =
    "code,claim_no,claim_date,hospital\n"
    "P001,C01,2025-01-10,第一医院\n"
    "P002,C02,2025-02-11,第二医院\n"
    "P001,C03,2025-03-12,第一医院\n"
    "P003,C04,2025-04-13,第三医院\n"
    "P004,C05,2025-05-14,第一医院\n"
    "P005,C06,2025-06-15,第二医院\n"
    "P006,C07,2025-07-16,第三医院\n"
    "P007,C08,2025-08-17,第一医院\n"
    "P008,C09,2025-09-18,第二医院\n"
    "P002,C10,2025-10-19,第二医院\n"
    "P009,C11,2025-11-20,第三医院\n"
    "P010,C12,2025-12-21,第一医院\n";
static const char deaths_csv[] =
    "code,date_of_death,place\n"
    "P001,2024-12-01,甲市\n"
    "P004,2025-06-01,乙市\n"
    "P006,2025-01-01,丙市\n"
    "P100,2023-03-03,丁市\n"
    "P101,2022-02-02,甲市\n"
    "P102,2021-01-01,乙市\n";

/* Sorted code|claim_no|claim_date|date_of_death of the expected pairs. */
static const char expected[] =
    "P001|C01|2025-01-10|2024-12-01\n"
    "P001|C03|2025-03-12|2024-12-01\n"
    "P004|C05|2025-05-14|2025-06-01\n"
    "P006|C07|2025-07-16|2025-01-01\n";

static const char claims_policy[] =
    "id: claims-deleg\nversion: 1\npurpose: claims of deceased persons\n"
    "legal_basis: Criminal Procedure Law art. 8\nrequester: proc.example\n"
    "dataset: claims\nkey_column: code\nmodes: [delegated]\n"
    "labels: [code, claim_no, claim_date]\npartners: [civil.example]\n"
    "query_size: {min: 1, max: 1000}\n"
    "budget: {joins_per_day: 50, elements_per_30_days: 100000}\n"
    "valid: {from: 2026-01-01T00:00:00Z, until: 2030-01-01T00:00:00Z}\n";
static const char deaths_policy[] =
    "id: deaths-deleg\nversion: 1\npurpose: claims of deceased persons\n"
    "legal_basis: Criminal Procedure Law art. 8\nrequester: proc.example\n"
    "dataset: deaths\nkey_column: code\nmodes: [delegated]\n"
    "labels: [date_of_death]\npartners: [tax.example]\n"
    "query_size: {min: 1, max: 1000}\n"
    "budget: {joins_per_day: 50, elements_per_30_days: 100000}\n"
    "valid: {from: 2026-01-01T00:00:00Z, until: 2030-01-01T00:00:00Z}\n";

static char *
tpath(const char *name)
{
	return xzt_path(fx.tmp, name);
}

static int
start_owner(const char *dir, const char *log, pid_t *pid)
{
	int st = 0, port = xzf_start_xiezhid(dir, "2", log, NULL, pid, &st);

	if (port == 0)
		fail_msg("xiezhid for %s exited with %d:\n%s", dir, st, xzf_log_text(log));
	return port;
}

static int
group_setup(void **state)
{
	char *p;

	(void)state;
	fx.tmp = xzt_mkdtemp("delegated");
	xzf_node_paths(fx.tmp, sizeof(fx.tax), fx.tax, fx.proc, fx.log);
	snprintf(fx.civil, sizeof(fx.civil), "%s/civil", fx.tmp);
	snprintf(fx.log2, sizeof(fx.log2), "%s/xiezhid-civil.log", fx.tmp);
	xzf_two_nodes(fx.tmp, fx.tax, fx.proc);
	xzf_add_node(fx.tmp, fx.civil, "civil", "civil.example", 1);
	xzf_keygen_approvers(fx.tmp);
	xzt_write_file(p = tpath("claims.csv"), claims_csv, strlen(claims_csv)); free(p);
	xzt_write_file(p = tpath("deaths.csv"), deaths_csv, strlen(deaths_csv)); free(p);
	xzf_import(fx.tmp, "claims.csv", "claims", fx.tax,
	    (const char *const[]){ "claim_no:text", "claim_date:date", "hospital:text", NULL });
	xzf_import(fx.tmp, "deaths.csv", "deaths", fx.civil,
	    (const char *const[]){ "date_of_death:date", "place:text", NULL });
	{
		char pol[4400];
		snprintf(pol, sizeof(pol), "%s/policies/claims.yaml", fx.tax);
		xzf_write_policy(fx.tmp, pol, claims_policy);
		snprintf(pol, sizeof(pol), "%s/policies/deaths.yaml", fx.civil);
		xzf_write_policy(fx.tmp, pol, deaths_policy);
	}
	xzf_set_peer(fx.proc, start_owner(fx.tax, fx.log, &fx.d_tax));
	xzf_set_peer_to(fx.proc, "civil", "civil.example",
	    start_owner(fx.civil, fx.log2, &fx.d_civil));
	return 0;
}

static void
stop(pid_t *pid)
{
	if (*pid > 0) {
		kill(*pid, SIGTERM);
		(void)xzf_wait_child(*pid, 10000);
		*pid = 0;
	}
}

static int
group_teardown(void **state)
{
	(void)state;
	stop(&fx.d_tax);
	stop(&fx.d_civil);
	if (getenv("XZT_KEEP") == NULL)
		xzt_rmtree(fx.tmp);
	free(fx.tmp);
	return 0;
}

/*
 * The two requests of one step: same link, each naming the other owner.
 * size0/size1: their query sizes (how many of the partner's records each
 * owner agrees to evaluate).
 */
static void
make_pair(const char *name, const char *labels1, uint64_t size0, uint64_t size1,
    char **r0, char **r1)
{
	unsigned char link[16];
	char hex[33], n0[64], n1[64], s0[24], s1[24], *p0, *p1, pol[4400];
	struct xzt_run r;

	randombytes_buf(link, sizeof(link));
	sodium_bin2hex(hex, sizeof(hex), link, sizeof(link));
	snprintf(n0, sizeof(n0), "%s-claims.yaml", name);
	snprintf(n1, sizeof(n1), "%s-deaths.yaml", name);
	snprintf(s0, sizeof(s0), "%llu", (unsigned long long)size0);
	snprintf(s1, sizeof(s1), "%llu", (unsigned long long)size1);
	p0 = tpath(n0);
	p1 = tpath(n1);
	snprintf(pol, sizeof(pol), "%s/policies/claims.yaml", fx.tax);
	XZF_RUN(&r, "request", "create", "--out", p0, "--from-policy", pol,
	    "--responder", "tax.example", "--mode", "delegated", "--partner", "civil.example",
	    "--link", hex, "--label", "code", "--label", "claim_no", "--label", "claim_date",
	    "--query-size", s0, "--case-number", "2026-D1");
	xzf_must(&r, "request create claims");
	snprintf(pol, sizeof(pol), "%s/policies/deaths.yaml", fx.civil);
	XZF_RUN(&r, "request", "create", "--out", p1, "--from-policy", pol,
	    "--responder", "civil.example", "--mode", "delegated", "--partner", "tax.example",
	    "--link", hex, "--label", labels1, "--query-size", s1, "--case-number", "2026-D1");
	xzf_must(&r, "request create deaths");
	xzf_approve(fx.tmp, p0, 2);
	xzf_approve(fx.tmp, p1, 2);
	*r0 = p0;
	*r1 = p1;
}

static void
request_id(const char *path, char id[33])
{
	size_t len;
	char *t = xzt_read_file(path, &len), *p;

	assert_non_null(t);
	assert_non_null(p = strstr(t, "id: \""));
	memcpy(id, p + 5, 32);
	id[32] = '\0';
	free(t);
}

/* The value of "name": "..." in a labels object (no escapes in this data). */
static void
label(const char *json, const char *name, char *out, size_t cap)
{
	char pat[64];
	const char *p, *e;

	snprintf(pat, sizeof(pat), "\"%s\": \"", name);
	out[0] = '\0';
	if ((p = strstr(json, pat)) == NULL)
		return;
	p += strlen(pat);
	if ((e = strchr(p, '"')) != NULL && (size_t)(e - p) < cap)
		snprintf(out, cap, "%.*s", (int)(e - p), p);
}

static int
cmp_line(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The stored pairs as sorted "code|claim_no|claim_date|date_of_death" lines
 * (SQLCipher 3.4.1 has no JSON functions: the labels are read here). */
static char *
stored_pairs(const char *id_hex, long long *count)
{
	struct xz_node *node = NULL;
	struct xz_diag d;
	sqlite3_stmt *st = NULL;
	char *lines[64], *out = calloc(1, 8192);
	unsigned char id[16];
	size_t bin, n = 0, used = 0;

	assert_non_null(out);
	assert_int_equal(sodium_hex2bin(id, 16, id_hex, 32, NULL, &bin, NULL), 0);
	if (xz_node_open(fx.proc, &node, &d) != 0)
		fail_msg("open proc: %s", d.msg);
	assert_int_equal(sqlite3_prepare_v2(xz_node_db(node), "SELECT k, labels FROM "
	    "join_result_rows WHERE request_id = ?", -1, &st, NULL), SQLITE_OK);
	sqlite3_bind_blob(st, 1, id, 16, SQLITE_STATIC);
	while (sqlite3_step(st) == SQLITE_ROW && n < 64) {
		const char *k = (const char *)sqlite3_column_text(st, 0);
		const char *l = (const char *)sqlite3_column_text(st, 1);
		char no[32], cd[32], dd[32], code[32];
		label(l, "claim_no", no, sizeof(no));
		label(l, "claim_date", cd, sizeof(cd));
		label(l, "date_of_death", dd, sizeof(dd));
		label(l, "code", code, sizeof(code));
		assert_string_equal(code, k);	/* the key is the revealed label */
		lines[n] = malloc(160);
		assert_non_null(lines[n]);
		snprintf(lines[n++], 160, "%s|%s|%s|%s\n", k, no, cd, dd);
	}
	sqlite3_finalize(st);
	xz_node_close(node);
	qsort(lines, n, sizeof(lines[0]), cmp_line);
	for (size_t i = 0; i < n; i++) {
		used += (size_t)snprintf(out + used, 8192 - used, "%s", lines[i]);
		free(lines[i]);
	}
	*count = (long long)n;
	return out;
}

static void
run_join(struct xzt_run *r, const char *r0, const char *r1)
{
	XZF_RUN(r, "join", "--peer", "tax", "--request", r0, "--peer", "civil", "--request", r1,
	    "--key", "code", "--json", "--dir", fx.proc);
}

static void
test_pairs_with_both_labels(void **state)
{
	char *r0, *r1, *rows, id[33];
	struct xzt_run r;
	long long n;

	(void)state;
	make_pair("ok", "date_of_death", 100, 100, &r0, &r1);
	run_join(&r, r0, r1);
	if (r.status != 0)
		fail_msg("join failed (%d):\n%s\n%s", r.status, r.out, r.err);
	assert_non_null(strstr(r.out, "\"outcome\": \"completed\""));
	assert_non_null(strstr(r.out, "\"result_size\": 4"));
	xzt_run_free(&r);
	request_id(r0, id);
	rows = stored_pairs(id, &n);
	assert_int_equal(n, 4);
	assert_string_equal(rows, expected);
	free(rows);
	/* The matches became leads, under the first request. */
	XZF_RUN(&r, "leads", "list", "--request", id, "--json", "--dir", fx.proc);
	assert_int_equal(r.status, 0);
	assert_non_null(strstr(r.out, "C05"));
	xzt_run_free(&r);
	free(r0); free(r1);
}

static void
test_one_owner_refuses(void **state)
{
	char *r0, *r1, *rows, id[33];
	struct xzt_run r;
	long long n;

	(void)state;
	/* civil's policy does not allow revealing "place". */
	make_pair("refused", "place", 100, 100, &r0, &r1);
	run_join(&r, r0, r1);
	assert_int_equal(r.status, 1);
	assert_non_null(strstr(r.out, "\"outcome\": \"refused\""));
	assert_non_null(strstr(r.out, "label_not_allowed"));
	xzt_run_free(&r);
	request_id(r0, id);
	rows = stored_pairs(id, &n);
	assert_int_equal(n, 0);
	free(rows);
	free(r0); free(r1);
}

/* The claims owner agreed to evaluate 2 of civil's records; civil has 6. */
static void
test_partner_larger_than_agreed(void **state)
{
	char *r0, *r1;
	struct xzt_run r;

	(void)state;
	make_pair("small", "date_of_death", 2, 100, &r0, &r1);
	run_join(&r, r0, r1);
	assert_int_equal(r.status, 1);
	assert_non_null(strstr(r.err, "agreed to evaluate at most 2"));
	xzt_run_free(&r);
	free(r0); free(r1);
}

static void
test_requests_of_different_steps(void **state)
{
	char *a0, *a1, *b0, *b1;
	struct xzt_run r;

	(void)state;
	make_pair("x", "date_of_death", 100, 100, &a0, &a1);
	make_pair("y", "date_of_death", 100, 100, &b0, &b1);
	run_join(&r, a0, b1);
	assert_int_equal(r.status, 1);
	assert_non_null(strstr(r.err, "different links"));
	xzt_run_free(&r);
	free(a0); free(a1); free(b0); free(b1);
}

static char *
export_log(const char *dir, const char *name)
{
	char *out = tpath(name);
	struct xzt_run r;

	unlink(out);
	XZF_RUN(&r, "audit", "export", "--out", out, "--dir", dir);
	xzf_must(&r, "audit export");
	return out;
}

/* Every delegated join both sides recorded agrees, with each owner. */
static void
test_three_logs_cross_check(void **state)
{
	char *ep = export_log(fx.proc, "proc.export"), *et = export_log(fx.tax, "tax.export");
	char *ec = export_log(fx.civil, "civil.export");
	struct xzt_run r;

	(void)state;
	XZF_RUN(&r, "audit", "crosscheck", ep, et);
	if (r.status != 0 || strstr(r.out, " 0 differ") == NULL)
		fail_msg("proc vs tax:\n%s\n%s", r.out, r.err);
	assert_null(strstr(r.out, "MISSING"));
	xzt_run_free(&r);
	/* Each owner recorded what it was told of its partner. */
	{
		struct xzt_run l;
		XZF_RUN(&l, "audit", "log", "--dir", fx.tax);
		assert_non_null(strstr(l.out, "partner_bound=6 "));
		assert_non_null(strstr(l.out, "partner_name=\"civil\""));
		xzt_run_free(&l);
		XZF_RUN(&l, "audit", "log", "--dir", fx.civil);
		assert_non_null(strstr(l.out, "partner_bound=12 "));
		xzt_run_free(&l);
	}
	XZF_RUN(&r, "audit", "crosscheck", ep, ec);
	if (r.status != 0 || strstr(r.out, " 0 differ") == NULL)
		fail_msg("proc vs civil:\n%s\n%s", r.out, r.err);
	assert_null(strstr(r.out, "MISSING"));
	xzt_run_free(&r);
	free(ep); free(et); free(ec);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pairs_with_both_labels),
		cmocka_unit_test(test_one_owner_refuses),
		cmocka_unit_test(test_partner_larger_than_agreed),
		cmocka_unit_test(test_requests_of_different_steps),
		cmocka_unit_test(test_three_logs_cross_check),
	};

	signal(SIGPIPE, SIG_IGN);
	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
