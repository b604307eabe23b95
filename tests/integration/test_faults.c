/*
 * Fault test (issue 8, "Proving failure behaviour", Faults): the store's
 * disk calls fail under a real xiezhi / xiezhid, through the LD_PRELOAD
 * shim of tests/fault/shim.c (fsync/fdatasync or write/pwrite failing with
 * EIO or ENOSPC from the Nth matching call on), and the node fails closed:
 *
 *   import     `xiezhi dataset import --replace` with fsync or write failing
 *              on store.db or store.db-wal at several points N: it exits
 *              non-zero with one line naming the disk problem, and then,
 *              without the shim, the store opens, `store check` and `audit
 *              verify` pass and the previous dataset is there unchanged.
 *              (If N is past the import's last disk call the import
 *              succeeds and the new dataset is all there.)
 *   responder  the owner's xiezhid runs with the shim failing fsync or write
 *              on its store.db-wal from call N, N swept over the calls one
 *              join makes (counted first in a clean run); `xiezhi join`
 *              runs; then: whenever the requester holds a result, the
 *              owner's log (read with the daemon stopped, and again after a
 *              restart without the shim) has its disclosure and
 *              join_completed records; when the owner has no disclosure
 *              record the requester holds no result and no rows; `audit
 *              verify` and `store check` pass on the owner after each case.
 *
 * XZT_KEEP=1 keeps the node directories; XZT_FAULT_LOGS=1 prints each
 * case's shim log tail.  XIEZHI_LONG_TESTS=1 sweeps every N.
 */
#include "federation.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>
#include <sqlite3.h>

#include "node.h"

#ifndef XZ_FAULT_SHIM
#error "XZ_FAULT_SHIM (path of the shim) comes from tests/fault/CMakeLists.txt"
#endif

#define OWNER_N 300
#define NEW_N 120
#define ASK_FIRST 201
#define ASK_LAST 350
#define MATCHES (OWNER_N - ASK_FIRST + 1)
#define JOIN_WAIT_MS 60000

static struct {
	char *tmp;
	char owner[4200], req[4200], log[4200], flog[4200];
	pid_t daemon;
	int port;
	int nreq;
} fx;

/* ---- running the programs ---- */

static char *
tpath(const char *name)
{
	return xzt_path(fx.tmp, name);
}

/* The shim's environment, as "K=V" strings in env (static storage, one
 * set at a time; the tests are sequential).  Under ASan the shim is
 * preloaded ahead of libasan, which ASan refuses unless told not to check
 * the link order; the shim itself only wraps five libc calls. */
static const char *const *
fault_env(const char *path, const char *op, unsigned long after, const char *err)
{
	static char e[7][4400];
	static const char *v[8];
	const char *asan = getenv("ASAN_OPTIONS");

	snprintf(e[0], sizeof(e[0]), "LD_PRELOAD=%s", XZ_FAULT_SHIM);
	snprintf(e[1], sizeof(e[1]), "XZ_FAULT_PATH=%s", path);
	snprintf(e[2], sizeof(e[2]), "XZ_FAULT_OP=%s", op);
	snprintf(e[3], sizeof(e[3]), "XZ_FAULT_AFTER=%lu", after);
	snprintf(e[4], sizeof(e[4]), "XZ_FAULT_ERRNO=%s", err);
	snprintf(e[5], sizeof(e[5]), "XZ_FAULT_LOG=%s", fx.flog);
	snprintf(e[6], sizeof(e[6]), "ASAN_OPTIONS=%s%sverify_asan_link_order=0",
	    asan != NULL ? asan : "", asan != NULL && *asan != '\0' ? ":" : "");
	for (int i = 0; i < 7; i++)
		v[i] = e[i];
	v[7] = NULL;
	unlink(fx.flog);
	return v;
}

/* Lines in the shim's log, and how many of them are injected failures. */
static int
shim_calls(int *failed)
{
	size_t len;
	char *t = xzt_read_file(fx.flog, &len), *p;
	int n = 0;

	*failed = 0;
	if (t == NULL)
		return 0;
	for (p = t; (p = strchr(p, '\n')) != NULL; p++)
		n++;
	for (char *l = t; *l != '\0';) {
		char *e = strchr(l, '\n');
		if (e == NULL)
			break;
		if (e - l >= 3 && strncmp(e - 3, " ok", 3) != 0)
			(*failed)++;
		l = e + 1;
	}
	free(t);
	return n;
}

