/*
 * xiezhid on its own: `--check` finds each kind of broken setup and says
 * which (table-driven: one fault per case, then the fault is undone), the
 * daemon refuses to start on a broken setup, and a running daemon answers
 * garbage, a malformed request and a bare Open with an error status while
 * it keeps serving (Health answers afterwards), and refuses client
 * certificates from a foreign CA or expired ones at the TLS handshake.
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

static struct {
	char *tmp;
	char node[4200], pki[4200], ca[4200], log[4200];
} fx;

static void
runv(struct xzt_run *r, const char *bin, const char *const *args)
{
	const char *argv[40];
	int n = 0;

	argv[n++] = bin;
	for (; *args != NULL && n < 39; args++)
		argv[n++] = *args;
	argv[n] = NULL;
	xzt_run(r, argv, NULL, NULL);
}

#define XZ(r, ...) runv((r), xzt_xiezhi_bin(), (const char *const[]){ __VA_ARGS__, NULL })
#define XZD(r, ...) runv((r), xzt_xiezhid_bin(), (const char *const[]){ __VA_ARGS__, NULL })

static void
must(struct xzt_run *r, const char *what)
{
	if (r->status != 0)
		fail_msg("%s failed (%d): %s%s", what, r->status, r->out, r->err);
	xzt_run_free(r);
}

static void
pki(const char *script, const char *a1, const char *a2, const char *a3, const char *a4,
    const char *a5)
{
	char path[4400];
	struct xzt_run r;

	snprintf(path, sizeof(path), "%s/deploy/pki/%s", xzt_source_dir(), script);
	xzt_run(&r, (const char *const[]){ "/bin/sh", path, a1, a2, a3, a4, a5, NULL }, NULL,
	    NULL);
	must(&r, script);
}

static void
set_conf(const char *key, const char *value)
{
	struct xzt_run r;

	XZ(&r, "config", "set", key, value, "--dir", fx.node);
	must(&r, "config set");
}

static int
group_setup(void **state)
{
	struct xzt_run r;
	char other[4400], p[4400];

	(void)state;
	fx.tmp = xzt_mkdtemp("daemon");
	snprintf(fx.node, sizeof(fx.node), "%s/node", fx.tmp);
	snprintf(fx.pki, sizeof(fx.pki), "%s/pki", fx.tmp);
	snprintf(fx.ca, sizeof(fx.ca), "%s/ca", fx.tmp);
	snprintf(fx.log, sizeof(fx.log), "%s/xiezhid.log", fx.tmp);
	snprintf(other, sizeof(other), "%s/otherca", fx.tmp);
	pki("make-ca.sh", fx.ca, NULL, NULL, NULL, NULL);
	pki("make-ca.sh", other, NULL, NULL, NULL, NULL);
	pki("make-node.sh", fx.ca, fx.pki, "tax.example", NULL, NULL);
	pki("make-node.sh", fx.ca, fx.pki, "client.example", NULL, NULL);
	snprintf(p, sizeof(p), "%s/expired", fx.tmp);
	pki("make-node.sh", fx.ca, p, "tax.example", "20200101000000Z", "20210101000000Z");
	snprintf(p, sizeof(p), "%s/foreign", fx.tmp);
	pki("make-node.sh", other, p, "tax.example", NULL, NULL);
	XZ(&r, "init", "--dir", fx.node, "--name", "tax");
	must(&r, "init");
	set_conf("identity", "tax.example");
	snprintf(p, sizeof(p), "%s/ca.pem", fx.ca); set_conf("tls_ca", p);
	snprintf(p, sizeof(p), "%s/tax.example.pem", fx.pki); set_conf("tls_cert", p);
	snprintf(p, sizeof(p), "%s/tax.example.key", fx.pki); set_conf("tls_key", p);
	set_conf("listen", "127.0.0.1:0");
	return 0;
}

static int
group_teardown(void **state)
{
	(void)state;
	xzt_rmtree(fx.tmp);
	free(fx.tmp);
	return 0;
}

static void
test_check_ok(void **state)
{
	struct xzt_run r;

	(void)state;
	XZD(&r, "--dir", fx.node, "--check");
	if (r.status != 0)
		fail_msg("check: %s%s", r.out, r.err);
	assert_non_null(strstr(r.out, "chains to the CA bundle"));
	assert_non_null(strstr(r.out, "private key matches"));
	assert_non_null(strstr(r.out, "ready to serve"));
	xzt_run_free(&r);
}

enum fault { F_CERT, F_KEYMODE, F_IDENTITY, F_POLICY, F_NOLISTEN, F_CONF };

static void
test_check_finds_faults(void **state)
{
	static const struct {
		enum fault kind;
		const char *arg, *expect;
	} cases[] = {
		{ F_CERT, "expired", "tls_cert has expired" },
		{ F_CERT, "foreign", "does not chain to tls_ca" },
		{ F_KEYMODE, NULL, "readable by group or others" },
		{ F_IDENTITY, "client.example", "is not this node's identity 'client.example'" },
		{ F_POLICY, "id: x\nversion: 1\ncolour: red\n", "bad.yaml:" },
		{ F_NOLISTEN, NULL, "no 'listen' address" },
		{ F_CONF, "bogus = 1\n", "unknown setting 'bogus'" },
	};
	char p[4400], q[4400], *conf, *pol;
	struct xzt_run r;
	size_t len;

	(void)state;
	snprintf(q, sizeof(q), "%s/xiezhi.conf", fx.node);
	conf = xzt_read_file(q, &len);
	pol = xzt_path(fx.node, "policies/bad.yaml");
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		switch (cases[i].kind) {
		case F_CERT:
			snprintf(p, sizeof(p), "%s/%s/tax.example.pem", fx.tmp, cases[i].arg);
			set_conf("tls_cert", p);
			snprintf(p, sizeof(p), "%s/%s/tax.example.key", fx.tmp, cases[i].arg);
			set_conf("tls_key", p);
			break;
		case F_KEYMODE:
			snprintf(p, sizeof(p), "%s/tax.example.key", fx.pki);
			chmod(p, 0644);
			break;
		case F_IDENTITY: set_conf("identity", cases[i].arg); break;
		case F_POLICY: xzt_write_file(pol, cases[i].arg, strlen(cases[i].arg)); break;
		case F_NOLISTEN: {
			XZ(&r, "config", "unset", "listen", "--dir", fx.node);
			must(&r, "unset");
			break;
		}
		case F_CONF: {
			size_t n = strlen(cases[i].arg);
			char *t = malloc(len + n);
			memcpy(t, conf, len);
			memcpy(t + len, cases[i].arg, n);
			xzt_write_file(q, t, len + n);
			free(t);
			break;
		}
		}
		XZD(&r, "--dir", fx.node, "--check");
		if (r.status != 1 || strstr(r.out, cases[i].expect) == NULL)
			fail_msg("case %zu: status %d, expected '%s' in:\n%s%s", i, r.status,
			    cases[i].expect, r.out, r.err);
		assert_non_null(strstr(r.out, "FAIL"));
		xzt_run_free(&r);
		/* The daemon itself refuses to serve the same setup. */
		{
			XZD(&r, "--dir", fx.node);
			assert_int_equal(r.status, 1);
			xzt_run_free(&r);
		}
		/* undo */
		xzt_write_file(q, conf, len);
		unlink(pol);
		snprintf(p, sizeof(p), "%s/tax.example.key", fx.pki);
		chmod(p, 0600);
	}
	free(conf);
	free(pol);
	test_check_ok(state);
}

