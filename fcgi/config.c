/* config: parse `name = value` lines, validate, apply the environment. */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "crypto.h"
#include "policy.h"

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
config_parse_duration(const char *s, long long *ms)
{
	char *end;
	long long n, mult = 1;

	if (s[0] < '0' || s[0] > '9')
		return -1;
	errno = 0;
	n = strtoll(s, &end, 10);
	if (errno != 0 || n < 0)
		return -1;
	if (*end == '\0' || strcmp(end, "ms") == 0)
		mult = 1;
	else if (strcmp(end, "s") == 0)
		mult = 1000;
	else if (strcmp(end, "m") == 0)
		mult = 60 * 1000;
	else if (strcmp(end, "h") == 0)
		mult = 3600 * 1000;
	else
		return -1;
	if (n > CONFIG_MAX_TTL_MS * 1000 / mult)
		return -1;  /* far out of any valid range; avoids overflow */
	*ms = n * mult;
	return 0;
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

static int
fail(char *err, size_t errlen, const struct origin *o, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int
fail(char *err, size_t errlen, const struct origin *o, const char *fmt, ...)
{
	va_list ap;
	int n = snprintf(err, errlen, "%s: ", o->where);

	if (n < 0 || (size_t)n >= errlen)
		return -1;
	va_start(ap, fmt);
	(void)vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
	va_end(ap);
	return -1;
}

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

static int
set_cors(struct config *c, const char *value, const struct origin *o,
         char *err, size_t errlen)
{
	char *copy, *tok, *save = NULL;

	copy = strdup(value);
	if (copy == NULL)
		return fail(err, errlen, o, "out of memory");
	for (tok = strtok_r(copy, ", ", &save); tok != NULL;
	    tok = strtok_r(NULL, ", ", &save)) {
		char **grown;

		/* An origin is scheme://host[:port]; anything with a path,
		 * or a lone '*', is a mistake we refuse to guess about. */
		if ((strncmp(tok, "http://", 7) != 0 &&
		    strncmp(tok, "https://", 8) != 0) ||
		    strchr(strstr(tok, "//") + 2, '/') != NULL ||
		    !cap_text_ok(tok, strlen(tok))) {
			free(copy);
			return fail(err, errlen, o, "cors_origins: each origin "
			    "must look like https://app.example.com (scheme, "
			    "host, optional port; no path, no '*')");
		}
		grown = realloc(c->cors_origins,
		    (c->n_cors_origins + 1) * sizeof(char *));
		if (grown == NULL) {
			free(copy);
			return fail(err, errlen, o, "out of memory");
		}
		c->cors_origins = grown;
		c->cors_origins[c->n_cors_origins] = strdup(tok);
		if (c->cors_origins[c->n_cors_origins] == NULL) {
			free(copy);
			return fail(err, errlen, o, "out of memory");
		}
		c->n_cors_origins++;
	}
	free(copy);
	return 0;
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

/* A host for the REST client: a DNS name or IPv4 address, optionally
 * with :port. Kept strict: it ends up in a URL. */
static int
host_ok(const char *h)
{
	const char *colon = strchr(h, ':');
	size_t n = colon ? (size_t)(colon - h) : strlen(h);
	char *end;
	long port;

	if (n == 0 || n > 253 || strspn(h, "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-") != n)
		return 0;
	if (colon == NULL)
		return 1;
	port = strtol(colon + 1, &end, 10);
	return colon[1] >= '0' && colon[1] <= '9' && *end == '\0' &&
	    port >= 1 && port <= 65535;
}

static int
is_rest_setting(const char *name)
{
	static const char *const names[] = { "rest_host", "fallback_hosts",
	    "port", "tls", "connect_timeout_ms", "request_timeout_ms",
	    "upstream_timeout_ms", "query_time", "ca_file", "proxy",
	    "upstream_connections" };
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(name, names[i]) == 0)
			return 1;
	return 0;
}

int
config_parse_on_off(const char *value, int *out)
{
	if (strcmp(value, "on") == 0 || strcmp(value, "yes") == 0 ||
	    strcmp(value, "true") == 0 || strcmp(value, "1") == 0)
		*out = 1;
	else if (strcmp(value, "off") == 0 || strcmp(value, "no") == 0 ||
	    strcmp(value, "false") == 0 || strcmp(value, "0") == 0)
		*out = 0;
	else
		return -1;
	return 0;
}

static int
parse_ms(const char *value, long min, long max, long *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(value, &end, 10);
	if (value[0] < '0' || value[0] > '9' || *end != '\0' || errno != 0 ||
	    v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

/* The settings of `token` mode (issue: fetching tokens from Ably). */
static int
apply_rest(struct config *c, const char *name, const char *value,
           const struct origin *o, char *err, size_t errlen)
{
	long v;

	if (strcmp(name, "rest_host") == 0) {
		if (!host_ok(value))
			return fail(err, errlen, o, "rest_host: expected a host "
			    "name or address, optionally with :port");
		return set_string(&c->rest_host, value) == 0 ? 0 :
		    fail(err, errlen, o, "out of memory");
	}
	if (strcmp(name, "fallback_hosts") == 0) {
		char *copy = strdup(value), *tok, *save = NULL;

		if (copy == NULL)
			return fail(err, errlen, o, "out of memory");
		free_list(c->fallback_hosts, c->n_fallback_hosts);
		c->fallback_hosts = NULL;
		c->n_fallback_hosts = 0;
		c->fallback_hosts_set = 1;
		for (tok = strtok_r(copy, ", ", &save); tok != NULL;
		    tok = strtok_r(NULL, ", ", &save)) {
			char **grown;

			if (!host_ok(tok) || c->n_fallback_hosts >= 16) {
				free(copy);
				return fail(err, errlen, o, "fallback_hosts: "
				    "expected up to 16 comma-separated hosts "
				    "(name or address, optionally :port)");
			}
			grown = realloc(c->fallback_hosts,
			    (c->n_fallback_hosts + 1) * sizeof(char *));
			if (grown == NULL || (grown[c->n_fallback_hosts] =
			    strdup(tok)) == NULL) {
				if (grown != NULL)
					c->fallback_hosts = grown;
				free(copy);
				return fail(err, errlen, o, "out of memory");
			}
			c->fallback_hosts = grown;
			c->n_fallback_hosts++;
		}
		free(copy);
		return 0;
	}
	if (strcmp(name, "port") == 0) {
		if (parse_ms(value, 0, 65535, &v) != 0)
			return fail(err, errlen, o, "port: expected 1..65535, "
			    "or 0 for the default of the scheme");
		c->port = (int)v;
		return 0;
	}
	if (strcmp(name, "tls") == 0 || strcmp(name, "query_time") == 0) {
		if (config_parse_on_off(value, name[0] == 't' ? &c->tls :
		    &c->query_time) != 0)
			return fail(err, errlen, o, "%s: expected on or off",
			    name);
		return 0;
	}
	if (strcmp(name, "connect_timeout_ms") == 0 ||
	    strcmp(name, "request_timeout_ms") == 0 ||
	    strcmp(name, "upstream_timeout_ms") == 0) {
		if (parse_ms(value, 100, 60000, &v) != 0)
			return fail(err, errlen, o, "%s: expected milliseconds "
			    "between 100 and 60000", name);
		*(name[0] == 'c' ? &c->connect_timeout_ms : name[0] == 'r' ?
		    &c->request_timeout_ms : &c->upstream_timeout_ms) = v;
		return 0;
	}
	if (strcmp(name, "upstream_connections") == 0) {
		if (parse_ms(value, 1, 1024, &v) != 0)
			return fail(err, errlen, o, "%s: expected a number of "
			    "connections between 1 and 1024", name);
		c->upstream_connections = v;
		return 0;
	}
	if (strcmp(name, "ca_file") == 0 || strcmp(name, "proxy") == 0) {
		if (value[0] != '\0' && !cap_text_ok(value, strlen(value)))
			return fail(err, errlen, o, "%s: expected a path or "
			    "URL without control characters", name);
		return set_string(name[0] == 'c' ? &c->ca_file : &c->proxy,
		    value) == 0 ? 0 : fail(err, errlen, o, "out of memory");
	}
	return fail(err, errlen, o, "unknown setting '%.40s'", name);
}

static int
apply(struct config *c, const char *name, const char *value,
      const struct origin *o, char *err, size_t errlen)
{
	long long n;
	int i;

	if (strcmp(name, "key") == 0)
		return set_key(c, value, o, err, errlen);
	if (strcmp(name, "mode") == 0) {
		for (i = 0; i < MODE__MAX; i++)
			if (strcmp(value, mode_names[i]) == 0)
				break;
		if (i == MODE__MAX)
			return fail(err, errlen, o, "mode: expected "
			    "token, token-request or jwt");
		c->mode = (enum tok_mode)i;
		return 0;
	}
	if (strcmp(name, "client_id") == 0) {
		char why[200];

		/* $remote_user, $header:NAME, $random, $request: the text
		 * stays in client_id for messages only. */
		if (rules_set_identity(&c->rules, value, why, sizeof(why)) < 0)
			return fail(err, errlen, o, "client_id: %s", why);
		if (!cap_text_ok(value, strlen(value)))
			return fail(err, errlen, o, "client_id: must be UTF-8 "
			    "text without control characters");
		return set_string(&c->client_id, value) == 0 ? 0 :
		    fail(err, errlen, o, "out of memory");
	}
	if (strcmp(name, "capability") == 0)
		return set_capability(c, value, o, err, errlen);
	if (strcmp(name, "ttl") == 0 || strcmp(name, "max_ttl") == 0) {
		if (config_parse_duration(value, &n) != 0 ||
		    n < CONFIG_MIN_TTL_MS || n > CONFIG_MAX_TTL_MS)
			return fail(err, errlen, o, "%s: expected a duration "
			    "between 1s and 24h, like 3600000 (ms), 3600s, 60m "
			    "or 1h", name);
		*(name[0] == 't' ? &c->ttl : &c->max_ttl) = n;
		c->rules.max_ttl_set |= name[0] == 'm';
		return 0;
	}
	if (strcmp(name, "cors_origins") == 0)
		return set_cors(c, value, o, err, errlen);
	if (strcmp(name, "max_body") == 0) {
		char *end;

		errno = 0;
		n = strtoll(value, &end, 10);
		if (value[0] < '0' || value[0] > '9' || *end != '\0' ||
		    errno != 0 || n < 64 || n > 1024 * 1024)
			return fail(err, errlen, o, "max_body: expected a "
			    "number of bytes between 64 and 1048576");
		c->max_body = (size_t)n;
		return 0;
	}
	if (strcmp(name, "health_path") == 0) {
		if (value[0] != '\0' && (value[0] != '/' ||
		    strpbrk(value, "?# \t") != NULL))
			return fail(err, errlen, o, "health_path: expected a "
			    "path starting with '/', or empty to disable");
		return set_string(&c->health_path, value) == 0 ? 0 :
		    fail(err, errlen, o, "out of memory");
	}
	if (strcmp(name, "log_level") == 0) {
		if (log_level_parse(value, &c->log_level) != 0)
			return fail(err, errlen, o, "log_level: expected "
			    "error, warn, info or debug");
		return 0;
	}
	if (rules_is_setting(name)) {
		char why[300];

		if (rules_set(&c->rules, name, value, o->where, why,
		    sizeof(why)) != 0)
			return fail(err, errlen, o, "%s", why);
		return 0;
	}
	if (is_rest_setting(name))
		return apply_rest(c, name, value, o, err, errlen);
	return fail(err, errlen, o, "unknown setting '%.40s'", name);
}

char *
config_trim(char *s)
{
	char *end;

	while (*s == ' ' || *s == '\t')
		s++;
	end = s + strlen(s);
	while (end > s && (end[-1] == ' ' || end[-1] == '\t' ||
	    end[-1] == '\r'))
		*--end = '\0';
	return s;
}

/* Read the whole file into a new NUL-terminated buffer of *len bytes. */
static char *
slurp(const char *path, size_t *len, int *holds_key_world_readable,
      char *err, size_t errlen)
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
	*holds_key_world_readable = (st.st_mode & S_IROTH) != 0;
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

static int
load_file(struct config *c, const char *path, unsigned flags, char *err,
          size_t errlen)
{
	int world_readable = 0, rc = 0, lineno = 0, key_line = 0;
	char *data, *line, *next;
	unsigned seen = 0;
	size_t len = 0;

	data = slurp(path, &len, &world_readable, err, errlen);
	if (data == NULL)
		return -1;
	for (line = data; line != NULL && rc == 0; line = next) {
		struct origin o;
		char *eq, *name, *value;
		static const char *const names[] = { "key", "mode",
		    "client_id", "capability", "ttl", "max_ttl",
		    "cors_origins", "max_body", "health_path", "log_level",
		    "rest_host", "fallback_hosts", "port", "tls",
		    "connect_timeout_ms", "request_timeout_ms",
		    "upstream_timeout_ms", "query_time", "ca_file", "proxy",
		    "upstream_connections" };
		unsigned i;

		next = strchr(line, '\n');
		if (next != NULL)
			*next++ = '\0';
		lineno++;
		(void)snprintf(o.where, sizeof(o.where), "%s:%d", path, lineno);
		line = config_trim(line);
		if (line[0] == '\0' || line[0] == '#')
			continue;
		eq = strchr(line, '=');
		if (eq == NULL) {
			rc = fail(err, errlen, &o, "expected 'name = value'");
			break;
		}
		*eq = '\0';
		name = config_trim(line);
		value = config_trim(eq + 1);
		/* A setting given twice is almost always a mistake. */
		for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
			if (strcmp(name, names[i]) != 0)
				continue;
			if (seen & (1u << i)) {
				rc = fail(err, errlen, &o, "%s is set twice",
				    name);
				break;
			}
			seen |= 1u << i;
		}
		if (rc == 0)
			rc = apply(c, name, value, &o, err, errlen);
		if (rc == 0 && strcmp(name, "key") == 0)
			key_line = lineno;
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
	return rc;
}

/* Defaults that depend on other settings: Ably's own fallback hosts go
 * with Ably's own primary host only, as in the Ably SDKs. */
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

	if (c->rest_host == NULL) {
		c->rest_host = strdup(CONFIG_DEFAULT_REST_HOST);
		if (c->rest_host == NULL)
			goto nomem;
	}
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
	c->mode = MODE_TOKEN;
	c->ttl = 3600LL * 1000;
	c->max_ttl = CONFIG_MAX_TTL_MS;
	c->max_body = 8192;
	c->log_level = LOGL_INFO;
	c->tls = 1;
	c->connect_timeout_ms = 1500;
	c->request_timeout_ms = 3000;
	c->upstream_timeout_ms = 7000;
	c->upstream_connections = 64;
	(void)snprintf(o.where, sizeof(o.where), "built-in defaults");
	if (set_string(&c->client_id, "example-client-id") != 0 ||
	    set_string(&c->health_path, "/healthz") != 0 ||
	    set_capability(c, "{\"*\":[\"*\"]}", &o, err, errlen) != 0)
		goto fail;
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
	if (policy_config_check(c, err, errlen) != 0)
		goto fail;
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
