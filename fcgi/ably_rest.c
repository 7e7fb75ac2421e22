/* ably_rest: the asynchronous client for Ably's REST API (ably_rest.h). */
#include "ably_rest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>
#include <json-c/json.h>

#include "buf.h"
#include "clock.h"
#include "crypto.h"
#include "log.h"
#include "token_request.h"

#define ABLY_VERSION_HEADER "X-Ably-Version: 6"
#define AGENT "ably-token-fcgi/0.1.0"
#define MAX_RESPONSE (64 * 1024)    /* TokenDetails are well under 1 KiB */
#define MAX_FALLBACK_TRIES 3        /* after the primary, as ably-js */
#define MAX_HOSTS 17                /* the primary and up to 16 fallbacks */
#define AVOID_MS (60 * 1000)        /* skip a host that just failed */
#define PREFER_MS (10 * 60 * 1000)  /* keep using a fallback that worked */
#define TIME_REFRESH_MS (30 * 60 * 1000)
#define TIME_RETRY_MS (10 * 1000)   /* after a failed GET /time */
#define MIN_TRY_MS 20               /* not worth starting a try with less */
#define SPARE_HANDLES 64            /* idle curl handles kept for reuse */

/* How one try ended. */
enum try_result {
	TRY_OK,
	TRY_RETRY,     /* network error, 5xx, not Ably's answer: next host */
	TRY_TIMEOUT,   /* like TRY_RETRY, but the time ran out */
	TRY_FINAL,     /* Ably answered with a 4xx: pass it on */
};

struct ably_call;

/* The worker's one GET /time in flight; calls that need the clock wait
 * for it instead of asking again. */
struct clock_query {
	CURL *easy;
	struct buf body;
	long long sent_wall;
	char host[256];
	char curl_err[CURL_ERROR_SIZE];
	struct ably_call *waiters;
};

struct ably_rest {
	const struct config *cfg;
	struct upstream *up;
	CURLSH *share;            /* TLS sessions and DNS answers, for every handle */
	struct curl_slist *headers;
	char *hosts[MAX_HOSTS];   /* [0] is the primary */
	size_t nhosts;
	long long avoid_until[MAX_HOSTS];  /* per host, monotonic ms */
	size_t preferred;         /* a fallback that worked, 0 = primary */
	long long preferred_until;
	long long clock_checked;  /* monotonic ms of the last good GET /time */
	long long clock_retry_at; /* after a failed one: not before this */
	struct clock_query *clock_query;  /* in flight, or NULL */
	struct ably_rest_stats stats;
	CURL *spare[SPARE_HANDLES];
	int nspare;
	struct ably_call *calls;  /* in flight, for ably_rest_free */
};

/* One token request, from start to answer. */
struct ably_call {
	struct ably_rest *r;
	const struct ably_key *k;
	struct ably_token_ask ask;
	char rid[32];
	ably_done_fn done;
	void *ctx;
	long long start, deadline;  /* monotonic ms */
	size_t order[MAX_HOSTS], n, i, tried;
	int clock_asked;          /* waited for GET /time once already */
	int clock_retry;          /* re-asked the time after a 40104 */
	int reconnected;          /* retried after a kept connection died */
	int resigned;             /* retried after Ably saw a replay (40105) */
	enum try_result last;
	CURL *easy;               /* the try in flight, or NULL */
	char *json;               /* its signed TokenRequest (wiped after) */
	long long try_start;
	struct buf body;
	char *details;            /* TRY_OK: the TokenDetails to hand over */
	char curl_err[CURL_ERROR_SIZE];
	struct tok_error e;
	struct ably_call *next_waiter;
	struct ably_call *prev, *next;
};

enum tok_err
ably_rest_global_init(void)
{
	return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? TOK_OK :
	    TOK_EINTERNAL;
}

static size_t
on_body(char *p, size_t size, size_t n, void *userdata)
{
	struct buf *body = userdata;

	/* Returning less than given aborts the transfer: an answer larger
	 * than any TokenDetails is not one. */
	if (buf_add(body, p, size * n) != TOK_OK)
		return 0;
	return size * n;
}

