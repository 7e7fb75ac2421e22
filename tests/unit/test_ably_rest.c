/* Unit tests: ably_rest, the token call's state machine (clock, hosts,
 * retries, verdicts, deadline), on a fake transport: this file defines
 * upstream.h's and ably_handles.h's functions itself and is linked without
 * their objects (the Makefile's UNIT_FAKES_test_ably_rest). A transfer
 * started is only recorded; the test ends it when it likes, with the
 * CURLcode, HTTP status, headers and body it chooses. No network. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "ably_handles.h"
#include "ably_rest.h"
#include "clock.h"
#include "config.h"
#include "key.h"
#include "upstream.h"

#define MAX_XFERS 32

/* A transfer the client started: its options (as prepared) and whom to
 * tell when it ends. */
struct xfer {
	CURL *h;
	char url[512];
	char post[2048];        /* "" for a GET */
	char traceparent[96];   /* its traceparent header line, or "" */
	struct buf *body;
	char *err;
	int *from_cdn;
	upstream_done_fn done;
	void *ctx;
	int started, ended;
};

static struct {
	struct xfer x[MAX_XFERS];
	size_t n;               /* prepared (started or not) */
	size_t started;
	int handles_out;        /* got and not yet put back */
} fake;

/* --- the fake ably_handles: real (idle) easy handles, options recorded */

struct ably_handles {
	int unused;
};

enum tok_err
ably_handles_new(const struct config *cfg, struct ably_handles **out,
                 struct tok_error *e)
{
	(void)cfg;
	*out = calloc(1, sizeof(**out));
	return *out != NULL ? TOK_OK : tok_fail(e, TOK_ENOMEM, 0, "no memory");
}

void
ably_handles_free(struct ably_handles *p)
{
	free(p);
}

CURL *
ably_handles_get(struct ably_handles *p)
{
	CURL *h = curl_easy_init();

	(void)p;
	if (h != NULL)
		fake.handles_out++;
	return h;
}

void
ably_handles_put(struct ably_handles *p, CURL *h)
{
	(void)p;
	if (h == NULL)
		return;
	fake.handles_out--;
	curl_easy_cleanup(h);
}

struct curl_slist *
ably_handles_headers_with(const struct ably_handles *p, const char *line)
{
	(void)p;
	return curl_slist_append(NULL, line);
}

void
ably_handles_prepare(struct ably_handles *p, CURL *h, const char *url,
                     const char *post, struct curl_slist *headers,
                     long budget_ms, struct buf *body, char *err,
                     int *from_cdn)
{
	struct xfer *x;
	const struct curl_slist *it;

	(void)p;
	(void)budget_ms;
	assert_true(fake.n < MAX_XFERS);
	x = &fake.x[fake.n++];
	memset(x, 0, sizeof(*x));
	x->h = h;
	(void)snprintf(x->url, sizeof(x->url), "%s", url);
	(void)snprintf(x->post, sizeof(x->post), "%s", post ? post : "");
	for (it = headers; it != NULL; it = it->next)
		if (strncmp(it->data, "traceparent:", 12) == 0)
			(void)snprintf(x->traceparent, sizeof(x->traceparent),
			    "%s", it->data);
	x->body = body;
	x->err = err;
	x->from_cdn = from_cdn;
	buf_reset(body);
	err[0] = '\0';
	*from_cdn = 0;
}

CURLcode
ably_handles_restrict_protocols(CURL *h, int tls, int as_bits)
{
	(void)h;
	(void)tls;
	(void)as_bits;
	return CURLE_OK;
}

/* --- the fake upstream: transfers wait until the test ends them */

struct upstream {
	int unused;
};

enum tok_err
upstream_new(int epfd, long max_conns, struct upstream **out)
{
	(void)epfd;
	(void)max_conns;
	*out = calloc(1, sizeof(**out));
	return *out != NULL ? TOK_OK : TOK_ENOMEM;
}

void
upstream_free(struct upstream *up)
{
	free(up);
}

enum tok_err
upstream_start(struct upstream *up, CURL *easy, upstream_done_fn done,
               void *ctx)
{
	struct xfer *x = NULL;
	size_t i;

	(void)up;
	for (i = 0; i < fake.n; i++)
		if (fake.x[i].h == easy && !fake.x[i].started)
			x = &fake.x[i];
	assert_non_null(x);  /* prepared first */
	x->done = done;
	x->ctx = ctx;
	x->started = 1;
	fake.started++;
	return TOK_OK;
}

