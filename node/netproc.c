/*
 * The requester's network process (node/netproc.h): the parent's calls and
 * the child that runs them on gRPC.
 *
 * Messages (node/keeper.h framing; parent -> child, then the one reply):
 *   JOIN    str target, str server identity, str CA, str cert, str key,
 *           u64 deadline ms                    -> CALL u32 id | STATUS
 *   SEND    u32 id, u64 timeout ms, bytes msg  -> STATUS
 *   RECV    u32 id, u64 timeout ms             -> MSG bytes | STATUS
 *   FINISH  u32 id                             -> STATUS
 *   CANCEL  u32 id                             -> STATUS
 *   FREE    u32 id                             -> STATUS
 *   STATUS  u32 xz_rpc_status, str message
 * A timeout of 0 means "until the call's deadline".  The child decodes
 * what it receives from a peer (xz_rpc_recv checks the server identity and
 * the message caps) and sends the parent the re-encoded message, which
 * the parent decodes again: its view never rests on the child's parse.
 */
#include "netproc.h"

#include <errno.h>
#include <stdarg.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "keeper.h"
#include "sandbox.h"

enum {
	N_JOIN = 60, N_SEND, N_RECV, N_FINISH, N_CANCEL, N_FREE,
	N_CALL = 70, N_STATUS, N_MSG,
};

#define N_STR_MAX	4096u
#define N_ANSWER_MS	30000	/* beyond a call's own timeout */
#define N_JOIN_MS	60000

struct xz_net {
	pid_t pid;
	int sock;
	struct xz_kbuf in, out;
	int broken;
};

struct xz_net_call {
	struct xz_net *n;
	uint32_t id;
};