/* A curl handle set up with what every request of this client shares. */
static CURL *
handle_get(struct ably_rest *r)
{
	const struct config *cfg = r->cfg;
	CURLcode cc = CURLE_OK;
	CURL *h;

	if (r->nspare > 0)
		return r->spare[--r->nspare];
	h = curl_easy_init();
	if (h == NULL)
		return NULL;
	cc |= curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	/* A new connection resumes the TLS session an earlier one made,
	 * whichever handle made it. */
	cc |= curl_easy_setopt(h, CURLOPT_SHARE, r->share);
	cc |= curl_easy_setopt(h, CURLOPT_HTTPHEADER, r->headers);
	cc |= curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	cc |= curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR,
	    cfg->tls ? "https" : "http");
	cc |= curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
	cc |= curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
	cc |= curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
	cc |= curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
	/* HTTP/2 over TLS when Ably offers it (ALPN), HTTP/1.1 otherwise;
	 * wait for a connection that may multiplex rather than open one
	 * per transfer. */
	cc |= curl_easy_setopt(h, CURLOPT_HTTP_VERSION,
	    (long)CURL_HTTP_VERSION_2TLS);
	cc |= curl_easy_setopt(h, CURLOPT_PIPEWAIT, 1L);
	/* A requestToken body and a TokenDetails answer are well under 4 KiB;
	 * libcurl's default buffers (16 KiB in, 64 KiB out) are per handle,
	 * and a worker has a handle per call in flight. Longer answers still
	 * work, in more reads. */
	cc |= curl_easy_setopt(h, CURLOPT_BUFFERSIZE, 4096L);
	cc |= curl_easy_setopt(h, CURLOPT_UPLOAD_BUFFERSIZE, 16384L);
	/* Proxy only from our own setting: an empty string also stops
	 * libcurl from reading *_proxy variables, which in CGI mode a client
	 * can set with a Proxy: header (httpoxy). */
	cc |= curl_easy_setopt(h, CURLOPT_PROXY, cfg->proxy ? cfg->proxy : "");
	if (cfg->ca_file != NULL)
		cc |= curl_easy_setopt(h, CURLOPT_CAINFO, cfg->ca_file);
	if (cc != CURLE_OK) {
		log_err("libcurl lacks an option this program needs");
		curl_easy_cleanup(h);
		return NULL;
	}
	return h;
}

static void
handle_put(struct ably_rest *r, CURL *h)
{
	if (h == NULL)
		return;
	/* Don't keep pointers to a finished call's buffers. */
	curl_easy_setopt(h, CURLOPT_POSTFIELDS, NULL);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, NULL);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, NULL);
	if (r->nspare < SPARE_HANDLES)
		r->spare[r->nspare++] = h;
	else
		curl_easy_cleanup(h);
}

/* One exchange's options: url, body (NULL: GET), the time it may take. */
static void
handle_prepare(struct ably_rest *r, CURL *h, const char *url,
               const char *post, long budget_ms, struct buf *body,
               char *err)
{
	long connect_ms = r->cfg->connect_timeout_ms;
	long total_ms = r->cfg->request_timeout_ms;

	if (connect_ms > budget_ms)
		connect_ms = budget_ms;
	if (total_ms > budget_ms)
		total_ms = budget_ms;
	buf_reset(body);
	err[0] = '\0';
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, connect_ms);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, total_ms);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, body);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, err);
	if (post != NULL) {
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, post);
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)strlen(post));
	} else {
		curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
	}
}

static void
clock_query_free(struct clock_query *q)
{
	if (q == NULL)
		return;
	buf_free(&q->body);
	free(q);
}

void
ably_rest_free(struct ably_rest *r)
{
	size_t i;

	if (r == NULL)
		return;
	/* The upstream is freed after us and aborts our transfers then;
	 * what they point to goes now. */
	while (r->calls != NULL) {
		struct ably_call *c = r->calls;

		r->calls = c->next;
		if (c->json != NULL) {
			crypto_wipe(c->json, strlen(c->json));
			free(c->json);
		}
		buf_free(&c->body);
		free(c->details);
		free(c);
	}
	clock_query_free(r->clock_query);
	while (r->nspare > 0)
		curl_easy_cleanup(r->spare[--r->nspare]);
	curl_slist_free_all(r->headers);
	if (r->share != NULL)
		curl_share_cleanup(r->share);
	for (i = 0; i < r->nhosts; i++)
		free(r->hosts[i]);
	free(r);
}

