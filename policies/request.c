/*
 * Requests: validation, the canonical encoding (docs/policy.md, "Canonical
 * request encoding"), digests and approval signatures.
 */
#include "request.h"

#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "yamlschema.h"

/* Field tags, in the only order an encoding may have them. */
enum {
	TAG_ID = 1, TAG_REQUESTER, TAG_RESPONDER, TAG_POLICY_ID,
	TAG_POLICY_VERSION, TAG_DATASET, TAG_MODE, TAG_LABELS, TAG_QUERY_SIZE,
	TAG_PURPOSE, TAG_CASE_NUMBER, TAG_LEGAL_BASIS, TAG_CREATED, TAG_EXPIRES,
	TAG_PARTNER, TAG_LINK,		/* delegated requests only */
};

#define XZ_TIME_LIMIT 253402300799LL	/* 9999-12-31T23:59:59Z */

void
xz_request_new_id(unsigned char id[XZ_REQUEST_ID_LEN])
{
	randombytes_buf(id, XZ_REQUEST_ID_LEN);
}

void
xz_hex(const unsigned char *b, size_t n, char *buf, size_t len)
{
	sodium_bin2hex(buf, len, b, n);
}

static int
check_field(const char *key, const char *v, const char *(*check)(const char *),
    size_t max, struct xz_perror *e)
{
	const char *why = check(v);

	if (why != NULL)
		return xz_perror_set(e, NULL, 0, key, "%s", why);
	if (strlen(v) > max)
		return xz_perror_set(e, NULL, 0, key, "longer than %zu bytes", max);
	return 0;
}

static int
check_labels(const struct xz_request *r, struct xz_perror *e)
{
	char kp[XZ_PATH_MAX];

	if (r->n_labels > XZ_POLICY_MAX_LABELS)
		return xz_perror_set(e, NULL, 0, "labels", "more than %d labels",
		    XZ_POLICY_MAX_LABELS);
	for (size_t i = 0; i < r->n_labels; i++) {
		xz_y_path_idx(kp, "labels", i);
		if (check_field(kp, r->labels[i], xz_check_column, XZ_NAME_MAX, e) != 0)
			return -1;
		if (i > 0 && strcmp(r->labels[i - 1], r->labels[i]) >= 0)
			return xz_perror_set(e, NULL, 0, kp, "labels must be sorted "
			    "and unique (\"%s\" follows \"%s\")", r->labels[i],
			    r->labels[i - 1]);
	}
	return 0;
}

/* partner and link: both set in a delegated request, both empty otherwise. */
static int
check_delegation(const struct xz_request *r, struct xz_perror *e)
{
	int linked = !sodium_is_zero(r->link, sizeof(r->link));

	if (r->mode != XZ_MODE_DELEGATED) {
		if (r->partner[0] != '\0')
			return xz_perror_set(e, NULL, 0, "partner", "only a delegated "
			    "request names a partner");
		if (linked)
			return xz_perror_set(e, NULL, 0, "link", "only a delegated request "
			    "has a link");
		return 0;
	}
	if (r->partner[0] == '\0')
		return xz_perror_set(e, NULL, 0, "partner", "a delegated request names the "
		    "other data owner of the step");
	if (check_field("partner", r->partner, xz_check_identity, XZ_IDENTITY_MAX, e) != 0)
		return -1;
	if (strcmp(r->partner, r->responder) == 0 || strcmp(r->partner, r->requester) == 0)
		return xz_perror_set(e, NULL, 0, "partner", "must be a third node, not the "
		    "requester or the responder");
	if (!linked)
		return xz_perror_set(e, NULL, 0, "link", "a delegated request carries the "
		    "link id its partner's request shares");
	return 0;
}

