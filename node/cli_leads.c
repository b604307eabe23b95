/*
 * xiezhi leads: create, list, show, update, export and purge the leads
 * joins and model runs turned up (node/leads.h, docs/leads.md).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "cli.h"
#include "leads.h"
#include "node.h"
#include "perror.h"
#include "request.h"

static void
leads_usage(FILE *f)
{
	fputs("usage: xiezhi leads create --request ID [--request-file FILE] [--dir DIR]\n"
	    "       xiezhi leads list [--request ID] [--model M] [--status S] [--json]\n"
	    "                         [--dir DIR]\n"
	    "       xiezhi leads show ID [--json] [--dir DIR]\n"
	    "       xiezhi leads update ID --status S --note TEXT [--dir DIR]\n"
	    "       xiezhi leads export --format csv|json|values --out FILE [--request ID]\n"
	    "                           [--model M] [--status S] [--dir DIR]\n"
	    "       xiezhi leads purge --older-than DAYS [--yes] [--dir DIR]\n\n"
	    "create   makes one lead (status new) per record of the completed join ID\n"
	    "         (32 hex digits, as 'xiezhi join' printed it): per matched record\n"
	    "         of an intersect join, per key the peer lacks of a difference join.\n"
	    "         Running it again for the same join changes nothing (exit 0).\n"
	    "         --request-file keeps the request's purpose and case number.\n"
	    "list     one line per lead; show: a lead with its labels (a model run's\n"
	    "         lead: its values by output column, and the run) and history.\n"
	    "         --model M: the leads of every run of model M.\n"
	    "update   changes a lead's status; allowed changes:\n"
	    "           new -> verifying | dismissed\n"
	    "           verifying -> confirmed | dismissed\n"
	    "           confirmed -> referred | verifying\n"
	    "           dismissed -> verifying\n"
	    "           referred is final.\n"
	    "         Every change needs --note and is audited (lead_status_changed).\n"
	    "export   writes the leads to a new file (mode 0600, never replacing one);\n"
	    "         audited (leads_exported).  values: a CSV of the leads' values\n"
	    "         alone, one column per output column of their model.\n"
	    "purge    deletes the leads created more than DAYS days ago (1 to 36500),\n"
	    "         their history, and the join results no remaining lead needs;\n"
	    "         without --yes it only says what it would delete.  Audited\n"
	    "         (leads_purged).\n", f);
}

struct opts {
	const char *dir, *request, *request_file, *status, *note, *format, *out, *model;
	const char *older_than;
	int json, yes;
	int argc;
	char **argv;	/* positional arguments after the subcommand */
};

static int
parse(int argc, char **argv, struct opts *o)
{
	static const struct option lo[] = {
		{ "dir", required_argument, NULL, 'd' },
		{ "request", required_argument, NULL, 'r' },
		{ "request-file", required_argument, NULL, 'f' },
		{ "status", required_argument, NULL, 's' },
		{ "note", required_argument, NULL, 'n' },
		{ "format", required_argument, NULL, 'F' },
		{ "out", required_argument, NULL, 'o' },
		{ "json", no_argument, NULL, 'j' },
		{ "model", required_argument, NULL, 'm' },
		{ "older-than", required_argument, NULL, 'O' },
		{ "yes", no_argument, NULL, 'y' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 'd': o->dir = optarg; break;
		case 'r': o->request = optarg; break;
		case 'f': o->request_file = optarg; break;
		case 's': o->status = optarg; break;
		case 'n': o->note = optarg; break;
		case 'F': o->format = optarg; break;
		case 'o': o->out = optarg; break;
		case 'j': o->json = 1; break;
		case 'm': o->model = optarg; break;
		case 'O': o->older_than = optarg; break;
		case 'y': o->yes = 1; break;
		case 'h': leads_usage(stdout); return 1;
		default: return xz_cli_usage_error("leads", "unknown option");
		}
	}
	o->argc = argc - optind;
	o->argv = argv + optind;
	return 0;
}

/*
 * Prints s for a terminal.  Key values are ours but labels come from a
 * peer: C0 and C1 control characters (which can move the cursor or fake
 * output) and bidirectional overrides and isolates (U+202A-U+202E,
 * U+2066-U+2069, which can reorder what is shown) become '?', as in the
 * audit log's text rule (docs/audit-format.md §2.2).
 */
