/*
 * Policy state in the node's encrypted store: the request ids already
 * allowed (so a replayed request is refused, also after a restart) and the
 * charges of allowed joins (so budgets add up across restarts).
 *
 * Tables (created on first use, names prefixed policy_):
 *   policy_seen_requests(request_id BLOB PRIMARY KEY, policy_id, seen_at)
 *   policy_usage(id, policy_id, request_id, at, joins, elements)
 *
 * Budgets are per policy id, across versions: publishing version 2 of a
 * policy does not hand out a fresh budget.  "Today" is the UTC calendar
 * day of now; "30 days" is the window (now - 30 * 86400, now].  Charges
 * recorded with a time after now (a clock that went back) still count.
 */
#ifndef XZ_POLICY_STATE_H
#define XZ_POLICY_STATE_H

#include <stdint.h>

#include "decision.h"
#include "diag.h"
#include "node.h"

/* Creates the tables when missing; safe to call any number of times. */
int xz_policy_state_init(struct xz_node *node, struct xz_diag *d);

/* Usage of policy_id as of now, and whether request_id was allowed before. */
int xz_policy_state_usage(struct xz_node *node, const char *policy_id,
    const unsigned char request_id[XZ_REQUEST_ID_LEN], int64_t now,
    struct xz_usage *out, struct xz_diag *d);

/*
 * Records an allowed join (its request id and charge) in one transaction.
 * Fails, changing nothing, when the request id was recorded before.
 */
int xz_policy_state_record(struct xz_node *node, const char *policy_id,
    const unsigned char request_id[XZ_REQUEST_ID_LEN], int64_t now,
    uint64_t elements, struct xz_diag *d);

/*
 * The whole decision against the store, atomically: inside one
 * BEGIN IMMEDIATE transaction it reads the usage of the request's policy,
 * runs xz_decide (in->usage is ignored and replaced), and on allow records
 * the request id and the charge.  Two processes deciding at once
 * cannot both spend the last of a budget or both accept one request id.
 *
 * Returns 0 when a decision was taken (out->verdict says which), -1 when
 * the store failed (d says why; nothing was recorded).
 */
int xz_policy_state_decide(struct xz_node *node, const struct xz_decision_input *in,
    struct xz_decision *out, struct xz_diag *d);

#endif
