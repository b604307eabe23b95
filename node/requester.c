/*
 * The requester's side of a join (node/requester.h; docs/operations.md
 * §"The join on the wire").
 *
 * Audit records on this side: join_started once the responder accepted
 * (its node name is then known), then join_completed (in the same
 * transaction as the stored result) or join_aborted.  A refusal is
 * recorded as a decision record (outcome refuse, the responder's verdict):
 * no join began on either side, so crosscheck has nothing to pair.
 */
#include "requester.h"
#include "requester_internal.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "audit.h"
#include "daemon.h"
#include "daemon_wire.h"
#include "decision.h"
#include "node.h"
#include "nodeconf.h"
#include "psi.h"
#include "request.h"
#include "rpc.h"


static const char results_schema[] =
    "CREATE TABLE IF NOT EXISTS join_results ("
    " request_id BLOB PRIMARY KEY CHECK (length(request_id) = 16),"
    " peer TEXT NOT NULL, peer_identity TEXT NOT NULL, mode TEXT NOT NULL,"
    " dataset TEXT NOT NULL, key_column TEXT NOT NULL,"
    " local_size INTEGER NOT NULL, peer_size INTEGER NOT NULL,"
    " result_size INTEGER NOT NULL, transcript BLOB NOT NULL,"
    " receipt BLOB NOT NULL, checkpoint TEXT NOT NULL, completed_at INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS join_result_rows ("
    " request_id BLOB NOT NULL REFERENCES join_results(request_id),"
    " pos INTEGER NOT NULL, k TEXT NOT NULL, labels TEXT);"
    "CREATE INDEX IF NOT EXISTS join_result_rows_by_request"
    " ON join_result_rows (request_id);";

int
rq_results_schema(struct xz_node *node, struct xz_diag *d)
{
	if (sqlite3_exec(xz_node_db(node), results_schema, NULL, NULL, NULL) != SQLITE_OK)
		return xz_node_db_error(node, "storing the join result", d);
	return 0;
}

const char *
rq_mode_name(const struct qjoin *j)
{
	const char *m = xz_mode_name(j->rf->req.mode);

	return m != NULL ? m : "unknown";
}

int
rq_record(struct qjoin *j, enum xz_audit_type type, const struct xz_audit_field *extra,
    size_t nextra, struct xz_diag *d)
{
	struct xz_audit_field f[XZ_AUDIT_FIELDS_MAX];
	/* The actor of a requester's records is this node, acting for the
	 * operator who ran the command; the peer is in the fields. */
	struct xz_audit_event ev = { type, j->conf->identity, j->rf->req.id, f, 0 };
	const char *peer = j->out->peer_name[0] != '\0' ? j->out->peer_name : j->peer->name;

	f[ev.nfields++] = (struct xz_audit_field){ .name = "peer", .kind = XZ_AUDIT_STR,
	    .str = peer };
	f[ev.nfields++] = (struct xz_audit_field){ .name = "peer_identity",
	    .kind = XZ_AUDIT_STR, .str = j->peer->identity };
	f[ev.nfields++] = (struct xz_audit_field){ .name = "mode", .kind = XZ_AUDIT_STR,
	    .str = rq_mode_name(j) };
	f[ev.nfields++] = (struct xz_audit_field){ .name = "role", .kind = XZ_AUDIT_STR,
	    .str = "requester" };
	for (size_t i = 0; i < nextra; i++)
		f[ev.nfields++] = extra[i];
	return xz_audit_append(j->node, &ev, NULL, d);
}

void
rq_record_aborted(struct qjoin *j, const char *reason)
{
	struct xz_audit_field f = { .name = "reason", .kind = XZ_AUDIT_STR, .str = reason };
	struct xz_diag d;

	if (rq_record(j, XZ_AUDIT_JOIN_ABORTED, &f, 1, &d) != 0 || xz_audit_publish(j->node, &d) != 0)
		fprintf(stderr, "xiezhi: join_aborted record failed: %s\n", d.msg);
}

/* The responder's refusal, as this node received it: a decision record
 * (no join began, so there is no join_* record on either side). */
