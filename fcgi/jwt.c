/* jwt: build and sign Ably JWTs with HMAC-SHA256. */
#include "jwt.h"

#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "buf.h"
#include "crypto.h"

/* Append base64url(s) to out. */
static enum tok_err
add_b64url(struct buf *out, const void *s, size_t n)
{
	char *tmp;
	enum tok_err rc;
	size_t len;

	tmp = malloc(crypto_b64_len(n) + 1);
	if (tmp == NULL)
		return TOK_ENOMEM;
	len = crypto_b64url(s, n, tmp);
	rc = buf_add(out, tmp, len);
	free(tmp);
	return rc;
}

/* Append base64url(JSON text of obj) to out; consumes obj. */
static enum tok_err
add_json_part(struct buf *out, struct json_object *obj)
{
	const char *s;
	enum tok_err rc = TOK_ENOMEM;

	if (obj == NULL)
		return TOK_ENOMEM;
	s = json_object_to_json_string_ext(obj,
	    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	if (s != NULL)
		rc = add_b64url(out, s, strlen(s));
	json_object_put(obj);
	return rc;
}

static int
add(struct json_object *obj, const char *key, struct json_object *value)
{
	if (value == NULL)
		return -1;
	if (json_object_object_add(obj, key, value) != 0) {
		json_object_put(value);
		return -1;
	}
	return 0;
}

static struct json_object *
header_json(const struct ably_key *k)
{
	struct json_object *h = json_object_new_object();
	int bad = 0;

	if (h == NULL)
		return NULL;
	bad |= add(h, "typ", json_object_new_string("JWT"));
	bad |= add(h, "alg", json_object_new_string("HS256"));
	bad |= add(h, "kid", json_object_new_string(k->name));
	if (bad) {
		json_object_put(h);
		return NULL;
	}
	return h;
}

/* 1 if the extra claims are the documented kinds, each once. */
static int
extras_ok(const struct jwt_claims *c)
{
	const size_t cl = strlen(JWT_CHANNEL_CLAIM), rl = strlen(JWT_RATE_CLAIM);
	size_t i, j;

	for (i = 0; i < c->n_extra; i++) {
		const struct jwt_extra *x = &c->extra[i];
		const char *v = x->value;
		size_t digits;

		if (x->name == NULL || v == NULL)
			return 0;
		if (x->number ? (strncmp(x->name, JWT_RATE_CLAIM, rl) != 0 ||
		    x->name[rl] == '\0') : (strncmp(x->name, JWT_CHANNEL_CLAIM,
		    cl) != 0 || x->name[cl] == '\0'))
			return 0;
		if (x->number) {
			/* digits, optionally a fraction; positive */
			digits = strspn(v, "0123456789");
			if (digits == 0)
				return 0;
			if (v[digits] == '.') {
				size_t f = strspn(v + digits + 1, "0123456789");

				if (f == 0)
					return 0;
				digits += 1 + f;
			}
			if (v[digits] != '\0' || !(strtod(v, NULL) > 0))
				return 0;
		}
		for (j = 0; j < i; j++)
			if (strcmp(c->extra[j].name, x->name) == 0)
				return 0;
	}
	return 1;
}

static struct json_object *
claims_json(const struct jwt_claims *c)
{
	struct json_object *o = json_object_new_object();
	int bad = 0;
	size_t i;

	if (o == NULL)
		return NULL;
	bad |= add(o, "iat", json_object_new_int64(c->iat));
	bad |= add(o, "exp", json_object_new_int64(c->exp));
	if (c->capability != NULL)
		bad |= add(o, "x-ably-capability",
		    json_object_new_string(c->capability));
	if (c->client_id != NULL)
		bad |= add(o, "x-ably-clientId",
		    json_object_new_string(c->client_id));
	if (c->revocation_key != NULL)
		bad |= add(o, "x-ably-revocation-key",
		    json_object_new_string(c->revocation_key));
	for (i = 0; i < c->n_extra && !bad; i++) {
		const struct jwt_extra *x = &c->extra[i];

		if (x->number)
			bad |= add(o, x->name, json_object_new_double_s(
			    strtod(x->value, NULL), x->value));
		else
			bad |= add(o, x->name,
			    json_object_new_string(x->value));
	}
	if (bad) {
		json_object_put(o);
		return NULL;
	}
	return o;
}

enum tok_err
jwt_sign(const struct ably_key *k, const struct jwt_claims *c, char **out,
         struct tok_error *e)
{
	unsigned char mac[CRYPTO_MAC_LEN];
	struct buf jwt;
	enum tok_err rc;

	*out = NULL;
	if (c->exp <= c->iat)
		return tok_fail(e, TOK_EINVAL, 40003,
		    "JWT exp must be later than iat");
	if (!extras_ok(c))
		return tok_fail(e, TOK_EINVAL, 40000,
		    "JWT extra claims must be ably.channel.* strings or "
		    "ably.limits.publish.perAttachment.maxRate.* numbers");
	buf_init(&jwt, 64 * 1024);
	rc = add_json_part(&jwt, header_json(k));
	if (rc == TOK_OK)
		rc = buf_add(&jwt, ".", 1);
	if (rc == TOK_OK)
		rc = add_json_part(&jwt, claims_json(c));
	if (rc == TOK_OK)
		rc = key_sign(k, jwt.data, jwt.len, mac);
	if (rc == TOK_OK)
		rc = buf_add(&jwt, ".", 1);
	if (rc == TOK_OK)
		rc = add_b64url(&jwt, mac, sizeof(mac));
	crypto_wipe(mac, sizeof(mac));
	if (rc != TOK_OK) {
		buf_free(&jwt);
		return tok_fail(e, rc, 0, "could not sign the JWT");
	}
	*out = buf_take(&jwt);
	return *out ? TOK_OK : tok_fail(e, TOK_ENOMEM, 0, "out of memory");
}
