/* config: parse `name = value` lines, validate, apply the environment.
 *
 * The table of settings (setting.c) says which names exist, their type,
 * bounds and default; this file applies a value to struct config (rules.c
 * the policy's own settings), then checks the whole once it is read. A
 * mistake anywhere stops start-up with file:line: the service must never
 * run on a configuration it read differently from how it was written.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "crypto.h"
#include "log.h"
#include "setting.h"
#include "utf8.h"

/* Far more than any real config; a bound so a wrong path (a log file, a
 * device) is refused instead of read whole into memory. */
#define CONFIG_FILE_MAX (256 * 1024)

static const char *const mode_names[MODE__MAX] = {
	[MODE_TOKEN_REQUEST] = "token-request",
	[MODE_JWT] = "jwt",
	[MODE_TOKEN] = "token",
};

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

static void
free_list(char **list, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(list[i]);
	free(list);
}

void
config_free(struct config *c)
{
	size_t i;

	key_clear(&c->key);
	free(c->client_id);
	cap_free(c->capability);
	free(c->capability_text);
	rules_free(&c->rules);
	for (i = 0; i < c->n_cors_origins; i++)
		free(c->cors_origins[i]);
	free(c->cors_origins);
	free(c->health_path);
	free(c->path);
	free(c->rest_host);
	free_list(c->fallback_hosts, c->n_fallback_hosts);
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
set_key(struct config *c, const char *value, const struct origin *o,
        char *err, size_t errlen)
{
	struct tok_error e;
	struct ably_key k;

	if (value[0] == '\0') {
		key_clear(&c->key);
		c->key_source[0] = '\0';
		return 0;
	}
	if (key_parse(value, &k, &e) != TOK_OK)
		return fail(err, errlen, o, "key: %s", e.message);
	key_clear(&c->key);
	c->key = k;
	(void)snprintf(c->key_source, sizeof(c->key_source), "%.95s",
	    o->where);
	return 0;
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
		if (value[0] != '\0' && (value[0] != '/' ||
		    strpbrk(value, "?# \t") != NULL))
			return fail(err, errlen, o, "%s: %s", s->name,
			    s->expect);
		stored = set_string(&c->health_path, value);
		break;
	case SET_LOG_LEVEL:
		if (log_level_parse(value, &c->log_level) != 0)
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
		free_list(c->fallback_hosts, c->n_fallback_hosts);
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

/* Read the whole file into a new NUL-terminated buffer of *len bytes;
 * *mode gets the file's mode bits. */
static char *
slurp(const char *path, size_t *len, mode_t *mode, char *err, size_t errlen)
{
	struct stat st;
	FILE *f;
	char *data;
	size_t n;

	f = fopen(path, "r");
	if (f == NULL) {
		(void)snprintf(err, errlen, "%s: cannot open: %s", path,
		    strerror(errno));
		return NULL;
	}
	if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode) ||
	    st.st_size > CONFIG_FILE_MAX) {
		(void)snprintf(err, errlen, "%s: not a regular file of at "
		    "most %d bytes", path, CONFIG_FILE_MAX);
		fclose(f);
		return NULL;
	}
	*mode = st.st_mode;
	data = malloc((size_t)st.st_size + 1);
	if (data == NULL) {
		(void)snprintf(err, errlen, "%s: out of memory", path);
		fclose(f);
		return NULL;
	}
	n = fread(data, 1, (size_t)st.st_size, f);
	data[n] = '\0';
	*len = n;
	fclose(f);
	return data;
}

/* The length of the setting name that starts a line, if the first n bytes
 * hold one and its '=' (so that a message can name it); 0 otherwise. */
static size_t
setting_name_len(const char *line, size_t n)
{
	size_t i = 0, len;

	while (i < n && (line[i] == ' ' || line[i] == '\t'))
		i++;
	len = 0;
	while (i + len < n && ((line[i + len] >= 'a' && line[i + len] <= 'z') ||
	    (line[i + len] >= '0' && line[i + len] <= '9') ||
	    line[i + len] == '_' || line[i + len] == '.'))
		len++;
	if (len == 0 || i != 0 || memchr(line, '=', n) == NULL)
		return 0;
	return len;
}

