/*
 * xiezhi bench: benchmarks.  'bench psi' is the PSI benchmark of
 * docs/benchmarks.md; 'bench import' lives in node/bench_import.c.
 *
 * bench psi runs both PSI roles in this process on random valid resident ID
 * numbers with a known overlap, checks the answer against the plain set
 * computation, and prints time per phase, throughput, bytes on the wire,
 * peak memory and the ratio to the raw bound: the time the same number of
 * hash-to-group operations and scalar multiplications take alone, on the
 * same threads, in the same run.
 */
#include <getopt.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "cli.h"
#include "oprf.h"
#include "psi.h"

#define ID_LEN 18

static double
now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* ---- Random valid resident ID numbers (GB 11643) ----------------------- */

static const char *const areas[] = {
	"110101", "120102", "310104", "320106", "330106", "440305", "510107", "610113",
};
#define DAYS_PER_YEAR 336	/* 12 months of 28 days: every generated date is real */
#define YEARS 70
#define ID_SPACE ((uint64_t)(sizeof(areas) / sizeof(areas[0])) * YEARS * DAYS_PER_YEAR * 1000)

/* ISO 7064 MOD 11-2 check character over the first 17 digits. */
static char
id_check(const char *id)
{
	static const int w[17] = { 7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2 };
	int sum = 0;

	for (int i = 0; i < 17; i++)
		sum += (id[i] - '0') * w[i];
	return "10X98765432"[sum % 11];
}

/* The k-th ID of the space (distinct k give distinct IDs). */
static void
id_make(uint64_t k, char out[ID_LEN])
{
	char buf[ID_LEN + 1];
	unsigned seq = (unsigned)(k % 1000), day = (unsigned)(k / 1000 % DAYS_PER_YEAR);
	unsigned year = (unsigned)(k / 1000 / DAYS_PER_YEAR % YEARS);
	size_t area = (size_t)(k / 1000 / DAYS_PER_YEAR / YEARS);

	snprintf(buf, sizeof(buf), "%s%04u%02u%02u%03u", areas[area], 1940 + year,
	    1 + day / 28, 1 + day % 28, seq);
	buf[17] = id_check(buf);
	memcpy(out, buf, ID_LEN);
}

static uint64_t
gcd(uint64_t a, uint64_t b)
{
	while (b != 0) {
		uint64_t t = a % b;
		a = b;
		b = t;
	}
	return a;
}

/*
 * pool[i] = id(k_i) with k_i = (a*i + b) mod ID_SPACE, a coprime to the
 * space: distinct, scattered over areas, dates and sequence numbers.
 */
static char *
make_pool(uint64_t n)
{
	char *pool = malloc(n * ID_LEN);
	uint64_t a, b;

	if (pool == NULL)
		return NULL;
	do {
		a = 1 + ((uint64_t)randombytes_random() << 32 | randombytes_random()) % (ID_SPACE - 1);
	} while (gcd(a, ID_SPACE) != 1);
	b = ((uint64_t)randombytes_random() << 32 | randombytes_random()) % ID_SPACE;
	for (uint64_t i = 0; i < n; i++)
		id_make((uint64_t)(((unsigned __int128)a * i + b) % ID_SPACE), pool + i * ID_LEN);
	return pool;
}

/* ---- Sources --------------------------------------------------------- */

struct bench_src {
	const char *pool;
	const uint64_t *order;	/* responder: pool index of its i-th record */
	uint64_t base;		/* requester: pool index of element 0 */
	uint32_t label_len;
	uint8_t label[XZ_PSI_MAX_LABEL_LEN];
};

/* A label derived from the ID, so the bench can check what R received. */
static void
label_for(const char *id, uint8_t *out, size_t len)
{
	crypto_stream_chacha20_ietf(out, len, (const uint8_t *)"bench-label!", (const uint8_t *)
	    "xiezhi bench psi label key 32 b!");
	for (size_t i = 0; i < len; i++)
		out[i] ^= (uint8_t)id[i % ID_LEN];
}

static int
src_requester(void *ctx, uint64_t i, const uint8_t **e, size_t *elen, const uint8_t **l,
    size_t *llen)
{
	struct bench_src *s = ctx;

	*e = (const uint8_t *)s->pool + (s->base + i) * ID_LEN;
	*elen = ID_LEN;
	*l = NULL;
	*llen = 0;
	return 0;
}

static int
src_responder(void *ctx, uint64_t i, const uint8_t **e, size_t *elen, const uint8_t **l,
    size_t *llen)
{
	struct bench_src *s = ctx;
	const char *id = s->pool + s->order[i] * ID_LEN;

	*e = (const uint8_t *)id;
	*elen = ID_LEN;
	label_for(id, s->label, s->label_len);
	*l = s->label;
	*llen = s->label_len;
	return 0;
}

