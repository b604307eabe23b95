/*
 * xiezhid's key process, the keeper (node/keeper.h).
 *
 * Everything that needs a key or the data happens here: the store (its
 * key), the node signing key (audit checkpoints, receipts), the policy
 * decision with its replay and budget state, every audit record, reading
 * the dataset, and the PSI engine with the join's OPRF key.  The network
 * process asks, one typed request at a time, and gets back only what the
 * requester may see anyway: the verdict, the join parameters, engine
 * messages, the signed receipt.
 *
 * Order of a join, enforced per session whatever the front asks (the
 * front cannot skip the decision or the disclosure record):
 *   DECIDE  decode the request and approvals again (the front's parse is
 *           not trusted), record request_received, decide against the
 *           policies in force, the peer identity, the clock and the
 *           replay/budget state, record the decision.  Nothing about the
 *           dataset is touched and no exponentiation happens before an
 *           allow.
 *   START   only after an allow: read the dataset, build the engine (a
 *           fresh OPRF key), record join_started, return the parameters.
 *   PARTNER delegated joins only, right after START: the other owner's
 *           bound, label length and the batch size, checked against the
 *           request; only then is the owner's engine built.
 *   PRODUCE the engine's next message; before the first one leaves, the
 *           disclosure record is committed (fsync): every message the
 *           responder sends is a function of its data and key.
 *   CONSUME a requester message for the engine.
 *   CLOSE   after the engine finished: the requester's summary and
 *           transcript hash must match; record join_completed, sign the
 *           receipt with the checkpoint.
 * ABORT, a broken request or the session socket closing end the session;
 * a started join then gets its join_aborted record.
 *
 * Threads: the main thread reads the control socket (new sessions, policy
 * reloads, stop); each session runs on its own thread with its own store
 * connection, as the single-process daemon did; audit appends are
 * serialised by the daemon's audit_lock.
 */
#include "keeper.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "audit.h"
#include "cli.h"
#include "daemon_wire.h"
#include "decision.h"
#include "log.h"
#include "policy_state.h"
#include "psi.h"
#include "request.h"
#include "sandbox.h"

#define COMP "join"

struct keeper {
	struct xz_daemon *dd;
	const char *actor;
	struct xz_node *node;		/* start, reload and stop records */
	int ctl;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	unsigned active;		/* session threads running */
};

/* The join's engine, whatever role built it (one place: engine_new). */
struct kengine {
	void *impl;
	enum xz_psi_status (*produce)(void *impl, const uint8_t **msg, size_t *len);
	enum xz_psi_status (*consume)(void *impl, const uint8_t *msg, size_t len);
	void (*free)(void *impl);
};

/* K_PARTNER: a delegated join waits for the other owner's parameters. */
enum kstate { K_NEW, K_ALLOWED, K_PARTNER, K_RUNNING, K_FINISHED };

struct ksess {
	struct keeper *k;
	int fd;
	struct xz_kbuf in, out;
	enum kstate state;
	char peer_identity[XZ_RPC_MAX_IDENTITY + 1];	/* authenticated TLS identity */
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
	struct xz_join_partner partner;	/* delegated joins */
	struct kengine eng;
	struct xz_transcript tr;
	uint8_t transcript[32];
	int started;		/* join_started recorded: an end record is owed */
	int disclosed;
	int engine_done;
	char reason[XZ_RPC_MAX_REASON];
};

static const char *
mode_name(const struct ksess *s)
{
	const char *m = xz_mode_name(s->req.mode);

	return m != NULL ? m : "unknown";
}

static void
set_reason(struct ksess *s, const char *r)
{
	snprintf(s->reason, sizeof(s->reason), "%s", r);
}

/* Appends one record about this join and publishes the anchor. */
static int
record(struct ksess *s, enum xz_audit_type type, struct xz_audit_field *extra,
    size_t nextra, struct xz_diag *d)
{
	struct xz_audit_field f[XZ_AUDIT_FIELDS_MAX];
	struct xz_audit_event ev = { type, s->peer_identity, s->req.id, f, 0 };
	int rc;

	f[ev.nfields++] = (struct xz_audit_field){ .name = "peer", .kind = XZ_AUDIT_STR,
	    .str = s->peer_name };
	f[ev.nfields++] = (struct xz_audit_field){ .name = "peer_identity",
	    .kind = XZ_AUDIT_STR, .str = s->peer_identity };
	f[ev.nfields++] = (struct xz_audit_field){ .name = "mode", .kind = XZ_AUDIT_STR,
	    .str = mode_name(s) };
	if (type >= XZ_AUDIT_JOIN_STARTED && type <= XZ_AUDIT_JOIN_ABORTED)
		f[ev.nfields++] = (struct xz_audit_field){ .name = "role",
		    .kind = XZ_AUDIT_STR, .str = "responder" };
	for (size_t i = 0; i < nextra && ev.nfields < XZ_AUDIT_FIELDS_MAX; i++)
		f[ev.nfields++] = extra[i];
	pthread_mutex_lock(&s->k->dd->audit_lock);
	rc = xz_audit_append(s->node, &ev, NULL, d);
	if (rc == 0)
		rc = xz_audit_publish(s->node, d);
	pthread_mutex_unlock(&s->k->dd->audit_lock);
	if (rc != 0)
		xz_log(XZ_LOG_ERROR, COMP, s->req.id, "audit record %s failed: %s",
		    xz_audit_type_name(type), d->msg);
	return rc;
}

/* ---- replies ---- */

static int
reply(struct ksess *s, uint32_t type)
{
	if (xz_kmsg_send(s->fd, type, s->out.len > 0 || s->out.oom ? &s->out : NULL, -1)
	    != 0) {
		if (s->reason[0] == '\0')
			set_reason(s, "the node's network process stopped during the join");
		return -1;
	}
	return 0;
}

