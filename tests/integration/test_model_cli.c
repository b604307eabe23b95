/*
 * `xiezhi model` end to end with real daemons (tests/support/federation.h):
 * the tax bureau "tax" answers two steps of one model from its real
 * xiezhid, each under its own policy; the procuratorate "proc" checks the
 * model, writes the steps' requests, has them approved, runs the model
 * and works the leads.  The lead set is compared, row for row, with the
 * one this test computes from the planted data on its own.
 *
 * Planted data (codes K001..K090):
 *   proc  sales:   K001..K060, two rows each (periods 2026-09, 2026-10),
 *                  amount A (cents) = 10000*i + 25 in 2026-10, 10000*i in
 *                  2026-09; opened 2026-11-15 when i % 7 == 0 (too recent
 *                  for the local filter), else 2026-01-0(i%9+1);
 *   tax   filings: K010..K090, periods 2026-08, 2026-09, 2026-10; the
 *                  declared amount of a matching sale with amount A is, by
 *                  i % 4: 0.4 A, 0.5 A + 1 (just not under the bound),
 *                  0.5 A + 0.999 (just under), 0.6 A; in 2026-08 always 1;
 *   tax   registry: the codes with i % 5 == 0.
 *
 * Model: local filter opened <= as_of - 30 days; step filed (intersect,
 * labels period and declared:decimal); step unregistered (difference with
 * the registry); filter filed.period = period and filed.declared <
 * 0.5 * amount + 1.
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
#include <unistd.h>

static struct {
	char *tmp;
	char tax[4200], proc[4200], log[4200];
	pid_t daemon;
	char *model;
	int runs;		/* model runs that completed */
	long leads;		/* leads they made */
} fx;

static char *
tpath(const char *name)
{
	return xzt_path(fx.tmp, name);
}

/* Millis as a canonical decimal ("12.5", "7", "0.001"). */
static void
dec_text(long long milli, char *out, size_t cap)
{
	long long ip = milli / 1000, fp = milli % 1000;
	char f[8];
	size_t n;

	if (fp == 0) {
		snprintf(out, cap, "%lld", ip);
		return;
	}
	snprintf(f, sizeof(f), "%03lld", fp);
	for (n = strlen(f); n > 0 && f[n - 1] == '0'; n--)
		f[n - 1] = '\0';
	snprintf(out, cap, "%lld.%s", ip, f);
}

static long long
amount_milli(int i, int month)
{
	return (10000LL * i + (month == 10 ? 25 : 0)) * 10;	/* cents to millis */
}

static long long
declared_milli(int i, int month)
{
	long long a = amount_milli(i, month);

	if (month == 8)
		return 1000;
	switch (i % 4) {
	case 0: return a * 4 / 10;
	case 1: return a / 2 + 1000;
	case 2: return a / 2 + 999;
	default: return a * 6 / 10;
	}
}

static int
opened_recent(int i)
{
	return i % 7 == 0;
}

static void
append(char **buf, size_t *len, size_t *cap, const char *s)
{
	size_t n = strlen(s);

	if (*len + n + 1 > *cap) {
		*cap = (*len + n + 1) * 2;
		*buf = realloc(*buf, *cap);
		assert_non_null(*buf);
	}
	memcpy(*buf + *len, s, n + 1);
	*len += n;
}

