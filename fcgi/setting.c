/* setting: shared parsers and the table of settings (see setting.h). */
#include "setting.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ANY SETTING_ALL_MODES
#define TOKEN SETTING_MODE(MODE_TOKEN)
#define JWT SETTING_MODE(MODE_JWT)

/* The expect texts are whole sentences after "name: ", kept as the
 * messages were before the table existed (tests and people grep them). */
#define TTL_EXPECT "expected a duration between 1s and 24h, like 3600000 " \
	"(ms), 3600s, 60m or 1h"
#define TIMEOUT_EXPECT "expected milliseconds between 100 and 60000"
/* health_path, ready_path, metrics_path. */
#define PATH_EXPECT "expected a path starting with '/', or empty to disable"

const struct setting setting_table[SET__MAX] = {
	[SET_KEY] = { SET_KEY, "key", SETTING_TEXT, SETTING_CONFIG, 0, 0,
	    NULL, ANY, NULL },
	[SET_MODE] = { SET_MODE, "mode", SETTING_TEXT, SETTING_CONFIG, 0, 0,
	    "token", ANY, "expected token, token-request or jwt" },
	[SET_CLIENT_ID] = { SET_CLIENT_ID, "client_id", SETTING_TEXT,
	    SETTING_CONFIG, 0, 0, NULL, ANY, NULL },
	/* Safe for a site that set nothing: anonymous callers may only
	 * listen on public: channels (config_check warns about more). */
	[SET_CAPABILITY] = { SET_CAPABILITY, "capability", SETTING_TEXT,
	    SETTING_CONFIG, 0, 0, "{\"public:*\":[\"subscribe\"]}", ANY,
	    NULL },
	[SET_TTL] = { SET_TTL, "ttl", SETTING_DURATION, SETTING_CONFIG,
	    SETTING_MIN_TTL_MS, SETTING_MAX_TTL_MS, "1h", ANY, TTL_EXPECT },
	[SET_MAX_TTL] = { SET_MAX_TTL, "max_ttl", SETTING_DURATION,
	    SETTING_CONFIG, SETTING_MIN_TTL_MS, SETTING_MAX_TTL_MS, "24h",
	    ANY, TTL_EXPECT },
	[SET_CORS_ORIGINS] = { SET_CORS_ORIGINS, "cors_origins",
	    SETTING_LIST, SETTING_CONFIG, 0, 0, NULL, ANY, "each origin must "
	    "look like https://app.example.com (scheme, host, optional port; "
	    "no path, no '*')" },
	[SET_MAX_BODY] = { SET_MAX_BODY, "max_body", SETTING_NUMBER,
	    SETTING_CONFIG, 64, 1024 * 1024, "8192", ANY, "expected a number "
	    "of bytes between 64 and 1048576" },
	[SET_HEALTH_PATH] = { SET_HEALTH_PATH, "health_path", SETTING_TEXT,
	    SETTING_CONFIG, 0, 0, "/healthz", ANY, PATH_EXPECT },
	[SET_LOG_LEVEL] = { SET_LOG_LEVEL, "log_level", SETTING_TEXT,
	    SETTING_CONFIG, 0, 0, "info", ANY, "expected error, warn, info or "
	    "debug" },
	[SET_LOG_FORMAT] = { SET_LOG_FORMAT, "log_format", SETTING_TEXT,
	    SETTING_CONFIG, 0, 0, "text", ANY, "expected text or json" },
	[SET_PREVIOUS_KEY] = { SET_PREVIOUS_KEY, "previous_key", SETTING_TEXT,
	    SETTING_CONFIG, 0, 0, NULL, ANY, NULL },
	[SET_READY_PATH] = { SET_READY_PATH, "ready_path", SETTING_TEXT,
	    SETTING_CONFIG, 0, 0, "/readyz", ANY, PATH_EXPECT },
	[SET_READY_FAIL_AFTER] = { SET_READY_FAIL_AFTER, "ready_fail_after",
	    SETTING_DURATION, SETTING_CONFIG, 0, 3600 * 1000LL, "30s", TOKEN,
	    "expected a duration up to 1h (0 never reports Ably failing)" },
	[SET_KEY_FILE] = { SET_KEY_FILE, "key_file", SETTING_TEXT,
	    SETTING_CONFIG, 0, 0, NULL, ANY, "expected an absolute path" },
	[SET_USER] = { SET_USER, "user", SETTING_TEXT, SETTING_CONFIG, 0, 0,
	    NULL, ANY, NULL },
	[SET_METRICS_PATH] = { SET_METRICS_PATH, "metrics_path", SETTING_TEXT,
	    SETTING_CONFIG, 0, 0, "/metrics", ANY, PATH_EXPECT },
	[SET_REST_HOST] = { SET_REST_HOST, "rest_host", SETTING_TEXT,
	    SETTING_CONFIG, 0, 0, "main.realtime.ably.net", TOKEN, "expected "
	    "a host name or address, optionally with :port" },
	/* The default (Ably's own fallbacks) goes with Ably's own host only;
	 * config.c adds it once it knows rest_host. */
	[SET_FALLBACK_HOSTS] = { SET_FALLBACK_HOSTS, "fallback_hosts",
	    SETTING_LIST, SETTING_CONFIG, 0, 16, NULL, TOKEN, "expected up to "
	    "16 comma-separated hosts (name or address, optionally :port)" },
	[SET_PORT] = { SET_PORT, "port", SETTING_NUMBER, SETTING_CONFIG, 0,
	    65535, "0", TOKEN, "expected 1..65535, or 0 for the default of the "
	    "scheme" },
	[SET_TLS] = { SET_TLS, "tls", SETTING_ON_OFF, SETTING_CONFIG, 0, 0,
	    "on", TOKEN, "expected on or off" },
	[SET_CONNECT_TIMEOUT_MS] = { SET_CONNECT_TIMEOUT_MS,
	    "connect_timeout_ms", SETTING_NUMBER, SETTING_CONFIG, 100, 60000,
	    "1500", TOKEN, TIMEOUT_EXPECT },
	[SET_REQUEST_TIMEOUT_MS] = { SET_REQUEST_TIMEOUT_MS,
	    "request_timeout_ms", SETTING_NUMBER, SETTING_CONFIG, 100, 60000,
	    "3000", TOKEN, TIMEOUT_EXPECT },
	[SET_UPSTREAM_TIMEOUT_MS] = { SET_UPSTREAM_TIMEOUT_MS,
	    "upstream_timeout_ms", SETTING_NUMBER, SETTING_CONFIG, 100, 60000,
	    "7000", TOKEN, TIMEOUT_EXPECT },
	[SET_QUERY_TIME] = { SET_QUERY_TIME, "query_time", SETTING_ON_OFF,
	    SETTING_CONFIG, 0, 0, "off", TOKEN, "expected on or off" },
	[SET_CA_FILE] = { SET_CA_FILE, "ca_file", SETTING_TEXT,
	    SETTING_CONFIG, 0, 0, NULL, TOKEN, "expected a path or URL "
	    "without control characters" },
	[SET_PROXY] = { SET_PROXY, "proxy", SETTING_TEXT, SETTING_CONFIG, 0,
	    0, NULL, TOKEN, "expected a path or URL without control "
	    "characters" },
	[SET_UPSTREAM_CONNECTIONS] = { SET_UPSTREAM_CONNECTIONS,
	    "upstream_connections", SETTING_NUMBER, SETTING_CONFIG, 1, 1024,
	    "64", TOKEN, "expected a number of connections between 1 and "
	    "1024" },
	[SET_TRUSTED_HEADER_SECRET] = { SET_TRUSTED_HEADER_SECRET,
	    "trusted_header_secret", SETTING_TEXT, SETTING_RULES, 0, 0, NULL,
	    ANY, NULL },
	[SET_GROUP_HEADER] = { SET_GROUP_HEADER, "group_header", SETTING_TEXT,
	    SETTING_RULES, 0, 0, NULL, ANY, NULL },
	[SET_REVOCABLE_TOKENS] = { SET_REVOCABLE_TOKENS, "revocable_tokens",
	    SETTING_ON_OFF, SETTING_RULES, 0, 0, "off", ANY,
	    "expected on or off" },
	[SET_WILDCARD_CLIENT_ID] = { SET_WILDCARD_CLIENT_ID,
	    "wildcard_client_id", SETTING_ON_OFF, SETTING_RULES, 0, 0, "off",
	    ANY, "expected on or off" },
	/* JWT claims: the other modes have no place for them. */
	[SET_REVOCATION_KEY] = { SET_REVOCATION_KEY, "revocation_key",
	    SETTING_TEXT, SETTING_RULES, 0, 0, NULL, JWT, NULL },
	[SET_CHANNEL_CLAIM] = { SET_CHANNEL_CLAIM, "channel_claim.",
	    SETTING_TEXT, SETTING_RULES, 0, 0, NULL, JWT, NULL },
	[SET_PUBLISH_MAX_RATE] = { SET_PUBLISH_MAX_RATE, "publish_max_rate.",
	    SETTING_TEXT, SETTING_RULES, 0, 0, NULL, JWT, NULL },
	[SET_GROUP] = { SET_GROUP, "group.", SETTING_LIST, SETTING_RULES, 0,
	    0, NULL, ANY, NULL },
	[SET_RULE] = { SET_RULE, "rule.", SETTING_TEXT, SETTING_RULES, 0, 0,
	    NULL, ANY, NULL },
};

