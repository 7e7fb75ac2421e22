/* Unit tests: capability parsing, canonical form, wildcard coverage. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "capability.h"

/* Parse text and return its canonical form (caller frees), or NULL. */
static char *
canon(const char *text, enum cap_check check)
{
	struct capability *cap;
	struct tok_error e;
	char *s;

	if (cap_parse(text, strlen(text), check, &cap, &e) != TOK_OK)
		return NULL;
	s = cap_to_string(cap);
	cap_free(cap);
	return s;
}

static void
test_canonical_form(void **state)
{
	static const struct {
		const char *in, *out;
	} cases[] = {
		{ "{\"*\":[\"*\"]}", "{\"*\":[\"*\"]}" },
		{ "{ \"private:*\" : [\"subscribe\", \"publish\"], \"public\" :"
		  " [ \"subscribe\" ] }",
		  "{\"private:*\":[\"publish\",\"subscribe\"],"
		  "\"public\":[\"subscribe\"]}" },
		/* '/' not escaped, tab as \t, quote and backslash escaped */
		{ "{\"path/to\":[\"subscribe\"],\"a\\\"b\":[\"publish\"],"
		  "\"t\\tx\":[\"history\"],\"b\\\\s\":[\"presence\"]}",
		  "{\"a\\\"b\":[\"publish\"],\"b\\\\s\":[\"presence\"],"
		  "\"path/to\":[\"subscribe\"],\"t\\tx\":[\"history\"]}" },
		/* duplicates kept, sorted */
		{ "{\"b\":[\"subscribe\",\"publish\",\"publish\"],\"a\":[\"*\"]}",
		  "{\"a\":[\"*\"],\"b\":[\"publish\",\"publish\",\"subscribe\"]}" },
		/* UTF-16 order: astral (U+1F600) before U+FF01 */
		{ "{\"\xef\xbc\x81w\":[\"subscribe\"],\"\xf0\x9f\x98\x80s\":"
		  "[\"subscribe\"],\"plain\":[\"subscribe\"]}",
		  "{\"plain\":[\"subscribe\"],\"\xf0\x9f\x98\x80s\":"
		  "[\"subscribe\"],\"\xef\xbc\x81w\":[\"subscribe\"]}" },
		/* a control char other than tab uses \u00xx, lowercase */
		{ "{\"a\\u001fb\":[\"subscribe\"]}",
		  "{\"a\\u001fb\":[\"subscribe\"]}" },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *s = canon(cases[i].in, CAP_LAX);

		assert_non_null(s);
		assert_string_equal(s, cases[i].out);
		free(s);
	}
}

static void
test_lax_vs_strict(void **state)
{
	static const struct {
		const char *in;
		int lax_ok, strict_ok;
	} cases[] = {
		{ "{}", 1, 0 },
		{ "{\"a\":[]}", 1, 0 },
		{ "{\"a\":[\"fly\"]}", 1, 0 },
		{ "{\"a\":[\"subscribe\"]}", 1, 1 },
		{ "{\"\":[\"subscribe\"]}", 1, 0 },
		{ "{\"a\":\"subscribe\"}", 0, 0 },  /* not an array */
		{ "{\"a\":[1]}", 0, 0 },
		{ "[\"a\"]", 0, 0 },
		{ "not json", 0, 0 },
		{ "{\"a\":[\"subscribe\"]} x", 0, 0 },  /* trailing bytes */
		{ "{\"a\":[[[\"subscribe\"]]]}", 0, 0 },  /* too deep */
		{ "{\"a\\u0000b\":[\"subscribe\"]}", 0, 0 },
		{ "{\"a\":[\"sub\\u0000scribe\"]}", 0, 0 },
		{ "{\"\xff\":[\"subscribe\"]}", 0, 0 },  /* invalid UTF-8 */
		{ "{'a':['subscribe']}", 0, 0 },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *lax = canon(cases[i].in, CAP_LAX);
		char *strict = canon(cases[i].in, CAP_STRICT);

		if ((lax != NULL) != cases[i].lax_ok ||
		    (strict != NULL) != cases[i].strict_ok)
			fail_msg("case %zu (%s): lax %d strict %d", i,
			    cases[i].in, lax != NULL, strict != NULL);
		free(lax);
		free(strict);
	}
}

