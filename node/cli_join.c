/*
 * xiezhi join: run an approved join against a peer from the requester's
 * side (node/requester.h).  The result stays in the node's encrypted store;
 * what is printed is a summary (counts, ids, hashes), never the leads.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "cli.h"
#include "decision.h"
#include "leads.h"
#include "node.h"
#include "requester.h"

#define DEFAULT_TIMEOUT_S 3600

static void
join_usage(FILE *f)
{
	fputs("usage: xiezhi join --peer NAME --request FILE --dataset LOCAL --key COLUMN\n"
	    "           [--timeout SECONDS | --timeout-ms MS] [--json] [--dir DIR]\n"
	    "       xiezhi join --peer OWNER0 --request FILE0 --peer OWNER1 --request FILE1\n"
	    "           --key LABEL [--timeout ...] [--json] [--dir DIR]\n\n"
	    "Sends the approved request FILE to peer NAME (a peer in xiezhi.conf),\n"
	    "matches column COLUMN of the local dataset LOCAL against the peer's\n"
	    "dataset with private set intersection, and stores the result (matches\n"
	    "with their labels, the count, or the keys not found, by the request's\n"
	    "mode) in this node's encrypted store, tables join_results and\n"
	    "join_result_rows.  Both nodes record the join in their audit logs.\n"
	    "--timeout bounds the whole join (default 3600 s).\n\n"
	    "With two peers and two requests (both mode delegated, made for the same\n"
	    "step) it runs a delegated join: this node holds none of the data; the\n"
	    "two owners' records are matched and it learns the matching pairs with\n"
	    "the labels both requests ask for.  LABEL is the label that carries the\n"
	    "matched key (one owner's key column); the pairs are stored under the\n"
	    "first request's id.\n"
	    "Exit status: 0 completed, 1 refused by the peer or failed, 2 usage.\n", f);
}

struct progress {
	int on;
	int drawn;
};

static void
draw(void *arg, const char *phase, uint64_t done, uint64_t total)
{
	struct progress *p = arg;
	char bar[31];
	int fill;

	if (!p->on)
		return;
	if (total > 0) {
		fill = (int)(done * 30 / total);
		memset(bar, '#', (size_t)fill);
		memset(bar + fill, '.', (size_t)(30 - fill));
		bar[30] = '\0';
		fprintf(stderr, "\r%-8s [%s] %llu/%llu   ", phase, bar,
		    (unsigned long long)done, (unsigned long long)total);
	} else {
		fprintf(stderr, "\r%-8s %llu batches received              ", phase,
		    (unsigned long long)done);
	}
	p->drawn = 1;
}

static void
print_text(const struct xz_join_outcome *o, int rc)
{
	char id[33], tr[65];

	sodium_bin2hex(id, sizeof(id), o->request_id, 16);
	sodium_bin2hex(tr, sizeof(tr), o->transcript, 32);
	if (rc == 1) {
		printf("refused   request %s by %s\nreason    %s: %s\n", id,
		    o->peer_name[0] ? o->peer_name : "the peer",
		    xz_verdict_name((enum xz_verdict)o->refusal_code), o->reason);
		return;
	}
	printf("completed request %s with %s (%s)\n"
	    "sent      %llu keys (%llu bytes); peer offered %llu records\n"
	    "result    %llu %s; %llu rows stored in join_result_rows\n"
	    "transcript %s\ntime      %.2f s\n", id, o->peer_name, o->mode,
	    (unsigned long long)o->local_size, (unsigned long long)o->bytes_sent,
	    (unsigned long long)o->peer_size, (unsigned long long)o->result_size,
	    strcmp(o->mode, "difference") == 0 ? "keys not found at the peer" :
	    "matches", (unsigned long long)o->stored_rows, tr, o->seconds);
	if (o->label_failures > 0)
		printf("warning   %llu matches left out: their labels did not authenticate "
		    "(a damaged or dishonest answer from %s; see docs/protocol.md §8)\n",
		    (unsigned long long)o->label_failures, o->peer_name);
}

static void
print_json(const struct xz_join_outcome *o, int rc, const char *err)
{
	char id[33], tr[65];

	sodium_bin2hex(id, sizeof(id), o->request_id, 16);
	sodium_bin2hex(tr, sizeof(tr), o->transcript, 32);
	printf("{\"request_id\": \"%s\", \"outcome\": \"%s\", \"peer\": ", id,
	    rc == 0 ? "completed" : rc == 1 ? "refused" : "failed");
	xz_json_string(stdout, o->peer_name);
	printf(", \"mode\": ");
	xz_json_string(stdout, o->mode);
	if (rc == 1) {
		printf(", \"refusal\": ");
		xz_json_string(stdout, xz_verdict_name((enum xz_verdict)o->refusal_code));
		printf(", \"reason\": ");
		xz_json_string(stdout, o->reason);
	} else if (rc < 0) {
		printf(", \"error\": ");
		xz_json_string(stdout, err);
	} else {
		printf(", \"local_size\": %llu, \"peer_size\": %llu, \"result_size\": %llu, "
		    "\"stored_rows\": %llu, \"transcript\": \"%s\", \"bytes_sent\": %llu, "
		    "\"bytes_received\": %llu, \"labels_refused\": %llu, \"seconds\": %.3f",
		    (unsigned long long)o->local_size, (unsigned long long)o->peer_size,
		    (unsigned long long)o->result_size, (unsigned long long)o->stored_rows,
		    tr, (unsigned long long)o->bytes_sent,
		    (unsigned long long)o->bytes_received,
		    (unsigned long long)o->label_failures, o->seconds);
	}
	printf("}\n");
}

/*
 * The matches become leads for the analysts at once (docs/leads.md).  The
 * results are already committed with the join; if this step fails the join
 * still stands and 'xiezhi leads create --request ID' finishes it.
 */
