/*
 * Delegated (three-party) PSI: two owners and the coordinating requester
 * run in one process; every message passes through a relay that records
 * it, so the tests can look at exactly what each party received.
 * docs/protocol.md §11 is the specification; messages are forged from its
 * byte layout where a test needs a hostile one.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "psi.h"
#include "testsupport.h"

#define HDR_LEN 32
#define DIGEST_LEN 16
#define MAX_MSGS 512

struct set {
	size_t n;
	const char **elem, **label;
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

/* One recorded message: who it went to, and its bytes. */
struct rec {
	int to;			/* 0, 1: an owner; 2: the requester */
	uint8_t *bytes;
	size_t len;
};

struct pair {
	uint64_t pos[2];
	char label[2][96];
};

struct run {
	struct xz_psi_dparams p;
	struct xz_psi_owner *o[2];
	struct xz_psi_coordinator *c;
	struct rec msgs[MAX_MSGS];
	size_t nmsgs;
	struct pair pairs[256];
	size_t npairs;
	/* Changes a message before R reads it (a hostile owner), or NULL. */
	void (*mutate)(struct run *r, unsigned from, uint8_t *m, size_t len);
};

static void
record(struct run *r, int to, const uint8_t *m, size_t len)
{
	assert_true(r->nmsgs < MAX_MSGS);
	r->msgs[r->nmsgs].to = to;
	r->msgs[r->nmsgs].bytes = malloc(len);
	assert_non_null(r->msgs[r->nmsgs].bytes);
	memcpy(r->msgs[r->nmsgs].bytes, m, len);
	r->msgs[r->nmsgs].len = len;
	r->nmsgs++;
}

static int
collect(void *ctx, uint64_t pos0, const uint8_t *l0, size_t n0, uint64_t pos1,
    const uint8_t *l1, size_t n1)
{
	struct run *r = ctx;
	struct pair *p = &r->pairs[r->npairs++];

	assert_true(r->npairs <= 256 && n0 < 96 && n1 < 96);
	p->pos[0] = pos0;
	p->pos[1] = pos1;
	memcpy(p->label[0], l0 ? (const char *)l0 : "", n0);
	p->label[0][n0] = '\0';
	memcpy(p->label[1], l1 ? (const char *)l1 : "", n1);
	p->label[1][n1] = '\0';
	return 0;
}

static void
run_params(struct run *r, uint64_t b0, uint64_t b1, uint32_t l0, uint32_t l1, uint32_t batch)
{
	memset(r, 0, sizeof(*r));
	randombytes_buf(r->p.join_id, sizeof(r->p.join_id));
	r->p.bound[0] = b0;
	r->p.bound[1] = b1;
	r->p.label_len[0] = l0;
	r->p.label_len[1] = l1;
	r->p.batch_max = batch;
	r->p.threads = 2;
}

/*
 * Drives the join the way node/requester.c does: ask the coordinator whom
 * to read, take that owner's next message, let the coordinator check it,
 * forward it when told.  Returns the first error.
 */
static enum xz_psi_status
drive(struct run *r)
{
	enum xz_psi_status st;
	const uint8_t *m;
	size_t len;
	unsigned from;
	int fwd;

	for (;;) {
		st = xz_psi_coordinator_next(r->c, &from);
		if (st == XZ_PSI_DONE)
			break;
		if (st != XZ_PSI_OK)
			return st;
		if ((st = xz_psi_owner_produce(r->o[from], &m, &len)) != XZ_PSI_OK)
			return st == XZ_PSI_AGAIN ? XZ_PSI_E_STATE : st;
		if (r->mutate != NULL) {
			uint8_t *copy = malloc(len);
			assert_non_null(copy);
			memcpy(copy, m, len);
			r->mutate(r, from, copy, len);
			record(r, 2, copy, len);
			st = xz_psi_coordinator_consume(r->c, from, copy, len, &fwd);
			if (st == XZ_PSI_OK && fwd) {
				record(r, (int)(1 - from), copy, len);
				st = xz_psi_owner_consume(r->o[1 - from], copy, len);
			}
			free(copy);
			if (st != XZ_PSI_OK)
				return st;
			continue;
		}
		record(r, 2, m, len);
		if ((st = xz_psi_coordinator_consume(r->c, from, m, len, &fwd)) != XZ_PSI_OK)
			return st;
		if (fwd) {
			record(r, (int)(1 - from), m, len);
			if ((st = xz_psi_owner_consume(r->o[1 - from], m, len)) != XZ_PSI_OK)
				return st;
		}
	}
	/* Both owners have nothing more to say. */
	for (unsigned i = 0; i < 2; i++)
		if ((st = xz_psi_owner_produce(r->o[i], &m, &len)) != XZ_PSI_DONE)
			return XZ_PSI_E_STATE;
	return xz_psi_coordinator_results(r->c, collect, r);
}

