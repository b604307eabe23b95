/*
 * xiezhi.v1 JoinMessage: encoding, and decoding of hostile bytes.
 *
 * protobuf-c unpacks whatever it is given: unknown fields are kept (one
 * allocation each), repeated fields grow without bound and the last of
 * several oneof members silently wins.  So before unpacking, a small scanner
 * walks the wire format (protobuf encoding spec, "Message Structure") against
 * a table of the fields we define and refuses anything else: unknown field
 * numbers, wrong wire types, repeated singular fields, more than one message
 * kind, fields over their caps, strings that are not clean UTF-8.  Only then
 * does protobuf-c see the bytes, and what it allocates is bounded by the
 * table.  Encoding packs and then runs the same scanner over the result, so
 * both directions enforce one set of rules.
 */
#include "rpc.h"
#include "rpc_internal.h"

#include <stdlib.h>
#include <string.h>

#include "federation.pb-c.h"

enum wire_type { WT_VARINT = 0, WT_I64 = 1, WT_LEN = 2, WT_I32 = 5 };
enum field_kind { F_VARINT, F_U64, F_BOOL, F_BYTES, F_STRING, F_TEXT, F_MSG };

struct field_rule {
	uint32_t num;
	enum field_kind kind;
	uint32_t min_len;   /* bytes/strings, when present */
	uint32_t max_len;   /* bytes/strings/messages; for F_VARINT/F_BOOL the max value */
	uint32_t max_count; /* 1 for singular fields */
	const struct msg_rule *sub; /* F_MSG */
};

struct msg_rule {
	const char *name;
	const struct field_rule *fields;
	size_t n_fields;
	int oneof;          /* exactly one field must be present */
};

#define N(a) (sizeof(a) / sizeof((a)[0]))
#define U32MAX 0xffffffffu

static const struct field_rule open_fields[] = {
	{1, F_VARINT, 0, U32MAX, 1, NULL},
	{2, F_BYTES, XZ_RPC_MIN_JOIN_ID, XZ_RPC_MAX_JOIN_ID, 1, NULL},
	{3, F_BYTES, 0, XZ_RPC_MAX_REQUEST, 1, NULL},
	{4, F_BYTES, 0, XZ_RPC_MAX_APPROVAL, XZ_RPC_MAX_APPROVALS, NULL},
	{5, F_STRING, 0, XZ_RPC_MAX_DATASET, 1, NULL},
};
static const struct field_rule open_reply_fields[] = {
	{1, F_BOOL, 0, 1, 1, NULL},
	{2, F_VARINT, 0, U32MAX, 1, NULL},
	{3, F_STRING, 0, XZ_RPC_MAX_REASON, 1, NULL},
	{4, F_BYTES, 0, XZ_RPC_MAX_PARAMS, 1, NULL},
};
static const struct field_rule batch_fields[] = {
	{1, F_U64, 0, 0, 1, NULL},
	{2, F_VARINT, 0, U32MAX, 1, NULL},
	{3, F_BYTES, 0, XZ_RPC_MAX_BATCH_DATA, 1, NULL},
	{4, F_BOOL, 0, 1, 1, NULL},
};
static const struct field_rule close_fields[] = {
	{1, F_BYTES, 0, XZ_RPC_MAX_HASH, 1, NULL},
};
static const struct field_rule receipt_fields[] = {
	{1, F_BYTES, 0, XZ_RPC_MAX_HASH, 1, NULL},
	{2, F_BYTES, 0, XZ_RPC_MAX_RECEIPT, 1, NULL},
	{3, F_TEXT, 0, XZ_RPC_MAX_CHECKPOINT, 1, NULL},
};
static const struct field_rule abort_fields[] = {
	{1, F_VARINT, 0, U32MAX, 1, NULL},
	{2, F_STRING, 0, XZ_RPC_MAX_REASON, 1, NULL},
};

static const struct msg_rule open_rule = {"Open", open_fields, N(open_fields), 0};
static const struct msg_rule open_reply_rule = {"OpenReply", open_reply_fields,
                                                N(open_reply_fields), 0};
static const struct msg_rule batch_rule = {"Batch", batch_fields, N(batch_fields), 0};
static const struct msg_rule close_rule = {"Close", close_fields, N(close_fields), 0};
static const struct msg_rule receipt_rule = {"Receipt", receipt_fields, N(receipt_fields), 0};
static const struct msg_rule abort_rule = {"Abort", abort_fields, N(abort_fields), 0};

