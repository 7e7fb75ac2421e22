/* identity: who is asking, per the config's client_id source.
 *
 *   fixed id / empty   the configured id, or none
 *   $remote_user       REMOTE_USER, set by the web server after its login
 *                      (with trusted_header_secret set, only together with
 *                      TRUSTED_HEADER_SECRET, as for $header)
 *   $header:NAME       HTTP_NAME, set by a trusted proxy (auth_request); read
 *                      only when the request also carries the parameter
 *                      TRUSTED_HEADER_SECRET equal to trusted_header_secret
 *   $random            a new anonymous id ("anon-" + 24 random hex digits +
 *                      16 hex digits of a MAC made with the key), or one
 *                      this endpoint issued before that the caller presents
 *                      again as its clientId (ably-js does when it renews)
 *   $request           the clientId the caller asks for (development only)
 *
 * group_header (same trust rule as $header) adds the caller's groups. No
 * identity where the source needs one is TOK_EAUTH (401, code 40100).
 * Reads only the request (whose trusted headers req_parse copied, as the
 * config's req_extra named them) and the config; no I/O except the CSPRNG.
 */
#ifndef TOK_IDENTITY_H
#define TOK_IDENTITY_H

#include <stddef.h>

#include "config.h"
#include "error.h"
#include "request.h"

#define IDENTITY_MAX_LEN 256  /* bytes; longer identities are refused */
#define IDENTITY_MAX_GROUPS 64
#define IDENTITY_ANON_PREFIX RULES_ANON_PREFIX
#define IDENTITY_ANON_LEN 45  /* "anon-" + 24 + 16 hex digits */

struct identity {
	char *id;          /* owned; NULL = no identity (anonymous) */
	char **groups;     /* owned; the group header's list */
	size_t n_groups;
};

/* Resolve the caller's identity into *out (zeroed first; free it with
 * identity_free() whatever the result). Errors: TOK_EAUTH 40100 (none,
 * unusable, or a trusted header without the secret), TOK_EDENIED 40300 (a
 * clientId presented under $random that this endpoint did not issue),
 * TOK_EINVAL 40012 (a bad clientId under $request). */
enum tok_err identity_resolve(const struct request *r, const struct config *c,
                              struct identity *out, struct tok_error *e)
	__attribute__((warn_unused_result));

void identity_free(struct identity *id);

/* 1 if the caller is in group: listed in group.<group> (by identity) or
 * named in the group header. */
int identity_in_group(const struct rules *rules, const struct identity *id,
                      const char *group);

/* A new anonymous id into out (IDENTITY_ANON_LEN + 1 bytes). */
enum tok_err identity_new_anonymous(const struct ably_key *k,
                                    char out[IDENTITY_ANON_LEN + 1])
	__attribute__((warn_unused_result));

/* 1 if id is an anonymous id made with this key. */
int identity_anonymous_ok(const struct ably_key *k, const char *id);

#endif
