/* test_request: req_parse and req_form_decode.
 *
 * A fake struct req_source (fake_source.h) says exactly what the web
 * server sent. Table rows run as one cmocka test each.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fake_source.h"
#include "request.h"
#include "unit.h"


/* Expect a TokenParam absent (want == NULL) or present with text want. */
static void
check_value(const struct req_value *v, const char *want, const char *what)
{
	if (want == NULL) {
		if (v->present)
			fail_msg("%s: expected absent, got \"%s\"", what,
			    v->text);
		assert_null(v->text);
		return;
	}
	if (!v->present)
		fail_msg("%s: expected \"%s\", got absent", what, want);
	assert_non_null(v->text);
	assert_string_equal(v->text, want);
}

/* ------------------------------------------------------------------ */
/* req_parse table: method, query, content type/length, body -> result */

struct parse_case {
	const char *name;
	const char *method;     /* NULL = REQUEST_METHOD absent */
	const char *query;
	const char *ctype;
	const char *clen;       /* NULL = CONTENT_LENGTH absent; "auto" = body */
	const char *body;
	size_t max_body;        /* 0 = 8192 */
	size_t chunk;
	enum tok_err want;
	/* for TOK_OK: expected TokenParams (NULL = absent) */
	const char *client_id;
	const char *capability;
	const char *ttl;
	int reads_none;         /* assert the body was never read */
};

#define FORM "application/x-www-form-urlencoded"
#define JSON "application/json"

