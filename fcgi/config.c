/* config: parse `name = value` lines, validate, apply the environment.
 *
 * The table of settings (setting.c) says which names exist, their type,
 * bounds and default; this file applies a value to struct config (rules.c
 * the policy's own settings). config_file.c reads the file and checks its
 * bytes and permissions; config_check.c checks the whole once it is read. A
 * mistake anywhere stops start-up with file:line: the service must never
 * run on a configuration it read differently from how it was written.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_check.h"
#include "config_file.h"
#include "crypto.h"
#include "key_file.h"
#include "log.h"
#include "privilege.h"
#include "setting.h"

static const char *const mode_names[MODE__MAX] = {
	[MODE_TOKEN_REQUEST] = "token-request",
	[MODE_JWT] = "jwt",
	[MODE_TOKEN] = "token",
};

void
config_warn(const struct config *c)
{
	if (!key_loaded(&c->key))
		log_warn("no Ably key configured (ABLY_API_KEY or key = ...): "
		    "every token request will be answered with a 500 error");
	if (key_loaded(&c->previous_key) && key_loaded(&c->key) &&
	    strcmp(c->previous_key.name, c->key.name) == 0 &&
	    c->previous_key.secret_len == c->key.secret_len &&
	    crypto_equal(c->previous_key.secret, c->key.secret,
	    c->key.secret_len))
		log_warn("previous_key (from %s) is the same key as key: a "
		    "rotation needs the new key in key and the old one in "
		    "previous_key", c->previous_key_source);
	else if (key_loaded(&c->previous_key))
		log_info("key rotation: ids issued with previous_key %s (from "
		    "%s) are still accepted; remove it once the overlap is "
		    "over", c->previous_key.name, c->previous_key_source);
}

const char *
config_mode_name(enum tok_mode m)
{
	return (m >= 0 && m < MODE__MAX) ? mode_names[m] : "?";
}

int
config_origin_allowed(const struct config *c, const char *origin)
{
	size_t i;

	if (origin == NULL)
		return 0;
	for (i = 0; i < c->n_cors_origins; i++)
		if (strcmp(c->cors_origins[i], origin) == 0)
			return 1;
	return 0;
}

void
config_free(struct config *c)
{
	size_t i;

	key_clear(&c->key);
	key_clear(&c->previous_key);
	free(c->client_id);
	cap_free(c->capability);
	free(c->capability_text);
	rules_free(&c->rules);
	for (i = 0; i < c->n_cors_origins; i++)
		free(c->cors_origins[i]);
	free(c->cors_origins);
	free(c->health_path);
	free(c->metrics_path);
	free(c->ready_path);
	free(c->path);
	free(c->key_file);
	free(c->user);
	free(c->rest_host);
	setting_free_list(c->fallback_hosts, c->n_fallback_hosts);
	free(c->ca_file);
	free(c->proxy);
	memset(c, 0, sizeof(*c));
}

/* Where a value came from, for messages: "file:line" or a variable. */
struct origin {
	char where[300];
};

/* Every message names where the value came from first. */
#define fail(err, errlen, o, ...) setting_fail(err, errlen, (o)->where, \
	__VA_ARGS__)

/* The key: parsed into a local first, so a bad value leaves the previous
 * key (or none) in place. An empty value removes it, so the environment
 * can still supply one. key_source records where it came from (for the
 * start-up line), never the secret. */
static int
set_a_key(struct ably_key *key, char source[96], const char *name,
          const char *value, const struct origin *o, char *err,
          size_t errlen)
{
	struct tok_error e;
	struct ably_key k;

	if (value[0] == '\0') {
		key_clear(key);
		source[0] = '\0';
		return 0;
	}
	if (key_parse(value, &k, &e) != TOK_OK)
		return fail(err, errlen, o, "%s: %s", name, e.message);
	key_clear(key);
	*key = k;
	(void)snprintf(source, 96, "%.95s", o->where);
	return 0;
}