static void
write_csvs(void)
{
	char *b = NULL, line[256], v[64], *p;
	size_t len = 0, cap = 0;

	append(&b, &len, &cap, "code,station,period,amount,opened\n");
	for (int i = 1; i <= 60; i++)
		for (int m = 9; m <= 10; m++) {
			dec_text(amount_milli(i, m), v, sizeof(v));
			snprintf(line, sizeof(line), "K%03d,站%d号,2026-%02d,%s,%s\n", i, i, m, v,
			    opened_recent(i) ? "2026-11-15" : (i % 9 == 0 ? "2026年1月9日" :
			    "2026-01-01"));
			append(&b, &len, &cap, line);
		}
	xzt_write_file(p = tpath("sales.csv"), b, len); free(p);
	len = 0;
	append(&b, &len, &cap, "code,period,declared\n");
	for (int i = 10; i <= 90; i++)
		for (int m = 8; m <= 10; m++) {
			dec_text(declared_milli(i, m), v, sizeof(v));
			snprintf(line, sizeof(line), "K%03d,2026-%02d,%s\n", i, m, v);
			append(&b, &len, &cap, line);
		}
	xzt_write_file(p = tpath("filings.csv"), b, len); free(p);
	len = 0;
	append(&b, &len, &cap, "code\n");
	for (int i = 5; i <= 90; i += 5) {
		snprintf(line, sizeof(line), "K%03d\n", i);
		append(&b, &len, &cap, line);
	}
	xzt_write_file(p = tpath("registry.csv"), b, len); free(p);
	free(b);
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The lead set the model must give, sorted, as CRLF CSV lines. */
static char *
expected_leads(size_t *count)
{
	char *rows[256], line[256], a[64], dcl[64], *out = NULL;
	size_t n = 0, len = 0, cap = 0;

	for (int i = 10; i <= 60; i++) {
		if (opened_recent(i) || i % 5 == 0)
			continue;	/* local filter; registered (difference) */
		for (int m = 9; m <= 10; m++) {
			long long am = amount_milli(i, m), dm = declared_milli(i, m);
			if (!(dm < am / 2 + 1000))
				continue;
			dec_text(am, a, sizeof(a));
			dec_text(dm, dcl, sizeof(dcl));
			snprintf(line, sizeof(line), "K%03d,站%d号,2026-%02d,%s,%s\r\n", i, i, m, a,
			    dcl);
			assert_true(n < 256);
			rows[n] = strdup(line);
			assert_non_null(rows[n]);
			n++;
		}
	}
	qsort(rows, n, sizeof(rows[0]), cmp_str);
	append(&out, &len, &cap, "");
	for (size_t i = 0; i < n; i++) {
		append(&out, &len, &cap, rows[i]);
		free(rows[i]);
	}
	*count = n;
	return out;
}

static const char model_text[] =
    "id: test-fuel\n"
    "version: 1\n"
    "title: 测试：加油站少报\n"
    "purpose: Find fuel sales declared at under half of what was sold.\n"
    "legal_basis: Criminal Law of the PRC, art. 201\n"
    "as_of: 2026-11-30\n"
    "local:\n"
    "  dataset: sales\n"
    "  key: code\n"
    "  filter: opened <= as_of - 30 days\n"
    "steps:\n"
    "  - name: filed\n"
    "    peer: tax\n"
    "    policy: filings-pol@1\n"
    "    dataset: filings\n"
    "    mode: intersect\n"
    "    labels: [period, declared:decimal]\n"
    "  - name: unregistered\n"
    "    peer: tax\n"
    "    policy: registry-pol@1\n"
    "    dataset: registry\n"
    "    mode: difference\n"
    "filter: filed.period = period and filed.declared < 0.5 * amount + 1\n"
    "output: [code, station, period, amount, filed.declared]\n";

static void
write_policies(void)
{
	char *p = xzt_path(fx.tax, "policies/filings.yaml");

	xzf_write_policy(fx.tmp, p,
	    "id: filings-pol\nversion: 1\npurpose: fuel tax filings for procuratorial models\n"
	    "legal_basis: Criminal Procedure Law art. 8\nrequester: proc.example\n"
	    "dataset: filings\nkey_column: code\nmodes: [intersect]\n"
	    "labels: [period, declared]\nquery_size: {min: 10, max: 100000}\n"
	    "budget:\n  joins_per_day: 1000\n  elements_per_30_days: 1000000\n"
	    "valid:\n  from: 2020-01-01T00:00:00Z\n  until: 2099-01-01T00:00:00Z\n");
	free(p);
	p = xzt_path(fx.tax, "policies/registry.yaml");
	xzf_write_policy(fx.tmp, p,
	    "id: registry-pol\nversion: 1\npurpose: registered retailers\n"
	    "legal_basis: Criminal Procedure Law art. 8\nrequester: proc.example\n"
	    "dataset: registry\nkey_column: code\nmodes: [difference]\n"
	    "labels: []\nquery_size: {min: 10, max: 100000}\n"
	    "budget:\n  joins_per_day: 1000\n  elements_per_30_days: 1000000\n"
	    "valid:\n  from: 2020-01-01T00:00:00Z\n  until: 2099-01-01T00:00:00Z\n");
	free(p);
}

static int
group_setup(void **state)
{
	int st = 0, port;

	(void)state;
	fx.tmp = xzt_mkdtemp("model-cli");
	xzf_node_paths(fx.tmp, sizeof(fx.log), fx.tax, fx.proc, fx.log);
	xzf_two_nodes(fx.tmp, fx.tax, fx.proc);
	write_csvs();
	xzf_import(fx.tmp, "filings.csv", "filings", fx.tax,
	    (const char *const[]){ "period:text", "declared:decimal", NULL });
	xzf_import(fx.tmp, "registry.csv", "registry", fx.tax, NULL);
	xzf_import(fx.tmp, "sales.csv", "sales", fx.proc, (const char *const[]){
	    "station:text", "period:text", "amount:decimal", "opened:date", NULL });
	xzf_keygen_approvers(fx.tmp);
	write_policies();
	port = xzf_start_xiezhid(fx.tax, "2", fx.log, NULL, &fx.daemon, &st);
	assert_true(port > 0);
	xzf_set_peer(fx.proc, port);
	fx.model = tpath("model.yaml");
	xzt_write_file(fx.model, model_text, strlen(model_text));
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
	free(fx.model);
	return 0;
}

/* `model requests` into tmp/<dir>, then the approvals (0, 1 or 2) of each. */
static char *
make_requests(const char *dir, int approvals_filed, int approvals_unreg)
{
	char *out = tpath(dir), *f1, *f2;
	struct xzt_run r;

	XZF_RUN(&r, "model", "requests", fx.model, "--out-dir", out, "--case-number",
	    "2026-017", "--dir", fx.proc);
	xzf_must(&r, "model requests");
	f1 = xzt_path(out, "filed.yaml");
	f2 = xzt_path(out, "unregistered.yaml");
	xzf_approve(fx.tmp, f1, approvals_filed);
	xzf_approve(fx.tmp, f2, approvals_unreg);
	free(f1);
	free(f2);
	return out;
}

static long
count_leads(const char *model)
{
	struct xzt_run r;
	long n = 0;

	XZF_RUN(&r, "leads", "list", "--model", model, "--json", "--dir", fx.proc);
	assert_int_equal(r.status, 0);
	for (const char *p = r.out; (p = strstr(p, "\"id\": ")) != NULL; p++)
		n++;
	xzt_run_free(&r);
	return n;
}

static long
count_records(const char *type)
{
	struct xzt_run r;
	long n = 0;

	XZF_RUN(&r, "audit", "log", "--type", type, "--json", "--dir", fx.proc);
	assert_int_equal(r.status, 0);
	for (const char *p = r.out; (p = strstr(p, "\"seq\"")) != NULL; p++)
		n++;
	xzt_run_free(&r);
	return n;
}

static void
test_check_prints_the_normalised_model(void **state)
{
	struct xzt_run r;
	char *again = tpath("again.yaml");
	char *first;

	(void)state;
	XZF_RUN(&r, "model", "check", fx.model, "--dir", fx.proc);
	if (r.status != 0)
		fail_msg("model check (%d): %s%s", r.status, r.out, r.err);
	assert_non_null(strstr(r.out, "id: test-fuel\n"));
	assert_non_null(strstr(r.out, "labels: [period, 'declared:decimal']"));
	assert_non_null(strstr(r.out, "filter: \"filed.period = period and filed.declared < "
	    "0.5 * amount + 1\""));
	/* The printed model checks and prints the same again. */
	xzt_write_file(again, r.out, strlen(r.out));
	first = r.out;
	r.out = NULL;
	xzt_run_free(&r);
	XZF_RUN(&r, "model", "check", again, "--dir", fx.proc);
	assert_int_equal(r.status, 0);
	assert_string_equal(r.out, first);
	xzt_run_free(&r);
	free(first);
	free(again);
}

static void
test_check_refuses_bad_models(void **state)
{
	static const struct { const char *from, *to, *err; } cases[] = {
		{ "0.5 * amount + 1", "0.5 * station", "bad.yaml:23: filter: cannot multiply "
		  "decimal by text" },
		{ "opened <= as_of - 30 days", "opened <= 30 days", "bad.yaml:10: local.filter: "
		  "a duration (30 days) can only be added" },
		{ "peer: tax\n    policy: registry", "peer: customs\n    policy: registry",
		  "bad.yaml:18: steps[1].peer: no peer 'customs'" },
		{ "dataset: sales", "dataset: salez", "bad.yaml:8: local.dataset: there is no "
		  "dataset 'salez'" },
		{ "filed.declared]", "unregistered.declared]", "bad.yaml:24: output[4]: step "
		  "unregistered is a difference step" },
		{ "amount + 1\n", "amount + 1 or code = 'x'; DROP TABLE x'\n", "bad.yaml:23: filter: "
		  "at character" },
	};
	char *bad = tpath("bad.yaml"), text[4096];
	struct xzt_run r;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *at = strstr(model_text, cases[i].from);
		assert_non_null(at);
		snprintf(text, sizeof(text), "%.*s%s%s", (int)(at - model_text), model_text,
		    cases[i].to, at + strlen(cases[i].from));
		unlink(bad);
		xzt_write_file(bad, text, strlen(text));
		XZF_RUN(&r, "model", "check", bad, "--dir", fx.proc);
		assert_int_equal(r.status, 1);
		if (strstr(r.err, cases[i].err) == NULL)
			fail_msg("case %zu: %s", i, r.err);
		assert_string_equal(r.out, "");
		xzt_run_free(&r);
		/* run refuses it the same way, before anything is recorded */
		XZF_RUN(&r, "model", "run", bad, "--request-dir", fx.tmp, "--dir", fx.proc);
		assert_int_equal(r.status, 1);
		if (strstr(r.err, cases[i].err) == NULL)
			fail_msg("run case %zu: %s", i, r.err);
		xzt_run_free(&r);
	}
	assert_int_equal(count_records("model_run_started"), 0);
	free(bad);
}

