/*
 * The responder's side of a join in xiezhid's network process: the Join
 * handler run for each call (docs/operations.md §"The join on the wire",
 * docs/transport.md).  It reads and checks the wire messages; everything
 * that needs the store, a key or the data is asked of the key process over
 * the join's session (node/keeper.h, node/keeper.c), which also enforces
 * the order below: this process never holds the dataset, the OPRF key or
 * the signing key, and cannot skip the decision or the disclosure record.
 *
 * Order of events, and why:
 *   1. Open and HELLO are read and checked as hostile bytes.
 *   2. DECIDE: the keeper records request_received, takes the decision
 *      against the policies in force, the peer's authenticated TLS
 *      identity, the clock and the replay/budget state, and records it.
 *      Nothing about the dataset is touched and no exponentiation happens
 *      before an allow.
 *   3. A refusal goes back as OpenReply{accepted = false} with the verdict
 *      code and its one-line reason, then the call ends OK.
 *   4. On allow, START: the keeper reads the dataset, records join_started
 *      and returns the parameters, which are sent.  A delegated join then
 *      reads the requester's PARTNER message and passes it on (the keeper
 *      checks it and builds the owner's engine).  PRODUCE / CONSUME run
 *      the engine; the keeper commits the disclosure record (fsync) before
 *      it hands out the first engine message: every message the responder
 *      sends is a function of its data and key.
 *   5. After the engine finished, the requester's summary and Close arrive;
 *      CLOSE has the keeper check the transcript hashes, record
 *      join_completed and sign the receipt, which goes back with the audit
 *      checkpoint.
 *   Any failure after step 2 ends the keeper's session with a join_aborted
 *   record (ABORT with the reason, or the socket closing) and sends nothing
 *   more than an Abort.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "daemon.h"
#include "daemon_wire.h"
#include "keeper.h"
#include "log.h"
#include "request.h"

#define COMP "join"

struct rjoin {
	struct xz_daemon *dd;
	struct xz_rpc_stream *s;
	const char *peer_identity;	/* authenticated TLS identity */
	char peer_name[XZ_JOIN_NODE_NAME_MAX + 1];
	uint8_t reqbytes[XZ_REQUEST_ENCODED_MAX];
	size_t reqlen;
	struct xz_request req;
	uint8_t approvals[XZ_REQUEST_MAX_APPROVALS][XZ_JOIN_APPROVAL_MAX];
	size_t approval_len[XZ_REQUEST_MAX_APPROVALS];
	size_t napprovals;
	struct xz_ksession *ks;
	struct xz_kbuf body;
	int keeper_over;	/* the keeper has ended its side of the session */
	uint64_t seq_out, seq_in;
	char reason[XZ_RPC_MAX_REASON];
};

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

/* ---- talking to the key process ---- */

/* The session broke (the keeper is gone or broke the protocol). */
static enum xz_rpc_status
keeper_broken(struct rjoin *j, const struct xz_diag *d, struct xz_rpc_error *why)
{
	xz_log(XZ_LOG_ERROR, COMP, j->req.id, "key process: %s", d->msg);
	j->keeper_over = 1;
	snprintf(j->reason, sizeof(j->reason), "the responder's key process failed");
	send_abort(j, XZ_JOIN_ABORT_STORE, j->reason);
	set_why(why, XZ_RPC_INTERNAL, j->reason);
	return XZ_RPC_INTERNAL;
}

/* FAIL from the keeper: it has ended its side (and recorded what it owes);
 * pass its status and reason on, with an Abort when it names a code. */
