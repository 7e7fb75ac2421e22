/* log: stderr logging. The level (set at start-up), and per thread the
 * request id and the held lines, are this module's only state. */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static enum log_level current = LOGL_INFO;
static __thread char request_id[32];
static long cached_pid;

/* Held info/debug lines (log_hold). At most PIPE_BUF bytes, so that one
 * write of them is atomic on a pipe: lines of different workers never
 * interleave. */
static __thread char held[4096];
static __thread size_t held_len;
static __thread int holding;

static const char *const names[LOGL__MAX] = {
	[LOGL_ERROR] = "error",
	[LOGL_WARN] = "warn",
	[LOGL_INFO] = "info",
	[LOGL_DEBUG] = "debug",
};

int
log_level_parse(const char *s, enum log_level *out)
{
	int i;

	for (i = 0; i < LOGL__MAX; i++) {
		if (strcmp(s, names[i]) == 0) {
			*out = (enum log_level)i;
			return 0;
		}
	}
	return -1;
}

const char *
log_level_name(enum log_level l)
{
	return (l >= 0 && l < LOGL__MAX) ? names[l] : "?";
}

void
log_set_level(enum log_level l)
{
	current = l;
}

int
log_enabled(enum log_level l)
{
	return l <= current;
}

void
log_set_pid(long pid)
{
	cached_pid = pid;
}

void
log_set_request_id(const char *rid)
{
	if (rid == NULL)
		request_id[0] = '\0';
	else
		(void)snprintf(request_id, sizeof(request_id), "%s", rid);
}

static void
vlog(enum log_level l, const char *fmt, va_list ap)
{
	char line[1024];
	int n;

	if (!log_enabled(l))
		return;
	n = snprintf(line, sizeof(line), "ably-token[%ld] %s%s%s: ",
	    cached_pid ? cached_pid : (long)getpid(), names[l],
	    request_id[0] ? " rid=" : "",
	    request_id);
	if (n < 0 || (size_t)n >= sizeof(line))
		return;
	(void)vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	/* One write per line keeps lines from workers whole. */
	n = (int)strlen(line);
	if ((size_t)n > sizeof(line) - 2)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';
	if (holding && l >= LOGL_INFO) {
		if (held_len + (size_t)n > sizeof(held))
			log_flush();
		memcpy(held + held_len, line, (size_t)n);
		held_len += (size_t)n;
		return;
	}
	log_flush();  /* what came before goes first */
	(void)!write(STDERR_FILENO, line, (size_t)n);
}

void
log_hold(int on)
{
	if (!on)
		log_flush();
	holding = on;
}

int
log_holding_lines(void)
{
	return held_len > 0;
}

void
log_flush(void)
{
	if (held_len > 0)
		(void)!write(STDERR_FILENO, held, held_len);
	held_len = 0;
}

#define LOG_FN(fn, level)                 \
	void fn(const char *fmt, ...)     \
	{                                 \
		va_list ap;               \
		va_start(ap, fmt);        \
		vlog(level, fmt, ap);     \
		va_end(ap);               \
	}

LOG_FN(log_err, LOGL_ERROR)
LOG_FN(log_warn, LOGL_WARN)
LOG_FN(log_info, LOGL_INFO)
LOG_FN(log_debug, LOGL_DEBUG)

void
log_escape(char *dst, size_t dstlen, const char *src, size_t srclen)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0, i;

	if (dstlen == 0)
		return;
	for (i = 0; i < srclen; i++) {
		unsigned char c = (unsigned char)src[i];
		size_t need = (c < 0x20 || c >= 0x7f || c == '\\' || c == '"')
		    ? 4 : 1;

		if (o + need + 4 > dstlen) {  /* room for "..." and NUL */
			if (dstlen >= 4) {
				memcpy(dst + (o < dstlen - 4 ? o : dstlen - 4),
				    "...", 3);
				o = (o < dstlen - 4 ? o : dstlen - 4) + 3;
			}
			break;
		}
		if (need == 1) {
			dst[o++] = (char)c;
		} else {
			dst[o++] = '\\';
			dst[o++] = 'x';
			dst[o++] = hex[c >> 4];
			dst[o++] = hex[c & 0xf];
		}
	}
	dst[o < dstlen ? o : dstlen - 1] = '\0';
}
