/*
 * Requests: the canonical encoding against a known-answer vector computed
 * independently from docs/policy.md (the same vector is printed there),
 * strict decoding, signatures that break on any one-byte change, request
 * files that round-trip, and approver key files.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "testsupport.h"
#include "keyfile.h"
#include "policy.h"
#include "request.h"

/* docs/policy.md, "Test vector". */
static const char kat_hex[] =
    "7869657a6869206a6f696e20726571756573742076310001000102030405060708090a"
    "0b0c0d0e0f020000001c70726f63757261746f726174652e6578616d706c652e676f76"
    "2e636e030000001c636976696c2d616666616972732e6578616d706c652e676f762e63"
    "6e040000001964656365617365642d696e737572616e63652d636c61696d7305000000"
    "01060000000e64656174685f7265676973747279070108000000020000000d64617465"
    "5f6f665f64656174680000000e706c6163655f6f665f64656174680900000000000013"
    "880a00000015496e737572616e6365206672617564206c656164730b0000000e4a4941"
    "4e2d323032362d303031370c0000001e4372696d696e616c2050726f63656475726520"
    "4c61772c206172742e20380d000000006b0625000e000000006b0f5f80";
static const char kat_digest[] =
    "62512ae3aa859ff8ce7fa5544ac09817f198054e7ec381314de3931da900495d";
/* Ed25519 signature with seed 0x42 * 32 over "xiezhi approval v1\0" || digest. */
static const char kat_sig[] =
    "8312df24af9e6bc27561f14bbb42e7ce2cd4be9d8238f8e1e34531b385c687ee"
    "7d01b323d11d9df448a6660170f7166c9cc1e7a765831773d2ba832db5cf080a";
static const char kat_pub[] = "IVL40Zt5HSRFMkLhXy6rbLfP+ntqXtMAl5YOBpiB2xI=";

static void
kat_request(struct xz_request *r)
{
	memset(r, 0, sizeof(*r));
	for (int i = 0; i < 16; i++)
		r->id[i] = (unsigned char)i;
	snprintf(r->requester, sizeof(r->requester), "%s", "procuratorate.example.gov.cn");
	snprintf(r->responder, sizeof(r->responder), "%s", "civil-affairs.example.gov.cn");
	snprintf(r->policy_id, sizeof(r->policy_id), "%s", "deceased-insurance-claims");
	r->policy_version = 1;
	snprintf(r->dataset, sizeof(r->dataset), "%s", "death_registry");
	r->mode = XZ_MODE_INTERSECT;
	r->n_labels = 2;
	snprintf(r->labels[0], sizeof(r->labels[0]), "%s", "place_of_death");
	snprintf(r->labels[1], sizeof(r->labels[1]), "%s", "date_of_death");
	xz_request_sort_labels(r);
	r->query_size = 5000;
	snprintf(r->purpose, sizeof(r->purpose), "%s", "Insurance fraud leads");
	snprintf(r->case_number, sizeof(r->case_number), "%s", "JIAN-2026-0017");
	snprintf(r->legal_basis, sizeof(r->legal_basis), "%s", "Criminal Procedure Law, art. 8");
	assert_int_equal(xz_time_parse("2026-11-25T00:00:00Z", &r->created_at), 0);
	assert_int_equal(xz_time_parse("2026-12-02T00:00:00Z", &r->expires_at), 0);
}

static int
req_equal(const struct xz_request *a, const struct xz_request *b)
{
	if (memcmp(a->id, b->id, 16) || strcmp(a->requester, b->requester) ||
	    strcmp(a->responder, b->responder) || strcmp(a->policy_id, b->policy_id) ||
	    a->policy_version != b->policy_version || strcmp(a->dataset, b->dataset) ||
	    a->mode != b->mode || a->n_labels != b->n_labels ||
	    a->query_size != b->query_size || strcmp(a->purpose, b->purpose) ||
	    strcmp(a->case_number, b->case_number) ||
	    strcmp(a->legal_basis, b->legal_basis) ||
	    a->created_at != b->created_at || a->expires_at != b->expires_at ||
	    strcmp(a->partner, b->partner) || memcmp(a->link, b->link, 16))
		return 0;
	for (size_t i = 0; i < a->n_labels; i++)
		if (strcmp(a->labels[i], b->labels[i]))
			return 0;
	return 1;
}

