/*
 * PSI over the RFC 9497 OPRF, the parts both roles share: batch framing,
 * the parallel worker loop, tag and label-key derivation, and copies of the
 * caller's elements.  The roles are in psi_requester.c and psi_responder.c;
 * docs/protocol.md is the specification, and section names below refer to it.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "psi_internal.h"

static const uint8_t tag_domain[] = "xiezhi-psi-v1 tag";
static const uint8_t card_domain[] = "xiezhi-psi-v1 cardinality";
static const uint8_t dout_domain[] = "xiezhi-psi-v1 delegated";
static const uint8_t dtag_domain[] = "xiezhi-psi-v1 delegated tag";
static const uint8_t dkey_domain[] = "xiezhi-psi-v1 delegated keys";

const char *
xz_psi_strerror(enum xz_psi_status status)
{
	switch (status) {
	case XZ_PSI_OK: return "success";
	case XZ_PSI_AGAIN: return "waiting for a message from the peer";
	case XZ_PSI_DONE: return "all messages sent";
	case XZ_PSI_E_ARG: return "invalid parameter (mode, bounds, batch size, label length or count)";
	case XZ_PSI_E_NOMEM: return "out of memory";
	case XZ_PSI_E_STATE: return "call out of order, or the join already failed";
	case XZ_PSI_E_MALFORMED:
		return "malformed message (framing, length, join id or digest wrong: truncated or tampered)";
	case XZ_PSI_E_SEQUENCE: return "message out of order, duplicated or of the wrong type";
	case XZ_PSI_E_COUNT: return "peer sent more or fewer elements than declared";
	case XZ_PSI_E_ELEMENT: return "peer sent an invalid group element or the identity";
	case XZ_PSI_E_LABEL: return "an encrypted label failed authentication";
	case XZ_PSI_E_INPUT: return "element source failed or gave an element over the length limit";
	case XZ_PSI_E_THREAD: return "could not start a worker thread";
	}
	return "unknown PSI error";
}

static unsigned
ceil_log2(uint64_t v)
{
	unsigned b = 0;

	while (b < 64 && (UINT64_C(1) << b) < v)
		b++;
	return b;
}

/*
 * docs/protocol.md "Tag length": a non-matching pair of tags collides with
 * probability 2^(-8t); there are at most n*m such pairs, so the chance of
 * any false match is <= n*m*2^(-8t) <= 2^-40 when
 * 8t >= 40 + log2(n) + log2(m).
 */
unsigned
xz_psi_tag_len(uint64_t requester_bound, uint64_t responder_bound)
{
	unsigned bits = 40 + ceil_log2(requester_bound) + ceil_log2(responder_bound);
	unsigned t = (bits + 7) / 8;

	return t < 5 ? 5 : t > 32 ? 32 : t;
}

static unsigned
default_threads(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	return n < 1 ? 1 : n > XZ_PSI_MAX_THREADS ? XZ_PSI_MAX_THREADS : (unsigned)n;
}

static void
mem_add(struct common *c, size_t n)
{
	c->st.mem_now += n;
	if (c->st.mem_now > c->st.mem_peak)
		c->st.mem_peak = c->st.mem_now;
}

void *
psi_mem_alloc(struct common *c, size_t n)
{
	void *p = calloc(1, n ? n : 1);

	if (p != NULL)
		mem_add(c, n);
	return p;
}

/* Frees memory that held derived values: wipe first. */
void
psi_mem_free(struct common *c, void *p, size_t n)
{
	if (p == NULL)
		return;
	sodium_memzero(p, n);
	free(p);
	c->st.mem_now -= n;
}

void *
psi_secret_alloc(struct common *c, size_t n)
{
	void *p = sodium_malloc(n ? n : 1);

	if (p != NULL) {
		sodium_memzero(p, n ? n : 1);
		mem_add(c, n);
	}
	return p;
}

void
psi_secret_free(struct common *c, void *p, size_t n)
{
	if (p == NULL)
		return;
	sodium_free(p);		/* wipes before unmapping */
	c->st.mem_now -= n;
}

/*
 * Checks the agreed parameters (and count <= this role's bound), derives
 * the tag length and batch sizes of docs/protocol.md §2, and allocates the
 * output message buffer.  XZ_PSI_E_ARG names no field: the checks are the
 * ones listed in psi.h for struct xz_psi_params.
 */
