/*
 * The audit log: record encoding, Merkle tree, signed checkpoints, the
 * anchor file and exports.  docs/audit-format.md is the specification this
 * file implements; section names below refer to it.
 *
 * Storage (two tables in the node's SQLCipher store, created on first use):
 *   audit_records(seq INTEGER PRIMARY KEY, body BLOB)     one row per record
 *   audit_checkpoints(size INTEGER PRIMARY KEY, frontier BLOB, note TEXT)
 * A checkpoint row holds the signed note for the tree of `size` records and
 * the frontier (roots of the perfect subtrees) that lets the next append
 * compute the next root without reading the whole log.  The frontier is a
 * cache: verification recomputes it from the records and compares.
 */
#include "audit.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>
#include <utf8proc.h>

#define HLEN		XZ_MERKLE_HASH_LEN
#define RECORD_VERSION	1
#define NOTE_MAX	1024
#define ANCHOR_MAX	4096
#define KEY_ID_LEN	4
#define SIG_ALG_ED25519	0x01
/* An export line is at most 90,000 bytes (docs/audit-format.md §7.1):
 * room for "r " and the base64 of the largest record. */
#define LINE_MAX_LEN	90001
_Static_assert(LINE_MAX_LEN > 2 + sodium_base64_ENCODED_LEN(XZ_AUDIT_RECORD_MAX,
    sodium_base64_VARIANT_ORIGINAL), "export lines must hold the largest record");
#define EXPORT_MAGIC	"xiezhi-audit-export 1"
#define ORIGIN_SUFFIX	" xiezhi audit"
#define KEYNAME_SUFFIX	"/xiezhi-audit"
#define EM_DASH		"\xe2\x80\x94"

static const char schema_sql[] =
	"CREATE TABLE IF NOT EXISTS audit_records ("
	"  seq INTEGER PRIMARY KEY, body BLOB NOT NULL);"
	"CREATE TABLE IF NOT EXISTS audit_checkpoints ("
	"  size INTEGER PRIMARY KEY, frontier BLOB NOT NULL, note TEXT NOT NULL);";

/* ======================================================================
 * Types and their required fields (§Types)
 * ==================================================================== */

struct required {
	const char *name;
	enum xz_audit_kind kind;
};

struct type_info {
	unsigned type;
	const char *name;
	int needs_request;
	struct required req[8];
};

static const struct type_info types[] = {
	{ XZ_AUDIT_NODE_STARTED, "node_started", 0, { { NULL, 0 } } },
	{ XZ_AUDIT_NODE_STOPPED, "node_stopped", 0, { { NULL, 0 } } },
	{ XZ_AUDIT_DATASET_IMPORTED, "dataset_imported", 0,
	    { { "dataset", XZ_AUDIT_STR }, { "rows", XZ_AUDIT_INT }, { NULL, 0 } } },
	{ XZ_AUDIT_DATASET_REPLACED, "dataset_replaced", 0,
	    { { "dataset", XZ_AUDIT_STR }, { "rows", XZ_AUDIT_INT }, { NULL, 0 } } },
	{ XZ_AUDIT_DATASET_DROPPED, "dataset_dropped", 0,
	    { { "dataset", XZ_AUDIT_STR }, { NULL, 0 } } },
	{ XZ_AUDIT_POLICY_LOADED, "policy_loaded", 0,
	    { { "policy", XZ_AUDIT_STR }, { "hash", XZ_AUDIT_HASH }, { NULL, 0 } } },
	{ XZ_AUDIT_POLICY_CHANGED, "policy_changed", 0,
	    { { "policy", XZ_AUDIT_STR }, { "hash", XZ_AUDIT_HASH }, { NULL, 0 } } },
	{ XZ_AUDIT_REQUEST_RECEIVED, "request_received", 1,
	    { { "peer", XZ_AUDIT_STR }, { "mode", XZ_AUDIT_STR }, { NULL, 0 } } },
	{ XZ_AUDIT_DECISION, "decision", 1,
	    { { "outcome", XZ_AUDIT_STR }, { "reason", XZ_AUDIT_STR }, { NULL, 0 } } },
	{ XZ_AUDIT_JOIN_STARTED, "join_started", 1,
	    { { "mode", XZ_AUDIT_STR }, { "role", XZ_AUDIT_STR },
	      { "peer", XZ_AUDIT_STR }, { NULL, 0 } } },
	{ XZ_AUDIT_JOIN_COMPLETED, "join_completed", 1,
	    { { "mode", XZ_AUDIT_STR }, { "role", XZ_AUDIT_STR },
	      { "peer", XZ_AUDIT_STR }, { "local_size", XZ_AUDIT_INT },
	      { "peer_size", XZ_AUDIT_INT }, { "transcript", XZ_AUDIT_HASH },
	      { NULL, 0 } } },
	{ XZ_AUDIT_JOIN_ABORTED, "join_aborted", 1,
	    { { "mode", XZ_AUDIT_STR }, { "role", XZ_AUDIT_STR },
	      { "peer", XZ_AUDIT_STR }, { "reason", XZ_AUDIT_STR }, { NULL, 0 } } },
	{ XZ_AUDIT_DISCLOSURE, "disclosure", 1,
	    { { "peer", XZ_AUDIT_STR }, { "count", XZ_AUDIT_INT }, { NULL, 0 } } },
	{ XZ_AUDIT_LEAD_STATUS_CHANGED, "lead_status_changed", 0,
	    { { "lead", XZ_AUDIT_STR }, { "status", XZ_AUDIT_STR }, { NULL, 0 } } },
	{ XZ_AUDIT_LEADS_PURGED, "leads_purged", 0,
	    { { "older_than_days", XZ_AUDIT_INT }, { "leads", XZ_AUDIT_INT },
	      { "result_rows", XZ_AUDIT_INT }, { NULL, 0 } } },
	{ XZ_AUDIT_EXPORTED, "audit_exported", 0, { { NULL, 0 } } },
	{ XZ_AUDIT_LEADS_EXPORTED, "leads_exported", 0,
	    { { "format", XZ_AUDIT_STR }, { "count", XZ_AUDIT_INT }, { NULL, 0 } } },
	{ XZ_AUDIT_MODEL_RUN_STARTED, "model_run_started", 1,
	    { { "model", XZ_AUDIT_STR }, { "model_sha256", XZ_AUDIT_HASH },
	      { "as_of", XZ_AUDIT_STR }, { "steps", XZ_AUDIT_INT }, { NULL, 0 } } },
	{ XZ_AUDIT_MODEL_RUN_COMPLETED, "model_run_completed", 1,
	    { { "model", XZ_AUDIT_STR }, { "model_sha256", XZ_AUDIT_HASH },
	      { "requests", XZ_AUDIT_STR }, { "leads", XZ_AUDIT_INT }, { NULL, 0 } } },
	{ XZ_AUDIT_MODEL_RUN_FAILED, "model_run_failed", 1,
	    { { "model", XZ_AUDIT_STR }, { "step", XZ_AUDIT_STR },
	      { "reason", XZ_AUDIT_STR }, { NULL, 0 } } },
};

static const struct type_info *
type_info(unsigned type)
{
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		if (types[i].type == type)
			return &types[i];
	}
	return NULL;
}

const char *
xz_audit_type_name(unsigned type)
{
	const struct type_info *t = type_info(type);

	return t != NULL ? t->name : NULL;
}

int
xz_audit_type_from_name(const char *name, enum xz_audit_type *out)
{
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		if (strcmp(types[i].name, name) == 0) {
			*out = (enum xz_audit_type)types[i].type;
			return 0;
		}
	}
	return -1;
}

/* ======================================================================
 * Text checks shared by encoder and decoder
 * ==================================================================== */

/*
 * Valid UTF-8 with no control characters (C0, DEL, C1) and no bidirectional
 * overrides or isolates: what a record holds is printed on auditors'
 * terminals, and must look like what it is.
 */
static int
text_ok(const uint8_t *s, size_t len)
{
	size_t off = 0;

	while (off < len) {
		utf8proc_int32_t cp;
		utf8proc_ssize_t n = utf8proc_iterate(s + off, (utf8proc_ssize_t)(len - off), &cp);
		if (n <= 0 || cp < 0)
			return 0;
		if (cp < 0x20 || (cp >= 0x7f && cp <= 0x9f) ||
		    (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069))
			return 0;
		off += (size_t)n;
	}
	return 1;
}

static int
field_name_ok(const char *s, size_t len)
{
	if (len == 0 || len > XZ_AUDIT_NAME_MAX || s[0] < 'a' || s[0] > 'z')
		return 0;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
			return 0;
	}
	return 1;
}

/* ======================================================================
 * Record encoding (§Records)
 * ==================================================================== */

struct wbuf {
	uint8_t *p;
	size_t len, cap;
	int err;
};

static void
put(struct wbuf *w, const void *src, size_t n)
{
	if (w->err || n > w->cap - w->len) {
		w->err = 1;
		return;
	}
	memcpy(w->p + w->len, src, n);
	w->len += n;
}

static void
put_uint(struct wbuf *w, uint64_t v, size_t bytes)
{
	uint8_t b[8];

	for (size_t i = 0; i < bytes; i++)
		b[i] = (uint8_t)(v >> (8 * (bytes - 1 - i)));
	put(w, b, bytes);
}

static int
check_field(const struct xz_audit_field *f, size_t i, struct xz_diag *d)
{
	if (f->name == NULL || !field_name_ok(f->name, strlen(f->name)))
		return xz_diag_set(d, "audit field %zu: name '%s' is not valid (1 to %d "
		    "of a-z, 0-9, '_', starting with a letter)", i,
		    f->name != NULL ? f->name : "(null)", XZ_AUDIT_NAME_MAX);
	switch (f->kind) {
	case XZ_AUDIT_STR:
		if (f->str == NULL || strlen(f->str) > XZ_AUDIT_STR_MAX)
			return xz_diag_set(d, "audit field '%s': string missing or longer "
			    "than %d bytes", f->name, XZ_AUDIT_STR_MAX);
		if (!text_ok((const uint8_t *)f->str, strlen(f->str)))
			return xz_diag_set(d, "audit field '%s': not UTF-8 text without "
			    "control characters", f->name);
		return 0;
	case XZ_AUDIT_INT:
	case XZ_AUDIT_HASH:
		return 0;
	}
	return xz_diag_set(d, "audit field '%s': unknown kind %d", f->name, (int)f->kind);
}

