/*
 * xiezhid: the node daemon.  Serves the xiezhi.v1 Federation service over
 * mutual TLS and answers approved joins for the node's datasets
 * (docs/operations.md).
 *
 *   xiezhid --dir DIR [--log-level L] [--grace SECONDS]
 *   xiezhid --dir DIR --check
 *
 * Signals are taken synchronously (sigwait) by the main thread, which has
 * them blocked before any other thread exists: SIGHUP reloads the policies
 * (audited), SIGTERM/SIGINT stop accepting joins, let running ones finish
 * for the grace period, cancel the rest (their handlers record
 * join_aborted) and exit 0.
 */
#include <errno.h>
#include <getopt.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sodium.h>

#include "audit.h"
#include "cli.h"
#include "daemon.h"
#include "log.h"
#include "policy.h"

#define DEFAULT_GRACE_S	30
#define CERT_WARN_DAYS	30

static void
usage(FILE *f)
{
	fputs("usage: xiezhid --dir DIR [--log-level debug|info|warn|error] [--grace SECONDS]\n"
	    "       xiezhid --dir DIR --check\n\n"
	    "Serves this node's datasets to the peers its policies allow, over mutual\n"
	    "TLS (config keys: docs/operations.md).  --check validates the config,\n"
	    "certificates, policies, store and audit anchor, prints what it found and\n"
	    "exits 0 when everything is usable, 1 otherwise.\n"
	    "Signals: SIGHUP reloads policies; SIGTERM drains joins for --grace\n"
	    "seconds (default 30), aborts the rest and exits.\n"
	    "DIR may also come from XIEZHI_DIR.\n", f);
}

/* ---- --check ---- */

struct checker {
	int failed;
	int quiet;		/* serving: keep the first failure, print nothing */
	char first[600];
};

static void __attribute__((format(printf, 3, 4)))
report(struct checker *c, int ok, const char *fmt, ...)
{
	va_list ap;

	if (!ok && !c->failed) {
		va_start(ap, fmt);
		vsnprintf(c->first, sizeof(c->first), fmt, ap);
		va_end(ap);
	}
	if (!ok)
		c->failed = 1;
	if (c->quiet)
		return;
	printf("%-5s ", ok ? "ok" : "FAIL");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

static const char *
ssl_error(void)
{
	static char buf[256];
	unsigned long e = ERR_get_error();

	if (e == 0)
		return "unknown OpenSSL error";
	ERR_error_string_n(e, buf, sizeof(buf));
	ERR_clear_error();
	return buf;
}

/* Reads every certificate of a PEM file: [0] is the leaf. */
static STACK_OF(X509) *
read_certs(const char *path, char *why, size_t wlen)
{
	STACK_OF(X509) *sk = sk_X509_new_null();
	struct stat st;
	BIO *b = NULL;
	X509 *x;

	if (sk == NULL) {
		snprintf(why, wlen, "out of memory");
		return NULL;
	}
	if (stat(path, &st) != 0 || st.st_size > (off_t)XZ_RPC_MAX_PEM_FILE ||
	    (b = BIO_new_file(path, "r")) == NULL) {
		snprintf(why, wlen, "cannot read %.400s: %s", path,
		    errno != 0 ? strerror(errno) : "over 1 MiB");
		sk_X509_free(sk);
		return NULL;
	}
	while ((x = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL)
		sk_X509_push(sk, x);
	ERR_clear_error();
	BIO_free(b);
	if (sk_X509_num(sk) == 0) {
		snprintf(why, wlen, "%.400s holds no PEM certificate", path);
		sk_X509_free(sk);
		return NULL;
	}
	return sk;
}

static void
check_key(struct checker *c, const char *path, X509 *cert)
{
	EVP_PKEY *key = NULL;
	struct stat st;
	BIO *b;

	if (stat(path, &st) != 0) {
		report(c, 0, "tls_key %s: %s", path, strerror(errno));
		return;
	}
	if ((st.st_mode & 077) != 0) {
		report(c, 0, "tls_key %s is readable by group or others (mode %04o): run "
		    "'chmod 600 %s'", path, (unsigned)(st.st_mode & 07777), path);
		return;
	}
	if ((b = BIO_new_file(path, "r")) == NULL ||
	    (key = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL)) == NULL) {
		report(c, 0, "tls_key %s: not a readable unencrypted PEM key (%s)", path,
		    ssl_error());
	} else if (cert != NULL && X509_check_private_key(cert, key) != 1) {
		ERR_clear_error();
		report(c, 0, "tls_key %s does not belong to the certificate in tls_cert", path);
	} else {
		report(c, 1, "tls_key %s: private key matches the certificate", path);
	}
	EVP_PKEY_free(key);
	BIO_free(b);
}

static void
check_validity(struct checker *c, X509 *cert)
{
	int days = 0, secs = 0;

	if (X509_cmp_current_time(X509_get0_notBefore(cert)) > 0) {
		report(c, 0, "tls_cert is not valid yet (check the clock or the certificate)");
		return;
	}
	if (X509_cmp_current_time(X509_get0_notAfter(cert)) < 0) {
		report(c, 0, "tls_cert has expired: issue a new node certificate");
		return;
	}
	if (ASN1_TIME_diff(&days, &secs, NULL, X509_get0_notAfter(cert)) == 1 &&
	    days < CERT_WARN_DAYS)
		report(c, 1, "tls_cert valid, but expires in %d days: renew it soon", days);
	else
		report(c, 1, "tls_cert valid for %d more days", days);
}

static void
check_chain(struct checker *c, const char *ca, STACK_OF(X509) *chain)
{
	X509_STORE *store = X509_STORE_new();
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	STACK_OF(X509) *untrusted = sk_X509_dup(chain);

	if (store == NULL || ctx == NULL || untrusted == NULL) {
		report(c, 0, "out of memory checking the certificate chain");
		goto done;
	}
	(void)sk_X509_shift(untrusted);
	if (X509_STORE_load_file(store, ca) != 1) {
		report(c, 0, "tls_ca %s: cannot load the CA bundle (%s)", ca, ssl_error());
		goto done;
	}
	if (X509_STORE_CTX_init(ctx, store, sk_X509_value(chain, 0), untrusted) != 1 ||
	    X509_verify_cert(ctx) != 1)
		report(c, 0, "tls_cert does not chain to tls_ca %s: %s", ca,
		    X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx)));
	else
		report(c, 1, "tls_cert chains to the CA bundle %s", ca);
	ERR_clear_error();
