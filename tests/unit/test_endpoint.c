/* test_endpoint: endpoint_handle from request to answer.
 *
 * Each test writes a config file, loads it, and drives endpoint_handle
 * with a fake struct req_source. Answers are taken apart and checked the
 * way ably-js reads them; TokenRequest macs and JWT signatures are
 * recomputed here. stderr is captured around every request so the logs
 * can be searched too: the key secret (and the mac, and the token) must
 * appear in no answer and no log line.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <json-c/json.h>

#include "buf.h"
#include "config.h"
#include "crypto.h"
#include "endpoint.h"
#include "fake_source.h"
#include "log.h"
#include "token_request.h"
#include "unit.h"

#define OUT_MAX (64 * 1024)

#define KEY_NAME   "xVLyHw.A1b2Cq"
#define KEY_SECRET "Jw0xqsCIBjTJP0uLqGsYz3f7e5dN5PLV"
#define KEY        KEY_NAME ":" KEY_SECRET
#define ORIGIN     "https://app.example.com"

/* ------------------------------------------------------------------ */
/* Running a request with stderr captured */

/* Everything answered and logged in this process, for the final check. */
static struct buf everything;

/* Handle one request into out (reset first); logs go to *log (owned by
 * the caller, freed with free()). */
static void
handle(struct endpoint *ep, struct fake *f, struct buf *out, char **log)
{
	struct req_source src = fake_source(f);
	FILE *tmp = tmpfile();
	int saved;
	long n;

	assert_non_null(tmp);
	fflush(stderr);
	saved = dup(STDERR_FILENO);
	assert_true(saved >= 0);
	assert_true(dup2(fileno(tmp), STDERR_FILENO) >= 0);
	buf_reset(out);
	endpoint_handle(ep, &src, out);
	assert_true(dup2(saved, STDERR_FILENO) >= 0);
	close(saved);
	n = lseek(fileno(tmp), 0, SEEK_END);
	assert_true(n >= 0);
	*log = calloc(1, (size_t)n + 1);
	assert_non_null(*log);
	if (n > 0)
		assert_int_equal(pread(fileno(tmp), *log, (size_t)n, 0), n);
	fclose(tmp);
	/* Whatever happened, the secret is in neither. */
	assert_non_null(out->data);
	if (strstr(out->data, KEY_SECRET) != NULL)
		fail_msg("the answer holds the key secret:\n%s", out->data);
	if (strstr(*log, KEY_SECRET) != NULL)
		fail_msg("the log holds the key secret:\n%s", *log);
	assert_int_equal(buf_add(&everything, out->data, out->len), TOK_OK);
	assert_int_equal(buf_adds(&everything, *log), TOK_OK);
}

/* ------------------------------------------------------------------ */
/* Answers taken apart: unit_parse_answer (unit.c) */

/* Parse the whole body as JSON; the caller json_object_put()s it. */
static struct json_object *
body_json(const struct unit_answer *a)
{
	struct json_tokener *tok = json_tokener_new();
	struct json_object *obj;

	assert_non_null(tok);
	obj = json_tokener_parse_ex(tok, a->body, (int)a->body_len);
	if (obj == NULL)
		fail_msg("body is not JSON: %.*s", (int)a->body_len, a->body);
	assert_int_equal(json_tokener_get_parse_end(tok), a->body_len);
	json_tokener_free(tok);
	return obj;
}

static struct json_object *
member(struct json_object *obj, const char *name, enum json_type type)
{
	struct json_object *v = NULL;

	if (!json_object_object_get_ex(obj, name, &v))
		fail_msg("no member \"%s\"", name);
	assert_int_equal(json_object_get_type(v), type);
	return v;
}

/* An Ably-shaped error with this status and code. */
static void
check_error(const struct unit_answer *a, int status, int code)
{
	struct json_object *root, *err;
	char want[16];

	if (a->status != status)
		fail_msg("status %d, want %d; body %.*s", a->status, status,
		    (int)a->body_len, a->body);
	unit_assert_header(a, "Content-Type", "application/json");
	unit_assert_header(a, "Cache-Control", "no-store");
	(void)snprintf(want, sizeof(want), "%d", code);
	unit_assert_header(a, "X-Ably-ErrorCode", want);
	assert_non_null(unit_header(a, "X-Ably-ErrorMessage"));
	root = body_json(a);
	err = member(root, "error", json_type_object);
	assert_int_equal(json_object_get_int(member(err, "code",
	    json_type_int)), code);
	assert_int_equal(json_object_get_int(member(err, "statusCode",
	    json_type_int)), status);
	assert_string_equal(json_object_get_string(member(err, "message",
	    json_type_string)), unit_header(a, "X-Ably-ErrorMessage"));
	json_object_put(root);
}

/* ------------------------------------------------------------------ */
/* Config */

/* Load text as the config file (no environment keys). */
static void
make_config(struct config *c, const char *text)
{
	/* These tests sign locally: token-request unless the text says. */
	unit_load_config(c, strstr(text, "mode =") ? "" :
	    "mode = token-request\n", text);
}

/* ------------------------------------------------------------------ */
/* Signatures, recomputed */

