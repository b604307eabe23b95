/*
 * Supervision models (docs/models.md): a YAML file that says which of the
 * requester's own records to start from, which peers to ask about them in
 * which order, how to filter what comes back, and what a lead is.
 *
 * A parsed model is a plain value (fixed-size fields): compare it with
 * xz_model_equal, print it with xz_model_print; printing then parsing
 * gives an equal model.  Filters are kept in their canonical text
 * (node/expr.h).  Parsing checks everything the file alone can say (the
 * schema, names, limits, filter syntax, that step.label references name a
 * step and a label it asks for); xz_model_check then checks the model
 * against the node (datasets, columns and their types, peers) and gives
 * the plan a run follows.
 */
#ifndef XZ_MODEL_H
#define XZ_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "coltype.h"
#include "dataset.h"
#include "diag.h"
#include "expr.h"
#include "node.h"
#include "nodeconf.h"
#include "perror.h"
#include "policy.h"
#include "request.h"

#define XZ_MODEL_MAX_STEPS	16
#define XZ_MODEL_MAX_OUTPUT	64
#define XZ_MODEL_FILE_MAX	XZ_POLICY_FILE_MAX
#define XZ_MODEL_DATE_LEN	10	/* "YYYY-MM-DD" */

struct xz_model_label {
	char name[XZ_NAME_MAX + 1];
	enum xz_coltype type;		/* declared as NAME:TYPE; text when not */
};

/* One data owner a step asks. */
struct xz_model_party {
	char peer[XZ_CONF_PEER_NAME_MAX + 1];	/* a peer NAME of xiezhi.conf */
	char policy_id[XZ_NAME_MAX + 1];
	uint32_t policy_version;
	char dataset[XZ_NAME_MAX + 1];		/* the owner's dataset */
	size_t n_labels;
	struct xz_model_label labels[XZ_POLICY_MAX_LABELS];
};

struct xz_model_step {
	char name[XZ_NAME_MAX + 1];
	int mode;			/* XZ_MODE_INTERSECT, _DIFFERENCE, _CARDINALITY, _DELEGATED */
	size_t n_parties;		/* 1; 2 for a delegated step */
	struct xz_model_party party[2];
	uint64_t query_size;		/* 0: derived from the local query */
	char key[XZ_NAME_MAX + 1];	/* delegated: the label both owners may name, or "" */
};

/* A column reference: step "" for a column of the local dataset. */
struct xz_model_ref {
	char step[XZ_NAME_MAX + 1];
	char name[XZ_NAME_MAX + 1];
};

/* YAML lines of the parts later checks report on (not compared). */
struct xz_model_lines {
	unsigned long local, local_dataset, local_key, local_filter, filter;
	unsigned long step[XZ_MODEL_MAX_STEPS], party[XZ_MODEL_MAX_STEPS][2];
	unsigned long output[XZ_MODEL_MAX_OUTPUT];
};

struct xz_model {
	char id[XZ_NAME_MAX + 1];
	uint32_t version;
	char title[XZ_TEXT_MAX + 1];
	char purpose[XZ_TEXT_MAX + 1];
	char legal_basis[XZ_TEXT_MAX + 1];
	char case_number[XZ_CASE_NUMBER_MAX + 1];	/* "" when absent */
	char as_of[XZ_MODEL_DATE_LEN + 1];		/* "" when absent */
	int has_local;
	char local_dataset[XZ_NAME_MAX + 1];
	char local_key[XZ_NAME_MAX + 1];
	char local_filter[XZ_EXPR_MAX + 1];		/* canonical, "" when absent */
	size_t n_steps;
	struct xz_model_step steps[XZ_MODEL_MAX_STEPS];
	char filter[XZ_EXPR_MAX + 1];			/* canonical, "" when absent */
	size_t n_output;
	struct xz_model_ref output[XZ_MODEL_MAX_OUTPUT];
	struct xz_model_lines lines;
};

/* Parses len bytes of YAML (file names the source in errors); *out is
 * zeroed on failure. */
