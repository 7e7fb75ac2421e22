/* signals: the handlers and the flags they set (see signals.h). */
#include "signals.h"

#include <signal.h>
#include <string.h>

atomic_uint signals_stop;
atomic_int signals_reload;

static void
on_stop(int sig)
{
	(void)sig;
	atomic_fetch_or(&signals_stop, SIGNALS_STOP);
}

static void
on_retire(int sig)
{
	(void)sig;
	atomic_fetch_or(&signals_stop, SIGNALS_RETIRE);
}

static void
on_reload(int sig)
{
	(void)sig;
	signals_reload = 1;
}

static void
install(void (*hup)(int))
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = on_stop;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sa.sa_handler = hup != NULL ? hup : SIG_IGN;
	sigaction(SIGHUP, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
}

void
signals_install_supervisor(void)
{
	install(on_reload);
}

void
signals_install_worker(void)
{
	install(on_retire);
}

void
signals_install_alone(void)
{
	install(NULL);
}
