/*
 * Harness: request files (policies/request.h), the YAML an approver is
 * handed by `xiezhi request approve` and a requester submits.
 *
 * Promises checked: on failure the error names the file and says why; on
 * success the request is valid, printing then parsing gives the same
 * request (compared through its canonical encoding, which is what is
 * signed) and the same approvals, and printing that gives the same text.
 * Every approval is also run through signature verification, which must
 * not crash on any key or signature bytes.
 */
#include <string.h>

#include "fuzz.h"
#include "request.h"

static void
encode(const struct xz_request *r, unsigned char *buf, size_t *len)
{
	struct xz_perror e;

	memset(&e, 0, sizeof(e));
	FUZZ_CHECK(xz_request_encode(r, buf, XZ_REQUEST_ENCODED_MAX, len, &e) == 0,
	    "a parsed request encodes");
}

static void
same_approvals(const struct xz_request_file *a, const struct xz_request_file *b)
{
	FUZZ_CHECK(a->n_approvals == b->n_approvals, "same number of approvals");
	for (size_t i = 0; i < a->n_approvals; i++) {
		const struct xz_approval *x = &a->approvals[i], *y = &b->approvals[i];

		FUZZ_CHECK(strcmp(x->approver, y->approver) == 0, "same approver");
		FUZZ_CHECK(memcmp(x->public_key, y->public_key, 32) == 0, "same approver key");
		FUZZ_CHECK(memcmp(x->signature, y->signature, 64) == 0, "same signature");
	}
}

static void
round_trip(const struct xz_request_file *f)
{
	static struct xz_request_file again;
	static unsigned char enc1[XZ_REQUEST_ENCODED_MAX], enc2[XZ_REQUEST_ENCODED_MAX];
	struct xz_perror e;
	char *text = NULL, *text2 = NULL;
	size_t len1 = 0, len2 = 0;

	memset(&e, 0, sizeof(e));
	FUZZ_CHECK(xz_request_file_print(f, &text, &e) == 0, "a parsed request file prints");
	if (xz_request_file_parse("printed.yaml", text, strlen(text), &again, &e) != 0) {
		char buf[1024];

		xz_perror_format(&e, buf, sizeof(buf));
		fprintf(stderr, "printed request file refused: %s\n--\n%s--\n", buf, text);
		FUZZ_CHECK(0, "a printed request file parses");
	}
	encode(&f->req, enc1, &len1);
	encode(&again.req, enc2, &len2);
	FUZZ_CHECK(len1 == len2 && memcmp(enc1, enc2, len1) == 0,
	    "print then parse gives the same request");
	same_approvals(f, &again);
	FUZZ_CHECK(xz_request_file_print(&again, &text2, &e) == 0, "the reparsed file prints");
	FUZZ_CHECK(strcmp(text, text2) == 0, "printing is stable");
	free(text);
	free(text2);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct xz_request_file f;	/* ~7 KB */
	struct xz_perror e;
	uint8_t *buf;

	if (size > XZ_POLICY_FILE_MAX)	/* xz_request_file_load's cap */
		return 0;
	buf = fuzz_dup(data, size);
	memset(&e, 0, sizeof(e));
	if (xz_request_file_parse("fuzz.yaml", buf, size, &f, &e) != 0) {
		FUZZ_CHECK(strcmp(e.file, "fuzz.yaml") == 0, "the error names the file");
		FUZZ_CHECK(e.msg[0] != '\0', "the error says what is wrong");
		goto done;
	}
	FUZZ_CHECK(f.n_approvals <= XZ_REQUEST_MAX_APPROVALS, "approvals within the cap");
	FUZZ_CHECK(xz_request_validate(&f.req, &e) == 0, "a parsed request is valid");
	for (size_t i = 0; i < f.n_approvals; i++)
		(void)!xz_approval_verify(&f.req, &f.approvals[i]);
	round_trip(&f);
done:
	free(buf);
	return 0;
}
