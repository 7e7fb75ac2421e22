/* test_config: config_load (defaults, file, environment), durations and
 * CORS origins.
 *
 * Config files are written to /tmp with mkstemp and removed again. Every
 * test starts and ends with ABLY_API_KEY and VITE_ABLY_KEY unset.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "setting.h"
#include "unit.h"


#define KEY_NAME   "xVLyHw.A1b2Cq"
#define KEY_SECRET "Jw0xqsCIBjTJP0uLqGsYz3f7e5dN5PLV"
#define KEY        KEY_NAME ":" KEY_SECRET
#define KEY2_NAME  "appTwo.keyTwo"
#define KEY2       KEY2_NAME ":Zz9yYx8wWv7uUt6sSr5qQp4oOn3mMl2k"
#define KEY3_NAME  "appThree.keyThree"
#define KEY3       KEY3_NAME ":Ab1cD2eF3gH4iJ5kL6mN7oP8qR9sT0uV"

/* Write text to a new temp file; path receives its name. */
static void
write_conf(char path[64], const char *text)
{
	size_t len = strlen(text);
	int fd;

	(void)snprintf(path, 64, "/tmp/test_config_XXXXXX");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, len), (ssize_t)len);
	assert_int_equal(close(fd), 0);
}

static void
clear_env(void)
{
	unsetenv("ABLY_API_KEY");
	unsetenv("VITE_ABLY_KEY");
	unsetenv("ABLY_PREVIOUS_API_KEY");
}

static int
env_setup(void **state)
{
	(void)state;
	clear_env();
	return 0;
}

static int
env_teardown(void **state)
{
	(void)state;
	clear_env();
	return 0;
}

/* Load text as a config file, expecting success. */
static void
load_text(struct config *c, const char *text, char path[64])
{
	char err[512] = "";

	write_conf(path, text);
	if (config_load(c, path, err, sizeof(err)) != 0) {
		unlink(path);
		fail_msg("config_load: %s", err);
	}
}

/* Load text as a config file, expecting failure; err gets the message. */
static void
load_text_fails(const char *text, char *err, size_t errlen, char path[64])
{
	struct config c;

	write_conf(path, text);
	err[0] = '\0';
	if (config_load(&c, path, err, errlen) == 0) {
		config_free(&c);
		unlink(path);
		fail_msg("config_load accepted:\n%s", text);
	}
	/* A failed load leaves nothing behind. */
	assert_null(c.key.secret);
	assert_null(c.capability);
	assert_null(c.client_id);
	assert_null(c.path);
	assert_true(err[0] != '\0');
}

/* ------------------------------------------------------------------ */

static void
test_defaults(void **state)
{
	struct config c;
	char err[256] = "";

	(void)state;
	assert_int_equal(config_load(&c, NULL, err, sizeof(err)), 0);
	assert_false(key_loaded(&c.key));
	assert_string_equal(c.key_source, "");
	assert_int_equal(c.mode, MODE_TOKEN);
	/* Ably's own hosts, TLS, a budget inside ably-js's 10 s */
	assert_string_equal(c.rest_host, "main.realtime.ably.net");
	assert_int_equal(c.n_fallback_hosts, 5);
	assert_string_equal(c.fallback_hosts[0],
	    "main.a.fallback.ably-realtime.com");
	assert_int_equal(c.tls, 1);
	assert_int_equal(c.query_time, 0);
	assert_null(c.proxy);
	assert_true(c.upstream_timeout_ms < 10000);
	/* Safe for a site: anonymous, listening on public: channels only. */
	assert_null(c.client_id);
	assert_int_equal(c.rules.source, ID_FIXED);
	assert_non_null(c.capability);
	assert_string_equal(c.capability_text,
	    "{\"public:*\":[\"subscribe\"]}");
	assert_int_equal(c.ttl, 3600000);
	assert_int_equal(c.max_ttl, CONFIG_MAX_TTL_MS);
	assert_int_equal(c.n_cors_origins, 0);
	assert_int_equal(c.max_body, 8192);
	assert_string_equal(c.health_path, "/healthz");
	assert_int_equal(c.log_level, LOGL_INFO);
	assert_null(c.path);
	config_free(&c);
	assert_null(c.client_id);
	assert_null(c.capability_text);
}

static void
test_every_setting(void **state)
{
	static const char text[] =
	    "# ably-token test config\n"
	    "key = " KEY "\n"
	    "mode = jwt\n"
	    "client_id = web-user\n"
	    "capability = {\"status\":[\"subscribe\"],\"chat:*\":"
	    "[\"subscribe\",\"publish\"]}\n"
	    "ttl = 30m\n"
	    "max_ttl = 2h\n"
	    "cors_origins = https://app.example.com, http://localhost:3000\n"
	    "max_body = 4096\n"
	    "health_path = /health\n"
	    "log_level = debug\n";
	struct config c;
	char path[64], where[80];

	(void)state;
	load_text(&c, text, path);
	assert_true(key_loaded(&c.key));
	assert_string_equal(c.key.name, KEY_NAME);
	assert_string_equal(c.key.secret, KEY_SECRET);
	assert_int_equal(c.key.secret_len, strlen(KEY_SECRET));
	/* key_source says where, never what. */
	(void)snprintf(where, sizeof(where), "%s:2", path);
	assert_string_equal(c.key_source, where);
	assert_int_equal(c.mode, MODE_JWT);
	assert_string_equal(c.client_id, "web-user");
	assert_string_equal(c.capability_text, "{\"chat:*\":[\"publish\","
	    "\"subscribe\"],\"status\":[\"subscribe\"]}");
	assert_int_equal(c.capability->n, 2);
	assert_int_equal(c.ttl, 30LL * 60 * 1000);
	assert_int_equal(c.max_ttl, 2LL * 3600 * 1000);
	assert_int_equal(c.n_cors_origins, 2);
	assert_string_equal(c.cors_origins[0], "https://app.example.com");
	assert_string_equal(c.cors_origins[1], "http://localhost:3000");
	assert_int_equal(c.max_body, 4096);
	assert_string_equal(c.health_path, "/health");
	assert_int_equal(c.log_level, LOGL_DEBUG);
	assert_string_equal(c.path, path);
	config_free(&c);
	assert_null(c.key.secret);
	assert_null(c.cors_origins);
	unlink(path);
}

