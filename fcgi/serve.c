/* serve: a worker's requests on its connections, from the first bytes
 * peeked to the answer written (serve.h). */
#include "serve.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <fcgiapp.h>

#include "clock.h"
#include "log.h"
#include "metrics.h"

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

/* Write the answer; keep the connection for the next request if it is
 * clean, else close it. */
static void
write_answer(struct serve *s, struct conn *c, const struct buf *out)
{
	size_t n = fcgi_frame_answer(s->records, s->records_len, c->request_id,
	    out->data, out->len);
	int keep = c->drained && s->listening && c->keep_asked;

	/* One write: STDOUT and END_REQUEST records together. A socket that
	 * cannot take a whole answer at once belongs to a peer that is not
	 * reading: it is closed rather than waited for. */
	if (n == 0 || send(c->req.ipcFd, s->records, n,
	    MSG_DONTWAIT | MSG_NOSIGNAL) != (ssize_t)n) {
		log_warn("the web server went away before the answer");
		conn_close(&s->conns, c);
		return;
	}
	if (!keep && (s->tcp || !c->drained)) {
		/* Bytes unread, or TCP: closing at once could cost the peer
		 * our answer (a reset; a peer still writing gets an error
		 * first): linger instead. */
		conn_linger(&s->conns, c);
		return;
	}
	if (!keep) {  /* a unix socket: a plain close loses nothing */
		conn_close(&s->conns, c);
		return;
	}
	c->state = CONN_READING;
	c->served++;
	c->used = ++s->conns.tick;
	if (c->look_again) {
		c->look_again = 0;
		serve_read(s, c);
	}
}

/* A parked request's answer, from the upstream's event handling. */
static void
answer_parked(void *ctx, const struct buf *out)
{
	struct conn *c = ctx;
	struct serve *s = c->owner;

	s->nparked--;
	metrics_in_flight(-1);
	write_answer(s, c, out);
}

/* Hand a whole request to libfcgi and the endpoint. */
static void
serve_whole(struct serve *s, struct conn *c)
{
	struct fcgi_ctx ctx = { &c->req };
	struct req_source src = { fcgi_param, fcgi_read, &ctx };
	int answered;

	c->need = 0;
	c->started = 0;
	conn_set_deadline(&s->conns, c, 0);
	if (FCGX_Accept_r(&c->req) < 0) {
		/* Not a request libfcgi serves: it closed the socket. */
		conn_release(&s->conns, c);
		return;
	}
	buf_reset(&s->out);
	c->state = CONN_PARKED;  /* until answered, events only note bytes */
	answered = endpoint_begin(&s->ep, &src, &s->out, answer_parked, c);
	/* Read the request to its end (for a GET the EOF record is already
	 * buffered: no extra syscall): only then may the connection be kept
	 * for the next request. Then libfcgi's buffers and the parameters
	 * go: a request parked on Ably holds none of them. */
	c->drained = !c->close_after && drain_input(c->req.in);
	c->request_id = (unsigned)c->req.requestId;
	c->keep_asked = c->req.keepConnection;
	FCGX_Free(&c->req, 0);
	if (answered) {
		write_answer(s, c, &s->out);
	} else {
		s->nparked++;
		metrics_in_flight(1);
	}
}

/* Answer a request whose parameters are over the limit without reading
 * it: a status only, then close. */
static void
refuse_too_big(struct serve *s, struct conn *c, unsigned request_id)
{
	unsigned char rec[512];
	size_t n = fcgi_frame_answer(rec, sizeof(rec), request_id,
	    too_big_answer, sizeof(too_big_answer) - 1);

	log_warn("a request's parameters are over %d KiB: answered 431 "
	    "unread", FCGI_FRAME_PARAMS_MAX / 1024);
	metrics_request(s->ep.cfg->mode, 431, 40000, 0);
	if (n == 0 || send(c->req.ipcFd, rec, n, MSG_DONTWAIT | MSG_NOSIGNAL)
	    != (ssize_t)n) {
		conn_close(&s->conns, c);
		return;
	}
	conn_linger(&s->conns, c);
}

/* Bytes arrived on a connection (or may have): see whether a whole
 * request is there, and serve it. */
void
serve_read(struct serve *s, struct conn *c)
{
	struct fcgi_frame fr;
	enum fcgi_frame_result res;
	ssize_t n;

	if (c->state == CONN_LINGER) {
		conn_linger_read(&s->conns, c, s->scratch, s->scratch_len);
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
	n = recv(c->req.ipcFd, s->scratch, s->scratch_len,
	    MSG_PEEK | MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {  /* the peer closed it, or it failed */
		if (c->started)
			log_info("a connection closed in the middle of a "
			    "request");
		conn_close(&s->conns, c);
		return;
	}
	if (!c->started) {
		c->started = 1;
		conn_set_deadline(&s->conns, c,
		    clock_mono_ms() + CONN_WHOLE_REQUEST_MS);
	}
	res = fcgi_frame_scan(s->scratch, (size_t)n, &s->limits, &fr);
	switch (res) {
	case FCGI_FRAME_MORE:
		c->need = fr.need;
		return;
	case FCGI_FRAME_REQUEST:
		/* Bytes after it came with it: no event will say so. */
		c->look_again = (size_t)n > fr.length;
		c->close_after = 0;
		serve_whole(s, c);
		return;
	case FCGI_FRAME_BODY_TOO_BIG:
		/* The endpoint answers 413 from CONTENT_LENGTH without
		 * reading the body; then the connection goes. */
		c->close_after = 1;
		serve_whole(s, c);
		return;
	case FCGI_FRAME_PARAMS_TOO_BIG:
		refuse_too_big(s, c, fr.request_id);
		return;
	default:
		log_info("closed a connection that sent no FastCGI request "
		    "(%s)", fr.why ? fr.why : "?");
		conn_close(&s->conns, c);
		return;
	}
}

void
serve_drain(struct serve *s)
{
	int i;

	/* A request that arrived with no event seen yet is answered, not
	 * cut off: a kept connection closed under it would cost the web
	 * server a retry, a new one a failed request. */
	for (i = 0; i < s->conns.nslots; i++)
		if (s->conns.slots[i]->state == CONN_READING)
			serve_read(s, s->conns.slots[i]);
	conn_close_kept_idle(&s->conns);
}

int
serve_init(struct serve *s, const struct config *cfg, int tcp)
{
	s->tcp = tcp;
	s->listening = 1;
	s->limits.params_max = FCGI_FRAME_PARAMS_MAX;
	s->limits.body_max = cfg->max_body;
	/* One byte more than the largest request, to see what follows it. */
	s->scratch_len = FCGI_FRAME_PARAMS_MAX + cfg->max_body +
	    FCGI_FRAME_SLACK + 1;
	s->scratch = malloc(s->scratch_len);
	s->records_len = fcgi_frame_answer_len(ENDPOINT_ANSWER_MAX);
	s->records = malloc(s->records_len);
	buf_init(&s->out, ENDPOINT_ANSWER_MAX);
	endpoint_init(&s->ep, cfg);
	if (conn_table_init(&s->conns) != 0 || s->scratch == NULL ||
	    s->records == NULL) {
		log_err("out of memory");
		return -1;
	}
	return 0;
}

void
serve_free(struct serve *s)
{
	conn_table_free(&s->conns);
	free(s->scratch);
	free(s->records);
	buf_free(&s->out);
}
