/* request: CGI parameters + body -> struct request. */
#include "request.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <json-c/json.h>

#include "crypto.h"
#include "json_strict.h"
#include "setting.h"

/* TokenParams are flat; a little nesting is allowed for the capability
 * object inside a JSON body, nothing deeper. */
#define REQ_JSON_DEPTH 5

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

long
req_form_decode(const char *s, size_t n, char *out)
{
	size_t i, o = 0;

	for (i = 0; i < n; i++) {
		char c = s[i];

		if (c == '+') {
			c = ' ';
		} else if (c == '%') {
			int hi, lo;

			if (n - i < 3)
				return -1;
			hi = hexval(s[i + 1]);
			lo = hexval(s[i + 2]);
			if (hi < 0 || lo < 0)
				return -1;
			c = (char)(hi << 4 | lo);
			i += 2;
		}
		if (c == '\0')
			return -1;
		out[o++] = c;
	}
	out[o] = '\0';
	return (long)o;
}

static char *
dup_param(const struct req_source *src, const char *name)
{
	const char *v = src->param(src->ctx, name);

	return v ? strdup(v) : NULL;
}

/* Store text into slot; `dup_is_error` refuses a second value from the
 * same source (parameter pollution), a later source simply wins. */
static enum tok_err
set_value(struct req_value *slot, const char *text, size_t len,
          int *seen, struct tok_error *e)
{
	char *copy;

	if (*seen)
		return tok_fail(e, TOK_EINVAL, 40000,
		    "a parameter (clientId, capability or ttl) is given twice");
	*seen = 1;
	copy = strndup(text, len);
	if (copy == NULL)
		return tok_fail(e, TOK_ENOMEM, 0, "out of memory");
	free(slot->text);
	slot->text = copy;
	slot->present = 1;
	return TOK_OK;
}

/* Which TokenParam a decoded name is, or NULL. */
static struct req_value *
param_slot(struct request *r, const char *name, int **seen, int seen3[3])
{
	if (strcmp(name, "clientId") == 0) {
		*seen = &seen3[0];
		return &r->client_id;
	}
	if (strcmp(name, "capability") == 0) {
		*seen = &seen3[1];
		return &r->capability;
	}
	if (strcmp(name, "ttl") == 0) {
		*seen = &seen3[2];
		return &r->ttl;
	}
	return NULL;
}

/* Parse a=b&c=d; unknown names are ignored (browsers add rnd=...). */
static enum tok_err
parse_form(struct request *r, const char *s, size_t n, struct tok_error *e)
{
	int seen[3] = { 0, 0, 0 };
	enum tok_err rc = TOK_OK;
	char *scratch;
	size_t start = 0;

	scratch = malloc(n + 1);
	if (scratch == NULL)
		return tok_fail(e, TOK_ENOMEM, 0, "out of memory");
	while (start <= n && rc == TOK_OK) {
		const char *pair = s + start;
		const char *amp = memchr(pair, '&', n - start);
		size_t plen = amp ? (size_t)(amp - pair) : n - start;
		const char *eq = memchr(pair, '=', plen);
		size_t nlen = eq ? (size_t)(eq - pair) : plen;
		struct req_value *slot;
		int *seenp = NULL;
		long dn, dv;

		start += plen + 1;
		if (plen == 0)
			continue;
		dn = req_form_decode(pair, nlen, scratch);
		if (dn < 0) {
			rc = tok_fail(e, TOK_EINVAL, 40000,
			    "malformed %%-encoding in the parameters");
			break;
		}
		slot = param_slot(r, scratch, &seenp, seen);
		if (slot == NULL)
			continue;
		dv = eq ? req_form_decode(eq + 1, plen - nlen - 1, scratch) : 0;
		if (dv < 0) {
			rc = tok_fail(e, TOK_EINVAL, 40000,
			    "malformed %%-encoding in the parameters");
			break;
		}
		if (!eq)
			scratch[0] = '\0';
		rc = set_value(slot, scratch, (size_t)dv, seenp, e);
	}
	free(scratch);
	return rc;
}

/* The text of a JSON member for a TokenParam; objects (only a capability
 * may be one) are serialised the way they came, canonicalisation is
 * capability's job. */
