/* trace: what ties a request to the world outside this program: the web
 * server's request id (nginx's $request_id, Apache's UNIQUE_ID) and the
 * caller's W3C Trace Context `traceparent` header.
 *
 * Pure checks on caller-owned strings; nothing is allocated. A value that
 * fails a check is simply not used: it is no error for the caller.
 */
#ifndef TOK_TRACE_H
#define TOK_TRACE_H

#include <stddef.h>

/* The longest request id taken from the web server (nginx's is 32 hex
 * digits, Apache's UNIQUE_ID 24 to 27 characters, a UUID 36). */
#define TRACE_REQUEST_ID_MAX 64

/* 1 if s may serve as the request id: 1 to TRACE_REQUEST_ID_MAX
 * characters, each printable ASCII other than space (0x21..0x7e); else 0.
 * NULL is 0. */
int trace_request_id_ok(const char *s);

/* A valid traceparent, taken apart (each field NUL-terminated, lowercase
 * hex) and put together again as the version-00 header to pass on. */
struct traceparent {
	char trace_id[33];   /* 32 hex digits, not all zero */
	char parent_id[17];  /* 16 hex digits, not all zero */
	char flags[3];       /* 2 hex digits */
	char header[56];     /* "00-<trace_id>-<parent_id>-<flags>" */
};

/* Parse s as W3C Trace Context's traceparent: version 00 exactly
 * "00-<32 hex>-<16 hex>-<2 hex>"; a later version (01..fe) by its first
 * four fields, followed by the end or '-'. Lowercase hex only; the
 * version ff and all-zero ids are invalid. 0 with *out filled, or -1 (and
 * *out emptied). NULL is -1. */
int trace_parse_traceparent(const char *s, struct traceparent *out);

#endif