static void
test_run_gives_the_exact_lead_set(void **state)
{
	char *reqs = make_requests("reqs1", 2, 2), *out = tpath("leads1.csv"), *got, *want;
	char line[128];
	size_t len, nwant;
	struct xzt_run r;
	struct stat sb;

	(void)state;
	want = expected_leads(&nwant);
	assert_true(nwant > 10);
	XZF_RUN(&r, "model", "run", fx.model, "--request-dir", reqs, "--json", "--dir",
	    fx.proc);
	if (r.status != 0)
		fail_msg("model run (%d): %s%s", r.status, r.out, r.err);
	assert_non_null(strstr(r.out, "\"outcome\": \"completed\""));
	snprintf(line, sizeof(line), "\"leads\": %zu,", nwant);
	if (strstr(r.out, line) == NULL)
		fail_msg("want %s in %s", line, r.out);
	/* 60 codes, 8 opened too recently: 52 keys; K010..K060 of them filed. */
	assert_non_null(strstr(r.out, "\"local_rows\": 104, \"local_keys\": 52"));
	assert_non_null(strstr(r.out, "\"name\": \"filed\", \"mode\": \"intersect\""));
	assert_non_null(strstr(r.out, "\"sent\": 52, "));
	assert_non_null(strstr(r.out, "\"keys_after\": 44, "));
	assert_non_null(strstr(r.out, "\"sent\": 44, "));
	assert_non_null(strstr(r.out, "\"keys_after\": 34, "));
	xzt_run_free(&r);
	fx.runs++;
	fx.leads += (long)nwant;
	XZF_RUN(&r, "leads", "export", "--format", "values", "--model", "test-fuel", "--out",
	    out, "--dir", fx.proc);
	xzf_must(&r, "leads export");
	assert_int_equal(stat(out, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);
	got = xzt_read_file(out, &len);
	assert_non_null(got);
	{
		/* Header, then the rows sorted bytewise (the export is in lead order). */
		const char *hdr = "code,station,period,amount,filed.declared\r\n";
		char *rows[256], *p = got + strlen(hdr), *o = NULL;
		size_t n = 0, ol = 0, oc = 0;
		assert_memory_equal(got, hdr, strlen(hdr));
		while (*p != '\0') {
			char *e = strstr(p, "\r\n");
			assert_non_null(e);
			rows[n] = strndup(p, (size_t)(e - p) + 2);
			n++;
			p = e + 2;
		}
		qsort(rows, n, sizeof(rows[0]), cmp_str);
		append(&o, &ol, &oc, "");
		for (size_t i = 0; i < n; i++) {
			append(&o, &ol, &oc, rows[i]);
			free(rows[i]);
		}
		if (strcmp(o, want) != 0)
			fail_msg("lead set differs:\ngot\n%s\nwant\n%s", o, want);
		free(o);
	}
	assert_int_equal(count_leads("test-fuel"), fx.leads);
	assert_int_equal(count_records("model_run_started"), 1);
	assert_int_equal(count_records("model_run_completed"), 1);
	free(got);
	free(want);
	free(out);
	free(reqs);
}

static void
test_show_prints_values_and_the_run(void **state)
{
	struct xzt_run r;

	(void)state;
	XZF_RUN(&r, "leads", "show", "1", "--dir", fx.proc);
	xzf_must(&r, "leads show");
	XZF_RUN(&r, "leads", "show", "1", "--dir", fx.proc);
	assert_non_null(strstr(r.out, "values      code"));
	assert_non_null(strstr(r.out, "filed.declared"));
	assert_non_null(strstr(r.out, "(model test-fuel@1, 测试：加油站少报, as of 2026-11-30, "
	    "completed"));
	assert_non_null(strstr(r.out, "step 1    filed, intersect with tax, request "));
	assert_non_null(strstr(r.out, "step 2    unregistered, difference with tax, request "));
	assert_non_null(strstr(r.out, "case number 2026-017"));
	assert_non_null(strstr(r.out, "policy      model test-fuel@1"));
	xzt_run_free(&r);
	XZF_RUN(&r, "leads", "show", "1", "--json", "--dir", fx.proc);
	assert_int_equal(r.status, 0);
	assert_non_null(strstr(r.out, "\"values\": {\"code\": \"K"));
	assert_non_null(strstr(r.out, "\"run\": {\"model\": \"test-fuel\""));
	xzt_run_free(&r);
	/* An update of a model lead is audited like any other. */
	XZF_RUN(&r, "leads", "update", "1", "--status", "verifying", "--note", "checking",
	    "--dir", fx.proc);
	xzf_must(&r, "leads update");
}

/* The same signed requests again: the owner refuses the replay; the run
 * is recorded as failed and makes no leads. */
static void
test_replayed_requests_are_refused(void **state)
{
	char *reqs = tpath("reqs1");
	struct xzt_run r;

	(void)state;
	XZF_RUN(&r, "model", "run", fx.model, "--request-dir", reqs, "--dir", fx.proc);
	assert_int_equal(r.status, 1);
	if (strstr(r.err, "step filed: tax refused the request") == NULL ||
	    strstr(r.err, "is recorded as failed; it made no leads") == NULL)
		fail_msg("%s", r.err);
	xzt_run_free(&r);
	assert_int_equal(count_leads("test-fuel"), fx.leads);
	assert_int_equal(count_records("model_run_failed"), 1);
	free(reqs);
}

/* Step two's request has one approval of the two its policy needs: the
 * owner refuses it after step one ran; no leads from the run. */
static void
test_refused_step_stops_the_run(void **state)
{
	char *reqs = make_requests("reqs2", 2, 1);
	struct xzt_run r;

	(void)state;
	XZF_RUN(&r, "model", "run", fx.model, "--request-dir", reqs, "--json", "--dir", fx.proc);
	assert_int_equal(r.status, 1);
	assert_non_null(strstr(r.out, "\"outcome\": \"refused\""));
	assert_non_null(strstr(r.out, "\"failed_step\": \"unregistered\""));
	assert_non_null(strstr(r.err, "step unregistered: tax refused the request"));
	xzt_run_free(&r);
	assert_int_equal(count_leads("test-fuel"), fx.leads);
	assert_int_equal(count_records("model_run_failed"), 2);
	assert_int_equal(count_records("model_run_completed"), 1);
	free(reqs);
}

/* A request that is not its step's is refused before anything leaves. */
static void
test_mismatched_request_is_refused(void **state)
{
	char *reqs = make_requests("reqs3", 2, 2), *f1, *f2, *text;
	size_t len;
	struct xzt_run r;
	long started = count_records("model_run_started");

	(void)state;
	f1 = xzt_path(reqs, "filed.yaml");
	f2 = xzt_path(reqs, "unregistered.yaml");
	text = xzt_read_file(f1, &len);
	unlink(f2);
	xzt_write_file(f2, text, len);
	XZF_RUN(&r, "model", "run", fx.model, "--request-dir", reqs, "--dir", fx.proc);
	assert_int_equal(r.status, 1);
	if (strstr(r.err, "step unregistered: ") == NULL ||
	    strstr(r.err, "is not this step's request: it names policy filings-pol") == NULL)
		fail_msg("%s", r.err);
	assert_null(strstr(r.err, "recorded as failed"));
	xzt_run_free(&r);
	/* A missing file names the step and what to do. */
	unlink(f2);
	XZF_RUN(&r, "model", "run", fx.model, "--request-dir", reqs, "--dir", fx.proc);
	assert_int_equal(r.status, 1);
	assert_non_null(strstr(r.err, "step unregistered: "));
	assert_non_null(strstr(r.err, "xiezhi model requests"));
	xzt_run_free(&r);
	assert_int_equal(count_records("model_run_started"), started);
	assert_int_equal(count_leads("test-fuel"), fx.leads);
	/* requests never replaces a file */
	XZF_RUN(&r, "model", "requests", fx.model, "--out-dir", reqs, "--case-number", "x",
	    "--dir", fx.proc);
	assert_int_equal(r.status, 1);
	assert_non_null(strstr(r.err, "already exists"));
	xzt_run_free(&r);
	free(text);
	free(f1);
	free(f2);
	free(reqs);
}

/* When the local query keeps nothing, every step is skipped: no request
 * leaves, the run completes with no leads. */
static void
test_nothing_to_ask(void **state)
{
	char *reqs = make_requests("reqs4", 2, 2);
	struct xzt_run r;

	(void)state;
	XZF_RUN(&r, "model", "run", fx.model, "--request-dir", reqs, "--as-of", "2026-01-15",
	    "--dir", fx.proc);
	if (r.status != 0)
		fail_msg("%s%s", r.out, r.err);
	assert_non_null(strstr(r.out, "skipped, no keys were left"));
	assert_non_null(strstr(r.out, "leads     0 created"));
	xzt_run_free(&r);
	assert_int_equal(count_leads("test-fuel"), fx.leads);
	XZF_RUN(&r, "model", "run", fx.model, "--request-dir", reqs, "--as-of", "2026-02-30",
	    "--dir", fx.proc);
	assert_int_equal(r.status, 1);
	assert_non_null(strstr(r.err, "--as-of must be a date"));
	xzt_run_free(&r);
	free(reqs);
}

static void
test_purge_refuses_without_yes(void **state)
{
	struct xzt_run r;

	(void)state;
	XZF_RUN(&r, "leads", "purge", "--older-than", "1", "--dir", fx.proc);
	assert_int_equal(r.status, 1);
	assert_non_null(strstr(r.out, "would delete 0 leads"));
	assert_non_null(strstr(r.err, "run again with --yes"));
	xzt_run_free(&r);
	XZF_RUN(&r, "leads", "purge", "--older-than", "1", "--yes", "--dir", fx.proc);
	assert_int_equal(r.status, 0);
	assert_non_null(strstr(r.out, "deleted 0 leads"));
	xzt_run_free(&r);
	XZF_RUN(&r, "leads", "purge", "--older-than", "0", "--yes", "--dir", fx.proc);
	assert_int_equal(r.status, 2);
	xzt_run_free(&r);
	assert_int_equal(count_leads("test-fuel"), fx.leads);
	assert_int_equal(count_records("leads_purged"), 1);
	XZF_RUN(&r, "audit", "verify", "--dir", fx.proc);
	xzf_must(&r, "audit verify");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_check_prints_the_normalised_model),
		cmocka_unit_test(test_check_refuses_bad_models),
		cmocka_unit_test(test_run_gives_the_exact_lead_set),
		cmocka_unit_test(test_show_prints_values_and_the_run),
		cmocka_unit_test(test_replayed_requests_are_refused),
		cmocka_unit_test(test_refused_step_stops_the_run),
		cmocka_unit_test(test_mismatched_request_is_refused),
		cmocka_unit_test(test_nothing_to_ask),
		cmocka_unit_test(test_purge_refuses_without_yes),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
