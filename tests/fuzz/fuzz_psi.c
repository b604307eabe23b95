/*
 * Harness: PSI engine messages as a peer sends them (crypto/psi.h), for
 * every role that reads a peer's messages: the two-party requester and
 * responder, both owners of a delegated join, and the delegated
 * coordinator.  docs/protocol.md §3 and §11.2 give the layout.
 *
 * Input: byte 0 picks the role (low 3 bits) and whether the harness
 * re-seals each message's digest (bit 3: without it almost nothing gets
 * past the keyed digest, with it the fuzzer reaches the item checks);
 * then messages, each a 2-byte big-endian length and that many bytes.
 *
 * Promises checked: a role never accepts a message after it refused one
 * (it reports XZ_PSI_E_STATE), produce() only hands out messages within
 * the size cap, and nothing crashes, leaks or reads out of bounds.
 */
#include <string.h>

#include <sodium.h>

#include "fuzz.h"
#include "psi.h"

#define HDR_LEN 32
#define DIGEST_LEN 16

static const uint8_t join_id[16] = { 'x', 'i', 'e', 'z', 'h', 'i', '-', 'f', 'u', 'z', 'z' };

static const char *const elems[] = { "990101195001011234", "990101196002022345", "P3" };
static const char *const labels[] = { "2024-12-01", "", "a label" };

static int
source(void *ctx, uint64_t i, const uint8_t **e, size_t *el, const uint8_t **l, size_t *ll)
{
	(void)ctx;
	if (i >= 3)
		return -1;
	*e = (const uint8_t *)elems[i];
	*el = strlen(elems[i]);
	*l = (const uint8_t *)labels[i];
	*ll = strlen(labels[i]);
	return 0;
}

struct roles {
	struct xz_psi_requester *r;
	struct xz_psi_responder *a;
	struct xz_psi_owner *o;
	struct xz_psi_coordinator *c;
};

static void
make(unsigned role, struct roles *x)
{
	struct xz_psi_params p = { .mode = XZ_PSI_INTERSECT, .requester_bound = 4,
	    .responder_bound = 5, .label_len = 16, .batch_max = 2, .threads = 1 };
	struct xz_psi_dparams dp = { .bound = { 4, 5 }, .label_len = { 16, 0 }, .batch_max = 2,
	    .threads = 1 };

	memcpy(p.join_id, join_id, 16);
	memcpy(dp.join_id, join_id, 16);
	switch (role) {
	case 0: FUZZ_CHECK(xz_psi_requester_new(&x->r, &p, 3, source, NULL) == XZ_PSI_OK, "new"); break;
	case 1: FUZZ_CHECK(xz_psi_responder_new(&x->a, &p, 3, source, NULL) == XZ_PSI_OK, "new"); break;
	case 2: FUZZ_CHECK(xz_psi_owner_new(&x->o, &dp, 0, 3, source, NULL) == XZ_PSI_OK, "new"); break;
	case 3: FUZZ_CHECK(xz_psi_owner_new(&x->o, &dp, 1, 3, source, NULL) == XZ_PSI_OK, "new"); break;
	default: FUZZ_CHECK(xz_psi_coordinator_new(&x->c, &dp) == XZ_PSI_OK, "new"); break;
	}
}

/* Lets the role send whatever it has; returns 0 once it failed. */
static int
drain(struct roles *x)
{
	const uint8_t *m;
	size_t len;
	enum xz_psi_status st;

	for (int i = 0; i < 64; i++) {
		if (x->r != NULL)
			st = xz_psi_requester_produce(x->r, &m, &len);
		else if (x->a != NULL)
			st = xz_psi_responder_produce(x->a, &m, &len);
		else if (x->o != NULL)
			st = xz_psi_owner_produce(x->o, &m, &len);
		else
			return 1;
		if (st == XZ_PSI_OK) {
			FUZZ_CHECK(len >= HDR_LEN + DIGEST_LEN && len <= XZ_PSI_MAX_MESSAGE_LEN,
			    "a produced message is within the size cap");
			continue;
		}
		return st == XZ_PSI_AGAIN || st == XZ_PSI_DONE;
	}
	return 1;
}

static enum xz_psi_status
feed(struct roles *x, const uint8_t *m, size_t len)
{
	unsigned from;
	int fwd;

	if (x->r != NULL)
		return xz_psi_requester_consume(x->r, m, len);
	if (x->a != NULL)
		return xz_psi_responder_consume(x->a, m, len);
	if (x->o != NULL)
		return xz_psi_owner_consume(x->o, m, len);
	if (xz_psi_coordinator_next(x->c, &from) != XZ_PSI_OK)
		return XZ_PSI_E_STATE;
	return xz_psi_coordinator_consume(x->c, from, m, len, &fwd);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct roles x = { 0 };
	unsigned role;
	int reseal, failed = 0;
	size_t off = 1;

	if (size < 1 || sodium_init() < 0)
		return 0;
	role = data[0] & 7;
	reseal = (data[0] & 8) != 0;
	make(role > 4 ? 4 : role, &x);
	if (!drain(&x))
		failed = 1;
	while (off + 2 <= size) {
		size_t len = (size_t)data[off] << 8 | data[off + 1];
		if (len > size - off - 2)
			len = size - off - 2;
		uint8_t *m = fuzz_dup(data + off + 2, len);
		off += 2 + len;
		if (reseal && len >= HDR_LEN + DIGEST_LEN)
			crypto_generichash(m + len - DIGEST_LEN, DIGEST_LEN, m, len - DIGEST_LEN,
			    join_id, 16);
		enum xz_psi_status st = feed(&x, m, len);
		free(m);
		if (failed) {
			FUZZ_CHECK(st != XZ_PSI_OK, "a role that refused a message accepts no more");
			continue;
		}
		if (st != XZ_PSI_OK || !drain(&x))
			failed = 1;
	}
	xz_psi_requester_free(x.r);
	xz_psi_responder_free(x.a);
	xz_psi_owner_free(x.o);
	xz_psi_coordinator_free(x.c);
	return 0;
}
