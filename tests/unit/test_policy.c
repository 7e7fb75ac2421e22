/* test_policy: policy_decide and policy_parse_ttl.
 *
 * The first table's config comes from config_load(NULL) (built-in
 * defaults) with the identity and capability then set by hand, so each row
 * states exactly what the endpoint grants and what the caller asked for.
 * The second table loads config files as a user writes them (identity
 * sources, groups, rules, templates) and hands the request's web server
 * parameters over a fake source.
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

#include "capability.h"
#include "config.h"
#include "fake_source.h"
#include "policy.h"
#include "request.h"
#include "unit.h"


/* What the test endpoint grants (already canonical). */
#define ALLOWED "{\"chat:*\":[\"presence\",\"publish\",\"subscribe\"]," \
	"\"status\":[\"subscribe\"]}"

/* Replace the config's capability with text (must parse strictly). */
static void
set_capability(struct config *c, const char *text)
{
	struct capability *cap = NULL;
	struct tok_error e;

	assert_int_equal(cap_parse(text, strlen(text), CAP_STRICT, &cap, &e),
	    TOK_OK);
	cap_free(c->capability);
	free(c->capability_text);
	c->capability = cap;
	c->capability_text = cap_to_string(cap);
	assert_non_null(c->capability_text);
}

static void
set_client_id(struct config *c, const char *id)
{
	free(c->client_id);
	c->client_id = id ? strdup(id) : NULL;
	if (id != NULL)
		assert_non_null(c->client_id);
}

/* The test config: identity "alice", capability ALLOWED, default ttls. */
static void
load_config(struct config *c, int anonymous)
{
	char err[256] = "";

	unsetenv("ABLY_API_KEY");
	unsetenv("VITE_ABLY_KEY");
	if (config_load(c, NULL, err, sizeof(err)) != 0)
		fail_msg("config_load: %s", err);
	set_client_id(c, anonymous ? NULL : "alice");
	set_capability(c, ALLOWED);
	assert_string_equal(c->capability_text, ALLOWED);
}

/* A request that asked for exactly these TokenParams (NULL = absent). */
static void
make_request(struct request *r, const char *client_id, const char *cap,
             const char *ttl)
{
	memset(r, 0, sizeof(*r));
	r->method = REQ_GET;
	if (client_id != NULL) {
		r->client_id.present = 1;
		r->client_id.text = strdup(client_id);
		assert_non_null(r->client_id.text);
	}
	if (cap != NULL) {
		r->capability.present = 1;
		r->capability.text = strdup(cap);
		assert_non_null(r->capability.text);
	}
	if (ttl != NULL) {
		r->ttl.present = 1;
		r->ttl.text = strdup(ttl);
		assert_non_null(r->ttl.text);
	}
}

/* ------------------------------------------------------------------ */

struct decide_case {
	const char *name;
	int anonymous;            /* config grants anonymous tokens */
	long long max_ttl;        /* 0 = config default (24 h) */
	const char *client_id;    /* asked; NULL = absent */
	const char *capability;
	const char *ttl;
	enum tok_err want;
	int want_code;            /* tok_ably_code() on failure */
	const char *want_client;  /* on success; NULL = anonymous */
	const char *want_cap;     /* on success */
	long long want_ttl;       /* on success */
};

