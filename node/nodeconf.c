#include "nodeconf.h"

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CONF_MAX_BYTES	65536

struct conf_key {
	const char *name;
	size_t offset;
	size_t size;
};

static const struct conf_key conf_keys[] = {
	{ "name", offsetof(struct xz_nodeconf, name), sizeof(((struct xz_nodeconf *)0)->name) },
	{ "store_key_check", offsetof(struct xz_nodeconf, store_key_check),
	  sizeof(((struct xz_nodeconf *)0)->store_key_check) },
};
#define NKEYS (sizeof(conf_keys) / sizeof(conf_keys[0]))

static char *
trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
		*--e = '\0';
	return s;
}

static int
parse_line(const char *path, unsigned lineno, char *line, struct xz_nodeconf *conf,
    unsigned seen[NKEYS], struct xz_diag *d)
{
	char *eq, *key, *val;

	line = trim(line);
	if (*line == '\0' || *line == '#')
		return 0;
	if ((eq = strchr(line, '=')) == NULL)
		return xz_diag_set(d, "%s:%u: expected 'key = value'", path, lineno);
	*eq = '\0';
	key = trim(line);
	val = trim(eq + 1);
	for (size_t i = 0; i < NKEYS; i++) {
		if (strcmp(key, conf_keys[i].name) != 0)
			continue;
		if (seen[i] != 0)
			return xz_diag_set(d, "%s:%u: '%s' is set twice (first on line %u)",
			    path, lineno, key, seen[i]);
		if (strlen(val) >= conf_keys[i].size)
			return xz_diag_set(d, "%s:%u: value of '%s' is longer than %zu "
			    "characters", path, lineno, key, conf_keys[i].size - 1);
		memcpy((char *)conf + conf_keys[i].offset, val, strlen(val) + 1);
		seen[i] = lineno;
		return 0;
	}
	return xz_diag_set(d, "%s:%u: unknown setting '%s'", path, lineno, key);
}

int
xz_nodeconf_read(const char *dir, struct xz_nodeconf *conf, struct xz_diag *d)
{
	char path[4096], *buf = NULL, *line, *save = NULL;
	unsigned seen[NKEYS] = {0}, lineno = 0;
	FILE *f;
	size_t n;
	int rc = -1;

	memset(conf, 0, sizeof(*conf));
	snprintf(path, sizeof(path), "%s/xiezhi.conf", dir);
	if ((f = fopen(path, "r")) == NULL)
		return xz_diag_set(d, "cannot open %s: %s", path, strerror(errno));
	if ((buf = malloc(CONF_MAX_BYTES + 1)) == NULL) {
		xz_diag_set(d, "out of memory");
		goto done;
	}
	n = fread(buf, 1, CONF_MAX_BYTES + 1, f);
	if (n > CONF_MAX_BYTES) {
		xz_diag_set(d, "%s is larger than %d bytes; it is not a xiezhi config",
		    path, CONF_MAX_BYTES);
		goto done;
	}
	buf[n] = '\0';
	if (memchr(buf, '\0', n) != NULL) {
		xz_diag_set(d, "%s contains a NUL byte; it is not a text config", path);
		goto done;
	}
	/* strtok_r would merge empty lines and skew line numbers: split by hand. */
	for (line = buf; line != NULL; line = save) {
		save = strchr(line, '\n');
		if (save != NULL)
			*save++ = '\0';
		lineno++;
		if (parse_line(path, lineno, line, conf, seen, d) != 0)
			goto done;
	}
	for (size_t i = 0; i < NKEYS; i++) {
		if (seen[i] == 0) {
			xz_diag_set(d, "%s: required setting '%s' is missing", path,
			    conf_keys[i].name);
			goto done;
		}
	}
	rc = 0;
done:
	free(buf);
	fclose(f);
	return rc;
}

int
xz_nodeconf_write(const char *dir, const struct xz_nodeconf *conf, struct xz_diag *d)
{
	char path[4096], tmp[4096], text[1024];
	int fd, len;

	snprintf(path, sizeof(path), "%s/xiezhi.conf", dir);
	snprintf(tmp, sizeof(tmp), "%s/.xiezhi.conf.tmp", dir);
	len = snprintf(text, sizeof(text),
	    "# xiezhi node configuration.\n"
	    "# name: this node's name (audit log origin, shown to operators).\n"
	    "name = %s\n"
	    "# store_key_check: identifies keys/store.key; do not edit.\n"
	    "store_key_check = %s\n", conf->name, conf->store_key_check);
	if (len < 0 || (size_t)len >= sizeof(text))
		return xz_diag_set(d, "configuration too long");
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0640);
	if (fd < 0)
		return xz_diag_set(d, "cannot create %s: %s", tmp, strerror(errno));
	if (write(fd, text, (size_t)len) != len || fsync(fd) != 0) {
		xz_diag_set(d, "cannot write %s: %s", tmp, strerror(errno));
		close(fd);
		unlink(tmp);
		return -1;
	}
	close(fd);
	if (rename(tmp, path) != 0) {
		xz_diag_set(d, "cannot rename %s to %s: %s", tmp, path, strerror(errno));
		unlink(tmp);
		return -1;
	}
	return 0;
}