static void
test_comments_blank_lines_spacing(void **state)
{
	static const char text[] =
	    "\n"
	    "# a comment\n"
	    "   # an indented comment\n"
	    "# key = " KEY "\n"
	    "\t\n"
	    "mode=token-request\r\n"
	    "   client_id   =   spaced id  \t\r\n"
	    "\tttl\t=\t90s\n"
	    "capability = {\"a=b\":[\"subscribe\"]}\n"
	    "log_level = warn";   /* no newline at the end */
	struct config c;
	char path[64];

	(void)state;
	load_text(&c, text, path);
	assert_false(key_loaded(&c.key));  /* the commented key is ignored */
	assert_int_equal(c.mode, MODE_TOKEN_REQUEST);
	assert_string_equal(c.client_id, "spaced id");
	assert_int_equal(c.ttl, 90000);
	/* Only the first '=' splits name from value. */
	assert_string_equal(c.capability_text, "{\"a=b\":[\"subscribe\"]}");
	assert_int_equal(c.log_level, LOGL_WARN);
	config_free(&c);
	unlink(path);
}

static void
test_empty_values(void **state)
{
	static const char text[] =
	    "key =\n"
	    "client_id =\n"
	    "health_path =\n"
	    "cors_origins =\n";
	struct config c;
	char path[64];

	(void)state;
	load_text(&c, text, path);
	assert_false(key_loaded(&c.key));
	assert_null(c.client_id);      /* anonymous tokens */
	assert_null(c.health_path);    /* no health answer */
	assert_int_equal(c.n_cors_origins, 0);
	config_free(&c);
	unlink(path);
}

static void
test_cors_list_forms(void **state)
{
	static const char text[] = "cors_origins = https://a.example,"
	    "https://b.example   http://c.example:8080 ,\n";
	struct config c;
	char path[64];

	(void)state;
	load_text(&c, text, path);
	assert_int_equal(c.n_cors_origins, 3);
	assert_string_equal(c.cors_origins[0], "https://a.example");
	assert_string_equal(c.cors_origins[1], "https://b.example");
	assert_string_equal(c.cors_origins[2], "http://c.example:8080");
	config_free(&c);
	unlink(path);
}

struct ttl_file_case {
	const char *text;
	long long ttl;
	long long max_ttl;
};

static void
test_ttl_units_in_file(void **state)
{
	static const struct ttl_file_case cases[] = {
		{ "ttl = 5000\n", 5000, CONFIG_MAX_TTL_MS },
		{ "ttl = 5000ms\n", 5000, CONFIG_MAX_TTL_MS },
		{ "ttl = 90s\n", 90000, CONFIG_MAX_TTL_MS },
		{ "ttl = 2m\n", 120000, CONFIG_MAX_TTL_MS },
		{ "ttl = 1h\n", 3600000, CONFIG_MAX_TTL_MS },
		{ "ttl = 1s\nmax_ttl = 1s\n", 1000, 1000 },
		{ "ttl = 24h\n", CONFIG_MAX_TTL_MS, CONFIG_MAX_TTL_MS },
		{ "max_ttl = 90m\nttl = 90m\n", 5400000, 5400000 },
	};
	size_t i;

	(void)state;
	for (i = 0; i < N_ELEMENTS(cases); i++) {
		struct config c;
		char path[64];

		load_text(&c, cases[i].text, path);
		assert_int_equal(c.ttl, cases[i].ttl);
		assert_int_equal(c.max_ttl, cases[i].max_ttl);
		config_free(&c);
		unlink(path);
	}
}

static void
test_mode_token_request_explicit(void **state)
{
	struct config c;
	char path[64];

	(void)state;
	load_text(&c, "mode = jwt\n", path);
	assert_int_equal(c.mode, MODE_JWT);
	config_free(&c);
	unlink(path);
	load_text(&c, "mode = token-request\n", path);
	assert_int_equal(c.mode, MODE_TOKEN_REQUEST);
	config_free(&c);
	unlink(path);
}

/* ------------------------------------------------------------------ */
/* Errors: each names file:line and the setting. */

struct error_case {
	const char *name;
	const char *text;
	const char *want[4];   /* substrings of err; NULL-terminated */
};

