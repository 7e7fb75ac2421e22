/* ably_rest: the libcurl client for Ably's REST API. */
#include "ably_rest.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <json-c/json.h>

#include "buf.h"
#include "crypto.h"
#include "log.h"
#include "token_request.h"

#define ABLY_VERSION_HEADER "X-Ably-Version: 6"
#define AGENT "ably-token-fcgi/0.1.0"
#define MAX_RESPONSE (64 * 1024)    /* TokenDetails are well under 1 KiB */
#define MAX_FALLBACK_TRIES 3        /* after the primary, as ably-js */
#define AVOID_MS (60 * 1000)        /* skip a host that just failed */
#define PREFER_MS (10 * 60 * 1000)  /* keep using a fallback that worked */
#define TIME_REFRESH_MS (30 * 60 * 1000)
#define MIN_TRY_MS 100              /* not worth starting a try with less */

struct host {
	char *name;               /* host or host:port, owned */
};

/* What the clients of one worker (a thread each) learn and count
 * together: which hosts failed lately and which fallback worked (without
 * sharing, every thread would try a dead primary once before avoiding it),
 * Ably's clock (one GET /time per worker), and the health answer's
 * counters (the worker's, not the answering thread's). */
struct shared_state {
	pthread_mutex_t lock;
	long long *avoid_until;   /* per host, monotonic ms */
	size_t preferred;         /* a fallback that worked, 0 = primary */
	long long preferred_until;
	struct ably_rest_stats stats;
	long long clock_checked;  /* monotonic ms of the last GET /time */
};

struct ably_rest {
	const struct config *cfg;
	CURL *curl;
	struct curl_slist *headers;
	struct host *hosts;       /* [0] is the primary */
	size_t nhosts;
	struct shared_state *sh;  /* owned if owns_sh, else another client's */
	int owns_sh;
	struct buf body;          /* the current answer */
	char curl_err[CURL_ERROR_SIZE];
};

/* How one try ended. */
enum try_result {
	TRY_OK,
	TRY_RETRY,     /* network error or 5xx: the next host may work */
	TRY_TIMEOUT,   /* like TRY_RETRY, but the time ran out */
	TRY_FINAL,     /* Ably answered with a 4xx: pass it on */
};

static long long
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static long long
wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

enum tok_err
ably_rest_global_init(void)
{
	return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? TOK_OK :
	    TOK_EINTERNAL;
}

static size_t
on_body(char *p, size_t size, size_t n, void *userdata)
{
	struct ably_rest *r = userdata;

	/* Returning less than given aborts the transfer: an answer larger
	 * than any TokenDetails is not one. */
	if (buf_add(&r->body, p, size * n) != TOK_OK)
		return 0;
	return size * n;
}

void
ably_rest_free(struct ably_rest *r)
{
	size_t i;

	if (r == NULL)
		return;
	if (r->curl != NULL)
		curl_easy_cleanup(r->curl);
	curl_slist_free_all(r->headers);
	for (i = 0; i < r->nhosts; i++)
		free(r->hosts[i].name);
	free(r->hosts);
	if (r->owns_sh && r->sh != NULL) {
		pthread_mutex_destroy(&r->sh->lock);
		free(r->sh->avoid_until);
		free(r->sh);
	}
	buf_free(&r->body);
	free(r);
}

static enum tok_err
add_host(struct ably_rest *r, const char *name)
{
	r->hosts[r->nhosts].name = strdup(name);
	if (r->hosts[r->nhosts].name == NULL)
		return TOK_ENOMEM;
	r->nhosts++;
	return TOK_OK;
}

enum tok_err
ably_rest_new(const struct config *cfg, struct ably_rest **out,
              struct tok_error *e)
{
	return ably_rest_new_sharing(cfg, NULL, out, e);
}

enum tok_err
ably_rest_new_sharing(const struct config *cfg, struct ably_rest *share,
                      struct ably_rest **out, struct tok_error *e)
{
	struct ably_rest *r;
	char agent[128];
	size_t i;
	CURLcode cc = CURLE_OK;

