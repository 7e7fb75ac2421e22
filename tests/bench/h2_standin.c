/*
 * A delayed fast stand-in for Ably's REST API, in C, for the round-trip cells of
 * `make bench` (tests/bench/rtt.mjs builds it with cc into its scratch dir). The same
 * interface as tests/bench/delayed-standin.mjs, at a fraction of its CPU per request:
 *
 *   h2_standin --cert FILE --key FILE [--host 127.0.0.1] [--port 0] [--latency-ms 0]
 *              [--max-streams 1000]
 *
 * HTTPS (OpenSSL), HTTP/2 when the client offers h2 by ALPN, HTTP/1.1 otherwise. Every
 * request is answered after a fixed delay, concurrently (one event loop, epoll; answers due
 * in arrival order):
 *   POST /keys/<key>/requestToken   a fixed TokenDetails
 *   GET  /time                      [now]
 * Nothing in a request is checked. Over HTTP/2 the header block is not decoded (no HPACK
 * decoder here): a request whose HEADERS end the stream is a GET, taken as /time; one
 * with a body is taken as requestToken. Over HTTP/1.1 the request line is read.
 *
 * Prints {"event":"listening","port":P,"tls":true,"controlPort":C,"impl":"c"}. C is plain
 * HTTP: GET /stats (counters, as the Node version's) and GET /latency?ms=N.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#define MAX_FRAME 16384
#define MAX_HEADER_BYTES 65536
#define OUR_CONN_WINDOW_BOOST (1u << 30)

enum { K_API = 1, K_CONTROL, K_LISTEN_API, K_LISTEN_CONTROL };
enum { S_HANDSHAKE, S_PREFACE, S_H2, S_H1, S_CONTROL };
enum { R_TOKEN, R_TIME, R_NOTFOUND };

struct buf {
	unsigned char *p;
	size_t len, off, cap;
};

struct pending;

struct conn {
	int kind, fd, state;
	SSL *ssl;
	struct buf in, out;
	int epollout;		/* EPOLLOUT registered */
	int dead;		/* socket closed; freed when refs == 0 */
	int close_after;	/* close once out is flushed (HTTP/1.1 close, control) */
	int refs;		/* pendings pointing here */
	int64_t send_window;	/* HTTP/2 connection-level window for our DATA */
	uint64_t recv_unacked;	/* DATA bytes received since our last WINDOW_UPDATE */
	uint32_t cont_stream;	/* HEADERS awaiting CONTINUATION */
	int cont_end_stream;
	struct pending *blocked, *blocked_tail; /* answers waiting for window */
	struct conn *dirty_next;
	int dirty;
};

struct pending {
	struct pending *next;
	struct conn *c;
	uint32_t stream;
	int what;
	uint64_t due_ns;
};

static struct {
	unsigned long connections, open, tls_handshakes, tls_resumed, h2_sessions;
	unsigned long v2, v11, requests, token, time, other, in_flight, max_in_flight;
} st;

