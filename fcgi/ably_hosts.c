/* ably_hosts: the order in which a call tries Ably's hosts, and what the
 * worker remembers of how each fared. */
#include "ably_hosts.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "crypto.h"
#include "metrics.h"

#define AVOID_MS (60 * 1000)        /* skip a host that just failed */
#define PREFER_MS (10 * 60 * 1000)  /* keep using a fallback that worked */

static enum tok_err
add_host(struct ably_hosts *h, const char *name)
{
	if (h->n >= ABLY_HOSTS_MAX)
		return TOK_OK;  /* config allows no more; ignore the rest */
	h->name[h->n] = strdup(name);
	if (h->name[h->n] == NULL)
		return TOK_ENOMEM;
	h->n++;
	return TOK_OK;
}

enum tok_err
ably_hosts_init(struct ably_hosts *h, const struct config *cfg)
{
	size_t i;

	if (add_host(h, cfg->rest_host) != TOK_OK)
		return TOK_ENOMEM;
	for (i = 0; i < cfg->n_fallback_hosts; i++)
		if (add_host(h, cfg->fallback_hosts[i]) != TOK_OK)
			return TOK_ENOMEM;
	return TOK_OK;
}

void
ably_hosts_free(struct ably_hosts *h)
{
	size_t i;

	for (i = 0; i < h->n; i++)
		free(h->name[i]);
	h->n = 0;
}

int
ably_hosts_url(const struct config *cfg, const char *host, const char *path,
               char *url, size_t len)
{
	int n;

	if (strchr(host, ':') == NULL && cfg->port != 0)
		n = snprintf(url, len, "%s://%s:%d%s", cfg->tls ? "https" :
		    "http", host, cfg->port, path);
	else
		n = snprintf(url, len, "%s://%s%s", cfg->tls ? "https" :
		    "http", host, path);
	return n > 0 && (size_t)n < len ? 0 : -1;
}

size_t
ably_hosts_plan(const struct ably_hosts *h, size_t *order)
{
	long long now = clock_mono_ms();
	size_t n = 0, i, j, first;
	unsigned char rnd[16] = { 0 };

	first = (h->preferred != 0 && now < h->preferred_until) ?
	    h->preferred : 0;
	order[n++] = first;
	if (first != 0)
		order[n++] = 0;
	for (i = 1; i < h->n; i++)
		if (i != first)
			order[n++] = i;
	/* Shuffle the fallbacks (Fisher-Yates on random bytes); with fewer
	 * than two there is nothing to shuffle, and no random bytes to draw
	 * (a syscall per call). */
	if (n > (first != 0 ? 3u : 2u) && crypto_random(rnd, sizeof(rnd)) ==
	    TOK_OK) {
		size_t start = first != 0 ? 2 : 1;

		for (i = n; i > start + 1; i--) {
			size_t k = start + rnd[i % sizeof(rnd)] % (i - start);
			size_t t = order[i - 1];

			order[i - 1] = order[k];
			order[k] = t;
		}
	}
	/* Stable partition: hosts to avoid go to the end. */
	for (i = 0, j = 0; i < n; i++) {
		if (h->avoid_until[order[i]] <= now) {
			size_t t = order[i];

			memmove(order + j + 1, order + j, (i - j) * sizeof(*order));
			order[j++] = t;
		}
	}
	return n;
}

/* Remember how host i fared: a host that worked is not avoided (a fallback
 * that worked is preferred for PREFER_MS); one that failed is avoided for
 * AVOID_MS. */
void
ably_hosts_remember(struct ably_hosts *h, size_t i, int worked)
{
	if (worked) {
		h->avoid_until[i] = 0;
		if (i != 0) {
			h->preferred = i;
			h->preferred_until = clock_mono_ms() + PREFER_MS;
		}
	} else {
		h->avoid_until[i] = clock_mono_ms() + AVOID_MS;
		metrics_host_avoided(i != 0);
		if (i == h->preferred)
			h->preferred = 0;
	}
}