/* Sends FAIL and ends the session (returns -1 for the caller to pass on). */
static int
fail(struct ksess *s, enum xz_rpc_status st, enum xz_join_abort code, const char *msg)
{
	xz_kbuf_reset(&s->out);
	xz_kbuf_u32(&s->out, (uint32_t)st);
	xz_kbuf_u32(&s->out, (uint32_t)code);
	xz_kbuf_bytes(&s->out, msg, strnlen(msg, XZ_RPC_MAX_REASON - 1));
	(void)reply(s, XZ_KR_FAIL);
	s->state = K_FINISHED;
	return -1;
}

/* A request the front should never have sent: the front is broken or
 * compromised, so the session ends without an answer. */
static int
violation(struct ksess *s, const char *what)
{
	xz_log(XZ_LOG_WARN, "keeper", s->reqlen > 0 ? s->req.id : NULL, "the network "
	    "process broke the join protocol (%s); ending the join", what);
	set_reason(s, "the node's network process broke the join protocol");
	s->state = K_FINISHED;
	return -1;
}

/* ---- DECIDE ---- */

static int
decide(struct ksess *s, struct xz_diag *d)
{
	struct xz_decision_input in = {0};
	int rc;

	if (xz_daemon_policy_snapshot(s->k->dd, &s->policies, &s->npolicies, d) != 0 ||
	    xz_policy_state_init(s->node, d) != 0)
		return -1;
	in.policies = s->policies;
	in.n_policies = s->npolicies;
	in.request = &s->req;
	in.approvals = s->approvals;
	in.n_approvals = s->napprovals;
	in.peer_identity = s->peer_identity;
	in.self_identity = s->k->dd->conf.identity;
	in.now = (int64_t)time(NULL);
	pthread_mutex_lock(&s->k->dd->audit_lock);
	rc = xz_policy_state_decide(s->node, &in, &s->dec, d);
	pthread_mutex_unlock(&s->k->dd->audit_lock);
	return rc;
}

/* The reason a refused peer gets.  Until the peer is known to be the
 * policy's requester it names no policy, version or other agency: a peer
 * must not probe which policies exist and whom they serve.  The full
 * message is in the audit log and the daemon log. */
