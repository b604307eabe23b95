/*
 * Join messages above the transport, the transcript hash, receipts and the
 * dataset reader that feeds the PSI engine (node/daemon_wire.h;
 * docs/operations.md §"The join on the wire").
 */
#include "daemon_wire.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy.h"

#define PARAMS_MAGIC	"XZJP"
#define SUMMARY_MAGIC	"XZJS"
#define RECEIPT_CONTEXT	"xiezhi receipt v1"
#define TRANSCRIPT_CONTEXT "xiezhi transcript v1"

static void
put_u32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v;
}

static void
put_u64(uint8_t *p, uint64_t v)
{
	put_u32(p, (uint32_t)(v >> 32));
	put_u32(p + 4, (uint32_t)v);
}

static uint32_t
get_u32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t
get_u64(const uint8_t *p)
{
	return (uint64_t)get_u32(p) << 32 | get_u32(p + 4);
}

/* A node name as the audit log allows it: 1..64 of [A-Za-z0-9._-]. */
static int
node_name_ok(const uint8_t *s, size_t n)
{
	if (n == 0 || n > XZ_JOIN_NODE_NAME_MAX)
		return 0;
	for (size_t i = 0; i < n; i++) {
		uint8_t c = s[i];
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		    (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '_'))
			return 0;
	}
	return 1;
}

/* ---- params: "XZJP" | ver 1 | mode | 0 0 | n u64 | m u64 | L u32 | batch u32 |
 *      name_len u8 | name ---- */

uint32_t
xz_join_batch_max(uint64_t requester_bound, uint64_t responder_bound, uint32_t label_len)
{
	uint64_t item = 32, tag = xz_psi_tag_len(requester_bound, responder_bound);
	uint64_t s = label_len > 0 ? tag + 4 + label_len + 16 : tag, b;

	if (s > item)
		item = s;
	b = (XZ_JOIN_BATCH_BYTES - 48) / item;
	if (b > XZ_JOIN_BATCH_LIMIT)
		b = XZ_JOIN_BATCH_LIMIT;
	return b == 0 ? 1 : (uint32_t)b;
}

/*
 * Delegated joins: an owner's D_TAGS item is tag || key (32) [|| nonce (12)
 * || u32 length || label || tag (16)] (docs/protocol.md §11.2).  The tag
 * length depends on both owners' bounds; partner_max bounds the partner's,
 * so the batch this gives fits whatever the partner's real bound is.
 */
uint32_t
xz_join_delegated_batch_max(uint64_t partner_max, uint64_t own_bound, uint32_t label_len)
{
	uint64_t tag = xz_psi_tag_len(partner_max, own_bound);
	uint64_t item = tag + 32 + (label_len > 0 ? 12 + 4 + (uint64_t)label_len + 16 : 0), b;

	if (item < 32)
		item = 32;
	b = (XZ_JOIN_BATCH_BYTES - 48) / item;
	if (b > XZ_JOIN_BATCH_LIMIT)
		b = XZ_JOIN_BATCH_LIMIT;
	return b == 0 ? 1 : (uint32_t)b;
}

int
xz_join_params_encode(const struct xz_join_params *p, uint8_t *buf, size_t cap,
    size_t *len, struct xz_diag *d)
{
	size_t nl = strlen(p->responder_name);

	if (cap < 33 + nl || !node_name_ok((const uint8_t *)p->responder_name, nl))
		return xz_diag_set(d, "join parameters: bad node name or buffer");
	memcpy(buf, PARAMS_MAGIC, 4);
	buf[4] = 1;
	buf[5] = (uint8_t)p->mode;
	buf[6] = buf[7] = 0;
	put_u64(buf + 8, p->requester_bound);
	put_u64(buf + 16, p->responder_bound);
	put_u32(buf + 24, p->label_len);
	put_u32(buf + 28, p->batch_max);
	buf[32] = (uint8_t)nl;
	memcpy(buf + 33, p->responder_name, nl);
	*len = 33 + nl;
	return 0;
}