/* Check a TokenRequest answer: fields, and a mac that verifies both with
 * tr_mac and with HMAC over the signed text built here. Returns the
 * parsed object for more checks (caller puts it). */
static struct json_object *
check_token_request(const struct config *c, const struct unit_answer *a,
                    long long t0, long long t1)
{
	struct json_object *root, *v;
	struct token_params p;
	char mac[45], text[1024], b64[CRYPTO_B64_MAC_LEN + 1];
	unsigned char raw[CRYPTO_MAC_LEN];
	const char *got_mac;
	size_t i;
	int n;

	assert_int_equal(a->status, 200);
	unit_assert_header(a, "Content-Type", "application/json");
	unit_assert_header(a, "Cache-Control", "no-store");
	assert_int_equal(a->body[a->body_len - 1], '}');  /* no newline */
	root = body_json(a);
	assert_string_equal(json_object_get_string(member(root, "keyName",
	    json_type_string)), KEY_NAME);
	memset(&p, 0, sizeof(p));
	p.ttl = json_object_get_int64(member(root, "ttl", json_type_int));
	/* capability is a JSON string holding the canonical JSON */
	p.capability = json_object_get_string(member(root, "capability",
	    json_type_string));
	if (json_object_object_get_ex(root, "clientId", &v))
		p.client_id = json_object_get_string(v);
	p.timestamp = json_object_get_int64(member(root, "timestamp",
	    json_type_int));
	assert_in_range(p.timestamp, t0, t1);
	p.nonce = json_object_get_string(member(root, "nonce",
	    json_type_string));
	assert_int_equal(strlen(p.nonce), CRYPTO_NONCE_LEN);
	for (i = 0; i < CRYPTO_NONCE_LEN; i++)
		assert_true(isxdigit((unsigned char)p.nonce[i]) &&
		    !isupper((unsigned char)p.nonce[i]));
	got_mac = json_object_get_string(member(root, "mac",
	    json_type_string));

	assert_int_equal(tr_mac(&c->key, &p, mac), TOK_OK);
	assert_string_equal(got_mac, mac);

	/* The same by hand: keyName\nttl\ncapability\nclientId\n
	 * timestamp\nnonce\n, HMAC-SHA256 with the secret, base64. */
	n = snprintf(text, sizeof(text), "%s\n%lld\n%s\n%s\n%lld\n%s\n",
	    KEY_NAME, p.ttl, p.capability, p.client_id ? p.client_id : "",
	    p.timestamp, p.nonce);
	assert_true(n > 0 && (size_t)n < sizeof(text));
	assert_int_equal(crypto_hmac_sha256(KEY_SECRET, strlen(KEY_SECRET),
	    text, (size_t)n, raw), TOK_OK);
	crypto_b64(raw, sizeof(raw), b64);
	assert_string_equal(got_mac, b64);
	return root;
}

/* Decode one base64url JWT part as JSON; caller puts it. */
static struct json_object *
jwt_part(const char *s, size_t n)
{
	unsigned char *raw = malloc(n + 1);
	struct json_object *obj;
	long len;

	assert_non_null(raw);
	len = crypto_b64url_decode(s, n, raw);
	assert_true(len > 0);
	raw[len] = '\0';
	obj = json_tokener_parse((const char *)raw);
	if (obj == NULL)
		fail_msg("JWT part is not JSON: %s", raw);
	free(raw);
	return obj;
}

/* Check a JWT answer (text/plain); returns the claims (caller puts). */
static struct json_object *
check_jwt(const struct unit_answer *a, long long t0, long long t1)
{
	struct json_object *head, *claims;
	unsigned char raw[CRYPTO_MAC_LEN];
	char sig[CRYPTO_B64_MAC_LEN + 1];
	const char *dot1, *dot2, *end = a->body + a->body_len;

	assert_int_equal(a->status, 200);
	unit_assert_header(a, "Content-Type", "text/plain");
	unit_assert_header(a, "Cache-Control", "no-store");
	/* Three base64url parts, no padding, no whitespace, no newline. */
	assert_int_equal(strspn(a->body, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghij"
	    "klmnopqrstuvwxyz0123456789-_."), a->body_len);
	dot1 = memchr(a->body, '.', a->body_len);
	assert_non_null(dot1);
	dot2 = memchr(dot1 + 1, '.', (size_t)(end - dot1 - 1));
	assert_non_null(dot2);
	assert_null(memchr(dot2 + 1, '.', (size_t)(end - dot2 - 1)));

	head = jwt_part(a->body, (size_t)(dot1 - a->body));
	assert_string_equal(json_object_get_string(member(head, "alg",
	    json_type_string)), "HS256");
	assert_string_equal(json_object_get_string(member(head, "typ",
	    json_type_string)), "JWT");
	assert_string_equal(json_object_get_string(member(head, "kid",
	    json_type_string)), KEY_NAME);
	json_object_put(head);

	claims = jwt_part(dot1 + 1, (size_t)(dot2 - dot1 - 1));
	assert_in_range(json_object_get_int64(member(claims, "iat",
	    json_type_int)), t0 / 1000, t1 / 1000);

	/* signature = base64url(HMAC-SHA256(secret, header "." claims)) */
	assert_int_equal(crypto_hmac_sha256(KEY_SECRET, strlen(KEY_SECRET),
	    a->body, (size_t)(dot2 - a->body), raw), TOK_OK);
	crypto_b64url(raw, sizeof(raw), sig);
	assert_int_equal(strlen(sig), (size_t)(end - dot2 - 1));
	assert_memory_equal(sig, dot2 + 1, strlen(sig));
	return claims;
}

