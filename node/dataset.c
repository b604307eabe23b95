/*
 * Dataset import and catalogue.  See dataset.h for the storage layout.
 */
#include "dataset.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "audit.h"
#include "policy.h"
#include "cli.h"
#include "dataset_internal.h"

/* ---- names and column specs ------------------------------------------ */

int
xz_dataset_name_valid(const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || n > XZ_DATASET_NAME_MAX)
		return 0;
	return xz_check_name(name) == NULL;
}

int
xz_column_spec_parse(const char *arg, struct xz_column_spec *out, struct xz_diag *d)
{
	const char *colon = strrchr(arg, ':'), *why;
	size_t n;

	if (colon == NULL || colon == arg)
		return xz_diag_set(d, "'%s' is not COLUMN:TYPE (for example "
		    "'身份证号:cn_id' or 'amount:decimal')", arg);
	n = (size_t)(colon - arg);
	if (n >= sizeof(out->name))
		return xz_diag_set(d, "column name in '%s' is longer than %zu bytes",
		    arg, sizeof(out->name) - 1);
	memcpy(out->name, arg, n);
	out->name[n] = '\0';
	if ((why = xz_check_column(out->name)) != NULL)
		return xz_diag_set(d, "column name in '%s' is not usable: %s", arg, why);
	if (xz_coltype_parse(colon + 1, &out->type) != 0)
		return xz_diag_set(d, "unknown column type '%s' in '%s': use cn_id, uscc, "
		    "phone, text, int, decimal or date", colon + 1, arg);
	return 0;
}

/* ---- catalogue lookups ------------------------------------------------ */

int
xz_dataset_lookup(struct xz_node *node, const char *name, struct xz_dataset_row *ex,
    struct xz_diag *d)
{
	sqlite3 *db = xz_node_db(node);
	sqlite3_stmt *st = NULL;
	int rc;

	memset(ex, 0, sizeof(*ex));
	if (sqlite3_prepare_v2(db, "SELECT id, table_name, key_column, key_type "
	    "FROM datasets WHERE name = ?", -1, &st, NULL) != SQLITE_OK)
		return xz_node_db_error(node, "reading the dataset catalogue", d);
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		ex->found = 1;
		ex->id = sqlite3_column_int64(st, 0);
		snprintf(ex->table, sizeof(ex->table), "%s", sqlite3_column_text(st, 1));
		snprintf(ex->key_column, sizeof(ex->key_column), "%s",
		    sqlite3_column_text(st, 2));
		snprintf(ex->key_type, sizeof(ex->key_type), "%s",
		    sqlite3_column_text(st, 3));
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return xz_node_db_error(node, "reading the dataset catalogue", d);
	return 0;
}

static int
table_name_plain(const char *s)
{
	if (*s == '\0' || strlen(s) > 60)
		return 0;
	for (; *s != '\0'; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_'))
			return 0;
	return 1;
}

static int
schema_columns(struct xz_node *node, int64_t id, struct xz_dataset_schema *out,
    struct xz_diag *d)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if (sqlite3_prepare_v2(xz_node_db(node), "SELECT row_count FROM datasets WHERE id = ?",
	    -1, &st, NULL) != SQLITE_OK)
		return xz_node_db_error(node, "reading the dataset catalogue", d);
	sqlite3_bind_int64(st, 1, id);
	if (sqlite3_step(st) == SQLITE_ROW)
		out->rows = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	if (sqlite3_prepare_v2(xz_node_db(node), "SELECT pos, name, type FROM dataset_columns"
	    " WHERE dataset_id = ? ORDER BY pos", -1, &st, NULL) != SQLITE_OK)
		return xz_node_db_error(node, "reading columns", d);
	sqlite3_bind_int64(st, 1, id);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct xz_dataset_column *c = &out->columns[out->ncolumns];
		int64_t pos = sqlite3_column_int64(st, 0);
		const char *type = (const char *)sqlite3_column_text(st, 2);
		if (out->ncolumns > XZ_DATASET_MAX_COLUMNS || pos != (int64_t)out->ncolumns ||
		    type == NULL || xz_coltype_parse(type, &c->type) != 0) {
			sqlite3_finalize(st);
			return xz_diag_set(d, "dataset '%s' has a malformed column list in "
			    "the store; run 'xiezhi store check'", out->name);
		}
		snprintf(c->name, sizeof(c->name), "%s", sqlite3_column_text(st, 1));
		snprintf(c->sql, sizeof(c->sql), "c%d", (int)pos);
		out->ncolumns++;
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : xz_node_db_error(node, "reading columns", d);
}