void
rq_record_refusal(struct qjoin *j)
{
	struct xz_audit_field f[5];
	struct xz_audit_event ev = { XZ_AUDIT_DECISION, j->conf->identity, j->rf->req.id,
	    f, 5 };
	struct xz_diag d;

	f[0] = (struct xz_audit_field){ .name = "outcome", .kind = XZ_AUDIT_STR,
	    .str = "refuse" };
	f[1] = (struct xz_audit_field){ .name = "reason", .kind = XZ_AUDIT_STR,
	    .str = xz_verdict_name((enum xz_verdict)j->out->refusal_code) };
	f[2] = (struct xz_audit_field){ .name = "decided_by", .kind = XZ_AUDIT_STR,
	    .str = j->out->peer_name[0] != '\0' ? j->out->peer_name : j->peer->name };
	f[3] = (struct xz_audit_field){ .name = "peer_identity", .kind = XZ_AUDIT_STR,
	    .str = j->peer->identity };
	f[4] = (struct xz_audit_field){ .name = "role", .kind = XZ_AUDIT_STR,
	    .str = "requester" };
	if (xz_audit_append(j->node, &ev, NULL, &d) != 0 || xz_audit_publish(j->node, &d) != 0)
		fprintf(stderr, "xiezhi: decision record failed: %s\n", d.msg);
}

/* ---- preparation: everything checked before the request leaves ---- */

static int
load_request(struct qjoin *j, struct xz_diag *d)
{
	struct xz_perror e;
	char buf[700];

	if ((j->rf = calloc(1, sizeof(*j->rf))) == NULL)
		return xz_diag_set(d, "out of memory");
	if (xz_request_file_load(j->o->request_file, j->rf, &e) != 0 ||
	    xz_request_encode(&j->rf->req, j->reqbytes, sizeof(j->reqbytes), &j->reqlen,
	    &e) != 0) {
		xz_perror_format(&e, buf, sizeof(buf));
		return xz_diag_set(d, "%s", buf);
	}
	memcpy(j->out->request_id, j->rf->req.id, 16);
	snprintf(j->out->mode, sizeof(j->out->mode), "%s", rq_mode_name(j));
	if (j->rf->n_approvals == 0)
		return xz_diag_set(d, "%s carries no approvals: have it approved with "
		    "'xiezhi request approve' first", j->o->request_file);
	return 0;
}

int
rq_prepare_peer(struct qjoin *j, struct xz_diag *d)
{
	if ((j->conf = calloc(1, sizeof(*j->conf))) == NULL)
		return xz_diag_set(d, "out of memory");
	if (xz_nodeconf_read(j->o->dir, j->conf, d) != 0 ||
	    xz_nodeconf_check_federation(j->conf, 0, d) != 0)
		return -1;
	if ((j->peer = xz_nodeconf_peer(j->conf, j->o->peer)) == NULL)
		return xz_diag_set(d, "no peer '%s' in %s/xiezhi.conf: add it with 'xiezhi "
		    "config set peer.%s.address HOST:PORT' and 'peer.%s.identity ID'",
		    j->o->peer, j->o->dir, j->o->peer, j->o->peer);
	if (load_request(j, d) != 0)
		return -1;
	if (strcmp(j->rf->req.requester, j->conf->identity) != 0)
		return xz_diag_set(d, "the request is for requester '%s' but this node's "
		    "identity is '%s'", j->rf->req.requester, j->conf->identity);
	if (strcmp(j->rf->req.responder, j->peer->identity) != 0)
		return xz_diag_set(d, "the request is addressed to '%s' but peer '%s' has "
		    "identity '%s'", j->rf->req.responder, j->peer->name, j->peer->identity);
	return 0;
}

int
rq_start_net(struct qjoin *j, struct xz_net *given, struct xz_diag *d)
{
	char ca[4096], cert[4096], key[4096];
	const char *tls[3] = { ca, cert, key };

	if (given != NULL) {
		j->net = given;
		return 0;
	}
	if (xz_nodeconf_path(j->o->dir, j->conf->tls_ca, ca, sizeof(ca), d) != 0 ||
	    xz_nodeconf_path(j->o->dir, j->conf->tls_cert, cert, sizeof(cert), d) != 0 ||
	    xz_nodeconf_path(j->o->dir, j->conf->tls_key, key, sizeof(key), d) != 0 ||
	    xz_net_start(tls, j->o->dir, &j->net, d) != 0)
		return -1;
	j->net_owned = 1;
	return 0;
}

int
rq_open_node(struct qjoin *j, struct xz_diag *d)
{
	return xz_node_open(j->o->dir, &j->node, d) != 0 ||
	    xz_audit_check_anchor(j->node, d) != 0 ||
	    xz_daemon_close_dangling(j->node, "requester", j->conf->identity, NULL, d) != 0 ?
	    -1 : 0;
}

