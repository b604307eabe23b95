/*
 * Model files (node/model.h): the five seed models of docs/seed-cases.md
 * in the model format, the print/parse round trip, every schema error
 * naming its line and key, checks against a real node (datasets, column
 * types, peers), the queries a run makes on a real store, query sizes, and
 * drafting requests and matching them to their steps.
 */
#include "testsupport.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>
#include <sqlite3.h>

#include "dataset.h"
#include "expr.h"
#include "model.h"
#include "node.h"
#include "nodeconf.h"

/* ---- the seed models ---- */

static const char deceased_claims[] =
    "id: deceased-claims\n"
    "version: 1\n"
    "title: 死亡人员医保卡冒用\n"
    "purpose: Find medical-insurance claims filed on the cards of persons registered as dead.\n"
    "legal_basis: Social Insurance Law of the PRC, art. 88\n"
    "steps:\n"
    "  - name: claims\n"
    "    delegated:\n"
    "      - peer: medical-insurance\n"
    "        policy: deceased-insurance-claims@1\n"
    "        dataset: claims\n"
    "        labels: [id_number:cn_id, claim_no, claim_date:date, amount:decimal, hospital]\n"
    "      - peer: civil-affairs\n"
    "        policy: deceased-insurance-claims@1\n"
    "        dataset: death_registry\n"
    "        labels: [date_of_death:date]\n"
    "    query_size: 100000\n"
    "    key: id_number\n"
    "filter: claims.claim_date > claims.date_of_death\n"
    "output: [claims.id_number, claims.claim_no, claims.claim_date, claims.amount,\n"
    "         claims.date_of_death]\n";

static const char detention_overdue[] =
    "id: detention-overdue\n"
    "version: 1\n"
    "title: 判决生效后未及时交付执行\n"
    "purpose: Find persons sentenced to prison who are still held in the detention centre.\n"
    "legal_basis: Criminal Procedure Law of the PRC, art. 264\n"
    "local:\n"
    "  dataset: effective_judgments\n"
    "  key: id_number\n"
    "  filter: sentence_type = '有期徒刑' and effective_date <= as_of - 30 days\n"
    "steps:\n"
    "  - name: held\n"
    "    peer: detention-centre\n"
    "    policy: detention-transfer-overdue@1\n"
    "    dataset: detention_register\n"
    "    mode: intersect\n"
    "    labels: [admission_date:date, custody_type]\n"
    "output: [id_number, case_no, effective_date, held.admission_date, held.custody_type]\n";

static const char rights_unsupervised[] =
    "id: rights-unsupervised\n"
    "version: 1\n"
    "title: 剥夺政治权利人员脱管\n"
    "purpose: Find persons serving a deprivation of political rights who are not supervised.\n"
    "legal_basis: Criminal Law of the PRC, art. 58\n"
    "local:\n"
    "  dataset: deprivation_judgments\n"
    "  key: id_number\n"
    "  filter: deprivation_start <= as_of and deprivation_end >= as_of\n"
    "steps:\n"
    "  - {name: resident, peer: public-security, policy: political-rights-out-of-supervision@1,\n"
    "     dataset: population_register, mode: intersect, labels: [police_station]}\n"
    "  - {name: supervised, peer: public-security,\n"
    "     policy: political-rights-out-of-supervision@1, dataset: supervision_list,\n"
    "     mode: difference}\n"
    "output: [id_number, case_no, deprivation_end, resident.police_station]\n";

static const char fuel_tax[] =
    "id: fuel-tax\n"
    "version: 1\n"
    "title: 加油站少报燃油销售\n"
    "purpose: >-\n"
    "  Find fuel stations whose declared sales are under half of what they sold.\n"
    "legal_basis: Criminal Law of the PRC, art. 201\n"
    "case_number: 2026-017\n"
    "as_of: 2026-11-30\n"
    "local:\n"
    "  dataset: fuel_sales\n"
    "  key: uscc\n"
    "steps:\n"
    "  - name: filed\n"
    "    peer: tax\n"
    "    policy: fuel-tax\n"
    "    policy_version: 1\n"
    "    dataset: fuel_tax_filings\n"
    "    mode: intersect\n"
    "    labels: [tax_period, declared_sales:decimal]\n"
    "filter: filed.tax_period = period and filed.declared_sales < 0.5 * sales_amount\n"
    "output: [uscc, station_name, period, sales_amount, filed.declared_sales]\n";

