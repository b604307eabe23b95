/*
 * Installing into a scratch root (issue 8, "Deployment"): `cmake --install
 * BUILD --prefix /usr` with DESTDIR puts the programs, the systemd unit, the
 * sysusers.d file and the example configuration where Debian administrators
 * expect them, with the right modes, and nothing under /var.  The unit
 * carries its sandboxing.  Then the unit's own ExecStartPre and ExecStart
 * lines, read from the installed file, are run by hand against a node made
 * with the installed xiezhi: the check passes, the daemon serves Health over
 * mutual TLS, reloads on SIGHUP (the unit's ExecReload) and exits 0 on
 * SIGTERM (its KillSignal).  Last, the backup and restore procedure of
 * docs/operations.md §11 runs against the installed xiezhi.
 *
 * The build directory comes from XIEZHI_BIN (BUILD/node/xiezhi); the PKI
 * scripts from XIEZHI_SOURCE_DIR.
 */
#include "testsupport.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sodium.h>

#include "rpc.h"

#define UNIT_PATH "/usr/lib/systemd/system/xiezhid.service"
#define STATE_DIR "/var/lib/xiezhi"
/* `systemd-analyze security` exposure the unit must stay at or below
 * (docs/operations.md records the measured figure). */
#define MAX_EXPOSURE 2.0

static struct {
	char *tmp;
	char root[4200];	/* DESTDIR */
	char node[4200], pki[4200], ca[4200], log[4200];
	char bin[4300], bind[4300];	/* installed xiezhi, xiezhid */
	char *unit;		/* installed unit text */
} fx;

/* ---- helpers ---- */

/* Looks name up in $PATH (xzt_run uses execv, which does not). */
static int
which(const char *name, char *out, size_t cap)
{
	const char *path = getenv("PATH");
	char *copy, *save = NULL;
	int found = 0;

	if (path == NULL)
		path = "/usr/bin:/bin";
	copy = strdup(path);
	assert_non_null(copy);
	for (char *d = strtok_r(copy, ":", &save); d != NULL && !found;
	     d = strtok_r(NULL, ":", &save)) {
		snprintf(out, cap, "%s/%s", d, name);
		found = access(out, X_OK) == 0;
	}
	free(copy);
	return found;
}

static void
must(struct xzt_run *r, const char *what)
{
	if (r->status != 0)
		fail_msg("%s failed (%d): %s%s", what, r->status, r->out, r->err);
	xzt_run_free(r);
}

static void
pki(const char *script, const char *a1, const char *a2, const char *a3)
{
	char path[4400];
	struct xzt_run r;

	snprintf(path, sizeof(path), "%s/deploy/pki/%s", xzt_source_dir(), script);
	xzt_run(&r, (const char *const[]){ "/bin/sh", path, a1, a2, a3, NULL }, NULL, NULL);
	must(&r, script);
}

/* The installed xiezhi, with args. */
static void
xz(struct xzt_run *r, const char *const *args)
{
	const char *argv[24];
	int n = 0;

	argv[n++] = fx.bin;
	for (; *args != NULL && n < 23; args++)
		argv[n++] = *args;
	argv[n] = NULL;
	xzt_run(r, argv, NULL, NULL);
}
#define XZ(r, ...) xz((r), (const char *const[]){ __VA_ARGS__, NULL })

/*
 * The value of `Key=` in the unit's [Service] section (the last one when
 * repeated, as systemd reads it for single-valued keys), copied to out.
 * Returns 0 when absent.
 */
static int
unit_value(const char *key, char *out, size_t cap)
{
	const char *p = strstr(fx.unit, "\n[Service]\n");
	size_t klen = strlen(key);
	int found = 0;

	assert_non_null(p);
	for (p = strchr(p + 1, '\n'); p != NULL && p[1] != '\0' && p[1] != '[';
	     p = strchr(p + 1, '\n')) {
		const char *line = p + 1, *end = strchr(line, '\n');
		size_t len = end != NULL ? (size_t)(end - line) : strlen(line);
		if (len > klen && memcmp(line, key, klen) == 0 && line[klen] == '=') {
			size_t v = len - klen - 1;
			assert_true(v < cap);
			memcpy(out, line + klen + 1, v);
			out[v] = '\0';
			found = 1;
		}
	}
	return found;
}

/*
 * Splits an Exec line (plain words; the unit uses no quoting) into argv,
 * running the installed program under the scratch root and pointing
 * --dir at the test's node instead of /var/lib/xiezhi.
 */
