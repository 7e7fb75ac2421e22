/* worker: one worker process's event loop (see worker.h).
 *
 * One thread, one epoll set: the listening socket, every connection from
 * the web server, and (token mode) every transfer to Ably. A connection is
 * handed to libfcgi only once a whole request is in its socket buffer
 * (fcgi_frame, on bytes peeked without consuming them), so libfcgi's reads
 * never wait and a slow, silent or half-sent peer costs a slot, never the
 * loop. A request that needs Ably is parked with its connection while the
 * transfer runs (ably_rest on upstream); the loop answers it when the
 * transfer, or its deadline, completes.
 *
 * libfcgi never accepts here: each connection's FCGX_Request has no
 * listening socket (-1), so when a kept connection is closed FCGX_Accept_r
 * returns an error instead of blocking in accept(). Connections live in
 * slots that are reused, never freed, before the process exits; an epoll
 * event names a slot and its generation, so an event for a connection
 * closed meanwhile is recognised and dropped.
 */
#include "worker.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <fcgiapp.h>

#include "ably_rest.h"
#include "buf.h"
#include "clock.h"
#include "endpoint.h"
#include "fcgi_frame.h"
#include "log.h"
#include "peers.h"
#include "upstream.h"

#define EVENTS_MAX 64
/* Most connections one worker holds open; fewer if RLIMIT_NOFILE says so. */
#define CONNS_MAX 4096
/* A new connection must bring its first byte, and a request must be whole
 * from its first byte, within these; nginx sends a request at once and
 * whole (it buffers the client's body first). */
#define FIRST_BYTE_MS 10000
#define WHOLE_REQUEST_MS 10000
/* A connection closed with bytes unread (or any TCP one): how long its peer
 * may take to see our answer and close (we read and drop what it sends). */
#define LINGER_MS 2000
/* How often connection deadlines are checked, while any is set. */
#define SWEEP_MS 250
/* How long request log lines may wait in memory once requests stop. */
#define LOG_LINGER_MS 50
/* Most bytes of an unread request body dropped to keep its connection. */
#define DRAIN_MAX (1024 * 1024)
/* Connections accepted per wake-up, so that a flood of new ones cannot
 * keep the loop from the others. */
#define ACCEPT_BATCH 64

/* epoll data: a connection is gen << 32 | slot (gen below 2^30); these two
 * bits mark the rest (upstream.h has bit 63). */
#define EV_LISTEN (UINT64_C(1) << 62)
#define GEN_MASK 0x3fffffffu

enum conn_state {
	CONN_FREE,
	CONN_READING,  /* waiting for a whole request (or idle, kept) */
	CONN_PARKED,   /* its request waits on Ably */
	CONN_LINGER,   /* answered, write side shut, reading to the end */
};

struct worker;

/* One connection from the web server. */
struct conn {
	FCGX_Request req;          /* req.ipcFd is the connection */
	struct worker *w;
	uint32_t slot, gen;        /* gen: bumped each time the slot is freed */
	enum conn_state state;
	long long deadline;        /* monotonic ms, 0 = none */
	size_t need;               /* READING: bytes to wait for; 0 = look */
	size_t lingered;           /* LINGER: bytes dropped */
	unsigned long long used;   /* worker tick of its last request */
	unsigned served;           /* requests answered on it */
	int started;               /* READING: a request's bytes arrived */
	int look_again;            /* bytes may wait that no event will tell */
	int close_after;           /* its request was not read to the end */
	/* Of the request being answered, kept when libfcgi's buffers go: */
	unsigned request_id;
	int drained;               /* read to its end (keepable) */
	int keep_asked;            /* the web server asked to keep (KEEP_CONN) */
};