static enum xz_psi_status
run_join(struct run *r, struct set *y0, struct set *y1)
{
	assert_int_equal(xz_psi_owner_new(&r->o[0], &r->p, 0, y0->n, set_source, y0), XZ_PSI_OK);
	assert_int_equal(xz_psi_owner_new(&r->o[1], &r->p, 1, y1->n, set_source, y1), XZ_PSI_OK);
	assert_int_equal(xz_psi_coordinator_new(&r->c, &r->p), XZ_PSI_OK);
	return drive(r);
}

static void
run_free(struct run *r)
{
	xz_psi_owner_free(r->o[0]);
	xz_psi_owner_free(r->o[1]);
	xz_psi_coordinator_free(r->c);
	for (size_t i = 0; i < r->nmsgs; i++)
		free(r->msgs[i].bytes);
}

/* Claims (owner 0) and deaths (owner 1): the seed case in miniature. */
static const char *claims_id[] = {
	"990101195001011234", "990101196002022345", "990101195001011234",
	"990101197003033456", "990101198004044567", "990101199005055678",
};
static const char *claims_label[] = {
	"C-001|2025-03-01", "C-002|2025-04-01", "C-003|2025-05-01",
	"C-004|2025-06-01", "C-005|2025-07-01", "C-006|2025-08-01",
};
static const char *deaths_id[] = {
	"990101195001011234", "990101197003033456", "990101190001019999",
};
static const char *deaths_label[] = { "2024-12-31", "2025-01-15", "2020-02-02" };

static int
has_pair(const struct run *r, const char *l0, const char *l1)
{
	for (size_t i = 0; i < r->npairs; i++)
		if (strcmp(r->pairs[i].label[0], l0) == 0 && strcmp(r->pairs[i].label[1], l1) == 0)
			return 1;
	return 0;
}

static void
test_planted_pairs_with_labels(void **state)
{
	struct set y0 = { 6, claims_id, claims_label }, y1 = { 3, deaths_id, deaths_label };
	struct run r;

	(void)state;
	/* Bounds above the counts (dummies), batches of 2 (several of each). */
	run_params(&r, 10, 7, 32, 16, 2);
	assert_int_equal(run_join(&r, &y0, &y1), XZ_PSI_OK);
	assert_int_equal(xz_psi_coordinator_count(r.c), 3);
	assert_int_equal(r.npairs, 3);
	/* The person with two claims matches twice; each pair has both labels. */
	assert_true(has_pair(&r, "C-001|2025-03-01", "2024-12-31"));
	assert_true(has_pair(&r, "C-003|2025-05-01", "2024-12-31"));
	assert_true(has_pair(&r, "C-004|2025-06-01", "2025-01-15"));
	for (size_t i = 1; i < r.npairs; i++)	/* ordered by owner 0's position */
		assert_true(r.pairs[i - 1].pos[0] <= r.pairs[i].pos[0]);
	run_free(&r);
}

