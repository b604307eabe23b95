/*
 * Key isolation (issue 8, "Key isolation"): xiezhid's network process never
 * holds the node's keys or its data; the key process does (node/keeper.h).
 *
 * A real two-node federation (tests/support/federation.h): the owner "tax"
 * runs a real xiezhid, the requester "proc" runs real `xiezhi join`s.  The
 * owner's dataset has random identifiers and label values made for this
 * run, so no byte string searched for can be in any process by chance.
 * The whole writable memory of the network process (/proc/PID/maps and
 * /proc/PID/mem) is searched before any join, while a join is in progress
 * and after it, for:
 *
 *   - the store key: the 32 raw bytes of tax/keys/store.key (node/node.c
 *     writes it raw), its hex (both cases, as SQLCipher's x'...' key form
 *     spells it) and base64;
 *   - the node signing key: the 32-byte Ed25519 seed of tax/keys/node.key,
 *     its hex and base64, and the 64-byte libsodium secret key made from it;
 *   - plaintext of the dataset: identifiers the requester does not ask for,
 *     identifiers it does ask for (and learns), label values.
 *
 * None may be found.  So that the search can fail, the same search over the
 * key process must find the store key (it holds the store open all the
 * time) and, during the join, the dataset identifiers (it has the dataset
 * in memory then); and the joins must return exactly the planted
 * intersection with its labels.  The network process must also have no
 * file of the node directory open.
 *
 * The OPRF key is drawn at random inside the PSI engine for each join and
 * no test can know it.  The argument is structural: the engine is built
 * only by the key process (node/keeper.c, engine_new) and the network
 * process's code (node/responder.c) never creates one; the key never
 * leaves the key process, which hands out only engine messages; and the
 * dataset that the key is applied to is shown above not to be in the
 * network process either.
 *
 * The requester side is checked too: `xiezhi join` calls the peer through
 * a child (node/netproc.h) that must hold none of the requester's keys,
 * asked identifiers or received labels while the join runs.
 *
 * Reading another process's memory needs ptrace access; both processes are
 * non-dumpable, so that takes root with CAP_SYS_PTRACE (as in CI).  Without
 * it the test is skipped, saying so.  Mappings over 16 GiB (the shadow of
 * sanitizer builds) are not read: they hold no program data.
 */
#include "federation.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sodium.h>
#include <sqlite3.h>

#include "node.h"

#define OWNER_N		30000
#define ASK_MATCHED	15000		/* owner rows OWNER_N - ASK_MATCHED .. OWNER_N - 1 */
#define ASK_EXTRA	5000		/* identifiers the owner does not have */
#define QUERY_SIZE	"20000"
#define ID_LEN		18		/* "XZ" + 16 hex digits */
#define SKIP_MAPPING	(16ULL << 30)
#define CHUNK		(1u << 20)
#define MAX_NEEDLES	24
#define JOIN_WAIT_MS	300000

static struct {
	char *tmp;
	char owner[4200], req[4200], log[4200];
	pid_t daemon;
	int port;
	char (*ids)[ID_LEN + 1];	/* the owner's identifiers */
	char (*labels)[16];		/* their district label values */
	uint8_t store_key[32], seed[32], sk[64];
	int nreq;
} fx;

struct needle {
	const char *what;
	uint8_t bytes[128];
	size_t len;
	int found;
};

struct needles {
	struct needle v[MAX_NEEDLES];
	size_t n;
};

/* ---- set-up ---- */

static void
random_id(char out[ID_LEN + 1], const char *prefix)
{
	uint8_t b[8];

	randombytes_buf(b, sizeof(b));
	snprintf(out, ID_LEN + 1, "%s", prefix);
	sodium_bin2hex(out + 2, ID_LEN - 1, b, sizeof(b));
	for (char *p = out + 2; *p != '\0'; p++)
		if (*p >= 'a' && *p <= 'f')
			*p = (char)(*p - 'a' + 'A');
}

