/* test_metrics: the shared counters (one block across fork, a worker's
 * in-flight count gone with it), the exposition (families, labels,
 * cumulative buckets, sums in seconds, escaping), the supervisor's hooks,
 * and the metrics path answered by the endpoint without counting itself.
 *
 * Lines of the exposition are checked whole ("\nNAME{LABELS} VALUE\n"), so
 * a wrong label, value or bucket fails the test.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "buf.h"
#include "config.h"
#include "endpoint.h"
#include "fake_source.h"
#include "metrics.h"
#include "unit.h"

/* The exposition as it is now; the caller frees it with buf_free. */
static void
render(struct buf *b)
{
	buf_init(b, METRICS_TEXT_MAX);
	assert_int_equal(buf_adds(b, "\n"), TOK_OK);  /* every line: \n...\n */
	assert_int_equal(metrics_render(b), TOK_OK);
}

/* The exposition has the whole line want. */
static void
has_line(const struct buf *b, const char *want)
{
	char line[512];

	(void)snprintf(line, sizeof(line), "\n%s\n", want);
	if (strstr(b->data, line) == NULL)
		fail_msg("no line \"%s\" in:%s", want, b->data);
}

static void
test_requests_by_mode_status_and_code(void **state)
{
	struct buf b;

	(void)state;
	metrics_reset();
	metrics_request(MODE_JWT, 200, 0, 3);
	metrics_request(MODE_JWT, 200, 0, 0);
	metrics_request(MODE_TOKEN, 403, 40160, 12);
	metrics_request(MODE_TOKEN, 299, 12345, 20000);  /* neither is known */
	metrics_request(MODE__MAX, 200, 0, 1);            /* no such mode */
	metrics_issued(MODE_JWT);
	metrics_issued(MODE_JWT);
	render(&b);
	has_line(&b, "ably_token_requests_total{mode=\"jwt\",status=\"200\"} 2");
	has_line(&b, "ably_token_requests_total{mode=\"token\",status=\"403\"} 1");
	has_line(&b, "ably_token_requests_total{mode=\"token\",status=\"other\"} 1");
	has_line(&b, "ably_token_requests_total{mode=\"token-request\","
	    "status=\"200\"} 0");
	has_line(&b, "ably_token_errors_total{code=\"40160\"} 1");
	has_line(&b, "ably_token_errors_total{code=\"other\"} 1");
	has_line(&b, "ably_token_errors_total{code=\"40300\"} 0");
	has_line(&b, "ably_token_credentials_issued_total{mode=\"jwt\"} 2");
	has_line(&b, "ably_token_credentials_issued_total{mode=\"token\"} 0");
	has_line(&b, "# TYPE ably_token_requests_total counter");
	has_line(&b, "# TYPE ably_token_request_duration_seconds histogram");
	buf_free(&b);
}

static void
test_histogram_cumulative_in_seconds(void **state)
{
	struct buf b;

	(void)state;
	metrics_reset();
	metrics_request(MODE_JWT, 200, 0, 0);      /* <= 0.001 */
	metrics_request(MODE_JWT, 200, 0, 3);      /* <= 0.005 */
	metrics_request(MODE_JWT, 200, 0, 1000);   /* <= 1, on the bound */
	metrics_request(MODE_JWT, 200, 0, 60000);  /* above every bound */
	render(&b);
#define H "ably_token_request_duration_seconds"
	has_line(&b, H "_bucket{mode=\"jwt\",le=\"0.001\"} 1");
	has_line(&b, H "_bucket{mode=\"jwt\",le=\"0.0025\"} 1");
	has_line(&b, H "_bucket{mode=\"jwt\",le=\"0.005\"} 2");
	has_line(&b, H "_bucket{mode=\"jwt\",le=\"0.5\"} 2");
	has_line(&b, H "_bucket{mode=\"jwt\",le=\"1\"} 3");
	has_line(&b, H "_bucket{mode=\"jwt\",le=\"10\"} 3");
	has_line(&b, H "_bucket{mode=\"jwt\",le=\"+Inf\"} 4");
	has_line(&b, H "_sum{mode=\"jwt\"} 61.003000");
	has_line(&b, H "_count{mode=\"jwt\"} 4");
	has_line(&b, H "_count{mode=\"token\"} 0");
#undef H
	buf_free(&b);
}

