/* identity: the caller's identity and groups from the request. */
#include "identity.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "capability.h"
#include "crypto.h"
#include "log.h"
#include "setting.h"

/* What the anonymous-id MAC signs, before the random part: a fixed label
 * keeps these MACs apart from every other use of the key. */
#define ANON_LABEL "ably-token anonymous clientId\n"
#define ANON_RANDOM_HEX 24
#define ANON_MAC_HEX 16

void
identity_free(struct identity *id)
{
	size_t i;

	free(id->id);
	for (i = 0; i < id->n_groups; i++)
		free(id->groups[i]);
	free(id->groups);
	memset(id, 0, sizeof(*id));
}

static void
to_hex(const unsigned char *p, size_t n, char *out)
{
	static const char hex[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < n; i++) {
		out[2 * i] = hex[p[i] >> 4];
		out[2 * i + 1] = hex[p[i] & 15];
	}
	out[2 * n] = '\0';
}

/* The MAC part (ANON_MAC_HEX hex digits + NUL) for a random part. */
static enum tok_err
anon_mac(const struct ably_key *k, const char *random_hex,
         char out[ANON_MAC_HEX + 1])
{
	char msgbuf[sizeof(ANON_LABEL) + ANON_RANDOM_HEX];
	unsigned char mac[CRYPTO_MAC_LEN];
	const char *secret = k->secret ? k->secret : "";
	enum tok_err rc;

	(void)snprintf(msgbuf, sizeof(msgbuf), "%s%.*s", ANON_LABEL,
	    ANON_RANDOM_HEX, random_hex);
	/* The key's own HMAC, keyed once at load, as signing uses; a one-shot
	 * HMAC only without one (no key loaded). */
	rc = k->hmac != NULL ?
	    crypto_hmac_sign(k->hmac, msgbuf, strlen(msgbuf), mac) :
	    crypto_hmac_sha256(secret, k->secret ? k->secret_len : 0,
	    msgbuf, strlen(msgbuf), mac);
	if (rc == TOK_OK)
		to_hex(mac, ANON_MAC_HEX / 2, out);
	crypto_wipe(mac, sizeof(mac));
	return rc;
}

enum tok_err
identity_new_anonymous(const struct ably_key *k,
                       char out[IDENTITY_ANON_LEN + 1])
{
	unsigned char rnd[ANON_RANDOM_HEX / 2];
	char random_hex[ANON_RANDOM_HEX + 1], mac[ANON_MAC_HEX + 1];
	enum tok_err rc;

	rc = crypto_random(rnd, sizeof(rnd));
	if (rc != TOK_OK)
		return rc;
	to_hex(rnd, sizeof(rnd), random_hex);
	rc = anon_mac(k, random_hex, mac);
	if (rc != TOK_OK)
		return rc;
	(void)snprintf(out, IDENTITY_ANON_LEN + 1, "%s%s%s",
	    IDENTITY_ANON_PREFIX, random_hex, mac);
	return TOK_OK;
}

int
identity_anonymous_ok(const struct ably_key *k, const char *id)
{
	const size_t plen = strlen(IDENTITY_ANON_PREFIX);
	char mac[ANON_MAC_HEX + 1];

	if (strlen(id) != IDENTITY_ANON_LEN ||
	    strncmp(id, IDENTITY_ANON_PREFIX, plen) != 0 ||
	    strspn(id + plen, "0123456789abcdef") != IDENTITY_ANON_LEN - plen)
		return 0;
	if (anon_mac(k, id + plen, mac) != TOK_OK)
		return 0;
	return crypto_equal(mac, id + plen + ANON_RANDOM_HEX, ANON_MAC_HEX);
}

/* 1 if the request carries RULES_TRUSTED_PARAM equal to the configured
 * secret. Both sides are MACed first so the comparison takes the same time
 * whatever the lengths. */
static int
trusted(const struct config *c, const struct request *r)
{
	static const char label[] = "ably-token trusted header secret";
	const char *given = r->trusted_secret;
	unsigned char a[CRYPTO_MAC_LEN], b[CRYPTO_MAC_LEN];
	int ok;

	if (c->rules.trusted_secret == NULL || given == NULL)
		return 0;
	if (crypto_hmac_sha256(label, sizeof(label) - 1, given, strlen(given),
	    a) != TOK_OK || crypto_hmac_sha256(label, sizeof(label) - 1,
	    c->rules.trusted_secret, strlen(c->rules.trusted_secret), b) !=
	    TOK_OK)
		return 0;
	ok = crypto_equal(a, b, sizeof(a));
	crypto_wipe(a, sizeof(a));
	crypto_wipe(b, sizeof(b));
	return ok;
}

/* An identity as a clientId: UTF-8 text, no controls, bounded. */
static int
usable(const char *s)
{
	size_t n = strlen(s);

	return n > 0 && n <= IDENTITY_MAX_LEN && cap_text_ok(s, n);
}

/* setting_split's context while read_groups collects. */
struct group_list {
	struct identity *id;
	struct tok_error *e;
	enum tok_err rc;
};

static int
group_item(const char *item, size_t n, void *ctx)
{
	struct group_list *gl = ctx;
	struct identity *id = gl->id;
	char *g, **grown;

	if (id->n_groups >= IDENTITY_MAX_GROUPS) {
		gl->rc = tok_fail(gl->e, TOK_EAUTH, 40100, "the caller's group "
		    "list is too long");
		return -1;
	}
	g = strndup(item, n);
	grown = g ? realloc(id->groups, (id->n_groups + 1) * sizeof(char *)) :
	    NULL;
	if (grown == NULL) {
		free(g);
		gl->rc = tok_fail(gl->e, TOK_ENOMEM, 0, "out of memory");
		return -1;
	}
	id->groups = grown;
	id->groups[id->n_groups++] = g;
	return 0;
}

