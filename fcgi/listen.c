/* listen: the sockets the workers serve: a --listen socket opened here,
 * one systemd passed, and which web servers may connect over TCP (and the
 * refusal of the others). */
#include "listen.h"

#include <errno.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "privilege.h"

/* chown path to a; on failure said on stderr, with the errno and, for
 * EPERM, the likely reason (a non-root process may only give its own
 * files to a group it is in), and -1. */
static int
give_to(const char *path, const struct privilege_account *a,
        const char *spec)
{
	char hint[2 * PRIVILEGE_NAME_MAX + 64] = "";
	int e;

	if (chown(path, a->uid, a->gid) == 0)
		return 0;
	e = errno;
	if (e == EPERM && geteuid() != 0 && a->uid != geteuid())
		(void)snprintf(hint, sizeof(hint), " (only root can give a "
		    "file to another user)");
	else if (e == EPERM && geteuid() != 0 && a->group[0] != '\0')
		(void)snprintf(hint, sizeof(hint), " (is %s in %s?)", a->user,
		    a->group);
	fprintf(stderr, "ably-token: --socket-owner: chown %s to %s: %s%s\n",
	    path, spec, strerror(e), hint);
	return -1;
}

/* The socket's directory: made when it is missing (one level, as
 * /run/ably-token is after every boot: its parent must exist), with the
 * socket's owner and a mode that lets in whom the socket's mode lets in.
 * An existing directory is left as it is. 0, or -1 said on stderr. */
static int
ensure_socket_dir(const char *path, mode_t mode,
                  const struct privilege_account *owner, const char *spec)
{
	char dir[sizeof(((struct sockaddr_un *)0)->sun_path)];
	const char *slash = strrchr(path, '/');
	mode_t dmode = 0700;
	struct stat st;

	if (slash == path)
		return 0;  /* directly in / */
	(void)snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);
	if (stat(dir, &st) == 0) {
		if (S_ISDIR(st.st_mode))
			return 0;
		fprintf(stderr, "ably-token: --listen: %s is not a directory\n",
		    dir);
		return -1;
	}
	if (errno != ENOENT) {
		fprintf(stderr, "ably-token: --listen: %s: %s\n", dir,
		    strerror(errno));
		return -1;
	}
	if (mode & 0060)
		dmode |= 0050;
	if (mode & 0006)
		dmode |= 0005;
	if (mkdir(dir, 0700) != 0) {
		fprintf(stderr, "ably-token: --listen: cannot create the "
		    "socket's directory %s: %s (its parent must exist and be "
		    "writable; under systemd, RuntimeDirectory= makes it)\n",
		    dir, strerror(errno));
		return -1;
	}
	if (owner != NULL && give_to(dir, owner, spec) != 0) {
		rmdir(dir);
		return -1;
	}
	if (chmod(dir, dmode) != 0) {
		fprintf(stderr, "ably-token: chmod %s: %s\n", dir,
		    strerror(errno));
		rmdir(dir);
		return -1;
	}
	log_info("created the socket's directory %s (mode %04o)", dir,
	    (unsigned)dmode);
	return 0;
}

