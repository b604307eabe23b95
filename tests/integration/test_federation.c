/*
 * Federation end to end: two real nodes (a tax bureau "tax" answering, a
 * procuratorate "proc" asking), a throwaway CA and node certificates from
 * deploy/pki, a real xiezhid on 127.0.0.1 and the real `xiezhi join`.
 *
 * Planted data: tax holds K0001..K0200 with labels period = 2025Q(i%4+1)
 * and volume = 10*i; proc asks about K0150..K0260.  So the intersection is
 * exactly K0150..K0200 (51 keys) and the difference K0201..K0260 (60).
 *
 * The tests run in order and share the nodes (cmocka runs a group's tests
 * in the order listed).
 */
#include "federation.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sodium.h>
#include <sqlite3.h>

#include "node.h"

#define BIG_N 40000

static struct {
	char *tmp;
	char tax[4200], proc[4200], log[4200];
	pid_t daemon;
	int port;
	const char *grace;
} fx = { .grace = "2" };

static char *
tpath(const char *name)
{
	return xzt_path(fx.tmp, name);
}

static void
write_csvs(void)
{
	size_t cap = 64 * BIG_N + 65536, n;
	char *b = malloc(cap), *p;

	assert_non_null(b);
	n = (size_t)snprintf(b, cap, "code,period,volume\n");
	for (int i = 1; i <= 200; i++)
		n += (size_t)snprintf(b + n, cap - n, "K%04d,2025Q%d,%d\n", i, i % 4 + 1, 10 * i);
	xzt_write_file(p = tpath("tax.csv"), b, n); free(p);
	n = (size_t)snprintf(b, cap, "code\n");
	for (int i = 150; i <= 260; i++)
		n += (size_t)snprintf(b + n, cap - n, "K%04d\n", i);
	xzt_write_file(p = tpath("proc.csv"), b, n); free(p);
	n = (size_t)snprintf(b, cap, "code\n");
	for (int i = 0; i < BIG_N; i++)
		n += (size_t)snprintf(b + n, cap - n, "B%07d\n", i);
	xzt_write_file(p = tpath("big.csv"), b, n); free(p);
	free(b);
}

static void
write_policy(const char *file, const char *id, const char *dataset, const char *modes)
{
	char *p, head[2048];
	int n;

	n = snprintf(head, sizeof(head),
	    "id: %s\nversion: 1\npurpose: find retailers that sold fuel without tax\n"
	    "legal_basis: Criminal Procedure Law art. 8\nrequester: proc.example\n"
	    "dataset: %s\nkey_column: code\nmodes: [%s]\nlabels: [period, volume]\n"
	    "query_size: {min: 10, max: 100000}\n"
	    "budget:\n  joins_per_day: 100000\n  elements_per_30_days: 100000000\n"
	    "valid:\n  from: 2020-01-01T00:00:00Z\n  until: 2099-01-01T00:00:00Z\n",
	    id, dataset, modes);
	assert_true(n > 0 && (size_t)n < sizeof(head));
	p = xzt_path(fx.tax, file);
	xzf_write_policy(fx.tmp, p, head);
	free(p);
}

static void
start_daemon(void)
{
	int st = 0;

	fx.port = xzf_start_xiezhid(fx.tax, fx.grace, fx.log, NULL, &fx.daemon, &st);
	assert_true(fx.port > 0);
	xzf_set_peer(fx.proc, fx.port);
}