static void
test_known_answer(void **state)
{
	struct xz_request r, back;
	unsigned char buf[XZ_REQUEST_ENCODED_MAX], d[32];
	char hex[2 * sizeof(buf) + 1];
	size_t len;
	struct xz_perror e;

	(void)state;
	kat_request(&r);
	assert_int_equal(xz_request_encode(&r, buf, sizeof(buf), &len, &e), 0);
	xz_hex(buf, len, hex, sizeof(hex));
	assert_string_equal(hex, kat_hex);
	assert_int_equal(xz_request_digest(&r, d, &e), 0);
	xz_hex(d, 32, hex, sizeof(hex));
	assert_string_equal(hex, kat_digest);
	assert_int_equal(xz_request_decode(buf, len, &back, &e), 0);
	assert_true(req_equal(&r, &back));
}

static void
test_known_answer_signature(void **state)
{
	unsigned char seed[32], pk[32], sk[64];
	struct xz_request r;
	struct xz_approval a;
	struct xz_perror e;
	char hex[129], b64[64];

	(void)state;
	memset(seed, 0x42, sizeof(seed));
	crypto_sign_seed_keypair(pk, sk, seed);
	xz_key_to_base64(pk, b64, sizeof(b64));
	assert_string_equal(b64, kat_pub);
	kat_request(&r);
	assert_int_equal(xz_request_sign(&r, sk, "leader", &a, &e), 0);
	xz_hex(a.signature, 64, hex, sizeof(hex));
	assert_string_equal(hex, kat_sig);
	assert_int_equal(xz_approval_verify(&r, &a), 0);
	sodium_memzero(sk, sizeof(sk));
}

/*
 * Every single-byte change of the signed encoding either no longer decodes
 * or decodes to a request the approval does not verify for.
 */
static void
test_one_byte_change_fails(void **state)
{
	unsigned char seed[32], pk[32], sk[64], buf[XZ_REQUEST_ENCODED_MAX];
	struct xz_request r, changed;
	struct xz_approval a;
	struct xz_perror e;
	size_t len, decoded = 0;

	(void)state;
	memset(seed, 7, sizeof(seed));
	crypto_sign_seed_keypair(pk, sk, seed);
	kat_request(&r);
	assert_int_equal(xz_request_sign(&r, sk, "leader", &a, &e), 0);
	assert_int_equal(xz_request_encode(&r, buf, sizeof(buf), &len, &e), 0);
	for (size_t i = 0; i < len; i++) {
		for (unsigned delta = 1; delta < 256; delta <<= 1) {
			buf[i] ^= (unsigned char)delta;
			if (xz_request_decode(buf, len, &changed, &e) == 0) {
				decoded++;
				assert_int_equal(xz_approval_verify(&changed, &a), -1);
			}
			buf[i] ^= (unsigned char)delta;
		}
	}
	/* Most flips land in field contents and still decode: the test
	 * really exercised signature checks, not only the decoder. */
	assert_true(decoded > len);
	/* A changed signature or key fails too. */
	a.signature[10] ^= 1;
	assert_int_equal(xz_approval_verify(&r, &a), -1);
	a.signature[10] ^= 1;
	assert_int_equal(xz_approval_verify(&r, &a), 0);
	sodium_memzero(sk, sizeof(sk));
}

