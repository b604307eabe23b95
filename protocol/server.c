/*
 * The Federation server (docs/transport.md, "Threading").
 *
 * One acceptor thread owns the server's completion queue: it keeps exactly
 * one grpc_server_request_call outstanding, and when a call arrives hands it
 * to a new handler thread together with the call's own pluck queue (created
 * with the request, as gRPC binds a call to a queue at that point).  The
 * handler thread runs the whole call with blocking operations and frees
 * everything of it; finished threads are joined by the acceptor or by stop.
 *
 * Stop follows the order gRPC core requires: shutdown_and_notify, wait for
 * the notification (cancelling all calls when the grace period ends), join
 * every handler thread, grpc_server_destroy, shut the queue down and drain
 * it to GRPC_QUEUE_SHUTDOWN, destroy it, grpc_shutdown.
 */
#include "rpc.h"
#include "rpc_internal.h"

#include <grpc/grpc_security.h>
#include <grpc/support/time.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "federation.pb-c.h"

/* A server never lets a call run longer than this, whatever the client's
 * deadline says. */
#define XZ_RPC_SERVER_MAX_CALL_MS (60LL * 60 * 1000)

struct call_slot {
	struct xz_rpc_server *srv;
	grpc_completion_queue *cq;
	grpc_call *call;
	grpc_call_details details;
	grpc_metadata_array md;
	pthread_t thread;
	int done;
	struct call_slot *next;
};

struct xz_rpc_server {
	grpc_server *server;
	grpc_completion_queue *cq;
	pthread_t acceptor;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct call_slot *workers; /* running or finished, not yet joined */
	unsigned active;
	unsigned max_calls;
	int stopping;
	int requested;             /* a grpc_server_request_call is outstanding */
	int shutdown_seen;
	char shutdown_tag;
	xz_rpc_join_handler handler;
	void *handler_arg;
	char identity[XZ_RPC_MAX_IDENTITY + 1];
};

static struct call_slot *slot_new(struct xz_rpc_server *srv)
{
	struct call_slot *sl = calloc(1, sizeof(*sl));
	if (sl == NULL)
		return NULL;
	sl->srv = srv;
	sl->cq = grpc_completion_queue_create_for_pluck(NULL);
	grpc_call_details_init(&sl->details);
	grpc_metadata_array_init(&sl->md);
	return sl;
}

/* Frees a slot whose call (if any) is already owned by a finished stream. */
static void slot_free(struct call_slot *sl)
{
	if (sl == NULL)
		return;
	grpc_call_details_destroy(&sl->details);
	grpc_metadata_array_destroy(&sl->md);
	if (sl->cq != NULL) {
		grpc_completion_queue_shutdown(sl->cq);
		grpc_completion_queue_destroy(sl->cq);
	}
	free(sl);
}

/* Keeps one request outstanding; returns 0 when it is. */
static int request_next(struct xz_rpc_server *srv)
{
	struct call_slot *sl = slot_new(srv);
	if (sl == NULL)
		return -1;
	if (grpc_server_request_call(srv->server, &sl->call, &sl->details, &sl->md, sl->cq, srv->cq,
	                             sl) != GRPC_CALL_OK) {
		slot_free(sl);
		return -1;
	}
	srv->requested = 1;
	return 0;
}

static enum xz_rpc_status run_health(struct xz_rpc_stream *s, struct xz_rpc_server *srv,
                                     struct xz_rpc_error *why)
{
	grpc_op op;
	grpc_byte_buffer *bb = NULL;
	uint8_t out[XZ_RPC_MAX_IDENTITY + 32];
	Xiezhi__V1__HealthReply reply = XIEZHI__V1__HEALTH_REPLY__INIT;

	memset(&op, 0, sizeof(op));
	op.op = GRPC_OP_RECV_MESSAGE;
	op.data.recv_message.recv_message = &bb;
	if (xz_stream_batch(s, &op, 1, &s->tag_recv, xz_op_deadline(s, 5000)) != 1 || bb == NULL) {
		if (bb != NULL)
			grpc_byte_buffer_destroy(bb);
		return xz_rpc_fail(why, XZ_RPC_INVALID, "Health: no request message");
	}
	/* HealthRequest has no fields: its only valid encoding is empty. */
	size_t n = grpc_byte_buffer_length(bb);
	grpc_byte_buffer_destroy(bb);
	if (n != 0)
		return xz_rpc_fail(why, XZ_RPC_INVALID, "Health: request must be empty");
	reply.version = XZ_RPC_WIRE_VERSION;
	reply.node = srv->identity;
	size_t len = xiezhi__v1__health_reply__pack(&reply, out);
	bb = xz_bb_from(out, len);
	grpc_op ops[2];
	memset(ops, 0, sizeof(ops));
	ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
	ops[1].op = GRPC_OP_SEND_MESSAGE;
	ops[1].data.send_message.send_message = bb;
	s->md_sent = 1;
	int rc = xz_stream_batch(s, ops, 2, &s->tag_send, xz_op_deadline(s, 5000));
	grpc_byte_buffer_destroy(bb);
	return rc == 1 ? XZ_RPC_OK : xz_rpc_fail(why, XZ_RPC_CANCELLED, "Health: reply not sent");
}

