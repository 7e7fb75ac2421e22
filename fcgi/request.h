/* request: one HTTP request from the web server, as plain data.
 *
 * The web server's CGI/FastCGI parameters and body come in through a
 * struct req_source, so FastCGI, plain CGI and tests share this parser.
 * It collects the TokenParams (clientId, capability, ttl) as raw text;
 * deciding whether they are acceptable is policy's job.
 */
#ifndef TOK_REQUEST_H
#define TOK_REQUEST_H

#include <stddef.h>

#include "error.h"
#include "trace.h"

#define REQ_MAX_QUERY (16 * 1024)

enum req_method { REQ_GET, REQ_POST, REQ_OPTIONS, REQ_OTHER };

struct req_source {
	/* A parameter such as "REQUEST_METHOD" or "HTTP_ORIGIN"; NULL if
	 * absent. The string must stay valid while the request is parsed. */
	const char *(*param)(void *ctx, const char *name);
	/* Read up to n body bytes; 0 at end of input, -1 on error. */
	long (*read)(void *ctx, char *buf, size_t n);
	void *ctx;
};

/* The parameters only the configuration knows the names of (a trusted
 * identity header, the group header, the trusted-path secret); NULL names
 * are not read. Borrowed strings. */
struct req_extra {
	const char *trusted_param;   /* e.g. "TRUSTED_HEADER_SECRET" */
	const char *identity_param;  /* e.g. "HTTP_X_REMOTE_USER" */
	const char *group_param;     /* e.g. "HTTP_X_GROUPS" */
};

/* One TokenParam: absent, or present with text (no NUL inside). */
struct req_value {
	int present;
	char *text;  /* owned; NULL when absent */
};

struct request {
	enum req_method method;
	char method_name[12];      /* for logs and the 405 answer */
	char *path;                /* owned, without the query string */
	char *origin;              /* owned copy of Origin, or NULL */
	char *preflight_headers;   /* Access-Control-Request-Headers */
	char *remote_user;         /* REMOTE_USER, or NULL */
	/* Owned copies of the parameters struct req_extra names (NULL when
	 * absent or not asked for). Copies, not the source's strings: the
	 * worker frees libfcgi's parameters as soon as the endpoint has the
	 * request, and a token-mode request waits for Ably after that. */
	char *trusted_secret;      /* wiped by req_free() */
	char *identity_header;
	char *group_header;
	struct req_value client_id;
	struct req_value capability;  /* JSON text as sent */
	struct req_value ttl;         /* decimal text as sent */
	/* The web server's id for the request (REQUEST_ID, else UNIQUE_ID)
	 * when it passes trace_request_id_ok(); "" otherwise. */
	char server_request_id[TRACE_REQUEST_ID_MAX + 1];
	/* HTTP_TRACEPARENT when valid (has_trace), else ignored. */
	int has_trace;
	struct traceparent trace;
};

/* Parse the request; the body is read only for POST and only up to
 * max_body bytes (larger is TOK_ETOOBIG without reading). The parameters
 * extra names (NULL: none) are copied too. On failure the request is still
 * safe to req_free() and method/path/origin are set, so an error answer can
 * honour CORS. Nothing of src is kept: it may go once this returns. */
enum tok_err req_parse(struct request *r, const struct req_source *src,
                       size_t max_body, const struct req_extra *extra,
                       struct tok_error *e)
	__attribute__((warn_unused_result));

/* Copy the parameters extra names from src into r (replacing what r held
 * there). req_parse does this; tests that build a request by hand call it
 * themselves. TOK_ENOMEM on failure. */
enum tok_err req_copy_extra(struct request *r, const struct req_source *src,
                            const struct req_extra *extra,
                            struct tok_error *e)
	__attribute__((warn_unused_result));

/* Release what r holds (wiping the secret) and zero it. */
void req_free(struct request *r);

/* Decode application/x-www-form-urlencoded text (s, n bytes) in place
 * semantics: writes the decoded bytes to out (at least n+1 bytes) and
 * returns their count, or -1 on a broken %-escape or a decoded NUL. */
long req_form_decode(const char *s, size_t n, char *out);

#endif
