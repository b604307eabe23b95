/*
 * The decision function (docs/policy.md, "Decisions").  Cheap comparisons
 * first, signature checks next, state-dependent checks last; the first
 * failing check is the verdict.
 */
#include "decision.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <sodium.h>

static const char *const verdict_names[XZ_VERDICT_COUNT] = {
	[XZ_ALLOW] = "allow",
	[XZ_REFUSE_NO_SUCH_POLICY] = "no_such_policy",
	[XZ_REFUSE_REQUESTER_MISMATCH] = "requester_mismatch",
	[XZ_REFUSE_RESPONDER_MISMATCH] = "responder_mismatch",
	[XZ_REFUSE_DATASET_MISMATCH] = "dataset_mismatch",
	[XZ_REFUSE_MODE_NOT_ALLOWED] = "mode_not_allowed",
	[XZ_REFUSE_LABEL_NOT_ALLOWED] = "label_not_allowed",
	[XZ_REFUSE_PARTNER_NOT_ALLOWED] = "partner_not_allowed",
	[XZ_REFUSE_SET_TOO_SMALL] = "set_too_small",
	[XZ_REFUSE_SET_TOO_LARGE] = "set_too_large",
	[XZ_REFUSE_NOT_YET_VALID] = "not_yet_valid",
	[XZ_REFUSE_EXPIRED] = "expired",
	[XZ_REFUSE_REQUEST_NOT_YET_VALID] = "request_not_yet_valid",
	[XZ_REFUSE_REQUEST_EXPIRED] = "request_expired",
	[XZ_REFUSE_UNKNOWN_APPROVER] = "unknown_approver",
	[XZ_REFUSE_BAD_SIGNATURE] = "bad_signature",
	[XZ_REFUSE_NOT_ENOUGH_APPROVALS] = "not_enough_approvals",
	[XZ_REFUSE_REPLAYED] = "request_id_replayed",
	[XZ_REFUSE_BUDGET_EXHAUSTED] = "budget_exhausted",
};

const char *
xz_verdict_name(enum xz_verdict v)
{
	if ((unsigned)v >= XZ_VERDICT_COUNT)
		return "unknown";
	return verdict_names[v];
}

static int
refuse(struct xz_decision *out, enum xz_verdict v, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
refuse(struct xz_decision *out, enum xz_verdict v, const char *fmt, ...)
{
	va_list ap;

	out->verdict = v;
	out->charge_joins = 0;
	out->charge_elements = 0;
	va_start(ap, fmt);
	vsnprintf(out->message, sizeof(out->message), fmt, ap);
	va_end(ap);
	return -1;
}

const struct xz_policy *
xz_decision_find_policy(const struct xz_policy *policies, size_t n,
    const struct xz_request *r)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(policies[i].id, r->policy_id) == 0 &&
		    policies[i].version == r->policy_version)
			return &policies[i];
	return NULL;
}

static int
check_policy(const struct xz_decision_input *in, struct xz_decision *out)
{
	const struct xz_request *r = in->request;

	out->policy = xz_decision_find_policy(in->policies, in->n_policies, r);
	if (out->policy == NULL) {
		for (size_t i = 0; i < in->n_policies; i++)
			if (strcmp(in->policies[i].id, r->policy_id) == 0)
				return refuse(out, XZ_REFUSE_NO_SUCH_POLICY, "policy %s "
				    "is at version %" PRIu32 " here, the request names "
				    "version %" PRIu32, r->policy_id,
				    in->policies[i].version, r->policy_version);
		return refuse(out, XZ_REFUSE_NO_SUCH_POLICY, "no policy %s on this "
		    "node", r->policy_id);
	}
	return 0;
}

