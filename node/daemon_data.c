/*
 * Reading a dataset for a join (node/daemon_wire.h, struct xz_join_data).
 * Column and table names come from our own store, but are still checked
 * before they go into SQL text: a table name must be the [a-z0-9_] name
 * import gave it, a column is "k" or "c<pos>".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "daemon_wire.h"

#define MAX_LABELS XZ_POLICY_MAX_LABELS

struct ds_info {
	int64_t id;
	char key_column[XZ_NAME_MAX + 1];
	char table[128];
};

static int
table_name_ok(const char *s)
{
	if (*s == '\0' || strlen(s) > 100)
		return 0;
	for (; *s != '\0'; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_'))
			return 0;
	return 1;
}

static int
dataset_info(struct xz_node *node, const char *dataset, struct ds_info *info,
    struct xz_diag *d)
{
	sqlite3_stmt *st = NULL;
	int rc = -1, step;

	if (sqlite3_prepare_v2(xz_node_db(node), "SELECT id, key_column, table_name FROM "
	    "datasets WHERE name = ?", -1, &st, NULL) != SQLITE_OK)
		return xz_node_db_error(node, "looking up the dataset", d);
	sqlite3_bind_text(st, 1, dataset, -1, SQLITE_STATIC);
	step = sqlite3_step(st);
	if (step == SQLITE_DONE) {
		xz_diag_set(d, "there is no dataset '%s' on this node ('xiezhi dataset "
		    "list' shows them)", dataset);
		goto done;
	}
	if (step != SQLITE_ROW) {
		xz_node_db_error(node, "looking up the dataset", d);
		goto done;
	}
	info->id = sqlite3_column_int64(st, 0);
	snprintf(info->key_column, sizeof(info->key_column), "%s",
	    (const char *)sqlite3_column_text(st, 1));
	snprintf(info->table, sizeof(info->table), "%s",
	    (const char *)sqlite3_column_text(st, 2));
	if (!table_name_ok(info->table)) {
		xz_diag_set(d, "dataset '%s' has an unexpected table name in the store; "
		    "run 'xiezhi store check'", dataset);
		goto done;
	}
	rc = 0;
done:
	sqlite3_finalize(st);
	return rc;
}

/* "k" for the key column, "c<pos>" for another column of the dataset. */
static int
column_sql(struct xz_node *node, const struct ds_info *info, const char *dataset,
    const char *name, char out[24], struct xz_diag *d)
{
	sqlite3_stmt *st = NULL;
	int rc = -1, step;

	if (name == NULL || strcmp(name, info->key_column) == 0) {
		snprintf(out, 24, "k");
		return 0;
	}
	if (sqlite3_prepare_v2(xz_node_db(node), "SELECT pos FROM dataset_columns "
	    "WHERE dataset_id = ? AND name = ?", -1, &st, NULL) != SQLITE_OK)
		return xz_node_db_error(node, "looking up a column", d);
	sqlite3_bind_int64(st, 1, info->id);
	sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
	step = sqlite3_step(st);
	if (step == SQLITE_ROW) {
		int64_t pos = sqlite3_column_int64(st, 0);
		if (pos >= 1 && pos <= 64) {
			snprintf(out, 24, "c%d", (int)pos);
			rc = 0;
		} else {
			xz_diag_set(d, "column '%s' of dataset '%s' has a bad position in "
			    "the store", name, dataset);
		}
	} else if (step == SQLITE_DONE) {
		xz_diag_set(d, "dataset '%s' has no column '%s' ('xiezhi dataset show "
		    "%s' lists its columns)", dataset, name, dataset);
	} else {
		xz_node_db_error(node, "looking up a column", d);
	}
	sqlite3_finalize(st);
	return rc;
}

