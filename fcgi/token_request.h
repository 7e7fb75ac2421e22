/* token_request: build and sign Ably TokenRequests (the mac ably-js computes;
 * tests/vectors/ holds its outputs).
 *
 * The output matches ably-js createTokenRequest byte for byte for the same
 * inputs (tests/vectors/token-requests.json).
 */
#ifndef TOK_TOKEN_REQUEST_H
#define TOK_TOKEN_REQUEST_H

#include "buf.h"
#include "error.h"
#include "key.h"

struct token_params {
	long long ttl;           /* ms; 0 = absent */
	const char *capability;  /* canonical JSON text; NULL = absent */
	const char *client_id;   /* NULL = absent */
	long long timestamp;     /* ms since the epoch */
	const char *nonce;
};

/* Append the signed text "keyName\nttl\ncapability\nclientId\ntimestamp\n
 * nonce\n" to out. */
enum tok_err tr_sign_text(const char *key_name, const struct token_params *p,
                          struct buf *out)
	__attribute__((warn_unused_result));

/* mac = base64(HMAC-SHA256(secret, signed text)), NUL-terminated. */
enum tok_err tr_mac(const struct ably_key *k, const struct token_params *p,
                    char mac[45])
	__attribute__((warn_unused_result));

/* The signed TokenRequest as JSON text, fields in the order keyName, ttl,
 * capability, clientId, timestamp, nonce, mac (absent ones left out). The
 * caller frees *json. */
enum tok_err tr_build(const struct ably_key *k, const struct token_params *p,
                      char **json, struct tok_error *e)
	__attribute__((warn_unused_result));

#endif