/* One worker process. */
struct worker {
	const struct config *cfg;
	int listen_fd, epfd;
	int listening;             /* 0 once draining */
	int tcp;                   /* TCP socket: small answers, no Nagle */
	const struct peers *peers; /* TCP: who may connect (peers.h) */
	atomic_int *stop;
	sigset_t waiting;          /* the signal mask while waiting for work */
	int failed;
	struct endpoint ep;
	struct upstream *up;       /* token mode */
	struct buf out;            /* answers given at once */
	unsigned char *records;    /* an answer as FastCGI records */
	size_t records_len;
	unsigned char *scratch;    /* peeked bytes */
	size_t scratch_len;
	struct fcgi_frame_limits limits;
	unsigned long refused;     /* TCP peers refused since the last report */
	long long refused_said;    /* monotonic s of the last report */
	struct conn **slots;       /* [0, nslots) allocated */
	uint32_t *free_slots;
	int nslots, nfree, nopen, max_conns;
	int nparked, nlinger, ntimed;
	long long next_sweep;
	unsigned long long tick;
};

struct fcgi_ctx {
	FCGX_Request *req;
};

static const char too_big_answer[] =
    "Status: 431 Request Header Fields Too Large\r\n"
    "Content-Type: application/json\r\nCache-Control: no-store\r\n"
    "X-Ably-ErrorCode: 40000\r\n"
    "X-Ably-ErrorMessage: request headers too large\r\n\r\n"
    "{\"error\":{\"message\":\"request headers too large\",\"code\":40000,"
    "\"statusCode\":431,\"href\":\"https://help.ably.io/error/40000\"}}";

static const char *
fcgi_param(void *ctx, const char *name)
{
	return FCGX_GetParam(name, ((struct fcgi_ctx *)ctx)->req->envp);
}

static long
fcgi_read(void *ctx, char *buf, size_t n)
{
	int want = n > 65536 ? 65536 : (int)n;

	return FCGX_GetStr(buf, want, ((struct fcgi_ctx *)ctx)->req->in);
}

static int
socket_family(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0)
		return -1;
	return ss.ss_family;
}

/* Read and drop what is left of a request's input, up to DRAIN_MAX bytes
 * (a body we refused unread, say). 1 if its end was reached cleanly. */
static int
drain_input(FCGX_Stream *in)
{
	char scratch[4096];
	size_t total = 0;

	for (;;) {
		int n = FCGX_GetStr(scratch, (int)sizeof(scratch), in);

		if (n <= 0)
			return FCGX_GetError(in) == 0 && FCGX_HasSeenEOF(in);
		total += (size_t)n;
		if (total > DRAIN_MAX)
			return 0;
	}
}

static void
set_deadline(struct worker *w, struct conn *c, long long when)
{
	w->ntimed += (when != 0) - (c->deadline != 0);
	c->deadline = when;
	if (when != 0 && (w->next_sweep == 0 || when < w->next_sweep))
		w->next_sweep = when;
}

/* The slot of a connection that is closed (its socket, and with it its
 * epoll registration, gone) goes back to the free list. */
static void
slot_release(struct worker *w, struct conn *c)
{
	set_deadline(w, c, 0);
	if (c->state == CONN_LINGER)
		w->nlinger--;
	c->state = CONN_FREE;
	c->gen = (c->gen + 1) & GEN_MASK;
	w->free_slots[w->nfree++] = c->slot;
	w->nopen--;
}

/* Close a connection (a plain close, never libfcgi's handshake: the
 * request is detached). Its request, if any, was answered or will never
 * be; nginx drops a kept connection its upstream closed and retries a
 * request that met one. */
static void
conn_close(struct worker *w, struct conn *c)
{
	FCGX_Detach(&c->req);
	FCGX_Free(&c->req, 1);
	slot_release(w, c);
}

/* Make room by closing the connection idle longest; 0 if none is idle. */
static int
evict_idle(struct worker *w)
{
	struct conn *oldest = NULL;
	int i;

	for (i = 0; i < w->nslots; i++) {
		struct conn *c = w->slots[i];

		if (c->state == CONN_READING && !c->started &&
		    (oldest == NULL || c->used < oldest->used))
			oldest = c;
	}
	if (oldest == NULL)
		return 0;
	conn_close(w, oldest);
	return 1;
}

