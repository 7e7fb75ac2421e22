/* main: the command line, start-up, the process model (supervisor and
 * workers) and signals.
 *
 * One binary, three ways to run (README.md, "Deployment"):
 *   - a listening socket handed over on stdin (mod_fcgid, spawn-fcgi) or by
 *     systemd (LISTEN_FDS): serve it;
 *   - --listen unix:PATH|HOST:PORT --workers N: open the socket and pre-fork
 *     N workers, restart any that die, drain and exit on SIGTERM/SIGINT;
 *   - neither: plain CGI, one request from the environment and stdin.
 * The config and key are read before the first accept; each worker's loop
 * is in worker.c, plain CGI in cgi.c, the sockets in listen.c. This is the
 * only file with process-wide state (the signal flag).
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fcgiapp.h>

#include "ably_rest.h"
#include "cgi.h"
#include "cli.h"
#include "config.h"
#include "listen.h"
#include "log.h"
#include "metrics.h"
#include "notify.h"
#include "peers.h"
#include "privilege.h"
#include "signals.h"
#include "supervisor.h"
#include "worker.h"

#define VERSION "0.1.0"
#define MAX_WORKERS 256  /* supervisor.c keeps at most this many */

/* FCGI_WEB_SERVER_ADDRS: who may connect over TCP (peers.h). */
static struct peers web_servers;