static const struct decide_case decide_cases[] = {
	/* defaults */
	{ "nothing asked: defaults", 0, 0, NULL, NULL, NULL, TOK_OK, 0,
	  "alice", ALLOWED, 3600000 },
	{ "anonymous config: no clientId", 1, 0, NULL, NULL, NULL, TOK_OK, 0,
	  NULL, ALLOWED, 3600000 },

	/* clientId */
	{ "same clientId", 0, 0, "alice", NULL, NULL, TOK_OK, 0, "alice",
	  ALLOWED, 3600000 },
	{ "foreign clientId", 0, 0, "mallory", NULL, NULL, TOK_EDENIED, 40300,
	  NULL, NULL, 0 },
	{ "clientId differing in case", 0, 0, "Alice", NULL, NULL, TOK_EDENIED,
	  40300, NULL, NULL, 0 },
	{ "clientId prefix", 0, 0, "alic", NULL, NULL, TOK_EDENIED, 40300,
	  NULL, NULL, 0 },
	{ "clientId longer", 0, 0, "alice2", NULL, NULL, TOK_EDENIED, 40300,
	  NULL, NULL, 0 },
	{ "clientId wildcard", 0, 0, "*", NULL, NULL, TOK_EDENIED, 40300,
	  NULL, NULL, 0 },
	{ "empty clientId", 0, 0, "", NULL, NULL, TOK_EINVAL, 40012, NULL,
	  NULL, 0 },
	{ "clientId with a control byte", 0, 0, "ali\x01" "ce", NULL, NULL,
	  TOK_EINVAL, 40012, NULL, NULL, 0 },
	{ "clientId not UTF-8", 0, 0, "ali\xff", NULL, NULL, TOK_EINVAL, 40012,
	  NULL, NULL, 0 },
	{ "anonymous config + clientId", 1, 0, "alice", NULL, NULL,
	  TOK_EDENIED, 40300, NULL, NULL, 0 },
	{ "anonymous config + empty clientId", 1, 0, "", NULL, NULL,
	  TOK_EINVAL, 40012, NULL, NULL, 0 },

	/* capability */
	{ "capability narrower", 0, 0, NULL, "{\"status\":[\"subscribe\"]}",
	  NULL, TOK_OK, 0, "alice", "{\"status\":[\"subscribe\"]}", 3600000 },
	{ "capability narrower, made canonical", 0, 0, NULL,
	  "{ \"status\" : [\"subscribe\"],\n \"chat:lobby\": [\"subscribe\", "
	  "\"publish\"] }", NULL, TOK_OK, 0, "alice",
	  "{\"chat:lobby\":[\"publish\",\"subscribe\"],"
	  "\"status\":[\"subscribe\"]}", 3600000 },
	{ "capability under a trailing wildcard", 0, 0, NULL,
	  "{\"chat:a:b\":[\"presence\"]}", NULL, TOK_OK, 0, "alice",
	  "{\"chat:a:b\":[\"presence\"]}", 3600000 },
	{ "capability equal to the grant", 0, 0, NULL, ALLOWED, NULL, TOK_OK,
	  0, "alice", ALLOWED, 3600000 },
	{ "capability empty string = default", 0, 0, NULL, "", NULL, TOK_OK, 0,
	  "alice", ALLOWED, 3600000 },
	/* wider than allowed: intersected, never refused or widened */
	{ "capability wider resource", 0, 0, NULL, "{\"*\":[\"subscribe\"]}",
	  NULL, TOK_OK, 0, "alice", "{\"chat:*\":[\"subscribe\"],"
	  "\"status\":[\"subscribe\"]}", 3600000 },
	{ "capability other channel", 0, 0, NULL,
	  "{\"news\":[\"subscribe\"]}", NULL, TOK_EDENIED, 40160, NULL, NULL,
	  0 },
	{ "capability wider operation", 0, 0, NULL,
	  "{\"status\":[\"publish\"]}", NULL, TOK_EDENIED, 40160, NULL, NULL,
	  0 },
	{ "capability all operations", 0, 0, NULL, "{\"status\":[\"*\"]}",
	  NULL, TOK_OK, 0, "alice", "{\"status\":[\"subscribe\"]}", 3600000 },
	{ "capability partly wider", 0, 0, NULL,
	  "{\"status\":[\"subscribe\"],\"chat:x\":[\"history\"]}", NULL,
	  TOK_OK, 0, "alice", "{\"status\":[\"subscribe\"]}", 3600000 },
	{ "capability partly wider operations", 0, 0, NULL,
	  "{\"chat:room1\":[\"publish\",\"history\"]}", NULL, TOK_OK, 0,
	  "alice", "{\"chat:room1\":[\"publish\"]}", 3600000 },
	{ "capability pattern overlapping the grant", 0, 0, NULL,
	  "{\"chat:*:x\":[\"*\"],\"*:lobby\":[\"presence\"]}", NULL,
	  TOK_OK, 0, "alice", "{\"chat:*:x\":[\"presence\",\"publish\","
	  "\"subscribe\"],\"chat:lobby\":[\"presence\"]}", 3600000 },
	{ "capability only a queue", 0, 0, NULL,
	  "{\"[queue]status\":[\"subscribe\"]}", NULL, TOK_EDENIED, 40160,
	  NULL, NULL, 0 },
	{ "capability everything qualified", 0, 0, NULL,
	  "{\"[*]*\":[\"subscribe\"]}", NULL, TOK_OK, 0, "alice",
	  "{\"chat:*\":[\"subscribe\"],\"status\":[\"subscribe\"]}",
	  3600000 },
	{ "capability unknown operation", 0, 0, NULL, "{\"status\":[\"fly\"]}",
	  NULL, TOK_EINVAL, 40000, NULL, NULL, 0 },
	{ "capability invalid JSON", 0, 0, NULL, "{\"status\":", NULL,
	  TOK_EINVAL, 40000, NULL, NULL, 0 },
	{ "capability not an object", 0, 0, NULL, "[\"status\"]", NULL,
	  TOK_EINVAL, 40000, NULL, NULL, 0 },
	{ "capability empty object", 0, 0, NULL, "{}", NULL, TOK_EINVAL, 40000,
	  NULL, NULL, 0 },
	{ "capability empty operation list", 0, 0, NULL, "{\"status\":[]}",
	  NULL, TOK_EINVAL, 40000, NULL, NULL, 0 },
	{ "capability operations not a list", 0, 0, NULL,
	  "{\"status\":\"subscribe\"}", NULL, TOK_EINVAL, 40000, NULL, NULL,
	  0 },

	/* ttl */
	{ "ttl 60000", 0, 0, NULL, NULL, "60000", TOK_OK, 0, "alice", ALLOWED,
	  60000 },
	{ "ttl exactly 1000", 0, 0, NULL, NULL, "1000", TOK_OK, 0, "alice",
	  ALLOWED, 1000 },
	{ "ttl exactly max_ttl (24h)", 0, 0, NULL, NULL, "86400000", TOK_OK, 0,
	  "alice", ALLOWED, 86400000 },
	{ "ttl exactly a smaller max_ttl", 0, 60000, NULL, NULL, "60000",
	  TOK_OK, 0, "alice", ALLOWED, 60000 },
	{ "ttl abc", 0, 0, NULL, NULL, "abc", TOK_EINVAL, 40003, NULL, NULL,
	  0 },
	{ "ttl -5", 0, 0, NULL, NULL, "-5", TOK_EINVAL, 40003, NULL, NULL, 0 },
	{ "ttl 0", 0, 0, NULL, NULL, "0", TOK_EINVAL, 40003, NULL, NULL, 0 },
	{ "ttl 999", 0, 0, NULL, NULL, "999", TOK_EINVAL, 40003, NULL, NULL,
	  0 },
	{ "ttl 1.5", 0, 0, NULL, NULL, "1.5", TOK_EINVAL, 40003, NULL, NULL,
	  0 },
	{ "ttl with a leading space", 0, 0, NULL, NULL, " 1000", TOK_EINVAL,
	  40003, NULL, NULL, 0 },
	{ "ttl empty", 0, 0, NULL, NULL, "", TOK_EINVAL, 40003, NULL, NULL, 0 },
	{ "ttl over max_ttl (24h)", 0, 0, NULL, NULL, "86400001", TOK_EINVAL,
	  40003, NULL, NULL, 0 },
	{ "ttl over a smaller max_ttl", 0, 60000, NULL, NULL, "60001",
	  TOK_EINVAL, 40003, NULL, NULL, 0 },
	{ "bad ttl with a good clientId", 0, 0, "alice", NULL, "0", TOK_EINVAL,
	  40003, NULL, NULL, 0 },

	/* all together */
	{ "everything asked and allowed", 0, 0, "alice",
	  "{\"chat:room\":[\"subscribe\"]}", "5000", TOK_OK, 0, "alice",
	  "{\"chat:room\":[\"subscribe\"]}", 5000 },
	{ "good ttl and clientId, wide capability", 0, 0, "alice",
	  "{\"*\":[\"*\"]}", "5000", TOK_OK, 0, "alice", ALLOWED, 5000 },
	{ "good ttl and clientId, disjoint capability", 0, 0, "alice",
	  "{\"news:*\":[\"*\"]}", "5000", TOK_EDENIED, 40160, NULL, NULL,
	  0 },
};

