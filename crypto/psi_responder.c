/*
 * PSI responder (A): evaluates R's blinded elements under a fresh key and
 * sends the tags (and encrypted labels) of its own records
 * (docs/protocol.md §3, §4).
 */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "psi_internal.h"

struct slot {			/* one item of a TAGS batch */
	uint32_t src;		/* index into the batch arenas, or UINT32_MAX for a dummy */
};

struct xz_psi_responder {
	struct common c;
	xz_psi_source_fn src;
	void *src_ctx;
	uint64_t count;			/* real records */
	uint8_t *sk;			/* sodium_malloc: this join's OPRF key */

	uint32_t seq_blinded, seq_evaluated, seq_tags;
	uint64_t blinded;		/* elements received */
	int blinded_done, pending, evaluated_done, tags_done;
	size_t pending_len;

	uint8_t *card;			/* cardinality: all evaluations, shuffled */
	uint64_t card_sent;

	uint64_t slots_sent, real_sent;	/* TAGS stream position, real records so far */
	struct arena elems, labels;
	struct slot *slots;
};

enum xz_psi_status
xz_psi_responder_new(struct xz_psi_responder **out, const struct xz_psi_params *params,
    uint64_t count, xz_psi_source_fn src, void *src_ctx)
{
	struct xz_psi_responder *a = NULL;
	enum xz_psi_status st;

	if (out == NULL || src == NULL || params == NULL)
		return XZ_PSI_E_ARG;
	*out = NULL;
	if ((a = calloc(1, sizeof(*a))) == NULL)
		return XZ_PSI_E_NOMEM;
	if ((st = psi_common_init(&a->c, params, count, params->responder_bound)) != XZ_PSI_OK)
		goto done;
	a->src = src;
	a->src_ctx = src_ctx;
	a->count = count;
	st = XZ_PSI_E_NOMEM;
	if ((a->sk = psi_secret_alloc(&a->c, XZ_OPRF_SCALAR_LEN)) == NULL ||
	    (a->slots = psi_mem_alloc(&a->c, (size_t)a->c.tags_per_batch * sizeof(*a->slots))) == NULL)
		goto done;
	if (params->mode == XZ_PSI_CARDINALITY &&
	    (a->card = psi_mem_alloc(&a->c, params->requester_bound * EL)) == NULL)
		goto done;
	xz_oprf_generate_key(a->sk);	/* fresh per join: docs/protocol.md "Keys" */
	st = XZ_PSI_OK;
	*out = a;
	a = NULL;
done:
	xz_psi_responder_free(a);
	return st;
}

struct eval_job {
	const uint8_t *sk, *in;
	uint8_t *out;
};

/* BlindEvaluate every received element; any invalid one fails the batch. */
static enum xz_psi_status
eval_range(void *ctx, size_t lo, size_t hi)
{
	struct eval_job *j = ctx;

	for (size_t i = lo; i < hi; i++) {
		if (xz_oprf_blind_evaluate(j->sk, j->in + i * EL, j->out + i * EL) != XZ_OPRF_OK)
			return XZ_PSI_E_ELEMENT;
	}
	return XZ_PSI_OK;
}

/* Fisher-Yates over the evaluations: R must not link answers to queries. */
static void
shuffle_points(uint8_t *p, uint64_t n)
{
	struct psi_rng g;
	uint8_t t[EL];

	psi_rng_init(&g);
	for (uint64_t i = n; i > 1; i--) {
		uint64_t j = psi_rng_below(&g, i);
		memcpy(t, p + (i - 1) * EL, EL);
		memcpy(p + (i - 1) * EL, p + j * EL, EL);
		memcpy(p + j * EL, t, EL);
	}
	psi_rng_wipe(&g);
}

static enum xz_psi_status
responder_blinded(struct xz_psi_responder *a, const uint8_t *msg, size_t len)
{
	struct hdr h;
	enum xz_psi_status st;
	int last;

	if (a->blinded_done)
		return XZ_PSI_E_SEQUENCE;	/* BLINDED after the LAST one */
	st = psi_open_msg(&a->c, msg, len, MSG_BLINDED, EL, a->c.points_per_batch, &h);
	if (st != XZ_PSI_OK)
		return st;
	if (h.seq != a->seq_blinded || h.first != a->blinded)
		return XZ_PSI_E_SEQUENCE;
	if (h.count > a->c.p.requester_bound - a->blinded)
		return XZ_PSI_E_COUNT;
	last = a->blinded + h.count == a->c.p.requester_bound;
	if (last != ((h.flags & FLAG_LAST) != 0) || (h.count == 0 && !last))
		return XZ_PSI_E_COUNT;
	struct eval_job j = { a->sk, msg + HDR_LEN,
		a->card ? a->card + h.first * EL : a->c.out + HDR_LEN };
	if ((st = psi_par_for(a->c.threads, h.count, eval_range, &j)) != XZ_PSI_OK)
		return st;
	if (a->card == NULL) {
		struct hdr o = { MSG_EVALUATED, h.mode, h.flags, h.seq, h.count, EL, h.first, 0 };
		a->pending_len = psi_seal_msg(&a->c, &o);
		a->pending = 1;
	}
	a->blinded += h.count;
	a->seq_blinded++;
	if (last) {
		a->blinded_done = 1;
		if (a->card != NULL)
			shuffle_points(a->card, a->blinded);
	}
	return XZ_PSI_OK;
}