const struct setting *
setting_find(const char *name)
{
	size_t i, n;

	for (i = 0; i < SET__MAX; i++) {
		const struct setting *s = &setting_table[i];

		n = strlen(s->name);
		/* A name ending in '.' is a family: rule.fans.match. */
		if (s->name[n - 1] == '.' ? strncmp(name, s->name, n) == 0 :
		    strcmp(name, s->name) == 0)
			return s;
	}
	return NULL;
}

char *
setting_trim(char *s)
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

int
setting_on_off(const char *value, int *out)
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

/* The n digits at text (at least one, nothing else) into *v, which must
 * not exceed limit. */
static int
digits(const char *text, size_t n, unsigned long long limit,
       unsigned long long *v)
{
	size_t i;

	*v = 0;
	if (n == 0)
		return -1;
	for (i = 0; i < n; i++) {
		unsigned d;

		if (text[i] < '0' || text[i] > '9')
			return -1;
		d = (unsigned)(text[i] - '0');
		/* Checked before the multiplication, so it cannot wrap. */
		if (*v > (limit - d) / 10)
			return -1;
		*v = *v * 10 + d;
	}
	return 0;
}

int
setting_unumber(const char *text, unsigned long long max,
                unsigned long long *out)
{
	unsigned long long v;

	if (digits(text, strlen(text), ULLONG_MAX, &v) != 0 || v > max)
		return -1;
	*out = v;
	return 0;
}

