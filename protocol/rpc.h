/*
 * xiezhi transport: the xiezhi.v1 Federation service over gRPC with mutual
 * TLS (docs/transport.md).  This is the only header of protocol/; gRPC and
 * protobuf-c types never leave the module.
 *
 * Messages are plain C structs (struct xz_msg) whose byte fields borrow
 * memory: for sending, the caller's; for a received message, the message's
 * own storage, released with xz_msg_release.  Every field has a cap below,
 * checked on the raw bytes before anything is unpacked.
 *
 * Every function returns an enum xz_rpc_status; on anything but XZ_RPC_OK
 * (and XZ_RPC_EOF where documented) it fills *err with the status and a
 * message saying what failed and what to do.  Messages never contain the
 * payload of a join (requests, batches, identifiers).
 *
 * Threading: a stream is used by one thread at a time; xz_rpc_cancel may be
 * called from any thread.  Server handlers each run on their own thread.
 */
#ifndef XZ_RPC_H
#define XZ_RPC_H

#include <stddef.h>
#include <stdint.h>

#define XZ_RPC_WIRE_VERSION 1u

/* Limits (bytes unless said otherwise).  XZ_RPC_MAX_MESSAGE is also gRPC's
 * maximum receive and send length on every channel and server. */
#define XZ_RPC_MAX_MESSAGE    (4u << 20)
#define XZ_RPC_MAX_BATCH_DATA (2u << 20)
#define XZ_RPC_MAX_REQUEST    (64u << 10)
#define XZ_RPC_MAX_APPROVALS  16u          /* count */
#define XZ_RPC_MAX_APPROVAL   (4u << 10)
#define XZ_RPC_MIN_JOIN_ID    16u
#define XZ_RPC_MAX_JOIN_ID    64u
#define XZ_RPC_MAX_DATASET    128u
#define XZ_RPC_MAX_REASON     1024u
#define XZ_RPC_MAX_PARAMS     (64u << 10)
#define XZ_RPC_MAX_HASH       64u
#define XZ_RPC_MAX_RECEIPT    (16u << 10)
#define XZ_RPC_MAX_CHECKPOINT (4u << 10)
#define XZ_RPC_MAX_IDENTITY   253u         /* a DNS name */
#define XZ_RPC_MAX_PEM_FILE   (1u << 20)

#define XZ_RPC_WARN __attribute__((warn_unused_result))

enum xz_rpc_status {
	XZ_RPC_OK = 0,
	XZ_RPC_EOF,             /* the peer finished sending (not an error) */
	XZ_RPC_CANCELLED,       /* the call was cancelled (locally or by the peer) */
	XZ_RPC_INVALID,         /* malformed or over-limit message, bad argument */
	XZ_RPC_DEADLINE,        /* a deadline passed */
	XZ_RPC_UNAUTHENTICATED, /* peer identity missing or not acceptable */
	XZ_RPC_DENIED,          /* the peer refused us */
	XZ_RPC_TOO_LARGE,       /* a message exceeded XZ_RPC_MAX_MESSAGE */
	XZ_RPC_UNAVAILABLE,     /* no connection: address, TLS handshake, peer gone */
	XZ_RPC_ABORTED,         /* the peer's handler gave up */
	XZ_RPC_INTERNAL,        /* a bug or resource failure on either side */
	XZ_RPC_UNIMPLEMENTED,   /* the peer does not serve that method */
	XZ_RPC_CONFIG,          /* local configuration (files, addresses) unusable */
};

struct xz_rpc_error {
	enum xz_rpc_status status;
	char msg[512];
};

/* Short lowercase name of a status ("deadline", "unavailable", ...). */
const char *xz_rpc_status_name(enum xz_rpc_status st);

struct xz_rpc_bytes {
	const uint8_t *ptr;
	size_t len;
};

enum xz_msg_kind {
	XZ_MSG_NONE = 0,
	XZ_MSG_OPEN = 1,
	XZ_MSG_OPEN_REPLY = 2,
	XZ_MSG_BATCH = 3,
	XZ_MSG_CLOSE = 4,
	XZ_MSG_RECEIPT = 5,
	XZ_MSG_ABORT = 6,
};