static const struct parse_case parse_cases[] = {
	/* GET query strings */
	{ "get: clientId and ttl", "GET", "clientId=alice&ttl=60000", NULL, NULL,
	  NULL, 0, 0, TOK_OK, "alice", NULL, "60000", 1 },
	{ "get: '+' is a space", "GET", "clientId=a+b+c", NULL, NULL, NULL, 0,
	  0, TOK_OK, "a b c", NULL, NULL, 1 },
	{ "get: %20 is a space", "GET", "clientId=a%20b", NULL, NULL, NULL, 0,
	  0, TOK_OK, "a b", NULL, NULL, 1 },
	{ "get: %2B is a plus", "GET", "clientId=a%2Bb", NULL, NULL, NULL, 0,
	  0, TOK_OK, "a+b", NULL, NULL, 1 },
	{ "get: UTF-8 escapes", "GET", "clientId=%E2%82%ac", NULL, NULL, NULL, 0,
	  0, TOK_OK, "\xe2\x82\xac", NULL, NULL, 1 },
	{ "get: capability %-encoded", "GET",
	  "capability=%7B%22*%22%3A%5B%22subscribe%22%5D%7D", NULL, NULL, NULL,
	  0, 0, TOK_OK, NULL, "{\"*\":[\"subscribe\"]}", NULL, 1 },
	{ "get: encoded name", "GET", "client%49d=bob", NULL, NULL, NULL, 0, 0,
	  TOK_OK, "bob", NULL, NULL, 1 },
	{ "get: unknown params ignored", "GET", "rnd=123&ttl=5000&foo&x=%41",
	  NULL, NULL, NULL, 0, 0, TOK_OK, NULL, NULL, "5000", 1 },
	{ "get: names are case-sensitive", "GET", "CLIENTID=x&TTL=1", NULL,
	  NULL, NULL, 0, 0, TOK_OK, NULL, NULL, NULL, 1 },
	{ "get: param without '='", "GET", "clientId&ttl=1000", NULL, NULL,
	  NULL, 0, 0, TOK_OK, "", NULL, "1000", 1 },
	{ "get: empty value", "GET", "clientId=", NULL, NULL, NULL, 0, 0,
	  TOK_OK, "", NULL, NULL, 1 },
	{ "get: '=' inside a value", "GET", "clientId=a=b", NULL, NULL, NULL, 0,
	  0, TOK_OK, "a=b", NULL, NULL, 1 },
	{ "get: empty pairs skipped", "GET", "&&ttl=1000&", NULL, NULL, NULL, 0,
	  0, TOK_OK, NULL, NULL, "1000", 1 },
	{ "get: empty query", "GET", "", NULL, NULL, NULL, 0, 0, TOK_OK, NULL,
	  NULL, NULL, 1 },
	{ "get: no method means GET", NULL, "ttl=2000", NULL, NULL, NULL, 0, 0,
	  TOK_OK, NULL, NULL, "2000", 1 },
	{ "get: body never read", "GET", "ttl=1000", FORM, "8", "ttl=9999", 0,
	  0, TOK_OK, NULL, NULL, "1000", 1 },
	{ "get: %zz", "GET", "clientId=%zz", NULL, NULL, NULL, 0, 0,
	  TOK_EINVAL, NULL, NULL, NULL, 1 },
	{ "get: trailing %4", "GET", "clientId=a%4", NULL, NULL, NULL, 0, 0,
	  TOK_EINVAL, NULL, NULL, NULL, 1 },
	{ "get: trailing %", "GET", "ttl=%", NULL, NULL, NULL, 0, 0,
	  TOK_EINVAL, NULL, NULL, NULL, 1 },
	{ "get: %4 before '&'", "GET", "clientId=%4&ttl=1000", NULL, NULL, NULL,
	  0, 0, TOK_EINVAL, NULL, NULL, NULL, 1 },
	{ "get: %00 in a value", "GET", "clientId=a%00b", NULL, NULL, NULL, 0, 0,
	  TOK_EINVAL, NULL, NULL, NULL, 1 },
	{ "get: %00 in a name", "GET", "ttl%00=1000", NULL, NULL, NULL, 0, 0,
	  TOK_EINVAL, NULL, NULL, NULL, 1 },
	{ "get: bad escape in a name", "GET", "%zz=1", NULL, NULL, NULL, 0, 0,
	  TOK_EINVAL, NULL, NULL, NULL, 1 },
	{ "get: duplicate ttl", "GET", "ttl=1000&ttl=2000", NULL, NULL, NULL, 0,
	  0, TOK_EINVAL, NULL, NULL, NULL, 1 },
	{ "get: duplicate ttl, one encoded", "GET", "ttl=1000&%74tl=2000", NULL,
	  NULL, NULL, 0, 0, TOK_EINVAL, NULL, NULL, NULL, 1 },
	{ "get: duplicate clientId", "GET", "clientId=a&clientId=a", NULL, NULL,
	  NULL, 0, 0, TOK_EINVAL, NULL, NULL, NULL, 1 },
	{ "get: duplicate capability", "GET", "capability=&capability", NULL,
	  NULL, NULL, 0, 0, TOK_EINVAL, NULL, NULL, NULL, 1 },

	/* POST form bodies */
	{ "post form: all params, %20", "POST", NULL, FORM, "auto",
	  "clientId=a%20b&capability=%7B%7D&ttl=3000", 0, 0, TOK_OK, "a b",
	  "{}", "3000", 0 },
	{ "post form: read in 3-byte chunks", "POST", NULL, FORM, "auto",
	  "clientId=carol&ttl=120000", 0, 3, TOK_OK, "carol", NULL, "120000",
	  0 },
	{ "post form: body beats query", "POST", "ttl=1000&clientId=q", FORM,
	  "auto", "ttl=2000", 0, 0, TOK_OK, "q", NULL, "2000", 0 },
	{ "post form: duplicate in body", "POST", NULL, FORM, "auto",
	  "ttl=1000&ttl=1000", 0, 0, TOK_EINVAL, NULL, NULL, NULL, 0 },
	{ "post form: malformed escape", "POST", NULL, FORM, "auto",
	  "clientId=%g1", 0, 0, TOK_EINVAL, NULL, NULL, NULL, 0 },
	{ "post form: bad query not read past", "POST", "ttl=%", FORM, "auto",
	  "ttl=1000", 0, 0, TOK_EINVAL, NULL, NULL, NULL, 1 },
	{ "post form: charset accepted", "POST", NULL,
	  FORM "; charset=utf-8", "auto", "ttl=4000", 0, 0, TOK_OK, NULL,
	  NULL, "4000", 0 },
	{ "post form: type is case-insensitive", "POST", NULL,
	  "Application/X-WWW-Form-Urlencoded", "auto", "ttl=4000", 0, 0,
	  TOK_OK, NULL, NULL, "4000", 0 },

	/* POST JSON bodies */
	{ "post json: string, object, number", "POST", NULL, JSON, "auto",
	  "{\"clientId\":\"alice\",\"capability\":{\"ch\":[\"subscribe\"]},"
	  "\"ttl\":60000}", 0, 0, TOK_OK, "alice",
	  "{\"ch\":[\"subscribe\"]}", "60000", 0 },
	{ "post json: capability as a string", "POST", NULL, JSON, "auto",
	  "{\"capability\":\"{\\\"*\\\":[\\\"*\\\"]}\"}", 0, 0, TOK_OK, NULL,
	  "{\"*\":[\"*\"]}", NULL, 0 },
	{ "post json: '/' in capability kept", "POST", NULL, JSON, "auto",
	  "{\"capability\":{\"a/b\":[\"publish\"]}}", 0, 0, TOK_OK, NULL,
	  "{\"a/b\":[\"publish\"]}", NULL, 0 },
	{ "post json: ttl as a string", "POST", NULL, JSON, "auto",
	  "{\"ttl\":\"5000\"}", 0, 0, TOK_OK, NULL, NULL, "5000", 0 },
	{ "post json: fractional ttl kept as text", "POST", NULL, JSON, "auto",
	  "{\"ttl\":1.5}", 0, 0, TOK_OK, NULL, NULL, "1.5", 0 },
	{ "post json: null is absent", "POST", NULL, JSON, "auto",
	  "{\"clientId\":null,\"capability\":null,\"ttl\":null}", 0, 0, TOK_OK,
	  NULL, NULL, NULL, 0 },
	{ "post json: null in body keeps query value", "POST", "ttl=7000",
	  JSON, "auto", "{\"ttl\":null}", 0, 0, TOK_OK, NULL, NULL, "7000", 0 },
	{ "post json: body beats query", "POST", "clientId=q&ttl=1000", JSON,
	  "auto", "{\"clientId\":\"b\"}", 0, 0, TOK_OK, "b", NULL, "1000", 0 },
	{ "post json: unknown members ignored", "POST", NULL, JSON, "auto",
	  "{\"rnd\":[1,2],\"x\":{\"y\":true},\"ttl\":1000}", 0, 0, TOK_OK, NULL,
	  NULL, "1000", 0 },
	{ "post json: whitespace around", "POST", NULL, JSON, "auto",
	  " {\"ttl\":1000}\n", 0, 0, TOK_OK, NULL, NULL, "1000", 0 },
	{ "post json: charset accepted", "POST", NULL,
	  JSON "; charset=utf-8", "auto", "{\"ttl\":1000}", 0, 0, TOK_OK,
	  NULL, NULL, "1000", 0 },
	{ "post json: array ttl", "POST", NULL, JSON, "auto", "{\"ttl\":[1]}",
	  0, 0, TOK_EINVAL, NULL, NULL, NULL, 0 },
	{ "post json: bool clientId", "POST", NULL, JSON, "auto",
	  "{\"clientId\":true}", 0, 0, TOK_EINVAL, NULL, NULL, NULL, 0 },
	{ "post json: array capability", "POST", NULL, JSON, "auto",
	  "{\"capability\":[\"*\"]}", 0, 0, TOK_EINVAL, NULL, NULL, NULL, 0 },
	{ "post json: object clientId", "POST", NULL, JSON, "auto",
	  "{\"clientId\":{\"a\":\"b\"}}", 0, 0, TOK_EINVAL, NULL, NULL, NULL,
	  0 },
	{ "post json: object ttl", "POST", NULL, JSON, "auto",
	  "{\"ttl\":{}}", 0, 0, TOK_EINVAL, NULL, NULL, NULL, 0 },
	{ "post json: NUL in a string", "POST", NULL, JSON, "auto",
	  "{\"clientId\":\"a\\u0000b\"}", 0, 0, TOK_EINVAL, NULL, NULL, NULL,
	  0 },
	{ "post json: NUL in a member name", "POST", NULL, JSON, "auto",
	  "{\"ttl\\u0000x\":5000}", 0, 0, TOK_EINVAL, NULL, NULL, NULL, 0 },
	{ "post json: NUL in a resource name", "POST", NULL, JSON, "auto",
	  "{\"capability\":{\"a\\u0000b\":[\"subscribe\"]}}", 0, 0, TOK_EINVAL,
	  NULL, NULL, NULL, 0 },
	{ "post json: not an object (array)", "POST", NULL, JSON, "auto",
	  "[{\"ttl\":1000}]", 0, 0, TOK_EINVAL, NULL, NULL, NULL, 0 },
	{ "post json: not an object (string)", "POST", NULL, JSON, "auto",
	  "\"ttl\"", 0, 0, TOK_EINVAL, NULL, NULL, NULL, 0 },
	{ "post json: not an object (null)", "POST", NULL, JSON, "auto",
	  "null", 0, 0, TOK_EINVAL, NULL, NULL, NULL, 0 },
	{ "post json: trailing garbage", "POST", NULL, JSON, "auto",
	  "{\"ttl\":1000} x", 0, 0, TOK_EINVAL, NULL, NULL, NULL, 0 },
	{ "post json: two objects", "POST", NULL, JSON, "auto",
	  "{\"ttl\":1000}{}", 0, 0, TOK_EINVAL, NULL, NULL, NULL, 0 },
	{ "post json: truncated", "POST", NULL, JSON, "auto",
	  "{\"ttl\":", 0, 0, TOK_EINVAL, NULL, NULL, NULL, 0 },
	{ "post json: form text", "POST", NULL, JSON, "auto", "ttl=1000", 0, 0,
	  TOK_EINVAL, NULL, NULL, NULL, 0 },
	{ "post json: too deep", "POST", NULL, JSON, "auto",
	  "{\"capability\":{\"a\":[[[[\"x\"]]]]}}", 0, 0, TOK_EINVAL, NULL,
	  NULL, NULL, 0 },
	{ "post json: invalid UTF-8", "POST", NULL, JSON, "auto",
	  "{\"clientId\":\"\xff\xfe\"}", 0, 0, TOK_EINVAL, NULL, NULL, NULL,
	  0 },

	/* Content-Length and Content-Type */
	{ "post: Content-Length over max_body", "POST", NULL, FORM, "65",
	  "ttl=1000", 64, 0, TOK_ETOOBIG, NULL, NULL, NULL, 1 },
	{ "post: Content-Length huge", "POST", NULL, FORM,
	  "18446744073709551615", "ttl=1000", 0, 0, TOK_ETOOBIG, NULL, NULL,
	  NULL, 1 },
	{ "post: Content-Length exactly max_body", "POST", NULL, FORM, "auto",
	  "ttl=1000&rnd=012345678901234567890123456789012345678901234567890",
	  64, 0, TOK_OK, NULL, NULL, "1000", 0 },
	{ "post: body shorter than Content-Length", "POST", NULL, FORM, "20",
	  "ttl=1000", 0, 0, TOK_EINVAL, NULL, NULL, NULL, 0 },
	{ "post: only Content-Length bytes read", "POST", NULL, FORM, "8",
	  "ttl=1000&clientId=x", 0, 0, TOK_OK, NULL, NULL, "1000", 0 },
	{ "post: Content-Length not a number", "POST", NULL, FORM, "abc",
	  "ttl=1000", 0, 0, TOK_EINVAL, NULL, NULL, NULL, 1 },
	{ "post: Content-Length negative", "POST", NULL, FORM, "-1",
	  "ttl=1000", 0, 0, TOK_EINVAL, NULL, NULL, NULL, 1 },
	{ "post: Content-Length with a space", "POST", NULL, FORM, " 8",
	  "ttl=1000", 0, 0, TOK_EINVAL, NULL, NULL, NULL, 1 },
	{ "post: Content-Length with junk", "POST", NULL, FORM, "8x",
	  "ttl=1000", 0, 0, TOK_EINVAL, NULL, NULL, NULL, 1 },
	{ "post: Content-Length overflows", "POST", NULL, FORM,
	  "99999999999999999999999", "ttl=1000", 0, 0, TOK_EINVAL, NULL, NULL,
	  NULL, 1 },
	{ "post: text/plain", "POST", NULL, "text/plain", "auto", "ttl=1000", 0,
	  0, TOK_EMEDIA, NULL, NULL, NULL, 1 },
	{ "post: multipart", "POST", NULL, "multipart/form-data; boundary=x",
	  "auto", "ttl=1000", 0, 0, TOK_EMEDIA, NULL, NULL, NULL, 1 },
	{ "post: application/jsonp", "POST", NULL, "application/jsonp", "auto",
	  "{}", 0, 0, TOK_EMEDIA, NULL, NULL, NULL, 1 },
	{ "post: no Content-Type", "POST", NULL, NULL, "auto", "ttl=1000", 0, 0,
	  TOK_EMEDIA, NULL, NULL, NULL, 1 },
	{ "post: empty body, no type", "POST", "ttl=1000", NULL, "0", NULL, 0,
	  0, TOK_OK, NULL, NULL, "1000", 1 },
	{ "post: no Content-Length", "POST", "ttl=1000", FORM, NULL,
	  "ttl=2000", 0, 0, TOK_OK, NULL, NULL, "1000", 1 },
};

