/* revoke: Ably's token revocation call (POST /keys/{keyName}/revokeTokens),
 * its body, its tries over Ably's hosts, and reading its batch answer. */
#include "revoke.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>
#include <json-c/json.h>

#include "ably_handles.h"
#include "ably_hosts.h"
#include "buf.h"
#include "clock.h"
#include "log.h"

#define ANSWER_MAX (1024 * 1024)  /* 100 targets' results fit many times */
#define MIN_TRY_MS 50             /* no try starts with less time left */

char *
revoke_body(const struct revoke_ask *ask)
{
	struct json_object *root = json_object_new_object();
	struct json_object *targets = json_object_new_array();
	char *out = NULL;
	const char *s;
	size_t i;

	if (root == NULL || targets == NULL) {
		json_object_put(targets);
		goto out;
	}
	if (json_object_object_add(root, "targets", targets) != 0) {
		json_object_put(targets);
		goto out;
	}
	for (i = 0; i < ask->n_targets; i++) {
		struct json_object *t = json_object_new_string(ask->targets[i]);

		if (t == NULL || json_object_array_add(targets, t) != 0) {
			json_object_put(t);
			goto out;
		}
	}
	/* Left out unless given: Ably then takes its own now and false. */
	if (ask->issued_before != 0 &&
	    json_object_object_add(root, "issuedBefore",
	    json_object_new_int64(ask->issued_before)) != 0)
		goto out;
	if (ask->allow_reauth_margin &&
	    json_object_object_add(root, "allowReauthMargin",
	    json_object_new_boolean(1)) != 0)
		goto out;
	s = json_object_to_json_string_ext(root,
	    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	if (s != NULL)
		out = strdup(s);
out:
	json_object_put(root);
	return out;
}

static int
is_number(struct json_object *v)
{
	return json_object_is_type(v, json_type_int) ||
	    json_object_is_type(v, json_type_double);
}

/* A string member of o, copied ("" if absent or not a string); NULL only
 * when out of memory. */
static char *
string_member(struct json_object *o, const char *name)
{
	struct json_object *v;

	if (json_object_object_get_ex(o, name, &v) &&
	    json_object_is_type(v, json_type_string))
		return strdup(json_object_get_string(v));
	return strdup("");
}

/* Ably's error object {code, statusCode, message} into code/status/msg. */
static int
read_error(struct json_object *err, int *code, int *status, char **msg)
{
	struct json_object *v;

	*code = 0;
	*status = 0;
	if (json_object_object_get_ex(err, "code", &v) && is_number(v))
		*code = json_object_get_int(v);
	if (json_object_object_get_ex(err, "statusCode", &v) && is_number(v))
		*status = json_object_get_int(v);
	*msg = string_member(err, "message");
	return *msg != NULL ? 0 : -1;
}

/* One entry of the results: {target, issuedBefore, appliesAt} or
 * {target, error}; -1 if it is neither (not Ably's answer). */
static int
read_result(struct json_object *o, struct revoke_result *r)
{
	struct json_object *err, *ib, *at;

	memset(r, 0, sizeof(*r));
	if (!json_object_is_type(o, json_type_object))
		return -1;
	r->target = string_member(o, "target");
	if (r->target == NULL)
		return -1;
	if (json_object_object_get_ex(o, "error", &err) &&
	    json_object_is_type(err, json_type_object))
		return read_error(err, &r->code, &r->status, &r->message);
	if (!json_object_object_get_ex(o, "issuedBefore", &ib) ||
	    !is_number(ib) || !json_object_object_get_ex(o, "appliesAt", &at) ||
	    !is_number(at))
		return -1;
	r->ok = 1;
	r->issued_before = json_object_get_int64(ib);
	r->applies_at = json_object_get_int64(at);
	return 0;
}

/* The per-target results in list (a JSON array) into *a. */
static int
read_results(struct json_object *list, struct revoke_answer *a)
{
	size_t i, n;

	if (!json_object_is_type(list, json_type_array))
		return -1;
	n = json_object_array_length(list);
	if (n == 0)
		return -1;  /* we always ask for at least one target */
	a->results = calloc(n, sizeof(*a->results));
	if (a->results == NULL)
		return -1;
	for (i = 0; i < n; i++) {
		a->n = i + 1;  /* what read_result took is freed on failure */
		if (read_result(json_object_array_get_idx(list, i),
		    &a->results[i]) != 0)
			return -1;
		if (!a->results[i].ok)
			a->failures++;
	}
	return 0;
}

void
revoke_answer_free(struct revoke_answer *a)
{
	size_t i;

	for (i = 0; i < a->n; i++) {
		free(a->results[i].target);
		free(a->results[i].message);
	}
	free(a->results);
	memset(a, 0, sizeof(*a));
}

enum revoke_verdict
revoke_judge(long status, const char *body, int from_cdn,
             struct revoke_answer *a, struct tok_error *e)
{
	struct json_object *root, *list, *err;
	enum revoke_verdict v = REVOKE_RETRY;
	char *msg = NULL;
	int code, estatus;

	memset(a, 0, sizeof(*a));
	root = json_tokener_parse(body);
	if (from_cdn || root == NULL)
		goto out;  /* a CDN's or proxy's page says nothing (RSC15l4) */
	if (status >= 200 && status < 300) {
		/* Ably's batch result (X-Ably-Version 3 and later:
		 * {successCount, failureCount, results}), or the older bare
		 * array of results. */
		if (json_object_is_type(root, json_type_object) &&
		    json_object_object_get_ex(root, "results", &list))
			v = read_results(list, a) == 0 ? REVOKE_DONE : v;
		else
			v = read_results(root, a) == 0 ? REVOKE_DONE : v;
		goto out;
	}
	if (!json_object_is_type(root, json_type_object) ||
	    !json_object_object_get_ex(root, "error", &err) ||
	    !json_object_is_type(err, json_type_object))
		goto out;  /* an error without Ably's body: the host failed */
	/* A partly failed batch in the older form: 400, error 40020 and the
	 * per-target results in batchResponse. */
	if (json_object_object_get_ex(root, "batchResponse", &list)) {
		v = read_results(list, a) == 0 ? REVOKE_DONE : v;
		goto out;
	}
	if (read_error(err, &code, &estatus, &msg) != 0)
		goto out;
	if (estatus == 0)
		estatus = (int)status;  /* as ably-js: the body's status first */
	if (estatus >= 500 && estatus <= 504)
		goto out;  /* Ably's own trouble: another host may do */
	tok_fail(e, TOK_EUPSTREAM, code, "%s", msg);
	e->status = estatus;
	v = REVOKE_REFUSED;
out:
	if (v != REVOKE_DONE)
		revoke_answer_free(a);
	free(msg);
	json_object_put(root);
	return v;
}

int
revoke_host_is_loopback(const char *host)
{
	char name[256];
	size_t n;
	const char *end;

	if (host[0] == '[') {  /* [v6] or [v6]:port */
		end = strchr(host, ']');
		if (end == NULL)
			return 0;
		n = (size_t)(end - host - 1);
		host++;
	} else {
		end = strchr(host, ':');
		n = end != NULL ? (size_t)(end - host) : strlen(host);
		if (end != NULL && strchr(end + 1, ':') != NULL)
			n = strlen(host);  /* a bare IPv6 address */
	}
	if (n == 0 || n >= sizeof(name))
		return 0;
	memcpy(name, host, n);
	name[n] = '\0';
	if (strcasecmp(name, "localhost") == 0 || strcmp(name, "::1") == 0)
		return 1;
	/* 127.0.0.0/8, written as four decimal parts. */
	{
		unsigned a, b, c, d;
		char tail;

		if (sscanf(name, "%3u.%3u.%3u.%3u%c", &a, &b, &c, &d,
		    &tail) == 4 && a == 127 && b < 256 && c < 256 && d < 256)
			return 1;
	}
	return 0;
}

/* With tls = off the Basic credentials cross the network as they are:
 * allowed only to this machine (the emulator in tests). */
static enum tok_err
check_plain_http(const struct config *cfg, struct tok_error *e)
{
	size_t i;

	if (cfg->tls)
		return TOK_OK;
	if (!revoke_host_is_loopback(cfg->rest_host))
		goto refuse;
	for (i = 0; i < cfg->n_fallback_hosts; i++)
		if (!revoke_host_is_loopback(cfg->fallback_hosts[i]))
			goto refuse;
	return TOK_OK;
refuse:
	return tok_fail(e, TOK_EINVAL, 40103, "tls = off would send the key "
	    "unencrypted (revocation needs the key itself, by Basic auth): "
	    "allowed only to a rest_host and fallback_hosts on this machine");
}

/* One try at host: *status, the answer in body; libcurl's code back. */
static CURLcode
try_host(struct ably_handles *pool, CURL *h, const struct config *cfg,
         const char *host, const char *path, const char *post,
         long budget_ms, struct buf *body, long *status, int *from_cdn)
{
	char url[1024], err[CURL_ERROR_SIZE];
	long long started = clock_mono_ms();
	CURLcode cc;

	*status = 0;
	if (ably_hosts_url(cfg, host, path, url, sizeof(url)) != 0) {
		log_warn("ably %s: the URL is too long", host);
		return CURLE_URL_MALFORMAT;
	}
	ably_handles_prepare(pool, h, url, post, NULL, budget_ms, body, err,
	    from_cdn);
	cc = curl_easy_perform(h);
	if (cc == CURLE_OK)
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);
	else
		log_warn("ably %s: %s (%lld ms)", host, err[0] ? err :
		    curl_easy_strerror(cc), clock_mono_ms() - started);
	return cc;
}