static void
exec_argv(const char *key, char *buf, size_t cap, const char *argv[], int max)
{
	char *save = NULL, *w;
	int n = 0;

	if (!unit_value(key, buf, cap))
		fail_msg("the installed unit has no %s=", key);
	for (w = strtok_r(buf, " ", &save); w != NULL; w = strtok_r(NULL, " ", &save)) {
		assert_true(n < max - 1);
		if (n == 0) {
			assert_string_equal(w, "/usr/bin/xiezhid");
			argv[n++] = fx.bind;
		} else if (strcmp(w, STATE_DIR) == 0) {
			argv[n++] = fx.node;
		} else {
			argv[n++] = w;
		}
	}
	argv[n] = NULL;
}

static int
group_setup(void **state)
{
	char build[4200], cmake[4200], *slash, p[4400];
	const char *env[2];
	struct xzt_run r;
	size_t len;

	(void)state;
	fx.tmp = xzt_mkdtemp("install");
	snprintf(fx.root, sizeof(fx.root), "%s/root", fx.tmp);
	snprintf(fx.node, sizeof(fx.node), "%s/node", fx.tmp);
	snprintf(fx.pki, sizeof(fx.pki), "%s/pki", fx.tmp);
	snprintf(fx.ca, sizeof(fx.ca), "%s/ca", fx.tmp);
	snprintf(fx.log, sizeof(fx.log), "%s/xiezhid.log", fx.tmp);
	snprintf(fx.bin, sizeof(fx.bin), "%s/usr/bin/xiezhi", fx.root);
	snprintf(fx.bind, sizeof(fx.bind), "%s/usr/bin/xiezhid", fx.root);

	/* BUILD/node/xiezhi -> BUILD */
	snprintf(build, sizeof(build), "%s", xzt_xiezhi_bin());
	for (int i = 0; i < 2; i++) {
		slash = strrchr(build, '/');
		assert_non_null(slash);
		*slash = '\0';
	}
	snprintf(p, sizeof(p), "%s/cmake_install.cmake", build);
	if (access(p, R_OK) != 0)
		fail_msg("%s is missing: XIEZHI_BIN does not point into a build tree", p);
	if (!which("cmake", cmake, sizeof(cmake)))
		fail_msg("cmake is not on PATH");
	snprintf(p, sizeof(p), "DESTDIR=%s", fx.root);
	env[0] = p;
	env[1] = NULL;
	xzt_run(&r, (const char *const[]){ cmake, "--install", build, "--prefix", "/usr", NULL },
	    NULL, env);
	must(&r, "cmake --install");

	snprintf(p, sizeof(p), "%s%s", fx.root, UNIT_PATH);
	fx.unit = xzt_read_file(p, &len);
	if (fx.unit == NULL)
		fail_msg("no unit at %s", p);
	return 0;
}

static int
group_teardown(void **state)
{
	(void)state;
	free(fx.unit);
	xzt_rmtree(fx.tmp);
	free(fx.tmp);
	return 0;
}

/* ---- the installed tree ---- */

static void
test_files_and_modes(void **state)
{
	static const struct {
		const char *path;
		mode_t mode;
		const char *contains;	/* a line that proves it is the right file */
	} files[] = {
		{ "/usr/bin/xiezhi", 0755, NULL },
		{ "/usr/bin/xiezhid", 0755, NULL },
		{ UNIT_PATH, 0644, "ExecStart=/usr/bin/xiezhid --dir /var/lib/xiezhi\n" },
		{ "/usr/lib/systemd/system/xiezhi-check.service", 0644,
		  "ExecStart=/usr/bin/xiezhi audit verify --dir /var/lib/xiezhi\n" },
		{ "/usr/lib/systemd/system/xiezhi-check.timer", 0644, "OnCalendar=daily\n" },
		{ "/usr/lib/sysusers.d/xiezhi.conf", 0644, "\nu xiezhi - " },
		{ "/etc/xiezhi/xiezhi.conf.example", 0644, "\ntls_key = " },
		{ "/etc/xiezhi/README", 0644, "xiezhi init --dir /var/lib/xiezhi" },
	};
	char p[4400], *a, *b;
	struct stat st;
	size_t alen, blen;

	(void)state;
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		snprintf(p, sizeof(p), "%s%s", fx.root, files[i].path);
		if (lstat(p, &st) != 0 || !S_ISREG(st.st_mode))
			fail_msg("%s was not installed as a regular file", files[i].path);
		if ((st.st_mode & 07777) != files[i].mode)
			fail_msg("%s has mode %04o, expected %04o", files[i].path,
			    (unsigned)(st.st_mode & 07777), (unsigned)files[i].mode);
		if (files[i].contains != NULL) {
			a = xzt_read_file(p, &alen);
			if (!xzt_memmem(a, alen, files[i].contains, strlen(files[i].contains)))
				fail_msg("%s lacks '%s'", files[i].path, files[i].contains);
			free(a);
		}
	}
	/* The installed CLI is the one that was built. */
	a = xzt_read_file(xzt_xiezhi_bin(), &alen);
	b = xzt_read_file(fx.bin, &blen);
	assert_int_equal(alen, blen);
	assert_memory_equal(a, b, alen);
	free(a);
	free(b);
	/* Nothing under /var: systemd creates the state directory (StateDirectory=). */
	snprintf(p, sizeof(p), "%s/var", fx.root);
	assert_int_not_equal(lstat(p, &st), 0);
}

