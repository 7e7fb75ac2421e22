/* peers: which web servers may connect over TCP (FCGI_WEB_SERVER_ADDRS).
 *
 * libfcgi's own accept loop closes a TCP connection from an address not in
 * the comma-separated FCGI_WEB_SERVER_ADDRS; worker.c accepts connections
 * itself, so it keeps that promise here. IPv4 and IPv6 addresses, exact
 * matches (an IPv4-mapped IPv6 peer matches its IPv4 entry). Unix sockets
 * are not checked: their file mode says who may connect.
 */
#ifndef TOK_PEERS_H
#define TOK_PEERS_H

#include <stddef.h>
#include <sys/socket.h>

#include "error.h"

#define PEERS_MAX 32

struct peers {
	size_t n;  /* 0: every address may connect */
	struct {
		int family;              /* AF_INET or AF_INET6 */
		unsigned char addr[16];  /* 4 or 16 bytes, network order */
	} v[PEERS_MAX];
};

/* Parse a comma-separated list of addresses (spaces around entries
 * allowed; NULL or blank: no restriction). On failure e says which entry. */
enum tok_err peers_parse(const char *text, struct peers *out,
                         struct tok_error *e)
	__attribute__((warn_unused_result));

/* Whether a connection from sa may be served. */
int peers_allow(const struct peers *p, const struct sockaddr *sa);

#endif
