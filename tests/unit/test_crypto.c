/* Unit tests: crypto (RFC 4231 HMAC-SHA256, RFC 4648 base64, base64url,
 * nonces, constant-time compare). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "crypto.h"
#include "unit.h"

static void
hex(const unsigned char *p, size_t n, char *out)
{
	static const char h[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < n; i++) {
		out[2 * i] = h[p[i] >> 4];
		out[2 * i + 1] = h[p[i] & 15];
	}
	out[2 * n] = '\0';
}

/* RFC 4231 test cases 1, 2, 6 and 7 (SHA-256 column). */
static void
test_hmac_rfc4231(void **state)
{
	unsigned char k1[20], k6[131];
	static const struct {
		int key;  /* 1: 0x0b*20, 2: "Jefe", 6/7: 0xaa*131 */
		const char *msg;
		const char *mac;
	} cases[] = {
		{ 1, "Hi There", "b0344c61d8db38535ca8afceaf0bf12b"
		    "881dc200c9833da726e9376c2e32cff7" },
		{ 2, "what do ya want for nothing?",
		    "5bdcc146bf60754e6a042426089575c7"
		    "5a003f089d2739839dec58b964ec3843" },
		{ 6, "Test Using Larger Than Block-Size Key - Hash Key First",
		    "60e431591ee0b67f0d8a26aacbf5b77f"
		    "8e0bc6213728c5140546040f0ee37f54" },
		{ 7, "This is a test using a larger than block-size key and a "
		    "larger than block-size data. The key needs to be hashed "
		    "before being used by the HMAC algorithm.",
		    "9b09ffa71b942fcb27635fbcd5b0e944"
		    "bfdc63644f0713938a7f51535c3a35e2" },
	};
	size_t i;

	(void)state;
	memset(k1, 0x0b, sizeof(k1));
	memset(k6, 0xaa, sizeof(k6));
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		unsigned char mac[CRYPTO_MAC_LEN];
		char got[2 * CRYPTO_MAC_LEN + 1];
		const void *key = cases[i].key == 1 ? (const void *)k1 :
		    cases[i].key == 2 ? (const void *)"Jefe" : (const void *)k6;
		size_t keylen = cases[i].key == 1 ? sizeof(k1) :
		    cases[i].key == 2 ? 4 : sizeof(k6);

		assert_int_equal(crypto_hmac_sha256(key, keylen, cases[i].msg,
		    strlen(cases[i].msg), mac), TOK_OK);
		hex(mac, sizeof(mac), got);
		assert_string_equal(got, cases[i].mac);
	}
}

/* The reusable context gives the same MACs as the one-shot HMAC, again
 * and again (the re-init must keep the key). */
static void
test_hmac_reused_context(void **state)
{
	static const char *const msgs[] = { "Hi There", "", "a\nb\n",
	    "what do ya want for nothing?" };
	struct crypto_hmac *h = crypto_hmac_new("Jefe", 4);
	size_t i, round;

	(void)state;
	assert_non_null(h);
	for (round = 0; round < 3; round++) {
		for (i = 0; i < sizeof(msgs) / sizeof(msgs[0]); i++) {
			unsigned char a[CRYPTO_MAC_LEN], b[CRYPTO_MAC_LEN];

			assert_int_equal(crypto_hmac_sign(h, msgs[i],
			    strlen(msgs[i]), a), TOK_OK);
			assert_int_equal(crypto_hmac_sha256("Jefe", 4, msgs[i],
			    strlen(msgs[i]), b), TOK_OK);
			assert_memory_equal(a, b, CRYPTO_MAC_LEN);
		}
	}
	crypto_hmac_free(h);
	crypto_hmac_free(NULL);
}

