/* endpoint: one request -> one answer. */
#include "endpoint.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "crypto.h"
#include "jwt.h"
#include "log.h"
#include "metrics.h"
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
	return clock_wall_ms();
}

/* Sign locally (token-request and jwt modes); *body is the caller's. */
static enum tok_err
issue(struct endpoint *ep, const struct decision *d, char **body,
      const char **ctype, struct tok_error *e)
{
	const struct config *c = ep->cfg;
	long long now = endpoint_now_ms();

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
	 * every request it served). */
	if (ep->rest != NULL) {
		struct ably_rest_stats st;
		long long now = endpoint_now_ms();

		ably_rest_get_stats(ep->rest, &st);
		n = snprintf(ably, sizeof(ably), ",\"ably\":{\"reachable\":%s,"
		    "\"last_ok_s_ago\":%lld,\"calls\":%lu,\"failures\":%lu,"
		    "\"tries\":%lu,\"in_flight\":%d,\"last_latency_ms\":%ld,"
		    "\"clock_offset_ms\":%lld}",
		    st.last_ok_ms == 0 ? "null" : st.last_ok_ms >=
		    st.last_failure_ms ? "true" : "false",
		    st.last_ok_ms ? (now - st.last_ok_ms) / 1000 : -1LL,
		    st.calls, st.failures, st.tries, st.in_flight,
		    st.last_latency_ms,
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

/* The metrics answer: the whole service's counters (metrics.h). */
static enum tok_err
metrics_answer(struct buf *out, const struct resp_cors *cors)
{
	struct buf text;
	enum tok_err rc;

	buf_init(&text, METRICS_TEXT_MAX);
	rc = metrics_render(&text);
	if (rc == TOK_OK)
		rc = resp_ok(out, METRICS_CONTENT_TYPE, text.data, text.len,
		    cors);
	buf_free(&text);
	return rc;
}

/* The paths monitoring asks all the time, answered without a credential
 * and not counted as requests in the metrics. */
enum probe { PROBE_NONE, PROBE_HEALTH, PROBE_READY, PROBE_METRICS };

static enum probe
probe_of(const struct config *c, const char *path)
{
	if (path == NULL)
		return PROBE_NONE;
	if (c->health_path != NULL && strcmp(path, c->health_path) == 0)
		return PROBE_HEALTH;
	if (c->ready_path != NULL && strcmp(path, c->ready_path) == 0)
		return PROBE_READY;
	if (c->metrics_path != NULL && strcmp(path, c->metrics_path) == 0)
		return PROBE_METRICS;
	return PROBE_NONE;
}

/* Why this worker should get no traffic now, or NULL when it may: no
 * key, shutting down, or (token mode) no Ably host has answered for
 * ready_fail_after. That last one ends ready_fail_after after the last
 * failure, so that a load balancer which stopped sending traffic (and so
 * every new call that could show Ably is back) tries again. */
static const char *
not_ready(const struct endpoint *ep, char *why, size_t len)
{
	const struct config *c = ep->cfg;

	if (!key_loaded(&c->key))
		return "no Ably key is configured";
	if (ep->stopping)
		return "stopping";
	if (ep->rest != NULL && c->ready_fail_after > 0) {
		struct ably_rest_stats st;
		long long now = endpoint_now_ms();

		ably_rest_get_stats(ep->rest, &st);
		if (st.failing_since_ms != 0 &&
		    now - st.failing_since_ms >= c->ready_fail_after &&
		    now - st.last_failure_ms < c->ready_fail_after) {
			(void)snprintf(why, len, "no Ably host has answered "
			    "for %lld s", (now - st.failing_since_ms) / 1000);
			return why;
		}
	}
	return NULL;
}

/* The readiness answer: 200 "ready", or 503 "not ready: why", a line. */
static enum tok_err
ready(const struct endpoint *ep, struct buf *out, const struct resp_cors *cors)
{
	char why[96], body[128];
	const char *no = not_ready(ep, why, sizeof(why));
	int n = no == NULL ? snprintf(body, sizeof(body), "ready\n") :
	    snprintf(body, sizeof(body), "not ready: %s\n", no);

	if (n < 0 || (size_t)n >= sizeof(body))
		return TOK_EINTERNAL;
	return resp_status(out, no == NULL ? 200 : 503, "text/plain", body,
	    (size_t)n, cors);
}

/* What a request's closing log line says, gathered as it goes (the rest
 * is read from the request and the answer at the end). */
struct request_note {
	struct log_request line;
	char client_id[IDENTITY_MAX_LEN + 1];
	long long t0;  /* monotonic, as the call to Ably's latency */
	int counted;   /* a request the metrics count (not a probe) */
};

/* A token-mode request waiting for Ably: what its answer needs later. */
struct endpoint_call {
	struct endpoint *ep;
	struct request r;         /* owned (parsed), without its source */
	struct decision d;        /* owned; the ask borrows from it */
	struct resp_cors cors;    /* allow_origin points into r */
	char rid[LOG_REQUEST_ID_MAX + 1];
	struct request_note note;
	endpoint_done_fn done;
	void *ctx;
};

static void finish_answer(struct endpoint *ep, struct request *r,
                          struct buf *out, enum tok_err rc,
                          struct tok_error *e, const char *allow,
                          const struct resp_cors *cors,
                          struct request_note *note);

/* Ably answered (or the deadline came): build the answer, hand it over. */
static void
token_answered(void *ctx, enum tok_err rc, char *details,
               const struct tok_error *err,
               const struct ably_call_report *rep)
{
	struct endpoint_call *call = ctx;
	struct tok_error e = { TOK_OK, 0, "", 0 };
	struct buf out;

	log_set_request_id(call->rid);
	call->note.line.upstream_host = rep->host ? rep->host : "-";
	call->note.line.upstream_tries = rep->tries;
	call->note.line.upstream_ms = rep->latency_ms;
	buf_init(&out, ENDPOINT_ANSWER_MAX);
	if (rc == TOK_OK) {
		rc = resp_ok(&out, "application/json", details, strlen(details),
		    &call->cors);
		if (rc != TOK_OK)
			tok_fail(&e, rc, 0, "could not build the answer");
	} else {
		e = *err;
	}
	free(details);
	if (rc == TOK_OK)
		metrics_issued(call->ep->cfg->mode);
	policy_decision_free(&call->d);
	finish_answer(call->ep, &call->r, &out, rc, &e, NULL, &call->cors,
	    &call->note);
	call->done(call->ctx, &out);
	buf_free(&out);
	free(call);
	log_set_request_id(NULL);
}

/* The token answer, or an error in e; in token mode *parked instead, once
 * the call to Ably started. */
static enum tok_err
token_answer(struct endpoint *ep, const struct request *r, struct buf *out,
             const struct resp_cors *cors, struct tok_error *e,
             struct request_note *note, const char *rid,
             struct endpoint_call **parked)
{
	const struct config *c = ep->cfg;
	struct decision d;
	const char *ctype = NULL;
	char *body = NULL;
	enum tok_err rc;

	if (!key_loaded(&c->key))
		return tok_fail(e, TOK_ECONFIG, 50000, "the token endpoint has "
		    "no Ably key configured (set ABLY_API_KEY or key = ...)");
	note->line.identity_source = rules_source_name(c->rules.source);
	rc = policy_decide(r, c, &d, e);
	note->line.rule_known = d.rule != NULL;
	note->line.rule = d.rule != NULL ? d.rule->name : NULL;
	if (rc != TOK_OK)
		return rc;
	note->line.ttl_ms = d.ttl;
	if (d.client_id != NULL) {
		(void)snprintf(note->client_id, sizeof(note->client_id), "%s",
		    d.client_id);
		note->line.client_id = note->client_id;
	}
	if (c->mode == MODE_TOKEN) {
		struct endpoint_call *call;
		struct ably_token_ask ask;

		if (ep->rest == NULL) {
			policy_decision_free(&d);
			return tok_fail(e, TOK_EINTERNAL, 0,
			    "no Ably REST client in this worker");
		}
		call = calloc(1, sizeof(*call));
		if (call == NULL) {
			policy_decision_free(&d);
			return tok_fail(e, TOK_ENOMEM, 0, "out of memory");
		}
		call->d = d;
		ask.ttl = call->d.ttl;
		ask.capability = call->d.capability;
		ask.client_id = call->d.client_id;
		ask.traceparent = r->has_trace ? r->trace.header : NULL;
		rc = ably_request_token_start(ep->rest, &c->key, &ask, rid,
		    token_answered, call, e);
		if (rc != TOK_OK) {
			policy_decision_free(&call->d);
			free(call);
			return rc;
		}
		*parked = call;
		return TOK_OK;
	}
	rc = issue(ep, &d, &body, &ctype, e);
	policy_decision_free(&d);
	if (rc != TOK_OK)
		return rc;
	rc = resp_ok(out, ctype, body, strlen(body), cors);
	free(body);
	if (rc != TOK_OK)
		return tok_fail(e, rc, 0, "could not build the answer");
	metrics_issued(c->mode);
	return TOK_OK;
}

/* The HTTP status an answer starts with ("Status: NNN"), 0 if none. */
static int
answer_status(const struct buf *out)
{
	static const char head[] = "Status: ";
	size_t n = sizeof(head) - 1;
	int status = 0;

	if (out->len >= n + 3 && memcmp(out->data, head, n) == 0)
		(void)sscanf(out->data + n, "%3d", &status);
	return status;
}

/* The end of every request: an error answer if it failed, the log line,
 * the request freed. */
static void
finish_answer(struct endpoint *ep, struct request *r, struct buf *out,
              enum tok_err rc, struct tok_error *e, const char *allow,
              const struct resp_cors *cors, struct request_note *note)
{
	struct log_request *line = &note->line;

	if (rc != TOK_OK) {
		atomic_fetch_add_explicit(&ep->counts->errors, 1,
		    memory_order_relaxed);
		buf_reset(out);
		if (resp_error(out, e, allow, cors) != TOK_OK) {
			buf_reset(out);
			if (buf_adds(out, fallback_500) != TOK_OK)
				buf_reset(out);
		}
	}
	line->method = r->method_name;
	line->path = r->path;
	line->mode = config_mode_name(ep->cfg->mode);
	line->status = rc != TOK_OK ? tok_error_status(e) : answer_status(out);
	if (rc != TOK_OK) {
		line->error_code = tok_ably_code(e);
		line->error = e->message;
	}
	line->trace_id = r->has_trace ? r->trace.trace_id : NULL;
	line->duration_ms = clock_mono_ms() - note->t0;
	if (note->counted)
		metrics_request(ep->cfg->mode, line->status, rc == TOK_OK ? 0 :
		    tok_ably_code(e), line->duration_ms);
	log_request_line(rc != TOK_OK && tok_error_status(e) >= 500 ?
	    LOGL_ERROR : LOGL_INFO, line);
	req_free(r);
}

int
endpoint_begin(struct endpoint *ep, const struct req_source *src,
               struct buf *out, endpoint_done_fn done, void *ctx)
{
	struct endpoint_call *parked = NULL;
	const struct config *c = ep->cfg;
	struct tok_error e = { TOK_OK, 0, "", 0 };
	struct request r;
	struct resp_cors cors = { NULL, c->n_cors_origins > 0 };
	const char *allow = NULL;
	char rid[LOG_REQUEST_ID_MAX + 1];
	struct request_note note;
	enum tok_err rc;
	enum probe probe;

	memset(&note, 0, sizeof(note));
	note.t0 = clock_mono_ms();
	(void)snprintf(rid, sizeof(rid), "%ld-%lu", ep->pid,
	    atomic_fetch_add_explicit(&ep->counts->requests, 1,
	    memory_order_relaxed) + 1);
	log_set_request_id(rid);
	rc = req_parse(&r, src, c->max_body, &c->req_extra, &e);
	/* The web server's id, when it passed one, ties the lines to its
	 * access log; else the process's own. */
	if (r.server_request_id[0] != '\0') {
		(void)snprintf(rid, sizeof(rid), "%s", r.server_request_id);
		log_set_request_id(rid);
	}
	if (config_origin_allowed(c, r.origin))
		cors.allow_origin = r.origin;
	probe = probe_of(c, r.path);
	note.counted = probe == PROBE_NONE;
	if (rc != TOK_OK) {
		/* answered below */
	} else if (probe != PROBE_NONE) {
		/* Never a credential, whatever the method: web servers often
		 * log and limit these paths less. */
		static const char *const names[] = { "", "health", "ready",
		    "metrics" };

		if (r.method != REQ_GET) {
			allow = "GET";
			rc = tok_fail(&e, TOK_EMETHOD, 40500,
			    "the %s path answers GET only", names[probe]);
		} else {
			rc = probe == PROBE_HEALTH ? health(ep, out, &cors) :
			    probe == PROBE_READY ? ready(ep, out, &cors) :
			    metrics_answer(out, &cors);
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
		rc = token_answer(ep, &r, out, &cors, &e, &note, rid, &parked);
	}
	if (rc == TOK_OK && parked != NULL) {
		/* Answered later, by token_answered(). */
		parked->ep = ep;
		parked->r = r;
		parked->cors = cors;
		memcpy(parked->rid, rid, sizeof(rid));
		parked->note = note;
		if (note.line.client_id != NULL)  /* points into the copy */
			parked->note.line.client_id = parked->note.client_id;
		parked->done = done;
		parked->ctx = ctx;
		log_set_request_id(NULL);
		return 0;
	}
	finish_answer(ep, &r, out, rc, &e, allow, &cors, &note);
	log_set_request_id(NULL);
	return 1;
}

/* endpoint_handle's wait for a parked answer. */
struct handle_wait {
	struct buf *out;
	int done;
};

static void
handle_done(void *ctx, const struct buf *answer)
{
	struct handle_wait *w = ctx;

	w->done = 1;
	buf_reset(w->out);
	if (buf_add(w->out, answer->data, answer->len) != TOK_OK) {
		buf_reset(w->out);
		if (buf_adds(w->out, fallback_500) != TOK_OK)
			buf_reset(w->out);
	}
}

void
endpoint_handle(struct endpoint *ep, const struct req_source *src,
                struct buf *out)
{
	struct handle_wait w = { out, 0 };

	if (endpoint_begin(ep, src, out, handle_done, &w))
		return;
	ably_rest_wait(ep->rest);
	if (!w.done) {  /* cannot happen: every call ends in its callback */
		buf_reset(out);
		if (buf_adds(out, fallback_500) != TOK_OK)
			buf_reset(out);
	}
}
