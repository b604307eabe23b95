#include "cli.h"
#include "node.h"

#include <errno.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <utf8proc.h>

void
xz_cli_error(const char *fmt, ...)
{
	va_list ap;

	fputs("xiezhi: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

int
xz_cli_usage_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;

	fputs("xiezhi: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nRun 'xiezhi %s --help' for usage.\n", cmd);
	return XZ_EXIT_USAGE;
}

const char *
xz_cli_node_dir(const char *dir_opt)
{
	const char *env;

	if (dir_opt != NULL && *dir_opt != '\0')
		return dir_opt;
	env = getenv("XIEZHI_DIR");
	if (env != NULL && *env != '\0')
		return env;
	xz_cli_error("no node directory given: pass --dir DIR or set XIEZHI_DIR "
	    "(create one with 'xiezhi init --dir DIR --name NAME')");
	return NULL;
}

int
xz_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;

	if (s == NULL || *s == '\0')
		return -1;
	for (const char *p = s; *p != '\0'; p++) {
		if (*p < '0' || *p > '9')
			return -1;
		unsigned d = (unsigned)(*p - '0');
		if (v > (UINT64_MAX - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	if (v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

int
xz_cli_interactive(void)
{
	return isatty(STDERR_FILENO);
}

void
xz_json_string(FILE *f, const char *s)
{
	fputc('"', f);
	for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
		switch (*p) {
		case '"':  fputs("\\\"", f); break;
		case '\\': fputs("\\\\", f); break;
		case '\n': fputs("\\n", f); break;
		case '\r': fputs("\\r", f); break;
		case '\t': fputs("\\t", f); break;
		default:
			if (*p < 0x20)
				fprintf(f, "\\u%04x", *p);
			else
				fputc(*p, f);
		}
	}
	fputc('"', f);
}

/* Terminal columns s takes: wide (CJK) characters count two. */
static int
display_width(const char *s)
{
	const utf8proc_uint8_t *p = (const utf8proc_uint8_t *)s;
	utf8proc_int32_t cp;
	int w = 0;

	while (*p != '\0') {
		utf8proc_ssize_t n = utf8proc_iterate(p, -1, &cp);
		if (n <= 0) {
			p++;
			w++;
			continue;
		}
		w += utf8proc_charwidth(cp);
		p += n;
	}
	return w;
}

void
xz_cli_pad(FILE *f, const char *s, int width)
{
	fputs(s, f);
	for (int w = display_width(s); w < width; w++)
		fputc(' ', f);
}

const char *
xz_cli_actor(void)
{
	static char actor[96];
	struct passwd *pw = getpwuid(geteuid());

	if (pw != NULL && pw->pw_name != NULL)
		snprintf(actor, sizeof(actor), "local:%s", pw->pw_name);
	else
		snprintf(actor, sizeof(actor), "local:uid %u", (unsigned)geteuid());
	return actor;
}

void
xz_cli_cpu_model(char *out, size_t cap)
{
	FILE *f = fopen("/proc/cpuinfo", "r");
	char line[512];

	snprintf(out, cap, "unknown CPU");
	while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
		char *colon = strchr(line, ':');
		if (strncmp(line, "model name", 10) == 0 && colon != NULL) {
			snprintf(out, cap, "%s", colon + 2);
			out[strcspn(out, "\n")] = '\0';
			break;
		}
	}
	if (f != NULL)
		fclose(f);
}

int
xz_cli_open_node(const char *dir_opt, const char *cmd, struct xz_node **node)
{
	const char *dir = xz_cli_node_dir(dir_opt);
	struct xz_diag d;

	if (dir == NULL)
		return XZ_EXIT_USAGE;
	if (xz_node_open(dir, node, &d) != 0) {
		xz_cli_error("%s: %s", cmd, d.msg);
		return XZ_EXIT_FAIL;
	}
	return XZ_EXIT_OK;
}

int
xz_cli_write_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t w = write(fd, buf, len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		buf += w;
		len -= (size_t)w;
	}
	return 0;
}
