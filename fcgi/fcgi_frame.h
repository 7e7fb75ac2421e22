/* fcgi_frame: find where a FastCGI request ends, without consuming it.
 *
 * The worker peeks at a connection's bytes (recv with MSG_PEEK) and asks
 * this module whether a whole request is there: BEGIN_REQUEST, its PARAMS
 * up to the empty record, its STDIN up to the empty record. Only then is
 * the connection handed to libfcgi, whose reads then never wait, so a slow
 * or silent peer costs a connection slot, never the event loop. Pure: no
 * I/O, no allocation, so it is unit-tested and fuzzed alone.
 *
 * Also writes answers as FastCGI records: libfcgi reads each request, and
 * its buffers go as soon as the request is read, so that a request waiting
 * on Ably holds none of them; the answer is written from here.
 */
#ifndef TOK_FCGI_FRAME_H
#define TOK_FCGI_FRAME_H

#include <stddef.h>

/* Most bytes of name-value pairs a request may carry: nginx and Apache send
 * a few KiB; anything near this is not a web server's request. */
#define FCGI_FRAME_PARAMS_MAX (64 * 1024)
/* Bytes of record headers and padding allowed on top of the contents. */
#define FCGI_FRAME_SLACK (8 * 1024)

enum fcgi_frame_result {
	FCGI_FRAME_MORE,          /* not all there yet: wait for `need` bytes */
	FCGI_FRAME_REQUEST,       /* a whole request in the first `length` bytes */
	FCGI_FRAME_BODY_TOO_BIG,  /* parameters whole, body over body_max */
	FCGI_FRAME_PARAMS_TOO_BIG,/* parameters over params_max */
	FCGI_FRAME_BAD,           /* not a FastCGI request we serve */
	FCGI_FRAME__MAX
};

struct fcgi_frame_limits {
	size_t params_max;  /* bytes of PARAMS content */
	size_t body_max;    /* bytes of STDIN content */
};

struct fcgi_frame {
	size_t need;          /* MORE: bytes needed before anything more is known */
	size_t length;        /* REQUEST: bytes of the request (what follows is
	                         the peer's next request) */
	unsigned request_id;  /* 0 until BEGIN_REQUEST was seen */
	const char *why;      /* BAD: a short reason for the log */
};

/* Look at the first n bytes a connection holds. */
enum fcgi_frame_result fcgi_frame_scan(const unsigned char *p, size_t n,
                                       const struct fcgi_frame_limits *lim,
                                       struct fcgi_frame *out);

/* Bytes fcgi_frame_answer writes for a response of response_len bytes. */
size_t fcgi_frame_answer_len(size_t response_len);

/* Write into dst (size len) a complete FastCGI answer for request_id:
 * `response` (CGI headers and body) in STDOUT records of at most 65535
 * bytes, the empty STDOUT record and END_REQUEST. Returns its length, or 0
 * if it does not fit. */
size_t fcgi_frame_answer(unsigned char *dst, size_t len, unsigned request_id,
                         const char *response, size_t response_len);

#endif
