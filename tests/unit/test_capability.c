/* Unit tests: capability parsing, canonical form, wildcard coverage,
 * intersection (tables and a seeded property test) and {clientId}
 * templates. CAP_PROPERTY_SEED=N reruns the property test with another
 * seed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "capability.h"
#include "unit.h"

/* Parse text and return its canonical form (caller frees), or NULL. */
static char *
canon(const char *text, enum cap_check check)
{
	struct capability *cap;
	struct tok_error e;
	char *s;

	if (cap_parse(text, strlen(text), check, &cap, &e) != TOK_OK)
		return NULL;
	s = cap_to_string(cap);
	cap_free(cap);
	return s;
}

static void
test_canonical_form(void **state)
{
	static const struct {
		const char *in, *out;
	} cases[] = {
		{ "{\"*\":[\"*\"]}", "{\"*\":[\"*\"]}" },
		{ "{ \"private:*\" : [\"subscribe\", \"publish\"], \"public\" :"
		  " [ \"subscribe\" ] }",
		  "{\"private:*\":[\"publish\",\"subscribe\"],"
		  "\"public\":[\"subscribe\"]}" },
		/* '/' not escaped, tab as \t, quote and backslash escaped */
		{ "{\"path/to\":[\"subscribe\"],\"a\\\"b\":[\"publish\"],"
		  "\"t\\tx\":[\"history\"],\"b\\\\s\":[\"presence\"]}",
		  "{\"a\\\"b\":[\"publish\"],\"b\\\\s\":[\"presence\"],"
		  "\"path/to\":[\"subscribe\"],\"t\\tx\":[\"history\"]}" },
		/* duplicates kept, sorted */
		{ "{\"b\":[\"subscribe\",\"publish\",\"publish\"],\"a\":[\"*\"]}",
		  "{\"a\":[\"*\"],\"b\":[\"publish\",\"publish\",\"subscribe\"]}" },
		/* UTF-16 order: astral (U+1F600) before U+FF01 */
		{ "{\"\xef\xbc\x81w\":[\"subscribe\"],\"\xf0\x9f\x98\x80s\":"
		  "[\"subscribe\"],\"plain\":[\"subscribe\"]}",
		  "{\"plain\":[\"subscribe\"],\"\xf0\x9f\x98\x80s\":"
		  "[\"subscribe\"],\"\xef\xbc\x81w\":[\"subscribe\"]}" },
		/* a control char other than tab uses \u00xx, lowercase */
		{ "{\"a\\u001fb\":[\"subscribe\"]}",
		  "{\"a\\u001fb\":[\"subscribe\"]}" },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *s = canon(cases[i].in, CAP_LAX);

		assert_non_null(s);
		assert_string_equal(s, cases[i].out);
		free(s);
	}
}

static void
test_lax_vs_strict(void **state)
{
	static const struct {
		const char *in;
		int lax_ok, strict_ok;
	} cases[] = {
		{ "{}", 1, 0 },
		{ "{\"a\":[]}", 1, 0 },
		{ "{\"a\":[\"fly\"]}", 1, 0 },
		{ "{\"a\":[\"subscribe\"]}", 1, 1 },
		{ "{\"\":[\"subscribe\"]}", 1, 0 },
		{ "{\"a\":\"subscribe\"}", 0, 0 },  /* not an array */
		{ "{\"a\":[1]}", 0, 0 },
		{ "[\"a\"]", 0, 0 },
		{ "not json", 0, 0 },
		{ "{\"a\":[\"subscribe\"]} x", 0, 0 },  /* trailing bytes */
		{ "{\"a\":[[[\"subscribe\"]]]}", 0, 0 },  /* too deep */
		{ "{\"a\\u0000b\":[\"subscribe\"]}", 0, 0 },
		{ "{\"a\":[\"sub\\u0000scribe\"]}", 0, 0 },
		{ "{\"\xff\":[\"subscribe\"]}", 0, 0 },  /* invalid UTF-8 */
		{ "{'a':['subscribe']}", 0, 0 },
		{ "{\"[:*\":[\"subscribe\"]}", 1, 0 },         /* unclosed [ */
		{ "{\"*:]\":[\"subscribe\"]}", 1, 0 },         /* stray ] */
		{ "{\"[]x\":[\"subscribe\"]}", 1, 0 },         /* empty [] */
		{ "{\"[meta]x[y]\":[\"subscribe\"]}", 1, 0 },
		{ "{\"[queue]q\":[\"subscribe\"]}", 1, 1 },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *lax = canon(cases[i].in, CAP_LAX);
		char *strict = canon(cases[i].in, CAP_STRICT);

		if ((lax != NULL) != cases[i].lax_ok ||
		    (strict != NULL) != cases[i].strict_ok)
			fail_msg("case %zu (%s): lax %d strict %d", i,
			    cases[i].in, lax != NULL, strict != NULL);
		free(lax);
		free(strict);
	}
}

