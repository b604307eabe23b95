/*
 * Harness: the join-level decoders above the protobuf messages
 * (node/daemon_wire.h): join parameters, the delegated partner message,
 * the summary, approvals, the hello.  Each reads bytes a peer chose.
 *
 * Input: byte 0 picks the decoder, the rest is its input.  Promises
 * checked: an accepted value encodes back to exactly the input bytes (one
 * encoding per value) where an encoder exists, and every decoded field is
 * within the limits the header states.
 */
#include <string.h>

#include "daemon_wire.h"
#include "fuzz.h"

static void
params(const uint8_t *b, size_t n)
{
	struct xz_join_params p;
	struct xz_diag d;
	uint8_t out[XZ_JOIN_PARAMS_MAX];
	size_t len;

	if (xz_join_params_decode(b, n, &p, &d) != 0)
		return;
	FUZZ_CHECK(p.responder_bound <= XZ_PSI_MAX_BOUND && p.requester_bound <= XZ_PSI_MAX_BOUND,
	    "bounds within the cap");
	FUZZ_CHECK(p.batch_max >= 1 && p.label_len <= XZ_PSI_MAX_LABEL_LEN, "batch and label");
	FUZZ_CHECK(xz_join_params_encode(&p, out, sizeof(out), &len, &d) == 0, "re-encodes");
	FUZZ_CHECK(len == n && memcmp(out, b, n) == 0, "one encoding per parameter set");
}

static void
partner(const uint8_t *b, size_t n)
{
	struct xz_join_partner p;
	struct xz_diag d;
	uint8_t out[XZ_JOIN_PARTNER_MAX];
	size_t len;

	if (xz_join_partner_decode(b, n, &p, &d) != 0)
		return;
	FUZZ_CHECK(p.self <= 1 && p.partner_bound <= XZ_PSI_MAX_BOUND, "index and bound");
	FUZZ_CHECK(p.batch_max >= 1 && p.batch_max <= XZ_JOIN_BATCH_LIMIT, "batch");
	FUZZ_CHECK(xz_join_partner_encode(&p, out, sizeof(out), &len, &d) == 0, "re-encodes");
	FUZZ_CHECK(len == n && memcmp(out, b, n) == 0, "one encoding per partner message");
}

static void
summary(const uint8_t *b, size_t n)
{
	struct xz_join_summary s;
	struct xz_diag d;
	uint8_t out[XZ_JOIN_SUMMARY_MAX];
	size_t len;

	if (xz_join_summary_decode(b, n, &s, &d) != 0)
		return;
	FUZZ_CHECK(xz_join_summary_encode(&s, out, sizeof(out), &len, &d) == 0, "re-encodes");
	FUZZ_CHECK(len == n && memcmp(out, b, n) == 0, "one encoding per summary");
}

static void
approval(const uint8_t *b, size_t n)
{
	struct xz_approval a;
	struct xz_diag d;
	uint8_t out[XZ_JOIN_APPROVAL_MAX];
	size_t len;

	if (xz_join_approval_decode(b, n, &a, &d) != 0)
		return;
	FUZZ_CHECK(strlen(a.approver) >= 1 && strlen(a.approver) <= XZ_NAME_MAX, "approver id");
	FUZZ_CHECK(xz_join_approval_encode(&a, out, sizeof(out), &len, &d) == 0, "re-encodes");
	FUZZ_CHECK(len == n && memcmp(out, b, n) == 0, "one encoding per approval");
}

static void
hello(const uint8_t *b, size_t n)
{
	char name[XZ_JOIN_NODE_NAME_MAX + 1];
	struct xz_diag d;

	if (xz_join_hello_decode(b, n, name, &d) != 0)
		return;
	FUZZ_CHECK(strlen(name) == n && memcmp(name, b, n) == 0, "the name is the bytes");
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *b;

	if (size < 1)
		return 0;
	b = fuzz_dup(data + 1, size - 1);
	switch (data[0] % 5) {
	case 0: params(b, size - 1); break;
	case 1: partner(b, size - 1); break;
	case 2: summary(b, size - 1); break;
	case 3: approval(b, size - 1); break;
	default: hello(b, size - 1); break;
	}
	free(b);
	return 0;
}
