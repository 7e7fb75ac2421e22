/* buf: a bounded growable byte buffer (after curl's dynbuf).
 *
 * The buffer owns its memory; buf_free() releases it (and wipes it, since
 * buffers carry signing input and MACs). The contents are always
 * NUL-terminated so they can be used as a C string. Appending past `max`
 * fails with TOK_ETOOBIG and leaves the contents as they were.
 */
#ifndef TOK_BUF_H
#define TOK_BUF_H

#include <stddef.h>

#include "error.h"

struct buf {
	char *data;
	size_t len;
	size_t cap;
	size_t max;
};

void buf_init(struct buf *b, size_t max);
void buf_free(struct buf *b);
void buf_reset(struct buf *b);  /* len = 0, memory kept */

enum tok_err buf_add(struct buf *b, const void *p, size_t n)
	__attribute__((warn_unused_result));
enum tok_err buf_adds(struct buf *b, const char *s)
	__attribute__((warn_unused_result));
/* v in decimal, as printf's %lld writes it (without printf's cost). */
enum tok_err buf_add_ll(struct buf *b, long long v)
	__attribute__((warn_unused_result));
enum tok_err buf_printf(struct buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3), warn_unused_result));

/* Hand the data to the caller (who frees it) and reset b. NULL if empty
 * and never allocated: callers get "" then via an allocation. */
char *buf_take(struct buf *b);

#endif
