/* response: build answers. */
#include "response.h"

#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

static const char *
reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 204: return "No Content";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 413: return "Payload Too Large";
	case 414: return "URI Too Long";
	case 415: return "Unsupported Media Type";
	case 500: return "Internal Server Error";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	default: return "Error";
	}
}

/* Append three strings: a header's name and ": ", its value, and what
 * follows it (its CRLF, and any fixed headers after). */
static enum tok_err
add3(struct buf *out, const char *a, const char *b, const char *c)
{
	enum tok_err rc = buf_adds(out, a);

	if (rc == TOK_OK)
		rc = buf_adds(out, b);
	return rc == TOK_OK ? buf_adds(out, c) : rc;
}

static enum tok_err
add_head(struct buf *out, int status, const char *content_type,
         const struct resp_cors *cors)
{
	enum tok_err rc;

	/* Plain appends: this runs on every answer, and printf-style
	 * formatting cost more than the rest of building it. */
	rc = buf_adds(out, "Status: ");
	if (rc == TOK_OK)
		rc = buf_add_ll(out, status);
	if (rc == TOK_OK)
		rc = add3(out, " ", reason(status), "\r\n");
	if (rc == TOK_OK && content_type != NULL)
		rc = add3(out, "Content-Type: ", content_type, "\r\n");
	if (rc == TOK_OK)
		rc = buf_adds(out, "Cache-Control: no-store\r\n");
	if (rc == TOK_OK && cors != NULL && cors->vary)
		rc = buf_adds(out, "Vary: Origin\r\n");
	if (rc == TOK_OK && cors != NULL && cors->allow_origin != NULL)
		rc = add3(out, "Access-Control-Allow-Origin: ",
		    cors->allow_origin, "\r\nAccess-Control-Allow-Credentials: "
		    "true\r\nAccess-Control-Expose-Headers: "
		    "X-Ably-ErrorCode, X-Ably-ErrorMessage\r\n");
	return rc;
}

enum tok_err
resp_ok(struct buf *out, const char *content_type, const char *body,
        size_t len, const struct resp_cors *cors)
{
	return resp_status(out, 200, content_type, body, len, cors);
}

enum tok_err
resp_status(struct buf *out, int status, const char *content_type,
            const char *body, size_t len, const struct resp_cors *cors)
{
	enum tok_err rc = add_head(out, status, content_type, cors);

	if (rc == TOK_OK)
		rc = buf_adds(out, "Content-Length: ");
	if (rc == TOK_OK)
		rc = buf_add_ll(out, (long long)len);
	if (rc == TOK_OK)
		rc = buf_add(out, "\r\n\r\n", 4);
	if (rc == TOK_OK)
		rc = buf_add(out, body, len);
	return rc;
}

enum tok_err
resp_error(struct buf *out, const struct tok_error *e, const char *allow,
           const struct resp_cors *cors)
{
	struct json_object *root, *err;
	int status = tok_error_status(e);
	int code = tok_ably_code(e);
	char href[64];
	const char *body;
	enum tok_err rc = TOK_ENOMEM;

	(void)snprintf(href, sizeof(href), "https://help.ably.io/error/%d",
	    code);
	root = json_object_new_object();
	err = json_object_new_object();
	if (root == NULL || err == NULL) {
		json_object_put(root);
		json_object_put(err);
		return TOK_ENOMEM;
	}
	json_object_object_add(root, "error", err);
	json_object_object_add(err, "message",
	    json_object_new_string(e->message));
	json_object_object_add(err, "code", json_object_new_int(code));
	json_object_object_add(err, "statusCode", json_object_new_int(status));
	json_object_object_add(err, "href", json_object_new_string(href));
	body = json_object_to_json_string_ext(root,
	    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	if (body == NULL)
		goto out;
	/* The message is client-safe by construction (error.h): no CR/LF,
	 * no request bytes, so it can go into a header as is. */
	rc = add_head(out, status, "application/json", cors);
	if (rc == TOK_OK && allow != NULL)
		rc = buf_printf(out, "Allow: %s\r\n", allow);
	if (rc == TOK_OK)
		rc = buf_printf(out, "X-Ably-ErrorCode: %d\r\n"
		    "X-Ably-ErrorMessage: %s\r\n"
		    "Content-Length: %zu\r\n\r\n%s", code, e->message,
		    strlen(body), body);
out:
	json_object_put(root);
	return rc;
}

/* 1 if s is a comma-separated list of header names (RFC 9110 tokens). */
static int
is_header_list(const char *s)
{
	size_t n = strlen(s);

	return n > 0 && n < 512 &&
	    strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "0123456789-_, ") == n;
}

enum tok_err
resp_preflight(struct buf *out, const struct resp_cors *cors,
               const char *request_headers)
{
	enum tok_err rc = add_head(out, 204, NULL, cors);

	if (rc == TOK_OK)
		rc = buf_adds(out, "Access-Control-Allow-Methods: GET, POST\r\n"
		    "Access-Control-Max-Age: 600\r\n");
	if (rc == TOK_OK && request_headers != NULL &&
	    is_header_list(request_headers))
		rc = buf_printf(out, "Access-Control-Allow-Headers: %s\r\n",
		    request_headers);
	/* A 204 has no body and must not carry Content-Length (RFC 9110
	 * 8.6), so the head simply ends. */
	if (rc == TOK_OK)
		rc = buf_adds(out, "\r\n");
	return rc;
}
