/*
 * Harness: the dataset importer's front end.  The input is a whole CSV
 * file.  It is read through xz_csv_open/xz_csv_next twice, once as UTF-8
 * and once as GB18030 (the two encodings an agency export comes in), and
 * every field of every record goes through xz_normalize for every column
 * type, as `xiezhi dataset import` does with the columns it was told about.
 *
 * Promises checked (node/csvread.h, node/coltype.h):
 *  - records: at most XZ_CSV_MAX_FIELDS fields of at most XZ_CSV_MAX_FIELD
 *    bytes, each NUL-terminated at lens[i], valid UTF-8 without NUL; line
 *    numbers start at 1 and never go backwards; after 0 or -1 every further
 *    call returns the same;
 *  - xz_normalize: on success a NUL-terminated value of *outlen bytes that
 *    fits cap and normalises to itself (one canonical spelling); on failure
 *    an empty out, a reason, and a position inside the field; a refused
 *    ID-like field (11+ digits) is never echoed in the reason.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <utf8proc.h>

#include "coltype.h"
#include "csvread.h"
#include "fuzz.h"

/* Records looked at per input: enough for every interesting shape, and
 * keeps one input from taking seconds (libFuzzer inputs are small anyway). */
#define MAX_RECORDS 4096

static int memfd = -1;
static char memfd_path[64];

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	/* The reader takes a path; an in-memory file keeps the disk out of it. */
	memfd = memfd_create("fuzz_csv", MFD_CLOEXEC);
	FUZZ_CHECK(memfd >= 0, "memfd_create failed");
	snprintf(memfd_path, sizeof(memfd_path), "/proc/self/fd/%d", memfd);
	return 0;
}

static void
put_file(const uint8_t *data, size_t size)
{
	size_t off = 0;

	FUZZ_CHECK(ftruncate(memfd, 0) == 0, "cannot truncate the memfd");
	while (off < size) {
		ssize_t w = pwrite(memfd, data + off, size - off, (off_t)off);

		if (w < 0 && errno == EINTR)
			continue;
		FUZZ_CHECK(w > 0, "cannot write the memfd");
		off += (size_t)w;
	}
}

/* Number of code points of valid UTF-8 s[0..n), or (size_t)-1 when not
 * valid UTF-8 or when it holds a NUL. */
static size_t
utf8_count(const char *s, size_t n)
{
	size_t i = 0, cps = 0;

	while (i < n) {
		utf8proc_int32_t cp;
		utf8proc_ssize_t k = utf8proc_iterate((const utf8proc_uint8_t *)s + i,
		    (utf8proc_ssize_t)(n - i), &cp);

		if (k <= 0 || cp == 0)
			return (size_t)-1;
		i += (size_t)k;
		cps++;
	}
	return cps;
}

static int
id_like(const char *s, size_t n)
{
	if (n < 11)
		return 0;
	for (size_t i = 0; i < n; i++)
		if ((s[i] < '0' || s[i] > '9') && s[i] != 'X' && s[i] != 'x')
			return 0;
	return 1;
}

static size_t
cap_for(enum xz_coltype t, size_t len)
{
	return t == XZ_COL_TEXT ? XZ_TEXT_OUT_CAP(len) : XZ_NORM_FIXED_CAP;
}

/* Normalises out (a canonical value) again: it must come back unchanged. */
static void
check_idempotent(enum xz_coltype t, const char *val, size_t vlen)
{
	uint8_t *in = fuzz_dup((const uint8_t *)val, vlen);
	size_t cap = cap_for(t, vlen), outlen = 0, pos = 0;
	char *out = malloc(cap);
	const char *reason = NULL;
	int rc;

	FUZZ_CHECK(out != NULL, "out of memory");
	rc = xz_normalize(t, (const char *)in, vlen, out, cap, &outlen, &reason, &pos);
	if (rc != 0)
		fprintf(stderr, "type %s: canonical value refused: %s at %zu\n",
		    xz_coltype_name(t), reason ? reason : "(no reason)", pos);
	FUZZ_CHECK(rc == 0, "a normalised value is accepted again");
	FUZZ_CHECK(outlen == vlen && memcmp(out, val, vlen) == 0,
	    "a normalised value normalises to itself");
	free(out);
	free(in);
}

