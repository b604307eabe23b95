/*
 * RFC 6962 / RFC 9162 Merkle tree hashing, proofs and their verification.
 * See merkle.h for the contract.  Hashes here are public values (roots,
 * leaf hashes of signed records), so plain memcmp is the right comparison.
 */
#include "merkle.h"

#include <pthread.h>
#include <string.h>

#include <openssl/evp.h>

#define HLEN XZ_MERKLE_HASH_LEN

/*
 * SHA-256 through OpenSSL: it uses the CPU's SHA extensions where present,
 * three times faster than libsodium's portable code for 65-byte inputs,
 * and rebuilding the tree of a long log is dominated by these calls.  The
 * algorithm is fetched once rather than implicitly on every call.
 */
static EVP_MD *sha256_md;
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;

static void
sha256_fetch(void)
{
	sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
}

/* SHA-256(prefix || a || b) where prefix is one byte. */
static int
hash3(uint8_t prefix, const void *a, size_t alen, const void *b, size_t blen,
    uint8_t out[HLEN])
{
	EVP_MD_CTX *ctx = NULL;
	unsigned int outlen = 0;
	int rc = -1;

	if (pthread_once(&sha256_once, sha256_fetch) != 0 || sha256_md == NULL)
		return -1;
	if ((ctx = EVP_MD_CTX_new()) == NULL)
		return -1;
	if (EVP_DigestInit_ex(ctx, sha256_md, NULL) != 1 ||
	    EVP_DigestUpdate(ctx, &prefix, 1) != 1 ||
	    (alen > 0 && EVP_DigestUpdate(ctx, a, alen) != 1) ||
	    (blen > 0 && EVP_DigestUpdate(ctx, b, blen) != 1) ||
	    EVP_DigestFinal_ex(ctx, out, &outlen) != 1 || outlen != HLEN)
		goto done;
	rc = 0;
done:
	EVP_MD_CTX_free(ctx);
	return rc;
}

int
xz_merkle_leaf_hash(const void *data, size_t len, uint8_t out[HLEN])
{
	if (data == NULL && len > 0)
		return -1;
	return hash3(0x00, data, len, NULL, 0, out);
}

int
xz_merkle_node_hash(const uint8_t left[HLEN], const uint8_t right[HLEN],
    uint8_t out[HLEN])
{
	uint8_t buf[1 + 2 * HLEN];

	/* Copy first: out may alias left or right. */
	buf[0] = 0x01;
	memcpy(buf + 1, left, HLEN);
	memcpy(buf + 1 + HLEN, right, HLEN);
	if (pthread_once(&sha256_once, sha256_fetch) != 0 || sha256_md == NULL)
		return -1;
	return EVP_Digest(buf, sizeof(buf), out, NULL, sha256_md, NULL) == 1 ? 0 : -1;
}

int
xz_merkle_empty_root(uint8_t out[HLEN])
{
	if (pthread_once(&sha256_once, sha256_fetch) != 0 || sha256_md == NULL)
		return -1;
	return EVP_Digest("", 0, out, NULL, sha256_md, NULL) == 1 ? 0 : -1;
}

/* ---- Frontier (compact range starting at leaf 0) ---- */

void
xz_merkle_frontier_init(struct xz_merkle_frontier *f)
{
	memset(f, 0, sizeof(*f));
}

/*
 * Leaf number `size` joins the tree: every perfect subtree it completes is
 * merged with its left neighbour.  The trailing one bits of size are exactly
 * the subtrees of equal height waiting on its left.
 */
int
xz_merkle_frontier_append(struct xz_merkle_frontier *f, const uint8_t leaf_hash[HLEN])
{
	uint8_t h[HLEN];
	uint64_t s = f->size;

	if (s == UINT64_MAX)
		return -1;
	memcpy(h, leaf_hash, HLEN);
	while (s & 1) {
		if (f->count == 0 ||
		    xz_merkle_node_hash(f->hash[f->count - 1], h, h) != 0)
			return -1;
		f->count--;
		s >>= 1;
	}
	if (f->count >= 64)
		return -1;
	memcpy(f->hash[f->count++], h, HLEN);
	f->size++;
	return 0;
}

/*
 * With size = 2^a + 2^b + ... (a > b > ...), RFC 9162's split at the largest
 * power of two below the size makes the root H(T_a, H(T_b, ... T_last)):
 * fold the subtrees from the right.
 */