static void
test_decide_case(void **state)
{
	const struct decide_case *t = *state;
	struct config c;
	struct request r;
	struct decision d;
	struct tok_error e;
	enum tok_err rc;

	load_config(&c, t->anonymous);
	if (t->max_ttl != 0)
		c.max_ttl = t->max_ttl;
	make_request(&r, t->client_id, t->capability, t->ttl);
	memset(&e, 0, sizeof(e));
	rc = unit_rc(t->name, policy_decide(&r, &c, &d, &e), &e, t->want);
	if (rc == TOK_OK) {
		if (t->want_client == NULL) {
			assert_null(d.client_id);
		} else {
			assert_non_null(d.client_id);
			assert_string_equal(d.client_id, t->want_client);
			/* The decision owns its own copy. */
			assert_ptr_not_equal(d.client_id, c.client_id);
		}
		assert_non_null(d.capability);
		assert_string_equal(d.capability, t->want_cap);
		assert_ptr_not_equal(d.capability, c.capability_text);
		assert_int_equal(d.ttl, t->want_ttl);
	} else {
		assert_int_equal(e.kind, rc);
		assert_int_equal(tok_ably_code(&e), t->want_code);
		assert_true(e.message[0] != '\0');
		/* A failed decision holds nothing. */
		assert_null(d.client_id);
		assert_null(d.capability);
	}
	policy_decision_free(&d);
	assert_null(d.client_id);
	assert_null(d.capability);
	req_free(&r);
	config_free(&c);
}

/* ------------------------------------------------------------------ */

struct ttl_case {
	const char *text;
	long long max_ttl;
	int ok;
	long long want;
};

static void
test_parse_ttl(void **state)
{
	static const struct ttl_case cases[] = {
		{ "1000", CONFIG_MAX_TTL_MS, 1, 1000 },
		{ "1001", CONFIG_MAX_TTL_MS, 1, 1001 },
		{ "3600000", CONFIG_MAX_TTL_MS, 1, 3600000 },
		{ "86400000", CONFIG_MAX_TTL_MS, 1, 86400000 },
		{ "60000", 60000, 1, 60000 },
		{ "86400001", CONFIG_MAX_TTL_MS, 0, 0 },
		{ "60001", 60000, 0, 0 },
		{ "abc", CONFIG_MAX_TTL_MS, 0, 0 },
		{ "-5", CONFIG_MAX_TTL_MS, 0, 0 },
		{ "0", CONFIG_MAX_TTL_MS, 0, 0 },
		{ "999", CONFIG_MAX_TTL_MS, 0, 0 },
		{ "1.5", CONFIG_MAX_TTL_MS, 0, 0 },
		{ "1000.0", CONFIG_MAX_TTL_MS, 0, 0 },
		{ " 1000", CONFIG_MAX_TTL_MS, 0, 0 },
		{ "1000 ", CONFIG_MAX_TTL_MS, 0, 0 },
		{ "+1000", CONFIG_MAX_TTL_MS, 0, 0 },
		{ "1e3", CONFIG_MAX_TTL_MS, 0, 0 },
		{ "1e6", CONFIG_MAX_TTL_MS, 0, 0 },
		{ "0x3e8", CONFIG_MAX_TTL_MS, 0, 0 },
		{ "1000ms", CONFIG_MAX_TTL_MS, 0, 0 },
		{ "1h", CONFIG_MAX_TTL_MS, 0, 0 },
		{ "", CONFIG_MAX_TTL_MS, 0, 0 },
		/* Huge values: refused, not wrapped around into range. */
		{ "10000000000000000", CONFIG_MAX_TTL_MS, 0, 0 },
		{ "18446744073709555616", CONFIG_MAX_TTL_MS, 0, 0 },
		{ "9223372036854775807", CONFIG_MAX_TTL_MS, 0, 0 },
		{ "18446744073709551617000", CONFIG_MAX_TTL_MS, 0, 0 },
	};
	size_t i;

	(void)state;
	for (i = 0; i < N_ELEMENTS(cases); i++) {
		struct tok_error e;
		long long ttl = -1;
		enum tok_err rc;

		memset(&e, 0, sizeof(e));
		rc = policy_parse_ttl(cases[i].text, cases[i].max_ttl, &ttl, &e);
		if ((rc == TOK_OK) != cases[i].ok)
			fail_msg("ttl \"%s\" (max %lld): rc %d, want %s",
			    cases[i].text, cases[i].max_ttl, rc,
			    cases[i].ok ? "ok" : "TOK_EINVAL");
		if (cases[i].ok) {
			assert_int_equal(ttl, cases[i].want);
		} else {
			assert_int_equal(rc, TOK_EINVAL);
			assert_int_equal(e.code, 40003);
			assert_int_equal(tok_http_status(e.kind), 400);
			assert_int_equal(ttl, -1);  /* untouched */
		}
	}
}

static void
test_parse_ttl_message_names_bounds(void **state)
{
	struct tok_error e;
	long long ttl;

	(void)state;
	assert_int_equal(policy_parse_ttl("5", 60000, &ttl, &e), TOK_EINVAL);
	assert_non_null(strstr(e.message, "1000"));
	assert_non_null(strstr(e.message, "60000"));
	/* A NULL tok_error is allowed. */
	assert_int_equal(policy_parse_ttl("5", 60000, &ttl, NULL), TOK_EINVAL);
}

/* The canonical capability text does not depend on how it was asked. */
static void
test_capability_spellings_agree(void **state)
{
	static const char *const spellings[] = {
		"{\"chat:x\":[\"subscribe\",\"publish\"],\"status\":"
		"[\"subscribe\"]}",
		"{\"status\":[\"subscribe\"],\"chat:x\":[\"publish\","
		"\"subscribe\"]}",
		" {\t\"status\" : [ \"subscribe\" ] , \"chat:x\" : "
		"[ \"subscribe\" , \"publish\" ] } ",
	};
	struct config c;
	size_t i;

	(void)state;
	load_config(&c, 0);
	for (i = 0; i < N_ELEMENTS(spellings); i++) {
		struct request r;
		struct decision d;
		struct tok_error e;

		make_request(&r, NULL, spellings[i], NULL);
		assert_int_equal(policy_decide(&r, &c, &d, &e), TOK_OK);
		assert_string_equal(d.capability, "{\"chat:x\":[\"publish\","
		    "\"subscribe\"],\"status\":[\"subscribe\"]}");
		policy_decision_free(&d);
		req_free(&r);
	}
	config_free(&c);
}