/* Run one parse_case; *r is the caller's to req_free(). */
static enum tok_err
run_case(const struct parse_case *c, struct fake *f, struct request *r,
         struct tok_error *e)
{
	char clen[32];

	memset(f, 0, sizeof(*f));
	fake_set(f, "REQUEST_METHOD", c->method);
	fake_set(f, "QUERY_STRING", c->query);
	fake_set(f, "CONTENT_TYPE", c->ctype);
	if (c->clen != NULL && strcmp(c->clen, "auto") == 0) {
		(void)snprintf(clen, sizeof(clen), "%zu",
		    c->body ? strlen(c->body) : 0);
		fake_set(f, "CONTENT_LENGTH", clen);
	} else {
		fake_set(f, "CONTENT_LENGTH", c->clen);
	}
	fake_set(f, "DOCUMENT_URI", "/request-token");
	fake_body(f, c->body);
	f->chunk = c->chunk;
	memset(e, 0, sizeof(*e));
	return fake_parse(f, r, c->max_body ? c->max_body : 8192, e);
}

static void
test_parse_case(void **state)
{
	const struct parse_case *c = *state;
	struct tok_error e;
	struct request r;
	struct fake f;
	enum tok_err rc;

	rc = unit_rc(c->name, run_case(c, &f, &r, &e), &e, c->want);
	/* Path is set on success and failure alike (for the error answer). */
	assert_non_null(r.path);
	assert_string_equal(r.path, "/request-token");
	if (c->reads_none)
		assert_int_equal(f.reads, 0);
	if (rc == TOK_OK) {
		check_value(&r.client_id, c->client_id, "clientId");
		check_value(&r.capability, c->capability, "capability");
		check_value(&r.ttl, c->ttl, "ttl");
	} else {
		/* Failures carry a client-safe message and a code. */
		assert_true(e.message[0] != '\0');
		assert_int_equal(e.kind, rc);
	}
	req_free(&r);
	assert_null(r.path);
}