/* ------------------------------------------------------------------ */
/* Tests */

static void
test_token_request_defaults(void **state)
{
	struct config c;
	struct endpoint ep;
	struct fake f;
	struct buf out;
	struct unit_answer a;
	struct json_object *tr, *v;
	long long t0, t1;
	char *log;

	(void)state;
	make_config(&c, "key = " KEY "\n");
	endpoint_init(&ep, &c);
	buf_init(&out, OUT_MAX);
	fake_request(&f, "GET", "/request-token?rnd=8127", NULL);
	t0 = endpoint_now_ms();
	handle(&ep, &f, &out, &log);
	t1 = endpoint_now_ms();
	unit_parse_answer(&out, &a, 0);
	tr = check_token_request(&c, &a, t0, t1);
	assert_int_equal(json_object_get_int64(member(tr, "ttl",
	    json_type_int)), 3600000);
	/* The built-in policy: anonymous, listening on public: channels. */
	assert_string_equal(json_object_get_string(member(tr, "capability",
	    json_type_string)), "{\"public:*\":[\"subscribe\"]}");
	assert_false(json_object_object_get_ex(tr, "clientId", &v));
	assert_int_equal(json_object_object_length(tr), 6);
	json_object_put(tr);
	/* No CORS configured: no CORS headers, no Vary. */
	assert_null(unit_header(&a, "Access-Control-Allow-Origin"));
	assert_null(unit_header(&a, "Vary"));
	/* The mac is never logged. */
	tr = body_json(&a);
	v = member(tr, "mac", json_type_string);
	assert_null(strstr(log, json_object_get_string(v)));
	json_object_put(tr);
	assert_int_equal(ep.counts->requests, 1);
	assert_int_equal(ep.counts->errors, 0);
	free(log);
	buf_free(&out);
	config_free(&c);
}

static void
test_token_request_params(void **state)
{
	struct config c;
	struct endpoint ep;
	struct fake f;
	struct buf out;
	struct unit_answer a;
	struct json_object *tr;
	long long t0, t1;
	char *log;

	(void)state;
	make_config(&c, "key = " KEY "\nclient_id = alice\n"
	    "capability = {\"chat:*\":[\"publish\",\"subscribe\"]}\n");
	endpoint_init(&ep, &c);
	buf_init(&out, OUT_MAX);
	/* As ably-js sends it: canonical capability, '+' for spaces. */
	fake_request(&f, "GET", "/request-token?ttl=60000&capability="
	    "%7B%22chat%3Alobby%22%3A%5B%22subscribe%22%5D%7D&clientId=alice",
	    NULL);
	t0 = endpoint_now_ms();
	handle(&ep, &f, &out, &log);
	t1 = endpoint_now_ms();
	unit_parse_answer(&out, &a, 0);
	tr = check_token_request(&c, &a, t0, t1);
	assert_int_equal(json_object_get_int64(member(tr, "ttl",
	    json_type_int)), 60000);
	assert_string_equal(json_object_get_string(member(tr, "capability",
	    json_type_string)), "{\"chat:lobby\":[\"subscribe\"]}");
	assert_string_equal(json_object_get_string(member(tr, "clientId",
	    json_type_string)), "alice");
	json_object_put(tr);
	free(log);
	buf_free(&out);
	config_free(&c);
}

static void
test_token_request_post_bodies(void **state)
{
	static const struct {
		const char *ctype, *body;
	} cases[] = {
		{ "application/x-www-form-urlencoded",
		  "ttl=120000&capability=%7B%22status%22%3A%5B%22subscribe"
		  "%22%5D%7D" },
		{ "application/json; charset=utf-8",
		  "{\"ttl\":120000,\"capability\":{\"status\":"
		  "[\"subscribe\"]},\"clientId\":null}" },
	};
	struct config c;
	struct endpoint ep;
	struct buf out;
	size_t i;

	(void)state;
	make_config(&c, "key = " KEY "\nclient_id =\n"
	    "capability = {\"*\":[\"*\"]}\n");
	endpoint_init(&ep, &c);
	buf_init(&out, OUT_MAX);
	for (i = 0; i < N_ELEMENTS(cases); i++) {
		struct fake f;
		struct unit_answer a;
		struct json_object *tr, *v;
		char clen[24], *log;
		long long t0, t1;

		fake_request(&f, "POST", "/request-token?ttl=5000", NULL);
		fake_post_body(&f, cases[i].ctype, cases[i].body, clen);
		t0 = endpoint_now_ms();
		handle(&ep, &f, &out, &log);
		t1 = endpoint_now_ms();
		unit_parse_answer(&out, &a, 0);
		tr = check_token_request(&c, &a, t0, t1);
		/* the body's ttl beats the query's */
		assert_int_equal(json_object_get_int64(member(tr, "ttl",
		    json_type_int)), 120000);
		assert_string_equal(json_object_get_string(member(tr,
		    "capability", json_type_string)),
		    "{\"status\":[\"subscribe\"]}");
		/* anonymous: no clientId at all */
		assert_false(json_object_object_get_ex(tr, "clientId", &v));
		json_object_put(tr);
		free(log);
	}
	buf_free(&out);
	config_free(&c);
}

