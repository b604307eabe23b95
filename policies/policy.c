/*
 * Policy files: parse against the schema of docs/policy.md ("Policy
 * files"), print the normalised form, compare.
 */
#include "policy.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "yamlschema.h"

static const char *const top_keys[] = {
	"id", "version", "purpose", "legal_basis", "requester", "dataset",
	"key_column", "modes", "labels", "query_size", "budget", "valid",
	"approvals", "padding_bound", "partners", NULL
};
static const char *const top_required[] = {
	"id", "version", "purpose", "legal_basis", "requester", "dataset",
	"key_column", "modes", "labels", "query_size", "budget", "valid",
	"approvals", NULL
};
static const char *const size_keys[] = { "min", "max", NULL };
static const char *const budget_keys[] = {
	"joins_per_day", "elements_per_30_days", NULL
};
static const char *const valid_keys[] = { "from", "until", NULL };
static const char *const approvals_keys[] = { "threshold", "approvers", NULL };
static const char *const approver_keys[] = { "id", "role", "public_key", NULL };

static const char *const mode_names[] = {
	[XZ_MODE_INTERSECT] = "intersect",
	[XZ_MODE_CARDINALITY] = "cardinality",
	[XZ_MODE_DIFFERENCE] = "difference",
	[XZ_MODE_DELEGATED] = "delegated",
};

const char *
xz_mode_name(int mode)
{
	if (mode < XZ_MODE_INTERSECT || mode > XZ_MODE_DELEGATED)
		return NULL;
	return mode_names[mode];
}

int
xz_mode_from_name(const char *s)
{
	for (int m = XZ_MODE_INTERSECT; m <= XZ_MODE_DELEGATED; m++)
		if (strcmp(s, mode_names[m]) == 0)
			return m;
	return 0;
}

/* --- times: proleptic Gregorian calendar, UTC, no leap seconds --------- */

/* Days since 1970-01-01 of y-m-d (H. Hinnant's days_from_civil). */
static int64_t
days_from_civil(int64_t y, unsigned m, unsigned d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	unsigned yoe = (unsigned)(y - era * 400);
	unsigned doy = (153 * (m + (m > 2 ? -3u : 9u)) + 2) / 5 + d - 1;
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

static void
civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
	z += 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	unsigned doe = (unsigned)(z - era * 146097);
	unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	unsigned mp = (5 * doy + 2) / 153;
	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp < 10 ? mp + 3 : mp - 9;
	*y = (int64_t)yoe + era * 400 + (*m <= 2);
}

#define XZ_TIME_MIN 0			/* 1970-01-01T00:00:00Z */
#define XZ_TIME_MAX 253402300799LL	/* 9999-12-31T23:59:59Z */

int
xz_time_format(int64_t t, char *buf, size_t len)
{
	int64_t y;
	unsigned mo, d;

	if (t < XZ_TIME_MIN || t > XZ_TIME_MAX || len < 21)
		return -1;
	civil_from_days(t / 86400, &y, &mo, &d);
	int64_t s = t % 86400;
	snprintf(buf, len, "%04" PRId64 "-%02u-%02uT%02d:%02d:%02dZ", y, mo, d,
	    (int)(s / 3600), (int)(s / 60 % 60), (int)(s % 60));
	return 0;
}

static int
digits(const char *s, int n, unsigned *out)
{
	unsigned v = 0;

	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	*out = v;
	return 0;
}

