/* rules: the policy's settings: where a caller's identity comes from, groups
 * of identities, and rules that give an identity or group its own
 * capability, ttl limits and JWT claims.
 *
 * config owns a struct rules: it hands every `name = value` line whose name
 * rules_is_setting() accepts to rules_set(), and the client_id setting to
 * rules_set_identity(). config_load() then checks the whole at start-up;
 * afterwards it is read-only. conf/ably-token.conf documents the
 * syntax, README.md ("Security model") the model.
 */
#ifndef TOK_RULES_H
#define TOK_RULES_H

#include <stddef.h>

#include "capability.h"
#include "rule.h"

#define RULES_MAX 64            /* rule.<name>.* rules */
#define RULES_MAX_GROUPS 64     /* group.<name> lists */
#define RULES_MAX_ITEMS 1024    /* members of a group, items of a match */

/* The FastCGI parameter (not a header: client headers arrive as HTTP_*, so
 * no client can set it) that carries trusted_header_secret. */
#define RULES_TRUSTED_PARAM "TRUSTED_HEADER_SECRET"

enum id_source {
	ID_FIXED,        /* the config's client_id; NULL there = no identity */
	ID_REMOTE_USER,  /* REMOTE_USER: the web server did the login */
	ID_HEADER,       /* a header a trusted proxy set (HTTP_<NAME>) */
	ID_RANDOM,       /* a new anonymous id from the CSPRNG */
	ID_REQUEST,      /* whatever the caller asks for (development only) */
	ID__MAX
};

/* How every ID_RANDOM id starts (identity.c makes and checks them; the
 * start-up checks need only the prefix). */
#define RULES_ANON_PREFIX "anon-"

struct rule_group {
	char *name;
	char **members;
	size_t n_members;
};

struct rules {
	enum id_source source;
	char *header;           /* ID_HEADER: the parameter, e.g. HTTP_X_USER */
	char *group_header;     /* parameter holding the caller's groups */
	char *trusted_secret;   /* trusted_header_secret; NULL = none */
	int revocable_tokens;   /* the key has revocable tokens: 1 h max */
	int max_ttl_set;        /* config max_ttl was given explicitly */
	struct rule dflt;       /* the top-level per-rule settings */
	struct rule *rules;     /* in the order their names first appear */
	size_t n;
	struct rule_group *groups;
	size_t n_groups;
	unsigned set;           /* top-level settings given */
};

/* 1 if name is a setting of this module. */
int rules_is_setting(const char *name);

/* Apply one setting. where is "file:line" (kept for later messages). On
 * failure returns -1 with a message (never quoting a secret) in err. */
int rules_set(struct rules *r, const char *name, const char *value,
              const char *where, char *err, size_t errlen)
	__attribute__((warn_unused_result));

/* The client_id setting: returns 1 for an identity source ($remote_user,
 * $header:NAME, $random, $request), 0 for a fixed id (or empty: none),
 * -1 with err for an unknown source or bad header name. */
int rules_set_identity(struct rules *r, const char *value, char *err,
                       size_t errlen)
	__attribute__((warn_unused_result));

/* Release everything; safe on a zeroed struct. */
void rules_free(struct rules *r);

/* The group.<name> list called name, or NULL. */
const struct rule_group *rules_group(const struct rules *r, const char *name);

/* 1 if the rule adds any JWT claim (revocation key, channel, rate). */
int rules_has_claims(const struct rule *rule);

/* 1 if anything of the rule (capability, claims) holds {clientId}. */
int rules_uses_template(const struct rule *rule);

const char *rules_source_name(enum id_source s);

#endif
