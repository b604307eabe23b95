/*
 * The transport over real mutual TLS on 127.0.0.1: a server from
 * protocol/rpc.h with a test handler, clients with certificates made at test
 * time by deploy/pki's scripts, and one hand-built gRPC client that ignores
 * our own send caps so the server's limits are what is tested.
 */
#include "testsupport.h"

#include <dirent.h>
#include <grpc/byte_buffer.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/time.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "rpc.h"

#define SERVER_ID "server.node"
#define CLIENT_ID "client.node"

struct fixture {
	char *dir;                 /* temp dir with everything */
	char *ca_dir, *foreign_dir;
	struct xz_rpc_server *srv;
	int port;
	char target[64];
};

/*
 * How each server handler ended, keyed by the dataset its Open named (each
 * test uses its own), so a test waits for its own call's record and not a
 * late one from an earlier test.  Assertions run outside the lock: a failed
 * cmocka assertion long-jumps.
 */
struct end_record {
	char tag[32];
	char peer[XZ_RPC_MAX_IDENTITY + 1];
	enum xz_rpc_status st;
	int used;
};
static pthread_mutex_t seen_mu = PTHREAD_MUTEX_INITIALIZER;
static struct end_record seen[64];

static void pki_env(const char *script, const char *const args[], const char *const env[])
{
	char *path = xzt_path(xzt_source_dir(), script);
	const char *argv[10] = {"/bin/sh", path};
	size_t i = 2;
	for (; args[i - 2] != NULL; i++)
		argv[i] = args[i - 2];
	argv[i] = NULL;
	struct xzt_run r;
	xzt_run(&r, argv, NULL, env);
	if (r.status != 0)
		fail_msg("%s failed (%d): %s", script, r.status, r.err);
	xzt_run_free(&r);
	free(path);
}

static void pki(struct fixture *f, const char *script, const char *const args[])
{
	(void)f;
	pki_env(script, args, NULL);
}

static struct xz_rpc_tls tls_of(const struct fixture *f, const char *dir, const char *ca_dir,
                                const char *id, char bufs[3][512])
{
	snprintf(bufs[0], 512, "%s/ca.pem", ca_dir);
	snprintf(bufs[1], 512, "%s/%s.pem", dir, id);
	snprintf(bufs[2], 512, "%s/%s.key", dir, id);
	(void)f;
	return (struct xz_rpc_tls){bufs[0], bufs[1], bufs[2]};
}

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void record_end(const char *tag, const char *peer, enum xz_rpc_status st)
{
	pthread_mutex_lock(&seen_mu);
	for (size_t i = 0; i < sizeof(seen) / sizeof(seen[0]); i++) {
		if (!seen[i].used) {
			snprintf(seen[i].tag, sizeof(seen[i].tag), "%s", tag);
			snprintf(seen[i].peer, sizeof(seen[i].peer), "%s", peer);
			seen[i].st = st;
			seen[i].used = 1;
			break;
		}
	}
	pthread_mutex_unlock(&seen_mu);
}

/* Takes the record of the call whose Open named `tag`, waiting up to 3 s;
 * returns 0 when there is none. */
static int take_end(const char *tag, struct end_record *out)
{
	for (int tries = 0; tries < 300; tries++) {
		int found = 0;
		pthread_mutex_lock(&seen_mu);
		for (size_t i = 0; i < sizeof(seen) / sizeof(seen[0]) && !found; i++) {
			if (seen[i].used && strcmp(seen[i].tag, tag) == 0) {
				*out = seen[i];
				seen[i].used = 0;
				found = 1;
			}
		}
		pthread_mutex_unlock(&seen_mu);
		if (found)
			return 1;
		usleep(10000);
	}
	return 0;
}

static void expect_end(const char *tag, enum xz_rpc_status a, enum xz_rpc_status b)
{
	struct end_record r;
	if (!take_end(tag, &r))
		fail_msg("no server handler for \"%s\" ended within 3 s", tag);
	if (r.st != a && r.st != b)
		fail_msg("handler for \"%s\" ended with %d, expected %d or %d", tag, (int)r.st,
		         (int)a, (int)b);
	assert_string_equal(r.peer, CLIENT_ID);
}

/*
 * The test service: Open -> OpenReply naming the peer it authenticated;
 * Batch -> the same data back with seq + 1; Close -> Receipt echoing the
 * hash; Abort -> ends with ABORTED.  A dataset named "stall..." makes the
 * handler wait for a message the client never sends.  How it ended is
 * recorded under the dataset's name.
 */
