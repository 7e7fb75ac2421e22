/* signals: what a signal asks of this process, as flags the handlers set
 * and the loops read. The handlers only store into lock-free atomics, so
 * they are safe whatever they interrupt.
 *
 *   supervisor  SIGTERM/SIGINT: stop (drain, then exit); SIGHUP: reload.
 *   worker      SIGTERM/SIGINT: stop (not ready any more, drain, exit);
 *               SIGHUP: retire (a reload replaced it: drain and exit while
 *               the new workers serve, still ready).
 *   alone       (a socket handed over without --workers, mod_fcgid):
 *               SIGTERM/SIGINT: stop; SIGHUP ignored (the process manager
 *               starts new processes to take new settings).
 * SIGPIPE is ignored everywhere: a vanished peer is an error value.
 */
#ifndef TOK_SIGNALS_H
#define TOK_SIGNALS_H

#include <stdatomic.h>

/* Bits of signals_stop. */
#define SIGNALS_STOP 1u    /* shutting down */
#define SIGNALS_RETIRE 2u  /* replaced by a reload */

/* Set by the handlers; cleared by whoever acts on them. */
extern atomic_uint signals_stop;
extern atomic_int signals_reload;

/* No SA_RESTART: a blocked epoll_pwait() or waitpid() returns on the
 * signal instead of holding it until the next event. */
void signals_install_supervisor(void);
void signals_install_worker(void);
void signals_install_alone(void);

#endif