static const char shell_companies[] =
    "id: shell-companies\n"
    "version: 1\n"
    "title: 空壳公司虚开发票\n"
    "purpose: Find registered companies with no insured staff and an abnormal-operation listing\n"
    "  that issued large invoice totals.\n"
    "legal_basis: Criminal Law of the PRC, art. 205\n"
    "local:\n"
    "  dataset: invoice_issuers\n"
    "  key: uscc\n"
    "  filter: invoice_total >= 1000000\n"
    "steps:\n"
    "  - name: registered\n"
    "    peer: market-regulation\n"
    "    policy: shell-companies-market@1\n"
    "    dataset: enterprise_registry\n"
    "    mode: intersect\n"
    "    labels: [registration_date:date, registered_capital:decimal]\n"
    "  - name: insured\n"
    "    peer: medical-insurance\n"
    "    policy: shell-companies-social-security@1\n"
    "    dataset: insured_employers\n"
    "    mode: difference\n"
    "  - name: abnormal\n"
    "    peer: market-regulation\n"
    "    policy: shell-companies-market@1\n"
    "    dataset: abnormal_operations\n"
    "    mode: intersect\n"
    "    labels: [listed_date:date, reason]\n"
    "    query_size: 5000\n"
    "output: [uscc, company_name, invoice_total, registered.registration_date, abnormal.reason]\n";

static const char *const seeds[] = {
	deceased_claims, detention_overdue, rights_unsupervised, fuel_tax, shell_companies,
};

static struct xz_model *
parse_ok(const char *text)
{
	struct xz_model *m = calloc(1, sizeof(*m));
	struct xz_perror e;
	char buf[1024];

	assert_non_null(m);
	if (xz_model_parse("m.yaml", text, strlen(text), m, &e) != 0) {
		xz_perror_format(&e, buf, sizeof(buf));
		fail_msg("parse failed: %s\n%s", buf, text);
	}
	return m;
}

static void
test_seed_models_round_trip(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(seeds) / sizeof(seeds[0]); i++) {
		struct xz_model *m = parse_ok(seeds[i]), *again;
		struct xz_perror e;
		char *text = NULL, *text2 = NULL;

		assert_int_equal(xz_model_print(m, &text, &e), 0);
		again = parse_ok(text);
		if (!xz_model_equal(m, again))
			fail_msg("seed %zu: printed model parses to a different model:\n%s", i, text);
		assert_int_equal(xz_model_print(again, &text2, &e), 0);
		assert_string_equal(text, text2);
		free(text);
		free(text2);
		free(m);
		free(again);
	}
}

static void
test_fields_of_a_parsed_model(void **state)
{
	struct xz_model *m;
	char name[160];

	(void)state;
	m = parse_ok(fuel_tax);
	assert_string_equal(m->id, "fuel-tax");
	assert_int_equal(m->version, 1);
	assert_string_equal(m->as_of, "2026-11-30");
	assert_string_equal(m->case_number, "2026-017");
	assert_true(m->has_local);
	assert_string_equal(m->local_key, "uscc");
	assert_int_equal(m->n_steps, 1);
	assert_int_equal(m->steps[0].mode, XZ_MODE_INTERSECT);
	assert_string_equal(m->steps[0].party[0].policy_id, "fuel-tax");
	assert_int_equal(m->steps[0].party[0].policy_version, 1);
	assert_int_equal(m->steps[0].party[0].labels[1].type, XZ_COL_DECIMAL);
	assert_string_equal(m->filter,
	    "filed.tax_period = period and filed.declared_sales < 0.5 * sales_amount");
	assert_int_equal(m->n_output, 5);
	xz_model_ref_name(&m->output[4], name, sizeof(name));
	assert_string_equal(name, "filed.declared_sales");
	free(m);
	m = parse_ok(deceased_claims);
	assert_false(m->has_local);
	assert_int_equal(m->steps[0].mode, XZ_MODE_DELEGATED);
	assert_int_equal(m->steps[0].n_parties, 2);
	assert_int_equal(m->steps[0].query_size, 100000);
	assert_string_equal(m->steps[0].party[1].labels[0].name, "date_of_death");
	free(m);
	/* Quoted names and labels with ':' survive the round trip. */
	m = parse_ok("id: q\nversion: 2\ntitle: t\npurpose: p\nlegal_basis: l\n"
	    "local: {dataset: d, key: 身份证号, filter: '\"金额 (元)\" > 5'}\n"
	    "steps:\n  - {name: s-1, peer: p, policy: x@3, dataset: y, mode: intersect,\n"
	    "     labels: ['a:b:text', 'c:int']}\n"
	    "filter: '\"s-1\".\"a:b\" = ''x'' and \"s-1\".c > 2'\n"
	    "output: [身份证号, '\"s-1\".\"a:b\"', '\"金额 (元)\"']\n");
	{
		struct xz_model *again;
		struct xz_perror e;
		char *text = NULL;
		assert_string_equal(m->steps[0].party[0].labels[0].name, "a:b");
		assert_int_equal(xz_model_print(m, &text, &e), 0);
		again = parse_ok(text);
		assert_true(xz_model_equal(m, again));
		assert_non_null(strstr(text, "a:b:text"));
		free(text);
		free(again);
	}
	free(m);
}

