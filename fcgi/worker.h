/* worker: one worker process's FastCGI loop.
 *
 * An epoll loop over the listening socket and every connection the web
 * server keeps open (nginx fastcgi_keep_conn), run by one or more threads,
 * each serving one request at a time with libfcgi. No thread ever blocks
 * on an idle kept connection, so however many connections nginx keeps, no
 * request waits for a worker that is parked on someone else's (the
 * starvation trap of kept FastCGI connections).
 */
#ifndef TOK_WORKER_H
#define TOK_WORKER_H

#include <stdatomic.h>

#include "config.h"
#include "peers.h"

/* Serve listen_fd with `threads` threads (the caller's and threads - 1
 * more) until *stop is set (by a SIGTERM/SIGINT handler: those signals are
 * blocked while a request is served and delivered only while a thread
 * waits). On a TCP socket, a connection from an address not in peers is
 * closed at once (FCGI_WEB_SERVER_ADDRS; NULL or empty: any). Returns the
 * process exit status: 0 after a stop, 1 if the loop could not start or
 * the socket failed. Sets listen_fd non-blocking (the other workers may
 * take a connection first). */
int worker_run(const struct config *cfg, int listen_fd, int threads,
               const struct peers *peers, atomic_int *stop);

#endif