static void
make_leads(const struct xz_join_opts *o, const struct xz_join_outcome *out, int quiet)
{
	struct xz_request_file *rf = calloc(1, sizeof(*rf));
	struct xz_node *node = NULL;
	struct xz_perror pe;
	struct xz_diag d;
	uint64_t n = 0;
	char id[33];

	xz_hex(out->request_id, sizeof(out->request_id), id, sizeof(id));
	if (rf != NULL && xz_request_file_load(o->request_file, rf, &pe) != 0) {
		free(rf);
		rf = NULL;
	}
	if (xz_node_open(o->dir, &node, &d) != 0 ||
	    xz_leads_create(node, out->request_id, rf != NULL ? &rf->req : NULL,
	    xz_cli_actor(), &n, &d) < 0)
		xz_cli_error("the join is stored, but its leads were not created: %s; "
		    "run 'xiezhi leads create --request %s'", d.msg, id);
	else if (!quiet)
		printf("leads     %llu (see 'xiezhi leads list --request %s')\n",
		    (unsigned long long)n, id);
	xz_node_close(node);
	free(rf);
}

static void
print_delegated(const struct xz_delegated_opts *o, const struct xz_delegated_outcome *out,
    int rc, const char *err, int json)
{
	char id[2][33];

	for (unsigned i = 0; i < 2; i++)
		sodium_bin2hex(id[i], sizeof(id[i]), out->owner[i].request_id, 16);
	if (json) {
		printf("{\"request_ids\": [\"%s\", \"%s\"], \"outcome\": \"%s\", "
		    "\"mode\": \"delegated\", \"owners\": [", id[0], id[1],
		    rc == 0 ? "completed" : rc == 1 ? "refused" : "failed");
		for (unsigned i = 0; i < 2; i++) {
			const struct xz_join_outcome *w = &out->owner[i];
			printf("%s{\"peer\": ", i ? ", " : "");
			xz_json_string(stdout, w->peer_name[0] ? w->peer_name : o->peer[i]);
			printf(", \"records\": %llu", (unsigned long long)w->peer_size);
			if (w->refused) {
				printf(", \"refusal\": ");
				xz_json_string(stdout, xz_verdict_name((enum xz_verdict)w->refusal_code));
				printf(", \"reason\": ");
				xz_json_string(stdout, w->reason);
			}
			printf("}");
		}
		printf("]");
		if (rc < 0) {
			printf(", \"error\": ");
			xz_json_string(stdout, err);
		} else if (rc == 0) {
			printf(", \"result_size\": %llu, \"stored_rows\": %llu, "
			    "\"seconds\": %.3f", (unsigned long long)out->result_size,
			    (unsigned long long)out->stored_rows, out->seconds);
		}
		printf("}\n");
		return;
	}
	if (rc == 1) {
		for (unsigned i = 0; i < 2; i++)
			if (out->owner[i].refused)
				printf("refused   request %s by %s\nreason    %s: %s\n", id[i],
				    out->owner[i].peer_name[0] ? out->owner[i].peer_name :
				    o->peer[i], xz_verdict_name((enum xz_verdict)
				    out->owner[i].refusal_code), out->owner[i].reason);
		return;
	}
	if (rc != 0)
		return;
	printf("completed delegated join of %s and %s\n"
	    "requests  %s (%s), %s (%s)\n"
	    "offered   %llu records by %s, %llu by %s (padded)\n"
	    "result    %llu matching pairs; %llu rows stored in join_result_rows\n"
	    "time      %.2f s\n", out->owner[0].peer_name, out->owner[1].peer_name,
	    id[0], out->owner[0].peer_name, id[1], out->owner[1].peer_name,
	    (unsigned long long)out->owner[0].peer_size, out->owner[0].peer_name,
	    (unsigned long long)out->owner[1].peer_size, out->owner[1].peer_name,
	    (unsigned long long)out->result_size, (unsigned long long)out->stored_rows,
	    out->seconds);
	if (out->owner[0].label_failures > 0)
		printf("warning   %llu matching pairs left out: a label did not authenticate "
		    "(a damaged or dishonest answer; see docs/protocol.md §11.6)\n",
		    (unsigned long long)out->owner[0].label_failures);
	if (out->overflow > 0)
		printf("warning   %llu more matching pairs not kept: keys repeated on both "
		    "sides exceed the cap (a placeholder ID in both datasets?)\n",
		    (unsigned long long)out->overflow);
}

