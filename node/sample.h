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
#include <stdio.h>

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

#endif
