/* metrics: the shared counters and their exposition (metrics.h). */
#include "metrics.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "ably_answer.h"
#include "config.h"

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))

/* The label values the program can give; anything else is "other", the
 * last row of each array below. */
static const int statuses[] = {
	200, 204, 400, 401, 403, 404, 405, 413, 414, 415, 429, 431, 500, 502,
	503, 504,
};
#define N_STATUSES 16
static const int codes[] = {
	40000, 40003, 40012, 40100, 40101, 40104, 40105, 40142, 40160, 40300,
	40400, 40500, 41300, 41400, 41500, 42910, 50000, 50002, 50003,
};
#define N_CODES 19
/* Histogram bounds in microseconds: 1 ms to 10 s. */
static const long long bounds_us[] = {
	1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000,
	1000000, 2500000, 5000000, 10000000,
};
#define N_BOUNDS 13
static const char *const outcome_names[METRICS_ABLY__MAX] = {
	"ok", "failed", "timeout", "refused", "connection_lost",
};
static const char *const role_names[2] = { "primary", "fallback" };

_Static_assert(N_ELEMS(statuses) == N_STATUSES, "N_STATUSES");
_Static_assert(N_ELEMS(codes) == N_CODES, "N_CODES");
_Static_assert(N_ELEMS(bounds_us) == N_BOUNDS, "N_BOUNDS");
_Static_assert((int)METRICS_ABLY_OK == (int)ABLY_ANSWER_OK &&
    (int)METRICS_ABLY_FAILED == (int)ABLY_ANSWER_RETRY &&
    (int)METRICS_ABLY_TIMEOUT == (int)ABLY_ANSWER_TIMEOUT &&
    (int)METRICS_ABLY_REFUSED == (int)ABLY_ANSWER_FINAL,
    "metrics outcomes follow enum ably_answer_verdict");
/* Shared between processes, the atomics must not hide a lock. */
_Static_assert(ATOMIC_LLONG_LOCK_FREE == 2, "lock-free 64-bit atomics");

typedef _Atomic unsigned long long counter;

/* Per bucket (not cumulative: one add per observation), the last one
 * above every bound; the sum in microseconds. */
struct histogram {
	counter bucket[N_BOUNDS + 1];
	counter sum_us;
};

/* One worker's requests in flight, under its pid (0 = free). */
struct slot {
	_Atomic long long pid;
	_Atomic long long in_flight;
};

/* The whole shared state: plain atomics, no pointers. */
struct metrics_block {
	counter requests[MODE__MAX][N_STATUSES + 1];
	struct histogram request_time[MODE__MAX];
	counter issued[MODE__MAX];
	counter errors[N_CODES + 1];
	counter ably_tries[2][METRICS_ABLY__MAX];
	struct histogram ably_time[2];
	counter fallbacks;
	counter hosts_avoided[2];
	_Atomic long long clock_offset_ms;
	counter worker_restarts;
	counter reloads[2];         /* [0] failed, [1] done */
	counter generation;
	struct slot slots[METRICS_SLOTS];
};

static struct metrics_block own_block = { .generation = 1 };
static struct metrics_block *block = &own_block;
static const char *build_version = "unknown";
/* This process's slot, taken on its first request in flight, and
 * forgotten in a child of fork() (atfork_set: the handler that does so is
 * in place, so no getpid() per request is needed to notice a fork). */
static int my_slot = -1;
static long long my_pid;
static int atfork_set;

static void
forget_slot(void)
{
	my_slot = -1;
}

