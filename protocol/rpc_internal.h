/*
 * Internals of protocol/ shared by wire.c, stream.c, tls.c, server.c and
 * client.c.  Not installed, not included outside protocol/.
 */
#ifndef XZ_RPC_INTERNAL_H
#define XZ_RPC_INTERNAL_H

#include <grpc/grpc.h>

#include "rpc.h"

#define XZ_RPC_JOIN_METHOD "/xiezhi.v1.Federation/Join"
#define XZ_RPC_HEALTH_METHOD "/xiezhi.v1.Federation/Health"

/* Fills err (when not NULL) and returns st. */
enum xz_rpc_status xz_rpc_fail(struct xz_rpc_error *err, enum xz_rpc_status st,
                               const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Checks hostile JoinMessage bytes against the schema table (wire.c). */
enum xz_rpc_status xz_wire_check(const uint8_t *buf, size_t len, struct xz_rpc_error *err);

/*
 * One call, either side.  The call is bound to cq, a pluck queue only this
 * stream uses; each kind of operation has its own tag (the address of one of
 * the tag_* bytes), so a batch is always waited for by exactly the tag that
 * started it, and every buffer a batch references lives in this struct or on
 * the stack of the function that waits for it.
 */
struct xz_rpc_stream {
	grpc_call *call;
	grpc_completion_queue *cq;
	int is_server;
	gpr_timespec deadline;      /* monotonic; ops never wait past it */
	int md_sent;                /* initial metadata sent (with the first op) */
	int md_received;            /* client: server's initial metadata received */
	int half_closed;            /* client: SEND_CLOSE_FROM_CLIENT done */
	int finished;               /* client: status received; server: status sent */
	int close_seen;             /* server: RECV_CLOSE_ON_SERVER completed */
	int cancelled;              /* server: what RECV_CLOSE_ON_SERVER reported */
	struct xz_rpc_error dead;   /* status != OK once the call failed */
	char peer[XZ_RPC_MAX_IDENTITY + 1];
	const char *expected_peer;  /* client: identity the server must have */
	grpc_metadata_array md_initial;
	grpc_metadata_array md_trailing;
	grpc_status_code status;
	grpc_slice details;
	char tag_send, tag_recv, tag_status, tag_close;
};

/* stream.c */
void xz_stream_init(struct xz_rpc_stream *s, grpc_call *call, grpc_completion_queue *cq,
                    int is_server, gpr_timespec deadline);
/* Releases the call, its queue and buffers; every batch must be complete. */
void xz_stream_destroy(struct xz_rpc_stream *s);
/* Client: half-closes if needed and collects the final status (idempotent). */
enum xz_rpc_status xz_stream_client_status(struct xz_rpc_stream *s, struct xz_rpc_error *err);
/* Server: sends the final status (once) and waits for the call to close. */
void xz_stream_server_finish(struct xz_rpc_stream *s, enum xz_rpc_status st, const char *msg);
/* Starts RECV_CLOSE_ON_SERVER; 0 on success. */
int xz_stream_server_begin(struct xz_rpc_stream *s);
/* Runs one batch and waits for it until deadline (cancelling the call on a
 * timeout); send and receive pass xz_op_deadline, final-status waits pass
 * an infinite deadline (gRPC completes them once the call ends, and the
 * call's own deadline ends it).  Returns 1 when the batch succeeded, 0 when it failed, -1 when
 * gRPC refused to start it, -2 when it timed out (call now cancelled). */
int xz_stream_batch(struct xz_rpc_stream *s, const grpc_op *ops, size_t n, void *tag,
                    gpr_timespec deadline);
/* Reads a whole byte buffer (at most XZ_RPC_MAX_MESSAGE) into malloc'd memory. */
enum xz_rpc_status xz_bb_read(grpc_byte_buffer *bb, uint8_t **out, size_t *len,
                              struct xz_rpc_error *err);
grpc_byte_buffer *xz_bb_from(const uint8_t *buf, size_t len);
gpr_timespec xz_deadline_ms(int64_t ms);
/* The earlier of now + timeout_ms (none when <= 0) and the call's deadline. */
gpr_timespec xz_op_deadline(const struct xz_rpc_stream *s, int64_t timeout_ms);
enum xz_rpc_status xz_status_from_grpc(grpc_status_code c);
grpc_status_code xz_status_to_grpc(enum xz_rpc_status st);

/* tls.c */
struct xz_pem_set {
	char *ca;
	char *cert;
	char *key; /* cleansed before it is freed */
};
enum xz_rpc_status xz_pem_load(const struct xz_rpc_tls *tls, struct xz_pem_set *p,
                               struct xz_rpc_error *err);
void xz_pem_free(struct xz_pem_set *p);
/* The authenticated identity of the call's peer (docs/transport.md). */
enum xz_rpc_status xz_peer_identity(grpc_call *call, char out[XZ_RPC_MAX_IDENTITY + 1],
                                    struct xz_rpc_error *err);
/* True when s is a node identity we accept: 1..253 of [A-Za-z0-9.-_]. */
int xz_identity_valid(const char *s, size_t len);
/* Channel/server arguments common to both sides (limits, no compression). */
#define XZ_RPC_COMMON_ARGS 3
void xz_common_args(grpc_arg args[XZ_RPC_COMMON_ARGS]);

#endif
