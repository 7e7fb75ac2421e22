/* policy: who gets what. (request, config) -> clientId, capability, ttl
 * and, in jwt mode, the extra claims.
 *
 * The caller's identity comes from the config's client_id source
 * (identity.h); the first rule whose match names the identity or one of
 * its groups applies, else the top-level settings. A caller may narrow
 * what it gets, never widen it: a clientId other than its identity is
 * refused (403), a requested capability is intersected with what the rule
 * allows (nothing in common: 403), a ttl outside [1 s, max_ttl] is 400.
 * A function of (request, config) alone: the request carries every value
 * it reads (req_parse copied them), so it never sees the web server's
 * parameters. The only other input is the CSPRNG, for $random. Start-up
 * checks of the policy settings are config_load's.
 */
#ifndef TOK_POLICY_H
#define TOK_POLICY_H

#include <stddef.h>

#include "config.h"
#include "error.h"
#include "identity.h"
#include "jwt.h"
#include "request.h"

#define POLICY_MAX_RESOURCES 128  /* in a requested capability */
#define POLICY_REVOCABLE_MAX_TTL_MS SETTING_REVOCABLE_MAX_TTL_MS

struct decision {
	char *client_id;          /* owned; NULL = anonymous, "*" = wildcard */
	char *capability;         /* owned canonical JSON text */
	long long ttl;            /* ms */
	/* jwt mode only (left empty otherwise), Ably's JWT claims: */
	char *revocation_key;     /* owned; NULL = none */
	struct jwt_extra *extra;  /* owned; ably.channel.* and rate claims */
	size_t n_extra;
	/* For the log: the rule that applied (borrowed from the config; its
	 * name is NULL for the top-level settings), or NULL if the request
	 * was refused before one was picked. Set on failure too. */
	const struct rule *rule;
};

/* Decide for request r. On success *d holds owned copies
 * (policy_decision_free()
 * them); on failure *d is empty but for d->rule and e says why, with
 * Ably's codes:
 * 400 40012 bad clientId, 400 40003 ttl, 400 40000 capability, 401 40100
 * no identity, 403 40300 clientId refused, 403 40160 no capability. */
enum tok_err policy_decide(const struct request *r, const struct config *c,
                           struct decision *d, struct tok_error *e)
	__attribute__((warn_unused_result));

/* Release what d holds and zero it; safe on a zeroed decision. */
void policy_decision_free(struct decision *d);

/* Parse a requested ttl: decimal digits only, within [1 s, max_ttl]. */
enum tok_err policy_parse_ttl(const char *text, long long max_ttl,
                              long long *ttl, struct tok_error *e)
	__attribute__((warn_unused_result));

/* The rule for an identity: the first whose match names it (user:ID), one
 * of its groups (group:NAME) or any identity (*); else the top-level
 * default (c->rules.dflt). Borrowed from c. */
const struct rule *policy_rule_for(const struct config *c,
                                   const struct identity *id);

#endif
