/*
 * PSI requester (R): blinds its elements, unblinds A's evaluations into a
 * table of tags, and matches A's tags against it (docs/protocol.md §4, §5).
 */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "psi_internal.h"

/*
 * How many BLINDED batches R may have in flight (intersect, difference).
 * One: the exchange is strict lock step, which a transport with blocking
 * sends (docs/transport.md) can carry without both sides stalling on
 * HTTP/2 flow control.  The ring below works for any value.
 */
#define WINDOW		1

#define SEEN_LEN	16	/* bytes of a cardinality-mode fingerprint */


struct pending {		/* one BLINDED batch awaiting its EVALUATED answer */
	uint32_t seq, count, nreal;
	uint64_t first;
	uint8_t *blinds;	/* sodium_malloc, points_per_batch * 32 */
	struct arena in;	/* the real inputs, for Finalize */
};

struct result {
	uint64_t index;
	size_t label_off;
	uint32_t label_len;
};

struct xz_psi_requester {
	struct common c;
	xz_psi_source_fn src;
	void *src_ctx;
	uint64_t count;			/* real elements */
	uint64_t sent;			/* elements sent in BLINDED, incl. dummies */
	uint32_t seq_blinded, seq_evaluated, seq_tags;
	uint64_t evaluated, tags_received;
	int blinded_done, evaluated_done, done;

	struct pending win[WINDOW];	/* ring: head, len */
	unsigned win_head, win_len;
	uint8_t *inv;			/* sodium_malloc scratch: inverted blinds */
	uint8_t *card_blind, *card_inv;	/* cardinality: one blind for all */
	uint8_t *seen;			/* cardinality: fingerprints of sent elements */
	uint64_t seen_cap;		/* slots, a power of two >= 2 * count */

	uint8_t *table;			/* records: tag || index (LE u64) [|| label key] */
	size_t rec_len;
	uint64_t table_len, table_cap;
	uint8_t *matched;		/* bitmap over table positions */
	int sorted;

	struct result *res;
	size_t nres, res_cap;
	uint8_t *labels;
	size_t labels_len, labels_cap;
	uint64_t answer;
	uint64_t label_failures;	/* matches whose label did not authenticate */
};

static void
rec_put_index(uint8_t *rec, unsigned tag_len, uint64_t idx)
{
	for (unsigned i = 0; i < 8; i++)
		rec[tag_len + i] = (uint8_t)(idx >> (8 * i));
}

static uint64_t
rec_index(const uint8_t *rec, unsigned tag_len)
{
	uint64_t v = 0;

	for (unsigned i = 0; i < 8; i++)
		v |= (uint64_t)rec[tag_len + i] << (8 * i);
	return v;
}

enum xz_psi_status
xz_psi_requester_new(struct xz_psi_requester **out, const struct xz_psi_params *params,
    uint64_t count, xz_psi_source_fn src, void *src_ctx)
{
	struct xz_psi_requester *r = NULL;
	enum xz_psi_status st;
	size_t scalars;

	if (out == NULL || src == NULL || params == NULL)
		return XZ_PSI_E_ARG;
	*out = NULL;
	if ((r = calloc(1, sizeof(*r))) == NULL)
		return XZ_PSI_E_NOMEM;
	if ((st = psi_common_init(&r->c, params, count, params->requester_bound)) != XZ_PSI_OK)
		goto done;
	r->src = src;
	r->src_ctx = src_ctx;
	r->count = count;
	scalars = (size_t)r->c.points_per_batch * XZ_OPRF_SCALAR_LEN;
	st = XZ_PSI_E_NOMEM;
	if (r->c.p.mode == XZ_PSI_CARDINALITY) {
		/* One blind for the whole join: A's shuffle unlinks the answers. */
		if ((r->card_blind = psi_secret_alloc(&r->c, 32)) == NULL ||
		    (r->card_inv = psi_secret_alloc(&r->c, 32)) == NULL)
			goto done;
		xz_oprf_generate_key(r->card_blind);
		if (crypto_core_ristretto255_scalar_invert(r->card_inv, r->card_blind) != 0)
			goto done;
		r->rec_len = r->c.tag_len;
		r->table_cap = params->requester_bound;
		for (r->seen_cap = 2; r->seen_cap < 2 * count; r->seen_cap *= 2)
			;
		if ((r->seen = psi_mem_alloc(&r->c, r->seen_cap * SEEN_LEN)) == NULL)
			goto done;
	} else {
		for (unsigned i = 0; i < WINDOW; i++) {
			if ((r->win[i].blinds = psi_secret_alloc(&r->c, scalars)) == NULL)
				goto done;
		}
		if ((r->inv = psi_secret_alloc(&r->c, scalars)) == NULL)
			goto done;
		r->rec_len = r->c.tag_len + 8 + (params->label_len ? LABEL_KEY_LEN : 0);
		r->table_cap = count;
	}
	if ((r->table = psi_mem_alloc(&r->c, r->table_cap * r->rec_len)) == NULL ||
	    (r->matched = psi_mem_alloc(&r->c, r->table_cap / 8 + 1)) == NULL)
		goto done;
	st = XZ_PSI_OK;
	*out = r;
	r = NULL;
done:
	xz_psi_requester_free(r);
	return st;
}

