/*
 * Datasets in the node's encrypted store: import from CSV, list, show,
 * drop, and read back for joins.
 *
 * Storage: each dataset's rows live in their own table named after a
 * random suffix (never after user input), with the normalised key in
 * column k and the other columns in c1..cN; the column names and types
 * the operator chose are kept in dataset_columns.  An import runs in one
 * transaction: until it commits, readers see the previous data, and a
 * failure at any point leaves the store as it was.
 */
#ifndef XZ_DATASET_H
#define XZ_DATASET_H

#include <stdint.h>
#include <stdio.h>

#include "coltype.h"
#include "diag.h"
#include "node.h"

#define XZ_DATASET_NAME_MAX	64
#define XZ_COLUMN_NAME_MAX	128
#define XZ_DATASET_MAX_COLUMNS	64

enum xz_import_mode {
	XZ_IMPORT_CREATE,	/* the dataset must not exist yet */
	XZ_IMPORT_REPLACE,	/* atomic swap: old rows stay until the new import commits */
	XZ_IMPORT_APPEND,	/* add rows; columns and types must match */
};

struct xz_column_spec {
	char name[XZ_COLUMN_NAME_MAX];
	enum xz_coltype type;
};

/* True when name is 1-64 of [A-Za-z0-9._-]: dataset names appear in
 * policies, requests and audit records, so they stay plain. */
int xz_dataset_name_valid(const char *name);

/* Parses "NAME:TYPE" (split at the last ':'). */
int xz_column_spec_parse(const char *arg, struct xz_column_spec *out, struct xz_diag *d);

struct xz_import_spec {
	const char *dataset;
	const char *csv_path;
	const char *encoding;		/* NULL or "utf-8", "gb18030", "gbk" */
	struct xz_column_spec key;
	const struct xz_column_spec *columns;
	size_t ncolumns;
	const char *reject_path;	/* NULL: any bad row refuses the import */
	enum xz_import_mode mode;
	const char *actor;		/* who runs it, for the audit log */
	/* Called about every 64k rows; may be NULL. */
	void (*progress)(void *arg, uint64_t bytes_done, uint64_t bytes_total,
	    uint64_t rows);
	void *progress_arg;
	/* Testing only: fail as if the disk broke after this many rows (0 = never). */
	uint64_t fail_after_rows;
};

/* One refused row, as reported to the operator (no field values). */
struct xz_import_problem {
	uint64_t line;
	char column[XZ_COLUMN_NAME_MAX];
	size_t pos;		/* 1-based character position in the value, 0 = whole value */
	char reason[160];
};

#define XZ_IMPORT_PROBLEMS_LISTED 20

struct xz_import_result {
	uint64_t rows_read;
	uint64_t rows_imported;
	uint64_t rows_rejected;
	uint64_t duplicates;	/* rows whose key appeared on an earlier row */
	double elapsed_s;
	int committed;		/* 1 when the rows are in the store */
	size_t nproblems;	/* listed, at most XZ_IMPORT_PROBLEMS_LISTED */
	struct xz_import_problem problems[XZ_IMPORT_PROBLEMS_LISTED];
	char source_sha256[65];
};

/*
 * Imports spec->csv_path into the dataset.  Returns 0 when the rows were
 * committed; -1 otherwise with d saying why.  When rows were refused and no
 * reject file was given, result->rows_rejected and result->problems say
 * which and nothing was written.
 */
int xz_dataset_import(struct xz_node *node, const struct xz_import_spec *spec,
    struct xz_import_result *result, struct xz_diag *d);

/* Deletes a dataset and its rows; actor is who asked, for the audit log. */
int xz_dataset_drop(struct xz_node *node, const char *name, const char *actor,
    struct xz_diag *d);

/*
 * A dataset's columns as the store holds them, for code that queries a
 * dataset's table itself (supervision models, node/model.h): column 0 is
 * the key (SQL column "k"), then the other columns in import order
 * ("c1".."cN").  The table name is checked to be the [a-z0-9_] name
 * import gave it.  Fails, saying so, when there is no such dataset.
 */
struct xz_dataset_column {
	char name[XZ_COLUMN_NAME_MAX];
	enum xz_coltype type;
	char sql[8];
};
struct xz_dataset_schema {
	char name[XZ_DATASET_NAME_MAX + 1];
	char table[64];
	int64_t rows;
	size_t ncolumns;
	struct xz_dataset_column columns[XZ_DATASET_MAX_COLUMNS + 1];
};
int xz_dataset_schema(struct xz_node *node, const char *name,
    struct xz_dataset_schema *out, struct xz_diag *d);

/* Prints the datasets (table or JSON) to f. */
int xz_dataset_print_list(struct xz_node *node, FILE *f, int json, struct xz_diag *d);
/* Prints one dataset's schema, row count and import history. */
int xz_dataset_print_show(struct xz_node *node, const char *name, FILE *f, int json,
    struct xz_diag *d);

#endif
