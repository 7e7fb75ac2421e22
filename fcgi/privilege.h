/* privilege: who the process runs as. `--user NAME[:GROUP]` (and the
 * `user` setting) names an unprivileged account: the supervisor, started
 * as root, binds its socket and reads its config and key first, then
 * switches to that account for good, before any worker exists, so that
 * no code that parses a request ever runs as root. The same NAME[:GROUP]
 * form names a socket's owner (--socket-owner, listen.c).
 *
 * Errors are values with a message that names the account and the errno;
 * nothing here prints or exits.
 */
#ifndef TOK_PRIVILEGE_H
#define TOK_PRIVILEGE_H

#include <stddef.h>
#include <sys/types.h>

#define PRIVILEGE_NAME_MAX 64  /* bytes of a user or group name */

/* An account: names as given (group empty = the user's primary group) and
 * the ids they stand for once looked up. */
struct privilege_account {
	char user[PRIVILEGE_NAME_MAX + 1];
	char group[PRIVILEGE_NAME_MAX + 1];
	uid_t uid;
	gid_t gid;
};

/* Split spec, "NAME" or "NAME:GROUP", into a->user and a->group (the ids
 * are left alone). Names are 1..64 bytes of letters, digits, '_', '.' and
 * '-' (a trailing '$', as Samba machine accounts have, allowed), not
 * starting with '-'. Pure. 0, or -1 with err saying what is wrong. */
int privilege_parse(const char *spec, struct privilege_account *a, char *err,
                    size_t errlen)
	__attribute__((warn_unused_result));

/* privilege_parse, then the ids from the user and group databases: the
 * user's uid and (without GROUP) its primary gid. 0, or -1 with err naming
 * the unknown user or group, or the lookup's errno. */
int privilege_lookup(const char *spec, struct privilege_account *a,
                     char *err, size_t errlen)
	__attribute__((warn_unused_result));

/* Switch this process to a for good: supplementary groups from the user's
 * memberships (and a->gid), then the gid, then the uid, each result
 * checked; then check that the real, effective and saved ids are a's and
 * that root cannot be regained. 0, or -1 with err naming the step and its
 * errno: the caller must then stop, never serve as it was. */
int privilege_drop(const struct privilege_account *a, char *err,
                   size_t errlen)
	__attribute__((warn_unused_result));

/* What the server does at start-up once its socket is bound and its
 * config and key are read: with spec (NAME[:GROUP], or NULL for none),
 * look the account up and privilege_drop() to it; without one, as root,
 * warn loudly that requests will be parsed as root. Said on stderr. The
 * exit status to stop with: 0 to go on, 2 for an unknown or unusable
 * account, 1 when the switch itself failed. */
int privilege_switch(const char *spec)
	__attribute__((warn_unused_result));

#endif /* TOK_PRIVILEGE_H */