struct blind_job {
	struct xz_psi_requester *r;
	struct pending *pb;
	uint8_t *items;
};

/*
 * docs/protocol.md "BLINDED": r_i * H(x_i) for real x_i, random points for
 * dummies.  Blinds are drawn BLIND_BULK at a time (one system call) as 64
 * uniform bytes each, reduced mod the group order: uniform up to 2^-259.
 */
#define BLIND_BULK 32

static enum xz_psi_status
blind_range(void *ctx, size_t lo, size_t hi)
{
	struct blind_job *j = ctx;
	struct xz_psi_requester *r = j->r;
	int card = r->c.p.mode == XZ_PSI_CARDINALITY;
	uint8_t wide[BLIND_BULK * 64];
	enum xz_oprf_status os = XZ_OPRF_OK;

	for (size_t base = lo; base < hi && os == XZ_OPRF_OK; base += BLIND_BULK) {
		size_t end = hi - base < BLIND_BULK ? hi : base + BLIND_BULK;
		if (!card)
			randombytes_buf(wide, (end - base) * 64);
		for (size_t i = base; i < end && os == XZ_OPRF_OK; i++) {
			uint8_t *item = j->items + i * EL, fake[DUMMY_LEN];
			const uint8_t *x = fake;
			size_t len = sizeof(fake);
			/* A dummy is a random input blinded like a real one: the same
			 * work, so A cannot tell from the time a batch takes how many
			 * of its elements are real. */
			if (i >= j->pb->nreal)
				randombytes_buf(fake, sizeof(fake));
			else
				x = psi_arena_get(&j->pb->in, i, &len);
			if (card) {
				os = xz_oprf_blind_with(x, len, r->card_blind, item);
				continue;
			}
			uint8_t *b = j->pb->blinds + i * 32;
			crypto_core_ristretto255_scalar_reduce(b, wide + (i - base) * 64);
			if (sodium_is_zero(b, 32))
				xz_oprf_generate_key(b);
			os = xz_oprf_blind_with(x, len, b, item);
		}
	}
	sodium_memzero(wide, sizeof(wide));
	return os == XZ_OPRF_OK ? XZ_PSI_OK : XZ_PSI_E_INPUT;
}

/*
 * Cardinality mode blinds every element with the same r, so equal elements
 * would give equal BLINDED items and show A that X has duplicates.  R
 * remembers a 16-byte fingerprint of each item it sent (open addressing;
 * items are pseudorandom, so their first bytes are a good hash) and
 * replaces a repeat by a dummy: the answer counts distinct values.  Two
 * different items share a fingerprint with probability < n^2 / 2^129.
 */
