/*
 * Dataset import: CSV in, normalised rows into the encrypted store, all in
 * one transaction.  Two threads share the work so both cores are used: a
 * reader parses and normalises rows into batches, the calling thread (the
 * only one that touches SQLite) inserts them.
 */
#include "dataset.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "audit.h"
#include "csvread.h"
#include "dataset_internal.h"

#define FIELD_BUF_CAP	(64 * 1024 + 16)
#define PROGRESS_EVERY	65536

/* ---- duplicate-key set ------------------------------------------------ */

/*
 * The keys seen so far, as 128-bit keyed SipHash values (random key, so a
 * crafted export cannot force collisions) in one open-addressing table.
 * Two different keys share a value with probability about n^2 / 2^128
 * (below 2^-74 for 10^8 keys), so the count of duplicates is exact for any
 * dataset a node will hold, while the table needs 16 bytes per key and one
 * cache line per lookup.
 */
struct keyslot {
	uint64_t a, b;		/* b has its low bit set in every used slot */
};

struct keyset {
	struct keyslot *slots;
	size_t cap, count;
	unsigned char sipkey[crypto_shorthash_siphashx24_KEYBYTES];
};

static int
keyset_init(struct keyset *s, uint64_t expected)
{
	memset(s, 0, sizeof(*s));
	s->cap = 1u << 16;
	while (s->cap < expected * 2 && s->cap < ((size_t)1 << 34))
		s->cap <<= 1;
	s->slots = calloc(s->cap, sizeof(*s->slots));
	randombytes_buf(s->sipkey, sizeof(s->sipkey));
	return s->slots != NULL ? 0 : -1;
}

static void
keyset_free(struct keyset *s)
{
	free(s->slots);
	s->slots = NULL;
	sodium_memzero(s->sipkey, sizeof(s->sipkey));
}

static void
keyset_insert_slot(struct keyslot *slots, size_t cap, struct keyslot v)
{
	size_t i = v.a & (cap - 1);

	while (slots[i].b != 0)
		i = (i + 1) & (cap - 1);
	slots[i] = v;
}

static int
keyset_grow(struct keyset *s)
{
	size_t ncap = s->cap * 2;
	struct keyslot *n = calloc(ncap, sizeof(*n));

	if (n == NULL)
		return -1;
	for (size_t i = 0; i < s->cap; i++)
		if (s->slots[i].b != 0)
			keyset_insert_slot(n, ncap, s->slots[i]);
	free(s->slots);
	s->slots = n;
	s->cap = ncap;
	return 0;
}

/* Adds k; *dup = 1 when it was already there.  -1 on out of memory. */
static int
keyset_add(struct keyset *s, const char *k, size_t n, int *dup)
{
	unsigned char h[crypto_shorthash_siphashx24_BYTES];
	struct keyslot v;
	size_t i;

	crypto_shorthash_siphashx24(h, (const unsigned char *)k, n, s->sipkey);
	memcpy(&v.a, h, 8);
	memcpy(&v.b, h + 8, 8);
	v.b |= 1;
	for (i = v.a & (s->cap - 1); s->slots[i].b != 0; i = (i + 1) & (s->cap - 1)) {
		if (s->slots[i].a == v.a && s->slots[i].b == v.b) {
			*dup = 1;
			return 0;
		}
	}
	*dup = 0;
	s->slots[i] = v;
	if (++s->count * 2 > s->cap)
		return keyset_grow(s);
	return 0;
}

/* An append must bring exactly the columns and types already stored. */
static int
check_append_schema(struct xz_node *node, const struct xz_dataset_row *ex,
    const struct xz_import_spec *spec, struct xz_diag *d)
{
	sqlite3_stmt *st = NULL;
	size_t i = 0;
	int rc = 0;

	if (strcmp(ex->key_column, spec->key.name) != 0 ||
	    strcmp(ex->key_type, xz_coltype_name(spec->key.type)) != 0)
		return xz_diag_set(d, "dataset '%s' is keyed on %s:%s; --append must use "
		    "the same --key", spec->dataset, ex->key_column, ex->key_type);
	if (sqlite3_prepare_v2(xz_node_db(node), "SELECT name, type FROM dataset_columns"
	    " WHERE dataset_id = ? ORDER BY pos", -1, &st, NULL) != SQLITE_OK)
		return xz_node_db_error(node, "reading the dataset's columns", d);
	sqlite3_bind_int64(st, 1, ex->id);
	while (rc == 0 && sqlite3_step(st) == SQLITE_ROW) {
		const char *name = (const char *)sqlite3_column_text(st, 0);
		const char *type = (const char *)sqlite3_column_text(st, 1);
		if (i >= spec->ncolumns || strcmp(name, spec->columns[i].name) != 0 ||
		    strcmp(type, xz_coltype_name(spec->columns[i].type)) != 0)
			rc = xz_diag_set(d, "dataset '%s' has a different column %zu "
			    "(%s:%s); --append must list the same --column options in "
			    "the same order (see 'xiezhi dataset show %s')", spec->dataset,
			    i + 1, name, type, spec->dataset);
		i++;
	}
	sqlite3_finalize(st);
	if (rc == 0 && i != spec->ncolumns)
		rc = xz_diag_set(d, "dataset '%s' has %zu columns besides the key, this "
		    "import lists %zu; --append must bring the same columns",
		    spec->dataset, i, spec->ncolumns);
	return rc;
}

