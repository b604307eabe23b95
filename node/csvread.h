/*
 * Streaming CSV reader for dataset imports.
 *
 * Reads an agency export record by record in bounded memory: RFC 4180
 * fields (quoted fields may hold commas, doubled quotes and line breaks),
 * LF or CRLF line ends, a last line without a line end, UTF-8 with or
 * without a byte order mark, or GB18030/GBK converted to UTF-8 on the fly.
 * Blank lines are skipped.  Spaces and tabs around an unquoted field are
 * not part of it (libcsv's behaviour); inside quotes they are kept.
 *
 * Every record handed out is valid UTF-8 without NUL bytes.  Anything
 * malformed stops the file with a message naming the file and the line.
 * Records may have different numbers of fields ("ragged"); the caller
 * decides what to do with them.
 */
#ifndef XZ_CSVREAD_H
#define XZ_CSVREAD_H

#include <stddef.h>
#include <stdint.h>

#include "diag.h"

/* Longest field, in bytes after decoding quotes (and after conversion). */
#define XZ_CSV_MAX_FIELD (64u * 1024u)
/* Most fields one record may have. */
#define XZ_CSV_MAX_FIELDS 1024u

struct xz_csv;

/*
 * Opens path for streaming.  encoding: NULL, "utf-8" or "utf8" (a leading
 * byte order mark is dropped), "gb18030" or "gbk" (converted to UTF-8 with
 * iconv; bytes that are not valid in the encoding are an error naming the
 * line).  Case does not matter.  *out is owned by the caller: xz_csv_close.
 */
int xz_csv_open(const char *path, const char *encoding, struct xz_csv **out, struct xz_diag *d);

/*
 * Next record.  Returns 1 and sets *fields / *lens (arrays of *nfields
 * entries; each field is also NUL-terminated) and *line (the 1-based
 * physical line where the record starts); these stay valid until the next
 * call.  Returns 0 at the end of the file, -1 when the file is malformed or
 * cannot be read, with d naming the file and line.  After -1 or 0 every
 * further call returns the same.
 */
int xz_csv_next(struct xz_csv *c, const char *const **fields, const size_t **lens, size_t *nfields,
                uint64_t *line, struct xz_diag *d);

/* Bytes of the file consumed so far and the file's size, for progress. */
uint64_t xz_csv_bytes_read(const struct xz_csv *c);
uint64_t xz_csv_file_size(const struct xz_csv *c);

/* Closes the file and frees c (NULL is fine). */
/*
 * SHA-256 of every byte read from the file, as read (before any encoding
 * conversion).  Only after xz_csv_next returned 0 (end of file), once.
 */
int xz_csv_sha256(struct xz_csv *c, unsigned char md[32]);
void xz_csv_close(struct xz_csv *c);

#endif
