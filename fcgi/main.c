/* main: start-up, the process model (supervisor and workers) and signals.
 *
 * One binary, three ways to run (README.md, "Deployment"):
 *   - a listening socket handed over on stdin (mod_fcgid, spawn-fcgi) or by
 *     systemd (LISTEN_FDS): serve it;
 *   - --listen unix:PATH|HOST:PORT --workers N: open the socket and pre-fork
 *     N workers, restart any that die, drain and exit on SIGTERM/SIGINT;
 *   - neither: plain CGI, one request from the environment and stdin.
 * The config and key are read before the first accept; each worker's loop
 * is in worker.c. This is the only file with process-wide state (the
 * signal flag).
 */
#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <pwd.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <fcgiapp.h>

#include "ably_rest.h"
#include "cli.h"
#include "config.h"
#include "endpoint.h"
#include "log.h"
#include "peers.h"
#include "upstream.h"
#include "worker.h"

#define VERSION "0.1.0"
#define MAX_WORKERS 256

/* Set by SIGTERM/SIGINT in whichever thread takes it, read by all: an
 * atomic (lock-free, so safe in a handler), not just volatile. */
static atomic_int stop_requested;
/* FCGI_WEB_SERVER_ADDRS: who may connect over TCP (peers.h). */
static struct peers web_servers;

static void
on_stop(int sig)
{
	(void)sig;
	stop_requested = 1;
}

/* No SA_RESTART: a blocked epoll_pwait() or waitpid() must return on SIGTERM
 * instead of holding it until the next request arrives. */
static void
install_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);  /* a vanished peer is an error value */
}

static void
usage(FILE *f)
{
	fprintf(f,
"usage: ably-token [--config FILE] [--listen unix:PATH|HOST:PORT]\n"
"                  [--workers N] [--socket-mode MODE]\n"
"                  [--socket-owner U[:G]]\n"
"       ably-token sign|jwt [options]   (see ably-token sign --help)\n"
"       ably-token --check-config | --help | --version\n"
"\n"
"An Ably token endpoint for nginx, Apache or CGI hosting: answers\n"
"ably-js authUrl requests with a token fetched from Ably (mode token,\n"
"the default), a signed TokenRequest or an Ably JWT, without the API\n"
"key ever leaving the server.\n"
"\n"
"How it runs:\n"
"  --listen ADDR     open ADDR (unix:/run/ably-token.sock or 127.0.0.1:9000)\n"
"                    and serve it with --workers pre-forked processes\n"
"  (stdin a socket)  serve the FastCGI socket on stdin (mod_fcgid,\n"
"                    spawn-fcgi) or from systemd (LISTEN_FDS)\n"
"  (otherwise)       answer one request as a plain CGI program\n"
"\n"
"Options:\n"
"  --config FILE        settings file (default: $ABLY_TOKEN_CONF, else\n"
"                       built-in defaults); see conf/ably-token.conf\n"
"  --workers N          worker processes (default 2 with --listen); each\n"
"                       serves every connection and every call to Ably\n"
"                       from one event loop: one per CPU core is plenty\n"
"  --socket-mode MODE   octal mode of a unix socket (default 0660)\n"
"  --socket-owner U[:G] owner (and group) of a unix socket\n"
"  --check-config       load and validate the settings, then exit\n"
"  --allow-insecure-config  start even if the config file holding the key\n"
"                       is readable by every user (logged as a warning)\n"
"\n"
"Environment: ABLY_API_KEY (or VITE_ABLY_KEY) holds the key,\n"
"appId.keyId:secret; it overrides the config file's key.\n"
"FCGI_WEB_SERVER_ADDRS: on a TCP socket, the web servers' addresses\n"
"(comma-separated); connections from others are closed.\n"
"Exit status: 0 ok, 2 bad usage or settings, 1 could not run.\n");
}

/* A CGI request: how much of stdin was read, and a body read ahead when
 * the server gave no CONTENT_LENGTH (see cgi_read_ahead). */
struct cgi_ctx {
	unsigned long long consumed;
	char *body;
	size_t body_len, body_off;
	char body_cl[24];
};

static const char *
cgi_param(void *ctx, const char *name)
{
	struct cgi_ctx *cx = ctx;

	if (cx->body != NULL && strcmp(name, "CONTENT_LENGTH") == 0)
		return cx->body_cl;
	return getenv(name);
}

static long
cgi_read(void *ctx, char *buf, size_t n)
{
	struct cgi_ctx *cx = ctx;
	size_t got;

	if (cx->body != NULL) {
		got = cx->body_len - cx->body_off;
		if (got > n)
			got = n;
		memcpy(buf, cx->body + cx->body_off, got);
		cx->body_off += got;
		return (long)got;
	}
	got = fread(buf, 1, n, stdin);
	cx->consumed += got;
	return ferror(stdin) ? -1 : (long)got;
}