/* ---- The raw bound ---------------------------------------------------- */

struct raw_job {
	const char *pool;
	uint64_t pool_len;
	uint64_t h2g, mults;		/* how many of each, in total */
	atomic_uint_fast64_t next_h2g, next_mult;
	atomic_int failed;
};

#define RAW_CHUNK 256

/*
 * Takes chunks of hash-to-group work, then chunks of scalar
 * multiplications, until both are used up: the same dynamic split the PSI
 * engine's workers use, so both sides of the ratio see the same machine.
 */
static void *
raw_main(void *arg)
{
	struct raw_job *j = arg;
	uint8_t p[32], s[32];
	uint64_t lo;

	crypto_core_ristretto255_random(p);
	while ((lo = atomic_fetch_add(&j->next_h2g, RAW_CHUNK)) < j->h2g) {
		uint64_t hi = j->h2g - lo < RAW_CHUNK ? j->h2g : lo + RAW_CHUNK;
		for (uint64_t i = lo; i < hi; i++) {
			const uint8_t *id = (const uint8_t *)j->pool + (i % j->pool_len) * ID_LEN;
			if (xz_oprf_hash_to_group(id, ID_LEN, p) !=
			    XZ_OPRF_OK)
				atomic_store(&j->failed, 1);
		}
	}
	xz_oprf_generate_key(s);
	while ((lo = atomic_fetch_add(&j->next_mult, RAW_CHUNK)) < j->mults) {
		uint64_t hi = j->mults - lo < RAW_CHUNK ? j->mults : lo + RAW_CHUNK;
		for (uint64_t i = lo; i < hi; i++) {
			if (crypto_scalarmult_ristretto255(p, s, p) != 0)	/* chained: not foldable */
				atomic_store(&j->failed, 1);
		}
	}
	sodium_memzero(s, sizeof(s));
	return NULL;
}

/* Seconds for h2g hash-to-group ops (over the pool's IDs) and mults scalar mults. */
static double
raw_bound(const char *pool, uint64_t pool_len, uint64_t h2g, uint64_t mults, unsigned threads)
{
	pthread_t tid[XZ_PSI_MAX_THREADS];
	struct raw_job j = { .pool = pool, .pool_len = pool_len, .h2g = h2g, .mults = mults };
	double t0 = now_s();
	unsigned started = 1;
	int ok = 1;

	atomic_init(&j.next_h2g, 0);
	atomic_init(&j.next_mult, 0);
	atomic_init(&j.failed, 0);
	for (unsigned i = 1; i < threads && ok; i++, started++)
		ok = pthread_create(&tid[i], NULL, raw_main, &j) == 0;
	if (!ok)
		started--;
	raw_main(&j);
	for (unsigned i = 1; i < started; i++)
		pthread_join(tid[i], NULL);
	return ok && !atomic_load(&j.failed) ? now_s() - t0 : -1;
}

/* ---- The join -------------------------------------------------------- */

enum phase { PH_BLIND, PH_EVAL, PH_UNBLIND, PH_TAGS, PH_MATCH, PH_N };
static const char *const phase_name[PH_N] = {
	"R blind        (hash-to-group, r*H(x))",
	"A evaluate     (k*B, cardinality: + shuffle)",
	"R unblind      (1/r*E, Finalize, tags)",
	"A tags         (H(y), k*H(y), Finalize, tags, labels)",
	"R match        (sort, look up, open labels)",
};

struct bench {
	uint64_t n, m, overlap;
	enum xz_psi_mode mode;
	uint32_t labels, batch;
	unsigned threads;
	char *pool;
	uint64_t *order;
	double phase[PH_N];
	struct xz_psi_stats rs, as;
	uint64_t answer, checked, bad;
};

static size_t
vm_hwm_kib(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	size_t kib = 0;

	while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
		if (strncmp(line, "VmHWM:", 6) == 0)
			kib = (size_t)strtoull(line + 6, NULL, 10);
	}
	if (f != NULL)
		fclose(f);
	return kib;
}

/* R's element i is in Y exactly when i >= n - overlap (see bench_run). */
static int
check_one(void *ctx, uint64_t index, const uint8_t *label, size_t len)
{
	struct bench *b = ctx;
	uint8_t want[XZ_PSI_MAX_LABEL_LEN];

	b->checked++;
	if (index < b->n - b->overlap || index >= b->n) {
		b->bad++;
		return 0;
	}
	label_for(b->pool + index * ID_LEN, want, b->labels);
	if (len != b->labels || (len != 0 && memcmp(label, want, len) != 0))
		b->bad++;
	return 0;
}

