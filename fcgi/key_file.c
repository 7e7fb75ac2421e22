/* key_file: the key from a file of its own (see key_file.h). */
#include "key_file.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "config_file.h"
#include "crypto.h"
#include "error.h"
#include "log.h"

long
key_file_text(const char *data, size_t len, char *err, size_t errlen)
{
	const char *nl = memchr(data, '\n', len);
	size_t n = nl != NULL ? (size_t)(nl - data) : len;

	/* What follows the first line end must be nothing at all: a comment
	 * or a second key would be a guess at which one is meant. */
	if (nl != NULL && n + 1 != len) {
		(void)snprintf(err, errlen, "holds more than one line: it must "
		    "hold only the key, appId.keyId:secret");
		return -1;
	}
	if (n > 0 && data[n - 1] == '\r')
		n--;
	if (n == 0) {
		(void)snprintf(err, errlen, "is empty: it must hold the key, "
		    "appId.keyId:secret");
		return -1;
	}
	/* ABLY_API_KEY=... would parse as a key named "ABLY_API_KEY=app.id"
	 * and fail only at Ably; say what it is instead. */
	if (memchr(data, '=', n) != NULL) {
		(void)snprintf(err, errlen, "holds a NAME=VALUE line (an "
		    "environment file?): it must hold only the key, "
		    "appId.keyId:secret");
		return -1;
	}
	return (long)n;
}

int
key_file_check_access(const char *path, mode_t mode, int allow_insecure,
                      char *err, size_t errlen)
{
	/* Nobody but the service reads a file that holds only the key: its
	 * group is refused too (the config file, which has other readers,
	 * may be 640). Writers and the directory: as for the config file. */
	if (mode & (S_IRGRP | S_IROTH)) {
		(void)snprintf(err, errlen, "key_file %s is readable by %s; "
		    "chmod 600 it (or 400), owned by the user that reads it, "
		    "or start with --allow-insecure-config", path,
		    (mode & S_IROTH) ? "every user" : "its group");
		if (!allow_insecure)
			return -1;
		log_warn("%s (allowed by --allow-insecure-config)", err);
		err[0] = '\0';
	}
	return config_file_check_access(path, mode, 0, allow_insecure, err,
	    errlen);
}

int
key_file_load(const char *path, int allow_insecure, struct ably_key *k,
              char *err, size_t errlen)
{
	struct tok_error e;
	char why[512];
	size_t len = 0;
	mode_t mode = 0;
	char *data;
	long n;
	int rc = -1;

	memset(k, 0, sizeof(*k));
	if (path[0] != '/') {
		(void)snprintf(err, errlen, "key_file %s: expected an absolute "
		    "path", path);
		return -1;
	}
	data = config_file_read(path, &len, &mode, why, sizeof(why));
	if (data == NULL) {
		/* why names the file and the errno; say which setting. */
		(void)snprintf(err, errlen, "key_file: %s", why);
		return -1;
	}
	if (key_file_check_access(path, mode, allow_insecure, err, errlen) != 0)
		goto out;
	n = key_file_text(data, len, why, sizeof(why));
	if (n < 0) {
		(void)snprintf(err, errlen, "key_file %s %s", path, why);
		goto out;
	}
	data[n] = '\0';
	if (key_parse(data, k, &e) != TOK_OK) {
		(void)snprintf(err, errlen, "key_file %s: %s", path, e.message);
		goto out;
	}
	rc = 0;
out:
	crypto_wipe(data, len);
	free(data);
	return rc;
}