int
xz_dataset_schema(struct xz_node *node, const char *name, struct xz_dataset_schema *out,
    struct xz_diag *d)
{
	struct xz_dataset_row ex;

	memset(out, 0, sizeof(*out));
	if (xz_dataset_lookup(node, name, &ex, d) != 0)
		return -1;
	if (!ex.found)
		return xz_diag_set(d, "there is no dataset '%s' on this node ('xiezhi dataset "
		    "list' shows them)", name);
	snprintf(out->name, sizeof(out->name), "%s", name);
	if (!table_name_plain(ex.table))
		return xz_diag_set(d, "dataset '%s' has an unexpected table name in the store; "
		    "run 'xiezhi store check'", name);
	snprintf(out->table, sizeof(out->table), "%s", ex.table);
	snprintf(out->columns[0].name, sizeof(out->columns[0].name), "%s", ex.key_column);
	snprintf(out->columns[0].sql, sizeof(out->columns[0].sql), "k");
	if (xz_coltype_parse(ex.key_type, &out->columns[0].type) != 0)
		return xz_diag_set(d, "dataset '%s' has an unknown key type in the store", name);
	out->ncolumns = 1;
	return schema_columns(node, ex.id, out, d);
}

/* ---- catalogue commands ----------------------------------------------- */

int
xz_dataset_drop(struct xz_node *node, const char *name, const char *actor,
    struct xz_diag *d)
{
	struct xz_dataset_row ex;
	sqlite3 *db = xz_node_db(node);
	sqlite3_stmt *st = NULL;
	char sql[128];
	int ok;

	struct xz_audit_field f[] = {
		{ .name = "dataset", .kind = XZ_AUDIT_STR, .str = name },
	};
	struct xz_audit_event ev = {
		.type = XZ_AUDIT_DATASET_DROPPED, .actor = actor, .fields = f, .nfields = 1,
	};

	if (xz_audit_check_anchor(node, d) != 0)
		return -1;
	if (sqlite3_exec(db, "BEGIN IMMEDIATE;", NULL, NULL, NULL) != SQLITE_OK)
		return xz_node_db_error(node, "dropping the dataset", d);
	if (xz_dataset_lookup(node, name, &ex, d) != 0)
		goto fail;
	if (!ex.found) {
		xz_diag_set(d, "there is no dataset '%s' (see 'xiezhi dataset list')", name);
		goto fail;
	}
	snprintf(sql, sizeof(sql), "DROP TABLE %s;", ex.table);
	ok = sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK &&
	    sqlite3_prepare_v2(db, "DELETE FROM datasets WHERE id = ?", -1, &st,
	    NULL) == SQLITE_OK;
	if (ok) {
		sqlite3_bind_int64(st, 1, ex.id);
		ok = sqlite3_step(st) == SQLITE_DONE;
	}
	sqlite3_finalize(st);
	if (!ok) {
		xz_node_db_error(node, "dropping the dataset", d);
		goto fail;
	}
	if (xz_audit_append(node, &ev, NULL, d) != 0)
		goto fail;
	if (sqlite3_exec(db, "COMMIT;", NULL, NULL, NULL) != SQLITE_OK) {
		xz_node_db_error(node, "dropping the dataset", d);
		goto fail;
	}
	return xz_audit_publish(node, d);
fail:
	sqlite3_exec(db, "ROLLBACK;", NULL, NULL, NULL);
	return -1;
}