/* ---- the import run --------------------------------------------------- */

/*
 * Rows travel from the reader thread to the inserting thread in batches:
 * the normalised values of up to BATCH_ROWS rows packed in one arena.
 */
#define BATCH_ROWS	4096
#define NBATCHES	4
#define ARENA_START	(1 << 20)
#define VALUE_NULL	UINT32_MAX

struct row_batch {
	size_t nrows;
	char *arena;
	size_t used, cap;
	uint32_t *off;		/* BATCH_ROWS * nvals */
	uint32_t *len;		/* VALUE_NULL for an empty cell */
};

struct batch_queue {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct row_batch *full[NBATCHES];
	size_t full_head, nfull;
	struct row_batch *spare[NBATCHES];
	size_t nspare;
	struct row_batch all[NBATCHES];
	int ready;		/* queue_init ran: the mutex exists */
	int done;		/* the reader has pushed its last batch */
	int abort;		/* the inserter failed: the reader stops */
};

struct import_run {
	struct xz_node *node;
	const struct xz_import_spec *spec;
	struct xz_import_result *res;
	struct xz_dataset_row ex;
	struct xz_csv *csv;
	size_t nheader;
	size_t key_idx;
	size_t col_idx[XZ_DATASET_MAX_COLUMNS];
	char table[64];
	sqlite3_stmt *insert;
	struct keyset keys;
	char *bufs[XZ_DATASET_MAX_COLUMNS + 1];
	size_t lens[XZ_DATASET_MAX_COLUMNS + 1];
	FILE *reject;
	char *reject_tmp;
	struct timespec t0;
	struct batch_queue queue;
	struct xz_diag reader_diag;	/* why the reader stopped, when it failed */
	int reader_failed;
};

static double
elapsed_since(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

static int
field_is(const char *field, size_t len, const char *name)
{
	while (len > 0 && (*field == ' ' || *field == '\t')) {
		field++;
		len--;
	}
	while (len > 0 && (field[len - 1] == ' ' || field[len - 1] == '\t'))
		len--;
	return len == strlen(name) && memcmp(field, name, len) == 0;
}

/*
 * Column names are short and hold no long digit runs; a data row holds ID
 * numbers, phones, amounts.  Only a line that looks like names is echoed
 * in an error, so a missing header never prints a person's data.
 */
static int
header_looks_like_names(const char *const *fields, const size_t *lens, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		size_t run = 0;
		if (lens[i] > 64)
			return 0;
		for (size_t k = 0; k < lens[i]; k++) {
			run = fields[i][k] >= '0' && fields[i][k] <= '9' ? run + 1 : 0;
			if (run >= 5)
				return 0;
		}
	}
	return 1;
}

static int
find_header_column(struct import_run *r, const char *const *fields,
    const size_t *lens, const char *name, size_t *idx, struct xz_diag *d)
{
	size_t found = SIZE_MAX;
	char have[512] = "";
	size_t used = 0;

	for (size_t i = 0; i < r->nheader; i++) {
		if (!field_is(fields[i], lens[i], name))
			continue;
		if (found != SIZE_MAX)
			return xz_diag_set(d, "%s: the header names column '%s' twice "
			    "(columns %zu and %zu); rename one in the export",
			    r->spec->csv_path, name, found + 1, i + 1);
		found = i;
	}
	if (found != SIZE_MAX) {
		*idx = found;
		return 0;
	}
	if (!header_looks_like_names(fields, lens, r->nheader))
		return xz_diag_set(d, "%s: no column '%s' in the first line, and the "
		    "first line does not look like a header (it has %zu fields that "
		    "look like data). The export needs a header line naming its "
		    "columns", r->spec->csv_path, name, r->nheader);
	for (size_t i = 0; i < r->nheader && used + 4 < sizeof(have); i++) {
		int w = snprintf(have + used, sizeof(have) - used, "%s%.*s",
		    i ? ", " : "", (int)lens[i], fields[i]);
		if (w < 0 || (size_t)w >= sizeof(have) - used)
			break;
		used += (size_t)w;
	}
	return xz_diag_set(d, "%s: no column '%s' in the header line (it has: %s); "
	    "check the name given to --key/--column", r->spec->csv_path, name, have);
}

static int
read_header(struct import_run *r, struct xz_diag *d)
{
	const char *const *fields;
	const size_t *lens;
	uint64_t line;
	int rc = xz_csv_next(r->csv, &fields, &lens, &r->nheader, &line, d);

	if (rc < 0)
		return -1;
	if (rc == 0)
		return xz_diag_set(d, "%s is empty: expected a header line naming the "
		    "columns, then one line per record", r->spec->csv_path);
	if (find_header_column(r, fields, lens, r->spec->key.name, &r->key_idx, d) != 0)
		return -1;
	for (size_t i = 0; i < r->spec->ncolumns; i++) {
		if (strcmp(r->spec->columns[i].name, r->spec->key.name) == 0)
			return xz_diag_set(d, "column '%s' is already the key; do not "
			    "list it again with --column", r->spec->key.name);
		for (size_t j = 0; j < i; j++)
			if (strcmp(r->spec->columns[i].name, r->spec->columns[j].name) == 0)
				return xz_diag_set(d, "--column '%s' is given twice",
				    r->spec->columns[i].name);
		if (find_header_column(r, fields, lens, r->spec->columns[i].name,
		    &r->col_idx[i], d) != 0)
			return -1;
	}
	if (r->reject != NULL) {
		fputs("line,column,position,reason", r->reject);
		for (size_t i = 0; i < r->nheader; i++) {
			fputc(',', r->reject);
			/* the header is written back verbatim for the operator */
			fputc('"', r->reject);
			for (size_t k = 0; k < lens[i]; k++) {
				if (fields[i][k] == '"')
					fputc('"', r->reject);
				fputc(fields[i][k], r->reject);
			}
			fputc('"', r->reject);
		}
		fputc('\n', r->reject);
	}
	return 0;
}

