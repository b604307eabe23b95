/*
 * The node store and dataset import, through the library: a real node
 * directory, a real SQLCipher file, real CSV files.
 */
#include "testsupport.h"

#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "dataset.h"
#include "node.h"

struct fixture {
	char *tmp;
	char *dir;
	struct xz_node *node;
};

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct xz_diag d;

	assert_non_null(f);
	assert_true(sodium_init() >= 0);
	f->tmp = xzt_mkdtemp("dataset");
	f->dir = xzt_path(f->tmp, "node");
	if (xz_node_init(f->dir, "test-node", &d) != 0)
		fail_msg("init: %s", d.msg);
	if (xz_node_open(f->dir, &f->node, &d) != 0)
		fail_msg("open: %s", d.msg);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	xz_node_close(f->node);
	xzt_rmtree(f->tmp);
	free(f->dir);
	free(f->tmp);
	free(f);
	return 0;
}

static char *
write_csv(struct fixture *f, const char *name, const char *text)
{
	char *p = xzt_path(f->tmp, name);

	xzt_write_file(p, text, strlen(text));
	return p;
}

static const struct xz_column_spec people_cols[] = {
	{ "name", XZ_COL_TEXT },
	{ "amount", XZ_COL_DECIMAL },
	{ "died", XZ_COL_DATE },
};

/* Valid IDs (check characters per GB 11643-1999). */
#define ID1 "11010519491231002X"
#define ID2 "440524198001010013"
#define ID3 "110101195001010017"

static const char good_csv[] =
    "id,name,amount,died\n"
    ID1 ",张三,1234.50,2023-01-05\n"
    ID2 ",\"Li, Si\",0.10,2023年2月3日\n"
    ID3 ",王五,99,20230304\n";