/* Each TokenRequest is one-shot: new nonce, new mac. */
static void
test_token_requests_differ(void **state)
{
	struct config c;
	struct endpoint ep;
	struct fake f;
	struct buf out;
	struct unit_answer a;
	struct json_object *tr;
	char nonce[CRYPTO_NONCE_LEN + 1], mac[64], *log;

	(void)state;
	make_config(&c, "key = " KEY "\n");
	endpoint_init(&ep, &c);
	buf_init(&out, OUT_MAX);
	fake_request(&f, "GET", "/request-token", NULL);
	handle(&ep, &f, &out, &log);
	free(log);
	unit_parse_answer(&out, &a, 0);
	tr = body_json(&a);
	(void)snprintf(nonce, sizeof(nonce), "%s", json_object_get_string(
	    member(tr, "nonce", json_type_string)));
	(void)snprintf(mac, sizeof(mac), "%s", json_object_get_string(
	    member(tr, "mac", json_type_string)));
	json_object_put(tr);
	fake_request(&f, "GET", "/request-token", NULL);
	handle(&ep, &f, &out, &log);
	free(log);
	unit_parse_answer(&out, &a, 0);
	tr = body_json(&a);
	assert_string_not_equal(json_object_get_string(member(tr, "nonce",
	    json_type_string)), nonce);
	assert_string_not_equal(json_object_get_string(member(tr, "mac",
	    json_type_string)), mac);
	json_object_put(tr);
	buf_free(&out);
	config_free(&c);
}

static void
test_jwt_mode(void **state)
{
	struct config c;
	struct endpoint ep;
	struct fake f;
	struct buf out;
	struct unit_answer a;
	struct json_object *claims;
	long long t0, t1, iat, exp;
	char *log;

	(void)state;
	make_config(&c, "key = " KEY "\nmode = jwt\nclient_id = bob\n"
	    "capability = {\"room:*\":[\"subscribe\",\"presence\"]}\n");
	endpoint_init(&ep, &c);
	buf_init(&out, OUT_MAX);
	fake_request(&f, "GET", "/request-token?ttl=60000&clientId=bob", NULL);
	t0 = endpoint_now_ms();
	handle(&ep, &f, &out, &log);
	t1 = endpoint_now_ms();
	unit_parse_answer(&out, &a, 0);
	claims = check_jwt(&a, t0, t1);
	iat = json_object_get_int64(member(claims, "iat", json_type_int));
	exp = json_object_get_int64(member(claims, "exp", json_type_int));
	assert_int_equal(exp - iat, 60);
	assert_string_equal(json_object_get_string(member(claims,
	    "x-ably-capability", json_type_string)),
	    "{\"room:*\":[\"presence\",\"subscribe\"]}");
	assert_string_equal(json_object_get_string(member(claims,
	    "x-ably-clientId", json_type_string)), "bob");
	json_object_put(claims);
	/* The token itself is never logged. */
	assert_null(memmem(log, strlen(log), a.body, a.body_len));
	assert_int_equal(ep.counts->errors, 0);
	free(log);
	buf_free(&out);
	config_free(&c);
}

static void
test_jwt_anonymous_default_ttl(void **state)
{
	struct config c;
	struct endpoint ep;
	struct fake f;
	struct buf out;
	struct unit_answer a;
	struct json_object *claims, *v;
	long long t0, t1;
	char *log;

	(void)state;
	make_config(&c, "key = " KEY "\nmode = jwt\nclient_id =\nttl = 10m\n"
	    "capability = {\"*\":[\"*\"]}\n");
	endpoint_init(&ep, &c);
	buf_init(&out, OUT_MAX);
	fake_request(&f, "GET", "/request-token", NULL);
	t0 = endpoint_now_ms();
	handle(&ep, &f, &out, &log);
	t1 = endpoint_now_ms();
	unit_parse_answer(&out, &a, 0);
	claims = check_jwt(&a, t0, t1);
	assert_int_equal(json_object_get_int64(member(claims, "exp",
	    json_type_int)) - json_object_get_int64(member(claims, "iat",
	    json_type_int)), 600);
	assert_false(json_object_object_get_ex(claims, "x-ably-clientId", &v));
	assert_string_equal(json_object_get_string(member(claims,
	    "x-ably-capability", json_type_string)), "{\"*\":[\"*\"]}");
	json_object_put(claims);
	free(log);
	buf_free(&out);
	config_free(&c);
}