static void
csv_quote(FILE *f, const char *s, size_t n)
{
	fputc('"', f);
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '"')
			fputc('"', f);
		fputc(s[i], f);
	}
	fputc('"', f);
}

static void
note_problem(struct import_run *r, uint64_t line, const char *column, size_t pos,
    const char *reason, const char *const *fields, const size_t *lens, size_t n)
{
	struct xz_import_result *res = r->res;

	res->rows_rejected++;
	if (res->nproblems < XZ_IMPORT_PROBLEMS_LISTED) {
		struct xz_import_problem *p = &res->problems[res->nproblems++];
		p->line = line;
		p->pos = pos;
		snprintf(p->column, sizeof(p->column), "%s", column);
		snprintf(p->reason, sizeof(p->reason), "%s", reason);
	}
	if (r->reject == NULL)
		return;
	fprintf(r->reject, "%llu,", (unsigned long long)line);
	csv_quote(r->reject, column, strlen(column));
	fprintf(r->reject, ",%zu,", pos);
	csv_quote(r->reject, reason, strlen(reason));
	for (size_t i = 0; i < n; i++) {
		fputc(',', r->reject);
		csv_quote(r->reject, fields[i], lens[i]);
	}
	fputc('\n', r->reject);
}

static int
exec_sql(struct xz_node *node, const char *sql, struct xz_diag *d)
{
	if (sqlite3_exec(xz_node_db(node), sql, NULL, NULL, NULL) != SQLITE_OK)
		return xz_node_db_error(node, "writing the dataset", d);
	return 0;
}

static int
create_table(struct import_run *r, struct xz_diag *d)
{
	unsigned char rnd[8];
	char sql[4096];
	size_t used;

	randombytes_buf(rnd, sizeof(rnd));
	memcpy(r->table, "ds_", 3);
	sodium_bin2hex(r->table + 3, sizeof(r->table) - 3, rnd, sizeof(rnd));
	used = (size_t)snprintf(sql, sizeof(sql), "CREATE TABLE %s (k TEXT NOT NULL",
	    r->table);
	for (size_t i = 0; i < r->spec->ncolumns; i++)
		used += (size_t)snprintf(sql + used, sizeof(sql) - used, ", c%zu %s", i + 1,
		    r->spec->columns[i].type == XZ_COL_INT ? "INTEGER" : "TEXT");
	snprintf(sql + used, sizeof(sql) - used, ");");
	return exec_sql(r->node, sql, d);
}

static int
prepare_insert(struct import_run *r, struct xz_diag *d)
{
	char sql[4096];
	size_t used = (size_t)snprintf(sql, sizeof(sql), "INSERT INTO %s VALUES (?",
	    r->table);

	for (size_t i = 0; i < r->spec->ncolumns; i++)
		used += (size_t)snprintf(sql + used, sizeof(sql) - used, ", ?");
	snprintf(sql + used, sizeof(sql) - used, ")");
	if (sqlite3_prepare_v2(xz_node_db(r->node), sql, -1, &r->insert, NULL) != SQLITE_OK)
		return xz_node_db_error(r->node, "preparing the import", d);
	return 0;
}

/* For --append: duplicates count against the rows already stored. */
static int
load_existing_keys(struct import_run *r, struct xz_diag *d)
{
	char sql[128];
	sqlite3_stmt *st = NULL;
	int dup, rc;

	snprintf(sql, sizeof(sql), "SELECT k FROM %s", r->table);
	if (sqlite3_prepare_v2(xz_node_db(r->node), sql, -1, &st, NULL) != SQLITE_OK)
		return xz_node_db_error(r->node, "reading the stored keys", d);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (keyset_add(&r->keys, (const char *)sqlite3_column_text(st, 0),
		    (size_t)sqlite3_column_bytes(st, 0), &dup) != 0) {
			sqlite3_finalize(st);
			return xz_diag_set(d, "out of memory");
		}
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : xz_node_db_error(r->node, "reading the stored keys", d);
}

/* The normaliser has already checked the digits and the int64 range. */
static int64_t
parse_int64(const char *s, size_t n)
{
	char buf[32];

	if (n >= sizeof(buf))
		n = sizeof(buf) - 1;
	memcpy(buf, s, n);
	buf[n] = '\0';
	return strtoll(buf, NULL, 10);
}

/*
 * Normalises the row's key and columns into r->bufs.  Returns 0, or 1 when
 * the row is refused (problem noted).
 */
