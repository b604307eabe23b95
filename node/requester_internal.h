/*
 * Internals of the requester (node/requester.c, two-party joins, and
 * node/requester_delegated.c, delegated joins): the per-peer state of a
 * join and the steps both kinds share.  Not a public header.
 */
#ifndef XZ_REQUESTER_INTERNAL_H
#define XZ_REQUESTER_INTERNAL_H

#include <stdint.h>
#include <time.h>

#include "audit.h"
#include "daemon_wire.h"
#include "decision.h"
#include "diag.h"
#include "node.h"
#include "netproc.h"
#include "nodeconf.h"
#include "psi.h"
#include "request.h"
#include "requester.h"
#include "rpc.h"

#define STEP_TIMEOUT_MS 300000

/* One call to one peer: its request, stream, parameters and transcript. */
struct qjoin {
	const struct xz_join_opts *o;
	struct xz_join_outcome *out;
	struct xz_nodeconf *conf;
	const struct xz_conf_peer *peer;
	struct xz_node *node;
	int node_borrowed;		/* another qjoin of this join owns it */
	struct xz_request_file *rf;
	uint8_t reqbytes[XZ_REQUEST_ENCODED_MAX];
	size_t reqlen;
	uint8_t abuf[XZ_REQUEST_MAX_APPROVALS][XZ_JOIN_APPROVAL_MAX];
	struct xz_join_data *data;	/* the values sent */
	struct xz_join_data *owned_data;	/* loaded here (else borrowed) */
	struct xz_net *net;		/* the network process (node/netproc.h) */
	int net_owned;			/* started here, stopped with the join */
	struct xz_net_call *s;
	struct xz_join_params params;
	struct xz_psi_requester *psi;
	struct xz_transcript tr;
	uint64_t seq_out, seq_in, recv_batches;
	uint8_t receipt[XZ_JOIN_RECEIPT_LEN];
	char *checkpoint;
	int started, sent_open;
	struct timespec call_opened;	/* when the call's deadline began */
	char reason[512];
};

/* Creates join_results / join_result_rows when missing. */
int rq_results_schema(struct xz_node *node, struct xz_diag *d);
const char *rq_mode_name(const struct qjoin *j);
/* Appends a record about this join (peer, identity, mode, role requester). */
int rq_record(struct qjoin *j, enum xz_audit_type type, const struct xz_audit_field *extra,
    size_t nextra, struct xz_diag *d);
void rq_record_aborted(struct qjoin *j, const char *reason);
void rq_record_refusal(struct qjoin *j);
/* Reads the config, the peer and the request; checks who is who. */
int rq_prepare_peer(struct qjoin *j, struct xz_diag *d);
/* The network process the join's calls go through: o->net, else one
 * started now (before the store is opened, node/netproc.h). */
int rq_start_net(struct qjoin *j, struct xz_net *given, struct xz_diag *d);
/* Opens the store, checks the audit anchor, closes dangling joins. */
int rq_open_node(struct qjoin *j, struct xz_diag *d);
int rq_connect_peer(struct qjoin *j, struct xz_diag *d);
int rq_send_open(struct qjoin *j, struct xz_diag *d);
/* Returns 0 accepted, 1 refused, -1 error. */
int rq_read_reply(struct qjoin *j, struct xz_diag *d);
/* Sends one Batch of the given phase (PSI messages enter the transcript). */
int rq_send_batch(struct qjoin *j, uint32_t phase, const uint8_t *msg, size_t len,
    struct xz_diag *d);
/* Receives the next PSI Batch into *m (an Abort or anything else fails). */
int rq_recv_batch(struct qjoin *j, struct xz_msg *m, struct xz_diag *d);
/* Summary, Close, the signed receipt. */
int rq_close_join(struct qjoin *j, struct xz_diag *d);
void rq_sanitize(char *s);
/* Labels u32 length | bytes ... as a JSON object's members (no braces),
 * names from req, skipping names in `skip` (may be NULL); malloc'd, NULL
 * when b is not a well-formed label record (rq_labels_valid) or memory
 * ran out. */
char *rq_labels_members(const struct xz_request *req, const uint8_t *b, size_t len,
    const struct xz_request *skip);
/* 1 when b is a well-formed label record for req's labels. */
int rq_labels_valid(const struct xz_request *req, const uint8_t *b, size_t len);
/* The value of label `name` in b; -1 when req has no such label or b is bad. */
int rq_label_value(const struct xz_request *req, const uint8_t *b, size_t len,
    const char *name, const uint8_t **v, uint32_t *n);
int rq_insert_summary(struct qjoin *j, struct xz_diag *d);
void rq_blame_deadline(const struct qjoin *j, struct xz_diag *d);
/* Frees what a qjoin owns (not j itself, nor a borrowed node). */
void rq_release(struct qjoin *j);

#endif
