/* config_file: read the config file and check it as a file: its size,
 * its bytes (UTF-8 text, no control characters) and who may read or change
 * it. What its lines mean is config.c's job.
 */
#include "config_file.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "crypto.h"
#include "log.h"
#include "utf8.h"

/* Far more than any real config; a bound so a wrong path (a log file, a
 * device) is refused instead of read whole into memory. */
#define CONFIG_FILE_MAX (256 * 1024)

/* Read the whole file into a new NUL-terminated buffer of *len bytes;
 * *mode gets the file's mode bits. */
static char *
slurp(const char *path, size_t *len, mode_t *mode, char *err, size_t errlen)
{
	struct stat st;
	FILE *f;
	char *data;
	size_t n;

	f = fopen(path, "r");
	if (f == NULL) {
		(void)snprintf(err, errlen, "%s: cannot open: %s", path,
		    strerror(errno));
		return NULL;
	}
	if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode) ||
	    st.st_size > CONFIG_FILE_MAX) {
		(void)snprintf(err, errlen, "%s: not a regular file of at "
		    "most %d bytes", path, CONFIG_FILE_MAX);
		fclose(f);
		return NULL;
	}
	*mode = st.st_mode;
	/* Unbuffered: the bytes (the key, maybe) go straight into data, which
	 * the caller wipes, not through a stdio buffer freed unwiped. */
	(void)setvbuf(f, NULL, _IONBF, 0);
	data = malloc((size_t)st.st_size + 1);
	if (data == NULL) {
		(void)snprintf(err, errlen, "%s: out of memory", path);
		fclose(f);
		return NULL;
	}
	n = fread(data, 1, (size_t)st.st_size, f);
	data[n] = '\0';
	*len = n;
	fclose(f);
	return data;
}

/* The length of the setting name that starts a line, if the first n bytes
 * hold one and its '=' (so that a message can name it); 0 otherwise. */
static size_t
setting_name_len(const char *line, size_t n)
{
	size_t i = 0, len;

	while (i < n && (line[i] == ' ' || line[i] == '\t'))
		i++;
	len = 0;
	while (i + len < n && ((line[i + len] >= 'a' && line[i + len] <= 'z') ||
	    (line[i + len] >= '0' && line[i + len] <= '9') ||
	    line[i + len] == '_' || line[i + len] == '.'))
		len++;
	if (len == 0 || i != 0 || memchr(line, '=', n) == NULL)
		return 0;
	return len;
}

/* Every line holds only what the format allows: UTF-8 text without NUL or
 * control characters (tab allowed; a CR only before the LF). A stray NUL
 * would end the text early and silently drop the rules after it, and a
 * policy must never run half-read. 0, or -1 with err naming file:line. */
static int
check_bytes(const char *path, const char *data, size_t len, char *err,
            size_t errlen)
{
	size_t off = 0;
	int lineno = 1;

	while (off < len) {
		const char *nl = memchr(data + off, '\n', len - off);
		size_t end = nl != NULL ? (size_t)(nl - data) : len, n = end - off;

		if (n > 0 && data[off + n - 1] == '\r')
			n--;  /* CRLF line ends are fine */
		if (!utf8_text_ok(data + off, n)) {
			char what[40] = "invalid UTF-8";
			size_t k;

			for (k = 0; k < n; k++) {
				unsigned char ch = (unsigned char)data[off + k];

				if (ch == 0) {
					(void)snprintf(what, sizeof(what),
					    "a NUL byte");
					break;
				}
				if ((ch < 0x20 && ch != '\t') || ch == 0x7f) {
					(void)snprintf(what, sizeof(what),
					    "control character 0x%02x", ch);
					break;
				}
			}
			(void)snprintf(err, errlen, "%s:%d: %.*s%s%s: the file "
			    "must be UTF-8 text without control characters", path,
			    lineno, (int)setting_name_len(data + off, k),
			    data + off, setting_name_len(data + off, k) ? ": " :
			    "", what);
			return -1;
		}
		off = end + 1;
		lineno++;
	}
	return 0;
}

/* Who may change the file decides the rules, rest_host and tls: refuse a
 * file that group or others may write, or that sits in a directory they
 * may write (they could replace it; a sticky directory such as /tmp only
 * lets its owner do that). 0 if safe, or allowed with a warning under
 * allow_insecure; -1 with err saying what to chmod. */
static int
check_writers(const char *path, mode_t mode, int allow_insecure, char *err,
              size_t errlen)
{
	char dir[4096];
	const char *slash = strrchr(path, '/');
	struct stat st;

	if (mode & (S_IWGRP | S_IWOTH)) {
		(void)snprintf(err, errlen, "%s: writable by %s, who could "
		    "change its rules, rest_host or tls; chmod go-w %s (or "
		    "start with --allow-insecure-config)", path,
		    (mode & S_IWOTH) ? "every user" : "its group", path);
		goto insecure;
	}
	if (slash == NULL)
		(void)snprintf(dir, sizeof(dir), ".");
	else if (slash == path)
		(void)snprintf(dir, sizeof(dir), "/");
	else
		(void)snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path),
		    path);
	if (stat(dir, &st) == 0 && (st.st_mode & (S_IWGRP | S_IWOTH)) &&
	    !(st.st_mode & S_ISVTX)) {
		(void)snprintf(err, errlen, "%s: its directory %s is writable "
		    "by %s, who could replace the file; chmod go-w %s (or "
		    "start with --allow-insecure-config)", path, dir,
		    (st.st_mode & S_IWOTH) ? "every user" : "its group", dir);
		goto insecure;
	}
	return 0;
insecure:
	if (!allow_insecure)
		return -1;
	log_warn("%s (allowed by --allow-insecure-config)", err);
	err[0] = '\0';
	return 0;
}

char *
config_file_read(const char *path, size_t *len, mode_t *mode, char *err,
                 size_t errlen)
{
	char *data = slurp(path, len, mode, err, errlen);

	if (data != NULL && check_bytes(path, data, *len, err, errlen) != 0) {
		/* It may hold the key. */
		crypto_wipe(data, *len);
		free(data);
		data = NULL;
	}
	return data;
}

int
config_file_check_access(const char *path, mode_t mode, int key_line,
                         int allow_insecure, char *err, size_t errlen)
{
	/* A key any local user can read is a key anyone on the host has:
	 * refuse, unless the operator insists (and is told again). */
	if (key_line > 0 && (mode & S_IROTH) != 0) {
		if (!allow_insecure) {
			(void)snprintf(err, errlen, "%s:%d holds the Ably key but "
			    "the file is readable by every user; chmod 600 it "
			    "(or 640 with the server's group), or start with "
			    "--allow-insecure-config", path, key_line);
			return -1;
		}
		log_warn("%s:%d holds the Ably key but the file is readable by "
		    "every user (allowed by --allow-insecure-config); chmod 600 "
		    "it", path, key_line);
	}
	return check_writers(path, mode, allow_insecure, err, errlen);
}