static void
test_no_key(void **state)
{
	static const char *const modes[] = { "token-request", "jwt" };
	size_t i;

	(void)state;
	for (i = 0; i < N_ELEMENTS(modes); i++) {
		struct config c;
		struct endpoint ep;
		struct fake f;
		struct buf out;
		struct unit_answer a;
		char text[64], *log;

		(void)snprintf(text, sizeof(text), "mode = %s\n", modes[i]);
		make_config(&c, text);
		assert_false(key_loaded(&c.key));
		endpoint_init(&ep, &c);
		buf_init(&out, OUT_MAX);
		fake_request(&f, "GET", "/request-token", NULL);
		handle(&ep, &f, &out, &log);
		unit_parse_answer(&out, &a, 0);
		check_error(&a, 500, 50000);
		assert_true(strlen(log) > 0);  /* a 500 is logged */
		assert_int_equal(ep.counts->errors, 1);
		free(log);
		buf_free(&out);
		config_free(&c);
	}
}

struct method_case {
	const char *cors;      /* config cors_origins line, or "" */
	const char *method;
	const char *allow;
};

static void
test_method_not_allowed(void **state)
{
	static const struct method_case cases[] = {
		{ "", "PUT", "GET, POST" },
		{ "", "DELETE", "GET, POST" },
		{ "", "HEAD", "GET, POST" },
		{ "", "get", "GET, POST" },
		{ "cors_origins = " ORIGIN "\n", "PUT", "GET, POST, OPTIONS" },
	};
	size_t i;

	(void)state;
	for (i = 0; i < N_ELEMENTS(cases); i++) {
		struct config c;
		struct endpoint ep;
		struct fake f;
		struct buf out;
		struct unit_answer a;
		char text[256], *log;

		(void)snprintf(text, sizeof(text), "key = %s\n%s", KEY,
		    cases[i].cors);
		make_config(&c, text);
		endpoint_init(&ep, &c);
		buf_init(&out, OUT_MAX);
		fake_request(&f, cases[i].method, "/request-token?ttl=1000",
		    NULL);
		handle(&ep, &f, &out, &log);
		unit_parse_answer(&out, &a, 0);
		check_error(&a, 405, 40500);
		unit_assert_header(&a, "Allow", cases[i].allow);
		free(log);
		buf_free(&out);
		config_free(&c);
	}
}

static void
test_preflight_allowed_origin(void **state)
{
	struct config c;
	struct endpoint ep;
	struct fake f;
	struct buf out;
	struct unit_answer a;
	char *log;

	(void)state;
	make_config(&c, "key = " KEY "\ncors_origins = https://other.example, "
	    ORIGIN "\n");
	endpoint_init(&ep, &c);
	buf_init(&out, OUT_MAX);
	fake_request(&f, "OPTIONS", "/request-token", ORIGIN);
	fake_set(&f, "HTTP_ACCESS_CONTROL_REQUEST_HEADERS",
	    "authorization,x-ably-version");
	handle(&ep, &f, &out, &log);
	unit_parse_answer(&out, &a, 0);
	assert_int_equal(a.status, 204);
	assert_int_equal(a.body_len, 0);
	unit_assert_header(&a, "Access-Control-Allow-Origin", ORIGIN);
	unit_assert_header(&a, "Access-Control-Allow-Credentials", "true");
	unit_assert_header(&a, "Access-Control-Allow-Methods", "GET, POST");
	unit_assert_header(&a, "Access-Control-Allow-Headers",
	    "authorization,x-ably-version");
	unit_assert_header(&a, "Vary", "Origin");
	unit_assert_header(&a, "Cache-Control", "no-store");
	assert_int_equal(ep.counts->errors, 0);
	free(log);
	buf_free(&out);
	config_free(&c);
}

static void
test_preflight_other_origin(void **state)
{
	static const char *const origins[] = {
		"https://evil.example",
		"https://app.example.com.evil.example",
		"http://app.example.com",
		"https://app.example.com/",
		"null",
		NULL,
	};
	struct config c;
	struct endpoint ep;
	struct buf out;
	size_t i;

	(void)state;
	make_config(&c, "key = " KEY "\ncors_origins = " ORIGIN "\n");
	endpoint_init(&ep, &c);
	buf_init(&out, OUT_MAX);
	for (i = 0; i < N_ELEMENTS(origins); i++) {
		struct fake f;
		struct unit_answer a;
		char *log;

		fake_request(&f, "OPTIONS", "/request-token", origins[i]);
		fake_set(&f, "HTTP_ACCESS_CONTROL_REQUEST_HEADERS",
		    "authorization");
		handle(&ep, &f, &out, &log);
		unit_parse_answer(&out, &a, 0);
		check_error(&a, 403, 40300);
		assert_null(unit_header(&a, "Access-Control-Allow-Origin"));
		assert_null(unit_header(&a, "Access-Control-Allow-Headers"));
		unit_assert_header(&a, "Vary", "Origin");
		free(log);
	}
	assert_int_equal(ep.counts->requests, N_ELEMENTS(origins));
	assert_int_equal(ep.counts->errors, N_ELEMENTS(origins));
	buf_free(&out);
	config_free(&c);
}

