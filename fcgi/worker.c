/* worker: one worker process's FastCGI loop (see worker.h).
 *
 * libfcgi reads and writes each request; this file decides which
 * connection is read next, and by which thread. The listening socket and
 * every kept connection sit in one epoll set shared by the process's
 * threads, and a connection is read only when it has bytes waiting, so an
 * idle kept connection costs a slot, never a thread. With several threads
 * a connection is armed for one event at a time (EPOLLONESHOT) and goes to
 * whichever thread is free: a thread waiting on Ably (token mode) holds up
 * only the request it serves.
 *
 * libfcgi never accepts here: each connection's FCGX_Request has no
 * listening socket (-1), so when the web server closes a kept connection
 * FCGX_Accept_r returns an error instead of blocking in accept().
 *
 * Connections live in slots that are reused, never freed, before the
 * process exits; an epoll event names a slot and the slot's generation, so
 * an event for a connection closed meanwhile (by another thread, or to make
 * room) is recognised and dropped.
 */
#include "worker.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <fcgiapp.h>

#include "ably_rest.h"
#include "buf.h"
#include "endpoint.h"
#include "log.h"
#include "peers.h"

#define EVENTS_MAX 64
/* Most connections one worker holds open; fewer if RLIMIT_NOFILE says so. */
#define CONNS_MAX 4096
/* How long a read of a started request may stall. nginx sends a request
 * whole (it buffers the client's body first), so this only bounds a peer
 * that connects and then sends nothing, or half a request. */
#define READ_TIMEOUT_S 10
/* How long request log lines may wait in memory once requests stop. */
#define LOG_LINGER_MS 50
/* Most bytes of an unread request body dropped to keep its connection. */
#define DRAIN_MAX (1024 * 1024)

/* epoll data of the two descriptors that are not connections. */
#define EV_LISTEN UINT64_MAX
#define EV_WAKE (UINT64_MAX - 1)

enum conn_state { CONN_FREE, CONN_BUSY, CONN_IDLE };

/* One connection from the web server. */
struct conn {
	FCGX_Request req;          /* req.ipcFd is the connection */
	unsigned long long used;   /* worker tick of its last request */
	uint32_t slot, gen;        /* gen: bumped each time the slot is freed */
	enum conn_state state;     /* IDLE: in the epoll set, waiting */
	int in_epoll;
};

/* One worker process, shared by its threads. */
struct worker {
	const struct config *cfg;
	int listen_fd, epfd, wake_fd;
	int plain_close;           /* unix socket: close without the handshake */
	int tcp;                   /* TCP socket: small answers, no Nagle */
	const struct peers *peers; /* TCP: who may connect (peers.h) */
	int threads;               /* > 1: one-shot events, one per wait */
	atomic_int *stop;
	sigset_t waiting;          /* the signal mask while waiting for work */
	atomic_int failed;
	struct endpoint_counts counts;  /* for the health answer, and request ids */

	pthread_mutex_t lock;      /* guards everything below */
	unsigned long refused;     /* TCP peers refused since the last report */
	long long refused_said;    /* monotonic s of the last report */
	struct conn **slots;       /* [0, nslots) allocated */
	uint32_t *free_slots;
	int nslots, nfree, nopen, max_conns;
	int nkept;                 /* connections in the epoll set */
	unsigned long long tick;
};

/* One thread's own state. */
struct worker_thread {
	struct worker *w;
	struct endpoint ep;
	struct buf out;
	pthread_t tid;
	int running;
};

struct fcgi_ctx {
	FCGX_Request *req;
};

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

/* Tell every thread to look at the stop and failure flags. */
static void
wake_all(struct worker *w)
{
	uint64_t one = 1;

	(void)!write(w->wake_fd, &one, sizeof(one));
}

/* Lock held. The slot of a connection that is closed (its socket, and with
 * it its epoll registration, gone) goes back to the free list. */
static void
slot_release(struct worker *w, struct conn *c)
{
	if (c->in_epoll)
		w->nkept--;
	c->in_epoll = 0;
	c->state = CONN_FREE;
	c->gen++;
	w->free_slots[w->nfree++] = c->slot;
	w->nopen--;
}

/* Lock held. Close an idle connection: none of its requests is unread
 * (it is read only when the loop says bytes wait), so a plain close is
 * safe; nginx drops a kept connection its upstream closed and retries a
 * request that met one. */
static void
conn_close_idle(struct worker *w, struct conn *c)
{
	FCGX_Detach(&c->req);
	FCGX_Free(&c->req, 1);
	slot_release(w, c);
}