static enum xz_rpc_status
keeper_failed(struct rjoin *j, struct xz_kmsg *m, struct xz_rpc_error *why)
{
	uint32_t st = xz_kcur_u32(&m->body), code = xz_kcur_u32(&m->body);
	char reason[XZ_RPC_MAX_REASON];

	xz_kcur_str(&m->body, reason, sizeof(reason));
	if (xz_kcur_end(&m->body) != 0 || st <= XZ_RPC_EOF || st > XZ_RPC_CONFIG ||
	    code > XZ_JOIN_ABORT_STORE || reason[0] == '\0') {
		st = XZ_RPC_INTERNAL;
		code = 0;
		snprintf(reason, sizeof(reason), "the responder's key process failed");
	}
	j->keeper_over = 1;
	snprintf(j->reason, sizeof(j->reason), "%s", reason);
	if (code != 0)
		send_abort(j, (enum xz_join_abort)code, reason);
	set_why(why, (enum xz_rpc_status)st, reason);
	return (enum xz_rpc_status)st;
}

/*
 * One request to the keeper; on XZ_RPC_OK *m is the reply (one of the
 * types in rules).  Anything else has been dealt with (logged, Abort sent
 * where due) and is the handler's status.
 */
static enum xz_rpc_status
ask(struct rjoin *j, uint32_t type, const struct xz_kmsg_rule *rules, size_t n,
    struct xz_kmsg *m, struct xz_rpc_error *why)
{
	struct xz_diag d;

	if (xz_ksession_call(j->ks, type, j->body.len > 0 ? &j->body : NULL, rules, n, m,
	    &d) != 0)
		return keeper_broken(j, &d, why);
	xz_kbuf_reset(&j->body);
	if (m->type == XZ_KR_FAIL)
		return keeper_failed(j, m, why);
	return XZ_RPC_OK;
}

/* Ends the keeper's side of the join with the reason (a wire problem). */
static void
tell_keeper_abort(struct rjoin *j)
{
	if (!j->keeper_over)
		xz_ksession_abort(j->ks, j->reason[0] != '\0' ? j->reason : "transport failure");
}

/* ---- 1. Open and hello ---- */

