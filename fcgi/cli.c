/* cli: the sign and jwt subcommands.
 *
 * They print what the endpoint would hand out, from the same builders
 * (token_request, jwt) and the same config, so a person can check a key
 * and tests can compare against ably-js byte for byte (--timestamp,
 * --nonce, --iat and --exp pin what is otherwise the clock or random).
 * Exit codes: 0 printed, 1 the signing failed, 2 a usage or config error.
 */
#include "cli.h"

#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "capability.h"
#include "cli_revoke.h"
#include "config.h"
#include "crypto.h"
#include "endpoint.h"
#include "jwt.h"
#include "setting.h"
#include "token_request.h"

struct cli_opts {
	const char *config;
	const char *key;
	const char *client_id;
	const char *capability;
	const char *ttl;
	const char *timestamp;
	const char *nonce;
	const char *iat;
	const char *exp;
	const char *revocation_key;
	int no_capability;  /* jwt: leave x-ably-capability out */
};

static void
usage(FILE *f, const char *cmd)
{
	if (strcmp(cmd, "jwt") == 0)
		fprintf(f,
"usage: ably-token jwt [options]\n"
"Print an Ably JWT (HS256, kid = key name) signed with the key.\n"
"\n"
"  --key KEY             appId.keyId:secret (default: ABLY_API_KEY or the\n"
"                        config file; prefer those: arguments show in ps)\n"
"  --config FILE         read the key from FILE (or ABLY_TOKEN_CONF)\n"
"  --client-id ID        x-ably-clientId claim (omitted if not given)\n"
"  --capability JSON     x-ably-capability claim, canonicalised (default:\n"
"                        the config's capability, built in\n"
"                        {\"public:*\":[\"subscribe\"]}; Ably's docs mark\n"
"                        the claim required)\n"
"  --no-capability       leave the claim out (as some old examples do;\n"
"                        Ably may refuse such a JWT)\n"
"  --ttl DURATION        lifetime: ms, or with s/m/h (default: config ttl)\n"
"  --iat SECONDS         issued-at (default: now)\n"
"  --exp SECONDS         expiry (default: iat + ttl)\n"
"  --revocation-key V    x-ably-revocation-key claim\n");
	else
		fprintf(f,
"usage: ably-token sign [options]\n"
"Print a signed Ably TokenRequest (JSON) for the given TokenParams, as\n"
"ably-js auth.createTokenRequest() would. Params not given are left out.\n"
"\n"
"  --key KEY             appId.keyId:secret (default: ABLY_API_KEY or the\n"
"                        config file; prefer those: arguments show in ps)\n"
"  --config FILE         read the key from FILE (or ABLY_TOKEN_CONF)\n"
"  --client-id ID        clientId to bind\n"
"  --capability JSON     capability, canonicalised as ably-js does\n"
"  --ttl DURATION        lifetime: ms, or with s/m/h\n"
"  --timestamp MS        timestamp in ms (default: now)\n"
"  --nonce TEXT          nonce, 16+ chars (default: 32 random hex chars)\n");
}

/* Load the key from --key, else the environment / config file. The whole
 * config is loaded even with --key: its ttl is jwt's default lifetime, and
 * a config that would not start the service should not sign either. */
static int
load_key(const struct cli_opts *o, struct config *cfg)
{
	char err[512];
	const char *path = o->config ? o->config : getenv("ABLY_TOKEN_CONF");
	struct tok_error e;

	if (config_load(cfg, path, err, sizeof(err)) != 0) {
		fprintf(stderr, "ably-token: %s\n", err);
		return -1;
	}
	if (o->key != NULL) {
		key_clear(&cfg->key);
		if (key_parse(o->key, &cfg->key, &e) != TOK_OK) {
			fprintf(stderr, "ably-token: --key: %s\n", e.message);
			config_free(cfg);
			return -1;
		}
	}
	if (!key_loaded(&cfg->key)) {
		fprintf(stderr, "ably-token: no key: give --key, set "
		    "ABLY_API_KEY, or use --config FILE with key = ...\n");
		config_free(cfg);
		return -1;
	}
	return 0;
}

