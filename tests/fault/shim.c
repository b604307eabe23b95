/*
 * Disk-fault shim for the fault tests (issue 8, "Faults"): an LD_PRELOAD
 * library that wraps the calls SQLite(Cipher) uses to put the store on disk
 * (fsync, fdatasync, write, pwrite, pwrite64) and makes the Nth and later
 * matching calls fail with a chosen errno, without touching the disk.
 *
 * Driven by the environment, read once at the first wrapped call:
 *
 *   XZ_FAULT_PATH   substring of the file's path (resolved through
 *                   /proc/self/fd/N); a final '$' anchors it at the end
 *                   ("store.db$" is the database, not store.db-wal).
 *                   Unset or empty: the shim only passes calls through.
 *   XZ_FAULT_OP     fsync (fsync, fdatasync), write (write, pwrite,
 *                   pwrite64) or any.  Default fsync.
 *   XZ_FAULT_AFTER  N >= 1: the Nth matching call and every later one fail.
 *                   0 (the default) counts and logs but never fails.
 *   XZ_FAULT_ERRNO  EIO (default), ENOSPC, EDQUOT or EROFS.
 *   XZ_FAULT_LOG    optional file: one line per matching call,
 *                   "N OP PATH ok|EIO", so a test can count the calls of a
 *                   clean run and then sweep N over them.
 *
 * The counter is process-wide and atomic (xiezhid writes from several
 * threads).  Only our own test programs load this; nothing here parses
 * hostile input, but the environment is still checked strictly and a bad
 * value makes the shim abort the process rather than silently do nothing.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#if defined(__GNUC__)
#define XZ_EXPORT __attribute__((visibility("default")))
#else
#define XZ_EXPORT
#endif

enum op { OP_FSYNC = 1, OP_WRITE = 2 };

static struct {
	int ready;		/* 0 unread, 1 read (guarded by once) */
	char path[512];		/* substring to match; "" disables */
	int ops;		/* OP_FSYNC | OP_WRITE */
	unsigned long after;	/* 0: never fail */
	int err;
	int logfd;		/* -1: no log */
} cfg = { .logfd = -1 };

static unsigned long calls;	/* matching calls so far (atomic) */

static ssize_t (*real_write)(int, const void *, size_t);
static ssize_t (*real_pwrite)(int, const void *, size_t, off_t);
static ssize_t (*real_pwrite64)(int, const void *, size_t, off64_t);
static int (*real_fsync)(int);
static int (*real_fdatasync)(int);

/* A misconfigured fault test must not pass by injecting nothing. */
static void
die(const char *what, const char *value)
{
	char msg[768];
	int n = snprintf(msg, sizeof(msg), "xz-fault shim: %s: '%s'\n", what,
	    value != NULL ? value : "");

	if (n > 0 && real_write != NULL)
		(void)real_write(2, msg, (size_t)n < sizeof(msg) ? (size_t)n : sizeof(msg) - 1);
	abort();
}

static void
parse_env(void)
{
	const char *p = getenv("XZ_FAULT_PATH"), *o = getenv("XZ_FAULT_OP");
	const char *a = getenv("XZ_FAULT_AFTER"), *e = getenv("XZ_FAULT_ERRNO");
	const char *l = getenv("XZ_FAULT_LOG");

	if (p != NULL && strlen(p) >= sizeof(cfg.path))
		die("XZ_FAULT_PATH is too long", p);
	if (p != NULL)
		memcpy(cfg.path, p, strlen(p) + 1);
	if (o == NULL || strcmp(o, "fsync") == 0)
		cfg.ops = OP_FSYNC;
	else if (strcmp(o, "write") == 0)
		cfg.ops = OP_WRITE;
	else if (strcmp(o, "any") == 0)
		cfg.ops = OP_FSYNC | OP_WRITE;
	else
		die("XZ_FAULT_OP must be fsync, write or any", o);
	if (a != NULL && *a != '\0') {
		char *end;
		errno = 0;
		if (*a < '0' || *a > '9')
			die("XZ_FAULT_AFTER must be a number", a);
		cfg.after = strtoul(a, &end, 10);
		if (errno != 0 || *end != '\0')
			die("XZ_FAULT_AFTER must be a number", a);
	}
	if (e == NULL || strcmp(e, "EIO") == 0)
		cfg.err = EIO;
	else if (strcmp(e, "ENOSPC") == 0)
		cfg.err = ENOSPC;
	else if (strcmp(e, "EDQUOT") == 0)
		cfg.err = EDQUOT;
	else if (strcmp(e, "EROFS") == 0)
		cfg.err = EROFS;
	else
		die("XZ_FAULT_ERRNO must be EIO, ENOSPC, EDQUOT or EROFS", e);
	if (l != NULL && *l != '\0' &&
	    (cfg.logfd = open(l, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600)) < 0)
		die("cannot open XZ_FAULT_LOG", l);
}

