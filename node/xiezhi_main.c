/*
 * xiezhi: the command-line tool for operators, analysts and auditors.
 * Each top-level command lives in its own node/cli_*.c file; this file only
 * dispatches.
 */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include <sodium.h>

#include "cli.h"

static const struct xz_cli_command commands[] = {
	{ "init",    xz_cmd_init,    "create a node directory (config, keys, encrypted store)" },
	{ "dataset", xz_cmd_dataset, "import, list, show and drop datasets" },
	{ "store",   xz_cmd_store,   "check the encrypted store page by page" },
	{ "sample",  xz_cmd_sample,  "write invented data (people, or the seed cases' federation) to try xiezhi" },
	{ "crypto",  xz_cmd_crypto,  "cross-check the RFC 9497 OPRF (oprf, derive-key)" },
	{ "bench",   xz_cmd_bench,   "benchmarks (psi, import)" },
	{ "audit",   xz_cmd_audit,   "verify, export and prove the tamper-evident audit log" },
	{ "keygen",  xz_cmd_keygen,  "make an approver's Ed25519 key pair (NAME.key, NAME.pub)" },
	{ "policy",  xz_cmd_policy,  "check policy files and print their normalised form" },
	{ "request", xz_cmd_request, "create, show, approve and dry-run join requests" },
	{ "config",  xz_cmd_config,  "show and set the federation config (identity, TLS, peers)" },
	{ "join",    xz_cmd_join,    "run an approved join against a peer and store the result" },
	{ "model",   xz_cmd_model,   "check a supervision model, write its requests, run it into leads" },
	{ "leads",   xz_cmd_leads,   "create, list, show, update, export and purge leads" },
};

static void
usage(FILE *f)
{
	fputs("usage: xiezhi COMMAND [ARGS...]\n\n"
	    "xiezhi runs a node of a private data-collaboration federation:\n"
	    "agencies keep their data encrypted on their own node and answer\n"
	    "approved joins without handing over their tables.\n\n"
	    "Commands:\n", f);
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(f, "  %-9s %s\n", commands[i].name, commands[i].summary);
	fputs("\nEvery command that works on a node takes --dir DIR (or XIEZHI_DIR).\n"
	    "Run 'xiezhi COMMAND --help' for a command's options.\n", f);
}

int
main(int argc, char **argv)
{
	/* Everything a node writes (store, keys, reject files, exports) is for
	 * its owner only. */
	umask(077);
	if (sodium_init() < 0) {
		xz_cli_error("libsodium failed to initialise (no usable random source?)");
		return XZ_EXIT_FAIL;
	}
	if (argc < 2) {
		usage(stderr);
		return XZ_EXIT_USAGE;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		usage(stdout);
		return XZ_EXIT_OK;
	}
	if (strcmp(argv[1], "--version") == 0) {
		printf("xiezhi %s\n", XIEZHI_VERSION);
		return XZ_EXIT_OK;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (strcmp(argv[1], commands[i].name) == 0)
			return commands[i].run(argc - 1, argv + 1);
	}
	xz_cli_error("unknown command '%s'", argv[1]);
	usage(stderr);
	return XZ_EXIT_USAGE;
}