/* The config's default is what is granted, whatever it is. */
static void
test_default_follows_config(void **state)
{
	struct config c;
	struct request r;
	struct decision d;
	struct tok_error e;

	(void)state;
	load_config(&c, 0);
	set_client_id(&c, "svc-42");
	set_capability(&c, "{\"b\":[\"subscribe\"],\"a\":[\"history\"]}");
	c.ttl = 120000;
	make_request(&r, NULL, NULL, NULL);
	assert_int_equal(policy_decide(&r, &c, &d, &e), TOK_OK);
	assert_string_equal(d.client_id, "svc-42");
	assert_string_equal(d.capability,
	    "{\"a\":[\"history\"],\"b\":[\"subscribe\"]}");
	assert_int_equal(d.ttl, 120000);
	policy_decision_free(&d);
	/* decision_free on a freed (zeroed) decision is harmless. */
	policy_decision_free(&d);
	req_free(&r);
	config_free(&c);
}

/* ------------------------------------------------------------------ */
/* Identity sources, rules, templates: configs as a user writes them. */

#define TEST_KEY "xVLyHw.A1b2Cq:Jw0xqsCIBjTJP0uLqGsYz3f7e5dN5PLV"
#define SECRET "0123456789abcdef0123"

/* $remote_user: admins by a static group, everyone else a private channel. */
#define CONF_USERS \
	"client_id = $remote_user\n" \
	"capability = {\"public\":[\"subscribe\"]}\n" \
	"group.admins = carol, dave\n" \
	"rule.admins.match = group:admins\n" \
	"rule.admins.capability = {\"*\":[\"*\"],\"[meta]*\":[\"subscribe\"]}\n" \
	"rule.admins.wildcard_client_id = on\n" \
	"rule.admins.max_ttl = 2h\n" \
	"rule.users.match = *\n" \
	"rule.users.capability = {\"private:{clientId}\":[\"*\"]," \
	"\"chat:*\":[\"publish\",\"subscribe\"],\"public\":[\"subscribe\"]}\n" \
	"rule.users.ttl = 10m\n" \
	"rule.users.max_ttl = 1h\n"

#define USERS_CAP(id) "{\"chat:*\":[\"publish\",\"subscribe\"]," \
	"\"private:" id "\":[\"*\"],\"public\":[\"subscribe\"]}"

/* $header: a trusted proxy's user and group headers. */
#define CONF_HEADER \
	"client_id = $header:X-Auth-User\n" \
	"group_header = X-Auth-Groups\n" \
	"trusted_header_secret = " SECRET "\n" \
	"capability = {\"public\":[\"subscribe\"]}\n" \
	"rule.staff.match = group:staff\n" \
	"rule.staff.capability = {\"staff:*\":[\"*\"]}\n" \
	"rule.users.match = *\n" \
	"rule.users.capability = {\"private:{clientId}\":[\"*\"]}\n"

#define CONF_REQUEST \
	"client_id = $request\n" \
	"capability = {\"private:{clientId}\":[\"*\"],\"public\":[\"subscribe\"]}\n" \
	"rule.admin.match = user:admin\n" \
	"rule.admin.capability = {\"*\":[\"*\"]}\n"

#define CONF_ANON_WILDCARD \
	"client_id =\n" \
	"capability = {\"public\":[\"subscribe\"]}\n" \
	"wildcard_client_id = on\n"

/* First matching rule wins, in the order the rules first appear. */
#define CONF_ORDER_GROUP_FIRST \
	"client_id = $remote_user\n" \
	"group.ops = olga\n" \
	"rule.ops.match = group:ops\n" \
	"rule.ops.capability = {\"ops\":[\"*\"]}\n" \
	"rule.all.match = *\n" \
	"rule.all.capability = {\"all\":[\"subscribe\"]}\n"
#define CONF_ORDER_ALL_FIRST \
	"client_id = $remote_user\n" \
	"group.ops = olga\n" \
	"rule.all.match = *\n" \
	"rule.all.capability = {\"all\":[\"subscribe\"]}\n" \
	"rule.ops.match = group:ops, user:root\n" \
	"rule.ops.capability = {\"ops\":[\"*\"]}\n"

#define LONG_NAME \
	"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx" \
	"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx" \
	"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx" \
	"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"

/* Load a config file with this text (and the test key). */
static void
load_conf(struct config *c, const char *text)
{
	unit_load_config(c, "key = " TEST_KEY "\n", text);
}

struct policy_case {
	const char *name;
	const char *conf;
	const char *remote_user;   /* REMOTE_USER; NULL = absent */
	const char *params;        /* other parameters, "NAME=value\n..." */
	const char *client_id;     /* asked; NULL = absent */
	const char *capability;
	const char *ttl;
	enum tok_err want;
	int want_code;
	const char *want_client;   /* on success; NULL = anonymous */
	const char *want_cap;      /* on success; NULL = not checked */
	long long want_ttl;        /* on success; 0 = not checked */
};

