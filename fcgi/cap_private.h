/* cap_private: what capability.c, cap_intersect.c and cap_template.c
 * share and nobody else uses: the table of Ably operations, the canonical
 * sort order and the "[qualifier]" prefix of resource names.
 *
 * Pure functions on caller-owned data: nothing is allocated, nothing fails.
 */
#ifndef TOK_CAP_PRIVATE_H
#define TOK_CAP_PRIVATE_H

#include <stddef.h>

/* Ably's documented operations; cap_operations[0] is "*". Read-only. */
#define CAP_N_OPERATIONS 18
extern const char *const cap_operations[];

/* qsort comparators for the canonical order (UTF-16 code units, as JS
 * sorts): cap_cmp_op on char * operation names, cap_cmp_entry on struct
 * cap_entry by resource. */
int cap_cmp_op(const void *a, const void *b);
int cap_cmp_entry(const void *a, const void *b);

/* The length of a leading "[qualifier]" of resource name r, brackets
 * included; 0 if there is none. */
size_t cap_qualifier_len(const char *r);

#endif
