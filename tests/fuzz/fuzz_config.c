/* fuzz_config: the config file parser, through config_load() on a real
 * file (mode 0600, so a key line is not refused for its mode).
 *
 * Input: the file's bytes. A config that loads (and is not token mode,
 * which would need the network) then answers two fixed requests, so fuzzed
 * rules, templates and limits meet the policy code. Properties: loading
 * either succeeds or fails with a message; a failure never quotes the
 * key's secret; the answers are CGI heads that start with "Status: ".
 */
#include "fuzz.h"

#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "config.h"
#include "endpoint.h"
#include "log.h"
#include "request.h"

static char fcfg_path[64];

struct fcfg_req {
	const char *method, *query, *ctype, *clen, *body, *user;
	size_t pos;
};

static const char *
fcfg_param(void *ctx, const char *name)
{
	const struct fcfg_req *r = ctx;

	if (strcmp(name, "REQUEST_METHOD") == 0)
		return r->method;
	if (strcmp(name, "QUERY_STRING") == 0)
		return r->query;
	if (strcmp(name, "CONTENT_TYPE") == 0)
		return r->ctype;
	if (strcmp(name, "CONTENT_LENGTH") == 0)
		return r->clen;
	if (strcmp(name, "REMOTE_USER") == 0)
		return r->user;
	if (strcmp(name, "DOCUMENT_URI") == 0)
		return "/request-token";
	return NULL;
}

static long
fcfg_read(void *ctx, char *buf, size_t n)
{
	struct fcfg_req *r = ctx;
	size_t left = r->body ? strlen(r->body) - r->pos : 0;

	if (n > left)
		n = left;
	memcpy(buf, r->body + r->pos, n);
	r->pos += n;
	return (long)n;
}

static char fcfg_dir[64];

static void
fcfg_cleanup(void)
{
	unlink(fcfg_path);
	rmdir(fcfg_dir);
}

static void
fcfg_init(void)
{
	char dir[] = "/tmp/ably-token-fuzz-config-XXXXXX";

	if (fcfg_path[0] != '\0')
		return;
	unsetenv("ABLY_API_KEY");
	unsetenv("VITE_ABLY_KEY");
	log_set_level(LOGL_ERROR);
	if (mkdtemp(dir) == NULL) {
		perror("fuzz_config: mkdtemp");
		abort();
	}
	(void)snprintf(fcfg_dir, sizeof(fcfg_dir), "%s", dir);
	(void)snprintf(fcfg_path, sizeof(fcfg_path), "%s/c.conf", dir);
	atexit(fcfg_cleanup);
}

/* How often needle occurs in data. */
static size_t
fcfg_count(const uint8_t *data, size_t size, const char *needle)
{
	size_t n = 0, len = strlen(needle);
	const uint8_t *p = data, *end = data + size;

	while (len > 0 && (p = memmem(p, (size_t)(end - p), needle, len)) != NULL) {
		n++;
		p++;
	}
	return n;
}

/* The secret of every `key = name:secret` line of the input (12 bytes or
 * more, so that it cannot be a word of a fixed message) must not appear in
 * the error message. Other text from the file may: an unknown setting's
 * name is quoted on purpose, so a secret that also appears elsewhere in the
 * file (say, as a setting's name) is not checked. */
static void
fcfg_check_secret(const uint8_t *data, size_t size, const char *err)
{
	size_t i = 0;

	while (i < size) {
		const uint8_t *nl = memchr(data + i, '\n', size - i);
		size_t len = nl ? (size_t)(nl - (data + i)) : size - i;
		char *line = strndup((const char *)data + i, len), *p, *colon;

		i += len + 1;
		if (line == NULL)
			abort();
		p = line + strspn(line, " \t");
		if (strncmp(p, "key", 3) == 0 && p[3 + strspn(p + 3, " \t")] == '=') {
			colon = strchr(p, ':');
			if (colon != NULL) {
				char *end = colon + 1 + strlen(colon + 1);

				while (end > colon + 1 && (end[-1] == ' ' ||
				    end[-1] == '\t' || end[-1] == '\r'))
					*--end = '\0';
				if (strlen(colon + 1) >= 12 &&
				    fcfg_count(data, size, colon + 1) == 1)
					FUZZ_CHECK(strstr(err, colon + 1) == NULL,
					    "a failure never quotes the key's secret");
			}
		}
		free(line);
	}
}

static void
fcfg_answer(const struct config *c, struct fcfg_req *r)
{
	struct req_source src = { fcfg_param, fcfg_read, r };
	struct endpoint ep;
	struct buf out;

	endpoint_init(&ep, c);
	buf_init(&out, 256 * 1024);
	endpoint_handle(&ep, &src, &out);
	FUZZ_CHECK(out.len > 8 && strncmp(out.data, "Status: ", 8) == 0,
	    "an answer with a status");
	buf_free(&out);
}

int FUZZ_ENTRY(const uint8_t *data, size_t size);

int
FUZZ_ENTRY(const uint8_t *data, size_t size)
{
	struct config c;
	char err[512];
	int fd;

	fcfg_init();
	fd = open(fcfg_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || write(fd, data, size) != (ssize_t)size) {
		perror("fuzz_config: write");
		abort();
	}
	close(fd);
	err[0] = '\0';
	if (config_load(&c, fcfg_path, err, sizeof(err)) != 0) {
		FUZZ_CHECK(err[0] != '\0', "a failure says why");
		fcfg_check_secret(data, size, err);
		return 0;
	}
	log_set_level(LOGL_ERROR);
	if (c.mode != MODE_TOKEN) {
		struct fcfg_req get = { "GET", "clientId=alice&ttl=60000&"
		    "capability=%7B%22chat%3A*%22%3A%5B%22subscribe%22%5D%7D",
		    NULL, NULL, NULL, "alice", 0 };
		static const char body[] =
		    "{\"capability\":{\"*\":[\"*\"]},\"ttl\":\"1h\"}";
		char clen[16];
		struct fcfg_req post = { "POST", NULL, "application/json", clen,
		    body, NULL, 0 };

		(void)snprintf(clen, sizeof(clen), "%zu", sizeof(body) - 1);

		fcfg_answer(&c, &get);
		fcfg_answer(&c, &post);
	}
	config_free(&c);
	return 0;
}
