/*
 * The decision function, table-driven: one row per way a request can be
 * refused (every verdict is hit at least once, checked at the end), plus
 * the allowed baseline and the edges of budgets and windows.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "testsupport.h"
#include "decision.h"
#include "policy.h"
#include "request.h"

#define PEER "procuratorate.example.gov.cn"
#define SELF "civil-affairs.example.gov.cn"

enum { LEADER, OFFICER, STRANGER, NKEYS };
static const char *const key_names[NKEYS] = { "leader", "officer", "stranger" };
static unsigned char pks[NKEYS][32], sks[NKEYS][64];
static struct xz_policy policy;

/* One scenario, built from the baseline and changed by a row. */
struct scenario {
	struct xz_request req;
	struct xz_approval approvals[4];
	size_t n_approvals;
	int signers[4];		/* key index per approval, -1 = end */
	const char *peer, *self;
	int64_t now;
	struct xz_usage usage;
};

static int64_t
T(const char *s)
{
	int64_t t;

	assert_int_equal(xz_time_parse(s, &t), 0);
	return t;
}

static int
setup(void **state)
{
	char yaml[4096], b64[2][64];
	struct xz_perror e;

	(void)state;
	for (int i = 0; i < NKEYS; i++)
		crypto_sign_keypair(pks[i], sks[i]);
	xz_key_to_base64(pks[LEADER], b64[0], sizeof(b64[0]));
	xz_key_to_base64(pks[OFFICER], b64[1], sizeof(b64[1]));
	snprintf(yaml, sizeof(yaml),
	    "id: deaths\nversion: 2\npurpose: p\nlegal_basis: l\n"
	    "requester: " PEER "\ndataset: death_registry\nkey_column: id_number\n"
	    "modes: [intersect, cardinality, delegated]\nlabels: [date_of_death, id_number]\n"
	    "partners: [medical-insurance.example.gov.cn]\n"
	    "query_size: {min: 10, max: 1000}\n"
	    "budget: {joins_per_day: 4, elements_per_30_days: 10000}\n"
	    "valid: {from: 2026-01-01T00:00:00Z, until: 2027-01-01T00:00:00Z}\n"
	    "approvals:\n  threshold: 2\n  approvers:\n"
	    "  - {id: leader, role: Deputy chief procurator, public_key: %s}\n"
	    "  - {id: officer, role: Data officer, public_key: %s}\n",
	    b64[0], b64[1]);
	assert_int_equal(xz_policy_parse("t.yaml", yaml, strlen(yaml), &policy, &e), 0);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	sodium_memzero(sks, sizeof(sks));
	return 0;
}

static void
baseline(struct scenario *s)
{
	struct xz_request *r = &s->req;

	memset(s, 0, sizeof(*s));
	xz_request_new_id(r->id);
	snprintf(r->requester, sizeof(r->requester), "%s", PEER);
	snprintf(r->responder, sizeof(r->responder), "%s", SELF);
	snprintf(r->policy_id, sizeof(r->policy_id), "%s", "deaths");
	r->policy_version = 2;
	snprintf(r->dataset, sizeof(r->dataset), "%s", "death_registry");
	r->mode = XZ_MODE_INTERSECT;
	r->n_labels = 1;
	snprintf(r->labels[0], sizeof(r->labels[0]), "%s", "date_of_death");
	r->query_size = 500;
	snprintf(r->purpose, sizeof(r->purpose), "%s", "Insurance fraud leads");
	snprintf(r->case_number, sizeof(r->case_number), "%s", "JIAN-2026-0017");
	snprintf(r->legal_basis, sizeof(r->legal_basis), "%s", "Criminal Procedure Law, art. 8");
	s->now = T("2026-06-01T12:00:00Z");
	r->created_at = s->now - 3600;
	r->expires_at = s->now + 86400;
	s->signers[0] = LEADER;
	s->signers[1] = OFFICER;
	s->signers[2] = -1;
	s->peer = PEER;
	s->self = SELF;
}

static void
sign_all(struct scenario *s)
{
	struct xz_perror e;

	s->n_approvals = 0;
	for (int i = 0; i < 4 && s->signers[i] >= 0; i++) {
		int k = s->signers[i];
		assert_int_equal(xz_request_sign(&s->req, sks[k], key_names[k],
		    &s->approvals[i], &e), 0);
		s->n_approvals++;
	}
}

