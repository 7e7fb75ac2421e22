/* test_response: resp_ok, resp_error and resp_preflight.
 *
 * Each answer is split back into status line, headers and body and checked
 * the way ably-js and a browser read it: exact
 * Content-Type on errors, X-Ably-Error* headers, the JSON error body, CORS
 * headers only for an allowed origin, a Content-Length that matches.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <json-c/json.h>

#include "buf.h"
#include "response.h"
#include "unit.h"

#define OUT_MAX (64 * 1024)

/* Content-Length present and equal to the body's size. */
static void
assert_length_matches(const struct unit_answer *a)
{
	const char *cl = unit_header(a, "Content-Length");
	char want[32];

	assert_non_null(cl);
	(void)snprintf(want, sizeof(want), "%zu", a->body_len);
	assert_string_equal(cl, want);
}

/* CORS headers exactly as cors asks, for any answer. */
static void
check_cors(const struct unit_answer *a, const struct resp_cors *cors)
{
	const char *origin = cors ? cors->allow_origin : NULL;
	int vary = cors ? cors->vary : 0;
	const char *expose;

	if (vary)
		unit_assert_header(a, "Vary", "Origin");
	else
		assert_null(unit_header(a, "Vary"));
	if (origin == NULL) {
		assert_null(unit_header(a, "Access-Control-Allow-Origin"));
		assert_null(unit_header(a, "Access-Control-Allow-Credentials"));
		assert_null(unit_header(a, "Access-Control-Expose-Headers"));
		return;
	}
	unit_assert_header(a, "Access-Control-Allow-Origin", origin);
	unit_assert_header(a, "Access-Control-Allow-Credentials", "true");
	expose = unit_header(a, "Access-Control-Expose-Headers");
	assert_non_null(expose);
	assert_non_null(strstr(expose, "X-Ably-ErrorCode"));
	assert_non_null(strstr(expose, "X-Ably-ErrorMessage"));
}

/* ------------------------------------------------------------------ */
/* resp_ok */

/* resp_ok(type, the first len bytes of body, cors) into out, taken apart
 * into a. */
static void
ok_answer(struct buf *out, struct unit_answer *a, const char *type,
          const char *body, size_t len, const struct resp_cors *cors)
{
	buf_init(out, OUT_MAX);
	assert_int_equal(resp_ok(out, type, body, len, cors), TOK_OK);
	unit_parse_answer(out, a, 1);
}

static void
test_ok_json(void **state)
{
	static const char body[] = "{\"keyName\":\"a.b\",\"mac\":\"x\"}";
	struct buf out;
	struct unit_answer a;

	(void)state;
	ok_answer(&out, &a, "application/json", body, strlen(body), NULL);
	assert_memory_equal(out.data, "Status: 200 OK\r\n", 16);
	assert_int_equal(a.status, 200);
	assert_string_equal(a.reason, "OK");
	unit_assert_header(&a, "Content-Type", "application/json");
	unit_assert_header(&a, "Cache-Control", "no-store");
	assert_length_matches(&a);
	assert_int_equal(a.body_len, strlen(body));
	assert_memory_equal(a.body, body, a.body_len);
	assert_null(unit_header(&a, "X-Ably-ErrorCode"));
	assert_null(unit_header(&a, "X-Ably-ErrorMessage"));
	assert_null(unit_header(&a, "Allow"));
	check_cors(&a, NULL);
	buf_free(&out);
}

/* A token is sent byte for byte: no newline after it. */
static void
test_ok_no_trailing_newline(void **state)
{
	static const char jwt[] = "eyJh.eyJp.c2ln";
	struct buf out;
	struct unit_answer a;

	(void)state;
	ok_answer(&out, &a, "text/plain", jwt, strlen(jwt), NULL);
	unit_assert_header(&a, "Content-Type", "text/plain");
	assert_int_equal(a.body_len, strlen(jwt));
	assert_string_equal(a.body, jwt);
	assert_int_equal(out.data[out.len - 1], 'n');
	assert_length_matches(&a);
	buf_free(&out);
}

