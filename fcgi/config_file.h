/* config_file: the config file as a file: read whole, its bytes checked,
 * and who may read or change it checked. config.c gives the lines their
 * meaning.
 */
#ifndef TOK_CONFIG_FILE_H
#define TOK_CONFIG_FILE_H

#include <stddef.h>
#include <sys/types.h>

/* Read the regular file at path (at most 256 KiB) into a new
 * NUL-terminated buffer of *len bytes and check that every line is UTF-8
 * text without NUL or control characters; *mode gets its mode bits. The
 * caller wipes (it may hold the key) and frees the buffer. NULL on failure,
 * with err naming the file (and file:line for a bad byte). */
char *config_file_read(const char *path, size_t *len, mode_t *mode,
                       char *err, size_t errlen)
	__attribute__((warn_unused_result));

/* Who may read and change the file: refuse one holding the key (key_line
 * > 0) that every user may read, and one that group or others may write
 * (or replace, through its directory). With allow_insecure each is only a
 * warning. 0, or -1 with err saying what to chmod. */
int config_file_check_access(const char *path, mode_t mode, int key_line,
                             int allow_insecure, char *err, size_t errlen)
	__attribute__((warn_unused_result));

#endif /* TOK_CONFIG_FILE_H */
