/*
 * The node directory and its SQLCipher store.  See node.h for the layout
 * and the order of the checks made when a node is opened.
 */
#include "node.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "nodeconf.h"

#define STORE_KEY_LEN	32
#define KEY_CHECK_LEN	16
#define SCHEMA_VERSION	"1"

struct xz_node {
	char *dir;
	char *name;
	sqlite3 *db;
};

/* Domain-separation string for the key check value kept in xiezhi.conf. */
static const char key_check_context[] = "xiezhi store key check v1";

static char *
path_join(const char *dir, const char *rel)
{
	size_t n = strlen(dir) + strlen(rel) + 2;
	char *p = malloc(n);

	if (p != NULL)
		snprintf(p, n, "%s/%s", dir, rel);
	return p;
}

/*
 * Writes len bytes to a new file (it must not exist) with the given mode
 * and fsyncs it: a key that is not on disk when init reports success would
 * leave an unreadable store.
 */
static int
write_new_file(const char *path, const void *buf, size_t len, mode_t mode,
    struct xz_diag *d)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
	const unsigned char *p = buf;
	size_t off = 0;

	if (fd < 0)
		return xz_diag_set(d, "cannot create %s: %s", path, strerror(errno));
	while (off < len) {
		ssize_t n = write(fd, p + off, len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			xz_diag_set(d, "cannot write %s: %s", path, strerror(errno));
			close(fd);
			return -1;
		}
		off += (size_t)n;
	}
	if (fchmod(fd, mode) != 0 || fsync(fd) != 0) {
		xz_diag_set(d, "cannot sync %s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	return close(fd) == 0 ? 0 : xz_diag_set(d, "cannot close %s: %s", path,
	    strerror(errno));
}

static int
fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int rc;

	if (fd < 0)
		return -1;
	rc = fsync(fd);
	close(fd);
	return rc;
}

/*
 * Reads exactly len bytes of a secret file into buf after checking that it
 * is a regular file (not a link) that only its owner can read.
 */
static int
read_secret_file(const char *dir, const char *rel, unsigned char *buf, size_t len,
    struct xz_diag *d)
{
	char *path = path_join(dir, rel);
	struct stat st;
	int fd = -1, rc = -1;
	size_t off = 0;

	if (path == NULL)
		return xz_diag_set(d, "out of memory");
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		xz_diag_set(d, "cannot open %s: %s (the node's keys are missing; "
		    "restore %s/keys from your key backup)", path, strerror(errno), dir);
		goto done;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		xz_diag_set(d, "%s is not a regular file", path);
		goto done;
	}
	if ((st.st_mode & 077) != 0) {
		xz_diag_set(d, "refusing to use %s: it is readable by group or others "
		    "(mode %04o); run 'chmod 600 %s' and check who may have copied it",
		    path, (unsigned)(st.st_mode & 07777), path);
		goto done;
	}
	if (st.st_size != (off_t)len) {
		xz_diag_set(d, "%s has %lld bytes, expected %zu: the key file is "
		    "damaged; restore it from your key backup", path,
		    (long long)st.st_size, len);
		goto done;
	}
	while (off < len) {
		ssize_t n = read(fd, buf + off, len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			xz_diag_set(d, "cannot read %s: %s", path,
			    n == 0 ? "file shrank" : strerror(errno));
			goto done;
		}
		off += (size_t)n;
	}
	rc = 0;
done:
	if (fd >= 0)
		close(fd);
	free(path);
	return rc;
}

static void
key_check_value(const unsigned char key[STORE_KEY_LEN], char hex[2 * KEY_CHECK_LEN + 1])
{
	unsigned char kcv[KEY_CHECK_LEN];

	crypto_generichash(kcv, sizeof(kcv), (const unsigned char *)key_check_context,
	    sizeof(key_check_context) - 1, key, STORE_KEY_LEN);
	sodium_bin2hex(hex, 2 * KEY_CHECK_LEN + 1, kcv, sizeof(kcv));
}

