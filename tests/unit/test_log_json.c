/* Unit tests: log_json (the JSON line writer and its escaping) and log's
 * lines in both formats, read back from a captured stderr. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "log.h"
#include "log_json.h"
#include "unit.h"
#include "utf8.h"

/* One string value: the bytes in, the JSON text out (without quotes). */
struct esc_case {
	const char *name;
	const char *in;
	size_t n;
	const char *out;
};

#define S(s) s, sizeof(s) - 1

static const struct esc_case esc_cases[] = {
	{ "plain text", S("GET /request-token"), "GET /request-token" },
	{ "quote and backslash", S("a\"b\\c"), "a\\\"b\\\\c" },
	{ "short escapes", S("\n\r\t"), "\\n\\r\\t" },
	{ "other C0 controls", S("\x01\x08\x0c\x1b\x1f"),
	    "\\u0001\\u0008\\u000c\\u001b\\u001f" },
	{ "NUL inside", S("a\0b"), "a\\u0000b" },
	{ "DEL", S("\x7f"), "\\u007f" },
	{ "C1 controls", S("\xc2\x80\xc2\x9b\xc2\x9f"),
	    "\\u0080\\u009b\\u009f" },
	{ "U+00A0 is text", S("\xc2\xa0"), "\xc2\xa0" },
	{ "two, three and four bytes", S("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f"
	    "\x98\x80"), "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80" },
	{ "U+10FFFF", S("\xf4\x8f\xbf\xbf"), "\xf4\x8f\xbf\xbf" },
	{ "a lone continuation byte", S("a\x80z"), "a\\ufffdz" },
	{ "Latin-1, not UTF-8", S("caf\xe9"), "caf\\ufffd" },
	{ "overlong slash", S("\xc0\xaf"), "\\ufffd\\ufffd" },
	{ "overlong three bytes", S("\xe0\x80\xaf"),
	    "\\ufffd\\ufffd\\ufffd" },
	{ "a surrogate", S("\xed\xa0\x80"), "\\ufffd\\ufffd\\ufffd" },
	{ "past U+10FFFF", S("\xf4\x90\x80\x80"),
	    "\\ufffd\\ufffd\\ufffd\\ufffd" },
	{ "F5 and up", S("\xf5\xff"), "\\ufffd\\ufffd" },
	{ "a cut sequence at the end", S("ok\xe2\x82"), "ok\\ufffd\\ufffd" },
	{ "a cut sequence before ASCII", S("\xf0\x9f\x98z"),
	    "\\ufffd\\ufffd\\ufffdz" },
};

static void
test_escape(void **state)
{
	const struct esc_case *c = *state;
	char out[256];
	size_t used, n;

	n = log_json_escape(out, sizeof(out), c->in, c->n, &used);
	assert_int_equal(used, c->n);
	out[n] = '\0';
	assert_string_equal(out, c->out);
}

/* A full buffer stops before a whole escape or character, never inside. */
static void
test_escape_stops_whole(void **state)
{
	char out[16];
	size_t used, n;

	(void)state;
	n = log_json_escape(out, 3, "ab\n", 3, &used);
	assert_int_equal(n, 2);
	assert_int_equal(used, 2);
	n = log_json_escape(out, 4, "a\xe2\x82\xac", 4, &used);
	assert_int_equal(n, 4);
	assert_int_equal(used, 4);
	n = log_json_escape(out, 3, "a\xe2\x82\xac", 4, &used);
	assert_int_equal(n, 1);
	assert_int_equal(used, 1);
	n = log_json_escape(out, 6, "a\x01", 2, &used);
	assert_int_equal(n, 1);
	assert_int_equal(used, 1);
}

/* Parse a line (without its newline) as one JSON object; fails the test
 * if it is not one. The caller puts it. */
static struct json_object *
parse_line(const char *line, size_t n)
{
	struct json_tokener *tok = json_tokener_new();
	struct json_object *o;

	assert_non_null(tok);
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
	o = json_tokener_parse_ex(tok, line, (int)n);
	assert_int_equal(json_tokener_get_error(tok), json_tokener_success);
	assert_int_equal(json_tokener_get_parse_end(tok), n);
	json_tokener_free(tok);
	assert_true(json_object_is_type(o, json_type_object));
	return o;
}

static const char *
member(struct json_object *o, const char *name)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, name, &v))
		return NULL;
	return json_object_get_string(v);
}

static void
test_line_fields(void **state)
{
	char buf[256];
	struct log_json j;
	struct json_object *o;
	size_t n;

	(void)state;
	log_json_begin(&j, buf, sizeof(buf));
	log_json_string(&j, "msg", S("say \"hi\"\n"));
	log_json_number(&j, "status", -403);
	log_json_null(&j, "rule");
	n = log_json_end(&j);
	assert_int_equal(buf[n - 1], '\n');
	assert_memory_equal(buf, "{\"msg\":\"say \\\"hi\\\"\\n\",\"status\":-403,"
	    "\"rule\":null}\n", n);
	assert_false(j.cut);
	o = parse_line(buf, n - 1);
	assert_string_equal(member(o, "msg"), "say \"hi\"\n");
	json_object_put(o);
}

