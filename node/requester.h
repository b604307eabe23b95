/*
 * The requester's side of a join (`xiezhi join`): sends an approved request
 * to a peer named in the node config, runs the PSI engine's requester role
 * over the Join call, checks the responder's signed receipt, and stores the
 * result in the node's encrypted store together with its audit record.
 *
 * Tables (created on first use):
 *   join_results(request_id BLOB PRIMARY KEY, peer, peer_identity, mode,
 *                dataset, key_column, local_size, peer_size, result_size,
 *                transcript BLOB, receipt BLOB, checkpoint TEXT, completed_at)
 *   join_result_rows(request_id, pos, k TEXT, labels TEXT)
 *       intersect: one row per (key, matching responder record), labels a
 *       JSON object {"label": "value", ...} (NULL without labels);
 *       difference: one row per key not found at the responder;
 *       cardinality: no rows (the count is in join_results).
 */
#ifndef XZ_REQUESTER_H
#define XZ_REQUESTER_H

#include <stdint.h>

#include "daemon_wire.h"
#include "netproc.h"
#include "diag.h"

struct xz_join_opts {
	const char *dir;		/* node directory */
	const char *peer;		/* peer NAME in the config */
	const char *request_file;	/* approved request (YAML) */
	const char *dataset;		/* local dataset */
	const char *key_column;		/* its column to match on */
	/* When not NULL, the values to send instead of the distinct values of
	 * dataset.key_column (borrowed; a model step sends the keys the steps
	 * before it left; never modified).  dataset and key_column are still recorded with
	 * the result as where the values came from. */
	struct xz_join_data *elements;
	/* The network process to call the peer through (node/netproc.h); NULL:
	 * the join starts its own before it opens the store. */
	struct xz_net *net;
	int64_t deadline_ms;		/* the whole call */
	/* Called as the engine advances (may be NULL): elements sent of total,
	 * then answer batches received. */
	void (*progress)(void *arg, const char *phase, uint64_t done, uint64_t total);
	void *progress_arg;
};

struct xz_join_outcome {
	int refused;			/* the responder's policy said no */
	uint32_t refusal_code;		/* enum xz_verdict of the responder */
	char reason[1024];		/* its reason (sanitised) */
	uint8_t request_id[16];
	char mode[16];
	char peer_name[65];		/* the responder's node name */
	uint64_t local_size, peer_size, result_size, stored_rows;
	uint8_t transcript[32];
	uint64_t bytes_sent, bytes_received;
	/* Matches left out: a label that did not authenticate or was not a
	 * label record (a damaged or dishonest answer; never fatal, so that
	 * the peer cannot learn from the join's fate which guess matched). */
	uint64_t label_failures;
	double seconds;
};

/*
 * Runs the join.  Returns 0 when it completed and the result is stored,
 * 1 when the responder refused (out->reason says why), -1 on any other
 * failure (d says what failed; a join_aborted record was written once the
 * request had left the node).
 */
int xz_requester_join(const struct xz_join_opts *o, struct xz_join_outcome *out,
    struct xz_diag *d);

/*
 * A delegated (three-party) join: this node holds none of the data; two
 * data owners each answer with one dataset under their own policy and
 * request (both requests mode delegated, naming each other as partner and
 * sharing one link id), and this node learns the records the two datasets
 * have in common with the labels both policies allow (docs/protocol.md,
 * "Delegated joins").  The result is stored like a two-party intersect,
 * under the request id of owner 0: one join_result_rows row per matching
 * pair of records, k the matched key as owner 0 (else owner 1) revealed it
 * (a delegated request names the key column among its labels when the
 * requester needs the identity), labels one JSON object holding both
 * owners' labels (label names unique across the two).  Both owners' joins
 * are recorded on both sides, as for two-party joins.
 */
struct xz_delegated_opts {
	const char *dir;		/* node directory */
	const char *peer[2];		/* the two owners' peer NAMEs */
	const char *request_file[2];	/* their approved requests, same order */
	const char *key_label;		/* the label that holds the matched key */
	struct xz_net *net;		/* as in xz_join_opts */
	int64_t deadline_ms;		/* the whole join */
	void (*progress)(void *arg, const char *phase, uint64_t done, uint64_t total);
	void *progress_arg;
};

struct xz_delegated_outcome {
	struct xz_join_outcome owner[2];	/* per owner (refusal, sizes, ids) */
	int refused;				/* one owner refused: see owner[i] */
	uint64_t result_size;			/* matching pairs */
	uint64_t stored_rows;
	uint64_t overflow;			/* pairs beyond the cap, not kept */
	double seconds;
};

/* Returns 0 completed and stored, 1 refused by an owner, -1 failed. */
int xz_requester_delegated_join(const struct xz_delegated_opts *o,
    struct xz_delegated_outcome *out, struct xz_diag *d);

#endif