/* Lock held. Make room by closing the connection idle longest; 0 if none
 * is idle (every one is being served). */
static int
evict_idle(struct worker *w)
{
	struct conn *oldest = NULL;
	int i;

	for (i = 0; i < w->nslots; i++) {
		struct conn *c = w->slots[i];

		if (c->state == CONN_IDLE &&
		    (oldest == NULL || c->used < oldest->used))
			oldest = c;
	}
	if (oldest == NULL)
		return 0;
	conn_close_idle(w, oldest);
	return 1;
}

/* Lock held. A slot for a new connection on fd, marked busy, or NULL. */
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
		w->slots[w->nslots++] = c;
	}
	(void)FCGX_InitRequest(&c->req, -1, 0);
	c->req.ipcFd = fd;
	/* FCGX_Accept_r first "finishes" the previous request, closing the
	 * connection unless it was to be kept: this one is. */
	c->req.keepConnection = 1;
	c->state = CONN_BUSY;
	c->in_epoll = 0;
	c->used = w->tick;
	w->nopen++;
	return c;
}

/* After a request: keep c for its next one (watched by the epoll set),
 * or free its slot if libfcgi closed it. */
static void
conn_done(struct worker *w, struct conn *c)
{
	pthread_mutex_lock(&w->lock);
	if (c->req.ipcFd < 0) {
		slot_release(w, c);  /* not kept (or the write failed) */
	} else if (w->threads > 1 || !c->in_epoll) {
		struct epoll_event ev;

		/* Armed while the lock is held, and marked idle first: the
		 * thread its next request wakes waits for the lock, then
		 * finds it idle; nothing can close it in between. */
		memset(&ev, 0, sizeof(ev));
		ev.events = EPOLLIN | (w->threads > 1 ? EPOLLONESHOT : 0);
		ev.data.u64 = (uint64_t)c->gen << 32 | c->slot;
		c->state = CONN_IDLE;
		c->used = ++w->tick;
		if (epoll_ctl(w->epfd, c->in_epoll ? EPOLL_CTL_MOD :
		    EPOLL_CTL_ADD, c->req.ipcFd, &ev) != 0) {
			log_warn("cannot watch a kept connection: %s",
			    strerror(errno));
			conn_close_idle(w, c);
		} else if (!c->in_epoll) {
			c->in_epoll = 1;
			w->nkept++;
		}
	} else {
		c->state = CONN_IDLE;  /* one thread: stays in the set */
		c->used = ++w->tick;
	}
	pthread_mutex_unlock(&w->lock);
}

/* Read and answer the next request on c (marked busy by the caller). */
static void
serve(struct worker_thread *t, struct conn *c)
{
	struct worker *w = t->w;
	struct fcgi_ctx ctx = { &c->req };
	struct req_source src = { fcgi_param, fcgi_read, &ctx };

	if (FCGX_Accept_r(&c->req) < 0) {
		/* The web server closed it, or sent something that is not a
		 * request: libfcgi has closed the socket. */
		conn_done(w, c);
		return;
	}
	buf_reset(&t->out);
	endpoint_handle(&t->ep, &src, &t->out);
	if (FCGX_PutStr(t->out.data, (int)t->out.len, c->req.out) < 0)
		log_warn("the web server went away before the answer");
	/* Read the request to its end (for a GET the EOF record is already
	 * buffered: no extra syscall). Only then may the connection be kept
	 * for the next request, or closed without libfcgi's drain handshake
	 * (unix sockets only: nothing is lost in flight there). */
	if (!drain_input(c->req.in))
		c->req.keepConnection = 0;
	else if (w->plain_close)
		FCGX_Detach(&c->req);
	/* One write: STDOUT and END_REQUEST records together. */
	FCGX_Finish_r(&c->req);
	conn_done(w, c);
}

