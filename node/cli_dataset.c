/* xiezhi dataset: import, list, show, drop. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "dataset.h"
#include "node.h"

static void
dataset_usage(FILE *f)
{
	fputs("usage: xiezhi dataset import NAME --csv FILE --key COLUMN:TYPE\n"
	    "                              [--column COLUMN:TYPE ...] [--encoding gb18030]\n"
	    "                              [--reject-file FILE] [--replace | --append] [--json]\n"
	    "       xiezhi dataset list [--json]\n"
	    "       xiezhi dataset show NAME [--json]\n"
	    "       xiezhi dataset drop NAME --yes\n\n"
	    "Every form takes --dir DIR (or XIEZHI_DIR).\n\n"
	    "Column types:\n"
	    "  cn_id    resident ID number (GB 11643-1999); 15-digit numbers become 18\n"
	    "  uscc     unified social credit code (GB 32100-2015)\n"
	    "  phone    mainland mobile number, stored as 11 digits\n"
	    "  text     Unicode text, NFKC-normalised, spaces collapsed\n"
	    "  int      whole number\n"
	    "  decimal  exact amount (money), never rounded\n"
	    "  date     2024-03-05, 2024/3/5, 20240305 or 2024年3月5日\n\n"
	    "Import is all or nothing: if any row is invalid, nothing is imported and\n"
	    "every bad row is reported.  With --reject-file the valid rows are imported\n"
	    "and the invalid ones written to FILE (mode 0600) with their reasons.\n"
	    "An existing dataset is only changed with --replace (atomic swap) or\n"
	    "--append.\n", f);
}

struct progress_state {
	int drawn;
};

static void
draw_progress(void *arg, uint64_t done, uint64_t total, uint64_t rows)
{
	struct progress_state *p = arg;
	unsigned pct = total > 0 ? (unsigned)(done * 100 / total) : 0;
	char bar[31];

	if (pct > 100)
		pct = 100;
	memset(bar, '#', pct * 30 / 100);
	memset(bar + pct * 30 / 100, '.', 30 - pct * 30 / 100);
	bar[30] = '\0';
	fprintf(stderr, "\r  importing [%s] %3u%%  %llu rows", bar, pct,
	    (unsigned long long)rows);
	p->drawn = 1;
}

static void
print_result_text(const struct xz_import_spec *spec, const struct xz_import_result *r)
{
	double rate = r->elapsed_s > 0 ? (double)r->rows_read / r->elapsed_s : 0;

	printf("%s dataset '%s' from %s\n", r->committed ? "Imported" : "Did not import",
	    spec->dataset, spec->csv_path);
	printf("  rows read:      %llu\n", (unsigned long long)r->rows_read);
	printf("  imported:       %llu\n", (unsigned long long)r->rows_imported);
	printf("  rejected:       %llu\n", (unsigned long long)r->rows_rejected);
	if (r->rows_rejected && spec->reject_path && r->committed)
		printf("                  written to %s with each row's reason\n",
		    spec->reject_path);
	printf("  duplicate keys: %llu\n", (unsigned long long)r->duplicates);
	printf("  elapsed:        %.2f s (%.0f rows/s)\n", r->elapsed_s, rate);
}

static void
print_problems(const struct xz_import_spec *spec, const struct xz_import_result *r)
{
	if (r->nproblems == 0)
		return;
	fprintf(stderr, "Refused rows in %s:\n", spec->csv_path);
	for (size_t i = 0; i < r->nproblems; i++) {
		const struct xz_import_problem *p = &r->problems[i];
		if (p->pos > 0)
			fprintf(stderr, "  line %llu, column '%s', character %zu: %s\n",
			    (unsigned long long)p->line, p->column, p->pos, p->reason);
		else
			fprintf(stderr, "  line %llu, column '%s': %s\n",
			    (unsigned long long)p->line, p->column, p->reason);
	}
	if (r->rows_rejected > r->nproblems)
		fprintf(stderr, "  ... and %llu more refused rows (%llu in all)\n",
		    (unsigned long long)(r->rows_rejected - r->nproblems),
		    (unsigned long long)r->rows_rejected);
}

static void
print_result_json(const struct xz_import_spec *spec, const struct xz_import_result *r,
    const char *error)
{
	printf("{\"dataset\": ");
	xz_json_string(stdout, spec->dataset);
	printf(", \"committed\": %s, \"rows_read\": %llu, \"rows_imported\": %llu,"
	    " \"rows_rejected\": %llu, \"duplicates\": %llu, \"elapsed_s\": %.3f,"
	    " \"source_sha256\": \"%s\", \"problems\": [", r->committed ? "true" : "false",
	    (unsigned long long)r->rows_read, (unsigned long long)r->rows_imported,
	    (unsigned long long)r->rows_rejected, (unsigned long long)r->duplicates,
	    r->elapsed_s, r->source_sha256);
	for (size_t i = 0; i < r->nproblems; i++) {
		printf("%s{\"line\": %llu, \"column\": ", i ? ", " : "",
		    (unsigned long long)r->problems[i].line);
		xz_json_string(stdout, r->problems[i].column);
		printf(", \"position\": %zu, \"reason\": ", r->problems[i].pos);
		xz_json_string(stdout, r->problems[i].reason);
		printf("}");
	}
	printf("]");
	if (error != NULL) {
		printf(", \"error\": ");
		xz_json_string(stdout, error);
	}
	printf("}\n");
}

static int
cmd_import(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "dir", required_argument, NULL, 'd' },
		{ "csv", required_argument, NULL, 'c' },
		{ "key", required_argument, NULL, 'k' },
		{ "column", required_argument, NULL, 'C' },
		{ "encoding", required_argument, NULL, 'e' },
		{ "reject-file", required_argument, NULL, 'r' },
		{ "replace", no_argument, NULL, 'R' },
		{ "append", no_argument, NULL, 'A' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct xz_column_spec cols[XZ_DATASET_MAX_COLUMNS];
	struct xz_import_spec spec = { .mode = XZ_IMPORT_CREATE };
	struct xz_import_result *res = NULL;
	struct progress_state prog = {0};
	const char *dir_opt = NULL, *dir, *key = NULL;
	struct xz_node *node = NULL;
	struct xz_diag diag;
	int c, json = 0, rc = XZ_EXIT_FAIL, have_mode = 0;

	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'd': dir_opt = optarg; break;
		case 'c': spec.csv_path = optarg; break;
		case 'k': key = optarg; break;
		case 'e': spec.encoding = optarg; break;
		case 'r': spec.reject_path = optarg; break;
		case 'j': json = 1; break;
		case 'R':
		case 'A':
			if (have_mode++)
				return xz_cli_usage_error("dataset", "--replace and --append "
				    "exclude each other");
			spec.mode = c == 'R' ? XZ_IMPORT_REPLACE : XZ_IMPORT_APPEND;
			break;
		case 'C':
			if (spec.ncolumns == XZ_DATASET_MAX_COLUMNS)
				return xz_cli_usage_error("dataset", "at most %d --column "
				    "options", XZ_DATASET_MAX_COLUMNS);
			if (xz_column_spec_parse(optarg, &cols[spec.ncolumns], &diag) != 0)
				return xz_cli_usage_error("dataset", "--column: %s", diag.msg);
			spec.ncolumns++;
			break;
		case 'h': dataset_usage(stdout); return XZ_EXIT_OK;
		default: return xz_cli_usage_error("dataset", "bad option");
		}
	}
	if (optind + 1 != argc)
		return xz_cli_usage_error("dataset", "dataset import takes exactly one "
		    "NAME");
	spec.dataset = argv[optind];
	if (spec.csv_path == NULL || key == NULL)
		return xz_cli_usage_error("dataset", "dataset import needs --csv FILE and "
		    "--key COLUMN:TYPE");
	if (xz_column_spec_parse(key, &spec.key, &diag) != 0)
		return xz_cli_usage_error("dataset", "--key: %s", diag.msg);
	spec.columns = cols;
	spec.actor = xz_cli_actor();
	if (spec.encoding != NULL && strcmp(spec.encoding, "utf-8") != 0 &&
	    strcmp(spec.encoding, "gb18030") != 0 && strcmp(spec.encoding, "gbk") != 0)
		return xz_cli_usage_error("dataset", "--encoding must be utf-8, gb18030 "
		    "or gbk");
	if ((dir = xz_cli_node_dir(dir_opt)) == NULL)
		return XZ_EXIT_USAGE;
	if (xz_cli_interactive() && !json) {
		spec.progress = draw_progress;
		spec.progress_arg = &prog;
	}
	if ((res = calloc(1, sizeof(*res))) == NULL) {
		xz_cli_error("out of memory");
		return XZ_EXIT_FAIL;
	}
	if (xz_node_open(dir, &node, &diag) != 0) {
		xz_cli_error("%s", diag.msg);
		goto done;
	}
	int ok = xz_dataset_import(node, &spec, res, &diag) == 0;
	if (prog.drawn)
		fputs("\r\033[K", stderr);
	if (json) {
		print_result_json(&spec, res, ok ? NULL : diag.msg);
	} else if (res->rows_read > 0 || ok) {
		print_problems(&spec, res);
		print_result_text(&spec, res);
	}
	if (!ok)
		xz_cli_error("import of '%s': %s", spec.dataset, diag.msg);
	rc = ok ? XZ_EXIT_OK : XZ_EXIT_FAIL;
done:
	xz_node_close(node);
	free(res);
	return rc;
}

/* list / show / drop share their option parsing. */
static int
cmd_catalogue(int argc, char **argv, const char *verb)
{
	static const struct option opts[] = {
		{ "dir", required_argument, NULL, 'd' },
		{ "json", no_argument, NULL, 'j' },
		{ "yes", no_argument, NULL, 'y' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *dir_opt = NULL, *dir, *name = NULL;
	int c, json = 0, yes = 0, rc = XZ_EXIT_FAIL;
	int wants_name = strcmp(verb, "list") != 0;
	struct xz_node *node = NULL;
	struct xz_diag diag;

	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'd': dir_opt = optarg; break;
		case 'j': json = 1; break;
		case 'y': yes = 1; break;
		case 'h': dataset_usage(stdout); return XZ_EXIT_OK;
		default: return xz_cli_usage_error("dataset", "bad option");
		}
	}
	if (argc - optind != wants_name)
		return xz_cli_usage_error("dataset", wants_name ? "dataset %s takes one "
		    "NAME" : "dataset %s takes no arguments", verb);
	if (wants_name)
		name = argv[optind];
	if (strcmp(verb, "drop") == 0 && !yes)
		return xz_cli_usage_error("dataset", "dataset drop deletes '%s' and all "
		    "its rows; add --yes to confirm", name);
	if ((dir = xz_cli_node_dir(dir_opt)) == NULL)
		return XZ_EXIT_USAGE;
	if (xz_node_open(dir, &node, &diag) != 0) {
		xz_cli_error("%s", diag.msg);
		return XZ_EXIT_FAIL;
	}
	if (strcmp(verb, "list") == 0)
		rc = xz_dataset_print_list(node, stdout, json, &diag);
	else if (strcmp(verb, "show") == 0)
		rc = xz_dataset_print_show(node, name, stdout, json, &diag);
	else if ((rc = xz_dataset_drop(node, name, xz_cli_actor(), &diag)) == 0)
		printf("Dropped dataset '%s' and all its rows.\n", name);
	if (rc != 0)
		xz_cli_error("dataset %s: %s", verb, diag.msg);
	xz_node_close(node);
	return rc == 0 ? XZ_EXIT_OK : XZ_EXIT_FAIL;
}

int
xz_cmd_dataset(int argc, char **argv)
{
	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		dataset_usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? XZ_EXIT_USAGE : XZ_EXIT_OK;
	}
	if (strcmp(argv[1], "import") == 0)
		return cmd_import(argc - 1, argv + 1);
	if (strcmp(argv[1], "list") == 0 || strcmp(argv[1], "show") == 0 ||
	    strcmp(argv[1], "drop") == 0)
		return cmd_catalogue(argc - 1, argv + 1, argv[1]);
	return xz_cli_usage_error("dataset", "unknown subcommand '%s'", argv[1]);
}