static void
test_decode_strict(void **state)
{
	unsigned char buf[XZ_REQUEST_ENCODED_MAX + 1];
	struct xz_request r, out;
	struct xz_perror e;
	size_t len;

	(void)state;
	kat_request(&r);
	assert_int_equal(xz_request_encode(&r, buf, sizeof(buf), &len, &e), 0);
	/* Every truncation fails. */
	for (size_t n = 0; n < len; n++)
		assert_int_equal(xz_request_decode(buf, n, &out, &e), -1);
	/* A trailing byte fails. */
	buf[len] = 0;
	assert_int_equal(xz_request_decode(buf, len + 1, &out, &e), -1);
	assert_non_null(strstr(e.msg, "trailing"));
	/* Unsorted labels are not canonical. */
	snprintf(r.labels[0], sizeof(r.labels[0]), "%s", "place_of_death");
	snprintf(r.labels[1], sizeof(r.labels[1]), "%s", "date_of_death");
	assert_int_equal(xz_request_encode(&r, buf, sizeof(buf), &len, &e), -1);
	assert_string_equal(e.key, "labels[1]");
	/* A too-small buffer is an error, not an overflow. */
	kat_request(&r);
	assert_int_equal(xz_request_encode(&r, buf, 100, &len, &e), -1);
}

struct invalid_case {
	const char *what;
	void (*mutate)(struct xz_request *r);
	const char *key;
};

static void m_requester(struct xz_request *r) { snprintf(r->requester, sizeof(r->requester), "%s", "a b"); }
static void m_policy(struct xz_request *r) { snprintf(r->policy_id, sizeof(r->policy_id), "%s", ""); }
static void m_version(struct xz_request *r) { r->policy_version = 0; }
static void m_mode(struct xz_request *r) { r->mode = 5; }
static void m_size(struct xz_request *r) { r->query_size = 0; }
static void m_purpose(struct xz_request *r) { snprintf(r->purpose, sizeof(r->purpose), "%s", "a\x1b[2Jb"); }
static void m_case(struct xz_request *r) { r->case_number[0] = '\0'; }
static void m_expires(struct xz_request *r) { r->expires_at = r->created_at; }
static void m_labels(struct xz_request *r) { snprintf(r->labels[1], sizeof(r->labels[1]), "%s", r->labels[0]); }
static void m_partner_2p(struct xz_request *r) { snprintf(r->partner, sizeof(r->partner), "%s", "tax.example.gov.cn"); }
static void m_link_2p(struct xz_request *r) { r->link[3] = 1; }
static void m_deleg_nopartner(struct xz_request *r) { r->mode = XZ_MODE_DELEGATED; r->link[0] = 1; }
static void m_deleg_nolink(struct xz_request *r) { r->mode = XZ_MODE_DELEGATED; m_partner_2p(r); }
static void m_deleg_self(struct xz_request *r) {
	m_deleg_nopartner(r);
	snprintf(r->partner, sizeof(r->partner), "%s", r->responder);
}

static void
test_validate(void **state)
{
	static const struct invalid_case cases[] = {
		{ "requester with space", m_requester, "requester" },
		{ "empty policy", m_policy, "policy" },
		{ "version 0", m_version, "policy_version" },
		{ "mode 5", m_mode, "mode" },
		{ "size 0", m_size, "query_size" },
		{ "escape in purpose", m_purpose, "purpose" },
		{ "empty case number", m_case, "case_number" },
		{ "expires = created", m_expires, "expires" },
		{ "duplicate label", m_labels, "labels[1]" },
		{ "partner in intersect", m_partner_2p, "partner" },
		{ "link in intersect", m_link_2p, "link" },
		{ "delegated, no partner", m_deleg_nopartner, "partner" },
		{ "delegated, no link", m_deleg_nolink, "link" },
		{ "partner = responder", m_deleg_self, "partner" },
	};
	struct xz_request r;
	struct xz_perror e;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		kat_request(&r);
		cases[i].mutate(&r);
		assert_int_equal(xz_request_validate(&r, &e), -1);
		print_message("%-22s -> %s: %s\n", cases[i].what, e.key, e.msg);
		assert_string_equal(e.key, cases[i].key);
	}
}

