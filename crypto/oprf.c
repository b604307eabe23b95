/*
 * RFC 9497 OPRF mode 0x00 with ristretto255-SHA512 (see oprf.h).
 *
 * The group operations are libsodium's: crypto_core_ristretto255_from_hash
 * is the one-way map of RFC 9380 Appendix B (two Elligator maps and an
 * addition on 64 uniform bytes), crypto_scalarmult_ristretto255 decodes its
 * input point (refusing non-canonical encodings) and refuses an identity
 * result, which is what makes it safe on peer-supplied elements.
 */
#include "oprf.h"

#include <pthread.h>
#include <string.h>

#include <sodium.h>

/* RFC 9497 §3.1: contextString = "OPRFV1-" || I2OSP(mode, 1) || "-" || identifier. */
#define CONTEXT "OPRFV1-\x00-ristretto255-SHA512"
#define CONTEXT_LEN (sizeof(CONTEXT) - 1)

static const uint8_t dst_hash_to_group[] = "HashToGroup-" CONTEXT;
static const uint8_t dst_derive_key_pair[] = "DeriveKeyPair" CONTEXT;

#define SHA512_BLOCK 128	/* s_in_bytes for SHA-512, RFC 9380 §5.3.1 */
#define SHA512_LEN 64		/* b_in_bytes */

/*
 * Every expand_message_xmd call starts by hashing Z_pad, one full SHA-512
 * block of zeros.  The state after that block is the same for every call,
 * so it is computed once and copied: this saves one compression out of the
 * three a 64-byte HashToGroup costs.
 */
static crypto_hash_sha512_state zpad_state;
static pthread_once_t zpad_once = PTHREAD_ONCE_INIT;

static void
zpad_init(void)
{
	static const uint8_t zpad[SHA512_BLOCK];

	crypto_hash_sha512_init(&zpad_state);
	crypto_hash_sha512_update(&zpad_state, zpad, sizeof(zpad));
}

const char *
xz_oprf_strerror(enum xz_oprf_status status)
{
	switch (status) {
	case XZ_OPRF_OK: return "success";
	case XZ_OPRF_E_ARG: return "invalid argument (NULL pointer or length over the limit)";
	case XZ_OPRF_E_INVALID_INPUT: return "input hashes to the identity element";
	case XZ_OPRF_E_INVALID_ELEMENT:
		return "invalid group element (not a canonical ristretto255 encoding, or the identity)";
	case XZ_OPRF_E_INVALID_SCALAR: return "invalid scalar (zero or not reduced mod the group order)";
	case XZ_OPRF_E_DERIVE: return "DeriveKeyPair failed (256 zero scalars)";
	case XZ_OPRF_E_INIT: return "libsodium failed to initialise";
	}
	return "unknown OPRF error";
}

enum xz_oprf_status
xz_oprf_init(void)
{
	if (sodium_init() < 0)
		return XZ_OPRF_E_INIT;
	(void)pthread_once(&zpad_once, zpad_init);
	return XZ_OPRF_OK;
}

/*
 * RFC 9380 §5.3.1 expand_message_xmd, H = SHA-512:
 *   msg_prime = Z_pad || msg || I2OSP(len_in_bytes, 2) || I2OSP(0, 1) || DST_prime
 *   b_0 = H(msg_prime); b_1 = H(b_0 || I2OSP(1, 1) || DST_prime)
 *   b_i = H(strxor(b_0, b_(i-1)) || I2OSP(i, 1) || DST_prime)
 * with DST_prime = DST || I2OSP(len(DST), 1).  b_0 is secret-dependent when
 * msg is, so it is wiped.
 */