static void
write_csvs(void)
{
	size_t cap = 64 * (size_t)(OWNER_N + ASK_MATCHED + ASK_EXTRA) + 4096, n;
	char *b = malloc(cap), *p, extra[ID_LEN + 1];

	assert_non_null(b);
	n = (size_t)snprintf(b, cap, "code,district,amount\n");
	for (int i = 0; i < OWNER_N; i++) {
		random_id(fx.ids[i], "XZ");
		/* "LB" + 10 hex: a label value nobody types. */
		random_id(extra, "LB");
		snprintf(fx.labels[i], sizeof(fx.labels[i]), "%.12s", extra);
		n += (size_t)snprintf(b + n, cap - n, "%s,%s,%d\n", fx.ids[i], fx.labels[i],
		    3 * i);
	}
	xzt_write_file(p = xzt_path(fx.tmp, "owner.csv"), b, n);
	free(p);
	n = (size_t)snprintf(b, cap, "code\n");
	for (int i = OWNER_N - ASK_MATCHED; i < OWNER_N; i++)
		n += (size_t)snprintf(b + n, cap - n, "%s\n", fx.ids[i]);
	for (int i = 0; i < ASK_EXTRA; i++) {
		random_id(extra, "XZ");
		n += (size_t)snprintf(b + n, cap - n, "%s\n", extra);
	}
	xzt_write_file(p = xzt_path(fx.tmp, "ask.csv"), b, n);
	free(p);
	free(b);
}

static void
read_key_file_in(const char *dir, const char *name, uint8_t *out, size_t len)
{
	char *p = xzt_path(dir, name), *t;
	size_t n;

	t = xzt_read_file(p, &n);
	if (t == NULL || n != len)
		fail_msg("%s: expected %zu raw bytes, got %zu", p, len, t != NULL ? n : 0);
	memcpy(out, t, len);
	sodium_memzero(t, n);
	free(t);
	free(p);
}

static void
read_key_file(const char *name, uint8_t *out, size_t len)
{
	read_key_file_in(fx.owner, name, out, len);
}

static void
write_policy(void)
{
	char *p = xzt_path(fx.owner, "policies/keyiso.yaml");

	xzf_write_policy(fx.tmp, p,
	    "id: keyiso\nversion: 1\npurpose: find taxpayers under investigation\n"
	    "legal_basis: Criminal Procedure Law art. 8\nrequester: proc.example\n"
	    "dataset: registry\nkey_column: code\nmodes: [intersect, cardinality]\n"
	    "labels: [district, amount]\nquery_size: {min: 10, max: 100000}\n"
	    "budget:\n  joins_per_day: 100000\n  elements_per_30_days: 100000000\n"
	    "valid:\n  from: 2020-01-01T00:00:00Z\n  until: 2099-01-01T00:00:00Z\n");
	free(p);
}

static int
group_setup(void **state)
{
	uint8_t pk[32];
	int st = 0;

	(void)state;
	fx.tmp = xzt_mkdtemp("keyiso");
	fx.ids = calloc(OWNER_N, sizeof(*fx.ids));
	fx.labels = calloc(OWNER_N, sizeof(*fx.labels));
	assert_true(fx.ids != NULL && fx.labels != NULL);
	xzf_node_paths(fx.tmp, sizeof(fx.log), fx.owner, fx.req, fx.log);
	xzf_two_nodes(fx.tmp, fx.owner, fx.req);
	write_csvs();
	xzf_import(fx.tmp, "owner.csv", "registry", fx.owner,
	    (const char *const[]){ "district:text", "amount:int", NULL });
	xzf_import(fx.tmp, "ask.csv", "watch", fx.req, NULL);
	xzf_keygen_approvers(fx.tmp);
	write_policy();
	read_key_file("keys/store.key", fx.store_key, 32);
	read_key_file("keys/node.key", fx.seed, 32);
	crypto_sign_seed_keypair(pk, fx.sk, fx.seed);
	fx.port = xzf_start_xiezhid(fx.owner, "2", fx.log, NULL, &fx.daemon, &st);
	if (fx.port == 0) {
		char *t = xzf_log_text(fx.log);
		fail_msg("xiezhid exited at start (%d): %s", st, t);
	}
	xzf_set_peer(fx.req, fx.port);
	return 0;
}