static enum xz_rpc_status handler(struct xz_rpc_stream *s, const char *peer, void *arg,
                                  struct xz_rpc_error *why)
{
	char tag[32] = "";
	(void)arg;
	for (;;) {
		struct xz_msg in, out = {0};
		enum xz_rpc_status st = xz_rpc_recv(s, &in, 0, why);
		if (st == XZ_RPC_EOF) {
			/* The client's messages ended: gRPC's verdict on the call
			 * says whether that was a clean finish or a cancellation. */
			st = xz_rpc_server_close(s, XZ_RPC_OK, NULL, why);
			record_end(tag, peer, st == XZ_RPC_OK ? XZ_RPC_EOF : st);
			return st;
		}
		if (st != XZ_RPC_OK) {
			record_end(tag, peer, st);
			return st;
		}
		switch (in.kind) {
		case XZ_MSG_OPEN:
			snprintf(tag, sizeof(tag), "%s", in.u.open.dataset);
			out.kind = XZ_MSG_OPEN_REPLY;
			out.u.open_reply.accepted = 1;
			out.u.open_reply.reason = peer;
			break;
		case XZ_MSG_BATCH:
			out.kind = XZ_MSG_BATCH;
			out.u.batch = in.u.batch;
			out.u.batch.seq++;
			break;
		case XZ_MSG_CLOSE:
			out.kind = XZ_MSG_RECEIPT;
			out.u.receipt.transcript_hash = in.u.close.transcript_hash;
			out.u.receipt.checkpoint = "checkpoint\n1\n";
			break;
		default:
			xz_msg_release(&in);
			record_end(tag, peer, XZ_RPC_ABORTED);
			why->status = XZ_RPC_ABORTED;
			snprintf(why->msg, sizeof(why->msg), "test handler: client aborted");
			return XZ_RPC_ABORTED;
		}
		int stall = in.kind == XZ_MSG_OPEN && strncmp(tag, "stall", 5) == 0;
		if (!stall)
			st = xz_rpc_send(s, &out, 0, why);
		xz_msg_release(&in);
		if (st != XZ_RPC_OK) {
			record_end(tag, peer, st);
			return st;
		}
	}
}

static void start_server_max(struct fixture *f, struct xz_rpc_server **srv, int *port,
                             unsigned max_calls)
{
	char b[3][512];
	struct xz_rpc_server_config cfg = {
		.listen = "127.0.0.1:0",
		.tls = tls_of(f, f->dir, f->ca_dir, SERVER_ID, b),
		.identity = SERVER_ID,
		.handler = handler,
		.max_calls = max_calls,
	};
	struct xz_rpc_error err;
	if (xz_rpc_server_start(&cfg, srv, port, &err) != XZ_RPC_OK)
		fail_msg("server start: %s", err.msg);
	assert_true(*port > 0);
}

static void start_server(struct fixture *f, struct xz_rpc_server **srv, int *port)
{
	start_server_max(f, srv, port, 0);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	f->dir = xzt_mkdtemp("transport");
	f->ca_dir = xzt_path(f->dir, "ca");
	f->foreign_dir = xzt_path(f->dir, "foreign");
	const char *ca[] = {f->ca_dir, NULL};
	const char *fca[] = {f->foreign_dir, "someone else's CA", NULL};
	pki(f, "deploy/pki/make-ca.sh", ca);
	pki(f, "deploy/pki/make-ca.sh", fca);
	const char *n1[] = {f->ca_dir, f->dir, SERVER_ID, NULL};
	const char *n2[] = {f->ca_dir, f->dir, CLIENT_ID, NULL};
	const char *n3[] = {f->ca_dir, f->dir, "other.node", NULL};
	const char *n4[] = {f->foreign_dir, f->foreign_dir, CLIENT_ID, NULL};
	const char *n5[] = {f->ca_dir, f->dir, "expired.node", "20200101000000Z",
	                    "20200201000000Z", NULL};
	pki(f, "deploy/pki/make-node.sh", n1);
	pki(f, "deploy/pki/make-node.sh", n2);
	pki(f, "deploy/pki/make-node.sh", n3);
	pki(f, "deploy/pki/make-node.sh", n4);
	pki(f, "deploy/pki/make-node.sh", n5);
	start_server(f, &f->srv, &f->port);
	snprintf(f->target, sizeof(f->target), "127.0.0.1:%d", f->port);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	xz_rpc_server_stop(f->srv, 1000);
	xzt_rmtree(f->dir);
	free(f->dir);
	free(f->ca_dir);
	free(f->foreign_dir);
	free(f);
	return 0;
}

/* A client presenting `id`'s certificate from `dir` (trusting ca_dir) and
 * expecting the server to be `server_id`. */