enum xz_oprf_status
xz_expand_message_xmd_sha512(const uint8_t *msg, size_t msg_len, const uint8_t *dst,
    size_t dst_len, uint8_t *out, size_t out_len)
{
	crypto_hash_sha512_state st;
	uint8_t b0[SHA512_LEN], bi[SHA512_LEN], tmp[SHA512_LEN];
	uint8_t lib[3], dst_len_byte, idx;
	size_t ell, off = 0;

	if ((msg == NULL && msg_len != 0) || dst == NULL || out == NULL)
		return XZ_OPRF_E_ARG;
	ell = (out_len + SHA512_LEN - 1) / SHA512_LEN;
	if (out_len == 0 || ell > 255 || out_len > 65535 || dst_len == 0 || dst_len > 255)
		return XZ_OPRF_E_ARG;
	(void)pthread_once(&zpad_once, zpad_init);
	dst_len_byte = (uint8_t)dst_len;
	lib[0] = (uint8_t)(out_len >> 8);
	lib[1] = (uint8_t)out_len;
	lib[2] = 0;

	st = zpad_state;
	crypto_hash_sha512_update(&st, msg, msg_len);
	crypto_hash_sha512_update(&st, lib, sizeof(lib));
	crypto_hash_sha512_update(&st, dst, dst_len);
	crypto_hash_sha512_update(&st, &dst_len_byte, 1);
	crypto_hash_sha512_final(&st, b0);

	memcpy(tmp, b0, sizeof(tmp));
	for (size_t i = 1; i <= ell; i++) {
		if (i > 1) {
			for (size_t j = 0; j < SHA512_LEN; j++)
				tmp[j] = (uint8_t)(b0[j] ^ bi[j]);
		}
		idx = (uint8_t)i;
		crypto_hash_sha512_init(&st);
		crypto_hash_sha512_update(&st, tmp, sizeof(tmp));
		crypto_hash_sha512_update(&st, &idx, 1);
		crypto_hash_sha512_update(&st, dst, dst_len);
		crypto_hash_sha512_update(&st, &dst_len_byte, 1);
		crypto_hash_sha512_final(&st, bi);
		size_t n = out_len - off < SHA512_LEN ? out_len - off : SHA512_LEN;
		memcpy(out + off, bi, n);
		off += n;
	}
	sodium_memzero(b0, sizeof(b0));
	sodium_memzero(bi, sizeof(bi));
	sodium_memzero(tmp, sizeof(tmp));
	sodium_memzero(&st, sizeof(st));
	return XZ_OPRF_OK;
}

/* RFC 9497 §4.1 HashToScalar: expand to 64 bytes, reduce mod L. */
static enum xz_oprf_status
hash_to_scalar(const uint8_t *input, size_t input_len, const uint8_t *dst, size_t dst_len,
    uint8_t out[static XZ_OPRF_SCALAR_LEN])
{
	uint8_t wide[64];
	enum xz_oprf_status st;

	st = xz_expand_message_xmd_sha512(input, input_len, dst, dst_len, wide, sizeof(wide));
	if (st == XZ_OPRF_OK)
		crypto_core_ristretto255_scalar_reduce(out, wide);
	sodium_memzero(wide, sizeof(wide));
	return st;
}

enum xz_oprf_status
xz_oprf_hash_to_group(const uint8_t *input, size_t input_len,
    uint8_t out[static XZ_OPRF_ELEMENT_LEN])
{
	uint8_t uniform[crypto_core_ristretto255_HASHBYTES];
	enum xz_oprf_status st;

	if (input_len > XZ_OPRF_MAX_INPUT_LEN)
		return XZ_OPRF_E_ARG;
	st = xz_expand_message_xmd_sha512(input, input_len, dst_hash_to_group,
	    sizeof(dst_hash_to_group) - 1, uniform, sizeof(uniform));
	if (st == XZ_OPRF_OK && crypto_core_ristretto255_from_hash(out, uniform) != 0)
		st = XZ_OPRF_E_INVALID_INPUT;
	sodium_memzero(uniform, sizeof(uniform));
	return st;
}

/*
 * RFC 9497 §3.2.1 DeriveKeyPair:
 *   deriveInput = seed || I2OSP(len(info), 2) || info
 *   skS = HashToScalar(deriveInput || I2OSP(counter, 1), DST = "DeriveKeyPair" || contextString)
 * for counter = 0, 1, ... until skS != 0 (at most 256 tries).
 */