static int
group_teardown(void **state)
{
	int rc = 0;

	(void)state;
	if (fx.daemon > 0) {
		kill(fx.daemon, SIGTERM);
		if (xzf_wait_child(fx.daemon, 60000) != 0) {
			char *t = xzf_log_text(fx.log);
			print_error("xiezhid did not stop cleanly; its log:\n%s\n", t);
			free(t);
			rc = -1;
		}
	}
	if (getenv("XZT_KEEP") == NULL)
		xzt_rmtree(fx.tmp);
	sodium_memzero(fx.store_key, sizeof(fx.store_key));
	sodium_memzero(fx.seed, sizeof(fx.seed));
	sodium_memzero(fx.sk, sizeof(fx.sk));
	free(fx.tmp);
	free(fx.ids);
	free(fx.labels);
	return rc;
}

/* ---- what is searched for ---- */

static void
add(struct needles *ns, const char *what, const void *p, size_t len)
{
	struct needle *nd = &ns->v[ns->n++];

	assert_true(ns->n <= MAX_NEEDLES && len <= sizeof(nd->bytes));
	nd->what = what;
	memcpy(nd->bytes, p, len);
	nd->len = len;
	nd->found = 0;
}

static void
add_key_forms(struct needles *ns, const char *what, const uint8_t key[32])
{
	static char names[2][4][64];
	char hex[65], b64[64];
	int slot = strcmp(what, "store key") == 0 ? 0 : 1;

	snprintf(names[slot][0], 64, "%s (raw)", what);
	snprintf(names[slot][1], 64, "%s (hex)", what);
	snprintf(names[slot][2], 64, "%s (HEX)", what);
	snprintf(names[slot][3], 64, "%s (base64)", what);
	add(ns, names[slot][0], key, 32);
	sodium_bin2hex(hex, sizeof(hex), key, 32);
	add(ns, names[slot][1], hex, 64);
	for (char *p = hex; *p != '\0'; p++)
		if (*p >= 'a' && *p <= 'f')
			*p = (char)(*p - 'a' + 'A');
	add(ns, names[slot][2], hex, 64);
	sodium_bin2base64(b64, sizeof(b64), key, 32, sodium_base64_VARIANT_ORIGINAL);
	add(ns, names[slot][3], b64, strlen(b64));
	sodium_memzero(hex, sizeof(hex));
	sodium_memzero(b64, sizeof(b64));
}

/* Keys: indexes 0..3 store key, 4..7 seed, 8 secret key.  Data from 9 on. */
#define N_STORE_RAW	0
#define N_DATA_FIRST	9

static void
all_needles(struct needles *ns)
{
	ns->n = 0;
	add_key_forms(ns, "store key", fx.store_key);
	add_key_forms(ns, "signing key seed", fx.seed);
	add(ns, "signing secret key (64 bytes)", fx.sk, 64);
	/* Identifiers never asked for, identifiers asked for and matched, and
	 * label values; the separator-free value is what a record holds. */
	add(ns, "identifier not asked for", fx.ids[0], ID_LEN);
	add(ns, "identifier not asked for", fx.ids[1], ID_LEN);
	add(ns, "identifier not asked for", fx.ids[OWNER_N / 2], ID_LEN);
	add(ns, "identifier asked for", fx.ids[OWNER_N - 1], ID_LEN);
	add(ns, "identifier asked for", fx.ids[OWNER_N - ASK_MATCHED], ID_LEN);
	add(ns, "label value", fx.labels[2], strlen(fx.labels[2]));
	add(ns, "label value", fx.labels[OWNER_N - 2], strlen(fx.labels[OWNER_N - 2]));
}

/* ---- reading a process's memory ---- */

struct scan {
	unsigned long long bytes, mappings, skipped;
};

/*
 * Searches every readable and writable mapping of pid for the needles.
 * Returns 0, or -1 when /proc/PID/mem cannot be opened (no ptrace access).
 */