static const struct policy_case policy_cases[] = {
	/* $remote_user + rules */
	{ "user: own rule and private channel", CONF_USERS, "alice", NULL,
	  NULL, NULL, NULL, TOK_OK, 0, "alice", USERS_CAP("alice"), 600000 },
	{ "user: asks for its own clientId", CONF_USERS, "alice", NULL,
	  "alice", NULL, NULL, TOK_OK, 0, "alice", USERS_CAP("alice"), 0 },
	{ "user: asks for another user's clientId", CONF_USERS, "alice", NULL,
	  "bob", NULL, NULL, TOK_EDENIED, 40300, NULL, NULL, 0 },
	{ "user: asks for another user's channel", CONF_USERS, "alice", NULL,
	  NULL, "{\"private:bob\":[\"subscribe\"]}", NULL, TOK_EDENIED, 40160,
	  NULL, NULL, 0 },
	{ "user: asks for every private channel", CONF_USERS, "alice", NULL,
	  NULL, "{\"private:*\":[\"*\"]}", NULL, TOK_OK, 0, "alice",
	  "{\"private:alice\":[\"*\"]}", 0 },
	{ "user: asks for everything", CONF_USERS, "alice", NULL, NULL,
	  "{\"*\":[\"*\"],\"[*]*\":[\"*\"]}", NULL, TOK_OK, 0, "alice",
	  USERS_CAP("alice"), 0 },
	{ "user: asks for a wildcard clientId", CONF_USERS, "alice", NULL, "*",
	  NULL, NULL, TOK_EDENIED, 40300, NULL, NULL, 0 },
	{ "user: ttl within the rule", CONF_USERS, "alice", NULL, NULL, NULL,
	  "3600000", TOK_OK, 0, "alice", NULL, 3600000 },
	{ "user: ttl over the rule's max_ttl", CONF_USERS, "alice", NULL, NULL,
	  NULL, "3600001", TOK_EINVAL, 40003, NULL, NULL, 0 },
	{ "user: a name that would be a wildcard", CONF_USERS, "*", NULL, NULL,
	  NULL, NULL, TOK_EDENIED, 40300, NULL, NULL, 0 },
	{ "user: a name with ':'", CONF_USERS, "bob:secret", NULL, NULL, NULL,
	  NULL, TOK_EDENIED, 40300, NULL, NULL, 0 },
	{ "user: a name with '{'", CONF_USERS, "{clientId}", NULL, NULL, NULL,
	  NULL, TOK_EDENIED, 40300, NULL, NULL, 0 },
	{ "user: a name with '[meta]'", CONF_USERS, "[meta]x", NULL, NULL,
	  NULL, NULL, TOK_EDENIED, 40300, NULL, NULL, 0 },
	{ "user: a unicode name", CONF_USERS, "Zo\xc3\xab\xf0\x9f\x98\x80",
	  NULL, NULL, NULL, NULL, TOK_OK, 0, "Zo\xc3\xab\xf0\x9f\x98\x80",
	  USERS_CAP("Zo\xc3\xab\xf0\x9f\x98\x80"), 0 },
	{ "user: a name with a control byte", CONF_USERS, "ev\x01l", NULL,
	  NULL, NULL, NULL, TOK_EAUTH, 40100, NULL, NULL, 0 },
	{ "user: a name over 256 bytes", CONF_USERS, LONG_NAME, NULL, NULL,
	  NULL, NULL, TOK_EAUTH, 40100, NULL, NULL, 0 },
	{ "user: no REMOTE_USER", CONF_USERS, NULL, NULL, NULL, NULL, NULL,
	  TOK_EAUTH, 40100, NULL, NULL, 0 },
	{ "user: empty REMOTE_USER", CONF_USERS, "", NULL, NULL, NULL, NULL,
	  TOK_EAUTH, 40100, NULL, NULL, 0 },
	{ "user: no login but asks for a clientId", CONF_USERS, NULL, NULL,
	  "alice", NULL, NULL, TOK_EAUTH, 40100, NULL, NULL, 0 },
	{ "user: a header cannot stand in for REMOTE_USER", CONF_USERS, NULL,
	  "HTTP_REMOTE_USER=alice\nHTTP_X_REMOTE_USER=alice", NULL, NULL, NULL,
	  TOK_EAUTH, 40100, NULL, NULL, 0 },
	{ "admin: the admin rule", CONF_USERS, "carol", NULL, NULL, NULL, NULL,
	  TOK_OK, 0, "carol", "{\"*\":[\"*\"],\"[meta]*\":[\"subscribe\"]}",
	  3600000 },
	{ "admin: a wildcard clientId", CONF_USERS, "dave", NULL, "*", NULL,
	  NULL, TOK_OK, 0, "*", NULL, 0 },
	{ "admin: ttl up to its own max_ttl", CONF_USERS, "carol", NULL, NULL,
	  NULL, "7200000", TOK_OK, 0, "carol", NULL, 7200000 },
	{ "admin: another admin's clientId", CONF_USERS, "carol", NULL, "dave",
	  NULL, NULL, TOK_EDENIED, 40300, NULL, NULL, 0 },

	/* $header: only with the secret the trusted path passes */
	{ "header: user with the secret", CONF_HEADER, NULL,
	  "HTTP_X_AUTH_USER=erin\nTRUSTED_HEADER_SECRET=" SECRET, NULL, NULL,
	  NULL, TOK_OK, 0, "erin", "{\"private:erin\":[\"*\"]}", 0 },
	{ "header: without the secret", CONF_HEADER, NULL,
	  "HTTP_X_AUTH_USER=erin", NULL, NULL, NULL, TOK_EAUTH, 40100, NULL,
	  NULL, 0 },
	{ "header: wrong secret", CONF_HEADER, NULL,
	  "HTTP_X_AUTH_USER=erin\nTRUSTED_HEADER_SECRET=" SECRET "x", NULL,
	  NULL, NULL, TOK_EAUTH, 40100, NULL, NULL, 0 },
	{ "header: the secret as a client header", CONF_HEADER, NULL,
	  "HTTP_X_AUTH_USER=erin\nHTTP_TRUSTED_HEADER_SECRET=" SECRET, NULL,
	  NULL, NULL, TOK_EAUTH, 40100, NULL, NULL, 0 },
	{ "header: empty secret", CONF_HEADER, NULL,
	  "HTTP_X_AUTH_USER=erin\nTRUSTED_HEADER_SECRET=", NULL, NULL, NULL,
	  TOK_EAUTH, 40100, NULL, NULL, 0 },
	{ "header: secret but no user", CONF_HEADER, NULL,
	  "TRUSTED_HEADER_SECRET=" SECRET, NULL, NULL, NULL, TOK_EAUTH, 40100,
	  NULL, NULL, 0 },
	{ "header: REMOTE_USER is not the source", CONF_HEADER, "erin",
	  "TRUSTED_HEADER_SECRET=" SECRET, NULL, NULL, NULL, TOK_EAUTH, 40100,
	  NULL, NULL, 0 },
	{ "header: groups from the proxy", CONF_HEADER, NULL,
	  "HTTP_X_AUTH_USER=erin\nHTTP_X_AUTH_GROUPS=dev, staff\n"
	  "TRUSTED_HEADER_SECRET=" SECRET, NULL, NULL, NULL, TOK_OK, 0, "erin",
	  "{\"staff:*\":[\"*\"]}", 0 },
	{ "header: a group name must match exactly", CONF_HEADER, NULL,
	  "HTTP_X_AUTH_USER=erin\nHTTP_X_AUTH_GROUPS=staffers,Staff\n"
	  "TRUSTED_HEADER_SECRET=" SECRET, NULL, NULL, NULL, TOK_OK, 0, "erin",
	  "{\"private:erin\":[\"*\"]}", 0 },
	{ "header: groups without the secret", CONF_HEADER, NULL,
	  "HTTP_X_AUTH_GROUPS=staff", NULL, NULL, NULL, TOK_EAUTH, 40100, NULL,
	  NULL, 0 },
	{ "header: another user's clientId", CONF_HEADER, NULL,
	  "HTTP_X_AUTH_USER=erin\nTRUSTED_HEADER_SECRET=" SECRET, "frank",
	  NULL, NULL, TOK_EDENIED, 40300, NULL, NULL, 0 },

	/* $remote_user with a trusted_header_secret: only with the secret */
	{ "user+secret: with the secret", CONF_USERS
	  "trusted_header_secret = " SECRET "\n", "alice",
	  "TRUSTED_HEADER_SECRET=" SECRET, NULL, NULL, NULL, TOK_OK, 0, "alice",
	  USERS_CAP("alice"), 0 },
	{ "user+secret: without the secret", CONF_USERS
	  "trusted_header_secret = " SECRET "\n", "alice", NULL, NULL, NULL,
	  NULL, TOK_EAUTH, 40100, NULL, NULL, 0 },
	{ "user+secret: wrong secret", CONF_USERS
	  "trusted_header_secret = " SECRET "\n", "alice",
	  "TRUSTED_HEADER_SECRET=x" SECRET, NULL, NULL, NULL, TOK_EAUTH, 40100,
	  NULL, NULL, 0 },

	/* $request (development) */
	{ "request: the caller's pick", CONF_REQUEST, NULL, NULL, "dev1", NULL,
	  NULL, TOK_OK, 0, "dev1",
	  "{\"private:dev1\":[\"*\"],\"public\":[\"subscribe\"]}", 0 },
	{ "request: none asked is anonymous, no private channel",
	  CONF_REQUEST, NULL, NULL, NULL, NULL, NULL, TOK_OK, 0, NULL,
	  "{\"public\":[\"subscribe\"]}", 0 },
	{ "request: wildcard not allowed", CONF_REQUEST, NULL, NULL, "*", NULL,
	  NULL, TOK_EDENIED, 40300, NULL, NULL, 0 },
	{ "request: a hostile pick", CONF_REQUEST, NULL, NULL, "x:*", NULL,
	  NULL, TOK_EDENIED, 40300, NULL, NULL, 0 },
	{ "request: too long", CONF_REQUEST, NULL, NULL, LONG_NAME, NULL, NULL,
	  TOK_EINVAL, 40012, NULL, NULL, 0 },
	/* the documented hazard: a pick matches a user: rule */
	{ "request: picking a rule's user", CONF_REQUEST, NULL, NULL, "admin",
	  NULL, NULL, TOK_OK, 0, "admin", "{\"*\":[\"*\"]}", 0 },

	/* no identity, wildcard allowed at the top level */
	{ "anonymous: wildcard allowed", CONF_ANON_WILDCARD, NULL, NULL, "*",
	  NULL, NULL, TOK_OK, 0, "*", "{\"public\":[\"subscribe\"]}", 0 },
	{ "anonymous: a named clientId", CONF_ANON_WILDCARD, NULL, NULL, "a",
	  NULL, NULL, TOK_EDENIED, 40300, NULL, NULL, 0 },

	/* rule order */
	{ "order: group rule first", CONF_ORDER_GROUP_FIRST, "olga", NULL,
	  NULL, NULL, NULL, TOK_OK, 0, "olga", "{\"ops\":[\"*\"]}", 0 },
	{ "order: catch-all first", CONF_ORDER_ALL_FIRST, "olga", NULL, NULL,
	  NULL, NULL, TOK_OK, 0, "olga", "{\"all\":[\"subscribe\"]}", 0 },
	{ "order: other users", CONF_ORDER_GROUP_FIRST, "pete", NULL, NULL,
	  NULL, NULL, TOK_OK, 0, "pete", "{\"all\":[\"subscribe\"]}", 0 },
};

