/* test_identity: identity_resolve for every client_id source, the trusted
 * path (TRUSTED_HEADER_SECRET) for headers and REMOTE_USER, the group
 * header, anonymous ids, identity_in_group.
 *
 * Requests are built by hand: struct request is plain data holding copies
 * of every parameter identity reads, so no web server stands in front.
 * Configs come from config_load on a temp file, as the service loads them.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "identity.h"
#include "log.h"
#include "unit.h"

#define TEST_KEY "TESTAPP.ident:TEST-ONLY-not-a-real-secret-0000000000"
#define SECRET "0123456789abcdef0123456789abcdef"

static void
load_conf(struct config *c, const char *text)
{
	unit_load_config(c, "key = " TEST_KEY "\nlog_level = error\n", text);
	log_set_level(LOGL_ERROR);  /* refusals warn; keep the output quiet */
}

/* A copy of s (NULL stays NULL), for req_free to free. */
static char *
dup_or_null(const char *s)
{
	char *p = s != NULL ? strdup(s) : NULL;

	assert_true(s == NULL || p != NULL);
	return p;
}

#define CONF_FIXED "client_id = alice\n"
#define CONF_NONE "client_id =\n"
#define CONF_REMOTE "client_id = $remote_user\n"
#define CONF_REMOTE_TRUSTED "client_id = $remote_user\n" \
	"trusted_header_secret = " SECRET "\n"
#define CONF_HEADER "client_id = $header:X-Auth-User\n" \
	"trusted_header_secret = " SECRET "\ngroup_header = X-Auth-Groups\n"
#define CONF_REQUEST "client_id = $request\n"

struct resolve_case {
	const char *name;
	const char *conf;
	const char *asked;       /* clientId asked; NULL = absent */
	const char *remote_user;
	const char *header;      /* the identity header's copy */
	const char *groups;      /* the group header's copy */
	const char *secret;      /* TRUSTED_HEADER_SECRET's copy */
	enum tok_err want;
	int want_code;
	const char *want_id;     /* NULL = anonymous */
	size_t want_groups;
};

static const struct resolve_case resolve_cases[] = {
	{ "fixed", CONF_FIXED, NULL, "mallory", "mallory", NULL, NULL,
	  TOK_OK, 0, "alice", 0 },
	{ "fixed: asking changes nothing here", CONF_FIXED, "bob", NULL, NULL,
	  NULL, NULL, TOK_OK, 0, "alice", 0 },
	{ "none", CONF_NONE, NULL, NULL, NULL, NULL, NULL, TOK_OK, 0, NULL, 0 },
	{ "remote_user", CONF_REMOTE, NULL, "carol", NULL, NULL, NULL, TOK_OK,
	  0, "carol", 0 },
	{ "remote_user absent", CONF_REMOTE, NULL, NULL, NULL, NULL, NULL,
	  TOK_EAUTH, 40100, NULL, 0 },
	{ "remote_user empty", CONF_REMOTE, NULL, "", NULL, NULL, NULL,
	  TOK_EAUTH, 40100, NULL, 0 },
	{ "remote_user with a control byte", CONF_REMOTE, NULL, "car\x01ol",
	  NULL, NULL, NULL, TOK_EAUTH, 40100, NULL, 0 },
	{ "remote_user, trusted path proven", CONF_REMOTE_TRUSTED, NULL,
	  "carol", NULL, NULL, SECRET, TOK_OK, 0, "carol", 0 },
	{ "remote_user, trusted path not proven", CONF_REMOTE_TRUSTED, NULL,
	  "carol", NULL, NULL, NULL, TOK_EAUTH, 40100, NULL, 0 },
	{ "remote_user, wrong secret", CONF_REMOTE_TRUSTED, NULL, "carol",
	  NULL, NULL, SECRET "x", TOK_EAUTH, 40100, NULL, 0 },
	{ "header with secret", CONF_HEADER, NULL, NULL, "erin", NULL, SECRET,
	  TOK_OK, 0, "erin", 0 },
	{ "header without secret", CONF_HEADER, NULL, NULL, "erin", NULL,
	  NULL, TOK_EAUTH, 40100, NULL, 0 },
	{ "header, secret a prefix", CONF_HEADER, NULL, NULL, "erin", NULL,
	  "0123456789abcdef", TOK_EAUTH, 40100, NULL, 0 },
	{ "header, empty secret", CONF_HEADER, NULL, NULL, "erin", NULL, "",
	  TOK_EAUTH, 40100, NULL, 0 },
	{ "header absent, secret given", CONF_HEADER, NULL, NULL, NULL, NULL,
	  SECRET, TOK_EAUTH, 40100, NULL, 0 },
	{ "header and groups", CONF_HEADER, NULL, NULL, "erin",
	  " staff ,dev,, ops ", SECRET, TOK_OK, 0, "erin", 3 },
	{ "groups without secret", CONF_HEADER, NULL, NULL, NULL, "staff",
	  NULL, TOK_EAUTH, 40100, NULL, 0 },
	{ "request: asked", CONF_REQUEST, "dave", NULL, NULL, NULL, NULL,
	  TOK_OK, 0, "dave", 0 },
	{ "request: none asked", CONF_REQUEST, NULL, NULL, NULL, NULL, NULL,
	  TOK_OK, 0, NULL, 0 },
	{ "request: wildcard asked", CONF_REQUEST, "*", NULL, NULL, NULL, NULL,
	  TOK_OK, 0, NULL, 0 },
	{ "request: control byte", CONF_REQUEST, "d\x7f", NULL, NULL, NULL,
	  NULL, TOK_EINVAL, 40012, NULL, 0 },
};

