/*
 * One Join stream, either side: blocking send and receive over gRPC core
 * batches on the stream's own pluck queue (docs/transport.md, "Threading").
 *
 * Every wait is bounded: by the operation's timeout and by the call's
 * deadline.  When a wait times out the call is cancelled and the batch is
 * still waited for, because gRPC owns the batch's buffers until its tag
 * comes back; so nothing outlives the function that started it.  Once a
 * call has failed, the stream remembers why and every later operation
 * returns the same error without touching gRPC.
 */
#include "rpc.h"
#include "rpc_internal.h"

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/support/time.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum xz_rpc_status xz_rpc_fail(struct xz_rpc_error *err, enum xz_rpc_status st,
                               const char *fmt, ...)
{
	if (err != NULL) {
		va_list ap;
		va_start(ap, fmt);
		err->status = st;
		vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
		va_end(ap);
	}
	return st;
}

const char *xz_rpc_status_name(enum xz_rpc_status st)
{
	switch (st) {
	case XZ_RPC_OK: return "ok";
	case XZ_RPC_EOF: return "end of stream";
	case XZ_RPC_CANCELLED: return "cancelled";
	case XZ_RPC_INVALID: return "invalid message";
	case XZ_RPC_DEADLINE: return "deadline exceeded";
	case XZ_RPC_UNAUTHENTICATED: return "unauthenticated";
	case XZ_RPC_DENIED: return "permission denied";
	case XZ_RPC_TOO_LARGE: return "message too large";
	case XZ_RPC_UNAVAILABLE: return "unavailable";
	case XZ_RPC_ABORTED: return "aborted";
	case XZ_RPC_INTERNAL: return "internal error";
	case XZ_RPC_UNIMPLEMENTED: return "unimplemented";
	case XZ_RPC_CONFIG: return "configuration error";
	}
	return "unknown";
}

enum xz_rpc_status xz_status_from_grpc(grpc_status_code c)
{
	switch (c) {
	case GRPC_STATUS_OK: return XZ_RPC_OK;
	case GRPC_STATUS_CANCELLED: return XZ_RPC_CANCELLED;
	case GRPC_STATUS_INVALID_ARGUMENT: return XZ_RPC_INVALID;
	case GRPC_STATUS_DEADLINE_EXCEEDED: return XZ_RPC_DEADLINE;
	case GRPC_STATUS_UNAUTHENTICATED: return XZ_RPC_UNAUTHENTICATED;
	case GRPC_STATUS_PERMISSION_DENIED: return XZ_RPC_DENIED;
	case GRPC_STATUS_RESOURCE_EXHAUSTED: return XZ_RPC_TOO_LARGE;
	case GRPC_STATUS_UNAVAILABLE: return XZ_RPC_UNAVAILABLE;
	case GRPC_STATUS_ABORTED: return XZ_RPC_ABORTED;
	case GRPC_STATUS_UNIMPLEMENTED: return XZ_RPC_UNIMPLEMENTED;
	default: return XZ_RPC_INTERNAL;
	}
}

grpc_status_code xz_status_to_grpc(enum xz_rpc_status st)
{
	switch (st) {
	case XZ_RPC_OK: case XZ_RPC_EOF: return GRPC_STATUS_OK;
	case XZ_RPC_CANCELLED: return GRPC_STATUS_CANCELLED;
	case XZ_RPC_INVALID: return GRPC_STATUS_INVALID_ARGUMENT;
	case XZ_RPC_DEADLINE: return GRPC_STATUS_DEADLINE_EXCEEDED;
	case XZ_RPC_UNAUTHENTICATED: return GRPC_STATUS_UNAUTHENTICATED;
	case XZ_RPC_DENIED: return GRPC_STATUS_PERMISSION_DENIED;
	case XZ_RPC_TOO_LARGE: return GRPC_STATUS_RESOURCE_EXHAUSTED;
	case XZ_RPC_UNAVAILABLE: return GRPC_STATUS_UNAVAILABLE;
	case XZ_RPC_ABORTED: return GRPC_STATUS_ABORTED;
	case XZ_RPC_UNIMPLEMENTED: return GRPC_STATUS_UNIMPLEMENTED;
	case XZ_RPC_INTERNAL: case XZ_RPC_CONFIG: return GRPC_STATUS_INTERNAL;
	}
	return GRPC_STATUS_INTERNAL;
}

