/*
 * xiezhid: the node daemon.  Serves the xiezhi.v1 Federation service over
 * mutual TLS and answers approved joins for the node's datasets
 * (docs/operations.md).
 *
 *   xiezhid --dir DIR [--log-level L] [--grace SECONDS]
 *   xiezhid --dir DIR --check
 *
 * Two processes (node/keeper.h): this one, the network process, serves
 * gRPC and forks the key process before any thread exists; the key
 * process holds the store, the keys and the data.  Either one ending ends
 * the other: when the key process is gone this one stops serving and
 * exits 1; when this one is gone the key process closes the joins in
 * flight as aborted and exits.
 *
 * Signals are taken synchronously (signalfd) by the main thread, which has
 * them blocked before any other thread or process exists: SIGHUP has the
 * key process reload the policies (audited), SIGTERM/SIGINT stop accepting
 * joins, let running ones finish for the grace period, cancel the rest
 * (the key process records join_aborted for each), have the key process
 * record node_stopped and exit 0.
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sodium.h>

#include "audit.h"
#include "cli.h"
#include "daemon.h"
#include "keeper.h"
#include "log.h"
#include "policy.h"
#include "sandbox.h"

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

/*
 * Landlock for the network process: after start it needs no file but its
 * TLS files (gRPC reads them when the server starts) and what the C
 * library and OpenSSL may read, and nothing of the node directory
 * (node/sandbox.h, xz_sandbox_network).
 */
static void
confine_front(const struct xz_daemon *dd, const struct xz_daemon_tls_paths *tls)
{
	const char *files[3] = { tls->ca, tls->cert, tls->key };
	struct xz_diag d;
	int r = xz_sandbox_network(files, dd->dir, &d);

	if (r == 1)
		xz_log(XZ_LOG_INFO, "daemon", NULL, "network process confined (Landlock): it "
		    "cannot open the node directory; keys and store are with the key process");
	else
		xz_log(XZ_LOG_WARN, "daemon", NULL, "%s: the network process keeps the file "
		    "access of its user (it still never opens keys/ or the store)", d.msg);
}

/* Waits up to ms for the key process; returns its exit code, 128 + signal
 * when killed, or -1 after killing it when it did not end in time. */
static int
wait_keeper(pid_t pid, int ms)
{
	int st;

	for (int waited = 0;; waited += 20) {
		pid_t w = waitpid(pid, &st, WNOHANG);
		if (w == pid)
			return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
		if (w < 0 && errno != EINTR)
			return -1;
		if (waited >= ms) {
			kill(pid, SIGKILL);
			(void)waitpid(pid, &st, 0);
			return -1;
		}
		usleep(20000);
	}
}

static void
log_keeper_end(pid_t pid, int status)
{
	if (status < 0)
		xz_log(XZ_LOG_ERROR, "daemon", NULL, "the key process (pid %d) did not stop "
		    "in time and was killed", (int)pid);
	else if (status > 128)
		xz_log(XZ_LOG_ERROR, "daemon", NULL, "the key process (pid %d) was killed by "
		    "signal %d%s", (int)pid, status - 128, status - 128 == SIGSYS ?
		    " (its sandbox refused a system call: please report this)" : "");
	else if (status != 0)
		xz_log(XZ_LOG_ERROR, "daemon", NULL, "the key process (pid %d) exited with "
		    "status %d", (int)pid, status);
}

static int
tell_keeper(struct xz_daemon *dd, uint32_t type)
{
	int rc;

	pthread_mutex_lock(&dd->keeper_lock);
	rc = xz_kmsg_send(dd->keeper_ctl, type, NULL, -1);
	pthread_mutex_unlock(&dd->keeper_lock);
	return rc;
}

/*
 * Waits for a signal (signalfd) or the key process going away (its end of
 * the control socket closes; it sends nothing after READY).  SIGHUP is
 * passed on as RELOAD: the keeper reloads, audits and logs.  Returns 0 on
 * SIGTERM/SIGINT, 1 when the key process is gone, -1 on error.
 */
