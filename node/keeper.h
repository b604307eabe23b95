/*
 * Privilege separation of xiezhid (docs/operations.md §"Privilege
 * separation", SECURITY.md §"Key isolation").
 *
 * xiezhid runs as two processes.  The network process (the "front":
 * gRPC, TLS, protobuf, the join wire format) never opens keys/ or the
 * store.  The key process (the "keeper", node/keeper.c), forked before
 * gRPC starts, holds the store connection (store key), signs with the
 * node key, loads datasets and runs the PSI engine with the join's OPRF
 * key; it answers narrowly typed requests over Unix sockets and runs
 * under a seccomp filter and Landlock (node/sandbox.c).
 *
 * Channels (socketpair(AF_UNIX, SOCK_STREAM)):
 *   control   one, made at fork: the front sends SESSION (one socket end
 *             attached with SCM_RIGHTS), RELOAD and STOP; the keeper sends
 *             READY once it has started, and nothing after.  Either end
 *             closing means the other process is gone.
 *   session   one per Join call: the front asks, the keeper answers each
 *             request with exactly one reply.  The keeper enforces the
 *             order DECIDE -> START -> (PRODUCE | CONSUME)* -> CLOSE, with
 *             ABORT (or the socket closing) allowed at any point.
 *
 * Framing (in the spirit of OpenBSD imsg): a fixed 8-byte header, u32
 * type and u32 body length in host order (both ends are one binary on one
 * machine), then the body.  The receiver knows, per type, the largest body
 * it accepts and refuses the message before reading a byte of an
 * oversized body; every body is decoded with a cursor that fails on a
 * short read and on trailing bytes.  Bodies are sequences of u32, u64 and
 * byte strings (u32 length | bytes); no pointers, no structs.
 */
#ifndef XZ_KEEPER_H
#define XZ_KEEPER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "daemon.h"
#include "diag.h"

#define XZ_KMSG_HEADER_LEN	8u
/* The largest body of any message: one engine message plus framing. */
#define XZ_KMSG_MAX_BODY	(XZ_RPC_MAX_BATCH_DATA + 64u)
/* Joins the keeper serves at once (the front's gRPC server takes 16). */
#define XZ_KEEPER_MAX_SESSIONS	32u
/* How long a new keeper waits for an old one to let go of the node. */
#define XZ_KEEPER_LOCK_WAIT_MS	15000
/* How long the front waits for the keeper to start and to stop. */
#define XZ_KEEPER_START_MS	120000
#define XZ_KEEPER_STOP_MS	60000

enum xz_kmsg_type {
	/* control, front -> keeper */
	XZ_KC_SESSION = 1,	/* empty; one socket attached */
	XZ_KC_RELOAD = 2,	/* empty: SIGHUP, reload the policies */
	XZ_KC_STOP = 3,		/* empty: record node_stopped and exit */
	/* control, keeper -> front */
	XZ_KC_READY = 10,	/* u32 policies in force */
	/* session, front -> keeper */
	XZ_KS_DECIDE = 20,	/* bytes request, u32 n, n x bytes approval,
				 * bytes peer identity, bytes peer node name */
	XZ_KS_START = 21,	/* empty */
	XZ_KS_PRODUCE = 22,	/* empty */
	XZ_KS_CONSUME = 23,	/* bytes engine message from the requester */
	XZ_KS_CLOSE = 24,	/* bytes summary, bytes transcript hash */
	XZ_KS_ABORT = 25,	/* bytes reason */
	XZ_KS_PARTNER = 26,	/* bytes partner message: delegated joins, right
				 * after START (docs/protocol.md §11) */
	/* session, keeper -> front */
	XZ_KR_VERDICT = 40,	/* u32 verdict, u32 allowed, bytes reason */
	XZ_KR_PARAMS = 41,	/* bytes encoded join parameters */
	XZ_KR_OUT = 42,		/* bytes engine message for the requester */
	XZ_KR_AGAIN = 43,	/* empty: the engine waits for the requester */
	XZ_KR_DONE = 44,	/* empty: the engine has sent everything */
	XZ_KR_CONSUMED = 45,	/* empty */
	XZ_KR_RECEIPT = 46,	/* bytes transcript, bytes receipt, bytes checkpoint */
	XZ_KR_FAIL = 47,	/* u32 rpc status, u32 abort code (0: none),
				 * bytes reason; the session is over */
};

/* ---- encoding ---- */