void
upstream_on_event(struct upstream *up, uint64_t data, uint32_t events)
{
	(void)up;
	(void)data;
	(void)events;
}

long
upstream_wait_ms(const struct upstream *up)
{
	(void)up;
	return -1;
}

void
upstream_on_timeout(struct upstream *up)
{
	(void)up;
}

int
upstream_active(const struct upstream *up)
{
	size_t i;
	int n = 0;

	(void)up;
	for (i = 0; i < fake.n; i++)
		n += fake.x[i].started && !fake.x[i].ended;
	return n;
}

void
upstream_run(struct upstream *up)
{
	(void)up;
}

/* End transfer i: cc, then (if CURLE_OK) status, Server: CloudFront when
 * cdn, and body. A connection that died before any byte is kept = 1. */
static void
end_xfer(size_t i, CURLcode cc, long status, int cdn, const char *body)
{
	struct xfer *x = &fake.x[i];
	struct upstream_result res = { cc, status, 1, status ? 120 : 0 };

	assert_true(i < fake.n);
	assert_true(x->started);
	assert_false(x->ended);
	x->ended = 1;
	if (body != NULL)
		assert_int_equal(buf_adds(x->body, body), TOK_OK);
	*x->from_cdn = cdn;
	x->done(x->ctx, x->h, &res);
}

/* End transfer i as a kept connection the server had closed: no new
 * connection, no byte of an answer. */
static void
end_xfer_kept_died(size_t i)
{
	struct xfer *x = &fake.x[i];
	struct upstream_result res = { CURLE_HTTP2, 0, 0, 0 };

	assert_true(x->started);
	x->ended = 1;
	x->done(x->ctx, x->h, &res);
}

/* --- the client under test */

struct answer {
	int calls;
	enum tok_err rc;
	char *details;
	struct tok_error e;
	char host[64];          /* the report's */
	unsigned tries;
};

static void
on_done(void *ctx, enum tok_err rc, char *details, const struct tok_error *e,
        const struct ably_call_report *rep)
{
	struct answer *a = ctx;

	a->calls++;
	(void)snprintf(a->host, sizeof(a->host), "%s",
	    rep->host ? rep->host : "");
	a->tries = rep->tries;
	a->rc = rc;
	a->details = details;
	if (e != NULL)
		a->e = *e;
}

struct fixture {
	struct config cfg;
	char *fallbacks[2];
	struct ably_key k;
	struct upstream *up;
	struct ably_rest *r;
	struct ably_token_ask ask;
};

static const char TOKEN_BODY[] = "{\"token\":\"t.x\",\"keyName\":\"app.key\","
    "\"issued\":1,\"expires\":2,\"capability\":\"{\\\"*\\\":[\\\"*\\\"]}\"}";

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct tok_error e;

	assert_non_null(f);
	memset(&fake, 0, sizeof(fake));
	f->cfg.rest_host = (char *)"primary.test";
	f->fallbacks[0] = (char *)"fb1.test";
	f->fallbacks[1] = (char *)"fb2.test";
	f->cfg.fallback_hosts = f->fallbacks;
	f->cfg.n_fallback_hosts = 1;
	f->cfg.fallback_hosts_set = 1;
	f->cfg.upstream_timeout_ms = 10000;
	f->cfg.connect_timeout_ms = 1000;
	f->cfg.request_timeout_ms = 5000;
	assert_int_equal(key_parse("app.key:c2VjcmV0", &f->k, &e), TOK_OK);
	assert_int_equal(upstream_new(-1, 4, &f->up), TOK_OK);
	f->ask.ttl = 3600000;
	*state = f;
	return 0;
}

/* The client is made per test, after the test set cfg. */
static struct ably_rest *
client(struct fixture *f)
{
	struct tok_error e;

	assert_int_equal(ably_rest_new(&f->cfg, f->up, &f->r, &e), TOK_OK);
	return f->r;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	ably_rest_free(f->r);
	upstream_free(f->up);
	key_clear(&f->k);
	assert_int_equal(fake.handles_out, 0);
	free(f);
	return 0;
}

static void
start(struct fixture *f, struct answer *a)
{
	struct tok_error e;

	assert_int_equal(ably_request_token_start(f->r, &f->k, &f->ask, "rid",
	    on_done, a, &e), TOK_OK);
	assert_int_equal(a->calls, 0);  /* never called back from start */
}

