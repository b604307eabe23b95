/*
 * Synthetic sample data for demos, tests and benchmarks: plausible but
 * invented people with valid resident ID numbers (GB 11643-1999 check
 * characters), mobile numbers, amounts and dates.  Deterministic for a
 * given seed, so a demo or benchmark can be repeated exactly.  Never real
 * persons: every ID number starts with region 99, which GB/T 2260 assigns
 * to no place.
 */
#ifndef XZ_SAMPLE_H
#define XZ_SAMPLE_H

#include <stdint.h>
#include <signal.h>
#include <stdio.h>

#include "diag.h"

/* A small deterministic generator (splitmix64); not for secrets. */
struct xz_sample_rng {
	uint64_t state;
};

void xz_sample_seed(struct xz_sample_rng *rng, uint64_t seed);
uint64_t xz_sample_next(struct xz_sample_rng *rng);

/* Writes a random valid 18-character resident ID number plus NUL to out. */
void xz_sample_cn_id(struct xz_sample_rng *rng, char out[19]);
/* Writes a random two- or three-character Chinese name (UTF-8) to out. */
void xz_sample_name(struct xz_sample_rng *rng, char *out, size_t cap);

/*
 * Writes a CSV of rows people: header 姓名,身份证号,手机号,金额,日期
 * (name, ID, mobile, amount, date).  Returns 0, or -1 on a write error.
 */
int xz_sample_people_csv(FILE *f, uint64_t rows, uint64_t seed);

/*
 * xiezhi sample case: the whole federation of the five seed cases
 * (docs/seed-cases.md, "Generating the data"), with planted matches, near
 * misses and the ground truth each model must reproduce.
 */
#define XZ_SAMPLE_CASE_MIN_SIZE 1000u
#define XZ_SAMPLE_CASE_MAX_SIZE 10000000u
#define XZ_SAMPLE_CASE_DEFAULT_SIZE 10000u
#define XZ_SAMPLE_CASE_DEFAULT_AS_OF "2026-11-30"
/* The as-of dates the generator accepts (birth dates stay after 1900). */
#define XZ_SAMPLE_CASE_FIRST_AS_OF "2000-01-01"
#define XZ_SAMPLE_CASE_LAST_AS_OF "2099-12-31"

#define XZ_SAMPLE_CASE_DATASETS 13
#define XZ_SAMPLE_CASE_MODELS 5

struct xz_sample_case_opts {
	uint64_t size;		/* invented people, MIN_SIZE .. MAX_SIZE */
	uint64_t seed;
	const char *as_of;	/* YYYY-MM-DD, from xz_sample_parse_as_of */
	/* Called now and then with entities done and the total; may be NULL. */
	void (*progress)(void *arg, uint64_t done, uint64_t total);
	void *progress_arg;
	/* When *stop becomes non-zero (a signal handler), the run stops and
	 * removes everything it wrote.  May be NULL. */
	volatile sig_atomic_t *stop;
};

/* What a run wrote; the strings are static. */
struct xz_sample_case_result {
	uint64_t people, companies;
	struct {
		const char *path;	/* "medical-insurance/claims.csv" */
		const char *encoding;	/* "UTF-8" or "GB18030" */
		uint64_t rows;		/* without the header */
	} datasets[XZ_SAMPLE_CASE_DATASETS];
	struct {
		const char *model;	/* "deceased-claims" */
		const char *path;	/* "truth/deceased-claims.csv" */
		uint64_t leads;
	} models[XZ_SAMPLE_CASE_MODELS];
};

/*
 * Checks that s is a date YYYY-MM-DD between FIRST_AS_OF and LAST_AS_OF.
 * Returns 0, or -1 with d saying what is wrong.
 */
int xz_sample_parse_as_of(const char *s, struct xz_diag *d);

/*
 * Writes the federation into dir, which must not exist or be an empty
 * directory.  Everything is written into a new directory next to it
 * (dir.tmp-XXXXXX, mode 0700, files 0600), synced, and renamed to dir
 * only when complete: on any failure (a write error, the disk full, *stop)
 * nothing is left behind and d says what happened.  Output depends only
 * on (size, seed, as_of).  Memory: a few hundred KiB plus the leads of
 * the ground truth, whatever the size.  Returns 0 and fills *res, or -1.
 */
int xz_sample_case_write(const char *dir, const struct xz_sample_case_opts *o,
    struct xz_sample_case_result *res, struct xz_diag *d);

#endif
