/*
 * Allocation-failure sweep over one join (issue 8, "Memory"; the idea is
 * curl's torture mode: make the Nth allocation fail, for every N).
 *
 * One run is the library path of a join without the network, in this
 * process: create and open a node, import the responder's and the
 * requester's datasets from CSV, parse the policy, take the decision
 * against the store, load both sides' join data, run the PSI engine's two
 * roles against each other, write the decision / join / disclosure audit
 * records, publish the anchor and verify the log.
 *
 * The program is linked with -Wl,--wrap for malloc, calloc, realloc,
 * strdup, free, sodium_malloc, sodium_free and csv_free
 * (tests/CMakeLists.txt), so every call to them from our static libraries
 * and from this file goes through the wrappers below; the shared libraries
 * (SQLite, OpenSSL, libsodium, libc, libyaml, cmocka) keep their own
 * allocator and are not counted.  A reference run counts the allocations
 * (T); then for every N in 1..T the run is repeated with allocation N
 * failing.  Each run must:
 *   - reach allocation N (the join is deterministic up to it);
 *   - leave no allocation of ours alive once the node is closed (the
 *     wrappers track live pointers; LSan checks the rest at exit in the
 *     sanitizer build);
 *   - either succeed with exactly the reference answer (a tolerated
 *     failure), or fail with a message that says memory ran out: an
 *     out-of-memory reported as a forged signature or a tampered audit
 *     log sends the operator after an attacker who is not there;
 *   - not change the decision: a refusal taken because memory ran out is
 *     recorded in the audit log as if the request deserved it;
 *   - leave a store that opens and whose audit log verifies.
 * Every violation is listed (N, where the failed allocation was made as
 * file+offset for addr2line, what the run said) and the sweep fails at the
 * end.  XZ_OOM_VERBOSE=1 prints every run.
 *
 * CI runs every N up to XZ_OOM_CI_DENSE and a stride over the rest (about
 * XZ_OOM_CI_RUNS runs in all; today's join has fewer allocations than
 * that, so CI runs every N too); XIEZHI_LONG_TESTS=1 always runs every N.
 */
#include "testsupport.h"

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <csv.h>
#include <sodium.h>

#include "audit.h"
#include "daemon_wire.h"
#include "dataset.h"
#include "decision.h"
#include "node.h"
#include "policy.h"
#include "policy_state.h"
#include "psi.h"
#include "request.h"

#define PEER "procuratorate.example.gov.cn"
#define SELF "civil-affairs.example.gov.cn"
#define ACTOR "operator:oom-test"

#define XZ_OOM_CI_DENSE	400
#define XZ_OOM_CI_RUNS	700

/* ---- Allocation wrappers ---- */

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);
char *__real_strdup(const char *s);
void __real_free(void *p);
void *__real_sodium_malloc(size_t n);
void __real_sodium_free(void *p);

void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t n);
char *__wrap_strdup(const char *s);
void __wrap_free(void *p);
void *__wrap_sodium_malloc(size_t n);
void __wrap_sodium_free(void *p);
void __real_csv_free(struct csv_parser *p);
void __wrap_csv_free(struct csv_parser *p);

/* Live pointers: open addressing with linear probing and backward-shift
 * deletion (no tombstones, so the table never silts up). */
#define LIVE_SLOTS (1u << 18)

static pthread_mutex_t oom_lock = PTHREAD_MUTEX_INITIALIZER;
static void *live_slot[LIVE_SLOTS];
static void *live_caller[LIVE_SLOTS];	/* who allocated it, for the leak report */
static unsigned live_gen[LIVE_SLOTS];	/* the run that allocated it */
static unsigned oom_gen;
static size_t live_count;
static int live_overflow;
static int oom_armed;		/* count (and maybe fail) allocations */
static uint64_t oom_calls;	/* allocations counted since arming */
static uint64_t oom_fail_at;	/* 0: never fail */
static int oom_failed;		/* the injected failure happened */
static void *oom_fail_caller;	/* who made the allocation that failed */

static size_t
slot_home(const void *p)
{
	uint64_t h = (uint64_t)(uintptr_t)p * UINT64_C(0x9E3779B97F4A7C15);

	return (size_t)(h >> 46) & (LIVE_SLOTS - 1);
}