static int
is_token_try(size_t i, const char *host)
{
	char want[128];

	(void)snprintf(want, sizeof(want), "http://%s/keys/app.key/"
	    "requestToken", host);
	return strcmp(fake.x[i].url, want) == 0 && fake.x[i].post[0] == '{';
}

static int
is_time_query(size_t i)
{
	size_t n = strlen(fake.x[i].url);

	return n > 5 && strcmp(fake.x[i].url + n - 5, "/time") == 0 &&
	    fake.x[i].post[0] == '\0';
}

/* A field of a signed TokenRequest, as text. */
static void
post_field(size_t i, const char *name, char *out, size_t len)
{
	struct json_object *root = json_tokener_parse(fake.x[i].post), *v;

	assert_non_null(root);
	assert_true(json_object_object_get_ex(root, name, &v));
	(void)snprintf(out, len, "%s", json_object_get_string(v));
	json_object_put(root);
}

static void
assert_ok(struct answer *a)
{
	assert_int_equal(a->calls, 1);
	assert_int_equal(a->rc, TOK_OK);
	assert_non_null(a->details);
	assert_non_null(strstr(a->details, "\"token\":\"t.x\""));
	free(a->details);
	a->details = NULL;
}

static void
assert_failed(struct answer *a, int status, int code)
{
	assert_int_equal(a->calls, 1);
	assert_int_not_equal(a->rc, TOK_OK);
	assert_null(a->details);
	assert_int_equal(tok_error_status(&a->e), status);
	assert_int_equal(a->e.code, code);
}

static void
test_success_on_primary(void **state)
{
	struct fixture *f = *state;
	struct answer a = { 0 };
	struct ably_rest_stats st;

	client(f);
	start(f, &a);
	assert_int_equal(fake.started, 1);
	assert_true(is_token_try(0, "primary.test"));
	end_xfer(0, CURLE_OK, 200, 0, TOKEN_BODY);
	assert_ok(&a);
	assert_int_equal(fake.started, 1);
	ably_rest_get_stats(f->r, &st);
	assert_int_equal(st.calls, 1);
	assert_int_equal(st.tries, 1);
	assert_int_equal(st.failures, 0);
	assert_int_equal(st.in_flight, 0);
}

static void
test_503_then_fallback(void **state)
{
	struct fixture *f = *state;
	struct answer a = { 0 };
	struct ably_rest_stats st;

	client(f);
	start(f, &a);
	end_xfer(0, CURLE_OK, 503, 0, "{\"error\":{\"code\":50300,"
	    "\"statusCode\":503,\"message\":\"busy\"}}");
	assert_int_equal(a.calls, 0);
	assert_int_equal(fake.started, 2);
	assert_true(is_token_try(1, "fb1.test"));
	end_xfer(1, CURLE_OK, 200, 0, TOKEN_BODY);
	assert_ok(&a);
	ably_rest_get_stats(f->r, &st);
	assert_int_equal(st.tries, 2);
}

/* A traceparent in the ask goes with every try (the fallback's too) as
 * the call's own header; the report names the host that answered last and
 * counts the tries. Without one, no try has the header. */
static void
test_traceparent_on_every_try(void **state)
{
	static const char tp[] =
	    "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
	struct fixture *f = *state;
	struct answer a = { 0 }, b = { 0 };

	client(f);
	f->ask.traceparent = tp;
	start(f, &a);
	assert_string_equal(fake.x[0].traceparent, "traceparent: 00-0af7651916"
	    "cd43dd8448eb211c80319c-b7ad6b7169203331-01");
	end_xfer(0, CURLE_COULDNT_CONNECT, 0, 0, NULL);
	assert_true(is_token_try(1, "fb1.test"));
	assert_string_equal(fake.x[1].traceparent, fake.x[0].traceparent);
	end_xfer(1, CURLE_OK, 200, 0, TOKEN_BODY);
	assert_ok(&a);
	assert_string_equal(a.host, "fb1.test");
	assert_int_equal(a.tries, 2);

	f->ask.traceparent = NULL;
	start(f, &b);
	assert_string_equal(fake.x[2].traceparent, "");
	end_xfer(2, CURLE_OK, 200, 0, TOKEN_BODY);
	assert_ok(&b);
	assert_int_equal(b.tries, 1);
}