static int
prepare(struct qjoin *j, struct xz_diag *d)
{
	if (rq_prepare_peer(j, d) != 0)
		return -1;
	if (j->rf->req.mode == XZ_MODE_DELEGATED)
		return xz_diag_set(d, "%s is a delegated request: run it with its partner's "
		    "request (xiezhi join with two --peer, or a model)", j->o->request_file);
	/* The network process first: it must never see the store key. */
	if (rq_start_net(j, j->o->net, d) != 0 || rq_open_node(j, d) != 0)
		return -1;
	if (j->o->elements != NULL)
		j->data = j->o->elements;
	else if (xz_join_data_load(j->node, j->o->dataset, j->o->key_column, NULL, 0, 1,
	    &j->owned_data, d) != 0)
		return -1;
	else
		j->data = j->owned_data;
	j->out->local_size = j->data->n;
	if (j->data->n > j->rf->req.query_size)
		return xz_diag_set(d, "column '%s' of dataset '%s' has %zu distinct values "
		    "but the request declares at most %llu: split the query or ask for a "
		    "larger query size", j->o->key_column, j->o->dataset, j->data->n,
		    (unsigned long long)j->rf->req.query_size);
	return 0;
}

/* ---- open ---- */

int
rq_connect_peer(struct qjoin *j, struct xz_diag *d)
{
	struct xz_rpc_client_config cc = {0};
	char ca[4096], cert[4096], key[4096];
	struct xz_rpc_error err;

	if (xz_nodeconf_path(j->o->dir, j->conf->tls_ca, ca, sizeof(ca), d) != 0 ||
	    xz_nodeconf_path(j->o->dir, j->conf->tls_cert, cert, sizeof(cert), d) != 0 ||
	    xz_nodeconf_path(j->o->dir, j->conf->tls_key, key, sizeof(key), d) != 0)
		return -1;
	cc.target = j->peer->address;
	cc.tls.ca_file = ca;
	cc.tls.cert_file = cert;
	cc.tls.key_file = key;
	cc.server_identity = j->peer->identity;
	clock_gettime(CLOCK_MONOTONIC, &j->call_opened);
	if (xz_net_join(j->net, &cc, j->o->deadline_ms, &j->s, &err) != XZ_RPC_OK)
		return xz_diag_set(d, "cannot reach peer %s at %s: %s", j->peer->name,
		    j->peer->address, err.msg);
	return 0;
}

int
rq_send_open(struct qjoin *j, struct xz_diag *d)
{
	struct xz_msg m = { .kind = XZ_MSG_OPEN }, h = { .kind = XZ_MSG_BATCH };
	struct xz_rpc_error err;

	m.u.open.version = XZ_RPC_WIRE_VERSION;
	m.u.open.join_id.ptr = j->rf->req.id;
	m.u.open.join_id.len = XZ_REQUEST_ID_LEN;
	m.u.open.request.ptr = j->reqbytes;
	m.u.open.request.len = j->reqlen;
	m.u.open.dataset = j->rf->req.dataset;
	for (size_t i = 0; i < j->rf->n_approvals; i++) {
		if (xz_join_approval_encode(&j->rf->approvals[i], j->abuf[i], sizeof(j->abuf[i]),
		    &m.u.open.approvals[i].len, d) != 0)
			return -1;
		m.u.open.approvals[i].ptr = j->abuf[i];
	}
	m.u.open.n_approvals = j->rf->n_approvals;
	h.u.batch.phase = XZ_JOIN_PHASE_HELLO;
	h.u.batch.data.ptr = (const uint8_t *)j->conf->name;
	h.u.batch.data.len = strlen(j->conf->name);
	j->sent_open = 1;
	if (xz_net_send(j->s, &m, STEP_TIMEOUT_MS, &err) != XZ_RPC_OK ||
	    xz_net_send(j->s, &h, STEP_TIMEOUT_MS, &err) != XZ_RPC_OK)
		return xz_diag_set(d, "sending the request to %s failed: %s", j->peer->name,
		    err.msg);
	return 0;
}

void
rq_sanitize(char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			*s = '?';
}

