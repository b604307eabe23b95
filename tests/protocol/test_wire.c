/*
 * xiezhi.v1 JoinMessage encoding and the hostile-bytes decoder: every kind
 * round-trips; every malformed or over-cap input is refused with a reason.
 */
#include "testsupport.h"

#include <stdlib.h>
#include <string.h>

#include "rpc.h"

/* A tiny protobuf writer for building wire bytes by hand. */
struct wbuf {
	uint8_t *p;
	size_t n, cap;
};

static void put(struct wbuf *w, const void *d, size_t n)
{
	if (w->n + n > w->cap) {
		w->cap = (w->n + n) * 2 + 64;
		w->p = realloc(w->p, w->cap);
		assert_non_null(w->p);
	}
	memcpy(w->p + w->n, d, n);
	w->n += n;
}

static void put_varint(struct wbuf *w, uint64_t v)
{
	do {
		uint8_t b = (uint8_t)(v & 0x7f);
		v >>= 7;
		if (v)
			b |= 0x80;
		put(w, &b, 1);
	} while (v);
}

static void put_len(struct wbuf *w, uint32_t field, const void *d, size_t n)
{
	put_varint(w, ((uint64_t)field << 3) | 2);
	put_varint(w, n);
	put(w, d, n);
}

static void put_uint(struct wbuf *w, uint32_t field, uint64_t v)
{
	put_varint(w, (uint64_t)field << 3);
	put_varint(w, v);
}

/* Wraps an inner message as JoinMessage field `kind`. */
static struct wbuf wrap(uint32_t kind, const struct wbuf *inner)
{
	struct wbuf w = {0};
	put_len(&w, kind, inner->p, inner->n);
	return w;
}

static void roundtrip(const struct xz_msg *in, struct xz_msg *out)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	struct xz_rpc_error err;
	assert_int_equal(xz_msg_encode(in, &buf, &len, &err), XZ_RPC_OK);
	assert_int_equal(xz_msg_decode(buf, len, out, &err), XZ_RPC_OK);
	free(buf);
	assert_int_equal(out->kind, in->kind);
}

static void test_roundtrip_every_kind(void **state)
{
	(void)state;
	static const uint8_t id[16] = "0123456789abcdef";
	static const uint8_t req[] = "canonical request";
	static const uint8_t a1[] = "approval one", a2[] = "approval two";
	struct xz_msg m = {0}, out;

	m.kind = XZ_MSG_OPEN;
	m.u.open.version = 1;
	m.u.open.join_id = (struct xz_rpc_bytes){id, sizeof(id)};
	m.u.open.request = (struct xz_rpc_bytes){req, sizeof(req)};
	m.u.open.approvals[0] = (struct xz_rpc_bytes){a1, sizeof(a1)};
	m.u.open.approvals[1] = (struct xz_rpc_bytes){a2, sizeof(a2)};
	m.u.open.n_approvals = 2;
	m.u.open.dataset = "tax-2025";
	roundtrip(&m, &out);
	assert_int_equal(out.u.open.version, 1);
	assert_memory_equal(out.u.open.join_id.ptr, id, sizeof(id));
	assert_int_equal(out.u.open.request.len, sizeof(req));
	assert_int_equal(out.u.open.n_approvals, 2);
	assert_memory_equal(out.u.open.approvals[1].ptr, a2, sizeof(a2));
	assert_string_equal(out.u.open.dataset, "tax-2025");
	xz_msg_release(&out);
	assert_null(out.storage);

	memset(&m, 0, sizeof(m));
	m.kind = XZ_MSG_OPEN_REPLY;
	m.u.open_reply.refusal_code = 7;
	m.u.open_reply.reason = "budget exhausted: 3 of 3 joins this month";
	roundtrip(&m, &out);
	assert_false(out.u.open_reply.accepted);
	assert_int_equal(out.u.open_reply.refusal_code, 7);
	assert_string_equal(out.u.open_reply.reason, m.u.open_reply.reason);
	xz_msg_release(&out);

	memset(&m, 0, sizeof(m));
	m.kind = XZ_MSG_BATCH;
	m.u.batch.seq = 1ull << 40; /* seq is 64-bit */
	m.u.batch.phase = 2;
	m.u.batch.data = (struct xz_rpc_bytes){req, 5};
	m.u.batch.last = 1;
	roundtrip(&m, &out);
	assert_true(out.u.batch.seq == (1ull << 40));
	assert_int_equal(out.u.batch.phase, 2);
	assert_int_equal(out.u.batch.data.len, 5);
	assert_true(out.u.batch.last);
	xz_msg_release(&out);

	memset(&m, 0, sizeof(m));
	m.kind = XZ_MSG_RECEIPT;
	m.u.receipt.transcript_hash = (struct xz_rpc_bytes){id, 16};
	m.u.receipt.signed_receipt = (struct xz_rpc_bytes){req, sizeof(req)};
	m.u.receipt.checkpoint = "xiezhi-audit/node-a\n42\nabcdef\n";
	roundtrip(&m, &out);
	assert_string_equal(out.u.receipt.checkpoint, m.u.receipt.checkpoint);
	xz_msg_release(&out);

	memset(&m, 0, sizeof(m));
	m.kind = XZ_MSG_ABORT;
	m.u.abort.code = 3;
	m.u.abort.reason = "peer went away";
	roundtrip(&m, &out);
	assert_int_equal(out.u.abort.code, 3);
	xz_msg_release(&out);

	/* An empty Close is a valid message (all fields default). */
	memset(&m, 0, sizeof(m));
	m.kind = XZ_MSG_CLOSE;
	roundtrip(&m, &out);
	assert_int_equal(out.u.close.transcript_hash.len, 0);
	xz_msg_release(&out);
}

