/* setting: the small parsers every setting shares, and the table of every
 * setting the config file knows.
 *
 * This is the bottom of the configuration layer: config, rules, cli and
 * peers call it, and it calls nothing of theirs, so a parsing rule (what a
 * duration looks like, how a list is split, how a mistake is reported)
 * lives in one place. Pure functions of their arguments; no I/O.
 */
#ifndef TOK_SETTING_H
#define TOK_SETTING_H

#include <stddef.h>

enum tok_mode { MODE_TOKEN_REQUEST, MODE_JWT, MODE_TOKEN, MODE__MAX };

/* Ably's limits on a token's lifetime, in ms. */
#define SETTING_MIN_TTL_MS 1000LL
#define SETTING_MAX_TTL_MS (24LL * 3600 * 1000)
#define SETTING_REVOCABLE_MAX_TTL_MS (3600LL * 1000)  /* revocable keys */

/* Strip spaces and tabs from both ends and a CR from the end, in place;
 * returns the new start inside s. */
char *setting_trim(char *s);

/* "on|yes|true|1" -> 1, "off|no|false|0" -> 0 in *out; -1 otherwise. */
int setting_on_off(const char *value, int *out)
	__attribute__((warn_unused_result));

/* An on/off setting that may be given once: bit in *set records it. On a
 * repeat or a value setting_on_off refuses, -1 with err naming what (the
 * setting); else 0 with *out set. */
int setting_on_off_once(const char *value, int *out, unsigned *set,
                        unsigned bit, const char *what, char *err,
                        size_t errlen)
	__attribute__((warn_unused_result));

/* A duration: plain milliseconds or a number with ms|s|m|h, into *ms.
 * -1 for anything else, or a value far beyond any ttl limit. */
int setting_duration(const char *s, long long *ms)
	__attribute__((warn_unused_result));

/* The n bytes at text as a decimal number within [min, max] into *out.
 * Digits only (a leading '-' only when min < 0): no spaces, no '+', no
 * hex. -1 when out of range, including an overflow of long long. */
int setting_number_n(const char *text, size_t n, long long min,
                     long long max, long long *out)
	__attribute__((warn_unused_result));

/* setting_number_n over the whole NUL-terminated text. */
int setting_number(const char *text, long long min, long long max,
                   long long *out)
	__attribute__((warn_unused_result));

/* An unsigned decimal number up to max (ULLONG_MAX: any that fits) into
 * *out; digits only. -1 when longer than unsigned long long holds. */
int setting_unumber(const char *text, unsigned long long max,
                    unsigned long long *out)
	__attribute__((warn_unused_result));

/* setting_split flags. */
#define SETTING_SPLIT_SKIP_EMPTY 1u  /* empty items are not passed on */
#define SETTING_SPLIT_TRIM_CR 2u     /* also strip a CR at an item's end */
#define SETTING_SPLIT_NO_TRIM 4u     /* pass items as cut, tabs and all */

/* Call each(item, n, ctx) for every item of text split at any byte of
 * seps, with spaces and tabs around it stripped (unless
 * SETTING_SPLIT_NO_TRIM; either way the item is not
 * NUL-terminated: n bytes). Stops at the first non-zero return of each
 * and returns it; 0 when every item was passed. */
int setting_split(const char *text, const char *seps, unsigned flags,
                  int (*each)(const char *item, size_t n, void *ctx),
                  void *ctx);

/* Free the n strings of a list (what a list setting was split into), then
 * the list itself. Safe on NULL with n = 0. */
void setting_free_list(char **list, size_t n);

/* Write "where: " (when where is not NULL) and the formatted message into
 * err, truncated to errlen. Always returns -1, so a caller can
 * `return setting_fail(...)`. where is "file:line" or the variable. */
int setting_fail(char *err, size_t errlen, const char *where,
                 const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* How a setting's value is read. */
enum setting_type {
	SETTING_TEXT,      /* checked by its owner */
	SETTING_NUMBER,    /* setting_number within [min, max] */
	SETTING_ON_OFF,    /* setting_on_off */
	SETTING_DURATION,  /* setting_duration within [min, max] ms */
	SETTING_LIST,      /* comma-separated, checked by its owner */
	SETTING__MAX
};

/* Every setting of the config file; an index into setting_table. */
enum setting_id {
	SET_KEY, SET_MODE, SET_CLIENT_ID, SET_CAPABILITY, SET_TTL,
	SET_MAX_TTL, SET_CORS_ORIGINS, SET_MAX_BODY, SET_HEALTH_PATH,
	SET_LOG_LEVEL,
	SET_LOG_FORMAT,
	/* operations: key rotation, readiness, metrics */
	SET_PREVIOUS_KEY, SET_READY_PATH, SET_READY_FAIL_AFTER,
	SET_METRICS_PATH,
	/* where the key comes from, and whom the process runs as */
	SET_KEY_FILE, SET_USER,
	/* token mode: reaching Ably */
	SET_REST_HOST, SET_FALLBACK_HOSTS, SET_PORT, SET_TLS,
	SET_CONNECT_TIMEOUT_MS, SET_REQUEST_TIMEOUT_MS, SET_UPSTREAM_TIMEOUT_MS,
	SET_QUERY_TIME, SET_CA_FILE, SET_PROXY, SET_UPSTREAM_CONNECTIONS,
	/* rules.c's */
	SET_TRUSTED_HEADER_SECRET, SET_GROUP_HEADER, SET_REVOCABLE_TOKENS,
	SET_WILDCARD_CLIENT_ID, SET_REVOCATION_KEY, SET_CHANNEL_CLAIM,
	SET_PUBLISH_MAX_RATE, SET_GROUP, SET_RULE,
	SET__MAX
};

/* Which module applies a setting. */
enum setting_owner {
	SETTING_CONFIG,  /* config.c: the top-level settings */
	SETTING_RULES,   /* rules.c: identity, groups and rules */
	SETTING__OWNERS
};

/* Mode bits for struct setting's modes. */
#define SETTING_MODE(m) (1u << (m))
#define SETTING_ALL_MODES ((1u << MODE__MAX) - 1)

struct setting {
	enum setting_id id;
	const char *name;         /* the name, or a prefix ending in '.' */
	enum setting_type type;
	enum setting_owner owner;
	long long min, max;       /* NUMBER and DURATION only */
	const char *dflt;         /* the built-in value as written in the
	                           * file; NULL = none */
	unsigned modes;           /* SETTING_MODE() bits it has effect in */
	const char *expect;       /* the message for a bad value, after
	                           * "name: "; NULL = the owner's */
};

/* Every setting, indexed by its id. */
extern const struct setting setting_table[SET__MAX];

/* The entry for name (an exact name, or one under a prefix entry), or
 * NULL for an unknown setting. */
const struct setting *setting_find(const char *name);

#endif