static void
live_add(void *p, void *caller)
{
	size_t i;

	if (p == NULL)
		return;
	if (live_count + 1 >= LIVE_SLOTS / 2) {
		live_overflow = 1;
		return;
	}
	for (i = slot_home(p); live_slot[i] != NULL; i = (i + 1) & (LIVE_SLOTS - 1))
		;
	live_slot[i] = p;
	live_caller[i] = caller;
	live_gen[i] = oom_gen;
	live_count++;
}

static void
live_del(void *p)
{
	size_t i, j, h;

	if (p == NULL)
		return;
	for (i = slot_home(p); live_slot[i] != p; i = (i + 1) & (LIVE_SLOTS - 1))
		if (live_slot[i] == NULL)
			return;		/* allocated by a shared library: not ours */
	live_slot[i] = NULL;
	live_count--;
	/* Pull later members of the probe run back over the hole when their
	 * home slot does not lie strictly between the hole and them. */
	for (j = (i + 1) & (LIVE_SLOTS - 1); live_slot[j] != NULL;
	    j = (j + 1) & (LIVE_SLOTS - 1)) {
		h = slot_home(live_slot[j]);
		if (((j - h) & (LIVE_SLOTS - 1)) >= ((j - i) & (LIVE_SLOTS - 1))) {
			live_slot[i] = live_slot[j];
			live_caller[i] = live_caller[j];
			live_gen[i] = live_gen[j];
			live_slot[j] = NULL;
			i = j;
		}
	}
}

/* Counts one allocation; true when this one must fail.  Caller holds the lock. */
static int
oom_tick(void *caller)
{
	if (!oom_armed)
		return 0;
	oom_calls++;
	if (oom_fail_at != 0 && oom_calls == oom_fail_at) {
		oom_failed = 1;
		oom_fail_caller = caller;
		return 1;
	}
	return 0;
}

void *
__wrap_malloc(size_t n)
{
	void *p = NULL;

	pthread_mutex_lock(&oom_lock);
	if (oom_tick(__builtin_return_address(0)))
		errno = ENOMEM;
	else if ((p = __real_malloc(n)) != NULL)
		live_add(p, __builtin_return_address(0));
	pthread_mutex_unlock(&oom_lock);
	return p;
}

void *
__wrap_calloc(size_t n, size_t size)
{
	void *p = NULL;

	pthread_mutex_lock(&oom_lock);
	if (oom_tick(__builtin_return_address(0)))
		errno = ENOMEM;
	else if ((p = __real_calloc(n, size)) != NULL)
		live_add(p, __builtin_return_address(0));
	pthread_mutex_unlock(&oom_lock);
	return p;
}

void *
__wrap_realloc(void *old, size_t n)
{
	void *p = NULL;

	pthread_mutex_lock(&oom_lock);
	if (oom_tick(__builtin_return_address(0))) {
		errno = ENOMEM;		/* old stays valid and owned by the caller */
	} else if ((p = __real_realloc(old, n)) != NULL || n == 0) {
		live_del(old);
		live_add(p, __builtin_return_address(0));
	}
	pthread_mutex_unlock(&oom_lock);
	return p;
}

char *
__wrap_strdup(const char *s)
{
	char *p = NULL;

	pthread_mutex_lock(&oom_lock);
	if (oom_tick(__builtin_return_address(0)))
		errno = ENOMEM;
	else if ((p = __real_strdup(s)) != NULL)
		live_add(p, __builtin_return_address(0));
	pthread_mutex_unlock(&oom_lock);
	return p;
}

void
__wrap_free(void *p)
{
	pthread_mutex_lock(&oom_lock);
	live_del(p);
	pthread_mutex_unlock(&oom_lock);
	__real_free(p);
}

void *
__wrap_sodium_malloc(size_t n)
{
	void *p = NULL;

	pthread_mutex_lock(&oom_lock);
	if (oom_tick(__builtin_return_address(0)))
		errno = ENOMEM;
	else if ((p = __real_sodium_malloc(n)) != NULL)
		live_add(p, __builtin_return_address(0));
	pthread_mutex_unlock(&oom_lock);
	return p;
}

void
__wrap_sodium_free(void *p)
{
	pthread_mutex_lock(&oom_lock);
	live_del(p);
	pthread_mutex_unlock(&oom_lock);
	__real_sodium_free(p);
}

