/*
 * Private set intersection between a requester R (holding X) and a
 * responder A (holding Y), built on the RFC 9497 OPRF (oprf.h).
 * docs/protocol.md is the specification: message layouts, the order of
 * batches, who learns what and why.  In short:
 *
 *   R -> A  BLINDED    batches of blinded elements r_i * H(x_i)
 *   A -> R  EVALUATED  batches of k * (r_i * H(x_i))     (k: fresh per join)
 *   A -> R  TAGS       batches of truncated tags of F_k(y) [+ encrypted label]
 *
 * R unblinds, derives the same tags for X, and compares.  Modes:
 *   XZ_PSI_INTERSECT    R learns which x are in Y, and their labels;
 *   XZ_PSI_CARDINALITY  R learns |X ∩ Y| only (A shuffles the evaluations);
 *   XZ_PSI_DIFFERENCE   R learns which x are NOT in Y (no labels).
 *
 * Usage: both sides build a role object from the same xz_psi_params (agreed
 * by the federation layer for one approved join), then loop:
 *
 *   produce() -> XZ_PSI_OK: send the message it returns to the peer;
 *                XZ_PSI_AGAIN: wait for a message from the peer;
 *                XZ_PSI_DONE: nothing more to send;
 *   consume(message from the peer)
 *
 * until both produce() calls say XZ_PSI_DONE and done() is true on R.  Every
 * message is at most XZ_PSI_MAX_MESSAGE_LEN bytes and holds at most
 * batch_max elements, so memory does not grow with the batch stream except
 * where docs/protocol.md says (R's tag table; A's shuffle buffer in
 * cardinality mode).  Elements are pulled from the caller through an
 * xz_psi_source_fn, in index order, one batch at a time.
 *
 * Every received message is checked before use: framing, join id, sequence,
 * counts against the declared bounds, a digest over the bytes, and every
 * group element (invalid encodings and the identity are refused).  Any
 * failure is fatal for the join: the object refuses further calls with
 * XZ_PSI_E_STATE and the caller must abort the join.
 *
 * Objects are not thread-safe; each uses `threads` worker threads inside
 * produce()/consume().  The source and result callbacks are only ever
 * called on the caller's thread (a database cursor behind them is fine).
 * Secrets (OPRF key, blinds) live in sodium_malloc memory and are wiped as
 * soon as their last use is over.
 */
#ifndef XZ_PSI_H
#define XZ_PSI_H

#include <stddef.h>
#include <stdint.h>

#define XZ_PSI_JOIN_ID_LEN	16
#define XZ_PSI_MAX_ELEMENT_LEN	1024		/* bytes per element */
#define XZ_PSI_MAX_LABEL_LEN	65536		/* bytes per label */
#define XZ_PSI_DEFAULT_BATCH	65536		/* elements per batch */
#define XZ_PSI_MAX_BATCH	65536
#define XZ_PSI_MAX_MESSAGE_LEN	(4u << 20)	/* gRPC's default receive limit */
#define XZ_PSI_MAX_BOUND	(UINT64_C(1) << 40)
#define XZ_PSI_MAX_THREADS	256

enum xz_psi_mode {
	XZ_PSI_INTERSECT = 1,
	XZ_PSI_CARDINALITY = 2,
	XZ_PSI_DIFFERENCE = 3,
	XZ_PSI_DELEGATED = 4,	/* three-party: xz_psi_owner / xz_psi_coordinator */
};

enum xz_psi_status {
	XZ_PSI_OK = 0,
	XZ_PSI_AGAIN,		/* produce(): nothing to send before the next consume() */
	XZ_PSI_DONE,		/* produce(): this role has sent its last message */
	XZ_PSI_E_ARG,		/* bad parameter (see xz_psi_strerror) */
	XZ_PSI_E_NOMEM,		/* allocation failed */
	XZ_PSI_E_STATE,		/* call out of order, or the object failed earlier */
	XZ_PSI_E_MALFORMED,	/* message framing, length, digest or join id wrong */
	XZ_PSI_E_SEQUENCE,	/* message out of order, duplicated, or of the wrong type */
	XZ_PSI_E_COUNT,		/* peer sent more or fewer elements than declared */
	XZ_PSI_E_ELEMENT,	/* invalid group element or identity from the peer */
	XZ_PSI_E_LABEL,		/* an encrypted label failed authentication */
	XZ_PSI_E_INPUT,		/* the source failed or gave an element over the limit */
	XZ_PSI_E_THREAD,	/* a worker thread could not be started */
};

