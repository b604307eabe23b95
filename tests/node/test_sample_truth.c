/*
 * The ground truth of `xiezhi sample case` is right: every lead set is
 * recomputed here from the generated CSV files alone, by a second, small
 * implementation of the five model definitions of docs/seed-cases.md, and
 * compared line by line with truth/<model>.csv.
 *
 * Independence: nothing here calls the generator's code beyond asking it
 * to write a federation.  The files are read with the importer's CSV
 * reader and every value is put in its stored form with the importer's
 * normalisers (node/csvread.c, node/coltype.c), because the truth is
 * defined over stored forms; the joins, filters, date arithmetic (libc's
 * timegm) and amount comparisons are this file's own.  The column types
 * and model definitions are copied from docs/seed-cases.md, not from the
 * generator's tables.
 *
 * Besides the leads, the near misses the specification promises are
 * checked to be there (claims on the day of death, sentences 29 days old,
 * a declaration of exactly half, an invoice total of 999999.99, ...), so
 * a generator that stopped planting them would fail here.
 */
#include "testsupport.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "coltype.h"
#include "csvread.h"
#include "sample.h"

/* ---- tables of stored values -------------------------------------------- */

struct table {
	const char *file;
	size_t ncols, nrows, cap;
	char **cell;	/* nrows x ncols, stored forms */
};

static const char *
cell(const struct table *t, size_t row, size_t col)
{
	return t->cell[row * t->ncols + col];
}

/*
 * Reads dir/rel (spec: "name:type,..." as docs/seed-cases.md lists the
 * columns), checks the header names, and normalises every field; fails
 * the test on any value the importer would refuse.
 */