static void
test_resource_covers(void **state)
{
	static const struct {
		const char *allowed, *requested;
		int covers;
	} cases[] = {
		{ "room", "room", 1 },
		{ "room", "room2", 0 },
		{ "*", "anything", 1 },
		{ "*", "ns:a:b", 1 },
		{ "*", "*", 1 },
		{ "*", "[queue]q", 0 },
		{ "*", "[meta]x", 0 },
		{ "[*]*", "[meta]x", 1 },
		{ "[*]*", "plain", 1 },
		{ "[*]*", "*", 1 },
		{ "[meta]*", "[meta]channel.lifecycle", 1 },
		{ "[meta]*", "[queue]x", 0 },
		{ "ns:*", "ns:a", 1 },
		{ "ns:*", "ns:a:b", 1 },
		{ "ns:*", "ns", 0 },
		{ "ns:*", "ns:*", 1 },
		{ "ns:a", "ns:*", 0 },  /* requested is broader */
		{ "foo:*:baz", "foo:x:baz", 1 },
		{ "foo:*:baz", "foo:x:y:baz", 0 },
		{ "foo*", "foobar", 0 },  /* literal name */
		{ "foo*", "foo*", 1 },
		{ "chat:*", "*", 0 },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (cap_resource_covers(cases[i].allowed, cases[i].requested)
		    != cases[i].covers)
			fail_msg("covers(%s, %s) != %d", cases[i].allowed,
			    cases[i].requested, cases[i].covers);
}

static void
test_allows(void **state)
{
	static const struct {
		const char *allowed, *requested;
		int ok;
	} cases[] = {
		{ "{\"*\":[\"*\"]}", "{\"chat:1\":[\"publish\",\"subscribe\"]}",
		  1 },
		{ "{\"chat:*\":[\"subscribe\"]}", "{\"chat:1\":[\"subscribe\"]}",
		  1 },
		{ "{\"chat:*\":[\"subscribe\"]}", "{\"chat:1\":[\"publish\"]}",
		  0 },
		{ "{\"chat:*\":[\"subscribe\"]}", "{\"chat:1\":[\"*\"]}", 0 },
		{ "{\"chat:*\":[\"subscribe\"],\"news\":[\"publish\"]}",
		  "{\"chat:1\":[\"subscribe\"],\"news\":[\"publish\"]}", 1 },
		{ "{\"chat:*\":[\"subscribe\"],\"news\":[\"publish\"]}",
		  "{\"news\":[\"publish\",\"history\"]}", 0 },
		{ "{\"a\":[\"subscribe\"],\"*\":[\"publish\"]}",
		  "{\"a\":[\"publish\",\"subscribe\"]}", 1 },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct capability *a, *r;
		struct tok_error e;

		assert_int_equal(cap_parse(cases[i].allowed,
		    strlen(cases[i].allowed), CAP_STRICT, &a, &e), TOK_OK);
		assert_int_equal(cap_parse(cases[i].requested,
		    strlen(cases[i].requested), CAP_STRICT, &r, &e), TOK_OK);
		if (cap_allows(a, r) != cases[i].ok)
			fail_msg("allows(%s, %s) != %d", cases[i].allowed,
			    cases[i].requested, cases[i].ok);
		cap_free(a);
		cap_free(r);
	}
}

static void
test_utf16_cmp_and_text_ok(void **state)
{
	(void)state;
	assert_true(cap_utf16_cmp("a", "b") < 0);
	assert_true(cap_utf16_cmp("ab", "a") > 0);
	assert_int_equal(cap_utf16_cmp("same", "same"), 0);
	/* U+1F600 (surrogates D83D DE00) sorts before U+FF01 */
	assert_true(cap_utf16_cmp("\xf0\x9f\x98\x80", "\xef\xbc\x81") < 0);
	/* but after U+00E9 */
	assert_true(cap_utf16_cmp("\xc3\xa9", "\xf0\x9f\x98\x80") < 0);
	assert_true(cap_text_ok("Zo\xc3\xab", 4));
	assert_true(cap_text_ok("tab\there", 8));
	assert_false(cap_text_ok("nl\nx", 4));
	assert_false(cap_text_ok("\xc0\xaf", 2));          /* overlong */
	assert_false(cap_text_ok("\xed\xa0\x80", 3));      /* surrogate */
	assert_false(cap_text_ok("\xf4\x90\x80\x80", 4));  /* > U+10FFFF */
	assert_false(cap_text_ok("\xe2\x82", 2));          /* truncated */
	assert_false(cap_text_ok("a\0b", 3));
	assert_false(cap_text_ok("del\x7f", 4));
	assert_true(cap_is_operation("presence"));
	assert_true(cap_is_operation("*"));
	assert_false(cap_is_operation("Publish"));
}

/* ------------------------------------------------------------------ */
/* Intersection */

static void
test_resource_intersect(void **state)
{
	static const struct {
		const char *a, *b, *want;  /* want NULL = nothing in common */
	} cases[] = {
		{ "*", "chat:a", "chat:a" },
		{ "chat:*", "*", "chat:*" },
		{ "chat:*", "chat:*", "chat:*" },
		{ "chat:*", "*:x", "chat:x" },
		{ "foo:*:baz", "foo:bar:*", "foo:bar:baz" },
		{ "foo:*:baz", "foo:bar:qux", NULL },
		{ "foo:*:baz", "foo:x:y:baz", NULL },
		{ "a:*", "b:*", NULL },
		{ "*:x:*", "a:*", "a:x:*" },
		{ "a", "a:*", NULL },
		{ "a:*", "a:b:c", "a:b:c" },
		{ "*:*", "*", "*:*" },
		{ "a::b", "a:*:b", "a::b" },
		/* qualifiers */
		{ "[*]*", "[queue]q", "[queue]q" },
		{ "[*]*", "*", "*" },
		{ "*", "[meta]m", NULL },
		{ "*", "[*]*", "*" },
		{ "[*]chat:*", "[meta]*", "[meta]chat:*" },
		{ "[*]chat:*", "[*]*:x", "[*]chat:x" },
		{ "[queue]*", "[meta]*", NULL },
		{ "[queue]a", "[queue]*", "[queue]a" },
		{ "[*]a", "a", NULL },
		/* hostile names: '*' inside a segment, braces, unicode */
		{ "foo*", "foo:bar", NULL },
		{ "foo*", "*", "foo*" },
		{ "foo*", "foo", NULL },
		{ "a{b}", "*", "a{b}" },
		{ "chat:{clientId}", "chat:*", "chat:{clientId}" },
		{ "ch\xc3\xa4t:*", "*:\xf0\x9f\x98\x80", "ch\xc3\xa4t:\xf0\x9f\x98\x80" },
		{ "ch\xc3\xa4t:*", "chat:*", NULL },
		{ "[q]", "*", NULL },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int k;

		/* The intersection does not depend on the order. */
		for (k = 0; k < 2; k++) {
			const char *a = k ? cases[i].b : cases[i].a;
			const char *b = k ? cases[i].a : cases[i].b;
			int nomem = -1;
			char *got = cap_resource_intersect(a, b, &nomem);

			assert_int_equal(nomem, 0);
			if (cases[i].want == NULL && got != NULL)
				fail_msg("%s & %s = %s, want nothing", a, b, got);
			if (cases[i].want != NULL && (got == NULL ||
			    strcmp(got, cases[i].want) != 0))
				fail_msg("%s & %s = %s, want %s", a, b,
				    got ? got : "(nothing)", cases[i].want);
			free(got);
		}
	}
}

static struct capability *
parse_strict(const char *text)
{
	struct capability *cap = NULL;
	struct tok_error e;

	if (cap_parse(text, strlen(text), CAP_STRICT, &cap, &e) != TOK_OK)
		fail_msg("cap_parse(%s): %s", text, e.message);
	return cap;
}

static void
test_intersect(void **state)
{
	static const struct {
		const char *a, *b, *want;
	} cases[] = {
		{ "{\"chat:*\":[\"presence\",\"publish\",\"subscribe\"],"
		  "\"status\":[\"subscribe\"]}", "{\"*\":[\"subscribe\"]}",
		  "{\"chat:*\":[\"subscribe\"],\"status\":[\"subscribe\"]}" },
		{ "{\"chat:*\":[\"presence\",\"publish\",\"subscribe\"],"
		  "\"status\":[\"subscribe\"]}", "{\"*\":[\"*\"]}",
		  "{\"chat:*\":[\"presence\",\"publish\",\"subscribe\"],"
		  "\"status\":[\"subscribe\"]}" },
		{ "{\"chat:*\":[\"presence\",\"publish\",\"subscribe\"]}",
		  "{\"chat:room1\":[\"history\",\"publish\"]}",
		  "{\"chat:room1\":[\"publish\"]}" },
		/* disjoint: resources, then operations */
		{ "{\"chat:*\":[\"*\"]}", "{\"news\":[\"subscribe\"]}", "{}" },
		{ "{\"chat:*\":[\"subscribe\"]}", "{\"chat:a\":[\"publish\"]}",
		  "{}" },
		{ "{\"*\":[\"*\"]}", "{\"[meta]x\":[\"subscribe\"]}", "{}" },
		/* '*' survives only where both say '*' */
		{ "{\"a\":[\"*\"]}", "{\"a\":[\"*\"]}", "{\"a\":[\"*\"]}" },
		{ "{\"a\":[\"*\"]}", "{\"a\":[\"publish\"]}",
		  "{\"a\":[\"publish\"]}" },
		{ "{\"a\":[\"publish\",\"subscribe\"]}", "{\"*\":[\"*\"]}",
		  "{\"a\":[\"publish\",\"subscribe\"]}" },
		/* what another entry already grants is left out */
		{ "{\"chat:*\":[\"*\"],\"chat:lobby\":[\"publish\"]}",
		  "{\"*\":[\"*\"]}", "{\"chat:*\":[\"*\"]}" },
		/* two allowed entries meeting on one name: merged */
		{ "{\"a:*\":[\"publish\"],\"*:b\":[\"subscribe\"]}",
		  "{\"a:b\":[\"*\"]}", "{\"a:b\":[\"publish\",\"subscribe\"]}" },
		/* the example in README.md, "Capability intersection" */
		{ "{\"chat:*\":[\"publish\",\"subscribe\"],\"status\":"
		  "[\"subscribe\"]}", "{\"*:*:x\":[\"*\"]}",
		  "{\"chat:*:x\":[\"publish\",\"subscribe\"]}" },
		{ "{\"chat:*\":[\"publish\",\"subscribe\"],\"status\":"
		  "[\"subscribe\"]}", "{\"chat:room1\":[\"publish\","
		  "\"history\"]}", "{\"chat:room1\":[\"publish\"]}" },
		/* partial overlaps of patterns */
		{ "{\"foo:*:baz\":[\"subscribe\"]}", "{\"foo:bar:*\":[\"*\"]}",
		  "{\"foo:bar:baz\":[\"subscribe\"]}" },
		{ "{\"[*]*\":[\"subscribe\"]}", "{\"[queue]q\":[\"*\"],"
		  "\"x\":[\"publish\"]}", "{\"[queue]q\":[\"subscribe\"]}" },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct capability *a = parse_strict(cases[i].a);
		struct capability *b = parse_strict(cases[i].b);
		struct capability *x = NULL;
		struct tok_error e;
		char *s;

		assert_int_equal(cap_intersect(a, b, &x, &e), TOK_OK);
		s = cap_to_string(x);
		assert_non_null(s);
		if (strcmp(s, cases[i].want) != 0)
			fail_msg("%s & %s = %s, want %s", cases[i].a,
			    cases[i].b, s, cases[i].want);
		free(s);
		cap_free(x);
		cap_free(a);
		cap_free(b);
	}
}

/* Unknown operations (a lax capability) are refused, not guessed at. */
static void
test_intersect_unknown_op(void **state)
{
	struct capability *a = parse_strict("{\"*\":[\"*\"]}"), *b = NULL,
	    *x = (struct capability *)1;
	struct tok_error e;

	(void)state;
	assert_int_equal(cap_parse("{\"a\":[\"fly\"]}", 13, CAP_LAX, &b, &e),
	    TOK_OK);
	assert_int_equal(cap_intersect(a, b, &x, &e), TOK_EINVAL);
	assert_null(x);
	cap_free(a);
	cap_free(b);
}

/* ------------------------------------------------------------------ */
/* Property test: random allowed/requested pairs over a small alphabet. */

static uint64_t prng_state;

static uint32_t
prng(void)
{
	/* xorshift64*: deterministic for a seed, good enough to explore. */
	prng_state ^= prng_state >> 12;
	prng_state ^= prng_state << 25;
	prng_state ^= prng_state >> 27;
	return (uint32_t)((prng_state * 0x2545f4914f6cdd1dULL) >> 32);
}

static const char *const prop_ops[] = { "subscribe", "publish", "presence",
    "history" };
#define N_PROP_OPS (sizeof(prop_ops) / sizeof(prop_ops[0]))

/* A random resource pattern into buf. */
static void
random_pattern(char *buf, size_t len)
{
	static const char *const quals[] = { "", "", "", "", "[q]", "[r]",
	    "[*]" };
	static const char *const segs[] = { "a", "b", "*", "*", "a*" };
	size_t n, i, used;

	if (prng() % 20 == 0) {
		(void)snprintf(buf, len, "[*]*");
		return;
	}
	used = (size_t)snprintf(buf, len, "%s",
	    quals[prng() % (sizeof(quals) / sizeof(quals[0]))]);
	n = 1 + prng() % 3;
	for (i = 0; i < n; i++)
		used += (size_t)snprintf(buf + used, len - used, "%s%s",
		    i ? ":" : "", segs[prng() % (sizeof(segs) / sizeof(segs[0]))]);
}

/* A random capability as JSON text: 1..4 distinct resources. */
static void
random_capability(char *buf, size_t len)
{
	char names[4][32];
	size_t n = 1 + prng() % 4, i, j, used, count = 0;

	used = (size_t)snprintf(buf, len, "{");
	for (i = 0; i < n; i++) {
		int dup = 0;

		random_pattern(names[count], sizeof(names[count]));
		for (j = 0; j < count; j++)
			dup |= strcmp(names[j], names[count]) == 0;
		if (dup)
			continue;
		used += (size_t)snprintf(buf + used, len - used, "%s\"%s\":[",
		    count ? "," : "", names[count]);
		count++;
		if (prng() % 5 == 0) {
			used += (size_t)snprintf(buf + used, len - used,
			    "\"*\"]");
		} else {
			unsigned mask = 1 + prng() % ((1u << (N_PROP_OPS - 1)) -
			    1);  /* never "history" alone, sometimes none of it */
			int first = 1;

			if (prng() % 4 == 0)
				mask |= 1u << (N_PROP_OPS - 1);
			for (j = 0; j < N_PROP_OPS; j++) {
				if (!(mask & (1u << j)))
					continue;
				used += (size_t)snprintf(buf + used, len - used,
				    "%s\"%s\"", first ? "" : ",", prop_ops[j]);
				first = 0;
			}
			used += (size_t)snprintf(buf + used, len - used, "]");
		}
	}
	(void)snprintf(buf + used, len - used, "}");
}

/* 1 if cap allows op on the single resource (pattern or name). */
static int
allows_one(const struct capability *cap, const char *resource,
           const char *op)
{
	char *ops[1] = { (char *)op };
	struct cap_entry ent = { (char *)resource, ops, 1 };
	struct capability one = { &ent, 1 };

	return cap_allows(cap, &one);
}

static void
test_intersect_property(void **state)
{
	static const char *const quals[] = { "", "[q]", "[r]" };
	static const char *const segs[] = { "a", "b", "a*" };
	const char *seed_env = getenv("CAP_PROPERTY_SEED");
	uint64_t seed = seed_env ? strtoull(seed_env, NULL, 0) :
	    0x5eed0f0ab1e5ULL;
	char names[400][24];
	size_t n_names = 0, q, len, i, k, iter;

	(void)state;
	/* Every plain name of 1..4 segments over the alphabet. */
	for (q = 0; q < 3; q++) {
		for (len = 1; len <= 4; len++) {
			size_t combos = 1, c;

			for (i = 0; i < len; i++)
				combos *= 3;
			for (c = 0; c < combos; c++) {
				size_t v = c, used;

				used = (size_t)snprintf(names[n_names], 24, "%s",
				    quals[q]);
				for (i = 0; i < len; i++, v /= 3)
					used += (size_t)snprintf(names[n_names] +
					    used, 24 - used, "%s%s", i ? ":" : "",
					    segs[v % 3]);
				n_names++;
			}
		}
	}
	assert_true(n_names <= sizeof(names) / sizeof(names[0]));
	prng_state = seed;
	for (iter = 0; iter < 3000; iter++) {
		char ta[512], tb[512];
		struct capability *a, *b, *x = NULL;
		struct tok_error e;

		random_capability(ta, sizeof(ta));
		random_capability(tb, sizeof(tb));
		a = parse_strict(ta);
		b = parse_strict(tb);
		assert_int_equal(cap_intersect(a, b, &x, &e), TOK_OK);
		/* Every (pattern, op) of the result is allowed by both. */
		for (i = 0; i < x->n; i++) {
			for (k = 0; k < x->entries[i].nops; k++) {
				const char *r = x->entries[i].resource;
				const char *op = x->entries[i].ops[k];

				if (!allows_one(a, r, op) || !allows_one(b, r, op))
					fail_msg("seed %#llx iteration %zu: %s & "
					    "%s holds %s:%s, not allowed by both",
					    (unsigned long long)seed, iter, ta,
					    tb, r, op);
			}
		}
		/* For plain names: allowed by the result exactly when
		 * allowed by both. */
		for (i = 0; i < n_names; i++) {
			for (k = 0; k < N_PROP_OPS; k++) {
				int both = allows_one(a, names[i], prop_ops[k]) &&
				    allows_one(b, names[i], prop_ops[k]);
				int got = allows_one(x, names[i], prop_ops[k]);

				if (both != got)
					fail_msg("seed %#llx iteration %zu: %s & "
					    "%s %s %s:%s", (unsigned long long)seed,
					    iter, ta, tb, both ? "lost" :
					    "invented", names[i], prop_ops[k]);
			}
		}
		cap_free(x);
		cap_free(a);
		cap_free(b);
	}
}

/* ------------------------------------------------------------------ */
/* Templates */

static void
test_templates(void **state)
{
	char *s;

	(void)state;
	assert_true(cap_template_ok("chat:{clientId}"));
	assert_true(cap_template_ok("{clientId}:{clientId}:*"));
	assert_true(cap_template_ok("plain"));
	assert_false(cap_template_ok("chat:{clientID}"));
	assert_false(cap_template_ok("chat:{"));
	assert_false(cap_template_ok("}"));
	assert_false(cap_template_ok("{{clientId}}"));
	assert_true(cap_is_template("x{clientId}y"));
	assert_false(cap_is_template("x{client}y"));

	assert_true(cap_template_value_ok("alice"));
	assert_true(cap_template_value_ok("Zo\xc3\xab \xf0\x9f\x98\x80"));
	assert_true(cap_template_value_ok("a.b@example.com"));
	assert_false(cap_template_value_ok(""));
	assert_false(cap_template_value_ok("*"));
	assert_false(cap_template_value_ok("a:b"));
	assert_false(cap_template_value_ok("a*"));
	assert_false(cap_template_value_ok("[meta]x"));
	assert_false(cap_template_value_ok("x]"));
	assert_false(cap_template_value_ok("{clientId}"));
	assert_false(cap_template_value_ok("}"));

	s = cap_fill_template("chat:{clientId}:*", "bob");
	assert_string_equal(s, "chat:bob:*");
	free(s);
	s = cap_fill_template("{clientId}-{clientId}", "\xc3\xa9");
	assert_string_equal(s, "\xc3\xa9-\xc3\xa9");
	free(s);
	s = cap_fill_template("none", "bob");
	assert_string_equal(s, "none");
	free(s);
	/* No second round: an id that looks like the placeholder is kept. */
	s = cap_fill_template("u:{clientId}", "{clientId}");
	assert_string_equal(s, "u:{clientId}");
	free(s);
}

static void
test_substitute(void **state)
{
	static const struct {
		const char *tmpl, *id, *want;  /* want NULL = refused */
	} cases[] = {
		{ "{\"private:{clientId}\":[\"*\"],\"public\":[\"subscribe\"]}",
		  "alice",
		  "{\"private:alice\":[\"*\"],\"public\":[\"subscribe\"]}" },
		/* anonymous: templated resources are left out */
		{ "{\"private:{clientId}\":[\"*\"],\"public\":[\"subscribe\"]}",
		  NULL, "{\"public\":[\"subscribe\"]}" },
		{ "{\"private:{clientId}\":[\"*\"]}", NULL, "{}" },
		/* hostile ids never become wildcards or new segments */
		{ "{\"private:{clientId}\":[\"*\"]}", "*", NULL },
		{ "{\"private:{clientId}\":[\"*\"]}", "a:*", NULL },
		{ "{\"private:{clientId}\":[\"*\"]}", "bob:secret", NULL },
		{ "{\"private:{clientId}\":[\"*\"]}", "[meta]x", NULL },
		{ "{\"private:{clientId}\":[\"*\"]}", "{clientId}", NULL },
		{ "{\"private:{clientId}\":[\"*\"]}", "Zo\xc3\xab",
		  "{\"private:Zo\xc3\xab\":[\"*\"]}" },
		/* no template: any id is fine, nothing changes */
		{ "{\"b\":[\"subscribe\",\"publish\",\"publish\"],\"a\":[\"*\"]}",
		  "x:*", "{\"a\":[\"*\"],\"b\":[\"publish\",\"publish\","
		  "\"subscribe\"]}" },
		/* filled names are re-sorted and equal ones merged */
		{ "{\"{clientId}\":[\"subscribe\"],\"m\":[\"publish\"]}", "a",
		  "{\"a\":[\"subscribe\"],\"m\":[\"publish\"]}" },
		{ "{\"u:{clientId}\":[\"publish\"],\"u:bob\":[\"subscribe\","
		  "\"publish\"]}", "bob",
		  "{\"u:bob\":[\"publish\",\"subscribe\"]}" },
		{ "{\"u:{clientId}\":[\"*\"],\"u:bob\":[\"subscribe\"]}", "bob",
		  "{\"u:bob\":[\"*\"]}" },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct capability *t = parse_strict(cases[i].tmpl), *out = NULL;
		struct tok_error e;
		enum tok_err rc = cap_substitute(t, cases[i].id, &out, &e);

		if (cases[i].want == NULL) {
			if (rc != TOK_EDENIED)
				fail_msg("%s with %s: rc %d, want refused",
				    cases[i].tmpl, cases[i].id, rc);
			assert_int_equal(e.code, 40300);
			assert_null(out);
		} else {
			char *s;

			assert_int_equal(rc, TOK_OK);
			s = cap_to_string(out);
			if (strcmp(s, cases[i].want) != 0)
				fail_msg("%s with %s = %s, want %s",
				    cases[i].tmpl, cases[i].id ? cases[i].id :
				    "(none)", s, cases[i].want);
			free(s);
			cap_free(out);
		}
		cap_free(t);
	}
}

UNIT_MAIN("capability",
    cmocka_unit_test(test_canonical_form),
    cmocka_unit_test(test_lax_vs_strict),
    cmocka_unit_test(test_resource_covers),
    cmocka_unit_test(test_allows),
    cmocka_unit_test(test_utf16_cmp_and_text_ok),
    cmocka_unit_test(test_resource_intersect),
    cmocka_unit_test(test_intersect),
    cmocka_unit_test(test_intersect_unknown_op),
    cmocka_unit_test(test_intersect_property),
    cmocka_unit_test(test_templates),
    cmocka_unit_test(test_substitute))
