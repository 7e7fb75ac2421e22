/* token_request: the signed text, the mac and the JSON document. */
#include "token_request.h"

#include <string.h>

#include "crypto.h"
#include "json_out.h"

/* Append s (NULL: nothing), then a newline. */
static enum tok_err
add_line(struct buf *out, const char *s)
{
	enum tok_err rc = buf_adds(out, s != NULL ? s : "");

	return rc == TOK_OK ? buf_add(out, "\n", 1) : rc;
}

/* Append v in decimal, then a newline. */
static enum tok_err
add_number_line(struct buf *out, long long v)
{
	enum tok_err rc = buf_add_ll(out, v);

	return rc == TOK_OK ? buf_add(out, "\n", 1) : rc;
}

enum tok_err
tr_sign_text(const char *key_name, const struct token_params *p,
             struct buf *out)
{
	enum tok_err rc;

	/* One field per line, in the order ably-js signs them; ttl 0 means
	 * "absent" (an empty line), as in ably-js where 0 is falsy. */
	rc = add_line(out, key_name);
	if (rc == TOK_OK)
		rc = p->ttl > 0 ? add_number_line(out, p->ttl) :
		    add_line(out, NULL);
	if (rc == TOK_OK)
		rc = add_line(out, p->capability);
	if (rc == TOK_OK)
		rc = add_line(out, p->client_id);
	if (rc == TOK_OK)
		rc = add_number_line(out, p->timestamp);
	if (rc == TOK_OK)
		rc = add_line(out, p->nonce);
	return rc;
}

enum tok_err
tr_mac(const struct ably_key *k, const struct token_params *p, char mac[45])
{
	unsigned char raw[CRYPTO_MAC_LEN];
	struct buf text;
	enum tok_err rc;

	buf_init(&text, 1 << 20);
	rc = tr_sign_text(k->name, p, &text);
	if (rc != TOK_OK)
		goto out;
	rc = key_sign(k, text.data, text.len, raw);
	if (rc != TOK_OK)
		goto out;
	crypto_b64(raw, sizeof(raw), mac);
out:
	crypto_wipe(raw, sizeof(raw));
	buf_free(&text);  /* wipes the signing input */
	return rc;
}

enum tok_err
tr_build(const struct ably_key *k, const struct token_params *p, char **json,
         struct tok_error *e)
{
	struct buf b;
	char mac[45];
	enum tok_err rc;

	*json = NULL;
	rc = tr_mac(k, p, mac);
	if (rc != TOK_OK)
		return tok_fail(e, rc, 0, "could not sign the TokenRequest");
	/* The fields in ably-js's order, absent ones left out; written
	 * directly (json_out.h): a json-c document cost more than the mac. */
	buf_init(&b, 1 << 20);
	rc = buf_adds(&b, "{\"keyName\":");
	if (rc == TOK_OK)
		rc = json_out_string(&b, k->name, strlen(k->name));
	if (rc == TOK_OK && p->ttl > 0) {
		rc = buf_adds(&b, ",\"ttl\":");
		if (rc == TOK_OK)
			rc = buf_add_ll(&b, p->ttl);
	}
	if (rc == TOK_OK && p->capability != NULL) {
		rc = buf_adds(&b, ",\"capability\":");
		if (rc == TOK_OK)
			rc = json_out_string(&b, p->capability,
			    strlen(p->capability));
	}
	if (rc == TOK_OK && p->client_id != NULL) {
		rc = buf_adds(&b, ",\"clientId\":");
		if (rc == TOK_OK)
			rc = json_out_string(&b, p->client_id,
			    strlen(p->client_id));
	}
	if (rc == TOK_OK)
		rc = buf_adds(&b, ",\"timestamp\":");
	if (rc == TOK_OK)
		rc = buf_add_ll(&b, p->timestamp);
	if (rc == TOK_OK)
		rc = buf_adds(&b, ",\"nonce\":");
	if (rc == TOK_OK)
		rc = json_out_string(&b, p->nonce ? p->nonce : "",
		    p->nonce ? strlen(p->nonce) : 0);
	if (rc == TOK_OK)
		rc = buf_adds(&b, ",\"mac\":");
	if (rc == TOK_OK)
		rc = json_out_string(&b, mac, strlen(mac));
	if (rc == TOK_OK)
		rc = buf_add(&b, "}", 1);
	if (rc == TOK_OK)
		*json = buf_take(&b);
	buf_free(&b);
	if (*json == NULL)
		return tok_fail(e, rc == TOK_OK ? TOK_ENOMEM : rc, 0,
		    "could not build the TokenRequest");
	return TOK_OK;
}
