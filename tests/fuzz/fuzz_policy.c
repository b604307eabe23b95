/*
 * Harness: the policy language (policies/policy.h).  The input is one
 * policy file's bytes, given to xz_policy_parse as `xiezhi policy check`
 * and the node's policy directory loader do (after their size cap).
 *
 * Promises checked: on failure the error names the file and says why and
 * the output is zeroed; on success printing then parsing gives an equal
 * policy and printing that gives the same text (the round trip of
 * policy.h), and the limits of the struct hold.
 */
#include <string.h>

#include "fuzz.h"
#include "policy.h"

static int
all_zero(const void *p, size_t n)
{
	const unsigned char *b = p;

	for (size_t i = 0; i < n; i++)
		if (b[i] != 0)
			return 0;
	return 1;
}

static void
round_trip(const struct xz_policy *p)
{
	static struct xz_policy again;
	struct xz_perror e;
	char *text = NULL, *text2 = NULL;

	memset(&e, 0, sizeof(e));
	FUZZ_CHECK(xz_policy_print(p, &text, &e) == 0, "a parsed policy prints");
	if (xz_policy_parse("printed.yaml", text, strlen(text), &again, &e) != 0) {
		char buf[1024];

		xz_perror_format(&e, buf, sizeof(buf));
		fprintf(stderr, "printed policy refused: %s\n--\n%s--\n", buf, text);
		FUZZ_CHECK(0, "a printed policy parses");
	}
	FUZZ_CHECK(xz_policy_equal(p, &again), "print then parse gives an equal policy");
	FUZZ_CHECK(xz_policy_print(&again, &text2, &e) == 0, "the reparsed policy prints");
	FUZZ_CHECK(strcmp(text, text2) == 0, "printing is stable");
	free(text);
	free(text2);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct xz_policy p;	/* ~40 KB: not on the stack */
	struct xz_perror e;
	uint8_t *buf;

	if (size > XZ_POLICY_FILE_MAX)	/* xz_policy_load's cap */
		return 0;
	buf = fuzz_dup(data, size);
	memset(&e, 0, sizeof(e));
	memset(&p, 0xA5, sizeof(p));
	if (xz_policy_parse("fuzz.yaml", buf, size, &p, &e) != 0) {
		FUZZ_CHECK(strcmp(e.file, "fuzz.yaml") == 0, "the error names the file");
		FUZZ_CHECK(e.msg[0] != '\0', "the error says what is wrong");
		FUZZ_CHECK(all_zero(&p, sizeof(p)), "a failed parse leaves the policy zeroed");
	} else {
		FUZZ_CHECK(p.n_labels <= XZ_POLICY_MAX_LABELS, "labels within the cap");
		FUZZ_CHECK(p.n_approvers <= XZ_POLICY_MAX_APPROVERS, "approvers within the cap");
		FUZZ_CHECK(p.threshold <= p.n_approvers, "threshold at most the approvers");
		FUZZ_CHECK(p.min_query_size <= p.max_query_size, "query size range ordered");
		FUZZ_CHECK(p.valid_from < p.valid_until, "validity window not empty");
		FUZZ_CHECK(xz_check_name(p.id) == NULL, "the id is a valid name");
		round_trip(&p);
	}
	free(buf);
	return 0;
}