/* What a type demands beyond the encoding: required fields, their kinds,
 * the request id, and the closed vocabularies crosscheck relies on. */
static int
check_schema(const struct type_info *t, const struct xz_audit_event *ev,
    struct xz_diag *d)
{
	if (t->needs_request && ev->request_id == NULL)
		return xz_diag_set(d, "audit %s record needs a request id", t->name);
	for (const struct required *r = t->req; r->name != NULL; r++) {
		const struct xz_audit_field *f = NULL;
		for (size_t i = 0; i < ev->nfields; i++) {
			if (strcmp(ev->fields[i].name, r->name) == 0)
				f = &ev->fields[i];
		}
		if (f == NULL || f->kind != r->kind)
			return xz_diag_set(d, "audit %s record needs field '%s' (%s)",
			    t->name, r->name, r->kind == XZ_AUDIT_STR ? "string" :
			    r->kind == XZ_AUDIT_INT ? "integer" : "hash");
		if (strcmp(r->name, "role") == 0 && strcmp(f->str, "requester") != 0 &&
		    strcmp(f->str, "responder") != 0)
			return xz_diag_set(d, "audit %s record: role must be 'requester' "
			    "or 'responder', not '%s'", t->name, f->str);
		if (strcmp(r->name, "outcome") == 0 && strcmp(f->str, "allow") != 0 &&
		    strcmp(f->str, "refuse") != 0)
			return xz_diag_set(d, "audit %s record: outcome must be 'allow' "
			    "or 'refuse', not '%s'", t->name, f->str);
	}
	return 0;
}

/* Field order in a record: by name, bytewise (names are ASCII). */
static int
sort_fields(const struct xz_audit_event *ev, const struct xz_audit_field **sorted,
    struct xz_diag *d)
{
	for (size_t i = 0; i < ev->nfields; i++) {
		const struct xz_audit_field *f = &ev->fields[i];
		size_t j = i;
		while (j > 0 && strcmp(sorted[j - 1]->name, f->name) > 0) {
			sorted[j] = sorted[j - 1];
			j--;
		}
		if (j > 0 && strcmp(sorted[j - 1]->name, f->name) == 0)
			return xz_diag_set(d, "audit field '%s' given twice", f->name);
		sorted[j] = f;
	}
	return 0;
}

static int
validate_event(const struct xz_audit_event *ev, const struct xz_audit_field **sorted,
    struct xz_diag *d)
{
	const struct type_info *t = type_info((unsigned)ev->type);
	size_t alen;

	if (t == NULL)
		return xz_diag_set(d, "unknown audit record type %d", (int)ev->type);
	alen = ev->actor != NULL ? strlen(ev->actor) : 0;
	if (alen == 0 || alen > XZ_AUDIT_ACTOR_MAX ||
	    !text_ok((const uint8_t *)ev->actor, alen))
		return xz_diag_set(d, "audit %s record: actor must be 1 to %d bytes of "
		    "UTF-8 text without control characters", t->name, XZ_AUDIT_ACTOR_MAX);
	if (ev->nfields > XZ_AUDIT_FIELDS_MAX || (ev->nfields > 0 && ev->fields == NULL))
		return xz_diag_set(d, "audit %s record: at most %d fields", t->name,
		    XZ_AUDIT_FIELDS_MAX);
	for (size_t i = 0; i < ev->nfields; i++) {
		if (check_field(&ev->fields[i], i, d) != 0)
			return -1;
	}
	if (sort_fields(ev, sorted, d) != 0)
		return -1;
	return check_schema(t, ev, d);
}

int
xz_audit_record_encode(const struct xz_audit_event *ev, uint64_t seq, uint64_t t,
    uint8_t **out, size_t *len, struct xz_diag *d)
{
	const struct xz_audit_field *sorted[XZ_AUDIT_FIELDS_MAX];
	struct wbuf w = { NULL, 0, XZ_AUDIT_RECORD_MAX, 0 };

	if (validate_event(ev, sorted, d) != 0)
		return -1;
	if ((w.p = malloc(w.cap)) == NULL)
		return xz_diag_set(d, "out of memory");
	put_uint(&w, RECORD_VERSION, 1);
	put_uint(&w, seq, 8);
	put_uint(&w, t, 8);
	put_uint(&w, (uint64_t)ev->type, 2);
	put_uint(&w, strlen(ev->actor), 1);
	put(&w, ev->actor, strlen(ev->actor));
	put_uint(&w, ev->request_id != NULL, 1);
	if (ev->request_id != NULL)
		put(&w, ev->request_id, XZ_AUDIT_REQUEST_LEN);
	put_uint(&w, ev->nfields, 1);
	for (size_t i = 0; i < ev->nfields; i++) {
		const struct xz_audit_field *f = sorted[i];
		put_uint(&w, strlen(f->name), 1);
		put(&w, f->name, strlen(f->name));
		put_uint(&w, (uint64_t)f->kind, 1);
		if (f->kind == XZ_AUDIT_STR) {
			put_uint(&w, strlen(f->str), 2);
			put(&w, f->str, strlen(f->str));
		} else if (f->kind == XZ_AUDIT_INT) {
			put_uint(&w, f->num, 8);
		} else {
			put(&w, f->hash, XZ_AUDIT_HASH_LEN);
		}
	}
	if (w.err) {
		free(w.p);
		return xz_diag_set(d, "audit record too large");
	}
	*out = w.p;
	*len = w.len;
	return 0;
}

struct rbuf {
	const uint8_t *p;
	size_t len, off;
};

static int
get(struct rbuf *r, void *dst, size_t n)
{
	if (n > r->len - r->off)
		return -1;
	memcpy(dst, r->p + r->off, n);
	r->off += n;
	return 0;
}

static int
get_uint(struct rbuf *r, size_t bytes, uint64_t *v)
{
	uint8_t b[8];

	if (get(r, b, bytes) != 0)
		return -1;
	*v = 0;
	for (size_t i = 0; i < bytes; i++)
		*v = (*v << 8) | b[i];
	return 0;
}

static int
decode_field(struct rbuf *r, struct xz_audit_rfield *f, const char *prev,
    struct xz_diag *d)
{
	uint64_t nlen, kind, slen;

	if (get_uint(r, 1, &nlen) != 0 || nlen == 0 || nlen > XZ_AUDIT_NAME_MAX ||
	    get(r, f->name, (size_t)nlen) != 0)
		return xz_diag_set(d, "bad field name length at byte %zu", r->off);
	f->name[nlen] = '\0';
	if (!field_name_ok(f->name, (size_t)nlen))
		return xz_diag_set(d, "bad field name at byte %zu", r->off);
	if (prev != NULL && strcmp(prev, f->name) >= 0)
		return xz_diag_set(d, "field '%s' out of order or repeated", f->name);
	if (get_uint(r, 1, &kind) != 0)
		return xz_diag_set(d, "truncated field '%s'", f->name);
	f->kind = (enum xz_audit_kind)kind;
	switch (kind) {
	case XZ_AUDIT_STR:
		if (get_uint(r, 2, &slen) != 0 || slen > XZ_AUDIT_STR_MAX ||
		    get(r, f->str, (size_t)slen) != 0)
			return xz_diag_set(d, "bad string length in field '%s'", f->name);
		f->str[slen] = '\0';
		if (!text_ok((const uint8_t *)f->str, (size_t)slen))
			return xz_diag_set(d, "field '%s' is not UTF-8 text without "
			    "control characters", f->name);
		return 0;
	case XZ_AUDIT_INT:
		return get_uint(r, 8, &f->num) == 0 ? 0 :
		    xz_diag_set(d, "truncated field '%s'", f->name);
	case XZ_AUDIT_HASH:
		return get(r, f->hash, XZ_AUDIT_HASH_LEN) == 0 ? 0 :
		    xz_diag_set(d, "truncated field '%s'", f->name);
	default:
		return xz_diag_set(d, "field '%s' has unknown kind %u", f->name,
		    (unsigned)kind);
	}
}

int
xz_audit_record_decode(const uint8_t *buf, size_t len, struct xz_audit_record *rec,
    struct xz_diag *d)
{
	struct rbuf r = { buf, len, 0 };
	uint64_t v, alen, flag, nfields;

	memset(rec, 0, offsetof(struct xz_audit_record, field));
	if (len > XZ_AUDIT_RECORD_MAX)
		return xz_diag_set(d, "record longer than %d bytes", XZ_AUDIT_RECORD_MAX);
	if (get_uint(&r, 1, &v) != 0 || v != RECORD_VERSION)
		return xz_diag_set(d, "unknown record version");
	if (get_uint(&r, 8, &rec->seq) != 0 || get_uint(&r, 8, &rec->time) != 0 ||
	    get_uint(&r, 2, &v) != 0)
		return xz_diag_set(d, "truncated record header");
	if (v == 0)
		return xz_diag_set(d, "record type 0 is not valid");
	rec->type = (unsigned)v;
	if (get_uint(&r, 1, &alen) != 0 || alen == 0 ||
	    get(&r, rec->actor, (size_t)alen) != 0)
		return xz_diag_set(d, "bad actor length");
	if (!text_ok((const uint8_t *)rec->actor, (size_t)alen))
		return xz_diag_set(d, "actor is not UTF-8 text without control characters");
	if (get_uint(&r, 1, &flag) != 0 || flag > 1)
		return xz_diag_set(d, "bad request-id flag");
	rec->has_request = (int)flag;
	if (flag && get(&r, rec->request_id, XZ_AUDIT_REQUEST_LEN) != 0)
		return xz_diag_set(d, "truncated request id");
	if (get_uint(&r, 1, &nfields) != 0 || nfields > XZ_AUDIT_FIELDS_MAX)
		return xz_diag_set(d, "bad field count");
	for (size_t i = 0; i < nfields; i++) {
		if (decode_field(&r, &rec->field[i], i > 0 ? rec->field[i - 1].name : NULL,
		    d) != 0)
			return -1;
	}
	rec->nfields = (size_t)nfields;
	if (r.off != len)
		return xz_diag_set(d, "%zu bytes after the last field", len - r.off);
	return 0;
}