/* CORS headers follow the origin on token answers and errors alike. */
static void
test_cors_on_token_answers(void **state)
{
	struct config c;
	struct endpoint ep;
	struct fake f;
	struct buf out;
	struct unit_answer a;
	char *log;

	(void)state;
	make_config(&c, "key = " KEY "\ncors_origins = " ORIGIN "\n");
	endpoint_init(&ep, &c);
	buf_init(&out, OUT_MAX);

	fake_request(&f, "GET", "/request-token", ORIGIN);
	handle(&ep, &f, &out, &log);
	free(log);
	unit_parse_answer(&out, &a, 0);
	assert_int_equal(a.status, 200);
	unit_assert_header(&a, "Access-Control-Allow-Origin", ORIGIN);
	assert_non_null(strstr(unit_header(&a, "Access-Control-Expose-Headers"),
	    "X-Ably-ErrorCode"));
	unit_assert_header(&a, "Vary", "Origin");

	fake_request(&f, "GET", "/request-token?ttl=5", ORIGIN);
	handle(&ep, &f, &out, &log);
	free(log);
	unit_parse_answer(&out, &a, 0);
	check_error(&a, 400, 40003);
	unit_assert_header(&a, "Access-Control-Allow-Origin", ORIGIN);

	fake_request(&f, "GET", "/request-token", "https://evil.example");
	handle(&ep, &f, &out, &log);
	free(log);
	unit_parse_answer(&out, &a, 0);
	assert_int_equal(a.status, 200);
	assert_null(unit_header(&a, "Access-Control-Allow-Origin"));
	unit_assert_header(&a, "Vary", "Origin");
	buf_free(&out);
	config_free(&c);
}

static void
test_health(void **state)
{
	struct config c;
	struct endpoint ep;
	struct fake f;
	struct buf out;
	struct unit_answer a;
	struct json_object *h;
	char *log;

	(void)state;
	make_config(&c, "key = " KEY "\nmode = jwt\n");
	endpoint_init(&ep, &c);
	buf_init(&out, OUT_MAX);
	/* one error first, so the counters show up */
	fake_request(&f, "PUT", "/request-token", NULL);
	handle(&ep, &f, &out, &log);
	free(log);
	fake_request(&f, "GET", "/healthz?probe=1", NULL);
	handle(&ep, &f, &out, &log);
	free(log);
	unit_parse_answer(&out, &a, 0);
	assert_int_equal(a.status, 200);
	unit_assert_header(&a, "Content-Type", "application/json");
	unit_assert_header(&a, "Cache-Control", "no-store");
	assert_non_null(memmem(a.body, a.body_len, "\"key\":\"loaded\"", 14));
	h = body_json(&a);
	assert_string_equal(json_object_get_string(member(h, "status",
	    json_type_string)), "ok");
	assert_string_equal(json_object_get_string(member(h, "mode",
	    json_type_string)), "jwt");
	assert_string_equal(json_object_get_string(member(h, "key",
	    json_type_string)), "loaded");
	assert_int_equal(json_object_get_int(member(h, "requests",
	    json_type_int)), 2);
	assert_int_equal(json_object_get_int(member(h, "errors",
	    json_type_int)), 1);
	assert_int_equal(json_object_get_int(member(h, "pid",
	    json_type_int)), getpid());
	json_object_put(h);
	assert_int_equal(ep.counts->requests, 2);
	assert_int_equal(ep.counts->errors, 1);
	buf_free(&out);
	config_free(&c);
}

static void
test_health_without_key(void **state)
{
	struct config c;
	struct endpoint ep;
	struct fake f;
	struct buf out;
	struct unit_answer a;
	struct json_object *h;
	char *log;

	(void)state;
	make_config(&c, "health_path = /status\n");
	endpoint_init(&ep, &c);
	buf_init(&out, OUT_MAX);
	fake_request(&f, "GET", "/status", NULL);
	handle(&ep, &f, &out, &log);
	free(log);
	unit_parse_answer(&out, &a, 0);
	assert_int_equal(a.status, 200);
	h = body_json(&a);
	assert_string_equal(json_object_get_string(member(h, "key",
	    json_type_string)), "missing");
	assert_string_equal(json_object_get_string(member(h, "status",
	    json_type_string)), "misconfigured");
	json_object_put(h);
	/* The old default path is now an ordinary (failing) token request. */
	fake_request(&f, "GET", "/healthz", NULL);
	handle(&ep, &f, &out, &log);
	free(log);
	unit_parse_answer(&out, &a, 0);
	check_error(&a, 500, 50000);
	buf_free(&out);
	config_free(&c);
}

/* The readiness answer: 200 "ready" with a key; 503 with the reason when
 * there is none or the worker is stopping (a retiring one stays ready). */
static void
test_ready(void **state)
{
	static const struct {
		const char *config;
		int stopping, status;
		const char *body;
	} cases[] = {
		{ "key = " KEY "\n", 0, 200, "ready\n" },
		{ "key = " KEY "\n", 1, 503, "not ready: stopping\n" },
		{ "", 0, 503, "not ready: no Ably key is configured\n" },
		{ "key = " KEY "\nready_path = /up\n", 0, 200, "ready\n" },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct config c;
		struct endpoint ep;
		struct fake f;
		struct buf out;
		struct unit_answer a;
		char *log;

		make_config(&c, cases[i].config);
		endpoint_init(&ep, &c);
		ep.stopping = cases[i].stopping;
		buf_init(&out, OUT_MAX);
		fake_request(&f, "GET", strstr(cases[i].config, "/up") ?
		    "/up" : "/readyz", NULL);
		handle(&ep, &f, &out, &log);
		free(log);
		unit_parse_answer(&out, &a, 0);
		assert_int_equal(a.status, cases[i].status);
		unit_assert_header(&a, "Content-Type", "text/plain");
		unit_assert_header(&a, "Cache-Control", "no-store");
		assert_int_equal(a.body_len, strlen(cases[i].body));
		assert_memory_equal(a.body, cases[i].body, a.body_len);
		buf_free(&out);
		config_free(&c);
	}
}

