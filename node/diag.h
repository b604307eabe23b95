/*
 * Diagnostics: a fixed-size message a failing function fills in for the
 * user.  A message says what failed, on which input (file, line, column,
 * field) and, where it can, what to do.  It never holds a secret or a raw
 * identifier from a dataset.
 */
#ifndef XZ_DIAG_H
#define XZ_DIAG_H

#include <stddef.h>

struct xz_diag {
	char msg[1024];
};

/* Sets d->msg (when d is not NULL); always returns -1 so callers can
 * "return xz_diag_set(d, ...);". */
int xz_diag_set(struct xz_diag *d, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