enum xz_psi_status
psi_common_init(struct common *c, const struct xz_psi_params *p, uint64_t count, uint64_t bound)
{
	size_t pts_bytes, tag_bytes;

	if (p == NULL || (p->mode != XZ_PSI_INTERSECT && p->mode != XZ_PSI_CARDINALITY &&
	    p->mode != XZ_PSI_DIFFERENCE) || p->requester_bound > XZ_PSI_MAX_BOUND ||
	    p->responder_bound > XZ_PSI_MAX_BOUND || count > bound ||
	    p->batch_max > XZ_PSI_MAX_BATCH || p->label_len > XZ_PSI_MAX_LABEL_LEN ||
	    (p->label_len != 0 && p->mode != XZ_PSI_INTERSECT) || p->threads > XZ_PSI_MAX_THREADS)
		return XZ_PSI_E_ARG;
	if (xz_oprf_init() != XZ_OPRF_OK)
		return XZ_PSI_E_ARG;
	c->p = *p;
	if (c->p.batch_max == 0)
		c->p.batch_max = XZ_PSI_DEFAULT_BATCH;
	c->threads = p->threads ? p->threads : default_threads();
	c->tag_len = xz_psi_tag_len(p->requester_bound, p->responder_bound);
	c->tag_item_len = c->tag_len;
	if (p->label_len != 0)
		c->tag_item_len += 4 + p->label_len + LABEL_TAG_LEN;
	c->points_per_batch = c->p.batch_max;
	if (c->points_per_batch > (XZ_PSI_MAX_MESSAGE_LEN - MSG_OVERHEAD) / EL)
		c->points_per_batch = (XZ_PSI_MAX_MESSAGE_LEN - MSG_OVERHEAD) / EL;
	c->tags_per_batch = c->p.batch_max;
	if (c->tags_per_batch > (XZ_PSI_MAX_MESSAGE_LEN - MSG_OVERHEAD) / c->tag_item_len)
		c->tags_per_batch = (uint32_t)((XZ_PSI_MAX_MESSAGE_LEN - MSG_OVERHEAD) / c->tag_item_len);
	pts_bytes = MSG_OVERHEAD + (size_t)c->points_per_batch * EL;
	tag_bytes = MSG_OVERHEAD + (size_t)c->tags_per_batch * c->tag_item_len;
	c->out_cap = pts_bytes > tag_bytes ? pts_bytes : tag_bytes;
	if ((c->out = psi_mem_alloc(c, c->out_cap)) == NULL)
		return XZ_PSI_E_NOMEM;
	return XZ_PSI_OK;
}

/* Writes the header and digest around the payload already in c->out. */
size_t
psi_seal_msg(struct common *c, const struct hdr *h)
{
	uint8_t *m = c->out;
	size_t body = HDR_LEN + (size_t)h->count * h->item_len;

	memcpy(m, MAGIC, 4);
	m[4] = VERSION;
	m[5] = h->type;
	m[6] = h->mode;
	m[7] = h->flags;
	put32(m + 8, h->seq);
	put32(m + 12, h->count);
	put32(m + 16, h->item_len);
	put64(m + 20, h->first);
	memset(m + 28, 0, 4);
	m[28] = h->owner;
	crypto_generichash(m + body, DIGEST_LEN, m, body, c->p.join_id, XZ_PSI_JOIN_ID_LEN);
	c->st.bytes_sent += body + DIGEST_LEN;
	c->st.messages_sent++;
	return body + DIGEST_LEN;
}

/*
 * Checks everything about a received message that does not depend on the
 * receiver's position in the stream: size limits, magic, version, type,
 * mode, flags, item size, exact length, and the digest keyed with the join
 * id (so a message from another join, a truncated message or a flipped
 * bit is refused before any item is looked at).
 */