/* A body-carrying method, a body on stdin and no CONTENT_LENGTH to say how
 * long it is: Apache sends a chunked request body to a CGI program this way
 * and closes stdin after it. Read it to EOF, at most max_body + 1 bytes (one
 * more than allowed, so the endpoint answers 413), and present it with its
 * length, as nginx and mod_fcgid do. Never from a terminal. */
static int
cgi_read_ahead(struct cgi_ctx *cx, size_t max_body)
{
	const char *cl = getenv("CONTENT_LENGTH");
	const char *method = getenv("REQUEST_METHOD");
	size_t cap = max_body + 1;

	if ((cl != NULL && cl[0] != '\0') || method == NULL ||
	    strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0 ||
	    strcmp(method, "OPTIONS") == 0 || isatty(0))
		return 0;
	cx->body = malloc(cap);
	if (cx->body == NULL)
		return -1;
	while (cx->body_len < cap) {
		size_t got = fread(cx->body + cx->body_len, 1,
		    cap - cx->body_len, stdin);

		if (got == 0)
			break;
		cx->body_len += got;
	}
	cx->consumed = cx->body_len;
	(void)snprintf(cx->body_cl, sizeof(cx->body_cl), "%zu", cx->body_len);
	return ferror(stdin) ? -1 : 0;
}

/* After the answer: read and drop what is left of the request body (the
 * endpoint stops reading when it refuses one), at most CGI_DRAIN_MAX bytes
 * and never past CONTENT_LENGTH. Exiting with unread input makes the kernel
 * reset the web server's connection to us, and Apache's mod_cgid then loses
 * the answer already written: the client saw a connection reset instead of
 * the 413. Apache passes a chunked body without CONTENT_LENGTH and closes
 * our stdin after it, so a POST without one is read to EOF (never from a
 * terminal, where that would wait for the user). */
#define CGI_DRAIN_MAX (1024 * 1024)

static void
cgi_drain(const struct cgi_ctx *cx)
{
	const char *cl = getenv("CONTENT_LENGTH");
	const char *method = getenv("REQUEST_METHOD");
	unsigned long long want, left;
	char junk[4096], *end;

	if (cl == NULL || cl[0] == '\0') {
		if (method == NULL || strcmp(method, "GET") == 0 ||
		    strcmp(method, "HEAD") == 0 ||
		    strcmp(method, "OPTIONS") == 0 || isatty(0))
			return;
		want = cx->consumed + CGI_DRAIN_MAX;
	} else {
		if (cl[0] < '0' || cl[0] > '9')
			return;
		errno = 0;
		want = strtoull(cl, &end, 10);
		if (errno != 0 || *end != '\0')
			return;
	}
	if (want <= cx->consumed)
		return;
	left = want - cx->consumed;
	if (left > CGI_DRAIN_MAX)
		left = CGI_DRAIN_MAX;
	while (left > 0) {
		size_t got = fread(junk, 1, left < sizeof(junk) ?
		    (size_t)left : sizeof(junk), stdin);

		if (got == 0)
			break;
		left -= got;
	}
}

static int
serve_cgi(const struct config *cfg)
{
	struct endpoint ep;
	struct buf out;
	struct cgi_ctx cx = { 0 };
	struct req_source src = { cgi_param, cgi_read, &cx };
	struct upstream *up = NULL;
	struct tok_error e;
	int rc = 0;

	if (cgi_read_ahead(&cx, cfg->max_body) != 0)
		log_warn("could not read the request body");

	endpoint_init(&ep, cfg);
	/* One request: the same asynchronous client, on an event loop of its
	 * own that runs until this answer is there. */
	if (cfg->mode == MODE_TOKEN &&
	    (upstream_new(-1, cfg->upstream_connections, &up) != TOK_OK ||
	    ably_rest_new(cfg, up, &ep.rest, &e) != TOK_OK))
		log_err("cannot set up the client for Ably");  /* a 500 */
	buf_init(&out, ENDPOINT_ANSWER_MAX);
	endpoint_handle(&ep, &src, &out);
	ably_rest_free(ep.rest);
	upstream_free(up);
	if (fwrite(out.data, 1, out.len, stdout) != out.len ||
	    fflush(stdout) != 0)
		rc = 1;
	cgi_drain(&cx);
	free(cx.body);
	buf_free(&out);
	return rc;
}

/* Parse "unix:PATH" or "HOST:PORT" and return a listening socket. */
static int
open_listener(const char *spec, mode_t mode, const char *owner)
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