static void
drop_repeats(struct xz_psi_requester *r, uint8_t *items, uint32_t nreal)
{
	uint64_t mask = r->seen_cap - 1;

	for (uint32_t i = 0; i < nreal; i++) {
		uint8_t *item = items + (size_t)i * EL;
		uint64_t h = get64(item) & mask;
		for (;; h = (h + 1) & mask) {
			uint8_t *slot = r->seen + h * SEEN_LEN;
			if (sodium_is_zero(slot, SEEN_LEN)) {
				memcpy(slot, item, SEEN_LEN);
				slot[0] |= 1;	/* never all zero, the empty mark */
				break;
			}
			if (memcmp(slot + 1, item + 1, SEEN_LEN - 1) == 0 &&
			    (slot[0] & 0xfe) == (item[0] & 0xfe)) {
				crypto_core_ristretto255_random(item);
				break;
			}
		}
	}
}

static enum xz_psi_status
requester_blinded(struct xz_psi_requester *r, const uint8_t **msg, size_t *len)
{
	struct pending scratch = { 0 }, *pb = &scratch;
	uint64_t left = r->c.p.requester_bound - r->sent;
	uint32_t n = left < r->c.points_per_batch ? (uint32_t)left : r->c.points_per_batch;
	uint64_t real_left = r->sent < r->count ? r->count - r->sent : 0;
	enum xz_psi_status st;

	if (r->c.p.mode != XZ_PSI_CARDINALITY) {
		if (r->win_len == WINDOW)
			return XZ_PSI_AGAIN;
		pb = &r->win[(r->win_head + r->win_len) % WINDOW];
	}
	psi_arena_reset(&pb->in);
	pb->seq = r->seq_blinded;
	pb->first = r->sent;
	pb->count = n;
	pb->nreal = real_left < n ? (uint32_t)real_left : n;
	st = psi_pull_elements(&r->c, r->src, r->src_ctx, r->sent, pb->nreal, &pb->in, NULL);
	if (st == XZ_PSI_OK) {
		struct blind_job j = { r, pb, r->c.out + HDR_LEN };
		st = psi_par_for(r->c.threads, n, blind_range, &j);
	}
	if (pb == &scratch)
		psi_arena_free(&r->c, &scratch.in);	/* cardinality needs no inputs later */
	if (st != XZ_PSI_OK)
		return st;
	if (r->seen != NULL)
		drop_repeats(r, r->c.out + HDR_LEN, pb->nreal);
	r->sent += n;
	r->blinded_done = r->sent == r->c.p.requester_bound;
	if (r->blinded_done && r->seen != NULL) {
		psi_mem_free(&r->c, r->seen, r->seen_cap * SEEN_LEN);
		r->seen = NULL;
	}
	struct hdr h = { MSG_BLINDED, (uint8_t)r->c.p.mode, r->blinded_done ? FLAG_LAST : 0,
		r->seq_blinded++, n, EL, pb->first, 0 };
	*len = psi_seal_msg(&r->c, &h);
	*msg = r->c.out;
	if (pb != &scratch)
		r->win_len++;
	return XZ_PSI_OK;
}

enum xz_psi_status
xz_psi_requester_produce(struct xz_psi_requester *r, const uint8_t **msg, size_t *len)
{
	enum xz_psi_status st;

	if (r == NULL || msg == NULL || len == NULL)
		return XZ_PSI_E_ARG;
	if (r->c.failed)
		return XZ_PSI_E_STATE;
	if (r->blinded_done)
		return XZ_PSI_DONE;
	st = requester_blinded(r, msg, len);
	if (st != XZ_PSI_OK && st != XZ_PSI_AGAIN)
		r->c.failed = 1;
	return st;
}

/*
 * Montgomery's trick over [lo, hi): one scalar inversion for the range
 * instead of one per element (an inversion costs about half a scalar
 * multiplication in libsodium).  inv[] holds prefix products, then inverses.
 */