/* A slot for a new connection on fd, or NULL. */
static struct conn *
slot_take(struct worker *w, int fd)
{
	struct conn *c;

	if (w->nopen >= w->max_conns && !evict_idle(w))
		return NULL;
	if (w->nfree > 0) {
		c = w->slots[w->free_slots[--w->nfree]];
	} else {
		if (w->nslots >= w->max_conns)
			return NULL;
		c = calloc(1, sizeof(*c));
		if (c == NULL)
			return NULL;
		c->slot = (uint32_t)w->nslots;
		c->w = w;
		w->slots[w->nslots++] = c;
	}
	(void)FCGX_InitRequest(&c->req, -1, 0);
	c->req.ipcFd = fd;
	/* FCGX_Accept_r first "finishes" the previous request, closing the
	 * connection unless it was to be kept: this one is. Detached: when
	 * libfcgi closes it (a request it cannot read, a failed write), a
	 * plain close, not its handshake that waits up to 2 s for the peer;
	 * the flag stays for the connection's life. */
	c->req.keepConnection = 1;
	FCGX_Detach(&c->req);
	c->state = CONN_READING;
	c->need = 0;
	c->lingered = 0;
	c->served = 0;
	c->started = 0;
	c->look_again = 0;
	c->close_after = 0;
	c->used = ++w->tick;
	w->nopen++;
	set_deadline(w, c, clock_mono_ms() + FIRST_BYTE_MS);
	return c;
}

/* Shut our side of a connection and read until the peer closes (or
 * LINGER_MS, or DRAIN_MAX bytes): closing at once with bytes unread would
 * reset a TCP connection, and a peer still writing its request would meet
 * an error before it reads our answer. */
static void
conn_linger(struct worker *w, struct conn *c)
{
	if (shutdown(c->req.ipcFd, SHUT_WR) != 0) {
		conn_close(w, c);
		return;
	}
	c->state = CONN_LINGER;
	w->nlinger++;
	set_deadline(w, c, clock_mono_ms() + LINGER_MS);
}

static void conn_read(struct worker *w, struct conn *c);

/* Write the answer; keep the connection for the next request if it is
 * clean, else close it. */
static void
answer(struct worker *w, struct conn *c, const struct buf *out)
{
	size_t n = fcgi_frame_answer(w->records, w->records_len, c->request_id,
	    out->data, out->len);
	int keep = c->drained && w->listening && c->keep_asked;

	/* One write: STDOUT and END_REQUEST records together. A socket that
	 * cannot take a whole answer at once belongs to a peer that is not
	 * reading: it is closed rather than waited for. */
	if (n == 0 || send(c->req.ipcFd, w->records, n,
	    MSG_DONTWAIT | MSG_NOSIGNAL) != (ssize_t)n) {
		log_warn("the web server went away before the answer");
		conn_close(w, c);
		return;
	}
	if (!keep && (w->tcp || !c->drained)) {
		/* Bytes unread, or TCP: closing at once could cost the peer
		 * our answer (a reset; a peer still writing gets an error
		 * first): linger instead. */
		conn_linger(w, c);
		return;
	}
	if (!keep) {  /* a unix socket: a plain close loses nothing */
		conn_close(w, c);
		return;
	}
	c->state = CONN_READING;
	c->served++;
	c->used = ++w->tick;
	if (c->look_again) {
		c->look_again = 0;
		conn_read(w, c);
	}
}

/* A parked request's answer, from the upstream's event handling. */
static void
answer_parked(void *ctx, const struct buf *out)
{
	struct conn *c = ctx;
	struct worker *w = c->w;

	w->nparked--;
	answer(w, c, out);
}