static const struct error_case error_cases[] = {
	{ "unknown setting", "mode = jwt\ncolour = blue\n",
	  { ":2:", "unknown setting", "colour", NULL } },
	{ "missing '='", "mode = jwt\n\nttl 3600\n",
	  { ":3:", "name = value", NULL } },
	{ "bare word", "key\n", { ":1:", "name = value", NULL } },
	{ "empty name", "= jwt\n", { ":1:", "unknown setting", NULL } },
	{ "setting twice", "\n# c\nttl = 1h\nmode = jwt\nttl = 2h\n",
	  { ":5:", "ttl", "twice", NULL } },
	{ "key twice", "key = " KEY "\nkey = " KEY "\n",
	  { ":2:", "key", "twice", NULL } },
	{ "ttl not a duration", "mode = jwt\nclient_id = a\nttl = abc\n",
	  { ":3:", "ttl", NULL } },
	{ "ttl below 1s", "ttl = 500\n", { ":1:", "ttl", NULL } },
	{ "ttl above 24h", "ttl = 25h\n", { ":1:", "ttl", NULL } },
	{ "ttl with a space before the unit", "ttl = 10 s\n",
	  { ":1:", "ttl", NULL } },
	{ "ttl negative", "ttl = -1h\n", { ":1:", "ttl", NULL } },
	{ "ttl unknown unit", "ttl = 1d\n", { ":1:", "ttl", NULL } },
	{ "max_ttl zero", "mode = jwt\nmax_ttl = 0\n",
	  { ":2:", "max_ttl", NULL } },
	{ "ttl over max_ttl", "ttl = 2h\nmax_ttl = 1h\n",
	  { "ttl", "max_ttl", "larger", NULL } },
	{ "rest_host with a scheme", "mode = token\nrest_host = https://x/\n",
	  { ":2:", "rest_host", NULL } },
	{ "fallback_hosts junk", "fallback_hosts = a.example, b example:99999\n",
	  { ":1:", "fallback_hosts", NULL } },
	{ "tls maybe", "tls = maybe\n", { ":1:", "tls", NULL } },
	{ "timeout over budget", "request_timeout_ms = 9000\n",
	  { "request_timeout_ms", "upstream_timeout_ms", NULL } },
	{ "mode unknown", "mode = JWT\n", { ":1:", "mode", NULL } },
	{ "client_id unknown identity source", "client_id = $remote_usr\n",
	  { ":1:", "client_id", "$remote_user", NULL } },
	{ "client_id header name with '_'", "client_id = $header:X_User\n",
	  { ":1:", "client_id", "header name", NULL } },
	{ "client_id header name empty", "client_id = $header:\n",
	  { ":1:", "client_id", NULL } },
	{ "client_id header Content-Type",
	  "client_id = $header:Content-Type\n", { ":1:", "client_id", NULL } },
	/* policy settings (rules, groups, identity) */
	{ "$header without trusted_header_secret",
	  "client_id = $header:X-User\n",
	  { "trusted_header_secret", "TRUSTED_HEADER_SECRET", NULL } },
	{ "group_header without trusted_header_secret",
	  "client_id = $remote_user\ngroup_header = X-Groups\n",
	  { "trusted_header_secret", "group_header", NULL } },
	{ "trusted_header_secret too short",
	  "trusted_header_secret = short\n",
	  { ":1:", "trusted_header_secret", "16", NULL } },
	{ "trusted_header_secret with a space",
	  "trusted_header_secret = 0123456789 abcdef0123\n",
	  { ":1:", "trusted_header_secret", NULL } },
	{ "group_header bad name", "group_header = X Groups\n",
	  { ":1:", "group_header", NULL } },
	{ "rule without match",
	  "\nrule.fans.capability = {\"a\":[\"subscribe\"]}\n",
	  { ":2:", "rule.fans", "match", NULL } },
	{ "rule without capability", "mode = jwt\nrule.fans.match = *\n",
	  { ":2:", "rule.fans", "capability", NULL } },
	{ "rule capability not JSON",
	  "rule.fans.match = *\nrule.fans.capability = {\"a\":\n",
	  { ":2:", "rule.fans.capability", "JSON", NULL } },
	{ "rule capability unknown operation",
	  "rule.fans.capability = {\"a\":[\"fly\"]}\n",
	  { ":1:", "rule.fans.capability", "operation", NULL } },
	{ "rule capability empty list",
	  "rule.fans.capability = {\"a\":[]}\n",
	  { ":1:", "rule.fans.capability", "empty", NULL } },
	{ "rule capability empty object", "rule.fans.capability = {}\n",
	  { ":1:", "rule.fans.capability", NULL } },
	{ "rule capability misspelt placeholder",
	  "client_id = $remote_user\n"
	  "rule.fans.capability = {\"u:{clientID}\":[\"*\"]}\n",
	  { ":2:", "rule.fans.capability", "{clientId}", NULL } },
	{ "rule unknown setting", "rule.fans.colour = blue\n",
	  { ":1:", "rule.fans.colour", "unknown", NULL } },
	{ "rule setting twice",
	  "rule.fans.match = *\nrule.fans.match = user:a\n",
	  { ":2:", "rule.fans.match", "twice", NULL } },
	{ "rule name with a dot only", "rule.fans = x\n",
	  { ":1:", "rule.NAME.SETTING", NULL } },
	{ "rule bad name", "rule.f!ns.match = *\n",
	  { ":1:", "rule.NAME.SETTING", NULL } },
	{ "rule match without a kind", "rule.fans.match = alice\n",
	  { ":1:", "rule.fans.match", "user:NAME", NULL } },
	{ "rule match empty item", "rule.fans.match = user:a,,user:b\n",
	  { ":1:", "rule.fans.match", "empty", NULL } },
	{ "rule match unknown group",
	  "rule.fans.match = group:nope\n"
	  "rule.fans.capability = {\"a\":[\"subscribe\"]}\n",
	  { ":1:", "rule.fans", "group nope", NULL } },
	{ "rule ttl over its max_ttl",
	  "rule.fans.match = *\nrule.fans.capability = {\"a\":[\"*\"]}\n"
	  "rule.fans.ttl = 2h\nrule.fans.max_ttl = 1h\n",
	  { "rule.fans", "ttl", "max_ttl", NULL } },
	{ "rule max_ttl under the top-level ttl",
	  "rule.fans.match = *\nrule.fans.capability = {\"a\":[\"*\"]}\n"
	  "rule.fans.max_ttl = 10m\n",
	  { ":1:", "rule.fans", "top-level ttl", NULL } },
	{ "rule ttl not a duration", "rule.fans.ttl = soon\n",
	  { ":1:", "rule.fans.ttl", NULL } },
	{ "rule wildcard_client_id maybe",
	  "rule.fans.wildcard_client_id = maybe\n",
	  { ":1:", "rule.fans.wildcard_client_id", NULL } },
	{ "revocable_tokens maybe", "revocable_tokens = maybe\n",
	  { ":1:", "revocable_tokens", NULL } },
	{ "revocable_tokens with max_ttl 24h",
	  "max_ttl = 24h\nrevocable_tokens = on\n",
	  { "max_ttl", "revocable_tokens", NULL } },
	{ "revocable_tokens with ttl 2h", "revocable_tokens = on\nttl = 2h\n",
	  { "ttl", "revocable_tokens", NULL } },
	{ "revocable_tokens and a rule's max_ttl",
	  "revocable_tokens = on\nrule.fans.match = *\n"
	  "rule.fans.capability = {\"a\":[\"*\"]}\n"
	  "rule.fans.max_ttl = 2h\n",
	  { ":2:", "rule.fans", "revocable_tokens", NULL } },
	{ "template with no identity",
	  "client_id =\ncapability = {\"u:{clientId}\":[\"*\"]}\n",
	  { "{clientId}", "client_id", NULL } },
	{ "template in a rule with no identity",
	  "client_id =\nrule.a.match = *\n"
	  "rule.a.capability = {\"u:{clientId}\":[\"*\"]}\n",
	  { "{clientId}", "client_id", NULL } },
	{ "template filled by a hostile fixed id",
	  "client_id = a:*\ncapability = {\"u:{clientId}\":[\"*\"]}\n",
	  { "client_id", "{clientId}", NULL } },
	{ "default capability stray brace",
	  "capability = {\"a}\":[\"*\"]}\n", { "capability", "{clientId}",
	  NULL } },
	{ "group twice", "group.a = x\ngroup.a = y\n",
	  { ":2:", "group.a", "twice", NULL } },
	{ "group empty", "group.a =\n", { ":1:", "group.a", "empty", NULL } },
	{ "group bad name", "group.a:b = x\n", { ":1:", "group.a:b", NULL } },
	{ "publish_max_rate not a number", "publish_max_rate.lobby = fast\n",
	  { ":1:", "publish_max_rate.lobby", "number", NULL } },
	{ "publish_max_rate zero", "publish_max_rate.lobby = 0\n",
	  { ":1:", "publish_max_rate.lobby", NULL } },
	{ "publish_max_rate negative", "publish_max_rate.lobby = -1\n",
	  { ":1:", "publish_max_rate.lobby", NULL } },
	{ "publish_max_rate exponent", "publish_max_rate.lobby = 1e3\n",
	  { ":1:", "publish_max_rate.lobby", NULL } },
	{ "channel_claim without a channel", "channel_claim. = x\n",
	  { ":1:", "channel_claim.", NULL } },
	{ "channel_claim empty value", "channel_claim.a =\n",
	  { ":1:", "channel_claim.a", NULL } },
	{ "channel_claim twice",
	  "rule.r.channel_claim.a = x\nrule.r.channel_claim.a = y\n",
	  { ":2:", "rule.r.channel_claim.a", "twice", NULL } },
	{ "revocation_key twice", "revocation_key = a\nrevocation_key = b\n",
	  { ":2:", "revocation_key", "twice", NULL } },
	{ "wildcard_client_id maybe", "wildcard_client_id = maybe\n",
	  { ":1:", "wildcard_client_id", NULL } },
	{ "client_id control byte", "client_id = a\x01z\n",
	  { ":1:", "client_id", NULL } },
	{ "capability unknown operation", "capability = {\"*\":[\"fly\"]}\n",
	  { ":1:", "capability", NULL } },
	{ "capability invalid JSON", "capability = {\"*\":\n",
	  { ":1:", "capability", NULL } },
	{ "capability empty", "capability =\n", { ":1:", "capability", NULL } },
	{ "cors_origins star", "cors_origins = *\n",
	  { ":1:", "cors_origins", NULL } },
	{ "cors_origins with a path", "cors_origins = https://a.example/app\n",
	  { ":1:", "cors_origins", NULL } },
	{ "cors_origins trailing slash", "cors_origins = https://a.example/\n",
	  { ":1:", "cors_origins", NULL } },
	{ "cors_origins no scheme", "cors_origins = app.example.com\n",
	  { ":1:", "cors_origins", NULL } },
	{ "cors_origins second bad", "\ncors_origins = https://a.example, "
	  "ftp://b.example\n", { ":2:", "cors_origins", NULL } },
	{ "max_body too small", "max_body = 10\n",
	  { ":1:", "max_body", NULL } },
	{ "max_body too big", "max_body = 2000000\n",
	  { ":1:", "max_body", NULL } },
	{ "max_body with a unit", "max_body = 4k\n",
	  { ":1:", "max_body", NULL } },
	{ "max_body negative", "max_body = -100\n",
	  { ":1:", "max_body", NULL } },
	{ "health_path relative", "health_path = health\n",
	  { ":1:", "health_path", NULL } },
	{ "health_path with a query", "health_path = /h?x=1\n",
	  { ":1:", "health_path", NULL } },
	{ "log_level unknown", "log_level = loud\n",
	  { ":1:", "log_level", NULL } },
	{ "log_format unknown", "log_format = yaml\n",
	  { ":1:", "log_format", "text or json" } },
	{ "log_format twice", "log_format = json\nlog_format = text\n",
	  { ":2:", "log_format", "twice" } },
};

