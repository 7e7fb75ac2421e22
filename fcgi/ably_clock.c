/* ably_clock: Ably's clock for one client: GET /time, shared by every
 * call that waits for it, and what it taught (ably_clock.h). */
#include "ably_clock.h"

#include <stdio.h>
#include <stdlib.h>

#include <curl/curl.h>
#include <json-c/json.h>

#include "ably_hosts.h"
#include "buf.h"
#include "clock.h"
#include "log.h"
#include "metrics.h"

#define MAX_ANSWER (64 * 1024)      /* [time] is a few bytes */
#define TIME_REFRESH_MS (30 * 60 * 1000)
#define TIME_RETRY_MS (10 * 1000)   /* after a failed GET /time */

/* The one GET /time in flight. */
struct clock_query {
	CURL *easy;
	struct buf body;
	long long sent_wall;
	char host[256];
	char curl_err[CURL_ERROR_SIZE];
	int from_cdn;             /* the answer had Server: CloudFront */
	struct ably_clock_waiter *waiters;
};

struct ably_clock {
	const struct config *cfg;
	struct upstream *up;
	struct ably_handles *handles;
	long long offset_ms;      /* Ably's clock minus ours */
	int known;
	long long checked;        /* monotonic ms of the last good GET /time */
	long long retry_at;       /* after a failed one: not before this */
	struct clock_query *query;  /* in flight, or NULL */
};

static void
query_free(struct clock_query *q)
{
	if (q == NULL)
		return;
	buf_free(&q->body);
	free(q);
}

enum tok_err
ably_clock_new(const struct config *cfg, struct upstream *up,
               struct ably_handles *handles, struct ably_clock **out)
{
	struct ably_clock *k = calloc(1, sizeof(*k));

	*out = k;
	if (k == NULL)
		return TOK_ENOMEM;
	k->cfg = cfg;
	k->up = up;
	k->handles = handles;
	return TOK_OK;
}

void
ably_clock_free(struct ably_clock *k)
{
	if (k == NULL)
		return;
	query_free(k->query);
	free(k);
}

int
ably_clock_due(const struct ably_clock *k)
{
	long long now = clock_mono_ms();

	if (!k->cfg->query_time)
		return 0;
	if (k->known)
		return now - k->checked > TIME_REFRESH_MS;
	return now >= k->retry_at;
}

/* The query ended: remember Ably's time (or that it failed), then let
 * every call that waited for it go on. */
static void
query_done(void *ctx, CURL *h, const struct upstream_result *res)
{
	struct ably_clock *k = ctx;
	struct clock_query *q = k->query;
	struct ably_clock_waiter *w, *next;
	struct json_object *root = NULL;
	CURLcode cc = res->cc;
	long status = cc == CURLE_OK ? res->status : 0;
	int ok = 0;

	k->query = NULL;
	ably_handles_put(k->handles, h);
	if (status == 200)
		root = json_tokener_parse(q->body.data);
	if (root != NULL && json_object_is_type(root, json_type_array) &&
	    json_object_array_length(root) == 1) {
		long long t = json_object_get_int64(
		    json_object_array_get_idx(root, 0));
		/* Ably's clock at the middle of the round trip. */
		long long offset = t - (q->sent_wall + clock_wall_ms()) / 2;

		k->offset_ms = offset;
		metrics_clock_offset(offset);
		k->known = 1;
		k->checked = clock_mono_ms();
		log_info("ably %s: clock offset %lld ms", q->host, offset);
		ok = 1;
	}
	json_object_put(root);
	if (!ok) {
		/* Sign with the local clock for a while rather than ask
		 * again for every call. */
		k->retry_at = clock_mono_ms() + TIME_RETRY_MS;
		log_warn("ably %s: GET /time failed (%s); signing with the "
		    "local clock", q->host, cc != CURLE_OK ? (q->curl_err[0] ?
		    q->curl_err : curl_easy_strerror(cc)) : "bad answer");
	}
	w = q->waiters;
	query_free(q);
	for (; w != NULL; w = next) {
		next = w->next;
		w->next = NULL;
		w->ready(w->ctx);
	}
	log_set_request_id(NULL);
}

int
ably_clock_wait(struct ably_clock *k, const char *host, long budget_ms,
                struct ably_clock_waiter *w)
{
	struct clock_query *q = k->query;
	char url[512];

	if (q == NULL) {
		if (ably_hosts_url(k->cfg, host, "/time", url,
		    sizeof(url)) != 0)
			return -1;
		q = calloc(1, sizeof(*q));
		if (q == NULL)
			return -1;
		buf_init(&q->body, MAX_ANSWER);
		(void)snprintf(q->host, sizeof(q->host), "%s", host);
		q->easy = ably_handles_get(k->handles);
		if (q->easy == NULL) {
			query_free(q);
			return -1;
		}
		ably_handles_prepare(k->handles, q->easy, url, NULL, NULL,
		    budget_ms, &q->body, q->curl_err, &q->from_cdn);
		q->sent_wall = clock_wall_ms();
		if (upstream_start(k->up, q->easy, query_done, k) != TOK_OK) {
			ably_handles_put(k->handles, q->easy);
			query_free(q);
			return -1;
		}
		k->query = q;
	}
	w->next = q->waiters;
	q->waiters = w;
	return 0;
}

long long
ably_clock_offset(const struct ably_clock *k)
{
	return k->known ? k->offset_ms : 0;
}

void
ably_clock_forget(struct ably_clock *k)
{
	k->known = 0;
	k->retry_at = 0;
}

void
ably_clock_stats(const struct ably_clock *k, long long *offset_ms, int *known)
{
	*offset_ms = k->offset_ms;
	*known = k->known;
}
