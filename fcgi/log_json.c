/* log_json: a JSON object per log line in a fixed buffer (log_json.h). */
#include "log_json.h"

#include <stdio.h>
#include <string.h>

#define END_RESERVE 2  /* "}\n", always kept free */
#define CUT_MARK "..."

/* Bytes of the valid UTF-8 sequence starting at s[0] (n bytes left), or 0
 * if it is not one: the ranges of RFC 3629, so no overlong forms, no
 * surrogates and nothing past U+10FFFF. */
static size_t
utf8_sequence(const unsigned char *s, size_t n)
{
	unsigned char lo = 0x80, hi = 0xbf;
	size_t len, i;

	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		len = 2;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		len = 3;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		len = 4;
	else
		return 0;
	if (s[0] == 0xe0)
		lo = 0xa0;        /* overlong below U+0800 */
	else if (s[0] == 0xed)
		hi = 0x9f;        /* surrogates U+D800..U+DFFF */
	else if (s[0] == 0xf0)
		lo = 0x90;        /* overlong below U+10000 */
	else if (s[0] == 0xf4)
		hi = 0x8f;        /* past U+10FFFF */
	if (n < len || s[1] < lo || s[1] > hi)
		return 0;
	for (i = 2; i < len; i++)
		if (s[i] < 0x80 || s[i] > 0xbf)
			return 0;
	return len;
}

size_t
log_json_escape(char *dst, size_t dstlen, const char *src, size_t n,
                size_t *used)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *s = (const unsigned char *)src;
	size_t i = 0, o = 0;

	while (i < n) {
		char esc[8];
		const char *out = esc;
		size_t take = 1, outlen = 2;
		unsigned c = s[i];

		esc[0] = '\\';
		if (c == '"' || c == '\\') {
			esc[1] = (char)c;
		} else if (c == '\n' || c == '\r' || c == '\t') {
			esc[1] = c == '\n' ? 'n' : c == '\r' ? 'r' : 't';
		} else if (c < 0x20 || c == 0x7f) {
			(void)snprintf(esc, sizeof(esc), "\\u%04x", c);
			outlen = 6;
		} else if (c < 0x80) {
			out = (const char *)s + i;
			outlen = 1;
		} else if ((take = utf8_sequence(s + i, n - i)) == 0) {
			out = "\\ufffd";  /* one per byte that is no UTF-8 */
			take = 1;
			outlen = 6;
		} else if (take == 2 && c == 0xc2 && s[i + 1] < 0xa0) {
			/* C1 controls (U+0080..U+009F): terminals obey some. */
			esc[1] = 'u';
			esc[2] = '0';
			esc[3] = '0';
			esc[4] = hex[s[i + 1] >> 4];
			esc[5] = hex[s[i + 1] & 0xf];
			outlen = 6;
		} else {
			out = (const char *)s + i;
			outlen = take;
		}
		if (o + outlen > dstlen)
			break;
		memcpy(dst + o, out, outlen);
		o += outlen;
		i += take;
	}
	*used = i;
	return o;
}

void
log_json_begin(struct log_json *j, char *buf, size_t cap)
{
	j->buf = buf;
	j->cap = cap;
	j->len = 0;
	j->fields = 0;
	j->cut = 0;
	if (cap > END_RESERVE)
		buf[j->len++] = '{';
}

/* Room left for fields (what log_json_end needs is kept back). */
static size_t
room(const struct log_json *j)
{
	return j->cap >= j->len + END_RESERVE ? j->cap - j->len - END_RESERVE :
	    0;
}

/* Write `,"name":` if there is room for it and at least need more bytes;
 * 0 when the field had to be left out. */
static int
field_start(struct log_json *j, const char *name, size_t need)
{
	size_t nlen = strlen(name);
	size_t head = (j->fields ? 1 : 0) + nlen + 3;

	if (j->len == 0 || head + need > room(j)) {
		j->cut = 1;
		return 0;
	}
	if (j->fields)
		j->buf[j->len++] = ',';
	j->buf[j->len++] = '"';
	memcpy(j->buf + j->len, name, nlen);
	j->len += nlen;
	j->buf[j->len++] = '"';
	j->buf[j->len++] = ':';
	j->fields++;
	return 1;
}

void
log_json_string(struct log_json *j, const char *name, const char *s,
                size_t n)
{
	size_t limit, used, w;

	/* At least the quotes and the cut mark, so a cut value says so. */
	if (!field_start(j, name, 2 + sizeof(CUT_MARK) - 1))
		return;
	limit = room(j) - 2;  /* the quotes */
	if (limit > LOG_JSON_VALUE_MAX)
		limit = LOG_JSON_VALUE_MAX;
	j->buf[j->len++] = '"';
	w = log_json_escape(j->buf + j->len, limit, s, n, &used);
	if (used < n) {
		/* Again with room for the mark. */
		w = log_json_escape(j->buf + j->len,
		    limit - (sizeof(CUT_MARK) - 1), s, n, &used);
		memcpy(j->buf + j->len + w, CUT_MARK, sizeof(CUT_MARK) - 1);
		w += sizeof(CUT_MARK) - 1;
		j->cut = 1;
	}
	j->len += w;
	j->buf[j->len++] = '"';
}

void
log_json_number(struct log_json *j, const char *name, long long v)
{
	char num[24];
	int n = snprintf(num, sizeof(num), "%lld", v);

	if (n <= 0 || !field_start(j, name, (size_t)n))
		return;
	memcpy(j->buf + j->len, num, (size_t)n);
	j->len += (size_t)n;
}

void
log_json_null(struct log_json *j, const char *name)
{
	if (!field_start(j, name, 4))
		return;
	memcpy(j->buf + j->len, "null", 4);
	j->len += 4;
}

size_t
log_json_end(struct log_json *j)
{
	if (j->len == 0)
		return 0;  /* a buffer too small for any object */
	j->buf[j->len++] = '}';
	j->buf[j->len++] = '\n';
	return j->len;
}
