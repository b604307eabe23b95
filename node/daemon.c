/*
 * xiezhid's shared state (node/daemon.h): config, policies in force and
 * their reload.
 */
#include "daemon.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "audit.h"
#include "log.h"

int
xz_daemon_new(const char *dir, struct xz_daemon **out, struct xz_diag *d)
{
	struct xz_daemon *dd = calloc(1, sizeof(*dd));

	if (dd == NULL)
		return xz_diag_set(d, "out of memory");
	if (strlen(dir) >= sizeof(dd->dir)) {
		free(dd);
		return xz_diag_set(d, "node directory path is too long");
	}
	memcpy(dd->dir, dir, strlen(dir) + 1);
	if (xz_nodeconf_read(dir, &dd->conf, d) != 0) {
		free(dd);
		return -1;
	}
	pthread_mutex_init(&dd->lock, NULL);
	pthread_mutex_init(&dd->audit_lock, NULL);
	pthread_mutex_init(&dd->keeper_lock, NULL);
	dd->keeper_ctl = -1;
	*out = dd;
	return 0;
}

void
xz_daemon_free(struct xz_daemon *dd)
{
	if (dd == NULL)
		return;
	pthread_mutex_destroy(&dd->lock);
	pthread_mutex_destroy(&dd->audit_lock);
	pthread_mutex_destroy(&dd->keeper_lock);
	free(dd->policies);
	free(dd->files);
	free(dd);
}

static int
yaml_name(const char *n)
{
	size_t l = strlen(n);

	return n[0] != '.' && l > 5 && strcmp(n + l - 5, ".yaml") == 0;
}

static int
cmp_files(const void *a, const void *b)
{
	return strcmp(((const struct xz_daemon_policy_file *)a)->name,
	    ((const struct xz_daemon_policy_file *)b)->name);
}

/*
 * Reads one policy file once, hashes and parses those same bytes, so the
 * hash recorded in the audit log is the hash of the policy put in force.
 */
static int
load_policy_file(const char *dir, struct xz_daemon_policy_file *f, struct xz_policy *p,
    struct xz_diag *d)
{
	char path[4400], buf[700];
	struct xz_perror e;
	uint8_t *text = NULL;
	size_t n;
	FILE *fp = NULL;
	int rc = -1;

	snprintf(path, sizeof(path), "%s/%s", dir, f->name);
	if ((text = malloc(XZ_POLICY_FILE_MAX + 1)) == NULL) {
		xz_diag_set(d, "out of memory");
		goto done;
	}
	if ((fp = fopen(path, "rb")) == NULL) {
		xz_diag_set(d, "cannot open %s: %s", path, strerror(errno));
		goto done;
	}
	n = fread(text, 1, XZ_POLICY_FILE_MAX + 1, fp);
	if (n > XZ_POLICY_FILE_MAX || ferror(fp)) {
		xz_diag_set(d, "cannot read %s (or it is over %u bytes)", path,
		    XZ_POLICY_FILE_MAX);
		goto done;
	}
	if (xz_policy_parse(path, text, n, p, &e) != 0) {
		xz_perror_format(&e, buf, sizeof(buf));
		xz_diag_set(d, "%s", buf);
		goto done;
	}
	crypto_hash_sha256(f->hash, text, n);
	snprintf(f->policy, sizeof(f->policy), "%s@%u", p->id, (unsigned)p->version);
	rc = 0;
done:
	if (fp != NULL)
		fclose(fp);
	free(text);
	return rc;
}

int
xz_daemon_policy_files(const char *dir, struct xz_daemon_policy_file **out,
    struct xz_policy **pols_out, size_t *n, struct xz_diag *d)
{
	struct xz_daemon_policy_file *files = NULL;
	struct xz_policy *pols = NULL;
	struct dirent *de;
	size_t cnt = 0;
	DIR *dh;
	int rc = -1;