/* Returns 0 accepted, 1 refused, -1 error. */
int
rq_read_reply(struct qjoin *j, struct xz_diag *d)
{
	struct xz_msg m = {0};
	struct xz_rpc_error err;
	enum xz_rpc_status st;
	int rc = -1;

	st = xz_net_recv(j->s, &m, STEP_TIMEOUT_MS, &err);
	if (st != XZ_RPC_OK)
		return xz_diag_set(d, "peer %s did not answer the request: %s (%s)",
		    j->peer->name, xz_rpc_status_name(st), st == XZ_RPC_EOF ? "it closed "
		    "the call" : err.msg);
	if (m.kind != XZ_MSG_OPEN_REPLY) {
		xz_diag_set(d, "peer %s answered Open with %s", j->peer->name,
		    xz_msg_kind_name(m.kind));
		goto done;
	}
	if (!m.u.open_reply.accepted) {
		j->out->refused = 1;
		j->out->refusal_code = m.u.open_reply.refusal_code;
		snprintf(j->out->reason, sizeof(j->out->reason), "%s",
		    m.u.open_reply.reason != NULL ? m.u.open_reply.reason : "");
		rq_sanitize(j->out->reason);
		/* A refusal carries the responder's node name in params. */
		if (xz_join_hello_decode(m.u.open_reply.params.ptr, m.u.open_reply.params.len,
		    j->out->peer_name, d) != 0)
			j->out->peer_name[0] = '\0';
		rc = 1;
		goto done;
	}
	if (xz_join_params_decode(m.u.open_reply.params.ptr, m.u.open_reply.params.len,
	    &j->params, d) != 0)
		goto done;
	if (j->params.mode != j->rf->req.mode ||
	    j->params.requester_bound != j->rf->req.query_size ||
	    (j->params.label_len > 0 && j->rf->req.n_labels == 0)) {
		xz_diag_set(d, "peer %s answered with join parameters that do not match "
		    "the request (mode, query size or labels)", j->peer->name);
		goto done;
	}
	snprintf(j->out->peer_name, sizeof(j->out->peer_name), "%s",
	    j->params.responder_name);
	j->out->peer_size = j->params.responder_bound;
	rc = 0;
done:
	xz_msg_release(&m);
	return rc;
}

/* ---- the engine ---- */

int
rq_send_batch(struct qjoin *j, uint32_t phase, const uint8_t *msg, size_t len,
    struct xz_diag *d)
{
	struct xz_msg m = { .kind = XZ_MSG_BATCH };
	struct xz_rpc_error err;
	enum xz_rpc_status st;

	if (phase == XZ_JOIN_PHASE_PSI || phase == XZ_JOIN_PHASE_PARTNER)
		xz_transcript_add(&j->tr, 1, msg, len);
	m.u.batch.seq = j->seq_out++;
	m.u.batch.phase = phase;
	m.u.batch.data.ptr = msg;
	m.u.batch.data.len = len;
	if ((st = xz_net_send(j->s, &m, STEP_TIMEOUT_MS, &err)) != XZ_RPC_OK)
		return xz_diag_set(d, "sending to %s failed: %s (%s)", j->peer->name,
		    xz_rpc_status_name(st), err.msg);
	j->out->bytes_sent += len;
	return 0;
}

int
rq_recv_batch(struct qjoin *j, struct xz_msg *m, struct xz_diag *d)
{
	struct xz_rpc_error err;
	enum xz_rpc_status st;

	st = xz_net_recv(j->s, m, STEP_TIMEOUT_MS, &err);
	if (st != XZ_RPC_OK)
		return xz_diag_set(d, "peer %s stopped the join: %s (%s)", j->peer->name,
		    xz_rpc_status_name(st), st == XZ_RPC_EOF ? "it closed the call" : err.msg);
	if (m->kind == XZ_MSG_ABORT) {
		char r[XZ_RPC_MAX_REASON + 1];
		snprintf(r, sizeof(r), "%s", m->u.abort.reason != NULL ? m->u.abort.reason : "");
		rq_sanitize(r);
		xz_diag_set(d, "peer %s aborted the join: %s", j->peer->name, r);
		xz_msg_release(m);
		return -1;
	}
	if (m->kind != XZ_MSG_BATCH || m->u.batch.phase != XZ_JOIN_PHASE_PSI ||
	    m->u.batch.seq != j->seq_in) {
		xz_diag_set(d, "peer %s sent an unexpected %s message", j->peer->name,
		    xz_msg_kind_name(m->kind));
		xz_msg_release(m);
		return -1;
	}
	j->seq_in++;
	xz_transcript_add(&j->tr, 0, m->u.batch.data.ptr, m->u.batch.data.len);
	j->out->bytes_received += m->u.batch.data.len;
	return 0;
}

static int
recv_engine(struct qjoin *j, struct xz_diag *d)
{
	struct xz_msg m = {0};
	enum xz_psi_status ps;

	if (rq_recv_batch(j, &m, d) != 0)
		return -1;
	ps = xz_psi_requester_consume(j->psi, m.u.batch.data.ptr, m.u.batch.data.len);
	xz_msg_release(&m);
	if (ps != XZ_PSI_OK)
		return xz_diag_set(d, "peer %s sent a message the PSI engine refused: %s",
		    j->peer->name, xz_psi_strerror(ps));
	j->recv_batches++;
	if (j->o->progress != NULL)
		j->o->progress(j->o->progress_arg, "answers", j->recv_batches, 0);
	return 0;
}

