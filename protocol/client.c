/*
 * The Federation client: one gRPC channel per peer, one pluck queue per call
 * (docs/transport.md).  The server's identity is enforced twice: gRPC checks
 * the expected name against the certificate's SANs during the handshake
 * (GRPC_SSL_TARGET_NAME_OVERRIDE_ARG names it, whatever address we dial),
 * and the first message received is only accepted once the certificate's
 * CN is that same name (stream.c).
 */
#include "rpc.h"
#include "rpc_internal.h"

#include <grpc/grpc_security.h>
#include <grpc/support/time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "federation.pb-c.h"

struct xz_rpc_client {
	grpc_channel *channel;
	char identity[XZ_RPC_MAX_IDENTITY + 1];
	char target[256];
};

enum xz_rpc_status xz_rpc_client_new(const struct xz_rpc_client_config *cfg,
                                     struct xz_rpc_client **out, struct xz_rpc_error *err)
{
	struct xz_pem_set pem;
	grpc_arg args[XZ_RPC_COMMON_ARGS + 2];
	struct xz_rpc_client *c = NULL;
	enum xz_rpc_status st;

	*out = NULL;
	if (cfg->target == NULL || strlen(cfg->target) >= sizeof(c->target) ||
	    cfg->server_identity == NULL ||
	    !xz_identity_valid(cfg->server_identity, strlen(cfg->server_identity)))
		return xz_rpc_fail(err, XZ_RPC_CONFIG,
		                   "client config needs a target address (under 256 bytes) and the "
		                   "server's identity (letters, digits, '.', '-', '_')");
	st = xz_pem_load(&cfg->tls, &pem, err);
	if (st != XZ_RPC_OK)
		return st;
	c = calloc(1, sizeof(*c));
	if (c == NULL) {
		xz_pem_free(&pem);
		return xz_rpc_fail(err, XZ_RPC_INTERNAL, "out of memory");
	}
	grpc_init();
	snprintf(c->identity, sizeof(c->identity), "%s", cfg->server_identity);
	snprintf(c->target, sizeof(c->target), "%s", cfg->target);
	grpc_ssl_pem_key_cert_pair pair = {pem.key, pem.cert};
	grpc_channel_credentials *creds = grpc_ssl_credentials_create_ex(pem.ca, &pair, NULL, NULL);
	xz_pem_free(&pem); /* gRPC keeps its own copies */
	if (creds == NULL) {
		xz_rpc_client_free(c);
		return xz_rpc_fail(err, XZ_RPC_CONFIG, "gRPC refused the client credentials (%s, %s)",
		                   cfg->tls.cert_file, cfg->tls.key_file);
	}
	xz_common_args(args);
	args[XZ_RPC_COMMON_ARGS].type = GRPC_ARG_STRING;
	args[XZ_RPC_COMMON_ARGS].key = (char *)(uintptr_t)GRPC_SSL_TARGET_NAME_OVERRIDE_ARG;
	args[XZ_RPC_COMMON_ARGS].value.string = c->identity;
	/* A retried stream would replay buffered messages; a join is never
	 * retried behind the caller's back. */
	args[XZ_RPC_COMMON_ARGS + 1].type = GRPC_ARG_INTEGER;
	args[XZ_RPC_COMMON_ARGS + 1].key = (char *)(uintptr_t)GRPC_ARG_ENABLE_RETRIES;
	args[XZ_RPC_COMMON_ARGS + 1].value.integer = 0;
	grpc_channel_args ca = {XZ_RPC_COMMON_ARGS + 2, args};
	c->channel = grpc_channel_create(c->target, creds, &ca);
	grpc_channel_credentials_release(creds);
	if (c->channel == NULL) {
		xz_rpc_client_free(c);
		return xz_rpc_fail(err, XZ_RPC_CONFIG, "cannot create a channel to %s", cfg->target);
	}
	*out = c;
	return XZ_RPC_OK;
}

void xz_rpc_client_free(struct xz_rpc_client *c)
{
	if (c == NULL)
		return;
	if (c->channel != NULL)
		grpc_channel_destroy(c->channel);
	free(c);
	grpc_shutdown();
}

static enum xz_rpc_status open_call(struct xz_rpc_client *c, const char *method,
                                    int64_t deadline_ms, struct xz_rpc_stream **out,
                                    struct xz_rpc_error *err)
{
	*out = NULL;
	if (deadline_ms <= 0)
		return xz_rpc_fail(err, XZ_RPC_INVALID, "every call needs a deadline (got %lld ms)",
		                   (long long)deadline_ms);
	struct xz_rpc_stream *s = calloc(1, sizeof(*s));
	if (s == NULL)
		return xz_rpc_fail(err, XZ_RPC_INTERNAL, "out of memory");
	gpr_timespec deadline = xz_deadline_ms(deadline_ms);
	grpc_completion_queue *cq = grpc_completion_queue_create_for_pluck(NULL);
	grpc_slice m = grpc_slice_from_static_string(method);
	grpc_call *call = grpc_channel_create_call(c->channel, NULL, GRPC_PROPAGATE_DEFAULTS, cq, m,
	                                           NULL, deadline, NULL);
	if (call == NULL) {
		grpc_completion_queue_shutdown(cq);
		grpc_completion_queue_destroy(cq);
		free(s);
		return xz_rpc_fail(err, XZ_RPC_INTERNAL, "gRPC refused to create a call to %s",
		                   c->target);
	}
	xz_stream_init(s, call, cq, 0, deadline);
	s->expected_peer = c->identity;
	*out = s;
	return XZ_RPC_OK;
}

