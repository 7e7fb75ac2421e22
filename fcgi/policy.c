/* policy: the simple policy (fixed identity, default capability, bounded
 * ttl). */
#include "policy.h"

#include <stdlib.h>
#include <string.h>

void
decision_free(struct decision *d)
{
	free(d->client_id);
	free(d->capability);
	memset(d, 0, sizeof(*d));
}

enum tok_err
policy_parse_ttl(const char *text, long long max_ttl, long long *ttl,
                 struct tok_error *e)
{
	long long v = 0;
	size_t i, n = strlen(text);

	/* Digits only: no sign, no spaces, no exponent, no hex. 16 digits is
	 * far past any valid value and keeps the arithmetic from overflow. */
	if (n == 0 || n > 16)
		goto bad;
	for (i = 0; i < n; i++) {
		if (text[i] < '0' || text[i] > '9')
			goto bad;
		v = v * 10 + (text[i] - '0');
	}
	if (v < CONFIG_MIN_TTL_MS || v > max_ttl)
		goto bad;
	*ttl = v;
	return TOK_OK;
bad:
	return tok_fail(e, TOK_EINVAL, 40003, "ttl must be a whole number of "
	    "milliseconds between %lld and %lld", CONFIG_MIN_TTL_MS, max_ttl);
}

static enum tok_err
decide_client_id(const struct config *c, const struct request *r,
                 struct decision *d, struct tok_error *e)
{
	const struct req_value *asked = &r->client_id;

	if (asked->present) {
		size_t len = strlen(asked->text);

		if (len == 0)
			return tok_fail(e, TOK_EINVAL, 40012,
			    "clientId must not be an empty string");
		if (!cap_text_ok(asked->text, len))
			return tok_fail(e, TOK_EINVAL, 40012,
			    "clientId must be UTF-8 text without control "
			    "characters");
		if (c->client_id == NULL)
			return tok_fail(e, TOK_EDENIED, 40300, "this endpoint "
			    "issues anonymous tokens; a clientId cannot be "
			    "requested");
		if (strcmp(asked->text, c->client_id) != 0)
			return tok_fail(e, TOK_EDENIED, 40300, "the requested "
			    "clientId is not the identity this endpoint grants");
	}
	if (c->client_id != NULL) {
		d->client_id = strdup(c->client_id);
		if (d->client_id == NULL)
			return tok_fail(e, TOK_ENOMEM, 0, "out of memory");
	}
	return TOK_OK;
}

static enum tok_err
decide_capability(const struct config *c, const struct request *r,
                  struct decision *d, struct tok_error *e)
{
	const struct req_value *asked = &r->capability;
	struct capability *cap = NULL;
	enum tok_err rc;

	/* "" means "not given", as ably-js treats it. */
	if (!asked->present || asked->text[0] == '\0') {
		d->capability = strdup(c->capability_text);
		return d->capability ? TOK_OK :
		    tok_fail(e, TOK_ENOMEM, 0, "out of memory");
	}
	rc = cap_parse(asked->text, strlen(asked->text), CAP_STRICT, &cap, e);
	if (rc != TOK_OK)
		return rc;
	if (!cap_allows(c->capability, cap)) {
		cap_free(cap);
		return tok_fail(e, TOK_EDENIED, 40160, "the requested "
		    "capability goes beyond what this endpoint grants");
	}
	d->capability = cap_to_string(cap);
	cap_free(cap);
	return d->capability ? TOK_OK :
	    tok_fail(e, TOK_ENOMEM, 0, "out of memory");
}

enum tok_err
policy_decide(const struct config *c, const struct request *r,
              struct decision *d, struct tok_error *e)
{
	enum tok_err rc;

	memset(d, 0, sizeof(*d));
	d->ttl = c->ttl;
	if (r->ttl.present) {
		rc = policy_parse_ttl(r->ttl.text, c->max_ttl, &d->ttl, e);
		if (rc != TOK_OK)
			goto fail;
	}
	rc = decide_client_id(c, r, d, e);
	if (rc == TOK_OK)
		rc = decide_capability(c, r, d, e);
	if (rc == TOK_OK)
		return TOK_OK;
fail:
	decision_free(d);
	return rc;
}