static void
test_no_labels_and_empty_sides(void **state)
{
	struct set y0 = { 6, claims_id, NULL }, y1 = { 3, deaths_id, NULL }, none = { 0, NULL, NULL };
	struct run r;

	(void)state;
	run_params(&r, 6, 3, 0, 0, 0);
	assert_int_equal(run_join(&r, &y0, &y1), XZ_PSI_OK);
	assert_int_equal(r.npairs, 3);
	assert_string_equal(r.pairs[0].label[0], "");
	run_free(&r);
	/* An owner with nothing (bound 0) takes part and nothing matches. */
	run_params(&r, 6, 0, 0, 8, 0);
	assert_int_equal(run_join(&r, &y0, &none), XZ_PSI_OK);
	assert_int_equal(r.npairs, 0);
	run_free(&r);
	run_params(&r, 0, 0, 0, 0, 0);
	assert_int_equal(run_join(&r, &none, &none), XZ_PSI_OK);
	assert_int_equal(r.npairs, 0);
	run_free(&r);
}

/* The D_TAGS items R received from owner s, in stream order. */
static size_t
tag_items(const struct run *r, unsigned s, const uint8_t **items, size_t *item_len)
{
	size_t n = 0;

	for (size_t i = 0; i < r->nmsgs; i++) {
		const uint8_t *m = r->msgs[i].bytes;
		if (r->msgs[i].to != 2 || m[5] != 6 || m[28] != s)
			continue;
		uint32_t count = (uint32_t)m[12] << 24 | (uint32_t)m[13] << 16 |
		    (uint32_t)m[14] << 8 | m[15];
		*item_len = (uint32_t)m[16] << 24 | (uint32_t)m[17] << 16 |
		    (uint32_t)m[18] << 8 | m[19];
		for (uint32_t k = 0; k < count; k++)
			items[n++] = m + HDR_LEN + (size_t)k * *item_len;
	}
	return n;
}

/*
 * What R holds after the join: every item of both owners.  Try to open
 * every sealed label with every 32-byte key R ever saw: only labels of
 * records whose value the other owner also holds open — for a record
 * without a partner, no key R has opens it.
 */
static void
test_unmatched_labels_stay_sealed(void **state)
{
	struct set y0 = { 6, claims_id, claims_label }, y1 = { 3, deaths_id, deaths_label };
	const uint8_t *items[2][64];
	size_t n[2], ilen[2], opened[2] = { 0, 0 };
	unsigned t;
	struct run r;

	(void)state;
	run_params(&r, 8, 5, 32, 16, 0);
	assert_int_equal(run_join(&r, &y0, &y1), XZ_PSI_OK);
	t = xz_psi_tag_len(8, 5);
	for (unsigned s = 0; s < 2; s++)
		n[s] = tag_items(&r, s, items[s], &ilen[s]);
	assert_int_equal(n[0], 8);
	assert_int_equal(n[1], 5);
	for (unsigned s = 0; s < 2; s++) {
		uint32_t lmax = r.p.label_len[s];
		uint8_t ad[17], pt[64];
		unsigned long long ptl;
		memcpy(ad, r.p.join_id, 16);
		ad[16] = (uint8_t)s;
		for (size_t i = 0; i < n[s]; i++) {
			const uint8_t *nonce = items[s][i] + t + 32;
			int ok = 0;
			/* every key field of both owners' items */
			for (unsigned k = 0; k < 2 && !ok; k++)
				for (size_t j = 0; j < n[k] && !ok; j++)
					ok = crypto_aead_chacha20poly1305_ietf_decrypt(pt, &ptl, NULL,
					    nonce + 12, 4 + lmax + 16, ad, sizeof(ad), nonce,
					    items[k][j] + t) == 0;
			opened[s] += (size_t)ok;
		}
	}
	/* Owner 0: the three claims of the two dead persons; owner 1: their
	 * two death records.  The other four claims and the third death
	 * record (and every dummy) stay sealed. */
	assert_int_equal(opened[0], 3);
	assert_int_equal(opened[1], 2);
	run_free(&r);
}

/* The shape of what owner s received: (type, length) of each message. */
static size_t
shape(const struct run *r, int s, size_t *out)
{
	size_t n = 0;

	for (size_t i = 0; i < r->nmsgs; i++)
		if (r->msgs[i].to == s)
			out[n++] = (size_t)r->msgs[i].bytes[5] << 32 | r->msgs[i].len;
	return n;
}

