/* ably_handles: the pool of libcurl handles a client for Ably reuses,
 * each set up once with what every exchange with Ably shares. */
/* CURLOPT_PROTOCOLS, the fallback for libcurl before 7.85, is deprecated in
 * the headers this is built with. */
#define CURL_DISABLE_DEPRECATION 1
#include "ably_handles.h"

#include <stdio.h>
#include <strings.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

#define ABLY_VERSION_HEADER "X-Ably-Version: 6"
#define AGENT "ably-token-fcgi/0.1.0"
#define SPARE_HANDLES 64            /* idle curl handles kept for reuse */

struct ably_handles {
	const struct config *cfg;
	CURLSH *share;  /* TLS sessions and DNS answers, for every handle */
	struct curl_slist *headers;
	CURL *spare[SPARE_HANDLES];
	int nspare;
};

static size_t
on_body(char *p, size_t size, size_t n, void *userdata)
{
	struct buf *body = userdata;

	/* Returning less than given aborts the transfer: an answer larger
	 * than any TokenDetails is not one. */
	if (buf_add(body, p, size * n) != TOK_OK)
		return 0;
	return size * n;
}

/* Notes a Server: CloudFront header (the CDN in front of Ably answered,
 * not Ably). A header callback rather than curl_easy_header(), which
 * libcurl has only since 7.83. */
static size_t
on_header(char *p, size_t size, size_t n, void *userdata)
{
	int *from_cdn = userdata;
	size_t len = size * n;
	static const char name[] = "server:";
	size_t i = sizeof(name) - 1;

	if (from_cdn != NULL && len > i && strncasecmp(p, name, i) == 0) {
		while (i < len && (p[i] == ' ' || p[i] == '\t'))
			i++;
		if (len - i >= 10 && strncasecmp(p + i, "CloudFront", 10) == 0)
			*from_cdn = 1;
	}
	return len;
}

CURLcode
ably_handles_restrict_protocols(CURL *h, int tls, int as_bits)
{
	long bits = tls ? CURLPROTO_HTTPS : CURLPROTO_HTTP;
	CURLcode cc = CURLE_UNKNOWN_OPTION;

	if (!as_bits)
		cc = curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR,
		    tls ? "https" : "http");
	/* libcurl before 7.85 (Ubuntu 22.04 has 7.81, Debian 11 7.74) knows
	 * only the bitmask form: the same protection. */
	if (cc == CURLE_UNKNOWN_OPTION) {
		cc = curl_easy_setopt(h, CURLOPT_PROTOCOLS, bits);
		if (cc == CURLE_OK)
			cc = curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS, bits);
	}
	return cc;
}

CURL *
ably_handles_get(struct ably_handles *p)
{
	const struct config *cfg = p->cfg;
	CURLcode cc = CURLE_OK;
	CURL *h;

	if (p->nspare > 0)
		return p->spare[--p->nspare];
	h = curl_easy_init();
	if (h == NULL)
		return NULL;
	cc |= curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	/* A new connection resumes the TLS session an earlier one made,
	 * whichever handle made it. */
	cc |= curl_easy_setopt(h, CURLOPT_SHARE, p->share);
	cc |= curl_easy_setopt(h, CURLOPT_HTTPHEADER, p->headers);
	cc |= curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	cc |= curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
	cc |= ably_handles_restrict_protocols(h, cfg->tls, 0);
	cc |= curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
	cc |= curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
	cc |= curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
	cc |= curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
	/* HTTP/2 over TLS when Ably offers it (ALPN), HTTP/1.1 otherwise;
	 * wait for a connection that may multiplex rather than open one
	 * per transfer. */
	cc |= curl_easy_setopt(h, CURLOPT_HTTP_VERSION,
	    (long)CURL_HTTP_VERSION_2TLS);
	cc |= curl_easy_setopt(h, CURLOPT_PIPEWAIT, 1L);
	/* A requestToken body and a TokenDetails answer are well under 4 KiB;
	 * libcurl's default buffers (16 KiB in, 64 KiB out) are per handle,
	 * and a worker has a handle per call in flight. Longer answers still
	 * work, in more reads. */
	cc |= curl_easy_setopt(h, CURLOPT_BUFFERSIZE, 4096L);
	cc |= curl_easy_setopt(h, CURLOPT_UPLOAD_BUFFERSIZE, 16384L);
	/* Proxy only from our own setting: an empty string also stops
	 * libcurl from reading *_proxy variables, which in CGI mode a client
	 * can set with a Proxy: header (httpoxy). */
	cc |= curl_easy_setopt(h, CURLOPT_PROXY, cfg->proxy ? cfg->proxy : "");
	if (cfg->ca_file != NULL)
		cc |= curl_easy_setopt(h, CURLOPT_CAINFO, cfg->ca_file);
	if (cc != CURLE_OK) {
		log_err("libcurl lacks an option this program needs");
		curl_easy_cleanup(h);
		return NULL;
	}
	return h;
}