static int
set_key(struct config *c, const char *value, const struct origin *o,
        char *err, size_t errlen)
{
	return set_a_key(&c->key, c->key_source, "key", value, o, err, errlen);
}

/* The default capability, strictly parsed (it is what callers get), and
 * kept canonical as text too: most answers use it unchanged, so it is
 * printed once here rather than per request. */
static int
set_capability(struct config *c, const char *value, const struct origin *o,
               char *err, size_t errlen)
{
	struct tok_error e;
	struct capability *cap;
	char *text;

	if (cap_parse(value, strlen(value), CAP_STRICT, &cap, &e) != TOK_OK)
		return fail(err, errlen, o, "capability: %s", e.message);
	text = cap_to_string(cap);
	if (text == NULL) {
		cap_free(cap);
		return fail(err, errlen, o, "capability: out of memory");
	}
	cap_free(c->capability);
	free(c->capability_text);
	c->capability = cap;
	c->capability_text = text;
	return 0;
}

/* A cors_origins entry: scheme://host[:port]. Anything with a path, or a
 * lone '*', is a mistake we refuse to guess about. */
static int
origin_ok(const char *s)
{
	return (strncmp(s, "http://", 7) == 0 ||
	    strncmp(s, "https://", 8) == 0) &&
	    strchr(strstr(s, "//") + 2, '/') == NULL &&
	    cap_text_ok(s, strlen(s));
}

/* A host for the REST client: a DNS name or IPv4 address, optionally
 * with :port. Kept strict: it ends up in a URL. */
static int
host_ok(const char *h)
{
	const char *colon = strchr(h, ':');
	size_t n = colon ? (size_t)(colon - h) : strlen(h);
	long long port;

	if (n == 0 || n > 253 || strspn(h, "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-") != n)
		return 0;
	return colon == NULL || setting_number(colon + 1, 1, 65535, &port) == 0;
}

/* setting_split's context while a list setting is collected. */
struct collect {
	char ***list;
	size_t *n;
	size_t max;                  /* items at most */
	int (*ok)(const char *item);
	int nomem;                   /* the failure was out of memory */
};

static int
collect_item(const char *item, size_t len, void *ctx)
{
	struct collect *l = ctx;
	char *copy, **grown;

	copy = strndup(item, len);
	if (copy == NULL) {
		l->nomem = 1;
		return -1;
	}
	if (!l->ok(copy) || *l->n >= l->max) {
		free(copy);
		return -1;
	}
	grown = realloc(*l->list, (*l->n + 1) * sizeof(char *));
	if (grown == NULL) {
		free(copy);
		l->nomem = 1;
		return -1;
	}
	*l->list = grown;
	grown[(*l->n)++] = copy;
	return 0;
}

/* Append the items of a list setting (separated by commas or spaces;
 * empty ones skipped) to *list, each checked by ok. */
static int
set_list(const struct setting *s, const char *value, char ***list,
         size_t *n, size_t max, int (*ok)(const char *item),
         const struct origin *o, char *err, size_t errlen)
{
	struct collect l = { list, n, max, ok, 0 };

	/* Cut at commas and spaces only, as these lists always were: a tab
	 * stays in the item (and fails its check). */
	if (setting_split(value, ", ", SETTING_SPLIT_SKIP_EMPTY |
	    SETTING_SPLIT_NO_TRIM, collect_item, &l) == 0)
		return 0;
	if (l.nomem)
		return fail(err, errlen, o, "out of memory");
	return fail(err, errlen, o, "%s: %s", s->name, s->expect);
}

/* Replace *slot with a copy of value (NULL if empty). */
static int
set_string(char **slot, const char *value)
{
	char *copy = NULL;

	if (value[0] != '\0') {
		copy = strdup(value);
		if (copy == NULL)
			return -1;
	}
	free(*slot);
	*slot = copy;
	return 0;
}