	*out = NULL;
	r = calloc(1, sizeof(*r));
	if (r == NULL)
		return tok_fail(e, TOK_ENOMEM, 0, "out of memory");
	r->cfg = cfg;
	buf_init(&r->body, MAX_RESPONSE);
	r->hosts = calloc(cfg->n_fallback_hosts + 1, sizeof(*r->hosts));
	if (r->hosts == NULL || add_host(r, cfg->rest_host) != TOK_OK)
		goto nomem;
	for (i = 0; i < cfg->n_fallback_hosts; i++)
		if (add_host(r, cfg->fallback_hosts[i]) != TOK_OK)
			goto nomem;
	if (share != NULL) {
		r->sh = share->sh;
	} else {
		r->sh = calloc(1, sizeof(*r->sh));
		if (r->sh == NULL)
			goto nomem;
		r->owns_sh = 1;
		pthread_mutex_init(&r->sh->lock, NULL);
		r->sh->avoid_until = calloc(r->nhosts,
		    sizeof(*r->sh->avoid_until));
		if (r->sh->avoid_until == NULL)
			goto nomem;
	}
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
	r->curl = curl_easy_init();
	if (r->curl == NULL)
		goto nomem;
	/* Options that hold for every request of this client. */
	cc |= curl_easy_setopt(r->curl, CURLOPT_NOSIGNAL, 1L);
	cc |= curl_easy_setopt(r->curl, CURLOPT_HTTPHEADER, r->headers);
	cc |= curl_easy_setopt(r->curl, CURLOPT_WRITEFUNCTION, on_body);
	cc |= curl_easy_setopt(r->curl, CURLOPT_WRITEDATA, r);
	cc |= curl_easy_setopt(r->curl, CURLOPT_ERRORBUFFER, r->curl_err);
	cc |= curl_easy_setopt(r->curl, CURLOPT_PROTOCOLS_STR,
	    cfg->tls ? "https" : "http");
	cc |= curl_easy_setopt(r->curl, CURLOPT_FOLLOWLOCATION, 0L);
	cc |= curl_easy_setopt(r->curl, CURLOPT_SSL_VERIFYPEER, 1L);
	cc |= curl_easy_setopt(r->curl, CURLOPT_SSL_VERIFYHOST, 2L);
	cc |= curl_easy_setopt(r->curl, CURLOPT_TCP_KEEPALIVE, 1L);
	/* A requestToken body and a TokenDetails answer are well under 4 KiB;
	 * libcurl's default buffers (16 KiB in, 64 KiB out) are per handle,
	 * and a worker has a handle per thread. Longer answers still work,
	 * in more reads. */
	cc |= curl_easy_setopt(r->curl, CURLOPT_BUFFERSIZE, 4096L);
	cc |= curl_easy_setopt(r->curl, CURLOPT_UPLOAD_BUFFERSIZE, 16384L);
	/* Proxy only from our own setting: an empty string also stops
	 * libcurl from reading *_proxy variables, which in CGI mode a client
	 * can set with a Proxy: header (httpoxy). */
	cc |= curl_easy_setopt(r->curl, CURLOPT_PROXY,
	    cfg->proxy ? cfg->proxy : "");
	if (cfg->ca_file != NULL)
		cc |= curl_easy_setopt(r->curl, CURLOPT_CAINFO, cfg->ca_file);
	if (cc != CURLE_OK) {
		ably_rest_free(r);
		return tok_fail(e, TOK_EINTERNAL, 0,
		    "libcurl lacks an option this program needs");
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

/* One HTTP exchange with host; fills r->body and *status. */
static CURLcode
perform(struct ably_rest *r, const char *url, const char *post,
        long budget_ms, long *status)
{
	long connect_ms = r->cfg->connect_timeout_ms;
	long total_ms = r->cfg->request_timeout_ms;
	CURLcode cc;

	if (connect_ms > budget_ms)
		connect_ms = budget_ms;
	if (total_ms > budget_ms)
		total_ms = budget_ms;
	buf_reset(&r->body);
	r->curl_err[0] = '\0';
	*status = 0;
	curl_easy_setopt(r->curl, CURLOPT_URL, url);
	curl_easy_setopt(r->curl, CURLOPT_CONNECTTIMEOUT_MS, connect_ms);
	curl_easy_setopt(r->curl, CURLOPT_TIMEOUT_MS, total_ms);
	if (post != NULL) {
		curl_easy_setopt(r->curl, CURLOPT_POSTFIELDS, post);
		curl_easy_setopt(r->curl, CURLOPT_POSTFIELDSIZE,
		    (long)strlen(post));
	} else {
		curl_easy_setopt(r->curl, CURLOPT_HTTPGET, 1L);
	}
	cc = curl_easy_perform(r->curl);
	/* Don't keep a pointer to the caller's (soon wiped) body. */
	curl_easy_setopt(r->curl, CURLOPT_POSTFIELDS, NULL);
	if (cc == CURLE_OK)
		curl_easy_getinfo(r->curl, CURLINFO_RESPONSE_CODE, status);
	return cc;
}

/* Ask host for Ably's time and remember the offset. */
static void
sync_clock(struct ably_rest *r, const char *host)
{
	struct json_object *root;
	char url[512];
	long status;
	long long before = wall_ms(), after;

	if (make_url(r, host, "/time", url, sizeof(url)) != 0 ||
	    perform(r, url, NULL, r->cfg->request_timeout_ms, &status)
	    != CURLE_OK || status != 200) {
		log_warn("ably %s: GET /time failed (%s); signing with the "
		    "local clock", host, r->curl_err[0] ? r->curl_err :
		    "bad answer");
		return;
	}
	after = wall_ms();
	root = json_tokener_parse(r->body.data);
	if (root != NULL && json_object_is_type(root, json_type_array) &&
	    json_object_array_length(root) == 1) {
		long long t = json_object_get_int64(
		    json_object_array_get_idx(root, 0));

		/* Ably's clock at the middle of the round trip. */
		long long offset = t - (before + after) / 2;

		pthread_mutex_lock(&r->sh->lock);
		r->sh->stats.clock_offset_ms = offset;
		r->sh->stats.clock_known = 1;
		r->sh->clock_checked = mono_ms();
		pthread_mutex_unlock(&r->sh->lock);
		log_info("ably %s: clock offset %lld ms", host, offset);
	}
	json_object_put(root);
}

/* Ably's clock minus ours, as far as the worker knows it (0: unknown). */
static long long
clock_offset(struct ably_rest *r)
{
	long long offset;

	pthread_mutex_lock(&r->sh->lock);
	offset = r->sh->stats.clock_known ? r->sh->stats.clock_offset_ms : 0;
	pthread_mutex_unlock(&r->sh->lock);
	return offset;
}

/* Whether the worker should ask Ably's clock (again) before signing. */
static int
clock_stale(struct ably_rest *r)
{
	int stale;

	if (!r->cfg->query_time)
		return 0;
	pthread_mutex_lock(&r->sh->lock);
	stale = !r->sh->stats.clock_known ||
	    mono_ms() - r->sh->clock_checked > TIME_REFRESH_MS;
	pthread_mutex_unlock(&r->sh->lock);
	return stale;
}

/* The order to try hosts in: the preferred one first, then the others
 * in random order, those that failed lately last. Returns the count. */
static size_t
plan(struct ably_rest *r, size_t *order)
{
	long long now = mono_ms();
	size_t n = 0, i, j, first;
	unsigned char rnd[16] = { 0 };

	long long avoid[17];

	pthread_mutex_lock(&r->sh->lock);
	first = (r->sh->preferred != 0 && now < r->sh->preferred_until) ?
	    r->sh->preferred : 0;
	for (i = 0; i < r->nhosts && i < 17; i++)
		avoid[i] = r->sh->avoid_until[i];
	pthread_mutex_unlock(&r->sh->lock);
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
		if (avoid[order[i]] <= now) {
			size_t t = order[i];

			memmove(order + j + 1, order + j, (i - j) * sizeof(*order));
			order[j++] = t;
		}
	}
	return n;
}

/* One try at host; on TRY_FINAL e is set from Ably's answer. */
static enum try_result
try_host(struct ably_rest *r, const char *host, const struct ably_key *k,
         const struct ably_token_ask *ask, long budget_ms, char **details,
         struct tok_error *e)
{
	char path[512], url[1024], nonce[CRYPTO_NONCE_LEN + 1], *escaped;
	char *json = NULL;
	struct token_params p = { ask->ttl, ask->capability, ask->client_id,
	    0, nonce };
	struct ably_error ae;
	enum try_result res;
	long status = 0;
	long long t0 = mono_ms();
	CURLcode cc;
	int has_error;

