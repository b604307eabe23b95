/*
 * RFC 9497 OPRF (mode 0x00, ristretto255-SHA512) known-answer tests, the
 * RFC 9380 expand_message_xmd(SHA-512) vectors underneath, and the
 * RFC 9496 invalid encodings every peer-facing function must refuse.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "oprf.h"
#include "testsupport.h"

static size_t
unhex(const char *hex, uint8_t *out, size_t cap)
{
	size_t len = strlen(hex) / 2;

	assert_int_equal(strlen(hex) % 2, 0);
	assert_true(len <= cap);
	assert_int_equal(sodium_hex2bin(out, cap, hex, strlen(hex), NULL, &len, NULL), 0);
	return len;
}

/*
 * RFC 9497 Appendix A.1.1 (ristretto255-SHA512, OPRF mode): Test Vector 1
 * and Test Vector 2, both Batch Size 1 — all OPRF-mode vectors the RFC
 * gives for this suite (batched vectors exist only for VOPRF and POPRF).
 */
#define A11_SEED "a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3"
#define A11_INFO "74657374206b6579"
#define A11_SKSM "5ebcea5ee37023ccb9fc2d2019f9d7737be85591ae8652ffa9ef0f4d37063b0e"

static const struct oprf_vector {
	const char *name, *input, *blind, *blinded, *evaluated, *output;
} vectors[] = {
	{ "A.1.1 Test Vector 1", "00",
	  "64d37aed22a27f5191de1c1d69fadb899d8862b58eb4220029e036ec4c1f6706",
	  "609a0ae68c15a3cf6903766461307e5c8bb2f95e7e6550e1ffa2dc99e412803c",
	  "7ec6578ae5120958eb2db1745758ff379e77cb64fe77b0b2d8cc917ea0869c7e",
	  "527759c3d9366f277d8c6020418d96bb393ba2afb20ff90df23fb7708264e2f3"
	  "ab9135e3bd69955851de4b1f9fe8a0973396719b7912ba9ee8aa7d0b5e24bcf6" },
	{ "A.1.1 Test Vector 2", "5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a",
	  "64d37aed22a27f5191de1c1d69fadb899d8862b58eb4220029e036ec4c1f6706",
	  "da27ef466870f5f15296299850aa088629945a17d1f5b7f5ff043f76b3c06418",
	  "b4cbf5a4f1eeda5a63ce7b77c7d23f461db3fcab0dd28e4e17cecb5c90d02c25",
	  "f4a74c9c592497375e796aa837e907b1a045d34306a749db9f34221f7e750cb4"
	  "f2a6413a6bf6fa5e19ba6348eb673934a722a7ede2e7621306d18951e7cf2c73" },
};

static void
test_derive_key_pair(void **state)
{
	uint8_t seed[32], info[16], sk[32], want[32];
	size_t info_len;

	(void)state;
	unhex(A11_SEED, seed, sizeof(seed));
	info_len = unhex(A11_INFO, info, sizeof(info));
	unhex(A11_SKSM, want, sizeof(want));
	assert_int_equal(xz_oprf_derive_key_pair(seed, info, info_len, sk), XZ_OPRF_OK);
	assert_memory_equal(sk, want, 32);
	/* A different info gives a different key (domain separation works). */
	assert_int_equal(xz_oprf_derive_key_pair(seed, info, info_len - 1, sk), XZ_OPRF_OK);
	assert_memory_not_equal(sk, want, 32);
}

static void
test_vectors(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
		const struct oprf_vector *v = &vectors[i];
		uint8_t sk[32], input[64], blind[32], want_bl[32], want_ev[32], want_out[64];
		uint8_t bl[32], ev[32], out[64];
		size_t input_len;

		print_message("%s\n", v->name);
		unhex(A11_SKSM, sk, sizeof(sk));
		input_len = unhex(v->input, input, sizeof(input));
		unhex(v->blind, blind, sizeof(blind));
		unhex(v->blinded, want_bl, sizeof(want_bl));
		unhex(v->evaluated, want_ev, sizeof(want_ev));
		unhex(v->output, want_out, sizeof(want_out));

		assert_int_equal(xz_oprf_blind_with(input, input_len, blind, bl), XZ_OPRF_OK);
		assert_memory_equal(bl, want_bl, 32);
		assert_int_equal(xz_oprf_blind_evaluate(sk, bl, ev), XZ_OPRF_OK);
		assert_memory_equal(ev, want_ev, 32);
		assert_int_equal(xz_oprf_finalize(input, input_len, blind, ev, out), XZ_OPRF_OK);
		assert_memory_equal(out, want_out, 64);
		/* The key holder's direct evaluation agrees with the protocol. */
		memset(out, 0, sizeof(out));
		assert_int_equal(xz_oprf_evaluate(sk, input, input_len, out), XZ_OPRF_OK);
		assert_memory_equal(out, want_out, 64);
	}
}

