#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LOG_LINE_MAX 2048

static volatile enum xz_log_level log_min = XZ_LOG_INFO;

void
xz_log_set_level(enum xz_log_level min)
{
	log_min = min;
}

int
xz_log_level_parse(const char *s, enum xz_log_level *out)
{
	static const struct { const char *name; enum xz_log_level lvl; } t[] = {
		{ "debug", XZ_LOG_DEBUG }, { "info", XZ_LOG_INFO },
		{ "warn", XZ_LOG_WARN }, { "error", XZ_LOG_ERROR },
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (strcmp(s, t[i].name) == 0) {
			*out = t[i].lvl;
			return 0;
		}
	return -1;
}

static const char *
level_name(enum xz_log_level l)
{
	switch (l) {
	case XZ_LOG_DEBUG: return "debug";
	case XZ_LOG_INFO: return "info";
	case XZ_LOG_WARN: return "warn";
	case XZ_LOG_ERROR: return "error";
	}
	return "info";
}

void
xz_log(enum xz_log_level level, const char *component, const uint8_t *request_id,
    const char *fmt, ...)
{
	char line[LOG_LINE_MAX];
	size_t used = 0, start;
	va_list ap;
	int n;

	if (level > log_min)
		return;
	/* journald sets JOURNAL_STREAM for services whose stderr it reads. */
	if (getenv("JOURNAL_STREAM") != NULL)
		used += (size_t)snprintf(line, sizeof(line), "<%d>", (int)level);
	used += (size_t)snprintf(line + used, sizeof(line) - used, "%s %s",
	    level_name(level), component);
	if (request_id != NULL) {
		used += (size_t)snprintf(line + used, sizeof(line) - used, " req=");
		for (int i = 0; i < 16; i++)
			used += (size_t)snprintf(line + used, sizeof(line) - used, "%02x",
			    request_id[i]);
	}
	used += (size_t)snprintf(line + used, sizeof(line) - used, ": ");
	start = used;
	va_start(ap, fmt);
	n = vsnprintf(line + used, sizeof(line) - used - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	used += (size_t)n < sizeof(line) - used - 1 ? (size_t)n : sizeof(line) - used - 2;
	for (size_t i = start; i < used; i++)
		if ((unsigned char)line[i] < 0x20 || line[i] == 0x7f)
			line[i] = '?';
	line[used++] = '\n';
	/* One write: lines from concurrent joins stay whole. */
	if (write(STDERR_FILENO, line, used) < 0)
		return;
}