static enum xz_psi_status
batch_invert(const uint8_t *s, uint8_t *inv, size_t lo, size_t hi)
{
	uint8_t acc[32], t[32];

	if (lo == hi)
		return XZ_PSI_OK;
	memcpy(inv + lo * 32, s + lo * 32, 32);
	for (size_t i = lo + 1; i < hi; i++)
		crypto_core_ristretto255_scalar_mul(inv + i * 32, inv + (i - 1) * 32, s + i * 32);
	if (crypto_core_ristretto255_scalar_invert(acc, inv + (hi - 1) * 32) != 0)
		return XZ_PSI_E_INPUT;
	for (size_t i = hi - 1; i > lo; i--) {
		crypto_core_ristretto255_scalar_mul(inv + i * 32, acc, inv + (i - 1) * 32);
		crypto_core_ristretto255_scalar_mul(t, acc, s + i * 32);
		memcpy(acc, t, 32);
	}
	memcpy(inv + lo * 32, acc, 32);
	sodium_memzero(acc, sizeof(acc));
	sodium_memzero(t, sizeof(t));
	return XZ_PSI_OK;
}

struct unblind_job {
	struct xz_psi_requester *r;
	struct pending *pb;		/* NULL in cardinality mode */
	const uint8_t *items;
	uint64_t first;
};

/*
 * docs/protocol.md "Requester, after EVALUATED": N_i = r_i^-1 * E_i,
 * out_i = Finalize(x_i, N_i) (cardinality: psi_card_output(N_i)), then the tag
 * (and label key) go into the table.  Every E_i is validated, dummies too.
 */
static enum xz_psi_status
unblind_range(void *ctx, size_t lo, size_t hi)
{
	struct unblind_job *j = ctx;
	struct xz_psi_requester *r = j->r;
	uint8_t n[EL], out[XZ_OPRF_OUTPUT_LEN], fake[DUMMY_LEN], scratch[32 + 8 + LABEL_KEY_LEN];
	enum xz_psi_status st = XZ_PSI_OK;
	size_t nreal = j->pb ? j->pb->nreal : hi;

	if (j->pb != NULL && lo < hi)
		st = batch_invert(j->pb->blinds, r->inv, lo, hi);
	for (size_t i = lo; i < hi && st == XZ_PSI_OK; i++) {
		const uint8_t *e = j->items + i * EL;
		const uint8_t *s = j->pb ? r->inv + i * 32 : r->card_inv;
		if (sodium_is_zero(e, EL) || crypto_scalarmult_ristretto255(n, s, e) != 0) {
			st = XZ_PSI_E_ELEMENT;
			break;
		}
		/* Our dummy: the same steps into scratch, then dropped. */
		uint8_t *rec = i < nreal ? r->table + (j->first + i) * r->rec_len : scratch;
		if (j->pb == NULL) {
			psi_card_output(n, out);
			psi_derive_tag(&r->c, out, rec, NULL);
			continue;
		}
		size_t len = sizeof(fake);
		const uint8_t *x = fake;
		if (i < nreal)
			x = psi_arena_get(&j->pb->in, i, &len);
		else
			randombytes_buf(fake, sizeof(fake));
		if (xz_oprf_finalize_hash(x, len, n, out) != XZ_OPRF_OK) {
			st = XZ_PSI_E_INPUT;
			break;
		}
		psi_derive_tag(&r->c, out, rec, r->c.p.label_len ? rec + r->c.tag_len + 8 : NULL);
		rec_put_index(rec, r->c.tag_len, j->first + i);
	}
	sodium_memzero(n, sizeof(n));
	sodium_memzero(out, sizeof(out));
	sodium_memzero(scratch, sizeof(scratch));
	return st;
}

