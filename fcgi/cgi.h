/* cgi: one request served as a plain CGI program (no socket on stdin, no
 * --listen): the request from the environment and stdin, the answer on
 * stdout. FastCGI serving is in worker.c.
 *
 * Both functions read the rest of stdin after answering, so that the web
 * server does not see a connection reset before it reads the answer.
 * Nothing is kept between calls; cfg stays the caller's.
 */
#ifndef TOK_CGI_H
#define TOK_CGI_H

#include "config.h"

/* Answer the request of the environment and stdin on stdout, with a
 * client for Ably of its own in token mode. 0, or 1 if the answer could
 * not be written (a failure to reach Ably is an answer, not an error). */
int cgi_serve(const struct config *cfg);

/* The 500 answer for a CGI request when the settings cannot be loaded
 * (the reason goes to stderr, from the caller). */
void cgi_answer_misconfigured(void);

#endif