/* body with @H, @L, @S and @O replaced by parts[0..3]. */
static void
expand(char *out, size_t cap, const char *body, const char *const parts[4])
{
	static const char tags[] = "HLSO";
	size_t n = 0;

	for (const char *p = body; *p != '\0' && n + 1 < cap; p++) {
		const char *t = p[0] == '@' && p[1] != '\0' ? strchr(tags, p[1]) : NULL;
		if (t != NULL) {
			n += (size_t)snprintf(out + n, cap - n, "%s", parts[t - tags]);
			p++;
			continue;
		}
		out[n++] = *p;
	}
	out[n] = '\0';
}

/* Each bad file names its line and key and says what is wrong. */
static void
test_schema_errors(void **state)
{
	static const char head[] = "id: x\nversion: 1\ntitle: t\npurpose: p\nlegal_basis: l\n";
	static const char loc[] = "local: {dataset: d, key: k}\n";
	static const char step[] = "steps:\n  - {name: s, peer: p, policy: y@1, dataset: e, "
	    "mode: intersect, labels: [a:date]}\n";
	static const char out[] = "output: [k]\n";
	static const struct { const char *body; unsigned long line; const char *key, *msg; } cases[] = {
		{ "@H@L@S@Obogus: 1\n", 10, "bogus", "docs/models.md" },
		{ "id: x\nversion: 1\npurpose: p\nlegal_basis: l\n@L@S@O", 1, "title",
		  "missing required key" },
		{ "@H@Lsteps: []\n@O", 7, "steps", "at least 1" },
		{ "@H@L@S@Oas_of: 2026-02-30\n", 10, "as_of", "YYYY-MM-DD" },
		{ "@H@L@Soutput: []\n", 9, "output", "at least 1" },
		{ "@H@L@Soutput: [k, k]\n", 9, "output[1]", "listed twice" },
		{ "@H@L@Soutput: [s.b]\n", 9, "output[0]", "does not ask for a label 'b'" },
		{ "@H@L@Soutput: [t.a]\n", 9, "output[0]", "there is no step 't'" },
		{ "@H@L@Soutput: ['k + 1']\n", 9, "output[0]", "not an expression" },
		{ "@H@L@S@Ofilter: s.a > as_of -\n", 10, "filter", "end of the filter" },
		{ "@H@L@S@Ofilter: \"k = 1; DROP TABLE x\"\n", 10, "filter", "not SQL" },
		{ "@Hlocal: {dataset: d, key: k, filter: s.a = 1}\n@S@O", 6, "local.filter",
		  "runs before any step" },
		{ "@H@Lsteps:\n  - {name: s, peer: p, policy: y, dataset: e, mode: intersect}\n@O",
		  8, "steps[0].policy", "needs its version" },
		{ "@H@Lsteps:\n  - {name: s, peer: p, policy: y@1, policy_version: 1, dataset: e, "
		  "mode: intersect}\n@O", 8, "steps[0].policy", "twice" },
		{ "@H@Lsteps:\n  - {name: s, peer: p, policy: y@0, dataset: e, mode: intersect}\n@O",
		  8, "steps[0].policy", "VERSION 1" },
		{ "@H@Lsteps:\n  - {name: s, peer: p, policy: y@1, dataset: e, mode: union}\n@O",
		  8, "steps[0].mode", "unknown mode" },
		{ "@H@Lsteps:\n  - {name: s, peer: p, policy: y@1, dataset: e, mode: difference, "
		  "labels: [a]}\n@O", 8, "steps[0].labels", "reveals no labels" },
		{ "@H@Lsteps:\n  - {name: s, peer: p, policy: y@1, dataset: e, mode: intersect, "
		  "labels: [a:money]}\n@O", 8, "steps[0].labels[0]", "unknown type" },
		{ "@H@Lsteps:\n  - {name: s, peer: p, policy: y@1, dataset: e, mode: intersect, "
		  "labels: [a, a:int]}\n@O", 8, "steps[0].labels[1]", "listed twice" },
		{ "@H@Lsteps:\n  - {name: s, peer: p, policy: y@1, dataset: e, mode: intersect}\n"
		  "  - {name: s, peer: p, policy: y@1, dataset: e, mode: difference}\n@O", 9,
		  "steps[1].name", "used twice" },
		{ "@H@Lsteps:\n  - {name: s, policy: y@1, dataset: e, mode: intersect}\n@O", 8,
		  "steps[0].peer", "missing required key" },
		{ "@H@Lsteps:\n  - {name: s, peer: p, policy: y@1, dataset: e, mode: intersect, "
		  "key: k}\n@O", 8, "steps[0].key", "belongs to delegated" },
		{ "@H@L@S@Osteps2: 1\n", 10, "steps2", "unknown key" },
		{ "@Hsteps:\n  - {name: s, peer: p, policy: y@1, dataset: e, mode: intersect}\n@O",
		  1, "local", "unless its first step is delegated" },
		{ "@H@Lsteps:\n  - name: s\n    query_size: 10\n    delegated:\n"
		  "      - {peer: a, policy: y@1, dataset: e}\n      - {peer: b, policy: y@1, "
		  "dataset: f}\n@O", 6, "local", "remove local" },
		{ "@H@Lsteps:\n  - {name: s, peer: p, policy: y@1, dataset: e, mode: intersect}\n"
		  "  - name: t\n    query_size: 10\n    delegated:\n"
		  "      - {peer: a, policy: y@1, dataset: e}\n      - {peer: b, policy: y@1, "
		  "dataset: f}\n@O", 9, "steps[1]", "must be the first step" },
		{ "@Hsteps:\n  - name: s\n    delegated:\n      - {peer: a, policy: y@1, dataset: e}\n"
		  "      - {peer: b, policy: y@1, dataset: f}\n@O", 7, "steps[0].query_size",
		  "needs query_size" },
		{ "@Hsteps:\n  - name: s\n    query_size: 9\n    delegated:\n"
		  "      - {peer: a, policy: y@1, dataset: e}\n@O", 10, "steps[0].delegated",
		  "at least 2" },
		{ "@Hsteps:\n  - name: s\n    query_size: 9\n    delegated:\n"
		  "      - {peer: a, policy: y@1, dataset: e}\n      - {peer: a, policy: y@1, "
		  "dataset: f}\n@O", 11, "steps[0].delegated", "two different owners" },
		{ "@Hsteps:\n  - name: s\n    query_size: 9\n    delegated:\n"
		  "      - {peer: a, policy: y@1, dataset: e, labels: [x]}\n      - {peer: b, "
		  "policy: y@1, dataset: f, labels: [x]}\n@O", 11, "steps[0].delegated",
		  "unique in a delegated step" },
		{ "@Hsteps:\n  - name: s\n    query_size: 9\n    mode: intersect\n    delegated:\n"
		  "      - {peer: a, policy: y@1, dataset: e}\n      - {peer: b, policy: y@1, "
		  "dataset: f}\n@O", 9, "steps[0].mode", "under delegated" },
		{ "@Hsteps:\n  - name: s\n    query_size: 9\n    key: x\n    delegated:\n"
		  "      - {peer: a, policy: y@1, dataset: e, labels: [x]}\n      - {peer: b, "
		  "policy: y@1, dataset: f}\noutput: [x]\n", 13, "output[0]",
		  "no local dataset" },
		{ "@Hsteps:\n  - name: s\n    query_size: 9\n    delegated:\n"
		  "      - {peer: a, policy: y@1, dataset: e, labels: [x]}\n      - {peer: b, "
		  "policy: y@1, dataset: f}\noutput: [s.x]\n", 7, "steps[0].key",
		  "needs key" },
		{ "@Hsteps:\n  - name: s\n    query_size: 9\n    key: y\n    delegated:\n"
		  "      - {peer: a, policy: y@1, dataset: e, labels: [x]}\n      - {peer: b, "
		  "policy: y@1, dataset: f}\noutput: [s.x]\n", 9, "steps[0].key",
		  "no owner is asked for label y" },
	};
	char text[4096], buf[1024];
	struct xz_perror e;
	struct xz_model *m = calloc(1, sizeof(*m));

	(void)state;
	assert_non_null(m);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *const parts[4] = { head, loc, step, out };
		expand(text, sizeof(text), cases[i].body, parts);
		memset(&e, 0, sizeof(e));
		if (xz_model_parse("m.yaml", text, strlen(text), m, &e) == 0)
			fail_msg("case %zu parsed:\n%s", i, text);
		xz_perror_format(&e, buf, sizeof(buf));
		if (strcmp(e.file, "m.yaml") != 0 || e.line != cases[i].line ||
		    strcmp(e.key, cases[i].key) != 0 || strstr(e.msg, cases[i].msg) == NULL)
			fail_msg("case %zu: got '%s', want line %lu key %s '%s'\n%s", i, buf,
			    cases[i].line, cases[i].key, cases[i].msg, text);
		/* A failed parse leaves the model zeroed. */
		for (size_t b = 0; b < sizeof(*m); b++)
			if (((const unsigned char *)m)[b] != 0)
				fail_msg("case %zu: model not zeroed", i);
	}
	/* YAML-level refusals. */
	snprintf(text, sizeof(text), "%s%s%s%sx: &a 1\ny: *a\n", head, loc, step, out);

	assert_int_not_equal(xz_model_parse("m.yaml", text, strlen(text), m, &e), 0);
	assert_non_null(strstr(e.msg, "aliases"));
	assert_int_not_equal(xz_model_parse("m.yaml", "id: [", 5, m, &e), 0);
	assert_non_null(strstr(e.msg, "not valid YAML"));
	free(m);
}

