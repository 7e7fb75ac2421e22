/* conn: a worker's connections from the web server: their slots, their
 * deadlines, and how each one ends (close, linger, eviction, sweep). */
#include "conn.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include "clock.h"
#include "log.h"

/* Most connections one worker holds open; fewer if RLIMIT_NOFILE says so. */
#define CONNS_MAX 4096
/* A new connection must bring its first byte, and a request must be whole
 * from its first byte (CONN_WHOLE_REQUEST_MS), within these; nginx sends a
 * request at once and whole (it buffers the client's body first). */
#define FIRST_BYTE_MS 10000
/* A connection closed with bytes unread (or any TCP one): how long its peer
 * may take to see our answer and close (we read and drop what it sends). */
#define LINGER_MS 2000
/* How often connection deadlines are checked, while any is set. */
#define SWEEP_MS 250

int
conn_table_init(struct conn_table *t)
{
	struct rlimit rl;

	t->max_conns = CONNS_MAX;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
	    rl.rlim_cur < (rlim_t)CONNS_MAX + 64)
		t->max_conns = rl.rlim_cur > 72 ? (int)rl.rlim_cur - 64 : 8;
	t->slots = calloc((size_t)t->max_conns, sizeof(*t->slots));
	t->free_slots = calloc((size_t)t->max_conns, sizeof(*t->free_slots));
	return t->slots == NULL || t->free_slots == NULL ? -1 : 0;
}

void
conn_table_free(struct conn_table *t)
{
	int i;

	for (i = 0; i < t->nslots; i++) {
		struct conn *c = t->slots[i];

		if (c->state != CONN_FREE)
			conn_close(t, c);
		free(c);
	}
	free(t->slots);
	free(t->free_slots);
}

void
conn_set_deadline(struct conn_table *t, struct conn *c, long long when)
{
	t->ntimed += (when != 0) - (c->deadline != 0);
	c->deadline = when;
	if (when != 0 && (t->next_sweep == 0 || when < t->next_sweep))
		t->next_sweep = when;
}

/* The slot of a connection that is closed (its socket, and with it its
 * epoll registration, gone) goes back to the free list. */
void
conn_release(struct conn_table *t, struct conn *c)
{
	conn_set_deadline(t, c, 0);
	if (c->state == CONN_LINGER)
		t->nlinger--;
	c->state = CONN_FREE;
	c->gen = (c->gen + 1) & CONN_GEN_MASK;
	t->free_slots[t->nfree++] = c->slot;
	t->nopen--;
}

/* nginx drops a kept connection its upstream closed and retries a request
 * that met one. */
void
conn_close(struct conn_table *t, struct conn *c)
{
	FCGX_Detach(&c->req);
	FCGX_Free(&c->req, 1);
	conn_release(t, c);
}

int
conn_evict_idle(struct conn_table *t)
{
	struct conn *oldest = NULL;
	int i;

	for (i = 0; i < t->nslots; i++) {
		struct conn *c = t->slots[i];

		if (c->state == CONN_READING && !c->started &&
		    (oldest == NULL || c->used < oldest->used))
			oldest = c;
	}
	if (oldest == NULL)
		return 0;
	conn_close(t, oldest);
	return 1;
}

struct conn *
conn_take(struct conn_table *t, int fd, struct serve *owner)
{
	struct conn *c;

	if (t->nopen >= t->max_conns && !conn_evict_idle(t))
		return NULL;
	if (t->nfree > 0) {
		c = t->slots[t->free_slots[--t->nfree]];
	} else {
		if (t->nslots >= t->max_conns)
			return NULL;
		c = calloc(1, sizeof(*c));
		if (c == NULL)
			return NULL;
		c->slot = (uint32_t)t->nslots;
		t->slots[t->nslots++] = c;
	}
	c->owner = owner;
	(void)FCGX_InitRequest(&c->req, -1, 0);
	c->req.ipcFd = fd;
	/* FCGX_Accept_r first "finishes" the previous request, closing the
	 * connection unless it was to be kept: this one is. Detached: when
	 * libfcgi closes it (a request it cannot read, a failed write), a
	 * plain close, not its handshake that waits up to 2 s for the peer;
	 * the flag stays for the connection's life. */
	c->req.keepConnection = 1;
	FCGX_Detach(&c->req);
	c->state = CONN_READING;
	c->need = 0;
	c->lingered = 0;
	c->served = 0;
	c->started = 0;
	c->look_again = 0;
	c->close_after = 0;
	c->used = ++t->tick;
	t->nopen++;
	conn_set_deadline(t, c, clock_mono_ms() + FIRST_BYTE_MS);
	return c;
}

struct conn *
conn_find(struct conn_table *t, uint64_t data)
{
	uint32_t slot = (uint32_t)data, gen = (uint32_t)(data >> 32);

	if (slot < (uint32_t)t->nslots && t->slots[slot]->gen == gen &&
	    t->slots[slot]->state != CONN_FREE)
		return t->slots[slot];
	return NULL;
}

uint64_t
conn_event_data(const struct conn *c)
{
	return (uint64_t)c->gen << 32 | c->slot;
}

/* A peer still writing its request would meet an error before it reads
 * our answer if we closed at once. */
void
conn_linger(struct conn_table *t, struct conn *c)
{
	if (shutdown(c->req.ipcFd, SHUT_WR) != 0) {
		conn_close(t, c);
		return;
	}
	c->state = CONN_LINGER;
	t->nlinger++;
	conn_set_deadline(t, c, clock_mono_ms() + LINGER_MS);
}

void
conn_linger_read(struct conn_table *t, struct conn *c,
                 unsigned char *scratch, size_t len)
{
	for (;;) {
		ssize_t n = recv(c->req.ipcFd, scratch, len, MSG_DONTWAIT);

		if (n > 0) {
			c->lingered += (size_t)n;
			if (c->lingered <= CONN_DRAIN_MAX)
				continue;
		} else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
			return;
		}
		conn_close(t, c);
		return;
	}
}

void
conn_close_kept_idle(struct conn_table *t)
{
	int i;

	for (i = 0; i < t->nslots; i++) {
		struct conn *c = t->slots[i];

		if (c->state == CONN_READING && !c->started && c->served > 0)
			conn_close(t, c);
	}
}

/* Silent before their first request, a request not whole in time, a
 * lingering close done. */
void
conn_sweep(struct conn_table *t, long long now)
{
	int i;

	t->next_sweep = 0;
	for (i = 0; i < t->nslots; i++) {
		struct conn *c = t->slots[i];

		if (c->deadline == 0)
			continue;
		if (c->deadline > now) {
			if (t->next_sweep == 0 || c->deadline < t->next_sweep)
				t->next_sweep = c->deadline;
			continue;
		}
		if (c->state == CONN_READING && c->started)
			log_info("dropped a connection whose request was not "
			    "whole within %d s", CONN_WHOLE_REQUEST_MS / 1000);
		else if (c->state == CONN_READING)
			log_debug("dropped a connection silent for %d s",
			    FIRST_BYTE_MS / 1000);
		conn_close(t, c);
	}
	/* Not before SWEEP_MS: deadlines a little late cost nothing. */
	if (t->next_sweep != 0 && t->next_sweep < now + SWEEP_MS)
		t->next_sweep = now + SWEEP_MS;
}