/* log_format: text by default; json takes effect once the file is read
 * (the load's own warnings are in it); a load that fails puts back what
 * it found. */
static void
test_log_format(void **state)
{
	struct config c;
	char path[64], err[256];

	(void)state;
	assert_int_equal(log_get_format(), LOG_FORMAT_TEXT);
	load_text(&c, "log_format = json\n", path);
	assert_int_equal(c.log_format, LOG_FORMAT_JSON);
	assert_int_equal(log_get_format(), LOG_FORMAT_JSON);
	config_free(&c);
	unlink(path);
	load_text_fails("log_format = text\nttl = 2s\nmax_ttl = 1s\n", err,
	    sizeof(err), path);
	unlink(path);
	assert_int_equal(log_get_format(), LOG_FORMAT_JSON);
	load_text(&c, "mode = jwt\n", path);
	assert_int_equal(c.log_format, LOG_FORMAT_TEXT);
	assert_int_equal(log_get_format(), LOG_FORMAT_TEXT);
	config_free(&c);
	unlink(path);
}

static void
test_error_case(void **state)
{
	const struct error_case *t = *state;
	char err[512], path[64];
	size_t i;

	load_text_fails(t->text, err, sizeof(err), path);
	/* Every message names the file... */
	if (strstr(err, path) == NULL)
		fail_msg("%s: \"%s\" does not name %s", t->name, err, path);
	/* ...and what is wrong. */
	for (i = 0; i < N_ELEMENTS(t->want) && t->want[i] != NULL; i++)
		if (strstr(err, t->want[i]) == NULL)
			fail_msg("%s: \"%s\" lacks \"%s\"", t->name, err,
			    t->want[i]);
	unlink(path);
}

static void
test_missing_file(void **state)
{
	struct config c;
	char err[256] = "";

	(void)state;
	assert_int_equal(config_load(&c, "/tmp/test_config_does/not/exist",
	    err, sizeof(err)), -1);
	assert_non_null(strstr(err, "/tmp/test_config_does/not/exist"));
	assert_non_null(strstr(err, "cannot open"));
	assert_null(c.path);
}

static void
test_not_a_regular_file(void **state)
{
	struct config c;
	char err[256] = "";

	(void)state;
	assert_int_equal(config_load(&c, "/tmp", err, sizeof(err)), -1);
	assert_non_null(strstr(err, "/tmp"));
}

/* A small err buffer is filled, not overrun. */
static void
test_short_err_buffer(void **state)
{
	struct config c;
	char path[64], err[12];

	(void)state;
	write_conf(path, "colour = blue\n");
	memset(err, 'Z', sizeof(err));
	assert_int_equal(config_load(&c, path, err, sizeof(err)), -1);
	assert_int_equal(strlen(err), sizeof(err) - 1);
	unlink(path);
}

