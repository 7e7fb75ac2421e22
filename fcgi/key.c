/* key: parse and wipe Ably API keys. */
#include "key.h"

#include <stdlib.h>
#include <string.h>

#include "crypto.h"

/* isspace() without the locale: the key format is ASCII whatever LC_ALL
 * says. */
static int
is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' ||
	    c == '\f' || c == '\v';
}

enum tok_err
key_parse(const char *text, struct ably_key *k, struct tok_error *e)
{
	const char *colon, *p;
	size_t namelen, seclen;

	k->name = k->secret = NULL;
	k->secret_len = 0;
	k->hmac = NULL;
	colon = strchr(text, ':');
	if (colon == NULL)
		return tok_fail(e, TOK_EINVAL, 40101,
		    "key has no ':secret' part (expected appId.keyId:secret)");
	namelen = (size_t)(colon - text);
	seclen = strlen(colon + 1);
	if (namelen == 0 || seclen == 0)
		return tok_fail(e, TOK_EINVAL, 40101,
		    "key name or secret is empty (expected appId.keyId:secret)");
	if (memchr(text, '.', namelen) == NULL)
		return tok_fail(e, TOK_EINVAL, 40101,
		    "key name has no '.' (expected appId.keyId:secret)");
	/* ably-js's ^[^:\s]+:[^:.\s]+$: a '.' or ':' in the secret means the
	 * text is not one key (two pasted together, a URL), so refuse it
	 * rather than sign with the wrong secret. */
	for (p = text; *p != '\0'; p++) {
		if (is_space(*p) || (p > colon && (*p == ':' || *p == '.')))
			return tok_fail(e, TOK_EINVAL, 40101,
			    "key contains whitespace, or ':' or '.' in the secret "
			    "(expected appId.keyId:secret)");
	}
	k->name = strndup(text, namelen);
	k->secret = strndup(colon + 1, seclen);
	if (k->name == NULL || k->secret == NULL) {
		key_clear(k);
		return tok_fail(e, TOK_ENOMEM, 0, "out of memory");
	}
	k->secret_len = seclen;
	/* Keyed once here: every request signs with it, and setting up the
	 * HMAC key is most of the cost of a short message's MAC. */
	k->hmac = crypto_hmac_new(k->secret, k->secret_len);
	if (k->hmac == NULL) {
		key_clear(k);
		return tok_fail(e, TOK_EINTERNAL, 0, "cannot set up HMAC-SHA256");
	}
	return TOK_OK;
}

int
key_loaded(const struct ably_key *k)
{
	return k->secret != NULL;
}

enum tok_err
key_sign(const struct ably_key *k, const void *msg, size_t len,
         unsigned char mac[32])
{
	/* No key loaded: a configuration problem, reported as 500 by the
	 * endpoint, never a signature with an empty secret. */
	if (k->hmac == NULL)
		return TOK_ECONFIG;
	return crypto_hmac_sign(k->hmac, msg, len, mac);
}

void
key_clear(struct ably_key *k)
{
	crypto_hmac_free(k->hmac);
	k->hmac = NULL;
	if (k->secret != NULL)
		crypto_wipe(k->secret, k->secret_len);
	free(k->secret);
	free(k->name);
	k->name = k->secret = NULL;
	k->secret_len = 0;
}
