/* fuzz_request: one whole request, start to finish (request parser, policy,
 * capability, signing, response), from bytes standing in for what the web
 * server hands over.
 *
 * Input: newline-separated CGI parameters, then the body:
 *   REQUEST_METHOD \n QUERY_STRING \n CONTENT_TYPE \n CONTENT_LENGTH \n
 *   HTTP_ORIGIN \n DOCUMENT_URI \n HTTP_ACCESS_CONTROL_REQUEST_HEADERS \n
 *   REMOTE_USER \n body...
 * An empty line leaves the parameter out; a line holding only 0x01 sets it
 * to ""; CONTENT_LENGTH "*" is the body's real length. The body is handed
 * out in pieces of a size derived from the input, like FCGX_GetStr does.
 * Missing lines are absent parameters.
 *
 * Each request runs through two endpoints, token-request and jwt mode (token
 * mode would need the network). Properties: the answer is a well-formed CGI
 * head (every line "Name: value", no stray CR or LF, so no request byte can
 * start a header), a status that is never 5xx (with a key loaded, nothing a
 * caller sends may be a server error), Content-Length matching the body.
 */
#include "fuzz.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "config.h"
#include "endpoint.h"
#include "log.h"
#include "request.h"

#define FREQ_NPARAMS 8

static const char *const freq_names[FREQ_NPARAMS] = {
	"REQUEST_METHOD", "QUERY_STRING", "CONTENT_TYPE", "CONTENT_LENGTH",
	"HTTP_ORIGIN", "DOCUMENT_URI", "HTTP_ACCESS_CONTROL_REQUEST_HEADERS",
	"REMOTE_USER",
};

struct freq_src {
	char *values[FREQ_NPARAMS];  /* NULL = absent */
	const uint8_t *body;
	size_t body_len, pos, chunk;
	char clen[32];
};

static const char *
freq_param(void *ctx, const char *name)
{
	struct freq_src *s = ctx;
	int i;

	for (i = 0; i < FREQ_NPARAMS; i++)
		if (strcmp(name, freq_names[i]) == 0)
			return s->values[i];
	return NULL;
}

static long
freq_read(void *ctx, char *buf, size_t n)
{
	struct freq_src *s = ctx;
	size_t left = s->body_len - s->pos;

	if (n > left)
		n = left;
	if (n > s->chunk)
		n = s->chunk;
	memcpy(buf, s->body + s->pos, n);
	s->pos += n;
	return (long)n;
}

static struct config freq_cfg[2];
static int freq_ready;

static void
freq_load(struct config *c, const char *text)
{
	char path[] = "/tmp/ably-token-fuzz-XXXXXX", err[512];
	int fd = mkstemp(path);

	if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text)) {
		perror("fuzz_request: temp config");
		abort();
	}
	close(fd);
	if (config_load(c, path, err, sizeof(err)) != 0) {
		fprintf(stderr, "fuzz_request: config: %s\n", err);
		abort();
	}
	unlink(path);
}

static void
freq_init(void)
{
	if (freq_ready)
		return;
	unsetenv("ABLY_API_KEY");
	unsetenv("VITE_ABLY_KEY");
	freq_load(&freq_cfg[0],
	    "key = TESTAPP.fulltest:TEST-ONLY-not-a-real-secret-0000000000\n"
	    "mode = token-request\n"
	    "capability = {\"chat:*\":[\"subscribe\",\"publish\",\"presence\"],"
	    "\"status\":[\"subscribe\"]}\n"
	    "ttl = 30m\nmax_ttl = 2h\nmax_body = 4096\n"
	    "cors_origins = http://allowed.example\n"
	    "log_level = error\n");
	freq_load(&freq_cfg[1],
	    "key = TESTAPP.fulltest:TEST-ONLY-not-a-real-secret-0000000000\n"
	    "mode = jwt\n"
	    "capability = {\"*\":[\"subscribe\"],\"chat:*\":[\"*\"]}\n"
	    "max_body = 65536\n"
	    "log_level = error\n");
	log_set_level(LOGL_ERROR);
	freq_ready = 1;
}

/* The CGI head: "Status: NNN ...", then "Name: value" lines, a blank
 * line, and exactly Content-Length bytes of body (when given). */
static void
freq_check_answer(const struct buf *out)
{
	const char *p = out->data, *end, *body;
	long status, clen = -1;

	FUZZ_CHECK(out->len > 0 && p != NULL, "an answer");
	end = memmem(p, out->len, "\r\n\r\n", 4);
	FUZZ_CHECK(end != NULL, "the head ends with CRLF CRLF");
	FUZZ_CHECK(strncmp(p, "Status: ", 8) == 0, "the head starts with Status:");
	status = strtol(p + 8, NULL, 10);
	FUZZ_CHECK(status >= 200 && status < 500, "no 5xx for anything a caller sends");
	while (p < end) {
		const char *eol = memmem(p, (size_t)(end + 2 - p), "\r\n", 2);
		const char *colon, *q;

		FUZZ_CHECK(eol != NULL, "header line ends with CRLF");
		colon = memchr(p, ':', (size_t)(eol - p));
		FUZZ_CHECK(colon != NULL && colon > p, "header line is Name: value");
		for (q = p; q < colon; q++)
			FUZZ_CHECK((*q >= 'A' && *q <= 'Z') || (*q >= 'a' &&
			    *q <= 'z') || (*q >= '0' && *q <= '9') || *q == '-',
			    "header name is a token");
		for (q = colon + 1; q < eol; q++)
			FUZZ_CHECK(*q == '\t' || (unsigned char)*q >= 0x20,
			    "no control bytes in a header value");
		if (strncmp(p, "Content-Length:", 15) == 0)
			clen = strtol(colon + 1, NULL, 10);
		p = eol + 2;
	}
	body = end + 4;
	if (clen >= 0)
		FUZZ_CHECK((size_t)clen == out->len - (size_t)(body - out->data),
		    "Content-Length is the body's length");
}

int FUZZ_ENTRY(const uint8_t *data, size_t size);

int
FUZZ_ENTRY(const uint8_t *data, size_t size)
{
	struct freq_src s;
	size_t i = 0, k;
	int m;

	freq_init();
	memset(&s, 0, sizeof(s));
	for (k = 0; k < FREQ_NPARAMS && i < size; k++) {
		const uint8_t *nl = memchr(data + i, '\n', size - i);
		size_t len = nl ? (size_t)(nl - (data + i)) : size - i;

		if (len == 1 && data[i] == 0x01)
			s.values[k] = strdup("");
		else if (len > 0)
			s.values[k] = strndup((const char *)data + i, len);
		i += len + (nl != NULL);
	}
	s.body = data + i;
	s.body_len = size - i;
	s.chunk = size % 7 == 0 ? (size_t)-1 : size % 7;
	if (s.values[3] != NULL && strcmp(s.values[3], "*") == 0) {
		free(s.values[3]);
		(void)snprintf(s.clen, sizeof(s.clen), "%zu", s.body_len);
		s.values[3] = strdup(s.clen);
	}
	for (m = 0; m < 2; m++) {
		struct req_source src = { freq_param, freq_read, &s };
		struct endpoint ep;
		struct buf out;

		s.pos = 0;
		endpoint_init(&ep, &freq_cfg[m]);
		buf_init(&out, 256 * 1024);
		endpoint_handle(&ep, &src, &out);
		freq_check_answer(&out);
		buf_free(&out);
	}
	for (k = 0; k < FREQ_NPARAMS; k++)
		free(s.values[k]);
	return 0;
}