/* ------------------------------------------------------------------ */
/* Other req_parse behaviour */

static void
test_content_length_over_max_not_read(void **state)
{
	struct fake f;
	struct request r;
	struct tok_error e;

	(void)state;
	memset(&f, 0, sizeof(f));
	fake_set(&f, "REQUEST_METHOD", "POST");
	fake_set(&f, "CONTENT_TYPE", FORM);
	fake_set(&f, "CONTENT_LENGTH", "100000");
	fake_body(&f, "ttl=1000");
	assert_int_equal(fake_parse(&f, &r, 8192, &e), TOK_ETOOBIG);
	assert_int_equal(f.reads, 0);
	assert_int_equal(f.pos, 0);
	assert_int_equal(tok_http_status(e.kind), 413);
	req_free(&r);
}

static void
test_read_error(void **state)
{
	struct fake f;
	struct request r;
	struct tok_error e;

	(void)state;
	memset(&f, 0, sizeof(f));
	fake_set(&f, "REQUEST_METHOD", "POST");
	fake_set(&f, "CONTENT_TYPE", FORM);
	fake_set(&f, "CONTENT_LENGTH", "8");
	fake_body(&f, "ttl=1000");
	f.fail_read = 1;
	assert_int_equal(fake_parse(&f, &r, 8192, &e), TOK_EINVAL);
	assert_true(f.reads >= 1);
	assert_false(r.ttl.present);
	req_free(&r);
}

