/*
 * A delegated (three-party) join from the requester's side (node/requester.h,
 * docs/protocol.md §11): this node holds no data.  It opens one call to
 * each data owner with that owner's approved request, tells each one the
 * other's parameters once both accepted, relays the owners' blinded
 * records between them one message at a time (crypto/psi.h,
 * xz_psi_coordinator), matches the tags both send it, and stores the
 * matching pairs with both owners' labels.
 *
 * Audit records here, per owner (each owner's request is its own join for
 * crosscheck): join_started once both accepted, join_completed in the
 * transaction that stores the result, or join_aborted; a refusal is a
 * decision record, and the owner that had accepted gets an Abort.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "requester_internal.h"

#define DELEGATED_BATCH 4096u

struct djoin {
	const struct xz_delegated_opts *o;
	struct xz_delegated_outcome *out;
	struct xz_join_opts jo[2];
	struct qjoin q[2];
	struct xz_psi_coordinator *c;
	uint8_t link[XZ_REQUEST_ID_LEN];
	uint64_t relayed;
	int closed[2];		/* receipt verified: no Abort goes there any more */
};

/* ---- before anything leaves ---- */

static int
check_pair(struct djoin *dj, struct xz_diag *d)
{
	const struct xz_request *r[2] = { &dj->q[0].rf->req, &dj->q[1].rf->req };
	int has_key = 0;

	for (unsigned i = 0; i < 2; i++) {
		if (r[i]->mode != XZ_MODE_DELEGATED)
			return xz_diag_set(d, "%s is a %s request; both requests of a delegated "
			    "join must have mode delegated", dj->o->request_file[i],
			    xz_mode_name(r[i]->mode));
		if (strcmp(r[i]->partner, dj->q[1 - i].peer->identity) != 0)
			return xz_diag_set(d, "%s names partner '%s', but the other owner, peer "
			    "%s, is '%s'", dj->o->request_file[i], r[i]->partner,
			    dj->q[1 - i].peer->name, dj->q[1 - i].peer->identity);
		for (size_t k = 0; k < r[i]->n_labels; k++)
			if (dj->o->key_label != NULL && strcmp(r[i]->labels[k], dj->o->key_label) == 0)
				has_key = 1;
	}
	if (strcmp(dj->o->peer[0], dj->o->peer[1]) == 0)
		return xz_diag_set(d, "the two owners of a delegated join must be different "
		    "peers (both are '%s')", dj->o->peer[0]);
	if (sodium_memcmp(r[0]->link, r[1]->link, XZ_REQUEST_ID_LEN) != 0)
		return xz_diag_set(d, "%s and %s have different links: they were not made "
		    "for the same step", dj->o->request_file[0], dj->o->request_file[1]);
	if (dj->o->key_label == NULL || !has_key)
		return xz_diag_set(d, "neither request asks for label '%s': without the key "
		    "the matches name nobody (ask one owner for its key column)",
		    dj->o->key_label != NULL ? dj->o->key_label : "(none given)");
	memcpy(dj->link, r[0]->link, sizeof(dj->link));
	return 0;
}

static int
prepare(struct djoin *dj, struct xz_diag *d)
{
	for (unsigned i = 0; i < 2; i++) {
		dj->jo[i] = (struct xz_join_opts){ .dir = dj->o->dir, .peer = dj->o->peer[i],
		    .request_file = dj->o->request_file[i], .key_column = dj->o->key_label,
		    .deadline_ms = dj->o->deadline_ms };
		dj->q[i].o = &dj->jo[i];
		dj->q[i].out = &dj->out->owner[i];
		if (rq_prepare_peer(&dj->q[i], d) != 0)
			return -1;
		/* The owner's dataset names where the result came from. */
		dj->jo[i].dataset = dj->q[i].rf->req.dataset;
	}
	/* One network process for both calls, started before the store opens. */
	if (check_pair(dj, d) != 0 || rq_start_net(&dj->q[0], dj->o->net, d) != 0)
		return -1;
	dj->q[1].net = dj->q[0].net;
	if (rq_open_node(&dj->q[0], d) != 0)
		return -1;
	dj->q[1].node = dj->q[0].node;
	dj->q[1].node_borrowed = 1;
	return 0;
}

/* ---- opening both calls ---- */