static struct xz_rpc_client *client_as(struct fixture *f, const char *dir, const char *id,
                                       const char *server_id)
{
	char b[3][512];
	struct xz_rpc_client_config cfg = {
		.target = f->target,
		.tls = tls_of(f, dir, f->ca_dir, id, b),
		.server_identity = server_id,
	};
	struct xz_rpc_client *c = NULL;
	struct xz_rpc_error err;
	if (xz_rpc_client_new(&cfg, &c, &err) != XZ_RPC_OK)
		fail_msg("client: %s", err.msg);
	return c;
}

static const uint8_t join_id[16] = "join-0000000001!";

static enum xz_rpc_status send_open(struct xz_rpc_stream *s, const char *dataset,
                                    struct xz_rpc_error *err)
{
	static const uint8_t req[] = "request bytes";
	struct xz_msg m = {.kind = XZ_MSG_OPEN};
	m.u.open.version = XZ_RPC_WIRE_VERSION;
	m.u.open.join_id = (struct xz_rpc_bytes){join_id, sizeof(join_id)};
	m.u.open.request = (struct xz_rpc_bytes){req, sizeof(req)};
	m.u.open.approvals[0] = (struct xz_rpc_bytes){req, 4};
	m.u.open.n_approvals = 1;
	m.u.open.dataset = dataset;
	return xz_rpc_send(s, &m, 5000, err);
}

/* Open, OpenReply, Batch both ways, Close, Receipt, final status OK. */
static void do_join(struct xz_rpc_client *c, size_t batch_len, const char *tag)
{
	struct xz_rpc_stream *s = NULL;
	struct xz_rpc_error err;
	struct xz_msg in, m = {0};
	uint8_t *data = malloc(batch_len ? batch_len : 1);
	assert_non_null(data);
	for (size_t i = 0; i < batch_len; i++)
		data[i] = (uint8_t)(i * 131 + 7);

	assert_int_equal(xz_rpc_join(c, 10000, &s, &err), XZ_RPC_OK);
	if (send_open(s, tag, &err) != XZ_RPC_OK)
		fail_msg("send open: %s", err.msg);
	if (xz_rpc_recv(s, &in, 5000, &err) != XZ_RPC_OK)
		fail_msg("recv open reply: %s", err.msg);
	assert_int_equal(in.kind, XZ_MSG_OPEN_REPLY);
	assert_true(in.u.open_reply.accepted);
	/* The server's handler saw the client's certificate identity. */
	assert_string_equal(in.u.open_reply.reason, CLIENT_ID);
	xz_msg_release(&in);
	assert_string_equal(xz_rpc_peer(s), SERVER_ID);

	m.kind = XZ_MSG_BATCH;
	m.u.batch.seq = 41;
	m.u.batch.phase = 1;
	m.u.batch.data = (struct xz_rpc_bytes){data, batch_len};
	m.u.batch.last = 1;
	assert_int_equal(xz_rpc_send(s, &m, 5000, &err), XZ_RPC_OK);
	assert_int_equal(xz_rpc_recv(s, &in, 5000, &err), XZ_RPC_OK);
	assert_int_equal(in.kind, XZ_MSG_BATCH);
	assert_int_equal(in.u.batch.seq, 42);
	assert_int_equal(in.u.batch.phase, 1);
	assert_true(in.u.batch.last);
	assert_int_equal(in.u.batch.data.len, batch_len);
	if (batch_len)
		assert_memory_equal(in.u.batch.data.ptr, data, batch_len);
	xz_msg_release(&in);

	memset(&m, 0, sizeof(m));
	m.kind = XZ_MSG_CLOSE;
	m.u.close.transcript_hash = (struct xz_rpc_bytes){join_id, 16};
	assert_int_equal(xz_rpc_send(s, &m, 5000, &err), XZ_RPC_OK);
	assert_int_equal(xz_rpc_recv(s, &in, 5000, &err), XZ_RPC_OK);
	assert_int_equal(in.kind, XZ_MSG_RECEIPT);
	assert_memory_equal(in.u.receipt.transcript_hash.ptr, join_id, 16);
	assert_string_equal(in.u.receipt.checkpoint, "checkpoint\n1\n");
	xz_msg_release(&in);
	if (xz_rpc_finish(s, &err) != XZ_RPC_OK)
		fail_msg("finish: %s", err.msg);
	xz_rpc_stream_free(s);
	free(data);
	/* The server's handler saw a clean end of stream. */
	expect_end(tag, XZ_RPC_EOF, XZ_RPC_EOF);
}

static void test_round_trip(void **state)
{
	struct fixture *f = *state;
	struct xz_rpc_client *c = client_as(f, f->dir, CLIENT_ID, SERVER_ID);
	do_join(c, 1000, "round-trip");
	do_join(c, XZ_RPC_MAX_BATCH_DATA, "largest"); /* the largest batch, both ways */

	char id[XZ_RPC_MAX_IDENTITY + 1];
	uint32_t version = 0;
	struct xz_rpc_error err;
	if (xz_rpc_health(c, 5000, id, &version, &err) != XZ_RPC_OK)
		fail_msg("health: %s", err.msg);
	assert_string_equal(id, SERVER_ID);
	assert_int_equal(version, XZ_RPC_WIRE_VERSION);
	xz_rpc_client_free(c);
}