static int
psi_fail(const char *what, enum xz_psi_status st)
{
	xz_cli_error("bench psi: %s: %s", what, xz_psi_strerror(st));
	return XZ_EXIT_FAIL;
}

static int
bench_join(struct bench *b)
{
	struct xz_psi_params p = { 0 };
	struct bench_src rsrc = { b->pool, NULL, 0, 0, { 0 } };
	struct bench_src *asrc = calloc(1, sizeof(*asrc));
	struct xz_psi_requester *r = NULL;
	struct xz_psi_responder *a = NULL;
	enum xz_psi_status rs, as, st;
	int rc = XZ_EXIT_FAIL;

	if (asrc == NULL)
		return psi_fail("setup", XZ_PSI_E_NOMEM);
	*asrc = (struct bench_src){ b->pool, b->order, 0, b->labels, { 0 } };
	p.mode = b->mode;
	randombytes_buf(p.join_id, sizeof(p.join_id));
	p.requester_bound = b->n;
	p.responder_bound = b->m;
	p.label_len = b->labels;
	p.batch_max = b->batch;
	p.threads = b->threads;
	if ((st = xz_psi_requester_new(&r, &p, b->n, src_requester, &rsrc)) != XZ_PSI_OK ||
	    (st = xz_psi_responder_new(&a, &p, b->m, src_responder, asrc)) != XZ_PSI_OK) {
		rc = psi_fail("setup", st);
		goto done;
	}
	for (;;) {
		const uint8_t *msg;
		size_t len;
		double t0 = now_s();

		rs = xz_psi_requester_produce(r, &msg, &len);
		b->phase[PH_BLIND] += now_s() - t0;
		if (rs == XZ_PSI_OK) {
			t0 = now_s();
			if ((st = xz_psi_responder_consume(a, msg, len)) != XZ_PSI_OK) {
				rc = psi_fail("responder", st);
				goto done;
			}
			b->phase[PH_EVAL] += now_s() - t0;
		} else if (rs != XZ_PSI_AGAIN && rs != XZ_PSI_DONE) {
			rc = psi_fail("requester", rs);
			goto done;
		}
		t0 = now_s();
		as = xz_psi_responder_produce(a, &msg, &len);
		int is_tags = as == XZ_PSI_OK && msg[5] == 3;	/* docs/protocol.md: type 3 */
		b->phase[is_tags ? PH_TAGS : PH_EVAL] += now_s() - t0;
		if (as == XZ_PSI_OK) {
			t0 = now_s();
			if ((st = xz_psi_requester_consume(r, msg, len)) != XZ_PSI_OK) {
				rc = psi_fail("requester", st);
				goto done;
			}
			b->phase[is_tags ? PH_MATCH : PH_UNBLIND] += now_s() - t0;
		} else if (as != XZ_PSI_AGAIN && as != XZ_PSI_DONE) {
			rc = psi_fail("responder", as);
			goto done;
		}
		if (rs == XZ_PSI_DONE && as == XZ_PSI_DONE)
			break;
	}
	if (!xz_psi_requester_done(r)) {
		rc = psi_fail("requester", XZ_PSI_E_STATE);
		goto done;
	}
	b->answer = xz_psi_requester_count(r);
	if (b->mode != XZ_PSI_CARDINALITY &&
	    (st = xz_psi_requester_results(r, check_one, b)) != XZ_PSI_OK) {
		rc = psi_fail("results", st);
		goto done;
	}
	xz_psi_requester_stats(r, &b->rs);
	xz_psi_responder_stats(a, &b->as);
	rc = XZ_EXIT_OK;
done:
	xz_psi_requester_free(r);
	xz_psi_responder_free(a);
	free(asrc);
	return rc;
}

