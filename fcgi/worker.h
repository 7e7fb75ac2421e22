/* worker: one worker process's event loop.
 *
 * One thread and one epoll set for everything that waits: the listening
 * socket, every connection from the web server (kept ones too: nginx
 * fastcgi_keep_conn), and in token mode every transfer to Ably. A request
 * is read only once it is whole, and a request waiting on Ably is parked,
 * so neither a slow peer nor a slow Ably holds up any other request.
 */
#ifndef TOK_WORKER_H
#define TOK_WORKER_H

#include <stdatomic.h>

#include "config.h"
#include "peers.h"

/* Serve listen_fd until *stop is set (signals.h: SIGNALS_STOP on
 * SIGTERM/SIGINT, SIGNALS_RETIRE on SIGHUP; those signals are blocked while
 * requests are handled and delivered only while the loop waits), then
 * answer every request it holds (being read, or waiting on Ably), close
 * its kept connections and return. Once SIGNALS_STOP is set the ready
 * path answers 503; a retiring worker stays ready (its replacements
 * serve). On a TCP socket, a connection from an address not in peers is
 * closed at once (FCGI_WEB_SERVER_ADDRS; NULL or empty: any). Returns the
 * process exit status: 0 after a stop, 1 if the loop could not start or
 * the socket failed. Sets listen_fd non-blocking (the other workers may
 * take a connection first). */
int worker_run(const struct config *cfg, int listen_fd,
               const struct peers *peers, atomic_uint *stop);

#endif