enum tok_err
revoke_tokens(const struct config *cfg, const struct revoke_ask *ask,
              struct revoke_answer *a, char **raw, struct tok_error *e)
{
	struct ably_hosts hosts;
	struct ably_handles *pool = NULL;
	struct buf body;
	size_t order[ABLY_HOSTS_MAX], n, i;
	long long deadline = clock_mono_ms() + cfg->upstream_timeout_ms;
	char path[512], *post = NULL, *escaped = NULL;
	enum tok_err rc;
	int timed_out = 0;
	CURL *h = NULL;

	memset(a, 0, sizeof(*a));
	memset(&hosts, 0, sizeof(hosts));
	buf_init(&body, ANSWER_MAX);
	if (raw != NULL)
		*raw = NULL;
	rc = check_plain_http(cfg, e);
	if (rc != TOK_OK)
		goto out;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		rc = tok_fail(e, TOK_EINTERNAL, 50000, "libcurl did not start");
		goto out;
	}
	rc = ably_handles_new(cfg, &pool, e);
	if (rc != TOK_OK)
		goto out;
	rc = tok_fail(e, TOK_ENOMEM, 50000, "out of memory");
	h = ably_handles_get(pool);
	post = revoke_body(ask);
	if (ably_hosts_init(&hosts, cfg) != TOK_OK || h == NULL ||
	    post == NULL)
		goto out;
	/* ably-js puts the key name in the path as it is; escaped here, as
	 * for requestToken, so that no key name can change the path. */
	escaped = curl_easy_escape(h, cfg->key.name, 0);
	if (escaped == NULL)
		goto out;
	(void)snprintf(path, sizeof(path), "/keys/%.400s/revokeTokens",
	    escaped);
	/* Basic auth with the key, as Ably requires for revocation. libcurl
	 * keeps its own copy; the handle is cleaned up before we return. */
	if (curl_easy_setopt(h, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC) !=
	    CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_USERNAME, cfg->key.name) != CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_PASSWORD, cfg->key.secret) != CURLE_OK)
		goto out;
	rc = tok_fail(e, TOK_EUPSTREAM, 50002, "no Ably host answered");
	n = ably_hosts_plan(&hosts, order);
	for (i = 0; i < n; i++) {
		const char *host = hosts.name[order[i]];
		long left = (long)(deadline - clock_mono_ms()), status;
		enum revoke_verdict v;
		int from_cdn;
		CURLcode cc;

		if (left < MIN_TRY_MS) {
			timed_out = 1;
			break;
		}
		cc = try_host(pool, h, cfg, host, path, post, left, &body,
		    &status, &from_cdn);
		if (cc != CURLE_OK) {
			timed_out = cc == CURLE_OPERATION_TIMEDOUT;
			continue;
		}
		timed_out = 0;
		v = revoke_judge(status, body.data ? body.data : "", from_cdn,
		    a, e);
		if (v == REVOKE_RETRY) {
			log_warn("ably %s: HTTP %ld, not an answer from Ably "
			    "to act on; trying the next host", host, status);
			continue;
		}
		if (raw != NULL && body.data != NULL)
			*raw = strdup(body.data);
		rc = v == REVOKE_DONE ? TOK_OK : TOK_EUPSTREAM;
		goto out;
	}
	if (timed_out)
		rc = tok_fail(e, TOK_ETIMEOUT, 50003, "Ably did not answer "
		    "within upstream_timeout_ms (%ld ms)",
		    cfg->upstream_timeout_ms);
out:
	if (h != NULL) {
		curl_easy_setopt(h, CURLOPT_USERNAME, NULL);
		curl_easy_setopt(h, CURLOPT_PASSWORD, NULL);
		curl_free(escaped);
		curl_easy_cleanup(h);  /* never back to the pool: it held the key */
	}
	ably_handles_free(pool);
	ably_hosts_free(&hosts);
	buf_free(&body);
	free(post);
	return rc;
}
