/*
 * xiezhi bench import: the import benchmark of docs/benchmarks.md.
 * Generates N invented people (valid ID numbers, 5 CSV columns of which 4
 * are imported), imports them into a fresh encrypted node through the same
 * code path as 'xiezhi dataset import', and prints the figures.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "dataset.h"
#include "node.h"
#include "sample.h"

static double
now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static long long
file_size(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 ? (long long)st.st_size : -1;
}

static int
run_bench(const char *tmp, uint64_t rows)
{
	static const struct xz_column_spec cols[] = {
		{ "姓名", XZ_COL_TEXT }, { "金额", XZ_COL_DECIMAL }, { "日期", XZ_COL_DATE },
	};
	struct xz_import_spec spec = {
		.dataset = "bench", .columns = cols, .ncolumns = 3,
		.key = { "身份证号", XZ_COL_CN_ID },
	};
	struct xz_import_result *res = calloc(1, sizeof(*res));
	char dir[4200], csv[4200], db[4300], model[256];
	struct xz_node *node = NULL;
	struct xz_diag d;
	FILE *f;
	double t0, t_gen, t_imp;
	int rc = XZ_EXIT_FAIL;

	snprintf(dir, sizeof(dir), "%s/node", tmp);
	snprintf(csv, sizeof(csv), "%s/people.csv", tmp);
	snprintf(db, sizeof(db), "%s/store.db", dir);
	spec.csv_path = csv;
	t0 = now_s();
	if (res == NULL || (f = fopen(csv, "w")) == NULL ||
	    xz_sample_people_csv(f, rows, 1) != 0 || fclose(f) != 0) {
		xz_cli_error("bench import: cannot write %s", csv);
		goto done;
	}
	t_gen = now_s() - t0;
	if (xz_node_init(dir, "bench", &d) != 0 || xz_node_open(dir, &node, &d) != 0) {
		xz_cli_error("bench import: %s", d.msg);
		goto done;
	}
	t0 = now_s();
	if (xz_dataset_import(node, &spec, res, &d) != 0) {
		xz_cli_error("bench import: %s", d.msg);
		goto done;
	}
	xz_node_close(node);	/* includes the final WAL checkpoint */
	node = NULL;
	t_imp = now_s() - t0;
	xz_cli_cpu_model(model, sizeof(model));
	printf("machine:        %s, %ld online cores\n", model, sysconf(_SC_NPROCESSORS_ONLN));
	printf("rows:           %llu (4 columns imported: cn_id key, text, decimal, date)\n",
	    (unsigned long long)res->rows_imported);
	printf("csv:            %.1f MB, generated in %.2f s (not counted)\n",
	    (double)file_size(csv) / 1e6, t_gen);
	printf("import:         %.2f s including commit and WAL checkpoint\n", t_imp);
	printf("rate:           %.0f rows/s, %.1f MB/s of CSV\n",
	    (double)res->rows_imported / t_imp, (double)file_size(csv) / 1e6 / t_imp);
	printf("store:          %.1f MB encrypted (SQLCipher)\n", (double)file_size(db) / 1e6);
	rc = XZ_EXIT_OK;
done:
	xz_node_close(node);
	free(res);
	return rc;
}

static void
rmtree_bench(const char *tmp)
{
	static const char *const rel[] = {
		"people.csv", "node/store.db", "node/store.db-wal", "node/store.db-shm",
		"node/xiezhi.conf", "node/keys/store.key", "node/keys/node.key",
		"node/keys/node.pub", "node/keys", "node/policies", "node/audit", "node",
	};
	char p[4300];

	for (size_t i = 0; i < sizeof(rel) / sizeof(rel[0]); i++) {
		snprintf(p, sizeof(p), "%s/%s", tmp, rel[i]);
		if (unlink(p) != 0)
			rmdir(p);
	}
	rmdir(tmp);
}

int
xz_bench_import(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "rows", required_argument, NULL, 'r' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	uint64_t rows = 1000000;
	char tmp[4096];
	const char *base = getenv("TMPDIR");
	int c, rc;

	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'r':
			if (xz_parse_u64(optarg, 1, 100000000, &rows) != 0)
				return xz_cli_usage_error("bench", "--rows must be 1 to "
				    "100000000, not '%s'", optarg);
			break;
		case 'h':
			puts("usage: xiezhi bench import [--rows N]\n\n"
			    "Generates N invented people (default 1000000) and imports them\n"
			    "into a throwaway encrypted node under $TMPDIR, then prints the\n"
			    "import rate.  Everything is removed afterwards.");
			return XZ_EXIT_OK;
		default:
			return xz_cli_usage_error("bench", "bad option");
		}
	}
	snprintf(tmp, sizeof(tmp), "%s/xiezhi-bench-XXXXXX",
	    base != NULL && *base != '\0' ? base : "/tmp");
	if (mkdtemp(tmp) == NULL) {
		xz_cli_error("bench import: cannot create a directory under %s",
		    base != NULL ? base : "/tmp");
		return XZ_EXIT_FAIL;
	}
	rc = run_bench(tmp, rows);
	rmtree_bench(tmp);
	return rc;
}
