/*
 * The responder's side of a join: the Join handler xiezhid runs for each
 * call (docs/operations.md §"The join on the wire", docs/transport.md).
 *
 * Order of events, and why:
 *   1. Open and HELLO are read and checked as hostile bytes.
 *   2. request_received is recorded, then the decision is taken against the
 *      policies in force, the peer's authenticated TLS identity, the clock
 *      and the replay/budget state, and recorded.  Nothing about the
 *      dataset is touched and no exponentiation happens before an allow.
 *   3. A refusal goes back as OpenReply{accepted = false} with the verdict
 *      code and its one-line reason, then the call ends OK.
 *   4. On allow: the dataset is read, join_started recorded, the
 *      parameters sent.  The disclosure record is committed (fsync) before
 *      the first engine message leaves the node: every message the
 *      responder sends is a function of its data and key.
 *   5. After the engine finished, the requester's summary and Close arrive;
 *      the transcript hashes must agree; join_completed is recorded and a
 *      signed receipt with the audit checkpoint goes back.
 *   Any failure after step 2 records join_aborted and sends nothing more
 *   than an Abort.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "audit.h"
#include "daemon.h"
#include "daemon_wire.h"
#include "decision.h"
#include "log.h"
#include "policy_state.h"
#include "psi.h"
#include "request.h"

#define COMP "join"

struct rjoin {
	struct xz_daemon *dd;
	struct xz_rpc_stream *s;
	const char *peer_identity;	/* authenticated TLS identity */
	char peer_name[XZ_JOIN_NODE_NAME_MAX + 1];
	struct xz_node *node;
	uint8_t reqbytes[XZ_REQUEST_ENCODED_MAX];
	size_t reqlen;
	struct xz_request req;
	struct xz_approval approvals[XZ_REQUEST_MAX_APPROVALS];
	size_t napprovals;
	struct xz_policy *policies;
	size_t npolicies;
	struct xz_decision dec;
	struct xz_join_data *data;
	struct xz_join_params params;
	struct xz_psi_responder *psi;
	struct xz_psi_owner *owner;	/* delegated joins: this node's role */
	struct xz_join_partner partner;
	struct xz_transcript tr;
	uint8_t transcript[32];
	uint64_t seq_out, seq_in;
	int started;		/* join_started recorded: an end record is owed */
	int disclosed;
	char reason[XZ_RPC_MAX_REASON];
};

static const char *
mode_name(const struct rjoin *j)
{
	const char *m = xz_mode_name(j->req.mode);

	return m != NULL ? m : "unknown";
}

/* Appends one record about this join and publishes the anchor. */
static int
record(struct rjoin *j, enum xz_audit_type type, struct xz_audit_field *extra,
    size_t nextra, struct xz_diag *d)
{
	struct xz_audit_field f[XZ_AUDIT_FIELDS_MAX];
	struct xz_audit_event ev = { type, j->peer_identity, j->req.id, f, 0 };
	int rc;

	f[ev.nfields++] = (struct xz_audit_field){ .name = "peer", .kind = XZ_AUDIT_STR,
	    .str = j->peer_name };
	f[ev.nfields++] = (struct xz_audit_field){ .name = "peer_identity",
	    .kind = XZ_AUDIT_STR, .str = j->peer_identity };
	f[ev.nfields++] = (struct xz_audit_field){ .name = "mode", .kind = XZ_AUDIT_STR,
	    .str = mode_name(j) };
	if (type >= XZ_AUDIT_JOIN_STARTED && type <= XZ_AUDIT_JOIN_ABORTED)
		f[ev.nfields++] = (struct xz_audit_field){ .name = "role",
		    .kind = XZ_AUDIT_STR, .str = "responder" };
	for (size_t i = 0; i < nextra && ev.nfields < XZ_AUDIT_FIELDS_MAX; i++)
		f[ev.nfields++] = extra[i];
	pthread_mutex_lock(&j->dd->audit_lock);
	rc = xz_audit_append(j->node, &ev, NULL, d);
	if (rc == 0)
		rc = xz_audit_publish(j->node, d);
	pthread_mutex_unlock(&j->dd->audit_lock);
	if (rc != 0)
		xz_log(XZ_LOG_ERROR, COMP, j->req.id, "audit record %s failed: %s",
		    xz_audit_type_name(type), d->msg);
	return rc;
}

