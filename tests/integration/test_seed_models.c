/*
 * The five seed models of docs/seed-cases.md, end to end: the generator's
 * invented federation (`xiezhi sample case`), seven real nodes (six owners
 * serving with xiezhid on 127.0.0.1, mutual TLS from a throwaway CA), the
 * owners' policies of policies/examples with this test's approver keys,
 * the models of deploy/demo/models run with `xiezhi model requests / run`
 * and two approvals per request.  Each model's exported leads must be
 * exactly the generator's ground truth, row for row.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "federation.h"

#define NOWNERS 6
#define CAP 4400

static const char *const owners[NOWNERS] = {
	"medical-insurance", "civil-affairs", "detention-centre", "public-security", "tax",
	"market-regulation",
};

/* Every dataset, its node and its import options (docs/seed-cases.md). */
static const struct {
	const char *node, *dataset, *encoding, *key;
	const char *columns[6];
} imports[] = {
	{ "procuratorate", "effective_judgments", NULL, "id_number:cn_id",
	  { "case_no:text", "name:text", "sentence_type:text", "effective_date:date" } },
	{ "procuratorate", "deprivation_judgments", NULL, "id_number:cn_id",
	  { "case_no:text", "name:text", "deprivation_start:date", "deprivation_end:date" } },
	{ "procuratorate", "fuel_sales", NULL, "uscc:uscc",
	  { "station_name:text", "period:text", "sales_amount:decimal" } },
	{ "procuratorate", "invoice_issuers", NULL, "uscc:uscc",
	  { "company_name:text", "invoice_total:decimal", "first_invoice_date:date" } },
	{ "medical-insurance", "claims", "gb18030", "id_number:cn_id",
	  { "claim_no:text", "name:text", "claim_date:date", "amount:decimal", "hospital:text" } },
	{ "medical-insurance", "insured_employers", NULL, "uscc:uscc", { "insured_staff:int" } },
	{ "civil-affairs", "death_registry", NULL, "id_number:cn_id",
	  { "name:text", "date_of_death:date" } },
	{ "detention-centre", "detention_register", "gb18030", "id_number:cn_id",
	  { "name:text", "admission_date:date", "custody_type:text" } },
	{ "public-security", "population_register", NULL, "id_number:cn_id",
	  { "name:text", "police_station:text", "registered_address:text" } },
	{ "public-security", "supervision_list", NULL, "id_number:cn_id",
	  { "supervision_start:date" } },
	{ "tax", "fuel_tax_filings", NULL, "uscc:uscc",
	  { "tax_period:text", "declared_sales:decimal" } },
	{ "market-regulation", "enterprise_registry", NULL, "uscc:uscc",
	  { "company_name:text", "registration_date:date", "registered_capital:decimal" } },
	{ "market-regulation", "abnormal_operations", NULL, "uscc:uscc",
	  { "listed_date:date", "reason:text" } },
};

static struct {
	char *tmp;
	pid_t daemon[NOWNERS];
} fx;

static void
node_dir(const char *name, char *out)
{
	snprintf(out, CAP, "%s/%s", fx.tmp, name);
}

static void
identity(const char *name, char *out)
{
	snprintf(out, 256, "%s.example.gov.cn", name);
}

static void
import_all(void)
{
	for (size_t i = 0; i < sizeof(imports) / sizeof(imports[0]); i++) {
		const char *args[32];
		char dir[CAP], csv[CAP];
		struct xzt_run r;
		int n = 0;

		node_dir(imports[i].node, dir);
		snprintf(csv, sizeof(csv), "%s/data/%s/%s.csv", fx.tmp, imports[i].node,
		    imports[i].dataset);
		args[n++] = "dataset"; args[n++] = "import"; args[n++] = imports[i].dataset;
		args[n++] = "--csv"; args[n++] = csv; args[n++] = "--key"; args[n++] = imports[i].key;
		if (imports[i].encoding != NULL) {
			args[n++] = "--encoding"; args[n++] = imports[i].encoding;
		}
		for (size_t c = 0; c < 6 && imports[i].columns[c] != NULL; c++) {
			args[n++] = "--column"; args[n++] = imports[i].columns[c];
		}
		args[n++] = "--dir"; args[n++] = dir;
		args[n] = NULL;
		xzf_runv(&r, NULL, args);
		xzf_must(&r, imports[i].dataset);
	}
}

/*
 * Installs policies/examples/NAME into its owner's policies/, with the
 * public key of each approver replaced by this test's (tmp/keys/ID.pub).
 */
