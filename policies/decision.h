/*
 * The decision: may this join run?  A pure function of its inputs (the
 * data owner's policies, the request, its approvals, the authenticated
 * identity of the peer, this node's identity, the time and a snapshot of
 * usage so far): no I/O, no clock, no global state.  It runs before any
 * OPRF work; the caller persists the charge of an allowed join and the
 * request id (node/policy_state.h does both in one transaction).
 *
 * Checks run in the order of enum xz_verdict and the first failing one is
 * the answer, so the same inputs always give the same reason.
 */
#ifndef XZ_DECISION_H
#define XZ_DECISION_H

#include <stddef.h>
#include <stdint.h>

#include "policy.h"
#include "request.h"

/* A request may claim a creation time at most this far in the future. */
#define XZ_CLOCK_SKEW_SECONDS 300
#define XZ_BUDGET_WINDOW_SECONDS (30 * 86400)

/* Stable codes: their names (xz_verdict_name) go into audit records. */
enum xz_verdict {
	XZ_ALLOW = 0,
	XZ_REFUSE_NO_SUCH_POLICY,	/* no policy with the request's id and version */
	XZ_REFUSE_REQUESTER_MISMATCH,	/* peer != request.requester != policy.requester */
	XZ_REFUSE_RESPONDER_MISMATCH,	/* request is addressed to another node */
	XZ_REFUSE_DATASET_MISMATCH,	/* request names another dataset than the policy */
	XZ_REFUSE_MODE_NOT_ALLOWED,
	XZ_REFUSE_LABEL_NOT_ALLOWED,
	XZ_REFUSE_PARTNER_NOT_ALLOWED,	/* delegated: the other owner is not a partner */
	XZ_REFUSE_SET_TOO_SMALL,
	XZ_REFUSE_SET_TOO_LARGE,
	XZ_REFUSE_NOT_YET_VALID,	/* policy window has not begun */
	XZ_REFUSE_EXPIRED,		/* policy window is over */
	XZ_REFUSE_REQUEST_NOT_YET_VALID,/* request created in the future */
	XZ_REFUSE_REQUEST_EXPIRED,
	XZ_REFUSE_UNKNOWN_APPROVER,
	XZ_REFUSE_BAD_SIGNATURE,
	XZ_REFUSE_NOT_ENOUGH_APPROVALS,
	XZ_REFUSE_REPLAYED,		/* request id seen before */
	XZ_REFUSE_BUDGET_EXHAUSTED,
	XZ_VERDICT_COUNT
};

/* Usage of one policy (by id, across versions) as of the decision time. */
struct xz_usage {
	int request_seen;		/* this request id was allowed before */
	uint64_t joins_today;		/* allowed joins in the current UTC day */
	uint64_t elements_30_days;	/* declared sizes in the last 30 days */
};

struct xz_decision_input {
	const struct xz_policy *policies;	/* the owner's policies */
	size_t n_policies;
	const struct xz_request *request;
	const struct xz_approval *approvals;
	size_t n_approvals;
	const char *peer_identity;	/* authenticated TLS identity of the peer */
	const char *self_identity;	/* this node's identity (the responder) */
	int64_t now;			/* Unix seconds UTC */
	struct xz_usage usage;
};

struct xz_decision {
	enum xz_verdict verdict;
	const struct xz_policy *policy;	/* matched policy, NULL when none */
	uint64_t charge_joins;		/* on allow: 1 */
	uint64_t charge_elements;	/* on allow: the declared query size */
	char message[512];		/* one line for the operator and the peer */
};

/* Decides; always fills *out.  Returns 0 when allowed, -1 when refused. */
int xz_decide(const struct xz_decision_input *in, struct xz_decision *out);

/* The policy the request names (id and version), or NULL. */
const struct xz_policy *xz_decision_find_policy(const struct xz_policy *policies,
    size_t n, const struct xz_request *r);

/* "allow", "no_such_policy", "requester_mismatch", ... */
const char *xz_verdict_name(enum xz_verdict v);

#endif
