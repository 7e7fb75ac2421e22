/* memscan: an LD_PRELOAD shim that, as a process ends, searches all of its
 * writable memory (heap, stacks, library data, freed chunks included) for a
 * secret, and reports where it found it. secret-hygiene.test.mjs builds it
 * and runs ably-token with it to check that the key is wiped at exit.
 *
 *   MEMSCAN_NEEDLE  the secret, hex-encoded and XORed with 0x5a byte by
 *                   byte, so the shim never holds it in plain form (it
 *                   would find itself)
 *   MEMSCAN_OUT     a directory; each process writes MEMSCAN_OUT/scan.PID:
 *                   "pid PID via _exit|exit hits N" and one line per hit
 *                   ("ADDR in PATH-or-[anon]")
 *
 * A worker ends with _exit() (interposed here: scan, then the real one),
 * the supervisor and a CGI run with exit() (a destructor, which runs after
 * main's own clean-up). Mappings over 1 GiB (sanitizer shadow) are skipped.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MEMSCAN_KEY 0x5a
#define MEMSCAN_MAX 512

static unsigned char enc[MEMSCAN_MAX];  /* needle ^ MEMSCAN_KEY */
static size_t enc_len;
static int done;

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

static void
load_needle(void)
{
	const char *h = getenv("MEMSCAN_NEEDLE");
	size_t i;

	enc_len = 0;
	if (h == NULL)
		return;
	for (i = 0; h[2 * i] && h[2 * i + 1] && i < MEMSCAN_MAX; i++) {
		int hi = hexval(h[2 * i]), lo = hexval(h[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return;
		enc[i] = (unsigned char)(hi << 4 | lo);
	}
	enc_len = i;
}

/* Does p hold the needle? Compared through the XOR, never decoded. */
static int
match(const unsigned char *p)
{
	size_t i;

	for (i = 0; i < enc_len; i++)
		if ((unsigned char)(p[i] ^ MEMSCAN_KEY) != enc[i])
			return 0;
	return 1;
}

static void
scan(const char *how)
{
	char path[256], line[512];
	FILE *maps;
	int out, hits = 0;
	char report[8192];
	size_t rlen = 0;

	if (done)
		return;
	done = 1;
	load_needle();
	if (enc_len < 8 || getenv("MEMSCAN_OUT") == NULL)
		return;
	maps = fopen("/proc/self/maps", "r");
	if (maps == NULL)
		return;
	while (fgets(line, sizeof(line), maps) != NULL) {
		unsigned long lo, hi;
		char perms[8] = "", name[256] = "";
		const unsigned char *p, *end;
		unsigned char first = (unsigned char)(enc[0] ^ MEMSCAN_KEY);

		if (sscanf(line, "%lx-%lx %7s %*s %*s %*s %255[^\n]", &lo, &hi,
		    perms, name) < 3)
			continue;
		if (perms[0] != 'r' || perms[1] != 'w' || hi - lo > (1UL << 30) ||
		    strstr(name, "[vvar") != NULL || strstr(name, "[vsyscall") != NULL)
			continue;
		/* the shim's own data holds only the XORed needle */
		p = (const unsigned char *)lo;
		end = (const unsigned char *)hi;
		while (p + enc_len <= end) {
			const unsigned char *q = memchr(p, first,
			    (size_t)(end - p) - enc_len + 1);

			if (q == NULL)
				break;
			if (match(q)) {
				hits++;
				if (rlen < sizeof(report) - 400) {
					int n = snprintf(report + rlen,
					    sizeof(report) - rlen, "%p in %s\n",
					    (const void *)q,
					    name[0] ? name : "[anon]");

					if (n > 0)
						rlen += (size_t)n;
				}
			}
			p = q + 1;
		}
	}
	fclose(maps);
	(void)snprintf(path, sizeof(path), "%s/scan.%ld", getenv("MEMSCAN_OUT"),
	    (long)getpid());
	out = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (out >= 0) {
		char head[128];
		int n = snprintf(head, sizeof(head), "pid %ld via %s hits %d\n",
		    (long)getpid(), how, hits);

		if (write(out, head, (size_t)n) < 0 ||
		    write(out, report, rlen) < 0)
			(void)0;
		close(out);
	}
}

void
_exit(int status)
{
	void (*real)(int) = (void (*)(int))dlsym(RTLD_NEXT, "_exit");

	scan("_exit");
	real(status);
	for (;;)
		;
}

__attribute__((destructor)) static void
at_exit_scan(void)
{
	scan("exit");
}
