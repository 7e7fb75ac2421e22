/* fake_source: the web server as a struct req_source sees it, for the
 * unit tests (request, endpoint, policy).
 *
 * CGI parameters come from a small table, the body from a string; reads
 * are counted and can be cut into chunks or made to fail, so a test says
 * exactly what the web server sent. Nothing is copied: every string must
 * outlive the request.
 */
#ifndef FAKE_SOURCE_H
#define FAKE_SOURCE_H

#include <stddef.h>

#include "request.h"

#define FAKE_MAX_PARAMS 16

struct fake {
	const char *names[FAKE_MAX_PARAMS];
	const char *values[FAKE_MAX_PARAMS];
	size_t n;
	const char *body;   /* NULL = no body */
	size_t body_len;
	size_t pos;
	size_t chunk;       /* most bytes handed out per read; 0 = no limit */
	int fail_read;      /* read returns -1 */
	int reads;          /* read calls so far */
	struct req_source src;  /* what fake_parse handed to req_parse */
	const struct req_extra *extra;  /* fake_parse's; NULL = none */
};

/* Add a parameter (at most FAKE_MAX_PARAMS); a NULL value is not set. */
void fake_set(struct fake *f, const char *name, const char *value);

/* The body read returns (NULL: none); no CONTENT_* parameter is set. */
void fake_body(struct fake *f, const char *body);

/* Start over with a request: method, URI (QUERY_STRING taken from it) and
 * optionally an Origin header. */
void fake_request(struct fake *f, const char *method, const char *uri,
                  const char *origin);

/* A body with its CONTENT_TYPE and CONTENT_LENGTH; clen holds the length's
 * text and must outlive the request. */
void fake_post_body(struct fake *f, const char *ctype, const char *body,
                    char clen[24]);

/* Parameters from "NAME=value\n..." text (NULL: none), after a reset;
 * storage (size bytes) holds the split text. */
void fake_params_text(struct fake *f, char *storage, size_t size,
                      const char *text);

struct req_source fake_source(struct fake *f);

/* req_parse of this request, copying the parameters f->extra names. */
enum tok_err fake_parse(struct fake *f, struct request *r, size_t max_body,
                        struct tok_error *e);

#endif