	if ((dh = opendir(dir)) == NULL)
		return xz_diag_set(d, "cannot open the policy directory %s: %s", dir,
		    strerror(errno));
	if ((files = calloc(XZ_POLICY_DIR_MAX, sizeof(*files))) == NULL ||
	    (pols = calloc(XZ_POLICY_DIR_MAX, sizeof(*pols))) == NULL) {
		xz_diag_set(d, "out of memory");
		goto done;
	}
	while ((de = readdir(dh)) != NULL) {
		if (!yaml_name(de->d_name))
			continue;
		if (cnt == XZ_POLICY_DIR_MAX || strlen(de->d_name) >= sizeof(files[0].name)) {
			xz_diag_set(d, "%s: more than %d policy files or a file name too long",
			    dir, XZ_POLICY_DIR_MAX);
			goto done;
		}
		snprintf(files[cnt++].name, sizeof(files[0].name), "%s", de->d_name);
	}
	qsort(files, cnt, sizeof(*files), cmp_files);
	for (size_t i = 0; i < cnt; i++) {
		if (load_policy_file(dir, &files[i], &pols[i], d) != 0)
			goto done;
		for (size_t k = 0; k < i; k++)
			if (strcmp(files[k].policy, files[i].policy) == 0) {
				xz_diag_set(d, "%s/%s and %s both hold policy %s: give one a "
				    "new version", dir, files[k].name, files[i].name,
				    files[i].policy);
				goto done;
			}
	}
	*out = files;
	files = NULL;
	if (pols_out != NULL) {
		*pols_out = pols;
		pols = NULL;
	}
	*n = cnt;
	rc = 0;
done:
	closedir(dh);
	free(files);
	free(pols);
	return rc;
}

static const struct xz_daemon_policy_file *
find_policy(const struct xz_daemon_policy_file *files, size_t n, const char *policy)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(files[i].policy, policy) == 0)
			return &files[i];
	return NULL;
}

static int
audit_policy(struct xz_node *node, const char *actor, enum xz_audit_type type,
    const struct xz_daemon_policy_file *f, struct xz_diag *d)
{
	struct xz_audit_field fl[3] = {
		{ .name = "policy", .kind = XZ_AUDIT_STR, .str = f->policy },
		{ .name = "hash", .kind = XZ_AUDIT_HASH },
		{ .name = "file", .kind = XZ_AUDIT_STR, .str = f->name },
	};
	struct xz_audit_event ev = { type, actor, NULL, fl, 3 };

	memcpy(fl[1].hash, f->hash, 32);
	return xz_audit_append(node, &ev, NULL, d);
}

int
xz_daemon_load_policies(struct xz_daemon *dd, struct xz_node *node, const char *actor,
    size_t *loaded, size_t *changed, struct xz_diag *d)
{
	struct xz_daemon_policy_file *files = NULL;
	struct xz_policy *pols = NULL;
	size_t np = 0, nf = 0, nchanged = 0;
	char pdir[4200];
	int rc = -1;

	snprintf(pdir, sizeof(pdir), "%s/policies", dd->dir);
	if (xz_daemon_policy_files(pdir, &files, &pols, &nf, d) != 0)
		goto done;
	np = nf;
	pthread_mutex_lock(&dd->audit_lock);
	pthread_mutex_lock(&dd->lock);
	for (size_t i = 0; i < nf && rc == -1; i++) {
		const struct xz_daemon_policy_file *old =
		    find_policy(dd->files, dd->nfiles, files[i].policy);
		if (old != NULL && memcmp(old->hash, files[i].hash, 32) == 0)
			continue;
		if (audit_policy(node, actor, old == NULL ? XZ_AUDIT_POLICY_LOADED :
		    XZ_AUDIT_POLICY_CHANGED, &files[i], d) != 0)
			rc = -2;
		nchanged++;
	}
	if (rc == -1) {
		free(dd->policies);
		free(dd->files);
		dd->policies = pols;
		dd->npolicies = np;
		dd->files = files;
		dd->nfiles = nf;
		pols = NULL;
		files = NULL;
		rc = 0;
	}
	pthread_mutex_unlock(&dd->lock);
	if (rc == 0 && nchanged > 0 && xz_audit_publish(node, d) != 0)
		rc = -1;
	pthread_mutex_unlock(&dd->audit_lock);
	if (rc != 0) {
		rc = -1;
		goto done;
	}
	if (loaded != NULL)
		*loaded = np;
	if (changed != NULL)
		*changed = nchanged;
done:
	free(pols);
	free(files);
	return rc;
}

int
xz_daemon_policy_snapshot(struct xz_daemon *dd, struct xz_policy **out, size_t *n,
    struct xz_diag *d)
{
	struct xz_policy *copy = NULL;

	pthread_mutex_lock(&dd->lock);
	if (dd->npolicies > 0) {
		copy = malloc(dd->npolicies * sizeof(*copy));
		if (copy != NULL)
			memcpy(copy, dd->policies, dd->npolicies * sizeof(*copy));
	}
	*n = copy != NULL ? dd->npolicies : 0;
	pthread_mutex_unlock(&dd->lock);
	if (copy == NULL && *n != 0)
		return xz_diag_set(d, "out of memory");
	*out = copy;
	return 0;
}

