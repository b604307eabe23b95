/*
 * The node directory and its encrypted store.
 *
 * Layout of a node directory DIR:
 *   DIR/xiezhi.conf          node configuration (key = value lines)
 *   DIR/keys/                mode 0700
 *   DIR/keys/store.key       32 random bytes, the raw SQLCipher key (0600)
 *   DIR/keys/node.key        Ed25519 seed of the node signing key (0600)
 *   DIR/keys/node.pub        its public key, 32 bytes
 *   DIR/store.db             SQLCipher database (+ -wal, -shm)
 *   DIR/policies/            the data owner's policy files
 *
 * Opening a node checks, in order: the directory exists and holds a node;
 * the key files are not readable by group or others; the linked SQLCipher is
 * the version the store format expects; the key matches the key check value
 * recorded at init; the database's first pages authenticate.  Each failure
 * has its own message that says how to fix it.
 */
#ifndef XZ_NODE_H
#define XZ_NODE_H

#include <stdint.h>

#include <sqlite3.h>

#include "diag.h"

struct xz_node;

/* Node names: 1 to 64 of [A-Za-z0-9._-]; they become the audit log's
 * origin and key name, so every module checks them the same way. */
int xz_node_name_valid(const char *name);

/* Creates DIR (or uses it when empty) as a new node called name.
 * Refuses a directory that already holds a node or other files. */
int xz_node_init(const char *dir, const char *name, struct xz_diag *d);

/* Opens the node at dir; *out owned by the caller (xz_node_close). */
int xz_node_open(const char *dir, struct xz_node **out, struct xz_diag *d);
void xz_node_close(struct xz_node *node);

/* The open SQLCipher handle (WAL, synchronous=FULL, foreign keys on). */
sqlite3 *xz_node_db(struct xz_node *node);
const char *xz_node_name(const struct xz_node *node);
const char *xz_node_dir(const struct xz_node *node);

/*
 * Loads the node's Ed25519 signing key into sodium_malloc'd memory
 * (64-byte libsodium secret key); free with xz_node_free_signing_key.
 */
int xz_node_load_signing_key(const struct xz_node *node, unsigned char **sk_out,
    struct xz_diag *d);
void xz_node_free_signing_key(unsigned char *sk);
/* Copies the node's 32-byte Ed25519 public key. */
int xz_node_public_key(const struct xz_node *node, unsigned char pk[32],
    struct xz_diag *d);

/* Runs fn(arg) inside BEGIN IMMEDIATE ... COMMIT; rolls back when fn fails. */
int xz_node_transaction(struct xz_node *node,
    int (*fn)(struct xz_node *node, void *arg, struct xz_diag *d), void *arg,
    struct xz_diag *d);

/* Translates a failed SQLite call into a user message naming what was done. */
int xz_node_db_error(struct xz_node *node, const char *what, struct xz_diag *d);

/* Reads every page of the store (PRAGMA quick_check): finds pages whose
 * authentication code is off. */
int xz_node_check_pages(struct xz_node *node, struct xz_diag *d);

#endif
