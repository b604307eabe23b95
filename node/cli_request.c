/*
 * xiezhi request: create a join request, show it to a human, approve it
 * with an approver key, and dry-run the decision a data owner's node would
 * take on it.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "cli.h"
#include "decision.h"
#include "keyfile.h"
#include "policy.h"
#include "request.h"

#define DEFAULT_VALID_FOR (7 * 86400)
#define MAX_VALID_FOR (365 * 86400)
#define MAX_DECIDE_POLICIES 64

static void
request_usage(FILE *f)
{
	fputs("usage: xiezhi request create --out FILE [--from-policy POLICY.yaml]\n"
	    "           --requester ID --responder ID --policy ID --policy-version N\n"
	    "           --dataset NAME --mode MODE [--label NAME]... --query-size N\n"
	    "           --purpose TEXT --case-number TEXT --legal-basis TEXT\n"
	    "           [--valid-for SECONDS] [--partner ID --link HEX]\n"
	    "       xiezhi request show FILE [--policy POLICY.yaml]\n"
	    "       xiezhi request approve FILE --key NAME.key [--as APPROVER]\n"
	    "           [--digest HEX]\n"
	    "       xiezhi request decide FILE --policy POLICY.yaml... --peer ID\n"
	    "           --self ID [--now TIME]\n\n"
	    "create   writes a new request file (never overwrites) with a fresh random\n"
	    "         128-bit id, created now, valid for 7 days unless --valid-for.\n"
	    "         --from-policy fills requester, policy, version, dataset, purpose\n"
	    "         and legal basis from a policy file; options given win.\n"
	    "         MODE is intersect, cardinality, difference or delegated; a\n"
	    "         delegated request names the other data owner (--partner) and the\n"
	    "         32-hex-digit link both owners' requests of the step share\n"
	    "         (--link; 'xiezhi model requests' makes such pairs).\n"
	    "show     prints everything an approver must read before signing, the\n"
	    "         request digest, and each approval's status (with --policy: whether\n"
	    "         the approver and key are the policy's and the threshold is met).\n"
	    "approve  signs the request with an approver key and adds the approval to\n"
	    "         FILE.  APPROVER defaults to the key file's name without .key and\n"
	    "         must be the approver's id in the policy.  --digest HEX refuses to\n"
	    "         sign unless the request is the one whose digest you were shown.\n"
	    "decide   dry run of the data owner's decision (no usage counted: replay\n"
	    "         and budgets are checked by the node itself).  TIME is\n"
	    "         YYYY-MM-DDTHH:MM:SSZ, default now.  Exit 0 allow, 1 refuse.\n", f);
}

static int
fail_perror(const char *what, const struct xz_perror *e)
{
	char msg[1024];

	xz_perror_format(e, msg, sizeof(msg));
	xz_cli_error("request %s: %s", what, msg);
	return XZ_EXIT_FAIL;
}

/* Creates path, refusing to overwrite anything. */
static int
write_new(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);

	if (fd < 0) {
		xz_cli_error("cannot create %s: %s%s", path, strerror(errno),
		    errno == EEXIST ? " (refusing to overwrite; choose another name)" : "");
		return -1;
	}
	if (xz_cli_write_all(fd, text, strlen(text)) != 0 || fsync(fd) != 0) {
		xz_cli_error("cannot write %s: %s", path, strerror(errno));
		close(fd);
		unlink(path);
		return -1;
	}
	return close(fd);
}

/* Replaces path atomically: a temporary file in the same directory, synced,
 * then renamed over it, so a crash leaves the old or the new file. */
static int
replace_file(const char *path, const char *text)
{
	char tmp[4096];
	int fd, n = snprintf(tmp, sizeof(tmp), "%s.XXXXXX", path);

	if (n < 0 || (size_t)n >= sizeof(tmp)) {
		xz_cli_error("path too long: %s", path);
		return -1;
	}
	if ((fd = mkstemp(tmp)) < 0) {
		xz_cli_error("cannot create a temporary file next to %s: %s", path,
		    strerror(errno));
		return -1;
	}
	if (fchmod(fd, 0644) != 0 || xz_cli_write_all(fd, text, strlen(text)) != 0 ||
	    fsync(fd) != 0 || close(fd) != 0) {
		xz_cli_error("cannot write %s: %s", tmp, strerror(errno));
		unlink(tmp);
		return -1;
	}
	if (rename(tmp, path) != 0) {
		xz_cli_error("cannot replace %s: %s", path, strerror(errno));
		unlink(tmp);
		return -1;
	}
	return 0;
}