static void
test_unit_sandboxing(void **state)
{
	static const struct {
		const char *key, *value;
	} want[] = {
		{ "User", "xiezhi" },
		{ "StateDirectory", "xiezhi" },
		{ "StateDirectoryMode", "0700" },
		{ "UMask", "0077" },
		{ "ExecStartPre", "/usr/bin/xiezhid --dir /var/lib/xiezhi --check" },
		{ "ExecReload", "/bin/kill -HUP $MAINPID" },
		{ "KillSignal", "SIGTERM" },
		{ "Restart", "on-failure" },
		{ "ReadWritePaths", STATE_DIR },
		{ "NoNewPrivileges", "yes" },
		{ "ProtectSystem", "strict" },
		{ "ProtectHome", "yes" },
		{ "PrivateTmp", "yes" },
		{ "PrivateDevices", "yes" },
		{ "RestrictAddressFamilies", "AF_INET AF_INET6 AF_UNIX" },
		{ "SystemCallFilter", "~@privileged @resources" },
		{ "CapabilityBoundingSet", "" },
		{ "LockPersonality", "yes" },
		{ "MemoryDenyWriteExecute", "yes" },
		{ "RestrictNamespaces", "yes" },
		{ "RestrictRealtime", "yes" },
		{ "ProtectKernelTunables", "yes" },
		{ "ProtectKernelModules", "yes" },
		{ "ProtectKernelLogs", "yes" },
		{ "ProtectControlGroups", "yes" },
		{ "ProtectClock", "yes" },
		{ "ProtectHostname", "yes" },
		{ "LimitCORE", "0" },
	};
	char v[512];

	(void)state;
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		if (!unit_value(want[i].key, v, sizeof(v)))
			fail_msg("unit lacks %s=", want[i].key);
		if (strcmp(v, want[i].value) != 0)
			fail_msg("unit has %s=%s, expected %s=%s", want[i].key, v, want[i].key,
			    want[i].value);
	}
	/* The base filter comes before the subtraction above. */
	assert_non_null(strstr(fx.unit, "\nSystemCallFilter=@system-service\n"));
	assert_true(unit_value("TimeoutStopSec", v, sizeof(v)) && atoi(v) > 30);
}

/* systemd's own judgement of the sandbox, where systemd-analyze exists. */
static void
test_systemd_analyze_security(void **state)
{
	char sa[4200], p[4400];
	const char *at;
	struct xzt_run r;
	double score;

	(void)state;
	if (!which("systemd-analyze", sa, sizeof(sa)))
		skip();
	snprintf(p, sizeof(p), "%s%s", fx.root, UNIT_PATH);
	xzt_run(&r, (const char *const[]){ sa, "security", "--offline=true", "--no-pager", p,
	    NULL }, NULL, NULL);
	at = strstr(r.out, "Overall exposure level for xiezhid.service: ");
	if (at == NULL)
		fail_msg("systemd-analyze security (%d): %s%s", r.status, r.out, r.err);
	score = strtod(at + strlen("Overall exposure level for xiezhid.service: "), NULL);
	if (score > MAX_EXPOSURE)
		fail_msg("exposure %.1f exceeds %.1f:\n%s", score, MAX_EXPOSURE, r.out);
	xzt_run_free(&r);
}

/* ---- the unit's command lines, by hand ---- */

static void
make_node(void)
{
	char ca[4400], cert[4400], key[4400];
	struct xzt_run r;

	pki("make-ca.sh", fx.ca, NULL, NULL);
	pki("make-node.sh", fx.ca, fx.pki, "tax.example");
	snprintf(ca, sizeof(ca), "%s/ca.pem", fx.ca);
	snprintf(cert, sizeof(cert), "%s/tax.example.pem", fx.pki);
	snprintf(key, sizeof(key), "%s/tax.example.key", fx.pki);
	XZ(&r, "init", "--dir", fx.node, "--name", "tax");
	must(&r, "installed xiezhi init");
	XZ(&r, "config", "set", "identity", "tax.example", "listen", "127.0.0.1:0",
	    "tls_ca", ca, "tls_cert", cert, "tls_key", key, "--dir", fx.node);
	must(&r, "installed xiezhi config set");
}