/* Only len bytes of body are sent, even if it goes on; 0 is fine. */
static void
test_ok_uses_len(void **state)
{
	struct buf out;
	struct unit_answer a;

	(void)state;
	ok_answer(&out, &a, "text/plain", "abcdef", 3, NULL);
	assert_int_equal(a.body_len, 3);
	assert_string_equal(a.body, "abc");
	unit_assert_header(&a, "Content-Length", "3");
	buf_free(&out);

	ok_answer(&out, &a, "text/plain", "", 0, NULL);
	assert_int_equal(a.body_len, 0);
	unit_assert_header(&a, "Content-Length", "0");
	buf_free(&out);
}

static void
test_ok_too_big(void **state)
{
	struct buf out;

	(void)state;
	buf_init(&out, 32);
	assert_int_equal(resp_ok(&out, "application/json", "{}", 2, NULL),
	    TOK_ETOOBIG);
	buf_free(&out);
}

/* ------------------------------------------------------------------ */
/* CORS on every kind of answer */

static const struct resp_cors cors_cases[] = {
	{ NULL, 0 },
	{ NULL, 1 },
	{ "https://app.example.com", 0 },
	{ "https://app.example.com", 1 },
	{ "http://localhost:3000", 1 },
};

static void
test_cors_headers(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < N_ELEMENTS(cors_cases); i++) {
		const struct resp_cors *cors = &cors_cases[i];
		struct tok_error e = { TOK_EINVAL, 40003, "ttl is bad", 0 };
		struct buf out;
		struct unit_answer a;

		ok_answer(&out, &a, "application/json", "{}", 2, cors);
		check_cors(&a, cors);
		unit_assert_header(&a, "Cache-Control", "no-store");
		buf_reset(&out);

		assert_int_equal(resp_error(&out, &e, NULL, cors), TOK_OK);
		unit_parse_answer(&out, &a, 1);
		check_cors(&a, cors);
		unit_assert_header(&a, "Cache-Control", "no-store");
		buf_reset(&out);

		assert_int_equal(resp_preflight(&out, cors, "content-type"),
		    TOK_OK);
		unit_parse_answer(&out, &a, 1);
		check_cors(&a, cors);
		unit_assert_header(&a, "Cache-Control", "no-store");
		buf_free(&out);
	}
}

/* ------------------------------------------------------------------ */
/* resp_error */

struct error_case {
	const char *name;
	enum tok_err kind;
	int code;             /* in the tok_error; 0 = default */
	const char *message;
	const char *allow;
	int status;
	const char *reason;
	int want_code;
};

static const struct error_case error_cases[] = {
	{ "error: 400 default code", TOK_EINVAL, 0, "bad parameter", NULL, 400,
	  "Bad Request", 40000 },
	{ "error: 400 ttl", TOK_EINVAL, 40003, "ttl must be a whole number",
	  NULL, 400, "Bad Request", 40003 },
	{ "error: 400 clientId", TOK_EINVAL, 40012, "clientId must not be an "
	  "empty string", NULL, 400, "Bad Request", 40012 },
	{ "error: 401", TOK_EAUTH, 0, "no identity", NULL, 401,
	  "Unauthorized", 40100 },
	{ "error: 403 default code", TOK_EDENIED, 0, "not for you", NULL, 403,
	  "Forbidden", 40300 },
	{ "error: 403 capability", TOK_EDENIED, 40160, "the requested "
	  "capability goes beyond what this endpoint grants", NULL, 403,
	  "Forbidden", 40160 },
	{ "error: 404", TOK_ENOTFOUND, 0, "no such thing", NULL, 404,
	  "Not Found", 40400 },
	{ "error: 405 with Allow", TOK_EMETHOD, 40500, "only GET and POST are "
	  "supported", "GET, POST", 405, "Method Not Allowed", 40500 },
	{ "error: 405 with Allow incl. OPTIONS", TOK_EMETHOD, 0, "no",
	  "GET, POST, OPTIONS", 405, "Method Not Allowed", 40500 },
	{ "error: 413", TOK_ETOOBIG, 0, "request body is larger than 8192 "
	  "bytes", NULL, 413, "Payload Too Large", 41300 },
	{ "error: 415", TOK_EMEDIA, 0, "POST bodies must be form or JSON",
	  NULL, 415, "Unsupported Media Type", 41500 },
	{ "error: 500 config", TOK_ECONFIG, 50000, "no Ably key configured",
	  NULL, 500, "Internal Server Error", 50000 },
	{ "error: 500 nomem", TOK_ENOMEM, 0, "out of memory", NULL, 500,
	  "Internal Server Error", 50000 },
	{ "error: 500 internal", TOK_EINTERNAL, 0, "internal error", NULL, 500,
	  "Internal Server Error", 50000 },
	{ "error: 502", TOK_EUPSTREAM, 0, "Ably answered with an error", NULL,
	  502, "Bad Gateway", 50002 },
	{ "error: 504", TOK_ETIMEOUT, 0, "Ably did not answer in time", NULL,
	  504, "Gateway Timeout", 50003 },
	{ "error: message with JSON specials", TOK_EINVAL, 0, "a \"quoted\" "
	  "back\\slash / slash", NULL, 400, "Bad Request", 40000 },
	{ "error: empty message", TOK_EINVAL, 0, "", NULL, 400, "Bad Request",
	  40000 },
};