/* A join attempt that must fail before any handler runs. */
static void expect_refused(struct fixture *f, struct xz_rpc_client *c, const char *what)
{
	struct xz_rpc_stream *s = NULL;
	struct xz_rpc_error err = {XZ_RPC_OK, ""};
	struct xz_msg in;
	assert_int_equal(xz_rpc_join(c, 5000, &s, &err), XZ_RPC_OK);
	enum xz_rpc_status st = send_open(s, "refused", &err);
	if (st == XZ_RPC_OK)
		st = xz_rpc_recv(s, &in, 5000, &err);
	if (st != XZ_RPC_UNAVAILABLE)
		fail_msg("%s: expected unavailable, got %d (%s)", what, (int)st, err.msg);
	xz_rpc_stream_free(s);
	/* No handler ran: the call never got past TLS. */
	int ran = 0;
	pthread_mutex_lock(&seen_mu);
	for (size_t i = 0; i < sizeof(seen) / sizeof(seen[0]); i++)
		ran |= seen[i].used && strcmp(seen[i].tag, "refused") == 0;
	pthread_mutex_unlock(&seen_mu);
	assert_false(ran);
	(void)f;
}

static void test_foreign_ca_client_refused(void **state)
{
	struct fixture *f = *state;
	struct xz_rpc_client *c = client_as(f, f->foreign_dir, CLIENT_ID, SERVER_ID);
	expect_refused(f, c, "client certificate from a foreign CA");
	xz_rpc_client_free(c);
}

static void test_expired_client_refused(void **state)
{
	struct fixture *f = *state;
	struct xz_rpc_client *c = client_as(f, f->dir, "expired.node", SERVER_ID);
	expect_refused(f, c, "expired client certificate");
	xz_rpc_client_free(c);
}

static void test_wrong_server_identity_refused(void **state)
{
	struct fixture *f = *state;
	struct xz_rpc_client *c = client_as(f, f->dir, CLIENT_ID, "other.node");
	expect_refused(f, c, "server without the expected identity");
	xz_rpc_client_free(c);
}

static void test_key_file_mode_checked(void **state)
{
	struct fixture *f = *state;
	char b[3][512];
	struct xz_rpc_client_config cfg = {
		.target = f->target,
		.tls = tls_of(f, f->dir, f->ca_dir, "other.node", b),
		.server_identity = SERVER_ID,
	};
	struct xz_rpc_client *c = NULL;
	struct xz_rpc_error err;
	assert_int_equal(chmod(b[2], 0644), 0);
	assert_int_equal(xz_rpc_client_new(&cfg, &c, &err), XZ_RPC_CONFIG);
	assert_null(c);
	assert_non_null(strstr(err.msg, "chmod 600"));
	assert_int_equal(chmod(b[2], 0600), 0);
	cfg.tls.cert_file = "/nonexistent/cert.pem";
	assert_int_equal(xz_rpc_client_new(&cfg, &c, &err), XZ_RPC_CONFIG);
	assert_non_null(strstr(err.msg, "/nonexistent/cert.pem"));
}

/* Sends raw bytes as a Join message; returns the final status the client
 * sees (after recv). */
static enum xz_rpc_status send_garbage(struct xz_rpc_client *c, const void *buf, size_t len,
                                       struct xz_rpc_error *err)
{
	struct xz_rpc_stream *s = NULL;
	struct xz_msg in;
	assert_int_equal(xz_rpc_join(c, 5000, &s, err), XZ_RPC_OK);
	enum xz_rpc_status st = xz_rpc_send_raw(s, buf, len, 5000, err);
	if (st == XZ_RPC_OK)
		st = xz_rpc_recv(s, &in, 5000, err);
	xz_rpc_stream_free(s);
	return st;
}

