/* upstream: libcurl's multi interface driven by a worker's event loop.
 *
 * Every transfer to Ably runs on one CURLM whose sockets sit in the
 * worker's epoll set (CURLMOPT_SOCKETFUNCTION) and whose timer is the
 * loop's wait timeout (CURLMOPT_TIMERFUNCTION): nothing here blocks or
 * sleeps, so a worker has as many transfers in flight as it has requests
 * waiting on Ably. Concurrent transfers to one host share one HTTP/2
 * connection when the server offers it (ALPN), up to its stream limit;
 * over HTTP/1.1 they use a bounded pool of kept connections.
 *
 * The worker's loop gives this module the events of descriptors tagged
 * with UPSTREAM_TAG and calls upstream_on_timeout when upstream_wait_ms
 * says. Plain CGI has no loop: upstream_run drives one of its own.
 */
#ifndef TOK_UPSTREAM_H
#define TOK_UPSTREAM_H

#include <stdint.h>

#include <curl/curl.h>

#include "error.h"

/* epoll data of a libcurl socket: this bit and the descriptor. */
#define UPSTREAM_TAG (UINT64_C(1) << 63)

struct upstream;

/* How a transfer ended, read off its handle before the report: what the
 * caller judges an answer by (the body went where the handle said). */
struct upstream_result {
	CURLcode cc;        /* as curl_easy_perform would give it */
	long status;        /* HTTP status; 0 if no answer came */
	long connects;      /* connections it opened; 0 = it reused one */
	long header_bytes;  /* header bytes received */
};

/* Called once a transfer ended (res borrowed for the call); the handle is
 * no longer in the multi and is the caller's again. */
typedef void (*upstream_done_fn)(void *ctx, CURL *easy,
                                 const struct upstream_result *res);

/* A new driver whose sockets go into epfd (owned by the caller), or into
 * an epoll set of its own if epfd < 0 (for upstream_run). max_conns bounds
 * the connections per host (HTTP/1.1: one per transfer in flight; HTTP/2:
 * more only when a connection's streams are all in use). */
enum tok_err upstream_new(int epfd, long max_conns, struct upstream **out)
	__attribute__((warn_unused_result));

/* Aborts what is in flight without calling back. NULL does nothing. */
void upstream_free(struct upstream *up);

/* Start a transfer on easy (set up by the caller); done(ctx, ...) is called
 * from a later upstream_on_event/upstream_on_timeout, never from here. */
enum tok_err upstream_start(struct upstream *up, CURL *easy,
                            upstream_done_fn done, void *ctx)
	__attribute__((warn_unused_result));

/* An epoll event whose data has UPSTREAM_TAG. */
void upstream_on_event(struct upstream *up, uint64_t data, uint32_t events);

/* Milliseconds until libcurl wants upstream_on_timeout (0: now), or -1 if
 * it has no timer running. */
long upstream_wait_ms(const struct upstream *up);
void upstream_on_timeout(struct upstream *up);

/* Transfers in flight. */
int upstream_active(const struct upstream *up);

/* Own epoll set only: wait and act until no transfer is in flight. */
void upstream_run(struct upstream *up);

#endif
