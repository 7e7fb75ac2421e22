/* Unit tests: Ably JWTs against tests/vectors/jwt.json, checked both
 * byte for byte and by decoding and verifying the HS256 signature. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "capability.h"
#include "crypto.h"
#include "jwt.h"
#include "key.h"
#include "vectors.h"
#include "unit.h"

/* Decode a base64url part into a new NUL-terminated string. */
static char *
decode_part(const char *s, size_t n)
{
	char *out = malloc(n + 1);
	long m;

	assert_non_null(out);
	m = crypto_b64url_decode(s, n, (unsigned char *)out);
	assert_true(m >= 0);
	out[m] = '\0';
	return out;
}

/* Split, decode and verify jwt with secret; return the claims parsed. */
static struct json_object *
verify(const char *jwt, const char *secret, struct json_object **header)
{
	const char *d1 = strchr(jwt, '.'), *d2;
	unsigned char mac[CRYPTO_MAC_LEN];
	char sig[64], *h, *c;
	struct json_object *claims;

	assert_non_null(d1);
	d2 = strchr(d1 + 1, '.');
	assert_non_null(d2);
	assert_null(strchr(d2 + 1, '.'));
	assert_int_equal(crypto_hmac_sha256(secret, strlen(secret), jwt,
	    (size_t)(d2 - jwt), mac), TOK_OK);
	crypto_b64url(mac, sizeof(mac), sig);
	assert_string_equal(sig, d2 + 1);
	h = decode_part(jwt, (size_t)(d1 - jwt));
	c = decode_part(d1 + 1, (size_t)(d2 - d1 - 1));
	*header = json_tokener_parse(h);
	claims = json_tokener_parse(c);
	assert_non_null(*header);
	assert_non_null(claims);
	free(h);
	free(c);
	return claims;
}

static void
test_vectors(void **state)
{
	struct json_object *root = load_vectors("jwt.json"), *vectors;
	size_t i, n;

	(void)state;
	vectors = vectors_list(root, 7, &n);
	for (i = 0; i < n; i++) {
		struct json_object *v = json_object_array_get_idx(vectors, i);
		struct json_object *capin, *extra, *hdr, *claims, *want;
		struct jwt_claims cl = { 0 };
		struct capability *cap;
		struct tok_error e;
		struct ably_key k;
		char *capstr = NULL, *jwt;
		const char *id = member_str(v, "id");

		assert_int_equal(key_parse(member_str(v, "key"), &k, &e),
		    TOK_OK);
		cl.iat = atoll(member_str(v, "iat"));
		cl.exp = atoll(member_str(v, "exp"));
		if (json_object_object_get_ex(v, "capability_input", &capin) &&
		    !json_object_is_type(capin, json_type_null)) {
			assert_int_equal(cap_from_json(capin, CAP_LAX, &cap, &e),
			    TOK_OK);
			capstr = cap_to_string(cap);
			cap_free(cap);
			assert_string_equal(capstr,
			    member_str(v, "capability_claim"));
		}
		cl.capability = capstr;
		cl.client_id = member_str(v, "clientId");
		assert_true(json_object_object_get_ex(v, "extraClaims", &extra));
		cl.revocation_key = member_str(extra, "x-ably-revocation-key");
		assert_int_equal(jwt_sign(&k, &cl, &jwt, &e), TOK_OK);

		if (strcmp(jwt, member_str(v, "jwt")) != 0)
			fail_msg("%s: JWT differs", id);
		claims = verify(jwt, k.secret, &hdr);
		assert_true(json_object_object_get_ex(v, "header", &want));
		assert_true(json_object_equal(hdr, want));
		assert_true(json_object_object_get_ex(v, "claims", &want));
		assert_true(json_object_equal(claims, want));
		json_object_put(hdr);
		json_object_put(claims);
		free(jwt);
		free(capstr);
		key_clear(&k);
	}
	json_object_put(root);
}

static void
test_tampered_signature_fails(void **state)
{
	struct ably_key k;
	struct tok_error e;
	struct jwt_claims cl = { 1700000000, 1700003600, "{\"*\":[\"*\"]}",
	    "alice", NULL, NULL, 0 };
	unsigned char mac[CRYPTO_MAC_LEN];
	char *jwt, sig[64];
	const char *d2;

	(void)state;
	assert_int_equal(key_parse("app.key:secretA", &k, &e), TOK_OK);
	assert_int_equal(jwt_sign(&k, &cl, &jwt, &e), TOK_OK);
	d2 = strrchr(jwt, '.');
	/* the same input under another secret gives another signature */
	assert_int_equal(crypto_hmac_sha256("secretB", 7, jwt,
	    (size_t)(d2 - jwt), mac), TOK_OK);
	crypto_b64url(mac, sizeof(mac), sig);
	assert_string_not_equal(sig, d2 + 1);
	free(jwt);
	/* exp must follow iat */
	cl.exp = cl.iat;
	assert_int_equal(jwt_sign(&k, &cl, &jwt, &e), TOK_EINVAL);
	assert_null(jwt);
	key_clear(&k);
}

/* The extra claims Ably documents: after the x-ably-* ones, in the
 * order given, strings as strings and rates as JSON numbers. */