int
xz_node_db_error(struct xz_node *node, const char *what, struct xz_diag *d)
{
	int code = sqlite3_extended_errcode(node->db) & 0xff;

	if (code == SQLITE_NOTADB || code == SQLITE_CORRUPT)
		return xz_diag_set(d, "%s: the store %s/store.db is damaged: a page "
		    "failed its authentication check (altered or corrupted on disk). "
		    "Stop the node and restore store.db from a backup", what, node->dir);
	if (code == SQLITE_FULL)
		return xz_diag_set(d, "%s: the disk holding %s is full; free space "
		    "and retry (nothing was changed)", what, node->dir);
	if (code == SQLITE_IOERR)
		return xz_diag_set(d, "%s: I/O error on %s/store.db (%s); check the "
		    "disk, then 'xiezhi store check' and 'xiezhi audit verify' before "
		    "retrying", what, node->dir, sqlite3_errmsg(node->db));
	if (code == SQLITE_BUSY)
		return xz_diag_set(d, "%s: the store is busy (another xiezhi process "
		    "holds a write lock for too long); retry", what);
	return xz_diag_set(d, "%s: %s", what, sqlite3_errmsg(node->db));
}

/* SQLCipher's raw-key form: x'<64 hex digits>' (no passphrase KDF). */
static int
apply_key(sqlite3 *db, const unsigned char key[STORE_KEY_LEN])
{
	enum { RAW_LEN = 3 + 2 * STORE_KEY_LEN };
	char *raw = sodium_malloc(RAW_LEN + 1);
	int rc;

	if (raw == NULL)
		return -1;
	raw[0] = 'x';
	raw[1] = '\'';
	sodium_bin2hex(raw + 2, 2 * STORE_KEY_LEN + 1, key, STORE_KEY_LEN);
	raw[RAW_LEN - 1] = '\'';
	raw[RAW_LEN] = '\0';
	rc = sqlite3_key(db, raw, RAW_LEN);
	sodium_free(raw);
	return rc == SQLITE_OK ? 0 : -1;
}

static int
exec_sql(struct xz_node *node, const char *sql, const char *what, struct xz_diag *d)
{
	if (sqlite3_exec(node->db, sql, NULL, NULL, NULL) != SQLITE_OK)
		return xz_node_db_error(node, what, d);
	return 0;
}

/* Runs a one-row pragma and copies its text result. */
static int
pragma_text(struct xz_node *node, const char *sql, char *out, size_t cap)
{
	sqlite3_stmt *st = NULL;
	int rc = -1;

	out[0] = '\0';
	if (sqlite3_prepare_v2(node->db, sql, -1, &st, NULL) != SQLITE_OK)
		return -1;
	if (sqlite3_step(st) == SQLITE_ROW) {
		const unsigned char *t = sqlite3_column_text(st, 0);
		snprintf(out, cap, "%s", t != NULL ? (const char *)t : "");
		rc = 0;
	} else if (sqlite3_errcode(node->db) == SQLITE_DONE ||
	    sqlite3_errcode(node->db) == SQLITE_OK) {
		rc = 0;
	}
	sqlite3_finalize(st);
	return rc;
}

static int
check_cipher_version(struct xz_node *node, struct xz_diag *d)
{
	char version[64];
	size_t n = strlen(XIEZHI_SQLCIPHER_EXPECTED);

	if (pragma_text(node, "PRAGMA cipher_version", version, sizeof(version)) != 0 ||
	    version[0] == '\0')
		return xz_diag_set(d, "the SQLite library in use is not SQLCipher: "
		    "the store would not be encrypted. Install Debian's libsqlcipher0 "
		    "and rebuild xiezhi against it");
	if (strncmp(version, XIEZHI_SQLCIPHER_EXPECTED, n) != 0 ||
	    (version[n] != '.' && version[n] != '\0'))
		return xz_diag_set(d, "SQLCipher %s is installed but this store format "
		    "is written for SQLCipher %s.x (Debian 12). Reinstall the expected "
		    "version, or migrate the store with the matching xiezhi release",
		    version, XIEZHI_SQLCIPHER_EXPECTED);
	return 0;
}