/* ---- the two nodes ---- */

static void
write_csv(const char *name, int first, int last, int labels, int scale)
{
	size_t cap = 64 * (size_t)(last - first + 1) + 4096, n;
	char *b = malloc(cap), *p;

	assert_non_null(b);
	n = (size_t)snprintf(b, cap, labels ? "code,district,amount\n" : "code\n");
	for (int i = first; i <= last; i++)
		n += labels ? (size_t)snprintf(b + n, cap - n, "T%05d,D%d,%d\n", i, i % 7,
		    scale * i) : (size_t)snprintf(b + n, cap - n, "T%05d\n", i);
	xzt_write_file(p = tpath(name), b, n);
	free(p);
	free(b);
}

static void
write_policy(void)
{
	char *p = xzt_path(fx.owner, "policies/faults.yaml");

	xzf_write_policy(fx.tmp, p,
	    "id: faults\nversion: 1\npurpose: find taxpayers under investigation\n"
	    "legal_basis: Criminal Procedure Law art. 8\nrequester: proc.example\n"
	    "dataset: registry\nkey_column: code\nmodes: [intersect]\n"
	    "labels: [district, amount]\nquery_size: {min: 10, max: 100000}\n"
	    "budget:\n  joins_per_day: 100000\n  elements_per_30_days: 100000000\n"
	    "valid:\n  from: 2020-01-01T00:00:00Z\n  until: 2099-01-01T00:00:00Z\n");
	free(p);
}

/* Starts the owner's daemon, with the shim when env is not NULL.  Returns
 * 0, or -1 when the daemon exited at start (allowed only with the shim). */
static int
start_daemon(const char *const *env)
{
	int st = 0;

	fx.port = xzf_start_xiezhid(fx.owner, "1", fx.log, env, &fx.daemon, &st);
	if (fx.port == 0) {
		char *t = xzf_log_text(fx.log);
		if (env == NULL)
			fail_msg("xiezhid exited at start (%d); its log:\n%s", st, t);
		print_message("  xiezhid refused to start under the fault (%d): %s", st, t);
		free(t);
		return -1;
	}
	xzf_set_peer(fx.req, fx.port);
	return 0;
}

/* Stops the daemon (it may have ended by itself after a disk error);
 * returns its status: 0 for a clean stop. */
static int
stop_daemon(void)
{
	int st;

	if (fx.daemon <= 0)
		return 0;
	kill(fx.daemon, SIGTERM);
	st = xzf_wait_child(fx.daemon, 20000);
	fx.daemon = 0;
	return st;
}

static int
group_setup(void **state)
{
	(void)state;
	fx.tmp = xzt_mkdtemp("faults");
	xzf_node_paths(fx.tmp, sizeof(fx.log), fx.owner, fx.req, fx.log);
	snprintf(fx.flog, sizeof(fx.flog), "%s/shim.log", fx.tmp);
	xzf_two_nodes(fx.tmp, fx.owner, fx.req);
	write_csv("owner.csv", 1, OWNER_N, 1, 3);
	write_csv("new.csv", 1, NEW_N, 1, 5);
	write_csv("ask.csv", ASK_FIRST, ASK_LAST, 0, 0);
	xzf_import(fx.tmp, "owner.csv", "registry", fx.owner,
	    (const char *const[]){ "district:text", "amount:int", NULL });
	xzf_import(fx.tmp, "ask.csv", "watch", fx.req, NULL);
	xzf_keygen_approvers(fx.tmp);
	write_policy();
	return 0;
}

static int
group_teardown(void **state)
{
	int rc = 0, st;

	(void)state;
	if ((st = stop_daemon()) != 0) {
		char *t = xzf_log_text(fx.log);
		print_error("xiezhid ended with %d on SIGTERM; its log:\n%s\n", st, t);
		free(t);
		rc = -1;
	}
	if (getenv("XZT_KEEP") == NULL)
		xzt_rmtree(fx.tmp);
	else
		print_message("kept %s\n", fx.tmp);
	free(fx.tmp);
	return rc;
}