/* Every line holds only what the format allows: UTF-8 text without NUL or
 * control characters (tab allowed; a CR only before the LF). A stray NUL
 * would end the text early and silently drop the rules after it, and a
 * policy must never run half-read. 0, or -1 with err naming file:line. */
static int
check_bytes(const char *path, const char *data, size_t len, char *err,
            size_t errlen)
{
	size_t off = 0;
	int lineno = 1;

	while (off < len) {
		const char *nl = memchr(data + off, '\n', len - off);
		size_t end = nl != NULL ? (size_t)(nl - data) : len, n = end - off;

		if (n > 0 && data[off + n - 1] == '\r')
			n--;  /* CRLF line ends are fine */
		if (!utf8_text_ok(data + off, n)) {
			char what[40] = "invalid UTF-8";
			size_t k;

			for (k = 0; k < n; k++) {
				unsigned char ch = (unsigned char)data[off + k];

				if (ch == 0) {
					(void)snprintf(what, sizeof(what),
					    "a NUL byte");
					break;
				}
				if ((ch < 0x20 && ch != '\t') || ch == 0x7f) {
					(void)snprintf(what, sizeof(what),
					    "control character 0x%02x", ch);
					break;
				}
			}
			(void)snprintf(err, errlen, "%s:%d: %.*s%s%s: the file "
			    "must be UTF-8 text without control characters", path,
			    lineno, (int)setting_name_len(data + off, k),
			    data + off, setting_name_len(data + off, k) ? ": " :
			    "", what);
			return -1;
		}
		off = end + 1;
		lineno++;
	}
	return 0;
}

/* Who may change the file decides the rules, rest_host and tls: refuse a
 * file that group or others may write, or that sits in a directory they
 * may write (they could replace it; a sticky directory such as /tmp only
 * lets its owner do that). 0 if safe, or allowed with a warning under
 * CONFIG_ALLOW_INSECURE; -1 with err saying what to chmod. */
static int
check_writers(const char *path, mode_t mode, unsigned flags, char *err,
              size_t errlen)
{
	char dir[4096];
	const char *slash = strrchr(path, '/');
	struct stat st;

	if (mode & (S_IWGRP | S_IWOTH)) {
		(void)snprintf(err, errlen, "%s: writable by %s, who could "
		    "change its rules, rest_host or tls; chmod go-w %s (or "
		    "start with --allow-insecure-config)", path,
		    (mode & S_IWOTH) ? "every user" : "its group", path);
		goto insecure;
	}
	if (slash == NULL)
		(void)snprintf(dir, sizeof(dir), ".");
	else if (slash == path)
		(void)snprintf(dir, sizeof(dir), "/");
	else
		(void)snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path),
		    path);
	if (stat(dir, &st) == 0 && (st.st_mode & (S_IWGRP | S_IWOTH)) &&
	    !(st.st_mode & S_ISVTX)) {
		(void)snprintf(err, errlen, "%s: its directory %s is writable "
		    "by %s, who could replace the file; chmod go-w %s (or "
		    "start with --allow-insecure-config)", path, dir,
		    (st.st_mode & S_IWOTH) ? "every user" : "its group", dir);
		goto insecure;
	}
	return 0;
insecure:
	if (!(flags & CONFIG_ALLOW_INSECURE))
		return -1;
	log_warn("%s (allowed by --allow-insecure-config)", err);
	err[0] = '\0';
	return 0;
}

