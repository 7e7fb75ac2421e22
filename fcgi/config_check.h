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
 * Warns about $request and about JWT claims in other modes. 0, or -1 with
 * err naming the file (or a rule's file:line). Owns nothing. */
int config_check_policy(const struct rules *r, const char *path,
                        enum tok_mode mode, const char *mode_name,
                        const struct capability *capability,
                        const char *client_id, long long ttl,
                        long long *max_ttl, char *err, size_t errlen)
	__attribute__((warn_unused_result));

#endif /* TOK_CONFIG_CHECK_H */
