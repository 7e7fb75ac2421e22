/* test_key: key_parse (ably-js's key format), key_sign against a one-shot
 * HMAC and RFC 4231's first vector, key_clear.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "crypto.h"
#include "key.h"
#include "unit.h"


struct parse_case {
	const char *text;
	enum tok_err want;
	const char *name, *secret;
};

static void
test_parse(void **state)
{
	static const struct parse_case cases[] = {
		{ "app.key:secret", TOK_OK, "app.key", "secret" },
		{ "xVLyHw.A1b2Cq:Jw0xqsCIBjTJP0uLqGsYz3f7e5dN5PLV", TOK_OK,
		  "xVLyHw.A1b2Cq", "Jw0xqsCIBjTJP0uLqGsYz3f7e5dN5PLV" },
		/* The secret may hold base64's + / = and -, _. */
		{ "a.b:+/=-_", TOK_OK, "a.b", "+/=-_" },
		{ "a.b.c:s", TOK_OK, "a.b.c", "s" },
		{ "app.key", TOK_EINVAL, NULL, NULL },       /* no secret */
		{ "app.key:", TOK_EINVAL, NULL, NULL },
		{ ":secret", TOK_EINVAL, NULL, NULL },
		{ "appkey:secret", TOK_EINVAL, NULL, NULL },  /* no '.' */
		{ "app.key:sec:ret", TOK_EINVAL, NULL, NULL },
		{ "app.key:sec.ret", TOK_EINVAL, NULL, NULL },
		{ "app.key:sec ret", TOK_EINVAL, NULL, NULL },
		{ " app.key:secret", TOK_EINVAL, NULL, NULL },
		{ "app.key:secret\n", TOK_EINVAL, NULL, NULL },
		{ "app.key:secret\t", TOK_EINVAL, NULL, NULL },
		{ "", TOK_EINVAL, NULL, NULL },
	};
	size_t i;

	(void)state;
	for (i = 0; i < N_ELEMENTS(cases); i++) {
		struct ably_key k;
		struct tok_error e;
		enum tok_err rc;

		memset(&e, 0, sizeof(e));
		rc = key_parse(cases[i].text, &k, &e);
		if (rc != cases[i].want)
			fail_msg("key \"%s\": rc %d, want %d", cases[i].text, rc,
			    cases[i].want);
		if (rc != TOK_OK) {
			/* Left empty, and a message with Ably's code. */
			assert_false(key_loaded(&k));
			assert_null(k.name);
			assert_null(k.hmac);
			assert_int_equal(e.code, 40101);
			assert_true(e.message[0] != '\0');
			continue;
		}
		assert_true(key_loaded(&k));
		assert_string_equal(k.name, cases[i].name);
		assert_string_equal(k.secret, cases[i].secret);
		assert_int_equal(k.secret_len, strlen(cases[i].secret));
		assert_non_null(k.hmac);
		key_clear(&k);
		assert_false(key_loaded(&k));
		assert_null(k.name);
		assert_int_equal(k.secret_len, 0);
	}
}

/* A refused key's message never quotes it: it goes to the log. */
static void
test_message_hides_secret(void **state)
{
	static const char *const bad[] = { "app.key:Sup3rS3cretValue.x",
	    "app.key:Sup3rS3cretValue:x", "app.key:Sup3rS3cretValue x",
	    "appkey:Sup3rS3cretValue" };
	size_t i;

	(void)state;
	for (i = 0; i < N_ELEMENTS(bad); i++) {
		struct ably_key k;
		struct tok_error e;

		assert_int_equal(key_parse(bad[i], &k, &e), TOK_EINVAL);
		assert_null(strstr(e.message, "Sup3rS3cret"));
	}
}

/* key_sign through the reusable context equals a one-shot HMAC, again and
 * again (the context is reset between uses). */
static void
test_sign(void **state)
{
	static const char *const msgs[] = { "", "a", "TESTAPP.k\n\n\n1\nn\n",
	    "a longer message, longer than one SHA-256 block of sixty-four "
	    "bytes, to cross a block boundary" };
	struct ably_key k;
	struct tok_error e;
	size_t i, round;

	(void)state;
	assert_int_equal(key_parse("app.key:the-secret", &k, &e), TOK_OK);
	for (round = 0; round < 2; round++) {
		for (i = 0; i < N_ELEMENTS(msgs); i++) {
			unsigned char a[CRYPTO_MAC_LEN], b[CRYPTO_MAC_LEN];

			assert_int_equal(key_sign(&k, msgs[i], strlen(msgs[i]),
			    a), TOK_OK);
			assert_int_equal(crypto_hmac_sha256("the-secret", 10,
			    msgs[i], strlen(msgs[i]), b), TOK_OK);
			assert_memory_equal(a, b, sizeof(a));
		}
	}
	key_clear(&k);
}

/* RFC 4231 test case 2: key "Jefe" (no '.' or ':' inside, so it can be an
 * Ably secret), data "what do ya want for nothing?". */
static void
test_sign_rfc4231(void **state)
{
	static const unsigned char want[CRYPTO_MAC_LEN] = {
		0x5b, 0xdc, 0xc1, 0x46, 0xbf, 0x60, 0x75, 0x4e,
		0x6a, 0x04, 0x24, 0x26, 0x08, 0x95, 0x75, 0xc7,
		0x5a, 0x00, 0x3f, 0x08, 0x9d, 0x27, 0x39, 0x83,
		0x9d, 0xec, 0x58, 0xb9, 0x64, 0xec, 0x38, 0x43,
	};
	static const char data[] = "what do ya want for nothing?";
	unsigned char mac[CRYPTO_MAC_LEN];
	struct ably_key k;
	struct tok_error e;

	(void)state;
	assert_int_equal(key_parse("rfc.4231:Jefe", &k, &e), TOK_OK);
	assert_int_equal(key_sign(&k, data, sizeof(data) - 1, mac), TOK_OK);
	assert_memory_equal(mac, want, sizeof(want));
	key_clear(&k);
}

/* No key: signing refuses (a config without a key must not sign), and
 * clearing an empty key twice is harmless. */
static void
test_empty(void **state)
{
	unsigned char mac[CRYPTO_MAC_LEN];
	struct ably_key k;

	(void)state;
	memset(&k, 0, sizeof(k));
	assert_false(key_loaded(&k));
	assert_int_equal(key_sign(&k, "x", 1, mac), TOK_ECONFIG);
	key_clear(&k);
	key_clear(&k);
	assert_false(key_loaded(&k));
}

UNIT_MAIN("key",
    cmocka_unit_test(test_parse),
    cmocka_unit_test(test_message_hides_secret),
    cmocka_unit_test(test_sign),
    cmocka_unit_test(test_sign_rfc4231),
    cmocka_unit_test(test_empty))