/* Hand a whole request to libfcgi and the endpoint. */
static void
serve(struct worker *w, struct conn *c)
{
	struct fcgi_ctx ctx = { &c->req };
	struct req_source src = { fcgi_param, fcgi_read, &ctx };
	int answered;

	c->need = 0;
	c->started = 0;
	set_deadline(w, c, 0);
	if (FCGX_Accept_r(&c->req) < 0) {
		/* Not a request libfcgi serves: it closed the socket. */
		slot_release(w, c);
		return;
	}
	buf_reset(&w->out);
	c->state = CONN_PARKED;  /* until answered, events only note bytes */
	answered = endpoint_begin(&w->ep, &src, &w->out, answer_parked, c);
	/* Read the request to its end (for a GET the EOF record is already
	 * buffered: no extra syscall): only then may the connection be kept
	 * for the next request. Then libfcgi's buffers and the parameters
	 * go: a request parked on Ably holds none of them. */
	c->drained = !c->close_after && drain_input(c->req.in);
	c->request_id = (unsigned)c->req.requestId;
	c->keep_asked = c->req.keepConnection;
	FCGX_Free(&c->req, 0);
	if (answered)
		answer(w, c, &w->out);
	else
		w->nparked++;
}

/* Answer a request whose parameters are over the limit without reading
 * it: a status only, then close. */
static void
refuse_too_big(struct worker *w, struct conn *c, unsigned request_id)
{
	unsigned char rec[512];
	size_t n = fcgi_frame_answer(rec, sizeof(rec), request_id,
	    too_big_answer, sizeof(too_big_answer) - 1);

	log_warn("a request's parameters are over %d KiB: answered 431 "
	    "unread", FCGI_FRAME_PARAMS_MAX / 1024);
	if (n == 0 || send(c->req.ipcFd, rec, n, MSG_DONTWAIT | MSG_NOSIGNAL)
	    != (ssize_t)n) {
		conn_close(w, c);
		return;
	}
	conn_linger(w, c);
}

/* Read and drop what a lingering connection sends until it closes. */
static void
linger_read(struct worker *w, struct conn *c)
{
	for (;;) {
		ssize_t n = recv(c->req.ipcFd, w->scratch, w->scratch_len,
		    MSG_DONTWAIT);

		if (n > 0) {
			c->lingered += (size_t)n;
			if (c->lingered <= DRAIN_MAX)
				continue;
		} else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
			return;
		}
		conn_close(w, c);
		return;
	}
}

/* Bytes arrived on a connection (or may have): see whether a whole
 * request is there, and serve it. */