/*
 * node/csvread.c lets libcsv grow its field buffer with our realloc but
 * leaves libcsv's free function at the default, so libcsv hands that
 * buffer to the C library's free, which the wrapper does not see.  Same
 * allocator underneath, so no bug; the buffer just leaves the live set
 * here, where csv_free gives it up.
 */
void
__wrap_csv_free(struct csv_parser *p)
{
	if (p != NULL) {
		pthread_mutex_lock(&oom_lock);
		live_del(p->entry_buf);
		pthread_mutex_unlock(&oom_lock);
	}
	__real_csv_free(p);
}

static void
oom_arm(uint64_t fail_at)
{
	pthread_mutex_lock(&oom_lock);
	oom_armed = 1;
	oom_gen++;
	oom_calls = 0;
	oom_fail_at = fail_at;
	oom_failed = 0;
	pthread_mutex_unlock(&oom_lock);
}

static uint64_t
oom_disarm(void)
{
	uint64_t n;

	pthread_mutex_lock(&oom_lock);
	oom_armed = 0;
	n = oom_calls;
	pthread_mutex_unlock(&oom_lock);
	return n;
}

static size_t
oom_live(void)
{
	size_t n;
	int overflow;

	pthread_mutex_lock(&oom_lock);
	overflow = live_overflow;
	n = live_count;
	pthread_mutex_unlock(&oom_lock);
	assert_false(overflow);
	return n;
}

/* "file+0xoffset" of a code address, for addr2line -e file. */
static void
where(const void *addr, char *buf, size_t len)
{
	Dl_info info;

	if (dladdr(addr, &info) != 0 && info.dli_fname != NULL)
		snprintf(buf, len, "%s+0x%zx", info.dli_fname,
		    (size_t)((const char *)addr - (const char *)info.dli_fbase));
	else
		snprintf(buf, len, "%p", addr);
}

/* Prints where each allocation of the current run that is still alive was
 * made, as offsets into the executable (for addr2line -e). */
static void
oom_report_leaks(void)
{
	char at[512];

	pthread_mutex_lock(&oom_lock);
	for (size_t i = 0; i < LIVE_SLOTS; i++) {
		if (live_slot[i] == NULL || live_gen[i] != oom_gen)
			continue;
		where(live_caller[i], at, sizeof(at));
		print_message("  leaked: allocated at %s\n", at);
	}
	pthread_mutex_unlock(&oom_lock);
}

/* ---- The join ---- */

/* Responder: who died, with a status label.  Requester: insurance claims. */
static const char deaths_csv[] =
    "id_number,status\n"
    "p001,deceased\n" "p002,deceased\n" "p003,missing\n" "p004,deceased\n"
    "p005,deceased\n" "p006,missing\n" "p007,deceased\n" "p008,deceased\n"
    "p009,deceased\n" "p010,deceased\n" "p011,missing\n" "p012,deceased\n";
static const char claims_csv[] =
    "id_number,amount\n"
    "p002,100\n" "p020,200\n" "p006,300\n" "p021,400\n" "p011,500\n"
    "p022,600\n" "p012,700\n" "p023,800\n";

#define MAX_HITS 16

/* What one run computed; compared against the reference run. */
struct outcome {
	enum xz_verdict verdict;
	uint64_t count;
	size_t nhits;
	uint64_t hit_index[MAX_HITS];
	char hit_label[MAX_HITS][64];
	uint64_t audit_size;
};

struct fixture {
	char policy_yaml[2048];
	struct xz_request req;
	struct xz_approval appr[2];
	struct outcome ref;
	uint64_t total;
};

struct run {
	const struct fixture *f;
	char *tmp, *dir, *deaths, *claims;
	struct xz_node *node;
	struct xz_policy *policy;
	struct xz_join_data *ad, *rd;
	struct xz_psi_requester *r;
	struct xz_psi_responder *a;
	int node_made;		/* xz_node_init succeeded: the store must open after */
	struct outcome out;
	struct xz_diag d;
};

