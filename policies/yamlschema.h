/*
 * Internal to libxzpolicy (not installed, not for other modules): a small
 * schema checker over libyaml's document API, and the value checks shared
 * by policy and request files.
 *
 * Loading refuses aliases (an alias lets a small file name a node many
 * times over), more than one document, files over XZ_POLICY_FILE_MAX, and
 * anything libyaml itself rejects (including invalid UTF-8).  Every getter
 * reports wrong types with the node's line and the key path.
 */
#ifndef XZ_YAMLSCHEMA_H
#define XZ_YAMLSCHEMA_H

#include <stddef.h>
#include <stdint.h>

#include <yaml.h>

#include "perror.h"

#define XZ_PATH_MAX 128

struct xz_y {
	yaml_document_t doc;
	int loaded;
	const char *file;
	struct xz_perror *e;
};

int xz_y_load(struct xz_y *y, const char *file, const void *buf, size_t len,
    struct xz_perror *e);
void xz_y_free(struct xz_y *y);
yaml_node_t *xz_y_root(struct xz_y *y);
unsigned long xz_y_line(const yaml_node_t *n);

/* Reports an error at node n (its line) about key path. */
int xz_y_fail(struct xz_y *y, const yaml_node_t *n, const char *path,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* "parent.key" / "parent[i]" into buf (truncated safely). */
const char *xz_y_path(char buf[XZ_PATH_MAX], const char *parent, const char *key);
const char *xz_y_path_idx(char buf[XZ_PATH_MAX], const char *parent, size_t i);

/*
 * n must be a mapping whose keys are plain scalars, each in allowed (NULL
 * terminated), none twice, and every key in required present.
 */
int xz_y_mapping(struct xz_y *y, yaml_node_t *n, const char *path,
    const char *const *allowed, const char *const *required);
/* The value of key in mapping map (already checked), or NULL. */
yaml_node_t *xz_y_get(struct xz_y *y, yaml_node_t *map, const char *key);
/* n must be a sequence of min..max items; *count gets the number. */
int xz_y_seq(struct xz_y *y, yaml_node_t *n, const char *path, size_t min,
    size_t max, size_t *count);
yaml_node_t *xz_y_item(struct xz_y *y, yaml_node_t *seq, size_t i);

/* Typed scalar getters: copy into dst (cap bytes incl. NUL) after checks. */
int xz_y_name(struct xz_y *y, yaml_node_t *n, const char *path, char *dst, size_t cap);
int xz_y_column(struct xz_y *y, yaml_node_t *n, const char *path, char *dst, size_t cap);
int xz_y_identity(struct xz_y *y, yaml_node_t *n, const char *path, char *dst, size_t cap);
int xz_y_text(struct xz_y *y, yaml_node_t *n, const char *path, char *dst, size_t cap);
int xz_y_u64(struct xz_y *y, yaml_node_t *n, const char *path, uint64_t min,
    uint64_t max, uint64_t *out);
int xz_y_time(struct xz_y *y, yaml_node_t *n, const char *path, int64_t *out);
/* Any scalar, as a NUL-terminated string inside the document. */
int xz_y_scalar(struct xz_y *y, yaml_node_t *n, const char *path, const char **out);

/* Value checks (xz_check_name, _identity, _text) are declared in policy.h. */

/*
 * Reads a whole regular file of at most
 * max bytes into a malloc'd NUL-terminated buffer *buf of *len bytes.
 */
int xz_read_small_file(const char *path, size_t max, char **buf, size_t *len,
    struct xz_perror *e);

/* Emitting YAML through libyaml into a growing buffer. */
struct xz_yout {
	yaml_emitter_t em;
	char *buf;
	size_t len, cap;
	int failed;
};
int xz_yout_begin(struct xz_yout *o);
/* Ends the document and stream; hands the NUL-terminated text to *out. */
int xz_yout_end(struct xz_yout *o, char **out);
void xz_yout_abort(struct xz_yout *o);
void xz_yout_map_start(struct xz_yout *o, int flow);
void xz_yout_map_end(struct xz_yout *o);
void xz_yout_seq_start(struct xz_yout *o, int flow);
void xz_yout_seq_end(struct xz_yout *o);
void xz_yout_plain(struct xz_yout *o, const char *s);	/* names, numbers */
void xz_yout_quoted(struct xz_yout *o, const char *s);	/* free text */
void xz_yout_u64(struct xz_yout *o, uint64_t v);
void xz_yout_time(struct xz_yout *o, int64_t t);

#endif