static void
refusal_reason(const struct ksess *s, char *reason, size_t cap)
{
	if (s->dec.verdict == XZ_REFUSE_NO_SUCH_POLICY ||
	    s->dec.verdict == XZ_REFUSE_REQUESTER_MISMATCH ||
	    s->dec.verdict == XZ_REFUSE_RESPONDER_MISMATCH)
		snprintf(reason, cap, "no policy of this node allows this request from your "
		    "node (%s); ask the data owner's operator", xz_verdict_name(s->dec.verdict));
	else
		snprintf(reason, cap, "%s", s->dec.message);
	for (char *p = reason; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = ' ';
}

/* Reads DECIDE's body: the request and approvals as the requester sent
 * them, decoded here again, and who the front says is asking. */
static int
read_decide(struct ksess *s, struct xz_kcur *c)
{
	struct xz_perror pe;
	struct xz_diag d;
	const uint8_t *p;
	size_t n;
	uint32_t na;

	xz_kcur_bytes(c, sizeof(s->reqbytes), &p, &n);
	if (c->bad || xz_request_decode(p, n, &s->req, &pe) != 0)
		return -1;
	memcpy(s->reqbytes, p, n);
	s->reqlen = n;
	na = xz_kcur_u32(c);
	if (na > XZ_REQUEST_MAX_APPROVALS)
		return -1;
	for (uint32_t i = 0; i < na; i++) {
		xz_kcur_bytes(c, XZ_JOIN_APPROVAL_MAX, &p, &n);
		if (c->bad || xz_join_approval_decode(p, n, &s->approvals[i], &d) != 0)
			return -1;
	}
	s->napprovals = na;
	xz_kcur_str(c, s->peer_identity, sizeof(s->peer_identity));
	xz_kcur_str(c, s->peer_name, sizeof(s->peer_name));
	if (xz_kcur_end(c) != 0 || s->peer_identity[0] == '\0' ||
	    !xz_node_name_valid(s->peer_name))
		return -1;
	return 0;
}

static int
on_decide(struct ksess *s, struct xz_kcur *c)
{
	struct xz_audit_field f[2];
	char reason[XZ_RPC_MAX_REASON];
	struct xz_diag d;

	if (read_decide(s, c) != 0)
		return violation(s, "a DECIDE that does not decode");
	if (xz_node_open(s->k->dd->dir, &s->node, &d) != 0) {
		xz_log(XZ_LOG_ERROR, COMP, s->req.id, "store: %s", d.msg);
		return fail(s, XZ_RPC_INTERNAL, 0, "the responder's store is unavailable");
	}
	if (record(s, XZ_AUDIT_REQUEST_RECEIVED, NULL, 0, &d) != 0 || decide(s, &d) != 0)
		return fail(s, XZ_RPC_INTERNAL, 0, "the responder's store or audit log failed");
	f[0] = (struct xz_audit_field){ .name = "outcome", .kind = XZ_AUDIT_STR,
	    .str = s->dec.verdict == XZ_ALLOW ? "allow" : "refuse" };
	f[1] = (struct xz_audit_field){ .name = "reason", .kind = XZ_AUDIT_STR,
	    .str = xz_verdict_name(s->dec.verdict) };
	if (record(s, XZ_AUDIT_DECISION, f, 2, &d) != 0)
		return fail(s, XZ_RPC_INTERNAL, 0, "the responder's audit log failed");
	xz_log(XZ_LOG_INFO, COMP, s->req.id, "decision for %s (%s): %s", s->peer_identity,
	    s->peer_name, xz_verdict_name(s->dec.verdict));
	reason[0] = '\0';
	if (s->dec.verdict != XZ_ALLOW)
		refusal_reason(s, reason, sizeof(reason));
	xz_kbuf_reset(&s->out);
	xz_kbuf_u32(&s->out, (uint32_t)s->dec.verdict);
	xz_kbuf_u32(&s->out, s->dec.verdict == XZ_ALLOW);
	xz_kbuf_str(&s->out, reason);
	/* No join began on a refusal: the decision record is the whole story
	 * (and a replayed request id does not add a second final record). */
	s->state = s->dec.verdict == XZ_ALLOW ? K_ALLOWED : K_FINISHED;
	return reply(s, XZ_KR_VERDICT);
}

/* ---- START ---- */

static enum xz_psi_status
responder_produce(void *impl, const uint8_t **msg, size_t *len)
{
	return xz_psi_responder_produce(impl, msg, len);
}

static enum xz_psi_status
responder_consume(void *impl, const uint8_t *msg, size_t len)
{
	return xz_psi_responder_consume(impl, msg, len);
}

static void
responder_free(void *impl)
{
	xz_psi_responder_free(impl);
}

static enum xz_psi_status
owner_produce(void *impl, const uint8_t **msg, size_t *len)
{
	return xz_psi_owner_produce(impl, msg, len);
}

static enum xz_psi_status
owner_consume(void *impl, const uint8_t *msg, size_t len)
{
	return xz_psi_owner_consume(impl, msg, len);
}

static void
owner_free(void *impl)
{
	xz_psi_owner_free(impl);
}

/* A data owner of a delegated join, once the partner's parameters are in
 * (on_partner): its fresh key is drawn inside xz_psi_owner_new. */
static int
owner_new(struct ksess *s, struct xz_diag *d)
{
	const struct xz_join_partner *pt = &s->partner;
	struct xz_psi_owner *o = NULL;
	struct xz_psi_dparams dp;
	uint64_t bound[2];
	uint32_t llen[2];

	bound[pt->self] = s->params.responder_bound;
	llen[pt->self] = s->params.label_len;
	bound[1 - pt->self] = pt->partner_bound;
	llen[1 - pt->self] = pt->partner_label_len;
	xz_join_dparams(s->req.link, bound, llen, pt->batch_max, &dp);
	if (xz_psi_owner_new(&o, &dp, pt->self, s->data->n, xz_join_data_source, s->data)
	    != XZ_PSI_OK)
		return xz_diag_set(d, "the PSI engine refused the delegated join's parameters");
	s->eng = (struct kengine){ o, owner_produce, owner_consume, owner_free };
	return 0;
}

/*
 * Builds the join's engine: the one place where the role of this node in
 * the join picks the engine.  The two-party modes all run the PSI
 * responder (its OPRF key is drawn inside, in sodium_malloc memory, and
 * never leaves this process); a new role adds its case here with its own
 * constructor behind the same produce/consume interface.
 */
static int
engine_new(struct ksess *s, struct xz_diag *d)
{
	struct xz_psi_params pp;
	struct xz_psi_responder *a = NULL;

	switch (s->req.mode) {
	case XZ_MODE_INTERSECT:
	case XZ_MODE_CARDINALITY:
	case XZ_MODE_DIFFERENCE:
		xz_join_psi_params(&s->params, s->req.id, &pp);
		if (xz_psi_responder_new(&a, &pp, s->data->n, xz_join_data_source, s->data)
		    != XZ_PSI_OK)
			return xz_diag_set(d, "the PSI engine refused the join parameters");
		s->eng = (struct kengine){ a, responder_produce, responder_consume,
		    responder_free };
		return 0;
	case XZ_MODE_DELEGATED:
		return owner_new(s, d);
	default:
		return xz_diag_set(d, "this node does not answer joins in mode %s",
		    mode_name(s));
	}
}

static int
prepare(struct ksess *s, struct xz_diag *d)
{
	const char *labels[XZ_POLICY_MAX_LABELS];
	const struct xz_policy *p = s->dec.policy;
	uint64_t m;
	/* A delegated owner reveals labels of every record, like intersect. */
	int intersect = s->req.mode == XZ_MODE_INTERSECT || s->req.mode == XZ_MODE_DELEGATED;

	for (size_t i = 0; i < s->req.n_labels; i++)
		labels[i] = s->req.labels[i];
	/* Intersect keeps every record (each has its labels); the other modes
	 * take each key once, so duplicates in the dataset do not show. */
	if (xz_join_data_load(s->node, s->req.dataset, NULL, labels,
	    intersect ? s->req.n_labels : 0, !intersect, &s->data, d) != 0)
		return -1;
	if (strcmp(p->key_column, s->data->key_column) != 0)
		return xz_diag_set(d, "policy %s names key column '%s' but dataset '%s' is "
		    "keyed on '%s'", p->id, p->key_column, s->req.dataset,
		    s->data->key_column);
	m = s->data->n;
	if (p->padding_bound > 0 && m % p->padding_bound != 0)
		m += p->padding_bound - m % p->padding_bound;
	if (m > XZ_PSI_MAX_BOUND)
		return xz_diag_set(d, "dataset '%s' is too large for one join", s->req.dataset);
	s->params.mode = s->req.mode;
	s->params.requester_bound = s->req.query_size;
	s->params.responder_bound = m;
	s->params.label_len = 0;
	if (intersect && s->req.n_labels > 0) {
		size_t l = s->data->label_max;
		l = (l + 15) / 16 * 16;
		s->params.label_len = (uint32_t)(l == 0 ? 16 : l);
		if (s->params.label_len > XZ_PSI_MAX_LABEL_LEN)
			s->params.label_len = XZ_PSI_MAX_LABEL_LEN;
	}
	snprintf(s->params.responder_name, sizeof(s->params.responder_name), "%s",
	    s->k->dd->conf.name);
	xz_transcript_init(&s->tr, s->req.id, s->reqbytes, s->reqlen);
	if (s->req.mode == XZ_MODE_DELEGATED) {
		/* The engine waits for the partner's parameters (on_partner). */
		s->params.batch_max = xz_join_delegated_batch_max(s->params.requester_bound,
		    s->params.responder_bound, s->params.label_len);
		return 0;
	}
	s->params.batch_max = xz_join_batch_max(s->params.requester_bound,
	    s->params.responder_bound, s->params.label_len);
	return engine_new(s, d);
}

static int
on_start(struct ksess *s)
{
	uint8_t buf[XZ_JOIN_PARAMS_MAX];
	struct xz_diag d;
	size_t len;

	if (prepare(s, &d) != 0) {
		xz_log(XZ_LOG_ERROR, COMP, s->req.id, "cannot prepare the join: %s", d.msg);
		set_reason(s, "the responder could not read its dataset");
		if (record(s, XZ_AUDIT_JOIN_STARTED, NULL, 0, &d) == 0)
			s->started = 1;
		return fail(s, XZ_RPC_ABORTED, XZ_JOIN_ABORT_DATA, s->reason);
	}
	if (xz_join_params_encode(&s->params, buf, sizeof(buf), &len, &d) != 0) {
		xz_log(XZ_LOG_ERROR, COMP, s->req.id, "join parameters: %s", d.msg);
		return fail(s, XZ_RPC_INTERNAL, 0, "could not encode the join parameters");
	}
	if (record(s, XZ_AUDIT_JOIN_STARTED, NULL, 0, &d) != 0) {
		set_reason(s, "audit log failed");
		return fail(s, XZ_RPC_INTERNAL, 0, s->reason);
	}
	s->started = 1;
	xz_log(XZ_LOG_INFO, COMP, s->req.id, "join started: peer %s, mode %s, %zu "
	    "records (padded %llu), requester bound %llu", s->peer_identity, mode_name(s),
	    s->data->n, (unsigned long long)s->params.responder_bound,
	    (unsigned long long)s->params.requester_bound);
	s->state = s->req.mode == XZ_MODE_DELEGATED ? K_PARTNER : K_RUNNING;
	xz_kbuf_reset(&s->out);
	xz_kbuf_bytes(&s->out, buf, len);
	return reply(s, XZ_KR_PARAMS);
}

/* ---- PARTNER (delegated joins) ---- */

/*
 * The requester tells this owner its index and the partner's bound, label
 * length and batch size.  The partner's bound must not exceed the
 * request's query size: that is how many of the partner's records this
 * node agreed to evaluate (docs/protocol.md §11.6).  The message enters
 * the transcript, so both sides' hashes cover what was agreed.
 */
static int
on_partner(struct ksess *s, struct xz_kcur *c)
{
	struct xz_join_partner *pt = &s->partner;
	const uint8_t *msg;
	struct xz_diag d;
	char r[XZ_RPC_MAX_REASON];
	size_t len;

	xz_kcur_bytes(c, XZ_JOIN_PARTNER_MAX, &msg, &len);
	if (xz_kcur_end(c) != 0)
		return violation(s, "a PARTNER that does not decode");
	if (xz_join_partner_decode(msg, len, pt, &d) != 0) {
		snprintf(r, sizeof(r), "protocol: %.400s", d.msg);
	} else if (pt->partner_bound > s->req.query_size) {
		snprintf(r, sizeof(r), "the partner offers %llu records, more than the %llu "
		    "this request allows", (unsigned long long)pt->partner_bound,
		    (unsigned long long)s->req.query_size);
	} else if (pt->batch_max > s->params.batch_max) {
		snprintf(r, sizeof(r), "protocol: batch size %u above the %u this node "
		    "proposed", pt->batch_max, s->params.batch_max);
	} else {
		xz_transcript_add(&s->tr, 1, msg, len);
		if (engine_new(s, &d) == 0) {
			s->state = K_RUNNING;
			xz_kbuf_reset(&s->out);
			return reply(s, XZ_KR_CONSUMED);
		}
		snprintf(r, sizeof(r), "%.400s", d.msg);
	}
	set_reason(s, r);
	return fail(s, XZ_RPC_INVALID, XZ_JOIN_ABORT_PROTOCOL, s->reason);
}

/* ---- PRODUCE / CONSUME ---- */

static int
record_disclosure(struct ksess *s, struct xz_diag *d)
{
	char labels[XZ_POLICY_MAX_LABELS * (XZ_NAME_MAX + 1) + 1] = "";
	char link[2 * XZ_REQUEST_ID_LEN + 1];
	struct xz_audit_field f[7];
	size_t n = 0, used = 0;

	if (s->req.mode == XZ_MODE_DELEGATED) {
		/* What the requester said of the partner: an auditor can check
		 * partner_bound against the partner's own padded_size. */
		xz_hex(s->req.link, sizeof(s->req.link), link, sizeof(link));
		f[n++] = (struct xz_audit_field){ .name = "partner", .kind = XZ_AUDIT_STR,
		    .str = s->req.partner };
		f[n++] = (struct xz_audit_field){ .name = "partner_name", .kind = XZ_AUDIT_STR,
		    .str = s->partner.partner_name };
		f[n++] = (struct xz_audit_field){ .name = "partner_bound", .kind = XZ_AUDIT_INT,
		    .num = s->partner.partner_bound };
		f[n++] = (struct xz_audit_field){ .name = "link", .kind = XZ_AUDIT_STR,
		    .str = link };
	}
	f[n++] = (struct xz_audit_field){ .name = "count", .kind = XZ_AUDIT_INT,
	    .num = s->data->n };
	f[n++] = (struct xz_audit_field){ .name = "padded_size", .kind = XZ_AUDIT_INT,
	    .num = s->params.responder_bound };
	if (s->params.label_len > 0) {
		for (size_t i = 0; i < s->req.n_labels; i++)
			used += (size_t)snprintf(labels + used, sizeof(labels) - used, "%s%s",
			    i > 0 ? "," : "", s->req.labels[i]);
		f[n++] = (struct xz_audit_field){ .name = "labels", .kind = XZ_AUDIT_STR,
		    .str = labels };
	}
	return record(s, XZ_AUDIT_DISCLOSURE, f, n, d);
}

static int
engine_failed(struct ksess *s, enum xz_psi_status ps)
{
	char r[XZ_RPC_MAX_REASON];

	snprintf(r, sizeof(r), "engine: %s", xz_psi_strerror(ps));
	set_reason(s, r);
	return fail(s, XZ_RPC_INVALID, XZ_JOIN_ABORT_ENGINE, s->reason);
}

static int
on_produce(struct ksess *s)
{
	enum xz_psi_status ps;
	const uint8_t *msg;
	struct xz_diag d;
	size_t len;

	ps = s->eng.produce(s->eng.impl, &msg, &len);
	xz_kbuf_reset(&s->out);
	if (ps == XZ_PSI_DONE) {
		s->engine_done = 1;
		return reply(s, XZ_KR_DONE);
	}
	if (ps == XZ_PSI_AGAIN)
		return reply(s, XZ_KR_AGAIN);
	if (ps != XZ_PSI_OK)
		return engine_failed(s, ps);
	if (len > XZ_RPC_MAX_BATCH_DATA)
		return engine_failed(s, XZ_PSI_E_ARG);
	/* The audit record is durable before anything computed from the data
	 * and the join's key leaves this process (issue 5, "Durability"). */
	if (!s->disclosed) {
		if (record_disclosure(s, &d) != 0) {
			set_reason(s, "audit log failed");
			return fail(s, XZ_RPC_INTERNAL, 0, "the audit log failed; nothing "
			    "disclosed");
		}
		s->disclosed = 1;
	}
	xz_transcript_add(&s->tr, 0, msg, len);
	xz_kbuf_bytes(&s->out, msg, len);
	return reply(s, XZ_KR_OUT);
}

static int
on_consume(struct ksess *s, struct xz_kcur *c)
{
	enum xz_psi_status ps;
	const uint8_t *msg;
	size_t len;

	xz_kcur_bytes(c, XZ_RPC_MAX_BATCH_DATA, &msg, &len);
	if (xz_kcur_end(c) != 0)
		return violation(s, "a CONSUME that does not decode");
	xz_transcript_add(&s->tr, 1, msg, len);
	if ((ps = s->eng.consume(s->eng.impl, msg, len)) != XZ_PSI_OK)
		return engine_failed(s, ps);
	xz_kbuf_reset(&s->out);
	return reply(s, XZ_KR_CONSUMED);
}

/* ---- CLOSE ---- */

static int
complete(struct ksess *s)
{
	uint8_t receipt[XZ_JOIN_RECEIPT_LEN], pk[32];
	unsigned char *sk = NULL;
	struct xz_audit_field f[4];
	char link[2 * XZ_REQUEST_ID_LEN + 1];
	char *note = NULL;
	uint64_t size;
	size_t nf = 3;
	struct xz_diag d;
	int rc;

	/* Sizes as the peer saw them (padded), so both logs agree. */
	f[0] = (struct xz_audit_field){ .name = "local_size", .kind = XZ_AUDIT_INT,
	    .num = s->params.responder_bound };
	f[1] = (struct xz_audit_field){ .name = "peer_size", .kind = XZ_AUDIT_INT,
	    .num = s->params.requester_bound };
	/* No result size: the data owner must not learn how many of its
	 * records matched (docs/protocol.md); the transcript hash is what ties
	 * this record to the requester's. */
	f[2] = (struct xz_audit_field){ .name = "transcript", .kind = XZ_AUDIT_HASH };
	memcpy(f[2].hash, s->transcript, 32);
	if (s->req.mode == XZ_MODE_DELEGATED) {
		/* Pairs this owner's record with its partner's and the requester's. */
		xz_hex(s->req.link, sizeof(s->req.link), link, sizeof(link));
		f[nf++] = (struct xz_audit_field){ .name = "link", .kind = XZ_AUDIT_STR,
		    .str = link };
	}
	if (record(s, XZ_AUDIT_JOIN_COMPLETED, f, nf, &d) != 0) {
		set_reason(s, "audit log failed");
		return fail(s, XZ_RPC_INTERNAL, 0, "could not complete the join record or "
		    "receipt");
	}
	s->started = 0;		/* its end record is written */
	s->state = K_FINISHED;
	if (xz_audit_latest_checkpoint(s->node, &note, &size, &d) != 0 || note == NULL ||
	    xz_node_load_signing_key(s->node, &sk, &d) != 0 ||
	    xz_node_public_key(s->node, pk, &d) != 0) {
		xz_log(XZ_LOG_ERROR, COMP, s->req.id, "receipt: %s", d.msg);
		if (sk != NULL)
			xz_node_free_signing_key(sk);
		free(note);
		return fail(s, XZ_RPC_INTERNAL, 0, "could not complete the join record or "
		    "receipt");
	}
	xz_join_receipt_sign(sk, pk, s->req.id, s->transcript, note, receipt);
	xz_node_free_signing_key(sk);	/* wiped at its last use, before any I/O */
	xz_kbuf_reset(&s->out);
	xz_kbuf_bytes(&s->out, s->transcript, 32);
	xz_kbuf_bytes(&s->out, receipt, sizeof(receipt));
	xz_kbuf_str(&s->out, note);
	free(note);
	rc = reply(s, XZ_KR_RECEIPT);
	if (rc == 0)
		xz_log(XZ_LOG_INFO, COMP, s->req.id, "join completed");
	return rc;
}

static int
on_close(struct ksess *s, struct xz_kcur *c)
{
	struct xz_join_summary sum;
	const uint8_t *sb, *hash;
	size_t slen, hlen;
	struct xz_diag d;
	int ok;

	if (!s->engine_done)
		return violation(s, "CLOSE before the engine finished");
	xz_kcur_bytes(c, XZ_JOIN_SUMMARY_MAX, &sb, &slen);
	xz_kcur_bytes(c, XZ_RPC_MAX_HASH, &hash, &hlen);
	if (xz_kcur_end(c) != 0)
		return violation(s, "a CLOSE that does not decode");
	/* result_size is reserved: a requester never reports it. */
	ok = xz_join_summary_decode(sb, slen, &sum, &d) == 0 &&
	    strcmp(sum.requester_name, s->peer_name) == 0 && sum.result_size == 0;
	if (!ok) {
		set_reason(s, "protocol: bad summary");
		return fail(s, XZ_RPC_INVALID, 0, s->reason);
	}
	xz_transcript_final(&s->tr, s->transcript);
	if (hlen != 32 || sodium_memcmp(hash, s->transcript, 32) != 0) {
		set_reason(s, "transcript hashes differ");
		return fail(s, XZ_RPC_ABORTED, XZ_JOIN_ABORT_TRANSCRIPT, s->reason);
	}
	return complete(s);
}

/* ---- one session ---- */

static const struct xz_kmsg_rule session_rules[] = {
	{ XZ_KS_DECIDE, 4 + XZ_REQUEST_ENCODED_MAX + 4 +
	    XZ_REQUEST_MAX_APPROVALS * (4 + XZ_JOIN_APPROVAL_MAX) +
	    4 + XZ_RPC_MAX_IDENTITY + 4 + XZ_JOIN_NODE_NAME_MAX, 0 },
	{ XZ_KS_START, 0, 0 },
	{ XZ_KS_PRODUCE, 0, 0 },
	{ XZ_KS_CONSUME, 4 + XZ_RPC_MAX_BATCH_DATA, 0 },
	{ XZ_KS_CLOSE, 4 + XZ_JOIN_SUMMARY_MAX + 4 + XZ_RPC_MAX_HASH, 0 },
	{ XZ_KS_ABORT, 4 + XZ_RPC_MAX_REASON, 0 },
	{ XZ_KS_PARTNER, 4 + XZ_JOIN_PARTNER_MAX, 0 },
};

/* Handles one request; -1 when the session is over. */
static int
dispatch(struct ksess *s, struct xz_kmsg *m)
{
	switch (s->state) {
	case K_NEW:
		if (m->type == XZ_KS_DECIDE)
			return on_decide(s, &m->body);
		break;
	case K_ALLOWED:
		if (m->type == XZ_KS_START && xz_kcur_end(&m->body) == 0)
			return on_start(s);
		break;
	case K_PARTNER:
		if (m->type == XZ_KS_PARTNER)
			return on_partner(s, &m->body);
		break;
	case K_RUNNING:
		if (m->type == XZ_KS_PRODUCE && xz_kcur_end(&m->body) == 0)
			return on_produce(s);
		if (m->type == XZ_KS_CONSUME)
			return on_consume(s, &m->body);
		if (m->type == XZ_KS_CLOSE)
			return on_close(s, &m->body);
		break;
	case K_FINISHED:
		break;
	}
	return violation(s, "a request out of order");
}

static void
serve_session(struct ksess *s)
{
	struct xz_kmsg m;
	struct xz_diag d;

	while (s->state != K_FINISHED) {
		int r = xz_kmsg_recv(s->fd, session_rules,
		    sizeof(session_rules) / sizeof(session_rules[0]), &s->in, &m, -1, &d);
		if (r == 1) {
			set_reason(s, "the node's network process stopped during the join");
			return;
		}
		if (r != 0) {
			(void)violation(s, d.msg);
			return;
		}
		if (m.type == XZ_KS_ABORT) {
			char why[XZ_RPC_MAX_REASON];
			xz_kcur_str(&m.body, why, sizeof(why));
			if (xz_kcur_end(&m.body) != 0 || why[0] == '\0')
				snprintf(why, sizeof(why), "aborted by the network process");
			set_reason(s, why);
			return;
		}
		if (dispatch(s, &m) != 0)
			return;
	}
}

static void
record_aborted(struct ksess *s)
{
	struct xz_audit_field f = { .name = "reason", .kind = XZ_AUDIT_STR,
	    .str = s->reason[0] != '\0' ? s->reason : "unknown" };
	struct xz_diag d;

	if (record(s, XZ_AUDIT_JOIN_ABORTED, &f, 1, &d) == 0)
		xz_log(XZ_LOG_WARN, COMP, s->req.id, "join aborted: %s", f.str);
}

static void *
session_main(void *arg)
{
	struct ksess *s = arg;
	struct keeper *k = s->k;

	(void)prctl(PR_SET_NAME, "xz-keeper-join", 0, 0, 0);
	serve_session(s);
	if (s->started)
		record_aborted(s);
	if (s->eng.free != NULL)
		s->eng.free(s->eng.impl);
	xz_join_data_free(s->data);
	free(s->policies);
	xz_node_close(s->node);
	close(s->fd);
	xz_kbuf_free(&s->in);
	xz_kbuf_free(&s->out);
	sodium_memzero(s, sizeof(*s));
	free(s);
	pthread_mutex_lock(&k->mu);
	k->active--;
	pthread_cond_broadcast(&k->cv);
	pthread_mutex_unlock(&k->mu);
	return NULL;
}

/* Starts a session thread for the socket fd (taken over). */
static void
start_session(struct keeper *k, int fd)
{
	struct ksess *s = NULL;
	pthread_attr_t at;
	pthread_t t;
	int busy, ok = 0;

	pthread_mutex_lock(&k->mu);
	busy = k->active >= XZ_KEEPER_MAX_SESSIONS;
	if (!busy)
		k->active++;
	pthread_mutex_unlock(&k->mu);
	if (!busy && (s = calloc(1, sizeof(*s))) != NULL) {
		s->k = k;
		s->fd = fd;
		s->state = K_NEW;
		pthread_attr_init(&at);
		pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
		ok = pthread_create(&t, &at, session_main, s) == 0;
		pthread_attr_destroy(&at);
	}
	if (ok)
		return;
	if (!busy) {
		pthread_mutex_lock(&k->mu);
		k->active--;
		pthread_cond_broadcast(&k->cv);
		pthread_mutex_unlock(&k->mu);
	}
	free(s);
	{
		struct xz_kbuf b = {0};
		const char *msg = "the responder is busy; retry later";
		xz_kbuf_u32(&b, XZ_RPC_UNAVAILABLE);
		xz_kbuf_u32(&b, 0);
		xz_kbuf_str(&b, msg);
		/* The reply to the DECIDE that will come; the front reads it then. */
		(void)xz_kmsg_send(fd, XZ_KR_FAIL, &b, -1);
		xz_kbuf_free(&b);
	}
	close(fd);
}

/* ---- the process ---- */

static int
audit_simple(struct keeper *k, enum xz_audit_type type, struct xz_diag *d)
{
	struct xz_audit_event ev = { type, k->actor, NULL, NULL, 0 };
	int rc;

	pthread_mutex_lock(&k->dd->audit_lock);
	rc = xz_audit_append(k->node, &ev, NULL, d);
	if (rc == 0)
		rc = xz_audit_publish(k->node, d);
	pthread_mutex_unlock(&k->dd->audit_lock);
	return rc;
}

static void
reload(struct keeper *k)
{
	size_t loaded = 0, changed = 0;
	struct xz_diag d;

	if (xz_daemon_load_policies(k->dd, k->node, k->actor, &loaded, &changed, &d) != 0)
		xz_log(XZ_LOG_ERROR, "policy", NULL, "reload failed, the previous policies "
		    "stay in force: %s", d.msg);
	else
		xz_log(XZ_LOG_INFO, "policy", NULL, "%zu polic%s in force, %zu new or "
		    "changed", loaded, loaded == 1 ? "y" : "ies", changed);
}

/*
 * One keeper per node directory: an exclusive flock on the directory
 * itself, held for the keeper's life.  A new xiezhid started while the
 * key process of the previous one is still closing its joins waits for
 * it, so the two never both close the same cut-off join.
 */
static int
lock_node(const char *dir, struct xz_diag *d)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0)
		return xz_diag_set(d, "cannot open the node directory %s: %s", dir,
		    strerror(errno));
	for (int waited = 0; flock(fd, LOCK_EX | LOCK_NB) != 0; waited += 100) {
		if (errno != EWOULDBLOCK && errno != EINTR) {
			xz_diag_set(d, "cannot lock %s: %s", dir, strerror(errno));
			close(fd);
			return -1;
		}
		if (waited >= XZ_KEEPER_LOCK_WAIT_MS) {
			xz_diag_set(d, "another xiezhid is serving %s (or its key process is "
			    "still finishing); stop it first", dir);
			close(fd);
			return -1;
		}
		usleep(100000);
	}
	return fd;	/* kept open: the lock lasts until the process ends */
}