static void test_garbage_gets_error_status(void **state)
{
	struct fixture *f = *state;
	struct xz_rpc_client *c = client_as(f, f->dir, CLIENT_ID, SERVER_ID);
	struct xz_rpc_error err;
	static const struct {
		const char *bytes;
		size_t len;
		const char *expect;
	} cases[] = {
		{"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff", 11, "bad field key"},
		{"\x1a\x08\x1a\x06" "abc", 7, "truncated length"},       /* truncated Batch */
		{"\x4a\x01x", 3, "unknown field 9"},
		{"", 0, "expected exactly 1"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		enum xz_rpc_status st = send_garbage(c, cases[i].bytes, cases[i].len, &err);
		if (st != XZ_RPC_INVALID || strstr(err.msg, cases[i].expect) == NULL)
			fail_msg("case %zu: status %d (%s), expected invalid with \"%s\"", i, (int)st,
			         err.msg, cases[i].expect);
		expect_end("", XZ_RPC_INVALID, XZ_RPC_INVALID);
	}
	/* The server is unharmed. */
	do_join(c, 10, "after");
	xz_rpc_client_free(c);
}

/*
 * A hand-built gRPC client without our send cap sends a 5 MiB message: the
 * server must answer with an error status (RESOURCE_EXHAUSTED), not crash,
 * and keep serving.
 */
static grpc_status_code raw_oversized_call(struct fixture *f, size_t len)
{
	char b[3][512];
	struct xz_rpc_tls t = tls_of(f, f->dir, f->ca_dir, CLIENT_ID, b);
	size_t n;
	char *ca = xzt_read_file(t.ca_file, &n), *cert = xzt_read_file(t.cert_file, &n);
	char *key = xzt_read_file(t.key_file, &n);
	grpc_ssl_pem_key_cert_pair pair = {key, cert};
	grpc_channel_credentials *creds = grpc_ssl_credentials_create_ex(ca, &pair, NULL, NULL);
	grpc_arg arg = {GRPC_ARG_STRING, (char *)(uintptr_t)GRPC_SSL_TARGET_NAME_OVERRIDE_ARG,
	                {.string = (char *)(uintptr_t)SERVER_ID}};
	grpc_channel_args args = {1, &arg};
	grpc_channel *ch = grpc_channel_create(f->target, creds, &args);
	grpc_channel_credentials_release(creds);
	grpc_completion_queue *cq = grpc_completion_queue_create_for_pluck(NULL);
	gpr_timespec dl = gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
	                               gpr_time_from_millis(3000, GPR_TIMESPAN));
	grpc_call *call = grpc_channel_create_call(ch, NULL, 0, cq,
	                                           grpc_slice_from_static_string(
	                                               "/xiezhi.v1.Federation/Join"),
	                                           NULL, dl, NULL);
	char *big = calloc(1, len);
	grpc_slice sl = grpc_slice_from_copied_buffer(big, len);
	grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&sl, 1);
	grpc_slice_unref(sl);
	grpc_metadata_array md;
	grpc_metadata_array_init(&md);
	grpc_status_code status = GRPC_STATUS_OK;
	grpc_slice details;
	/* First a valid Open, so the handler's record carries a name. */
	struct xz_msg open = {.kind = XZ_MSG_OPEN};
	open.u.open.join_id = (struct xz_rpc_bytes){(const uint8_t *)"0123456789abcdef", 16};
	open.u.open.dataset = "oversized";
	uint8_t *enc = NULL;
	size_t enc_len = 0;
	struct xz_rpc_error err;
	assert_int_equal(xz_msg_encode(&open, &enc, &enc_len, &err), XZ_RPC_OK);
	grpc_slice osl = grpc_slice_from_copied_buffer((const char *)enc, enc_len);
	grpc_byte_buffer *obb = grpc_raw_byte_buffer_create(&osl, 1);
	grpc_slice_unref(osl);
	free(enc);
	grpc_op first[2];
	memset(first, 0, sizeof(first));
	first[0].op = GRPC_OP_SEND_INITIAL_METADATA;
	first[1].op = GRPC_OP_SEND_MESSAGE;
	first[1].data.send_message.send_message = obb;
	assert_int_equal(grpc_call_start_batch(call, first, 2, first, NULL), GRPC_CALL_OK);
	grpc_event ev = grpc_completion_queue_pluck(cq, first, gpr_inf_future(GPR_CLOCK_MONOTONIC),
	                                            NULL);
	assert_int_equal(ev.type, GRPC_OP_COMPLETE);
	assert_true(ev.success);
	grpc_byte_buffer_destroy(obb);

	grpc_op ops[2], rs;
	memset(ops, 0, sizeof(ops));
	memset(&rs, 0, sizeof(rs));
	ops[0].op = GRPC_OP_SEND_MESSAGE;
	ops[0].data.send_message.send_message = bb;
	ops[1].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
	rs.op = GRPC_OP_RECV_STATUS_ON_CLIENT;
	rs.data.recv_status_on_client.trailing_metadata = &md;
	rs.data.recv_status_on_client.status = &status;
	rs.data.recv_status_on_client.status_details = &details;
	/* Two batches: the send may never complete once the server stops
	 * reading, while the status arrives at once. */
	assert_int_equal(grpc_call_start_batch(call, ops, 2, &ops, NULL), GRPC_CALL_OK);
	assert_int_equal(grpc_call_start_batch(call, &rs, 1, &rs, NULL), GRPC_CALL_OK);
	ev = grpc_completion_queue_pluck(cq, &rs, gpr_inf_future(GPR_CLOCK_MONOTONIC),
	                                            NULL);
	assert_int_equal(ev.type, GRPC_OP_COMPLETE);
	grpc_call_cancel(call, NULL);
	ev = grpc_completion_queue_pluck(cq, &ops, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL);
	assert_int_equal(ev.type, GRPC_OP_COMPLETE);
	grpc_slice_unref(details);
	grpc_metadata_array_destroy(&md);
	grpc_byte_buffer_destroy(bb);
	grpc_call_unref(call);
	grpc_completion_queue_shutdown(cq);
	grpc_completion_queue_destroy(cq);
	grpc_channel_destroy(ch);
	free(big);
	free(ca);
	free(cert);
	free(key);
	return status;
}