static int
stop_daemon(void)
{
	int st = 0;

	if (fx.daemon <= 0)
		return -1;
	kill(fx.daemon, SIGTERM);
	if (waitpid(fx.daemon, &st, 0) != fx.daemon)
		return -1;
	fx.daemon = 0;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static int
group_setup(void **state)
{
	(void)state;
	fx.tmp = xzt_mkdtemp("federation");
	xzf_node_paths(fx.tmp, sizeof(fx.log), fx.tax, fx.proc, fx.log);
	xzf_two_nodes(fx.tmp, fx.tax, fx.proc);
	write_csvs();
	xzf_import(fx.tmp, "tax.csv", "filings", fx.tax,
	    (const char *const[]){ "period:text", "volume:int", NULL });
	xzf_import(fx.tmp, "proc.csv", "suspects", fx.proc, NULL);
	xzf_import(fx.tmp, "big.csv", "big", fx.tax, NULL);
	xzf_import(fx.tmp, "big.csv", "bigq", fx.proc, NULL);
	xzf_keygen_approvers(fx.tmp);
	write_policy("policies/fuel.yaml", "fuel", "filings", "intersect, cardinality, difference");
	start_daemon();
	return 0;
}

static int
group_teardown(void **state)
{
	(void)state;
	if (fx.daemon > 0)
		stop_daemon();
	if (getenv("XZT_KEEP") == NULL)
		xzt_rmtree(fx.tmp);
	free(fx.tmp);
	return 0;
}

/* Who requests are addressed to (one test addresses another node). */
static const char *request_responder = "tax.example";

/* Creates a request (approved by `approvals` approvers); returns its path. */
static char *
make_request(const char *name, const char *policy, const char *mode, const char *labels,
    const char *qsize, int approvals)
{
	char *out = tpath(name);
	const char *args[40];
	char pol[4400];
	struct xzt_run r;
	int n = 0;

	snprintf(pol, sizeof(pol), "%s/policies/%s.yaml", fx.tax, policy);
	args[n++] = "request"; args[n++] = "create"; args[n++] = "--out"; args[n++] = out;
	args[n++] = "--from-policy"; args[n++] = pol;
	args[n++] = "--responder"; args[n++] = request_responder;
	args[n++] = "--mode"; args[n++] = mode;
	args[n++] = "--query-size"; args[n++] = qsize;
	args[n++] = "--case-number"; args[n++] = "2026-001";
	if (labels != NULL) {
		args[n++] = "--label"; args[n++] = "period";
		args[n++] = "--label"; args[n++] = labels;
	}
	args[n] = NULL;
	xzf_runv(&r, NULL, args);
	xzf_must(&r, "request create");
	xzf_approve(fx.tmp, out, approvals);
	return out;
}

/* Runs `xiezhi join --json`; copies the request id (32 hex) out. */
static int
join(const char *req, const char *dataset, char id[33], char **json)
{
	struct xzt_run r;
	const char *p;
	int st;

	XZF_RUN(&r, "join", "--peer", "tax", "--request", req, "--dataset", dataset, "--key", "code",
	    "--json", "--dir", fx.proc);
	st = r.status;
	if ((p = strstr(r.out, "\"request_id\": \"")) != NULL) {
		memcpy(id, p + 15, 32);
		id[32] = '\0';
	} else {
		id[0] = '\0';
	}
	*json = strdup(r.out);
	if (st != 0 && st != 1)
		print_message("join: %s%s\n", r.out, r.err);
	xzt_run_free(&r);
	return st;
}

/* Rows stored for a request, "k|labels" lines in key order. */
static char *
stored_rows(const char *id_hex, long long *count)
{
	struct xz_node *node = NULL;
	struct xz_diag d;
	sqlite3_stmt *st = NULL;
	size_t cap = 1 << 20, used = 0;
	char *out = calloc(1, cap);
	unsigned char id[16];

	assert_non_null(out);
	for (int i = 0; i < 16; i++) {
		unsigned v;
		assert_int_equal(sscanf(id_hex + 2 * i, "%2x", &v), 1);
		id[i] = (unsigned char)v;
	}
	if (xz_node_open(fx.proc, &node, &d) != 0)
		fail_msg("open proc: %s", d.msg);
	*count = 0;
	if (sqlite3_prepare_v2(xz_node_db(node), "SELECT k, coalesce(labels, '') FROM "
	    "join_result_rows WHERE request_id = ? ORDER BY k", -1, &st, NULL) == SQLITE_OK) {
		sqlite3_bind_blob(st, 1, id, 16, SQLITE_STATIC);
		while (sqlite3_step(st) == SQLITE_ROW) {
			used += (size_t)snprintf(out + used, cap - used, "%s|%s\n",
			    (const char *)sqlite3_column_text(st, 0),
			    (const char *)sqlite3_column_text(st, 1));
			(*count)++;
		}
	}
	sqlite3_finalize(st);
	xz_node_close(node);
	return out;
}

static char *
audit_log(const char *dir)
{
	struct xzt_run r;
	char *s;

	XZF_RUN(&r, "audit", "log", "--dir", dir);
	assert_int_equal(r.status, 0);
	s = strdup(r.out);
	xzt_run_free(&r);
	return s;
}

static void
test_intersect_returns_planted_labels(void **state)
{
	char *req = make_request("r1.yaml", "fuel", "intersect", "volume", "200", 2);
	char id[33], *json, *rows, expect[8192];
	long long n;
	size_t used = 0;

	(void)state;
	assert_int_equal(join(req, "suspects", id, &json), 0);
	assert_non_null(strstr(json, "\"outcome\": \"completed\""));
	assert_non_null(strstr(json, "\"result_size\": 51"));
	rows = stored_rows(id, &n);
	assert_int_equal(n, 51);
	for (int i = 150; i <= 200; i++)
		used += (size_t)snprintf(expect + used, sizeof(expect) - used,
		    "K%04d|{\"period\": \"2025Q%d\", \"volume\": \"%d\"}\n", i, i % 4 + 1, 10 * i);
	assert_string_equal(rows, expect);
	free(rows); free(json); free(req);
}

static void
test_cardinality_counts_only(void **state)
{
	char *req = make_request("r2.yaml", "fuel", "cardinality", NULL, "120", 2);
	char id[33], *json, *rows;
	long long n;

	(void)state;
	assert_int_equal(join(req, "suspects", id, &json), 0);
	assert_non_null(strstr(json, "\"result_size\": 51"));
	rows = stored_rows(id, &n);
	assert_int_equal(n, 0);
	free(rows); free(json); free(req);
}

static void
test_difference_returns_missing_keys(void **state)
{
	char *req = make_request("r3.yaml", "fuel", "difference", NULL, "111", 2);
	char id[33], *json, *rows, expect[4096];
	size_t used = 0;
	long long n;

	(void)state;
	assert_int_equal(join(req, "suspects", id, &json), 0);
	assert_non_null(strstr(json, "\"result_size\": 60"));
	rows = stored_rows(id, &n);
	assert_int_equal(n, 60);
	for (int i = 201; i <= 260; i++)
		used += (size_t)snprintf(expect + used, sizeof(expect) - used, "K%04d|\n", i);
	assert_string_equal(rows, expect);
	free(rows); free(json); free(req);
}

static void
test_refusals_reach_requester(void **state)
{
	static const struct {
		const char *mode, *label, *qsize;
		int approvals;
		const char *verdict;
	} cases[] = {
		{ "intersect", "code", "200", 2, "label_not_allowed" },
		{ "intersect", NULL, "200000", 2, "set_too_large" },
		{ "intersect", NULL, "5", 2, "set_too_small" },
		{ "intersect", NULL, "200", 1, "not_enough_approvals" },
	};
	char id[33], *json, *req, name[32], *rows, *log;
	long long n;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(name, sizeof(name), "refused%zu.yaml", i);
		req = make_request(name, "fuel", cases[i].mode, cases[i].label, cases[i].qsize,
		    cases[i].approvals);
		if (strcmp(cases[i].verdict, "set_too_small") == 0) {
			/* proc has 111 keys: too many for a declared 5, refused locally. */
			assert_int_equal(join(req, "suspects", id, &json), 1);
			assert_non_null(strstr(json, "declares at most 5"));
		} else {
			assert_int_equal(join(req, "suspects", id, &json), 1);
			assert_non_null(strstr(json, "\"outcome\": \"refused\""));
			if (strstr(json, cases[i].verdict) == NULL)
				fail_msg("case %zu: expected %s in %s", i, cases[i].verdict, json);
			assert_non_null(strstr(json, "\"reason\": \""));
			rows = stored_rows(id, &n);
			assert_int_equal(n, 0);
			free(rows);
		}
		free(json);
		free(req);
	}
	log = audit_log(fx.tax);
	assert_non_null(strstr(log, "reason=\"label_not_allowed\""));
	assert_non_null(strstr(log, "reason=\"not_enough_approvals\""));
	free(log);
	log = audit_log(fx.proc);
	assert_non_null(strstr(log, "decided_by=\"tax\""));
	free(log);
}