/* Tells an owner that already accepted that the join will not happen. */
static void
abort_owner(struct qjoin *q, const char *why)
{
	struct xz_msg a = { .kind = XZ_MSG_ABORT };
	struct xz_rpc_error err;

	a.u.abort.code = XZ_JOIN_ABORT_PROTOCOL;
	a.u.abort.reason = why;
	if (q->s != NULL && xz_net_send(q->s, &a, 2000, &err) != XZ_RPC_OK)
		(void)0;	/* the owner records the end of the call either way */
	if (q->s != NULL)
		xz_net_cancel(q->s);
}

/* Returns 0 both accepted, 1 one refused, -1 failed. */
static int
open_both(struct djoin *dj, struct xz_diag *d)
{
	int r[2] = { -1, -1 };

	for (unsigned i = 0; i < 2; i++)
		if (rq_connect_peer(&dj->q[i], d) != 0 || rq_send_open(&dj->q[i], d) != 0)
			return -1;
	for (unsigned i = 0; i < 2; i++) {
		if ((r[i] = rq_read_reply(&dj->q[i], d)) >= 0)
			continue;
		/* An owner that already refused is on record as refusing. */
		for (unsigned k = 0; k < i; k++)
			if (r[k] == 1) {
				rq_record_refusal(&dj->q[k]);
				dj->q[k].sent_open = 0;
			}
		return -1;
	}
	if (r[0] == 0 && r[1] == 0)
		return 0;
	dj->out->refused = 1;
	for (unsigned i = 0; i < 2; i++) {
		if (r[i] == 1) {
			rq_record_refusal(&dj->q[i]);
			continue;
		}
		abort_owner(&dj->q[i], "the other data owner of the step refused");
		rq_record_aborted(&dj->q[i], "the other data owner of the step refused");
		dj->q[i].sent_open = 0;		/* its end is on record */
	}
	return 1;
}

/*
 * Both accepted: each owner's set must fit what the other agreed to
 * evaluate (its request's query size); the batch is the smaller proposal.
 */
static int
agree(struct djoin *dj, uint32_t *batch, struct xz_diag *d)
{
	for (unsigned i = 0; i < 2; i++) {
		const struct qjoin *q = &dj->q[i], *p = &dj->q[1 - i];
		if (p->params.responder_bound > q->rf->req.query_size)
			return xz_diag_set(d, "%s offers %llu records (padded) but %s agreed to "
			    "evaluate at most %llu (query_size of %s): ask for a larger query "
			    "size", p->out->peer_name, (unsigned long long)p->params.responder_bound,
			    q->out->peer_name, (unsigned long long)q->rf->req.query_size,
			    dj->o->request_file[i]);
		if (strcmp(q->out->peer_name, p->out->peer_name) == 0)
			return xz_diag_set(d, "both owners call themselves '%s'", q->out->peer_name);
	}
	/*
	 * Each owner's proposal depends on its own label length; a fixed cap
	 * keeps the batch, which both learn, from telling one about the
	 * other's labels in the usual case (labels under about 470 bytes).
	 */
	*batch = DELEGATED_BATCH;
	for (unsigned i = 0; i < 2; i++)
		if (dj->q[i].params.batch_max < *batch)
			*batch = dj->q[i].params.batch_max;
	return 0;
}

static int
send_partners(struct djoin *dj, uint32_t batch, struct xz_diag *d)
{
	uint8_t buf[XZ_JOIN_PARTNER_MAX];
	size_t len;

	for (unsigned i = 0; i < 2; i++) {
		struct qjoin *q = &dj->q[i];
		const struct qjoin *p = &dj->q[1 - i];
		/* The partner's label length is of no use to an owner and depends
		 * on the partner's data: it is not sent. */
		struct xz_join_partner pt = { .self = i,
		    .partner_bound = p->params.responder_bound,
		    .partner_label_len = 0, .batch_max = batch };
		snprintf(pt.partner_name, sizeof(pt.partner_name), "%s", p->out->peer_name);
		xz_transcript_init(&q->tr, q->rf->req.id, q->reqbytes, q->reqlen);
		if (xz_join_partner_encode(&pt, buf, sizeof(buf), &len, d) != 0 ||
		    rq_send_batch(q, XZ_JOIN_PHASE_PARTNER, buf, len, d) != 0)
			return -1;
	}
	return 0;
}

/* ---- relaying and matching ---- */