static void
test_query_length_limit(void **state)
{
	struct fake f;
	struct request r;
	struct tok_error e;
	char *q;

	(void)state;
	q = malloc(REQ_MAX_QUERY + 2);
	assert_non_null(q);
	/* Exactly REQ_MAX_QUERY bytes: accepted. */
	memcpy(q, "ttl=1000&rnd=", 13);
	memset(q + 13, '7', REQ_MAX_QUERY - 13);
	q[REQ_MAX_QUERY] = '\0';
	memset(&f, 0, sizeof(f));
	fake_set(&f, "REQUEST_METHOD", "GET");
	fake_set(&f, "QUERY_STRING", q);
	assert_int_equal(fake_parse(&f, &r, 8192, &e), TOK_OK);
	check_value(&r.ttl, "1000", "ttl");
	req_free(&r);
	/* One more: too long, a URI problem (414, 41400). */
	q[REQ_MAX_QUERY] = '7';
	q[REQ_MAX_QUERY + 1] = '\0';
	assert_int_equal(fake_parse(&f, &r, 8192, &e), TOK_ETOOLONG);
	assert_int_equal(tok_error_status(&e), 414);
	assert_int_equal(tok_ably_code(&e), 41400);
	assert_false(r.ttl.present);
	assert_non_null(r.path);
	req_free(&r);
	free(q);
}

struct path_case {
	const char *document_uri;
	const char *request_uri;
	const char *script_name;
	const char *want;
};

static void
test_path(void **state)
{
	static const struct path_case cases[] = {
		{ "/request-token", "/other?ttl=1", NULL, "/request-token" },
		{ NULL, "/request-token?ttl=1000&x=y", NULL, "/request-token" },
		{ NULL, "/a/b?", NULL, "/a/b" },
		{ NULL, "/plain", NULL, "/plain" },
		{ "/doc?odd", NULL, NULL, "/doc" },
		{ NULL, NULL, "/cgi-bin/ably-token", "/cgi-bin/ably-token" },
		{ NULL, NULL, NULL, "/" },
		{ NULL, "?only=query", NULL, "" },
	};
	size_t i;

	(void)state;
	for (i = 0; i < N_ELEMENTS(cases); i++) {
		struct fake f;
			struct request r;
		struct tok_error e;

		memset(&f, 0, sizeof(f));
		fake_set(&f, "REQUEST_METHOD", "GET");
		fake_set(&f, "DOCUMENT_URI", cases[i].document_uri);
		fake_set(&f, "REQUEST_URI", cases[i].request_uri);
		fake_set(&f, "SCRIPT_NAME", cases[i].script_name);
		assert_int_equal(fake_parse(&f, &r, 8192, &e), TOK_OK);
		assert_non_null(r.path);
		if (strcmp(r.path, cases[i].want) != 0)
			fail_msg("path case %zu: got \"%s\", want \"%s\"", i,
			    r.path, cases[i].want);
		req_free(&r);
	}
}