enum xz_oprf_status
xz_oprf_derive_key_pair(const uint8_t seed[static XZ_OPRF_SEED_LEN], const uint8_t *info,
    size_t info_len, uint8_t sk[static XZ_OPRF_SCALAR_LEN])
{
	uint8_t *buf;
	size_t len;
	enum xz_oprf_status st = XZ_OPRF_E_DERIVE;

	if (info_len > XZ_OPRF_MAX_INFO_LEN || (info == NULL && info_len != 0))
		return XZ_OPRF_E_ARG;
	len = XZ_OPRF_SEED_LEN + 2 + info_len + 1;
	if ((buf = sodium_malloc(len)) == NULL)
		return XZ_OPRF_E_ARG;
	memcpy(buf, seed, XZ_OPRF_SEED_LEN);
	buf[XZ_OPRF_SEED_LEN] = (uint8_t)(info_len >> 8);
	buf[XZ_OPRF_SEED_LEN + 1] = (uint8_t)info_len;
	if (info_len != 0)
		memcpy(buf + XZ_OPRF_SEED_LEN + 2, info, info_len);
	for (unsigned counter = 0; counter <= 255; counter++) {
		buf[len - 1] = (uint8_t)counter;
		enum xz_oprf_status hs = hash_to_scalar(buf, len, dst_derive_key_pair,
		    sizeof(dst_derive_key_pair) - 1, sk);
		if (hs != XZ_OPRF_OK) {
			st = hs;
			break;
		}
		if (!sodium_is_zero(sk, XZ_OPRF_SCALAR_LEN)) {
			st = XZ_OPRF_OK;
			break;
		}
	}
	sodium_free(buf);	/* sodium_free wipes before unmapping */
	if (st != XZ_OPRF_OK)
		sodium_memzero(sk, XZ_OPRF_SCALAR_LEN);
	return st;
}

void
xz_oprf_generate_key(uint8_t sk[static XZ_OPRF_SCALAR_LEN])
{
	do {
		crypto_core_ristretto255_scalar_random(sk);
	} while (sodium_is_zero(sk, XZ_OPRF_SCALAR_LEN));
}

enum xz_oprf_status
xz_oprf_validate_scalar(const uint8_t s[static XZ_OPRF_SCALAR_LEN])
{
	uint8_t wide[64] = { 0 }, red[XZ_OPRF_SCALAR_LEN];
	enum xz_oprf_status st = XZ_OPRF_OK;

	memcpy(wide, s, XZ_OPRF_SCALAR_LEN);
	crypto_core_ristretto255_scalar_reduce(red, wide);
	/* Reduction leaves a canonical scalar unchanged; anything else is >= L. */
	if (sodium_memcmp(red, s, XZ_OPRF_SCALAR_LEN) != 0 || sodium_is_zero(s, XZ_OPRF_SCALAR_LEN))
		st = XZ_OPRF_E_INVALID_SCALAR;
	sodium_memzero(wide, sizeof(wide));
	sodium_memzero(red, sizeof(red));
	return st;
}

enum xz_oprf_status
xz_oprf_validate_element(const uint8_t e[static XZ_OPRF_ELEMENT_LEN])
{
	/* The identity encodes as 32 zero bytes (RFC 9496 §4.3.2). */
	if (sodium_is_zero(e, XZ_OPRF_ELEMENT_LEN) || !crypto_core_ristretto255_is_valid_point(e))
		return XZ_OPRF_E_INVALID_ELEMENT;
	return XZ_OPRF_OK;
}

/*
 * s * p for a peer-supplied p.  libsodium's scalarmult decodes p (refusing
 * non-canonical encodings) and refuses an identity result; the explicit
 * identity check on p makes the refusal independent of that detail.
 */
static enum xz_oprf_status
mult_peer_element(const uint8_t s[static 32], const uint8_t p[static 32], uint8_t out[static 32])
{
	if (sodium_is_zero(p, XZ_OPRF_ELEMENT_LEN))
		return XZ_OPRF_E_INVALID_ELEMENT;
	if (crypto_scalarmult_ristretto255(out, s, p) != 0) {
		sodium_memzero(out, XZ_OPRF_ELEMENT_LEN);
		return XZ_OPRF_E_INVALID_ELEMENT;
	}
	return XZ_OPRF_OK;
}

enum xz_oprf_status
xz_oprf_blind_with(const uint8_t *input, size_t input_len,
    const uint8_t blind[static XZ_OPRF_SCALAR_LEN], uint8_t blinded[static XZ_OPRF_ELEMENT_LEN])
{
	uint8_t p[XZ_OPRF_ELEMENT_LEN];
	enum xz_oprf_status st;

	if ((input == NULL && input_len != 0) || sodium_is_zero(blind, XZ_OPRF_SCALAR_LEN))
		return XZ_OPRF_E_ARG;
	st = xz_oprf_hash_to_group(input, input_len, p);
	if (st == XZ_OPRF_OK && sodium_is_zero(p, sizeof(p)))
		st = XZ_OPRF_E_INVALID_INPUT;	/* RFC 9497 §3.3.1: InvalidInputError */
	if (st == XZ_OPRF_OK && crypto_scalarmult_ristretto255(blinded, blind, p) != 0)
		st = XZ_OPRF_E_INVALID_INPUT;
	sodium_memzero(p, sizeof(p));
	return st;
}

