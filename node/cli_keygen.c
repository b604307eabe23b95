/* xiezhi keygen: make an approver's Ed25519 key pair. */
#include <getopt.h>
#include <stdio.h>

#include "cli.h"
#include "keyfile.h"

static void
keygen_usage(FILE *f)
{
	fputs("usage: xiezhi keygen --out NAME\n\n"
	    "Makes an approver key pair: NAME.key (the secret, mode 0600: keep it\n"
	    "on the approver's own machine, never send it) and NAME.pub (one line,\n"
	    "the public key to put into a policy's approvals.approvers list).\n"
	    "Existing files are never overwritten.\n\n"
	    "  --out NAME   path and name of the pair, without extension\n", f);
}

int
xz_cmd_keygen(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "out", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *out = NULL;
	char pub[64], msg[1024];
	struct xz_perror e;
	int c;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'o': out = optarg; break;
		case 'h': keygen_usage(stdout); return XZ_EXIT_OK;
		default:
			return xz_cli_usage_error("keygen", "unknown option or missing "
			    "value: '%s'", argv[optind - 1]);
		}
	}
	if (optind != argc)
		return xz_cli_usage_error("keygen", "unexpected argument '%s'",
		    argv[optind]);
	if (out == NULL || *out == '\0')
		return xz_cli_usage_error("keygen", "--out NAME is required");
	if (xz_keyfile_generate(out, pub, sizeof(pub), &e) != 0) {
		xz_perror_format(&e, msg, sizeof(msg));
		xz_cli_error("keygen: %s", msg);
		return XZ_EXIT_FAIL;
	}
	printf("wrote %s.key (secret, mode 0600) and %s.pub\n"
	    "public_key: %s\n", out, out, pub);
	return XZ_EXIT_OK;
}
