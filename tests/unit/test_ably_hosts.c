/* Unit tests: ably_hosts (the order a call tries Ably's hosts in, what is
 * remembered of each, and their URLs). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "ably_hosts.h"

static char primary[] = "main.example";
static char fb_a[] = "a.example", fb_b[] = "b.example", fb_c[] = "c.example";
static char *fallbacks[] = { fb_a, fb_b, fb_c };

static void
setup_hosts(struct ably_hosts *h, struct config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->rest_host = primary;
	cfg->fallback_hosts = fallbacks;
	cfg->n_fallback_hosts = 3;
	memset(h, 0, sizeof(*h));
	assert_int_equal(ably_hosts_init(h, cfg), TOK_OK);
}

/* 1 if order[0..n) holds every index below n once. */
static int
is_permutation(const size_t *order, size_t n)
{
	int seen[ABLY_HOSTS_MAX] = { 0 };
	size_t i;

	for (i = 0; i < n; i++) {
		if (order[i] >= n || seen[order[i]])
			return 0;
		seen[order[i]] = 1;
	}
	return 1;
}

static void
test_primary_first_then_every_fallback(void **state)
{
	struct config cfg;
	struct ably_hosts h;
	size_t order[ABLY_HOSTS_MAX];
	int run;

	(void)state;
	setup_hosts(&h, &cfg);
	assert_int_equal(h.n, 4);
	assert_string_equal(h.name[0], "main.example");
	assert_string_equal(h.name[3], "c.example");
	for (run = 0; run < 20; run++) {
		assert_int_equal(ably_hosts_plan(&h, order), 4);
		assert_int_equal(order[0], 0);
		assert_true(is_permutation(order, 4));
	}
	ably_hosts_free(&h);
}

static void
test_failed_host_goes_last_working_fallback_first(void **state)
{
	struct config cfg;
	struct ably_hosts h;
	size_t order[ABLY_HOSTS_MAX];

	(void)state;
	setup_hosts(&h, &cfg);
	ably_hosts_remember(&h, 0, 0);  /* the primary failed */
	assert_int_equal(ably_hosts_plan(&h, order), 4);
	assert_int_equal(order[3], 0);
	assert_true(is_permutation(order, 4));
	ably_hosts_remember(&h, 2, 1);  /* a fallback worked */
	assert_int_equal(ably_hosts_plan(&h, order), 4);
	assert_int_equal(order[0], 2);
	assert_int_equal(order[3], 0);  /* still avoided */
	assert_true(is_permutation(order, 4));
	ably_hosts_remember(&h, 2, 0);  /* and then failed: not preferred */
	assert_int_equal(ably_hosts_plan(&h, order), 4);
	assert_true(order[0] == 1 || order[0] == 3);
	ably_hosts_free(&h);
}

static void
test_url_scheme_and_port(void **state)
{
	struct config cfg;
	char url[64];

	(void)state;
	memset(&cfg, 0, sizeof(cfg));
	cfg.tls = 1;
	assert_int_equal(ably_hosts_url(&cfg, "rest.ably.io", "/time", url,
	    sizeof(url)), 0);
	assert_string_equal(url, "https://rest.ably.io/time");
	cfg.tls = 0;
	cfg.port = 8080;
	assert_int_equal(ably_hosts_url(&cfg, "localhost", "/time", url,
	    sizeof(url)), 0);
	assert_string_equal(url, "http://localhost:8080/time");
	/* A host that names its port keeps it. */
	assert_int_equal(ably_hosts_url(&cfg, "localhost:9", "/time", url,
	    sizeof(url)), 0);
	assert_string_equal(url, "http://localhost:9/time");
	assert_int_equal(ably_hosts_url(&cfg, "localhost", "/time", url, 10),
	    -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_primary_first_then_every_fallback),
		cmocka_unit_test(test_failed_host_goes_last_working_fallback_first),
		cmocka_unit_test(test_url_scheme_and_port),
	};

	return cmocka_run_group_tests_name("ably_hosts", tests, NULL, NULL);
}
