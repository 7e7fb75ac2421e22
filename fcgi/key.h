/* key: an Ably API key, "appId.keyId:secret", split into its two parts.
 *
 * The secret is what signs everything; key_clear() wipes it. The key name
 * is public (it goes into every TokenRequest and JWT).
 */
#ifndef TOK_KEY_H
#define TOK_KEY_H

#include <stddef.h>

#include "error.h"

struct crypto_hmac;

struct ably_key {
	char *name;        /* "appId.keyId", owned */
	char *secret;      /* owned, wiped by key_clear() */
	size_t secret_len;
	struct crypto_hmac *hmac;  /* keyed with secret once, owned */
};

/* Parse text into *k (which the caller later key_clear()s). The format is
 * ably-js's: ^[^:\s]+:[^:.\s]+$, and the name must hold a '.'. On failure
 * *k is left empty and e says what is wrong, without quoting the key. */
enum tok_err key_parse(const char *text, struct ably_key *k,
                       struct tok_error *e)
	__attribute__((warn_unused_result));

/* mac = HMAC-SHA256(secret, msg), through the key's reusable context. */
enum tok_err key_sign(const struct ably_key *k, const void *msg, size_t len,
                      unsigned char mac[32])
	__attribute__((warn_unused_result));

/* 1 if a key is loaded. */
int key_loaded(const struct ably_key *k);

/* Wipe and free; leaves *k empty. */
void key_clear(struct ably_key *k);

#endif
