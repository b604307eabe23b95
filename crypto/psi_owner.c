/*
 * A data owner's side of a delegated join (docs/protocol.md §11): its own
 * records go, blinded, through the other owner's key (phase A for owner 0,
 * B for owner 1); it answers the other owner's blinded records with its own
 * key (the other phase); then it sends the requester one item per record:
 * tag, the other owner's label key, its own label sealed under its own key.
 */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "psi_internal.h"

struct own_batch {		/* the D_BLINDED batch awaiting its D_EVALUATED */
	uint32_t seq, count, nreal;
	uint64_t first;
	uint8_t *blinds;	/* sodium_malloc, points_per_batch * 32 */
	struct arena in, labels;
};

struct xz_psi_owner {
	struct common c;
	struct xz_psi_dparams dp;
	unsigned self, other;
	xz_psi_source_fn src;
	void *src_ctx;
	uint64_t count;			/* real records */
	uint8_t *sk;			/* sodium_malloc: this join's key */
	uint8_t *inv;			/* sodium_malloc scratch: inverted blinds */

	/* own records, through the other owner's key */
	uint64_t own_sent, own_evaluated;
	uint32_t seq_own, seq_own_eval;
	int outstanding, own_done;
	struct own_batch ob;

	/* the other owner's records, through ours */
	uint64_t peer_received;
	uint32_t seq_peer;
	int peer_done, pending;
	size_t pending_len;

	/* the items for the requester, one per real record */
	size_t item_len;
	uint32_t items_per_batch;
	uint8_t *items;
	uint64_t items_len, tags_sent, real_sent;
	uint32_t seq_tags;
	int shuffled, tags_done;
};

enum xz_psi_status
xz_psi_owner_new(struct xz_psi_owner **out, const struct xz_psi_dparams *params,
    unsigned self, uint64_t count, xz_psi_source_fn src, void *src_ctx)
{
	struct xz_psi_owner *o = NULL;
	enum xz_psi_status st;
	size_t scalars;

	if (out == NULL || params == NULL || src == NULL || self > 1)
		return XZ_PSI_E_ARG;
	*out = NULL;
	if (count > params->bound[self])
		return XZ_PSI_E_ARG;
	if ((o = calloc(1, sizeof(*o))) == NULL)
		return XZ_PSI_E_NOMEM;
	o->dp = *params;
	o->self = self;
	o->other = 1 - self;
	o->src = src;
	o->src_ctx = src_ctx;
	o->count = count;
	o->item_len = psi_delegated_item_len(xz_psi_tag_len(params->bound[0], params->bound[1]),
	    params->label_len[self]);
	if ((st = psi_delegated_init(&o->c, params, o->item_len)) != XZ_PSI_OK)
		goto done;
	o->c.p.label_len = params->label_len[self];	/* what psi_pull_elements allows */
	o->items_per_batch = psi_items_per_batch(o->c.p.batch_max, o->item_len);
	scalars = (size_t)o->c.points_per_batch * XZ_OPRF_SCALAR_LEN;
	st = XZ_PSI_E_NOMEM;
	if ((o->sk = psi_secret_alloc(&o->c, XZ_OPRF_SCALAR_LEN)) == NULL ||
	    (o->inv = psi_secret_alloc(&o->c, scalars)) == NULL ||
	    (o->ob.blinds = psi_secret_alloc(&o->c, scalars)) == NULL ||
	    (count > 0 && (o->items = psi_mem_alloc(&o->c, count * o->item_len)) == NULL))
		goto done;
	xz_oprf_generate_key(o->sk);	/* fresh per join, like the responder's */
	st = XZ_PSI_OK;
	*out = o;
	o = NULL;
done:
	xz_psi_owner_free(o);
	return st;
}

/* ---- own records: D_BLINDED out, D_EVALUATED back ---- */

struct blind_job {
	struct xz_psi_owner *o;
	uint8_t *items;
};