static int
normalise_row(struct import_run *r, const char *const *fields, const size_t *lens,
    size_t n, uint64_t line)
{
	const struct xz_import_spec *spec = r->spec;
	const char *reason;
	size_t pos;

	if (n != r->nheader) {
		char why[96];
		snprintf(why, sizeof(why), "row has %zu fields, the header has %zu", n,
		    r->nheader);
		note_problem(r, line, "(row)", 0, why, fields, lens, n);
		return 1;
	}
	if (xz_normalize(spec->key.type, fields[r->key_idx], lens[r->key_idx], r->bufs[0],
	    FIELD_BUF_CAP, &r->lens[0], &reason, &pos) != 0) {
		note_problem(r, line, spec->key.name, pos, reason, fields, lens, n);
		return 1;
	}
	if (r->lens[0] == 0) {
		note_problem(r, line, spec->key.name, 0, "the key is empty", fields, lens, n);
		return 1;
	}
	for (size_t i = 0; i < spec->ncolumns; i++) {
		size_t f = r->col_idx[i];
		if (xz_field_is_blank(fields[f], lens[f])) {	/* an empty cell is NULL */
			r->lens[i + 1] = SIZE_MAX;
			continue;
		}
		if (xz_normalize(spec->columns[i].type, fields[f], lens[f], r->bufs[i + 1],
		    FIELD_BUF_CAP, &r->lens[i + 1], &reason, &pos) != 0) {
			note_problem(r, line, spec->columns[i].name, pos, reason, fields,
			    lens, n);
			return 1;
		}
	}
	return 0;
}

static int
queue_init(struct batch_queue *q, size_t nvals)
{
	memset(q, 0, sizeof(*q));
	pthread_mutex_init(&q->mu, NULL);
	pthread_cond_init(&q->cv, NULL);
	q->ready = 1;
	for (size_t i = 0; i < NBATCHES; i++) {
		struct row_batch *b = &q->all[i];
		b->cap = ARENA_START;
		b->arena = malloc(b->cap);
		b->off = calloc(BATCH_ROWS * nvals, sizeof(uint32_t));
		b->len = calloc(BATCH_ROWS * nvals, sizeof(uint32_t));
		if (b->arena == NULL || b->off == NULL || b->len == NULL)
			return -1;
		q->spare[q->nspare++] = b;
	}
	return 0;
}

/* The arenas held identifiers in clear: wipe them before freeing. */
static void
queue_free(struct batch_queue *q)
{
	if (!q->ready)
		return;
	for (size_t i = 0; i < NBATCHES; i++) {
		struct row_batch *b = &q->all[i];
		if (b->arena != NULL)
			sodium_memzero(b->arena, b->cap);
		free(b->arena);
		free(b->off);
		free(b->len);
	}
	pthread_mutex_destroy(&q->mu);
	pthread_cond_destroy(&q->cv);
}

/* Reader side: an empty batch to fill, or NULL when the inserter gave up. */
static struct row_batch *
queue_take_spare(struct batch_queue *q)
{
	struct row_batch *b = NULL;

	pthread_mutex_lock(&q->mu);
	while (q->nspare == 0 && !q->abort)
		pthread_cond_wait(&q->cv, &q->mu);
	if (!q->abort) {
		b = q->spare[--q->nspare];
		b->nrows = 0;
		b->used = 0;
	}
	pthread_mutex_unlock(&q->mu);
	return b;
}

static void
queue_push_full(struct batch_queue *q, struct row_batch *b, int last)
{
	pthread_mutex_lock(&q->mu);
	if (b != NULL)
		q->full[(q->full_head + q->nfull++) % NBATCHES] = b;
	if (last)
		q->done = 1;
	pthread_cond_broadcast(&q->cv);
	pthread_mutex_unlock(&q->mu);
}

/* Inserter side: the next full batch, or NULL when the reader is done. */
static struct row_batch *
queue_take_full(struct batch_queue *q)
{
	struct row_batch *b = NULL;

	pthread_mutex_lock(&q->mu);
	while (q->nfull == 0 && !q->done)
		pthread_cond_wait(&q->cv, &q->mu);
	if (q->nfull > 0) {
		b = q->full[q->full_head];
		q->full_head = (q->full_head + 1) % NBATCHES;
		q->nfull--;
	}
	pthread_mutex_unlock(&q->mu);
	return b;
}

static void
queue_return_spare(struct batch_queue *q, struct row_batch *b)
{
	pthread_mutex_lock(&q->mu);
	q->spare[q->nspare++] = b;
	pthread_cond_broadcast(&q->cv);
	pthread_mutex_unlock(&q->mu);
}

static void
queue_abort(struct batch_queue *q)
{
	pthread_mutex_lock(&q->mu);
	q->abort = 1;
	pthread_cond_broadcast(&q->cv);
	pthread_mutex_unlock(&q->mu);
}

/*
 * Copies the row normalised in r->bufs into b.  Returns 1 when b has no
 * room left for it (push b and retry with an empty batch), -1 when out of
 * memory.
 */