static const struct field_rule join_fields[] = {
	{1, F_MSG, 0, XZ_RPC_MAX_MESSAGE, 1, &open_rule},
	{2, F_MSG, 0, XZ_RPC_MAX_MESSAGE, 1, &open_reply_rule},
	{3, F_MSG, 0, XZ_RPC_MAX_MESSAGE, 1, &batch_rule},
	{4, F_MSG, 0, XZ_RPC_MAX_MESSAGE, 1, &close_rule},
	{5, F_MSG, 0, XZ_RPC_MAX_MESSAGE, 1, &receipt_rule},
	{6, F_MSG, 0, XZ_RPC_MAX_MESSAGE, 1, &abort_rule},
};
static const struct msg_rule join_rule = {"JoinMessage", join_fields, N(join_fields), 1};

/* A read cursor over hostile bytes: every read checks what remains. */
struct cursor {
	const uint8_t *p;
	size_t left;
};

/* Base-128 varint, at most 10 bytes, no bits beyond 64 (encoding spec,
 * "Base 128 Varints"). */
static int read_varint(struct cursor *c, uint64_t *v)
{
	uint64_t x = 0;
	for (unsigned i = 0; i < 10; i++) {
		if (c->left == 0)
			return -1;
		uint8_t b = *c->p++;
		c->left--;
		if (i == 9 && b > 1)
			return -1;
		x |= (uint64_t)(b & 0x7f) << (7 * i);
		if (!(b & 0x80)) {
			*v = x;
			return 0;
		}
	}
	return -1;
}

/*
 * Strict UTF-8 (RFC 3629 section 4: no overlongs, no surrogates, nothing
 * above U+10FFFF) with no control characters, since reasons and names end up
 * on operators' terminals.  allow_nl admits '\n' (checkpoint text).
 */
static int clean_utf8(const uint8_t *s, size_t n, int allow_nl)
{
	size_t i = 0;
	while (i < n) {
		uint8_t b = s[i];
		if (b < 0x80) {
			if ((b < 0x20 && !(allow_nl && b == '\n')) || b == 0x7f)
				return 0;
			i++;
			continue;
		}
		size_t need;
		uint32_t cp, min;
		if ((b & 0xe0) == 0xc0) {
			need = 1, cp = b & 0x1f, min = 0x80;
		} else if ((b & 0xf0) == 0xe0) {
			need = 2, cp = b & 0x0f, min = 0x800;
		} else if ((b & 0xf8) == 0xf0) {
			need = 3, cp = b & 0x07, min = 0x10000;
		} else {
			return 0;
		}
		if (n - i - 1 < need)
			return 0;
		for (size_t k = 1; k <= need; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return 0;
			cp = (cp << 6) | (s[i + k] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff) ||
		    (cp >= 0x80 && cp < 0xa0))
			return 0;
		i += need + 1;
	}
	return 1;
}

static const struct field_rule *find_rule(const struct msg_rule *r, uint32_t num)
{
	for (size_t i = 0; i < r->n_fields; i++)
		if (r->fields[i].num == num)
			return &r->fields[i];
	return NULL;
}

static enum xz_rpc_status scan_msg(const struct msg_rule *r, const uint8_t *buf, size_t len,
                                   int depth, struct xz_rpc_error *err);

static enum xz_rpc_status scan_len_field(const struct msg_rule *r, const struct field_rule *f,
                                         struct cursor *c, int depth, struct xz_rpc_error *err)
{
	uint64_t n;
	if (read_varint(c, &n) != 0 || n > c->left)
		return xz_rpc_fail(err, XZ_RPC_INVALID, "%s field %u: truncated length", r->name,
		                   (unsigned)f->num);
	const uint8_t *p = c->p;
	c->p += n;
	c->left -= n;
	if (n > f->max_len || (n < f->min_len && f->kind != F_MSG))
		return xz_rpc_fail(err, XZ_RPC_INVALID,
		                   "%s field %u: %llu bytes, allowed %u..%u", r->name,
		                   (unsigned)f->num, (unsigned long long)n, (unsigned)f->min_len,
		                   (unsigned)f->max_len);
	if ((f->kind == F_STRING || f->kind == F_TEXT) && !clean_utf8(p, n, f->kind == F_TEXT))
		return xz_rpc_fail(err, XZ_RPC_INVALID,
		                   "%s field %u: not UTF-8 text without control characters",
		                   r->name, (unsigned)f->num);
	if (f->kind == F_MSG)
		return scan_msg(f->sub, p, n, depth + 1, err);
	return XZ_RPC_OK;
}

