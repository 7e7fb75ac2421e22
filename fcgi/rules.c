/* rules: parse the policy settings (identity source, groups, rules);
 * rule.c parses the fields a rule shares with the top level (its claims).
 *
 * Each setting is checked on its own here, as it is read, so a message can
 * name its file:line; how the settings fit together (a rule's group exists,
 * ttl within max_ttl, {clientId} fillable) is checked by config_check once
 * everything is read. Everything kept is an owned copy: the config file's
 * text is wiped after parsing (it may hold the key).
 */
#include "rules.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "crypto.h"
#include "rule.h"
#include "setting.h"

/* Top-level settings, for "set twice". */
enum {
	T_SECRET = 1u << 0,
	T_GROUP_HEADER = 1u << 1,
	T_REVOCABLE = 1u << 2,
};

static const char *const source_names[ID__MAX] = {
	[ID_FIXED] = "fixed",
	[ID_REMOTE_USER] = "$remote_user",
	[ID_HEADER] = "$header",
	[ID_RANDOM] = "$random",
	[ID_REQUEST] = "$request",
};

const char *
rules_source_name(enum id_source s)
{
	return (s >= 0 && s < ID__MAX) ? source_names[s] : "?";
}

/* Messages name the setting; config puts its file:line in front. */
#define msg(err, errlen, ...) setting_fail(err, errlen, NULL, __VA_ARGS__)

void
rules_free(struct rules *r)
{
	size_t i;

	free(r->header);
	free(r->group_header);
	/* crypto_wipe, not memset: a memset just before free() is a dead
	 * store the compiler may drop. */
	if (r->trusted_secret != NULL) {
		crypto_wipe(r->trusted_secret, strlen(r->trusted_secret));
		free(r->trusted_secret);
	}
	rule_free(&r->dflt);
	for (i = 0; i < r->n; i++)
		rule_free(&r->rules[i]);
	free(r->rules);
	for (i = 0; i < r->n_groups; i++) {
		free(r->groups[i].name);
		setting_free_list(r->groups[i].members, r->groups[i].n_members);
	}
	free(r->groups);
	memset(r, 0, sizeof(*r));
}

const struct rule_group *
rules_group(const struct rules *r, const char *name)
{
	size_t i;

	for (i = 0; i < r->n_groups; i++)
		if (strcmp(r->groups[i].name, name) == 0)
			return &r->groups[i];
	return NULL;
}

int
rules_has_claims(const struct rule *rule)
{
	return rule->revocation_key != NULL || rule->n_channel_claims > 0 ||
	    rule->n_rate_limits > 0;
}

int
rules_uses_template(const struct rule *rule)
{
	size_t i;

	if (rule->capability != NULL && cap_has_template(rule->capability))
		return 1;
	if (rule->revocation_key != NULL &&
	    cap_is_template(rule->revocation_key))
		return 1;
	for (i = 0; i < rule->n_channel_claims; i++)
		if (cap_is_template(rule->channel_claims[i].channel))
			return 1;
	for (i = 0; i < rule->n_rate_limits; i++)
		if (cap_is_template(rule->rate_limits[i].channel))
			return 1;
	return 0;
}

/* Rule and group names: letters, digits, '_' and '-'. Nothing that could
 * be read as the '.' or ':' separating them from the rest of a setting. */
static int
name_ok(const char *s, size_t n)
{
	return n > 0 && n <= 64 && strspn(s, "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") >= n;
}

/* setting_split's context while split_list collects. */
struct split {
	const char *what;
	int (*item_ok)(const char *item, const char *what, char *err,
	               size_t errlen);
	char **list;
	size_t count;
	char *err;
	size_t errlen;
};