static void
normalize_all(const char *field, size_t len)
{
	size_t cps = utf8_count(field, len);

	for (int t = 0; t < XZ_COLTYPE_COUNT; t++) {
		/* Exactly len bytes, no NUL after them: overreads are caught. */
		uint8_t *in = fuzz_dup((const uint8_t *)field, len);
		size_t cap = cap_for((enum xz_coltype)t, len), outlen = 12345, pos = 0;
		char *out = malloc(cap);
		const char *reason = NULL;

		FUZZ_CHECK(out != NULL, "out of memory");
		if (xz_normalize((enum xz_coltype)t, (const char *)in, len, out, cap, &outlen,
		        &reason, &pos) == 0) {
			FUZZ_CHECK(outlen < cap && out[outlen] == '\0', "value fits cap, NUL-terminated");
			FUZZ_CHECK(strlen(out) == outlen, "no NUL inside a normalised value");
			FUZZ_CHECK(utf8_count(out, outlen) != (size_t)-1, "normalised value is UTF-8");
			check_idempotent((enum xz_coltype)t, out, outlen);
		} else {
			FUZZ_CHECK(t != XZ_COL_TEXT || len > 0, "text accepts the empty field");
			FUZZ_CHECK(out[0] == '\0', "out is empty on failure");
			FUZZ_CHECK(reason != NULL && reason[0] != '\0', "a failure has a reason");
			FUZZ_CHECK(pos <= cps, "failure position is inside the field");
			FUZZ_CHECK(!id_like(field, len) || strstr(reason, field) == NULL,
			    "a reason never repeats the whole (ID-like) value");
		}
		free(out);
		free(in);
	}
}

static void
check_record(const char *const *fields, const size_t *lens, size_t n)
{
	FUZZ_CHECK(n >= 1 && n <= XZ_CSV_MAX_FIELDS, "1..XZ_CSV_MAX_FIELDS fields");
	for (size_t i = 0; i < n; i++) {
		FUZZ_CHECK(lens[i] <= XZ_CSV_MAX_FIELD, "field within XZ_CSV_MAX_FIELD");
		FUZZ_CHECK(fields[i][lens[i]] == '\0', "field NUL-terminated at its length");
		FUZZ_CHECK(utf8_count(fields[i], lens[i]) != (size_t)-1,
		    "field is UTF-8 without NUL");
		normalize_all(fields[i], lens[i]);
	}
}

static void
read_all(const char *encoding)
{
	struct xz_csv *c = NULL;
	struct xz_diag d;
	const char *const *fields;
	const size_t *lens;
	size_t n;
	uint64_t line, last_line = 1;
	int rc = 1;

	memset(&d, 0, sizeof(d));
	FUZZ_CHECK(xz_csv_open(memfd_path, encoding, &c, &d) == 0, "open of a readable file");
	for (int i = 0; i < MAX_RECORDS && rc == 1; i++) {
		rc = xz_csv_next(c, &fields, &lens, &n, &line, &d);
		if (rc == 1) {
			FUZZ_CHECK(line >= last_line, "line numbers never go backwards");
			last_line = line;
			check_record(fields, lens, n);
		}
	}
	if (rc != 1) {
		FUZZ_CHECK(rc == 0 || d.msg[0] != '\0', "a malformed file has a message");
		FUZZ_CHECK(xz_csv_next(c, &fields, &lens, &n, &line, &d) == rc,
		    "the end (or the error) is sticky");
	}
	FUZZ_CHECK(xz_csv_bytes_read(c) <= xz_csv_file_size(c), "progress within the file");
	xz_csv_close(c);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	put_file(data, size);
	read_all("utf-8");
	read_all("gb18030");
	return 0;
}
