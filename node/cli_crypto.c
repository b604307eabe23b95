/*
 * xiezhi crypto: cross-checking tools for the RFC 9497 OPRF, so another
 * implementation (or the RFC's test vectors) can be compared with ours
 * from the command line.
 *
 *   xiezhi crypto oprf --key SKHEX --input HEX [--blind HEX]
 *   xiezhi crypto derive-key --seed HEX --info HEX
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "cli.h"
#include "oprf.h"

static void
crypto_usage(FILE *f)
{
	fputs("usage: xiezhi crypto oprf --key SKHEX --input HEX [--blind HEX]\n"
	    "       xiezhi crypto derive-key --seed HEX --info HEX\n\n"
	    "Cross-checks for the OPRF of RFC 9497 (mode 0x00, ristretto255-SHA512).\n\n"
	    "  oprf        runs Blind, BlindEvaluate and Finalize for one input under\n"
	    "              the key and prints the 64-byte output in hex.  With --blind\n"
	    "              the blind is fixed (as in the RFC's vectors) and the\n"
	    "              BlindedElement and EvaluationElement are printed too.\n"
	    "  derive-key  prints the secret key DeriveKeyPair gives for a 32-byte seed\n"
	    "              and an info string.\n\n"
	    "  --key SKHEX    secret key: 32 bytes, little-endian, reduced, non-zero\n"
	    "  --input HEX    the private input (0 to 65535 bytes; \"\" is empty)\n"
	    "  --blind HEX    blind scalar, same encoding as the key\n"
	    "  --seed HEX     32 bytes\n"
	    "  --info HEX     0 to 65535 bytes\n\n"
	    "Keys given on a command line are visible to other local users: use this\n"
	    "for test vectors and interoperability checks, never for production keys.\n", f);
}

/*
 * Strict hex decode of the whole string into exactly want bytes (or, with
 * want == 0, up to cap bytes; *len gets the size).  Returns 0 or -1.
 */
static int
decode_hex(const char *hex, uint8_t *out, size_t cap, size_t want, size_t *len)
{
	size_t n = strlen(hex), got = 0;
	const char *end = NULL;

	if (n % 2 != 0 || n / 2 > cap || (want != 0 && n / 2 != want))
		return -1;
	if (n != 0 && (sodium_hex2bin(out, cap, hex, n, NULL, &got, &end) != 0 ||
	    end != hex + n || got != n / 2))
		return -1;
	if (len != NULL)
		*len = n / 2;
	return 0;
}

static void
print_hex(const char *name, const uint8_t *b, size_t len)
{
	char hex[2 * XZ_OPRF_OUTPUT_LEN + 1];

	sodium_bin2hex(hex, sizeof(hex), b, len);
	if (name != NULL)
		printf("%s = %s\n", name, hex);
	else
		printf("%s\n", hex);
}

/* Decodes a scalar option into sodium_malloc'd s and checks it is usable. */
static int
scalar_opt(const char *what, const char *hex, uint8_t *s)
{
	enum xz_oprf_status st;

	if (decode_hex(hex, s, XZ_OPRF_SCALAR_LEN, XZ_OPRF_SCALAR_LEN, NULL) != 0) {
		xz_cli_error("crypto oprf: --%s must be 64 hex digits (32 bytes)", what);
		return XZ_EXIT_USAGE;
	}
	if ((st = xz_oprf_validate_scalar(s)) != XZ_OPRF_OK) {
		xz_cli_error("crypto oprf: --%s: %s", what, xz_oprf_strerror(st));
		return XZ_EXIT_FAIL;
	}
	return XZ_EXIT_OK;
}

/* Runs the client/server exchange of RFC 9497 §3.3.1 in one process. */
static int
run_oprf(const uint8_t *sk, const uint8_t *input, size_t input_len, const uint8_t *blind_opt,
    uint8_t *blind)
{
	uint8_t blinded[XZ_OPRF_ELEMENT_LEN], evaluated[XZ_OPRF_ELEMENT_LEN];
	uint8_t out[XZ_OPRF_OUTPUT_LEN];
	enum xz_oprf_status st;

	if (blind_opt != NULL)
		st = xz_oprf_blind_with(input, input_len, blind_opt, blinded);
	else
		st = xz_oprf_blind(input, input_len, blind, blinded);
	if (st == XZ_OPRF_OK)
		st = xz_oprf_blind_evaluate(sk, blinded, evaluated);
	if (st == XZ_OPRF_OK)
		st = xz_oprf_finalize(input, input_len, blind_opt ? blind_opt : blind, evaluated, out);
	if (st != XZ_OPRF_OK) {
		xz_cli_error("crypto oprf: %s", xz_oprf_strerror(st));
		return XZ_EXIT_FAIL;
	}
	if (blind_opt != NULL) {
		print_hex("BlindedElement", blinded, sizeof(blinded));
		print_hex("EvaluationElement", evaluated, sizeof(evaluated));
		print_hex("Output", out, sizeof(out));
	} else {
		print_hex(NULL, out, sizeof(out));
	}
	sodium_memzero(out, sizeof(out));
	return XZ_EXIT_OK;
}

