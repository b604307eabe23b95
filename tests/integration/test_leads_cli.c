/*
 * `xiezhi leads` end to end on the results of real joins: a throwaway CA and
 * node certificates (deploy/pki), a tax bureau "tax" answering from a real
 * xiezhid on 127.0.0.1, a procuratorate "proc" running `xiezhi join`, then
 * every leads subcommand on proc.  (The federation set-up is shared:
 * tests/support/federation.h.)
 *
 * Planted data: tax holds K0001..K0060 with labels period = 2025Q(i%4+1)
 * and volume = 10*i; proc asks about K0041..K0075.  So the intersect join
 * finds K0041..K0060 (20 leads) and the difference join K0061..K0075 (15).
 *
 * The tests run in order and share the nodes.
 */
#include "federation.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <sodium.h>

/* A peer's label value that tries to reorder what the terminal shows
 * (U+202E RIGHT-TO-LEFT OVERRIDE). */
#define BIDI_LABEL "\xe2\x80\xae" "evil"

static struct {
	char *tmp;
	char tax[4200], proc[4200], log[4200];
	pid_t daemon;
	char x_id[33], d_id[33];
	char *x_req;
} fx;

static char *
tpath(const char *name)
{
	return xzt_path(fx.tmp, name);
}

static void
write_csvs(void)
{
	char b[8192], *p;
	size_t n;

	n = (size_t)snprintf(b, sizeof(b), "code,period,volume\n");
	for (int i = 1; i <= 60; i++)
		n += (size_t)snprintf(b + n, sizeof(b) - n, "K%04d,2025Q%d%s,%d\n", i, i % 4 + 1,
		    i == 45 ? BIDI_LABEL : "", 10 * i);
	xzt_write_file(p = tpath("tax.csv"), b, n); free(p);
	n = (size_t)snprintf(b, sizeof(b), "code\n");
	for (int i = 41; i <= 75; i++)
		n += (size_t)snprintf(b + n, sizeof(b) - n, "K%04d\n", i);
	xzt_write_file(p = tpath("proc.csv"), b, n); free(p);
}

static void
write_policy(void)
{
	char *p = xzt_path(fx.tax, "policies/fuel.yaml");

	xzf_write_policy(fx.tmp, p,
	    "id: fuel\nversion: 1\npurpose: find retailers that sold fuel without tax\n"
	    "legal_basis: Criminal Procedure Law art. 8\nrequester: proc.example\n"
	    "dataset: filings\nkey_column: code\nmodes: [intersect, difference]\n"
	    "labels: [period, volume]\nquery_size: {min: 10, max: 100000}\n"
	    "budget:\n  joins_per_day: 1000\n  elements_per_30_days: 1000000\n"
	    "valid:\n  from: 2020-01-01T00:00:00Z\n  until: 2099-01-01T00:00:00Z\n");
	free(p);
}

static void
start_daemon(void)
{
	int st = 0, port;

	port = xzf_start_xiezhid(fx.tax, "2", fx.log, NULL, &fx.daemon, &st);
	assert_true(port > 0);
	xzf_set_peer(fx.proc, port);
}

/* Creates a request approved by both approvers; returns its path. */
static char *
make_request(const char *name, const char *mode, int labels)
{
	char *out = tpath(name);
	char pol[4400];
	const char *args[32];
	struct xzt_run r;
	int n = 0;

	snprintf(pol, sizeof(pol), "%s/policies/fuel.yaml", fx.tax);
	args[n++] = "request"; args[n++] = "create"; args[n++] = "--out"; args[n++] = out;
	args[n++] = "--from-policy"; args[n++] = pol;
	args[n++] = "--responder"; args[n++] = "tax.example";
	args[n++] = "--mode"; args[n++] = mode;
	args[n++] = "--query-size"; args[n++] = "40";
	args[n++] = "--case-number"; args[n++] = "2026-017";
	if (labels) {
		args[n++] = "--label"; args[n++] = "period";
		args[n++] = "--label"; args[n++] = "volume";
	}
	args[n] = NULL;
	xzf_runv(&r, NULL, args);
	xzf_must(&r, "request create");
	xzf_approve(fx.tmp, out, 2);
	return out;
}

