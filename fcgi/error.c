/* error: the error kind -> HTTP status / Ably code table. */
#include "error.h"

#include <stdarg.h>
#include <stdio.h>

/* One row per kind; sized from TOK__MAX so a new kind without a row fails
 * to compile (the designated initialisers leave it zero, caught below). */
static const struct {
	int status;
	int code;
} table[TOK__MAX] = {
	[TOK_OK]        = { 200, 0 },
	[TOK_EINVAL]    = { 400, 40000 },
	[TOK_EAUTH]     = { 401, 40100 },
	[TOK_EDENIED]   = { 403, 40300 },
	[TOK_ENOTFOUND] = { 404, 40400 },
	[TOK_EMETHOD]   = { 405, 40500 },
	[TOK_ETOOBIG]   = { 413, 41300 },
	[TOK_ETOOLONG]  = { 414, 41400 },
	[TOK_EMEDIA]    = { 415, 41500 },
	[TOK_ECONFIG]   = { 500, 50000 },
	[TOK_ENOMEM]    = { 500, 50000 },
	[TOK_EINTERNAL] = { 500, 50000 },
	[TOK_EUPSTREAM] = { 502, 50002 },
	[TOK_ETIMEOUT]  = { 504, 50003 },
};

enum tok_err
tok_fail(struct tok_error *e, enum tok_err kind, int code, const char *fmt, ...)
{
	va_list ap;

	if (e == NULL)
		return kind;
	e->kind = kind;
	e->code = code;
	e->status = 0;
	va_start(ap, fmt);
	/* Truncation is acceptable here: messages are short fixed texts. */
	(void)vsnprintf(e->message, sizeof(e->message), fmt, ap);
	va_end(ap);
	return kind;
}

int
tok_http_status(enum tok_err kind)
{
	if (kind < 0 || kind >= TOK__MAX || table[kind].status == 0)
		return 500;
	return table[kind].status;
}

int
tok_error_status(const struct tok_error *e)
{
	if (e->status >= 400 && e->status <= 599)
		return e->status;
	return tok_http_status(e->kind);
}

int
tok_ably_code(const struct tok_error *e)
{
	if (e->code != 0)
		return e->code;
	if (e->kind < 0 || e->kind >= TOK__MAX || table[e->kind].code == 0)
		return 50000;
	return table[e->kind].code;
}
