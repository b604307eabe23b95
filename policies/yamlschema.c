/*
 * Schema checking over libyaml documents, shared value checks, and YAML
 * output through libyaml's emitter (so quoting is never hand-rolled).
 */
#include "yamlschema.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy.h"

/* A policy is a few dozen nodes; these caps only stop pathological input. */
#define XZ_Y_MAX_DEPTH	8
#define XZ_Y_MAX_EVENTS	20000

int
xz_perror_set(struct xz_perror *e, const char *file, unsigned long line,
    const char *key, const char *fmt, ...)
{
	va_list ap;

	if (e == NULL)
		return -1;
	snprintf(e->file, sizeof(e->file), "%s", file != NULL ? file : "");
	e->line = line;
	snprintf(e->key, sizeof(e->key), "%s", key != NULL ? key : "");
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
	return -1;
}

void
xz_perror_format(const struct xz_perror *e, char *buf, size_t len)
{
	char where[300] = "";

	if (e->file[0] != '\0' && e->line > 0)
		snprintf(where, sizeof(where), "%s:%lu: ", e->file, e->line);
	else if (e->file[0] != '\0')
		snprintf(where, sizeof(where), "%s: ", e->file);
	if (e->key[0] != '\0')
		snprintf(buf, len, "%s%s: %s", where, e->key, e->msg);
	else
		snprintf(buf, len, "%s%s", where, e->msg);
}

unsigned long
xz_y_line(const yaml_node_t *n)
{
	return (unsigned long)n->start_mark.line + 1;
}

int
xz_y_fail(struct xz_y *y, const yaml_node_t *n, const char *path,
    const char *fmt, ...)
{
	va_list ap;
	char msg[512];

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return xz_perror_set(y->e, y->file, n != NULL ? xz_y_line(n) : 0, path,
	    "%s", msg);
}

const char *
xz_y_path(char buf[XZ_PATH_MAX], const char *parent, const char *key)
{
	if (parent == NULL || *parent == '\0')
		snprintf(buf, XZ_PATH_MAX, "%s", key);
	else
		snprintf(buf, XZ_PATH_MAX, "%s.%s", parent, key);
	return buf;
}

const char *
xz_y_path_idx(char buf[XZ_PATH_MAX], const char *parent, size_t i)
{
	snprintf(buf, XZ_PATH_MAX, "%s[%zu]", parent, i);
	return buf;
}

/*
 * First pass over the event stream: refuses aliases, deep nesting, more
 * than one document and oversized streams before a document is built.
 */
static int
prescan(struct xz_y *y, const void *buf, size_t len)
{
	yaml_parser_t p;
	yaml_event_t ev;
	int depth = 0, docs = 0, rc = -1;
	size_t events = 0;

	if (!yaml_parser_initialize(&p))
		return xz_perror_set(y->e, y->file, 0, NULL, "out of memory");
	yaml_parser_set_input_string(&p, buf, len);
	for (;;) {
		if (!yaml_parser_parse(&p, &ev)) {
			xz_perror_set(y->e, y->file,
			    (unsigned long)p.problem_mark.line + 1, NULL,
			    "not valid YAML: %s%s%s", p.problem != NULL ? p.problem : "error",
			    p.context != NULL ? " " : "", p.context != NULL ? p.context : "");
			goto done;
		}
		yaml_event_type_t t = ev.type;
		unsigned long line = (unsigned long)ev.start_mark.line + 1;
		yaml_event_delete(&ev);
		if (++events > XZ_Y_MAX_EVENTS) {
			xz_perror_set(y->e, y->file, line, NULL, "file has too many YAML nodes");
			goto done;
		}
		if (t == YAML_ALIAS_EVENT) {
			xz_perror_set(y->e, y->file, line, NULL,
			    "YAML aliases (*name) are not allowed; write the value out");
			goto done;
		}
		if (t == YAML_DOCUMENT_START_EVENT && ++docs > 1) {
			xz_perror_set(y->e, y->file, line, NULL,
			    "more than one YAML document; put one per file");
			goto done;
		}
		if (t == YAML_MAPPING_START_EVENT || t == YAML_SEQUENCE_START_EVENT) {
			if (++depth > XZ_Y_MAX_DEPTH) {
				xz_perror_set(y->e, y->file, line, NULL, "nesting too deep");
				goto done;
			}
		}
		if (t == YAML_MAPPING_END_EVENT || t == YAML_SEQUENCE_END_EVENT)
			depth--;
		if (t == YAML_STREAM_END_EVENT)
			break;
	}
	rc = 0;
done:
	yaml_parser_delete(&p);
	return rc;
}