/* Strings are NUL-terminated UTF-8 without control characters. */
struct xz_msg_open {
	uint32_t version;
	struct xz_rpc_bytes join_id;
	struct xz_rpc_bytes request;
	struct xz_rpc_bytes approvals[XZ_RPC_MAX_APPROVALS];
	size_t n_approvals;
	const char *dataset;
};
struct xz_msg_open_reply {
	int accepted;
	uint32_t refusal_code;
	const char *reason;
	struct xz_rpc_bytes params;
};
struct xz_msg_batch {
	uint64_t seq;
	uint32_t phase;
	struct xz_rpc_bytes data;
	int last;
};
struct xz_msg_close {
	struct xz_rpc_bytes transcript_hash;
};
struct xz_msg_receipt {
	struct xz_rpc_bytes transcript_hash;
	struct xz_rpc_bytes signed_receipt;
	const char *checkpoint;
};
struct xz_msg_abort {
	uint32_t code;
	const char *reason;
};

struct xz_msg {
	enum xz_msg_kind kind;
	union {
		struct xz_msg_open open;
		struct xz_msg_open_reply open_reply;
		struct xz_msg_batch batch;
		struct xz_msg_close close;
		struct xz_msg_receipt receipt;
		struct xz_msg_abort abort;
	} u;
	void *storage; /* set on received messages; see xz_msg_release */
};

/*
 * Encodes m as a xiezhi.v1.JoinMessage into a malloc'd buffer (*out, *len),
 * after checking every field against its cap.  NULL strings encode as "".
 */
enum xz_rpc_status xz_msg_encode(const struct xz_msg *m, uint8_t **out, size_t *len,
                                 struct xz_rpc_error *err) XZ_RPC_WARN;
/*
 * Decodes len hostile bytes into *m.  The wire form is checked first (known
 * field numbers and wire types only, exactly one message kind, every cap,
 * UTF-8 strings), then unpacked.  On success *m owns storage: call
 * xz_msg_release.  On failure *m is empty.
 */
enum xz_rpc_status xz_msg_decode(const uint8_t *buf, size_t len, struct xz_msg *m,
                                 struct xz_rpc_error *err) XZ_RPC_WARN;
/* Frees a decoded message's storage and empties *m; safe on empty messages. */
void xz_msg_release(struct xz_msg *m);
/* "open", "open_reply", "batch", ... */
const char *xz_msg_kind_name(enum xz_msg_kind k);

/* PEM files of one node: the federation CA bundle (trust anchors for the
 * peer), this node's certificate chain and its private key (mode 0600). */
struct xz_rpc_tls {
	const char *ca_file;
	const char *cert_file;
	const char *key_file;
};

struct xz_rpc_stream;

/* ---- server ---- */

/*
 * Runs one Join call on its own thread.  peer is the authenticated identity
 * of the client (see docs/transport.md: the verified certificate's CN, which
 * must also be one of its DNS SANs when it has any).  Return XZ_RPC_OK to end
 * the call with status OK; anything else ends it with that status and
 * why->msg as the status details (no secrets or identifiers in it).  A
 * handler that must know whether the call really completed (to audit it as
 * completed or aborted) ends it itself with xz_rpc_server_close.
 */
typedef enum xz_rpc_status (*xz_rpc_join_handler)(struct xz_rpc_stream *s, const char *peer,
                                                  void *arg, struct xz_rpc_error *why);

struct xz_rpc_server_config {
	const char *listen;       /* "host:port"; port 0 picks a free one */
	struct xz_rpc_tls tls;
	const char *identity;     /* this node's identity, reported by Health */
	xz_rpc_join_handler handler;
	void *handler_arg;
	unsigned max_calls;       /* concurrent calls; 0 means 16 */
};

struct xz_rpc_server;

/* Loads the credentials, binds, and starts serving.  *port gets the bound
 * port (may be NULL). */
enum xz_rpc_status xz_rpc_server_start(const struct xz_rpc_server_config *cfg,
                                       struct xz_rpc_server **out, int *port,
                                       struct xz_rpc_error *err) XZ_RPC_WARN;
/*
 * Stops accepting calls, lets running calls finish for up to grace_ms, then
 * cancels the rest, waits for every handler thread to return and frees the
 * server.  Safe on NULL.
 */
void xz_rpc_server_stop(struct xz_rpc_server *srv, int grace_ms);

/* ---- client ---- */

struct xz_rpc_client_config {
	const char *target;          /* "host:port" of the peer */
	struct xz_rpc_tls tls;
	const char *server_identity; /* the identity the peer's certificate must carry */
};

struct xz_rpc_client;