/* r_i * H(y_i) with a fresh blind per record; random points for dummies. */
static enum xz_psi_status
blind_range(void *ctx, size_t lo, size_t hi)
{
	struct blind_job *j = ctx;
	struct own_batch *b = &j->o->ob;

	uint8_t fake[DUMMY_LEN];

	for (size_t i = lo; i < hi; i++) {
		uint8_t *item = j->items + i * EL, *r = b->blinds + i * 32;
		const uint8_t *y = fake;
		size_t len = sizeof(fake);
		/* A dummy is a random input blinded like a real one: the same work,
		 * so the time a batch takes says nothing of how many are real. */
		if (i >= b->nreal)
			randombytes_buf(fake, sizeof(fake));
		else
			y = psi_arena_get(&b->in, i, &len);
		if (xz_oprf_blind(y, len, r, item) != XZ_OPRF_OK)
			return XZ_PSI_E_INPUT;
	}
	return XZ_PSI_OK;
}

static enum xz_psi_status
own_blinded(struct xz_psi_owner *o, const uint8_t **msg, size_t *len)
{
	struct own_batch *b = &o->ob;
	uint64_t left = o->dp.bound[o->self] - o->own_sent;
	uint32_t n = left < o->c.points_per_batch ? (uint32_t)left : o->c.points_per_batch;
	uint64_t real_left = o->own_sent < o->count ? o->count - o->own_sent : 0;
	enum xz_psi_status st;
	int last = n == left;

	psi_arena_reset(&b->in);
	psi_arena_reset(&b->labels);
	b->seq = o->seq_own;
	b->first = o->own_sent;
	b->count = n;
	b->nreal = real_left < n ? (uint32_t)real_left : n;
	st = psi_pull_elements(&o->c, o->src, o->src_ctx, o->own_sent, b->nreal, &b->in,
	    o->dp.label_len[o->self] ? &b->labels : NULL);
	if (st == XZ_PSI_OK) {
		struct blind_job j = { o, o->c.out + HDR_LEN };
		st = psi_par_for(o->c.threads, n, blind_range, &j);
	}
	if (st != XZ_PSI_OK)
		return st;
	struct hdr h = { MSG_D_BLINDED, XZ_PSI_DELEGATED, last ? FLAG_LAST : 0, o->seq_own++,
		n, EL, b->first, (uint8_t)o->self };
	*len = psi_seal_msg(&o->c, &h);
	*msg = o->c.out;
	o->own_sent += n;
	o->outstanding = 1;
	return XZ_PSI_OK;
}

/* Seals label l of a record: u32 length || l || zeros to label_len. */
static enum xz_psi_status
seal_label(struct xz_psi_owner *o, const uint8_t key[static LABEL_KEY_LEN],
    const uint8_t *l, size_t llen, uint8_t *dst)
{
	uint32_t lmax = o->dp.label_len[o->self];
	size_t pt_len = 4 + lmax;
	uint8_t ad[DLABEL_AD_LEN], *pt;

	if ((pt = calloc(1, pt_len)) == NULL)
		return XZ_PSI_E_NOMEM;
	put32(pt, (uint32_t)llen);
	if (llen != 0)
		memcpy(pt + 4, l, llen);
	/* A random nonce: the key repeats only for records with equal values,
	 * and the nonce must not tell the requester where a record came from. */
	randombytes_buf(dst, LABEL_NONCE_LEN);
	psi_delegated_ad(&o->c, o->self, ad);
	crypto_aead_chacha20poly1305_ietf_encrypt(dst + LABEL_NONCE_LEN, NULL, pt, pt_len, ad,
	    sizeof(ad), NULL, dst, key);
	sodium_memzero(pt, pt_len);
	free(pt);
	return XZ_PSI_OK;
}

struct final_job {
	struct xz_psi_owner *o;
	const uint8_t *evals;
	uint8_t *items;		/* the batch's real records' items */
};

