/* capability: parse, canonicalise and compare Ably capabilities. */
#include "capability.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

/* Objects nest resource -> array -> string: three levels. Anything deeper
 * is refused by the tokenizer before we look at it. */
#define CAP_JSON_DEPTH 4

static const char *const operations[] = {
	"*", "subscribe", "publish", "presence", "history", "stats",
	"channel-metadata", "push-subscribe", "push-admin",
	"privileged-headers", "object-subscribe", "object-publish",
	"annotation-subscribe", "annotation-publish", "message-update-own",
	"message-update-any", "message-delete-own", "message-delete-any",
};

int
cap_is_operation(const char *op)
{
	size_t i;

	for (i = 0; i < sizeof(operations) / sizeof(operations[0]); i++)
		if (strcmp(op, operations[i]) == 0)
			return 1;
	return 0;
}

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
cap_utf16_cmp(const char *a, const char *b)
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
cap_text_ok(const char *s, size_t n)
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

static int
cmp_str_utf16(const void *a, const void *b)
{
	return cap_utf16_cmp(*(char *const *)a, *(char *const *)b);
}

static int
cmp_entry(const void *a, const void *b)
{
	const struct cap_entry *x = a, *y = b;

	return cap_utf16_cmp(x->resource, y->resource);
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
	if (check == CAP_STRICT && (len == 0 || !cap_text_ok(s, len)))
		return NULL;
	return s;
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
		    (key[0] == '\0' || !cap_text_ok(key, strlen(key)))) {
			rc = tok_fail(e, TOK_EINVAL, 40000,
			    "capability resource names must be non-empty UTF-8 text");
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
		qsort(ent->ops, ent->nops, sizeof(char *), cmp_str_utf16);
	}
	qsort(cap->entries, cap->n, sizeof(*cap->entries), cmp_entry);
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
	struct json_tokener *tok;
	struct json_object *obj;
	enum tok_err rc;

	*out = NULL;
	if (len > 0x7fffffff)
		return tok_fail(e, TOK_EINVAL, 40000, "capability is too long");
	/* json-c object keys are C strings: a "\u0000" in a resource name
	 * would silently cut it short, so refuse it up front. */
	if (memmem(text, len, "\\u0000", 6) != NULL)
		return tok_fail(e, TOK_EINVAL, 40000,
		    "capability must not contain NUL characters");
	tok = json_tokener_new_ex(CAP_JSON_DEPTH);
	if (tok == NULL)
		return tok_fail(e, TOK_ENOMEM, 0, "out of memory");
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT |
	    JSON_TOKENER_VALIDATE_UTF8);
	obj = json_tokener_parse_ex(tok, text, (int)len);
	/* The whole text must be one JSON value (no trailing bytes). */
	if (obj == NULL ||
	    json_tokener_get_error(tok) != json_tokener_success ||
	    json_tokener_get_parse_end(tok) != len) {
		json_object_put(obj);
		json_tokener_free(tok);
		return tok_fail(e, TOK_EINVAL, 40000,
		    "capability is not valid JSON");
	}
	json_tokener_free(tok);
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
static size_t
qualifier_len(const char *r)
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
	size_t aq = qualifier_len(allowed), rq = qualifier_len(requested);

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