static const char schema_sql[] =
	"CREATE TABLE IF NOT EXISTS meta ("
	"  k TEXT PRIMARY KEY, v TEXT NOT NULL);"
	"CREATE TABLE IF NOT EXISTS datasets ("
	"  id INTEGER PRIMARY KEY,"
	"  name TEXT NOT NULL UNIQUE,"
	"  key_column TEXT NOT NULL,"
	"  key_type TEXT NOT NULL,"
	"  row_count INTEGER NOT NULL,"
	"  table_name TEXT NOT NULL UNIQUE,"
	"  created_at INTEGER NOT NULL,"
	"  updated_at INTEGER NOT NULL);"
	"CREATE TABLE IF NOT EXISTS dataset_columns ("
	"  dataset_id INTEGER NOT NULL REFERENCES datasets(id) ON DELETE CASCADE,"
	"  pos INTEGER NOT NULL,"
	"  name TEXT NOT NULL,"
	"  type TEXT NOT NULL,"
	"  PRIMARY KEY (dataset_id, pos));"
	"CREATE TABLE IF NOT EXISTS dataset_imports ("
	"  id INTEGER PRIMARY KEY,"
	"  dataset_id INTEGER NOT NULL REFERENCES datasets(id) ON DELETE CASCADE,"
	"  at INTEGER NOT NULL,"
	"  mode TEXT NOT NULL,"
	"  source_sha256 TEXT NOT NULL,"
	"  rows_read INTEGER NOT NULL,"
	"  rows_imported INTEGER NOT NULL,"
	"  rows_rejected INTEGER NOT NULL,"
	"  duplicates INTEGER NOT NULL,"
	"  elapsed_ms INTEGER NOT NULL);";

/*
 * Applies the connection settings every handle needs: WAL so readers do
 * not block the writer, synchronous=FULL so a commit is on disk when it
 * returns (the audit log depends on it), foreign keys, temp tables in
 * memory so no temporary file can hold plaintext.
 */
static int
configure_connection(struct xz_node *node, struct xz_diag *d)
{
	char mode[16];

	sqlite3_busy_timeout(node->db, 10000);
	if (exec_sql(node, "PRAGMA foreign_keys = ON; PRAGMA temp_store = MEMORY;"
	    "PRAGMA secure_delete = ON;", "configuring the store", d) != 0)
		return -1;
	if (pragma_text(node, "PRAGMA journal_mode = WAL", mode, sizeof(mode)) != 0)
		return xz_node_db_error(node, "switching the store to WAL", d);
	if (strcmp(mode, "wal") != 0)
		return xz_diag_set(d, "the store refused WAL journaling (mode '%s')", mode);
	return exec_sql(node, "PRAGMA synchronous = FULL;", "configuring the store", d);
}

static int
open_db(struct xz_node *node, const unsigned char key[STORE_KEY_LEN], int create,
    struct xz_diag *d)
{
	char *path = path_join(node->dir, "store.db");
	int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_FULLMUTEX |
	    (create ? SQLITE_OPEN_CREATE : 0);
	int rc = -1;