enum xz_psi_status
psi_open_msg(struct common *c, const uint8_t *m, size_t len, uint8_t type, uint32_t item_len,
    uint32_t max_count, struct hdr *h)
{
	uint8_t want[DIGEST_LEN];
	size_t body;

	if (m == NULL || len < MSG_OVERHEAD || len > XZ_PSI_MAX_MESSAGE_LEN)
		return XZ_PSI_E_MALFORMED;
	/* Byte 28 names the owner whose records a delegated message carries
	 * (0 or 1); two-party messages keep all four reserved bytes zero. */
	if (memcmp(m, MAGIC, 4) != 0 || m[4] != VERSION || m[6] != c->p.mode ||
	    (m[7] & ~FLAG_LAST) != 0 || (m[28] != 0 && (c->p.mode != XZ_PSI_DELEGATED ||
	    m[28] != 1)) || m[29] != 0 || m[30] != 0 || m[31] != 0)
		return XZ_PSI_E_MALFORMED;
	h->type = m[5];
	h->mode = m[6];
	h->flags = m[7];
	h->seq = get32(m + 8);
	h->count = get32(m + 12);
	h->item_len = get32(m + 16);
	h->first = get64(m + 20);
	h->owner = m[28];
	if (h->item_len != item_len || h->count > max_count)
		return XZ_PSI_E_MALFORMED;
	body = HDR_LEN + (size_t)h->count * h->item_len;
	if (len != body + DIGEST_LEN)
		return XZ_PSI_E_MALFORMED;
	crypto_generichash(want, DIGEST_LEN, m, body, c->p.join_id, XZ_PSI_JOIN_ID_LEN);
	if (sodium_memcmp(want, m + body, DIGEST_LEN) != 0)
		return XZ_PSI_E_MALFORMED;
	if (h->type != type)
		return XZ_PSI_E_SEQUENCE;
	c->st.bytes_received += len;
	c->st.messages_received++;
	return XZ_PSI_OK;
}

/* ---- Parallel batch work ---------------------------------------------- */

struct par_job {
	range_fn fn;
	void *ctx;
	size_t n, chunk;
	atomic_size_t next;		/* first index nobody has taken yet */
	atomic_int failed;		/* set on the first error: others stop early */
	enum xz_psi_status st[XZ_PSI_MAX_THREADS];
};

struct par_arg {
	struct par_job *job;
	unsigned id;
};

/*
 * Each worker takes the next chunk until none is left.  Chunks rather than
 * one fixed range per thread: on a machine shared with other work one core
 * may run slower, and fixed ranges would make the batch wait for it.
 */
static void *
par_main(void *arg)
{
	struct par_arg *a = arg;
	struct par_job *j = a->job;

	for (;;) {
		size_t lo = atomic_fetch_add(&j->next, j->chunk);
		if (lo >= j->n || atomic_load(&j->failed))
			break;
		size_t hi = j->n - lo < j->chunk ? j->n : lo + j->chunk;
		enum xz_psi_status st = j->fn(j->ctx, lo, hi);
		if (st != XZ_PSI_OK) {
			j->st[a->id] = st;
			atomic_store(&j->failed, 1);
			break;
		}
	}
	return NULL;
}

/*
 * Runs fn over [0, n) on `threads` threads (the caller is one of them) in
 * chunks of 32 to 256 indexes; returns the first error any chunk gave.
 */
enum xz_psi_status
psi_par_for(unsigned threads, size_t n, range_fn fn, void *ctx)
{
	pthread_t tid[XZ_PSI_MAX_THREADS];
	struct par_arg arg[XZ_PSI_MAX_THREADS];
	struct par_job *j;
	enum xz_psi_status st = XZ_PSI_OK;
	size_t t = threads;

	if (t > n / 256 + 1)		/* tiny batches: thread start-up would dominate */
		t = n / 256 + 1;
	if (t <= 1)
		return fn(ctx, 0, n);
	if ((j = calloc(1, sizeof(*j))) == NULL)
		return XZ_PSI_E_NOMEM;
	j->fn = fn;
	j->ctx = ctx;
	j->n = n;
	/*
	 * Small chunks (32..256 items, a few ms of work) so the last one does
	 * not keep the other threads waiting at the end of the batch.
	 */
	j->chunk = n / (t * 16);
	j->chunk = j->chunk < 32 ? 32 : j->chunk > 256 ? 256 : j->chunk;
	atomic_init(&j->next, 0);
	atomic_init(&j->failed, 0);
	for (size_t i = 0; i < t; i++) {
		arg[i] = (struct par_arg){ j, (unsigned)i };
		if (i > 0 && pthread_create(&tid[i], NULL, par_main, &arg[i]) != 0) {
			j->st[i] = XZ_PSI_E_THREAD;
			atomic_store(&j->failed, 1);
			t = i;
			break;
		}
	}
	par_main(&arg[0]);
	for (size_t i = 1; i < t; i++)
		(void)pthread_join(tid[i], NULL);
	for (size_t i = 0; i < XZ_PSI_MAX_THREADS && st == XZ_PSI_OK; i++)
		st = j->st[i];
	free(j);
	return st;
}