static void
test_resolve_case(void **state)
{
	const struct resolve_case *t = *state;
	struct identity id;
	struct request r;
	struct tok_error e;
	struct config c;
	enum tok_err rc;

	load_conf(&c, t->conf);
	memset(&r, 0, sizeof(r));
	if (t->asked != NULL) {
		r.client_id.present = 1;
		r.client_id.text = dup_or_null(t->asked);
	}
	r.remote_user = dup_or_null(t->remote_user);
	r.identity_header = dup_or_null(t->header);
	r.group_header = dup_or_null(t->groups);
	r.trusted_secret = dup_or_null(t->secret);
	memset(&e, 0, sizeof(e));
	rc = unit_rc(t->name, identity_resolve(&r, &c, &id, &e), &e, t->want);
	if (rc == TOK_OK) {
		if (t->want_id == NULL)
			assert_null(id.id);
		else
			assert_string_equal(id.id, t->want_id);
		assert_int_equal(id.n_groups, t->want_groups);
	} else {
		assert_int_equal(e.code, t->want_code);
	}
	identity_free(&id);
	assert_null(id.id);
	req_free(&r);
	config_free(&c);
}

/* The group header's list: trimmed, empty items dropped, in order. */
static void
test_groups(void **state)
{
	struct identity id;
	struct request r;
	struct tok_error e;
	struct config c;

	(void)state;
	load_conf(&c, CONF_HEADER);
	memset(&r, 0, sizeof(r));
	r.identity_header = dup_or_null("erin");
	r.group_header = dup_or_null(" staff ,dev,, ops ");
	r.trusted_secret = dup_or_null(SECRET);
	assert_int_equal(identity_resolve(&r, &c, &id, &e), TOK_OK);
	assert_int_equal(id.n_groups, 3);
	assert_string_equal(id.groups[0], "staff");
	assert_string_equal(id.groups[1], "dev");
	assert_string_equal(id.groups[2], "ops");
	assert_true(identity_in_group(&c.rules, &id, "dev"));
	assert_false(identity_in_group(&c.rules, &id, "de"));
	identity_free(&id);
	req_free(&r);
	config_free(&c);
}

/* Too many groups is a refusal, not a truncation. */
static void
test_groups_too_many(void **state)
{
	char list[IDENTITY_MAX_GROUPS * 4 + 8];
	struct identity id;
	struct request r;
	struct tok_error e;
	struct config c;
	size_t i, n = 0;

	(void)state;
	for (i = 0; i <= IDENTITY_MAX_GROUPS; i++)
		n += (size_t)snprintf(list + n, sizeof(list) - n, "g%zu,", i);
	load_conf(&c, CONF_HEADER);
	memset(&r, 0, sizeof(r));
	r.identity_header = dup_or_null("erin");
	r.group_header = dup_or_null(list);
	r.trusted_secret = dup_or_null(SECRET);
	assert_int_equal(identity_resolve(&r, &c, &id, &e), TOK_EAUTH);
	identity_free(&id);
	req_free(&r);
	config_free(&c);
}

