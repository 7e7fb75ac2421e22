/* sign_bench: the signing path alone, with the project's own modules.
 *
 *   sign_bench [--seconds S] [--json]     every case for S seconds each
 *   sign_bench --count N [--case NAME]    exactly N operations of each case
 *                                         (or one), nothing timed: for
 *                                         valgrind --tool=callgrind
 *                                         --toggle-collect=bench_loop; each
 *                                         case ends with a callgrind dump
 *                                         named after it
 *
 * Cases (the key is the emulator's test key, the parameters are the
 * demo's policy (the built-in defaults until issue 16): clientId
 * example-client-id, capability {"*":["*"]},
 * ttl 1 h):
 *   token-request  nonce + timestamp + tr_build (what `token-request` mode
 *                  signs per request)
 *   jwt            jwt_sign (what `jwt` mode signs per request)
 *   nonce          crypto_nonce alone (16 bytes from the CSPRNG, as hex)
 *   hmac           crypto_hmac_sha256 alone over a TokenRequest's text
 *   endpoint-tr    endpoint_handle for GET /request-token in
 *                  token-request mode: parse, policy, sign, answer, log
 *                  (log lines go to /dev/null, as a cost)
 *   endpoint-jwt   the same in jwt mode
 * Each case reports wall and CPU (CLOCK_PROCESS_CPUTIME_ID) time per
 * operation; the CPU figure is the one to trust on a shared machine.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <valgrind/callgrind.h>

#include "buf.h"
#include "config.h"
#include "crypto.h"
#include "endpoint.h"
#include "jwt.h"
#include "key.h"
#include "request.h"
#include "token_request.h"

#define TEST_KEY "TESTAPP.fulltest:TEST-ONLY-not-a-real-secret-0000000000"
#define CLIENT_ID "example-client-id"
#define CAPABILITY "{\"*\":[\"*\"]}"
#define TTL_MS 3600000LL

struct bench {
	struct ably_key key;
	struct config cfg_tr, cfg_jwt;
	int have_cfg;
	char sign_text[256];
	size_t sign_text_len;
	unsigned long sink;  /* keeps results alive */
};

/* A fake FastCGI request: GET /request-token with no parameters. */
static const char *
fake_param(void *ctx, const char *name)
{
	static const char *const params[][2] = {
		{ "REQUEST_METHOD", "GET" },
		{ "QUERY_STRING", "" },
		{ "REQUEST_URI", "/request-token" },
		{ "DOCUMENT_URI", "/request-token" },
		{ "REMOTE_ADDR", "127.0.0.1" },
	};
	size_t i;

	(void)ctx;
	for (i = 0; i < sizeof(params) / sizeof(params[0]); i++)
		if (strcmp(params[i][0], name) == 0)
			return params[i][1];
	return NULL;
}

static long
fake_read(void *ctx, char *buf, size_t n)
{
	(void)ctx;
	(void)buf;
	(void)n;
	return 0;
}

