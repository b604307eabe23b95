/*
 * xiezhi model: check a supervision model, write the draft requests of its
 * steps, and run it into leads (node/model.h, docs/models.md).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "cli.h"
#include "model.h"
#include "node.h"
#include "nodeconf.h"

#define DEFAULT_VALID_FOR (7 * 86400)
#define MAX_VALID_FOR (365 * 86400)
#define DEFAULT_TIMEOUT_S 3600

static void
model_usage(FILE *f)
{
	fputs("usage: xiezhi model check FILE [--dir DIR]\n"
	    "       xiezhi model requests FILE --out-dir DIR [--case-number TEXT]\n"
	    "           [--valid-for SECONDS | --expires TIME] [--as-of DATE] [--dir DIR]\n"
	    "       xiezhi model run FILE --request-dir DIR [--as-of DATE]\n"
	    "           [--timeout SECONDS] [--json] [--dir DIR]\n\n"
	    "check     checks the model file and checks it against this node (the local\n"
	    "          dataset and its columns, the filters' types, the peers), then\n"
	    "          prints its normalised form.\n"
	    "requests  writes one draft request per step into DIR (STEP.yaml; for a\n"
	    "          delegated step STEP.PEER.yaml for each owner), never replacing a\n"
	    "          file: requester this node, responder the peer, the step's policy,\n"
	    "          dataset, mode and labels, the model's purpose and legal basis,\n"
	    "          the case number (--case-number, else the model's).  The query\n"
	    "          size is the step's, else the local query's key count rounded up\n"
	    "          to two significant digits (at least 100).  Valid 7 days unless\n"
	    "          --valid-for or --expires YYYY-MM-DDTHH:MM:SSZ.  Approvers then\n"
	    "          sign each file with 'xiezhi request approve'.\n"
	    "run       runs the model with the approved requests in DIR: the local\n"
	    "          query, each step's join with the keys still in play, the\n"
	    "          model's filter; every output row becomes a lead ('xiezhi leads\n"
	    "          list --model ID').  A refused or failed step stops the run: it is\n"
	    "          recorded as failed and makes no leads.  DATE (YYYY-MM-DD) is\n"
	    "          the model's as_of (default: the model's, else today, UTC).\n"
	    "          --timeout bounds each step's join (default 3600 s).\n"
	    "Exit status: 0 done, 1 refused or failed, 2 usage.\n", f);
}

static int
fail_perror(const char *what, const struct xz_perror *e)
{
	char msg[1024];

	xz_perror_format(e, msg, sizeof(msg));
	xz_cli_error("model %s: %s", what, msg);
	return XZ_EXIT_FAIL;
}

/* ---- shared set-up: model, config, node, plan ---- */

struct loaded {
	struct xz_model *m;
	struct xz_nodeconf *conf;
	struct xz_node *node;
	struct xz_model_plan plan;
	int plan_ok;
	const char *dir;
};

static void
unload(struct loaded *l)
{
	if (l->plan_ok)
		xz_model_plan_release(&l->plan);
	xz_node_close(l->node);
	free(l->conf);
	free(l->m);
	memset(l, 0, sizeof(*l));
}

static int
load_all(const char *what, const char *file, const char *dir_opt, struct loaded *l)
{
	struct xz_perror e;
	struct xz_diag d;

	memset(l, 0, sizeof(*l));
	if ((l->m = calloc(1, sizeof(*l->m))) == NULL ||
	    (l->conf = calloc(1, sizeof(*l->conf))) == NULL) {
		xz_cli_error("model %s: out of memory", what);
		return XZ_EXIT_FAIL;
	}
	if (xz_model_load(file, l->m, NULL, &e) != 0)
		return fail_perror(what, &e);
	if ((l->dir = xz_cli_node_dir(dir_opt)) == NULL)
		return XZ_EXIT_USAGE;
	if (xz_nodeconf_read(l->dir, l->conf, &d) != 0 || xz_node_open(l->dir, &l->node,
	    &d) != 0) {
		xz_cli_error("model %s: %s", what, d.msg);
		return XZ_EXIT_FAIL;
	}
	if (xz_model_check(l->node, l->conf, l->m, file, &l->plan, &e) != 0)
		return fail_perror(what, &e);
	l->plan_ok = 1;
	return XZ_EXIT_OK;
}