static void
set_why(struct xz_rpc_error *why, enum xz_rpc_status st, const char *msg)
{
	size_t n = strlen(msg);

	/* Truncating a long reason is fine: it is a status detail. */
	if (n >= sizeof(why->msg))
		n = sizeof(why->msg) - 1;
	why->status = st;
	memmove(why->msg, msg, n);
	why->msg[n] = '\0';
}

/* Sends Abort (best effort: the stream may be gone). */
static void
send_abort(struct rjoin *j, enum xz_join_abort code, const char *reason)
{
	struct xz_msg m = { .kind = XZ_MSG_ABORT };
	struct xz_rpc_error err;

	m.u.abort.code = (uint32_t)code;
	m.u.abort.reason = reason;
	if (xz_rpc_send(j->s, &m, 5000, &err) != XZ_RPC_OK)
		xz_log(XZ_LOG_DEBUG, COMP, j->req.id, "abort not delivered: %s", err.msg);
}

/* ---- 1. Open and hello ---- */

static enum xz_rpc_status
read_open(struct rjoin *j, struct xz_rpc_error *why)
{
	struct xz_msg m = {0};
	struct xz_perror pe;
	struct xz_diag d;
	enum xz_rpc_status st;
	char buf[600];

	st = xz_rpc_recv(j->s, &m, XZ_DAEMON_OPEN_TIMEOUT_MS, why);
	if (st != XZ_RPC_OK)
		return st == XZ_RPC_EOF ? (set_why(why, XZ_RPC_INVALID, "no Open message"),
		    XZ_RPC_INVALID) : st;
	st = XZ_RPC_INVALID;
	if (m.kind != XZ_MSG_OPEN) {
		set_why(why, st, "the first message of a join must be Open");
		goto done;
	}
	if (m.u.open.version != XZ_RPC_WIRE_VERSION) {
		set_why(why, st, "unsupported join protocol version");
		goto done;
	}
	if (m.u.open.request.len > sizeof(j->reqbytes) ||
	    xz_request_decode(m.u.open.request.ptr, m.u.open.request.len, &j->req, &pe) != 0) {
		xz_perror_format(&pe, buf, sizeof(buf));
		snprintf(why->msg, sizeof(why->msg), "the join request does not decode: %.400s",
		    m.u.open.request.len > sizeof(j->reqbytes) ? "too long" : buf);
		why->status = st;
		goto done;
	}
	memcpy(j->reqbytes, m.u.open.request.ptr, m.u.open.request.len);
	j->reqlen = m.u.open.request.len;
	if (m.u.open.join_id.len != XZ_REQUEST_ID_LEN ||
	    memcmp(m.u.open.join_id.ptr, j->req.id, XZ_REQUEST_ID_LEN) != 0) {
		set_why(why, st, "the join id must be the request id");
		goto done;
	}
	if (m.u.open.dataset == NULL || strcmp(m.u.open.dataset, j->req.dataset) != 0) {
		set_why(why, st, "Open.dataset differs from the request's dataset");
		goto done;
	}
	if (m.u.open.n_approvals > XZ_REQUEST_MAX_APPROVALS) {
		set_why(why, st, "too many approvals");
		goto done;
	}
	for (size_t i = 0; i < m.u.open.n_approvals; i++) {
		if (xz_join_approval_decode(m.u.open.approvals[i].ptr,
		    m.u.open.approvals[i].len, &j->approvals[i], &d) != 0) {
			set_why(why, st, d.msg);
			goto done;
		}
	}
	j->napprovals = m.u.open.n_approvals;
	st = XZ_RPC_OK;
done:
	xz_msg_release(&m);
	return st;
}

static enum xz_rpc_status
read_hello(struct rjoin *j, struct xz_rpc_error *why)
{
	struct xz_msg m = {0};
	struct xz_diag d;
	enum xz_rpc_status st;

	st = xz_rpc_recv(j->s, &m, XZ_DAEMON_OPEN_TIMEOUT_MS, why);
	if (st != XZ_RPC_OK)
		return st == XZ_RPC_EOF ? (set_why(why, XZ_RPC_INVALID, "no hello"),
		    XZ_RPC_INVALID) : st;
	st = XZ_RPC_OK;
	if (m.kind != XZ_MSG_BATCH || m.u.batch.phase != XZ_JOIN_PHASE_HELLO) {
		set_why(why, XZ_RPC_INVALID, "expected the requester's hello after Open");
		st = XZ_RPC_INVALID;
	} else if (xz_join_hello_decode(m.u.batch.data.ptr, m.u.batch.data.len,
	    j->peer_name, &d) != 0) {
		set_why(why, XZ_RPC_INVALID, d.msg);
		st = XZ_RPC_INVALID;
	}
	xz_msg_release(&m);
	return st;
}

