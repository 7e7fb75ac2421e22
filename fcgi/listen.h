/* listen: the sockets the workers serve. A --listen socket opened (and
 * removed again) here, the socket systemd passed, and the web servers that
 * may connect over TCP (FCGI_WEB_SERVER_ADDRS).
 *
 * The caller owns the descriptors returned. Errors are said on stderr
 * (start-up, before logging is set up for serving) and returned as -1, or
 * as a tok_err with the reason in e.
 */
#ifndef TOK_LISTEN_H
#define TOK_LISTEN_H

#include <sys/types.h>

#include "error.h"
#include "peers.h"

/* A listening socket for spec, "unix:PATH" (PATH absolute; a stale
 * socket there is replaced, any other file refused; the socket gets mode
 * and, when owner is "USER[:GROUP]", that owner) or "IPV4:PORT". -1 on
 * failure, said on stderr. Close it with listen_close(). */
int listen_open(const char *spec, mode_t mode, const char *owner);

/* Close fd, opened by listen_open(spec, ...), and remove a unix socket's
 * file. */
void listen_close(int fd, const char *spec);

/* The socket systemd passed (LISTEN_PID is us, LISTEN_FDS >= 1), or -1. */
int listen_systemd_socket(void);

/* The addresses of FCGI_WEB_SERVER_ADDRS into *out (unset or blank: every
 * address may connect). TOK_EINVAL with e naming the entry otherwise. */
enum tok_err listen_web_servers(struct peers *out, struct tok_error *e)
	__attribute__((warn_unused_result));

#endif
