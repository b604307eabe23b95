/*
 * Crash test (issue 8, "Proving failure behaviour", Crash): the data owner's
 * xiezhid is killed with SIGKILL at a random moment while a real
 * `xiezhi join` runs against it, over and over.  xiezhid is two processes
 * (node/keeper.h): odd-numbered joins kill both at once (a crash: nothing
 * either held in memory survives), even-numbered ones kill only the
 * network process, and the key process must then close the join itself
 * and exit before the checks below run.  After each kill:
 *
 *   - the owner's audit records for the request, read before any restart,
 *     are what survived the kill (nothing the daemon held in memory);
 *   - xiezhid restarts: it must open the store, pass its rollback anchor
 *     check and close a join it was cut off in with join_aborted (logging
 *     "N join(s) were cut off"), and touch nothing else;
 *   - `xiezhi dataset list`, `xiezhi store check` and `xiezhi audit verify`
 *     pass on the owner (and audit verify on the requester);
 *   - when the requester holds a result (its join_completed record, exit 0,
 *     "completed" in its JSON) the owner's log as it stood right after the
 *     kill already holds the disclosure record and join_completed with the
 *     same transcript hash, and the stored rows are exactly the planted
 *     intersection;
 *   - when it holds none, it stored no rows, and the owner has no record,
 *     or nothing after the decision, or an end record (join_aborted, from
 *     the join itself or from crash recovery, or join_completed when the
 *     kill fell between that record and the receipt leaving: over-recording
 *     is safe, under-recording is the bug this test hunts).
 *
 * Planted data: the owner ("tax") holds T00001..T03000 with labels
 * district = D(i%7) and amount = 3*i; the requester ("proc") asks about
 * T02001..T03500, so every completed join stores exactly T02001..T03000.
 *
 * Joins: 8 by default, 200 with XIEZHI_LONG_TESTS=1.  Each kill delay
 * (0..300 ms after the join starts, libsodium randombytes_uniform) is
 * printed; XZT_CRASH_DELAYS=12,250,... replays a given list of delays.
 * XZT_KEEP=1 keeps the node directories.
 */
#include "federation.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>
#include <sqlite3.h>

#include "node.h"

#define OWNER_N 3000
#define ASK_FIRST 2001
#define ASK_LAST 3500
#define MATCHES (OWNER_N - ASK_FIRST + 1)
#define DELAY_MAX_MS 300
#define JOINS_CI 8
#define JOINS_LONG 200
#define MAX_JOINS 1000
#define JOIN_WAIT_MS 60000

static struct {
	char *tmp;
	char owner[4200], req[4200], log[4200];
	pid_t daemon;
	int port;
	char *expect_rows;	/* what a completed join stores, "k|labels\n" lines */
} fx;

/* What one node's audit log says about one request id. */
struct view {
	int received, decision, allow, started, disclosure, completed, aborted;
	int crash_aborted;		/* join_aborted written by crash recovery */
	int n;				/* records */
	unsigned long long seq_disclosure, seq_completed;
	char transcript[65];		/* from join_completed, hex */
	char *text;			/* the JSON as printed, for messages */
};

/* Outcome buckets, counted over the run and printed at the end. */
enum bucket {
	B_COMPLETED, B_NOTHING, B_DECIDED, B_ABORTED, B_RECOVERED, B_RECOVERED_DISCLOSED,
	B_OWNER_ONLY, B_N
};
static const char *const bucket_name[B_N] = {
	"completed on both sides", "no record at the owner", "decided, nothing after",
	"aborted by the join", "aborted by crash recovery before disclosure",
	"aborted by crash recovery after disclosure", "completed at the owner only",
};
static int buckets[B_N];

/* ---- running the programs ---- */

static char *
tpath(const char *name)
{
	return xzt_path(fx.tmp, name);
}

/* ---- the two nodes ---- */

static void
write_csvs(void)
{
	size_t cap = 64 * (OWNER_N + ASK_LAST) + 4096, n;
	char *b = malloc(cap), *p;

	assert_non_null(b);
	n = (size_t)snprintf(b, cap, "code,district,amount\n");
	for (int i = 1; i <= OWNER_N; i++)
		n += (size_t)snprintf(b + n, cap - n, "T%05d,D%d,%d\n", i, i % 7, 3 * i);
	xzt_write_file(p = tpath("owner.csv"), b, n);
	free(p);
	n = (size_t)snprintf(b, cap, "code\n");
	for (int i = ASK_FIRST; i <= ASK_LAST; i++)
		n += (size_t)snprintf(b + n, cap - n, "T%05d\n", i);
	xzt_write_file(p = tpath("ask.csv"), b, n);
	free(p);
	free(b);
}