int
xz_time_parse(const char *s, int64_t *out)
{
	unsigned y, mo, d, h, mi, se;
	static const unsigned mdays[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };

	if (strlen(s) != 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' ||
	    s[13] != ':' || s[16] != ':' || s[19] != 'Z')
		return -1;
	if (digits(s, 4, &y) || digits(s + 5, 2, &mo) || digits(s + 8, 2, &d) ||
	    digits(s + 11, 2, &h) || digits(s + 14, 2, &mi) || digits(s + 17, 2, &se))
		return -1;
	if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] ||
	    h > 23 || mi > 59 || se > 59)
		return -1;
	if (mo == 2 && d == 29 && !((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
		return -1;
	*out = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se;
	return 0;
}

/* --- keys ---------------------------------------------------------------- */

void
xz_key_to_base64(const unsigned char pk[32], char *buf, size_t len)
{
	sodium_bin2base64(buf, len, pk, 32, sodium_base64_VARIANT_ORIGINAL);
}

int
xz_key_from_base64(const char *s, unsigned char pk[32], const char **why)
{
	unsigned char tmp[32];
	size_t binlen = 0;
	const char *end = NULL;
	char again[sodium_base64_ENCODED_LEN(32, sodium_base64_VARIANT_ORIGINAL)];

	if (strlen(s) != 44) {
		*why = "expected 44 characters of base64 (32 bytes), as written by "
		    "'xiezhi keygen' into NAME.pub";
		return -1;
	}
	if (sodium_base642bin(tmp, sizeof(tmp), s, 44, NULL, &binlen, &end,
	    sodium_base64_VARIANT_ORIGINAL) != 0 || binlen != 32 || end != s + 44) {
		*why = "not valid base64";
		return -1;
	}
	xz_key_to_base64(tmp, again, sizeof(again));
	if (strcmp(again, s) != 0) {
		*why = "not canonical base64";
		return -1;
	}
	/* Rejects non-canonical encodings, points off the curve, points of
	 * small order and points outside the prime-order subgroup. */
	if (crypto_core_ed25519_is_valid_point(tmp) != 1) {
		*why = "not a valid Ed25519 public key (not a point of the "
		    "prime-order subgroup)";
		return -1;
	}
	memcpy(pk, tmp, 32);
	return 0;
}

/* --- parsing -------------------------------------------------------------- */

static int
parse_modes(struct xz_y *y, yaml_node_t *n, struct xz_policy *p)
{
	size_t count;
	char kp[XZ_PATH_MAX];
	const char *s;

	if (xz_y_seq(y, n, "modes", 1, 4, &count) != 0)
		return -1;
	for (size_t i = 0; i < count; i++) {
		yaml_node_t *it = xz_y_item(y, n, i);
		xz_y_path_idx(kp, "modes", i);
		if (xz_y_scalar(y, it, kp, &s) != 0)
			return -1;
		int m = xz_mode_from_name(s);
		if (m == 0)
			return xz_y_fail(y, it, kp, "unknown mode \"%.40s\" (use "
			    "intersect, cardinality, difference or delegated)", s);
		if (p->modes & XZ_MODE_BIT(m))
			return xz_y_fail(y, it, kp, "mode %s listed twice", s);
		p->modes |= XZ_MODE_BIT(m);
	}
	return 0;
}

/* partners: the other data owners a delegated join may pair this one with. */
static int
parse_partners(struct xz_y *y, yaml_node_t *root, struct xz_policy *p)
{
	yaml_node_t *n = xz_y_get(y, root, "partners");
	int delegated = (p->modes & XZ_MODE_BIT(XZ_MODE_DELEGATED)) != 0;
	char kp[XZ_PATH_MAX];
	size_t count;

	if (n == NULL) {
		if (delegated)
			return xz_y_fail(y, xz_y_get(y, root, "modes"), "modes", "mode "
			    "delegated needs a \"partners\" list: the identities of the "
			    "data owners this dataset may be matched with");
		return 0;
	}
	if (!delegated)
		return xz_y_fail(y, n, "partners", "partners are only for mode delegated; "
		    "add it to modes or remove this key");
	if (xz_y_seq(y, n, "partners", 1, XZ_POLICY_MAX_PARTNERS, &count) != 0)
		return -1;
	for (size_t i = 0; i < count; i++) {
		yaml_node_t *it = xz_y_item(y, n, i);
		xz_y_path_idx(kp, "partners", i);
		if (xz_y_identity(y, it, kp, p->partners[i], sizeof(p->partners[i])) != 0)
			return -1;
		for (size_t j = 0; j < i; j++)
			if (strcmp(p->partners[i], p->partners[j]) == 0)
				return xz_y_fail(y, it, kp, "partner listed twice");
		if (strcmp(p->partners[i], p->requester) == 0)
			return xz_y_fail(y, it, kp, "the requester cannot also be a partner");
		p->n_partners = i + 1;
	}
	return 0;
}

static int
parse_labels(struct xz_y *y, yaml_node_t *n, struct xz_policy *p)
{
	size_t count;
	char kp[XZ_PATH_MAX];

	if (xz_y_seq(y, n, "labels", 0, XZ_POLICY_MAX_LABELS, &count) != 0)
		return -1;
	for (size_t i = 0; i < count; i++) {
		yaml_node_t *it = xz_y_item(y, n, i);
		xz_y_path_idx(kp, "labels", i);
		if (xz_y_column(y, it, kp, p->labels[i], sizeof(p->labels[i])) != 0)
			return -1;
		for (size_t j = 0; j < i; j++)
			if (strcmp(p->labels[i], p->labels[j]) == 0)
				return xz_y_fail(y, it, kp, "label listed twice");
		/* In a two-party join the requester already holds the key; in a
		 * delegated one it holds nothing, and the key is how it names a
		 * lead, so only a policy that allows delegation may reveal it. */
		if (strcmp(p->labels[i], p->key_column) == 0 &&
		    !(p->modes & XZ_MODE_BIT(XZ_MODE_DELEGATED)))
			return xz_y_fail(y, it, kp, "the key column can be a label only "
			    "when the policy allows mode delegated");
		p->n_labels = i + 1;
	}
	return 0;
}

static int
parse_query_size(struct xz_y *y, yaml_node_t *n, struct xz_policy *p)
{
	yaml_node_t *mn, *mx;

	if (xz_y_mapping(y, n, "query_size", size_keys, size_keys) != 0)
		return -1;
	mn = xz_y_get(y, n, "min");
	mx = xz_y_get(y, n, "max");
	if (xz_y_u64(y, mn, "query_size.min", 1, XZ_QUERY_SIZE_MAX,
	    &p->min_query_size) != 0 ||
	    xz_y_u64(y, mx, "query_size.max", 1, XZ_QUERY_SIZE_MAX,
	    &p->max_query_size) != 0)
		return -1;
	if (p->min_query_size > p->max_query_size)
		return xz_y_fail(y, mn, "query_size.min", "min (%" PRIu64 ") is "
		    "larger than max (%" PRIu64 ")", p->min_query_size,
		    p->max_query_size);
	return 0;
}

static int
parse_budget(struct xz_y *y, yaml_node_t *n, struct xz_policy *p)
{
	yaml_node_t *e;

	if (xz_y_mapping(y, n, "budget", budget_keys, budget_keys) != 0)
		return -1;
	e = xz_y_get(y, n, "elements_per_30_days");
	if (xz_y_u64(y, xz_y_get(y, n, "joins_per_day"), "budget.joins_per_day",
	    1, XZ_JOINS_BUDGET_MAX, &p->joins_per_day) != 0 ||
	    xz_y_u64(y, e, "budget.elements_per_30_days", 1,
	    XZ_ELEMENTS_BUDGET_MAX, &p->elements_per_30_days) != 0)
		return -1;
	if (p->elements_per_30_days < p->min_query_size)
		return xz_y_fail(y, e, "budget.elements_per_30_days", "smaller than "
		    "query_size.min (%" PRIu64 "): no request could ever be allowed",
		    p->min_query_size);
	return 0;
}

static int
parse_valid(struct xz_y *y, yaml_node_t *n, struct xz_policy *p)
{
	yaml_node_t *u;

	if (xz_y_mapping(y, n, "valid", valid_keys, valid_keys) != 0)
		return -1;
	u = xz_y_get(y, n, "until");
	if (xz_y_time(y, xz_y_get(y, n, "from"), "valid.from", &p->valid_from) != 0 ||
	    xz_y_time(y, u, "valid.until", &p->valid_until) != 0)
		return -1;
	if (p->valid_from >= p->valid_until)
		return xz_y_fail(y, u, "valid.until", "must be later than valid.from");
	return 0;
}

static int
parse_approver(struct xz_y *y, yaml_node_t *n, const char *path,
    struct xz_approver *a)
{
	char kp[XZ_PATH_MAX];
	const char *s, *why;
	yaml_node_t *k;

	if (xz_y_mapping(y, n, path, approver_keys, approver_keys) != 0)
		return -1;
	if (xz_y_name(y, xz_y_get(y, n, "id"), xz_y_path(kp, path, "id"), a->id,
	    sizeof(a->id)) != 0 ||
	    xz_y_text(y, xz_y_get(y, n, "role"), xz_y_path(kp, path, "role"),
	    a->role, sizeof(a->role)) != 0)
		return -1;
	k = xz_y_get(y, n, "public_key");
	xz_y_path(kp, path, "public_key");
	if (xz_y_scalar(y, k, kp, &s) != 0)
		return -1;
	if (xz_key_from_base64(s, a->public_key, &why) != 0)
		return xz_y_fail(y, k, kp, "bad Ed25519 public key: %s", why);
	return 0;
}

static int
parse_approvals(struct xz_y *y, yaml_node_t *n, struct xz_policy *p)
{
	yaml_node_t *list, *th;
	size_t count;
	uint64_t t;
	char kp[XZ_PATH_MAX];

	if (xz_y_mapping(y, n, "approvals", approvals_keys, approvals_keys) != 0)
		return -1;
	list = xz_y_get(y, n, "approvers");
	if (xz_y_seq(y, list, "approvals.approvers", 1, XZ_POLICY_MAX_APPROVERS,
	    &count) != 0)
		return -1;
	for (size_t i = 0; i < count; i++) {
		struct xz_approver *a = &p->approvers[i];
		yaml_node_t *it = xz_y_item(y, list, i);
		xz_y_path_idx(kp, "approvals.approvers", i);
		if (parse_approver(y, it, kp, a) != 0)
			return -1;
		for (size_t j = 0; j < i; j++) {
			if (strcmp(a->id, p->approvers[j].id) == 0)
				return xz_y_fail(y, it, kp, "approver id %s listed twice",
				    a->id);
			if (sodium_memcmp(a->public_key, p->approvers[j].public_key,
			    32) == 0)
				return xz_y_fail(y, it, kp, "same public key as approver %s",
				    p->approvers[j].id);
		}
		p->n_approvers = i + 1;
	}
	th = xz_y_get(y, n, "threshold");
	if (xz_y_u64(y, th, "approvals.threshold", 1, XZ_POLICY_MAX_APPROVERS, &t) != 0)
		return -1;
	if (t > count)
		return xz_y_fail(y, th, "approvals.threshold", "threshold %" PRIu64
		    " is more than the %zu approver%s listed", t, count,
		    count == 1 ? "" : "s");
	p->threshold = (unsigned)t;
	return 0;
}

static int
parse_root(struct xz_y *y, yaml_node_t *r, struct xz_policy *p)
{
	uint64_t v;
	yaml_node_t *pb;

	if (xz_y_mapping(y, r, "", top_keys, top_required) != 0)
		return -1;
	if (xz_y_name(y, xz_y_get(y, r, "id"), "id", p->id, sizeof(p->id)) != 0 ||
	    xz_y_u64(y, xz_y_get(y, r, "version"), "version", 1,
	    XZ_POLICY_VERSION_MAX, &v) != 0)
		return -1;
	p->version = (uint32_t)v;
	if (xz_y_text(y, xz_y_get(y, r, "purpose"), "purpose", p->purpose,
	    sizeof(p->purpose)) != 0 ||
	    xz_y_text(y, xz_y_get(y, r, "legal_basis"), "legal_basis",
	    p->legal_basis, sizeof(p->legal_basis)) != 0 ||
	    xz_y_identity(y, xz_y_get(y, r, "requester"), "requester",
	    p->requester, sizeof(p->requester)) != 0 ||
	    xz_y_name(y, xz_y_get(y, r, "dataset"), "dataset", p->dataset,
	    sizeof(p->dataset)) != 0 ||
	    xz_y_column(y, xz_y_get(y, r, "key_column"), "key_column",
	    p->key_column, sizeof(p->key_column)) != 0)
		return -1;
	if (parse_modes(y, xz_y_get(y, r, "modes"), p) != 0 ||
	    parse_labels(y, xz_y_get(y, r, "labels"), p) != 0 ||
	    parse_query_size(y, xz_y_get(y, r, "query_size"), p) != 0 ||
	    parse_budget(y, xz_y_get(y, r, "budget"), p) != 0 ||
	    parse_valid(y, xz_y_get(y, r, "valid"), p) != 0 ||
	    parse_approvals(y, xz_y_get(y, r, "approvals"), p) != 0)
		return -1;
	if (parse_partners(y, r, p) != 0)
		return -1;
	if ((pb = xz_y_get(y, r, "padding_bound")) != NULL) {
		if (xz_y_u64(y, pb, "padding_bound", 1, XZ_QUERY_SIZE_MAX,
		    &p->padding_bound) != 0)
			return -1;
	}
	return 0;
}

int
xz_policy_parse(const char *file, const void *yaml, size_t len,
    struct xz_policy *out, struct xz_perror *e)
{
	struct xz_y y;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	if (xz_y_load(&y, file, yaml, len, e) != 0)
		goto done;
	if (parse_root(&y, xz_y_root(&y), out) != 0)
		goto done;
	rc = 0;
done:
	xz_y_free(&y);
	if (rc != 0)
		memset(out, 0, sizeof(*out));
	return rc;
}

int
xz_read_small_file(const char *path, size_t max, char **buf, size_t *len,
    struct xz_perror *e)
{
	int fd = -1, rc = -1;
	struct stat st;
	char *b = NULL;
	size_t got = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		xz_perror_set(e, path, 0, NULL, "cannot open: %s", strerror(errno));
		goto done;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		xz_perror_set(e, path, 0, NULL, "not a regular file");
		goto done;
	}
	if ((b = malloc(max + 2)) == NULL) {
		xz_perror_set(e, path, 0, NULL, "out of memory");
		goto done;
	}
	for (;;) {
		ssize_t r = read(fd, b + got, max + 1 - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			xz_perror_set(e, path, 0, NULL, "read failed: %s", strerror(errno));
			goto done;
		}
		if (r == 0)
			break;
		got += (size_t)r;
		if (got > max) {
			xz_perror_set(e, path, 0, NULL, "file is larger than %zu bytes", max);
			goto done;
		}
	}
	b[got] = '\0';
	*buf = b;
	*len = got;
	b = NULL;
	rc = 0;
done:
	free(b);
	if (fd >= 0)
		close(fd);
	return rc;
}

int
xz_policy_load(const char *path, struct xz_policy *out, struct xz_perror *e)
{
	char *buf = NULL;
	size_t len = 0;
	int rc;

	memset(out, 0, sizeof(*out));
	if (xz_read_small_file(path, XZ_POLICY_FILE_MAX, &buf, &len, e) != 0)
		return -1;
	rc = xz_policy_parse(path, buf, len, out, e);
	free(buf);
	return rc;
}

static int
cmp_names(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The names of dir's *.yaml files, sorted; *names malloc'd (each entry too). */
static int
list_yaml(const char *dir, char ***names, size_t *count, struct xz_perror *e)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char **v = NULL;
	size_t n = 0;
	int rc = -1;

	if (d == NULL)
		return xz_perror_set(e, dir, 0, NULL, "cannot open policy directory: "
		    "%s", strerror(errno));
	if ((v = calloc(XZ_POLICY_DIR_MAX, sizeof(*v))) == NULL)
		goto done;
	while ((de = readdir(d)) != NULL) {
		size_t l = strlen(de->d_name);
		if (de->d_name[0] == '.' || l < 6 || strcmp(de->d_name + l - 5, ".yaml"))
			continue;
		if (n == XZ_POLICY_DIR_MAX) {
			xz_perror_set(e, dir, 0, NULL, "more than %d policy files",
			    XZ_POLICY_DIR_MAX);
			goto done;
		}
		if ((v[n] = strdup(de->d_name)) == NULL)
			goto done;
		n++;
	}
	qsort(v, n, sizeof(*v), cmp_names);
	*names = v;
	*count = n;
	v = NULL;
	rc = 0;
done:
	if (rc != 0 && e != NULL && e->msg[0] == '\0')
		xz_perror_set(e, dir, 0, NULL, "out of memory");
	for (size_t i = 0; v != NULL && i < n; i++)
		free(v[i]);
	free(v);
	closedir(d);
	return rc;
}

/*
 * Whoever can write a policy decides who gets the data, so the node's
 * policies get the same care as its keys: owned by the node's user, not a
 * symbolic link, writable by nobody else.
 */
static int
check_trusted(const char *path, const char *file, struct xz_perror *e)
{
	struct stat st;

	if (lstat(path, &st) != 0)
		return xz_perror_set(e, path, 0, NULL, "cannot read: %s", strerror(errno));
	if (file != NULL && !S_ISREG(st.st_mode))
		return xz_perror_set(e, path, 0, NULL, "not a regular file (symbolic "
		    "links are not followed in the policy directory)");
	if (st.st_uid != geteuid())
		return xz_perror_set(e, path, 0, NULL, "owned by uid %u, not by the node's "
		    "user (uid %u): only the node's user may install policies",
		    (unsigned)st.st_uid, (unsigned)geteuid());
	if ((st.st_mode & 022) != 0)
		return xz_perror_set(e, path, 0, NULL, "writable by group or others (mode "
		    "%04o): run 'chmod go-w %s'", (unsigned)(st.st_mode & 07777), path);
	return 0;
}

int
xz_policy_load_dir(const char *dir, struct xz_policy **out, size_t *n,
    struct xz_perror *e)
{
	char **names = NULL, path[4096];
	size_t count = 0;
	struct xz_policy *ps = NULL;
	int rc = -1;

	if (e != NULL)
		e->msg[0] = '\0';
	if (check_trusted(dir, NULL, e) != 0 || list_yaml(dir, &names, &count, e) != 0)
		return -1;
	if ((ps = calloc(count ? count : 1, sizeof(*ps))) == NULL) {
		xz_perror_set(e, dir, 0, NULL, "out of memory");
		goto done;
	}
	for (size_t i = 0; i < count; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		if (check_trusted(path, names[i], e) != 0 || xz_policy_load(path, &ps[i], e) != 0)
			goto done;
		for (size_t j = 0; j < i; j++) {
			if (strcmp(ps[i].id, ps[j].id) == 0 &&
			    ps[i].version == ps[j].version) {
				xz_perror_set(e, path, 1, "id", "policy %s version %" PRIu32
				    " is also defined in %s", ps[i].id, ps[i].version,
				    names[j]);
				goto done;
			}
		}
	}
	*out = ps;
	*n = count;
	ps = NULL;
	rc = 0;
done:
	for (size_t i = 0; i < count; i++)
		free(names[i]);
	free(names);
	free(ps);
	return rc;
}

/* --- printing --------------------------------------------------------------- */

static void
kv_plain(struct xz_yout *o, const char *k, const char *v)
{
	xz_yout_plain(o, k);
	xz_yout_plain(o, v);
}

static void
kv_quoted(struct xz_yout *o, const char *k, const char *v)
{
	xz_yout_plain(o, k);
	xz_yout_quoted(o, v);
}

static void
kv_u64(struct xz_yout *o, const char *k, uint64_t v)
{
	xz_yout_plain(o, k);
	xz_yout_u64(o, v);
}

static void
print_approvers(struct xz_yout *o, const struct xz_policy *p)
{
	char b64[64];

	xz_yout_plain(o, "approvals");
	xz_yout_map_start(o, 0);
	kv_u64(o, "threshold", p->threshold);
	xz_yout_plain(o, "approvers");
	xz_yout_seq_start(o, 0);
	for (size_t i = 0; i < p->n_approvers; i++) {
		xz_key_to_base64(p->approvers[i].public_key, b64, sizeof(b64));
		xz_yout_map_start(o, 0);
		kv_plain(o, "id", p->approvers[i].id);
		kv_quoted(o, "role", p->approvers[i].role);
		kv_plain(o, "public_key", b64);
		xz_yout_map_end(o);
	}
	xz_yout_seq_end(o);
	xz_yout_map_end(o);
}

int
xz_policy_print(const struct xz_policy *p, char **out, struct xz_perror *e)
{
	struct xz_yout o;

	if (xz_yout_begin(&o) != 0) {
		xz_yout_abort(&o);
		return xz_perror_set(e, NULL, 0, NULL, "cannot start YAML output");
	}
	xz_yout_map_start(&o, 0);
	kv_plain(&o, "id", p->id);
	kv_u64(&o, "version", p->version);
	kv_quoted(&o, "purpose", p->purpose);
	kv_quoted(&o, "legal_basis", p->legal_basis);
	kv_quoted(&o, "requester", p->requester);
	kv_plain(&o, "dataset", p->dataset);
	kv_plain(&o, "key_column", p->key_column);
	xz_yout_plain(&o, "modes");
	xz_yout_seq_start(&o, 1);
	for (int m = XZ_MODE_INTERSECT; m <= XZ_MODE_DELEGATED; m++)
		if (p->modes & XZ_MODE_BIT(m))
			xz_yout_plain(&o, xz_mode_name(m));
	xz_yout_seq_end(&o);
	xz_yout_plain(&o, "labels");
	xz_yout_seq_start(&o, 1);
	for (size_t i = 0; i < p->n_labels; i++)
		xz_yout_plain(&o, p->labels[i]);
	xz_yout_seq_end(&o);
	xz_yout_plain(&o, "query_size");
	xz_yout_map_start(&o, 1);
	kv_u64(&o, "min", p->min_query_size);
	kv_u64(&o, "max", p->max_query_size);
	xz_yout_map_end(&o);
	xz_yout_plain(&o, "budget");
	xz_yout_map_start(&o, 0);
	kv_u64(&o, "joins_per_day", p->joins_per_day);
	kv_u64(&o, "elements_per_30_days", p->elements_per_30_days);
	xz_yout_map_end(&o);
	xz_yout_plain(&o, "valid");
	xz_yout_map_start(&o, 0);
	xz_yout_plain(&o, "from");
	xz_yout_time(&o, p->valid_from);
	xz_yout_plain(&o, "until");
	xz_yout_time(&o, p->valid_until);
	xz_yout_map_end(&o);
	print_approvers(&o, p);
	if (p->padding_bound != 0)
		kv_u64(&o, "padding_bound", p->padding_bound);
	if (p->n_partners > 0) {
		xz_yout_plain(&o, "partners");
		xz_yout_seq_start(&o, 1);
		for (size_t i = 0; i < p->n_partners; i++)
			xz_yout_quoted(&o, p->partners[i]);
		xz_yout_seq_end(&o);
	}
	xz_yout_map_end(&o);
	if (xz_yout_end(&o, out) != 0)
		return xz_perror_set(e, NULL, 0, NULL, "YAML output failed");
	return 0;
}

/* --- queries ---------------------------------------------------------------- */

int
xz_policy_equal(const struct xz_policy *a, const struct xz_policy *b)
{
	if (strcmp(a->id, b->id) != 0 || a->version != b->version ||
	    strcmp(a->purpose, b->purpose) != 0 ||
	    strcmp(a->legal_basis, b->legal_basis) != 0 ||
	    strcmp(a->requester, b->requester) != 0 ||
	    strcmp(a->dataset, b->dataset) != 0 ||
	    strcmp(a->key_column, b->key_column) != 0 || a->modes != b->modes ||
	    a->n_labels != b->n_labels || a->min_query_size != b->min_query_size ||
	    a->max_query_size != b->max_query_size ||
	    a->joins_per_day != b->joins_per_day ||
	    a->elements_per_30_days != b->elements_per_30_days ||
	    a->valid_from != b->valid_from || a->valid_until != b->valid_until ||
	    a->threshold != b->threshold || a->n_approvers != b->n_approvers ||
	    a->padding_bound != b->padding_bound || a->n_partners != b->n_partners)
		return 0;
	for (size_t i = 0; i < a->n_partners; i++)
		if (strcmp(a->partners[i], b->partners[i]) != 0)
			return 0;
	for (size_t i = 0; i < a->n_labels; i++)
		if (strcmp(a->labels[i], b->labels[i]) != 0)
			return 0;
	for (size_t i = 0; i < a->n_approvers; i++) {
		const struct xz_approver *x = &a->approvers[i], *y = &b->approvers[i];
		if (strcmp(x->id, y->id) != 0 || strcmp(x->role, y->role) != 0 ||
		    memcmp(x->public_key, y->public_key, 32) != 0)
			return 0;
	}
	return 1;
}

const struct xz_approver *
xz_policy_approver(const struct xz_policy *p, const char *id)
{
	for (size_t i = 0; i < p->n_approvers; i++)
		if (strcmp(p->approvers[i].id, id) == 0)
			return &p->approvers[i];
	return NULL;
}

int
xz_policy_partner_allowed(const struct xz_policy *p, const char *identity)
{
	for (size_t i = 0; i < p->n_partners; i++)
		if (strcmp(p->partners[i], identity) == 0)
			return 1;
	return 0;
}

int
xz_policy_label_allowed(const struct xz_policy *p, const char *label)
{
	for (size_t i = 0; i < p->n_labels; i++)
		if (strcmp(p->labels[i], label) == 0)
			return 1;
	return 0;
}