/* The owner's store opens, checks page by page, and its audit log
 * verifies; run with no daemon and no shim. */
static void
check_owner_store(const char *when)
{
	struct xzt_run r;
	char what[256];

	snprintf(what, sizeof(what), "store check on the owner %s", when);
	XZF_RUN(&r, "store", "check", "--dir", fx.owner); xzf_must(&r, what);
	snprintf(what, sizeof(what), "audit verify on the owner %s", when);
	XZF_RUN(&r, "audit", "verify", "--dir", fx.owner); xzf_must(&r, what);
}

/* Row count of dataset registry per `xiezhi dataset show`. */
static long
registry_rows(const char *when)
{
	struct xzt_run r;
	const char *p;
	long n;

	XZF_RUN(&r, "dataset", "show", "registry", "--dir", fx.owner);
	if (r.status != 0 || (p = strstr(r.out, "\n  rows: ")) == NULL)
		fail_msg("dataset show %s: %d %s%s", when, r.status, r.out, r.err);
	n = strtol(p + 9, NULL, 10);
	xzt_run_free(&r);
	return n;
}

/* ---- import under faults ---- */

static int
import_replace(const char *csv, const char *const *env, struct xzt_run *r)
{
	char *p = tpath(csv);

	xzf_runv(r, env, (const char *const[]){ "dataset", "import", "registry", "--csv", p,
	    "--key", "code:text", "--column", "district:text", "--column", "amount:int",
	    "--replace", "--dir", fx.owner, NULL });
	free(p);
	return r->status;
}

/* One-line error naming the disk problem (stderr, no stack of messages). */
static void
check_disk_error(const char *what, const struct xzt_run *r)
{
	const char *nl = strchr(r->err, '\n');

	if (r->status == 0 || nl == NULL || nl[1] != '\0')
		fail_msg("%s: expected a non-zero exit and one line on stderr, got %d:\n%s%s",
		    what, r->status, r->out, r->err);
	if (strstr(r->err, "I/O error") == NULL && strstr(r->err, "disk") == NULL)
		fail_msg("%s: the error does not name the disk problem: %s", what, r->err);
}

struct import_case {
	const char *path, *op, *err;
};

static void
import_case(const struct import_case *c, unsigned long after, int total)
{
	struct xzt_run r;
	char what[512];
	int failed, calls;
	long rows;

	snprintf(what, sizeof(what), "import --replace, %s on '%s' failing (%s) from call %lu "
	    "of %d", c->op, c->path, c->err, after, total);
	import_replace("new.csv", fault_env(c->path, c->op, after, c->err), &r);
	calls = shim_calls(&failed);
	print_message("  %s: exit %d, %d calls, %d failed: %s", what, r.status, calls, failed,
	    r.status != 0 ? r.err : "ok\n");
	check_owner_store(what);
	rows = registry_rows(what);
	if (r.status != 0) {
		check_disk_error(what, &r);
		if (failed == 0)
			fail_msg("%s: failed with no fault injected: %s", what, r.err);
		if (rows != OWNER_N)
			fail_msg("%s: failed, but registry has %ld rows, not the previous %d",
			    what, rows, OWNER_N);
	} else {
		if (rows != NEW_N)
			fail_msg("%s: succeeded, but registry has %ld rows, not %d", what, rows,
			    NEW_N);
		xzt_run_free(&r);
		assert_int_equal(import_replace("owner.csv", NULL, &r), 0);
		assert_int_equal(registry_rows(what), OWNER_N);
	}
	xzt_run_free(&r);
}