static void
test_resource_covers(void **state)
{
	static const struct {
		const char *allowed, *requested;
		int covers;
	} cases[] = {
		{ "room", "room", 1 },
		{ "room", "room2", 0 },
		{ "*", "anything", 1 },
		{ "*", "ns:a:b", 1 },
		{ "*", "*", 1 },
		{ "*", "[queue]q", 0 },
		{ "*", "[meta]x", 0 },
		{ "[*]*", "[meta]x", 1 },
		{ "[*]*", "plain", 1 },
		{ "[*]*", "*", 1 },
		{ "[meta]*", "[meta]channel.lifecycle", 1 },
		{ "[meta]*", "[queue]x", 0 },
		{ "ns:*", "ns:a", 1 },
		{ "ns:*", "ns:a:b", 1 },
		{ "ns:*", "ns", 0 },
		{ "ns:*", "ns:*", 1 },
		{ "ns:a", "ns:*", 0 },  /* requested is broader */
		{ "foo:*:baz", "foo:x:baz", 1 },
		{ "foo:*:baz", "foo:x:y:baz", 0 },
		{ "foo*", "foobar", 0 },  /* literal name */
		{ "foo*", "foo*", 1 },
		{ "chat:*", "*", 0 },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (cap_resource_covers(cases[i].allowed, cases[i].requested)
		    != cases[i].covers)
			fail_msg("covers(%s, %s) != %d", cases[i].allowed,
			    cases[i].requested, cases[i].covers);
}

static void
test_allows(void **state)
{
	static const struct {
		const char *allowed, *requested;
		int ok;
	} cases[] = {
		{ "{\"*\":[\"*\"]}", "{\"chat:1\":[\"publish\",\"subscribe\"]}",
		  1 },
		{ "{\"chat:*\":[\"subscribe\"]}", "{\"chat:1\":[\"subscribe\"]}",
		  1 },
		{ "{\"chat:*\":[\"subscribe\"]}", "{\"chat:1\":[\"publish\"]}",
		  0 },
		{ "{\"chat:*\":[\"subscribe\"]}", "{\"chat:1\":[\"*\"]}", 0 },
		{ "{\"chat:*\":[\"subscribe\"],\"news\":[\"publish\"]}",
		  "{\"chat:1\":[\"subscribe\"],\"news\":[\"publish\"]}", 1 },
		{ "{\"chat:*\":[\"subscribe\"],\"news\":[\"publish\"]}",
		  "{\"news\":[\"publish\",\"history\"]}", 0 },
		{ "{\"a\":[\"subscribe\"],\"*\":[\"publish\"]}",
		  "{\"a\":[\"publish\",\"subscribe\"]}", 1 },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct capability *a, *r;
		struct tok_error e;

		assert_int_equal(cap_parse(cases[i].allowed,
		    strlen(cases[i].allowed), CAP_STRICT, &a, &e), TOK_OK);
		assert_int_equal(cap_parse(cases[i].requested,
		    strlen(cases[i].requested), CAP_STRICT, &r, &e), TOK_OK);
		if (cap_allows(a, r) != cases[i].ok)
			fail_msg("allows(%s, %s) != %d", cases[i].allowed,
			    cases[i].requested, cases[i].ok);
		cap_free(a);
		cap_free(r);
	}
}

static void
test_utf16_cmp_and_text_ok(void **state)
{
	(void)state;
	assert_true(cap_utf16_cmp("a", "b") < 0);
	assert_true(cap_utf16_cmp("ab", "a") > 0);
	assert_int_equal(cap_utf16_cmp("same", "same"), 0);
	/* U+1F600 (surrogates D83D DE00) sorts before U+FF01 */
	assert_true(cap_utf16_cmp("\xf0\x9f\x98\x80", "\xef\xbc\x81") < 0);
	/* but after U+00E9 */
	assert_true(cap_utf16_cmp("\xc3\xa9", "\xf0\x9f\x98\x80") < 0);
	assert_true(cap_text_ok("Zo\xc3\xab", 4));
	assert_true(cap_text_ok("tab\there", 8));
	assert_false(cap_text_ok("nl\nx", 4));
	assert_false(cap_text_ok("\xc0\xaf", 2));          /* overlong */
	assert_false(cap_text_ok("\xed\xa0\x80", 3));      /* surrogate */
	assert_false(cap_text_ok("\xf4\x90\x80\x80", 4));  /* > U+10FFFF */
	assert_false(cap_text_ok("\xe2\x82", 2));          /* truncated */
	assert_false(cap_text_ok("a\0b", 3));
	assert_false(cap_text_ok("del\x7f", 4));
	assert_true(cap_is_operation("presence"));
	assert_true(cap_is_operation("*"));
	assert_false(cap_is_operation("Publish"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_canonical_form),
		cmocka_unit_test(test_lax_vs_strict),
		cmocka_unit_test(test_resource_covers),
		cmocka_unit_test(test_allows),
		cmocka_unit_test(test_utf16_cmp_and_text_ok),
	};

	return cmocka_run_group_tests_name("capability", tests, NULL, NULL);
}
