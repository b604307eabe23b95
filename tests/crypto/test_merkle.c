/*
 * RFC 6962 / RFC 9162 Merkle trees: known-answer tests and corrupted proofs.
 *
 * The vectors are the ones every Certificate Transparency implementation
 * tests against.  They come from Google's certificate-transparency C++
 * merkle_tree_test.cc and are reproduced in transparency-dev/merkle
 * (proof/verify_test.go: the eight leaves, roots of sizes 1..8, inclusion
 * and consistency proofs; rfc6962/rfc6962_test.go: the empty-tree, empty-leaf
 * and "L123456" leaf hashes).  There the inclusion vectors give 1-based leaf
 * numbers; here they are converted to 0-based indices.
 *
 * The corruption cases follow the list those tests apply to every good proof
 * (wrong index, wrong size, wrong leaf or root, extra node at either end,
 * missing node, one flipped bit in each node, an inserted node), and every
 * case must be rejected.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testsupport.h"
#include "merkle.h"

#define HLEN XZ_MERKLE_HASH_LEN

static void
unhex(const char *hex, uint8_t *out, size_t len)
{
	assert_int_equal(strlen(hex), 2 * len);
	for (size_t i = 0; i < len; i++) {
		unsigned v;
		assert_int_equal(sscanf(hex + 2 * i, "%2x", &v), 1);
		out[i] = (uint8_t)v;
	}
}

static void
assert_hash(const uint8_t got[HLEN], const char *want_hex)
{
	uint8_t want[HLEN];

	unhex(want_hex, want, HLEN);
	assert_memory_equal(got, want, HLEN);
}

/* The eight CT test leaves (leaf data, not hashes). */
static const struct {
	const char *data;
	size_t len;
} ct_leaves[8] = {
	{ "", 0 },
	{ "\x00", 1 },
	{ "\x10", 1 },
	{ "\x20\x21", 2 },
	{ "\x30\x31", 2 },
	{ "\x40\x41\x42\x43", 4 },
	{ "\x50\x51\x52\x53\x54\x55\x56\x57", 8 },
	{ "\x60\x61\x62\x63\x64\x65\x66\x67\x68\x69\x6a\x6b\x6c\x6d\x6e\x6f", 16 },
};

static const char *const ct_roots[8] = {
	"6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
	"fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
	"aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
	"d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
	"4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
	"76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
	"ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
	"5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
};

