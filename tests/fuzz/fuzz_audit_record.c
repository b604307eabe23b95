/*
 * Harness: the audit record decoder (node/audit.h, docs/audit-format.md
 * §2.1), which every verifier and every export reader runs on bytes it has
 * not yet authenticated.
 *
 * Promise checked: the encoding is canonical -- whatever the strict decoder
 * accepts and the encoder can write again (a known type with its required
 * fields) is re-encoded to exactly the input bytes, so two different byte
 * strings never describe the same record.
 */
#include <string.h>

#include "audit.h"
#include "fuzz.h"

static void
reencode(const struct xz_audit_record *rec, const uint8_t *data, size_t size)
{
	struct xz_audit_field f[XZ_AUDIT_FIELDS_MAX];
	struct xz_audit_event ev;
	struct xz_diag d;
	uint8_t *out = NULL;
	size_t len = 0;

	memset(f, 0, sizeof(f));
	for (size_t i = 0; i < rec->nfields; i++) {
		f[i].name = rec->field[i].name;
		f[i].kind = rec->field[i].kind;
		f[i].str = rec->field[i].str;
		f[i].num = rec->field[i].num;
		memcpy(f[i].hash, rec->field[i].hash, XZ_AUDIT_HASH_LEN);
	}
	ev.type = (enum xz_audit_type)rec->type;
	ev.actor = rec->actor;
	ev.request_id = rec->has_request ? rec->request_id : NULL;
	ev.fields = f;
	ev.nfields = rec->nfields;
	memset(&d, 0, sizeof(d));
	if (xz_audit_record_encode(&ev, rec->seq, rec->time, &out, &len, &d) != 0)
		return;	/* unknown type or missing required field: the decoder may accept it */
	FUZZ_CHECK(len == size && memcmp(out, data, size) == 0,
	    "decode accepts only the canonical encoding");
	free(out);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct xz_audit_record rec;	/* ~35 KB */
	struct xz_diag d;
	uint8_t *buf = fuzz_dup(data, size);

	memset(&d, 0, sizeof(d));
	if (xz_audit_record_decode(buf, size, &rec, &d) != 0) {
		FUZZ_CHECK(d.msg[0] != '\0', "a refused record says why");
		goto done;
	}
	FUZZ_CHECK(size < XZ_AUDIT_RECORD_MAX, "records are below the size limit");
	FUZZ_CHECK(rec.type != 0, "type 0 is refused");
	FUZZ_CHECK(rec.actor[0] != '\0' && strlen(rec.actor) <= XZ_AUDIT_ACTOR_MAX,
	    "actor is 1..255 bytes");
	FUZZ_CHECK(rec.nfields <= XZ_AUDIT_FIELDS_MAX, "fields within the cap");
	for (size_t i = 0; i < rec.nfields; i++) {
		FUZZ_CHECK(xz_audit_record_field(&rec, rec.field[i].name) == &rec.field[i],
		    "field names are unique");
		FUZZ_CHECK(i == 0 || strcmp(rec.field[i - 1].name, rec.field[i].name) < 0,
		    "fields are sorted");
	}
	reencode(&rec, data, size);
done:
	free(buf);
	return 0;
}