int
xz_join_params_decode(const uint8_t *buf, size_t len, struct xz_join_params *p,
    struct xz_diag *d)
{
	memset(p, 0, sizeof(*p));
	if (len < 34 || memcmp(buf, PARAMS_MAGIC, 4) != 0 || buf[4] != 1 ||
	    buf[6] != 0 || buf[7] != 0 || len != 33u + buf[32])
		return xz_diag_set(d, "the responder's join parameters are malformed "
		    "(%zu bytes)", len);
	p->mode = buf[5];
	p->requester_bound = get_u64(buf + 8);
	p->responder_bound = get_u64(buf + 16);
	p->label_len = get_u32(buf + 24);
	p->batch_max = get_u32(buf + 28);
	if (!node_name_ok(buf + 33, buf[32]))
		return xz_diag_set(d, "the responder's node name in the join parameters "
		    "is not a valid name");
	memcpy(p->responder_name, buf + 33, buf[32]);
	if (xz_mode_name(p->mode) == NULL || p->responder_bound > XZ_PSI_MAX_BOUND ||
	    p->requester_bound > XZ_PSI_MAX_BOUND || p->label_len > XZ_PSI_MAX_LABEL_LEN ||
	    (p->label_len > 0 && p->mode != XZ_MODE_INTERSECT &&
	    p->mode != XZ_MODE_DELEGATED) || p->batch_max == 0 ||
	    p->batch_max > (p->mode == XZ_MODE_DELEGATED ?
	    xz_join_delegated_batch_max(p->requester_bound, p->responder_bound, p->label_len) :
	    xz_join_batch_max(p->requester_bound, p->responder_bound, p->label_len)))
		return xz_diag_set(d, "the responder's join parameters are out of range "
		    "(mode %d, bound %llu, label length %u, batch %u)", p->mode,
		    (unsigned long long)p->responder_bound, p->label_len, p->batch_max);
	return 0;
}

void
xz_join_psi_params(const struct xz_join_params *p, const uint8_t join_id[XZ_REQUEST_ID_LEN],
    struct xz_psi_params *out)
{
	memset(out, 0, sizeof(*out));
	out->mode = (enum xz_psi_mode)p->mode;
	memcpy(out->join_id, join_id, XZ_PSI_JOIN_ID_LEN);
	out->requester_bound = p->requester_bound;
	out->responder_bound = p->responder_bound;
	out->label_len = p->label_len;
	out->batch_max = p->batch_max;
	out->threads = 0;
}

/* ---- partner: "XZJD" | ver 1 | self u8 | 0 0 | partner bound u64 |
 *      partner label length u32 | batch u32 | name_len u8 | name ---- */

#define PARTNER_MAGIC	"XZJD"

int
xz_join_partner_encode(const struct xz_join_partner *p, uint8_t *buf, size_t cap,
    size_t *len, struct xz_diag *d)
{
	size_t nl = strlen(p->partner_name);

	if (cap < 25 + nl || p->self > 1 ||
	    !node_name_ok((const uint8_t *)p->partner_name, nl))
		return xz_diag_set(d, "partner message: bad node name or buffer");
	memcpy(buf, PARTNER_MAGIC, 4);
	buf[4] = 1;
	buf[5] = (uint8_t)p->self;
	buf[6] = buf[7] = 0;
	put_u64(buf + 8, p->partner_bound);
	put_u32(buf + 16, p->partner_label_len);
	put_u32(buf + 20, p->batch_max);
	buf[24] = (uint8_t)nl;
	memcpy(buf + 25, p->partner_name, nl);
	*len = 25 + nl;
	return 0;
}

int
xz_join_partner_decode(const uint8_t *buf, size_t len, struct xz_join_partner *p,
    struct xz_diag *d)
{
	memset(p, 0, sizeof(*p));
	if (len < 26 || len > XZ_JOIN_PARTNER_MAX || memcmp(buf, PARTNER_MAGIC, 4) != 0 ||
	    buf[4] != 1 || buf[5] > 1 || buf[6] != 0 || buf[7] != 0 || len != 25u + buf[24])
		return xz_diag_set(d, "the requester's partner message is malformed "
		    "(%zu bytes)", len);
	p->self = buf[5];
	p->partner_bound = get_u64(buf + 8);
	p->partner_label_len = get_u32(buf + 16);
	p->batch_max = get_u32(buf + 20);
	if (!node_name_ok(buf + 25, buf[24]))
		return xz_diag_set(d, "the partner's node name is not a valid name");
	memcpy(p->partner_name, buf + 25, buf[24]);
	if (p->partner_bound > XZ_PSI_MAX_BOUND || p->partner_label_len > XZ_PSI_MAX_LABEL_LEN ||
	    p->batch_max == 0 || p->batch_max > XZ_JOIN_BATCH_LIMIT)
		return xz_diag_set(d, "the requester's partner message is out of range "
		    "(bound %llu, label length %u, batch %u)",
		    (unsigned long long)p->partner_bound, p->partner_label_len, p->batch_max);
	return 0;
}