static void
usage(FILE *f)
{
	fprintf(f,
"usage: ably-token [--config FILE] [--listen unix:PATH|HOST:PORT]\n"
"                  [--workers N] [--socket-mode MODE]\n"
"                  [--socket-owner U[:G]] [--user U[:G]]\n"
"       ably-token sign|jwt [options]   (see ably-token sign --help)\n"
"       ably-token revoke --client-id ID [options]   (revoke --help)\n"
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
"  --socket-owner U[:G] owner (and group) of a unix socket (and of its\n"
"                       directory, made if missing, e.g. /run/ably-token)\n"
"  --user U[:G]         as root: bind the socket and read the config and\n"
"                       key, then run (supervisor and workers) as user U\n"
"                       (group G, else U's); overrides the user setting.\n"
"                       As root without it, a warning\n"
"  --check-config       load and validate the settings (and look up the\n"
"                       --user account), then exit: the dry run of a\n"
"                       start or of a reload\n"
"  --allow-insecure-config  start even if the config file holding the key\n"
"                       is readable by every user (logged as a warning)\n"
"\n"
"Signals: SIGTERM/SIGINT finish what is held, then exit. SIGHUP (with\n"
"--listen or --workers) reloads: the settings are read again; if they\n"
"are bad the error is logged and the old ones keep serving, else new\n"
"workers start with them and the old ones finish what they hold.\n"
"\n"
"Environment: ABLY_API_KEY (or VITE_ABLY_KEY) holds the key,\n"
"appId.keyId:secret; it overrides the config file's key and key_file\n"
"(a file holding only the key, which keeps it out of the environment).\n"
"ABLY_PREVIOUS_API_KEY: during a key rotation, the key being replaced.\n"
"FCGI_WEB_SERVER_ADDRS: on a TCP socket, the web servers' addresses\n"
"(comma-separated); connections from others are closed.\n"
"Probes: GET health_path (default /healthz) says the process answers;\n"
"GET ready_path (default /readyz) is 200, or 503 with the reason (no key,\n"
"stopping, Ably failing): the one a load balancer should use.\n"
"Metrics: GET metrics_path (default /metrics) answers Prometheus text\n"
"for every worker together; keep it from the world in the web server.\n"
"Exit status: 0 ok, 2 bad usage or settings, 1 could not run.\n");
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

/* What the command line asked for. */
struct options {
	const char *config_path;
	const char *listen_spec;  /* --listen, or NULL */
	const char *owner;        /* --socket-owner, or NULL */
	const char *user;         /* --user, or NULL (the user setting) */
	long workers;             /* 0: not given */
	mode_t mode;
	int check_only;
	unsigned load_flags;
};

/* Load the settings and serve as the options and the environment say:
 * plain CGI, a --listen socket, or a socket handed over. The exit status. */
static int
run(const struct options *o)
{
	struct config cfg;
	char err[512];
	struct tok_error perr;
	int fd, listen_fd = -1, is_cgi, loaded = 0, rc = 2;

	fd = listen_systemd_socket();
	is_cgi = o->listen_spec == NULL && fd < 0 && FCGX_IsCGI();
	if (config_load_ex(&cfg, o->config_path, o->load_flags, err,
	    sizeof(err)) != 0) {
		fprintf(stderr, "ably-token: %s\n", err);
		if (is_cgi && getenv("GATEWAY_INTERFACE") != NULL)
			cgi_answer_misconfigured();
		goto out;
	}
	loaded = 1;
	log_set_level(cfg.log_level);
	if (!is_cgi && listen_web_servers(&web_servers, &perr) != TOK_OK) {
		fprintf(stderr, "ably-token: %s\n", perr.message);
		goto out;
	}
	if (o->check_only && !key_loaded(&cfg.key)) {
		fprintf(stderr, "ably-token: settings are valid, but no key is "
		    "configured (set ABLY_API_KEY or key = ...)\n");
		goto out;
	}
	if (o->check_only) {
		const char *user = o->user != NULL ? o->user : cfg.user;
		struct privilege_account acct;
		char why[300];

		/* The account is part of what a start would need. */
		if (user != NULL && user[0] != '\0' &&
		    privilege_lookup(user, &acct, why, sizeof(why)) != 0) {
			fprintf(stderr, "ably-token: %s %s: %s\n", o->user != NULL ?
			    "--user" : "user =", user, why);
			goto out;
		}
		printf("ok: mode %s, key %s%s%s, client_id %s, ttl %lld ms, "
		    "max_ttl %lld ms", config_mode_name(cfg.mode),
		    cfg.key.name, " from ", cfg.key_source,
		    cfg.client_id ? cfg.client_id : "(anonymous)", cfg.ttl,
		    cfg.max_ttl);
		if (user != NULL && user[0] != '\0')
			printf(", runs as %s (uid %ld, gid %ld)", user,
			    (long)acct.uid, (long)acct.gid);
		printf("\n");
		rc = 0;
		goto out;
	}
	if (is_cgi && getenv("GATEWAY_INTERFACE") == NULL &&
	    getenv("REQUEST_METHOD") == NULL) {
		fprintf(stderr, "ably-token: not started by a web server (no "
		    "socket on stdin, no CGI variables); see --help\n");
		goto out;
	}
	config_warn(&cfg);
	if (ably_rest_global_init() != TOK_OK) {
		fprintf(stderr, "ably-token: cannot initialise libcurl\n");
		rc = 1;
		goto out;
	}
	if (o->listen_spec != NULL) {
		listen_fd = listen_open(o->listen_spec, o->mode, o->owner);
		if (listen_fd < 0)
			goto out;
	}
	/* Root's part is done (socket bound, config and key read). */
	rc = privilege_switch(o->user != NULL ? o->user : cfg.user);
	if (rc != 0) {
		/* A web server running us as CGI gets an answer, not a
		 * broken pipe. */
		if (is_cgi)
			cgi_answer_misconfigured();
		goto out;
	}
	/* Before any fork: the workers share the counters (metrics.h). */
	if (metrics_open(VERSION) != 0)
		log_warn("no shared memory for the metrics: each process "
		    "counts its own");
	if (is_cgi) {
		signals_install_alone();
		rc = cgi_serve(&cfg);
		goto out;
	}
	if (listen_fd >= 0)
		fd = listen_fd;
	else if (fd < 0)
		fd = 0;  /* from mod_fcgid or spawn-fcgi; systemd's is fd 3 */
	if (o->listen_spec != NULL || o->workers > 0) {
		struct supervisor_reload how = { o->config_path, o->load_flags };

		signals_install_supervisor();
		loaded = 0;  /* supervise() owns the config from here */
		rc = supervise(&cfg, &how, fd, o->workers ? (int)o->workers : 2,
		    &web_servers);
	} else {
		/* One process alone: its process manager restarts it. */
		signals_install_alone();
		(void)notify_ready("serving as one process");
		rc = worker_run(&cfg, fd, &web_servers, &signals_stop);
	}
out:
	if (listen_fd >= 0)
		listen_close(listen_fd, o->listen_spec);
	if (loaded)
		config_free(&cfg);
	return rc;
}

int
main(int argc, char **argv)
{
	enum { O_CONFIG = 1, O_LISTEN, O_WORKERS, O_THREADS, O_SOCKET_MODE,
	    O_SOCKET_OWNER, O_CHECK, O_INSECURE, O_HELP, O_VERSION,
	    O_USER };
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, O_CONFIG },
		{ "listen", required_argument, NULL, O_LISTEN },
		{ "workers", required_argument, NULL, O_WORKERS },
		{ "threads", required_argument, NULL, O_THREADS },
		{ "socket-mode", required_argument, NULL, O_SOCKET_MODE },
		{ "socket-owner", required_argument, NULL, O_SOCKET_OWNER },
		{ "user", required_argument, NULL, O_USER },
		{ "check-config", no_argument, NULL, O_CHECK },
		{ "allow-insecure-config", no_argument, NULL, O_INSECURE },
		{ "help", no_argument, NULL, O_HELP },
		{ "version", no_argument, NULL, O_VERSION },
		{ NULL, 0, NULL, 0 },
	};
	struct options o = { .mode = 0660 };
	char *end;
	int c;

	if (argc > 1 && (strcmp(argv[1], "sign") == 0 ||
	    strcmp(argv[1], "jwt") == 0 || strcmp(argv[1], "revoke") == 0))
		return cli_main(argc - 1, argv + 1);
	o.config_path = getenv("ABLY_TOKEN_CONF");
	if (o.config_path != NULL && o.config_path[0] == '\0')
		o.config_path = NULL;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case O_CONFIG: o.config_path = optarg; break;
		case O_LISTEN: o.listen_spec = optarg; break;
		case O_WORKERS:
			o.workers = parse_count("--workers", optarg,
			    MAX_WORKERS);
			if (o.workers < 0)
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
			o.mode = (mode_t)strtol(optarg, &end, 8);
			if (*end != '\0' || o.mode > 0777) {
				fprintf(stderr, "ably-token: --socket-mode: "
				    "expected octal like 0660\n");
				return 2;
			}
			break;
		case O_SOCKET_OWNER: o.owner = optarg; break;
		case O_USER: o.user = optarg; break;
		case O_CHECK: o.check_only = 1; break;
		case O_INSECURE: o.load_flags |= CONFIG_ALLOW_INSECURE; break;
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
	return run(&o);
}
