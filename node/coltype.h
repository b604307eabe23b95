/*
 * Column types of an imported dataset and their normalisers.
 *
 * Two agencies can only join on a value when both wrote it the same way, so
 * every field is brought to one canonical spelling before it is stored or
 * blinded: a resident ID typed with full-width digits and a lowercase x, a
 * phone number with "+86" and dashes, a date written 2024年3月5日 all end
 * up as the one form the rules in docs/import.md describe.  A value that
 * cannot be brought to that form is refused with a reason a clerk can act
 * on; it is never guessed at.
 *
 * The normalisers are pure functions of their input (and, for cn_id, of
 * today's date): no global state beyond a per-thread cache of today's
 * date and of the last failure reason, no allocation on the ASCII path.
 */
#ifndef XZ_COLTYPE_H
#define XZ_COLTYPE_H

#include <stddef.h>

enum xz_coltype {
	XZ_COL_CN_ID,	/* resident identity number, GB 11643-1999 */
	XZ_COL_USCC,	/* unified social credit code, GB 32100-2015 */
	XZ_COL_PHONE,	/* mainland mobile number, 11 digits */
	XZ_COL_TEXT,	/* free text, NFKC, whitespace-collapsed */
	XZ_COL_INT,	/* signed 64-bit integer */
	XZ_COL_DECIMAL,	/* exact decimal (money), canonical string */
	XZ_COL_DATE,	/* calendar date, YYYY-MM-DD */
};

/* Number of column types (for tables indexed by enum xz_coltype). */
#define XZ_COLTYPE_COUNT 7

/*
 * Longest normalised value of each fixed-format type plus its NUL, so
 * callers can size output buffers: 18 for cn_id/uscc, 11 for phone,
 * 20 for int ("-9223372036854775808"), 40 for decimal (38 digits, sign and
 * point), 10 for date.  Text can grow under NFKC: give it at least
 * XZ_TEXT_OUT_CAP(len) bytes.
 */
#define XZ_NORM_FIXED_CAP 48
#define XZ_TEXT_OUT_CAP(len) ((len) * 18 + 1)

/* Largest number of significant digits a decimal may carry. */
#define XZ_DECIMAL_MAX_DIGITS 38

/* "cn_id", "uscc", "phone", "text", "int", "decimal", "date" -> *out.
 * Returns 0, or -1 for an unknown name (*out untouched). */
int xz_coltype_parse(const char *name, enum xz_coltype *out);

/* The name xz_coltype_parse accepts for t; "unknown" for a bad value. */
const char *xz_coltype_name(enum xz_coltype t);

/*
 * Normalises one field of type t.
 *
 * in/len: the field's bytes (UTF-8, not NUL-terminated; may contain any
 * byte).  out/cap: where the canonical form goes, NUL-terminated;
 * *outlen gets its length without the NUL.
 *
 * Returns 0 on success.  On failure returns -1, leaves out holding an
 * empty string, sets *reason to an English phrase for a clerk ("check
 * character is 5, expected X", "day 31 does not exist in April 2023") and
 * *pos to the 1-based character (code point) position in the original
 * field where the problem is, or 0 when the problem concerns the whole
 * value.  *reason points to static or per-thread storage that stays valid
 * until the next xz_normalize call on the same thread; never free it.
 * Reasons never repeat the whole value, only the part at fault.
 *
 * An empty or all-blank field is refused ("empty value") by every type
 * except text, which normalises it to "" (the importer decides whether an
 * empty text is allowed).
 */
int xz_normalize(enum xz_coltype t, const char *in, size_t len, char *out, size_t cap,
                 size_t *outlen, const char **reason, size_t *pos);

/*
 * True when the field is empty or holds only blanks (spaces, tabs, U+3000
 * ideographic space, no-break spaces): the value xz_normalize refuses as
 * "empty value" for every type but text.  For importers that store a blank
 * non-key cell as missing rather than reject it.
 */
int xz_field_is_blank(const char *in, size_t len);

/*
 * The GB 11643-1999 check character ('0'..'9' or 'X') for the first 17
 * digits of a resident ID (ISO 7064 MOD 11-2).  digits17 must be 17 ASCII
 * digits.  Exposed for tests and the synthetic-data generator.
 */
char xz_cn_id_check_char(const char digits17[17]);

/*
 * The GB 32100-2015 check character for the first 17 characters of a
 * unified social credit code (all from its 31-character set).  Returns 0
 * when a character is outside the set.
 */
char xz_uscc_check_char(const char chars17[17]);

#endif
