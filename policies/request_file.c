/*
 * Request files: one request plus the approvals gathered so far, as YAML
 * (docs/policy.md, "Request files").  The file is only a carrier: the
 * struct parsed from it is what gets encoded, shown and signed.
 */
#include "request.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "yamlschema.h"

static const char *const file_keys[] = { "request", "approvals", NULL };
static const char *const file_required[] = { "request", NULL };
static const char *const req_keys[] = {
	"id", "requester", "responder", "policy", "policy_version", "dataset",
	"mode", "labels", "query_size", "purpose", "case_number", "legal_basis",
	"created", "expires", "partner", "link", NULL
};
static const char *const req_required[] = {
	"id", "requester", "responder", "policy", "policy_version", "dataset",
	"mode", "labels", "query_size", "purpose", "case_number", "legal_basis",
	"created", "expires", NULL
};
static const char *const approval_keys[] = {
	"approver", "public_key", "signature", NULL
};

static int
parse_hex16(struct xz_y *y, yaml_node_t *n, const char *path,
    unsigned char out[XZ_REQUEST_ID_LEN])
{
	const char *s;
	size_t bin = 0;
	const char *end = NULL;

	if (xz_y_scalar(y, n, path, &s) != 0)
		return -1;
	if (strlen(s) != 2 * XZ_REQUEST_ID_LEN ||
	    sodium_hex2bin(out, XZ_REQUEST_ID_LEN, s, strlen(s), NULL, &bin, &end) != 0 ||
	    bin != XZ_REQUEST_ID_LEN)
		return xz_y_fail(y, n, path, "expected 32 hexadecimal digits");
	return 0;
}

/* partner and link: required in a delegated request, refused in any other. */
static int
parse_delegation(struct xz_y *y, yaml_node_t *m, struct xz_request *r)
{
	yaml_node_t *pn = xz_y_get(y, m, "partner"), *ln = xz_y_get(y, m, "link");

	if (r->mode != XZ_MODE_DELEGATED) {
		if (pn != NULL || ln != NULL)
			return xz_y_fail(y, pn != NULL ? pn : ln, pn != NULL ? "request.partner" :
			    "request.link", "only a delegated request has this key");
		return 0;
	}
	if (pn == NULL || ln == NULL)
		return xz_y_fail(y, m, pn == NULL ? "request.partner" : "request.link",
		    "a delegated request needs partner (the other data owner's identity) "
		    "and link (the 32 hex digits both owners' requests share)");
	if (xz_y_identity(y, pn, "request.partner", r->partner, sizeof(r->partner)) != 0 ||
	    parse_hex16(y, ln, "request.link", r->link) != 0)
		return -1;
	if (sodium_is_zero(r->link, sizeof(r->link)))
		return xz_y_fail(y, ln, "request.link", "must not be all zero");
	return 0;
}

static int
parse_labels(struct xz_y *y, yaml_node_t *n, struct xz_request *r)
{
	size_t count;
	char kp[XZ_PATH_MAX];

	if (xz_y_seq(y, n, "request.labels", 0, XZ_POLICY_MAX_LABELS, &count) != 0)
		return -1;
	for (size_t i = 0; i < count; i++) {
		yaml_node_t *it = xz_y_item(y, n, i);
		xz_y_path_idx(kp, "request.labels", i);
		if (xz_y_column(y, it, kp, r->labels[i], sizeof(r->labels[i])) != 0)
			return -1;
		if (i > 0 && strcmp(r->labels[i - 1], r->labels[i]) >= 0)
			return xz_y_fail(y, it, kp, "labels must be sorted and unique");
		r->n_labels = i + 1;
	}
	return 0;
}

static int
parse_texts(struct xz_y *y, yaml_node_t *m, struct xz_request *r)
{
	return xz_y_text(y, xz_y_get(y, m, "purpose"), "request.purpose",
	    r->purpose, sizeof(r->purpose)) != 0 ||
	    xz_y_text(y, xz_y_get(y, m, "case_number"), "request.case_number",
	    r->case_number, sizeof(r->case_number)) != 0 ||
	    xz_y_text(y, xz_y_get(y, m, "legal_basis"), "request.legal_basis",
	    r->legal_basis, sizeof(r->legal_basis)) != 0 ? -1 : 0;
}

