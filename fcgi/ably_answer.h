/* ably_answer: how one try at Ably ended, judged from libcurl's result and
 * Ably's answer: TokenDetails to hand over, an Ably 4xx to pass on, or a
 * failure another host might not have (network error, 5xx, a CDN's page).
 *
 * Pure functions apart from reading the handle's answer and logging the
 * verdict. Strings returned are the caller's to free; errors for the
 * client go into a struct tok_error.
 */
#ifndef TOK_ABLY_ANSWER_H
#define TOK_ABLY_ANSWER_H

#include <stddef.h>

#include <curl/curl.h>

#include "error.h"
#include "upstream.h"

/* How one try ended. */
enum ably_answer_verdict {
	ABLY_ANSWER_OK,
	ABLY_ANSWER_RETRY,    /* network error, 5xx, not Ably's: next host */
	ABLY_ANSWER_TIMEOUT,  /* like a retry, but the time ran out */
	ABLY_ANSWER_FINAL,    /* Ably answered with a 4xx: pass it on */
	ABLY_ANSWER__MAX
};

/* Judge a finished requestToken try at host: res is how the transfer
 * ended (upstream.h), body
 * the answer read (NUL-terminated), curl_err libcurl's error text (may be
 * ""), from_cdn whether it came with Server: CloudFront (RSC15l4: a
 * status >= 400 from the CDN is a host failure), took how long the try
 * took in ms (for the log). ABLY_ANSWER_OK sets
 * *details to the TokenDetails JSON (the caller frees it); ABLY_ANSWER_FINAL
 * sets e (kind, Ably's code, a client-safe message, e->status the HTTP
 * status to pass on). The verdict is logged. */
enum ably_answer_verdict ably_answer_judge(const char *host,
                                           const struct upstream_result *res,
                                           const char *body,
                                           const char *curl_err, int from_cdn,
                                           long long took, char **details,
                                           struct tok_error *e);

/* Whether a try failed on a connection it reused before any byte of an
 * answer came: the server had closed it meanwhile, and the host is not at
 * fault. */
int ably_answer_kept_connection_died(const struct upstream_result *res);

/* TokenDetails from Ably's answer body, re-serialised with only the fields
 * ably-js uses; NULL if the body is not TokenDetails (or memory ran out).
 * The caller frees it. */
char *ably_answer_token_details(const char *body);

#endif
