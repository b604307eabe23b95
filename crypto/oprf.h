/*
 * RFC 9497 OPRF, mode 0x00 (OPRF), suite ristretto255-SHA512, on libsodium.
 *
 * Roles (RFC 9497 §3.3.1): the client Blinds an input, the server
 * BlindEvaluates the blinded element with its secret key, the client
 * Finalizes.  The output is a 64-byte pseudorandom function of the input
 * keyed by the server's key; the server never sees the input, the client
 * never sees the key.
 *
 * Encodings (RFC 9497 §4.1): scalars are 32 bytes little-endian, reduced
 * mod the group order L; elements are 32-byte canonical ristretto255
 * encodings.  Every element that crosses a trust boundary goes through a
 * function here that decodes it and refuses non-canonical encodings and
 * the identity (RFC 9497 §2.1 DeserializeElement).
 *
 * Secrets (keys, blinds) are caller-owned buffers: callers keep them in
 * sodium_malloc memory and wipe them after their last use.  Nothing here
 * keeps a copy; stack temporaries holding secrets are wiped before return.
 *
 * Thread safety: every function is reentrant.  Call xz_oprf_init() (or
 * sodium_init()) once before the first use.
 */
#ifndef XZ_OPRF_H
#define XZ_OPRF_H

#include <stddef.h>
#include <stdint.h>

#define XZ_OPRF_SCALAR_LEN	32	/* Ns */
#define XZ_OPRF_ELEMENT_LEN	32	/* Ne */
#define XZ_OPRF_OUTPUT_LEN	64	/* Nh, SHA-512 */
#define XZ_OPRF_SEED_LEN	32	/* DeriveKeyPair seed, Ns bytes */
#define XZ_OPRF_MAX_INPUT_LEN	65535	/* I2OSP(len(input), 2) in Finalize */
#define XZ_OPRF_MAX_INFO_LEN	65535	/* I2OSP(len(info), 2) in DeriveKeyPair */

enum xz_oprf_status {
	XZ_OPRF_OK = 0,
	XZ_OPRF_E_ARG,			/* NULL pointer or length over a limit above */
	XZ_OPRF_E_INVALID_INPUT,	/* input hashed to the identity (RFC 9497 §3.3.1) */
	XZ_OPRF_E_INVALID_ELEMENT,	/* non-canonical encoding or identity element */
	XZ_OPRF_E_INVALID_SCALAR,	/* zero or not reduced mod L */
	XZ_OPRF_E_DERIVE,		/* DeriveKeyPairError: 256 zero scalars in a row */
	XZ_OPRF_E_INIT,			/* libsodium could not be initialised */
};

/* A static English description of status (never NULL). */
const char *xz_oprf_strerror(enum xz_oprf_status status);

/* Initialises libsodium; safe to call many times and from many threads. */
enum xz_oprf_status xz_oprf_init(void) __attribute__((warn_unused_result));

/*
 * RFC 9380 §5.3.1 expand_message_xmd with SHA-512: out_len (1..255*64)
 * uniform bytes from msg under domain separation tag dst (1..255 bytes).
 */
enum xz_oprf_status xz_expand_message_xmd_sha512(const uint8_t *msg, size_t msg_len,
    const uint8_t *dst, size_t dst_len, uint8_t *out, size_t out_len)
    __attribute__((warn_unused_result));

/*
 * RFC 9497 §4.1 HashToGroup: hash_to_ristretto255 (RFC 9380 §6.8.1 /
 * Appendix B) with DST "HashToGroup-" || contextString.  The output may
 * (with negligible probability) be the identity; Blind refuses that case.
 */
enum xz_oprf_status xz_oprf_hash_to_group(const uint8_t *input, size_t input_len,
    uint8_t out[static XZ_OPRF_ELEMENT_LEN]) __attribute__((warn_unused_result));

/*
 * RFC 9497 §3.2.1 DeriveKeyPair: the secret key for seed and info.
 * sk receives a non-zero reduced scalar.
 */
