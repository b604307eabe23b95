/*
 * What the two nodes of a join say to each other above the transport
 * (protocol/rpc.h carries these as opaque bytes) and the data each side
 * feeds the PSI engine.  docs/operations.md §"The join on the wire" is the
 * specification; every decoder here treats its input as hostile (exact
 * lengths, caps, no trailing bytes).
 *
 *   Open.request      canonical request bytes (policies/request.h)
 *   Open.approvals[i] approval: u8 id_len | id | public key (32) | signature (64)
 *   OpenReply.params  join parameters chosen by the responder (struct below)
 *   Batch phase 1     one PSI engine message (crypto/psi.h)
 *   Batch phase 3     requester hello (its node name), right after Open
 *   Batch phase 4     delegated: the other owner's bound and label length,
 *                     the batch size, this owner's index (after OpenReply)
 *   Batch phase 2     requester summary, after the engine finished
 *   Close             transcript hash
 *   Receipt           transcript hash, responder public key | Ed25519 signature,
 *                     the responder's audit checkpoint after join_completed
 */
#ifndef XZ_DAEMON_WIRE_H
#define XZ_DAEMON_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include <sodium.h>

#include "diag.h"
#include "node.h"
#include "psi.h"
#include "request.h"

#define XZ_JOIN_PHASE_PSI	1u
#define XZ_JOIN_PHASE_SUMMARY	2u
#define XZ_JOIN_PHASE_HELLO	3u	/* requester's node name, right after Open */
#define XZ_JOIN_PHASE_PARTNER	4u	/* delegated: the other owner's parameters */
#define XZ_JOIN_NODE_NAME_MAX	64
#define XZ_JOIN_PARAMS_MAX	(48 + XZ_JOIN_NODE_NAME_MAX)
#define XZ_JOIN_SUMMARY_MAX	(16 + XZ_JOIN_NODE_NAME_MAX)
#define XZ_JOIN_PARTNER_MAX	(25 + XZ_JOIN_NODE_NAME_MAX)
#define XZ_JOIN_APPROVAL_MAX	(1 + XZ_NAME_MAX + 32 + 64)
#define XZ_JOIN_RECEIPT_LEN	(32 + 64)
/* Every PSI message must fit the transport's batch cap. */
#define XZ_JOIN_BATCH_BYTES	(2u << 20)
#define XZ_JOIN_BATCH_LIMIT	16384u

/* Abort codes carried in Abort.code (reasons are free text). */
enum xz_join_abort {
	XZ_JOIN_ABORT_PROTOCOL = 1,	/* a message out of place or malformed */
	XZ_JOIN_ABORT_ENGINE = 2,	/* the PSI engine refused a message */
	XZ_JOIN_ABORT_DATA = 3,		/* the node could not read its dataset */
	XZ_JOIN_ABORT_SHUTDOWN = 4,	/* the node is stopping */
	XZ_JOIN_ABORT_TRANSCRIPT = 5,	/* transcript hashes differ */
	XZ_JOIN_ABORT_STORE = 6,	/* the store or audit log failed */
};

struct xz_join_params {
	int mode;			/* enum xz_mode */
	uint64_t requester_bound, responder_bound;
	uint32_t label_len;
	uint32_t batch_max;
	char responder_name[XZ_JOIN_NODE_NAME_MAX + 1];
};

int xz_join_params_encode(const struct xz_join_params *p, uint8_t *buf, size_t cap,
    size_t *len, struct xz_diag *d);
int xz_join_params_decode(const uint8_t *buf, size_t len, struct xz_join_params *p,
    struct xz_diag *d);
/* Largest batch whose every PSI message fits XZ_JOIN_BATCH_BYTES. */
uint32_t xz_join_batch_max(uint64_t requester_bound, uint64_t responder_bound,
    uint32_t label_len);
/* The batch size of a delegated owner whose partner sends at most
 * partner_max records (docs/protocol.md §11.2). */
uint32_t xz_join_delegated_batch_max(uint64_t partner_max, uint64_t own_bound,
    uint32_t label_len);

/*
 * Delegated joins: after both owners accepted, the requester tells each
 * one its index, the other owner's (padded) bound and label length, and
 * the batch size (the smaller of the two owners' proposals).  An owner
 * refuses a partner bound above its request's query_size.
 */
struct xz_join_partner {
	unsigned self;			/* 0 or 1 */
	uint64_t partner_bound;
	uint32_t partner_label_len;
	uint32_t batch_max;
	char partner_name[XZ_JOIN_NODE_NAME_MAX + 1];
};
int xz_join_partner_encode(const struct xz_join_partner *p, uint8_t *buf, size_t cap,
    size_t *len, struct xz_diag *d);
