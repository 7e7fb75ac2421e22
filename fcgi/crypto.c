/* crypto: thin wrappers over OpenSSL libcrypto. */
#include "crypto.h"

#include <pthread.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/params.h>
#include <openssl/rand.h>

enum tok_err
crypto_hmac_sha256(const void *key, size_t keylen, const void *msg,
                   size_t msglen, unsigned char mac[CRYPTO_MAC_LEN])
{
	unsigned int maclen = 0;

	if (keylen > (size_t)0x7fffffff)
		return TOK_EINVAL;
	if (HMAC(EVP_sha256(), key, (int)keylen, msg, msglen, mac, &maclen)
	    == NULL || maclen != CRYPTO_MAC_LEN)
		return TOK_EINTERNAL;
	return TOK_OK;
}

struct crypto_hmac {
	EVP_MAC *mac;
	EVP_MAC_CTX *ctx;
	/* The threads of a worker share the key's context: a signature
	 * takes about a microsecond, so they seldom wait here. */
	pthread_mutex_t lock;
};

struct crypto_hmac *
crypto_hmac_new(const void *key, size_t keylen)
{
	struct crypto_hmac *h = OPENSSL_zalloc(sizeof(*h));
	OSSL_PARAM params[2];

	if (h == NULL)
		return NULL;
	pthread_mutex_init(&h->lock, NULL);
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
	    (char *)"SHA256", 0);
	params[1] = OSSL_PARAM_construct_end();
	h->mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	if (h->mac == NULL)
		goto fail;
	h->ctx = EVP_MAC_CTX_new(h->mac);
	if (h->ctx == NULL || EVP_MAC_init(h->ctx, key, keylen, params) != 1)
		goto fail;
	return h;
fail:
	crypto_hmac_free(h);
	return NULL;
}

enum tok_err
crypto_hmac_sign(struct crypto_hmac *h, const void *msg, size_t msglen,
                 unsigned char mac[CRYPTO_MAC_LEN])
{
	size_t len = 0;
	int ok;

	/* A NULL key re-initialises with the key given at creation. */
	pthread_mutex_lock(&h->lock);
	ok = EVP_MAC_init(h->ctx, NULL, 0, NULL) == 1 &&
	    EVP_MAC_update(h->ctx, msg, msglen) == 1 &&
	    EVP_MAC_final(h->ctx, mac, &len, CRYPTO_MAC_LEN) == 1 &&
	    len == CRYPTO_MAC_LEN;
	pthread_mutex_unlock(&h->lock);
	return ok ? TOK_OK : TOK_EINTERNAL;
}

void
crypto_hmac_free(struct crypto_hmac *h)
{
	if (h == NULL)
		return;
	/* Freeing the context wipes the key schedule it holds. */
	EVP_MAC_CTX_free(h->ctx);
	EVP_MAC_free(h->mac);
	pthread_mutex_destroy(&h->lock);
	OPENSSL_free(h);
}

size_t
crypto_b64_len(size_t n)
{
	return 4 * ((n + 2) / 3);
}

size_t
crypto_b64(const void *in, size_t n, char *out)
{
	/* EVP_EncodeBlock writes padded base64 and a NUL, no newlines. */
	return (size_t)EVP_EncodeBlock((unsigned char *)out, in, (int)n);
}

size_t
crypto_b64url(const void *in, size_t n, char *out)
{
	size_t len = crypto_b64(in, n, out);
	size_t i;

	while (len > 0 && out[len - 1] == '=')
		len--;
	out[len] = '\0';
	for (i = 0; i < len; i++) {
		if (out[i] == '+')
			out[i] = '-';
		else if (out[i] == '/')
			out[i] = '_';
	}
	return len;
}

long
crypto_b64url_decode(const char *in, size_t n, unsigned char *out)
{
	unsigned char *tmp;
	size_t padded, i;
	int len;
	long result = -1;

	if (n % 4 == 1)
		return -1;
	padded = n + (4 - n % 4) % 4;
	tmp = OPENSSL_malloc(padded + 1);
	if (tmp == NULL)
		return -1;
	for (i = 0; i < n; i++) {
		char c = in[i];

		if (c == '-')
			c = '+';
		else if (c == '_')
			c = '/';
		else if (c == '+' || c == '/' || c == '=')
			goto out;  /* not base64url */
		tmp[i] = (unsigned char)c;
	}
	for (; i < padded; i++)
		tmp[i] = '=';
	/* EVP_DecodeBlock returns whole 3-byte groups; drop the padding. */
	len = EVP_DecodeBlock(out, tmp, (int)padded);
	if (len < 0)
		goto out;
	result = len - (long)(padded - n);
out:
	OPENSSL_clear_free(tmp, padded + 1);
	return result;
}

enum tok_err
crypto_random(void *p, size_t n)
{
	if (n > (size_t)0x7fffffff || RAND_bytes(p, (int)n) != 1)
		return TOK_EINTERNAL;
	return TOK_OK;
}

/* Nonces are cut from a pool of CSPRNG bytes drawn in one call: one
 * RAND_bytes per 256 nonces instead of one each (its per-call cost is far
 * above its per-byte cost). Bytes are used once and wiped as they go; a
 * forked child forgets its parent's pool (pthread_atfork), so two
 * processes never hand out the same nonce; each thread has its own. */
static __thread unsigned char nonce_pool[4096];
static __thread size_t nonce_pool_pos = sizeof(nonce_pool);
static pthread_once_t nonce_pool_once = PTHREAD_ONCE_INIT;

static void
nonce_pool_forget(void)
{
	OPENSSL_cleanse(nonce_pool, sizeof(nonce_pool));
	nonce_pool_pos = sizeof(nonce_pool);
}

static void
nonce_pool_register(void)
{
	(void)pthread_atfork(NULL, NULL, nonce_pool_forget);
}

enum tok_err
crypto_nonce(char out[CRYPTO_NONCE_LEN + 1])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char *raw;
	size_t i;

	(void)pthread_once(&nonce_pool_once, nonce_pool_register);
	if (nonce_pool_pos + CRYPTO_NONCE_LEN / 2 > sizeof(nonce_pool)) {
		if (crypto_random(nonce_pool, sizeof(nonce_pool)) != TOK_OK)
			return TOK_EINTERNAL;
		nonce_pool_pos = 0;
	}
	raw = nonce_pool + nonce_pool_pos;
	nonce_pool_pos += CRYPTO_NONCE_LEN / 2;
	for (i = 0; i < CRYPTO_NONCE_LEN / 2; i++) {
		out[2 * i] = hex[raw[i] >> 4];
		out[2 * i + 1] = hex[raw[i] & 0x0f];
	}
	OPENSSL_cleanse(raw, CRYPTO_NONCE_LEN / 2);
	out[CRYPTO_NONCE_LEN] = '\0';
	return TOK_OK;
}

int
crypto_equal(const void *a, const void *b, size_t n)
{
	return CRYPTO_memcmp(a, b, n) == 0;
}

void
crypto_wipe(void *p, size_t n)
{
	if (p != NULL && n > 0)
		OPENSSL_cleanse(p, n);
}