struct method_case {
	const char *method;  /* NULL = absent */
	enum req_method want;
	const char *want_name;
};

static void
test_method(void **state)
{
	static const struct method_case cases[] = {
		{ "GET", REQ_GET, "GET" },
		{ "POST", REQ_POST, "POST" },
		{ "OPTIONS", REQ_OPTIONS, "OPTIONS" },
		{ "PUT", REQ_OTHER, "PUT" },
		{ "DELETE", REQ_OTHER, "DELETE" },
		{ "HEAD", REQ_OTHER, "HEAD" },
		{ "get", REQ_OTHER, "get" },      /* methods are case-sensitive */
		{ "GETX", REQ_OTHER, "GETX" },
		{ "", REQ_OTHER, "" },
		{ NULL, REQ_GET, "GET" },
		/* truncated to fit method_name, still safe */
		{ "PROPFINDPROPFIND", REQ_OTHER, "PROPFINDPRO" },
	};
	size_t i;

	(void)state;
	for (i = 0; i < N_ELEMENTS(cases); i++) {
		struct fake f;
			struct request r;
		struct tok_error e;

		memset(&f, 0, sizeof(f));
		fake_set(&f, "REQUEST_METHOD", cases[i].method);
		fake_set(&f, "QUERY_STRING", "ttl=1000");
		assert_int_equal(fake_parse(&f, &r, 8192, &e), TOK_OK);
		if (r.method != cases[i].want)
			fail_msg("method \"%s\": got %d, want %d",
			    cases[i].method ? cases[i].method : "(none)",
			    r.method, cases[i].want);
		assert_string_equal(r.method_name, cases[i].want_name);
		/* Only GET and POST take TokenParams. */
		assert_int_equal(r.ttl.present,
		    cases[i].want == REQ_GET || cases[i].want == REQ_POST);
		req_free(&r);
	}
}

static void
test_options_preflight(void **state)
{
	struct fake f;
	struct request r;
	struct tok_error e;

	(void)state;
	memset(&f, 0, sizeof(f));
	fake_set(&f, "REQUEST_METHOD", "OPTIONS");
	fake_set(&f, "HTTP_ORIGIN", "https://app.example.com");
	fake_set(&f, "HTTP_ACCESS_CONTROL_REQUEST_HEADERS",
	    "authorization, x-ably-version");
	/* A preflight neither parses the query nor reads a body. */
	fake_set(&f, "QUERY_STRING", "ttl=%zz");
	fake_set(&f, "CONTENT_TYPE", FORM);
	fake_set(&f, "CONTENT_LENGTH", "8");
	fake_body(&f, "ttl=1000");
	fake_set(&f, "REQUEST_URI", "/request-token?ttl=%zz");
	assert_int_equal(fake_parse(&f, &r, 8192, &e), TOK_OK);
	assert_int_equal(r.method, REQ_OPTIONS);
	assert_non_null(r.preflight_headers);
	assert_string_equal(r.preflight_headers,
	    "authorization, x-ably-version");
	assert_string_equal(r.origin, "https://app.example.com");
	assert_string_equal(r.path, "/request-token");
	assert_int_equal(f.reads, 0);
	assert_false(r.ttl.present);
	req_free(&r);
	assert_null(r.preflight_headers);
}

static void
test_preflight_headers_only_for_options(void **state)
{
	struct fake f;
	struct request r;
	struct tok_error e;

	(void)state;
	memset(&f, 0, sizeof(f));
	fake_set(&f, "REQUEST_METHOD", "GET");
	fake_set(&f, "HTTP_ACCESS_CONTROL_REQUEST_HEADERS", "x-custom");
	assert_int_equal(fake_parse(&f, &r, 8192, &e), TOK_OK);
	assert_null(r.preflight_headers);
	req_free(&r);
}