static void
join(const char *req, char id[33])
{
	struct xzt_run r;
	const char *p;

	XZF_RUN(&r, "join", "--peer", "tax", "--request", req, "--dataset", "suspects", "--key",
	    "code", "--json", "--dir", fx.proc);
	if (r.status != 0 || (p = strstr(r.out, "\"request_id\": \"")) == NULL)
		fail_msg("join (%d): %s%s", r.status, r.out, r.err);
	memcpy(id, p + 15, 32);
	id[32] = '\0';
	xzt_run_free(&r);
}

static int
group_setup(void **state)
{
	char *dreq;

	(void)state;
	fx.tmp = xzt_mkdtemp("leads-cli");
	xzf_node_paths(fx.tmp, sizeof(fx.log), fx.tax, fx.proc, fx.log);
	xzf_two_nodes(fx.tmp, fx.tax, fx.proc);
	write_csvs();
	xzf_import(fx.tmp, "tax.csv", "filings", fx.tax,
	    (const char *const[]){ "period:text", "volume:int", NULL });
	xzf_import(fx.tmp, "proc.csv", "suspects", fx.proc, NULL);
	xzf_keygen_approvers(fx.tmp);
	write_policy();
	start_daemon();
	fx.x_req = make_request("x.yaml", "intersect", 1);
	dreq = make_request("d.yaml", "difference", 0);
	join(fx.x_req, fx.x_id);
	join(dreq, fx.d_id);
	free(dreq);
	return 0;
}

static int
group_teardown(void **state)
{
	int st;

	(void)state;
	if (fx.daemon > 0) {
		kill(fx.daemon, SIGTERM);
		waitpid(fx.daemon, &st, 0);
	}
	if (getenv("XZT_KEEP") == NULL)
		xzt_rmtree(fx.tmp);
	free(fx.tmp);
	free(fx.x_req);
	return 0;
}

static void
test_create_is_idempotent(void **state)
{
	struct xzt_run r;
	char want[256];

	(void)state;
	/* 'xiezhi join' made the leads already; create again changes nothing. */
	(void)want;
	XZF_RUN(&r, "leads", "create", "--request", fx.x_id, "--request-file", fx.x_req,
	    "--dir", fx.proc);
	assert_int_equal(r.status, 0);
	assert_non_null(strstr(r.out, "were created before (20 leads); nothing changed"));
	xzt_run_free(&r);
	XZF_RUN(&r, "leads", "create", "--request", fx.x_id, "--dir", fx.proc);
	assert_int_equal(r.status, 0);
	assert_non_null(strstr(r.out, "were created before (20 leads); nothing changed"));
	xzt_run_free(&r);
	XZF_RUN(&r, "leads", "create", "--request", fx.d_id, "--dir", fx.proc);
	assert_int_equal(r.status, 0);
	assert_non_null(strstr(r.out, "were created before (15 leads)"));
	xzt_run_free(&r);
}

static void
test_create_refusals(void **state)
{
	static const struct { const char *req; int status; const char *msg; } cases[] = {
		{ "00000000000000000000000000000000", 1, "no completed join with request id" },
		{ "xyz", 2, "32 hex digits" },
	};
	struct xzt_run r;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		XZF_RUN(&r, "leads", "create", "--request", cases[i].req, "--dir", fx.proc);
		assert_int_equal(r.status, cases[i].status);
		if (strstr(r.err, cases[i].msg) == NULL)
			fail_msg("case %zu: %s", i, r.err);
		xzt_run_free(&r);
	}
	/* The request file of another join. */
	XZF_RUN(&r, "leads", "create", "--request", fx.d_id, "--request-file", fx.x_req,
	    "--dir", fx.proc);
	assert_int_equal(r.status, 1);
	assert_non_null(strstr(r.err, "the request file is request"));
	xzt_run_free(&r);
}

