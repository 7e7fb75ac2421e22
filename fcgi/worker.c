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
 * reused slots (conn.c): an epoll event names a slot and its generation,
 * so an event for a connection closed meanwhile is recognised and dropped.
 */
#include "worker.h"

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
#include <sys/socket.h>
#include <unistd.h>

#include <fcgiapp.h>

#include "ably_rest.h"
#include "buf.h"
#include "clock.h"
#include "conn.h"
#include "endpoint.h"
#include "fcgi_frame.h"
#include "listen.h"
#include "log.h"
#include "peers.h"
#include "upstream.h"

#define EVENTS_MAX 64
/* How long request log lines may wait in memory once requests stop. */
#define LOG_LINGER_MS 50
/* Connections accepted per wake-up, so that a flood of new ones cannot
 * keep the loop from the others. */
#define ACCEPT_BATCH 64

/* epoll data: a connection is gen << 32 | slot (conn.h); this bit marks
 * the listening socket (upstream.h has bit 63). */
#define EV_LISTEN (UINT64_C(1) << 62)

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
	struct listen_refused refused;  /* TCP peers refused (listen.h) */
	struct conn_table conns;   /* the connections from the web server */
	int nparked;               /* requests waiting on Ably */
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

/* Read and drop what is left of a request's input, up to CONN_DRAIN_MAX bytes
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
		if (total > CONN_DRAIN_MAX)
			return 0;
	}
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
		conn_close(&w->conns, c);
		return;
	}
	if (!keep && (w->tcp || !c->drained)) {
		/* Bytes unread, or TCP: closing at once could cost the peer
		 * our answer (a reset; a peer still writing gets an error
		 * first): linger instead. */
		conn_linger(&w->conns, c);
		return;
	}
	if (!keep) {  /* a unix socket: a plain close loses nothing */
		conn_close(&w->conns, c);
		return;
	}
	c->state = CONN_READING;
	c->served++;
	c->used = ++w->conns.tick;
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
	conn_set_deadline(&w->conns, c, 0);
	if (FCGX_Accept_r(&c->req) < 0) {
		/* Not a request libfcgi serves: it closed the socket. */
		conn_release(&w->conns, c);
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
		conn_close(&w->conns, c);
		return;
	}
	conn_linger(&w->conns, c);
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
		conn_linger_read(&w->conns, c, w->scratch, w->scratch_len);
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
		conn_close(&w->conns, c);
		return;
	}
	if (!c->started) {
		c->started = 1;
		conn_set_deadline(&w->conns, c,
		    clock_mono_ms() + CONN_WHOLE_REQUEST_MS);
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
		conn_close(&w->conns, c);
		return;
	}
}

/* An event for a connection: act on it unless it was closed since. */
static void
conn_event(struct worker *w, uint64_t data)
{
	struct conn *c = conn_find(&w->conns, data);

	if (c != NULL)
		conn_read(w, c);
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
				if (!conn_evict_idle(&w->conns))
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
			listen_refuse(&w->refused, fd, &peer);
			continue;
		}
		c = conn_take(&w->conns, fd, w);
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
		ev.data.u64 = conn_event_data(c);
		if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
			log_warn("cannot watch a connection: %s",
			    strerror(errno));
			conn_close(&w->conns, c);
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
	w->listening = 0;
	(void)epoll_ctl(w->epfd, EPOLL_CTL_DEL, w->listen_fd, NULL);
	conn_close_waiting(&w->conns);
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
	if (w->conns.next_sweep != 0) {
		long s = w->conns.next_sweep > now ? (long)(w->conns.next_sweep - now) : 0;

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
		if (!w->listening && w->nparked == 0 && w->conns.nlinger == 0)
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
		if (w->conns.next_sweep != 0 && now >= w->conns.next_sweep)
			conn_sweep(&w->conns, now);
	}
	log_hold(0);
}

static int
worker_open(struct worker *w, const struct config *cfg, int listen_fd,
            const struct peers *peers)
{
	struct epoll_event ev;
	struct tok_error e;
	int flags = fcntl(listen_fd, F_GETFL);

	w->cfg = cfg;
	w->listen_fd = listen_fd;
	w->tcp = listen_is_tcp(listen_fd);
	w->peers = peers;
	w->limits.params_max = FCGI_FRAME_PARAMS_MAX;
	w->limits.body_max = cfg->max_body;
	/* One byte more than the largest request, to see what follows it. */
	w->scratch_len = FCGI_FRAME_PARAMS_MAX + cfg->max_body +
	    FCGI_FRAME_SLACK + 1;
	w->scratch = malloc(w->scratch_len);
	w->records_len = fcgi_frame_answer_len(ENDPOINT_ANSWER_MAX);
	w->records = malloc(w->records_len);
	buf_init(&w->out, ENDPOINT_ANSWER_MAX);
	endpoint_init(&w->ep, cfg);
	if (FCGX_Init() != 0) {
		log_err("cannot initialise libfcgi");
		return -1;
	}
	if (conn_table_init(&w->conns) != 0 || w->scratch == NULL ||
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
	conn_table_free(&w->conns);
	ably_rest_free(w->ep.rest);
	upstream_free(w->up);
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
