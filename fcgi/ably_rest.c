/* ably_rest: the asynchronous client for Ably's REST API (ably_rest.h):
 * each token call's way from start to answer (Ably's clock, the next host,
 * a fresh signature per try, the verdict, the report). Ably's clock is in
 * ably_clock.c, the hosts' order in ably_hosts.c, the curl handles in
 * ably_handles.c, the judging of answers in ably_answer.c. */
#include "ably_rest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

#include "ably_answer.h"
#include "ably_clock.h"
#include "ably_handles.h"
#include "ably_hosts.h"
#include "buf.h"
#include "clock.h"
#include "crypto.h"
#include "log.h"
#include "metrics.h"
#include "token_request.h"

#define MAX_RESPONSE (64 * 1024)    /* TokenDetails are well under 1 KiB */
#define MAX_FALLBACK_TRIES 3        /* after the primary, as ably-js */
#define MIN_TRY_MS 20               /* not worth starting a try with less */

struct ably_rest {
	const struct config *cfg;
	struct upstream *up;
	struct ably_handles *handles;  /* curl handles, set up and reused */
	struct ably_hosts hosts;  /* which to try, how each fared */
	struct ably_clock *clock; /* Ably's time (query_time) */
	struct ably_rest_stats stats;
	struct ably_call *calls;  /* in flight, for ably_rest_free */
	/* /keys/{escaped key name}/requestToken, made once per key rather
	 * than escaped again on every try. */
	const char *token_path_key;  /* the key name it was made for */
	char token_path[512];
};

/* One token request, from start to answer. */
struct ably_call {
	struct ably_rest *r;
	const struct ably_key *k;
	struct ably_token_ask ask;
	char rid[LOG_REQUEST_ID_MAX + 1];
	ably_done_fn done;
	void *ctx;
	long long start, deadline;  /* monotonic ms */
	size_t order[ABLY_HOSTS_MAX], n, i, tried;
	int clock_asked;          /* waited for GET /time once already */
	int clock_retry;          /* re-asked the time after a 40104 */
	int reconnected;          /* retried after a kept connection died */
	int resigned;             /* retried after Ably saw a replay (40105) */
	enum ably_answer_verdict last;
	CURL *easy;               /* the try in flight, or NULL */
	struct curl_slist *headers;  /* with the traceparent; NULL = none */
	const char *host;         /* the last host tried (r->hosts' name) */
	char *json;               /* its signed TokenRequest (wiped after) */
	long long try_start;
	struct buf body;
	char *details;            /* ABLY_ANSWER_OK: the TokenDetails */
	char curl_err[CURL_ERROR_SIZE];
	int from_cdn;             /* the answer had Server: CloudFront */
	struct tok_error e;
	struct ably_clock_waiter waiting;  /* for Ably's clock */
	struct ably_call *prev, *next;
};

enum tok_err
ably_rest_global_init(void)
{
	return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? TOK_OK :
	    TOK_EINTERNAL;
}

void
ably_rest_free(struct ably_rest *r)
{
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
		curl_slist_free_all(c->headers);
		free(c->details);
		free(c);
	}
	ably_clock_free(r->clock);
	ably_handles_free(r->handles);
	ably_hosts_free(&r->hosts);
	free(r);
}

enum tok_err
ably_rest_new(const struct config *cfg, struct upstream *up,
              struct ably_rest **out, struct tok_error *e)
{
	struct ably_rest *r;
	enum tok_err rc;

	*out = NULL;
	r = calloc(1, sizeof(*r));
	if (r == NULL)
		return tok_fail(e, TOK_ENOMEM, 0, "out of memory");
	r->cfg = cfg;
	r->up = up;
	if (ably_hosts_init(&r->hosts, cfg) != TOK_OK)
		rc = tok_fail(e, TOK_ENOMEM, 0, "out of memory");
	else
		rc = ably_handles_new(cfg, &r->handles, e);
	if (rc == TOK_OK && ably_clock_new(cfg, up, r->handles, &r->clock) !=
	    TOK_OK)
		rc = tok_fail(e, TOK_ENOMEM, 0, "out of memory");
	if (rc != TOK_OK)
		ably_rest_free(r);
	else
		*out = r;
	return rc;
}

static void next_try(struct ably_call *c);

