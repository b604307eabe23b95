/*
 * PSI engine tests: both roles run in one process against each other and
 * the answers are compared with a plain set computation.  Messages that a
 * hostile peer or network could send are forged here from the byte layout
 * in docs/protocol.md (so the tests also check that the document is right).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "oprf.h"
#include "psi.h"
#include "testsupport.h"

#define HDR_LEN 32
#define DIGEST_LEN 16

/* ---- Sets of elements ------------------------------------------------- */

struct set {
	size_t n;
	char **elem;		/* NUL-terminated, passed without the NUL */
	char **label;		/* NULL = no labels */
};

static int
set_source(void *ctx, uint64_t index, const uint8_t **elem, size_t *elem_len,
    const uint8_t **label, size_t *label_len)
{
	const struct set *s = ctx;

	if (index >= s->n)
		return -1;
	*elem = (const uint8_t *)s->elem[index];
	*elem_len = strlen(s->elem[index]);
	*label = s->label ? (const uint8_t *)s->label[index] : NULL;
	*label_len = s->label ? strlen(s->label[index]) : 0;
	return 0;
}

static void
set_init(struct set *s, size_t n, int labels)
{
	s->n = n;
	s->elem = calloc(n + 1, sizeof(char *));
	s->label = labels ? calloc(n + 1, sizeof(char *)) : NULL;
	assert_non_null(s->elem);
}

static void
set_put(struct set *s, size_t i, const char *e, const char *l)
{
	s->elem[i] = strdup(e);
	if (s->label != NULL)
		s->label[i] = strdup(l ? l : "");
}

static void
set_free(struct set *s)
{
	for (size_t i = 0; i < s->n; i++) {
		free(s->elem[i]);
		if (s->label)
			free(s->label[i]);
	}
	free(s->elem);
	free(s->label);
}

static struct set
set_of(const char *const *items, size_t n, const char *const *labels)
{
	struct set s;

	set_init(&s, n, labels != NULL);
	for (size_t i = 0; i < n; i++)
		set_put(&s, i, items[i], labels ? labels[i] : NULL);
	return s;
}

/* A random 18-character resident-ID-shaped string (digits). */
static void
random_id(char out[19])
{
	for (int i = 0; i < 18; i++)
		out[i] = (char)('0' + randombytes_uniform(10));
	out[18] = '\0';
}

/* ---- Running a join --------------------------------------------------- */

struct answer {
	size_t n;
	uint64_t index[4096];
	char label[4096][64];
};

static int
collect(void *ctx, uint64_t index, const uint8_t *label, size_t len)
{
	struct answer *a = ctx;

	assert_true(a->n < 4096);
	assert_true(len < 64);
	a->index[a->n] = index;
	memcpy(a->label[a->n], label ? (const char *)label : "", len);
	a->label[a->n][len] = '\0';
	a->n++;
	return 0;
}

static struct xz_psi_params
params_for(enum xz_psi_mode mode, uint64_t nb, uint64_t mb, uint32_t label_len)
{
	struct xz_psi_params p = { 0 };

	p.mode = mode;
	randombytes_buf(p.join_id, sizeof(p.join_id));
	p.requester_bound = nb;
	p.responder_bound = mb;
	p.label_len = label_len;
	p.batch_max = 0;
	p.threads = 1;
	return p;
}

struct join {
	struct xz_psi_requester *r;
	struct xz_psi_responder *a;
};

static void
join_new(struct join *j, const struct xz_psi_params *p, struct set *x, struct set *y)
{
	assert_int_equal(xz_psi_requester_new(&j->r, p, x->n, set_source, x), XZ_PSI_OK);
	assert_int_equal(xz_psi_responder_new(&j->a, p, y->n, set_source, y), XZ_PSI_OK);
}

static void
join_free(struct join *j)
{
	xz_psi_requester_free(j->r);
	xz_psi_responder_free(j->a);
}

/* Ping-pongs messages until both sides are done; fails on any error. */
static void
join_run(struct join *j)
{
	for (int rounds = 0; rounds < 1000000; rounds++) {
		const uint8_t *m;
		size_t len;
		enum xz_psi_status rs, as;

		rs = xz_psi_requester_produce(j->r, &m, &len);
		assert_true(rs == XZ_PSI_OK || rs == XZ_PSI_AGAIN || rs == XZ_PSI_DONE);
		if (rs == XZ_PSI_OK)
			assert_int_equal(xz_psi_responder_consume(j->a, m, len), XZ_PSI_OK);
		as = xz_psi_responder_produce(j->a, &m, &len);
		assert_true(as == XZ_PSI_OK || as == XZ_PSI_AGAIN || as == XZ_PSI_DONE);
		if (as == XZ_PSI_OK)
			assert_int_equal(xz_psi_requester_consume(j->r, m, len), XZ_PSI_OK);
		if (rs == XZ_PSI_DONE && as == XZ_PSI_DONE) {
			assert_true(xz_psi_requester_done(j->r));
			return;
		}
		assert_false(rs == XZ_PSI_AGAIN && as == XZ_PSI_AGAIN);	/* deadlock */
	}
	fail_msg("join did not finish");
}