static void
test_import_fails_closed(void **state)
{
	static const struct import_case cases[] = {
		{ "store.db-wal", "fsync", "EIO" },
		{ "store.db-wal", "write", "ENOSPC" },
		{ "store.db-wal", "write", "EIO" },
		{ "store.db$", "fsync", "EIO" },
		{ "store.db$", "write", "EIO" },
	};
	const char *lg = getenv("XIEZHI_LONG_TESTS");
	int every = lg != NULL && strcmp(lg, "1") == 0;
	long long t0 = xzf_now_ms();
	struct xzt_run r;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct import_case *c = &cases[i];
		int total, failed;

		/* A clean run through the shim counts the matching calls. */
		if (import_replace("owner.csv", fault_env(c->path, c->op, 0, c->err), &r) != 0)
			fail_msg("import through the shim (no fault): %s", r.err);
		xzt_run_free(&r);
		total = shim_calls(&failed);
		print_message("import: %d %s calls on '%s'\n", total, c->op, c->path);
		/* Every commit goes through the WAL: no call there means the
		 * shim is not loaded, and the test would prove nothing. */
		if (total == 0 && strcmp(c->path, "store.db-wal") == 0)
			fail_msg("the shim saw no %s on store.db-wal (LD_PRELOAD=%s not "
			    "loaded?)", c->op, XZ_FAULT_SHIM);
		if (total == 0)
			continue;	/* nothing checkpointed into store.db */
		if (every) {
			for (int n = 1; n <= total + 1; n++)
				import_case(c, (unsigned long)n, total);
		} else {
			unsigned long pts[] = { 1, 2, (unsigned long)total / 2,
			    (unsigned long)total, (unsigned long)total + 1 }, last = 0;
			for (size_t k = 0; k < 5; k++)
				if (pts[k] > last)
					import_case(c, last = pts[k], total);
		}
	}
	print_message("import cases took %lld ms\n", xzf_now_ms() - t0);
}

/* ---- the responder under faults ---- */

/* What one node's audit log says about one request id. */
struct view {
	int received, decision, started, disclosure, completed, aborted, n;
	char *text;
};

