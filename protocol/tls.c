/*
 * Credentials and peer identity: loading the PEM files named in the node
 * config, and reading the authenticated identity of a call's peer from
 * gRPC's auth context (docs/transport.md, "TLS policy").
 */
#include "rpc.h"
#include "rpc_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <grpc/grpc_security.h>
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/*
 * Reads a whole PEM file (a regular file of at most XZ_RPC_MAX_PEM_FILE
 * bytes) into a NUL-terminated malloc'd string.  A private key must not be
 * readable by group or others: such a key is refused, as OpenSSH refuses
 * one, so a leaked permission is noticed rather than tolerated.
 */
static enum xz_rpc_status read_pem(const char *what, const char *path, int secret, char **out,
                                   struct xz_rpc_error *err)
{
	struct stat sb;
	char *buf = NULL;
	size_t off = 0;
	enum xz_rpc_status st = XZ_RPC_OK;
	int fd = -1;

	*out = NULL;
	if (path == NULL || path[0] == '\0')
		return xz_rpc_fail(err, XZ_RPC_CONFIG, "no %s file configured", what);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return xz_rpc_fail(err, XZ_RPC_CONFIG, "%s file %s: %s", what, path, strerror(errno));
	if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
		st = xz_rpc_fail(err, XZ_RPC_CONFIG, "%s file %s: not a regular file", what, path);
		goto done;
	}
	if (secret && (sb.st_mode & 077) != 0) {
		st = xz_rpc_fail(err, XZ_RPC_CONFIG,
		                 "%s file %s is readable by group or others (mode %03o); "
		                 "run: chmod 600 %s", what, path, (unsigned)(sb.st_mode & 0777), path);
		goto done;
	}
	if (sb.st_size <= 0 || (uint64_t)sb.st_size > XZ_RPC_MAX_PEM_FILE) {
		st = xz_rpc_fail(err, XZ_RPC_CONFIG, "%s file %s: size %lld, expected 1..%u bytes",
		                 what, path, (long long)sb.st_size, XZ_RPC_MAX_PEM_FILE);
		goto done;
	}
	size_t cap = (size_t)sb.st_size;
	buf = malloc(cap + 1);
	if (buf == NULL) {
		st = xz_rpc_fail(err, XZ_RPC_INTERNAL, "out of memory reading %s", path);
		goto done;
	}
	while (off < cap) {
		ssize_t n = read(fd, buf + off, cap - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		off += (size_t)n;
	}
	buf[off] = '\0';
	if (off != cap || memchr(buf, '\0', off) != NULL || strstr(buf, "-----BEGIN ") == NULL) {
		st = xz_rpc_fail(err, XZ_RPC_CONFIG, "%s file %s: not a PEM file (or changed while read)",
		                 what, path);
		goto done;
	}
	*out = buf;
	buf = NULL;
done:
	if (buf != NULL) {
		OPENSSL_cleanse(buf, cap + 1);
		free(buf);
	}
	if (fd >= 0)
		close(fd);
	return st;
}

enum xz_rpc_status xz_pem_load(const struct xz_rpc_tls *tls, struct xz_pem_set *p,
                               struct xz_rpc_error *err)
{
	enum xz_rpc_status st;
	memset(p, 0, sizeof(*p));
	st = read_pem("CA bundle", tls->ca_file, 0, &p->ca, err);
	if (st == XZ_RPC_OK)
		st = read_pem("certificate", tls->cert_file, 0, &p->cert, err);
	if (st == XZ_RPC_OK)
		st = read_pem("private key", tls->key_file, 1, &p->key, err);
	if (st != XZ_RPC_OK)
		xz_pem_free(p);
	return st;
}

void xz_pem_free(struct xz_pem_set *p)
{
	if (p->key != NULL) {
		OPENSSL_cleanse(p->key, strlen(p->key));
		free(p->key);
	}
	free(p->ca);
	free(p->cert);
	memset(p, 0, sizeof(*p));
}

int xz_identity_valid(const char *s, size_t len)
{
	if (len == 0 || len > XZ_RPC_MAX_IDENTITY)
		return 0;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		         c == '.' || c == '-' || c == '_';
		if (!ok)
			return 0;
	}
	return 1;
}

/* The single value of property `name`; -1 if absent, -2 if several. */
static int single_property(const grpc_auth_context *ctx, const char *name,
                           const grpc_auth_property **out)
{
	grpc_auth_property_iterator it = grpc_auth_context_find_properties_by_name(ctx, name);
	const grpc_auth_property *p, *first = NULL;
	while ((p = grpc_auth_property_iterator_next(&it)) != NULL) {
		if (first != NULL)
			return -2;
		first = p;
	}
	*out = first;
	return first ? 0 : -1;
}

