/* json_out: write JSON text straight into a buf, for the few documents
 * answered on every request (a TokenRequest), where building a json-c
 * document only to print it costs more than the signing.
 *
 * Strings are escaped as JavaScript's JSON.stringify does (ably-js is
 * the reference for the byte-exact vectors): ", \ and the control bytes
 * below 0x20 (\b \f \n \r \t short, the rest \u00xx), nothing else.
 */
#ifndef TOK_JSON_OUT_H
#define TOK_JSON_OUT_H

#include <stddef.h>

#include "buf.h"

/* Append s (len bytes, UTF-8) as a quoted JSON string. */
enum tok_err json_out_string(struct buf *b, const char *s, size_t len)
	__attribute__((warn_unused_result));

#endif