done:
	sk_X509_free(untrusted);
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(store);
}

/* docs/transport.md "Identity": CN, and one of the DNS SANs when any. */
static void
check_identity(struct checker *c, X509 *cert, const char *identity)
{
	char cn[256] = "";

	if (X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, cn,
	    sizeof(cn)) < 0 || strcmp(cn, identity) != 0)
		report(c, 0, "tls_cert's subject CN '%s' is not this node's identity '%s'",
		    cn, identity);
	else if (X509_check_host(cert, identity, strlen(identity),
	    X509_CHECK_FLAG_NO_WILDCARDS, NULL) != 1)
		report(c, 0, "tls_cert has no DNS subjectAltName '%s'", identity);
	else
		report(c, 1, "tls_cert identity is '%s' (CN and DNS name)", identity);
	ERR_clear_error();
}

static void
check_tls(struct checker *c, const struct xz_daemon *dd)
{
	struct xz_daemon_tls_paths p;
	STACK_OF(X509) *chain = NULL;
	struct xz_diag d;
	char why[600];

	if (xz_daemon_tls_paths(dd, &p, &d) != 0) {
		report(c, 0, "federation config: %s", d.msg);
		return;
	}
	errno = 0;
	if ((chain = read_certs(p.cert, why, sizeof(why))) == NULL) {
		report(c, 0, "tls_cert: %s", why);
	} else {
		report(c, 1, "tls_cert %s: %d certificate(s)", p.cert, sk_X509_num(chain));
		check_validity(c, sk_X509_value(chain, 0));
		check_identity(c, sk_X509_value(chain, 0), dd->conf.identity);
		check_chain(c, p.ca, chain);
	}
	check_key(c, p.key, chain != NULL ? sk_X509_value(chain, 0) : NULL);
	sk_X509_pop_free(chain, X509_free);
}

static void
check_policies(struct checker *c, const char *dir)
{
	struct xz_daemon_policy_file *files = NULL;
	struct xz_policy *pols = NULL;
	struct xz_perror e;
	struct xz_diag d;
	char pdir[4200], buf[600];
	size_t np = 0, nf = 0;

	snprintf(pdir, sizeof(pdir), "%s/policies", dir);
	if (xz_policy_load_dir(pdir, &pols, &np, &e) != 0) {
		xz_perror_format(&e, buf, sizeof(buf));
		report(c, 0, "policies: %s", buf);
		return;
	}
	if (xz_daemon_policy_files(pdir, &files, NULL, &nf, &d) != 0) {
		report(c, 0, "policies: %s", d.msg);
	} else {
		report(c, 1, "policies: %zu loaded from %s", np, pdir);
		for (size_t i = 0; i < nf; i++)
			printf("        %s  %s  (%s)\n", files[i].policy, files[i].name,
			    "ok");
	}
	free(files);
	free(pols);
}