static int
run_engine(struct qjoin *j, struct xz_diag *d)
{
	struct xz_psi_params pp;
	enum xz_psi_status ps;
	const uint8_t *msg;
	uint64_t sent = 0;
	size_t len;

	xz_join_psi_params(&j->params, j->rf->req.id, &pp);
	if (xz_psi_requester_new(&j->psi, &pp, j->data->n, xz_join_data_source, j->data)
	    != XZ_PSI_OK)
		return xz_diag_set(d, "the PSI engine refused the join parameters");
	xz_transcript_init(&j->tr, j->rf->req.id, j->reqbytes, j->reqlen);
	while (!xz_psi_requester_done(j->psi)) {
		ps = xz_psi_requester_produce(j->psi, &msg, &len);
		if (ps == XZ_PSI_OK) {
			if (rq_send_batch(j, XZ_JOIN_PHASE_PSI, msg, len, d) != 0)
				return -1;
			sent += j->params.batch_max;
			if (j->o->progress != NULL)
				j->o->progress(j->o->progress_arg, "sent",
				    sent < pp.requester_bound ? sent : pp.requester_bound,
				    pp.requester_bound);
			continue;
		}
		if (ps != XZ_PSI_AGAIN && ps != XZ_PSI_DONE)
			return xz_diag_set(d, "PSI engine: %s", xz_psi_strerror(ps));
		if (recv_engine(j, d) != 0)
			return -1;
	}
	j->out->result_size = xz_psi_requester_count(j->psi);
	j->out->label_failures = xz_psi_requester_label_failures(j->psi);
	return 0;
}

/* ---- closing ---- */

int
rq_close_join(struct qjoin *j, struct xz_diag *d)
{
	/* result_size stays 0: the responder must not learn |X ∩ Y|. */
	struct xz_join_summary sum = { .result_size = 0 };
	struct xz_msg m = { .kind = XZ_MSG_BATCH }, r = {0};
	uint8_t buf[XZ_JOIN_SUMMARY_MAX], pk[32];
	const uint8_t *pin = NULL;
	struct xz_rpc_error err;
	enum xz_rpc_status st;
	const char *why;
	size_t len;
	int rc = -1;

	snprintf(sum.requester_name, sizeof(sum.requester_name), "%s", j->conf->name);
	if (xz_join_summary_encode(&sum, buf, sizeof(buf), &len, d) != 0)
		return -1;
	m.u.batch.seq = j->seq_out++;
	m.u.batch.phase = XZ_JOIN_PHASE_SUMMARY;
	m.u.batch.data.ptr = buf;
	m.u.batch.data.len = len;
	xz_transcript_final(&j->tr, j->out->transcript);
	if (xz_net_send(j->s, &m, STEP_TIMEOUT_MS, &err) != XZ_RPC_OK)
		return xz_diag_set(d, "sending the summary failed: %s", err.msg);
	m = (struct xz_msg){ .kind = XZ_MSG_CLOSE };
	m.u.close.transcript_hash.ptr = j->out->transcript;
	m.u.close.transcript_hash.len = 32;
	if (xz_net_send(j->s, &m, STEP_TIMEOUT_MS, &err) != XZ_RPC_OK)
		return xz_diag_set(d, "sending Close failed: %s", err.msg);
	if ((st = xz_net_recv(j->s, &r, STEP_TIMEOUT_MS, &err)) != XZ_RPC_OK)
		return xz_diag_set(d, "no receipt from %s: %s (%s)", j->peer->name,
		    xz_rpc_status_name(st), st == XZ_RPC_EOF ? "call closed" : err.msg);
	if (r.kind != XZ_MSG_RECEIPT || r.u.receipt.transcript_hash.len != 32 ||
	    sodium_memcmp(r.u.receipt.transcript_hash.ptr, j->out->transcript, 32) != 0 ||
	    r.u.receipt.checkpoint == NULL) {
		xz_diag_set(d, "peer %s did not confirm the transcript (%s)", j->peer->name,
		    xz_msg_kind_name(r.kind));
		goto done;
	}
	if (j->peer->node_key[0] != '\0') {
		if (xz_key_from_base64(j->peer->node_key, pk, &why) != 0) {
			xz_diag_set(d, "peer.%s.node_key: %s", j->peer->name, why);
			goto done;
		}
		pin = pk;
	}
	if (xz_join_receipt_verify(r.u.receipt.signed_receipt.ptr,
	    r.u.receipt.signed_receipt.len, j->rf->req.id, j->out->transcript,
	    r.u.receipt.checkpoint, pin, d) != 0)
		goto done;
	memcpy(j->receipt, r.u.receipt.signed_receipt.ptr, XZ_JOIN_RECEIPT_LEN);
	if ((j->checkpoint = strdup(r.u.receipt.checkpoint)) == NULL) {
		xz_diag_set(d, "out of memory");
		goto done;
	}
	rc = 0;
done:
	xz_msg_release(&r);
	return rc;
}

