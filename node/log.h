/*
 * Line-oriented logging for xiezhid: one line per event on stderr, written
 * with a single write(2) so concurrent joins never interleave, and read by
 * journald (under systemd, lines carry the "<N>" syslog priority prefix
 * journald understands).  Format:
 *
 *     [<N>]LEVEL COMPONENT[ req=HEX32]: message
 *
 * What may be logged: levels, components, request ids (random, not
 * personal), peer identities (certificate names), counts, sizes, durations
 * and hashes.  Never a dataset value, a request's free text, a key or a
 * blind.  Control characters in the message are replaced by '?', so a
 * peer-supplied string cannot forge a line.
 */
#ifndef XZ_LOG_H
#define XZ_LOG_H

#include <stdint.h>

enum xz_log_level {
	XZ_LOG_DEBUG = 7,	/* syslog priorities */
	XZ_LOG_INFO = 6,
	XZ_LOG_WARN = 4,
	XZ_LOG_ERROR = 3,
};

/* Lines below min are dropped (default XZ_LOG_INFO). */
void xz_log_set_level(enum xz_log_level min);
/* Parses "debug", "info", "warn", "error"; -1 when unknown. */
int xz_log_level_parse(const char *s, enum xz_log_level *out);

/* request_id: 16 bytes or NULL. */
void xz_log(enum xz_log_level level, const char *component, const uint8_t *request_id,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

#endif
