/*
 * The messages between xiezhid's two processes (node/keeper.h): body
 * encoding, framing over a stream socket with SCM_RIGHTS, and the front's
 * side of a join session.
 */
#include "keeper.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

/* ---- encoding ---- */

static int
kbuf_grow(struct xz_kbuf *b, size_t more)
{
	size_t need, nc;
	uint8_t *np;

	if (b->oom)
		return -1;
	if (more > XZ_KMSG_MAX_BODY || b->len > XZ_KMSG_MAX_BODY - more) {
		b->oom = 1;
		return -1;
	}
	need = b->len + more;
	if (need <= b->cap)
		return 0;
	nc = b->cap == 0 ? 256 : b->cap;
	while (nc < need)
		nc *= 2;
	/* A fresh block rather than realloc, so the old one can be wiped. */
	if ((np = malloc(nc)) == NULL) {
		b->oom = 1;
		return -1;
	}
	if (b->len > 0)
		memcpy(np, b->p, b->len);
	if (b->p != NULL) {
		sodium_memzero(b->p, b->cap);
		free(b->p);
	}
	b->p = np;
	b->cap = nc;
	return 0;
}

void
xz_kbuf_reset(struct xz_kbuf *b)
{
	if (b->p != NULL)
		sodium_memzero(b->p, b->len);
	b->len = 0;
	b->oom = 0;
}

void
xz_kbuf_free(struct xz_kbuf *b)
{
	if (b->p != NULL) {
		sodium_memzero(b->p, b->cap);
		free(b->p);
	}
	memset(b, 0, sizeof(*b));
}

void
xz_kbuf_u32(struct xz_kbuf *b, uint32_t v)
{
	if (kbuf_grow(b, 4) == 0) {
		memcpy(b->p + b->len, &v, 4);
		b->len += 4;
	}
}

void
xz_kbuf_u64(struct xz_kbuf *b, uint64_t v)
{
	if (kbuf_grow(b, 8) == 0) {
		memcpy(b->p + b->len, &v, 8);
		b->len += 8;
	}
}

void
xz_kbuf_bytes(struct xz_kbuf *b, const void *p, size_t n)
{
	if (n > UINT32_MAX) {
		b->oom = 1;
		return;
	}
	xz_kbuf_u32(b, (uint32_t)n);
	if (n > 0 && kbuf_grow(b, n) == 0) {
		memcpy(b->p + b->len, p, n);
		b->len += n;
	}
}

void
xz_kbuf_str(struct xz_kbuf *b, const char *s)
{
	xz_kbuf_bytes(b, s, strlen(s));
}

uint32_t
xz_kcur_u32(struct xz_kcur *c)
{
	uint32_t v = 0;

	if (c->bad || c->left < 4) {
		c->bad = 1;
		return 0;
	}
	memcpy(&v, c->p, 4);
	c->p += 4;
	c->left -= 4;
	return v;
}

uint64_t
xz_kcur_u64(struct xz_kcur *c)
{
	uint64_t v = 0;

	if (c->bad || c->left < 8) {
		c->bad = 1;
		return 0;
	}
	memcpy(&v, c->p, 8);
	c->p += 8;
	c->left -= 8;
	return v;
}

void
xz_kcur_bytes(struct xz_kcur *c, size_t max, const uint8_t **out, size_t *len)
{
	uint32_t n = xz_kcur_u32(c);

	*out = NULL;
	*len = 0;
	if (c->bad || n > max || n > c->left) {
		c->bad = 1;
		return;
	}
	*out = c->p;
	*len = n;
	c->p += n;
	c->left -= n;
}

void
xz_kcur_str(struct xz_kcur *c, char *buf, size_t cap)
{
	const uint8_t *p;
	size_t n;

	buf[0] = '\0';
	xz_kcur_bytes(c, cap - 1, &p, &n);
	if (c->bad)
		return;
	for (size_t i = 0; i < n; i++)
		if (p[i] < 0x20 || p[i] == 0x7f) {
			c->bad = 1;
			return;
		}
	if (n > 0)
		memcpy(buf, p, n);
	buf[n] = '\0';
}

int
xz_kcur_end(const struct xz_kcur *c)
{
	return c->bad || c->left != 0 ? -1 : 0;
}

/* ---- framing ---- */

