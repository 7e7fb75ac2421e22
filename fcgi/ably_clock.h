/* ably_clock: Ably's clock as one client for Ably knows it (query_time):
 * the offset from ours learnt by GET /time, when to ask again, and the one
 * query in flight, which every call that needs the clock waits for
 * instead of asking again.
 *
 * One per client (one thread), made and freed by ably_rest. Calls wait as
 * struct ably_clock_waiter, embedded in the caller's own struct; each is
 * told once, when the query ends, whether or not it learnt the time (a
 * call then signs with the local clock). ably_clock_new() fails only for
 * memory; ably_clock_wait() returns -1 when no query could start.
 */
#ifndef TOK_ABLY_CLOCK_H
#define TOK_ABLY_CLOCK_H

#include "ably_handles.h"
#include "config.h"
#include "error.h"
#include "upstream.h"

struct ably_clock;

/* A call waiting for the clock: ready(ctx) is called once the query
 * ended (from the upstream's event handling, never from
 * ably_clock_wait). */
struct ably_clock_waiter {
	void (*ready)(void *ctx);
	void *ctx;
	struct ably_clock_waiter *next;
};

/* A clock for cfg (query_time, the hosts' scheme and port) whose queries
 * run on up with handles from handles (all borrowed; they outlive it). */
enum tok_err ably_clock_new(const struct config *cfg, struct upstream *up,
                            struct ably_handles *handles,
                            struct ably_clock **out)
	__attribute__((warn_unused_result));

/* A query in flight is abandoned without telling its waiters (the upstream
 * aborts its transfer when freed). NULL does nothing. */
void ably_clock_free(struct ably_clock *k);

/* Whether a call should wait for Ably's time before it signs: query_time
 * is on and the time is unknown (and not just failed) or old. */
int ably_clock_due(const struct ably_clock *k);

/* Wait for Ably's time: join the query in flight or start one at host,
 * given budget_ms at most. 0 if w now waits, -1 if no query could start. */
int ably_clock_wait(struct ably_clock *k, const char *host, long budget_ms,
                    struct ably_clock_waiter *w)
	__attribute__((warn_unused_result));

/* Ably's clock minus ours in ms, 0 while unknown: what to add to a
 * timestamp we sign. */
long long ably_clock_offset(const struct ably_clock *k);

/* Forget what was learnt, so that the next call asks at once (Ably
 * refused a timestamp: 40104). */
void ably_clock_forget(struct ably_clock *k);

/* For the health counters: the last offset learnt and whether it holds. */
void ably_clock_stats(const struct ably_clock *k, long long *offset_ms,
                      int *known);

#endif
