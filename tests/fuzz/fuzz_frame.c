/* fuzz_frame: finding where a FastCGI request ends (fcgi_frame_scan).
 *
 * Input: two bytes that pick the limits, then the bytes a connection
 * holds. Properties: the scan never reads past n (ASan); MORE asks for more
 * than is there but no more than the limits allow; a REQUEST of length L is
 * found again, with the same L, in exactly its first L bytes, and L - 1 of
 * them are MORE; BAD always says why; an answer written for any request id
 * and text scans as records of the right lengths.
 */
#include "fuzz.h"

#include <string.h>

#include "fcgi_frame.h"

int FUZZ_ENTRY(const uint8_t *data, size_t size);

int
FUZZ_ENTRY(const uint8_t *data, size_t size)
{
	struct fcgi_frame_limits lim;
	struct fcgi_frame f, g;
	enum fcgi_frame_result r;
	unsigned char answer[512];
	size_t n, bound;

	if (size < 2)
		return 0;
	lim.params_max = (size_t)data[0] * 64;
	lim.body_max = (size_t)data[1] * 64;
	bound = lim.params_max + lim.body_max + FCGI_FRAME_SLACK;
	data += 2;
	size -= 2;
	r = fcgi_frame_scan(data, size, &lim, &f);
	switch (r) {
	case FCGI_FRAME_MORE:
		FUZZ_CHECK(f.need > size, "MORE asks for bytes that are there");
		FUZZ_CHECK(f.need <= bound, "MORE asks for more than the limits");
		break;
	case FCGI_FRAME_REQUEST:
		FUZZ_CHECK(f.length > 0 && f.length <= size, "request length");
		FUZZ_CHECK(fcgi_frame_scan(data, f.length, &lim, &g) ==
		    FCGI_FRAME_REQUEST && g.length == f.length,
		    "the request alone is not the same request");
		FUZZ_CHECK(fcgi_frame_scan(data, f.length - 1, &lim, &g) ==
		    FCGI_FRAME_MORE, "a request one byte short is not MORE");
		break;
	case FCGI_FRAME_BODY_TOO_BIG:
		FUZZ_CHECK(f.length <= size, "body-too-big offset");
		break;
	case FCGI_FRAME_BAD:
		FUZZ_CHECK(f.why != NULL, "BAD without a reason");
		break;
	default:
		break;
	}
	/* The answer writer: STDOUT records holding the text (none for an
	 * empty one), the empty STDOUT record, END_REQUEST. */
	{
		size_t len = size < 400 ? size : 400;

		n = fcgi_frame_answer(answer, sizeof(answer), f.request_id,
		    (const char *)data, len);
		FUZZ_CHECK(n == fcgi_frame_answer_len(len), "answer length");
		FUZZ_CHECK(n == (len > 0 ? 8 : 0) + len + 8 + 16,
		    "answer records");
		if (len > 0) {
			size_t clen = (size_t)answer[4] << 8 | answer[5];

			FUZZ_CHECK(answer[0] == 1 && answer[1] == 6,
			    "first record");
			FUZZ_CHECK(clen == len, "content length");
		}
		FUZZ_CHECK(answer[n - 24 + 1] == 6 && answer[n - 24 + 5] == 0 &&
		    answer[n - 16 + 1] == 3, "closing records");
	}
	return 0;
}