gpr_timespec xz_op_deadline(const struct xz_rpc_stream *s, int64_t timeout_ms)
{
	if (timeout_ms <= 0)
		return s->deadline;
	return gpr_time_min(xz_deadline_ms(timeout_ms), s->deadline);
}

gpr_timespec xz_deadline_ms(int64_t ms)
{
	if (ms <= 0)
		return gpr_inf_future(GPR_CLOCK_MONOTONIC);
	return gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
	                    gpr_time_from_millis(ms, GPR_TIMESPAN));
}

void xz_stream_init(struct xz_rpc_stream *s, grpc_call *call, grpc_completion_queue *cq,
                    int is_server, gpr_timespec deadline)
{
	memset(s, 0, sizeof(*s));
	s->call = call;
	s->cq = cq;
	s->is_server = is_server;
	s->deadline = gpr_convert_clock_type(deadline, GPR_CLOCK_MONOTONIC);
	s->details = grpc_empty_slice();
	grpc_metadata_array_init(&s->md_initial);
	grpc_metadata_array_init(&s->md_trailing);
}

void xz_stream_destroy(struct xz_rpc_stream *s)
{
	if (s->call != NULL)
		grpc_call_unref(s->call);
	s->call = NULL;
	grpc_metadata_array_destroy(&s->md_initial);
	grpc_metadata_array_destroy(&s->md_trailing);
	grpc_slice_unref(s->details);
	s->details = grpc_empty_slice();
	if (s->cq != NULL) {
		/* Every tag has been plucked, so the queue is empty. */
		grpc_completion_queue_shutdown(s->cq);
		grpc_completion_queue_destroy(s->cq);
		s->cq = NULL;
	}
}

int xz_stream_batch(struct xz_rpc_stream *s, const grpc_op *ops, size_t n, void *tag,
                    gpr_timespec deadline)
{
	if (grpc_call_start_batch(s->call, ops, n, tag, NULL) != GRPC_CALL_OK)
		return -1;
	grpc_event ev = grpc_completion_queue_pluck(s->cq, tag, deadline, NULL);
	if (ev.type == GRPC_OP_COMPLETE)
		return ev.success ? 1 : 0;
	/* Timed out: cancelling makes gRPC complete the batch promptly. */
	grpc_call_cancel_with_status(s->call, GRPC_STATUS_DEADLINE_EXCEEDED,
	                             "xiezhi: operation timed out", NULL);
	ev = grpc_completion_queue_pluck(s->cq, tag, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL);
	return -2;
}

grpc_byte_buffer *xz_bb_from(const uint8_t *buf, size_t len)
{
	grpc_slice sl = grpc_slice_from_copied_buffer((const char *)buf, len);
	grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&sl, 1);
	grpc_slice_unref(sl);
	return bb;
}

enum xz_rpc_status xz_bb_read(grpc_byte_buffer *bb, uint8_t **out, size_t *len,
                              struct xz_rpc_error *err)
{
	grpc_byte_buffer_reader rd;
	grpc_slice sl;
	size_t total = grpc_byte_buffer_length(bb), off = 0;
	uint8_t *buf = NULL;
	enum xz_rpc_status st = XZ_RPC_OK;