/* Canonical capability text for the CLI (lax, like ably-js). */
static int
canonical_capability(const char *text, char **out)
{
	struct capability *cap;
	struct tok_error e;

	*out = NULL;
	if (text == NULL)
		return 0;
	if (text[0] == '\0') {  /* "" stays "", as in ably-js */
		*out = strdup("");
		return *out ? 0 : -1;
	}
	if (cap_parse(text, strlen(text), CAP_LAX, &cap, &e) != TOK_OK) {
		fprintf(stderr, "ably-token: --capability: %s\n", e.message);
		return -1;
	}
	*out = cap_to_string(cap);
	cap_free(cap);
	return *out ? 0 : -1;
}

/* `ably-token sign`: a TokenRequest as ably-js createTokenRequest() makes
 * it; TokenParams not given stay out of it (Ably then uses its defaults),
 * unlike the endpoint, which always decides them. */
static int
run_sign(const struct cli_opts *o, const struct config *cfg)
{
	char nonce[CRYPTO_NONCE_LEN + 1];
	struct token_params p = { 0 };
	struct tok_error e;
	char *cap = NULL, *json = NULL;
	int rc = 2;

	if (o->ttl != NULL && setting_duration(o->ttl, &p.ttl) != 0) {
		fprintf(stderr, "ably-token: --ttl: expected ms or a number "
		    "with s, m or h\n");
		goto out;
	}
	p.timestamp = endpoint_now_ms();
	/* Any long long (tests pin odd values); an overflow is refused. */
	if (o->timestamp != NULL && setting_number(o->timestamp, LLONG_MIN,
	    LLONG_MAX, &p.timestamp) != 0) {
		fprintf(stderr, "ably-token: --timestamp: expected ms\n");
		goto out;
	}
	if (o->client_id != NULL && o->client_id[0] == '\0') {
		fprintf(stderr, "ably-token: --client-id must not be empty\n");
		goto out;
	}
	if (o->nonce != NULL && strlen(o->nonce) < 16) {
		fprintf(stderr, "ably-token: --nonce: at least 16 chars\n");
		goto out;
	}
	if (canonical_capability(o->capability, &cap) != 0)
		goto out;
	if (o->nonce == NULL && crypto_nonce(nonce) != TOK_OK)
		goto out;
	p.nonce = o->nonce ? o->nonce : nonce;
	p.capability = cap;
	p.client_id = o->client_id;
	if (tr_build(&cfg->key, &p, &json, &e) != TOK_OK) {
		fprintf(stderr, "ably-token: %s\n", e.message);
		rc = 1;
		goto out;
	}
	fputs(json, stdout);
	rc = 0;
out:
	free(cap);
	free(json);
	return rc;
}

/* `ably-token jwt`: an Ably JWT; exp follows iat unless given, so a
 * pinned --iat alone still yields a token of the configured lifetime. */
static int
run_jwt(const struct cli_opts *o, const struct config *cfg)
{
	struct jwt_claims cl = { 0 };
	struct tok_error e;
	long long ttl = cfg->ttl;
	char *cap = NULL, *jwt = NULL;
	int rc = 2;

	if (o->ttl != NULL && setting_duration(o->ttl, &ttl) != 0) {
		fprintf(stderr, "ably-token: --ttl: expected ms or a number "
		    "with s, m or h\n");
		goto out;
	}
	cl.iat = endpoint_now_ms() / 1000;
	if (o->iat != NULL && setting_number(o->iat, LLONG_MIN, LLONG_MAX,
	    &cl.iat) != 0) {
		fprintf(stderr, "ably-token: --iat: expected seconds\n");
		goto out;
	}
	cl.exp = cl.iat + ttl / 1000;
	if (o->exp != NULL && setting_number(o->exp, LLONG_MIN, LLONG_MAX,
	    &cl.exp) != 0) {
		fprintf(stderr, "ably-token: --exp: expected seconds\n");
		goto out;
	}
	if (o->client_id != NULL && o->client_id[0] == '\0') {
		fprintf(stderr, "ably-token: --client-id must not be empty\n");
		goto out;
	}
	if (o->capability != NULL && o->no_capability) {
		fprintf(stderr, "ably-token: --capability and --no-capability "
		    "exclude each other\n");
		goto out;
	}
	if (o->capability == NULL && !o->no_capability) {
		/* Always the claim (Ably's docs mark it required): the
		 * capability the endpoint would start from, unless it needs a
		 * caller's clientId to fill it. */
		const char *dflt = cfg->capability_text != NULL ?
		    cfg->capability_text : "{\"*\":[\"*\"]}";

		if (strstr(dflt, "{clientId}") != NULL) {
			fprintf(stderr, "ably-token: the configured capability "
			    "holds {clientId}: give --capability\n");
			goto out;
		}
		cap = strdup(dflt);
		if (cap == NULL)
			goto out;
	} else if (canonical_capability(o->capability, &cap) != 0) {
		goto out;
	}
	cl.capability = cap;
	cl.client_id = o->client_id;
	cl.revocation_key = o->revocation_key;
	if (jwt_sign(&cfg->key, &cl, &jwt, &e) != TOK_OK) {
		fprintf(stderr, "ably-token: %s\n", e.message);
		rc = e.kind == TOK_EINVAL ? 2 : 1;
		goto out;
	}
	fputs(jwt, stdout);
	rc = 0;
out:
	free(cap);
	free(jwt);
	return rc;
}