/* An Ably-looking 403 that the CDN sent (Server: CloudFront) is a host
 * failure (RSC15l4); the same answer from Ably would be final. */
static void
test_cdn_403_falls_back(void **state)
{
	static const char body[] = "{\"error\":{\"code\":40300,"
	    "\"statusCode\":403,\"message\":\"Forbidden\"}}";
	struct fixture *f = *state;
	struct answer a = { 0 };

	client(f);
	start(f, &a);
	end_xfer(0, CURLE_OK, 403, 1, body);
	assert_int_equal(a.calls, 0);
	assert_int_equal(fake.started, 2);
	assert_true(is_token_try(1, "fb1.test"));
	end_xfer(1, CURLE_OK, 403, 0, body);
	assert_failed(&a, 403, 40300);
	assert_int_equal(fake.started, 2);
}

static void
test_ably_401_is_final(void **state)
{
	struct fixture *f = *state;
	struct answer a = { 0 };
	struct ably_rest_stats st;

	client(f);
	start(f, &a);
	end_xfer(0, CURLE_OK, 401, 0, "{\"error\":{\"code\":40100,"
	    "\"statusCode\":401,\"message\":\"Unauthorized\"}}");
	assert_failed(&a, 401, 40100);
	assert_int_equal(fake.started, 1);  /* no fallback */
	ably_rest_get_stats(f->r, &st);
	assert_int_equal(st.failures, 1);
}

static void
test_every_host_failing_is_502(void **state)
{
	struct fixture *f = *state;
	struct answer a = { 0 };
	size_t i;

	f->cfg.n_fallback_hosts = 2;
	client(f);
	start(f, &a);
	for (i = 0; i < 3; i++) {
		assert_int_equal(a.calls, 0);
		assert_int_equal(fake.started, i + 1);
		end_xfer(i, i == 1 ? CURLE_OK : CURLE_COULDNT_CONNECT,
		    i == 1 ? 500 : 0, 0, i == 1 ? "<html>oops</html>" : NULL);
	}
	assert_true(is_token_try(0, "primary.test"));
	assert_true(is_token_try(1, "fb1.test") || is_token_try(1, "fb2.test"));
	assert_true(is_token_try(2, "fb1.test") || is_token_try(2, "fb2.test"));
	assert_string_not_equal(fake.x[1].url, fake.x[2].url);
	assert_failed(&a, 502, 50002);
	assert_int_equal(a.rc, TOK_EUPSTREAM);
	assert_int_equal(fake.started, 3);
}

/* upstream_timeout_ms covers every try: with under MIN_TRY_MS (20) left
 * after the first, no other starts, and the answer is 504. */
static void
test_deadline_is_504(void **state)
{
	struct fixture *f = *state;
	struct answer a = { 0 };
	struct timespec nap = { 0, 85 * 1000000L };

	f->cfg.upstream_timeout_ms = 100;
	client(f);
	start(f, &a);
	(void)nanosleep(&nap, NULL);
	end_xfer(0, CURLE_OK, 503, 0, "{\"error\":{\"code\":50300,"
	    "\"statusCode\":503}}");
	assert_failed(&a, 504, 50003);
	assert_int_equal(a.rc, TOK_ETIMEOUT);
	assert_int_equal(fake.started, 1);
}

/* query_time = on: the first calls wait for one GET /time, then sign with
 * Ably's clock. */
static void
test_clock_query_shared(void **state)
{
	struct fixture *f = *state;
	struct answer a = { 0 }, b = { 0 };
	char body[64], ts[32];
	long long ably_now = clock_wall_ms() + 600000;  /* 10 min ahead */
	struct ably_rest_stats st;
	size_t i;

	f->cfg.query_time = 1;
	client(f);
	start(f, &a);
	start(f, &b);
	assert_int_equal(fake.started, 1);
	assert_true(is_time_query(0));
	(void)snprintf(body, sizeof(body), "[%lld]", ably_now);
	end_xfer(0, CURLE_OK, 200, 0, body);
	assert_int_equal(fake.started, 3);
	for (i = 1; i < 3; i++) {
		long long t;

		assert_true(is_token_try(i, "primary.test"));
		post_field(i, "timestamp", ts, sizeof(ts));
		t = strtoll(ts, NULL, 10);
		assert_true(t > ably_now - 5000 && t < ably_now + 5000);
	}
	ably_rest_get_stats(f->r, &st);
	assert_true(st.clock_known);
	end_xfer(1, CURLE_OK, 200, 0, TOKEN_BODY);
	end_xfer(2, CURLE_OK, 200, 0, TOKEN_BODY);
	assert_ok(&a);
	assert_ok(&b);
	/* A third call signs with the clock learnt: no query. */
	a.calls = 0;
	start(f, &a);
	assert_int_equal(fake.started, 4);
	assert_true(is_token_try(3, "primary.test"));
	end_xfer(3, CURLE_OK, 200, 0, TOKEN_BODY);
	assert_ok(&a);
}