int
xz_y_load(struct xz_y *y, const char *file, const void *buf, size_t len,
    struct xz_perror *e)
{
	yaml_parser_t p;
	int rc = -1;

	memset(y, 0, sizeof(*y));
	y->file = file;
	y->e = e;
	if (len > XZ_POLICY_FILE_MAX)
		return xz_perror_set(e, file, 0, NULL, "file is larger than %u bytes",
		    XZ_POLICY_FILE_MAX);
	if (prescan(y, buf, len) != 0)
		return -1;
	if (!yaml_parser_initialize(&p))
		return xz_perror_set(e, file, 0, NULL, "out of memory");
	yaml_parser_set_input_string(&p, buf, len);
	if (!yaml_parser_load(&p, &y->doc)) {
		xz_perror_set(e, file, (unsigned long)p.problem_mark.line + 1, NULL,
		    "not valid YAML: %s", p.problem != NULL ? p.problem : "error");
		goto done;
	}
	y->loaded = 1;
	if (yaml_document_get_root_node(&y->doc) == NULL) {
		xz_perror_set(e, file, 0, NULL, "file is empty");
		goto done;
	}
	rc = 0;
done:
	yaml_parser_delete(&p);
	return rc;
}

void
xz_y_free(struct xz_y *y)
{
	if (y->loaded)
		yaml_document_delete(&y->doc);
	y->loaded = 0;
}

yaml_node_t *
xz_y_root(struct xz_y *y)
{
	return yaml_document_get_root_node(&y->doc);
}

static const char *
node_kind(const yaml_node_t *n)
{
	switch (n->type) {
	case YAML_SCALAR_NODE:   return "a single value";
	case YAML_SEQUENCE_NODE: return "a list";
	case YAML_MAPPING_NODE:  return "a mapping";
	default:                 return "nothing";
	}
}

static int
in_list(const char *const *list, const char *s)
{
	for (; list != NULL && *list != NULL; list++)
		if (strcmp(*list, s) == 0)
			return 1;
	return 0;
}