static void
test_replay_refused(void **state)
{
	char *req = tpath("r1.yaml"), id[33], *json;

	(void)state;
	assert_int_equal(join(req, "suspects", id, &json), 1);
	assert_non_null(strstr(json, "request_id_replayed"));
	free(json); free(req);
}

static void
test_crosscheck_matches(void **state)
{
	char *a = tpath("tax.export"), *b = tpath("proc.export");
	struct xzt_run r;

	(void)state;
	XZF_RUN(&r, "audit", "export", "--out", a, "--dir", fx.tax); xzf_must(&r, "export tax");
	XZF_RUN(&r, "audit", "export", "--out", b, "--dir", fx.proc); xzf_must(&r, "export proc");
	XZF_RUN(&r, "audit", "crosscheck", a, b);
	if (r.status != 0)
		fail_msg("crosscheck: %s%s", r.out, r.err);
	assert_non_null(strstr(r.out, "3 agree"));
	xzt_run_free(&r);
	free(a); free(b);
}

/* Occurrences of needle in the daemon's log so far. */
static int
log_count(const char *needle)
{
	size_t len;
	char *t = xzt_read_file(fx.log, &len), *p = t;
	int n = 0;

	while (p != NULL && (p = strstr(p, needle)) != NULL) {
		n++;
		p++;
	}
	free(t);
	return n;
}