/* Member name of obj as an int / string, failing if absent or mistyped. */
static int
json_int(struct json_object *obj, const char *name)
{
	struct json_object *v;

	assert_true(json_object_object_get_ex(obj, name, &v));
	assert_true(json_object_is_type(v, json_type_int));
	return json_object_get_int(v);
}

static const char *
json_str(struct json_object *obj, const char *name)
{
	struct json_object *v;

	assert_true(json_object_object_get_ex(obj, name, &v));
	assert_true(json_object_is_type(v, json_type_string));
	return json_object_get_string(v);
}

static void
test_error_case(void **state)
{
	const struct error_case *t = *state;
	struct tok_error e;
	struct json_tokener *tok;
	struct json_object *root, *err;
	struct buf out;
	struct unit_answer a;
	char want[64];

	memset(&e, 0, sizeof(e));
	e.kind = t->kind;
	e.code = t->code;
	(void)snprintf(e.message, sizeof(e.message), "%s", t->message);
	buf_init(&out, OUT_MAX);
	assert_int_equal(resp_error(&out, &e, t->allow, NULL), TOK_OK);
	unit_parse_answer(&out, &a, 1);

	assert_int_equal(a.status, t->status);
	assert_string_equal(a.reason, t->reason);
	/* Exactly application/json: node ably-js ignores the body otherwise. */
	unit_assert_header(&a, "Content-Type", "application/json");
	unit_assert_header(&a, "Cache-Control", "no-store");
	(void)snprintf(want, sizeof(want), "%d", t->want_code);
	unit_assert_header(&a, "X-Ably-ErrorCode", want);
	unit_assert_header(&a, "X-Ably-ErrorMessage", t->message);
	if (t->allow != NULL)
		unit_assert_header(&a, "Allow", t->allow);
	else
		assert_null(unit_header(&a, "Allow"));
	assert_length_matches(&a);
	check_cors(&a, NULL);

	/* The body: {"error":{"message","code","statusCode","href"}}, one
	 * JSON object and nothing after it. */
	tok = json_tokener_new();
	assert_non_null(tok);
	root = json_tokener_parse_ex(tok, a.body, (int)a.body_len);
	assert_non_null(root);
	assert_int_equal(json_tokener_get_parse_end(tok), a.body_len);
	json_tokener_free(tok);
	assert_true(json_object_is_type(root, json_type_object));
	assert_int_equal(json_object_object_length(root), 1);
	assert_true(json_object_object_get_ex(root, "error", &err));
	assert_true(json_object_is_type(err, json_type_object));
	assert_string_equal(json_str(err, "message"), t->message);
	assert_int_equal(json_int(err, "code"), t->want_code);
	assert_int_equal(json_int(err, "statusCode"), t->status);
	(void)snprintf(want, sizeof(want), "https://help.ably.io/error/%d",
	    t->want_code);
	assert_string_equal(json_str(err, "href"), want);
	json_object_put(root);
	buf_free(&out);
}