int
xz_y_mapping(struct xz_y *y, yaml_node_t *n, const char *path,
    const char *const *allowed, const char *const *required)
{
	char kp[XZ_PATH_MAX];

	if (n->type != YAML_MAPPING_NODE)
		return xz_y_fail(y, n, path, "expected a mapping of keys, got %s",
		    node_kind(n));
	for (yaml_node_pair_t *pr = n->data.mapping.pairs.start;
	    pr < n->data.mapping.pairs.top; pr++) {
		yaml_node_t *k = yaml_document_get_node(&y->doc, pr->key);
		if (k == NULL || k->type != YAML_SCALAR_NODE ||
		    k->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
			return xz_y_fail(y, k, path, "keys must be plain words");
		const char *ks = (const char *)k->data.scalar.value;
		if (!in_list(allowed, ks))
			return xz_y_fail(y, k, xz_y_path(kp, path, ks),
			    "unknown key (see docs/policy.md for the schema)");
		for (yaml_node_pair_t *q = n->data.mapping.pairs.start; q < pr; q++) {
			yaml_node_t *k2 = yaml_document_get_node(&y->doc, q->key);
			if (strcmp((const char *)k2->data.scalar.value, ks) == 0)
				return xz_y_fail(y, k, xz_y_path(kp, path, ks),
				    "key given twice (first on line %lu)", xz_y_line(k2));
		}
	}
	for (; required != NULL && *required != NULL; required++)
		if (xz_y_get(y, n, *required) == NULL)
			return xz_y_fail(y, n, xz_y_path(kp, path, *required),
			    "missing required key");
	return 0;
}

yaml_node_t *
xz_y_get(struct xz_y *y, yaml_node_t *map, const char *key)
{
	for (yaml_node_pair_t *pr = map->data.mapping.pairs.start;
	    pr < map->data.mapping.pairs.top; pr++) {
		yaml_node_t *k = yaml_document_get_node(&y->doc, pr->key);
		if (k != NULL && k->type == YAML_SCALAR_NODE &&
		    strcmp((const char *)k->data.scalar.value, key) == 0)
			return yaml_document_get_node(&y->doc, pr->value);
	}
	return NULL;
}

int
xz_y_seq(struct xz_y *y, yaml_node_t *n, const char *path, size_t min,
    size_t max, size_t *count)
{
	size_t c;

	if (n->type != YAML_SEQUENCE_NODE)
		return xz_y_fail(y, n, path, "expected a list, got %s", node_kind(n));
	c = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
	if (c < min)
		return xz_y_fail(y, n, path, "needs at least %zu entr%s, has %zu",
		    min, min == 1 ? "y" : "ies", c);
	if (c > max)
		return xz_y_fail(y, n, path, "at most %zu entries allowed, has %zu",
		    max, c);
	*count = c;
	return 0;
}

yaml_node_t *
xz_y_item(struct xz_y *y, yaml_node_t *seq, size_t i)
{
	return yaml_document_get_node(&y->doc, seq->data.sequence.items.start[i]);
}

int
xz_y_scalar(struct xz_y *y, yaml_node_t *n, const char *path, const char **out)
{
	if (n->type != YAML_SCALAR_NODE)
		return xz_y_fail(y, n, path, "expected a single value, got %s",
		    node_kind(n));
	if (strlen((const char *)n->data.scalar.value) != n->data.scalar.length)
		return xz_y_fail(y, n, path, "value contains a NUL character");
	*out = (const char *)n->data.scalar.value;
	return 0;
}

static int
copy_checked(struct xz_y *y, yaml_node_t *n, const char *path, char *dst,
    size_t cap, const char *(*check)(const char *), const char *what)
{
	const char *s, *why;

	if (xz_y_scalar(y, n, path, &s) != 0)
		return -1;
	if ((why = check(s)) != NULL)
		return xz_y_fail(y, n, path, "not a valid %s: %s", what, why);
	if (strlen(s) >= cap)
		return xz_y_fail(y, n, path, "value longer than %zu bytes", cap - 1);
	memcpy(dst, s, strlen(s) + 1);
	return 0;
}

int
xz_y_name(struct xz_y *y, yaml_node_t *n, const char *path, char *dst, size_t cap)
{
	return copy_checked(y, n, path, dst, cap, xz_check_name, "name");
}

int
xz_y_column(struct xz_y *y, yaml_node_t *n, const char *path, char *dst, size_t cap)
{
	return copy_checked(y, n, path, dst, cap, xz_check_column, "column name");
}

int
xz_y_identity(struct xz_y *y, yaml_node_t *n, const char *path, char *dst,
    size_t cap)
{
	return copy_checked(y, n, path, dst, cap, xz_check_identity,
	    "node identity");
}

int
xz_y_text(struct xz_y *y, yaml_node_t *n, const char *path, char *dst, size_t cap)
{
	return copy_checked(y, n, path, dst, cap, xz_check_text, "text");
}

int
xz_y_u64(struct xz_y *y, yaml_node_t *n, const char *path, uint64_t min,
    uint64_t max, uint64_t *out)
{
	const char *s;
	uint64_t v = 0;

	if (xz_y_scalar(y, n, path, &s) != 0)
		return -1;
	if (n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE || *s == '\0')
		return xz_y_fail(y, n, path, "expected an unsigned integer, got a %s",
		    *s == '\0' ? "empty value" : "quoted string");
	for (const char *p = s; *p != '\0'; p++) {
		if (*p < '0' || *p > '9')
			return xz_y_fail(y, n, path,
			    "expected an unsigned integer, got \"%.40s\"", s);
		unsigned d = (unsigned)(*p - '0');
		if (v > (UINT64_MAX - d) / 10)
			return xz_y_fail(y, n, path, "number too large");
		v = v * 10 + d;
	}
	if (v < min || v > max)
		return xz_y_fail(y, n, path, "must be between %" PRIu64 " and %" PRIu64
		    ", got %" PRIu64, min, max, v);
	*out = v;
	return 0;
}

int
xz_y_time(struct xz_y *y, yaml_node_t *n, const char *path, int64_t *out)
{
	const char *s;

	if (xz_y_scalar(y, n, path, &s) != 0)
		return -1;
	if (xz_time_parse(s, out) != 0)
		return xz_y_fail(y, n, path, "expected a UTC time like "
		    "2026-01-31T00:00:00Z, got \"%.40s\"", s);
	return 0;
}

/* --- value checks ------------------------------------------------------ */

const char *
xz_check_name(const char *s)
{
	size_t n = strlen(s);

	if (n == 0)
		return "empty";
	if (n > XZ_NAME_MAX)
		return "longer than 64 characters";
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		int alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9');
		if (i == 0 && !alnum)
			return "must start with a letter or digit";
		if (!alnum && c != '.' && c != '_' && c != '-')
			return "only letters, digits, '.', '_' and '-' are allowed";
	}
	return NULL;
}

