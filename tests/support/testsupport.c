#include "testsupport.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

char *
xzt_mkdtemp(const char *tag)
{
	const char *tmp = getenv("TMPDIR");
	char buf[4096];

	snprintf(buf, sizeof(buf), "%s/xiezhi-test-%s-XXXXXX",
	    tmp != NULL && *tmp != '\0' ? tmp : "/tmp", tag);
	assert_non_null(mkdtemp(buf));
	return strdup(buf);
}

void
xzt_rmtree(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *e;

	if (d == NULL) {
		unlink(path);
		return;
	}
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		char *child = xzt_path(path, e->d_name);
		struct stat st;
		if (lstat(child, &st) == 0 && S_ISDIR(st.st_mode))
			xzt_rmtree(child);
		else
			unlink(child);
		free(child);
	}
	closedir(d);
	rmdir(path);
}

char *
xzt_path(const char *dir, const char *name)
{
	size_t n = strlen(dir) + strlen(name) + 2;
	char *p = malloc(n);

	assert_non_null(p);
	snprintf(p, n, "%s/%s", dir, name);
	return p;
}

void
xzt_write_file(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "wb");

	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

char *
xzt_read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t cap = 0, n = 0;

	if (f == NULL)
		return NULL;
	for (;;) {
		if (cap - n < 65536) {
			cap = cap * 2 + 65536;
			buf = realloc(buf, cap + 1);
			assert_non_null(buf);
		}
		size_t got = fread(buf + n, 1, cap - n, f);
		n += got;
		if (got == 0)
			break;
	}
	fclose(f);
	buf[n] = '\0';
	if (len != NULL)
		*len = n;
	return buf;
}

struct sink {
	char *buf;
	size_t len, cap;
};

static void
sink_add(struct sink *s, const char *data, size_t n)
{
	if (s->len + n + 1 > s->cap) {
		s->cap = (s->len + n + 1) * 2;
		s->buf = realloc(s->buf, s->cap);
		assert_non_null(s->buf);
	}
	memcpy(s->buf + s->len, data, n);
	s->len += n;
	s->buf[s->len] = '\0';
}

static void
child_exec(const char *const argv[], const char *const env[], int in, int out, int err)
{
	dup2(in, 0);
	dup2(out, 1);
	dup2(err, 2);
	for (size_t i = 0; env != NULL && env[i] != NULL; i++)
		putenv((char *)(uintptr_t)env[i]);
	execv(argv[0], (char *const *)(uintptr_t)argv);
	fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
	_exit(127);
}

void
xzt_run(struct xzt_run *r, const char *const argv[], const char *stdin_text,
    const char *const env[])
{
	int pin[2], pout[2], perr[2];
	struct sink out = {0}, err = {0};
	size_t in_off = 0, in_len = stdin_text != NULL ? strlen(stdin_text) : 0;
	int status;

	assert_int_equal(pipe(pin), 0);
	assert_int_equal(pipe(pout), 0);
	assert_int_equal(pipe(perr), 0);
	fflush(NULL);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(pin[1]);
		close(pout[0]);
		close(perr[0]);
		child_exec(argv, env, pin[0], pout[1], perr[1]);
	}
	close(pin[0]);
	close(pout[1]);
	close(perr[1]);
	signal(SIGPIPE, SIG_IGN);
	if (in_len == 0) {
		close(pin[1]);
		pin[1] = -1;
	}
	sink_add(&out, "", 0);
	sink_add(&err, "", 0);
	while (pout[0] >= 0 || perr[0] >= 0) {
		struct pollfd p[3] = {
			{ .fd = pout[0], .events = POLLIN },
			{ .fd = perr[0], .events = POLLIN },
			{ .fd = pin[1], .events = POLLOUT },
		};
		if (poll(p, 3, -1) < 0) {
			assert_int_equal(errno, EINTR);
			continue;
		}
		char buf[65536];
		for (int i = 0; i < 2; i++) {
			if (p[i].fd < 0 || p[i].revents == 0)
				continue;
			ssize_t n = read(p[i].fd, buf, sizeof(buf));
			if (n > 0) {
				sink_add(i == 0 ? &out : &err, buf, (size_t)n);
			} else {
				close(p[i].fd);
				if (i == 0)
					pout[0] = -1;
				else
					perr[0] = -1;
			}
		}
		if (pin[1] >= 0 && p[2].revents != 0) {
			ssize_t n = write(pin[1], stdin_text + in_off, in_len - in_off);
			if (n > 0)
				in_off += (size_t)n;
			if (n <= 0 || in_off == in_len) {
				close(pin[1]);
				pin[1] = -1;
			}
		}
	}
	if (pin[1] >= 0)
		close(pin[1]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	r->status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	r->out = out.buf;
	r->err = err.buf;
}

void
xzt_run_free(struct xzt_run *r)
{
	free(r->out);
	free(r->err);
	r->out = r->err = NULL;
}

static const char *
required_env(const char *name)
{
	const char *v = getenv(name);

	if (v == NULL || *v == '\0')
		fail_msg("%s is not set: run this test through ctest", name);
	return v;
}

const char *xzt_xiezhi_bin(void) { return required_env("XIEZHI_BIN"); }
const char *xzt_xiezhid_bin(void) { return required_env("XIEZHID_BIN"); }
const char *xzt_source_dir(void) { return required_env("XIEZHI_SOURCE_DIR"); }

int
xzt_memmem(const void *hay, size_t len, const void *needle, size_t nlen)
{
	return memmem(hay, len, needle, nlen) != NULL;
}
