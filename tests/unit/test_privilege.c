/* Unit tests: privilege (NAME[:GROUP] parsed, looked up; the switch itself
 * changes the process and is tested from outside, in
 * tests/integration/privilege.test.mjs) and key_file (a key file's content
 * and mode, and the whole load). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "key_file.h"
#include "privilege.h"
#include "unit.h"

#define TEST_KEY "TESTAPP.fulltest:TEST-ONLY-not-a-real-secret-0000000000"
#define KEY_LEN ((long)sizeof(TEST_KEY) - 1)

static void
test_parse_accepts_name_and_group(void **state)
{
	struct privilege_account a;
	char err[200];

	(void)state;
	assert_int_equal(privilege_parse("ably-token", &a, err, sizeof(err)), 0);
	assert_string_equal(a.user, "ably-token");
	assert_string_equal(a.group, "");
	assert_int_equal(privilege_parse("ably-token:www-data", &a, err,
	    sizeof(err)), 0);
	assert_string_equal(a.user, "ably-token");
	assert_string_equal(a.group, "www-data");
	assert_int_equal(privilege_parse("host$:_grp.1", &a, err, sizeof(err)),
	    0);
	assert_string_equal(a.user, "host$");
	assert_string_equal(a.group, "_grp.1");
}

static void
test_parse_refuses_bad_specs(void **state)
{
	static const char *const bad[] = {
		"", ":", ":www-data", "ably-token:", "a:b:c", "a b", "a\tb",
		"-rf", "a:-g", "$", "a$b", "../etc", "a/b", "ünïcode",
		"a\nb",
		/* 65 bytes */
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
	};
	struct privilege_account a;
	char err[200];
	size_t i;

	(void)state;
	for (i = 0; i < N_ELEMENTS(bad); i++) {
		err[0] = '\0';
		if (privilege_parse(bad[i], &a, err, sizeof(err)) != -1)
			fail_msg("accepted '%s'", bad[i]);
		assert_non_null(strstr(err, "NAME:GROUP"));
	}
}

static void
test_lookup_names_what_is_unknown(void **state)
{
	struct privilege_account a;
	char err[200];

	(void)state;
	assert_int_equal(privilege_lookup("root", &a, err, sizeof(err)), 0);
	assert_int_equal(a.uid, 0);
	assert_int_equal(a.gid, 0);
	assert_int_equal(privilege_lookup("root:daemon", &a, err, sizeof(err)),
	    0);
	assert_int_not_equal(a.gid, 0);
	assert_int_equal(privilege_lookup("no-such-user-4f1c", &a, err,
	    sizeof(err)), -1);
	assert_string_equal(err, "user no-such-user-4f1c: no such user");
	assert_int_equal(privilege_lookup("root:no-such-group-4f1c", &a, err,
	    sizeof(err)), -1);
	assert_string_equal(err, "group no-such-group-4f1c: no such group");
}

/* The switch refuses uid 0 before touching anything. */
static void
test_drop_refuses_root_as_target(void **state)
{
	struct privilege_account a;
	char err[200];

	(void)state;
	assert_int_equal(privilege_lookup("root", &a, err, sizeof(err)), 0);
	assert_int_equal(privilege_drop(&a, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "uid 0"));
}

struct content_case {
	const char *name;
	const char *data;
	long want;          /* the key's length, or -1 */
	const char *says;   /* in the message when refused */
};

static const struct content_case content_cases[] = {
	{ "bare key", TEST_KEY, KEY_LEN, NULL },
	{ "trailing LF", TEST_KEY "\n", KEY_LEN, NULL },
	{ "trailing CRLF", TEST_KEY "\r\n", KEY_LEN, NULL },
	{ "empty", "", -1, "is empty" },
	{ "only a line end", "\n", -1, "is empty" },
	{ "two line ends", TEST_KEY "\n\n", -1, "more than one line" },
	{ "a second key", TEST_KEY "\nAPP.other:secret\n", -1,
	    "more than one line" },
	{ "a comment after", TEST_KEY "\n# the key\n", -1,
	    "more than one line" },
	{ "environment file", "ABLY_API_KEY=" TEST_KEY "\n", -1,
	    "NAME=VALUE" },
};

