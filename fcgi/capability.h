/* capability: Ably capabilities, parsed, checked and printed canonically.
 *
 * A capability maps resource names to lists of operations. The canonical
 * text is what ably-js signs (ABLY-TOKENS.md §4): resources and operations
 * sorted by UTF-16 code units, JSON.stringify escaping ('/' not escaped),
 * no whitespace, duplicates kept. Pure functions, no I/O.
 */
#ifndef TOK_CAPABILITY_H
#define TOK_CAPABILITY_H

#include <stddef.h>

#include "error.h"

struct json_object;

struct cap_entry {
	char *resource;
	char **ops;
	size_t nops;
};

struct capability {
	struct cap_entry *entries;  /* sorted by resource */
	size_t n;
};

/* Validation level for parsing. */
enum cap_check {
	CAP_LAX,     /* what ably-js accepts: any strings, {} and [] allowed */
	CAP_STRICT,  /* what we sign for callers: known operations, no empty
	              * lists, at least one resource, valid UTF-8 */
};

/* Parse capability JSON text of length len. On success *out is a new
 * capability the caller frees with cap_free(). Errors are TOK_EINVAL with a
 * client-safe message. */
enum tok_err cap_parse(const char *text, size_t len, enum cap_check check,
                       struct capability **out, struct tok_error *e)
	__attribute__((warn_unused_result));

/* The same from an already parsed json-c value (borrowed). */
enum tok_err cap_from_json(struct json_object *obj, enum cap_check check,
                           struct capability **out, struct tok_error *e)
	__attribute__((warn_unused_result));

/* Canonical JSON text; caller frees. NULL on allocation failure. */
char *cap_to_string(const struct capability *cap);

void cap_free(struct capability *cap);

/* 1 if op is one of Ably's documented operations (or "*"). */
int cap_is_operation(const char *op);

/* 1 if every channel the resource pattern `requested` can name is also named
 * by the pattern `allowed` (Ably's wildcard rules, ABLY-TOKENS.md §4). */
int cap_resource_covers(const char *allowed, const char *requested);

/* 1 if every (resource, operation) in `requested` is allowed by `allowed`. */
int cap_allows(const struct capability *allowed,
               const struct capability *requested);

/* Compare two valid UTF-8 strings by UTF-16 code units, as JS sort does. */
int cap_utf16_cmp(const char *a, const char *b);

/* 1 if s[0..n) is valid UTF-8 with no NUL and no C0 controls other than
 * tab (used for clientIds and resource names). */
int cap_text_ok(const char *s, size_t n);

#endif
