/* error: the one error value every module returns.
 *
 * A function that can fail returns enum tok_err and, when it fails, fills a
 * caller-owned struct tok_error. `message` is safe to send to the client: it
 * is built only from fixed text and numbers, never from request bytes, so it
 * can go into the X-Ably-ErrorMessage header without escaping. Anything more
 * detailed goes to the log instead.
 */
#ifndef TOK_ERROR_H
#define TOK_ERROR_H

enum tok_err {
	TOK_OK = 0,
	TOK_EINVAL,     /* bad parameter from the caller: 400 */
	TOK_EAUTH,      /* no identity where one is required: 401 */
	TOK_EDENIED,    /* identity or capability refused: 403 */
	TOK_ENOTFOUND,  /* 404 */
	TOK_EMETHOD,    /* 405 */
	TOK_ETOOBIG,    /* body over max_body: 413 */
	TOK_ETOOLONG,   /* query string too long: 414 */
	TOK_EMEDIA,     /* unsupported content type: 415 */
	TOK_ECONFIG,    /* server misconfigured (no key): 500 */
	TOK_ENOMEM,     /* 500 */
	TOK_EINTERNAL,  /* 500 */
	TOK_EUPSTREAM,  /* Ably answered with an error or garbage: 502 */
	TOK_ETIMEOUT,   /* Ably unreachable in time: 504 */
	TOK__MAX
};

struct tok_error {
	enum tok_err kind;
	int code;           /* Ably error code, e.g. 40003; 0 = default for kind */
	char message[160];  /* client-safe text (see above) */
	int status;         /* HTTP status; 0 = the default for kind. Set
	                     * only when passing on an answer from Ably. */
};

/* Fill *e (if not NULL) and return kind, so callers can write
 * `return tok_fail(e, TOK_EINVAL, 40003, "ttl ...")`. */
enum tok_err tok_fail(struct tok_error *e, enum tok_err kind, int code,
                      const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* HTTP status for an error kind (200 for TOK_OK). */
int tok_http_status(enum tok_err kind);

/* HTTP status for e: its own status, or the default for its kind. */
int tok_error_status(const struct tok_error *e);

/* Ably error code for e: its own code, or the default for its kind. */
int tok_ably_code(const struct tok_error *e);

#endif
