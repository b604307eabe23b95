/*
 * Join requests and their approvals.
 *
 * A request is a plain value with a canonical byte encoding (docs/policy.md,
 * "Canonical request encoding"): the same request always encodes to the
 * same bytes, and decoding accepts exactly one encoding per request.  An
 * approval is an Ed25519 signature (libsodium crypto_sign_detached) by a
 * named approver over
 *
 *     "xiezhi approval v1" || 0x00 || SHA-256(canonical request bytes)
 *
 * A request file (YAML) holds one request and the approvals gathered so
 * far; `xiezhi request approve` adds one.  What a file says in words is
 * what gets encoded and signed: the file is parsed into the struct below,
 * and only the struct is ever encoded.
 */
#ifndef XZ_REQUEST_H
#define XZ_REQUEST_H

#include <stddef.h>
#include <stdint.h>

#include "perror.h"
#include "policy.h"

#define XZ_REQUEST_ID_LEN	16
#define XZ_REQUEST_DIGEST_LEN	32
#define XZ_CASE_NUMBER_MAX	256
#define XZ_REQUEST_MAX_APPROVALS XZ_POLICY_MAX_APPROVERS
/* Upper bound of a canonical encoding (all fields at their caps). */
#define XZ_REQUEST_ENCODED_MAX	16384

/* Domain separation: the first bytes of an encoding, and of a signed message. */
#define XZ_REQUEST_MAGIC	"xiezhi join request v1"	/* + 0x00 */
#define XZ_APPROVAL_CONTEXT	"xiezhi approval v1"		/* + 0x00 */

struct xz_request {
	unsigned char id[XZ_REQUEST_ID_LEN];	/* 128 random bits */
	char requester[XZ_IDENTITY_MAX + 1];
	char responder[XZ_IDENTITY_MAX + 1];
	char policy_id[XZ_NAME_MAX + 1];
	uint32_t policy_version;
	char dataset[XZ_NAME_MAX + 1];
	int mode;				/* enum xz_mode */
	size_t n_labels;			/* labels sorted, unique */
	char labels[XZ_POLICY_MAX_LABELS][XZ_NAME_MAX + 1];
	uint64_t query_size;			/* declared (padded) size */
	char purpose[XZ_TEXT_MAX + 1];
	char case_number[XZ_CASE_NUMBER_MAX + 1];
	char legal_basis[XZ_TEXT_MAX + 1];
	int64_t created_at, expires_at;		/* Unix seconds UTC */
	/*
	 * Delegated (three-party) joins only (mode XZ_MODE_DELEGATED), else
	 * empty / zero: the other data owner of the step, and the link id both
	 * owners' requests of one step share (16 random bytes; it binds the
	 * two halves of the join and pairs the owners' audit records).
	 */
	char partner[XZ_IDENTITY_MAX + 1];
	unsigned char link[XZ_REQUEST_ID_LEN];
};

struct xz_approval {
	char approver[XZ_NAME_MAX + 1];		/* approver id in the policy */
	unsigned char public_key[32];
	unsigned char signature[64];
};

struct xz_request_file {
	struct xz_request req;
	size_t n_approvals;
	struct xz_approval approvals[XZ_REQUEST_MAX_APPROVALS];
};

/* Fresh 128-bit request id from the system CSPRNG. */
void xz_request_new_id(unsigned char id[XZ_REQUEST_ID_LEN]);

/* Checks every field against the limits of docs/policy.md; e->key names it. */
int xz_request_validate(const struct xz_request *r, struct xz_perror *e)
    __attribute__((warn_unused_result));

/* Sorts labels into canonical (bytewise ascending) order. */
void xz_request_sort_labels(struct xz_request *r);

/* Canonical bytes of a valid request into buf (cap >= XZ_REQUEST_ENCODED_MAX). */
int xz_request_encode(const struct xz_request *r, unsigned char *buf, size_t cap,
    size_t *len, struct xz_perror *e) __attribute__((warn_unused_result));
/* Strict inverse of xz_request_encode: no trailing bytes, no other order. */
int xz_request_decode(const unsigned char *buf, size_t len, struct xz_request *out,
    struct xz_perror *e) __attribute__((warn_unused_result));
/* SHA-256 of the canonical bytes: what approvers sign and compare. */
int xz_request_digest(const struct xz_request *r,
    unsigned char digest[XZ_REQUEST_DIGEST_LEN], struct xz_perror *e)
    __attribute__((warn_unused_result));

/* Signs r with the 64-byte libsodium secret key sk as approver id. */
int xz_request_sign(const struct xz_request *r, const unsigned char sk[64],
    const char *approver, struct xz_approval *out, struct xz_perror *e)
    __attribute__((warn_unused_result));
/* 0 when a's signature over r verifies under a's public key, else -1. */
int xz_approval_verify(const struct xz_request *r, const struct xz_approval *a)
    __attribute__((warn_unused_result));

/* Request files (YAML): parse, load (at most XZ_POLICY_FILE_MAX bytes), print. */
int xz_request_file_parse(const char *file, const void *yaml, size_t len,
    struct xz_request_file *out, struct xz_perror *e)
    __attribute__((warn_unused_result));
int xz_request_file_load(const char *path, struct xz_request_file *out,
    struct xz_perror *e) __attribute__((warn_unused_result));
int xz_request_file_print(const struct xz_request_file *f, char **out,
    struct xz_perror *e) __attribute__((warn_unused_result));

/* Lower-case hex of n bytes into buf (2n+1 bytes). */
void xz_hex(const unsigned char *b, size_t n, char *buf, size_t len);

#endif
