/* jwt: Ably JWTs (ABLY-TOKENS.md §10), HS256 only, kid = key name.
 *
 * Header {"typ","alg","kid"}, claims {"iat","exp","x-ably-capability",
 * "x-ably-clientId","x-ably-revocation-key"} in that order (absent ones left
 * out); every part base64url without padding.
 */
#ifndef TOK_JWT_H
#define TOK_JWT_H

#include "error.h"
#include "key.h"

struct jwt_claims {
	long long iat;               /* seconds */
	long long exp;               /* seconds */
	const char *capability;      /* canonical JSON text; NULL = absent */
	const char *client_id;       /* NULL = absent */
	const char *revocation_key;  /* NULL = absent */
};

/* The signed JWT; the caller frees *out. */
enum tok_err jwt_sign(const struct ably_key *k, const struct jwt_claims *c,
                      char **out, struct tok_error *e)
	__attribute__((warn_unused_result));

#endif
