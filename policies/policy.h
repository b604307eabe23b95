/*
 * The policy language: what a data owner allows one requester to ask of
 * one dataset.  One YAML file per policy; the schema (every key, its type,
 * its limits) is documented in docs/policy.md and enforced here: unknown
 * keys, wrong types, missing keys, bad Ed25519 keys and inconsistent limits
 * are errors naming file, line and key.
 *
 * A parsed policy is a plain value (fixed-size fields, no pointers): copy
 * it, compare it with xz_policy_equal, print it with xz_policy_print.
 * Printing then parsing gives an equal policy.
 */
#ifndef XZ_POLICY_H
#define XZ_POLICY_H

#include <stddef.h>
#include <stdint.h>

#include "perror.h"

/* Limits (bytes, not counting the terminating NUL). */
#define XZ_NAME_MAX		64	/* ids, dataset, columns, labels, approver ids */
#define XZ_IDENTITY_MAX		253	/* certificate identity of a node */
#define XZ_TEXT_MAX		2048	/* purpose, legal basis, case number, role */
#define XZ_POLICY_MAX_LABELS	32
#define XZ_POLICY_MAX_APPROVERS	16
#define XZ_POLICY_MAX_PARTNERS	16
#define XZ_QUERY_SIZE_MAX	1000000000ULL		/* 1e9 elements */
#define XZ_ELEMENTS_BUDGET_MAX	1000000000000000ULL	/* 1e15 elements */
#define XZ_JOINS_BUDGET_MAX	1000000ULL
#define XZ_POLICY_VERSION_MAX	4294967295ULL
#define XZ_POLICY_FILE_MAX	(64u * 1024u)

/* Join modes (the numbers are part of the canonical request encoding). */
enum xz_mode {
	XZ_MODE_INTERSECT = 1,
	XZ_MODE_CARDINALITY = 2,
	XZ_MODE_DIFFERENCE = 3,
	/* Three-party: the requester holds no data; two owners' records are
	 * matched and it learns the matches' labels (docs/protocol.md). */
	XZ_MODE_DELEGATED = 4,
};
#define XZ_MODE_BIT(m)	(1u << (unsigned)(m))

struct xz_approver {
	char id[XZ_NAME_MAX + 1];
	char role[XZ_TEXT_MAX + 1];
	unsigned char public_key[32];	/* Ed25519, checked to be a valid point */
};

struct xz_policy {
	char id[XZ_NAME_MAX + 1];
	uint32_t version;
	char purpose[XZ_TEXT_MAX + 1];
	char legal_basis[XZ_TEXT_MAX + 1];
	char requester[XZ_IDENTITY_MAX + 1];	/* requesting node's certificate identity */
	char dataset[XZ_NAME_MAX + 1];
	char key_column[XZ_NAME_MAX + 1];
	unsigned modes;				/* XZ_MODE_BIT() set */
	size_t n_labels;
	char labels[XZ_POLICY_MAX_LABELS][XZ_NAME_MAX + 1];
	uint64_t min_query_size, max_query_size;
	uint64_t joins_per_day;			/* per UTC calendar day */
	uint64_t elements_per_30_days;		/* rolling 30 * 86400 s window */
	int64_t valid_from, valid_until;	/* Unix seconds UTC, [from, until) */
	unsigned threshold;
	size_t n_approvers;
	struct xz_approver approvers[XZ_POLICY_MAX_APPROVERS];
	/*
	 * 0 when absent.  Else the responder pads the set it reveals with
	 * random dummy elements up to the next multiple of padding_bound, so
	 * the requester learns the dataset's size only to within it.
	 */
	uint64_t padding_bound;
	/* Mode delegated only (required then): the other data owners whose
	 * records this dataset may be matched with, by certificate identity. */
	size_t n_partners;
	char partners[XZ_POLICY_MAX_PARTNERS][XZ_IDENTITY_MAX + 1];
};

/*
 * Parses one policy from len bytes of YAML; file names the source in
 * errors.  *out is fully written on success; on failure e says what is
 * wrong and *out is left zeroed.
 */
int xz_policy_parse(const char *file, const void *yaml, size_t len,
    struct xz_policy *out, struct xz_perror *e) __attribute__((warn_unused_result));
/* Reads path (at most XZ_POLICY_FILE_MAX bytes) and parses it. */
int xz_policy_load(const char *path, struct xz_policy *out, struct xz_perror *e)
    __attribute__((warn_unused_result));

/*
 * Loads every "*.yaml" file of dir (not recursing; names starting with '.'
 * skipped) in name order into a malloc'd array *out of *n policies (free
 * it with free()).  Fails on the first invalid file, on more than
 * XZ_POLICY_DIR_MAX files, and when two files hold the same id and version.
 */
#define XZ_POLICY_DIR_MAX 256
int xz_policy_load_dir(const char *dir, struct xz_policy **out, size_t *n,
    struct xz_perror *e) __attribute__((warn_unused_result));

/*
 * The normalised YAML form of p (keys in schema order, lists as given,
 * times as RFC 3339 UTC): a malloc'd NUL-terminated string in *out.
 */
int xz_policy_print(const struct xz_policy *p, char **out, struct xz_perror *e)
    __attribute__((warn_unused_result));

/* 1 when a and b hold the same policy, else 0. */
int xz_policy_equal(const struct xz_policy *a, const struct xz_policy *b);

/* The approver with this id, or NULL. */
const struct xz_approver *xz_policy_approver(const struct xz_policy *p, const char *id);
/* 1 when identity is one of p's delegation partners. */
int xz_policy_partner_allowed(const struct xz_policy *p, const char *identity);
/* 1 when label is one of p's labels. */
int xz_policy_label_allowed(const struct xz_policy *p, const char *label);

/* "intersect" / "cardinality" / "difference" / "delegated"; NULL otherwise. */
const char *xz_mode_name(int mode);
/* The mode named s, or 0. */
int xz_mode_from_name(const char *s);

/*
 * Value checks (return NULL when fine, else why not):
 *   name:     1..64 of [A-Za-z0-9._-], starting with a letter or digit
 *             (policy ids, datasets, columns, labels, approver ids);
 *   identity: 1..253 printable ASCII without spaces (node identities);
 *   text:     1..2048 bytes of UTF-8 without control characters other
 *             than tab and newline, and without bidirectional controls
 *             (so what a human reads is what is signed).
 */
const char *xz_check_name(const char *s);
const char *xz_check_column(const char *s);
const char *xz_check_identity(const char *s);
const char *xz_check_text(const char *s);

/* Formats t as "YYYY-MM-DDTHH:MM:SSZ" (buf at least 21 bytes). */
int xz_time_format(int64_t t, char *buf, size_t len);
/* Strict parse of exactly "YYYY-MM-DDTHH:MM:SSZ", years 1970..9999. */
int xz_time_parse(const char *s, int64_t *out);

/* Standard base64 (with padding) of a 32-byte public key; buf >= 45 bytes. */
void xz_key_to_base64(const unsigned char pk[32], char *buf, size_t len);
/*
 * Strict decode of a base64 Ed25519 public key: exactly 44 characters of
 * canonical standard base64 decoding to 32 bytes that are a point of the
 * prime-order subgroup (not small order, not off the curve).
 */
int xz_key_from_base64(const char *s, unsigned char pk[32], const char **why);

#endif
