/* worker: one worker process's FastCGI loop (see worker.h).
 *
 * libfcgi reads and writes each request; this file decides which
 * connection it reads next. The listening socket and every kept connection
 * sit in one epoll set, and a connection is read only when it has bytes
 * waiting, so an idle kept connection costs a slot, never the worker.
 * libfcgi never accepts here: each connection's FCGX_Request has no
 * listening socket (-1), so when the web server closes a kept connection
 * FCGX_Accept_r returns an error instead of blocking in accept().
 */
#include "worker.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <fcgiapp.h>

#include "ably_rest.h"
#include "buf.h"
#include "endpoint.h"
#include "log.h"

#define OUT_MAX (256 * 1024)
#define EVENTS_MAX 64
/* Most connections one worker holds open; fewer if RLIMIT_NOFILE says so. */
#define CONNS_MAX 4096
/* How long a read of a started request may stall. nginx sends a request
 * whole (it buffers the client's body first), so this only bounds a peer
 * that connects and then sends nothing, or half a request. */
#define READ_TIMEOUT_S 10
/* Most bytes of an unread request body dropped to keep its connection. */
#define DRAIN_MAX (1024 * 1024)

/* One connection from the web server. */
struct conn {
	FCGX_Request req;          /* req.ipcFd is the connection */
	unsigned long long used;   /* worker tick of its last request */
	int in_epoll;              /* kept: registered for its next request */
	int slot;                  /* index in worker.conns */
};

struct worker {
	const struct config *cfg;
	int listen_fd, epfd;
	int plain_close;           /* unix socket: close without the handshake */
	int tcp;                   /* TCP socket: small answers, no Nagle */
	struct conn **conns;       /* open connections, [0, nconns) */
	int nconns, max_conns;
	int nkept;                 /* of those, how many are in the epoll set */
	unsigned long long tick;
	struct endpoint ep;
	struct buf out;
	int failed;
	/* The epoll batch being served, so a connection closed in the middle
	 * of it can have its later event dropped (see conn_release). */
	struct epoll_event *batch;
	int batch_next, batch_len;
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

/* Forget c; libfcgi has closed its socket (which leaves the epoll set). */
static void
conn_release(struct worker *w, struct conn *c)
{
	struct conn *last = w->conns[w->nconns - 1];
	int i;

	if (c->in_epoll) {
		w->nkept--;
		/* An idle connection closed to make room may still have an
		 * event in this batch: it must not be served after free. */
		for (i = w->batch_next; i < w->batch_len; i++)
			if (w->batch[i].data.ptr == c)
				w->batch[i].data.ptr = &w->batch;
	}
	last->slot = c->slot;
	w->conns[c->slot] = last;
	w->nconns--;
	free(c);
}

/* Close an idle connection: no request of it is unread (we read only when
 * the loop says bytes wait), so a plain close is safe; nginx drops a kept
 * connection its upstream closed and retries a request that met one. */
static void
conn_close(struct worker *w, struct conn *c)
{
	FCGX_Detach(&c->req);
	FCGX_Free(&c->req, 1);
	conn_release(w, c);
}

/* Make room for one more connection by closing the one idle longest. */
static void
evict_idle(struct worker *w)
{
	struct conn *oldest = NULL;
	int i;

	for (i = 0; i < w->nconns; i++)
		if (oldest == NULL || w->conns[i]->used < oldest->used)
			oldest = w->conns[i];
	if (oldest != NULL)
		conn_close(w, oldest);
}

/* A new connection on fd, owned by the worker from here on (closed on
 * failure). NULL if it could not be taken. */
static struct conn *
conn_new(struct worker *w, int fd)
{
	struct timeval tv = { READ_TIMEOUT_S, 0 };
	struct conn *c;
	int one = 1;

	if (w->nconns == w->max_conns)
		evict_idle(w);
	c = malloc(sizeof(*c));
	if (c == NULL) {
		close(fd);
		return NULL;
	}
	(void)FCGX_InitRequest(&c->req, -1, 0);
	c->req.ipcFd = fd;
	/* FCGX_Accept_r first "finishes" the previous request, closing the
	 * connection unless it was to be kept: this one is. */
	c->req.keepConnection = 1;
	c->used = w->tick;
	c->in_epoll = 0;
	c->slot = w->nconns;
	w->conns[w->nconns++] = c;
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (w->tcp)
		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one,
		    sizeof(one));
	return c;
}

/* Read and answer the next request on c. */
static void
serve(struct worker *w, struct conn *c)
{
	struct fcgi_ctx ctx = { &c->req };
	struct req_source src = { fcgi_param, fcgi_read, &ctx };

	if (FCGX_Accept_r(&c->req) < 0) {
		/* The web server closed it, or sent something that is not a
		 * request: libfcgi has closed the socket. */
		conn_release(w, c);
		return;
	}
	c->used = ++w->tick;
	buf_reset(&w->out);
	endpoint_handle(&w->ep, &src, &w->out);
	if (FCGX_PutStr(w->out.data, (int)w->out.len, c->req.out) < 0)
		log_warn("the web server went away before the answer");
	/* Read the request to its end (for a GET the EOF record is already
	 * buffered: no extra syscall). Only then may the connection be kept
	 * for the next request, or closed without libfcgi's drain handshake
	 * (unix sockets only: PERF-NOTES.md). */
	if (!drain_input(c->req.in))
		c->req.keepConnection = 0;
	else if (w->plain_close)
		FCGX_Detach(&c->req);
	/* One write: STDOUT and END_REQUEST records together. */
	FCGX_Finish_r(&c->req);
	if (c->req.ipcFd < 0) {
		conn_release(w, c);  /* not kept (or the write failed) */
		return;
	}
	if (!c->in_epoll) {
		struct epoll_event ev;

		memset(&ev, 0, sizeof(ev));
		ev.events = EPOLLIN;
		ev.data.ptr = c;
		if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, c->req.ipcFd, &ev) != 0) {
			log_warn("cannot watch a kept connection: %s",
			    strerror(errno));
			conn_close(w, c);
			return;
		}
		c->in_epoll = 1;
		w->nkept++;
	}
}