/* Loads the credentials and creates a channel (connections are made lazily,
 * by the first call). */
enum xz_rpc_status xz_rpc_client_new(const struct xz_rpc_client_config *cfg,
                                     struct xz_rpc_client **out,
                                     struct xz_rpc_error *err) XZ_RPC_WARN;
/* Frees the client; every stream it opened must be freed first.  Safe on NULL. */
void xz_rpc_client_free(struct xz_rpc_client *c);

/*
 * Starts a Join call that must be over within deadline_ms (> 0): when it
 * passes, every pending and later operation fails with XZ_RPC_DEADLINE, on
 * both sides.  Free the stream with xz_rpc_stream_free.
 */
enum xz_rpc_status xz_rpc_join(struct xz_rpc_client *c, int64_t deadline_ms,
                               struct xz_rpc_stream **out, struct xz_rpc_error *err) XZ_RPC_WARN;

/* Asks the peer for its identity and wire version (a unary call). */
enum xz_rpc_status xz_rpc_health(struct xz_rpc_client *c, int64_t deadline_ms,
                                 char identity[XZ_RPC_MAX_IDENTITY + 1], uint32_t *version,
                                 struct xz_rpc_error *err) XZ_RPC_WARN;

/* ---- streams (both sides) ---- */

/*
 * Sends one message, waiting at most timeout_ms (<= 0: until the call's
 * deadline) for gRPC's flow control to take it.  A timeout cancels the call.
 */
enum xz_rpc_status xz_rpc_send(struct xz_rpc_stream *s, const struct xz_msg *m,
                               int64_t timeout_ms, struct xz_rpc_error *err) XZ_RPC_WARN;
/*
 * Receives one message into *m (release it with xz_msg_release), waiting at
 * most timeout_ms (<= 0: until the call's deadline).  Returns XZ_RPC_EOF when
 * the peer finished sending cleanly; on a client, any other end of the
 * stream returns the call's final status (e.g. the server handler's refusal).
 * On a server, a client that cancels is normally reported as
 * XZ_RPC_CANCELLED, but may show as XZ_RPC_EOF: see xz_rpc_server_close.
 * A timeout cancels the call; an invalid message cancels it too.
 */
enum xz_rpc_status xz_rpc_recv(struct xz_rpc_stream *s, struct xz_msg *m, int64_t timeout_ms,
                               struct xz_rpc_error *err) XZ_RPC_WARN;
/*
 * Client only: half-closes (no more sends) and waits for the server's final
 * status, which is returned (XZ_RPC_OK when the handler succeeded).  Messages
 * the server sent and the client did not read are discarded.
 */
enum xz_rpc_status xz_rpc_finish(struct xz_rpc_stream *s, struct xz_rpc_error *err) XZ_RPC_WARN;
/*
 * Server only: ends the call now with status st (XZ_RPC_OK, or an error
 * with why as the details) and waits for gRPC's verdict on the call.
 * Returns XZ_RPC_OK when the call ended cleanly, or XZ_RPC_CANCELLED /
 * XZ_RPC_DEADLINE when the client had cancelled, gone away or run out of
 * time first: the definitive answer to "did this join complete", which
 * XZ_RPC_EOF from xz_rpc_recv alone cannot give (a cancellation may be
 * reported a moment after the end of the client's messages).  After it,
 * the handler only returns (its return value is then ignored).
 */
enum xz_rpc_status xz_rpc_server_close(struct xz_rpc_stream *s, enum xz_rpc_status st,
                                       const char *why, struct xz_rpc_error *err) XZ_RPC_WARN;
/* Cancels the call; any thread, any time before the stream is freed. */
void xz_rpc_cancel(struct xz_rpc_stream *s);
/* The authenticated peer identity (the server's, on a client). */
const char *xz_rpc_peer(const struct xz_rpc_stream *s);
/* Client only: cancels the call if it is not finished and frees the stream. */
void xz_rpc_stream_free(struct xz_rpc_stream *s);

/* ---- for tests and diagnostics ---- */

/*
 * Sends raw bytes as one Join message, bypassing encoding and its checks, so
 * tests can show what the peer does with garbage.  Same rules as xz_rpc_send.
 */
enum xz_rpc_status xz_rpc_send_raw(struct xz_rpc_stream *s, const uint8_t *buf, size_t len,
                                   int64_t timeout_ms, struct xz_rpc_error *err) XZ_RPC_WARN;

#endif
