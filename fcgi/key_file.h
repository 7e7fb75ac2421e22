/* key_file: the API key from a file that holds nothing else (the key_file
 * setting), as a service manager's credential (systemd LoadCredential=) or
 * a secrets mount provides it, so that the key is in neither the
 * environment nor the config file.
 *
 * The file is read as the config file is (config_file.c: a regular file,
 * UTF-8 text without control characters) and must be private to its owner:
 * readable by its group or by everyone, or changeable by others, is refused
 * (--allow-insecure-config makes each a warning). It is read at start-up,
 * before the process gives up root (--user), so it may belong to root.
 */
#ifndef TOK_KEY_FILE_H
#define TOK_KEY_FILE_H

#include <stddef.h>
#include <sys/types.h>

#include "key.h"

/* The length of the key in the len bytes at data, a key file's content:
 * the key on one line, one line end (LF or CRLF) after it allowed. An empty
 * file, a second line, or a NAME=VALUE line (an environment file) is -1 with
 * err saying so (never quoting the content). Pure. */
long key_file_text(const char *data, size_t len, char *err, size_t errlen)
	__attribute__((warn_unused_result));

/* Who may read or change the file, by its mode (and its directory's): 0,
 * or -1 with err saying what to chmod; with allow_insecure each finding is
 * a warning in the log instead. */
int key_file_check_access(const char *path, mode_t mode, int allow_insecure,
                          char *err, size_t errlen)
	__attribute__((warn_unused_result));

/* Read, check and parse the key at path into *k (which the caller later
 * key_clear()s); every copy of the file's bytes is wiped. 0, or -1 with err
 * naming the file and what is wrong (with the errno for a read error),
 * *k left empty. */
int key_file_load(const char *path, int allow_insecure, struct ably_key *k,
                  char *err, size_t errlen)
	__attribute__((warn_unused_result));

#endif /* TOK_KEY_FILE_H */
