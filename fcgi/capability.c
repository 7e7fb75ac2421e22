/* capability: parse Ably capabilities, print them canonically and check
 * whether one covers another. The intersection is in cap_intersect.c, the
 * {clientId} templates in cap_template.c; UTF-8 checks in utf8.c. */
#include "capability.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "cap_private.h"
#include "json_strict.h"
#include "utf8.h"

/* Objects nest resource -> array -> string: three levels. Anything deeper
 * is refused by the tokenizer before we look at it. */
#define CAP_JSON_DEPTH 4

const char *const cap_operations[] = {
	"*", "subscribe", "publish", "presence", "history", "stats",
	"channel-metadata", "push-subscribe", "push-admin",
	"privileged-headers", "object-subscribe", "object-publish",
	"annotation-subscribe", "annotation-publish", "message-update-own",
	"message-update-any", "message-delete-own", "message-delete-any",
};
_Static_assert(sizeof(cap_operations) / sizeof(cap_operations[0]) ==
    CAP_N_OPERATIONS, "CAP_N_OPERATIONS counts cap_operations[]");

int
cap_is_operation(const char *op)
{
	size_t i;

	for (i = 0; i < CAP_N_OPERATIONS; i++)
		if (strcmp(op, cap_operations[i]) == 0)
			return 1;
	return 0;
}

int
cap_cmp_op(const void *a, const void *b)
{
	return utf8_utf16_cmp(*(char *const *)a, *(char *const *)b);
}

int
cap_cmp_entry(const void *a, const void *b)
{
	const struct cap_entry *x = a, *y = b;

	return utf8_utf16_cmp(x->resource, y->resource);
}

void
cap_free(struct capability *cap)
{
	size_t i, j;

	if (cap == NULL)
		return;
	for (i = 0; i < cap->n; i++) {
		for (j = 0; j < cap->entries[i].nops; j++)
			free(cap->entries[i].ops[j]);
		free(cap->entries[i].ops);
		free(cap->entries[i].resource);
	}
	free(cap->entries);
	free(cap);
}

/* A json-c string as a C string, refusing embedded NULs and bad UTF-8. */
static const char *
json_text(struct json_object *v, enum cap_check check)
{
	const char *s;
	size_t len;

	if (!json_object_is_type(v, json_type_string))
		return NULL;
	s = json_object_get_string(v);
	len = (size_t)json_object_get_string_len(v);
	if (strlen(s) != len)
		return NULL;
	if (check == CAP_STRICT && (len == 0 || !utf8_text_ok(s, len)))
		return NULL;
	return s;
}

/* Brackets only as one leading "[qualifier]" (Ably's [queue], [meta],
 * [*]): anything else would make the wildcard rules ambiguous (an
 * unclosed '[' once let an intersection name a channel neither side
 * allowed; tests/fuzz/regressions/capability/). */
static int
brackets_ok(const char *r)
{
	const char *close;

	if (r[0] != '[')
		return strpbrk(r, "[]") == NULL;
	close = strchr(r + 1, ']');
	return close != NULL && close > r + 1 &&
	    strchr(r + 1, '[') == NULL && strchr(close + 1, ']') == NULL &&
	    strchr(close + 1, '[') == NULL;
}

enum tok_err
cap_from_json(struct json_object *obj, enum cap_check check,
              struct capability **out, struct tok_error *e)
{
	struct capability *cap = NULL;
	enum tok_err rc = TOK_ENOMEM;
	size_t n, i = 0;

	*out = NULL;
	if (!json_object_is_type(obj, json_type_object))
		return tok_fail(e, TOK_EINVAL, 40000,
		    "capability must be a JSON object of resource: [operations]");
	n = (size_t)json_object_object_length(obj);
	if (check == CAP_STRICT && n == 0)
		return tok_fail(e, TOK_EINVAL, 40000,
		    "capability must name at least one resource");
	cap = calloc(1, sizeof(*cap));
	if (cap == NULL)
		goto fail;
	cap->entries = calloc(n ? n : 1, sizeof(*cap->entries));
	if (cap->entries == NULL)
		goto fail;
	json_object_object_foreach(obj, key, val) {
		struct cap_entry *ent = &cap->entries[i];
		size_t j, nops;

		if (check == CAP_STRICT &&
		    (key[0] == '\0' || !utf8_text_ok(key, strlen(key)))) {
			rc = tok_fail(e, TOK_EINVAL, 40000,
			    "capability resource names must be non-empty UTF-8 text");
			goto fail;
		}
		if (check == CAP_STRICT && !brackets_ok(key)) {
			rc = tok_fail(e, TOK_EINVAL, 40000, "a capability "
			    "resource may hold '[' and ']' only as a leading "
			    "[qualifier]");
			goto fail;
		}
		if (!json_object_is_type(val, json_type_array)) {
			rc = tok_fail(e, TOK_EINVAL, 40000,
			    "capability operations must be a JSON array");
			goto fail;
		}
		nops = json_object_array_length(val);
		if (check == CAP_STRICT && nops == 0) {
			rc = tok_fail(e, TOK_EINVAL, 40000,
			    "capability operation lists must not be empty");
			goto fail;
		}
		ent->resource = strdup(key);
		ent->ops = calloc(nops ? nops : 1, sizeof(char *));
		cap->n = ++i;  /* counted now so cap_free releases it */
		if (ent->resource == NULL || ent->ops == NULL) {
			rc = TOK_ENOMEM;
			goto fail;
		}
		for (j = 0; j < nops; j++) {
			const char *op;

			op = json_text(json_object_array_get_idx(val, j), check);
			if (op == NULL ||
			    (check == CAP_STRICT && !cap_is_operation(op))) {
				rc = tok_fail(e, TOK_EINVAL, 40000,
				    "capability operations must be known Ably "
				    "operation names");
				goto fail;
			}
			ent->ops[j] = strdup(op);
			if (ent->ops[j] == NULL) {
				rc = TOK_ENOMEM;
				goto fail;
			}
			ent->nops = j + 1;
		}
		qsort(ent->ops, ent->nops, sizeof(char *), cap_cmp_op);
	}
	qsort(cap->entries, cap->n, sizeof(*cap->entries), cap_cmp_entry);
	*out = cap;
	return TOK_OK;
fail:
	cap_free(cap);
	if (rc == TOK_ENOMEM)
		tok_fail(e, TOK_ENOMEM, 0, "out of memory");
	return rc;
}