/* The group header's comma-separated list into id->groups (empty items
 * skipped: "a,,b" is a proxy's harmless slip). */
static enum tok_err
read_groups(const char *text, struct identity *id, struct tok_error *e)
{
	struct group_list gl = { id, e, TOK_OK };

	(void)setting_split(text, ",", SETTING_SPLIT_SKIP_EMPTY, group_item,
	    &gl);
	return gl.rc;
}

/* The trusted headers (identity, groups), when the request proves it came
 * through the web server's trusted path. A trusted header without that
 * proof is refused: some other path lets callers set it. */
static enum tok_err
trusted_headers(const struct config *c, const struct request *r,
                const char **user, struct identity *id, struct tok_error *e)
{
	const struct rules *rules = &c->rules;
	const char *groups = NULL;
	int proven;

	*user = NULL;
	if (rules->source != ID_HEADER && rules->group_header == NULL)
		return TOK_OK;
	proven = trusted(c, r);
	/* req_parse copied them because the config named them. */
	if (rules->source == ID_HEADER)
		*user = r->identity_header;
	if (rules->group_header != NULL)
		groups = r->group_header;
	if (!proven && ((*user != NULL && (*user)[0] != '\0') ||
	    (groups != NULL && groups[0] != '\0'))) {
		log_warn("a trusted identity header came without %s (or with "
		    "a wrong one): refused; check the web server's config",
		    RULES_TRUSTED_PARAM);
		*user = NULL;
		return tok_fail(e, TOK_EAUTH, 40100, "the identity headers did "
		    "not come from the trusted login path");
	}
	if (groups != NULL && groups[0] != '\0')
		return read_groups(groups, id, e);
	return TOK_OK;
}

enum tok_err
identity_resolve(const struct request *r, const struct config *c,
                 struct identity *out, struct tok_error *e)
{
	const struct req_value *asked = &r->client_id;
	const char *user = NULL;
	char anon[IDENTITY_ANON_LEN + 1];
	enum tok_err rc;

	memset(out, 0, sizeof(*out));
	rc = trusted_headers(c, r, &user, out, e);
	if (rc != TOK_OK)
		return rc;
	switch (c->rules.source) {
	case ID_FIXED:
		user = c->client_id;
		break;
	case ID_REMOTE_USER:
		user = r->remote_user;
		/* With a trusted_header_secret, REMOTE_USER is believed only
		 * from the path that passes it too: nginx fills $remote_user
		 * from any Basic header where auth_basic is not on. */
		if (c->rules.trusted_secret != NULL && user != NULL &&
		    user[0] != '\0' && !trusted(c, r)) {
			log_warn("REMOTE_USER came without %s (or with a wrong "
			    "one): refused; check the web server's config",
			    RULES_TRUSTED_PARAM);
			return tok_fail(e, TOK_EAUTH, 40100, "the identity did "
			    "not come from the trusted login path");
		}
		/* FALLTHROUGH */
	case ID_HEADER:
		if (user == NULL || user[0] == '\0')
			return tok_fail(e, TOK_EAUTH, 40100, "no identity: "
			    "log in first");
		if (!usable(user))
			return tok_fail(e, TOK_EAUTH, 40100, "the login name "
			    "cannot be used as a clientId (at most %d bytes of "
			    "UTF-8 text)", IDENTITY_MAX_LEN);
		break;
	case ID_RANDOM:
		/* ably-js asks again with the clientId its last token had:
		 * keep it if this endpoint made it. */
		if (asked->present && strcmp(asked->text, "*") != 0) {
			/* During a key rotation, ids the previous key
			 * issued still renew (with the current key). */
			if (!identity_anonymous_ok(&c->key, asked->text) &&
			    (!key_loaded(&c->previous_key) ||
			    !identity_anonymous_ok(&c->previous_key,
			    asked->text)))
				return tok_fail(e, TOK_EDENIED, 40300, "the "
				    "requested clientId is not an anonymous id "
				    "this endpoint issued");
			user = asked->text;
		} else {
			rc = identity_new_anonymous(&c->key, anon);
			if (rc != TOK_OK)
				return tok_fail(e, rc, 0, "no random bytes for "
				    "an anonymous id");
			user = anon;
		}
		break;
	case ID_REQUEST:
		if (asked->present && strcmp(asked->text, "*") != 0) {
			if (!usable(asked->text))
				return tok_fail(e, TOK_EINVAL, 40012, "clientId "
				    "must be 1 to %d bytes of UTF-8 text",
				    IDENTITY_MAX_LEN);
			user = asked->text;
		}
		break;
	default:
		return tok_fail(e, TOK_EINTERNAL, 0, "unknown identity source");
	}
	if (user != NULL) {
		out->id = strdup(user);
		if (out->id == NULL)
			return tok_fail(e, TOK_ENOMEM, 0, "out of memory");
	}
	return TOK_OK;
}

int
identity_in_group(const struct rules *rules, const struct identity *id,
                  const char *group)
{
	const struct rule_group *g;
	size_t i;

	for (i = 0; i < id->n_groups; i++)
		if (strcmp(id->groups[i], group) == 0)
			return 1;
	g = rules_group(rules, group);
	if (g == NULL || id->id == NULL)
		return 0;
	for (i = 0; i < g->n_members; i++)
		if (strcmp(g->members[i], id->id) == 0)
			return 1;
	return 0;
}