	if (path == NULL)
		return xz_diag_set(d, "out of memory");
	if (!create && access(path, F_OK) != 0) {
		xz_diag_set(d, "%s is missing: the node's encrypted store is gone; "
		    "restore it from a backup", path);
		goto done;
	}
	if (sqlite3_open_v2(path, &node->db, flags, NULL) != SQLITE_OK) {
		xz_diag_set(d, "cannot open %s: %s", path,
		    node->db != NULL ? sqlite3_errmsg(node->db) : "out of memory");
		goto done;
	}
	if (check_cipher_version(node, d) != 0)
		goto done;
	if (apply_key(node->db, key) != 0) {
		xz_diag_set(d, "cannot set the store key on %s (out of memory?)", path);
		goto done;
	}
	/* The first read decrypts and authenticates page 1. */
	if (sqlite3_exec(node->db, "SELECT count(*) FROM sqlite_master;", NULL, NULL,
	    NULL) != SQLITE_OK) {
		xz_node_db_error(node, "opening the store", d);
		goto done;
	}
	rc = configure_connection(node, d);
done:
	free(path);
	return rc;
}

static int
check_schema(struct xz_node *node, struct xz_diag *d)
{
	char v[32];

	if (pragma_text(node, "SELECT v FROM meta WHERE k = 'schema_version'", v,
	    sizeof(v)) != 0)
		return xz_node_db_error(node, "reading the store's schema version", d);
	if (strcmp(v, SCHEMA_VERSION) != 0)
		return xz_diag_set(d, "the store in %s has schema version '%s', this "
		    "xiezhi reads version %s; use the matching release", node->dir, v,
		    SCHEMA_VERSION);
	return 0;
}

int
xz_node_name_valid(const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || n > 64)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.'))
			return 0;
	}
	return 1;
}

/* A directory init may use: missing (created), or existing and empty. */
static int
prepare_init_dir(const char *dir, int *created, struct xz_diag *d)
{
	DIR *dh;
	struct dirent *e;
	char *conf;
	int has_conf;

	*created = 0;
	if (mkdir(dir, 0700) == 0) {
		*created = 1;
		return 0;
	}
	if (errno != EEXIST)
		return xz_diag_set(d, "cannot create node directory %s: %s", dir,
		    strerror(errno));
	conf = path_join(dir, "xiezhi.conf");
	has_conf = conf != NULL && access(conf, F_OK) == 0;
	free(conf);
	if (has_conf)
		return xz_diag_set(d, "%s already holds a xiezhi node; refusing to "
		    "touch it (choose another --dir)", dir);
	if ((dh = opendir(dir)) == NULL)
		return xz_diag_set(d, "%s exists and is not a readable directory", dir);
	while ((e = readdir(dh)) != NULL) {
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
			closedir(dh);
			return xz_diag_set(d, "%s is not empty; a node needs a directory "
			    "of its own (choose a new or empty --dir)", dir);
		}
	}
	closedir(dh);
	return 0;
}

static int
make_subdir(const char *dir, const char *rel, struct xz_diag *d)
{
	char *p = path_join(dir, rel);
	int rc = 0;

	if (p == NULL)
		return xz_diag_set(d, "out of memory");
	if (mkdir(p, 0700) != 0 || chmod(p, 0700) != 0)
		rc = xz_diag_set(d, "cannot create %s: %s", p, strerror(errno));
	free(p);
	return rc;
}

static int
write_keys(const char *dir, unsigned char *store_key, struct xz_diag *d)
{
	unsigned char *seed = sodium_malloc(crypto_sign_SEEDBYTES);
	unsigned char *sk = sodium_malloc(crypto_sign_SECRETKEYBYTES);
	unsigned char pk[crypto_sign_PUBLICKEYBYTES];
	char *p_store = path_join(dir, "keys/store.key");
	char *p_node = path_join(dir, "keys/node.key");
	char *p_pub = path_join(dir, "keys/node.pub");
	int rc = -1;

	if (seed == NULL || sk == NULL || !p_store || !p_node || !p_pub) {
		xz_diag_set(d, "out of memory");
		goto done;
	}
	randombytes_buf(store_key, STORE_KEY_LEN);
	randombytes_buf(seed, crypto_sign_SEEDBYTES);
	crypto_sign_seed_keypair(pk, sk, seed);
	if (write_new_file(p_store, store_key, STORE_KEY_LEN, 0600, d) != 0 ||
	    write_new_file(p_node, seed, crypto_sign_SEEDBYTES, 0600, d) != 0 ||
	    write_new_file(p_pub, pk, sizeof(pk), 0644, d) != 0)
		goto done;
	rc = 0;
done:
	sodium_free(seed);
	sodium_free(sk);
	free(p_store);
	free(p_node);
	free(p_pub);
	return rc;
}