void
xz_join_dparams(const uint8_t link[XZ_REQUEST_ID_LEN], const uint64_t bound[2],
    const uint32_t label_len[2], uint32_t batch_max, struct xz_psi_dparams *out)
{
	memset(out, 0, sizeof(*out));
	memcpy(out->join_id, link, XZ_PSI_JOIN_ID_LEN);
	out->bound[0] = bound[0];
	out->bound[1] = bound[1];
	out->label_len[0] = label_len[0];
	out->label_len[1] = label_len[1];
	out->batch_max = batch_max;
	out->threads = 0;
}

/* ---- approvals ---- */

int
xz_join_approval_encode(const struct xz_approval *a, uint8_t *buf, size_t cap,
    size_t *len, struct xz_diag *d)
{
	size_t n = strlen(a->approver);

	if (n == 0 || n > XZ_NAME_MAX || cap < 1 + n + 96)
		return xz_diag_set(d, "approval by '%s' cannot be encoded", a->approver);
	buf[0] = (uint8_t)n;
	memcpy(buf + 1, a->approver, n);
	memcpy(buf + 1 + n, a->public_key, 32);
	memcpy(buf + 1 + n + 32, a->signature, 64);
	*len = 1 + n + 96;
	return 0;
}

int
xz_join_approval_decode(const uint8_t *buf, size_t len, struct xz_approval *a,
    struct xz_diag *d)
{
	const char *why;
	char id[XZ_NAME_MAX + 1];

	memset(a, 0, sizeof(*a));
	if (len < 2 || buf[0] == 0 || buf[0] > XZ_NAME_MAX || len != 1u + buf[0] + 96)
		return xz_diag_set(d, "an approval is malformed (%zu bytes)", len);
	memcpy(id, buf + 1, buf[0]);
	id[buf[0]] = '\0';
	if (memchr(id, '\0', buf[0]) != NULL || (why = xz_check_name(id)) != NULL)
		return xz_diag_set(d, "an approval names an invalid approver id");
	memcpy(a->approver, id, buf[0] + 1u);
	memcpy(a->public_key, buf + 1 + buf[0], 32);
	memcpy(a->signature, buf + 1 + buf[0] + 32, 64);
	return 0;
}

int
xz_join_hello_decode(const uint8_t *buf, size_t len, char name[XZ_JOIN_NODE_NAME_MAX + 1],
    struct xz_diag *d)
{
	if (!node_name_ok(buf, len))
		return xz_diag_set(d, "the requester's hello does not hold a valid node "
		    "name (%zu bytes)", len);
	memcpy(name, buf, len);
	name[len] = '\0';
	return 0;
}

/* ---- summary: "XZJS" | ver 1 | 0 0 0 | result_size u64 | name_len u8 | name ---- */

int
xz_join_summary_encode(const struct xz_join_summary *s, uint8_t *buf, size_t cap,
    size_t *len, struct xz_diag *d)
{
	size_t nl = strlen(s->requester_name);

	if (cap < 17 + nl || !node_name_ok((const uint8_t *)s->requester_name, nl))
		return xz_diag_set(d, "join summary: bad node name or buffer");
	memcpy(buf, SUMMARY_MAGIC, 4);
	buf[4] = 1;
	buf[5] = buf[6] = buf[7] = 0;
	put_u64(buf + 8, s->result_size);
	buf[16] = (uint8_t)nl;
	memcpy(buf + 17, s->requester_name, nl);
	*len = 17 + nl;
	return 0;
}

int
xz_join_summary_decode(const uint8_t *buf, size_t len, struct xz_join_summary *s,
    struct xz_diag *d)
{
	memset(s, 0, sizeof(*s));
	if (len < 18 || memcmp(buf, SUMMARY_MAGIC, 4) != 0 || buf[4] != 1 ||
	    buf[5] != 0 || buf[6] != 0 || buf[7] != 0 || len != 17u + buf[16] ||
	    !node_name_ok(buf + 17, buf[16]))
		return xz_diag_set(d, "the requester's join summary is malformed "
		    "(%zu bytes)", len);
	s->result_size = get_u64(buf + 8);
	memcpy(s->requester_name, buf + 17, buf[16]);
	return 0;
}