/* ---- 2./3. decision ---- */

static int
decide(struct rjoin *j, struct xz_diag *d)
{
	struct xz_decision_input in = {0};

	if (xz_daemon_policy_snapshot(j->dd, &j->policies, &j->npolicies, d) != 0 ||
	    xz_policy_state_init(j->node, d) != 0)
		return -1;
	in.policies = j->policies;
	in.n_policies = j->npolicies;
	in.request = &j->req;
	in.approvals = j->approvals;
	in.n_approvals = j->napprovals;
	in.peer_identity = j->peer_identity;
	in.self_identity = j->dd->conf.identity;
	in.now = (int64_t)time(NULL);
	pthread_mutex_lock(&j->dd->audit_lock);
	if (xz_policy_state_decide(j->node, &in, &j->dec, d) != 0) {
		pthread_mutex_unlock(&j->dd->audit_lock);
		return -1;
	}
	pthread_mutex_unlock(&j->dd->audit_lock);
	return 0;
}

static enum xz_rpc_status
send_refusal(struct rjoin *j, struct xz_rpc_error *why)
{
	struct xz_msg m = { .kind = XZ_MSG_OPEN_REPLY };
	char reason[XZ_RPC_MAX_REASON];

	/* Until the peer is known to be the policy's requester, the reason it
	 * gets names no policy, version or other agency: a peer must not probe
	 * which policies exist and whom they serve.  The full message is in
	 * the audit log and the daemon log. */
	if (j->dec.verdict == XZ_REFUSE_NO_SUCH_POLICY ||
	    j->dec.verdict == XZ_REFUSE_REQUESTER_MISMATCH ||
	    j->dec.verdict == XZ_REFUSE_RESPONDER_MISMATCH)
		snprintf(reason, sizeof(reason), "no policy of this node allows this "
		    "request from your node (%s); ask the data owner's operator",
		    xz_verdict_name(j->dec.verdict));
	else
		snprintf(reason, sizeof(reason), "%s", j->dec.message);
	for (char *p = reason; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = ' ';
	m.u.open_reply.accepted = 0;
	m.u.open_reply.refusal_code = (uint32_t)j->dec.verdict;
	m.u.open_reply.reason = reason;
	/* The node name, so the requester's join_aborted names us the way
	 * crosscheck pairs records. */
	m.u.open_reply.params.ptr = (const uint8_t *)j->dd->conf.name;
	m.u.open_reply.params.len = strlen(j->dd->conf.name);
	return xz_rpc_send(j->s, &m, XZ_DAEMON_OPEN_TIMEOUT_MS, why);
}

/* ---- 4. preparing the engine ---- */

static int
prepare(struct rjoin *j, struct xz_diag *d)
{
	const char *labels[XZ_POLICY_MAX_LABELS];
	const struct xz_policy *p = j->dec.policy;
	struct xz_psi_params pp;
	uint64_t m;
	/* A delegated owner reveals labels of every record, like intersect. */
	int intersect = j->req.mode == XZ_MODE_INTERSECT || j->req.mode == XZ_MODE_DELEGATED;

	for (size_t i = 0; i < j->req.n_labels; i++)
		labels[i] = j->req.labels[i];
	/* Intersect keeps every record (each has its labels); the other modes
	 * take each key once, so duplicates in the dataset do not show. */
	if (xz_join_data_load(j->node, j->req.dataset, NULL, labels,
	    intersect ? j->req.n_labels : 0, !intersect, &j->data, d) != 0)
		return -1;
	if (strcmp(p->key_column, j->data->key_column) != 0)
		return xz_diag_set(d, "policy %s names key column '%s' but dataset '%s' is "
		    "keyed on '%s'", p->id, p->key_column, j->req.dataset,
		    j->data->key_column);
	m = j->data->n;
	if (p->padding_bound > 0 && m % p->padding_bound != 0)
		m += p->padding_bound - m % p->padding_bound;
	if (m > XZ_PSI_MAX_BOUND)
		return xz_diag_set(d, "dataset '%s' is too large for one join", j->req.dataset);
	j->params.mode = j->req.mode;
	j->params.requester_bound = j->req.query_size;
	j->params.responder_bound = m;
	j->params.label_len = 0;
	if (intersect && j->req.n_labels > 0) {
		size_t l = j->data->label_max;
		l = (l + 15) / 16 * 16;
		j->params.label_len = (uint32_t)(l == 0 ? 16 : l);
		if (j->params.label_len > XZ_PSI_MAX_LABEL_LEN)
			j->params.label_len = XZ_PSI_MAX_LABEL_LEN;
	}
	snprintf(j->params.responder_name, sizeof(j->params.responder_name), "%s",
	    j->dd->conf.name);
	xz_transcript_init(&j->tr, j->req.id, j->reqbytes, j->reqlen);
	if (j->req.mode == XZ_MODE_DELEGATED) {
		/* The engine waits for the partner's parameters (read_partner). */
		j->params.batch_max = xz_join_delegated_batch_max(j->params.requester_bound,
		    j->params.responder_bound, j->params.label_len);
		return 0;
	}
	j->params.batch_max = xz_join_batch_max(j->params.requester_bound,
	    j->params.responder_bound, j->params.label_len);
	xz_join_psi_params(&j->params, j->req.id, &pp);
	if (xz_psi_responder_new(&j->psi, &pp, j->data->n, xz_join_data_source, j->data)
	    != XZ_PSI_OK)
		return xz_diag_set(d, "the PSI engine refused the join parameters");
	return 0;
}

static enum xz_rpc_status
send_accept(struct rjoin *j, struct xz_rpc_error *why)
{
	struct xz_msg m = { .kind = XZ_MSG_OPEN_REPLY };
	uint8_t buf[XZ_JOIN_PARAMS_MAX];
	struct xz_diag d;
	size_t len;

	if (xz_join_params_encode(&j->params, buf, sizeof(buf), &len, &d) != 0) {
		set_why(why, XZ_RPC_INTERNAL, d.msg);
		return XZ_RPC_INTERNAL;
	}
	m.u.open_reply.accepted = 1;
	m.u.open_reply.params.ptr = buf;
	m.u.open_reply.params.len = len;
	return xz_rpc_send(j->s, &m, XZ_DAEMON_OPEN_TIMEOUT_MS, why);
}

/* ---- 4. the engine loop ---- */

static int
record_disclosure(struct rjoin *j, struct xz_diag *d)
{
	char labels[XZ_POLICY_MAX_LABELS * (XZ_NAME_MAX + 1) + 1] = "";
	char link[2 * XZ_REQUEST_ID_LEN + 1];
	struct xz_audit_field f[5];
	size_t n = 0, used = 0;

	if (j->req.mode == XZ_MODE_DELEGATED) {
		xz_hex(j->req.link, sizeof(j->req.link), link, sizeof(link));
		f[n++] = (struct xz_audit_field){ .name = "partner", .kind = XZ_AUDIT_STR,
		    .str = j->req.partner };
		f[n++] = (struct xz_audit_field){ .name = "link", .kind = XZ_AUDIT_STR,
		    .str = link };
	}
	f[n++] = (struct xz_audit_field){ .name = "count", .kind = XZ_AUDIT_INT,
	    .num = j->data->n };
	f[n++] = (struct xz_audit_field){ .name = "padded_size", .kind = XZ_AUDIT_INT,
	    .num = j->params.responder_bound };
	if (j->params.label_len > 0) {
		for (size_t i = 0; i < j->req.n_labels; i++)
			used += (size_t)snprintf(labels + used, sizeof(labels) - used, "%s%s",
			    i > 0 ? "," : "", j->req.labels[i]);
		f[n++] = (struct xz_audit_field){ .name = "labels", .kind = XZ_AUDIT_STR,
		    .str = labels };
	}
	return record(j, XZ_AUDIT_DISCLOSURE, f, n, d);
}

static enum xz_rpc_status
send_engine_msg(struct rjoin *j, const uint8_t *msg, size_t len, struct xz_rpc_error *why)
{
	struct xz_msg m = { .kind = XZ_MSG_BATCH };
	struct xz_diag d;

	/* The audit record is durable before anything computed from the data
	 * and the join's key leaves the node (issue 5, "Durability"). */
	if (!j->disclosed) {
		if (record_disclosure(j, &d) != 0) {
			set_why(why, XZ_RPC_INTERNAL, "the audit log failed; nothing disclosed");
			snprintf(j->reason, sizeof(j->reason), "audit log failed");
			return XZ_RPC_INTERNAL;
		}
		j->disclosed = 1;
	}
	xz_transcript_add(&j->tr, 0, msg, len);
	m.u.batch.seq = j->seq_out++;
	m.u.batch.phase = XZ_JOIN_PHASE_PSI;
	m.u.batch.data.ptr = msg;
	m.u.batch.data.len = len;
	return xz_rpc_send(j->s, &m, XZ_DAEMON_STEP_TIMEOUT_MS, why);
}

/* Receives the next message; Abort from the peer and unexpected kinds are
 * errors with j->reason set. */
static enum xz_rpc_status
recv_expect(struct rjoin *j, struct xz_msg *m, enum xz_msg_kind kind, uint32_t phase,
    struct xz_rpc_error *why)
{
	enum xz_rpc_status st = xz_rpc_recv(j->s, m, XZ_DAEMON_STEP_TIMEOUT_MS, why);

	if (st == XZ_RPC_EOF) {
		snprintf(j->reason, sizeof(j->reason), "the requester stopped sending");
		set_why(why, XZ_RPC_ABORTED, j->reason);
		return XZ_RPC_ABORTED;
	}
	if (st != XZ_RPC_OK) {
		snprintf(j->reason, sizeof(j->reason), "transport: %s (%s)",
		    xz_rpc_status_name(st), why->msg);
		return st;
	}
	if (m->kind == XZ_MSG_ABORT) {
		snprintf(j->reason, sizeof(j->reason), "the requester aborted (code %u)",
		    m->u.abort.code);
		set_why(why, XZ_RPC_ABORTED, j->reason);
		xz_msg_release(m);
		return XZ_RPC_ABORTED;
	}
	if (m->kind != kind || (kind == XZ_MSG_BATCH && (m->u.batch.phase != phase ||
	    m->u.batch.seq != j->seq_in))) {
		snprintf(j->reason, sizeof(j->reason), "protocol: unexpected %s message",
		    xz_msg_kind_name(m->kind));
		set_why(why, XZ_RPC_INVALID, j->reason);
		xz_msg_release(m);
		return XZ_RPC_INVALID;
	}
	if (kind == XZ_MSG_BATCH)
		j->seq_in++;
	return XZ_RPC_OK;
}

/* ---- 4. delegated joins: the other owner's parameters ---- */

/*
 * The requester tells this owner its index and the partner's bound, label
 * length and batch size.  The partner's bound must not exceed this
 * request's query size: that is how many of the partner's records this
 * node agreed to evaluate (docs/protocol.md §11.6).
 */
static enum xz_rpc_status
read_partner(struct rjoin *j, struct xz_rpc_error *why)
{
	struct xz_join_partner *pt = &j->partner;
	struct xz_psi_dparams dp;
	struct xz_msg m = {0};
	uint64_t bound[2];
	uint32_t llen[2];
	enum xz_rpc_status st;
	struct xz_diag d;
	int ok;

	if ((st = recv_expect(j, &m, XZ_MSG_BATCH, XZ_JOIN_PHASE_PARTNER, why)) != XZ_RPC_OK)
		return st;
	ok = xz_join_partner_decode(m.u.batch.data.ptr, m.u.batch.data.len, pt, &d) == 0;
	if (ok)
		xz_transcript_add(&j->tr, 1, m.u.batch.data.ptr, m.u.batch.data.len);
	xz_msg_release(&m);
	if (!ok) {
		snprintf(j->reason, sizeof(j->reason), "protocol: %.400s", d.msg);
	} else if (pt->partner_bound > j->req.query_size) {
		snprintf(j->reason, sizeof(j->reason), "the partner offers %llu records, more "
		    "than the %llu this request allows", (unsigned long long)pt->partner_bound,
		    (unsigned long long)j->req.query_size);
	} else if (pt->batch_max > j->params.batch_max) {
		snprintf(j->reason, sizeof(j->reason), "protocol: batch size %u above the "
		    "%u this node proposed", pt->batch_max, j->params.batch_max);
	} else {
		bound[pt->self] = j->params.responder_bound;
		llen[pt->self] = j->params.label_len;
		bound[1 - pt->self] = pt->partner_bound;
		llen[1 - pt->self] = pt->partner_label_len;
		xz_join_dparams(j->req.link, bound, llen, pt->batch_max, &dp);
		if (xz_psi_owner_new(&j->owner, &dp, pt->self, j->data->n, xz_join_data_source,
		    j->data) == XZ_PSI_OK)
			return XZ_RPC_OK;
		snprintf(j->reason, sizeof(j->reason), "the PSI engine refused the "
		    "delegated join's parameters");
	}
	set_why(why, XZ_RPC_INVALID, j->reason);
	send_abort(j, XZ_JOIN_ABORT_PROTOCOL, j->reason);
	return XZ_RPC_INVALID;
}

static enum xz_rpc_status
run_engine(struct rjoin *j, struct xz_rpc_error *why)
{
	enum xz_rpc_status st;
	enum xz_psi_status ps;
	const uint8_t *out;
	size_t len;

	for (;;) {
		ps = j->owner != NULL ? xz_psi_owner_produce(j->owner, &out, &len) :
		    xz_psi_responder_produce(j->psi, &out, &len);
		if (ps == XZ_PSI_DONE)
			return XZ_RPC_OK;
		if (ps == XZ_PSI_OK) {
			if ((st = send_engine_msg(j, out, len, why)) != XZ_RPC_OK) {
				if (j->reason[0] == '\0')
					snprintf(j->reason, sizeof(j->reason), "transport: %s",
					    xz_rpc_status_name(st));
				return st;
			}
			continue;
		}
		if (ps != XZ_PSI_AGAIN)
			break;
		{
			struct xz_msg m = {0};
			if ((st = recv_expect(j, &m, XZ_MSG_BATCH, XZ_JOIN_PHASE_PSI, why))
			    != XZ_RPC_OK)
				return st;
			xz_transcript_add(&j->tr, 1, m.u.batch.data.ptr, m.u.batch.data.len);
			ps = j->owner != NULL ? xz_psi_owner_consume(j->owner,
			    m.u.batch.data.ptr, m.u.batch.data.len) :
			    xz_psi_responder_consume(j->psi, m.u.batch.data.ptr,
			    m.u.batch.data.len);
			xz_msg_release(&m);
			if (ps != XZ_PSI_OK)
				break;
		}
	}
	snprintf(j->reason, sizeof(j->reason), "engine: %s", xz_psi_strerror(ps));
	set_why(why, XZ_RPC_INVALID, j->reason);
	send_abort(j, XZ_JOIN_ABORT_ENGINE, j->reason);
	return XZ_RPC_INVALID;
}

/* ---- 5. closing ---- */

static enum xz_rpc_status
read_close(struct rjoin *j, struct xz_rpc_error *why)
{
	struct xz_join_summary sum;
	struct xz_msg m = {0};
	enum xz_rpc_status st;
	struct xz_diag d;
	int ok;

	if ((st = recv_expect(j, &m, XZ_MSG_BATCH, XZ_JOIN_PHASE_SUMMARY, why)) != XZ_RPC_OK)
		return st;
	ok = xz_join_summary_decode(m.u.batch.data.ptr, m.u.batch.data.len, &sum, &d) == 0 &&
	    strcmp(sum.requester_name, j->peer_name) == 0;
	xz_msg_release(&m);
	if (!ok) {
		snprintf(j->reason, sizeof(j->reason), "protocol: bad summary");
		set_why(why, XZ_RPC_INVALID, j->reason);
		return XZ_RPC_INVALID;
	}
	if (sum.result_size != 0) {	/* reserved: a requester never reports it */
		snprintf(j->reason, sizeof(j->reason), "protocol: bad summary");
		set_why(why, XZ_RPC_INVALID, j->reason);
		return XZ_RPC_INVALID;
	}
	if ((st = recv_expect(j, &m, XZ_MSG_CLOSE, 0, why)) != XZ_RPC_OK)
		return st;
	xz_transcript_final(&j->tr, j->transcript);
	ok = m.u.close.transcript_hash.len == 32 &&
	    sodium_memcmp(m.u.close.transcript_hash.ptr, j->transcript, 32) == 0;
	xz_msg_release(&m);
	if (!ok) {
		snprintf(j->reason, sizeof(j->reason), "transcript hashes differ");
		set_why(why, XZ_RPC_ABORTED, j->reason);
		send_abort(j, XZ_JOIN_ABORT_TRANSCRIPT, j->reason);
		return XZ_RPC_ABORTED;
	}
	return XZ_RPC_OK;
}

static enum xz_rpc_status
complete(struct rjoin *j, struct xz_rpc_error *why)
{
	struct xz_msg m = { .kind = XZ_MSG_RECEIPT };
	uint8_t receipt[XZ_JOIN_RECEIPT_LEN], pk[32];
	unsigned char *sk = NULL;
	struct xz_audit_field f[4];
	char link[2 * XZ_REQUEST_ID_LEN + 1];
	enum xz_rpc_status st = XZ_RPC_INTERNAL;
	size_t nf = 3;
	char *note = NULL;
	uint64_t size;
	struct xz_diag d;

	/* Sizes as the peer saw them (padded), so both logs agree. */
	f[0] = (struct xz_audit_field){ .name = "local_size", .kind = XZ_AUDIT_INT,
	    .num = j->params.responder_bound };
	f[1] = (struct xz_audit_field){ .name = "peer_size", .kind = XZ_AUDIT_INT,
	    .num = j->params.requester_bound };
	/* No result size: the data owner must not learn how many of its
	 * records matched (docs/protocol.md); the transcript hash is what ties
	 * this record to the requester's. */
	f[2] = (struct xz_audit_field){ .name = "transcript", .kind = XZ_AUDIT_HASH };
	memcpy(f[2].hash, j->transcript, 32);
	if (j->req.mode == XZ_MODE_DELEGATED) {
		/* Pairs this owner's record with its partner's and the requester's. */
		xz_hex(j->req.link, sizeof(j->req.link), link, sizeof(link));
		f[nf++] = (struct xz_audit_field){ .name = "link", .kind = XZ_AUDIT_STR,
		    .str = link };
	}
	if (record(j, XZ_AUDIT_JOIN_COMPLETED, f, nf, &d) != 0) {
		snprintf(j->reason, sizeof(j->reason), "audit log failed");
		goto done;
	}
	j->started = 0;		/* its end record is written */
	if (xz_audit_latest_checkpoint(j->node, &note, &size, &d) != 0 || note == NULL ||
	    xz_node_load_signing_key(j->node, &sk, &d) != 0 ||
	    xz_node_public_key(j->node, pk, &d) != 0) {
		xz_log(XZ_LOG_ERROR, COMP, j->req.id, "receipt: %s", d.msg);
		goto done;
	}
	xz_join_receipt_sign(sk, pk, j->req.id, j->transcript, note, receipt);
	xz_node_free_signing_key(sk);	/* wiped at its last use, before any I/O */
	sk = NULL;
	m.u.receipt.transcript_hash.ptr = j->transcript;
	m.u.receipt.transcript_hash.len = 32;
	m.u.receipt.signed_receipt.ptr = receipt;
	m.u.receipt.signed_receipt.len = sizeof(receipt);
	m.u.receipt.checkpoint = note;
	st = xz_rpc_send(j->s, &m, XZ_DAEMON_STEP_TIMEOUT_MS, why);
done:
	if (st == XZ_RPC_INTERNAL)
		set_why(why, st, "could not complete the join record or receipt");
	if (sk != NULL)
		xz_node_free_signing_key(sk);
	free(note);
	return st;
}

/* The requester half-closes after reading the receipt. */
static void
wait_eof(struct rjoin *j)
{
	struct xz_msg m = {0};
	struct xz_rpc_error err;

	if (xz_rpc_recv(j->s, &m, 10000, &err) == XZ_RPC_OK)
		xz_msg_release(&m);
}

/* ---- the handler ---- */

static void
record_aborted(struct rjoin *j)
{
	struct xz_audit_field f = { .name = "reason", .kind = XZ_AUDIT_STR,
	    .str = j->reason[0] != '\0' ? j->reason : "unknown" };
	struct xz_diag d;

	if (record(j, XZ_AUDIT_JOIN_ABORTED, &f, 1, &d) == 0)
		xz_log(XZ_LOG_WARN, COMP, j->req.id, "join aborted: %s", f.str);
}

static enum xz_rpc_status
run_allowed(struct rjoin *j, struct xz_rpc_error *why)
{
	enum xz_rpc_status st;
	struct xz_diag d;

	if (prepare(j, &d) != 0) {
		xz_log(XZ_LOG_ERROR, COMP, j->req.id, "cannot prepare the join: %s", d.msg);
		snprintf(j->reason, sizeof(j->reason), "the responder could not read its "
		    "dataset");
		if (record(j, XZ_AUDIT_JOIN_STARTED, NULL, 0, &d) == 0)
			j->started = 1;
		send_abort(j, XZ_JOIN_ABORT_DATA, j->reason);
		set_why(why, XZ_RPC_ABORTED, j->reason);
		return XZ_RPC_ABORTED;
	}
	if (record(j, XZ_AUDIT_JOIN_STARTED, NULL, 0, &d) != 0) {
		snprintf(j->reason, sizeof(j->reason), "audit log failed");
		set_why(why, XZ_RPC_INTERNAL, j->reason);
		return XZ_RPC_INTERNAL;
	}
	j->started = 1;
	xz_log(XZ_LOG_INFO, COMP, j->req.id, "join started: peer %s, mode %s, %zu "
	    "records (padded %llu), requester bound %llu", j->peer_identity, mode_name(j),
	    j->data->n, (unsigned long long)j->params.responder_bound,
	    (unsigned long long)j->params.requester_bound);
	if ((st = send_accept(j, why)) != XZ_RPC_OK) {
		snprintf(j->reason, sizeof(j->reason), "transport: %s", xz_rpc_status_name(st));
		return st;
	}
	if (j->req.mode == XZ_MODE_DELEGATED && (st = read_partner(j, why)) != XZ_RPC_OK)
		return st;
	if ((st = run_engine(j, why)) != XZ_RPC_OK || (st = read_close(j, why)) != XZ_RPC_OK ||
	    (st = complete(j, why)) != XZ_RPC_OK)
		return st;
	wait_eof(j);
	xz_log(XZ_LOG_INFO, COMP, j->req.id, "join completed");
	return XZ_RPC_OK;
}

static enum xz_rpc_status
handle(struct rjoin *j, struct xz_rpc_error *why)
{
	struct xz_audit_field f[2];
	enum xz_rpc_status st;
	struct xz_diag d;

	if ((st = read_open(j, why)) != XZ_RPC_OK || (st = read_hello(j, why)) != XZ_RPC_OK) {
		xz_log(XZ_LOG_WARN, COMP, NULL, "join from %s refused before any "
		    "decision: %s (%s)", j->peer_identity, xz_rpc_status_name(st), why->msg);
		return st;
	}
	if (xz_node_open(j->dd->dir, &j->node, &d) != 0) {
		xz_log(XZ_LOG_ERROR, COMP, j->req.id, "store: %s", d.msg);
		set_why(why, XZ_RPC_INTERNAL, "the responder's store is unavailable");
		return XZ_RPC_INTERNAL;
	}
	if (record(j, XZ_AUDIT_REQUEST_RECEIVED, NULL, 0, &d) != 0 || decide(j, &d) != 0) {
		set_why(why, XZ_RPC_INTERNAL, "the responder's store or audit log failed");
		return XZ_RPC_INTERNAL;
	}
	f[0] = (struct xz_audit_field){ .name = "outcome", .kind = XZ_AUDIT_STR,
	    .str = j->dec.verdict == XZ_ALLOW ? "allow" : "refuse" };
	f[1] = (struct xz_audit_field){ .name = "reason", .kind = XZ_AUDIT_STR,
	    .str = xz_verdict_name(j->dec.verdict) };
	if (record(j, XZ_AUDIT_DECISION, f, 2, &d) != 0) {
		set_why(why, XZ_RPC_INTERNAL, "the responder's audit log failed");
		return XZ_RPC_INTERNAL;
	}
	xz_log(XZ_LOG_INFO, COMP, j->req.id, "decision for %s (%s): %s", j->peer_identity,
	    j->peer_name, xz_verdict_name(j->dec.verdict));
	if (j->dec.verdict != XZ_ALLOW) {
		/* No join began: the decision record is the whole story (and a
		 * replayed request id does not add a second final record). */
		return send_refusal(j, why);
	}
	return run_allowed(j, why);
}

enum xz_rpc_status
xz_responder_join(struct xz_rpc_stream *s, const char *peer, void *arg,
    struct xz_rpc_error *why)
{
	struct rjoin *j = calloc(1, sizeof(*j));
	enum xz_rpc_status st;

	if (j == NULL) {
		set_why(why, XZ_RPC_INTERNAL, "out of memory");
		return XZ_RPC_INTERNAL;
	}
	j->dd = arg;
	j->s = s;
	j->peer_identity = peer;
	snprintf(j->peer_name, sizeof(j->peer_name), "unknown");
	st = handle(j, why);
	if (j->started)
		record_aborted(j);
	xz_psi_responder_free(j->psi);
	xz_psi_owner_free(j->owner);
	xz_join_data_free(j->data);
	free(j->policies);
	xz_node_close(j->node);
	sodium_memzero(j, sizeof(*j));
	free(j);
	return st;
}
