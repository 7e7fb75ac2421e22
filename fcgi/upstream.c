/* upstream: libcurl's multi socket API on an epoll set (see upstream.h). */
#include "upstream.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"

/* HTTP/2 streams one connection may carry, if the server allows as many:
 * libcurl's default of 100 would queue or open connections far earlier
 * than Ably asks. */
#define MAX_STREAMS 1000L

struct upstream {
	CURLM *multi;
	int epfd;
	int owns_epfd;
	long long timer_due;  /* monotonic ms libcurl wants a timeout call; -1 */
	int active;
	struct xfer *xfers;   /* in flight, so that upstream_free finds them */
};

/* A transfer in flight: whom it reports to. Its handle's CURLOPT_PRIVATE. */
struct xfer {
	upstream_done_fn done;
	void *ctx;
	CURL *easy;
	struct xfer *prev, *next;
};

static void
xfer_unlink(struct upstream *up, struct xfer *x)
{
	if (x->prev != NULL)
		x->prev->next = x->next;
	else
		up->xfers = x->next;
	if (x->next != NULL)
		x->next->prev = x->prev;
	up->active--;
}

/* libcurl says which events it wants on socket s (socketp: non-NULL once
 * the socket is in the epoll set). */
static int
on_socket(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
	struct upstream *up = userp;
	struct epoll_event ev;

	(void)easy;
	if (what == CURL_POLL_REMOVE) {
		if (socketp != NULL) {
			(void)epoll_ctl(up->epfd, EPOLL_CTL_DEL, s, NULL);
			curl_multi_assign(up->multi, s, NULL);
		}
		return 0;
	}
	memset(&ev, 0, sizeof(ev));
	ev.events = ((what & CURL_POLL_IN) ? EPOLLIN : 0) |
	    ((what & CURL_POLL_OUT) ? EPOLLOUT : 0);
	ev.data.u64 = UPSTREAM_TAG | (uint64_t)(unsigned)s;
	if (epoll_ctl(up->epfd, socketp != NULL ? EPOLL_CTL_MOD :
	    EPOLL_CTL_ADD, s, &ev) != 0) {
		/* libcurl reuses a socket it had removed: the other verb. */
		if (epoll_ctl(up->epfd, socketp != NULL ? EPOLL_CTL_ADD :
		    EPOLL_CTL_MOD, s, &ev) != 0) {
			log_err("upstream: cannot watch a socket: %s",
			    strerror(errno));
			return -1;
		}
	}
	if (socketp == NULL)
		curl_multi_assign(up->multi, s, up);
	return 0;
}

static int
on_timer(CURLM *multi, long timeout_ms, void *userp)
{
	struct upstream *up = userp;

	(void)multi;
	up->timer_due = timeout_ms < 0 ? -1 : clock_mono_ms() + timeout_ms;
	return 0;
}

enum tok_err
upstream_new(int epfd, long max_conns, struct upstream **out)
{
	struct upstream *up;
	CURLMcode mc = CURLM_OK;

	*out = NULL;
	up = calloc(1, sizeof(*up));
	if (up == NULL)
		return TOK_ENOMEM;
	up->timer_due = -1;
	up->epfd = epfd;
	if (epfd < 0) {
		up->epfd = epoll_create1(EPOLL_CLOEXEC);
		up->owns_epfd = 1;
		if (up->epfd < 0) {
			free(up);
			return TOK_EINTERNAL;
		}
	}
	up->multi = curl_multi_init();
	if (up->multi == NULL) {
		upstream_free(up);
		return TOK_ENOMEM;
	}
	mc |= curl_multi_setopt(up->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
	mc |= curl_multi_setopt(up->multi, CURLMOPT_SOCKETDATA, up);
	mc |= curl_multi_setopt(up->multi, CURLMOPT_TIMERFUNCTION, on_timer);
	mc |= curl_multi_setopt(up->multi, CURLMOPT_TIMERDATA, up);
	mc |= curl_multi_setopt(up->multi, CURLMOPT_PIPELINING,
	    (long)CURLPIPE_MULTIPLEX);
	mc |= curl_multi_setopt(up->multi, CURLMOPT_MAX_HOST_CONNECTIONS,
	    max_conns);
	/* Keep as many idle connections as may be open at once. */
	mc |= curl_multi_setopt(up->multi, CURLMOPT_MAXCONNECTS, max_conns);
	mc |= curl_multi_setopt(up->multi, CURLMOPT_MAX_CONCURRENT_STREAMS,
	    MAX_STREAMS);
	if (mc != CURLM_OK) {
		upstream_free(up);
		return TOK_EINTERNAL;
	}
	*out = up;
	return TOK_OK;
}

void
upstream_free(struct upstream *up)
{
	if (up == NULL)
		return;
	while (up->xfers != NULL) {
		struct xfer *x = up->xfers;

		curl_multi_remove_handle(up->multi, x->easy);
		xfer_unlink(up, x);
		free(x);
	}
	if (up->multi != NULL)
		curl_multi_cleanup(up->multi);
	if (up->owns_epfd && up->epfd >= 0)
		close(up->epfd);
	free(up);
}

enum tok_err
upstream_start(struct upstream *up, CURL *easy, upstream_done_fn done,
               void *ctx)
{
	struct xfer *x = malloc(sizeof(*x));

	if (x == NULL)
		return TOK_ENOMEM;
	x->done = done;
	x->ctx = ctx;
	x->easy = easy;
	x->prev = NULL;
	x->next = up->xfers;
	curl_easy_setopt(easy, CURLOPT_PRIVATE, x);
	if (curl_multi_add_handle(up->multi, easy) != CURLM_OK) {
		free(x);
		return TOK_EINTERNAL;
	}
	if (up->xfers != NULL)
		up->xfers->prev = x;
	up->xfers = x;
	up->active++;
	return TOK_OK;
}

/* Tell done how the transfer on easy ended with cc. */
static void
report(upstream_done_fn done, void *ctx, CURL *easy, CURLcode cc)
{
	struct upstream_result res = { cc, 0, -1, -1 };

	curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &res.status);
	curl_easy_getinfo(easy, CURLINFO_NUM_CONNECTS, &res.connects);
	curl_easy_getinfo(easy, CURLINFO_HEADER_SIZE, &res.header_bytes);
	done(ctx, easy, &res);
}