static int
copy_opt(char *dst, size_t cap, const char *v, const char *opt)
{
	if (strlen(v) >= cap) {
		xz_cli_error("request create: %s: longer than %zu bytes", opt, cap - 1);
		return -1;
	}
	memcpy(dst, v, strlen(v) + 1);
	return 0;
}

/* Fills the fields the caller left empty from a policy file. */
static int
fill_from_policy(struct xz_request *r, const char *path)
{
	struct xz_policy *p = malloc(sizeof(*p));
	struct xz_perror e;
	int rc = -1;

	if (p == NULL)
		return -1;
	if (xz_policy_load(path, p, &e) != 0) {
		fail_perror("create", &e);
		goto done;
	}
	if (r->requester[0] == '\0')
		memcpy(r->requester, p->requester, sizeof(r->requester));
	if (r->policy_id[0] == '\0')
		memcpy(r->policy_id, p->id, sizeof(r->policy_id));
	if (r->policy_version == 0)
		r->policy_version = p->version;
	if (r->dataset[0] == '\0')
		memcpy(r->dataset, p->dataset, sizeof(r->dataset));
	if (r->purpose[0] == '\0')
		memcpy(r->purpose, p->purpose, sizeof(r->purpose));
	if (r->legal_basis[0] == '\0')
		memcpy(r->legal_basis, p->legal_basis, sizeof(r->legal_basis));
	rc = 0;
done:
	free(p);
	return rc;
}

enum {
	O_OUT = 1, O_FROM, O_REQUESTER, O_RESPONDER, O_POLICY, O_VERSION,
	O_DATASET, O_MODE, O_LABEL, O_SIZE, O_PURPOSE, O_CASE, O_BASIS,
	O_VALID, O_KEY, O_AS, O_DIGEST, O_PEER, O_SELF, O_NOW, O_HELP, O_PARTNER, O_LINK
};

static int
create_option(struct xz_request *r, int c, const char *v, uint64_t *valid_for)
{
	uint64_t n;

	switch (c) {
	case O_REQUESTER: return copy_opt(r->requester, sizeof(r->requester), v, "--requester");
	case O_RESPONDER: return copy_opt(r->responder, sizeof(r->responder), v, "--responder");
	case O_POLICY:    return copy_opt(r->policy_id, sizeof(r->policy_id), v, "--policy");
	case O_DATASET:   return copy_opt(r->dataset, sizeof(r->dataset), v, "--dataset");
	case O_PURPOSE:   return copy_opt(r->purpose, sizeof(r->purpose), v, "--purpose");
	case O_CASE:      return copy_opt(r->case_number, sizeof(r->case_number), v, "--case-number");
	case O_BASIS:     return copy_opt(r->legal_basis, sizeof(r->legal_basis), v, "--legal-basis");
	case O_VERSION:
		if (xz_parse_u64(v, 1, XZ_POLICY_VERSION_MAX, &n) != 0)
			break;
		r->policy_version = (uint32_t)n;
		return 0;
	case O_MODE:
		if ((r->mode = xz_mode_from_name(v)) == 0)
			break;
		return 0;
	case O_LABEL:
		if (r->n_labels >= XZ_POLICY_MAX_LABELS) {
			xz_cli_error("request create: more than %d --label options",
			    XZ_POLICY_MAX_LABELS);
			return -1;
		}
		return copy_opt(r->labels[r->n_labels++], sizeof(r->labels[0]), v,
		    "--label");
	case O_SIZE:
		return xz_parse_u64(v, 1, XZ_QUERY_SIZE_MAX, &r->query_size) != 0 ?
		    (xz_cli_error("request create: --query-size: expected 1..%llu, "
		    "got '%s'", XZ_QUERY_SIZE_MAX, v), -1) : 0;
	case O_VALID:
		if (xz_parse_u64(v, 60, MAX_VALID_FOR, valid_for) != 0)
			break;
		return 0;
	case O_PARTNER: return copy_opt(r->partner, sizeof(r->partner), v, "--partner");
	case O_LINK: {
		size_t bin = 0;
		if (strlen(v) != 2 * XZ_REQUEST_ID_LEN || sodium_hex2bin(r->link,
		    sizeof(r->link), v, strlen(v), NULL, &bin, NULL) != 0 ||
		    bin != XZ_REQUEST_ID_LEN) {
			xz_cli_error("request create: --link: expected 32 hexadecimal "
			    "digits, got '%s'", v);
			return -1;
		}
		return 0;
	}
	default:
		return -1;
	}
	xz_cli_error("request create: bad value '%s' (see 'xiezhi request --help')", v);
	return -1;
}