/* Sets err and returns st (protocol/'s own helper is internal to it). */
static enum xz_rpc_status
net_fail(struct xz_rpc_error *err, enum xz_rpc_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static enum xz_rpc_status
net_fail(struct xz_rpc_error *err, enum xz_rpc_status st, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	err->status = st;
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	return st;
}

/* ---- the child ---- */

struct child_call {
	struct xz_rpc_client *client;
	struct xz_rpc_stream *s;
};

struct child {
	int sock;
	struct xz_kbuf in, out;
	struct child_call call[XZ_NET_MAX_CALLS];
};

static const struct xz_kmsg_rule child_rules[] = {
	{ N_JOIN, 5 * (4 + N_STR_MAX) + 8, 0 },
	{ N_SEND, XZ_KMSG_MAX_BODY, 0 },
	{ N_RECV, 4 + 8, 0 },
	{ N_FINISH, 4, 0 },
	{ N_CANCEL, 4, 0 },
	{ N_FREE, 4, 0 },
};

static int
child_status(struct child *c, enum xz_rpc_status st, const char *msg)
{
	xz_kbuf_reset(&c->out);
	xz_kbuf_u32(&c->out, (uint32_t)st);
	xz_kbuf_bytes(&c->out, msg, strnlen(msg, XZ_RPC_MAX_REASON - 1));
	return xz_kmsg_send(c->sock, N_STATUS, &c->out, -1);
}

static int
child_join(struct child *c, struct xz_kcur *b)
{
	char target[N_STR_MAX], ident[N_STR_MAX], ca[N_STR_MAX], cert[N_STR_MAX], key[N_STR_MAX];
	struct xz_rpc_client_config cc = { 0 };
	struct xz_rpc_error err = { XZ_RPC_OK, "" };
	struct child_call *k = NULL;
	uint64_t deadline;
	uint32_t id;

	xz_kcur_str(b, target, sizeof(target));
	xz_kcur_str(b, ident, sizeof(ident));
	xz_kcur_str(b, ca, sizeof(ca));
	xz_kcur_str(b, cert, sizeof(cert));
	xz_kcur_str(b, key, sizeof(key));
	deadline = xz_kcur_u64(b);
	if (xz_kcur_end(b) != 0 || deadline == 0 || deadline > INT64_MAX)
		return child_status(c, XZ_RPC_INVALID, "a JOIN that does not decode");
	for (id = 0; id < XZ_NET_MAX_CALLS && k == NULL; id++)
		if (c->call[id].client == NULL)
			k = &c->call[id];
	if (k == NULL)
		return child_status(c, XZ_RPC_INTERNAL, "too many calls at once");
	id--;
	cc.target = target;
	cc.server_identity = ident;
	cc.tls.ca_file = ca;
	cc.tls.cert_file = cert;
	cc.tls.key_file = key;
	if (xz_rpc_client_new(&cc, &k->client, &err) != XZ_RPC_OK ||
	    xz_rpc_join(k->client, (int64_t)deadline, &k->s, &err) != XZ_RPC_OK) {
		xz_rpc_client_free(k->client);
		k->client = NULL;
		return child_status(c, err.status, err.msg);
	}
	xz_kbuf_reset(&c->out);
	xz_kbuf_u32(&c->out, id);
	return xz_kmsg_send(c->sock, N_CALL, &c->out, -1);
}

static struct child_call *
child_find(struct child *c, struct xz_kcur *b)
{
	uint32_t id = xz_kcur_u32(b);

	return id < XZ_NET_MAX_CALLS && c->call[id].s != NULL ? &c->call[id] : NULL;
}

static int
child_send(struct child *c, struct xz_kcur *b)
{
	struct child_call *k = child_find(c, b);
	uint64_t timeout = xz_kcur_u64(b);
	struct xz_rpc_error err = { XZ_RPC_OK, "" };
	const uint8_t *msg;
	size_t len;

	xz_kcur_bytes(b, XZ_RPC_MAX_MESSAGE, &msg, &len);
	if (k == NULL || xz_kcur_end(b) != 0 || timeout > INT64_MAX)
		return child_status(c, XZ_RPC_INVALID, "a SEND that does not decode");
	if (xz_rpc_send_raw(k->s, msg, len, (int64_t)timeout, &err) == XZ_RPC_OK)
		err.status = XZ_RPC_OK;
	return child_status(c, err.status, err.msg);
}

static int
child_recv(struct child *c, struct xz_kcur *b)
{
	struct child_call *k = child_find(c, b);
	uint64_t timeout = xz_kcur_u64(b);
	struct xz_rpc_error err = { XZ_RPC_OK, "" };
	enum xz_rpc_status st;
	struct xz_msg m;
	uint8_t *buf = NULL;
	size_t len = 0;
	int rc;

	if (k == NULL || xz_kcur_end(b) != 0 || timeout > INT64_MAX)
		return child_status(c, XZ_RPC_INVALID, "a RECV that does not decode");
	st = xz_rpc_recv(k->s, &m, (int64_t)timeout, &err);
	if (st == XZ_RPC_EOF)
		return child_status(c, XZ_RPC_EOF, "the peer ended the call");
	if (st != XZ_RPC_OK)
		return child_status(c, st, err.msg);
	st = xz_msg_encode(&m, &buf, &len, &err);
	xz_msg_release(&m);
	if (st != XZ_RPC_OK)
		return child_status(c, st, err.msg);
	if (len > XZ_KMSG_MAX_BODY - 4) {
		free(buf);
		xz_rpc_cancel(k->s);
		return child_status(c, XZ_RPC_TOO_LARGE, "the peer sent a message larger "
		    "than any join message can be");
	}
	xz_kbuf_reset(&c->out);
	xz_kbuf_bytes(&c->out, buf, len);
	free(buf);
	rc = xz_kmsg_send(c->sock, N_MSG, &c->out, -1);
	xz_kbuf_reset(&c->out);
	return rc;
}

static int
child_end(struct child *c, uint32_t type, struct xz_kcur *b)
{
	struct child_call *k = child_find(c, b);
	struct xz_rpc_error err = { XZ_RPC_OK, "" };

	if (k == NULL || xz_kcur_end(b) != 0)
		return child_status(c, XZ_RPC_INVALID, "no such call");
	if (type == N_FINISH) {
		if (xz_rpc_finish(k->s, &err) == XZ_RPC_OK)
			err.status = XZ_RPC_OK;
	} else if (type == N_CANCEL) {
		xz_rpc_cancel(k->s);
	} else {
		xz_rpc_stream_free(k->s);
		xz_rpc_client_free(k->client);
		k->s = NULL;
		k->client = NULL;
	}
	return child_status(c, err.status, err.msg);
}

/* Serves the parent until it closes the socket; never returns. */
static void
child_main(int sock, pid_t parent, const char *const tls[3], const char *node_dir)
{
	struct child c = { .sock = sock };
	struct xz_kmsg m;
	struct xz_diag d;

	(void)prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
	if (getppid() != parent)
		_exit(1);
	(void)prctl(PR_SET_NAME, "xiezhi-net", 0, 0, 0);
	signal(SIGPIPE, SIG_IGN);
	signal(SIGINT, SIG_IGN);	/* the parent decides when to stop */
	xz_sandbox_nodump();
	if (xz_sandbox_network(tls, node_dir, &d) < 0)
		_exit(1);
	for (;;) {
		int r = xz_kmsg_recv(sock, child_rules, sizeof(child_rules) /
		    sizeof(child_rules[0]), &c.in, &m, -1, &d);
		if (r != 0)
			break;
		switch (m.type) {
		case N_JOIN: r = child_join(&c, &m.body); break;
		case N_SEND: r = child_send(&c, &m.body); break;
		case N_RECV: r = child_recv(&c, &m.body); break;
		default: r = child_end(&c, m.type, &m.body); break;
		}
		if (r != 0)
			break;
	}
	for (size_t i = 0; i < XZ_NET_MAX_CALLS; i++) {
		xz_rpc_stream_free(c.call[i].s);
		xz_rpc_client_free(c.call[i].client);
	}
	xz_kbuf_free(&c.in);
	xz_kbuf_free(&c.out);
	_exit(0);
}

/* ---- the parent ---- */

int
xz_net_start(const char *const tls[3], const char *node_dir, struct xz_net **out,
    struct xz_diag *d)
{
	struct xz_net *n = calloc(1, sizeof(*n));
	pid_t parent = getpid();
	int sv[2];

	*out = NULL;
	if (n == NULL)
		return xz_diag_set(d, "out of memory");
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
		free(n);
		return xz_diag_set(d, "cannot make the network process's socket: %s",
		    strerror(errno));
	}
	fflush(NULL);
	if ((n->pid = fork()) < 0) {
		close(sv[0]);
		close(sv[1]);
		free(n);
		return xz_diag_set(d, "cannot start the network process: %s", strerror(errno));
	}
	if (n->pid == 0) {
		close(sv[0]);
		child_main(sv[1], parent, tls, node_dir);
	}
	close(sv[1]);
	n->sock = sv[0];
	*out = n;
	return 0;
}