/* ---- storing ---- */

struct store_ctx {
	struct qjoin *j;
	sqlite3_stmt *ins;
	uint64_t pos;
	int failed;
};

/* The label named by i in b (u32 length | bytes, in req's label order). */
static int
label_at(const struct xz_request *req, const uint8_t *b, size_t len, size_t want,
    const uint8_t **v, uint32_t *n, size_t *end)
{
	size_t off = 0;

	for (size_t i = 0; i < req->n_labels; i++) {
		uint32_t k;
		if (off + 4 > len)
			return -1;
		k = (uint32_t)b[off] << 24 | (uint32_t)b[off + 1] << 16 |
		    (uint32_t)b[off + 2] << 8 | b[off + 3];
		off += 4;
		if (k > len - off)
			return -1;
		if (i == want) {
			*v = b + off;
			*n = k;
		}
		off += k;
	}
	*end = off;
	return 0;
}

int
rq_label_value(const struct xz_request *req, const uint8_t *b, size_t len,
    const char *name, const uint8_t **v, uint32_t *n)
{
	size_t end;

	for (size_t i = 0; i < req->n_labels; i++)
		if (strcmp(req->labels[i], name) == 0)
			return label_at(req, b, len, i, v, n, &end);
	return -1;
}

int
rq_labels_valid(const struct xz_request *req, const uint8_t *b, size_t len)
{
	const uint8_t *v = NULL;
	uint32_t n = 0;
	size_t end = 0;

	if (label_at(req, b, len, SIZE_MAX, &v, &n, &end) != 0)
		return 0;
	for (; end < len; end++)
		if (b[end] != 0)
			return 0;
	return 1;
}

static int
skipped(const struct xz_request *skip, const char *name)
{
	if (skip == NULL)
		return 0;
	for (size_t i = 0; i < skip->n_labels; i++)
		if (strcmp(skip->labels[i], name) == 0)
			return 1;
	return 0;
}

char *
rq_labels_members(const struct xz_request *req, const uint8_t *b, size_t len,
    const struct xz_request *skip)
{
	size_t cap = len * 6 + 64 + req->n_labels * (XZ_NAME_MAX + 8), used = 0, end;
	const uint8_t *v;
	uint32_t n;
	char *out;
	int first = 1;

	/* Checked whole first (lengths, zero padding, docs/protocol.md §3), so
	 * nothing below can fail half way with labels already copied out. */
	if (!rq_labels_valid(req, b, len) || (out = malloc(cap)) == NULL)
		return NULL;
	out[0] = '\0';
	for (size_t i = 0; i < req->n_labels; i++) {
		v = NULL;
		n = 0;
		(void)label_at(req, b, len, i, &v, &n, &end);
		if (skipped(skip, req->labels[i]))
			continue;
		used += (size_t)snprintf(out + used, cap - used, "%s\"%s\": \"",
		    first ? "" : ", ", req->labels[i]);
		first = 0;
		for (size_t k = 0; k < n; k++) {
			unsigned char c = v[k];
			if (c == '"' || c == '\\')
				used += (size_t)snprintf(out + used, cap - used, "\\%c", c);
			else if (c < 0x20 || c == 0x7f)
				used += (size_t)snprintf(out + used, cap - used, "\\u%04x", c);
			else
				out[used++] = (char)c;
		}
		out[used++] = '"';
		out[used] = '\0';
	}
	return out;
}

/* Labels as a JSON object, in the request's label order. */
static char *
labels_json(const struct xz_request *req, const uint8_t *b, size_t len)
{
	char *m = rq_labels_members(req, b, len, NULL), *out;
	size_t n;

	if (m == NULL)
		return NULL;
	n = strlen(m);
	if ((out = malloc(n + 3)) != NULL) {
		out[0] = '{';
		memcpy(out + 1, m, n);
		out[n + 1] = '}';
		out[n + 2] = '\0';
	}
	free(m);
	return out;
}

