/*
 * Harness: the join messages a server accepts (protocol/rpc.h
 * xz_msg_decode), the first code that touches a peer's bytes after gRPC
 * has framed them.
 *
 * Promises checked: a refused message has a status and a message; an
 * accepted one has exactly one kind, can be encoded again, and decoding
 * and encoding that gives the same bytes (the decoder's view of a message
 * is stable); xz_msg_release empties it.
 */
#include <string.h>

#include "fuzz.h"
#include "rpc.h"

static void
reencode(const struct xz_msg *m)
{
	struct xz_rpc_error err;
	struct xz_msg m2;
	uint8_t *e1 = NULL, *e2 = NULL;
	size_t l1 = 0, l2 = 0;

	memset(&err, 0, sizeof(err));
	memset(&m2, 0, sizeof(m2));
	FUZZ_CHECK(xz_msg_encode(m, &e1, &l1, &err) == XZ_RPC_OK, "a decoded message encodes");
	FUZZ_CHECK(xz_msg_decode(e1, l1, &m2, &err) == XZ_RPC_OK, "an encoded message decodes");
	FUZZ_CHECK(m2.kind == m->kind, "the kind survives a round trip");
	FUZZ_CHECK(xz_msg_encode(&m2, &e2, &l2, &err) == XZ_RPC_OK, "the re-decoded message encodes");
	FUZZ_CHECK(l1 == l2 && memcmp(e1, e2, l1) == 0, "encoding a decoded message is stable");
	xz_msg_release(&m2);
	free(e1);
	free(e2);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct xz_rpc_error err;
	struct xz_msg m;
	uint8_t *buf = fuzz_dup(data, size);

	memset(&err, 0, sizeof(err));
	memset(&m, 0, sizeof(m));
	if (xz_msg_decode(buf, size, &m, &err) != XZ_RPC_OK) {
		FUZZ_CHECK(err.status != XZ_RPC_OK && err.msg[0] != '\0',
		    "a refused message has a status and says why");
		FUZZ_CHECK(m.kind == XZ_MSG_NONE && m.storage == NULL, "a refused message is empty");
		goto done;
	}
	FUZZ_CHECK(m.kind >= XZ_MSG_OPEN && m.kind <= XZ_MSG_ABORT, "exactly one known kind");
	/* The decoded message must not point into the caller's buffer. */
	memset(buf, 0xEE, size);
	reencode(&m);
	xz_msg_release(&m);
	FUZZ_CHECK(m.kind == XZ_MSG_NONE && m.storage == NULL, "release empties the message");
done:
	free(buf);
	return 0;
}
