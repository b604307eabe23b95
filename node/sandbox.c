/*
 * Sandboxing of xiezhid's processes (node/sandbox.h).
 *
 * Landlock is called through raw system calls (<linux/landlock.h>; glibc
 * has no wrappers): a ruleset handling every file-system right the kernel
 * knows (ABI 1 to 5), one "path beneath" rule per allowed path, then
 * no_new_privs and landlock_restrict_self.  Rights the kernel does not
 * know are left out of the handled set, so an older kernel enforces what
 * it can (Landlock's documented best-effort pattern).
 *
 * The keeper's seccomp filter is built with libseccomp.  Default action:
 * SECCOMP_RET_TRAP, whose SIGSYS handler logs the call number and exits,
 * so a call we did not foresee stops the keeper with a line an operator
 * can report instead of a silent EPERM somewhere inside SQLite.  The
 * calls an attacker would want first (network sockets, exec, ptrace,
 * reading another process's memory, new namespaces, BPF) kill the process
 * outright: a compromised keeper cannot catch those with its own SIGSYS
 * handler.
 */
#include "sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/landlock.h>
#include <sched.h>
#include <seccomp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "cli.h"

/* Rights newer than Debian 12's <linux/landlock.h> (kernel 6.1, ABI 2). */
#ifndef LANDLOCK_ACCESS_FS_REFER
#define LANDLOCK_ACCESS_FS_REFER	(1ULL << 13)
#endif
#ifndef LANDLOCK_ACCESS_FS_TRUNCATE
#define LANDLOCK_ACCESS_FS_TRUNCATE	(1ULL << 14)
#endif
#ifndef LANDLOCK_ACCESS_FS_IOCTL_DEV
#define LANDLOCK_ACCESS_FS_IOCTL_DEV	(1ULL << 15)
#endif

#define LL_FILE_READ	LANDLOCK_ACCESS_FS_READ_FILE
#define LL_DIR_READ	(LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_READ_DIR)
#define LL_EXEC		LANDLOCK_ACCESS_FS_EXECUTE
#define LL_FILE_WRITE	(LANDLOCK_ACCESS_FS_WRITE_FILE | LANDLOCK_ACCESS_FS_TRUNCATE)
#define LL_DIR_WRITE	(LL_FILE_WRITE | LANDLOCK_ACCESS_FS_REMOVE_DIR | \
    LANDLOCK_ACCESS_FS_REMOVE_FILE | LANDLOCK_ACCESS_FS_MAKE_DIR | \
    LANDLOCK_ACCESS_FS_MAKE_REG | LANDLOCK_ACCESS_FS_MAKE_SYM | LANDLOCK_ACCESS_FS_REFER)
/* Rights that apply to a regular file (a rule on a file may hold no other). */
#define LL_FILE_RIGHTS	(LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_WRITE_FILE | \
    LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_TRUNCATE | \
    LANDLOCK_ACCESS_FS_IOCTL_DEV)

/* Every file-system right of ABI version abi. */
static uint64_t
ll_handled(long abi)
{
	uint64_t h = (LANDLOCK_ACCESS_FS_MAKE_SYM << 1) - 1;	/* ABI 1: bits 0..12 */

	if (abi >= 2)
		h |= LANDLOCK_ACCESS_FS_REFER;
	if (abi >= 3)
		h |= LANDLOCK_ACCESS_FS_TRUNCATE;
	if (abi >= 5)
		h |= LANDLOCK_ACCESS_FS_IOCTL_DEV;
	return h;
}

static uint64_t
ll_rights(unsigned access, int is_dir)
{
	uint64_t r = 0;

	if (access & XZ_SANDBOX_READ)
		r |= is_dir ? LL_DIR_READ : LL_FILE_READ;
	if (access & XZ_SANDBOX_EXEC)
		r |= LL_EXEC;
	if (access & XZ_SANDBOX_WRITE)
		r |= is_dir ? LL_DIR_WRITE : LL_FILE_WRITE;
	return is_dir ? r : r & LL_FILE_RIGHTS;
}