int
xz_request_validate(const struct xz_request *r, struct xz_perror *e)
{
	if (check_field("requester", r->requester, xz_check_identity,
	    XZ_IDENTITY_MAX, e) != 0 ||
	    check_field("responder", r->responder, xz_check_identity,
	    XZ_IDENTITY_MAX, e) != 0 ||
	    check_field("policy", r->policy_id, xz_check_name, XZ_NAME_MAX, e) != 0)
		return -1;
	if (r->policy_version == 0)
		return xz_perror_set(e, NULL, 0, "policy_version", "must be at least 1");
	if (check_field("dataset", r->dataset, xz_check_name, XZ_NAME_MAX, e) != 0)
		return -1;
	if (xz_mode_name(r->mode) == NULL)
		return xz_perror_set(e, NULL, 0, "mode", "not intersect, cardinality, "
		    "difference or delegated");
	if (check_delegation(r, e) != 0)
		return -1;
	if (check_labels(r, e) != 0)
		return -1;
	if (r->query_size < 1 || r->query_size > XZ_QUERY_SIZE_MAX)
		return xz_perror_set(e, NULL, 0, "query_size", "must be between 1 "
		    "and %llu", XZ_QUERY_SIZE_MAX);
	if (check_field("purpose", r->purpose, xz_check_text, XZ_TEXT_MAX, e) != 0 ||
	    check_field("case_number", r->case_number, xz_check_text,
	    XZ_CASE_NUMBER_MAX, e) != 0 ||
	    check_field("legal_basis", r->legal_basis, xz_check_text,
	    XZ_TEXT_MAX, e) != 0)
		return -1;
	if (r->created_at < 0 || r->created_at > XZ_TIME_LIMIT)
		return xz_perror_set(e, NULL, 0, "created", "out of range");
	if (r->expires_at <= r->created_at || r->expires_at > XZ_TIME_LIMIT)
		return xz_perror_set(e, NULL, 0, "expires", "must be later than "
		    "created (and before the year 10000)");
	return 0;
}

static int
cmp_label(const void *a, const void *b)
{
	return strcmp(a, b);
}

void
xz_request_sort_labels(struct xz_request *r)
{
	if (r->n_labels > 1 && r->n_labels <= XZ_POLICY_MAX_LABELS)
		qsort(r->labels, r->n_labels, sizeof(r->labels[0]), cmp_label);
}

/* --- encoding ------------------------------------------------------------ */

/* A bounded writer; once it overflows every later write is a no-op. */
struct wbuf {
	unsigned char *p;
	size_t len, cap;
	int overflow;
};

static void
put(struct wbuf *w, const void *b, size_t n)
{
	if (w->overflow || n > w->cap - w->len) {
		w->overflow = 1;
		return;
	}
	memcpy(w->p + w->len, b, n);
	w->len += n;
}

static void
put_be(struct wbuf *w, uint64_t v, size_t n)
{
	unsigned char b[8];

	for (size_t i = 0; i < n; i++)
		b[i] = (unsigned char)(v >> (8 * (n - 1 - i)));
	put(w, b, n);
}

static void
put_tag(struct wbuf *w, unsigned tag)
{
	put_be(w, tag, 1);
}

static void
put_str(struct wbuf *w, const char *s)
{
	size_t n = strlen(s);

	put_be(w, n, 4);
	put(w, s, n);
}

int
xz_request_encode(const struct xz_request *r, unsigned char *buf, size_t cap,
    size_t *len, struct xz_perror *e)
{
	struct wbuf w = { buf, 0, cap, 0 };

	if (xz_request_validate(r, e) != 0)
		return -1;
	put(&w, XZ_REQUEST_MAGIC, sizeof(XZ_REQUEST_MAGIC));	/* with NUL */
	put_tag(&w, TAG_ID);
	put(&w, r->id, XZ_REQUEST_ID_LEN);
	put_tag(&w, TAG_REQUESTER);	put_str(&w, r->requester);
	put_tag(&w, TAG_RESPONDER);	put_str(&w, r->responder);
	put_tag(&w, TAG_POLICY_ID);	put_str(&w, r->policy_id);
	put_tag(&w, TAG_POLICY_VERSION); put_be(&w, r->policy_version, 4);
	put_tag(&w, TAG_DATASET);	put_str(&w, r->dataset);
	put_tag(&w, TAG_MODE);		put_be(&w, (uint64_t)r->mode, 1);
	put_tag(&w, TAG_LABELS);	put_be(&w, r->n_labels, 4);
	for (size_t i = 0; i < r->n_labels; i++)
		put_str(&w, r->labels[i]);
	put_tag(&w, TAG_QUERY_SIZE);	put_be(&w, r->query_size, 8);
	put_tag(&w, TAG_PURPOSE);	put_str(&w, r->purpose);
	put_tag(&w, TAG_CASE_NUMBER);	put_str(&w, r->case_number);
	put_tag(&w, TAG_LEGAL_BASIS);	put_str(&w, r->legal_basis);
	put_tag(&w, TAG_CREATED);	put_be(&w, (uint64_t)r->created_at, 8);
	put_tag(&w, TAG_EXPIRES);	put_be(&w, (uint64_t)r->expires_at, 8);
	if (r->mode == XZ_MODE_DELEGATED) {
		put_tag(&w, TAG_PARTNER);	put_str(&w, r->partner);
		put_tag(&w, TAG_LINK);		put(&w, r->link, XZ_REQUEST_ID_LEN);
	}
	if (w.overflow)
		return xz_perror_set(e, NULL, 0, NULL, "encoding buffer too small");
	*len = w.len;
	return 0;
}