static int
batch_add_row(struct import_run *r, struct row_batch *b)
{
	size_t nvals = r->spec->ncolumns + 1, need = 0;
	uint32_t *off = b->off + b->nrows * nvals, *len = b->len + b->nrows * nvals;

	for (size_t i = 0; i < nvals; i++)
		need += r->lens[i] == SIZE_MAX ? 0 : r->lens[i];
	if (b->nrows == BATCH_ROWS || (b->used + need > b->cap && b->nrows > 0))
		return 1;
	if (b->used + need > b->cap) {
		char *bigger = malloc(need);
		if (bigger == NULL)
			return -1;
		sodium_memzero(b->arena, b->cap);
		free(b->arena);
		b->arena = bigger;
		b->cap = need;
	}
	for (size_t i = 0; i < nvals; i++) {
		if (r->lens[i] == SIZE_MAX) {
			len[i] = VALUE_NULL;
			continue;
		}
		memcpy(b->arena + b->used, r->bufs[i], r->lens[i]);
		off[i] = (uint32_t)b->used;
		len[i] = (uint32_t)r->lens[i];
		b->used += r->lens[i];
	}
	b->nrows++;
	return 0;
}

/* One CSV record: normalise, count duplicates, queue for insertion. */
static int
read_one_row(struct import_run *r, const char *const *fields, const size_t *lens,
    size_t n, uint64_t line, struct row_batch **b, struct xz_diag *d)
{
	struct xz_import_result *res = r->res;
	int dup, added;

	res->rows_read++;
	if (r->spec->progress != NULL && res->rows_read % PROGRESS_EVERY == 0)
		r->spec->progress(r->spec->progress_arg, xz_csv_bytes_read(r->csv),
		    xz_csv_file_size(r->csv), res->rows_read);
	if (normalise_row(r, fields, lens, n, line) != 0)
		return 0;
	if (keyset_add(&r->keys, r->bufs[0], r->lens[0], &dup) != 0)
		return xz_diag_set(d, "out of memory while checking duplicate keys");
	res->duplicates += (uint64_t)dup;
	/* Without a reject file one bad row refuses the whole import: keep
	 * reading to report every bad row, but queue nothing more. */
	if (res->rows_rejected > 0 && r->reject == NULL)
		return 0;
	while ((added = batch_add_row(r, *b)) == 1) {
		queue_push_full(&r->queue, *b, 0);
		if ((*b = queue_take_spare(&r->queue)) == NULL)
			return -1;	/* the inserter failed; it has the reason */
	}
	return added == 0 ? 0 : xz_diag_set(d, "out of memory while batching rows");
}

static void *
reader_main(void *arg)
{
	struct import_run *r = arg;
	struct row_batch *b = queue_take_spare(&r->queue);
	const char *const *fields;
	const size_t *lens;
	size_t n;
	uint64_t line;
	int rc = 0;

	while (b != NULL && (rc = xz_csv_next(r->csv, &fields, &lens, &n, &line,
	    &r->reader_diag)) == 1) {
		if (read_one_row(r, fields, lens, n, line, &b, &r->reader_diag) != 0) {
			rc = -1;
			break;
		}
	}
	/* The hash covers exactly the bytes this import parsed (one pass, so a
	 * pipe works and a file rewritten meanwhile cannot be misdescribed). */
	if (rc == 0) {
		unsigned char md[32];
		if (xz_csv_sha256(r->csv, md) == 0)
			sodium_bin2hex(r->res->source_sha256, sizeof(r->res->source_sha256),
			    md, sizeof(md));
		else
			rc = xz_diag_set(&r->reader_diag, "%s: cannot hash the file",
			    r->spec->csv_path);
	}
	r->reader_failed = rc < 0;
	queue_push_full(&r->queue, b != NULL && b->nrows > 0 ? b : NULL, 1);
	if (b != NULL && b->nrows == 0)
		queue_return_spare(&r->queue, b);
	return NULL;
}

static int
insert_batch(struct import_run *r, const struct row_batch *b, struct xz_diag *d)
{
	sqlite3_stmt *st = r->insert;
	size_t nvals = r->spec->ncolumns + 1;

	for (size_t row = 0; row < b->nrows; row++) {
		const uint32_t *off = b->off + row * nvals, *len = b->len + row * nvals;
		if (r->spec->fail_after_rows != 0 &&
		    r->res->rows_imported == r->spec->fail_after_rows)
			return xz_diag_set(d, "injected failure after %llu rows (test)",
			    (unsigned long long)r->res->rows_imported);
		sqlite3_bind_text(st, 1, b->arena + off[0], (int)len[0], SQLITE_STATIC);
		for (size_t i = 1; i < nvals; i++) {
			int col = (int)i + 1;
			if (len[i] == VALUE_NULL)
				sqlite3_bind_null(st, col);
			else if (r->spec->columns[i - 1].type == XZ_COL_INT)
				sqlite3_bind_int64(st, col, parse_int64(b->arena + off[i], len[i]));
			else
				sqlite3_bind_text(st, col, b->arena + off[i], (int)len[i],
				    SQLITE_STATIC);
		}
		int rc = sqlite3_step(st);
		sqlite3_reset(st);
		if (rc != SQLITE_DONE)
			return xz_node_db_error(r->node, "storing a row", d);
		r->res->rows_imported++;
	}
	return 0;
}

/*
 * Runs the reader thread and inserts what it produces.  Whichever side
 * fails first stops the other; the transaction is then rolled back by the
 * caller.
 */