static int
parse_request(struct xz_y *y, yaml_node_t *m, struct xz_request *r)
{
	uint64_t v;
	const char *s;
	yaml_node_t *n, *ex;

	if (xz_y_mapping(y, m, "request", req_keys, req_required) != 0 ||
	    parse_hex16(y, xz_y_get(y, m, "id"), "request.id", r->id) != 0 ||
	    xz_y_identity(y, xz_y_get(y, m, "requester"), "request.requester",
	    r->requester, sizeof(r->requester)) != 0 ||
	    xz_y_identity(y, xz_y_get(y, m, "responder"), "request.responder",
	    r->responder, sizeof(r->responder)) != 0 ||
	    xz_y_name(y, xz_y_get(y, m, "policy"), "request.policy", r->policy_id,
	    sizeof(r->policy_id)) != 0 ||
	    xz_y_u64(y, xz_y_get(y, m, "policy_version"), "request.policy_version",
	    1, XZ_POLICY_VERSION_MAX, &v) != 0 ||
	    xz_y_name(y, xz_y_get(y, m, "dataset"), "request.dataset", r->dataset,
	    sizeof(r->dataset)) != 0)
		return -1;
	r->policy_version = (uint32_t)v;
	n = xz_y_get(y, m, "mode");
	if (xz_y_scalar(y, n, "request.mode", &s) != 0)
		return -1;
	if ((r->mode = xz_mode_from_name(s)) == 0)
		return xz_y_fail(y, n, "request.mode", "unknown mode \"%.40s\" (use "
		    "intersect, cardinality, difference or delegated)", s);
	if (parse_delegation(y, m, r) != 0 ||
	    parse_labels(y, xz_y_get(y, m, "labels"), r) != 0 ||
	    xz_y_u64(y, xz_y_get(y, m, "query_size"), "request.query_size", 1,
	    XZ_QUERY_SIZE_MAX, &r->query_size) != 0 ||
	    parse_texts(y, m, r) != 0)
		return -1;
	ex = xz_y_get(y, m, "expires");
	if (xz_y_time(y, xz_y_get(y, m, "created"), "request.created",
	    &r->created_at) != 0 ||
	    xz_y_time(y, ex, "request.expires", &r->expires_at) != 0)
		return -1;
	if (r->expires_at <= r->created_at)
		return xz_y_fail(y, ex, "request.expires", "must be later than created");
	return 0;
}

static int
parse_b64(struct xz_y *y, yaml_node_t *n, const char *path, unsigned char *out,
    size_t outlen)
{
	const char *s, *end = NULL;
	size_t bin = 0;

	if (xz_y_scalar(y, n, path, &s) != 0)
		return -1;
	if (sodium_base642bin(out, outlen, s, strlen(s), NULL, &bin, &end,
	    sodium_base64_VARIANT_ORIGINAL) != 0 || bin != outlen ||
	    end != s + strlen(s))
		return xz_y_fail(y, n, path, "expected base64 of %zu bytes", outlen);
	return 0;
}

static int
parse_approvals(struct xz_y *y, yaml_node_t *n, struct xz_request_file *f)
{
	size_t count;
	char kp[XZ_PATH_MAX], kk[XZ_PATH_MAX];
	const char *why, *s;

	if (xz_y_seq(y, n, "approvals", 0, XZ_REQUEST_MAX_APPROVALS, &count) != 0)
		return -1;
	for (size_t i = 0; i < count; i++) {
		struct xz_approval *a = &f->approvals[i];
		yaml_node_t *it = xz_y_item(y, n, i), *k;
		xz_y_path_idx(kp, "approvals", i);
		if (xz_y_mapping(y, it, kp, approval_keys, approval_keys) != 0 ||
		    xz_y_name(y, xz_y_get(y, it, "approver"),
		    xz_y_path(kk, kp, "approver"), a->approver,
		    sizeof(a->approver)) != 0)
			return -1;
		k = xz_y_get(y, it, "public_key");
		xz_y_path(kk, kp, "public_key");
		if (xz_y_scalar(y, k, kk, &s) != 0)
			return -1;
		if (xz_key_from_base64(s, a->public_key, &why) != 0)
			return xz_y_fail(y, k, kk, "bad Ed25519 public key: %s", why);
		if (parse_b64(y, xz_y_get(y, it, "signature"),
		    xz_y_path(kk, kp, "signature"), a->signature, 64) != 0)
			return -1;
		f->n_approvals = i + 1;
	}
	return 0;
}

int
xz_request_file_parse(const char *file, const void *yaml, size_t len,
    struct xz_request_file *out, struct xz_perror *e)
{
	struct xz_y y;
	yaml_node_t *root, *ap;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	if (xz_y_load(&y, file, yaml, len, e) != 0)
		goto done;
	root = xz_y_root(&y);
	if (xz_y_mapping(&y, root, "", file_keys, file_required) != 0 ||
	    parse_request(&y, xz_y_get(&y, root, "request"), &out->req) != 0)
		goto done;
	if ((ap = xz_y_get(&y, root, "approvals")) != NULL &&
	    parse_approvals(&y, ap, out) != 0)
		goto done;
	if (xz_request_validate(&out->req, e) != 0) {
		/* Every limit is also checked above with a line; this is the
		 * belt to those braces, so name at least the file. */
		if (e != NULL)
			snprintf(e->file, sizeof(e->file), "%s", file);
		goto done;
	}
	rc = 0;
done:
	xz_y_free(&y);
	if (rc != 0)
		memset(out, 0, sizeof(*out));
	return rc;
}

