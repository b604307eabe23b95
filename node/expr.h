/*
 * The filter language of supervision models (docs/models.md §4): a small
 * expression language over the columns of a model's local dataset and the
 * labels its steps receive, compiled to SQLite SQL.
 *
 * What the file says never becomes SQL text.  A parsed expression is an
 * AST; compiling it emits only fixed operator and function spellings, the
 * column aliases a caller's resolver generates from validated store names
 * (checked again here to be [A-Za-z0-9_.]), and one `?` per literal, whose
 * value goes into the parameter list bound with sqlite3_bind_*.
 *
 * Values are exact: integers are checked 64-bit arithmetic, decimals are
 * fixed-point (a 128-bit coefficient and a power-of-ten scale, at most 38
 * significant digits, the import limit) and dates are day numbers of the
 * proleptic Gregorian calendar.  No binary floating point is used for any
 * value.  The SQL functions that do this arithmetic are registered on a
 * connection with xz_expr_register.
 *
 * Limits (a model file is operator input, but it is still parsed as
 * hostile): XZ_EXPR_MAX bytes of text, XZ_EXPR_MAX_NODES nodes, nesting of
 * XZ_EXPR_MAX_DEPTH, XZ_EXPR_MAX_IN items in one IN list, string literals
 * of XZ_EXPR_MAX_STRING bytes.
 */
#ifndef XZ_EXPR_H
#define XZ_EXPR_H

#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

#include "coltype.h"

#define XZ_EXPR_MAX		4096
#define XZ_EXPR_MAX_NODES	512
#define XZ_EXPR_MAX_DEPTH	32
#define XZ_EXPR_MAX_IN		256
#define XZ_EXPR_MAX_STRING	1024
#define XZ_EXPR_NAME_MAX	64	/* bytes of a column, label or step name */
#define XZ_EXPR_ALIAS_MAX	32	/* bytes of a resolver's SQL alias */

struct xz_expr;

struct xz_expr_error {
	size_t pos;		/* 1-based character (code point) position, 0: the whole text */
	char msg[400];
};

/*
 * Parses text (NUL-terminated UTF-8, at most XZ_EXPR_MAX bytes) into *out
 * (free with xz_expr_free).  Checks syntax and the literals themselves
 * (numbers in range, date literals real dates); names are resolved and
 * types checked later, by xz_expr_check.
 */
int xz_expr_parse(const char *text, struct xz_expr **out, struct xz_expr_error *e);
void xz_expr_free(struct xz_expr *x);

/*
 * The canonical text of x into buf (cap bytes): keywords in lower case,
 * one space around binary operators, parentheses only where precedence
 * needs them, names quoted only when they must be, literals in their
 * canonical spelling.  Parsing the canonical text gives the same AST, and
 * printing that the same text.  Returns -1 when it does not fit.
 */
int xz_expr_print(const struct xz_expr *x, char *buf, size_t cap);

/*
 * Parses text that must be one reference alone (column, "column",
 * step.label), as output columns are written; step gets "" for a local
 * column.  Both buffers hold XZ_EXPR_NAME_MAX + 1 bytes.
 */
int xz_expr_parse_ref(const char *text, char *step, char *name, struct xz_expr_error *e);

/* Calls fn for every reference (step "" for a local column), in text
 * order; a non-zero return stops the walk and is returned. */
int xz_expr_foreach_ref(const struct xz_expr *x,
    int (*fn)(void *arg, const char *step, const char *name, size_t pos), void *arg);

/* True when the expression uses as_of. */
int xz_expr_uses_as_of(const struct xz_expr *x);

/*
 * Names in scope: resolve fills in the column's type and the SQL alias to
 * emit for it (for example "L.c3"), or returns -1 with why (cap bytes)
 * saying what is wrong ("no column ... in dataset ...").
 */
struct xz_expr_scope {
	int (*resolve)(void *arg, const char *step, const char *name,
	    enum xz_coltype *type, char alias[XZ_EXPR_ALIAS_MAX], char *why, size_t cap);
	void *arg;
};

/*
 * Resolves every name of x through scope and type-checks it (the rules of
 * docs/models.md §4.3); the expression must be a condition (true/false).
 * Quoted literals compared with a typed value are normalised as that
 * type (xz_normalize), so '有期徒刑' matches the stored form of the text.
 * Records the results in x for xz_expr_compile.
 */