static enum tok_err
add_host(struct ably_rest *r, const char *name)
{
	if (r->nhosts >= MAX_HOSTS)
		return TOK_OK;  /* config allows no more; ignore the rest */
	r->hosts[r->nhosts] = strdup(name);
	if (r->hosts[r->nhosts] == NULL)
		return TOK_ENOMEM;
	r->nhosts++;
	return TOK_OK;
}

enum tok_err
ably_rest_new(const struct config *cfg, struct upstream *up,
              struct ably_rest **out, struct tok_error *e)
{
	struct ably_rest *r;
	char agent[128];
	size_t i;

	*out = NULL;
	r = calloc(1, sizeof(*r));
	if (r == NULL)
		return tok_fail(e, TOK_ENOMEM, 0, "out of memory");
	r->cfg = cfg;
	r->up = up;
	/* One thread uses it: no lock functions needed. */
	r->share = curl_share_init();
	if (r->share == NULL ||
	    curl_share_setopt(r->share, CURLSHOPT_SHARE,
	    CURL_LOCK_DATA_SSL_SESSION) != CURLSHE_OK ||
	    curl_share_setopt(r->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS) !=
	    CURLSHE_OK)
		goto nomem;
	if (add_host(r, cfg->rest_host) != TOK_OK)
		goto nomem;
	for (i = 0; i < cfg->n_fallback_hosts; i++)
		if (add_host(r, cfg->fallback_hosts[i]) != TOK_OK)
			goto nomem;
	(void)snprintf(agent, sizeof(agent), "Ably-Agent: %s libcurl/%s", AGENT,
	    curl_version_info(CURLVERSION_NOW)->version);
	r->headers = curl_slist_append(NULL, "Content-Type: application/json");
	if (r->headers == NULL)
		goto nomem;
	/* curl_slist_append returns NULL on failure and keeps the list. */
	if (curl_slist_append(r->headers, "Accept: application/json") == NULL ||
	    curl_slist_append(r->headers, ABLY_VERSION_HEADER) == NULL ||
	    curl_slist_append(r->headers, agent) == NULL ||
	    curl_slist_append(r->headers, "Expect:") == NULL)
		goto nomem;
	/* One handle made now: an option libcurl lacks shows at start-up. */
	{
		CURL *h = handle_get(r);

		if (h == NULL) {
			ably_rest_free(r);
			return tok_fail(e, TOK_EINTERNAL, 0,
			    "libcurl lacks an option this program needs");
		}
		handle_put(r, h);
	}
	*out = r;
	return TOK_OK;
nomem:
	ably_rest_free(r);
	return tok_fail(e, TOK_ENOMEM, 0, "out of memory");
}

/* scheme://host[:port]PATH into url. */
static int
make_url(const struct ably_rest *r, const char *host, const char *path,
         char *url, size_t len)
{
	int n;

	if (strchr(host, ':') == NULL && r->cfg->port != 0)
		n = snprintf(url, len, "%s://%s:%d%s", r->cfg->tls ? "https" :
		    "http", host, r->cfg->port, path);
	else
		n = snprintf(url, len, "%s://%s%s", r->cfg->tls ? "https" :
		    "http", host, path);
	return n > 0 && (size_t)n < len ? 0 : -1;
}

/* Copy an Ably message into a client-safe one (printable ASCII only, as it
 * goes into a header), prefixed. */
static void
safe_message(char *dst, size_t len, const char *prefix, const char *msg)
{
	size_t o;

	(void)snprintf(dst, len, "%s", prefix);
	o = strlen(dst);
	for (; msg != NULL && *msg != '\0' && o + 1 < len; msg++)
		dst[o++] = (*msg >= 0x20 && *msg < 0x7f) ? *msg : ' ';
	dst[o] = '\0';
}

/* The Ably error in an answer body, if it has one. */
struct ably_error {
	int code;
	int status;
	char message[128];
};