/* Who asks, of whom, for what: plain comparisons against the policy. */
static int
check_parties(const struct xz_decision_input *in, struct xz_decision *out)
{
	const struct xz_request *r = in->request;
	const struct xz_policy *p = out->policy;

	if (in->peer_identity == NULL || in->self_identity == NULL)
		return refuse(out, XZ_REFUSE_REQUESTER_MISMATCH, "no authenticated "
		    "peer identity (or no identity of this node) to check against");
	if (strcmp(in->peer_identity, r->requester) != 0)
		return refuse(out, XZ_REFUSE_REQUESTER_MISMATCH, "the peer "
		    "authenticated as %s but the request is from %s",
		    in->peer_identity, r->requester);
	if (strcmp(r->requester, p->requester) != 0)
		return refuse(out, XZ_REFUSE_REQUESTER_MISMATCH, "policy %s is for "
		    "requester %s, not %s", p->id, p->requester, r->requester);
	if (strcmp(r->responder, in->self_identity) != 0)
		return refuse(out, XZ_REFUSE_RESPONDER_MISMATCH, "the request is "
		    "addressed to %s, this node is %s", r->responder,
		    in->self_identity);
	if (strcmp(r->dataset, p->dataset) != 0)
		return refuse(out, XZ_REFUSE_DATASET_MISMATCH, "policy %s covers "
		    "dataset %s, not %s", p->id, p->dataset, r->dataset);
	return 0;
}

static int
check_query(const struct xz_decision_input *in, struct xz_decision *out)
{
	const struct xz_request *r = in->request;
	const struct xz_policy *p = out->policy;

	if (!(p->modes & XZ_MODE_BIT(r->mode)))
		return refuse(out, XZ_REFUSE_MODE_NOT_ALLOWED, "policy %s does not "
		    "allow mode %s", p->id, xz_mode_name(r->mode));
	for (size_t i = 0; i < r->n_labels; i++) {
		if (!xz_policy_label_allowed(p, r->labels[i]))
			return refuse(out, XZ_REFUSE_LABEL_NOT_ALLOWED, "policy %s "
			    "does not allow revealing label %s", p->id, r->labels[i]);
		if (strcmp(r->labels[i], p->key_column) == 0 && r->mode != XZ_MODE_DELEGATED)
			return refuse(out, XZ_REFUSE_LABEL_NOT_ALLOWED, "label %s is the "
			    "key column of policy %s: only a delegated join reveals it",
			    r->labels[i], p->id);
	}
	if (r->mode == XZ_MODE_DELEGATED && !xz_policy_partner_allowed(p, r->partner))
		return refuse(out, XZ_REFUSE_PARTNER_NOT_ALLOWED, "policy %s does not "
		    "allow matching dataset %s with the records of %s", p->id, p->dataset,
		    r->partner);
	if (r->query_size < p->min_query_size)
		return refuse(out, XZ_REFUSE_SET_TOO_SMALL, "query size %" PRIu64
		    " is below the minimum %" PRIu64 " of policy %s",
		    r->query_size, p->min_query_size, p->id);
	if (r->query_size > p->max_query_size)
		return refuse(out, XZ_REFUSE_SET_TOO_LARGE, "query size %" PRIu64
		    " is above the maximum %" PRIu64 " of policy %s",
		    r->query_size, p->max_query_size, p->id);
	return 0;
}

static int
check_times(const struct xz_decision_input *in, struct xz_decision *out)
{
	const struct xz_request *r = in->request;
	const struct xz_policy *p = out->policy;
	char t[32];

	if (in->now < p->valid_from) {
		if (xz_time_format(p->valid_from, t, sizeof(t)) != 0)
			t[0] = '\0';
		return refuse(out, XZ_REFUSE_NOT_YET_VALID, "policy %s is valid "
		    "from %s", p->id, t);
	}
	if (in->now >= p->valid_until) {
		if (xz_time_format(p->valid_until, t, sizeof(t)) != 0)
			t[0] = '\0';
		return refuse(out, XZ_REFUSE_EXPIRED, "policy %s expired at %s",
		    p->id, t);
	}
	if (r->created_at > in->now + XZ_CLOCK_SKEW_SECONDS)
		return refuse(out, XZ_REFUSE_REQUEST_NOT_YET_VALID, "the request "
		    "was created %" PRId64 " s in the future (check the clocks)",
		    r->created_at - in->now);
	if (in->now >= r->expires_at) {
		if (xz_time_format(r->expires_at, t, sizeof(t)) != 0)
			t[0] = '\0';
		return refuse(out, XZ_REFUSE_REQUEST_EXPIRED, "the request expired "
		    "at %s", t);
	}
	return 0;
}