static int
load_file(struct config *c, const char *path, unsigned flags, char *err,
          size_t errlen)
{
	int world_readable, rc = 0, lineno = 0, key_line = 0;
	char *data, *line, *next;
	unsigned seen = 0;
	size_t len = 0;
	mode_t mode = 0;

	data = slurp(path, &len, &mode, err, errlen);
	if (data == NULL)
		return -1;
	world_readable = (mode & S_IROTH) != 0;
	if (check_bytes(path, data, len, err, errlen) != 0)
		rc = -1;
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
			if (seen & (1u << s->id)) {
				rc = fail(err, errlen, &o, "%s is set twice",
				    name);
				break;
			}
			seen |= 1u << s->id;
		}
		rc = apply(c, s, name, value, &o, err, errlen);
		if (rc == 0 && s->id == SET_KEY)
			key_line = lineno;
		/* A max_ttl given (not the default) stays as given under
		 * revocable_tokens, where it must then be at most 1 h. */
		if (rc == 0 && s->id == SET_MAX_TTL)
			c->rules.max_ttl_set = 1;
	}
	/* It may hold the key. The whole length: parsing cut the text into
	 * NUL-terminated pieces, so strlen() would stop after the first line. */
	crypto_wipe(data, len);
	free(data);
	/* A key any local user can read is a key anyone on the host has:
	 * refuse, unless the operator insists (and is told again). */
	if (rc == 0 && key_line > 0 && world_readable) {
		if (!(flags & CONFIG_ALLOW_INSECURE)) {
			(void)snprintf(err, errlen, "%s:%d holds the Ably key but "
			    "the file is readable by every user; chmod 600 it "
			    "(or 640 with the server's group), or start with "
			    "--allow-insecure-config", path, key_line);
			return -1;
		}
		log_warn("%s:%d holds the Ably key but the file is readable by "
		    "every user (allowed by --allow-insecure-config); chmod 600 "
		    "it", path, key_line);
	}
	if (rc == 0)
		rc = check_writers(path, mode, flags, err, errlen);
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

/* One rule.NAME.* rule, against the top-level ttl limits. */
static int
check_rule(const struct config *c, const struct rule *rule, long long limit,
           char *err, size_t errlen)
{
	const struct rules *r = &c->rules;
	long long ttl = rule->ttl ? rule->ttl : c->ttl;
	long long max = rule->max_ttl ? rule->max_ttl : c->max_ttl;
	size_t i;

	if (rule->match == NULL)
		return setting_fail(err, errlen, rule->where, "rule.%s has "
		    "no rule.%s.match (whom it is for)", rule->name,
		    rule->name);
	if (rule->capability == NULL)
		return setting_fail(err, errlen, rule->where, "rule.%s has "
		    "no rule.%s.capability (what it grants)", rule->name,
		    rule->name);
	for (i = 0; i < rule->n_match; i++) {
		const char *g = rule->match[i];

		if (strncmp(g, "group:", 6) == 0 &&
		    rules_group(r, g + 6) == NULL && r->group_header == NULL)
			return setting_fail(err, errlen, rule->where,
			    "rule.%s.match names group %s, but there is no "
			    "group.%s list (and no group_header)", rule->name,
			    g + 6, g + 6);
	}
	if (max > limit)
		return setting_fail(err, errlen, rule->where, "rule.%s: "
		    "max_ttl (%lld ms) is over %lld ms, Ably's limit with "
		    "revocable_tokens = on", rule->name, max, limit);
	if (ttl > max)
		return setting_fail(err, errlen, rule->where, "rule.%s: ttl "
		    "(%lld ms%s) is larger than max_ttl (%lld ms%s)",
		    rule->name, ttl, rule->ttl ? "" : ", the top-level ttl",
		    max, rule->max_ttl ? "" : ", the top-level max_ttl");
	return 0;
}

/* The identity and policy settings as a whole, once everything is read:
 * every rule has a match and a capability, groups exist, ttl limits (24 h;
 * 1 h with revocable_tokens, which also lowers a max_ttl left at its
 * default), {clientId} only where an identity can fill it, trusted headers
 * only with trusted_header_secret. Warns about $request and about JWT
 * claims in other modes. Here, not in policy: a mistake stops start-up,
 * and policy then only ever sees a configuration that passed. */