static int
import_rows(struct import_run *r, struct xz_diag *d)
{
	struct row_batch *b;
	pthread_t reader;
	int rc = 0;

	if (queue_init(&r->queue, r->spec->ncolumns + 1) != 0)
		return xz_diag_set(d, "out of memory");
	if (pthread_create(&reader, NULL, reader_main, r) != 0)
		return xz_diag_set(d, "cannot start the reader thread");
	while ((b = queue_take_full(&r->queue)) != NULL) {
		if (rc == 0 && insert_batch(r, b, d) != 0) {
			rc = -1;
			queue_abort(&r->queue);
		}
		queue_return_spare(&r->queue, b);
	}
	pthread_join(reader, NULL);
	if (rc == 0 && r->reader_failed) {
		*d = r->reader_diag;
		rc = -1;
	}
	return rc;
}

/*
 * The import's audit record joins the import's transaction: the rows and
 * the record that says they arrived commit together or not at all.  It
 * holds counts and the source file's hash, never a value from the file.
 */
static int
audit_import(struct import_run *r, struct xz_diag *d)
{
	const struct xz_import_result *res = r->res;
	int replaced = r->ex.found && r->spec->mode == XZ_IMPORT_REPLACE;
	struct xz_audit_field f[] = {
		{ .name = "dataset", .kind = XZ_AUDIT_STR, .str = r->spec->dataset },
		{ .name = "rows", .kind = XZ_AUDIT_INT, .num = res->rows_imported },
		{ .name = "mode", .kind = XZ_AUDIT_STR,
		  .str = !r->ex.found ? "create" : replaced ? "replace" : "append" },
		{ .name = "key_type", .kind = XZ_AUDIT_STR,
		  .str = xz_coltype_name(r->spec->key.type) },
		{ .name = "rows_read", .kind = XZ_AUDIT_INT, .num = res->rows_read },
		{ .name = "rows_rejected", .kind = XZ_AUDIT_INT, .num = res->rows_rejected },
		{ .name = "duplicates", .kind = XZ_AUDIT_INT, .num = res->duplicates },
		{ .name = "source_sha256", .kind = XZ_AUDIT_HASH },
	};
	struct xz_audit_event ev = {
		.type = replaced ? XZ_AUDIT_DATASET_REPLACED : XZ_AUDIT_DATASET_IMPORTED,
		.actor = r->spec->actor != NULL ? r->spec->actor : "local operator",
		.fields = f,
		.nfields = sizeof(f) / sizeof(f[0]),
	};

	if (sodium_hex2bin(f[7].hash, sizeof(f[7].hash), res->source_sha256,
	    strlen(res->source_sha256), NULL, NULL, NULL) != 0)
		return xz_diag_set(d, "internal error: bad source hash");
	return xz_audit_append(r->node, &ev, NULL, d);
}