int
xz_sandbox_landlock(const struct xz_sandbox_path *paths, size_t n, struct xz_diag *d)
{
	struct landlock_ruleset_attr attr = {0};
	long abi;
	int rs = -1, rc = -1;

	abi = syscall(SYS_landlock_create_ruleset, NULL, 0, LANDLOCK_CREATE_RULESET_VERSION);
	if (abi < 0) {
		if (errno == ENOSYS || errno == EOPNOTSUPP || errno == EPERM)
			xz_diag_set(d, "Landlock is not available (%s: %s)", errno == EOPNOTSUPP ?
			    "disabled at boot" : errno == EPERM ? "refused by a system call filter" :
			    "kernel without Landlock", strerror(errno));
		else
			xz_diag_set(d, "Landlock: %s", strerror(errno));
		return 0;
	}
	attr.handled_access_fs = ll_handled(abi);
	rs = (int)syscall(SYS_landlock_create_ruleset, &attr, sizeof(attr), 0);
	if (rs < 0)
		return xz_diag_set(d, "landlock_create_ruleset: %s", strerror(errno));
	for (size_t i = 0; i < n; i++) {
		struct landlock_path_beneath_attr pb = {0};
		struct stat st;
		int fd = open(paths[i].path, O_PATH | O_CLOEXEC);

		if (fd < 0) {
			if (errno == ENOENT || errno == ENOTDIR)
				continue;	/* nothing there to allow */
			xz_diag_set(d, "Landlock: cannot open %s: %s", paths[i].path,
			    strerror(errno));
			goto done;
		}
		if (fstat(fd, &st) != 0) {
			xz_diag_set(d, "Landlock: %s: %s", paths[i].path, strerror(errno));
			close(fd);
			goto done;
		}
		pb.parent_fd = fd;
		pb.allowed_access = ll_rights(paths[i].access, S_ISDIR(st.st_mode)) &
		    attr.handled_access_fs;
		if (pb.allowed_access != 0 && syscall(SYS_landlock_add_rule, rs,
		    LANDLOCK_RULE_PATH_BENEATH, &pb, 0) != 0) {
			xz_diag_set(d, "Landlock: rule for %s: %s", paths[i].path,
			    strerror(errno));
			close(fd);
			goto done;
		}
		close(fd);
	}
	/* Required for an unprivileged restrict_self; xiezhid never executes
	 * a program, so it costs nothing. */
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
	    syscall(SYS_landlock_restrict_self, rs, 0) != 0) {
		xz_diag_set(d, "landlock_restrict_self: %s", strerror(errno));
		goto done;
	}
	rc = 1;
done:
	close(rs);
	return rc;
}

void
xz_sandbox_nodump(void)
{
	(void)prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
}

/* ---- the keeper's seccomp filter ---- */

/*
 * What the keeper calls, and for what:
 *   SQLite(Cipher) on DIR/store.db, -wal, -shm and the audit anchor:
 *     open/openat, close, read/write/pread/pwrite, lseek, fstat family,
 *     fcntl (POSIX locks), flock (audit anchor lock), fsync/fdatasync,
 *     ftruncate, unlink, rename (anchor), mkdir (DIR/audit), mmap of -shm,
 *     readlink (path resolution), access, getcwd, getdents (policies/),
 *     fchown (SQLite's own, only when running as root)
 *   threads (a thread per join; the PSI engine's workers): clone with
 *     CLONE_THREAD, futex, set_robust_list, rseq, madvise, sched_yield,
 *     sched_getaffinity (core count), prctl(PR_SET_NAME)
 *   memory, libsodium guarded pages, SQLCipher's locked pages: brk, mmap,
 *     munmap, mremap, mprotect, madvise, mlock, munlock
 *   randomness and time: getrandom, clock_gettime, clock_nanosleep,
 *     nanosleep (SQLite's busy wait), gettimeofday, time
 *   the inherited sockets: recvmsg, sendmsg, recvfrom, sendto, poll,
 *     shutdown, write (the log on stderr)
 *   process basics: exit, exit_group, getpid, gettid, getuid, geteuid,
 *     rt_sigprocmask, rt_sigaction, rt_sigreturn, sysinfo (qsort sizing),
 *     tgkill on itself (abort)
 */
static const char *const keeper_allow[] = {
	"read", "write", "readv", "writev", "pread64", "pwrite64", "preadv", "pwritev",
	"lseek", "close", "open", "openat", "stat", "fstat", "lstat", "newfstatat",
	"statx", "access", "faccessat", "faccessat2", "readlink", "readlinkat", "getcwd",
	"getdents64", "fcntl", "flock", "fsync", "fdatasync", "ftruncate", "unlink",
	"unlinkat", "rename", "renameat", "renameat2", "mkdir", "mkdirat", "fchown",
	"brk", "mmap", "munmap", "mremap", "mprotect", "madvise", "mlock", "munlock",
	"futex", "set_robust_list", "get_robust_list", "rseq", "sched_yield",
	"sched_getaffinity", "getrandom", "clock_gettime", "clock_getres",
	"clock_nanosleep", "nanosleep", "gettimeofday", "time", "recvmsg", "sendmsg",
	"recvfrom", "sendto", "poll", "ppoll", "shutdown", "exit", "exit_group",
	"getpid", "gettid", "getuid", "geteuid", "getgid", "getegid", "rt_sigprocmask",
	"rt_sigaction", "rt_sigreturn", "sysinfo", "restart_syscall",
};