static int
collect(void *ctx, uint64_t index, const uint8_t *label, size_t len)
{
	struct outcome *o = ctx;
	size_t n;

	/* One label column: u32 length | bytes (node/daemon_data.c), then
	 * the engine's padding up to label_len. */
	if (o->nhits == MAX_HITS || len < 4)
		return 1;
	n = (size_t)label[0] << 24 | (size_t)label[1] << 16 | (size_t)label[2] << 8 | label[3];
	if (n > len - 4 || n >= sizeof(o->hit_label[0]))
		return 1;
	o->hit_index[o->nhits] = index;
	memcpy(o->hit_label[o->nhits], label + 4, n);
	o->hit_label[o->nhits][n] = '\0';
	o->nhits++;
	return 0;
}

static int
psi_fail(struct run *r, const char *what, enum xz_psi_status st)
{
	return xz_diag_set(&r->d, "PSI %s: %s", what, xz_psi_strerror(st));
}

static int
import(struct run *r, const char *name, const char *csv, const char *col)
{
	struct xz_column_spec cols[1];
	struct xz_import_spec s;
	struct xz_import_result res;

	memset(&s, 0, sizeof(s));
	memset(cols, 0, sizeof(cols));
	s.dataset = name;
	s.csv_path = csv;
	snprintf(s.key.name, sizeof(s.key.name), "id_number");
	s.key.type = XZ_COL_TEXT;
	snprintf(cols[0].name, sizeof(cols[0].name), "%s", col);
	cols[0].type = XZ_COL_TEXT;
	s.columns = cols;
	s.ncolumns = 1;
	s.mode = XZ_IMPORT_CREATE;
	s.actor = ACTOR;
	return xz_dataset_import(r->node, &s, &res, &r->d);
}

static int
record(struct run *r, enum xz_audit_type type, const struct xz_audit_field *extra,
    size_t nextra)
{
	struct xz_audit_field f[XZ_AUDIT_FIELDS_MAX];
	struct xz_audit_event ev = { type, PEER, r->f->req.id, f, 0 };

	f[ev.nfields++] = (struct xz_audit_field){ .name = "peer", .kind = XZ_AUDIT_STR,
	    .str = "procuratorate" };
	f[ev.nfields++] = (struct xz_audit_field){ .name = "mode", .kind = XZ_AUDIT_STR,
	    .str = "intersect" };
	if (type >= XZ_AUDIT_JOIN_STARTED && type <= XZ_AUDIT_JOIN_ABORTED)
		f[ev.nfields++] = (struct xz_audit_field){ .name = "role",
		    .kind = XZ_AUDIT_STR, .str = "responder" };
	for (size_t i = 0; i < nextra; i++)
		f[ev.nfields++] = extra[i];
	if (xz_audit_append(r->node, &ev, NULL, &r->d) != 0)
		return -1;
	return xz_audit_publish(r->node, &r->d);
}

static int
decide(struct run *r)
{
	struct xz_perror e;
	struct xz_decision dec;
	struct xz_decision_input in = {
		.request = &r->f->req, .approvals = r->f->appr, .n_approvals = 2,
		.peer_identity = PEER, .self_identity = SELF,
		.now = r->f->req.created_at + 60,
	};
	struct xz_audit_field f[2];

	if ((r->policy = malloc(sizeof(*r->policy))) == NULL)
		return xz_diag_set(&r->d, "out of memory for the policy");
	if (xz_policy_parse("deaths.yaml", r->f->policy_yaml, strlen(r->f->policy_yaml),
	    r->policy, &e) != 0)
		return xz_diag_set(&r->d, "policy: %s", e.msg);
	in.policies = r->policy;
	in.n_policies = 1;
	if (xz_policy_state_decide(r->node, &in, &dec, &r->d) != 0)
		return -1;
	r->out.verdict = dec.verdict;
	f[0] = (struct xz_audit_field){ .name = "outcome", .kind = XZ_AUDIT_STR,
	    .str = dec.verdict == XZ_ALLOW ? "allow" : "refuse" };
	f[1] = (struct xz_audit_field){ .name = "reason", .kind = XZ_AUDIT_STR,
	    .str = xz_verdict_name(dec.verdict) };
	if (record(r, XZ_AUDIT_DECISION, f, 2) != 0)
		return -1;
	if (dec.verdict != XZ_ALLOW)
		return xz_diag_set(&r->d, "refused: %s", dec.message);
	return 0;
}