static int
parse_error(const char *body, struct ably_error *ae)
{
	struct json_object *root, *err, *v;
	int found = 0;

	memset(ae, 0, sizeof(*ae));
	root = json_tokener_parse(body);
	if (root != NULL && json_object_object_get_ex(root, "error", &err) &&
	    json_object_is_type(err, json_type_object)) {
		found = 1;
		if (json_object_object_get_ex(err, "code", &v))
			ae->code = json_object_get_int(v);
		if (json_object_object_get_ex(err, "statusCode", &v))
			ae->status = json_object_get_int(v);
		if (json_object_object_get_ex(err, "message", &v) &&
		    json_object_is_type(v, json_type_string))
			(void)snprintf(ae->message, sizeof(ae->message), "%s",
			    json_object_get_string(v));
	}
	json_object_put(root);
	return found;
}

/* Copy field name of type t from src to dst; 0 if absent, -1 if bad. */
static int
copy_field(struct json_object *src, struct json_object *dst,
           const char *name, json_type t)
{
	struct json_object *v;

	if (!json_object_object_get_ex(src, name, &v) ||
	    json_object_is_type(v, json_type_null))
		return 0;
	if (!json_object_is_type(v, t))
		return -1;
	return json_object_object_add(dst, name, json_object_get(v)) == 0 ?
	    1 : -1;
}

/* TokenDetails from Ably's answer, re-serialised with only the fields
 * ably-js uses; NULL if the answer is not TokenDetails. */
