/*
 * xiezhi audit: verify, read, export and prove the node's audit log, and
 * check exports offline (docs/audit-format.md).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "audit.h"
#include "cli.h"
#include "node.h"

#define HLEN XZ_MERKLE_HASH_LEN

static void
audit_usage(FILE *f)
{
	fputs("usage: xiezhi audit SUBCOMMAND [OPTIONS]\n\n"
	    "  verify                      rebuild the Merkle tree, check every checkpoint\n"
	    "                              signature and the anchor file\n"
	    "  log [--request ID] [--type T] [--since TIME] [--json]\n"
	    "                              print records (TIME: YYYY-MM-DD,\n"
	    "                              YYYY-MM-DDTHH:MM:SSZ or @UNIXSECONDS)\n"
	    "  export --out FILE           write records, checkpoints and the node key\n"
	    "  verify-export FILE [--pubkey KEY]\n"
	    "                              check an export offline (no node needed)\n"
	    "  prove --seq N [--size M] [--json]\n"
	    "                              inclusion proof of record N\n"
	    "  consistency --from SIZE [--json]\n"
	    "                              consistency proof from an older checkpoint\n"
	    "  crosscheck EXPORT_A EXPORT_B [--pubkey-a KEY] [--pubkey-b KEY]\n"
	    "                              compare the joins two nodes recorded\n"
	    "  publish                     rewrite DIR/audit/checkpoint from the log\n\n"
	    "Commands on a node take --dir DIR (or XIEZHI_DIR).  KEY: a verifier key\n"
	    "NAME+ID+BASE64, 64 hex digits, 44 base64 characters, or a file holding\n"
	    "one of those or the 32-byte DIR/keys/node.pub.\n", f);
}

/* ---- small helpers ---- */

static void
hex(const uint8_t *b, size_t n, char *out)
{
	sodium_bin2hex(out, 2 * n + 1, b, n);
}

static void
iso_time(uint64_t t, char out[32])
{
	time_t tt = (time_t)t;
	struct tm tm;

	if ((uint64_t)tt != t || gmtime_r(&tt, &tm) == NULL ||
	    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(out, 32, "@%llu", (unsigned long long)t);
}

static int
parse_fixed(const char *s, size_t n, int *out)
{
	int v = 0;

	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return 0;
}

/* YYYY-MM-DD, YYYY-MM-DDTHH:MM:SSZ (UTC) or @SECONDS. */
static int
parse_time(const char *s, uint64_t *out)
{
	struct tm tm = { 0 }, back;
	int y, mo, dd, h = 0, mi = 0, se = 0;
	size_t n = strlen(s);
	time_t t;

	if (s[0] == '@')
		return xz_parse_u64(s + 1, 0, INT64_MAX, out);
	if ((n != 10 && n != 20) || s[4] != '-' || s[7] != '-' ||
	    parse_fixed(s, 4, &y) || parse_fixed(s + 5, 2, &mo) || parse_fixed(s + 8, 2, &dd))
		return -1;
	if (n == 20 && (s[10] != 'T' || s[13] != ':' || s[16] != ':' || s[19] != 'Z' ||
	    parse_fixed(s + 11, 2, &h) || parse_fixed(s + 14, 2, &mi) ||
	    parse_fixed(s + 17, 2, &se)))
		return -1;
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = dd;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = se;
	if ((t = timegm(&tm)) < 0 || gmtime_r(&t, &back) == NULL ||
	    back.tm_mday != dd || back.tm_mon != mo - 1 || back.tm_hour != h ||
	    back.tm_min != mi || back.tm_sec != se)
		return -1;
	*out = (uint64_t)t;
	return 0;
}

/* 32 hex digits, or a UUID-style 8-4-4-4-12. */
static int
parse_request_id(const char *s, uint8_t out[XZ_AUDIT_REQUEST_LEN])
{
	char digits[33];
	size_t n = 0, len = strlen(s);

	if (len != 32 && len != 36)
		return -1;
	for (size_t i = 0; i < len; i++) {
		if (len == 36 && (i == 8 || i == 13 || i == 18 || i == 23)) {
			if (s[i] != '-')
				return -1;
			continue;
		}
		if (n >= 32)
			return -1;
		digits[n++] = s[i];
	}
	digits[n] = '\0';
	if (n != 32)
		return -1;
	for (size_t i = 0; i < 32; i++) {
		char c = digits[i];
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')))
			return -1;
	}
	return sodium_hex2bin(out, XZ_AUDIT_REQUEST_LEN, digits, 32, NULL, NULL, NULL);
}

/* --pubkey: the key itself, or a file holding it (text or 32 raw bytes). */
static int
load_pubkey(const char *arg, uint8_t pk[32], struct xz_diag *d)
{
	FILE *f;
	char buf[512];
	size_t n;

	if (xz_audit_parse_pubkey(arg, pk, NULL) == 0)
		return 0;
	if ((f = fopen(arg, "rb")) == NULL)
		return xz_audit_parse_pubkey(arg, pk, d);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	if (n == 32) {
		memcpy(pk, buf, 32);
		return 0;
	}
	buf[n] = '\0';
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' '))
		buf[--n] = '\0';
	if (xz_audit_parse_pubkey(buf, pk, NULL) == 0)
		return 0;
	return xz_diag_set(d, "%s holds no public key (32 raw bytes or one line "
	    "with a key)", arg);
}

