/*
 * Errors of libxzpolicy: every failure names the file, the line and the
 * key (a dotted path such as "approvals.approvers[1].public_key") it is
 * about, and says what is wrong and, where it can, what to write instead.
 * Messages never contain a secret; they may quote policy text, which is
 * not secret.
 *
 * Part of the public interface of policy.h / request.h (included by both).
 */
#ifndef XZ_PERROR_H
#define XZ_PERROR_H

#include <stddef.h>

struct xz_perror {
	char file[256];		/* "" when not about a file */
	unsigned long line;	/* 1-based; 0 when not known */
	char key[128];		/* dotted key path; "" when about the whole file */
	char msg[512];
};

/* Fills e (when not NULL); always returns -1 so callers can return it. */
int xz_perror_set(struct xz_perror *e, const char *file, unsigned long line,
    const char *key, const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* "FILE:LINE: KEY: MESSAGE" (parts that are unknown are left out). */
void xz_perror_format(const struct xz_perror *e, char *buf, size_t len);

#endif
