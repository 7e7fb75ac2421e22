/* ably_hosts: which of Ably's hosts a call tries, in what order, and what
 * the worker remembers of them: the primary (rest_host) and the fallbacks,
 * in random order; a host that just failed is avoided for a while, a
 * fallback that worked is preferred for a while (as the Ably SDKs do).
 *
 * The caller embeds struct ably_hosts (plain data, one per client, one
 * thread) and releases it with ably_hosts_free(). Only ably_hosts_init()
 * fails, with TOK_ENOMEM.
 */
#ifndef TOK_ABLY_HOSTS_H
#define TOK_ABLY_HOSTS_H

#include <stddef.h>

#include "config.h"
#include "error.h"

#define ABLY_HOSTS_MAX 17  /* the primary and up to 16 fallbacks */

struct ably_hosts {
	char *name[ABLY_HOSTS_MAX];  /* [0] is the primary */
	size_t n;
	long long avoid_until[ABLY_HOSTS_MAX];  /* per host, monotonic ms */
	size_t preferred;            /* a fallback that worked, 0 = primary */
	long long preferred_until;
};

/* cfg's rest_host and fallback hosts (beyond ABLY_HOSTS_MAX ignored) into
 * h, zeroed by the caller. On TOK_ENOMEM h holds what was copied so far:
 * ably_hosts_free() it all the same. */
enum tok_err ably_hosts_init(struct ably_hosts *h, const struct config *cfg)
	__attribute__((warn_unused_result));

/* Frees the names; h may be all zero. */
void ably_hosts_free(struct ably_hosts *h);

/* The order to try hosts in, as indexes into h->name: the preferred one
 * first, then the others in random order, those that failed lately last.
 * order has room for ABLY_HOSTS_MAX; returns the count. */
size_t ably_hosts_plan(const struct ably_hosts *h, size_t *order);

/* Remember how host i fared: one that worked is not avoided (a fallback
 * that worked becomes the preferred host); one that failed is avoided. */
void ably_hosts_remember(struct ably_hosts *h, size_t i, int worked);

/* scheme://host[:port]PATH into url[len], scheme and port from cfg (tls,
 * port; a host that names its own port keeps it). -1 if it does not fit. */
int ably_hosts_url(const struct config *cfg, const char *host,
                   const char *path, char *url, size_t len)
	__attribute__((warn_unused_result));

#endif
