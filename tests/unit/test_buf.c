/* Unit tests: buf (bounded appends, one-pass printf, decimal integers) and
 * json_out (JSON strings escaped as JSON.stringify does). */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "buf.h"
#include "json_out.h"
#include "unit.h"

static void
test_printf_in_place_and_growing(void **state)
{
	struct buf b;
	char big[600];

	(void)state;
	buf_init(&b, 4096);
	assert_int_equal(buf_adds(&b, "x"), TOK_OK);  /* 256 bytes allocated */
	assert_int_equal(buf_printf(&b, "-%d-%s", 42, "y"), TOK_OK);
	assert_string_equal(b.data, "x-42-y");
	memset(big, 'z', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	/* Does not fit in what is allocated: the second pass after growing. */
	assert_int_equal(buf_printf(&b, "%s!", big), TOK_OK);
	assert_int_equal(b.len, 6 + 599 + 1);
	assert_int_equal(b.data[b.len - 1], '!');
	assert_int_equal(strlen(b.data), b.len);
	buf_free(&b);
}

/* A refused append leaves the contents exactly as they were, also when
 * the one-pass printf had already written into the free space. */
static void
test_printf_refused_over_max_leaves_contents(void **state)
{
	struct buf b;

	(void)state;
	buf_init(&b, 10);
	assert_int_equal(buf_adds(&b, "abc"), TOK_OK);
	assert_int_equal(buf_printf(&b, "%s", "12345678"), TOK_ETOOBIG);
	assert_int_equal(b.len, 3);
	assert_string_equal(b.data, "abc");
	assert_int_equal(buf_printf(&b, "%d", 1234567), TOK_OK);
	assert_string_equal(b.data, "abc1234567");
	assert_int_equal(buf_add_ll(&b, 1), TOK_ETOOBIG);
	assert_string_equal(b.data, "abc1234567");
	buf_free(&b);
}

static void
test_add_ll_matches_printf(void **state)
{
	static const long long values[] = { 0, 1, -1, 9, 10, 99, 100,
	    1700000000000LL, -1700000000000LL, 3600000, LLONG_MAX, LLONG_MIN,
	    LLONG_MIN + 1 };
	struct buf b;
	char want[32];
	size_t i;

	(void)state;
	buf_init(&b, 1024);
	for (i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
		buf_reset(&b);
		assert_int_equal(buf_add_ll(&b, values[i]), TOK_OK);
		(void)snprintf(want, sizeof(want), "%lld", values[i]);
		assert_string_equal(b.data, want);
	}
	buf_free(&b);
}

static void
check_json(const char *in, size_t len, const char *want)
{
	struct buf b;

	buf_init(&b, 1 << 16);
	assert_int_equal(json_out_string(&b, in, len), TOK_OK);
	assert_string_equal(b.data, want);
	buf_free(&b);
}

/* Expected texts are what JSON.stringify gives in node for the same
 * strings. */
static void
test_json_string_escapes_like_json_stringify(void **state)
{
	(void)state;
	check_json("", 0, "\"\"");
	check_json("plain", 5, "\"plain\"");
	check_json("a\"b\\c", 5, "\"a\\\"b\\\\c\"");
	check_json("\b\f\n\r\t", 5, "\"\\b\\f\\n\\r\\t\"");
	check_json("\x01\x1f", 2, "\"\\u0001\\u001f\"");
	check_json("nul\0in", 6, "\"nul\\u0000in\"");
	check_json("/ \x7f", 3, "\"/ \x7f\"");  /* neither escaped */
	check_json("caf\xc3\xa9 \xe2\x82\xac", 9, "\"caf\xc3\xa9 \xe2\x82\xac\"");
	check_json("{\"*\":[\"*\"]}", 11, "\"{\\\"*\\\":[\\\"*\\\"]}\"");
}

/* Whatever the bytes, json-c parses the text back to the same string. */
static void
test_json_string_round_trips_through_a_parser(void **state)
{
	static const char pool[] = "ab\"\\/\b\f\n\r\t\x01\x1f\x7f \xc3\xa9";
	unsigned seed = 12345;
	struct buf b;
	int round;

	(void)state;
	buf_init(&b, 1 << 16);
	for (round = 0; round < 2000; round++) {
		char in[64];
		size_t len = (size_t)(round % 60), i;
		struct json_object *o;

		for (i = 0; i < len; i++) {
			seed = seed * 1103515245u + 12345u;
			in[i] = pool[(seed >> 16) % (sizeof(pool) - 1)];
		}
		buf_reset(&b);
		assert_int_equal(json_out_string(&b, in, len), TOK_OK);
		o = json_tokener_parse(b.data);
		assert_non_null(o);
		assert_true(json_object_is_type(o, json_type_string));
		assert_int_equal(json_object_get_string_len(o), (int)len);
		assert_memory_equal(json_object_get_string(o), in, len);
		json_object_put(o);
	}
	buf_free(&b);
}

UNIT_MAIN("buf",
    cmocka_unit_test(test_printf_in_place_and_growing),
    cmocka_unit_test(test_printf_refused_over_max_leaves_contents),
    cmocka_unit_test(test_add_ll_matches_printf),
    cmocka_unit_test(test_json_string_escapes_like_json_stringify),
    cmocka_unit_test(test_json_string_round_trips_through_a_parser))