/* Never needed, and what an attacker who took over the keeper would reach
 * for: these kill the process. */
static const char *const keeper_kill[] = {
	"socket", "socketpair", "connect", "bind", "listen", "accept", "accept4",
	"execve", "execveat", "fork", "vfork", "process_vm_readv", "process_vm_writev",
	"pidfd_open", "pidfd_getfd", "unshare", "setns", "mount", "umount2",
	"pivot_root", "chroot", "bpf", "perf_event_open", "keyctl", "add_key",
	"request_key", "init_module", "finit_module", "delete_module", "kexec_load",
	"kexec_file_load", "open_by_handle_at", "name_to_handle_at", "userfaultfd",
	"io_uring_setup", "memfd_create", "setuid", "setgid", "setreuid", "setregid",
	"setresuid", "setresgid", "setgroups", "personality",
#ifndef XIEZHI_SANITIZE
	"ptrace",
#endif
};

#ifdef XIEZHI_SANITIZE
/* What ASan/UBSan/LSan's runtime does when it reports or checks for leaks
 * at exit: LSan stops the world from a helper task it clones and that
 * ptraces the threads; reports read /proc/self/maps and may try to start
 * llvm-symbolizer (that exec is killed, so keeper reports in sanitizer
 * builds are unsymbolized: run them through llvm-symbolizer by hand). */
static const char *const sanitizer_allow[] = {
	"ptrace", "wait4", "waitid", "prctl", "sigaltstack", "kill", "tgkill", "tkill",
	"getppid", "prlimit64", "getrlimit", "setrlimit", "mincore", "pipe", "pipe2",
	"dup", "dup2", "dup3", "sched_getparam", "getrusage", "uname", "msync", "getdents",
};
#endif

/* Formats n in decimal into buf (async-signal-safe); returns the length. */
static size_t
fmt_uint(char *buf, unsigned long n)
{
	char tmp[24];
	size_t l = 0, i = 0;

	do {
		tmp[l++] = (char)('0' + n % 10);
		n /= 10;
	} while (n > 0);
	while (l > 0)
		buf[i++] = tmp[--l];
	return i;
}

static void
on_sigsys(int sig, siginfo_t *si, void *ctx)
{
	static const char a[] = "error keeper: the key process's sandbox refused system "
	    "call ";
	static const char b[] = "; stopping (please report this)\n";
	char line[sizeof(a) + sizeof(b) + 24];
	size_t n = 0;

	(void)sig;
	(void)ctx;
	memcpy(line, a, sizeof(a) - 1);
	n = sizeof(a) - 1;
	n += fmt_uint(line + n, (unsigned long)(unsigned)si->si_syscall);
	memcpy(line + n, b, sizeof(b) - 1);
	n += sizeof(b) - 1;
	if (write(STDERR_FILENO, line, n) < 0)
		_exit(XZ_EXIT_FAIL);
	_exit(XZ_EXIT_FAIL);
}

static int
add_names(scmp_filter_ctx ctx, uint32_t action, const char *const *names, size_t n,
    struct xz_diag *d)
{
	for (size_t i = 0; i < n; i++) {
		int nr = seccomp_syscall_resolve_name(names[i]);
		int rc;
		if (nr == __NR_SCMP_ERROR)
			continue;	/* not a call of this architecture */
		if ((rc = seccomp_rule_add(ctx, action, nr, 0)) != 0)
			return xz_diag_set(d, "seccomp rule for %s: %s", names[i], strerror(-rc));
	}
	return 0;
}

int
xz_sandbox_keeper_seccomp(struct xz_diag *d)
{
	struct sigaction sa;
	scmp_filter_ctx ctx;
	int rc = -1, r;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_sigsys;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGSYS, &sa, NULL) != 0)
		return xz_diag_set(d, "sigaction(SIGSYS): %s", strerror(errno));
	if ((ctx = seccomp_init(SCMP_ACT_TRAP)) == NULL)
		return xz_diag_set(d, "seccomp_init failed (out of memory?)");
	if (add_names(ctx, SCMP_ACT_ALLOW, keeper_allow,
	    sizeof(keeper_allow) / sizeof(keeper_allow[0]), d) != 0 ||
	    add_names(ctx, SCMP_ACT_KILL_PROCESS, keeper_kill,
	    sizeof(keeper_kill) / sizeof(keeper_kill[0]), d) != 0)
		goto done;