static void
test_ably_calls_fallbacks_hosts_clock(void **state)
{
	struct buf b;

	(void)state;
	metrics_reset();
	metrics_ably_try(0, METRICS_ABLY_FAILED, 4);
	metrics_ably_try(1, METRICS_ABLY_OK, 2);
	metrics_ably_try(1, METRICS_ABLY_CONNECTION_LOST, 1);
	metrics_ably_try(0, METRICS_ABLY__MAX, 1);  /* ignored */
	metrics_fallback_taken();
	metrics_host_avoided(0);
	metrics_host_avoided(0);
	metrics_host_avoided(1);
	metrics_clock_offset(-1500);
	render(&b);
	has_line(&b, "ably_token_ably_requests_total{role=\"primary\","
	    "outcome=\"failed\"} 1");
	has_line(&b, "ably_token_ably_requests_total{role=\"fallback\","
	    "outcome=\"ok\"} 1");
	has_line(&b, "ably_token_ably_requests_total{role=\"fallback\","
	    "outcome=\"connection_lost\"} 1");
	has_line(&b, "ably_token_ably_requests_total{role=\"primary\","
	    "outcome=\"ok\"} 0");
	has_line(&b, "ably_token_ably_request_duration_seconds_count{role="
	    "\"fallback\"} 2");
	has_line(&b, "ably_token_ably_request_duration_seconds_sum{role="
	    "\"primary\"} 0.004000");
	has_line(&b, "ably_token_ably_fallbacks_total 1");
	has_line(&b, "ably_token_ably_hosts_avoided_total{role=\"primary\"} 2");
	has_line(&b, "ably_token_ably_hosts_avoided_total{role=\"fallback\"} 1");
	has_line(&b, "ably_token_ably_clock_offset_seconds -1.500");
	has_line(&b, "# TYPE ably_token_ably_clock_offset_seconds gauge");
	buf_free(&b);
}

/* What the supervisor calls: restarts, reloads, the generation. */
static void
test_supervisor_hooks(void **state)
{
	struct buf b;

	(void)state;
	metrics_reset();
	render(&b);
	has_line(&b, "ably_token_worker_restarts_total 0");
	has_line(&b, "ably_token_config_generation 1");
	buf_free(&b);
	metrics_worker_restarted();
	metrics_worker_restarted();
	metrics_reload(1);
	metrics_reload(0);
	metrics_reload(0);
	metrics_set_generation(7);
	render(&b);
	has_line(&b, "ably_token_worker_restarts_total 2");
	has_line(&b, "ably_token_reloads_total{result=\"ok\"} 1");
	has_line(&b, "ably_token_reloads_total{result=\"failed\"} 2");
	has_line(&b, "ably_token_config_generation 7");
	has_line(&b, "# TYPE ably_token_reloads_total counter");
	buf_free(&b);
}

static void
test_escape_and_build_info(void **state)
{
	struct buf b;

	(void)state;
	buf_init(&b, 256);
	assert_int_equal(metrics_escape_label(&b, "a\"b\\c\nd"), TOK_OK);
	assert_string_equal(b.data, "a\\\"b\\\\c\\nd");
	buf_free(&b);
	assert_int_equal(metrics_open("1.2\"x"), 0);
	render(&b);
	has_line(&b, "ably_token_build_info{version=\"1.2\\\"x\"} 1");
	buf_free(&b);
	buf_init(&b, 1024);  /* too small for the whole exposition */
	assert_int_equal(metrics_render(&b), TOK_ETOOBIG);
	buf_free(&b);
}

/* After metrics_open, a child's counts are the parent's; its requests in
 * flight count while it lives and go with it. */
static void
test_shared_across_fork(void **state)
{
	int to_parent[2], to_child[2];
	char c = 0;
	struct buf b;
	pid_t pid;
	int status;

	(void)state;
	assert_int_equal(metrics_open("test"), 0);
	metrics_reset();
	assert_int_equal(pipe(to_parent), 0);
	assert_int_equal(pipe(to_child), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		/* Only the parent's ends open here, so that its exit (a
		 * failed check included) ends the wait below. */
		close(to_parent[0]);
		close(to_child[1]);
		metrics_request(MODE_TOKEN, 200, 0, 5);
		metrics_worker_restarted();
		metrics_in_flight(1);
		metrics_in_flight(1);
		metrics_in_flight(-1);
		metrics_in_flight(1);
		if (write(to_parent[1], "x", 1) != 1 ||
		    read(to_child[0], &c, 1) != 1)
			_exit(1);
		_exit(0);
	}
	close(to_parent[1]);
	close(to_child[0]);
	assert_int_equal(read(to_parent[0], &c, 1), 1);
	metrics_in_flight(1);  /* the parent's own slot */
	render(&b);
	has_line(&b, "ably_token_requests_total{mode=\"token\",status=\"200\"} 1");
	has_line(&b, "ably_token_worker_restarts_total 1");
	has_line(&b, "ably_token_requests_in_flight 3");
	buf_free(&b);
	assert_int_equal(write(to_child[1], "x", 1), 1);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	render(&b);
	has_line(&b, "ably_token_requests_total{mode=\"token\",status=\"200\"} 1");
	has_line(&b, "ably_token_requests_in_flight 1");
	buf_free(&b);
	metrics_in_flight(-1);
	close(to_parent[0]);
	close(to_child[1]);
}

