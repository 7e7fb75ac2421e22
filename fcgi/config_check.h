/* config_check: the start-up checks of the whole configuration: every
 * rule has a match and a capability, its groups exist, ttl limits hold
 * (24 h; 1 h with revocable_tokens), {clientId} only where an identity can
 * fill it, trusted headers only with trusted_header_secret.
 */
#ifndef TOK_CONFIG_CHECK_H
#define TOK_CONFIG_CHECK_H

#include <stddef.h>

#include "capability.h"
#include "rules.h"
#include "setting.h"

/* Check the policy settings r against the top-level ones (path: the config
 * file, NULL = none; mode and its name; the capability, client_id, ttl and
 * max_ttl), once everything is read. Under revocable_tokens a max_ttl left
 * at its default is lowered to 1 h through *max_ttl (the only write).
 * Warns about $request, about JWT claims in other modes and about a
 * policy open to all (config_check_open_to_all). 0, or -1 with
 * err naming the file (or a rule's file:line). Owns nothing. */
int config_check_policy(const struct rules *r, const char *path,
                        enum tok_mode mode, const char *mode_name,
                        const struct capability *capability,
                        const char *client_id, long long ttl,
                        long long *max_ttl, char *err, size_t errlen)
	__attribute__((warn_unused_result));

/* Does every caller, logged in or not, get everything the key allows
 * ({"*":["*"]} or more)? That is so when the identity source asks for no
 * login (a fixed client_id or none, $random, $request) and the capability
 * such a caller gets, from the first rule matching its identity or else
 * the top-level one, covers {"*":["*"]} ($request: any rule's, as the
 * caller picks the id). 1 with where naming the setting that grants it
 * ("capability" or "rule.NAME.capability"), else 0. config_check_policy
 * warns with it. */
int config_check_open_to_all(const struct rules *r,
                             const struct capability *capability,
                             const char *client_id, char *where,
                             size_t wherelen);

#endif /* TOK_CONFIG_CHECK_H */
