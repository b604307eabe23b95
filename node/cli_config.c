/*
 * xiezhi config: show and change the federation settings of xiezhi.conf
 * (docs/operations.md).  Every value goes through the same validation as
 * the file parser, and the file is rewritten atomically.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "nodeconf.h"

static void
config_usage(FILE *f)
{
	fputs("usage: xiezhi config show [--dir DIR] [--json]\n"
	    "       xiezhi config set KEY VALUE [KEY VALUE]... [--dir DIR]\n"
	    "       xiezhi config unset KEY [--dir DIR]\n\n"
	    "Keys: identity, listen (host:port), tls_ca, tls_cert, tls_key (paths,\n"
	    "relative to the node directory unless absolute), peer.NAME.address,\n"
	    "peer.NAME.identity, peer.NAME.node_key.  A new peer needs its address and\n"
	    "identity in one 'set'.  'unset peer.NAME' removes a peer.\n"
	    "Restart xiezhid (or send it SIGTERM and start it again) to apply.\n", f);
}

static void
json_kv(const char *k, const char *v, int comma)
{
	xz_json_string(stdout, k);
	fputs(": ", stdout);
	xz_json_string(stdout, v);
	if (comma)
		fputs(", ", stdout);
}

static void
show(const struct xz_nodeconf *c, int json)
{
	if (!json) {
		printf("name      %s\nidentity  %s\nlisten    %s\ntls_ca    %s\n"
		    "tls_cert  %s\ntls_key   %s\n", c->name, c->identity, c->listen,
		    c->tls_ca, c->tls_cert, c->tls_key);
		for (size_t i = 0; i < c->npeers; i++)
			printf("peer %s  address %s  identity %s%s%s\n", c->peers[i].name,
			    c->peers[i].address, c->peers[i].identity,
			    c->peers[i].node_key[0] ? "  node_key " : "", c->peers[i].node_key);
		return;
	}
	fputs("{", stdout);
	json_kv("name", c->name, 1);
	json_kv("identity", c->identity, 1);
	json_kv("listen", c->listen, 1);
	json_kv("tls_ca", c->tls_ca, 1);
	json_kv("tls_cert", c->tls_cert, 1);
	json_kv("tls_key", c->tls_key, 1);
	fputs("\"peers\": [", stdout);
	for (size_t i = 0; i < c->npeers; i++) {
		fputs(i > 0 ? ", {" : "{", stdout);
		json_kv("name", c->peers[i].name, 1);
		json_kv("address", c->peers[i].address, 1);
		json_kv("identity", c->peers[i].identity, 1);
		json_kv("node_key", c->peers[i].node_key, 0);
		fputs("}", stdout);
	}
	fputs("]}\n", stdout);
}

int
xz_cmd_config(int argc, char **argv)
{
	const char *dir_opt = NULL, *dir, *pos[65] = { NULL };
	static struct xz_nodeconf conf;
	struct xz_diag d;
	size_t npos = 0;
	int json = 0;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			config_usage(stdout);
			return XZ_EXIT_OK;
		} else if (strcmp(argv[i], "--dir") == 0) {
			if (++i == argc)
				return xz_cli_usage_error("config", "--dir needs a value");
			dir_opt = argv[i];
		} else if (strcmp(argv[i], "--json") == 0) {
			json = 1;
		} else if (argv[i][0] == '-' && argv[i][1] == '-') {
			return xz_cli_usage_error("config", "unknown option '%s'", argv[i]);
		} else if (npos < 65) {
			pos[npos++] = argv[i];
		} else {
			return xz_cli_usage_error("config", "too many arguments");
		}
	}
	if (npos == 0)
		return xz_cli_usage_error("config", "missing subcommand (show, set, unset)");
	if (!((strcmp(pos[0], "show") == 0 && npos == 1) ||
	    (strcmp(pos[0], "set") == 0 && npos >= 3 && npos % 2 == 1) ||
	    (strcmp(pos[0], "unset") == 0 && npos == 2)))
		return xz_cli_usage_error("config", "expected 'show', 'set KEY VALUE' or "
		    "'unset KEY'");
	if ((dir = xz_cli_node_dir(dir_opt)) == NULL)
		return XZ_EXIT_USAGE;
	if (xz_nodeconf_read(dir, &conf, &d) != 0) {
		xz_cli_error("%s", d.msg);
		return XZ_EXIT_FAIL;
	}
	if (strcmp(pos[0], "show") == 0) {
		show(&conf, json);
		return XZ_EXIT_OK;
	}
	if (strcmp(pos[0], "set") == 0) {
		for (size_t i = 1; i + 1 < npos; i += 2)
			if (xz_nodeconf_set(&conf, pos[i], pos[i + 1], "xiezhi config set",
			    &d) != 0) {
				xz_cli_error("%s", d.msg);
				return XZ_EXIT_FAIL;
			}
	} else if (xz_nodeconf_unset(&conf, pos[1], &d) != 0) {
		xz_cli_error("%s", d.msg);
		return XZ_EXIT_FAIL;
	}
	/* All pairs or none: the file is written once, after every check. */
	if (xz_nodeconf_write(dir, &conf, &d) != 0) {
		xz_cli_error("%s", d.msg);
		return XZ_EXIT_FAIL;
	}
	return XZ_EXIT_OK;
}