/* 40104 (timestamp not current): ask the time again, once, and try the
 * same host again; a second 40104 is passed on. */
static void
test_40104_asks_time_again_once(void **state)
{
	static const char refused[] = "{\"error\":{\"code\":40104,"
	    "\"statusCode\":401,\"message\":\"Timestamp not current\"}}";
	struct fixture *f = *state;
	struct answer a = { 0 };
	char body[64];

	f->cfg.query_time = 1;
	client(f);
	(void)snprintf(body, sizeof(body), "[%lld]", clock_wall_ms());
	start(f, &a);
	assert_true(is_time_query(0));
	end_xfer(0, CURLE_OK, 200, 0, body);
	assert_true(is_token_try(1, "primary.test"));
	end_xfer(1, CURLE_OK, 401, 0, refused);
	assert_int_equal(a.calls, 0);
	assert_int_equal(fake.started, 3);
	assert_true(is_time_query(2));
	end_xfer(2, CURLE_OK, 200, 0, body);
	assert_int_equal(fake.started, 4);
	assert_true(is_token_try(3, "primary.test"));
	end_xfer(3, CURLE_OK, 401, 0, refused);
	assert_failed(&a, 401, 40104);
	assert_int_equal(fake.started, 4);
}

/* A kept connection closed under the request (no byte came): once more on
 * the same host, signed afresh; the second time it counts as the host's
 * failure. */
static void
test_kept_connection_died_retried_once(void **state)
{
	struct fixture *f = *state;
	struct answer a = { 0 };
	char n1[64], n2[64];

	client(f);
	start(f, &a);
	end_xfer_kept_died(0);
	assert_int_equal(a.calls, 0);
	assert_int_equal(fake.started, 2);
	assert_true(is_token_try(1, "primary.test"));
	post_field(0, "nonce", n1, sizeof(n1));
	post_field(1, "nonce", n2, sizeof(n2));
	assert_string_not_equal(n1, n2);
	end_xfer_kept_died(1);
	assert_int_equal(fake.started, 3);
	assert_true(is_token_try(2, "fb1.test"));
	end_xfer(2, CURLE_OK, 200, 0, TOKEN_BODY);
	assert_ok(&a);
}

/* 40105 (nonce replayed: a resend after GOAWAY was served twice): signed
 * afresh once on the same host; a second 40105 is passed on. */
static void
test_40105_resigned_once(void **state)
{
	static const char replayed[] = "{\"error\":{\"code\":40105,"
	    "\"statusCode\":401,\"message\":\"Nonce value replayed\"}}";
	struct fixture *f = *state;
	struct answer a = { 0 };
	char n1[64], n2[64];

	client(f);
	start(f, &a);
	end_xfer(0, CURLE_OK, 401, 0, replayed);
	assert_int_equal(a.calls, 0);
	assert_int_equal(fake.started, 2);
	assert_true(is_token_try(1, "primary.test"));
	post_field(0, "nonce", n1, sizeof(n1));
	post_field(1, "nonce", n2, sizeof(n2));
	assert_string_not_equal(n1, n2);
	end_xfer(1, CURLE_OK, 401, 0, replayed);
	assert_failed(&a, 401, 40105);
	assert_int_equal(fake.started, 2);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_success_on_primary, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_503_then_fallback, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_cdn_403_falls_back, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_traceparent_on_every_try,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_ably_401_is_final, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_every_host_failing_is_502,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_deadline_is_504, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_clock_query_shared, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_40104_asks_time_again_once,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_kept_connection_died_retried_once, setup, teardown),
		cmocka_unit_test_setup_teardown(test_40105_resigned_once, setup,
		    teardown),
	};

	if (ably_rest_global_init() != TOK_OK)
		return 1;
	return cmocka_run_group_tests_name("ably_rest", tests, NULL, NULL);
}