static int
relay_one(struct djoin *dj, unsigned from, struct xz_diag *d)
{
	struct qjoin *q = &dj->q[from];
	struct xz_msg m = {0};
	enum xz_psi_status ps;
	int fwd = 0, rc = -1;

	if (rq_recv_batch(q, &m, d) != 0)
		return -1;
	ps = xz_psi_coordinator_consume(dj->c, from, m.u.batch.data.ptr, m.u.batch.data.len,
	    &fwd);
	if (ps != XZ_PSI_OK) {
		xz_diag_set(d, "peer %s sent a message the delegated join refused: %s",
		    q->peer->name, xz_psi_strerror(ps));
		goto done;
	}
	if (fwd && rq_send_batch(&dj->q[1 - from], XZ_JOIN_PHASE_PSI, m.u.batch.data.ptr,
	    m.u.batch.data.len, d) != 0)
		goto done;
	dj->relayed++;
	if (dj->o->progress != NULL)
		dj->o->progress(dj->o->progress_arg, fwd ? "relayed" : "matched", dj->relayed, 0);
	rc = 0;
done:
	xz_msg_release(&m);
	return rc;
}

static int
run_engine(struct djoin *dj, uint32_t batch, struct xz_diag *d)
{
	struct xz_psi_dparams dp;
	uint64_t bound[2];
	uint32_t llen[2];
	enum xz_psi_status ps;
	unsigned from;

	for (unsigned i = 0; i < 2; i++) {
		bound[i] = dj->q[i].params.responder_bound;
		llen[i] = dj->q[i].params.label_len;
	}
	xz_join_dparams(dj->link, bound, llen, batch, &dp);
	if (xz_psi_coordinator_new(&dj->c, &dp) != XZ_PSI_OK)
		return xz_diag_set(d, "the delegated join refused the owners' parameters");
	while ((ps = xz_psi_coordinator_next(dj->c, &from)) == XZ_PSI_OK) {
		unsigned side;
		if (relay_one(dj, from, d) != 0)
			return -1;
		/* The owner held whole as the table has said all it will: close
		 * its call now rather than keep it waiting while the other side
		 * streams in (its step timeout would run out on large joins). */
		if (xz_psi_coordinator_table_done(dj->c, &side) && !dj->closed[side]) {
			if (rq_close_join(&dj->q[side], d) != 0)
				return -1;
			dj->closed[side] = 1;
		}
	}
	if (ps != XZ_PSI_DONE)
		return xz_diag_set(d, "delegated join: %s", xz_psi_strerror(ps));
	dj->out->result_size = xz_psi_coordinator_count(dj->c);
	dj->out->overflow = xz_psi_coordinator_overflow(dj->c);
	for (unsigned i = 0; i < 2; i++) {
		dj->out->owner[i].result_size = dj->out->result_size;
		dj->out->owner[i].label_failures = xz_psi_coordinator_label_failures(dj->c);
	}
	return 0;
}

/* ---- storing ---- */

struct store_ctx {
	struct djoin *dj;
	sqlite3_stmt *ins;
	uint64_t pos;
	int failed;
};

/* One matching pair: the key as an owner revealed it, both owners' labels. */
static int
store_pair(void *arg, uint64_t pos0, const uint8_t *l0, size_t n0, uint64_t pos1,
    const uint8_t *l1, size_t n1)
{
	struct store_ctx *c = arg;
	const struct xz_request *r0 = &c->dj->q[0].rf->req, *r1 = &c->dj->q[1].rf->req;
	const char *key = c->dj->o->key_label;
	char *m0 = NULL, *m1 = NULL, *json = NULL;
	const uint8_t *kv = NULL;
	uint32_t kn = 0;
	size_t len;

	(void)pos0;
	(void)pos1;
	/* Authenticated but not a label record (or no key): an owner's doing.
	 * Left out and counted, never fatal, like a label that does not open. */
	if (!rq_labels_valid(r0, l0, n0) || !rq_labels_valid(r1, l1, n1) ||
	    (rq_label_value(r0, l0, n0, key, &kv, &kn) != 0 &&
	    rq_label_value(r1, l1, n1, key, &kv, &kn) != 0)) {
		c->dj->out->owner[0].label_failures++;
		c->dj->out->owner[1].label_failures++;
		return 0;
	}
	if ((m0 = rq_labels_members(r0, l0, n0, NULL)) == NULL ||
	    (m1 = rq_labels_members(r1, l1, n1, r0)) == NULL) {
		c->failed = 4;
		goto done;
	}
	len = strlen(m0) + strlen(m1) + 5;
	if ((json = malloc(len)) == NULL) {
		c->failed = 4;
		goto done;
	}
	snprintf(json, len, "{%s%s%s}", m0, m0[0] != '\0' && m1[0] != '\0' ? ", " : "", m1);
	sqlite3_reset(c->ins);
	sqlite3_bind_blob(c->ins, 1, r0->id, 16, SQLITE_STATIC);
	sqlite3_bind_int64(c->ins, 2, (int64_t)c->pos++);
	sqlite3_bind_text(c->ins, 3, kn > 0 ? (const char *)kv : "", (int)kn, SQLITE_STATIC);
	sqlite3_bind_text(c->ins, 4, json, -1, SQLITE_STATIC);
	if (sqlite3_step(c->ins) != SQLITE_DONE)
		c->failed = 3;
done:
	/* Records' labels in the clear: wiped before they are freed. */
	if (m0 != NULL)
		sodium_memzero(m0, strlen(m0));
	if (m1 != NULL)
		sodium_memzero(m1, strlen(m1));
	if (json != NULL)
		sodium_memzero(json, strlen(json));
	free(m0);
	free(m1);
	free(json);
	return c->failed != 0;
}

