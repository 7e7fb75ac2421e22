/* unit: what the unit tests share besides the fake web server: building a
 * cmocka list from tables of cases, loading a config file written from
 * text, and taking a CGI answer apart.
 */
#ifndef UNIT_H
#define UNIT_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "buf.h"
#include "config.h"
#include "error.h"

#ifndef N_ELEMENTS
#define N_ELEMENTS(a) (sizeof(a) / sizeof((a)[0]))
#endif

/* The main of a test file whose tests are a plain list:
 * UNIT_MAIN("buf", cmocka_unit_test(test_a), cmocka_unit_test(test_b)) */
#define UNIT_MAIN(group, ...) \
	int main(void) \
	{ \
		static const struct CMUnitTest unit_list_[] = { __VA_ARGS__ }; \
		return cmocka_run_group_tests_name(group, unit_list_, NULL, \
		    NULL); \
	}

/* Append one test per element of a table of cases to tests[n..] and
 * return the new count. Every case struct starts with `const char *name`,
 * the test's name; the test gets the case as its state. */
size_t unit_cases(struct CMUnitTest *tests, size_t n, const void *cases,
                  size_t count, size_t size, CMUnitTestFunction fn,
                  CMFixtureFunction setup, CMFixtureFunction teardown);
#define UNIT_CASES(tests, n, cases, fn) \
	unit_cases((tests), (n), (cases), N_ELEMENTS(cases), \
	    sizeof((cases)[0]), (fn), NULL, NULL)

/* Run group: one test per case of a table (as unit_cases) and the
 * ready-made tests fixed, the cases first unless fixed_first. Returns
 * cmocka's result, for main. */
int unit_run(const char *group, const struct CMUnitTest *fixed,
             size_t nfixed, const void *cases, size_t count, size_t size,
             CMUnitTestFunction fn, int fixed_first);
#define UNIT_RUN(group, cases, fn, fixed) \
	unit_run((group), (fixed), N_ELEMENTS(fixed), (cases), \
	    N_ELEMENTS(cases), sizeof((cases)[0]), (fn), 0)
#define UNIT_RUN_FIXED_FIRST(group, fixed, cases, fn) \
	unit_run((group), (fixed), N_ELEMENTS(fixed), (cases), \
	    N_ELEMENTS(cases), sizeof((cases)[0]), (fn), 1)

/* Append count ready-made tests to tests[n..]; returns the new count. */
size_t unit_tests(struct CMUnitTest *tests, size_t n,
                  const struct CMUnitTest *fixed, size_t count);
#define UNIT_TESTS(tests, n, fixed) \
	unit_tests((tests), (n), (fixed), N_ELEMENTS(fixed))

/* Load head then text as a config file (a new file in /tmp, removed
 * again), with no key in the environment; a refusal fails the test. The
 * caller frees *c with config_free. */
void unit_load_config(struct config *c, const char *head, const char *text);

/* Fail the test named name unless rc is want (saying e's message);
 * returns rc. */
enum tok_err unit_rc(const char *name, enum tok_err rc,
                     const struct tok_error *e, enum tok_err want);

#define UNIT_MAX_HEADERS 32

/* An answer taken apart. Names and values point into `head`. */
struct unit_answer {
	char head[4096];
	int status;
	const char *reason;   /* strict only: the status line's text */
	const char *names[UNIT_MAX_HEADERS];
	const char *values[UNIT_MAX_HEADERS];
	size_t n;
	const char *body;     /* into the buf */
	size_t body_len;
	int strict;
};

/* Split out into status, headers and body; fails the test if the head is
 * not "Name: value" CRLF lines ending in a blank line with Status first.
 * strict also fails on a bare CR or LF, a header name of other than
 * letters, digits and '-', a status without its text, and (unit_header)
 * a header given twice. */
void unit_parse_answer(const struct buf *out, struct unit_answer *a,
                       int strict);

/* The value of header name (any case), or NULL. */
const char *unit_header(const struct unit_answer *a, const char *name);

/* Header name is there with the value want. */
void unit_assert_header(const struct unit_answer *a, const char *name,
                        const char *want);

#endif /* UNIT_H */