static int
check_policy(struct config *c, char *err, size_t errlen)
{
	struct rules *r = &c->rules;
	const char *file = c->path ? c->path : "settings";
	long long limit = r->revocable_tokens ? SETTING_REVOCABLE_MAX_TTL_MS :
	    SETTING_MAX_TTL_MS;
	int templates, claims;
	size_t i;

	if ((r->source == ID_HEADER || r->group_header != NULL) &&
	    r->trusted_secret == NULL)
		return setting_fail(err, errlen, file, "client_id = "
		    "$header:NAME and group_header need trusted_header_secret: "
		    "the web server passes it as the parameter %s on the "
		    "trusted path only, so a header that came any other way is "
		    "refused", RULES_TRUSTED_PARAM);
	if (r->revocable_tokens) {
		if (c->max_ttl > limit && r->max_ttl_set)
			return setting_fail(err, errlen, file, "max_ttl "
			    "(%lld ms) is over 1h, Ably's limit with "
			    "revocable_tokens = on", c->max_ttl);
		/* A max_ttl left at its default follows the key's limit; the
		 * config is still being built, so this is its last write. */
		if (c->max_ttl > limit)
			c->max_ttl = limit;
		if (c->ttl > limit)
			return setting_fail(err, errlen, file, "ttl (%lld ms) "
			    "is over 1h, Ably's limit with revocable_tokens = "
			    "on", c->ttl);
	}
	for (i = 0; i < c->capability->n; i++)
		if (!cap_template_ok(c->capability->entries[i].resource))
			return setting_fail(err, errlen, file, "capability: "
			    "braces in resource names may appear only in the "
			    "placeholder {clientId}");
	templates = cap_has_template(c->capability) ||
	    rules_uses_template(&r->dflt);
	claims = rules_has_claims(&r->dflt);
	for (i = 0; i < r->n; i++) {
		if (check_rule(c, &r->rules[i], limit, err, errlen) != 0)
			return -1;
		templates |= rules_uses_template(&r->rules[i]);
		claims |= rules_has_claims(&r->rules[i]);
	}
	if (templates && r->source == ID_FIXED) {
		if (c->client_id == NULL)
			return setting_fail(err, errlen, file, "{clientId} is "
			    "used, but client_id is empty: there is never an "
			    "identity to fill it");
		if (!cap_template_value_ok(c->client_id))
			return setting_fail(err, errlen, file, "client_id "
			    "contains one of : * [ ] { } and so cannot fill "
			    "{clientId} in a channel name");
	}
	if (r->source == ID_REQUEST)
		log_warn("client_id = $request: EVERY CALLER PICKS ITS OWN "
		    "clientId (and with it any rule that matches that id). "
		    "For development only: never expose this endpoint");
	/* The table says in which modes the claims have effect (jwt). */
	if (claims && !(setting_table[SET_REVOCATION_KEY].modes &
	    SETTING_MODE(c->mode)))
		log_warn("revocation_key, channel_claim.* and "
		    "publish_max_rate.* are JWT claims: mode %s does not use "
		    "them", config_mode_name(c->mode));
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
	for (i = 0; i < sizeof(key_vars) / sizeof(key_vars[0]); i++) {
		const char *v = getenv(key_vars[i]);

		if (v == NULL || v[0] == '\0')
			continue;
		(void)snprintf(o.where, sizeof(o.where), "%s", key_vars[i]);
		if (set_key(c, v, &o, err, errlen) != 0)
			goto fail;
		break;
	}
	if (finish_rest(c, path, err, errlen) != 0)
		goto fail;
	if (check_policy(c, err, errlen) != 0)
		goto fail;
	/* What req_parse must copy for identity: the secret only when one is
	 * configured (no reason to hold a caller's guess at it otherwise). */
	c->req_extra.trusted_param = c->rules.trusted_secret != NULL ?
	    RULES_TRUSTED_PARAM : NULL;
	c->req_extra.identity_param = c->rules.header;
	c->req_extra.group_param = c->rules.group_header;
	if (c->ttl > c->max_ttl) {
		(void)snprintf(err, errlen, "%s: ttl (%lld ms) is larger than "
		    "max_ttl (%lld ms)", path ? path : "settings", c->ttl,
		    c->max_ttl);
		goto fail;
	}
	return 0;
fail:
	config_free(c);
	return -1;
}
