/* test_setting: the shared parsers (numbers, on/off, trim, lists, the
 * error formatter) and the table of settings. Durations are covered by
 * test_config's duration table, which predates this module.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "setting.h"
#include "unit.h"


struct number_case {
	const char *text;
	long long min, max;
	int ok;
	long long want;
};

static void
test_number(void **state)
{
	static const struct number_case cases[] = {
		{ "0", 0, 10, 1, 0 },
		{ "10", 0, 10, 1, 10 },
		{ "11", 0, 10, 0, 0 },
		{ "007", 0, 10, 1, 7 },
		{ "", 0, 10, 0, 0 },
		{ "-1", 0, 10, 0, 0 },       /* no sign when min >= 0 */
		{ "-1", -5, 10, 1, -1 },
		{ "-", -5, 10, 0, 0 },
		{ "+1", 0, 10, 0, 0 },
		{ " 1", 0, 10, 0, 0 },
		{ "1 ", 0, 10, 0, 0 },
		{ "0x1", 0, 10, 0, 0 },
		{ "1e1", 0, 100, 0, 0 },
		{ "9223372036854775807", 0, LLONG_MAX, 1, LLONG_MAX },
		{ "9223372036854775808", 0, LLONG_MAX, 0, 0 },  /* overflow */
		{ "99999999999999999999999", 0, LLONG_MAX, 0, 0 },
		{ "-9223372036854775808", LLONG_MIN, LLONG_MAX, 1, LLONG_MIN },
		{ "-9223372036854775809", LLONG_MIN, LLONG_MAX, 0, 0 },
		{ "18446744073709551616", 0, LLONG_MAX, 0, 0 },  /* 2^64 */
	};
	size_t i;

	(void)state;
	for (i = 0; i < N_ELEMENTS(cases); i++) {
		long long v = 12345;
		int rc = setting_number(cases[i].text, cases[i].min,
		    cases[i].max, &v);

		if ((rc == 0) != cases[i].ok)
			fail_msg("number \"%s\" in [%lld, %lld]: rc %d",
			    cases[i].text, cases[i].min, cases[i].max, rc);
		assert_int_equal(v, cases[i].ok ? cases[i].want : 12345);
	}
}

static void
test_number_n_stops_at_n(void **state)
{
	long long v = 0;

	(void)state;
	assert_int_equal(setting_number_n("443/x", 3, 1, 65535, &v), 0);
	assert_int_equal(v, 443);
	assert_int_equal(setting_number_n("443", 0, 0, 65535, &v), -1);
}

static void
test_unumber(void **state)
{
	unsigned long long v = 7;

	(void)state;
	assert_int_equal(setting_unumber("18446744073709551615", ULLONG_MAX,
	    &v), 0);
	assert_true(v == ULLONG_MAX);
	assert_int_equal(setting_unumber("18446744073709551616", ULLONG_MAX,
	    &v), -1);
	assert_int_equal(setting_unumber("0", 0, &v), 0);
	assert_true(v == 0);
	assert_int_equal(setting_unumber("2", 1, &v), -1);
	assert_int_equal(setting_unumber("-1", ULLONG_MAX, &v), -1);
	assert_int_equal(setting_unumber(" 1", ULLONG_MAX, &v), -1);
	assert_int_equal(setting_unumber("", ULLONG_MAX, &v), -1);
}

static void
test_on_off(void **state)
{
	static const char *const on[] = { "on", "yes", "true", "1" };
	static const char *const off[] = { "off", "no", "false", "0" };
	static const char *const bad[] = { "", "ON", "y", "2", " on" };
	size_t i;
	int v;

	(void)state;
	for (i = 0; i < N_ELEMENTS(on); i++) {
		v = -1;
		assert_int_equal(setting_on_off(on[i], &v), 0);
		assert_int_equal(v, 1);
	}
	for (i = 0; i < N_ELEMENTS(off); i++) {
		v = -1;
		assert_int_equal(setting_on_off(off[i], &v), 0);
		assert_int_equal(v, 0);
	}
	for (i = 0; i < N_ELEMENTS(bad); i++)
		assert_int_equal(setting_on_off(bad[i], &v), -1);
}

static void
test_trim(void **state)
{
	char a[] = " \t name = x \t\r";
	char b[] = "\r plain";
	char c[] = "   ";

	(void)state;
	assert_string_equal(setting_trim(a), "name = x");
	/* A CR is stripped at the end only. */
	assert_string_equal(setting_trim(b), "\r plain");
	assert_string_equal(setting_trim(c), "");
}

/* Collects what setting_split passes, joined with '|'. */
struct joined {
	char text[256];
	int stop_at;  /* item number that returns 7; 0 = none */
	int count;
};