static void
test_policy_case(void **state)
{
	const struct policy_case *t = *state;
	struct fake fp;
	struct req_source src = fake_source(&fp);
	char storage[1024];
	struct config c;
	struct request r;
	struct decision d;
	struct tok_error e;
	enum tok_err rc;

	load_conf(&c, t->conf);
	make_request(&r, t->client_id, t->capability, t->ttl);
	fake_params_text(&fp, storage, sizeof(storage), t->params);
	assert_int_equal(req_copy_extra(&r, &src, &c.req_extra, &e), TOK_OK);
	if (t->remote_user != NULL) {
		r.remote_user = strdup(t->remote_user);
		assert_non_null(r.remote_user);
	}
	memset(&e, 0, sizeof(e));
	rc = policy_decide(&r, &c, &d, &e);
	if (rc != t->want)
		fail_msg("%s: rc %d (%d %s), want %d", t->name, rc, e.code,
		    e.message, t->want);
	if (rc == TOK_OK) {
		if (t->want_client == NULL)
			assert_null(d.client_id);
		else
			assert_string_equal(d.client_id, t->want_client);
		if (t->want_cap != NULL)
			assert_string_equal(d.capability, t->want_cap);
		if (t->want_ttl != 0)
			assert_int_equal(d.ttl, t->want_ttl);
		/* not jwt mode: no claims */
		assert_null(d.revocation_key);
		assert_int_equal(d.n_extra, 0);
	} else {
		assert_int_equal(tok_ably_code(&e), t->want_code);
		assert_null(d.client_id);
		assert_null(d.capability);
	}
	policy_decision_free(&d);
	req_free(&r);
	config_free(&c);
}

/* User A can never obtain user B's clientId or private channel, whatever
 * A asks for. */
