/*
 * xiezhi.conf: the strict parser (a table of broken files, each refused
 * with its file:line and the reason), the federation keys, set/unset
 * validation and the write -> read round trip.
 */
#include "testsupport.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nodeconf.h"

#define HEAD "name = tax\nstore_key_check = 00112233445566778899aabbccddeeff\n"

struct fx {
	char *dir;
};

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	f->dir = xzt_mkdtemp("nodeconf");
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	xzt_rmtree(f->dir);
	free(f->dir);
	free(f);
	return 0;
}

static int
read_text(const char *dir, const char *text, struct xz_nodeconf *c, struct xz_diag *d)
{
	char *p = xzt_path(dir, "xiezhi.conf");
	int rc;

	xzt_write_file(p, text, strlen(text));
	free(p);
	rc = xz_nodeconf_read(dir, c, d);
	return rc;
}

static void
test_federation_keys_parse(void **state)
{
	struct fx *f = *state;
	static struct xz_nodeconf c;
	struct xz_diag d;

	assert_int_equal(read_text(f->dir, HEAD
	    "# federation\n"
	    "identity = tax.example.gov.cn\n"
	    "listen = 0.0.0.0:7443\n"
	    "tls_ca = pki/ca.pem\n"
	    "tls_cert = /etc/xiezhi/tax.pem\n"
	    "tls_key = pki/tax.key\n"
	    "peer.proc.address = proc.example:7443\n"
	    "peer.proc.identity = proc.example.gov.cn\n"
	    "peer.stats.address = [::1]:8443\n"
	    "peer.stats.identity = stats.example\n"
	    "peer.stats.node_key = J6vDJKF2JaN+MjDst6qGMzHDzaPhUrcZ+d0Wu2JBOTU=\n", &c, &d), 0);
	assert_string_equal(c.identity, "tax.example.gov.cn");
	assert_string_equal(c.listen, "0.0.0.0:7443");
	assert_int_equal(c.npeers, 2);
	assert_string_equal(xz_nodeconf_peer(&c, "proc")->address, "proc.example:7443");
	assert_string_equal(xz_nodeconf_peer(&c, "stats")->identity, "stats.example");
	assert_string_equal(xz_nodeconf_peer(&c, "stats")->node_key,
	    "J6vDJKF2JaN+MjDst6qGMzHDzaPhUrcZ+d0Wu2JBOTU=");
	assert_null(xz_nodeconf_peer(&c, "nobody"));
	assert_int_equal(xz_nodeconf_check_federation(&c, 1, &d), 0);
}

static void
test_broken_files_refused(void **state)
{
	static const struct {
		const char *text, *expect;
	} cases[] = {
		{ HEAD "colour = blue\n", "xiezhi.conf:3: unknown setting 'colour'" },
		{ HEAD "identity = a.example\nidentity = b.example\n",
		  "xiezhi.conf:4: 'identity' is set twice (first on line 3)" },
		{ HEAD "peer.p.address = h:1\npeer.p.identity = x\npeer.p.address = h:2\n",
		  "xiezhi.conf:5: 'peer.p.address' is set twice (first on line 3)" },
		{ HEAD "identity = bad name\n", "xiezhi.conf:3: 'identity'" },
		{ HEAD "listen = 127.0.0.1\n", "expected host:port" },
		{ HEAD "listen = 127.0.0.1:70000\n", "port must be a number" },
		{ HEAD "listen = 127.0.0.1:-1\n", "port must be a number" },
		{ HEAD "listen = ho st:1\n", "the host may hold only" },
		{ HEAD "listen = [::1:7443\n", "IPv6 address goes in brackets" },
		{ HEAD "peer.p.address = h:0\npeer.p.identity = x\n", "port 0 cannot be dialled" },
		{ HEAD "peer.p.address = h:1\n", "peer 'p' has no identity" },
		{ HEAD "peer.p.identity = p.example\n", "peer 'p' has no address" },
		{ HEAD "peer.p.colour = red\n", "unknown setting 'peer.p.colour'" },
		{ HEAD "peer..address = h:1\n", "a peer key is peer.NAME.address" },
		{ HEAD "peer.a.b.address = h:1\n", "a peer key is peer.NAME.address" },
		{ HEAD "peer.p.address = h:1\npeer.p.identity = x\npeer.p.node_key = AAAA\n",
		  "is not an Ed25519 node key" },
		{ HEAD "tls_ca = \n", "'tls_ca': the path is empty" },
		{ HEAD "just words\n", "xiezhi.conf:3: expected 'key = value'" },
		{ "name = tax\n", "required setting 'store_key_check' is missing" },
	};
	struct fx *f = *state;
	static struct xz_nodeconf c;
	struct xz_diag d;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(&d, 0, sizeof(d));
		if (read_text(f->dir, cases[i].text, &c, &d) == 0)
			fail_msg("case %zu accepted: %s", i, cases[i].text);
		if (strstr(d.msg, cases[i].expect) == NULL)
			fail_msg("case %zu: expected '%s' in '%s'", i, cases[i].expect, d.msg);
		/* A refused file leaves nothing half-parsed behind. */
		assert_int_equal(c.name[0], '\0');
		assert_int_equal(c.npeers, 0);
	}
}