const struct xz_audit_rfield *
xz_audit_record_field(const struct xz_audit_record *rec, const char *name)
{
	for (size_t i = 0; i < rec->nfields; i++) {
		if (strcmp(rec->field[i].name, name) == 0)
			return &rec->field[i];
	}
	return NULL;
}

/* ======================================================================
 * Checkpoints as C2SP signed notes (§Checkpoints)
 * ==================================================================== */

/* Who signs a log: origin line, key name, key id, public key. */
struct note_key {
	char origin[128];
	char key_name[128];
	uint8_t pk[32];
	uint8_t key_id[KEY_ID_LEN];
};

/* c2sp.org/signed-note: key ID = SHA-256(name || 0x0A || 0x01 || pk)[:4]. */
static void
key_id_of(const char *key_name, const uint8_t pk[32], uint8_t id[KEY_ID_LEN])
{
	crypto_hash_sha256_state st;
	uint8_t h[crypto_hash_sha256_BYTES];
	const uint8_t sep[2] = { '\n', SIG_ALG_ED25519 };

	crypto_hash_sha256_init(&st);
	crypto_hash_sha256_update(&st, (const uint8_t *)key_name, strlen(key_name));
	crypto_hash_sha256_update(&st, sep, sizeof(sep));
	crypto_hash_sha256_update(&st, pk, 32);
	crypto_hash_sha256_final(&st, h);
	memcpy(id, h, KEY_ID_LEN);
}

static int
note_key_init(struct note_key *k, const char *node_name, const uint8_t pk[32],
    struct xz_diag *d)
{
	if (!xz_node_name_valid(node_name))
		return xz_diag_set(d, "node name '%s' cannot name an audit log", node_name);
	snprintf(k->origin, sizeof(k->origin), "%s" ORIGIN_SUFFIX, node_name);
	snprintf(k->key_name, sizeof(k->key_name), "%s" KEYNAME_SUFFIX, node_name);
	memcpy(k->pk, pk, 32);
	key_id_of(k->key_name, pk, k->key_id);
	return 0;
}

static int
node_note_key(struct xz_node *node, struct note_key *k, struct xz_diag *d)
{
	uint8_t pk[32];

	if (xz_node_public_key(node, pk, d) != 0)
		return -1;
	return note_key_init(k, xz_node_name(node), pk, d);
}

/* Builds the signed note for (size, root); *out malloc'd. */
static int
note_sign(const struct note_key *k, const unsigned char *sk, uint64_t size,
    const uint8_t root[HLEN], char **out, struct xz_diag *d)
{
	char body[256], root64[sodium_base64_ENCODED_LEN(HLEN, sodium_base64_VARIANT_ORIGINAL)];
	uint8_t sig[KEY_ID_LEN + crypto_sign_BYTES];
	char sig64[sodium_base64_ENCODED_LEN(sizeof(sig), sodium_base64_VARIANT_ORIGINAL)];
	char *note;
	int n;

	sodium_bin2base64(root64, sizeof(root64), root, HLEN, sodium_base64_VARIANT_ORIGINAL);
	n = snprintf(body, sizeof(body), "%s\n%llu\n%s\n", k->origin,
	    (unsigned long long)size, root64);
	if (n < 0 || (size_t)n >= sizeof(body))
		return xz_diag_set(d, "checkpoint text too long");
	memcpy(sig, k->key_id, KEY_ID_LEN);
	crypto_sign_detached(sig + KEY_ID_LEN, NULL, (const uint8_t *)body, (size_t)n, sk);
	sodium_bin2base64(sig64, sizeof(sig64), sig, sizeof(sig), sodium_base64_VARIANT_ORIGINAL);
	if ((note = malloc(NOTE_MAX)) == NULL)
		return xz_diag_set(d, "out of memory");
	n = snprintf(note, NOTE_MAX, "%s\n" EM_DASH " %s %s\n", body, k->key_name, sig64);
	if (n < 0 || n >= NOTE_MAX) {
		free(note);
		return xz_diag_set(d, "checkpoint too long");
	}
	*out = note;
	return 0;
}

/* Strict decimal: no sign, no leading zero (except "0"), no overflow. */
static int
parse_dec(const char *s, size_t len, uint64_t *out)
{
	uint64_t v = 0;

	if (len == 0 || len > 20 || (len > 1 && s[0] == '0'))
		return -1;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		unsigned dgt = (unsigned)(s[i] - '0');
		if (v > (UINT64_MAX - dgt) / 10)
			return -1;
		v = v * 10 + dgt;
	}
	*out = v;
	return 0;
}

/*
 * Strict base64: exactly one text per byte string.  libsodium 1.0.18's
 * decoder maps some bytes outside the alphabet to a valid value and ignores
 * the unused bits of the last character, so a changed export line could
 * decode to the same record; re-encoding and comparing closes both gaps.
 */
static int
b64_decode(const char *s, size_t len, uint8_t *out, size_t cap, size_t *outlen)
{
	size_t n;

	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		    (c >= '0' && c <= '9') || c == '+' || c == '/' || c == '='))
			return -1;
	}
	if (sodium_base642bin(out, cap, s, len, NULL, &n, NULL,
	    sodium_base64_VARIANT_ORIGINAL) != 0)
		return -1;
	/* Base64 works in independent groups of 3 bytes / 4 characters, so
	 * the re-encoding is compared group by group, without an allocation
	 * whose failure would read as tampering. */
	if (len != sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_ORIGINAL) - 1)
		return -1;
	for (size_t i = 0; i < n; i += 3) {
		char group[5];
		sodium_bin2base64(group, sizeof(group), out + i, n - i < 3 ? n - i : 3,
		    sodium_base64_VARIANT_ORIGINAL);
		if (memcmp(group, s + i / 3 * 4, 4) != 0)
			return -1;
	}
	*outlen = n;
	return 0;
}

/* One signature line (without its newline).  Counts lines from our key that
 * verify in *ours; a line from our key that does not verify fails. */
static int
note_check_sig(const char *line, size_t len, const char *body, size_t body_len,
    const struct note_key *k, int *ours, struct xz_diag *d)
{
	const char *name, *sp;
	uint8_t sig[256];
	size_t siglen;

	if (len < 4 || memcmp(line, EM_DASH " ", 4) != 0)
		return xz_diag_set(d, "signature line does not start with an em dash");
	name = line + 4;
	sp = memchr(name, ' ', len - 4);
	if (sp == NULL || sp == name)
		return xz_diag_set(d, "malformed signature line");
	for (const char *p = name; p < sp; p++) {
		if (*p == '+')
			return xz_diag_set(d, "key name in signature line contains '+'");
	}
	if (b64_decode(sp + 1, len - 4 - (size_t)(sp - name) - 1, sig, sizeof(sig),
	    &siglen) != 0 || siglen < KEY_ID_LEN + 1)
		return xz_diag_set(d, "signature is not valid base64");
	/* c2sp.org/signed-note: signatures from unknown keys are ignored. */
	if ((size_t)(sp - name) != strlen(k->key_name) ||
	    memcmp(name, k->key_name, strlen(k->key_name)) != 0 ||
	    memcmp(sig, k->key_id, KEY_ID_LEN) != 0)
		return 0;
	if (siglen != KEY_ID_LEN + crypto_sign_BYTES ||
	    crypto_sign_verify_detached(sig + KEY_ID_LEN, (const uint8_t *)body,
	    body_len, k->pk) != 0)
		return xz_diag_set(d, "the signature by %s does not verify", k->key_name);
	(*ours)++;
	return 0;
}

/* Only printable ASCII and newlines, except the em dashes that open
 * signature lines: everything xiezhi writes, and nothing else. */
static int
note_bytes_ok(const char *note, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)note[i];
		if (c == '\n' || (c >= 0x20 && c < 0x7f))
			continue;
		if (c == 0xe2 && i + 2 < len && (unsigned char)note[i + 1] == 0x80 &&
		    (unsigned char)note[i + 2] == 0x94 && i > 0 && note[i - 1] == '\n') {
			i += 2;
			continue;
		}
		return 0;
	}
	return 1;
}

/* Splits "origin\nsize\nroot\n" and checks each line. */
static int
note_parse_body(const char *body, size_t len, const struct note_key *k,
    uint64_t *size, uint8_t root[HLEN], struct xz_diag *d)
{
	const char *line[3], *end = body + len;
	size_t llen[3], rootlen;
	const char *p = body;

	for (int i = 0; i < 3; i++) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		if (nl == NULL)
			return xz_diag_set(d, "checkpoint text has fewer than 3 lines");
		line[i] = p;
		llen[i] = (size_t)(nl - p);
		p = nl + 1;
	}
	if (p != end)
		return xz_diag_set(d, "checkpoint has extension lines (xiezhi writes none)");
	if (llen[0] != strlen(k->origin) || memcmp(line[0], k->origin, llen[0]) != 0)
		return xz_diag_set(d, "checkpoint origin is not '%s'", k->origin);
	if (parse_dec(line[1], llen[1], size) != 0)
		return xz_diag_set(d, "checkpoint tree size is not a canonical decimal");
	if (b64_decode(line[2], llen[2], root, HLEN, &rootlen) != 0 || rootlen != HLEN)
		return xz_diag_set(d, "checkpoint root is not 32 bytes of base64");
	return 0;
}

/*
 * c2sp.org/signed-note §Format: the text runs to the last blank line and
 * ends in a newline; signature lines follow.  Our key must have signed it.
 */