/* Runs one call to the end on the current thread. */
static void run_call(struct call_slot *sl)
{
	struct xz_rpc_server *srv = sl->srv;
	struct xz_rpc_stream s;
	struct xz_rpc_error why = {XZ_RPC_OK, ""};
	enum xz_rpc_status st;
	gpr_timespec cap = xz_deadline_ms(XZ_RPC_SERVER_MAX_CALL_MS);

	xz_stream_init(&s, sl->call, sl->cq, 1,
	               gpr_time_min(gpr_convert_clock_type(sl->details.deadline, GPR_CLOCK_MONOTONIC),
	                            cap));
	sl->call = NULL; /* the stream owns the call and the queue now */
	sl->cq = NULL;
	if (xz_stream_server_begin(&s) != 0) {
		grpc_call_cancel(s.call, NULL);
		xz_stream_destroy(&s);
		return;
	}
	/* The TLS layer verified the chain; this applies our identity rule
	 * (CN a node name, and among the SANs). */
	st = xz_peer_identity(s.call, s.peer, &why);
	if (st != XZ_RPC_OK) {
		/* refused with why */
	} else if (grpc_slice_str_cmp(sl->details.method, XZ_RPC_JOIN_METHOD) == 0) {
		st = srv->handler(&s, s.peer, srv->handler_arg, &why);
		if (st != XZ_RPC_OK && why.msg[0] == '\0')
			xz_rpc_fail(&why, st, "%s", xz_rpc_status_name(st));
	} else if (grpc_slice_str_cmp(sl->details.method, XZ_RPC_HEALTH_METHOD) == 0) {
		st = run_health(&s, srv, &why);
	} else {
		st = xz_rpc_fail(&why, XZ_RPC_UNIMPLEMENTED, "no such method");
	}
	/* No-op when the handler already closed the call. */
	xz_stream_server_finish(&s, st == XZ_RPC_EOF ? XZ_RPC_OK : st,
	                        st == XZ_RPC_OK || st == XZ_RPC_EOF ? "" : why.msg);
	/* RECV_CLOSE_ON_SERVER completes once the status is out or the call
	 * is cancelled; both have happened by now. */
	if (!s.close_seen)
		(void)grpc_completion_queue_pluck(s.cq, &s.tag_close,
		                                  gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL);
	xz_stream_destroy(&s);
}

static void *worker_main(void *arg)
{
	struct call_slot *sl = arg;
	struct xz_rpc_server *srv = sl->srv;
	run_call(sl);
	pthread_mutex_lock(&srv->mu);
	sl->done = 1;
	srv->active--;
	pthread_cond_broadcast(&srv->cv);
	pthread_mutex_unlock(&srv->mu);
	return NULL;
}

/* Joins and frees every finished handler thread. */
static void reap(struct xz_rpc_server *srv)
{
	struct call_slot *done = NULL, **pp;
	pthread_mutex_lock(&srv->mu);
	pp = &srv->workers;
	while (*pp != NULL) {
		struct call_slot *sl = *pp;
		if (sl->done) {
			*pp = sl->next;
			sl->next = done;
			done = sl;
		} else {
			pp = &sl->next;
		}
	}
	pthread_mutex_unlock(&srv->mu);
	while (done != NULL) {
		struct call_slot *next = done->next;
		pthread_join(done->thread, NULL);
		slot_free(done);
		done = next;
	}
}

/* Answers a call we cannot take (too many running, no thread) on the
 * acceptor thread, with a bounded wait. */
static void refuse_call(struct call_slot *sl, const char *why)
{
	struct xz_rpc_stream s;
	xz_stream_init(&s, sl->call, sl->cq, 1, xz_deadline_ms(2000));
	sl->call = NULL;
	sl->cq = NULL;
	if (xz_stream_server_begin(&s) == 0) {
		xz_stream_server_finish(&s, XZ_RPC_UNAVAILABLE, why);
		(void)grpc_completion_queue_pluck(s.cq, &s.tag_close,
		                                  gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL);
	} else {
		grpc_call_cancel(s.call, NULL);
	}
	xz_stream_destroy(&s);
	slot_free(sl);
}