static void
format_time(int64_t t, char *buf, size_t cap)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (gmtime_r(&tt, &tm) == NULL || strftime(buf, cap, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(buf, cap, "%lld", (long long)t);
}

int
xz_dataset_print_list(struct xz_node *node, FILE *f, int json, struct xz_diag *d)
{
	sqlite3_stmt *st = NULL;
	int rc, n = 0;

	if (sqlite3_prepare_v2(xz_node_db(node), "SELECT d.name, d.key_column, d.key_type,"
	    " d.row_count, d.updated_at, (SELECT count(*) FROM dataset_columns c"
	    " WHERE c.dataset_id = d.id) FROM datasets d ORDER BY d.name", -1, &st,
	    NULL) != SQLITE_OK)
		return xz_node_db_error(node, "listing datasets", d);
	if (json)
		fputs("[", f);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *name = (const char *)sqlite3_column_text(st, 0);
		const char *kc = (const char *)sqlite3_column_text(st, 1);
		const char *kt = (const char *)sqlite3_column_text(st, 2);
		char when[32];
		format_time(sqlite3_column_int64(st, 4), when, sizeof(when));
		if (json) {
			fputs(n ? ",\n {\"name\": " : "\n {\"name\": ", f);
			xz_json_string(f, name);
			fputs(", \"key_column\": ", f);
			xz_json_string(f, kc);
			fprintf(f, ", \"key_type\": \"%s\", \"rows\": %lld, \"columns\": %d,"
			    " \"updated_at\": \"%s\"}", kt,
			    (long long)sqlite3_column_int64(st, 3),
			    sqlite3_column_int(st, 5), when);
		} else {
			if (n == 0)
				fprintf(f, "%-24s %-28s %12s %7s  %s\n", "DATASET", "KEY",
				    "ROWS", "COLUMNS", "UPDATED (UTC)");
			char key[160];
			snprintf(key, sizeof(key), "%s:%s", kc, kt);
			xz_cli_pad(f, name, 25);
			xz_cli_pad(f, key, 29);
			fprintf(f, "%12lld %7d  %s\n", (long long)sqlite3_column_int64(st, 3),
			    sqlite3_column_int(st, 5), when);
		}
		n++;
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return xz_node_db_error(node, "listing datasets", d);
	if (json)
		fputs(n ? "\n]\n" : "]\n", f);
	else if (n == 0)
		fputs("No datasets yet. Import one with 'xiezhi dataset import NAME --csv "
		    "FILE --key COLUMN:TYPE'.\n", f);
	return 0;
}

static int
print_columns(struct xz_node *node, const struct xz_dataset_row *ex, FILE *f, int json,
    struct xz_diag *d)
{
	sqlite3_stmt *st = NULL;
	int rc, n = 0;

	if (sqlite3_prepare_v2(xz_node_db(node), "SELECT name, type FROM dataset_columns"
	    " WHERE dataset_id = ? ORDER BY pos", -1, &st, NULL) != SQLITE_OK)
		return xz_node_db_error(node, "reading columns", d);
	sqlite3_bind_int64(st, 1, ex->id);
	fputs(json ? ", \"columns\": [" : "Columns:\n", f);
	if (!json) {
		fputs("  ", f);
		xz_cli_pad(f, ex->key_column, 29);
		fprintf(f, "%s (key)\n", ex->key_type);
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *name = (const char *)sqlite3_column_text(st, 0);
		const char *type = (const char *)sqlite3_column_text(st, 1);
		if (json) {
			fputs(n ? ", {\"name\": " : "{\"name\": ", f);
			xz_json_string(f, name);
			fprintf(f, ", \"type\": \"%s\"}", type);
		} else {
			fputs("  ", f);
			xz_cli_pad(f, name, 29);
			fprintf(f, "%s\n", type);
		}
		n++;
	}
	sqlite3_finalize(st);
	if (json)
		fputs("]", f);
	return rc == SQLITE_DONE ? 0 : xz_node_db_error(node, "reading columns", d);
}

static int
print_history(struct xz_node *node, const struct xz_dataset_row *ex, FILE *f, int json,
    struct xz_diag *d)
{
	sqlite3_stmt *st = NULL;
	int rc, n = 0;

	if (sqlite3_prepare_v2(xz_node_db(node), "SELECT at, mode, source_sha256,"
	    " rows_read, rows_imported, rows_rejected, duplicates, elapsed_ms"
	    " FROM dataset_imports WHERE dataset_id = ? ORDER BY id", -1, &st,
	    NULL) != SQLITE_OK)
		return xz_node_db_error(node, "reading the import history", d);
	sqlite3_bind_int64(st, 1, ex->id);
	fputs(json ? ", \"imports\": [" : "Import history:\n", f);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		char when[32];
		format_time(sqlite3_column_int64(st, 0), when, sizeof(when));
		if (json)
			fprintf(f, "%s{\"at\": \"%s\", \"mode\": \"%s\", \"source_sha256\":"
			    " \"%s\", \"rows_read\": %lld, \"rows_imported\": %lld,"
			    " \"rows_rejected\": %lld, \"duplicates\": %lld, \"elapsed_ms\":"
			    " %lld}", n ? ", " : "", when, sqlite3_column_text(st, 1),
			    sqlite3_column_text(st, 2),
			    (long long)sqlite3_column_int64(st, 3),
			    (long long)sqlite3_column_int64(st, 4),
			    (long long)sqlite3_column_int64(st, 5),
			    (long long)sqlite3_column_int64(st, 6),
			    (long long)sqlite3_column_int64(st, 7));
		else
			fprintf(f, "  %s  %-7s read %lld, imported %lld, rejected %lld, "
			    "duplicate keys %lld, %.1f s\n    source sha256 %s\n", when,
			    sqlite3_column_text(st, 1),
			    (long long)sqlite3_column_int64(st, 3),
			    (long long)sqlite3_column_int64(st, 4),
			    (long long)sqlite3_column_int64(st, 5),
			    (long long)sqlite3_column_int64(st, 6),
			    (double)sqlite3_column_int64(st, 7) / 1000.0,
			    sqlite3_column_text(st, 2));
		n++;
	}
	sqlite3_finalize(st);
	if (json)
		fputs("]", f);
	return rc == SQLITE_DONE ? 0 : xz_node_db_error(node, "reading the import history", d);
}

