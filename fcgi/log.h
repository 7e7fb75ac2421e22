/* log: leveled logging to stderr with a request id.
 *
 * Lines look like `ably-token[pid] warn rid=123-7: message`. Anything that
 * came from a client must go through log_escape() first. Never log a key
 * secret, a mac, or a whole token.
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

/* The pid printed with each line (0 = ask the kernel each time). Set it in
 * each process after a fork: a per-line getpid() is a syscall. */
void log_set_pid(long pid);

/* The id printed with this thread's lines until changed; NULL clears it.
 * Copied. */
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

/* Copy at most srclen bytes of src into dst (size dstlen, always
 * NUL-terminated), escaping control bytes, '\\', '"' and non-ASCII as \xHH
 * and truncating with "..." if it does not fit. */
void log_escape(char *dst, size_t dstlen, const char *src, size_t srclen);

#endif
