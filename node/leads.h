/*
 * Leads: the records a completed join turned up, as analysts work on them
 * (docs/leads.md).  They live in the requester's encrypted store, next to
 * the join results they come from (node/requester.h):
 *
 *   lead_requests(request_id BLOB PRIMARY KEY, created_at, actor, leads,
 *                 purpose, case_number, legal_basis, policy)
 *       one row per request whose leads were created; the request's purpose
 *       and case number when the request file was given;
 *   lead_leads(id INTEGER PRIMARY KEY, request_id, pos, mode, k, labels,
 *              model_run, status, created_at, updated_at)
 *       from a join: one lead per join_result_rows row (intersect: a
 *       matched record with its labels; difference: a key the peer does
 *       not hold), model_run NULL;
 *       from a model run: one lead per output row, request_id the run id
 *       (with its own lead_requests row), mode "model", k the lead's key,
 *       labels a JSON object of the output columns ({"name": value} in
 *       output order, a value a string or null), model_run the run id in
 *       hex;
 *   model_runs(run_id BLOB PRIMARY KEY, run_hex, model_id, model_version,
 *              title, model_sha256, as_of, outputs, actor, started_at,
 *              finished_at, status, failed_step, reason, local_keys, leads)
 *       one row per model run: running, completed or failed (a run that
 *       was killed stays running, with no leads);
 *   model_run_steps(run_id, pos, name, mode, peer, peer2, request_id,
 *              request_id2, sent, result_size, keys_after, skipped)
 *       one row per step that ran (or was skipped: no keys were left);
 *   lead_history(lead, at, actor, from_status, to_status, note, salt)
 *       every status a lead has had, who set it, when and why (salt: 16
 *       random bytes of the audited note hash; NULL for the creation row).
 *
 * Statuses and the transitions allowed between them:
 *
 *   new        -> verifying | dismissed
 *   verifying  -> confirmed | dismissed
 *   confirmed  -> referred  | verifying
 *   dismissed  -> verifying
 *   referred   (final: the case has left the analysts' hands)
 *
 * Every change is one lead_status_changed audit record (fields lead,
 * status, from, note_sha256 = SHA-256(salt || note); the join's request
 * id); it never holds the key value, the labels or the note text.
 */
#ifndef XZ_LEADS_H
#define XZ_LEADS_H

#include <stdint.h>

#include "diag.h"
#include "node.h"
#include "request.h"

enum xz_lead_status {
	XZ_LEAD_NEW = 0,
	XZ_LEAD_VERIFYING,
	XZ_LEAD_CONFIRMED,
	XZ_LEAD_DISMISSED,
	XZ_LEAD_REFERRED,
};

#define XZ_LEAD_NOTE_MAX	4096	/* bytes of an analyst's note */

/* "new", "verifying", ...; NULL for a value out of range. */
const char *xz_lead_status_name(int status);
/* 0 and *out set, or -1 for a name that is not a status. */
int xz_lead_status_from_name(const char *name, enum xz_lead_status *out);
/* True when a lead may go from `from` to `to` (the table above). */
int xz_lead_transition_allowed(enum xz_lead_status from, enum xz_lead_status to);

/* Parses 32 hex digits (either case) into a request id; -1 otherwise. */
int xz_lead_parse_request_id(const char *hex, uint8_t id[16]);

/*
 * Creates one lead per result row of the completed join request_id, all in
 * status new, in one transaction.  req (may be NULL) is the request as its
 * file holds it; its purpose, case number, legal basis and policy are kept
 * with the leads (its id must equal request_id).
 *
 * Idempotent: when leads of this request were created already nothing
 * changes and 1 is returned (*created gets the number made back then).
 * Returns 0 when created, -1 on failure (no such completed join, a
 * cardinality join, which has no rows, a store error).
 */
int xz_leads_create(struct xz_node *node, const uint8_t request_id[16],
    const struct xz_request *req, const char *actor, uint64_t *created,
    struct xz_diag *d);