/* Waits until the log holds needle; returns the text after it. */
static char *
wait_log(const char *needle)
{
	for (int i = 0; i < 200; i++) {
		size_t len;
		char *t = xzt_read_file(fx.log, &len), *at;
		if (t != NULL && (at = strstr(t, needle)) != NULL) {
			char *rest = strdup(at + strlen(needle));
			free(t);
			return rest;
		}
		free(t);
		usleep(50000);
	}
	fail_msg("xiezhid never logged '%s'", needle);
	return NULL;
}

static void
health(int port)
{
	char ca[4400], cert[4400], key[4400], target[64];
	char ident[XZ_RPC_MAX_IDENTITY + 1];
	struct xz_rpc_client_config cc = { 0 };
	struct xz_rpc_client *c = NULL;
	struct xz_rpc_error err;
	uint32_t ver;

	snprintf(ca, sizeof(ca), "%s/ca.pem", fx.ca);
	snprintf(cert, sizeof(cert), "%s/tax.example.pem", fx.pki);
	snprintf(key, sizeof(key), "%s/tax.example.key", fx.pki);
	snprintf(target, sizeof(target), "127.0.0.1:%d", port);
	cc.target = target;
	cc.tls.ca_file = ca;
	cc.tls.cert_file = cert;
	cc.tls.key_file = key;
	cc.server_identity = "tax.example";
	assert_int_equal(xz_rpc_client_new(&cc, &c, &err), XZ_RPC_OK);
	assert_int_equal(xz_rpc_health(c, 5000, ident, &ver, &err), XZ_RPC_OK);
	assert_string_equal(ident, "tax.example");
	xz_rpc_client_free(c);
}

static void
test_unit_command_lines_by_hand(void **state)
{
	char pre[512], start[512], *rest;
	const char *pre_argv[16], *start_argv[16];
	struct xzt_run r;
	int port, st;
	pid_t pid;

	(void)state;
	make_node();
	exec_argv("ExecStartPre", pre, sizeof(pre), pre_argv, 16);
	exec_argv("ExecStart", start, sizeof(start), start_argv, 16);

	xzt_run(&r, pre_argv, NULL, NULL);
	if (r.status != 0 || strstr(r.out, "ready to serve") == NULL)
		fail_msg("ExecStartPre (%d): %s%s", r.status, r.out, r.err);
	xzt_run_free(&r);

	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int fe = open(fx.log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		if (fe < 0 || dup2(fe, 2) < 0)
			_exit(127);
		umask(077);	/* UMask=0077 */
		execv(start_argv[0], (char *const *)(uintptr_t)start_argv);
		_exit(127);
	}
	rest = wait_log("listening on port ");
	port = atoi(rest);
	free(rest);
	assert_true(port > 0 && port < 65536);
	health(port);

	/* ExecReload=/bin/kill -HUP $MAINPID */
	assert_int_equal(kill(pid, SIGHUP), 0);
	free(wait_log("SIGHUP: reloading policies"));
	health(port);

	/* KillSignal=SIGTERM: a clean stop, exit 0. */
	assert_int_equal(kill(pid, SIGTERM), 0);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	free(wait_log("daemon: stopped"));

	/* What it recorded (node_started, node_stopped) verifies with the
	 * installed CLI, and the anchor covers both. */
	XZ(&r, "audit", "verify", "--dir", fx.node);
	if (r.status != 0 || strstr(r.out, "verified: 2 records") == NULL ||
	    strstr(r.out, "anchor at size 2") == NULL)
		fail_msg("audit verify (%d): %s%s", r.status, r.out, r.err);
	xzt_run_free(&r);
}

/* ---- docs/operations.md §11: a backup, a restore, the rollback check ---- */

static void
copy_file(const char *from, const char *to)
{
	size_t len;
	char *t = xzt_read_file(from, &len);

	if (t == NULL)
		fail_msg("cannot read %s", from);
	xzt_write_file(to, t, len);
	free(t);
}

/* Runs the installed xiezhi and requires status and a phrase in its output. */
static void
expect(int status, const char *phrase, const char *const *args)
{
	struct xzt_run r;

	xz(&r, args);
	if (r.status != status || (strstr(r.out, phrase) == NULL && strstr(r.err, phrase) == NULL))
		fail_msg("xiezhi %s %s: status %d (expected %d), no '%s' in:\n%s%s", args[0],
		    args[1] != NULL ? args[1] : "", r.status, status, phrase, r.out, r.err);
	xzt_run_free(&r);
}
#define EXPECT(st, phrase, ...) expect((st), (phrase), (const char *const[]){ __VA_ARGS__, NULL })