static long long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int
xz_kmsg_send(int sock, uint32_t type, const struct xz_kbuf *body, int pass_fd)
{
	uint32_t hdr[2] = { type, body != NULL ? (uint32_t)body->len : 0 };
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int))];
	} cm;
	struct iovec iov[2];
	struct msghdr mh;
	size_t total, sent = 0;

	if (body != NULL && (body->oom || body->len > XZ_KMSG_MAX_BODY)) {
		errno = ENOMEM;
		return -1;
	}
	total = XZ_KMSG_HEADER_LEN + hdr[1];
	while (sent < total) {
		ssize_t n;
		int niov = 0;

		memset(&mh, 0, sizeof(mh));
		if (sent < XZ_KMSG_HEADER_LEN) {
			iov[niov].iov_base = (uint8_t *)hdr + sent;
			iov[niov++].iov_len = XZ_KMSG_HEADER_LEN - sent;
			if (hdr[1] > 0) {
				iov[niov].iov_base = body->p;
				iov[niov++].iov_len = hdr[1];
			}
		} else {
			iov[niov].iov_base = body->p + (sent - XZ_KMSG_HEADER_LEN);
			iov[niov++].iov_len = total - sent;
		}
		mh.msg_iov = iov;
		mh.msg_iovlen = (size_t)niov;
		/* The descriptor rides on the first byte of the header. */
		if (sent == 0 && pass_fd >= 0) {
			struct cmsghdr *c;
			memset(&cm, 0, sizeof(cm));
			mh.msg_control = cm.buf;
			mh.msg_controllen = sizeof(cm.buf);
			c = CMSG_FIRSTHDR(&mh);
			c->cmsg_level = SOL_SOCKET;
			c->cmsg_type = SCM_RIGHTS;
			c->cmsg_len = CMSG_LEN(sizeof(int));
			memcpy(CMSG_DATA(c), &pass_fd, sizeof(int));
		}
		n = sendmsg(sock, &mh, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		sent += (size_t)n;
	}
	return 0;
}

/* Waits until sock is readable or the deadline passes (deadline 0: never). */
static int
wait_readable(int sock, long long deadline, struct xz_diag *d)
{
	struct pollfd pfd = { .fd = sock, .events = POLLIN };

	for (;;) {
		int left = -1, r;
		if (deadline > 0) {
			long long l = deadline - now_ms();
			if (l <= 0)
				return xz_diag_set(d, "no answer within the time limit");
			left = l > 60000 ? 60000 : (int)l;
		}
		r = poll(&pfd, 1, left);
		if (r > 0)
			return 0;
		if (r < 0 && errno != EINTR)
			return xz_diag_set(d, "poll: %s", strerror(errno));
	}
}

/* Takes the descriptors of one control message; keeps the first in *fd. */
static int
take_fds(struct msghdr *mh, int *fd)
{
	int extra = 0;

	for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c != NULL; c = CMSG_NXTHDR(mh, c)) {
		size_t n;
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < n; i++) {
			int f;
			memcpy(&f, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
			if (*fd < 0) {
				*fd = f;
			} else {
				close(f);
				extra = 1;
			}
		}
	}
	return extra;
}

static int
read_full(int sock, uint8_t *p, size_t n, long long deadline, struct xz_diag *d)
{
	while (n > 0) {
		ssize_t r;
		if (wait_readable(sock, deadline, d) != 0)
			return -1;
		r = recv(sock, p, n, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return xz_diag_set(d, "read: %s", strerror(errno));
		if (r == 0)
			return xz_diag_set(d, "the other process closed the channel mid-message");
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

int
xz_kmsg_recv(int sock, const struct xz_kmsg_rule *rules, size_t nrules,
    struct xz_kbuf *buf, struct xz_kmsg *m, int timeout_ms, struct xz_diag *d)
{
	long long deadline = timeout_ms >= 0 ? now_ms() + timeout_ms : 0;
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(4 * sizeof(int))];
	} cm;
	uint8_t hdr[XZ_KMSG_HEADER_LEN];
	const struct xz_kmsg_rule *rule = NULL;
	uint32_t type, len;
	size_t got = 0;
	int fd = -1, extra = 0;

	memset(m, 0, sizeof(*m));
	m->fd = -1;
	xz_kbuf_reset(buf);
	/* The header, with any descriptor, by recvmsg. */
	while (got < sizeof(hdr)) {
		struct iovec iov = { hdr + got, sizeof(hdr) - got };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
		    .msg_control = cm.buf, .msg_controllen = sizeof(cm.buf) };
		ssize_t r;

		if (wait_readable(sock, deadline, d) != 0)
			goto fail;
		r = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			xz_diag_set(d, "read: %s", strerror(errno));
			goto fail;
		}
		extra |= take_fds(&mh, &fd);
		if ((mh.msg_flags & MSG_CTRUNC) != 0)
			extra = 1;
		if (r == 0) {
			if (got == 0 && fd < 0)
				return 1;
			xz_diag_set(d, "the other process closed the channel mid-message");
			goto fail;
		}
		got += (size_t)r;
	}
	memcpy(&type, hdr, 4);
	memcpy(&len, hdr + 4, 4);
	for (size_t i = 0; i < nrules; i++)
		if (rules[i].type == type)
			rule = &rules[i];
	if (rule == NULL) {
		xz_diag_set(d, "unexpected message type %u", (unsigned)type);
		goto fail;
	}
	if (len > rule->max_len || len > XZ_KMSG_MAX_BODY) {
		xz_diag_set(d, "message type %u is %u bytes, over its limit of %u",
		    (unsigned)type, (unsigned)len, (unsigned)rule->max_len);
		goto fail;
	}
	if (extra || (fd >= 0) != (rule->with_fd != 0)) {
		xz_diag_set(d, "message type %u carries the wrong descriptors", (unsigned)type);
		goto fail;
	}
	if (len > 0) {
		if (kbuf_grow(buf, len) != 0) {
			xz_diag_set(d, "out of memory");
			goto fail;
		}
		if (read_full(sock, buf->p, len, deadline, d) != 0)
			goto fail;
		buf->len = len;
	}
	m->type = type;
	m->body.p = buf->p;
	m->body.left = len;
	m->fd = fd;
	return 0;
