/* log: leveled logging to stderr with a request id, as text or JSON.
 *
 * Text lines look like `ably-token[pid] warn rid=123-7: message`; with
 * log_set_format(LOG_FORMAT_JSON) each line is one JSON object instead
 * (`{"time":...,"level":"warn","pid":...,"request_id":"123-7","msg":...}`,
 * doc/logging.md). Anything that came from a client must go through
 * log_escape() first (the JSON writer escapes again, for JSON). Never log a
 * key secret, a mac, a whole token or the trusted-header secret.
 */
#ifndef TOK_LOG_H
#define TOK_LOG_H

#include <stddef.h>

enum log_level { LOGL_ERROR, LOGL_WARN, LOGL_INFO, LOGL_DEBUG, LOGL__MAX };

/* Parse "error|warn|info|debug"; 0 on success, -1 if unknown. */
int log_level_parse(const char *s, enum log_level *out);
const char *log_level_name(enum log_level l);

void log_set_level(enum log_level l);
int log_enabled(enum log_level l);

enum log_format { LOG_FORMAT_TEXT, LOG_FORMAT_JSON, LOG_FORMAT__MAX };

/* Parse "text|json"; 0 on success, -1 if unknown. */
int log_format_parse(const char *s, enum log_format *out);
const char *log_format_name(enum log_format f);

/* How every line of the process is written from now on (text by
 * default); set before the workers are forked. */
void log_set_format(enum log_format f);
enum log_format log_get_format(void);

/* The pid printed with each line (0 = ask the kernel each time). Set it in
 * each process after a fork: a per-line getpid() is a syscall. */
void log_set_pid(long pid);

/* The id printed with this thread's lines until changed; NULL clears it.
 * Copied, up to LOG_REQUEST_ID_MAX bytes. */
#define LOG_REQUEST_ID_MAX 64
void log_set_request_id(const char *rid);

/* Hold this thread's info and debug lines in memory (up to 4 KiB) until
 * log_flush(), so that a busy worker writes them once per batch of
 * requests rather than once each; warnings and errors are written at once,
 * after what is held. Whoever turns it on flushes soon after the requests
 * stop (log_holding_lines() says whether there is anything to flush) and
 * before exiting: a crash loses what is held. */
void log_hold(int on);
int log_holding_lines(void);
void log_flush(void);

void log_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* What one request's closing line says (log_request_line). Strings are
 * borrowed for the call; NULL (or 0 where said) leaves a field out. */
struct log_request {
	const char *method;
	const char *path;
	int status;                /* the HTTP status answered */
	int error_code;            /* Ably's error code; 0 on success */
	const char *error;         /* the error's message; NULL on success */
	const char *mode;          /* token, token-request or jwt */
	const char *identity_source;  /* the client_id source; NULL: none
	                              * was asked (health, preflight) */
	int rule_known;            /* the policy got as far as a rule: */
	const char *rule;          /* its name; NULL = the top level */
	const char *client_id;     /* NULL = none (anonymous) */
	long long ttl_ms;          /* 0 = not decided */
	const char *upstream_host; /* token mode: the last host tried; NULL =
	                            * no call to Ably */
	unsigned upstream_tries;   /* HTTP tries, fallbacks included */
	long long upstream_ms;     /* the call to Ably, every try */
	const char *trace_id;      /* from a valid traceparent; NULL = none */
	long long duration_ms;     /* the whole request */
};

/* The line that closes a request, at level l: in text as before
 * (`GET /path -> ok clientId=x 3ms`, or `-> 403 code=40300 (why) 3ms`,
 * with ` trace=...` when there is a trace id), in JSON every field. */
void log_request_line(enum log_level l, const struct log_request *r);

/* Copy at most srclen bytes of src into dst (size dstlen, always
 * NUL-terminated), escaping control bytes, '\\', '"' and non-ASCII as \xHH
 * and truncating with "..." if it does not fit. */
void log_escape(char *dst, size_t dstlen, const char *src, size_t srclen);

#endif