static void
test_origin_and_user(void **state)
{
	struct fake f;
	struct request r;
	struct tok_error e;

	(void)state;
	memset(&f, 0, sizeof(f));
	fake_set(&f, "REQUEST_METHOD", "GET");
	fake_set(&f, "HTTP_ORIGIN", "https://a.example");
	fake_set(&f, "REMOTE_USER", "dora");
	assert_int_equal(fake_parse(&f, &r, 8192, &e), TOK_OK);
	assert_string_equal(r.origin, "https://a.example");
	assert_string_equal(r.remote_user, "dora");
	/* Copies, not borrowed pointers. */
	assert_ptr_not_equal(r.origin, f.values[1]);
	req_free(&r);

	memset(&f, 0, sizeof(f));
	fake_set(&f, "REQUEST_METHOD", "GET");
	assert_int_equal(fake_parse(&f, &r, 8192, &e), TOK_OK);
	assert_null(r.origin);
	assert_null(r.remote_user);
	req_free(&r);
}

/* The web server's request id: REQUEST_ID (nginx), else UNIQUE_ID
 * (Apache), each only when it passes the check; a traceparent only when
 * valid. An error request (405) has them too, for its log line. */
static void
test_request_id_and_trace(void **state)
{
	static const struct {
		const char *request_id, *unique_id, *traceparent;
		const char *want_id;
		int want_trace;
	} cases[] = {
		{ "0c4bd9c62d5f3a0e7b1f6a8d2e9c4b17", "Z2x1Y2tAbG9jYWxob3N0", NULL,
		    "0c4bd9c62d5f3a0e7b1f6a8d2e9c4b17", 0 },
		{ NULL, "Z2x1Y2tAbG9jYWxob3N0", NULL, "Z2x1Y2tAbG9jYWxob3N0", 0 },
		{ "has space", "Z2x1Y2tAbG9jYWxob3N0", NULL, "", 0 },
		{ NULL, NULL, "00-4bf92f3577b34da6a3ce929d0e0e4736-"
		    "00f067aa0ba902b7-01", "", 1 },
		{ NULL, NULL, "00-4BF92F3577B34DA6A3CE929D0E0E4736-"
		    "00f067aa0ba902b7-01", "", 0 },
	};
	const char *methods[] = { "GET", "PUT" };
	size_t i, m;

	(void)state;
	for (m = 0; m < N_ELEMENTS(methods); m++)
		for (i = 0; i < N_ELEMENTS(cases); i++) {
			struct fake f;
			struct request r;
			struct tok_error e;

			memset(&f, 0, sizeof(f));
			fake_set(&f, "REQUEST_METHOD", methods[m]);
			fake_set(&f, "REQUEST_ID", cases[i].request_id);
			fake_set(&f, "UNIQUE_ID", cases[i].unique_id);
			fake_set(&f, "HTTP_TRACEPARENT", cases[i].traceparent);
			assert_int_equal(fake_parse(&f, &r, 8192, &e), TOK_OK);
			assert_string_equal(r.server_request_id,
			    cases[i].want_id);
			assert_int_equal(r.has_trace, cases[i].want_trace);
			if (cases[i].want_trace)
				assert_string_equal(r.trace.trace_id,
				    "4bf92f3577b34da6a3ce929d0e0e4736");
			req_free(&r);
		}
}

/* Parameters only the configuration knows the names of (a trusted
 * identity header, TRUSTED_HEADER_SECRET) are copied by req_parse when
 * named, so policy reads them without the web server's source. */
static void
test_req_extra(void **state)
{
	static const struct req_extra extra = { "TRUSTED_HEADER_SECRET",
	    "HTTP_X_AUTH_USER", "HTTP_X_GROUPS" };
	struct fake f;
	struct request r;
	struct tok_error e;
	char *user;

	(void)state;
	memset(&f, 0, sizeof(f));
	fake_set(&f, "REQUEST_METHOD", "GET");
	fake_set(&f, "HTTP_X_AUTH_USER", "erin");
	fake_set(&f, "TRUSTED_HEADER_SECRET", "s3cret-s3cret-s3cret");
	f.extra = &extra;
	assert_int_equal(fake_parse(&f, &r, 8192, &e), TOK_OK);
	/* Copies: the source may be gone while the request waits. */
	user = r.identity_header;
	assert_string_equal(r.identity_header, "erin");
	assert_ptr_not_equal(r.identity_header, f.values[1]);
	assert_string_equal(r.trusted_secret, "s3cret-s3cret-s3cret");
	assert_null(r.group_header);  /* named, but absent */
	memset(&f, 0xa5, sizeof(f));
	assert_string_equal(user, "erin");
	req_free(&r);
	assert_null(r.identity_header);
	assert_null(r.trusted_secret);

	/* Not named: not copied. */
	memset(&f, 0, sizeof(f));
	fake_set(&f, "REQUEST_METHOD", "GET");
	fake_set(&f, "HTTP_X_AUTH_USER", "erin");
	fake_set(&f, "TRUSTED_HEADER_SECRET", "s3cret-s3cret-s3cret");
	assert_int_equal(fake_parse(&f, &r, 8192, &e), TOK_OK);
	assert_null(r.identity_header);
	assert_null(r.trusted_secret);
	assert_null(r.group_header);
	req_free(&r);
}

