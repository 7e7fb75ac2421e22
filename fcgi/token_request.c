/* token_request: the signed text, the mac and the JSON document. */
#include "token_request.h"

#include <string.h>

#include <json-c/json.h>

#include "crypto.h"

enum tok_err
tr_sign_text(const char *key_name, const struct token_params *p,
             struct buf *out)
{
	enum tok_err rc;

	/* ttl 0 means "absent", as in ably-js where 0 is falsy. */
	rc = buf_printf(out, "%s\n", key_name);
	if (rc == TOK_OK && p->ttl > 0)
		rc = buf_printf(out, "%lld", p->ttl);
	if (rc == TOK_OK)
		rc = buf_printf(out, "\n%s\n%s\n%lld\n%s\n",
		    p->capability ? p->capability : "",
		    p->client_id ? p->client_id : "",
		    p->timestamp, p->nonce ? p->nonce : "");
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

/* Add key: value to obj, taking ownership of value. */
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

enum tok_err
tr_build(const struct ably_key *k, const struct token_params *p, char **json,
         struct tok_error *e)
{
	struct json_object *obj;
	char mac[45];
	const char *s;
	int bad = 0;
	enum tok_err rc;

	*json = NULL;
	rc = tr_mac(k, p, mac);
	if (rc != TOK_OK)
		return tok_fail(e, rc, 0, "could not sign the TokenRequest");
	obj = json_object_new_object();
	if (obj == NULL)
		return tok_fail(e, TOK_ENOMEM, 0, "out of memory");
	bad |= add(obj, "keyName", json_object_new_string(k->name));
	if (p->ttl > 0)
		bad |= add(obj, "ttl", json_object_new_int64(p->ttl));
	if (p->capability != NULL)
		bad |= add(obj, "capability",
		    json_object_new_string(p->capability));
	if (p->client_id != NULL)
		bad |= add(obj, "clientId", json_object_new_string(p->client_id));
	bad |= add(obj, "timestamp", json_object_new_int64(p->timestamp));
	bad |= add(obj, "nonce", json_object_new_string(p->nonce));
	bad |= add(obj, "mac", json_object_new_string(mac));
	if (!bad) {
		s = json_object_to_json_string_ext(obj,
		    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
		if (s != NULL)
			*json = strdup(s);
	}
	json_object_put(obj);
	if (*json == NULL)
		return tok_fail(e, TOK_ENOMEM, 0, "out of memory");
	return TOK_OK;
}
