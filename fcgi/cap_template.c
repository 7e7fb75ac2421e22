/* cap_template: {clientId} templates in resource names and capabilities,
 * checked and filled with the caller's identity (cap_substitute and
 * friends). Declared in capability.h. */
#include "capability.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cap_private.h"

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

	qsort(cap->entries, cap->n, sizeof(*cap->entries), cap_cmp_entry);
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

		qsort(ent->ops, ent->nops, sizeof(char *), cap_cmp_op);
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
