/* peers: see peers.h. */
#include "peers.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "setting.h"

/* One entry, without surrounding spaces, into slot i. */
static int
parse_one(const char *s, size_t len, struct peers *p)
{
	char text[INET6_ADDRSTRLEN];

	if (len == 0 || len >= sizeof(text))
		return -1;
	memcpy(text, s, len);
	text[len] = '\0';
	if (inet_pton(AF_INET, text, p->v[p->n].addr) == 1)
		p->v[p->n].family = AF_INET;
	else if (inet_pton(AF_INET6, text, p->v[p->n].addr) == 1)
		p->v[p->n].family = AF_INET6;
	else
		return -1;
	p->n++;
	return 0;
}

/* setting_split's callback: one entry; -1 too many, -2 not an address. */
static int
peer_item(const char *item, size_t n, void *ctx)
{
	struct peers *p = ctx;

	if (p->n == PEERS_MAX)
		return -1;
	return parse_one(item, n, p) == 0 ? 0 : -2;
}

enum tok_err
peers_parse(const char *text, struct peers *out, struct tok_error *e)
{
	int rc;

	memset(out, 0, sizeof(*out));
	/* Unset or blank: libfcgi's meaning, every address may connect. */
	if (text == NULL || text[strspn(text, " \t")] == '\0')
		return TOK_OK;
	rc = setting_split(text, ",", 0, peer_item, out);
	if (rc == -1)
		return tok_fail(e, TOK_EINVAL, 0, "FCGI_WEB_SERVER_ADDRS: "
		    "more than %d addresses", PEERS_MAX);
	if (rc != 0)
		return tok_fail(e, TOK_EINVAL, 0, "FCGI_WEB_SERVER_ADDRS: "
		    "entry %zu is not an IPv4 or IPv6 address", out->n + 1);
	return TOK_OK;
}

int
peers_allow(const struct peers *p, const struct sockaddr *sa)
{
	const unsigned char *addr;
	int family;
	size_t i;

	if (p == NULL || p->n == 0)
		return 1;
	if (sa->sa_family == AF_INET) {
		family = AF_INET;
		addr = (const unsigned char *)
		    &((const struct sockaddr_in *)(const void *)sa)->sin_addr;
	} else if (sa->sa_family == AF_INET6) {
		const struct in6_addr *a6 =
		    &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;

		if (IN6_IS_ADDR_V4MAPPED(a6)) {
			family = AF_INET;
			addr = a6->s6_addr + 12;
		} else {
			family = AF_INET6;
			addr = a6->s6_addr;
		}
	} else {
		return 1;  /* a unix socket: its file mode decides */
	}
	for (i = 0; i < p->n; i++)
		if (p->v[i].family == family &&
		    memcmp(p->v[i].addr, addr, family == AF_INET ? 4 : 16) == 0)
			return 1;
	return 0;
}
