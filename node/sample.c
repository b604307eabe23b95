#include "sample.h"

#include <string.h>

#include "coltype.h"

/*
 * Region codes starting with 99 are assigned to no place in GB/T 2260, so
 * no generated number can be a real person's, whatever its birth date.
 */
static const char *const regions[] = {
	"990101", "990102", "990201", "990202", "990301", "990302", "990401",
	"990402", "990501", "990502",
};

static const char *const surnames[] = {
	"王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周", "徐", "孙",
	"马", "朱", "胡", "郭", "何", "高", "林", "罗", "郑", "梁", "谢", "宋",
};

static const char *const given[] = {
	"伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳",
	"杰", "娟", "涛", "明", "超", "秀英", "霞", "平", "刚", "桂英", "华", "建国",
};

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

void
xz_sample_seed(struct xz_sample_rng *rng, uint64_t seed)
{
	rng->state = seed ^ 0x9e3779b97f4a7c15ULL;
}

uint64_t
xz_sample_next(struct xz_sample_rng *rng)
{
	uint64_t z = (rng->state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static unsigned
pick(struct xz_sample_rng *rng, unsigned n)
{
	return (unsigned)(xz_sample_next(rng) % n);
}

void
xz_sample_cn_id(struct xz_sample_rng *rng, char out[19])
{
	unsigned year = 1940 + pick(rng, 66), month = 1 + pick(rng, 12);
	unsigned day = 1 + pick(rng, 28), seq = pick(rng, 1000);

	memcpy(out, regions[pick(rng, NELEM(regions))], 6);
	/* Seventeen digits: region, birth date, sequence; then the check. */
	for (int i = 0; i < 4; i++, year /= 10)
		out[9 - i] = (char)('0' + year % 10);
	out[10] = (char)('0' + month / 10);
	out[11] = (char)('0' + month % 10);
	out[12] = (char)('0' + day / 10);
	out[13] = (char)('0' + day % 10);
	out[14] = (char)('0' + seq / 100);
	out[15] = (char)('0' + seq / 10 % 10);
	out[16] = (char)('0' + seq % 10);
	out[17] = xz_cn_id_check_char(out);
	out[18] = '\0';
}

void
xz_sample_name(struct xz_sample_rng *rng, char *out, size_t cap)
{
	const char *s = surnames[pick(rng, NELEM(surnames))];
	const char *g1 = given[pick(rng, NELEM(given))];
	const char *g2 = pick(rng, 2) ? given[pick(rng, NELEM(given))] : "";

	snprintf(out, cap, "%s%s%s", s, g1, g2);
}

int
xz_sample_people_csv(FILE *f, uint64_t rows, uint64_t seed)
{
	struct xz_sample_rng rng;
	char id[19], name[32];

	xz_sample_seed(&rng, seed);
	fputs("姓名,身份证号,手机号,金额,日期\n", f);
	for (uint64_t i = 0; i < rows; i++) {
		xz_sample_cn_id(&rng, id);
		xz_sample_name(&rng, name, sizeof(name));
		fprintf(f, "%s,%s,1%u%09u,%u.%02u,2024-%02u-%02u\n", name, id,
		    3 + pick(&rng, 7), pick(&rng, 1000000000), pick(&rng, 100000),
		    pick(&rng, 100), 1 + pick(&rng, 12), 1 + pick(&rng, 28));
	}
	return ferror(f) ? -1 : 0;
}