/*
 * A ChaCha20 keystream under a key from the system RNG, for the many small
 * random numbers of shuffles and dummy placement: one system call per
 * psi_rng_init instead of one per number (about 1 us each on the bench
 * machine, spent in the serial part of a batch, where it idles the other
 * worker threads).
 */
void
psi_rng_init(struct psi_rng *g)
{
	randombytes_buf(g->key, sizeof(g->key));
	g->counter = 0;
	g->pos = sizeof(g->buf);
}

void
psi_rng_wipe(struct psi_rng *g)
{
	sodium_memzero(g, sizeof(*g));
}

static uint64_t
rng_u64(struct psi_rng *g)
{
	uint8_t nonce[crypto_stream_chacha20_NONCEBYTES];
	uint64_t v;

	if (g->pos + 8 > sizeof(g->buf)) {
		put64(nonce, g->counter++);
		crypto_stream_chacha20(g->buf, sizeof(g->buf), nonce, g->key);
		g->pos = 0;
	}
	memcpy(&v, g->buf + g->pos, 8);
	g->pos += 8;
	return v;
}

/* Uniform in [0, n), n >= 1, by rejection (no modulo bias). */
uint64_t
psi_rng_below(struct psi_rng *g, uint64_t n)
{
	uint64_t limit = UINT64_MAX - UINT64_MAX % n, r;

	do {
		r = rng_u64(g);
	} while (r >= limit);
	return r % n;
}

/*
 * docs/protocol.md "Tags and label keys": d = SHA-512("xiezhi-psi-v1 tag"
 * || join_id || out); the tag is d[0..t), the label key d[32..64).  t <= 32
 * keeps the two disjoint, so a tag says nothing about its key.
 */
void
psi_derive_tag(const struct common *c, const uint8_t out[static XZ_OPRF_OUTPUT_LEN],
    uint8_t *tag, uint8_t *key)
{
	crypto_hash_sha512_state st;
	uint8_t d[64];

	crypto_hash_sha512_init(&st);
	crypto_hash_sha512_update(&st, tag_domain, sizeof(tag_domain) - 1);
	crypto_hash_sha512_update(&st, c->p.join_id, XZ_PSI_JOIN_ID_LEN);
	crypto_hash_sha512_update(&st, out, XZ_OPRF_OUTPUT_LEN);
	crypto_hash_sha512_final(&st, d);
	memcpy(tag, d, c->tag_len);
	if (key != NULL)
		memcpy(key, d + 32, LABEL_KEY_LEN);
	sodium_memzero(d, sizeof(d));
	sodium_memzero(&st, sizeof(st));
}

/*
 * Cardinality mode cannot use Finalize (R no longer knows which input an
 * evaluation belongs to after A's shuffle), so its PRF output hashes the
 * unblinded element alone: SHA-512(I2OSP(32, 2) || N || "xiezhi-psi-v1 cardinality").
 */
void
psi_card_output(const uint8_t n[static EL], uint8_t out[static XZ_OPRF_OUTPUT_LEN])
{
	crypto_hash_sha512_state st;
	static const uint8_t len[2] = { 0, EL };

	crypto_hash_sha512_init(&st);
	crypto_hash_sha512_update(&st, len, 2);
	crypto_hash_sha512_update(&st, n, EL);
	crypto_hash_sha512_update(&st, card_domain, sizeof(card_domain) - 1);
	crypto_hash_sha512_final(&st, out);
	sodium_memzero(&st, sizeof(st));
}

void
psi_label_nonce(uint64_t pos, uint8_t nonce[static LABEL_NONCE_LEN])
{
	memset(nonce, 0, LABEL_NONCE_LEN);
	put64(nonce + LABEL_NONCE_LEN - 8, pos);
}

void
psi_arena_reset(struct arena *a)
{
	if (a->bytes != NULL)
		sodium_memzero(a->bytes, a->len);
	a->len = 0;
	a->n = 0;
}

void
psi_arena_free(struct common *c, struct arena *a)
{
	psi_mem_free(c, a->bytes, a->cap);
	psi_mem_free(c, a->off, a->ncap * 2 * sizeof(size_t));
	memset(a, 0, sizeof(*a));
}