/* ---- garbage at a running daemon ---- */

static pid_t
start(int *port)
{
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		int fe = open(fx.log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		if (fe < 0 || dup2(fe, 2) < 0)
			_exit(127);
		execl(xzt_xiezhid_bin(), xzt_xiezhid_bin(), "--dir", fx.node, NULL);
		_exit(127);
	}
	for (int i = 0; i < 200; i++) {
		size_t len;
		char *t = xzt_read_file(fx.log, &len), *p;
		*port = 0;
		if (t != NULL && (p = strstr(t, "listening on port ")) != NULL)
			*port = atoi(p + 18);
		free(t);
		if (*port > 0)
			return pid;
		usleep(50000);
	}
	fail_msg("xiezhid did not start");
	return -1;
}

/* A client with the certificate in DIR/NAME.pem (DIR relative to the
 * test directory, or the node PKI when NULL). */
static struct xz_rpc_client *
client_as(int port, const char *dir, const char *name, char *target, size_t tlen)
{
	static char ca[4400], cert[4400], key[4400];
	struct xz_rpc_client_config cc = {0};
	struct xz_rpc_client *c = NULL;
	struct xz_rpc_error err;

	snprintf(ca, sizeof(ca), "%s/ca.pem", fx.ca);
	if (dir == NULL) {
		snprintf(cert, sizeof(cert), "%s/%s.pem", fx.pki, name);
		snprintf(key, sizeof(key), "%s/%s.key", fx.pki, name);
	} else {
		snprintf(cert, sizeof(cert), "%s/%s/%s.pem", fx.tmp, dir, name);
		snprintf(key, sizeof(key), "%s/%s/%s.key", fx.tmp, dir, name);
	}
	snprintf(target, tlen, "127.0.0.1:%d", port);
	cc.target = target;
	cc.tls.ca_file = ca;
	cc.tls.cert_file = cert;
	cc.tls.key_file = key;
	cc.server_identity = "tax.example";
	assert_int_equal(xz_rpc_client_new(&cc, &c, &err), XZ_RPC_OK);
	return c;
}