static int ep;
static long latency_ms;
static unsigned max_streams = 1000;
static struct pending *q_head, *q_tail;
static struct conn *dirty_head;
static SSL_CTX *ctx;
static char token_json[512];
static size_t token_len;

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static long long
wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
die(const char *what)
{
	fprintf(stderr, "h2_standin: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void
reserve(struct buf *b, size_t more)
{
	if (b->len + more <= b->cap)
		return;
	if (b->off > 0) {	/* drop what was consumed first */
		memmove(b->p, b->p + b->off, b->len - b->off);
		b->len -= b->off;
		b->off = 0;
		if (b->len + more <= b->cap)
			return;
	}
	size_t cap = b->cap ? b->cap : 4096;
	while (cap < b->len + more)
		cap *= 2;
	b->p = realloc(b->p, cap);
	if (b->p == NULL)
		die("realloc");
	b->cap = cap;
}

static void
put(struct buf *b, const void *d, size_t n)
{
	reserve(b, n);
	memcpy(b->p + b->len, d, n);
	b->len += n;
}

static void
mark_dirty(struct conn *c)
{
	if (!c->dirty) {
		c->dirty = 1;
		c->dirty_next = dirty_head;
		dirty_head = c;
	}
}

static void
frame_header(struct buf *b, size_t len, int type, int flags, uint32_t stream)
{
	unsigned char h[9] = { (unsigned char)(len >> 16), (unsigned char)(len >> 8),
	    (unsigned char)len, (unsigned char)type, (unsigned char)flags,
	    (unsigned char)(stream >> 24 & 0x7f), (unsigned char)(stream >> 16),
	    (unsigned char)(stream >> 8), (unsigned char)stream };

	put(b, h, 9);
}

static void
window_update(struct buf *b, uint32_t stream, uint32_t inc)
{
	unsigned char v[4] = { (unsigned char)(inc >> 24 & 0x7f), (unsigned char)(inc >> 16),
	    (unsigned char)(inc >> 8), (unsigned char)inc };

	frame_header(b, 4, 8, 0, stream);
	put(b, v, 4);
}

/* ------------------------------------------------------------------ connections */

static void
ep_set(struct conn *c, int out)
{
	struct epoll_event ev = { .events = EPOLLIN | (out ? EPOLLOUT : 0), .data.ptr = c };

	if (epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev) != 0)
		die("epoll_ctl mod");
	c->epollout = out;
}

static void
conn_free(struct conn *c)
{
	struct pending *p, *n;

	for (p = c->blocked; p != NULL; p = n) {
		n = p->next;
		free(p);
	}
	free(c->in.p);
	free(c->out.p);
	free(c);
}

static void
conn_close(struct conn *c)
{
	if (c->dead)
		return;
	c->dead = 1;
	epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
	if (c->ssl != NULL) {
		SSL_free(c->ssl);
		c->ssl = NULL;
	}
	close(c->fd);
	if (c->kind == K_API)
		st.open--;
	/* Freed by the dirty-list walk or when the last pending lets go. */
}

/* Write out what is buffered; 0 ok (maybe partial, EPOLLOUT armed), -1 closed. */
static int
flush(struct conn *c)
{
	while (c->out.off < c->out.len) {
		size_t n = c->out.len - c->out.off;
		if (c->ssl != NULL) {
			int w = SSL_write(c->ssl, c->out.p + c->out.off, n > 65536 ? 65536 : (int)n);
			if (w <= 0) {
				int e = SSL_get_error(c->ssl, w);
				if (e == SSL_ERROR_WANT_WRITE) {
					if (!c->epollout)
						ep_set(c, 1);
					return 0;
				}
				if (e == SSL_ERROR_WANT_READ)
					return 0;
				ERR_clear_error();
				conn_close(c);
				return -1;
			}
			c->out.off += (size_t)w;
		} else {
			ssize_t w = send(c->fd, c->out.p + c->out.off, n, MSG_NOSIGNAL);
			if (w < 0) {
				if (errno == EAGAIN || errno == EINTR) {
					if (!c->epollout)
						ep_set(c, 1);
					return 0;
				}
				conn_close(c);
				return -1;
			}
			c->out.off += (size_t)w;
		}
	}
	c->out.off = c->out.len = 0;
	if (c->epollout)
		ep_set(c, 0);
	if (c->close_after && c->refs == 0) {	/* its last answer is out */
		conn_close(c);
		return -1;
	}
	return 0;
}

/* -------------------------------------------------------------------- answers */

static void
enqueue(struct conn *c, uint32_t stream, int what)
{
	struct pending *p = malloc(sizeof(*p));
	uint64_t due = now_ns() + (uint64_t)latency_ms * 1000000u;

	if (p == NULL)
		die("malloc");
	/* Answers leave in arrival order: a later one never falls due before an earlier. */
	if (q_tail != NULL && q_tail->due_ns > due)
		due = q_tail->due_ns;
	*p = (struct pending){ .c = c, .stream = stream, .what = what, .due_ns = due };
	if (q_tail != NULL)
		q_tail->next = p;
	else
		q_head = p;
	q_tail = p;
	c->refs++;
	st.requests++;
	if (c->state == S_H2)
		st.v2++;
	else
		st.v11++;
	if (what == R_TOKEN)
		st.token++;
	else if (what == R_TIME)
		st.time++;
	else
		st.other++;
	if (++st.in_flight > st.max_in_flight)
		st.max_in_flight = st.in_flight;
}

static size_t
body_of(int what, char *tmp, size_t len, const char **body)
{
	if (what == R_TOKEN) {
		*body = token_json;
		return token_len;
	}
	if (what == R_TIME) {
		*body = tmp;
		return (size_t)snprintf(tmp, len, "[%lld]", wall_ms());
	}
	*body = "{\"error\":{\"message\":\"stand-in: no such route\",\"code\":40400,\"statusCode\":404}}";
	return strlen(*body);
}

/* Our HTTP/2 answer: HEADERS (:status, content-type, content-length, HPACK literals
 * without indexing, static names) and DATA ending the stream. 0, or -1 if the
 * connection's window is too small for now. */
static int
answer_h2(struct conn *c, uint32_t stream, int what)
{
	char tmp[64], cl[24], hb[64];
	const char *body;
	size_t blen = body_of(what, tmp, sizeof(tmp), &body), hl = 0;
	int cll;

	if ((int64_t)blen > c->send_window)
		return -1;
	c->send_window -= (int64_t)blen;
	cll = snprintf(cl, sizeof(cl), "%zu", blen);
	hb[hl++] = what == R_NOTFOUND ? 0x8d : 0x88;	/* :status 404 / 200 */
	hb[hl++] = 0x0f;	/* content-type (static 31), literal value */
	hb[hl++] = 0x10;
	hb[hl++] = 16;
	memcpy(hb + hl, "application/json", 16);
	hl += 16;
	hb[hl++] = 0x0f;	/* content-length (static 28) */
	hb[hl++] = 0x0d;
	hb[hl++] = (char)cll;
	memcpy(hb + hl, cl, (size_t)cll);
	hl += (size_t)cll;
	frame_header(&c->out, hl, 1, 0x4, stream);
	put(&c->out, hb, hl);
	frame_header(&c->out, blen, 0, 0x1, stream);
	put(&c->out, body, blen);
	return 0;
}

static void
answer_h1(struct conn *c, int what)
{
	char tmp[64], head[160];
	const char *body;
	size_t blen = body_of(what, tmp, sizeof(tmp), &body);
	int n = snprintf(head, sizeof(head), "HTTP/1.1 %s\r\nContent-Type: application/json\r\n"
	    "Content-Length: %zu\r\n\r\n", what == R_NOTFOUND ? "404 Not Found" : "200 OK", blen);

	put(&c->out, head, (size_t)n);
	put(&c->out, body, blen);
}

/* Answer everything that is due. */
static void
fire(void)
{
	uint64_t now = now_ns();

	while (q_head != NULL && q_head->due_ns <= now) {
		struct pending *p = q_head;
		struct conn *c = p->c;

		q_head = p->next;
		if (q_head == NULL)
			q_tail = NULL;
		st.in_flight--;
		c->refs--;
		if (c->dead) {
			free(p);
			if (c->refs == 0 && !c->dirty)
				conn_free(c);
			continue;
		}
		if (c->state == S_H2) {
			if (c->blocked != NULL || answer_h2(c, p->stream, p->what) != 0) {
				/* Keep it until the client opens its window. */
				p->next = NULL;
				if (c->blocked_tail != NULL)
					c->blocked_tail->next = p;
				else
					c->blocked = p;
				c->blocked_tail = p;
				continue;
			}
		} else {
			answer_h1(c, p->what);
		}
		free(p);
		mark_dirty(c);
	}
}

static void
unblock(struct conn *c)
{
	while (c->blocked != NULL && answer_h2(c, c->blocked->stream, c->blocked->what) == 0) {
		struct pending *p = c->blocked;

		c->blocked = p->next;
		if (c->blocked == NULL)
			c->blocked_tail = NULL;
		free(p);
		mark_dirty(c);
	}
}

/* -------------------------------------------------------------------- HTTP/2 */

static const char PREFACE[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

static void
h2_start(struct conn *c)
{
	unsigned char s[12] = { 0, 3, (unsigned char)(max_streams >> 24), (unsigned char)(max_streams >> 16),
	    (unsigned char)(max_streams >> 8), (unsigned char)max_streams,
	    0, 4, 0, 0x10, 0, 0 };	/* INITIAL_WINDOW_SIZE 1 MiB for request bodies */

	frame_header(&c->out, sizeof(s), 4, 0, 0);
	put(&c->out, s, sizeof(s));
	window_update(&c->out, 0, OUR_CONN_WINDOW_BOOST);
	c->send_window = 65535;
	st.h2_sessions++;
	mark_dirty(c);
}

/* Consume complete frames; -1 on a protocol error (connection closed). */
static int
h2_input(struct conn *c)
{
	struct buf *b = &c->in;

	if (c->state == S_PREFACE) {
		if (b->len - b->off < sizeof(PREFACE) - 1)
			return 0;
		if (memcmp(b->p + b->off, PREFACE, sizeof(PREFACE) - 1) != 0) {
			conn_close(c);
			return -1;
		}
		b->off += sizeof(PREFACE) - 1;
		c->state = S_H2;
	}
	while (b->len - b->off >= 9) {
		const unsigned char *h = b->p + b->off;
		size_t len = (size_t)h[0] << 16 | (size_t)h[1] << 8 | h[2];
		int type = h[3], flags = h[4];
		uint32_t stream = ((uint32_t)h[5] << 24 | (uint32_t)h[6] << 16 | (uint32_t)h[7] << 8 | h[8]) & 0x7fffffff;
		const unsigned char *p = h + 9;

		if (len > MAX_FRAME) {
			conn_close(c);
			return -1;
		}
		if (b->len - b->off < 9 + len)
			break;
		switch (type) {
		case 0:	/* DATA */
			c->recv_unacked += len;
			if (flags & 0x1)
				enqueue(c, stream, R_TOKEN);
			break;
		case 1:	/* HEADERS */
			if (flags & 0x4) {
				if (flags & 0x1)
					enqueue(c, stream, R_TIME);
			} else {
				c->cont_stream = stream;
				c->cont_end_stream = flags & 0x1;
			}
			break;
		case 9:	/* CONTINUATION */
			if ((flags & 0x4) && stream == c->cont_stream && c->cont_end_stream)
				enqueue(c, stream, R_TIME);
			break;
		case 4:	/* SETTINGS: acknowledge (our answers fit any window a client sets) */
			if (!(flags & 0x1)) {
				frame_header(&c->out, 0, 4, 0x1, 0);
				mark_dirty(c);
			}
			break;
		case 6:	/* PING */
			if (!(flags & 0x1) && len == 8) {
				frame_header(&c->out, 8, 6, 0x1, 0);
				put(&c->out, p, 8);
				mark_dirty(c);
			}
			break;
		case 8:	/* WINDOW_UPDATE */
			if (stream == 0 && len == 4) {
				c->send_window += (int64_t)(((uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
				    (uint32_t)p[2] << 8 | p[3]) & 0x7fffffff);
				unblock(c);
			}
			break;
		default:	/* PRIORITY, RST_STREAM, GOAWAY, unknown: nothing to do */
			break;
		}
		b->off += 9 + len;
	}
	/* Keep the client's connection window for request bodies wide open. */
	if (c->recv_unacked >= OUR_CONN_WINDOW_BOOST / 2) {
		window_update(&c->out, 0, (uint32_t)c->recv_unacked);
		c->recv_unacked = 0;
		mark_dirty(c);
	}
	return 0;
}

/* ------------------------------------------------------------------ HTTP/1.1 */

/* The value of header name (with ':') in [h, end), or NULL. */
static const char *
header(const char *h, const char *end, const char *name, size_t *vlen)
{
	size_t n = strlen(name);
	const char *l = memchr(h, '\n', (size_t)(end - h));

	while (l != NULL && l + 1 < end) {
		const char *s = l + 1, *e = memchr(s, '\n', (size_t)(end - s));
		if (e == NULL)
			e = end;
		if ((size_t)(e - s) > n && strncasecmp(s, name, n) == 0) {
			s += n;
			while (s < e && (*s == ' ' || *s == '\t'))
				s++;
			const char *t = e;
			while (t > s && (t[-1] == '\r' || t[-1] == ' '))
				t--;
			*vlen = (size_t)(t - s);
			return s;
		}
		l = e < end ? e : NULL;
	}
	return NULL;
}

/* Length of a complete chunked body at p (through the last chunk's CRLF), or 0 if more
 * is needed, or (size_t)-1 if it is malformed. */
static size_t
chunked_len(const char *p, const char *end)
{
	const char *s = p;

	for (;;) {
		char *e;
		const char *crlf = memmem(s, (size_t)(end - s), "\r\n", 2);
		if (crlf == NULL)
			return 0;
		unsigned long n = strtoul(s, &e, 16);
		if (e == s)
			return (size_t)-1;
		s = crlf + 2;
		if (n == 0) {	/* trailers, then an empty line */
			const char *t = memmem(s - 2, (size_t)(end - s + 2), "\r\n\r\n", 4);
			return t == NULL ? 0 : (size_t)(t + 4 - p);
		}
		if ((size_t)(end - s) < n + 2)
			return 0;
		s += n + 2;
	}
}

static int
h1_input(struct conn *c)
{
	struct buf *b = &c->in;

	for (;;) {
		const char *s = (const char *)b->p + b->off, *end = (const char *)b->p + b->len;
		const char *he = memmem(s, (size_t)(end - s), "\r\n\r\n", 4);
		size_t vlen, body = 0;
		const char *v;

		if (he == NULL) {
			if ((size_t)(end - s) > MAX_HEADER_BYTES) {
				conn_close(c);
				return -1;
			}
			return 0;
		}
		he += 4;
		if ((v = header(s, he, "transfer-encoding:", &vlen)) != NULL && vlen >= 7 &&
		    strncasecmp(v + vlen - 7, "chunked", 7) == 0) {
			body = chunked_len(he, end);
			if (body == (size_t)-1) {
				conn_close(c);
				return -1;
			}
			if (body == 0)
				return 0;
		} else if ((v = header(s, he, "content-length:", &vlen)) != NULL) {
			body = strtoul(v, NULL, 10);
			if (body > MAX_HEADER_BYTES) {
				conn_close(c);
				return -1;
			}
			if ((size_t)(end - he) < body)
				return 0;
		}
		/* The request line: METHOD SP PATH SP VERSION */
		const char *sp = memchr(s, ' ', (size_t)(he - s)), *sp2 = sp ? memchr(sp + 1, ' ', (size_t)(he - sp - 1)) : NULL;
		int what = R_NOTFOUND;
		if (sp != NULL && sp2 != NULL) {
			const char *path = sp + 1, *q = memchr(path, '?', (size_t)(sp2 - path));
			size_t plen = (size_t)((q ? q : sp2) - path);
			if (sp - s == 4 && memcmp(s, "POST", 4) == 0 && plen > 6 + 13 &&
			    memcmp(path, "/keys/", 6) == 0 && memcmp(path + plen - 13, "/requestToken", 13) == 0)
				what = R_TOKEN;
			else if (sp - s == 3 && memcmp(s, "GET", 3) == 0 && plen == 5 && memcmp(path, "/time", 5) == 0)
				what = R_TIME;
		}
		if ((v = header(s, he, "connection:", &vlen)) != NULL && vlen == 5 && strncasecmp(v, "close", 5) == 0)
			c->close_after = 1;	/* after this answer (HTTP/1.1 answers leave in order) */
		b->off = (size_t)(he - (const char *)b->p) + body;
		enqueue(c, 0, what);
		if (c->close_after)
			return 0;
	}
}

/* ------------------------------------------------------------------ control */

static void
control_input(struct conn *c)
{
	const char *s = (const char *)c->in.p + c->in.off, *end = (const char *)c->in.p + c->in.len;
	const char *he = memmem(s, (size_t)(end - s), "\r\n\r\n", 4);
	char body[1024];
	int n, status = 200;

	if (he == NULL)
		return;
	if (end - s > 11 && memcmp(s, "GET /stats ", 11) == 0) {
		n = snprintf(body, sizeof(body), "{\"impl\":\"c\",\"connections\":%lu,\"openConnections\":%lu,"
		    "\"tlsHandshakes\":%lu,\"tlsResumed\":%lu,\"h2Sessions\":%lu,\"httpVersions\":{\"2.0\":%lu,"
		    "\"1.1\":%lu},\"requests\":%lu,\"requestToken\":%lu,\"time\":%lu,\"other\":%lu,"
		    "\"inFlight\":%lu,\"maxInFlight\":%lu,\"maxConcurrentStreams\":%u,\"latencyMs\":%ld}",
		    st.connections, st.open, st.tls_handshakes, st.tls_resumed, st.h2_sessions, st.v2, st.v11,
		    st.requests, st.token, st.time, st.other, st.in_flight, st.max_in_flight, max_streams,
		    latency_ms);
	} else if (end - s > 16 && memcmp(s, "GET /latency?ms=", 16) == 0) {
		char *e;
		long ms = strtol(s + 16, &e, 10);
		if (e == s + 16 || *e != ' ' || ms < 0 || ms > 600000) {
			status = 400;
			n = snprintf(body, sizeof(body), "{\"error\":\"bad ms\"}");
		} else {
			latency_ms = ms;
			n = snprintf(body, sizeof(body), "{\"latencyMs\":%ld}", ms);
		}
	} else {
		status = 404;
		n = snprintf(body, sizeof(body), "{\"error\":\"no such route\"}");
	}
	char head[160];
	int hn = snprintf(head, sizeof(head), "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\n"
	    "Content-Length: %d\r\nConnection: close\r\n\r\n", status, status == 200 ? "OK" : "Error", n);
	put(&c->out, head, (size_t)hn);
	put(&c->out, body, (size_t)n);
	c->in.off = c->in.len;
	c->close_after = 1;
	mark_dirty(c);
}

/* ------------------------------------------------------------------- events */

static int
alpn_cb(SSL *s, const unsigned char **out, unsigned char *outlen, const unsigned char *in,
        unsigned inlen, void *arg)
{
	static const unsigned char ours[] = "\x02h2\x08http/1.1";

	(void)s;
	(void)arg;
	if (SSL_select_next_proto((unsigned char **)out, outlen, ours, sizeof(ours) - 1, in, inlen) ==
	    OPENSSL_NPN_NEGOTIATED)
		return SSL_TLSEXT_ERR_OK;
	return SSL_TLSEXT_ERR_NOACK;	/* no ALPN: HTTP/1.1 */
}

static void
accept_all(int lfd, int kind)
{
	for (;;) {
		int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC), one = 1;
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			return;	/* EAGAIN, or out of descriptors: try at the next event */
		}
		struct conn *c = calloc(1, sizeof(*c));
		if (c == NULL)
			die("calloc");
		c->fd = fd;
		c->kind = kind;
		if (kind == K_API) {
			setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
			c->ssl = SSL_new(ctx);
			if (c->ssl == NULL || SSL_set_fd(c->ssl, fd) != 1) {
				fprintf(stderr, "h2_standin: SSL_new failed\n");
				exit(1);
			}
			SSL_set_accept_state(c->ssl);
			c->state = S_HANDSHAKE;
			st.connections++;
			st.open++;
		} else {
			c->state = S_CONTROL;
		}
		struct epoll_event ev = { .events = EPOLLIN, .data.ptr = c };
		if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) != 0)
			die("epoll_ctl add");
	}
}

