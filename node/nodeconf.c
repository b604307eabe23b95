/*
 * xiezhi.conf reader and writer (node/nodeconf.h).  The file is small and
 * written by us or by an operator, but it is still read as hostile text:
 * bounded size, no NUL bytes, every value validated before it is stored,
 * and every error names the file and line.
 */
#include "nodeconf.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "policy.h"

#define CONF_MAX_BYTES	65536
#define CONF_KEY_MAX	96
#define CONF_MAX_LINES	(8 + 4 * XZ_CONF_MAX_PEERS)

/* Where a value comes from, for messages: "FILE:LINE" or a command. */
struct origin {
	const char *where;
	int init_keys_ok;	/* name/store_key_check may be set (file parse only) */
};

/* Keys seen so far in one file, to refuse a repeated key with both lines. */
struct seen {
	size_t n;
	struct {
		char key[CONF_KEY_MAX];
		unsigned line;
	} k[CONF_MAX_LINES];
};

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

const char *
xz_nodeconf_check_identity(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > XZ_CONF_IDENTITY_MAX)
		return "an identity has 1 to 253 characters";
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		    (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '_'))
			return "an identity may hold only letters, digits, '.', '-' and '_' "
			    "(the certificate's CN and DNS name)";
	}
	return NULL;
}

static int
peer_name_ok(const char *s, size_t n)
{
	if (n == 0 || n > XZ_CONF_PEER_NAME_MAX)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '_'))
			return 0;
	}
	return 1;
}

/*
 * host:port where host is a DNS name or IPv4 literal of [A-Za-z0-9.-], or
 * an IPv6 literal in brackets; port decimal 0..65535.  gRPC takes the same
 * string as a target or a listening address.
 */