/* Appends one byte string; grows geometrically, accounting to c. */
static enum xz_psi_status
arena_push(struct common *c, struct arena *a, const uint8_t *p, size_t len)
{
	if (a->n == a->ncap) {
		size_t ncap = a->ncap ? a->ncap * 2 : 1024;
		size_t *off = psi_mem_alloc(c, ncap * 2 * sizeof(size_t));
		if (off == NULL)
			return XZ_PSI_E_NOMEM;
		if (a->off != NULL)
			memcpy(off, a->off, a->n * 2 * sizeof(size_t));
		psi_mem_free(c, a->off, a->ncap * 2 * sizeof(size_t));
		a->off = off;
		a->ncap = ncap;
	}
	if (a->cap - a->len < len) {
		size_t cap = a->cap ? a->cap : 16384;
		while (cap - a->len < len)
			cap *= 2;
		uint8_t *b = psi_mem_alloc(c, cap);
		if (b == NULL)
			return XZ_PSI_E_NOMEM;
		if (a->bytes != NULL)
			memcpy(b, a->bytes, a->len);
		psi_mem_free(c, a->bytes, a->cap);
		a->bytes = b;
		a->cap = cap;
	}
	if (len != 0)
		memcpy(a->bytes + a->len, p, len);
	a->off[2 * a->n] = a->len;
	a->off[2 * a->n + 1] = len;
	a->len += len;
	a->n++;
	return XZ_PSI_OK;
}

const uint8_t *
psi_arena_get(const struct arena *a, size_t i, size_t *len)
{
	*len = a->off[2 * i + 1];
	return a->bytes + a->off[2 * i];
}

/* Pulls up to n real elements from the source into a. */
enum xz_psi_status
psi_pull_elements(struct common *c, xz_psi_source_fn src, void *ctx, uint64_t first, size_t n,
    struct arena *a, struct arena *labels)
{
	enum xz_psi_status st = XZ_PSI_OK;

	for (size_t i = 0; i < n && st == XZ_PSI_OK; i++) {
		const uint8_t *e = NULL, *l = NULL;
		size_t elen = 0, llen = 0;
		if (src(ctx, first + i, &e, &elen, &l, &llen) != 0 || e == NULL || elen == 0 ||
		    elen > XZ_PSI_MAX_ELEMENT_LEN ||
		    (labels != NULL && (llen > c->p.label_len || (llen != 0 && l == NULL))))
			return XZ_PSI_E_INPUT;
		st = arena_push(c, a, e, elen);
		if (st == XZ_PSI_OK && labels != NULL)
			st = arena_push(c, labels, l, llen);
	}
	return st;
}


/*
 * docs/protocol.md §11.3.  out = SHA-512(I2OSP(len y, 2) || y || I2OSP(32, 2)
 * || z || "xiezhi-psi-v1 delegated"), shaped like RFC 9497's Finalize so
 * the element is bound to the input it came from; then
 * tag = SHA-512("xiezhi-psi-v1 delegated tag" || join_id || out)[0 .. t)
 * and key0 || key1 = SHA-512("xiezhi-psi-v1 delegated keys" || join_id || out).
 * Two hashes keep the tag (which the requester sees for every record)
 * independent of the keys (which it sees only from the other owner).
 */
