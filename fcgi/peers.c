/* peers: see peers.h. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "peers.h"

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

enum tok_err
peers_parse(const char *text, struct peers *out, struct tok_error *e)
{
	const char *s = text;

	memset(out, 0, sizeof(*out));
	if (text == NULL || text[strspn(text, " \t")] == '\0')
		return TOK_OK;
	for (;;) {
		size_t len;

		s += strspn(s, " \t");
		len = strcspn(s, ",");
		while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t'))
			len--;
		if (out->n == PEERS_MAX)
			return tok_fail(e, TOK_EINVAL, 0, "FCGI_WEB_SERVER_ADDRS: "
			    "more than %d addresses", PEERS_MAX);
		if (parse_one(s, len, out) != 0)
			return tok_fail(e, TOK_EINVAL, 0, "FCGI_WEB_SERVER_ADDRS: "
			    "entry %zu is not an IPv4 or IPv6 address",
			    out->n + 1);
		s += strcspn(s, ",");
		if (*s == '\0')
			return TOK_OK;
		s++;
	}
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
