/* jwt: Ably JWTs, HS256 only, kid = key name.
 *
 * Header {"typ","alg","kid"}, claims {"iat","exp","x-ably-capability",
 * "x-ably-clientId","x-ably-revocation-key"} in that order (absent ones left
 * out), then the extra claims in the order given; every part base64url
 * without padding.
 */
#ifndef TOK_JWT_H
#define TOK_JWT_H

#include <stddef.h>

#include "error.h"
#include "key.h"

/* The two JWT-only claims Ably documents besides the x-ably-* ones; no
 * other name is accepted. */
#define JWT_CHANNEL_CLAIM "ably.channel."
#define JWT_RATE_CLAIM "ably.limits.publish.perAttachment.maxRate."

/* One extra claim: JWT_CHANNEL_CLAIM<channel> with a string value (the
 * trusted per-channel claim), or JWT_RATE_CLAIM<channel> with a number
 * (messages per second a connection may publish on that channel). */
struct jwt_extra {
	char *name;   /* full claim name */
	char *value;  /* the string, or the number as decimal text */
	int number;   /* 1: value is a JSON number */
};

struct jwt_claims {
	long long iat;               /* seconds */
	long long exp;               /* seconds */
	const char *capability;      /* canonical JSON text; NULL = absent */
	const char *client_id;       /* NULL = absent */
	const char *revocation_key;  /* NULL = absent */
	const struct jwt_extra *extra;  /* n_extra claims; borrowed */
	size_t n_extra;
};

/* The signed JWT; the caller frees *out. An extra claim with another name,
 * an empty channel, a duplicate name or a number that is not a positive
 * decimal is refused (TOK_EINVAL): nothing undocumented is signed. */
enum tok_err jwt_sign(const struct ably_key *k, const struct jwt_claims *c,
                      char **out, struct tok_error *e)
	__attribute__((warn_unused_result));

#endif
