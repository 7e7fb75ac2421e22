/* Unit tests: config_check_open_to_all, the start-up warning for a policy
 * that gives every caller, without a login, everything the key allows. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "config.h"
#include "config_check.h"
#include "unit.h"

#define ALL "{\"*\":[\"*\"]}"
#define SECRET_LINE "trusted_header_secret = 0123456789abcdef0123\n"

struct open_case {
	const char *name;
	const char *text;    /* the config file */
	const char *where;   /* the setting named, or NULL: no warning */
};

static const struct open_case open_cases[] = {
	{ "built-in defaults", "", NULL },
	{ "the old demo defaults", "client_id = example-client-id\n"
	  "capability = " ALL "\n", "capability" },
	{ "anonymous, everything", "client_id =\ncapability = " ALL "\n",
	  "capability" },
	{ "more than everything is everything",
	  "capability = {\"*\":[\"*\"],\"[*]*\":[\"subscribe\"]}\n",
	  "capability" },
	{ "every channel, not every operation",
	  "capability = {\"*\":[\"subscribe\",\"publish\"]}\n", NULL },
	{ "$random: a `*` rule decides", "client_id = $random\n"
	  "rule.all.match = *\nrule.all.capability = " ALL "\n",
	  "rule.all.capability" },
	{ "$random: a narrow `*` rule wins over the top level",
	  "client_id = $random\ncapability = " ALL "\n"
	  "rule.all.match = *\nrule.all.capability = {\"chat\":[\"*\"]}\n",
	  NULL },
	{ "$random: a user: rule never matches a made-up id",
	  "client_id = $random\nrule.u.match = user:anon-x\n"
	  "rule.u.capability = " ALL "\n", NULL },
	{ "a fixed id: its user: rule",
	  "client_id = kiosk\nrule.k.match = user:kiosk\n"
	  "rule.k.capability = " ALL "\n", "rule.k.capability" },
	{ "a fixed id: its group",
	  "client_id = kiosk\ngroup.screens = kiosk, lobby\n"
	  "rule.s.match = group:screens\nrule.s.capability = " ALL "\n",
	  "rule.s.capability" },
	{ "a fixed id: another user's rule",
	  "client_id = kiosk\ncapability = {\"chat\":[\"subscribe\"]}\n"
	  "rule.a.match = user:admin\nrule.a.capability = " ALL "\n", NULL },
	{ "no id: rules never match",
	  "client_id =\nrule.all.match = *\nrule.all.capability = " ALL "\n",
	  NULL },
	{ "$request: any rule is the caller's pick",
	  "client_id = $request\nrule.a.match = user:admin\n"
	  "rule.a.capability = " ALL "\n", "rule.a.capability" },
	{ "$remote_user: callers log in",
	  "client_id = $remote_user\ncapability = " ALL "\n", NULL },
	{ "$header: callers log in", SECRET_LINE
	  "client_id = $header:X-User\ncapability = " ALL "\n", NULL },
};

static void
test_open_case(void **state)
{
	const struct open_case *t = *state;
	struct config c;
	char where[160] = "";
	int open;

	unit_load_config(&c, "mode = token-request\n", t->text);
	open = config_check_open_to_all(&c.rules, c.capability, c.client_id,
	    where, sizeof(where));
	if (open != (t->where != NULL))
		fail_msg("%s: %d (%s)", t->name, open, where);
	if (t->where != NULL)
		assert_string_equal(where, t->where);
	config_free(&c);
}

int
main(void)
{
	static const struct CMUnitTest fixed[] = { { 0 } };

	return unit_run("config_check", fixed, 0, open_cases,
	    N_ELEMENTS(open_cases), sizeof(open_cases[0]), test_open_case, 0);
}