/* Without this a power cut could keep store.db but lose keys/store.key. */
static int
sync_keys_dir(const char *dir, struct xz_diag *d)
{
	char *p = path_join(dir, "keys");
	int rc = p == NULL ? xz_diag_set(d, "out of memory") : fsync_dir(p) == 0 ? 0 :
	    xz_diag_set(d, "cannot sync %s/keys: %s", dir, strerror(errno));

	free(p);
	return rc;
}

static int
create_schema(struct xz_node *node, const char *name, struct xz_diag *d)
{
	char sql[512];

	if (exec_sql(node, "BEGIN IMMEDIATE;", "creating the store", d) != 0)
		return -1;
	snprintf(sql, sizeof(sql),
	    "INSERT INTO meta(k, v) VALUES ('schema_version', '%s'),"
	    " ('node_name', '%s'), ('created_at', '%lld');",
	    SCHEMA_VERSION, name, (long long)time(NULL));
	if (exec_sql(node, schema_sql, "creating the store", d) != 0 ||
	    exec_sql(node, sql, "creating the store", d) != 0 ||
	    exec_sql(node, "COMMIT;", "creating the store", d) != 0) {
		sqlite3_exec(node->db, "ROLLBACK;", NULL, NULL, NULL);
		return -1;
	}
	return 0;
}

/* Removes what a failed init created, so a retry starts clean. */
static void
undo_init(const char *dir, int created_dir)
{
	static const char *const files[] = {
		"xiezhi.conf", "store.db", "store.db-wal", "store.db-shm",
		"keys/store.key", "keys/node.key", "keys/node.pub",
	};
	static const char *const dirs[] = { "keys", "policies", "audit" };

	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		char *p = path_join(dir, files[i]);
		if (p != NULL)
			unlink(p);
		free(p);
	}
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		char *p = path_join(dir, dirs[i]);
		if (p != NULL)
			rmdir(p);
		free(p);
	}
	if (created_dir)
		rmdir(dir);
}

int
xz_node_init(const char *dir, const char *name, struct xz_diag *d)
{
	unsigned char *key = sodium_malloc(STORE_KEY_LEN);
	struct xz_node node = { .dir = (char *)(uintptr_t)dir };
	struct xz_nodeconf conf = {0};
	int created_dir = 0, touched = 0, rc = -1;

	if (key == NULL)
		return xz_diag_set(d, "out of memory");
	if (!xz_node_name_valid(name)) {
		xz_diag_set(d, "node name '%s' is not valid: use 1 to 64 letters, "
		    "digits, '.', '-' or '_'", name);
		goto done;
	}
	if (prepare_init_dir(dir, &created_dir, d) != 0)
		goto done;
	touched = 1;
	if (chmod(dir, 0700) != 0) {
		xz_diag_set(d, "cannot restrict %s to its owner: %s", dir, strerror(errno));
		goto done;
	}
	if (make_subdir(dir, "keys", d) != 0 || make_subdir(dir, "policies", d) != 0 ||
	    make_subdir(dir, "audit", d) != 0 || write_keys(dir, key, d) != 0 ||
	    sync_keys_dir(dir, d) != 0)
		goto done;
	if (open_db(&node, key, 1, d) != 0 || create_schema(&node, name, d) != 0)
		goto done;
	snprintf(conf.name, sizeof(conf.name), "%s", name);
	key_check_value(key, conf.store_key_check);
	if (xz_nodeconf_write(dir, &conf, d) != 0 || fsync_dir(dir) != 0)
		goto done;
	rc = 0;
done:
	if (node.db != NULL)
		sqlite3_close(node.db);
	if (rc != 0 && touched)
		undo_init(dir, created_dir);
	sodium_free(key);
	return rc;
}