static int
note_open(const char *note, size_t len, const struct note_key *k, uint64_t *size,
    uint8_t root[HLEN], struct xz_diag *d)
{
	size_t split = 0, nsig = 0;
	int ours = 0;
	const char *p, *end = note + len;

	if (len == 0 || len > NOTE_MAX || note[len - 1] != '\n' || !note_bytes_ok(note, len))
		return xz_diag_set(d, "checkpoint is not a signed note (bad length or "
		    "characters)");
	for (size_t i = 1; i < len; i++) {
		if (note[i] == '\n' && note[i - 1] == '\n')
			split = i;
	}
	if (split == 0)
		return xz_diag_set(d, "checkpoint has no signature block");
	if (note_parse_body(note, split, k, size, root, d) != 0)
		return -1;
	for (p = note + split + 1; p < end; nsig++) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		if (nsig >= 16)
			return xz_diag_set(d, "checkpoint has more than 16 signatures");
		if (note_check_sig(p, (size_t)(nl - p), note, split, k, &ours, d) != 0)
			return -1;
		p = nl + 1;
	}
	if (ours == 0)
		return xz_diag_set(d, "checkpoint is not signed by key %s", k->key_name);
	return 0;
}

/* ======================================================================
 * Store access
 * ==================================================================== */

static int
tables_exist(sqlite3 *db, int *exist)
{
	sqlite3_stmt *st = NULL;
	int rc = -1;

	if (sqlite3_prepare_v2(db, "SELECT count(*) FROM sqlite_master WHERE type = "
	    "'table' AND name IN ('audit_records', 'audit_checkpoints')", -1, &st,
	    NULL) != SQLITE_OK)
		return -1;
	if (sqlite3_step(st) == SQLITE_ROW) {
		*exist = sqlite3_column_int(st, 0) == 2;
		rc = 0;
	}
	sqlite3_finalize(st);
	return rc;
}

/* The checkpoint row of a given size (0 = the largest).  *note malloc'd;
 * *found = 0 when there is none. */
struct cp_row {
	int found;
	uint64_t size;
	char *note;
	size_t note_len;
	uint8_t frontier[64 * HLEN];
	size_t frontier_len;
};

static int
load_cp_row(struct xz_node *node, uint64_t size, struct cp_row *row, struct xz_diag *d)
{
	sqlite3 *db = xz_node_db(node);
	sqlite3_stmt *st = NULL;
	int exist = 0, step, rc = -1;

	memset(row, 0, sizeof(*row));
	if (tables_exist(db, &exist) != 0)
		return xz_node_db_error(node, "reading the audit log", d);
	if (!exist)
		return 0;
	if (sqlite3_prepare_v2(db, size == 0 ?
	    "SELECT size, frontier, note FROM audit_checkpoints ORDER BY size DESC LIMIT 1" :
	    "SELECT size, frontier, note FROM audit_checkpoints WHERE size = ?1",
	    -1, &st, NULL) != SQLITE_OK ||
	    (size != 0 && sqlite3_bind_int64(st, 1, (sqlite3_int64)size) != SQLITE_OK)) {
		xz_node_db_error(node, "reading audit checkpoints", d);
		goto done;
	}
	step = sqlite3_step(st);
	if (step == SQLITE_DONE) {
		rc = 0;
		goto done;
	}
	if (step != SQLITE_ROW) {
		xz_node_db_error(node, "reading audit checkpoints", d);
		goto done;
	}
	if (sqlite3_column_int64(st, 0) < 1 ||
	    (size_t)sqlite3_column_bytes(st, 1) > sizeof(row->frontier) ||
	    sqlite3_column_bytes(st, 2) > NOTE_MAX) {
		xz_diag_set(d, "audit checkpoint row is malformed: run 'xiezhi audit verify'");
		goto done;
	}
	row->size = (uint64_t)sqlite3_column_int64(st, 0);
	row->frontier_len = (size_t)sqlite3_column_bytes(st, 1);
	if (row->frontier_len > 0)
		memcpy(row->frontier, sqlite3_column_blob(st, 1), row->frontier_len);
	row->note_len = (size_t)sqlite3_column_bytes(st, 2);
	if ((row->note = malloc(row->note_len + 1)) == NULL) {
		xz_diag_set(d, "out of memory");
		goto done;
	}
	memcpy(row->note, sqlite3_column_text(st, 2), row->note_len);
	row->note[row->note_len] = '\0';
	row->found = 1;
	rc = 0;
done:
	sqlite3_finalize(st);
	return rc;
}

/* Number of records = max(seq) + 1, or 0. */
static int
record_count(struct xz_node *node, uint64_t *n, struct xz_diag *d)
{
	sqlite3_stmt *st = NULL;
	int exist = 0, rc = -1;

	*n = 0;
	if (tables_exist(xz_node_db(node), &exist) != 0)
		return xz_node_db_error(node, "reading the audit log", d);
	if (!exist)
		return 0;
	if (sqlite3_prepare_v2(xz_node_db(node), "SELECT max(seq) FROM audit_records",
	    -1, &st, NULL) != SQLITE_OK || sqlite3_step(st) != SQLITE_ROW) {
		xz_node_db_error(node, "reading the audit log", d);
		goto done;
	}
	if (sqlite3_column_type(st, 0) != SQLITE_NULL) {
		sqlite3_int64 m = sqlite3_column_int64(st, 0);
		if (m < 0) {
			xz_diag_set(d, "audit record with negative number: run 'xiezhi "
			    "audit verify'");
			goto done;
		}
		*n = (uint64_t)m + 1;
	}
	rc = 0;
done:
	sqlite3_finalize(st);
	return rc;
}

/* ======================================================================
 * Append (§Appending)
 * ==================================================================== */

struct append_ctx {
	const struct xz_audit_event *ev;
	uint64_t seq;
};

/* The latest checkpoint, checked to be ours, to match its frontier and to
 * cover every stored record: the tree we are about to extend.  A log that
 * does not add up is not extended; verify says what is wrong with it. */
static int
load_tip(struct xz_node *node, const struct note_key *k, struct xz_merkle_frontier *f,
    struct xz_diag *d)
{
	struct cp_row row;
	struct xz_diag why = { "" };
	uint64_t size = 0, nrec;
	uint8_t root[HLEN], froot[HLEN];
	int rc = -1;

	xz_merkle_frontier_init(f);
	if (load_cp_row(node, 0, &row, d) != 0 || record_count(node, &nrec, d) != 0)
		goto done;
	if (row.found && note_open(row.note, row.note_len, k, &size, root, &why) != 0) {
		xz_diag_set(d, "the latest audit checkpoint is bad (%s); nothing was "
		    "appended. Run 'xiezhi audit verify'", why.msg);
		goto done;
	}
	if (row.found && (size != row.size ||
	    xz_merkle_frontier_load(f, size, row.frontier, row.frontier_len) != 0 ||
	    xz_merkle_frontier_root(f, froot) != 0 || memcmp(froot, root, HLEN) != 0)) {
		xz_diag_set(d, "the latest audit checkpoint (size %llu) does not match "
		    "its stored tree state; nothing was appended. Run 'xiezhi audit "
		    "verify'", (unsigned long long)row.size);
		goto done;
	}
	if (nrec != size) {
		xz_diag_set(d, "the audit log holds %llu records but its latest "
		    "checkpoint covers %llu; nothing was appended. Run 'xiezhi audit "
		    "verify'", (unsigned long long)nrec, (unsigned long long)size);
		goto done;
	}
	rc = 0;
done:
	free(row.note);
	return rc;
}

