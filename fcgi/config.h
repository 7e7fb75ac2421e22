/* config: settings from the config file and the environment, read once at
 * start-up and read-only afterwards.
 *
 * Precedence: built-in defaults < config file (--config FILE or
 * ABLY_TOKEN_CONF) < environment (ABLY_API_KEY, else VITE_ABLY_KEY, for the
 * key only). The file gives the key with `key` or `key_file`, not both; the
 * environment overrides either (said in the log). conf/ably-token.conf documents every setting.
 */
#ifndef TOK_CONFIG_H
#define TOK_CONFIG_H

#include <stddef.h>

#include "capability.h"
#include "key.h"
#include "log.h"
#include "request.h"
#include "rules.h"
#include "setting.h"

/* Ably's own limits (setting.h), under the names config's users know. */
#define CONFIG_MAX_TTL_MS SETTING_MAX_TTL_MS
#define CONFIG_MIN_TTL_MS SETTING_MIN_TTL_MS

struct config {
	struct ably_key key;          /* empty when no key is configured */
	char key_source[96];          /* where the key came from (no secret) */
	struct ably_key previous_key; /* key rotation: still accepted for
	                               * anonymous ids it issued; empty = none */
	char previous_key_source[96];
	enum tok_mode mode;
	char *client_id;              /* NULL = anonymous tokens */
	struct capability *capability;
	char *capability_text;        /* canonical form of capability */
	long long ttl;                /* default lifetime, ms */
	long long max_ttl;            /* largest ttl a caller may ask, ms */
	struct rules rules;           /* identity source, groups, rules */
	struct req_extra req_extra;   /* the parameters rules needs from a
	                               * request (names borrowed from rules) */
	char **cors_origins;          /* exact origins allowed for CORS */
	size_t n_cors_origins;
	size_t max_body;              /* bytes */
	char *health_path;            /* NULL = no health answer */
	char *metrics_path;           /* NULL = no metrics answer */
	char *ready_path;             /* NULL = no readiness answer */
	long long ready_fail_after;   /* ms every Ably host may fail before
	                               * not ready (token mode); 0 = never */
	enum log_level log_level;
	enum log_format log_format;   /* applied by config_load (see there) */
	char *path;                   /* the config file, NULL if none */
	char *key_file;               /* key_file: the key's own file, or NULL */
	char *user;                   /* user: NAME[:GROUP] to run as, or NULL */

	/* token mode: where and how to reach Ably's REST API */
	char *rest_host;              /* host or host:port */
	char **fallback_hosts;        /* host or host:port each */
	size_t n_fallback_hosts;
	int fallback_hosts_set;       /* 1 if the setting was given */
	int port;                     /* 0 = 443 with tls, 80 without */
	int tls;
	long connect_timeout_ms;      /* per try */
	long request_timeout_ms;      /* per try */
	long upstream_timeout_ms;     /* every try together */
	long upstream_connections;    /* per host and worker (HTTP/1.1) */
	int query_time;               /* sign with Ably's clock (GET /time) */
	char *ca_file;                /* NULL = the system's CA bundle */
	char *proxy;                  /* NULL = none, whatever the env says */
};

/* The table's default rest_host (Ably's own, which has fallbacks). */
#define CONFIG_DEFAULT_REST_HOST (setting_table[SET_REST_HOST].dflt)

/* Load defaults, then the file at path (NULL = none), then the
 * environment, then check the whole (rules, and how they meet the
 * top-level ttl limits and identity source). On success *c is complete and
 * stays read-only from then on; on failure returns -1 with err naming the
 * setting or file:line, and *c is freed already. The key's secret is never
 * quoted. */
int config_load(struct config *c, const char *path, char *err, size_t errlen)
	__attribute__((warn_unused_result));

/* config_load with flags: CONFIG_ALLOW_INSECURE starts even when the
 * config file holding the key is readable by every user (logged); without
 * it that is an error. */
#define CONFIG_ALLOW_INSECURE 1u
int config_load_ex(struct config *c, const char *path, unsigned flags,
                   char *err, size_t errlen)
	__attribute__((warn_unused_result));

/* config_load and config_load_ex also set the log format (log.h) from
 * log_format as soon as the file is read, so that their own warnings are
 * in it; a load that fails puts back the format it found. */

/* Release everything (wiping the key). Safe on a zeroed config. */
void config_free(struct config *c);

/* Log what is allowed but probably a mistake (no key, previous_key the
 * same as key), and a key rotation in progress. */
void config_warn(const struct config *c);

const char *config_mode_name(enum tok_mode m);

/* 1 if origin is in cors_origins. */
int config_origin_allowed(const struct config *c, const char *origin);

#endif