int
listen_open(const char *spec, mode_t mode, const char *owner)
{
	int fd = -1;
	const char *bound = NULL;  /* the socket file, once made */

	if (strncmp(spec, "unix:", 5) == 0) {
		struct sockaddr_un sa;
		const char *path = spec + 5;
		struct privilege_account acct;
		struct stat st;
		mode_t old;
		char why[256];

		memset(&sa, 0, sizeof(sa));
		sa.sun_family = AF_UNIX;
		if (path[0] != '/' || strlen(path) >= sizeof(sa.sun_path)) {
			fprintf(stderr, "ably-token: --listen: unix socket path "
			    "must be absolute and shorter than %zu bytes\n",
			    sizeof(sa.sun_path));
			return -1;
		}
		memcpy(sa.sun_path, path, strlen(path) + 1);
		/* The owner first: a name that does not exist must not leave
		 * a directory or a socket behind. */
		if (owner != NULL && privilege_lookup(owner, &acct, why,
		    sizeof(why)) != 0) {
			fprintf(stderr, "ably-token: --socket-owner %s: %s\n",
			    owner, why);
			return -1;
		}
		if (ensure_socket_dir(path, mode, owner ? &acct : NULL,
		    owner) != 0)
			return -1;
		/* Replace a stale socket, but never another kind of file. */
		if (lstat(path, &st) == 0) {
			if (!S_ISSOCK(st.st_mode)) {
				fprintf(stderr, "ably-token: --listen: %s exists "
				    "and is not a socket\n", path);
				return -1;
			}
			unlink(path);
		}
		fd = socket(AF_UNIX, SOCK_STREAM, 0);
		/* Bind with a tight umask so the socket is never briefly open
		 * to everyone, then set the mode asked for. */
		old = umask(0177);
		if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
			umask(old);
			fprintf(stderr, "ably-token: --listen %s: %s\n", spec,
			    strerror(errno));
			goto fail;
		}
		umask(old);
		bound = path;
		if (chmod(path, mode) != 0) {
			fprintf(stderr, "ably-token: chmod %s: %s\n", path,
			    strerror(errno));
			goto fail;
		}
		if (owner != NULL && give_to(path, &acct, owner) != 0)
			goto fail;
	} else {
		struct sockaddr_in sa;
		char host[64];
		const char *colon = strrchr(spec, ':');
		char *end;
		long port;
		int one = 1;

		if (colon == NULL || (size_t)(colon - spec) >= sizeof(host)) {
			fprintf(stderr, "ably-token: --listen: expected "
			    "unix:/path or HOST:PORT (e.g. 127.0.0.1:9000)\n");
			return -1;
		}
		memcpy(host, spec, (size_t)(colon - spec));
		host[colon - spec] = '\0';
		port = strtol(colon + 1, &end, 10);
		memset(&sa, 0, sizeof(sa));
		sa.sin_family = AF_INET;
		sa.sin_port = htons((unsigned short)port);
		if (*end != '\0' || port < 1 || port > 65535 ||
		    inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
			fprintf(stderr, "ably-token: --listen: expected an IPv4 "
			    "address and a port, e.g. 127.0.0.1:9000\n");
			return -1;
		}
		fd = socket(AF_INET, SOCK_STREAM, 0);
		if (fd >= 0)
			setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one,
			    sizeof(one));
		if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
			fprintf(stderr, "ably-token: --listen %s: %s\n", spec,
			    strerror(errno));
			goto fail;
		}
	}
	if (listen(fd, 1024) != 0) {
		fprintf(stderr, "ably-token: listen: %s\n", strerror(errno));
		goto fail;
	}
	return fd;
fail:
	if (fd >= 0)
		close(fd);
	/* Never leave a socket nobody serves. */
	if (bound != NULL)
		unlink(bound);
	return -1;
}

void
listen_close(int fd, const char *spec)
{
	close(fd);
	if (strncmp(spec, "unix:", 5) == 0)
		unlink(spec + 5);
}

int
listen_systemd_socket(void)
{
	const char *pid = getenv("LISTEN_PID"), *fds = getenv("LISTEN_FDS");

	if (pid == NULL || fds == NULL || atol(pid) != (long)getpid() ||
	    atoi(fds) < 1)
		return -1;
	return 3;  /* SD_LISTEN_FDS_START */
}

enum tok_err
listen_web_servers(struct peers *out, struct tok_error *e)
{
	return peers_parse(getenv("FCGI_WEB_SERVER_ADDRS"), out, e);
}

int
listen_is_tcp(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0)
		return 0;
	return ss.ss_family == AF_INET || ss.ss_family == AF_INET6;
}

void
listen_refuse(struct listen_refused *r, int fd,
              const struct sockaddr_storage *peer)
{
	char addr[INET6_ADDRSTRLEN] = "?";
	struct timespec now;
	unsigned long n = 0;

	close(fd);
	clock_gettime(CLOCK_MONOTONIC, &now);
	r->n++;
	if (r->said == 0 || now.tv_sec - r->said >= 60) {
		n = r->n;
		r->n = 0;
		r->said = now.tv_sec;
	}
	if (n == 0)
		return;
	if (peer->ss_family == AF_INET)
		(void)inet_ntop(AF_INET, &((const struct sockaddr_in *)
		    (const void *)peer)->sin_addr, addr, sizeof(addr));
	else if (peer->ss_family == AF_INET6)
		(void)inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)
		    (const void *)peer)->sin6_addr, addr, sizeof(addr));
	log_warn("refused %lu connection%s from addresses not in "
	    "FCGI_WEB_SERVER_ADDRS (the last from %s)", n, n == 1 ? "" : "s",
	    addr);
}