void
psi_delegated_derive(const struct common *c, const uint8_t *y, size_t ylen,
    const uint8_t z[static EL], uint8_t *tag, uint8_t key0[static LABEL_KEY_LEN],
    uint8_t key1[static LABEL_KEY_LEN])
{
	crypto_hash_sha512_state st;
	uint8_t out[64], d[64], len[2];
	static const uint8_t zlen[2] = { 0, EL };

	len[0] = (uint8_t)(ylen >> 8);
	len[1] = (uint8_t)ylen;
	crypto_hash_sha512_init(&st);
	crypto_hash_sha512_update(&st, len, 2);
	crypto_hash_sha512_update(&st, y, ylen);
	crypto_hash_sha512_update(&st, zlen, 2);
	crypto_hash_sha512_update(&st, z, EL);
	crypto_hash_sha512_update(&st, dout_domain, sizeof(dout_domain) - 1);
	crypto_hash_sha512_final(&st, out);

	crypto_hash_sha512_init(&st);
	crypto_hash_sha512_update(&st, dtag_domain, sizeof(dtag_domain) - 1);
	crypto_hash_sha512_update(&st, c->p.join_id, XZ_PSI_JOIN_ID_LEN);
	crypto_hash_sha512_update(&st, out, sizeof(out));
	crypto_hash_sha512_final(&st, d);
	memcpy(tag, d, c->tag_len);

	crypto_hash_sha512_init(&st);
	crypto_hash_sha512_update(&st, dkey_domain, sizeof(dkey_domain) - 1);
	crypto_hash_sha512_update(&st, c->p.join_id, XZ_PSI_JOIN_ID_LEN);
	crypto_hash_sha512_update(&st, out, sizeof(out));
	crypto_hash_sha512_final(&st, d);
	memcpy(key0, d, LABEL_KEY_LEN);
	memcpy(key1, d + 32, LABEL_KEY_LEN);
	sodium_memzero(out, sizeof(out));
	sodium_memzero(d, sizeof(d));
	sodium_memzero(&st, sizeof(st));
}

void
psi_delegated_ad(const struct common *c, unsigned owner, uint8_t ad[static DLABEL_AD_LEN])
{
	memcpy(ad, c->p.join_id, XZ_PSI_JOIN_ID_LEN);
	ad[XZ_PSI_JOIN_ID_LEN] = (uint8_t)owner;
}

/* tag || the other owner's key || [nonce || sealed label]. */
size_t
psi_delegated_item_len(unsigned tag_len, uint32_t label_len)
{
	size_t n = (size_t)tag_len + LABEL_KEY_LEN;

	if (label_len != 0)
		n += LABEL_NONCE_LEN + 4 + label_len + LABEL_TAG_LEN;
	return n;
}

uint32_t
psi_items_per_batch(uint32_t batch_max, size_t item_len)
{
	size_t cap = (XZ_PSI_MAX_MESSAGE_LEN - MSG_OVERHEAD) / item_len;
	uint32_t b = batch_max == 0 ? XZ_PSI_DEFAULT_BATCH : batch_max;

	return cap < b ? (uint32_t)cap : b;
}

/*
 * The shared state of a delegated role: the agreed parameters (checked),
 * tag length over both owners' bounds, batch sizes, and an output buffer of
 * out_items items of out_item_len bytes (0: point batches only).
 */
enum xz_psi_status
psi_delegated_init(struct common *c, const struct xz_psi_dparams *p, size_t out_item_len)
{
	size_t pts_bytes, item_bytes = 0;

	if (p == NULL || p->bound[0] > XZ_PSI_MAX_BOUND || p->bound[1] > XZ_PSI_MAX_BOUND ||
	    p->label_len[0] > XZ_PSI_MAX_LABEL_LEN || p->label_len[1] > XZ_PSI_MAX_LABEL_LEN ||
	    p->batch_max > XZ_PSI_MAX_BATCH || p->threads > XZ_PSI_MAX_THREADS)
		return XZ_PSI_E_ARG;
	if (xz_oprf_init() != XZ_OPRF_OK)
		return XZ_PSI_E_ARG;
	memset(&c->p, 0, sizeof(c->p));
	c->p.mode = XZ_PSI_DELEGATED;
	memcpy(c->p.join_id, p->join_id, XZ_PSI_JOIN_ID_LEN);
	c->p.requester_bound = p->bound[0];
	c->p.responder_bound = p->bound[1];
	c->p.batch_max = p->batch_max ? p->batch_max : XZ_PSI_DEFAULT_BATCH;
	c->threads = p->threads ? p->threads : default_threads();
	c->tag_len = xz_psi_tag_len(p->bound[0], p->bound[1]);
	c->points_per_batch = psi_items_per_batch(c->p.batch_max, EL);
	pts_bytes = MSG_OVERHEAD + (size_t)c->points_per_batch * EL;
	if (out_item_len != 0)
		item_bytes = MSG_OVERHEAD +
		    (size_t)psi_items_per_batch(c->p.batch_max, out_item_len) * out_item_len;
	c->out_cap = pts_bytes > item_bytes ? pts_bytes : item_bytes;
	if ((c->out = psi_mem_alloc(c, c->out_cap)) == NULL)
		return XZ_PSI_E_NOMEM;
	return XZ_PSI_OK;
}