int
xz_daemon_tls_paths(const struct xz_daemon *dd, struct xz_daemon_tls_paths *p,
    struct xz_diag *d)
{
	if (xz_nodeconf_check_federation(&dd->conf, 1, d) != 0)
		return -1;
	if (xz_nodeconf_path(dd->dir, dd->conf.tls_ca, p->ca, sizeof(p->ca), d) != 0 ||
	    xz_nodeconf_path(dd->dir, dd->conf.tls_cert, p->cert, sizeof(p->cert), d) != 0 ||
	    xz_nodeconf_path(dd->dir, dd->conf.tls_key, p->key, sizeof(p->key), d) != 0)
		return -1;
	return 0;
}

/* ---- joins left open by a crash ---- */

struct open_join {
	uint8_t id[XZ_AUDIT_REQUEST_LEN];
	char mode[64], peer[128], peer_identity[256];
};

struct dangling {
	const char *role;
	struct open_join *v;
	size_t n, cap;
	int oom;
};

static const char *
rstr(const struct xz_audit_record *rec, const char *name)
{
	const struct xz_audit_rfield *f = xz_audit_record_field(rec, name);

	return f != NULL && f->kind == XZ_AUDIT_STR ? f->str : "";
}

static int
collect_open(void *arg, const struct xz_audit_record *rec, struct xz_diag *d)
{
	struct dangling *g = arg;

	(void)d;
	if (!rec->has_request || strcmp(rstr(rec, "role"), g->role) != 0)
		return 0;
	if (rec->type == XZ_AUDIT_JOIN_STARTED) {
		struct open_join *o;
		if (g->n == g->cap) {
			size_t nc = g->cap ? g->cap * 2 : 16;
			void *nv = realloc(g->v, nc * sizeof(*g->v));
			if (nv == NULL) {
				g->oom = 1;
				return 1;
			}
			g->v = nv;
			g->cap = nc;
		}
		o = &g->v[g->n++];
		memcpy(o->id, rec->request_id, XZ_AUDIT_REQUEST_LEN);
		snprintf(o->mode, sizeof(o->mode), "%.63s", rstr(rec, "mode"));
		snprintf(o->peer, sizeof(o->peer), "%.127s", rstr(rec, "peer"));
		snprintf(o->peer_identity, sizeof(o->peer_identity), "%.255s",
		    rstr(rec, "peer_identity"));
	} else if (rec->type == XZ_AUDIT_JOIN_COMPLETED || rec->type == XZ_AUDIT_JOIN_ABORTED) {
		for (size_t i = 0; i < g->n; i++)
			if (memcmp(g->v[i].id, rec->request_id, XZ_AUDIT_REQUEST_LEN) == 0) {
				g->v[i] = g->v[--g->n];
				break;
			}
	}
	return 0;
}

int
xz_daemon_close_dangling(struct xz_node *node, const char *role, const char *actor,
    size_t *closed, struct xz_diag *d)
{
	struct dangling g = { .role = role };
	int rc = -1;

	if (xz_audit_foreach(node, collect_open, &g, d) != 0 && !g.oom)
		goto done;
	if (g.oom) {
		xz_diag_set(d, "out of memory reading the audit log");
		goto done;
	}
	for (size_t i = 0; i < g.n; i++) {
		struct xz_audit_field f[5] = {
			{ .name = "mode", .kind = XZ_AUDIT_STR, .str = g.v[i].mode },
			{ .name = "role", .kind = XZ_AUDIT_STR, .str = role },
			{ .name = "peer", .kind = XZ_AUDIT_STR, .str = g.v[i].peer },
			{ .name = "peer_identity", .kind = XZ_AUDIT_STR, .str = g.v[i].peer_identity },
			{ .name = "reason", .kind = XZ_AUDIT_STR,
			  .str = "the node stopped during the join (recorded at the next start)" },
		};
		struct xz_audit_event ev = { XZ_AUDIT_JOIN_ABORTED, actor, g.v[i].id, f, 5 };
		if (xz_audit_append(node, &ev, NULL, d) != 0)
			goto done;
	}
	if (g.n > 0 && xz_audit_publish(node, d) != 0)
		goto done;
	if (closed != NULL)
		*closed = g.n;
	rc = 0;
done:
	free(g.v);
	return rc;
}
