/* fake_source: see fake_source.h. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "fake_source.h"

static const char *
fake_param(void *ctx, const char *name)
{
	const struct fake *f = ctx;
	size_t i;

	for (i = 0; i < f->n; i++)
		if (strcmp(f->names[i], name) == 0)
			return f->values[i];
	return NULL;
}

static long
fake_read(void *ctx, char *buf, size_t n)
{
	struct fake *f = ctx;
	size_t left;

	f->reads++;
	if (f->fail_read)
		return -1;
	if (f->body == NULL)
		return 0;
	left = f->body_len - f->pos;
	if (n > left)
		n = left;
	if (f->chunk != 0 && n > f->chunk)
		n = f->chunk;
	if (n > 0)
		memcpy(buf, f->body + f->pos, n);
	f->pos += n;
	return (long)n;
}

void
fake_set(struct fake *f, const char *name, const char *value)
{
	if (value == NULL)
		return;
	assert_true(f->n < FAKE_MAX_PARAMS);
	f->names[f->n] = name;
	f->values[f->n] = value;
	f->n++;
}

void
fake_body(struct fake *f, const char *body)
{
	f->body = body;
	f->body_len = body ? strlen(body) : 0;
	f->pos = 0;
}

void
fake_request(struct fake *f, const char *method, const char *uri,
             const char *origin)
{
	const char *q = strchr(uri, '?');

	memset(f, 0, sizeof(*f));
	fake_set(f, "REQUEST_METHOD", method);
	fake_set(f, "REQUEST_URI", uri);
	fake_set(f, "QUERY_STRING", q ? q + 1 : "");
	fake_set(f, "HTTP_ORIGIN", origin);
}

void
fake_post_body(struct fake *f, const char *ctype, const char *body,
               char clen[24])
{
	(void)snprintf(clen, 24, "%zu", strlen(body));
	fake_set(f, "CONTENT_TYPE", ctype);
	fake_set(f, "CONTENT_LENGTH", clen);
	fake_body(f, body);
}

void
fake_params_text(struct fake *f, char *storage, size_t size,
                 const char *text)
{
	char *line, *next;

	memset(f, 0, sizeof(*f));
	if (text == NULL)
		return;
	assert_true(strlen(text) < size);
	memcpy(storage, text, strlen(text) + 1);
	for (line = storage; line != NULL && *line != '\0'; line = next) {
		char *eq;

		next = strchr(line, '\n');
		if (next != NULL)
			*next++ = '\0';
		eq = strchr(line, '=');
		assert_non_null(eq);
		*eq = '\0';
		fake_set(f, line, eq + 1);
	}
}

struct req_source
fake_source(struct fake *f)
{
	struct req_source src = { fake_param, fake_read, f };

	return src;
}

enum tok_err
fake_parse(struct fake *f, struct request *r, size_t max_body,
           struct tok_error *e)
{
	f->src = fake_source(f);
	return req_parse(r, &f->src, max_body, f->extra, e);
}