static enum xz_rpc_status scan_field(const struct msg_rule *r, struct cursor *c,
                                     unsigned counts[], int depth, struct xz_rpc_error *err)
{
	uint64_t key;
	if (read_varint(c, &key) != 0 || key > U32MAX)
		return xz_rpc_fail(err, XZ_RPC_INVALID, "%s: bad field key", r->name);
	uint32_t num = (uint32_t)(key >> 3);
	unsigned wt = (unsigned)(key & 7);
	const struct field_rule *f = find_rule(r, num);
	if (f == NULL)
		return xz_rpc_fail(err, XZ_RPC_INVALID, "%s: unknown field %u", r->name,
		                   (unsigned)num);
	size_t idx = (size_t)(f - r->fields);
	if (++counts[idx] > f->max_count)
		return xz_rpc_fail(err, XZ_RPC_INVALID, "%s field %u: more than %u occurrence(s)",
		                   r->name, (unsigned)num, (unsigned)f->max_count);
	int want_varint = f->kind == F_VARINT || f->kind == F_U64 || f->kind == F_BOOL;
	if (wt != (want_varint ? WT_VARINT : WT_LEN))
		return xz_rpc_fail(err, XZ_RPC_INVALID, "%s field %u: wrong wire type %u", r->name,
		                   (unsigned)num, wt);
	if (!want_varint)
		return scan_len_field(r, f, c, depth, err);
	uint64_t v;
	if (read_varint(c, &v) != 0)
		return xz_rpc_fail(err, XZ_RPC_INVALID, "%s field %u: bad varint", r->name,
		                   (unsigned)num);
	if (f->kind != F_U64 && v > f->max_len)
		return xz_rpc_fail(err, XZ_RPC_INVALID, "%s field %u: value out of range",
		                   r->name, (unsigned)num);
	return XZ_RPC_OK;
}

static enum xz_rpc_status scan_msg(const struct msg_rule *r, const uint8_t *buf, size_t len,
                                   int depth, struct xz_rpc_error *err)
{
	unsigned counts[8] = {0};
	struct cursor c = {buf, len};
	if (depth > 2 || r->n_fields > N(counts))
		return xz_rpc_fail(err, XZ_RPC_INVALID, "%s: nested too deeply", r->name);
	while (c.left > 0) {
		enum xz_rpc_status st = scan_field(r, &c, counts, depth, err);
		if (st != XZ_RPC_OK)
			return st;
	}
	if (r->oneof) {
		unsigned present = 0;
		for (size_t i = 0; i < r->n_fields; i++)
			present += counts[i];
		if (present != 1)
			return xz_rpc_fail(err, XZ_RPC_INVALID,
			                   "%s: carries %u message kinds, expected exactly 1",
			                   r->name, present);
	}
	return XZ_RPC_OK;
}

enum xz_rpc_status xz_wire_check(const uint8_t *buf, size_t len, struct xz_rpc_error *err)
{
	if (len > XZ_RPC_MAX_MESSAGE)
		return xz_rpc_fail(err, XZ_RPC_TOO_LARGE, "message of %zu bytes exceeds the %u-byte cap",
		                   len, XZ_RPC_MAX_MESSAGE);
	return scan_msg(&join_rule, buf, len, 0, err);
}

/* ---- C structs <-> protobuf-c ---- */

static ProtobufCBinaryData bin(struct xz_rpc_bytes b)
{
	ProtobufCBinaryData d = {b.len, (uint8_t *)(uintptr_t)b.ptr};
	return d;
}

static struct xz_rpc_bytes bytes_of(ProtobufCBinaryData d)
{
	struct xz_rpc_bytes b = {d.data, d.len};
	return b;
}

static char *str(const char *s)
{
	return (char *)(uintptr_t)(s ? s : "");
}