static void
conn_read(struct worker *w, struct conn *c)
{
	struct fcgi_frame fr;
	enum fcgi_frame_result res;
	ssize_t n;

	if (c->state == CONN_LINGER) {
		linger_read(w, c);
		return;
	}
	if (c->state != CONN_READING) {
		c->look_again = 1;  /* told once the request is answered */
		return;
	}
	if (c->need > 0) {
		/* Part of a request is here: look again only once what it
		 * lacks may be, so a trickling peer costs an ioctl a packet,
		 * not a copy of all it sent so far. */
		int avail = 0;

		if (ioctl(c->req.ipcFd, FIONREAD, &avail) == 0 &&
		    (size_t)avail < c->need)
			return;
	}
	n = recv(c->req.ipcFd, w->scratch, w->scratch_len,
	    MSG_PEEK | MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {  /* the peer closed it, or it failed */
		if (c->started)
			log_info("a connection closed in the middle of a "
			    "request");
		conn_close(w, c);
		return;
	}
	if (!c->started) {
		c->started = 1;
		set_deadline(w, c, clock_mono_ms() + WHOLE_REQUEST_MS);
	}
	res = fcgi_frame_scan(w->scratch, (size_t)n, &w->limits, &fr);
	switch (res) {
	case FCGI_FRAME_MORE:
		c->need = fr.need;
		return;
	case FCGI_FRAME_REQUEST:
		/* Bytes after it came with it: no event will say so. */
		c->look_again = (size_t)n > fr.length;
		c->close_after = 0;
		serve(w, c);
		return;
	case FCGI_FRAME_BODY_TOO_BIG:
		/* The endpoint answers 413 from CONTENT_LENGTH without
		 * reading the body; then the connection goes. */
		c->close_after = 1;
		serve(w, c);
		return;
	case FCGI_FRAME_PARAMS_TOO_BIG:
		refuse_too_big(w, c, fr.request_id);
		return;
	default:
		log_info("closed a connection that sent no FastCGI request "
		    "(%s)", fr.why ? fr.why : "?");
		conn_close(w, c);
		return;
	}
}

/* An event for a connection: act on it unless it was closed since. */
static void
conn_event(struct worker *w, uint64_t data)
{
	uint32_t slot = (uint32_t)data, gen = (uint32_t)(data >> 32);

	if (slot < (uint32_t)w->nslots && w->slots[slot]->gen == gen &&
	    w->slots[slot]->state != CONN_FREE)
		conn_read(w, w->slots[slot]);
}

/* Drop connections past their deadline: silent before their first
 * request, a request not whole in time, a lingering close done. */
static void
sweep(struct worker *w, long long now)
{
	int i;

	w->next_sweep = 0;
	for (i = 0; i < w->nslots; i++) {
		struct conn *c = w->slots[i];

		if (c->deadline == 0)
			continue;
		if (c->deadline > now) {
			if (w->next_sweep == 0 || c->deadline < w->next_sweep)
				w->next_sweep = c->deadline;
			continue;
		}
		if (c->state == CONN_READING && c->started)
			log_info("dropped a connection whose request was not "
			    "whole within %d s", WHOLE_REQUEST_MS / 1000);
		else if (c->state == CONN_READING)
			log_debug("dropped a connection silent for %d s",
			    FIRST_BYTE_MS / 1000);
		conn_close(w, c);
	}
	/* Not before SWEEP_MS: deadlines a little late cost nothing. */
	if (w->next_sweep != 0 && w->next_sweep < now + SWEEP_MS)
		w->next_sweep = now + SWEEP_MS;
}

/* Close a TCP connection from an address not in FCGI_WEB_SERVER_ADDRS,
 * as libfcgi does. Said in the log at most once a minute, with a count,
 * so that a flood of them cannot flood the log. */
static void
refuse(struct worker *w, int fd, const struct sockaddr_storage *peer)
{
	char addr[INET6_ADDRSTRLEN] = "?";
	struct timespec now;
	unsigned long n = 0;

	close(fd);
	clock_gettime(CLOCK_MONOTONIC, &now);
	w->refused++;
	if (w->refused_said == 0 || now.tv_sec - w->refused_said >= 60) {
		n = w->refused;
		w->refused = 0;
		w->refused_said = now.tv_sec;
	}
	if (n == 0)
		return;
	if (peer->ss_family == AF_INET)
		(void)inet_ntop(AF_INET, &((const struct sockaddr_in *)
		    (const void *)peer)->sin_addr, addr, sizeof(addr));
	else if (peer->ss_family == AF_INET6)
		(void)inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)
		    (const void *)peer)->sin6_addr, addr, sizeof(addr));
	log_warn("refused %lu connection%s from addresses not in "
	    "FCGI_WEB_SERVER_ADDRS (the last from %s)", n, n == 1 ? "" : "s",
	    addr);
}

/* Accept new connections (up to ACCEPT_BATCH) and look at each at once:
 * nginx writes its request right after connecting. */
