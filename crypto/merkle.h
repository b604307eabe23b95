/*
 * Merkle hash trees as in RFC 6962 §2.1 / RFC 9162 §2.1 ("Merkle Tree Hash"):
 * SHA-256, leaf hash = SHA-256(0x00 || data), interior node hash =
 * SHA-256(0x01 || left || right), the tree over n leaves split at the largest
 * power of two smaller than n.  This is the tree the audit log is built on,
 * and the one Certificate Transparency and the C2SP tlog specifications use,
 * so any RFC 6962 verifier can check our proofs.
 *
 * Leaves are supplied by a callback returning the hash of leaf i, so a tree
 * of millions of records never has to sit in memory: computing a root reads
 * each leaf hash once and keeps O(log n) hashes.  A "frontier" (the roots of
 * the perfect subtrees that make up a tree, largest first; called a compact
 * range elsewhere) lets an append-only log compute each new root from the
 * previous one in O(log n).
 *
 * Every function returns 0 on success and -1 on failure; verification
 * functions return -1 when a proof does not verify, and the only other
 * failures are a callback failure or an out-of-memory inside OpenSSL.
 */
#ifndef XZ_MERKLE_H
#define XZ_MERKLE_H

#include <stddef.h>
#include <stdint.h>

#define XZ_MERKLE_HASH_LEN 32
/* A proof for a tree of at most 2^64 - 1 leaves never holds more than 64
 * hashes: one per level (inclusion), plus one (consistency). */
#define XZ_MERKLE_MAX_PROOF 65

/* Returns the leaf hash of leaf `index` (0-based) in out; 0 or -1. */
typedef int (*xz_merkle_leaf_fn)(void *ctx, uint64_t index,
    uint8_t out[XZ_MERKLE_HASH_LEN]);

/* A proof: count hashes, ordered from the leaf's level up to the root's,
 * as in RFC 9162 §2.1.3 and §2.1.4. */
struct xz_merkle_proof {
	size_t count;
	uint8_t hash[XZ_MERKLE_MAX_PROOF][XZ_MERKLE_HASH_LEN];
};

/* The perfect subtrees covering leaves [0, size): one per set bit of size,
 * largest (leftmost) first. */
struct xz_merkle_frontier {
	uint64_t size;
	unsigned count;
	uint8_t hash[64][XZ_MERKLE_HASH_LEN];
};

/* SHA-256(0x00 || data): the hash of one leaf (RFC 9162 §2.1.1). */
int xz_merkle_leaf_hash(const void *data, size_t len,
    uint8_t out[XZ_MERKLE_HASH_LEN]);
/* SHA-256(0x01 || left || right): an interior node (RFC 9162 §2.1.1). */
int xz_merkle_node_hash(const uint8_t left[XZ_MERKLE_HASH_LEN],
    const uint8_t right[XZ_MERKLE_HASH_LEN], uint8_t out[XZ_MERKLE_HASH_LEN]);
/* The root of the empty tree, SHA-256 of the empty string. */
int xz_merkle_empty_root(uint8_t out[XZ_MERKLE_HASH_LEN]);

/* MTH(D[0:n]) of the n leaves the callback returns.  O(n) time, O(log n)
 * memory. */
int xz_merkle_root(xz_merkle_leaf_fn leaf, void *ctx, uint64_t n,
    uint8_t out[XZ_MERKLE_HASH_LEN]);

/* The audit path PATH(index, D[0:n]) of RFC 9162 §2.1.3.1.  Fails when
 * index >= n. */
int xz_merkle_inclusion_proof(xz_merkle_leaf_fn leaf, void *ctx, uint64_t n,
    uint64_t index, struct xz_merkle_proof *out);
/*
 * RFC 9162 §2.1.3.2: 0 when proof shows that leaf_hash is leaf `index` of
 * the tree of size n whose root is `root`; -1 otherwise (including
 * index >= n and a proof that is too long or too short).
 */
int xz_merkle_inclusion_verify(uint64_t index, uint64_t n,
    const uint8_t leaf_hash[XZ_MERKLE_HASH_LEN],
    const struct xz_merkle_proof *proof, const uint8_t root[XZ_MERKLE_HASH_LEN]);

/* PROOF(m, D[0:n]) of RFC 9162 §2.1.4.1; fails unless m <= n.  Empty when
 * m == 0 or m == n. */
int xz_merkle_consistency_proof(xz_merkle_leaf_fn leaf, void *ctx, uint64_t m,
    uint64_t n, struct xz_merkle_proof *out);
/*
 * RFC 9162 §2.1.4.2: 0 when proof shows that the tree of size m with root
 * old_root is a prefix of the tree of size n with root new_root.  For m == n
 * the proof must be empty and the roots equal; for m == 0 it must be empty
 * (every tree extends the empty one); otherwise it must not be empty.
 */
int xz_merkle_consistency_verify(uint64_t m, uint64_t n,
    const uint8_t old_root[XZ_MERKLE_HASH_LEN],
    const uint8_t new_root[XZ_MERKLE_HASH_LEN],
    const struct xz_merkle_proof *proof);

/* Empties f (size 0). */
void xz_merkle_frontier_init(struct xz_merkle_frontier *f);
/* Appends one leaf hash; fails only when the tree is full (2^64 - 1). */
int xz_merkle_frontier_append(struct xz_merkle_frontier *f,
    const uint8_t leaf_hash[XZ_MERKLE_HASH_LEN]);
/* The root of the tree f describes (the empty root when size is 0). */
int xz_merkle_frontier_root(const struct xz_merkle_frontier *f,
    uint8_t out[XZ_MERKLE_HASH_LEN]);
/*
 * Serialised form: the count hashes concatenated, largest subtree first
 * (count = number of set bits of size).  Load checks that len matches.
 */
size_t xz_merkle_frontier_len(const struct xz_merkle_frontier *f);
int xz_merkle_frontier_load(struct xz_merkle_frontier *f, uint64_t size,
    const void *buf, size_t len);

#endif