static void
check_store(struct checker *c, const char *dir)
{
	struct xz_audit_status st;
	struct xz_node *node = NULL;
	struct xz_diag d;
	char *note = NULL;
	uint64_t size = 0;

	if (xz_node_open(dir, &node, &d) != 0) {
		report(c, 0, "store: %s", d.msg);
		return;
	}
	report(c, 1, "store %s/store.db opens with its key", dir);
	if (xz_audit_check_anchor(node, &d) != 0)
		report(c, 0, "audit anchor: %s", d.msg);
	else if (xz_audit_latest_checkpoint(node, &note, &size, &d) != 0)
		report(c, 0, "audit log: %s", d.msg);
	else
		report(c, 1, "audit anchor matches the log (%llu records)",
		    (unsigned long long)size);
	(void)st;
	free(note);
	xz_node_close(node);
}

static int
run_check(const char *dir)
{
	struct checker c = {0};
	struct xz_daemon *dd = NULL;
	struct xz_diag d;

	if (xz_daemon_new(dir, &dd, &d) != 0) {
		report(&c, 0, "config: %s", d.msg);
		return XZ_EXIT_FAIL;
	}
	report(&c, 1, "config %s/xiezhi.conf: node '%s', identity '%s', listen '%s', "
	    "%zu peer(s)", dir, dd->conf.name, dd->conf.identity[0] ? dd->conf.identity :
	    "(none)", dd->conf.listen[0] ? dd->conf.listen : "(none)", dd->conf.npeers);
	for (size_t i = 0; i < dd->conf.npeers; i++)
		printf("        peer %s at %s, identity %s%s\n", dd->conf.peers[i].name,
		    dd->conf.peers[i].address, dd->conf.peers[i].identity,
		    dd->conf.peers[i].node_key[0] ? ", node key pinned" : "");
	check_tls(&c, dd);
	check_policies(&c, dir);
	check_store(&c, dir);
	printf("%s\n", c.failed ? "xiezhid --check: problems found (see FAIL lines)" :
	    "xiezhid --check: ready to serve");
	xz_daemon_free(dd);
	return c.failed ? XZ_EXIT_FAIL : XZ_EXIT_OK;
}

/* ---- serving ---- */

static void
operator_actor(char *buf, size_t cap)
{
	struct passwd *pw = getpwuid(geteuid());

	if (pw != NULL && pw->pw_name != NULL)
		snprintf(buf, cap, "operator:%s", pw->pw_name);
	else
		snprintf(buf, cap, "operator:uid%lu", (unsigned long)geteuid());
}

static int
audit_simple(struct xz_daemon *dd, struct xz_node *node, enum xz_audit_type type,
    const char *actor, struct xz_diag *d)
{
	struct xz_audit_event ev = { type, actor, NULL, NULL, 0 };
	int rc;

	pthread_mutex_lock(&dd->audit_lock);
	rc = xz_audit_append(node, &ev, NULL, d);
	if (rc == 0)
		rc = xz_audit_publish(node, d);
	pthread_mutex_unlock(&dd->audit_lock);
	return rc;
}

static void
reload(struct xz_daemon *dd, struct xz_node *node, const char *actor)
{
	size_t loaded = 0, changed = 0;
	struct xz_diag d;

	if (xz_daemon_load_policies(dd, node, actor, &loaded, &changed, &d) != 0)
		xz_log(XZ_LOG_ERROR, "policy", NULL, "reload failed, the previous policies "
		    "stay in force: %s", d.msg);
	else
		xz_log(XZ_LOG_INFO, "policy", NULL, "%zu policies in force, %zu new or "
		    "changed", loaded, changed);
}

static int
wait_for_signals(struct xz_daemon *dd, struct xz_node *node, const sigset_t *set,
    const char *actor)
{
	int sig;

	for (;;) {
		if (sigwait(set, &sig) != 0)
			return -1;
		if (sig == SIGHUP) {
			xz_log(XZ_LOG_INFO, "daemon", NULL, "SIGHUP: reloading policies");
			reload(dd, node, actor);
			continue;
		}
		xz_log(XZ_LOG_INFO, "daemon", NULL, "%s: stopping",
		    sig == SIGTERM ? "SIGTERM" : "SIGINT");
		return 0;
	}
}