int
setting_number_n(const char *text, size_t n, long long min, long long max,
                 long long *out)
{
	unsigned long long v, limit = (unsigned long long)LLONG_MAX;
	long long value;
	int neg = 0;

	if (n > 0 && text[0] == '-' && min < 0) {
		neg = 1;
		limit += 1;  /* -LLONG_MIN does not fit in a long long */
	}
	if (digits(text + neg, n - (size_t)neg, limit, &v) != 0)
		return -1;
	if (!neg)
		value = (long long)v;
	else if (v == (unsigned long long)LLONG_MAX + 1)
		value = LLONG_MIN;
	else
		value = -(long long)v;
	if (value < min || value > max)
		return -1;
	*out = value;
	return 0;
}

int
setting_number(const char *text, long long min, long long max,
               long long *out)
{
	return setting_number_n(text, strlen(text), min, max, out);
}

int
setting_duration(const char *s, long long *ms)
{
	size_t digits = strspn(s, "0123456789");
	const char *unit = s + digits;
	long long n, mult;

	if (setting_number_n(s, digits, 0, LLONG_MAX, &n) != 0)
		return -1;
	if (*unit == '\0' || strcmp(unit, "ms") == 0)
		mult = 1;
	else if (strcmp(unit, "s") == 0)
		mult = 1000;
	else if (strcmp(unit, "m") == 0)
		mult = 60 * 1000;
	else if (strcmp(unit, "h") == 0)
		mult = 3600 * 1000;
	else
		return -1;
	/* Far out of any valid range; refusing it here keeps n * mult from
	 * overflowing. */
	if (n > SETTING_MAX_TTL_MS * 1000 / mult)
		return -1;
	*ms = n * mult;
	return 0;
}

int
setting_split(const char *text, const char *seps, unsigned flags,
              int (*each)(const char *item, size_t n, void *ctx), void *ctx)
{
	const char *p = text;
	int rc;

	for (;;) {
		size_t n = strcspn(p, seps);
		const char *item = p, *next = p + n;

		while (!(flags & SETTING_SPLIT_NO_TRIM) && n > 0 &&
		    (*item == ' ' || *item == '\t')) {
			item++;
			n--;
		}
		while (!(flags & SETTING_SPLIT_NO_TRIM) && n > 0 &&
		    (item[n - 1] == ' ' || item[n - 1] == '\t' ||
		    ((flags & SETTING_SPLIT_TRIM_CR) && item[n - 1] == '\r')))
			n--;
		if (n > 0 || !(flags & SETTING_SPLIT_SKIP_EMPTY)) {
			rc = each(item, n, ctx);
			if (rc != 0)
				return rc;
		}
		if (*next == '\0')
			return 0;
		p = next + 1;
	}
}

int
setting_on_off_once(const char *value, int *out, unsigned *set,
                    unsigned bit, const char *what, char *err, size_t errlen)
{
	if (*set & bit)
		return setting_fail(err, errlen, NULL, "%s is set twice", what);
	if (setting_on_off(value, out) != 0)
		return setting_fail(err, errlen, NULL, "%s: expected on or off",
		    what);
	*set |= bit;
	return 0;
}

void
setting_free_list(char **list, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(list[i]);
	free(list);
}

int
setting_fail(char *err, size_t errlen, const char *where, const char *fmt,
             ...)
{
	va_list ap;
	int n = 0;

	if (errlen == 0)
		return -1;
	if (where != NULL) {
		n = snprintf(err, errlen, "%s: ", where);
		if (n < 0 || (size_t)n >= errlen)
			return -1;
	}
	va_start(ap, fmt);
	(void)vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
	va_end(ap);
	return -1;
}