/* ---- against a real node ---- */

struct fx {
	char *tmp, *dir;
	struct xz_node *node;
	struct xz_nodeconf conf;
};

static void
import(struct fx *f, const char *name, const char *csv, struct xz_column_spec key,
    const struct xz_column_spec *cols, size_t n)
{
	struct xz_import_spec sp = { .dataset = name, .key = key, .columns = cols,
	    .ncolumns = n, .mode = XZ_IMPORT_CREATE, .actor = "test" };
	struct xz_import_result r;
	struct xz_diag d;
	char *path = xzt_path(f->tmp, "in.csv");

	xzt_write_file(path, csv, strlen(csv));
	sp.csv_path = path;
	if (xz_dataset_import(f->node, &sp, &r, &d) != 0)
		fail_msg("import %s: %s", name, d.msg);
	free(path);
}

#define USCC1 "91350100M000100Y43"

static struct fx *
fx_new(void)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct xz_diag d;
	static const struct xz_column_spec sales[] = {
		{ "station_name", XZ_COL_TEXT }, { "period", XZ_COL_TEXT },
		{ "sales_amount", XZ_COL_DECIMAL },
	};
	static const struct xz_column_spec judg[] = {
		{ "case_no", XZ_COL_TEXT }, { "name", XZ_COL_TEXT },
		{ "sentence_type", XZ_COL_TEXT }, { "effective_date", XZ_COL_DATE },
	};
	static const char *const peers[] = { "tax", "detention-centre", "public-security",
		"market-regulation", "medical-insurance", "civil-affairs" };

	assert_non_null(f);
	assert_true(sodium_init() >= 0);
	f->tmp = xzt_mkdtemp("model");
	f->dir = xzt_path(f->tmp, "node");
	if (xz_node_init(f->dir, "procuratorate", &d) != 0 ||
	    xz_node_open(f->dir, &f->node, &d) != 0 ||
	    xz_nodeconf_read(f->dir, &f->conf, &d) != 0 ||
	    xz_nodeconf_set(&f->conf, "identity", "procuratorate.example.gov.cn", "t", &d) != 0)
		fail_msg("node: %s", d.msg);
	for (size_t i = 0; i < sizeof(peers) / sizeof(peers[0]); i++) {
		char k[128], v[128];
		snprintf(k, sizeof(k), "peer.%s.address", peers[i]);
		if (xz_nodeconf_set(&f->conf, k, "127.0.0.1:7443", "t", &d) != 0)
			fail_msg("%s", d.msg);
		snprintf(k, sizeof(k), "peer.%s.identity", peers[i]);
		snprintf(v, sizeof(v), "%s.example.gov.cn", peers[i]);
		if (xz_nodeconf_set(&f->conf, k, v, "t", &d) != 0)
			fail_msg("%s", d.msg);
	}
	import(f, "fuel_sales", "uscc,station_name,period,sales_amount\n"
	    USCC1 ",一号站,2026-09,1000\n" USCC1 ",一号站,2026-10,2000.50\n"
	    "91350100M000200Y2L,二号站,2026-10,\n",
	    (struct xz_column_spec){ "uscc", XZ_COL_USCC }, sales, 3);
	import(f, "effective_judgments", "id_number,case_no,name,sentence_type,effective_date\n"
	    "11010519491231002X,C1,张三,有期徒刑,2026-10-01\n"
	    "440524198001010013,C2,李四,有期徒刑,2026-11-15\n"
	    "110101195001010017,C3,王五,拘役,2026-01-01\n"
	    "11010519491231002X,C4,张三,有期徒刑,2026-11-20\n",
	    (struct xz_column_spec){ "id_number", XZ_COL_CN_ID }, judg, 4);
	return f;
}