enum xz_psi_status
xz_psi_responder_consume(struct xz_psi_responder *a, const uint8_t *msg, size_t len)
{
	enum xz_psi_status st;

	if (a == NULL)
		return XZ_PSI_E_ARG;
	/* A caller that has not taken the previous answer: nothing is consumed. */
	if (a->c.failed || a->pending)
		return XZ_PSI_E_STATE;
	if ((st = responder_blinded(a, msg, len)) != XZ_PSI_OK)
		a->c.failed = 1;
	return st;
}

/* Cardinality: the shuffled evaluations, one batch at a time. */
static enum xz_psi_status
responder_card_batch(struct xz_psi_responder *a, const uint8_t **msg, size_t *len)
{
	uint64_t left = a->c.p.requester_bound - a->card_sent;
	uint32_t n = left < a->c.points_per_batch ? (uint32_t)left : a->c.points_per_batch;
	int last = n == left;

	memcpy(a->c.out + HDR_LEN, a->card + a->card_sent * EL, (size_t)n * EL);
	struct hdr h = { MSG_EVALUATED, (uint8_t)a->c.p.mode, last ? FLAG_LAST : 0,
		a->seq_evaluated++, n, EL, a->card_sent, 0 };
	*len = psi_seal_msg(&a->c, &h);
	*msg = a->c.out;
	a->card_sent += n;
	if (last) {
		a->evaluated_done = 1;
		psi_mem_free(&a->c, a->card, a->c.p.requester_bound * EL);
		a->card = NULL;
	}
	return XZ_PSI_OK;
}

struct tags_job {
	struct xz_psi_responder *a;
	uint8_t *items;
	uint64_t first;
};

/* Encrypts one label: u32 length || label || zero padding to label_len. */
static enum xz_psi_status
seal_label(struct xz_psi_responder *a, const uint8_t key[static LABEL_KEY_LEN], uint64_t pos,
    const uint8_t *label, size_t llen, uint8_t *ct)
{
	size_t pt_len = 4 + a->c.p.label_len;
	uint8_t nonce[LABEL_NONCE_LEN], *pt;

	if ((pt = calloc(1, pt_len)) == NULL)
		return XZ_PSI_E_NOMEM;
	put32(pt, (uint32_t)llen);
	if (llen != 0)
		memcpy(pt + 4, label, llen);
	psi_label_nonce(pos, nonce);
	crypto_aead_chacha20poly1305_ietf_encrypt(ct, NULL, pt, pt_len, a->c.p.join_id,
	    XZ_PSI_JOIN_ID_LEN, NULL, nonce, key);
	sodium_memzero(pt, pt_len);
	free(pt);
	return XZ_PSI_OK;
}

/* docs/protocol.md "TAGS": tag(F_k(y)) [|| Enc(label)], or random bytes for a dummy. */
static enum xz_psi_status
tags_range(void *ctx, size_t lo, size_t hi)
{
	struct tags_job *j = ctx;
	struct xz_psi_responder *a = j->a;
	uint8_t out[XZ_OPRF_OUTPUT_LEN], key[LABEL_KEY_LEN], p[EL], n[EL], fake[DUMMY_LEN];
	enum xz_psi_status st = XZ_PSI_OK;

	for (size_t i = lo; i < hi && st == XZ_PSI_OK; i++) {
		uint8_t *item = j->items + i * a->c.tag_item_len;
		const uint8_t *y = fake, *l = NULL;
		size_t len = sizeof(fake), llen = 0;
		/*
		 * A dummy is the item of a random input with an empty label: as
		 * random to R as any record's, and the same work, so the time a
		 * batch takes says nothing of how many records are real.
		 */
		if (a->slots[i].src == UINT32_MAX) {
			randombytes_buf(fake, sizeof(fake));
		} else {
			y = psi_arena_get(&a->elems, a->slots[i].src, &len);
			if (a->c.p.label_len != 0)
				l = psi_arena_get(&a->labels, a->slots[i].src, &llen);
		}
		if (a->c.p.mode == XZ_PSI_CARDINALITY) {
			if (xz_oprf_hash_to_group(y, len, p) != XZ_OPRF_OK ||
			    crypto_scalarmult_ristretto255(n, a->sk, p) != 0)
				st = XZ_PSI_E_INPUT;
			else
				psi_card_output(n, out);
		} else if (xz_oprf_evaluate(a->sk, y, len, out) != XZ_OPRF_OK) {
			st = XZ_PSI_E_INPUT;
		}
		if (st != XZ_PSI_OK)
			break;
		psi_derive_tag(&a->c, out, item, a->c.p.label_len ? key : NULL);
		if (a->c.p.label_len != 0)
			st = seal_label(a, key, j->first + i, l, llen, item + a->c.tag_len);
	}
	sodium_memzero(fake, sizeof(fake));
	sodium_memzero(out, sizeof(out));
	sodium_memzero(key, sizeof(key));
	sodium_memzero(n, sizeof(n));
	return st;
}