/* Changes made before the approvers sign (a well-signed but refused request). */
static void b_policy(struct scenario *s) { snprintf(s->req.policy_id, sizeof(s->req.policy_id), "%s", "births"); }
static void b_version(struct scenario *s) { s->req.policy_version = 1; }
static void b_req_other(struct scenario *s) {
	snprintf(s->req.requester, sizeof(s->req.requester), "%s", "court.example.gov.cn");
	s->peer = "court.example.gov.cn";
}
static void b_dataset(struct scenario *s) { snprintf(s->req.dataset, sizeof(s->req.dataset), "%s", "marriages"); }
static void b_mode(struct scenario *s) { s->req.mode = XZ_MODE_DIFFERENCE; }
static void b_label(struct scenario *s) {
	s->req.n_labels = 2;
	snprintf(s->req.labels[1], sizeof(s->req.labels[1]), "%s", "home_address");
}
static void b_key_label(struct scenario *s) {
	s->req.n_labels = 2;
	snprintf(s->req.labels[1], sizeof(s->req.labels[1]), "%s", "id_number");
}
static void b_delegated(struct scenario *s) {
	b_key_label(s);
	s->req.mode = XZ_MODE_DELEGATED;
	snprintf(s->req.partner, sizeof(s->req.partner), "%s",
	    "medical-insurance.example.gov.cn");
	memset(s->req.link, 0x5a, sizeof(s->req.link));
}
static void b_partner(struct scenario *s) {
	b_delegated(s);
	snprintf(s->req.partner, sizeof(s->req.partner), "%s", "tax.example.gov.cn");
}
static void b_small(struct scenario *s) { s->req.query_size = 9; }
static void b_large(struct scenario *s) { s->req.query_size = 1001; }
static void b_min_edge(struct scenario *s) { s->req.query_size = 10; }
static void b_max_edge(struct scenario *s) { s->req.query_size = 1000; }
static void b_future(struct scenario *s) { s->req.created_at = s->now + 301; s->req.expires_at = s->now + 9000; }
static void b_skew_ok(struct scenario *s) { s->req.created_at = s->now + 300; }
static void b_only_leader(struct scenario *s) { s->signers[1] = -1; }
static void b_leader_twice(struct scenario *s) { s->signers[1] = LEADER; }
static void b_three(struct scenario *s) {
	s->signers[2] = LEADER;
	s->signers[3] = -1;
}
static void b_stranger(struct scenario *s) { s->signers[1] = STRANGER; }

/* Changes made after signing. */
static void a_peer(struct scenario *s) { s->peer = "evil.example.gov.cn"; }
static void a_self(struct scenario *s) { s->self = "police.example.gov.cn"; }
static void a_early(struct scenario *s) { s->now = T("2025-12-31T23:59:59Z"); }
static void a_late(struct scenario *s) { s->now = T("2027-01-01T00:00:00Z"); }
static void a_req_expired(struct scenario *s) { s->now = s->req.expires_at; }
static void a_req_last_second(struct scenario *s) { s->now = s->req.expires_at - 1; }
static void a_tamper(struct scenario *s) { s->req.purpose[0] ^= 1; }
static void a_tamper_size(struct scenario *s) { s->req.query_size += 1; }
static void a_sig(struct scenario *s) { s->approvals[1].signature[63] ^= 0x40; }
static void a_wrong_key(struct scenario *s) {
	/* Names a listed approver but carries (and is signed by) another key. */
	struct xz_perror e;
	assert_int_equal(xz_request_sign(&s->req, sks[STRANGER], "officer",
	    &s->approvals[1], &e), 0);
}
static void a_seen(struct scenario *s) { s->usage.request_seen = 1; }
static void a_joins(struct scenario *s) { s->usage.joins_today = 4; }
static void a_joins_edge(struct scenario *s) { s->usage.joins_today = 3; }
static void a_elements(struct scenario *s) { s->usage.elements_30_days = 9501; }
static void a_elements_edge(struct scenario *s) { s->usage.elements_30_days = 9500; }
static void a_elements_huge(struct scenario *s) { s->usage.elements_30_days = UINT64_MAX; }

