/*
 * Harness: the audit export reader (node/audit.h xz_audit_verify_export,
 * docs/audit-format.md §7), which `xiezhi audit verify-export` and
 * `crosscheck` run on a file handed over by another agency.  Inputs of up
 * to 256 bytes are also given to xz_audit_parse_pubkey (the --pubkey text).
 *
 * Promises checked: a refused export says why; a record is handed to the
 * callback in order (seq 0, 1, 2, ...); an accepted export has as many
 * records as the status says and ends with its own audit_exported record.
 */
#include <string.h>

#include "audit.h"
#include "fuzz.h"

struct seen {
	uint64_t n;
	unsigned last_type;
};

static int
on_record(void *arg, const struct xz_audit_record *rec, struct xz_diag *d)
{
	struct seen *s = arg;

	(void)d;
	FUZZ_CHECK(rec->seq == s->n, "records are handed over in order");
	s->n++;
	s->last_type = rec->type;
	return 0;
}

static void
pubkey(const uint8_t *data, size_t size)
{
	char text[257];
	uint8_t pk[32];
	struct xz_diag d;

	if (size >= sizeof(text) || memchr(data, '\0', size) != NULL)
		return;
	memcpy(text, data, size);
	text[size] = '\0';
	memset(&d, 0, sizeof(d));
	if (xz_audit_parse_pubkey(text, pk, &d) != 0)
		FUZZ_CHECK(d.msg[0] != '\0', "a refused key says why");
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct xz_audit_status st;
	struct xz_diag d;
	struct seen s = { 0, 0 };
	uint8_t *buf = fuzz_dup(data, size);
	FILE *in;

	pubkey(data, size);
	memset(&d, 0, sizeof(d));
	memset(&st, 0, sizeof(st));
	/* glibc's fmemopen refuses a zero size; an empty export is one line short anyway. */
	in = size > 0 ? fmemopen(buf, size, "r") : NULL;
	if (in == NULL)
		goto done;
	if (xz_audit_verify_export(in, "fuzz.export", NULL, on_record, &s, &st, &d) != 0) {
		FUZZ_CHECK(d.msg[0] != '\0', "a refused export says why");
	} else {
		FUZZ_CHECK(st.size == s.n && s.n >= 1, "status counts the records read");
		FUZZ_CHECK(s.last_type == XZ_AUDIT_EXPORTED, "an export ends with audit_exported");
	}
	fclose(in);
done:
	free(buf);
	return 0;
}
