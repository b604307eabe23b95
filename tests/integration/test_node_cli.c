/*
 * The xiezhi binary as an operator uses it: init, sample, import, list,
 * show, drop, and the refusals an operator must understand at once (wrong
 * key, key file open to others, missing directory, damaged store).
 */
#include "testsupport.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct fixture {
	char *tmp;
	char *dir;
	char *csv;
};

#define X(...) xiezhi_n((const char *[]){ __VA_ARGS__, NULL })

static struct xzt_run
xiezhi_n(const char **args)
{
	const char *argv[32] = { xzt_xiezhi_bin() };
	size_t n = 1;
	struct xzt_run r;

	for (; args[n - 1] != NULL && n < 31; n++)
		argv[n] = args[n - 1];
	argv[n] = NULL;
	xzt_run(&r, argv, NULL, NULL);
	return r;
}

static size_t
count_lines(const char *s)
{
	size_t n = 0;

	for (; *s != '\0'; s++)
		n += *s == '\n';
	return n;
}

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct xzt_run r;

	f->tmp = xzt_mkdtemp("cli");
	f->dir = xzt_path(f->tmp, "node");
	f->csv = xzt_path(f->tmp, "people.csv");
	r = X("init", "--dir", f->dir, "--name", "civil-affairs");
	assert_int_equal(r.status, 0);
	assert_non_null(strstr(r.out, "Created node 'civil-affairs'"));
	xzt_run_free(&r);
	r = X("sample", "people", "--rows", "500", "--out", f->csv, "--seed", "7");
	assert_int_equal(r.status, 0);
	xzt_run_free(&r);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	xzt_rmtree(f->tmp);
	free(f->dir);
	free(f->csv);
	free(f->tmp);
	free(f);
	return 0;
}

static void
import_people(struct fixture *f)
{
	struct xzt_run r = X("dataset", "import", "people", "--dir", f->dir, "--csv",
	    f->csv, "--key", "身份证号:cn_id", "--column", "姓名:text", "--column",
	    "金额:decimal", "--column", "日期:date");

	if (r.status != 0)
		fail_msg("import failed: %s", r.err);
	assert_non_null(strstr(r.out, "imported:       500"));
	xzt_run_free(&r);
}

static void
test_init_layout(void **state)
{
	struct fixture *f = *state;
	struct stat st;
	char *p = xzt_path(f->dir, "keys");

	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
	free(p);
	p = xzt_path(f->dir, "keys/store.key");
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(st.st_size, 32);
	free(p);
	/* a second init on the same directory is refused, and changes nothing */
	struct xzt_run r = X("init", "--dir", f->dir, "--name", "other");
	assert_int_equal(r.status, 1);
	assert_non_null(strstr(r.err, "already holds a xiezhi node"));
	xzt_run_free(&r);
	r = X("dataset", "list", "--dir", f->dir);
	assert_int_equal(r.status, 0);
	assert_non_null(strstr(r.out, "No datasets yet"));
	xzt_run_free(&r);
}

static void
test_import_list_show_drop(void **state)
{
	struct fixture *f = *state;
	struct xzt_run r;

	import_people(f);
	r = X("dataset", "list", "--dir", f->dir);
	assert_int_equal(r.status, 0);
	assert_non_null(strstr(r.out, "people"));
	assert_non_null(strstr(r.out, "身份证号:cn_id"));
	assert_non_null(strstr(r.out, "500"));
	xzt_run_free(&r);
	r = X("dataset", "show", "people", "--dir", f->dir, "--json");
	assert_int_equal(r.status, 0);
	assert_non_null(strstr(r.out, "\"rows\": 500"));
	assert_non_null(strstr(r.out, "\"name\": \"金额\", \"type\": \"decimal\""));
	assert_non_null(strstr(r.out, "\"mode\": \"create\""));
	xzt_run_free(&r);
	r = X("dataset", "drop", "people", "--dir", f->dir);
	assert_int_equal(r.status, 2);
	assert_non_null(strstr(r.err, "--yes"));
	xzt_run_free(&r);
	r = X("dataset", "drop", "people", "--dir", f->dir, "--yes");
	assert_int_equal(r.status, 0);
	xzt_run_free(&r);
	r = X("dataset", "show", "people", "--dir", f->dir);
	assert_int_equal(r.status, 1);
	assert_non_null(strstr(r.err, "no dataset 'people'"));
	xzt_run_free(&r);
}