/* ------------------------------------------------------------------ */
/* Bad keys: refused, and the message never quotes the secret. */

struct bad_key_case {
	const char *name;
	const char *key;
	const char *secret;   /* text that must not appear in err */
};

static const struct bad_key_case bad_key_cases[] = {
	{ "bad key: no colon", "xVLyHw.A1b2CqJw0xqsCIBjTJP0uLqGsYz3f7e5dN5PLV",
	  "xVLyHw.A1b2CqJw0xqsCIBjTJP0uLqGsYz3f7e5dN5PLV" },
	{ "bad key: no dot in the name", "xVLyHwA1b2Cq:Jw0xqsCIBjTJP0uLqGsYz3f7e5dN5PLV",
	  "Jw0xqsCIBjTJP0uLqGsYz3f7e5dN5PLV" },
	{ "bad key: dot in the secret", "xVLyHw.A1b2Cq:Jw0xqsCIBj.TJP0uLqGsYz3f7e5dN5",
	  "Jw0xqsCIBj.TJP0uLqGsYz3f7e5dN5" },
	{ "bad key: colon in the secret", "xVLyHw.A1b2Cq:Jw0xqsCIBj:TJP0uLqGsYz3f7e5dN",
	  "Jw0xqsCIBj:TJP0uLqGsYz3f7e5dN" },
	{ "bad key: space in the secret", "xVLyHw.A1b2Cq:Jw0xqsCIBj TJP0uLqGsYz3f7e5dN",
	  "Jw0xqsCIBj TJP0uLqGsYz3f7e5dN" },
	{ "bad key: empty secret", "xVLyHw.A1b2Cq:", NULL },
	{ "bad key: empty name", ":Jw0xqsCIBjTJP0uLqGsYz3f7e5dN5PLV",
	  "Jw0xqsCIBjTJP0uLqGsYz3f7e5dN5PLV" },
};

/* No 8-byte run of secret appears in err. */
static void
assert_not_quoted(const char *err, const char *secret, const char *what)
{
	size_t i, n;

	if (secret == NULL)
		return;
	n = strlen(secret);
	for (i = 0; i + 8 <= n; i++)
		if (memmem(err, strlen(err), secret + i, 8) != NULL)
			fail_msg("%s: err quotes the key: \"%s\"", what, err);
}

static void
test_bad_key_case(void **state)
{
	const struct bad_key_case *t = *state;
	struct config c;
	char text[256], err[512], path[64];

	/* In the file: names file:line and the setting. */
	(void)snprintf(text, sizeof(text), "mode = jwt\nkey = %s\n", t->key);
	load_text_fails(text, err, sizeof(err), path);
	assert_non_null(strstr(err, path));
	assert_non_null(strstr(err, ":2:"));
	assert_non_null(strstr(err, "key"));
	assert_not_quoted(err, t->secret, t->name);
	unlink(path);

	/* In the environment: names the variable. */
	assert_int_equal(setenv("ABLY_API_KEY", t->key, 1), 0);
	err[0] = '\0';
	assert_int_equal(config_load(&c, NULL, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "ABLY_API_KEY"));
	assert_not_quoted(err, t->secret, t->name);
	clear_env();

	assert_int_equal(setenv("VITE_ABLY_KEY", t->key, 1), 0);
	err[0] = '\0';
	assert_int_equal(config_load(&c, NULL, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "VITE_ABLY_KEY"));
	assert_not_quoted(err, t->secret, t->name);
	clear_env();
}

/* ------------------------------------------------------------------ */
/* The environment */

static void
test_env_overrides_file_key(void **state)
{
	struct config c;
	char path[64];

	(void)state;
	assert_int_equal(setenv("ABLY_API_KEY", KEY2, 1), 0);
	load_text(&c, "key = " KEY "\n", path);
	assert_string_equal(c.key.name, KEY2_NAME);
	assert_string_equal(c.key_source, "ABLY_API_KEY");
	config_free(&c);
	unlink(path);
}

static void
test_file_key_without_env(void **state)
{
	struct config c;
	char path[64];

	(void)state;
	load_text(&c, "\nkey = " KEY "\n", path);
	assert_string_equal(c.key.name, KEY_NAME);
	assert_non_null(strstr(c.key_source, path));
	assert_non_null(strstr(c.key_source, ":2"));
	assert_null(strstr(c.key_source, KEY_SECRET));
	config_free(&c);
	unlink(path);
}

static void
test_vite_key_when_ably_unset(void **state)
{
	struct config c;
	char err[256] = "";

	(void)state;
	assert_int_equal(setenv("VITE_ABLY_KEY", KEY3, 1), 0);
	assert_int_equal(config_load(&c, NULL, err, sizeof(err)), 0);
	assert_true(key_loaded(&c.key));
	assert_string_equal(c.key.name, KEY3_NAME);
	assert_string_equal(c.key_source, "VITE_ABLY_KEY");
	config_free(&c);
}

static void
test_vite_key_when_ably_empty(void **state)
{
	struct config c;
	char err[256] = "";

	(void)state;
	assert_int_equal(setenv("ABLY_API_KEY", "", 1), 0);
	assert_int_equal(setenv("VITE_ABLY_KEY", KEY3, 1), 0);
	assert_int_equal(config_load(&c, NULL, err, sizeof(err)), 0);
	assert_string_equal(c.key.name, KEY3_NAME);
	config_free(&c);
}

static void
test_ably_key_beats_vite_key(void **state)
{
	struct config c;
	char path[64];

	(void)state;
	assert_int_equal(setenv("ABLY_API_KEY", KEY2, 1), 0);
	assert_int_equal(setenv("VITE_ABLY_KEY", KEY3, 1), 0);
	load_text(&c, "key = " KEY "\n", path);
	assert_string_equal(c.key.name, KEY2_NAME);
	assert_string_equal(c.key_source, "ABLY_API_KEY");
	config_free(&c);
	unlink(path);
}

/* The env overrides the key, not the file's mistakes. */
static void
test_env_key_does_not_excuse_bad_file_key(void **state)
{
	char err[512], path[64];

	(void)state;
	assert_int_equal(setenv("ABLY_API_KEY", KEY2, 1), 0);
	load_text_fails("key = nodot:secret\n", err, sizeof(err), path);
	assert_non_null(strstr(err, ":1:"));
	unlink(path);
}