/* The rows a completed join stores, in key order (see stored_rows). */
static char *
expected_rows(void)
{
	size_t cap = 64 * MATCHES + 1, n = 0;
	char *b = malloc(cap);

	assert_non_null(b);
	b[0] = '\0';
	for (int i = ASK_FIRST; i <= OWNER_N; i++)
		n += (size_t)snprintf(b + n, cap - n,
		    "T%05d|{\"amount\": \"%d\", \"district\": \"D%d\"}\n", i, 3 * i, i % 7);
	return b;
}

static void
write_policy(void)
{
	char *p = xzt_path(fx.owner, "policies/crash.yaml");

	xzf_write_policy(fx.tmp, p,
	    "id: crash\nversion: 1\npurpose: find taxpayers under investigation\n"
	    "legal_basis: Criminal Procedure Law art. 8\nrequester: proc.example\n"
	    "dataset: registry\nkey_column: code\nmodes: [intersect]\n"
	    "labels: [district, amount]\nquery_size: {min: 10, max: 100000}\n"
	    "budget:\n  joins_per_day: 100000\n  elements_per_30_days: 100000000\n"
	    "valid:\n  from: 2020-01-01T00:00:00Z\n  until: 2099-01-01T00:00:00Z\n");
	free(p);
}

/* Starts the owner's daemon and points the requester at it; fails at
 * once, with the log, when the daemon exits instead (a store or anchor
 * it refuses). */
static void
start_daemon(void)
{
	int st = 0;

	fx.port = xzf_start_xiezhid(fx.owner, "1", fx.log, NULL, &fx.daemon, &st);
	if (fx.port == 0) {
		char *t = xzf_log_text(fx.log);
		fail_msg("xiezhid exited at start (status %d); its log:\n%s", st, t);
		free(t);
	}
	xzf_set_peer(fx.req, fx.port);
}

static int
group_setup(void **state)
{
	(void)state;
	fx.tmp = xzt_mkdtemp("crash");
	xzf_node_paths(fx.tmp, sizeof(fx.log), fx.owner, fx.req, fx.log);
	xzf_two_nodes(fx.tmp, fx.owner, fx.req);
	write_csvs();
	xzf_import(fx.tmp, "owner.csv", "registry", fx.owner,
	    (const char *const[]){ "district:text", "amount:int", NULL });
	xzf_import(fx.tmp, "ask.csv", "watch", fx.req, NULL);
	xzf_keygen_approvers(fx.tmp);
	write_policy();
	fx.expect_rows = expected_rows();
	start_daemon();
	return 0;
}

static int
group_teardown(void **state)
{
	int st, rc = 0;

	(void)state;
	if (fx.daemon > 0) {
		/* After all the restarts the daemon still stops cleanly (and,
		 * under ASan, without a leak report turning its status to 1). */
		kill(fx.daemon, SIGTERM);
		if ((st = xzf_wait_child(fx.daemon, 20000)) != 0) {
			size_t len;
			char *t = xzt_read_file(fx.log, &len);
			print_error("xiezhid ended with %d on SIGTERM; its log:\n%s\n", st,
			    t != NULL ? t : "(none)");
			free(t);
			rc = -1;
		}
		fx.daemon = 0;
	}
	if (getenv("XZT_KEEP") == NULL)
		xzt_rmtree(fx.tmp);
	else
		print_message("kept %s\n", fx.tmp);
	free(fx.tmp);
	free(fx.expect_rows);
	return rc;
}

/* ---- requests, results and logs ---- */