static int
share_an_element(const struct run *a, const struct run *b, int s)
{
	for (size_t i = 0; i < a->nmsgs; i++) {
		if (a->msgs[i].to != s)
			continue;
		for (size_t j = 0; j < b->nmsgs; j++) {
			if (b->msgs[j].to != s)
				continue;
			for (size_t x = HDR_LEN; x + 32 <= a->msgs[i].len - DIGEST_LEN; x += 32)
				for (size_t y = HDR_LEN; y + 32 <= b->msgs[j].len - DIGEST_LEN; y += 32)
					if (memcmp(a->msgs[i].bytes + x, b->msgs[j].bytes + y, 32) == 0)
						return 1;
		}
	}
	return 0;
}

/*
 * Owner 0's view does not depend on owner 1's set beyond its (padded)
 * size: against a disjoint set and an overlapping set of the same size it
 * receives messages of the same types and lengths in the same order, and
 * their elements are fresh every time — even for the very same set run
 * twice no element repeats, so an owner cannot recognise a set it saw.
 */
static void
test_owner_view_independent_of_other_set(void **state)
{
	static const char *other_id[] = {
		"990101100001010001", "990101100001010002", "990101100001010003",
	};
	struct set y0 = { 6, claims_id, claims_label };
	struct set overlap = { 3, deaths_id, deaths_label }, disjoint = { 3, other_id, deaths_label };
	struct run a, b, c;
	size_t sa[64], sb[64], sc[64], na, nb, nc;

	(void)state;
	run_params(&a, 8, 4, 32, 16, 2);
	run_params(&b, 8, 4, 32, 16, 2);
	run_params(&c, 8, 4, 32, 16, 2);
	assert_int_equal(run_join(&a, &y0, &overlap), XZ_PSI_OK);
	assert_int_equal(run_join(&b, &y0, &disjoint), XZ_PSI_OK);
	assert_int_equal(run_join(&c, &y0, &overlap), XZ_PSI_OK);
	assert_int_equal(a.npairs, 3);
	assert_int_equal(b.npairs, 0);
	for (int s = 0; s < 2; s++) {
		na = shape(&a, s, sa);
		nb = shape(&b, s, sb);
		nc = shape(&c, s, sc);
		assert_true(na > 0);
		assert_int_equal(na, nb);
		assert_int_equal(na, nc);
		assert_memory_equal(sa, sb, na * sizeof(size_t));
		assert_memory_equal(sa, sc, na * sizeof(size_t));
		assert_false(share_an_element(&a, &c, s));
	}
	run_free(&a);
	run_free(&b);
	run_free(&c);
}

/* Rewrites the digest after a forged change (docs/protocol.md §3). */
static void
reseal(uint8_t *m, size_t len, const uint8_t join_id[16])
{
	crypto_generichash(m + len - DIGEST_LEN, DIGEST_LEN, m, len - DIGEST_LEN, join_id, 16);
}

/*
 * Hostile relays: the coordinator refuses a message from the wrong owner
 * or naming the wrong owner; an owner refuses the identity element and a
 * flipped bit, and its own blinded batch sent back to it.
 */