/* Ping-pongs the two roles until both are done (tests/crypto/test_psi.c). */
static int
engine(struct run *r)
{
	static const char *const labels[] = { "status" };
	struct xz_psi_params p = { .mode = XZ_PSI_INTERSECT, .label_len = 16,
	    .batch_max = 3, .threads = 1 };
	enum xz_psi_status rs, as;
	const uint8_t *m;
	size_t len;

	if (xz_join_data_load(r->node, "deaths", NULL, labels, 1, 0, &r->ad, &r->d) != 0 ||
	    xz_join_data_load(r->node, "claims", "id_number", NULL, 0, 1, &r->rd, &r->d) != 0)
		return -1;
	memcpy(p.join_id, r->f->req.id, sizeof(p.join_id));
	p.requester_bound = r->f->req.query_size;
	p.responder_bound = r->ad->n;
	if ((rs = xz_psi_responder_new(&r->a, &p, r->ad->n, xz_join_data_source, r->ad))
	    != XZ_PSI_OK)
		return psi_fail(r, "responder", rs);
	if ((rs = xz_psi_requester_new(&r->r, &p, r->rd->n, xz_join_data_source, r->rd))
	    != XZ_PSI_OK)
		return psi_fail(r, "requester", rs);
	for (int rounds = 0; rounds < 10000; rounds++) {
		rs = xz_psi_requester_produce(r->r, &m, &len);
		if (rs == XZ_PSI_OK && (as = xz_psi_responder_consume(r->a, m, len)) != XZ_PSI_OK)
			return psi_fail(r, "responder consume", as);
		if (rs != XZ_PSI_OK && rs != XZ_PSI_AGAIN && rs != XZ_PSI_DONE)
			return psi_fail(r, "requester produce", rs);
		as = xz_psi_responder_produce(r->a, &m, &len);
		if (as == XZ_PSI_OK && (rs = xz_psi_requester_consume(r->r, m, len)) != XZ_PSI_OK)
			return psi_fail(r, "requester consume", rs);
		if (as != XZ_PSI_OK && as != XZ_PSI_AGAIN && as != XZ_PSI_DONE)
			return psi_fail(r, "responder produce", as);
		if (rs == XZ_PSI_DONE && as == XZ_PSI_DONE)
			break;
	}
	if (!xz_psi_requester_done(r->r))
		return xz_diag_set(&r->d, "the PSI engine did not finish");
	r->out.count = xz_psi_requester_count(r->r);
	if ((rs = xz_psi_requester_results(r->r, collect, &r->out)) != XZ_PSI_OK)
		return psi_fail(r, "results", rs);
	return 0;
}

static int
finish(struct run *r)
{
	struct xz_audit_field f[3];
	struct xz_audit_status st;

	f[0] = (struct xz_audit_field){ .name = "count", .kind = XZ_AUDIT_INT,
	    .num = r->ad->n };
	f[1] = (struct xz_audit_field){ .name = "labels", .kind = XZ_AUDIT_STR,
	    .str = "status" };
	if (record(r, XZ_AUDIT_DISCLOSURE, f, 2) != 0)
		return -1;
	f[0] = (struct xz_audit_field){ .name = "local_size", .kind = XZ_AUDIT_INT,
	    .num = r->ad->n };
	f[1] = (struct xz_audit_field){ .name = "peer_size", .kind = XZ_AUDIT_INT,
	    .num = r->f->req.query_size };
	f[2] = (struct xz_audit_field){ .name = "transcript", .kind = XZ_AUDIT_HASH };
	if (record(r, XZ_AUDIT_JOIN_COMPLETED, f, 3) != 0)
		return -1;
	if (xz_audit_verify(r->node, &st, &r->d) != 0)
		return -1;
	r->out.audit_size = st.size;
	return 0;
}

/* The whole join, every allocation of it counted.  0 or -1 with r->d set. */
static int
join(struct run *r)
{
	if (xz_node_init(r->dir, "civil-affairs", &r->d) != 0)
		return -1;
	r->node_made = 1;
	if (xz_node_open(r->dir, &r->node, &r->d) != 0)
		return -1;
	if (xz_policy_state_init(r->node, &r->d) != 0 ||
	    import(r, "deaths", r->deaths, "status") != 0 ||
	    import(r, "claims", r->claims, "amount") != 0)
		return -1;
	if (record(r, XZ_AUDIT_REQUEST_RECEIVED, NULL, 0) != 0 || decide(r) != 0)
		return -1;
	if (record(r, XZ_AUDIT_JOIN_STARTED, NULL, 0) != 0 || engine(r) != 0)
		return -1;
	return finish(r);
}

