/* endpoint: one request -> one answer. */
#include "endpoint.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "crypto.h"
#include "jwt.h"
#include "log.h"
#include "policy.h"
#include "response.h"
#include "token_request.h"

/* A last-resort answer when memory for a real one is gone. */
static const char fallback_500[] =
    "Status: 500 Internal Server Error\r\n"
    "Content-Type: application/json\r\nCache-Control: no-store\r\n"
    "X-Ably-ErrorCode: 50000\r\nX-Ably-ErrorMessage: internal error\r\n\r\n"
    "{\"error\":{\"message\":\"internal error\",\"code\":50000,"
    "\"statusCode\":500,\"href\":\"https://help.ably.io/error/50000\"}}";

void
endpoint_init(struct endpoint *ep, const struct config *cfg)
{
	memset(ep, 0, sizeof(*ep));
	ep->cfg = cfg;
	ep->started = time(NULL);
	ep->pid = (long)getpid();
	ep->counts = &ep->own;
	log_set_pid(ep->pid);
}

long long
endpoint_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Sign per the mode; *body is the caller's to free. */
static enum tok_err
issue(struct endpoint *ep, const struct decision *d, char **body,
      const char **ctype, struct tok_error *e)
{
	const struct config *c = ep->cfg;
	long long now = endpoint_now_ms();

	if (c->mode == MODE_TOKEN) {
		struct ably_token_ask ask = {
			.ttl = d->ttl,
			.capability = d->capability,
			.client_id = d->client_id,
		};

		if (ep->rest == NULL)
			return tok_fail(e, TOK_EINTERNAL, 0,
			    "no Ably REST client in this worker");
		*ctype = "application/json";
		return ably_request_token(ep->rest, &c->key, &ask, body, e);
	}
	if (c->mode == MODE_JWT) {
		struct jwt_claims cl = {
			.iat = now / 1000,
			.exp = now / 1000 + d->ttl / 1000,
			.capability = d->capability,
			.client_id = d->client_id,
			.revocation_key = d->revocation_key,
			.extra = d->extra,
			.n_extra = d->n_extra,
		};

		*ctype = "text/plain";
		return jwt_sign(&c->key, &cl, body, e);
	} else {
		char nonce[CRYPTO_NONCE_LEN + 1];
		struct token_params p = {
			.ttl = d->ttl,
			.capability = d->capability,
			.client_id = d->client_id,
			.timestamp = now,
			.nonce = nonce,
		};

		if (crypto_nonce(nonce) != TOK_OK)
			return tok_fail(e, TOK_EINTERNAL, 0,
			    "no random bytes for a nonce");
		*ctype = "application/json";
		return tr_build(&c->key, &p, body, e);
	}
}

static enum tok_err
health(const struct endpoint *ep, struct buf *out,
       const struct resp_cors *cors)
{
	char body[512], ably[256] = "";
	int n;

	/* In token mode, say whether Ably answered lately (this worker,
	 * all its threads). */
	if (ep->rest != NULL) {
		struct ably_rest_stats st;
		long long now = endpoint_now_ms();

		ably_rest_get_stats(ep->rest, &st);
		n = snprintf(ably, sizeof(ably), ",\"ably\":{\"reachable\":%s,"
		    "\"last_ok_s_ago\":%lld,\"calls\":%lu,\"failures\":%lu,"
		    "\"tries\":%lu,\"last_latency_ms\":%ld,"
		    "\"clock_offset_ms\":%lld}",
		    st.last_ok_ms == 0 ? "null" : st.last_ok_ms >=
		    st.last_failure_ms ? "true" : "false",
		    st.last_ok_ms ? (now - st.last_ok_ms) / 1000 : -1LL,
		    st.calls, st.failures, st.tries, st.last_latency_ms,
		    st.clock_known ? st.clock_offset_ms : 0LL);
		if (n < 0 || (size_t)n >= sizeof(ably))
			return TOK_EINTERNAL;
	}
	n = snprintf(body, sizeof(body), "{\"status\":\"%s\",\"mode\":\"%s\","
	    "\"key\":\"%s\",\"pid\":%ld,\"uptime_s\":%lld,\"requests\":%lu,"
	    "\"errors\":%lu%s}",
	    key_loaded(&ep->cfg->key) ? "ok" : "misconfigured",
	    config_mode_name(ep->cfg->mode),
	    key_loaded(&ep->cfg->key) ? "loaded" : "missing", ep->pid,
	    (long long)(time(NULL) - ep->started),
	    atomic_load_explicit(&ep->counts->requests, memory_order_relaxed),
	    atomic_load_explicit(&ep->counts->errors, memory_order_relaxed),
	    ably);
	if (n < 0 || (size_t)n >= sizeof(body))
		return TOK_EINTERNAL;
	return resp_ok(out, "application/json", body, (size_t)n, cors);
}