static int64_t
count_rows(struct fixture *f, const char *dataset)
{
	sqlite3_stmt *st;
	int64_t n = -1;

	assert_int_equal(sqlite3_prepare_v2(xz_node_db(f->node),
	    "SELECT row_count FROM datasets WHERE name = ?", -1, &st, NULL), SQLITE_OK);
	sqlite3_bind_text(st, 1, dataset, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return n;
}

/* Reads column c1 (name) of the row with key k straight from the store. */
static char *
stored_name(struct fixture *f, const char *dataset, const char *k)
{
	sqlite3_stmt *st;
	char sql[256], table[64] = "";
	char *out = NULL;

	assert_int_equal(sqlite3_prepare_v2(xz_node_db(f->node),
	    "SELECT table_name FROM datasets WHERE name = ?", -1, &st, NULL), SQLITE_OK);
	sqlite3_bind_text(st, 1, dataset, -1, SQLITE_STATIC);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	snprintf(table, sizeof(table), "%s", sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	snprintf(sql, sizeof(sql), "SELECT c1 FROM %s WHERE k = ?", table);
	assert_int_equal(sqlite3_prepare_v2(xz_node_db(f->node), sql, -1, &st, NULL),
	    SQLITE_OK);
	sqlite3_bind_text(st, 1, k, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW)
		out = strdup((const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	return out;
}

static void
spec_for(struct xz_import_spec *s, const char *name, const char *csv)
{
	memset(s, 0, sizeof(*s));
	s->dataset = name;
	s->csv_path = csv;
	snprintf(s->key.name, sizeof(s->key.name), "id");
	s->key.type = XZ_COL_CN_ID;
	s->columns = people_cols;
	s->ncolumns = 3;
}

static void
test_import_good(void **state)
{
	struct fixture *f = *state;
	char *csv = write_csv(f, "good.csv", good_csv);
	struct xz_import_spec s;
	struct xz_import_result r;
	struct xz_diag d;

	spec_for(&s, "deaths", csv);
	if (xz_dataset_import(f->node, &s, &r, &d) != 0)
		fail_msg("import: %s", d.msg);
	assert_int_equal(r.rows_read, 3);
	assert_int_equal(r.rows_imported, 3);
	assert_int_equal(r.rows_rejected, 0);
	assert_int_equal(count_rows(f, "deaths"), 3);
	char *name = stored_name(f, "deaths", ID2);
	assert_non_null(name);
	assert_string_equal(name, "Li, Si");
	free(name);
	/* the same name again is refused without --replace/--append */
	assert_int_equal(xz_dataset_import(f->node, &s, &r, &d), -1);
	assert_non_null(strstr(d.msg, "already exists"));
	assert_non_null(strstr(d.msg, "--replace"));
	free(csv);
}

static void
test_bad_rows_refuse_everything(void **state)
{
	struct fixture *f = *state;
	char *csv = write_csv(f, "bad.csv",
	    "id,name,amount,died\n"
	    ID1 ",张三,1.00,2023-01-05\n"
	    "110105194912310021,李四,2.00,2023-01-05\n"	/* bad check character */
	    ID3 ",王五,abc,2023-01-05\n"			/* bad decimal */
	    ID2 ",赵六,3.00,2023-02-30\n"			/* no such day */
	    ID2 ",赵六,3.00\n");				/* ragged */
	struct xz_import_spec s;
	struct xz_import_result r;
	struct xz_diag d;

	spec_for(&s, "deaths", csv);
	assert_int_equal(xz_dataset_import(f->node, &s, &r, &d), -1);
	assert_int_equal(r.committed, 0);
	assert_int_equal(r.rows_read, 5);
	assert_int_equal(r.rows_rejected, 4);
	assert_int_equal(r.nproblems, 4);
	assert_int_equal(r.problems[0].line, 3);
	assert_string_equal(r.problems[0].column, "id");
	assert_int_equal(r.problems[1].line, 4);
	assert_string_equal(r.problems[1].column, "amount");
	assert_int_equal(r.problems[2].line, 5);
	assert_string_equal(r.problems[2].column, "died");
	assert_int_equal(r.problems[3].line, 6);
	assert_non_null(strstr(r.problems[3].reason, "fields"));
	assert_non_null(strstr(d.msg, "nothing was imported"));
	assert_int_equal(count_rows(f, "deaths"), -1);
	free(csv);
}

static void
test_reject_file(void **state)
{
	struct fixture *f = *state;
	char *csv = write_csv(f, "mixed.csv",
	    "id,name,amount,died\n"
	    ID1 ",张三,1.00,2023-01-05\n"
	    "110105194912310021,李四,2.00,2023-01-05\n"
	    ID3 ",王五,3.00,2023-01-05\n");
	char *rej = xzt_path(f->tmp, "rejects.csv");
	struct xz_import_spec s;
	struct xz_import_result r;
	struct xz_diag d;
	struct stat st;
	size_t len;

	spec_for(&s, "deaths", csv);
	s.reject_path = rej;
	if (xz_dataset_import(f->node, &s, &r, &d) != 0)
		fail_msg("import: %s", d.msg);
	assert_int_equal(r.rows_imported, 2);
	assert_int_equal(r.rows_rejected, 1);
	assert_int_equal(count_rows(f, "deaths"), 2);
	assert_int_equal(stat(rej, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	char *text = xzt_read_file(rej, &len);
	assert_non_null(strstr(text, "line,column,position,reason"));
	assert_non_null(strstr(text, "3,\"id\""));
	assert_non_null(strstr(text, "110105194912310021"));
	free(text);
	free(rej);
	free(csv);
}

static void
test_replace_failure_keeps_old(void **state)
{
	struct fixture *f = *state;
	char *csv = write_csv(f, "good.csv", good_csv);
	char *csv2 = write_csv(f, "new.csv",
	    "id,name,amount,died\n"
	    ID1 ",新名字,1.00,2023-01-05\n"
	    ID3 ",王五,3.00,2023-01-05\n");
	struct xz_import_spec s;
	struct xz_import_result r;
	struct xz_diag d;

	spec_for(&s, "deaths", csv);
	assert_int_equal(xz_dataset_import(f->node, &s, &r, &d), 0);
	spec_for(&s, "deaths", csv2);
	s.mode = XZ_IMPORT_REPLACE;
	s.fail_after_rows = 1;
	assert_int_equal(xz_dataset_import(f->node, &s, &r, &d), -1);
	assert_non_null(strstr(d.msg, "injected failure"));
	/* the old data is untouched */
	assert_int_equal(count_rows(f, "deaths"), 3);
	char *name = stored_name(f, "deaths", ID1);
	assert_string_equal(name, "张三");
	free(name);
	/* and the real replace swaps it */
	s.fail_after_rows = 0;
	assert_int_equal(xz_dataset_import(f->node, &s, &r, &d), 0);
	assert_int_equal(count_rows(f, "deaths"), 2);
	name = stored_name(f, "deaths", ID1);
	assert_string_equal(name, "新名字");
	free(name);
	free(csv);
	free(csv2);
}

static void
test_append_and_duplicates(void **state)
{
	struct fixture *f = *state;
	char *csv = write_csv(f, "good.csv", good_csv);
	char *csv2 = write_csv(f, "more.csv",
	    "id,name,amount,died\n"
	    ID1 ",张三,5.00,2023-01-05\n"			/* duplicate of stored key */
	    "11010519491231002x,张三,6.00,2023-01-05\n"	/* same after normalising */
	    "130503670401001,旧号,7.00,2023-01-05\n");	/* 15-digit, upgraded */
	struct xz_import_spec s;
	struct xz_import_result r;
	struct xz_diag d;

	spec_for(&s, "deaths", csv);
	s.mode = XZ_IMPORT_APPEND;
	assert_int_equal(xz_dataset_import(f->node, &s, &r, &d), -1);
	assert_non_null(strstr(d.msg, "does not exist"));
	s.mode = XZ_IMPORT_CREATE;
	assert_int_equal(xz_dataset_import(f->node, &s, &r, &d), 0);
	spec_for(&s, "deaths", csv2);
	s.mode = XZ_IMPORT_APPEND;
	if (xz_dataset_import(f->node, &s, &r, &d) != 0)
		fail_msg("append: %s", d.msg);
	assert_int_equal(r.rows_imported, 3);
	assert_int_equal(r.duplicates, 2);
	assert_int_equal(count_rows(f, "deaths"), 6);
	char *name = stored_name(f, "deaths", "130503196704010016");
	assert_non_null(name);
	assert_string_equal(name, "旧号");
	free(name);
	/* an append with other columns is refused */
	s.ncolumns = 2;
	assert_int_equal(xz_dataset_import(f->node, &s, &r, &d), -1);
	assert_non_null(strstr(d.msg, "--append must"));
	free(csv);
	free(csv2);
}

static void
test_missing_column(void **state)
{
	struct fixture *f = *state;
	char *csv = write_csv(f, "good.csv", good_csv);
	struct xz_import_spec s;
	struct xz_import_result r;
	struct xz_diag d;
	struct xz_column_spec cols[] = { { "姓名", XZ_COL_TEXT } };

	spec_for(&s, "deaths", csv);
	s.columns = cols;
	s.ncolumns = 1;
	assert_int_equal(xz_dataset_import(f->node, &s, &r, &d), -1);
	assert_non_null(strstr(d.msg, "no column '姓名'"));
	assert_non_null(strstr(d.msg, "id, name, amount, died"));
	free(csv);
}

static void
test_drop(void **state)
{
	struct fixture *f = *state;
	char *csv = write_csv(f, "good.csv", good_csv);
	struct xz_import_spec s;
	struct xz_import_result r;
	struct xz_diag d;

	spec_for(&s, "deaths", csv);
	assert_int_equal(xz_dataset_import(f->node, &s, &r, &d), 0);
	assert_int_equal(xz_dataset_drop(f->node, "deaths", "test", &d), 0);
	assert_int_equal(count_rows(f, "deaths"), -1);
	assert_int_equal(xz_dataset_drop(f->node, "deaths", "test", &d), -1);
	assert_non_null(strstr(d.msg, "no dataset"));
	free(csv);
}

/* Every regular file under dir (recursively), searched for every needle. */
static const char *const *search_needles;
static size_t search_count;
static int searched_files;

static int
search_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	size_t len;
	char *data;

	(void)st;
	(void)ftw;
	if (type != FTW_F)
		return 0;
	data = xzt_read_file(path, &len);
	assert_non_null(data);
	searched_files++;
	for (size_t k = 0; k < search_count; k++)
		if (xzt_memmem(data, len, search_needles[k], strlen(search_needles[k])))
			fail_msg("'%s' found in plaintext in %s", search_needles[k], path);
	free(data);
	return 0;
}

static void
assert_absent_in_tree(const char *dir, const char *const *needles, size_t n)
{
	search_needles = needles;
	search_count = n;
	searched_files = 0;
	assert_int_equal(nftw(dir, search_one, 16, FTW_PHYS), 0);
	/* store.db, -wal, -shm, xiezhi.conf, 3 key files, audit checkpoint */
	assert_true(searched_files >= 7);
}

static void
test_no_plaintext_on_disk(void **state)
{
	struct fixture *f = *state;
	char *csv = write_csv(f, "good.csv", good_csv);
	struct xz_import_spec s;
	struct xz_import_result r;
	struct xz_diag d;
	const char *const needles[] = {
		ID1, ID2, ID3, "张三", "Li, Si", "王五", "1234.5", "2023-01-05",
		"2023-02-03", "2023-03-04", "deaths", "amount",
	};

	spec_for(&s, "deaths", csv);
	assert_int_equal(xz_dataset_import(f->node, &s, &r, &d), 0);
	/* before a checkpoint the rows sit in the WAL; search it too */
	assert_absent_in_tree(f->dir, needles, sizeof(needles) / sizeof(needles[0]));
	/* the search must be able to see plaintext: the CSV itself has it */
	size_t len;
	char *plain = xzt_read_file(csv, &len);
	assert_true(xzt_memmem(plain, len, ID1, strlen(ID1)));
	free(plain);
	xz_node_close(f->node);
	f->node = NULL;
	assert_int_equal(xz_node_open(f->dir, &f->node, &d), 0);
	assert_absent_in_tree(f->dir, needles, sizeof(needles) / sizeof(needles[0]));
	free(csv);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_import_good, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_rows_refuse_everything, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reject_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_replace_failure_keeps_old, setup, teardown),
		cmocka_unit_test_setup_teardown(test_append_and_duplicates, setup, teardown),
		cmocka_unit_test_setup_teardown(test_missing_column, setup, teardown),
		cmocka_unit_test_setup_teardown(test_drop, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_plaintext_on_disk, setup, teardown),
	};

	return cmocka_run_group_tests_name("dataset import", tests, NULL, NULL);
}