static void
join_release(struct run *r)
{
	xz_psi_requester_free(r->r);
	xz_psi_responder_free(r->a);
	xz_join_data_free(r->ad);
	xz_join_data_free(r->rd);
	free(r->policy);
	xz_node_close(r->node);
	r->r = NULL;
	r->a = NULL;
	r->ad = r->rd = NULL;
	r->policy = NULL;
	r->node = NULL;
}

/* What one run did, for the checks of the sweep. */
struct report {
	int rc;			/* join()'s result */
	int failed;		/* the injected failure happened */
	uint64_t allocs;	/* allocations counted */
	size_t leaked;		/* allocations of ours still alive after the run */
	char fail_at[512];	/* where the failed allocation was made */
	char msg[1024];		/* the run's error message */
	char store[1100];	/* "" or why the store left behind is not sound */
	struct outcome out;
};

/* Whatever a failed run left behind must still be a sound node: it opens
 * and its audit log verifies. */
static void
check_store(struct run *r, struct report *rep)
{
	struct xz_node *node = NULL;
	struct xz_audit_status st;
	struct xz_diag d;

	if (!r->node_made)
		return;
	if (xz_node_open(r->dir, &node, &d) != 0)
		snprintf(rep->store, sizeof(rep->store), "the store does not open: %s", d.msg);
	else if (xz_audit_verify(node, &st, &d) != 0)
		snprintf(rep->store, sizeof(rep->store), "the audit log does not verify: %s",
		    d.msg);
	xz_node_close(node);
}

/* One run with allocation fail_at failing (0: none). */
static void
run_once(const struct fixture *f, uint64_t fail_at, struct report *rep)
{
	struct run r;
	size_t before;

	memset(&r, 0, sizeof(r));
	memset(rep, 0, sizeof(*rep));
	r.f = f;
	r.out.verdict = XZ_VERDICT_COUNT;	/* no decision taken */
	r.tmp = xzt_mkdtemp("oom");
	r.dir = xzt_path(r.tmp, "node");
	r.deaths = xzt_path(r.tmp, "deaths.csv");
	r.claims = xzt_path(r.tmp, "claims.csv");
	xzt_write_file(r.deaths, deaths_csv, strlen(deaths_csv));
	xzt_write_file(r.claims, claims_csv, strlen(claims_csv));
	before = oom_live();

	oom_arm(fail_at);
	rep->rc = join(&r);
	join_release(&r);
	rep->allocs = oom_disarm();
	rep->failed = oom_failed;
	snprintf(rep->fail_at, sizeof(rep->fail_at), "-");
	if (oom_failed)
		where(oom_fail_caller, rep->fail_at, sizeof(rep->fail_at));
	snprintf(rep->msg, sizeof(rep->msg), "%s", rep->rc == 0 ? "" : r.d.msg);
	if (oom_live() != before) {
		rep->leaked = oom_live() - before;
		oom_report_leaks();
	}
	if (rep->rc != 0)
		check_store(&r, rep);
	rep->out = r.out;
	if (getenv("XZ_OOM_VERBOSE") != NULL)
		print_message("N=%llu failed at %s: %s\n", (unsigned long long)fail_at,
		    rep->fail_at, rep->rc == 0 ? "success" : rep->msg);
	xzt_rmtree(r.tmp);
	free(r.claims);
	free(r.deaths);
	free(r.dir);
	free(r.tmp);
}

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct xz_perror e;
	unsigned char pk[2][32], sk[2][64];
	char b64[2][64];
	struct xz_request *r;

	assert_non_null(f);
	assert_true(sodium_init() >= 0);
	/* The node's files go to a RAM disk when there is one: the sweep
	 * repeats the whole join hundreds of times and fsync is not what it
	 * tests. */
	if (getenv("TMPDIR") == NULL && access("/dev/shm", W_OK) == 0)
		setenv("TMPDIR", "/dev/shm", 1);
	for (int i = 0; i < 2; i++) {
		crypto_sign_keypair(pk[i], sk[i]);
		xz_key_to_base64(pk[i], b64[i], sizeof(b64[i]));
	}
	snprintf(f->policy_yaml, sizeof(f->policy_yaml),
	    "id: deaths\nversion: 1\npurpose: p\nlegal_basis: l\n"
	    "requester: " PEER "\ndataset: deaths\nkey_column: id_number\n"
	    "modes: [intersect]\nlabels: [status]\nquery_size: {min: 1, max: 1000}\n"
	    "budget: {joins_per_day: 3, elements_per_30_days: 2000}\n"
	    "valid: {from: 2026-01-01T00:00:00Z, until: 2099-01-01T00:00:00Z}\n"
	    "approvals:\n  threshold: 2\n  approvers:\n"
	    "  - {id: leader, role: r1, public_key: %s}\n"
	    "  - {id: officer, role: r2, public_key: %s}\n", b64[0], b64[1]);
	r = &f->req;
	xz_request_new_id(r->id);
	snprintf(r->requester, sizeof(r->requester), "%s", PEER);
	snprintf(r->responder, sizeof(r->responder), "%s", SELF);
	snprintf(r->policy_id, sizeof(r->policy_id), "%s", "deaths");
	r->policy_version = 1;
	snprintf(r->dataset, sizeof(r->dataset), "%s", "deaths");
	r->mode = XZ_MODE_INTERSECT;
	r->query_size = 10;
	r->n_labels = 1;
	snprintf(r->labels[0], sizeof(r->labels[0]), "%s", "status");
	snprintf(r->purpose, sizeof(r->purpose), "%s", "p");
	snprintf(r->case_number, sizeof(r->case_number), "%s", "c");
	snprintf(r->legal_basis, sizeof(r->legal_basis), "%s", "l");
	r->created_at = (int64_t)time(NULL) - 60;
	r->expires_at = r->created_at + 40 * 86400;
	assert_int_equal(xz_request_sign(r, sk[0], "leader", &f->appr[0], &e), 0);
	assert_int_equal(xz_request_sign(r, sk[1], "officer", &f->appr[1], &e), 0);
	sodium_memzero(sk, sizeof(sk));
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	free(*state);
	return 0;
}