static void test_encode_refuses_over_caps(void **state)
{
	(void)state;
	uint8_t *big = calloc(1, XZ_RPC_MAX_BATCH_DATA + 1);
	uint8_t *buf = NULL;
	size_t len = 0;
	struct xz_rpc_error err;
	struct xz_msg m = {0};
	assert_non_null(big);

	m.kind = XZ_MSG_BATCH;
	m.u.batch.data = (struct xz_rpc_bytes){big, XZ_RPC_MAX_BATCH_DATA + 1};
	assert_int_equal(xz_msg_encode(&m, &buf, &len, &err), XZ_RPC_INVALID);
	assert_null(buf);
	assert_non_null(strstr(err.msg, "Batch field 3"));

	m.u.batch.data.len = XZ_RPC_MAX_BATCH_DATA; /* exactly at the cap is fine */
	assert_int_equal(xz_msg_encode(&m, &buf, &len, &err), XZ_RPC_OK);
	free(buf);

	memset(&m, 0, sizeof(m));
	m.kind = XZ_MSG_OPEN;
	m.u.open.join_id = (struct xz_rpc_bytes){big, 8}; /* below the 16-byte minimum */
	assert_int_equal(xz_msg_encode(&m, &buf, &len, &err), XZ_RPC_INVALID);
	m.u.open.join_id.len = 16;
	m.u.open.n_approvals = XZ_RPC_MAX_APPROVALS + 1;
	assert_int_equal(xz_msg_encode(&m, &buf, &len, &err), XZ_RPC_INVALID);

	memset(&m, 0, sizeof(m));
	m.kind = XZ_MSG_ABORT;
	m.u.abort.reason = "bad\x1b[31mred"; /* a terminal escape */
	assert_int_equal(xz_msg_encode(&m, &buf, &len, &err), XZ_RPC_INVALID);

	m.kind = XZ_MSG_NONE;
	assert_int_equal(xz_msg_encode(&m, &buf, &len, &err), XZ_RPC_INVALID);
	free(big);
}

struct bad_case {
	const char *name;
	void (*build)(struct wbuf *w);
	const char *expect; /* substring of the error */
};

