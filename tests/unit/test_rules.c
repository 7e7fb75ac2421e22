/* test_rules: the policy's settings on their own, without a config file:
 * rules_set_identity, rules_set (top level, groups, rules, claims), the
 * "set twice" promise, and the queries policy uses (rules_group,
 * rules_has_claims, rules_uses_template). config_load's whole-file checks
 * are test_config's.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "rules.h"
#include "unit.h"

#define SECRET "0123456789abcdef0123456789abcdef"

struct identity_case {
	const char *value;
	int want;                 /* rules_set_identity's result */
	enum id_source source;
	const char *header;       /* the parameter, or NULL */
};

static void
test_identity_sources(void **state)
{
	static const struct identity_case cases[] = {
		{ "alice", 0, ID_FIXED, NULL },
		{ "", 0, ID_FIXED, NULL },
		{ "$remote_user", 1, ID_REMOTE_USER, NULL },
		{ "$random", 1, ID_RANDOM, NULL },
		{ "$request", 1, ID_REQUEST, NULL },
		{ "$header:X-Remote-User", 1, ID_HEADER, "HTTP_X_REMOTE_USER" },
		{ "$header:x-user", 1, ID_HEADER, "HTTP_X_USER" },
		{ "$header:", -1, ID__MAX, NULL },
		{ "$header:X_User", -1, ID__MAX, NULL },
		{ "$header:X User", -1, ID__MAX, NULL },
		/* CGI passes these without HTTP_: never an identity. */
		{ "$header:Content-Type", -1, ID__MAX, NULL },
		{ "$header:content-length", -1, ID__MAX, NULL },
		{ "$remote_usr", -1, ID__MAX, NULL },
		{ "$", -1, ID__MAX, NULL },
	};
	size_t i;

	(void)state;
	for (i = 0; i < N_ELEMENTS(cases); i++) {
		struct rules r;
		char err[256] = "";
		int rc;

		memset(&r, 0, sizeof(r));
		rc = rules_set_identity(&r, cases[i].value, err, sizeof(err));
		if (rc != cases[i].want)
			fail_msg("client_id = %s: rc %d (%s), want %d",
			    cases[i].value, rc, err, cases[i].want);
		if (rc < 0) {
			assert_true(err[0] != '\0');
		} else {
			assert_int_equal(r.source, cases[i].source);
			if (cases[i].header == NULL)
				assert_null(r.header);
			else
				assert_string_equal(r.header, cases[i].header);
		}
		rules_free(&r);
	}
}

/* A later client_id replaces an earlier header source (no stale name). */
static void
test_identity_replaced(void **state)
{
	struct rules r;
	char err[256];

	(void)state;
	memset(&r, 0, sizeof(r));
	assert_int_equal(rules_set_identity(&r, "$header:X-User", err,
	    sizeof(err)), 1);
	assert_int_equal(rules_set_identity(&r, "bob", err, sizeof(err)), 0);
	assert_int_equal(r.source, ID_FIXED);
	assert_null(r.header);
	rules_free(&r);
}

/* One setting, applied to a fresh struct: accepted or refused, with what
 * the message must contain. */
struct set_case {
	const char *name, *value;
	int ok;
	const char *in_err;
};