/*
 * Plans one TAGS batch: each slot is real with probability (real records
 * left) / (slots left), so the dummies are a uniformly random subset of
 * the positions, then the slots are shuffled within the batch.
 */
static enum xz_psi_status
plan_tags(struct xz_psi_responder *a, uint32_t n)
{
	struct psi_rng g;
	uint32_t nreal = 0;
	enum xz_psi_status st;

	psi_rng_init(&g);
	for (uint32_t i = 0; i < n; i++) {
		uint64_t slots_left = a->c.p.responder_bound - a->slots_sent - i;
		uint64_t real_left = a->count - a->real_sent - nreal;
		if (psi_rng_below(&g, slots_left) < real_left)
			a->slots[i].src = nreal++;
		else
			a->slots[i].src = UINT32_MAX;
	}
	psi_arena_reset(&a->elems);
	psi_arena_reset(&a->labels);
	/* Without labels in the join, whatever labels the source has are ignored. */
	st = psi_pull_elements(&a->c, a->src, a->src_ctx, a->real_sent, nreal, &a->elems,
	    a->c.p.label_len ? &a->labels : NULL);
	if (st == XZ_PSI_OK) {
		for (uint32_t i = n; i > 1; i--) {
			uint32_t k = (uint32_t)psi_rng_below(&g, i);
			struct slot t = a->slots[i - 1];
			a->slots[i - 1] = a->slots[k];
			a->slots[k] = t;
		}
		a->real_sent += nreal;
	}
	psi_rng_wipe(&g);
	return st;
}

static enum xz_psi_status
responder_tags_batch(struct xz_psi_responder *a, const uint8_t **msg, size_t *len)
{
	uint64_t left = a->c.p.responder_bound - a->slots_sent;
	uint32_t n = left < a->c.tags_per_batch ? (uint32_t)left : a->c.tags_per_batch;
	int last = n == left;
	enum xz_psi_status st;

	if ((st = plan_tags(a, n)) != XZ_PSI_OK)
		return st;
	struct tags_job j = { a, a->c.out + HDR_LEN, a->slots_sent };
	if ((st = psi_par_for(a->c.threads, n, tags_range, &j)) != XZ_PSI_OK)
		return st;
	struct hdr h = { MSG_TAGS, (uint8_t)a->c.p.mode, last ? FLAG_LAST : 0, a->seq_tags++, n,
		(uint32_t)a->c.tag_item_len, a->slots_sent, 0 };
	*len = psi_seal_msg(&a->c, &h);
	*msg = a->c.out;
	a->slots_sent += n;
	if (last) {
		a->tags_done = 1;
		psi_arena_free(&a->c, &a->elems);
		psi_arena_free(&a->c, &a->labels);
		psi_secret_free(&a->c, a->sk, XZ_OPRF_SCALAR_LEN);	/* last use of the key */
		a->sk = NULL;
	}
	return XZ_PSI_OK;
}

enum xz_psi_status
xz_psi_responder_produce(struct xz_psi_responder *a, const uint8_t **msg, size_t *len)
{
	enum xz_psi_status st;

	if (a == NULL || msg == NULL || len == NULL)
		return XZ_PSI_E_ARG;
	if (a->c.failed)
		return XZ_PSI_E_STATE;
	if (a->pending) {
		a->pending = 0;
		*msg = a->c.out;
		*len = a->pending_len;
		if (a->blinded_done)
			a->evaluated_done = 1;
		return XZ_PSI_OK;
	}
	if (!a->blinded_done)
		return XZ_PSI_AGAIN;
	if (!a->evaluated_done)
		st = responder_card_batch(a, msg, len);
	else if (!a->tags_done)
		st = responder_tags_batch(a, msg, len);
	else
		return XZ_PSI_DONE;
	if (st != XZ_PSI_OK)
		a->c.failed = 1;
	return st;
}

void
xz_psi_responder_stats(const struct xz_psi_responder *a, struct xz_psi_stats *st)
{
	if (a != NULL && st != NULL)
		*st = a->c.st;
}

void
xz_psi_responder_free(struct xz_psi_responder *a)
{
	if (a == NULL)
		return;
	psi_secret_free(&a->c, a->sk, XZ_OPRF_SCALAR_LEN);
	psi_mem_free(&a->c, a->card, a->c.p.requester_bound * EL);
	psi_mem_free(&a->c, a->slots, (size_t)a->c.tags_per_batch * sizeof(*a->slots));
	psi_arena_free(&a->c, &a->elems);
	psi_arena_free(&a->c, &a->labels);
	psi_mem_free(&a->c, a->c.out, a->c.out_cap);
	sodium_memzero(a, sizeof(*a));
	free(a);
}
