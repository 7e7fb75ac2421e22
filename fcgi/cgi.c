/* cgi: serving one request as a plain CGI program: the request from the
 * environment and stdin, the answer on stdout (FastCGI is in worker.c). */
#include "cgi.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ably_rest.h"
#include "buf.h"
#include "endpoint.h"
#include "log.h"
#include "upstream.h"

/* A CGI request: how much of stdin was read, and a body read ahead when
 * the server gave no CONTENT_LENGTH (see cgi_read_ahead). */
struct cgi_ctx {
	unsigned long long consumed;
	char *body;
	size_t body_len, body_off;
	char body_cl[24];
};

static const char *
cgi_param(void *ctx, const char *name)
{
	struct cgi_ctx *cx = ctx;

	if (cx->body != NULL && strcmp(name, "CONTENT_LENGTH") == 0)
		return cx->body_cl;
	return getenv(name);
}

static long
cgi_read(void *ctx, char *buf, size_t n)
{
	struct cgi_ctx *cx = ctx;
	size_t got;

	if (cx->body != NULL) {
		got = cx->body_len - cx->body_off;
		if (got > n)
			got = n;
		memcpy(buf, cx->body + cx->body_off, got);
		cx->body_off += got;
		return (long)got;
	}
	got = fread(buf, 1, n, stdin);
	cx->consumed += got;
	return ferror(stdin) ? -1 : (long)got;
}

/* A body-carrying method, a body on stdin and no CONTENT_LENGTH to say how
 * long it is: Apache sends a chunked request body to a CGI program this way
 * and closes stdin after it. Read it to EOF, at most max_body + 1 bytes (one
 * more than allowed, so the endpoint answers 413), and present it with its
 * length, as nginx and mod_fcgid do. Never from a terminal. */
static int
cgi_read_ahead(struct cgi_ctx *cx, size_t max_body)
{
	const char *cl = getenv("CONTENT_LENGTH");
	const char *method = getenv("REQUEST_METHOD");
	size_t cap = max_body + 1;

	if ((cl != NULL && cl[0] != '\0') || method == NULL ||
	    strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0 ||
	    strcmp(method, "OPTIONS") == 0 || isatty(0))
		return 0;
	cx->body = malloc(cap);
	if (cx->body == NULL)
		return -1;
	while (cx->body_len < cap) {
		size_t got = fread(cx->body + cx->body_len, 1,
		    cap - cx->body_len, stdin);

		if (got == 0)
			break;
		cx->body_len += got;
	}
	cx->consumed = cx->body_len;
	(void)snprintf(cx->body_cl, sizeof(cx->body_cl), "%zu", cx->body_len);
	return ferror(stdin) ? -1 : 0;
}

/* After the answer: read and drop what is left of the request body (the
 * endpoint stops reading when it refuses one), at most CGI_DRAIN_MAX bytes
 * and never past CONTENT_LENGTH. Exiting with unread input makes the kernel
 * reset the web server's connection to us, and Apache's mod_cgid then loses
 * the answer already written: the client saw a connection reset instead of
 * the 413. Apache passes a chunked body without CONTENT_LENGTH and closes
 * our stdin after it, so a POST without one is read to EOF (never from a
 * terminal, where that would wait for the user). */
#define CGI_DRAIN_MAX (1024 * 1024)

static void
cgi_drain(const struct cgi_ctx *cx)
{
	const char *cl = getenv("CONTENT_LENGTH");
	const char *method = getenv("REQUEST_METHOD");
	unsigned long long want, left;
	char junk[4096], *end;

	if (cl == NULL || cl[0] == '\0') {
		if (method == NULL || strcmp(method, "GET") == 0 ||
		    strcmp(method, "HEAD") == 0 ||
		    strcmp(method, "OPTIONS") == 0 || isatty(0))
			return;
		want = cx->consumed + CGI_DRAIN_MAX;
	} else {
		if (cl[0] < '0' || cl[0] > '9')
			return;
		errno = 0;
		want = strtoull(cl, &end, 10);
		if (errno != 0 || *end != '\0')
			return;
	}
	if (want <= cx->consumed)
		return;
	left = want - cx->consumed;
	if (left > CGI_DRAIN_MAX)
		left = CGI_DRAIN_MAX;
	while (left > 0) {
		size_t got = fread(junk, 1, left < sizeof(junk) ?
		    (size_t)left : sizeof(junk), stdin);

		if (got == 0)
			break;
		left -= got;
	}
}

int
cgi_serve(const struct config *cfg)
{
	struct endpoint ep;
	struct buf out;
	struct cgi_ctx cx = { 0 };
	struct req_source src = { cgi_param, cgi_read, &cx };
	struct upstream *up = NULL;
	struct tok_error e;
	int rc = 0;

	if (cgi_read_ahead(&cx, cfg->max_body) != 0)
		log_warn("could not read the request body");

	endpoint_init(&ep, cfg);
	/* One request: the same asynchronous client, on an event loop of its
	 * own that runs until this answer is there. */
	if (cfg->mode == MODE_TOKEN &&
	    (upstream_new(-1, cfg->upstream_connections, &up) != TOK_OK ||
	    ably_rest_new(cfg, up, &ep.rest, &e) != TOK_OK))
		log_err("cannot set up the client for Ably");  /* a 500 */
	buf_init(&out, ENDPOINT_ANSWER_MAX);
	endpoint_handle(&ep, &src, &out);
	ably_rest_free(ep.rest);
	upstream_free(up);
	if (fwrite(out.data, 1, out.len, stdout) != out.len ||
	    fflush(stdout) != 0)
		rc = 1;
	cgi_drain(&cx);
	free(cx.body);
	buf_free(&out);
	return rc;
}

void
cgi_answer_misconfigured(void)
{
	struct cgi_ctx unread = { 0 };

	fputs("Status: 500 Internal Server Error\r\n"
	    "Content-Type: application/json\r\n"
	    "Cache-Control: no-store\r\n"
	    "X-Ably-ErrorCode: 50000\r\n"
	    "X-Ably-ErrorMessage: token endpoint misconfigured"
	    "\r\n\r\n{\"error\":{\"message\":\"token endpoint "
	    "misconfigured\",\"code\":50000,\"statusCode\":500,"
	    "\"href\":\"https://help.ably.io/error/50000\"}}",
	    stdout);
	fflush(stdout);
	cgi_drain(&unread);
}
