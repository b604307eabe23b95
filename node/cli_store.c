/* xiezhi store check: read every page of the encrypted store. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "node.h"

static void
store_usage(FILE *f)
{
	fputs("usage: xiezhi store check [--dir DIR]\n\n"
	    "Opens the node's encrypted store and reads every page, checking each\n"
	    "page's authentication code.  Opening a node already checks the key\n"
	    "and the first pages; this finds damage anywhere in the file.\n", f);
}

int
xz_cmd_store(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "dir", required_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *dir_opt = NULL, *dir;
	struct xz_node *node = NULL;
	struct xz_diag diag;
	int c, rc = XZ_EXIT_FAIL;

	if (argc < 2 || strcmp(argv[1], "check") != 0) {
		if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
			store_usage(stdout);
			return XZ_EXIT_OK;
		}
		store_usage(stderr);
		return XZ_EXIT_USAGE;
	}
	optind = 1;
	argc--;
	argv++;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'd': dir_opt = optarg; break;
		case 'h': store_usage(stdout); return XZ_EXIT_OK;
		default: return xz_cli_usage_error("store", "bad option");
		}
	}
	if (optind != argc)
		return xz_cli_usage_error("store", "unexpected argument '%s'", argv[optind]);
	if ((dir = xz_cli_node_dir(dir_opt)) == NULL)
		return XZ_EXIT_USAGE;
	if (xz_node_open(dir, &node, &diag) != 0 || xz_node_check_pages(node, &diag) != 0) {
		xz_cli_error("store check: %s", diag.msg);
		goto done;
	}
	printf("Store of node '%s' is intact: every page authenticated.\n",
	    xz_node_name(node));
	rc = XZ_EXIT_OK;
done:
	xz_node_close(node);
	return rc;
}