static void
print_safe(FILE *f, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	for (; p != NULL && *p != '\0'; p++) {
		if (*p < 0x20 || *p == 0x7f) {
			fputc('?', f);
		} else if (p[0] == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f) {
			fputc('?', f);
			p++;
		} else if (p[0] == 0xe2 && ((p[1] == 0x80 && p[2] >= 0xaa && p[2] <= 0xae) ||
		    (p[1] == 0x81 && p[2] >= 0xa6 && p[2] <= 0xa9))) {
			fputc('?', f);
			p += 2;
		} else {
			fputc(*p, f);
		}
	}
}

static void
print_time(FILE *f, int64_t t)
{
	time_t tt = (time_t)t;
	struct tm tm;
	char buf[32];

	if (gmtime_r(&tt, &tm) == NULL || strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%SZ",
	    &tm) == 0)
		snprintf(buf, sizeof(buf), "%lld", (long long)t);
	fputs(buf, f);
}

static int
parse_lead_id(const char *s, int64_t *id)
{
	uint64_t v;

	if (xz_parse_u64(s, 1, INT64_MAX, &v) != 0)
		return -1;
	*id = (int64_t)v;
	return 0;
}

static int
parse_filter(const struct opts *o, struct xz_lead_filter *f, uint8_t rid[16])
{
	enum xz_lead_status s;

	f->request_id = NULL;
	f->status = -1;
	f->model = NULL;
	if (o->model != NULL) {
		if (xz_check_name(o->model) != NULL)
			return xz_cli_usage_error("leads", "--model needs a model id (letters, "
			    "digits, '.', '_', '-'), not '%s'", o->model);
		f->model = o->model;
	}
	if (o->request != NULL) {
		if (xz_lead_parse_request_id(o->request, rid) != 0)
			return xz_cli_usage_error("leads", "--request needs a request id of 32 "
			    "hex digits, not '%s'", o->request);
		f->request_id = rid;
	}
	if (o->status != NULL) {
		if (xz_lead_status_from_name(o->status, &s) != 0)
			return xz_cli_usage_error("leads", "--status must be new, verifying, "
			    "confirmed, dismissed or referred, not '%s'", o->status);
		f->status = (int)s;
	}
	return 0;
}

/* ---- create ---- */

static int
load_request_file(const char *path, struct xz_request_file **out)
{
	struct xz_request_file *rf = calloc(1, sizeof(*rf));
	struct xz_perror e;
	char buf[700];

	if (rf == NULL) {
		xz_cli_error("leads create: out of memory");
		return -1;
	}
	if (xz_request_file_load(path, rf, &e) != 0) {
		xz_perror_format(&e, buf, sizeof(buf));
		xz_cli_error("leads create: %s", buf);
		free(rf);
		return -1;
	}
	*out = rf;
	return 0;
}

static int
cmd_create(const struct opts *o)
{
	struct xz_request_file *rf = NULL;
	struct xz_node *node = NULL;
	struct xz_diag d;
	uint8_t rid[16];
	uint64_t n = 0;
	int rc, r;

	if (o->argc != 0)
		return xz_cli_usage_error("leads", "unexpected argument '%s'", o->argv[0]);
	if (o->request == NULL || xz_lead_parse_request_id(o->request, rid) != 0)
		return xz_cli_usage_error("leads", "leads create needs --request ID (32 hex "
		    "digits, as 'xiezhi join' printed it)");
	if (o->request_file != NULL && load_request_file(o->request_file, &rf) != 0)
		return XZ_EXIT_FAIL;
	if ((rc = xz_cli_open_node(o->dir, "leads", &node)) != XZ_EXIT_OK)
		goto done;
	r = xz_leads_create(node, rid, rf != NULL ? &rf->req : NULL, xz_cli_actor(), &n, &d);
	if (r < 0) {
		xz_cli_error("leads create: %s", d.msg);
		rc = XZ_EXIT_FAIL;
	} else if (r == 1) {
		printf("leads of request %s were created before (%llu leads); nothing "
		    "changed\n", o->request, (unsigned long long)n);
	} else {
		printf("created %llu leads from request %s (status new)\n",
		    (unsigned long long)n, o->request);
	}
done:
	xz_node_close(node);
	free(rf);
	return rc;
}

/* ---- list ---- */

struct list_ctx {
	int json;
	uint64_t n;
};