static void dispatch(struct xz_rpc_server *srv, struct call_slot *sl)
{
	pthread_mutex_lock(&srv->mu);
	int busy = srv->active >= srv->max_calls;
	if (!busy) {
		srv->active++;
		sl->next = srv->workers;
		srv->workers = sl;
	}
	pthread_mutex_unlock(&srv->mu);
	if (busy) {
		refuse_call(sl, "xiezhi: server busy, retry later");
		return;
	}
	if (pthread_create(&sl->thread, NULL, worker_main, sl) == 0) {
		/* Named so operators (and the leak test) can tell them apart. */
		(void)pthread_setname_np(sl->thread, "xz-call");
	} else {
		pthread_mutex_lock(&srv->mu);
		srv->workers = sl->next;
		srv->active--;
		pthread_mutex_unlock(&srv->mu);
		refuse_call(sl, "xiezhi: server out of threads, retry later");
	}
}

static void *acceptor_main(void *arg)
{
	struct xz_rpc_server *srv = arg;
	for (;;) {
		grpc_event ev = grpc_completion_queue_next(srv->cq, xz_deadline_ms(250), NULL);
		reap(srv);
		pthread_mutex_lock(&srv->mu);
		int stopping = srv->stopping;
		pthread_mutex_unlock(&srv->mu);
		/* Only this thread requests calls after start; a request that
		 * failed (out of memory) is retried on the next wake-up. */
		if (!stopping && !srv->requested)
			(void)request_next(srv);
		if (ev.type == GRPC_QUEUE_TIMEOUT)
			continue;
		if (ev.type == GRPC_QUEUE_SHUTDOWN)
			break;
		if (ev.tag == &srv->shutdown_tag) {
			pthread_mutex_lock(&srv->mu);
			srv->shutdown_seen = 1;
			pthread_cond_broadcast(&srv->cv);
			pthread_mutex_unlock(&srv->mu);
			continue;
		}
		struct call_slot *sl = ev.tag;
		srv->requested = 0;
		if (!ev.success) { /* the server is shutting down */
			slot_free(sl);
			continue;
		}
		/* Ask for the next call first, so a slow thread start does not
		 * delay accepting. */
		if (!stopping)
			(void)request_next(srv);
		dispatch(srv, sl);
	}
	return NULL;
}

static enum xz_rpc_status make_server(struct xz_rpc_server *srv,
                                      const struct xz_rpc_server_config *cfg, int *port,
                                      struct xz_rpc_error *err)
{
	struct xz_pem_set pem;
	grpc_arg args[XZ_RPC_COMMON_ARGS];
	enum xz_rpc_status st = xz_pem_load(&cfg->tls, &pem, err);
	if (st != XZ_RPC_OK)
		return st;
	grpc_ssl_pem_key_cert_pair pair = {pem.key, pem.cert};
	/* Mutual TLS, always: no certificate from the federation CA, no call. */
	grpc_server_credentials *creds = grpc_ssl_server_credentials_create_ex(
	    pem.ca, &pair, 1, GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY, NULL);
	xz_pem_free(&pem); /* gRPC keeps its own copies */
	if (creds == NULL)
		return xz_rpc_fail(err, XZ_RPC_CONFIG,
		                   "gRPC refused the server credentials (%s, %s, %s)",
		                   cfg->tls.ca_file, cfg->tls.cert_file, cfg->tls.key_file);
	xz_common_args(args);
	grpc_channel_args ca = {XZ_RPC_COMMON_ARGS, args};
	srv->server = grpc_server_create(&ca, NULL);
	grpc_server_register_completion_queue(srv->server, srv->cq, NULL);
	int bound = grpc_server_add_http2_port(srv->server, cfg->listen, creds);
	grpc_server_credentials_release(creds);
	if (bound <= 0)
		return xz_rpc_fail(err, XZ_RPC_CONFIG,
		                   "cannot listen on %s (address in use, bad address, or the "
		                   "certificate and key do not match)", cfg->listen);
	if (port != NULL)
		*port = bound;
	return XZ_RPC_OK;
}

static void server_free(struct xz_rpc_server *srv)
{
	if (srv->server != NULL)
		grpc_server_destroy(srv->server);
	grpc_completion_queue_shutdown(srv->cq);
	for (;;) {
		grpc_event ev = grpc_completion_queue_next(srv->cq,
		                                           gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL);
		if (ev.type == GRPC_QUEUE_SHUTDOWN)
			break;
	}
	grpc_completion_queue_destroy(srv->cq);
	pthread_cond_destroy(&srv->cv);
	pthread_mutex_destroy(&srv->mu);
	free(srv);
	grpc_shutdown();
}