static double
now_s(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static long long
now_ms(void)
{
	return (long long)(now_s(CLOCK_REALTIME) * 1000.0);
}

/* One operation of each case; 0 on success. */
static int
op_token_request(struct bench *b)
{
	char nonce[CRYPTO_NONCE_LEN + 1], *json = NULL;
	struct tok_error e;
	struct token_params p = {
		.ttl = TTL_MS, .capability = CAPABILITY, .client_id = CLIENT_ID,
		.timestamp = now_ms(), .nonce = nonce,
	};

	if (crypto_nonce(nonce) != TOK_OK ||
	    tr_build(&b->key, &p, &json, &e) != TOK_OK)
		return -1;
	b->sink += strlen(json);
	free(json);
	return 0;
}

static int
op_jwt(struct bench *b)
{
	long long t = now_ms() / 1000;
	struct jwt_claims c = {
		.iat = t, .exp = t + TTL_MS / 1000, .capability = CAPABILITY,
		.client_id = CLIENT_ID,
	};
	struct tok_error e;
	char *jwt = NULL;

	if (jwt_sign(&b->key, &c, &jwt, &e) != TOK_OK)
		return -1;
	b->sink += strlen(jwt);
	free(jwt);
	return 0;
}

static int
op_nonce(struct bench *b)
{
	char nonce[CRYPTO_NONCE_LEN + 1];

	if (crypto_nonce(nonce) != TOK_OK)
		return -1;
	b->sink += (unsigned char)nonce[0];
	return 0;
}

static int
op_hmac(struct bench *b)
{
	unsigned char mac[CRYPTO_MAC_LEN];

	if (crypto_hmac_sha256(b->key.secret, b->key.secret_len,
	    b->sign_text, b->sign_text_len, mac) != TOK_OK)
		return -1;
	b->sink += mac[0];
	return 0;
}

static int
op_endpoint(struct bench *b, const struct config *cfg)
{
	struct req_source src = { fake_param, fake_read, NULL };
	struct endpoint ep;
	struct buf out;
	int ok;

	endpoint_init(&ep, cfg);
	buf_init(&out, 256 * 1024);
	endpoint_handle(&ep, &src, &out);
	ok = out.len > 12 && memcmp(out.data, "Status: 200 ", 12) == 0;
	b->sink += out.len;
	buf_free(&out);
	return ok ? 0 : -1;
}

static int
op_endpoint_tr(struct bench *b)
{
	return op_endpoint(b, &b->cfg_tr);
}

static int
op_endpoint_jwt(struct bench *b)
{
	return op_endpoint(b, &b->cfg_jwt);
}

static const struct bench_case {
	const char *name;
	int (*op)(struct bench *);
	int needs_cfg;
} cases[] = {
	{ "token-request", op_token_request, 0 },
	{ "jwt", op_jwt, 0 },
	{ "nonce", op_nonce, 0 },
	{ "hmac", op_hmac, 0 },
	{ "endpoint-tr", op_endpoint_tr, 1 },
	{ "endpoint-jwt", op_endpoint_jwt, 1 },
};

/* n operations; the only function callgrind collects in (see above). */
__attribute__((noinline)) static int
bench_loop(struct bench *b, int (*op)(struct bench *), long n)
{
	long i;

	for (i = 0; i < n; i++)
		if (op(b) != 0)
			return -1;
	return 0;
}

/* A config for mode, written to a private temp file and loaded. */
static int
load_config(struct config *c, const char *mode)
{
	char path[] = "/tmp/sign_bench.XXXXXX", err[512];
	int fd = mkstemp(path), rc;
	FILE *f;

	if (fd < 0)
		return -1;
	f = fdopen(fd, "w");
	if (f == NULL) {
		close(fd);
		unlink(path);
		return -1;
	}
	fprintf(f, "key = %s\nmode = %s\nclient_id = %s\n"
	    "capability = %s\nttl = 1h\nlog_level = info\n", TEST_KEY, mode,
	    CLIENT_ID, CAPABILITY);
	fclose(f);
	rc = config_load(c, path, err, sizeof(err));
	unlink(path);
	if (rc != 0)
		fprintf(stderr, "sign_bench: config (%s): %s\n", mode, err);
	return rc;
}

static int
setup(struct bench *b)
{
	struct tok_error e;
	struct buf text;
	struct token_params p = {
		.ttl = TTL_MS, .capability = CAPABILITY, .client_id = CLIENT_ID,
		.timestamp = 1700000000000LL,
		.nonce = "0123456789abcdef0123456789abcdef",
	};

	memset(b, 0, sizeof(*b));
	if (key_parse(TEST_KEY, &b->key, &e) != TOK_OK)
		return -1;
	buf_init(&text, sizeof(b->sign_text) - 1);
	if (tr_sign_text(b->key.name, &p, &text) != TOK_OK) {
		buf_free(&text);
		return -1;
	}
	memcpy(b->sign_text, text.data, text.len);
	b->sign_text_len = text.len;
	buf_free(&text);
	unsetenv("ABLY_API_KEY");
	unsetenv("VITE_ABLY_KEY");
	if (load_config(&b->cfg_tr, "token-request") != 0)
		return -1;
	if (load_config(&b->cfg_jwt, "jwt") != 0) {
		config_free(&b->cfg_tr);
		return -1;
	}
	b->have_cfg = 1;
	return 0;
}

/* stderr to /dev/null while the endpoint cases log; returns the saved fd. */
static int
quiet_stderr(void)
{
	int saved = dup(2), null = open("/dev/null", O_WRONLY);

	if (null >= 0) {
		dup2(null, 2);
		close(null);
	}
	return saved;
}

static void
restore_stderr(int saved)
{
	if (saved >= 0) {
		dup2(saved, 2);
		close(saved);
	}
}

/* Run c for about `seconds`, in batches, and print one result. */
static int
timed(struct bench *b, const struct bench_case *c, double seconds, int json,
      int first)
{
	double w0, c0, w1, c1;
	long n = 0, batch = 64;
	int saved = c->needs_cfg ? quiet_stderr() : -1, rc = 0;

	/* Warm caches and the allocator first. */
	if (bench_loop(b, c->op, 200) != 0)
		rc = -1;
	w0 = now_s(CLOCK_MONOTONIC);
	c0 = now_s(CLOCK_PROCESS_CPUTIME_ID);
	do {
		if (rc == 0 && bench_loop(b, c->op, batch) != 0)
			rc = -1;
		n += batch;
		w1 = now_s(CLOCK_MONOTONIC);
	} while (rc == 0 && w1 - w0 < seconds);
	c1 = now_s(CLOCK_PROCESS_CPUTIME_ID);
	restore_stderr(saved);
	if (rc != 0) {
		fprintf(stderr, "sign_bench: case %s failed\n", c->name);
		return -1;
	}
	if (json)
		printf("%s\n    \"%s\": {\"ops\": %ld, \"wall_s\": %.4f, "
		    "\"cpu_s\": %.4f, \"ops_per_s\": %.0f, "
		    "\"cpu_ops_per_s\": %.0f, \"cpu_us_per_op\": %.3f}",
		    first ? "" : ",", c->name, n, w1 - w0, c1 - c0,
		    n / (w1 - w0), n / (c1 - c0), (c1 - c0) * 1e6 / n);
	else
		printf("%-14s %10.0f ops/s (wall) %10.0f ops/s (CPU) "
		    "%8.3f us CPU/op\n", c->name, n / (w1 - w0),
		    n / (c1 - c0), (c1 - c0) * 1e6 / n);
	return 0;
}

int
main(int argc, char **argv)
{
	const char *only = NULL;
	double seconds = 1.0;
	long count = -1;
	int json = 0, i, rc = 0, first = 1;
	struct bench b;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc)
			seconds = atof(argv[++i]);
		else if (strcmp(argv[i], "--count") == 0 && i + 1 < argc)
			count = atol(argv[++i]);
		else if (strcmp(argv[i], "--case") == 0 && i + 1 < argc)
			only = argv[++i];
		else if (strcmp(argv[i], "--json") == 0)
			json = 1;
		else {
			fprintf(stderr, "usage: sign_bench [--seconds S] "
			    "[--json] | --count N --case NAME\n");
			return 2;
		}
	}
	if (setup(&b) != 0) {
		fprintf(stderr, "sign_bench: set-up failed\n");
		return 1;
	}
	if (count >= 0) {
		/* Exactly count operations of each case, nothing timed; under
		 * callgrind each case gets a dump of its own (a no-op
		 * otherwise), so one run gives instructions per case. */
		int found = 0, saved = quiet_stderr();

		/* First calls (library set-up, caches) are not per-op cost. */
		for (i = 0; i < (int)(sizeof(cases) / sizeof(cases[0])); i++)
			if (bench_loop(&b, cases[i].op, 10) != 0)
				rc = 1;
		restore_stderr(saved);
		CALLGRIND_ZERO_STATS;
		for (i = 0; i < (int)(sizeof(cases) / sizeof(cases[0])); i++) {
			if (only != NULL && strcmp(cases[i].name, only) != 0)
				continue;
			found = 1;
			saved = cases[i].needs_cfg ? quiet_stderr() : -1;
			if (bench_loop(&b, cases[i].op, count) != 0)
				rc = 1;
			restore_stderr(saved);
			CALLGRIND_DUMP_STATS_AT(cases[i].name);
		}
		if (!found) {
			fprintf(stderr, "sign_bench: no case %s\n", only);
			rc = 2;
		}
		goto out;
	}
	if (json)
		printf("{");
	for (i = 0; i < (int)(sizeof(cases) / sizeof(cases[0])); i++) {
		if (only != NULL && strcmp(cases[i].name, only) != 0)
			continue;
		if (timed(&b, &cases[i], seconds, json, first) != 0)
			rc = 1;
		first = 0;
	}
	if (json)
		printf("\n}\n");
out:
	if (b.sink == 42)
		putchar('\n');
	key_clear(&b.key);
	config_free(&b.cfg_tr);
	config_free(&b.cfg_jwt);
	return rc;
}
