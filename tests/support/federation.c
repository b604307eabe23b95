/*
 * Two-node federation fixture shared by the integration tests (see
 * federation.h).  Everything runs the real programs; nothing is faked.
 */
#include "federation.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PATH_CAP 4400
#define POLICY_CAP 8192
#define PORT_WAIT_TRIES 1000	/* of 20 ms: 20 s */

void
xzf_runv(struct xzt_run *r, const char *const *env, const char *const *args)
{
	const char *argv[48];
	int n = 0;

	argv[n++] = xzt_xiezhi_bin();
	for (; *args != NULL && n < 47; args++)
		argv[n++] = *args;
	argv[n] = NULL;
	xzt_run(r, argv, NULL, env);
}

void
xzf_must(struct xzt_run *r, const char *what)
{
	if (r->status != 0)
		fail_msg("%s failed (%d): %s%s", what, r->status, r->out, r->err);
	xzt_run_free(r);
}

long long
xzf_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

pid_t
xzf_spawn(const char *const argv[], const char *const env[], const char *out,
    const char *err)
{
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		int fo = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		int fe = open(err, O_WRONLY | O_CREAT | O_APPEND, 0600);
		if (fo < 0 || fe < 0 || dup2(fo, 1) < 0 || dup2(fe, 2) < 0)
			_exit(127);
		for (size_t i = 0; env != NULL && env[i] != NULL; i++)
			putenv((char *)(uintptr_t)env[i]);
		execv(argv[0], (char *const *)(uintptr_t)argv);
		_exit(127);
	}
	return pid;
}

int
xzf_wait_child(pid_t pid, int ms)
{
	long long end = xzf_now_ms() + ms;
	int st;

	for (;;) {
		pid_t w = waitpid(pid, &st, WNOHANG);
		if (w == pid)
			return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
		if (w < 0 && errno != EINTR)
			return -1;
		if (xzf_now_ms() > end) {
			kill(pid, SIGKILL);
			waitpid(pid, &st, 0);
			return -1;
		}
		usleep(10000);
	}
}

/* Runs one of the deploy/pki scripts with up to three arguments. */
static void
pki_script(const char *script, const char *a1, const char *a2, const char *a3)
{
	char path[PATH_CAP];
	struct xzt_run r;

	snprintf(path, sizeof(path), "%s/deploy/pki/%s", xzt_source_dir(), script);
	xzt_run(&r, (const char *const[]){ "/bin/sh", path, a1, a2, a3, NULL }, NULL, NULL);
	xzf_must(&r, script);
}

/* Points node dir at its certificate and key for identity id, and the CA. */
static void
configure_tls(const char *tmp, const char *dir, const char *id)
{
	char ca[PATH_CAP], cert[PATH_CAP], key[PATH_CAP];
	struct xzt_run r;

	snprintf(ca, sizeof(ca), "%s/ca/ca.pem", tmp);
	snprintf(cert, sizeof(cert), "%s/pki/%s.pem", tmp, id);
	snprintf(key, sizeof(key), "%s/pki/%s.key", tmp, id);
	XZF_RUN(&r, "config", "set", "identity", id, "tls_ca", ca, "tls_cert", cert,
	    "tls_key", key, "--dir", dir);
	xzf_must(&r, "config set");
}

void
xzf_node_paths(const char *tmp, size_t cap, char *owner, char *req, char *log)
{
	int a = snprintf(owner, cap, "%s/tax", tmp);
	int b = snprintf(req, cap, "%s/proc", tmp);
	int c = snprintf(log, cap, "%s/xiezhid.log", tmp);

	assert_true(a > 0 && (size_t)a < cap && b > 0 && (size_t)b < cap &&
	    c > 0 && (size_t)c < cap);
}

void
xzf_two_nodes(const char *tmp, const char *owner, const char *req)
{
	char ca[PATH_CAP], pki[PATH_CAP];
	struct xzt_run r;

	snprintf(ca, sizeof(ca), "%s/ca", tmp);
	snprintf(pki, sizeof(pki), "%s/pki", tmp);
	pki_script("make-ca.sh", ca, NULL, NULL);
	pki_script("make-node.sh", ca, pki, "tax.example");
	pki_script("make-node.sh", ca, pki, "proc.example");
	XZF_RUN(&r, "init", "--dir", owner, "--name", "tax");
	xzf_must(&r, "init tax");
	XZF_RUN(&r, "init", "--dir", req, "--name", "proc");
	xzf_must(&r, "init proc");
	configure_tls(tmp, owner, "tax.example");
	configure_tls(tmp, req, "proc.example");
	XZF_RUN(&r, "config", "set", "listen", "127.0.0.1:0", "--dir", owner);
	xzf_must(&r, "listen");
}