/* The harness itself: allocations are counted, the chosen one fails with
 * ENOMEM and leaves nothing behind, and what is not freed shows as live. */
static void
test_harness(void **state)
{
	size_t before = oom_live();
	void *a, *b, *c, *k;
	char *s;

	(void)state;
	oom_arm(3);
	a = malloc(16);
	b = calloc(2, 8);
	errno = 0;
	c = realloc(NULL, 32);		/* the third allocation: fails */
	assert_null(c);
	assert_int_equal(errno, ENOMEM);
	s = strdup("x");
	k = sodium_malloc(32);
	assert_int_equal(oom_disarm(), 5);
	assert_true(oom_failed);
	assert_non_null(a);
	assert_non_null(b);
	assert_non_null(s);
	assert_non_null(k);
	assert_int_equal(oom_live(), before + 4);
	a = realloc(a, 4096);		/* moves or not: still one live block */
	assert_non_null(a);
	assert_int_equal(oom_live(), before + 4);
	free(a);
	free(b);
	free(s);
	sodium_free(k);
	assert_int_equal(oom_live(), before);
}

/* The reference run: the join works and finds the four claims of the dead
 * or missing (p002, p006, p011, p012) with their labels. */
static void
test_reference(void **state)
{
	struct fixture *f = *state;
	struct outcome *o = &f->ref;
	struct report rep;

	run_once(f, 0, &rep);
	if (rep.rc != 0)
		fail_msg("reference join: %s", rep.msg);
	assert_int_equal(rep.leaked, 0);
	f->total = rep.allocs;
	*o = rep.out;
	assert_int_equal(o->verdict, XZ_ALLOW);
	assert_int_equal(o->count, 4);
	assert_int_equal(o->nhits, 4);
	assert_int_equal(o->hit_index[0], 0);
	assert_string_equal(o->hit_label[0], "deceased");
	assert_int_equal(o->hit_index[1], 2);
	assert_string_equal(o->hit_label[1], "missing");
	assert_int_equal(o->hit_index[2], 4);
	assert_string_equal(o->hit_label[2], "missing");
	assert_int_equal(o->hit_index[3], 6);
	assert_string_equal(o->hit_label[3], "deceased");
	/* request_received, decision, join_started, disclosure, join_completed,
	 * after the two dataset_imported records */
	assert_int_equal(o->audit_size, 7);
	assert_true(f->total > 50);
	print_message("one join makes %llu allocations of ours\n",
	    (unsigned long long)f->total);
}