/* The value's shape by its type in the table: numbers, durations and
 * on/off are read here, the rest by their setting's own code. */
static int
read_typed(const struct setting *s, const char *value, long long *n,
           int *on)
{
	switch (s->type) {
	case SETTING_NUMBER:
		return setting_number(value, s->min, s->max, n);
	case SETTING_DURATION:
		if (setting_duration(value, n) != 0 || *n < s->min ||
		    *n > s->max)
			return -1;
		return 0;
	case SETTING_ON_OFF:
		return setting_on_off(value, on);
	default:
		return 0;
	}
}

/* Apply name = value, whose entry in the table is s: config's own, or
 * handed on to rules (with the whole name: rule.fans.match). */
static int
apply(struct config *c, const struct setting *s, const char *name,
      const char *value, const struct origin *o, char *err, size_t errlen)
{
	long long n = 0;
	int i, on = 0, stored = 0;

	if (s->owner == SETTING_RULES) {
		char why[300];

		if (rules_set(&c->rules, name, value, o->where, why,
		    sizeof(why)) != 0)
			return fail(err, errlen, o, "%s", why);
		return 0;
	}
	if (read_typed(s, value, &n, &on) != 0)
		return fail(err, errlen, o, "%s: %s", s->name, s->expect);
	switch (s->id) {
	case SET_KEY:
		return set_key(c, value, o, err, errlen);
	case SET_MODE:
		for (i = 0; i < MODE__MAX; i++)
			if (strcmp(value, mode_names[i]) == 0)
				break;
		if (i == MODE__MAX)
			return fail(err, errlen, o, "mode: %s", s->expect);
		c->mode = (enum tok_mode)i;
		return 0;
	case SET_CLIENT_ID: {
		char why[200];

		/* $remote_user, $header:NAME, $random, $request: the text
		 * stays in client_id for messages only. */
		if (rules_set_identity(&c->rules, value, why, sizeof(why)) < 0)
			return fail(err, errlen, o, "client_id: %s", why);
		if (!cap_text_ok(value, strlen(value)))
			return fail(err, errlen, o, "client_id: must be UTF-8 "
			    "text without control characters");
		stored = set_string(&c->client_id, value);
		break;
	}
	case SET_CAPABILITY:
		return set_capability(c, value, o, err, errlen);
	case SET_TTL:
		c->ttl = n;
		break;
	case SET_MAX_TTL:
		c->max_ttl = n;
		break;
	case SET_CORS_ORIGINS:
		return set_list(s, value, &c->cors_origins, &c->n_cors_origins,
		    (size_t)-1, origin_ok, o, err, errlen);
	case SET_MAX_BODY:
		c->max_body = (size_t)n;
		break;
	case SET_HEALTH_PATH:
	case SET_READY_PATH:
	case SET_METRICS_PATH:
		/* A path the web server passes on as is: no query. */
		if (value[0] != '\0' && (value[0] != '/' ||
		    strpbrk(value, "?# \t") != NULL))
			return fail(err, errlen, o, "%s: %s", s->name,
			    s->expect);
		stored = set_string(s->id == SET_HEALTH_PATH ? &c->health_path :
		    s->id == SET_READY_PATH ? &c->ready_path : &c->metrics_path,
		    value);
		break;
	case SET_PREVIOUS_KEY:
		return set_a_key(&c->previous_key, c->previous_key_source,
		    "previous_key", value, o, err, errlen);
	case SET_READY_FAIL_AFTER:
		c->ready_fail_after = n;
		break;
	case SET_LOG_LEVEL:
		if (log_level_parse(value, &c->log_level) != 0)
			return fail(err, errlen, o, "%s: %s", s->name,
			    s->expect);
		break;
	case SET_LOG_FORMAT:
		if (log_format_parse(value, &c->log_format) != 0)
			return fail(err, errlen, o, "%s: %s", s->name,
			    s->expect);
		break;
	case SET_REST_HOST:
		if (!host_ok(value))
			return fail(err, errlen, o, "%s: %s", s->name,
			    s->expect);
		stored = set_string(&c->rest_host, value);
		break;
	case SET_FALLBACK_HOSTS:
		setting_free_list(c->fallback_hosts, c->n_fallback_hosts);
		c->fallback_hosts = NULL;
		c->n_fallback_hosts = 0;
		c->fallback_hosts_set = 1;
		return set_list(s, value, &c->fallback_hosts,
		    &c->n_fallback_hosts, (size_t)s->max, host_ok, o, err,
		    errlen);
	case SET_PORT:
		c->port = (int)n;
		break;
	case SET_TLS:
		c->tls = on;
		break;
	case SET_QUERY_TIME:
		c->query_time = on;
		break;
	case SET_CONNECT_TIMEOUT_MS:
		c->connect_timeout_ms = (long)n;
		break;
	case SET_REQUEST_TIMEOUT_MS:
		c->request_timeout_ms = (long)n;
		break;
	case SET_UPSTREAM_TIMEOUT_MS:
		c->upstream_timeout_ms = (long)n;
		break;
	case SET_UPSTREAM_CONNECTIONS:
		c->upstream_connections = (long)n;
		break;
	case SET_KEY_FILE:
		if (value[0] != '\0' && (value[0] != '/' ||
		    !cap_text_ok(value, strlen(value))))
			return fail(err, errlen, o, "%s: %s", s->name,
			    s->expect);
		stored = set_string(&c->key_file, value);
		break;
	case SET_USER: {
		struct privilege_account a;
		char why[200];

		/* The names only: they are looked up when the process
		 * switches (a name may exist only on the server). */
		if (value[0] != '\0' && privilege_parse(value, &a, why,
		    sizeof(why)) != 0)
			return fail(err, errlen, o, "user: %s", why);
		stored = set_string(&c->user, value);
		break;
	}
	case SET_CA_FILE:
	case SET_PROXY:
		if (value[0] != '\0' && !cap_text_ok(value, strlen(value)))
			return fail(err, errlen, o, "%s: %s", s->name,
			    s->expect);
		stored = set_string(s->id == SET_CA_FILE ? &c->ca_file :
		    &c->proxy, value);
		break;
	default:
		return fail(err, errlen, o, "unknown setting '%.40s'", s->name);
	}
	return stored == 0 ? 0 : fail(err, errlen, o, "out of memory");
}