void
xzf_make_ca(const char *tmp)
{
	char ca[PATH_CAP];

	snprintf(ca, sizeof(ca), "%s/ca", tmp);
	pki_script("make-ca.sh", ca, NULL, NULL);
}

void
xzf_add_node(const char *tmp, const char *dir, const char *name, const char *id, int listen)
{
	char ca[PATH_CAP], pki[PATH_CAP], what[128];
	struct xzt_run r;

	snprintf(ca, sizeof(ca), "%s/ca", tmp);
	snprintf(pki, sizeof(pki), "%s/pki", tmp);
	pki_script("make-node.sh", ca, pki, id);
	XZF_RUN(&r, "init", "--dir", dir, "--name", name);
	snprintf(what, sizeof(what), "init %s", name);
	xzf_must(&r, what);
	configure_tls(tmp, dir, id);
	if (listen) {
		XZF_RUN(&r, "config", "set", "listen", "127.0.0.1:0", "--dir", dir);
		xzf_must(&r, "listen");
	}
}

void
xzf_set_peer_to(const char *req, const char *name, const char *id, int port)
{
	char addr[64], ka[128], ki[128];
	struct xzt_run r;

	snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
	snprintf(ka, sizeof(ka), "peer.%s.address", name);
	snprintf(ki, sizeof(ki), "peer.%s.identity", name);
	XZF_RUN(&r, "config", "set", ka, addr, ki, id, "--dir", req);
	xzf_must(&r, "config set peer");
}

void
xzf_import(const char *tmp, const char *csv, const char *dataset, const char *dir,
    const char *const *columns)
{
	const char *args[48];
	char *path = xzt_path(tmp, csv), what[256];
	struct xzt_run r;
	int n = 0;

	args[n++] = "dataset"; args[n++] = "import"; args[n++] = dataset;
	args[n++] = "--csv"; args[n++] = path; args[n++] = "--key"; args[n++] = "code:text";
	for (; columns != NULL && *columns != NULL && n < 42; columns++) {
		args[n++] = "--column";
		args[n++] = *columns;
	}
	assert_true(columns == NULL || *columns == NULL);
	args[n++] = "--dir"; args[n++] = dir;
	args[n] = NULL;
	xzf_runv(&r, NULL, args);
	snprintf(what, sizeof(what), "import %s", dataset);
	xzf_must(&r, what);
	free(path);
}

void
xzf_keygen_approvers(const char *tmp)
{
	char *p;
	struct xzt_run r;

	p = xzt_path(tmp, "lead");
	XZF_RUN(&r, "keygen", "--out", p);
	xzf_must(&r, "keygen lead");
	free(p);
	p = xzt_path(tmp, "officer");
	XZF_RUN(&r, "keygen", "--out", p);
	xzf_must(&r, "keygen officer");
	free(p);
}

char *
xzf_read_pub(const char *tmp, const char *name)
{
	char *path = xzt_path(tmp, name), *k;
	size_t len;

	k = xzt_read_file(path, &len);
	if (k == NULL)
		fail_msg("cannot read %s", path);
	while (len > 0 && (k[len - 1] == '\n' || k[len - 1] == '\r'))
		k[--len] = '\0';
	free(path);
	return k;
}

void
xzf_write_policy(const char *tmp, const char *path, const char *head)
{
	char *lk = xzf_read_pub(tmp, "lead.pub"), *ok = xzf_read_pub(tmp, "officer.pub");
	char *text = malloc(POLICY_CAP);
	int n;

	assert_non_null(text);
	n = snprintf(text, POLICY_CAP,
	    "%sapprovals:\n  threshold: 2\n  approvers:\n"
	    "    - id: lead\n      role: deputy chief procurator\n      public_key: %s\n"
	    "    - id: officer\n      role: data officer\n      public_key: %s\n", head, lk, ok);
	assert_true(n > 0 && n < POLICY_CAP);
	xzt_write_file(path, text, (size_t)n);
	free(text); free(lk); free(ok);
}

