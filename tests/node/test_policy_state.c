/*
 * Policy state in a real node store: a replayed request id is refused
 * after the node is closed and opened again, and budgets add up across
 * restarts.  Real node directory, real SQLCipher file, real signatures.
 */
#include "testsupport.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "decision.h"
#include "node.h"
#include "policy.h"
#include "policy_state.h"
#include "request.h"

#define PEER "procuratorate.example.gov.cn"
#define SELF "civil-affairs.example.gov.cn"

struct fixture {
	char *tmp, *dir;
	struct xz_node *node;
	struct xz_policy policy;
	unsigned char sk[2][64];
};

static void
reopen(struct fixture *f)
{
	struct xz_diag d;

	xz_node_close(f->node);
	f->node = NULL;
	if (xz_node_open(f->dir, &f->node, &d) != 0)
		fail_msg("reopen: %s", d.msg);
}

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct xz_diag d;
	struct xz_perror e;
	unsigned char pk[2][32];
	char b64[2][64], yaml[2048];

	assert_non_null(f);
	assert_true(sodium_init() >= 0);
	f->tmp = xzt_mkdtemp("policy-state");
	f->dir = xzt_path(f->tmp, "node");
	if (xz_node_init(f->dir, "civil-affairs", &d) != 0)
		fail_msg("init: %s", d.msg);
	if (xz_node_open(f->dir, &f->node, &d) != 0)
		fail_msg("open: %s", d.msg);
	for (int i = 0; i < 2; i++) {
		crypto_sign_keypair(pk[i], f->sk[i]);
		xz_key_to_base64(pk[i], b64[i], sizeof(b64[i]));
	}
	snprintf(yaml, sizeof(yaml),
	    "id: deaths\nversion: 1\npurpose: p\nlegal_basis: l\n"
	    "requester: " PEER "\ndataset: death_registry\nkey_column: id_number\n"
	    "modes: [intersect]\nlabels: []\nquery_size: {min: 10, max: 1000}\n"
	    "budget: {joins_per_day: 3, elements_per_30_days: 2000}\n"
	    "valid: {from: 2026-01-01T00:00:00Z, until: 2027-01-01T00:00:00Z}\n"
	    "approvals:\n  threshold: 2\n  approvers:\n"
	    "  - {id: leader, role: r1, public_key: %s}\n"
	    "  - {id: officer, role: r2, public_key: %s}\n", b64[0], b64[1]);
	assert_int_equal(xz_policy_parse("t.yaml", yaml, strlen(yaml), &f->policy,
	    &e), 0);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	xz_node_close(f->node);
	xzt_rmtree(f->tmp);
	sodium_memzero(f->sk, sizeof(f->sk));
	free(f->dir);
	free(f->tmp);
	free(f);
	return 0;
}

static int64_t
T(const char *s)
{
	int64_t t;

	assert_int_equal(xz_time_parse(s, &t), 0);
	return t;
}

/* A fresh, fully approved request of size n created at t. */
static void
make_request(struct fixture *f, uint64_t n, int64_t t, struct xz_request *r,
    struct xz_approval a[2])
{
	struct xz_perror e;

	memset(r, 0, sizeof(*r));
	xz_request_new_id(r->id);
	snprintf(r->requester, sizeof(r->requester), "%s", PEER);
	snprintf(r->responder, sizeof(r->responder), "%s", SELF);
	snprintf(r->policy_id, sizeof(r->policy_id), "%s", "deaths");
	r->policy_version = 1;
	snprintf(r->dataset, sizeof(r->dataset), "%s", "death_registry");
	r->mode = XZ_MODE_INTERSECT;
	r->query_size = n;
	snprintf(r->purpose, sizeof(r->purpose), "%s", "p");
	snprintf(r->case_number, sizeof(r->case_number), "%s", "c");
	snprintf(r->legal_basis, sizeof(r->legal_basis), "%s", "l");
	r->created_at = t - 60;
	r->expires_at = t + 40 * 86400;
	assert_int_equal(xz_request_sign(r, f->sk[0], "leader", &a[0], &e), 0);
	assert_int_equal(xz_request_sign(r, f->sk[1], "officer", &a[1], &e), 0);
}

static enum xz_verdict
decide(struct fixture *f, const struct xz_request *r, const struct xz_approval *a,
    int64_t now, struct xz_decision *out)
{
	struct xz_diag d;
	struct xz_decision_input in = {
		.policies = &f->policy, .n_policies = 1, .request = r,
		.approvals = a, .n_approvals = 2, .peer_identity = PEER,
		.self_identity = SELF, .now = now,
	};

	if (xz_policy_state_decide(f->node, &in, out, &d) != 0)
		fail_msg("decide: %s", d.msg);
	return out->verdict;
}