/* join_completed for one owner's call; note (may be NULL) says why its
 * result is not stored after all (the owner completed its side). */
static int
record_completed(struct qjoin *q, const uint8_t link[XZ_REQUEST_ID_LEN], const char *note,
    struct xz_diag *d)
{
	struct xz_audit_field f[8];
	char hex[2 * XZ_REQUEST_ID_LEN + 1];
	size_t n = 6;

	xz_hex(link, XZ_REQUEST_ID_LEN, hex, sizeof(hex));
	f[0] = (struct xz_audit_field){ .name = "local_size", .kind = XZ_AUDIT_INT,
	    .num = q->params.requester_bound };
	f[1] = (struct xz_audit_field){ .name = "peer_size", .kind = XZ_AUDIT_INT,
	    .num = q->params.responder_bound };
	f[2] = (struct xz_audit_field){ .name = "result_size", .kind = XZ_AUDIT_INT,
	    .num = q->out->result_size };
	f[3] = (struct xz_audit_field){ .name = "transcript", .kind = XZ_AUDIT_HASH };
	memcpy(f[3].hash, q->out->transcript, 32);
	f[4] = (struct xz_audit_field){ .name = "dataset", .kind = XZ_AUDIT_STR,
	    .str = q->o->dataset };
	f[5] = (struct xz_audit_field){ .name = "link", .kind = XZ_AUDIT_STR, .str = hex };
	if (q->out->label_failures > 0)
		f[n++] = (struct xz_audit_field){ .name = "labels_refused",
		    .kind = XZ_AUDIT_INT, .num = q->out->label_failures };
	if (note != NULL)
		f[n++] = (struct xz_audit_field){ .name = "not_stored", .kind = XZ_AUDIT_STR,
		    .str = note };
	return rq_record(q, XZ_AUDIT_JOIN_COMPLETED, f, n, d);
}

/* Inside one transaction: both results, the pairs, both join_completed. */
static int
store_tx(struct xz_node *node, void *arg, struct xz_diag *d)
{
	struct djoin *dj = arg;
	struct store_ctx c = { .dj = dj };
	sqlite3 *db = xz_node_db(node);
	enum xz_psi_status ps;

	if (rq_results_schema(node, d) != 0 || rq_insert_summary(&dj->q[0], d) != 0 ||
	    rq_insert_summary(&dj->q[1], d) != 0)
		return -1;
	if (sqlite3_prepare_v2(db, "INSERT INTO join_result_rows (request_id, pos, k, labels) "
	    "VALUES (?,?,?,?)", -1, &c.ins, NULL) != SQLITE_OK)
		return xz_node_db_error(node, "storing the join result", d);
	ps = xz_psi_coordinator_results(dj->c, store_pair, &c);
	sqlite3_finalize(c.ins);
	if (ps != XZ_PSI_OK || c.failed != 0)
		return xz_diag_set(d, "storing the result rows failed (%s)",
		    c.failed == 3 ? sqlite3_errmsg(db) : c.failed == 4 ? "out of memory" :
		    xz_psi_strerror(ps));
	dj->out->stored_rows = c.pos;
	for (unsigned i = 0; i < 2; i++)
		dj->out->owner[i].stored_rows = i == 0 ? c.pos : 0;
	return record_completed(&dj->q[0], dj->link, NULL, d) != 0 ||
	    record_completed(&dj->q[1], dj->link, NULL, d) != 0 ? -1 : 0;
}