static void
test_request_file_round_trip(void **state)
{
	struct xz_request_file f, g;
	unsigned char pk[32], sk[64];
	struct xz_perror e;
	char *text = NULL, msg[1024];

	(void)state;
	memset(&f, 0, sizeof(f));
	kat_request(&f.req);
	snprintf(f.req.purpose, sizeof(f.req.purpose), "%s", "多行\n\"quoted\" text: with # and \\");
	for (int i = 0; i < 2; i++) {
		crypto_sign_keypair(pk, sk);
		assert_int_equal(xz_request_sign(&f.req, sk, i ? "officer" : "leader",
		    &f.approvals[i], &e), 0);
		f.n_approvals++;
	}
	assert_int_equal(xz_request_file_print(&f, &text, &e), 0);
	if (xz_request_file_parse("r.yaml", text, strlen(text), &g, &e) != 0) {
		xz_perror_format(&e, msg, sizeof(msg));
		fail_msg("%s\n%s", msg, text);
	}
	assert_true(req_equal(&f.req, &g.req));
	assert_int_equal(g.n_approvals, 2);
	assert_memory_equal(f.approvals, g.approvals, sizeof(f.approvals[0]) * 2);
	assert_int_equal(xz_approval_verify(&g.req, &g.approvals[1]), 0);
	free(text);
}

/* A delegated request: partner and link are encoded, signed, filed. */
static void
test_delegated_round_trip(void **state)
{
	struct xz_request_file f, g;
	unsigned char buf[XZ_REQUEST_ENCODED_MAX], buf2[XZ_REQUEST_ENCODED_MAX];
	unsigned char d1[32], d2[32];
	struct xz_request back;
	struct xz_perror e;
	size_t len, len2;
	char *text = NULL;

	(void)state;
	memset(&f, 0, sizeof(f));
	kat_request(&f.req);
	f.req.mode = XZ_MODE_DELEGATED;
	snprintf(f.req.partner, sizeof(f.req.partner), "%s", "medical-insurance.example.gov.cn");
	for (int i = 0; i < 16; i++)
		f.req.link[i] = (unsigned char)(0xa0 + i);
	assert_int_equal(xz_request_encode(&f.req, buf, sizeof(buf), &len, &e), 0);
	assert_int_equal(xz_request_decode(buf, len, &back, &e), 0);
	assert_true(req_equal(&f.req, &back));
	/* The link is signed: another link, another digest. */
	assert_int_equal(xz_request_digest(&f.req, d1, &e), 0);
	back.link[15] ^= 1;
	assert_int_equal(xz_request_digest(&back, d2, &e), 0);
	assert_memory_not_equal(d1, d2, 32);
	/* Cut off the link: not a request. */
	assert_int_equal(xz_request_decode(buf, len - 1, &back, &e), -1);
	/* An intersect request's encoding has no such fields. */
	f.req.mode = XZ_MODE_INTERSECT;
	f.req.partner[0] = '\0';
	memset(f.req.link, 0, 16);
	assert_int_equal(xz_request_encode(&f.req, buf2, sizeof(buf2), &len2, &e), 0);
	assert_true(len2 < len);
	f.req.mode = XZ_MODE_DELEGATED;
	snprintf(f.req.partner, sizeof(f.req.partner), "%s", "medical-insurance.example.gov.cn");
	f.req.link[0] = 0xa0;
	assert_int_equal(xz_request_file_print(&f, &text, &e), 0);
	assert_non_null(strstr(text, "partner: \"medical-insurance.example.gov.cn\""));
	assert_int_equal(xz_request_file_parse("r.yaml", text, strlen(text), &g, &e), 0);
	assert_true(req_equal(&f.req, &g.req));
	free(text);
}

static void
test_request_file_errors(void **state)
{
	static const struct {
		const char *yaml;
		unsigned long line;
		const char *key;
	} cases[] = {
		{ "request:\n  id: 00\n", 2, "request.requester" },
		{ "request: {}\nextra: 1\n", 2, "extra" },
		{ "approvals: []\n", 1, "request" },
	};
	struct xz_request_file f;
	struct xz_perror e;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *y = cases[i].yaml;
		assert_int_equal(xz_request_file_parse("bad.yaml", y, strlen(y), &f, &e),
		    -1);
		print_message("%s:%lu: %s: %s\n", e.file, e.line, e.key, e.msg);
		assert_int_equal(e.line, cases[i].line);
		assert_string_equal(e.key, cases[i].key);
	}
}