/* Waits until the daemon's log holds needle at least count times. */
static int
wait_log(const char *needle, int count, int ms)
{
	for (int i = 0; i < ms / 20; i++) {
		if (log_count(needle) >= count)
			return 1;
		usleep(20000);
	}
	return 0;
}

static void
test_sighup_reloads_policies(void **state)
{
	char *log;

	(void)state;
	write_policy("policies/big.yaml", "big", "big", "intersect, cardinality");
	kill(fx.daemon, SIGHUP);
	for (int i = 0; i < 100; i++) {
		size_t len;
		char *t = xzt_read_file(fx.log, &len);
		int done = strstr(t, "2 policies in force, 1 new") != NULL;
		free(t);
		if (done)
			break;
		usleep(50000);
	}
	log = audit_log(fx.tax);
	assert_non_null(strstr(log, "policy=\"big@1\""));
	free(log);

	/* A broken file: the reload fails as a whole, the old set stays. */
	{
		char *bad = xzt_path(fx.tax, "policies/zz-broken.yaml");
		xzt_write_file(bad, "id: x\nversion: 1\ncolour: red\n", 30);
		kill(fx.daemon, SIGHUP);
		assert_true(wait_log("reload failed, the previous policies stay", 1, 5000));
		assert_int_equal(log_count("zz-broken.yaml:"), 1);
		unlink(bad);
		free(bad);
	}
	/* A changed file is recorded as policy_changed with its new hash. */
	write_policy("policies/big.yaml", "big", "big", "intersect");
	kill(fx.daemon, SIGHUP);
	assert_true(wait_log("2 policies in force, 1 new or changed", 2, 5000));
	log = audit_log(fx.tax);
	assert_non_null(strstr(log, "policy_changed"));
	free(log);
	/* Put the modes the later tests use back. */
	write_policy("policies/big.yaml", "big", "big", "intersect, cardinality");
	kill(fx.daemon, SIGHUP);
	assert_true(wait_log("2 policies in force, 1 new or changed", 3, 5000));
}

static void
test_killed_requester_aborts_responder(void **state)
{
	char *req = make_request("kill1.yaml", "big", "intersect", NULL, "40000", 2);
	char *out = tpath("kill1.out"), *err = tpath("kill1.err"), *log;
	const char *argv[] = { xzt_xiezhi_bin(), "join", "--peer", "tax", "--request", req,
	    "--dataset", "bigq", "--key", "code", "--dir", fx.proc, NULL };
	int st;
	pid_t pid;

	(void)state;
	int started = log_count("join started"), aborted = log_count("join aborted");

	pid = xzf_spawn(argv, NULL, out, err);
	assert_true(wait_log("join started", started + 1, 20000));
	kill(pid, SIGKILL);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFSIGNALED(st));
	assert_true(wait_log("join aborted", aborted + 1, 20000));
	log = audit_log(fx.tax);
	assert_non_null(strstr(log, "join_aborted"));
	free(log);
	free(out); free(err); free(req);
}

static void
test_killed_responder_leaves_no_leads(void **state)
{
	char *req = make_request("kill2.yaml", "big", "intersect", NULL, "40000", 2);
	char *out = tpath("kill2.out"), *err = tpath("kill2.err"), *log, *text;
	const char *argv[] = { xzt_xiezhi_bin(), "join", "--peer", "tax", "--request", req,
	    "--dataset", "bigq", "--key", "code", "--json", "--dir", fx.proc, NULL };
	char id[33], *p;
	long long n;
	size_t len;
	int st;
	pid_t pid;

	(void)state;
	int started = log_count("join started");

	pid = xzf_spawn(argv, NULL, out, err);
	assert_true(wait_log("join started", started + 1, 20000));
	/* Both of xiezhid's processes, as a crash would: killing only the
	 * network process lets the key process close the join itself. */
	xzf_kill_node(fx.daemon);
	waitpid(fx.daemon, &st, 0);
	fx.daemon = 0;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 1);
	text = xzt_read_file(out, &len);
	assert_non_null(p = strstr(text, "\"request_id\": \""));
	memcpy(id, p + 15, 32);
	id[32] = '\0';
	assert_non_null(strstr(text, "\"outcome\": \"failed\""));
	free(stored_rows(id, &n));
	assert_int_equal(n, 0);
	log = audit_log(fx.proc);
	assert_non_null(strstr(log, "join_aborted"));
	free(log); free(text);
	free(out); free(err); free(req);
}