int
xz_nodeconf_parse_address(const char *s, unsigned *port, const char **why)
{
	const char *colon = strrchr(s, ':'), *host_end;
	unsigned long p = 0;
	size_t hl;

	if (colon == NULL || colon[1] == '\0') {
		*why = "expected host:port (for example 127.0.0.1:7443)";
		return -1;
	}
	host_end = colon;
	if (s[0] == '[') {
		if (colon[-1] != ']' || colon - s < 3) {
			*why = "an IPv6 address goes in brackets: [::1]:7443";
			return -1;
		}
		for (const char *c = s + 1; c < colon - 1; c++)
			if (strchr("0123456789abcdefABCDEF:.", *c) == NULL) {
				*why = "the bracketed IPv6 address has a character that is "
				    "not a hex digit, ':' or '.'";
				return -1;
			}
	} else {
		hl = (size_t)(host_end - s);
		if (hl == 0 || hl > 253) {
			*why = "the host part is empty or longer than 253 characters";
			return -1;
		}
		for (const char *c = s; c < host_end; c++)
			if (!((*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') ||
			    (*c >= '0' && *c <= '9') || *c == '.' || *c == '-')) {
				*why = "the host may hold only letters, digits, '.' and '-' "
				    "(IPv6 addresses go in brackets)";
				return -1;
			}
	}
	for (const char *c = colon + 1; *c != '\0'; c++) {
		if (*c < '0' || *c > '9' || c - colon > 5) {
			*why = "the port must be a number from 0 to 65535";
			return -1;
		}
		p = p * 10 + (unsigned long)(*c - '0');
	}
	if (p > 65535) {
		*why = "the port must be a number from 0 to 65535";
		return -1;
	}
	*port = (unsigned)p;
	return 0;
}

static const char *
check_path(const char *s)
{
	if (*s == '\0')
		return "the path is empty";
	if (strlen(s) > XZ_CONF_PATH_MAX)
		return "the path is longer than 1024 characters";
	for (const unsigned char *c = (const unsigned char *)s; *c != '\0'; c++)
		if (*c < 0x20 || *c == 0x7f)
			return "the path contains a control character";
	return NULL;
}

static struct xz_conf_peer *
peer_get(struct xz_nodeconf *conf, const char *name, size_t nlen, int create)
{
	struct xz_conf_peer *p;

	for (size_t i = 0; i < conf->npeers; i++)
		if (strlen(conf->peers[i].name) == nlen &&
		    memcmp(conf->peers[i].name, name, nlen) == 0)
			return &conf->peers[i];
	if (!create || conf->npeers >= XZ_CONF_MAX_PEERS)
		return NULL;
	p = &conf->peers[conf->npeers++];
	memset(p, 0, sizeof(*p));
	memcpy(p->name, name, nlen);
	return p;
}

const struct xz_conf_peer *
xz_nodeconf_peer(const struct xz_nodeconf *conf, const char *name)
{
	for (size_t i = 0; i < conf->npeers; i++)
		if (strcmp(conf->peers[i].name, name) == 0)
			return &conf->peers[i];
	return NULL;
}

static int
copy_value(char *dst, size_t cap, const char *val, const char *key,
    const struct origin *o, struct xz_diag *d)
{
	if (strlen(val) >= cap)
		return xz_diag_set(d, "%s: value of '%s' is longer than %zu characters",
		    o->where, key, cap - 1);
	memcpy(dst, val, strlen(val) + 1);
	return 0;
}

/* peer.NAME.FIELD = value */
static int
set_peer_key(struct xz_nodeconf *conf, const char *key, const char *val,
    const struct origin *o, struct xz_diag *d)
{
	const char *name = key + 5, *dot = strrchr(key, '.'), *why = NULL;
	struct xz_conf_peer *p;
	unsigned char pk[32];
	unsigned port;

	if (dot == NULL || dot <= name || !peer_name_ok(name, (size_t)(dot - name)))
		return xz_diag_set(d, "%s: '%s': a peer key is peer.NAME.address, "
		    "peer.NAME.identity or peer.NAME.node_key, NAME being 1 to 64 "
		    "letters, digits, '-' or '_'", o->where, key);
	dot++;
	if (strcmp(dot, "address") != 0 && strcmp(dot, "identity") != 0 &&
	    strcmp(dot, "node_key") != 0)
		return xz_diag_set(d, "%s: unknown setting '%s' (a peer has address, "
		    "identity and node_key)", o->where, key);
	if (strcmp(dot, "address") == 0) {
		if (xz_nodeconf_parse_address(val, &port, &why) != 0 || port == 0)
			return xz_diag_set(d, "%s: '%s' = '%s' is not a peer address: %s",
			    o->where, key, val, why != NULL ? why : "port 0 cannot be dialled");
	} else if (strcmp(dot, "identity") == 0) {
		if ((why = xz_nodeconf_check_identity(val)) != NULL)
			return xz_diag_set(d, "%s: '%s': %s", o->where, key, why);
	} else if (xz_key_from_base64(val, pk, &why) != 0) {
		return xz_diag_set(d, "%s: '%s' is not an Ed25519 node key: %s (copy "
		    "the peer's 'xiezhi audit' key in base64, 44 characters)", o->where,
		    key, why);
	}
	p = peer_get(conf, name, (size_t)(dot - 1 - name), 1);
	if (p == NULL)
		return xz_diag_set(d, "%s: more than %d peers; this version allows at "
		    "most %d", o->where, XZ_CONF_MAX_PEERS, XZ_CONF_MAX_PEERS);
	if (strcmp(dot, "address") == 0)
		return copy_value(p->address, sizeof(p->address), val, key, o, d);
	if (strcmp(dot, "identity") == 0)
		return copy_value(p->identity, sizeof(p->identity), val, key, o, d);
	return copy_value(p->node_key, sizeof(p->node_key), val, key, o, d);
}

static int
set_key(struct xz_nodeconf *conf, const char *key, const char *val,
    const struct origin *o, struct xz_diag *d)
{
	const char *why = NULL;
	unsigned port;

	if (strncmp(key, "peer.", 5) == 0)
		return set_peer_key(conf, key, val, o, d);
	if (strcmp(key, "name") == 0 || strcmp(key, "store_key_check") == 0) {
		if (!o->init_keys_ok)
			return xz_diag_set(d, "%s: '%s' is set by 'xiezhi init' and cannot "
			    "be changed", o->where, key);
		if (strcmp(key, "name") == 0)
			return copy_value(conf->name, sizeof(conf->name), val, key, o, d);
		return copy_value(conf->store_key_check, sizeof(conf->store_key_check),
		    val, key, o, d);
	}
	if (strcmp(key, "identity") == 0) {
		if ((why = xz_nodeconf_check_identity(val)) != NULL)
			return xz_diag_set(d, "%s: 'identity': %s", o->where, why);
		return copy_value(conf->identity, sizeof(conf->identity), val, key, o, d);
	}
	if (strcmp(key, "listen") == 0) {
		if (xz_nodeconf_parse_address(val, &port, &why) != 0)
			return xz_diag_set(d, "%s: 'listen' = '%s': %s", o->where, val, why);
		return copy_value(conf->listen, sizeof(conf->listen), val, key, o, d);
	}
	if (strcmp(key, "tls_ca") == 0 || strcmp(key, "tls_cert") == 0 ||
	    strcmp(key, "tls_key") == 0) {
		if ((why = check_path(val)) != NULL)
			return xz_diag_set(d, "%s: '%s': %s", o->where, key, why);
		if (strcmp(key, "tls_ca") == 0)
			return copy_value(conf->tls_ca, sizeof(conf->tls_ca), val, key, o, d);
		if (strcmp(key, "tls_cert") == 0)
			return copy_value(conf->tls_cert, sizeof(conf->tls_cert), val, key, o, d);
		return copy_value(conf->tls_key, sizeof(conf->tls_key), val, key, o, d);
	}
	return xz_diag_set(d, "%s: unknown setting '%s'", o->where, key);
}

static int
parse_line(const char *path, unsigned lineno, char *line, struct xz_nodeconf *conf,
    struct seen *seen, struct xz_diag *d)
{
	char *eq, *key, *val, where[4200];
	struct origin o = { where, 1 };

	line = trim(line);
	if (*line == '\0' || *line == '#')
		return 0;
	if ((eq = strchr(line, '=')) == NULL)
		return xz_diag_set(d, "%s:%u: expected 'key = value'", path, lineno);
	*eq = '\0';
	key = trim(line);
	val = trim(eq + 1);
	snprintf(where, sizeof(where), "%s:%u", path, lineno);
	if (strlen(key) >= CONF_KEY_MAX)
		return xz_diag_set(d, "%s: unknown setting (a key of %zu characters)",
		    where, strlen(key));
	for (size_t i = 0; i < seen->n; i++)
		if (strcmp(seen->k[i].key, key) == 0)
			return xz_diag_set(d, "%s: '%s' is set twice (first on line %u)",
			    where, key, seen->k[i].line);
	if (seen->n >= CONF_MAX_LINES)
		return xz_diag_set(d, "%s: too many settings (at most %d)", where,
		    CONF_MAX_LINES);
	if (set_key(conf, key, val, &o, d) != 0)
		return -1;
	snprintf(seen->k[seen->n].key, CONF_KEY_MAX, "%s", key);
	seen->k[seen->n++].line = lineno;
	return 0;
}

/* Whole-file rules: init's keys present, every peer complete. */
static int
check_complete(const char *path, const struct xz_nodeconf *conf, struct xz_diag *d)
{
	if (conf->name[0] == '\0')
		return xz_diag_set(d, "%s: required setting 'name' is missing", path);
	if (conf->store_key_check[0] == '\0')
		return xz_diag_set(d, "%s: required setting 'store_key_check' is missing",
		    path);
	for (size_t i = 0; i < conf->npeers; i++) {
		const struct xz_conf_peer *p = &conf->peers[i];
		if (p->address[0] == '\0' || p->identity[0] == '\0')
			return xz_diag_set(d, "%s: peer '%s' has no %s: add "
			    "peer.%s.%s (xiezhi config set)", path, p->name,
			    p->address[0] == '\0' ? "address" : "identity", p->name,
			    p->address[0] == '\0' ? "address" : "identity");
	}
	return 0;
}

static int
parse_text(const char *path, char *buf, struct xz_nodeconf *conf, struct xz_diag *d)
{
	struct seen *seen = calloc(1, sizeof(*seen));
	char *line, *save = NULL;
	unsigned lineno = 0;
	int rc = -1;

	if (seen == NULL)
		return xz_diag_set(d, "out of memory");
	/* strtok_r would merge empty lines and skew line numbers: split by hand. */
	for (line = buf; line != NULL; line = save) {
		save = strchr(line, '\n');
		if (save != NULL)
			*save++ = '\0';
		lineno++;
		if (parse_line(path, lineno, line, conf, seen, d) != 0)
			goto done;
	}
	rc = check_complete(path, conf, d);
done:
	free(seen);
	return rc;
}

int
xz_nodeconf_read(const char *dir, struct xz_nodeconf *conf, struct xz_diag *d)
{
	char path[4096], *buf = NULL;
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
	if (ferror(f)) {
		xz_diag_set(d, "cannot read %s: %s", path, strerror(errno));
		goto done;
	}
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
	rc = parse_text(path, buf, conf, d);
done:
	if (rc != 0)
		memset(conf, 0, sizeof(*conf));
	free(buf);
	fclose(f);
	return rc;
}

int
xz_nodeconf_set(struct xz_nodeconf *conf, const char *key, const char *value,
    const char *what, struct xz_diag *d)
{
	struct origin o = { what, 0 };

	return set_key(conf, key, value, &o, d);
}

int
xz_nodeconf_unset(struct xz_nodeconf *conf, const char *key, struct xz_diag *d)
{
	struct xz_conf_peer *p;
	size_t nlen;

	if (strcmp(key, "identity") == 0) { conf->identity[0] = '\0'; return 0; }
	if (strcmp(key, "listen") == 0) { conf->listen[0] = '\0'; return 0; }
	if (strcmp(key, "tls_ca") == 0) { conf->tls_ca[0] = '\0'; return 0; }
	if (strcmp(key, "tls_cert") == 0) { conf->tls_cert[0] = '\0'; return 0; }
	if (strcmp(key, "tls_key") == 0) { conf->tls_key[0] = '\0'; return 0; }
	if (strncmp(key, "peer.", 5) == 0) {
		const char *name = key + 5, *dot = strchr(name, '.');
		nlen = dot != NULL ? (size_t)(dot - name) : strlen(name);
		if ((p = peer_get(conf, name, nlen, 0)) == NULL)
			return xz_diag_set(d, "no peer named '%.*s' in the config",
			    (int)(nlen > 64 ? 64 : nlen), name);
		if (dot != NULL && strcmp(dot, ".node_key") == 0) {
			p->node_key[0] = '\0';
			return 0;
		}
		if (dot != NULL)
			return xz_diag_set(d, "'%s': remove a whole peer with 'unset "
			    "peer.NAME', or its pinned key with peer.NAME.node_key", key);
		memmove(p, p + 1, (size_t)(&conf->peers[conf->npeers] - (p + 1)) *
		    sizeof(*p));
		conf->npeers--;
		return 0;
	}
	return xz_diag_set(d, "'%s' cannot be unset (only identity, listen, tls_*, "
	    "peer.NAME and peer.NAME.node_key)", key);
}

int
xz_nodeconf_check_federation(const struct xz_nodeconf *conf, int serve, struct xz_diag *d)
{
	static const char *hint = "set it with 'xiezhi config set' (docs/operations.md)";

	if (conf->identity[0] == '\0')
		return xz_diag_set(d, "the config has no 'identity' (this node's "
		    "certificate identity): %s", hint);
	if (serve && conf->listen[0] == '\0')
		return xz_diag_set(d, "the config has no 'listen' address: %s", hint);
	if (conf->tls_ca[0] == '\0')
		return xz_diag_set(d, "the config has no 'tls_ca' (federation CA "
		    "bundle): %s", hint);
	if (conf->tls_cert[0] == '\0')
		return xz_diag_set(d, "the config has no 'tls_cert' (node certificate): %s",
		    hint);
	if (conf->tls_key[0] == '\0')
		return xz_diag_set(d, "the config has no 'tls_key' (node private key): %s",
		    hint);
	return 0;
}

int
xz_nodeconf_path(const char *dir, const char *path, char *buf, size_t len,
    struct xz_diag *d)
{
	int n;

	if (path[0] == '/')
		n = snprintf(buf, len, "%s", path);
	else
		n = snprintf(buf, len, "%s/%s", dir, path);
	if (n < 0 || (size_t)n >= len)
		return xz_diag_set(d, "path %s is too long", path);
	return 0;
}

/* Appends one formatted line to the text being built; -1 when it is full. */
static int __attribute__((format(printf, 4, 5)))
put(char *text, size_t cap, size_t *used, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(text + *used, cap - *used, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= cap - *used)
		return -1;
	*used += (size_t)n;
	return 0;
}

static int
format_conf(const struct xz_nodeconf *conf, char *text, size_t cap, size_t *used)
{
	int bad = 0;

	bad |= put(text, cap, used,
	    "# xiezhi node configuration (docs/operations.md lists every key).\n"
	    "# name: this node's name (audit log origin, shown to operators).\n"
	    "name = %s\n"
	    "# store_key_check: identifies keys/store.key; do not edit.\n"
	    "store_key_check = %s\n", conf->name, conf->store_key_check);
	if (conf->identity[0] != '\0' || conf->listen[0] != '\0' ||
	    conf->tls_ca[0] != '\0' || conf->tls_cert[0] != '\0' ||
	    conf->tls_key[0] != '\0')
		bad |= put(text, cap, used, "# Federation: identity, listen address and "
		    "TLS files (relative to this directory).\n");
	if (conf->identity[0] != '\0')
		bad |= put(text, cap, used, "identity = %s\n", conf->identity);
	if (conf->listen[0] != '\0')
		bad |= put(text, cap, used, "listen = %s\n", conf->listen);
	if (conf->tls_ca[0] != '\0')
		bad |= put(text, cap, used, "tls_ca = %s\n", conf->tls_ca);
	if (conf->tls_cert[0] != '\0')
		bad |= put(text, cap, used, "tls_cert = %s\n", conf->tls_cert);
	if (conf->tls_key[0] != '\0')
		bad |= put(text, cap, used, "tls_key = %s\n", conf->tls_key);
	for (size_t i = 0; i < conf->npeers; i++) {
		const struct xz_conf_peer *p = &conf->peers[i];
		bad |= put(text, cap, used, "peer.%s.address = %s\npeer.%s.identity = %s\n",
		    p->name, p->address, p->name, p->identity);
		if (p->node_key[0] != '\0')
			bad |= put(text, cap, used, "peer.%s.node_key = %s\n", p->name,
			    p->node_key);
	}
	return bad ? -1 : 0;
}

int
xz_nodeconf_write(const char *dir, const struct xz_nodeconf *conf, struct xz_diag *d)
{
	char path[4096], tmp[4096], *text;
	size_t cap = CONF_MAX_BYTES, used = 0;
	int fd = -1, rc = -1;

	snprintf(path, sizeof(path), "%s/xiezhi.conf", dir);
	snprintf(tmp, sizeof(tmp), "%s/.xiezhi.conf.tmp", dir);
	/* Never write a file the reader would refuse. */
	if (check_complete(path, conf, d) != 0)
		return -1;
	if ((text = malloc(cap)) == NULL)
		return xz_diag_set(d, "out of memory");
	if (format_conf(conf, text, cap, &used) != 0) {
		xz_diag_set(d, "configuration too long");
		goto done;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0640);
	if (fd < 0) {
		xz_diag_set(d, "cannot create %s: %s", tmp, strerror(errno));
		goto done;
	}
	if (write(fd, text, used) != (ssize_t)used || fsync(fd) != 0) {
		xz_diag_set(d, "cannot write %s: %s", tmp, strerror(errno));
		unlink(tmp);
		goto done;
	}
	if (rename(tmp, path) != 0) {
		xz_diag_set(d, "cannot rename %s to %s: %s", tmp, path, strerror(errno));
		unlink(tmp);
		goto done;
	}
	rc = 0;
done:
	if (fd >= 0)
		close(fd);
	free(text);
	return rc;
}
