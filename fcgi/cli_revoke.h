/* cli_revoke: the command-line face of `ably-token revoke`: its options,
 * the configuration it loads (as the server does), one line per target or
 * Ably's answer as JSON, and the exit code. The call itself is revoke.h's.
 */
#ifndef TOK_CLI_REVOKE_H
#define TOK_CLI_REVOKE_H

/* argv[0] is "revoke". Returns the exit code: 0 every target revoked, 1
 * Ably refused (the request or a target) or could not be reached, 2 bad
 * usage or configuration. */
int cli_revoke_main(int argc, char **argv);

#endif