int
xz_request_file_load(const char *path, struct xz_request_file *out,
    struct xz_perror *e)
{
	char *buf = NULL;
	size_t len = 0;
	int rc;

	memset(out, 0, sizeof(*out));
	if (xz_read_small_file(path, XZ_POLICY_FILE_MAX, &buf, &len, e) != 0)
		return -1;
	rc = xz_request_file_parse(path, buf, len, out, e);
	free(buf);
	return rc;
}

static void
kv(struct xz_yout *o, const char *k, const char *v, int quoted)
{
	xz_yout_plain(o, k);
	if (quoted)
		xz_yout_quoted(o, v);
	else
		xz_yout_plain(o, v);
}

static void
print_request(struct xz_yout *o, const struct xz_request *r)
{
	char hex[2 * XZ_REQUEST_ID_LEN + 1];

	xz_hex(r->id, sizeof(r->id), hex, sizeof(hex));
	xz_yout_plain(o, "request");
	xz_yout_map_start(o, 0);
	kv(o, "id", hex, 1);
	kv(o, "requester", r->requester, 1);
	kv(o, "responder", r->responder, 1);
	kv(o, "policy", r->policy_id, 0);
	xz_yout_plain(o, "policy_version");
	xz_yout_u64(o, r->policy_version);
	kv(o, "dataset", r->dataset, 0);
	kv(o, "mode", xz_mode_name(r->mode), 0);
	xz_yout_plain(o, "labels");
	xz_yout_seq_start(o, 1);
	for (size_t i = 0; i < r->n_labels; i++)
		xz_yout_plain(o, r->labels[i]);
	xz_yout_seq_end(o);
	xz_yout_plain(o, "query_size");
	xz_yout_u64(o, r->query_size);
	kv(o, "purpose", r->purpose, 1);
	kv(o, "case_number", r->case_number, 1);
	kv(o, "legal_basis", r->legal_basis, 1);
	xz_yout_plain(o, "created");
	xz_yout_time(o, r->created_at);
	xz_yout_plain(o, "expires");
	xz_yout_time(o, r->expires_at);
	if (r->mode == XZ_MODE_DELEGATED) {
		xz_hex(r->link, sizeof(r->link), hex, sizeof(hex));
		kv(o, "partner", r->partner, 1);
		kv(o, "link", hex, 1);
	}
	xz_yout_map_end(o);
}

static void
print_approvals(struct xz_yout *o, const struct xz_request_file *f)
{
	char pk[64], sig[128];

	xz_yout_plain(o, "approvals");
	xz_yout_seq_start(o, f->n_approvals == 0);
	for (size_t i = 0; i < f->n_approvals; i++) {
		const struct xz_approval *a = &f->approvals[i];
		xz_key_to_base64(a->public_key, pk, sizeof(pk));
		sodium_bin2base64(sig, sizeof(sig), a->signature, 64,
		    sodium_base64_VARIANT_ORIGINAL);
		xz_yout_map_start(o, 0);
		kv(o, "approver", a->approver, 0);
		kv(o, "public_key", pk, 0);
		kv(o, "signature", sig, 0);
		xz_yout_map_end(o);
	}
	xz_yout_seq_end(o);
}

static const char file_header[] =
    "# xiezhi join request.  Read it with 'xiezhi request show FILE' before\n"
    "# approving; approvals are Ed25519 signatures over its canonical bytes\n"
    "# (docs/policy.md), so any edit to the request voids them.\n";

int
xz_request_file_print(const struct xz_request_file *f, char **out,
    struct xz_perror *e)
{
	struct xz_yout o;
	char *body = NULL, *all = NULL;
	size_t hl = sizeof(file_header) - 1, bl;

	if (xz_request_validate(&f->req, e) != 0)
		return -1;
	if (xz_yout_begin(&o) != 0) {
		xz_yout_abort(&o);
		return xz_perror_set(e, NULL, 0, NULL, "cannot start YAML output");
	}
	xz_yout_map_start(&o, 0);
	print_request(&o, &f->req);
	print_approvals(&o, f);
	xz_yout_map_end(&o);
	if (xz_yout_end(&o, &body) != 0)
		return xz_perror_set(e, NULL, 0, NULL, "YAML output failed");
	bl = strlen(body);
	if ((all = malloc(hl + bl + 1)) == NULL) {
		free(body);
		return xz_perror_set(e, NULL, 0, NULL, "out of memory");
	}
	memcpy(all, file_header, hl);
	memcpy(all + hl, body, bl + 1);
	free(body);
	*out = all;
	return 0;
}
