/*
 * xiezhi sample case: the federation of the five seed cases, invented
 * (docs/seed-cases.md, "Generating the data").
 *
 * Everything is a pure function of (seed, size, as-of).  Each person i
 * of the N and each company j of the N/5 gets its own generator seeded
 * from (seed, i) or (seed, j), and a "story" from the block its place in
 * a keyed permutation of 0..N-1 falls into (person_blocks[] and
 * company_blocks[] below: basis points of the population, so the number
 * of people in each story is fixed by N alone).  A story says which
 * records the person has in which agency's dataset: a death and claims
 * after it, a prison sentence and a detention-centre entry, and so on,
 * including the near misses each model must not report.
 *
 * One pass over the people writes every person dataset at once and one
 * pass over the companies every company dataset, so memory does not grow
 * with N.  Before the next entity is made, the five model definitions of
 * docs/seed-cases.md are applied to the records just made for this
 * entity: every join is on the entity's own key and keys are distinct
 * between entities by construction (keyed permutations), so the leads of
 * a model are the union of the leads of each entity.  Only those lead
 * rows are kept in memory, sorted and written as truth/<model>.csv.  That
 * code is the generator's own; it shares nothing with the join code, and
 * tests/node/test_sample_truth.c recomputes every lead set from the CSV
 * files with an independent implementation.
 */
#include "sample.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <iconv.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "coltype.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* ---- the federation's files --------------------------------------------- */

enum {
	DS_EFFECTIVE_JUDGMENTS, DS_DEPRIVATION_JUDGMENTS, DS_FUEL_SALES, DS_INVOICE_ISSUERS,
	DS_CLAIMS, DS_INSURED_EMPLOYERS, DS_DEATH_REGISTRY, DS_DETENTION_REGISTER,
	DS_POPULATION_REGISTER, DS_SUPERVISION_LIST, DS_FUEL_TAX_FILINGS,
	DS_ENTERPRISE_REGISTRY, DS_ABNORMAL_OPERATIONS,
};

/* The datasets of docs/seed-cases.md, in the order of its node table. */
static const struct dataset {
	const char *node, *name, *path;
	int gb18030;		/* a legacy export: GB18030 with CRLF line ends */
	const char *columns;	/* "name:type,..."; the first is the key */
} datasets[XZ_SAMPLE_CASE_DATASETS] = {
	{ "procuratorate", "effective_judgments", "procuratorate/effective_judgments.csv", 0,
	  "id_number:cn_id,case_no:text,name:text,sentence_type:text,effective_date:date" },
	{ "procuratorate", "deprivation_judgments", "procuratorate/deprivation_judgments.csv", 0,
	  "id_number:cn_id,case_no:text,name:text,deprivation_start:date,deprivation_end:date" },
	{ "procuratorate", "fuel_sales", "procuratorate/fuel_sales.csv", 0,
	  "uscc:uscc,station_name:text,period:text,sales_amount:decimal" },
	{ "procuratorate", "invoice_issuers", "procuratorate/invoice_issuers.csv", 0,
	  "uscc:uscc,company_name:text,invoice_total:decimal,first_invoice_date:date" },
	{ "medical-insurance", "claims", "medical-insurance/claims.csv", 1,
	  "id_number:cn_id,claim_no:text,name:text,claim_date:date,amount:decimal,hospital:text" },
	{ "medical-insurance", "insured_employers", "medical-insurance/insured_employers.csv", 0,
	  "uscc:uscc,insured_staff:int" },
	{ "civil-affairs", "death_registry", "civil-affairs/death_registry.csv", 0,
	  "id_number:cn_id,name:text,date_of_death:date" },
	{ "detention-centre", "detention_register", "detention-centre/detention_register.csv", 1,
	  "id_number:cn_id,name:text,admission_date:date,custody_type:text" },
	{ "public-security", "population_register", "public-security/population_register.csv", 0,
	  "id_number:cn_id,name:text,police_station:text,registered_address:text" },
	{ "public-security", "supervision_list", "public-security/supervision_list.csv", 0,
	  "id_number:cn_id,supervision_start:date" },
	{ "tax", "fuel_tax_filings", "tax/fuel_tax_filings.csv", 0,
	  "uscc:uscc,tax_period:text,declared_sales:decimal" },
	{ "market-regulation", "enterprise_registry", "market-regulation/enterprise_registry.csv", 0,
	  "uscc:uscc,company_name:text,registration_date:date,registered_capital:decimal" },
	{ "market-regulation", "abnormal_operations", "market-regulation/abnormal_operations.csv", 0,
	  "uscc:uscc,listed_date:date,reason:text" },
};

static const char *const node_dirs[] = {
	"procuratorate", "medical-insurance", "civil-affairs", "detention-centre",
	"public-security", "tax", "market-regulation", "truth",
};

enum { M_DECEASED_CLAIMS, M_DETENTION_OVERDUE, M_RIGHTS_UNSUPERVISED, M_FUEL_TAX, M_SHELL };

/* The models' output columns, exactly as docs/seed-cases.md names them. */
static const struct model {
	const char *name, *path, *header;
} models[XZ_SAMPLE_CASE_MODELS] = {
	{ "deceased-claims", "truth/deceased-claims.csv",
	  "claims.id_number,claims.claim_no,claims.claim_date,claims.amount,claims.date_of_death" },
	{ "detention-overdue", "truth/detention-overdue.csv",
	  "id_number,case_no,effective_date,held.admission_date,held.custody_type" },
	{ "rights-unsupervised", "truth/rights-unsupervised.csv",
	  "id_number,case_no,deprivation_end,resident.police_station" },
	{ "fuel-tax", "truth/fuel-tax.csv",
	  "uscc,station_name,period,sales_amount,filed.declared_sales" },
	{ "shell-companies", "truth/shell-companies.csv",
	  "uscc,company_name,invoice_total,registered.registration_date,abnormal.reason" },
};

/* ---- built-in lists ----------------------------------------------------- */

/*
 * Two invented prefecture-level cities under the invented province code
 * 99 (court abbreviation 瀚).  GB/T 2260 gives 99 to no place, so no
 * generated ID number or credit code can be anybody's.
 */
static const struct region {
	const char *code, *city, *district;
	int county;	/* a county or county-level city: own police bureau */
} regions[] = {
	{ "990102", "瀚海市", "东湖区", 0 }, { "990103", "瀚海市", "西岭区", 0 },
	{ "990104", "瀚海市", "南江区", 0 }, { "990105", "瀚海市", "北山区", 0 },
	{ "990106", "瀚海市", "高新区", 0 }, { "990111", "瀚海市", "临港区", 0 },
	{ "990121", "瀚海市", "青石县", 1 }, { "990122", "瀚海市", "白河县", 1 },
	{ "990123", "瀚海市", "云溪县", 1 }, { "990181", "瀚海市", "柳林市", 1 },
	{ "990202", "临渊市", "城关区", 0 }, { "990203", "临渊市", "滨江区", 0 },
	{ "990204", "临渊市", "望湖区", 0 }, { "990221", "临渊市", "石门县", 1 },
	{ "990222", "临渊市", "金沙县", 1 }, { "990223", "临渊市", "梅岭县", 1 },
	{ "990281", "临渊市", "清源市", 1 },
};

static const char *const surnames[] = {
	"王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周", "徐", "孙", "马", "朱",
	"胡", "郭", "何", "高", "林", "罗", "郑", "梁", "谢", "宋", "唐", "许", "韩", "冯",
	"邓", "曹", "彭", "曾", "肖", "田", "董", "袁", "潘", "于", "蒋", "蔡", "余", "杜",
	"叶", "程", "苏", "魏", "吕", "丁", "任", "沈", "姚", "卢", "姜", "崔", "钟", "谭",
	"陆", "汪", "范", "金", "石", "廖", "贾", "夏", "韦", "方", "白", "邹", "孟", "熊",
	"秦", "邱", "江", "尹", "薛", "闫", "段", "雷", "侯", "龙", "史", "陶", "黎", "贺",
	"顾", "毛", "郝", "龚", "邵", "万", "钱", "严", "覃", "武", "戴", "莫", "孔", "汤",
};

static const char *const compound_surnames[] = { "欧阳", "司马", "上官", "诸葛", "东方" };

static const char *const given_male[] = {
	"伟", "强", "磊", "军", "洋", "勇", "杰", "涛", "明", "超", "刚", "平", "辉", "鹏",
	"华", "飞", "鑫", "波", "斌", "宇", "浩", "凯", "健", "俊", "帆", "帅", "旭", "宁",
	"龙", "林", "阳", "建", "国", "峰", "亮", "成", "志", "文", "海", "东", "雷", "晨",
	"博", "鸿", "振", "锋", "家", "兴", "德", "荣",
};

static const char *const given_female[] = {
	"芳", "娜", "敏", "静", "丽", "艳", "娟", "霞", "燕", "玲", "桂", "英", "秀", "兰",
	"萍", "红", "梅", "琳", "雪", "婷", "慧", "颖", "倩", "洁", "丹", "莉", "琴", "云",
	"欣", "悦", "怡", "佳", "雯", "璐", "蕾", "薇", "晶", "月", "妍", "彤", "露", "瑶",
	"菲", "媛", "春", "凤",
};

