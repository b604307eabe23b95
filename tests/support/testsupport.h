/*
 * Shared helpers for xiezhi's cmocka tests: throwaway directories, running
 * the real programs and capturing what they print.  Nothing here fakes a
 * component; it only sets up and inspects real ones.
 */
#ifndef XZ_TESTSUPPORT_H
#define XZ_TESTSUPPORT_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

/* Result of running a program: exit status and everything it printed. */
struct xzt_run {
	int status;   /* exit code, or 128+signal if killed */
	char *out;    /* stdout, NUL-terminated, owned */
	char *err;    /* stderr, NUL-terminated, owned */
};

/* Creates a fresh directory under $TMPDIR (or /tmp); returns a malloc'd path. */
char *xzt_mkdtemp(const char *tag);
/* Removes a directory tree (best effort; for test cleanup). */
void xzt_rmtree(const char *path);
/* Joins two path parts into a malloc'd string. */
char *xzt_path(const char *dir, const char *name);
/* Writes len bytes to path (creating or truncating it); fails the test on error. */
void xzt_write_file(const char *path, const void *data, size_t len);
/* Reads a whole file into a malloc'd NUL-terminated buffer; *len gets its size. */
char *xzt_read_file(const char *path, size_t *len);

/*
 * Runs argv[0] with argv (NULL-terminated), optional stdin text and extra
 * environment entries ("K=V", NULL-terminated, may be NULL).  Output is
 * captured in full.  Free with xzt_run_free.
 */
void xzt_run(struct xzt_run *r, const char *const argv[], const char *stdin_text,
             const char *const env[]);
void xzt_run_free(struct xzt_run *r);

/* Path of the xiezhi CLI / xiezhid daemon under test (from ctest's environment). */
const char *xzt_xiezhi_bin(void);
const char *xzt_xiezhid_bin(void);
/* Top of the source tree (for example files in policies/examples). */
const char *xzt_source_dir(void);

/* True when needle occurs in the len bytes at hay. */
int xzt_memmem(const void *hay, size_t len, const void *needle, size_t nlen);

#endif
