/*
 * Harness: the canonical request decoder (policies/request.h), the bytes a
 * responder receives in a join's Open message and hashes for approvals.
 *
 * Promise checked: "decoding accepts exactly one encoding per request" --
 * whatever xz_request_decode accepts is a valid request whose encoding is
 * byte for byte the input, so two different byte strings can never carry
 * the same approved request.
 */
#include <string.h>

#include "fuzz.h"
#include "request.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct xz_request r;	/* ~5 KB: kept off the fuzzer's stack */
	static unsigned char again[XZ_REQUEST_ENCODED_MAX];
	unsigned char digest[XZ_REQUEST_DIGEST_LEN];
	struct xz_perror e;
	size_t len = 0;
	uint8_t *buf = fuzz_dup(data, size);

	memset(&e, 0, sizeof(e));
	if (xz_request_decode(buf, size, &r, &e) != 0) {
		FUZZ_CHECK(e.msg[0] != '\0', "a refused encoding says why");
		goto done;
	}
	FUZZ_CHECK(size <= XZ_REQUEST_ENCODED_MAX, "accepted encodings within the bound");
	FUZZ_CHECK(xz_request_validate(&r, &e) == 0, "a decoded request is valid");
	FUZZ_CHECK(xz_request_encode(&r, again, sizeof(again), &len, &e) == 0,
	    "a decoded request encodes");
	FUZZ_CHECK(len == size && memcmp(again, data, size) == 0,
	    "decode accepts only the canonical encoding");
	FUZZ_CHECK(xz_request_digest(&r, digest, &e) == 0, "a decoded request has a digest");
done:
	free(buf);
	return 0;
}