static int
cmd_create(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "out", required_argument, NULL, O_OUT },
		{ "from-policy", required_argument, NULL, O_FROM },
		{ "requester", required_argument, NULL, O_REQUESTER },
		{ "responder", required_argument, NULL, O_RESPONDER },
		{ "policy", required_argument, NULL, O_POLICY },
		{ "policy-version", required_argument, NULL, O_VERSION },
		{ "dataset", required_argument, NULL, O_DATASET },
		{ "mode", required_argument, NULL, O_MODE },
		{ "label", required_argument, NULL, O_LABEL },
		{ "query-size", required_argument, NULL, O_SIZE },
		{ "purpose", required_argument, NULL, O_PURPOSE },
		{ "case-number", required_argument, NULL, O_CASE },
		{ "legal-basis", required_argument, NULL, O_BASIS },
		{ "valid-for", required_argument, NULL, O_VALID },
		{ "partner", required_argument, NULL, O_PARTNER },
		{ "link", required_argument, NULL, O_LINK },
		{ "help", no_argument, NULL, O_HELP },
		{ NULL, 0, NULL, 0 },
	};
	struct xz_request_file *f = calloc(1, sizeof(*f));
	const char *out = NULL, *from = NULL;
	uint64_t valid_for = DEFAULT_VALID_FOR;
	struct xz_perror e;
	char *text = NULL, hex[33];
	int c, rc = XZ_EXIT_FAIL;

	if (f == NULL) {
		xz_cli_error("request: out of memory");
		return XZ_EXIT_FAIL;
	}
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == O_HELP) {
			request_usage(stdout);
			rc = XZ_EXIT_OK;
			goto done;
		} else if (c == O_OUT) {
			out = optarg;
		} else if (c == O_FROM) {
			from = optarg;
		} else if (c == '?' || c == ':') {
			rc = xz_cli_usage_error("request", "unknown option or missing "
			    "value: '%s'", argv[optind - 1]);
			goto done;
		} else if (create_option(&f->req, c, optarg, &valid_for) != 0) {
			rc = XZ_EXIT_USAGE;
			goto done;
		}
	}
	if (optind != argc || out == NULL) {
		rc = xz_cli_usage_error("request", optind != argc ? "unexpected "
		    "argument '%s'" : "--out FILE is required%s", optind != argc ?
		    argv[optind] : "");
		goto done;
	}
	if (from != NULL && fill_from_policy(&f->req, from) != 0)
		goto done;
	xz_request_new_id(f->req.id);
	f->req.created_at = (int64_t)time(NULL);
	f->req.expires_at = f->req.created_at + (int64_t)valid_for;
	xz_request_sort_labels(&f->req);
	if (xz_request_validate(&f->req, &e) != 0) {
		for (char *p = e.key; *p != '\0'; p++)
			if (*p == '_')
				*p = '-';
		if (strcmp(e.msg, "empty") == 0)
			xz_cli_error("request create: --%s is required", e.key);
		else
			xz_cli_error("request create: --%s: %s", e.key, e.msg);
		rc = XZ_EXIT_USAGE;
		goto done;
	}
	if (xz_request_file_print(f, &text, &e) != 0) {
		rc = fail_perror("create", &e);
		goto done;
	}
	if (write_new(out, text) != 0)
		goto done;
	xz_hex(f->req.id, XZ_REQUEST_ID_LEN, hex, sizeof(hex));
	printf("wrote request %s to %s\nNext: each approver runs 'xiezhi request show "
	    "%s', then 'xiezhi request approve %s --key NAME.key'.\n", hex, out, out,
	    out);
	rc = XZ_EXIT_OK;