static int
store_row(void *arg, uint64_t index, const uint8_t *label, size_t label_len)
{
	struct store_ctx *c = arg;
	struct qjoin *j = c->j;
	char *lj = NULL;

	if (index >= j->data->n) {
		c->failed = 1;
		return 1;
	}
	if (label != NULL && j->rf->req.n_labels > 0 &&
	    (lj = labels_json(&j->rf->req, label, label_len)) == NULL) {
		if (rq_labels_valid(&j->rf->req, label, label_len)) {
			c->failed = 4;		/* out of memory */
			return 1;
		}
		/* Authenticated but not a label record: the responder's doing.
		 * Left out and counted, like a label that does not open. */
		j->out->label_failures++;
		return 0;
	}
	sqlite3_reset(c->ins);
	sqlite3_bind_blob(c->ins, 1, j->rf->req.id, 16, SQLITE_STATIC);
	sqlite3_bind_int64(c->ins, 2, (int64_t)c->pos++);
	sqlite3_bind_text(c->ins, 3, (const char *)j->data->elem[index],
	    (int)j->data->elem_len[index], SQLITE_STATIC);
	if (lj != NULL)
		sqlite3_bind_text(c->ins, 4, lj, -1, SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(c->ins, 4);
	if (lj != NULL) {
		sodium_memzero(lj, strlen(lj));	/* a record's labels, in the clear */
		free(lj);
	}
	if (sqlite3_step(c->ins) != SQLITE_DONE) {
		c->failed = 3;
		return 1;
	}
	return 0;
}

int
rq_insert_summary(struct qjoin *j, struct xz_diag *d)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if (sqlite3_prepare_v2(xz_node_db(j->node), "INSERT INTO join_results VALUES "
	    "(?,?,?,?,?,?,?,?,?,?,?,?,?)", -1, &st, NULL) != SQLITE_OK)
		return xz_node_db_error(j->node, "storing the join result", d);
	sqlite3_bind_blob(st, 1, j->rf->req.id, 16, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, j->out->peer_name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, j->peer->identity, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, rq_mode_name(j), -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, j->o->dataset, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 6, j->o->key_column, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 7, (int64_t)j->out->local_size);
	sqlite3_bind_int64(st, 8, (int64_t)j->out->peer_size);
	sqlite3_bind_int64(st, 9, (int64_t)j->out->result_size);
	sqlite3_bind_blob(st, 10, j->out->transcript, 32, SQLITE_STATIC);
	sqlite3_bind_blob(st, 11, j->receipt, XZ_JOIN_RECEIPT_LEN, SQLITE_STATIC);
	sqlite3_bind_text(st, 12, j->checkpoint, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 13, (int64_t)time(NULL));
	rc = sqlite3_step(st) == SQLITE_DONE ? 0 :
	    xz_node_db_error(j->node, "storing the join result", d);
	sqlite3_finalize(st);
	return rc;
}

/* Inside one transaction: the result, its rows and join_completed. */
static int
store_tx(struct xz_node *node, void *arg, struct xz_diag *d)
{
	struct qjoin *j = arg;
	struct store_ctx c = { .j = j };
	struct xz_audit_field f[6];
	enum xz_psi_status ps;
	int rc = -1;

	(void)node;
	if (rq_results_schema(j->node, d) != 0 || rq_insert_summary(j, d) != 0)
		return -1;
	if (j->rf->req.mode != XZ_MODE_CARDINALITY) {
		if (sqlite3_prepare_v2(xz_node_db(j->node), "INSERT INTO join_result_rows "
		    "(request_id, pos, k, labels) VALUES (?,?,?,?)", -1, &c.ins, NULL) != SQLITE_OK)
			return xz_node_db_error(j->node, "storing the join result", d);
		ps = xz_psi_requester_results(j->psi, store_row, &c);
		sqlite3_finalize(c.ins);
		if (ps != XZ_PSI_OK || c.failed != 0)
			return xz_diag_set(d, "storing the result rows failed (%s)",
			    c.failed == 4 ? "out of memory" :
			    c.failed == 3 ? sqlite3_errmsg(xz_node_db(j->node)) :
			    xz_psi_strerror(ps));
	}
	j->out->stored_rows = c.pos;
	f[0] = (struct xz_audit_field){ .name = "local_size", .kind = XZ_AUDIT_INT,
	    .num = j->params.requester_bound };
	f[1] = (struct xz_audit_field){ .name = "peer_size", .kind = XZ_AUDIT_INT,
	    .num = j->params.responder_bound };
	f[2] = (struct xz_audit_field){ .name = "result_size", .kind = XZ_AUDIT_INT,
	    .num = j->out->result_size };
	f[3] = (struct xz_audit_field){ .name = "transcript", .kind = XZ_AUDIT_HASH };
	memcpy(f[3].hash, j->out->transcript, 32);
	f[4] = (struct xz_audit_field){ .name = "dataset", .kind = XZ_AUDIT_STR,
	    .str = j->o->dataset };
	f[5] = (struct xz_audit_field){ .name = "labels_refused", .kind = XZ_AUDIT_INT,
	    .num = j->out->label_failures };
	rc = rq_record(j, XZ_AUDIT_JOIN_COMPLETED, f, j->out->label_failures > 0 ? 6 : 5, d);
	return rc;
}