int xz_model_parse(const char *file, const void *yaml, size_t len, struct xz_model *out,
    struct xz_perror *e) __attribute__((warn_unused_result));
/* Reads path (at most XZ_MODEL_FILE_MAX bytes) and parses it; sha256 (may
 * be NULL) gets the SHA-256 of the file's bytes. */
int xz_model_load(const char *path, struct xz_model *out, uint8_t sha256[32],
    struct xz_perror *e) __attribute__((warn_unused_result));
/* The normalised YAML form (malloc'd). */
int xz_model_print(const struct xz_model *m, char **out, struct xz_perror *e)
    __attribute__((warn_unused_result));
int xz_model_equal(const struct xz_model *a, const struct xz_model *b);

/* "step.label" or "column", quoted as in filters where needed (cap >=
 * 2 * XZ_NAME_MAX + 8). */
void xz_model_ref_name(const struct xz_model_ref *r, char *buf, size_t cap);
/* The step called name, or NULL. */
const struct xz_model_step *xz_model_step_named(const struct xz_model *m, const char *name);
/* The label of step s called name (position in *index over both parties,
 * in order), or NULL. */
const struct xz_model_label *xz_model_step_label(const struct xz_model_step *s,
    const char *name, size_t *index);

/* ---- against the node ---- */

struct xz_model_output {
	char name[2 * XZ_NAME_MAX + 8];	/* as printed: "filed.declared_sales" */
	char alias[XZ_EXPR_ALIAS_MAX];	/* its SQL alias in the working set */
	enum xz_coltype type;
};

/*
 * What xz_model_check found: the local dataset's schema, the peers'
 * identities, the checked filters and outputs.  SQL aliases: L.k / L.cN
 * for local columns, sI.lJ for label J (1-based, owner 0's labels first)
 * of step I (1-based).
 */
struct xz_model_plan {
	const struct xz_model *m;
	struct xz_dataset_schema local;
	size_t key_col;				/* index of local.key in local.columns */
	char identity[XZ_CONF_IDENTITY_MAX + 1];	/* this node's */
	char peer_identity[XZ_MODEL_MAX_STEPS][2][XZ_CONF_IDENTITY_MAX + 1];
	int joined[XZ_MODEL_MAX_STEPS];		/* labels used: joined into the working set */
	struct xz_expr *local_filter, *filter;	/* NULL when absent */
	struct xz_model_output out[XZ_MODEL_MAX_OUTPUT];
};

/*
 * Checks m (parsed from file) against the node: the local dataset and
 * every local column it names exist, filters type-check (docs/models.md
 * §4.3), outputs resolve, every peer is in conf with an identity.  On
 * failure e names file, line and key.  Release plan with
 * xz_model_plan_release.
 */
int xz_model_check(struct xz_node *node, const struct xz_nodeconf *conf,
    const struct xz_model *m, const char *file, struct xz_model_plan *plan,
    struct xz_perror *e) __attribute__((warn_unused_result));
void xz_model_plan_release(struct xz_model_plan *plan);

/*
 * SQL over the node's store (with xz_expr_register on the connection):
 *   keys:   the distinct local keys the local filter keeps (column 0), in
 *           store order;
 *   rows:   count(*) of the local rows the local filter keeps;
 *   leads:  the working set after the post-filter, DISTINCT, column 0 the
 *           lead's key and then one column per output, from the TEMP
 *           tables xz_keys(k) (the keys the last step left) and xz_s<I>(k,
 *           l1..) (the labels of step I).
 *   working: count(*) of the working set before the post-filter.
 */
enum xz_model_query { XZ_MQ_KEYS, XZ_MQ_ROWS, XZ_MQ_LEADS, XZ_MQ_WORKING };
int xz_model_sql(const struct xz_model_plan *plan, enum xz_model_query q, const char *as_of,
    struct xz_sql *s, struct xz_diag *d);

/* The as_of a run uses: override (--as-of) when given, else the model's,
 * else today (UTC).  -1 when override is not a date YYYY-MM-DD. */
