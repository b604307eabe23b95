/* xiezhi sample: write synthetic datasets for demos, tests and benchmarks. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "sample.h"

static void
sample_usage(FILE *f)
{
	fputs("usage: xiezhi sample people --rows N --out FILE [--seed S]\n\n"
	    "Writes a CSV of invented people (姓名,身份证号,手机号,金额,日期) with valid\n"
	    "resident ID numbers, for trying xiezhi without real data.  The same\n"
	    "seed gives the same file.  FILE must not exist.\n", f);
}

int
xz_cmd_sample(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "rows", required_argument, NULL, 'r' },
		{ "out", required_argument, NULL, 'o' },
		{ "seed", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *out = NULL;
	uint64_t rows = 0, seed = 1;
	FILE *f;
	int c, fd;

	if (argc < 2 || strcmp(argv[1], "people") != 0) {
		int help = argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"));
		sample_usage(help ? stdout : stderr);
		return help ? XZ_EXIT_OK : XZ_EXIT_USAGE;
	}
	argc--;
	argv++;
	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'r':
			if (xz_parse_u64(optarg, 1, 1000000000, &rows) != 0)
				return xz_cli_usage_error("sample", "--rows must be a whole "
				    "number from 1 to 1000000000, not '%s'", optarg);
			break;
		case 's':
			if (xz_parse_u64(optarg, 0, UINT64_MAX, &seed) != 0)
				return xz_cli_usage_error("sample", "--seed must be a whole "
				    "number, not '%s'", optarg);
			break;
		case 'o': out = optarg; break;
		case 'h': sample_usage(stdout); return XZ_EXIT_OK;
		default: return xz_cli_usage_error("sample", "bad option");
		}
	}
	if (optind != argc || rows == 0 || out == NULL)
		return xz_cli_usage_error("sample", "sample people needs --rows N and "
		    "--out FILE");
	fd = open(out, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0 || (f = fdopen(fd, "w")) == NULL) {
		xz_cli_error("sample: cannot create %s: %s%s", out, strerror(errno),
		    errno == EEXIST ? " (remove it or choose another --out)" : "");
		if (fd >= 0)
			close(fd);
		return XZ_EXIT_FAIL;
	}
	if (xz_sample_people_csv(f, rows, seed) != 0 || fclose(f) != 0) {
		xz_cli_error("sample: cannot write %s: %s", out, strerror(errno));
		unlink(out);
		return XZ_EXIT_FAIL;
	}
	printf("Wrote %llu invented people to %s (seed %llu).\n",
	    (unsigned long long)rows, out, (unsigned long long)seed);
	return XZ_EXIT_OK;
}