static int
is_hex32(const char *s)
{
	for (int i = 0; i < 32; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return 1;
}

/* Creates and fully approves request number i; its id goes to id. */
static char *
make_request(int i, char id[33])
{
	char name[64], pol[4400], *out;
	const char *p = NULL;
	struct xzt_run r;

	snprintf(name, sizeof(name), "req-%04d.yaml", i);
	out = tpath(name);
	snprintf(pol, sizeof(pol), "%s/policies/crash.yaml", fx.owner);
	XZF_RUN(&r, "request", "create", "--out", out, "--from-policy", pol, "--responder",
	    "tax.example", "--mode", "intersect", "--label", "district", "--label", "amount",
	    "--query-size", "1500", "--case-number", "2026-crash");
	if (r.status != 0 || (p = strstr(r.out, "wrote request ")) == NULL ||
	    !is_hex32(p + 14))
		fail_msg("request create: %d %s%s", r.status, r.out, r.err);
	memcpy(id, p + 14, 32);
	id[32] = '\0';
	xzt_run_free(&r);
	xzf_approve(fx.tmp, out, 2);
	return out;
}

/* Rows the requester stored for a request, "k|labels" lines in key order. */
static char *
stored_rows(const char *id_hex, long long *count)
{
	struct xz_node *node = NULL;
	struct xz_diag d;
	sqlite3_stmt *st = NULL;
	size_t cap = 64 * MATCHES + 4096, used = 0;
	char *out = calloc(1, cap);
	unsigned char id[16];

	assert_non_null(out);
	for (int i = 0; i < 16; i++) {
		unsigned v;
		assert_int_equal(sscanf(id_hex + 2 * i, "%2x", &v), 1);
		id[i] = (unsigned char)v;
	}
	if (xz_node_open(fx.req, &node, &d) != 0)
		fail_msg("open the requester's store: %s", d.msg);
	*count = 0;
	if (sqlite3_prepare_v2(xz_node_db(node), "SELECT k, coalesce(labels, '') FROM "
	    "join_result_rows WHERE request_id = ? ORDER BY k", -1, &st, NULL) != SQLITE_OK)
		fail_msg("query join_result_rows: %s", sqlite3_errmsg(xz_node_db(node)));
	sqlite3_bind_blob(st, 1, id, 16, SQLITE_STATIC);
	while (sqlite3_step(st) == SQLITE_ROW) {
		if (used + 256 < cap)
			used += (size_t)snprintf(out + used, cap - used, "%s|%s\n",
			    (const char *)sqlite3_column_text(st, 0),
			    (const char *)sqlite3_column_text(st, 1));
		(*count)++;
	}
	sqlite3_finalize(st);
	xz_node_close(node);
	return out;
}

/* Copies the JSON string value of "key":"..." in line (no escapes needed
 * for the values read here: type names, hex, reasons we match by prefix). */
static int
json_str(const char *line, const char *key, char *buf, size_t cap)
{
	char pat[64];
	const char *p, *e;

	snprintf(pat, sizeof(pat), "\"%s\":\"", key);
	if ((p = strstr(line, pat)) == NULL)
		return -1;
	p += strlen(pat);
	if ((e = strchr(p, '"')) == NULL || (size_t)(e - p) >= cap)
		return -1;
	memcpy(buf, p, (size_t)(e - p));
	buf[e - p] = '\0';
	return 0;
}

static void
view_line(struct view *v, const char *line)
{
	char type[64], h[80], why[200];
	unsigned long long seq;

	if (strncmp(line, "{\"seq\":", 7) != 0)
		return;
	seq = strtoull(line + 7, NULL, 10);
	if (json_str(line, "type", type, sizeof(type)) != 0)
		fail_msg("audit record without a type: %s", line);
	v->n++;
	if (strcmp(type, "request_received") == 0) {
		v->received++;
	} else if (strcmp(type, "decision") == 0) {
		v->decision++;
		v->allow += strstr(line, "\"outcome\":\"allow\"") != NULL;
	} else if (strcmp(type, "join_started") == 0) {
		v->started++;
	} else if (strcmp(type, "disclosure") == 0) {
		v->disclosure++;
		v->seq_disclosure = seq;
	} else if (strcmp(type, "join_completed") == 0) {
		v->completed++;
		v->seq_completed = seq;
		if (json_str(line, "transcript", h, sizeof(h)) == 0 && strlen(h) == 64)
			memcpy(v->transcript, h, 65);
	} else if (strcmp(type, "join_aborted") == 0) {
		v->aborted++;
		if (json_str(line, "reason", why, sizeof(why)) == 0 &&
		    strncmp(why, "the node stopped during the join", 32) == 0)
			v->crash_aborted++;
	}
}

/* `xiezhi audit log --dir DIR --request ID --json`, tallied. */
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
	    line = strtok_r(NULL, "\n", &save))
		view_line(v, line);
	xzt_run_free(&r);
}

static int
log_has(const char *needle)
{
	size_t len;
	char *t = xzt_read_file(fx.log, &len);
	int n = t != NULL && strstr(t, needle) != NULL;

	free(t);
	return n;
}