static void
run_answer(const struct xz_psi_params *p, struct set *x, struct set *y, uint64_t *count,
    struct answer *ans)
{
	struct join j;

	join_new(&j, p, x, y);
	join_run(&j);
	*count = xz_psi_requester_count(j.r);
	if (ans != NULL) {
		ans->n = 0;
		assert_int_equal(xz_psi_requester_results(j.r, collect, ans), XZ_PSI_OK);
	} else {
		assert_int_equal(xz_psi_requester_results(j.r, collect, NULL), XZ_PSI_E_STATE);
	}
	join_free(&j);
}

/* ---- Small cases, table-driven ---------------------------------------- */

static const struct small_case {
	const char *name;
	const char *x[4];
	const char *y[4];
	const char *ylabel[4];
	size_t nx, ny;
	uint64_t want_count;		/* intersect: matched x entries */
	uint64_t want_card;		/* cardinality: distinct values in both */
	size_t nres;			/* intersect: (x, y) pairs */
	uint64_t want_index[4];
	const char *want_label[4];
	uint64_t want_diff[4];
	size_t ndiff;
} small_cases[] = {
	{ "both empty", { 0 }, { 0 }, { 0 }, 0, 0, 0, 0, 0, { 0 }, { 0 }, { 0 }, 0 },
	{ "X empty", { 0 }, { "a" }, { "la" }, 0, 1, 0, 0, 0, { 0 }, { 0 }, { 0 }, 0 },
	{ "Y empty", { "a" }, { 0 }, { 0 }, 1, 0, 0, 0, 0, { 0 }, { 0 }, { 0 }, 1 },
	{ "one, equal", { "a" }, { "a" }, { "la" }, 1, 1, 1, 1, 1, { 0 }, { "la" }, { 0 }, 0 },
	{ "one, different", { "a" }, { "b" }, { "lb" }, 1, 1, 0, 0, 0, { 0 }, { 0 }, { 0 }, 1 },
	{ "duplicates in X", { "a", "b", "a" }, { "a", "c" }, { "la", "lc" }, 3, 2,
	  2, 1, 2, { 0, 2 }, { "la", "la" }, { 1 }, 1 },
	{ "duplicates in Y", { "a", "b" }, { "a", "a", "d" }, { "l1", "l2", "ld" }, 2, 3,
	  1, 1, 2, { 0, 0 }, { "l1", "l2" }, { 1 }, 1 },
	{ "disjoint", { "a", "b", "c" }, { "d", "e", "f" }, { "1", "2", "3" }, 3, 3,
	  0, 0, 0, { 0 }, { 0 }, { 0, 1, 2 }, 3 },
	{ "identical", { "a", "b", "c" }, { "c", "b", "a" }, { "lc", "lb", "la" }, 3, 3,
	  3, 3, 3, { 0, 1, 2 }, { "la", "lb", "lc" }, { 0 }, 0 },
	{ "prefix is not equal", { "ab", "a" }, { "abc", "b" }, { "1", "2" }, 2, 2,
	  0, 0, 0, { 0 }, { 0 }, { 0, 1 }, 2 },
};

static int
label_order(const void *a, const void *b)
{
	return strcmp(a, b);
}

static void
test_small_cases(void **state)
{
	(void)state;
	for (size_t c = 0; c < sizeof(small_cases) / sizeof(small_cases[0]); c++) {
		const struct small_case *k = &small_cases[c];
		struct set x = set_of(k->x, k->nx, NULL);
		struct set y = set_of(k->y, k->ny, k->ylabel);
		struct answer *ans = calloc(1, sizeof(*ans));
		struct xz_psi_params p;
		uint64_t count;

		print_message("case: %s\n", k->name);
		/* intersect with labels */
		p = params_for(XZ_PSI_INTERSECT, k->nx, k->ny, 16);
		run_answer(&p, &x, &y, &count, ans);
		assert_int_equal(count, k->want_count);
		assert_int_equal(ans->n, k->nres);
		/* pairs for one x come in y-stream order, which A shuffles: sort labels per x */
		for (size_t i = 0; i + 1 < ans->n; i++) {
			if (ans->index[i] == ans->index[i + 1] &&
			    strcmp(ans->label[i], ans->label[i + 1]) > 0)
				qsort(ans->label[i], 2, sizeof(ans->label[0]), label_order);
		}
		for (size_t i = 0; i < ans->n; i++) {
			assert_int_equal(ans->index[i], k->want_index[i]);
			assert_string_equal(ans->label[i], k->want_label[i]);
		}
		/* cardinality */
		p = params_for(XZ_PSI_CARDINALITY, k->nx, k->ny, 0);
		run_answer(&p, &x, &y, &count, NULL);
		assert_int_equal(count, k->want_card);
		/* difference */
		p = params_for(XZ_PSI_DIFFERENCE, k->nx, k->ny, 0);
		run_answer(&p, &x, &y, &count, ans);
		assert_int_equal(count, k->ndiff);
		assert_int_equal(ans->n, k->ndiff);
		for (size_t i = 0; i < ans->n; i++)
			assert_int_equal(ans->index[i], k->want_diff[i]);
		free(ans);
		set_free(&x);
		set_free(&y);
	}
}

/* ---- Random 10k x 10k against a plain intersection -------------------- */

