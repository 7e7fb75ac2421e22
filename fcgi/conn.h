/* conn: a worker's connections from the web server, in slots: taking a
 * slot for a new connection, the deadlines each may not pass (its first
 * byte, a whole request, a lingering close), closing, lingering, evicting
 * the idle one longest, and the sweep that enforces the deadlines.
 *
 * A slot is allocated once and reused, never freed before the table is;
 * its generation is bumped each time it is released, so an epoll event
 * for a connection closed meanwhile is recognised (conn_find). The table
 * belongs to one worker (one thread); conn_table_free() closes what is
 * still open. Errors: conn_table_init() fails only for memory (-1); a
 * connection that fails is closed and its slot released.
 */
#ifndef TOK_CONN_H
#define TOK_CONN_H

#include <stddef.h>
#include <stdint.h>

#include <fcgiapp.h>

/* Generations stay below 2^30: epoll data is gen << 32 | slot, and the
 * top bits mark other descriptors (worker.c, upstream.h). */
#define CONN_GEN_MASK 0x3fffffffu
/* Most bytes of an unread request body (or of what a lingering peer
 * sends) dropped to end a connection cleanly. */
#define CONN_DRAIN_MAX (1024 * 1024)
/* A request must be whole within this from its first byte. */
#define CONN_WHOLE_REQUEST_MS 10000

enum conn_state {
	CONN_FREE,
	CONN_READING,  /* waiting for a whole request (or idle, kept) */
	CONN_PARKED,   /* its request waits on Ably */
	CONN_LINGER,   /* answered, write side shut, reading to the end */
};

struct serve;

/* One connection from the web server. */
struct conn {
	FCGX_Request req;          /* req.ipcFd is the connection */
	struct serve *owner;       /* who serves it (serve.c), for callbacks */
	uint32_t slot, gen;        /* gen: bumped each time the slot is freed */
	enum conn_state state;
	long long deadline;        /* monotonic ms, 0 = none */
	size_t need;               /* READING: bytes to wait for; 0 = look */
	size_t lingered;           /* LINGER: bytes dropped */
	unsigned long long used;   /* table tick of its last request */
	unsigned served;           /* requests answered on it */
	int started;               /* READING: a request's bytes arrived */
	int look_again;            /* bytes may wait that no event will tell */
	int close_after;           /* its request was not read to the end */
	/* Of the request being answered, kept when libfcgi's buffers go: */
	unsigned request_id;
	int drained;               /* read to its end (keepable) */
	int keep_asked;            /* the web server asked to keep (KEEP_CONN) */
};

/* A worker's slots. The counters are read by the worker's loop. */
struct conn_table {
	struct conn **slots;       /* [0, nslots) allocated */
	uint32_t *free_slots;
	int nslots, nfree, nopen, max_conns;
	int nlinger;               /* connections in CONN_LINGER */
	int ntimed;                /* connections with a deadline */
	long long next_sweep;      /* monotonic ms conn_sweep() is due; 0 none */
	unsigned long long tick;   /* counts requests, for conn->used */
};

/* An empty table (t zeroed by the caller) for as many connections as
 * RLIMIT_NOFILE allows, at most 4096. -1 when memory runs out; free it
 * with conn_table_free() either way. */
int conn_table_init(struct conn_table *t)
	__attribute__((warn_unused_result));

/* Close every open connection and free the slots. */
void conn_table_free(struct conn_table *t);

/* A slot for a new connection on fd (READING, with its first-byte
 * deadline), closing the connection idle longest when the table is full;
 * NULL if there is no room. owner is stored with the connection. */
struct conn *conn_take(struct conn_table *t, int fd, struct serve *owner);

/* The connection an epoll event's data names, or NULL if it was closed
 * since. */
struct conn *conn_find(struct conn_table *t, uint64_t data);

/* The epoll data that names c. */
uint64_t conn_event_data(const struct conn *c);

/* Set (when != 0, monotonic ms) or clear c's deadline. */
void conn_set_deadline(struct conn_table *t, struct conn *c, long long when);

/* Release the slot of a connection whose socket libfcgi already closed. */
void conn_release(struct conn_table *t, struct conn *c);

/* Close a connection: a plain close, never libfcgi's handshake (the
 * request is detached); its request was answered or never will be. */
void conn_close(struct conn_table *t, struct conn *c);

/* Shut our side of c and read until the peer closes (or a deadline, or
 * CONN_DRAIN_MAX bytes): closing with bytes unread would reset a TCP
 * connection before the peer read our answer. */
void conn_linger(struct conn_table *t, struct conn *c);

/* Read and drop what a lingering connection sends (into scratch[len]);
 * close it at its end. */
void conn_linger_read(struct conn_table *t, struct conn *c,
                      unsigned char *scratch, size_t len);

/* Close the connection idle longest; 0 if none is idle. */
int conn_evict_idle(struct conn_table *t);

/* Close every kept connection waiting, with no byte of a next request
 * (draining). A new connection is left to send its first request: the
 * web server wrote it, or is about to, and it would be lost; the
 * first-byte deadline bounds the wait. */
void conn_close_kept_idle(struct conn_table *t);

/* Drop connections past their deadline, and set t->next_sweep. */
void conn_sweep(struct conn_table *t, long long now);

#endif
