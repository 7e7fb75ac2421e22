/* supervisor: keep N worker processes serving one listening socket, and
 * change their settings without losing a request.
 *
 * The supervisor forks the workers, starts a new one for any that dies,
 * and on SIGTERM/SIGINT lets each finish what it holds, then exits. On
 * SIGHUP it reloads: it reads and checks the whole configuration again
 * (file, environment, key, rules) into a new config, touching nothing
 * that runs; if that fails it logs why and goes on serving with the old
 * one. Otherwise it forks N workers with the new config on the same
 * socket, then tells the old ones to retire: they stop accepting, answer
 * what they hold (requests being read, requests waiting on Ably), close
 * their kept connections once idle, and exit. It speaks systemd's
 * notification protocol throughout (notify.h).
 */
#ifndef TOK_SUPERVISOR_H
#define TOK_SUPERVISOR_H

#include "config.h"
#include "peers.h"

/* How the configuration is read again on SIGHUP: what the start did. */
struct supervisor_reload {
	const char *config_path;  /* NULL: built-in defaults and environment */
	unsigned load_flags;      /* config_load_ex() flags */
};

/* Serve listen_fd with n workers until SIGTERM/SIGINT (signals.h; the
 * caller installs signals_install_supervisor()). *cfg is the running
 * configuration: the supervisor owns it from here, replaces it on each
 * good reload, and frees it (wiping the key) before returning. peers
 * (borrowed) are the web servers allowed on a TCP socket. Returns the
 * exit status (0 after a stop). */
int supervise(struct config *cfg, const struct supervisor_reload *how,
              int listen_fd, int n, const struct peers *peers);

#endif