static void
test_random_blind_roundtrip(void **state)
{
	uint8_t sk[32], blind[32], bl[32], ev[32], out[64], direct[64];
	static const uint8_t id[] = "110101199003074514";

	(void)state;
	xz_oprf_generate_key(sk);
	assert_int_equal(xz_oprf_validate_scalar(sk), XZ_OPRF_OK);
	assert_int_equal(xz_oprf_blind(id, sizeof(id) - 1, blind, bl), XZ_OPRF_OK);
	assert_int_equal(xz_oprf_blind_evaluate(sk, bl, ev), XZ_OPRF_OK);
	assert_int_equal(xz_oprf_finalize(id, sizeof(id) - 1, blind, ev, out), XZ_OPRF_OK);
	assert_int_equal(xz_oprf_evaluate(sk, id, sizeof(id) - 1, direct), XZ_OPRF_OK);
	assert_memory_equal(out, direct, 64);
}

/* RFC 9380 Appendix K.3, expand_message_xmd(SHA-512), DST QUUX-V01-CS02-with-expander-SHA512-256. */
static void
test_expand_message_xmd(void **state)
{
	static const struct {
		const char *msg;
		size_t len;
		const char *want;
	} kv[] = {
		{ "", 0x20, "6b9a7312411d92f921c6f68ca0b6380730a1a4d982c507211a90964c394179ba" },
		{ "abc", 0x20, "0da749f12fbe5483eb066a5f595055679b976e93abe9be6f0f6318bce7aca8dc" },
		{ "abcdef0123456789", 0x20,
		  "087e45a86e2939ee8b91100af1583c4938e0f5fc6c9db4b107b83346bc967f58" },
		{ "", 0x80,
		  "41b037d1734a5f8df225dd8c7de38f851efdb45c372887be655212d07251b921"
		  "b052b62eaed99b46f72f2ef4cc96bfaf254ebbbec091e1a3b9e4fb5e5b619d2e"
		  "0c5414800a1d882b62bb5cd1778f098b8eb6cb399d5d9d18f5d5842cf5d13d7e"
		  "b00a7cff859b605da678b318bd0e65ebff70bec88c753b159a805d2c89c55961" },
	};
	static const char dst[] = "QUUX-V01-CS02-with-expander-SHA512-256";
	uint8_t out[128], want[128];

	(void)state;
	for (size_t i = 0; i < sizeof(kv) / sizeof(kv[0]); i++) {
		unhex(kv[i].want, want, sizeof(want));
		assert_int_equal(xz_expand_message_xmd_sha512((const uint8_t *)kv[i].msg,
		    strlen(kv[i].msg), (const uint8_t *)dst, strlen(dst), out, kv[i].len), XZ_OPRF_OK);
		assert_memory_equal(out, want, kv[i].len);
	}
	/* Limits of §5.3.1: ell <= 255, DST 1..255 bytes. */
	assert_int_equal(xz_expand_message_xmd_sha512(NULL, 0, (const uint8_t *)dst, 0, out, 32),
	    XZ_OPRF_E_ARG);
	assert_int_equal(xz_expand_message_xmd_sha512(NULL, 0, (const uint8_t *)dst, strlen(dst),
	    out, 0), XZ_OPRF_E_ARG);
}

