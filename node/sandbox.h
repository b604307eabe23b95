/*
 * What xiezhid's two processes give up once started (node/keeper.h):
 * Landlock file-system rules for both, the keeper's seccomp allow-list,
 * and no core dumps or ptrace by other processes of the same user.
 * docs/operations.md §"Privilege separation" lists every rule and why.
 */
#ifndef XZ_SANDBOX_H
#define XZ_SANDBOX_H

#include <stddef.h>

#include "diag.h"

/* Access a Landlock rule grants beneath a path. */
enum xz_sandbox_access {
	XZ_SANDBOX_READ = 1,		/* read files, list directories */
	XZ_SANDBOX_EXEC = 2,		/* map or run files as code */
	XZ_SANDBOX_WRITE = 4,		/* create, write, rename, remove */
};

struct xz_sandbox_path {
	const char *path;
	unsigned access;		/* enum xz_sandbox_access bits */
};

/*
 * Restricts the calling thread, and every thread and process it creates
 * afterwards, to the listed paths (Landlock, raw system calls).  Call
 * before any other thread exists.  Paths that do not exist are skipped.
 * Returns 1 when the rules are in force, 0 when the kernel has no
 * Landlock (d says why: the caller logs it and carries on), -1 when
 * applying them failed.
 */
int xz_sandbox_landlock(const struct xz_sandbox_path *paths, size_t n, struct xz_diag *d);

/*
 * Landlock for a network process (xiezhid's front, the requester's network
 * process): read access to the three TLS files (CA, certificate, key) and
 * to what the C library, OpenSSL and gRPC read (name resolution, shared
 * libraries, CPU list), nothing of node_dir.  Returns as
 * xz_sandbox_landlock.
 */
int xz_sandbox_network(const char *const tls[3], const char *node_dir, struct xz_diag *d);

/*
 * The keeper's seccomp filter (libseccomp): only the system calls the
 * keeper makes are allowed.  Calls that would reach the network, run a
 * program or read another process's memory kill the process; any other
 * call outside the list stops it with a log line naming the call number.
 * Sanitizer builds (XIEZHI_SANITIZE) also allow what the ASan/LSan
 * runtime needs to report and to check for leaks at exit.  Returns 0, or
 * -1 with d set (the keeper then refuses to serve).
 */
int xz_sandbox_keeper_seccomp(struct xz_diag *d);

/* No core dumps, no ptrace or /proc/PID/mem by other processes of the
 * same user (root with CAP_SYS_PTRACE still can). */
void xz_sandbox_nodump(void);

#endif
