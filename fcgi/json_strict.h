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

struct json_object;

/* Why json_strict_parse refused a text. */
enum json_strict_rc {
	JSON_STRICT_OK = 0,
	JSON_STRICT_NUL,    /* a "\u0000": json-c names are C strings, so one
	                     * would silently cut a name short */
	JSON_STRICT_LOOSE,  /* json_strict_check failed */
	JSON_STRICT_BAD,    /* json-c refused it, it is too deep, or bytes
	                     * follow the value */
	JSON_STRICT_NOMEM,
};

/* Parse text[0..n) as exactly one JSON value, nested at most depth deep,
 * after the checks above; json-c in strict mode with UTF-8 validation.
 * On JSON_STRICT_OK *out is the value, which the caller json_object_put()s;
 * otherwise *out is NULL. */
enum json_strict_rc json_strict_parse(const char *text, size_t n, int depth,
                                      struct json_object **out);

#endif
