/*
 * Harness: supervision model files and the filter language (node/model.h,
 * node/expr.h).  Each input is given twice: as a model file to
 * xz_model_parse (as `xiezhi model check` and `model run` do, after their
 * size cap), and as filter text to xz_expr_parse.
 *
 * Promises checked: a refused model names the file, says why and is left
 * zeroed; an accepted one respects its limits, and printing then parsing
 * gives an equal model whose printing is the same text.  A refused filter
 * says why at a position inside the text; an accepted one prints a
 * canonical text that parses to the same canonical text; once checked
 * against a scope where every name resolves (types from a hash of the
 * name), its SQL holds no quote, no ';', no "--", no byte outside ASCII
 * and exactly one '?' per bound parameter: nothing from the text reaches
 * the SQL but through parameters.
 */
#include <string.h>

#include "expr.h"
#include "fuzz.h"
#include "model.h"

static int
all_zero(const void *p, size_t n)
{
	const unsigned char *b = p;

	for (size_t i = 0; i < n; i++)
		if (b[i] != 0)
			return 0;
	return 1;
}

static int
resolve(void *arg, const char *step, const char *name, enum xz_coltype *type,
    char alias[XZ_EXPR_ALIAS_MAX], char *why, size_t cap)
{
	unsigned h = 5381;

	(void)arg;
	(void)why;
	(void)cap;
	for (const char *p = name; *p != '\0'; p++)
		h = h * 33 + (unsigned char)*p;
	for (const char *p = step; *p != '\0'; p++)
		h = h * 33 + (unsigned char)*p;
	*type = (enum xz_coltype)(h % XZ_COLTYPE_COUNT);
	snprintf(alias, XZ_EXPR_ALIAS_MAX, "%s.c%u", step[0] != '\0' ? "s1" : "L", h % 64);
	return 0;
}

static void
check_sql(const struct xz_sql *s)
{
	size_t marks = 0;

	FUZZ_CHECK(!s->failed, "a compiled filter builds its SQL");
	for (size_t i = 0; i < s->len; i++) {
		unsigned char c = (unsigned char)s->text[i];
		FUZZ_CHECK(c != '\'' && c != '"' && c != ';' && c < 0x80 && c >= 0x20,
		    "compiled SQL holds only program text");
		FUZZ_CHECK(!(c == '-' && i + 1 < s->len && s->text[i + 1] == '-'),
		    "compiled SQL holds no comment");
		marks += c == '?';
	}
	FUZZ_CHECK(marks == s->np, "one '?' per parameter");
}

static void
filter_text(const char *text)
{
	static char canon[XZ_EXPR_MAX * 4], again[XZ_EXPR_MAX * 4];
	struct xz_expr_scope scope = { resolve, NULL };
	struct xz_expr *x = NULL, *y = NULL;
	struct xz_expr_error e;
	struct xz_sql s;
	size_t chars = 0;

	for (const char *p = text; *p != '\0'; p++)
		chars += ((unsigned char)*p & 0xc0) != 0x80;
	memset(&e, 0, sizeof(e));
	if (xz_expr_parse(text, &x, &e) != 0) {
		FUZZ_CHECK(x == NULL, "a refused filter gives no tree");
		FUZZ_CHECK(e.msg[0] != '\0', "a refused filter says why");
		FUZZ_CHECK(e.pos <= chars + 1, "the error position is inside the text");
		return;
	}
	FUZZ_CHECK(xz_expr_print(x, canon, sizeof(canon)) == 0, "a filter prints");
	if (strlen(canon) <= XZ_EXPR_MAX) {
		FUZZ_CHECK(xz_expr_parse(canon, &y, &e) == 0, "the canonical text parses");
		FUZZ_CHECK(xz_expr_print(y, again, sizeof(again)) == 0, "it prints again");
		FUZZ_CHECK(strcmp(canon, again) == 0, "the canonical text is stable");
		xz_expr_free(y);
	}
	if (xz_expr_check(x, &scope, &e) == 0) {
		xz_sql_init(&s);
		if (xz_expr_compile(x, "2026-11-30", &s, &e) == 0)
			check_sql(&s);
		xz_sql_free(&s);
	} else {
		FUZZ_CHECK(e.msg[0] != '\0', "a type error says why");
	}
	xz_expr_free(x);
}

static void
round_trip(const struct xz_model *m)
{
	static struct xz_model again;
	struct xz_perror e;
	char *text = NULL, *text2 = NULL;

	FUZZ_CHECK(xz_model_print(m, &text, &e) == 0, "a parsed model prints");
	if (xz_model_parse("printed.yaml", text, strlen(text), &again, &e) != 0) {
		char buf[1024];

		xz_perror_format(&e, buf, sizeof(buf));
		fprintf(stderr, "printed model refused: %s\n--\n%s--\n", buf, text);
		FUZZ_CHECK(0, "a printed model parses");
	}
	FUZZ_CHECK(xz_model_equal(m, &again), "print then parse gives an equal model");
	FUZZ_CHECK(xz_model_print(&again, &text2, &e) == 0, "the reparsed model prints");
	FUZZ_CHECK(strcmp(text, text2) == 0, "printing is stable");
	free(text);
	free(text2);
	/* Its filters are canonical text the filter path accepts. */
	if (m->local_filter[0] != '\0')
		filter_text(m->local_filter);
	if (m->filter[0] != '\0')
		filter_text(m->filter);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct xz_model m;	/* ~200 KB: not on the stack */
	struct xz_perror e;
	uint8_t *buf;
	char *text;

	if (size > XZ_MODEL_FILE_MAX)	/* xz_model_load's cap */
		return 0;
	buf = fuzz_dup(data, size);
	memset(&e, 0, sizeof(e));
	memset(&m, 0xA5, sizeof(m));
	if (xz_model_parse("fuzz.yaml", buf, size, &m, &e) != 0) {
		FUZZ_CHECK(strcmp(e.file, "fuzz.yaml") == 0, "the error names the file");
		FUZZ_CHECK(e.msg[0] != '\0', "the error says what is wrong");
		FUZZ_CHECK(all_zero(&m, sizeof(m)), "a failed parse leaves the model zeroed");
	} else {
		FUZZ_CHECK(m.n_steps >= 1 && m.n_steps <= XZ_MODEL_MAX_STEPS, "steps within caps");
		FUZZ_CHECK(m.n_output >= 1 && m.n_output <= XZ_MODEL_MAX_OUTPUT,
		    "outputs within caps");
		FUZZ_CHECK(m.has_local != (m.steps[0].mode == XZ_MODE_DELEGATED),
		    "a model starts from a local dataset or a delegated step");
		for (size_t i = 0; i < m.n_steps; i++)
			FUZZ_CHECK(m.steps[i].n_parties == (m.steps[i].mode == XZ_MODE_DELEGATED ?
			    2u : 1u), "a delegated step has two owners, others one");
		round_trip(&m);
	}
	free(buf);
	/* The same bytes as filter text (up to the first NUL). */
	if (size <= XZ_EXPR_MAX + 64) {
		text = malloc(size + 1);
		FUZZ_CHECK(text != NULL, "out of memory");
		memcpy(text, data, size);
		text[size] = '\0';
		filter_text(text);
		free(text);
	}
	return 0;
}