static int
insert_rows(struct xz_node *node, uint64_t seq, const uint8_t *body, size_t len,
    const struct xz_merkle_frontier *f, const char *note, struct xz_diag *d)
{
	sqlite3 *db = xz_node_db(node);
	sqlite3_stmt *r = NULL, *c = NULL;
	int rc = -1;

	if (sqlite3_prepare_v2(db, "INSERT INTO audit_records(seq, body) VALUES (?1, ?2)",
	    -1, &r, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db, "INSERT INTO audit_checkpoints(size, frontier, note) "
	    "VALUES (?1, ?2, ?3)", -1, &c, NULL) != SQLITE_OK)
		goto fail;
	if (sqlite3_bind_int64(r, 1, (sqlite3_int64)seq) != SQLITE_OK ||
	    sqlite3_bind_blob(r, 2, body, (int)len, SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_step(r) != SQLITE_DONE)
		goto fail;
	if (sqlite3_bind_int64(c, 1, (sqlite3_int64)f->size) != SQLITE_OK ||
	    sqlite3_bind_blob(c, 2, f->hash, (int)xz_merkle_frontier_len(f),
	    SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_bind_text(c, 3, note, -1, SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_step(c) != SQLITE_DONE)
		goto fail;
	rc = 0;
	goto done;
fail:
	xz_node_db_error(node, "writing the audit record", d);
done:
	sqlite3_finalize(r);
	sqlite3_finalize(c);
	return rc;
}

static int
append_in_tx(struct xz_node *node, void *arg, struct xz_diag *d)
{
	struct append_ctx *a = arg;
	struct note_key k;
	struct xz_merkle_frontier f;
	unsigned char *sk = NULL;
	uint8_t pk[32], leaf[HLEN], root[HLEN];
	uint8_t *body = NULL;
	size_t len = 0;
	char *note = NULL;
	int rc = -1;

	if (sqlite3_exec(xz_node_db(node), schema_sql, NULL, NULL, NULL) != SQLITE_OK)
		return xz_node_db_error(node, "creating the audit log tables", d);
	if (xz_node_load_signing_key(node, &sk, d) != 0)
		return -1;
	crypto_sign_ed25519_sk_to_pk(pk, sk);
	if (note_key_init(&k, xz_node_name(node), pk, d) != 0 || load_tip(node, &k, &f, d) != 0)
		goto done;
	a->seq = f.size;
	if (xz_audit_record_encode(a->ev, a->seq, (uint64_t)time(NULL), &body, &len, d) != 0)
		goto done;
	if (xz_merkle_leaf_hash(body, len, leaf) != 0 || xz_merkle_frontier_append(&f, leaf) != 0 ||
	    xz_merkle_frontier_root(&f, root) != 0) {
		xz_diag_set(d, "hashing the audit record failed");
		goto done;
	}
	if (note_sign(&k, sk, f.size, root, &note, d) != 0 ||
	    insert_rows(node, a->seq, body, len, &f, note, d) != 0)
		goto done;
	rc = 0;
done:
	xz_node_free_signing_key(sk);
	free(body);
	free(note);
	return rc;
}

int
xz_audit_append(struct xz_node *node, const struct xz_audit_event *ev,
    uint64_t *seq_out, struct xz_diag *d)
{
	struct append_ctx a = { ev, 0 };
	const struct xz_audit_field *sorted[XZ_AUDIT_FIELDS_MAX];
	int rc;

	/* Refuse a bad event before touching the store or the key. */
	if (validate_event(ev, sorted, d) != 0)
		return -1;
	if (!sqlite3_get_autocommit(xz_node_db(node)))
		rc = append_in_tx(node, &a, d);
	else
		rc = xz_node_transaction(node, append_in_tx, &a, d);
	if (rc == 0 && seq_out != NULL)
		*seq_out = a.seq;
	return rc;
}

/* ======================================================================
 * The anchor file DIR/audit/checkpoint (§Anti-rollback)
 * ==================================================================== */

static char *
anchor_path(struct xz_node *node, const char *file)
{
	size_t n = strlen(xz_node_dir(node)) + strlen(file) + 16;
	char *p = malloc(n);

	if (p != NULL)
		snprintf(p, n, "%s/audit%s%s", xz_node_dir(node), *file ? "/" : "", file);
	return p;
}

/* Reads the anchor file: *present = 0 when it does not exist. */
static int
read_anchor(struct xz_node *node, char *buf, size_t *len, int *present,
    struct xz_diag *d)
{
	char *path = anchor_path(node, "checkpoint");
	struct stat st;
	int fd = -1, rc = -1;
	ssize_t n;

	*present = 0;
	if (path == NULL)
		return xz_diag_set(d, "out of memory");
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT) {
		rc = 0;
		goto done;
	}
	if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		xz_diag_set(d, "cannot read %s: %s", path, fd < 0 ? strerror(errno) :
		    "not a regular file");
		goto done;
	}
	if (st.st_size <= 0 || st.st_size > ANCHOR_MAX) {
		xz_diag_set(d, "%s has %lld bytes; a checkpoint has 1 to %d", path,
		    (long long)st.st_size, ANCHOR_MAX);
		goto done;
	}
	n = read(fd, buf, (size_t)st.st_size);
	if (n != st.st_size) {
		xz_diag_set(d, "cannot read %s: %s", path, n < 0 ? strerror(errno) : "short read");
		goto done;
	}
	*len = (size_t)n;
	*present = 1;
	rc = 0;
done:
	if (fd >= 0)
		close(fd);
	free(path);
	return rc;
}

struct anchor {
	int present;
	uint64_t size;
	uint8_t root[HLEN];
};

static int
load_anchor(struct xz_node *node, const struct note_key *k, struct anchor *a,
    struct xz_diag *d)
{
	char buf[ANCHOR_MAX];
	size_t len = 0;
	struct xz_diag why = { "" };

	memset(a, 0, sizeof(*a));
	if (read_anchor(node, buf, &len, &a->present, d) != 0)
		return -1;
	if (!a->present)
		return 0;
	if (note_open(buf, len, k, &a->size, a->root, &why) != 0)
		return xz_diag_set(d, "%s/audit/checkpoint is not a checkpoint signed by "
		    "this node (%s): it was altered or belongs to another node. Do not "
		    "start the node; find out who changed it", xz_node_dir(node), why.msg);
	return 0;
}

/*
 * The anchor against the store's checkpoints: the store must contain the
 * anchor's tree.  *store_size gets the store's latest size.
 */
static int
anchor_against_store(struct xz_node *node, const struct note_key *k,
    const struct anchor *a, uint64_t *store_size, struct xz_diag *d)
{
	struct cp_row latest = { 0 }, at = { 0 };
	uint64_t size, nrec;
	uint8_t root[HLEN];
	int rc = -1;

	if (load_cp_row(node, 0, &latest, d) != 0 || record_count(node, &nrec, d) != 0)
		goto done;
	*store_size = latest.found ? latest.size : 0;
	if (nrec != *store_size) {
		xz_diag_set(d, "the audit log holds %llu records but its latest checkpoint "
		    "covers %llu: records were removed or added outside xiezhi. Do not "
		    "run the node; investigate with 'xiezhi audit verify'",
		    (unsigned long long)nrec, (unsigned long long)*store_size);
		goto done;
	}
	if (!a->present) {
		if (*store_size > 0) {
			xz_diag_set(d, "%s/audit/checkpoint is missing but the audit log has "
			    "%llu records: the file was deleted, so a rollback of the store "
			    "cannot be ruled out. If you know why it is gone, check the log "
			    "with 'xiezhi audit verify' and against your last export, then "
			    "write the file again with 'xiezhi audit publish'",
			    xz_node_dir(node), (unsigned long long)*store_size);
			goto done;
		}
		rc = 0;
		goto done;
	}
	if (a->size > *store_size) {
		xz_diag_set(d, "audit log rollback: the store holds %llu audit records "
		    "but %s/audit/checkpoint shows this node had already signed %llu. "
		    "The store was restored from an older copy or records were removed. "
		    "Do not run the node: restore the newest store.db (with its -wal "
		    "file) or investigate with 'xiezhi audit verify'",
		    (unsigned long long)*store_size, xz_node_dir(node),
		    (unsigned long long)a->size);
		goto done;
	}
	if (a->size == 0) {
		rc = 0;
		goto done;
	}
	if (load_cp_row(node, a->size, &at, d) != 0)
		goto done;
	if (!at.found || note_open(at.note, at.note_len, k, &size, root, d) != 0 ||
	    size != a->size || memcmp(root, a->root, HLEN) != 0) {
		xz_diag_set(d, "audit log inconsistent with %s/audit/checkpoint: the "
		    "store's tree of size %llu is not the one this node signed there. "
		    "The store was replaced or rewritten. Do not run the node; compare "
		    "with your last export and restore the right store.db",
		    xz_node_dir(node), (unsigned long long)a->size);
		goto done;
	}
	rc = 0;
done:
	free(latest.note);
	free(at.note);
	return rc;
}

int
xz_audit_check_anchor(struct xz_node *node, struct xz_diag *d)
{
	struct note_key k;
	struct anchor a;
	uint64_t n;

	if (node_note_key(node, &k, d) != 0 || load_anchor(node, &k, &a, d) != 0)
		return -1;
	return anchor_against_store(node, &k, &a, &n, d);
}

static int
fsync_path(const char *path, int flags)
{
	int fd = open(path, flags | O_CLOEXEC);
	int rc;

	if (fd < 0)
		return -1;
	rc = fsync(fd);
	close(fd);
	return rc;
}

static int
write_file_atomic(const char *dir, const char *tmp, const char *final,
    const char *data, size_t len, struct xz_diag *d)
{
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
	size_t off = 0;

	if (fd < 0)
		return xz_diag_set(d, "cannot create %s: %s", tmp, strerror(errno));
	while (off < len) {
		ssize_t n = write(fd, data + off, len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			xz_diag_set(d, "cannot write %s: %s", tmp, strerror(errno));
			close(fd);
			unlink(tmp);
			return -1;
		}
		off += (size_t)n;
	}
	if (fsync(fd) != 0 || close(fd) != 0) {
		xz_diag_set(d, "cannot sync %s: %s", tmp, strerror(errno));
		unlink(tmp);
		return -1;
	}
	if (rename(tmp, final) != 0) {
		xz_diag_set(d, "cannot rename %s to %s: %s", tmp, final, strerror(errno));
		unlink(tmp);
		return -1;
	}
	if (fsync_path(dir, O_RDONLY | O_DIRECTORY) != 0)
		return xz_diag_set(d, "cannot sync directory %s: %s", dir, strerror(errno));
	return 0;
}

/* Serialises publishers: two processes must not race an older checkpoint
 * over a newer one.  Returns the lock fd or -1. */
static int
lock_audit_dir(const char *dir, struct xz_diag *d)
{
	size_t n = strlen(dir) + 8;
	char *p = malloc(n);
	int fd;

	if (p == NULL)
		return xz_diag_set(d, "out of memory");
	snprintf(p, n, "%s/.lock", dir);
	fd = open(p, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0 || flock(fd, LOCK_EX) != 0) {
		xz_diag_set(d, "cannot lock %s: %s", p, strerror(errno));
		if (fd >= 0)
			close(fd);
		fd = -1;
	}
	free(p);
	return fd;
}

int
xz_audit_publish(struct xz_node *node, struct xz_diag *d)
{
	struct note_key k;
	struct anchor a;
	struct cp_row latest = { 0 };
	char *dir = anchor_path(node, ""), *tmp = anchor_path(node, "checkpoint.tmp");
	char *final = anchor_path(node, "checkpoint");
	uint64_t n = 0;
	int lock = -1, rc = -1;

	if (dir == NULL || tmp == NULL || final == NULL) {
		xz_diag_set(d, "out of memory");
		goto done;
	}
	if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
		xz_diag_set(d, "cannot create %s: %s", dir, strerror(errno));
		goto done;
	}
	if ((lock = lock_audit_dir(dir, d)) < 0 || node_note_key(node, &k, d) != 0 ||
	    load_anchor(node, &k, &a, d) != 0)
		goto done;
	/* A missing anchor with a non-empty log is what publish is for. */
	if (a.present && anchor_against_store(node, &k, &a, &n, d) != 0)
		goto done;
	if (load_cp_row(node, 0, &latest, d) != 0)
		goto done;
	if (!latest.found || (a.present && a.size >= latest.size)) {
		rc = 0;
		goto done;
	}
	rc = write_file_atomic(dir, tmp, final, latest.note, latest.note_len, d);
done:
	if (lock >= 0)
		close(lock);
	free(latest.note);
	free(dir);
	free(tmp);
	free(final);
	return rc;
}