/* A static English description of status (never NULL). */
const char *xz_psi_strerror(enum xz_psi_status status);

/*
 * What both sides agree on before a join starts (the federation layer takes
 * it from the approved join request).  Both roles must use identical values
 * except `threads`, which is local.
 */
struct xz_psi_params {
	enum xz_psi_mode mode;
	uint8_t join_id[XZ_PSI_JOIN_ID_LEN];	/* unique per join; binds every message */
	uint64_t requester_bound;	/* elements R sends, real + dummies (|X| <= bound) */
	uint64_t responder_bound;	/* records A sends, real + dummies (|Y| <= bound) */
	uint32_t label_len;		/* max label bytes A reveals; 0 = none (intersect only) */
	uint32_t batch_max;		/* elements per batch, 1..XZ_PSI_MAX_BATCH; 0 = default */
	unsigned threads;		/* local: worker threads, 0 = online cores */
};

/*
 * Bytes of each tag A sends, for the declared bounds: the smallest t with
 * requester_bound * responder_bound * 2^(-8t) <= 2^-40 (docs/protocol.md
 * "Tag length"), at least 5 and at most 32.
 */
unsigned xz_psi_tag_len(uint64_t requester_bound, uint64_t responder_bound);

/*
 * Supplies element number `index` (0, 1, 2, ... in order, each once).
 * Sets *elem, *elem_len (1..XZ_PSI_MAX_ELEMENT_LEN bytes) and, for the
 * responder, *label, *label_len (0..params.label_len bytes; *label may be
 * NULL when the length is 0).  The pointers must stay valid until the next
 * call.  Returns 0, or -1 to abort the join (XZ_PSI_E_INPUT).
 */
typedef int (*xz_psi_source_fn)(void *ctx, uint64_t index, const uint8_t **elem,
    size_t *elem_len, const uint8_t **label, size_t *label_len);

/* Traffic and memory of one role, for monitoring and the benchmark. */
struct xz_psi_stats {
	uint64_t bytes_sent, bytes_received;
	uint64_t messages_sent, messages_received;
	size_t mem_now, mem_peak;	/* bytes the object has allocated (now / peak) */
};

struct xz_psi_requester;
struct xz_psi_responder;

/*
 * R's side.  count (<= requester_bound) real elements are pulled from src;
 * the library adds requester_bound - count dummies.  *out is owned by the
 * caller (xz_psi_requester_free).
 */
enum xz_psi_status xz_psi_requester_new(struct xz_psi_requester **out,
    const struct xz_psi_params *params, uint64_t count, xz_psi_source_fn src, void *src_ctx)
    __attribute__((warn_unused_result));

/*
 * The next message for A.  On XZ_PSI_OK, *msg and *len point into the object
 * and stay valid until the next call on it.
 */
enum xz_psi_status xz_psi_requester_produce(struct xz_psi_requester *r,
    const uint8_t **msg, size_t *len) __attribute__((warn_unused_result));

/* A message from A (EVALUATED or TAGS); len bytes are read, never kept. */
enum xz_psi_status xz_psi_requester_consume(struct xz_psi_requester *r,
    const uint8_t *msg, size_t len) __attribute__((warn_unused_result));

/* True once every message from A has been consumed and the result is final. */
int xz_psi_requester_done(const struct xz_psi_requester *r);

/*
 * The size of the answer (valid once done): intersect: number of R's input
 * entries found in Y; difference: number of R's input entries not in Y (a
 * duplicate in X counts each time it occurs); cardinality: number of
 * distinct values of X that are in Y, |set(X) ∩ set(Y)| (duplicates are
 * sent as dummies so that A cannot see them; docs/protocol.md §3).
 */