static void
on_readable(struct conn *c)
{
	if (c->state == S_HANDSHAKE) {
		int r = SSL_do_handshake(c->ssl);
		if (r != 1) {
			int e = SSL_get_error(c->ssl, r);
			if (e == SSL_ERROR_WANT_READ) {
				if (c->epollout)
					ep_set(c, 0);
				return;
			}
			if (e == SSL_ERROR_WANT_WRITE) {
				if (!c->epollout)
					ep_set(c, 1);
				return;
			}
			ERR_clear_error();
			conn_close(c);
			return;
		}
		if (c->epollout)
			ep_set(c, 0);
		st.tls_handshakes++;
		if (SSL_session_reused(c->ssl))
			st.tls_resumed++;
		const unsigned char *alpn;
		unsigned alen;
		SSL_get0_alpn_selected(c->ssl, &alpn, &alen);
		if (alen == 2 && memcmp(alpn, "h2", 2) == 0) {
			c->state = S_PREFACE;
			h2_start(c);
		} else {
			c->state = S_H1;
		}
	}
	for (;;) {
		reserve(&c->in, 16384);
		if (c->ssl != NULL) {
			int r = SSL_read(c->ssl, c->in.p + c->in.len, (int)(c->in.cap - c->in.len));
			if (r <= 0) {
				int e = SSL_get_error(c->ssl, r);
				if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
					break;
				ERR_clear_error();
				conn_close(c);
				return;
			}
			c->in.len += (size_t)r;
		} else {
			ssize_t r = recv(c->fd, c->in.p + c->in.len, c->in.cap - c->in.len, 0);
			if (r < 0 && (errno == EAGAIN || errno == EINTR))
				break;
			if (r <= 0) {
				conn_close(c);
				return;
			}
			c->in.len += (size_t)r;
		}
	}
	if (c->state == S_PREFACE || c->state == S_H2)
		h2_input(c);
	else if (c->state == S_H1)
		h1_input(c);
	else if (c->state == S_CONTROL)
		control_input(c);
	if (c->dead)
		return;
	if (c->in.off == c->in.len)
		c->in.off = c->in.len = 0;
	if (c->out.len > c->out.off)	/* e.g. a write that waited for a read */
		mark_dirty(c);
}