static int
run_delegated(struct xz_delegated_opts *o, int json)
{
	struct xz_delegated_outcome out;
	struct xz_join_opts lo = { .dir = o->dir, .request_file = o->request_file[0] };
	struct xz_join_outcome lead_out = { 0 };
	struct progress pr = {0};
	struct xz_diag d = {{0}};
	int rc;

	pr.on = !json && xz_cli_interactive();
	o->progress = draw;
	o->progress_arg = &pr;
	rc = xz_requester_delegated_join(o, &out, &d);
	if (pr.drawn)
		fputs("\r\033[K", stderr);
	print_delegated(o, &out, rc, d.msg, json);
	if (rc < 0) {
		xz_cli_error("delegated join failed: %s", d.msg);
		return XZ_EXIT_FAIL;
	}
	if (rc == 1) {
		if (!json)
			xz_cli_error("a data owner refused the delegated join");
		return XZ_EXIT_FAIL;
	}
	memcpy(lead_out.request_id, out.owner[0].request_id, 16);
	make_leads(&lo, &lead_out, json);
	return XZ_EXIT_OK;
}

int
xz_cmd_join(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "peer", required_argument, NULL, 'p' },
		{ "request", required_argument, NULL, 'r' },
		{ "dataset", required_argument, NULL, 's' },
		{ "key", required_argument, NULL, 'k' },
		{ "timeout", required_argument, NULL, 't' },
		{ "timeout-ms", required_argument, NULL, 'm' },
		{ "json", no_argument, NULL, 'j' },
		{ "dir", required_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct xz_join_opts o = {0};
	struct xz_join_outcome out;
	const char *peers[3] = { NULL, NULL, NULL }, *reqs[3] = { NULL, NULL, NULL };
	size_t npeers = 0, nreqs = 0;
	struct progress pr = {0};
	const char *dir_opt = NULL;
	uint64_t timeout = DEFAULT_TIMEOUT_S, timeout_ms = 0;
	struct xz_diag d = {{0}};
	int ch, json = 0, rc;

	optind = 1;
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 'p':
			if (npeers == 2)
				return xz_cli_usage_error("join", "at most two --peer");
			peers[npeers++] = optarg;
			break;
		case 'r':
			if (nreqs == 2)
				return xz_cli_usage_error("join", "at most two --request");
			reqs[nreqs++] = optarg;
			break;
		case 's': o.dataset = optarg; break;
		case 'k': o.key_column = optarg; break;
		case 't':
			if (xz_parse_u64(optarg, 1, 86400, &timeout) != 0)
				return xz_cli_usage_error("join", "--timeout must be 1 to 86400 "
				    "seconds");
			break;
		case 'm':
			if (xz_parse_u64(optarg, 1, 86400000, &timeout_ms) != 0)
				return xz_cli_usage_error("join", "--timeout-ms must be 1 to "
				    "86400000");
			break;
		case 'j': json = 1; break;
		case 'd': dir_opt = optarg; break;
		case 'h': join_usage(stdout); return XZ_EXIT_OK;
		default: return xz_cli_usage_error("join", "unknown option");
		}
	}
	if (optind != argc)
		return xz_cli_usage_error("join", "unexpected argument '%s'", argv[optind]);
	if (npeers != nreqs)
		return xz_cli_usage_error("join", "give one --request per --peer, in the "
		    "same order");
	o.peer = peers[0];
	o.request_file = reqs[0];
	if (npeers == 2) {
		struct xz_delegated_opts dopt = { .peer = { peers[0], peers[1] },
		    .request_file = { reqs[0], reqs[1] }, .key_label = o.key_column };
		if (o.dataset != NULL)
			return xz_cli_usage_error("join", "a delegated join uses no local "
			    "dataset: leave out --dataset");
		if (o.key_column == NULL)
			return xz_cli_usage_error("join", "--key LABEL is required: the label "
			    "that carries the matched key");
		if ((dopt.dir = xz_cli_node_dir(dir_opt)) == NULL)
			return XZ_EXIT_USAGE;
		dopt.deadline_ms = timeout_ms > 0 ? (int64_t)timeout_ms :
		    (int64_t)timeout * 1000;
		return run_delegated(&dopt, json);
	}
	if (o.peer == NULL || o.request_file == NULL || o.dataset == NULL ||
	    o.key_column == NULL)
		return xz_cli_usage_error("join", "--peer, --request, --dataset and --key "
		    "are required");
	if ((o.dir = xz_cli_node_dir(dir_opt)) == NULL)
		return XZ_EXIT_USAGE;
	o.deadline_ms = timeout_ms > 0 ? (int64_t)timeout_ms : (int64_t)timeout * 1000;
	pr.on = !json && xz_cli_interactive();
	o.progress = draw;
	o.progress_arg = &pr;
	rc = xz_requester_join(&o, &out, &d);
	if (pr.drawn)
		fputs("\r\033[K", stderr);
	if (json)
		print_json(&out, rc, d.msg);
	if (rc < 0) {
		xz_cli_error("join failed: %s", d.msg);
		return XZ_EXIT_FAIL;
	}
	if (!json)
		print_text(&out, rc);
	if (rc == 0 && strcmp(out.mode, "cardinality") != 0)
		make_leads(&o, &out, json);
	if (rc == 1 && !json)
		xz_cli_error("the peer refused the join: %s", out.reason);
	return rc == 0 ? XZ_EXIT_OK : XZ_EXIT_FAIL;
}