static enum tok_err
json_member(struct req_value *slot, struct json_object *v, int allow_object,
            int *seen, struct tok_error *e)
{
	const char *s;
	size_t len;

	switch (json_object_get_type(v)) {
	case json_type_null:
		return TOK_OK;  /* null is "not given", as in ably-js */
	case json_type_string:
		s = json_object_get_string(v);
		len = (size_t)json_object_get_string_len(v);
		if (strlen(s) != len)
			return tok_fail(e, TOK_EINVAL, 40000,
			    "parameters must not contain NUL characters");
		return set_value(slot, s, len, seen, e);
	case json_type_object:
		if (!allow_object)
			return tok_fail(e, TOK_EINVAL, 40000,
			    "only capability may be a JSON object");
		/* fall through */
	case json_type_int:
	case json_type_double:
		s = json_object_to_json_string_ext(v,
		    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
		if (s == NULL)
			return tok_fail(e, TOK_ENOMEM, 0, "out of memory");
		return set_value(slot, s, strlen(s), seen, e);
	default:
		return tok_fail(e, TOK_EINVAL, 40000,
		    "clientId, capability and ttl must be strings, numbers or "
		    "(capability) an object");
	}
}

static enum tok_err
parse_json(struct request *r, const char *s, size_t n, struct tok_error *e)
{
	struct json_object *obj = NULL;
	enum tok_err rc = TOK_OK;
	int seen[3] = { 0, 0, 0 };

	switch (json_strict_parse(s, n, REQ_JSON_DEPTH, &obj)) {
	case JSON_STRICT_OK:
		break;
	case JSON_STRICT_NUL:
		return tok_fail(e, TOK_EINVAL, 40000,
		    "parameters must not contain NUL characters");
	case JSON_STRICT_LOOSE:
		return tok_fail(e, TOK_EINVAL, 40000, "the request body is not "
		    "strict JSON (a name given twice, a single-quoted string or "
		    "a lone surrogate)");
	case JSON_STRICT_NOMEM:
		return tok_fail(e, TOK_ENOMEM, 0, "out of memory");
	default:
		return tok_fail(e, TOK_EINVAL, 40000,
		    "the request body is not a JSON object");
	}
	if (!json_object_is_type(obj, json_type_object)) {
		rc = tok_fail(e, TOK_EINVAL, 40000,
		    "the request body is not a JSON object");
		goto out;
	}
	json_object_object_foreach(obj, name, v) {
		int *seenp = NULL;
		struct req_value *slot = param_slot(r, name, &seenp, seen);

		if (slot == NULL)
			continue;
		rc = json_member(slot, v, slot == &r->capability, seenp, e);
		if (rc != TOK_OK)
			break;
	}
out:
	json_object_put(obj);
	return rc;
}

/* Media type without parameters, compared case-insensitively. */
static int
media_is(const char *ct, const char *type)
{
	size_t n = strlen(type);

	if (strncasecmp(ct, type, n) != 0)
		return 0;
	return ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ';
}

static enum tok_err
read_body(struct request *r, const struct req_source *src, size_t max_body,
          struct tok_error *e)
{
	const char *cl = src->param(src->ctx, "CONTENT_LENGTH");
	const char *ct = src->param(src->ctx, "CONTENT_TYPE");
	unsigned long long want = 0;
	enum tok_err rc;
	size_t got = 0;
	char *body;

	/* Any number that fits is read, so a huge one is "too large" (413),
	 * and only what is not a number at all is 400. */
	if (cl != NULL && cl[0] != '\0' &&
	    setting_unumber(cl, ULLONG_MAX, &want) != 0)
		return tok_fail(e, TOK_EINVAL, 40000, "invalid Content-Length");
	if (want > max_body)
		return tok_fail(e, TOK_ETOOBIG, 40000,
		    "request body is larger than %zu bytes", max_body);
	if (want == 0)
		return TOK_OK;  /* an empty POST simply has no params */
	if (ct == NULL || !(media_is(ct, "application/x-www-form-urlencoded")
	    || media_is(ct, "application/json")))
		return tok_fail(e, TOK_EMEDIA, 40000, "POST bodies must be "
		    "application/x-www-form-urlencoded or application/json");
	body = malloc((size_t)want + 1);
	if (body == NULL)
		return tok_fail(e, TOK_ENOMEM, 0, "out of memory");
	/* Read exactly Content-Length bytes; fewer means a truncated body. */
	while (got < want) {
		long n = src->read(src->ctx, body + got, (size_t)want - got);

		if (n <= 0)
			break;
		got += (size_t)n;
	}
	body[got] = '\0';
	if (got < want)
		rc = tok_fail(e, TOK_EINVAL, 40000,
		    "request body is shorter than its Content-Length");
	else if (media_is(ct, "application/json"))
		rc = parse_json(r, body, got, e);
	else
		rc = parse_form(r, body, got, e);
	free(body);
	return rc;
}

static enum tok_err
parse_path(struct request *r, const struct req_source *src)
{
	const char *uri = src->param(src->ctx, "DOCUMENT_URI");
	size_t len;

	if (uri == NULL) {
		uri = src->param(src->ctx, "REQUEST_URI");
		if (uri == NULL)
			uri = src->param(src->ctx, "SCRIPT_NAME");
	}
	if (uri == NULL)
		uri = "/";
	len = strcspn(uri, "?");
	r->path = strndup(uri, len);
	return r->path ? TOK_OK : TOK_ENOMEM;
}

/* Replace *slot with a copy of parameter name (NULL name or absent: NULL).
 * -1 when out of memory. */
static int
copy_param(char **slot, const struct req_source *src, const char *name)
{
	const char *v = name ? src->param(src->ctx, name) : NULL;
	char *copy = NULL;

	if (v != NULL) {
		copy = strdup(v);
		if (copy == NULL)
			return -1;
	}
	free(*slot);
	*slot = copy;
	return 0;
}

static void
wipe_free(char *s)
{
	if (s != NULL) {
		crypto_wipe(s, strlen(s));
		free(s);
	}
}

enum tok_err
req_copy_extra(struct request *r, const struct req_source *src,
               const struct req_extra *extra, struct tok_error *e)
{
	static const struct req_extra none = { NULL, NULL, NULL };
	char *secret = NULL;

	if (extra == NULL)
		extra = &none;
	/* The secret goes through a slot of its own so the old one is
	 * wiped, not just freed. */
	if (copy_param(&secret, src, extra->trusted_param) != 0 ||
	    copy_param(&r->identity_header, src, extra->identity_param) != 0 ||
	    copy_param(&r->group_header, src, extra->group_param) != 0) {
		wipe_free(secret);
		return tok_fail(e, TOK_ENOMEM, 0, "out of memory");
	}
	wipe_free(r->trusted_secret);
	r->trusted_secret = secret;
	return TOK_OK;
}

/* The web server's request id and the caller's traceparent: copied when
 * they pass their checks, quietly left out when not. */
static void
read_trace(struct request *r, const struct req_source *src)
{
	const char *id = src->param(src->ctx, "REQUEST_ID");

	/* nginx passes $request_id as REQUEST_ID (nginx.conf.example);
	 * Apache's mod_unique_id sets UNIQUE_ID. */
	if (id == NULL)
		id = src->param(src->ctx, "UNIQUE_ID");
	if (trace_request_id_ok(id))
		(void)snprintf(r->server_request_id,
		    sizeof(r->server_request_id), "%s", id);
	r->has_trace = trace_parse_traceparent(src->param(src->ctx,
	    "HTTP_TRACEPARENT"), &r->trace) == 0;
}

enum tok_err
req_parse(struct request *r, const struct req_source *src, size_t max_body,
          const struct req_extra *extra, struct tok_error *e)
{
	const char *m = src->param(src->ctx, "REQUEST_METHOD");
	const char *qs;
	enum tok_err rc;

	memset(r, 0, sizeof(*r));
	if (m == NULL)
		m = "GET";
	(void)snprintf(r->method_name, sizeof(r->method_name), "%s", m);
	if (strcmp(m, "GET") == 0)
		r->method = REQ_GET;
	else if (strcmp(m, "POST") == 0)
		r->method = REQ_POST;
	else if (strcmp(m, "OPTIONS") == 0)
		r->method = REQ_OPTIONS;
	else
		r->method = REQ_OTHER;
	r->origin = dup_param(src, "HTTP_ORIGIN");
	r->remote_user = dup_param(src, "REMOTE_USER");
	read_trace(r, src);
	if (parse_path(r, src) != TOK_OK)
		return tok_fail(e, TOK_ENOMEM, 0, "out of memory");
	rc = req_copy_extra(r, src, extra, e);
	if (rc != TOK_OK)
		return rc;
	if (r->method == REQ_OPTIONS) {
		r->preflight_headers = dup_param(src,
		    "HTTP_ACCESS_CONTROL_REQUEST_HEADERS");
		return TOK_OK;
	}
	if (r->method == REQ_OTHER)
		return TOK_OK;  /* the endpoint answers 405 */
	qs = src->param(src->ctx, "QUERY_STRING");
	if (qs != NULL && qs[0] != '\0') {
		size_t qlen = strlen(qs);

		if (qlen > REQ_MAX_QUERY)
			return tok_fail(e, TOK_ETOOLONG, 41400,
			    "query string is longer than %d bytes",
			    REQ_MAX_QUERY);
		rc = parse_form(r, qs, qlen, e);
		if (rc != TOK_OK)
			return rc;
	}
	if (r->method == REQ_POST)
		return read_body(r, src, max_body, e);
	return TOK_OK;
}

void
req_free(struct request *r)
{
	free(r->path);
	free(r->origin);
	free(r->preflight_headers);
	free(r->remote_user);
	free(r->client_id.text);
	free(r->capability.text);
	free(r->ttl.text);
	wipe_free(r->trusted_secret);
	free(r->identity_header);
	free(r->group_header);
	memset(r, 0, sizeof(*r));
}