/* A probe path set empty: a GET there is an ordinary token request. */
static void
test_probe_disabled(void **state)
{
	static const struct {
		const char *config, *path;
	} cases[] = {
		{ "key = " KEY "\nhealth_path =\n", "/healthz" },
		{ "key = " KEY "\nready_path =\n", "/readyz" },
		{ "key = " KEY "\nmetrics_path =\n", "/metrics" },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct config c;
		struct endpoint ep;
		struct fake f;
		struct buf out;
		struct unit_answer a;
		struct json_object *tr;
		long long t0, t1;
		char *log;

		make_config(&c, cases[i].config);
		endpoint_init(&ep, &c);
		buf_init(&out, OUT_MAX);
		fake_request(&f, "GET", cases[i].path, NULL);
		t0 = endpoint_now_ms();
		handle(&ep, &f, &out, &log);
		t1 = endpoint_now_ms();
		free(log);
		unit_parse_answer(&out, &a, 0);
		tr = check_token_request(&c, &a, t0, t1);  /* not a probe */
		json_object_put(tr);
		buf_free(&out);
		config_free(&c);
	}
}

/* The health path never hands out a credential, whatever the method. */
static void
test_health_path_get_only(void **state)
{
	static const char *const methods[] = { "POST", "PUT", "DELETE" };
	struct config c;
	struct endpoint ep;
	struct buf out;
	size_t i;

	(void)state;
	make_config(&c, "key = " KEY "\n");
	endpoint_init(&ep, &c);
	buf_init(&out, OUT_MAX);
	for (i = 0; i < N_ELEMENTS(methods); i++) {
		struct fake f;
		struct unit_answer a;
		char clen[24], *log;

		fake_request(&f, methods[i], "/healthz", NULL);
		fake_post_body(&f, "application/x-www-form-urlencoded",
		    "ttl=60000", clen);
		handle(&ep, &f, &out, &log);
		free(log);
		unit_parse_answer(&out, &a, 0);
		check_error(&a, 405, 40500);
		unit_assert_header(&a, "Allow", "GET");
		assert_null(memmem(a.body, a.body_len, "keyName", 7));
		assert_null(memmem(a.body, a.body_len, "mac", 3));
	}
	assert_int_equal(ep.counts->errors, N_ELEMENTS(methods));
	buf_free(&out);
	config_free(&c);
}

/* Failures map to the right status and Ably code. */
struct fail_case {
	const char *name;
	const char *method;
	const char *uri;
	const char *ctype;    /* POST only */
	const char *body;
	int status;
	int code;
};

static const struct fail_case fail_cases[] = {
	{ "foreign clientId", "GET", "/t?clientId=mallory", NULL, NULL, 403,
	  40300 },
	{ "empty clientId", "GET", "/t?clientId=", NULL, NULL, 400, 40012 },
	/* A wider capability is intersected with the allowed one (policy);
	 * only one with nothing in common is refused. */
	{ "capability disjoint", "GET", "/t?capability=%7B%22b%22%3A%5B%22*"
	  "%22%5D%7D", NULL, NULL, 403, 40160 },
	{ "capability unknown op", "GET", "/t?capability=%7B%22a%22%3A%5B%22"
	  "fly%22%5D%7D", NULL, NULL, 400, 40000 },
	{ "ttl too small", "GET", "/t?ttl=999", NULL, NULL, 400, 40003 },
	{ "ttl over max_ttl", "GET", "/t?ttl=3600001", NULL, NULL, 400, 40003 },
	{ "ttl twice", "GET", "/t?ttl=1000&ttl=1000", NULL, NULL, 400, 40000 },
	{ "bad escape", "GET", "/t?clientId=%zz", NULL, NULL, 400, 40000 },
	{ "JSON not an object", "POST", "/t", "application/json", "[1]", 400,
	  40000 },
	/* request.c gives 413 and 415 the generic code 40000 (error.c's
	 * defaults would be 41300 / 41500). */
	{ "unsupported media type", "POST", "/t", "text/plain", "ttl=1000",
	  415, 40000 },
	{ "body over max_body", "POST", "/t", "application/json",
	  "{\"ttl\":1000,\"rnd\":\"01234567890123456789012345678901234567890"
	  "12345678901234567890123456789\"}", 413, 40000 },
};

static void
test_fail_case(void **state)
{
	const struct fail_case *t = *state;
	struct config c;
	struct endpoint ep;
	struct fake f;
	struct buf out;
	struct unit_answer a;
	char clen[24], *log;

	make_config(&c, "key = " KEY "\nclient_id = alice\nmax_ttl = 1h\n"
	    "max_body = 64\ncapability = {\"a\":[\"subscribe\"]}\n");
	endpoint_init(&ep, &c);
	buf_init(&out, OUT_MAX);
	fake_request(&f, t->method, t->uri, NULL);
	if (t->body != NULL)
		fake_post_body(&f, t->ctype, t->body, clen);
	handle(&ep, &f, &out, &log);
	unit_parse_answer(&out, &a, 0);
	check_error(&a, t->status, t->code);
	assert_int_equal(ep.counts->requests, 1);
	assert_int_equal(ep.counts->errors, 1);
	if (t->status == 413)
		assert_int_equal(f.reads, 0);
	free(log);
	buf_free(&out);
	config_free(&c);
}

