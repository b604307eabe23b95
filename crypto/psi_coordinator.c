/*
 * The requester's side of a delegated join (docs/protocol.md §11): it holds
 * no records.  It relays each owner's blinded records to the other owner
 * and the answers back, one message at a time, checking their framing and
 * counts (it cannot read them: they are blinded, or keyed by keys it does
 * not have); then it reads both owners' D_TAGS, keeps the smaller side as
 * a table, matches the other side's tags against it and opens the labels
 * of matching pairs with the keys each side carries for the other.
 */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "psi_internal.h"

enum phase { PH_A, PH_B, PH_TABLE, PH_PROBE, PH_DONE };

struct dres {
	uint64_t pos[2];
	size_t off[2];
	uint32_t len[2];
};

struct xz_psi_coordinator {
	struct common c;
	struct xz_psi_dparams dp;
	size_t item_len[2];
	uint32_t items_per_batch[2];
	enum phase phase;
	int await_eval;			/* A/B: the next message is the evaluation */
	uint64_t relayed;		/* records of this phase's owner relayed */
	uint32_t seq;			/* D_BLINDED batches relayed this phase */
	struct hdr last;		/* the D_BLINDED awaiting its answer */
	unsigned table_side, probe_side;
	uint8_t *table;			/* table side's items, each followed by its position */
	size_t rec_len, tag_len;	/* tag_len as a size_t for the sort */
	uint64_t table_len;
	uint64_t received[2];		/* D_TAGS items per owner */
	uint32_t seq_tags[2];
	struct dres *res;
	size_t nres, res_cap, max_pairs;
	uint64_t label_failures;	/* pairs dropped: a label did not authenticate */
	uint64_t overflow;		/* pairs dropped: more than max_pairs */
	uint8_t *labels;
	size_t labels_len, labels_cap;
};

enum xz_psi_status
xz_psi_coordinator_new(struct xz_psi_coordinator **out, const struct xz_psi_dparams *params)
{
	struct xz_psi_coordinator *c = NULL;
	enum xz_psi_status st;
	unsigned t;

	if (out == NULL || params == NULL)
		return XZ_PSI_E_ARG;
	*out = NULL;
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return XZ_PSI_E_NOMEM;
	c->dp = *params;
	/* R sends nothing of its own: the buffer only has to exist. */
	if ((st = psi_delegated_init(&c->c, params, 0)) != XZ_PSI_OK)
		goto done;
	for (unsigned i = 0; i < 2; i++) {
		c->item_len[i] = psi_delegated_item_len(c->c.tag_len, params->label_len[i]);
		c->items_per_batch[i] = psi_items_per_batch(c->c.p.batch_max, c->item_len[i]);
	}
	/* The smaller side is held whole; the larger one streams past it. */
	t = params->bound[1] < params->bound[0] ? 1 : 0;
	c->table_side = t;
	c->probe_side = 1 - t;
	c->rec_len = c->item_len[t] + 8;
	c->tag_len = c->c.tag_len;
	/* Keys repeated on both sides multiply: a cap keeps a placeholder key
	 * (or a hostile owner) from exhausting this node's memory. */
	c->max_pairs = (size_t)(4 * (params->bound[0] + params->bound[1]) + 1024);
	st = XZ_PSI_E_NOMEM;
	if (params->bound[t] > 0 &&
	    (c->table = psi_mem_alloc(&c->c, params->bound[t] * c->rec_len)) == NULL)
		goto done;
	st = XZ_PSI_OK;
	*out = c;
	c = NULL;
done:
	xz_psi_coordinator_free(c);
	return st;
}

enum xz_psi_status
xz_psi_coordinator_next(struct xz_psi_coordinator *c, unsigned *from)
{
	if (c == NULL || from == NULL)
		return XZ_PSI_E_ARG;
	if (c->c.failed)
		return XZ_PSI_E_STATE;
	switch (c->phase) {
	case PH_A: *from = c->await_eval ? 1 : 0; return XZ_PSI_OK;
	case PH_B: *from = c->await_eval ? 0 : 1; return XZ_PSI_OK;
	case PH_TABLE: *from = c->table_side; return XZ_PSI_OK;
	case PH_PROBE: *from = c->probe_side; return XZ_PSI_OK;
	case PH_DONE: break;
	}
	return XZ_PSI_DONE;
}

