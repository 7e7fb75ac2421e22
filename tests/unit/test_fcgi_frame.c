/* Unit tests: fcgi_frame (where a FastCGI request ends, found without
 * consuming it, and the answer written without libfcgi). Requests are
 * built record by record here, the way nginx and Apache send them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "fcgi_frame.h"
#include "unit.h"

#define BEGIN 1
#define END 3
#define PARAMS 4
#define STDIN 5
#define STDOUT 6
#define GET_VALUES 9

static const struct fcgi_frame_limits limits = { 1024, 256 };

/* A byte string under construction. */
struct bytes {
	unsigned char b[16384];
	size_t n;
};

static void
rec(struct bytes *x, unsigned type, unsigned id, size_t clen, unsigned plen)
{
	unsigned char *h = x->b + x->n;

	assert_true(x->n + 8 + clen + plen <= sizeof(x->b));
	h[0] = 1;
	h[1] = (unsigned char)type;
	h[2] = (unsigned char)(id >> 8);
	h[3] = (unsigned char)id;
	h[4] = (unsigned char)(clen >> 8);
	h[5] = (unsigned char)clen;
	h[6] = (unsigned char)plen;
	h[7] = 0;
	memset(h + 8, 'p', clen + plen);
	if (type == BEGIN && clen == 8) {
		memset(h + 8, 0, 8);
		h[9] = 1;  /* RESPONDER */
		h[10] = 1; /* KEEP_CONN */
	}
	x->n += 8 + clen + plen;
}

/* BEGIN, one PARAMS record of `params` bytes, the empty one, a body of
 * `body` bytes in one record (none if 0), the empty STDIN. */
static void
request(struct bytes *x, unsigned id, size_t params, size_t body)
{
	rec(x, BEGIN, id, 8, 0);
	rec(x, PARAMS, id, params, 0);
	rec(x, PARAMS, id, 0, 0);
	if (body > 0)
		rec(x, STDIN, id, body, 3);
	rec(x, STDIN, id, 0, 0);
}

static enum fcgi_frame_result
scan(const struct bytes *x, size_t n, struct fcgi_frame *f)
{
	return fcgi_frame_scan(x->b, n, &limits, f);
}

static void
test_whole_request_found_with_its_length(void **state)
{
	struct bytes x = { .n = 0 };
	struct fcgi_frame f;

	(void)state;
	request(&x, 1, 300, 40);
	assert_int_equal(scan(&x, x.n, &f), FCGI_FRAME_REQUEST);
	assert_int_equal(f.length, x.n);
	assert_int_equal(f.request_id, 1);
	/* What follows (the peer's next request) is not part of it. */
	request(&x, 1, 10, 0);
	assert_int_equal(scan(&x, x.n, &f), FCGI_FRAME_REQUEST);
	assert_int_not_equal(f.length, x.n);
}

/* Every prefix of a request is MORE, and `need` never asks for fewer
 * bytes than are there, nor more than the request holds. */
static void
test_every_prefix_asks_for_more(void **state)
{
	struct bytes x = { .n = 0 };
	struct fcgi_frame f;
	size_t n;

	(void)state;
	rec(&x, GET_VALUES, 0, 5, 0);  /* a management record may lead */
	request(&x, 7, 100, 20);
	for (n = 0; n < x.n; n++) {
		assert_int_equal(scan(&x, n, &f), FCGI_FRAME_MORE);
		assert_true(f.need > n);
		assert_true(f.need <= x.n);
	}
	assert_int_equal(scan(&x, x.n, &f), FCGI_FRAME_REQUEST);
	assert_int_equal(f.request_id, 7);
}

static void
test_parameters_over_the_limit_are_told_from_the_header(void **state)
{
	struct bytes x = { .n = 0 };
	struct fcgi_frame f;

	(void)state;
	rec(&x, BEGIN, 3, 8, 0);
	rec(&x, PARAMS, 3, 600, 0);
	rec(&x, PARAMS, 3, 600, 0);
	/* Known as soon as the second header is there, before its bytes. */
	assert_int_equal(scan(&x, 16 + 8 + 600 + 8, &f), FCGI_FRAME_PARAMS_TOO_BIG);
	assert_int_equal(f.request_id, 3);
	/* At the limit exactly is fine. */
	x.n = 0;
	rec(&x, BEGIN, 3, 8, 0);
	rec(&x, PARAMS, 3, 1024, 0);
	rec(&x, PARAMS, 3, 0, 0);
	rec(&x, STDIN, 3, 0, 0);
	assert_int_equal(scan(&x, x.n, &f), FCGI_FRAME_REQUEST);
}

static void
test_body_over_the_limit_once_parameters_are_whole(void **state)
{
	struct bytes x = { .n = 0 };
	struct fcgi_frame f;
	size_t params_end;

	(void)state;
	rec(&x, BEGIN, 1, 8, 0);
	rec(&x, PARAMS, 1, 50, 0);
	rec(&x, PARAMS, 1, 0, 0);
	params_end = x.n;
	rec(&x, STDIN, 1, 200, 0);
	rec(&x, STDIN, 1, 57, 0);
	assert_int_equal(scan(&x, params_end + 8, &f), FCGI_FRAME_MORE);
	assert_int_equal(scan(&x, x.n, &f), FCGI_FRAME_BODY_TOO_BIG);
	assert_int_equal(f.length, params_end + 8 + 200);
	/* 256 exactly is allowed. */
	x.n = 0;
	request(&x, 1, 50, 256);
	assert_int_equal(scan(&x, x.n, &f), FCGI_FRAME_REQUEST);
}