static int
wait_for_events(struct xz_daemon *dd, const sigset_t *set)
{
	struct pollfd p[2];
	int sfd = signalfd(-1, set, SFD_CLOEXEC), rc = -1;

	if (sfd < 0) {
		xz_log(XZ_LOG_ERROR, "daemon", NULL, "signalfd: %s", strerror(errno));
		return -1;
	}
	p[0] = (struct pollfd){ .fd = sfd, .events = POLLIN };
	p[1] = (struct pollfd){ .fd = dd->keeper_ctl, .events = POLLIN };
	for (;;) {
		struct signalfd_siginfo si;
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (p[1].revents != 0) {
			rc = 1;
			break;
		}
		if ((p[0].revents & POLLIN) == 0 || read(sfd, &si, sizeof(si)) != sizeof(si))
			continue;
		if (si.ssi_signo == SIGHUP) {
			xz_log(XZ_LOG_INFO, "daemon", NULL, "SIGHUP: reloading policies");
			if (tell_keeper(dd, XZ_KC_RELOAD) != 0) {
				rc = 1;
				break;
			}
			continue;
		}
		xz_log(XZ_LOG_INFO, "daemon", NULL, "%s: stopping",
		    si.ssi_signo == SIGTERM ? "SIGTERM" : "SIGINT");
		rc = 0;
		break;
	}
	close(sfd);
	return rc;
}

static int
serve(const char *dir, int grace_s)
{
	struct xz_rpc_server_config cfg = {0};
	struct xz_daemon_tls_paths paths;
	struct xz_rpc_server *srv = NULL;
	struct xz_daemon *dd = NULL;
	struct xz_rpc_error err;
	struct xz_diag d;
	char actor[300];
	sigset_t set;
	size_t npolicies = 0;
	pid_t keeper = 0;
	int port = 0, rc = XZ_EXIT_FAIL, ev = -1, kst;

	/* Block before any thread or process exists: gRPC's threads and the
	 * key process inherit the mask; the signals are read from a signalfd
	 * here alone (the key process never reads them: it stops when told
	 * or when this process is gone). */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	operator_actor(actor, sizeof(actor));

	if (xz_daemon_new(dir, &dd, &d) != 0 || xz_daemon_tls_paths(dd, &paths, &d) != 0) {
		xz_log(XZ_LOG_ERROR, "daemon", NULL, "cannot start: %s", d.msg);
		goto done;
	}
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
	/* The key process opens the store, checks the anchor, loads the
	 * policies, closes cut-off joins and records node_started; this
	 * process never opens keys/ or the store. */
	if (xz_keeper_spawn(dd, actor, &keeper, &dd->keeper_ctl, &d) != 0) {
		xz_log(XZ_LOG_ERROR, "daemon", NULL, "cannot start: %s", d.msg);
		goto done;
	}
	xz_sandbox_nodump();
	if (xz_keeper_wait_ready(dd->keeper_ctl, &npolicies, &d) != 0) {
		xz_log(XZ_LOG_ERROR, "daemon", NULL, "cannot start: %s", d.msg);
		goto done;
	}
	confine_front(dd, &paths);
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
	    "%zu polic%s in force", dd->conf.name, dd->conf.identity, port, npolicies,
	    npolicies == 1 ? "y" : "ies");
	if ((ev = wait_for_events(dd, &set)) < 0)
		goto done;
	if (ev == 1)
		xz_log(XZ_LOG_ERROR, "daemon", NULL, "the key process ended unexpectedly: "
		    "stopping (no join can be answered without it)");
	/* Joins still running finish or are cancelled; each one's end reaches
	 * the key process before STOP does, so its records come first. */
	xz_rpc_server_stop(srv, ev == 1 ? 0 : grace_s * 1000);
	srv = NULL;
	if (ev == 0 && tell_keeper(dd, XZ_KC_STOP) != 0)
		ev = 1;
	if (ev == 1) {
		/* Whatever state it is in, a closed channel makes it stop. */
		close(dd->keeper_ctl);
		dd->keeper_ctl = -1;
	}
	kst = wait_keeper(keeper, XZ_KEEPER_STOP_MS);
	log_keeper_end(keeper, kst);
	keeper = 0;
	if (ev == 0 && kst == 0) {
		xz_log(XZ_LOG_INFO, "daemon", NULL, "stopped");
		rc = XZ_EXIT_OK;
	}
done:
	xz_rpc_server_stop(srv, 0);
	if (dd != NULL && dd->keeper_ctl >= 0) {
		close(dd->keeper_ctl);	/* the key process sees it and stops */
		dd->keeper_ctl = -1;
	}
	if (keeper > 0)
		log_keeper_end(keeper, wait_keeper(keeper, XZ_KEEPER_STOP_MS));
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
