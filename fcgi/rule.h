/* rule: one rule of the policy (rule.NAME.*, or the top-level default for
 * callers no rule matches): its data, the settings every rule shares with
 * the top level (wildcard_client_id, revocation_key, channel_claim.*,
 * publish_max_rate.*), and freeing it. rules.h holds the list of rules.
 */
#ifndef TOK_RULE_H
#define TOK_RULE_H

#include <stddef.h>

#include "capability.h"

#define RULE_MAX_CLAIMS 32      /* JWT claims of each kind per rule */

/* Fields of a rule (and the top-level default), for "set twice": a second
 * value would silently win, and which one the operator meant is a guess. */
enum rule_field {
	RULE_F_MATCH = 1u << 0,
	RULE_F_CAPABILITY = 1u << 1,
	RULE_F_TTL = 1u << 2,
	RULE_F_MAX_TTL = 1u << 3,
	RULE_F_WILDCARD = 1u << 4,
	RULE_F_REVOCATION = 1u << 5,
};

/* One JWT claim a rule adds (one Ably documents). */
struct rule_claim {
	char *channel;  /* channel name; may hold {clientId} */
	char *value;    /* channel claims: the string; rate limits: a number */
};

struct rule {
	char *name;                     /* NULL for the top-level default */
	char *where;                    /* file:line of its first setting */
	char **match;                   /* "user:NAME", "group:NAME" or "*" */
	size_t n_match;
	struct capability *capability;  /* may hold {clientId}; NULL in the
	                                 * default (config capability) */
	long long ttl;                  /* ms; 0 = config ttl */
	long long max_ttl;              /* ms; 0 = config max_ttl */
	int wildcard_client_id;         /* may ask for clientId "*" */
	char *revocation_key;           /* may hold {clientId}; NULL = none */
	struct rule_claim *channel_claims;  /* ably.channel.<channel> */
	size_t n_channel_claims;
	struct rule_claim *rate_limits;  /* ably.limits.publish.
	                                  * perAttachment.maxRate.<channel> */
	size_t n_rate_limits;
	unsigned set;                   /* fields given (refuses repeats) */
};

/* Set one of the fields a rule shares with the top level; field is the
 * name after "rule.<name>." (or the whole name at the top level), what
 * names the setting in messages. The rule keeps owned copies. 0; 1 if the
 * field is not one of these; -1 with err (a repeat, a bad value, memory). */
int rule_set_shared(struct rule *rule, const char *field, const char *value,
                    const char *what, char *err, size_t errlen)
	__attribute__((warn_unused_result));

/* Free what the rule owns and zero it. Safe on a zeroed rule. */
void rule_free(struct rule *rule);

#endif /* TOK_RULE_H */