/* ---- options ---- */

enum { O_DIR = 1, O_OUT_DIR, O_CASE, O_VALID, O_EXPIRES, O_AS_OF, O_REQ_DIR, O_TIMEOUT,
	O_JSON, O_HELP };

struct opts {
	const char *dir, *out_dir, *case_number, *expires, *as_of, *request_dir;
	uint64_t valid_for, timeout;
	int json, valid_given;
	const char *file;
};

static int
parse(const char *sub, int argc, char **argv, struct opts *o)
{
	static const struct option lo[] = {
		{ "dir", required_argument, NULL, O_DIR },
		{ "out-dir", required_argument, NULL, O_OUT_DIR },
		{ "case-number", required_argument, NULL, O_CASE },
		{ "valid-for", required_argument, NULL, O_VALID },
		{ "expires", required_argument, NULL, O_EXPIRES },
		{ "as-of", required_argument, NULL, O_AS_OF },
		{ "request-dir", required_argument, NULL, O_REQ_DIR },
		{ "timeout", required_argument, NULL, O_TIMEOUT },
		{ "json", no_argument, NULL, O_JSON },
		{ "help", no_argument, NULL, O_HELP },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	memset(o, 0, sizeof(*o));
	o->valid_for = DEFAULT_VALID_FOR;
	o->timeout = DEFAULT_TIMEOUT_S;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case O_DIR: o->dir = optarg; break;
		case O_OUT_DIR: o->out_dir = optarg; break;
		case O_CASE: o->case_number = optarg; break;
		case O_EXPIRES: o->expires = optarg; break;
		case O_AS_OF: o->as_of = optarg; break;
		case O_REQ_DIR: o->request_dir = optarg; break;
		case O_JSON: o->json = 1; break;
		case O_VALID:
			if (xz_parse_u64(optarg, 60, MAX_VALID_FOR, &o->valid_for) != 0)
				return xz_cli_usage_error("model", "--valid-for must be 60 to %d "
				    "seconds", MAX_VALID_FOR);
			o->valid_given = 1;
			break;
		case O_TIMEOUT:
			if (xz_parse_u64(optarg, 1, 86400, &o->timeout) != 0)
				return xz_cli_usage_error("model", "--timeout must be 1 to 86400 "
				    "seconds");
			break;
		case O_HELP: model_usage(stdout); return -1;
		default:
			return xz_cli_usage_error("model", "unknown option or missing value: '%s'",
			    argv[optind - 1]);
		}
	}
	if (optind + 1 != argc)
		return xz_cli_usage_error("model", "model %s takes one model FILE", sub);
	o->file = argv[optind];
	return 0;
}

/* ---- check ---- */

static int
cmd_check(const struct opts *o)
{
	struct loaded l;
	struct xz_perror e;
	char *text = NULL;
	int rc;

	if ((rc = load_all("check", o->file, o->dir, &l)) != XZ_EXIT_OK)
		goto done;
	if (xz_model_print(l.m, &text, &e) != 0) {
		rc = fail_perror("check", &e);
		goto done;
	}
	fputs(text, stdout);
	rc = XZ_EXIT_OK;
done:
	free(text);
	unload(&l);
	return rc;
}

/* ---- requests ---- */

static int
count_local_keys(struct loaded *l, const char *as_of, uint64_t *n)
{
	struct xz_sql s;
	struct xz_diag d;
	sqlite3_stmt *st = NULL;
	int rc = -1;

	*n = 0;
	if (!l->m->has_local)
		return 0;
	xz_sql_init(&s);
	xz_sql_add(&s, "SELECT count(*) FROM (");
	if (xz_expr_register(xz_node_db(l->node)) != SQLITE_OK ||
	    xz_model_sql(&l->plan, XZ_MQ_KEYS, as_of, &s, &d) != 0) {
		xz_cli_error("model requests: %s", d.msg);
		goto done;
	}
	xz_sql_add(&s, ")");
	if (s.failed || sqlite3_prepare_v2(xz_node_db(l->node), s.text, -1, &st, NULL) !=
	    SQLITE_OK || xz_sql_bind(&s, st, 1) != SQLITE_OK) {
		xz_cli_error("model requests: preparing the local query failed: %s",
		    sqlite3_errmsg(xz_node_db(l->node)));
		goto done;
	}
	if (sqlite3_step(st) != SQLITE_ROW) {
		xz_cli_error("model requests: the local query failed: %s",
		    sqlite3_errmsg(xz_node_db(l->node)));
		goto done;
	}
	*n = (uint64_t)sqlite3_column_int64(st, 0);
	rc = 0;
done:
	sqlite3_finalize(st);
	xz_sql_free(&s);
	return rc;
}

