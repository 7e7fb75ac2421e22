/* log: stderr logging. The level and format (set at start-up), and per
 * thread the request id and the held lines, are this module's only
 * state. */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log_json.h"

/* The longest line; longer messages are cut. Under PIPE_BUF, so that one
 * write of a line stays whole on a pipe. */
#define LINE_MAX_BYTES 2048

static enum log_level current = LOGL_INFO;
static enum log_format format = LOG_FORMAT_TEXT;
static __thread char request_id[LOG_REQUEST_ID_MAX + 1];
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

static const char *const format_names[LOG_FORMAT__MAX] = {
	[LOG_FORMAT_TEXT] = "text",
	[LOG_FORMAT_JSON] = "json",
};

int
log_format_parse(const char *s, enum log_format *out)
{
	int i;

	for (i = 0; i < LOG_FORMAT__MAX; i++) {
		if (strcmp(s, format_names[i]) == 0) {
			*out = (enum log_format)i;
			return 0;
		}
	}
	return -1;
}

const char *
log_format_name(enum log_format f)
{
	return (f >= 0 && f < LOG_FORMAT__MAX) ? format_names[f] : "?";
}

void
log_set_format(enum log_format f)
{
	format = f;
}

enum log_format
log_get_format(void)
{
	return format;
}

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

/* Write one finished line (ending in '\n'): held, or at once. */
static void
emit(enum log_level l, const char *line, size_t n)
{
	if (holding && l >= LOGL_INFO) {
		if (held_len + n > sizeof(held))
			log_flush();
		memcpy(held + held_len, line, n);
		held_len += n;
		return;
	}
	log_flush();  /* what came before goes first */
	(void)!write(STDERR_FILENO, line, n);
}

static long
pid_now(void)
{
	return cached_pid ? cached_pid : (long)getpid();
}

/* A JSON line's first fields: time (UTC, ms), level, pid, request id. */
static void
json_head(struct log_json *j, char *line, size_t cap, enum log_level l)
{
	struct timespec ts;
	struct tm tm;
	char when[32];
	size_t n = 0;

	log_json_begin(j, line, cap);
	if (clock_gettime(CLOCK_REALTIME, &ts) == 0 &&
	    gmtime_r(&ts.tv_sec, &tm) != NULL) {
		n = strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
		if (n > 0)
			n += (size_t)snprintf(when + n, sizeof(when) - n,
			    ".%03ldZ", ts.tv_nsec / 1000000);
	}
	log_json_string(j, "time", when, n < sizeof(when) ? n : 0);
	log_json_string(j, "level", names[l], strlen(names[l]));
	log_json_number(j, "pid", pid_now());
	if (request_id[0])
		log_json_string(j, "request_id", request_id,
		    strlen(request_id));
}

static void
vlog(enum log_level l, const char *fmt, va_list ap)
{
	char line[LINE_MAX_BYTES];
	int n;

	if (!log_enabled(l))
		return;
	if (format == LOG_FORMAT_JSON) {
		char msg[LINE_MAX_BYTES];
		struct log_json j;

		n = vsnprintf(msg, sizeof(msg), fmt, ap);
		if (n < 0)
			n = 0;
		json_head(&j, line, sizeof(line), l);
		log_json_string(&j, "msg", msg, strnlen(msg, sizeof(msg)));
		emit(l, line, log_json_end(&j));
		return;
	}
	n = snprintf(line, sizeof(line), "ably-token[%ld] %s%s%s: ",
	    pid_now(), names[l], request_id[0] ? " rid=" : "", request_id);
	if (n < 0 || (size_t)n >= sizeof(line))
		return;
	(void)vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	/* One write per line keeps lines from workers whole. */
	n = (int)strlen(line);
	if ((size_t)n > sizeof(line) - 2)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';
	emit(l, line, (size_t)n);
}

static void vlog_line(enum log_level l, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void
vlog_line(enum log_level l, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(l, fmt, ap);
	va_end(ap);
}

/* Add name:s when s is not NULL. */
static void
json_opt_string(struct log_json *j, const char *name, const char *s)
{
	if (s != NULL)
		log_json_string(j, name, s, strlen(s));
}

void
log_request_line(enum log_level l, const struct log_request *r)
{
	char line[LINE_MAX_BYTES];
	struct log_json j;

	if (!log_enabled(l))
		return;
	if (format == LOG_FORMAT_TEXT) {
		char path[96], who[96], trace[48] = "";
		const char *p = r->path ? r->path : "?";
		const char *c = r->client_id ? r->client_id : "-";

		log_escape(path, sizeof(path), p, strlen(p));
		if (r->trace_id != NULL)
			(void)snprintf(trace, sizeof(trace), " trace=%.32s",
			    r->trace_id);
		if (r->error != NULL) {
			vlog_line(l, "%s %s -> %d code=%d (%s)%s %lldms",
			    r->method, path, r->status, r->error_code,
			    r->error, trace, r->duration_ms);
		} else {
			log_escape(who, sizeof(who), c, strlen(c));
			vlog_line(l, "%s %s -> ok clientId=%s%s %lldms",
			    r->method, path, who, trace, r->duration_ms);
		}
		return;
	}
	json_head(&j, line, sizeof(line), l);
	log_json_string(&j, "msg", "request", 7);
	json_opt_string(&j, "method", r->method);
	log_json_number(&j, "status", r->status);
	if (r->error_code != 0)
		log_json_number(&j, "error_code", r->error_code);
	json_opt_string(&j, "mode", r->mode);
	json_opt_string(&j, "identity_source", r->identity_source);
	if (r->rule_known && r->rule != NULL)
		log_json_string(&j, "rule", r->rule, strlen(r->rule));
	else if (r->rule_known)
		log_json_null(&j, "rule");
	if (r->ttl_ms > 0)
		log_json_number(&j, "ttl_ms", r->ttl_ms);
	if (r->upstream_host != NULL) {
		log_json_string(&j, "upstream_host", r->upstream_host,
		    strlen(r->upstream_host));
		log_json_number(&j, "upstream_tries", r->upstream_tries);
		log_json_number(&j, "upstream_ms", r->upstream_ms);
	}
	json_opt_string(&j, "trace_id", r->trace_id);
	log_json_number(&j, "duration_ms", r->duration_ms);
	/* The long ones last: a cut line keeps the fields above. */
	json_opt_string(&j, "path", r->path);
	json_opt_string(&j, "client_id", r->client_id);
	json_opt_string(&j, "error", r->error);
	emit(l, line, log_json_end(&j));
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