static void
test_set_one(void **state)
{
	static const struct set_case cases[] = {
		{ "trusted_header_secret", SECRET, 1, NULL },
		{ "trusted_header_secret", "", 1, NULL },
		{ "trusted_header_secret", "short", 0, "16 to 256" },
		{ "trusted_header_secret", "0123456789abcdef\"", 0, "16 to 256" },
		{ "group_header", "X-Groups", 1, NULL },
		{ "group_header", "X Groups", 0, "header name" },
		{ "revocable_tokens", "on", 1, NULL },
		{ "revocable_tokens", "maybe", 0, "on or off" },
		{ "wildcard_client_id", "yes", 1, NULL },
		{ "wildcard_client_id", "2", 0, "on or off" },
		{ "revocation_key", "rk-{clientId}", 1, NULL },
		{ "revocation_key", "rk-{user}", 0, "placeholder" },
		{ "channel_claim.lobby", "member", 1, NULL },
		{ "channel_claim.", "member", 0, "channel name" },
		{ "channel_claim.lobby", "", 0, "claim's text" },
		{ "publish_max_rate.lobby", "10", 1, NULL },
		{ "publish_max_rate.lobby", "0.5", 1, NULL },
		{ "publish_max_rate.lobby", "0", 0, "positive number" },
		{ "publish_max_rate.lobby", "1e3", 0, "positive number" },
		{ "publish_max_rate.lobby", "-1", 0, "positive number" },
		{ "publish_max_rate.lobby", "1.", 0, "positive number" },
		{ "group.ops", "olga, oscar", 1, NULL },
		{ "group.ops", "olga,,oscar", 0, "empty item" },
		{ "group.ops", "", 0, "empty item" },
		{ "group.o ps", "olga", 0, "group names" },
		{ "rule.fans.match", "group:fans, user:bob, *", 1, NULL },
		{ "rule.fans.match", "team:fans", 0, "user:NAME" },
		{ "rule.fans.match", "group:f ans", 0, "user:NAME" },
		{ "rule.fans.capability", "{\"fans\":[\"subscribe\"]}", 1, NULL },
		{ "rule.fans.capability", "{\"fans\":[\"fly\"]}", 0,
		  "rule.fans.capability" },
		{ "rule.fans.capability", "{\"{x}\":[\"*\"]}", 0, "placeholder" },
		{ "rule.fans.ttl", "30m", 1, NULL },
		{ "rule.fans.ttl", "25h", 0, "between 1s and 24h" },
		{ "rule.fans.max_ttl", "999", 0, "between 1s and 24h" },
		{ "rule.fans.colour", "blue", 0, "unknown rule setting" },
		{ "rule.fans", "x", 0, "rule.NAME.SETTING" },
		{ "rule..match", "*", 0, "rule.NAME.SETTING" },
		{ "rule.fans.", "*", 0, "rule.NAME.SETTING" },
		{ "colour", "blue", 0, "unknown setting" },
	};
	size_t i;

	(void)state;
	for (i = 0; i < N_ELEMENTS(cases); i++) {
		struct rules r;
		char err[300] = "";
		int rc;

		memset(&r, 0, sizeof(r));
		rc = rules_set(&r, cases[i].name, cases[i].value, "f.conf:7",
		    err, sizeof(err));
		if ((rc == 0) != cases[i].ok)
			fail_msg("%s = %s: rc %d (%s)", cases[i].name,
			    cases[i].value, rc, err);
		if (!cases[i].ok && strstr(err, cases[i].in_err) == NULL)
			fail_msg("%s = %s: \"%s\" lacks \"%s\"", cases[i].name,
			    cases[i].value, err, cases[i].in_err);
		/* The secret is never quoted back. */
		if (strcmp(cases[i].name, "trusted_header_secret") == 0)
			assert_null(strstr(err, cases[i].value[0] ?
			    cases[i].value : "\x01"));
		rules_free(&r);
	}
}