static void
fx_free(struct fx *f)
{
	xz_node_close(f->node);
	xzt_rmtree(f->tmp);
	free(f->tmp);
	free(f->dir);
	free(f);
}

static int
check(struct fx *f, const struct xz_model *m, struct xz_model_plan *plan, char *err,
    size_t cap)
{
	struct xz_perror e;

	if (xz_model_check(f->node, &f->conf, m, "m.yaml", plan, &e) != 0) {
		xz_perror_format(&e, err, cap);
		return -1;
	}
	return 0;
}

static void
test_check_against_the_node(void **state)
{
	static const struct { const char *from, *to, *msg; } bad[] = {
		{ "dataset: fuel_sales", "dataset: fuel_salez", "m.yaml:10: local.dataset: there "
		  "is no dataset 'fuel_salez'" },
		{ "key: uscc", "key: usc", "m.yaml:11: local.key: dataset fuel_sales has no column "
		  "'usc'" },
		{ "peer: tax", "peer: taxes", "m.yaml:13: steps[0].peer: no peer 'taxes'" },
		{ "0.5 * sales_amount", "0.5 * station_name", "m.yaml:20: filter: cannot multiply "
		  "decimal by text" },
		{ "filed.tax_period = period", "filed.tax_period = sales_amount", "m.yaml:20: "
		  "filter: cannot compare text with decimal" },
		{ "declared_sales:decimal", "declared_sales", "m.yaml:20: filter: cannot compare "
		  "text with decimal" },
		{ "output: [uscc,", "output: [nope,", "m.yaml:21: output[0]: dataset fuel_sales "
		  "has no column 'nope'" },
		{ "  key: uscc\n", "  key: uscc\n  filter: period = 2026\n", "m.yaml:12: "
		  "local.filter: cannot compare text with int" },
	};
	struct fx *f = fx_new();
	struct xz_model_plan plan;
	char text[4096], err[1024];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *at = strstr(fuel_tax, bad[i].from);
		struct xz_model *m;
		assert_non_null(at);
		snprintf(text, sizeof(text), "%.*s%s%s", (int)(at - fuel_tax), fuel_tax, bad[i].to,
		    at + strlen(bad[i].from));
		m = parse_ok(text);
		if (check(f, m, &plan, err, sizeof(err)) == 0)
			fail_msg("case %zu passed the check", i);
		if (strstr(err, bad[i].msg) == NULL)
			fail_msg("case %zu: got '%s', want '%s'", i, err, bad[i].msg);
		free(m);
	}
	{
		struct xz_model *m = parse_ok(fuel_tax);
		assert_int_equal(check(f, m, &plan, err, sizeof(err)), 0);
		assert_string_equal(plan.identity, "procuratorate.example.gov.cn");
		assert_string_equal(plan.peer_identity[0][0], "tax.example.gov.cn");
		assert_true(plan.joined[0]);
		assert_string_equal(plan.out[4].alias, "s1.l2");
		assert_string_equal(plan.out[0].alias, "L.k");
		xz_model_plan_release(&plan);
		free(m);
	}
	/* No identity yet: say how to set it. */
	f->conf.identity[0] = '\0';
	{
		struct xz_model *m = parse_ok(fuel_tax);
		assert_int_equal(check(f, m, &plan, err, sizeof(err)), -1);
		assert_non_null(strstr(err, "config set identity"));
		free(m);
	}
	fx_free(f);
}