/*
 * The online backup of §11 (SQLCipher's sqlcipher_export into an attached
 * database with the same raw key, fed on stdin), restored after the node
 * moved on: the copy is encrypted and authenticates, the node refuses it
 * as a rollback, `audit publish` refuses too, and only moving the newer
 * anchor aside lets publish accept the restored log.
 */
static void
test_backup_restore_rollback(void **state)
{
	char dir[4250], csv[4300], bk[4300], anchor[4300], aside[4300], sqlc[4200];
	char hex[2 * 32 + 1], script[4300 + 400];
	struct xzt_run r;
	size_t klen;
	char *key, *head;

	(void)state;
	if (!which("sqlcipher", sqlc, sizeof(sqlc)))
		skip();
	snprintf(dir, sizeof(dir), "%s/restore", fx.tmp);
	snprintf(csv, sizeof(csv), "%s/people.csv", fx.tmp);
	snprintf(bk, sizeof(bk), "%s/store-backup.db", fx.tmp);
	snprintf(anchor, sizeof(anchor), "%s/audit/checkpoint", dir);
	snprintf(aside, sizeof(aside), "%s/checkpoint.before-restore", fx.tmp);
	xzt_write_file(csv, "id,name\n110101199003074514,a\n", 29);
	EXPECT(0, "", "init", "--dir", dir, "--name", "restore");
	EXPECT(0, "", "dataset", "import", "d1", "--dir", dir, "--csv", csv, "--key", "id:cn_id",
	    "--column", "name:text");

	/* The backup, as §11 takes it. */
	{
		char p[4400];
		snprintf(p, sizeof(p), "%s/keys/store.key", dir);
		key = xzt_read_file(p, &klen);
		assert_int_equal(klen, 32);
		sodium_bin2hex(hex, sizeof(hex), (const unsigned char *)key, klen);
		sodium_memzero(key, klen);
		free(key);
		snprintf(script, sizeof(script), "PRAGMA key = \"x'%s'\";\n"
		    "ATTACH DATABASE '%s' AS backup KEY \"x'%s'\";\n"
		    "SELECT sqlcipher_export('backup');\nDETACH DATABASE backup;\n", hex, bk, hex);
		snprintf(p, sizeof(p), "%s/store.db", dir);
		xzt_run(&r, (const char *const[]){ sqlc, p, NULL }, script, NULL);
		must(&r, "sqlcipher_export backup");
	}
	head = xzt_read_file(bk, &klen);
	assert_true(klen > 16);
	assert_false(xzt_memmem(head, 16, "SQLite format 3", 15));	/* encrypted */
	free(head);

	/* The node moves on; then the old copy comes back. */
	EXPECT(0, "", "dataset", "import", "d2", "--dir", dir, "--csv", csv, "--key", "id:cn_id",
	    "--column", "name:text");
	{
		char p[4400];
		snprintf(p, sizeof(p), "%s/store.db", dir);
		copy_file(bk, p);
		snprintf(p, sizeof(p), "%s/store.db-wal", dir);
		unlink(p);
		snprintf(p, sizeof(p), "%s/store.db-shm", dir);
		unlink(p);
	}
	EXPECT(0, "every page authenticated", "store", "check", "--dir", dir);
	EXPECT(1, "audit log rollback", "audit", "verify", "--dir", dir);
	EXPECT(1, "audit log rollback", "dataset", "import", "d3", "--dir", dir, "--csv", csv,
	    "--key", "id:cn_id", "--column", "name:text");
	EXPECT(1, "audit log rollback", "audit", "publish", "--dir", dir);

	/* The documented decision: the newer anchor aside (kept), then publish. */
	assert_int_equal(rename(anchor, aside), 0);
	EXPECT(1, "checkpoint is missing", "audit", "verify", "--dir", dir);
	EXPECT(0, "is up to date", "audit", "publish", "--dir", dir);
	EXPECT(0, "anchor at size 1", "audit", "verify", "--dir", dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_files_and_modes),
		cmocka_unit_test(test_unit_sandboxing),
		cmocka_unit_test(test_systemd_analyze_security),
		cmocka_unit_test(test_unit_command_lines_by_hand),
		cmocka_unit_test(test_backup_restore_rollback),
	};

	signal(SIGPIPE, SIG_IGN);
	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
