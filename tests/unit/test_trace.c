/* Unit tests: trace (the web server's request id check and W3C Trace
 * Context's traceparent parser). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "trace.h"
#include "unit.h"

#define TID "4bf92f3577b34da6a3ce929d0e0e4736"
#define PID "00f067aa0ba902b7"

/* One traceparent: valid or not, and what it is passed on as. */
struct tp_case {
	const char *name;
	const char *in;
	const char *header;  /* NULL: invalid */
};

static const struct tp_case tp_cases[] = {
	{ "the spec's example", "00-" TID "-" PID "-01",
	    "00-" TID "-" PID "-01" },
	{ "not sampled", "00-" TID "-" PID "-00", "00-" TID "-" PID "-00" },
	{ "other flags kept", "00-" TID "-" PID "-ff",
	    "00-" TID "-" PID "-ff" },
	{ "a later version: its first four fields", "cc-" TID "-" PID "-01",
	    "00-" TID "-" PID "-01" },
	{ "a later version with more fields", "01-" TID "-" PID "-01-what-"
	    "ever", "00-" TID "-" PID "-01" },
	{ "version 00 with more fields", "00-" TID "-" PID "-01-extra",
	    NULL },
	{ "a later version, more without a dash", "01-" TID "-" PID "-01x",
	    NULL },
	{ "version ff", "ff-" TID "-" PID "-01", NULL },
	{ "uppercase hex in the trace id",
	    "00-4BF92F3577B34DA6A3CE929D0E0E4736-" PID "-01", NULL },
	{ "uppercase version", "0A-" TID "-" PID "-01", NULL },
	{ "uppercase flags", "00-" TID "-" PID "-0A", NULL },
	{ "all-zero trace id",
	    "00-00000000000000000000000000000000-" PID "-01", NULL },
	{ "all-zero parent id", "00-" TID "-0000000000000000-01", NULL },
	{ "trace id too short", "00-4bf92f3577b34da6a3ce929d0e0e473-" PID
	    "-01", NULL },
	{ "parent id too long", "00-" TID "-" PID "0-01", NULL },
	{ "flags cut", "00-" TID "-" PID "-1", NULL },
	{ "no flags", "00-" TID "-" PID, NULL },
	{ "a non-hex digit", "00-" TID "-00f067aa0ba902bg-01", NULL },
	{ "underscores for dashes", "00_" TID "_" PID "_01", NULL },
	{ "spaces around", " 00-" TID "-" PID "-01", NULL },
	{ "a trailing space", "00-" TID "-" PID "-01 ", NULL },
	{ "empty", "", NULL },
	{ "two joined by a comma", "00-" TID "-" PID "-01,00-" TID "-" PID
	    "-01", NULL },
};

static void
test_traceparent(void **state)
{
	const struct tp_case *c = *state;
	struct traceparent tp;

	if (c->header == NULL) {
		assert_int_equal(trace_parse_traceparent(c->in, &tp), -1);
		assert_string_equal(tp.header, "");  /* emptied */
		return;
	}
	assert_int_equal(trace_parse_traceparent(c->in, &tp), 0);
	assert_string_equal(tp.header, c->header);
	assert_string_equal(tp.trace_id, TID);
	assert_string_equal(tp.parent_id, PID);
	assert_int_equal(strlen(tp.flags), 2);
}

static void
test_traceparent_null(void **state)
{
	struct traceparent tp;

	(void)state;
	assert_int_equal(trace_parse_traceparent(NULL, &tp), -1);
}

static void
test_request_id(void **state)
{
	static const struct {
		const char *s;
		int ok;
	} cases[] = {
		{ "0c4bd9c62d5f3a0e7b1f6a8d2e9c4b17", 1 },  /* nginx */
		{ "Z2x1Y2tAbG9jYWxob3N0AAAAAQ", 1 },        /* Apache */
		{ "f47ac10b-58cc-4372-a567-0e02b2c3d479", 1 },
		{ "a@b:c/d=e+f_g.h~!", 1 },
		{ "x", 1 },
		{ "1234567890123456789012345678901234567890123456789012345678901234",
		    1 },  /* 64 */
		{ "12345678901234567890123456789012345678901234567890123456789012345",
		    0 },  /* 65 */
		{ "", 0 },
		{ NULL, 0 },
		{ "with space", 0 },
		{ "tab\there", 0 },
		{ "new\nline", 0 },
		{ "del\x7f", 0 },
		{ "caf\xc3\xa9", 0 },
	};
	size_t i;

	(void)state;
	for (i = 0; i < N_ELEMENTS(cases); i++)
		assert_int_equal(trace_request_id_ok(cases[i].s), cases[i].ok);
}

int
main(void)
{
	static const struct CMUnitTest fixed[] = {
		cmocka_unit_test(test_traceparent_null),
		cmocka_unit_test(test_request_id),
	};

	return UNIT_RUN("trace", tp_cases, test_traceparent, fixed);
}