static int
load_file(struct config *c, const char *path, unsigned flags, char *err,
          size_t errlen)
{
	int rc = 0, lineno = 0, key_line = 0;
	char *data, *line, *next;
	unsigned long long seen = 0;  /* bit per setting id */
	_Static_assert(SET__MAX <= 64, "seen has a bit for every setting");
	size_t len = 0;
	mode_t mode = 0;

	data = config_file_read(path, &len, &mode, err, errlen);
	if (data == NULL)
		return -1;
	for (line = data; line != NULL && rc == 0; line = next) {
		const struct setting *s;
		struct origin o;
		char *eq, *name, *value;

		next = strchr(line, '\n');
		if (next != NULL)
			*next++ = '\0';
		lineno++;
		(void)snprintf(o.where, sizeof(o.where), "%s:%d", path, lineno);
		line = setting_trim(line);
		if (line[0] == '\0' || line[0] == '#')
			continue;
		eq = strchr(line, '=');
		if (eq == NULL) {
			rc = fail(err, errlen, &o, "expected 'name = value'");
			break;
		}
		*eq = '\0';
		name = setting_trim(line);
		value = setting_trim(eq + 1);
		s = setting_find(name);
		if (s == NULL) {
			rc = fail(err, errlen, &o, "unknown setting '%.40s'",
			    name);
			break;
		}
		/* A setting given twice is almost always a mistake (rules
		 * keeps the same promise for its own). */
		if (s->owner == SETTING_CONFIG) {
			if (seen & (1ULL << s->id)) {
				rc = fail(err, errlen, &o, "%s is set twice",
				    name);
				break;
			}
			seen |= 1ULL << s->id;
		}
		rc = apply(c, s, name, value, &o, err, errlen);
		if (rc == 0 && (s->id == SET_KEY || s->id == SET_PREVIOUS_KEY))
			key_line = lineno;
		/* Two keys in one file: which one is meant is a guess. */
		if (rc == 0 && key_loaded(&c->key) && c->key_file != NULL)
			rc = fail(err, errlen, &o, "key and key_file are both "
			    "set: keep one");
		/* A max_ttl given (not the default) stays as given under
		 * revocable_tokens, where it must then be at most 1 h. */
		if (rc == 0 && s->id == SET_MAX_TTL)
			c->rules.max_ttl_set = 1;
	}
	/* It may hold the key. The whole length: parsing cut the text into
	 * NUL-terminated pieces, so strlen() would stop after the first line. */
	crypto_wipe(data, len);
	free(data);
	/* The log format holds from here, so that the warnings of the load
	 * itself (the file's access, the policy checks) are written in it. */
	if (rc == 0)
		log_set_format(c->log_format);
	if (rc == 0)
		rc = config_file_check_access(path, mode, key_line,
		    (flags & CONFIG_ALLOW_INSECURE) != 0, err, errlen);
	return rc;
}