static int
split_item(const char *item, size_t n, void *ctx)
{
	struct split *sp = ctx;
	char *copy, **grown;
	int rc = -1;

	if (n == 0)
		return msg(sp->err, sp->errlen, "%s: an empty item in the "
		    "comma-separated list", sp->what);
	if (sp->count >= RULES_MAX_ITEMS)
		return msg(sp->err, sp->errlen, "%s: more than %d items",
		    sp->what, RULES_MAX_ITEMS);
	copy = strndup(item, n);
	if (copy == NULL)
		return msg(sp->err, sp->errlen, "out of memory");
	if (sp->item_ok(copy, sp->what, sp->err, sp->errlen) != 0)
		goto out;
	grown = realloc(sp->list, (sp->count + 1) * sizeof(char *));
	if (grown == NULL) {
		rc = msg(sp->err, sp->errlen, "out of memory");
		goto out;
	}
	sp->list = grown;
	sp->list[sp->count++] = copy;
	copy = NULL;
	rc = 0;
out:
	free(copy);
	return rc;
}

/* Split a comma-separated list into new trimmed items, each checked by
 * item_ok (which writes its own message). */
static int
split_list(const char *value, const char *what,
           int (*item_ok)(const char *item, const char *what, char *err,
                          size_t errlen),
           char ***out, size_t *n, char *err, size_t errlen)
{
	struct split sp = { what, item_ok, NULL, 0, err, errlen };

	*out = NULL;
	*n = 0;
	/* A CR too: config_trim used to strip it from every item. */
	if (setting_split(value, ",", SETTING_SPLIT_TRIM_CR, split_item,
	    &sp) != 0) {
		setting_free_list(sp.list, sp.count);
		return -1;
	}
	*out = sp.list;
	*n = sp.count;
	return 0;
}

static int
member_ok(const char *item, const char *what, char *err, size_t errlen)
{
	if (!cap_text_ok(item, strlen(item)))
		return msg(err, errlen, "%s: names must be UTF-8 text without "
		    "control characters", what);
	return 0;
}

static int
match_ok(const char *item, const char *what, char *err, size_t errlen)
{
	if (strcmp(item, "*") == 0)
		return 0;
	if (strncmp(item, "user:", 5) == 0 && item[5] != '\0')
		return member_ok(item + 5, what, err, errlen);
	if (strncmp(item, "group:", 6) == 0 &&
	    name_ok(item + 6, strlen(item + 6)))
		return 0;
	return msg(err, errlen, "%s: expected a comma-separated list of "
	    "user:NAME, group:NAME (letters, digits, _ and -) or *", what);
}

/* A header name as the web server passes it: HTTP_ + upper case, '-' ->
 * '_'. NULL (with err) when the name is not a plain header name. */
static char *
header_param(const char *name, const char *what, char *err, size_t errlen)
{
	size_t i, n = strlen(name);
	char *p;

	if (n == 0 || n > 64 || strspn(name, "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-") != n) {
		msg(err, errlen, "%s: expected a header name of letters, "
		    "digits and '-' (like X-Remote-User)", what);
		return NULL;
	}
	/* CGI passes these two without the HTTP_ prefix, so HTTP_CONTENT_TYPE
	 * would never be set, and the client controls them anyway: neither
	 * can carry an identity. */
	if (strcasecmp(name, "Content-Type") == 0 ||
	    strcasecmp(name, "Content-Length") == 0) {
		msg(err, errlen, "%s: %s cannot carry an identity", what, name);
		return NULL;
	}
	p = malloc(n + 6);
	if (p == NULL) {
		msg(err, errlen, "out of memory");
		return NULL;
	}
	memcpy(p, "HTTP_", 5);
	for (i = 0; i < n; i++) {
		char c = name[i];

		if (c == '-')
			c = '_';
		else if (c >= 'a' && c <= 'z')
			c = (char)(c - 'a' + 'A');
		p[5 + i] = c;
	}
	p[5 + n] = '\0';
	return p;
}

int
rules_set_identity(struct rules *r, const char *value, char *err,
                   size_t errlen)
{
	char *param = NULL;

	if (value[0] != '$') {
		free(r->header);
		r->header = NULL;
		r->source = ID_FIXED;
		return 0;
	}
	if (strcmp(value, "$remote_user") == 0) {
		r->source = ID_REMOTE_USER;
	} else if (strcmp(value, "$random") == 0) {
		r->source = ID_RANDOM;
	} else if (strcmp(value, "$request") == 0) {
		r->source = ID_REQUEST;
	} else if (strncmp(value, "$header:", 8) == 0) {
		param = header_param(value + 8, "client_id = $header:NAME",
		    err, errlen);
		if (param == NULL)
			return -1;
		r->source = ID_HEADER;
	} else {
		return msg(err, errlen, "expected a fixed id, empty (none), "
		    "$remote_user, $header:NAME, $random or $request (a fixed "
		    "id cannot start with '$')");
	}
	free(r->header);
	r->header = param;
	return 1;
}