/* Accept and serve new connections. With kept connections waiting their
 * turn, one per wake-up; otherwise until none is pending, which costs no
 * epoll_wait per request when every request brings its own connection. */
static void
accept_and_serve(struct worker *w)
{
	for (;;) {
		struct conn *c;
		int fd = accept4(w->listen_fd, NULL, NULL, SOCK_CLOEXEC);

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
				if (w->nconns > 0)
					evict_idle(w);
				else
					usleep(10000);  /* level-triggered: no spin */
				return;
			default:
				log_err("accept failed: %s", strerror(errno));
				w->failed = 1;
				return;
			}
		}
		c = conn_new(w, fd);
		if (c == NULL) {
			log_warn("out of memory for a connection");
			return;
		}
		serve(w, c);
		if (w->nkept > 0)
			return;
	}
}

static int
worker_open(struct worker *w, const struct config *cfg, int listen_fd)
{
	struct epoll_event ev;
	struct rlimit rl;
	struct tok_error e;
	int family = socket_family(listen_fd);
	int flags = fcntl(listen_fd, F_GETFL);

	memset(w, 0, sizeof(*w));
	w->cfg = cfg;
	w->listen_fd = listen_fd;
	w->epfd = -1;
	w->plain_close = family == AF_UNIX;
	w->tcp = family == AF_INET || family == AF_INET6;
	w->max_conns = CONNS_MAX;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
	    rl.rlim_cur < (rlim_t)CONNS_MAX + 64)
		w->max_conns = rl.rlim_cur > 72 ? (int)rl.rlim_cur - 64 : 8;
	buf_init(&w->out, OUT_MAX);
	endpoint_init(&w->ep, cfg);
	if (FCGX_Init() != 0) {
		log_err("cannot initialise libfcgi");
		return -1;
	}
	/* After the fork: each worker has its own curl handle, so its
	 * connection to Ably is kept across the requests it serves. */
	if (cfg->mode == MODE_TOKEN &&
	    ably_rest_new(cfg, &w->ep.rest, &e) != TOK_OK) {
		log_err("%s", e.message);
		return -1;
	}
	w->conns = calloc((size_t)w->max_conns, sizeof(*w->conns));
	if (w->conns == NULL) {
		log_err("out of memory");
		return -1;
	}
	if (flags < 0 || fcntl(listen_fd, F_SETFL, flags | O_NONBLOCK) != 0) {
		log_err("cannot make the socket non-blocking: %s",
		    strerror(errno));
		return -1;
	}
	w->epfd = epoll_create1(EPOLL_CLOEXEC);
	memset(&ev, 0, sizeof(ev));
	/* EPOLLEXCLUSIVE: a new connection wakes one idle worker, not all. */
	ev.events = EPOLLIN | EPOLLEXCLUSIVE;
	ev.data.ptr = NULL;
	if (w->epfd < 0 ||
	    epoll_ctl(w->epfd, EPOLL_CTL_ADD, listen_fd, &ev) != 0) {
		log_err("epoll: %s", strerror(errno));
		return -1;
	}
	return 0;
}

static void
worker_close(struct worker *w)
{
	log_hold(0);
	while (w->nconns > 0)
		conn_close(w, w->conns[w->nconns - 1]);
	free(w->conns);
	if (w->epfd >= 0)
		close(w->epfd);
	ably_rest_free(w->ep.rest);
	buf_free(&w->out);
}

int
worker_run(const struct config *cfg, int listen_fd, volatile sig_atomic_t *stop)
{
	struct epoll_event events[EVENTS_MAX];
	sigset_t stop_signals, waiting;
	struct worker w;

	/* SIGTERM waits while a request is served (interrupting the read of
	 * its body would cut it short) and is taken while the loop waits:
	 * epoll_pwait unblocks it atomically, so none is missed. */
	sigemptyset(&stop_signals);
	sigaddset(&stop_signals, SIGTERM);
	sigaddset(&stop_signals, SIGINT);
	sigprocmask(SIG_BLOCK, &stop_signals, &waiting);
	sigdelset(&waiting, SIGTERM);
	sigdelset(&waiting, SIGINT);
	if (worker_open(&w, cfg, listen_fd) != 0) {
		worker_close(&w);
		return 1;
	}
	/* Request log lines go out once per batch of work (log.h). */
	log_hold(1);
	while (!*stop && !w.failed) {
		/* Look without waiting first: only a worker about to sleep
		 * writes out the lines it holds. */
		int i, n = epoll_pwait(w.epfd, events, EVENTS_MAX, 0, &waiting);

		if (n == 0) {
			log_flush();
			n = epoll_pwait(w.epfd, events, EVENTS_MAX, -1,
			    &waiting);
		}

		if (n < 0) {
			if (errno == EINTR)
				continue;
			log_err("epoll_wait: %s", strerror(errno));
			w.failed = 1;
			break;
		}
		w.batch = events;
		w.batch_len = n;
		for (i = 0; i < n; i++) {
			void *what = events[i].data.ptr;

			w.batch_next = i + 1;
			if (what == NULL)
				accept_and_serve(&w);
			else if (what != &w.batch)  /* not closed meanwhile */
				serve(&w, what);
		}
		w.batch_len = 0;
	}
	worker_close(&w);
	return *stop ? 0 : 1;
}
