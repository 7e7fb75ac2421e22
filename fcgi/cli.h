/* cli: the command-line face, `ably-token sign` and `ably-token jwt`.
 *
 * Prints on stdout exactly the document the endpoint would answer for the
 * given TokenParams (one TokenRequest JSON, or one JWT), so people and tests
 * can check signatures by hand. --timestamp/--nonce/--iat/--exp pin the
 * otherwise random or clock-given parts.
 */
#ifndef TOK_CLI_H
#define TOK_CLI_H

/* argv[0] is the subcommand ("sign", "jwt", or "revoke", handed on to
 * cli_revoke_main). Returns the exit code:
 * 0 success, 1 signing failed, 2 bad usage or configuration. */
int cli_main(int argc, char **argv);

#endif
