/* privilege: parse an account, look it up, switch to it (see
 * privilege.h). */
#include "privilege.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

/* Enough for any sane passwd or group entry; a group with thousands of
 * members can need more, which is said (ERANGE) rather than guessed. */
#define LOOKUP_BUF 65536

/* 1 if the n bytes at s make a user or group name we accept. */
static int
name_ok(const char *s, size_t n)
{
	size_t i;

	if (n == 0 || n > PRIVILEGE_NAME_MAX || s[0] == '-')
		return 0;
	for (i = 0; i < n; i++) {
		char ch = s[i];

		if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		    (ch >= '0' && ch <= '9') || ch == '_' || ch == '.' ||
		    ch == '-')
			continue;
		if (ch == '$' && i == n - 1 && n > 1)
			continue;
		return 0;
	}
	return 1;
}

int
privilege_parse(const char *spec, struct privilege_account *a, char *err,
                size_t errlen)
{
	const char *colon = strchr(spec, ':');
	size_t un = colon != NULL ? (size_t)(colon - spec) : strlen(spec);
	size_t gn = colon != NULL ? strlen(colon + 1) : 0;

	if (!name_ok(spec, un) || (colon != NULL && !name_ok(colon + 1, gn))) {
		(void)snprintf(err, errlen, "expected NAME or NAME:GROUP (names "
		    "of 1..%d letters, digits, '_', '.' or '-')",
		    PRIVILEGE_NAME_MAX);
		return -1;
	}
	memcpy(a->user, spec, un);
	a->user[un] = '\0';
	memcpy(a->group, colon != NULL ? colon + 1 : "", gn);
	a->group[gn] = '\0';
	return 0;
}

int
privilege_lookup(const char *spec, struct privilege_account *a, char *err,
                 size_t errlen)
{
	char buf[LOOKUP_BUF];
	struct passwd pw, *pwp = NULL;
	struct group gr, *grp = NULL;
	int rc;

	if (privilege_parse(spec, a, err, errlen) != 0)
		return -1;
	rc = getpwnam_r(a->user, &pw, buf, sizeof(buf), &pwp);
	if (pwp == NULL) {
		(void)snprintf(err, errlen, "user %s: %s", a->user, rc != 0 ?
		    strerror(rc) : "no such user");
		return -1;
	}
	a->uid = pw.pw_uid;
	a->gid = pw.pw_gid;
	if (a->group[0] != '\0') {
		rc = getgrnam_r(a->group, &gr, buf, sizeof(buf), &grp);
		if (grp == NULL) {
			(void)snprintf(err, errlen, "group %s: %s", a->group,
			    rc != 0 ? strerror(rc) : "no such group");
			return -1;
		}
		a->gid = gr.gr_gid;
	}
	return 0;
}

/* err = "STEP: strerror(errno)" and -1. */
static int
step_failed(char *err, size_t errlen, const char *step)
{
	(void)snprintf(err, errlen, "%s: %s", step, strerror(errno));
	return -1;
}

int
privilege_drop(const struct privilege_account *a, char *err, size_t errlen)
{
	uid_t ru, eu, su;
	gid_t rg, eg, sg;

	if (a->uid == 0) {
		(void)snprintf(err, errlen, "user %s has uid 0: name an "
		    "unprivileged account", a->user);
		return -1;
	}
	/* Already that account (a service manager switched for us): there is
	 * nothing to give up, and only root could call setgroups. */
	if (geteuid() != 0 && getuid() == a->uid && geteuid() == a->uid &&
	    getgid() == a->gid && getegid() == a->gid)
		return 0;
	/* Groups first, then the gid, then the uid: each step needs the
	 * privilege the next one gives up. */
	if (initgroups(a->user, a->gid) != 0)
		return step_failed(err, errlen, "setting the supplementary "
		    "groups (initgroups)");
	if (setresgid(a->gid, a->gid, a->gid) != 0)
		return step_failed(err, errlen, "setresgid");
	if (setresuid(a->uid, a->uid, a->uid) != 0)
		return step_failed(err, errlen, "setresuid");
	/* Trust the result, not the calls: every id must be the account's. */
	if (getresuid(&ru, &eu, &su) != 0 || getresgid(&rg, &eg, &sg) != 0)
		return step_failed(err, errlen, "reading the ids back");
	if (ru != a->uid || eu != a->uid || su != a->uid || rg != a->gid ||
	    eg != a->gid || sg != a->gid) {
		(void)snprintf(err, errlen, "the ids after the switch are not "
		    "%s's (uid %ld/%ld/%ld, gid %ld/%ld/%ld)", a->user,
		    (long)ru, (long)eu, (long)su, (long)rg, (long)eg, (long)sg);
		return -1;
	}
	if (setuid(0) == 0 || seteuid(0) == 0) {
		(void)snprintf(err, errlen, "root could be regained after the "
		    "switch to %s", a->user);
		return -1;
	}
	return 0;
}

int
privilege_switch(const char *spec)
{
	struct privilege_account a;
	char why[300];

	if (spec == NULL || spec[0] == '\0') {
		if (geteuid() == 0)
			log_warn("RUNNING AS ROOT: without --user (or the user "
			    "setting) every worker parses requests as root. "
			    "Start as root with --user NAME (an unprivileged "
			    "account, e.g. ably-token) to bind the socket and "
			    "read the key as root, then run as NAME");
		return 0;
	}
	if (privilege_lookup(spec, &a, why, sizeof(why)) != 0) {
		fprintf(stderr, "ably-token: --user %s: %s\n", spec, why);
		return 2;
	}
	if (privilege_drop(&a, why, sizeof(why)) != 0) {
		fprintf(stderr, "ably-token: --user %s: cannot switch to uid "
		    "%ld gid %ld: %s%s; stopping\n", spec, (long)a.uid,
		    (long)a.gid, why, geteuid() != 0 ? " (only root can "
		    "switch to another user)" : "");
		return 1;
	}
	log_info("running as %s (uid %ld, gid %ld)", a.user, (long)a.uid,
	    (long)a.gid);
	return 0;
}