/* An event for a kept connection: serve it unless it was closed since. */
static void
conn_event(struct worker_thread *t, uint64_t data)
{
	struct worker *w = t->w;
	uint32_t slot = (uint32_t)data, gen = (uint32_t)(data >> 32);
	struct conn *c = NULL;

	pthread_mutex_lock(&w->lock);
	if (slot < (uint32_t)w->nslots && w->slots[slot]->gen == gen &&
	    w->slots[slot]->state == CONN_IDLE) {
		c = w->slots[slot];
		c->state = CONN_BUSY;
	}
	pthread_mutex_unlock(&w->lock);
	if (c != NULL)
		serve(t, c);
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
	pthread_mutex_lock(&w->lock);
	w->refused++;
	if (w->refused_said == 0 || now.tv_sec - w->refused_said >= 60) {
		n = w->refused;
		w->refused = 0;
		w->refused_said = now.tv_sec;
	}
	pthread_mutex_unlock(&w->lock);
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

/* Accept and serve new connections. With several threads, or kept
 * connections waiting their turn, one per wake-up; otherwise until none is
 * pending, which costs no epoll_wait per request when every request brings
 * its own connection. */
static void
accept_and_serve(struct worker_thread *t)
{
	struct worker *w = t->w;

	for (;;) {
		struct timeval tv = { READ_TIMEOUT_S, 0 };
		struct sockaddr_storage peer;
		socklen_t peer_len = sizeof(peer);
		struct conn *c;
		int one = 1, more;
		int fd = accept4(w->listen_fd, (struct sockaddr *)&peer,
		    &peer_len, SOCK_CLOEXEC);

		if (fd < 0) {
			switch (errno) {
			case EAGAIN:
#if EWOULDBLOCK != EAGAIN
			case EWOULDBLOCK:
#endif
			case EINTR:
				return;  /* another worker took it */
			case ECONNABORTED:
			case EPROTO:
				continue;
			case EMFILE:
			case ENFILE:
			case ENOBUFS:
			case ENOMEM:
				log_warn("accept: %s; closing an idle connection",
				    strerror(errno));
				pthread_mutex_lock(&w->lock);
				more = evict_idle(w);
				pthread_mutex_unlock(&w->lock);
				if (!more)
					usleep(10000);  /* level-triggered: no spin */
				return;
			default:
				log_err("accept failed: %s", strerror(errno));
				w->failed = 1;
				wake_all(w);
				return;
			}
		}
		if (w->tcp && !peers_allow(w->peers,
		    (const struct sockaddr *)&peer)) {
			refuse(w, fd, &peer);
			continue;
		}
		pthread_mutex_lock(&w->lock);
		c = slot_take(w, fd);
		more = w->threads == 1 && w->nkept == 0;
		pthread_mutex_unlock(&w->lock);
		if (c == NULL) {
			log_warn("no room for another connection");
			close(fd);
			return;
		}
		(void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		if (w->tcp)
			(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one,
			    sizeof(one));
		serve(t, c);
		if (!more)
			return;
	}
}

static void *
thread_loop(void *arg)
{
	struct worker_thread *t = arg;
	struct worker *w = t->w;
	struct epoll_event events[EVENTS_MAX];
	/* Several threads take one event each, so that no thread sits on
	 * events another could serve now. */
	const int max = w->threads > 1 ? 1 : EVENTS_MAX;

	/* Request log lines go out once per batch of work (log.h). */
	log_hold(1);
	while (!*w->stop && !w->failed) {
		/* Lines held: wait at most LOG_LINGER_MS for more work, then
		 * write them out, so that a quiet spell between requests
		 * costs no write each. */
		int i, n = epoll_pwait(w->epfd, events, max,
		    log_holding_lines() ? LOG_LINGER_MS : -1, &w->waiting);

		if (n == 0) {
			log_flush();
			continue;
		}
		if (n < 0) {
			if (errno == EINTR) {
				if (*w->stop)
					wake_all(w);  /* the others sleep on */
				continue;
			}
			log_err("epoll_wait: %s", strerror(errno));
			w->failed = 1;
			wake_all(w);
			break;
		}
		for (i = 0; i < n; i++) {
			uint64_t data = events[i].data.u64;

			if (data == EV_WAKE)
				break;
			if (data == EV_LISTEN)
				accept_and_serve(t);
			else
				conn_event(t, data);
		}
	}
	log_hold(0);
	return NULL;
}

static int
thread_init(struct worker_thread *t, struct worker *w,
            struct ably_rest *share)
{
	struct tok_error e;

	memset(t, 0, sizeof(*t));
	t->w = w;
	buf_init(&t->out, ENDPOINT_ANSWER_MAX);
	endpoint_init(&t->ep, w->cfg);
	t->ep.counts = &w->counts;
	/* Each thread has its own curl handle, so its connection to Ably
	 * is kept across the requests it serves; what the threads learn
	 * about Ably's hosts (one down, a fallback that works) is shared. */
	if (w->cfg->mode == MODE_TOKEN &&
	    ably_rest_new_sharing(w->cfg, share, &t->ep.rest, &e) != TOK_OK) {
		log_err("%s", e.message);
		return -1;
	}
	return 0;
}

static void
thread_free(struct worker_thread *t)
{
	ably_rest_free(t->ep.rest);
	t->ep.rest = NULL;
	buf_free(&t->out);
}

static int
worker_open(struct worker *w, const struct config *cfg, int listen_fd,
            int threads, const struct peers *peers)
{
	struct epoll_event ev;
	struct rlimit rl;
	int family = socket_family(listen_fd);
	int flags = fcntl(listen_fd, F_GETFL);

	w->cfg = cfg;
	w->listen_fd = listen_fd;
	w->threads = threads;
	w->plain_close = family == AF_UNIX;
	w->tcp = family == AF_INET || family == AF_INET6;
	w->peers = peers;
	/* Each thread may hold a connection being served, which cannot be
	 * closed to make room: keep at least that many spare. */
	w->max_conns = CONNS_MAX;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
	    rl.rlim_cur < (rlim_t)CONNS_MAX + 64)
		w->max_conns = rl.rlim_cur > 72 ? (int)rl.rlim_cur - 64 : 8;
	if (w->max_conns < 2 * threads)
		w->max_conns = 2 * threads;
	if (FCGX_Init() != 0) {
		log_err("cannot initialise libfcgi");
		return -1;
	}
	w->slots = calloc((size_t)w->max_conns, sizeof(*w->slots));
	w->free_slots = calloc((size_t)w->max_conns, sizeof(*w->free_slots));
	if (w->slots == NULL || w->free_slots == NULL) {
		log_err("out of memory");
		return -1;
	}
	if (flags < 0 || fcntl(listen_fd, F_SETFL, flags | O_NONBLOCK) != 0) {
		log_err("cannot make the socket non-blocking: %s",
		    strerror(errno));
		return -1;
	}
	w->epfd = epoll_create1(EPOLL_CLOEXEC);
	w->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (w->epfd < 0 || w->wake_fd < 0) {
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
	/* Never read: once written, it wakes every thread for good. */
	ev.events = EPOLLIN;
	ev.data.u64 = EV_WAKE;
	if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, w->wake_fd, &ev) != 0) {
		log_err("epoll: %s", strerror(errno));
		return -1;
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
			conn_close_idle(w, c);
		free(c);
	}
	free(w->slots);
	free(w->free_slots);
	if (w->epfd >= 0)
		close(w->epfd);
	if (w->wake_fd >= 0)
		close(w->wake_fd);
	pthread_mutex_destroy(&w->lock);
}