/* The rule called name (created at the end if new). A rule's settings may
 * be spread over the file; the first one's file:line names the rule in
 * later messages, and their first appearance fixes the order in which
 * policy tries the rules. */
static struct rule *
find_rule(struct rules *r, const char *name, size_t n, const char *where,
          char *err, size_t errlen)
{
	struct rule *grown, *rule;
	size_t i;

	for (i = 0; i < r->n; i++)
		if (strlen(r->rules[i].name) == n &&
		    memcmp(r->rules[i].name, name, n) == 0)
			return &r->rules[i];
	if (r->n >= RULES_MAX) {
		msg(err, errlen, "more than %d rules", RULES_MAX);
		return NULL;
	}
	grown = realloc(r->rules, (r->n + 1) * sizeof(*grown));
	if (grown == NULL) {
		msg(err, errlen, "out of memory");
		return NULL;
	}
	r->rules = grown;
	rule = &r->rules[r->n];
	memset(rule, 0, sizeof(*rule));
	rule->name = strndup(name, n);
	rule->where = strdup(where);
	if (rule->name == NULL || rule->where == NULL) {
		rule_free(rule);
		msg(err, errlen, "out of memory");
		return NULL;
	}
	r->n++;
	return rule;
}

static int
set_rule_field(struct rule *rule, const char *field, const char *value,
               const char *what, char *err, size_t errlen)
{
	int rc;

	if (strcmp(field, "match") == 0) {
		if (rule->set & RULE_F_MATCH)
			return msg(err, errlen, "%s is set twice", what);
		if (split_list(value, what, match_ok, &rule->match,
		    &rule->n_match, err, errlen) != 0)
			return -1;
		rule->set |= RULE_F_MATCH;
		return 0;
	}
	if (strcmp(field, "capability") == 0) {
		struct tok_error e;
		size_t i;

		if (rule->set & RULE_F_CAPABILITY)
			return msg(err, errlen, "%s is set twice", what);
		if (cap_parse(value, strlen(value), CAP_STRICT,
		    &rule->capability, &e) != TOK_OK)
			return msg(err, errlen, "%s: %s", what, e.message);
		for (i = 0; i < rule->capability->n; i++)
			if (!cap_template_ok(rule->capability->entries[i].
			    resource))
				return msg(err, errlen, "%s: braces in resource "
				    "names may appear only in the placeholder "
				    "{clientId}", what);
		rule->set |= RULE_F_CAPABILITY;
		return 0;
	}
	if (strcmp(field, "ttl") == 0 || strcmp(field, "max_ttl") == 0) {
		unsigned bit = field[0] == 't' ? RULE_F_TTL : RULE_F_MAX_TTL;
		long long n;

		if (rule->set & bit)
			return msg(err, errlen, "%s is set twice", what);
		if (setting_duration(value, &n) != 0 ||
		    n < SETTING_MIN_TTL_MS || n > SETTING_MAX_TTL_MS)
			return msg(err, errlen, "%s: expected a duration "
			    "between 1s and 24h, like 3600000 (ms), 3600s, 60m "
			    "or 1h", what);
		*(bit == RULE_F_TTL ? &rule->ttl : &rule->max_ttl) = n;
		rule->set |= bit;
		return 0;
	}
	rc = rule_set_shared(rule, field, value, what, err, errlen);
	if (rc == 1)
		return msg(err, errlen, "%s: unknown rule setting (expected "
		    "match, capability, ttl, max_ttl, wildcard_client_id, "
		    "revocation_key, channel_claim.CHANNEL or "
		    "publish_max_rate.CHANNEL)", what);
	return rc;
}