static void
json_lead(const struct xz_lead *l)
{
	char rid[33];

	sodium_bin2hex(rid, sizeof(rid), l->request_id, 16);
	printf("{\"id\": %lld, \"request_id\": \"%s\", \"mode\": ", (long long)l->id, rid);
	xz_json_string(stdout, l->mode);
	printf(", \"key\": ");
	xz_json_string(stdout, l->key);
	printf(", \"labels\": ");
	if (l->labels != NULL)
		xz_json_string(stdout, l->labels);
	else
		fputs("null", stdout);
	printf(", \"model_run\": ");
	if (l->model_run != NULL)
		xz_json_string(stdout, l->model_run);
	else
		fputs("null", stdout);
	printf(", \"status\": \"%s\", \"created_at\": %lld, \"updated_at\": %lld}",
	    xz_lead_status_name(l->status), (long long)l->created_at,
	    (long long)l->updated_at);
}

static int
list_one(void *arg, const struct xz_lead *l)
{
	struct list_ctx *c = arg;
	char rid[33], id[24];

	if (c->json) {
		fputs(c->n > 0 ? ",\n  " : "\n  ", stdout);
		json_lead(l);
	} else {
		sodium_bin2hex(rid, sizeof(rid), l->request_id, 16);
		snprintf(id, sizeof(id), "%lld", (long long)l->id);
		if (c->n == 0)
			printf("%-7s %-10s %-8s %-10s %s\n", "LEAD", "STATUS", "REQUEST", "MODE",
			    "KEY");
		printf("%-7s %-10s %.8s %-10s ", id, xz_lead_status_name(l->status), rid,
		    l->mode);
		print_safe(stdout, l->key);
		fputc('\n', stdout);
	}
	c->n++;
	return 0;
}

static int
cmd_list(const struct opts *o)
{
	struct list_ctx c = { .json = o->json };
	struct xz_lead_filter f;
	struct xz_node *node = NULL;
	struct xz_diag d;
	uint8_t rid[16];
	int rc;

	if (o->argc != 0)
		return xz_cli_usage_error("leads", "unexpected argument '%s'", o->argv[0]);
	if ((rc = parse_filter(o, &f, rid)) != 0)
		return rc;
	if ((rc = xz_cli_open_node(o->dir, "leads", &node)) != XZ_EXIT_OK)
		return rc;
	if (c.json)
		fputs("[", stdout);
	if (xz_leads_foreach(node, &f, list_one, &c, &d) != 0) {
		if (c.json)
			fputs("]\n", stdout);
		xz_cli_error("leads list: %s", d.msg);
		rc = XZ_EXIT_FAIL;
	} else if (c.json) {
		fputs(c.n > 0 ? "\n]\n" : "]\n", stdout);
	} else if (c.n == 0) {
		printf("no leads%s\n", o->request != NULL || o->status != NULL || o->model != NULL ?
		    " match" : " yet: 'xiezhi join' and 'xiezhi model run' make them");
	}
	xz_node_close(node);
	return rc;
}

/* ---- show ---- */

struct show_ctx {
	int json;
	int n;
};

static int
show_change(void *arg, const struct xz_lead_change *ch)
{
	struct show_ctx *c = arg;

	if (c->json) {
		printf("%s{\"at\": %lld, \"actor\": ", c->n > 0 ? ", " : "", (long long)ch->at);
		xz_json_string(stdout, ch->actor);
		printf(", \"from\": ");
		if (ch->from_status[0] != '\0')
			xz_json_string(stdout, ch->from_status);
		else
			fputs("null", stdout);
		printf(", \"to\": ");
		xz_json_string(stdout, ch->to_status);
		printf(", \"note\": ");
		xz_json_string(stdout, ch->note);
		fputc('}', stdout);
	} else {
		printf("  ");
		print_time(stdout, ch->at);
		printf("  %-10s -> %-10s by ", ch->from_status[0] != '\0' ? ch->from_status :
		    "(created)", ch->to_status);
		print_safe(stdout, ch->actor);
		printf("\n      ");
		print_safe(stdout, ch->note);
		fputc('\n', stdout);
	}
	c->n++;
	return 0;
}

static int
print_value(void *arg, const char *name, const char *value)
{
	int *n = arg;

	printf("%s", *n > 0 ? "            " : "");
	xz_cli_pad(stdout, name, 24);
	fputc(' ', stdout);
	print_safe(stdout, value != NULL ? value : "(missing)");
	fputc('\n', stdout);
	(*n)++;
	return 0;
}