static const char *const streets[] = {
	"人民路", "解放路", "中山路", "建设路", "和平路", "新华路", "长江路", "黄河路",
	"文化路", "胜利路", "朝阳路", "迎宾大道", "滨河路", "光明街", "东风路", "幸福路",
	"学府路", "青年路", "复兴路", "工业大道",
};

static const char *const towns[] = {
	"城关镇", "石桥镇", "河口镇", "新集镇", "柳湾镇", "龙泉镇", "双河镇", "马坪乡",
	"青龙乡", "桃源乡",
};

static const char *const villages[] = {
	"东村", "西村", "王家村", "李家庄", "张湾村", "新民村", "红星村", "前进村",
	"大坪村", "杨柳村",
};

static const char *const station_areas[] = {
	"城东", "城西", "城南", "城北", "文昌", "花园", "站前", "湖滨", "新村", "江滨",
	"龙泉", "金桥",
};

static const char *const brand_chars[] = {
	"鑫", "盛", "华", "恒", "泰", "宏", "达", "兴", "隆", "瑞", "丰", "源", "金", "汇",
	"通", "博", "远", "诚", "信", "德", "鼎", "旺", "昌", "顺", "永", "嘉", "利", "聚",
	"联", "创",
};

static const char *const industries[] = {
	"商贸", "贸易", "科技", "信息技术", "建材", "物流", "实业", "电子", "餐饮管理",
	"建筑工程", "供应链管理", "文化传媒", "农业开发", "机械设备", "劳务服务",
};

/* Grounds for listing in the abnormal operations list (企业经营异常名录
 * 管理暂行办法, art. 4). */
static const char *const abnormal_reasons[] = {
	"未按照规定的期限公示年度报告",
	"未在市场监督管理部门依照规定责令的期限内公示有关企业信息",
	"公示企业信息隐瞒真实情况、弄虚作假",
	"通过登记的住所或者经营场所无法联系",
};
enum { REASON_UNREACHABLE = 3 };

enum { SENT_PRISON, SENT_CRIMINAL_DETENTION, SENT_CONTROL, SENT_PROBATION };
static const char *const sentence_types[] = { "有期徒刑", "拘役", "管制", "缓刑" };

enum { CUST_DETAINED, CUST_ARRESTED, CUST_SERVING };
static const char *const custody_types[] = { "刑事拘留", "逮捕", "留所服刑" };

/* ---- calendar (proleptic Gregorian, days since 1970-01-01) --------------- */