int
xz_audit_latest_checkpoint(struct xz_node *node, char **note, uint64_t *size,
    struct xz_diag *d)
{
	struct cp_row row;

	*note = NULL;
	*size = 0;
	if (load_cp_row(node, 0, &row, d) != 0)
		return -1;
	*note = row.note;
	*size = row.found ? row.size : 0;
	return 0;
}

/* ======================================================================
 * Walking the stored log: verify, foreach, export (§Verification)
 * ==================================================================== */

struct walk {
	struct xz_node *node;
	struct note_key key;
	int check_sigs;
	xz_audit_record_fn fn;
	void *arg;
	FILE *out;			/* export lines go here when set */
	struct anchor anchor;
	int anchor_seen;
	struct xz_merkle_frontier f;
	uint64_t checkpoints, last_cp;
	struct xz_audit_record *rec;
};

static int
b64_line(FILE *out, char tag, const void *data, size_t len)
{
	size_t cap = sodium_base64_ENCODED_LEN(len, sodium_base64_VARIANT_ORIGINAL);
	char *b = malloc(cap);
	int rc = -1;

	if (b == NULL)
		return -1;
	sodium_bin2base64(b, cap, data, len, sodium_base64_VARIANT_ORIGINAL);
	if (fprintf(out, "%c %s\n", tag, b) > 0)
		rc = 0;
	free(b);
	return rc;
}

/* A stored checkpoint met when the rebuilt tree has reached its size. */
static int
walk_checkpoint(struct walk *w, sqlite3_stmt *c, struct xz_diag *d)
{
	uint64_t size = (uint64_t)sqlite3_column_int64(c, 0), nsize;
	const char *note = (const char *)sqlite3_column_text(c, 2);
	size_t note_len = (size_t)sqlite3_column_bytes(c, 2);
	uint8_t root[HLEN], nroot[HLEN];
	struct xz_diag why = { "" };

	if (xz_merkle_frontier_root(&w->f, root) != 0)
		return xz_diag_set(d, "hashing failed");
	if (w->check_sigs) {
		if (note == NULL || note_open(note, note_len, &w->key, &nsize, nroot, &why) != 0)
			return xz_diag_set(d, "checkpoint %llu is bad: %s",
			    (unsigned long long)size, note == NULL ? "no note" : why.msg);
		if (nsize != size || memcmp(nroot, root, HLEN) != 0)
			return xz_diag_set(d, "checkpoint %llu does not match the records: "
			    "a record up to seq %llu was altered, or the checkpoint was "
			    "replaced", (unsigned long long)size, (unsigned long long)size - 1);
		const void *fr = sqlite3_column_blob(c, 1);
		size_t frlen = (size_t)sqlite3_column_bytes(c, 1);
		if (fr == NULL || frlen != xz_merkle_frontier_len(&w->f) ||
		    memcmp(fr, w->f.hash, frlen) != 0)
			return xz_diag_set(d, "checkpoint %llu: stored tree state differs "
			    "from the records", (unsigned long long)size);
	}
	if (w->anchor.present && w->anchor.size == size) {
		if (memcmp(root, w->anchor.root, HLEN) != 0)
			return xz_diag_set(d, "the records up to %llu are not the ones "
			    "signed in %s/audit/checkpoint: the log was rewritten",
			    (unsigned long long)size - 1, xz_node_dir(w->node));
		w->anchor_seen = 1;
	}
	if (w->out != NULL && b64_line(w->out, 'c', note, note_len) != 0)
		return xz_diag_set(d, "writing the export failed: %s", strerror(errno));
	w->checkpoints++;
	w->last_cp = size;
	return 0;
}

static int
walk_record(struct walk *w, sqlite3_stmt *r, uint64_t i, struct xz_diag *d)
{
	sqlite3_int64 seq = sqlite3_column_int64(r, 0);
	const uint8_t *body = sqlite3_column_blob(r, 1);
	size_t len = (size_t)sqlite3_column_bytes(r, 1);
	uint8_t leaf[HLEN];
	struct xz_diag why = { "" };

	if (seq < 0 || (uint64_t)seq != i)
		return xz_diag_set(d, "record %llu is missing (the next stored record is "
		    "%lld): records were deleted or renumbered", (unsigned long long)i,
		    (long long)seq);
	if (body == NULL || xz_audit_record_decode(body, len, w->rec, &why) != 0)
		return xz_diag_set(d, "record %llu is malformed: %s", (unsigned long long)i,
		    body == NULL ? "empty" : why.msg);
	if (w->rec->seq != i)
		return xz_diag_set(d, "record stored at %llu says it is record %llu: "
		    "records were reordered or moved", (unsigned long long)i,
		    (unsigned long long)w->rec->seq);
	if (xz_merkle_leaf_hash(body, len, leaf) != 0 ||
	    xz_merkle_frontier_append(&w->f, leaf) != 0)
		return xz_diag_set(d, "hashing failed");
	if (w->out != NULL && b64_line(w->out, 'r', body, len) != 0)
		return xz_diag_set(d, "writing the export failed: %s", strerror(errno));
	if (w->fn != NULL && w->fn(w->arg, w->rec, d) != 0)
		return -1;
	return 0;
}

/* Steps c to the next checkpoint row; *have = 0 at the end. */
static int
next_cp(struct xz_node *node, sqlite3_stmt *c, int *have, struct xz_diag *d)
{
	int s = sqlite3_step(c);

	if (s == SQLITE_ROW) {
		*have = 1;
		return 0;
	}
	*have = 0;
	return s == SQLITE_DONE ? 0 : xz_node_db_error(node, "reading audit checkpoints", d);
}

static int
walk_rows(struct walk *w, sqlite3_stmt *r, sqlite3_stmt *c, struct xz_diag *d)
{
	uint64_t i = 0;
	int have_cp, s;

	if (next_cp(w->node, c, &have_cp, d) != 0)
		return -1;
	/* Every append signs the tree it made: record i is followed by the
	 * checkpoint of size i + 1, and there are no others. */
	while ((s = sqlite3_step(r)) == SQLITE_ROW) {
		if (walk_record(w, r, i, d) != 0)
			return -1;
		i++;
		if (have_cp && sqlite3_column_int64(c, 0) < (sqlite3_int64)i)
			return xz_diag_set(d, "checkpoint %lld does not fit the records "
			    "(size 0 or out of order)", (long long)sqlite3_column_int64(c, 0));
		if (!have_cp || (uint64_t)sqlite3_column_int64(c, 0) != i)
			return xz_diag_set(d, "record %llu is not covered by any signed "
			    "checkpoint (none of size %llu): it was added outside xiezhi, "
			    "or checkpoints were removed", (unsigned long long)i - 1,
			    (unsigned long long)i);
		if (walk_checkpoint(w, c, d) != 0 || next_cp(w->node, c, &have_cp, d) != 0)
			return -1;
	}
	if (s != SQLITE_DONE)
		return xz_node_db_error(w->node, "reading audit records", d);
	if (have_cp)
		return xz_diag_set(d, "checkpoint %lld covers more records than the %llu "
		    "stored: records were deleted from the end of the log",
		    (long long)sqlite3_column_int64(c, 0), (unsigned long long)i);
	return 0;
}

/* Runs the walk inside one read transaction (a consistent snapshot). */
static int
walk_store(struct walk *w, struct xz_diag *d)
{
	sqlite3 *db = xz_node_db(w->node);
	sqlite3_stmt *r = NULL, *c = NULL;
	int exist = 0, own_tx = sqlite3_get_autocommit(db), rc = -1;

	xz_merkle_frontier_init(&w->f);
	if ((w->rec = malloc(sizeof(*w->rec))) == NULL)
		return xz_diag_set(d, "out of memory");
	if (own_tx && sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK) {
		xz_node_db_error(w->node, "reading the audit log", d);
		goto done;
	}
	if (tables_exist(db, &exist) != 0) {
		xz_node_db_error(w->node, "reading the audit log", d);
		goto done;
	}
	if (!exist) {
		rc = 0;
		goto done;
	}
	if (sqlite3_prepare_v2(db, "SELECT seq, body FROM audit_records ORDER BY seq",
	    -1, &r, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db, "SELECT size, frontier, note FROM audit_checkpoints "
	    "ORDER BY size", -1, &c, NULL) != SQLITE_OK) {
		xz_node_db_error(w->node, "reading the audit log", d);
		goto done;
	}
	rc = walk_rows(w, r, c, d);
done:
	sqlite3_finalize(r);
	sqlite3_finalize(c);
	if (own_tx)
		sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
	free(w->rec);
	w->rec = NULL;
	return rc;
}

static void
fill_status(const struct walk *w, struct xz_audit_status *st)
{
	memset(st, 0, sizeof(*st));
	st->size = w->f.size;
	xz_merkle_frontier_root(&w->f, st->root);
	st->checkpoints = w->checkpoints;
	snprintf(st->origin, sizeof(st->origin), "%s", w->key.origin);
	snprintf(st->key_name, sizeof(st->key_name), "%s", w->key.key_name);
	sodium_bin2hex(st->key_id, sizeof(st->key_id), w->key.key_id, KEY_ID_LEN);
	memcpy(st->public_key, w->key.pk, 32);
	st->anchor_present = w->anchor.present;
	st->anchor_size = w->anchor.size;
}

int
xz_audit_verify(struct xz_node *node, struct xz_audit_status *st, struct xz_diag *d)
{
	struct walk w = { .node = node, .check_sigs = 1 };

	if (node_note_key(node, &w.key, d) != 0 || load_anchor(node, &w.key, &w.anchor, d) != 0)
		return -1;
	if (walk_store(&w, d) != 0)
		return -1;
	if (w.anchor.present && w.anchor.size > w.f.size)
		return xz_diag_set(d, "audit log rollback: the store holds %llu records "
		    "but %s/audit/checkpoint shows %llu were signed. The store was "
		    "restored from an older copy or records were removed from the end",
		    (unsigned long long)w.f.size, xz_node_dir(node),
		    (unsigned long long)w.anchor.size);
	if (w.anchor.present && w.anchor.size > 0 && !w.anchor_seen)
		return xz_diag_set(d, "the store has no checkpoint of size %llu, the one "
		    "in %s/audit/checkpoint: checkpoints were removed",
		    (unsigned long long)w.anchor.size, xz_node_dir(node));
	if (st != NULL)
		fill_status(&w, st);
	return 0;
}

