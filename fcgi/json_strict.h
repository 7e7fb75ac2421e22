/* json_strict: the checks json-c does not make, run on JSON text from a
 * caller before json-c parses it.
 *
 * json-c (0.16) accepts single-quoted strings even in strict mode, turns a
 * lone UTF-16 surrogate escape into U+FFFD, and keeps the last of two equal
 * keys. Each would let a request mean something other than what it says
 * (a capability for a channel the caller never named, a ttl an
 * intermediary never saw), so such text is refused instead.
 */
#ifndef TOK_JSON_STRICT_H
#define TOK_JSON_STRICT_H

#include <stddef.h>

/* 0 if text[0..n) has no single-quoted string, no lone surrogate escape
 * and no name twice in any object (compared after unescaping); -1
 * otherwise, also for nesting deeper than 16. Does not check anything
 * json-c checks itself. */
int json_strict_check(const char *text, size_t n);

#endif