static void
test_hostile_messages_refused(void **state)
{
	struct set y0 = { 6, claims_id, claims_label }, y1 = { 3, deaths_id, deaths_label };
	const uint8_t *m;
	uint8_t *f;
	size_t len;
	unsigned from;
	int fwd;
	struct run r;

	(void)state;
	run_params(&r, 6, 3, 32, 16, 0);
	assert_int_equal(xz_psi_owner_new(&r.o[0], &r.p, 0, 6, set_source, &y0), XZ_PSI_OK);
	assert_int_equal(xz_psi_owner_new(&r.o[1], &r.p, 1, 3, set_source, &y1), XZ_PSI_OK);
	assert_int_equal(xz_psi_coordinator_new(&r.c, &r.p), XZ_PSI_OK);
	/* Owner 1 speaks only after owner 0's records: it has nothing yet. */
	assert_int_equal(xz_psi_owner_produce(r.o[1], &m, &len), XZ_PSI_AGAIN);
	assert_int_equal(xz_psi_coordinator_next(r.c, &from), XZ_PSI_OK);
	assert_int_equal(from, 0);
	assert_int_equal(xz_psi_owner_produce(r.o[0], &m, &len), XZ_PSI_OK);
	f = malloc(len);
	assert_non_null(f);

	/* Owner 0's own batch handed back to it as if from owner 1. */
	memcpy(f, m, len);
	{
		struct xz_psi_owner *o;
		assert_int_equal(xz_psi_owner_new(&o, &r.p, 0, 6, set_source, &y0), XZ_PSI_OK);
		const uint8_t *m2;
		size_t l2;
		assert_int_equal(xz_psi_owner_produce(o, &m2, &l2), XZ_PSI_OK);
		assert_int_not_equal(xz_psi_owner_consume(o, f, len), XZ_PSI_OK);
		xz_psi_owner_free(o);
	}
	/* A D_BLINDED naming owner 1 where owner 0's records are due. */
	memcpy(f, m, len);
	f[28] = 1;
	reseal(f, len, r.p.join_id);
	{
		struct xz_psi_coordinator *c2;
		assert_int_equal(xz_psi_coordinator_new(&c2, &r.p), XZ_PSI_OK);
		assert_int_equal(xz_psi_coordinator_consume(c2, 0, f, len, &fwd),
		    XZ_PSI_E_SEQUENCE);
		assert_int_equal(fwd, 0);
		xz_psi_coordinator_free(c2);
	}
	/* The right bytes from the wrong owner. */
	{
		struct xz_psi_coordinator *c2;
		assert_int_equal(xz_psi_coordinator_new(&c2, &r.p), XZ_PSI_OK);
		assert_int_equal(xz_psi_coordinator_consume(c2, 1, m, len, &fwd), XZ_PSI_E_STATE);
		xz_psi_coordinator_free(c2);
	}
	/* The real batch passes and is forwarded... */
	assert_int_equal(xz_psi_coordinator_consume(r.c, 0, m, len, &fwd), XZ_PSI_OK);
	assert_int_equal(fwd, 1);
	/* ...but owner 1 refuses it with an identity element or a flipped bit. */
	{
		struct xz_psi_owner *o;
		memcpy(f, m, len);
		memset(f + HDR_LEN, 0, 32);
		reseal(f, len, r.p.join_id);
		assert_int_equal(xz_psi_owner_new(&o, &r.p, 1, 3, set_source, &y1), XZ_PSI_OK);
		assert_int_equal(xz_psi_owner_consume(o, f, len), XZ_PSI_E_ELEMENT);
		xz_psi_owner_free(o);
		memcpy(f, m, len);
		f[HDR_LEN + 5] ^= 1;
		assert_int_equal(xz_psi_owner_new(&o, &r.p, 1, 3, set_source, &y1), XZ_PSI_OK);
		assert_int_equal(xz_psi_owner_consume(o, f, len), XZ_PSI_E_MALFORMED);
		xz_psi_owner_free(o);
	}
	assert_int_equal(xz_psi_owner_consume(r.o[1], m, len), XZ_PSI_OK);
	free(f);
	run_free(&r);
}

/* Owner 1 spoils the key it carries for owner 0's labels in every item. */
static void
spoil_keys(struct run *r, unsigned from, uint8_t *m, size_t len)
{
	unsigned t = xz_psi_tag_len(r->p.bound[0], r->p.bound[1]);
	uint32_t count, item;

	if (from != 1 || m[5] != 6)
		return;
	count = (uint32_t)m[12] << 24 | (uint32_t)m[13] << 16 | (uint32_t)m[14] << 8 | m[15];
	item = (uint32_t)m[16] << 24 | (uint32_t)m[17] << 16 | (uint32_t)m[18] << 8 | m[19];
	for (uint32_t i = 0; i < count; i++)
		m[HDR_LEN + (size_t)i * item + t] ^= 1;
	crypto_generichash(m + len - DIGEST_LEN, DIGEST_LEN, m, len - DIGEST_LEN,
	    r->p.join_id, 16);
}

/*
 * docs/protocol.md §11.6: an owner that plants a label R cannot open, on a
 * value it guesses the other owner holds, must not learn from the join's
 * fate whether it was right.  The join completes either way: the pair is
 * dropped and counted; a guess the other owner lacks changes nothing.
 */