static const char *
type_label(unsigned type, char buf[16])
{
	const char *n = xz_audit_type_name(type);

	if (n != NULL)
		return n;
	snprintf(buf, 16, "type#%u", type);
	return buf;
}

/* ---- printing records ---- */

static void
print_record_text(FILE *f, const struct xz_audit_record *r)
{
	char t[32], tb[16], h[2 * HLEN + 1];

	iso_time(r->time, t);
	fprintf(f, "#%llu %s %s actor=", (unsigned long long)r->seq, t, type_label(r->type, tb));
	xz_json_string(f, r->actor);
	if (r->has_request) {
		hex(r->request_id, XZ_AUDIT_REQUEST_LEN, h);
		fprintf(f, " request=%s", h);
	}
	for (size_t i = 0; i < r->nfields; i++) {
		const struct xz_audit_rfield *fl = &r->field[i];
		fprintf(f, " %s=", fl->name);
		if (fl->kind == XZ_AUDIT_STR) {
			xz_json_string(f, fl->str);
		} else if (fl->kind == XZ_AUDIT_INT) {
			fprintf(f, "%llu", (unsigned long long)fl->num);
		} else {
			hex(fl->hash, HLEN, h);
			fputs(h, f);
		}
	}
	fputc('\n', f);
}

static void
print_record_json(FILE *f, const struct xz_audit_record *r)
{
	char t[32], tb[16], h[2 * HLEN + 1];

	iso_time(r->time, t);
	fprintf(f, "{\"seq\":%llu,\"time\":\"%s\",\"unix_time\":%llu,\"type\":\"%s\","
	    "\"actor\":", (unsigned long long)r->seq, t, (unsigned long long)r->time,
	    type_label(r->type, tb));
	xz_json_string(f, r->actor);
	if (r->has_request) {
		hex(r->request_id, XZ_AUDIT_REQUEST_LEN, h);
		fprintf(f, ",\"request\":\"%s\"", h);
	}
	fputs(",\"fields\":{", f);
	for (size_t i = 0; i < r->nfields; i++) {
		const struct xz_audit_rfield *fl = &r->field[i];
		fprintf(f, "%s\"%s\":", i > 0 ? "," : "", fl->name);
		if (fl->kind == XZ_AUDIT_STR) {
			xz_json_string(f, fl->str);
		} else if (fl->kind == XZ_AUDIT_INT) {
			fprintf(f, "%llu", (unsigned long long)fl->num);
		} else {
			hex(fl->hash, HLEN, h);
			fprintf(f, "\"%s\"", h);
		}
	}
	fputs("}}", f);
}

/* ---- option parsing shared by the node subcommands ---- */

struct opts {
	const char *dir, *request, *type, *since, *out, *pubkey, *pubkey_a, *pubkey_b;
	const char *seq, *size, *from;
	int json;
	int nargs;
	char **args;
};

