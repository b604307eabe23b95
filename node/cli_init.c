/* xiezhi init: create a node directory. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "node.h"

static void
init_usage(FILE *f)
{
	fputs("usage: xiezhi init --dir DIR --name NAME\n\n"
	    "Creates a node directory: xiezhi.conf, keys/ (a fresh 256-bit store\n"
	    "key and the node's Ed25519 signing key, readable only by you) and the\n"
	    "encrypted store.  DIR must be new or empty.\n\n"
	    "  --dir DIR     where the node lives (or set XIEZHI_DIR)\n"
	    "  --name NAME   the node's name: letters, digits, '.', '-', '_'\n", f);
}

int
xz_cmd_init(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "dir", required_argument, NULL, 'd' },
		{ "name", required_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *dir_opt = NULL, *name = NULL, *dir;
	struct xz_diag diag;
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'd': dir_opt = optarg; break;
		case 'n': name = optarg; break;
		case 'h': init_usage(stdout); return XZ_EXIT_OK;
		default: return xz_cli_usage_error("init", "bad option");
		}
	}
	if (optind != argc)
		return xz_cli_usage_error("init", "unexpected argument '%s'", argv[optind]);
	if (name == NULL)
		return xz_cli_usage_error("init", "--name NAME is required");
	if ((dir = xz_cli_node_dir(dir_opt)) == NULL)
		return XZ_EXIT_USAGE;
	if (xz_node_init(dir, name, &diag) != 0) {
		xz_cli_error("init: %s", diag.msg);
		return XZ_EXIT_FAIL;
	}
	printf("Created node '%s' in %s\n"
	    "  store:   %s/store.db (SQLCipher, AES-256, key in keys/store.key)\n"
	    "  keys:    %s/keys (store key, node signing key; mode 0700)\n"
	    "Back up %s/keys somewhere safe and offline: without store.key the\n"
	    "data cannot be read, and anyone holding it can read the store.\n",
	    name, dir, dir, dir, dir);
	return XZ_EXIT_OK;
}