/* Landlock: the node directory, and the CPU list glibc reads for the
 * engine's thread count. */
static void
confine(struct keeper *k)
{
	const struct xz_sandbox_path paths[] = {
		{ k->dd->dir, XZ_SANDBOX_READ | XZ_SANDBOX_WRITE },
		{ "/sys/devices/system/cpu", XZ_SANDBOX_READ },
#ifdef XIEZHI_SANITIZE
		/* LSan reads /proc/self/maps and /proc/self/task at exit. */
		{ "/proc", XZ_SANDBOX_READ },
#endif
	};
	struct xz_diag d;
	int r = xz_sandbox_landlock(paths, sizeof(paths) / sizeof(paths[0]), &d);

	if (r == 0)
		xz_log(XZ_LOG_WARN, "keeper", NULL, "%s: the key process keeps the file "
		    "access of its user", d.msg);
	else if (r < 0)
		xz_log(XZ_LOG_WARN, "keeper", NULL, "Landlock not applied (%s): the key "
		    "process keeps the file access of its user", d.msg);
}

static int
keeper_start(struct keeper *k, size_t *npolicies, struct xz_diag *d)
{
	size_t dangling = 0;

	if (lock_node(k->dd->dir, d) < 0 ||
	    xz_node_open(k->dd->dir, &k->node, d) != 0 ||
	    xz_audit_check_anchor(k->node, d) != 0 ||
	    xz_daemon_load_policies(k->dd, k->node, k->actor, npolicies, NULL, d) != 0 ||
	    xz_daemon_close_dangling(k->node, "responder", k->actor, &dangling, d) != 0 ||
	    audit_simple(k, XZ_AUDIT_NODE_STARTED, d) != 0)
		return -1;
	if (dangling > 0)
		xz_log(XZ_LOG_WARN, "daemon", NULL, "%zu join(s) were cut off by the last "
		    "stop; recorded them as aborted", dangling);
	confine(k);
	return xz_sandbox_keeper_seccomp(d);
}