enum tok_err
cap_parse(const char *text, size_t len, enum cap_check check,
          struct capability **out, struct tok_error *e)
{
	struct json_object *obj;
	enum tok_err rc;

	*out = NULL;
	switch (json_strict_parse(text, len, CAP_JSON_DEPTH, &obj)) {
	case JSON_STRICT_OK:
		break;
	case JSON_STRICT_NUL:
		return tok_fail(e, TOK_EINVAL, 40000,
		    "capability must not contain NUL characters");
	case JSON_STRICT_LOOSE:
		return tok_fail(e, TOK_EINVAL, 40000, "capability is not strict "
		    "JSON (a resource given twice, a single-quoted string or a "
		    "lone surrogate)");
	case JSON_STRICT_NOMEM:
		return tok_fail(e, TOK_ENOMEM, 0, "out of memory");
	default:
		return tok_fail(e, TOK_EINVAL, 40000,
		    "capability is not valid JSON");
	}
	rc = cap_from_json(obj, check, out, e);
	json_object_put(obj);
	return rc;
}

char *
cap_to_string(const struct capability *cap)
{
	struct json_object *obj;
	const char *s;
	char *result = NULL;
	size_t i, j;

	obj = json_object_new_object();
	if (obj == NULL)
		return NULL;
	/* json-c keeps insertion order, and entries are already sorted. */
	for (i = 0; i < cap->n; i++) {
		struct json_object *ops = json_object_new_array();

		if (ops == NULL)
			goto out;
		for (j = 0; j < cap->entries[i].nops; j++) {
			struct json_object *op;

			op = json_object_new_string(cap->entries[i].ops[j]);
			if (op == NULL || json_object_array_add(ops, op) != 0) {
				json_object_put(op);
				json_object_put(ops);
				goto out;
			}
		}
		/* Duplicate resource keys cannot occur: they came from one
		 * JSON object. */
		if (json_object_object_add(obj, cap->entries[i].resource, ops)
		    != 0) {
			json_object_put(ops);
			goto out;
		}
	}
	s = json_object_to_json_string_ext(obj,
	    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	if (s != NULL)
		result = strdup(s);
out:
	json_object_put(obj);
	return result;
}

/* Split "[qualifier]rest": returns the length of the qualifier including
 * the brackets, 0 if there is none. */
size_t
cap_qualifier_len(const char *r)
{
	const char *end;

	if (r[0] != '[')
		return 0;
	end = strchr(r, ']');
	return end == NULL ? 0 : (size_t)(end - r) + 1;
}

/* Segment-wise match of channel patterns (no qualifier). A '*' segment in
 * `allowed` stands for one segment, or for one or more when it is last. */
static int
segments_cover(const char *allowed, const char *requested)
{
	for (;;) {
		const char *ae = strchr(allowed, ':');
		const char *re = strchr(requested, ':');
		size_t al = ae ? (size_t)(ae - allowed) : strlen(allowed);
		size_t rl = re ? (size_t)(re - requested) : strlen(requested);

		if (al == 1 && allowed[0] == '*') {
			if (ae == NULL)
				return 1;  /* trailing '*': the rest, whatever */
		} else if (al != rl || memcmp(allowed, requested, al) != 0) {
			return 0;
		}
		if (ae == NULL || re == NULL)
			return ae == NULL && re == NULL;
		allowed = ae + 1;
		requested = re + 1;
	}
}

int
cap_resource_covers(const char *allowed, const char *requested)
{
	size_t aq = cap_qualifier_len(allowed), rq = cap_qualifier_len(requested);

	if (strcmp(allowed, "[*]*") == 0)
		return 1;
	/* A qualifier must match exactly, except "[*]" which matches any
	 * qualified name. A bare pattern never matches queues or meta. */
	if (aq == 3 && memcmp(allowed, "[*]", 3) == 0) {
		if (rq == 0)
			return 0;
	} else if (aq != rq || memcmp(allowed, requested, aq) != 0) {
		return 0;
	}
	return segments_cover(allowed + aq, requested + rq);
}

static int
entry_has_op(const struct cap_entry *ent, const char *op)
{
	size_t i;

	for (i = 0; i < ent->nops; i++)
		if (strcmp(ent->ops[i], "*") == 0 ||
		    strcmp(ent->ops[i], op) == 0)
			return 1;
	return 0;
}

int
cap_allows(const struct capability *allowed, const struct capability *requested)
{
	size_t i, j, k;

	for (i = 0; i < requested->n; i++) {
		const struct cap_entry *r = &requested->entries[i];

		for (j = 0; j < r->nops; j++) {
			int ok = 0;

			for (k = 0; k < allowed->n && !ok; k++) {
				const struct cap_entry *a = &allowed->entries[k];

				ok = cap_resource_covers(a->resource,
				    r->resource) && entry_has_op(a, r->ops[j]);
			}
			if (!ok)
				return 0;
		}
	}
	return 1;
}
