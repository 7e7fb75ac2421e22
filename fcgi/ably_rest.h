/* ably_rest: Ably's REST API for `token` mode, asynchronous.
 *
 * POST /keys/{keyName}/requestToken with a freshly signed TokenRequest, and
 * GET /time for the clock offset, as transfers on the worker's upstream
 * (upstream.h): a call in flight is a small struct, never a waiting thread.
 * One client per worker: its calls share what is learnt about Ably's hosts
 * (one that failed is avoided for a while, a fallback that worked is
 * preferred), Ably's clock, its connections (HTTP/2 when offered) and the
 * health counters.
 *
 * Fallback hosts are tried, in random order, on connection errors,
 * timeouts, 500-504 and answers that are not Ably's (a CDN error page:
 * RSC15l4), never on an Ably 4xx, as the Ably SDKs do. Each call has one
 * absolute deadline, upstream_timeout_ms after it starts: the clock query,
 * every try and every fallback are charged to it, and a try never starts
 * with less than a few ms left.
 */
#ifndef TOK_ABLY_REST_H
#define TOK_ABLY_REST_H

#include "config.h"
#include "error.h"
#include "key.h"
#include "upstream.h"

struct ably_rest;

/* What to ask for; timestamp and nonce are chosen per try. */
struct ably_token_ask {
	long long ttl;           /* ms; 0 = Ably's default */
	const char *capability;  /* canonical JSON; NULL = the key's */
	const char *client_id;   /* NULL = none */
	/* A W3C traceparent to pass on as a request header to Ably (a value
	 * trace_parse_traceparent() made), or NULL for none. */
	const char *traceparent;
};

/* How a call went, for the request's log line (valid during the
 * callback only). */
struct ably_call_report {
	const char *host;     /* the last host tried; NULL if none was */
	unsigned tries;       /* HTTP tries, fallbacks included */
	long latency_ms;      /* from the start to the answer */
};

/* Counters for the health answer: the worker's. */
struct ably_rest_stats {
	unsigned long calls;        /* token requests made */
	unsigned long failures;     /* of those, failed after every try */
	unsigned long tries;        /* HTTP attempts, fallbacks included */
	long long last_ok_ms;       /* wall clock of the last success, 0 never */
	long long last_failure_ms;  /* wall clock of the last failure, 0 never */
	long long failing_since_ms; /* wall clock of the first call since Ably
	                             * last answered on which no host answered;
	                             * 0 while Ably answers */
	long last_latency_ms;       /* of the last call, all tries included */
	long long clock_offset_ms;  /* Ably's clock minus ours (query_time) */
	int clock_known;
	int in_flight;              /* calls not yet answered */
};

/* Called once per call, from the upstream's event handling (never from
 * ably_request_token_start). On TOK_OK details is TokenDetails JSON text
 * (token, keyName, issued, expires, capability, clientId), the callee's to
 * free; otherwise details is NULL and e holds Ably's 4xx passed on (status
 * and code), 502/50002 when every host failed, or 504/50003 when the
 * deadline came first. rep says how the call went. */
typedef void (*ably_done_fn)(void *ctx, enum tok_err rc, char *details,
                             const struct tok_error *e,
                             const struct ably_call_report *rep);

/* Call once per process before any client is made (before forking). */
enum tok_err ably_rest_global_init(void)
	__attribute__((warn_unused_result));

/* A new client for cfg (borrowed; must outlive the client) whose transfers
 * run on up (borrowed; freed after the client). */
enum tok_err ably_rest_new(const struct config *cfg, struct upstream *up,
                           struct ably_rest **out, struct tok_error *e)
	__attribute__((warn_unused_result));

/* Calls still in flight are abandoned without their callbacks. */
void ably_rest_free(struct ably_rest *r);

/* Start exchanging a TokenRequest signed with k for TokenDetails; done(ctx,
 * ...) reports the end. k and the ask's strings are borrowed until then;
 * rid (copied) labels the call's log lines. On failure to start (no
 * memory) nothing is called back and e says why. */
enum tok_err ably_request_token_start(struct ably_rest *r,
                                      const struct ably_key *k,
                                      const struct ably_token_ask *ask,
                                      const char *rid, ably_done_fn done,
                                      void *ctx, struct tok_error *e)
	__attribute__((warn_unused_result));

/* The same, waiting for the answer: for a client whose upstream has an
 * epoll set of its own (plain CGI). On success *details is the caller's. */
enum tok_err ably_request_token(struct ably_rest *r, const struct ably_key *k,
                                const struct ably_token_ask *ask,
                                char **details, struct tok_error *e)
	__attribute__((warn_unused_result));

/* Run the client's own upstream until no transfer is in flight (plain
 * CGI: the loop of a one-request process). */
void ably_rest_wait(struct ably_rest *r);

void ably_rest_get_stats(const struct ably_rest *r, struct ably_rest_stats *st);

#endif
