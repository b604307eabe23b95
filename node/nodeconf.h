/*
 * xiezhi.conf: the node's configuration file, "key = value" lines with '#'
 * comments.  Unknown keys, repeated keys and over-long values are errors
 * that name the file and line, so a typo never silently falls back to a
 * default.
 */
#ifndef XZ_NODECONF_H
#define XZ_NODECONF_H

#include "diag.h"

struct xz_nodeconf {
	char name[65];			/* node name, also the audit log origin */
	char store_key_check[33];	/* hex BLAKE2b-128 of a fixed string under the store key */
};

/* Reads DIR/xiezhi.conf (at most 64 KiB). */
int xz_nodeconf_read(const char *dir, struct xz_nodeconf *conf, struct xz_diag *d);
/* Writes DIR/xiezhi.conf atomically (temp file, fsync, rename), mode 0640. */
int xz_nodeconf_write(const char *dir, const struct xz_nodeconf *conf, struct xz_diag *d);

#endif