/* One lead, as read from the store.  Strings are owned by the struct. */
struct xz_lead {
	int64_t id;
	uint8_t request_id[16];
	char mode[16];
	char *key;		/* the matched key value */
	char *labels;		/* JSON object of received labels, or NULL */
	char *model_run;	/* NULL until models exist */
	enum xz_lead_status status;
	int64_t created_at, updated_at;
};
void xz_lead_release(struct xz_lead *l);

/* Which leads to walk: NULL members / status < 0 mean "any".  model: the
 * leads of every run of the model with this id (any version). */
struct xz_lead_filter {
	const uint8_t *request_id;
	int status;
	const char *model;
};

/* Calls fn for each matching lead in id order; a non-zero return from fn
 * stops the walk and is returned.  l is valid only during the call. */
int xz_leads_foreach(struct xz_node *node, const struct xz_lead_filter *f,
    int (*fn)(void *arg, const struct xz_lead *l), void *arg, struct xz_diag *d);

/* Reads lead id into *out (release with xz_lead_release); -1 when absent. */
int xz_lead_get(struct xz_node *node, int64_t id, struct xz_lead *out,
    struct xz_diag *d);

/* One change of a lead's status (from_status "" for its creation). */
struct xz_lead_change {
	int64_t at;
	const char *actor;
	const char *from_status;
	const char *to_status;
	const char *note;
};
int xz_lead_history(struct xz_node *node, int64_t id,
    int (*fn)(void *arg, const struct xz_lead_change *c), void *arg, struct xz_diag *d);

/* What the store knows about the request a lead came from. */
struct xz_lead_request {
	char peer[128], mode[16], dataset[128], key_column[128];
	int64_t completed_at;
	uint64_t result_size;
	int has_text;		/* the request file was given to leads create */
	char purpose[1024], case_number[128], legal_basis[1024], policy[128];
};
int xz_lead_request_info(struct xz_node *node, const uint8_t request_id[16],
    struct xz_lead_request *out, struct xz_diag *d);

/*
 * Moves lead id to status `to` with the analyst's note (1..XZ_LEAD_NOTE_MAX
 * bytes, required: every change says why).  The new status, the history
 * row and the lead_status_changed audit record are one transaction; the
 * checkpoint is published after it.  Refuses a transition the table above
 * does not allow, naming both statuses.
 */
int xz_lead_update(struct xz_node *node, int64_t id, enum xz_lead_status to,
    const char *note, const char *actor, struct xz_diag *d);

/* XZ_LEAD_VALUES: CSV of the leads' values alone (model leads: one
 * column per output column, headed by its name), for comparing a model's
 * lead set with an expected one; every lead exported must have the same
 * columns (the leads of one model version). */
enum xz_lead_format { XZ_LEAD_CSV, XZ_LEAD_JSON, XZ_LEAD_VALUES };

/*
 * Writes the matching leads to path: created exclusively (an existing file
 * is never replaced), mode 0600, written to a temporary file in the same
 * directory, flushed to disk, then linked to path.  CSV follows RFC 4180
 * (CRLF records, fields with comma, quote, CR or LF quoted, quotes
 * doubled).  The export is audited (a leads_exported record with
 * what = leads, format, count and the file's SHA-256); *count gets the
 * number of leads written.
 */
int xz_leads_export(struct xz_node *node, const struct xz_lead_filter *f,
    enum xz_lead_format format, const char *path, const char *actor,
    uint64_t *count, struct xz_diag *d);

/*
 * Lead values: labels and model outputs are one flat JSON object whose
 * values are strings (or null).  Calls fn(arg, name, value) for each
 * member in order (value NULL for null); returns -1 for text that is not
 * such an object (escapes decoded, at most 1 MiB), else what the walk
 * returned (0, or fn's non-zero return).
 */
int xz_lead_values(const char *json, int (*fn)(void *arg, const char *name,
    const char *value), void *arg);