struct big {
	struct set x, y;
	unsigned char *in_y;	/* per x index: 1 when x is in Y */
	size_t overlap;
};

static void
big_make(struct big *b, size_t nx, size_t ny, size_t overlap)
{
	char id[19];

	set_init(&b->x, nx, 0);
	set_init(&b->y, ny, 1);
	b->in_y = calloc(nx, 1);
	b->overlap = overlap;
	/* Random IDs collide with probability ~ (20k)^2 / 10^18: ignore. */
	for (size_t i = 0; i < nx; i++) {
		random_id(id);
		set_put(&b->x, i, id, NULL);
	}
	for (size_t i = 0; i < ny; i++) {
		char label[32];
		if (i < overlap) {
			size_t xi = (i * 7919) % nx;	/* spread the overlap over X */
			while (b->in_y[xi])
				xi = (xi + 1) % nx;
			b->in_y[xi] = 1;
			snprintf(id, sizeof(id), "%s", b->x.elem[xi]);
		} else {
			random_id(id);
		}
		snprintf(label, sizeof(label), "L%s", id);
		set_put(&b->y, i, id, label);
	}
}

static void
big_free(struct big *b)
{
	set_free(&b->x);
	set_free(&b->y);
	free(b->in_y);
}

struct check {
	const struct big *b;
	size_t seen;
	uint64_t last;
	int want_in;
};

static int
check_result(void *ctx, uint64_t index, const uint8_t *label, size_t len)
{
	struct check *c = ctx;
	char want[32];

	assert_true(index < c->b->x.n);
	assert_true(c->seen == 0 || index > c->last);
	assert_int_equal(c->b->in_y[index], c->want_in);
	if (c->want_in) {
		/* The label is the one A attached to this very element. */
		snprintf(want, sizeof(want), "L%s", c->b->x.elem[index]);
		assert_int_equal(len, strlen(want));
		assert_memory_equal(label, want, len);
	} else {
		assert_null(label);
	}
	c->last = index;
	c->seen++;
	return 0;
}

static void
test_random_10k(void **state)
{
	struct big b;
	struct join j;
	struct xz_psi_params p;

	(void)state;
	big_make(&b, 10000, 10000, 3333);
	for (int mode = XZ_PSI_INTERSECT; mode <= XZ_PSI_DIFFERENCE; mode++) {
		struct check c = { &b, 0, 0, mode == XZ_PSI_INTERSECT };
		p = params_for((enum xz_psi_mode)mode, 10000, 10000,
		    mode == XZ_PSI_INTERSECT ? 24 : 0);
		p.batch_max = 1500;	/* several batches, a partial last one */
		p.threads = 2;
		join_new(&j, &p, &b.x, &b.y);
		join_run(&j);
		if (mode == XZ_PSI_DIFFERENCE)
			assert_int_equal(xz_psi_requester_count(j.r), 10000 - b.overlap);
		else
			assert_int_equal(xz_psi_requester_count(j.r), b.overlap);
		if (mode != XZ_PSI_CARDINALITY) {
			assert_int_equal(xz_psi_requester_results(j.r, check_result, &c), XZ_PSI_OK);
			assert_int_equal(c.seen, mode == XZ_PSI_INTERSECT ? b.overlap : 10000 - b.overlap);
		}
		join_free(&j);
	}
	big_free(&b);
}

/* ---- Padding ---------------------------------------------------------- */

static void
test_padding(void **state)
{
	struct big b;
	struct join j;
	struct xz_psi_params p;
	struct xz_psi_stats rs, as;
	struct check c;
	struct xz_psi_requester *r = NULL;

	(void)state;
	big_make(&b, 300, 200, 50);
	for (int mode = XZ_PSI_INTERSECT; mode <= XZ_PSI_DIFFERENCE; mode++) {
		p = params_for((enum xz_psi_mode)mode, 1000, 700, mode == XZ_PSI_INTERSECT ? 24 : 0);
		p.batch_max = 256;
		join_new(&j, &p, &b.x, &b.y);
		join_run(&j);
		xz_psi_requester_stats(j.r, &rs);
		xz_psi_responder_stats(j.a, &as);
		/* A saw exactly the bound, not |X|: 4 BLINDED batches of 32-byte points. */
		assert_int_equal(as.messages_received, 4);
		assert_int_equal(as.bytes_received, 1000 * 32 + 4 * (HDR_LEN + DIGEST_LEN));
		/* R received the bound from A: 4 EVALUATED, then 700 TAGS items. */
		size_t tag_item = xz_psi_tag_len(1000, 700) +
		    (mode == XZ_PSI_INTERSECT ? 4 + 24 + 16 : 0);
		assert_int_equal(rs.bytes_received, 1000 * 32 + 700 * tag_item +
		    (4 + 3) * (HDR_LEN + DIGEST_LEN));
		/* ...and the answer ignores the dummies. */
		if (mode == XZ_PSI_DIFFERENCE)
			assert_int_equal(xz_psi_requester_count(j.r), 250);
		else
			assert_int_equal(xz_psi_requester_count(j.r), 50);
		if (mode != XZ_PSI_CARDINALITY) {
			c = (struct check){ &b, 0, 0, mode == XZ_PSI_INTERSECT };
			assert_int_equal(xz_psi_requester_results(j.r, check_result, &c), XZ_PSI_OK);
		}
		join_free(&j);
	}
	/* More elements than the declared bound is refused up front. */
	p = params_for(XZ_PSI_INTERSECT, 299, 700, 0);
	assert_int_equal(xz_psi_requester_new(&r, &p, b.x.n, set_source, &b.x), XZ_PSI_E_ARG);
	assert_null(r);
	big_free(&b);
}