/* ---- transcript ---- */

void
xz_transcript_init(struct xz_transcript *t, const uint8_t join_id[XZ_REQUEST_ID_LEN],
    const uint8_t *request, size_t request_len)
{
	uint8_t n[8];

	crypto_hash_sha256_init(&t->head);
	crypto_hash_sha256_init(&t->r2a);
	crypto_hash_sha256_init(&t->a2r);
	crypto_hash_sha256_update(&t->head, (const uint8_t *)TRANSCRIPT_CONTEXT,
	    sizeof(TRANSCRIPT_CONTEXT));
	crypto_hash_sha256_update(&t->head, join_id, XZ_REQUEST_ID_LEN);
	put_u64(n, request_len);
	crypto_hash_sha256_update(&t->head, n, 8);
	crypto_hash_sha256_update(&t->head, request, request_len);
}

void
xz_transcript_add(struct xz_transcript *t, int from_requester, const uint8_t *msg,
    size_t len)
{
	crypto_hash_sha256_state *h = from_requester ? &t->r2a : &t->a2r;
	uint8_t n[8];

	put_u64(n, len);
	crypto_hash_sha256_update(h, n, 8);
	crypto_hash_sha256_update(h, msg, len);
}

void
xz_transcript_final(struct xz_transcript *t, uint8_t out[32])
{
	uint8_t r2a[32], a2r[32];

	crypto_hash_sha256_final(&t->r2a, r2a);
	crypto_hash_sha256_final(&t->a2r, a2r);
	crypto_hash_sha256_update(&t->head, r2a, 32);
	crypto_hash_sha256_update(&t->head, a2r, 32);
	crypto_hash_sha256_final(&t->head, out);
}

/* ---- receipts ---- */

static void
receipt_message(const uint8_t join_id[XZ_REQUEST_ID_LEN], const uint8_t transcript[32],
    const char *checkpoint, uint8_t msg[sizeof(RECEIPT_CONTEXT) + 16 + 64])
{
	memcpy(msg, RECEIPT_CONTEXT, sizeof(RECEIPT_CONTEXT));
	memcpy(msg + sizeof(RECEIPT_CONTEXT), join_id, 16);
	memcpy(msg + sizeof(RECEIPT_CONTEXT) + 16, transcript, 32);
	crypto_hash_sha256(msg + sizeof(RECEIPT_CONTEXT) + 48, (const uint8_t *)checkpoint,
	    strlen(checkpoint));
}

void
xz_join_receipt_sign(const unsigned char sk[64], const unsigned char pk[32],
    const uint8_t join_id[XZ_REQUEST_ID_LEN], const uint8_t transcript[32],
    const char *checkpoint, uint8_t out[XZ_JOIN_RECEIPT_LEN])
{
	uint8_t msg[sizeof(RECEIPT_CONTEXT) + 16 + 64];

	receipt_message(join_id, transcript, checkpoint, msg);
	memcpy(out, pk, 32);
	crypto_sign_detached(out + 32, NULL, msg, sizeof(msg),
	    sk);
}

int
xz_join_receipt_verify(const uint8_t *receipt, size_t len,
    const uint8_t join_id[XZ_REQUEST_ID_LEN], const uint8_t transcript[32],
    const char *checkpoint, const unsigned char *pinned_pk, struct xz_diag *d)
{
	uint8_t msg[sizeof(RECEIPT_CONTEXT) + 16 + 64];

	if (len != XZ_JOIN_RECEIPT_LEN)
		return xz_diag_set(d, "the responder's receipt has %zu bytes, not %d", len,
		    XZ_JOIN_RECEIPT_LEN);
	if (pinned_pk != NULL && sodium_memcmp(pinned_pk, receipt, 32) != 0)
		return xz_diag_set(d, "the responder signed its receipt with a key other "
		    "than the node_key configured for it");
	receipt_message(join_id, transcript, checkpoint, msg);
	if (crypto_sign_verify_detached(receipt + 32, msg, sizeof(msg), receipt) != 0)
		return xz_diag_set(d, "the responder's receipt signature does not verify");
	return 0;
}
