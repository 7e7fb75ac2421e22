/* crypto: HMAC-SHA256, base64 / base64url, random nonces, constant-time
 * compare and wiping. The only module that includes OpenSSL.
 */
#ifndef TOK_CRYPTO_H
#define TOK_CRYPTO_H

#include <stddef.h>

#include "error.h"

#define CRYPTO_MAC_LEN 32           /* HMAC-SHA256 output */
#define CRYPTO_B64_MAC_LEN 44       /* base64 of 32 bytes, with padding */
#define CRYPTO_NONCE_LEN 32         /* hex chars from 16 random bytes */

/* mac = HMAC-SHA256(key, msg). */
enum tok_err crypto_hmac_sha256(const void *key, size_t keylen,
                                const void *msg, size_t msglen,
                                unsigned char mac[CRYPTO_MAC_LEN])
	__attribute__((warn_unused_result));

/* A reusable HMAC-SHA256 keyed once: the key schedule and the algorithm
 * lookup are done at crypto_hmac_new(), not per signature (OpenSSL 3's
 * one-shot HMAC() fetches the algorithm every call). Threads may share
 * one (a lock serialises signatures). crypto_hmac_free(NULL) does
 * nothing. */
struct crypto_hmac;
struct crypto_hmac *crypto_hmac_new(const void *key, size_t keylen);
enum tok_err crypto_hmac_sign(struct crypto_hmac *h, const void *msg,
                              size_t msglen, unsigned char mac[CRYPTO_MAC_LEN])
	__attribute__((warn_unused_result));
void crypto_hmac_free(struct crypto_hmac *h);

/* Standard base64 with '=' padding. out must hold crypto_b64_len(n) + 1
 * bytes; it is NUL-terminated. Returns the length written. */
size_t crypto_b64_len(size_t n);
size_t crypto_b64(const void *in, size_t n, char *out);

/* base64url without padding (RFC 7515 §2). Same sizing as crypto_b64. */
size_t crypto_b64url(const void *in, size_t n, char *out);

/* Decode base64url without padding. out must hold n bytes. Returns the
 * decoded length, or -1 if the input is not valid base64url. */
long crypto_b64url_decode(const char *in, size_t n, unsigned char *out);

/* A nonce: CRYPTO_NONCE_LEN lowercase hex chars from the CSPRNG, plus NUL. */
enum tok_err crypto_nonce(char out[CRYPTO_NONCE_LEN + 1])
	__attribute__((warn_unused_result));

/* Fill p with n bytes from the CSPRNG. */
enum tok_err crypto_random(void *p, size_t n)
	__attribute__((warn_unused_result));

/* 1 if equal, in time that depends only on n. */
int crypto_equal(const void *a, const void *b, size_t n);

/* Wipe memory in a way the compiler cannot drop. NULL is fine. */
void crypto_wipe(void *p, size_t n);

#endif