void
ably_handles_put(struct ably_handles *p, CURL *h)
{
	if (h == NULL)
		return;
	/* Don't keep pointers to a finished call's buffers. */
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, p->headers);
	curl_easy_setopt(h, CURLOPT_POSTFIELDS, NULL);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, NULL);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, NULL);
	if (p->nspare < SPARE_HANDLES)
		p->spare[p->nspare++] = h;
	else
		curl_easy_cleanup(h);
}

struct curl_slist *
ably_handles_headers_with(const struct ably_handles *p, const char *line)
{
	struct curl_slist *list = NULL, *more;
	const struct curl_slist *it;

	for (it = p->headers; it != NULL; it = it->next) {
		more = curl_slist_append(list, it->data);
		if (more == NULL)
			goto nomem;
		list = more;
	}
	more = curl_slist_append(list, line);
	if (more == NULL)
		goto nomem;
	return more;
nomem:
	curl_slist_free_all(list);  /* NULL is a no-op */
	return NULL;
}

void
ably_handles_prepare(struct ably_handles *p, CURL *h, const char *url,
                     const char *post, struct curl_slist *headers,
                     long budget_ms, struct buf *body, char *err,
                     int *from_cdn)
{
	long connect_ms = p->cfg->connect_timeout_ms;
	long total_ms = p->cfg->request_timeout_ms;

	if (connect_ms > budget_ms)
		connect_ms = budget_ms;
	if (total_ms > budget_ms)
		total_ms = budget_ms;
	buf_reset(body);
	err[0] = '\0';
	*from_cdn = 0;
	curl_easy_setopt(h, CURLOPT_HEADERDATA, from_cdn);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER,
	    headers != NULL ? headers : p->headers);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, connect_ms);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, total_ms);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, body);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, err);
	if (post != NULL) {
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, post);
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)strlen(post));
	} else {
		curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
	}
}

void
ably_handles_free(struct ably_handles *p)
{
	if (p == NULL)
		return;
	while (p->nspare > 0)
		curl_easy_cleanup(p->spare[--p->nspare]);
	curl_slist_free_all(p->headers);
	if (p->share != NULL)
		curl_share_cleanup(p->share);
	free(p);
}

enum tok_err
ably_handles_new(const struct config *cfg, struct ably_handles **out,
                 struct tok_error *e)
{
	struct ably_handles *p;
	char agent[128];
	enum tok_err rc;
	CURL *h;

	*out = NULL;
	p = calloc(1, sizeof(*p));
	if (p == NULL)
		return tok_fail(e, TOK_ENOMEM, 0, "out of memory");
	p->cfg = cfg;
	/* One thread uses it: no lock functions needed. */
	p->share = curl_share_init();
	if (p->share == NULL ||
	    curl_share_setopt(p->share, CURLSHOPT_SHARE,
	    CURL_LOCK_DATA_SSL_SESSION) != CURLSHE_OK ||
	    curl_share_setopt(p->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS) !=
	    CURLSHE_OK)
		goto nomem;
	(void)snprintf(agent, sizeof(agent), "Ably-Agent: %s libcurl/%s", AGENT,
	    curl_version_info(CURLVERSION_NOW)->version);
	p->headers = curl_slist_append(NULL, "Content-Type: application/json");
	if (p->headers == NULL)
		goto nomem;
	/* curl_slist_append returns NULL on failure and keeps the list. */
	if (curl_slist_append(p->headers, "Accept: application/json") == NULL ||
	    curl_slist_append(p->headers, ABLY_VERSION_HEADER) == NULL ||
	    curl_slist_append(p->headers, agent) == NULL ||
	    curl_slist_append(p->headers, "Expect:") == NULL)
		goto nomem;
	/* One handle made now: an option libcurl lacks shows at start-up. */
	h = ably_handles_get(p);
	if (h == NULL) {
		rc = tok_fail(e, TOK_EINTERNAL, 0,
		    "libcurl lacks an option this program needs");
		goto fail;
	}
	ably_handles_put(p, h);
	*out = p;
	return TOK_OK;
nomem:
	rc = tok_fail(e, TOK_ENOMEM, 0, "out of memory");
fail:
	ably_handles_free(p);
	return rc;
}
