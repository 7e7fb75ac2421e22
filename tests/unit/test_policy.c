/* test_policy: policy_decide and policy_parse_ttl.
 *
 * The config comes from config_load(NULL) (built-in defaults) with the
 * identity and capability then set by hand, so each row states exactly
 * what the endpoint grants and what the caller asked for.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "capability.h"
#include "config.h"
#include "policy.h"
#include "request.h"

#define N_ELEMENTS(a) (sizeof(a) / sizeof((a)[0]))

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
	{ "capability wider resource", 0, 0, NULL, "{\"*\":[\"subscribe\"]}",
	  NULL, TOK_EDENIED, 40160, NULL, NULL, 0 },
	{ "capability other channel", 0, 0, NULL,
	  "{\"news\":[\"subscribe\"]}", NULL, TOK_EDENIED, 40160, NULL, NULL,
	  0 },
	{ "capability wider operation", 0, 0, NULL,
	  "{\"status\":[\"publish\"]}", NULL, TOK_EDENIED, 40160, NULL, NULL,
	  0 },
	{ "capability all operations", 0, 0, NULL, "{\"status\":[\"*\"]}",
	  NULL, TOK_EDENIED, 40160, NULL, NULL, 0 },
	{ "capability partly wider", 0, 0, NULL,
	  "{\"status\":[\"subscribe\"],\"chat:x\":[\"history\"]}", NULL,
	  TOK_EDENIED, 40160, NULL, NULL, 0 },
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
	  "{\"*\":[\"*\"]}", "5000", TOK_EDENIED, 40160, NULL, NULL, 0 },
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
	rc = policy_decide(&c, &r, &d, &e);
	if (rc != t->want)
		fail_msg("%s: rc %d (%s), want %d", t->name, rc, e.message,
		    t->want);
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
	decision_free(&d);
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
		assert_int_equal(policy_decide(&c, &r, &d, &e), TOK_OK);
		assert_string_equal(d.capability, "{\"chat:x\":[\"publish\","
		    "\"subscribe\"],\"status\":[\"subscribe\"]}");
		decision_free(&d);
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
	assert_int_equal(policy_decide(&c, &r, &d, &e), TOK_OK);
	assert_string_equal(d.client_id, "svc-42");
	assert_string_equal(d.capability,
	    "{\"a\":[\"history\"],\"b\":[\"subscribe\"]}");
	assert_int_equal(d.ttl, 120000);
	decision_free(&d);
	/* decision_free on a freed (zeroed) decision is harmless. */
	decision_free(&d);
	req_free(&r);
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
	};
	struct CMUnitTest tests[N_ELEMENTS(decide_cases) + N_ELEMENTS(fixed)];
	size_t i, n = 0;

	for (i = 0; i < N_ELEMENTS(decide_cases); i++) {
		struct CMUnitTest t = { decide_cases[i].name, test_decide_case,
		    NULL, NULL, (void *)&decide_cases[i] };

		tests[n++] = t;
	}
	for (i = 0; i < N_ELEMENTS(fixed); i++)
		tests[n++] = fixed[i];
	return cmocka_run_group_tests_name("policy", tests, NULL, NULL);
}
