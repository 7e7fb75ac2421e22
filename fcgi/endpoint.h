/* endpoint: answer one request, start to finish.
 *
 * parse (request) -> decide (policy) -> sign (token_request / jwt) ->
 * answer (response). Used the same way by the FastCGI loop, plain CGI and
 * the tests; owns nothing but its counters.
 */
#ifndef TOK_ENDPOINT_H
#define TOK_ENDPOINT_H

#include <time.h>

#include "ably_rest.h"
#include "buf.h"
#include "config.h"
#include "request.h"

struct endpoint {
	const struct config *cfg;
	time_t started;
	unsigned long requests;
	unsigned long errors;
	unsigned long long seq;  /* request ids within this process... */
	/* ...or, when the threads of a process share one count, that */
	_Atomic unsigned long long *shared_seq;
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