/* A model run's lead: its values by output column, then the run. */
static void
show_model_lead(const struct xz_lead *l, const struct xz_lead_run_info *ri)
{
	char hex[33];
	int n = 0;

	printf("values      ");
	if (l->labels == NULL || xz_lead_values(l->labels, print_value, &n) != 0)
		printf("(not readable)\n");
	printf("model run   ");
	print_safe(stdout, l->model_run);
	printf(" (model %s@%u, ", ri->model_id, (unsigned)ri->model_version);
	print_safe(stdout, ri->title);
	printf(", as of %s, %s ", ri->as_of, ri->status);
	print_time(stdout, ri->finished_at > 0 ? ri->finished_at : ri->started_at);
	printf(")\n");
	for (size_t i = 0; i < ri->n_steps; i++) {
		printf("  step %zu    %s, %s with %s%s%s", i + 1, ri->step[i].name,
		    ri->step[i].mode, ri->step[i].peer[0], ri->step[i].n_requests > 1 ?
		    " and " : "", ri->step[i].n_requests > 1 ? ri->step[i].peer[1] : "");
		for (int r = 0; r < ri->step[i].n_requests; r++) {
			sodium_bin2hex(hex, sizeof(hex), ri->step[i].request_id[r], 16);
			printf("%s%s", r == 0 ? ", request " : ", ", hex);
		}
		if (ri->step[i].skipped)
			printf(" (skipped: no keys left)");
		fputc('\n', stdout);
	}
}

static void
show_text(const struct xz_lead *l, const struct xz_lead_request *q,
    const struct xz_lead_run_info *ri)
{
	char rid[33];

	sodium_bin2hex(rid, sizeof(rid), l->request_id, 16);
	printf("lead        %lld\nstatus      %s\nkey         ", (long long)l->id,
	    xz_lead_status_name(l->status));
	print_safe(stdout, l->key);
	fputc('\n', stdout);
	if (ri != NULL) {
		show_model_lead(l, ri);
	} else {
		printf("labels      ");
		print_safe(stdout, l->labels != NULL ? l->labels : "(none)");
		printf("\nrequest     %s (%s", rid, l->mode);
		if (q->peer[0] != '\0') {
			printf(" join with %s on ", q->peer);
			print_safe(stdout, q->dataset);
			printf(".");
			print_safe(stdout, q->key_column);
			printf(", completed ");
			print_time(stdout, q->completed_at);
		}
		printf(")\n");
	}
	if (q->has_text) {
		printf("case number ");
		print_safe(stdout, q->case_number);
		printf("\npurpose     ");
		print_safe(stdout, q->purpose);
		printf("\nlegal basis ");
		print_safe(stdout, q->legal_basis);
		printf("\npolicy      ");
		print_safe(stdout, q->policy);
		fputc('\n', stdout);
	}
	if (l->model_run != NULL && ri == NULL) {
		printf("model run   ");
		print_safe(stdout, l->model_run);
		fputc('\n', stdout);
	}
	printf("created     ");
	print_time(stdout, l->created_at);
	printf("\nhistory\n");
}

static int
json_value(void *arg, const char *name, const char *value)
{
	int *n = arg;

	fputs((*n)++ > 0 ? ", " : "", stdout);
	xz_json_string(stdout, name);
	fputs(": ", stdout);
	if (value != NULL)
		xz_json_string(stdout, value);
	else
		fputs("null", stdout);
	return 0;
}

static void
show_json_run(const struct xz_lead *l, const struct xz_lead_run_info *ri)
{
	char hex[33];
	int n = 0;

	fputs(", \"values\": {", stdout);
	if (l->labels != NULL)
		(void)xz_lead_values(l->labels, json_value, &n);
	fputs("}, \"run\": {\"model\": ", stdout);
	xz_json_string(stdout, ri->model_id);
	printf(", \"version\": %u, \"title\": ", (unsigned)ri->model_version);
	xz_json_string(stdout, ri->title);
	printf(", \"as_of\": \"%s\", \"status\": \"%s\", \"started_at\": %lld, "
	    "\"finished_at\": %lld, \"steps\": [", ri->as_of, ri->status,
	    (long long)ri->started_at, (long long)ri->finished_at);
	for (size_t i = 0; i < ri->n_steps; i++) {
		printf("%s{\"name\": ", i ? ", " : "");
		xz_json_string(stdout, ri->step[i].name);
		printf(", \"mode\": \"%s\", \"request_ids\": [", ri->step[i].mode);
		for (int r = 0; r < ri->step[i].n_requests; r++) {
			sodium_bin2hex(hex, sizeof(hex), ri->step[i].request_id[r], 16);
			printf("%s\"%s\"", r ? ", " : "", hex);
		}
		printf("], \"sent\": %llu, \"result_size\": %llu, \"keys_after\": %llu, "
		    "\"skipped\": %s}", (unsigned long long)ri->step[i].sent,
		    (unsigned long long)ri->step[i].result_size,
		    (unsigned long long)ri->step[i].keys_after,
		    ri->step[i].skipped ? "true" : "false");
	}
	fputs("]}", stdout);
}