/* RFC 4648 §10 vectors, plus the url alphabet and no padding. */
static void
test_base64(void **state)
{
	static const struct {
		const char *in, *b64, *b64url;
	} cases[] = {
		{ "", "", "" },
		{ "f", "Zg==", "Zg" },
		{ "fo", "Zm8=", "Zm8" },
		{ "foo", "Zm9v", "Zm9v" },
		{ "foob", "Zm9vYg==", "Zm9vYg" },
		{ "fooba", "Zm9vYmE=", "Zm9vYmE" },
		{ "foobar", "Zm9vYmFy", "Zm9vYmFy" },
		{ "\xfb\xff\xbf", "+/+/", "-_-_" },
		{ "\xff\xfe", "//4=", "__4" },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char out[32];
		unsigned char back[32];
		size_t n = strlen(cases[i].in);
		long m;

		assert_int_equal(crypto_b64(cases[i].in, n, out),
		    strlen(cases[i].b64));
		assert_string_equal(out, cases[i].b64);
		assert_int_equal(crypto_b64_len(n), strlen(cases[i].b64));
		assert_int_equal(crypto_b64url(cases[i].in, n, out),
		    strlen(cases[i].b64url));
		assert_string_equal(out, cases[i].b64url);
		m = crypto_b64url_decode(cases[i].b64url,
		    strlen(cases[i].b64url), back);
		assert_int_equal(m, (long)n);
		assert_memory_equal(back, cases[i].in, n);
	}
}

static void
test_b64url_decode_rejects(void **state)
{
	unsigned char out[16];

	(void)state;
	assert_int_equal(crypto_b64url_decode("Zm9v+", 5, out), -1);
	assert_int_equal(crypto_b64url_decode("Zm9v/A", 6, out), -1);
	assert_int_equal(crypto_b64url_decode("Zg==", 4, out), -1);
	assert_int_equal(crypto_b64url_decode("Z", 1, out), -1);
	assert_int_equal(crypto_b64url_decode("Zm!v", 4, out), -1);
}

static void
test_nonce(void **state)
{
	char a[CRYPTO_NONCE_LEN + 1], b[CRYPTO_NONCE_LEN + 1];

	(void)state;
	assert_int_equal(crypto_nonce(a), TOK_OK);
	assert_int_equal(crypto_nonce(b), TOK_OK);
	assert_int_equal(strlen(a), CRYPTO_NONCE_LEN);
	assert_int_equal(strspn(a, "0123456789abcdef"), CRYPTO_NONCE_LEN);
	assert_string_not_equal(a, b);
}

/* Nonces come from a pool drawn in one call; a child forked after the
 * parent drew one must not hand out the parent's next nonce. */
static void
test_nonce_pool_not_shared_across_fork(void **state)
{
	char parent_next[CRYPTO_NONCE_LEN + 1], child_next[CRYPTO_NONCE_LEN + 1];
	char seen[4][CRYPTO_NONCE_LEN + 1];
	int fds[2], status, i, j;
	pid_t pid;

	(void)state;
	assert_int_equal(crypto_nonce(seen[0]), TOK_OK);  /* pool filled */
	assert_int_equal(pipe(fds), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int ok = crypto_nonce(child_next) == TOK_OK &&
		    write(fds[1], child_next, sizeof(child_next)) ==
		    (ssize_t)sizeof(child_next);
		_exit(ok ? 0 : 1);
	}
	close(fds[1]);
	assert_int_equal(read(fds[0], child_next, sizeof(child_next)),
	    (ssize_t)sizeof(child_next));
	close(fds[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	assert_int_equal(crypto_nonce(parent_next), TOK_OK);
	assert_string_not_equal(parent_next, child_next);
	/* Consecutive nonces from the pool differ, across a refill too. */
	for (i = 0; i < 600; i++) {
		assert_int_equal(crypto_nonce(seen[i % 4]), TOK_OK);
		for (j = 0; j < 4 && i >= 3; j++)
			if (j != i % 4)
				assert_string_not_equal(seen[j], seen[i % 4]);
	}
}

static void
test_equal_and_wipe(void **state)
{
	char s[] = "secret-bytes";

	(void)state;
	assert_true(crypto_equal("abcd", "abcd", 4));
	assert_false(crypto_equal("abcd", "abce", 4));
	crypto_wipe(s, sizeof(s));
	assert_int_equal(s[0], 0);
	assert_int_equal(s[sizeof(s) - 2], 0);
	crypto_wipe(NULL, 10);  /* must not crash */
}

UNIT_MAIN("crypto",
    cmocka_unit_test(test_hmac_rfc4231),
    cmocka_unit_test(test_hmac_reused_context),
    cmocka_unit_test(test_base64),
    cmocka_unit_test(test_b64url_decode_rejects),
    cmocka_unit_test(test_nonce),
    cmocka_unit_test(test_nonce_pool_not_shared_across_fork),
    cmocka_unit_test(test_equal_and_wipe))