static int
check_node_dir(const char *dir, struct xz_diag *d)
{
	struct stat st;
	char *conf;
	int rc = 0;

	if (stat(dir, &st) != 0)
		return xz_diag_set(d, "node directory %s does not exist: check --dir "
		    "or XIEZHI_DIR, or create a node with 'xiezhi init --dir %s "
		    "--name NAME'", dir, dir);
	if (!S_ISDIR(st.st_mode))
		return xz_diag_set(d, "%s is not a directory: --dir must name a node "
		    "directory", dir);
	conf = path_join(dir, "xiezhi.conf");
	if (conf == NULL)
		return xz_diag_set(d, "out of memory");
	if (access(conf, F_OK) != 0)
		rc = xz_diag_set(d, "%s is not a xiezhi node (no xiezhi.conf): check "
		    "--dir, or create one with 'xiezhi init --dir %s --name NAME'",
		    dir, dir);
	free(conf);
	return rc;
}

static int
check_keys_dir(const char *dir, struct xz_diag *d)
{
	char *p = path_join(dir, "keys");
	struct stat st;
	int rc = 0;

	if (p == NULL)
		return xz_diag_set(d, "out of memory");
	if (lstat(p, &st) != 0 || !S_ISDIR(st.st_mode))
		rc = xz_diag_set(d, "%s is missing: restore the node's keys from "
		    "your key backup", p);
	else if ((st.st_mode & 077) != 0)
		rc = xz_diag_set(d, "refusing to use %s: the key directory is open to "
		    "group or others (mode %04o); run 'chmod 700 %s'", p,
		    (unsigned)(st.st_mode & 07777), p);
	free(p);
	return rc;
}

int
xz_node_open(const char *dir, struct xz_node **out, struct xz_diag *d)
{
	unsigned char *key = sodium_malloc(STORE_KEY_LEN);
	struct xz_node *node = calloc(1, sizeof(*node));
	struct xz_nodeconf conf;
	char kcv[2 * KEY_CHECK_LEN + 1];
	int rc = -1;

	if (key == NULL || node == NULL) {
		xz_diag_set(d, "out of memory");
		goto done;
	}
	if (check_node_dir(dir, d) != 0 || xz_nodeconf_read(dir, &conf, d) != 0 ||
	    check_keys_dir(dir, d) != 0 ||
	    read_secret_file(dir, "keys/store.key", key, STORE_KEY_LEN, d) != 0)
		goto done;
	key_check_value(key, kcv);
	if (sodium_memcmp(kcv, conf.store_key_check, sizeof(kcv)) != 0) {
		xz_diag_set(d, "%s/keys/store.key is not the key of this node's store "
		    "(its check value differs from xiezhi.conf): put back the key "
		    "file that belongs to this node", dir);
		goto done;
	}
	if ((node->dir = strdup(dir)) == NULL || (node->name = strdup(conf.name)) == NULL) {
		xz_diag_set(d, "out of memory");
		goto done;
	}
	if (open_db(node, key, 0, d) != 0 || check_schema(node, d) != 0)
		goto done;
	*out = node;
	node = NULL;
	rc = 0;
done:
	sodium_free(key);
	xz_node_close(node);
	return rc;
}

void
xz_node_close(struct xz_node *node)
{
	if (node == NULL)
		return;
	if (node->db != NULL)
		sqlite3_close_v2(node->db);
	free(node->dir);
	free(node->name);
	free(node);
}

sqlite3 *
xz_node_db(struct xz_node *node)
{
	return node->db;
}

const char *
xz_node_name(const struct xz_node *node)
{
	return node->name;
}