/* On failure, method/path/origin are still there for the error answer. */
static void
test_failure_keeps_cors_fields(void **state)
{
	struct fake f;
	struct request r;
	struct tok_error e;

	(void)state;
	memset(&f, 0, sizeof(f));
	fake_set(&f, "REQUEST_METHOD", "POST");
	fake_set(&f, "HTTP_ORIGIN", "https://a.example");
	fake_set(&f, "DOCUMENT_URI", "/request-token");
	fake_set(&f, "CONTENT_TYPE", "text/xml");
	fake_set(&f, "CONTENT_LENGTH", "3");
	fake_body(&f, "<a>");
	assert_int_equal(fake_parse(&f, &r, 8192, &e), TOK_EMEDIA);
	assert_int_equal(e.kind, TOK_EMEDIA);
	assert_int_equal(tok_http_status(e.kind), 415);
	assert_int_equal(r.method, REQ_POST);
	assert_string_equal(r.method_name, "POST");
	assert_string_equal(r.origin, "https://a.example");
	assert_string_equal(r.path, "/request-token");
	req_free(&r);
	assert_null(r.origin);
}

/* ------------------------------------------------------------------ */
/* req_form_decode table */

struct decode_case {
	const char *in;
	size_t n;          /* bytes of in to decode; (size_t)-1 = strlen */
	long want_len;     /* -1 = error */
	const char *want;
};

static void
test_form_decode(void **state)
{
	static const struct decode_case cases[] = {
		{ "", (size_t)-1, 0, "" },
		{ "abc", (size_t)-1, 3, "abc" },
		{ "a+b", (size_t)-1, 3, "a b" },
		{ "a%20b", (size_t)-1, 3, "a b" },
		{ "%41%62%2b", (size_t)-1, 3, "Ab+" },
		{ "%e2%82%AC", (size_t)-1, 3, "\xe2\x82\xac" },
		{ "%7B%22*%22%7D", (size_t)-1, 5, "{\"*\"}" },
		{ "%", (size_t)-1, -1, NULL },
		{ "%4", (size_t)-1, -1, NULL },
		{ "a%4", (size_t)-1, -1, NULL },
		{ "%zz", (size_t)-1, -1, NULL },
		{ "%g0", (size_t)-1, -1, NULL },
		{ "%0g", (size_t)-1, -1, NULL },
		{ "%00", (size_t)-1, -1, NULL },
		{ "a%00", (size_t)-1, -1, NULL },
		{ "%%41", (size_t)-1, -1, NULL },
		/* Only n bytes count: the string may go on. */
		{ "ab%41", 2, 2, "ab" },
		{ "x%41", 3, -1, NULL },    /* escape cut short by n */
		{ "a&b", 1, 1, "a" },
		/* A raw NUL byte inside the first n bytes. */
		{ "a\0b", 3, -1, NULL },
	};
	size_t i;

	(void)state;
	for (i = 0; i < N_ELEMENTS(cases); i++) {
		const struct decode_case *c = &cases[i];
		size_t n = c->n == (size_t)-1 ? strlen(c->in) : c->n;
		char out[32];
		long got;

		memset(out, 'Z', sizeof(out));
		got = req_form_decode(c->in, n, out);
		if (got != c->want_len)
			fail_msg("decode case %zu: got %ld, want %ld", i, got,
			    c->want_len);
		if (got >= 0) {
			assert_memory_equal(out, c->want, (size_t)got);
			assert_int_equal(out[got], '\0');
		}
	}
}

int
main(void)
{
	static const struct CMUnitTest fixed[] = {
		cmocka_unit_test(test_content_length_over_max_not_read),
		cmocka_unit_test(test_read_error),
		cmocka_unit_test(test_query_length_limit),
		cmocka_unit_test(test_path),
		cmocka_unit_test(test_method),
		cmocka_unit_test(test_options_preflight),
		cmocka_unit_test(test_preflight_headers_only_for_options),
		cmocka_unit_test(test_origin_and_user),
		cmocka_unit_test(test_request_id_and_trace),
		cmocka_unit_test(test_req_extra),
		cmocka_unit_test(test_failure_keeps_cors_fields),
		cmocka_unit_test(test_form_decode),
	};

	return UNIT_RUN("request", parse_cases, test_parse_case, fixed);
}