struct row {
	const char *what;
	void (*before)(struct scenario *);
	void (*after)(struct scenario *);
	enum xz_verdict want;
	const char *msg;	/* fragment of the message */
};

static const struct row rows[] = {
	{ "baseline", NULL, NULL, XZ_ALLOW, "allowed by policy deaths" },
	{ "unknown policy id", b_policy, NULL, XZ_REFUSE_NO_SUCH_POLICY, "no policy births" },
	{ "other policy version", b_version, NULL, XZ_REFUSE_NO_SUCH_POLICY, "version 2 here" },
	{ "peer is not the requester", NULL, a_peer, XZ_REFUSE_REQUESTER_MISMATCH,
	  "authenticated as evil" },
	{ "policy is for another requester", b_req_other, NULL,
	  XZ_REFUSE_REQUESTER_MISMATCH, "is for requester" },
	{ "addressed to another node", NULL, a_self, XZ_REFUSE_RESPONDER_MISMATCH,
	  "addressed to " SELF },
	{ "other dataset", b_dataset, NULL, XZ_REFUSE_DATASET_MISMATCH, "marriages" },
	{ "mode not allowed", b_mode, NULL, XZ_REFUSE_MODE_NOT_ALLOWED, "difference" },
	{ "label not allowed", b_label, NULL, XZ_REFUSE_LABEL_NOT_ALLOWED, "home_address" },
	{ "key column as a two-party label", b_key_label, NULL, XZ_REFUSE_LABEL_NOT_ALLOWED,
	  "only a delegated join reveals it" },
	{ "delegated with a listed partner", b_delegated, NULL, XZ_ALLOW, "allowed" },
	{ "delegated with another partner", b_partner, NULL, XZ_REFUSE_PARTNER_NOT_ALLOWED,
	  "records of tax.example.gov.cn" },
	{ "set too small", b_small, NULL, XZ_REFUSE_SET_TOO_SMALL, "below the minimum 10" },
	{ "set at minimum", b_min_edge, NULL, XZ_ALLOW, "allowed" },
	{ "set too large", b_large, NULL, XZ_REFUSE_SET_TOO_LARGE, "above the maximum 1000" },
	{ "set at maximum", b_max_edge, NULL, XZ_ALLOW, "allowed" },
	{ "policy not yet valid", NULL, a_early, XZ_REFUSE_NOT_YET_VALID,
	  "valid from 2026-01-01T00:00:00Z" },
	{ "policy expired", NULL, a_late, XZ_REFUSE_EXPIRED,
	  "expired at 2027-01-01T00:00:00Z" },
	{ "request from the future", b_future, NULL, XZ_REFUSE_REQUEST_NOT_YET_VALID,
	  "301 s in the future" },
	{ "request within clock skew", b_skew_ok, NULL, XZ_ALLOW, "allowed" },
	{ "request expired", NULL, a_req_expired, XZ_REFUSE_REQUEST_EXPIRED,
	  "expired at 2026-06-02T12:00:00Z" },
	{ "request in its last second", NULL, a_req_last_second, XZ_ALLOW, "allowed" },
	{ "approval by a stranger", b_stranger, NULL, XZ_REFUSE_UNKNOWN_APPROVER,
	  "stranger, who is not an approver" },
	{ "approver name with another key", NULL, a_wrong_key,
	  XZ_REFUSE_UNKNOWN_APPROVER, "does not list for officer" },
	{ "text changed after signing", NULL, a_tamper, XZ_REFUSE_BAD_SIGNATURE,
	  "signature of leader does not verify" },
	{ "size changed after signing", NULL, a_tamper_size, XZ_REFUSE_BAD_SIGNATURE,
	  "does not verify" },
	{ "signature bit flipped", NULL, a_sig, XZ_REFUSE_BAD_SIGNATURE,
	  "signature of officer" },
	{ "one approval of two", b_only_leader, NULL, XZ_REFUSE_NOT_ENOUGH_APPROVALS,
	  "needs 2 approvals, the request has 1" },
	{ "same approver twice", b_leader_twice, NULL,
	  XZ_REFUSE_NOT_ENOUGH_APPROVALS, "has 1" },
	{ "extra duplicate approval", b_three, NULL, XZ_ALLOW, "allowed" },
	{ "request id replayed", NULL, a_seen, XZ_REFUSE_REPLAYED, "already used" },
	{ "joins per day used up", NULL, a_joins, XZ_REFUSE_BUDGET_EXHAUSTED,
	  "4 joins per UTC day" },
	{ "last join of the day", NULL, a_joins_edge, XZ_ALLOW, "allowed" },
	{ "elements used up", NULL, a_elements, XZ_REFUSE_BUDGET_EXHAUSTED,
	  "9501 used" },
	{ "elements exactly enough", NULL, a_elements_edge, XZ_ALLOW, "allowed" },
	{ "elements counter overflow", NULL, a_elements_huge,
	  XZ_REFUSE_BUDGET_EXHAUSTED, "per 30 days" },
};