static char *
token_details(const char *body)
{
	struct json_object *in, *out;
	char *result = NULL;
	const char *s;

	in = json_tokener_parse(body);
	out = json_object_new_object();
	if (in == NULL || out == NULL ||
	    !json_object_is_type(in, json_type_object))
		goto done;
	if (copy_field(in, out, "token", json_type_string) != 1 ||
	    copy_field(in, out, "keyName", json_type_string) < 0 ||
	    copy_field(in, out, "issued", json_type_int) != 1 ||
	    copy_field(in, out, "expires", json_type_int) != 1 ||
	    copy_field(in, out, "capability", json_type_string) < 0 ||
	    copy_field(in, out, "clientId", json_type_string) < 0)
		goto done;
	s = json_object_to_json_string_ext(out,
	    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	if (s != NULL)
		result = strdup(s);
done:
	json_object_put(in);
	json_object_put(out);
	return result;
}

/* Whether an error answer came from a CDN in front of Ably rather than
 * from Ably (RSC15l4: Server: CloudFront and status >= 400). */
static int
from_cdn(CURL *h)
{
	struct curl_header *hd = NULL;

	if (curl_easy_header(h, "Server", 0, CURLH_HEADER, -1, &hd) !=
	    CURLHE_OK || hd == NULL || hd->value == NULL)
		return 0;
	return strncasecmp(hd->value, "CloudFront", 10) == 0;
}

/* The order to try hosts in: the preferred one first, then the others
 * in random order, those that failed lately last. Returns the count. */
static size_t
plan(struct ably_rest *r, size_t *order)
{
	long long now = clock_mono_ms();
	size_t n = 0, i, j, first;
	unsigned char rnd[16] = { 0 };

	first = (r->preferred != 0 && now < r->preferred_until) ?
	    r->preferred : 0;
	order[n++] = first;
	if (first != 0)
		order[n++] = 0;
	for (i = 1; i < r->nhosts; i++)
		if (i != first)
			order[n++] = i;
	/* Shuffle the fallbacks (Fisher-Yates on random bytes). */
	if (crypto_random(rnd, sizeof(rnd)) == TOK_OK) {
		size_t start = first != 0 ? 2 : 1;

		for (i = n; i > start + 1; i--) {
			size_t k = start + rnd[i % sizeof(rnd)] % (i - start);
			size_t t = order[i - 1];

			order[i - 1] = order[k];
			order[k] = t;
		}
	}
	/* Stable partition: hosts to avoid go to the end. */
	for (i = 0, j = 0; i < n; i++) {
		if (r->avoid_until[order[i]] <= now) {
			size_t t = order[i];

			memmove(order + j + 1, order + j, (i - j) * sizeof(*order));
			order[j++] = t;
		}
	}
	return n;
}

/* Remember how host i fared: a host that worked is not avoided (a fallback
 * that worked is preferred for PREFER_MS); one that failed is avoided for
 * AVOID_MS. */
static void
remember(struct ably_rest *r, size_t i, int worked)
{
	if (worked) {
		r->avoid_until[i] = 0;
		if (i != 0) {
			r->preferred = i;
			r->preferred_until = clock_mono_ms() + PREFER_MS;
		}
	} else {
		r->avoid_until[i] = clock_mono_ms() + AVOID_MS;
		if (i == r->preferred)
			r->preferred = 0;
	}
}

/* Whether a call should wait for Ably's clock before it signs. */
static int
clock_needed(const struct ably_rest *r, const struct ably_call *c)
{
	long long now = clock_mono_ms();

	if (!r->cfg->query_time || c->clock_asked)
		return 0;
	if (r->stats.clock_known)
		return now - r->clock_checked > TIME_REFRESH_MS;
	return now >= r->clock_retry_at;
}

static void next_try(struct ably_call *c);

/* The call is over: count it and take it off the list; *details gets the
 * answer on success. The caller reports it and frees it. */
static enum tok_err
conclude(struct ably_call *c, char **details)
{
	struct ably_rest *r = c->r;
	enum tok_err rc;
	long latency = (long)(clock_mono_ms() - c->start);

	*details = NULL;

	if (c->last == TRY_OK) {
		*details = c->details;  /* handed over */
		c->details = NULL;
		rc = TOK_OK;
		r->stats.last_ok_ms = clock_wall_ms();
	} else {
		r->stats.failures++;
		r->stats.last_failure_ms = clock_wall_ms();
		if (c->last == TRY_FINAL)
			rc = c->e.kind;
		else if (c->last == TRY_TIMEOUT)
			rc = tok_fail(&c->e, TOK_ETIMEOUT, 50003, "Ably did not "
			    "answer in time (%zu host%s tried in %ld ms)",
			    c->tried, c->tried == 1 ? "" : "s", latency);
		else
			rc = tok_fail(&c->e, TOK_EUPSTREAM, 50002, "Ably could "
			    "not be reached or failed (%zu host%s tried)",
			    c->tried, c->tried == 1 ? "" : "s");
	}
	r->stats.last_latency_ms = latency;
	r->stats.in_flight--;
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		r->calls = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	buf_free(&c->body);
	return rc;
}

/* The call is over: report it and free it. */
static void
finish(struct ably_call *c)
{
	char *details;
	enum tok_err rc = conclude(c, &details);

	c->done(c->ctx, rc, details, &c->e);
	free(c);
}

/* The clock query ended: remember Ably's time (or that it failed), then
 * let every call that waited for it go on. */
static void
clock_done(void *ctx, CURL *h, CURLcode cc)
{
	struct ably_rest *r = ctx;
	struct clock_query *q = r->clock_query;
	struct ably_call *w, *next;
	struct json_object *root = NULL;
	long status = 0;
	int ok = 0;

	r->clock_query = NULL;
	if (cc == CURLE_OK)
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	handle_put(r, h);
	if (status == 200)
		root = json_tokener_parse(q->body.data);
	if (root != NULL && json_object_is_type(root, json_type_array) &&
	    json_object_array_length(root) == 1) {
		long long t = json_object_get_int64(
		    json_object_array_get_idx(root, 0));
		/* Ably's clock at the middle of the round trip. */
		long long offset = t - (q->sent_wall + clock_wall_ms()) / 2;

		r->stats.clock_offset_ms = offset;
		r->stats.clock_known = 1;
		r->clock_checked = clock_mono_ms();
		log_info("ably %s: clock offset %lld ms", q->host, offset);
		ok = 1;
	}
	json_object_put(root);
	if (!ok) {
		/* Sign with the local clock for a while rather than ask
		 * again for every call. */
		r->clock_retry_at = clock_mono_ms() + TIME_RETRY_MS;
		log_warn("ably %s: GET /time failed (%s); signing with the "
		    "local clock", q->host, cc != CURLE_OK ? (q->curl_err[0] ?
		    q->curl_err : curl_easy_strerror(cc)) : "bad answer");
	}
	w = q->waiters;
	clock_query_free(q);
	for (; w != NULL; w = next) {
		next = w->next_waiter;
		w->next_waiter = NULL;
		log_set_request_id(w->rid);
		next_try(w);
	}
	log_set_request_id(NULL);
}

/* Wait for Ably's clock: join the query in flight or start one at host.
 * 0 if the call now waits, -1 if no query could start. */
static int
clock_wait(struct ably_call *c, const char *host, long budget_ms)
{
	struct ably_rest *r = c->r;
	struct clock_query *q = r->clock_query;
	char url[512];

	c->clock_asked = 1;
	if (q == NULL) {
		if (make_url(r, host, "/time", url, sizeof(url)) != 0)
			return -1;
		q = calloc(1, sizeof(*q));
		if (q == NULL)
			return -1;
		buf_init(&q->body, MAX_RESPONSE);
		(void)snprintf(q->host, sizeof(q->host), "%s", host);
		q->easy = handle_get(r);
		if (q->easy == NULL) {
			clock_query_free(q);
			return -1;
		}
		handle_prepare(r, q->easy, url, NULL, budget_ms, &q->body,
		    q->curl_err);
		q->sent_wall = clock_wall_ms();
		if (upstream_start(r->up, q->easy, clock_done, r) != TOK_OK) {
			handle_put(r, q->easy);
			clock_query_free(q);
			return -1;
		}
		r->clock_query = q;
	}
	c->next_waiter = q->waiters;
	q->waiters = c;
	return 0;
}

/* Judge a finished token try; on TRY_FINAL c->e is set from Ably's answer. */
static enum try_result
judge(struct ably_call *c, const char *host, CURL *h, CURLcode cc)
{
	struct ably_error ae;
	long status = 0;
	long long took = clock_mono_ms() - c->try_start;
	int has_error;

	if (cc != CURLE_OK) {
		log_warn("ably %s: %s (%lld ms)", host, c->curl_err[0] ?
		    c->curl_err : curl_easy_strerror(cc), took);
		return cc == CURLE_OPERATION_TIMEDOUT ? TRY_TIMEOUT : TRY_RETRY;
	}
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	if (status >= 200 && status < 300) {
		c->details = token_details(c->body.data);
		if (c->details != NULL)
			return TRY_OK;
		log_warn("ably %s: HTTP %ld but the body is not TokenDetails "
		    "(%lld ms)", host, status, took);
		return TRY_RETRY;
	}
	/* An error page from the CDN in front of Ably, or any error that is
	 * not Ably's own JSON, says nothing about the request: the host
	 * failed, and another may work (RSC15l4). */
	has_error = parse_error(c->body.data, &ae);
	if (status >= 400 && (from_cdn(h) || !has_error)) {
		log_warn("ably %s: HTTP %ld %s (%lld ms)", host, status,
		    from_cdn(h) ? "from the CDN (Server: CloudFront), not Ably" :
		    "without an Ably error body", took);
		return TRY_RETRY;
	}
	/* As ably-js: the status in the error body, if any, decides. */
	if (ae.status == 0)
		ae.status = (int)status;
	log_warn("ably %s: HTTP %ld, error %d: %s (%lld ms)", host, status,
	    ae.code, ae.message, took);
	if (ae.status >= 500 && ae.status <= 504)
		return TRY_RETRY;
	if (ae.status < 400 || ae.status > 499)
		ae.status = 502;  /* nothing sensible to pass on */
	if (ae.code == 40104) {
		tok_fail(&c->e, TOK_EUPSTREAM, 40104, "Ably refused the "
		    "TokenRequest timestamp: this server's clock is off; fix "
		    "its time sync or set query_time = on");
	} else {
		char msg[sizeof(c->e.message)];

		safe_message(msg, sizeof(msg), "Ably refused the token request: ",
		    ae.message);
		tok_fail(&c->e, TOK_EUPSTREAM, ae.code ? ae.code : 40000, "%s",
		    msg);
	}
	c->e.status = ae.status;
	return TRY_FINAL;
}

/* Whether a try failed on a connection it reused before any byte of an
 * answer came: the server had closed it meanwhile. */
static int
kept_connection_died(CURL *h, CURLcode cc)
{
	long connects = -1, header_bytes = -1;

	if (cc != CURLE_HTTP2 && cc != CURLE_HTTP2_STREAM &&
	    cc != CURLE_SEND_ERROR && cc != CURLE_RECV_ERROR &&
	    cc != CURLE_GOT_NOTHING)
		return 0;
	curl_easy_getinfo(h, CURLINFO_NUM_CONNECTS, &connects);
	curl_easy_getinfo(h, CURLINFO_HEADER_SIZE, &header_bytes);
	return connects == 0 && header_bytes == 0;
}

static void
token_done(void *ctx, CURL *h, CURLcode cc)
{
	struct ably_call *c = ctx;
	struct ably_rest *r = c->r;
	size_t host = c->order[c->i];
	enum try_result res;

	log_set_request_id(c->rid);
	c->easy = NULL;
	crypto_wipe(c->json, strlen(c->json));
	free(c->json);
	c->json = NULL;
	if (kept_connection_died(h, cc) && !c->reconnected) {
		/* The host closed a connection it had kept (an HTTP/2
		 * GOAWAY, an idle timeout) as we sent on it: nothing of an
		 * answer came, and the host is not at fault. Once more, on
		 * a new connection (signed afresh). */
		c->reconnected = 1;
		log_info("ably %s: a kept connection was closed under the "
		    "request (%s); trying again on a new one", r->hosts[host],
		    c->curl_err[0] ? c->curl_err : curl_easy_strerror(cc));
		handle_put(r, h);
		next_try(c);
		log_set_request_id(NULL);
		return;
	}
	res = judge(c, r->hosts[host], h, cc);
	handle_put(r, h);
	c->last = res;
	if (res == TRY_FINAL && c->e.code == 40104 && r->cfg->query_time &&
	    !c->clock_retry) {
		/* Our idea of Ably's clock is stale: ask again, once, and
		 * try the same host. */
		c->clock_retry = 1;
		c->clock_asked = 0;
		r->stats.clock_known = 0;
		r->clock_retry_at = 0;
		next_try(c);
	} else if (res == TRY_FINAL && c->e.code == 40105 && !c->resigned) {
		/* "Nonce value replayed": every try is signed afresh, so
		 * Ably saw this very request before: libcurl sent it again
		 * on a new connection after the server's GOAWAY (streams
		 * above its last stream id are resent), and the first copy
		 * had been served after all. Sign anew, once. */
		c->resigned = 1;
		log_info("ably %s: Ably had seen this request already (a "
		    "resend after GOAWAY); signing it afresh", r->hosts[host]);
		next_try(c);
	} else if (res == TRY_FINAL || res == TRY_OK) {
		if (res == TRY_OK)
			remember(r, host, 1);
		finish(c);
	} else {
		remember(r, host, 0);
		c->i++;
		next_try(c);
	}
	log_set_request_id(NULL);
}

/* Start one try at host: a fresh timestamp and nonce (a retried
 * TokenRequest that reached Ably once would be refused as a replay). */
static int
try_start(struct ably_call *c, const char *host, long budget_ms)
{
	struct ably_rest *r = c->r;
	char path[512], url[1024], nonce[CRYPTO_NONCE_LEN + 1], *escaped;
	struct token_params p = { c->ask.ttl, c->ask.capability,
	    c->ask.client_id, 0, nonce };
	CURL *h;

	h = handle_get(r);
	if (h == NULL)
		return -1;
	escaped = curl_easy_escape(h, c->k->name, 0);
	if (escaped == NULL)
		goto fail;
	(void)snprintf(path, sizeof(path), "/keys/%.400s/requestToken",
	    escaped);
	curl_free(escaped);
	if (make_url(r, host, path, url, sizeof(url)) != 0)
		goto fail;
	p.timestamp = clock_wall_ms() + (r->stats.clock_known ?
	    r->stats.clock_offset_ms : 0);
	if (crypto_nonce(nonce) != TOK_OK ||
	    tr_build(c->k, &p, &c->json, NULL) != TOK_OK)
		goto fail;
	handle_prepare(r, h, url, c->json, budget_ms, &c->body, c->curl_err);
	c->try_start = clock_mono_ms();
	if (upstream_start(r->up, h, token_done, c) != TOK_OK)
		goto fail;
	c->easy = h;
	c->tried++;
	r->stats.tries++;
	return 0;
fail:
	if (c->json != NULL) {
		crypto_wipe(c->json, strlen(c->json));
		free(c->json);
		c->json = NULL;
	}
	handle_put(r, h);
	return -1;
}

/* Go on with the call: the clock if needed, else the next host to try.
 * 1 once hosts or time ran out (the call is over), 0 while it waits. */
static int
advance(struct ably_call *c)
{
	struct ably_rest *r = c->r;

	for (; c->i < c->n; c->i++) {
		const char *host = r->hosts[c->order[c->i]];
		long left = (long)(c->deadline - clock_mono_ms());

		if (left < MIN_TRY_MS) {
			c->last = TRY_TIMEOUT;
			break;
		}
		if (clock_needed(r, c) && clock_wait(c, host, left) == 0)
			return 0;  /* clock_done() calls again */
		if (try_start(c, host, left) == 0)
			return 0;  /* token_done() calls again */
		c->last = TRY_RETRY;
	}
	return 1;
}

static void
next_try(struct ably_call *c)
{
	if (advance(c))
		finish(c);
}

enum tok_err
ably_request_token_start(struct ably_rest *r, const struct ably_key *k,
                         const struct ably_token_ask *ask, const char *rid,
                         ably_done_fn done, void *ctx, struct tok_error *e)
{
	struct ably_call *c = calloc(1, sizeof(*c));

	if (c == NULL)
		return tok_fail(e, TOK_ENOMEM, 0, "out of memory");
	c->r = r;
	c->k = k;
	c->ask = *ask;
	(void)snprintf(c->rid, sizeof(c->rid), "%s", rid ? rid : "-");
	c->done = done;
	c->ctx = ctx;
	c->start = clock_mono_ms();
	c->deadline = c->start + r->cfg->upstream_timeout_ms;
	c->last = TRY_RETRY;
	buf_init(&c->body, MAX_RESPONSE);
	c->n = plan(r, c->order);
	if (c->n > 1 + MAX_FALLBACK_TRIES)
		c->n = 1 + MAX_FALLBACK_TRIES;
	c->next = r->calls;
	if (r->calls != NULL)
		r->calls->prev = c;
	r->calls = c;
	r->stats.calls++;
	r->stats.in_flight++;
	/* Never call back from here: a call over before it waited is
	 * answered by the return value. */
	if (advance(c)) {
		char *details;
		enum tok_err rc = conclude(c, &details);

		free(details);  /* cannot be: nothing was tried */
		*e = c->e;
		free(c);
		return rc == TOK_OK ? tok_fail(e, TOK_EINTERNAL, 0,
		    "internal error") : rc;
	}
	return TOK_OK;
}

/* ably_request_token's own wait. */
struct sync_wait {
	int done;
	enum tok_err rc;
	char *details;
	struct tok_error *e;
};

static void
sync_done(void *ctx, enum tok_err rc, char *details, const struct tok_error *e)
{
	struct sync_wait *w = ctx;

	w->done = 1;
	w->rc = rc;
	w->details = details;
	if (rc != TOK_OK)
		*w->e = *e;
}

enum tok_err
ably_request_token(struct ably_rest *r, const struct ably_key *k,
                   const struct ably_token_ask *ask, char **details,
                   struct tok_error *e)
{
	struct sync_wait w = { 0, TOK_OK, NULL, e };
	enum tok_err rc;

	*details = NULL;
	rc = ably_request_token_start(r, k, ask, NULL, sync_done, &w, e);
	if (rc != TOK_OK)
		return rc;
	upstream_run(r->up);
	if (!w.done)
		return tok_fail(e, TOK_EINTERNAL, 0, "internal error");
	*details = w.details;
	return w.rc;
}

void
ably_rest_wait(struct ably_rest *r)
{
	if (r != NULL)
		upstream_run(r->up);
}

void
ably_rest_get_stats(const struct ably_rest *r, struct ably_rest_stats *st)
{
	*st = r->stats;
}
