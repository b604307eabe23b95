/* xiezhi sample: write synthetic datasets for demos, tests and benchmarks. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "sample.h"

static void
sample_usage(FILE *f)
{
	fputs("usage: xiezhi sample people --rows N --out FILE [--seed S]\n"
	    "       xiezhi sample case --out DIR [--size N] [--seed S] [--as-of YYYY-MM-DD]\n\n"
	    "Invented data for trying xiezhi without real data.  Everything is made\n"
	    "up: resident ID numbers and credit codes carry region 99, which no real\n"
	    "place has.  The same options always give the same files, byte for byte.\n\n"
	    "sample people writes one CSV of invented people with valid resident ID\n"
	    "numbers (columns 姓名,身份证号,手机号,金额,日期).  FILE must not exist.\n\n"
	    "sample case writes a whole federation for the five seed cases\n"
	    "(docs/seed-cases.md): the export of every dataset each of the seven\n"
	    "agencies holds, with matches planted for the five supervision models and\n"
	    "near misses they must not report, and the leads each model must find:\n\n"
	    "  DIR/<node>/<dataset>.csv  13 exports for 7 nodes (claims and the\n"
	    "                            detention register in GB18030, as old systems\n"
	    "                            write them)\n"
	    "  DIR/truth/<model>.csv     the ground truth: each model's leads, sorted\n"
	    "  DIR/README.txt            seed, size, as-of date, the rows of every file\n"
	    "                            and the import command for each dataset\n\n"
	    "  --size N        invented people, 1000 to 10000000 (default 10000); there\n"
	    "                  are N/5 companies and every dataset grows with N.  The\n"
	    "                  default gives tens of leads per model in about 3 MB of\n"
	    "                  files; a million people take about 270 MB, ten million\n"
	    "                  2.7 GB and a minute or two.\n"
	    "  --seed S        any whole number (default 1)\n"
	    "  --as-of DATE    the reference date the data is drawn around, YYYY-MM-DD\n"
	    "                  (default " XZ_SAMPLE_CASE_DEFAULT_AS_OF "); run the models with the same date\n\n"
	    "DIR must not exist or be an empty directory: nothing is overwritten.  The\n"
	    "files appear in DIR only once all of them are written (DIR mode 0700,\n"
	    "files 0600); if the run fails or is interrupted, nothing is left behind.\n",
	    f);
}

static volatile sig_atomic_t interrupted;

static void
on_signal(int sig)
{
	(void)sig;
	interrupted = 1;
}

struct progress {
	int drawn;
	unsigned last;
};

static void
draw_progress(void *arg, uint64_t done, uint64_t total)
{
	struct progress *p = arg;
	unsigned pct = total > 0 ? (unsigned)(done * 100 / total) : 100;
	char bar[31];

	if (pct > 100)
		pct = 100;
	if (p->drawn && pct == p->last)
		return;
	memset(bar, '#', pct * 30 / 100);
	memset(bar + pct * 30 / 100, '.', 30 - pct * 30 / 100);
	bar[30] = '\0';
	fprintf(stderr, "\r  writing [%s] %3u%%", bar, pct);
	p->drawn = 1;
	p->last = pct;
}

static int
cmd_people(int argc, char **argv)
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

static void
print_case_result(const char *dir, const struct xz_sample_case_opts *o,
    const struct xz_sample_case_result *res)
{
	printf("Wrote the seed-case federation to %s (seed %llu, %llu people, %llu "
	    "companies, as of %s).\n", dir, (unsigned long long)o->seed,
	    (unsigned long long)res->people, (unsigned long long)res->companies, o->as_of);
	for (size_t i = 0; i < XZ_SAMPLE_CASE_DATASETS; i++) {
		printf("  ");
		xz_cli_pad(stdout, res->datasets[i].path, 46);
		printf("%10llu rows\n", (unsigned long long)res->datasets[i].rows);
	}
	for (size_t i = 0; i < XZ_SAMPLE_CASE_MODELS; i++) {
		printf("  ");
		xz_cli_pad(stdout, res->models[i].path, 46);
		printf("%10llu leads\n", (unsigned long long)res->models[i].leads);
	}
	printf("%s/README.txt says how to import each dataset.\n", dir);
}

static int
cmd_case(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "out", required_argument, NULL, 'o' },
		{ "size", required_argument, NULL, 'n' },
		{ "seed", required_argument, NULL, 's' },
		{ "as-of", required_argument, NULL, 'a' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct xz_sample_case_opts o = {
		.size = XZ_SAMPLE_CASE_DEFAULT_SIZE, .seed = 1,
		.as_of = XZ_SAMPLE_CASE_DEFAULT_AS_OF, .stop = &interrupted,
	};
	struct xz_sample_case_result res;
	struct sigaction sa, old[3];
	static const int sigs[3] = { SIGINT, SIGTERM, SIGHUP };
	struct progress prog = { 0, 0 };
	struct xz_diag d = { "" };
	const char *out = NULL;
	int c, rc;

	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'n':
			if (xz_parse_u64(optarg, XZ_SAMPLE_CASE_MIN_SIZE, XZ_SAMPLE_CASE_MAX_SIZE,
			    &o.size) != 0)
				return xz_cli_usage_error("sample", "--size must be a whole number "
				    "of people from %u to %u, not '%s'", XZ_SAMPLE_CASE_MIN_SIZE,
				    XZ_SAMPLE_CASE_MAX_SIZE, optarg);
			break;
		case 's':
			if (xz_parse_u64(optarg, 0, UINT64_MAX, &o.seed) != 0)
				return xz_cli_usage_error("sample", "--seed must be a whole "
				    "number, not '%s'", optarg);
			break;
		case 'a':
			if (xz_sample_parse_as_of(optarg, &d) != 0)
				return xz_cli_usage_error("sample", "%s, not '%s'", d.msg, optarg);
			o.as_of = optarg;
			break;
		case 'o': out = optarg; break;
		case 'h': sample_usage(stdout); return XZ_EXIT_OK;
		default: return xz_cli_usage_error("sample", "bad option");
		}
	}
	if (optind != argc)
		return xz_cli_usage_error("sample", "unexpected argument '%s'", argv[optind]);
	if (out == NULL || *out == '\0')
		return xz_cli_usage_error("sample", "sample case needs --out DIR");
	if (xz_cli_interactive()) {
		o.progress = draw_progress;
		o.progress_arg = &prog;
	}
	/* Ctrl-C stops the run cleanly: the partial files are removed. */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < 3; i++)
		sigaction(sigs[i], &sa, &old[i]);
	rc = xz_sample_case_write(out, &o, &res, &d);
	for (size_t i = 0; i < 3; i++)
		sigaction(sigs[i], &old[i], NULL);
	if (prog.drawn)
		fputs("\r\033[K", stderr);
	if (rc != 0) {
		xz_cli_error("sample case: %s", d.msg);
		return XZ_EXIT_FAIL;
	}
	print_case_result(out, &o, &res);
	return XZ_EXIT_OK;
}

int
xz_cmd_sample(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "people") == 0)
		return cmd_people(argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "case") == 0)
		return cmd_case(argc - 1, argv + 1);
	if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		sample_usage(stdout);
		return XZ_EXIT_OK;
	}
	sample_usage(stderr);
	return XZ_EXIT_USAGE;
}