/* Report every transfer that ended. A report may start new transfers. */
static void
collect(struct upstream *up)
{
	CURLMsg *m;
	int left;

	while ((m = curl_multi_info_read(up->multi, &left)) != NULL) {
		struct xfer *x = NULL;
		CURL *easy = m->easy_handle;
		CURLcode result = m->data.result;

		if (m->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&x);
		curl_multi_remove_handle(up->multi, easy);
		if (x == NULL)
			continue;
		xfer_unlink(up, x);
		{
			upstream_done_fn done = x->done;
			void *ctx = x->ctx;

			free(x);
			report(done, ctx, easy, result);
		}
	}
}

void
upstream_on_event(struct upstream *up, uint64_t data, uint32_t events)
{
	int running, flags = 0;

	if (events & (EPOLLIN | EPOLLHUP | EPOLLRDHUP))
		flags |= CURL_CSELECT_IN;
	if (events & EPOLLOUT)
		flags |= CURL_CSELECT_OUT;
	if (events & EPOLLERR)
		flags |= CURL_CSELECT_ERR;
	(void)curl_multi_socket_action(up->multi,
	    (curl_socket_t)(data & ~UPSTREAM_TAG), flags, &running);
	collect(up);
}

long
upstream_wait_ms(const struct upstream *up)
{
	long long left;

	if (up->timer_due < 0)
		return -1;
	left = up->timer_due - clock_mono_ms();
	return left > 0 ? (long)left : 0;
}

void
upstream_on_timeout(struct upstream *up)
{
	int running;

	if (up->timer_due < 0 || up->timer_due > clock_mono_ms())
		return;
	up->timer_due = -1;  /* libcurl sets the next one */
	(void)curl_multi_socket_action(up->multi, CURL_SOCKET_TIMEOUT, 0,
	    &running);
	collect(up);
}

int
upstream_active(const struct upstream *up)
{
	return up->active;
}

/* End every transfer with result (the loop cannot go on). */
static void
fail_all(struct upstream *up, CURLcode result)
{
	while (up->xfers != NULL) {
		struct xfer *x = up->xfers;
		upstream_done_fn done = x->done;
		void *ctx = x->ctx;
		CURL *easy = x->easy;

		curl_multi_remove_handle(up->multi, easy);
		xfer_unlink(up, x);
		free(x);
		report(done, ctx, easy, result);
	}
}

void
upstream_run(struct upstream *up)
{
	struct epoll_event ev[16];

	while (up->active > 0) {
		int i, n = epoll_wait(up->epfd, ev, 16, (int)upstream_wait_ms(up));

		if (n < 0 && errno != EINTR) {
			log_err("upstream: epoll_wait: %s", strerror(errno));
			fail_all(up, CURLE_RECV_ERROR);
			return;
		}
		for (i = 0; i < n; i++)
			upstream_on_event(up, ev[i].data.u64, ev[i].events);
		upstream_on_timeout(up);
	}
}
