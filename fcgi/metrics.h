/* metrics: the service's counters, shared by every worker, and their
 * rendering in the Prometheus text exposition format (version 0.0.4).
 *
 * The counters live in one fixed-size block of 64-bit atomics with no
 * pointers inside. metrics_open() maps it MAP_SHARED | MAP_ANONYMOUS in the
 * supervisor before it forks, so every worker adds to the same numbers and
 * a worker restarted keeps the totals; whichever worker answers /metrics
 * gives the same answer. Without a supervisor (a socket handed over by
 * mod_fcgid, plain CGI) the block is that process's own. Label sets are
 * fixed (the statuses and Ably codes the program can give, plus "other"),
 * so the block's size is known when compiling. Adds are relaxed atomics:
 * a counter is a count, nothing is ordered by it.
 *
 * Process-wide state (the block's address), like log.c's level: the hooks
 * are called from deep inside modules that have no handle to pass down.
 * Every hook is safe to call before metrics_open() (a static block).
 */
#ifndef TOK_METRICS_H
#define TOK_METRICS_H

#include <stddef.h>

#include "buf.h"
#include "setting.h"

/* The Content-Type of the exposition. */
#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* Workers whose requests in flight are kept apart (one slot each, so a
 * worker killed takes its own count with it); main.c's MAX_WORKERS. */
#define METRICS_SLOTS 256

/* How a try at Ably ended: the first four in the order of enum
 * ably_answer_verdict (metrics.c checks), then a kept connection found
 * closed before any answer (tried again on a new one). */
enum metrics_ably_outcome {
	METRICS_ABLY_OK,
	METRICS_ABLY_FAILED,       /* network error, 5xx, a CDN's page */
	METRICS_ABLY_TIMEOUT,
	METRICS_ABLY_REFUSED,      /* Ably's 4xx, passed on */
	METRICS_ABLY_CONNECTION_LOST,
	METRICS_ABLY__MAX
};

/* Map the shared block (once; later calls do nothing) and remember the
 * version for ably_token_build_info (a string that outlives the process's
 * use of it, e.g. a literal). Call before forking workers. -1 if the
 * mapping failed: the hooks then count in this process's own block. */
int metrics_open(const char *version);

/* A request answered: status is the HTTP status given, ably_code the Ably
 * error code (0 for a success), ms how long it took. */
void metrics_request(enum tok_mode mode, int status, int ably_code,
                     long long ms);

/* A credential handed out. */
void metrics_issued(enum tok_mode mode);

/* A try at Ably ended after ms: on the primary host or a fallback. */
void metrics_ably_try(int fallback, enum metrics_ably_outcome outcome,
                      long long ms);

/* A call moved on to the next host after one failed. */
void metrics_fallback_taken(void);

/* A host (the primary or a fallback) is avoided for a while after it
 * failed. */
void metrics_host_avoided(int fallback);

/* Ably's clock minus ours, as last learnt by any worker, in ms. */
void metrics_clock_offset(long long ms);

/* A request parked on a call to Ably (+1) or answered (-1), in this
 * process's slot (taken on its first call, reusing one whose process is
 * gone: a worker killed takes its own count with it). */
void metrics_in_flight(int delta);

/* For the supervisor: a worker was restarted; a reload was done (ok = 1)
 * or refused (ok = 0); the config now in use is generation gen (1 for the
 * one read at start). */
void metrics_worker_restarted(void);
void metrics_reload(int ok);
void metrics_set_generation(unsigned gen);

/* Append the whole exposition to out. TOK_ETOOBIG if out's cap is
 * smaller than METRICS_TEXT_MAX. */
#define METRICS_TEXT_MAX (64 * 1024)
enum tok_err metrics_render(struct buf *out)
	__attribute__((warn_unused_result));

/* Append s as a label value: backslash, double quote and newline escaped
 * as the text format wants. */
enum tok_err metrics_escape_label(struct buf *out, const char *s)
	__attribute__((warn_unused_result));

/* For tests: zero every counter of the block in use. */
void metrics_reset(void);

#endif