/*
 * docs/protocol.md §11.3: N = r^-1 * E = k_other * H(y), z = k_self * N,
 * then the tag and keys of y; the item is tag || key of the other owner ||
 * own label sealed under the own key.  Dummies' answers are checked and
 * dropped.
 */
static enum xz_psi_status
final_range(void *ctx, size_t lo, size_t hi)
{
	struct final_job *j = ctx;
	struct xz_psi_owner *o = j->o;
	struct own_batch *b = &o->ob;
	uint8_t n[EL], z[EL], key[2][LABEL_KEY_LEN], fake[DUMMY_LEN];
	enum xz_psi_status st = XZ_PSI_OK;
	uint8_t *scratch = malloc(o->item_len);

	if (scratch == NULL)
		return XZ_PSI_E_NOMEM;
	for (size_t i = lo; i < hi && st == XZ_PSI_OK; i++)
		if (crypto_core_ristretto255_scalar_invert(o->inv + i * 32, b->blinds + i * 32) != 0)
			st = XZ_PSI_E_INPUT;
	for (size_t i = lo; i < hi && st == XZ_PSI_OK; i++) {
		const uint8_t *e = j->evals + i * EL, *y = fake, *l = NULL;
		size_t ylen = sizeof(fake), llen = 0;
		uint8_t *item = scratch;
		if (sodium_is_zero(e, EL) ||
		    crypto_scalarmult_ristretto255(n, o->inv + i * 32, e) != 0 ||
		    crypto_scalarmult_ristretto255(z, o->sk, n) != 0) {
			st = XZ_PSI_E_ELEMENT;
			break;
		}
		/* A dummy's answer goes through the same steps into a scratch
		 * item that is thrown away (equal work, as when blinding). */
		if (i < b->nreal) {
			y = psi_arena_get(&b->in, i, &ylen);
			if (o->dp.label_len[o->self] != 0)
				l = psi_arena_get(&b->labels, i, &llen);
			item = j->items + i * o->item_len;
		} else {
			randombytes_buf(fake, sizeof(fake));
		}
		psi_delegated_derive(&o->c, y, ylen, z, item, key[0], key[1]);
		memcpy(item + o->c.tag_len, key[o->other], LABEL_KEY_LEN);
		if (o->dp.label_len[o->self] != 0)
			st = seal_label(o, key[o->self], l, llen,
			    item + o->c.tag_len + LABEL_KEY_LEN);
	}
	sodium_memzero(n, sizeof(n));
	sodium_memzero(z, sizeof(z));
	sodium_memzero(key, sizeof(key));
	sodium_memzero(scratch, o->item_len);
	free(scratch);
	return st;
}

static enum xz_psi_status
own_evaluated(struct xz_psi_owner *o, const struct hdr *h, const uint8_t *msg)
{
	struct own_batch *b = &o->ob;
	enum xz_psi_status st;

	if (!o->outstanding || h->owner != o->self)
		return XZ_PSI_E_SEQUENCE;
	if (h->seq != b->seq || h->first != b->first || h->count != b->count ||
	    h->seq != o->seq_own_eval)
		return XZ_PSI_E_COUNT;
	if (((h->flags & FLAG_LAST) != 0) != (o->own_sent == o->dp.bound[o->self]))
		return XZ_PSI_E_COUNT;
	struct final_job j = { o, msg + HDR_LEN,
		o->items != NULL ? o->items + o->items_len * o->item_len : NULL };
	if ((st = psi_par_for(o->c.threads, h->count, final_range, &j)) != XZ_PSI_OK)
		return st;
	sodium_memzero(b->blinds, (size_t)b->count * 32);	/* last use */
	sodium_memzero(o->inv, (size_t)b->count * 32);
	psi_arena_reset(&b->in);
	psi_arena_reset(&b->labels);
	o->items_len += b->nreal;
	o->own_evaluated += h->count;
	o->seq_own_eval++;
	o->outstanding = 0;
	if (h->flags & FLAG_LAST)
		o->own_done = 1;
	return XZ_PSI_OK;
}

