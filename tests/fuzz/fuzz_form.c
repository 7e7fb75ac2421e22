/* fuzz_form: application/x-www-form-urlencoded decoding, against a
 * reference decoder written here from the spec (WHATWG URL "urlencoded
 * parsing", made strict the way request.h promises: a broken %-escape or a
 * decoded NUL is an error, never passed on).
 *
 * Input: the encoded text. Properties: req_form_decode() agrees with the
 * reference byte for byte (result and error), never writes more than n+1
 * bytes, and its output is NUL-terminated; the same text as a query string
 * parses without crashing.
 */
#include "fuzz.h"

#include <string.h>

#include "request.h"

static int
fform_hex(uint8_t c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c |= 0x20;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* -1 on error, else the decoded length. */
static long
fform_reference(const uint8_t *s, size_t n, uint8_t *out)
{
	size_t i, o = 0;

	for (i = 0; i < n; i++) {
		uint8_t c = s[i];

		if (c == '+') {
			c = ' ';
		} else if (c == '%') {
			int hi, lo;

			if (i + 2 >= n)  /* fewer than two bytes follow */
				return -1;
			hi = fform_hex(s[i + 1]);
			lo = fform_hex(s[i + 2]);
			if (hi < 0 || lo < 0)
				return -1;
			c = (uint8_t)(hi << 4 | lo);
			i += 2;
		}
		if (c == 0)
			return -1;
		out[o++] = c;
	}
	return (long)o;
}

struct fform_src {
	char *qs;
};

static const char *
fform_param(void *ctx, const char *name)
{
	struct fform_src *s = ctx;

	if (strcmp(name, "REQUEST_METHOD") == 0)
		return "GET";
	if (strcmp(name, "QUERY_STRING") == 0)
		return s->qs;
	return NULL;
}

static long
fform_read(void *ctx, char *buf, size_t n)
{
	(void)ctx;
	(void)buf;
	(void)n;
	return 0;
}

int FUZZ_ENTRY(const uint8_t *data, size_t size);

int
FUZZ_ENTRY(const uint8_t *data, size_t size)
{
	/* One guard byte past n+1 to catch a write beyond the promise. */
	uint8_t *got = malloc(size + 2), *want = malloc(size + 1);
	struct fform_src s;
	struct request r;
	struct tok_error e;
	long g, w;

	if (got == NULL || want == NULL)
		abort();
	got[size + 1] = 0xA5;
	g = req_form_decode((const char *)data, size, (char *)got);
	w = fform_reference(data, size, want);
	FUZZ_CHECK(got[size + 1] == 0xA5, "no write past n+1 bytes");
	FUZZ_CHECK((g < 0) == (w < 0), "same verdict as the reference");
	if (g >= 0) {
		FUZZ_CHECK(g == w, "same length as the reference");
		FUZZ_CHECK(memcmp(got, want, (size_t)g) == 0,
		    "same bytes as the reference");
		FUZZ_CHECK(got[g] == 0, "output is NUL-terminated");
		FUZZ_CHECK(memchr(got, 0, (size_t)g) == NULL, "no NUL inside");
	}
	free(got);
	free(want);

	/* The same text as a whole query string (a C string: up to a NUL). */
	s.qs = strndup((const char *)data, size);
	if (s.qs != NULL) {
		struct req_source src = { fform_param, fform_read, &s };

		if (req_parse(&r, &src, 8192, NULL, &e) == TOK_OK) {
			if (r.ttl.present)
				FUZZ_CHECK(r.ttl.text != NULL, "a present ttl has text");
			if (r.client_id.present)
				FUZZ_CHECK(r.client_id.text != NULL,
				    "a present clientId has text");
		}
		req_free(&r);
		free(s.qs);
	}
	return 0;
}
