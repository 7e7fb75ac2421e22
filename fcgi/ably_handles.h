/* ably_handles: the libcurl easy handles of one client for Ably, set up
 * once with what every exchange shares (headers, TLS checks, the
 * https-only protocol, the proxy, a share of TLS sessions and DNS answers)
 * and kept for reuse between calls.
 *
 * One pool per client, used by one thread. ably_handles_get() hands out a
 * handle that the caller gives back with ably_handles_put() once its
 * transfer is over; ably_handles_free() cleans up the spare ones (a handle
 * still out is the caller's). Errors: TOK_ENOMEM, or TOK_EINTERNAL when
 * libcurl lacks an option this program needs, with e saying which.
 */
#ifndef TOK_ABLY_HANDLES_H
#define TOK_ABLY_HANDLES_H

#include <curl/curl.h>

#include "buf.h"
#include "config.h"
#include "error.h"

struct ably_handles;

/* A new pool for cfg (borrowed; must outlive the pool). One handle is
 * made at once, so that an option libcurl lacks shows at start-up. */
enum tok_err ably_handles_new(const struct config *cfg,
                              struct ably_handles **out, struct tok_error *e)
	__attribute__((warn_unused_result));

/* Frees the pool and its spare handles; NULL is a no-op. */
void ably_handles_free(struct ably_handles *p);

/* A handle set up for Ably (a spare one or a new one); NULL when none
 * can be made (logged). */
CURL *ably_handles_get(struct ably_handles *p);

/* Take back h (NULL is a no-op), forgetting the buffers of its last
 * exchange; kept as a spare or cleaned up. */
void ably_handles_put(struct ably_handles *p, CURL *h);

/* A list of the pool's request headers plus line (e.g. "traceparent:
 * ..."), for one exchange's own headers: the caller's, to free with
 * curl_slist_free_all() once the transfer is over. NULL when out of
 * memory. */
struct curl_slist *ably_handles_headers_with(const struct ably_handles *p,
                                             const char *line);

/* One exchange's options on h: url, post (the body, NULL for a GET; both
 * borrowed until the transfer ends), headers (the exchange's own list,
 * borrowed until then; NULL = the pool's), at most budget_ms for it (the
 * configured timeouts cap it too), the answer into body (reset first, at
 * most its max), libcurl's error text into err[CURL_ERROR_SIZE], and
 * *from_cdn set (cleared first) if the answer came with Server: CloudFront
 * (body, err and from_cdn borrowed until the transfer ends). */
void ably_handles_prepare(struct ably_handles *p, CURL *h, const char *url,
                          const char *post, struct curl_slist *headers,
                          long budget_ms, struct buf *body, char *err,
                          int *from_cdn);

/* Let h speak only https (tls) or only http: CURLOPT_PROTOCOLS_STR, or, if
 * libcurl is older than 7.85 or as_bits is set, the bitmask options
 * CURLOPT_PROTOCOLS and CURLOPT_REDIR_PROTOCOLS. Returns libcurl's code. */
CURLcode ably_handles_restrict_protocols(CURL *h, int tls, int as_bits);

#endif