/* Append to a growing malloc'd buffer *buf (*len bytes used, *cap
 * allocated, always NUL-terminated): text as it is, or s as a JSON string
 * literal.  -1 when out of memory. */
int xz_buf_add(char **buf, size_t *len, size_t *cap, const char *text);
int xz_json_append(char **buf, size_t *len, size_t *cap, const char *s);

/* ---- model runs (node/model.h, docs/models.md §6) ---- */

struct xz_leads_run {
	uint8_t run_id[16];
	const char *model_id;
	uint32_t model_version;
	const char *title;
	uint8_t model_sha256[32];
	const char *as_of;
	const char *purpose, *legal_basis, *case_number;	/* case_number may be "" */
	size_t n_outputs;
	const char *const *outputs;	/* the output column names */
	size_t n_steps;
	const char *actor;
};

struct xz_leads_run_step {
	size_t pos;
	const char *name, *mode;
	const char *peer[2];			/* peer[1] NULL unless delegated */
	const uint8_t *request_id[2];
	uint64_t sent, result_size, keys_after;
	int skipped;
};

/* Records the start: a model_runs row (running) and a model_run_started
 * audit record under the run id, in one transaction. */
int xz_leads_run_begin(struct xz_node *node, const struct xz_leads_run *r,
    struct xz_diag *d);
/* Records one step of the run. */
int xz_leads_run_step(struct xz_node *node, const uint8_t run_id[16],
    const struct xz_leads_run_step *s, struct xz_diag *d);
/* Marks the run failed at step (NULL: before any step) with reason, and
 * writes model_run_failed.  The run has no leads. */
int xz_leads_run_fail(struct xz_node *node, const struct xz_leads_run *r,
    const char *step, const char *reason, struct xz_diag *d);
/*
 * Creates the run's leads from the rows of the TEMP table
 * xz_model_leads(k TEXT NOT NULL, vals TEXT NOT NULL) on node's connection
 * (in rowid order), with their history rows and the run's lead_requests
 * row, marks the run completed and writes model_run_completed (model,
 * model_sha256, steps, requests: the step request ids, leads), all in one
 * transaction.  *created gets the number of leads.
 */
int xz_leads_run_finish(struct xz_node *node, const struct xz_leads_run *r,
    uint64_t local_keys, uint64_t *created, struct xz_diag *d);

/* What the store knows about a model run (for leads show). */
struct xz_lead_run_info {
	char model_id[XZ_NAME_MAX + 1];
	uint32_t model_version;
	char title[1024], as_of[16], status[16], outputs[4096];
	int64_t started_at, finished_at;
	uint64_t leads;
	size_t n_steps;
	struct {
		char name[XZ_NAME_MAX + 1], mode[16], peer[2][72];
		uint8_t request_id[2][16];
		int n_requests, skipped;
		uint64_t sent, result_size, keys_after;
	} step[16];
};
int xz_lead_run_info(struct xz_node *node, const char *run_hex,
    struct xz_lead_run_info *out, struct xz_diag *d);

/* ---- retention ---- */

struct xz_leads_purge_count {
	uint64_t leads, history, result_rows, joins;
};

/*
 * Deletes the leads created before `before` (Unix seconds) with their
 * history, and the join result rows (join_result_rows) of joins completed
 * before it that no remaining lead needs (its own request, or a step of
 * its model run).  The join summaries, receipts, lead_requests and
 * model_runs rows stay: they hold no identifiers and are what the audit
 * log refers to.  With dry_run nothing changes and *n says what would be
 * deleted; otherwise the deletion and one leads_purged audit record
 * (older_than_days, leads, history, result_rows) are one transaction.
 */
int xz_leads_purge(struct xz_node *node, int64_t before, uint64_t older_than_days,
    int dry_run, const char *actor, struct xz_leads_purge_count *n, struct xz_diag *d);

#endif
