/*
 * The requester's network process (docs/privsep.md, "The requester").
 *
 * `xiezhi join` and `xiezhi model run` hold the node's store key and
 * signing key while they talk to peers.  So that gRPC, HTTP/2, TLS and
 * the certificate parsers never run in a process that holds them, these
 * commands fork a small child first, before the store or any key is
 * opened: the child owns every gRPC channel and call (and the node's TLS
 * key), is confined with Landlock to its TLS files and system files, and
 * moves encoded join messages between the calls and the parent over a
 * socketpair, in the framing of node/keeper.h.  The parent keeps the
 * store, the keys, the PSI engine and its blinds, and decodes every
 * message itself (xz_msg_decode) before using it.
 *
 * The child ends when the parent closes the socket or dies
 * (PR_SET_PDEATHSIG); the parent sees a dead child as a failed call.
 * Calls mirror protocol/rpc.h's client functions.
 */
#ifndef XZ_NETPROC_H
#define XZ_NETPROC_H

#include <stdint.h>
#include <sys/types.h>

#include "diag.h"
#include "rpc.h"

#define XZ_NET_MAX_CALLS 8	/* calls open at once (a delegated join uses 2) */

struct xz_net;
struct xz_net_call;

/*
 * Forks the network process.  tls: the CA, certificate and key files it
 * may read; node_dir: the directory it must not.  Call before opening the
 * store or reading a key, and before any thread exists.  *out is owned
 * by the caller (xz_net_stop).
 */
int xz_net_start(const char *const tls[3], const char *node_dir, struct xz_net **out,
    struct xz_diag *d);
/* Ends the network process and frees n (NULL is fine). */
void xz_net_stop(struct xz_net *n);
/* The network process's pid (for tests and logs). */
pid_t xz_net_pid(const struct xz_net *n);

/* A Join call to cfg's peer, with the whole call's deadline. */
enum xz_rpc_status xz_net_join(struct xz_net *n, const struct xz_rpc_client_config *cfg,
    int64_t deadline_ms, struct xz_net_call **out, struct xz_rpc_error *err) XZ_RPC_WARN;
enum xz_rpc_status xz_net_send(struct xz_net_call *c, const struct xz_msg *m,
    int64_t timeout_ms, struct xz_rpc_error *err) XZ_RPC_WARN;
/* Receives and decodes the next message (release it with xz_msg_release);
 * XZ_RPC_EOF when the peer ended the call cleanly. */
enum xz_rpc_status xz_net_recv(struct xz_net_call *c, struct xz_msg *m, int64_t timeout_ms,
    struct xz_rpc_error *err) XZ_RPC_WARN;
enum xz_rpc_status xz_net_finish(struct xz_net_call *c, struct xz_rpc_error *err) XZ_RPC_WARN;
void xz_net_cancel(struct xz_net_call *c);
/* Ends the call in the network process and frees c (NULL is fine). */
void xz_net_call_free(struct xz_net_call *c);

#endif