/* One request through the endpoint into out. */
static void
ask(struct endpoint *ep, const char *method, const char *uri,
    struct buf *out)
{
	struct fake f;
	struct req_source src;

	fake_request(&f, method, uri, NULL);
	src = fake_source(&f);
	buf_reset(out);
	endpoint_handle(ep, &src, out);
}

/* The endpoint answers the metrics path (GET only), and counts neither it
 * nor the health path; a credential is counted with its mode. */
static void
test_endpoint_metrics_path(void **state)
{
	struct config c;
	struct endpoint ep;
	struct unit_answer a;
	struct buf out, b;

	(void)state;
	unit_load_config(&c, "mode = jwt\n", "key = xVLyHw.A1b2Cq:"
	    "Jw0xqsCIBjTJP0uLqGsYz3f7e5dN5PLV\n");
	endpoint_init(&ep, &c);
	buf_init(&out, ENDPOINT_ANSWER_MAX);
	metrics_reset();
	ask(&ep, "GET", "/request-token", &out);
	ask(&ep, "GET", "/request-token?ttl=1", &out);  /* 400, 40003 */
	ask(&ep, "GET", "/healthz", &out);
	ask(&ep, "POST", "/metrics", &out);
	unit_parse_answer(&out, &a, 1);
	assert_int_equal(a.status, 405);
	ask(&ep, "GET", "/metrics", &out);
	unit_parse_answer(&out, &a, 1);
	assert_int_equal(a.status, 200);
	unit_assert_header(&a, "Content-Type", METRICS_CONTENT_TYPE);
	buf_init(&b, METRICS_TEXT_MAX);
	assert_int_equal(buf_adds(&b, "\n"), TOK_OK);
	assert_int_equal(buf_add(&b, a.body, a.body_len), TOK_OK);
	has_line(&b, "ably_token_requests_total{mode=\"jwt\",status=\"200\"} 1");
	has_line(&b, "ably_token_requests_total{mode=\"jwt\",status=\"400\"} 1");
	has_line(&b, "ably_token_requests_total{mode=\"jwt\",status=\"405\"} 0");
	has_line(&b, "ably_token_errors_total{code=\"40003\"} 1");
	has_line(&b, "ably_token_credentials_issued_total{mode=\"jwt\"} 1");
	buf_free(&b);
	buf_free(&out);
	config_free(&c);
}

/* An empty metrics_path: the path is no longer special. */
static void
test_endpoint_metrics_path_off(void **state)
{
	struct config c;
	struct endpoint ep;
	struct unit_answer a;
	struct buf out;

	(void)state;
	unit_load_config(&c, "mode = jwt\nmetrics_path =\n", "key = xVLyHw."
	    "A1b2Cq:Jw0xqsCIBjTJP0uLqGsYz3f7e5dN5PLV\n");
	assert_null(c.metrics_path);
	endpoint_init(&ep, &c);
	buf_init(&out, ENDPOINT_ANSWER_MAX);
	ask(&ep, "GET", "/metrics", &out);
	unit_parse_answer(&out, &a, 1);
	assert_null(strstr(out.data, "ably_token_"));
	buf_free(&out);
	config_free(&c);
}

UNIT_MAIN("metrics",
    cmocka_unit_test(test_requests_by_mode_status_and_code),
    cmocka_unit_test(test_histogram_cumulative_in_seconds),
    cmocka_unit_test(test_ably_calls_fallbacks_hosts_clock),
    cmocka_unit_test(test_supervisor_hooks),
    cmocka_unit_test(test_escape_and_build_info),
    cmocka_unit_test(test_shared_across_fork),
    cmocka_unit_test(test_endpoint_metrics_path),
    cmocka_unit_test(test_endpoint_metrics_path_off))