/* Sends one raw message (or an encoded Open) and returns the call's end. */
static enum xz_rpc_status
poke(struct xz_rpc_client *c, const uint8_t *raw, size_t len, const struct xz_msg *m)
{
	struct xz_rpc_stream *s = NULL;
	struct xz_rpc_error err;
	struct xz_msg in = {0};
	enum xz_rpc_status st;

	assert_int_equal(xz_rpc_join(c, 10000, &s, &err), XZ_RPC_OK);
	st = m != NULL ? xz_rpc_send(s, m, 5000, &err) : xz_rpc_send_raw(s, raw, len, 5000, &err);
	if (st == XZ_RPC_OK)
		st = xz_rpc_recv(s, &in, 10000, &err);
	xz_msg_release(&in);
	xz_rpc_stream_free(s);
	return st;
}

static void
test_garbage_gets_error_status(void **state)
{
	struct xz_rpc_client *c;
	struct xz_msg m = { .kind = XZ_MSG_OPEN };
	uint8_t junk[512], id[16];
	char target[64], ident[XZ_RPC_MAX_IDENTITY + 1];
	struct xz_rpc_error err;
	uint32_t ver;
	int port, st;
	pid_t pid;

	(void)state;
	pid = start(&port);
	/* Client certificates from a foreign CA or expired: refused at TLS. */
	{
		static const char *bad[] = { "foreign", "expired" };
		for (size_t i = 0; i < 2; i++) {
			c = client_as(port, bad[i], "tax.example", target, sizeof(target));
			assert_int_equal(xz_rpc_health(c, 5000, ident, &ver, &err),
			    XZ_RPC_UNAVAILABLE);
			xz_rpc_client_free(c);
		}
	}
	c = client_as(port, NULL, "client.example", target, sizeof(target));
	randombytes_buf(junk, sizeof(junk));
	junk[0] = 0xff;
	assert_int_not_equal(poke(c, junk, sizeof(junk), NULL), XZ_RPC_OK);
	assert_int_not_equal(poke(c, junk, 3, NULL), XZ_RPC_OK);
	/* A well-formed Open around a request that does not decode. */
	randombytes_buf(id, sizeof(id));
	m.u.open.version = 1;
	m.u.open.join_id.ptr = id;
	m.u.open.join_id.len = 16;
	m.u.open.request.ptr = junk;
	m.u.open.request.len = 100;
	m.u.open.dataset = "filings";
	assert_int_equal(poke(c, NULL, 0, &m), XZ_RPC_INVALID);
	/* Still serving. */
	assert_int_equal(xz_rpc_health(c, 5000, ident, &ver, &err), XZ_RPC_OK);
	assert_string_equal(ident, "tax.example");
	xz_rpc_client_free(c);
	kill(pid, SIGTERM);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_check_ok),
		cmocka_unit_test(test_check_finds_faults),
		cmocka_unit_test(test_garbage_gets_error_status),
	};

	signal(SIGPIPE, SIG_IGN);
	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