int xz_model_as_of(const struct xz_model *m, const char *override,
    char out[XZ_MODEL_DATE_LEN + 1], struct xz_diag *d);

/* ---- requests ---- */

/* The request file name of party p of step s: "<step>.yaml", or
 * "<step>.<peer>.yaml" for a delegated step. */
void xz_model_request_name(const struct xz_model_step *s, size_t p, char *buf, size_t cap);

/* query_size a step's requests declare: the step's own, else the local
 * candidate count rounded up to two significant digits, at least 100. */
uint64_t xz_model_query_size(const struct xz_model_step *s, uint64_t local_keys);

/*
 * Fills in the draft request of party p of step i (without approvals):
 * requester this node, responder the peer, the policy, the owner's
 * dataset, the mode, the label names, query_size, the model's purpose and
 * legal basis, case_number, created now and expires.  link is the step's
 * shared 16 random bytes (delegated steps only).
 */
int xz_model_draft(const struct xz_model_plan *plan, size_t i, size_t p,
    uint64_t query_size, const char *case_number, int64_t created, int64_t expires,
    const unsigned char link[XZ_REQUEST_ID_LEN], struct xz_request *out,
    struct xz_diag *d);

/* Checks that req is a request for party p of step i of the plan (what
 * xz_model_draft would have written, whatever its id, dates, size, case
 * number and texts); d says which field differs. */
int xz_model_request_matches(const struct xz_model_plan *plan, size_t i, size_t p,
    const struct xz_request *req, struct xz_diag *d);

/* ---- running ---- */

struct xz_model_progress {
	size_t step;			/* 0-based */
	const char *name, *phase;	/* phase: "sent", "answers" (from the join) */
	uint64_t done, total;
};

struct xz_model_step_result {
	char name[XZ_NAME_MAX + 1];
	char mode[16];
	char peer[2][XZ_CONF_PEER_NAME_MAX + 1];
	uint8_t request_id[2][XZ_REQUEST_ID_LEN];
	size_t n_requests;
	uint64_t sent;			/* keys sent (0 for a delegated step) */
	uint64_t result_size;		/* the join's result size */
	uint64_t rows;			/* result rows stored */
	uint64_t keys_after;		/* keys still in play after the step */
	int skipped;			/* no keys were left to ask about */
	double seconds;
};

struct xz_model_run_opts {
	const char *dir;		/* node directory */
	const char *model_file;
	const char *request_dir;
	const char *as_of;		/* NULL: the model's, else today */
	const char *actor;		/* who runs it, for the records */
	int64_t deadline_ms;		/* each step's join */
	/* Called as steps advance (may be NULL); step_done after each step
	 * that ran or was skipped. */
	void (*progress)(void *arg, const struct xz_model_progress *p);
	void (*step_done)(void *arg, size_t step, const struct xz_model_step_result *r);
	void *progress_arg;
};

struct xz_model_run_result {
	uint8_t run_id[16];
	char model[XZ_NAME_MAX + 16];		/* "id@version" */
	char title[XZ_TEXT_MAX + 1];
	uint8_t model_sha256[32];
	char as_of[XZ_MODEL_DATE_LEN + 1];
	int started;				/* the run is on record */
	uint64_t local_rows, local_keys;
	size_t n_steps;
	struct xz_model_step_result step[XZ_MODEL_MAX_STEPS];
	uint64_t working_rows, leads;
	int failed_step;			/* index, or -1 */
	int refused;				/* the failed step was refused by a peer */
	char reason[1024];
	double seconds;
};

/*
 * Runs the model (docs/models.md §6): checks it and every step's signed
 * request, records the run, runs the local query, each step's join with
 * the keys still in play, builds the working set, applies the post-filter
 * and creates one lead per output row, all linked to the run.  Returns 0
 * when the run completed; -1 otherwise with d saying why (and, once the
 * run was on record, out->failed_step and out->reason; a failed run has no
 * leads).
 */
int xz_model_run(const struct xz_model_run_opts *o, struct xz_model_run_result *out,
    struct xz_diag *d);

#endif
