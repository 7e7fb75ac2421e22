/* trace: the request id check and the traceparent parser (W3C Trace
 * Context, level 1: https://www.w3.org/TR/trace-context/). */
#include "trace.h"

#include <stdio.h>
#include <string.h>

int
trace_request_id_ok(const char *s)
{
	size_t i;

	if (s == NULL || s[0] == '\0')
		return 0;
	for (i = 0; s[i] != '\0'; i++) {
		if (i >= TRACE_REQUEST_ID_MAX ||
		    (unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7e)
			return 0;
	}
	return 1;
}

/* 1 if s[0..n) are lowercase hex digits (the spec allows no uppercase). */
static int
lower_hex(const char *s, size_t n)
{
	return strspn(s, "0123456789abcdef") >= n;
}

/* 1 if s[0..n) is all '0': an invalid id. */
static int
all_zero(const char *s, size_t n)
{
	return strspn(s, "0") >= n;
}

int
trace_parse_traceparent(const char *s, struct traceparent *out)
{
	size_t len;

	memset(out, 0, sizeof(*out));
	if (s == NULL)
		return -1;
	len = strlen(s);
	/* version "-" trace-id "-" parent-id "-" flags: 2+1+32+1+16+1+2 */
	if (len < 55 || !lower_hex(s, 2) || s[2] != '-' ||
	    !lower_hex(s + 3, 32) || s[35] != '-' ||
	    !lower_hex(s + 36, 16) || s[52] != '-' || !lower_hex(s + 53, 2))
		return -1;
	if (strncmp(s, "ff", 2) == 0)
		return -1;
	/* Version 00 is exactly these fields; a later one may add more
	 * after a '-', which a parser of version 00 ignores. */
	if (strncmp(s, "00", 2) == 0 ? len != 55 : len > 55 && s[55] != '-')
		return -1;
	if (all_zero(s + 3, 32) || all_zero(s + 36, 16))
		return -1;
	memcpy(out->trace_id, s + 3, 32);
	memcpy(out->parent_id, s + 36, 16);
	memcpy(out->flags, s + 53, 2);
	/* Passed on in the version this program knows, as the spec asks of
	 * a vendor that meets a later one. */
	(void)snprintf(out->header, sizeof(out->header), "00-%s-%s-%s",
	    out->trace_id, out->parent_id, out->flags);
	return 0;
}