static void
show_json_head(const struct xz_lead *l, const struct xz_lead_request *q,
    const struct xz_lead_run_info *ri)
{
	fputs("{\"lead\": ", stdout);
	json_lead(l);
	if (ri != NULL)
		show_json_run(l, ri);
	printf(", \"request\": {\"peer\": ");
	xz_json_string(stdout, q->peer);
	printf(", \"dataset\": ");
	xz_json_string(stdout, q->dataset);
	printf(", \"key_column\": ");
	xz_json_string(stdout, q->key_column);
	printf(", \"completed_at\": %lld", (long long)q->completed_at);
	if (q->has_text) {
		printf(", \"case_number\": ");
		xz_json_string(stdout, q->case_number);
		printf(", \"purpose\": ");
		xz_json_string(stdout, q->purpose);
		printf(", \"legal_basis\": ");
		xz_json_string(stdout, q->legal_basis);
		printf(", \"policy\": ");
		xz_json_string(stdout, q->policy);
	}
	printf("}, \"history\": [");
}

static int
cmd_show(const struct opts *o)
{
	struct show_ctx c = { .json = o->json };
	struct xz_lead_request q;
	struct xz_lead_run_info *ri = NULL;
	struct xz_lead l = {0};
	struct xz_node *node = NULL;
	struct xz_diag d;
	int64_t id;
	int rc;

	if (o->argc != 1 || parse_lead_id(o->argv[0], &id) != 0)
		return xz_cli_usage_error("leads", "leads show needs one lead number");
	if ((rc = xz_cli_open_node(o->dir, "leads", &node)) != XZ_EXIT_OK)
		return rc;
	if (xz_lead_get(node, id, &l, &d) != 0 ||
	    xz_lead_request_info(node, l.request_id, &q, &d) != 0) {
		xz_cli_error("leads show: %s", d.msg);
		rc = XZ_EXIT_FAIL;
		goto done;
	}
	if (l.model_run != NULL && strcmp(l.mode, "model") == 0) {
		if ((ri = calloc(1, sizeof(*ri))) == NULL ||
		    xz_lead_run_info(node, l.model_run, ri, &d) != 0) {
			xz_cli_error("leads show: %s", ri == NULL ? "out of memory" : d.msg);
			rc = XZ_EXIT_FAIL;
			goto done;
		}
	}
	if (o->json)
		show_json_head(&l, &q, ri);
	else
		show_text(&l, &q, ri);
	if (xz_lead_history(node, id, show_change, &c, &d) != 0) {
		xz_cli_error("leads show: %s", d.msg);
		rc = XZ_EXIT_FAIL;
	}
	if (o->json)
		fputs("]}\n", stdout);
done:
	free(ri);
	xz_lead_release(&l);
	xz_node_close(node);
	return rc;
}

/* ---- update ---- */

static int
cmd_update(const struct opts *o)
{
	enum xz_lead_status to;
	struct xz_node *node = NULL;
	struct xz_diag d;
	int64_t id;
	int rc;

	if (o->argc != 1 || parse_lead_id(o->argv[0], &id) != 0)
		return xz_cli_usage_error("leads", "leads update needs one lead number");
	if (o->status == NULL || xz_lead_status_from_name(o->status, &to) != 0 ||
	    to == XZ_LEAD_NEW)
		return xz_cli_usage_error("leads", "--status must be verifying, confirmed, "
		    "dismissed or referred");
	if (o->note == NULL || o->note[0] == '\0')
		return xz_cli_usage_error("leads", "--note TEXT is required: say why");
	if ((rc = xz_cli_open_node(o->dir, "leads", &node)) != XZ_EXIT_OK)
		return rc;
	if (xz_lead_update(node, id, to, o->note, xz_cli_actor(), &d) != 0) {
		xz_cli_error("leads update: %s", d.msg);
		rc = XZ_EXIT_FAIL;
	} else {
		printf("lead %lld is now %s\n", (long long)id, xz_lead_status_name(to));
	}
	xz_node_close(node);
	return rc;
}

/* ---- export ---- */

