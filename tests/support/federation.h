/*
 * Two-node federation fixture for the integration tests: a throwaway CA
 * and node certificates (deploy/pki), a data owner "tax" (tax.example)
 * and a requester "proc" (proc.example) made with the real `xiezhi`, two
 * approver keys, a policy signed off by both, and the owner's real
 * xiezhid on 127.0.0.1.  Every helper fails the running cmocka test (with
 * what the program printed) when a step it needs does not succeed.
 *
 * Layout under a test's temporary directory tmp:
 *   tmp/ca/ca.pem, tmp/pki/<id>.pem|.key   certificates
 *   tmp/lead.key|.pub, tmp/officer.key|.pub approver keys
 */
#ifndef XZ_FEDERATION_H
#define XZ_FEDERATION_H

#include <sys/types.h>

#include "testsupport.h"

/* Runs the xiezhi CLI with args (NULL-terminated) and extra environment
 * entries env ("K=V", NULL-terminated, may be NULL); output captured. */
void xzf_runv(struct xzt_run *r, const char *const *env, const char *const *args);
#define XZF_RUN(r, ...) xzf_runv((r), NULL, (const char *const[]){ __VA_ARGS__, NULL })

/* Fails the test with the program's output unless it exited 0; frees r. */
void xzf_must(struct xzt_run *r, const char *what);

/* Monotonic clock in milliseconds. */
long long xzf_now_ms(void);

/* Forks and execs argv (argv[0] a path) with stdout truncated into out,
 * stderr appended to err and env entries ("K=V", may be NULL) added. */
pid_t xzf_spawn(const char *const argv[], const char *const env[], const char *out,
    const char *err);

/* Waits for pid for at most ms; returns its exit status (128+signal when
 * killed), or -1 after killing it when it did not end in time. */
int xzf_wait_child(pid_t pid, int ms);

/* Fills in the node directories tmp/tax (owner) and tmp/proc (req) and
 * the daemon's log path tmp/xiezhid.log; each buffer holds cap bytes. */
void xzf_node_paths(const char *tmp, size_t cap, char *owner, char *req, char *log);

/*
 * Makes the CA and both node certificates under tmp, runs `xiezhi init`
 * for owner ("tax") and req ("proc"), points each at its certificate
 * and the CA, and has the owner listen on 127.0.0.1:0.
 */
void xzf_two_nodes(const char *tmp, const char *owner, const char *req);

/* A throwaway federation CA under tmp/ca (xzf_two_nodes makes one too). */
void xzf_make_ca(const char *tmp);

/* One more node dir named name with a certificate for identity id (from the
 * CA xzf_two_nodes made); listening on 127.0.0.1:0 when listen. */
void xzf_add_node(const char *tmp, const char *dir, const char *name, const char *id,
    int listen);

/* Points req's peer `name` at 127.0.0.1:port with identity id. */
void xzf_set_peer_to(const char *req, const char *name, const char *id, int port);

/* `xiezhi dataset import` of tmp/csv as dataset in node dir, keyed on
 * code:text, with label columns ("name:type", NULL-terminated, may be
 * NULL). */
void xzf_import(const char *tmp, const char *csv, const char *dataset, const char *dir,
    const char *const *columns);

/* `xiezhi keygen` for the two approvers, tmp/lead and tmp/officer. */
void xzf_keygen_approvers(const char *tmp);

/* A public key file under tmp, trailing newline removed; malloc'd. */
char *xzf_read_pub(const char *tmp, const char *name);

/* Writes the policy file path: head (every field up to `approvals`)
 * followed by a 2-of-2 approvals block naming lead and officer with
 * their public keys from tmp. */
void xzf_write_policy(const char *tmp, const char *path, const char *head);

/* Approves the request file req with the lead's key (approvals >= 1)
 * and then the officer's (approvals >= 2). */
void xzf_approve(const char *tmp, const char *req, int approvals);

/*
 * Starts `xiezhid --dir owner --grace grace` (with env entries added,
 * may be NULL), its stderr in log (removed first), and waits up to 20 s
 * for "listening on port N" there.  *pid gets the daemon.  Returns the
 * port; or 0 when the daemon exited first: then *pid is 0 and *status
 * its exit status.  Fails the test when it neither listens nor exits.
 */
int xzf_start_xiezhid(const char *owner, const char *grace, const char *log,
    const char *const *env, pid_t *pid, int *status);

/*
 * xiezhid runs as two processes (node/keeper.h): the network process (the
 * pid xzf_start_xiezhid returns) and its child, the key process.  The key
 * process of daemon, or 0 when it has none.
 */
pid_t xzf_keeper_pid(pid_t daemon);

/* A crash of the node: the key process is stopped (SIGSTOP), then both
 * processes get SIGKILL, so neither can react to the other's end (the
 * caller still reaps daemon).  Fails the test when daemon has no key
 * process. */
void xzf_kill_node(pid_t daemon);

/* Waits up to ms for pid (not necessarily a child) to have ended (gone or
 * a zombie); returns 0, or -1 when it is still running. */
int xzf_wait_gone(pid_t pid, int ms);

/* Points req's peer "tax" at 127.0.0.1:port, identity tax.example. */
void xzf_set_peer(const char *req, int port);

/* The daemon's log, or "(none)"; malloc'd. */
char *xzf_log_text(const char *log);

#endif