static void
test_replay_refused_after_reopen(void **state)
{
	struct fixture *f = *state;
	struct xz_request r;
	struct xz_approval a[2];
	struct xz_decision out;
	int64_t now = T("2026-06-01T10:00:00Z");

	make_request(f, 100, now, &r, a);
	assert_int_equal(decide(f, &r, a, now, &out), XZ_ALLOW);
	reopen(f);
	assert_int_equal(decide(f, &r, a, now + 5, &out), XZ_REFUSE_REPLAYED);
	assert_non_null(strstr(out.message, "already used"));
	/* The refused replay charged nothing. */
	struct xz_usage u;
	struct xz_diag d;
	assert_int_equal(xz_policy_state_usage(f->node, "deaths", r.id, now, &u, &d), 0);
	assert_true(u.request_seen);
	assert_int_equal(u.joins_today, 1);
	assert_int_equal(u.elements_30_days, 100);
}

static void
test_budgets_add_up_across_reopen(void **state)
{
	struct fixture *f = *state;
	struct xz_request r;
	struct xz_approval a[2];
	struct xz_decision out;
	struct xz_usage u;
	struct xz_diag d;
	int64_t day1 = T("2026-06-01T08:00:00Z");

	/* Three joins on day 1, each in its own "run" of the node. */
	static const uint64_t sizes[] = { 500, 300, 200 };
	for (size_t i = 0; i < 3; i++) {
		make_request(f, sizes[i], day1 + (int64_t)i * 3600, &r, a);
		assert_int_equal(decide(f, &r, a, day1 + (int64_t)i * 3600, &out),
		    XZ_ALLOW);
		assert_int_equal(out.charge_elements, sizes[i]);
		reopen(f);
	}
	assert_int_equal(xz_policy_state_usage(f->node, "deaths", r.id,
	    day1 + 4 * 3600, &u, &d), 0);
	assert_int_equal(u.joins_today, 3);
	assert_int_equal(u.elements_30_days, 1000);
	/* A fourth join the same UTC day is over the daily budget ... */
	make_request(f, 10, day1 + 5 * 3600, &r, a);
	assert_int_equal(decide(f, &r, a, day1 + 5 * 3600, &out),
	    XZ_REFUSE_BUDGET_EXHAUSTED);
	assert_non_null(strstr(out.message, "3 joins per UTC day"));
	/* ... and the refusal did not burn the request id: the next day the
	 * same request is allowed. */
	int64_t day2 = T("2026-06-02T00:00:00Z");
	reopen(f);
	assert_int_equal(decide(f, &r, a, day2, &out), XZ_ALLOW);
	/* Elements: 1010 used of 2000 in 30 days; 995 more fits, 1000 more not. */
	reopen(f);
	make_request(f, 991, day2 + 60, &r, a);
	assert_int_equal(decide(f, &r, a, day2 + 60, &out), XZ_REFUSE_BUDGET_EXHAUSTED);
	assert_non_null(strstr(out.message, "1010 used"));
	make_request(f, 990, day2 + 60, &r, a);
	assert_int_equal(decide(f, &r, a, day2 + 60, &out), XZ_ALLOW);
	/* Thirty days after each day-1 charge it leaves the window. */
	reopen(f);
	assert_int_equal(xz_policy_state_usage(f->node, "deaths", r.id,
	    day1 + 30 * 86400 + 3600, &u, &d), 0);
	assert_int_equal(u.elements_30_days, 1200);	/* 200 + 10 + 990 */
	assert_int_equal(xz_policy_state_usage(f->node, "deaths", r.id,
	    day1 + 30 * 86400 + 2 * 3600, &u, &d), 0);
	assert_int_equal(u.joins_today, 0);
	assert_int_equal(u.elements_30_days, 1000);	/* day-2 charges: 10 + 990 */
}

static void
test_record_twice_changes_nothing(void **state)
{
	struct fixture *f = *state;
	unsigned char id[XZ_REQUEST_ID_LEN];
	struct xz_usage u;
	struct xz_diag d;
	int64_t now = T("2026-07-01T00:00:00Z");

	xz_request_new_id(id);
	assert_int_equal(xz_policy_state_record(f->node, "other", id, now, 7, &d), 0);
	assert_int_equal(xz_policy_state_record(f->node, "other", id, now, 9, &d), -1);
	assert_non_null(strstr(d.msg, "already recorded"));
	reopen(f);
	assert_int_equal(xz_policy_state_usage(f->node, "other", id, now, &u, &d), 0);
	assert_true(u.request_seen);
	assert_int_equal(u.joins_today, 1);
	assert_int_equal(u.elements_30_days, 7);
	/* Budgets are per policy id. */
	assert_int_equal(xz_policy_state_usage(f->node, "deaths", id, now, &u, &d), 0);
	assert_int_equal(u.elements_30_days, 0);
	/* init is idempotent. */
	assert_int_equal(xz_policy_state_init(f->node, &d), 0);
	assert_int_equal(xz_policy_state_init(f->node, &d), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_replay_refused_after_reopen,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_budgets_add_up_across_reopen,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_record_twice_changes_nothing,
		    setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
