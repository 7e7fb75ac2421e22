/* Unit tests: utf8 (text checks and the UTF-16 order JS sorts by). The
 * same cases through capability.h's names are in test_capability.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "utf8.h"
#include "unit.h"

static void
test_text_ok_table(void **state)
{
	static const struct {
		const char *s;
		size_t n;
		int ok;
	} cases[] = {
		{ "", 0, 1 },
		{ "plain", 5, 1 },
		{ "tab\there", 8, 1 },
		{ "\xc2\xa9", 2, 1 },              /* U+00A9 */
		{ "\xef\xbf\xbf", 3, 1 },          /* U+FFFF */
		{ "\xf4\x8f\xbf\xbf", 4, 1 },      /* U+10FFFF */
		{ "cr\r", 3, 0 },
		{ "del\x7f", 4, 0 },
		{ "a\0b", 3, 0 },
		{ "\x80", 1, 0 },                  /* lone continuation */
		{ "\xc1\xbf", 2, 0 },              /* overlong */
		{ "\xe0\x9f\xbf", 3, 0 },          /* overlong */
		{ "\xf0\x8f\xbf\xbf", 4, 0 },      /* overlong */
		{ "\xed\xbf\xbf", 3, 0 },          /* surrogate */
		{ "\xf5\x80\x80\x80", 4, 0 },      /* past U+10FFFF */
		{ "\xf0\x9f\x98", 3, 0 },          /* truncated */
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_int_equal(utf8_text_ok(cases[i].s, cases[i].n),
		    cases[i].ok);
}

static void
test_utf16_order(void **state)
{
	(void)state;
	assert_int_equal(utf8_utf16_cmp("", ""), 0);
	assert_true(utf8_utf16_cmp("", "a") < 0);
	assert_true(utf8_utf16_cmp("b", "a") > 0);
	/* U+1F600 is D83D DE00 in UTF-16: before U+FF01, though after it
	 * by code point (and in UTF-8 byte order). */
	assert_true(utf8_utf16_cmp("\xf0\x9f\x98\x80", "\xef\xbc\x81") < 0);
	assert_true(utf8_utf16_cmp("\xef\xbc\x81", "\xf0\x9f\x98\x80") > 0);
	assert_int_equal(utf8_utf16_cmp("\xf0\x9f\x98\x80",
	    "\xf0\x9f\x98\x80"), 0);
}

UNIT_MAIN("utf8",
    cmocka_unit_test(test_text_ok_table),
    cmocka_unit_test(test_utf16_order))