done:
	free(text);
	free(f);
	return rc;
}

/* Prints "  label: text", indenting continuation lines of multi-line text. */
static void
field(const char *label, const char *text)
{
	printf("  %-20s ", label);
	for (const char *p = text; *p != '\0'; p++) {
		putchar(*p);
		if (*p == '\n')
			printf("  %-20s ", "");
	}
	putchar('\n');
}

static void
time_field(const char *label, int64_t t, int64_t now)
{
	char buf[64], line[128];

	if (xz_time_format(t, buf, sizeof(buf)) != 0)
		snprintf(buf, sizeof(buf), "(out of range)");
	if (t > now)
		snprintf(line, sizeof(line), "%s (in %" PRId64 " h %" PRId64 " min)",
		    buf, (t - now) / 3600, (t - now) / 60 % 60);
	else
		snprintf(line, sizeof(line), "%s (%" PRId64 " h %" PRId64 " min ago)",
		    buf, (now - t) / 3600, (now - t) / 60 % 60);
	field(label, line);
}

static void
show_request(const struct xz_request *r, const unsigned char digest[32])
{
	char hex[65], labels[XZ_POLICY_MAX_LABELS * (XZ_NAME_MAX + 2) + 1] = "";
	int64_t now = (int64_t)time(NULL);
	char num[XZ_NAME_MAX + 64];

	xz_hex(r->id, XZ_REQUEST_ID_LEN, hex, sizeof(hex));
	printf("Join request %s\n", hex);
	xz_hex(digest, 32, hex, sizeof(hex));
	field("digest (SHA-256):", hex);
	field("requester (from):", r->requester);
	field("responder (to):", r->responder);
	snprintf(num, sizeof(num), "%s version %" PRIu32, r->policy_id,
	    r->policy_version);
	field("policy:", num);
	field("dataset:", r->dataset);
	field("mode:", xz_mode_name(r->mode));
	if (r->mode == XZ_MODE_DELEGATED) {
		field("partner:", r->partner);
		xz_hex(r->link, XZ_REQUEST_ID_LEN, hex, sizeof(hex));
		field("link:", hex);
	}
	for (size_t i = 0, n = 0; i < r->n_labels && n < sizeof(labels); i++) {
		int w = snprintf(labels + n, sizeof(labels) - n, "%s%s", i ? ", " : "",
		    r->labels[i]);
		n += w > 0 ? (size_t)w : 0;
	}
	field("labels revealed:", r->n_labels ? labels : "(none)");
	snprintf(num, sizeof(num), "%" PRIu64 " %s", r->query_size,
	    r->mode == XZ_MODE_DELEGATED ? "(most of the partner's records to evaluate)" :
	    "(declared, padded)");
	field("query set size:", num);
	field("purpose:", r->purpose);
	field("case number:", r->case_number);
	field("legal basis:", r->legal_basis);
	time_field("created:", r->created_at, now);
	time_field("expires:", r->expires_at, now);
	if (now >= r->expires_at)
		printf("  THIS REQUEST HAS EXPIRED: do not approve it.\n");
}

/* One approval: who, with which key, and whether it would count (returns 1). */
static int
show_approval(size_t i, const struct xz_request *r, const struct xz_approval *a,
    const struct xz_policy *p)
{
	int counts = 0;

	char pk[64];
	const char *status;
	const struct xz_approver *pa = p ? xz_policy_approver(p, a->approver) : NULL;

	xz_key_to_base64(a->public_key, pk, sizeof(pk));
	if (xz_approval_verify(r, a) != 0)
		status = "BAD SIGNATURE (request changed after approval, or forged)";
	else if (p == NULL)
		status = "signature valid (not checked against a policy; use --policy)";
	else if (pa == NULL)
		status = "signature valid, but NOT an approver of this policy";
	else if (sodium_memcmp(pa->public_key, a->public_key, 32) != 0)
		status = "signature valid, but NOT the key the policy lists";
	else {
		status = "valid";
		counts = 1;
	}
	printf("  %zu. %s", i + 1, a->approver);
	if (pa != NULL)
		printf(" (%s)", pa->role);
	printf("\n     key %s\n     %s\n", pk, status);
	return counts;
}

