/* json_strict: a single pass over the text, tracking strings and depth. */
#include "json_strict.h"

#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#define MAX_DEPTH 16   /* json-c is given far less; deeper is refused */
#define MAX_KEYS 1024  /* names in one object */

static int
hex4(const char *p, unsigned *out)
{
	unsigned v = 0;
	int i;

	for (i = 0; i < 4; i++) {
		char c = p[i];

		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v |= (unsigned)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			v |= (unsigned)(c - 'A' + 10);
		else
			return -1;
	}
	*out = v;
	return 0;
}

/* Check the string starting at text[i] == '"'; return the index just past
 * its closing quote, or 0 if it is broken or holds a lone surrogate. */
static size_t
scan_string(const char *text, size_t n, size_t i)
{
	for (i++; i < n; i++) {
		unsigned u, lo;

		if (text[i] == '"')
			return i + 1;
		if (text[i] != '\\')
			continue;
		if (++i >= n)
			return 0;
		if (text[i] != 'u')
			continue;
		if (n - i < 5 || hex4(text + i + 1, &u) != 0)
			return 0;
		i += 4;
		if (u >= 0xdc00 && u <= 0xdfff)
			return 0;  /* a low surrogate with no high one */
		if (u >= 0xd800 && u <= 0xdbff) {
			/* must be followed by \uDC00..\uDFFF */
			if (n - i < 7 || text[i + 1] != '\\' || text[i + 2] != 'u' ||
			    hex4(text + i + 3, &lo) != 0 || lo < 0xdc00 ||
			    lo > 0xdfff)
				return 0;
			i += 6;
		}
	}
	return 0;
}

/* The decoded form of the quoted key text[a..b) (json-c decodes the
 * escapes); caller frees. */
static char *
decode_key(const char *text, size_t a, size_t b)
{
	struct json_object *o;
	char *quoted = strndup(text + a, b - a), *key = NULL;

	if (quoted == NULL)
		return NULL;
	o = json_tokener_parse(quoted);
	if (o != NULL && json_object_is_type(o, json_type_string))
		key = strdup(json_object_get_string(o));
	json_object_put(o);
	free(quoted);
	return key;
}

/* Keys seen so far in one open object. */
struct level {
	int is_object;
	int expect_key;
	char **keys;
	size_t nkeys;
};

static void
level_clear(struct level *l)
{
	size_t k;

	for (k = 0; k < l->nkeys; k++)
		free(l->keys[k]);
	free(l->keys);
	memset(l, 0, sizeof(*l));
}

/* Add key to l; -1 if it is there already (or on allocation failure). */
static int
level_add(struct level *l, char *key)
{
	char **grown;
	size_t k;

	for (k = 0; k < l->nkeys; k++) {
		if (strcmp(l->keys[k], key) == 0) {
			free(key);
			return -1;
		}
	}
	if (l->nkeys >= MAX_KEYS) {
		free(key);
		return -1;
	}
	grown = realloc(l->keys, (l->nkeys + 1) * sizeof(char *));
	if (grown == NULL) {
		free(key);
		return -1;
	}
	l->keys = grown;
	l->keys[l->nkeys++] = key;
	return 0;
}

int
json_strict_check(const char *text, size_t n)
{
	struct level levels[MAX_DEPTH + 1];
	size_t i = 0;
	int depth = 0, d, rc = -1;

	memset(levels, 0, sizeof(levels));
	while (i < n) {
		char c = text[i];
		struct level *l = &levels[depth];

		if (c == '\'')
			goto out;  /* quotes outside strings: not JSON */
		if (c == '"') {
			size_t end = scan_string(text, n, i);

			if (end == 0)
				goto out;
			/* A key of an open object: seen before in it? */
			if (depth > 0 && l->is_object && l->expect_key) {
				char *key = decode_key(text, i, end);

				if (key == NULL || level_add(l, key) != 0)
					goto out;
				l->expect_key = 0;
			}
			i = end;
			continue;
		}
		if (c == '{' || c == '[') {
			if (depth == MAX_DEPTH)
				goto out;  /* far deeper than any caller needs */
			l = &levels[++depth];
			l->is_object = c == '{';
			l->expect_key = l->is_object;
		} else if (c == '}' || c == ']') {
			if (depth == 0)
				goto out;
			level_clear(&levels[depth--]);
		} else if (c == ',' && depth > 0 && l->is_object) {
			l->expect_key = 1;
		}
		i++;
	}
	rc = 0;
out:
	for (d = 0; d <= MAX_DEPTH; d++)
		level_clear(&levels[d]);
	return rc;
}

enum json_strict_rc
json_strict_parse(const char *text, size_t n, int depth,
                  struct json_object **out)
{
	struct json_tokener *tok;
	struct json_object *obj;

	*out = NULL;
	if (n > 0x7fffffff)
		return JSON_STRICT_BAD;
	if (memmem(text, n, "\\u0000", 6) != NULL)
		return JSON_STRICT_NUL;
	if (json_strict_check(text, n) != 0)
		return JSON_STRICT_LOOSE;
	tok = json_tokener_new_ex(depth);
	if (tok == NULL)
		return JSON_STRICT_NOMEM;
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT |
	    JSON_TOKENER_VALIDATE_UTF8);
	obj = json_tokener_parse_ex(tok, text, (int)n);
	/* The whole text must be one JSON value (no trailing bytes). */
	if (obj == NULL || json_tokener_get_error(tok) != json_tokener_success ||
	    json_tokener_get_parse_end(tok) != n) {
		json_object_put(obj);
		json_tokener_free(tok);
		return JSON_STRICT_BAD;
	}
	json_tokener_free(tok);
	*out = obj;
	return JSON_STRICT_OK;
}