static void
test_keyfile(void **state)
{
	char *dir = xzt_mkdtemp("keyfile");
	char *base = xzt_path(dir, "leader"), *kpath, pub[64];
	unsigned char *sk = NULL;
	struct xz_perror e;
	struct stat st;
	size_t len;

	(void)state;
	kpath = xzt_path(dir, "leader.key");
	assert_int_equal(xz_keyfile_generate(base, pub, sizeof(pub), &e), 0);
	assert_int_equal(stat(kpath, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	/* The .pub file holds exactly the base64 a policy takes. */
	char *pp = xzt_path(dir, "leader.pub");
	char *pubtext = xzt_read_file(pp, &len);
	assert_int_equal(len, 45);
	assert_memory_equal(pubtext, pub, 44);
	/* Load gives the matching key pair. */
	assert_int_equal(xz_keyfile_load(kpath, &sk, &e), 0);
	char b64[64];
	xz_key_to_base64(sk + 32, b64, sizeof(b64));
	assert_string_equal(b64, pub);
	xz_keyfile_free(sk);
	/* Never overwrites. */
	assert_int_equal(xz_keyfile_generate(base, pub, sizeof(pub), &e), -1);
	assert_non_null(strstr(e.msg, "refusing to overwrite"));
	/* A group-readable secret is refused. */
	assert_int_equal(chmod(kpath, 0640), 0);
	assert_int_equal(xz_keyfile_load(kpath, &sk, &e), -1);
	assert_non_null(strstr(e.msg, "chmod 600"));
	/* Junk is refused. */
	assert_int_equal(chmod(kpath, 0600), 0);
	xzt_write_file(kpath, "hello\n", 6);
	assert_int_equal(chmod(kpath, 0600), 0);
	assert_int_equal(xz_keyfile_load(kpath, &sk, &e), -1);
	assert_int_equal(e.line, 1);
	free(pubtext);
	free(pp);
	free(kpath);
	free(base);
	xzt_rmtree(dir);
	free(dir);
}

/*
 * Every single-byte change of a signed request file either fails to parse
 * (with the file named) or parses to a request whose approvals no longer
 * verify, or changes only what is not signed (the approver's name, the
 * YAML layout).  Never a crash (the suite also runs under ASan/UBSan).
 */
static void
test_file_mutations(void **state)
{
	struct xz_request_file f, g;
	unsigned char pk[32], sk[64];
	struct xz_perror e;
	char *text = NULL;
	size_t parsed = 0, still_valid = 0;

	(void)state;
	memset(&f, 0, sizeof(f));
	kat_request(&f.req);
	crypto_sign_keypair(pk, sk);
	assert_int_equal(xz_request_sign(&f.req, sk, "leader", &f.approvals[0], &e), 0);
	f.n_approvals = 1;
	assert_int_equal(xz_request_file_print(&f, &text, &e), 0);
	size_t len = strlen(text);
	for (size_t i = 0; i < len; i++) {
		char orig = text[i];
		text[i] = (char)(orig == 'a' ? 'b' : orig == '1' ? '2' : 'a');
		if (xz_request_file_parse("m.yaml", text, len, &g, &e) != 0) {
			assert_string_equal(e.file, "m.yaml");
		} else {
			parsed++;
			if (g.n_approvals == 1 && xz_approval_verify(&g.req,
			    &g.approvals[0]) == 0) {
				/* Then the signed request is unchanged. */
				assert_true(req_equal(&f.req, &g.req));
				still_valid++;
			}
		}
		text[i] = orig;
	}
	print_message("%zu of %zu mutants parsed, %zu still verify (unsigned "
	    "bytes)\n", parsed, len, still_valid);
	assert_true(parsed > 0);
	free(text);
	sodium_memzero(sk, sizeof(sk));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_known_answer),
		cmocka_unit_test(test_known_answer_signature),
		cmocka_unit_test(test_one_byte_change_fails),
		cmocka_unit_test(test_decode_strict),
		cmocka_unit_test(test_validate),
		cmocka_unit_test(test_request_file_round_trip),
		cmocka_unit_test(test_delegated_round_trip),
		cmocka_unit_test(test_request_file_errors),
		cmocka_unit_test(test_keyfile),
		cmocka_unit_test(test_file_mutations),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