static void
test_xiezhi_dir_env(void **state)
{
	struct fixture *f = *state;
	char env[4200];
	const char *const envs[] = { env, NULL };
	const char *argv[] = { xzt_xiezhi_bin(), "dataset", "list", NULL };
	struct xzt_run r;

	snprintf(env, sizeof(env), "XIEZHI_DIR=%s", f->dir);
	xzt_run(&r, argv, NULL, envs);
	assert_int_equal(r.status, 0);
	xzt_run_free(&r);
	xzt_run(&r, argv, NULL, NULL);
	assert_int_equal(r.status, 2);
	assert_non_null(strstr(r.err, "XIEZHI_DIR"));
	xzt_run_free(&r);
}

static void
test_bad_rows_reported(void **state)
{
	struct fixture *f = *state;
	char *bad = xzt_path(f->tmp, "bad.csv");
	const char text[] = "身份证号,姓名\n11010519491231002X,张三\n"
	    "110105194912310021,李四\n";
	struct xzt_run r;

	xzt_write_file(bad, text, sizeof(text) - 1);
	r = X("dataset", "import", "d", "--dir", f->dir, "--csv", bad, "--key",
	    "身份证号:cn_id", "--column", "姓名:text");
	assert_int_equal(r.status, 1);
	assert_non_null(strstr(r.err, "line 3, column '身份证号'"));
	assert_non_null(strstr(r.err, "nothing was imported"));
	/* the rejected value itself is not echoed */
	assert_null(strstr(r.err, "110105194912310021"));
	xzt_run_free(&r);
	free(bad);
}

/* Review findings: pipes, header-less exports, planted reject files. */
static void
test_import_edge_cases(void **state)
{
	struct fixture *f = *state;
	char *nohdr = xzt_path(f->tmp, "nohdr.csv"), *rej = xzt_path(f->tmp, "rej.csv");
	const char data[] = "张三,11010519491231002X\n";
	const char with_header[] = "姓名,身份证号\n张三,11010519491231002X\n";
	const char *argv[] = { xzt_xiezhi_bin(), "dataset", "import", "piped", "--dir",
		f->dir, "--csv", "/dev/stdin", "--key", "身份证号:cn_id", "--json", NULL };
	struct xzt_run r;

	/* one pass over the input: a pipe works, and its hash is recorded */
	xzt_run(&r, argv, with_header, NULL);
	if (r.status != 0)
		fail_msg("piped import: %s", r.err);
	assert_non_null(strstr(r.out, "\"rows_imported\": 1"));
	assert_non_null(strstr(r.out, "\"source_sha256\": \"a842b3cc994ba5535e1a8c5e69fa57ef1bc5251f7302b9aa373b7e903d07d640\""));
	xzt_run_free(&r);
	/* an export without a header: the first row is not echoed */
	xzt_write_file(nohdr, data, sizeof(data) - 1);
	r = X("dataset", "import", "d", "--dir", f->dir, "--csv", nohdr, "--key",
	    "身份证号:cn_id");
	assert_int_equal(r.status, 1);
	assert_non_null(strstr(r.err, "does not look like a header"));
	assert_null(strstr(r.err, "11010519491231002X"));
	assert_null(strstr(r.err, "张三"));
	xzt_run_free(&r);
	/* an existing reject file is never overwritten or reused */
	xzt_write_file(rej, "x", 1);
	r = X("dataset", "import", "d", "--dir", f->dir, "--csv", f->csv, "--key",
	    "身份证号:cn_id", "--reject-file", rej);
	assert_int_equal(r.status, 1);
	assert_non_null(strstr(r.err, "already exists"));
	xzt_run_free(&r);
	free(nohdr);
	free(rej);
}

static void
test_gb18030_import(void **state)
{
	struct fixture *f = *state;
	char *utf = xzt_path(f->tmp, "u.csv"), *gb = xzt_path(f->tmp, "gb.csv");
	const char text[] = "身份证号,姓名\r\n11010519491231002X,张三丰\r\n";
	char cmd[8400];
	struct xzt_run r;

	xzt_write_file(utf, text, sizeof(text) - 1);
	snprintf(cmd, sizeof(cmd), "iconv -f UTF-8 -t GB18030 '%s' > '%s'", utf, gb);
	assert_int_equal(system(cmd), 0);
	r = X("dataset", "import", "gbk", "--dir", f->dir, "--csv", gb, "--key",
	    "身份证号:cn_id", "--column", "姓名:text", "--encoding", "gb18030", "--json");
	if (r.status != 0)
		fail_msg("gb18030 import: %s %s", r.out, r.err);
	assert_non_null(strstr(r.out, "\"rows_imported\": 1"));
	xzt_run_free(&r);
	free(utf);
	free(gb);
}