static pid_t
spawn_worker(const struct config *cfg, int fd)
{
	pid_t pid = fork();

	if (pid == 0) {
		int rc = worker_run(cfg, fd, &web_servers, &stop_requested);

		/* The config (and the key in it) is freed by the exit path
		 * of the parent's copy; wipe this process's copy too. */
		config_free((struct config *)cfg);
		_exit(rc);
	}
	if (pid < 0)
		log_err("fork failed: %s", strerror(errno));
	return pid;
}

/* Pre-fork n workers on fd, keep n running, stop them on SIGTERM. */
static int
supervise(const struct config *cfg, int fd, int n)
{
	pid_t pids[MAX_WORKERS];
	time_t born[MAX_WORKERS];
	int i, alive = 0;

	for (i = 0; i < n; i++) {
		pids[i] = spawn_worker(cfg, fd);
		born[i] = time(NULL);
		alive += pids[i] > 0;
	}
	log_info("serving with %d workers (mode %s)", n,
	    config_mode_name(cfg->mode));
	while (!stop_requested) {
		int status;
		pid_t pid = waitpid(-1, &status, 0);

		if (pid < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		for (i = 0; i < n && pids[i] != pid; i++)
			;
		if (i == n)
			continue;
		alive--;
		pids[i] = -1;
		if (stop_requested)
			break;
		if (WIFSIGNALED(status))
			log_err("worker %ld killed by signal %d; restarting",
			    (long)pid, WTERMSIG(status));
		else
			log_warn("worker %ld exited with %d; restarting",
			    (long)pid, WEXITSTATUS(status));
		/* A worker that dies at once would otherwise spin. */
		if (time(NULL) - born[i] < 1)
			sleep(1);
		pids[i] = spawn_worker(cfg, fd);
		born[i] = time(NULL);
		alive += pids[i] > 0;
	}
	/* Drain: each worker answers the requests it holds (those waiting on
	 * Ably too), then exits. */
	for (i = 0; i < n; i++)
		if (pids[i] > 0)
			kill(pids[i], SIGTERM);
	while (alive > 0) {
		pid_t pid = waitpid(-1, NULL, 0);

		if (pid < 0 && errno != EINTR)
			break;
		if (pid > 0)
			alive--;
	}
	log_info("stopped");
	return 0;
}

/* A count option's value, 1..max; -1 (said on stderr) if it is not one. */
static long
parse_count(const char *option, const char *value, long max)
{
	char *end;
	long n = strtol(value, &end, 10);

	if (end == value || *end != '\0' || n < 1 || n > max) {
		fprintf(stderr, "ably-token: %s: expected 1..%ld\n", option, max);
		return -1;
	}
	return n;
}

/* The socket systemd passed, or -1. */
static int
systemd_socket(void)
{
	const char *pid = getenv("LISTEN_PID"), *fds = getenv("LISTEN_FDS");

	if (pid == NULL || fds == NULL || atol(pid) != (long)getpid() ||
	    atoi(fds) < 1)
		return -1;
	return 3;  /* SD_LISTEN_FDS_START */
}

int
main(int argc, char **argv)
{
	enum { O_CONFIG = 1, O_LISTEN, O_WORKERS, O_THREADS, O_SOCKET_MODE,
	    O_SOCKET_OWNER, O_CHECK, O_INSECURE, O_HELP, O_VERSION };
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, O_CONFIG },
		{ "listen", required_argument, NULL, O_LISTEN },
		{ "workers", required_argument, NULL, O_WORKERS },
		{ "threads", required_argument, NULL, O_THREADS },
		{ "socket-mode", required_argument, NULL, O_SOCKET_MODE },
		{ "socket-owner", required_argument, NULL, O_SOCKET_OWNER },
		{ "check-config", no_argument, NULL, O_CHECK },
		{ "allow-insecure-config", no_argument, NULL, O_INSECURE },
		{ "help", no_argument, NULL, O_HELP },
		{ "version", no_argument, NULL, O_VERSION },
		{ NULL, 0, NULL, 0 },
	};
	const char *config_path = getenv("ABLY_TOKEN_CONF");
	const char *listen_spec = NULL, *owner = NULL;
	long workers = 0;
	mode_t mode = 0660;
	struct config cfg;
	char err[512], *end;
	struct tok_error perr;
	int c, fd, rc, is_cgi, check_only = 0;
	unsigned load_flags = 0;

	if (argc > 1 && (strcmp(argv[1], "sign") == 0 ||
	    strcmp(argv[1], "jwt") == 0))
		return cli_main(argc - 1, argv + 1);
	if (config_path != NULL && config_path[0] == '\0')
		config_path = NULL;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case O_CONFIG: config_path = optarg; break;
		case O_LISTEN: listen_spec = optarg; break;
		case O_WORKERS:
			workers = parse_count("--workers", optarg, MAX_WORKERS);
			if (workers < 0)
				return 2;
			break;
		case O_THREADS:
			/* Threads waited on Ably; the event loop needs none. */
			if (strcmp(optarg, "1") != 0) {
				fprintf(stderr, "ably-token: --threads is gone: "
				    "each worker serves every request from one "
				    "event loop, calls to Ably included; use "
				    "--workers N (one per CPU core) instead\n");
				return 2;
			}
			break;
		case O_SOCKET_MODE:
			mode = (mode_t)strtol(optarg, &end, 8);
			if (*end != '\0' || mode > 0777) {
				fprintf(stderr, "ably-token: --socket-mode: "
				    "expected octal like 0660\n");
				return 2;
			}
			break;
		case O_SOCKET_OWNER: owner = optarg; break;
		case O_CHECK: check_only = 1; break;
		case O_INSECURE: load_flags |= CONFIG_ALLOW_INSECURE; break;
		case O_HELP: usage(stdout); return 0;
		case O_VERSION: printf("ably-token %s\n", VERSION); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "ably-token: unexpected argument '%s'\n",
		    argv[optind]);
		usage(stderr);
		return 2;
	}
	fd = systemd_socket();
	is_cgi = listen_spec == NULL && fd < 0 && FCGX_IsCGI();
	if (config_load_ex(&cfg, config_path, load_flags, err, sizeof(err))
	    != 0) {
		fprintf(stderr, "ably-token: %s\n", err);
		if (is_cgi && getenv("GATEWAY_INTERFACE") != NULL) {
			struct cgi_ctx unread = { 0 };

			fputs("Status: 500 Internal Server Error\r\n"
			    "Content-Type: application/json\r\n"
			    "Cache-Control: no-store\r\n"
			    "X-Ably-ErrorCode: 50000\r\n"
			    "X-Ably-ErrorMessage: token endpoint misconfigured"
			    "\r\n\r\n{\"error\":{\"message\":\"token endpoint "
			    "misconfigured\",\"code\":50000,\"statusCode\":500,"
			    "\"href\":\"https://help.ably.io/error/50000\"}}",
			    stdout);
			fflush(stdout);
			cgi_drain(&unread);
		}
		return 2;
	}
	log_set_level(cfg.log_level);
	if (!is_cgi && peers_parse(getenv("FCGI_WEB_SERVER_ADDRS"),
	    &web_servers, &perr) != TOK_OK) {
		fprintf(stderr, "ably-token: %s\n", perr.message);
		config_free(&cfg);
		return 2;
	}
	if (check_only && !key_loaded(&cfg.key)) {
		fprintf(stderr, "ably-token: settings are valid, but no key is "
		    "configured (set ABLY_API_KEY or key = ...)\n");
		config_free(&cfg);
		return 2;
	}
	if (check_only) {
		printf("ok: mode %s, key %s%s%s, client_id %s, ttl %lld ms, "
		    "max_ttl %lld ms\n", config_mode_name(cfg.mode),
		    cfg.key.name, " from ", cfg.key_source,
		    cfg.client_id ? cfg.client_id : "(anonymous)", cfg.ttl,
		    cfg.max_ttl);
		config_free(&cfg);
		return 0;
	}
	if (is_cgi && getenv("GATEWAY_INTERFACE") == NULL &&
	    getenv("REQUEST_METHOD") == NULL) {
		fprintf(stderr, "ably-token: not started by a web server (no "
		    "socket on stdin, no CGI variables); see --help\n");
		config_free(&cfg);
		return 2;
	}
	if (!key_loaded(&cfg.key))
		log_warn("no Ably key configured (ABLY_API_KEY or key = ...): "
		    "every token request will be answered with a 500 error");
	if (ably_rest_global_init() != TOK_OK) {
		fprintf(stderr, "ably-token: cannot initialise libcurl\n");
		config_free(&cfg);
		return 1;
	}
	install_signals();
	if (is_cgi) {
		rc = serve_cgi(&cfg);
	} else if (listen_spec != NULL) {
		fd = open_listener(listen_spec, mode, owner);
		if (fd < 0) {
			config_free(&cfg);
			return 2;
		}
		rc = supervise(&cfg, fd, workers ? (int)workers : 2);
		close(fd);
		if (strncmp(listen_spec, "unix:", 5) == 0)
			unlink(listen_spec + 5);
	} else {
		/* Socket from mod_fcgid/spawn-fcgi (fd 0) or systemd (fd 3). */
		if (fd < 0)
			fd = 0;
		rc = workers > 0 ? supervise(&cfg, fd, (int)workers) :
		    worker_run(&cfg, fd, &web_servers, &stop_requested);
	}
	config_free(&cfg);
	return rc;
}
