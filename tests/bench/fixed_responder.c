/* fixed_responder: the floor for `make bench`.
 *
 * A trivial libfcgi program that answers every request with the same JSON
 * document, served the way build/ably-token serves: a unix socket with a
 * listen backlog of 1024, N pre-forked single-threaded workers, each
 * running FCGX_Accept_r, one FCGX_PutStr of the whole answer (the same
 * headers as ours), then FCGX_Finish_r. Whatever it costs per request is
 * the FastCGI hop itself, not our work.
 *
 *   fixed_responder --listen unix:/abs/path.sock --workers 2 --body FILE
 *                   [--detach]
 *
 * By default it is libfcgi's plain idiom (FCGX_Finish_r closes with its
 * shutdown-and-drain handshake), as the feasibility run measured it.
 * --detach closes the way a tuned worker does on a unix socket once stdin's
 * EOF has been seen (FCGX_Detach, then FCGX_Finish_r: a plain close), so
 * our binary can also be compared with a floor that ends connections alike.
 *
 * SIGTERM or SIGINT to the parent stops the workers and removes the socket.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fcgiapp.h>

#define MAX_WORKERS 64
#define MAX_BODY 4096

static volatile sig_atomic_t stop_requested;

static void
on_stop(int sig)
{
	(void)sig;
	stop_requested = 1;
}

static int
open_unix(const char *path)
{
	struct sockaddr_un sa;
	int fd;

	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	if (path[0] != '/' || strlen(path) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "fixed_responder: bad socket path\n");
		return -1;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	unlink(path);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
	    listen(fd, 1024) != 0) {
		fprintf(stderr, "fixed_responder: %s: %s\n", path,
		    strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

/* The whole answer (head and body) in one buffer, written in one call. */
static int
load_answer(const char *file, char *out, size_t outlen)
{
	char body[MAX_BODY];
	size_t n;
	FILE *f = fopen(file, "rb");
	int len;

	if (f == NULL) {
		fprintf(stderr, "fixed_responder: %s: %s\n", file,
		    strerror(errno));
		return -1;
	}
	n = fread(body, 1, sizeof(body), f);
	fclose(f);
	if (n == 0 || n == sizeof(body)) {
		fprintf(stderr, "fixed_responder: body must be 1..%d bytes\n",
		    MAX_BODY - 1);
		return -1;
	}
	len = snprintf(out, outlen, "Status: 200 OK\r\n"
	    "Content-Type: application/json\r\n"
	    "Cache-Control: no-store\r\n"
	    "Content-Length: %zu\r\n\r\n%.*s", n, (int)n, body);
	if (len < 0 || (size_t)len >= outlen)
		return -1;
	return len;
}

static int
worker(int fd, const char *answer, int len, int detach)
{
	FCGX_Request req;

	if (FCGX_Init() != 0 || FCGX_InitRequest(&req, fd, 0) != 0)
		return 1;
	while (FCGX_Accept_r(&req) >= 0) {
		FCGX_PutStr(answer, len, req.out);
		if (detach && FCGX_GetChar(req.in) == EOF &&
		    FCGX_HasSeenEOF(req.in))
			FCGX_Detach(&req);
		FCGX_Finish_r(&req);
	}
	return 0;
}

int
main(int argc, char **argv)
{
	const char *listen_spec = NULL, *body_file = NULL;
	static char answer[MAX_BODY + 256];
	pid_t pids[MAX_WORKERS];
	struct sigaction sa;
	int i, n = 2, fd, len, detach = 0;

	for (i = 1; i < argc; i += 2) {
		if (strcmp(argv[i], "--detach") == 0) {
			detach = 1;
			i--;
		} else if (i + 1 == argc)
			break;
		else if (strcmp(argv[i], "--listen") == 0)
			listen_spec = argv[i + 1];
		else if (strcmp(argv[i], "--workers") == 0)
			n = atoi(argv[i + 1]);
		else if (strcmp(argv[i], "--body") == 0)
			body_file = argv[i + 1];
		else
			break;
	}
	if (i != argc || listen_spec == NULL || body_file == NULL ||
	    strncmp(listen_spec, "unix:", 5) != 0 || n < 1 ||
	    n > MAX_WORKERS) {
		fprintf(stderr, "usage: fixed_responder --listen unix:PATH "
		    "[--workers N] --body FILE [--detach]\n");
		return 2;
	}
	len = load_answer(body_file, answer, sizeof(answer));
	if (len < 0)
		return 2;
	fd = open_unix(listen_spec + 5);
	if (fd < 0)
		return 1;

	for (i = 0; i < n; i++) {
		pids[i] = fork();
		if (pids[i] == 0)
			_exit(worker(fd, answer, len, detach));
	}
	/* Only the parent catches SIGTERM; the workers die of it. */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	while (!stop_requested) {
		pid_t pid = waitpid(-1, NULL, 0);

		if (pid < 0 && errno != EINTR)
			break;
		if (pid > 0 && !stop_requested) {
			fprintf(stderr, "fixed_responder: worker %ld died\n",
			    (long)pid);
			break;
		}
	}
	for (i = 0; i < n; i++)
		if (pids[i] > 0)
			kill(pids[i], SIGTERM);
	while (waitpid(-1, NULL, 0) > 0 || errno == EINTR)
		;
	close(fd);
	unlink(listen_spec + 5);
	return 0;
}