static int
grow(struct xz_join_data *jd, size_t *cap)
{
	size_t nc = *cap == 0 ? 1024 : *cap * 2;
	void *a, *b, *c, *e;

	if ((a = realloc(jd->elem, nc * sizeof(*jd->elem))) != NULL)
		jd->elem = a;
	if ((b = realloc(jd->elem_len, nc * sizeof(*jd->elem_len))) != NULL)
		jd->elem_len = b;
	if ((c = realloc(jd->label, nc * sizeof(*jd->label))) != NULL)
		jd->label = c;
	if ((e = realloc(jd->label_len, nc * sizeof(*jd->label_len))) != NULL)
		jd->label_len = e;
	if (a == NULL || b == NULL || c == NULL || e == NULL)
		return -1;
	*cap = nc;
	return 0;
}

/* Labels of one row: for each label column, u32 length | bytes. */
static int
row_labels(sqlite3_stmt *st, int first, size_t nlabels, uint8_t **out, size_t *len)
{
	size_t total = 0, off = 0;
	uint8_t *b;

	*out = NULL;
	*len = 0;
	if (nlabels == 0)
		return 0;
	for (size_t i = 0; i < nlabels; i++)
		total += 4 + (size_t)sqlite3_column_bytes(st, first + (int)i);
	if (total > XZ_PSI_MAX_LABEL_LEN)
		return -2;
	if ((b = malloc(total)) == NULL)
		return -1;
	for (size_t i = 0; i < nlabels; i++) {
		const unsigned char *v = sqlite3_column_text(st, first + (int)i);
		size_t n = (size_t)sqlite3_column_bytes(st, first + (int)i);
		b[off] = (uint8_t)(n >> 24); b[off + 1] = (uint8_t)(n >> 16);
		b[off + 2] = (uint8_t)(n >> 8); b[off + 3] = (uint8_t)n;
		if (n > 0)
			memcpy(b + off + 4, v, n);
		off += 4 + n;
	}
	*out = b;
	*len = total;
	return 0;
}

static int
read_rows(struct xz_node *node, sqlite3_stmt *st, size_t nlabels, struct xz_join_data *jd,
    struct xz_diag *d)
{
	size_t cap = 0;
	int step, r;

	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		const unsigned char *v = sqlite3_column_text(st, 0);
		size_t n = (size_t)sqlite3_column_bytes(st, 0);
		if (v == NULL || n == 0)
			continue;	/* no key: nothing to match */
		if (n > XZ_PSI_MAX_ELEMENT_LEN)
			return xz_diag_set(d, "a value of the join column is longer than "
			    "%d bytes", XZ_PSI_MAX_ELEMENT_LEN);
		if (jd->n == cap && grow(jd, &cap) != 0)
			return xz_diag_set(d, "out of memory reading the dataset");
		jd->label[jd->n] = NULL;
		jd->label_len[jd->n] = 0;
		if ((jd->elem[jd->n] = malloc(n)) == NULL)
			return xz_diag_set(d, "out of memory reading the dataset");
		memcpy(jd->elem[jd->n], v, n);
		jd->elem_len[jd->n] = n;
		jd->n++;
		r = row_labels(st, 1, nlabels, &jd->label[jd->n - 1], &jd->label_len[jd->n - 1]);
		if (r == -2)
			return xz_diag_set(d, "the label columns of a record hold more than "
			    "%d bytes", XZ_PSI_MAX_LABEL_LEN);
		if (r != 0)
			return xz_diag_set(d, "out of memory reading the dataset");
		if (jd->label_len[jd->n - 1] > jd->label_max)
			jd->label_max = jd->label_len[jd->n - 1];
	}
	if (step != SQLITE_DONE)
		return xz_node_db_error(node, "reading the dataset", d);
	return 0;
}

int
xz_join_data_load(struct xz_node *node, const char *dataset, const char *column,
    const char *const *labels, size_t nlabels, int distinct, struct xz_join_data **out,
    struct xz_diag *d)
{
	struct xz_join_data *jd = calloc(1, sizeof(*jd));
	struct ds_info info;
	char col[24], lab[24], sql[2048];
	sqlite3_stmt *st = NULL;
	size_t used;
	int rc = -1;

