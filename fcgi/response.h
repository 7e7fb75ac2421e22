/* response: whole CGI-style answers (Status + headers + body) in a buffer,
 * written to the web server in one go.
 *
 * Every answer has Cache-Control: no-store. Errors are Ably-shaped the way
 * ably-js reads them: Content-Type: application/json
 * with no charset, X-Ably-ErrorCode, X-Ably-ErrorMessage and
 * {"error":{"message","code","statusCode","href"}}.
 */
#ifndef TOK_RESPONSE_H
#define TOK_RESPONSE_H

#include <stddef.h>

#include "buf.h"
#include "error.h"

/* CORS decision for one answer: allow_origin is the exact, configured
 * origin to echo (NULL = no CORS headers); vary says whether CORS is
 * configured at all (so caches must key on Origin). */
struct resp_cors {
	const char *allow_origin;
	int vary;
};

/* 200 with the given content type and body (no trailing newline added). */
enum tok_err resp_ok(struct buf *out, const char *content_type,
                     const char *body, size_t len,
                     const struct resp_cors *cors)
	__attribute__((warn_unused_result));

/* The same with another status (the readiness answer's 503). */
enum tok_err resp_status(struct buf *out, int status,
                         const char *content_type, const char *body,
                         size_t len, const struct resp_cors *cors)
	__attribute__((warn_unused_result));

/* An Ably-shaped error answer for e. allow is the Allow header for 405. */
enum tok_err resp_error(struct buf *out, const struct tok_error *e,
                        const char *allow, const struct resp_cors *cors)
	__attribute__((warn_unused_result));

/* 204 answer to a CORS preflight from an allowed origin. request_headers
 * is the Access-Control-Request-Headers value (echoed only if it is a
 * plain list of header names). */
enum tok_err resp_preflight(struct buf *out, const struct resp_cors *cors,
                            const char *request_headers)
	__attribute__((warn_unused_result));

#endif