enum xz_rpc_status xz_rpc_server_start(const struct xz_rpc_server_config *cfg,
                                       struct xz_rpc_server **out, int *port,
                                       struct xz_rpc_error *err)
{
	struct xz_rpc_server *srv = NULL;
	pthread_condattr_t ca;
	enum xz_rpc_status st;

	*out = NULL;
	if (cfg->handler == NULL || cfg->listen == NULL || cfg->identity == NULL ||
	    !xz_identity_valid(cfg->identity, strlen(cfg->identity)))
		return xz_rpc_fail(err, XZ_RPC_CONFIG,
		                   "server config needs a listen address, a handler and a valid "
		                   "node identity");
	srv = calloc(1, sizeof(*srv));
	if (srv == NULL)
		return xz_rpc_fail(err, XZ_RPC_INTERNAL, "out of memory");
	grpc_init();
	pthread_mutex_init(&srv->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&srv->cv, &ca);
	pthread_condattr_destroy(&ca);
	srv->cq = grpc_completion_queue_create_for_next(NULL);
	srv->max_calls = cfg->max_calls ? cfg->max_calls : 16;
	srv->handler = cfg->handler;
	srv->handler_arg = cfg->handler_arg;
	snprintf(srv->identity, sizeof(srv->identity), "%s", cfg->identity);
	st = make_server(srv, cfg, port, err);
	if (st != XZ_RPC_OK)
		goto fail;
	grpc_server_start(srv->server);
	if (request_next(srv) != 0) {
		st = xz_rpc_fail(err, XZ_RPC_INTERNAL, "gRPC refused to accept calls");
		goto fail_started;
	}
	if (pthread_create(&srv->acceptor, NULL, acceptor_main, srv) != 0) {
		st = xz_rpc_fail(err, XZ_RPC_INTERNAL, "cannot start the acceptor thread");
		goto fail_started;
	}
	(void)pthread_setname_np(srv->acceptor, "xz-accept");
	*out = srv;
	return XZ_RPC_OK;
fail_started:
	/* Not serving yet: shut down and collect everything on this thread. */
	grpc_server_shutdown_and_notify(srv->server, srv->cq, &srv->shutdown_tag);
	grpc_server_cancel_all_calls(srv->server);
	for (;;) {
		grpc_event ev = grpc_completion_queue_next(srv->cq,
		                                           gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL);
		if (ev.tag == &srv->shutdown_tag)
			break;
		if (ev.type == GRPC_OP_COMPLETE)
			slot_free(ev.tag);
	}
fail:
	server_free(srv);
	return st;
}

/* Waits on the server's condition variable until `until` (monotonic). */
static void wait_until(struct xz_rpc_server *srv, const struct timespec *until)
{
	if (until == NULL)
		pthread_cond_wait(&srv->cv, &srv->mu);
	else
		pthread_cond_timedwait(&srv->cv, &srv->mu, until);
}

void xz_rpc_server_stop(struct xz_rpc_server *srv, int grace_ms)
{
	struct timespec until;
	if (srv == NULL)
		return;
	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += grace_ms / 1000;
	until.tv_nsec += (long)(grace_ms % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&srv->mu);
	srv->stopping = 1;
	pthread_mutex_unlock(&srv->mu);
	grpc_server_shutdown_and_notify(srv->server, srv->cq, &srv->shutdown_tag);

	/* Running calls may finish within the grace period... */
	pthread_mutex_lock(&srv->mu);
	while (!srv->shutdown_seen) {
		struct timespec now;
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec > until.tv_sec ||
		    (now.tv_sec == until.tv_sec && now.tv_nsec >= until.tv_nsec))
			break;
		wait_until(srv, &until);
	}
	int seen = srv->shutdown_seen;
	pthread_mutex_unlock(&srv->mu);
	/* ...after it, every call still running is cancelled. */
	if (!seen)
		grpc_server_cancel_all_calls(srv->server);
	pthread_mutex_lock(&srv->mu);
	while (!srv->shutdown_seen || srv->active > 0)
		wait_until(srv, NULL);
	pthread_mutex_unlock(&srv->mu);
	reap(srv);

	/* The acceptor leaves its loop when the queue reports shutdown. */
	grpc_server_destroy(srv->server);
	srv->server = NULL;
	grpc_completion_queue_shutdown(srv->cq);
	pthread_join(srv->acceptor, NULL);
	/* A call the acceptor dispatched just before the shutdown notice. */
	pthread_mutex_lock(&srv->mu);
	while (srv->active > 0)
		wait_until(srv, NULL);
	pthread_mutex_unlock(&srv->mu);
	reap(srv);
	grpc_completion_queue_destroy(srv->cq);
	pthread_cond_destroy(&srv->cv);
	pthread_mutex_destroy(&srv->mu);
	free(srv);
	grpc_shutdown();
}