/* ---- the other owner's records: D_BLINDED in, D_EVALUATED out ---- */

struct eval_job {
	const uint8_t *sk, *in;
	uint8_t *out;
};

static enum xz_psi_status
eval_range(void *ctx, size_t lo, size_t hi)
{
	struct eval_job *j = ctx;

	for (size_t i = lo; i < hi; i++)
		if (xz_oprf_blind_evaluate(j->sk, j->in + i * EL, j->out + i * EL) != XZ_OPRF_OK)
			return XZ_PSI_E_ELEMENT;
	return XZ_PSI_OK;
}

static enum xz_psi_status
peer_blinded(struct xz_psi_owner *o, const struct hdr *h, const uint8_t *msg)
{
	enum xz_psi_status st;
	uint64_t bound = o->dp.bound[o->other];
	int last;

	/* Owner 1 answers first (phase A); owner 0 only once its own records
	 * are through (phase B): the requester relays one message at a time. */
	if (o->peer_done || h->owner != o->other || (o->self == 0 && !o->own_done))
		return XZ_PSI_E_SEQUENCE;
	if (h->seq != o->seq_peer || h->first != o->peer_received)
		return XZ_PSI_E_SEQUENCE;
	if (h->count > bound - o->peer_received)
		return XZ_PSI_E_COUNT;
	last = o->peer_received + h->count == bound;
	if (last != ((h->flags & FLAG_LAST) != 0) || (h->count == 0 && !last))
		return XZ_PSI_E_COUNT;
	struct eval_job j = { o->sk, msg + HDR_LEN, o->c.out + HDR_LEN };
	if ((st = psi_par_for(o->c.threads, h->count, eval_range, &j)) != XZ_PSI_OK)
		return st;
	struct hdr a = { MSG_D_EVALUATED, XZ_PSI_DELEGATED, h->flags, h->seq, h->count, EL,
		h->first, (uint8_t)o->other };
	o->pending_len = psi_seal_msg(&o->c, &a);
	o->pending = 1;
	o->peer_received += h->count;
	o->seq_peer++;
	if (last)
		o->peer_done = 1;
	return XZ_PSI_OK;
}

enum xz_psi_status
xz_psi_owner_consume(struct xz_psi_owner *o, const uint8_t *msg, size_t len)
{
	enum xz_psi_status st;
	struct hdr h;

	if (o == NULL)
		return XZ_PSI_E_ARG;
	if (o->c.failed || o->pending)
		return XZ_PSI_E_STATE;
	if (msg != NULL && len > 5 && msg[5] == MSG_D_EVALUATED)
		st = psi_open_msg(&o->c, msg, len, MSG_D_EVALUATED, EL, o->c.points_per_batch, &h);
	else
		st = psi_open_msg(&o->c, msg, len, MSG_D_BLINDED, EL, o->c.points_per_batch, &h);
	if (st == XZ_PSI_OK)
		st = h.type == MSG_D_EVALUATED ? own_evaluated(o, &h, msg) :
		    peer_blinded(o, &h, msg);
	if (st != XZ_PSI_OK)
		o->c.failed = 1;
	return st;
}

/* ---- the items for the requester: D_TAGS ---- */

/* Fisher-Yates over the real items: their order says nothing of the store's. */
static void
shuffle_items(struct xz_psi_owner *o)
{
	struct psi_rng g;
	uint8_t *t = o->c.out;		/* scratch: the buffer is free now */

	psi_rng_init(&g);
	for (uint64_t i = o->items_len; i > 1; i--) {
		uint64_t k = psi_rng_below(&g, i);
		uint8_t *a = o->items + (i - 1) * o->item_len, *b = o->items + k * o->item_len;
		memcpy(t, a, o->item_len);
		memcpy(a, b, o->item_len);
		memcpy(b, t, o->item_len);
	}
	psi_rng_wipe(&g);
	o->shuffled = 1;
}

