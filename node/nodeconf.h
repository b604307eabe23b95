/*
 * xiezhi.conf: the node's configuration file, "key = value" lines with '#'
 * comments.  Unknown keys, repeated keys, over-long and malformed values
 * are errors that name the file and line, so a typo never silently falls
 * back to a default.  docs/operations.md lists every key.
 *
 * Keys:
 *   name, store_key_check          written by 'xiezhi init' (required)
 *   identity                       this node's certificate identity
 *   listen                         host:port xiezhid serves on
 *   tls_ca, tls_cert, tls_key      PEM files (relative paths are relative to
 *                                  the node directory)
 *   peer.NAME.address              host:port of peer NAME
 *   peer.NAME.identity             the certificate identity NAME must show
 *   peer.NAME.node_key             optional: its audit key (base64 Ed25519),
 *                                  pins the key that signs its receipts
 * The federation keys are optional for the file; xz_nodeconf_check_federation
 * says which ones serving or joining needs.
 */
#ifndef XZ_NODECONF_H
#define XZ_NODECONF_H

#include <stddef.h>

#include "diag.h"

#define XZ_CONF_MAX_PEERS	32
#define XZ_CONF_PEER_NAME_MAX	64
#define XZ_CONF_IDENTITY_MAX	253
#define XZ_CONF_ADDRESS_MAX	255
#define XZ_CONF_PATH_MAX	1024

struct xz_conf_peer {
	char name[XZ_CONF_PEER_NAME_MAX + 1];
	char address[XZ_CONF_ADDRESS_MAX + 1];
	char identity[XZ_CONF_IDENTITY_MAX + 1];
	char node_key[45];		/* base64, or "" when not pinned */
};

struct xz_nodeconf {
	char name[65];			/* node name, also the audit log origin */
	char store_key_check[33];	/* hex BLAKE2b-128 of a fixed string under the store key */
	char identity[XZ_CONF_IDENTITY_MAX + 1];
	char listen[XZ_CONF_ADDRESS_MAX + 1];
	char tls_ca[XZ_CONF_PATH_MAX + 1];
	char tls_cert[XZ_CONF_PATH_MAX + 1];
	char tls_key[XZ_CONF_PATH_MAX + 1];
	size_t npeers;
	struct xz_conf_peer peers[XZ_CONF_MAX_PEERS];
};

/* Reads DIR/xiezhi.conf (at most 64 KiB). */
int xz_nodeconf_read(const char *dir, struct xz_nodeconf *conf, struct xz_diag *d);
/* Writes DIR/xiezhi.conf atomically (temp file, fsync, rename), mode 0640.
 * Federation keys are written only when set. */
int xz_nodeconf_write(const char *dir, const struct xz_nodeconf *conf, struct xz_diag *d);

/*
 * Sets one key (as it would appear in the file) to value after the same
 * validation the parser applies; an existing value is replaced.  "name" and
 * "store_key_check" belong to init and are refused.  what names the source
 * in errors (e.g. "xiezhi config set").
 */
int xz_nodeconf_set(struct xz_nodeconf *conf, const char *key, const char *value,
    const char *what, struct xz_diag *d);
/* Removes a federation key, or a whole peer with "peer.NAME". */
int xz_nodeconf_unset(struct xz_nodeconf *conf, const char *key, struct xz_diag *d);

/* The peer called name, or NULL. */
const struct xz_conf_peer *xz_nodeconf_peer(const struct xz_nodeconf *conf, const char *name);

/*
 * Checks that the keys a federation role needs are present: for serving
 * (serve != 0) identity, listen and the TLS files; for joining identity and
 * the TLS files.  d names the missing key and the command that sets it.
 */
int xz_nodeconf_check_federation(const struct xz_nodeconf *conf, int serve,
    struct xz_diag *d);

/* Resolves a configured path against the node directory into buf. */
int xz_nodeconf_path(const char *dir, const char *path, char *buf, size_t len,
    struct xz_diag *d);

/* Splits "host:port" ("[v6]:port" too) after validation; port 0..65535. */
int xz_nodeconf_parse_address(const char *s, unsigned *port, const char **why);
/* NULL when s is a valid node identity (1..253 of [A-Za-z0-9._-]), else why. */
const char *xz_nodeconf_check_identity(const char *s);

#endif