/*
 * Column names come from agencies' CSV headers, which are often Chinese
 * (身份证号): any UTF-8 text up to 64 bytes, without control characters,
 * quotes or surrounding spaces, so it prints and compares unambiguously.
 */
const char *
xz_check_column(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n = strlen(s);

	if (n == 0)
		return "empty";
	if (n > XZ_NAME_MAX)
		return "longer than 64 bytes";
	if (p[0] == ' ' || p[n - 1] == ' ')
		return "starts or ends with a space";
	while (*p != '\0') {
		size_t len = *p < 0x80 ? 1 : (*p >> 5) == 0x6 ? 2 : (*p >> 4) == 0xe ? 3 :
		    (*p >> 3) == 0x1e ? 4 : 0;
		if (len == 0)
			return "not valid UTF-8";
		for (size_t i = 1; i < len; i++)
			if ((p[i] & 0xc0) != 0x80)
				return "not valid UTF-8";
		if (len == 1 && (*p < 0x20 || *p == 0x7f || *p == '"' || *p == '\\'))
			return "control characters, quotes and backslashes are not allowed";
		p += len;
	}
	return NULL;
}

const char *
xz_check_identity(const char *s)
{
	size_t n = strlen(s);

	if (n == 0)
		return "empty";
	if (n > XZ_IDENTITY_MAX)
		return "longer than 253 characters";
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
			return "only printable ASCII without spaces is allowed";
	return NULL;
}

/*
 * Length of the UTF-8 sequence at p (n bytes left) and its code point, or
 * 0 when the bytes are not shortest-form UTF-8 of a scalar value.
 */
static size_t
utf8_next(const unsigned char *p, size_t n, uint32_t *cp)
{
	size_t len;
	uint32_t c, min;

	if (p[0] < 0x80) {
		*cp = p[0];
		return 1;
	}
	if ((p[0] & 0xe0) == 0xc0) {
		len = 2; c = p[0] & 0x1f; min = 0x80;
	} else if ((p[0] & 0xf0) == 0xe0) {
		len = 3; c = p[0] & 0x0f; min = 0x800;
	} else if ((p[0] & 0xf8) == 0xf0) {
		len = 4; c = p[0] & 0x07; min = 0x10000;
	} else {
		return 0;
	}
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		c = (c << 6) | (p[i] & 0x3f);
	}
	if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return len;
}

const char *
xz_check_text(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n = strlen(s);

	if (n == 0)
		return "empty";
	if (n > XZ_TEXT_MAX)
		return "longer than 2048 bytes";
	for (size_t i = 0; i < n;) {
		uint32_t cp;
		size_t l = utf8_next(p + i, n - i, &cp);
		if (l == 0)
			return "not valid UTF-8";
		if ((cp < 0x20 && cp != '\t' && cp != '\n') ||
		    (cp >= 0x7f && cp <= 0x9f))
			return "contains a control character";
		/* Bidirectional embeddings, overrides and isolates can make
		 * a terminal show text in a different order than it is
		 * signed in. */
		if ((cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069) ||
		    cp == 0x200e || cp == 0x200f || cp == 0x061c)
			return "contains a bidirectional control character";
		i += l;
	}
	return NULL;
}

/* --- output ------------------------------------------------------------ */