enum xz_rpc_status xz_rpc_join(struct xz_rpc_client *c, int64_t deadline_ms,
                               struct xz_rpc_stream **out, struct xz_rpc_error *err)
{
	return open_call(c, XZ_RPC_JOIN_METHOD, deadline_ms, out, err);
}

void xz_rpc_stream_free(struct xz_rpc_stream *s)
{
	if (s == NULL || s->is_server)
		return;
	if (!s->finished) {
		grpc_call_cancel_with_status(s->call, GRPC_STATUS_CANCELLED,
		                             "xiezhi: stream abandoned", NULL);
		(void)xz_stream_client_status(s, NULL);
	}
	xz_stream_destroy(s);
	free(s);
}

static enum xz_rpc_status health_reply(struct xz_rpc_stream *s, grpc_byte_buffer *bb,
                                       char identity[XZ_RPC_MAX_IDENTITY + 1], uint32_t *version,
                                       struct xz_rpc_error *err)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	enum xz_rpc_status st = xz_bb_read(bb, &buf, &len, err);
	if (st != XZ_RPC_OK)
		return st;
	Xiezhi__V1__HealthReply *r = NULL;
	if (len <= XZ_RPC_MAX_IDENTITY + 32)
		r = xiezhi__v1__health_reply__unpack(NULL, len, buf);
	free(buf);
	if (r == NULL || r->base.n_unknown_fields != 0 ||
	    !xz_identity_valid(r->node, strlen(r->node))) {
		st = xz_rpc_fail(err, XZ_RPC_INVALID, "Health reply from %s is malformed",
		                 s->expected_peer);
	} else {
		snprintf(identity, XZ_RPC_MAX_IDENTITY + 1, "%s", r->node);
		*version = r->version;
	}
	if (r != NULL)
		xiezhi__v1__health_reply__free_unpacked(r, NULL);
	return st;
}

enum xz_rpc_status xz_rpc_health(struct xz_rpc_client *c, int64_t deadline_ms,
                                 char identity[XZ_RPC_MAX_IDENTITY + 1], uint32_t *version,
                                 struct xz_rpc_error *err)
{
	struct xz_rpc_stream *s = NULL;
	grpc_byte_buffer *req = NULL, *resp = NULL;
	grpc_op ops[5];
	enum xz_rpc_status st;

	identity[0] = '\0';
	*version = 0;
	st = open_call(c, XZ_RPC_HEALTH_METHOD, deadline_ms, &s, err);
	if (st != XZ_RPC_OK)
		return st;
	req = xz_bb_from((const uint8_t *)"", 0);
	memset(ops, 0, sizeof(ops));
	ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
	ops[1].op = GRPC_OP_SEND_MESSAGE;
	ops[1].data.send_message.send_message = req;
	ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
	ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
	ops[3].data.recv_initial_metadata.recv_initial_metadata = &s->md_initial;
	ops[4].op = GRPC_OP_RECV_MESSAGE;
	ops[4].data.recv_message.recv_message = &resp;
	s->md_sent = s->md_received = s->half_closed = 1;
	int rc = xz_stream_batch(s, ops, 5, &s->tag_send, gpr_inf_future(GPR_CLOCK_MONOTONIC));
	grpc_byte_buffer_destroy(req);
	/* The final status says why when there is no reply. */
	st = xz_stream_client_status(s, err);
	if (st == XZ_RPC_OK && (rc != 1 || resp == NULL))
		st = xz_rpc_fail(err, XZ_RPC_INVALID, "Health: %s sent no reply", c->identity);
	if (st == XZ_RPC_OK) {
		char peer[XZ_RPC_MAX_IDENTITY + 1];
		st = xz_peer_identity(s->call, peer, err);
		if (st == XZ_RPC_OK && strcmp(peer, c->identity) != 0)
			st = xz_rpc_fail(err, XZ_RPC_UNAUTHENTICATED,
			                 "server certificate names \"%s\", expected \"%s\"", peer,
			                 c->identity);
	}
	if (st == XZ_RPC_OK)
		st = health_reply(s, resp, identity, version, err);
	if (resp != NULL)
		grpc_byte_buffer_destroy(resp);
	xz_rpc_stream_free(s);
	return st;
}