static int
cmd_export(const struct opts *o)
{
	enum xz_lead_format fmt;
	struct xz_lead_filter f;
	struct xz_node *node = NULL;
	struct xz_diag d;
	uint8_t rid[16];
	uint64_t n = 0;
	int rc;

	if (o->argc != 0)
		return xz_cli_usage_error("leads", "unexpected argument '%s'", o->argv[0]);
	if (o->format == NULL || o->out == NULL)
		return xz_cli_usage_error("leads", "leads export needs --format csv|json|values "
		    "and --out FILE");
	if (strcmp(o->format, "csv") == 0)
		fmt = XZ_LEAD_CSV;
	else if (strcmp(o->format, "json") == 0)
		fmt = XZ_LEAD_JSON;
	else if (strcmp(o->format, "values") == 0)
		fmt = XZ_LEAD_VALUES;
	else
		return xz_cli_usage_error("leads", "--format must be csv, json or values");
	if ((rc = parse_filter(o, &f, rid)) != 0)
		return rc;
	if ((rc = xz_cli_open_node(o->dir, "leads", &node)) != XZ_EXIT_OK)
		return rc;
	if (xz_leads_export(node, &f, fmt, o->out, xz_cli_actor(), &n, &d) != 0) {
		xz_cli_error("leads export: %s", d.msg);
		rc = XZ_EXIT_FAIL;
	} else {
		printf("exported %llu leads to %s (%s)\n", (unsigned long long)n, o->out,
		    o->format);
	}
	xz_node_close(node);
	return rc;
}

/* ---- purge ---- */

static int
cmd_purge(const struct opts *o)
{
	struct xz_leads_purge_count n;
	struct xz_node *node = NULL;
	struct xz_diag d;
	uint64_t days;
	int64_t before;
	char when[32];
	int rc;

	if (o->argc != 0)
		return xz_cli_usage_error("leads", "unexpected argument '%s'", o->argv[0]);
	if (o->older_than == NULL || xz_parse_u64(o->older_than, 1, 36500, &days) != 0)
		return xz_cli_usage_error("leads", "leads purge needs --older-than DAYS (1 to "
		    "36500)");
	before = (int64_t)time(NULL) - (int64_t)days * 86400;
	if (xz_time_format(before, when, sizeof(when)) != 0)
		snprintf(when, sizeof(when), "%lld", (long long)before);
	if ((rc = xz_cli_open_node(o->dir, "leads", &node)) != XZ_EXIT_OK)
		return rc;
	if (xz_leads_purge(node, before, days, !o->yes, xz_cli_actor(), &n, &d) != 0) {
		xz_cli_error("leads purge: %s", d.msg);
		rc = XZ_EXIT_FAIL;
	} else if (!o->yes) {
		printf("would delete %llu leads created before %s (%llu history rows) and %llu "
		    "result rows of %llu joins no remaining lead needs\n",
		    (unsigned long long)n.leads, when, (unsigned long long)n.history,
		    (unsigned long long)n.result_rows, (unsigned long long)n.joins);
		xz_cli_error("leads purge: nothing deleted: run again with --yes to delete them");
		rc = XZ_EXIT_FAIL;
	} else {
		printf("deleted %llu leads created before %s (%llu history rows) and %llu result "
		    "rows of %llu joins; recorded as leads_purged\n", (unsigned long long)n.leads,
		    when, (unsigned long long)n.history, (unsigned long long)n.result_rows,
		    (unsigned long long)n.joins);
	}
	xz_node_close(node);
	return rc;
}

int
xz_cmd_leads(int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*run)(const struct opts *o);
	} sub[] = {
		{ "create", cmd_create }, { "list", cmd_list }, { "show", cmd_show },
		{ "update", cmd_update }, { "export", cmd_export }, { "purge", cmd_purge },
	};
	struct opts o = {0};
	int r;

	if (argc < 2) {
		leads_usage(stderr);
		return XZ_EXIT_USAGE;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		leads_usage(stdout);
		return XZ_EXIT_OK;
	}
	for (size_t i = 0; i < sizeof(sub) / sizeof(sub[0]); i++) {
		if (strcmp(argv[1], sub[i].name) != 0)
			continue;
		if ((r = parse(argc - 1, argv + 1, &o)) != 0)
			return r == 1 ? XZ_EXIT_OK : r;
		return sub[i].run(&o);
	}
	return xz_cli_usage_error("leads", "unknown subcommand '%s'", argv[1]);
}