static enum xz_psi_status
requester_evaluated(struct xz_psi_requester *r, const uint8_t *msg, size_t len)
{
	struct hdr h;
	struct pending *pb = NULL;
	enum xz_psi_status st;
	int last;

	st = psi_open_msg(&r->c, msg, len, MSG_EVALUATED, EL, r->c.points_per_batch, &h);
	if (st != XZ_PSI_OK)
		return st;
	if (h.seq != r->seq_evaluated || h.first != r->evaluated)
		return XZ_PSI_E_SEQUENCE;
	if (h.count > r->c.p.requester_bound - r->evaluated)
		return XZ_PSI_E_COUNT;
	last = r->evaluated + h.count == r->c.p.requester_bound;
	if (last != ((h.flags & FLAG_LAST) != 0) || (h.count == 0 && !last))
		return XZ_PSI_E_COUNT;
	if (r->c.p.mode != XZ_PSI_CARDINALITY) {
		if (r->win_len == 0)
			return XZ_PSI_E_SEQUENCE;
		pb = &r->win[r->win_head];
		if (pb->seq != h.seq || pb->count != h.count || pb->first != h.first)
			return XZ_PSI_E_COUNT;
	}
	struct unblind_job j = { r, pb, msg + HDR_LEN, h.first };
	if ((st = psi_par_for(r->c.threads, h.count, unblind_range, &j)) != XZ_PSI_OK)
		return st;
	if (pb != NULL) {
		sodium_memzero(pb->blinds, (size_t)pb->count * 32);	/* last use */
		sodium_memzero(r->inv, (size_t)pb->count * 32);
		psi_arena_reset(&pb->in);
		r->win_head = (r->win_head + 1) % WINDOW;
		r->win_len--;
		r->table_len += pb->nreal;
	} else {
		r->table_len += h.count;
	}
	r->evaluated += h.count;
	r->seq_evaluated++;
	if (last) {
		r->evaluated_done = 1;
		if (r->card_blind != NULL) {
			psi_secret_free(&r->c, r->card_blind, 32);
			psi_secret_free(&r->c, r->card_inv, 32);
			r->card_blind = r->card_inv = NULL;
		}
	}
	return XZ_PSI_OK;
}

static int
cmp_rec(const void *a, const void *b, void *len)
{
	return memcmp(a, b, *(const size_t *)len);
}

static enum xz_psi_status
add_result(struct xz_psi_requester *r, uint64_t index, const uint8_t *label, size_t label_len)
{
	if (r->nres == r->res_cap) {
		size_t cap = r->res_cap ? r->res_cap * 2 : 1024;
		struct result *n = psi_mem_alloc(&r->c, cap * sizeof(*n));
		if (n == NULL)
			return XZ_PSI_E_NOMEM;
		if (r->res != NULL)
			memcpy(n, r->res, r->nres * sizeof(*n));
		psi_mem_free(&r->c, r->res, r->res_cap * sizeof(*n));
		r->res = n;
		r->res_cap = cap;
	}
	if (r->labels_cap - r->labels_len < label_len) {
		size_t cap = r->labels_cap ? r->labels_cap : 65536;
		while (cap - r->labels_len < label_len)
			cap *= 2;
		uint8_t *n = psi_mem_alloc(&r->c, cap);
		if (n == NULL)
			return XZ_PSI_E_NOMEM;
		if (r->labels != NULL)
			memcpy(n, r->labels, r->labels_len);
		psi_mem_free(&r->c, r->labels, r->labels_cap);
		r->labels = n;
		r->labels_cap = cap;
	}
	if (label_len != 0)
		memcpy(r->labels + r->labels_len, label, label_len);
	r->res[r->nres++] = (struct result){ index, r->labels_len, (uint32_t)label_len };
	r->labels_len += label_len;
	return XZ_PSI_OK;
}

/*
 * A tag matched table record rec: with labels, open the record's label
 * (nonce = the record's stream position, key from R's own OPRF output).
 */