/* Defaults that depend on other settings: Ably's own fallback hosts go
 * with Ably's own primary host only, as in the Ably SDKs (rest_host has
 * its table default by now). */
static int
finish_rest(struct config *c, const char *path, char *err, size_t errlen)
{
	static const char *const ably_fallbacks[] = {
		"main.a.fallback.ably-realtime.com",
		"main.b.fallback.ably-realtime.com",
		"main.c.fallback.ably-realtime.com",
		"main.d.fallback.ably-realtime.com",
		"main.e.fallback.ably-realtime.com",
	};
	size_t i, n = sizeof(ably_fallbacks) / sizeof(ably_fallbacks[0]);

	if (!c->fallback_hosts_set &&
	    strcmp(c->rest_host, CONFIG_DEFAULT_REST_HOST) == 0) {
		c->fallback_hosts = calloc(n, sizeof(char *));
		if (c->fallback_hosts == NULL)
			goto nomem;
		for (i = 0; i < n; i++) {
			c->fallback_hosts[i] = strdup(ably_fallbacks[i]);
			if (c->fallback_hosts[i] == NULL)
				goto nomem;
			c->n_fallback_hosts = i + 1;
		}
	}
	if (c->connect_timeout_ms > c->upstream_timeout_ms ||
	    c->request_timeout_ms > c->upstream_timeout_ms) {
		(void)snprintf(err, errlen, "%s: connect_timeout_ms and "
		    "request_timeout_ms must not exceed upstream_timeout_ms "
		    "(%ld ms)", path ? path : "settings",
		    c->upstream_timeout_ms);
		return -1;
	}
	return 0;
nomem:
	(void)snprintf(err, errlen, "out of memory");
	return -1;
}

/* The key from key_file, in place of none (key and key_file together
 * were refused while reading the file). */
static int
load_key_file(struct config *c, unsigned flags, char *err, size_t errlen)
{
	struct ably_key k;

	if (key_file_load(c->key_file, (flags & CONFIG_ALLOW_INSECURE) != 0,
	    &k, err, errlen) != 0)
		return -1;
	key_clear(&c->key);
	c->key = k;
	(void)snprintf(c->key_source, sizeof(c->key_source), "key_file %.80s",
	    c->key_file);
	return 0;
}