static int
cmd_oprf(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "key", required_argument, NULL, 'k' },
		{ "input", required_argument, NULL, 'i' },
		{ "blind", required_argument, NULL, 'b' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *key_hex = NULL, *input_hex = NULL, *blind_hex = NULL;
	uint8_t *sec = NULL, *input = NULL;
	size_t input_len = 0;
	int c, rc = XZ_EXIT_FAIL;

	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'k': key_hex = optarg; break;
		case 'i': input_hex = optarg; break;
		case 'b': blind_hex = optarg; break;
		case 'h': crypto_usage(stdout); return XZ_EXIT_OK;
		default: return xz_cli_usage_error("crypto", "bad option");
		}
	}
	if (optind != argc)
		return xz_cli_usage_error("crypto", "unexpected argument '%s'", argv[optind]);
	if (key_hex == NULL || input_hex == NULL)
		return xz_cli_usage_error("crypto", "oprf needs --key SKHEX and --input HEX");
	/* sec: key || blind || fixed blind, all secret. */
	if ((sec = sodium_malloc(3 * XZ_OPRF_SCALAR_LEN)) == NULL ||
	    (input = sodium_malloc(XZ_OPRF_MAX_INPUT_LEN + 1)) == NULL) {
		xz_cli_error("crypto oprf: out of memory");
		goto done;
	}
	if ((rc = scalar_opt("key", key_hex, sec)) != XZ_EXIT_OK)
		goto done;
	if (blind_hex != NULL && (rc = scalar_opt("blind", blind_hex, sec + 64)) != XZ_EXIT_OK)
		goto done;
	if (decode_hex(input_hex, input, XZ_OPRF_MAX_INPUT_LEN, 0, &input_len) != 0) {
		xz_cli_error("crypto oprf: --input must be an even number of hex digits "
		    "(at most %d bytes)", XZ_OPRF_MAX_INPUT_LEN);
		rc = XZ_EXIT_USAGE;
		goto done;
	}
	rc = run_oprf(sec, input, input_len, blind_hex ? sec + 64 : NULL, sec + 32);
done:
	sodium_free(sec);	/* wipes */
	sodium_free(input);
	return rc;
}

static int
cmd_derive_key(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "seed", required_argument, NULL, 's' },
		{ "info", required_argument, NULL, 'i' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *seed_hex = NULL, *info_hex = NULL;
	uint8_t *sec = NULL, *info = NULL;
	size_t info_len = 0;
	enum xz_oprf_status st;
	int c, rc = XZ_EXIT_FAIL;

	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 's': seed_hex = optarg; break;
		case 'i': info_hex = optarg; break;
		case 'h': crypto_usage(stdout); return XZ_EXIT_OK;
		default: return xz_cli_usage_error("crypto", "bad option");
		}
	}
	if (optind != argc)
		return xz_cli_usage_error("crypto", "unexpected argument '%s'", argv[optind]);
	if (seed_hex == NULL || info_hex == NULL)
		return xz_cli_usage_error("crypto", "derive-key needs --seed HEX and --info HEX");
	/* sec: seed || key. */
	if ((sec = sodium_malloc(XZ_OPRF_SEED_LEN + XZ_OPRF_SCALAR_LEN)) == NULL ||
	    (info = sodium_malloc(XZ_OPRF_MAX_INFO_LEN + 1)) == NULL) {
		xz_cli_error("crypto derive-key: out of memory");
		goto done;
	}
	rc = XZ_EXIT_USAGE;
	if (decode_hex(seed_hex, sec, XZ_OPRF_SEED_LEN, XZ_OPRF_SEED_LEN, NULL) != 0) {
		xz_cli_error("crypto derive-key: --seed must be 64 hex digits (32 bytes)");
		goto done;
	}
	if (decode_hex(info_hex, info, XZ_OPRF_MAX_INFO_LEN, 0, &info_len) != 0) {
		xz_cli_error("crypto derive-key: --info must be an even number of hex digits "
		    "(at most %d bytes)", XZ_OPRF_MAX_INFO_LEN);
		goto done;
	}
	rc = XZ_EXIT_FAIL;
	if ((st = xz_oprf_derive_key_pair(sec, info, info_len, sec + XZ_OPRF_SEED_LEN)) !=
	    XZ_OPRF_OK) {
		xz_cli_error("crypto derive-key: %s", xz_oprf_strerror(st));
		goto done;
	}
	print_hex(NULL, sec + XZ_OPRF_SEED_LEN, XZ_OPRF_SCALAR_LEN);
	rc = XZ_EXIT_OK;
done:
	sodium_free(sec);
	sodium_free(info);
	return rc;
}

int
xz_cmd_crypto(int argc, char **argv)
{
	if (xz_oprf_init() != XZ_OPRF_OK) {
		xz_cli_error("crypto: libsodium failed to initialise");
		return XZ_EXIT_FAIL;
	}
	if (argc < 2) {
		crypto_usage(stderr);
		return XZ_EXIT_USAGE;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		crypto_usage(stdout);
		return XZ_EXIT_OK;
	}
	if (strcmp(argv[1], "oprf") == 0)
		return cmd_oprf(argc - 1, argv + 1);
	if (strcmp(argv[1], "derive-key") == 0)
		return cmd_derive_key(argc - 1, argv + 1);
	return xz_cli_usage_error("crypto", "unknown subcommand '%s' (oprf, derive-key)", argv[1]);
}
