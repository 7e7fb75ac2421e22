/* supervisor: the worker processes, their restarts, reloads and the stop
 * (see supervisor.h).
 *
 * Every worker the supervisor forked is a kid with the generation of the
 * configuration it serves. Kids of the current generation are kept at n
 * (one that dies is replaced); kids of an older one are retiring: they
 * were sent SIGHUP and are reaped when they exit, never replaced.
 */
#include "supervisor.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "metrics.h"
#include "notify.h"
#include "signals.h"
#include "worker.h"

/* Workers of one generation; the table also holds retiring ones. */
#define SUPERVISOR_MAX_WORKERS 256
#define MAX_KIDS (4 * SUPERVISOR_MAX_WORKERS)

struct kid {
	pid_t pid;       /* 0: a free entry */
	time_t born;
	unsigned gen;
};

struct supervisor {
	struct config *cfg;       /* the current generation's */
	const struct supervisor_reload *how;
	const struct peers *peers;
	int fd, n;
	unsigned gen;             /* the current generation, from 1 */
	struct kid kids[MAX_KIDS];
	int nkids;                /* entries in use */
};

/* Block the signals a worker acts on across fork(), so that one sent to a
 * new worker before it has its own handlers is held, not taken by the
 * supervisor's handler (a retire would be lost). */
static void
block_signals(sigset_t *old)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigprocmask(SIG_BLOCK, &set, old);
}

/* Fork one worker serving cfg, of the current generation, into a free
 * entry; its pid, or -1 (logged). */
static pid_t
spawn(struct supervisor *sv, struct config *cfg)
{
	sigset_t old;
	pid_t pid;
	int i;

	for (i = 0; i < MAX_KIDS && sv->kids[i].pid != 0; i++)
		;
	if (i == MAX_KIDS) {
		log_err("too many workers still finishing; not starting one");
		return -1;
	}
	block_signals(&old);
	pid = fork();
	if (pid == 0) {
		int rc;

		signals_stop = 0;
		signals_install_worker();
		sigprocmask(SIG_SETMASK, &old, NULL);
		rc = worker_run(cfg, sv->fd, sv->peers, &signals_stop);
		/* This process's copy of the config (and of the key in it). */
		config_free(cfg);
		_exit(rc);
	}
	sigprocmask(SIG_SETMASK, &old, NULL);
	if (pid < 0) {
		log_err("fork failed: %s", strerror(errno));
		return -1;
	}
	sv->kids[i].pid = pid;
	sv->kids[i].born = time(NULL);
	sv->kids[i].gen = sv->gen;
	sv->nkids++;
	return pid;
}

/* Workers of generation gen running. */
static int
count_gen(const struct supervisor *sv, unsigned gen)
{
	int i, k = 0;

	for (i = 0; i < MAX_KIDS; i++)
		k += sv->kids[i].pid != 0 && sv->kids[i].gen == gen;
	return k;
}

static void
signal_kids(struct supervisor *sv, int sig, int only_older)
{
	int i;

	for (i = 0; i < MAX_KIDS; i++)
		if (sv->kids[i].pid != 0 &&
		    (!only_older || sv->kids[i].gen != sv->gen))
			kill(sv->kids[i].pid, sig);
}

static void
say_ready(const struct supervisor *sv)
{
	char status[160];

	(void)snprintf(status, sizeof(status), "serving with %d workers, "
	    "mode %s, configuration generation %u", sv->n,
	    config_mode_name(sv->cfg->mode), sv->gen);
	if (notify_ready(status) != 0)
		log_warn("cannot notify the service manager: %s",
		    strerror(errno));
}

/* SIGHUP: read everything again; start workers with it and retire the
 * old ones, or keep serving as before and say why not. */
