/* notify: tell the service manager how the service is doing, through
 * systemd's notification protocol (sd_notify(3)): one datagram of
 * "NAME=value" lines to the unix socket named by $NOTIFY_SOCKET.
 *
 * Written here instead of linking libsystemd, so that the static build
 * needs nothing at run time and a host without systemd loses nothing:
 * with $NOTIFY_SOCKET unset every call does nothing. Errors are not
 * fatal (the service manager may be gone while we drain); they are
 * returned for the caller to log.
 */
#ifndef TOK_NOTIFY_H
#define TOK_NOTIFY_H

/* Send the text (e.g. "READY=1\nSTATUS=serving") to $NOTIFY_SOCKET. 0 when
 * sent or when there is no socket to send to, -1 with errno otherwise. */
int notify_send(const char *text);

/* notify_send of "READY=1" plus a STATUS= line from status. */
int notify_ready(const char *status);

/* notify_send of "RELOADING=1" with MONOTONIC_USEC= (systemd asks for the
 * time the reload started, CLOCK_MONOTONIC, so it can tell reloads
 * apart). */
int notify_reloading(void);

/* notify_send of "STOPPING=1". */
int notify_stopping(void);

#endif