static void
accept_new(struct worker *w)
{
	int i;

	for (i = 0; i < ACCEPT_BATCH && w->listening; i++) {
		struct sockaddr_storage peer;
		socklen_t peer_len = sizeof(peer);
		struct epoll_event ev;
		struct conn *c;
		int one = 1;
		int fd = accept4(w->listen_fd, (struct sockaddr *)&peer,
		    &peer_len, SOCK_CLOEXEC | SOCK_NONBLOCK);

		if (fd < 0) {
			switch (errno) {
			case EAGAIN:
#if EWOULDBLOCK != EAGAIN
			case EWOULDBLOCK:
#endif
			case EINTR:
				return;  /* none left, or another worker took it */
			case ECONNABORTED:
			case EPROTO:
				continue;
			case EMFILE:
			case ENFILE:
			case ENOBUFS:
			case ENOMEM:
				log_warn("accept: %s; closing an idle connection",
				    strerror(errno));
				if (!evict_idle(w))
					usleep(10000);  /* level-triggered: no spin */
				return;
			default:
				log_err("accept failed: %s", strerror(errno));
				w->failed = 1;
				return;
			}
		}
		if (w->tcp && !peers_allow(w->peers,
		    (const struct sockaddr *)&peer)) {
			refuse(w, fd, &peer);
			continue;
		}
		c = slot_take(w, fd);
		if (c == NULL) {
			log_warn("no room for another connection");
			close(fd);
			return;
		}
		if (w->tcp)
			(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one,
			    sizeof(one));
		/* Edge-triggered: an event when bytes arrive, not for every
		 * wait while a request is incomplete (its bytes stay unread
		 * until it is whole). */
		memset(&ev, 0, sizeof(ev));
		ev.events = EPOLLIN | EPOLLRDHUP | EPOLLET;
		ev.data.u64 = (uint64_t)c->gen << 32 | c->slot;
		if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
			log_warn("cannot watch a connection: %s",
			    strerror(errno));
			conn_close(w, c);
			continue;
		}
		conn_read(w, c);
	}
}

/* SIGTERM: take no new connection or request, close what waits for one,
 * and go on until every parked request is answered. */
static void
start_drain(struct worker *w)
{
	int i;

	w->listening = 0;
	(void)epoll_ctl(w->epfd, EPOLL_CTL_DEL, w->listen_fd, NULL);
	for (i = 0; i < w->nslots; i++) {
		struct conn *c = w->slots[i];

		if (c->state == CONN_READING)
			conn_close(w, c);
	}
	if (w->nparked > 0)
		log_info("draining: %d request%s waiting on Ably", w->nparked,
		    w->nparked == 1 ? "" : "s");
}

/* How long the loop may wait: until libcurl's timer, the next deadline,
 * or the moment held log lines are due, whichever comes first. */
static int
wait_ms(struct worker *w, long long now)
{
	long t = -1;

	if (w->up != NULL)
		t = upstream_wait_ms(w->up);
	if (w->next_sweep != 0) {
		long s = w->next_sweep > now ? (long)(w->next_sweep - now) : 0;

		if (t < 0 || s < t)
			t = s;
	}
	if (log_holding_lines() && (t < 0 || t > LOG_LINGER_MS))
		t = LOG_LINGER_MS;
	return (int)t;
}

static void
loop(struct worker *w)
{
	struct epoll_event events[EVENTS_MAX];

	/* Request log lines go out once per batch of work (log.h). */
	log_hold(1);
	while (!w->failed) {
		long long now = clock_mono_ms();
		int i, n;

		if (*w->stop && w->listening)
			start_drain(w);
		if (!w->listening && w->nparked == 0 && w->nlinger == 0)
			break;
		n = epoll_pwait(w->epfd, events, EVENTS_MAX, wait_ms(w, now),
		    &w->waiting);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			log_err("epoll_wait: %s", strerror(errno));
			w->failed = 1;
			break;
		}
		if (n == 0 && log_holding_lines())
			log_flush();
		for (i = 0; i < n; i++) {
			uint64_t data = events[i].data.u64;

			if (data & UPSTREAM_TAG)
				upstream_on_event(w->up, data, events[i].events);
			else if (data == EV_LISTEN)
				accept_new(w);
			else
				conn_event(w, data);
		}
		if (w->up != NULL)
			upstream_on_timeout(w->up);
		now = clock_mono_ms();
		if (w->next_sweep != 0 && now >= w->next_sweep)
			sweep(w, now);
	}
	log_hold(0);
}

