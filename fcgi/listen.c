/* listen: the sockets the workers serve: a --listen socket opened here,
 * one systemd passed, and which web servers may connect over TCP (and the
 * refusal of the others). */
#include "listen.h"

#include <errno.h>
#include <grp.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

int
listen_open(const char *spec, mode_t mode, const char *owner)
{
	int fd = -1;

	if (strncmp(spec, "unix:", 5) == 0) {
		struct sockaddr_un sa;
		const char *path = spec + 5;
		struct stat st;
		mode_t old;

		memset(&sa, 0, sizeof(sa));
		sa.sun_family = AF_UNIX;
		if (path[0] != '/' || strlen(path) >= sizeof(sa.sun_path)) {
			fprintf(stderr, "ably-token: --listen: unix socket path "
			    "must be absolute and shorter than %zu bytes\n",
			    sizeof(sa.sun_path));
			return -1;
		}
		memcpy(sa.sun_path, path, strlen(path) + 1);
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
		if (chmod(path, mode) != 0) {
			fprintf(stderr, "ably-token: chmod %s: %s\n", path,
			    strerror(errno));
			goto fail;
		}
		if (owner != NULL) {
			char user[128], *group;
			struct passwd *pw;
			struct group *gr = NULL;

			(void)snprintf(user, sizeof(user), "%s", owner);
			group = strchr(user, ':');
			if (group != NULL)
				*group++ = '\0';
			pw = getpwnam(user);
			if (group != NULL)
				gr = getgrnam(group);
			if (pw == NULL || (group != NULL && gr == NULL) ||
			    chown(path, pw->pw_uid, gr ? gr->gr_gid :
			    pw->pw_gid) != 0) {
				fprintf(stderr, "ably-token: --socket-owner %s: "
				    "unknown user/group or chown failed\n",
				    owner);
				goto fail;
			}
		}
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