/* '/' is not escaped in the href (json-c would write "\/"). */
static void
test_error_href_slashes_plain(void **state)
{
	struct tok_error e = { TOK_EDENIED, 40300, "denied", 0 };
	struct buf out;

	(void)state;
	buf_init(&out, OUT_MAX);
	assert_int_equal(resp_error(&out, &e, NULL, NULL), TOK_OK);
	assert_non_null(strstr(out.data,
	    "\"href\":\"https://help.ably.io/error/40300\""));
	assert_null(strstr(out.data, "\\/"));
	buf_free(&out);
}

static void
test_error_too_big(void **state)
{
	struct tok_error e = { TOK_EINVAL, 0, "bad", 0 };
	struct buf out;

	(void)state;
	buf_init(&out, 64);
	assert_int_equal(resp_error(&out, &e, NULL, NULL), TOK_ETOOBIG);
	buf_free(&out);
}

/* ------------------------------------------------------------------ */
/* resp_preflight */

struct preflight_case {
	const char *request_headers;
	int echoed;
};

static void
test_preflight(void **state)
{
	static char long_ok[512], long_bad[513];
	static const struct preflight_case cases[] = {
		{ "content-type", 1 },
		{ "authorization, x-ably-version", 1 },
		{ "Authorization,X-Ably-Version,X_Under_Score", 1 },
		{ long_ok, 1 },
		{ long_bad, 0 },
		{ NULL, 0 },
		{ "", 0 },
		{ "x-foo\r\nSet-Cookie: a=b", 0 },
		{ "x-foo\nSet-Cookie: a=b", 0 },
		{ "x-foo\r", 0 },
		{ "x-foo: bar", 0 },
		{ "x-foo;bar", 0 },
		{ "x-foo\tbar", 0 },
		{ "x-f\xc3\xb6o", 0 },
		{ "<script>", 0 },
	};
	const struct resp_cors cors = { "https://app.example.com", 1 };
	size_t i;

	(void)state;
	memset(long_ok, 'a', sizeof(long_ok) - 1);
	memset(long_bad, 'a', sizeof(long_bad) - 1);
	for (i = 0; i < N_ELEMENTS(cases); i++) {
		const char *rh = cases[i].request_headers;
		struct buf out;
		struct unit_answer a;

		buf_init(&out, OUT_MAX);
		assert_int_equal(resp_preflight(&out, &cors, rh), TOK_OK);
		unit_parse_answer(&out, &a, 1);
		assert_int_equal(a.status, 204);
		assert_string_equal(a.reason, "No Content");
		assert_int_equal(a.body_len, 0);
		/* A 204 has no body, so no Content-Type or Content-Length. */
		assert_null(unit_header(&a, "Content-Type"));
		assert_null(unit_header(&a, "Content-Length"));
		unit_assert_header(&a, "Access-Control-Allow-Methods", "GET, POST");
		assert_non_null(unit_header(&a, "Access-Control-Max-Age"));
		check_cors(&a, &cors);
		assert_null(unit_header(&a, "Set-Cookie"));
		if (cases[i].echoed)
			unit_assert_header(&a, "Access-Control-Allow-Headers", rh);
		else if (unit_header(&a, "Access-Control-Allow-Headers") != NULL)
			fail_msg("preflight case %zu echoed a bad list", i);
		buf_free(&out);
	}
}

int
main(void)
{
	static const struct CMUnitTest fixed[] = {
		cmocka_unit_test(test_ok_json),
		cmocka_unit_test(test_ok_no_trailing_newline),
		cmocka_unit_test(test_ok_uses_len),
		cmocka_unit_test(test_ok_too_big),
		cmocka_unit_test(test_cors_headers),
		cmocka_unit_test(test_error_href_slashes_plain),
		cmocka_unit_test(test_error_too_big),
		cmocka_unit_test(test_preflight),
	};

	return UNIT_RUN_FIXED_FIRST("response", fixed, error_cases, test_error_case);
}