fail:
	if (fd >= 0)
		close(fd);
	return -1;
}

/* ---- sessions, front side ---- */

struct xz_ksession {
	int fd;
	struct xz_kbuf buf;
};

int
xz_ksession_open(struct xz_daemon *dd, struct xz_ksession **out, struct xz_diag *d)
{
	struct xz_ksession *s = calloc(1, sizeof(*s));
	int sv[2], rc;

	if (s == NULL)
		return xz_diag_set(d, "out of memory");
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
		free(s);
		return xz_diag_set(d, "socketpair: %s", strerror(errno));
	}
	pthread_mutex_lock(&dd->keeper_lock);
	rc = xz_kmsg_send(dd->keeper_ctl, XZ_KC_SESSION, NULL, sv[1]);
	pthread_mutex_unlock(&dd->keeper_lock);
	close(sv[1]);
	if (rc != 0) {
		close(sv[0]);
		free(s);
		return xz_diag_set(d, "the key process does not take the join (%s)",
		    strerror(errno));
	}
	s->fd = sv[0];
	*out = s;
	return 0;
}

int
xz_ksession_call(struct xz_ksession *s, uint32_t type, const struct xz_kbuf *body,
    const struct xz_kmsg_rule *rules, size_t nrules, struct xz_kmsg *reply,
    struct xz_diag *d)
{
	struct xz_kmsg_rule all[8];
	size_t n = 0;
	int r;

	if (s->fd < 0)
		return xz_diag_set(d, "the session with the key process is closed");
	for (size_t i = 0; i < nrules && n < 7; i++)
		all[n++] = rules[i];
	all[n++] = (struct xz_kmsg_rule){ XZ_KR_FAIL, 4 + 4 + 4 + XZ_RPC_MAX_REASON, 0 };
	if (xz_kmsg_send(s->fd, type, body, -1) != 0) {
		xz_diag_set(d, "the key process is gone (%s)", strerror(errno));
		goto broken;
	}
	r = xz_kmsg_recv(s->fd, all, n, &s->buf, reply, XZ_DAEMON_STEP_TIMEOUT_MS, d);
	if (r == 1)
		xz_diag_set(d, "the key process closed the session");
	if (r != 0)
		goto broken;
	return 0;
broken:
	close(s->fd);
	s->fd = -1;
	return -1;
}

void
xz_ksession_abort(struct xz_ksession *s, const char *reason)
{
	struct xz_kbuf b = {0};

	if (s == NULL || s->fd < 0)
		return;
	xz_kbuf_bytes(&b, reason, strnlen(reason, XZ_RPC_MAX_REASON - 1));
	(void)xz_kmsg_send(s->fd, XZ_KS_ABORT, &b, -1);
	xz_kbuf_free(&b);
	close(s->fd);
	s->fd = -1;
}

void
xz_ksession_close(struct xz_ksession *s)
{
	if (s == NULL)
		return;
	if (s->fd >= 0)
		close(s->fd);
	xz_kbuf_free(&s->buf);
	free(s);
}