static int64_t
days_from_civil(int64_t y, unsigned m, unsigned d)
{
	int64_t era;
	unsigned yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = (unsigned)(y - era * 400);
	doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

static void
civil_from_days(int64_t z, int *y, unsigned *m, unsigned *d)
{
	int64_t era;
	unsigned doe, yoe, doy, mp;

	z += 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = (unsigned)(z - era * 146097);
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp < 10 ? mp + 3 : mp - 9;
	*y = (int)((int64_t)yoe + era * 400 + (*m <= 2));
}

/* "YYYY-MM-DD": the stored form of a date (docs/import.md). */
static void
fmt_date(char out[16], int64_t day)
{
	int y;
	unsigned m, d;

	civil_from_days(day, &y, &m, &d);
	snprintf(out, 16, "%04d-%02u-%02u", y, m, d);
}

/* "YYYY年M月D日", how the detention centre's old system writes dates. */
static void
fmt_date_cn(char out[32], int64_t day)
{
	int y;
	unsigned m, d;

	civil_from_days(day, &y, &m, &d);
	snprintf(out, 32, "%04d年%u月%u日", y, m, d);
}

static int
parse_iso_date(const char *s, int64_t *day)
{
	unsigned v[3] = { 0, 0, 0 };
	static const unsigned mdays[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	unsigned dim;

	if (strlen(s) != 10 || s[4] != '-' || s[7] != '-')
		return -1;
	for (int i = 0, f = 0; i < 10; i++) {
		if (i == 4 || i == 7) {
			f++;
			continue;
		}
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v[f] = v[f] * 10 + (unsigned)(s[i] - '0');
	}
	if (v[1] < 1 || v[1] > 12)
		return -1;
	dim = mdays[v[1] - 1];
	if (v[1] == 2 && v[0] % 4 == 0 && (v[0] % 100 != 0 || v[0] % 400 == 0))
		dim = 29;
	if (v[2] < 1 || v[2] > dim)
		return -1;
	*day = days_from_civil(v[0], v[1], v[2]);
	return 0;
}

int
xz_sample_parse_as_of(const char *s, struct xz_diag *d)
{
	int64_t day, lo, hi;

	if (s == NULL || parse_iso_date(s, &day) != 0)
		return xz_diag_set(d, "--as-of must be a calendar date written YYYY-MM-DD "
		    "(for example %s)", XZ_SAMPLE_CASE_DEFAULT_AS_OF);
	parse_iso_date(XZ_SAMPLE_CASE_FIRST_AS_OF, &lo);
	parse_iso_date(XZ_SAMPLE_CASE_LAST_AS_OF, &hi);
	if (day < lo || day > hi)
		return xz_diag_set(d, "--as-of must be from %s to %s",
		    XZ_SAMPLE_CASE_FIRST_AS_OF, XZ_SAMPLE_CASE_LAST_AS_OF);
	return 0;
}

/* ---- randomness: per-entity generators and keyed permutations ----------- */

static uint64_t
mix64(uint64_t z)
{
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* Independent streams: every entity's draws depend only on (seed, domain,
 * index), never on what was drawn for another entity. */
enum { DOM_PERSON = 1, DOM_COMPANY, DOM_PERM_STORY, DOM_PERM_ID, DOM_PERM_CSTORY,
       DOM_PERM_ORG, DOM_PERM_CLAIM };

static void
entity_rng(uint64_t seed, uint64_t domain, uint64_t index, struct xz_sample_rng *r)
{
	xz_sample_seed(r, mix64(seed ^ mix64(domain << 56 ^ mix64(index + 1))));
}

static uint64_t
below(struct xz_sample_rng *r, uint64_t n)
{
	return xz_sample_next(r) % n;
}

/* Uniform in [lo, hi]. */
static int64_t
range(struct xz_sample_rng *r, int64_t lo, int64_t hi)
{
	return lo + (int64_t)below(r, (uint64_t)(hi - lo + 1));
}

/* True with probability 1/n. */
static int
one_in(struct xz_sample_rng *r, uint64_t n)
{
	return below(r, n) == 0;
}

/*
 * A keyed permutation of 0..n-1: a four-round Feistel network on the
 * smallest even number of bits that holds n-1, with cycle walking (values
 * at or above n are encrypted again until they fall below n).  Gives
 * every person and company its own ID number, credit code and story with
 * no collisions and no table.
 */
struct perm {
	uint64_t n;
	unsigned half;
	uint64_t key[4];
};

static void
perm_init(struct perm *p, uint64_t n, uint64_t seed, uint64_t domain)
{
	unsigned bits = 1;

	while (bits < 64 && (n - 1) >> bits != 0)
		bits++;
	p->n = n;
	p->half = (bits + 1) / 2;
	for (unsigned i = 0; i < 4; i++)
		p->key[i] = mix64(seed ^ mix64((domain << 8 | i) + 0x5851f42d4c957f2dULL));
}

static uint64_t
perm_apply(const struct perm *p, uint64_t x)
{
	uint64_t mask = (1ULL << p->half) - 1;

	do {
		uint64_t l = x >> p->half, r = x & mask;

		for (unsigned i = 0; i < 4; i++) {
			uint64_t f = mix64(r ^ p->key[i]) & mask;
			uint64_t t = r;

			r = l ^ f;
			l = t;
		}
		x = l << p->half | r;
	} while (x >= p->n);
	return x;
}

/* ---- stories ------------------------------------------------------------ */

enum pstory {
	P_ORDINARY,
	P_DC_LEAD, P_DC_SAMEDAY, P_DC_BEFORE, P_DEAD,
	P_DT_LEAD, P_DT_RECENT, P_DT_TYPE, P_DT_TRANSFERRED, P_JUDGED, P_DETAINED,
	P_RU_LEAD, P_RU_SUPERVISED, P_RU_EXPIRED, P_RU_FUTURE, P_RU_MOVED, P_RU_DEAD,
	P_MOVED_OUT, P_SUPERVISED,
};

/* Basis points of the population in each story (docs/seed-cases.md). */
static const struct block {
	unsigned until;
	int story;
} person_blocks[] = {
	{ 40, P_DC_LEAD }, { 60, P_DC_SAMEDAY }, { 160, P_DC_BEFORE }, { 480, P_DEAD },
	{ 510, P_DT_LEAD }, { 525, P_DT_RECENT }, { 540, P_DT_TYPE },
	{ 600, P_DT_TRANSFERRED }, { 680, P_JUDGED }, { 740, P_DETAINED },
	{ 770, P_RU_LEAD }, { 830, P_RU_SUPERVISED }, { 850, P_RU_EXPIRED },
	{ 860, P_RU_FUTURE }, { 870, P_RU_MOVED }, { 880, P_RU_DEAD },
	{ 1080, P_MOVED_OUT }, { 1130, P_SUPERVISED }, { 10000, P_ORDINARY },
};

enum cstory {
	C_ORDINARY,
	C_F_LEAD, C_F_HALF, C_F_CROSS, C_F_HONEST, C_F_OTHER,
	C_S_LEAD, C_S_SMALL, C_S_INSURED, C_S_NOTABNORMAL, C_S_UNREGISTERED, C_S_NORMAL,
};

static const struct block company_blocks[] = {
	{ 75, C_F_LEAD }, { 125, C_F_HALF }, { 175, C_F_CROSS }, { 300, C_F_HONEST },
	{ 550, C_F_OTHER }, { 700, C_S_LEAD }, { 750, C_S_SMALL }, { 800, C_S_INSURED },
	{ 850, C_S_NOTABNORMAL }, { 900, C_S_UNREGISTERED }, { 1100, C_S_NORMAL },
	{ 10000, C_ORDINARY },
};

/*
 * The story of the entity at place (of total) and, in *k, its rank
 * within the story's block.  The rank picks the boundary variants (a
 * sentence exactly 30 days old, an invoice total of exactly a million):
 * the first entity of a block always gets them, so they are there at
 * every size.
 */
static int
story_of(const struct block *b, uint64_t place, uint64_t total, uint64_t *k)
{
	uint64_t bp = place * 10000 / total, from = 0;

	while (bp >= b->until) {
		from = b->until;
		b++;
	}
	/* the first place whose basis point is "from" */
	*k = place - (from * total + 9999) / 10000;
	return b->story;
}

/* ---- the generator's state ---------------------------------------------- */

/* One output file, buffered; GB18030 files are converted line by line. */
struct sink {
	int fd;
	iconv_t cd;		/* (iconv_t)-1 for UTF-8 */
	const char *eol;
	const char *rel;	/* path under DIR, for messages */
	uint64_t rows;
	size_t len;
	char buf[1 << 16];
};

/* The lead rows of one model: NUL-terminated strings in one arena. */
struct truth {
	char *arena;
	size_t used, cap;
	size_t *off;
	size_t n, ncap;
};

#define BIRTH_DAYS 24455	/* birth dates span 67 years ... */
#define ADULT_DAYS 6575		/* ... ending 18 years before as-of */
#define MONTHS 12		/* fuel periods: the 12 months before as-of's */

struct gen {
	const struct xz_sample_case_opts *o;
	uint64_t seed, people, companies;
	int64_t as_of, birth_first;
	struct perm story, ids, cstory, orgs, claims;
	char period[MONTHS][24];
	struct sink *sinks[XZ_SAMPLE_CASE_DATASETS];
	struct truth truth[XZ_SAMPLE_CASE_MODELS];
	char *tmpdir;
	char *made[32];		/* paths created under tmpdir, in order */
	size_t nmade;
	const char *final;	/* DIR as given */
	int err;		/* a write failed: d says which */
	struct xz_diag *d;
};

/* ---- output ------------------------------------------------------------- */

static int
gen_fail(struct gen *g, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int
gen_fail(struct gen *g, const char *fmt, ...)
{
	va_list ap;

	if (g->err)
		return -1;
	g->err = 1;
	if (g->d != NULL) {
		va_start(ap, fmt);
		vsnprintf(g->d->msg, sizeof(g->d->msg), fmt, ap);
		va_end(ap);
	}
	return -1;
}

static int
remember(struct gen *g, const char *path)
{
	char *p;

	if (g->nmade == NELEM(g->made) || (p = strdup(path)) == NULL)
		return gen_fail(g, "out of memory");
	g->made[g->nmade++] = p;
	return 0;
}

static int
sink_flush(struct gen *g, struct sink *s)
{
	size_t done = 0;

	while (done < s->len) {
		ssize_t w = write(s->fd, s->buf + done, s->len - done);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			int e = w < 0 ? errno : EIO;

			return gen_fail(g, "cannot write %s/%s: %s", g->final, s->rel,
			    strerror(e));
		}
		done += (size_t)w;
	}
	s->len = 0;
	return 0;
}

static int
sink_open(struct gen *g, const char *rel, int gb18030, struct sink **out)
{
	size_t n = strlen(g->tmpdir) + strlen(rel) + 2;
	char *path = malloc(n);
	struct sink *s = NULL;
	int rc = -1;

	*out = NULL;
	if (path == NULL || (s = calloc(1, sizeof(*s))) == NULL) {
		gen_fail(g, "out of memory");
		goto done;
	}
	snprintf(path, n, "%s/%s", g->tmpdir, rel);
	s->fd = -1;
	s->cd = (iconv_t)-1;
	s->rel = rel;
	s->eol = gb18030 ? "\r\n" : "\n";
	if (gb18030 && (s->cd = iconv_open("GB18030", "UTF-8")) == (iconv_t)-1) {
		gen_fail(g, "cannot write GB18030: iconv on this system does not offer it (%s)",
		    strerror(errno));
		goto done;
	}
	/* Remembered first, so that a file created is always removed again
	 * on failure (removing one never created is harmless). */
	if (remember(g, path) != 0)
		goto done;
	s->fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (s->fd < 0) {
		gen_fail(g, "cannot create %s/%s: %s", g->final, rel, strerror(errno));
		goto done;
	}
	*out = s;
	s = NULL;
	rc = 0;
done:
	if (s != NULL) {
		if (s->fd >= 0)
			close(s->fd);
		if (s->cd != (iconv_t)-1)
			iconv_close(s->cd);
		free(s);
	}
	free(path);
	return rc;
}

/* Flushes, syncs and closes s; frees it. */
static int
sink_close(struct gen *g, struct sink *s)
{
	if (s == NULL)
		return 0;
	if (!g->err && sink_flush(g, s) == 0 && fsync(s->fd) != 0)
		gen_fail(g, "cannot write %s/%s: %s", g->final, s->rel, strerror(errno));
	if (close(s->fd) != 0 && !g->err)
		gen_fail(g, "cannot write %s/%s: %s", g->final, s->rel, strerror(errno));
	if (s->cd != (iconv_t)-1)
		iconv_close(s->cd);
	free(s);
	return g->err ? -1 : 0;
}

/* Appends one line (the text without its line end). */
static int
sink_line(struct gen *g, struct sink *s, const char *text, size_t len)
{
	size_t eol = strlen(s->eol);

	if (g->err)
		return -1;
	/* GB18030 never takes more bytes than UTF-8 for the same text. */
	if (len + eol > sizeof(s->buf) - s->len && sink_flush(g, s) != 0)
		return -1;
	if (len + eol > sizeof(s->buf))
		return gen_fail(g, "internal error: a line of %s is too long", s->rel);
	if (s->cd == (iconv_t)-1) {
		memcpy(s->buf + s->len, text, len);
		s->len += len;
	} else {
		char *in = (char *)(uintptr_t)text, *outp = s->buf + s->len;
		size_t inleft = len, outleft = sizeof(s->buf) - s->len;

		if (iconv(s->cd, &in, &inleft, &outp, &outleft) == (size_t)-1 || inleft != 0)
			return gen_fail(g, "cannot convert a line of %s to GB18030: %s", s->rel,
			    strerror(errno));
		s->len = sizeof(s->buf) - outleft;
	}
	memcpy(s->buf + s->len, s->eol, eol);
	s->len += eol;
	return 0;
}

static int
sink_row(struct gen *g, struct sink *s, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* A data row: the fields, already joined by commas (no field holds a
 * comma, a quote or a line break, so none needs quoting). */
static int
sink_row(struct gen *g, struct sink *s, const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(line))
		return gen_fail(g, "internal error: a row of %s is too long", s->rel);
	s->rows++;
	return sink_line(g, s, line, (size_t)n);
}

/* ---- values ------------------------------------------------------------- */

/* The stored form of an amount of cents (docs/import.md, "decimal"): no
 * trailing zeros in the fraction, no point when it is zero. */
static void
fmt_amount(char out[32], uint64_t cents)
{
	uint64_t y = cents / 100;
	unsigned c = (unsigned)(cents % 100);

	if (c == 0)
		snprintf(out, 32, "%llu", (unsigned long long)y);
	else if (c % 10 == 0)
		snprintf(out, 32, "%llu.%u", (unsigned long long)y, c / 10);
	else
		snprintf(out, 32, "%llu.%02u", (unsigned long long)y, c);
}

/* How the exports write an amount: always two decimals. */
static void
fmt_amount_export(char out[32], uint64_t cents)
{
	snprintf(out, 32, "%llu.%02u", (unsigned long long)(cents / 100),
	    (unsigned)(cents % 100));
}

static const char *
pick_str(struct xz_sample_rng *r, const char *const *list, size_t n)
{
	return list[below(r, n)];
}
#define PICK(r, list) pick_str((r), (list), NELEM(list))

/* An amount in cents, uniform between two amounts in yuan. */
static uint64_t
yuan(struct xz_sample_rng *r, int64_t lo, int64_t hi)
{
	return (uint64_t)range(r, lo * 100, hi * 100);
}

/* ---- people ------------------------------------------------------------- */

#define MAX_CLAIMS 8

struct claim {
	int64_t date;
	uint64_t cents;
	char no[24];
	char hospital[96];
};

struct judgment {
	int64_t effective;
	int sentence;
	char case_no[48];
};

struct deprivation {
	int64_t start, end;
	char case_no[48];
};

struct person {
	uint64_t index, k;
	int story;
	char id[19];
	const struct region *region;
	int64_t birth;
	char name[16];
	int resident;
	char station[96], address[128];
	int deceased;
	int64_t death;
	int detained, custody;
	int64_t admission;
	int supervised;
	int64_t supervision_start;
	size_t nclaims, njudgments, ndeprivations;
	struct claim claims[MAX_CLAIMS];
	struct judgment judgments[2];
	struct deprivation deprivations[2];
};

/*
 * Resident ID number (GB 11643-1999): region, birth date, sequence
 * number (odd for men, section 6.3.3) and check character.  The person's
 * place in a permutation of regions x birth dates x 1000 sequence numbers
 * makes every number distinct.
 */
static void
person_identity(const struct gen *g, struct xz_sample_rng *r, struct person *p)
{
	uint64_t x = perm_apply(&g->ids, p->index);
	unsigned seq = (unsigned)(x % 1000);
	int y;
	unsigned m, d;
	const char *const *given;
	size_t ngiven;

	x /= 1000;
	p->birth = g->birth_first + (int64_t)(x % BIRTH_DAYS);
	p->region = &regions[x / BIRTH_DAYS];
	civil_from_days(p->birth, &y, &m, &d);
	snprintf(p->id, sizeof(p->id), "%s%04d%02u%02u%03u", p->region->code, y, m, d, seq);
	p->id[17] = xz_cn_id_check_char(p->id);
	p->id[18] = '\0';
	given = seq % 2 ? given_male : given_female;
	ngiven = seq % 2 ? NELEM(given_male) : NELEM(given_female);
	/* The ten commonest surnames carry about half the population. */
	snprintf(p->name, sizeof(p->name), "%s%s%s",
	    one_in(r, 100) ? PICK(r, compound_surnames) :
	    one_in(r, 2) ? surnames[below(r, 10)] : PICK(r, surnames),
	    pick_str(r, given, ngiven), below(r, 5) < 3 ? pick_str(r, given, ngiven) : "");
}

static void
person_residence(struct xz_sample_rng *r, struct person *p)
{
	const struct region *rg = p->region;
	const char *area = PICK(r, station_areas);

	if (rg->county)
		snprintf(p->station, sizeof(p->station), "%s公安局%s派出所", rg->district, area);
	else
		snprintf(p->station, sizeof(p->station), "%s公安局%s分局%s派出所", rg->city,
		    rg->district, area);
	if (rg->county && one_in(r, 2))
		snprintf(p->address, sizeof(p->address), "%s%s%s%s%u号", rg->city, rg->district,
		    PICK(r, towns), PICK(r, villages), (unsigned)range(r, 1, 199));
	else
		snprintf(p->address, sizeof(p->address), "%s%s%s%u号%u栋%u单元%u%02u室",
		    rg->city, rg->district, PICK(r, streets), (unsigned)range(r, 1, 999),
		    (unsigned)range(r, 1, 30), (unsigned)range(r, 1, 6),
		    (unsigned)range(r, 1, 33), (unsigned)range(r, 1, 4));
}

static void
hospital_name(struct xz_sample_rng *r, const struct region *rg, int inpatient, char *out,
    size_t cap)
{
	static const char *const city_hospitals[] = {
		"第一人民医院", "第二人民医院", "人民医院", "中医医院", "妇幼保健院",
		"中心医院", "骨科医院",
	};

	switch (inpatient ? below(r, 3) : below(r, 6)) {
	case 0: case 1:
		snprintf(out, cap, "%s%s", rg->city, PICK(r, city_hospitals));
		break;
	case 2:
		snprintf(out, cap, "%s人民医院", rg->district);
		break;
	case 3:
		snprintf(out, cap, "%s%s社区卫生服务中心", rg->district, PICK(r, station_areas));
		break;
	default:
		snprintf(out, cap, "%s百姓大药房%s店", rg->city, PICK(r, streets));
		break;
	}
}

static void
add_claim(const struct gen *g, struct xz_sample_rng *r, struct person *p, int64_t date)
{
	struct claim *c;
	int y;
	unsigned m, d, kind = (unsigned)below(r, 100);

	if (p->nclaims == MAX_CLAIMS)
		return;
	c = &p->claims[p->nclaims];
	c->date = date;
	/* Mostly outpatient and pharmacy settlements, some stays in hospital. */
	c->cents = kind < 60 ? yuan(r, 20, 800) : kind < 90 ? yuan(r, 800, 5000) :
	    yuan(r, 5000, 80000);
	hospital_name(r, p->region, kind >= 90, c->hospital, sizeof(c->hospital));
	civil_from_days(date, &y, &m, &d);
	snprintf(c->no, sizeof(c->no), "YB%04d%02u%02u%010llu", y, m, d,
	    (unsigned long long)perm_apply(&g->claims, p->index * MAX_CLAIMS + p->nclaims));
	p->nclaims++;
}

/* Court case number (人民法院案件案号): (year) court code 刑初 serial 号. */
static void
case_no(struct xz_sample_rng *r, const struct person *p, int64_t judged, size_t k,
    char out[48])
{
	int y;
	unsigned m, d;

	civil_from_days(judged, &y, &m, &d);
	/* The serial differs between one person's cases (k), so no two rows
	 * of a person are ever the same. */
	snprintf(out, 48, "(%d)瀚%s刑初%llu号", y, p->region->code + 2,
	    (unsigned long long)((below(r, 2000) * 2 + k) % 4000 + 1));
}

static void
add_judgment(struct xz_sample_rng *r, struct person *p, int sentence, int64_t effective)
{
	struct judgment *j = &p->judgments[p->njudgments];

	j->sentence = sentence;
	j->effective = effective;
	case_no(r, p, effective - range(r, 20, 200), p->njudgments, j->case_no);
	p->njudgments++;
}

static void
add_deprivation(struct xz_sample_rng *r, struct person *p, int64_t start, int64_t end)
{
	struct deprivation *v = &p->deprivations[p->ndeprivations];

	v->start = start;
	v->end = end;
	case_no(r, p, start - range(r, 200, 2500), p->ndeprivations + 2, v->case_no);
	p->ndeprivations++;
}

static int
other_sentence(struct xz_sample_rng *r)
{
	return (int)range(r, SENT_CRIMINAL_DETENTION, SENT_PROBATION);
}

static void
detain(struct person *p, int64_t admission, int custody)
{
	p->detained = 1;
	p->admission = admission;
	p->custody = custody;
}

static void
supervise(struct person *p, int64_t start, int64_t as_of)
{
	p->supervised = 1;
	p->supervision_start = start < as_of ? start : as_of;
}

static void
die(struct person *p, int64_t day)
{
	p->deceased = 1;
	p->death = day;
	p->resident = 0;	/* a death closes the household registration */
}

/* Claims dated uniformly in [lo, hi]. */
static void
claims_between(const struct gen *g, struct xz_sample_rng *r, struct person *p, int64_t n,
    int64_t lo, int64_t hi)
{
	for (int64_t k = 0; k < n; k++)
		add_claim(g, r, p, range(r, lo, hi));
}

static void
story_deceased(const struct gen *g, struct xz_sample_rng *r, struct person *p)
{
	int64_t a = g->as_of, death;

	switch (p->story) {
	case P_DC_LEAD:
		/* Claims on the card after its holder died: the leads. */
		death = a - range(r, 30, 1800);
		die(p, death);
		claims_between(g, r, p, range(r, 0, 3), death - 720, death - 1);
		if (one_in(r, 4))
			add_claim(g, r, p, death + 1);
		claims_between(g, r, p, range(r, 1, 3), death + 1,
		    death + 400 < a ? death + 400 : a);
		break;
	case P_DC_SAMEDAY:
		/* Settled on the day of death: not after it, not a lead. */
		death = a - range(r, 1, 1800);
		die(p, death);
		claims_between(g, r, p, range(r, 0, 3), death - 720, death - 1);
		claims_between(g, r, p, range(r, 1, 2), death, death);
		break;
	case P_DC_BEFORE:
		death = a - range(r, 1, 1800);
		die(p, death);
		claims_between(g, r, p, range(r, 1, 5), death - 720, death - 1);
		break;
	default:
		die(p, a - range(r, 0, 1800));
		break;
	}
}

static void
story_detention(struct xz_sample_rng *r, struct person *p, int64_t a)
{
	int64_t eff;
	int s;

	switch (p->story) {
	case P_DT_LEAD:
		/* Sentenced to prison at least 30 days ago, still held. */
		eff = p->k % 5 == 0 ? a - 30 : a - range(r, 31, 400);
		if (one_in(r, 3))
			add_judgment(r, p, other_sentence(r), a - range(r, 1100, 3650));
		add_judgment(r, p, SENT_PRISON, eff);
		detain(p, eff - range(r, 60, 400), below(r, 10) < 7 ? CUST_ARRESTED :
		    one_in(r, 3) ? CUST_DETAINED : CUST_SERVING);
		break;
	case P_DT_RECENT:
		/* Still within the month the law allows. */
		eff = p->k % 4 == 0 ? a - 29 : a - range(r, 0, 28);
		add_judgment(r, p, SENT_PRISON, eff);
		detain(p, eff - range(r, 60, 400), CUST_ARRESTED);
		break;
	case P_DT_TYPE:
		/* Held, but not sentenced to prison. */
		s = other_sentence(r);
		eff = a - range(r, 30, 400);
		add_judgment(r, p, s, eff);
		detain(p, eff - range(r, 30, 200), s == SENT_CRIMINAL_DETENTION ? CUST_SERVING :
		    one_in(r, 2) ? CUST_DETAINED : CUST_ARRESTED);
		break;
	case P_DT_TRANSFERRED:
		/* Delivered to prison: no longer on the register. */
		add_judgment(r, p, SENT_PRISON, a - range(r, 30, 1500));
		break;
	case P_JUDGED:
		if (one_in(r, 5))
			add_judgment(r, p, other_sentence(r), a - range(r, 2000, 5000));
		s = below(r, 10) < 4 ? SENT_PRISON : other_sentence(r);
		eff = a - range(r, 0, 3650);
		add_judgment(r, p, s, eff);
		/* Community corrections for probation and control. */
		if ((s == SENT_PROBATION || s == SENT_CONTROL) && eff >= a - 1000)
			supervise(p, eff + range(r, 1, 10), a);
		break;
	default:	/* P_DETAINED: held before trial */
		detain(p, a - range(r, 1, 365), below(r, 10) < 4 ? CUST_DETAINED :
		    CUST_ARRESTED);
		break;
	}
}

/* A deprivation of political rights in force on as-of, some of them
 * starting or ending exactly on it. */
static void
current_deprivation(struct xz_sample_rng *r, struct person *p, int64_t a)
{
	int64_t len = range(r, 365, 1825), start;

	switch (p->k % 6) {
	case 0: start = a; break;
	case 1: start = a - len; break;
	default: start = a - range(r, 1, len - 1); break;
	}
	add_deprivation(r, p, start, start + len);
}

static void
story_rights(struct xz_sample_rng *r, struct person *p, int64_t a)
{
	int64_t len = range(r, 365, 1825), end, start;

	switch (p->story) {
	case P_RU_LEAD:
		if (one_in(r, 4)) {
			end = a - range(r, 400, 2000);
			add_deprivation(r, p, end - len, end);
		}
		current_deprivation(r, p, a);
		break;
	case P_RU_SUPERVISED:
		current_deprivation(r, p, a);
		supervise(p, p->deprivations[0].start + range(r, 0, 20), a);
		break;
	case P_RU_EXPIRED:
		end = p->k % 4 == 0 ? a - 1 : a - range(r, 2, 900);
		add_deprivation(r, p, end - len, end);
		break;
	case P_RU_FUTURE:
		/* Still in prison: the deprivation starts on release. */
		start = p->k % 4 == 0 ? a + 1 : a + range(r, 2, 1000);
		add_deprivation(r, p, start, start + len);
		break;
	case P_RU_MOVED:
		current_deprivation(r, p, a);
		p->resident = 0;
		break;
	default:	/* P_RU_DEAD */
		start = a - range(r, 200, 700);
		add_deprivation(r, p, start, start + range(r, 730, 1825));
		die(p, a - range(r, 0, a - start));
		break;
	}
}

static void
person_make(const struct gen *g, uint64_t i, struct person *p)
{
	struct xz_sample_rng r;
	int64_t a = g->as_of;

	p->index = i;
	p->story = story_of(person_blocks, perm_apply(&g->story, i), g->people, &p->k);
	p->resident = 1;
	p->deceased = p->detained = p->supervised = 0;
	p->nclaims = p->njudgments = p->ndeprivations = 0;
	entity_rng(g->seed, DOM_PERSON, i, &r);
	person_identity(g, &r, p);
	if (p->story >= P_DC_LEAD && p->story <= P_DEAD)
		story_deceased(g, &r, p);
	else if (p->story >= P_DT_LEAD && p->story <= P_DETAINED)
		story_detention(&r, p, a);
	else if (p->story >= P_RU_LEAD && p->story <= P_RU_DEAD)
		story_rights(&r, p, a);
	else if (p->story == P_MOVED_OUT)
		p->resident = 0;	/* household registered elsewhere */
	else if (p->story == P_SUPERVISED)
		supervise(p, a - range(&r, 0, 1000), a);
	/* Two in five living people used their card in the last three years. */
	if (!p->deceased && below(&r, 5) < 2)
		claims_between(g, &r, p, range(&r, 1, 6), a - 1094, a);
	if (p->resident)
		person_residence(&r, p);
}

/* ---- companies ---------------------------------------------------------- */

struct company {
	uint64_t index, k;
	int story;
	char uscc[19];
	const struct region *region;
	char name[96];
	int registered;
	int64_t registration;
	uint64_t capital;		/* cents */
	int64_t staff;			/* 0: not an insured employer */
	int abnormal, reason;
	int64_t listed;
	int station, investigated;
	char station_name[96];
	uint64_t sales[MONTHS], declared[MONTHS];
	int filed[MONTHS];
	int invoices;
	uint64_t invoice_total;
	int64_t first_invoice;
};

/* GB 11714-1997 check character of an organisation code's 8 characters. */
static char
org_check_char(const char body[8])
{
	static const unsigned w[8] = { 3, 7, 9, 10, 5, 8, 4, 2 };
	unsigned sum = 0, c;

	for (int i = 0; i < 8; i++)
		sum += (unsigned)(body[i] - '0') * w[i];
	c = 11 - sum % 11;
	return c == 10 ? 'X' : c == 11 ? '0' : (char)('0' + c);
}

/*
 * Unified social credit code (GB 32100-2015): 9 (registered by market
 * regulation), 1 (enterprise), the region, the organisation code (eight
 * digits distinct for every company, and its GB 11714 check character),
 * and the code's own check character.
 */
static void
company_identity(const struct gen *g, struct xz_sample_rng *r, struct company *c)
{
	uint64_t org = perm_apply(&g->orgs, c->index);

	c->region = &regions[below(r, NELEM(regions))];
	snprintf(c->uscc, sizeof(c->uscc), "91%s%08llu", c->region->code,
	    (unsigned long long)org);
	c->uscc[16] = org_check_char(c->uscc + 8);
	c->uscc[17] = xz_uscc_check_char(c->uscc);
	c->uscc[18] = '\0';
}

static void
brand(struct xz_sample_rng *r, char out[16])
{
	size_t a = below(r, NELEM(brand_chars)), b = below(r, NELEM(brand_chars) - 1);

	snprintf(out, 16, "%s%s", brand_chars[a], brand_chars[b >= a ? b + 1 : b]);
}

static void
fuel_station(struct xz_sample_rng *r, struct company *c)
{
	int64_t base = range(r, 300000, 3000000);	/* monthly sales, yuan */
	int64_t low = -1, half = -1, mid = -1, fen = -1, gap;
	uint64_t under = 0;	/* bit m: month m under-declared */

	c->station = 1;
	c->investigated = c->story != C_F_OTHER;
	for (int m = 0; m < MONTHS; m++) {
		c->sales[m] = (uint64_t)(base * range(r, 80, 120)) + (uint64_t)below(r, 100);
		c->filed[m] = 1;
	}
	switch (c->story) {
	case C_F_LEAD:
		for (int64_t k = range(r, 2, 6); k > 0; k--)
			under |= 1ULL << below(r, MONTHS);
		/* A third of them under-declare one month by a single fen. */
		if (c->k % 3 == 0)
			fen = __builtin_ctzll(under);
		/* Some skipped a month's filing: no declaration, no lead. */
		gap = (int64_t)below(r, MONTHS);
		if (one_in(r, 4) && !(under >> gap & 1))
			c->filed[gap] = 0;
		break;
	case C_F_HALF:
		half = (int64_t)below(r, MONTHS);
		mid = (half + 1 + (int64_t)below(r, MONTHS - 1)) % MONTHS;
		break;
	case C_F_CROSS:
		/* An off-season month far below the others, declared in full:
		 * compared with another month's sales it would look like a
		 * lead, which is why the model compares the same period. */
		low = (int64_t)below(r, MONTHS);
		c->sales[low] = c->sales[low] * (uint64_t)range(r, 5, 20) / 100;
		c->filed[(low + 1 + (int64_t)below(r, MONTHS - 1)) % MONTHS] = 0;
		break;
	case C_F_OTHER:
		if (one_in(r, 5))
			under |= 1ULL << below(r, MONTHS);
		if (one_in(r, 10))
			c->filed[below(r, MONTHS)] = 0;
		break;
	default:
		break;
	}
	for (int m = 0; m < MONTHS; m++) {
		uint64_t s = c->sales[m];

		if (m == fen)
			c->declared[m] = (s + 1) / 2 - 1;	/* 2 x declared < s */
		else if (under >> m & 1)
			c->declared[m] = s * (uint64_t)range(r, 10, 49) / 100;
		else if (m == half)
			c->declared[m] = (c->sales[m] &= ~1ULL) / 2;	/* exactly half */
		else if (m == mid)
			c->declared[m] = s * (uint64_t)range(r, 51, 90) / 100;
		else
			c->declared[m] = s * (uint64_t)range(r, 92, 100) / 100;
	}
}

static void
shell_company(struct xz_sample_rng *r, int64_t a, struct company *c)
{
	int small = c->story == C_S_SMALL;

	c->registration = a - range(r, 90, 900);
	c->capital = (uint64_t)range(r, 100, 1000) * 1000000;	/* 1-10 million yuan */
	c->staff = c->story == C_S_INSURED ? range(r, 1, 3) : 0;
	c->registered = c->story != C_S_UNREGISTERED;
	c->abnormal = c->story != C_S_NOTABNORMAL;
	c->listed = c->registration + range(r, 60, a - c->registration);
	c->reason = below(r, 10) < 6 ? REASON_UNREACHABLE : (int)below(r, NELEM(abnormal_reasons));
	c->invoices = 1;
	if (small)
		c->invoice_total = c->k % 3 == 0 ? 99999999 : yuan(r, 500000, 999999);
	else
		c->invoice_total = c->k % 6 == 0 ? 100000000 : yuan(r, 1000000, 30000000);
	c->first_invoice = c->registration + range(r, 10, 60);
}

static void
company_make(const struct gen *g, uint64_t j, struct company *c)
{
	struct xz_sample_rng r;
	int64_t a = g->as_of;
	char b[16];

	c->index = j;
	c->story = story_of(company_blocks, perm_apply(&g->cstory, j), g->companies, &c->k);
	entity_rng(g->seed, DOM_COMPANY, j, &r);
	company_identity(g, &r, c);
	brand(&r, b);
	c->registered = 1;
	c->registration = a - range(&r, 30, 9000);
	c->capital = (uint64_t)range(&r, 10, 5000) * 1000000;
	c->staff = below(&r, 100) < 88 ? (one_in(&r, 10) ? range(&r, 50, 800) :
	    range(&r, 1, 49)) : 0;
	c->abnormal = one_in(&r, 33);
	c->listed = a - range(&r, 0, 1500);
	c->reason = (int)below(&r, NELEM(abnormal_reasons));
	c->station = c->investigated = c->invoices = 0;
	if (c->story >= C_F_LEAD && c->story <= C_F_OTHER) {
		snprintf(c->name, sizeof(c->name), "%s%s石油销售有限公司", c->region->city, b);
		snprintf(c->station_name, sizeof(c->station_name), "%s%s加油站",
		    c->region->district, b);
		c->registration = a - range(&r, 1000, 9000);
		c->staff = range(&r, 5, 40);
		c->abnormal = 0;
		fuel_station(&r, c);
		return;
	}
	snprintf(c->name, sizeof(c->name), "%s%s%s有限公司", c->region->city, b,
	    PICK(&r, industries));
	if (c->story == C_S_NORMAL) {
		c->registration = a - range(&r, 1000, 9000);
		c->staff = range(&r, 20, 800);
		c->abnormal = 0;
		c->invoices = 1;
		c->invoice_total = yuan(&r, 1000000, 50000000);
		c->first_invoice = c->registration + range(&r, 30, 365);
	} else if (c->story != C_ORDINARY) {
		shell_company(&r, a, c);
	}
}

/* ---- ground truth ------------------------------------------------------- */

static int
truth_add(struct gen *g, int model, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int
truth_add(struct gen *g, int model, const char *fmt, ...)
{
	struct truth *t = &g->truth[model];
	char line[1024];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(line))
		return gen_fail(g, "internal error: a lead of %s is too long", models[model].name);
	if (t->used + (size_t)n + 1 > t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 1 << 16;
		char *p;

		while (cap < t->used + (size_t)n + 1)
			cap *= 2;
		if ((p = realloc(t->arena, cap)) == NULL)
			return gen_fail(g, "out of memory for the ground truth");
		t->arena = p;
		t->cap = cap;
	}
	if (t->n == t->ncap) {
		size_t ncap = t->ncap ? t->ncap * 2 : 1024;
		size_t *p = realloc(t->off, ncap * sizeof(*p));

		if (p == NULL)
			return gen_fail(g, "out of memory for the ground truth");
		t->off = p;
		t->ncap = ncap;
	}
	t->off[t->n++] = t->used;
	memcpy(t->arena + t->used, line, (size_t)n + 1);
	t->used += (size_t)n + 1;
	return 0;
}

/*
 * The three person models of docs/seed-cases.md applied to one person's
 * records (every join is on the person's ID number, and the number is
 * this person's alone).
 */
static int
person_leads(struct gen *g, const struct person *p)
{
	char d1[16], d2[16], amt[32];
	int64_t a = g->as_of;

	/* deceased-claims: a claim dated after the registered death. */
	for (size_t k = 0; p->deceased && k < p->nclaims; k++) {
		const struct claim *c = &p->claims[k];

		if (c->date <= p->death)
			continue;
		fmt_date(d1, c->date);
		fmt_date(d2, p->death);
		fmt_amount(amt, c->cents);
		truth_add(g, M_DECEASED_CLAIMS, "%s,%s,%s,%s,%s", p->id, c->no, d1, amt, d2);
	}
	/* detention-overdue: prison sentence in force 30 days or more, held. */
	for (size_t k = 0; p->detained && k < p->njudgments; k++) {
		const struct judgment *j = &p->judgments[k];

		if (j->sentence != SENT_PRISON || j->effective > a - 30)
			continue;
		fmt_date(d1, j->effective);
		fmt_date(d2, p->admission);
		truth_add(g, M_DETENTION_OVERDUE, "%s,%s,%s,%s,%s", p->id, j->case_no, d1, d2,
		    custody_types[p->custody]);
	}
	/* rights-unsupervised: deprived on as-of, resident, not supervised. */
	for (size_t k = 0; p->resident && !p->supervised && k < p->ndeprivations; k++) {
		const struct deprivation *v = &p->deprivations[k];

		if (v->start > a || v->end < a)
			continue;
		fmt_date(d1, v->end);
		truth_add(g, M_RIGHTS_UNSUPERVISED, "%s,%s,%s,%s", p->id, v->case_no, d1,
		    p->station);
	}
	return g->err ? -1 : 0;
}

static int
company_leads(struct gen *g, const struct company *c)
{
	char s[32], d[32], day[16];

	/* fuel-tax: every sales month against every filing of the station,
	 * kept when the periods agree and the declaration is under half. */
	for (int m = 0; c->investigated && m < MONTHS; m++) {
		for (int f = 0; f < MONTHS; f++) {
			if (!c->filed[f] || strcmp(g->period[f], g->period[m]) != 0 ||
			    c->declared[f] * 2 >= c->sales[m])
				continue;
			fmt_amount(s, c->sales[m]);
			fmt_amount(d, c->declared[f]);
			truth_add(g, M_FUEL_TAX, "%s,%s,%s,%s,%s", c->uscc, c->station_name,
			    g->period[m], s, d);
		}
	}
	/* shell-companies: a million or more invoiced, registered, nobody
	 * insured, on the abnormal operations list. */
	if (c->invoices && c->invoice_total >= 100000000 && c->registered && c->staff == 0 &&
	    c->abnormal) {
		fmt_amount(s, c->invoice_total);
		fmt_date(day, c->registration);
		truth_add(g, M_SHELL, "%s,%s,%s,%s,%s", c->uscc, c->name, s, day,
		    abnormal_reasons[c->reason]);
	}
	return g->err ? -1 : 0;
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Sorts a model's leads bytewise and writes truth/<model>.csv. */
static int
truth_write(struct gen *g, int model, uint64_t *count)
{
	struct truth *t = &g->truth[model];
	const char **rows = NULL;
	struct sink *s = NULL;
	int rc = -1;

	if (t->n > 0 && (rows = malloc(t->n * sizeof(*rows))) == NULL)
		return gen_fail(g, "out of memory for the ground truth");
	for (size_t k = 0; k < t->n; k++)
		rows[k] = t->arena + t->off[k];
	if (t->n > 1)
		qsort(rows, t->n, sizeof(*rows), cmp_str);
	if (sink_open(g, models[model].path, 0, &s) != 0)
		goto done;
	sink_line(g, s, models[model].header, strlen(models[model].header));
	for (size_t k = 0; k < t->n && !g->err; k++)
		sink_line(g, s, rows[k], strlen(rows[k]));
	*count = t->n;
	rc = sink_close(g, s);
done:
	free(rows);
	return rc;
}

/* ---- the two passes ----------------------------------------------------- */

static void
id_as_exported(const struct person *p, int legacy, struct xz_sample_rng *r, char out[19])
{
	memcpy(out, p->id, 19);
	/* The old detention system still holds some 15-digit numbers of the
	 * first generation (GB 11643-1989), for people born in the 1900s. */
	if (legacy && memcmp(p->id + 6, "19", 2) == 0 && one_in(r, 5)) {
		memcpy(out + 6, p->id + 8, 9);
		out[15] = '\0';
	} else if (!legacy && out[17] == 'X' && one_in(r, 3)) {
		out[17] = 'x';	/* typed by hand at the counter */
	}
}

static int
write_person(struct gen *g, const struct person *p)
{
	struct sink **s = g->sinks;
	struct xz_sample_rng r;
	char d1[32], d2[32], amt[32], id[19];

	/* How a record is spelled in an export is drawn apart from the person
	 * (a different stream), so it never changes what the person is. */
	entity_rng(g->seed ^ 0x6578706f7274ULL, DOM_PERSON, p->index, &r);
	if (p->resident)
		sink_row(g, s[DS_POPULATION_REGISTER], "%s,%s,%s,%s", p->id, p->name, p->station,
		    p->address);
	if (p->deceased) {
		fmt_date(d1, p->death);
		sink_row(g, s[DS_DEATH_REGISTRY], "%s,%s,%s", p->id, p->name, d1);
	}
	for (size_t k = 0; k < p->nclaims; k++) {
		const struct claim *c = &p->claims[k];

		id_as_exported(p, 0, &r, id);
		fmt_date(d1, c->date);
		fmt_amount_export(amt, c->cents);
		sink_row(g, s[DS_CLAIMS], "%s,%s,%s,%s,%s,%s", id, c->no, p->name, d1, amt,
		    c->hospital);
	}
	if (p->detained) {
		id_as_exported(p, 1, &r, id);
		fmt_date_cn(d1, p->admission);
		sink_row(g, s[DS_DETENTION_REGISTER], "%s,%s,%s,%s", id, p->name, d1,
		    custody_types[p->custody]);
	}
	if (p->supervised) {
		fmt_date(d1, p->supervision_start);
		sink_row(g, s[DS_SUPERVISION_LIST], "%s,%s", p->id, d1);
	}
	for (size_t k = 0; k < p->njudgments; k++) {
		const struct judgment *j = &p->judgments[k];

		fmt_date(d1, j->effective);
		sink_row(g, s[DS_EFFECTIVE_JUDGMENTS], "%s,%s,%s,%s,%s", p->id, j->case_no,
		    p->name, sentence_types[j->sentence], d1);
	}
	for (size_t k = 0; k < p->ndeprivations; k++) {
		const struct deprivation *v = &p->deprivations[k];

		fmt_date(d1, v->start);
		fmt_date(d2, v->end);
		sink_row(g, s[DS_DEPRIVATION_JUDGMENTS], "%s,%s,%s,%s,%s", p->id, v->case_no,
		    p->name, d1, d2);
	}
	return g->err ? -1 : 0;
}

static int
write_company(struct gen *g, const struct company *c)
{
	struct sink **s = g->sinks;
	char d1[32], amt[32];

	if (c->registered) {
		fmt_date(d1, c->registration);
		fmt_amount_export(amt, c->capital);
		sink_row(g, s[DS_ENTERPRISE_REGISTRY], "%s,%s,%s,%s", c->uscc, c->name, d1, amt);
	}
	if (c->staff > 0)
		sink_row(g, s[DS_INSURED_EMPLOYERS], "%s,%lld", c->uscc, (long long)c->staff);
	if (c->abnormal) {
		fmt_date(d1, c->listed);
		sink_row(g, s[DS_ABNORMAL_OPERATIONS], "%s,%s,%s", c->uscc, d1,
		    abnormal_reasons[c->reason]);
	}
	for (int m = 0; c->station && m < MONTHS; m++) {
		if (!c->filed[m])
			continue;
		fmt_amount_export(amt, c->declared[m]);
		sink_row(g, s[DS_FUEL_TAX_FILINGS], "%s,%s,%s", c->uscc, g->period[m], amt);
	}
	for (int m = 0; c->investigated && m < MONTHS; m++) {
		fmt_amount_export(amt, c->sales[m]);
		sink_row(g, s[DS_FUEL_SALES], "%s,%s,%s,%s", c->uscc, c->station_name,
		    g->period[m], amt);
	}
	if (c->invoices) {
		fmt_date(d1, c->first_invoice);
		fmt_amount_export(amt, c->invoice_total);
		sink_row(g, s[DS_INVOICE_ISSUERS], "%s,%s,%s,%s", c->uscc, c->name, amt, d1);
	}
	return g->err ? -1 : 0;
}

static int
check_stop(struct gen *g, uint64_t done)
{
	const struct xz_sample_case_opts *o = g->o;

	if (o->stop != NULL && *o->stop)
		return gen_fail(g, "interrupted");
	if (o->progress != NULL)
		o->progress(o->progress_arg, done, g->people + g->companies);
	return 0;
}

static int
generate(struct gen *g)
{
	struct person *p = malloc(sizeof(*p));
	struct company *c = malloc(sizeof(*c));
	int rc = -1;

	if (p == NULL || c == NULL) {
		gen_fail(g, "out of memory");
		goto done;
	}
	for (uint64_t i = 0; i < g->people; i++) {
		if (i % 4096 == 0 && check_stop(g, i) != 0)
			goto done;
		person_make(g, i, p);
		if (write_person(g, p) != 0 || person_leads(g, p) != 0)
			goto done;
	}
	for (uint64_t j = 0; j < g->companies; j++) {
		if (j % 4096 == 0 && check_stop(g, g->people + j) != 0)
			goto done;
		company_make(g, j, c);
		if (write_company(g, c) != 0 || company_leads(g, c) != 0)
			goto done;
	}
	rc = check_stop(g, g->people + g->companies);
done:
	free(p);
	free(c);
	return rc;
}

/* ---- the directory ------------------------------------------------------ */

/* DIR must be new or an empty directory: nothing of the user's is ever
 * replaced. */
static int
check_target(const char *dir, struct xz_diag *d)
{
	struct stat st;
	struct dirent *e;
	DIR *dp;
	size_t n = 0;

	if (lstat(dir, &st) != 0) {
		if (errno == ENOENT)
			return 0;
		return xz_diag_set(d, "cannot look at %s: %s", dir, strerror(errno));
	}
	if (S_ISLNK(st.st_mode))
		return xz_diag_set(d, "%s is a symbolic link: give a new directory name", dir);
	if (!S_ISDIR(st.st_mode))
		return xz_diag_set(d, "%s exists and is not a directory: give a new directory "
		    "name", dir);
	if ((dp = opendir(dir)) == NULL)
		return xz_diag_set(d, "cannot read %s: %s", dir, strerror(errno));
	while ((e = readdir(dp)) != NULL)
		n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
	closedir(dp);
	if (n > 0)
		return xz_diag_set(d, "%s is not empty (%zu entr%s): sample case writes only "
		    "into a new or empty directory, so that nothing there is overwritten; "
		    "give a new directory name", dir, n, n == 1 ? "y" : "ies");
	return 0;
}

static int
sync_dir(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC), rc;

	if (fd < 0)
		return -1;
	rc = fsync(fd);
	close(fd);
	return rc;
}

/* The directory that holds dir ("." for a bare name). */
static char *
parent_of(const char *dir)
{
	const char *slash = strrchr(dir, '/');
	char *p;

	if (slash == NULL)
		return strdup(".");
	if (slash == dir)
		return strdup("/");
	if ((p = malloc((size_t)(slash - dir) + 1)) == NULL)
		return NULL;
	memcpy(p, dir, (size_t)(slash - dir));
	p[slash - dir] = '\0';
	return p;
}

static int
make_tmpdir(struct gen *g, const char *dir)
{
	size_t n = strlen(dir) + 16;
	char sub[4096];

	if ((g->tmpdir = malloc(n)) == NULL)
		return gen_fail(g, "out of memory");
	snprintf(g->tmpdir, n, "%s.tmp-XXXXXX", dir);
	if (mkdtemp(g->tmpdir) == NULL) {
		int e = errno;

		free(g->tmpdir);
		g->tmpdir = NULL;
		return gen_fail(g, "cannot create a directory next to %s: %s%s", dir, strerror(e),
		    e == ENOENT ? " (the directory that is to hold it must exist)" : "");
	}
	for (size_t i = 0; i < NELEM(node_dirs); i++) {
		snprintf(sub, sizeof(sub), "%s/%s", g->tmpdir, node_dirs[i]);
		if (remember(g, sub) != 0)
			return -1;
		if (mkdir(sub, 0700) != 0)
			return gen_fail(g, "cannot create %s/%s: %s", dir, node_dirs[i],
			    strerror(errno));
	}
	return 0;
}

/* Removes what this run created, newest first (files before their
 * directories), then the temporary directory itself. */
static void
remove_tmpdir(struct gen *g)
{
	while (g->nmade > 0) {
		char *p = g->made[--g->nmade];

		remove(p);
		free(p);
	}
	if (g->tmpdir != NULL)
		rmdir(g->tmpdir);
}

/* ---- README.txt --------------------------------------------------------- */

/* "  xiezhi dataset import NAME ... --key C:T --column C:T ..." */
static void
import_command(const struct dataset *ds, char *out, size_t cap)
{
	const char *c = ds->columns;
	size_t used = (size_t)snprintf(out, cap, "  xiezhi dataset import %s --dir NODEDIR "
	    "--csv %s%s", ds->name, ds->path, ds->gb18030 ? " --encoding gb18030" : "");

	for (int first = 1; *c != '\0' && used < cap; first = 0) {
		size_t n = strcspn(c, ",");

		used += (size_t)snprintf(out + used, cap - used, " %s %.*s",
		    first ? "--key" : "--column", (int)n, c);
		c += n + (c[n] == ',');
	}
}

static int
write_readme(struct gen *g, const struct xz_sample_case_result *res)
{
	struct sink *s = NULL;
	char line[1024], as_of[16];
	const char *intro[] = {
		"Invented data for the five seed cases of xiezhi (docs/seed-cases.md).",
		"Every person, company and record here is made up: resident ID numbers",
		"start with region 99 and credit codes carry region 99, which no real",
		"place has.  The same seed, size and as-of date give the same files.",
		"",
	};

#define README(...) do { snprintf(line, sizeof(line), __VA_ARGS__); \
	sink_line(g, s, line, strlen(line)); } while (0)
	if (sink_open(g, "README.txt", 0, &s) != 0)
		return -1;
	for (size_t i = 0; i < NELEM(intro); i++)
		sink_line(g, s, intro[i], strlen(intro[i]));
	fmt_date(as_of, g->as_of);
	README("seed       %llu", (unsigned long long)g->seed);
	README("size       %llu people, %llu companies", (unsigned long long)g->people,
	    (unsigned long long)g->companies);
	README("as-of      %s", as_of);
	README("%s", "");
	README("Datasets: DIR/<node>/<dataset>.csv, a header row and then the rows counted");
	README("%-44s %-8s %10s", "file", "encoding", "rows");
	for (size_t i = 0; i < XZ_SAMPLE_CASE_DATASETS; i++)
		README("%-44s %-8s %10llu", res->datasets[i].path, res->datasets[i].encoding,
		    (unsigned long long)res->datasets[i].rows);
	README("%s", "");
	README("Ground truth: the leads each model must find, a header row (the model's");
	README("output columns) and then one row per lead, sorted bytewise");
	README("%-44s %-8s %10s", "file", "encoding", "leads");
	for (size_t i = 0; i < XZ_SAMPLE_CASE_MODELS; i++)
		README("%-44s %-8s %10llu", res->models[i].path, "UTF-8",
		    (unsigned long long)res->models[i].leads);
	README("%s", "");
	README("Importing: on the node each file belongs to (NODEDIR is its directory),");
	README("from this directory; run the models with as_of = %s.", as_of);
	for (size_t i = 0; i < XZ_SAMPLE_CASE_DATASETS; i++) {
		import_command(&datasets[i], line, sizeof(line));
		sink_line(g, s, line, strlen(line));
	}
#undef README
	return sink_close(g, s);
}

/* ---- the run ------------------------------------------------------------ */

static void
gen_free(struct gen *g)
{
	for (size_t i = 0; i < XZ_SAMPLE_CASE_DATASETS; i++) {
		if (g->sinks[i] != NULL) {
			close(g->sinks[i]->fd);
			if (g->sinks[i]->cd != (iconv_t)-1)
				iconv_close(g->sinks[i]->cd);
			free(g->sinks[i]);
		}
	}
	for (size_t i = 0; i < XZ_SAMPLE_CASE_MODELS; i++) {
		free(g->truth[i].arena);
		free(g->truth[i].off);
	}
	remove_tmpdir(g);
	free(g->tmpdir);
}

static void
gen_init(struct gen *g, const struct xz_sample_case_opts *o, struct xz_diag *d)
{
	int y;
	unsigned m, day;

	memset(g, 0, sizeof(*g));
	g->o = o;
	g->d = d;
	g->seed = o->seed;
	g->people = o->size;
	g->companies = o->size / 5;
	parse_iso_date(o->as_of, &g->as_of);
	g->birth_first = g->as_of - ADULT_DAYS - BIRTH_DAYS + 1;
	perm_init(&g->story, g->people, g->seed, DOM_PERM_STORY);
	perm_init(&g->ids, (uint64_t)NELEM(regions) * BIRTH_DAYS * 1000, g->seed, DOM_PERM_ID);
	perm_init(&g->cstory, g->companies, g->seed, DOM_PERM_CSTORY);
	perm_init(&g->orgs, 100000000, g->seed, DOM_PERM_ORG);
	perm_init(&g->claims, 10000000000ULL, g->seed, DOM_PERM_CLAIM);
	civil_from_days(g->as_of, &y, &m, &day);
	for (int k = 0; k < MONTHS; k++) {
		int64_t mm = (int64_t)y * 12 + (m - 1) - MONTHS + k;

		snprintf(g->period[k], sizeof(g->period[k]), "%04lld-%02lld",
		    (long long)(mm / 12), (long long)(mm % 12 + 1));
	}
}

static void
strip_slashes(char *s)
{
	size_t n = strlen(s);

	while (n > 1 && s[n - 1] == '/')
		s[--n] = '\0';
}

/* Opens the thirteen dataset files and writes their header rows (the
 * column names of docs/seed-cases.md). */
static int
open_datasets(struct gen *g)
{
	for (size_t i = 0; i < XZ_SAMPLE_CASE_DATASETS; i++) {
		char header[256];
		size_t n = 0;

		if (sink_open(g, datasets[i].path, datasets[i].gb18030, &g->sinks[i]) != 0)
			return -1;
		/* "name:type,name:type" -> "name,name" */
		for (const char *c = datasets[i].columns; *c != '\0' && n + 1 < sizeof(header);
		    c++) {
			if (*c == ':')
				while (c[1] != ',' && c[1] != '\0')
					c++;
			else
				header[n++] = *c;
		}
		header[n] = '\0';
		if (sink_line(g, g->sinks[i], header, n) != 0)
			return -1;
	}
	return 0;
}

static int
close_datasets(struct gen *g, struct xz_sample_case_result *res)
{
	for (size_t i = 0; i < XZ_SAMPLE_CASE_DATASETS; i++) {
		struct sink *s = g->sinks[i];

		res->datasets[i].path = datasets[i].path;
		res->datasets[i].encoding = datasets[i].gb18030 ? "GB18030" : "UTF-8";
		res->datasets[i].rows = s->rows;
		g->sinks[i] = NULL;
		if (sink_close(g, s) != 0)
			return -1;
	}
	return 0;
}

/* Syncs the finished tree and renames it to dir. */
static int
publish(struct gen *g, const char *dir, const char *parent)
{
	char sub[4096];

	for (size_t i = 0; i < NELEM(node_dirs); i++) {
		snprintf(sub, sizeof(sub), "%s/%s", g->tmpdir, node_dirs[i]);
		if (sync_dir(sub) != 0)
			return gen_fail(g, "cannot write %s/%s: %s", dir, node_dirs[i],
			    strerror(errno));
	}
	if (sync_dir(g->tmpdir) != 0)
		return gen_fail(g, "cannot write %s: %s", dir, strerror(errno));
	/* rename(2) replaces an empty directory and refuses a non-empty one,
	 * so nothing written into DIR meanwhile is ever lost. */
	if (rename(g->tmpdir, dir) != 0)
		return gen_fail(g, "cannot move the finished files to %s: %s%s", dir,
		    strerror(errno), errno == ENOTEMPTY || errno == EEXIST ? " (something was "
		    "written there meanwhile)" : "");
	/* Renamed: the files are the user's now; forget them. */
	for (size_t i = 0; i < g->nmade; i++)
		free(g->made[i]);
	g->nmade = 0;
	free(g->tmpdir);
	g->tmpdir = NULL;
	/* Every file is complete and synced.  Should the parent fail to sync,
	 * a crash could undo the rename, which leaves no partial DIR either:
	 * not worth failing the run for. */
	(void)sync_dir(parent);
	return 0;
}

int
xz_sample_case_write(const char *dir_in, const struct xz_sample_case_opts *o,
    struct xz_sample_case_result *res, struct xz_diag *d)
{
	struct gen g;
	char *dir = NULL, *parent = NULL;
	int rc = -1;

	if (o->size < XZ_SAMPLE_CASE_MIN_SIZE || o->size > XZ_SAMPLE_CASE_MAX_SIZE)
		return xz_diag_set(d, "the size must be from %u to %u people",
		    XZ_SAMPLE_CASE_MIN_SIZE, XZ_SAMPLE_CASE_MAX_SIZE);
	if (xz_sample_parse_as_of(o->as_of, d) != 0)
		return -1;
	if (dir_in == NULL || *dir_in == '\0')
		return xz_diag_set(d, "no output directory given");
	gen_init(&g, o, d);
	memset(res, 0, sizeof(*res));
	if ((dir = strdup(dir_in)) == NULL) {
		gen_fail(&g, "out of memory");
		goto done;
	}
	strip_slashes(dir);
	g.final = dir;
	if (check_target(dir, d) != 0) {
		g.err = 1;
		goto done;
	}
	if ((parent = parent_of(dir)) == NULL) {
		gen_fail(&g, "out of memory");
		goto done;
	}
	if (make_tmpdir(&g, dir) != 0 || open_datasets(&g) != 0 || generate(&g) != 0 ||
	    close_datasets(&g, res) != 0)
		goto done;
	res->people = g.people;
	res->companies = g.companies;
	for (size_t i = 0; i < XZ_SAMPLE_CASE_MODELS; i++) {
		res->models[i].model = models[i].name;
		res->models[i].path = models[i].path;
		if (truth_write(&g, (int)i, &res->models[i].leads) != 0)
			goto done;
	}
	if (write_readme(&g, res) != 0 || publish(&g, dir, parent) != 0)
		goto done;
	rc = 0;
done:
	if (rc != 0 && !g.err)
		gen_fail(&g, "failed");
	if (rc != 0 && g.tmpdir != NULL && d != NULL) {
		size_t n = strlen(d->msg);

		snprintf(d->msg + n, sizeof(d->msg) - n, "; nothing was written to %s (the "
		    "partial files were removed)", dir);
	}
	gen_free(&g);
	free(dir);
	free(parent);
	return rc;
}