int xz_join_partner_decode(const uint8_t *buf, size_t len, struct xz_join_partner *p,
    struct xz_diag *d);
/* The delegated engine parameters, in owner order. */
void xz_join_dparams(const uint8_t link[XZ_REQUEST_ID_LEN], const uint64_t bound[2],
    const uint32_t label_len[2], uint32_t batch_max, struct xz_psi_dparams *out);

/* The engine parameters both sides derive from the join parameters. */
void xz_join_psi_params(const struct xz_join_params *p,
    const uint8_t join_id[XZ_REQUEST_ID_LEN], struct xz_psi_params *out);

int xz_join_approval_encode(const struct xz_approval *a, uint8_t *buf, size_t cap,
    size_t *len, struct xz_diag *d);
int xz_join_approval_decode(const uint8_t *buf, size_t len, struct xz_approval *a,
    struct xz_diag *d);

/* HELLO: the requester's node name (its audit origin), 1..64 of
 * [A-Za-z0-9._-], so both logs name each other the way crosscheck pairs them. */
int xz_join_hello_decode(const uint8_t *buf, size_t len,
    char name[XZ_JOIN_NODE_NAME_MAX + 1], struct xz_diag *d);

struct xz_join_summary {
	uint64_t result_size;
	char requester_name[XZ_JOIN_NODE_NAME_MAX + 1];
};
int xz_join_summary_encode(const struct xz_join_summary *s, uint8_t *buf, size_t cap,
    size_t *len, struct xz_diag *d);
int xz_join_summary_decode(const uint8_t *buf, size_t len, struct xz_join_summary *s,
    struct xz_diag *d);

/*
 * Transcript hash: SHA-256 over a domain string, the join id, the canonical
 * request, and the two directions' PSI messages, each direction hashed on
 * its own (length-prefixed messages), so both sides get the same value
 * whatever order sends and receives interleave in.
 */
struct xz_transcript {
	crypto_hash_sha256_state head, r2a, a2r;
};
void xz_transcript_init(struct xz_transcript *t, const uint8_t join_id[XZ_REQUEST_ID_LEN],
    const uint8_t *request, size_t request_len);
/* from_requester: 1 for a message R sent to A. */
void xz_transcript_add(struct xz_transcript *t, int from_requester, const uint8_t *msg,
    size_t len);
void xz_transcript_final(struct xz_transcript *t, uint8_t out[32]);

/* Receipt: public key | Ed25519 over "xiezhi receipt v1" 0x00 | join id |
 * transcript | SHA-256(checkpoint note). */
void xz_join_receipt_sign(const unsigned char sk[64], const unsigned char pk[32],
    const uint8_t join_id[XZ_REQUEST_ID_LEN], const uint8_t transcript[32],
    const char *checkpoint, uint8_t out[XZ_JOIN_RECEIPT_LEN]);
int xz_join_receipt_verify(const uint8_t *receipt, size_t len,
    const uint8_t join_id[XZ_REQUEST_ID_LEN], const uint8_t transcript[32],
    const char *checkpoint, const unsigned char *pinned_pk, struct xz_diag *d);

/*
 * A dataset's values as the engine's source: column (NULL: the key column)
 * and, for a responder, the label columns, each record's labels encoded as
 * u32 length (big-endian) | bytes, in the order given.  distinct: one entry
 * per distinct value, in store order (no labels then).  Values are held in
 * memory that is wiped when freed.
 */
struct xz_join_data {
	size_t n;
	uint8_t **elem;
	size_t *elem_len;
	uint8_t **label;
	size_t *label_len;
	size_t label_max;
	char key_column[XZ_NAME_MAX + 1];	/* the dataset's key column name */
};
int xz_join_data_load(struct xz_node *node, const char *dataset, const char *column,
    const char *const *labels, size_t nlabels, int distinct, struct xz_join_data **out,
    struct xz_diag *d);
void xz_join_data_free(struct xz_join_data *jd);
/*
 * Appends a copy of the n bytes at v (1..XZ_PSI_MAX_ELEMENT_LEN) to *jdp,
 * creating it when *jdp is NULL (*cap is the allocation count the call
 * keeps; start it at 0).  For callers that build a join's element list
 * themselves (a model step queries the keys left by the steps before it).
 */
int xz_join_data_add(struct xz_join_data **jdp, size_t *cap, const uint8_t *v, size_t n,
    struct xz_diag *d);
/* xz_psi_source_fn over a struct xz_join_data. */
int xz_join_data_source(void *ctx, uint64_t index, const uint8_t **elem, size_t *elem_len,
    const uint8_t **label, size_t *label_len);

#endif
