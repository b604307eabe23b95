/*
 * The real `xiezhi crypto` commands against RFC 9497 Appendix A.1.1
 * (ristretto255-SHA512, OPRF mode), and their refusals of bad input.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testsupport.h"

#define SKSM "5ebcea5ee37023ccb9fc2d2019f9d7737be85591ae8652ffa9ef0f4d37063b0e"
#define BLIND "64d37aed22a27f5191de1c1d69fadb899d8862b58eb4220029e036ec4c1f6706"

static const struct {
	const char *input, *blinded, *evaluated, *output;
} vectors[] = {
	{ "00", "609a0ae68c15a3cf6903766461307e5c8bb2f95e7e6550e1ffa2dc99e412803c",
	  "7ec6578ae5120958eb2db1745758ff379e77cb64fe77b0b2d8cc917ea0869c7e",
	  "527759c3d9366f277d8c6020418d96bb393ba2afb20ff90df23fb7708264e2f3"
	  "ab9135e3bd69955851de4b1f9fe8a0973396719b7912ba9ee8aa7d0b5e24bcf6" },
	{ "5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a",
	  "da27ef466870f5f15296299850aa088629945a17d1f5b7f5ff043f76b3c06418",
	  "b4cbf5a4f1eeda5a63ce7b77c7d23f461db3fcab0dd28e4e17cecb5c90d02c25",
	  "f4a74c9c592497375e796aa837e907b1a045d34306a749db9f34221f7e750cb4"
	  "f2a6413a6bf6fa5e19ba6348eb673934a722a7ede2e7621306d18951e7cf2c73" },
};

static void
test_oprf_vectors(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
		struct xzt_run r;
		char want[512];
		const char *argv[] = { xzt_xiezhi_bin(), "crypto", "oprf", "--key", SKSM,
			"--input", vectors[i].input, NULL };

		/* A random blind each run: only the output is fixed. */
		xzt_run(&r, argv, NULL, NULL);
		assert_int_equal(r.status, 0);
		snprintf(want, sizeof(want), "%s\n", vectors[i].output);
		assert_string_equal(r.out, want);
		xzt_run_free(&r);

		/* With the RFC's blind, every intermediate value matches too. */
		const char *argv2[] = { xzt_xiezhi_bin(), "crypto", "oprf", "--key", SKSM,
			"--input", vectors[i].input, "--blind", BLIND, NULL };
		xzt_run(&r, argv2, NULL, NULL);
		assert_int_equal(r.status, 0);
		snprintf(want, sizeof(want), "BlindedElement = %s\nEvaluationElement = %s\n"
		    "Output = %s\n", vectors[i].blinded, vectors[i].evaluated, vectors[i].output);
		assert_string_equal(r.out, want);
		xzt_run_free(&r);
	}
}

static void
test_derive_key(void **state)
{
	struct xzt_run r;
	const char *argv[] = { xzt_xiezhi_bin(), "crypto", "derive-key", "--seed",
		"a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3",
		"--info", "74657374206b6579", NULL };

	(void)state;
	xzt_run(&r, argv, NULL, NULL);
	assert_int_equal(r.status, 0);
	assert_string_equal(r.out, SKSM "\n");
	xzt_run_free(&r);
}

static void
test_refusals(void **state)
{
	static const struct {
		const char *args[8];
		int status;
		const char *err;
	} cases[] = {
		{ { "oprf", "--key", "00", "--input", "00" }, 2, "--key must be 64 hex digits" },
		{ { "oprf", "--key", "edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010",
		    "--input", "00" }, 1, "not reduced" },
		{ { "oprf", "--key", "0000000000000000000000000000000000000000000000000000000000000000",
		    "--input", "00" }, 1, "zero" },
		{ { "oprf", "--key", SKSM, "--input", "0g" }, 2, "--input must be" },
		{ { "oprf", "--key", SKSM, "--input", "000" }, 2, "--input must be" },
		{ { "oprf", "--key", SKSM }, 2, "needs --key" },
		{ { "derive-key", "--seed", "a3a3", "--info", "" }, 2, "--seed must be 64" },
		{ { "frobnicate" }, 2, "unknown subcommand" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *argv[12] = { xzt_xiezhi_bin(), "crypto" };
		struct xzt_run r;

		for (size_t k = 0; k < 8 && cases[i].args[k] != NULL; k++)
			argv[2 + k] = cases[i].args[k];
		xzt_run(&r, argv, NULL, NULL);
		assert_int_equal(r.status, cases[i].status);
		assert_string_equal(r.out, "");
		assert_non_null(strstr(r.err, cases[i].err));
		xzt_run_free(&r);
	}
}

/* The benchmark checks its own answer; a small run must pass that check. */
static void
test_bench_small(void **state)
{
	struct xzt_run r;
	const char *argv[] = { xzt_xiezhi_bin(), "bench", "psi", "--n", "600", "--m", "500",
		"--labels", "8", "--threads", "2", "--batch", "256", NULL };

	(void)state;
	xzt_run(&r, argv, NULL, NULL);
	assert_int_equal(r.status, 0);
	assert_non_null(strstr(r.out, "answer: 250 (expected 250), matches the plain set"));
	assert_non_null(strstr(r.out, "ratio to the raw bound: "));
	xzt_run_free(&r);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_oprf_vectors),
		cmocka_unit_test(test_derive_key),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_bench_small),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
