/*
 * Streaming CSV reader on top of libcsv.
 *
 * libcsv is push-based: csv_parse() takes a buffer and calls back once per
 * field (on_field) and once per line end (on_row_end).  We feed it one
 * chunk of the file at a time, queue the complete records the chunk
 * produced, and hand them out one per xz_csv_next() call.  Fields are
 * copied into an arena that is reset once its records are consumed, so
 * memory stays bounded by the chunk size plus one record.
 *
 * libcsv does not report positions, so we count lines ourselves: it is
 * run with CSV_REPALL_NL, which reports every unquoted CR and LF (blank
 * lines included) to on_row_end, and line breaks inside quoted fields are
 * counted from the field's bytes.  A CR immediately followed by LF is one
 * line end.
 */
#include "csvread.h"

#include <errno.h>
#include <fcntl.h>
#include <iconv.h>

#include <openssl/evp.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <csv.h>

/* Bytes read from the file per chunk. */
#define RAW_CHUNK (256u * 1024u)
/* Longest record (all its fields together); a runaway quote hits this. */
#define MAX_RECORD (1024u * 1024u)

struct rec {
	size_t first;		/* index of its first field in foff/flen */
	size_t nfields;
	uint64_t line;
};

struct xz_csv {
	int fd;
	char *path;
	iconv_t cd;		/* (iconv_t)-1 for UTF-8 input */
	struct csv_parser p;
	int parser_ready;
	int at_start;		/* nothing fed to the parser yet: BOM check due */
	int state;		/* 0 reading, 1 end of file, -1 failed */
	uint64_t bytes_read, file_size;

	unsigned char *raw;	/* bytes read but not yet converted (GB18030) */
	size_t raw_len;
	unsigned char *conv;	/* conversion output */
	size_t conv_cap;

	char *arena;		/* field bytes, each NUL-terminated */
	size_t arena_len, arena_cap;
	size_t *foff, *flen;	/* per field: offset in arena, length */
	size_t nf, nf_cap;
	struct rec *recs;	/* complete records of the current chunk */
	size_t nrec, rec_cap, rec_next;

	size_t cur_first, cur_nf;	/* the record being assembled */
	uint64_t cur_line;
	uint64_t line;		/* current physical line */
	int last_cr;

	EVP_MD_CTX *sha256;	/* over the raw bytes exactly as read */
	int err;		/* a callback found a problem: stop after queued records */
	char errmsg[sizeof(((struct xz_diag *)0)->msg)];
	const char **fptrs;	/* XZ_CSV_MAX_FIELDS pointers handed out */
};

/* ---- errors ------------------------------------------------------------- */