static const struct xz_kmsg_rule ctl_rules[] = {
	{ XZ_KC_SESSION, 0, 1 },
	{ XZ_KC_RELOAD, 0, 0 },
	{ XZ_KC_STOP, 0, 0 },
};

static int
keeper_main(struct xz_daemon *dd, const char *actor, int ctl)
{
	struct keeper k = { .dd = dd, .actor = actor, .ctl = ctl };
	struct xz_kbuf buf = {0}, ready = {0};
	size_t npolicies = 0;
	struct xz_kmsg m;
	struct xz_diag d;
	int stopped = 0;

	(void)prctl(PR_SET_NAME, "xiezhid-keeper", 0, 0, 0);
	xz_sandbox_nodump();
	pthread_mutex_init(&k.mu, NULL);
	pthread_cond_init(&k.cv, NULL);
	if (keeper_start(&k, &npolicies, &d) != 0) {
		xz_log(XZ_LOG_ERROR, "keeper", NULL, "cannot start: %s", d.msg);
		xz_node_close(k.node);
		return XZ_EXIT_FAIL;
	}
	xz_kbuf_u32(&ready, (uint32_t)npolicies);
	if (xz_kmsg_send(ctl, XZ_KC_READY, &ready, -1) != 0) {
		xz_kbuf_free(&ready);
		xz_node_close(k.node);
		return XZ_EXIT_FAIL;
	}
	xz_kbuf_free(&ready);
	xz_log(XZ_LOG_DEBUG, "keeper", NULL, "key process ready");
	for (;;) {
		int r = xz_kmsg_recv(ctl, ctl_rules, sizeof(ctl_rules) / sizeof(ctl_rules[0]),
		    &buf, &m, -1, &d);
		if (r == 1)
			break;
		if (r != 0) {
			xz_log(XZ_LOG_ERROR, "keeper", NULL, "the network process broke the "
			    "control protocol (%s); stopping", d.msg);
			break;
		}
		if (m.type == XZ_KC_SESSION)
			start_session(&k, m.fd);
		else if (m.type == XZ_KC_RELOAD)
			reload(&k);
		else if (m.type == XZ_KC_STOP) {
			stopped = 1;
			break;
		}
	}
	xz_kbuf_free(&buf);
	/* The joins in flight end first: their records come before node_stopped. */
	pthread_mutex_lock(&k.mu);
	if (!stopped && k.active > 0)
		xz_log(XZ_LOG_WARN, "keeper", NULL, "the network process stopped; closing "
		    "%u join(s) in flight", k.active);
	while (k.active > 0)
		pthread_cond_wait(&k.cv, &k.mu);
	pthread_mutex_unlock(&k.mu);
	if (!stopped)
		xz_log(XZ_LOG_WARN, "keeper", NULL, "the network process is gone; the key "
		    "process stops");
	if (audit_simple(&k, XZ_AUDIT_NODE_STOPPED, &d) != 0)
		xz_log(XZ_LOG_ERROR, "daemon", NULL, "node_stopped record: %s", d.msg);
	xz_node_close(k.node);
	close(ctl);
	pthread_cond_destroy(&k.cv);
	pthread_mutex_destroy(&k.mu);
	return XZ_EXIT_OK;
}

