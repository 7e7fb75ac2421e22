/* capability: parse, canonicalise and compare Ably capabilities. */
#include "capability.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "json_strict.h"

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
		    (key[0] == '\0' || !cap_text_ok(key, strlen(key)))) {
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

/* ------------------------------------------------------------------ */
/* Intersection */

/* Operation sets as bit masks over operations[]; operations[0] is "*",
 * which is kept as a flag so that `*` survives only where both sides say
 * `*` (an explicit list of today's operations is not `*`). */
#define N_OPERATIONS (sizeof(operations) / sizeof(operations[0]))
#define ALL_OPS (((uint32_t)1 << N_OPERATIONS) - 2)  /* bits 1..N-1 */

struct opset {
	uint32_t bits;
	int star;
};

/* The operations of one entry; -1 for an unknown operation. */
static int
entry_opset(const struct cap_entry *ent, struct opset *s)
{
	size_t i, k;

	s->bits = 0;
	s->star = 0;
	for (i = 0; i < ent->nops; i++) {
		for (k = 0; k < N_OPERATIONS; k++)
			if (strcmp(ent->ops[i], operations[k]) == 0)
				break;
		if (k == N_OPERATIONS)
			return -1;
		if (k == 0) {
			s->star = 1;
			s->bits |= ALL_OPS;
		} else {
			s->bits |= (uint32_t)1 << k;
		}
	}
	return 0;
}

/* One segment of a pattern, or the wildcard (NULL) a trailing `*` stands
 * for beyond the end of its pattern. */
struct seg {
	const char *p;
	size_t n;
};

static int
seg_is_star(const struct seg *s)
{
	return s->p == NULL || (s->n == 1 && s->p[0] == '*');
}

/* Split s at ':' into a new array of *n segments (at least one). */
static struct seg *
split_segments(const char *s, size_t *n)
{
	struct seg *v;
	size_t count = 1, i = 0;
	const char *p;

	for (p = s; *p != '\0'; p++)
		count += *p == ':';
	v = calloc(count, sizeof(*v));
	if (v == NULL)
		return NULL;
	for (;;) {
		const char *end = strchr(s, ':');

		v[i].p = s;
		v[i].n = end ? (size_t)(end - s) : strlen(s);
		i++;
		if (end == NULL)
			break;
		s = end + 1;
	}
	*n = count;
	return v;
}

enum qual_kind { QUAL_NONE, QUAL_EXACT, QUAL_ANY };

static enum qual_kind
qual_kind(const char *r, size_t qlen)
{
	if (qlen == 0)
		return QUAL_NONE;
	if (qlen == 3 && memcmp(r, "[*]", 3) == 0)
		return QUAL_ANY;
	return QUAL_EXACT;
}

char *
cap_resource_intersect(const char *a, const char *b, int *nomem)
{
	size_t qa = qualifier_len(a), qb = qualifier_len(b);
	enum qual_kind ka = qual_kind(a, qa), kb = qual_kind(b, qb);
	struct seg *sa = NULL, *sb = NULL, *out = NULL;
	size_t na = 0, nb = 0, pa, pb, len, i, total;
	int ta, tb, trailing;
	const char *qual;
	size_t qlen;
	char *result = NULL, *w;

	*nomem = 0;
	/* "[*]*" is everything, qualified or not. */
	if (strcmp(a, "[*]*") == 0 || strcmp(b, "[*]*") == 0) {
		result = strdup(strcmp(a, "[*]*") == 0 ? b : a);
		*nomem = result == NULL;
		return result;
	}
	/* Qualifiers: none only meets none; [*] meets any qualifier; two
	 * exact ones must be the same. */
	if ((ka == QUAL_NONE) != (kb == QUAL_NONE))
		return NULL;
	if (ka == QUAL_EXACT && kb == QUAL_EXACT &&
	    (qa != qb || memcmp(a, b, qa) != 0))
		return NULL;
	if (ka == QUAL_EXACT) {
		qual = a;
		qlen = qa;
	} else {
		qual = b;
		qlen = qb;
	}
	sa = split_segments(a + qa, &na);
	sb = split_segments(b + qb, &nb);
	if (sa == NULL || sb == NULL)
		goto nomem;
	/* A pattern whose last segment is `*` is "its other segments, then
	 * one or more of anything" (trailing); its prefix is pa segments. */
	ta = seg_is_star(&sa[na - 1]);
	tb = seg_is_star(&sb[nb - 1]);
	pa = na - (size_t)ta;
	pb = nb - (size_t)tb;
	if (!ta && !tb) {
		if (na != nb)
			goto out;
		len = na;
		trailing = 0;
	} else if (ta && !tb) {
		if (nb < pa + 1)
			goto out;
		len = nb;
		trailing = 0;
	} else if (!ta && tb) {
		if (na < pb + 1)
			goto out;
		len = na;
		trailing = 0;
	} else {
		len = pa > pb ? pa : pb;
		trailing = 1;
	}
	out = calloc(len ? len : 1, sizeof(*out));
	if (out == NULL)
		goto nomem;
	total = qlen + 2;
	for (i = 0; i < len; i++) {
		struct seg x = { NULL, 0 }, y = { NULL, 0 };

		/* Past a trailing pattern's prefix its `*` matches anything. */
		if (i < pa)
			x = sa[i];
		if (i < pb)
			y = sb[i];
		if (seg_is_star(&x)) {
			out[i] = y;
		} else if (seg_is_star(&y)) {
			out[i] = x;
		} else if (x.n == y.n && memcmp(x.p, y.p, x.n) == 0) {
			out[i] = x;
		} else {
			goto out;
		}
		total += (out[i].p ? out[i].n : 1) + 1;
	}
	result = malloc(total);
	if (result == NULL)
		goto nomem;
	w = result;
	if (ka == QUAL_NONE && kb == QUAL_NONE)
		qlen = 0;
	memcpy(w, qual, qlen);
	w += qlen;
	for (i = 0; i < len; i++) {
		if (i > 0)
			*w++ = ':';
		if (out[i].p == NULL) {
			*w++ = '*';
		} else {
			memcpy(w, out[i].p, out[i].n);
			w += out[i].n;
		}
	}
	if (trailing) {
		if (len > 0)
			*w++ = ':';
		*w++ = '*';
	}
	*w = '\0';
	goto out;
nomem:
	*nomem = 1;
out:
	free(out);
	free(sa);
	free(sb);
	return result;
}

/* The intersection under construction: resource -> operation set. */
#define CAP_PRUNE_MAX 256

struct ix_entry {
	char *resource;
	struct opset ops;
	int dropped;
};

struct ix {
	struct ix_entry *v;
	size_t n, cap;
};

static void
ix_free(struct ix *x)
{
	size_t i;

	for (i = 0; i < x->n; i++)
		free(x->v[i].resource);
	free(x->v);
}

/* Add (resource, ops), merging with an entry of the same name; takes
 * ownership of resource. -1 when memory runs out (resource freed). */
static int
ix_add(struct ix *x, char *resource, struct opset ops)
{
	size_t i;

	for (i = 0; i < x->n; i++) {
		if (strcmp(x->v[i].resource, resource) == 0) {
			x->v[i].ops.bits |= ops.bits;
			x->v[i].ops.star |= ops.star;
			free(resource);
			return 0;
		}
	}
	if (x->n == x->cap) {
		size_t ncap = x->cap ? x->cap * 2 : 8;
		struct ix_entry *grown = realloc(x->v, ncap * sizeof(*grown));

		if (grown == NULL) {
			free(resource);
			return -1;
		}
		x->v = grown;
		x->cap = ncap;
	}
	x->v[x->n].resource = resource;
	x->v[x->n].ops = ops;
	x->v[x->n].dropped = 0;
	x->n++;
	return 0;
}

static int
opset_contains(struct opset big, struct opset small)
{
	if (big.star)
		return 1;
	return !small.star && (small.bits & ~big.bits) == 0;
}

/* The entries that are not dropped, as a capability; NULL on ENOMEM. */
static struct capability *
ix_to_capability(const struct ix *x)
{
	struct capability *cap;
	size_t i, k, n = 0;

	cap = calloc(1, sizeof(*cap));
	if (cap == NULL)
		return NULL;
	cap->entries = calloc(x->n ? x->n : 1, sizeof(*cap->entries));
	if (cap->entries == NULL)
		goto fail;
	for (i = 0; i < x->n; i++) {
		struct cap_entry *ent;
		size_t nops = 0;

		if (x->v[i].dropped)
			continue;
		ent = &cap->entries[n];
		ent->resource = strdup(x->v[i].resource);
		ent->ops = calloc(N_OPERATIONS, sizeof(char *));
		cap->n = ++n;
		if (ent->resource == NULL || ent->ops == NULL)
			goto fail;
		for (k = 0; k < N_OPERATIONS; k++) {
			if (x->v[i].ops.star ? k != 0 :
			    !(x->v[i].ops.bits & ((uint32_t)1 << k)))
				continue;
			ent->ops[nops] = strdup(operations[k]);
			if (ent->ops[nops] == NULL)
				goto fail;
			ent->nops = ++nops;
		}
		qsort(ent->ops, ent->nops, sizeof(char *), cmp_str_utf16);
	}
	qsort(cap->entries, cap->n, sizeof(*cap->entries), cmp_entry);
	return cap;
fail:
	cap_free(cap);
	return NULL;
}

enum tok_err
cap_intersect(const struct capability *a, const struct capability *b,
              struct capability **out, struct tok_error *e)
{
	struct ix x = { NULL, 0, 0 };
	enum tok_err rc = TOK_OK;
	size_t i, j;

	*out = NULL;
	for (i = 0; i < a->n && rc == TOK_OK; i++) {
		struct opset oa;

		if (entry_opset(&a->entries[i], &oa) != 0) {
			rc = tok_fail(e, TOK_EINVAL, 40000, "capability "
			    "operations must be known Ably operation names");
			break;
		}
		for (j = 0; j < b->n; j++) {
			struct opset ob, both;
			char *res;
			int nomem;

			if (entry_opset(&b->entries[j], &ob) != 0) {
				rc = tok_fail(e, TOK_EINVAL, 40000, "capability "
				    "operations must be known Ably operation "
				    "names");
				break;
			}
			both.bits = oa.bits & ob.bits;
			both.star = oa.star && ob.star;
			if (both.bits == 0)
				continue;
			res = cap_resource_intersect(a->entries[i].resource,
			    b->entries[j].resource, &nomem);
			if (res == NULL && !nomem)
				continue;
			if (res == NULL || ix_add(&x, res, both) != 0) {
				rc = tok_fail(e, TOK_ENOMEM, 0, "out of memory");
				break;
			}
		}
	}
	/* Leave out what another (kept) entry already grants. Cosmetic (a
	 * shorter token), and quadratic, so only for results of sane size. */
	for (i = 0; i < x.n && x.n <= CAP_PRUNE_MAX && rc == TOK_OK; i++) {
		for (j = 0; j < x.n; j++) {
			if (j == i || x.v[j].dropped)
				continue;
			if (opset_contains(x.v[j].ops, x.v[i].ops) &&
			    cap_resource_covers(x.v[j].resource,
			    x.v[i].resource)) {
				x.v[i].dropped = 1;
				break;
			}
		}
	}
	if (rc == TOK_OK) {
		*out = ix_to_capability(&x);
		if (*out == NULL)
			rc = tok_fail(e, TOK_ENOMEM, 0, "out of memory");
	}
	ix_free(&x);
	return rc;
}

/* ------------------------------------------------------------------ */
/* Templates */

int
cap_is_template(const char *s)
{
	return strstr(s, CAP_PLACEHOLDER) != NULL;
}

int
cap_template_ok(const char *s)
{
	const size_t plen = strlen(CAP_PLACEHOLDER);

	while (*s != '\0') {
		if (strncmp(s, CAP_PLACEHOLDER, plen) == 0) {
			s += plen;
			continue;
		}
		if (*s == '{' || *s == '}')
			return 0;
		s++;
	}
	return 1;
}

int
cap_template_value_ok(const char *id)
{
	return id[0] != '\0' && strpbrk(id, ":*[]{}") == NULL;
}

char *
cap_fill_template(const char *s, const char *id)
{
	const size_t plen = strlen(CAP_PLACEHOLDER), idlen = strlen(id);
	size_t count = 0, len;
	const char *p;
	char *out, *w;

	for (p = strstr(s, CAP_PLACEHOLDER); p != NULL;
	    p = strstr(p + plen, CAP_PLACEHOLDER))
		count++;
	len = strlen(s) - count * plen;
	if (count > 0 && idlen > (SIZE_MAX - len - 1) / count)
		return NULL;
	out = malloc(len + count * idlen + 1);
	if (out == NULL)
		return NULL;
	w = out;
	while ((p = strstr(s, CAP_PLACEHOLDER)) != NULL) {
		memcpy(w, s, (size_t)(p - s));
		w += p - s;
		memcpy(w, id, idlen);
		w += idlen;
		s = p + plen;
	}
	memcpy(w, s, strlen(s) + 1);
	return out;
}

int
cap_has_template(const struct capability *cap)
{
	size_t i;

	for (i = 0; i < cap->n; i++)
		if (cap_is_template(cap->entries[i].resource))
			return 1;
	return 0;
}

/* Merge entries with equal resource names: the union of their operations,
 * sorted, without duplicates; `*` stands alone. Slots emptied by merging
 * are zeroed, so cap_free() is right at every step. -1 on ENOMEM. */
static int
merge_equal_entries(struct capability *cap)
{
	size_t i, o = 0, j, k;

	qsort(cap->entries, cap->n, sizeof(*cap->entries), cmp_entry);
	for (i = 0; i < cap->n; i++) {
		struct cap_entry *src = &cap->entries[i];

		if (o > 0 &&
		    strcmp(cap->entries[o - 1].resource, src->resource) == 0) {
			struct cap_entry *prev = &cap->entries[o - 1];
			char **grown = realloc(prev->ops,
			    (prev->nops + src->nops + 1) * sizeof(char *));

			if (grown == NULL)
				return -1;
			prev->ops = grown;
			for (j = 0; j < src->nops; j++)
				prev->ops[prev->nops++] = src->ops[j];
			free(src->ops);
			free(src->resource);
			memset(src, 0, sizeof(*src));
			continue;
		}
		if (o != i) {
			cap->entries[o] = *src;
			memset(src, 0, sizeof(*src));
		}
		o++;
	}
	cap->n = o;
	for (i = 0; i < cap->n; i++) {
		struct cap_entry *ent = &cap->entries[i];
		int star = 0;

		qsort(ent->ops, ent->nops, sizeof(char *), cmp_str_utf16);
		for (j = 0; j < ent->nops; j++)
			star |= strcmp(ent->ops[j], "*") == 0;
		for (j = 0, k = 0; j < ent->nops; j++) {
			if ((star && strcmp(ent->ops[j], "*") != 0) ||
			    (k > 0 && strcmp(ent->ops[k - 1], ent->ops[j]) == 0)) {
				free(ent->ops[j]);
				continue;
			}
			ent->ops[k++] = ent->ops[j];
		}
		ent->nops = k;
	}
	return 0;
}

enum tok_err
cap_substitute(const struct capability *tmpl, const char *id,
               struct capability **out, struct tok_error *e)
{
	struct capability *cap = NULL;
	size_t i, j, n = 0;
	int changed = 0;

	*out = NULL;
	if (id != NULL && cap_has_template(tmpl) && !cap_template_value_ok(id))
		return tok_fail(e, TOK_EDENIED, 40300, "this clientId cannot "
		    "be used in channel names (it contains one of : * [ ] { })");
	cap = calloc(1, sizeof(*cap));
	if (cap == NULL)
		goto nomem;
	cap->entries = calloc(tmpl->n ? tmpl->n : 1, sizeof(*cap->entries));
	if (cap->entries == NULL)
		goto nomem;
	for (i = 0; i < tmpl->n; i++) {
		const struct cap_entry *src = &tmpl->entries[i];
		struct cap_entry *dst = &cap->entries[n];

		if (cap_is_template(src->resource)) {
			changed = 1;
			if (id == NULL)
				continue;  /* nobody to fill it with */
			dst->resource = cap_fill_template(src->resource, id);
		} else {
			dst->resource = strdup(src->resource);
		}
		dst->ops = calloc(src->nops ? src->nops : 1, sizeof(char *));
		cap->n = ++n;
		if (dst->resource == NULL || dst->ops == NULL)
			goto nomem;
		for (j = 0; j < src->nops; j++) {
			dst->ops[j] = strdup(src->ops[j]);
			if (dst->ops[j] == NULL)
				goto nomem;
			dst->nops = j + 1;
		}
	}
	/* Filling may reorder names or make two equal. */
	if (changed && merge_equal_entries(cap) != 0)
		goto nomem;
	*out = cap;
	return TOK_OK;
nomem:
	cap_free(cap);
	return tok_fail(e, TOK_ENOMEM, 0, "out of memory");
}
