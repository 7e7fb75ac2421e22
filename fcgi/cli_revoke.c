/* cli_revoke: `ably-token revoke`, revoking tokens the configured key
 * issued, by clientId or revocation key, through Ably's REST API (revoke.c).
 *
 * It reads the configuration the server reads (--config FILE, else
 * ABLY_TOKEN_CONF; ABLY_API_KEY overrides the key), prints one line per
 * target (or, with --json, Ably's answer), and exits 0 when every target
 * was revoked, 1 when Ably refused the request or a target, or could not be
 * reached, 2 on a usage or configuration error. The key's secret is never
 * printed.
 */
#include "cli_revoke.h"

#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>

#include "config.h"
#include "revoke.h"
#include "setting.h"
#include "utf8.h"

#define TARGET_MAX 1024  /* bytes of one "type:value" target */

static void
usage(FILE *f)
{
	fprintf(f,
"usage: ably-token revoke (--client-id ID | --revocation-key KEY)...\n"
"                         [--issued-before MS] [--allow-reauth-margin]\n"
"                         [--json] [--config FILE]\n"
"Revoke the tokens the configured key issued to a clientId, or carrying a\n"
"revocation key (a JWT's x-ably-revocation-key), with Ably's token\n"
"revocation API. Only a key with Ably's \"revocable tokens\" on can revoke,\n"
"and only tokens issued after that was turned on. A revoked browser gets\n"
"a new token from this endpoint unless the policy stops issuing it one.\n"
"\n"
"  --client-id ID         revoke the tokens bound to clientId ID\n"
"  --revocation-key KEY   revoke the JWTs whose x-ably-revocation-key is\n"
"                         KEY (a rule's revocation_key, e.g. user:alice)\n"
"                         (either may be repeated, up to %d targets)\n"
"  --issued-before MS     only tokens issued before this time (ms since\n"
"                         the epoch; Ably refuses a time in the future or\n"
"                         more than an hour ago; default: Ably's now)\n"
"  --allow-reauth-margin  enforce 30 s later, letting connected clients\n"
"                         renew first (default: at once)\n"
"  --json                 print Ably's answer (JSON) instead of one line\n"
"                         per target\n"
"  --config FILE          the settings file (default: $ABLY_TOKEN_CONF):\n"
"                         the key, rest_host, fallback_hosts, tls, port,\n"
"                         ca_file, proxy and timeouts come from it\n"
"\n"
"Environment: ABLY_API_KEY (or VITE_ABLY_KEY) overrides the file's key.\n"
"Exit status: 0 every target revoked, 1 Ably refused the request or a\n"
"target or could not be reached, 2 bad usage or settings.\n",
	    REVOKE_MAX_TARGETS);
}

/* Text from Ably on a terminal: control bytes become '?'. */
static void
print_safe(FILE *f, const char *s)
{
	for (; *s != '\0'; s++)
		fputc((unsigned char)*s < 0x20 || *s == 0x7f ? '?' : *s, f);
}

/* ms since the epoch as 2026-12-02T03:40:00.123Z. */
static void
format_ms(long long ms, char *out, size_t len)
{
	time_t secs = (time_t)(ms / 1000);
	struct tm tm;
	char day[32];

	if (ms < 0 || gmtime_r(&secs, &tm) == NULL ||
	    strftime(day, sizeof(day), "%Y-%m-%dT%H:%M:%S", &tm) == 0) {
		(void)snprintf(out, len, "%lld ms", ms);
		return;
	}
	(void)snprintf(out, len, "%s.%03dZ", day, (int)(ms % 1000));
}

/* What to do about the refusals people will meet most. */
static const char *
hint(int code)
{
	switch (code) {
	case 40100:
	case 40101:
		return "Ably did not accept the key: check ABLY_API_KEY or the "
		    "config file's key";
	case 40121:
	case 40163:
	case 40164:
		return "the key does not have revocable tokens on (Ably "
		    "dashboard, API keys, Revocable tokens); only tokens "
		    "issued after turning it on can be revoked";
	case 40133:
		return "only the key that issued the tokens can revoke them";
	case 40160:
		return "the key's capabilities do not allow this";
	case 40003:
		return "--issued-before must be in the last hour and not in the "
		    "future (by Ably's clock)";
	default:
		return NULL;
	}
}

static void
print_results(const struct revoke_answer *a)
{
	char before[48], at[48];
	size_t i;

	for (i = 0; i < a->n; i++) {
		const struct revoke_result *r = &a->results[i];

		print_safe(stdout, r->target);
		if (r->ok) {
			format_ms(r->issued_before, before, sizeof(before));
			format_ms(r->applies_at, at, sizeof(at));
			printf(": revoked (tokens issued before %s; enforced "
			    "from %s)\n", before, at);
		} else {
			printf(": NOT revoked: Ably error %d (HTTP %d): ",
			    r->code, r->status);
			print_safe(stdout, r->message);
			putchar('\n');
		}
	}
}

/* Ably's answer, re-serialised (so no control byte reaches the terminal). */
static void
print_json(const char *raw)
{
	struct json_object *root = json_tokener_parse(raw);
	const char *s = root ? json_object_to_json_string_ext(root,
	    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE) : NULL;

	if (s != NULL)
		printf("%s\n", s);
	json_object_put(root);
}

