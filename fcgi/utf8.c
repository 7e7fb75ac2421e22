/* utf8: UTF-8 text checks and the UTF-16 order JavaScript sorts by (used
 * for clientIds, resource names and the canonical capability order). */
#include "utf8.h"

#include <stdint.h>

/* Decode one code point from valid UTF-8 at *p and advance. */
static uint32_t
utf8_decode(const unsigned char **p)
{
	const unsigned char *s = *p;
	uint32_t cp;

	if (s[0] < 0x80) {
		cp = s[0];
		*p += 1;
	} else if ((s[0] & 0xe0) == 0xc0) {
		cp = ((uint32_t)(s[0] & 0x1f) << 6) | (s[1] & 0x3f);
		*p += 2;
	} else if ((s[0] & 0xf0) == 0xe0) {
		cp = ((uint32_t)(s[0] & 0x0f) << 12) |
		    ((uint32_t)(s[1] & 0x3f) << 6) | (s[2] & 0x3f);
		*p += 3;
	} else {
		cp = ((uint32_t)(s[0] & 0x07) << 18) |
		    ((uint32_t)(s[1] & 0x3f) << 12) |
		    ((uint32_t)(s[2] & 0x3f) << 6) | (s[3] & 0x3f);
		*p += 4;
	}
	return cp;
}

/* Walks a UTF-8 string as UTF-16 code units. */
struct utf16_iter {
	const unsigned char *p;
	uint16_t low;  /* pending low surrogate, 0 if none */
};

/* Next code unit, or -1 at the end. */
static int32_t
utf16_next(struct utf16_iter *it)
{
	uint32_t cp;

	if (it->low != 0) {
		int32_t u = it->low;

		it->low = 0;
		return u;
	}
	if (*it->p == '\0')
		return -1;
	cp = utf8_decode(&it->p);
	if (cp < 0x10000)
		return (int32_t)cp;
	cp -= 0x10000;
	it->low = (uint16_t)(0xdc00 | (cp & 0x3ff));
	return (int32_t)(0xd800 | (cp >> 10));
}

int
utf8_utf16_cmp(const char *a, const char *b)
{
	struct utf16_iter ia = { (const unsigned char *)a, 0 };
	struct utf16_iter ib = { (const unsigned char *)b, 0 };

	for (;;) {
		int32_t ua = utf16_next(&ia), ub = utf16_next(&ib);

		if (ua != ub)
			return ua < ub ? -1 : 1;
		if (ua == -1)
			return 0;
	}
}

int
utf8_text_ok(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;

	while (i < n) {
		unsigned char c = p[i];
		size_t len, k;
		uint32_t cp;

		if (c < 0x80) {
			if ((c < 0x20 && c != '\t') || c == 0x7f)
				return 0;
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			len = 2;
			cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			len = 3;
			cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			len = 4;
			cp = c & 0x07;
		} else {
			return 0;
		}
		if (n - i < len)
			return 0;
		for (k = 1; k < len; k++) {
			if ((p[i + k] & 0xc0) != 0x80)
				return 0;
			cp = (cp << 6) | (p[i + k] & 0x3f);
		}
		/* Overlong forms, surrogates and values past U+10FFFF. */
		if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
		    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
			return 0;
		i += len;
	}
	return 1;
}
