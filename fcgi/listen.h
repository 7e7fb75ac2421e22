/* listen: the sockets the workers serve. A --listen socket opened (and
 * removed again) here, the socket systemd passed, and the web servers that
 * may connect over TCP (FCGI_WEB_SERVER_ADDRS): whom to refuse, and the
 * refusals said in the log.
 *
 * The caller owns the descriptors returned. Errors are said on stderr
 * (start-up, before logging is set up for serving) and returned as -1, or
 * as a tok_err with the reason in e.
 */
#ifndef TOK_LISTEN_H
#define TOK_LISTEN_H

#include <sys/socket.h>
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

/* 1 if fd is a TCP (IPv4 or IPv6) socket: the peers' addresses are then
 * checked; 0 otherwise (a unix socket's file mode says who may connect). */
int listen_is_tcp(int fd);

/* Refusals since the last report, kept by the caller (zeroed at first). */
struct listen_refused {
	unsigned long n;
	long long said;  /* monotonic s of the last report, 0 never */
};

/* Close fd, a TCP connection from peer, an address not in
 * FCGI_WEB_SERVER_ADDRS (as libfcgi does). Said in the log at most once a
 * minute, with a count, so that a flood of them cannot flood the log. */
void listen_refuse(struct listen_refused *r, int fd,
                   const struct sockaddr_storage *peer);

#endif