/* "type:value" into targets[*n] (the caller frees); 2 on a usage error. */
static int
add_target(char **targets, size_t *n, const char *type, const char *value)
{
	size_t len = strlen(value), size;

	if (*n >= REVOKE_MAX_TARGETS) {
		fprintf(stderr, "ably-token revoke: at most %d targets in one "
		    "request (Ably's limit)\n", REVOKE_MAX_TARGETS);
		return 2;
	}
	if (len == 0 || len > TARGET_MAX || !utf8_text_ok(value, len)) {
		fprintf(stderr, "ably-token revoke: --%s: expected 1..%d bytes "
		    "of UTF-8 text without control characters\n",
		    strcmp(type, "clientId") == 0 ? "client-id" :
		    "revocation-key", TARGET_MAX);
		return 2;
	}
	size = strlen(type) + 1 + len + 1;
	targets[*n] = malloc(size);
	if (targets[*n] == NULL)
		return 1;
	(void)snprintf(targets[*n], size, "%s:%s", type, value);
	(*n)++;
	return 0;
}

/* Load the configuration as the server does; 2 (printed) on failure. */
static int
load_config(const char *path, struct config *cfg)
{
	char err[512];

	if (path == NULL)
		path = getenv("ABLY_TOKEN_CONF");
	if (path != NULL && path[0] == '\0')
		path = NULL;
	if (config_load(cfg, path, err, sizeof(err)) != 0) {
		fprintf(stderr, "ably-token revoke: %s\n", err);
		return 2;
	}
	if (!key_loaded(&cfg->key)) {
		fprintf(stderr, "ably-token revoke: no key: set ABLY_API_KEY, "
		    "or use --config FILE with key = ...\n");
		config_free(cfg);
		return 2;
	}
	return 0;
}

/* Ask Ably and report; the exit code. */
static int
run(const struct config *cfg, const struct revoke_ask *ask, int json)
{
	struct revoke_answer a;
	struct tok_error e = { 0 };
	char *raw = NULL;
	enum tok_err rc;
	int exit_code;

	rc = revoke_tokens(cfg, ask, &a, &raw, &e);
	if (json && raw != NULL)
		print_json(raw);
	if (rc == TOK_OK) {
		if (!json)
			print_results(&a);
		exit_code = a.failures == 0 ? 0 : 1;
		if (a.failures != 0)
			fprintf(stderr, "ably-token revoke: %zu of %zu targets "
			    "not revoked\n", a.failures, a.n);
	} else if (rc == TOK_EINVAL) {
		fprintf(stderr, "ably-token revoke: %s\n", e.message);
		exit_code = 2;
	} else if (e.status != 0) {
		const char *h = hint(e.code);

		fprintf(stderr, "ably-token revoke: Ably refused the request: "
		    "error %d (HTTP %d): ", e.code, e.status);
		print_safe(stderr, e.message);
		fputc('\n', stderr);
		if (h != NULL)
			fprintf(stderr, "ably-token revoke: %s\n", h);
		exit_code = 1;
	} else {
		fprintf(stderr, "ably-token revoke: %s (error %d)\n",
		    e.message, e.code);
		exit_code = 1;
	}
	revoke_answer_free(&a);
	free(raw);
	return exit_code;
}

int
cli_revoke_main(int argc, char **argv)
{
	enum { O_CONFIG = 1, O_CLIENT_ID, O_REVOCATION_KEY, O_ISSUED_BEFORE,
	    O_REAUTH_MARGIN, O_JSON, O_HELP };
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, O_CONFIG },
		{ "client-id", required_argument, NULL, O_CLIENT_ID },
		{ "revocation-key", required_argument, NULL, O_REVOCATION_KEY },
		{ "issued-before", required_argument, NULL, O_ISSUED_BEFORE },
		{ "allow-reauth-margin", no_argument, NULL, O_REAUTH_MARGIN },
		{ "json", no_argument, NULL, O_JSON },
		{ "help", no_argument, NULL, O_HELP },
		{ NULL, 0, NULL, 0 },
	};
	char *targets[REVOKE_MAX_TARGETS];
	struct revoke_ask ask = { 0 };
	const char *config_path = NULL;
	struct config cfg;
	size_t n = 0, i;
	int c, json = 0, rc = 2;

	optind = 1;  /* argv[0] is "revoke" */
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		rc = 0;
		switch (c) {
		case O_CONFIG: config_path = optarg; break;
		case O_CLIENT_ID:
			rc = add_target(targets, &n, "clientId", optarg);
			break;
		case O_REVOCATION_KEY:
			rc = add_target(targets, &n, "revocationKey", optarg);
			break;
		case O_ISSUED_BEFORE:
			if (setting_number(optarg, 1, LLONG_MAX,
			    &ask.issued_before) != 0) {
				fprintf(stderr, "ably-token revoke: "
				    "--issued-before: expected milliseconds "
				    "since the epoch\n");
				rc = 2;
			}
			break;
		case O_REAUTH_MARGIN: ask.allow_reauth_margin = 1; break;
		case O_JSON: json = 1; break;
		case O_HELP:
			usage(stdout);
			goto out;  /* rc is 0 */
		default:
			usage(stderr);
			rc = 2;
			break;
		}
		if (rc != 0)
			goto out;
	}
	rc = 2;
	if (optind != argc || n == 0) {
		fprintf(stderr, "ably-token revoke: %s\n", optind != argc ?
		    "unexpected argument" : "give --client-id or "
		    "--revocation-key (what to revoke)");
		usage(stderr);
		goto out;
	}
	if (load_config(config_path, &cfg) != 0)
		goto out;
	if (!cfg.rules.revocable_tokens)
		fprintf(stderr, "ably-token revoke: note: revocable_tokens = "
		    "off in the settings; Ably revokes only tokens issued by a "
		    "key with revocable tokens on\n");
	ask.targets = (const char *const *)targets;
	ask.n_targets = n;
	rc = run(&cfg, &ask, json);
	config_free(&cfg);
out:
	for (i = 0; i < n; i++)
		free(targets[i]);
	return rc;
}