/* A cursor over hostile bytes: every read checks what remains. */
struct rbuf {
	const unsigned char *p;
	size_t len, off;
};

static int
get(struct rbuf *r, void *out, size_t n)
{
	if (n > r->len - r->off)
		return -1;
	memcpy(out, r->p + r->off, n);
	r->off += n;
	return 0;
}

static int
get_be(struct rbuf *r, size_t n, uint64_t *v)
{
	unsigned char b[8];

	if (get(r, b, n) != 0)
		return -1;
	*v = 0;
	for (size_t i = 0; i < n; i++)
		*v = (*v << 8) | b[i];
	return 0;
}

static int
expect_tag(struct rbuf *r, unsigned tag)
{
	uint64_t t;

	return get_be(r, 1, &t) != 0 || t != tag ? -1 : 0;
}

/* A length-prefixed string into dst (cap incl. NUL); no NUL inside. */
static int
get_str(struct rbuf *r, char *dst, size_t cap)
{
	uint64_t n;

	if (get_be(r, 4, &n) != 0 || n >= cap || get(r, dst, (size_t)n) != 0)
		return -1;
	dst[n] = '\0';
	return memchr(dst, '\0', (size_t)n) == NULL ? 0 : -1;
}

static int
decode_fields(struct rbuf *b, struct xz_request *r)
{
	uint64_t v;

	if (expect_tag(b, TAG_ID) || get(b, r->id, XZ_REQUEST_ID_LEN) ||
	    expect_tag(b, TAG_REQUESTER) || get_str(b, r->requester, sizeof(r->requester)) ||
	    expect_tag(b, TAG_RESPONDER) || get_str(b, r->responder, sizeof(r->responder)) ||
	    expect_tag(b, TAG_POLICY_ID) || get_str(b, r->policy_id, sizeof(r->policy_id)) ||
	    expect_tag(b, TAG_POLICY_VERSION) || get_be(b, 4, &v))
		return -1;
	r->policy_version = (uint32_t)v;
	if (expect_tag(b, TAG_DATASET) || get_str(b, r->dataset, sizeof(r->dataset)) ||
	    expect_tag(b, TAG_MODE) || get_be(b, 1, &v))
		return -1;
	r->mode = (int)v;
	if (expect_tag(b, TAG_LABELS) || get_be(b, 4, &v) || v > XZ_POLICY_MAX_LABELS)
		return -1;
	r->n_labels = (size_t)v;
	for (size_t i = 0; i < r->n_labels; i++)
		if (get_str(b, r->labels[i], sizeof(r->labels[i])) != 0)
			return -1;
	if (expect_tag(b, TAG_QUERY_SIZE) || get_be(b, 8, &r->query_size) ||
	    expect_tag(b, TAG_PURPOSE) || get_str(b, r->purpose, sizeof(r->purpose)) ||
	    expect_tag(b, TAG_CASE_NUMBER) ||
	    get_str(b, r->case_number, sizeof(r->case_number)) ||
	    expect_tag(b, TAG_LEGAL_BASIS) ||
	    get_str(b, r->legal_basis, sizeof(r->legal_basis)) ||
	    expect_tag(b, TAG_CREATED) || get_be(b, 8, &v))
		return -1;
	r->created_at = (int64_t)v;
	if (expect_tag(b, TAG_EXPIRES) || get_be(b, 8, &v))
		return -1;
	r->expires_at = (int64_t)v;
	/* Two more fields in exactly one case: the encoding stays canonical. */
	if (r->mode == XZ_MODE_DELEGATED &&
	    (expect_tag(b, TAG_PARTNER) || get_str(b, r->partner, sizeof(r->partner)) ||
	    expect_tag(b, TAG_LINK) || get(b, r->link, XZ_REQUEST_ID_LEN)))
		return -1;
	return 0;
}