/* Runs before main (and before any thread), so no locking is needed. */
__attribute__((constructor)) static void
init(void)
{
	real_write = (ssize_t (*)(int, const void *, size_t))dlsym(RTLD_NEXT, "write");
	real_pwrite = (ssize_t (*)(int, const void *, size_t, off_t))dlsym(RTLD_NEXT, "pwrite");
	real_pwrite64 = (ssize_t (*)(int, const void *, size_t, off64_t))
	    dlsym(RTLD_NEXT, "pwrite64");
	real_fsync = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
	real_fdatasync = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
	if (real_write == NULL || real_pwrite == NULL || real_pwrite64 == NULL ||
	    real_fsync == NULL || real_fdatasync == NULL)
		die("dlsym(RTLD_NEXT) did not find the libc calls", dlerror());
	parse_env();
	cfg.ready = 1;
}

static void
log_call(unsigned long n, const char *op, const char *path, int failed)
{
	char line[PATH_MAX + 96];
	int len;

	if (cfg.logfd < 0)
		return;
	len = snprintf(line, sizeof(line), "%lu %s %s %s\n", n, op, path,
	    failed ? (cfg.err == EIO ? "EIO" : "fail") : "ok");
	if (len > 0 && (size_t)len < sizeof(line))
		(void)real_write(cfg.logfd, line, (size_t)len);
}

static int
path_matches(const char *path)
{
	size_t plen = strlen(path), n = strlen(cfg.path);

	if (n > 0 && cfg.path[n - 1] == '$')
		return plen >= n - 1 && memcmp(path + plen - (n - 1), cfg.path, n - 1) == 0;
	return strstr(path, cfg.path) != NULL;
}

/* Returns 1 when this call on fd must fail (errno is then set). */
static int
inject(int fd, int kind, const char *op)
{
	char link[64], path[PATH_MAX];
	ssize_t n;
	unsigned long k;
	int fail;

	if (!cfg.ready || cfg.path[0] == '\0' || !(cfg.ops & kind) || fd == cfg.logfd)
		return 0;
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	if ((n = readlink(link, path, sizeof(path) - 1)) <= 0)
		return 0;
	path[n] = '\0';
	if (!path_matches(path))
		return 0;
	k = __atomic_add_fetch(&calls, 1, __ATOMIC_SEQ_CST);
	fail = cfg.after != 0 && k >= cfg.after;
	log_call(k, op, path, fail);
	if (fail)
		errno = cfg.err;
	return fail;
}

XZ_EXPORT ssize_t
write(int fd, const void *buf, size_t len)
{
	if (real_write == NULL)
		init();
	if (inject(fd, OP_WRITE, "write"))
		return -1;
	return real_write(fd, buf, len);
}

XZ_EXPORT ssize_t
pwrite(int fd, const void *buf, size_t len, off_t off)
{
	if (real_pwrite == NULL)
		init();
	if (inject(fd, OP_WRITE, "pwrite"))
		return -1;
	return real_pwrite(fd, buf, len, off);
}

XZ_EXPORT ssize_t
pwrite64(int fd, const void *buf, size_t len, off64_t off)
{
	if (real_pwrite64 == NULL)
		init();
	if (inject(fd, OP_WRITE, "pwrite64"))
		return -1;
	return real_pwrite64(fd, buf, len, off);
}

XZ_EXPORT int
fsync(int fd)
{
	if (real_fsync == NULL)
		init();
	if (inject(fd, OP_FSYNC, "fsync"))
		return -1;
	return real_fsync(fd);
}

XZ_EXPORT int
fdatasync(int fd)
{
	if (real_fdatasync == NULL)
		init();
	if (inject(fd, OP_FSYNC, "fdatasync"))
		return -1;
	return real_fdatasync(fd);
}