static int
listen_on(const char *host, int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), one = 1;

	if (fd < 0 || inet_pton(AF_INET, host, &a.sin_addr) != 1)
		die("socket/address");
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(fd, 4096) != 0)
		die("bind/listen");
	return fd;
}

static int
port_of(int fd)
{
	struct sockaddr_in a;
	socklen_t l = sizeof(a);

	getsockname(fd, (struct sockaddr *)&a, &l);
	return ntohs(a.sin_port);
}

int
main(int argc, char **argv)
{
	const char *cert = NULL, *key = NULL, *host = "127.0.0.1";
	int port = 0, i;

	for (i = 1; i + 1 < argc; i += 2) {
		if (strcmp(argv[i], "--cert") == 0)
			cert = argv[i + 1];
		else if (strcmp(argv[i], "--key") == 0)
			key = argv[i + 1];
		else if (strcmp(argv[i], "--host") == 0)
			host = argv[i + 1];
		else if (strcmp(argv[i], "--port") == 0)
			port = atoi(argv[i + 1]);
		else if (strcmp(argv[i], "--latency-ms") == 0)
			latency_ms = atol(argv[i + 1]);
		else if (strcmp(argv[i], "--max-streams") == 0)
			max_streams = (unsigned)atoi(argv[i + 1]);
		else
			break;
	}
	if (i != argc || cert == NULL || key == NULL) {
		fprintf(stderr, "usage: h2_standin --cert FILE --key FILE [--host H] [--port N] "
		    "[--latency-ms N] [--max-streams N]\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);

	long long issued = wall_ms();
	token_len = (size_t)snprintf(token_json, sizeof(token_json),
	    "{\"token\":\"TESTAPP.standin-token-not-valid-anywhere-0000000000\",\"keyName\":\"TESTAPP.fulltest\","
	    "\"issued\":%lld,\"expires\":%lld,\"capability\":\"{\\\"*\\\":[\\\"*\\\"]}\","
	    "\"clientId\":\"example-client-id\"}", issued, issued + 3600000);

	ctx = SSL_CTX_new(TLS_server_method());
	if (ctx == NULL || SSL_CTX_use_certificate_chain_file(ctx, cert) != 1 ||
	    SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
		ERR_print_errors_fp(stderr);
		return 1;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	SSL_CTX_set_alpn_select_cb(ctx, alpn_cb, NULL);

	ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0)
		die("epoll_create1");
	int api = listen_on(host, port), control = listen_on(host, 0);
	static struct conn lapi = { .kind = K_LISTEN_API }, lcontrol = { .kind = K_LISTEN_CONTROL };
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = &lapi };
	epoll_ctl(ep, EPOLL_CTL_ADD, api, &ev);
	ev.data.ptr = &lcontrol;
	epoll_ctl(ep, EPOLL_CTL_ADD, control, &ev);
	printf("{\"event\":\"listening\",\"port\":%d,\"tls\":true,\"controlPort\":%d,\"impl\":\"c\"}\n",
	    port_of(api), port_of(control));
	fflush(stdout);

	struct epoll_event evs[256];
	for (;;) {
		int timeout = -1;
		if (q_head != NULL) {
			uint64_t now = now_ns();
			timeout = q_head->due_ns <= now ? 0 : (int)((q_head->due_ns - now + 999999) / 1000000);
		}
		int n = epoll_wait(ep, evs, 256, timeout);
		if (n < 0 && errno != EINTR)
			die("epoll_wait");
		for (i = 0; i < n; i++) {
			struct conn *c = evs[i].data.ptr;
			if (c->kind == K_LISTEN_API) {
				accept_all(api, K_API);
				continue;
			}
			if (c->kind == K_LISTEN_CONTROL) {
				accept_all(control, K_CONTROL);
				continue;
			}
			if (c->dead)
				continue;
			if (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP))
				on_readable(c);
			if (!c->dead && (evs[i].events & EPOLLOUT)) {
				if (c->state == S_HANDSHAKE)
					on_readable(c);
				else
					mark_dirty(c);
			}
			/* A connection closed here is freed now unless answers still point to it
			 * or it waits on the dirty list. */
			if (c->dead && c->refs == 0 && !c->dirty)
				conn_free(c);
		}
		fire();
		while (dirty_head != NULL) {
			struct conn *c = dirty_head;
			dirty_head = c->dirty_next;
			c->dirty = 0;
			if (!c->dead)
				flush(c);
			if (c->dead && c->refs == 0)
				conn_free(c);
		}
	}
}