/* group.<name> lists name identities; the group header names groups. */
static void
test_in_group(void **state)
{
	struct identity id = { NULL, NULL, 0 };
	char *groups[] = { (char *)"fans" };
	struct config c;

	(void)state;
	load_conf(&c, CONF_REMOTE "group.ops = olga, oscar\n"
	    "rule.ops.match = group:ops\n"
	    "rule.ops.capability = {\"ops\":[\"*\"]}\n");
	id.id = (char *)"olga";
	assert_true(identity_in_group(&c.rules, &id, "ops"));
	id.id = (char *)"pete";
	assert_false(identity_in_group(&c.rules, &id, "ops"));
	id.id = NULL;
	assert_false(identity_in_group(&c.rules, &id, "ops"));
	id.groups = groups;
	id.n_groups = 1;
	assert_true(identity_in_group(&c.rules, &id, "fans"));
	assert_false(identity_in_group(&c.rules, &id, "nope"));
	config_free(&c);
}

/* $random: a new id each time, of the documented shape, accepted again
 * when presented, refused when forged or made with another key. */
static void
test_anonymous(void **state)
{
	char a[IDENTITY_ANON_LEN + 1], b[IDENTITY_ANON_LEN + 1];
	struct ably_key other;
	struct identity id;
	struct request r;
	struct tok_error e;
	struct config c;

	(void)state;
	load_conf(&c, "client_id = $random\n");
	assert_int_equal(identity_new_anonymous(&c.key, a), TOK_OK);
	assert_int_equal(identity_new_anonymous(&c.key, b), TOK_OK);
	assert_int_equal(strlen(a), IDENTITY_ANON_LEN);
	assert_memory_equal(a, IDENTITY_ANON_PREFIX,
	    strlen(IDENTITY_ANON_PREFIX));
	assert_string_not_equal(a, b);
	assert_true(identity_anonymous_ok(&c.key, a));
	/* One changed digit of the MAC, or of the random part. */
	memcpy(b, a, sizeof(b));
	b[IDENTITY_ANON_LEN - 1] = b[IDENTITY_ANON_LEN - 1] == '0' ? '1' : '0';
	assert_false(identity_anonymous_ok(&c.key, b));
	memcpy(b, a, sizeof(b));
	b[6] = b[6] == '0' ? '1' : '0';
	assert_false(identity_anonymous_ok(&c.key, b));
	assert_false(identity_anonymous_ok(&c.key, "anon-"));
	assert_false(identity_anonymous_ok(&c.key, "alice"));
	assert_int_equal(key_parse("OTHER.key:another-secret", &other, &e),
	    TOK_OK);
	assert_false(identity_anonymous_ok(&other, a));
	key_clear(&other);

	/* Through identity_resolve: none asked -> new; presented -> kept;
	 * forged -> 403. */
	memset(&r, 0, sizeof(r));
	assert_int_equal(identity_resolve(&r, &c, &id, &e), TOK_OK);
	assert_true(identity_anonymous_ok(&c.key, id.id));
	identity_free(&id);
	r.client_id.present = 1;
	r.client_id.text = dup_or_null(a);
	assert_int_equal(identity_resolve(&r, &c, &id, &e), TOK_OK);
	assert_string_equal(id.id, a);
	identity_free(&id);
	free(r.client_id.text);
	r.client_id.text = dup_or_null("anon-forged");
	assert_int_equal(identity_resolve(&r, &c, &id, &e), TOK_EDENIED);
	assert_int_equal(e.code, 40300);
	identity_free(&id);
	req_free(&r);
	config_free(&c);
}

int
main(void)
{
	static const struct CMUnitTest fixed[] = {
		cmocka_unit_test(test_groups),
		cmocka_unit_test(test_groups_too_many),
		cmocka_unit_test(test_in_group),
		cmocka_unit_test(test_anonymous),
	};

	return UNIT_RUN("identity", resolve_cases, test_resolve_case, fixed);
}