static void test_oversized_gets_error_status(void **state)
{
	struct fixture *f = *state;
	int64_t t0 = now_ms();
	grpc_init();
	grpc_status_code code = raw_oversized_call(f, 5u << 20);
	grpc_shutdown();
	/* The handler got the Open, then a failed receive, not a message, and
	 * ended at once. */
	expect_end("oversized", XZ_RPC_CANCELLED, XZ_RPC_TOO_LARGE);
	/* The raw client sees an error status: the server's
	 * RESOURCE_EXHAUSTED, or, as gRPC 1.51 holds the status back while the
	 * client's own send is blocked on flow control, its 3 s deadline. */
	assert_true(code == GRPC_STATUS_RESOURCE_EXHAUSTED ||
	            code == GRPC_STATUS_DEADLINE_EXCEEDED);
	assert_true(now_ms() - t0 < 6000);

	/* Our own client refuses to send it at all. */
	struct xz_rpc_client *c = client_as(f, f->dir, CLIENT_ID, SERVER_ID);
	struct xz_rpc_error err;
	uint8_t *big = calloc(1, 5u << 20);
	assert_non_null(big);
	enum xz_rpc_status st = send_garbage(c, big, 5u << 20, &err);
	assert_true(st == XZ_RPC_TOO_LARGE);
	free(big);
	do_join(c, 10, "after");
	xz_rpc_client_free(c);
}

static void test_deadlines_abort_cleanly(void **state)
{
	struct fixture *f = *state;
	struct xz_rpc_client *c = client_as(f, f->dir, CLIENT_ID, SERVER_ID);
	struct xz_rpc_stream *s = NULL;
	struct xz_rpc_error err;
	struct xz_msg in;

	/* 1 ms for the whole call: it cannot even finish the handshake. */
	int64_t t0 = now_ms();
	assert_int_equal(xz_rpc_join(c, 1, &s, &err), XZ_RPC_OK);
	enum xz_rpc_status st = send_open(s, "deadline-1ms", &err);
	if (st == XZ_RPC_OK)
		st = xz_rpc_recv(s, &in, 0, &err);
	assert_int_equal(st, XZ_RPC_DEADLINE);
	/* Later operations report the same error. */
	assert_int_equal(xz_rpc_recv(s, &in, 0, &err), XZ_RPC_DEADLINE);
	xz_rpc_stream_free(s);
	assert_true(now_ms() - t0 < 2000);

	/* A server handler waiting for a message that never comes sees the
	 * client's deadline too. */
	assert_int_equal(xz_rpc_join(c, 400, &s, &err), XZ_RPC_OK);
	assert_int_equal(send_open(s, "stall-deadline", &err), XZ_RPC_OK);
	t0 = now_ms();
	assert_int_equal(xz_rpc_recv(s, &in, 0, &err), XZ_RPC_DEADLINE);
	assert_true(now_ms() - t0 < 2000);
	xz_rpc_stream_free(s);
	expect_end("stall-deadline", XZ_RPC_DEADLINE, XZ_RPC_CANCELLED);

	/* A per-operation timeout cancels the call on its own. */
	assert_int_equal(xz_rpc_join(c, 10000, &s, &err), XZ_RPC_OK);
	assert_int_equal(send_open(s, "stall-timeout", &err), XZ_RPC_OK);
	t0 = now_ms();
	assert_int_equal(xz_rpc_recv(s, &in, 200, &err), XZ_RPC_DEADLINE);
	assert_true(now_ms() - t0 < 2000);
	xz_rpc_stream_free(s);
	expect_end("stall-timeout", XZ_RPC_DEADLINE, XZ_RPC_CANCELLED);

	do_join(c, 10, "after");
	xz_rpc_client_free(c);
}

/* Counts open file descriptors, or threads (all, or those whose name
 * starts with `prefix`). */
static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = -1; /* the DIR's own descriptor */
	assert_non_null(d);
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