static int
record_catalogue(struct import_run *r, struct xz_diag *d)
{
	sqlite3 *db = xz_node_db(r->node);
	const struct xz_import_spec *spec = r->spec;
	sqlite3_stmt *st = NULL;
	int64_t now = (int64_t)time(NULL), id = r->ex.id;
	int ok = 1;

	if (!r->ex.found || spec->mode != XZ_IMPORT_APPEND) {
		if (r->ex.found) {
			char sql[128];
			snprintf(sql, sizeof(sql), "DROP TABLE %s;", r->ex.table);
			if (exec_sql(r->node, sql, d) != 0)
				return -1;
			ok = sqlite3_prepare_v2(db, "UPDATE datasets SET key_column = ?2,"
			    " key_type = ?3, row_count = ?4, table_name = ?5, updated_at = ?6"
			    " WHERE id = ?1", -1, &st, NULL) == SQLITE_OK;
		} else {
			ok = sqlite3_prepare_v2(db, "INSERT INTO datasets (id, key_column,"
			    " key_type, row_count, table_name, updated_at, created_at, name)"
			    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6, ?7)", -1, &st, NULL) == SQLITE_OK;
		}
		if (ok) {
			if (r->ex.found)
				sqlite3_bind_int64(st, 1, id);
			else
				sqlite3_bind_null(st, 1);
			sqlite3_bind_text(st, 2, spec->key.name, -1, SQLITE_STATIC);
			sqlite3_bind_text(st, 3, xz_coltype_name(spec->key.type), -1,
			    SQLITE_STATIC);
			sqlite3_bind_int64(st, 4, (int64_t)r->res->rows_imported);
			sqlite3_bind_text(st, 5, r->table, -1, SQLITE_STATIC);
			sqlite3_bind_int64(st, 6, now);
			if (!r->ex.found)
				sqlite3_bind_text(st, 7, spec->dataset, -1, SQLITE_STATIC);
			ok = sqlite3_step(st) == SQLITE_DONE;
		}
		sqlite3_finalize(st);
		if (!ok)
			return xz_node_db_error(r->node, "updating the dataset catalogue", d);
		if (!r->ex.found)
			id = sqlite3_last_insert_rowid(db);
		if (sqlite3_prepare_v2(db, "DELETE FROM dataset_columns WHERE dataset_id = ?",
		    -1, &st, NULL) != SQLITE_OK)
			return xz_node_db_error(r->node, "updating the dataset catalogue", d);
		sqlite3_bind_int64(st, 1, id);
		ok = sqlite3_step(st) == SQLITE_DONE;
		sqlite3_finalize(st);
		for (size_t i = 0; ok && i < spec->ncolumns; i++) {
			ok = sqlite3_prepare_v2(db, "INSERT INTO dataset_columns (dataset_id,"
			    " pos, name, type) VALUES (?, ?, ?, ?)", -1, &st, NULL) == SQLITE_OK;
			if (!ok)
				break;
			sqlite3_bind_int64(st, 1, id);
			sqlite3_bind_int64(st, 2, (int64_t)i + 1);
			sqlite3_bind_text(st, 3, spec->columns[i].name, -1, SQLITE_STATIC);
			sqlite3_bind_text(st, 4, xz_coltype_name(spec->columns[i].type), -1,
			    SQLITE_STATIC);
			ok = sqlite3_step(st) == SQLITE_DONE;
			sqlite3_finalize(st);
		}
	} else {
		ok = sqlite3_prepare_v2(db, "UPDATE datasets SET row_count = row_count + ?,"
		    " updated_at = ? WHERE id = ?", -1, &st, NULL) == SQLITE_OK;
		if (ok) {
			sqlite3_bind_int64(st, 1, (int64_t)r->res->rows_imported);
			sqlite3_bind_int64(st, 2, now);
			sqlite3_bind_int64(st, 3, id);
			ok = sqlite3_step(st) == SQLITE_DONE;
		}
		sqlite3_finalize(st);
	}
	if (ok)
		ok = sqlite3_prepare_v2(db, "INSERT INTO dataset_imports (dataset_id, at,"
		    " mode, source_sha256, rows_read, rows_imported, rows_rejected,"
		    " duplicates, elapsed_ms) VALUES (?,?,?,?,?,?,?,?,?)", -1, &st,
		    NULL) == SQLITE_OK;
	if (ok) {
		static const char *const modes[] = { "create", "replace", "append" };
		sqlite3_bind_int64(st, 1, id);
		sqlite3_bind_int64(st, 2, now);
		sqlite3_bind_text(st, 3, r->ex.found ? modes[spec->mode] : "create", -1,
		    SQLITE_STATIC);
		sqlite3_bind_text(st, 4, r->res->source_sha256, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 5, (int64_t)r->res->rows_read);
		sqlite3_bind_int64(st, 6, (int64_t)r->res->rows_imported);
		sqlite3_bind_int64(st, 7, (int64_t)r->res->rows_rejected);
		sqlite3_bind_int64(st, 8, (int64_t)r->res->duplicates);
		sqlite3_bind_int64(st, 9, (int64_t)(elapsed_since(&r->t0) * 1000));
		ok = sqlite3_step(st) == SQLITE_DONE;
		sqlite3_finalize(st);
	}
	if (!ok)
		return xz_node_db_error(r->node, "recording the import", d);
	return audit_import(r, d);
}

/*
 * The reject file holds rows in the clear.  It is written to a fresh
 * temporary file (mkstemp: created exclusively, mode 0600, so nobody can
 * plant it beforehand) and linked under its name only when complete.
 */
static int
open_reject_file(struct import_run *r, struct xz_diag *d)
{
	size_t n = strlen(r->spec->reject_path) + 16;
	struct stat st;
	int fd;

	if (lstat(r->spec->reject_path, &st) == 0)
		return xz_diag_set(d, "the reject file %s already exists; remove it or "
		    "choose another --reject-file", r->spec->reject_path);
	if ((r->reject_tmp = malloc(n)) == NULL)
		return xz_diag_set(d, "out of memory");
	snprintf(r->reject_tmp, n, "%s.XXXXXX", r->spec->reject_path);
	fd = mkstemp(r->reject_tmp);
	if (fd < 0 || fchmod(fd, 0600) != 0 || (r->reject = fdopen(fd, "w")) == NULL) {
		xz_diag_set(d, "cannot create a reject file next to %s: %s",
		    r->spec->reject_path, strerror(errno));
		if (fd >= 0) {
			close(fd);
			unlink(r->reject_tmp);
		}
		free(r->reject_tmp);
		r->reject_tmp = NULL;
		return -1;
	}
	return 0;
}

/*
 * keep: sync the reject file and give it its name (link refuses to
 * replace a file that appeared meanwhile).  Called before the import
 * commits, so a reject file that cannot be written stops the import.
 */
static int
finish_reject_file(struct import_run *r, int keep, struct xz_diag *d)
{
	int rc = 0;

	if (r->reject == NULL)
		return 0;
	if (keep && (fflush(r->reject) != 0 || ferror(r->reject) ||
	    fsync(fileno(r->reject)) != 0))
		rc = xz_diag_set(d, "cannot write the reject file %s: %s",
		    r->spec->reject_path, strerror(errno));
	if (fclose(r->reject) != 0 && keep && rc == 0)
		rc = xz_diag_set(d, "cannot write the reject file %s: %s",
		    r->spec->reject_path, strerror(errno));
	r->reject = NULL;
	if (keep && rc == 0 && link(r->reject_tmp, r->spec->reject_path) != 0)
		rc = xz_diag_set(d, "cannot create the reject file %s: %s",
		    r->spec->reject_path, strerror(errno));
	unlink(r->reject_tmp);
	free(r->reject_tmp);
	r->reject_tmp = NULL;
	return rc;
}