static void
test_extra_claims(void **state)
{
	struct jwt_extra extra[] = {
		{ (char *)"ably.channel.private:alice", (char *)"{\"role\":1}",
		  0 },
		{ (char *)"ably.limits.publish.perAttachment.maxRate.lobby",
		  (char *)"2.5", 1 },
		{ (char *)"ably.limits.publish.perAttachment.maxRate.chat:*",
		  (char *)"10", 1 },
	};
	struct jwt_claims cl = { 1700000000, 1700003600, "{\"*\":[\"*\"]}",
	    "alice", "user:alice", extra, 3 };
	struct json_object *claims, *hdr, *v;
	struct ably_key k;
	struct tok_error e;
	const char *payload, *d1, *d2;
	char *jwt, *text;

	(void)state;
	assert_int_equal(key_parse("app.key:secretA", &k, &e), TOK_OK);
	assert_int_equal(jwt_sign(&k, &cl, &jwt, &e), TOK_OK);
	claims = verify(jwt, k.secret, &hdr);
	assert_true(json_object_object_get_ex(claims, "x-ably-revocation-key",
	    &v));
	assert_string_equal(json_object_get_string(v), "user:alice");
	assert_true(json_object_object_get_ex(claims,
	    "ably.channel.private:alice", &v));
	assert_true(json_object_is_type(v, json_type_string));
	assert_string_equal(json_object_get_string(v), "{\"role\":1}");
	assert_true(json_object_object_get_ex(claims,
	    "ably.limits.publish.perAttachment.maxRate.lobby", &v));
	assert_true(json_object_is_type(v, json_type_double));
	assert_true(json_object_object_get_ex(claims,
	    "ably.limits.publish.perAttachment.maxRate.chat:*", &v));
	/* the claims text, in order, numbers as written */
	d1 = strchr(jwt, '.');
	d2 = strchr(d1 + 1, '.');
	payload = d1 + 1;
	text = decode_part(payload, (size_t)(d2 - payload));
	assert_string_equal(text, "{\"iat\":1700000000,\"exp\":1700003600,"
	    "\"x-ably-capability\":\"{\\\"*\\\":[\\\"*\\\"]}\","
	    "\"x-ably-clientId\":\"alice\","
	    "\"x-ably-revocation-key\":\"user:alice\","
	    "\"ably.channel.private:alice\":\"{\\\"role\\\":1}\","
	    "\"ably.limits.publish.perAttachment.maxRate.lobby\":2.5,"
	    "\"ably.limits.publish.perAttachment.maxRate.chat:*\":10}");
	free(text);
	json_object_put(claims);
	json_object_put(hdr);
	free(jwt);
	key_clear(&k);
}

/* Nothing undocumented is signed. */
static void
test_extra_claims_refused(void **state)
{
	static const struct {
		const char *name, *value;
		int number;
	} bad[] = {
		{ "x-ably-capability", "{}", 0 },           /* not an extra */
		{ "ably.channel.", "x", 0 },                /* no channel */
		{ "ably.limits.publish.perAttachment.maxRate.", "1", 1 },
		{ "ably.channel.a", "1", 1 },               /* number kind */
		{ "ably.limits.publish.perAttachment.maxRate.a", "1", 0 },
		{ "ably.limits.publish.perAttachment.maxRate.a", "0", 1 },
		{ "ably.limits.publish.perAttachment.maxRate.a", "-1", 1 },
		{ "ably.limits.publish.perAttachment.maxRate.a", "1e3", 1 },
		{ "ably.limits.publish.perAttachment.maxRate.a", "1.", 1 },
		{ "ably.limits.publish.perAttachment.maxRate.a", "", 1 },
		{ "ably.limits.subscribe.a", "1", 1 },
		{ "ably.other", "x", 0 },
	};
	struct ably_key k;
	struct tok_error e;
	size_t i;

	(void)state;
	assert_int_equal(key_parse("app.key:secretA", &k, &e), TOK_OK);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct jwt_extra x = { (char *)bad[i].name,
		    (char *)bad[i].value, bad[i].number };
		struct jwt_claims cl = { 1700000000, 1700003600, NULL, NULL,
		    NULL, &x, 1 };
		char *jwt = (char *)"untouched";

		if (jwt_sign(&k, &cl, &jwt, &e) != TOK_EINVAL)
			fail_msg("signed extra claim %s = %s", bad[i].name,
			    bad[i].value);
		assert_null(jwt);
	}
	/* the same claim twice */
	{
		struct jwt_extra two[] = {
			{ (char *)"ably.channel.a", (char *)"x", 0 },
			{ (char *)"ably.channel.a", (char *)"y", 0 },
		};
		struct jwt_claims cl = { 1700000000, 1700003600, NULL, NULL,
		    NULL, two, 2 };
		char *jwt;

		assert_int_equal(jwt_sign(&k, &cl, &jwt, &e), TOK_EINVAL);
	}
	key_clear(&k);
}

UNIT_MAIN("jwt",
    cmocka_unit_test(test_vectors),
    cmocka_unit_test(test_tampered_signature_fails),
    cmocka_unit_test(test_extra_claims),
    cmocka_unit_test(test_extra_claims_refused))