/* One D_TAGS batch: dummies at uniformly random positions among the real. */
static enum xz_psi_status
tags_batch(struct xz_psi_owner *o, const uint8_t **msg, size_t *len)
{
	uint64_t bound = o->dp.bound[o->self], left = bound - o->tags_sent;
	uint32_t n = left < o->items_per_batch ? (uint32_t)left : o->items_per_batch;
	uint8_t *dst = o->c.out + HDR_LEN;
	struct psi_rng g;
	int last = n == left;

	if (!o->shuffled)
		shuffle_items(o);
	psi_rng_init(&g);
	for (uint32_t i = 0; i < n; i++, dst += o->item_len) {
		uint64_t slots_left = left - i, real_left = o->items_len - o->real_sent;
		if (psi_rng_below(&g, slots_left) < real_left)
			memcpy(dst, o->items + o->real_sent++ * o->item_len, o->item_len);
		else
			randombytes_buf(dst, o->item_len);
	}
	psi_rng_wipe(&g);
	struct hdr h = { MSG_D_TAGS, XZ_PSI_DELEGATED, last ? FLAG_LAST : 0, o->seq_tags++, n,
		(uint32_t)o->item_len, o->tags_sent, (uint8_t)o->self };
	*len = psi_seal_msg(&o->c, &h);
	*msg = o->c.out;
	o->tags_sent += n;
	if (last) {
		o->tags_done = 1;
		psi_mem_free(&o->c, o->items, o->count * o->item_len);
		o->items = NULL;
	}
	return XZ_PSI_OK;
}

enum xz_psi_status
xz_psi_owner_produce(struct xz_psi_owner *o, const uint8_t **msg, size_t *len)
{
	enum xz_psi_status st;

	if (o == NULL || msg == NULL || len == NULL)
		return XZ_PSI_E_ARG;
	if (o->c.failed)
		return XZ_PSI_E_STATE;
	if (o->pending) {
		o->pending = 0;
		*msg = o->c.out;
		*len = o->pending_len;
		return XZ_PSI_OK;
	}
	if (o->own_done && o->peer_done && o->sk != NULL) {
		/* Both phases are over: the key has served its last use. */
		psi_secret_free(&o->c, o->sk, XZ_OPRF_SCALAR_LEN);
		o->sk = NULL;
	}
	if (o->tags_done)
		return XZ_PSI_DONE;
	if (!o->own_done) {
		if (o->outstanding || (o->self == 1 && !o->peer_done))
			return XZ_PSI_AGAIN;
		st = own_blinded(o, msg, len);
	} else if (!o->peer_done) {
		return XZ_PSI_AGAIN;
	} else {
		st = tags_batch(o, msg, len);
	}
	if (st != XZ_PSI_OK)
		o->c.failed = 1;
	return st;
}

void
xz_psi_owner_stats(const struct xz_psi_owner *o, struct xz_psi_stats *st)
{
	if (o != NULL && st != NULL)
		*st = o->c.st;
}

void
xz_psi_owner_free(struct xz_psi_owner *o)
{
	size_t scalars;

	if (o == NULL)
		return;
	scalars = (size_t)o->c.points_per_batch * XZ_OPRF_SCALAR_LEN;
	psi_secret_free(&o->c, o->sk, XZ_OPRF_SCALAR_LEN);
	psi_secret_free(&o->c, o->inv, scalars);
	psi_secret_free(&o->c, o->ob.blinds, scalars);
	psi_arena_free(&o->c, &o->ob.in);
	psi_arena_free(&o->c, &o->ob.labels);
	psi_mem_free(&o->c, o->items, o->count * o->item_len);
	psi_mem_free(&o->c, o->c.out, o->c.out_cap);
	sodium_memzero(o, sizeof(*o));
	free(o);
}