static int count_threads(const char *prefix, char *names, size_t cap)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	int n = 0;
	assert_non_null(d);
	if (names)
		names[0] = '\0';
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		char path[300], comm[32] = "";
		snprintf(path, sizeof(path), "/proc/self/task/%s/comm", e->d_name);
		FILE *fp = fopen(path, "r");
		if (fp == NULL)
			continue; /* exited meanwhile */
		if (fgets(comm, sizeof(comm), fp) == NULL)
			comm[0] = '\0';
		fclose(fp);
		comm[strcspn(comm, "\n")] = '\0';
		if (prefix && strncmp(comm, prefix, strlen(prefix)) != 0)
			continue;
		n++;
		if (names && strlen(names) + strlen(comm) + 2 < cap) {
			strcat(names, comm);
			strcat(names, " ");
		}
	}
	closedir(d);
	return n;
}

static void one_call(struct fixture *f)
{
	struct xz_rpc_client *c = client_as(f, f->dir, CLIENT_ID, SERVER_ID);
	do_join(c, 100, "leak");
	xz_rpc_client_free(c);
}

/*
 * 200 calls, each on a new client (channel, TCP connection, TLS handshake):
 * afterwards the process has the same file descriptors and the same
 * xiezhi threads (acceptor, per-call) as before, and no more threads in
 * total once gRPC's own pool has gone idle.  Memory: the ASan build's leak
 * checker runs over the same test.
 */
static void test_no_fd_or_thread_leaks(void **state)
{
	struct fixture *f = *state;
	char names[1024];
	for (int i = 0; i < 5; i++) /* warm up gRPC's pools */
		one_call(f);
	usleep(300000);
	int fds = count_fds(), ours = count_threads("xz-", NULL, 0);
	int threads = count_threads(NULL, NULL, 0);
	int64_t t0 = now_ms();
	for (int i = 0; i < 200; i++)
		one_call(f);
	print_message("200 calls, each on a new channel: %lld ms\n", (long long)(now_ms() - t0));
	int fds_after = count_fds(), ours_after = count_threads("xz-", NULL, 0);
	int threads_after = count_threads(NULL, names, sizeof(names));
	for (int i = 0; i < 500 && (fds_after > fds || ours_after > ours || threads_after > threads);
	     i++) {
		usleep(10000);
		fds_after = count_fds();
		ours_after = count_threads("xz-", NULL, 0);
		threads_after = count_threads(NULL, names, sizeof(names));
	}
	print_message("fds %d -> %d, xiezhi threads %d -> %d, all threads %d -> %d (%s)\n", fds,
	              fds_after, ours, ours_after, threads, threads_after, names);
	assert_true(fds_after <= fds);
	assert_true(ours_after <= ours);
	assert_true(threads_after <= threads);
}

/* A client that gives up mid-join: the server's handler sees the call
 * cancelled (the federation layer turns this into an "aborted" record). */
static void test_client_cancel_seen_by_server(void **state)
{
	struct fixture *f = *state;
	struct xz_rpc_client *c = client_as(f, f->dir, CLIENT_ID, SERVER_ID);
	struct xz_rpc_stream *s = NULL;
	struct xz_rpc_error err;
	struct xz_msg in;
	assert_int_equal(xz_rpc_join(c, 10000, &s, &err), XZ_RPC_OK);
	assert_int_equal(send_open(s, "cancel", &err), XZ_RPC_OK);
	assert_int_equal(xz_rpc_recv(s, &in, 5000, &err), XZ_RPC_OK);
	xz_msg_release(&in);
	xz_rpc_cancel(s);
	assert_int_equal(xz_rpc_recv(s, &in, 5000, &err), XZ_RPC_CANCELLED);
	xz_rpc_stream_free(s);
	expect_end("cancel", XZ_RPC_CANCELLED, XZ_RPC_CANCELLED);
	xz_rpc_client_free(c);
}

/* At max_calls running calls, the next one is refused as busy, and served
 * again once a slot frees. */
static void test_busy_server_refuses(void **state)
{
	struct fixture *f = *state, g = *f;
	struct xz_rpc_stream *s1 = NULL, *s2 = NULL;
	struct xz_rpc_error err;
	struct xz_msg in;
	start_server_max(f, &g.srv, &g.port, 1);
	snprintf(g.target, sizeof(g.target), "127.0.0.1:%d", g.port);
	struct xz_rpc_client *c = client_as(&g, f->dir, CLIENT_ID, SERVER_ID);
	assert_int_equal(xz_rpc_join(c, 10000, &s1, &err), XZ_RPC_OK);
	assert_int_equal(send_open(s1, "stall-busy", &err), XZ_RPC_OK);
	usleep(100000); /* let the first call reach its handler */
	assert_int_equal(xz_rpc_join(c, 5000, &s2, &err), XZ_RPC_OK);
	enum xz_rpc_status st = send_open(s2, "busy", &err);
	if (st == XZ_RPC_OK)
		st = xz_rpc_recv(s2, &in, 5000, &err);
	assert_int_equal(st, XZ_RPC_UNAVAILABLE);
	assert_non_null(strstr(err.msg, "busy"));
	xz_rpc_stream_free(s2);
	xz_rpc_stream_free(s1);
	expect_end("stall-busy", XZ_RPC_CANCELLED, XZ_RPC_DEADLINE);
	do_join(c, 10, "after");
	xz_rpc_client_free(c);
	xz_rpc_server_stop(g.srv, 1000);
}