/* Every setting may be given once: a second time is refused. */
static void
test_set_twice(void **state)
{
	static const struct set_case cases[] = {
		{ "trusted_header_secret", SECRET, 1, NULL },
		{ "group_header", "X-Groups", 1, NULL },
		{ "revocable_tokens", "on", 1, NULL },
		{ "wildcard_client_id", "on", 1, NULL },
		{ "revocation_key", "rk", 1, NULL },
		{ "channel_claim.lobby", "member", 1, NULL },
		{ "publish_max_rate.lobby", "1", 1, NULL },
		{ "group.ops", "olga", 1, NULL },
		{ "rule.fans.match", "*", 1, NULL },
		{ "rule.fans.capability", "{\"a\":[\"*\"]}", 1, NULL },
		{ "rule.fans.ttl", "1m", 1, NULL },
		{ "rule.fans.max_ttl", "1h", 1, NULL },
		{ "rule.fans.wildcard_client_id", "off", 1, NULL },
		{ "rule.fans.revocation_key", "rk", 1, NULL },
		{ "rule.fans.channel_claim.lobby", "m", 1, NULL },
	};
	size_t i;

	(void)state;
	for (i = 0; i < N_ELEMENTS(cases); i++) {
		struct rules r;
		char err[300] = "";

		memset(&r, 0, sizeof(r));
		assert_int_equal(rules_set(&r, cases[i].name, cases[i].value,
		    "f.conf:1", err, sizeof(err)), 0);
		assert_int_equal(rules_set(&r, cases[i].name, cases[i].value,
		    "f.conf:2", err, sizeof(err)), -1);
		if (strstr(err, "set twice") == NULL)
			fail_msg("%s twice: %s", cases[i].name, err);
		rules_free(&r);
	}
}

/* A whole set of rules, and the queries policy makes of it. */
static void
test_rules_built(void **state)
{
	static const char *const lines[][2] = {
		{ "group.ops", " olga , oscar " },
		{ "rule.ops.match", "group:ops" },
		{ "rule.ops.capability", "{\"ops\":[\"*\"]}" },
		{ "rule.users.match", "*" },
		{ "rule.users.capability", "{\"user:{clientId}\":[\"*\"]}" },
		{ "rule.ops.channel_claim.ops", "admin" },
		{ "revocation_key", "rk" },
	};
	const struct rule_group *g;
	struct rules r;
	char err[300];
	size_t i;

	(void)state;
	memset(&r, 0, sizeof(r));
	for (i = 0; i < N_ELEMENTS(lines); i++)
		if (rules_set(&r, lines[i][0], lines[i][1], "f.conf:9", err,
		    sizeof(err)) != 0)
			fail_msg("%s: %s", lines[i][0], err);
	/* Rules in the order their names first appear. */
	assert_int_equal(r.n, 2);
	assert_string_equal(r.rules[0].name, "ops");
	assert_string_equal(r.rules[1].name, "users");
	assert_string_equal(r.rules[0].where, "f.conf:9");
	assert_int_equal(r.rules[0].n_match, 1);
	assert_string_equal(r.rules[0].match[0], "group:ops");
	/* Group members trimmed. */
	g = rules_group(&r, "ops");
	assert_non_null(g);
	assert_int_equal(g->n_members, 2);
	assert_string_equal(g->members[0], "olga");
	assert_string_equal(g->members[1], "oscar");
	assert_null(rules_group(&r, "fans"));
	/* Claims and templates. */
	assert_true(rules_has_claims(&r.rules[0]));
	assert_false(rules_has_claims(&r.rules[1]));
	assert_true(rules_has_claims(&r.dflt));
	assert_false(rules_uses_template(&r.rules[0]));
	assert_true(rules_uses_template(&r.rules[1]));
	rules_free(&r);
	assert_int_equal(r.n, 0);
	assert_null(r.rules);
	rules_free(&r);  /* twice: harmless */
}

static void
test_names(void **state)
{
	(void)state;
	assert_string_equal(rules_source_name(ID_FIXED), "fixed");
	assert_string_equal(rules_source_name(ID_HEADER), "$header");
	assert_string_equal(rules_source_name(ID__MAX), "?");
	assert_true(rules_is_setting("rule.a.match"));
	assert_true(rules_is_setting("group_header"));
	assert_true(rules_is_setting("publish_max_rate.x"));
	assert_false(rules_is_setting("ttl"));
	assert_false(rules_is_setting("colour"));
}

UNIT_MAIN("rules",
    cmocka_unit_test(test_identity_sources),
    cmocka_unit_test(test_identity_replaced),
    cmocka_unit_test(test_set_one),
    cmocka_unit_test(test_set_twice),
    cmocka_unit_test(test_rules_built),
    cmocka_unit_test(test_names))