static int
scan_process(pid_t pid, struct needles *ns, struct scan *sc)
{
	char path[64], *maps, *line, *save = NULL;
	size_t len, maxn = 0;
	uint8_t *buf;
	int fd;

	memset(sc, 0, sizeof(*sc));
	for (size_t i = 0; i < ns->n; i++) {
		ns->v[i].found = 0;
		if (ns->v[i].len > maxn)
			maxn = ns->v[i].len;
	}
	snprintf(path, sizeof(path), "/proc/%d/mem", (int)pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return -1;
	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	maps = xzt_read_file(path, &len);
	assert_non_null(maps);
	buf = malloc(CHUNK + maxn);
	assert_non_null(buf);
	for (line = strtok_r(maps, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		unsigned long long start, end;
		char perms[8] = "";
		size_t carry = 0;

		if (sscanf(line, "%llx-%llx %7s", &start, &end, perms) != 3 ||
		    perms[0] != 'r' || perms[1] != 'w' || strstr(line, "[vvar") != NULL ||
		    strstr(line, "[vsyscall]") != NULL)
			continue;
		if (end - start > SKIP_MAPPING) {
			sc->skipped++;
			continue;
		}
		sc->mappings++;
		for (unsigned long long at = start; at < end;) {
			size_t want = end - at > CHUNK ? CHUNK : (size_t)(end - at);
			ssize_t got = pread(fd, buf + carry, want, (off_t)at);
			if (got <= 0) {
				/* A page gone or unreadable (guard page): go on past it. */
				at += 4096;
				carry = 0;
				continue;
			}
			sc->bytes += (unsigned long long)got;
			for (size_t i = 0; i < ns->n; i++)
				if (!ns->v[i].found &&
				    xzt_memmem(buf, carry + (size_t)got, ns->v[i].bytes, ns->v[i].len))
					ns->v[i].found = 1;
			/* Keep the tail: a needle may straddle two chunks. */
			{
				size_t tot = carry + (size_t)got, keep = tot < maxn - 1 ? tot : maxn - 1;
				memmove(buf, buf + tot - keep, keep);
				carry = keep;
			}
			at += (unsigned long long)got;
		}
	}
	sodium_memzero(buf, CHUNK + maxn);
	free(buf);
	free(maps);
	close(fd);
	return 0;
}

/* Scans pid or skips the test when memory cannot be read here. */
static void
scan_or_skip(pid_t pid, const char *who, struct needles *ns)
{
	struct scan sc;

	if (scan_process(pid, ns, &sc) != 0) {
		print_message("cannot read /proc/%d/mem of the %s (%s): reading a "
		    "non-dumpable process needs root with CAP_SYS_PTRACE; skipped\n", (int)pid,
		    who, strerror(errno));
		skip();
	}
	print_message("  %s (pid %d): %llu MiB in %llu mappings searched (%llu over "
	    "16 GiB not read)\n", who, (int)pid, sc.bytes >> 20, sc.mappings, sc.skipped);
	assert_true(sc.bytes > 0);
}

static void
assert_none_found(const struct needles *ns, const char *who, const char *when)
{
	for (size_t i = 0; i < ns->n; i++)
		if (ns->v[i].found)
			fail_msg("the %s holds the %s %s", who, ns->v[i].what, when);
}

static int
any_data_found(const struct needles *ns)
{
	for (size_t i = N_DATA_FIRST; i < ns->n; i++)
		if (ns->v[i].found)
			return 1;
	return 0;
}

/* The network process has no file of the node directory open. */
static void
assert_no_node_files(pid_t pid, const char *dir, int want)
{
	char path[64], link[4400], target[4400];
	struct dirent *de;
	DIR *d;
	int seen = 0;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	assert_non_null(d = opendir(path));
	while ((de = readdir(d)) != NULL) {
		ssize_t n;
		if (de->d_name[0] == '.')
			continue;
		snprintf(link, sizeof(link), "%s/%s", path, de->d_name);
		if ((n = readlink(link, target, sizeof(target) - 1)) <= 0)
			continue;
		target[n] = '\0';
		if (strncmp(target, dir, strlen(dir)) == 0 && target[strlen(dir)] == '/') {
			if (!want)
				fail_msg("the network process has %s open", target);
			seen |= strstr(target, "/store.db") != NULL;
		}
	}
	closedir(d);
	if (want && !seen)
		fail_msg("the key process does not have the store open");
}

/* ---- joins ---- */

static char *
make_request(const char *mode, int labels)
{
	char name[64], pol[4400], *out;
	struct xzt_run r;

	snprintf(name, sizeof(name), "req-%d.yaml", ++fx.nreq);
	out = xzt_path(fx.tmp, name);
	snprintf(pol, sizeof(pol), "%s/policies/keyiso.yaml", fx.owner);
	if (labels)
		XZF_RUN(&r, "request", "create", "--out", out, "--from-policy", pol,
		    "--responder", "tax.example", "--mode", mode, "--label", "district",
		    "--label", "amount", "--query-size", QUERY_SIZE, "--case-number", "2026-ki");
	else
		XZF_RUN(&r, "request", "create", "--out", out, "--from-policy", pol,
		    "--responder", "tax.example", "--mode", mode, "--query-size", QUERY_SIZE,
		    "--case-number", "2026-ki");
	xzf_must(&r, "request create");
	xzf_approve(fx.tmp, out, 2);
	return out;
}

static int
log_count(const char *needle)
{
	char *t = xzf_log_text(fx.log), *p = t;
	int n = 0;

	while ((p = strstr(p, needle)) != NULL) {
		n++;
		p++;
	}
	free(t);
	return n;
}

/* Three stored rows of the result, checked against the planted labels. */
static void
check_stored_rows(const char *json)
{
	const char *p = strstr(json, "\"request_id\": \"");
	unsigned char id[16];
	struct xz_node *node = NULL;
	struct xz_diag d;
	sqlite3_stmt *st = NULL;
	long long n = 0;

	assert_non_null(p);
	for (int i = 0; i < 16; i++) {
		unsigned v;
		assert_int_equal(sscanf(p + 15 + 2 * i, "%2x", &v), 1);
		id[i] = (unsigned char)v;
	}
	if (xz_node_open(fx.req, &node, &d) != 0)
		fail_msg("open the requester's store: %s", d.msg);
	assert_int_equal(sqlite3_prepare_v2(xz_node_db(node), "SELECT k, labels FROM "
	    "join_result_rows WHERE request_id = ? AND k IN (?, ?, ?)", -1, &st, NULL),
	    SQLITE_OK);
	sqlite3_bind_blob(st, 1, id, 16, SQLITE_STATIC);
	for (int i = 0; i < 3; i++)
		sqlite3_bind_text(st, 2 + i, fx.ids[OWNER_N - 1 - 1000 * i], -1, SQLITE_STATIC);
	while (sqlite3_step(st) == SQLITE_ROW) {
		const char *k = (const char *)sqlite3_column_text(st, 0);
		const char *l = (const char *)sqlite3_column_text(st, 1);
		int i = -1;
		char want[128];
		for (int c = 0; c < 3; c++)
			if (strcmp(k, fx.ids[OWNER_N - 1 - 1000 * c]) == 0)
				i = OWNER_N - 1 - 1000 * c;
		assert_true(i >= 0);
		snprintf(want, sizeof(want), "{\"amount\": \"%d\", \"district\": \"%s\"}", 3 * i,
		    fx.labels[i]);
		assert_string_equal(l, want);
		n++;
	}
	sqlite3_finalize(st);
	xz_node_close(node);
	assert_int_equal(n, 3);
}

/* ---- tests ---- */

/* Started and idle: the network process holds no key; the key process
 * holds the store key and has the store open. */
static void
test_idle_front_holds_no_keys(void **state)
{
	struct needles ns;
	pid_t keeper = xzf_keeper_pid(fx.daemon);

	(void)state;
	assert_true(keeper > 0);
	all_needles(&ns);
	assert_no_node_files(fx.daemon, fx.owner, 0);
	assert_no_node_files(keeper, fx.owner, 1);
	scan_or_skip(fx.daemon, "network process", &ns);
	assert_none_found(&ns, "network process", "after start");
	scan_or_skip(keeper, "key process", &ns);
	if (!ns.v[N_STORE_RAW].found)
		fail_msg("positive control: the key process's memory does not show the store "
		    "key, so the search cannot be trusted");
}

/*
 * During and after a real intersect join with labels: nothing of the keys
 * or the data in the network process; the data is in the key process
 * during the join (the search sees it); the join returns the planted rows.
 */
static void
test_join_front_holds_no_keys_or_data(void **state)
{
	char *out = xzt_path(fx.tmp, "join.out"), *err = xzt_path(fx.tmp, "join.err");
	struct needles ns;
	pid_t keeper = xzf_keeper_pid(fx.daemon);
	int mid = 0;

	(void)state;
	assert_true(keeper > 0);
	all_needles(&ns);
	/* A join is short; try again should one end before both searches did. */
	for (int attempt = 0; attempt < 3 && !mid; attempt++) {
		char *req = make_request("intersect", 1), *json;
		const char *argv[] = { xzt_xiezhi_bin(), "join", "--peer", "tax", "--request",
		    req, "--dataset", "watch", "--key", "code", "--json", "--dir", fx.req, NULL };
		int started = log_count("join started"), done = log_count("join completed");
		int status;
		size_t len;
		pid_t pid = xzf_spawn(argv, NULL, out, err);

		for (int i = 0; i < 2000 && log_count("join started") == started; i++)
			usleep(10000);
		assert_int_equal(log_count("join started"), started + 1);
		/* Freeze the requester: the join then waits where it is, with the
		 * dataset in the key process, however long the search takes
		 * (minutes over an ASan build's memory). */
		kill(pid, SIGSTOP);
		scan_or_skip(fx.daemon, "network process, join running", &ns);
		assert_none_found(&ns, "network process", "during a join");
		assert_no_node_files(fx.daemon, fx.owner, 0);
		scan_or_skip(keeper, "key process, join running", &ns);
		mid = log_count("join completed") == done && waitpid(pid, &status, WNOHANG) == 0;
		kill(pid, SIGCONT);
		if (mid && !any_data_found(&ns))
			fail_msg("positive control: the key process's memory does not show the "
			    "dataset during the join, so the search cannot be trusted");
		if (!ns.v[N_STORE_RAW].found)
			fail_msg("positive control: no store key in the key process");
		status = xzf_wait_child(pid, JOIN_WAIT_MS);
		json = xzt_read_file(out, &len);
		if (status != 0 || json == NULL ||
		    strstr(json, "\"outcome\": \"completed\"") == NULL ||
		    strstr(json, "\"result_size\": 15000") == NULL) {
			char *e = xzt_read_file(err, &len);
			fail_msg("join: %d %s%s", status, json != NULL ? json : "",
			    e != NULL ? e : "");
		}
		check_stored_rows(json);
		print_message("  join %d: searched %s it ran\n", attempt + 1,
		    mid ? "while" : "after");
		free(json);
		free(req);
	}
	if (!mid)
		fail_msg("three joins ended before the search; make the dataset bigger");
	/* After the join: still nothing in the network process. */
	scan_or_skip(fx.daemon, "network process, after the join", &ns);
	assert_none_found(&ns, "network process", "after a join");
	free(out);
	free(err);
}

/* Joins of the other modes work through the key process too, and leave
 * the network process as clean. */
static void
test_cardinality_join_and_after(void **state)
{
	char *req = make_request("cardinality", 0);
	struct needles ns;
	struct xzt_run r;

	(void)state;
	XZF_RUN(&r, "join", "--peer", "tax", "--request", req, "--dataset", "watch", "--key",
	    "code", "--json", "--dir", fx.req);
	if (r.status != 0 || strstr(r.out, "\"result_size\": 15000") == NULL)
		fail_msg("cardinality join: %d %s%s", r.status, r.out, r.err);
	xzt_run_free(&r);
	all_needles(&ns);
	scan_or_skip(fx.daemon, "network process, after a cardinality join", &ns);
	assert_none_found(&ns, "network process", "after a cardinality join");
	free(req);
}

/* The requester's network process: the child of pid named xiezhi-net. */
static pid_t
net_child(pid_t pid)
{
	char path[64], *t;
	size_t len;
	pid_t child = 0;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/children", (int)pid, (int)pid);
	if ((t = xzt_read_file(path, &len)) == NULL)
		return 0;
	for (char *save = NULL, *w = strtok_r(t, " \n", &save); w != NULL && child == 0;
	    w = strtok_r(NULL, " \n", &save)) {
		char comm[64], *c;
		snprintf(path, sizeof(path), "/proc/%s/comm", w);
		if ((c = xzt_read_file(path, &len)) != NULL &&
		    strncmp(c, "xiezhi-net", 10) == 0)
			child = (pid_t)atoi(w);
		free(c);
		(void)comm;
	}
	free(t);
	return child;
}

/*
 * The requester's side (node/netproc.h): `xiezhi join` talks to the peer
 * through a child it forks before it opens its store.  While the join
 * runs, that child must hold none of the requester's keys, none of the
 * identifiers it asks about and none of the labels it receives (those
 * arrive sealed and are opened by the parent); the parent, which holds
 * the store open, must show its store key (positive control).
 */
static void
test_requester_network_process_holds_no_keys(void **state)
{
	char *out = xzt_path(fx.tmp, "rjoin.out"), *err = xzt_path(fx.tmp, "rjoin.err");
	uint8_t rkey[32], rseed[32], rsk[64], pk[32];
	struct needles ns;
	int mid = 0;

	(void)state;
	read_key_file_in(fx.req, "keys/store.key", rkey, 32);
	read_key_file_in(fx.req, "keys/node.key", rseed, 32);
	crypto_sign_seed_keypair(pk, rsk, rseed);
	ns.n = 0;
	add_key_forms(&ns, "store key", rkey);
	add_key_forms(&ns, "signing key seed", rseed);
	add(&ns, "signing secret key (64 bytes)", rsk, 64);
	add(&ns, "identifier asked for", fx.ids[OWNER_N - 1], ID_LEN);
	add(&ns, "identifier asked for", fx.ids[OWNER_N - ASK_MATCHED], ID_LEN);
	add(&ns, "label value received", fx.labels[OWNER_N - 2], strlen(fx.labels[OWNER_N - 2]));
	add(&ns, "label value received", fx.labels[OWNER_N - 3], strlen(fx.labels[OWNER_N - 3]));
	for (int attempt = 0; attempt < 3 && !mid; attempt++) {
		char *req = make_request("intersect", 1), *json;
		const char *argv[] = { xzt_xiezhi_bin(), "join", "--peer", "tax", "--request",
		    req, "--dataset", "watch", "--key", "code", "--json", "--dir", fx.req, NULL };
		int started = log_count("join started"), done = log_count("join completed");
		int status;
		size_t len;
		pid_t pid = xzf_spawn(argv, NULL, out, err), net;

		for (int i = 0; i < 2000 && log_count("join started") == started; i++)
			usleep(10000);
		assert_int_equal(log_count("join started"), started + 1);
		/*
		 * Freeze the join where it is: the network process then waits on
		 * its parent and keeps its state for as long as the search takes
		 * (minutes over an ASan build's memory).  A join that ended first
		 * has no network process left: try again.
		 */
		kill(pid, SIGSTOP);
		net = net_child(pid);
		mid = net > 0 && log_count("join completed") == done;
		if (mid) {
			assert_no_node_files(net, fx.req, 0);
			scan_or_skip(net, "requester's network process, join running", &ns);
			assert_none_found(&ns, "requester's network process", "during a join");
			scan_or_skip(pid, "requester (xiezhi join), join running", &ns);
			if (!ns.v[N_STORE_RAW].found)
				fail_msg("positive control: the requester's store key is not in "
				    "the memory of xiezhi join, so the search cannot be trusted");
		}
		kill(pid, SIGCONT);
		status = xzf_wait_child(pid, JOIN_WAIT_MS);
		json = xzt_read_file(out, &len);
		if (status != 0 || json == NULL ||
		    strstr(json, "\"result_size\": 15000") == NULL) {
			char *e = xzt_read_file(err, &len);
			fail_msg("join: %d %s%s", status, json != NULL ? json : "",
			    e != NULL ? e : "");
		}
		check_stored_rows(json);
		print_message("  requester join %d: searched %s it ran\n", attempt + 1,
		    mid ? "while" : "after");
		free(json);
		free(req);
	}
	if (!mid)
		fail_msg("three joins ended before the search; make the dataset bigger");
	sodium_memzero(rkey, sizeof(rkey));
	sodium_memzero(rseed, sizeof(rseed));
	sodium_memzero(rsk, sizeof(rsk));
	free(out);
	free(err);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_idle_front_holds_no_keys),
		cmocka_unit_test(test_join_front_holds_no_keys_or_data),
		cmocka_unit_test(test_cardinality_join_and_after),
		cmocka_unit_test(test_requester_network_process_holds_no_keys),
	};

	signal(SIGPIPE, SIG_IGN);
	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