static void
test_list_matches_the_planted_sets(void **state)
{
	char want[8192], line[256];
	size_t used = 0;
	struct xzt_run r;

	(void)state;
	used += (size_t)snprintf(want + used, sizeof(want) - used,
	    "%-7s %-10s %-8s %-10s %s\n", "LEAD", "STATUS", "REQUEST", "MODE", "KEY");
	for (int i = 41; i <= 60; i++)
		used += (size_t)snprintf(want + used, sizeof(want) - used,
		    "%-7d %-10s %.8s %-10s K%04d\n", i - 40, "new", fx.x_id, "intersect", i);
	XZF_RUN(&r, "leads", "list", "--request", fx.x_id, "--dir", fx.proc);
	assert_int_equal(r.status, 0);
	assert_string_equal(r.out, want);
	xzt_run_free(&r);
	XZF_RUN(&r, "leads", "list", "--json", "--dir", fx.proc);
	assert_int_equal(r.status, 0);
	for (int i = 61; i <= 75; i++) {
		snprintf(line, sizeof(line), "\"mode\": \"difference\", \"key\": \"K%04d\", "
		    "\"labels\": null, \"model_run\": null, \"status\": \"new\"", i);
		if (strstr(r.out, line) == NULL)
			fail_msg("missing %s in %s", line, r.out);
	}
	assert_non_null(strstr(r.out, "\"key\": \"K0050\", \"labels\": \"{\\\"period\\\": "
	    "\\\"2025Q3\\\", \\\"volume\\\": \\\"500\\\"}\""));
	xzt_run_free(&r);
	XZF_RUN(&r, "leads", "list", "--status", "open", "--dir", fx.proc);
	assert_int_equal(r.status, 2);
	xzt_run_free(&r);
}

static void
test_update_show_and_audit(void **state)
{
	static const struct { const char *status, *note; int exit; } steps[] = {
		{ "confirmed", "too early", 1 },
		{ "verifying", "K0050 sold 500 t, filed nothing", 0 },
		{ "confirmed", "invoices checked", 0 },
		{ "new", "back", 2 },
	};
	struct xzt_run r;
	char *log;

	(void)state;
	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		XZF_RUN(&r, "leads", "update", "10", "--status", steps[i].status, "--note",
		    steps[i].note, "--dir", fx.proc);
		if (r.status != steps[i].exit)
			fail_msg("step %zu: %d %s%s", i, r.status, r.out, r.err);
		xzt_run_free(&r);
	}
	XZF_RUN(&r, "leads", "update", "10", "--status", "referred", "--dir", fx.proc);
	assert_int_equal(r.status, 2);	/* no note */
	xzt_run_free(&r);
	XZF_RUN(&r, "leads", "show", "10", "--dir", fx.proc);
	assert_int_equal(r.status, 0);
	assert_non_null(strstr(r.out, "lead        10\nstatus      confirmed\nkey         K0050\n"
	    "labels      {\"period\": \"2025Q3\", \"volume\": \"500\"}\n"));
	assert_non_null(strstr(r.out, "join with tax on suspects.code"));
	assert_non_null(strstr(r.out, "case number 2026-017\n"));
	assert_non_null(strstr(r.out, "purpose     find retailers that sold fuel without tax\n"));
	assert_non_null(strstr(r.out, "new        -> verifying  by local:"));
	assert_non_null(strstr(r.out, "      K0050 sold 500 t, filed nothing\n"));
	assert_non_null(strstr(r.out, "verifying  -> confirmed  by local:"));
	xzt_run_free(&r);
	/* Two changes on record, by number; the key and the note are not. */
	XZF_RUN(&r, "audit", "log", "--type", "lead_status_changed", "--dir", fx.proc);
	assert_int_equal(r.status, 0);
	log = r.out;
	assert_non_null(strstr(log, "lead=\"10\""));
	assert_non_null(strstr(log, "status=\"verifying\""));
	assert_non_null(strstr(log, "status=\"confirmed\""));
	assert_null(strstr(log, "K0050"));
	assert_null(strstr(log, "filed nothing"));
	xzt_run_free(&r);
	XZF_RUN(&r, "audit", "verify", "--dir", fx.proc);
	assert_int_equal(r.status, 0);
	xzt_run_free(&r);
	XZF_RUN(&r, "leads", "list", "--status", "confirmed", "--dir", fx.proc);
	assert_int_equal(r.status, 0);
	assert_non_null(strstr(r.out, "\n10      confirmed"));
	assert_null(strstr(r.out, "\n11 "));
	xzt_run_free(&r);
}