/* A growable message body; wiped when reset or freed. */
struct xz_kbuf {
	uint8_t *p;
	size_t len, cap;
	int oom;		/* an append failed: do not send */
};
void xz_kbuf_reset(struct xz_kbuf *b);
void xz_kbuf_free(struct xz_kbuf *b);
void xz_kbuf_u32(struct xz_kbuf *b, uint32_t v);
void xz_kbuf_u64(struct xz_kbuf *b, uint64_t v);
void xz_kbuf_bytes(struct xz_kbuf *b, const void *p, size_t n);
void xz_kbuf_str(struct xz_kbuf *b, const char *s);

/* A cursor over a received body: every read checks what is left. */
struct xz_kcur {
	const uint8_t *p;
	size_t left;
	int bad;
};
uint32_t xz_kcur_u32(struct xz_kcur *c);
uint64_t xz_kcur_u64(struct xz_kcur *c);
/* Borrows a byte string of at most max bytes (*out points into the body). */
void xz_kcur_bytes(struct xz_kcur *c, size_t max, const uint8_t **out, size_t *len);
/* Copies a string of 0..cap-1 bytes; refuses NUL and control characters. */
void xz_kcur_str(struct xz_kcur *c, char *buf, size_t cap);
/* 0 when every read succeeded and no byte is left over, else -1. */
int xz_kcur_end(const struct xz_kcur *c);

/* ---- framing ---- */

/* What may arrive on a channel: a type and the largest body it may have. */
struct xz_kmsg_rule {
	uint32_t type;
	uint32_t max_len;
	int with_fd;		/* must carry exactly one socket */
};

struct xz_kmsg {
	uint32_t type;
	struct xz_kcur body;	/* points into the receive buffer */
	int fd;			/* the attached socket, or -1 */
};

/*
 * Sends one message (blocking, all of it).  body may be NULL (empty);
 * pass_fd >= 0 attaches that descriptor.  Returns 0, or -1 with errno
 * (EPIPE: the other process is gone; ENOMEM: body->oom was set).
 */
int xz_kmsg_send(int sock, uint32_t type, const struct xz_kbuf *body, int pass_fd);

/*
 * Receives one message into buf (grown as needed, never past the type's
 * max_len) and *m.  Only the types in rules are accepted.  timeout_ms < 0
 * waits as long as it takes.  Returns 0; 1 when the other end closed
 * cleanly before a new message began; -1 on anything else, with d saying
 * what (timeout, unknown type, over-long body, cut-off message, a socket
 * where none belongs).  An attached socket is the caller's to close.
 */
int xz_kmsg_recv(int sock, const struct xz_kmsg_rule *rules, size_t nrules,
    struct xz_kbuf *buf, struct xz_kmsg *m, int timeout_ms, struct xz_diag *d);

/* ---- the keeper process (node/keeper.c) ---- */

/*
 * Forks the keeper.  Call before any thread exists (gRPC's threads and
 * fork do not mix) and with SIGTERM, SIGINT and SIGHUP blocked.  actor
 * goes into node_started / node_stopped and the policy records.  In the
 * parent: *pid and *ctl (the control socket) are set and 0 is returned.
 * The child never returns: it serves until the front tells it to stop or
 * goes away, then exits.
 */
int xz_keeper_spawn(struct xz_daemon *dd, const char *actor, pid_t *pid, int *ctl,
    struct xz_diag *d);

/* Front: waits for READY; *npolicies gets the count of policies in force. */
int xz_keeper_wait_ready(int ctl, size_t *npolicies, struct xz_diag *d);

/* ---- sessions, front side ---- */

struct xz_ksession;

/* Opens a session with the keeper for one join (socketpair, SESSION). */
int xz_ksession_open(struct xz_daemon *dd, struct xz_ksession **out, struct xz_diag *d);

/*
 * Sends one request (body may be NULL) and reads the keeper's reply into
 * *reply, accepting only the reply types in rules (XZ_KR_FAIL is always
 * accepted).  The reply borrows the session's buffer until the next call.
 * -1 (d says why) when the keeper is gone, timed out or broke the
 * protocol: the session is then unusable.
 */
int xz_ksession_call(struct xz_ksession *s, uint32_t type, const struct xz_kbuf *body,
    const struct xz_kmsg_rule *rules, size_t nrules, struct xz_kmsg *reply,
    struct xz_diag *d);

/* Sends ABORT with reason (best effort) without waiting for a reply. */
void xz_ksession_abort(struct xz_ksession *s, const char *reason);

/* Ends the session (closing the socket) and frees s; NULL is fine. */
void xz_ksession_close(struct xz_ksession *s);

#endif