/* With a policy: how many distinct approvers count against the threshold. */
static void
show_threshold(const struct xz_request_file *f, const struct xz_policy *p,
    const int counts[])
{
	unsigned distinct = 0;

	for (size_t i = 0; i < f->n_approvals; i++) {
		int dup = 0;
		for (size_t j = 0; j < i; j++)
			dup |= counts[j] && strcmp(f->approvals[j].approver,
			    f->approvals[i].approver) == 0;
		distinct += counts[i] && !dup;
	}
	printf("Threshold: policy %s needs %u approvals; %u valid: %s\n", p->id,
	    p->threshold, distinct, distinct >= p->threshold ? "enough" :
	    "NOT enough yet");
	for (size_t i = 0; i < p->n_approvers; i++) {
		int has = 0;
		for (size_t j = 0; j < f->n_approvals; j++)
			has |= counts[j] && strcmp(f->approvals[j].approver,
			    p->approvers[i].id) == 0;
		if (!has)
			printf("  still possible: %s (%s)\n", p->approvers[i].id,
			    p->approvers[i].role);
	}
}

static int
cmd_show(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "policy", required_argument, NULL, O_POLICY },
		{ "help", no_argument, NULL, O_HELP },
		{ NULL, 0, NULL, 0 },
	};
	struct xz_request_file *f = malloc(sizeof(*f));
	struct xz_policy *p = NULL;
	const char *policy_path = NULL;
	unsigned char digest[32];
	struct xz_perror e;
	int c, rc = XZ_EXIT_FAIL;

	if (f == NULL) {
		xz_cli_error("request: out of memory");
		return XZ_EXIT_FAIL;
	}
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == O_HELP) {
			request_usage(stdout);
			rc = XZ_EXIT_OK;
			goto done;
		} else if (c == O_POLICY) {
			policy_path = optarg;
		} else {
			rc = xz_cli_usage_error("request", "unknown option or missing "
			    "value: '%s'", argv[optind - 1]);
			goto done;
		}
	}
	if (optind + 1 != argc) {
		rc = xz_cli_usage_error("request", "request show takes one FILE");
		goto done;
	}
	if (xz_request_file_load(argv[optind], f, &e) != 0 ||
	    xz_request_digest(&f->req, digest, &e) != 0) {
		rc = fail_perror("show", &e);
		goto done;
	}
	if (policy_path != NULL) {
		if ((p = malloc(sizeof(*p))) == NULL)
			goto done;
		if (xz_policy_load(policy_path, p, &e) != 0) {
			rc = fail_perror("show", &e);
			goto done;
		}
	}
	show_request(&f->req, digest);
	printf("Approvals (%zu):\n", f->n_approvals);
	if (f->n_approvals == 0)
		printf("  (none yet)\n");
	int counts[XZ_REQUEST_MAX_APPROVALS] = { 0 };
	for (size_t i = 0; i < f->n_approvals; i++)
		counts[i] = show_approval(i, &f->req, &f->approvals[i], p);
	if (p != NULL && (strcmp(p->id, f->req.policy_id) != 0 ||
	    p->version != f->req.policy_version))
		printf("Note: %s is policy %s version %" PRIu32 ", not the one the "
		    "request names.\n", policy_path, p->id, p->version);
	else if (p != NULL)
		show_threshold(f, p, counts);
	rc = XZ_EXIT_OK;
done:
	free(p);
	free(f);
	return rc;
}

/* The approver id: --as, else the key file's name without ".key". */
static int
approver_name(const char *key_path, const char *as, char *out, size_t cap)
{
	char buf[4096];
	const char *why;

	if (as != NULL) {
		snprintf(out, cap, "%s", as);
	} else {
		snprintf(buf, sizeof(buf), "%s", key_path);
		char *b = basename(buf);
		size_t n = strlen(b);
		if (n > 4 && strcmp(b + n - 4, ".key") == 0)
			b[n - 4] = '\0';
		snprintf(out, cap, "%s", b);
	}
	if ((why = xz_check_name(out)) != NULL) {
		xz_cli_error("request approve: approver id '%s': %s (pass --as ID, the "
		    "approver's id in the policy)", out, why);
		return -1;
	}
	return 0;
}