/* gRPC 1.51 on OpenSSL 3 also takes Ed25519 certificates (XZ_PKI_KEY). */
static void test_ed25519_round_trip(void **state)
{
	struct fixture *f = *state, g = *f;
	char *dir = xzt_path(f->dir, "ed25519");
	char *ca_dir = xzt_path(dir, "ca");
	const char *env[] = {"XZ_PKI_KEY=ed25519", NULL};
	const char *ca[] = {ca_dir, NULL};
	const char *n1[] = {ca_dir, dir, SERVER_ID, NULL};
	const char *n2[] = {ca_dir, dir, CLIENT_ID, NULL};
	pki_env("deploy/pki/make-ca.sh", ca, env);
	pki_env("deploy/pki/make-node.sh", n1, env);
	pki_env("deploy/pki/make-node.sh", n2, env);
	g.dir = dir;
	g.ca_dir = ca_dir;
	start_server(&g, &g.srv, &g.port);
	snprintf(g.target, sizeof(g.target), "127.0.0.1:%d", g.port);
	struct xz_rpc_client *c = client_as(&g, dir, CLIENT_ID, SERVER_ID);
	do_join(c, 100, "ed25519");
	xz_rpc_client_free(c);
	/* ...and the main server does not trust the Ed25519 CA's client. */
	c = client_as(f, dir, CLIENT_ID, SERVER_ID);
	expect_refused(f, c, "client certificate from the Ed25519 CA");
	xz_rpc_client_free(c);
	xz_rpc_server_stop(g.srv, 1000);
	free(ca_dir);
	free(dir);
}

/* Stopping a server with a call in flight cancels it within the grace
 * period; the client sees an error, the handler thread is joined. */
static void test_stop_with_call_in_flight(void **state)
{
	struct fixture *f = *state;
	struct xz_rpc_server *srv2 = NULL;
	int port2 = 0;
	start_server(f, &srv2, &port2);
	char target[64];
	snprintf(target, sizeof(target), "127.0.0.1:%d", port2);
	char b[3][512];
	struct xz_rpc_client_config cfg = {
		.target = target,
		.tls = tls_of(f, f->dir, f->ca_dir, CLIENT_ID, b),
		.server_identity = SERVER_ID,
	};
	struct xz_rpc_client *c = NULL;
	struct xz_rpc_stream *s = NULL;
	struct xz_rpc_error err;
	struct xz_msg in;
	assert_int_equal(xz_rpc_client_new(&cfg, &c, &err), XZ_RPC_OK);
	assert_int_equal(xz_rpc_join(c, 10000, &s, &err), XZ_RPC_OK);
	assert_int_equal(send_open(s, "stop", &err), XZ_RPC_OK);
	assert_int_equal(xz_rpc_recv(s, &in, 5000, &err), XZ_RPC_OK);
	xz_msg_release(&in);
	int64_t t0 = now_ms();
	xz_rpc_server_stop(srv2, 200);
	assert_true(now_ms() - t0 < 3000);
	enum xz_rpc_status st = xz_rpc_recv(s, &in, 5000, &err);
	assert_true(st != XZ_RPC_OK && st != XZ_RPC_EOF);
	xz_rpc_stream_free(s);
	expect_end("stop", XZ_RPC_CANCELLED, XZ_RPC_CANCELLED);
	xz_rpc_client_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_foreign_ca_client_refused),
		cmocka_unit_test(test_expired_client_refused),
		cmocka_unit_test(test_wrong_server_identity_refused),
		cmocka_unit_test(test_key_file_mode_checked),
		cmocka_unit_test(test_garbage_gets_error_status),
		cmocka_unit_test(test_oversized_gets_error_status),
		cmocka_unit_test(test_deadlines_abort_cleanly),
		cmocka_unit_test(test_stop_with_call_in_flight),
		cmocka_unit_test(test_ed25519_round_trip),
		cmocka_unit_test(test_client_cancel_seen_by_server),
		cmocka_unit_test(test_busy_server_refuses),
		cmocka_unit_test(test_no_fd_or_thread_leaks),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