/* Fills the protobuf-c message from m; every pointer borrows from m. */
static enum xz_rpc_status to_pb(const struct xz_msg *m, Xiezhi__V1__JoinMessage *jm,
                                Xiezhi__V1__Open *o, Xiezhi__V1__OpenReply *orp,
                                Xiezhi__V1__Batch *b, Xiezhi__V1__Close *cl,
                                Xiezhi__V1__Receipt *rc, Xiezhi__V1__Abort *ab,
                                ProtobufCBinaryData approvals[XZ_RPC_MAX_APPROVALS],
                                struct xz_rpc_error *err)
{
	switch (m->kind) {
	case XZ_MSG_OPEN:
		if (m->u.open.n_approvals > XZ_RPC_MAX_APPROVALS)
			return xz_rpc_fail(err, XZ_RPC_INVALID, "Open: %zu approvals, at most %u",
			                   m->u.open.n_approvals, XZ_RPC_MAX_APPROVALS);
		o->version = m->u.open.version;
		o->join_id = bin(m->u.open.join_id);
		o->request = bin(m->u.open.request);
		for (size_t i = 0; i < m->u.open.n_approvals; i++)
			approvals[i] = bin(m->u.open.approvals[i]);
		o->n_approvals = m->u.open.n_approvals;
		o->approvals = approvals;
		o->dataset = str(m->u.open.dataset);
		jm->kind_case = XIEZHI__V1__JOIN_MESSAGE__KIND_OPEN;
		jm->open = o;
		return XZ_RPC_OK;
	case XZ_MSG_OPEN_REPLY:
		orp->accepted = m->u.open_reply.accepted != 0;
		orp->refusal_code = m->u.open_reply.refusal_code;
		orp->reason = str(m->u.open_reply.reason);
		orp->params = bin(m->u.open_reply.params);
		jm->kind_case = XIEZHI__V1__JOIN_MESSAGE__KIND_OPEN_REPLY;
		jm->open_reply = orp;
		return XZ_RPC_OK;
	case XZ_MSG_BATCH:
		b->seq = m->u.batch.seq;
		b->phase = m->u.batch.phase;
		b->data = bin(m->u.batch.data);
		b->last = m->u.batch.last != 0;
		jm->kind_case = XIEZHI__V1__JOIN_MESSAGE__KIND_BATCH;
		jm->batch = b;
		return XZ_RPC_OK;
	case XZ_MSG_CLOSE:
		cl->transcript_hash = bin(m->u.close.transcript_hash);
		jm->kind_case = XIEZHI__V1__JOIN_MESSAGE__KIND_CLOSE;
		jm->close = cl;
		return XZ_RPC_OK;
	case XZ_MSG_RECEIPT:
		rc->transcript_hash = bin(m->u.receipt.transcript_hash);
		rc->signed_receipt = bin(m->u.receipt.signed_receipt);
		rc->checkpoint = str(m->u.receipt.checkpoint);
		jm->kind_case = XIEZHI__V1__JOIN_MESSAGE__KIND_RECEIPT;
		jm->receipt = rc;
		return XZ_RPC_OK;
	case XZ_MSG_ABORT:
		ab->code = m->u.abort.code;
		ab->reason = str(m->u.abort.reason);
		jm->kind_case = XIEZHI__V1__JOIN_MESSAGE__KIND_ABORT;
		jm->abort = ab;
		return XZ_RPC_OK;
	case XZ_MSG_NONE:
		break;
	}
	return xz_rpc_fail(err, XZ_RPC_INVALID, "message kind %d is not a JoinMessage kind",
	                   (int)m->kind);
}

enum xz_rpc_status xz_msg_encode(const struct xz_msg *m, uint8_t **out, size_t *len,
                                 struct xz_rpc_error *err)
{
	Xiezhi__V1__JoinMessage jm = XIEZHI__V1__JOIN_MESSAGE__INIT;
	Xiezhi__V1__Open o = XIEZHI__V1__OPEN__INIT;
	Xiezhi__V1__OpenReply orp = XIEZHI__V1__OPEN_REPLY__INIT;
	Xiezhi__V1__Batch b = XIEZHI__V1__BATCH__INIT;
	Xiezhi__V1__Close cl = XIEZHI__V1__CLOSE__INIT;
	Xiezhi__V1__Receipt rc = XIEZHI__V1__RECEIPT__INIT;
	Xiezhi__V1__Abort ab = XIEZHI__V1__ABORT__INIT;
	ProtobufCBinaryData approvals[XZ_RPC_MAX_APPROVALS];
	uint8_t *buf = NULL;
	enum xz_rpc_status st;

	*out = NULL;
	*len = 0;
	st = to_pb(m, &jm, &o, &orp, &b, &cl, &rc, &ab, approvals, err);
	if (st != XZ_RPC_OK)
		return st;
	size_t n = xiezhi__v1__join_message__get_packed_size(&jm);
	if (n > XZ_RPC_MAX_MESSAGE)
		return xz_rpc_fail(err, XZ_RPC_TOO_LARGE,
		                   "%s message of %zu bytes exceeds the %u-byte cap",
		                   xz_msg_kind_name(m->kind), n, XZ_RPC_MAX_MESSAGE);
	buf = malloc(n ? n : 1);
	if (buf == NULL)
		return xz_rpc_fail(err, XZ_RPC_INTERNAL, "out of memory encoding a message");
	if (xiezhi__v1__join_message__pack(&jm, buf) != n) {
		st = xz_rpc_fail(err, XZ_RPC_INTERNAL, "protobuf-c packed an unexpected size");
		goto done;
	}
	/* The same rules as a receiver applies: we never send what a peer of
	 * this version would refuse. */
	st = xz_wire_check(buf, n, err);
	if (st != XZ_RPC_OK)
		goto done;
	*out = buf;
	*len = n;
	buf = NULL;
done:
	free(buf);
	return st;
}