int
xz_keeper_spawn(struct xz_daemon *dd, const char *actor, pid_t *pid, int *ctl,
    struct xz_diag *d)
{
	int sv[2];
	pid_t p;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
		return xz_diag_set(d, "socketpair: %s", strerror(errno));
	fflush(NULL);
	if ((p = fork()) < 0) {
		close(sv[0]);
		close(sv[1]);
		return xz_diag_set(d, "cannot start the key process: %s", strerror(errno));
	}
	if (p == 0) {
		int rc;
		close(sv[0]);
		dd->keeper_ctl = -1;
		rc = keeper_main(dd, actor, sv[1]);
		xz_daemon_free(dd);
		/* exit, not _exit: sanitizer builds check for leaks at exit. */
		exit(rc);
	}
	close(sv[1]);
	*pid = p;
	*ctl = sv[0];
	return 0;
}

int
xz_keeper_wait_ready(int ctl, size_t *npolicies, struct xz_diag *d)
{
	static const struct xz_kmsg_rule rules[] = { { XZ_KC_READY, 4, 0 } };
	struct xz_kbuf buf = {0};
	struct xz_kmsg m;
	int r, rc = -1;

	r = xz_kmsg_recv(ctl, rules, 1, &buf, &m, XZ_KEEPER_START_MS, d);
	if (r == 1) {
		xz_diag_set(d, "the key process stopped during start (its reason is logged "
		    "above)");
	} else if (r == 0) {
		uint32_t n = xz_kcur_u32(&m.body);
		if (xz_kcur_end(&m.body) != 0) {
			xz_diag_set(d, "the key process sent a malformed READY");
		} else {
			*npolicies = n;
			rc = 0;
		}
	}
	xz_kbuf_free(&buf);
	return rc;
}