static void
test_decision_table(void **state)
{
	int seen[XZ_VERDICT_COUNT] = { 0 };

	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const struct row *row = &rows[i];
		struct scenario s;
		struct xz_decision d;

		baseline(&s);
		if (row->before != NULL)
			row->before(&s);
		sign_all(&s);
		if (row->after != NULL)
			row->after(&s);
		struct xz_decision_input in = {
			.policies = &policy, .n_policies = 1, .request = &s.req,
			.approvals = s.approvals, .n_approvals = s.n_approvals,
			.peer_identity = s.peer, .self_identity = s.self,
			.now = s.now, .usage = s.usage,
		};
		int rc = xz_decide(&in, &d);
		print_message("%-34s %-22s %s\n", row->what,
		    xz_verdict_name(d.verdict), d.message);
		assert_string_equal(xz_verdict_name(d.verdict),
		    xz_verdict_name(row->want));
		assert_int_equal(rc, row->want == XZ_ALLOW ? 0 : -1);
		assert_non_null(strstr(d.message, row->msg));
		if (row->want == XZ_ALLOW) {
			assert_ptr_equal(d.policy, &policy);
			assert_int_equal(d.charge_joins, 1);
			assert_int_equal(d.charge_elements, s.req.query_size);
		} else {
			assert_int_equal(d.charge_joins, 0);
			assert_int_equal(d.charge_elements, 0);
		}
		seen[row->want] = 1;
	}
	for (int v = 0; v < XZ_VERDICT_COUNT; v++) {
		if (!seen[v])
			fail_msg("no row for verdict %s", xz_verdict_name(v));
	}
}

/* The first failing check wins: order is part of the contract. */
static void
test_order(void **state)
{
	struct scenario s;
	struct xz_decision d;

	(void)state;
	baseline(&s);
	s.req.query_size = 5;		/* set too small ... */
	s.signers[1] = -1;		/* ... and too few approvals */
	sign_all(&s);
	s.usage.request_seen = 1;	/* ... and replayed */
	struct xz_decision_input in = {
		.policies = &policy, .n_policies = 1, .request = &s.req,
		.approvals = s.approvals, .n_approvals = s.n_approvals,
		.peer_identity = s.peer, .self_identity = s.self, .now = s.now,
		.usage = s.usage,
	};
	assert_int_equal(xz_decide(&in, &d), -1);
	assert_int_equal(d.verdict, XZ_REFUSE_SET_TOO_SMALL);
	/* No policies at all. */
	in.n_policies = 0;
	assert_int_equal(xz_decide(&in, &d), -1);
	assert_int_equal(d.verdict, XZ_REFUSE_NO_SUCH_POLICY);
	assert_null(d.policy);
}

static void
test_verdict_names_unique(void **state)
{
	(void)state;
	for (int a = 0; a < XZ_VERDICT_COUNT; a++) {
		assert_string_not_equal(xz_verdict_name(a), "unknown");
		for (int b = 0; b < a; b++)
			assert_string_not_equal(xz_verdict_name(a), xz_verdict_name(b));
	}
	assert_string_equal(xz_verdict_name(XZ_VERDICT_COUNT), "unknown");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_decision_table),
		cmocka_unit_test(test_order),
		cmocka_unit_test(test_verdict_names_unique),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, setup, teardown);
}