static int
same_outcome(const struct outcome *a, const struct outcome *b)
{
	if (a->verdict != b->verdict || a->count != b->count || a->nhits != b->nhits ||
	    a->audit_size != b->audit_size)
		return 0;
	for (size_t i = 0; i < a->nhits; i++)
		if (a->hit_index[i] != b->hit_index[i] ||
		    strcmp(a->hit_label[i], b->hit_label[i]) != 0)
			return 0;
	return 1;
}

static int
long_tests(void)
{
	const char *v = getenv("XIEZHI_LONG_TESTS");

	return v != NULL && strcmp(v, "1") == 0;
}

/* The N to try after n: every one when long, else dense then strided. */
static uint64_t
next_n(uint64_t n, uint64_t total)
{
	uint64_t stride;

	if (long_tests() || n < XZ_OOM_CI_DENSE || total <= XZ_OOM_CI_RUNS)
		return n + 1;
	stride = (total - XZ_OOM_CI_DENSE) / (XZ_OOM_CI_RUNS - XZ_OOM_CI_DENSE) + 1;
	return n + stride;
}

/*
 * What is wrong with run N, or NULL.  A run must hit its failure (the join
 * is deterministic up to it), leak nothing, and either succeed with the
 * reference answer or fail saying that memory ran out, with any decision
 * it took still the reference one and a sound store left behind.
 */
static const char *
judge(const struct fixture *f, const struct report *rep, char *buf, size_t len)
{
	if (!rep->failed)
		snprintf(buf, len, "only %llu allocations were made (reference %llu)",
		    (unsigned long long)rep->allocs, (unsigned long long)f->total);
	else if (rep->leaked > 0)
		snprintf(buf, len, "%zu allocation(s) leaked", rep->leaked);
	else if (rep->rc == 0 && !same_outcome(&rep->out, &f->ref))
		snprintf(buf, len, "the join succeeded with a different answer");
	else if (rep->rc == 0)
		return NULL;
	else if (rep->out.verdict != XZ_VERDICT_COUNT && rep->out.verdict != f->ref.verdict)
		snprintf(buf, len, "the decision became '%s' (recorded in the audit log)",
		    xz_verdict_name(rep->out.verdict));
	else if (rep->store[0] != '\0')
		snprintf(buf, len, "%s", rep->store);
	else if (rep->msg[0] == '\0')
		snprintf(buf, len, "the join failed without a message");
	else if (strstr(rep->msg, "memory") == NULL)
		snprintf(buf, len, "the error does not say that memory ran out");
	else
		return NULL;
	return buf;
}

static void
test_sweep(void **state)
{
	struct fixture *f = *state;
	uint64_t runs = 0, errors = 0, tolerated = 0, bad = 0;
	struct report rep;
	char why[1200];

	assert_true(f->total > 0);
	for (uint64_t n = 1; n <= f->total; n = next_n(n, f->total)) {
		run_once(f, n, &rep);
		runs++;
		if (judge(f, &rep, why, sizeof(why)) != NULL) {
			bad++;
			print_message("N=%llu (allocation at %s): %s; the run said: %s\n",
			    (unsigned long long)n, rep.fail_at, why,
			    rep.rc == 0 ? "success" : rep.msg);
		} else if (rep.rc == 0) {
			tolerated++;
		} else {
			errors++;
		}
	}
	print_message("sweep: %llu of %llu allocation points (%s): %llu clean errors, "
	    "%llu tolerated with the reference answer, %llu wrong\n",
	    (unsigned long long)runs, (unsigned long long)f->total,
	    runs == f->total ? "every N" : "CI sample", (unsigned long long)errors,
	    (unsigned long long)tolerated, (unsigned long long)bad);
	if (bad > 0)
		fail_msg("%llu allocation failure(s) were not handled cleanly (listed above; "
		    "addr2line -f -i -e <file> <offset> names the allocation)",
		    (unsigned long long)bad);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_harness),
		cmocka_unit_test(test_reference),
		cmocka_unit_test(test_sweep),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