const char *
xz_node_dir(const struct xz_node *node)
{
	return node->dir;
}

int
xz_node_load_signing_key(const struct xz_node *node, unsigned char **sk_out,
    struct xz_diag *d)
{
	unsigned char *seed = sodium_malloc(crypto_sign_SEEDBYTES);
	unsigned char *sk = sodium_malloc(crypto_sign_SECRETKEYBYTES);
	unsigned char pk[crypto_sign_PUBLICKEYBYTES];
	int rc = -1;

	if (seed == NULL || sk == NULL) {
		xz_diag_set(d, "out of memory");
		goto done;
	}
	if (read_secret_file(node->dir, "keys/node.key", seed, crypto_sign_SEEDBYTES,
	    d) != 0)
		goto done;
	crypto_sign_seed_keypair(pk, sk, seed);
	*sk_out = sk;
	sk = NULL;
	rc = 0;
done:
	sodium_free(seed);
	sodium_free(sk);
	return rc;
}

void
xz_node_free_signing_key(unsigned char *sk)
{
	sodium_free(sk);
}

int
xz_node_public_key(const struct xz_node *node, unsigned char pk[32],
    struct xz_diag *d)
{
	char *p = path_join(node->dir, "keys/node.pub");
	FILE *f;
	int rc = -1;

	if (p == NULL)
		return xz_diag_set(d, "out of memory");
	f = fopen(p, "rb");
	if (f == NULL) {
		xz_diag_set(d, "cannot open %s: %s", p, strerror(errno));
	} else {
		unsigned char extra;
		if (fread(pk, 1, 32, f) != 32 || fread(&extra, 1, 1, f) != 0)
			xz_diag_set(d, "%s is not a 32-byte Ed25519 public key", p);
		else
			rc = 0;
		fclose(f);
	}
	free(p);
	return rc;
}

int
xz_node_transaction(struct xz_node *node,
    int (*fn)(struct xz_node *node, void *arg, struct xz_diag *d), void *arg,
    struct xz_diag *d)
{
	if (exec_sql(node, "BEGIN IMMEDIATE;", "starting a transaction", d) != 0)
		return -1;
	if (fn(node, arg, d) != 0) {
		sqlite3_exec(node->db, "ROLLBACK;", NULL, NULL, NULL);
		return -1;
	}
	if (sqlite3_exec(node->db, "COMMIT;", NULL, NULL, NULL) != SQLITE_OK) {
		xz_node_db_error(node, "committing", d);
		sqlite3_exec(node->db, "ROLLBACK;", NULL, NULL, NULL);
		return -1;
	}
	return 0;
}

/*
 * PRAGMA quick_check reads every page; with SQLCipher a page whose HMAC
 * does not match cannot be read, so the check reports it as unreadable
 * or corrupt.  The report can run to many lines: the user gets one.
 */
int
xz_node_check_pages(struct xz_node *node, struct xz_diag *d)
{
	sqlite3_stmt *st = NULL;
	char first[160] = "";
	int rc, problems = 0;

	if (sqlite3_prepare_v2(node->db, "PRAGMA quick_check", -1, &st, NULL) != SQLITE_OK)
		return xz_node_db_error(node, "checking the store", d);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *t = (const char *)sqlite3_column_text(st, 0);
		if (t == NULL || strcmp(t, "ok") == 0)
			continue;
		if (problems++ == 0) {
			snprintf(first, sizeof(first), "%s", t);
			for (char *p = first; *p != '\0'; p++)
				if (*p == '\n' || *p == '\r')
					*p = ' ';
		}
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return xz_node_db_error(node, "checking the store", d);
	if (problems > 0)
		return xz_diag_set(d, "the store %s/store.db is damaged: a page failed "
		    "its authentication check or is inconsistent (%s). Stop the node "
		    "and restore store.db from a backup", node->dir, first);
	return 0;
}