static void
bench_report(const struct bench *b, double total, double raw, size_t hwm_kib)
{
	char cpu[256];
	uint64_t h2g = b->n + b->m, mults = 3 * b->n + b->m;

	xz_cli_cpu_model(cpu, sizeof(cpu));
	printf("PSI benchmark: mode %s, n = %llu, m = %llu, overlap = %llu, labels = %u B, "
	    "threads = %u, batch = %u\n", b->mode == XZ_PSI_CARDINALITY ? "cardinality" : "intersect",
	    (unsigned long long)b->n, (unsigned long long)b->m, (unsigned long long)b->overlap,
	    b->labels, b->threads, b->batch ? b->batch : XZ_PSI_DEFAULT_BATCH);
	printf("machine: %s, %ld online cores\n\n", cpu, sysconf(_SC_NPROCESSORS_ONLN));
	printf("%-56s %9s\n", "phase", "seconds");
	for (int i = 0; i < PH_N; i++)
		printf("%-56s %9.3f\n", phase_name[i], b->phase[i]);
	printf("%-56s %9.3f  (%.0f elements/s, n + m)\n", "total", total,
	    (double)(b->n + b->m) / total);
	printf("\nraw bound: %llu hash-to-group + %llu scalar mults alone, %u threads: %.3f s\n"
	    "           (half measured just before the join, half just after)\n",
	    (unsigned long long)h2g, (unsigned long long)mults, b->threads, raw);
	printf("ratio to the raw bound: %.3f\n", total / raw);
	printf("\nwire: R -> A %.2f MiB in %llu messages, A -> R %.2f MiB in %llu messages "
	    "(%.1f B per element of n + m)\n", (double)b->rs.bytes_sent / 1048576.0,
	    (unsigned long long)b->rs.messages_sent, (double)b->as.bytes_sent / 1048576.0,
	    (unsigned long long)b->as.messages_sent,
	    (double)(b->rs.bytes_sent + b->as.bytes_sent) / (double)(b->n + b->m));
	printf("memory: requester peak %.2f MiB (%.1f B/element of X), responder peak %.2f MiB "
	    "(%.1f B/element of Y)\n", (double)b->rs.mem_peak / 1048576.0,
	    (double)b->rs.mem_peak / (double)b->n, (double)b->as.mem_peak / 1048576.0,
	    (double)b->as.mem_peak / (double)b->m);
	printf("        process VmHWM %.2f MiB (%.1f B per element of n + m; includes the "
	    "bench's own %u-byte IDs)\n", (double)hwm_kib / 1024.0,
	    (double)hwm_kib * 1024.0 / (double)(b->n + b->m), ID_LEN);
	printf("\nanswer: %llu (expected %llu), %s\n", (unsigned long long)b->answer,
	    (unsigned long long)b->overlap,
	    b->bad == 0 ? "matches the plain set computation" : "WRONG");
}

static void
bench_usage(FILE *f)
{
	fputs("usage: xiezhi bench psi --n N [--m M] [--mode intersect|cardinality]\n"
	    "                        [--labels K] [--threads T] [--overlap O] [--batch B]\n"
	    "       xiezhi bench import [--rows N]\n\n"
	    "bench psi runs both PSI roles in this process on random valid resident ID\n"
	    "numbers, checks the answer against a plain set computation and prints time\n"
	    "per phase, throughput, wire bytes, peak memory and the ratio to the raw\n"
	    "bound (the same hash-to-group and scalar-multiplication count run alone).\n\n"
	    "  --n N          requester's elements (1 to 100000000)\n"
	    "  --m M          responder's elements (default N)\n"
	    "  --mode MODE    intersect (default) or cardinality\n"
	    "  --labels K     bytes of label per responder record (intersect; default 0)\n"
	    "  --threads T    worker threads (default: online cores)\n"
	    "  --overlap O    elements in common (default min(N, M) / 2)\n"
	    "  --batch B      elements per batch (default 65536)\n", f);
}