void
xzf_approve(const char *tmp, const char *req, int approvals)
{
	char *lk = xzt_path(tmp, "lead.key"), *ok = xzt_path(tmp, "officer.key");
	struct xzt_run r;

	if (approvals >= 1) {
		XZF_RUN(&r, "request", "approve", req, "--key", lk);
		xzf_must(&r, "approve lead");
	}
	if (approvals >= 2) {
		XZF_RUN(&r, "request", "approve", req, "--key", ok);
		xzf_must(&r, "approve officer");
	}
	free(lk); free(ok);
}

char *
xzf_log_text(const char *log)
{
	size_t len;
	char *t = xzt_read_file(log, &len);

	if (t == NULL)
		t = strdup("(none)");
	assert_non_null(t);
	return t;
}

/* The port in a "listening on port N" line of text, or 0. */
static int
listening_port(const char *text)
{
	const char *p = text != NULL ? strstr(text, "listening on port ") : NULL;
	long port = 0;

	if (p == NULL)
		return 0;
	for (p += strlen("listening on port "); *p >= '0' && *p <= '9' && port < 65536; p++)
		port = port * 10 + (*p - '0');
	return port > 0 && port < 65536 ? (int)port : 0;
}

int
xzf_start_xiezhid(const char *owner, const char *grace, const char *log,
    const char *const *env, pid_t *pid, int *status)
{
	const char *argv[] = { xzt_xiezhid_bin(), "--dir", owner, "--grace", grace, NULL };

	unlink(log);
	*pid = xzf_spawn(argv, env, "/dev/null", log);
	for (int i = 0; i < PORT_WAIT_TRIES; i++) {
		size_t len;
		char *t = xzt_read_file(log, &len);
		int port = listening_port(t), st;

		free(t);
		if (port > 0)
			return port;
		if (waitpid(*pid, &st, WNOHANG) == *pid) {
			*pid = 0;
			*status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
			return 0;
		}
		usleep(20000);
	}
	fail_msg("xiezhid did not start listening in 20 s");
	return 0;
}

void
xzf_set_peer(const char *req, int port)
{
	char addr[64];
	struct xzt_run r;

	snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
	XZF_RUN(&r, "config", "set", "peer.tax.address", addr, "peer.tax.identity",
	    "tax.example", "--dir", req);
	xzf_must(&r, "config set peer");
}

/* State letter and parent of pid from /proc/PID/stat; -1 when gone. */
static int
proc_stat(pid_t pid, char *state, pid_t *ppid)
{
	char path[64], *t, *p;
	size_t len;
	long pp;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if ((t = xzt_read_file(path, &len)) == NULL)
		return -1;
	/* "pid (comm) S ppid ...": comm may hold spaces and parentheses. */
	if ((p = strrchr(t, ')')) == NULL || sscanf(p + 1, " %c %ld", state, &pp) != 2) {
		free(t);
		return -1;
	}
	*ppid = (pid_t)pp;
	free(t);
	return 0;
}

pid_t
xzf_keeper_pid(pid_t daemon)
{
	DIR *d = opendir("/proc");
	struct dirent *de;
	pid_t found = 0;

	assert_non_null(d);
	while (found == 0 && (de = readdir(d)) != NULL) {
		char *end, state;
		long v = strtol(de->d_name, &end, 10);
		pid_t ppid;
		if (*end != '\0' || v <= 0)
			continue;
		if (proc_stat((pid_t)v, &state, &ppid) == 0 && ppid == daemon && state != 'Z')
			found = (pid_t)v;
	}
	closedir(d);
	return found;
}

void
xzf_kill_node(pid_t daemon)
{
	pid_t k = xzf_keeper_pid(daemon);

	if (k <= 0)
		fail_msg("xiezhid %d has no key process", (int)daemon);
	/* Frozen first: a key process still running when the network
	 * process dies would close the join itself, which a crash does not. */
	assert_int_equal(kill(k, SIGSTOP), 0);
	assert_int_equal(kill(daemon, SIGKILL), 0);
	assert_int_equal(kill(k, SIGKILL), 0);
	if (xzf_wait_gone(k, 10000) != 0)
		fail_msg("the key process %d outlived SIGKILL", (int)k);
}

int
xzf_wait_gone(pid_t pid, int ms)
{
	long long end = xzf_now_ms() + ms;

	for (;;) {
		char state;
		pid_t ppid;
		if (proc_stat(pid, &state, &ppid) != 0 || state == 'Z' || state == 'X')
			return 0;
		if (xzf_now_ms() > end)
			return -1;
		usleep(10000);
	}
}