	*out = NULL;
	*len = 0;
	/* gRPC enforces the same cap; this keeps the promise local. */
	if (total > XZ_RPC_MAX_MESSAGE)
		return xz_rpc_fail(err, XZ_RPC_TOO_LARGE, "received %zu bytes, cap is %u", total,
		                   XZ_RPC_MAX_MESSAGE);
	if (!grpc_byte_buffer_reader_init(&rd, bb))
		return xz_rpc_fail(err, XZ_RPC_INVALID, "received message could not be decoded");
	buf = malloc(total ? total : 1);
	if (buf == NULL) {
		st = xz_rpc_fail(err, XZ_RPC_INTERNAL, "out of memory receiving %zu bytes", total);
		goto done;
	}
	while (grpc_byte_buffer_reader_next(&rd, &sl)) {
		size_t n = GRPC_SLICE_LENGTH(sl);
		if (st == XZ_RPC_OK && n <= total - off) {
			memcpy(buf + off, GRPC_SLICE_START_PTR(sl), n);
			off += n;
		} else {
			st = xz_rpc_fail(err, XZ_RPC_INVALID, "received message longer than announced");
		}
		grpc_slice_unref(sl);
	}
	if (st == XZ_RPC_OK && off != total)
		st = xz_rpc_fail(err, XZ_RPC_INVALID, "received message shorter than announced");
	if (st == XZ_RPC_OK) {
		*out = buf;
		*len = total;
		buf = NULL;
	}
done:
	grpc_byte_buffer_reader_destroy(&rd);
	free(buf);
	return st;
}

/* Records the first failure; later operations return it unchanged. */
static enum xz_rpc_status mark_dead(struct xz_rpc_stream *s, const struct xz_rpc_error *why,
                                    struct xz_rpc_error *err)
{
	if (s->dead.status == XZ_RPC_OK)
		s->dead = *why;
	if (err != NULL)
		*err = s->dead;
	return s->dead.status;
}

/* Copies hostile status text, keeping printable ASCII only. */
static void clean_copy(char *dst, size_t cap, grpc_slice sl)
{
	size_t n = GRPC_SLICE_LENGTH(sl), j = 0;
	const uint8_t *p = GRPC_SLICE_START_PTR(sl);
	for (size_t i = 0; i < n && j + 1 < cap; i++)
		dst[j++] = (p[i] >= 0x20 && p[i] < 0x7f) ? (char)p[i] : '?';
	dst[j] = '\0';
}

enum xz_rpc_status xz_stream_client_status(struct xz_rpc_stream *s, struct xz_rpc_error *err)
{
	grpc_op ops[2];
	size_t n = 0;
	struct xz_rpc_error why = {XZ_RPC_OK, ""};

	if (!s->finished) {
		memset(ops, 0, sizeof(ops));
		if (!s->half_closed) {
			ops[n++].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
			s->half_closed = 1;
		}
		ops[n].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
		ops[n].data.recv_status_on_client.trailing_metadata = &s->md_trailing;
		ops[n].data.recv_status_on_client.status = &s->status;
		ops[n].data.recv_status_on_client.status_details = &s->details;
		n++;
		/* The call has a deadline, so the status always arrives. */
		if (xz_stream_batch(s, ops, n, &s->tag_status,
		                    gpr_inf_future(GPR_CLOCK_MONOTONIC)) != 1) {
			s->finished = 1;
			s->status = GRPC_STATUS_INTERNAL;
			xz_rpc_fail(&why, XZ_RPC_INTERNAL, "call to %s: no final status", s->expected_peer);
			return mark_dead(s, &why, err);
		}
		s->finished = 1;
	}
	if (s->status == GRPC_STATUS_OK)
		return XZ_RPC_OK;
	char text[400];
	clean_copy(text, sizeof(text), s->details);
	why.status = xz_status_from_grpc(s->status);
	snprintf(why.msg, sizeof(why.msg), "call to %s ended: %s (%s)", s->expected_peer,
	         xz_rpc_status_name(why.status), text[0] ? text : "no details");
	return mark_dead(s, &why, err);
}

int xz_stream_server_begin(struct xz_rpc_stream *s)
{
	grpc_op op;
	memset(&op, 0, sizeof(op));
	op.op = GRPC_OP_RECV_CLOSE_ON_SERVER;
	op.data.recv_close_on_server.cancelled = &s->cancelled;
	return grpc_call_start_batch(s->call, &op, 1, &s->tag_close, NULL) == GRPC_CALL_OK ? 0 : -1;
}