void
xz_net_stop(struct xz_net *n)
{
	int st;

	if (n == NULL)
		return;
	close(n->sock);
	/* The child leaves when its socket closes; a stuck one is killed. */
	for (int waited = 0; waitpid(n->pid, &st, WNOHANG) == 0; waited += 10) {
		if (waited >= 5000) {
			kill(n->pid, SIGKILL);
			(void)waitpid(n->pid, &st, 0);
			break;
		}
		usleep(10000);
	}
	xz_kbuf_free(&n->in);
	xz_kbuf_free(&n->out);
	free(n);
}

pid_t
xz_net_pid(const struct xz_net *n)
{
	return n != NULL ? n->pid : 0;
}

/*
 * One request and its reply; any failure of the channel itself marks the
 * network process broken (every later call fails at once).
 */
static enum xz_rpc_status
ask(struct xz_net *n, uint32_t type, int timeout_ms, const struct xz_kmsg_rule *rules,
    size_t nrules, struct xz_kmsg *reply, struct xz_rpc_error *err)
{
	struct xz_diag d;
	int r;

	if (n->broken)
		return net_fail(err, XZ_RPC_INTERNAL, "the network process has failed");
	if (xz_kmsg_send(n->sock, type, &n->out, -1) != 0) {
		n->broken = 1;
		xz_kbuf_reset(&n->out);
		return net_fail(err, XZ_RPC_INTERNAL, "the network process is gone (%s)",
		    strerror(errno));
	}
	xz_kbuf_reset(&n->out);
	r = xz_kmsg_recv(n->sock, rules, nrules, &n->in, reply, timeout_ms, &d);
	if (r != 0) {
		n->broken = 1;
		return net_fail(err, XZ_RPC_INTERNAL, "the network process %s",
		    r == 1 ? "stopped" : d.msg);
	}
	return XZ_RPC_OK;
}