static void
test_too_many_peers(void **state)
{
	struct fx *f = *state;
	static struct xz_nodeconf c;
	char text[16384];
	struct xz_diag d;
	size_t n = (size_t)snprintf(text, sizeof(text), HEAD);

	for (int i = 0; i <= XZ_CONF_MAX_PEERS; i++)
		n += (size_t)snprintf(text + n, sizeof(text) - n,
		    "peer.p%d.address = h:%d\npeer.p%d.identity = p%d.example\n", i, i + 1, i, i);
	assert_int_not_equal(read_text(f->dir, text, &c, &d), 0);
	assert_non_null(strstr(d.msg, "more than 32 peers"));
}

static void
test_set_unset_and_round_trip(void **state)
{
	struct fx *f = *state;
	static struct xz_nodeconf c, back;
	struct xz_diag d;

	assert_int_equal(read_text(f->dir, HEAD, &c, &d), 0);
	assert_int_not_equal(xz_nodeconf_check_federation(&c, 1, &d), 0);
	assert_non_null(strstr(d.msg, "no 'identity'"));
	/* init's keys are not for operators. */
	assert_int_not_equal(xz_nodeconf_set(&c, "name", "other", "test", &d), 0);
	assert_non_null(strstr(d.msg, "set by 'xiezhi init'"));
	assert_int_not_equal(xz_nodeconf_set(&c, "listen", "nope", "test", &d), 0);
	assert_int_equal(xz_nodeconf_set(&c, "identity", "tax.example", "test", &d), 0);
	assert_int_equal(xz_nodeconf_set(&c, "listen", "127.0.0.1:0", "test", &d), 0);
	assert_int_equal(xz_nodeconf_set(&c, "tls_ca", "ca.pem", "test", &d), 0);
	assert_int_equal(xz_nodeconf_set(&c, "tls_cert", "n.pem", "test", &d), 0);
	assert_int_equal(xz_nodeconf_set(&c, "tls_key", "n.key", "test", &d), 0);
	assert_int_equal(xz_nodeconf_set(&c, "peer.a.address", "a:1", "test", &d), 0);
	/* An incomplete peer is never written. */
	assert_int_not_equal(xz_nodeconf_write(f->dir, &c, &d), 0);
	assert_non_null(strstr(d.msg, "peer 'a' has no identity"));
	assert_int_equal(xz_nodeconf_set(&c, "peer.a.identity", "a.example", "test", &d), 0);
	assert_int_equal(xz_nodeconf_set(&c, "peer.b.address", "b:2", "test", &d), 0);
	assert_int_equal(xz_nodeconf_set(&c, "peer.b.identity", "b.example", "test", &d), 0);
	assert_int_equal(xz_nodeconf_set(&c, "peer.a.address", "a2:3", "test", &d), 0);
	assert_int_equal(xz_nodeconf_write(f->dir, &c, &d), 0);
	assert_int_equal(xz_nodeconf_read(f->dir, &back, &d), 0);
	assert_memory_equal(&c, &back, sizeof(c));
	assert_string_equal(xz_nodeconf_peer(&back, "a")->address, "a2:3");
	/* unset a peer and a key */
	assert_int_equal(xz_nodeconf_unset(&c, "peer.a", &d), 0);
	assert_int_equal(xz_nodeconf_unset(&c, "listen", &d), 0);
	assert_int_not_equal(xz_nodeconf_unset(&c, "peer.zz", &d), 0);
	assert_int_not_equal(xz_nodeconf_unset(&c, "name", &d), 0);
	assert_int_equal(xz_nodeconf_write(f->dir, &c, &d), 0);
	assert_int_equal(xz_nodeconf_read(f->dir, &back, &d), 0);
	assert_int_equal(back.npeers, 1);
	assert_string_equal(back.peers[0].name, "b");
	assert_string_equal(back.listen, "");
	assert_int_not_equal(xz_nodeconf_check_federation(&back, 1, &d), 0);
	assert_int_equal(xz_nodeconf_check_federation(&back, 0, &d), 0);
}

static void
test_paths_resolve(void **state)
{
	char buf[64];
	struct xz_diag d;

	(void)state;
	assert_int_equal(xz_nodeconf_path("/n", "pki/a.pem", buf, sizeof(buf), &d), 0);
	assert_string_equal(buf, "/n/pki/a.pem");
	assert_int_equal(xz_nodeconf_path("/n", "/etc/a.pem", buf, sizeof(buf), &d), 0);
	assert_string_equal(buf, "/etc/a.pem");
	assert_int_not_equal(xz_nodeconf_path("/n", "0123456789012345678901234567890123456789"
	    "0123456789012345678901234567890123456789", buf, sizeof(buf), &d), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_federation_keys_parse, setup, teardown),
		cmocka_unit_test_setup_teardown(test_broken_files_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_too_many_peers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_set_unset_and_round_trip, setup, teardown),
		cmocka_unit_test(test_paths_resolve),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