static void
add(counter *c, unsigned long long n)
{
	atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

static unsigned long long
get(counter *c)
{
	return atomic_load_explicit(c, memory_order_relaxed);
}

int
metrics_open(const char *version)
{
	void *p;

	if (version != NULL)
		build_version = version;
	if (block != &own_block)
		return 0;
	p = mmap(NULL, sizeof(struct metrics_block), PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return -1;
	block = p;  /* zeroed by the kernel */
	atomic_store(&block->generation, 1);
	return 0;
}

static size_t
status_index(int status)
{
	size_t i;

	for (i = 0; i < N_STATUSES && statuses[i] != status; i++)
		;
	return i;
}

static size_t
code_index(int code)
{
	size_t i;

	for (i = 0; i < N_CODES && codes[i] != code; i++)
		;
	return i;
}

static void
observe(struct histogram *h, long long ms)
{
	long long us = ms > 0 ? ms * 1000 : 0;
	size_t i;

	for (i = 0; i < N_BOUNDS && us > bounds_us[i]; i++)
		;
	add(&h->bucket[i], 1);
	add(&h->sum_us, (unsigned long long)us);
}

static int
mode_ok(enum tok_mode mode)
{
	return mode >= 0 && mode < MODE__MAX;
}

void
metrics_request(enum tok_mode mode, int status, int ably_code, long long ms)
{
	if (!mode_ok(mode))
		return;
	add(&block->requests[mode][status_index(status)], 1);
	observe(&block->request_time[mode], ms);
	if (ably_code != 0)
		add(&block->errors[code_index(ably_code)], 1);
}

void
metrics_issued(enum tok_mode mode)
{
	if (mode_ok(mode))
		add(&block->issued[mode], 1);
}

void
metrics_ably_try(int fallback, enum metrics_ably_outcome outcome,
                 long long ms)
{
	int role = fallback != 0;

	if (outcome < 0 || outcome >= METRICS_ABLY__MAX)
		return;
	add(&block->ably_tries[role][outcome], 1);
	observe(&block->ably_time[role], ms);
}

void
metrics_fallback_taken(void)
{
	add(&block->fallbacks, 1);
}

void
metrics_host_avoided(int fallback)
{
	add(&block->hosts_avoided[fallback != 0], 1);
}

void
metrics_clock_offset(long long ms)
{
	atomic_store_explicit(&block->clock_offset_ms, ms,
	    memory_order_relaxed);
}

/* Whether the process pid is still there (a zombie not yet reaped too). */
static int
alive(long long pid)
{
	return kill((pid_t)pid, 0) == 0 || errno == EPERM;
}

/* This process's slot: its own, else a free one or one whose process is
 * gone (a worker killed: its count goes with it). -1 if all are taken. */
static int
claim_slot(void)
{
	long long me;
	int i;

	if (my_slot >= 0 && (atfork_set || my_pid == (long long)getpid()))
		return my_slot;
	if (!atfork_set)
		atfork_set = pthread_atfork(NULL, NULL, forget_slot) == 0;
	me = (long long)getpid();
	my_slot = -1;
	for (i = 0; i < METRICS_SLOTS; i++) {
		struct slot *s = &block->slots[i];
		long long pid = atomic_load(&s->pid);

		if (pid == me || ((pid == 0 || !alive(pid)) &&
		    atomic_compare_exchange_strong(&s->pid, &pid, me))) {
			if (pid != me)
				atomic_store(&s->in_flight, 0);
			my_slot = i;
			my_pid = me;
			break;
		}
	}
	return my_slot;
}

void
metrics_in_flight(int delta)
{
	int i = claim_slot();

	if (i >= 0)
		atomic_fetch_add_explicit(&block->slots[i].in_flight, delta,
		    memory_order_relaxed);
}

void
metrics_worker_restarted(void)
{
	add(&block->worker_restarts, 1);
}

void
metrics_reload(int ok)
{
	add(&block->reloads[ok != 0], 1);
}

void
metrics_set_generation(unsigned gen)
{
	atomic_store_explicit(&block->generation, gen, memory_order_relaxed);
}

void
metrics_reset(void)
{
	memset(block, 0, sizeof(*block));
	atomic_store(&block->generation, 1);
	my_slot = -1;
}

enum tok_err
metrics_escape_label(struct buf *out, const char *s)
{
	enum tok_err rc = TOK_OK;

	for (; *s != '\0' && rc == TOK_OK; s++) {
		if (*s == '\\')
			rc = buf_adds(out, "\\\\");
		else if (*s == '"')
			rc = buf_adds(out, "\\\"");
		else if (*s == '\n')
			rc = buf_adds(out, "\\n");
		else
			rc = buf_add(out, s, 1);
	}
	return rc;
}

/* ---------------------------------------------------------- rendering */

/* What one rendering carries along: the first error stops the rest. */
struct render {
	struct buf *out;
	enum tok_err rc;
};

static void
text(struct render *r, const char *s)
{
	if (r->rc == TOK_OK)
		r->rc = buf_adds(r->out, s);
}

static void
label(struct render *r, const char *value)
{
	if (r->rc == TOK_OK)
		r->rc = metrics_escape_label(r->out, value);
}

static void
number(struct render *r, unsigned long long v)
{
	if (r->rc == TOK_OK)
		r->rc = buf_printf(r->out, " %llu\n", v);
}

static void
family(struct render *r, const char *name, const char *type,
       const char *help)
{
	if (r->rc == TOK_OK)
		r->rc = buf_printf(r->out, "# HELP %s %s\n# TYPE %s %s\n", name,
		    help, name, type);
}

/* name{key="value"} v */
static void
sample1(struct render *r, const char *name, const char *key,
        const char *value, unsigned long long v)
{
	text(r, name);
	if (key != NULL) {
		text(r, "{");
		text(r, key);
		text(r, "=\"");
		label(r, value);
		text(r, "\"}");
	}
	number(r, v);
}

/* A histogram's _bucket, _sum and _count under key="value". */
static void
histogram(struct render *r, const char *name, const char *key,
          const char *value, struct histogram *h)
{
	unsigned long long total = 0;
	size_t i;

	for (i = 0; i <= N_BOUNDS; i++) {
		char le[32];

		total += get(&h->bucket[i]);
		if (i < N_BOUNDS)
			(void)snprintf(le, sizeof(le), "%g",
			    (double)bounds_us[i] / 1e6);
		else
			(void)snprintf(le, sizeof(le), "+Inf");
		if (r->rc == TOK_OK)
			r->rc = buf_printf(r->out, "%s_bucket{%s=\"", name, key);
		label(r, value);
		text(r, "\",le=\"");
		text(r, le);
		text(r, "\"}");
		number(r, total);
	}
	if (r->rc == TOK_OK)
		r->rc = buf_printf(r->out, "%s_sum{%s=\"", name, key);
	label(r, value);
	if (r->rc == TOK_OK)
		r->rc = buf_printf(r->out, "\"} %llu.%06llu\n",
		    get(&h->sum_us) / 1000000, get(&h->sum_us) % 1000000);
	if (r->rc == TOK_OK)
		r->rc = buf_printf(r->out, "%s_count{%s=\"", name, key);
	label(r, value);
	text(r, "\"}");
	number(r, total);
}

static void
render_requests(struct render *r)
{
	int m;
	size_t i;

	family(r, "ably_token_requests_total", "counter", "Requests "
	    "answered, by mode and HTTP status (the health and metrics "
	    "paths not counted).");
	for (m = 0; m < MODE__MAX; m++) {
		for (i = 0; i <= N_STATUSES; i++) {
			char status[16];

			if (i < N_STATUSES)
				(void)snprintf(status, sizeof(status), "%d",
				    statuses[i]);
			else
				(void)snprintf(status, sizeof(status), "other");
			text(r, "ably_token_requests_total{mode=\"");
			label(r, config_mode_name((enum tok_mode)m));
			text(r, "\",status=\"");
			label(r, status);
			text(r, "\"}");
			number(r, get(&block->requests[m][i]));
		}
	}
	family(r, "ably_token_request_duration_seconds", "histogram",
	    "Time from a request's start to its answer, by mode.");
	for (m = 0; m < MODE__MAX; m++)
		histogram(r, "ably_token_request_duration_seconds", "mode",
		    config_mode_name((enum tok_mode)m),
		    &block->request_time[m]);
	family(r, "ably_token_credentials_issued_total", "counter",
	    "Credentials handed out (TokenDetails, TokenRequests, JWTs), by "
	    "mode.");
	for (m = 0; m < MODE__MAX; m++)
		sample1(r, "ably_token_credentials_issued_total", "mode",
		    config_mode_name((enum tok_mode)m), get(&block->issued[m]));
	family(r, "ably_token_errors_total", "counter", "Error answers, by "
	    "Ably error code.");
	for (i = 0; i <= N_CODES; i++) {
		char code[16];

		if (i < N_CODES)
			(void)snprintf(code, sizeof(code), "%d", codes[i]);
		else
			(void)snprintf(code, sizeof(code), "other");
		sample1(r, "ably_token_errors_total", "code", code,
		    get(&block->errors[i]));
	}
}

static void
render_ably(struct render *r)
{
	int role, o;

	family(r, "ably_token_ably_requests_total", "counter", "Tries at "
	    "Ably's requestToken (token mode), by host role and outcome.");
	for (role = 0; role < 2; role++) {
		for (o = 0; o < METRICS_ABLY__MAX; o++) {
			text(r, "ably_token_ably_requests_total{role=\"");
			label(r, role_names[role]);
			text(r, "\",outcome=\"");
			label(r, outcome_names[o]);
			text(r, "\"}");
			number(r, get(&block->ably_tries[role][o]));
		}
	}
	family(r, "ably_token_ably_request_duration_seconds", "histogram",
	    "Time each try at Ably's requestToken took, by host role.");
	for (role = 0; role < 2; role++)
		histogram(r, "ably_token_ably_request_duration_seconds", "role",
		    role_names[role], &block->ably_time[role]);
	family(r, "ably_token_ably_fallbacks_total", "counter", "Times a "
	    "call to Ably moved on to its next host after one failed.");
	sample1(r, "ably_token_ably_fallbacks_total", NULL, NULL,
	    get(&block->fallbacks));
	family(r, "ably_token_ably_hosts_avoided_total", "counter", "Times a "
	    "host that failed was set aside for a while, by host role.");
	for (role = 0; role < 2; role++)
		sample1(r, "ably_token_ably_hosts_avoided_total", "role",
		    role_names[role], get(&block->hosts_avoided[role]));
	family(r, "ably_token_ably_clock_offset_seconds", "gauge", "Ably's "
	    "clock minus ours, as last learnt by GET /time (query_time).");
	if (r->rc == TOK_OK) {
		long long ms = atomic_load_explicit(&block->clock_offset_ms,
		    memory_order_relaxed);

		r->rc = buf_printf(r->out, "ably_token_ably_clock_offset_seconds"
		    " %s%lld.%03lld\n", ms < 0 ? "-" : "",
		    (ms < 0 ? -ms : ms) / 1000, (ms < 0 ? -ms : ms) % 1000);
	}
}

static void
render_process(struct render *r)
{
	long long in_flight = 0;
	int i;

	for (i = 0; i < METRICS_SLOTS; i++) {
		long long pid = atomic_load(&block->slots[i].pid);

		if (pid != 0 && alive(pid))
			in_flight += atomic_load_explicit(
			    &block->slots[i].in_flight, memory_order_relaxed);
	}
	family(r, "ably_token_requests_in_flight", "gauge", "Requests "
	    "waiting on a call to Ably, summed over the workers.");
	if (r->rc == TOK_OK)
		r->rc = buf_printf(r->out, "ably_token_requests_in_flight "
		    "%lld\n", in_flight);
	family(r, "ably_token_worker_restarts_total", "counter", "Workers "
	    "the supervisor restarted after they died.");
	sample1(r, "ably_token_worker_restarts_total", NULL, NULL,
	    get(&block->worker_restarts));
	family(r, "ably_token_reloads_total", "counter", "Configuration "
	    "reloads, by result.");
	sample1(r, "ably_token_reloads_total", "result", "ok",
	    get(&block->reloads[1]));
	sample1(r, "ably_token_reloads_total", "result", "failed",
	    get(&block->reloads[0]));
	family(r, "ably_token_config_generation", "gauge", "The "
	    "configuration in use: 1 for the one read at start, one more per "
	    "reload.");
	sample1(r, "ably_token_config_generation", NULL, NULL,
	    get(&block->generation));
	family(r, "ably_token_build_info", "gauge", "Always 1; the version "
	    "in a label.");
	sample1(r, "ably_token_build_info", "version", build_version, 1);
}

enum tok_err
metrics_render(struct buf *out)
{
	struct render r = { out, TOK_OK };

	render_requests(&r);
	render_ably(&r);
	render_process(&r);
	return r.rc;
}
