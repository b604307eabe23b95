/* Internals shared by node/expr.c (syntax) and node/expr_check.c (types, SQL). */
#ifndef XZ_EXPR_INTERNAL_H
#define XZ_EXPR_INTERNAL_H

#include "expr.h"

enum xz_ekind {
	K_OR, K_AND, K_NOT, K_CMP, K_IN, K_ISNULL, K_ADD, K_SUB, K_MUL, K_NEG,
	K_REF, K_ASOF, K_STR, K_INT, K_DEC, K_DATE, K_BOOL, K_DUR,
};

enum xz_ecmp { C_EQ, C_NE, C_LT, C_LE, C_GT, C_GE };

/* Types of docs/models.md §4.3; TY_STR is a quoted literal not yet typed. */
enum xz_etype { TY_NONE, TY_BOOL, TY_STR, TY_TEXT, TY_INT, TY_DEC, TY_DATE, TY_DUR };

struct xz_enode {
	enum xz_ekind kind;
	int op;			/* K_CMP: xz_ecmp; K_IN, K_ISNULL: negated; K_DUR: unit; K_BOOL: value */
	size_t pos;		/* 1-based character position of its token */
	int a, b;		/* children, -1 when none; K_IN: a subject, b first item */
	int next;		/* next item of an IN list, -1 at the end */
	int64_t i;		/* K_INT value, K_DUR count */
	char *s;		/* K_STR text, K_DEC canonical, K_DATE stored form, K_REF name */
	char *step;		/* K_REF: step name, "" for a local column */
	/* Set by xz_expr_check. */
	enum xz_etype type;
	enum xz_coltype sub;	/* TY_TEXT: which text-like column type */
	char *norm;		/* K_STR: its value normalised as the adopted type */
	char alias[XZ_EXPR_ALIAS_MAX];
};

struct xz_expr {
	struct xz_enode *n;
	size_t nn;
	int root;
	int checked;
};

/* "30 days" etc. as printed. */
const char *xz_expr_unit_name(int unit, int64_t n);

#endif
