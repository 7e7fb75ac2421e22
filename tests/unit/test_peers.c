/* Unit tests: peers (FCGI_WEB_SERVER_ADDRS parsed, and a connection's
 * address checked against it). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/un.h>

#include <cmocka.h>

#include "peers.h"
#include "unit.h"

/* Whether p lets a peer at this address (IPv4 or IPv6 text) connect. */
static int
allows(const struct peers *p, const char *addr)
{
	struct sockaddr_storage ss;
	struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss;

	memset(&ss, 0, sizeof(ss));
	if (inet_pton(AF_INET, addr, &a4->sin_addr) == 1) {
		a4->sin_family = AF_INET;
	} else {
		assert_int_equal(inet_pton(AF_INET6, addr, &a6->sin6_addr), 1);
		a6->sin6_family = AF_INET6;
	}
	return peers_allow(p, (const struct sockaddr *)&ss);
}

static void
test_unset_or_blank_allows_everyone(void **state)
{
	const char *texts[] = { NULL, "", "  \t" };
	struct tok_error e;
	struct peers p;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		assert_int_equal(peers_parse(texts[i], &p, &e), TOK_OK);
		assert_int_equal(p.n, 0);
		assert_true(allows(&p, "192.0.2.7"));
		assert_true(allows(&p, "2001:db8::1"));
	}
	assert_true(peers_allow(NULL, (const struct sockaddr *)&(struct
	    sockaddr_in){ .sin_family = AF_INET }));
}

static void
test_listed_addresses_only(void **state)
{
	struct tok_error e;
	struct peers p;

	(void)state;
	assert_int_equal(peers_parse(" 127.0.0.1 ,::1,\t192.0.2.10", &p, &e),
	    TOK_OK);
	assert_int_equal(p.n, 3);
	assert_true(allows(&p, "127.0.0.1"));
	assert_true(allows(&p, "192.0.2.10"));
	assert_true(allows(&p, "::1"));
	assert_false(allows(&p, "127.0.0.2"));
	assert_false(allows(&p, "192.0.2.1"));
	assert_false(allows(&p, "::2"));
	/* An IPv4 peer on an IPv6 socket arrives mapped: its IPv4 entry. */
	assert_true(allows(&p, "::ffff:127.0.0.1"));
	assert_false(allows(&p, "::ffff:127.0.0.2"));
}

/* A unix socket's peer has no address: its file mode decides. */
static void
test_unix_peer_not_checked(void **state)
{
	struct sockaddr_un un = { .sun_family = AF_UNIX };
	struct tok_error e;
	struct peers p;

	(void)state;
	assert_int_equal(peers_parse("127.0.0.1", &p, &e), TOK_OK);
	assert_true(peers_allow(&p, (const struct sockaddr *)&un));
}

static void
test_bad_lists_name_the_entry(void **state)
{
	static const struct {
		const char *text;
		const char *message;
	} cases[] = {
		{ "nope", "entry 1 is not" },
		{ "127.0.0.1,nope", "entry 2 is not" },
		{ "127.0.0.1,", "entry 2 is not" },
		{ ",127.0.0.1", "entry 1 is not" },
		{ "127.0.0.1,,::1", "entry 2 is not" },
		{ "127.0.0.1/8", "entry 1 is not" },
		{ "127.0.0.1 ::1", "entry 1 is not" },
		{ "localhost", "entry 1 is not" },
		{ "[::1]", "entry 1 is not" },
		{ "0000:0000:0000:0000:0000:0000:0000:0000:1", "entry 1 is not" },
	};
	struct tok_error e;
	struct peers p;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(&e, 0, sizeof(e));
		if (peers_parse(cases[i].text, &p, &e) != TOK_EINVAL)
			fail_msg("accepted: \"%s\"", cases[i].text);
		if (strstr(e.message, cases[i].message) == NULL ||
		    strstr(e.message, "FCGI_WEB_SERVER_ADDRS") == NULL)
			fail_msg("\"%s\": %s", cases[i].text, e.message);
	}
}

static void
test_at_most_peers_max(void **state)
{
	char text[PEERS_MAX * 16 + 32] = "";
	struct tok_error e;
	struct peers p;
	int i;

	(void)state;
	for (i = 0; i < PEERS_MAX; i++)
		(void)snprintf(text + strlen(text), sizeof(text) - strlen(text),
		    "%s10.0.0.%d", i ? "," : "", i + 1);
	assert_int_equal(peers_parse(text, &p, &e), TOK_OK);
	assert_int_equal(p.n, PEERS_MAX);
	assert_true(allows(&p, "10.0.0.32"));
	strcat(text, ",10.0.0.99");
	assert_int_equal(peers_parse(text, &p, &e), TOK_EINVAL);
	assert_non_null(strstr(e.message, "more than 32 addresses"));
}

UNIT_MAIN("peers",
    cmocka_unit_test(test_unset_or_blank_allows_everyone),
    cmocka_unit_test(test_listed_addresses_only),
    cmocka_unit_test(test_unix_peer_not_checked),
    cmocka_unit_test(test_bad_lists_name_the_entry),
    cmocka_unit_test(test_at_most_peers_max))