/* Phases A and B: a D_BLINDED of owner e, then the other owner's answer. */
static enum xz_psi_status
relay(struct xz_psi_coordinator *c, const uint8_t *msg, size_t len)
{
	unsigned e = c->phase == PH_A ? 0 : 1;
	uint64_t bound = c->dp.bound[e];
	enum xz_psi_status st;
	struct hdr h;
	int last;

	if (!c->await_eval) {
		st = psi_open_msg(&c->c, msg, len, MSG_D_BLINDED, EL, c->c.points_per_batch, &h);
		if (st != XZ_PSI_OK)
			return st;
		if (h.owner != e || h.seq != c->seq || h.first != c->relayed)
			return XZ_PSI_E_SEQUENCE;
		if (h.count > bound - c->relayed)
			return XZ_PSI_E_COUNT;
		last = c->relayed + h.count == bound;
		if (last != ((h.flags & FLAG_LAST) != 0) || (h.count == 0 && !last))
			return XZ_PSI_E_COUNT;
		c->last = h;
		c->await_eval = 1;
		return XZ_PSI_OK;
	}
	st = psi_open_msg(&c->c, msg, len, MSG_D_EVALUATED, EL, c->c.points_per_batch, &h);
	if (st != XZ_PSI_OK)
		return st;
	if (h.owner != e || h.seq != c->last.seq || h.first != c->last.first)
		return XZ_PSI_E_SEQUENCE;
	if (h.count != c->last.count || h.flags != c->last.flags)
		return XZ_PSI_E_COUNT;
	c->relayed += h.count;
	c->seq++;
	c->await_eval = 0;
	if (h.flags & FLAG_LAST) {
		c->phase = c->phase == PH_A ? PH_B : PH_TABLE;
		c->relayed = 0;
		c->seq = 0;
	}
	return XZ_PSI_OK;
}

static enum xz_psi_status
add_result(struct xz_psi_coordinator *c, const uint64_t pos[2], const uint8_t *l[2],
    const uint32_t llen[2])
{
	size_t need = (size_t)llen[0] + llen[1];

	if (c->nres == c->res_cap) {
		size_t cap = c->res_cap ? c->res_cap * 2 : 1024;
		struct dres *n = psi_mem_alloc(&c->c, cap * sizeof(*n));
		if (n == NULL)
			return XZ_PSI_E_NOMEM;
		if (c->res != NULL)
			memcpy(n, c->res, c->nres * sizeof(*n));
		psi_mem_free(&c->c, c->res, c->res_cap * sizeof(*n));
		c->res = n;
		c->res_cap = cap;
	}
	if (c->labels_cap - c->labels_len < need) {
		size_t cap = c->labels_cap ? c->labels_cap : 65536;
		while (cap - c->labels_len < need)
			cap *= 2;
		uint8_t *n = psi_mem_alloc(&c->c, cap);
		if (n == NULL)
			return XZ_PSI_E_NOMEM;
		if (c->labels != NULL)
			memcpy(n, c->labels, c->labels_len);
		psi_mem_free(&c->c, c->labels, c->labels_cap);
		c->labels = n;
		c->labels_cap = cap;
	}
	struct dres *r = &c->res[c->nres++];
	for (unsigned i = 0; i < 2; i++) {
		r->pos[i] = pos[i];
		r->off[i] = c->labels_len;
		r->len[i] = llen[i];
		if (llen[i] != 0)
			memcpy(c->labels + c->labels_len, l[i], llen[i]);
		c->labels_len += llen[i];
	}
	return XZ_PSI_OK;
}

/*
 * Opens owner s's sealed label in item with key (carried by the other
 * owner's matching item).  pt receives u32 length || label || padding.
 */
static enum xz_psi_status
open_label(struct xz_psi_coordinator *c, unsigned s, const uint8_t *item,
    const uint8_t *key, uint8_t *pt, uint32_t *llen)
{
	uint32_t lmax = c->dp.label_len[s];
	const uint8_t *nonce = item + c->c.tag_len + LABEL_KEY_LEN;
	size_t ct_len = 4 + (size_t)lmax + LABEL_TAG_LEN;
	uint8_t ad[DLABEL_AD_LEN];
	unsigned long long pt_len;

	*llen = 0;
	if (lmax == 0)
		return XZ_PSI_OK;
	psi_delegated_ad(&c->c, s, ad);
	if (crypto_aead_chacha20poly1305_ietf_decrypt(pt, &pt_len, NULL,
	    nonce + LABEL_NONCE_LEN, ct_len, ad, sizeof(ad), nonce, key) != 0 ||
	    pt_len != 4 + (size_t)lmax || get32(pt) > lmax)
		return XZ_PSI_E_LABEL;
	/* Padding must be zero, as the owner wrote it. */
	*llen = get32(pt);
	for (size_t i = 4 + *llen; i < pt_len; i++)
		if (pt[i] != 0)
			return XZ_PSI_E_LABEL;
	return XZ_PSI_OK;
}