static enum xz_psi_status
open_label(struct xz_psi_requester *r, const uint8_t *rec, const uint8_t *item, uint64_t pos,
    int *opened)
{
	size_t ct_len = 4 + r->c.p.label_len + LABEL_TAG_LEN;
	uint8_t nonce[LABEL_NONCE_LEN], *pt;
	unsigned long long pt_len;
	enum xz_psi_status st = XZ_PSI_E_LABEL;
	uint32_t llen;

	if ((pt = malloc(ct_len)) == NULL)
		return XZ_PSI_E_NOMEM;
	psi_label_nonce(pos, nonce);
	if (crypto_aead_chacha20poly1305_ietf_decrypt(pt, &pt_len, NULL, item + r->c.tag_len,
	    ct_len, r->c.p.join_id, XZ_PSI_JOIN_ID_LEN, nonce, rec + r->c.tag_len + 8) == 0 &&
	    pt_len == 4 + r->c.p.label_len && (llen = get32(pt)) <= r->c.p.label_len) {
		st = add_result(r, rec_index(rec, r->c.tag_len), pt + 4, llen);
		*opened = 1;
	} else {
		/*
		 * Dropped and counted, never fatal: if a bad label failed the
		 * join, a responder could plant one on a guessed value and learn
		 * from the join's fate whether the requester asked about it
		 * (docs/protocol.md §8).
		 */
		r->label_failures++;
		st = XZ_PSI_OK;
	}
	sodium_memzero(pt, ct_len);
	free(pt);
	return st;
}