struct draft {
	char path[4096];
	char *text;
	const struct xz_model_step *step;
	size_t party;
	struct xz_request_file f;
};

/* mkdir -p: dir and any missing parent (0755: drafts are for approvers). */
static int
mkdir_parents(const char *dir)
{
	char p[4096];
	size_t n = strlen(dir);

	if (n == 0 || n >= sizeof(p)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(p, dir, n + 1);
	for (size_t i = 1; i <= n; i++) {
		if (p[i] != '/' && p[i] != '\0')
			continue;
		char c = p[i];
		p[i] = '\0';
		if (mkdir(p, 0755) != 0 && errno != EEXIST)
			return -1;
		p[i] = c;
	}
	return 0;
}

/* All drafts or none: any existing file stops the command before the
 * first is written; a failed write removes those written before it. */
static int
write_drafts(const char *dir, struct draft *dr, size_t n)
{
	size_t done = 0;
	int dfd;

	if (mkdir_parents(dir) != 0) {
		xz_cli_error("model requests: cannot create %s: %s", dir, strerror(errno));
		return -1;
	}
	for (size_t i = 0; i < n; i++)
		if (access(dr[i].path, F_OK) == 0) {
			xz_cli_error("model requests: %s already exists: request files are never "
			    "replaced; choose another --out-dir", dr[i].path);
			return -1;
		}
	for (; done < n; done++) {
		int fd = open(dr[done].path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
		if (fd < 0 || xz_cli_write_all(fd, dr[done].text, strlen(dr[done].text)) != 0 ||
		    fsync(fd) != 0) {
			xz_cli_error("model requests: cannot write %s: %s", dr[done].path,
			    strerror(errno));
			if (fd >= 0) {
				close(fd);
				unlink(dr[done].path);
			}
			goto undo;
		}
		close(fd);
	}
	if ((dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0) {
		(void)fsync(dfd);
		close(dfd);
	}
	return 0;
undo:
	while (done > 0)
		unlink(dr[--done].path);
	return -1;
}

static int
request_times(const struct opts *o, int64_t *created, int64_t *expires)
{
	*created = (int64_t)time(NULL);
	if (o->expires != NULL && o->valid_given)
		return xz_cli_usage_error("model", "give --valid-for or --expires, not both");
	if (o->expires != NULL) {
		if (xz_time_parse(o->expires, expires) != 0)
			return xz_cli_usage_error("model", "--expires: expected "
			    "YYYY-MM-DDTHH:MM:SSZ, got '%s'", o->expires);
		if (*expires <= *created || *expires > *created + MAX_VALID_FOR)
			return xz_cli_usage_error("model", "--expires must be in the next 365 "
			    "days");
		return 0;
	}
	*expires = *created + (int64_t)o->valid_for;
	return 0;
}

static int
make_drafts(struct loaded *l, const struct opts *o, uint64_t keys, int64_t created,
    int64_t expires, struct draft *dr, size_t *n)
{
	const char *cn = o->case_number != NULL ? o->case_number : l->m->case_number;
	unsigned char link[XZ_REQUEST_ID_LEN];
	struct xz_perror e;
	struct xz_diag d;
	char name[2 * XZ_NAME_MAX + 16], msg[1024];

	*n = 0;
	for (size_t i = 0; i < l->m->n_steps; i++) {
		const struct xz_model_step *s = &l->m->steps[i];
		randombytes_buf(link, sizeof(link));
		for (size_t p = 0; p < s->n_parties; p++) {
			struct draft *x = &dr[(*n)++];
			x->step = s;
			x->party = p;
			xz_model_request_name(s, p, name, sizeof(name));
			snprintf(x->path, sizeof(x->path), "%s/%s", o->out_dir, name);
			if (xz_model_draft(&l->plan, i, p, xz_model_query_size(s, keys), cn, created,
			    expires, link, &x->f.req, &d) != 0) {
				xz_cli_error("model requests: step %s: %s", s->name, d.msg);
				return -1;
			}
			if (xz_request_file_print(&x->f, &x->text, &e) != 0) {
				xz_perror_format(&e, msg, sizeof(msg));
				xz_cli_error("model requests: step %s: the draft request is not "
				    "valid: %s", s->name, msg);
				return -1;
			}
		}
	}
	return 0;
}

static int
cmd_requests(const struct opts *o)
{
	struct draft *dr = NULL;
	struct loaded l = {0};
	struct xz_diag d;
	char as_of[XZ_MODEL_DATE_LEN + 1], hex[33];
	int64_t created, expires;
	uint64_t keys = 0;
	size_t n = 0;
	int rc;

	if (o->out_dir == NULL)
		return xz_cli_usage_error("model", "model requests needs --out-dir DIR");
	if ((rc = request_times(o, &created, &expires)) != 0)
		return rc;
	if ((rc = load_all("requests", o->file, o->dir, &l)) != XZ_EXIT_OK)
		goto done;
	rc = XZ_EXIT_FAIL;
	if ((o->case_number == NULL || o->case_number[0] == '\0') && l.m->case_number[0] == '\0') {
		rc = xz_cli_usage_error("model", "--case-number TEXT is required (the model "
		    "names none): requests are made for a case");
		goto done;
	}
	if (xz_model_as_of(l.m, o->as_of, as_of, &d) != 0) {
		rc = xz_cli_usage_error("model", "%s", d.msg);
		goto done;
	}
	if (count_local_keys(&l, as_of, &keys) != 0)
		goto done;
	if ((dr = calloc(XZ_MODEL_MAX_STEPS * 2, sizeof(*dr))) == NULL) {
		xz_cli_error("model requests: out of memory");
		goto done;
	}
	if (make_drafts(&l, o, keys, created, expires, dr, &n) != 0 ||
	    write_drafts(o->out_dir, dr, n) != 0)
		goto done;
	printf("wrote %zu request%s for model %s@%u to %s (local query as of %s: %llu "
	    "keys)\n", n, n == 1 ? "" : "s", l.m->id, (unsigned)l.m->version, o->out_dir,
	    as_of, (unsigned long long)keys);
	for (size_t i = 0; i < n; i++) {
		xz_hex(dr[i].f.req.id, XZ_REQUEST_ID_LEN, hex, sizeof(hex));
		printf("  %s  request %s to %s, %s, query size %llu\n", dr[i].path, hex,
		    dr[i].step->party[dr[i].party].peer, dr[i].step->mode == XZ_MODE_DELEGATED ?
		    "delegated" : xz_mode_name(dr[i].step->mode),
		    (unsigned long long)dr[i].f.req.query_size);
	}
	printf("Next: each approver reads every file ('xiezhi request show FILE') and signs "
	    "it ('xiezhi request approve FILE --key NAME.key'); then 'xiezhi model run %s "
	    "--request-dir %s'.\n", o->file, o->out_dir);
	rc = XZ_EXIT_OK;
done:
	for (size_t i = 0; dr != NULL && i < XZ_MODEL_MAX_STEPS * 2; i++)
		free(dr[i].text);
	free(dr);
	unload(&l);
	return rc;
}

/* ---- run ---- */

struct progress {
	int on, drawn;
	size_t n_steps;
	const struct xz_model_run_result *res;
};

static void
draw(void *arg, const struct xz_model_progress *p)
{
	struct progress *pr = arg;
	char bar[31];

	if (!pr->on)
		return;
	if (p->total > 0) {
		int fill = (int)(p->done * 30 / p->total);
		memset(bar, '#', (size_t)fill);
		memset(bar + fill, '.', (size_t)(30 - fill));
		bar[30] = '\0';
		fprintf(stderr, "\r\033[Kstep %zu/%zu %-12s %-8s [%s] %llu/%llu", p->step + 1,
		    pr->n_steps, p->name, p->phase, bar, (unsigned long long)p->done,
		    (unsigned long long)p->total);
	} else {
		fprintf(stderr, "\r\033[Kstep %zu/%zu %-12s %llu answer batches received",
		    p->step + 1, pr->n_steps, p->name, (unsigned long long)p->done);
	}
	pr->drawn = 1;
}

static void
step_line(FILE *f, size_t i, const struct xz_model_step_result *s)
{
	char hex[33];

	fprintf(f, "step %-4zu %-12s ", i + 1, s->name);
	if (s->skipped) {
		fprintf(f, "%s with %s: skipped, no keys were left to ask about\n", s->mode,
		    s->peer[0]);
		return;
	}
	if (strcmp(s->mode, "delegated") == 0)
		fprintf(f, "delegated to %s and %s: %llu matching records", s->peer[0],
		    s->peer[1], (unsigned long long)s->rows);
	else if (strcmp(s->mode, "intersect") == 0)
		fprintf(f, "intersect with %s: %llu keys sent, %llu found (%llu records)",
		    s->peer[0], (unsigned long long)s->sent, (unsigned long long)s->keys_after,
		    (unsigned long long)s->rows);
	else if (strcmp(s->mode, "difference") == 0)
		fprintf(f, "difference with %s: %llu keys sent, %llu not held there",
		    s->peer[0], (unsigned long long)s->sent, (unsigned long long)s->keys_after);
	else
		fprintf(f, "cardinality with %s: %llu keys sent, %llu in common (a count; "
		    "all keys stay)", s->peer[0], (unsigned long long)s->sent,
		    (unsigned long long)s->result_size);
	sodium_bin2hex(hex, sizeof(hex), s->request_id[0], 16);
	fprintf(f, "; request %.8s, %.2f s\n", hex, s->seconds);
}

static void
step_done(void *arg, size_t i, const struct xz_model_step_result *s)
{
	struct progress *pr = arg;

	if (!pr->on)
		return;
	if (pr->drawn)
		fputs("\r\033[K", stderr);
	pr->drawn = 0;
	step_line(stderr, i, s);
}

static void
print_summary(const struct xz_model_run_result *r, const char *model_id)
{
	char hex[33];

	sodium_bin2hex(hex, sizeof(hex), r->run_id, 16);
	printf("model     %s  ", r->model);
	for (const char *t = r->title; *t != '\0'; t++)
		putchar(*t == '\n' ? ' ' : *t);
	printf("\nrun       %s (as of %s)\n", hex, r->as_of);
	if (r->local_keys > 0 || r->local_rows > 0)
		printf("local     %llu rows pass the local filter, %llu distinct keys\n",
		    (unsigned long long)r->local_rows, (unsigned long long)r->local_keys);
	for (size_t i = 0; i < r->n_steps; i++)
		step_line(stdout, i, &r->step[i]);
	printf("filter    %llu working rows, %llu lead%s after the model's filter\n",
	    (unsigned long long)r->working_rows, (unsigned long long)r->leads,
	    r->leads == 1 ? "" : "s");
	printf("leads     %llu created (see 'xiezhi leads list --model %s')\n",
	    (unsigned long long)r->leads, model_id);
	printf("time      %.2f s\n", r->seconds);
}

static void
print_json(const struct xz_model_run_result *r, int rc, const char *err)
{
	char hex[33];

	sodium_bin2hex(hex, sizeof(hex), r->run_id, 16);
	printf("{\"outcome\": \"%s\", \"run_id\": ", rc == 0 ? "completed" : r->refused ?
	    "refused" : "failed");
	if (r->started)
		printf("\"%s\"", hex);
	else
		fputs("null", stdout);
	printf(", \"model\": ");
	xz_json_string(stdout, r->model);
	printf(", \"title\": ");
	xz_json_string(stdout, r->title);
	printf(", \"as_of\": ");
	xz_json_string(stdout, r->as_of);
	printf(", \"local_rows\": %llu, \"local_keys\": %llu, \"steps\": [",
	    (unsigned long long)r->local_rows, (unsigned long long)r->local_keys);
	for (size_t i = 0; i < r->n_steps; i++) {
		const struct xz_model_step_result *s = &r->step[i];
		printf("%s{\"name\": ", i ? ", " : "");
		xz_json_string(stdout, s->name);
		printf(", \"mode\": \"%s\", \"peers\": [", s->mode);
		for (size_t p = 0; p < s->n_requests; p++) {
			printf("%s", p ? ", " : "");
			xz_json_string(stdout, s->peer[p]);
		}
		printf("], \"request_ids\": [");
		for (size_t p = 0; p < s->n_requests; p++) {
			sodium_bin2hex(hex, sizeof(hex), s->request_id[p], 16);
			printf("%s\"%s\"", p ? ", " : "", hex);
		}
		printf("], \"sent\": %llu, \"result_size\": %llu, \"rows\": %llu, "
		    "\"keys_after\": %llu, \"skipped\": %s, \"seconds\": %.3f}",
		    (unsigned long long)s->sent, (unsigned long long)s->result_size,
		    (unsigned long long)s->rows, (unsigned long long)s->keys_after,
		    s->skipped ? "true" : "false", s->seconds);
	}
	printf("], \"working_rows\": %llu, \"leads\": %llu, \"seconds\": %.3f",
	    (unsigned long long)r->working_rows, (unsigned long long)r->leads, r->seconds);
	if (rc != 0) {
		printf(", \"failed_step\": ");
		if (r->failed_step >= 0)
			xz_json_string(stdout, r->step[r->failed_step].name);
		else
			fputs("null", stdout);
		printf(", \"error\": ");
		xz_json_string(stdout, err);
	}
	printf("}\n");
}

static int
cmd_run(const struct opts *o)
{
	struct xz_model_run_opts ro = {0};
	struct xz_model_run_result *res = calloc(1, sizeof(*res));
	struct progress pr = {0};
	struct xz_model *m0 = calloc(1, sizeof(*m0));
	struct xz_diag d = {{0}};
	struct xz_perror e;
	char hex[33];
	int rc;

	if (res == NULL || m0 == NULL) {
		xz_cli_error("model run: out of memory");
		rc = XZ_EXIT_FAIL;
		goto done;
	}
	if (o->request_dir == NULL) {
		rc = xz_cli_usage_error("model", "model run needs --request-dir DIR (the "
		    "approved requests 'xiezhi model requests' wrote)");
		goto done;
	}
	if ((ro.dir = xz_cli_node_dir(o->dir)) == NULL) {
		rc = XZ_EXIT_USAGE;
		goto done;
	}
	/* The step count for the progress lines (the run loads it again). */
	if (xz_model_load(o->file, m0, NULL, &e) != 0) {
		rc = fail_perror("run", &e);
		goto done;
	}
	ro.model_file = o->file;
	ro.request_dir = o->request_dir;
	ro.as_of = o->as_of;
	ro.actor = xz_cli_actor();
	ro.deadline_ms = (int64_t)o->timeout * 1000;
	pr.on = !o->json && xz_cli_interactive();
	pr.n_steps = m0->n_steps;
	ro.progress = draw;
	ro.step_done = step_done;
	ro.progress_arg = &pr;
	rc = xz_model_run(&ro, res, &d);
	if (pr.drawn)
		fputs("\r\033[K", stderr);
	if (o->json)
		print_json(res, rc, d.msg);
	if (rc != 0) {
		xz_cli_error("model run: %s", d.msg);
		if (res->started) {
			sodium_bin2hex(hex, sizeof(hex), res->run_id, 16);
			xz_cli_error("model run: run %s is recorded as failed; it made no leads",
			    hex);
		}
		rc = XZ_EXIT_FAIL;
		goto done;
	}
	if (!o->json)
		print_summary(res, m0->id);
	rc = XZ_EXIT_OK;
done:
	free(m0);
	free(res);
	return rc;
}

int
xz_cmd_model(int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*run)(const struct opts *o);
	} sub[] = {
		{ "check", cmd_check }, { "requests", cmd_requests }, { "run", cmd_run },
	};
	struct opts o;
	int r;

	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		model_usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? XZ_EXIT_USAGE : XZ_EXIT_OK;
	}
	for (size_t i = 0; i < sizeof(sub) / sizeof(sub[0]); i++) {
		if (strcmp(argv[1], sub[i].name) != 0)
			continue;
		if ((r = parse(sub[i].name, argc - 1, argv + 1, &o)) != 0)
			return r < 0 ? XZ_EXIT_OK : r;
		return sub[i].run(&o);
	}
	return xz_cli_usage_error("model", "unknown subcommand '%s' (check, requests, run)",
	    argv[1]);
}
