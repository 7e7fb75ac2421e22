/* rule: one rule's own data: the settings a rule shares with the top
 * level (wildcard_client_id, revocation_key and the JWT claims
 * channel_claim.* and publish_max_rate.*), parsed and checked one by one,
 * and freeing a rule. rules.c parses the rest and owns the list.
 */
#include "rule.h"

#include <stdlib.h>
#include <string.h>

#include "setting.h"

/* Messages name the setting; config puts its file:line in front. */
#define msg(err, errlen, ...) setting_fail(err, errlen, NULL, __VA_ARGS__)

/* Bounds on what goes into a JWT claim: a token is sent with every
 * connection, so a typo pasting a file into a claim must not make it huge. */
#define CLAIM_VALUE_MAX 1024
#define CLAIM_CHANNEL_MAX 256

static void
free_claims(struct rule_claim *c, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free(c[i].channel);
		free(c[i].value);
	}
	free(c);
}

void
rule_free(struct rule *rule)
{
	free(rule->name);
	free(rule->where);
	setting_free_list(rule->match, rule->n_match);
	cap_free(rule->capability);
	free(rule->revocation_key);
	free_claims(rule->channel_claims, rule->n_channel_claims);
	free_claims(rule->rate_limits, rule->n_rate_limits);
	memset(rule, 0, sizeof(*rule));
}

/* A positive number of messages per second (digits, optionally a
 * fraction), kept as text: the JWT claim shows it as written, and a double
 * printed back could read 0.1 as 0.10000000000000001. */
static int
rate_ok(const char *s)
{
	static const char digits[] = "0123456789";
	size_t i = strspn(s, digits);
	double v;

	if (i == 0 || strlen(s) > 16)
		return 0;
	if (s[i] == '.') {
		size_t f = strspn(s + i + 1, digits);

		if (f == 0)
			return 0;
		i += 1 + f;
	}
	if (s[i] != '\0')
		return 0;
	v = strtod(s, NULL);
	return v > 0 && v <= 1000000;
}

/* channel_claim.<channel> or publish_max_rate.<channel> (kind 0 / 1). */
static int
add_claim(struct rule *rule, int kind, const char *channel,
          const char *value, const char *what, char *err, size_t errlen)
{
	struct rule_claim **list = kind ? &rule->rate_limits :
	    &rule->channel_claims;
	size_t *n = kind ? &rule->n_rate_limits : &rule->n_channel_claims;
	struct rule_claim *grown;
	size_t i, len = strlen(channel);

	if (len == 0 || len > CLAIM_CHANNEL_MAX || !cap_text_ok(channel, len))
		return msg(err, errlen, "%s: expected a channel name (UTF-8 "
		    "text, at most %d bytes) after the '.'", what,
		    CLAIM_CHANNEL_MAX);
	if (!cap_template_ok(channel))
		return msg(err, errlen, "%s: braces may appear only in the "
		    "placeholder {clientId}", what);
	for (i = 0; i < *n; i++)
		if (strcmp((*list)[i].channel, channel) == 0)
			return msg(err, errlen, "%s is set twice", what);
	if (*n >= RULE_MAX_CLAIMS)
		return msg(err, errlen, "%s: more than %d of these claims",
		    what, RULE_MAX_CLAIMS);
	if (kind == 1 && !rate_ok(value))
		return msg(err, errlen, "%s: expected a positive number of "
		    "messages per second, like 10 or 0.5", what);
	if (kind == 0 && (value[0] == '\0' ||
	    strlen(value) > CLAIM_VALUE_MAX ||
	    !cap_text_ok(value, strlen(value))))
		return msg(err, errlen, "%s: expected the claim's text (UTF-8, "
		    "1 to %d bytes)", what, CLAIM_VALUE_MAX);
	grown = realloc(*list, (*n + 1) * sizeof(*grown));
	if (grown == NULL)
		return msg(err, errlen, "out of memory");
	*list = grown;
	grown[*n].channel = strdup(channel);
	grown[*n].value = strdup(value);
	if (grown[*n].channel == NULL || grown[*n].value == NULL) {
		free(grown[*n].channel);
		free(grown[*n].value);
		return msg(err, errlen, "out of memory");
	}
	(*n)++;
	return 0;
}

int
rule_set_shared(struct rule *rule, const char *field, const char *value,
                const char *what, char *err, size_t errlen)
{
	/* The same names as at the top level, so the table knows them. */
	const struct setting *s = setting_find(field);
	enum setting_id id = s != NULL ? s->id : SET__MAX;

	if (id == SET_WILDCARD_CLIENT_ID)
		return setting_on_off_once(value, &rule->wildcard_client_id,
		    &rule->set, RULE_F_WILDCARD, what, err, errlen);
	if (id == SET_REVOCATION_KEY) {
		char *copy;

		if (rule->set & RULE_F_REVOCATION)
			return msg(err, errlen, "%s is set twice", what);
		if (value[0] != '\0' && (strlen(value) > CLAIM_VALUE_MAX ||
		    !cap_text_ok(value, strlen(value))))
			return msg(err, errlen, "%s: expected UTF-8 text of at "
			    "most %d bytes", what, CLAIM_VALUE_MAX);
		if (!cap_template_ok(value))
			return msg(err, errlen, "%s: braces may appear only in "
			    "the placeholder {clientId}", what);
		copy = value[0] ? strdup(value) : NULL;
		if (value[0] != '\0' && copy == NULL)
			return msg(err, errlen, "out of memory");
		free(rule->revocation_key);
		rule->revocation_key = copy;
		rule->set |= RULE_F_REVOCATION;
		return 0;
	}
	if (id == SET_CHANNEL_CLAIM || id == SET_PUBLISH_MAX_RATE)
		return add_claim(rule, id == SET_PUBLISH_MAX_RATE, field +
		    strlen(s->name), value, what, err, errlen);
	return 1;
}