int
cli_main(int argc, char **argv)
{
	enum { O_CONFIG = 1, O_KEY, O_CLIENT_ID, O_CAPABILITY, O_TTL,
	    O_TIMESTAMP, O_NONCE, O_IAT, O_EXP, O_REVOCATION_KEY, O_NO_CAPABILITY,
	    O_HELP };
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, O_CONFIG },
		{ "key", required_argument, NULL, O_KEY },
		{ "client-id", required_argument, NULL, O_CLIENT_ID },
		{ "capability", required_argument, NULL, O_CAPABILITY },
		{ "ttl", required_argument, NULL, O_TTL },
		{ "timestamp", required_argument, NULL, O_TIMESTAMP },
		{ "nonce", required_argument, NULL, O_NONCE },
		{ "iat", required_argument, NULL, O_IAT },
		{ "exp", required_argument, NULL, O_EXP },
		{ "revocation-key", required_argument, NULL, O_REVOCATION_KEY },
		{ "no-capability", no_argument, NULL, O_NO_CAPABILITY },
		{ "help", no_argument, NULL, O_HELP },
		{ NULL, 0, NULL, 0 },
	};
	const char *cmd = argv[0];
	int is_jwt = strcmp(cmd, "jwt") == 0;
	struct cli_opts o = { 0 };
	struct config cfg;
	int c, rc;

	/* revoke has options of its own (cli_revoke.c). */
	if (strcmp(cmd, "revoke") == 0)
		return cli_revoke_main(argc, argv);
	/* argv[0] is the subcommand; start after it even when getopt ran
	 * before in this process. */
	optind = 1;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case O_CONFIG: o.config = optarg; break;
		case O_KEY: o.key = optarg; break;
		case O_CLIENT_ID: o.client_id = optarg; break;
		case O_CAPABILITY: o.capability = optarg; break;
		case O_TTL: o.ttl = optarg; break;
		case O_TIMESTAMP: o.timestamp = optarg; break;
		case O_NONCE: o.nonce = optarg; break;
		case O_IAT: o.iat = optarg; break;
		case O_EXP: o.exp = optarg; break;
		case O_REVOCATION_KEY: o.revocation_key = optarg; break;
		case O_NO_CAPABILITY: o.no_capability = 1; break;
		case O_HELP:
			usage(stdout, cmd);
			return 0;
		default:
			usage(stderr, cmd);
			return 2;
		}
	}
	/* Options of the other subcommand are mistakes, not ignored: a
	 * --nonce given to jwt would otherwise look as if it had an effect. */
	if (optind != argc ||
	    (is_jwt && (o.timestamp != NULL || o.nonce != NULL)) ||
	    (!is_jwt && (o.iat || o.exp || o.revocation_key ||
	    o.no_capability))) {
		fprintf(stderr, "ably-token %s: unexpected argument\n", cmd);
		usage(stderr, cmd);
		return 2;
	}
	if (load_key(&o, &cfg) != 0)
		return 2;
	rc = is_jwt ? run_jwt(&o, &cfg) : run_sign(&o, &cfg);
	config_free(&cfg);
	return rc;
}