/* Server: has the call been cancelled (deadline, client gone)?  Waits for
 * the answer until `until`. */
static int server_cancelled(struct xz_rpc_stream *s, gpr_timespec until)
{
	if (!s->close_seen) {
		grpc_event ev = grpc_completion_queue_pluck(s->cq, &s->tag_close, until, NULL);
		if (ev.type != GRPC_OP_COMPLETE)
			return 0;
		s->close_seen = 1;
	}
	return s->cancelled != 0;
}

/* Server: why a batch failed.  A deadline-cancelled call reports as such. */
static enum xz_rpc_status server_failure(struct xz_rpc_stream *s, const char *what,
                                         struct xz_rpc_error *err)
{
	struct xz_rpc_error why;
	int late = gpr_time_cmp(gpr_now(GPR_CLOCK_MONOTONIC), s->deadline) >= 0;
	(void)server_cancelled(s, xz_deadline_ms(1000));
	xz_rpc_fail(&why, late ? XZ_RPC_DEADLINE : XZ_RPC_CANCELLED,
	            "%s from %s: the call was %s", what, s->peer,
	            late ? "past its deadline" : "cancelled or the client went away");
	return mark_dead(s, &why, err);
}

static enum xz_rpc_status send_bytes(struct xz_rpc_stream *s, const uint8_t *buf, size_t len,
                                     int64_t timeout_ms, struct xz_rpc_error *err)
{
	grpc_op ops[2];
	size_t n = 0;
	struct xz_rpc_error why;

	if (s->dead.status != XZ_RPC_OK)
		return mark_dead(s, &s->dead, err);
	if ((!s->is_server && s->half_closed) || (s->is_server && s->finished))
		return xz_rpc_fail(err, XZ_RPC_INVALID, "send after the stream was closed");
	grpc_byte_buffer *bb = xz_bb_from(buf, len);
	memset(ops, 0, sizeof(ops));
	if (!s->md_sent) {
		ops[n++].op = GRPC_OP_SEND_INITIAL_METADATA;
		s->md_sent = 1;
	}
	ops[n].op = GRPC_OP_SEND_MESSAGE;
	ops[n].data.send_message.send_message = bb;
	n++;
	int rc = xz_stream_batch(s, ops, n, &s->tag_send, xz_op_deadline(s, timeout_ms));
	grpc_byte_buffer_destroy(bb);
	if (rc == 1)
		return XZ_RPC_OK;
	if (rc == -2) {
		xz_rpc_fail(&why, XZ_RPC_DEADLINE, "send to %s timed out; the call was cancelled",
		            s->is_server ? s->peer : s->expected_peer);
		return mark_dead(s, &why, err);
	}
	if (rc == -1) {
		xz_rpc_fail(&why, XZ_RPC_INTERNAL, "gRPC refused to start a send batch");
		return mark_dead(s, &why, err);
	}
	if (s->is_server)
		return server_failure(s, "send", err);
	return xz_stream_client_status(s, err);
}

enum xz_rpc_status xz_rpc_send(struct xz_rpc_stream *s, const struct xz_msg *m,
                               int64_t timeout_ms, struct xz_rpc_error *err)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	enum xz_rpc_status st = xz_msg_encode(m, &buf, &len, err);
	if (st != XZ_RPC_OK)
		return st;
	st = send_bytes(s, buf, len, timeout_ms, err);
	free(buf);
	return st;
}

enum xz_rpc_status xz_rpc_send_raw(struct xz_rpc_stream *s, const uint8_t *buf, size_t len,
                                   int64_t timeout_ms, struct xz_rpc_error *err)
{
	return send_bytes(s, buf, len, timeout_ms, err);
}

/* Client: checks, once, that the server's certificate names the identity
 * we dialled (gRPC already matched it against the SANs during the
 * handshake; this applies our stricter rule, docs/transport.md). */