/* Two probes on one path: only one of them could ever answer. */
static int
check_probe_paths(const struct config *c, const char *path, char *err,
                  size_t errlen)
{
	const char *const p[] = { c->health_path, c->ready_path,
	    c->metrics_path };
	static const char *const name[] = { "health_path", "ready_path",
	    "metrics_path" };
	size_t i, j;

	for (i = 0; i < 3; i++)
		for (j = i + 1; j < 3; j++)
			if (p[i] != NULL && p[j] != NULL &&
			    strcmp(p[i], p[j]) == 0) {
				(void)snprintf(err, errlen, "%s: %s and %s are "
				    "both %s: each needs a path of its own",
				    path ? path : "settings", name[i], name[j],
				    p[i]);
				return -1;
			}
	return 0;
}

int
config_load(struct config *c, const char *path, char *err, size_t errlen)
{
	return config_load_ex(c, path, 0, err, errlen);
}

int
config_load_ex(struct config *c, const char *path, unsigned flags, char *err,
               size_t errlen)
{
	static const char *const key_vars[] = { "ABLY_API_KEY",
	    "VITE_ABLY_KEY" };
	struct origin o;
	unsigned i;
	enum log_format format_before = log_get_format();

	memset(c, 0, sizeof(*c));
	/* The built-in values come from the table, through the same code as
	 * the file's, so a default cannot be a value the file would refuse. */
	(void)snprintf(o.where, sizeof(o.where), "built-in defaults");
	for (i = 0; i < SET__MAX; i++) {
		const struct setting *s = &setting_table[i];

		if (s->owner == SETTING_CONFIG && s->dflt != NULL &&
		    apply(c, s, s->name, s->dflt, &o, err, errlen) != 0)
			goto fail;
	}
	if (path != NULL) {
		c->path = strdup(path);
		if (c->path == NULL || load_file(c, path, flags, err, errlen) != 0)
			goto fail;
	}
	/* Read even when the environment overrides it below, so that a
	 * broken key_file is found now, not when the variable goes away. */
	if (c->key_file != NULL && load_key_file(c, flags, err, errlen) != 0)
		goto fail;
	for (i = 0; i < sizeof(key_vars) / sizeof(key_vars[0]); i++) {
		const char *v = getenv(key_vars[i]);

		if (v == NULL || v[0] == '\0')
			continue;
		if (key_loaded(&c->key))
			log_warn("%s overrides the key from %s (the environment "
			    "comes first)", key_vars[i], c->key_source);
		(void)snprintf(o.where, sizeof(o.where), "%s", key_vars[i]);
		if (set_key(c, v, &o, err, errlen) != 0)
			goto fail;
		break;
	}
	if (getenv("ABLY_PREVIOUS_API_KEY") != NULL &&
	    getenv("ABLY_PREVIOUS_API_KEY")[0] != '\0') {
		(void)snprintf(o.where, sizeof(o.where), "ABLY_PREVIOUS_API_KEY");
		if (set_a_key(&c->previous_key, c->previous_key_source,
		    "previous_key", getenv("ABLY_PREVIOUS_API_KEY"), &o, err,
		    errlen) != 0)
			goto fail;
	}
	if (finish_rest(c, path, err, errlen) != 0 ||
	    check_probe_paths(c, path, err, errlen) != 0)
		goto fail;
	if (config_check_policy(&c->rules, c->path, c->mode,
	    config_mode_name(c->mode), c->capability, c->client_id, c->ttl,
	    &c->max_ttl, err, errlen) != 0)
		goto fail;
	/* What req_parse must copy for identity: the secret only when one is
	 * configured (no reason to hold a caller's guess at it otherwise). */
	c->req_extra.trusted_param = c->rules.trusted_secret != NULL ?
	    RULES_TRUSTED_PARAM : NULL;
	c->req_extra.identity_param = c->rules.header;
	c->req_extra.group_param = c->rules.group_header;
	return 0;
fail:
	log_set_format(format_before);  /* a failed load changes nothing */
	config_free(c);
	return -1;
}
