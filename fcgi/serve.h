/* serve: a worker's requests on its connections from the web server: see
 * whether a whole request is in a connection's socket buffer (on bytes
 * peeked, not consumed), hand it to libfcgi and the endpoint, park it
 * while it waits on Ably, write its answer in one send, then keep the
 * connection for the next request, linger or close it.
 *
 * struct serve is plain data embedded in the worker (one thread); the
 * worker's loop reads its counters and connection table. serve_init()
 * fails only for memory (-1, logged); serve_free() releases what
 * serve_init() made, whether or not it succeeded. A connection that fails
 * is closed; no error reaches the caller.
 */
#ifndef TOK_SERVE_H
#define TOK_SERVE_H

#include <stddef.h>

#include "buf.h"
#include "config.h"
#include "conn.h"
#include "endpoint.h"
#include "fcgi_frame.h"

struct serve {
	int tcp;                   /* TCP socket: linger rather than close */
	int listening;             /* 0 once draining: no connection is kept */
	struct endpoint ep;        /* ep.rest: the worker's client for Ably */
	struct buf out;            /* answers given at once */
	unsigned char *records;    /* an answer as FastCGI records */
	size_t records_len;
	unsigned char *scratch;    /* peeked bytes */
	size_t scratch_len;
	struct fcgi_frame_limits limits;
	struct conn_table conns;   /* the connections from the web server */
	int nparked;               /* requests waiting on Ably */
};

/* s (zeroed by the caller) for cfg (borrowed; outlives s); tcp: the
 * socket served is TCP. The endpoint has no client for Ably yet: the
 * caller sets s->ep.rest in token mode (and frees it). */
int serve_init(struct serve *s, const struct config *cfg, int tcp)
	__attribute__((warn_unused_result));

/* Close every connection and free the buffers. */
void serve_free(struct serve *s);

/* Draining (s->listening is 0): serve every request already in a
 * connection's socket buffer, then close the kept connections that hold
 * none. The rest close once answered. */
void serve_drain(struct serve *s);

/* Bytes arrived on c (or may have): serve its request if it is whole,
 * drop what a lingering connection sends, close one that failed. */
void serve_read(struct serve *s, struct conn *c);

#endif