/* The owner's store opens and checks page by page and its audit log
 * verifies; `when` says at which point, for the message.  Run both right
 * after the kill (the state the kill left, before xiezhid touched it) and
 * after the restart. */
static void
check_owner_store(int i, const char *when)
{
	struct xzt_run r;
	char what[128];

	XZF_RUN(&r, "dataset", "list", "--dir", fx.owner);
	if (r.status != 0 || strstr(r.out, "registry") == NULL)
		fail_msg("join %d: dataset list on the owner %s: %d %s%s", i, when, r.status,
		    r.out, r.err);
	xzt_run_free(&r);
	snprintf(what, sizeof(what), "join %d: store check on the owner %s", i, when);
	XZF_RUN(&r, "store", "check", "--dir", fx.owner); xzf_must(&r, what);
	snprintf(what, sizeof(what), "join %d: audit verify on the owner %s", i, when);
	XZF_RUN(&r, "audit", "verify", "--dir", fx.owner); xzf_must(&r, what);
}

/* Record-level rules for one request at the owner, whatever happened:
 * each record at most once, in protocol order, and (once the daemon has
 * restarted) every started join closed by exactly one end record. */
static void
check_owner_shape(int i, const struct view *o, int restarted)
{
	int ends = o->completed + o->aborted;

	if (o->received > 1 || o->decision > 1 || o->started > 1 || o->disclosure > 1 ||
	    ends > 1)
		fail_msg("join %d: a record repeats at the owner:\n%s", i, o->text);
	if ((o->decision && !o->received) || (o->started && !o->allow) ||
	    (o->disclosure && !o->started) || (ends && !o->started) ||
	    (o->completed && !o->disclosure))
		fail_msg("join %d: owner records out of protocol order:\n%s", i, o->text);
	if (o->decision && !o->allow)
		fail_msg("join %d: the owner refused a valid request:\n%s", i, o->text);
	if (o->completed && o->seq_disclosure > o->seq_completed)
		fail_msg("join %d: disclosure recorded after join_completed:\n%s", i, o->text);
	if (restarted && o->started && ends != 1)
		fail_msg("join %d: a started join is still open after the restart:\n%s", i,
		    o->text);
}

/* Classifies and checks what the requester got against the owner's log as
 * it stood right after the kill (pre) and after the restart (post). */
static enum bucket
check_outcome(int i, const char *id, int status, const char *out, const struct view *pre,
    const struct view *post)
{
	struct view rq;
	long long n;
	char *rows;
	int done;

	view_of(fx.req, id, &rq);
	done = rq.completed == 1;
	if (done != (status == 0) || done != (strstr(out, "\"outcome\": \"completed\"") != NULL))
		fail_msg("join %d: exit %d, requester log and output disagree:\n%s\n%s", i,
		    status, out, rq.text);
	rows = stored_rows(id, &n);
	if (done) {
		/* The heart of the test: what the requester holds was recorded
		 * durably by the owner before the kill, not at the restart. */
		if (pre->disclosure != 1 || pre->completed != 1)
			fail_msg("join %d: the requester holds a result but the owner's log "
			    "after the kill has no disclosure/join_completed:\n%s", i, pre->text);
		if (strcmp(pre->transcript, rq.transcript) != 0)
			fail_msg("join %d: transcripts differ: owner %s, requester %s", i,
			    pre->transcript, rq.transcript);
		assert_int_equal(n, MATCHES);
		assert_string_equal(rows, fx.expect_rows);
	} else if (n != 0) {
		fail_msg("join %d: no join_completed at the requester but %lld rows stored",
		    i, n);
	}
	free(rows);
	free(rq.text);
	if (done)
		return B_COMPLETED;
	if (post->n == 0)
		return B_NOTHING;
	if (!post->started)
		return B_DECIDED;
	if (post->completed)
		return B_OWNER_ONLY;
	if (!post->crash_aborted)
		return B_ABORTED;
	return post->disclosure ? B_RECOVERED_DISCLOSED : B_RECOVERED;
}