	if (jd == NULL)
		return xz_diag_set(d, "out of memory");
	if (nlabels > MAX_LABELS || (distinct && nlabels > 0)) {
		xz_diag_set(d, "internal: bad label list for a join");
		goto done;
	}
	if (dataset_info(node, dataset, &info, d) != 0 ||
	    column_sql(node, &info, dataset, column, col, d) != 0)
		goto done;
	snprintf(jd->key_column, sizeof(jd->key_column), "%s", info.key_column);
	/* Store (rowid) order, not value order: docs/protocol.md §7 "Positions". */
	if (distinct) {
		used = (size_t)snprintf(sql, sizeof(sql), "SELECT %s FROM %s WHERE %s IS NOT "
		    "NULL GROUP BY %s ORDER BY min(rowid)", col, info.table, col, col);
	} else {
		used = (size_t)snprintf(sql, sizeof(sql), "SELECT %s", col);
		for (size_t i = 0; i < nlabels; i++) {
			if (column_sql(node, &info, dataset, labels[i], lab, d) != 0)
				goto done;
			used += (size_t)snprintf(sql + used, sizeof(sql) - used, ", %s", lab);
		}
		used += (size_t)snprintf(sql + used, sizeof(sql) - used, " FROM %s ORDER BY "
		    "rowid", info.table);
	}
	if (used >= sizeof(sql)) {
		xz_diag_set(d, "internal: query too long");
		goto done;
	}
	if (sqlite3_prepare_v2(xz_node_db(node), sql, -1, &st, NULL) != SQLITE_OK) {
		xz_node_db_error(node, "reading the dataset", d);
		goto done;
	}
	if (read_rows(node, st, nlabels, jd, d) != 0)
		goto done;
	*out = jd;
	jd = NULL;
	rc = 0;
done:
	sqlite3_finalize(st);
	xz_join_data_free(jd);
	return rc;
}

int
xz_join_data_add(struct xz_join_data **jdp, size_t *cap, const uint8_t *v, size_t n,
    struct xz_diag *d)
{
	struct xz_join_data *jd = *jdp;

	if (jd == NULL) {
		if ((jd = calloc(1, sizeof(*jd))) == NULL)
			return xz_diag_set(d, "out of memory");
		*jdp = jd;
		*cap = 0;
	}
	if (n == 0 || n > XZ_PSI_MAX_ELEMENT_LEN)
		return xz_diag_set(d, "a join value must be 1 to %d bytes",
		    XZ_PSI_MAX_ELEMENT_LEN);
	if (jd->n == *cap && grow(jd, cap) != 0)
		return xz_diag_set(d, "out of memory");
	if ((jd->elem[jd->n] = malloc(n)) == NULL)
		return xz_diag_set(d, "out of memory");
	memcpy(jd->elem[jd->n], v, n);
	jd->elem_len[jd->n] = n;
	jd->label[jd->n] = NULL;
	jd->label_len[jd->n] = 0;
	jd->n++;
	return 0;
}

void
xz_join_data_free(struct xz_join_data *jd)
{
	if (jd == NULL)
		return;
	for (size_t i = 0; i < jd->n; i++) {
		sodium_memzero(jd->elem[i], jd->elem_len[i]);
		free(jd->elem[i]);
		if (jd->label[i] != NULL) {
			sodium_memzero(jd->label[i], jd->label_len[i]);
			free(jd->label[i]);
		}
	}
	free(jd->elem);
	free(jd->elem_len);
	free(jd->label);
	free(jd->label_len);
	free(jd);
}

int
xz_join_data_source(void *ctx, uint64_t index, const uint8_t **elem, size_t *elem_len,
    const uint8_t **label, size_t *label_len)
{
	const struct xz_join_data *jd = ctx;

	if (index >= jd->n)
		return -1;
	*elem = jd->elem[index];
	*elem_len = jd->elem_len[index];
	if (label != NULL) {
		*label = jd->label[index];
		*label_len = jd->label_len[index];
	}
	return 0;
}
