/* ably_answer: judging how one try at Ably ended, and reading Ably's
 * answers (TokenDetails, Ably's error body, a CDN's error page). */
#include "ably_answer.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <json-c/json.h>

#include "log.h"

/* Copy an Ably message into a client-safe one (printable ASCII only, as it
 * goes into a header), prefixed. */
static void
safe_message(char *dst, size_t len, const char *prefix, const char *msg)
{
	size_t o;

	(void)snprintf(dst, len, "%s", prefix);
	o = strlen(dst);
	for (; msg != NULL && *msg != '\0' && o + 1 < len; msg++)
		dst[o++] = (*msg >= 0x20 && *msg < 0x7f) ? *msg : ' ';
	dst[o] = '\0';
}

/* The Ably error in an answer body, if it has one. */
struct ably_error {
	int code;
	int status;
	char message[128];
};

static int
parse_error(const char *body, struct ably_error *ae)
{
	struct json_object *root, *err, *v;
	int found = 0;

	memset(ae, 0, sizeof(*ae));
	root = json_tokener_parse(body);
	if (root != NULL && json_object_object_get_ex(root, "error", &err) &&
	    json_object_is_type(err, json_type_object)) {
		found = 1;
		if (json_object_object_get_ex(err, "code", &v))
			ae->code = json_object_get_int(v);
		if (json_object_object_get_ex(err, "statusCode", &v))
			ae->status = json_object_get_int(v);
		if (json_object_object_get_ex(err, "message", &v) &&
		    json_object_is_type(v, json_type_string))
			(void)snprintf(ae->message, sizeof(ae->message), "%s",
			    json_object_get_string(v));
	}
	json_object_put(root);
	return found;
}

/* Copy field name of type t from src to dst; 0 if absent, -1 if bad. */
static int
copy_field(struct json_object *src, struct json_object *dst,
           const char *name, json_type t)
{
	struct json_object *v;

	if (!json_object_object_get_ex(src, name, &v) ||
	    json_object_is_type(v, json_type_null))
		return 0;
	if (!json_object_is_type(v, t))
		return -1;
	return json_object_object_add(dst, name, json_object_get(v)) == 0 ?
	    1 : -1;
}

char *
ably_answer_token_details(const char *body)
{
	struct json_object *in, *out;
	char *result = NULL;
	const char *s;

	in = json_tokener_parse(body);
	out = json_object_new_object();
	if (in == NULL || out == NULL ||
	    !json_object_is_type(in, json_type_object))
		goto done;
	if (copy_field(in, out, "token", json_type_string) != 1 ||
	    copy_field(in, out, "keyName", json_type_string) < 0 ||
	    copy_field(in, out, "issued", json_type_int) != 1 ||
	    copy_field(in, out, "expires", json_type_int) != 1 ||
	    copy_field(in, out, "capability", json_type_string) < 0 ||
	    copy_field(in, out, "clientId", json_type_string) < 0)
		goto done;
	s = json_object_to_json_string_ext(out,
	    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	if (s != NULL)
		result = strdup(s);
done:
	json_object_put(in);
	json_object_put(out);
	return result;
}

enum ably_answer_verdict
ably_answer_judge(const char *host, const struct upstream_result *res,
                  const char *body, const char *curl_err, int from_cdn, long long took,
                  char **details, struct tok_error *e)
{
	struct ably_error ae;
	CURLcode cc = res->cc;
	long status = res->status;
	int has_error;

	if (cc != CURLE_OK) {
		log_warn("ably %s: %s (%lld ms)", host, curl_err[0] ?
		    curl_err : curl_easy_strerror(cc), took);
		return cc == CURLE_OPERATION_TIMEDOUT ? ABLY_ANSWER_TIMEOUT :
		    ABLY_ANSWER_RETRY;
	}
	if (status >= 200 && status < 300) {
		*details = ably_answer_token_details(body);
		if (*details != NULL)
			return ABLY_ANSWER_OK;
		log_warn("ably %s: HTTP %ld but the body is not TokenDetails "
		    "(%lld ms)", host, status, took);
		return ABLY_ANSWER_RETRY;
	}
	/* An error page from the CDN in front of Ably, or any error that is
	 * not Ably's own JSON, says nothing about the request: the host
	 * failed, and another may work (RSC15l4). */
	has_error = parse_error(body, &ae);
	if (status >= 400 && (from_cdn || !has_error)) {
		log_warn("ably %s: HTTP %ld %s (%lld ms)", host, status,
		    from_cdn ? "from the CDN (Server: CloudFront), not Ably" :
		    "without an Ably error body", took);
		return ABLY_ANSWER_RETRY;
	}
	/* As ably-js: the status in the error body, if any, decides. */
	if (ae.status == 0)
		ae.status = (int)status;
	log_warn("ably %s: HTTP %ld, error %d: %s (%lld ms)", host, status,
	    ae.code, ae.message, took);
	if (ae.status >= 500 && ae.status <= 504)
		return ABLY_ANSWER_RETRY;
	if (ae.status < 400 || ae.status > 499)
		ae.status = 502;  /* nothing sensible to pass on */
	/* What the browser does next follows the status (ably-js RSA4d):
	 * after a 403 from its authUrl it stops, after any other error it
	 * tries again later. A capability the key lacks (40160) will not be
	 * granted by trying again: 403, as the endpoint's own 40160 is. */
	if (ae.code == 40160)
		ae.status = 403;
	if (ae.code == 40104) {
		tok_fail(e, TOK_EUPSTREAM, 40104, "Ably refused the "
		    "TokenRequest timestamp: this server's clock is off; fix "
		    "its time sync or set query_time = on");
	} else {
		char msg[sizeof(e->message)];

		safe_message(msg, sizeof(msg), "Ably refused the token request: ",
		    ae.message);
		tok_fail(e, TOK_EUPSTREAM, ae.code ? ae.code : 40000, "%s",
		    msg);
	}
	e->status = ae.status;
	return ABLY_ANSWER_FINAL;
}

int
ably_answer_kept_connection_died(const struct upstream_result *res)
{
	CURLcode cc = res->cc;

	if (cc != CURLE_HTTP2 && cc != CURLE_HTTP2_STREAM &&
	    cc != CURLE_SEND_ERROR && cc != CURLE_RECV_ERROR &&
	    cc != CURLE_GOT_NOTHING)
		return 0;
	return res->connects == 0 && res->header_bytes == 0;
}
