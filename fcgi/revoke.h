/* revoke: Ably's token revocation REST call, for `ably-token revoke`.
 *
 * POST /keys/{keyName}/revokeTokens with Basic auth (the key itself, as
 * Ably requires) and the body {"targets":["clientId:alice", ...],
 * "issuedBefore":ms, "allowReauthMargin":true}; the answer is Ably's batch
 * result, one entry per target ({target, issuedBefore, appliesAt} or
 * {target, error}). One blocking libcurl request per try (a command, not
 * the server), through the configured rest_host, port, tls, ca_file and
 * proxy, then the fallback hosts on a host failure (network error,
 * timeout, 500-504, an answer that is not Ably's), never on an Ably 4xx;
 * all tries together within upstream_timeout_ms.
 *
 * The secret goes to libcurl only (never into a message or the log).
 * Strings in a struct revoke_answer are owned by it: revoke_answer_free().
 */
#ifndef TOK_REVOKE_H
#define TOK_REVOKE_H

#include <stddef.h>

#include "config.h"
#include "error.h"

#define REVOKE_MAX_TARGETS 100  /* Ably's limit per request */

/* What to revoke: targets are "type:value" (clientId:..., revocationKey:...),
 * borrowed. issued_before 0 = Ably's now. */
struct revoke_ask {
	const char *const *targets;
	size_t n_targets;
	long long issued_before;
	int allow_reauth_margin;
};

/* One target's result, as Ably answered it. */
struct revoke_result {
	char *target;            /* as Ably echoed it; "" if it did not */
	int ok;
	long long issued_before; /* ok: tokens issued before this are revoked */
	long long applies_at;    /* ok: when Ably enforces it (ms) */
	int code;                /* !ok: Ably's error code and HTTP status */
	int status;
	char *message;           /* !ok: Ably's message ("" if none) */
};

struct revoke_answer {
	struct revoke_result *results;
	size_t n;
	size_t failures;         /* results with !ok */
};

/* How one try ended. */
enum revoke_verdict {
	REVOKE_DONE,     /* Ably answered per target: *a filled */
	REVOKE_RETRY,    /* the host failed: try another */
	REVOKE_REFUSED,  /* Ably refused the request: e has its code */
	REVOKE__MAX
};

/* The request body for ask (the caller frees it); NULL when out of memory. */
char *revoke_body(const struct revoke_ask *ask);

/* Judge one finished try from the HTTP status, the answer body
 * (NUL-terminated) and whether it came from the CDN (Server: CloudFront).
 * DONE fills *a (zeroed first; revoke_answer_free() it); REFUSED fills e
 * with Ably's code, HTTP status and message (kind TOK_EUPSTREAM). Pure. */
enum revoke_verdict revoke_judge(long status, const char *body, int from_cdn,
                                 struct revoke_answer *a, struct tok_error *e);

/* Revoke: try the hosts until one answers. TOK_OK with *a filled (targets
 * may still have failed: a->failures); otherwise e says why: TOK_EUPSTREAM
 * with e->status set when Ably refused (its code and message), TOK_EUPSTREAM
 * (50002) or TOK_ETIMEOUT (50003) when no host answered, TOK_EINVAL when
 * cfg would send the key unencrypted to a host that is not this machine's.
 * *raw (may be NULL) gets Ably's answer body when there was one (the
 * caller frees it). */
enum tok_err revoke_tokens(const struct config *cfg,
                           const struct revoke_ask *ask,
                           struct revoke_answer *a, char **raw,
                           struct tok_error *e)
	__attribute__((warn_unused_result));

/* 1 if host ("name", "name:port", "[v6]:port") is this machine
 * (localhost, 127.0.0.0/8, ::1): where tls = off may carry the key. */
int revoke_host_is_loopback(const char *host);

/* Frees what *a holds and zeroes it; safe on a zeroed answer. */
void revoke_answer_free(struct revoke_answer *a);

#endif