static void b_garbage(struct wbuf *w)
{
	put(w, "\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff", 11);
}
static void b_unknown_top(struct wbuf *w)
{
	put_len(w, 9, "x", 1);
}
static void b_empty(struct wbuf *w)
{
	(void)w;
}
static void b_two_kinds(struct wbuf *w)
{
	put_len(w, 4, "", 0);
	put_len(w, 6, "", 0);
}
static void b_truncated(struct wbuf *w)
{
	struct wbuf in = {0};
	put_len(&in, 3, "abcdef", 6);
	struct wbuf o = wrap(3, &in);
	put(w, o.p, o.n - 2);
	free(in.p);
	free(o.p);
}
static void b_unknown_inner(struct wbuf *w)
{
	struct wbuf in = {0};
	put_uint(&in, 15, 1);
	struct wbuf o = wrap(3, &in);
	put(w, o.p, o.n);
	free(in.p);
	free(o.p);
}
static void b_wrong_wiretype(struct wbuf *w)
{
	struct wbuf in = {0};
	put_len(&in, 1, "12345678", 8); /* Batch.seq as bytes */
	struct wbuf o = wrap(3, &in);
	put(w, o.p, o.n);
	free(in.p);
	free(o.p);
}
static void b_repeated_singular(struct wbuf *w)
{
	struct wbuf in = {0};
	put_len(&in, 3, "a", 1);
	put_len(&in, 3, "b", 1);
	struct wbuf o = wrap(3, &in);
	put(w, o.p, o.n);
	free(in.p);
	free(o.p);
}
static void b_batch_over_cap(struct wbuf *w)
{
	struct wbuf in = {0};
	uint8_t *big = calloc(1, XZ_RPC_MAX_BATCH_DATA + 1);
	put_len(&in, 3, big, XZ_RPC_MAX_BATCH_DATA + 1);
	struct wbuf o = wrap(3, &in);
	put(w, o.p, o.n);
	free(big);
	free(in.p);
	free(o.p);
}
static void b_too_many_approvals(struct wbuf *w)
{
	struct wbuf in = {0};
	for (unsigned i = 0; i <= XZ_RPC_MAX_APPROVALS; i++)
		put_len(&in, 4, "", 0);
	struct wbuf o = wrap(1, &in);
	put(w, o.p, o.n);
	free(in.p);
	free(o.p);
}
static void b_bad_utf8(struct wbuf *w)
{
	struct wbuf in = {0};
	put_len(&in, 5, "\xc0\xaf", 2); /* overlong '/' */
	struct wbuf o = wrap(1, &in);
	put(w, o.p, o.n);
	free(in.p);
	free(o.p);
}
static void b_nul_in_string(struct wbuf *w)
{
	struct wbuf in = {0};
	put_len(&in, 2, "a\0b", 3);
	struct wbuf o = wrap(6, &in);
	put(w, o.p, o.n);
	free(in.p);
	free(o.p);
}
static void b_bool_not_bool(struct wbuf *w)
{
	struct wbuf in = {0};
	put_uint(&in, 4, 2);
	struct wbuf o = wrap(3, &in);
	put(w, o.p, o.n);
	free(in.p);
	free(o.p);
}
static void b_overlong_varint(struct wbuf *w)
{
	struct wbuf in = {0};
	put_varint(&in, 1 << 3);
	put(&in, "\xff\xff\xff\xff\xff\xff\xff\xff\xff\x7f", 10);
	struct wbuf o = wrap(3, &in);
	put(w, o.p, o.n);
	free(in.p);
	free(o.p);
}
static void b_phase_over_u32(struct wbuf *w)
{
	struct wbuf in = {0};
	put_uint(&in, 2, 1ull << 32);
	struct wbuf o = wrap(3, &in);
	put(w, o.p, o.n);
	free(in.p);
	free(o.p);
}
static void b_length_past_end(struct wbuf *w)
{
	put_varint(w, (3u << 3) | 2);
	put_varint(w, 1000);
	put(w, "xx", 2);
}

static const struct bad_case bad_cases[] = {
	{"garbage", b_garbage, "bad field key"},
	{"unknown top-level field", b_unknown_top, "unknown field 9"},
	{"empty message", b_empty, "expected exactly 1"},
	{"two kinds", b_two_kinds, "carries 2 message kinds"},
	{"truncated", b_truncated, "truncated length"},
	{"unknown inner field", b_unknown_inner, "Batch: unknown field 15"},
	{"wrong wire type", b_wrong_wiretype, "wrong wire type"},
	{"repeated singular", b_repeated_singular, "more than 1"},
	{"batch over cap", b_batch_over_cap, "allowed 0..2097152"},
	{"too many approvals", b_too_many_approvals, "more than 16"},
	{"overlong utf-8", b_bad_utf8, "not UTF-8"},
	{"NUL in string", b_nul_in_string, "not UTF-8"},
	{"bool = 2", b_bool_not_bool, "out of range"},
	{"varint beyond 64 bits", b_overlong_varint, "bad varint"},
	{"phase beyond 32 bits", b_phase_over_u32, "out of range"},
	{"length past end", b_length_past_end, "truncated length"},
};

static void test_decode_refuses_malformed(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		struct wbuf w = {0};
		struct xz_msg m;
		struct xz_rpc_error err = {XZ_RPC_OK, ""};
		bad_cases[i].build(&w);
		enum xz_rpc_status st = xz_msg_decode(w.p ? w.p : (const uint8_t *)"", w.n, &m, &err);
		if (st != XZ_RPC_INVALID || strstr(err.msg, bad_cases[i].expect) == NULL)
			fail_msg("case \"%s\": status %d, message \"%s\", expected \"%s\"",
			         bad_cases[i].name, (int)st, err.msg, bad_cases[i].expect);
		assert_int_equal(m.kind, XZ_MSG_NONE);
		assert_null(m.storage);
		free(w.p);
	}
}