static void
install_policy(const char *name)
{
	char src[CAP + 300], dst[CAP], line[4096], id[128] = "", owner[128] = "", dir[CAP];
	FILE *in, *out;

	snprintf(src, sizeof(src), "%s/policies/examples/%s", xzt_source_dir(), name);
	assert_non_null(in = fopen(src, "r"));
	snprintf(dst, sizeof(dst), "%s/%s.tmp", fx.tmp, name);
	assert_non_null(out = fopen(dst, "w"));
	while (fgets(line, sizeof(line), in) != NULL) {
		if (sscanf(line, "    - id: %127s", id) == 1) {
			size_t l = strlen(id);
			if (l > 13 && strcmp(id + l - 13, "-data-officer") == 0)
				snprintf(owner, sizeof(owner), "%.*s", (int)(l - 13), id);
		}
		if (strncmp(line, "      public_key: ", 18) == 0) {
			char pub[256], *k;
			snprintf(pub, sizeof(pub), "keys/%s.pub", id);
			k = xzf_read_pub(fx.tmp, pub);
			fprintf(out, "      public_key: %s\n", k);
			free(k);
			continue;
		}
		fputs(line, out);
	}
	fclose(in);
	assert_int_equal(fclose(out), 0);
	assert_true(owner[0] != '\0');
	node_dir(owner, dir);
	snprintf(src, sizeof(src), "%s/policies/%s", dir, name);
	assert_int_equal(rename(dst, src), 0);
	assert_int_equal(chmod(src, 0600), 0);
}

static void
keygen(const char *id)
{
	char *k = NULL;
	struct xzt_run r;

	if (asprintf(&k, "%s/keys/%s", fx.tmp, id) < 0)
		fail_msg("out of memory");
	XZF_RUN(&r, "keygen", "--out", k);
	xzf_must(&r, "keygen");
	free(k);
}

static int
group_setup(void **state)
{
	static const char *const policies[] = {
		"deceased-claims-medical-insurance.yaml", "deceased-claims-civil-affairs.yaml",
		"detention-overdue.yaml", "rights-unsupervised-population.yaml",
		"rights-unsupervised-supervision.yaml", "fuel-tax.yaml",
		"shell-companies-registry.yaml", "shell-companies-insured.yaml",
		"shell-companies-abnormal.yaml",
	};
	char dir[CAP], id[256], data[CAP], log[CAP], keys[CAP], proc[CAP];
	struct xzt_run r;

	(void)state;
	fx.tmp = xzt_mkdtemp("seed-models");
	snprintf(data, sizeof(data), "%s/data", fx.tmp);
	XZF_RUN(&r, "sample", "case", "--out", data, "--size", "2000", "--seed", "7",
	    "--as-of", "2026-11-30");
	xzf_must(&r, "sample case");
	xzf_make_ca(fx.tmp);
	node_dir("procuratorate", proc);
	xzf_add_node(fx.tmp, proc, "procuratorate", "procuratorate.example.gov.cn", 0);
	for (int i = 0; i < NOWNERS; i++) {
		node_dir(owners[i], dir);
		identity(owners[i], id);
		xzf_add_node(fx.tmp, dir, owners[i], id, 1);
	}
	import_all();
	snprintf(keys, sizeof(keys), "%s/keys", fx.tmp);
	assert_int_equal(mkdir(keys, 0700), 0);
	keygen("procuratorate-deputy-chief");
	for (int i = 0; i < NOWNERS; i++) {
		char officer[128];
		snprintf(officer, sizeof(officer), "%s-data-officer", owners[i]);
		keygen(officer);
	}
	for (size_t i = 0; i < sizeof(policies) / sizeof(policies[0]); i++)
		install_policy(policies[i]);
	for (int i = 0; i < NOWNERS; i++) {
		int st = 0, port;
		node_dir(owners[i], dir);
		identity(owners[i], id);
		snprintf(log, sizeof(log), "%s/%s.log", fx.tmp, owners[i]);
		port = xzf_start_xiezhid(dir, "2", log, NULL, &fx.daemon[i], &st);
		if (port == 0)
			fail_msg("%s's xiezhid exited with %d:\n%s", owners[i], st, xzf_log_text(log));
		xzf_set_peer_to(proc, owners[i], id, port);
	}
	return 0;
}

static int
group_teardown(void **state)
{
	(void)state;
	for (int i = 0; i < NOWNERS; i++) {
		if (fx.daemon[i] > 0) {
			kill(fx.daemon[i], SIGTERM);
			(void)xzf_wait_child(fx.daemon[i], 15000);
		}
	}
	if (getenv("XZT_KEEP") == NULL)
		xzt_rmtree(fx.tmp);
	free(fx.tmp);
	return 0;
}