int xz_expr_check(struct xz_expr *x, const struct xz_expr_scope *scope,
    struct xz_expr_error *e);

/* ---- SQL with bound parameters ---- */

struct xz_sql_param {
	int is_int;
	int64_t i;
	char *text;		/* owned */
};

struct xz_sql {
	char *text;
	size_t len, cap;
	struct xz_sql_param *p;
	size_t np, pcap;
	int failed;		/* out of memory, or an identifier refused */
};

void xz_sql_init(struct xz_sql *s);
void xz_sql_free(struct xz_sql *s);
/* Appends SQL text written by the program (never file or peer text). */
void xz_sql_add(struct xz_sql *s, const char *fixed);
/* Appends an alias after checking it is [A-Za-z_][A-Za-z0-9_]* or two of
 * them joined by '.'; anything else sets failed. */
void xz_sql_ident(struct xz_sql *s, const char *alias);
/* Appends "?" and the parameter. */
void xz_sql_param_text(struct xz_sql *s, const char *v);
void xz_sql_param_int(struct xz_sql *s, int64_t v);
/* Binds s's parameters to st from index first (1-based) on; returns
 * SQLITE_OK or the bind error. */
int xz_sql_bind(const struct xz_sql *s, sqlite3_stmt *st, int first);

/*
 * Appends the SQL of a checked x to s: a condition that is true, false or
 * NULL (unknown; a filter keeps a row only when it is true).  as_of is the
 * run's date (YYYY-MM-DD), bound like a literal.
 */
int xz_expr_compile(const struct xz_expr *x, const char *as_of, struct xz_sql *s,
    struct xz_expr_error *e);

/* ---- exact values (also used by the SQL functions) ---- */

/* A decimal: coefficient * 10^-scale, the coefficient without trailing
 * zeros (so 1200 is 12 with scale -2). */
struct xz_dec {
	__int128 m;
	int scale;
};
#define XZ_DEC_MAX_SCALE 80
#define XZ_DEC_TEXT_MAX 128	/* buffer for xz_dec_format */

/* Parses an optional '-', digits and an optional '.' with digits (at most
 * 38 significant digits): the stored form of docs/import.md and the
 * spelling of decimal literals.  -1 on anything else. */
int xz_dec_parse(const char *s, size_t len, struct xz_dec *out);
/* The canonical stored form (no trailing zeros, "0" for zero). */
void xz_dec_format(const struct xz_dec *d, char buf[XZ_DEC_TEXT_MAX]);
/* Exact arithmetic; -1 when the result needs more than 38 digits as
 * docs/import.md counts them, or when a product's coefficient overflows
 * 128 bits before its trailing zeros are removed (nothing is ever rounded). */
int xz_dec_add(const struct xz_dec *a, const struct xz_dec *b, struct xz_dec *out);
int xz_dec_sub(const struct xz_dec *a, const struct xz_dec *b, struct xz_dec *out);
int xz_dec_mul(const struct xz_dec *a, const struct xz_dec *b, struct xz_dec *out);
/* -1, 0 or 1. */
int xz_dec_cmp(const struct xz_dec *a, const struct xz_dec *b);

/* Strict "YYYY-MM-DD" (years 0001..9999, real dates) to a day number
 * (0 = 1970-01-01); -1 otherwise. */
int xz_date_parse(const char *s, size_t len, int64_t *days);
/* Day number to "YYYY-MM-DD"; -1 outside years 0001..9999. */
int xz_date_format(int64_t days, char buf[11]);
enum xz_date_unit { XZ_DAYS = 0, XZ_MONTHS = 1, XZ_YEARS = 2 };
/* days + n units; months and years keep the day of the month, clamped to
 * the month's last day (2024-01-31 + 1 month = 2024-02-29).  -1 out of range. */
int xz_date_add(int64_t days, int64_t n, enum xz_date_unit unit, int64_t *out);

/*
 * Registers xz_int_add/sub/mul/neg, xz_dec_add/sub/mul/neg/cmp,
 * xz_date_add and xz_date_diff on db.  They take TEXT and INTEGER
 * arguments, return NULL for a NULL argument, and fail the statement
 * (with a message naming the operation) on overflow or on a value that is
 * not in its stored form.
 */
int xz_expr_register(sqlite3 *db);

#endif