/* A world-readable file holding the key is refused, naming file:line;
 * with CONFIG_ALLOW_INSECURE it loads with a warning. Never the secret. */
static void
test_world_readable_key_file(void **state)
{
	struct config c;
	char path[64], err[256] = "", logpath[] = "/tmp/test_config_log_XXXXXX";
	char log[4096];
	int logfd, saved;
	ssize_t n;

	(void)state;
	write_conf(path, "mode = jwt\nkey = " KEY "\n");
	assert_int_equal(chmod(path, 0644), 0);
	assert_int_equal(config_load(&c, path, err, sizeof(err)), -1);
	assert_non_null(strstr(err, path));
	assert_non_null(strstr(err, ":2"));
	assert_non_null(strstr(err, "readable"));
	assert_null(strstr(err, KEY_SECRET));
	/* group-readable (640 with the web server's group) is fine */
	assert_int_equal(chmod(path, 0640), 0);
	assert_int_equal(config_load(&c, path, err, sizeof(err)), 0);
	config_free(&c);
	assert_int_equal(chmod(path, 0644), 0);

	logfd = mkstemp(logpath);
	assert_true(logfd >= 0);
	fflush(stderr);
	saved = dup(STDERR_FILENO);
	assert_true(saved >= 0);
	assert_true(dup2(logfd, STDERR_FILENO) >= 0);
	n = config_load_ex(&c, path, CONFIG_ALLOW_INSECURE, err, sizeof(err));
	fflush(stderr);
	assert_true(dup2(saved, STDERR_FILENO) >= 0);
	close(saved);
	assert_int_equal(n, 0);
	config_free(&c);
	n = pread(logfd, log, sizeof(log) - 1, 0);
	close(logfd);
	unlink(logpath);
	unlink(path);
	assert_true(n > 0);
	log[n] = '\0';
	assert_non_null(strstr(log, path));
	assert_non_null(strstr(log, ":2"));
	assert_non_null(strstr(log, "insecure"));
	assert_null(strstr(log, KEY_SECRET));
}

/* ------------------------------------------------------------------ */

struct duration_case {
	const char *text;
	int ok;
	long long ms;
};

static void
test_parse_duration(void **state)
{
	static const struct duration_case cases[] = {
		{ "0", 1, 0 },
		{ "1", 1, 1 },
		{ "1000", 1, 1000 },
		{ "1000ms", 1, 1000 },
		{ "10s", 1, 10000 },
		{ "5m", 1, 300000 },
		{ "2h", 1, 7200000 },
		{ "24h", 1, 86400000 },
		{ "90m", 1, 5400000 },
		{ "0s", 1, 0 },
		{ "007s", 1, 7000 },
		{ "24000h", 1, 86400000000LL },
		{ "86400000000", 1, 86400000000LL },
		{ "24001h", 0, 0 },
		{ "86400000001", 0, 0 },
		{ "99999999999999999999", 0, 0 },
		{ "", 0, 0 },
		{ "abc", 0, 0 },
		{ "h", 0, 0 },
		{ "ms", 0, 0 },
		{ "-5", 0, 0 },
		{ "+5", 0, 0 },
		{ " 5", 0, 0 },
		{ "5 ", 0, 0 },
		{ "5 s", 0, 0 },
		{ "5x", 0, 0 },
		{ "5S", 0, 0 },
		{ "5H", 0, 0 },
		{ "5sec", 0, 0 },
		{ "5d", 0, 0 },
		{ "1.5h", 0, 0 },
		{ "5ms5", 0, 0 },
		{ "0x10", 0, 0 },
	};
	size_t i;

	(void)state;
	for (i = 0; i < N_ELEMENTS(cases); i++) {
		long long ms = -1;
		int rc = setting_duration(cases[i].text, &ms);

		if ((rc == 0) != cases[i].ok)
			fail_msg("duration \"%s\": rc %d, want %s",
			    cases[i].text, rc, cases[i].ok ? "0" : "-1");
		if (cases[i].ok)
			assert_int_equal(ms, cases[i].ms);
		else
			assert_int_equal(rc, -1);
	}
}

struct origin_case {
	const char *origin;
	int want;
};

static void
test_origin_allowed(void **state)
{
	static const struct origin_case cases[] = {
		{ "https://a.example", 1 },
		{ "http://localhost:3000", 1 },
		{ "https://a.example/", 0 },
		{ "HTTPS://a.example", 0 },
		{ "https://A.example", 0 },
		{ "https://a.exampl", 0 },
		{ "https://a.example.evil.com", 0 },
		{ "https://a.example:443", 0 },
		{ "http://a.example", 0 },
		{ "http://localhost", 0 },
		{ "http://localhost:30000", 0 },
		{ "null", 0 },
		{ "", 0 },
		{ "*", 0 },
	};
	struct config c;
	char path[64], err[256];
	size_t i;

	(void)state;
	load_text(&c, "cors_origins = https://a.example http://localhost:3000\n",
	    path);
	for (i = 0; i < N_ELEMENTS(cases); i++)
		if (config_origin_allowed(&c, cases[i].origin) != cases[i].want)
			fail_msg("origin \"%s\": want %d", cases[i].origin,
			    cases[i].want);
	assert_int_equal(config_origin_allowed(&c, NULL), 0);
	config_free(&c);
	unlink(path);

	/* No origins configured: nothing is allowed. */
	assert_int_equal(config_load(&c, NULL, err, sizeof(err)), 0);
	assert_int_equal(config_origin_allowed(&c, "https://a.example"), 0);
	assert_int_equal(config_origin_allowed(&c, NULL), 0);
	config_free(&c);
}

static void
test_free_and_names(void **state)
{
	struct config c;

	(void)state;
	memset(&c, 0, sizeof(c));
	config_free(&c);             /* zeroed: fine */
	config_free(&c);             /* twice: fine */
	assert_null(c.path);
	assert_string_equal(config_mode_name(MODE_TOKEN_REQUEST),
	    "token-request");
	assert_string_equal(config_mode_name(MODE_JWT), "jwt");
	assert_string_equal(config_mode_name(MODE_TOKEN), "token");
	assert_string_equal(config_mode_name(MODE__MAX), "?");
}