static void
test_content(void **state)
{
	const struct content_case *c = *state;
	char err[200] = "";
	long n = key_file_text(c->data, strlen(c->data), err, sizeof(err));

	if (n != c->want)
		fail_msg("%s: %ld, want %ld (%s)", c->name, n, c->want, err);
	if (c->says != NULL && strstr(err, c->says) == NULL)
		fail_msg("%s: message '%s' lacks '%s'", c->name, err, c->says);
	/* A message never quotes the file. */
	assert_null(strstr(err, "TEST-ONLY"));
}

static void
test_access_by_mode(void **state)
{
	char err[300];

	(void)state;
	/* /tmp is sticky, so only the file's own mode counts. */
	assert_int_equal(key_file_check_access("/tmp/k", S_IFREG | 0600, 0, err,
	    sizeof(err)), 0);
	assert_int_equal(key_file_check_access("/tmp/k", S_IFREG | 0400, 0, err,
	    sizeof(err)), 0);
	assert_int_equal(key_file_check_access("/tmp/k", S_IFREG | 0640, 0, err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "readable by its group"));
	assert_int_equal(key_file_check_access("/tmp/k", S_IFREG | 0604, 0, err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "readable by every user"));
	assert_int_equal(key_file_check_access("/tmp/k", S_IFREG | 0620, 0, err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "writable by its group"));
	/* --allow-insecure-config: a warning, not a refusal. */
	assert_int_equal(key_file_check_access("/tmp/k", S_IFREG | 0644, 1, err,
	    sizeof(err)), 0);
}

/* Write data to a new file of mode in /tmp; its path into path. */
static void
write_file(char path[32], const char *data, mode_t mode)
{
	int fd;

	(void)snprintf(path, 32, "/tmp/test_keyfile_XXXXXX");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, strlen(data)), (ssize_t)strlen(data));
	assert_int_equal(fchmod(fd, mode), 0);
	assert_int_equal(close(fd), 0);
}

static void
test_load(void **state)
{
	struct ably_key k;
	char path[32], err[600];

	(void)state;
	write_file(path, TEST_KEY "\n", 0600);
	assert_int_equal(key_file_load(path, 0, &k, err, sizeof(err)), 0);
	assert_string_equal(k.name, "TESTAPP.fulltest");
	assert_int_equal(k.secret_len, strlen(TEST_KEY) - 17);
	key_clear(&k);
	assert_int_equal(chmod(path, 0644), 0);
	assert_int_equal(key_file_load(path, 0, &k, err, sizeof(err)), -1);
	assert_false(key_loaded(&k));
	unlink(path);
	/* A key_parse refusal names the file, never quotes the key. */
	write_file(path, "appId-without-a-dot:secret", 0600);
	assert_int_equal(key_file_load(path, 0, &k, err, sizeof(err)), -1);
	assert_non_null(strstr(err, path));
	assert_non_null(strstr(err, "no '.'"));
	assert_null(strstr(err, "secret\n"));
	unlink(path);
	/* Read errors carry the errno. */
	assert_int_equal(key_file_load(path, 0, &k, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "No such file or directory"));
	assert_non_null(strstr(err, "key_file"));
	assert_int_equal(key_file_load("relative/key", 0, &k, err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "absolute"));
}

int
main(void)
{
	static const struct CMUnitTest fixed[] = {
		cmocka_unit_test(test_parse_accepts_name_and_group),
		cmocka_unit_test(test_parse_refuses_bad_specs),
		cmocka_unit_test(test_lookup_names_what_is_unknown),
		cmocka_unit_test(test_drop_refuses_root_as_target),
		cmocka_unit_test(test_access_by_mode),
		cmocka_unit_test(test_load),
	};

	return UNIT_RUN("privilege", content_cases, test_content, fixed);
}