static enum xz_rpc_status
status_of(struct xz_kmsg *m, struct xz_rpc_error *err)
{
	uint32_t st = xz_kcur_u32(&m->body);
	char msg[sizeof(err->msg)];

	xz_kcur_str(&m->body, msg, sizeof(msg));
	if (xz_kcur_end(&m->body) != 0 || st > XZ_RPC_CONFIG)
		return net_fail(err, XZ_RPC_INTERNAL, "a STATUS from the network process that "
		    "does not decode");
	if (st == XZ_RPC_OK)
		return XZ_RPC_OK;
	return net_fail(err, (enum xz_rpc_status)st, "%s", msg);
}

static const struct xz_kmsg_rule status_rule[] = {
	{ N_STATUS, 4 + 4 + XZ_RPC_MAX_REASON, 0 },
};

static int
op_timeout(int64_t timeout_ms)
{
	if (timeout_ms <= 0 || timeout_ms > INT32_MAX - N_ANSWER_MS)
		return -1;	/* bounded by the call's deadline in the child */
	return (int)timeout_ms + N_ANSWER_MS;
}

enum xz_rpc_status
xz_net_join(struct xz_net *n, const struct xz_rpc_client_config *cfg, int64_t deadline_ms,
    struct xz_net_call **out, struct xz_rpc_error *err)
{
	static const struct xz_kmsg_rule rules[] = {
		{ N_CALL, 4, 0 },
		{ N_STATUS, 4 + 4 + XZ_RPC_MAX_REASON, 0 },
	};
	struct xz_net_call *c;
	struct xz_kmsg m;
	enum xz_rpc_status st;
	uint32_t id;

	*out = NULL;
	if (deadline_ms <= 0)
		return net_fail(err, XZ_RPC_INVALID, "every call needs a deadline");
	xz_kbuf_str(&n->out, cfg->target != NULL ? cfg->target : "");
	xz_kbuf_str(&n->out, cfg->server_identity != NULL ? cfg->server_identity : "");
	xz_kbuf_str(&n->out, cfg->tls.ca_file);
	xz_kbuf_str(&n->out, cfg->tls.cert_file);
	xz_kbuf_str(&n->out, cfg->tls.key_file);
	xz_kbuf_u64(&n->out, (uint64_t)deadline_ms);
	if ((st = ask(n, N_JOIN, N_JOIN_MS, rules, 2, &m, err)) != XZ_RPC_OK)
		return st;
	if (m.type == N_STATUS) {
		if (status_of(&m, err) == XZ_RPC_OK)
			return net_fail(err, XZ_RPC_INTERNAL, "no call from the network process");
		return err->status;
	}
	id = xz_kcur_u32(&m.body);
	if (xz_kcur_end(&m.body) != 0 || id >= XZ_NET_MAX_CALLS)
		return net_fail(err, XZ_RPC_INTERNAL, "a CALL that does not decode");
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return net_fail(err, XZ_RPC_INTERNAL, "out of memory");
	c->n = n;
	c->id = id;
	*out = c;
	return XZ_RPC_OK;
}