static void
keys_of(struct fx *f, struct xz_model_plan *plan, const char *as_of, char *out, size_t cap)
{
	struct xz_sql s;
	struct xz_diag d;
	sqlite3_stmt *st = NULL;
	size_t n = 0;

	out[0] = '\0';
	xz_sql_init(&s);
	assert_int_equal(xz_model_sql(plan, XZ_MQ_KEYS, as_of, &s, &d), 0);
	assert_int_equal(sqlite3_prepare_v2(xz_node_db(f->node), s.text, -1, &st, NULL),
	    SQLITE_OK);
	assert_int_equal(xz_sql_bind(&s, st, 1), SQLITE_OK);
	while (sqlite3_step(st) == SQLITE_ROW)
		n += (size_t)snprintf(out + n, cap - n, "%s%s", n ? "," : "",
		    (const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	xz_sql_free(&s);
}

static void
test_local_query_on_a_real_store(void **state)
{
	struct fx *f = fx_new();
	struct xz_model *m = parse_ok(detention_overdue);
	struct xz_model_plan plan;
	char err[1024], keys[1024];

	(void)state;
	assert_int_equal(xz_expr_register(xz_node_db(f->node)), SQLITE_OK);
	if (check(f, m, &plan, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	/* As of 2026-11-30 only C1 took effect 30 days before; C2 and C4 are
	 * too recent, C3 is another sentence type.  Keys are distinct. */
	keys_of(f, &plan, "2026-11-30", keys, sizeof(keys));
	assert_string_equal(keys, "11010519491231002X");
	keys_of(f, &plan, "2026-12-20", keys, sizeof(keys));
	assert_string_equal(keys, "11010519491231002X,440524198001010013");
	keys_of(f, &plan, "2026-10-30", keys, sizeof(keys));
	assert_string_equal(keys, "");
	xz_model_plan_release(&plan);
	free(m);
	/* No local filter: every key, once, in store order. */
	m = parse_ok(fuel_tax);
	if (check(f, m, &plan, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	keys_of(f, &plan, "2026-11-30", keys, sizeof(keys));
	assert_string_equal(keys, USCC1 ",91350100M000200Y2L");
	xz_model_plan_release(&plan);
	free(m);
	fx_free(f);
}

static void
test_query_size(void **state)
{
	static const struct { uint64_t n, want; } cases[] = {
		{ 0, 100 }, { 1, 100 }, { 100, 100 }, { 101, 110 }, { 150, 150 }, { 999, 1000 },
		{ 1234, 1300 }, { 987654, 990000 }, { 10000000, 10000000 },
		{ 999999999999ULL, XZ_QUERY_SIZE_MAX },
	};
	struct xz_model_step s;

	(void)state;
	memset(&s, 0, sizeof(s));
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (xz_model_query_size(&s, cases[i].n) != cases[i].want)
			fail_msg("%llu -> %llu, want %llu", (unsigned long long)cases[i].n,
			    (unsigned long long)xz_model_query_size(&s, cases[i].n),
			    (unsigned long long)cases[i].want);
	s.query_size = 42;
	assert_int_equal(xz_model_query_size(&s, 100000), 42);
}

static void
test_drafts_match_their_steps(void **state)
{
	struct fx *f = fx_new();
	struct xz_model *m = parse_ok(fuel_tax);
	struct xz_model_plan plan;
	struct xz_request r, bad;
	struct xz_perror e;
	struct xz_diag d;
	unsigned char link[16] = {0};
	char err[1024], name[160];

	(void)state;
	if (check(f, m, &plan, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	assert_int_equal(xz_model_draft(&plan, 0, 0, 100, "2026-017", 1800000000, 1800086400,
	    link, &r, &d), 0);
	assert_int_equal(xz_request_validate(&r, &e), 0);
	assert_string_equal(r.requester, "procuratorate.example.gov.cn");
	assert_string_equal(r.responder, "tax.example.gov.cn");
	assert_string_equal(r.dataset, "fuel_tax_filings");
	assert_int_equal(r.n_labels, 2);
	assert_string_equal(r.labels[0], "declared_sales");	/* sorted */
	assert_string_equal(r.labels[1], "tax_period");
	assert_string_equal(r.purpose, m->purpose);
	assert_int_equal(xz_model_request_matches(&plan, 0, 0, &r, &d), 0);
	xz_model_request_name(&m->steps[0], 0, name, sizeof(name));
	assert_string_equal(name, "filed.yaml");
	/* Each field a step fixes is checked. */
	bad = r; snprintf(bad.responder, sizeof(bad.responder), "other.example");
	assert_int_equal(xz_model_request_matches(&plan, 0, 0, &bad, &d), -1);
	assert_non_null(strstr(d.msg, "addressed to 'other.example'"));
	bad = r; bad.policy_version = 2;
	assert_int_equal(xz_model_request_matches(&plan, 0, 0, &bad, &d), -1);
	assert_non_null(strstr(d.msg, "version 2"));
	bad = r; bad.mode = XZ_MODE_DIFFERENCE;
	assert_int_equal(xz_model_request_matches(&plan, 0, 0, &bad, &d), -1);
	assert_non_null(strstr(d.msg, "mode is difference"));
	bad = r; bad.n_labels = 1;
	assert_int_equal(xz_model_request_matches(&plan, 0, 0, &bad, &d), -1);
	bad = r; snprintf(bad.labels[1], sizeof(bad.labels[1]), "volume");
	assert_int_equal(xz_model_request_matches(&plan, 0, 0, &bad, &d), -1);
	assert_non_null(strstr(d.msg, "labels differ"));
	bad = r; snprintf(bad.dataset, sizeof(bad.dataset), "filings");
	assert_int_equal(xz_model_request_matches(&plan, 0, 0, &bad, &d), -1);
	bad = r; snprintf(bad.requester, sizeof(bad.requester), "someone.else");
	assert_int_equal(xz_model_request_matches(&plan, 0, 0, &bad, &d), -1);
	assert_non_null(strstr(d.msg, "not of this node"));
	xz_model_plan_release(&plan);
	free(m);
	/* A delegated step: both drafts name each other and share the link. */
	m = parse_ok(deceased_claims);
	if (check(f, m, &plan, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	memset(link, 0xab, sizeof(link));
	assert_int_equal(xz_model_draft(&plan, 0, 1, 100000, "2026-018", 1800000000,
	    1800086400, link, &r, &d), 0);
	assert_int_equal(r.mode, XZ_MODE_DELEGATED);
	assert_string_equal(r.partner, "medical-insurance.example.gov.cn");
	assert_string_equal(r.responder, "civil-affairs.example.gov.cn");
	assert_memory_equal(r.link, link, 16);
	assert_int_equal(xz_model_request_matches(&plan, 0, 1, &r, &d), 0);
	assert_int_equal(xz_model_request_matches(&plan, 0, 0, &r, &d), -1);
	xz_model_request_name(&m->steps[0], 1, name, sizeof(name));
	assert_string_equal(name, "claims.civil-affairs.yaml");
	xz_model_plan_release(&plan);
	free(m);
	fx_free(f);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_seed_models_round_trip),
		cmocka_unit_test(test_fields_of_a_parsed_model),
		cmocka_unit_test(test_schema_errors),
		cmocka_unit_test(test_check_against_the_node),
		cmocka_unit_test(test_local_query_on_a_real_store),
		cmocka_unit_test(test_query_size),
		cmocka_unit_test(test_drafts_match_their_steps),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
