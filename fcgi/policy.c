/* policy: identity -> rule -> clientId, ttl, capability, JWT claims. */
#include "policy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "capability.h"
#include "log.h"
#include "setting.h"

void
policy_decision_free(struct decision *d)
{
	size_t i;

	free(d->client_id);
	free(d->capability);
	free(d->revocation_key);
	for (i = 0; i < d->n_extra; i++) {
		free(d->extra[i].name);
		free(d->extra[i].value);
	}
	free(d->extra);
	memset(d, 0, sizeof(*d));
}

enum tok_err
policy_parse_ttl(const char *text, long long max_ttl, long long *ttl,
                 struct tok_error *e)
{
	long long v;

	/* Digits only: no sign, no spaces, no exponent, no hex. 16 digits is
	 * far past any valid value; more (even leading zeros) is refused. */
	if (strlen(text) > 16 ||
	    setting_number(text, CONFIG_MIN_TTL_MS, max_ttl, &v) != 0)
		goto bad;
	*ttl = v;
	return TOK_OK;
bad:
	return tok_fail(e, TOK_EINVAL, 40003, "ttl must be a whole number of "
	    "milliseconds between %lld and %lld", CONFIG_MIN_TTL_MS, max_ttl);
}

const struct rule *
policy_rule_for(const struct config *c, const struct identity *id)
{
	size_t i, j;

	for (i = 0; i < c->rules.n; i++) {
		const struct rule *rule = &c->rules.rules[i];

		for (j = 0; j < rule->n_match; j++) {
			const char *m = rule->match[j];

			if (strcmp(m, "*") == 0) {
				if (id->id != NULL)
					return rule;
			} else if (strncmp(m, "user:", 5) == 0) {
				if (id->id != NULL && strcmp(id->id, m + 5) == 0)
					return rule;
			} else if (strncmp(m, "group:", 6) == 0) {
				if (identity_in_group(&c->rules, id, m + 6))
					return rule;
			}
		}
	}
	return &c->rules.dflt;
}

/* The largest ttl for a rule, within Ably's limits. */
static long long
rule_max_ttl(const struct config *c, const struct rule *rule)
{
	long long max = rule->max_ttl ? rule->max_ttl : c->max_ttl;

	if (c->rules.revocable_tokens && max > POLICY_REVOCABLE_MAX_TTL_MS)
		max = POLICY_REVOCABLE_MAX_TTL_MS;
	return max;
}

static enum tok_err
check_client_id_text(const struct request *r, struct tok_error *e)
{
	const struct req_value *asked = &r->client_id;

	if (!asked->present)
		return TOK_OK;
	if (asked->text[0] == '\0')
		return tok_fail(e, TOK_EINVAL, 40012,
		    "clientId must not be an empty string");
	if (!cap_text_ok(asked->text, strlen(asked->text)))
		return tok_fail(e, TOK_EINVAL, 40012, "clientId must be UTF-8 "
		    "text without control characters");
	return TOK_OK;
}

static enum tok_err
decide_ttl(const struct config *c, const struct rule *rule,
           const struct request *r, struct decision *d, struct tok_error *e)
{
	if (r->ttl.present)
		return policy_parse_ttl(r->ttl.text, rule_max_ttl(c, rule),
		    &d->ttl, e);
	d->ttl = rule->ttl ? rule->ttl : c->ttl;
	return TOK_OK;
}

/* The requested capability, strictly parsed; NULL when not asked ("" is
 * "not given", as ably-js treats it). */
static enum tok_err
parse_asked(const struct request *r, struct capability **out,
            struct tok_error *e)
{
	const struct req_value *asked = &r->capability;
	enum tok_err rc;

	*out = NULL;
	if (!asked->present || asked->text[0] == '\0')
		return TOK_OK;
	rc = cap_parse(asked->text, strlen(asked->text), CAP_STRICT, out, e);
	if (rc == TOK_OK && (*out)->n > POLICY_MAX_RESOURCES) {
		cap_free(*out);
		*out = NULL;
		rc = tok_fail(e, TOK_EINVAL, 40000, "capability names more "
		    "than %d resources", POLICY_MAX_RESOURCES);
	}
	return rc;
}

static enum tok_err
decide_client_id(const struct rule *rule, const struct request *r,
                 const struct identity *id, struct decision *d,
                 struct tok_error *e)
{
	const struct req_value *asked = &r->client_id;
	const char *grant = id->id;

	if (asked->present && strcmp(asked->text, "*") == 0) {
		if (!rule->wildcard_client_id)
			return tok_fail(e, TOK_EDENIED, 40300, "a wildcard "
			    "clientId (*) is not allowed for this caller");
		grant = "*";
	} else if (asked->present) {
		if (id->id == NULL)
			return tok_fail(e, TOK_EDENIED, 40300, "this endpoint "
			    "issues anonymous tokens; a clientId cannot be "
			    "requested");
		if (strcmp(asked->text, id->id) != 0)
			return tok_fail(e, TOK_EDENIED, 40300, "the requested "
			    "clientId is not the identity this endpoint grants");
	}
	if (grant != NULL) {
		d->client_id = strdup(grant);
		if (d->client_id == NULL)
			return tok_fail(e, TOK_ENOMEM, 0, "out of memory");
	}
	return TOK_OK;
}

static enum tok_err
decide_capability(const struct config *c, const struct rule *rule,
                  const struct identity *id, const struct capability *asked,
                  struct decision *d, struct tok_error *e)
{
	const struct capability *tmpl = rule->capability ? rule->capability :
	    c->capability;
	const struct capability *allowed = tmpl;
	struct capability *filled = NULL, *both = NULL;
	enum tok_err rc = TOK_OK;