static enum xz_rpc_status client_check_peer(struct xz_rpc_stream *s, struct xz_rpc_error *err)
{
	struct xz_rpc_error why = {XZ_RPC_OK, ""};
	if (s->peer[0] != '\0')
		return XZ_RPC_OK;
	if (xz_peer_identity(s->call, s->peer, &why) != XZ_RPC_OK ||
	    strcmp(s->peer, s->expected_peer) != 0) {
		if (why.status == XZ_RPC_OK || s->peer[0] != '\0')
			xz_rpc_fail(&why, XZ_RPC_UNAUTHENTICATED,
			            "server certificate names \"%s\", expected \"%s\"", s->peer,
			            s->expected_peer);
		s->peer[0] = '\0';
		grpc_call_cancel_with_status(s->call, GRPC_STATUS_UNAUTHENTICATED,
		                             "xiezhi: unexpected server identity", NULL);
		return mark_dead(s, &why, err);
	}
	return XZ_RPC_OK;
}

/* Ends the stream after a received message was refused: the peer gets the
 * reason as the call's status. */
static enum xz_rpc_status refuse_message(struct xz_rpc_stream *s, const struct xz_rpc_error *why,
                                         struct xz_rpc_error *err)
{
	if (s->is_server) {
		xz_stream_server_finish(s, why->status, why->msg);
	} else {
		grpc_call_cancel_with_status(s->call, xz_status_to_grpc(why->status),
		                             "xiezhi: refused a message from the server", NULL);
	}
	struct xz_rpc_error full;
	xz_rpc_fail(&full, why->status, "message from %s refused: %s",
	            s->is_server ? s->peer : s->expected_peer, why->msg);
	return mark_dead(s, &full, err);
}

static enum xz_rpc_status recv_end(struct xz_rpc_stream *s, int rc, struct xz_rpc_error *err)
{
	struct xz_rpc_error why;
	if (rc == -2) {
		xz_rpc_fail(&why, XZ_RPC_DEADLINE, "receive from %s timed out; the call was cancelled",
		            s->is_server ? s->peer : s->expected_peer);
		return mark_dead(s, &why, err);
	}
	if (rc == -1) {
		xz_rpc_fail(&why, XZ_RPC_INTERNAL, "gRPC refused to start a receive batch");
		return mark_dead(s, &why, err);
	}
	if (s->is_server) {
		/* A clean half-close and a cancellation both end the read side.
		 * A cancellation also completes the close notification, often a
		 * moment later; a clean half-close never does (that waits for
		 * our status).  So this answer is early but not final: waiting
		 * here would cost every clean join, and xz_rpc_server_close
		 * gives the final one. */
		if (rc == 1 && !server_cancelled(s, gpr_inf_past(GPR_CLOCK_MONOTONIC)))
			return XZ_RPC_EOF;
		return server_failure(s, "receive", err);
	}
	enum xz_rpc_status st = xz_stream_client_status(s, err);
	return st == XZ_RPC_OK ? XZ_RPC_EOF : st;
}

enum xz_rpc_status xz_rpc_recv(struct xz_rpc_stream *s, struct xz_msg *m, int64_t timeout_ms,
                               struct xz_rpc_error *err)
{
	grpc_op ops[3];
	size_t n = 0;
	grpc_byte_buffer *bb = NULL;
	uint8_t *buf = NULL;
	size_t len = 0;
	struct xz_rpc_error why = {XZ_RPC_OK, ""};
	enum xz_rpc_status st;

