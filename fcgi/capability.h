/* capability: Ably capabilities, parsed, checked and printed canonically.
 *
 * A capability maps resource names to lists of operations. The canonical
 * text is what ably-js signs: resources and operations
 * sorted by UTF-16 code units, JSON.stringify escaping ('/' not escaped),
 * no whitespace, duplicates kept. Pure functions, no I/O.
 *
 * One header for three files: capability.c (parse, print, covers),
 * cap_intersect.c (intersection) and cap_template.c ({clientId} templates).
 */
#ifndef TOK_CAPABILITY_H
#define TOK_CAPABILITY_H

#include <stddef.h>

#include "error.h"
#include "utf8.h"

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
 * by the pattern `allowed` (Ably's wildcard rules). */
int cap_resource_covers(const char *allowed, const char *requested);

/* 1 if every (resource, operation) in `requested` is allowed by `allowed`. */
int cap_allows(const struct capability *allowed,
               const struct capability *requested);

/* The intersection of two capabilities: every (resource, operation) that
 * both allow, with Ably's wildcard rules for resource names (`*` segments,
 * a trailing `*`, `[qualifier]`, `[*]`, `[*]*`) and operations (`*`). The
 * result never holds anything one of them does not allow; for plain
 * channel names nothing that both allow is lost. Entries another entry
 * already covers are left out. *out is new (it may have n == 0: nothing in
 * common); the caller frees it with cap_free(). Operations must be known
 * ones (TOK_EINVAL otherwise, as CAP_STRICT parsing guarantees). */
enum tok_err cap_intersect(const struct capability *a,
                           const struct capability *b,
                           struct capability **out, struct tok_error *e)
	__attribute__((warn_unused_result));

/* The intersection of two resource patterns as one pattern, or NULL when
 * no name matches both (or memory ran out: *nomem is then set). Caller
 * frees. */
char *cap_resource_intersect(const char *a, const char *b, int *nomem);

/* Templates: resource names (and JWT claim names) in the configuration may
 * hold the placeholder {clientId}, filled with the caller's identity. */
#define CAP_PLACEHOLDER "{clientId}"

/* 1 if s holds the placeholder. */
int cap_is_template(const char *s);

/* 1 if s uses '{' and '}' only as part of the placeholder (anything else,
 * such as {clientID} or a lone brace, is a configuration mistake). */
int cap_template_ok(const char *s);

/* 1 if id may fill a placeholder in a resource name: it must not contain
 * ':' '*' '[' ']' '{' '}', which would change what the name matches (a
 * clientId "*" or "a:*" must never become a wildcard). */
int cap_template_value_ok(const char *id);

/* s with every placeholder replaced by id. Caller frees; NULL when memory
 * runs out. No check on id: see cap_template_value_ok(). */
char *cap_fill_template(const char *s, const char *id);

/* 1 if any resource of cap holds the placeholder. */
int cap_has_template(const struct capability *cap);

/* A copy of tmpl with the placeholder filled with id. With id NULL (an
 * anonymous caller) resources that hold the placeholder are left out.
 * Resources that end up with the same name are merged. Refuses an id
 * cap_template_value_ok() rejects (TOK_EDENIED, 40300) when a placeholder
 * is there to fill. *out is new; the caller frees it. */
enum tok_err cap_substitute(const struct capability *tmpl, const char *id,
                            struct capability **out, struct tok_error *e)
	__attribute__((warn_unused_result));

/* The text checks moved to utf8.h; these names stay for their callers
 * (config, rules, policy, identity). */

/* Compare two valid UTF-8 strings by UTF-16 code units, as JS sort does. */
static inline int
cap_utf16_cmp(const char *a, const char *b)
{
	return utf8_utf16_cmp(a, b);
}

/* 1 if s[0..n) is valid UTF-8 with no NUL and no C0 controls other than
 * tab (used for clientIds and resource names). */
static inline int
cap_text_ok(const char *s, size_t n)
{
	return utf8_text_ok(s, n);
}

#endif