/*
 * Every approval must be by an approver the policy names, with the key
 * the policy lists for them, and verify; distinct approvers are counted
 * against the threshold.  A single bad approval refuses the request: a
 * tampered or forged signature is never silently skipped.
 */
static int
check_approvals(const struct xz_decision_input *in, struct xz_decision *out)
{
	const struct xz_policy *p = out->policy;
	int counted[XZ_POLICY_MAX_APPROVERS] = { 0 };
	unsigned distinct = 0;

	for (size_t i = 0; i < in->n_approvals; i++) {
		const struct xz_approval *a = &in->approvals[i];
		const struct xz_approver *pa = xz_policy_approver(p, a->approver);
		if (pa == NULL)
			return refuse(out, XZ_REFUSE_UNKNOWN_APPROVER, "approval %zu "
			    "is by %s, who is not an approver of policy %s", i + 1,
			    a->approver, p->id);
		if (sodium_memcmp(pa->public_key, a->public_key, 32) != 0)
			return refuse(out, XZ_REFUSE_UNKNOWN_APPROVER, "approval %zu "
			    "by %s is made with a key that policy %s does not list "
			    "for %s", i + 1, a->approver, p->id, a->approver);
		if (xz_approval_verify(in->request, a) != 0)
			return refuse(out, XZ_REFUSE_BAD_SIGNATURE, "the signature of "
			    "%s does not verify: the request was changed after "
			    "approval, or the approval is forged", a->approver);
		size_t idx = (size_t)(pa - p->approvers);
		if (!counted[idx]) {
			counted[idx] = 1;
			distinct++;
		}
	}
	if (distinct < p->threshold)
		return refuse(out, XZ_REFUSE_NOT_ENOUGH_APPROVALS, "policy %s needs "
		    "%u approvals, the request has %u", p->id, p->threshold,
		    distinct);
	return 0;
}

static int
check_usage(const struct xz_decision_input *in, struct xz_decision *out)
{
	const struct xz_policy *p = out->policy;
	const struct xz_usage *u = &in->usage;
	uint64_t q = in->request->query_size;

	if (u->request_seen)
		return refuse(out, XZ_REFUSE_REPLAYED, "request id was already "
		    "used; create a new request");
	if (u->joins_today >= p->joins_per_day)
		return refuse(out, XZ_REFUSE_BUDGET_EXHAUSTED, "policy %s allows %"
		    PRIu64 " joins per UTC day; %" PRIu64 " already ran today",
		    p->id, p->joins_per_day, u->joins_today);
	if (u->elements_30_days > p->elements_per_30_days ||
	    q > p->elements_per_30_days - u->elements_30_days)
		return refuse(out, XZ_REFUSE_BUDGET_EXHAUSTED, "policy %s allows %"
		    PRIu64 " query elements per 30 days; %" PRIu64 " used, this "
		    "request asks for %" PRIu64, p->id, p->elements_per_30_days,
		    u->elements_30_days, q);
	return 0;
}

int
xz_decide(const struct xz_decision_input *in, struct xz_decision *out)
{
	memset(out, 0, sizeof(*out));
	if (check_policy(in, out) != 0 || check_parties(in, out) != 0 ||
	    check_query(in, out) != 0 || check_times(in, out) != 0 ||
	    check_approvals(in, out) != 0 || check_usage(in, out) != 0)
		return -1;
	out->verdict = XZ_ALLOW;
	out->charge_joins = 1;
	out->charge_elements = in->request->query_size;
	snprintf(out->message, sizeof(out->message), "allowed by policy %s "
	    "version %" PRIu32 " (approval threshold %u met)", out->policy->id,
	    out->policy->version, out->policy->threshold);
	return 0;
}
