/* cap_intersect: the intersection of two capabilities (cap_intersect,
 * cap_resource_intersect), with Ably's wildcard rules for resource names
 * and operations. Declared in capability.h. */
#include "capability.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cap_private.h"

/* Operation sets as bit masks over cap_operations[]; cap_operations[0] is
 * "*", which is kept as a flag so that `*` survives only where both sides
 * say `*` (an explicit list of today's operations is not `*`). */
#define ALL_OPS (((uint32_t)1 << CAP_N_OPERATIONS) - 2)  /* bits 1..N-1 */

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
		for (k = 0; k < CAP_N_OPERATIONS; k++)
			if (strcmp(ent->ops[i], cap_operations[k]) == 0)
				break;
		if (k == CAP_N_OPERATIONS)
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
	size_t qa = cap_qualifier_len(a), qb = cap_qualifier_len(b);
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
		ent->ops = calloc(CAP_N_OPERATIONS, sizeof(char *));
		cap->n = ++n;
		if (ent->resource == NULL || ent->ops == NULL)
			goto fail;
		for (k = 0; k < CAP_N_OPERATIONS; k++) {
			if (x->v[i].ops.star ? k != 0 :
			    !(x->v[i].ops.bits & ((uint32_t)1 << k)))
				continue;
			ent->ops[nops] = strdup(cap_operations[k]);
			if (ent->ops[nops] == NULL)
				goto fail;
			ent->nops = ++nops;
		}
		qsort(ent->ops, ent->nops, sizeof(char *), cap_cmp_op);
	}
	qsort(cap->entries, cap->n, sizeof(*cap->entries), cap_cmp_entry);
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