static enum xz_psi_status
pair(struct xz_psi_coordinator *c, const uint8_t *rec, const uint8_t *probe, uint64_t ppos,
    uint8_t *pt[2])
{
	unsigned t = c->table_side, p = c->probe_side;
	const uint8_t *item[2], *l[2];
	uint64_t pos[2];
	uint32_t llen[2];

	item[t] = rec;
	item[p] = probe;
	pos[t] = get64(rec + c->item_len[t]);
	pos[p] = ppos;
	/* Each side's item carries the key of the other side's label. */
	for (unsigned s = 0; s < 2; s++) {
		/*
		 * A label that does not authenticate drops the pair and is
		 * counted, never fatal: were it fatal, an owner could plant one
		 * on a guessed value and learn from the join's fate whether the
		 * other owner holds it (docs/protocol.md §11.6).
		 */
		if (open_label(c, s, item[s], item[1 - s] + c->c.tag_len, pt[s], &llen[s])
		    != XZ_PSI_OK) {
			c->label_failures++;
			return XZ_PSI_OK;
		}
		l[s] = pt[s] + 4;
	}
	if (c->nres >= c->max_pairs) {
		c->overflow++;
		return XZ_PSI_OK;
	}
	return add_result(c, pos, l, llen);
}

static enum xz_psi_status
probe_item(struct xz_psi_coordinator *c, const uint8_t *item, uint64_t pos, uint8_t *pt[2])
{
	size_t lo = 0, hi = c->table_len, t = c->c.tag_len;
	enum xz_psi_status st = XZ_PSI_OK;

	while (lo < hi) {		/* first record with tag >= item's */
		size_t mid = lo + (hi - lo) / 2;
		if (memcmp(c->table + mid * c->rec_len, item, t) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (size_t i = lo; i < c->table_len && st == XZ_PSI_OK; i++) {
		const uint8_t *rec = c->table + i * c->rec_len;
		if (memcmp(rec, item, t) != 0)
			break;
		st = pair(c, rec, item, pos, pt);
	}
	return st;
}

static int
cmp_rec(const void *a, const void *b, void *len)
{
	return memcmp(a, b, *(const size_t *)len);
}

static int
cmp_res(const void *a, const void *b)
{
	const struct dres *x = a, *y = b;

	for (unsigned i = 0; i < 2; i++)
		if (x->pos[i] != y->pos[i])
			return x->pos[i] < y->pos[i] ? -1 : 1;
	return 0;
}

static enum xz_psi_status
tags(struct xz_psi_coordinator *c, unsigned s, const uint8_t *msg, size_t len)
{
	uint64_t bound = c->dp.bound[s];
	uint8_t *pt[2] = { NULL, NULL };
	enum xz_psi_status st;
	struct hdr h;
	int last;

	st = psi_open_msg(&c->c, msg, len, MSG_D_TAGS, (uint32_t)c->item_len[s],
	    c->items_per_batch[s], &h);
	if (st != XZ_PSI_OK)
		return st;
	if (h.owner != s || h.seq != c->seq_tags[s] || h.first != c->received[s])
		return XZ_PSI_E_SEQUENCE;
	if (h.count > bound - c->received[s])
		return XZ_PSI_E_COUNT;
	last = c->received[s] + h.count == bound;
	if (last != ((h.flags & FLAG_LAST) != 0) || (h.count == 0 && !last))
		return XZ_PSI_E_COUNT;
	const uint8_t *items = msg + HDR_LEN;
	if (c->phase == PH_TABLE) {
		for (uint32_t i = 0; i < h.count; i++) {
			uint8_t *rec = c->table + (c->table_len++) * c->rec_len;
			memcpy(rec, items + (size_t)i * c->item_len[s], c->item_len[s]);
			put64(rec + c->item_len[s], h.first + i);
		}
	} else {
		for (unsigned k = 0; k < 2; k++)
			if ((pt[k] = malloc(4 + (size_t)c->dp.label_len[k] + 1)) == NULL)
				st = XZ_PSI_E_NOMEM;
		for (uint32_t i = 0; i < h.count && st == XZ_PSI_OK; i++)
			st = probe_item(c, items + (size_t)i * c->item_len[s], h.first + i, pt);
		for (unsigned k = 0; k < 2; k++) {
			if (pt[k] != NULL)
				sodium_memzero(pt[k], 4 + (size_t)c->dp.label_len[k] + 1);
			free(pt[k]);
		}
		if (st != XZ_PSI_OK)
			return st;
	}
	c->received[s] += h.count;
	c->seq_tags[s]++;
	if (!last)
		return XZ_PSI_OK;
	if (c->phase == PH_TABLE) {
		if (c->table_len > 1)
			qsort_r(c->table, c->table_len, c->rec_len, cmp_rec, &c->tag_len);
		c->phase = PH_PROBE;
		return XZ_PSI_OK;
	}
	if (c->nres > 1)
		qsort(c->res, c->nres, sizeof(*c->res), cmp_res);
	psi_mem_free(&c->c, c->table, c->dp.bound[c->table_side] * c->rec_len);
	c->table = NULL;
	c->phase = PH_DONE;
	return XZ_PSI_OK;
}

enum xz_psi_status
xz_psi_coordinator_consume(struct xz_psi_coordinator *c, unsigned from, const uint8_t *msg,
    size_t len, int *forward)
{
	enum xz_psi_status st;
	unsigned want;

	if (c == NULL || forward == NULL)
		return XZ_PSI_E_ARG;
	*forward = 0;
	if ((st = xz_psi_coordinator_next(c, &want)) != XZ_PSI_OK)
		return XZ_PSI_E_STATE;
	if (from != want) {
		st = XZ_PSI_E_STATE;
	} else if (c->phase == PH_A || c->phase == PH_B) {
		st = relay(c, msg, len);
		*forward = st == XZ_PSI_OK;
	} else {
		st = tags(c, from, msg, len);
	}
	if (st != XZ_PSI_OK)
		c->c.failed = 1;
	return st;
}

int
xz_psi_coordinator_done(const struct xz_psi_coordinator *c)
{
	return c != NULL && !c->c.failed && c->phase == PH_DONE;
}

uint64_t
xz_psi_coordinator_label_failures(const struct xz_psi_coordinator *c)
{
	return c != NULL ? c->label_failures : 0;
}

uint64_t
xz_psi_coordinator_overflow(const struct xz_psi_coordinator *c)
{
	return c != NULL ? c->overflow : 0;
}

int
xz_psi_coordinator_table_done(const struct xz_psi_coordinator *c, unsigned *side)
{
	if (c == NULL || c->c.failed || (c->phase != PH_PROBE && c->phase != PH_DONE))
		return 0;
	*side = c->table_side;
	return 1;
}

uint64_t
xz_psi_coordinator_count(const struct xz_psi_coordinator *c)
{
	return xz_psi_coordinator_done(c) ? c->nres : 0;
}

enum xz_psi_status
xz_psi_coordinator_results(const struct xz_psi_coordinator *c, xz_psi_pair_fn fn, void *ctx)
{
	if (c == NULL || fn == NULL)
		return XZ_PSI_E_ARG;
	if (!xz_psi_coordinator_done(c))
		return XZ_PSI_E_STATE;
	for (size_t i = 0; i < c->nres; i++) {
		const struct dres *r = &c->res[i];
		if (fn(ctx, r->pos[0], r->len[0] ? c->labels + r->off[0] : NULL, r->len[0],
		    r->pos[1], r->len[1] ? c->labels + r->off[1] : NULL, r->len[1]))
			break;
	}
	return XZ_PSI_OK;
}

void
xz_psi_coordinator_stats(const struct xz_psi_coordinator *c, struct xz_psi_stats *st)
{
	if (c != NULL && st != NULL)
		*st = c->c.st;
}

void
xz_psi_coordinator_free(struct xz_psi_coordinator *c)
{
	if (c == NULL)
		return;
	psi_mem_free(&c->c, c->table, c->dp.bound[c->table_side] * c->rec_len);
	psi_mem_free(&c->c, c->res, c->res_cap * sizeof(*c->res));
	psi_mem_free(&c->c, c->labels, c->labels_cap);
	psi_mem_free(&c->c, c->c.out, c->c.out_cap);
	sodium_memzero(c, sizeof(*c));
	free(c);
}