enum xz_oprf_status xz_oprf_derive_key_pair(const uint8_t seed[static XZ_OPRF_SEED_LEN],
    const uint8_t *info, size_t info_len, uint8_t sk[static XZ_OPRF_SCALAR_LEN])
    __attribute__((warn_unused_result));

/* A fresh uniformly random non-zero secret key (RFC 9497 §3.2 GenerateKeyPair). */
void xz_oprf_generate_key(uint8_t sk[static XZ_OPRF_SCALAR_LEN]);

/*
 * RFC 9497 §3.3.1 Blind with a fresh random blind.  blind is a secret:
 * keep it until Finalize, then wipe it.
 */
enum xz_oprf_status xz_oprf_blind(const uint8_t *input, size_t input_len,
    uint8_t blind[static XZ_OPRF_SCALAR_LEN],
    uint8_t blinded[static XZ_OPRF_ELEMENT_LEN]) __attribute__((warn_unused_result));

/*
 * Blind with a caller-chosen blind (non-zero, reduced): for test vectors and
 * for callers that draw blinds in bulk.  Same result as xz_oprf_blind.
 */
enum xz_oprf_status xz_oprf_blind_with(const uint8_t *input, size_t input_len,
    const uint8_t blind[static XZ_OPRF_SCALAR_LEN],
    uint8_t blinded[static XZ_OPRF_ELEMENT_LEN]) __attribute__((warn_unused_result));

/*
 * RFC 9497 §3.3.1 BlindEvaluate: evaluated = sk * blinded.  blinded comes
 * from the peer: it is decoded and refused (XZ_OPRF_E_INVALID_ELEMENT) when
 * non-canonical or the identity.
 */
enum xz_oprf_status xz_oprf_blind_evaluate(const uint8_t sk[static XZ_OPRF_SCALAR_LEN],
    const uint8_t blinded[static XZ_OPRF_ELEMENT_LEN],
    uint8_t evaluated[static XZ_OPRF_ELEMENT_LEN]) __attribute__((warn_unused_result));

/*
 * RFC 9497 §3.3.1 Finalize: unblinds evaluated (from the peer; validated
 * like blinded above) and hashes input, the unblinded element and
 * "Finalize" into the 64-byte output.
 */
enum xz_oprf_status xz_oprf_finalize(const uint8_t *input, size_t input_len,
    const uint8_t blind[static XZ_OPRF_SCALAR_LEN],
    const uint8_t evaluated[static XZ_OPRF_ELEMENT_LEN],
    uint8_t out[static XZ_OPRF_OUTPUT_LEN]) __attribute__((warn_unused_result));

/*
 * The output Finalize would give for input under sk, computed by the key
 * holder directly: Hash(input, sk * HashToGroup(input)).  Used by the PSI
 * responder for its own elements (RFC 9497 has no Evaluate function in
 * mode 0x00, but this is exactly what a client's Finalize returns).
 */
enum xz_oprf_status xz_oprf_evaluate(const uint8_t sk[static XZ_OPRF_SCALAR_LEN],
    const uint8_t *input, size_t input_len, uint8_t out[static XZ_OPRF_OUTPUT_LEN])
    __attribute__((warn_unused_result));

/*
 * The hash step of Finalize alone: Hash(I2OSP(len(input), 2) || input ||
 * I2OSP(Ne, 2) || unblinded || "Finalize").
 */
enum xz_oprf_status xz_oprf_finalize_hash(const uint8_t *input, size_t input_len,
    const uint8_t unblinded[static XZ_OPRF_ELEMENT_LEN],
    uint8_t out[static XZ_OPRF_OUTPUT_LEN]) __attribute__((warn_unused_result));

/* XZ_OPRF_OK when e is a canonical encoding of a non-identity element. */
enum xz_oprf_status xz_oprf_validate_element(const uint8_t e[static XZ_OPRF_ELEMENT_LEN])
    __attribute__((warn_unused_result));

/* XZ_OPRF_OK when s is reduced mod L and non-zero (a usable key or blind). */
enum xz_oprf_status xz_oprf_validate_scalar(const uint8_t s[static XZ_OPRF_SCALAR_LEN])
    __attribute__((warn_unused_result));

#endif