/* The token answer, or an error in e. */
static enum tok_err
serve(struct endpoint *ep, const struct request *r, struct buf *out,
      const struct resp_cors *cors, struct tok_error *e, char *who,
      size_t wholen)
{
	const struct config *c = ep->cfg;
	struct decision d;
	const char *ctype = NULL;
	char *body = NULL;
	enum tok_err rc;

	if (!key_loaded(&c->key))
		return tok_fail(e, TOK_ECONFIG, 50000, "the token endpoint has "
		    "no Ably key configured (set ABLY_API_KEY or key = ...)");
	rc = policy_decide(c, r, &d, e);
	if (rc != TOK_OK)
		return rc;
	log_escape(who, wholen, d.client_id ? d.client_id : "-",
	    d.client_id ? strlen(d.client_id) : 1);
	rc = issue(ep, &d, &body, &ctype, e);
	decision_free(&d);
	if (rc != TOK_OK)
		return rc;
	rc = resp_ok(out, ctype, body, strlen(body), cors);
	free(body);
	if (rc != TOK_OK)
		return tok_fail(e, rc, 0, "could not build the answer");
	return TOK_OK;
}

void
endpoint_handle(struct endpoint *ep, const struct req_source *src,
                struct buf *out)
{
	const struct config *c = ep->cfg;
	struct tok_error e = { TOK_OK, 0, "", 0 };
	struct request r;
	struct resp_cors cors = { NULL, c->n_cors_origins > 0 };
	const char *allow = NULL;
	char rid[32], path[96], who[96] = "-";
	long long t0 = endpoint_now_ms();
	enum tok_err rc;

	(void)snprintf(rid, sizeof(rid), "%ld-%lu", ep->pid,
	    atomic_fetch_add_explicit(&ep->counts->requests, 1,
	    memory_order_relaxed) + 1);
	log_set_request_id(rid);
	rc = req_parse(&r, src, c->max_body, &e);
	if (config_origin_allowed(c, r.origin))
		cors.allow_origin = r.origin;
	if (rc != TOK_OK) {
		/* answered below */
	} else if (c->health_path != NULL && r.path != NULL &&
	    strcmp(r.path, c->health_path) == 0) {
		/* The health path never hands out a credential, whatever
		 * the method: web servers often log and limit it less. */
		if (r.method != REQ_GET) {
			allow = "GET";
			rc = tok_fail(&e, TOK_EMETHOD, 40500,
			    "the health path answers GET only");
		} else {
			rc = health(ep, out, &cors);
			if (rc != TOK_OK)
				tok_fail(&e, rc, 0, "could not build the answer");
		}
	} else if (r.method == REQ_OPTIONS) {
		if (cors.allow_origin != NULL)
			rc = resp_preflight(out, &cors, r.preflight_headers);
		else
			rc = tok_fail(&e, TOK_EDENIED, 40300, "cross-origin "
			    "requests are not allowed from this origin");
	} else if (r.method == REQ_OTHER) {
		allow = c->n_cors_origins ? "GET, POST, OPTIONS" : "GET, POST";
		rc = tok_fail(&e, TOK_EMETHOD, 40500,
		    "only GET and POST are supported");
	} else {
		rc = serve(ep, &r, out, &cors, &e, who, sizeof(who));
	}
	if (rc != TOK_OK) {
		atomic_fetch_add_explicit(&ep->counts->errors, 1,
		    memory_order_relaxed);
		buf_reset(out);
		if (resp_error(out, &e, allow, &cors) != TOK_OK) {
			buf_reset(out);
			if (buf_adds(out, fallback_500) != TOK_OK)
				buf_reset(out);
		}
	}
	log_escape(path, sizeof(path), r.path ? r.path : "?",
	    r.path ? strlen(r.path) : 1);
	if (rc != TOK_OK)
		(tok_error_status(&e) >= 500 ? log_err : log_info)(
		    "%s %s -> %d code=%d (%s) %lldms", r.method_name, path,
		    tok_error_status(&e), tok_ably_code(&e), e.message,
		    endpoint_now_ms() - t0);
	else
		log_info("%s %s -> ok clientId=%s %lldms", r.method_name, path,
		    who, endpoint_now_ms() - t0);
	req_free(&r);
	log_set_request_id(NULL);
}
