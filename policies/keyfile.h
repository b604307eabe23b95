/*
 * Approver key files, as written by `xiezhi keygen --out NAME`:
 *
 *   NAME.key  mode 0600, secret:
 *               # comment lines
 *               xiezhi-ed25519-seed-v1 <base64 of the 32-byte Ed25519 seed>
 *   NAME.pub  one line: <base64 of the 32-byte public key>, the exact text
 *             a policy's approvals.approvers[].public_key takes.
 *
 * Secrets only ever live in sodium_malloc'd memory and are wiped after
 * use; a secret file that group or others may read is refused.
 */
#ifndef XZ_KEYFILE_H
#define XZ_KEYFILE_H

#include "perror.h"

#define XZ_KEYFILE_TAG "xiezhi-ed25519-seed-v1"

/*
 * Generates a key pair and writes base.key and base.pub, refusing to
 * overwrite either (O_EXCL).  pub_b64 (>= 45 bytes) gets the public key.
 */
int xz_keyfile_generate(const char *base, char *pub_b64, size_t pub_len,
    struct xz_perror *e) __attribute__((warn_unused_result));

/*
 * Loads a .key file into a sodium_malloc'd 64-byte libsodium secret key
 * (seed || public key); free with xz_keyfile_free.
 */
int xz_keyfile_load(const char *path, unsigned char **sk_out, struct xz_perror *e)
    __attribute__((warn_unused_result));
void xz_keyfile_free(unsigned char *sk);

#endif
