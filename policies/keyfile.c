/*
 * Approver key files (format in keyfile.h and docs/policy.md).
 */
#include "keyfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "policy.h"

#define KEYFILE_MAX 1024
#define B64_SEED_LEN sodium_base64_ENCODED_LEN(32, sodium_base64_VARIANT_ORIGINAL)

static int
write_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t w = write(fd, buf, len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		buf += w;
		len -= (size_t)w;
	}
	return 0;
}

/* Creates path (never overwriting) with mode, writes buf, syncs. */
static int
create_file(const char *path, mode_t mode, const char *buf, size_t len,
    struct xz_perror *e)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);

	if (fd < 0)
		return xz_perror_set(e, path, 0, NULL, "cannot create: %s%s",
		    strerror(errno), errno == EEXIST ? " (refusing to overwrite "
		    "a key; choose another name or remove the old files)" : "");
	if (fchmod(fd, mode) != 0 || write_all(fd, buf, len) != 0 || fsync(fd) != 0) {
		int err = errno;
		close(fd);
		unlink(path);
		return xz_perror_set(e, path, 0, NULL, "cannot write: %s",
		    strerror(err));
	}
	if (close(fd) != 0) {
		unlink(path);
		return xz_perror_set(e, path, 0, NULL, "cannot write: %s",
		    strerror(errno));
	}
	return 0;
}

static int
key_paths(const char *base, char *key, char *pub, size_t len, struct xz_perror *e)
{
	int a = snprintf(key, len, "%s.key", base);
	int b = snprintf(pub, len, "%s.pub", base);

	if (*base == '\0' || a < 0 || (size_t)a >= len || b < 0 || (size_t)b >= len)
		return xz_perror_set(e, base, 0, NULL, "key name empty or too long");
	return 0;
}

int
xz_keyfile_generate(const char *base, char *pub_b64, size_t pub_len,
    struct xz_perror *e)
{
	char kpath[4096], ppath[4096], publine[64];
	unsigned char pk[32], *sk = NULL;
	char *text = NULL;
	struct stat st;
	int rc = -1, n;
	size_t tlen = 128 + B64_SEED_LEN;

	if (key_paths(base, kpath, ppath, sizeof(kpath), e) != 0)
		return -1;
	/* Checked up front so that no half-made pair is left behind. */
	if (lstat(kpath, &st) == 0 || lstat(ppath, &st) == 0)
		return xz_perror_set(e, lstat(kpath, &st) == 0 ? kpath : ppath, 0,
		    NULL, "already exists; refusing to overwrite a key (choose "
		    "another name or remove the old files)");
	sk = sodium_malloc(crypto_sign_SECRETKEYBYTES);
	text = sodium_malloc(tlen);
	if (sk == NULL || text == NULL) {
		xz_perror_set(e, kpath, 0, NULL, "out of secure memory");
		goto done;
	}
	crypto_sign_keypair(pk, sk);
	/* The file holds the seed: the first half of libsodium's secret key. */
	n = snprintf(text, tlen, "# xiezhi approver secret key.  Keep private "
	    "(mode 0600); never send it.\n" XZ_KEYFILE_TAG " ");
	sodium_bin2base64(text + n, tlen - (size_t)n - 1, sk, 32,
	    sodium_base64_VARIANT_ORIGINAL);
	n += (int)strlen(text + n);
	text[n] = '\n';
	text[n + 1] = '\0';
	xz_key_to_base64(pk, pub_b64, pub_len);
	snprintf(publine, sizeof(publine), "%s\n", pub_b64);
	if (create_file(kpath, 0600, text, strlen(text), e) != 0)
		goto done;
	if (create_file(ppath, 0644, publine, strlen(publine), e) != 0) {
		unlink(kpath);
		goto done;
	}
	rc = 0;
done:
	if (text != NULL)
		sodium_free(text);	/* zeroes before unmapping */
	if (sk != NULL)
		sodium_free(sk);
	return rc;
}

static int
read_secret(const char *path, char *buf, size_t cap, size_t *len,
    struct xz_perror *e)
{
	struct stat st;
	size_t got = 0;
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC), rc = -1;

	if (fd < 0)
		return xz_perror_set(e, path, 0, NULL, "cannot open key: %s",
		    strerror(errno));
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		xz_perror_set(e, path, 0, NULL, "not a regular file");
		goto done;
	}
	if ((st.st_mode & 077) != 0) {
		xz_perror_set(e, path, 0, NULL, "secret key is readable by group or "
		    "others (mode %03o); run 'chmod 600 %s' and consider the key "
		    "exposed", (unsigned)(st.st_mode & 0777), path);
		goto done;
	}
	for (;;) {
		ssize_t r = read(fd, buf + got, cap - 1 - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			xz_perror_set(e, path, 0, NULL, "read failed: %s", strerror(errno));
			goto done;
		}
		if (r == 0)
			break;
		got += (size_t)r;
		if (got >= cap - 1) {
			xz_perror_set(e, path, 0, NULL, "not a key file (too large)");
			goto done;
		}
	}
	buf[got] = '\0';
	*len = got;
	rc = 0;
done:
	close(fd);
	return rc;
}

/* Finds the one key line; everything else must be a comment or blank. */
static int
parse_seed(const char *path, char *text, unsigned char seed[32], struct xz_perror *e)
{
	char *line = text, *next;
	unsigned long ln = 0;
	int found = 0;
	size_t bin = 0;
	const size_t taglen = strlen(XZ_KEYFILE_TAG " ");

	for (; line != NULL && *line != '\0'; line = next) {
		ln++;
		next = strchr(line, '\n');
		if (next != NULL)
			*next++ = '\0';
		if (*line == '\0' || *line == '#')
			continue;
		if (found || strncmp(line, XZ_KEYFILE_TAG " ", taglen) != 0)
			return xz_perror_set(e, path, ln, NULL, "not an xiezhi approver "
			    "key file (expected one line '" XZ_KEYFILE_TAG " BASE64')");
		const char *b = line + taglen, *end = NULL;
		if (sodium_base642bin(seed, 32, b, strlen(b), NULL, &bin, &end,
		    sodium_base64_VARIANT_ORIGINAL) != 0 || bin != 32 ||
		    end != b + strlen(b))
			return xz_perror_set(e, path, ln, NULL, "key is not base64 of "
			    "32 bytes");
		found = 1;
	}
	if (!found)
		return xz_perror_set(e, path, 0, NULL, "no key line in file");
	return 0;
}

int
xz_keyfile_load(const char *path, unsigned char **sk_out, struct xz_perror *e)
{
	char *text = sodium_malloc(KEYFILE_MAX);
	unsigned char *seed = sodium_malloc(32), *sk = sodium_malloc(64);
	unsigned char pk[32];
	size_t len;
	int rc = -1;

	if (text == NULL || seed == NULL || sk == NULL) {
		xz_perror_set(e, path, 0, NULL, "out of secure memory");
		goto done;
	}
	if (read_secret(path, text, KEYFILE_MAX, &len, e) != 0 ||
	    parse_seed(path, text, seed, e) != 0)
		goto done;
	crypto_sign_seed_keypair(pk, sk, seed);
	*sk_out = sk;
	sk = NULL;
	rc = 0;
done:
	if (text != NULL)
		sodium_free(text);
	if (seed != NULL)
		sodium_free(seed);
	if (sk != NULL)
		sodium_free(sk);
	return rc;
}

void
xz_keyfile_free(unsigned char *sk)
{
	if (sk != NULL)
		sodium_free(sk);
}