/* Looks one of A's tags up in the sorted table; marks and records matches. */
static enum xz_psi_status
match_tag(struct xz_psi_requester *r, const uint8_t *item, uint64_t pos)
{
	size_t lo = 0, hi = r->table_len, t = r->c.tag_len;
	enum xz_psi_status st = XZ_PSI_OK;

	while (lo < hi) {		/* first record with tag >= item */
		size_t mid = lo + (hi - lo) / 2;
		if (memcmp(r->table + mid * r->rec_len, item, t) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (size_t i = lo; i < r->table_len && st == XZ_PSI_OK; i++) {
		const uint8_t *rec = r->table + i * r->rec_len;
		if (memcmp(rec, item, t) != 0)
			break;
		int opened = 0;
		if (r->c.p.mode == XZ_PSI_INTERSECT && r->c.p.label_len != 0) {
			/* A match counts only with a label that authenticates. */
			if ((st = open_label(r, rec, item, pos, &opened)) != XZ_PSI_OK || !opened)
				continue;
		} else if (r->c.p.mode == XZ_PSI_INTERSECT) {
			st = add_result(r, rec_index(rec, t), NULL, 0);
		}
		r->matched[i / 8] |= (uint8_t)(1u << (i % 8));
	}
	return st;
}

static int
cmp_result(const void *a, const void *b)
{
	const struct result *x = a, *y = b;

	if (x->index != y->index)
		return x->index < y->index ? -1 : 1;
	return x->label_off < y->label_off ? -1 : x->label_off > y->label_off;
}

/* After the last TAGS batch: count, and for difference list the unmatched. */
static enum xz_psi_status
requester_finish(struct xz_psi_requester *r)
{
	uint64_t hits = 0;
	enum xz_psi_status st = XZ_PSI_OK;

	for (uint64_t i = 0; i < r->table_len; i++) {
		int m = (r->matched[i / 8] >> (i % 8)) & 1;
		hits += (uint64_t)m;
		if (r->c.p.mode == XZ_PSI_DIFFERENCE && !m &&
		    (st = add_result(r, rec_index(r->table + i * r->rec_len, r->c.tag_len), NULL, 0))
		    != XZ_PSI_OK)
			return st;
	}
	r->answer = r->c.p.mode == XZ_PSI_DIFFERENCE ? r->table_len - hits : hits;
	if (r->nres > 1)
		qsort(r->res, r->nres, sizeof(*r->res), cmp_result);
	/* The tags and label keys are not needed any more. */
	psi_mem_free(&r->c, r->table, r->table_cap * r->rec_len);
	r->table = NULL;
	r->done = 1;
	return XZ_PSI_OK;
}

static enum xz_psi_status
requester_tags(struct xz_psi_requester *r, const uint8_t *msg, size_t len)
{
	struct hdr h;
	enum xz_psi_status st;
	int last;

	st = psi_open_msg(&r->c, msg, len, MSG_TAGS, (uint32_t)r->c.tag_item_len,
	    r->c.tags_per_batch, &h);
	if (st != XZ_PSI_OK)
		return st;
	if (!r->evaluated_done || h.seq != r->seq_tags || h.first != r->tags_received)
		return XZ_PSI_E_SEQUENCE;
	if (h.count > r->c.p.responder_bound - r->tags_received)
		return XZ_PSI_E_COUNT;
	last = r->tags_received + h.count == r->c.p.responder_bound;
	if (last != ((h.flags & FLAG_LAST) != 0) || (h.count == 0 && !last))
		return XZ_PSI_E_COUNT;
	if (!r->sorted) {
		qsort_r(r->table, r->table_len, r->rec_len, cmp_rec, &r->rec_len);
		r->sorted = 1;
	}
	for (uint32_t i = 0; i < h.count && st == XZ_PSI_OK; i++)
		st = match_tag(r, msg + HDR_LEN + (size_t)i * r->c.tag_item_len, h.first + i);
	if (st != XZ_PSI_OK)
		return st;
	r->tags_received += h.count;
	r->seq_tags++;
	return last ? requester_finish(r) : XZ_PSI_OK;
}

enum xz_psi_status
xz_psi_requester_consume(struct xz_psi_requester *r, const uint8_t *msg, size_t len)
{
	enum xz_psi_status st;

	if (r == NULL)
		return XZ_PSI_E_ARG;
	if (r->c.failed || r->done)
		return XZ_PSI_E_STATE;
	if (msg != NULL && len > 5 && msg[5] == MSG_TAGS)
		st = requester_tags(r, msg, len);
	else
		st = requester_evaluated(r, msg, len);
	if (st != XZ_PSI_OK)
		r->c.failed = 1;
	return st;
}

int
xz_psi_requester_done(const struct xz_psi_requester *r)
{
	return r != NULL && r->done;
}

uint64_t
xz_psi_requester_label_failures(const struct xz_psi_requester *r)
{
	return r != NULL ? r->label_failures : 0;
}

uint64_t
xz_psi_requester_count(const struct xz_psi_requester *r)
{
	return r != NULL && r->done ? r->answer : 0;
}

enum xz_psi_status
xz_psi_requester_results(const struct xz_psi_requester *r, xz_psi_result_fn fn, void *ctx)
{
	if (r == NULL || fn == NULL)
		return XZ_PSI_E_ARG;
	if (!r->done || r->c.p.mode == XZ_PSI_CARDINALITY)
		return XZ_PSI_E_STATE;
	for (size_t i = 0; i < r->nres; i++) {
		const struct result *e = &r->res[i];
		if (fn(ctx, e->index, e->label_len ? r->labels + e->label_off : NULL, e->label_len))
			break;
	}
	return XZ_PSI_OK;
}

void
xz_psi_requester_stats(const struct xz_psi_requester *r, struct xz_psi_stats *st)
{
	if (r != NULL && st != NULL)
		*st = r->c.st;
}

void
xz_psi_requester_free(struct xz_psi_requester *r)
{
	size_t scalars;

	if (r == NULL)
		return;
	scalars = (size_t)r->c.points_per_batch * XZ_OPRF_SCALAR_LEN;
	for (unsigned i = 0; i < WINDOW; i++) {
		psi_secret_free(&r->c, r->win[i].blinds, scalars);
		psi_arena_free(&r->c, &r->win[i].in);
	}
	psi_secret_free(&r->c, r->inv, scalars);
	psi_secret_free(&r->c, r->card_blind, 32);
	psi_secret_free(&r->c, r->card_inv, 32);
	psi_mem_free(&r->c, r->seen, r->seen_cap * SEEN_LEN);
	psi_mem_free(&r->c, r->table, r->table_cap * r->rec_len);
	psi_mem_free(&r->c, r->matched, r->table_cap / 8 + 1);
	psi_mem_free(&r->c, r->res, r->res_cap * sizeof(*r->res));
	psi_mem_free(&r->c, r->labels, r->labels_cap);
	psi_mem_free(&r->c, r->c.out, r->c.out_cap);
	sodium_memzero(r, sizeof(*r));
	free(r);
}

