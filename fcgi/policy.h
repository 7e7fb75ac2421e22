/* policy: who gets what. (config, request) -> clientId, capability, ttl.
 *
 * Pure: no I/O, no clock. A caller may narrow what it gets, never widen
 * it: a clientId other than its identity or a capability beyond the
 * configured one is refused (403), never silently replaced.
 */
#ifndef TOK_POLICY_H
#define TOK_POLICY_H

#include "config.h"
#include "error.h"
#include "request.h"

struct decision {
	char *client_id;   /* owned; NULL = anonymous token */
	char *capability;  /* owned canonical JSON text */
	long long ttl;     /* ms */
};

enum tok_err policy_decide(const struct config *c, const struct request *r,
                           struct decision *d, struct tok_error *e)
	__attribute__((warn_unused_result));

void decision_free(struct decision *d);

/* Parse a requested ttl: decimal digits only, within [1 s, max_ttl]. */
enum tok_err policy_parse_ttl(const char *text, long long max_ttl,
                              long long *ttl, struct tok_error *e)
	__attribute__((warn_unused_result));

#endif