static int
worker_open(struct worker *w, const struct config *cfg, int listen_fd,
            const struct peers *peers)
{
	struct epoll_event ev;
	struct rlimit rl;
	struct tok_error e;
	int family = socket_family(listen_fd);
	int flags = fcntl(listen_fd, F_GETFL);

	w->cfg = cfg;
	w->listen_fd = listen_fd;
	w->tcp = family == AF_INET || family == AF_INET6;
	w->peers = peers;
	w->limits.params_max = FCGI_FRAME_PARAMS_MAX;
	w->limits.body_max = cfg->max_body;
	/* One byte more than the largest request, to see what follows it. */
	w->scratch_len = FCGI_FRAME_PARAMS_MAX + cfg->max_body +
	    FCGI_FRAME_SLACK + 1;
	w->scratch = malloc(w->scratch_len);
	w->records_len = fcgi_frame_answer_len(ENDPOINT_ANSWER_MAX);
	w->records = malloc(w->records_len);
	w->max_conns = CONNS_MAX;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
	    rl.rlim_cur < (rlim_t)CONNS_MAX + 64)
		w->max_conns = rl.rlim_cur > 72 ? (int)rl.rlim_cur - 64 : 8;
	buf_init(&w->out, ENDPOINT_ANSWER_MAX);
	endpoint_init(&w->ep, cfg);
	if (FCGX_Init() != 0) {
		log_err("cannot initialise libfcgi");
		return -1;
	}
	w->slots = calloc((size_t)w->max_conns, sizeof(*w->slots));
	w->free_slots = calloc((size_t)w->max_conns, sizeof(*w->free_slots));
	if (w->slots == NULL || w->free_slots == NULL || w->scratch == NULL ||
	    w->records == NULL) {
		log_err("out of memory");
		return -1;
	}
	if (flags < 0 || fcntl(listen_fd, F_SETFL, flags | O_NONBLOCK) != 0) {
		log_err("cannot make the socket non-blocking: %s",
		    strerror(errno));
		return -1;
	}
	w->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (w->epfd < 0) {
		log_err("epoll: %s", strerror(errno));
		return -1;
	}
	memset(&ev, 0, sizeof(ev));
	/* EPOLLEXCLUSIVE: a new connection wakes one idle worker, not all. */
	ev.events = EPOLLIN | EPOLLEXCLUSIVE;
	ev.data.u64 = EV_LISTEN;
	if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, listen_fd, &ev) != 0) {
		log_err("epoll: %s", strerror(errno));
		return -1;
	}
	w->listening = 1;
	if (cfg->mode == MODE_TOKEN) {
		if (upstream_new(w->epfd, cfg->upstream_connections, &w->up) !=
		    TOK_OK) {
			log_err("cannot set up libcurl's multi interface");
			return -1;
		}
		if (ably_rest_new(cfg, w->up, &w->ep.rest, &e) != TOK_OK) {
			log_err("%s", e.message);
			return -1;
		}
	}
	return 0;
}

static void
worker_close(struct worker *w)
{
	int i;

	for (i = 0; i < w->nslots; i++) {
		struct conn *c = w->slots[i];

		if (c->state != CONN_FREE)
			conn_close(w, c);
		free(c);
	}
	ably_rest_free(w->ep.rest);
	upstream_free(w->up);
	free(w->slots);
	free(w->free_slots);
	free(w->scratch);
	free(w->records);
	buf_free(&w->out);
	if (w->epfd >= 0)
		close(w->epfd);
}

int
worker_run(const struct config *cfg, int listen_fd, const struct peers *peers,
           atomic_int *stop)
{
	struct worker w;
	sigset_t stop_signals;
	int rc = 1;

	/* SIGTERM waits while requests are handled and is taken only while
	 * the loop waits: epoll_pwait unblocks it atomically, so none is
	 * missed. */
	memset(&w, 0, sizeof(w));
	w.stop = stop;
	w.epfd = -1;  /* worker_close() may run before it opens */
	sigemptyset(&stop_signals);
	sigaddset(&stop_signals, SIGTERM);
	sigaddset(&stop_signals, SIGINT);
	sigprocmask(SIG_BLOCK, &stop_signals, &w.waiting);
	sigdelset(&w.waiting, SIGTERM);
	sigdelset(&w.waiting, SIGINT);
	if (worker_open(&w, cfg, listen_fd, peers) == 0) {
		loop(&w);
		rc = w.failed ? 1 : 0;
	}
	worker_close(&w);
	return rc;
}