uint64_t xz_psi_requester_count(const struct xz_psi_requester *r);

/*
 * Called once per answer entry, in increasing index order:
 * intersect: one call per (x index, matching y record), with the record's
 * label (len 0 when no labels); difference: one call per x index not in Y,
 * label NULL.  Return non-zero to stop early.
 */
typedef int (*xz_psi_result_fn)(void *ctx, uint64_t index, const uint8_t *label,
    size_t label_len);

/*
 * Matches whose encrypted label did not authenticate (a false tag match, or
 * a damaged or dishonest answer).  They are left out of the answer and
 * counted, never fatal: a join that failed on them would tell the
 * responder that one of its planted guesses matched (docs/protocol.md §8).
 */
uint64_t xz_psi_requester_label_failures(const struct xz_psi_requester *r);

/* Walks the answer (valid once done); XZ_PSI_E_STATE in cardinality mode. */
enum xz_psi_status xz_psi_requester_results(const struct xz_psi_requester *r,
    xz_psi_result_fn fn, void *ctx) __attribute__((warn_unused_result));

void xz_psi_requester_stats(const struct xz_psi_requester *r, struct xz_psi_stats *st);
/* Wipes every secret and frees r (NULL is fine). */
void xz_psi_requester_free(struct xz_psi_requester *r);

/*
 * A's side.  A fresh OPRF key is drawn here and wiped by _free.  count
 * (<= responder_bound) real records are pulled from src, with their labels.
 */
enum xz_psi_status xz_psi_responder_new(struct xz_psi_responder **out,
    const struct xz_psi_params *params, uint64_t count, xz_psi_source_fn src, void *src_ctx)
    __attribute__((warn_unused_result));
enum xz_psi_status xz_psi_responder_produce(struct xz_psi_responder *a,
    const uint8_t **msg, size_t *len) __attribute__((warn_unused_result));
/*
 * A message from R (BLINDED).  The responder holds at most one unsent
 * answer: after each consume(), call produce() until it returns
 * XZ_PSI_AGAIN or XZ_PSI_DONE.  A consume() while an answer is waiting
 * returns XZ_PSI_E_STATE and consumes nothing.
 */
enum xz_psi_status xz_psi_responder_consume(struct xz_psi_responder *a,
    const uint8_t *msg, size_t len) __attribute__((warn_unused_result));
void xz_psi_responder_stats(const struct xz_psi_responder *a, struct xz_psi_stats *st);
void xz_psi_responder_free(struct xz_psi_responder *a);

/*
 * ---- Delegated (three-party) joins: docs/protocol.md §11 ----
 *
 * The requester R holds no data; owners O0 and O1 hold record sets Y0 and
 * Y1.  Each owner draws a fresh key k_i.  Each owner's records go, blinded,
 * through the other owner's key and come back (an OPRF of the other's
 * key); the owner unblinds, applies its own key and so holds
 * z = k0*k1*H(y) for its own records only.  From z it derives a tag, a key
 * for its own label and a key for the other owner's label; it sends R the
 * tag, the OTHER owner's key and its own label sealed under its own key.
 * R matches tags across the two owners; only for a match does it hold both
 * keys.  R relays every owner-to-owner message (xz_psi_coordinator tells
 * it what to read next and whether to forward what it read).
 *
 *   phase A  O0 --D_BLINDED--> R --> O1 --D_EVALUATED--> R --> O0   (lock step)
 *   phase B  O1 --D_BLINDED--> R --> O0 --D_EVALUATED--> R --> O1
 *   phase C  O0 --D_TAGS--> R,   O1 --D_TAGS--> R
 *
 * An owner's object has the produce/consume interface of the responder:
 * produce() until XZ_PSI_AGAIN, then consume() the next message from R.
 */
struct xz_psi_dparams {
	uint8_t join_id[XZ_PSI_JOIN_ID_LEN];	/* the step's link id: binds every message */
	uint64_t bound[2];		/* records owner 0 / 1 sends, real + dummies */
	uint32_t label_len[2];		/* max label bytes owner 0 / 1 reveals (0 = none) */
	uint32_t batch_max;		/* elements per batch, 0 = default */
	unsigned threads;		/* local: worker threads, 0 = online cores */
};