static void
assert_one_line_error(struct xzt_run *r, const char *needle)
{
	assert_int_not_equal(r->status, 0);
	if (strstr(r->err, needle) == NULL)
		fail_msg("expected '%s' in: %s", needle, r->err);
	assert_int_equal(count_lines(r->err), 1);
}

static void
test_wrong_key(void **state)
{
	struct fixture *f = *state;
	char *key = xzt_path(f->dir, "keys/store.key");
	unsigned char other[32];
	struct xzt_run r;

	import_people(f);
	for (size_t i = 0; i < sizeof(other); i++)
		other[i] = (unsigned char)(i * 37 + 11);
	unlink(key);
	int fd = open(key, O_WRONLY | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, other, sizeof(other)), (ssize_t)sizeof(other));
	close(fd);
	r = X("dataset", "list", "--dir", f->dir);
	assert_one_line_error(&r, "is not the key of this node's store");
	xzt_run_free(&r);
	free(key);
}

static void
test_key_readable_by_others(void **state)
{
	struct fixture *f = *state;
	char *key = xzt_path(f->dir, "keys/store.key");
	struct xzt_run r;

	assert_int_equal(chmod(key, 0644), 0);
	r = X("dataset", "list", "--dir", f->dir);
	assert_one_line_error(&r, "readable by group or others");
	assert_non_null(strstr(r.err, "chmod 600"));
	xzt_run_free(&r);
	free(key);
}

static void
test_missing_dir(void **state)
{
	struct fixture *f = *state;
	char *none = xzt_path(f->tmp, "no-such-node");
	struct xzt_run r = X("dataset", "list", "--dir", none);

	assert_one_line_error(&r, "does not exist");
	assert_non_null(strstr(r.err, "xiezhi init"));
	xzt_run_free(&r);
	free(none);
}

/* Flips one byte inside a page; the page's HMAC no longer matches. */
static void
flip_byte(const char *path, off_t where)
{
	int fd = open(path, O_RDWR);
	unsigned char c;

	assert_true(fd >= 0);
	assert_int_equal(pread(fd, &c, 1, where), 1);
	c ^= 0x40;
	assert_int_equal(pwrite(fd, &c, 1, where), 1);
	close(fd);
}

static void
test_damaged_pages(void **state)
{
	struct fixture *f = *state;
	char *db = xzt_path(f->dir, "store.db");
	struct xzt_run r;
	struct stat st;

	import_people(f);
	/* a clean store passes the full page check */
	r = X("store", "check", "--dir", f->dir);
	assert_int_equal(r.status, 0);
	xzt_run_free(&r);
	assert_int_equal(stat(db, &st), 0);
	assert_true(st.st_size > 8 * 4096);
	/* damage a page in the middle of the file: found by the page check */
	flip_byte(db, st.st_size / 2 + 100);
	r = X("store", "check", "--dir", f->dir);
	assert_one_line_error(&r, "failed its authentication check");
	xzt_run_free(&r);
	/* damage page 1: the node refuses to open at all */
	flip_byte(db, 2000);
	r = X("dataset", "list", "--dir", f->dir);
	assert_one_line_error(&r, "failed its authentication check");
	xzt_run_free(&r);
	free(db);
}

static void
copy_file(const char *from, const char *to)
{
	size_t len;
	char *data = xzt_read_file(from, &len);

	assert_non_null(data);
	xzt_write_file(to, data, len);
	free(data);
}

/*
 * Imports and drops are in the audit log; restoring an older copy of the
 * store (SQLCipher cannot tell) is caught by the audit anchor, and the
 * node then refuses new data.
 */