static int
check_digest(const char *want, const unsigned char digest[32])
{
	char hex[65];

	xz_hex(digest, 32, hex, sizeof(hex));
	if (want != NULL && strcmp(want, hex) != 0) {
		xz_cli_error("request approve: the request's digest is %s, not the %s "
		    "you expected: it changed since you read it; not signing", hex, want);
		return -1;
	}
	return 0;
}

static int
add_approval(struct xz_request_file *f, const char *key_path, const char *who,
    const char *want_digest, const char *path)
{
	unsigned char *sk = NULL, digest[32];
	struct xz_perror e;
	int rc = -1;

	if (xz_request_digest(&f->req, digest, &e) != 0) {
		fail_perror("approve", &e);
		return -1;
	}
	if (check_digest(want_digest, digest) != 0)
		return -1;
	if ((int64_t)time(NULL) >= f->req.expires_at) {
		xz_cli_error("request approve: %s has expired; not signing", path);
		return -1;
	}
	if (f->n_approvals >= XZ_REQUEST_MAX_APPROVALS) {
		xz_cli_error("request approve: %s already holds %d approvals", path,
		    XZ_REQUEST_MAX_APPROVALS);
		return -1;
	}
	if (xz_keyfile_load(key_path, &sk, &e) != 0) {
		fail_perror("approve", &e);
		return -1;
	}
	for (size_t i = 0; i < f->n_approvals; i++) {
		if (sodium_memcmp(f->approvals[i].public_key, sk + 32, 32) == 0) {
			xz_cli_error("request approve: %s is already approved with this "
			    "key (approval %zu, as %s)", path, i + 1,
			    f->approvals[i].approver);
			goto done;
		}
	}
	if (xz_request_sign(&f->req, sk, who, &f->approvals[f->n_approvals], &e) != 0) {
		fail_perror("approve", &e);
		goto done;
	}
	f->n_approvals++;
	rc = 0;
done:
	xz_keyfile_free(sk);
	return rc;
}

static int
cmd_approve(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "key", required_argument, NULL, O_KEY },
		{ "as", required_argument, NULL, O_AS },
		{ "digest", required_argument, NULL, O_DIGEST },
		{ "help", no_argument, NULL, O_HELP },
		{ NULL, 0, NULL, 0 },
	};
	struct xz_request_file *f = malloc(sizeof(*f));
	const char *key = NULL, *as = NULL, *want = NULL, *path;
	char who[XZ_NAME_MAX + 1], *text = NULL, hex[65];
	unsigned char digest[32];
	struct xz_perror e;
	int c, rc = XZ_EXIT_FAIL;

	if (f == NULL) {
		xz_cli_error("request: out of memory");
		return XZ_EXIT_FAIL;
	}
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case O_KEY: key = optarg; break;
		case O_AS: as = optarg; break;
		case O_DIGEST: want = optarg; break;
		case O_HELP: request_usage(stdout); rc = XZ_EXIT_OK; goto done;
		default:
			rc = xz_cli_usage_error("request", "unknown option or missing "
			    "value: '%s'", argv[optind - 1]);
			goto done;
		}
	}
	if (optind + 1 != argc || key == NULL) {
		rc = xz_cli_usage_error("request", "request approve takes one FILE "
		    "and --key NAME.key");
		goto done;
	}
	path = argv[optind];
	if (approver_name(key, as, who, sizeof(who)) != 0) {
		rc = XZ_EXIT_USAGE;
		goto done;
	}
	if (xz_request_file_load(path, f, &e) != 0) {
		rc = fail_perror("approve", &e);
		goto done;
	}
	if (add_approval(f, key, who, want, path) != 0)
		goto done;
	if (xz_request_file_print(f, &text, &e) != 0) {
		rc = fail_perror("approve", &e);
		goto done;
	}
	if (replace_file(path, text) != 0 || xz_request_digest(&f->req, digest, &e) != 0)
		goto done;
	xz_hex(digest, 32, hex, sizeof(hex));
	printf("approved %s as %s (request digest %s); %zu approval%s now\n", path,
	    who, hex, f->n_approvals, f->n_approvals == 1 ? "" : "s");
	rc = XZ_EXIT_OK;
