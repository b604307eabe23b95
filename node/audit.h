/*
 * The tamper-evident audit log (docs/audit-format.md is the specification).
 *
 * Every event that matters to an auditor (a join asked for, a decision, what
 * was computed, what was revealed, a dataset or policy change) becomes one
 * record in the node's store.  The records are the leaves of an RFC 6962
 * Merkle tree; after every append the node signs a checkpoint of the tree
 * (C2SP tlog-checkpoint, Ed25519 node key) in the same transaction.  The
 * latest checkpoint is also kept outside the store, in DIR/audit/checkpoint
 * and in every export, so a store rolled back to an older copy is caught.
 *
 * Records never hold raw identifiers from a dataset: counts, label names and
 * hashes only.  Strings are checked to be UTF-8 without control characters.
 */
#ifndef XZ_AUDIT_H
#define XZ_AUDIT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "diag.h"
#include "merkle.h"
#include "node.h"

/* Record types.  The numbers are part of the record encoding: never
 * renumber, only add. */
enum xz_audit_type {
	XZ_AUDIT_NODE_STARTED = 1,
	XZ_AUDIT_NODE_STOPPED = 2,
	XZ_AUDIT_DATASET_IMPORTED = 10,
	XZ_AUDIT_DATASET_REPLACED = 11,
	XZ_AUDIT_DATASET_DROPPED = 12,
	XZ_AUDIT_POLICY_LOADED = 20,
	XZ_AUDIT_POLICY_CHANGED = 21,
	XZ_AUDIT_REQUEST_RECEIVED = 30,
	XZ_AUDIT_DECISION = 31,
	XZ_AUDIT_JOIN_STARTED = 40,
	XZ_AUDIT_JOIN_COMPLETED = 41,
	XZ_AUDIT_JOIN_ABORTED = 42,
	XZ_AUDIT_DISCLOSURE = 50,
	XZ_AUDIT_LEAD_STATUS_CHANGED = 60,
	XZ_AUDIT_LEADS_PURGED = 61,
	XZ_AUDIT_EXPORTED = 70,
	XZ_AUDIT_LEADS_EXPORTED = 71,
	XZ_AUDIT_MODEL_RUN_STARTED = 80,
	XZ_AUDIT_MODEL_RUN_COMPLETED = 81,
	XZ_AUDIT_MODEL_RUN_FAILED = 82,
};

enum xz_audit_kind {
	XZ_AUDIT_STR = 1,	/* UTF-8, no control characters, <= 1024 bytes */
	XZ_AUDIT_INT = 2,	/* unsigned 64-bit */
	XZ_AUDIT_HASH = 3,	/* 32 bytes (SHA-256 or similar digest) */
};

#define XZ_AUDIT_ACTOR_MAX	255
#define XZ_AUDIT_NAME_MAX	32
#define XZ_AUDIT_STR_MAX	1024
#define XZ_AUDIT_FIELDS_MAX	32
#define XZ_AUDIT_REQUEST_LEN	16
#define XZ_AUDIT_HASH_LEN	32
/* Largest encoded record (all limits at once), rounded up. */
#define XZ_AUDIT_RECORD_MAX	(64 * 1024)

/* One typed field of an event.  Names: 1..32 of [a-z0-9_], starting with a
 * letter, unique within a record (any order here; records store them
 * sorted). */
struct xz_audit_field {
	const char *name;
	enum xz_audit_kind kind;
	const char *str;	/* XZ_AUDIT_STR */
	uint64_t num;		/* XZ_AUDIT_INT */
	uint8_t hash[XZ_AUDIT_HASH_LEN];	/* XZ_AUDIT_HASH */
};

/*
 * An event to append.  actor: the certificate identity of the peer that
 * caused it, or "operator:<login>" for a local command (1..255 bytes).
 * request_id: 16 bytes, or NULL when the event belongs to no request.
 * Each type requires some fields (docs/audit-format.md §Types); append
 * refuses an event that lacks one or has it with the wrong kind.
 */
struct xz_audit_event {
	enum xz_audit_type type;
	const char *actor;
	const uint8_t *request_id;
	const struct xz_audit_field *fields;
	size_t nfields;
};

/* A decoded record. */
struct xz_audit_rfield {
	char name[XZ_AUDIT_NAME_MAX + 1];
	enum xz_audit_kind kind;
	char str[XZ_AUDIT_STR_MAX + 1];
	uint64_t num;
	uint8_t hash[XZ_AUDIT_HASH_LEN];
};

struct xz_audit_record {
	uint64_t seq;		/* 0-based; also the Merkle leaf index */
	uint64_t time;		/* Unix seconds, UTC, node clock */
	unsigned type;		/* enum xz_audit_type, or a newer number */
	char actor[XZ_AUDIT_ACTOR_MAX + 1];
	int has_request;
	uint8_t request_id[XZ_AUDIT_REQUEST_LEN];
	size_t nfields;
	struct xz_audit_rfield field[XZ_AUDIT_FIELDS_MAX];
};

/* State of a verified log (from the store or from an export). */
struct xz_audit_status {
	uint64_t size;			/* records */
	uint8_t root[XZ_MERKLE_HASH_LEN];
	uint64_t checkpoints;		/* signed checkpoints checked */
	char origin[128];		/* checkpoint origin line */
	char key_name[128];
	char key_id[9];			/* hex */
	uint8_t public_key[32];
	int anchor_present;		/* store only: DIR/audit/checkpoint */
	uint64_t anchor_size;
};

/* ---- Records ---- */

/* "join_completed" etc.; NULL for a number this version does not know. */
const char *xz_audit_type_name(unsigned type);
int xz_audit_type_from_name(const char *name, enum xz_audit_type *out);

