/*
 * Internals shared by crypto/psi.c (framing, workers, derivations),
 * crypto/psi_requester.c and crypto/psi_responder.c.  Not a public header:
 * callers use crypto/psi.h.  docs/protocol.md is the specification.
 */
#ifndef XZ_PSI_INTERNAL_H
#define XZ_PSI_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include <sodium.h>

#include "oprf.h"
#include "psi.h"

/* ---- Framing (docs/protocol.md "Messages") ---------------------------- */

#define HDR_LEN		32
#define DIGEST_LEN	16
#define MSG_OVERHEAD	(HDR_LEN + DIGEST_LEN)
#define MAGIC		"XZPS"
#define VERSION		1

#define MSG_BLINDED	1
#define MSG_EVALUATED	2
#define MSG_TAGS	3
/* Delegated joins (docs/protocol.md §11). */
#define MSG_D_BLINDED	4	/* an owner's own blinded records, for the other owner */
#define MSG_D_EVALUATED	5	/* the other owner's answer to one D_BLINDED batch */
#define MSG_D_TAGS	6	/* an owner's final items, for the requester */

#define FLAG_LAST	0x01

/*
 * A dummy element or record is a random input of this many bytes (an ID's
 * length) put through the same steps as a real one: the same work, so the
 * pace of a role's batches says nothing of how many entries are real
 * (docs/protocol.md §8).
 */
#define DUMMY_LEN	18

#define EL		XZ_OPRF_ELEMENT_LEN
#define LABEL_KEY_LEN	crypto_aead_chacha20poly1305_ietf_KEYBYTES
#define LABEL_TAG_LEN	crypto_aead_chacha20poly1305_ietf_ABYTES
#define LABEL_NONCE_LEN	crypto_aead_chacha20poly1305_ietf_NPUBBYTES

struct hdr {
	uint8_t type, mode, flags;
	uint32_t seq, count, item_len;
	uint64_t first;		/* stream position of the first item */
	uint8_t owner;		/* delegated: whose records (0 or 1); else 0 */
};

static inline void
put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v;
}

static inline uint32_t
get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline void
put64(uint8_t *p, uint64_t v)
{
	put32(p, (uint32_t)(v >> 32));
	put32(p + 4, (uint32_t)v);
}

static inline uint64_t
get64(const uint8_t *p)
{
	return (uint64_t)get32(p) << 32 | get32(p + 4);
}

/* ---- Shared state ----------------------------------------------------- */

struct common {
	struct xz_psi_params p;
	unsigned threads;
	unsigned tag_len;
	uint32_t points_per_batch;	/* BLINDED / EVALUATED */
	uint32_t tags_per_batch;	/* TAGS */
	size_t tag_item_len;		/* tag [+ encrypted label] */
	uint8_t *out;			/* the message produce() hands out */
	size_t out_cap;
	int failed;
	struct xz_psi_stats st;
};

/* Copies of up to one batch of caller elements (and labels). */
struct arena {
	uint8_t *bytes;
	size_t len, cap;
	size_t *off;		/* element i: bytes[off[2i] .. +off[2i+1]] */
	size_t n, ncap;
};

/* The functions below are documented where they are defined, in psi.c. */
void *psi_mem_alloc(struct common *c, size_t n);
void psi_mem_free(struct common *c, void *p, size_t n);
void *psi_secret_alloc(struct common *c, size_t n);
void psi_secret_free(struct common *c, void *p, size_t n);
enum xz_psi_status psi_common_init(struct common *c, const struct xz_psi_params *p,
    uint64_t count, uint64_t bound);

size_t psi_seal_msg(struct common *c, const struct hdr *h);
enum xz_psi_status psi_open_msg(struct common *c, const uint8_t *m, size_t len, uint8_t type,
    uint32_t item_len, uint32_t max_count, struct hdr *h);

/* Work on the index range [lo, hi) of a batch; called from worker threads. */
typedef enum xz_psi_status (*range_fn)(void *ctx, size_t lo, size_t hi);
enum xz_psi_status psi_par_for(unsigned threads, size_t n, range_fn fn, void *ctx);

struct psi_rng {
	uint8_t key[crypto_stream_chacha20_KEYBYTES];
	uint64_t counter;
	size_t pos;
	uint8_t buf[4096];
};
void psi_rng_init(struct psi_rng *g);
uint64_t psi_rng_below(struct psi_rng *g, uint64_t n);
void psi_rng_wipe(struct psi_rng *g);

void psi_derive_tag(const struct common *c, const uint8_t out[static XZ_OPRF_OUTPUT_LEN],
    uint8_t *tag, uint8_t *key);
void psi_card_output(const uint8_t n[static EL], uint8_t out[static XZ_OPRF_OUTPUT_LEN]);
void psi_label_nonce(uint64_t pos, uint8_t nonce[static LABEL_NONCE_LEN]);

/* Delegated joins: the tag and the two owners' label keys for record y
 * whose doubly keyed element is z = k0 * k1 * H(y) (docs/protocol.md §11.3). */
void psi_delegated_derive(const struct common *c, const uint8_t *y, size_t ylen,
    const uint8_t z[static EL], uint8_t *tag, uint8_t key0[static LABEL_KEY_LEN],
    uint8_t key1[static LABEL_KEY_LEN]);
/* Associated data of an owner's label: join id || owner index. */
#define DLABEL_AD_LEN	(XZ_PSI_JOIN_ID_LEN + 1)
void psi_delegated_ad(const struct common *c, unsigned owner, uint8_t ad[static DLABEL_AD_LEN]);
/* Tag length and D_TAGS sizes, the same for all three parties. */
enum xz_psi_status psi_delegated_init(struct common *c, const struct xz_psi_dparams *p,
    size_t out_item_len);
size_t psi_delegated_item_len(unsigned tag_len, uint32_t label_len);
uint32_t psi_items_per_batch(uint32_t batch_max, size_t item_len);

void psi_arena_reset(struct arena *a);
void psi_arena_free(struct common *c, struct arena *a);
const uint8_t *psi_arena_get(const struct arena *a, size_t i, size_t *len);
enum xz_psi_status psi_pull_elements(struct common *c, xz_psi_source_fn src, void *ctx,
    uint64_t first, size_t n, struct arena *a, struct arena *labels);

#endif