static int
parse_opts(const char *sub, int argc, char **argv, struct opts *o)
{
	static const struct option lopts[] = {
		{ "dir", required_argument, NULL, 'd' },
		{ "request", required_argument, NULL, 'r' },
		{ "type", required_argument, NULL, 't' },
		{ "since", required_argument, NULL, 's' },
		{ "out", required_argument, NULL, 'o' },
		{ "pubkey", required_argument, NULL, 'k' },
		{ "pubkey-a", required_argument, NULL, 'A' },
		{ "pubkey-b", required_argument, NULL, 'B' },
		{ "seq", required_argument, NULL, 'n' },
		{ "size", required_argument, NULL, 'z' },
		{ "from", required_argument, NULL, 'f' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	memset(o, 0, sizeof(*o));
	optind = 1;
	while ((c = getopt_long(argc, argv, "", lopts, NULL)) != -1) {
		switch (c) {
		case 'd': o->dir = optarg; break;
		case 'r': o->request = optarg; break;
		case 't': o->type = optarg; break;
		case 's': o->since = optarg; break;
		case 'o': o->out = optarg; break;
		case 'k': o->pubkey = optarg; break;
		case 'A': o->pubkey_a = optarg; break;
		case 'B': o->pubkey_b = optarg; break;
		case 'n': o->seq = optarg; break;
		case 'z': o->size = optarg; break;
		case 'f': o->from = optarg; break;
		case 'j': o->json = 1; break;
		case 'h': audit_usage(stdout); return -2;
		default: return xz_cli_usage_error("audit", "bad option for 'audit %s'", sub);
		}
	}
	o->nargs = argc - optind;
	o->args = argv + optind;
	return 0;
}

static int
no_args(const char *sub, const struct opts *o)
{
	if (o->nargs != 0)
		return xz_cli_usage_error("audit", "unexpected argument '%s' for 'audit %s'",
		    o->args[0], sub);
	return 0;
}

/* ---- verify ---- */

static int
cmd_verify(const struct opts *o)
{
	struct xz_node *node = NULL;
	struct xz_audit_status st;
	struct xz_diag d;
	char root[2 * HLEN + 1];
	int rc;

	if (no_args("verify", o) != 0)
		return XZ_EXIT_USAGE;
	if ((rc = xz_cli_open_node(o->dir, "audit", &node)) != XZ_EXIT_OK)
		return rc;
	if (xz_audit_verify(node, &st, &d) != 0) {
		xz_cli_error("audit verify: FAILED: %s", d.msg);
		xz_node_close(node);
		return XZ_EXIT_FAIL;
	}
	if (!st.anchor_present && st.size > 0) {
		xz_cli_error("audit verify: FAILED: the %llu records verify, but %s/audit/"
		    "checkpoint is missing, so a rollback cannot be ruled out. Compare "
		    "the root below with your last export, then run 'xiezhi audit "
		    "publish'", (unsigned long long)st.size, xz_node_dir(node));
		hex(st.root, HLEN, root);
		fprintf(stderr, "size %llu root %s\n", (unsigned long long)st.size, root);
		xz_node_close(node);
		return XZ_EXIT_FAIL;
	}
	hex(st.root, HLEN, root);
	printf("OK: audit log of %s verified: %llu records, %llu checkpoints, root %s, "
	    "key %s+%s", st.origin, (unsigned long long)st.size,
	    (unsigned long long)st.checkpoints, root, st.key_name, st.key_id);
	if (st.anchor_present)
		printf(", anchor at size %llu", (unsigned long long)st.anchor_size);
	putchar('\n');
	xz_node_close(node);
	return XZ_EXIT_OK;
}

/* ---- log ---- */

struct log_filter {
	int json, first;
	int by_request, by_type, by_time;
	uint8_t request[XZ_AUDIT_REQUEST_LEN];
	enum xz_audit_type type;
	uint64_t since;
	uint64_t shown;
};

static int
log_one(void *arg, const struct xz_audit_record *r, struct xz_diag *d)
{
	struct log_filter *f = arg;

	(void)d;
	if ((f->by_request && (!r->has_request ||
	    memcmp(r->request_id, f->request, XZ_AUDIT_REQUEST_LEN) != 0)) ||
	    (f->by_type && r->type != (unsigned)f->type) ||
	    (f->by_time && r->time < f->since))
		return 0;
	if (f->json) {
		fputs(f->first ? "\n" : ",\n", stdout);
		print_record_json(stdout, r);
	} else {
		print_record_text(stdout, r);
	}
	f->first = 0;
	f->shown++;
	return 0;
}

static int
log_filter_init(const struct opts *o, struct log_filter *f)
{
	memset(f, 0, sizeof(*f));
	f->json = o->json;
	f->first = 1;
	if (o->request != NULL) {
		if (parse_request_id(o->request, f->request) != 0)
			return xz_cli_usage_error("audit", "--request '%s' is not a request "
			    "id (32 hex digits or 8-4-4-4-12)", o->request);
		f->by_request = 1;
	}
	if (o->type != NULL) {
		if (xz_audit_type_from_name(o->type, &f->type) != 0)
			return xz_cli_usage_error("audit", "--type '%s' is not a record type "
			    "(see docs/audit-format.md, e.g. join_completed)", o->type);
		f->by_type = 1;
	}
	if (o->since != NULL) {
		if (parse_time(o->since, &f->since) != 0)
			return xz_cli_usage_error("audit", "--since '%s' is not a time "
			    "(YYYY-MM-DD, YYYY-MM-DDTHH:MM:SSZ or @SECONDS)", o->since);
		f->by_time = 1;
	}
	return 0;
}

static int
cmd_log(const struct opts *o)
{
	struct xz_node *node = NULL;
	struct log_filter f;
	struct xz_diag d;
	int rc;

	if (no_args("log", o) != 0 || log_filter_init(o, &f) != 0)
		return XZ_EXIT_USAGE;
	if ((rc = xz_cli_open_node(o->dir, "audit", &node)) != XZ_EXIT_OK)
		return rc;
	if (f.json) {
		printf("{\"node\":");
		xz_json_string(stdout, xz_node_name(node));
		printf(",\"records\":[");
	}
	rc = xz_audit_foreach(node, log_one, &f, &d);
	if (f.json)
		printf("%s]}\n", f.first ? "" : "\n");
	if (rc != 0) {
		xz_cli_error("audit log: %s (run 'xiezhi audit verify')", d.msg);
		xz_node_close(node);
		return XZ_EXIT_FAIL;
	}
	if (!f.json && f.shown == 0)
		fprintf(stderr, "no matching audit records\n");
	xz_node_close(node);
	return XZ_EXIT_OK;
}

/* ---- export ---- */

static void
operator_actor(char *buf, size_t cap)
{
	struct passwd *pw = getpwuid(geteuid());

	if (pw != NULL && pw->pw_name != NULL)
		snprintf(buf, cap, "operator:%s", pw->pw_name);
	else
		snprintf(buf, cap, "operator:uid%lu", (unsigned long)geteuid());
}

/* Writes the export to a temporary file next to out, then renames it. */
static int
write_export(struct xz_node *node, const char *out, uint64_t *size, struct xz_diag *d)
{
	size_t n = strlen(out) + 32;
	char *tmp = malloc(n);
	FILE *f = NULL;
	int fd = -1, rc = -1;

	if (tmp == NULL)
		return xz_diag_set(d, "out of memory");
	snprintf(tmp, n, "%s.tmp%ld", out, (long)getpid());
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0 || (f = fdopen(fd, "w")) == NULL) {
		xz_diag_set(d, "cannot create %s: %s", tmp, strerror(errno));
		if (fd >= 0)
			close(fd);
		goto done;
	}
	if (xz_audit_export(node, f, size, d) != 0)
		goto done;
	if (fflush(f) != 0 || fsync(fileno(f)) != 0) {
		xz_diag_set(d, "cannot write %s: %s", tmp, strerror(errno));
		goto done;
	}
	if (rename(tmp, out) != 0) {
		xz_diag_set(d, "cannot rename %s to %s: %s", tmp, out, strerror(errno));
		goto done;
	}
	rc = 0;
done:
	if (f != NULL)
		fclose(f);
	if (rc != 0)
		unlink(tmp);
	free(tmp);
	return rc;
}

static int
cmd_export(const struct opts *o)
{
	struct xz_node *node = NULL;
	struct xz_audit_event ev = { .type = XZ_AUDIT_EXPORTED };
	struct xz_diag d;
	char actor[128];
	uint64_t size = 0;
	int rc;

	if (no_args("export", o) != 0)
		return XZ_EXIT_USAGE;
	if (o->out == NULL)
		return xz_cli_usage_error("audit", "audit export needs --out FILE");
	if ((rc = xz_cli_open_node(o->dir, "audit", &node)) != XZ_EXIT_OK)
		return rc;
	operator_actor(actor, sizeof(actor));
	ev.actor = actor;
	/* The export is itself an audited event, and its record closes the
	 * export: a copy cut short lacks it (docs/audit-format.md §Exports). */
	if (xz_audit_check_anchor(node, &d) != 0 || xz_audit_append(node, &ev, NULL, &d) != 0 ||
	    xz_audit_publish(node, &d) != 0 || write_export(node, o->out, &size, &d) != 0) {
		xz_cli_error("audit export: %s", d.msg);
		xz_node_close(node);
		return XZ_EXIT_FAIL;
	}
	printf("exported %llu audit records of node %s to %s\n", (unsigned long long)size,
	    xz_node_name(node), o->out);
	xz_node_close(node);
	return XZ_EXIT_OK;
}

/* ---- verify-export ---- */

static int
verify_export_file(const char *path, const uint8_t *pin, xz_audit_record_fn fn,
    void *arg, struct xz_audit_status *st, struct xz_diag *d)
{
	FILE *f = fopen(path, "rb");
	int rc;

	if (f == NULL)
		return xz_diag_set(d, "cannot open %s: %s", path, strerror(errno));
	rc = xz_audit_verify_export(f, path, pin, fn, arg, st, d);
	fclose(f);
	return rc;
}

static int
cmd_verify_export(const struct opts *o)
{
	struct xz_audit_status st;
	struct xz_diag d;
	uint8_t pk[32];
	char root[2 * HLEN + 1];

	if (o->nargs != 1)
		return xz_cli_usage_error("audit", "audit verify-export takes one FILE");
	if (o->pubkey != NULL && load_pubkey(o->pubkey, pk, &d) != 0) {
		xz_cli_error("audit verify-export: %s", d.msg);
		return XZ_EXIT_USAGE;
	}
	if (verify_export_file(o->args[0], o->pubkey != NULL ? pk : NULL, NULL, NULL,
	    &st, &d) != 0) {
		xz_cli_error("audit verify-export: FAILED: %s", d.msg);
		return XZ_EXIT_FAIL;
	}
	hex(st.root, HLEN, root);
	printf("OK: %s verified: %s, %llu records, %llu checkpoints, root %s, key %s+%s\n",
	    o->args[0], st.origin, (unsigned long long)st.size,
	    (unsigned long long)st.checkpoints, root, st.key_name, st.key_id);
	if (o->pubkey == NULL)
		printf("warning: no --pubkey given: the export is consistent and signed by "
		    "the key it carries; compare that key with the node's published key\n");
	return XZ_EXIT_OK;
}

/* ---- prove / consistency ---- */

static void
print_proof(const struct xz_merkle_proof *p, int json)
{
	char h[2 * HLEN + 1];

	for (size_t i = 0; i < p->count; i++) {
		hex(p->hash[i], HLEN, h);
		if (json)
			printf("%s\"%s\"", i > 0 ? "," : "", h);
		else
			printf("proof %zu %s\n", i, h);
	}
}

static int
cmd_prove(const struct opts *o)
{
	struct xz_node *node = NULL;
	struct xz_audit_inclusion inc;
	struct xz_diag d;
	uint64_t seq, size = 0;
	char leaf[2 * HLEN + 1], root[2 * HLEN + 1];
	int rc;

	if (no_args("prove", o) != 0)
		return XZ_EXIT_USAGE;
	if (o->seq == NULL || xz_parse_u64(o->seq, 0, INT64_MAX, &seq) != 0)
		return xz_cli_usage_error("audit", "audit prove needs --seq N (a record number)");
	if (o->size != NULL && xz_parse_u64(o->size, 1, INT64_MAX, &size) != 0)
		return xz_cli_usage_error("audit", "--size must be a tree size >= 1");
	if ((rc = xz_cli_open_node(o->dir, "audit", &node)) != XZ_EXIT_OK)
		return rc;
	if (xz_audit_prove(node, seq, size, &inc, &d) != 0) {
		xz_cli_error("audit prove: %s", d.msg);
		xz_node_close(node);
		return XZ_EXIT_FAIL;
	}
	hex(inc.leaf, HLEN, leaf);
	hex(inc.root, HLEN, root);
	if (o->json) {
		printf("{\"seq\":%llu,\"tree_size\":%llu,\"leaf_hash\":\"%s\",\"root\":\"%s\","
		    "\"proof\":[", (unsigned long long)inc.seq, (unsigned long long)inc.size,
		    leaf, root);
		print_proof(&inc.proof, 1);
		printf("],\"checkpoint\":");
		xz_json_string(stdout, inc.note);
		printf("}\n");
	} else {
		printf("seq %llu\ntree_size %llu\nleaf_hash %s\nroot %s\n",
		    (unsigned long long)inc.seq, (unsigned long long)inc.size, leaf, root);
		print_proof(&inc.proof, 0);
		printf("checkpoint:\n%s", inc.note);
	}
	free(inc.note);
	xz_node_close(node);
	return XZ_EXIT_OK;
}

static int
cmd_consistency(const struct opts *o)
{
	struct xz_node *node = NULL;
	struct xz_audit_consistency c;
	struct xz_diag d;
	uint64_t from;
	char r1[2 * HLEN + 1], r2[2 * HLEN + 1];
	int rc;

	if (no_args("consistency", o) != 0)
		return XZ_EXIT_USAGE;
	if (o->from == NULL || xz_parse_u64(o->from, 1, INT64_MAX, &from) != 0)
		return xz_cli_usage_error("audit", "audit consistency needs --from SIZE (>= 1)");
	if ((rc = xz_cli_open_node(o->dir, "audit", &node)) != XZ_EXIT_OK)
		return rc;
	if (xz_audit_consistency(node, from, &c, &d) != 0) {
		xz_cli_error("audit consistency: %s", d.msg);
		xz_node_close(node);
		return XZ_EXIT_FAIL;
	}
	hex(c.old_root, HLEN, r1);
	hex(c.new_root, HLEN, r2);
	if (o->json) {
		printf("{\"from\":%llu,\"to\":%llu,\"old_root\":\"%s\",\"new_root\":\"%s\","
		    "\"proof\":[", (unsigned long long)c.from, (unsigned long long)c.to, r1, r2);
		print_proof(&c.proof, 1);
		printf("],\"old_checkpoint\":");
		xz_json_string(stdout, c.old_note);
		printf(",\"new_checkpoint\":");
		xz_json_string(stdout, c.new_note);
		printf("}\n");
	} else {
		printf("from %llu\nto %llu\nold_root %s\nnew_root %s\n",
		    (unsigned long long)c.from, (unsigned long long)c.to, r1, r2);
		print_proof(&c.proof, 0);
		printf("old checkpoint:\n%snew checkpoint:\n%s", c.old_note, c.new_note);
	}
	free(c.old_note);
	free(c.new_note);
	xz_node_close(node);
	return XZ_EXIT_OK;
}

/* ---- publish ---- */

static int
cmd_publish(const struct opts *o)
{
	struct xz_node *node = NULL;
	struct xz_audit_status st;
	struct xz_diag d;
	int rc;

	if (no_args("publish", o) != 0)
		return XZ_EXIT_USAGE;
	if ((rc = xz_cli_open_node(o->dir, "audit", &node)) != XZ_EXIT_OK)
		return rc;
	/* Only a log that verifies may become the new anchor; a rolled-back
	 * one fails in verify (or in publish itself). */
	if (xz_audit_verify(node, &st, &d) != 0 || xz_audit_publish(node, &d) != 0) {
		xz_cli_error("audit publish: %s", d.msg);
		xz_node_close(node);
		return XZ_EXIT_FAIL;
	}
	printf("%s/audit/checkpoint is up to date\n", xz_node_dir(node));
	xz_node_close(node);
	return XZ_EXIT_OK;
}

/* ---- crosscheck (join records, docs/audit-format.md §Crosscheck) ---- */

struct join {
	uint8_t request[XZ_AUDIT_REQUEST_LEN];
	uint64_t seq;
	unsigned type;
	char *mode, *role, *peer;
	uint64_t local_size, peer_size, result_size;
	uint8_t transcript[HLEN];
};

struct joins {
	struct join *v;
	size_t n, cap;
};

#define JOINS_MAX 1000000

static const char *
fstr(const struct xz_audit_record *r, const char *name)
{
	const struct xz_audit_rfield *f = xz_audit_record_field(r, name);

	return f != NULL && f->kind == XZ_AUDIT_STR ? f->str : "";
}

static uint64_t
fnum(const struct xz_audit_record *r, const char *name)
{
	const struct xz_audit_rfield *f = xz_audit_record_field(r, name);

	return f != NULL && f->kind == XZ_AUDIT_INT ? f->num : 0;
}

static int
collect_join(void *arg, const struct xz_audit_record *r, struct xz_diag *d)
{
	struct joins *js = arg;
	struct join *j;
	const struct xz_audit_rfield *t;

	if ((r->type != XZ_AUDIT_JOIN_COMPLETED && r->type != XZ_AUDIT_JOIN_ABORTED) ||
	    !r->has_request)
		return 0;
	if (js->n == js->cap) {
		size_t cap = js->cap ? js->cap * 2 : 64;
		struct join *v;
		if (js->n >= JOINS_MAX)
			return xz_diag_set(d, "more than %d join records", JOINS_MAX);
		if ((v = realloc(js->v, cap * sizeof(*v))) == NULL)
			return xz_diag_set(d, "out of memory");
		js->v = v;
		js->cap = cap;
	}
	j = &js->v[js->n];
	memset(j, 0, sizeof(*j));
	memcpy(j->request, r->request_id, XZ_AUDIT_REQUEST_LEN);
	j->seq = r->seq;
	j->type = r->type;
	j->mode = strdup(fstr(r, "mode"));
	j->role = strdup(fstr(r, "role"));
	j->peer = strdup(fstr(r, "peer"));
	js->n++;
	if (j->mode == NULL || j->role == NULL || j->peer == NULL)
		return xz_diag_set(d, "out of memory");
	j->local_size = fnum(r, "local_size");
	j->peer_size = fnum(r, "peer_size");
	j->result_size = fnum(r, "result_size");
	if ((t = xz_audit_record_field(r, "transcript")) != NULL && t->kind == XZ_AUDIT_HASH)
		memcpy(j->transcript, t->hash, HLEN);
	return 0;
}

static void
joins_free(struct joins *js)
{
	for (size_t i = 0; i < js->n; i++) {
		free(js->v[i].mode);
		free(js->v[i].role);
		free(js->v[i].peer);
	}
	free(js->v);
}

static int
join_cmp(const void *a, const void *b)
{
	const struct join *x = a, *y = b;
	int c = memcmp(x->request, y->request, XZ_AUDIT_REQUEST_LEN);

	if (c != 0)
		return c;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Keeps only joins with `peer`, sorted by request id. */
static void
joins_with(struct joins *js, const char *peer)
{
	size_t k = 0;

	for (size_t i = 0; i < js->n; i++) {
		if (strcmp(js->v[i].peer, peer) == 0) {
			struct join t = js->v[k];
			js->v[k++] = js->v[i];
			js->v[i] = t;
		}
	}
	for (size_t i = k; i < js->n; i++) {
		free(js->v[i].mode);
		free(js->v[i].role);
		free(js->v[i].peer);
	}
	js->n = k;
	qsort(js->v, js->n, sizeof(*js->v), join_cmp);
}

struct xcheck {
	const char *a_name, *b_name;
	uint64_t agree, only_a, only_b, differ;
};

static void
report_only(const struct join *j, const char *has, const char *lacks)
{
	char h[2 * XZ_AUDIT_REQUEST_LEN + 1], tb[16];

	hex(j->request, XZ_AUDIT_REQUEST_LEN, h);
	printf("MISSING request %s: %s recorded %s (record %llu, mode %s, role %s); %s "
	    "has no record of it\n", h, has, type_label(j->type, tb),
	    (unsigned long long)j->seq, j->mode, j->role, lacks);
}

/* Appends "what A=x B=y; " for each disagreement; returns how many. */
static int
join_diff(const struct join *a, const struct join *b, char *buf, size_t cap)
{
	size_t n = 0;
	int k = 0;

#define DIFF(...) do { k++; if (n < cap) n += (size_t)snprintf(buf + n, cap - n, __VA_ARGS__); } while (0)
	if (a->type != b->type)
		DIFF("outcome A=%s B=%s; ", xz_audit_type_name(a->type), xz_audit_type_name(b->type));
	if (strcmp(a->mode, b->mode) != 0)
		DIFF("mode A=%s B=%s; ", a->mode, b->mode);
	if (strcmp(a->role, b->role) == 0)
		DIFF("both sides say role %s; ", a->role);
	if (a->type == XZ_AUDIT_JOIN_COMPLETED && b->type == XZ_AUDIT_JOIN_COMPLETED) {
		if (a->local_size != b->peer_size)
			DIFF("A's local_size %llu but B's peer_size %llu; ",
			    (unsigned long long)a->local_size, (unsigned long long)b->peer_size);
		if (a->peer_size != b->local_size)
			DIFF("A's peer_size %llu but B's local_size %llu; ",
			    (unsigned long long)a->peer_size, (unsigned long long)b->local_size);
		if (memcmp(a->transcript, b->transcript, HLEN) != 0)
			DIFF("transcript hashes differ; ");
	}
#undef DIFF
	return k;
}

static void
compare_pair(struct xcheck *x, const struct join *a, const struct join *b)
{
	char why[1024] = "", h[2 * XZ_AUDIT_REQUEST_LEN + 1];

	if (join_diff(a, b, why, sizeof(why)) == 0) {
		x->agree++;
		return;
	}
	x->differ++;
	hex(a->request, XZ_AUDIT_REQUEST_LEN, h);
	printf("DIFFERS request %s (A record %llu, B record %llu): %s\n", h,
	    (unsigned long long)a->seq, (unsigned long long)b->seq, why);
}

/* A side recording the same request twice is itself a mismatch. */
static size_t
skip_duplicates(const struct joins *js, size_t i, const char *side, struct xcheck *x)
{
	size_t j = i + 1;
	char h[2 * XZ_AUDIT_REQUEST_LEN + 1];

	while (j < js->n && memcmp(js->v[j].request, js->v[i].request, XZ_AUDIT_REQUEST_LEN) == 0)
		j++;
	if (j - i > 1) {
		hex(js->v[i].request, XZ_AUDIT_REQUEST_LEN, h);
		printf("DIFFERS request %s: %s has %zu final records for it\n", h, side, j - i);
		x->differ++;
	}
	return j;
}

static void
merge_joins(struct xcheck *x, const struct joins *a, const struct joins *b)
{
	size_t i = 0, j = 0;

	while (i < a->n || j < b->n) {
		int c = i >= a->n ? 1 : j >= b->n ? -1 :
		    memcmp(a->v[i].request, b->v[j].request, XZ_AUDIT_REQUEST_LEN);
		if (c < 0) {
			report_only(&a->v[i], x->a_name, x->b_name);
			x->only_a++;
			i = skip_duplicates(a, i, x->a_name, x);
		} else if (c > 0) {
			report_only(&b->v[j], x->b_name, x->a_name);
			x->only_b++;
			j = skip_duplicates(b, j, x->b_name, x);
		} else {
			compare_pair(x, &a->v[i], &b->v[j]);
			i = skip_duplicates(a, i, x->a_name, x);
			j = skip_duplicates(b, j, x->b_name, x);
		}
	}
}

/* "NAME xiezhi audit" -> NAME */
static void
origin_node(const char *origin, char *out, size_t cap)
{
	const char *sp = strchr(origin, ' ');
	size_t n = sp != NULL ? (size_t)(sp - origin) : strlen(origin);

	snprintf(out, cap, "%.*s", (int)n, origin);
}

static int
cmd_crosscheck(const struct opts *o)
{
	struct joins a = { 0 }, b = { 0 };
	struct xz_audit_status sa, sb;
	struct xcheck x = { 0 };
	struct xz_diag d;
	uint8_t pa[32], pb[32];
	char na[128], nb[128];
	int rc = XZ_EXIT_FAIL;

	if (o->nargs != 2)
		return xz_cli_usage_error("audit", "audit crosscheck takes EXPORT_A EXPORT_B");
	if ((o->pubkey_a != NULL && load_pubkey(o->pubkey_a, pa, &d) != 0) ||
	    (o->pubkey_b != NULL && load_pubkey(o->pubkey_b, pb, &d) != 0)) {
		xz_cli_error("audit crosscheck: %s", d.msg);
		return XZ_EXIT_USAGE;
	}
	if (verify_export_file(o->args[0], o->pubkey_a ? pa : NULL, collect_join, &a, &sa, &d) != 0 ||
	    verify_export_file(o->args[1], o->pubkey_b ? pb : NULL, collect_join, &b, &sb, &d) != 0) {
		xz_cli_error("audit crosscheck: an export does not verify, nothing compared: %s",
		    d.msg);
		goto done;
	}
	origin_node(sa.origin, na, sizeof(na));
	origin_node(sb.origin, nb, sizeof(nb));
	x.a_name = na;
	x.b_name = nb;
	joins_with(&a, nb);
	joins_with(&b, na);
	merge_joins(&x, &a, &b);
	printf("crosscheck %s (%zu join%s with %s) vs %s (%zu join%s with %s): %llu agree, "
	    "%llu only in %s, %llu only in %s, %llu differ\n", na, a.n, a.n == 1 ? "" : "s",
	    nb, nb, b.n, b.n == 1 ? "" : "s", na,
	    (unsigned long long)x.agree, (unsigned long long)x.only_a, na,
	    (unsigned long long)x.only_b, nb, (unsigned long long)x.differ);
	rc = (x.only_a || x.only_b || x.differ) ? XZ_EXIT_FAIL : XZ_EXIT_OK;
done:
	joins_free(&a);
	joins_free(&b);
	return rc;
}

/* ---- dispatch ---- */

static const struct {
	const char *name;
	int (*run)(const struct opts *o);
} subs[] = {
	{ "verify", cmd_verify },
	{ "log", cmd_log },
	{ "export", cmd_export },
	{ "verify-export", cmd_verify_export },
	{ "prove", cmd_prove },
	{ "consistency", cmd_consistency },
	{ "crosscheck", cmd_crosscheck },
	{ "publish", cmd_publish },
};

int
xz_cmd_audit(int argc, char **argv)
{
	struct opts o;
	int r;

	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		audit_usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? XZ_EXIT_USAGE : XZ_EXIT_OK;
	}
	for (size_t i = 0; i < sizeof(subs) / sizeof(subs[0]); i++) {
		if (strcmp(argv[1], subs[i].name) != 0)
			continue;
		r = parse_opts(subs[i].name, argc - 1, argv + 1, &o);
		if (r == -2)
			return XZ_EXIT_OK;
		if (r != 0)
			return XZ_EXIT_USAGE;
		return subs[i].run(&o);
	}
	return xz_cli_usage_error("audit", "unknown audit subcommand '%s'", argv[1]);
}
