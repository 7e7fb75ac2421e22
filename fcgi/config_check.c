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

/* 1 if cap allows everything: {"*":["*"]} and nothing less. */
static int
allows_everything(const struct capability *cap)
{
	static const char all_text[] = "{\"*\":[\"*\"]}";
	struct capability *all;
	struct tok_error e;
	int yes;

	if (cap == NULL || cap_parse(all_text, sizeof(all_text) - 1, CAP_STRICT,
	    &all, &e) != TOK_OK)
		return 0;
	yes = cap_allows(cap, all);
	cap_free(all);
	return yes;
}

/* 1 if rule matches a caller whose identity is id (NULL: none) and who
 * is in no group but group.NAME lists: as policy_rule_for() decides. A
 * made-up anonymous id ($random) matches only `*`: pass id_is_known 0. */
static int
rule_matches(const struct rules *r, const struct rule *rule, const char *id,
             int id_is_known)
{
	size_t i, j;

	for (i = 0; id != NULL && i < rule->n_match; i++) {
		const char *m = rule->match[i];
		const struct rule_group *g;

		if (strcmp(m, "*") == 0)
			return 1;
		if (!id_is_known)
			continue;
		if (strncmp(m, "user:", 5) == 0 && strcmp(m + 5, id) == 0)
			return 1;
		g = strncmp(m, "group:", 6) == 0 ? rules_group(r, m + 6) : NULL;
		for (j = 0; g != NULL && j < g->n_members; j++)
			if (strcmp(g->members[j], id) == 0)
				return 1;
	}
	return 0;
}

int
config_check_open_to_all(const struct rules *r,
                         const struct capability *capability,
                         const char *client_id, char *where,
                         size_t wherelen)
{
	const char *id = client_id;
	int known = 1;
	size_t i;

	switch (r->source) {
	case ID_REMOTE_USER:
	case ID_HEADER:
		return 0;  /* no login, no credential (401) */
	case ID_RANDOM:
		id = RULES_ANON_PREFIX;
		known = 0;
		break;
	case ID_REQUEST:
		/* The caller names any id, and with it any rule. */
		for (i = 0; i < r->n; i++) {
			if (allows_everything(r->rules[i].capability)) {
				(void)snprintf(where, wherelen,
				    "rule.%.100s.capability", r->rules[i].name);
				return 1;
			}
		}
		id = NULL;
		break;
	default:
		break;
	}
	for (i = 0; id != NULL && i < r->n; i++) {
		if (!rule_matches(r, &r->rules[i], id, known))
			continue;
		if (!allows_everything(r->rules[i].capability))
			return 0;
		(void)snprintf(where, wherelen, "rule.%.100s.capability",
		    r->rules[i].name);
		return 1;
	}
	if (!allows_everything(capability))
		return 0;
	(void)snprintf(where, wherelen, "capability");
	return 1;
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
	char open_where[160];
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
	if (config_check_open_to_all(r, capability, client_id, open_where,
	    sizeof(open_where)))
		log_warn("EVERY CALLER, WITHOUT A LOGIN, GETS {\"*\":[\"*\"]} "
		    "(all the key allows) from %s (client_id = %s): for a site, "
		    "narrow %s to what anonymous callers need, or make callers "
		    "log in (client_id = $remote_user or $header:NAME) and give "
		    "rules; see doc/security.md", open_where, client_id != NULL ?
		    client_id : "(none)", open_where);
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