/* The call is over: count it and take it off the list; *details gets the
 * answer on success, *rep how it went. The caller reports it and frees
 * it. */
static enum tok_err
conclude(struct ably_call *c, char **details, struct ably_call_report *rep)
{
	struct ably_rest *r = c->r;
	enum tok_err rc;
	long latency = (long)(clock_mono_ms() - c->start);

	*details = NULL;
	rep->host = c->host;
	rep->tries = (unsigned)c->tried;
	rep->latency_ms = latency;

	if (c->last == ABLY_ANSWER_OK) {
		*details = c->details;  /* handed over */
		c->details = NULL;
		rc = TOK_OK;
		r->stats.last_ok_ms = clock_wall_ms();
		r->stats.failing_since_ms = 0;
	} else {
		r->stats.failures++;
		r->stats.last_failure_ms = clock_wall_ms();
		/* Ably's own refusal shows Ably is there; anything else
		 * means no host answered (readiness, endpoint.c). */
		if (c->last == ABLY_ANSWER_FINAL)
			r->stats.failing_since_ms = 0;
		else if (r->stats.failing_since_ms == 0)
			r->stats.failing_since_ms = clock_wall_ms();
		if (c->last == ABLY_ANSWER_FINAL)
			rc = c->e.kind;
		else if (c->last == ABLY_ANSWER_TIMEOUT)
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
	curl_slist_free_all(c->headers);
	c->headers = NULL;
	return rc;
}

/* The call is over: report it and free it. */
static void
finish(struct ably_call *c)
{
	struct ably_call_report rep;
	char *details;
	enum tok_err rc = conclude(c, &details, &rep);

	c->done(c->ctx, rc, details, &c->e, &rep);
	free(c);
}

/* Ably's clock is known (or failed): go on, under the call's id. */
static void
clock_ready(void *ctx)
{
	struct ably_call *c = ctx;

	log_set_request_id(c->rid);
	next_try(c);
}

static void
token_done(void *ctx, CURL *h, const struct upstream_result *res)
{
	struct ably_call *c = ctx;
	struct ably_rest *r = c->r;
	size_t host = c->order[c->i];
	enum ably_answer_verdict v;

	log_set_request_id(c->rid);
	c->easy = NULL;
	crypto_wipe(c->json, strlen(c->json));
	free(c->json);
	c->json = NULL;
	if (ably_answer_kept_connection_died(res) && !c->reconnected) {
		/* The host closed a connection it had kept (an HTTP/2
		 * GOAWAY, an idle timeout) as we sent on it: nothing of an
		 * answer came, and the host is not at fault. Once more, on
		 * a new connection (signed afresh). */
		c->reconnected = 1;
		metrics_ably_try(host != 0, METRICS_ABLY_CONNECTION_LOST,
		    clock_mono_ms() - c->try_start);
		log_info("ably %s: a kept connection was closed under the "
		    "request (%s); trying again on a new one",
		    r->hosts.name[host],
		    c->curl_err[0] ? c->curl_err : curl_easy_strerror(res->cc));
		ably_handles_put(r->handles, h);
		next_try(c);
		log_set_request_id(NULL);
		return;
	}
	v = ably_answer_judge(r->hosts.name[host], res, c->body.data,
	    c->curl_err, c->from_cdn, clock_mono_ms() - c->try_start,
	    &c->details, &c->e);
	ably_handles_put(r->handles, h);
	metrics_ably_try(host != 0, (enum metrics_ably_outcome)v,
	    clock_mono_ms() - c->try_start);
	c->last = v;
	if (v == ABLY_ANSWER_FINAL && c->e.code == 40104 &&
	    r->cfg->query_time && !c->clock_retry) {
		/* Our idea of Ably's clock is stale: ask again, once, and
		 * try the same host. */
		c->clock_retry = 1;
		c->clock_asked = 0;
		ably_clock_forget(r->clock);
		next_try(c);
	} else if (v == ABLY_ANSWER_FINAL && c->e.code == 40105 &&
	    !c->resigned) {
		/* "Nonce value replayed": every try is signed afresh, so
		 * Ably saw this very request before: libcurl sent it again
		 * on a new connection after the server's GOAWAY (streams
		 * above its last stream id are resent), and the first copy
		 * had been served after all. Sign anew, once. */
		c->resigned = 1;
		log_info("ably %s: Ably had seen this request already (a "
		    "resend after GOAWAY); signing it afresh",
		    r->hosts.name[host]);
		next_try(c);
	} else if (v == ABLY_ANSWER_FINAL || v == ABLY_ANSWER_OK) {
		if (v == ABLY_ANSWER_OK)
			ably_hosts_remember(&r->hosts, host, 1);
		finish(c);
	} else {
		ably_hosts_remember(&r->hosts, host, 0);
		if (c->i + 1 < c->n)
			metrics_fallback_taken();
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
	char url[1024], nonce[CRYPTO_NONCE_LEN + 1];
	struct token_params p = { c->ask.ttl, c->ask.capability,
	    c->ask.client_id, 0, nonce };
	CURL *h;

	h = ably_handles_get(r->handles);
	if (h == NULL)
		return -1;
	if (r->token_path_key != c->k->name) {
		char *escaped = curl_easy_escape(h, c->k->name, 0);

		if (escaped == NULL)
			goto fail;
		(void)snprintf(r->token_path, sizeof(r->token_path),
		    "/keys/%.400s/requestToken", escaped);
		curl_free(escaped);
		r->token_path_key = c->k->name;
	}
	if (ably_hosts_url(r->cfg, host, r->token_path, url, sizeof(url)) != 0)
		goto fail;
	p.timestamp = clock_wall_ms() + ably_clock_offset(r->clock);
	if (crypto_nonce(nonce) != TOK_OK ||
	    tr_build(c->k, &p, &c->json, NULL) != TOK_OK)
		goto fail;
	ably_handles_prepare(r->handles, h, url, c->json, c->headers, budget_ms,
	    &c->body, c->curl_err, &c->from_cdn);
	c->try_start = clock_mono_ms();
	if (upstream_start(r->up, h, token_done, c) != TOK_OK)
		goto fail;
	c->easy = h;
	c->host = host;
	c->tried++;
	r->stats.tries++;
	return 0;
fail:
	if (c->json != NULL) {
		crypto_wipe(c->json, strlen(c->json));
		free(c->json);
		c->json = NULL;
	}
	ably_handles_put(r->handles, h);
	return -1;
}

/* Go on with the call: the clock if needed, else the next host to try.
 * 1 once hosts or time ran out (the call is over), 0 while it waits. */
static int
advance(struct ably_call *c)
{
	struct ably_rest *r = c->r;

	for (; c->i < c->n; c->i++) {
		const char *host = r->hosts.name[c->order[c->i]];
		long left = (long)(c->deadline - clock_mono_ms());

		if (left < MIN_TRY_MS) {
			c->last = ABLY_ANSWER_TIMEOUT;
			break;
		}
		if (!c->clock_asked && ably_clock_due(r->clock)) {
			c->clock_asked = 1;
			c->waiting.ready = clock_ready;
			c->waiting.ctx = c;
			if (ably_clock_wait(r->clock, host, left,
			    &c->waiting) == 0)
				return 0;  /* clock_ready() calls again */
		}
		if (try_start(c, host, left) == 0)
			return 0;  /* token_done() calls again */
		c->last = ABLY_ANSWER_RETRY;
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
	c->last = ABLY_ANSWER_RETRY;
	if (ask->traceparent != NULL) {
		/* This call's own header list: the pool's and the caller's
		 * trace context, which Ably may record with the request. */
		char line[96];

		(void)snprintf(line, sizeof(line), "traceparent: %.60s",
		    ask->traceparent);
		c->headers = ably_handles_headers_with(r->handles, line);
		if (c->headers == NULL) {
			free(c);
			return tok_fail(e, TOK_ENOMEM, 0, "out of memory");
		}
	}
	buf_init(&c->body, MAX_RESPONSE);
	c->n = ably_hosts_plan(&r->hosts, c->order);
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
		struct ably_call_report rep;
		char *details;
		enum tok_err rc = conclude(c, &details, &rep);

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
sync_done(void *ctx, enum tok_err rc, char *details, const struct tok_error *e,
          const struct ably_call_report *rep)
{
	struct sync_wait *w = ctx;

	(void)rep;
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
	ably_clock_stats(r->clock, &st->clock_offset_ms, &st->clock_known);
}
