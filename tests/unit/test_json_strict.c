/* Unit tests: json_strict, the checks json-c does not make. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "json_strict.h"
#include "unit.h"

static void
test_table(void **state)
{
	static const struct {
		const char *text;
		int ok;
	} cases[] = {
		{ "{\"ttl\":60000,\"clientId\":\"a\"}", 1 },
		{ "{\"ttl\":1,\"ttl\":60000}", 0 },             /* twice */
		{ "{\"ttl\":1,\"t\\u0074l\":60000}", 0 },        /* escaped twin */
		{ "{\"a\":{\"x\":1,\"x\":2}}", 0 },             /* nested twice */
		{ "{\"a\":{\"x\":1},\"b\":{\"x\":2}}", 1 },     /* different objects */
		{ "[{\"x\":1},{\"x\":1}]", 1 },
		{ "[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]", 0 },   /* 17 deep */
		{ "{\"a\":[\"b\",\"b\"]}", 1 },                 /* values repeat */
		{ "[\"a\",\"a\"]", 1 },                         /* no object */
		{ "{'ttl':60000}", 0 },                         /* single quotes */
		{ "{\"it's\":[\"subscribe\"]}", 1 },            /* ' in a string */
		{ "{\"chat:\\ud800\":[\"publish\"]}", 0 },      /* lone high */
		{ "{\"chat:\\udc00\":[\"publish\"]}", 0 },      /* lone low */
		{ "{\"\\ud83d\\ude80\":[\"publish\"]}", 1 },    /* a real pair */
		{ "{\"\\ud83dx\":[\"publish\"]}", 0 },
		{ "{\"a\\\"\":1,\"a\\\"\":2}", 0 },             /* quote escapes */
		{ "{\"a\":\"\\u00zz\"}", 0 },                   /* broken escape */
		{ "{\"unterminated", 0 },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int rc = json_strict_check(cases[i].text,
		    strlen(cases[i].text));

		if ((rc == 0) != cases[i].ok)
			fail_msg("%s: got %d", cases[i].text, rc);
	}
}

UNIT_MAIN("json_strict",
    cmocka_unit_test(test_table))