static int
check_mode(const struct xz_import_spec *spec, const struct xz_dataset_row *ex,
    struct xz_diag *d)
{
	if (ex->found && spec->mode == XZ_IMPORT_CREATE)
		return xz_diag_set(d, "dataset '%s' already exists: add --replace to swap "
		    "in the new data, or --append to add rows", spec->dataset);
	if (!ex->found && spec->mode == XZ_IMPORT_APPEND)
		return xz_diag_set(d, "dataset '%s' does not exist, so there is nothing "
		    "to append to: import it first without --append", spec->dataset);
	return 0;
}

static int
run_in_transaction(struct import_run *r, struct xz_diag *d)
{
	if (xz_dataset_lookup(r->node, r->spec->dataset, &r->ex, d) != 0 ||
	    check_mode(r->spec, &r->ex, d) != 0)
		return -1;
	if (r->ex.found && r->spec->mode == XZ_IMPORT_APPEND) {
		if (check_append_schema(r->node, &r->ex, r->spec, d) != 0)
			return -1;
		memcpy(r->table, r->ex.table, sizeof(r->table));
		if (load_existing_keys(r, d) != 0)
			return -1;
	} else if (create_table(r, d) != 0) {
		return -1;
	}
	if (prepare_insert(r, d) != 0 || read_header(r, d) != 0 || import_rows(r, d) != 0)
		return -1;
	if (r->res->rows_rejected > 0 && r->reject == NULL)
		return xz_diag_set(d, "%llu of %llu rows in %s were refused; nothing was "
		    "imported. Fix the rows listed, or pass --reject-file FILE to import "
		    "the valid rows and set the others aside",
		    (unsigned long long)r->res->rows_rejected,
		    (unsigned long long)r->res->rows_read, r->spec->csv_path);
	return record_catalogue(r, d);
}

static int
alloc_buffers(struct import_run *r)
{
	for (size_t i = 0; i <= r->spec->ncolumns; i++)
		if ((r->bufs[i] = malloc(FIELD_BUF_CAP)) == NULL)
			return -1;
	/* Sized from the file (about 40 bytes a row) so the table rarely grows. */
	return keyset_init(&r->keys, xz_csv_file_size(r->csv) / 40);
}

static void
free_run(struct import_run *r)
{
	for (size_t i = 0; i <= XZ_DATASET_MAX_COLUMNS; i++) {
		if (r->bufs[i] != NULL)
			sodium_memzero(r->bufs[i], FIELD_BUF_CAP);
		free(r->bufs[i]);
	}
	keyset_free(&r->keys);
	queue_free(&r->queue);
	if (r->insert != NULL)
		sqlite3_finalize(r->insert);
	if (r->csv != NULL)
		xz_csv_close(r->csv);
}

int
xz_dataset_import(struct xz_node *node, const struct xz_import_spec *spec,
    struct xz_import_result *result, struct xz_diag *d)
{
	struct import_run r = { .node = node, .spec = spec, .res = result };
	sqlite3 *db = xz_node_db(node);
	int rc = -1, in_txn = 0;

	memset(result, 0, sizeof(*result));
	clock_gettime(CLOCK_MONOTONIC, &r.t0);
	/* A node whose log was rolled back must not take new data. */
	if (xz_audit_check_anchor(node, d) != 0)
		return -1;
	if (!xz_dataset_name_valid(spec->dataset))
		return xz_diag_set(d, "dataset name '%s' is not valid: use 1 to %d "
		    "letters, digits, '.', '-' or '_'", spec->dataset, XZ_DATASET_NAME_MAX);
	if (spec->ncolumns > XZ_DATASET_MAX_COLUMNS)
		return xz_diag_set(d, "at most %d --column options are supported",
		    XZ_DATASET_MAX_COLUMNS);
	if (xz_csv_open(spec->csv_path, spec->encoding, &r.csv, d) != 0)
		goto done;
	if (alloc_buffers(&r) != 0) {
		xz_diag_set(d, "out of memory");
		goto done;
	}
	if (spec->reject_path != NULL && open_reject_file(&r, d) != 0)
		goto done;
	if (sqlite3_exec(db, "BEGIN IMMEDIATE;", NULL, NULL, NULL) != SQLITE_OK) {
		xz_node_db_error(node, "starting the import", d);
		goto done;
	}
	in_txn = 1;
	if (run_in_transaction(&r, d) != 0 || finish_reject_file(&r, 1, d) != 0)
		goto done;
	sqlite3_finalize(r.insert);
	r.insert = NULL;
	if (sqlite3_exec(db, "COMMIT;", NULL, NULL, NULL) != SQLITE_OK) {
		xz_node_db_error(node, "committing the import", d);
		if (spec->reject_path != NULL)	/* the rows it lists were not imported */
			unlink(spec->reject_path);
		goto done;
	}
	in_txn = 0;
	result->committed = 1;
	rc = xz_audit_publish(node, d);
done:
	if (in_txn) {
		if (r.insert != NULL) {
			sqlite3_finalize(r.insert);
			r.insert = NULL;
		}
		sqlite3_exec(db, "ROLLBACK;", NULL, NULL, NULL);
	}
	if (!result->committed)
		finish_reject_file(&r, 0, NULL);
	result->elapsed_s = elapsed_since(&r.t0);
	free_run(&r);
	return rc;
}