/* ---- the whole join ---- */

/*
 * When the call's deadline has passed, gRPC reports whatever the call was
 * doing at that moment (connecting, sending, waiting): a cancellation, an
 * unavailable peer, a deadline.  The operator set the deadline, so that is
 * the cause to name, with gRPC's words kept after it.
 */
void
rq_blame_deadline(const struct qjoin *j, struct xz_diag *d)
{
	struct timespec now;
	int64_t elapsed_ms;
	struct xz_diag why = *d;

	if (j->call_opened.tv_sec == 0 && j->call_opened.tv_nsec == 0)
		return;
	clock_gettime(CLOCK_MONOTONIC, &now);
	elapsed_ms = (int64_t)(now.tv_sec - j->call_opened.tv_sec) * 1000 +
	    (now.tv_nsec - j->call_opened.tv_nsec) / 1000000;
	if (elapsed_ms < j->o->deadline_ms)
		return;
	xz_diag_set(d, "the join's deadline of %lld ms passed before it finished; "
	    "give it more time with --timeout SECONDS (%s)",
	    (long long)j->o->deadline_ms, why.msg);
}

static int
run(struct qjoin *j, struct xz_diag *d)
{
	struct xz_rpc_error err;
	struct xz_diag d2;
	int r;

	if (prepare(j, d) != 0)
		return -1;
	if (rq_connect_peer(j, d) != 0 || rq_send_open(j, d) != 0 || (r = rq_read_reply(j, d)) < 0) {
		rq_blame_deadline(j, d);
		/* Once the request left the node, the attempt is on record. */
		if (j->sent_open) {
			d2 = *d;
			rq_record_aborted(j, "the request did not reach an answer");
			*d = d2;
		}
		return -1;
	}
	if (r == 1) {
		rq_record_refusal(j);
		if (xz_net_finish(j->s, &err) != XZ_RPC_OK)
			(void)0;	/* the refusal is the answer */
		return 1;
	}
	if (rq_record(j, XZ_AUDIT_JOIN_STARTED, NULL, 0, d) != 0 || xz_audit_publish(j->node, d) != 0)
		return -1;
	j->started = 1;
	if (run_engine(j, d) != 0 || rq_close_join(j, d) != 0) {
		rq_blame_deadline(j, d);
		/* Nothing of this join is stored: no leads from a broken join. */
		struct xz_msg a = { .kind = XZ_MSG_ABORT };
		a.u.abort.code = XZ_JOIN_ABORT_PROTOCOL;
		a.u.abort.reason = "the requester gave up";
		if (xz_net_send(j->s, &a, 2000, &err) != XZ_RPC_OK)
			(void)0;
		xz_net_cancel(j->s);
		rq_record_aborted(j, d->msg);
		return -1;
	}
	if (xz_node_transaction(j->node, store_tx, j, d) != 0) {
		d2 = *d;
		rq_record_aborted(j, "the result could not be stored");
		*d = d2;
		return -1;
	}
	if (xz_audit_publish(j->node, d) != 0)
		return -1;
	if (xz_net_finish(j->s, &err) != XZ_RPC_OK)
		fprintf(stderr, "xiezhi: note: the responder ended the call with %s after "
		    "the receipt: %s\n", xz_rpc_status_name(err.status), err.msg);
	return 0;
}

int
xz_requester_join(const struct xz_join_opts *o, struct xz_join_outcome *out,
    struct xz_diag *d)
{
	struct qjoin *j = calloc(1, sizeof(*j));
	struct timespec t0, t1;
	int rc;

	memset(out, 0, sizeof(*out));
	if (j == NULL)
		return xz_diag_set(d, "out of memory");
	j->o = o;
	j->out = out;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	rc = run(j, d);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	out->seconds = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	rq_release(j);
	free(j);
	return rc;
}

void
rq_release(struct qjoin *j)
{
	xz_psi_requester_free(j->psi);
	xz_net_call_free(j->s);
	if (j->net_owned)
		xz_net_stop(j->net);
	xz_join_data_free(j->owned_data);
	if (!j->node_borrowed)
		xz_node_close(j->node);
	free(j->checkpoint);
	free(j->rf);
	free(j->conf);
	sodium_memzero(j, sizeof(*j));
}