static int
join_item(const char *item, size_t n, void *ctx)
{
	struct joined *j = ctx;
	size_t len = strlen(j->text);

	(void)snprintf(j->text + len, sizeof(j->text) - len, "%s%.*s",
	    j->count ? "|" : "", (int)n, item);
	j->count++;
	return j->count == j->stop_at ? 7 : 0;
}

struct split_case {
	const char *text, *seps;
	unsigned flags;
	const char *want;
	int count;
};

static void
test_split(void **state)
{
	static const struct split_case cases[] = {
		{ "a,b,c", ",", 0, "a|b|c", 3 },
		{ " a , b\t,\tc ", ",", 0, "a|b|c", 3 },
		{ "a,,b", ",", 0, "a||b", 3 },
		{ "a,,b", ",", SETTING_SPLIT_SKIP_EMPTY, "a|b", 2 },
		{ "", ",", 0, "", 1 },
		{ "", ",", SETTING_SPLIT_SKIP_EMPTY, "", 0 },
		{ "a,", ",", 0, "a|", 2 },
		{ "a b,c", ", ", SETTING_SPLIT_SKIP_EMPTY, "a|b|c", 3 },
		{ "a\r,b\r", ",", 0, "a\r|b\r", 2 },
		{ "a\r,b\r", ",", SETTING_SPLIT_TRIM_CR, "a|b", 2 },
		{ "a\t b,\tc", ", ", SETTING_SPLIT_SKIP_EMPTY |
		  SETTING_SPLIT_NO_TRIM, "a\t|b|\tc", 3 },
	};
	size_t i;

	(void)state;
	for (i = 0; i < N_ELEMENTS(cases); i++) {
		struct joined j = { "", 0, 0 };

		assert_int_equal(setting_split(cases[i].text, cases[i].seps,
		    cases[i].flags, join_item, &j), 0);
		assert_string_equal(j.text, cases[i].want);
		assert_int_equal(j.count, cases[i].count);
	}
}

static void
test_split_stops(void **state)
{
	struct joined j = { "", 2, 0 };

	(void)state;
	assert_int_equal(setting_split("a,b,c", ",", 0, join_item, &j), 7);
	assert_string_equal(j.text, "a|b");
}

static void
test_fail(void **state)
{
	char err[32];

	(void)state;
	assert_int_equal(setting_fail(err, sizeof(err), "f.conf:3", "%s: bad",
	    "ttl"), -1);
	assert_string_equal(err, "f.conf:3: ttl: bad");
	assert_int_equal(setting_fail(err, sizeof(err), NULL, "x %d", 1), -1);
	assert_string_equal(err, "x 1");
	/* Truncated, still terminated. */
	assert_int_equal(setting_fail(err, 8, "where", "long message"), -1);
	assert_int_equal(strlen(err), 7);
}

static void
test_table(void **state)
{
	/* Names that are no setting. */
	static const char *const unknown[] = { "colour", "", "rule", "ttl " };
	size_t i;

	(void)state;
	for (i = 0; i < SET__MAX; i++) {
		const struct setting *s = &setting_table[i];
		long long n;
		int on;

		/* Indexed by id, and findable by name. */
		assert_int_equal(s->id, i);
		assert_non_null(s->name);
		if (s->name[strlen(s->name) - 1] != '.')
			assert_ptr_equal(setting_find(s->name), s);
		assert_true(s->modes != 0);
		/* A default must pass its own type's check. */
		if (s->dflt == NULL)
			continue;
		if (s->type == SETTING_NUMBER)
			assert_int_equal(setting_number(s->dflt, s->min, s->max,
			    &n), 0);
		if (s->type == SETTING_DURATION) {
			assert_int_equal(setting_duration(s->dflt, &n), 0);
			assert_true(n >= s->min && n <= s->max);
		}
		if (s->type == SETTING_ON_OFF)
			assert_int_equal(setting_on_off(s->dflt, &on), 0);
	}
	assert_ptr_equal(setting_find("rule.fans.match"),
	    &setting_table[SET_RULE]);
	assert_ptr_equal(setting_find("channel_claim.room"),
	    &setting_table[SET_CHANNEL_CLAIM]);
	for (i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++)
		assert_null(setting_find(unknown[i]));
}

UNIT_MAIN("setting",
    cmocka_unit_test(test_number),
    cmocka_unit_test(test_number_n_stops_at_n),
    cmocka_unit_test(test_unumber),
    cmocka_unit_test(test_on_off),
    cmocka_unit_test(test_trim),
    cmocka_unit_test(test_split),
    cmocka_unit_test(test_split_stops),
    cmocka_unit_test(test_fail),
    cmocka_unit_test(test_table))