int
xz_merkle_frontier_root(const struct xz_merkle_frontier *f, uint8_t out[HLEN])
{
	uint8_t r[HLEN];

	if (f->count == 0)
		return xz_merkle_empty_root(out);
	memcpy(r, f->hash[f->count - 1], HLEN);
	for (unsigned i = f->count - 1; i > 0; i--) {
		if (xz_merkle_node_hash(f->hash[i - 1], r, r) != 0)
			return -1;
	}
	memcpy(out, r, HLEN);
	return 0;
}

size_t
xz_merkle_frontier_len(const struct xz_merkle_frontier *f)
{
	return (size_t)f->count * HLEN;
}

int
xz_merkle_frontier_load(struct xz_merkle_frontier *f, uint64_t size,
    const void *buf, size_t len)
{
	unsigned count = (unsigned)__builtin_popcountll(size);

	if (len != (size_t)count * HLEN || (len > 0 && buf == NULL))
		return -1;
	xz_merkle_frontier_init(f);
	f->size = size;
	f->count = count;
	if (len > 0)
		memcpy(f->hash, buf, len);
	return 0;
}

/* ---- Trees over a callback ---- */

/* MTH(D[begin:end]): the tree of those leaves on their own, streamed. */
static int
range_root(xz_merkle_leaf_fn leaf, void *ctx, uint64_t begin, uint64_t end,
    uint8_t out[HLEN])
{
	struct xz_merkle_frontier f;
	uint8_t h[HLEN];

	xz_merkle_frontier_init(&f);
	for (uint64_t i = begin; i < end; i++) {
		if (leaf(ctx, i, h) != 0 || xz_merkle_frontier_append(&f, h) != 0)
			return -1;
	}
	return xz_merkle_frontier_root(&f, out);
}

int
xz_merkle_root(xz_merkle_leaf_fn leaf, void *ctx, uint64_t n, uint8_t out[HLEN])
{
	return range_root(leaf, ctx, 0, n, out);
}

/* The largest power of two strictly smaller than n (n >= 2). */
static uint64_t
split_point(uint64_t n)
{
	uint64_t k = 1;

	while (k < n - k)
		k <<= 1;
	return k;
}

/* The recursions of RFC 9162 append each level's sibling after the deeper
 * part of the proof; walking top-down collects them in reverse. */
static void
proof_reverse(struct xz_merkle_proof *p)
{
	uint8_t t[HLEN];

	for (size_t i = 0, j = p->count; i + 1 < j; i++, j--) {
		memcpy(t, p->hash[i], HLEN);
		memcpy(p->hash[i], p->hash[j - 1], HLEN);
		memcpy(p->hash[j - 1], t, HLEN);
	}
}

static int
proof_push(struct xz_merkle_proof *p, xz_merkle_leaf_fn leaf, void *ctx,
    uint64_t begin, uint64_t end)
{
	if (p->count >= XZ_MERKLE_MAX_PROOF)
		return -1;
	if (range_root(leaf, ctx, begin, end, p->hash[p->count]) != 0)
		return -1;
	p->count++;
	return 0;
}

/*
 * RFC 9162 §2.1.3.1: PATH(m, D[n]) = PATH(m, D[0:k]) : MTH(D[k:n]) when
 * m < k, else PATH(m - k, D[k:n]) : MTH(D[0:k]); PATH(0, D[1]) is empty.
 * Each leaf is read at most once overall.
 */
int
xz_merkle_inclusion_proof(xz_merkle_leaf_fn leaf, void *ctx, uint64_t n,
    uint64_t index, struct xz_merkle_proof *out)
{
	uint64_t off = 0, m = index;

	out->count = 0;
	if (index >= n)
		return -1;
	while (n > 1) {
		uint64_t k = split_point(n);
		if (m < k) {
			if (proof_push(out, leaf, ctx, off + k, off + n) != 0)
				return -1;
			n = k;
		} else {
			if (proof_push(out, leaf, ctx, off, off + k) != 0)
				return -1;
			off += k;
			m -= k;
			n -= k;
		}
	}
	proof_reverse(out);
	return 0;
}