static void test_decode_refuses_over_message_cap(void **state)
{
	(void)state;
	size_t n = XZ_RPC_MAX_MESSAGE + 1;
	uint8_t *buf = calloc(1, n);
	struct xz_msg m;
	struct xz_rpc_error err;
	assert_non_null(buf);
	assert_int_equal(xz_msg_decode(buf, n, &m, &err), XZ_RPC_TOO_LARGE);
	free(buf);
}

/*
 * Mutation test: flip, insert, delete and truncate bytes of valid messages
 * (deterministic PRNG) many thousand times.  Every result must be refused
 * with INVALID/TOO_LARGE or accepted, never crash (run it under ASan), and
 * anything accepted must re-encode: the decoder lets through nothing the
 * encoder would refuse.
 */
static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint32_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (uint32_t)rng_state;
}

static void mutate_and_check(const uint8_t *seed, size_t n)
{
	uint8_t buf[512];
	for (int iter = 0; iter < 4000; iter++) {
		size_t len = n < sizeof(buf) ? n : sizeof(buf);
		memcpy(buf, seed, len);
		int edits = 1 + (int)(rnd() % 4);
		for (int e = 0; e < edits && len > 0; e++) {
			size_t at = rnd() % len;
			switch (rnd() % 4) {
			case 0: buf[at] ^= (uint8_t)(1u << (rnd() % 8)); break;
			case 1: buf[at] = (uint8_t)rnd(); break;
			case 2: len = at; break;
			default:
				if (len < sizeof(buf)) {
					memmove(buf + at + 1, buf + at, len - at);
					buf[at] = (uint8_t)rnd();
					len++;
				}
			}
		}
		struct xz_msg m;
		struct xz_rpc_error err;
		enum xz_rpc_status st = xz_msg_decode(buf, len, &m, &err);
		if (st == XZ_RPC_OK) {
			uint8_t *re = NULL;
			size_t re_len = 0;
			if (xz_msg_encode(&m, &re, &re_len, &err) != XZ_RPC_OK)
				fail_msg("accepted input does not re-encode: %s", err.msg);
			free(re);
		} else if (st != XZ_RPC_INVALID && st != XZ_RPC_TOO_LARGE) {
			fail_msg("unexpected status %d", (int)st);
		}
		xz_msg_release(&m);
	}
}

static void test_mutations_never_crash(void **state)
{
	(void)state;
	static const uint8_t id[16] = "0123456789abcdef";
	struct xz_msg seeds[3];
	memset(seeds, 0, sizeof(seeds));
	seeds[0].kind = XZ_MSG_OPEN;
	seeds[0].u.open.version = 1;
	seeds[0].u.open.join_id = (struct xz_rpc_bytes){id, 16};
	seeds[0].u.open.request = (struct xz_rpc_bytes){id, 10};
	seeds[0].u.open.approvals[0] = (struct xz_rpc_bytes){id, 3};
	seeds[0].u.open.approvals[1] = (struct xz_rpc_bytes){id, 4};
	seeds[0].u.open.n_approvals = 2;
	seeds[0].u.open.dataset = "people";
	seeds[1].kind = XZ_MSG_BATCH;
	seeds[1].u.batch.seq = 300;
	seeds[1].u.batch.phase = 2;
	seeds[1].u.batch.data = (struct xz_rpc_bytes){id, 16};
	seeds[1].u.batch.last = 1;
	seeds[2].kind = XZ_MSG_RECEIPT;
	seeds[2].u.receipt.transcript_hash = (struct xz_rpc_bytes){id, 16};
	seeds[2].u.receipt.signed_receipt = (struct xz_rpc_bytes){id, 8};
	seeds[2].u.receipt.checkpoint = "log\n7\n";
	for (size_t i = 0; i < 3; i++) {
		uint8_t *enc = NULL;
		size_t n = 0;
		struct xz_rpc_error err;
		assert_int_equal(xz_msg_encode(&seeds[i], &enc, &n, &err), XZ_RPC_OK);
		mutate_and_check(enc, n);
		free(enc);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip_every_kind),
		cmocka_unit_test(test_encode_refuses_over_caps),
		cmocka_unit_test(test_decode_refuses_malformed),
		cmocka_unit_test(test_decode_refuses_over_message_cap),
		cmocka_unit_test(test_mutations_never_crash),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