static void
reload(struct supervisor *sv)
{
	struct config next;
	struct config *cur = sv->cfg;
	char err[512];
	int started = 0, i, old;

	(void)notify_reloading();
	log_info("reloading the configuration (SIGHUP)");
	if (config_load_ex(&next, sv->how->config_path, sv->how->load_flags,
	    err, sizeof(err)) != 0) {
		log_err("reload refused, still serving configuration "
		    "generation %u: %s", sv->gen, err);
		metrics_reload(0);
		say_ready(sv);
		return;
	}
	config_warn(&next);
	/* The switch to the service user happened once, at start-up. */
	if ((cur->user == NULL) != (next.user == NULL) ||
	    (cur->user != NULL && strcmp(cur->user, next.user) != 0))
		log_warn("the user setting changed, but a reload cannot "
		    "change the account the service runs as (still %s): "
		    "restart for that", cur->user ? cur->user : "as started");
	old = count_gen(sv, sv->gen);
	sv->gen++;
	log_set_level(next.log_level);
	for (i = 0; i < sv->n; i++)
		started += spawn(sv, &next) > 0;
	if (started == 0) {
		/* Nothing serves the new settings: keep the old workers. */
		sv->gen--;
		log_set_level(cur->log_level);
		log_set_format(cur->log_format);
		config_free(&next);
		log_err("reload failed: no worker could be started; still "
		    "serving configuration generation %u", sv->gen);
		metrics_reload(0);
		say_ready(sv);
		return;
	}
	signal_kids(sv, SIGHUP, 1);
	/* The new workers hold their own copies; the running config lives
	 * where the caller put it, for restarts and the next reload. */
	config_free(cur);
	*cur = next;
	log_info("reloaded: configuration generation %u, mode %s, %d "
	    "workers; %d old workers finish what they hold", sv->gen,
	    config_mode_name(sv->cfg->mode), started, old);
	metrics_reload(1);
	metrics_set_generation(sv->gen);
	say_ready(sv);
}

/* A kid exited: forget it, and replace it if it was a current worker. */
static void
reaped(struct supervisor *sv, pid_t pid, int status)
{
	int i;
	time_t born;

	for (i = 0; i < MAX_KIDS && sv->kids[i].pid != pid; i++)
		;
	if (i == MAX_KIDS)
		return;
	sv->kids[i].pid = 0;
	sv->nkids--;
	if (sv->kids[i].gen != sv->gen) {
		log_info("worker %ld of configuration generation %u finished",
		    (long)pid, sv->kids[i].gen);
		return;
	}
	if (signals_stop)
		return;
	if (WIFSIGNALED(status))
		log_err("worker %ld killed by signal %d; restarting",
		    (long)pid, WTERMSIG(status));
	else
		log_warn("worker %ld exited with %d; restarting",
		    (long)pid, WEXITSTATUS(status));
	/* A worker that dies at once would otherwise spin. */
	born = sv->kids[i].born;
	if (time(NULL) - born < 1)
		sleep(1);
	metrics_worker_restarted();
	(void)spawn(sv, sv->cfg);
}

int
supervise(struct config *cfg, const struct supervisor_reload *how,
          int listen_fd, int n, const struct peers *peers)
{
	static struct supervisor sv;  /* the kids' table: 16 KiB, not stack */
	int i;

	memset(&sv, 0, sizeof(sv));
	sv.cfg = cfg;
	sv.how = how;
	sv.peers = peers;
	sv.fd = listen_fd;
	sv.n = n > SUPERVISOR_MAX_WORKERS ? SUPERVISOR_MAX_WORKERS : n;
	sv.gen = 1;
	for (i = 0; i < sv.n; i++)
		(void)spawn(&sv, sv.cfg);
	log_info("serving with %d workers (mode %s)", sv.n,
	    config_mode_name(cfg->mode));
	say_ready(&sv);
	while (!signals_stop) {
		int status;
		pid_t pid;

		if (signals_reload) {
			signals_reload = 0;
			reload(&sv);
			continue;
		}
		pid = waitpid(-1, &status, 0);
		if (pid < 0) {
			if (errno == EINTR)
				continue;
			if (errno == ECHILD && sv.nkids == 0) {
				/* Nothing to wait for (every fork failed):
				 * try again rather than spin. */
				sleep(1);
				for (i = 0; i < sv.n; i++)
					(void)spawn(&sv, sv.cfg);
				continue;
			}
			log_err("waitpid: %s", strerror(errno));
			break;
		}
		reaped(&sv, pid, status);
	}
	/* Drain: each worker answers the requests it holds (those waiting on
	 * Ably too), then exits. */
	(void)notify_stopping();
	signal_kids(&sv, SIGTERM, 0);
	while (sv.nkids > 0) {
		pid_t pid = waitpid(-1, NULL, 0);

		if (pid < 0 && errno != EINTR)
			break;
		for (i = 0; pid > 0 && i < MAX_KIDS; i++)
			if (sv.kids[i].pid == pid) {
				sv.kids[i].pid = 0;
				sv.nkids--;
			}
	}
	config_free(sv.cfg);
	log_info("stopped");
	return 0;
}