int
xz_audit_foreach(struct xz_node *node, xz_audit_record_fn fn, void *arg,
    struct xz_diag *d)
{
	struct walk w = { .node = node, .check_sigs = 0, .fn = fn, .arg = arg };

	if (node_note_key(node, &w.key, d) != 0)
		return -1;
	return walk_store(&w, d);
}

static void
vkey_string(const struct note_key *k, char *out, size_t cap)
{
	uint8_t typed[33];
	char id[2 * KEY_ID_LEN + 1];
	char b64[sodium_base64_ENCODED_LEN(33, sodium_base64_VARIANT_ORIGINAL)];

	typed[0] = SIG_ALG_ED25519;
	memcpy(typed + 1, k->pk, 32);
	sodium_bin2hex(id, sizeof(id), k->key_id, KEY_ID_LEN);
	sodium_bin2base64(b64, sizeof(b64), typed, sizeof(typed), sodium_base64_VARIANT_ORIGINAL);
	snprintf(out, cap, "%s+%s+%s", k->key_name, id, b64);
}

int
xz_audit_export(struct xz_node *node, FILE *out, uint64_t *size_out, struct xz_diag *d)
{
	struct walk w = { .node = node, .check_sigs = 1, .out = out };
	char vkey[256];

	if (node_note_key(node, &w.key, d) != 0)
		return -1;
	vkey_string(&w.key, vkey, sizeof(vkey));
	if (fprintf(out, EXPORT_MAGIC "\norigin %s\nvkey %s\n", w.key.origin, vkey) < 0)
		return xz_diag_set(d, "writing the export failed: %s", strerror(errno));
	if (walk_store(&w, d) != 0)
		return -1;
	if (w.f.size == 0)
		return xz_diag_set(d, "the audit log is empty: nothing to export");
	if (fprintf(out, "end %llu\n", (unsigned long long)w.f.size) < 0 || fflush(out) != 0)
		return xz_diag_set(d, "writing the export failed: %s", strerror(errno));
	if (size_out != NULL)
		*size_out = w.f.size;
	return 0;
}

/* ======================================================================
 * Proofs
 * ==================================================================== */

struct leaf_reader {
	struct xz_node *node;
	sqlite3_stmt *st;
};

static int
store_leaf(void *ctx, uint64_t index, uint8_t out[HLEN])
{
	struct leaf_reader *lr = ctx;
	int rc = -1;

	if (sqlite3_reset(lr->st) != SQLITE_OK ||
	    sqlite3_bind_int64(lr->st, 1, (sqlite3_int64)index) != SQLITE_OK)
		return -1;
	if (sqlite3_step(lr->st) == SQLITE_ROW) {
		const void *b = sqlite3_column_blob(lr->st, 0);
		size_t n = (size_t)sqlite3_column_bytes(lr->st, 0);
		if (b != NULL && n <= XZ_AUDIT_RECORD_MAX)
			rc = xz_merkle_leaf_hash(b, n, out);
	}
	return rc;
}

/* The signed checkpoint of `size` (0 = latest), opened. */
static int
signed_cp(struct xz_node *node, const struct note_key *k, uint64_t size, char **note,
    uint64_t *size_out, uint8_t root[HLEN], struct xz_diag *d)
{
	struct cp_row row;
	struct xz_diag why = { "" };

	if (load_cp_row(node, size, &row, d) != 0)
		return -1;
	if (!row.found) {
		free(row.note);
		if (size == 0)
			return xz_diag_set(d, "the audit log is empty");
		return xz_diag_set(d, "the audit log has no checkpoint of size %llu",
		    (unsigned long long)size);
	}
	if (note_open(row.note, row.note_len, k, size_out, root, &why) != 0 ||
	    *size_out != row.size) {
		free(row.note);
		return xz_diag_set(d, "checkpoint %llu is bad (%s): run 'xiezhi audit "
		    "verify'", (unsigned long long)row.size, why.msg);
	}
	*note = row.note;
	return 0;
}

static int
leaf_reader_open(struct xz_node *node, struct leaf_reader *lr, struct xz_diag *d)
{
	lr->node = node;
	lr->st = NULL;
	if (sqlite3_prepare_v2(xz_node_db(node), "SELECT body FROM audit_records "
	    "WHERE seq = ?1", -1, &lr->st, NULL) != SQLITE_OK)
		return xz_node_db_error(node, "reading audit records", d);
	return 0;
}

int
xz_audit_prove(struct xz_node *node, uint64_t seq, uint64_t size,
    struct xz_audit_inclusion *out, struct xz_diag *d)
{
	struct note_key k;
	struct leaf_reader lr = { node, NULL };
	int rc = -1;

	memset(out, 0, sizeof(*out));
	if (node_note_key(node, &k, d) != 0 ||
	    signed_cp(node, &k, size, &out->note, &out->size, out->root, d) != 0)
		return -1;
	out->seq = seq;
	if (seq >= out->size) {
		xz_diag_set(d, "record %llu is not in the tree of size %llu (records are "
		    "numbered from 0)", (unsigned long long)seq, (unsigned long long)out->size);
		goto done;
	}
	if (leaf_reader_open(node, &lr, d) != 0)
		goto done;
	if (store_leaf(&lr, seq, out->leaf) != 0 ||
	    xz_merkle_inclusion_proof(store_leaf, &lr, out->size, seq, &out->proof) != 0) {
		xz_diag_set(d, "cannot read the records to build the proof: run "
		    "'xiezhi audit verify'");
		goto done;
	}
	if (xz_merkle_inclusion_verify(seq, out->size, out->leaf, &out->proof, out->root) != 0) {
		xz_diag_set(d, "the stored records do not match checkpoint %llu: run "
		    "'xiezhi audit verify'", (unsigned long long)out->size);
		goto done;
	}
	rc = 0;
done:
	sqlite3_finalize(lr.st);
	if (rc != 0) {
		free(out->note);
		out->note = NULL;
	}
	return rc;
}

int
xz_audit_consistency(struct xz_node *node, uint64_t from,
    struct xz_audit_consistency *out, struct xz_diag *d)
{
	struct note_key k;
	struct leaf_reader lr = { node, NULL };
	int rc = -1;

	memset(out, 0, sizeof(*out));
	if (from == 0)
		return xz_diag_set(d, "--from must be at least 1 (every log extends the "
		    "empty one)");
	if (node_note_key(node, &k, d) != 0 ||
	    signed_cp(node, &k, 0, &out->new_note, &out->to, out->new_root, d) != 0)
		return -1;
	if (from > out->to) {
		xz_diag_set(d, "the log has %llu records, fewer than %llu: if you hold a "
		    "checkpoint of that size from this node, the log was rolled back",
		    (unsigned long long)out->to, (unsigned long long)from);
		goto done;
	}
	if (signed_cp(node, &k, from, &out->old_note, &out->from, out->old_root, d) != 0 ||
	    leaf_reader_open(node, &lr, d) != 0)
		goto done;
	if (xz_merkle_consistency_proof(store_leaf, &lr, out->from, out->to, &out->proof) != 0 ||
	    xz_merkle_consistency_verify(out->from, out->to, out->old_root, out->new_root,
	    &out->proof) != 0) {
		xz_diag_set(d, "the stored records do not connect checkpoints %llu and "
		    "%llu: run 'xiezhi audit verify'", (unsigned long long)out->from,
		    (unsigned long long)out->to);
		goto done;
	}
	rc = 0;
done:
	sqlite3_finalize(lr.st);
	if (rc != 0) {
		free(out->old_note);
		free(out->new_note);
		out->old_note = out->new_note = NULL;
	}
	return rc;
}

/* ======================================================================
 * Verifying an export (§Exports): hostile input, read line by line
 * ==================================================================== */

/* Reads one '\n'-terminated line of at most cap - 1 bytes, without NUL or
 * CR; *len excludes the newline.  Returns 1 for a line, 0 at a clean EOF,
 * -1 on a bad line. */
static int
read_line(FILE *in, char *buf, size_t cap, size_t *len, const char **why)
{
	size_t n = 0;
	int c;

	while ((c = getc_unlocked(in)) != EOF) {
		if (c == '\n') {
			buf[n] = '\0';
			*len = n;
			return 1;
		}
		if (c == '\0' || c == '\r') {
			*why = "NUL or carriage return in line";
			return -1;
		}
		if (n + 1 >= cap) {
			*why = "line too long";
			return -1;
		}
		buf[n++] = (char)c;
	}
	if (ferror(in)) {
		*why = "read error";
		return -1;
	}
	if (n > 0) {
		*why = "last line has no newline (truncated file?)";
		return -1;
	}
	return 0;
}

/* "name+hex8+base64(0x01 || pk)": c2sp.org/signed-note verifier key. */
static int
parse_vkey(const char *s, char *name, size_t name_cap, uint8_t pk[32])
{
	const char *p1 = strchr(s, '+'), *p2;
	uint8_t typed[33], id[KEY_ID_LEN], want[KEY_ID_LEN];
	size_t n;

	if (p1 == NULL || (p2 = strchr(p1 + 1, '+')) == NULL || p1 == s ||
	    (size_t)(p1 - s) >= name_cap || p2 - p1 != 9)
		return -1;
	memcpy(name, s, (size_t)(p1 - s));
	name[p1 - s] = '\0';
	for (const char *c = p1 + 1; c < p2; c++) {
		if (!((*c >= '0' && *c <= '9') || (*c >= 'a' && *c <= 'f')))
			return -1;
	}
	if (sodium_hex2bin(id, sizeof(id), p1 + 1, 8, NULL, &n, NULL) != 0 || n != KEY_ID_LEN)
		return -1;
	if (b64_decode(p2 + 1, strlen(p2 + 1), typed, sizeof(typed), &n) != 0 ||
	    n != sizeof(typed) || typed[0] != SIG_ALG_ED25519)
		return -1;
	memcpy(pk, typed + 1, 32);
	key_id_of(name, pk, want);
	return memcmp(id, want, KEY_ID_LEN) == 0 ? 0 : -1;
}