static struct table *
load(const char *dir, const char *rel, const char *enc, const char *spec)
{
	struct table *t = calloc(1, sizeof(*t));
	char *path = xzt_path(dir, rel), names[16][64];
	enum xz_coltype types[16];
	struct xz_csv *c = NULL;
	struct xz_diag d;
	const char *const *f;
	const size_t *l;
	size_t nf;
	uint64_t line;
	char *s = strdup(spec), *tok, *save = NULL;
	int rc, header = 1;

	assert_non_null(t);
	t->file = rel;
	for (tok = strtok_r(s, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
		char *colon = strchr(tok, ':');

		assert_non_null(colon);
		*colon = '\0';
		snprintf(names[t->ncols], sizeof(names[0]), "%s", tok);
		assert_int_equal(xz_coltype_parse(colon + 1, &types[t->ncols]), 0);
		t->ncols++;
	}
	free(s);
	if (xz_csv_open(path, enc, &c, &d) != 0)
		fail_msg("%s: %s", rel, d.msg);
	while ((rc = xz_csv_next(c, &f, &l, &nf, &line, &d)) == 1) {
		if (nf != t->ncols)
			fail_msg("%s line %llu: %zu fields, expected %zu", rel,
			    (unsigned long long)line, nf, t->ncols);
		if (header) {
			for (size_t i = 0; i < nf; i++)
				if (strcmp(f[i], names[i]) != 0)
					fail_msg("%s: column %zu is '%s', the spec says '%s'", rel,
					    i + 1, f[i], names[i]);
			header = 0;
			continue;
		}
		if (t->nrows == t->cap) {
			t->cap = t->cap ? t->cap * 2 : 256;
			t->cell = realloc(t->cell, t->cap * t->ncols * sizeof(*t->cell));
			assert_non_null(t->cell);
		}
		for (size_t i = 0; i < nf; i++) {
			char *out = malloc(XZ_TEXT_OUT_CAP(l[i]) + XZ_NORM_FIXED_CAP);
			const char *why;
			size_t outlen, pos;

			assert_non_null(out);
			if (xz_normalize(types[i], f[i], l[i], out,
			    XZ_TEXT_OUT_CAP(l[i]) + XZ_NORM_FIXED_CAP, &outlen, &why, &pos) != 0)
				fail_msg("%s line %llu, column %s: %s", rel,
				    (unsigned long long)line, names[i], why);
			t->cell[t->nrows * t->ncols + i] = out;
		}
		t->nrows++;
	}
	if (rc != 0)
		fail_msg("%s: %s", rel, d.msg);
	assert_int_equal(header, 0);
	xz_csv_close(c);
	free(path);
	return t;
}

static void
table_free(struct table *t)
{
	for (size_t i = 0; i < t->nrows * t->ncols; i++)
		free(t->cell[i]);
	free(t->cell);
	free(t);
}

/* The rows of a table sorted by one column, to find all rows of a key. */
struct index {
	const struct table *t;
	size_t col;
	size_t *rows;
};

static const struct index *sort_idx;

static int
cmp_rows(const void *a, const void *b)
{
	return strcmp(cell(sort_idx->t, *(const size_t *)a, sort_idx->col),
	    cell(sort_idx->t, *(const size_t *)b, sort_idx->col));
}

static struct index
index_on(const struct table *t, size_t col)
{
	struct index x = { t, col, malloc((t->nrows + 1) * sizeof(size_t)) };

	assert_non_null(x.rows);
	for (size_t i = 0; i < t->nrows; i++)
		x.rows[i] = i;
	sort_idx = &x;
	qsort(x.rows, t->nrows, sizeof(size_t), cmp_rows);
	sort_idx = NULL;
	return x;
}

/* [*lo, *hi) of x.rows hold the rows whose column equals key. */
static void
lookup(const struct index *x, const char *key, size_t *lo, size_t *hi)
{
	size_t a = 0, b = x->t->nrows;

	while (a < b) {
		size_t m = a + (b - a) / 2;

		if (strcmp(cell(x->t, x->rows[m], x->col), key) < 0)
			a = m + 1;
		else
			b = m;
	}
	*lo = a;
	while (a < x->t->nrows && strcmp(cell(x->t, x->rows[a], x->col), key) == 0)
		a++;
	*hi = a;
}

static int
holds(const struct index *x, const char *key)
{
	size_t lo, hi;

	lookup(x, key, &lo, &hi);
	return hi > lo;
}

/* ---- values ------------------------------------------------------------- */

/* A stored decimal with at most two decimals, in cents. */
static long long
cents(const char *s)
{
	long long v = 0;
	int frac = -1;

	assert_true(*s != '-');
	for (; *s != '\0'; s++) {
		if (*s == '.') {
			frac = 0;
			continue;
		}
		assert_true(*s >= '0' && *s <= '9');
		v = v * 10 + (*s - '0');
		if (frac >= 0)
			frac++;
	}
	assert_true(frac <= 2);
	for (; frac < 2; frac = frac < 0 ? 1 : frac + 1)
		v *= 10;
	return v;
}

/* YYYY-MM-DD plus days, with libc's calendar. */
static void
add_days(const char *date, int days, char out[11])
{
	struct tm tm;
	time_t t;

	memset(&tm, 0, sizeof(tm));
	assert_int_equal(sscanf(date, "%d-%d-%d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday), 3);
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	tm.tm_mday += days;
	tm.tm_hour = 12;
	t = timegm(&tm);
	gmtime_r(&t, &tm);
	strftime(out, 11, "%Y-%m-%d", &tm);
}

/* ---- lead sets ---------------------------------------------------------- */

struct rows {
	char **v;
	size_t n, cap;
};

static void
rows_add(struct rows *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
rows_add(struct rows *r, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (r->n == r->cap) {
		r->cap = r->cap ? r->cap * 2 : 64;
		r->v = realloc(r->v, r->cap * sizeof(*r->v));
		assert_non_null(r->v);
	}
	r->v[r->n++] = strdup(buf);
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Compares the computed leads with dir/truth/<model>.csv: the header the
 * spec gives, then the rows sorted bytewise, no row twice. */
static void
compare_truth(const char *dir, const char *model, const char *header, struct rows *r)
{
	char rel[128], *path, *text, *line, *save = NULL;
	size_t len, k = 0;

	snprintf(rel, sizeof(rel), "truth/%s.csv", model);
	path = xzt_path(dir, rel);
	text = xzt_read_file(path, &len);
	assert_true(len > 0 && text[len - 1] == '\n');
	qsort(r->v, r->n, sizeof(*r->v), cmp_str);
	line = strtok_r(text, "\n", &save);
	assert_non_null(line);
	if (strcmp(line, header) != 0)
		fail_msg("%s: header '%s', the spec says '%s'", rel, line, header);
	while ((line = strtok_r(NULL, "\n", &save)) != NULL) {
		if (k >= r->n)
			fail_msg("%s: lead %zu '%s' is not a lead of the data", rel, k + 1, line);
		if (strcmp(line, r->v[k]) != 0)
			fail_msg("%s: lead %zu is '%s', the data gives '%s'", rel, k + 1, line,
			    r->v[k]);
		k++;
	}
	if (k != r->n)
		fail_msg("%s: %zu leads, the data gives %zu (first missing: '%s')", rel, k, r->n,
		    r->v[k]);
	for (size_t i = 1; i < r->n; i++)
		if (strcmp(r->v[i - 1], r->v[i]) == 0)
			fail_msg("%s: lead '%s' twice", rel, r->v[i]);
	assert_true(r->n > 0);
	for (size_t i = 0; i < r->n; i++)
		free(r->v[i]);
	free(r->v);
	free(text);
	free(path);
}

/* deceased-claims: claims (owner 0) x death_registry (owner 1) on
 * id_number, kept when claim_date > date_of_death. */
static void
model_deceased_claims(const char *dir)
{
	struct table *cl = load(dir, "medical-insurance/claims.csv", "gb18030",
	    "id_number:cn_id,claim_no:text,name:text,claim_date:date,amount:decimal,"
	    "hospital:text");
	struct table *dr = load(dir, "civil-affairs/death_registry.csv", NULL,
	    "id_number:cn_id,name:text,date_of_death:date");
	struct index deaths = index_on(dr, 0);
	struct rows r = { NULL, 0, 0 };
	size_t same_day = 0, before = 0;

	for (size_t i = 0; i < cl->nrows; i++) {
		size_t lo, hi;

		lookup(&deaths, cell(cl, i, 0), &lo, &hi);
		for (size_t k = lo; k < hi; k++) {
			const char *dod = cell(dr, deaths.rows[k], 2);
			int c = strcmp(cell(cl, i, 3), dod);

			same_day += c == 0;
			before += c < 0;
			if (c > 0)
				rows_add(&r, "%s,%s,%s,%s,%s", cell(cl, i, 0), cell(cl, i, 1),
				    cell(cl, i, 3), cell(cl, i, 4), dod);
		}
	}
	/* near misses: claims of dead persons on or before the death date */
	assert_true(same_day > 0);
	assert_true(before > 0);
	compare_truth(dir, "deceased-claims", "claims.id_number,claims.claim_no,"
	    "claims.claim_date,claims.amount,claims.date_of_death", &r);
	free(deaths.rows);
	table_free(cl);
	table_free(dr);
}

/* detention-overdue: effective_judgments filtered on sentence_type =
 * '有期徒刑' and effective_date <= as_of - 30 days, intersect
 * detention_register on id_number. */
static void
model_detention_overdue(const char *dir, const char *as_of)
{
	struct table *ej = load(dir, "procuratorate/effective_judgments.csv", NULL,
	    "id_number:cn_id,case_no:text,name:text,sentence_type:text,effective_date:date");
	struct table *dt = load(dir, "detention-centre/detention_register.csv", "gb18030",
	    "id_number:cn_id,name:text,admission_date:date,custody_type:text");
	struct index held = index_on(dt, 0);
	struct rows r = { NULL, 0, 0 };
	char limit[11], day29[11];
	size_t recent = 0, other_type = 0, transferred = 0, at_limit = 0;

	add_days(as_of, -30, limit);
	add_days(as_of, -29, day29);
	for (size_t i = 0; i < ej->nrows; i++) {
		int prison = strcmp(cell(ej, i, 3), "有期徒刑") == 0;
		int old = strcmp(cell(ej, i, 4), limit) <= 0;
		size_t lo, hi;

		lookup(&held, cell(ej, i, 0), &lo, &hi);
		recent += prison && !old && hi > lo && strcmp(cell(ej, i, 4), day29) == 0;
		other_type += !prison && old && hi > lo;
		transferred += prison && old && hi == lo;
		if (!prison || !old)
			continue;
		at_limit += hi > lo && strcmp(cell(ej, i, 4), limit) == 0;
		for (size_t k = lo; k < hi; k++)
			rows_add(&r, "%s,%s,%s,%s,%s", cell(ej, i, 0), cell(ej, i, 1),
			    cell(ej, i, 4), cell(dt, held.rows[k], 2), cell(dt, held.rows[k], 3));
	}
	assert_true(at_limit > 0);	/* exactly 30 days: a lead */
	assert_true(recent > 0);	/* 29 days: not yet */
	assert_true(other_type > 0);
	assert_true(transferred > 0);
	compare_truth(dir, "detention-overdue", "id_number,case_no,effective_date,"
	    "held.admission_date,held.custody_type", &r);
	free(held.rows);
	table_free(ej);
	table_free(dt);
}

/* rights-unsupervised: deprivation_judgments filtered on
 * deprivation_start <= as_of and deprivation_end >= as_of, intersect
 * population_register (label police_station), difference
 * supervision_list. */
static void
model_rights_unsupervised(const char *dir, const char *as_of)
{
	struct table *dj = load(dir, "procuratorate/deprivation_judgments.csv", NULL,
	    "id_number:cn_id,case_no:text,name:text,deprivation_start:date,"
	    "deprivation_end:date");
	struct table *pr = load(dir, "public-security/population_register.csv", NULL,
	    "id_number:cn_id,name:text,police_station:text,registered_address:text");
	struct table *sl = load(dir, "public-security/supervision_list.csv", NULL,
	    "id_number:cn_id,supervision_start:date");
	struct index res = index_on(pr, 0), sup = index_on(sl, 0);
	struct rows r = { NULL, 0, 0 };
	char yesterday[11], tomorrow[11];
	size_t starts_today = 0, ends_today = 0, ended = 0, not_yet = 0, away = 0, watched = 0;

	add_days(as_of, -1, yesterday);
	add_days(as_of, 1, tomorrow);
	for (size_t i = 0; i < dj->nrows; i++) {
		const char *id = cell(dj, i, 0), *start = cell(dj, i, 3), *end = cell(dj, i, 4);
		int current = strcmp(start, as_of) <= 0 && strcmp(end, as_of) >= 0;
		size_t lo, hi;

		ended += strcmp(end, yesterday) == 0;
		not_yet += strcmp(start, tomorrow) == 0;
		if (!current)
			continue;
		lookup(&res, id, &lo, &hi);
		away += hi == lo;
		watched += hi > lo && holds(&sup, id);
		if (holds(&sup, id))
			continue;
		starts_today += hi > lo && strcmp(start, as_of) == 0;
		ends_today += hi > lo && strcmp(end, as_of) == 0;
		for (size_t k = lo; k < hi; k++)
			rows_add(&r, "%s,%s,%s,%s", id, cell(dj, i, 1), end,
			    cell(pr, res.rows[k], 2));
	}
	assert_true(starts_today > 0 && ends_today > 0);
	assert_true(ended > 0 && not_yet > 0 && away > 0 && watched > 0);
	compare_truth(dir, "rights-unsupervised", "id_number,case_no,deprivation_end,"
	    "resident.police_station", &r);
	free(res.rows);
	free(sup.rows);
	table_free(dj);
	table_free(pr);
	table_free(sl);
}

/* fuel-tax: fuel_sales intersect fuel_tax_filings on uscc, kept when
 * filed.tax_period = period and filed.declared_sales < 0.5 * sales_amount. */
static void
model_fuel_tax(const char *dir)
{
	struct table *fs = load(dir, "procuratorate/fuel_sales.csv", NULL,
	    "uscc:uscc,station_name:text,period:text,sales_amount:decimal");
	struct table *ft = load(dir, "tax/fuel_tax_filings.csv", NULL,
	    "uscc:uscc,tax_period:text,declared_sales:decimal");
	struct index filed = index_on(ft, 0);
	struct rows r = { NULL, 0, 0 };
	size_t half = 0, other_month = 0, by_a_fen = 0;

	for (size_t i = 0; i < fs->nrows; i++) {
		long long sales = cents(cell(fs, i, 3));
		size_t lo, hi;

		lookup(&filed, cell(fs, i, 0), &lo, &hi);
		for (size_t k = lo; k < hi; k++) {
			size_t f = filed.rows[k];
			long long declared = cents(cell(ft, f, 2));
			int same = strcmp(cell(ft, f, 1), cell(fs, i, 2)) == 0;

			half += same && 2 * declared == sales;
			other_month += !same && 2 * declared < sales;
			if (!same || 2 * declared >= sales)
				continue;
			by_a_fen += sales - 2 * declared <= 2;
			rows_add(&r, "%s,%s,%s,%s,%s", cell(fs, i, 0), cell(fs, i, 1),
			    cell(fs, i, 2), cell(fs, i, 3), cell(ft, f, 2));
		}
	}
	assert_true(half > 0 && other_month > 0 && by_a_fen > 0);
	compare_truth(dir, "fuel-tax", "uscc,station_name,period,sales_amount,"
	    "filed.declared_sales", &r);
	free(filed.rows);
	table_free(fs);
	table_free(ft);
}

/* shell-companies: invoice_issuers filtered on invoice_total >= 1000000,
 * intersect enterprise_registry, difference insured_employers, intersect
 * abnormal_operations, all on uscc. */
static void
model_shell_companies(const char *dir)
{
	struct table *ii = load(dir, "procuratorate/invoice_issuers.csv", NULL,
	    "uscc:uscc,company_name:text,invoice_total:decimal,first_invoice_date:date");
	struct table *er = load(dir, "market-regulation/enterprise_registry.csv", NULL,
	    "uscc:uscc,company_name:text,registration_date:date,registered_capital:decimal");
	struct table *ie = load(dir, "medical-insurance/insured_employers.csv", NULL,
	    "uscc:uscc,insured_staff:int");
	struct table *ao = load(dir, "market-regulation/abnormal_operations.csv", NULL,
	    "uscc:uscc,listed_date:date,reason:text");
	struct index reg = index_on(er, 0), ins = index_on(ie, 0), abn = index_on(ao, 0);
	struct rows r = { NULL, 0, 0 };
	size_t just_under = 0, exactly = 0, fails[3] = { 0, 0, 0 };

	for (size_t i = 0; i < ii->nrows; i++) {
		const char *u = cell(ii, i, 0);
		long long total = cents(cell(ii, i, 2));
		int c[3] = { holds(&reg, u), !holds(&ins, u), holds(&abn, u) };
		size_t rlo, rhi, alo, ahi;

		just_under += total == 99999999 && c[0] && c[1] && c[2];
		/* a near miss on exactly one of the three steps */
		for (int k = 0; k < 3; k++)
			fails[k] += total >= 100000000 && !c[k] && c[(k + 1) % 3] && c[(k + 2) % 3];
		if (total < 100000000 || !c[1])
			continue;
		lookup(&reg, u, &rlo, &rhi);
		lookup(&abn, u, &alo, &ahi);
		exactly += total == 100000000 && rhi > rlo && ahi > alo;
		for (size_t a = rlo; a < rhi; a++)
			for (size_t b = alo; b < ahi; b++)
				rows_add(&r, "%s,%s,%s,%s,%s", u, cell(ii, i, 1), cell(ii, i, 2),
				    cell(er, reg.rows[a], 2), cell(ao, abn.rows[b], 2));
	}
	assert_true(just_under > 0 && exactly > 0);
	assert_true(fails[0] > 0 && fails[1] > 0 && fails[2] > 0);
	compare_truth(dir, "shell-companies", "uscc,company_name,invoice_total,"
	    "registered.registration_date,abnormal.reason", &r);
	free(reg.rows);
	free(ins.rows);
	free(abn.rows);
	table_free(ii);
	table_free(er);
	table_free(ie);
	table_free(ao);
}

static void
check_federation(uint64_t size, uint64_t seed, const char *as_of)
{
	char *tmp = xzt_mkdtemp("truth"), *dir = xzt_path(tmp, "case");
	struct xz_sample_case_opts o = { .size = size, .seed = seed, .as_of = as_of };
	struct xz_sample_case_result res;
	struct xz_diag d;

	if (xz_sample_case_write(dir, &o, &res, &d) != 0)
		fail_msg("sample case: %s", d.msg);
	model_deceased_claims(dir);
	model_detention_overdue(dir, as_of);
	model_rights_unsupervised(dir, as_of);
	model_fuel_tax(dir);
	model_shell_companies(dir);
	xzt_rmtree(tmp);
	free(dir);
	free(tmp);
}

static void
test_default_size(void **state)
{
	(void)state;
	check_federation(XZ_SAMPLE_CASE_DEFAULT_SIZE, 1, XZ_SAMPLE_CASE_DEFAULT_AS_OF);
}

static void
test_smallest(void **state)
{
	(void)state;
	check_federation(XZ_SAMPLE_CASE_MIN_SIZE, 7, XZ_SAMPLE_CASE_DEFAULT_AS_OF);
}

/* A leap day as-of: "30 days before" and the months of the fuel periods
 * cross February and the year end. */
static void
test_leap_day(void **state)
{
	(void)state;
	check_federation(3000, 99, "2024-02-29");
	check_federation(2000, 5, "2000-01-01");
}

/* XIEZHI_LONG_TESTS=1: a million people (half a minute, 3 GB of memory). */
static void
test_million(void **state)
{
	const char *v = getenv("XIEZHI_LONG_TESTS");

	(void)state;
	if (v == NULL || strcmp(v, "1") != 0)
		skip();
	check_federation(1000000, 1, XZ_SAMPLE_CASE_DEFAULT_AS_OF);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_default_size),
		cmocka_unit_test(test_smallest),
		cmocka_unit_test(test_leap_day),
		cmocka_unit_test(test_million),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