enum xz_oprf_status
xz_oprf_blind(const uint8_t *input, size_t input_len, uint8_t blind[static XZ_OPRF_SCALAR_LEN],
    uint8_t blinded[static XZ_OPRF_ELEMENT_LEN])
{
	enum xz_oprf_status st;

	xz_oprf_generate_key(blind);
	st = xz_oprf_blind_with(input, input_len, blind, blinded);
	if (st != XZ_OPRF_OK)
		sodium_memzero(blind, XZ_OPRF_SCALAR_LEN);
	return st;
}

enum xz_oprf_status
xz_oprf_blind_evaluate(const uint8_t sk[static XZ_OPRF_SCALAR_LEN],
    const uint8_t blinded[static XZ_OPRF_ELEMENT_LEN], uint8_t evaluated[static XZ_OPRF_ELEMENT_LEN])
{
	return mult_peer_element(sk, blinded, evaluated);
}

/*
 * RFC 9497 §3.3.1 Finalize, hash step:
 *   hashInput = I2OSP(len(input), 2) || input ||
 *               I2OSP(len(unblindedElement), 2) || unblindedElement || "Finalize"
 */
enum xz_oprf_status
xz_oprf_finalize_hash(const uint8_t *input, size_t input_len,
    const uint8_t unblinded[static XZ_OPRF_ELEMENT_LEN], uint8_t out[static XZ_OPRF_OUTPUT_LEN])
{
	crypto_hash_sha512_state st;
	uint8_t len_in[2], len_el[2] = { 0, XZ_OPRF_ELEMENT_LEN };

	if ((input == NULL && input_len != 0) || input_len > XZ_OPRF_MAX_INPUT_LEN)
		return XZ_OPRF_E_ARG;
	len_in[0] = (uint8_t)(input_len >> 8);
	len_in[1] = (uint8_t)input_len;
	crypto_hash_sha512_init(&st);
	crypto_hash_sha512_update(&st, len_in, 2);
	crypto_hash_sha512_update(&st, input, input_len);
	crypto_hash_sha512_update(&st, len_el, 2);
	crypto_hash_sha512_update(&st, unblinded, XZ_OPRF_ELEMENT_LEN);
	crypto_hash_sha512_update(&st, (const uint8_t *)"Finalize", 8);
	crypto_hash_sha512_final(&st, out);
	sodium_memzero(&st, sizeof(st));
	return XZ_OPRF_OK;
}

enum xz_oprf_status
xz_oprf_finalize(const uint8_t *input, size_t input_len,
    const uint8_t blind[static XZ_OPRF_SCALAR_LEN],
    const uint8_t evaluated[static XZ_OPRF_ELEMENT_LEN], uint8_t out[static XZ_OPRF_OUTPUT_LEN])
{
	uint8_t inv[XZ_OPRF_SCALAR_LEN], n[XZ_OPRF_ELEMENT_LEN];
	enum xz_oprf_status st;

	if (crypto_core_ristretto255_scalar_invert(inv, blind) != 0)
		return XZ_OPRF_E_INVALID_SCALAR;
	st = mult_peer_element(inv, evaluated, n);
	if (st == XZ_OPRF_OK)
		st = xz_oprf_finalize_hash(input, input_len, n, out);
	sodium_memzero(inv, sizeof(inv));
	sodium_memzero(n, sizeof(n));
	return st;
}

enum xz_oprf_status
xz_oprf_evaluate(const uint8_t sk[static XZ_OPRF_SCALAR_LEN], const uint8_t *input,
    size_t input_len, uint8_t out[static XZ_OPRF_OUTPUT_LEN])
{
	uint8_t p[XZ_OPRF_ELEMENT_LEN], n[XZ_OPRF_ELEMENT_LEN];
	enum xz_oprf_status st;

	st = xz_oprf_hash_to_group(input, input_len, p);
	if (st == XZ_OPRF_OK && (sodium_is_zero(p, sizeof(p)) ||
	    crypto_scalarmult_ristretto255(n, sk, p) != 0))
		st = XZ_OPRF_E_INVALID_INPUT;
	if (st == XZ_OPRF_OK)
		st = xz_oprf_finalize_hash(input, input_len, n, out);
	sodium_memzero(p, sizeof(p));
	sodium_memzero(n, sizeof(n));
	return st;
}