/* Whatever no longer fits is cut with "..." or left out, and the line is
 * still one object. */
static void
test_line_cut(void **state)
{
	char buf[48], big[2000];
	struct log_json j;
	struct json_object *o;
	size_t n, cap;

	(void)state;
	memset(big, '\n', sizeof(big));  /* each becomes two bytes */
	for (cap = 4; cap <= sizeof(buf); cap++) {
		log_json_begin(&j, buf, cap);
		log_json_number(&j, "n", 12345);
		log_json_string(&j, "s", big, sizeof(big));
		log_json_number(&j, "after", 1);
		n = log_json_end(&j);
		assert_true(n <= cap);
		assert_true(n >= 3);
		o = parse_line(buf, n - 1);
		json_object_put(o);
	}
	assert_true(j.cut);
	assert_non_null(memmem(buf, n, "...\"", 4));
	/* One value is at most LOG_JSON_VALUE_MAX bytes, even with room. */
	{
		char line[4096];

		log_json_begin(&j, line, sizeof(line));
		log_json_string(&j, "s", big, sizeof(big));
		n = log_json_end(&j);
		assert_true(n <= LOG_JSON_VALUE_MAX + 10);
		assert_true(j.cut);
		o = parse_line(line, n - 1);
		json_object_put(o);
	}
}

/* Random bytes of every kind: always one object of valid UTF-8 text with
 * no control character, that gives the same string back where nothing
 * was replaced. */
static void
test_line_random_bytes(void **state)
{
	unsigned seed = 12345;
	int round;

	(void)state;
	for (round = 0; round < 2000; round++) {
		char in[64], line[1024];
		struct log_json j;
		struct json_object *o;
		size_t n, len = (size_t)(round % 64), i;

		for (i = 0; i < len; i++) {
			seed = seed * 1103515245u + 12345u;
			in[i] = (char)(seed >> 16);
		}
		log_json_begin(&j, line, sizeof(line));
		log_json_string(&j, "v", in, len);
		n = log_json_end(&j);
		assert_true(utf8_text_ok(line, n - 1));
		o = parse_line(line, n - 1);
		if (utf8_text_ok(in, len)) {
			assert_int_equal(strlen(member(o, "v")), len);
			assert_memory_equal(member(o, "v"), in, len);
		}
		json_object_put(o);
	}
}

/* What log writes to stderr during fn(), NUL-terminated, the caller's. */
static char *
capture(void (*fn)(void))
{
	FILE *tmp = tmpfile();
	int saved = dup(STDERR_FILENO);
	char *text;
	long n;

	assert_non_null(tmp);
	assert_true(saved >= 0);
	assert_int_not_equal(dup2(fileno(tmp), STDERR_FILENO), -1);
	fn();
	log_flush();
	assert_int_not_equal(dup2(saved, STDERR_FILENO), -1);
	close(saved);
	n = ftell(tmp);
	assert_true(n >= 0);
	text = calloc(1, (size_t)n + 1);
	assert_non_null(text);
	rewind(tmp);
	assert_int_equal(fread(text, 1, (size_t)n, tmp), (size_t)n);
	fclose(tmp);
	return text;
}

static const struct log_request refused = {
	.method = "GET", .path = "/request-token", .status = 403,
	.error_code = 40300, .error = "clientId \"x\" is not allowed",
	.mode = "token", .identity_source = "$header", .rule_known = 1,
	.rule = "fans", .client_id = NULL, .ttl_ms = 0,
	.upstream_host = NULL, .trace_id = "4bf92f3577b34da6a3ce929d0e0e4736",
	.duration_ms = 3,
};

static const struct log_request served = {
	.method = "POST", .path = "/request-token", .status = 200,
	.mode = "token", .identity_source = "fixed", .rule_known = 1,
	.rule = NULL, .client_id = "caf\xc3\xa9\n", .ttl_ms = 3600000,
	.upstream_host = "fb1.test", .upstream_tries = 2, .upstream_ms = 41,
	.duration_ms = 42,
};

static void
write_lines(void)
{
	log_set_request_id("0c4bd9c62d5f3a0e7b1f6a8d2e9c4b17");
	log_warn("ably %s: HTTP %d (%s)", "main.realtime.ably.net", 503,
	    "bad\x01\xff");
	log_request_line(LOGL_INFO, &refused);
	log_request_line(LOGL_INFO, &served);
	log_set_request_id(NULL);
	log_info("serving with %d workers", 2);
}