	memset(m, 0, sizeof(*m));
	if (s->dead.status != XZ_RPC_OK)
		return mark_dead(s, &s->dead, err);
	if (s->finished) /* the call is over: nothing more can arrive */
		return s->is_server ? xz_rpc_fail(err, XZ_RPC_INVALID, "receive after the call was closed")
		                    : XZ_RPC_EOF;
	memset(ops, 0, sizeof(ops));
	if (!s->md_sent) {
		ops[n++].op = GRPC_OP_SEND_INITIAL_METADATA;
		s->md_sent = 1;
	}
	if (!s->is_server && !s->md_received) {
		ops[n].op = GRPC_OP_RECV_INITIAL_METADATA;
		ops[n].data.recv_initial_metadata.recv_initial_metadata = &s->md_initial;
		n++;
		s->md_received = 1;
	}
	ops[n].op = GRPC_OP_RECV_MESSAGE;
	ops[n].data.recv_message.recv_message = &bb;
	n++;
	int rc = xz_stream_batch(s, ops, n, &s->tag_recv, xz_op_deadline(s, timeout_ms));
	if (rc != 1 || bb == NULL) {
		if (bb != NULL)
			grpc_byte_buffer_destroy(bb);
		return recv_end(s, rc, err);
	}
	st = xz_bb_read(bb, &buf, &len, &why);
	grpc_byte_buffer_destroy(bb);
	if (st == XZ_RPC_OK && !s->is_server)
		st = client_check_peer(s, err);
	if (st == XZ_RPC_OK)
		st = xz_msg_decode(buf, len, m, &why);
	free(buf);
	if (st != XZ_RPC_OK && why.status != XZ_RPC_OK)
		return refuse_message(s, &why, err);
	return st;
}

void xz_stream_server_finish(struct xz_rpc_stream *s, enum xz_rpc_status st, const char *msg)
{
	grpc_op ops[2];
	size_t n = 0;

	if (s->finished)
		return;
	s->finished = 1;
	memset(ops, 0, sizeof(ops));
	if (!s->md_sent) {
		ops[n++].op = GRPC_OP_SEND_INITIAL_METADATA;
		s->md_sent = 1;
	}
	grpc_slice details = grpc_slice_from_copied_string(msg ? msg : "");
	ops[n].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
	ops[n].data.send_status_from_server.status = xz_status_to_grpc(st);
	ops[n].data.send_status_from_server.status_details = &details;
	n++;
	(void)xz_stream_batch(s, ops, n, &s->tag_send, xz_deadline_ms(5000));
	grpc_slice_unref(details);
}

enum xz_rpc_status xz_rpc_server_close(struct xz_rpc_stream *s, enum xz_rpc_status st,
                                       const char *why, struct xz_rpc_error *err)
{
	if (!s->is_server)
		return xz_rpc_fail(err, XZ_RPC_INVALID, "xz_rpc_server_close is for server streams");
	if (s->finished)
		return xz_rpc_fail(err, XZ_RPC_INVALID, "the call was already closed");
	xz_stream_server_finish(s, st == XZ_RPC_EOF ? XZ_RPC_OK : st,
	                        st == XZ_RPC_OK || st == XZ_RPC_EOF ? "" : why);
	/* The close notification completes once the status is out or the call
	 * died; its flag is gRPC's verdict. */
	(void)server_cancelled(s, gpr_inf_future(GPR_CLOCK_MONOTONIC));
	if (!s->cancelled)
		return XZ_RPC_OK;
	return server_failure(s, "close", err);
}

enum xz_rpc_status xz_rpc_finish(struct xz_rpc_stream *s, struct xz_rpc_error *err)
{
	if (s->is_server)
		return xz_rpc_fail(err, XZ_RPC_INVALID, "xz_rpc_finish is for client streams");
	if (s->dead.status != XZ_RPC_OK)
		return mark_dead(s, &s->dead, err);
	return xz_stream_client_status(s, err);
}

void xz_rpc_cancel(struct xz_rpc_stream *s)
{
	if (s != NULL && s->call != NULL)
		grpc_call_cancel_with_status(s->call, GRPC_STATUS_CANCELLED,
		                             "xiezhi: cancelled by the node", NULL);
}

const char *xz_rpc_peer(const struct xz_rpc_stream *s)
{
	return s->is_server || s->peer[0] ? s->peer : s->expected_peer;
}