int
worker_run(const struct config *cfg, int listen_fd, int threads,
           const struct peers *peers, atomic_int *stop)
{
	struct worker w;
	struct worker_thread *ts;
	sigset_t stop_signals;
	int i, rc = 1;

	/* SIGTERM waits while a request is served (interrupting the read of
	 * its body would cut it short) and is taken while a thread waits:
	 * epoll_pwait unblocks it atomically, so none is missed. Threads
	 * inherit the mask. */
	memset(&w, 0, sizeof(w));
	w.stop = stop;
	w.epfd = w.wake_fd = -1;  /* worker_close() may run before they open */
	pthread_mutex_init(&w.lock, NULL);
	sigemptyset(&stop_signals);
	sigaddset(&stop_signals, SIGTERM);
	sigaddset(&stop_signals, SIGINT);
	pthread_sigmask(SIG_BLOCK, &stop_signals, &w.waiting);
	sigdelset(&w.waiting, SIGTERM);
	sigdelset(&w.waiting, SIGINT);
	ts = calloc((size_t)threads, sizeof(*ts));
	if (ts == NULL || worker_open(&w, cfg, listen_fd, threads, peers) != 0)
		goto out;
	for (i = 0; i < threads; i++)
		if (thread_init(&ts[i], &w, i > 0 ? ts[0].ep.rest : NULL) != 0)
			goto out;
	/* This thread is thread 0; the others start here. */
	for (i = 1; i < threads; i++) {
		if (pthread_create(&ts[i].tid, NULL, thread_loop, &ts[i]) != 0) {
			log_err("cannot start a thread: %s", strerror(errno));
			w.failed = 1;
			wake_all(&w);
			break;
		}
		ts[i].running = 1;
	}
	if (!w.failed)
		thread_loop(&ts[0]);
	for (i = 1; i < threads; i++)
		if (ts[i].running)
			pthread_join(ts[i].tid, NULL);
	rc = *stop ? 0 : 1;
out:
	if (ts != NULL)  /* thread 0 last: the others share its host memory */
		for (i = threads - 1; i >= 0; i--)
			thread_free(&ts[i]);
	free(ts);
	worker_close(&w);
	return rc;
}