#ifdef XIEZHI_SANITIZE
	if (add_names(ctx, SCMP_ACT_ALLOW, sanitizer_allow,
	    sizeof(sanitizer_allow) / sizeof(sanitizer_allow[0]), d) != 0)
		goto done;
	r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(clone), 0);
#else
	/* Threads only: a clone without CLONE_THREAD would be a new process. */
	r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(clone), 1,
	    SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD, CLONE_THREAD));
	if (r == 0)
		r = seccomp_rule_add(ctx, SCMP_ACT_KILL_PROCESS, SCMP_SYS(clone), 1,
		    SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD, 0));
	/* Threads name themselves; no other prctl. */
	if (r == 0)
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(prctl), 1,
		    SCMP_A0(SCMP_CMP_EQ, PR_SET_NAME));
	/* abort() signals its own process, nothing else. */
	if (r == 0)
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(tgkill), 1,
		    SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)getpid()));
#endif
	/* clone3's flags sit behind a pointer a filter cannot read: ENOSYS
	 * makes glibc fall back to clone, which the rules above check. */
	if (r == 0)
		r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
	if (r != 0) {
		xz_diag_set(d, "seccomp rules for clone/prctl: %s", strerror(-r));
		goto done;
	}
	if ((r = seccomp_load(ctx)) != 0) {
		xz_diag_set(d, "seccomp_load: %s", strerror(-r));
		goto done;
	}
	rc = 0;
done:
	seccomp_release(ctx);
	return rc;
}

/* 1 when path is dir or lies beneath it. */
static int
path_within(const char *path, const char *dir)
{
	size_t n = strlen(dir);

	while (n > 1 && dir[n - 1] == '/')
		n--;
	return strncmp(path, dir, n) == 0 && (path[n] == '\0' || path[n] == '/' ||
	    (n == 1 && dir[0] == '/'));
}

int
xz_sandbox_network(const char *const tls[3], const char *node_dir, struct xz_diag *d)
{
	const struct xz_sandbox_path wanted[] = {
		{ tls[0], XZ_SANDBOX_READ },
		{ tls[1], XZ_SANDBOX_READ },
		{ tls[2], XZ_SANDBOX_READ },
		{ "/etc/ssl", XZ_SANDBOX_READ },
		{ "/usr/lib/ssl", XZ_SANDBOX_READ },
		{ "/usr/share/grpc", XZ_SANDBOX_READ },
		{ "/etc/hosts", XZ_SANDBOX_READ },
		{ "/etc/host.conf", XZ_SANDBOX_READ },
		{ "/etc/resolv.conf", XZ_SANDBOX_READ },
		{ "/etc/nsswitch.conf", XZ_SANDBOX_READ },
		{ "/etc/gai.conf", XZ_SANDBOX_READ },
		{ "/etc/services", XZ_SANDBOX_READ },
		{ "/etc/localtime", XZ_SANDBOX_READ },
		{ "/usr/lib", XZ_SANDBOX_READ | XZ_SANDBOX_EXEC },
		{ "/lib", XZ_SANDBOX_READ | XZ_SANDBOX_EXEC },
		{ "/lib64", XZ_SANDBOX_READ | XZ_SANDBOX_EXEC },
		{ "/dev/urandom", XZ_SANDBOX_READ },
		{ "/sys/devices/system/cpu", XZ_SANDBOX_READ },
		/* gRPC sizes its listen backlog from it. */
		{ "/proc/sys/net/core/somaxconn", XZ_SANDBOX_READ },
		/* Naming gRPC's threads (pthread_setname_np) writes their comm;
		 * /proc/self is resolved now, to this process only. */
		{ "/proc/self/task", XZ_SANDBOX_READ | XZ_SANDBOX_WRITE },
#ifdef XIEZHI_SANITIZE
		/* ASan/LSan: /proc/self/maps and threads, llvm-symbolizer. */
		{ "/proc", XZ_SANDBOX_READ },
		{ "/usr/bin", XZ_SANDBOX_READ | XZ_SANDBOX_EXEC },
#endif
	};
	struct xz_sandbox_path paths[sizeof(wanted) / sizeof(wanted[0])];
	size_t n = 0;

	/* A system path that holds the node directory is left out, so keys/
	 * and the store stay out of reach wherever the node lives. */
	for (size_t i = 0; i < sizeof(wanted) / sizeof(wanted[0]); i++)
		if (i < 3 || !path_within(node_dir, wanted[i].path))
			paths[n++] = wanted[i];
	return xz_sandbox_landlock(paths, n, d);
}
