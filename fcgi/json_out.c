/* json_out: JSON text without a document tree. */
#include "json_out.h"

enum tok_err
json_out_string(struct buf *b, const char *s, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	size_t i, run = 0;
	enum tok_err rc = buf_add(b, "\"", 1);

	/* Copy runs of plain bytes at once; escape the rest one by one. */
	for (i = 0; rc == TOK_OK && i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		char esc[6] = { '\\', 0, 0, 0, 0, 0 };
		size_t n = 2;

		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		switch (c) {
		case '"': esc[1] = '"'; break;
		case '\\': esc[1] = '\\'; break;
		case '\b': esc[1] = 'b'; break;
		case '\f': esc[1] = 'f'; break;
		case '\n': esc[1] = 'n'; break;
		case '\r': esc[1] = 'r'; break;
		case '\t': esc[1] = 't'; break;
		default:
			esc[1] = 'u';
			esc[2] = '0';
			esc[3] = '0';
			esc[4] = hex[c >> 4];
			esc[5] = hex[c & 0x0f];
			n = 6;
		}
		rc = buf_add(b, s + run, i - run);
		if (rc == TOK_OK)
			rc = buf_add(b, esc, n);
		run = i + 1;
	}
	if (rc == TOK_OK)
		rc = buf_add(b, s + run, len - run);
	if (rc == TOK_OK)
		rc = buf_add(b, "\"", 1);
	return rc;
}