/*
 * Canonical encoding of ev as record number seq made at time t (format in
 * docs/audit-format.md §Records).  *out is malloc'd, owned by the caller.
 * Fails, naming the field, on anything the format cannot hold.
 */
int xz_audit_record_encode(const struct xz_audit_event *ev, uint64_t seq,
    uint64_t t, uint8_t **out, size_t *len, struct xz_diag *d);
/* Strict decode: any byte string that encode would not produce is refused
 * (trailing bytes, unsorted or repeated fields, bad UTF-8, ...). */
int xz_audit_record_decode(const uint8_t *buf, size_t len,
    struct xz_audit_record *rec, struct xz_diag *d);
/* The field called name, or NULL. */
const struct xz_audit_rfield *xz_audit_record_field(const struct xz_audit_record *rec,
    const char *name);

/* ---- The log in the node's store ---- */

/*
 * Appends ev and a new signed checkpoint covering it.  Inside a transaction
 * the caller has open, both become part of it (the caller's COMMIT makes
 * them durable together with its data); otherwise append runs its own
 * transaction and returns after the commit is on disk.  *seq_out (may be
 * NULL) gets the record's number.  Call xz_audit_publish after the commit.
 */
int xz_audit_append(struct xz_node *node, const struct xz_audit_event *ev,
    uint64_t *seq_out, struct xz_diag *d);

/*
 * Writes the latest checkpoint to DIR/audit/checkpoint atomically (temp
 * file, fsync, rename, fsync of the directory).  Refuses when the file
 * already holds a checkpoint the store does not contain (a rollback);
 * never replaces the file with an older checkpoint.
 */
int xz_audit_publish(struct xz_node *node, struct xz_diag *d);

/*
 * Anti-rollback check for node start: the checkpoint in
 * DIR/audit/checkpoint must be signed by this node, no larger than the log
 * in the store, and equal to the store's own checkpoint of that size.  A
 * missing file is accepted only while the log is empty.  O(log n); the full
 * rebuild is xz_audit_verify.
 */
int xz_audit_check_anchor(struct xz_node *node, struct xz_diag *d);

/*
 * Rebuilds the tree from every record, checks every checkpoint (signature,
 * size, root, stored frontier) and the anchor file.  On failure d says
 * which record or checkpoint is bad and how.  A missing anchor file is not
 * a failure here (st->anchor_present says so; the caller decides): it is
 * how an operator re-creates a lost anchor from a log that verifies.
 */
int xz_audit_verify(struct xz_node *node, struct xz_audit_status *st,
    struct xz_diag *d);

/* Called once per record, in order; a non-zero return stops the walk. */
typedef int (*xz_audit_record_fn)(void *arg, const struct xz_audit_record *rec,
    struct xz_diag *d);
/* Decodes and hands over every record of the store, in order. */
int xz_audit_foreach(struct xz_node *node, xz_audit_record_fn fn, void *arg,
    struct xz_diag *d);

/* The latest signed checkpoint (note text, NUL-terminated, malloc'd), or
 * *note = NULL when the log is empty. */
int xz_audit_latest_checkpoint(struct xz_node *node, char **note, uint64_t *size,
    struct xz_diag *d);

/* An inclusion proof of record seq in the tree of size `size`. */
struct xz_audit_inclusion {
	uint64_t seq, size;
	uint8_t leaf[XZ_MERKLE_HASH_LEN];
	uint8_t root[XZ_MERKLE_HASH_LEN];
	struct xz_merkle_proof proof;
	char *note;		/* the checkpoint of that size, malloc'd */
};
/* size 0 means the latest checkpoint.  The proof is checked against the
 * signed checkpoint before it is returned. */
int xz_audit_prove(struct xz_node *node, uint64_t seq, uint64_t size,
    struct xz_audit_inclusion *out, struct xz_diag *d);

struct xz_audit_consistency {
	uint64_t from, to;
	uint8_t old_root[XZ_MERKLE_HASH_LEN];
	uint8_t new_root[XZ_MERKLE_HASH_LEN];
	struct xz_merkle_proof proof;
	char *old_note, *new_note;	/* malloc'd */
};
/* A consistency proof from the checkpoint of size `from` to the latest. */
int xz_audit_consistency(struct xz_node *node, uint64_t from,
    struct xz_audit_consistency *out, struct xz_diag *d);

/* ---- Exports ---- */

/* Writes the whole log (docs/audit-format.md §Exports) to out, from one
 * snapshot of the store; *size_out (may be NULL) gets its record count. */
int xz_audit_export(struct xz_node *node, FILE *out, uint64_t *size_out,
    struct xz_diag *d);

/*
 * Verifies an export read from in (what names it in messages) as hostile
 * input: bounded lines, strict syntax, every record and checkpoint checked,
 * and the export must end with its own audit_exported record.  pin_pk (may
 * be NULL) is the node key the caller expects; without it the export is
 * only self-consistent.  fn (may be NULL) is handed each record as it is
 * read, before later checkpoints have vouched for it: when this returns -1
 * the caller must discard whatever fn collected.
 */
int xz_audit_verify_export(FILE *in, const char *what, const uint8_t *pin_pk,
    xz_audit_record_fn fn, void *arg, struct xz_audit_status *st,
    struct xz_diag *d);

/* Parses a verifier key: a C2SP vkey "name+id+base64", 64 hex digits, or
 * 44 base64 characters; gives the 32-byte Ed25519 public key. */
int xz_audit_parse_pubkey(const char *text, uint8_t pk[32], struct xz_diag *d);

#endif
