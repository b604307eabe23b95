/*
 * xiezhid's shared state: the node directory, its config and the policies
 * in force.  xiezhid runs as two processes (node/keeper.h): the network
 * process answers Join calls on gRPC's threads (protocol/rpc.h) and never
 * opens the store; the key process holds the policies, and each join it
 * serves opens its own store connection and takes a snapshot of the
 * policies, so a reload (SIGHUP) never changes the rules under a join in
 * progress.  Both start from the same struct (the keeper is forked).
 */
#ifndef XZ_DAEMON_H
#define XZ_DAEMON_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "diag.h"
#include "node.h"
#include "nodeconf.h"
#include "policy.h"
#include "rpc.h"

/* Per-operation timeouts of a join (the call's own deadline still applies). */
#define XZ_DAEMON_OPEN_TIMEOUT_MS	30000
#define XZ_DAEMON_STEP_TIMEOUT_MS	300000

/* One policy file as loaded: what the audit log records about it. */
struct xz_daemon_policy_file {
	char name[256];			/* file name inside DIR/policies */
	char policy[XZ_NAME_MAX + 16];	/* "id@version" */
	uint8_t hash[32];		/* SHA-256 of the file */
};

struct xz_daemon {
	char dir[4096];
	struct xz_nodeconf conf;
	pthread_mutex_t lock;		/* guards everything below */
	struct xz_policy *policies;
	size_t npolicies;
	struct xz_daemon_policy_file *files;
	size_t nfiles;
	uint64_t joins_served;
	/* Serialises audit appends and anchor publication across join threads
	 * (each has its own store connection).  Key process. */
	pthread_mutex_t audit_lock;
	/* Network process: the control socket to the key process (-1 when
	 * none) and the lock that serialises sending on it. */
	int keeper_ctl;
	pthread_mutex_t keeper_lock;
};

/* Reads the config; no policies yet.  *out owned by the caller. */
int xz_daemon_new(const char *dir, struct xz_daemon **out, struct xz_diag *d);
void xz_daemon_free(struct xz_daemon *dd);

/*
 * Loads every policy file of DIR/policies (all must parse, or nothing
 * changes), records policy_loaded / policy_changed for each file that is
 * new or different from the set in force (actor: who asked), then swaps
 * the set in.  *loaded / *changed (may be NULL) get the counts.
 */
int xz_daemon_load_policies(struct xz_daemon *dd, struct xz_node *node, const char *actor,
    size_t *loaded, size_t *changed, struct xz_diag *d);

/* Copies the policies in force (malloc'd array; free()). */
int xz_daemon_policy_snapshot(struct xz_daemon *dd, struct xz_policy **out, size_t *n,
    struct xz_diag *d);

/*
 * Reads every "*.yaml" file of dir (names starting with '.' skipped, name
 * order, at most XZ_POLICY_DIR_MAX), hashing and parsing the same bytes.
 * Fails on the first file that does not parse and when two files hold the
 * same id and version.  *out (and *pols when not NULL) are malloc'd arrays
 * of *n entries.
 */
int xz_daemon_policy_files(const char *dir, struct xz_daemon_policy_file **out,
    struct xz_policy **pols, size_t *n, struct xz_diag *d);

/* The TLS file paths of the config, resolved against the node directory. */
struct xz_daemon_tls_paths {
	char ca[4096], cert[4096], key[4096];
};
int xz_daemon_tls_paths(const struct xz_daemon *dd, struct xz_daemon_tls_paths *p,
    struct xz_diag *d);

/*
 * Closes joins this node's log shows as started (in role "responder" or
 * "requester") but never completed or aborted — the process died during
 * them — with a join_aborted record each (reason: the node stopped during
 * the join), so both logs end every join.  *closed (may be NULL) gets the
 * count.  Run at start, before new joins of that role.
 */
int xz_daemon_close_dangling(struct xz_node *node, const char *role, const char *actor,
    size_t *closed, struct xz_diag *d);

/*
 * The responder's Join handler in the network process (node/responder.c):
 * reads the join off the wire and has the key process (dd->keeper_ctl)
 * decide and compute it; arg is the xz_daemon.
 */
enum xz_rpc_status xz_responder_join(struct xz_rpc_stream *s, const char *peer, void *arg,
    struct xz_rpc_error *why);

#endif