int
xz_audit_parse_pubkey(const char *text, uint8_t pk[32], struct xz_diag *d)
{
	char name[128];
	size_t n, len = strlen(text);

	if (strchr(text, '+') != NULL && parse_vkey(text, name, sizeof(name), pk) == 0)
		return 0;
	if (len == 64 && sodium_hex2bin(pk, 32, text, len, NULL, &n, NULL) == 0 && n == 32)
		return 0;
	if (len == 44 && b64_decode(text, len, pk, 32, &n) == 0 && n == 32)
		return 0;
	return xz_diag_set(d, "'%.80s' is not a public key: give 64 hex digits, 44 "
	    "base64 characters, or a verifier key NAME+ID+BASE64", text);
}

struct export_reader {
	FILE *in;
	const char *what;
	char *line;
	size_t len;
	uint64_t lineno;
};

static int
export_next(struct export_reader *er, struct xz_diag *d)
{
	const char *why = NULL;
	int r = read_line(er->in, er->line, LINE_MAX_LEN, &er->len, &why);

	er->lineno++;
	if (r < 0)
		return xz_diag_set(d, "%s line %llu: %s", er->what,
		    (unsigned long long)er->lineno, why);
	if (r == 0)
		return xz_diag_set(d, "%s ends at line %llu without its 'end' line: the "
		    "file is truncated", er->what, (unsigned long long)er->lineno);
	return 0;
}

/* The three header lines: magic, origin, vkey. */
static int
export_header(struct export_reader *er, const uint8_t *pin_pk, struct note_key *k,
    struct xz_diag *d)
{
	char node_name[128], key_name[128];
	uint8_t pk[32];
	size_t olen, slen = strlen(ORIGIN_SUFFIX);

	if (export_next(er, d) != 0)
		return -1;
	if (strcmp(er->line, EXPORT_MAGIC) != 0)
		return xz_diag_set(d, "%s is not a xiezhi audit export (first line is not "
		    "'" EXPORT_MAGIC "')", er->what);
	if (export_next(er, d) != 0)
		return -1;
	olen = er->len;
	if (strncmp(er->line, "origin ", 7) != 0 || olen < 7 + slen + 1 ||
	    strcmp(er->line + olen - slen, ORIGIN_SUFFIX) != 0 ||
	    olen - 7 - slen >= sizeof(node_name))
		return xz_diag_set(d, "%s line 2: expected 'origin NODE xiezhi audit'", er->what);
	memcpy(node_name, er->line + 7, olen - 7 - slen);
	node_name[olen - 7 - slen] = '\0';
	if (export_next(er, d) != 0)
		return -1;
	if (strncmp(er->line, "vkey ", 5) != 0 ||
	    parse_vkey(er->line + 5, key_name, sizeof(key_name), pk) != 0)
		return xz_diag_set(d, "%s line 3: expected 'vkey NAME+ID+KEY' with a key "
		    "id that matches the key", er->what);
	if (note_key_init(k, node_name, pk, d) != 0)
		return -1;
	if (strcmp(key_name, k->key_name) != 0)
		return xz_diag_set(d, "%s line 3: key name '%s' is not '%s'", er->what,
		    key_name, k->key_name);
	if (pin_pk != NULL && sodium_memcmp(pin_pk, pk, 32) != 0)
		return xz_diag_set(d, "%s is signed by a different key than the one "
		    "given with --pubkey (export key: %s)", er->what, er->line + 5);
	return 0;
}

struct export_state {
	struct note_key key;
	struct xz_merkle_frontier f;
	uint64_t checkpoints, last_cp;
	unsigned last_type;
	struct xz_audit_record *rec;
	uint8_t *buf;
};

static int
export_record(struct export_reader *er, struct export_state *s, xz_audit_record_fn fn,
    void *arg, struct xz_diag *d)
{
	size_t n;
	uint8_t leaf[HLEN];
	struct xz_diag why = { "" };

	if (b64_decode(er->line + 2, er->len - 2, s->buf, XZ_AUDIT_RECORD_MAX, &n) != 0)
		return xz_diag_set(d, "%s line %llu: record is not valid base64",
		    er->what, (unsigned long long)er->lineno);
	if (xz_audit_record_decode(s->buf, n, s->rec, &why) != 0)
		return xz_diag_set(d, "%s line %llu: record %llu is malformed: %s", er->what,
		    (unsigned long long)er->lineno, (unsigned long long)s->f.size, why.msg);
	if (s->rec->seq != s->f.size)
		return xz_diag_set(d, "%s line %llu: record says it is %llu but is the "
		    "%llu-th: records were removed, added or reordered", er->what,
		    (unsigned long long)er->lineno, (unsigned long long)s->rec->seq,
		    (unsigned long long)s->f.size);
	if (xz_merkle_leaf_hash(s->buf, n, leaf) != 0 || xz_merkle_frontier_append(&s->f, leaf) != 0)
		return xz_diag_set(d, "hashing failed");
	s->last_type = s->rec->type;
	if (fn != NULL && fn(arg, s->rec, d) != 0)
		return -1;
	return 0;
}

static int
export_checkpoint(struct export_reader *er, struct export_state *s, struct xz_diag *d)
{
	char note[NOTE_MAX + 1];
	size_t n;
	uint64_t size;
	uint8_t root[HLEN], want[HLEN];
	struct xz_diag why = { "" };

	if (b64_decode(er->line + 2, er->len - 2, (uint8_t *)note, NOTE_MAX, &n) != 0)
		return xz_diag_set(d, "%s line %llu: checkpoint is not valid base64",
		    er->what, (unsigned long long)er->lineno);
	if (note_open(note, n, &s->key, &size, root, &why) != 0)
		return xz_diag_set(d, "%s line %llu: checkpoint is bad: %s", er->what,
		    (unsigned long long)er->lineno, why.msg);
	if (size != s->f.size || size <= s->last_cp)
		return xz_diag_set(d, "%s line %llu: checkpoint of size %llu after %llu "
		    "records", er->what, (unsigned long long)er->lineno,
		    (unsigned long long)size, (unsigned long long)s->f.size);
	if (xz_merkle_frontier_root(&s->f, want) != 0 || memcmp(want, root, HLEN) != 0)
		return xz_diag_set(d, "%s line %llu: checkpoint %llu does not match the "
		    "records before it: a record was altered", er->what,
		    (unsigned long long)er->lineno, (unsigned long long)size);
	s->checkpoints++;
	s->last_cp = size;
	return 0;
}

static int
export_end(struct export_reader *er, struct export_state *s, struct xz_diag *d)
{
	uint64_t n;
	const char *why = NULL;
	int r;

	if (parse_dec(er->line + 4, er->len - 4, &n) != 0 || n != s->f.size)
		return xz_diag_set(d, "%s line %llu: 'end' does not give the %llu records "
		    "read", er->what, (unsigned long long)er->lineno,
		    (unsigned long long)s->f.size);
	if (s->f.size == 0 || s->last_cp != s->f.size)
		return xz_diag_set(d, "%s: the last records are not covered by a signed "
		    "checkpoint", er->what);
	if (s->last_type != XZ_AUDIT_EXPORTED)
		return xz_diag_set(d, "%s does not end with its own audit_exported record: "
		    "records were cut off the end", er->what);
	r = read_line(er->in, er->line, LINE_MAX_LEN, &er->len, &why);
	if (r != 0)
		return xz_diag_set(d, "%s: data after the 'end' line", er->what);
	return 0;
}

/* Body: pairs of lines "r RECORD" "c CHECKPOINT", then "end N". */
static int
export_body(struct export_reader *er, struct export_state *s, xz_audit_record_fn fn,
    void *arg, struct xz_diag *d)
{
	for (;;) {
		if (export_next(er, d) != 0)
			return -1;
		if (er->len > 4 && memcmp(er->line, "end ", 4) == 0)
			return export_end(er, s, d);
		if (er->len <= 2 || memcmp(er->line, "r ", 2) != 0)
			return xz_diag_set(d, "%s line %llu: expected a record ('r ...') or "
			    "'end'", er->what, (unsigned long long)er->lineno);
		if (export_record(er, s, fn, arg, d) != 0 || export_next(er, d) != 0)
			return -1;
		if (er->len <= 2 || memcmp(er->line, "c ", 2) != 0)
			return xz_diag_set(d, "%s line %llu: record %llu is not followed by "
			    "its checkpoint", er->what, (unsigned long long)er->lineno,
			    (unsigned long long)s->f.size - 1);
		if (export_checkpoint(er, s, d) != 0)
			return -1;
	}
}

int
xz_audit_verify_export(FILE *in, const char *what, const uint8_t *pin_pk,
    xz_audit_record_fn fn, void *arg, struct xz_audit_status *st, struct xz_diag *d)
{
	struct export_reader er = { in, what, NULL, 0, 0 };
	struct export_state s;
	int rc = -1;

	memset(&s, 0, sizeof(s));
	xz_merkle_frontier_init(&s.f);
	er.line = malloc(LINE_MAX_LEN);
	s.rec = malloc(sizeof(*s.rec));
	s.buf = malloc(XZ_AUDIT_RECORD_MAX);
	if (er.line == NULL || s.rec == NULL || s.buf == NULL) {
		xz_diag_set(d, "out of memory");
		goto done;
	}
	if (export_header(&er, pin_pk, &s.key, d) != 0 || export_body(&er, &s, fn, arg, d) != 0)
		goto done;
	if (st != NULL) {
		struct walk w = { .key = s.key, .f = s.f, .checkpoints = s.checkpoints };
		fill_status(&w, st);
	}
	rc = 0;
done:
	free(er.line);
	free(s.rec);
	free(s.buf);
	return rc;
}
