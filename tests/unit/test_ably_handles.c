/* Unit tests: ably_handles (the protocol a handle for Ably may speak, by
 * either of libcurl's two ways of saying it: CURLOPT_PROTOCOLS_STR since
 * 7.85, the CURLOPT_PROTOCOLS bitmask before; the bitmask branch is what
 * runs on Ubuntu 22.04's or Debian 11's libcurl, forced here). No network:
 * libcurl refuses a URL of another scheme before it connects. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "ably_handles.h"

static size_t
discard(char *p, size_t size, size_t n, void *userdata)
{
	(void)p;
	(void)userdata;
	return size * n;
}

/* What performing url gives on a handle restricted to tls or plain http. */
static CURLcode
perform(int tls, int as_bits, const char *url)
{
	CURL *h = curl_easy_init();
	CURLcode cc;

	assert_non_null(h);
	assert_int_equal(ably_handles_restrict_protocols(h, tls, as_bits), CURLE_OK);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 200L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 500L);
	cc = curl_easy_perform(h);
	curl_easy_cleanup(h);
	return cc;
}

static void
test_only_the_configured_scheme(void **state)
{
	int as_bits;

	(void)state;
	for (as_bits = 0; as_bits <= 1; as_bits++) {
		/* tls = on: http (and anything else) refused outright. */
		assert_int_equal(perform(1, as_bits, "http://127.0.0.1:9/"),
		    CURLE_UNSUPPORTED_PROTOCOL);
		assert_int_equal(perform(1, as_bits, "file:///etc/passwd"),
		    CURLE_UNSUPPORTED_PROTOCOL);
		/* tls = off: https refused; http allowed (port 9, discard,
		 * is closed here: a connection error, not a scheme error). */
		assert_int_equal(perform(0, as_bits, "https://127.0.0.1:9/"),
		    CURLE_UNSUPPORTED_PROTOCOL);
		assert_int_not_equal(perform(0, as_bits, "http://127.0.0.1:9/"),
		    CURLE_UNSUPPORTED_PROTOCOL);
		assert_int_not_equal(perform(1, as_bits, "https://127.0.0.1:9/"),
		    CURLE_UNSUPPORTED_PROTOCOL);
	}
}

static int
setup(void **state)
{
	(void)state;
	return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -1;
}

static int
teardown(void **state)
{
	(void)state;
	curl_global_cleanup();
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_only_the_configured_scheme),
	};

	return cmocka_run_group_tests_name("ably_handles", tests, setup, teardown);
}