/* ---- the whole join ---- */

/*
 * Ends the owners' calls after a failure.  An owner whose receipt verified
 * has completed its side: it gets no Abort (nothing it sees may depend on
 * what happened after), and this node records its join as completed with
 * the reason the result was not kept, so the two logs still agree.
 */
static void
fail_all(struct djoin *dj, const char *why)
{
	struct xz_diag d;

	for (unsigned i = 0; i < 2; i++) {
		if (!dj->q[i].sent_open)
			continue;
		if (dj->closed[i]) {
			if (record_completed(&dj->q[i], dj->link, why, &d) != 0 ||
			    xz_audit_publish(dj->q[i].node, &d) != 0)
				fprintf(stderr, "xiezhi: join_completed record failed: %s\n",
				    d.msg);
			continue;
		}
		abort_owner(&dj->q[i], "the requester gave up");
		if (dj->q[i].node != NULL)
			rq_record_aborted(&dj->q[i], why);	/* and publishes */
	}
}

/* Closes the calls not closed yet (summary, Close, receipt). */
static int
close_rest(struct djoin *dj, struct xz_diag *d)
{
	for (unsigned i = 0; i < 2; i++) {
		if (dj->closed[i])
			continue;
		if (rq_close_join(&dj->q[i], d) != 0)
			return -1;
		dj->closed[i] = 1;
	}
	return 0;
}

static int
run(struct djoin *dj, struct xz_diag *d)
{
	struct xz_rpc_error err;
	struct xz_diag keep;
	uint32_t batch = 0;
	int r;

	if (prepare(dj, d) != 0)
		return -1;
	if ((r = open_both(dj, d)) != 0) {
		if (r < 0) {
			rq_blame_deadline(&dj->q[0], d);
			keep = *d;
			fail_all(dj, "the request did not reach an answer");
			*d = keep;
		}
		return r;
	}
	if (agree(dj, &batch, d) != 0)
		goto fail;
	for (unsigned i = 0; i < 2; i++) {
		if (rq_record(&dj->q[i], XZ_AUDIT_JOIN_STARTED, NULL, 0, d) != 0)
			goto fail;
		dj->q[i].started = 1;
	}
	if (xz_audit_publish(dj->q[0].node, d) != 0 || send_partners(dj, batch, d) != 0 ||
	    run_engine(dj, batch, d) != 0 || close_rest(dj, d) != 0)
		goto fail;
	if (xz_node_transaction(dj->q[0].node, store_tx, dj, d) != 0) {
		keep = *d;
		fail_all(dj, "the result could not be stored");
		*d = keep;
		return -1;
	}
	if (xz_audit_publish(dj->q[0].node, d) != 0)
		return -1;
	for (unsigned i = 0; i < 2; i++)
		if (xz_net_finish(dj->q[i].s, &err) != XZ_RPC_OK)
			fprintf(stderr, "xiezhi: note: %s ended the call with %s after the "
			    "receipt: %s\n", dj->q[i].peer->name, xz_rpc_status_name(err.status),
			    err.msg);
	return 0;
fail:
	rq_blame_deadline(&dj->q[0], d);
	keep = *d;
	fail_all(dj, d->msg);
	*d = keep;
	return -1;
}

int
xz_requester_delegated_join(const struct xz_delegated_opts *o,
    struct xz_delegated_outcome *out, struct xz_diag *d)
{
	struct djoin *dj = calloc(1, sizeof(*dj));
	struct timespec t0, t1;
	int rc;

	memset(out, 0, sizeof(*out));
	if (dj == NULL)
		return xz_diag_set(d, "out of memory");
	dj->o = o;
	dj->out = out;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	rc = run(dj, d);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	out->seconds = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	xz_psi_coordinator_free(dj->c);
	/* The borrowed store goes last: owner 0's qjoin owns it. */
	rq_release(&dj->q[1]);
	rq_release(&dj->q[0]);
	sodium_memzero(dj, sizeof(*dj));
	free(dj);
	return rc;
}
