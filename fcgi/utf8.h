/* utf8: checks on UTF-8 text from callers and the configuration, and the
 * order JavaScript's sort gives strings (by UTF-16 code units).
 *
 * Pure functions on caller-owned strings: nothing is allocated or kept,
 * and there is no error to report beyond the return value.
 */
#ifndef TOK_UTF8_H
#define TOK_UTF8_H

#include <stddef.h>

/* Compare two valid UTF-8 strings by UTF-16 code units, as JS sort does:
 * <0, 0 or >0. Both must be NUL-terminated valid UTF-8 (utf8_text_ok). */
int utf8_utf16_cmp(const char *a, const char *b);

/* 1 if s[0..n) is valid UTF-8 (no overlong forms, surrogates or values
 * past U+10FFFF) with no NUL and no C0 controls other than tab, nor DEL;
 * 0 otherwise. */
int utf8_text_ok(const char *s, size_t n);

#endif
