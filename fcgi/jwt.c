/* jwt: build and sign Ably JWTs with HMAC-SHA256. */
#include "jwt.h"

#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "crypto.h"
#include "json_out.h"

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

/* Append base64url of the JSON text in part to out. */
static enum tok_err
add_json_part(struct buf *out, enum tok_err rc, const struct buf *part)
{
	return rc == TOK_OK ? add_b64url(out, part->data, part->len) : rc;
}

/* Append ,"name": (no comma when first). */
static enum tok_err
add_name(struct buf *b, const char *name, int first)
{
	enum tok_err rc = first ? TOK_OK : buf_add(b, ",", 1);

	if (rc == TOK_OK)
		rc = json_out_string(b, name, strlen(name));
	if (rc == TOK_OK)
		rc = buf_add(b, ":", 1);
	return rc;
}

static enum tok_err
add_string_member(struct buf *b, const char *name, const char *value)
{
	enum tok_err rc = add_name(b, name, 0);

	return rc == TOK_OK ? json_out_string(b, value, strlen(value)) : rc;
}

/* The JOSE header, in ably-js's member order. */
static enum tok_err
header_text(struct buf *b, const struct ably_key *k)
{
	enum tok_err rc = buf_adds(b, "{\"typ\":\"JWT\",\"alg\":\"HS256\"");

	if (rc == TOK_OK)
		rc = add_string_member(b, "kid", k->name);
	if (rc == TOK_OK)
		rc = buf_add(b, "}", 1);
	return rc;
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

/* The claims, in ably-js's member order; written directly (json_out.h):
 * a json-c document cost more than the signature. Extra numeric claims
 * keep their text as given (extras_ok checked it is a plain decimal). */
static enum tok_err
claims_text(struct buf *b, const struct jwt_claims *c)
{
	enum tok_err rc = buf_add(b, "{", 1);
	size_t i;

	if (rc == TOK_OK)
		rc = add_name(b, "iat", 1);
	if (rc == TOK_OK)
		rc = buf_add_ll(b, c->iat);
	if (rc == TOK_OK)
		rc = add_name(b, "exp", 0);
	if (rc == TOK_OK)
		rc = buf_add_ll(b, c->exp);
	if (rc == TOK_OK && c->capability != NULL)
		rc = add_string_member(b, "x-ably-capability", c->capability);
	if (rc == TOK_OK && c->client_id != NULL)
		rc = add_string_member(b, "x-ably-clientId", c->client_id);
	if (rc == TOK_OK && c->revocation_key != NULL)
		rc = add_string_member(b, "x-ably-revocation-key",
		    c->revocation_key);
	for (i = 0; rc == TOK_OK && i < c->n_extra; i++) {
		const struct jwt_extra *x = &c->extra[i];

		if (x->number) {
			rc = add_name(b, x->name, 0);
			if (rc == TOK_OK)
				rc = buf_adds(b, x->value);
		} else {
			rc = add_string_member(b, x->name, x->value);
		}
	}
	if (rc == TOK_OK)
		rc = buf_add(b, "}", 1);
	return rc;
}

enum tok_err
jwt_sign(const struct ably_key *k, const struct jwt_claims *c, char **out,
         struct tok_error *e)
{
	unsigned char mac[CRYPTO_MAC_LEN];
	struct buf jwt, part;
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
	buf_init(&part, 64 * 1024);
	rc = add_json_part(&jwt, header_text(&part, k), &part);
	if (rc == TOK_OK)
		rc = buf_add(&jwt, ".", 1);
	buf_reset(&part);
	if (rc == TOK_OK)
		rc = add_json_part(&jwt, claims_text(&part, c), &part);
	buf_free(&part);
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