static int
set_group(struct rules *r, const char *name, const char *value,
          const char *what, char *err, size_t errlen)
{
	struct rule_group *grown, *g;

	if (!name_ok(name, strlen(name)))
		return msg(err, errlen, "%s: group names are letters, digits, "
		    "'_' and '-'", what);
	if (rules_group(r, name) != NULL)
		return msg(err, errlen, "%s is set twice", what);
	if (r->n_groups >= RULES_MAX_GROUPS)
		return msg(err, errlen, "more than %d groups",
		    RULES_MAX_GROUPS);
	grown = realloc(r->groups, (r->n_groups + 1) * sizeof(*grown));
	if (grown == NULL)
		return msg(err, errlen, "out of memory");
	r->groups = grown;
	g = &r->groups[r->n_groups];
	memset(g, 0, sizeof(*g));
	if (split_list(value, what, member_ok, &g->members, &g->n_members,
	    err, errlen) != 0)
		return -1;
	g->name = strdup(name);
	if (g->name == NULL) {
		setting_free_list(g->members, g->n_members);
		return msg(err, errlen, "out of memory");
	}
	r->n_groups++;
	return 0;
}

/* The secret a web server passes in RULES_TRUSTED_PARAM: long enough
 * not to be guessed, and of characters that need no quoting in nginx's or
 * Apache's config (a quoting mistake there would send a different one). */
static int
secret_ok(const char *s)
{
	size_t n = strlen(s);

	return n >= 16 && n <= 256 && strspn(s, "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._~+/=-") == n;
}

/* The table in setting.c says which settings are rules': one list of
 * names for the whole config file. */
int
rules_is_setting(const char *name)
{
	const struct setting *s = setting_find(name);

	return s != NULL && s->owner == SETTING_RULES;
}

int
rules_set(struct rules *r, const char *name, const char *value,
          const char *where, char *err, size_t errlen)
{
	const struct setting *s = setting_find(name);
	enum setting_id id = s != NULL ? s->id : SET__MAX;
	char what[160];
	int rc;

	(void)snprintf(what, sizeof(what), "%.150s", name);
	if (id == SET_TRUSTED_HEADER_SECRET) {
		char *copy = NULL;

		if (r->set & T_SECRET)
			return msg(err, errlen, "%s is set twice", what);
		/* Never quote the value: it is a secret. */
		if (value[0] != '\0' && !secret_ok(value))
			return msg(err, errlen, "%s: expected 16 to 256 "
			    "characters of A-Z a-z 0-9 . _ ~ + / = - (for "
			    "example from `openssl rand -hex 32`)", what);
		if (value[0] != '\0') {
			copy = strdup(value);
			if (copy == NULL)
				return msg(err, errlen, "out of memory");
		}
		r->trusted_secret = copy;
		r->set |= T_SECRET;
		return 0;
	}
	if (id == SET_GROUP_HEADER) {
		if (r->set & T_GROUP_HEADER)
			return msg(err, errlen, "%s is set twice", what);
		if (value[0] != '\0') {
			r->group_header = header_param(value, what, err,
			    errlen);
			if (r->group_header == NULL)
				return -1;
		}
		r->set |= T_GROUP_HEADER;
		return 0;
	}
	if (id == SET_REVOCABLE_TOKENS)
		return setting_on_off_once(value, &r->revocable_tokens,
		    &r->set, T_REVOCABLE, what, err, errlen);
	if (id == SET_GROUP)
		return set_group(r, name + strlen(s->name), value, what, err,
		    errlen);
	if (id == SET_RULE) {
		const char *rname = name + strlen(s->name);
		const char *dot = strchr(rname, '.');
		struct rule *rule;

		if (dot == NULL || !name_ok(rname, (size_t)(dot - rname)) ||
		    dot[1] == '\0')
			return msg(err, errlen, "%s: expected rule.NAME.SETTING "
			    "with a NAME of letters, digits, '_' and '-'", what);
		rule = find_rule(r, rname, (size_t)(dot - rname), where, err,
		    errlen);
		if (rule == NULL)
			return -1;
		return set_rule_field(rule, dot + 1, value, what, err,
		    errlen);
	}
	rc = rule_set_shared(&r->dflt, name, value, what, err, errlen);
	if (rc == 1)
		return msg(err, errlen, "unknown setting '%.40s'", name);
	return rc;
}