static int
bench_psi(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "n", required_argument, NULL, 'n' }, { "m", required_argument, NULL, 'm' },
		{ "mode", required_argument, NULL, 'M' }, { "labels", required_argument, NULL, 'l' },
		{ "threads", required_argument, NULL, 't' },
		{ "overlap", required_argument, NULL, 'o' },
		{ "batch", required_argument, NULL, 'b' }, { "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct bench b = { .mode = XZ_PSI_INTERSECT };
	uint64_t v, overlap = UINT64_MAX, total_ids, h2g, mults;
	int c, rc;
	double t0, total, raw;
	size_t hwm;

	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'n': case 'm': case 'o':
			if (xz_parse_u64(optarg, c == 'o' ? 0 : 1, 100000000, &v) != 0)
				return xz_cli_usage_error("bench", "--%s must be %s to 100000000, not '%s'",
				    c == 'n' ? "n" : c == 'm' ? "m" : "overlap", c == 'o' ? "0" : "1", optarg);
			*(c == 'n' ? &b.n : c == 'm' ? &b.m : &overlap) = v;
			break;
		case 'M':
			if (strcmp(optarg, "intersect") == 0)
				b.mode = XZ_PSI_INTERSECT;
			else if (strcmp(optarg, "cardinality") == 0)
				b.mode = XZ_PSI_CARDINALITY;
			else
				return xz_cli_usage_error("bench", "--mode must be intersect or cardinality");
			break;
		case 'l':
			if (xz_parse_u64(optarg, 0, 4096, &v) != 0)
				return xz_cli_usage_error("bench", "--labels must be 0 to 4096 bytes");
			b.labels = (uint32_t)v;
			break;
		case 't':
			if (xz_parse_u64(optarg, 1, XZ_PSI_MAX_THREADS, &v) != 0)
				return xz_cli_usage_error("bench", "--threads must be 1 to %d",
				    XZ_PSI_MAX_THREADS);
			b.threads = (unsigned)v;
			break;
		case 'b':
			if (xz_parse_u64(optarg, 1, XZ_PSI_MAX_BATCH, &v) != 0)
				return xz_cli_usage_error("bench", "--batch must be 1 to %d",
				    XZ_PSI_MAX_BATCH);
			b.batch = (uint32_t)v;
			break;
		case 'h': bench_usage(stdout); return XZ_EXIT_OK;
		default: return xz_cli_usage_error("bench", "bad option");
		}
	}
	if (optind != argc)
		return xz_cli_usage_error("bench", "unexpected argument '%s'", argv[optind]);
	if (b.n == 0)
		return xz_cli_usage_error("bench", "bench psi needs --n N");
	if (b.m == 0)
		b.m = b.n;
	if (b.labels != 0 && b.mode != XZ_PSI_INTERSECT)
		return xz_cli_usage_error("bench", "--labels needs --mode intersect");
	b.overlap = overlap != UINT64_MAX ? overlap : (b.n < b.m ? b.n : b.m) / 2;
	if (b.overlap > b.n || b.overlap > b.m)
		return xz_cli_usage_error("bench", "--overlap cannot exceed --n or --m");
	if (b.threads == 0) {
		long cores = sysconf(_SC_NPROCESSORS_ONLN);
		b.threads = cores < 1 ? 1 : cores > XZ_PSI_MAX_THREADS ? XZ_PSI_MAX_THREADS :
		    (unsigned)cores;
	}
	if (xz_oprf_init() != XZ_OPRF_OK)
		return psi_fail("setup", XZ_PSI_E_ARG);

	/* X = pool[0, n); Y = pool[n - overlap, n - overlap + m), in shuffled order. */
	total_ids = b.n + b.m - b.overlap;
	if ((b.pool = make_pool(total_ids)) == NULL || (b.order = malloc(b.m * 8)) == NULL) {
		free(b.pool);
		xz_cli_error("bench psi: out of memory for %llu IDs", (unsigned long long)total_ids);
		return XZ_EXIT_FAIL;
	}
	for (uint64_t i = 0; i < b.m; i++)
		b.order[i] = b.n - b.overlap + i;
	for (uint64_t i = b.m; i > 1; i--) {
		uint64_t j = randombytes_uniform((uint32_t)i), t = b.order[i - 1];
		b.order[i - 1] = b.order[j];
		b.order[j] = t;
	}

	/*
	 * The raw bound is measured in two halves, one just before and one just
	 * after the join, so load from other work on a shared machine falls on
	 * both sides of the ratio alike.
	 */
	h2g = b.n + b.m;
	mults = 3 * b.n + b.m;
	raw = raw_bound(b.pool, total_ids, h2g / 2, mults / 2, b.threads);
	t0 = now_s();
	rc = bench_join(&b);
	total = now_s() - t0;
	hwm = vm_hwm_kib();
	if (rc == XZ_EXIT_OK) {
		double raw2 = raw_bound(b.pool, total_ids, h2g - h2g / 2, mults - mults / 2,
		    b.threads);
		if (raw < 0 || raw2 < 0) {
			xz_cli_error("bench psi: the raw-bound measurement failed");
			rc = XZ_EXIT_FAIL;
		} else {
			if (b.mode != XZ_PSI_CARDINALITY && b.checked != b.overlap)
				b.bad++;
			if (b.answer != b.overlap)
				b.bad++;
			bench_report(&b, total, raw + raw2, hwm);
			if (b.bad != 0) {
				xz_cli_error("bench psi: the PSI answer differs from the plain set "
				    "computation");
				rc = XZ_EXIT_FAIL;
			}
		}
	}
	free(b.pool);
	free(b.order);
	return rc;
}

int
xz_cmd_bench(int argc, char **argv)
{
	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		bench_usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? XZ_EXIT_USAGE : XZ_EXIT_OK;
	}
	if (strcmp(argv[1], "psi") == 0)
		return bench_psi(argc - 1, argv + 1);
	if (strcmp(argv[1], "import") == 0)
		return xz_bench_import(argc - 1, argv + 1);
	return xz_cli_usage_error("bench", "unknown benchmark '%s' (psi, import)", argv[1]);
}