enum xz_rpc_status
xz_net_send(struct xz_net_call *c, const struct xz_msg *m, int64_t timeout_ms,
    struct xz_rpc_error *err)
{
	struct xz_kmsg r;
	enum xz_rpc_status st;
	uint8_t *buf = NULL;
	size_t len = 0;

	if ((st = xz_msg_encode(m, &buf, &len, err)) != XZ_RPC_OK)
		return st;
	xz_kbuf_u32(&c->n->out, c->id);
	xz_kbuf_u64(&c->n->out, timeout_ms > 0 ? (uint64_t)timeout_ms : 0);
	xz_kbuf_bytes(&c->n->out, buf, len);
	free(buf);
	if ((st = ask(c->n, N_SEND, op_timeout(timeout_ms), status_rule, 1, &r, err))
	    != XZ_RPC_OK)
		return st;
	return status_of(&r, err);
}

enum xz_rpc_status
xz_net_recv(struct xz_net_call *c, struct xz_msg *m, int64_t timeout_ms,
    struct xz_rpc_error *err)
{
	static const struct xz_kmsg_rule rules[] = {
		{ N_MSG, XZ_KMSG_MAX_BODY, 0 },
		{ N_STATUS, 4 + 4 + XZ_RPC_MAX_REASON, 0 },
	};
	const uint8_t *bytes;
	struct xz_kmsg r;
	enum xz_rpc_status st;
	size_t len;

	memset(m, 0, sizeof(*m));
	xz_kbuf_u32(&c->n->out, c->id);
	xz_kbuf_u64(&c->n->out, timeout_ms > 0 ? (uint64_t)timeout_ms : 0);
	if ((st = ask(c->n, N_RECV, op_timeout(timeout_ms), rules, 2, &r, err)) != XZ_RPC_OK)
		return st;
	if (r.type == N_STATUS) {
		if ((st = status_of(&r, err)) == XZ_RPC_OK)
			return net_fail(err, XZ_RPC_INTERNAL, "no message from the network "
			    "process");
		return st;
	}
	xz_kcur_bytes(&r.body, XZ_RPC_MAX_MESSAGE, &bytes, &len);
	if (xz_kcur_end(&r.body) != 0)
		return net_fail(err, XZ_RPC_INTERNAL, "a MSG that does not decode");
	/* Decoded here again: the parent does not trust the child's parse. */
	return xz_msg_decode(bytes, len, m, err);
}

static enum xz_rpc_status
end_op(struct xz_net_call *c, uint32_t type, struct xz_rpc_error *err)
{
	struct xz_kmsg r;
	enum xz_rpc_status st;

	xz_kbuf_u32(&c->n->out, c->id);
	if ((st = ask(c->n, type, -1, status_rule, 1, &r, err)) != XZ_RPC_OK)
		return st;
	return status_of(&r, err);
}

enum xz_rpc_status
xz_net_finish(struct xz_net_call *c, struct xz_rpc_error *err)
{
	return end_op(c, N_FINISH, err);
}

void
xz_net_cancel(struct xz_net_call *c)
{
	struct xz_rpc_error err;

	if (c != NULL && end_op(c, N_CANCEL, &err) != XZ_RPC_OK)
		(void)0;	/* a call that cannot be cancelled is over anyway */
}

void
xz_net_call_free(struct xz_net_call *c)
{
	struct xz_rpc_error err;

	if (c == NULL)
		return;
	if (end_op(c, N_FREE, &err) != XZ_RPC_OK)
		(void)0;	/* the network process frees everything when it ends */
	free(c);
}
