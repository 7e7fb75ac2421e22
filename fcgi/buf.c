/* buf: bounded growable buffer. */
#include "buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"

void
buf_init(struct buf *b, size_t max)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	b->max = max;
}

void
buf_free(struct buf *b)
{
	if (b->data != NULL) {
		crypto_wipe(b->data, b->cap);
		free(b->data);
	}
	b->data = NULL;
	b->len = b->cap = 0;
}

void
buf_reset(struct buf *b)
{
	b->len = 0;
	if (b->data != NULL)
		b->data[0] = '\0';
}

/* Make room for n more bytes plus the terminating NUL. */
static enum tok_err
buf_reserve(struct buf *b, size_t n)
{
	size_t need, ncap;
	char *p;

	if (n > b->max || b->len > b->max - n)
		return TOK_ETOOBIG;
	need = b->len + n + 1;
	if (need <= b->cap)
		return TOK_OK;
	ncap = b->cap ? b->cap : 256;
	while (ncap < need)
		ncap *= 2;
	/* Grow by copying so the old block can be wiped: it may hold secrets. */
	p = malloc(ncap);
	if (p == NULL)
		return TOK_ENOMEM;
	if (b->data != NULL) {
		memcpy(p, b->data, b->len);
		crypto_wipe(b->data, b->cap);
		free(b->data);
	}
	b->data = p;
	b->cap = ncap;
	return TOK_OK;
}

enum tok_err
buf_add(struct buf *b, const void *p, size_t n)
{
	enum tok_err rc = buf_reserve(b, n);

	if (rc != TOK_OK)
		return rc;
	if (n > 0)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return TOK_OK;
}

enum tok_err
buf_adds(struct buf *b, const char *s)
{
	return buf_add(b, s, strlen(s));
}

enum tok_err
buf_printf(struct buf *b, const char *fmt, ...)
{
	size_t room = b->cap > b->len ? b->cap - b->len : 0;
	va_list ap;
	int n;
	enum tok_err rc;

	/* Format straight into the free space; a second pass only when it
	 * does not fit (formatting is most of what this costs). */
	va_start(ap, fmt);
	n = vsnprintf(room > 0 ? b->data + b->len : NULL, room, fmt, ap);
	va_end(ap);
	if (n >= 0 && (size_t)n < room && (size_t)n <= b->max &&
	    b->len <= b->max - (size_t)n) {
		b->len += (size_t)n;
		return TOK_OK;
	}
	if (room > 0)
		b->data[b->len] = '\0';  /* undo a partial or refused write */
	if (n < 0)
		return TOK_EINTERNAL;
	rc = buf_reserve(b, (size_t)n);
	if (rc != TOK_OK)
		return rc;
	va_start(ap, fmt);
	(void)vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
	return TOK_OK;
}

enum tok_err
buf_add_ll(struct buf *b, long long v)
{
	char digits[24], *p = digits + sizeof(digits);
	/* Negate in unsigned arithmetic: -LLONG_MIN overflows a long long. */
	unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v :
	    (unsigned long long)v;

	do {
		*--p = (char)('0' + u % 10);
		u /= 10;
	} while (u != 0);
	if (v < 0)
		*--p = '-';
	return buf_add(b, p, (size_t)(digits + sizeof(digits) - p));
}

char *
buf_take(struct buf *b)
{
	char *p;

	if (b->data == NULL) {
		p = calloc(1, 1);
		return p;
	}
	p = b->data;
	b->data = NULL;
	b->len = b->cap = 0;
	return p;
}