static void seterr(struct xz_csv *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void
seterr(struct xz_csv *c, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (c->err)
		return;
	c->err = 1;
	n = snprintf(c->errmsg, sizeof(c->errmsg), "%s: ", c->path);
	if (n < 0 || (size_t)n >= sizeof(c->errmsg))
		return;
	va_start(ap, fmt);
	vsnprintf(c->errmsg + n, sizeof(c->errmsg) - (size_t)n, fmt, ap);
	va_end(ap);
}

static uint64_t
count_lf(const void *s, size_t n)
{
	const unsigned char *p = s, *end;
	uint64_t k = 0;

	if (n == 0)	/* s may be NULL: libcsv has no buffer before the first field */
		return 0;
	end = p + n;
	while (p < end && (p = memchr(p, '\n', (size_t)(end - p))) != NULL) {
		k++;
		p++;
	}
	return k;
}

/* Line where libcsv stopped: fields already seen plus the field in progress. */
static uint64_t
parser_line(const struct xz_csv *c)
{
	return c->line + count_lf(c->p.entry_buf, c->p.entry_buf ? c->p.entry_pos : 0);
}

/* ---- field validation --------------------------------------------------- */

enum { FIELD_OK, FIELD_NUL, FIELD_BAD_UTF8 };

/*
 * RFC 3629 well-formedness plus "no NUL byte", eight bytes at a time while
 * the text is plain ASCII.  *bad gets the offset of the first bad byte.
 */
static int
check_field(const unsigned char *s, size_t n, size_t *bad)
{
	const uint64_t hi = 0x8080808080808080ull, lo = 0x0101010101010101ull;
	size_t i = 0;

	while (i < n) {
		if (n - i >= 8) {
			uint64_t w;
			memcpy(&w, s + i, 8);
			if (((w | ((w - lo) & ~w)) & hi) == 0) {
				i += 8;
				continue;
			}
		}
		unsigned char b = s[i];
		size_t need;
		uint32_t cp, min;

		if (b == 0) {
			*bad = i;
			return FIELD_NUL;
		}
		if (b < 0x80) {
			i++;
			continue;
		}
		if (b >= 0xC2 && b <= 0xDF) {
			need = 1; cp = b & 0x1Fu; min = 0x80;
		} else if (b >= 0xE0 && b <= 0xEF) {
			need = 2; cp = b & 0x0Fu; min = 0x800;
		} else if (b >= 0xF0 && b <= 0xF4) {
			need = 3; cp = b & 0x07u; min = 0x10000;
		} else {
			goto bad;
		}
		if (n - i - 1 < need)
			goto bad;
		for (size_t j = 1; j <= need; j++) {
			if ((s[i + j] & 0xC0) != 0x80)
				goto bad;
			cp = (cp << 6) | (s[i + j] & 0x3Fu);
		}
		if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
			goto bad;
		i += 1 + need;
	}
	return FIELD_OK;
bad:
	*bad = i;
	return FIELD_BAD_UTF8;
}

/* ---- libcsv callbacks --------------------------------------------------- */

/* Grows *p (of *cap elements of elem bytes) to hold need elements. */
static int
grow(void **p, size_t *cap, size_t need, size_t elem)
{
	size_t n = *cap ? *cap : 256;
	void *q;

	while (n < need)
		n *= 2;
	if (n == *cap)
		return 0;
	q = realloc(*p, n * elem);
	if (q == NULL)
		return -1;
	*p = q;
	*cap = n;
	return 0;
}

/*
 * The arena holds agency data in the clear, so it is grown by copying and
 * wiping the old block rather than with realloc, which may leave it behind.
 */
static int
grow_arena(struct xz_csv *c, size_t need)
{
	size_t n = c->arena_cap ? c->arena_cap : 512u * 1024u;
	char *q;

	while (n < need)
		n *= 2;
	if (n == c->arena_cap)
		return 0;
	if ((q = malloc(n)) == NULL)
		return -1;
	if (c->arena != NULL) {
		memcpy(q, c->arena, c->arena_len);
		explicit_bzero(c->arena, c->arena_cap);
		free(c->arena);
	}
	c->arena = q;
	c->arena_cap = n;
	return 0;
}

/* foff and flen share one capacity: lengths are handed out as an array. */
static int
grow_fields(struct xz_csv *c, size_t need)
{
	size_t cap = c->nf_cap, cap2 = c->nf_cap;

	if (need <= c->nf_cap)
		return 0;
	if (grow((void **)&c->foff, &cap, need, sizeof(size_t)) != 0 ||
	    grow((void **)&c->flen, &cap2, need, sizeof(size_t)) != 0)
		return -1;
	c->nf_cap = cap;
	return 0;
}

static void
on_field(void *field, size_t len, void *data)
{
	struct xz_csv *c = data;
	const unsigned char *s = field;
	size_t bad = 0;
	uint64_t field_line = c->line;
	int v;

	c->last_cr = 0;
	if (c->err)
		return;
	if (c->cur_nf == 0) {
		c->cur_line = c->line;
		c->cur_first = c->nf;
	}
	c->line += count_lf(s, len);
	if (c->cur_nf == XZ_CSV_MAX_FIELDS) {
		seterr(c, "line %" PRIu64 ": more than %u fields in one record; check the delimiter "
		       "is a comma and quotes are balanced", c->cur_line, XZ_CSV_MAX_FIELDS);
		return;
	}
	if ((v = check_field(s, len, &bad)) != FIELD_OK) {
		uint64_t at = field_line + count_lf(s, bad);
		if (v == FIELD_NUL)
			seterr(c, "line %" PRIu64 ", field %zu: NUL byte; the file is probably UTF-16 or "
			       "binary: export it as UTF-8 or GB18030 CSV", at, c->cur_nf + 1);
		else
			seterr(c, "line %" PRIu64 ", field %zu: not valid UTF-8; if this is a GBK/GB18030 "
			       "export, import it with --encoding gb18030", at, c->cur_nf + 1);
		return;
	}
	if (c->cur_nf > 0 && c->arena_len - c->foff[c->cur_first] + len > MAX_RECORD) {
		seterr(c, "line %" PRIu64 ": record longer than %u bytes; check the quotes are balanced",
		       c->cur_line, MAX_RECORD);
		return;
	}
	if (grow_arena(c, c->arena_len + len + 1) != 0 ||
	    grow_fields(c, c->nf + 1) != 0) {
		seterr(c, "line %" PRIu64 ": out of memory", c->cur_line);
		return;
	}
	memcpy(c->arena + c->arena_len, s, len);
	c->arena[c->arena_len + len] = '\0';
	c->foff[c->nf] = c->arena_len;
	c->flen[c->nf] = len;
	c->nf++;
	c->arena_len += len + 1;
	c->cur_nf++;
}

static void
on_row_end(int ch, void *data)
{
	struct xz_csv *c = data;

	if (ch == '\r') {
		c->line++;
		c->last_cr = 1;
	} else if (ch == '\n') {
		if (!c->last_cr)
			c->line++;
		c->last_cr = 0;
	}
	if (c->err || c->cur_nf == 0)
		return;		/* a blank line, or we are stopping */
	if (grow((void **)&c->recs, &c->rec_cap, c->nrec + 1, sizeof(struct rec)) != 0) {
		seterr(c, "line %" PRIu64 ": out of memory", c->cur_line);
		return;
	}
	c->recs[c->nrec++] = (struct rec){ c->cur_first, c->cur_nf, c->cur_line };
	c->cur_nf = 0;
}

/* ---- feeding the parser ------------------------------------------------- */

/* libcsv's internal parser states (libcsv.c); its header does not name them. */
#define LIBCSV_FIELD_BEGUN 2
#define LIBCSV_FIELD_MIGHT_HAVE_ENDED 3

/*
 * libcsv grows its field buffer with this; refusing past the cap is how an
 * over-long field stops the parser (csv_parse returns early, CSV_ENOMEM).
 * The buffer is allocated once at full size (csv_set_blk_size), so a field
 * never leaves stale copies behind in freed memory.
 */
static void *
capped_realloc(void *p, size_t n)
{
	if (n > XZ_CSV_MAX_FIELD + 2)
		return NULL;
	return realloc(p, n);
}

/* Turns a short csv_parse() return into a message naming line and field. */
static void
parse_error(struct xz_csv *c)
{
	uint64_t line = parser_line(c);
	size_t field = c->cur_nf + 1;

	switch (csv_error(&c->p)) {
	case CSV_EPARSE:
		if (c->p.pstate == LIBCSV_FIELD_MIGHT_HAVE_ENDED)
			seterr(c, "line %" PRIu64 ", field %zu: text after a closing quote; a quote "
			       "inside a quoted field must be doubled (\"\")", line, field);
		else
			seterr(c, "line %" PRIu64 ", field %zu: a quote inside an unquoted field; "
			       "quote the whole field and double the inner quote (\"\")", line, field);
		break;
	case CSV_ENOMEM:
		if (c->p.entry_size >= XZ_CSV_MAX_FIELD + 2) {
			/* Name the line the field starts on: a runaway quote is there. */
			seterr(c, "line %" PRIu64 ", field %zu: field longer than %u bytes; if the field "
			       "starts with a quote, check that it is closed", c->line, field,
			       XZ_CSV_MAX_FIELD);
			break;
		}
		seterr(c, "line %" PRIu64 ": out of memory", line);
		break;
	default:
		seterr(c, "line %" PRIu64 ": %s", line, csv_strerror(csv_error(&c->p)));
		break;
	}
}

static void
feed(struct xz_csv *c, const unsigned char *buf, size_t n)
{
	if (c->at_start && n > 0) {
		/* A UTF-8 byte order mark (or GB18030's, converted) is no data. */
		if (n >= 3 && memcmp(buf, "\xEF\xBB\xBF", 3) == 0) {
			buf += 3;
			n -= 3;
		}
		c->at_start = 0;
	}
	if (c->err || n == 0)
		return;
	if (csv_parse(&c->p, buf, n, on_field, on_row_end, c) < n && !c->err)
		parse_error(c);
}

/* Converts what is in raw (GB18030/GBK) and feeds it; keeps a split
 * multi-byte character for the next chunk. */
static void
convert_and_feed(struct xz_csv *c)
{
	char *in = (char *)c->raw;
	size_t inleft = c->raw_len;

	while (inleft > 0 && !c->err) {
		char *out = (char *)c->conv;
		size_t outleft = c->conv_cap;
		size_t rc = iconv(c->cd, &in, &inleft, &out, &outleft);
		int e = errno;

		feed(c, c->conv, c->conv_cap - outleft);
		if (rc != (size_t)-1 || e == EINVAL)
			break;		/* all done, or a character split by the chunk */
		if (e == EILSEQ) {
			seterr(c, "line %" PRIu64 ": bytes that are not valid %s text; check the "
			       "export's encoding (--encoding utf-8 or gb18030)",
			       parser_line(c), "GB18030/GBK");
			break;
		}
		if (e != E2BIG) {
			seterr(c, "line %" PRIu64 ": character conversion failed: %s",
			       parser_line(c), strerror(e));
			break;
		}
	}
	memmove(c->raw, in, inleft);
	c->raw_len = inleft;
}

static void
finish(struct xz_csv *c)
{
	c->state = 1;
	if (c->err)
		return;
	if (c->cd != (iconv_t)-1 && c->raw_len > 0) {
		seterr(c, "line %" PRIu64 ": the file ends in the middle of a character; it may be "
		       "truncated", parser_line(c));
		return;
	}
	if (csv_fini(&c->p, on_field, on_row_end, c) != 0)
		seterr(c, "line %" PRIu64 ", field %zu: a quoted field that starts here is never "
		       "closed; a quote inside a field must be doubled (\"\")", c->line,
		       c->cur_nf + 1);
}

/* Reads one chunk and parses it; at the end of the file, finishes. */
static void
fill(struct xz_csv *c)
{
	ssize_t r;

	do
		r = read(c->fd, c->raw + c->raw_len, RAW_CHUNK - c->raw_len);
	while (r < 0 && errno == EINTR);
	if (r < 0) {
		seterr(c, "read failed after %" PRIu64 " bytes: %s", c->bytes_read, strerror(errno));
		return;
	}
	if (r == 0) {
		finish(c);
		return;
	}
	c->bytes_read += (uint64_t)r;
	EVP_DigestUpdate(c->sha256, c->raw + c->raw_len, (size_t)r);
	if (c->cd == (iconv_t)-1) {
		feed(c, c->raw, (size_t)r);
		return;
	}
	c->raw_len += (size_t)r;
	convert_and_feed(c);
}

/* Drops consumed records; keeps the fields of the record in progress. */
static void
compact(struct xz_csv *c)
{
	if (c->cur_nf > 0) {
		size_t base = c->foff[c->cur_first];

		memmove(c->arena, c->arena + base, c->arena_len - base);
		for (size_t k = 0; k < c->cur_nf; k++) {
			c->foff[k] = c->foff[c->cur_first + k] - base;
			c->flen[k] = c->flen[c->cur_first + k];
		}
		c->arena_len -= base;
		c->cur_first = 0;
		c->nf = c->cur_nf;
	} else {
		c->arena_len = 0;
		c->nf = 0;
	}
	c->nrec = c->rec_next = 0;
}

/* ---- public API --------------------------------------------------------- */

static iconv_t
open_encoding(const char *encoding, int *known)
{
	*known = 1;
	if (encoding == NULL || strcasecmp(encoding, "utf-8") == 0 || strcasecmp(encoding, "utf8") == 0)
		return (iconv_t)-1;
	if (strcasecmp(encoding, "gb18030") == 0)
		return iconv_open("UTF-8", "GB18030");
	if (strcasecmp(encoding, "gbk") == 0)
		return iconv_open("UTF-8", "GBK");
	*known = 0;
	return (iconv_t)-1;
}

int
xz_csv_open(const char *path, const char *encoding, struct xz_csv **out, struct xz_diag *d)
{
	struct xz_csv *c = NULL;
	struct stat st;
	int known, rc = -1;

	*out = NULL;
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return xz_diag_set(d, "%s: out of memory", path);
	c->fd = -1;
	c->at_start = 1;
	c->cd = open_encoding(encoding, &known);
	if (!known) {
		xz_diag_set(d, "unknown encoding '%s': use utf-8 or gb18030 (gbk)", encoding);
		goto done;
	}
	if (encoding != NULL && c->cd == (iconv_t)-1 && strcasecmp(encoding, "utf-8") != 0 &&
	    strcasecmp(encoding, "utf8") != 0) {
		xz_diag_set(d, "encoding %s is not available from iconv on this system", encoding);
		goto done;
	}
	if ((c->path = strdup(path)) == NULL) {
		xz_diag_set(d, "%s: out of memory", path);
		goto done;
	}
	if ((c->fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY)) < 0) {
		xz_diag_set(d, "%s: cannot open: %s", path, strerror(errno));
		goto done;
	}
	if (fstat(c->fd, &st) != 0 || S_ISDIR(st.st_mode)) {
		xz_diag_set(d, "%s: not a readable file", path);
		goto done;
	}
	c->file_size = S_ISREG(st.st_mode) ? (uint64_t)st.st_size : 0;
	c->conv_cap = RAW_CHUNK * 2 + 16;	/* GB18030 -> UTF-8 grows at most 1.5x */
	c->raw = malloc(RAW_CHUNK);
	c->conv = c->cd != (iconv_t)-1 ? malloc(c->conv_cap) : NULL;
	c->fptrs = calloc(XZ_CSV_MAX_FIELDS, sizeof(*c->fptrs));
	c->sha256 = EVP_MD_CTX_new();
	if (c->raw == NULL || c->fptrs == NULL || (c->cd != (iconv_t)-1 && c->conv == NULL) ||
	    c->sha256 == NULL || EVP_DigestInit_ex(c->sha256, EVP_sha256(), NULL) != 1) {
		xz_diag_set(d, "%s: out of memory", path);
		goto done;
	}
	csv_init(&c->p, CSV_STRICT | CSV_STRICT_FINI | CSV_REPALL_NL | CSV_APPEND_NULL);
	csv_set_realloc_func(&c->p, capped_realloc);
	csv_set_blk_size(&c->p, XZ_CSV_MAX_FIELD + 2);
	c->parser_ready = 1;
	c->line = 1;
	*out = c;
	c = NULL;
	rc = 0;
done:
	xz_csv_close(c);
	return rc;
}