static void
test_show_neutralises_peer_text(void **state)
{
	struct xzt_run r;

	(void)state;
	XZF_RUN(&r, "leads", "show", "5", "--dir", fx.proc);
	assert_int_equal(r.status, 0);
	assert_non_null(strstr(r.out, "key         K0045\n"
	    "labels      {\"period\": \"2025Q2?evil\", \"volume\": \"450\"}\n"));
	assert_null(strstr(r.out, "\xe2\x80\xae"));
	xzt_run_free(&r);
	/* JSON keeps the value as received (it is data, not terminal text). */
	XZF_RUN(&r, "leads", "show", "5", "--json", "--dir", fx.proc);
	assert_int_equal(r.status, 0);
	assert_non_null(strstr(r.out, "2025Q2\xe2\x80\xae" "evil"));
	xzt_run_free(&r);
	XZF_RUN(&r, "leads", "show", "999", "--dir", fx.proc);
	assert_int_equal(r.status, 1);
	assert_non_null(strstr(r.err, "there is no lead 999"));
	xzt_run_free(&r);
}

static void
test_export(void **state)
{
	static const char header[] =
	    "id,request_id,mode,key,labels,model_run,status,created_at,updated_at\r\n";
	char *csv = tpath("leads.csv"), *json = tpath("leads.json"), *text, line[256];
	struct xzt_run r;
	struct stat sb;
	size_t len;

	(void)state;
	XZF_RUN(&r, "leads", "export", "--format", "csv", "--out", csv, "--status", "confirmed",
	    "--dir", fx.proc);
	xzf_must(&r, "export csv");
	text = xzt_read_file(csv, &len);
	snprintf(line, sizeof(line), "10,%s,intersect,K0050,\"{\"\"period\"\": \"\"2025Q3\"\", "
	    "\"\"volume\"\": \"\"500\"\"}\",,confirmed,", fx.x_id);
	assert_true(strncmp(text, header, strlen(header)) == 0);
	assert_non_null(strstr(text, line));
	assert_null(strstr(text, "K0051"));
	free(text);
	assert_int_equal(stat(csv, &sb), 0);
	assert_int_equal(sb.st_mode & 07777, 0600);
	XZF_RUN(&r, "leads", "export", "--format", "json", "--out", json, "--dir", fx.proc);
	xzf_must(&r, "export json");
	text = xzt_read_file(json, &len);
	assert_non_null(strstr(text, "\"key\": \"K0075\""));
	free(text);
	/* Never over an existing file. */
	XZF_RUN(&r, "leads", "export", "--format", "csv", "--out", json, "--dir", fx.proc);
	assert_int_equal(r.status, 1);
	assert_non_null(strstr(r.err, "already exists"));
	xzt_run_free(&r);
	XZF_RUN(&r, "audit", "log", "--type", "leads_exported", "--dir", fx.proc);
	assert_int_equal(r.status, 0);
	assert_non_null(strstr(r.out, "what=\"leads\""));
	assert_non_null(strstr(r.out, "count=1"));
	assert_non_null(strstr(r.out, "count=35"));
	xzt_run_free(&r);
	free(csv); free(json);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_create_is_idempotent),
		cmocka_unit_test(test_create_refusals),
		cmocka_unit_test(test_list_matches_the_planted_sets),
		cmocka_unit_test(test_update_show_and_audit),
		cmocka_unit_test(test_show_neutralises_peer_text),
		cmocka_unit_test(test_export),
	};

	signal(SIGPIPE, SIG_IGN);
	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