static const struct {
	uint64_t index, size;
	size_t count;
	const char *path[3];
} ct_inclusion[] = {
	{ 0, 1, 0, { NULL } },
	{ 0, 8, 3, {
	    "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
	    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
	    "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4" } },
	{ 5, 8, 3, {
	    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
	    "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
	    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7" } },
	{ 2, 3, 1, {
	    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125" } },
	{ 1, 5, 3, {
	    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
	    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
	    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b" } },
};

static const struct {
	uint64_t m, n;
	size_t count;
	const char *path[3];
} ct_consistency[] = {
	{ 1, 1, 0, { NULL } },
	{ 1, 8, 3, {
	    "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
	    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
	    "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4" } },
	{ 6, 8, 3, {
	    "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
	    "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
	    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7" } },
	{ 2, 5, 2, {
	    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
	    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b" } },
	{ 6, 7, 3, {
	    "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
	    "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
	    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7" } },
};

/* Leaf callback over an array of leaf hashes. */
struct leaf_array {
	uint8_t (*hash)[HLEN];
	uint64_t n;
	uint64_t reads;
};

static int
array_leaf(void *ctx, uint64_t index, uint8_t out[HLEN])
{
	struct leaf_array *a = ctx;

	if (index >= a->n)
		return -1;
	a->reads++;
	memcpy(out, a->hash[index], HLEN);
	return 0;
}

static struct leaf_array ct_array;
static uint8_t ct_hashes[8][HLEN];

static int
setup_ct(void **state)
{
	(void)state;
	for (size_t i = 0; i < 8; i++) {
		if (xz_merkle_leaf_hash(ct_leaves[i].data, ct_leaves[i].len, ct_hashes[i]) != 0)
			return -1;
	}
	ct_array.hash = ct_hashes;
	ct_array.n = 8;
	return 0;
}

static void
load_proof(struct xz_merkle_proof *p, size_t count, const char *const *path)
{
	memset(p, 0, sizeof(*p));
	p->count = count;
	for (size_t i = 0; i < count; i++)
		unhex(path[i], p->hash[i], HLEN);
}

/* Naive recursive MTH straight from RFC 9162 §2.1.1, for cross-checking. */
static void
naive_root(uint8_t (*leaf)[HLEN], uint64_t n, uint8_t out[HLEN])
{
	uint8_t l[HLEN], r[HLEN];
	uint64_t k = 1;

	if (n == 1) {
		memcpy(out, leaf[0], HLEN);
		return;
	}
	while (k * 2 < n)
		k *= 2;
	naive_root(leaf, k, l);
	naive_root(leaf + k, n - k, r);
	assert_int_equal(xz_merkle_node_hash(l, r, out), 0);
}

static void
test_hash_vectors(void **state)
{
	uint8_t h[HLEN];

	(void)state;
	assert_int_equal(xz_merkle_empty_root(h), 0);
	assert_hash(h, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	assert_int_equal(xz_merkle_leaf_hash("", 0, h), 0);
	assert_hash(h, "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d");
	assert_int_equal(xz_merkle_leaf_hash("L123456", 7, h), 0);
	assert_hash(h, "395aa064aa4c29f7010acfe3f25db9485bbd4b91897b6ad7ad547639252b4d56");
	/* The leaf and node prefixes keep a leaf from posing as a node. */
	uint8_t forged[HLEN], node[HLEN], both[2 * HLEN];
	memcpy(both, ct_hashes[0], HLEN);
	memcpy(both + HLEN, ct_hashes[1], HLEN);
	assert_int_equal(xz_merkle_node_hash(ct_hashes[0], ct_hashes[1], node), 0);
	assert_int_equal(xz_merkle_leaf_hash(both, sizeof(both), forged), 0);
	assert_memory_not_equal(node, forged, HLEN);
}

static void
test_roots_1_to_8(void **state)
{
	uint8_t h[HLEN];
	struct xz_merkle_frontier f;

	(void)state;
	xz_merkle_frontier_init(&f);
	assert_int_equal(xz_merkle_root(array_leaf, &ct_array, 0, h), 0);
	assert_hash(h, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	for (uint64_t n = 1; n <= 8; n++) {
		assert_int_equal(xz_merkle_root(array_leaf, &ct_array, n, h), 0);
		assert_hash(h, ct_roots[n - 1]);
		assert_int_equal(xz_merkle_frontier_append(&f, ct_hashes[n - 1]), 0);
		assert_int_equal(xz_merkle_frontier_root(&f, h), 0);
		assert_hash(h, ct_roots[n - 1]);
	}
}

/* Every way of spoiling a good inclusion proof must fail. */
static void
assert_inclusion_corruptions_fail(uint64_t index, uint64_t n, const uint8_t leaf[HLEN],
    const struct xz_merkle_proof *good, const uint8_t root[HLEN])
{
	struct xz_merkle_proof p;
	uint8_t other[HLEN], empty[HLEN];
	const uint64_t bad_index[] = { index - 1, index + 1, index ^ 2 };
	const uint64_t bad_size[] = { n * 2, n / 2 };

	assert_int_equal(xz_merkle_inclusion_verify(index, n, leaf, good, root), 0);
	for (size_t i = 0; i < 3; i++)
		assert_int_not_equal(xz_merkle_inclusion_verify(bad_index[i], n, leaf, good, root), 0);
	for (size_t i = 0; i < 2; i++)
		assert_int_not_equal(xz_merkle_inclusion_verify(index, bad_size[i], leaf, good, root), 0);
	/* wrong leaf, wrong roots */
	assert_int_equal(xz_merkle_leaf_hash("WrongLeaf", 9, other), 0);
	assert_int_not_equal(xz_merkle_inclusion_verify(index, n, other, good, root), 0);
	assert_int_equal(xz_merkle_empty_root(empty), 0);
	assert_int_not_equal(xz_merkle_inclusion_verify(index, n, leaf, good, empty), 0);
	/* extra node at the end, then at the front */
	p = *good;
	memcpy(p.hash[p.count++], root, HLEN);
	assert_int_not_equal(xz_merkle_inclusion_verify(index, n, leaf, &p, root), 0);
	p = *good;
	memmove(p.hash[1], p.hash[0], p.count * HLEN);
	memcpy(p.hash[0], root, HLEN);
	p.count++;
	assert_int_not_equal(xz_merkle_inclusion_verify(index, n, leaf, &p, root), 0);
	memset(p.hash[0], 0, HLEN);
	assert_int_not_equal(xz_merkle_inclusion_verify(index, n, leaf, &p, root), 0);
	/* one flipped bit in each node */
	for (size_t i = 0; i < good->count; i++) {
		p = *good;
		p.hash[i][0] ^= 8;
		assert_int_not_equal(xz_merkle_inclusion_verify(index, n, leaf, &p, root), 0);
		p = *good;
		p.hash[i][HLEN - 1] ^= 0x80;
		assert_int_not_equal(xz_merkle_inclusion_verify(index, n, leaf, &p, root), 0);
	}
	/* missing node, inserted node */
	if (good->count > 0) {
		p = *good;
		p.count--;
		assert_int_not_equal(xz_merkle_inclusion_verify(index, n, leaf, &p, root), 0);
		p = *good;
		memmove(p.hash[1], p.hash[0], p.count * HLEN);
		p.count++;
		memcpy(p.hash[1], other, HLEN);
		assert_int_not_equal(xz_merkle_inclusion_verify(index, n, leaf, &p, root), 0);
	}
}

static void
test_inclusion_vectors(void **state)
{
	(void)state;
	for (size_t t = 0; t < sizeof(ct_inclusion) / sizeof(ct_inclusion[0]); t++) {
		struct xz_merkle_proof want, got;
		uint8_t root[HLEN];

		load_proof(&want, ct_inclusion[t].count, ct_inclusion[t].path);
		unhex(ct_roots[ct_inclusion[t].size - 1], root, HLEN);
		assert_int_equal(xz_merkle_inclusion_proof(array_leaf, &ct_array,
		    ct_inclusion[t].size, ct_inclusion[t].index, &got), 0);
		assert_int_equal(got.count, want.count);
		assert_memory_equal(got.hash, want.hash, want.count * HLEN);
		assert_inclusion_corruptions_fail(ct_inclusion[t].index, ct_inclusion[t].size,
		    ct_hashes[ct_inclusion[t].index], &want, root);
	}
}

static void
assert_consistency_corruptions_fail(uint64_t m, uint64_t n, const uint8_t r1[HLEN],
    const uint8_t r2[HLEN], const struct xz_merkle_proof *good)
{
	struct xz_merkle_proof p, empty = { .count = 0 };
	uint8_t wrong[HLEN];
	const uint64_t bad_m[] = { m - 1, m + 1, m ^ 2 };
	const uint64_t bad_n[] = { n * 2, n / 2 };

	assert_int_equal(xz_merkle_consistency_verify(m, n, r1, r2, good), 0);
	for (size_t i = 0; i < 3; i++)
		assert_int_not_equal(xz_merkle_consistency_verify(bad_m[i], n, r1, r2, good), 0);
	for (size_t i = 0; i < 2; i++)
		assert_int_not_equal(xz_merkle_consistency_verify(m, bad_n[i], r1, r2, good), 0);
	memset(wrong, 0x5a, HLEN);
	assert_int_not_equal(xz_merkle_consistency_verify(m, n, wrong, r2, good), 0);
	assert_int_not_equal(xz_merkle_consistency_verify(m, n, r1, wrong, good), 0);
	assert_int_not_equal(xz_merkle_consistency_verify(m, n, r2, r1, good), 0);
	assert_int_not_equal(xz_merkle_consistency_verify(m, n, r1, r2, &empty), 0);
	/* extra node at the end (r1, r2), at the front (r1, r2, proof[0]) */
	const uint8_t *extra[] = { r1, r2, good->hash[0] };
	for (size_t e = 0; e < 3; e++) {
		p = *good;
		memcpy(p.hash[p.count++], extra[e], HLEN);
		assert_int_not_equal(xz_merkle_consistency_verify(m, n, r1, r2, &p), 0);
		p = *good;
		memmove(p.hash[1], p.hash[0], p.count * HLEN);
		memcpy(p.hash[0], extra[e], HLEN);
		p.count++;
		assert_int_not_equal(xz_merkle_consistency_verify(m, n, r1, r2, &p), 0);
	}
	/* missing last node; a flipped bit in each node */
	p = *good;
	p.count--;
	assert_int_not_equal(xz_merkle_consistency_verify(m, n, r1, r2, &p), 0);
	for (size_t i = 0; i < good->count; i++) {
		p = *good;
		p.hash[i][0] ^= 16;
		assert_int_not_equal(xz_merkle_consistency_verify(m, n, r1, r2, &p), 0);
	}
}

static void
test_consistency_vectors(void **state)
{
	(void)state;
	for (size_t t = 0; t < sizeof(ct_consistency) / sizeof(ct_consistency[0]); t++) {
		struct xz_merkle_proof want, got;
		uint8_t r1[HLEN], r2[HLEN];
		uint64_t m = ct_consistency[t].m, n = ct_consistency[t].n;

		load_proof(&want, ct_consistency[t].count, ct_consistency[t].path);
		unhex(ct_roots[m - 1], r1, HLEN);
		unhex(ct_roots[n - 1], r2, HLEN);
		assert_int_equal(xz_merkle_consistency_proof(array_leaf, &ct_array, m, n, &got), 0);
		assert_int_equal(got.count, want.count);
		assert_memory_equal(got.hash, want.hash, want.count * HLEN);
		assert_int_equal(xz_merkle_consistency_verify(m, n, r1, r2, &want), 0);
		if (want.count > 0)
			assert_consistency_corruptions_fail(m, n, r1, r2, &want);
	}
}

/* The trivial cases the RFC leaves to the implementer (from the same Go
 * tests: sizes that are always consistent, time travel, wrong roots). */
static void
test_edge_cases(void **state)
{
	struct xz_merkle_proof none = { .count = 0 }, one = { .count = 1 };
	uint8_t a[HLEN], b[HLEN], empty[HLEN];

	(void)state;
	memset(a, 1, HLEN);
	memset(b, 2, HLEN);
	assert_int_equal(xz_merkle_empty_root(empty), 0);
	memcpy(one.hash[0], empty, HLEN);
	assert_int_not_equal(xz_merkle_consistency_verify(0, 0, a, b, &none), 0);
	assert_int_not_equal(xz_merkle_consistency_verify(1, 1, a, b, &none), 0);
	assert_int_equal(xz_merkle_consistency_verify(0, 0, a, a, &none), 0);
	assert_int_equal(xz_merkle_consistency_verify(0, 1, a, b, &none), 0);
	assert_int_equal(xz_merkle_consistency_verify(1, 1, b, b, &none), 0);
	assert_int_not_equal(xz_merkle_consistency_verify(1, 0, a, b, &none), 0);
	assert_int_not_equal(xz_merkle_consistency_verify(2, 1, a, b, &none), 0);
	assert_int_not_equal(xz_merkle_consistency_verify(1, 2, a, b, &none), 0);
	assert_int_not_equal(xz_merkle_consistency_verify(0, 0, empty, empty, &one), 0);
	assert_int_not_equal(xz_merkle_consistency_verify(0, 1, empty, empty, &one), 0);
	assert_int_not_equal(xz_merkle_consistency_verify(1, 1, empty, empty, &one), 0);

	/* Inclusion in an empty tree or past the end never verifies. */
	assert_int_not_equal(xz_merkle_inclusion_verify(0, 0, a, &none, a), 0);
	assert_int_not_equal(xz_merkle_inclusion_verify(1, 1, a, &none, a), 0);
	assert_int_not_equal(xz_merkle_inclusion_verify(2, 1, a, &none, a), 0);
	assert_int_equal(xz_merkle_inclusion_verify(0, 1, a, &none, a), 0);
	assert_int_not_equal(xz_merkle_inclusion_verify(0, 1, a, &none, b), 0);

	/* Generators refuse impossible requests. */
	struct xz_merkle_proof p;
	assert_int_not_equal(xz_merkle_inclusion_proof(array_leaf, &ct_array, 8, 8, &p), 0);
	assert_int_not_equal(xz_merkle_consistency_proof(array_leaf, &ct_array, 9, 8, &p), 0);
	assert_int_equal(xz_merkle_consistency_proof(array_leaf, &ct_array, 0, 8, &p), 0);
	assert_int_equal(p.count, 0);
	/* A failing callback is a failure, not a proof. */
	assert_int_not_equal(xz_merkle_inclusion_proof(array_leaf, &ct_array, 9, 3, &p), 0);
	assert_int_not_equal(xz_merkle_root(array_leaf, &ct_array, 9, a), 0);
}

/*
 * All sizes 1..70 (crossing 64 = 2^6): the streamed root and the frontier
 * equal the naive recursion, every generated inclusion proof and every
 * consistency proof verifies, and a proof for one index never verifies for
 * another.  Also checks each leaf is read at most once per proof.
 */
static void
test_exhaustive_small_trees(void **state)
{
	enum { MAXN = 70 };
	static uint8_t hashes[MAXN][HLEN];
	uint8_t roots[MAXN + 1][HLEN];
	struct leaf_array arr = { hashes, MAXN, 0 };
	struct xz_merkle_frontier f, g;

	(void)state;
	for (uint64_t i = 0; i < MAXN; i++) {
		uint8_t data[8];
		for (int b = 0; b < 8; b++)
			data[b] = (uint8_t)(i >> (8 * b));
		assert_int_equal(xz_merkle_leaf_hash(data, sizeof(data), hashes[i]), 0);
	}
	xz_merkle_frontier_init(&f);
	assert_int_equal(xz_merkle_empty_root(roots[0]), 0);
	for (uint64_t n = 1; n <= MAXN; n++) {
		uint8_t h[HLEN], naive[HLEN];
		assert_int_equal(xz_merkle_frontier_append(&f, hashes[n - 1]), 0);
		assert_int_equal(xz_merkle_frontier_root(&f, roots[n]), 0);
		naive_root(hashes, n, naive);
		assert_memory_equal(roots[n], naive, HLEN);
		assert_int_equal(xz_merkle_root(array_leaf, &arr, n, h), 0);
		assert_memory_equal(h, naive, HLEN);
		/* serialise and reload the frontier */
		assert_int_equal(xz_merkle_frontier_len(&f),
		    (size_t)__builtin_popcountll(n) * HLEN);
		assert_int_equal(xz_merkle_frontier_load(&g, n, f.hash,
		    xz_merkle_frontier_len(&f)), 0);
		assert_int_equal(xz_merkle_frontier_root(&g, h), 0);
		assert_memory_equal(h, naive, HLEN);
		assert_int_not_equal(xz_merkle_frontier_load(&g, 2 * n + 1, f.hash,
		    xz_merkle_frontier_len(&f)), 0);
	}
	for (uint64_t n = 1; n <= MAXN; n++) {
		for (uint64_t i = 0; i < n; i++) {
			struct xz_merkle_proof p;
			arr.reads = 0;
			assert_int_equal(xz_merkle_inclusion_proof(array_leaf, &arr, n, i, &p), 0);
			assert_true(arr.reads <= n);
			assert_int_equal(xz_merkle_inclusion_verify(i, n, hashes[i], &p, roots[n]), 0);
			if (n > 1) {
				uint64_t j = (i + 1) % n;
				assert_int_not_equal(xz_merkle_inclusion_verify(j, n, hashes[i], &p, roots[n]), 0);
			}
		}
		for (uint64_t m = 0; m <= n; m++) {
			struct xz_merkle_proof p;
			assert_int_equal(xz_merkle_consistency_proof(array_leaf, &arr, m, n, &p), 0);
			assert_int_equal(xz_merkle_consistency_verify(m, n, roots[m], roots[n], &p), 0);
			if (m > 0 && m < n) {
				assert_int_not_equal(xz_merkle_consistency_verify(m, n, roots[m - 1],
				    roots[n], &p), 0);
				assert_int_not_equal(xz_merkle_consistency_verify(m, n, roots[m], roots[n - 1], &p), 0);
			}
		}
	}
}

/* A frontier that does not match its size is refused. */
static void
test_frontier_load_rejects(void **state)
{
	struct xz_merkle_frontier f;
	uint8_t buf[3 * HLEN] = { 0 };

	(void)state;
	assert_int_equal(xz_merkle_frontier_load(&f, 0, NULL, 0), 0);
	assert_int_equal(xz_merkle_frontier_load(&f, 7, buf, 3 * HLEN), 0);
	assert_int_not_equal(xz_merkle_frontier_load(&f, 7, buf, 2 * HLEN), 0);
	assert_int_not_equal(xz_merkle_frontier_load(&f, 8, buf, 3 * HLEN), 0);
	assert_int_not_equal(xz_merkle_frontier_load(&f, 6, buf, 3 * HLEN - 1), 0);
	f.size = UINT64_MAX;
	assert_int_not_equal(xz_merkle_frontier_append(&f, buf), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hash_vectors),
		cmocka_unit_test(test_roots_1_to_8),
		cmocka_unit_test(test_inclusion_vectors),
		cmocka_unit_test(test_consistency_vectors),
		cmocka_unit_test(test_edge_cases),
		cmocka_unit_test(test_exhaustive_small_trees),
		cmocka_unit_test(test_frontier_load_rejects),
	};
	return cmocka_run_group_tests(tests, setup_ct, NULL);
}