/* requests counts everything, errors only the failures. */
static void
test_counters(void **state)
{
	static const struct {
		const char *method;
		const char *uri;
		const char *origin;
		int error;
	} steps[] = {
		{ "GET", "/request-token", NULL, 0 },
		{ "GET", "/request-token?ttl=1", NULL, 1 },
		{ "PUT", "/request-token", NULL, 1 },
		{ "GET", "/healthz", NULL, 0 },
		{ "OPTIONS", "/request-token", ORIGIN, 0 },
		{ "OPTIONS", "/request-token", "https://evil.example", 1 },
		{ "POST", "/request-token", NULL, 0 },
		{ "GET", "/request-token?clientId=x", NULL, 1 },
	};
	struct config c;
	struct endpoint ep;
	struct buf out;
	unsigned long errors = 0;
	size_t i;

	(void)state;
	make_config(&c, "key = " KEY "\ncors_origins = " ORIGIN "\n");
	endpoint_init(&ep, &c);
	assert_int_equal(ep.counts->requests, 0);
	assert_int_equal(ep.counts->errors, 0);
	assert_ptr_equal(ep.cfg, &c);
	buf_init(&out, OUT_MAX);
	for (i = 0; i < N_ELEMENTS(steps); i++) {
		struct fake f;
		struct unit_answer a;
		char *log;
		char rid[48];

		fake_request(&f, steps[i].method, steps[i].uri,
		    steps[i].origin);
		handle(&ep, &f, &out, &log);
		/* The count numbers the request ids of the log lines. */
		(void)snprintf(rid, sizeof(rid), "rid=%ld-%zu:", ep.pid, i + 1);
		if (strstr(log, rid) == NULL)
			fail_msg("step %zu: no request id %s in: %s", i, rid, log);
		free(log);
		unit_parse_answer(&out, &a, 0);
		errors += (unsigned long)steps[i].error;
		if ((a.status >= 400) != steps[i].error)
			fail_msg("step %zu: status %d", i, a.status);
		assert_int_equal(ep.counts->requests, i + 1);
		assert_int_equal(ep.counts->errors, errors);
	}
	buf_free(&out);
	config_free(&c);
}

/* Runs last: across every answer and log line of this run, the secret
 * never showed up (each request was checked too; this is the belt). */
static void
test_secret_never_output(void **state)
{
	(void)state;
	assert_true(everything.len > 0);
	assert_null(memmem(everything.data, everything.len, KEY_SECRET,
	    strlen(KEY_SECRET)));
	/* Nor its base64 (in case something encoded it). */
	assert_null(memmem(everything.data, everything.len, "SncweHFzQ0lC",
	    12));
	/* The key name, which is public, did appear: the search works. */
	assert_non_null(memmem(everything.data, everything.len, KEY_NAME,
	    strlen(KEY_NAME)));
}

static int
group_setup(void **state)
{
	(void)state;
	buf_init(&everything, 16 * 1024 * 1024);
	log_set_level(LOGL_DEBUG);  /* log as much as possible */
	return 0;
}

static int
group_teardown(void **state)
{
	(void)state;
	buf_free(&everything);
	unsetenv("ABLY_API_KEY");
	unsetenv("VITE_ABLY_KEY");
	return 0;
}

int
main(void)
{
	static const struct CMUnitTest first[] = {
		cmocka_unit_test(test_token_request_defaults),
		cmocka_unit_test(test_ready),
		cmocka_unit_test(test_probe_disabled),
		cmocka_unit_test(test_token_request_params),
		cmocka_unit_test(test_token_request_post_bodies),
		cmocka_unit_test(test_token_requests_differ),
		cmocka_unit_test(test_jwt_mode),
		cmocka_unit_test(test_jwt_anonymous_default_ttl),
		cmocka_unit_test(test_no_key),
		cmocka_unit_test(test_method_not_allowed),
		cmocka_unit_test(test_preflight_allowed_origin),
		cmocka_unit_test(test_preflight_other_origin),
		cmocka_unit_test(test_cors_on_token_answers),
		cmocka_unit_test(test_health),
		cmocka_unit_test(test_health_without_key),
		cmocka_unit_test(test_health_path_get_only),
		cmocka_unit_test(test_counters),
	};
	static const struct CMUnitTest last =
		cmocka_unit_test(test_secret_never_output);
	struct CMUnitTest tests[N_ELEMENTS(first) + N_ELEMENTS(fail_cases) + 1];
	size_t n = 0;

	n = UNIT_TESTS(tests, n, first);
	n = UNIT_CASES(tests, n, fail_cases, test_fail_case);
	tests[n++] = last;
	return cmocka_run_group_tests_name("endpoint", tests, group_setup,
	    group_teardown);
}