static int has_san(const grpc_auth_context *ctx, const char *v, size_t n, int *any)
{
	grpc_auth_property_iterator it =
	    grpc_auth_context_find_properties_by_name(ctx, GRPC_X509_SAN_PROPERTY_NAME);
	const grpc_auth_property *p;
	int found = 0;
	*any = 0;
	while ((p = grpc_auth_property_iterator_next(&it)) != NULL) {
		*any = 1;
		if (p->value_length == n && memcmp(p->value, v, n) == 0)
			found = 1;
	}
	return found;
}

/*
 * The identity policies match on: the verified certificate's subject CN,
 * which must be a plain node name and, when the certificate has any
 * subjectAltName, also one of them; so the name a client checks (gRPC
 * matches the SANs, RFC 6125 section 6.4.4) and the name a server's
 * policies see are the same.  Only an authenticated TLS peer has one.
 */
static enum xz_rpc_status identity_of(const grpc_auth_context *ctx,
                                      char out[XZ_RPC_MAX_IDENTITY + 1], struct xz_rpc_error *err)
{
	const grpc_auth_property *p = NULL;
	int any_san = 0;

	if (!grpc_auth_context_peer_is_authenticated(ctx))
		return xz_rpc_fail(err, XZ_RPC_UNAUTHENTICATED, "peer presented no verified certificate");
	if (single_property(ctx, GRPC_TRANSPORT_SECURITY_TYPE_PROPERTY_NAME, &p) != 0 ||
	    p->value_length != strlen(GRPC_SSL_TRANSPORT_SECURITY_TYPE) ||
	    memcmp(p->value, GRPC_SSL_TRANSPORT_SECURITY_TYPE, p->value_length) != 0)
		return xz_rpc_fail(err, XZ_RPC_UNAUTHENTICATED, "peer is not on a TLS connection");
	int rc = single_property(ctx, GRPC_X509_CN_PROPERTY_NAME, &p);
	if (rc != 0)
		return xz_rpc_fail(err, XZ_RPC_UNAUTHENTICATED,
		                   rc == -1 ? "peer certificate has no subject CN"
		                            : "peer certificate has several subject CNs");
	if (!xz_identity_valid(p->value, p->value_length))
		return xz_rpc_fail(err, XZ_RPC_UNAUTHENTICATED,
		                   "peer certificate CN is not a node name (letters, digits, '.', '-', "
		                   "'_'; at most %u)", XZ_RPC_MAX_IDENTITY);
	if (!has_san(ctx, p->value, p->value_length, &any_san) && any_san)
		return xz_rpc_fail(err, XZ_RPC_UNAUTHENTICATED,
		                   "peer certificate CN \"%.*s\" is not among its DNS SANs",
		                   (int)p->value_length, p->value);
	memcpy(out, p->value, p->value_length);
	out[p->value_length] = '\0';
	return XZ_RPC_OK;
}

enum xz_rpc_status xz_peer_identity(grpc_call *call, char out[XZ_RPC_MAX_IDENTITY + 1],
                                    struct xz_rpc_error *err)
{
	out[0] = '\0';
	grpc_auth_context *ctx = grpc_call_auth_context(call);
	if (ctx == NULL)
		return xz_rpc_fail(err, XZ_RPC_UNAUTHENTICATED, "call has no authentication context");
	enum xz_rpc_status st = identity_of(ctx, out, err);
	grpc_auth_context_release(ctx);
	return st;
}

void xz_common_args(grpc_arg args[XZ_RPC_COMMON_ARGS])
{
	memset(args, 0, sizeof(grpc_arg) * XZ_RPC_COMMON_ARGS);
	args[0].type = GRPC_ARG_INTEGER;
	args[0].key = (char *)(uintptr_t)GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH;
	args[0].value.integer = (int)XZ_RPC_MAX_MESSAGE;
	args[1].type = GRPC_ARG_INTEGER;
	args[1].key = (char *)(uintptr_t)GRPC_ARG_MAX_SEND_MESSAGE_LENGTH;
	args[1].value.integer = (int)XZ_RPC_MAX_MESSAGE;
	/* Identity only: a compressed message could expand past every cap
	 * before our checks see it, and PSI batches do not compress. */
	args[2].type = GRPC_ARG_INTEGER;
	args[2].key = (char *)(uintptr_t)GRPC_COMPRESSION_CHANNEL_ENABLED_ALGORITHMS_BITSET;
	args[2].value.integer = 1;
}