/* A 1 ms deadline: the call dies at once, cleanly, and stores nothing. */
static void
test_tiny_deadline_aborts_cleanly(void **state)
{
	char *req = make_request("deadline.yaml", "fuel", "intersect", "volume", "200", 2);
	char id[33], *json, *rows;
	struct xzt_run r;
	long long n;

	(void)state;
	XZF_RUN(&r, "join", "--peer", "tax", "--request", req, "--dataset", "suspects", "--key",
	    "code", "--json", "--timeout-ms", "1", "--dir", fx.proc);
	assert_int_equal(r.status, 1);
	assert_non_null(strstr(r.out, "\"outcome\": \"failed\""));
	assert_non_null(strstr(r.out, "deadline"));
	memcpy(id, strstr(r.out, "\"request_id\": \"") + 15, 32);
	id[32] = '\0';
	xzt_run_free(&r);
	rows = stored_rows(id, &n);
	assert_int_equal(n, 0);
	free(rows);
	/* The daemon is unharmed: a normal join right after completes. */
	free(req);
	req = make_request("after-deadline.yaml", "fuel", "cardinality", NULL, "200", 2);
	assert_int_equal(join(req, "suspects", id, &json), 0);
	free(json); free(req);
}

static int
count_fds(pid_t pid)
{
	char path[64];
	struct dirent *de;
	DIR *d;
	int n = 0;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	if ((d = opendir(path)) == NULL)
		return -1;
	while ((de = readdir(d)) != NULL)
		n += de->d_name[0] != '.';
	closedir(d);
	return n;
}

static int
count_threads(pid_t pid)
{
	char path[64], *t, *p;
	size_t len;
	int n = -1;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	if ((t = xzt_read_file(path, &len)) != NULL && (p = strstr(t, "Threads:")) != NULL)
		n = atoi(p + 8);
	free(t);
	return n;
}

/* Back-to-back joins leave the daemon's fds and threads where they were
 * (XZT_JOINS=1000 for the full run; ASan builds check memory at exit). */
static void
test_back_to_back_joins_do_not_leak(void **state)
{
	const char *env = getenv("XZT_JOINS");
	int joins = env != NULL ? atoi(env) : 20, fd0, th0, fd1, th1;
	char name[64], id[33], *req, *json;

	(void)state;
	/* One join first so lazily created resources exist before counting. */
	req = make_request("warm.yaml", "fuel", "cardinality", NULL, "120", 2);
	assert_int_equal(join(req, "suspects", id, &json), 0);
	free(json); free(req);
	usleep(300000);
	fd0 = count_fds(fx.daemon);
	th0 = count_threads(fx.daemon);
	for (int i = 0; i < joins; i++) {
		snprintf(name, sizeof(name), "b2b-%d.yaml", i);
		req = make_request(name, "fuel", i % 2 ? "cardinality" : "intersect",
		    i % 2 ? NULL : "volume", "120", 2);
		if (join(req, "suspects", id, &json) != 0)
			fail_msg("join %d: %s", i, json);
		free(json);
		unlink(req);
		free(req);
	}
	/* Handler threads are joined by the server's acceptor within 250 ms. */
	for (int i = 0; i < 30; i++) {
		usleep(100000);
		fd1 = count_fds(fx.daemon);
		th1 = count_threads(fx.daemon);
		if (fd1 == fd0 && th1 <= th0)
			break;
	}
	print_message("after %d joins: fds %d -> %d, threads %d -> %d\n", joins, fd0, fd1,
	    th0, th1);
	assert_int_equal(fd1, fd0);
	/* gRPC core sizes its own executor and timer threads on demand, so
	 * allow it two; a leak would show one per join. */
	assert_true(th1 <= th0 + 2);
}

/* Restarting after the SIGKILL closes the join the responder was in. */
static void
test_restart_records_cut_off_join(void **state)
{
	char *log;

	(void)state;
	start_daemon();
	assert_true(wait_log("were cut off by the last stop", 1, 1000));
	log = audit_log(fx.tax);
	assert_non_null(strstr(log, "the node stopped during the join"));
	free(log);
}