struct xz_psi_owner;
struct xz_psi_coordinator;

/*
 * Owner `self` (0 or 1).  count (<= bound[self]) real records are pulled
 * from src with their labels (<= label_len[self] bytes each).  A fresh key
 * is drawn here and wiped once it has served both phases.
 */
enum xz_psi_status xz_psi_owner_new(struct xz_psi_owner **out,
    const struct xz_psi_dparams *params, unsigned self, uint64_t count,
    xz_psi_source_fn src, void *src_ctx) __attribute__((warn_unused_result));
enum xz_psi_status xz_psi_owner_produce(struct xz_psi_owner *o, const uint8_t **msg,
    size_t *len) __attribute__((warn_unused_result));
/* A message relayed by R (the other owner's D_BLINDED or D_EVALUATED). */
enum xz_psi_status xz_psi_owner_consume(struct xz_psi_owner *o, const uint8_t *msg,
    size_t len) __attribute__((warn_unused_result));
void xz_psi_owner_stats(const struct xz_psi_owner *o, struct xz_psi_stats *st);
void xz_psi_owner_free(struct xz_psi_owner *o);

enum xz_psi_status xz_psi_coordinator_new(struct xz_psi_coordinator **out,
    const struct xz_psi_dparams *params) __attribute__((warn_unused_result));
/* The owner (0 or 1) to read the next message from: XZ_PSI_OK and *from
 * set, or XZ_PSI_DONE when the join is complete. */
enum xz_psi_status xz_psi_coordinator_next(struct xz_psi_coordinator *c, unsigned *from)
    __attribute__((warn_unused_result));
/*
 * The message just read from owner `from` (it must be the one _next named).
 * *forward = 1: send the same bytes, unchanged, to the other owner now;
 * 0: the message was for R (D_TAGS) and has been consumed.  Framing,
 * sequence and counts are checked before anything is forwarded.
 */
enum xz_psi_status xz_psi_coordinator_consume(struct xz_psi_coordinator *c, unsigned from,
    const uint8_t *msg, size_t len, int *forward) __attribute__((warn_unused_result));
int xz_psi_coordinator_done(const struct xz_psi_coordinator *c);
/*
 * 1 (and *side set) once every message of one owner, the table side, has
 * been read: that owner's call can be closed while the other's D_TAGS
 * still stream in.
 */
int xz_psi_coordinator_table_done(const struct xz_psi_coordinator *c, unsigned *side);
/* Pairs left out of the answer: a label that did not authenticate (never
 * fatal, docs/protocol.md §11.6), and pairs beyond the cap of
 * 4 * (bound[0] + bound[1]) + 1024 (keys repeated on both sides). */
uint64_t xz_psi_coordinator_label_failures(const struct xz_psi_coordinator *c);
uint64_t xz_psi_coordinator_overflow(const struct xz_psi_coordinator *c);
/* Matching pairs of records (valid once done). */
uint64_t xz_psi_coordinator_count(const struct xz_psi_coordinator *c);
/*
 * One call per matching pair (owner 0's record, owner 1's record), with
 * their positions in each owner's D_TAGS stream and their labels (length
 * 0 when that owner reveals none), ordered by owner 0's position, then
 * owner 1's.  Return non-zero to stop.
 */
typedef int (*xz_psi_pair_fn)(void *ctx, uint64_t pos0, const uint8_t *label0,
    size_t len0, uint64_t pos1, const uint8_t *label1, size_t len1);
enum xz_psi_status xz_psi_coordinator_results(const struct xz_psi_coordinator *c,
    xz_psi_pair_fn fn, void *ctx) __attribute__((warn_unused_result));
void xz_psi_coordinator_stats(const struct xz_psi_coordinator *c, struct xz_psi_stats *st);
void xz_psi_coordinator_free(struct xz_psi_coordinator *c);

#endif