static void from_pb(const Xiezhi__V1__JoinMessage *jm, struct xz_msg *m)
{
	switch (jm->kind_case) {
	case XIEZHI__V1__JOIN_MESSAGE__KIND_OPEN:
		m->kind = XZ_MSG_OPEN;
		m->u.open.version = jm->open->version;
		m->u.open.join_id = bytes_of(jm->open->join_id);
		m->u.open.request = bytes_of(jm->open->request);
		m->u.open.n_approvals = jm->open->n_approvals;
		for (size_t i = 0; i < jm->open->n_approvals; i++)
			m->u.open.approvals[i] = bytes_of(jm->open->approvals[i]);
		m->u.open.dataset = jm->open->dataset;
		break;
	case XIEZHI__V1__JOIN_MESSAGE__KIND_OPEN_REPLY:
		m->kind = XZ_MSG_OPEN_REPLY;
		m->u.open_reply.accepted = jm->open_reply->accepted != 0;
		m->u.open_reply.refusal_code = jm->open_reply->refusal_code;
		m->u.open_reply.reason = jm->open_reply->reason;
		m->u.open_reply.params = bytes_of(jm->open_reply->params);
		break;
	case XIEZHI__V1__JOIN_MESSAGE__KIND_BATCH:
		m->kind = XZ_MSG_BATCH;
		m->u.batch.seq = jm->batch->seq;
		m->u.batch.phase = jm->batch->phase;
		m->u.batch.data = bytes_of(jm->batch->data);
		m->u.batch.last = jm->batch->last != 0;
		break;
	case XIEZHI__V1__JOIN_MESSAGE__KIND_CLOSE:
		m->kind = XZ_MSG_CLOSE;
		m->u.close.transcript_hash = bytes_of(jm->close->transcript_hash);
		break;
	case XIEZHI__V1__JOIN_MESSAGE__KIND_RECEIPT:
		m->kind = XZ_MSG_RECEIPT;
		m->u.receipt.transcript_hash = bytes_of(jm->receipt->transcript_hash);
		m->u.receipt.signed_receipt = bytes_of(jm->receipt->signed_receipt);
		m->u.receipt.checkpoint = jm->receipt->checkpoint;
		break;
	case XIEZHI__V1__JOIN_MESSAGE__KIND_ABORT:
		m->kind = XZ_MSG_ABORT;
		m->u.abort.code = jm->abort->code;
		m->u.abort.reason = jm->abort->reason;
		break;
	default:
		m->kind = XZ_MSG_NONE;
		break;
	}
}

enum xz_rpc_status xz_msg_decode(const uint8_t *buf, size_t len, struct xz_msg *m,
                                 struct xz_rpc_error *err)
{
	memset(m, 0, sizeof(*m));
	enum xz_rpc_status st = xz_wire_check(buf, len, err);
	if (st != XZ_RPC_OK)
		return st;
	Xiezhi__V1__JoinMessage *jm = xiezhi__v1__join_message__unpack(NULL, len, buf);
	if (jm == NULL)
		return xz_rpc_fail(err, XZ_RPC_INVALID, "JoinMessage: protobuf-c refused to unpack it");
	/* A present submessage field always unpacks to a non-NULL pointer; the
	 * scan above guarantees exactly one is present. */
	from_pb(jm, m);
	if (m->kind == XZ_MSG_NONE) {
		xiezhi__v1__join_message__free_unpacked(jm, NULL);
		memset(m, 0, sizeof(*m));
		return xz_rpc_fail(err, XZ_RPC_INVALID, "JoinMessage: no message kind");
	}
	m->storage = jm;
	return XZ_RPC_OK;
}

void xz_msg_release(struct xz_msg *m)
{
	if (m == NULL)
		return;
	if (m->storage != NULL)
		xiezhi__v1__join_message__free_unpacked(m->storage, NULL);
	memset(m, 0, sizeof(*m));
}

const char *xz_msg_kind_name(enum xz_msg_kind k)
{
	switch (k) {
	case XZ_MSG_OPEN: return "open";
	case XZ_MSG_OPEN_REPLY: return "open_reply";
	case XZ_MSG_BATCH: return "batch";
	case XZ_MSG_CLOSE: return "close";
	case XZ_MSG_RECEIPT: return "receipt";
	case XZ_MSG_ABORT: return "abort";
	case XZ_MSG_NONE: break;
	}
	return "none";
}