int
xz_request_decode(const unsigned char *buf, size_t len, struct xz_request *out,
    struct xz_perror *e)
{
	struct rbuf b = { buf, len, 0 };
	unsigned char magic[sizeof(XZ_REQUEST_MAGIC)];

	memset(out, 0, sizeof(*out));
	if (len > XZ_REQUEST_ENCODED_MAX)
		return xz_perror_set(e, NULL, 0, NULL, "encoded request too long");
	if (get(&b, magic, sizeof(magic)) != 0 ||
	    memcmp(magic, XZ_REQUEST_MAGIC, sizeof(magic)) != 0)
		return xz_perror_set(e, NULL, 0, NULL, "not a version 1 join request");
	if (decode_fields(&b, out) != 0) {
		memset(out, 0, sizeof(*out));
		return xz_perror_set(e, NULL, 0, NULL, "malformed request encoding "
		    "at byte %zu", b.off);
	}
	if (b.off != len) {
		memset(out, 0, sizeof(*out));
		return xz_perror_set(e, NULL, 0, NULL, "%zu trailing bytes after "
		    "the request", len - b.off);
	}
	if (xz_request_validate(out, e) != 0) {
		memset(out, 0, sizeof(*out));
		return -1;
	}
	return 0;
}

int
xz_request_digest(const struct xz_request *r,
    unsigned char digest[XZ_REQUEST_DIGEST_LEN], struct xz_perror *e)
{
	/* On the stack: an allocation failure here would surface in the
	 * decision as "bad signature", a refusal for the wrong reason. */
	unsigned char buf[XZ_REQUEST_ENCODED_MAX];
	size_t len;

	if (xz_request_encode(r, buf, sizeof(buf), &len, e) != 0)
		return -1;
	crypto_hash_sha256(digest, buf, len);
	return 0;
}

/* The signed message: context string, NUL, request digest. */
#define XZ_APPROVAL_MSG_LEN (sizeof(XZ_APPROVAL_CONTEXT) + XZ_REQUEST_DIGEST_LEN)

static int
approval_message(const struct xz_request *r, unsigned char m[XZ_APPROVAL_MSG_LEN],
    struct xz_perror *e)
{
	memcpy(m, XZ_APPROVAL_CONTEXT, sizeof(XZ_APPROVAL_CONTEXT));
	return xz_request_digest(r, m + sizeof(XZ_APPROVAL_CONTEXT), e);
}

int
xz_request_sign(const struct xz_request *r, const unsigned char sk[64],
    const char *approver, struct xz_approval *out, struct xz_perror *e)
{
	unsigned char m[XZ_APPROVAL_MSG_LEN];
	const char *why;

	memset(out, 0, sizeof(*out));
	if ((why = xz_check_name(approver)) != NULL)
		return xz_perror_set(e, NULL, 0, "approver", "%s", why);
	if (approval_message(r, m, e) != 0)
		return -1;
	memcpy(out->approver, approver, strlen(approver) + 1);
	/* The libsodium secret key holds the public key in its last half. */
	memcpy(out->public_key, sk + 32, 32);
	crypto_sign_detached(out->signature, NULL, m, sizeof(m), sk);
	return 0;
}

int
xz_approval_verify(const struct xz_request *r, const struct xz_approval *a)
{
	unsigned char m[XZ_APPROVAL_MSG_LEN];

	if (approval_message(r, m, NULL) != 0)
		return -1;
	return crypto_sign_verify_detached(a->signature, m, sizeof(m),
	    a->public_key) == 0 ? 0 : -1;
}
