/* endpoint: answer one request, start to finish.
 *
 * parse (request) -> decide (policy) -> sign (token_request / jwt), or in
 * token mode park the request on a call to Ably (ably_rest) -> answer
 * (response). Used the same way by the FastCGI loop, plain CGI and the
 * tests; owns nothing but its counters (a parked request owns its state
 * until its answer is given).
 */
#ifndef TOK_ENDPOINT_H
#define TOK_ENDPOINT_H

#include <stdatomic.h>
#include <time.h>

#include "ably_rest.h"
#include "buf.h"
#include "config.h"
#include "request.h"

/* What the health answer counts, for the whole process. The request count
 * also numbers the request ids. */
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
	int stopping;            /* shutting down: the ready path says 503 */
};

void endpoint_init(struct endpoint *ep, const struct config *cfg);

/* endpoint_init must be called in the process that serves (after a
 * fork): it remembers the pid for request ids. */

/* The largest answer endpoint_handle builds: the cap for its out buffer,
 * the same for FastCGI (worker.c) and CGI (main.c). */
#define ENDPOINT_ANSWER_MAX (256 * 1024)

/* Gets a parked request's whole answer (valid during the call only). */
typedef void (*endpoint_done_fn)(void *ctx, const struct buf *answer);

/* Start handling one request from src. Returns 1 if the whole answer was
 * appended to out; 0 if the request is parked on a call to Ably (token
 * mode): done(ctx, answer) gives it later, from the worker's loop (the
 * upstream's events), never from here. src is read only during this
 * call. Always produces an answer (a 500 if even the error answer cannot
 * be built). */
int endpoint_begin(struct endpoint *ep, const struct req_source *src,
                   struct buf *out, endpoint_done_fn done, void *ctx);

/* The same, waiting for a parked answer (plain CGI, tests): ep->rest must
 * run on an upstream with an epoll set of its own. */
void endpoint_handle(struct endpoint *ep, const struct req_source *src,
                     struct buf *out);

/* Milliseconds since the epoch, from the real-time clock. */
long long endpoint_now_ms(void);

#endif
