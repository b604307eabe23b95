/* xiezhi policy check: validate policy files and print their normal form. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "policy.h"

static void
policy_usage(FILE *f)
{
	fputs("usage: xiezhi policy check FILE...\n\n"
	    "Checks each policy file against the schema (docs/policy.md) and prints\n"
	    "its normalised form (the form the node holds; parsing it again gives the\n"
	    "same policy).  Errors name the file, line and key:\n"
	    "  xiezhi: policies/x.yaml:12: query_size.min: min (50) is larger than max (10)\n"
	    "Exit status: 0 when every file is valid, 1 when any is not.\n", f);
}

/* Checks one file; prints it on success, the error on failure. */
static int
check_one(const char *path, int first)
{
	struct xz_policy *p = malloc(sizeof(*p));
	struct xz_perror e;
	char *text = NULL, msg[1024];
	int rc = -1;

	if (p == NULL) {
		xz_cli_error("policy check: out of memory");
		return -1;
	}
	if (xz_policy_load(path, p, &e) != 0 || xz_policy_print(p, &text, &e) != 0) {
		xz_perror_format(&e, msg, sizeof(msg));
		xz_cli_error("%s", msg);
		goto done;
	}
	printf("%s# %s: valid\n%s", first ? "" : "---\n", path, text);
	rc = 0;
done:
	free(text);
	free(p);
	return rc;
}

static int
policy_check(int argc, char **argv)
{
	int failed = 0;

	if (argc < 2)
		return xz_cli_usage_error("policy", "policy check needs at least one FILE");
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0) {
			policy_usage(stdout);
			return XZ_EXIT_OK;
		}
		if (argv[i][0] == '-' && argv[i][1] != '\0')
			return xz_cli_usage_error("policy", "unknown option '%s'", argv[i]);
	}
	for (int i = 1; i < argc; i++)
		if (check_one(argv[i], i == 1) != 0)
			failed++;
	if (failed > 0 && argc > 2)
		xz_cli_error("policy check: %d of %d files are not valid", failed,
		    argc - 1);
	return failed ? XZ_EXIT_FAIL : XZ_EXIT_OK;
}

int
xz_cmd_policy(int argc, char **argv)
{
	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		policy_usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? XZ_EXIT_USAGE : XZ_EXIT_OK;
	}
	if (strcmp(argv[1], "check") == 0)
		return policy_check(argc - 1, argv + 1);
	return xz_cli_usage_error("policy", "unknown subcommand '%s' (try 'check')",
	    argv[1]);
}
