/* unit: helpers every unit test may use (tests/unit/unit.h). */
#include "unit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

size_t
unit_cases(struct CMUnitTest *tests, size_t n, const void *cases,
           size_t count, size_t size, CMUnitTestFunction fn,
           CMFixtureFunction setup, CMFixtureFunction teardown)
{
	const char *p = cases;
	size_t i;

	for (i = 0; i < count; i++, p += size) {
		struct CMUnitTest t = { *(const char *const *)(const void *)p,
		    fn, setup, teardown, (void *)(uintptr_t)p };

		tests[n++] = t;
	}
	return n;
}

size_t
unit_tests(struct CMUnitTest *tests, size_t n,
           const struct CMUnitTest *fixed, size_t count)
{
	size_t i;

	for (i = 0; i < count; i++)
		tests[n++] = fixed[i];
	return n;
}

int
unit_run(const char *group, const struct CMUnitTest *fixed, size_t nfixed,
         const void *cases, size_t count, size_t size, CMUnitTestFunction fn,
         int fixed_first)
{
	struct CMUnitTest *tests = calloc(nfixed + count, sizeof(*tests));
	size_t n = 0;
	int rc;

	assert_non_null(tests);
	if (fixed_first)
		n = unit_tests(tests, n, fixed, nfixed);
	n = unit_cases(tests, n, cases, count, size, fn, NULL, NULL);
	if (!fixed_first)
		n = unit_tests(tests, n, fixed, nfixed);
	rc = _cmocka_run_group_tests(group, tests, n, NULL, NULL);
	free(tests);
	return rc;
}

void
unit_load_config(struct config *c, const char *head, const char *text)
{
	char path[] = "/tmp/test_unit_XXXXXX", err[512] = "";
	size_t hlen = strlen(head), len = strlen(text);
	int fd;

	unsetenv("ABLY_API_KEY");
	unsetenv("VITE_ABLY_KEY");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, head, hlen), (ssize_t)hlen);
	assert_int_equal(write(fd, text, len), (ssize_t)len);
	assert_int_equal(close(fd), 0);
	if (config_load(c, path, err, sizeof(err)) != 0) {
		unlink(path);
		fail_msg("config_load: %s\n%s%s", err, head, text);
	}
	unlink(path);
}

void
unit_parse_answer(const struct buf *out, struct unit_answer *a, int strict)
{
	const char *end;
	char *line, *next;
	size_t head_len;

	memset(a, 0, sizeof(*a));
	a->strict = strict;
	assert_non_null(out->data);
	end = strstr(out->data, "\r\n\r\n");
	assert_non_null(end);
	head_len = (size_t)(end - out->data);
	assert_true(head_len < sizeof(a->head));
	memcpy(a->head, out->data, head_len);
	a->head[head_len] = '\0';
	a->body = end + 4;
	a->body_len = out->len - head_len - 4;
	/* No bare CR or LF in the head: only CRLF line ends. */
	for (line = a->head; strict && *line != '\0'; line++) {
		if (*line == '\r')
			assert_int_equal(line[1], '\n');
		if (*line == '\n')
			assert_int_equal(line[-1], '\r');
	}
	for (line = a->head; line != NULL; line = next) {
		char *colon;

		next = strstr(line, "\r\n");
		if (next != NULL) {
			*next = '\0';
			next += 2;
		}
		colon = strstr(line, ": ");
		assert_non_null(colon);
		*colon = '\0';
		if (strict)
			assert_true(strspn(line, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
			    "abcdefghijklmnopqrstuvwxyz0123456789-") ==
			    strlen(line));
		assert_true(a->n < UNIT_MAX_HEADERS);
		a->names[a->n] = line;
		a->values[a->n] = colon + 2;
		a->n++;
	}
	/* The first "header" is the CGI status. */
	assert_string_equal(a->names[0], "Status");
	a->status = atoi(a->values[0]);
	if (strict) {
		a->reason = strchr(a->values[0], ' ');
		assert_non_null(a->reason);
		a->reason++;
	}
}

const char *
unit_header(const struct unit_answer *a, const char *name)
{
	const char *found = NULL;
	size_t i;

	for (i = 1; i < a->n; i++) {
		if (strcasecmp(a->names[i], name) != 0)
			continue;
		if (!a->strict)
			return a->values[i];
		if (found != NULL)
			fail_msg("header %s given twice", name);
		found = a->values[i];
	}
	return found;
}

void
unit_assert_header(const struct unit_answer *a, const char *name,
                   const char *want)
{
	const char *v = unit_header(a, name);

	if (v == NULL)
		fail_msg("no %s header in:\n%s", name, a->head);
	assert_string_equal(v, want);
}

enum tok_err
unit_rc(const char *name, enum tok_err rc, const struct tok_error *e,
        enum tok_err want)
{
	if (rc != want)
		fail_msg("%s: rc %d (%s), want %d", name, rc, e->message, want);
	return rc;
}