/* One join with a kill: returns the bucket it ended in. */
static enum bucket
crash_one(int i, unsigned delay)
{
	char id[33], *req = make_request(i, id), *out, *err, *text;
	char oname[64], ename[64];
	const char *argv[] = { xzt_xiezhi_bin(), "join", "--peer", "tax", "--request", req,
	    "--dataset", "watch", "--key", "code", "--json", "--dir", fx.req, NULL };
	struct view pre, post;
	struct xzt_run r;
	char what[64];
	int status, dangling;
	enum bucket b;
	size_t len;
	pid_t pid;

	snprintf(oname, sizeof(oname), "join-%04d.out", i);
	snprintf(ename, sizeof(ename), "join-%04d.err", i);
	out = tpath(oname);
	err = tpath(ename);
	pid = xzf_spawn(argv, NULL, out, err);
	usleep((useconds_t)delay * 1000);
	if (i % 2 == 1) {
		/* The node crashes: both of xiezhid's processes at once. */
		xzf_kill_node(fx.daemon);
	} else {
		/* Only the network process dies: the key process must close the
		 * join itself and exit (it is not our child: watch it go). */
		pid_t keeper = xzf_keeper_pid(fx.daemon);
		assert_true(keeper > 0);
		assert_int_equal(kill(fx.daemon, SIGKILL), 0);
		if (xzf_wait_gone(keeper, 30000) != 0)
			fail_msg("join %d: the key process did not stop after the network "
			    "process was killed", i);
	}
	assert_int_equal(xzf_wait_child(fx.daemon, 10000), 128 + SIGKILL);
	fx.daemon = 0;
	status = xzf_wait_child(pid, JOIN_WAIT_MS);
	text = xzt_read_file(out, &len);
	if (status != 0 && status != 1) {
		char *e = xzt_read_file(err, &len);
		fail_msg("join %d: xiezhi join ended with %d (hung or crashed): %s%s", i, status,
		    text != NULL ? text : "", e != NULL ? e : "");
	}
	/* The owner's records as the kill left them. */
	check_owner_store(i, "after the kill");
	view_of(fx.owner, id, &pre);
	check_owner_shape(i, &pre, 0);
	dangling = pre.started && pre.completed + pre.aborted == 0;

	start_daemon();
	if (dangling != log_has("1 join(s) were cut off by the last stop"))
		fail_msg("join %d: join %s open after the kill, but the restarted daemon %s",
		    i, dangling ? "was" : "was not", dangling ? "closed none" : "closed one");
	view_of(fx.owner, id, &post);
	check_owner_shape(i, &post, 1);
	if (dangling) {
		if (post.crash_aborted != 1 || post.n != pre.n + 1)
			fail_msg("join %d: crash recovery did not add exactly one join_aborted:"
			    "\n%s", i, post.text);
	} else if (strcmp(pre.text, post.text) != 0) {
		fail_msg("join %d: the restart changed a closed join's records:\n%s\n%s", i,
		    pre.text, post.text);
	}
	check_owner_store(i, "after the restart");
	snprintf(what, sizeof(what), "join %d: audit verify on the requester", i);
	XZF_RUN(&r, "audit", "verify", "--dir", fx.req); xzf_must(&r, what);
	b = check_outcome(i, id, status, text != NULL ? text : "", &pre, &post);
	print_message("join %3d: kill after %3u ms: %s\n", i, delay, bucket_name[b]);
	free(pre.text); free(post.text); free(text);
	unlink(req);
	free(req); free(out); free(err);
	return b;
}

/* ---- tests ---- */

/* A join with no kill completes; its duration shows the kill window
 * (0..300 ms) covers a join from start to finish. */
static void
test_join_without_kill_completes(void **state)
{
	char id[33], *req = make_request(0, id), *rows;
	struct view o;
	struct xzt_run r;
	long long t0 = xzf_now_ms(), n;

	(void)state;
	XZF_RUN(&r, "join", "--peer", "tax", "--request", req, "--dataset", "watch", "--key", "code",
	    "--json", "--dir", fx.req);
	if (r.status != 0)
		fail_msg("join: %d %s%s", r.status, r.out, r.err);
	print_message("an uninterrupted join takes %lld ms\n", xzf_now_ms() - t0);
	assert_non_null(strstr(r.out, "\"outcome\": \"completed\""));
	xzt_run_free(&r);
	rows = stored_rows(id, &n);
	assert_int_equal(n, MATCHES);
	assert_string_equal(rows, fx.expect_rows);
	view_of(fx.owner, id, &o);
	check_owner_shape(0, &o, 1);
	assert_int_equal(o.disclosure, 1);
	assert_int_equal(o.completed, 1);
	free(o.text); free(rows); free(req);
}

/* Reads XZT_CRASH_DELAYS ("12,250,...") into delays; returns the count, 0
 * when unset.  Strict: anything but comma-separated numbers <= 300 fails. */