static void
test_no_cross_user(void **state)
{
	static const char *const asks[] = {
		NULL, "{\"*\":[\"*\"]}", "{\"private:bob\":[\"*\"]}",
		"{\"private:*\":[\"*\"]}", "{\"[*]*\":[\"*\"]}",
		"{\"private:bob:*\":[\"*\"]}", "{\"*:bob\":[\"subscribe\"]}",
	};
	static const char *const ids[] = { NULL, "alice", "bob", "*" };
	struct config c;
	size_t i, j;

	(void)state;
	load_conf(&c, CONF_USERS);
	for (i = 0; i < N_ELEMENTS(asks); i++) {
		for (j = 0; j < N_ELEMENTS(ids); j++) {
			struct request r;
			struct decision d;
			struct tok_error e;

			make_request(&r, ids[j], asks[i], NULL);
			r.remote_user = strdup("alice");
			if (policy_decide(&r, &c, &d, &e) == TOK_OK) {
				assert_string_equal(d.client_id, "alice");
				if (strstr(d.capability, "private:bob") != NULL)
					fail_msg("alice got %s", d.capability);
				assert_null(strstr(d.capability, "\"*\":"));
				assert_null(strstr(d.capability, "private:*"));
			} else {
				assert_true(e.kind == TOK_EDENIED);
			}
			policy_decision_free(&d);
			req_free(&r);
		}
	}
	config_free(&c);
}

/* $random: a new id every time; the id comes back on renewal; made-up or
 * another key's ids are refused. */
static void
test_random_identity(void **state)
{
	struct config c;
	struct ably_key other;
	struct request r;
	struct decision d1, d2, d3;
	struct tok_error e;
	char cap[128], forged[IDENTITY_ANON_LEN + 1];

	(void)state;
	load_conf(&c, "client_id = $random\ncapability = "
	    "{\"anon:{clientId}\":[\"*\"],\"public\":[\"subscribe\"]}\n");
	make_request(&r, NULL, NULL, NULL);
	assert_int_equal(policy_decide(&r, &c, &d1, &e), TOK_OK);
	assert_int_equal(policy_decide(&r, &c, &d2, &e), TOK_OK);
	req_free(&r);
	assert_int_equal(strlen(d1.client_id), IDENTITY_ANON_LEN);
	assert_int_equal(strncmp(d1.client_id, "anon-", 5), 0);
	assert_int_equal(strspn(d1.client_id + 5, "0123456789abcdef"),
	    IDENTITY_ANON_LEN - 5);
	assert_string_not_equal(d1.client_id, d2.client_id);
	(void)snprintf(cap, sizeof(cap), "{\"anon:%s\":[\"*\"],"
	    "\"public\":[\"subscribe\"]}", d1.client_id);
	assert_string_equal(d1.capability, cap);

	/* ably-js renews with the clientId it was given */
	make_request(&r, d1.client_id, NULL, NULL);
	assert_int_equal(policy_decide(&r, &c, &d3, &e), TOK_OK);
	assert_string_equal(d3.client_id, d1.client_id);
	assert_string_equal(d3.capability, cap);
	policy_decision_free(&d3);
	req_free(&r);

	/* one changed digit of the random part or of the MAC */
	(void)snprintf(forged, sizeof(forged), "%s", d1.client_id);
	forged[10] = forged[10] == '0' ? '1' : '0';
	make_request(&r, forged, NULL, NULL);
	assert_int_equal(policy_decide(&r, &c, &d3, &e), TOK_EDENIED);
	assert_int_equal(e.code, 40300);
	req_free(&r);
	(void)snprintf(forged, sizeof(forged), "%s", d1.client_id);
	forged[IDENTITY_ANON_LEN - 1] =
	    forged[IDENTITY_ANON_LEN - 1] == 'a' ? 'b' : 'a';
	make_request(&r, forged, NULL, NULL);
	assert_int_equal(policy_decide(&r, &c, &d3, &e), TOK_EDENIED);
	req_free(&r);
	make_request(&r, "anon-alice", NULL, NULL);
	assert_int_equal(policy_decide(&r, &c, &d3, &e), TOK_EDENIED);
	req_free(&r);
	/* an id another key made */
	assert_int_equal(key_parse("appTwo.keyTwo:"
	    "Zz9yYx8wWv7uUt6sSr5qQp4oOn3mMl2k", &other, &e), TOK_OK);
	assert_false(identity_anonymous_ok(&other, d1.client_id));
	assert_true(identity_anonymous_ok(&c.key, d1.client_id));
	key_clear(&other);
	policy_decision_free(&d1);
	policy_decision_free(&d2);
	config_free(&c);
}

/* jwt mode: the rule's claims, templated with the identity. */
#define CONF_CLAIMS \
	"client_id = $remote_user\n" \
	"capability = {\"public\":[\"subscribe\"]}\n" \
	"revocable_tokens = on\n" \
	"revocation_key = everyone\n" \
	"channel_claim.public = visitor\n" \
	"rule.users.match = *\n" \
	"rule.users.capability = {\"private:{clientId}\":[\"*\"]}\n" \
	"rule.users.revocation_key = user:{clientId}\n" \
	"rule.users.channel_claim.private:{clientId} = {\"role\":\"owner\"}\n" \
	"rule.users.channel_claim.lobby = member\n" \
	"rule.users.publish_max_rate.lobby = 2.5\n" \
	"rule.users.publish_max_rate.private:{clientId} = 10\n"