static enum xz_rpc_status
read_open(struct rjoin *j, struct xz_rpc_error *why)
{
	struct xz_approval a;
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
	/* Checked here so a broken one gets its message; the keeper decodes
	 * the same bytes again before it uses them. */
	for (size_t i = 0; i < m.u.open.n_approvals; i++) {
		if (m.u.open.approvals[i].len > XZ_JOIN_APPROVAL_MAX ||
		    xz_join_approval_decode(m.u.open.approvals[i].ptr,
		    m.u.open.approvals[i].len, &a, &d) != 0) {
			set_why(why, st, m.u.open.approvals[i].len > XZ_JOIN_APPROVAL_MAX ?
			    "an approval is too long" : d.msg);
			goto done;
		}
		memcpy(j->approvals[i], m.u.open.approvals[i].ptr, m.u.open.approvals[i].len);
		j->approval_len[i] = m.u.open.approvals[i].len;
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

static enum xz_rpc_status
send_refusal(struct rjoin *j, uint32_t verdict, const char *reason, struct xz_rpc_error *why)
{
	struct xz_msg m = { .kind = XZ_MSG_OPEN_REPLY };

	m.u.open_reply.accepted = 0;
	m.u.open_reply.refusal_code = verdict;
	m.u.open_reply.reason = reason;
	/* The node name, so the requester's join_aborted names us the way
	 * crosscheck pairs records. */
	m.u.open_reply.params.ptr = (const uint8_t *)j->dd->conf.name;
	m.u.open_reply.params.len = strlen(j->dd->conf.name);
	return xz_rpc_send(j->s, &m, XZ_DAEMON_OPEN_TIMEOUT_MS, why);
}

/* DECIDE: *allowed is set on XZ_RPC_OK; a refusal has been sent. */
static enum xz_rpc_status
decide(struct rjoin *j, int *allowed, struct xz_rpc_error *why)
{
	static const struct xz_kmsg_rule rules[] = {
		{ XZ_KR_VERDICT, 4 + 4 + 4 + XZ_RPC_MAX_REASON, 0 },
	};
	char reason[XZ_RPC_MAX_REASON];
	enum xz_rpc_status st;
	struct xz_kmsg m;
	uint32_t verdict, ok;

	xz_kbuf_bytes(&j->body, j->reqbytes, j->reqlen);
	xz_kbuf_u32(&j->body, (uint32_t)j->napprovals);
	for (size_t i = 0; i < j->napprovals; i++)
		xz_kbuf_bytes(&j->body, j->approvals[i], j->approval_len[i]);
	xz_kbuf_str(&j->body, j->peer_identity);
	xz_kbuf_str(&j->body, j->peer_name);
	if ((st = ask(j, XZ_KS_DECIDE, rules, 1, &m, why)) != XZ_RPC_OK)
		return st;
	verdict = xz_kcur_u32(&m.body);
	ok = xz_kcur_u32(&m.body);
	xz_kcur_str(&m.body, reason, sizeof(reason));
	if (xz_kcur_end(&m.body) != 0 || ok > 1 || (ok == 1) != (verdict == 0)) {
		struct xz_diag d = { "a VERDICT that does not decode" };
		return keeper_broken(j, &d, why);
	}
	*allowed = ok == 1;
	return ok ? XZ_RPC_OK : send_refusal(j, verdict, reason, why);
}

/* ---- 4. the engine ---- */

static enum xz_rpc_status
start(struct rjoin *j, struct xz_rpc_error *why)
{
	static const struct xz_kmsg_rule rules[] = {
		{ XZ_KR_PARAMS, 4 + XZ_JOIN_PARAMS_MAX, 0 },
	};
	struct xz_msg out = { .kind = XZ_MSG_OPEN_REPLY };
	struct xz_join_params params;
	enum xz_rpc_status st;
	const uint8_t *p;
	struct xz_kmsg m;
	struct xz_diag d;
	size_t len;

	if ((st = ask(j, XZ_KS_START, rules, 1, &m, why)) != XZ_RPC_OK)
		return st;
	xz_kcur_bytes(&m.body, XZ_JOIN_PARAMS_MAX, &p, &len);
	if (xz_kcur_end(&m.body) != 0 || xz_join_params_decode(p, len, &params, &d) != 0) {
		if (m.body.bad)
			snprintf(d.msg, sizeof(d.msg), "a PARAMS that does not decode");
		return keeper_broken(j, &d, why);
	}
	out.u.open_reply.accepted = 1;
	out.u.open_reply.params.ptr = p;
	out.u.open_reply.params.len = len;
	if ((st = xz_rpc_send(j->s, &out, XZ_DAEMON_OPEN_TIMEOUT_MS, why)) != XZ_RPC_OK)
		snprintf(j->reason, sizeof(j->reason), "transport: %s", xz_rpc_status_name(st));
	return st;
}

static enum xz_rpc_status
send_batch(struct rjoin *j, const uint8_t *msg, size_t len, struct xz_rpc_error *why)
{
	struct xz_msg m = { .kind = XZ_MSG_BATCH };
	enum xz_rpc_status st;

	m.u.batch.seq = j->seq_out++;
	m.u.batch.phase = XZ_JOIN_PHASE_PSI;
	m.u.batch.data.ptr = msg;
	m.u.batch.data.len = len;
	if ((st = xz_rpc_send(j->s, &m, XZ_DAEMON_STEP_TIMEOUT_MS, why)) != XZ_RPC_OK &&
	    j->reason[0] == '\0')
		snprintf(j->reason, sizeof(j->reason), "transport: %s", xz_rpc_status_name(st));
	return st;
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

/* Delegated joins: the requester's PARTNER message, right after our
 * accepting OpenReply, goes to the keeper as it came; the keeper checks it
 * and builds the owner's engine (docs/protocol.md §11). */
static enum xz_rpc_status
pass_partner(struct rjoin *j, struct xz_rpc_error *why)
{
	static const struct xz_kmsg_rule rules[] = { { XZ_KR_CONSUMED, 0, 0 } };
	struct xz_msg m = {0};
	enum xz_rpc_status st;
	struct xz_kmsg r;

	if ((st = recv_expect(j, &m, XZ_MSG_BATCH, XZ_JOIN_PHASE_PARTNER, why)) != XZ_RPC_OK)
		return st;
	xz_kbuf_bytes(&j->body, m.u.batch.data.ptr,
	    m.u.batch.data.len <= XZ_JOIN_PARTNER_MAX ? m.u.batch.data.len : 0);
	xz_msg_release(&m);
	return ask(j, XZ_KS_PARTNER, rules, 1, &r, why);
}

/* Passes the engine's messages both ways until it has sent its last one.
 * A wire failure returns with j->reason set and the keeper not told yet. */
static enum xz_rpc_status
run_engine(struct rjoin *j, struct xz_rpc_error *why)
{
	static const struct xz_kmsg_rule produced[] = {
		{ XZ_KR_OUT, 4 + XZ_RPC_MAX_BATCH_DATA, 0 },
		{ XZ_KR_AGAIN, 0, 0 },
		{ XZ_KR_DONE, 0, 0 },
	};
	static const struct xz_kmsg_rule consumed[] = { { XZ_KR_CONSUMED, 0, 0 } };
	enum xz_rpc_status st;
	struct xz_kmsg r;

	for (;;) {
		const uint8_t *out;
		size_t len;
		struct xz_msg m = {0};

		if ((st = ask(j, XZ_KS_PRODUCE, produced, 3, &r, why)) != XZ_RPC_OK)
			return st;
		if (r.type == XZ_KR_DONE)
			return XZ_RPC_OK;
		if (r.type == XZ_KR_OUT) {
			xz_kcur_bytes(&r.body, XZ_RPC_MAX_BATCH_DATA, &out, &len);
			if (xz_kcur_end(&r.body) != 0) {
				struct xz_diag d = { "an OUT that does not decode" };
				return keeper_broken(j, &d, why);
			}
			if ((st = send_batch(j, out, len, why)) != XZ_RPC_OK)
				return st;
			continue;
		}
		/* XZ_KR_AGAIN: the engine waits for the requester. */
		if ((st = recv_expect(j, &m, XZ_MSG_BATCH, XZ_JOIN_PHASE_PSI, why)) != XZ_RPC_OK)
			return st;
		xz_kbuf_bytes(&j->body, m.u.batch.data.ptr, m.u.batch.data.len);
		xz_msg_release(&m);
		if ((st = ask(j, XZ_KS_CONSUME, consumed, 1, &r, why)) != XZ_RPC_OK)
			return st;
	}
}

/* ---- 5. closing ---- */

static enum xz_rpc_status
read_close(struct rjoin *j, struct xz_rpc_error *why)
{
	struct xz_msg m = {0};
	enum xz_rpc_status st;

	if ((st = recv_expect(j, &m, XZ_MSG_BATCH, XZ_JOIN_PHASE_SUMMARY, why)) != XZ_RPC_OK)
		return st;
	/* The summary goes to the keeper as it came; it checks it. */
	xz_kbuf_bytes(&j->body, m.u.batch.data.ptr,
	    m.u.batch.data.len <= XZ_JOIN_SUMMARY_MAX ? m.u.batch.data.len : 0);
	xz_msg_release(&m);
	if ((st = recv_expect(j, &m, XZ_MSG_CLOSE, 0, why)) != XZ_RPC_OK) {
		xz_kbuf_reset(&j->body);
		return st;
	}
	xz_kbuf_bytes(&j->body, m.u.close.transcript_hash.ptr,
	    m.u.close.transcript_hash.len <= XZ_RPC_MAX_HASH ?
	    m.u.close.transcript_hash.len : 0);
	xz_msg_release(&m);
	return XZ_RPC_OK;
}

static enum xz_rpc_status
complete(struct rjoin *j, struct xz_rpc_error *why)
{
	static const struct xz_kmsg_rule rules[] = {
		{ XZ_KR_RECEIPT, 4 + 32 + 4 + XZ_JOIN_RECEIPT_LEN + 4 + XZ_RPC_MAX_CHECKPOINT, 0 },
	};
	struct xz_msg out = { .kind = XZ_MSG_RECEIPT };
	char note[XZ_RPC_MAX_CHECKPOINT + 1];
	const uint8_t *hash, *receipt;
	size_t hlen, rlen;
	enum xz_rpc_status st;
	struct xz_kmsg m;

	if ((st = ask(j, XZ_KS_CLOSE, rules, 1, &m, why)) != XZ_RPC_OK)
		return st;
	xz_kcur_bytes(&m.body, 32, &hash, &hlen);
	xz_kcur_bytes(&m.body, XZ_JOIN_RECEIPT_LEN, &receipt, &rlen);
	/* The checkpoint note has newlines: taken as bytes, not a line. */
	{
		const uint8_t *n;
		size_t nlen;
		xz_kcur_bytes(&m.body, XZ_RPC_MAX_CHECKPOINT, &n, &nlen);
		if (n != NULL && nlen > 0 && memchr(n, '\0', nlen) == NULL)
			memcpy(note, n, nlen);
		else
			m.body.bad = 1;
		note[nlen] = '\0';
	}
	if (xz_kcur_end(&m.body) != 0 || hlen != 32 || rlen != XZ_JOIN_RECEIPT_LEN) {
		struct xz_diag d = { "a RECEIPT that does not decode" };
		return keeper_broken(j, &d, why);
	}
	out.u.receipt.transcript_hash.ptr = hash;
	out.u.receipt.transcript_hash.len = 32;
	out.u.receipt.signed_receipt.ptr = receipt;
	out.u.receipt.signed_receipt.len = XZ_JOIN_RECEIPT_LEN;
	out.u.receipt.checkpoint = note;
	return xz_rpc_send(j->s, &out, XZ_DAEMON_STEP_TIMEOUT_MS, why);
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

static enum xz_rpc_status
run_allowed(struct rjoin *j, struct xz_rpc_error *why)
{
	enum xz_rpc_status st;

	/* A wire failure leaves the keeper waiting: it is told why. */
	if ((st = start(j, why)) != XZ_RPC_OK ||
	    (j->req.mode == XZ_MODE_DELEGATED && (st = pass_partner(j, why)) != XZ_RPC_OK) ||
	    (st = run_engine(j, why)) != XZ_RPC_OK || (st = read_close(j, why)) != XZ_RPC_OK) {
		tell_keeper_abort(j);
		return st;
	}
	if ((st = complete(j, why)) != XZ_RPC_OK)
		return st;
	wait_eof(j);
	return XZ_RPC_OK;
}

static enum xz_rpc_status
handle(struct rjoin *j, struct xz_rpc_error *why)
{
	enum xz_rpc_status st;
	struct xz_diag d;
	int allowed = 0;

	if ((st = read_open(j, why)) != XZ_RPC_OK || (st = read_hello(j, why)) != XZ_RPC_OK) {
		xz_log(XZ_LOG_WARN, COMP, NULL, "join from %s refused before any "
		    "decision: %s (%s)", j->peer_identity, xz_rpc_status_name(st), why->msg);
		return st;
	}
	if (xz_ksession_open(j->dd, &j->ks, &d) != 0) {
		xz_log(XZ_LOG_ERROR, COMP, j->req.id, "%s", d.msg);
		set_why(why, XZ_RPC_INTERNAL, "the responder's key process is unavailable");
		return XZ_RPC_INTERNAL;
	}
	if ((st = decide(j, &allowed, why)) != XZ_RPC_OK || !allowed)
		return st;
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
	xz_ksession_close(j->ks);
	xz_kbuf_free(&j->body);
	sodium_memzero(j, sizeof(*j));
	free(j);
	return st;
}