/* The policy settings, as conf/ably-token.conf documents them. */
static void
test_policy_settings(void **state)
{
	static const char text[] =
	    "mode = jwt\n"
	    "client_id = $header:X-Auth-User\n"
	    "group_header = x-auth-groups\n"
	    "trusted_header_secret = 0123456789abcdef0123456789abcdef\n"
	    "capability = {\"public\":[\"subscribe\"]}\n"
	    "revocable_tokens = on\n"
	    "wildcard_client_id = off\n"
	    "revocation_key = all-users\n"
	    "channel_claim.public = visitor\n"
	    "publish_max_rate.public = 0.5\n"
	    "group.admins = carol, dave ,erin\n"
	    "rule.admins.match = group:admins, user:root\n"
	    "rule.admins.capability = {\"*\":[\"*\"]}\n"
	    "rule.admins.wildcard_client_id = on\n"
	    "rule.users.match = *\n"
	    "rule.users.capability = {\"private:{clientId}\":[\"*\"]}\n"
	    "rule.users.ttl = 10m\n"
	    "rule.users.max_ttl = 30m\n"
	    "rule.users.revocation_key = user:{clientId}\n"
	    "rule.users.channel_claim.private:{clientId} = owner\n"
	    "rule.users.publish_max_rate.chat:* = 10\n"
	    "rule.admins.max_ttl = 1h\n";
	struct config c;
	char path[64], where[80];
	const struct rule *u;

	(void)state;
	load_text(&c, text, path);
	assert_int_equal(c.rules.source, ID_HEADER);
	assert_string_equal(c.rules.header, "HTTP_X_AUTH_USER");
	assert_string_equal(c.rules.group_header, "HTTP_X_AUTH_GROUPS");
	assert_string_equal(c.rules.trusted_secret,
	    "0123456789abcdef0123456789abcdef");
	assert_string_equal(c.client_id, "$header:X-Auth-User");
	assert_int_equal(c.rules.revocable_tokens, 1);
	/* revocable tokens: the default max_ttl comes down to Ably's 1 h */
	assert_int_equal(c.max_ttl, 3600000);
	assert_string_equal(c.rules.dflt.revocation_key, "all-users");
	assert_int_equal(c.rules.dflt.n_channel_claims, 1);
	assert_string_equal(c.rules.dflt.rate_limits[0].value, "0.5");
	assert_int_equal(c.rules.n_groups, 1);
	assert_int_equal(c.rules.groups[0].n_members, 3);
	assert_string_equal(c.rules.groups[0].members[1], "dave");
	/* rules in the order they first appear */
	assert_int_equal(c.rules.n, 2);
	assert_string_equal(c.rules.rules[0].name, "admins");
	(void)snprintf(where, sizeof(where), "%s:12", path);
	assert_string_equal(c.rules.rules[0].where, where);
	assert_int_equal(c.rules.rules[0].n_match, 2);
	assert_string_equal(c.rules.rules[0].match[1], "user:root");
	assert_int_equal(c.rules.rules[0].wildcard_client_id, 1);
	assert_int_equal(c.rules.rules[0].max_ttl, 3600000);
	u = &c.rules.rules[1];
	assert_int_equal(u->ttl, 600000);
	assert_int_equal(u->max_ttl, 1800000);
	assert_int_equal(u->wildcard_client_id, 0);
	assert_string_equal(u->revocation_key, "user:{clientId}");
	assert_string_equal(u->channel_claims[0].channel, "private:{clientId}");
	assert_string_equal(u->rate_limits[0].channel, "chat:*");
	assert_true(cap_has_template(u->capability));
	config_free(&c);
	assert_int_equal(c.rules.n, 0);
	assert_null(c.rules.rules);
	unlink(path);
}

/* Each identity source parses; a fixed id resets an earlier source. */
static void
test_identity_sources(void **state)
{
	static const struct {
		const char *text;
		enum id_source source;
	} cases[] = {
		{ "client_id = $remote_user\n", ID_REMOTE_USER },
		{ "client_id = $random\n", ID_RANDOM },
		{ "client_id = $request\n", ID_REQUEST },
		{ "client_id = alice\n", ID_FIXED },
		{ "client_id =\n", ID_FIXED },
		{ "trusted_header_secret = 0123456789abcdef\n"
		  "client_id = $header:X-User\n", ID_HEADER },
	};
	size_t i;

	(void)state;
	for (i = 0; i < N_ELEMENTS(cases); i++) {
		struct config c;
		char path[64];

		load_text(&c, cases[i].text, path);
		assert_int_equal(c.rules.source, cases[i].source);
		config_free(&c);
		unlink(path);
	}
}

/* A bad trusted_header_secret is never quoted back. */
/* Key rotation: previous_key from the file or ABLY_PREVIOUS_API_KEY, with
 * where it came from; a bad one names the setting, never the secret. */
static void
test_previous_key(void **state)
{
	struct config c;
	char err[512], path[64];

	(void)state;
	load_text(&c, "key = " KEY "\nprevious_key = " KEY2 "\n", path);
	assert_string_equal(c.key.name, KEY_NAME);
	assert_string_equal(c.previous_key.name, KEY2_NAME);
	assert_non_null(strstr(c.previous_key_source, ":2"));
	config_free(&c);
	unlink(path);

	/* none by default */
	load_text(&c, "key = " KEY "\n", path);
	assert_false(key_loaded(&c.previous_key));
	config_free(&c);
	unlink(path);

	assert_int_equal(setenv("ABLY_PREVIOUS_API_KEY", KEY3, 1), 0);
	load_text(&c, "key = " KEY "\nprevious_key = " KEY2 "\n", path);
	assert_string_equal(c.previous_key.name, KEY3_NAME);
	assert_string_equal(c.previous_key_source, "ABLY_PREVIOUS_API_KEY");
	config_free(&c);
	unlink(path);
	clear_env();

	load_text_fails("key = " KEY "\nprevious_key = nocolon.x\n", err,
	    sizeof(err), path);
	assert_non_null(strstr(err, ":2: previous_key: "));
	unlink(path);
	load_text_fails("previous_key = " KEY2 "\nprevious_key = " KEY3 "\n",
	    err, sizeof(err), path);
	assert_non_null(strstr(err, "previous_key is set twice"));
	assert_null(strstr(err, "Zz9yYx8w"));
	unlink(path);
}