static void
test_jwt_claims(void **state)
{
	static const char *const modes[] = { "mode = jwt\n",
	    "mode = token-request\n", "mode = token\n" };
	size_t m;

	(void)state;
	for (m = 0; m < N_ELEMENTS(modes); m++) {
		char text[2048];
		struct config c;
		struct request r;
		struct decision d;
		struct tok_error e;

		(void)snprintf(text, sizeof(text), "%s%s", modes[m],
		    CONF_CLAIMS);
		load_conf(&c, text);
		/* revocable_tokens lowered the default max_ttl to 1 h */
		assert_int_equal(c.max_ttl, 3600000);
		make_request(&r, NULL, NULL, "3600001");
		r.remote_user = strdup("alice");
		assert_int_equal(policy_decide(&r, &c, &d, &e), TOK_EINVAL);
		assert_int_equal(e.code, 40003);
		req_free(&r);

		make_request(&r, NULL, NULL, NULL);
		r.remote_user = strdup("alice");
		assert_int_equal(policy_decide(&r, &c, &d, &e), TOK_OK);
		if (m > 0) {
			/* only JWTs carry these claims */
			assert_null(d.revocation_key);
			assert_int_equal(d.n_extra, 0);
		} else {
			assert_string_equal(d.revocation_key, "user:alice");
			assert_int_equal(d.n_extra, 4);
			assert_string_equal(d.extra[0].name,
			    "ably.channel.private:alice");
			assert_string_equal(d.extra[0].value,
			    "{\"role\":\"owner\"}");
			assert_false(d.extra[0].number);
			assert_string_equal(d.extra[1].name,
			    "ably.channel.lobby");
			assert_string_equal(d.extra[1].value, "member");
			assert_string_equal(d.extra[2].name,
			    "ably.limits.publish.perAttachment.maxRate.lobby");
			assert_string_equal(d.extra[2].value, "2.5");
			assert_true(d.extra[2].number);
			assert_string_equal(d.extra[3].name,
			    "ably.limits.publish.perAttachment.maxRate."
			    "private:alice");
			assert_string_equal(d.extra[3].value, "10");
		}
		policy_decision_free(&d);
		assert_null(d.extra);
		assert_int_equal(d.n_extra, 0);
		req_free(&r);
		config_free(&c);
	}
}

/* Templated claims are left out for an anonymous caller, and a hostile
 * identity cannot name a claim's channel. */
static void
test_jwt_claims_anonymous_and_hostile(void **state)
{
	struct config c;
	struct request r;
	struct decision d;
	struct tok_error e;

	(void)state;
	load_conf(&c, "mode = jwt\nclient_id = $request\n"
	    "capability = {\"public\":[\"subscribe\"]}\n"
	    "revocation_key = user:{clientId}\n"
	    "channel_claim.{clientId}:inbox = owner\n"
	    "channel_claim.public = visitor\n"
	    "channel_claim.public2 = {clientId}\n");
	make_request(&r, NULL, NULL, NULL);
	assert_int_equal(policy_decide(&r, &c, &d, &e), TOK_OK);
	assert_null(d.client_id);
	assert_null(d.revocation_key);
	assert_int_equal(d.n_extra, 2);
	assert_string_equal(d.extra[0].name, "ably.channel.public");
	/* values are not templates */
	assert_string_equal(d.extra[1].value, "{clientId}");
	policy_decision_free(&d);
	req_free(&r);

	make_request(&r, "eve:x", NULL, NULL);
	assert_int_equal(policy_decide(&r, &c, &d, &e), TOK_EDENIED);
	assert_int_equal(e.code, 40300);
	req_free(&r);
	config_free(&c);
}

/* A templated claim that meets a fixed one: the first written wins. */
static void
test_jwt_claims_collide(void **state)
{
	struct config c;
	struct request r;
	struct decision d;
	struct tok_error e;

	(void)state;
	load_conf(&c, "mode = jwt\nclient_id = $request\n"
	    "channel_claim.{clientId} = mine\n"
	    "channel_claim.bob = fixed\n");
	make_request(&r, "bob", NULL, NULL);
	assert_int_equal(policy_decide(&r, &c, &d, &e), TOK_OK);
	assert_int_equal(d.n_extra, 1);
	assert_string_equal(d.extra[0].name, "ably.channel.bob");
	assert_string_equal(d.extra[0].value, "mine");
	policy_decision_free(&d);
	req_free(&r);
	config_free(&c);
}

/* A requested capability naming too many resources is refused up front
 * (the intersection is quadratic). */
static void
test_capability_resource_limit(void **state)
{
	struct config c;
	struct request r;
	struct decision d;
	struct tok_error e;
	char text[8192];
	size_t used, i;

	(void)state;
	load_config(&c, 0);
	used = (size_t)snprintf(text, sizeof(text), "{");
	for (i = 0; i < POLICY_MAX_RESOURCES + 1; i++)
		used += (size_t)snprintf(text + used, sizeof(text) - used,
		    "%s\"r%zu\":[\"subscribe\"]", i ? "," : "", i);
	(void)snprintf(text + used, sizeof(text) - used, "}");
	make_request(&r, NULL, text, NULL);
	assert_int_equal(policy_decide(&r, &c, &d, &e), TOK_EINVAL);
	assert_int_equal(e.code, 40000);
	req_free(&r);
	config_free(&c);
}

/* The rule lookup on its own. */
static void
test_rule_for(void **state)
{
	struct config c;
	struct identity id;
	char *groups[1] = { (char *)"admins" };

	(void)state;
	load_conf(&c, CONF_USERS);
	memset(&id, 0, sizeof(id));
	assert_ptr_equal(policy_rule_for(&c, &id), &c.rules.dflt);
	id.id = (char *)"alice";
	assert_string_equal(policy_rule_for(&c, &id)->name, "users");
	id.id = (char *)"carol";
	assert_string_equal(policy_rule_for(&c, &id)->name, "admins");
	/* a group from the header counts too (no identity needed) */
	id.id = NULL;
	id.groups = groups;
	id.n_groups = 1;
	assert_string_equal(policy_rule_for(&c, &id)->name, "admins");
	config_free(&c);
}

int
main(void)
{
	static const struct CMUnitTest fixed[] = {
		cmocka_unit_test(test_parse_ttl),
		cmocka_unit_test(test_parse_ttl_message_names_bounds),
		cmocka_unit_test(test_capability_spellings_agree),
		cmocka_unit_test(test_default_follows_config),
		cmocka_unit_test(test_no_cross_user),
		cmocka_unit_test(test_random_identity),
		cmocka_unit_test(test_jwt_claims),
		cmocka_unit_test(test_jwt_claims_anonymous_and_hostile),
		cmocka_unit_test(test_jwt_claims_collide),
		cmocka_unit_test(test_capability_resource_limit),
		cmocka_unit_test(test_rule_for),
	};
	struct CMUnitTest tests[N_ELEMENTS(decide_cases) +
	    N_ELEMENTS(policy_cases) + N_ELEMENTS(fixed)];
	size_t n = 0;

	n = UNIT_CASES(tests, n, decide_cases, test_decide_case);
	n = UNIT_CASES(tests, n, policy_cases, test_policy_case);
	n = UNIT_TESTS(tests, n, fixed);
	return cmocka_run_group_tests_name("policy", tests, NULL, NULL);
}
