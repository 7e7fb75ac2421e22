/* ably_rest: Ably's REST API over libcurl, for `token` mode.
 *
 * POST /keys/{keyName}/requestToken with a freshly signed TokenRequest, and
 * GET /time for the clock offset. One client per worker process: it keeps
 * its curl handle, so the connection (and TLS session) to Ably is reused
 * across requests. Fallback hosts are tried, in random order, on connection
 * errors, timeouts and 500-504, never on 4xx, as the Ably SDKs do; a host
 * that just failed is avoided for a while, and a fallback that worked is
 * preferred for a while. Every try together stays inside
 * upstream_timeout_ms, well within ably-js's 10 s for the whole authUrl call.
 */
#ifndef TOK_ABLY_REST_H
#define TOK_ABLY_REST_H

#include "config.h"
#include "error.h"
#include "key.h"

struct ably_rest;

/* What to ask for; timestamp and nonce are chosen per try. */
struct ably_token_ask {
	long long ttl;           /* ms; 0 = Ably's default */
	const char *capability;  /* canonical JSON; NULL = the key's */
	const char *client_id;   /* NULL = none */
};

/* Counters for the health answer: the worker's, shared by the clients
 * made with ably_rest_new_sharing. */
struct ably_rest_stats {
	unsigned long calls;        /* token requests made */
	unsigned long failures;     /* of those, failed after every try */
	unsigned long tries;        /* HTTP attempts, fallbacks included */
	long long last_ok_ms;       /* wall clock of the last success, 0 never */
	long long last_failure_ms;  /* wall clock of the last failure, 0 never */
	long last_latency_ms;       /* of the last call, all tries included */
	long long clock_offset_ms;  /* Ably's clock minus ours (query_time) */
	int clock_known;
};

/* Call once per process before any client is made (before forking). */
enum tok_err ably_rest_global_init(void)
	__attribute__((warn_unused_result));

/* A new client for cfg (borrowed; must outlive the client). */
enum tok_err ably_rest_new(const struct config *cfg, struct ably_rest **out,
                           struct tok_error *e)
	__attribute__((warn_unused_result));

/* The same, sharing with `share` (another client of this process, which
 * must outlive it) what is learnt about the hosts (one that failed is
 * avoided, and a fallback that worked is preferred, by both), Ably's clock
 * and the counters. Each client is used by one thread at a time. */
enum tok_err ably_rest_new_sharing(const struct config *cfg,
                                   struct ably_rest *share,
                                   struct ably_rest **out, struct tok_error *e)
	__attribute__((warn_unused_result));

void ably_rest_free(struct ably_rest *r);

/* Exchange a TokenRequest signed with k for TokenDetails. On success
 * *details is TokenDetails JSON text (token, keyName, issued, expires,
 * capability, clientId) which the caller frees. On failure e holds Ably's
 * 4xx passed on (status and code), 502/50002 when every host failed, or
 * 504/50003 when Ably did not answer in time. */
enum tok_err ably_request_token(struct ably_rest *r, const struct ably_key *k,
                                const struct ably_token_ask *ask,
                                char **details, struct tok_error *e)
	__attribute__((warn_unused_result));

void ably_rest_get_stats(const struct ably_rest *r, struct ably_rest_stats *st);

#endif