/* The agency a request file is addressed to ("  responder: "X.example.gov.cn""). */
static void
responder_of(const char *path, char *owner, size_t cap)
{
	size_t len;
	char *t = xzt_read_file(path, &len), *p, *e;

	assert_non_null(t);
	assert_non_null(p = strstr(t, "\n  responder: \""));
	p += strlen("\n  responder: \"");
	assert_non_null(e = strstr(p, ".example.gov.cn\""));
	snprintf(owner, cap, "%.*s", (int)(e - p), p);
	free(t);
}

static void
approve_all(const char *reqdir)
{
	char cmd[CAP * 2], path[CAP], owner[128], key[CAP];
	FILE *ls;
	struct xzt_run r;
	int n = 0;

	snprintf(cmd, sizeof(cmd), "ls %s/*.yaml", reqdir);
	assert_non_null(ls = popen(cmd, "r"));
	while (fgets(path, sizeof(path), ls) != NULL) {
		path[strcspn(path, "\n")] = '\0';
		snprintf(key, sizeof(key), "%s/keys/procuratorate-deputy-chief.key", fx.tmp);
		XZF_RUN(&r, "request", "approve", path, "--key", key);
		xzf_must(&r, "approve deputy chief");
		responder_of(path, owner, sizeof(owner));
		snprintf(key, sizeof(key), "%s/keys/%s-data-officer.key", fx.tmp, owner);
		XZF_RUN(&r, "request", "approve", path, "--key", key);
		xzf_must(&r, "approve data officer");
		n++;
	}
	pclose(ls);
	assert_true(n > 0);
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* A CSV file's header, then its other lines sorted bytewise (CR dropped). */
static char *
sorted_csv(const char *path)
{
	size_t len, n = 0, cap = 64, used = 0;
	char *t = xzt_read_file(path, &len), **lines, *out, *save = NULL;

	assert_non_null(t);
	lines = malloc(cap * sizeof(*lines));
	out = malloc(len + 2);
	assert_non_null(lines);
	assert_non_null(out);
	for (char *l = strtok_r(t, "\r\n", &save); l != NULL; l = strtok_r(NULL, "\r\n", &save)) {
		if (n == cap)
			assert_non_null(lines = realloc(lines, (cap *= 2) * sizeof(*lines)));
		lines[n++] = l;
	}
	if (n > 1)
		qsort(lines + 1, n - 1, sizeof(*lines), cmp_str);
	for (size_t i = 0; i < n; i++)
		used += (size_t)sprintf(out + used, "%s\n", lines[i]);
	out[used] = '\0';
	free(lines);
	free(t);
	return out;
}

static void
run_model(const char *model)
{
	char file[CAP], reqdir[CAP], proc[CAP], leads[CAP], truth[CAP];
	char *got, *want;
	struct xzt_run r;

	snprintf(file, sizeof(file), "%s/deploy/demo/models/%s.yaml", xzt_source_dir(), model);
	snprintf(reqdir, sizeof(reqdir), "%s/requests-%s", fx.tmp, model);
	snprintf(leads, sizeof(leads), "%s/leads-%s.csv", fx.tmp, model);
	snprintf(truth, sizeof(truth), "%s/data/truth/%s.csv", fx.tmp, model);
	node_dir("procuratorate", proc);
	assert_int_equal(mkdir(reqdir, 0700), 0);
	XZF_RUN(&r, "model", "requests", file, "--out-dir", reqdir, "--as-of", "2026-11-30",
	    "--dir", proc);
	xzf_must(&r, "model requests");
	approve_all(reqdir);
	XZF_RUN(&r, "model", "run", file, "--request-dir", reqdir, "--as-of", "2026-11-30",
	    "--dir", proc);
	print_message("%s", r.out);
	xzf_must(&r, "model run");
	XZF_RUN(&r, "leads", "export", "--model", model, "--format", "values", "--out", leads,
	    "--dir", proc);
	xzf_must(&r, "leads export");
	got = sorted_csv(leads);
	want = sorted_csv(truth);
	/* At least a few leads, or the comparison proves little. */
	assert_true(strchr(strchr(want, '\n') + 1, '\n') != NULL);
	assert_string_equal(got, want);
	free(got);
	free(want);
}

static void test_deceased_claims(void **s) { (void)s; run_model("deceased-claims"); }
static void test_detention_overdue(void **s) { (void)s; run_model("detention-overdue"); }
static void test_rights_unsupervised(void **s) { (void)s; run_model("rights-unsupervised"); }
static void test_fuel_tax(void **s) { (void)s; run_model("fuel-tax"); }
static void test_shell_companies(void **s) { (void)s; run_model("shell-companies"); }

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_deceased_claims),
		cmocka_unit_test(test_detention_overdue),
		cmocka_unit_test(test_rights_unsupervised),
		cmocka_unit_test(test_fuel_tax),
		cmocka_unit_test(test_shell_companies),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