int
xz_csv_next(struct xz_csv *c, const char *const **fields, const size_t **lens, size_t *nfields,
            uint64_t *line, struct xz_diag *d)
{
	for (;;) {
		if (c->rec_next < c->nrec) {
			const struct rec *r = &c->recs[c->rec_next++];

			for (size_t k = 0; k < r->nfields; k++)
				c->fptrs[k] = c->arena + c->foff[r->first + k];
			*fields = c->fptrs;
			*lens = c->flen + r->first;
			*nfields = r->nfields;
			*line = r->line;
			return 1;
		}
		if (c->err) {
			c->state = -1;
			return xz_diag_set(d, "%s", c->errmsg);
		}
		if (c->state == 1)
			return 0;
		compact(c);
		fill(c);
	}
}

uint64_t
xz_csv_bytes_read(const struct xz_csv *c)
{
	return c->bytes_read;
}

int
xz_csv_sha256(struct xz_csv *c, unsigned char md[32])
{
	unsigned int n = 0;

	if (c->state != 1 || EVP_DigestFinal_ex(c->sha256, md, &n) != 1 || n != 32)
		return -1;
	return 0;
}

uint64_t
xz_csv_file_size(const struct xz_csv *c)
{
	return c->file_size;
}

void
xz_csv_close(struct xz_csv *c)
{
	if (c == NULL)
		return;
	/* The buffers held agency data in the clear: wipe before freeing. */
	if (c->arena != NULL)
		explicit_bzero(c->arena, c->arena_cap);
	if (c->raw != NULL)
		explicit_bzero(c->raw, RAW_CHUNK);
	if (c->conv != NULL)
		explicit_bzero(c->conv, c->conv_cap);
	if (c->parser_ready) {
		if (c->p.entry_buf != NULL)
			explicit_bzero(c->p.entry_buf, c->p.entry_size);
		csv_free(&c->p);
	}
	if (c->cd != (iconv_t)-1)
		iconv_close(c->cd);
	EVP_MD_CTX_free(c->sha256);
	if (c->fd >= 0)
		close(c->fd);
	free(c->arena);
	free(c->raw);
	free(c->conv);
	free(c->foff);
	free(c->flen);
	free(c->recs);
	free(c->fptrs);
	free(c->path);
	free(c);
}