/* The requester checks the server's certificate identity: a peer entry
 * that expects another identity never gets a request through. */
static void
test_wrong_server_identity_refused(void **state)
{
	char port[64], id[33], *json, *before, *after, *req;
	struct xzt_run r;

	(void)state;
	/* The request is addressed to the identity the peer entry expects, so
	 * only the TLS handshake can catch that the server is someone else. */
	request_responder = "proc.example";
	req = make_request("wrongid.yaml", "fuel", "intersect", NULL, "200", 2);
	request_responder = "tax.example";
	snprintf(port, sizeof(port), "127.0.0.1:%d", fx.port);
	XZF_RUN(&r, "config", "set", "peer.tax.address", port, "peer.tax.identity", "proc.example",
	    "--dir", fx.proc);
	xzf_must(&r, "config set wrong identity");
	before = audit_log(fx.tax);
	assert_int_equal(join(req, "suspects", id, &json), 1);
	assert_non_null(strstr(json, "\"outcome\": \"failed\""));
	assert_true(strstr(json, "unavailable") != NULL || strstr(json, "unauthenticated") != NULL);
	after = audit_log(fx.tax);
	assert_string_equal(before, after);	/* nothing reached the responder */
	XZF_RUN(&r, "config", "set", "peer.tax.identity", "tax.example", "--dir", fx.proc);
	xzf_must(&r, "config set identity back");
	free(before); free(after); free(json); free(req);
}

/* SIGTERM with no grace period during a join: the join is cancelled, both
 * sides record join_aborted, the requester stores nothing, xiezhid exits 0. */
static void
test_sigterm_aborts_running_join(void **state)
{
	char *req = make_request("term.yaml", "big", "intersect", NULL, "40000", 2);
	char *out = tpath("term.out"), *err = tpath("term.err"), *log, *text, *p, id[33];
	const char *argv[] = { xzt_xiezhi_bin(), "join", "--peer", "tax", "--request", req,
	    "--dataset", "bigq", "--key", "code", "--json", "--dir", fx.proc, NULL };
	long long n;
	size_t len;
	int st;
	pid_t pid;

	(void)state;
	assert_int_equal(stop_daemon(), 0);
	fx.grace = "0";
	start_daemon();
	pid = xzf_spawn(argv, NULL, out, err);
	assert_true(wait_log("join started", 1, 20000));
	assert_int_equal(stop_daemon(), 0);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 1);
	assert_int_equal(log_count("join aborted"), 1);
	text = xzt_read_file(out, &len);
	assert_non_null(p = strstr(text, "\"request_id\": \""));
	memcpy(id, p + 15, 32);
	id[32] = '\0';
	free(stored_rows(id, &n));
	assert_int_equal(n, 0);
	log = audit_log(fx.tax);
	p = strstr(log, id);
	assert_non_null(p);
	assert_non_null(strstr(p, "join_aborted"));
	assert_non_null(strstr(p, "node_stopped"));
	free(log);
	log = audit_log(fx.proc);
	assert_non_null(strstr(strstr(log, id), "join_aborted"));
	free(log); free(text); free(out); free(err); free(req);
	fx.grace = "2";
	start_daemon();
}

static void
test_sigterm_exits_cleanly(void **state)
{
	(void)state;
	assert_int_equal(stop_daemon(), 0);
	assert_true(wait_log("stopped", 1, 1000));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_intersect_returns_planted_labels),
		cmocka_unit_test(test_cardinality_counts_only),
		cmocka_unit_test(test_difference_returns_missing_keys),
		cmocka_unit_test(test_refusals_reach_requester),
		cmocka_unit_test(test_replay_refused),
		cmocka_unit_test(test_crosscheck_matches),
		cmocka_unit_test(test_sighup_reloads_policies),
		cmocka_unit_test(test_tiny_deadline_aborts_cleanly),
		cmocka_unit_test(test_back_to_back_joins_do_not_leak),
		cmocka_unit_test(test_killed_requester_aborts_responder),
		cmocka_unit_test(test_killed_responder_leaves_no_leads),
		cmocka_unit_test(test_restart_records_cut_off_join),
		cmocka_unit_test(test_wrong_server_identity_refused),
		cmocka_unit_test(test_sigterm_aborts_running_join),
		cmocka_unit_test(test_sigterm_exits_cleanly),
	};

	signal(SIGPIPE, SIG_IGN);
	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