static void
test_what_is_not_a_request_is_bad(void **state)
{
	/* Record sequences that are no request (at most three records). */
	static const struct {
		const char *what;
		struct { unsigned type, id; size_t clen; } recs[3];
	} bad[] = {
		{ "PARAMS before BEGIN_REQUEST", { { PARAMS, 1, 4 } } },
		{ "a BEGIN_REQUEST of the wrong length", { { BEGIN, 1, 4 } } },
		{ "a second request interleaved (multiplexing)",
		  { { BEGIN, 1, 8 }, { PARAMS, 2, 4 } } },
		{ "STDIN before the parameters ended",
		  { { BEGIN, 1, 8 }, { PARAMS, 1, 4 }, { STDIN, 1, 0 } } },
		{ "a management record in the middle of a request",
		  { { BEGIN, 1, 8 }, { GET_VALUES, 0, 0 } } },
		{ "a record from the wrong side (STDOUT)",
		  { { BEGIN, 1, 8 }, { STDOUT, 1, 0 } } },
	};
	struct bytes x;
	struct fcgi_frame f;
	size_t i, k;

	(void)state;
	/* HTTP sent to the FastCGI socket. */
	memcpy(x.b, "GET / HTTP/1.1\r\n\r\n", 18);
	assert_int_equal(scan(&x, 18, &f), FCGI_FRAME_BAD);
	assert_non_null(f.why);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		x.n = 0;
		for (k = 0; k < 3 && bad[i].recs[k].type != 0; k++)
			rec(&x, bad[i].recs[k].type, bad[i].recs[k].id,
			    bad[i].recs[k].clen, 0);
		if (scan(&x, x.n, &f) != FCGI_FRAME_BAD)
			fail_msg("%s: not FCGI_FRAME_BAD", bad[i].what);
	}
}

/* Many tiny records cannot make a request larger than the limits allow:
 * headers and padding count too. */
static void
test_record_overhead_is_bounded(void **state)
{
	static struct bytes x;
	struct fcgi_frame f;
	enum fcgi_frame_result r = FCGI_FRAME_MORE;
	size_t bound = limits.params_max + limits.body_max + FCGI_FRAME_SLACK;

	(void)state;
	x.n = 0;
	rec(&x, BEGIN, 1, 8, 0);
	while (r == FCGI_FRAME_MORE && x.n + 264 <= sizeof(x.b)) {
		rec(&x, PARAMS, 1, 1, 255);  /* 1 byte of content, 263 in all */
		r = scan(&x, x.n, &f);
	}
	assert_int_equal(r, FCGI_FRAME_PARAMS_TOO_BIG);
	assert_true(x.n <= bound + 264);
}

static void
test_answer_records(void **state)
{
	unsigned char out[256];
	const char resp[] = "Status: 431 Too Large\r\n\r\n{}";
	size_t n = fcgi_frame_answer(out, sizeof(out), 0x0102, resp,
	    sizeof(resp) - 1);

	(void)state;
	assert_int_equal(n, 8 + (sizeof(resp) - 1) + 8 + 16);
	assert_int_equal(out[0], 1);
	assert_int_equal(out[1], STDOUT);
	assert_int_equal(out[2], 1);
	assert_int_equal(out[3], 2);
	assert_int_equal(out[4] << 8 | out[5], sizeof(resp) - 1);
	assert_memory_equal(out + 8, resp, sizeof(resp) - 1);
	assert_int_equal(out[8 + sizeof(resp) - 1 + 1], STDOUT);
	assert_int_equal(out[8 + sizeof(resp) - 1 + 5], 0);  /* empty */
	assert_int_equal(out[8 + sizeof(resp) - 1 + 8 + 1], END);
	/* Too small a buffer: nothing. */
	assert_int_equal(fcgi_frame_answer(out, 20, 1, resp, sizeof(resp) - 1), 0);
}

/* An answer over 65535 bytes goes out in several STDOUT records that
 * put it back together exactly. */
static void
test_long_answer_split_into_records(void **state)
{
	static char resp[150000];
	static unsigned char out[160000];
	size_t n, off = 0, got = 0, i;
	unsigned types[8], nrec = 0;

	(void)state;
	for (i = 0; i < sizeof(resp); i++)
		resp[i] = (char)('a' + i % 26);
	n = fcgi_frame_answer(out, sizeof(out), 9, resp, sizeof(resp));
	assert_int_equal(n, fcgi_frame_answer_len(sizeof(resp)));
	while (off < n && nrec < 8) {
		size_t clen = (size_t)out[off + 4] << 8 | out[off + 5];

		types[nrec++] = out[off + 1];
		assert_int_equal(out[off + 2] << 8 | out[off + 3], 9);
		if (out[off + 1] == STDOUT && clen > 0) {
			assert_memory_equal(out + off + 8, resp + got, clen);
			got += clen;
		}
		off += 8 + clen + out[off + 6];
	}
	assert_int_equal(off, n);
	assert_int_equal(got, sizeof(resp));
	assert_int_equal(nrec, 5);  /* 65535 + 65535 + 18930, empty, END */
	assert_int_equal(types[3], STDOUT);
	assert_int_equal(types[4], END);
	/* One byte short of room: nothing written. */
	assert_int_equal(fcgi_frame_answer(out, n - 1, 9, resp, sizeof(resp)), 0);
}

UNIT_MAIN("fcgi_frame",
    cmocka_unit_test(test_whole_request_found_with_its_length),
    cmocka_unit_test(test_every_prefix_asks_for_more),
    cmocka_unit_test(test_parameters_over_the_limit_are_told_from_the_header),
    cmocka_unit_test(test_body_over_the_limit_once_parameters_are_whole),
    cmocka_unit_test(test_what_is_not_a_request_is_bad),
    cmocka_unit_test(test_record_overhead_is_bounded),
    cmocka_unit_test(test_answer_records),
    cmocka_unit_test(test_long_answer_split_into_records))