static int
replay_delays(unsigned *delays, int cap)
{
	const char *s = getenv("XZT_CRASH_DELAYS");
	int n = 0;

	if (s == NULL || *s == '\0')
		return 0;
	while (*s != '\0') {
		char *end;
		unsigned long v;

		errno = 0;
		if (*s < '0' || *s > '9' || n == cap)
			fail_msg("XZT_CRASH_DELAYS: expected up to %d comma-separated "
			    "milliseconds, at '%s'", cap, s);
		v = strtoul(s, &end, 10);
		if (errno != 0 || v > DELAY_MAX_MS || (*end != ',' && *end != '\0'))
			fail_msg("XZT_CRASH_DELAYS: '%s' is not 0..%d ms", s, DELAY_MAX_MS);
		delays[n++] = (unsigned)v;
		s = *end == ',' ? end + 1 : end;
	}
	return n;
}

static void
test_sigkill_at_random_points(void **state)
{
	static unsigned delays[MAX_JOINS];
	const char *lg = getenv("XIEZHI_LONG_TESTS");
	int joins = replay_delays(delays, MAX_JOINS);
	long long t0 = xzf_now_ms();

	(void)state;
	if (joins == 0) {
		joins = lg != NULL && strcmp(lg, "1") == 0 ? JOINS_LONG : JOINS_CI;
		for (int i = 0; i < joins; i++)
			delays[i] = randombytes_uniform(DELAY_MAX_MS + 1);
	}
	for (int i = 1; i <= joins; i++)
		buckets[crash_one(i, delays[i - 1])]++;
	print_message("%d kills in %lld ms:", joins, xzf_now_ms() - t0);
	for (int b = 0; b < B_N; b++)
		print_message(" %s %d;", bucket_name[b], buckets[b]);
	print_message("\nreplay with XZT_CRASH_DELAYS=");
	for (int i = 0; i < joins; i++)
		print_message("%s%u", i > 0 ? "," : "", delays[i]);
	print_message("\n");
}

/* After all the kills the daemon still serves, and the two audit logs
 * pair up as the buckets say (`xiezhi audit crosscheck`): both sides closed
 * the same joins the same way, except that a join the owner never heard of
 * is only in the requester's log and one the owner completed without the
 * receipt arriving differs.  Nothing may be in the owner's log alone. */
static void
test_logs_pair_up_after_crashes(void **state)
{
	char id[33], *req = make_request(MAX_JOINS + 1, id), *rows, want[256];
	char *a = tpath("tax.export"), *b = tpath("proc.export");
	struct xzt_run r;
	long long n;
	int agree, only_req, differ;

	(void)state;
	XZF_RUN(&r, "join", "--peer", "tax", "--request", req, "--dataset", "watch", "--key", "code",
	    "--json", "--dir", fx.req);
	if (r.status != 0)
		fail_msg("join after the crashes: %d %s%s", r.status, r.out, r.err);
	xzt_run_free(&r);
	rows = stored_rows(id, &n);
	assert_int_equal(n, MATCHES);
	assert_string_equal(rows, fx.expect_rows);
	XZF_RUN(&r, "audit", "export", "--out", a, "--dir", fx.owner); xzf_must(&r, "export owner");
	XZF_RUN(&r, "audit", "export", "--out", b, "--dir", fx.req); xzf_must(&r, "export requester");
	XZF_RUN(&r, "audit", "crosscheck", a, b);
	/* +2: the join before the kills and the one just run. */
	agree = 2 + buckets[B_COMPLETED] + buckets[B_ABORTED] + buckets[B_RECOVERED] +
	    buckets[B_RECOVERED_DISCLOSED];
	only_req = buckets[B_NOTHING] + buckets[B_DECIDED];
	differ = buckets[B_OWNER_ONLY];
	snprintf(want, sizeof(want), ": %d agree, 0 only in tax, %d only in proc, %d differ\n",
	    agree, only_req, differ);
	if (strstr(r.out, want) == NULL || r.status != (only_req + differ > 0 ? 1 : 0))
		fail_msg("crosscheck: expected '%s' (exit %d), got %d:\n%s%s", want,
		    only_req + differ > 0, r.status, r.out, r.err);
	xzt_run_free(&r);
	free(rows); free(req); free(a); free(b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_join_without_kill_completes),
		cmocka_unit_test(test_sigkill_at_random_points),
		cmocka_unit_test(test_logs_pair_up_after_crashes),
	};

	signal(SIGPIPE, SIG_IGN);
	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