	if (cap_has_template(tmpl)) {
		rc = cap_substitute(tmpl, id->id, &filled, e);
		if (rc != TOK_OK)
			return rc;
		allowed = filled;
	}
	if (allowed->n == 0) {
		rc = tok_fail(e, TOK_EDENIED, 40160, "no capability is granted "
		    "to this caller");
		goto out;
	}
	if (asked == NULL) {
		d->capability = allowed == c->capability ?
		    strdup(c->capability_text) : cap_to_string(allowed);
	} else if (cap_allows(allowed, asked)) {
		/* Inside what is allowed: exactly what was asked. */
		d->capability = cap_to_string(asked);
	} else {
		rc = cap_intersect(allowed, asked, &both, e);
		if (rc != TOK_OK)
			goto out;
		if (both->n == 0) {
			rc = tok_fail(e, TOK_EDENIED, 40160, "the requested "
			    "capability has nothing in common with what this "
			    "caller may have");
			goto out;
		}
		d->capability = cap_to_string(both);
	}
	if (d->capability == NULL)
		rc = tok_fail(e, TOK_ENOMEM, 0, "out of memory");
out:
	cap_free(both);
	cap_free(filled);
	return rc;
}

/* Append one extra claim prefix+channel (channel may be a template). */
static enum tok_err
add_extra(struct decision *d, const char *prefix, const char *channel,
          const char *value, int number, const struct identity *id,
          struct tok_error *e)
{
	struct jwt_extra *grown;
	char *filled = NULL, *name;
	size_t i, len;

	if (cap_is_template(channel)) {
		if (id->id == NULL)
			return TOK_OK;  /* nobody to name the channel after */
		if (!cap_template_value_ok(id->id))
			return tok_fail(e, TOK_EDENIED, 40300, "this clientId "
			    "cannot be used in channel names (it contains one "
			    "of : * [ ] { })");
		filled = cap_fill_template(channel, id->id);
		if (filled == NULL)
			return tok_fail(e, TOK_ENOMEM, 0, "out of memory");
		channel = filled;
	}
	len = strlen(prefix) + strlen(channel) + 1;
	name = malloc(len);
	if (name == NULL) {
		free(filled);
		return tok_fail(e, TOK_ENOMEM, 0, "out of memory");
	}
	(void)snprintf(name, len, "%s%s", prefix, channel);
	free(filled);
	/* A templated name can meet a fixed one: the first written wins. */
	for (i = 0; i < d->n_extra; i++) {
		if (strcmp(d->extra[i].name, name) == 0) {
			free(name);
			return TOK_OK;
		}
	}
	grown = realloc(d->extra, (d->n_extra + 1) * sizeof(*grown));
	if (grown == NULL) {
		free(name);
		return tok_fail(e, TOK_ENOMEM, 0, "out of memory");
	}
	d->extra = grown;
	grown[d->n_extra].name = name;
	grown[d->n_extra].value = strdup(value);
	grown[d->n_extra].number = number;
	d->n_extra++;
	if (grown[d->n_extra - 1].value == NULL)
		return tok_fail(e, TOK_ENOMEM, 0, "out of memory");
	return TOK_OK;
}

static enum tok_err
decide_claims(const struct rule *rule, const struct identity *id,
              struct decision *d, struct tok_error *e)
{
	enum tok_err rc = TOK_OK;
	size_t i;

	if (rule->revocation_key != NULL) {
		if (!cap_is_template(rule->revocation_key))
			d->revocation_key = strdup(rule->revocation_key);
		else if (id->id != NULL)
			d->revocation_key = cap_fill_template(
			    rule->revocation_key, id->id);
		else
			goto claims;  /* anonymous: nothing to revoke by */
		if (d->revocation_key == NULL)
			return tok_fail(e, TOK_ENOMEM, 0, "out of memory");
	}
claims:
	for (i = 0; i < rule->n_channel_claims && rc == TOK_OK; i++)
		rc = add_extra(d, JWT_CHANNEL_CLAIM,
		    rule->channel_claims[i].channel,
		    rule->channel_claims[i].value, 0, id, e);
	for (i = 0; i < rule->n_rate_limits && rc == TOK_OK; i++)
		rc = add_extra(d, JWT_RATE_CLAIM, rule->rate_limits[i].channel,
		    rule->rate_limits[i].value, 1, id, e);
	return rc;
}

enum tok_err
policy_decide(const struct request *r, const struct config *c,
              struct decision *d, struct tok_error *e)
{
	const struct rule *rule = NULL;
	struct capability *asked = NULL;
	struct identity id;
	enum tok_err rc;

	memset(d, 0, sizeof(*d));
	memset(&id, 0, sizeof(id));
	/* Malformed input (400) first, then who is asking (401), then what
	 * they may have (403). */
	rc = check_client_id_text(r, e);
	if (rc == TOK_OK)
		rc = identity_resolve(r, c, &id, e);
	if (rc == TOK_OK) {
		rule = policy_rule_for(c, &id);
		rc = decide_ttl(c, rule, r, d, e);
	}
	if (rc == TOK_OK)
		rc = parse_asked(r, &asked, e);
	if (rc == TOK_OK)
		rc = decide_client_id(rule, r, &id, d, e);
	if (rc == TOK_OK)
		rc = decide_capability(c, rule, &id, asked, d, e);
	/* The other modes have no place for these claims. */
	if (rc == TOK_OK && c->mode == MODE_JWT)
		rc = decide_claims(rule, &id, d, e);
	cap_free(asked);
	identity_free(&id);
	if (rc != TOK_OK)
		policy_decision_free(d);
	d->rule = rule;
	return rc;
}
