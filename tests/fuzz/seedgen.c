/*
 * Writes the binary seeds of the request and wire corpora
 * (tests/fuzz/corpus/{request,wire}/gen-*) from request files, through the
 * same encoders the node uses, so the seeds follow the formats when they
 * change.  Run by hand (docs/fuzzing.md):
 *
 *   build-fuzz/tests/fuzz/fuzz_seedgen tests/fuzz/corpus REQUEST.yaml...
 *
 * Not a harness: it has its own main and is not run by make check-fuzz.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "request.h"
#include "rpc.h"

static int
write_file(const char *dir, const char *sub, const char *name, const void *p, size_t n)
{
	char path[4096];
	FILE *f;
	int rc = -1;

	if ((size_t)snprintf(path, sizeof(path), "%s/%s/%s", dir, sub, name) >= sizeof(path)) {
		fprintf(stderr, "seedgen: path too long under %s\n", dir);
		return -1;
	}
	if ((f = fopen(path, "wb")) == NULL) {
		perror(path);
		return -1;
	}
	if (fwrite(p, 1, n, f) == n)
		rc = 0;
	if (fclose(f) != 0)
		rc = -1;
	if (rc != 0)
		fprintf(stderr, "seedgen: cannot write %s\n", path);
	return rc;
}

static int
write_msg(const char *dir, const char *name, const struct xz_msg *m)
{
	struct xz_rpc_error err;
	uint8_t *buf = NULL;
	size_t len = 0;
	int rc;

	if (xz_msg_encode(m, &buf, &len, &err) != XZ_RPC_OK) {
		fprintf(stderr, "seedgen: %s: %s\n", name, err.msg);
		return -1;
	}
	rc = write_file(dir, "wire", name, buf, len);
	free(buf);
	return rc;
}

/* One message of every kind; the Open carries the request and approvals. */
static int
wire_seeds(const char *dir, const unsigned char *req, size_t req_len,
    const struct xz_request_file *f)
{
	static const uint8_t join_id[16] = "join-id-0123456";
	static const uint8_t hash[32] = { 1, 2, 3 };
	static const uint8_t points[96] = { 0xe2, 0xf2, 0xae, 0x0a };
	struct xz_msg m;
	int rc = 0;

	memset(&m, 0, sizeof(m));
	m.kind = XZ_MSG_OPEN;
	m.u.open.version = XZ_RPC_WIRE_VERSION;
	m.u.open.join_id = (struct xz_rpc_bytes){ join_id, sizeof(join_id) };
	m.u.open.request = (struct xz_rpc_bytes){ req, req_len };
	for (size_t i = 0; i < f->n_approvals && i < XZ_RPC_MAX_APPROVALS; i++)
		m.u.open.approvals[m.u.open.n_approvals++] =
		    (struct xz_rpc_bytes){ f->approvals[i].signature, 64 };
	m.u.open.dataset = f->req.dataset;
	rc |= write_msg(dir, "gen-open", &m);

	memset(&m, 0, sizeof(m));
	m.kind = XZ_MSG_OPEN_REPLY;
	m.u.open_reply.accepted = 0;
	m.u.open_reply.refusal_code = 15;
	m.u.open_reply.reason = "not_enough_approvals";
	rc |= write_msg(dir, "gen-open-reply", &m);
	m.u.open_reply.accepted = 1;
	m.u.open_reply.refusal_code = 0;
	m.u.open_reply.reason = NULL;
	m.u.open_reply.params = (struct xz_rpc_bytes){ hash, sizeof(hash) };
	rc |= write_msg(dir, "gen-open-reply-accepted", &m);

	memset(&m, 0, sizeof(m));
	m.kind = XZ_MSG_BATCH;
	m.u.batch = (struct xz_msg_batch){ 7, 2, { points, sizeof(points) }, 1 };
	rc |= write_msg(dir, "gen-batch", &m);

	memset(&m, 0, sizeof(m));
	m.kind = XZ_MSG_CLOSE;
	m.u.close.transcript_hash = (struct xz_rpc_bytes){ hash, sizeof(hash) };
	rc |= write_msg(dir, "gen-close", &m);

	memset(&m, 0, sizeof(m));
	m.kind = XZ_MSG_RECEIPT;
	m.u.receipt.transcript_hash = (struct xz_rpc_bytes){ hash, sizeof(hash) };
	m.u.receipt.signed_receipt = (struct xz_rpc_bytes){ points, 64 };
	m.u.receipt.checkpoint = "tax-bureau xiezhi audit\n4\nAUqHL+3oCPNbJHp5\n";
	rc |= write_msg(dir, "gen-receipt", &m);

	memset(&m, 0, sizeof(m));
	m.kind = XZ_MSG_ABORT;
	m.u.abort.code = 3;
	m.u.abort.reason = "budget exhausted";
	rc |= write_msg(dir, "gen-abort", &m);
	return rc;
}

int
main(int argc, char **argv)
{
	static struct xz_request_file f;
	static unsigned char enc[XZ_REQUEST_ENCODED_MAX];
	struct xz_perror e;
	char name[64], msg[1024];
	size_t len;

	if (argc < 3) {
		fprintf(stderr, "usage: fuzz_seedgen CORPUS_DIR REQUEST.yaml...\n");
		return 2;
	}
	for (int i = 2; i < argc; i++) {
		if (xz_request_file_load(argv[i], &f, &e) != 0 ||
		    xz_request_encode(&f.req, enc, sizeof(enc), &len, &e) != 0) {
			xz_perror_format(&e, msg, sizeof(msg));
			fprintf(stderr, "seedgen: %s\n", msg);
			return 1;
		}
		snprintf(name, sizeof(name), "gen-%d", i - 1);
		if (write_file(argv[1], "request", name, enc, len) != 0)
			return 1;
		if (i == argc - 1 && wire_seeds(argv[1], enc, len, &f) != 0)
			return 1;
	}
	return 0;
}
