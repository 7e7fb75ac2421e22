/* worker: one worker process's event loop (see worker.h).
 *
 * One thread, one epoll set: the listening socket, every connection from
 * the web server, and (token mode) every transfer to Ably. The loop
 * accepts connections, hands their events to serve.c (which gives a
 * request to libfcgi only once it is whole, so libfcgi's reads never wait
 * and a slow, silent or half-sent peer costs a slot, never the loop) and
 * the transfers' events to upstream.c; a request parked on Ably is
 * answered when its transfer, or its deadline, completes.
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
#include <sys/socket.h>
#include <unistd.h>

#include <fcgiapp.h>

#include "ably_rest.h"
#include "clock.h"
#include "conn.h"
#include "listen.h"
#include "log.h"
#include "peers.h"
#include "serve.h"
#include "signals.h"
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
	int tcp;                   /* TCP socket: small answers, no Nagle */
	const struct peers *peers; /* TCP: who may connect (peers.h) */
	atomic_uint *stop;
	sigset_t waiting;          /* the signal mask while waiting for work */
	int failed;
	struct upstream *up;       /* token mode */
	struct listen_refused refused;  /* TCP peers refused (listen.h) */
	struct serve s;            /* the requests on the connections */
};

/* An event for a connection: act on it unless it was closed since. */
static void
conn_event(struct worker *w, uint64_t data)
{
	struct conn *c = conn_find(&w->s.conns, data);

	if (c != NULL)
		serve_read(&w->s, c);
}

/* Accept new connections (up to ACCEPT_BATCH) and look at each at once:
 * nginx writes its request right after connecting. */
static void
accept_new(struct worker *w)
{
	int i;

	for (i = 0; i < ACCEPT_BATCH && w->s.listening; i++) {
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
				if (!conn_evict_idle(&w->s.conns))
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
		c = conn_take(&w->s.conns, fd, &w->s);
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
			conn_close(&w->s.conns, c);
			continue;
		}
		serve_read(&w->s, c);
	}
}

/* SIGTERM or SIGHUP: take no new connection, answer every request
 * already here (serve_drain), and go on until the last is answered. */
static void
start_drain(struct worker *w)
{
	w->s.listening = 0;
	(void)epoll_ctl(w->epfd, EPOLL_CTL_DEL, w->listen_fd, NULL);
	serve_drain(&w->s);
	if (w->s.nparked > 0 || w->s.conns.nopen > 0)
		log_info("%s: %d request%s waiting on Ably, %d connection%s "
		    "open", *w->stop & SIGNALS_STOP ? "stopping" : "retiring",
		    w->s.nparked, w->s.nparked == 1 ? "" : "s",
		    w->s.conns.nopen, w->s.conns.nopen == 1 ? "" : "s");
}

/* How long the loop may wait: until libcurl's timer, the next deadline,
 * or the moment held log lines are due, whichever comes first. */
static int
wait_ms(struct worker *w, long long now)
{
	long t = -1;

	if (w->up != NULL)
		t = upstream_wait_ms(w->up);
	if (w->s.conns.next_sweep != 0) {
		long s = w->s.conns.next_sweep > now ? (long)(w->s.conns.next_sweep - now) : 0;

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

		/* Not ready once stopping (endpoint.c's ready path). */
		w->s.ep.stopping = (*w->stop & SIGNALS_STOP) != 0;
		if (*w->stop && w->s.listening)
			start_drain(w);
		/* Draining ends with the last connection: each is closed
		 * once its request is answered (or its deadline passes). */
		if (!w->s.listening && w->s.nparked == 0 &&
		    w->s.conns.nopen == 0)
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
		if (w->s.conns.next_sweep != 0 && now >= w->s.conns.next_sweep)
			conn_sweep(&w->s.conns, now);
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
	if (FCGX_Init() != 0) {
		log_err("cannot initialise libfcgi");
		return -1;
	}
	if (serve_init(&w->s, cfg, w->tcp) != 0)
		return -1;
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
	if (cfg->mode == MODE_TOKEN) {
		if (upstream_new(w->epfd, cfg->upstream_connections, &w->up) !=
		    TOK_OK) {
			log_err("cannot set up libcurl's multi interface");
			return -1;
		}
		if (ably_rest_new(cfg, w->up, &w->s.ep.rest, &e) != TOK_OK) {
			log_err("%s", e.message);
			return -1;
		}
	}
	return 0;
}

static void
worker_close(struct worker *w)
{
	serve_free(&w->s);
	ably_rest_free(w->s.ep.rest);
	upstream_free(w->up);
	if (w->epfd >= 0)
		close(w->epfd);
}

int
worker_run(const struct config *cfg, int listen_fd, const struct peers *peers,
           atomic_uint *stop)
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
	sigaddset(&stop_signals, SIGHUP);
	sigprocmask(SIG_BLOCK, &stop_signals, &w.waiting);
	sigdelset(&w.waiting, SIGTERM);
	sigdelset(&w.waiting, SIGINT);
	sigdelset(&w.waiting, SIGHUP);
	if (worker_open(&w, cfg, listen_fd, peers) == 0) {
		loop(&w);
		rc = w.failed ? 1 : 0;
	}
	worker_close(&w);
	return rc;
}
