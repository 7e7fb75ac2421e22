/* fcgi_frame: framing FastCGI records (FastCGI 1.0 specification, §3). */
#include "fcgi_frame.h"

#include <string.h>

#define HEADER_LEN 8
#define VERSION_1 1
#define TYPE_BEGIN_REQUEST 1
#define TYPE_END_REQUEST 3
#define TYPE_PARAMS 4
#define TYPE_STDIN 5
#define TYPE_STDOUT 6
#define TYPE_GET_VALUES 9
#define BEGIN_BODY_LEN 8

enum stage { WANT_BEGIN, IN_PARAMS, IN_STDIN };

static enum fcgi_frame_result
bad(struct fcgi_frame *out, const char *why)
{
	out->why = why;
	return FCGI_FRAME_BAD;
}

enum fcgi_frame_result
fcgi_frame_scan(const unsigned char *p, size_t n,
                const struct fcgi_frame_limits *lim, struct fcgi_frame *out)
{
	enum stage stage = WANT_BEGIN;
	size_t off = 0, params = 0, body = 0;
	/* A request bigger than this is over one limit or the other. */
	size_t total_max = lim->params_max + lim->body_max + FCGI_FRAME_SLACK;

	memset(out, 0, sizeof(*out));
	for (;;) {
		unsigned type, id;
		size_t clen, plen, end;

		if (off + HEADER_LEN > n) {
			out->need = off + HEADER_LEN;
			return FCGI_FRAME_MORE;
		}
		if (p[off] != VERSION_1)
			return bad(out, "not FastCGI version 1");
		type = p[off + 1];
		id = (unsigned)p[off + 2] << 8 | p[off + 3];
		clen = (size_t)p[off + 4] << 8 | p[off + 5];
		plen = p[off + 6];
		end = off + HEADER_LEN + clen + plen;
		/* Checked before the record is complete, so that a peer
		 * announcing more than the limits allow is told at once. */
		if (stage == IN_PARAMS && (params + clen > lim->params_max ||
		    end > total_max))
			return FCGI_FRAME_PARAMS_TOO_BIG;
		if (stage == IN_STDIN && (body + clen > lim->body_max ||
		    end > total_max)) {
			out->length = off;
			return FCGI_FRAME_BODY_TOO_BIG;
		}
		if (end > total_max)
			return bad(out, "records too large");
		if (end > n) {
			out->need = end;
			return FCGI_FRAME_MORE;
		}
		if (id == 0) {
			/* A management record: libfcgi answers GET_VALUES
			 * itself; only before a request starts. */
			if (type != TYPE_GET_VALUES || stage != WANT_BEGIN)
				return bad(out, "unexpected management record");
			off = end;
			continue;
		}
		switch (stage) {
		case WANT_BEGIN:
			if (type != TYPE_BEGIN_REQUEST || clen != BEGIN_BODY_LEN)
				return bad(out, "a request must start with "
				    "BEGIN_REQUEST");
			out->request_id = id;
			stage = IN_PARAMS;
			break;
		case IN_PARAMS:
			if (id != out->request_id)
				return bad(out, "multiplexed requests");
			if (type != TYPE_PARAMS)
				return bad(out, "expected PARAMS");
			if (clen == 0)
				stage = IN_STDIN;
			params += clen;
			break;
		case IN_STDIN:
			if (id != out->request_id)
				return bad(out, "multiplexed requests");
			if (type != TYPE_STDIN)
				return bad(out, "expected STDIN");
			body += clen;
			if (clen == 0) {
				out->length = end;
				return FCGI_FRAME_REQUEST;
			}
			break;
		}
		off = end;
	}
}

static void
put_header(unsigned char *h, unsigned type, unsigned id, size_t clen)
{
	h[0] = VERSION_1;
	h[1] = (unsigned char)type;
	h[2] = (unsigned char)(id >> 8);
	h[3] = (unsigned char)id;
	h[4] = (unsigned char)(clen >> 8);
	h[5] = (unsigned char)clen;
	h[6] = 0;
	h[7] = 0;
}

#define RECORD_MAX 65535

size_t
fcgi_frame_answer_len(size_t response_len)
{
	size_t records = (response_len + RECORD_MAX - 1) / RECORD_MAX;

	return records * HEADER_LEN + response_len + 2 * HEADER_LEN +
	    BEGIN_BODY_LEN;
}

size_t
fcgi_frame_answer(unsigned char *dst, size_t len, unsigned request_id,
                  const char *response, size_t response_len)
{
	size_t o = 0, off = 0;

	if (fcgi_frame_answer_len(response_len) > len)
		return 0;
	while (off < response_len) {
		size_t part = response_len - off;

		if (part > RECORD_MAX)
			part = RECORD_MAX;
		put_header(dst + o, TYPE_STDOUT, request_id, part);
		o += HEADER_LEN;
		memcpy(dst + o, response + off, part);
		o += part;
		off += part;
	}
	put_header(dst + o, TYPE_STDOUT, request_id, 0);
	o += HEADER_LEN;
	put_header(dst + o, TYPE_END_REQUEST, request_id, BEGIN_BODY_LEN);
	o += HEADER_LEN;
	/* appStatus 0, protocolStatus FCGI_REQUEST_COMPLETE, reserved. */
	memset(dst + o, 0, BEGIN_BODY_LEN);
	return o + BEGIN_BODY_LEN;
}
