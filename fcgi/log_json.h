/* log_json: one log line as one JSON object, written into a fixed buffer
 * the caller owns (log.c's line buffer), for `log_format = json`.
 *
 * Any bytes make valid JSON: '"', '\' and control characters (C0, DEL and
 * C1) are escaped, valid UTF-8 is copied as it is, and each byte of an
 * invalid UTF-8 sequence (a stray continuation byte, an overlong form, a
 * surrogate, past U+10FFFF, a cut sequence) becomes U+FFFD. A string value
 * longer than LOG_JSON_VALUE_MAX or than the room left is cut at a
 * character boundary and ends in "..."; a field with no room at all is
 * left out. The line is always one whole object: log_json_end() closes it.
 * Field names are the caller's constants and are not escaped.
 */
#ifndef TOK_LOG_JSON_H
#define TOK_LOG_JSON_H

#include <stddef.h>

#define LOG_JSON_VALUE_MAX 512  /* bytes of one escaped string value */

struct log_json {
	char *buf;
	size_t cap;   /* bytes of buf; at least 4 */
	size_t len;   /* written so far */
	int fields;   /* fields written: the next one needs a comma */
	int cut;      /* a value was cut or a field left out */
};

/* Start an object in buf (cap bytes, at least 4). */
void log_json_begin(struct log_json *j, char *buf, size_t cap);

/* Add "name":"s" for the n bytes at s (any bytes). */
void log_json_string(struct log_json *j, const char *name, const char *s,
                     size_t n);

/* Add "name":v. */
void log_json_number(struct log_json *j, const char *name, long long v);

/* Add "name":null. */
void log_json_null(struct log_json *j, const char *name);

/* Close the object and end the line ("}\n"); returns the line's length
 * (not NUL-terminated). */
size_t log_json_end(struct log_json *j);

/* Escape the n bytes at src as the inside of a JSON string into dst, at
 * most dstlen bytes, never splitting an escape or a character; *used gets
 * how many bytes of src went in. Returns the bytes written (dst is not
 * NUL-terminated). */
size_t log_json_escape(char *dst, size_t dstlen, const char *src, size_t n,
                       size_t *used);

#endif