/* ready_path and ready_fail_after: defaults, values, refusals. */
static void
test_ready_settings(void **state)
{
	struct config c;
	char err[512], path[64];

	(void)state;
	load_text(&c, "key = " KEY "\n", path);
	assert_string_equal(c.ready_path, "/readyz");
	assert_int_equal(c.ready_fail_after, 30000);
	config_free(&c);
	unlink(path);
	load_text(&c, "ready_path = /up\nready_fail_after = 2m\n", path);
	assert_string_equal(c.ready_path, "/up");
	assert_int_equal(c.ready_fail_after, 120000);
	config_free(&c);
	unlink(path);
	load_text(&c, "ready_path =\nready_fail_after = 0\n", path);
	assert_null(c.ready_path);
	assert_int_equal(c.ready_fail_after, 0);
	config_free(&c);
	unlink(path);
	load_text_fails("ready_path = readyz\n", err, sizeof(err), path);
	assert_non_null(strstr(err, "ready_path: expected a path"));
	unlink(path);
	load_text_fails("ready_fail_after = 2h\n", err, sizeof(err), path);
	assert_non_null(strstr(err, "ready_fail_after: expected a duration"));
	unlink(path);
	/* Two probes on one path: refused, naming both. */
	load_text_fails("ready_path = /healthz\n", err, sizeof(err), path);
	assert_non_null(strstr(err, "health_path and ready_path are both "
	    "/healthz: each needs a path of its own"));
	unlink(path);
	load_text_fails("metrics_path = /up\nready_path = /up\n", err,
	    sizeof(err), path);
	assert_non_null(strstr(err, "ready_path and metrics_path are both /up"));
	unlink(path);
	/* Disabled ones never clash. */
	load_text(&c, "ready_path =\nmetrics_path =\nhealth_path =\n", path);
	config_free(&c);
	unlink(path);
}

static void
test_secret_not_quoted(void **state)
{
	char err[512], path[64];

	(void)state;
	load_text_fails("trusted_header_secret = sh0rt-SECRET!\n", err,
	    sizeof(err), path);
	assert_null(strstr(err, "sh0rt"));
	assert_null(strstr(err, "SECRET!"));
	unlink(path);
}

/* token mode settings: custom hosts drop Ably's fallbacks, as the SDKs do. */
static void
test_rest_settings(void **state)
{
	struct config c;
	char path[64];

	(void)state;
	load_text(&c, "rest_host = 127.0.0.1:8080\ntls = off\n"
	    "query_time = on\nconnect_timeout_ms = 200\n"
	    "request_timeout_ms = 900\nupstream_timeout_ms = 2000\n"
	    "proxy = http://proxy.internal:3128\nca_file = /etc/ca.pem\n",
	    path);
	unlink(path);
	assert_string_equal(c.rest_host, "127.0.0.1:8080");
	assert_int_equal(c.n_fallback_hosts, 0);
	assert_int_equal(c.tls, 0);
	assert_int_equal(c.query_time, 1);
	assert_int_equal(c.connect_timeout_ms, 200);
	assert_int_equal(c.request_timeout_ms, 900);
	assert_int_equal(c.upstream_timeout_ms, 2000);
	assert_string_equal(c.proxy, "http://proxy.internal:3128");
	assert_string_equal(c.ca_file, "/etc/ca.pem");
	config_free(&c);

	load_text(&c, "rest_host = rest.example.com\n"
	    "fallback_hosts = a.example.com, b.example.com:8443\nport = 8443\n",
	    path);
	unlink(path);
	assert_int_equal(c.n_fallback_hosts, 2);
	assert_string_equal(c.fallback_hosts[1], "b.example.com:8443");
	assert_int_equal(c.port, 8443);
	config_free(&c);

	/* Ably's own host with fallbacks switched off explicitly */
	load_text(&c, "fallback_hosts =\n", path);
	unlink(path);
	assert_string_equal(c.rest_host, "main.realtime.ably.net");
	assert_int_equal(c.n_fallback_hosts, 0);
	config_free(&c);
}

int
main(void)
{
	static const struct CMUnitTest fixed[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_rest_settings),
		cmocka_unit_test(test_every_setting),
		cmocka_unit_test(test_comments_blank_lines_spacing),
		cmocka_unit_test(test_empty_values),
		cmocka_unit_test(test_cors_list_forms),
		cmocka_unit_test(test_ttl_units_in_file),
		cmocka_unit_test(test_mode_token_request_explicit),
		cmocka_unit_test(test_missing_file),
		cmocka_unit_test(test_not_a_regular_file),
		cmocka_unit_test(test_short_err_buffer),
		cmocka_unit_test(test_env_overrides_file_key),
		cmocka_unit_test(test_file_key_without_env),
		cmocka_unit_test(test_vite_key_when_ably_unset),
		cmocka_unit_test(test_vite_key_when_ably_empty),
		cmocka_unit_test(test_ably_key_beats_vite_key),
		cmocka_unit_test(test_env_key_does_not_excuse_bad_file_key),
		cmocka_unit_test(test_world_readable_key_file),
		cmocka_unit_test(test_parse_duration),
		cmocka_unit_test(test_origin_allowed),
		cmocka_unit_test(test_free_and_names),
		cmocka_unit_test(test_policy_settings),
		cmocka_unit_test(test_identity_sources),
		cmocka_unit_test(test_secret_not_quoted),
		cmocka_unit_test_setup_teardown(test_previous_key, env_setup,
		    env_teardown),
		cmocka_unit_test(test_ready_settings),
		cmocka_unit_test(test_log_format),
	};
	struct CMUnitTest tests[N_ELEMENTS(fixed) + N_ELEMENTS(error_cases) +
	    N_ELEMENTS(bad_key_cases)];
	size_t i, n;

	n = UNIT_TESTS(tests, 0, fixed);
	for (i = 0; i < n; i++) {
		tests[i].setup_func = env_setup;
		tests[i].teardown_func = env_teardown;
	}
	n = unit_cases(tests, n, error_cases, N_ELEMENTS(error_cases),
	    sizeof(error_cases[0]), test_error_case, env_setup, env_teardown);
	n = unit_cases(tests, n, bad_key_cases, N_ELEMENTS(bad_key_cases),
	    sizeof(bad_key_cases[0]), test_bad_key_case, env_setup,
	    env_teardown);
	return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