static int
serve(const char *dir, int grace_s)
{
	struct xz_rpc_server_config cfg = {0};
	struct xz_daemon_tls_paths paths;
	struct xz_rpc_server *srv = NULL;
	struct xz_daemon *dd = NULL;
	struct xz_node *node = NULL;
	struct xz_rpc_error err;
	struct xz_diag d;
	char actor[300];
	sigset_t set;
	int port = 0, rc = XZ_EXIT_FAIL;
	size_t dangling = 0;

	/* Block before any thread exists: gRPC's threads inherit the mask and
	 * the signals are taken by sigwait alone. */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	operator_actor(actor, sizeof(actor));

	if (xz_daemon_new(dir, &dd, &d) != 0 || xz_daemon_tls_paths(dd, &paths, &d) != 0 ||
	    xz_node_open(dir, &node, &d) != 0 || xz_audit_check_anchor(node, &d) != 0 ||
	    xz_daemon_load_policies(dd, node, actor, NULL, NULL, &d) != 0 ||
	    xz_daemon_close_dangling(node, "responder", actor, &dangling, &d) != 0 ||
	    audit_simple(dd, node, XZ_AUDIT_NODE_STARTED, actor, &d) != 0) {
		xz_log(XZ_LOG_ERROR, "daemon", NULL, "cannot start: %s", d.msg);
		goto done;
	}
	if (dangling > 0)
		xz_log(XZ_LOG_WARN, "daemon", NULL, "%zu join(s) were cut off by the last "
		    "stop; recorded them as aborted", dangling);
	/* The same certificate checks as --check: a node never serves with a
	 * certificate that is expired, foreign, not its identity or not its key. */
	{
		struct checker c = { .quiet = 1 };
		check_tls(&c, dd);
		if (c.failed) {
			xz_log(XZ_LOG_ERROR, "daemon", NULL, "cannot start: %s (run "
			    "'xiezhid --check')", c.first);
			goto done;
		}
	}
	cfg.listen = dd->conf.listen;
	cfg.tls.ca_file = paths.ca;
	cfg.tls.cert_file = paths.cert;
	cfg.tls.key_file = paths.key;
	cfg.identity = dd->conf.identity;
	cfg.handler = xz_responder_join;
	cfg.handler_arg = dd;
	if (xz_rpc_server_start(&cfg, &srv, &port, &err) != XZ_RPC_OK) {
		xz_log(XZ_LOG_ERROR, "daemon", NULL, "cannot serve on %s: %s", cfg.listen,
		    err.msg);
		goto done;
	}
	xz_log(XZ_LOG_INFO, "daemon", NULL, "node %s (identity %s) listening on port %d, "
	    "%zu policies in force", dd->conf.name, dd->conf.identity, port, dd->npolicies);
	if (wait_for_signals(dd, node, &set, actor) != 0)
		goto done;
	xz_rpc_server_stop(srv, grace_s * 1000);
	srv = NULL;
	if (audit_simple(dd, node, XZ_AUDIT_NODE_STOPPED, actor, &d) != 0)
		xz_log(XZ_LOG_ERROR, "daemon", NULL, "node_stopped record: %s", d.msg);
	xz_log(XZ_LOG_INFO, "daemon", NULL, "stopped");
	rc = XZ_EXIT_OK;
done:
	xz_rpc_server_stop(srv, 0);
	xz_node_close(node);
	xz_daemon_free(dd);
	return rc;
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "dir", required_argument, NULL, 'd' },
		{ "check", no_argument, NULL, 'c' },
		{ "log-level", required_argument, NULL, 'l' },
		{ "grace", required_argument, NULL, 'g' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *dir_opt = NULL, *dir;
	enum xz_log_level lvl;
	uint64_t grace = DEFAULT_GRACE_S;
	int ch, check = 0;

	umask(077);
	if (sodium_init() < 0) {
		fputs("xiezhid: libsodium failed to initialise\n", stderr);
		return XZ_EXIT_FAIL;
	}
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 'd': dir_opt = optarg; break;
		case 'c': check = 1; break;
		case 'l':
			if (xz_log_level_parse(optarg, &lvl) != 0) {
				fprintf(stderr, "xiezhid: --log-level must be debug, info, warn "
				    "or error\n");
				return XZ_EXIT_USAGE;
			}
			xz_log_set_level(lvl);
			break;
		case 'g':
			if (xz_parse_u64(optarg, 0, 3600, &grace) != 0) {
				fprintf(stderr, "xiezhid: --grace must be 0 to 3600 seconds\n");
				return XZ_EXIT_USAGE;
			}
			break;
		case 'h': usage(stdout); return XZ_EXIT_OK;
		default: usage(stderr); return XZ_EXIT_USAGE;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "xiezhid: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return XZ_EXIT_USAGE;
	}
	if ((dir = xz_cli_node_dir(dir_opt)) == NULL)
		return XZ_EXIT_USAGE;
	return check ? run_check(dir) : serve(dir, (int)grace);
}