int
xz_dataset_print_show(struct xz_node *node, const char *name, FILE *f, int json,
    struct xz_diag *d)
{
	struct xz_dataset_row ex;
	sqlite3_stmt *st = NULL;
	long long rows = 0;

	if (xz_dataset_lookup(node, name, &ex, d) != 0)
		return -1;
	if (!ex.found)
		return xz_diag_set(d, "there is no dataset '%s' (see 'xiezhi dataset list')",
		    name);
	if (sqlite3_prepare_v2(xz_node_db(node), "SELECT row_count FROM datasets WHERE id = ?",
	    -1, &st, NULL) == SQLITE_OK) {
		sqlite3_bind_int64(st, 1, ex.id);
		if (sqlite3_step(st) == SQLITE_ROW)
			rows = sqlite3_column_int64(st, 0);
	}
	sqlite3_finalize(st);
	if (json) {
		fputs("{\"name\": ", f);
		xz_json_string(f, name);
		fputs(", \"key_column\": ", f);
		xz_json_string(f, ex.key_column);
		fprintf(f, ", \"key_type\": \"%s\", \"rows\": %lld", ex.key_type, rows);
	} else {
		fprintf(f, "Dataset %s\n  key:  %s (%s)\n  rows: %lld\n", name,
		    ex.key_column, ex.key_type, rows);
	}
	if (print_columns(node, &ex, f, json, d) != 0 ||
	    print_history(node, &ex, f, json, d) != 0)
		return -1;
	if (json)
		fputs("}\n", f);
	return 0;
}