static int
yout_write(void *data, unsigned char *buf, size_t size)
{
	struct xz_yout *o = data;

	if (o->len + size + 1 > o->cap) {
		size_t ncap = o->cap ? o->cap : 4096;
		while (ncap < o->len + size + 1)
			ncap *= 2;
		char *nb = realloc(o->buf, ncap);
		if (nb == NULL)
			return 0;
		o->buf = nb;
		o->cap = ncap;
	}
	memcpy(o->buf + o->len, buf, size);
	o->len += size;
	o->buf[o->len] = '\0';
	return 1;
}

static void
emit(struct xz_yout *o, yaml_event_t *ev, int ok)
{
	if (!ok) {
		o->failed = 1;
		return;
	}
	if (o->failed) {
		yaml_event_delete(ev);
		return;
	}
	if (!yaml_emitter_emit(&o->em, ev))
		o->failed = 1;
}

int
xz_yout_begin(struct xz_yout *o)
{
	yaml_event_t ev;

	memset(o, 0, sizeof(*o));
	if (!yaml_emitter_initialize(&o->em))
		return -1;
	yaml_emitter_set_output(&o->em, yout_write, o);
	yaml_emitter_set_unicode(&o->em, 1);
	yaml_emitter_set_width(&o->em, -1);
	yaml_emitter_set_indent(&o->em, 2);
	emit(o, &ev, yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING));
	emit(o, &ev, yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, 1));
	return o->failed ? -1 : 0;
}

int
xz_yout_end(struct xz_yout *o, char **out)
{
	yaml_event_t ev;

	emit(o, &ev, yaml_document_end_event_initialize(&ev, 1));
	emit(o, &ev, yaml_stream_end_event_initialize(&ev));
	if (!o->failed && !yaml_emitter_flush(&o->em))
		o->failed = 1;
	yaml_emitter_delete(&o->em);
	if (o->failed || o->buf == NULL) {
		free(o->buf);
		o->buf = NULL;
		return -1;
	}
	*out = o->buf;
	o->buf = NULL;
	return 0;
}

void
xz_yout_abort(struct xz_yout *o)
{
	yaml_emitter_delete(&o->em);
	free(o->buf);
	o->buf = NULL;
}

void
xz_yout_map_start(struct xz_yout *o, int flow)
{
	yaml_event_t ev;

	emit(o, &ev, yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1,
	    flow ? YAML_FLOW_MAPPING_STYLE : YAML_BLOCK_MAPPING_STYLE));
}

void
xz_yout_map_end(struct xz_yout *o)
{
	yaml_event_t ev;

	emit(o, &ev, yaml_mapping_end_event_initialize(&ev));
}

void
xz_yout_seq_start(struct xz_yout *o, int flow)
{
	yaml_event_t ev;

	emit(o, &ev, yaml_sequence_start_event_initialize(&ev, NULL, NULL, 1,
	    flow ? YAML_FLOW_SEQUENCE_STYLE : YAML_BLOCK_SEQUENCE_STYLE));
}

void
xz_yout_seq_end(struct xz_yout *o)
{
	yaml_event_t ev;

	emit(o, &ev, yaml_sequence_end_event_initialize(&ev));
}

static void
scalar(struct xz_yout *o, const char *s, yaml_scalar_style_t style)
{
	yaml_event_t ev;

	emit(o, &ev, yaml_scalar_event_initialize(&ev, NULL, NULL,
	    (const yaml_char_t *)s, (int)strlen(s), 1, 1, style));
}

void
xz_yout_plain(struct xz_yout *o, const char *s)
{
	scalar(o, s, YAML_PLAIN_SCALAR_STYLE);
}

void
xz_yout_quoted(struct xz_yout *o, const char *s)
{
	scalar(o, s, YAML_DOUBLE_QUOTED_SCALAR_STYLE);
}

void
xz_yout_u64(struct xz_yout *o, uint64_t v)
{
	char buf[24];

	snprintf(buf, sizeof(buf), "%" PRIu64, v);
	scalar(o, buf, YAML_PLAIN_SCALAR_STYLE);
}

void
xz_yout_time(struct xz_yout *o, int64_t t)
{
	char buf[32];

	if (xz_time_format(t, buf, sizeof(buf)) != 0) {
		o->failed = 1;
		return;
	}
	scalar(o, buf, YAML_PLAIN_SCALAR_STYLE);
}