	escaped = curl_easy_escape(r->curl, k->name, 0);
	if (escaped == NULL)
		return TRY_RETRY;
	(void)snprintf(path, sizeof(path), "/keys/%.400s/requestToken",
	    escaped);
	curl_free(escaped);
	if (make_url(r, host, path, url, sizeof(url)) != 0)
		return TRY_RETRY;
	/* A fresh timestamp and nonce per try: a retried TokenRequest that
	 * reached Ably once would be refused as a replay (40105). */
	p.timestamp = wall_ms() + clock_offset(r);
	if (crypto_nonce(nonce) != TOK_OK ||
	    tr_build(k, &p, &json, NULL) != TOK_OK)
		return TRY_RETRY;
	pthread_mutex_lock(&r->sh->lock);
	r->sh->stats.tries++;
	pthread_mutex_unlock(&r->sh->lock);
	cc = perform(r, url, json, budget_ms, &status);
	crypto_wipe(json, strlen(json));
	free(json);
	if (cc != CURLE_OK) {
		res = cc == CURLE_OPERATION_TIMEDOUT ? TRY_TIMEOUT : TRY_RETRY;
		log_warn("ably %s: %s (%lld ms)", host, r->curl_err[0] ?
		    r->curl_err : curl_easy_strerror(cc), mono_ms() - t0);
		return res;
	}
	if (status >= 200 && status < 300) {
		*details = token_details(r->body.data);
		if (*details != NULL)
			return TRY_OK;
		log_warn("ably %s: HTTP %ld but the body is not TokenDetails "
		    "(%lld ms)", host, status, mono_ms() - t0);
		return TRY_RETRY;
	}
	/* As ably-js: the status in the error body, if any, decides. */
	has_error = parse_error(r->body.data, &ae);
	if (!has_error || ae.status == 0)
		ae.status = (int)status;
	log_warn("ably %s: HTTP %ld, error %d: %s (%lld ms)", host, status,
	    ae.code, has_error ? ae.message : "(no Ably error body)",
	    mono_ms() - t0);
	if (ae.status >= 500 && ae.status <= 504)
		return TRY_RETRY;
	if (ae.status < 400 || ae.status > 499)
		ae.status = 502;  /* nothing sensible to pass on */
	if (ae.code == 40104) {
		tok_fail(e, TOK_EUPSTREAM, 40104, "Ably refused the "
		    "TokenRequest timestamp: this server's clock is off; fix "
		    "its time sync or set query_time = on");
	} else {
		char msg[sizeof(e->message)];

		safe_message(msg, sizeof(msg), "Ably refused the token request: ",
		    ae.message);
		tok_fail(e, TOK_EUPSTREAM, ae.code ? ae.code : 40000, "%s", msg);
	}
	e->status = ae.status;
	return TRY_FINAL;
}

/* Tell the worker's clients how host i fared: a host that worked is not
 * avoided (a fallback that worked is preferred for PREFER_MS); one that
 * failed is avoided for AVOID_MS. */
static void
remember(struct ably_rest *r, size_t i, int worked)
{
	struct shared_state *m = r->sh;

	pthread_mutex_lock(&m->lock);
	if (worked) {
		m->avoid_until[i] = 0;
		if (i != 0) {
			m->preferred = i;
			m->preferred_until = mono_ms() + PREFER_MS;
		}
	} else {
		m->avoid_until[i] = mono_ms() + AVOID_MS;
		if (i == m->preferred)
			m->preferred = 0;
	}
	pthread_mutex_unlock(&m->lock);
}

enum tok_err
ably_request_token(struct ably_rest *r, const struct ably_key *k,
                   const struct ably_token_ask *ask, char **details,
                   struct tok_error *e)
{
	size_t order[17], n, i, tried = 0;
	long long start = mono_ms(), deadline;
	long latency;
	enum try_result res = TRY_RETRY;
	int clock_retry = 0;

