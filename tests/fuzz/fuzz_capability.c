/* fuzz_capability: capability JSON parsed (lax and strict), printed
 * canonically, compared, intersected.
 *
 * Input: capability A, optionally a NUL byte and capability B (without one,
 * or with FUZZ_CAP_FIXED_B set, B is a fixed capability like a configured
 * one). Properties:
 *   - the canonical text of a strict capability parses again (strict) and
 *     prints the same: canonical form is a fixed point;
 *   - a capability allows itself, and every resource pattern covers itself;
 *   - the intersection of A and B is allowed by both A and B (capability.h:
 *     "the result never holds anything one of them does not allow");
 *   - UTF-16 ordering is antisymmetric;
 *   - templates fill and substitute without crashing.
 */
#include "fuzz.h"

#include <string.h>

#include "capability.h"

static const char fcap_fixed[] =
    "{\"chat:*\":[\"subscribe\",\"publish\",\"presence\"],"
    "\"status\":[\"subscribe\"],\"[meta]*\":[\"*\"]}";

static int
fcap_sign(int v)
{
	return (v > 0) - (v < 0);
}

/* Strict-parse text; on success check the canonical fixed point and
 * reflexivity, and return the capability (else NULL). */
static struct capability *
fcap_strict(const char *text, size_t len)
{
	struct capability *c = NULL, *again = NULL;
	struct tok_error e;
	char *s1, *s2;
	size_t i;

	if (cap_parse(text, len, CAP_STRICT, &c, &e) != TOK_OK)
		return NULL;
	s1 = cap_to_string(c);
	FUZZ_CHECK(s1 != NULL, "canonical text");
	FUZZ_CHECK(cap_parse(s1, strlen(s1), CAP_STRICT, &again, &e) == TOK_OK,
	    "canonical text parses again (strict)");
	s2 = cap_to_string(again);
	FUZZ_CHECK(s2 != NULL && strcmp(s1, s2) == 0,
	    "canonical form is a fixed point");
	FUZZ_CHECK(cap_allows(c, c), "a capability allows itself");
	for (i = 0; i < c->n; i++) {
		FUZZ_CHECK(cap_resource_covers(c->entries[i].resource,
		    c->entries[i].resource), "a resource covers itself");
		if (i > 0)
			FUZZ_CHECK(fcap_sign(cap_utf16_cmp(c->entries[i - 1].resource,
			    c->entries[i].resource)) == -fcap_sign(cap_utf16_cmp(
			    c->entries[i].resource, c->entries[i - 1].resource)),
			    "UTF-16 order is antisymmetric");
	}
	free(s1);
	free(s2);
	cap_free(again);
	return c;
}

static void
fcap_intersect(const struct capability *a, const struct capability *b)
{
	struct capability *i = NULL;
	struct tok_error e;

	if (cap_intersect(a, b, &i, &e) != TOK_OK)
		return;
	FUZZ_CHECK(cap_allows(a, i), "A allows A and B");
	FUZZ_CHECK(cap_allows(b, i), "B allows A and B");
	if (i->n > 0) {
		char *s = cap_to_string(i);
		struct capability *again = NULL;

		FUZZ_CHECK(s != NULL, "intersection prints");
		FUZZ_CHECK(cap_parse(s, strlen(s), CAP_STRICT, &again, &e) ==
		    TOK_OK, "intersection parses (strict)");
		cap_free(again);
		free(s);
	}
	cap_free(i);
}

static void
fcap_templates(const struct capability *c)
{
	struct capability *out = NULL;
	struct tok_error e;

	if (!cap_has_template(c))
		return;
	if (cap_substitute(c, "alice", &out, &e) == TOK_OK)
		cap_free(out);
	out = NULL;
	if (cap_substitute(c, NULL, &out, &e) == TOK_OK)
		cap_free(out);
}

int FUZZ_ENTRY(const uint8_t *data, size_t size);

int
FUZZ_ENTRY(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data;
	const uint8_t *nul = memchr(data, 0, size);
	size_t alen = nul ? (size_t)(nul - data) : size;
	struct capability *lax = NULL, *a, *b;
	struct tok_error e;

	if (cap_parse(text, size, CAP_LAX, &lax, &e) == TOK_OK) {
		char *s = cap_to_string(lax);

		FUZZ_CHECK(s != NULL, "lax capability prints");
		free(s);
		cap_free(lax);
	}
	a = fcap_strict(text, alen);
	/* FUZZ_CAP_FIXED_B=1: always against the configured-like B, to look
	 * for a request that escapes a realistic configuration. */
	if (nul != NULL && getenv("FUZZ_CAP_FIXED_B") == NULL)
		b = fcap_strict(text + alen + 1, size - alen - 1);
	else {
		b = fcap_strict(fcap_fixed, strlen(fcap_fixed));
		FUZZ_CHECK(b != NULL, "the fixed capability parses");
	}
	if (a != NULL && b != NULL) {
		fcap_intersect(a, b);
		fcap_intersect(b, a);
		(void)cap_allows(a, b);
		(void)cap_allows(b, a);
	}
	if (a != NULL)
		fcap_templates(a);
	if (a != NULL && a->n > 0 && b != NULL && b->n > 0) {
		int nomem = 0;
		char *r = cap_resource_intersect(a->entries[0].resource,
		    b->entries[b->n - 1].resource, &nomem);

		free(r);
	}
	(void)cap_text_ok(text, alen);
	(void)cap_template_ok(nul ? text : "");
	cap_free(a);
	cap_free(b);
	return 0;
}