done:
	free(text);
	free(f);
	return rc;
}

struct decide_args {
	const char *policy_paths[MAX_DECIDE_POLICIES];
	size_t n_policies;
	const char *peer, *self, *now;
};

static int
decide_options(int argc, char **argv, struct decide_args *a)
{
	static const struct option opts[] = {
		{ "policy", required_argument, NULL, O_POLICY },
		{ "peer", required_argument, NULL, O_PEER },
		{ "self", required_argument, NULL, O_SELF },
		{ "now", required_argument, NULL, O_NOW },
		{ "help", no_argument, NULL, O_HELP },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case O_POLICY:
			if (a->n_policies >= MAX_DECIDE_POLICIES)
				return xz_cli_usage_error("request", "at most %d --policy",
				    MAX_DECIDE_POLICIES);
			a->policy_paths[a->n_policies++] = optarg;
			break;
		case O_PEER: a->peer = optarg; break;
		case O_SELF: a->self = optarg; break;
		case O_NOW: a->now = optarg; break;
		case O_HELP: request_usage(stdout); return -1;
		default:
			return xz_cli_usage_error("request", "unknown option or missing "
			    "value: '%s'", argv[optind - 1]);
		}
	}
	if (optind + 1 != argc || a->n_policies == 0 || a->peer == NULL ||
	    a->self == NULL)
		return xz_cli_usage_error("request", "request decide takes one FILE, "
		    "--policy, --peer and --self");
	return 0;
}

static int
cmd_decide(int argc, char **argv)
{
	struct decide_args a = { .n_policies = 0 };
	struct xz_request_file *f = malloc(sizeof(*f));
	struct xz_policy *ps = NULL;
	struct xz_decision d;
	struct xz_perror e;
	int64_t now = (int64_t)time(NULL);
	int rc = XZ_EXIT_FAIL;

	if (f == NULL) {
		xz_cli_error("request: out of memory");
		return XZ_EXIT_FAIL;
	}
	if ((rc = decide_options(argc, argv, &a)) != 0) {
		rc = rc < 0 ? XZ_EXIT_OK : rc;
		goto done;
	}
	rc = XZ_EXIT_FAIL;
	if (a.now != NULL && xz_time_parse(a.now, &now) != 0) {
		rc = xz_cli_usage_error("request", "--now: expected "
		    "YYYY-MM-DDTHH:MM:SSZ, got '%s'", a.now);
		goto done;
	}
	if ((ps = calloc(a.n_policies, sizeof(*ps))) == NULL)
		goto done;
	for (size_t i = 0; i < a.n_policies; i++) {
		if (xz_policy_load(a.policy_paths[i], &ps[i], &e) != 0) {
			rc = fail_perror("decide", &e);
			goto done;
		}
	}
	if (xz_request_file_load(argv[optind], f, &e) != 0) {
		rc = fail_perror("decide", &e);
		goto done;
	}
	struct xz_decision_input in = {
		.policies = ps, .n_policies = a.n_policies, .request = &f->req,
		.approvals = f->approvals, .n_approvals = f->n_approvals,
		.peer_identity = a.peer, .self_identity = a.self, .now = now,
	};
	rc = xz_decide(&in, &d) == 0 ? XZ_EXIT_OK : XZ_EXIT_FAIL;
	printf("%s: %s\n", xz_verdict_name(d.verdict), d.message);
done:
	free(ps);
	free(f);
	return rc;
}

int
xz_cmd_request(int argc, char **argv)
{
	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		request_usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? XZ_EXIT_USAGE : XZ_EXIT_OK;
	}
	if (strcmp(argv[1], "create") == 0)
		return cmd_create(argc - 1, argv + 1);
	if (strcmp(argv[1], "show") == 0)
		return cmd_show(argc - 1, argv + 1);
	if (strcmp(argv[1], "approve") == 0)
		return cmd_approve(argc - 1, argv + 1);
	if (strcmp(argv[1], "decide") == 0)
		return cmd_decide(argc - 1, argv + 1);
	return xz_cli_usage_error("request", "unknown subcommand '%s' (create, "
	    "show, approve, decide)", argv[1]);
}