static void
test_audited_and_rollback_refused(void **state)
{
	struct fixture *f = *state;
	char *db = xzt_path(f->dir, "store.db"), *old = xzt_path(f->tmp, "old.db");
	struct xzt_run r;

	import_people(f);
	copy_file(db, old);
	r = X("dataset", "drop", "people", "--dir", f->dir, "--yes");
	assert_int_equal(r.status, 0);
	xzt_run_free(&r);
	r = X("audit", "log", "--dir", f->dir);
	assert_int_equal(r.status, 0);
	assert_non_null(strstr(r.out, "dataset_imported"));
	assert_non_null(strstr(r.out, "dataset_dropped"));
	assert_null(strstr(r.out, "11010519491231002X"));
	xzt_run_free(&r);
	r = X("audit", "verify", "--dir", f->dir);
	assert_int_equal(r.status, 0);
	xzt_run_free(&r);
	/* put the older store back: the log is now shorter than the anchor */
	copy_file(old, db);
	r = X("dataset", "import", "people", "--dir", f->dir, "--csv", f->csv, "--key",
	    "身份证号:cn_id", "--replace");
	assert_int_equal(r.status, 1);
	assert_non_null(strstr(r.err, "checkpoint"));
	xzt_run_free(&r);
	r = X("audit", "verify", "--dir", f->dir);
	assert_int_not_equal(r.status, 0);
	xzt_run_free(&r);
	free(db);
	free(old);
}

/* Column names in agencies' exports are Chinese: requests carry them. */
static void
test_request_with_chinese_label(void **state)
{
	struct fixture *f = *state;
	char *req = xzt_path(f->tmp, "request.yaml"), *key = xzt_path(f->tmp, "chief");
	char *keyfile = xzt_path(f->tmp, "chief.key");
	struct xzt_run r;

	r = X("keygen", "--out", key);
	assert_int_equal(r.status, 0);
	xzt_run_free(&r);
	r = X("request", "create", "--out", req, "--requester", "spp.demo.gov.cn",
	    "--responder", "civil.demo.gov.cn", "--policy", "deaths", "--policy-version",
	    "1", "--dataset", "death-registry", "--mode", "intersect", "--label", "日期",
	    "--query-size", "100", "--purpose", "test", "--case-number", "1",
	    "--legal-basis", "test");
	if (r.status != 0)
		fail_msg("request create: %s", r.err);
	xzt_run_free(&r);
	r = X("request", "approve", req, "--key", keyfile);
	if (r.status != 0)
		fail_msg("request approve: %s", r.err);
	xzt_run_free(&r);
	r = X("request", "show", req);
	assert_int_equal(r.status, 0);
	assert_non_null(strstr(r.out, "日期"));
	xzt_run_free(&r);
	free(req);
	free(key);
	free(keyfile);
}

static void
test_usage_errors(void **state)
{
	struct fixture *f = *state;
	struct xzt_run r;

	r = X("dataset", "import", "x", "--dir", f->dir, "--csv", f->csv, "--key",
	    "身份证号:passport");
	assert_int_equal(r.status, 2);
	assert_non_null(strstr(r.err, "unknown column type 'passport'"));
	xzt_run_free(&r);
	r = X("dataset", "import", "x", "--dir", f->dir, "--csv", f->csv, "--key",
	    "身份证号:cn_id", "--replace", "--append");
	assert_int_equal(r.status, 2);
	xzt_run_free(&r);
	r = X("frobnicate");
	assert_int_equal(r.status, 2);
	assert_non_null(strstr(r.err, "unknown command"));
	xzt_run_free(&r);
	r = X("sample", "people", "--rows", "12abc", "--out", "/dev/null");
	assert_int_equal(r.status, 2);
	xzt_run_free(&r);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_init_layout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_import_list_show_drop, setup, teardown),
		cmocka_unit_test_setup_teardown(test_xiezhi_dir_env, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_rows_reported, setup, teardown),
		cmocka_unit_test_setup_teardown(test_import_edge_cases, setup, teardown),
		cmocka_unit_test_setup_teardown(test_gb18030_import, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wrong_key, setup, teardown),
		cmocka_unit_test_setup_teardown(test_key_readable_by_others, setup, teardown),
		cmocka_unit_test_setup_teardown(test_missing_dir, setup, teardown),
		cmocka_unit_test_setup_teardown(test_damaged_pages, setup, teardown),
		cmocka_unit_test_setup_teardown(test_audited_and_rollback_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_request_with_chinese_label, setup, teardown),
		cmocka_unit_test_setup_teardown(test_usage_errors, setup, teardown),
	};

	return cmocka_run_group_tests_name("xiezhi node CLI", tests, NULL, NULL);
}