static void
test_log_json_lines(void **state)
{
	struct json_object *o[4], *v;
	char *text, *line, *nl;
	int i = 0;

	(void)state;
	log_set_format(LOG_FORMAT_JSON);
	log_set_pid(77);
	text = capture(write_lines);
	log_set_format(LOG_FORMAT_TEXT);
	for (line = text; (nl = strchr(line, '\n')) != NULL; line = nl + 1) {
		assert_true(i < 4);
		o[i++] = parse_line(line, (size_t)(nl - line));
	}
	assert_int_equal(i, 4);
	assert_string_equal(line, "");  /* every line ends in '\n' */
	/* Every line: time, level, pid. */
	for (i = 0; i < 4; i++) {
		assert_non_null(member(o[i], "time"));
		assert_int_equal(strlen(member(o[i], "time")), 24);
		assert_int_equal(member(o[i], "time")[23], 'Z');
		assert_string_equal(member(o[i], "pid"), "77");
	}
	assert_string_equal(member(o[0], "level"), "warn");
	assert_string_equal(member(o[0], "request_id"),
	    "0c4bd9c62d5f3a0e7b1f6a8d2e9c4b17");
	assert_string_equal(member(o[0], "msg"),
	    "ably main.realtime.ably.net: HTTP 503 (bad\x01\xef\xbf\xbd)");

	assert_string_equal(member(o[1], "msg"), "request");
	assert_string_equal(member(o[1], "method"), "GET");
	assert_string_equal(member(o[1], "status"), "403");
	assert_string_equal(member(o[1], "error_code"), "40300");
	assert_string_equal(member(o[1], "error"),
	    "clientId \"x\" is not allowed");
	assert_string_equal(member(o[1], "identity_source"), "$header");
	assert_string_equal(member(o[1], "rule"), "fans");
	assert_string_equal(member(o[1], "trace_id"),
	    "4bf92f3577b34da6a3ce929d0e0e4736");
	assert_null(member(o[1], "client_id"));
	assert_null(member(o[1], "upstream_host"));
	assert_null(member(o[1], "ttl_ms"));

	assert_string_equal(member(o[2], "status"), "200");
	assert_null(member(o[2], "error_code"));
	assert_true(json_object_object_get_ex(o[2], "rule", &v));
	assert_null(v);  /* the top level */
	assert_string_equal(member(o[2], "client_id"), "caf\xc3\xa9\n");
	assert_string_equal(member(o[2], "ttl_ms"), "3600000");
	assert_string_equal(member(o[2], "upstream_host"), "fb1.test");
	assert_string_equal(member(o[2], "upstream_tries"), "2");
	assert_string_equal(member(o[2], "upstream_ms"), "41");
	assert_string_equal(member(o[2], "duration_ms"), "42");
	assert_string_equal(member(o[2], "mode"), "token");

	assert_string_equal(member(o[3], "level"), "info");
	assert_null(member(o[3], "request_id"));
	assert_string_equal(member(o[3], "msg"), "serving with 2 workers");
	for (i = 0; i < 4; i++)
		json_object_put(o[i]);
	free(text);
}

/* The text format is as it was, with the trace id added. */
static void
test_log_text_lines(void **state)
{
	char *text;

	(void)state;
	log_set_format(LOG_FORMAT_TEXT);
	log_set_pid(77);
	text = capture(write_lines);
	assert_string_equal(text,
	    "ably-token[77] warn rid=0c4bd9c62d5f3a0e7b1f6a8d2e9c4b17: ably "
	    "main.realtime.ably.net: HTTP 503 (bad\x01\xff)\n"
	    "ably-token[77] info rid=0c4bd9c62d5f3a0e7b1f6a8d2e9c4b17: GET "
	    "/request-token -> 403 code=40300 (clientId \"x\" is not allowed) "
	    "trace=4bf92f3577b34da6a3ce929d0e0e4736 3ms\n"
	    "ably-token[77] info rid=0c4bd9c62d5f3a0e7b1f6a8d2e9c4b17: POST "
	    "/request-token -> ok clientId=caf\\xc3\\xa9\\x0a 42ms\n"
	    "ably-token[77] info: serving with 2 workers\n");
	free(text);
}

static void
test_format_names(void **state)
{
	enum log_format f;

	(void)state;
	assert_int_equal(log_format_parse("json", &f), 0);
	assert_int_equal(f, LOG_FORMAT_JSON);
	assert_int_equal(log_format_parse("text", &f), 0);
	assert_int_equal(f, LOG_FORMAT_TEXT);
	assert_int_equal(log_format_parse("JSON", &f), -1);
	assert_int_equal(log_format_parse("", &f), -1);
	assert_string_equal(log_format_name(LOG_FORMAT_JSON), "json");
}

int
main(void)
{
	static const struct CMUnitTest fixed[] = {
		cmocka_unit_test(test_escape_stops_whole),
		cmocka_unit_test(test_line_fields),
		cmocka_unit_test(test_line_cut),
		cmocka_unit_test(test_line_random_bytes),
		cmocka_unit_test(test_log_json_lines),
		cmocka_unit_test(test_log_text_lines),
		cmocka_unit_test(test_format_names),
	};

	return UNIT_RUN("log_json", esc_cases, test_escape, fixed);
}