/* RFC 9496 Appendix A.2: encodings a decoder must refuse; plus the identity. */
static const char *const bad_points[] = {
	/* non-canonical field encodings */
	"00ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
	"ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
	"f3ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
	"edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
	/* negative field elements */
	"0100000000000000000000000000000000000000000000000000000000000000",
	"01ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
	"ed57ffd8c914fb201471d1c3d245ce3c746fcbe63a3679d51b6a516ebebe0e20",
	"c34c4e1826e5d403b78e246e88aa051c36ccf0aafebffe137d148a2bf9104562",
	"c940e5a4404157cfb1628b108db051a8d439e1a421394ec4ebccb9ec92a8ac78",
	"47cfc5497c53dc8e61c91d17fd626ffb1c49e2bca94eed052281b510b1117a24",
	"f1c6165d33367351b0da8f6e4511010c68174a03b6581212c71c0e1d026c3c72",
	"87260f7a2f12495118360f02c26a470f450dadf34a413d21042b43b9d93e1309",
	/* non-square x^2 */
	"26948d35ca62e643e26a83177332e6b6afeb9d08e4268b650f1f5bbd8d81d371",
	"4eac077a713c57b4f4397629a4145982c661f48044dd3f96427d40b147d9742f",
	"de6a7b00deadc788eb6b6c8d20c0ae96c2f2019078fa604fee5b87d6e989ad7b",
	"bcab477be20861e01e4a0e295284146a510150d9817763caf1a6f4b422d67042",
	"2a292df7e32cababbd9de088d1d1abec9fc0440f637ed2fba145094dc14bea08",
	"f4a9e534fc0d216c44b218fa0c42d99635a0127ee2e53c712f70609649fdff22",
	"8268436f8c4126196cf64b3c7ddbda90746a378625f9813dd9b8457077256731",
	"2810e5cbc2cc4d4eece54f61c6f69758e289aa7ab440b3cbeaa21995c2f4232b",
	/* negative xy value */
	"3eb858e78f5a7254d8c9731174a94f76755fd3941c0ac93735c07ba14579630e",
	"a45fdc55c76448c049a1ab33f17023edfb2be3581e9c7aade8a6125215e04220",
	"d483fe813c6ba647ebbfd3ec41adca1c6130c2beeee9d9bf065c8d151c5f396e",
	"8a2e1d30050198c65a54483123960ccc38aef6848e1ec8f5f780e8523769ba32",
	"32888462f8b486c68ad7dd9610be5192bbeaf3b443951ac1a8118419d9fa097b",
	/* s = -1, which would give t = 0 */
	"ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
	/* the identity: canonical, but RFC 9497 §2.1 DeserializeElement refuses it */
	"0000000000000000000000000000000000000000000000000000000000000000",
};

static void
test_bad_points_refused(void **state)
{
	uint8_t sk[32], blind[32], p[32], out[32], fin[64];

	(void)state;
	xz_oprf_generate_key(sk);
	xz_oprf_generate_key(blind);
	for (size_t i = 0; i < sizeof(bad_points) / sizeof(bad_points[0]); i++) {
		unhex(bad_points[i], p, sizeof(p));
		memset(out, 0xaa, sizeof(out));
		assert_int_equal(xz_oprf_validate_element(p), XZ_OPRF_E_INVALID_ELEMENT);
		assert_int_equal(xz_oprf_blind_evaluate(sk, p, out), XZ_OPRF_E_INVALID_ELEMENT);
		assert_int_equal(xz_oprf_finalize((const uint8_t *)"x", 1, blind, p, fin),
		    XZ_OPRF_E_INVALID_ELEMENT);
	}
	/* A valid element passes, so the refusals above are not a blanket "no". */
	assert_int_equal(xz_oprf_hash_to_group((const uint8_t *)"x", 1, p), XZ_OPRF_OK);
	assert_int_equal(xz_oprf_validate_element(p), XZ_OPRF_OK);
	assert_int_equal(xz_oprf_blind_evaluate(sk, p, out), XZ_OPRF_OK);
}

static void
test_scalar_validation(void **state)
{
	/* L = 2^252 + 27742317777372353535851937790883648493, little-endian. */
	static const char *const bad[] = {
		"0000000000000000000000000000000000000000000000000000000000000000",
		"edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010",
		"ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff1f",
	};
	uint8_t s[32];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		unhex(bad[i], s, sizeof(s));
		assert_int_equal(xz_oprf_validate_scalar(s), XZ_OPRF_E_INVALID_SCALAR);
	}
	/* L - 1 is the largest valid scalar. */
	unhex("ecd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010", s, sizeof(s));
	assert_int_equal(xz_oprf_validate_scalar(s), XZ_OPRF_OK);
	unhex(A11_SKSM, s, sizeof(s));
	assert_int_equal(xz_oprf_validate_scalar(s), XZ_OPRF_OK);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_expand_message_xmd),
		cmocka_unit_test(test_derive_key_pair),
		cmocka_unit_test(test_vectors),
		cmocka_unit_test(test_random_blind_roundtrip),
		cmocka_unit_test(test_bad_points_refused),
		cmocka_unit_test(test_scalar_validation),
	};

	if (xz_oprf_init() != XZ_OPRF_OK)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