/*
 * RFC 9162 §2.1.4.1: SUBPROOF(m, D[m], true) is empty, SUBPROOF(m, D[m],
 * false) is MTH(D[m]); for m < n with k the split point,
 * SUBPROOF(m, D[n], b) = SUBPROOF(m, D[0:k], b) : MTH(D[k:n]) when m <= k,
 * else SUBPROOF(m - k, D[k:n], false) : MTH(D[0:k]).
 */
int
xz_merkle_consistency_proof(xz_merkle_leaf_fn leaf, void *ctx, uint64_t m,
    uint64_t n, struct xz_merkle_proof *out)
{
	uint64_t off = 0;
	int whole = 1;

	out->count = 0;
	if (m > n)
		return -1;
	if (m == 0 || m == n)
		return 0;
	while (m != n) {
		uint64_t k = split_point(n);
		if (m <= k) {
			if (proof_push(out, leaf, ctx, off + k, off + n) != 0)
				return -1;
			n = k;
		} else {
			if (proof_push(out, leaf, ctx, off, off + k) != 0)
				return -1;
			off += k;
			m -= k;
			n -= k;
			whole = 0;
		}
	}
	if (!whole && proof_push(out, leaf, ctx, off, off + m) != 0)
		return -1;
	proof_reverse(out);
	return 0;
}

/* RFC 9162 §2.1.3.2, step by step. */
int
xz_merkle_inclusion_verify(uint64_t index, uint64_t n, const uint8_t leaf_hash[HLEN],
    const struct xz_merkle_proof *proof, const uint8_t root[HLEN])
{
	uint8_t r[HLEN];
	uint64_t fn, sn;

	if (proof == NULL || proof->count > XZ_MERKLE_MAX_PROOF || index >= n)
		return -1;
	fn = index;
	sn = n - 1;
	memcpy(r, leaf_hash, HLEN);
	for (size_t i = 0; i < proof->count; i++) {
		const uint8_t *p = proof->hash[i];
		if (sn == 0)
			return -1;
		if ((fn & 1) || fn == sn) {
			if (xz_merkle_node_hash(p, r, r) != 0)
				return -1;
			while (!(fn & 1) && fn != 0) {
				fn >>= 1;
				sn >>= 1;
			}
		} else if (xz_merkle_node_hash(r, p, r) != 0) {
			return -1;
		}
		fn >>= 1;
		sn >>= 1;
	}
	if (sn != 0 || memcmp(r, root, HLEN) != 0)
		return -1;
	return 0;
}

/* RFC 9162 §2.1.4.2, after the trivial cases the RFC leaves implicit. */
int
xz_merkle_consistency_verify(uint64_t m, uint64_t n, const uint8_t old_root[HLEN],
    const uint8_t new_root[HLEN], const struct xz_merkle_proof *proof)
{
	uint8_t fr[HLEN], sr[HLEN];
	uint64_t fn, sn;
	size_t i;

	if (proof == NULL || proof->count > XZ_MERKLE_MAX_PROOF || m > n)
		return -1;
	if (m == n)
		return (proof->count == 0 && memcmp(old_root, new_root, HLEN) == 0) ? 0 : -1;
	if (m == 0)
		return proof->count == 0 ? 0 : -1;
	if (proof->count == 0)
		return -1;
	/* Step 2: when m is a power of two the old root is itself a node of
	 * the new tree and the proof omits it; start from it. */
	fn = m - 1;
	sn = n - 1;
	i = 0;
	if ((m & (m - 1)) == 0) {
		memcpy(fr, old_root, HLEN);
	} else {
		memcpy(fr, proof->hash[0], HLEN);
		i = 1;
	}
	memcpy(sr, fr, HLEN);
	while (fn & 1) {
		fn >>= 1;
		sn >>= 1;
	}
	for (; i < proof->count; i++) {
		const uint8_t *c = proof->hash[i];
		if (sn == 0)
			return -1;
		if ((fn & 1) || fn == sn) {
			if (xz_merkle_node_hash(c, fr, fr) != 0 ||
			    xz_merkle_node_hash(c, sr, sr) != 0)
				return -1;
			while (!(fn & 1) && fn != 0) {
				fn >>= 1;
				sn >>= 1;
			}
		} else if (xz_merkle_node_hash(sr, c, sr) != 0) {
			return -1;
		}
		fn >>= 1;
		sn >>= 1;
	}
	if (sn != 0 || memcmp(fr, old_root, HLEN) != 0 ||
	    memcmp(sr, new_root, HLEN) != 0)
		return -1;
	return 0;
}
