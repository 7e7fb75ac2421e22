/* Unit tests: ably_answer (TokenDetails read from Ably's answer). How a
 * whole try is judged is covered end to end by the integration suites
 * against the emulator (fallbacks, CDN pages, Ably's 4xx). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ably_answer.h"

static void
test_token_details_keeps_what_ably_js_uses(void **state)
{
	char *d;

	(void)state;
	d = ably_answer_token_details("{\"token\":\"t.x\",\"keyName\":\"a.b\","
	    "\"issued\":1,\"expires\":2,\"capability\":\"{}\","
	    "\"clientId\":null,\"extra\":\"dropped\"}");
	assert_non_null(d);
	assert_string_equal(d, "{\"token\":\"t.x\",\"keyName\":\"a.b\","
	    "\"issued\":1,\"expires\":2,\"capability\":\"{}\"}");
	free(d);
}

static void
test_not_token_details(void **state)
{
	static const char *const bodies[] = {
		"", "[]", "not json", "{\"issued\":1,\"expires\":2}",
		"{\"token\":7,\"issued\":1,\"expires\":2}",
		"{\"token\":\"t\",\"issued\":\"1\",\"expires\":2}",
		"{\"token\":\"t\",\"issued\":1,\"expires\":2,\"clientId\":3}",
		"{\"error\":{\"code\":40100,\"statusCode\":401}}",
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++)
		assert_null(ably_answer_token_details(bodies[i]));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_token_details_keeps_what_ably_js_uses),
		cmocka_unit_test(test_not_token_details),
	};

	return cmocka_run_group_tests_name("ably_answer", tests, NULL, NULL);
}