	*details = NULL;
	pthread_mutex_lock(&r->sh->lock);
	r->sh->stats.calls++;
	pthread_mutex_unlock(&r->sh->lock);
	deadline = start + r->cfg->upstream_timeout_ms;
	n = plan(r, order);
	if (n > 1 + MAX_FALLBACK_TRIES)
		n = 1 + MAX_FALLBACK_TRIES;
	for (i = 0; i < n; i++) {
		struct host *h = &r->hosts[order[i]];
		long left = (long)(deadline - mono_ms());

		if (left < MIN_TRY_MS) {
			res = TRY_TIMEOUT;
			break;
		}
		if (clock_stale(r))
			sync_clock(r, h->name);
		tried++;
		res = try_host(r, h->name, k, ask, (long)(deadline - mono_ms()),
		    details, e);
		if (res == TRY_FINAL && e->code == 40104 && r->cfg->query_time &&
		    !clock_retry) {
			/* Our idea of Ably's clock is stale: ask again, once. */
			clock_retry = 1;
			pthread_mutex_lock(&r->sh->lock);
			r->sh->stats.clock_known = 0;
			pthread_mutex_unlock(&r->sh->lock);
			i--;
			continue;
		}
		if (res == TRY_FINAL)
			break;
		remember(r, order[i], res == TRY_OK);
		if (res == TRY_OK)
			break;
	}
	latency = (long)(mono_ms() - start);
	pthread_mutex_lock(&r->sh->lock);
	r->sh->stats.last_latency_ms = latency;
	if (res == TRY_OK) {
		r->sh->stats.last_ok_ms = wall_ms();
	} else {
		r->sh->stats.failures++;
		r->sh->stats.last_failure_ms = wall_ms();
	}
	pthread_mutex_unlock(&r->sh->lock);
	if (res == TRY_OK)
		return TOK_OK;
	if (res == TRY_FINAL)
		return e->kind;
	if (res == TRY_TIMEOUT)
		return tok_fail(e, TOK_ETIMEOUT, 50003, "Ably did not answer in "
		    "time (%zu host%s tried in %ld ms)", tried, tried == 1 ?
		    "" : "s", latency);
	return tok_fail(e, TOK_EUPSTREAM, 50002, "Ably could not be reached "
	    "or failed (%zu host%s tried)", tried, tried == 1 ? "" : "s");
}

void
ably_rest_get_stats(const struct ably_rest *r, struct ably_rest_stats *st)
{
	pthread_mutex_lock(&r->sh->lock);
	*st = r->sh->stats;
	pthread_mutex_unlock(&r->sh->lock);
}