static void
test_tag_len(void **state)
{
	static const struct { uint64_t n, m; unsigned t; } kv[] = {
		{ 0, 0, 5 }, { 1, 1, 5 }, { 256, 256, 7 }, { 1u << 16, 1u << 16, 9 },
		{ 1u << 20, 1u << 20, 10 }, { 100000000, 100000000, 12 },
		{ XZ_PSI_MAX_BOUND, XZ_PSI_MAX_BOUND, 15 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(kv) / sizeof(kv[0]); i++) {
		unsigned t = xz_psi_tag_len(kv[i].n, kv[i].m);
		assert_int_equal(t, kv[i].t);
		/* The bound itself: n*m*2^-8t <= 2^-40, i.e. log2(n*m) + 40 <= 8t. */
		double lg = 0;
		for (uint64_t v = kv[i].n; v > 1; v = (v + 1) / 2)
			lg += 1;
		for (uint64_t v = kv[i].m; v > 1; v = (v + 1) / 2)
			lg += 1;
		assert_true(lg + 40 <= 8.0 * t);
	}
}

/* ---- Hostile messages ------------------------------------------------- */

/* Captures the first message each side sends, for tampering. */
struct captured {
	uint8_t *msg;
	size_t len;
};

static void
capture(struct captured *c, const uint8_t *m, size_t len)
{
	c->msg = malloc(len);
	memcpy(c->msg, m, len);
	c->len = len;
}

static uint32_t
get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Recomputes the digest as docs/protocol.md specifies, so a forged message passes framing. */
static void
reseal(uint8_t *m, size_t len, const uint8_t join_id[16])
{
	crypto_generichash(m + len - DIGEST_LEN, DIGEST_LEN, m, len - DIGEST_LEN, join_id, 16);
}

/* Every way of breaking a message that the receiver must refuse cleanly. */
static void
refuse_variants(const struct captured *c, const uint8_t join_id[16],
    enum xz_psi_status (*consume)(void *, const uint8_t *, size_t),
    void *(*fresh)(void *), void (*drop)(void *), void *ctx)
{
	uint8_t *m = malloc(c->len + 1);
	void *obj;
	static const struct { size_t at; } flips[] = { { 0 }, { 5 }, { 9 }, { 13 }, { 17 }, { 40 } };

	/* Truncated (every length from 0 to len-1 would be slow; a spread of them). */
	for (size_t cut = 0; cut < c->len; cut += (cut < 64 ? 1 : 997)) {
		obj = fresh(ctx);
		memcpy(m, c->msg, c->len);
		assert_int_equal(consume(obj, m, cut), XZ_PSI_E_MALFORMED);
		/* Once failed, the object stays failed. */
		assert_int_equal(consume(obj, c->msg, c->len), XZ_PSI_E_STATE);
		drop(obj);
	}
	/* One extra byte. */
	obj = fresh(ctx);
	memcpy(m, c->msg, c->len);
	m[c->len] = 0;
	assert_int_equal(consume(obj, m, c->len + 1), XZ_PSI_E_MALFORMED);
	drop(obj);
	/* A flipped bit anywhere: header, payload, digest. */
	for (size_t i = 0; i < sizeof(flips) / sizeof(flips[0]) + 2; i++) {
		size_t at = i < sizeof(flips) / sizeof(flips[0]) ? flips[i].at :
		    i == sizeof(flips) / sizeof(flips[0]) ? c->len / 2 : c->len - 1;
		obj = fresh(ctx);
		memcpy(m, c->msg, c->len);
		m[at] ^= 0x04;
		assert_int_equal(consume(obj, m, c->len), XZ_PSI_E_MALFORMED);
		drop(obj);
	}
	/* A message of another join (digest keyed with a different id). */
	uint8_t other[16];
	memcpy(other, join_id, 16);
	other[0] ^= 1;
	obj = fresh(ctx);
	memcpy(m, c->msg, c->len);
	reseal(m, c->len, other);
	assert_int_equal(consume(obj, m, c->len), XZ_PSI_E_MALFORMED);
	drop(obj);
	/* A well-framed message that skips ahead in the sequence. */
	obj = fresh(ctx);
	memcpy(m, c->msg, c->len);
	m[11] ^= 1;	/* seq 0 -> 1 */
	reseal(m, c->len, join_id);
	assert_int_equal(consume(obj, m, c->len), XZ_PSI_E_SEQUENCE);
	drop(obj);
	/* The same message twice: the second is a replay. */
	obj = fresh(ctx);
	assert_int_equal(consume(obj, c->msg, c->len), XZ_PSI_OK);
	assert_int_not_equal(consume(obj, c->msg, c->len), XZ_PSI_OK);
	drop(obj);
	free(m);
}

struct fixture {
	struct xz_psi_params p;
	struct set x, y;
	struct captured blinded, evaluated, tags;
	struct xz_psi_requester *r;	/* the requester that sent `blinded` */
};

static void *
fresh_responder(void *ctx)
{
	struct fixture *f = ctx;
	struct xz_psi_responder *a;

	assert_int_equal(xz_psi_responder_new(&a, &f->p, f->y.n, set_source, &f->y), XZ_PSI_OK);
	return a;
}

static enum xz_psi_status
responder_consume(void *obj, const uint8_t *m, size_t len)
{
	return xz_psi_responder_consume(obj, m, len);
}

static void
drop_responder(void *obj)
{
	xz_psi_responder_free(obj);
}

static void
fixture_make_id(struct fixture *f, enum xz_psi_mode mode, const uint8_t *join_id)
{
	static const char *const xs[] = { "110101199003074514", "110101199003071234", "x" };
	static const char *const ys[] = { "110101199003074514", "y" };
	static const char *const ls[] = { "match", "other" };
	struct xz_psi_responder *a;
	const uint8_t *m;
	size_t len;

	memset(f, 0, sizeof(*f));
	f->p = params_for(mode, 3, 2, mode == XZ_PSI_INTERSECT ? 8 : 0);
	if (join_id != NULL)
		memcpy(f->p.join_id, join_id, XZ_PSI_JOIN_ID_LEN);
	f->x = set_of(xs, 3, NULL);
	f->y = set_of(ys, 2, ls);
	assert_int_equal(xz_psi_requester_new(&f->r, &f->p, 3, set_source, &f->x), XZ_PSI_OK);
	assert_int_equal(xz_psi_requester_produce(f->r, &m, &len), XZ_PSI_OK);
	capture(&f->blinded, m, len);
	a = fresh_responder(f);
	assert_int_equal(xz_psi_responder_consume(a, m, len), XZ_PSI_OK);
	assert_int_equal(xz_psi_responder_produce(a, &m, &len), XZ_PSI_OK);
	capture(&f->evaluated, m, len);
	assert_int_equal(xz_psi_responder_produce(a, &m, &len), XZ_PSI_OK);
	capture(&f->tags, m, len);
	xz_psi_responder_free(a);
}

static void
fixture_make(struct fixture *f, enum xz_psi_mode mode)
{
	fixture_make_id(f, mode, NULL);
}

static void
fixture_free(struct fixture *f)
{
	xz_psi_requester_free(f->r);
	set_free(&f->x);
	set_free(&f->y);
	free(f->blinded.msg);
	free(f->evaluated.msg);
	free(f->tags.msg);
}

static void
test_responder_refuses_tampered(void **state)
{
	struct fixture f;

	(void)state;
	fixture_make(&f, XZ_PSI_INTERSECT);
	assert_int_equal(f.blinded.msg[5], 1);
	assert_int_equal(get32(f.blinded.msg + 12), 3);
	refuse_variants(&f.blinded, f.p.join_id, responder_consume, fresh_responder,
	    drop_responder, &f);
	fixture_free(&f);
}

/*
 * For the requester: a fresh requester that has sent its BLINDED batch (with
 * the same blinds as the captured answer was computed for is impossible, so
 * R's state here is "expects EVALUATED seq 0 with 3 items").
 */
struct rfix {
	struct fixture *f;
	int tags;	/* feed EVALUATED first, then test TAGS */
};

static void *
fresh_requester(void *ctx)
{
	struct rfix *rf = ctx;
	struct xz_psi_requester *r;
	const uint8_t *m;
	size_t len;

	assert_int_equal(xz_psi_requester_new(&r, &rf->f->p, rf->f->x.n, set_source, &rf->f->x),
	    XZ_PSI_OK);
	assert_int_equal(xz_psi_requester_produce(r, &m, &len), XZ_PSI_OK);
	if (rf->tags) {
		/* A real answer to this requester's own batch, then TAGS are expected. */
		struct xz_psi_responder *a = fresh_responder(rf->f);
		assert_int_equal(xz_psi_responder_consume(a, m, len), XZ_PSI_OK);
		assert_int_equal(xz_psi_responder_produce(a, &m, &len), XZ_PSI_OK);
		assert_int_equal(xz_psi_requester_consume(r, m, len), XZ_PSI_OK);
		xz_psi_responder_free(a);
	}
	return r;
}

static enum xz_psi_status
requester_consume(void *obj, const uint8_t *m, size_t len)
{
	return xz_psi_requester_consume(obj, m, len);
}

static void
drop_requester(void *obj)
{
	xz_psi_requester_free(obj);
}

static void
test_requester_refuses_tampered(void **state)
{
	struct fixture f;
	struct rfix rf = { &f, 0 };

	(void)state;
	fixture_make(&f, XZ_PSI_INTERSECT);
	refuse_variants(&f.evaluated, f.p.join_id, requester_consume, fresh_requester,
	    drop_requester, &rf);
	rf.tags = 1;
	refuse_variants(&f.tags, f.p.join_id, requester_consume, fresh_requester,
	    drop_requester, &rf);
	/* TAGS before EVALUATED is out of order. */
	rf.tags = 0;
	struct xz_psi_requester *r = fresh_requester(&rf);
	assert_int_equal(xz_psi_requester_consume(r, f.tags.msg, f.tags.len), XZ_PSI_E_SEQUENCE);
	xz_psi_requester_free(r);
	fixture_free(&f);
}

/*
 * A label ciphertext altered by A (digest recomputed) is never returned:
 * the match is dropped and counted, and the join goes on — were it fatal,
 * A could plant a bad label on a guess and learn from the join's fate
 * whether R asked about it (docs/protocol.md §8).
 */
static void
test_tampered_label_refused(void **state)
{
	struct fixture f;
	struct rfix rf = { &f, 1 };
	struct xz_psi_requester *r;
	const uint8_t *m;
	size_t len;
	struct xz_psi_responder *a;
	struct captured tags;

	(void)state;
	fixture_make(&f, XZ_PSI_INTERSECT);
	/* Build a consistent pair: requester + responder that served it. */
	assert_int_equal(xz_psi_requester_new(&r, &f.p, f.x.n, set_source, &f.x), XZ_PSI_OK);
	a = fresh_responder(&f);
	assert_int_equal(xz_psi_requester_produce(r, &m, &len), XZ_PSI_OK);
	assert_int_equal(xz_psi_responder_consume(a, m, len), XZ_PSI_OK);
	assert_int_equal(xz_psi_responder_produce(a, &m, &len), XZ_PSI_OK);
	assert_int_equal(xz_psi_requester_consume(r, m, len), XZ_PSI_OK);
	assert_int_equal(xz_psi_responder_produce(a, &m, &len), XZ_PSI_OK);
	capture(&tags, m, len);
	/* Flip a bit in the ciphertext of every item: the matching one must fail. */
	size_t item = xz_psi_tag_len(3, 2) + 4 + 8 + 16;
	for (size_t i = 0; i < 2; i++)
		tags.msg[HDR_LEN + i * item + item - 1] ^= 1;
	reseal(tags.msg, tags.len, f.p.join_id);
	assert_int_equal(xz_psi_requester_consume(r, tags.msg, tags.len), XZ_PSI_OK);
	assert_true(xz_psi_requester_done(r));
	assert_int_equal(xz_psi_requester_count(r), 0);
	assert_int_equal(xz_psi_requester_label_failures(r), 1);
	{
		struct answer *ans = calloc(1, sizeof(*ans));
		assert_non_null(ans);
		assert_int_equal(xz_psi_requester_results(r, collect, ans), XZ_PSI_OK);
		assert_int_equal(ans->n, 0);
		free(ans);
	}
	free(tags.msg);
	xz_psi_responder_free(a);
	xz_psi_requester_free(r);
	(void)rf;
	fixture_free(&f);
}

/* RFC 9496 invalid encodings and the identity, placed in well-framed messages. */
static const char *const bad_points[] = {
	"0000000000000000000000000000000000000000000000000000000000000000",
	"0100000000000000000000000000000000000000000000000000000000000000",
	"edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
	"26948d35ca62e643e26a83177332e6b6afeb9d08e4268b650f1f5bbd8d81d371",
	"3eb858e78f5a7254d8c9731174a94f76755fd3941c0ac93735c07ba14579630e",
	"ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
};

static void
test_invalid_points_refused(void **state)
{
	struct fixture f;
	struct rfix rf = { &f, 0 };
	uint8_t *m, p[32];

	(void)state;
	fixture_make(&f, XZ_PSI_INTERSECT);
	m = malloc(f.blinded.len);
	for (size_t b = 0; b < sizeof(bad_points) / sizeof(bad_points[0]); b++) {
		assert_int_equal(sodium_hex2bin(p, 32, bad_points[b], 64, NULL, NULL, NULL), 0);
		for (size_t slot = 0; slot < 3; slot++) {
			/* Into R's BLINDED, at A. */
			struct xz_psi_responder *a = fresh_responder(&f);
			memcpy(m, f.blinded.msg, f.blinded.len);
			memcpy(m + HDR_LEN + slot * 32, p, 32);
			reseal(m, f.blinded.len, f.p.join_id);
			assert_int_equal(xz_psi_responder_consume(a, m, f.blinded.len), XZ_PSI_E_ELEMENT);
			xz_psi_responder_free(a);
			/* Into A's EVALUATED, at R (slot 2 is R's dummy-free third element). */
			struct xz_psi_requester *r = fresh_requester(&rf);
			memcpy(m, f.evaluated.msg, f.evaluated.len);
			memcpy(m + HDR_LEN + slot * 32, p, 32);
			reseal(m, f.evaluated.len, f.p.join_id);
			assert_int_equal(xz_psi_requester_consume(r, m, f.evaluated.len), XZ_PSI_E_ELEMENT);
			assert_false(xz_psi_requester_done(r));
			xz_psi_requester_free(r);
		}
	}
	/* Cardinality mode validates the same way. */
	fixture_free(&f);
	fixture_make(&f, XZ_PSI_CARDINALITY);
	free(m);
	m = malloc(f.blinded.len);
	memcpy(m, f.blinded.msg, f.blinded.len);
	memset(m + HDR_LEN + 32, 0, 32);
	reseal(m, f.blinded.len, f.p.join_id);
	struct xz_psi_responder *a = fresh_responder(&f);
	assert_int_equal(xz_psi_responder_consume(a, m, f.blinded.len), XZ_PSI_E_ELEMENT);
	xz_psi_responder_free(a);
	free(m);
	fixture_free(&f);
}

/*
 * Random corruption: any change without a matching digest is refused as
 * malformed; random items under a recomputed digest are either valid
 * points (accepted) or refused as invalid elements — never anything else.
 */
static void
test_random_corruption(void **state)
{
	struct fixture f;
	uint8_t *m;

	(void)state;
	fixture_make(&f, XZ_PSI_INTERSECT);
	m = malloc(f.blinded.len);
	for (int round = 0; round < 300; round++) {
		struct xz_psi_responder *a = fresh_responder(&f);
		size_t at = randombytes_uniform((uint32_t)f.blinded.len);
		enum xz_psi_status st;

		memcpy(m, f.blinded.msg, f.blinded.len);
		m[at] ^= (uint8_t)(1 + randombytes_uniform(255));
		assert_int_equal(xz_psi_responder_consume(a, m, f.blinded.len), XZ_PSI_E_MALFORMED);
		xz_psi_responder_free(a);

		a = fresh_responder(&f);
		memcpy(m, f.blinded.msg, f.blinded.len);
		randombytes_buf(m + HDR_LEN, 3 * 32);
		reseal(m, f.blinded.len, f.p.join_id);
		st = xz_psi_responder_consume(a, m, f.blinded.len);
		assert_true(st == XZ_PSI_OK || st == XZ_PSI_E_ELEMENT);
		xz_psi_responder_free(a);
	}
	free(m);
	fixture_free(&f);
}

/* A wrong count (more elements than the bound, or a premature LAST) is refused. */
static void
test_count_mismatch_refused(void **state)
{
	struct fixture f;
	struct xz_psi_params p;
	struct xz_psi_responder *a;

	(void)state;
	fixture_make(&f, XZ_PSI_INTERSECT);
	/* A responder that was told R has 2 elements gets a batch of 3. */
	p = f.p;
	p.requester_bound = 2;
	assert_int_equal(xz_psi_responder_new(&a, &p, f.y.n, set_source, &f.y), XZ_PSI_OK);
	assert_int_not_equal(xz_psi_responder_consume(a, f.blinded.msg, f.blinded.len), XZ_PSI_OK);
	xz_psi_responder_free(a);
	/* One told 4 gets a batch of 3 flagged LAST. */
	p.requester_bound = 4;
	assert_int_equal(xz_psi_responder_new(&a, &p, f.y.n, set_source, &f.y), XZ_PSI_OK);
	assert_int_not_equal(xz_psi_responder_consume(a, f.blinded.msg, f.blinded.len), XZ_PSI_OK);
	xz_psi_responder_free(a);
	fixture_free(&f);
}

/*
 * Two joins over the same inputs, with the same join id: A draws a fresh
 * OPRF key each time, so no tag of one join appears in the other.
 */
static void
test_fresh_key_per_join(void **state)
{
	for (int mode = XZ_PSI_INTERSECT; mode <= XZ_PSI_CARDINALITY; mode++) {
		struct fixture f1, f2;
		unsigned t = xz_psi_tag_len(3, 2);
		size_t item = t + (mode == XZ_PSI_INTERSECT ? 4 + 8 + 16 : 0);

		(void)state;
		fixture_make(&f1, (enum xz_psi_mode)mode);
		fixture_make_id(&f2, (enum xz_psi_mode)mode, f1.p.join_id);
		assert_int_equal(f1.tags.len, f2.tags.len);
		assert_int_equal(f1.tags.len, HDR_LEN + 2 * item + DIGEST_LEN);
		for (size_t i = 0; i < 2; i++) {
			for (size_t k = 0; k < 2; k++)
				assert_memory_not_equal(f1.tags.msg + HDR_LEN + i * item,
				    f2.tags.msg + HDR_LEN + k * item, t);
		}
		fixture_free(&f1);
		fixture_free(&f2);
	}
}

static void
test_bad_params(void **state)
{
	struct xz_psi_params p = params_for(XZ_PSI_INTERSECT, 10, 10, 0);
	struct xz_psi_requester *r = (void *)1;
	struct xz_psi_responder *a = (void *)1;
	struct set s = { 0 };

	(void)state;
	p.mode = 7;
	assert_int_equal(xz_psi_requester_new(&r, &p, 0, set_source, &s), XZ_PSI_E_ARG);
	assert_null(r);
	p = params_for(XZ_PSI_CARDINALITY, 10, 10, 16);	/* labels only with intersect */
	assert_int_equal(xz_psi_responder_new(&a, &p, 0, set_source, &s), XZ_PSI_E_ARG);
	assert_null(a);
	p = params_for(XZ_PSI_INTERSECT, 10, 10, 0);
	p.batch_max = XZ_PSI_MAX_BATCH + 1;
	assert_int_equal(xz_psi_responder_new(&a, &p, 0, set_source, &s), XZ_PSI_E_ARG);
	p = params_for(XZ_PSI_INTERSECT, 10, 10, 0);
	assert_int_equal(xz_psi_responder_new(&a, &p, 11, set_source, &s), XZ_PSI_E_ARG);
	for (int st = XZ_PSI_OK; st <= XZ_PSI_E_THREAD; st++)
		assert_non_null(xz_psi_strerror((enum xz_psi_status)st));
}

/*
 * A responder holds one unsent answer: a second BLINDED before the answer
 * is taken is not consumed (XZ_PSI_E_STATE) and the join goes on.
 */
static void
test_responder_one_pending(void **state)
{
	struct xz_psi_params p = params_for(XZ_PSI_INTERSECT, 4, 1, 0);
	static const char *const xs[] = { "a", "b", "c", "d" };
	static const char *const ys[] = { "c" };
	struct set x = set_of(xs, 4, NULL), y = set_of(ys, 1, NULL);
	struct join j;
	const uint8_t *m;
	size_t len;
	uint8_t *copy;

	(void)state;
	p.batch_max = 2;
	p.threads = 0;		/* default: online cores */
	join_new(&j, &p, &x, &y);
	assert_int_equal(xz_psi_requester_produce(j.r, &m, &len), XZ_PSI_OK);
	/* One batch in flight: R waits for the answer before the next. */
	copy = malloc(len);
	memcpy(copy, m, len);
	assert_int_equal(xz_psi_requester_produce(j.r, &m, &len), XZ_PSI_AGAIN);
	assert_int_equal(xz_psi_responder_consume(j.a, copy, len), XZ_PSI_OK);
	assert_int_equal(xz_psi_responder_consume(j.a, copy, len), XZ_PSI_E_STATE);
	assert_int_equal(xz_psi_responder_produce(j.a, &m, &len), XZ_PSI_OK);
	assert_int_equal(xz_psi_requester_consume(j.r, m, len), XZ_PSI_OK);
	assert_int_equal(xz_psi_responder_produce(j.a, &m, &len), XZ_PSI_AGAIN);
	free(copy);
	join_run(&j);
	assert_int_equal(xz_psi_requester_count(j.r), 1);
	join_free(&j);
	set_free(&x);
	set_free(&y);
}

/* A never sees two equal BLINDED items, whatever the duplicates in X. */
static void
test_duplicates_hidden_from_a(void **state)
{
	static const char *const xs[] = { "a", "a", "b", "a", "b" };
	struct set x = set_of(xs, 5, NULL);

	(void)state;
	for (int mode = XZ_PSI_INTERSECT; mode <= XZ_PSI_DIFFERENCE; mode++) {
		struct xz_psi_params p = params_for((enum xz_psi_mode)mode, 5, 1, 0);
		struct xz_psi_requester *r;
		const uint8_t *m;
		size_t len;

		assert_int_equal(xz_psi_requester_new(&r, &p, 5, set_source, &x), XZ_PSI_OK);
		assert_int_equal(xz_psi_requester_produce(r, &m, &len), XZ_PSI_OK);
		assert_int_equal(get32(m + 12), 5);
		for (size_t i = 0; i < 5; i++) {
			for (size_t k = i + 1; k < 5; k++)
				assert_memory_not_equal(m + HDR_LEN + i * 32, m + HDR_LEN + k * 32, 32);
		}
		xz_psi_requester_free(r);
	}
	set_free(&x);
}

/* A source that fails midway aborts the join with XZ_PSI_E_INPUT. */
static int
failing_source(void *ctx, uint64_t index, const uint8_t **elem, size_t *elem_len,
    const uint8_t **label, size_t *label_len)
{
	(void)ctx; (void)label; (void)label_len;
	if (index == 1)
		return -1;
	*elem = (const uint8_t *)"a";
	*elem_len = 1;
	return 0;
}

static void
test_source_failure(void **state)
{
	struct xz_psi_params p = params_for(XZ_PSI_INTERSECT, 3, 3, 0);
	struct xz_psi_requester *r;
	const uint8_t *m;
	size_t len;

	(void)state;
	assert_int_equal(xz_psi_requester_new(&r, &p, 3, failing_source, NULL), XZ_PSI_OK);
	assert_int_equal(xz_psi_requester_produce(r, &m, &len), XZ_PSI_E_INPUT);
	assert_int_equal(xz_psi_requester_produce(r, &m, &len), XZ_PSI_E_STATE);
	xz_psi_requester_free(r);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tag_len),
		cmocka_unit_test(test_small_cases),
		cmocka_unit_test(test_random_10k),
		cmocka_unit_test(test_padding),
		cmocka_unit_test(test_responder_refuses_tampered),
		cmocka_unit_test(test_requester_refuses_tampered),
		cmocka_unit_test(test_tampered_label_refused),
		cmocka_unit_test(test_invalid_points_refused),
		cmocka_unit_test(test_random_corruption),
		cmocka_unit_test(test_count_mismatch_refused),
		cmocka_unit_test(test_fresh_key_per_join),
		cmocka_unit_test(test_bad_params),
		cmocka_unit_test(test_source_failure),
		cmocka_unit_test(test_responder_one_pending),
		cmocka_unit_test(test_duplicates_hidden_from_a),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