static int
is_hex32(const char *s)
{
	for (int i = 0; i < 32; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return 1;
}

static char *
make_request(char id[33])
{
	char name[64], pol[4400], *out;
	const char *p = NULL;
	struct xzt_run r;

	snprintf(name, sizeof(name), "req-%04d.yaml", ++fx.nreq);
	out = tpath(name);
	snprintf(pol, sizeof(pol), "%s/policies/faults.yaml", fx.owner);
	XZF_RUN(&r, "request", "create", "--out", out, "--from-policy", pol, "--responder",
	    "tax.example", "--mode", "intersect", "--label", "district", "--label", "amount",
	    "--query-size", "150", "--case-number", "2026-faults");
	if (r.status != 0 || (p = strstr(r.out, "wrote request ")) == NULL ||
	    !is_hex32(p + 14))
		fail_msg("request create: %d %s%s", r.status, r.out, r.err);
	memcpy(id, p + 14, 32);
	id[32] = '\0';
	xzt_run_free(&r);
	xzf_approve(fx.tmp, out, 2);
	return out;
}

static long long
stored_rows(const char *id_hex)
{
	struct xz_node *node = NULL;
	struct xz_diag d;
	sqlite3_stmt *st = NULL;
	unsigned char id[16];
	long long n = -1;

	for (int i = 0; i < 16; i++) {
		unsigned v;
		assert_int_equal(sscanf(id_hex + 2 * i, "%2x", &v), 1);
		id[i] = (unsigned char)v;
	}
	if (xz_node_open(fx.req, &node, &d) != 0)
		fail_msg("open the requester's store: %s", d.msg);
	if (sqlite3_prepare_v2(xz_node_db(node), "SELECT count(*) FROM join_result_rows "
	    "WHERE request_id = ?", -1, &st, NULL) != SQLITE_OK)
		fail_msg("query join_result_rows: %s", sqlite3_errmsg(xz_node_db(node)));
	sqlite3_bind_blob(st, 1, id, 16, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	xz_node_close(node);
	return n;
}

static int
has_type(const char *line, const char *type)
{
	char pat[80];

	snprintf(pat, sizeof(pat), "\"type\":\"%s\"", type);
	return strstr(line, pat) != NULL;
}

static void
view_of(const char *dir, const char *id, struct view *v)
{
	struct xzt_run r;
	char *line, *save = NULL;

	memset(v, 0, sizeof(*v));
	XZF_RUN(&r, "audit", "log", "--dir", dir, "--request", id, "--json");
	if (r.status != 0 || strncmp(r.out, "{\"node\":", 8) != 0)
		fail_msg("audit log --request %s in %s: %d %s%s", id, dir, r.status, r.out, r.err);
	v->text = strdup(r.out);
	assert_non_null(v->text);
	for (line = strtok_r(r.out, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		if (strncmp(line, "{\"seq\":", 7) != 0)
			continue;
		v->n++;
		v->received += has_type(line, "request_received");
		v->decision += has_type(line, "decision");
		v->started += has_type(line, "join_started");
		v->disclosure += has_type(line, "disclosure");
		v->completed += has_type(line, "join_completed");
		v->aborted += has_type(line, "join_aborted");
	}
	xzt_run_free(&r);
}

/* Owner-side record rules: nothing repeats, nothing out of order. */
static void
check_shape(const char *what, const struct view *o)
{
	if (o->received > 1 || o->decision > 1 || o->started > 1 || o->disclosure > 1 ||
	    o->completed + o->aborted > 1)
		fail_msg("%s: a record repeats at the owner:\n%s", what, o->text);
	if ((o->decision && !o->received) || (o->started && !o->decision) ||
	    (o->disclosure && !o->started) || (o->completed && !o->disclosure))
		fail_msg("%s: owner records out of protocol order:\n%s", what, o->text);
}

/* Runs one join against the running daemon; returns xiezhi's exit status,
 * the requester's rows in *rows and its view in *rq. */
static int
run_join(const char *id, const char *req, long long *rows, struct view *rq, char **out)
{
	struct xzt_run r;
	int st;

	XZF_RUN(&r, "join", "--peer", "tax", "--request", req, "--dataset", "watch", "--key", "code",
	    "--json", "--dir", fx.req);
	st = r.status;
	if (st != 0 && st != 1)
		fail_msg("xiezhi join ended with %d (crash?): %s%s", st, r.out, r.err);
	*out = strdup(st == 0 ? r.out : r.err);
	xzt_run_free(&r);
	*rows = stored_rows(id);
	view_of(fx.req, id, rq);
	return st;
}

enum { R_COMPLETED, R_REFUSED_NO_DISCLOSURE, R_ABORTED_AFTER_DISCLOSURE, R_NO_START, R_N };
static const char *const r_name[R_N] = {
	"completed, recorded at the owner", "no result, owner has no disclosure",
	"no result, owner recorded a disclosure (over-recording: safe)",
	"owner's daemon refused to start",
};
static int r_count[R_N];

/* A join the fault stopped left the operator a reason in the daemon's
 * log: which store failed and how, not just "internal error". */
static void
check_daemon_names_disk(const char *what)
{
	char *t = xzf_log_text(fx.log);

	char *p = strstr(t, "I/O error"), *b, *e;

	if (p == NULL)
		p = strstr(t, "disk");
	if (p == NULL)
		fail_msg("%s: the daemon's log does not name the disk problem:\n%s", what, t);
	for (b = p; b > t && b[-1] != '\n'; b--)
		;
	if ((e = strchr(p, '\n')) != NULL)
		e[1] = '\0';
	print_message("    xiezhid: %s", b);
	free(t);
}

/* One responder case: shim on the owner's daemon, fault from call after. */
static int
responder_case(const char *op, const char *err, unsigned long after)
{
	char id[33], *req = make_request(id), *out = NULL, what[256];
	const char *path = "store.db-wal";
	struct view rq, pre, post;
	long long rows;
	int st, done, failed, calls, dst, res;

	snprintf(what, sizeof(what), "xiezhid with %s on '%s' failing (%s) from call %lu", op,
	    path, err, after);
	if (start_daemon(fault_env(path, op, after, err)) != 0) {
		check_owner_store(what);
		start_daemon(NULL);	/* the store is fine without the fault */
		stop_daemon();
		free(req);
		return R_NO_START;
	}
	st = run_join(id, req, &rows, &rq, &out);
	dst = stop_daemon();
	calls = shim_calls(&failed);
	done = rq.completed == 1;
	if (!done)
		check_daemon_names_disk(what);
	/* The owner's records as the fault left them, read with no daemon. */
	check_owner_store(what);
	view_of(fx.owner, id, &pre);
	check_shape(what, &pre);
	if (done != (st == 0) || (done ? rows != MATCHES : rows != 0))
		fail_msg("%s: exit %d, requester log and rows (%lld) disagree:\n%s\n%s", what,
		    st, rows, out, rq.text);
	if (done && (pre.disclosure != 1 || pre.completed != 1))
		fail_msg("%s: the requester holds a result but the owner's log has no "
		    "disclosure/join_completed:\n%s", what, pre.text);
	if (failed == 0 && !done)
		fail_msg("%s: no fault injected, yet the join did not complete: %s", what, out);
	/* After a restart without the shim nothing a result depends on is
	 * lost, and a join the fault cut off is closed. */
	start_daemon(NULL);
	view_of(fx.owner, id, &post);
	check_shape(what, &post);
	if (post.disclosure < pre.disclosure || post.completed < pre.completed)
		fail_msg("%s: a record disappeared at the restart:\n%s\n%s", what, pre.text,
		    post.text);
	if (post.started && post.completed + post.aborted != 1)
		fail_msg("%s: the join is still open after the restart:\n%s", what, post.text);
	if ((st = stop_daemon()) != 0)
		fail_msg("%s: the restarted xiezhid ended with %d on SIGTERM", what, st);
	check_owner_store(what);
	res = done ? R_COMPLETED : pre.disclosure ? R_ABORTED_AFTER_DISCLOSURE :
	    R_REFUSED_NO_DISCLOSURE;
	print_message("  %s: daemon %d, %d calls, %d failed: %s%s", what, dst, calls, failed,
	    r_name[res], done ? "\n" : "; ");
	if (!done)
		print_message("%s", out);
	unlink(req);
	free(req); free(out); free(rq.text); free(pre.text); free(post.text);
	return res;
}

/* Counts the matching calls of one clean join (after the daemon's start). */
static void
count_join_calls(const char *op, int *start, int *total)
{
	char id[33], *req = make_request(id), *out = NULL;
	struct view rq;
	long long rows;
	int failed;

	assert_int_equal(start_daemon(fault_env("store.db-wal", op, 0, "EIO")), 0);
	*start = shim_calls(&failed);
	if (run_join(id, req, &rows, &rq, &out) != 0)
		fail_msg("clean join through the shim: %s", out);
	assert_int_equal(rows, MATCHES);
	assert_int_equal(stop_daemon(), 0);
	*total = shim_calls(&failed);
	free(req); free(out); free(rq.text);
}

static void
test_responder_fails_closed(void **state)
{
	static const struct { const char *op, *err; } sweeps[] = {
		{ "fsync", "EIO" }, { "write", "EIO" }, { "write", "ENOSPC" },
	};
	const char *lg = getenv("XIEZHI_LONG_TESTS");
	int every = lg != NULL && strcmp(lg, "1") == 0;
	long long t0 = xzf_now_ms();

	(void)state;
	for (size_t i = 0; i < sizeof(sweeps) / sizeof(sweeps[0]); i++) {
		int start, total, step;

		count_join_calls(sweeps[i].op, &start, &total);
		print_message("responder: %d %s calls on store.db-wal at start, %d after one "
		    "join and stop\n", start, sweeps[i].op, total);
		assert_true(total > start);
		/* Every N through the join for fsync (few calls); about 8
		 * evenly spaced points for write in the CI form. */
		step = every || strcmp(sweeps[i].op, "fsync") == 0 ? 1 :
		    (total - start + 7) / 8;
		if (step < 1)
			step = 1;
		for (int n = start + 1; n <= total + 1; n += step)
			r_count[responder_case(sweeps[i].op, sweeps[i].err,
			    (unsigned long)n)]++;
	}
	print_message("responder cases in %lld ms:", xzf_now_ms() - t0);
	for (int k = 0; k < R_N; k++)
		print_message(" %s %d;", r_name[k], r_count[k]);
	print_message("\n");
	assert_true(r_count[R_COMPLETED] > 0);
	assert_true(r_count[R_REFUSED_NO_DISCLOSURE] + r_count[R_ABORTED_AFTER_DISCLOSURE] > 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_import_fails_closed),
		cmocka_unit_test(test_responder_fails_closed),
	};

	signal(SIGPIPE, SIG_IGN);
	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
