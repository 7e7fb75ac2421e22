/* endpoint: answer one request, start to finish.
 *
 * parse (request) -> decide (policy) -> sign (token_request / jwt) ->
 * answer (response). Used the same way by the FastCGI loop, plain CGI and
 * the tests; owns nothing but its counters.
 */
#ifndef TOK_ENDPOINT_H
#define TOK_ENDPOINT_H

#include <stdatomic.h>
#include <time.h>

#include "ably_rest.h"
#include "buf.h"
#include "config.h"
#include "request.h"

/* What the health answer counts, for the whole process: its threads share
 * one (worker.c). The request count also numbers the request ids. */
struct endpoint_counts {
	atomic_ulong requests;
	atomic_ulong errors;
};

struct endpoint {
	const struct config *cfg;
	time_t started;
	struct endpoint_counts own;      /* unless the process shares one: */
	struct endpoint_counts *counts;  /* &own, or the process's */
	long pid;                /* this process, read once (after fork) */
	struct ably_rest *rest;  /* token mode: this worker's client, borrowed */
};

void endpoint_init(struct endpoint *ep, const struct config *cfg);

/* endpoint_init must be called in the process that serves (after a
 * fork): it remembers the pid for request ids. */

/* The largest answer endpoint_handle builds: the cap for its out buffer,
 * the same for FastCGI (worker.c) and CGI (main.c). */
#define ENDPOINT_ANSWER_MAX (256 * 1024)

/* Handle one request from src; the whole answer is appended to out. Always
 * produces an answer (a 500 if even the error answer cannot be built). */
void endpoint_handle(struct endpoint *ep, const struct req_source *src,
                     struct buf *out);

/* Milliseconds since the epoch, from the real-time clock. */
long long endpoint_now_ms(void);

#endif