static void
test_bad_label_is_not_fatal(void **state)
{
	struct set y0 = { 6, claims_id, claims_label }, y1 = { 3, deaths_id, deaths_label };
	struct set miss = { 1, deaths_id + 2, deaths_label + 2 };
	struct run r;

	(void)state;
	run_params(&r, 6, 3, 32, 16, 0);
	r.mutate = spoil_keys;
	assert_int_equal(run_join(&r, &y0, &y1), XZ_PSI_OK);
	assert_int_equal(r.npairs, 0);
	assert_int_equal(xz_psi_coordinator_label_failures(r.c), 3);
	run_free(&r);
	/* The same spoiled keys on a value owner 0 does not hold: same outcome. */
	run_params(&r, 6, 3, 32, 16, 0);
	r.mutate = spoil_keys;
	assert_int_equal(run_join(&r, &y0, &miss), XZ_PSI_OK);
	assert_int_equal(r.npairs, 0);
	assert_int_equal(xz_psi_coordinator_label_failures(r.c), 0);
	run_free(&r);
}

/* A larger run across many batches and both thread paths. */
static void
test_many_batches(void **state)
{
	enum { N0 = 3000, N1 = 1200, COMMON = 400 };
	static char id0[N0][19], id1[N1][19], lab0[N0][24], lab1[N1][24];
	static const char *e0[N0], *e1[N1], *l0[N0], *l1[N1];
	struct set y0 = { N0, e0, l0 }, y1 = { N1, e1, l1 };
	struct run *r = calloc(1, sizeof(*r));

	(void)state;
	assert_non_null(r);
	for (int i = 0; i < N0; i++) {
		snprintf(id0[i], sizeof(id0[i]), "99%016d", i);
		snprintf(lab0[i], sizeof(lab0[i]), "a%d", i);
		e0[i] = id0[i];
		l0[i] = lab0[i];
	}
	for (int i = 0; i < N1; i++) {
		/* the first COMMON values are owner 0's last ones */
		snprintf(id1[i], sizeof(id1[i]), "99%016d", i < COMMON ? N0 - 1 - i : 100000 + i);
		snprintf(lab1[i], sizeof(lab1[i]), "b%d", i);
		e1[i] = id1[i];
		l1[i] = lab1[i];
	}
	run_params(r, N0 + 100, N1 + 50, 8, 8, 256);
	/* pairs[] holds 256: count only */
	assert_int_equal(xz_psi_owner_new(&r->o[0], &r->p, 0, N0, set_source, &y0), XZ_PSI_OK);
	assert_int_equal(xz_psi_owner_new(&r->o[1], &r->p, 1, N1, set_source, &y1), XZ_PSI_OK);
	assert_int_equal(xz_psi_coordinator_new(&r->c, &r->p), XZ_PSI_OK);
	{
		enum xz_psi_status st;
		const uint8_t *m;
		size_t len;
		unsigned from;
		int fwd;
		while ((st = xz_psi_coordinator_next(r->c, &from)) == XZ_PSI_OK) {
			assert_int_equal(xz_psi_owner_produce(r->o[from], &m, &len), XZ_PSI_OK);
			assert_int_equal(xz_psi_coordinator_consume(r->c, from, m, len, &fwd),
			    XZ_PSI_OK);
			if (fwd)
				assert_int_equal(xz_psi_owner_consume(r->o[1 - from], m, len),
				    XZ_PSI_OK);
		}
		assert_int_equal(st, XZ_PSI_DONE);
	}
	assert_int_equal(xz_psi_coordinator_count(r->c), COMMON);
	xz_psi_owner_free(r->o[0]);
	xz_psi_owner_free(r->o[1]);
	xz_psi_coordinator_free(r->c);
	free(r);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_planted_pairs_with_labels),
		cmocka_unit_test(test_no_labels_and_empty_sides),
		cmocka_unit_test(test_unmatched_labels_stay_sealed),
		cmocka_unit_test(test_owner_view_independent_of_other_set),
		cmocka_unit_test(test_hostile_messages_refused),
		cmocka_unit_test(test_bad_label_is_not_fatal),
		cmocka_unit_test(test_many_batches),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
