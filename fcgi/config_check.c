/* config_check: the start-up checks of the configuration as a whole, once
 * every setting is read: how the policy's settings fit together and with
 * the top-level ttl limits. A mistake stops start-up, so policy only ever
 * sees a configuration that passed.
 */
#include "config_check.h"

#include <stdio.h>
#include <string.h>

#include "log.h"

/* One rule.NAME.* rule, against the top-level ttl limits. */
static int
check_rule(const struct rules *r, const struct rule *rule, long long top_ttl,
           long long top_max_ttl, long long limit, char *err, size_t errlen)
{
	long long ttl = rule->ttl ? rule->ttl : top_ttl;
	long long max = rule->max_ttl ? rule->max_ttl : top_max_ttl;
	size_t i;

	if (rule->match == NULL)
		return setting_fail(err, errlen, rule->where, "rule.%s has "
		    "no rule.%s.match (whom it is for)", rule->name,
		    rule->name);
	if (rule->capability == NULL)
		return setting_fail(err, errlen, rule->where, "rule.%s has "
		    "no rule.%s.capability (what it grants)", rule->name,
		    rule->name);
	for (i = 0; i < rule->n_match; i++) {
		const char *g = rule->match[i];

		if (strncmp(g, "group:", 6) == 0 &&
		    rules_group(r, g + 6) == NULL && r->group_header == NULL)
			return setting_fail(err, errlen, rule->where,
			    "rule.%s.match names group %s, but there is no "
			    "group.%s list (and no group_header)", rule->name,
			    g + 6, g + 6);
	}
	if (max > limit)
		return setting_fail(err, errlen, rule->where, "rule.%s: "
		    "max_ttl (%lld ms) is over %lld ms, Ably's limit with "
		    "revocable_tokens = on", rule->name, max, limit);
	if (ttl > max)
		return setting_fail(err, errlen, rule->where, "rule.%s: ttl "
		    "(%lld ms%s) is larger than max_ttl (%lld ms%s)",
		    rule->name, ttl, rule->ttl ? "" : ", the top-level ttl",
		    max, rule->max_ttl ? "" : ", the top-level max_ttl");
	return 0;
}

int
config_check_policy(const struct rules *r, const char *path,
                    enum tok_mode mode, const char *mode_name,
                    const struct capability *capability,
                    const char *client_id, long long ttl,
                    long long *max_ttl, char *err, size_t errlen)
{
	const char *file = path ? path : "settings";
	long long limit = r->revocable_tokens ? SETTING_REVOCABLE_MAX_TTL_MS :
	    SETTING_MAX_TTL_MS;
	int templates, claims;
	size_t i;

	if ((r->source == ID_HEADER || r->group_header != NULL) &&
	    r->trusted_secret == NULL)
		return setting_fail(err, errlen, file, "client_id = "
		    "$header:NAME and group_header need trusted_header_secret: "
		    "the web server passes it as the parameter %s on the "
		    "trusted path only, so a header that came any other way is "
		    "refused", RULES_TRUSTED_PARAM);
	if (r->revocable_tokens) {
		if (*max_ttl > limit && r->max_ttl_set)
			return setting_fail(err, errlen, file, "max_ttl "
			    "(%lld ms) is over 1h, Ably's limit with "
			    "revocable_tokens = on", *max_ttl);
		/* A max_ttl left at its default follows the key's limit; the
		 * config is still being built, so this is its last write. */
		if (*max_ttl > limit)
			*max_ttl = limit;
		if (ttl > limit)
			return setting_fail(err, errlen, file, "ttl (%lld ms) "
			    "is over 1h, Ably's limit with revocable_tokens = "
			    "on", ttl);
	}
	for (i = 0; i < capability->n; i++)
		if (!cap_template_ok(capability->entries[i].resource))
			return setting_fail(err, errlen, file, "capability: "
			    "braces in resource names may appear only in the "
			    "placeholder {clientId}");
	templates = cap_has_template(capability) ||
	    rules_uses_template(&r->dflt);
	claims = rules_has_claims(&r->dflt);
	for (i = 0; i < r->n; i++) {
		if (check_rule(r, &r->rules[i], ttl, *max_ttl, limit, err,
		    errlen) != 0)
			return -1;
		templates |= rules_uses_template(&r->rules[i]);
		claims |= rules_has_claims(&r->rules[i]);
	}
	if (templates && r->source == ID_FIXED) {
		if (client_id == NULL)
			return setting_fail(err, errlen, file, "{clientId} is "
			    "used, but client_id is empty: there is never an "
			    "identity to fill it");
		if (!cap_template_value_ok(client_id))
			return setting_fail(err, errlen, file, "client_id "
			    "contains one of : * [ ] { } and so cannot fill "
			    "{clientId} in a channel name");
	}
	if (r->source == ID_REQUEST)
		log_warn("client_id = $request: EVERY CALLER PICKS ITS OWN "
		    "clientId (and with it any rule that matches that id). "
		    "For development only: never expose this endpoint");
	/* The table says in which modes the claims have effect (jwt). */
	if (claims && !(setting_table[SET_REVOCATION_KEY].modes &
	    SETTING_MODE(mode)))
		log_warn("revocation_key, channel_claim.* and "
		    "publish_max_rate.* are JWT claims: mode %s does not use "
		    "them", mode_name);
	if (ttl > *max_ttl) {
		(void)snprintf(err, errlen, "%s: ttl (%lld ms) is larger than "
		    "max_ttl (%lld ms)", file, ttl, *max_ttl);
		return -1;
	}
	return 0;
}

