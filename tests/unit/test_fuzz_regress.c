/* test_fuzz_regress: replay the fuzz corpus and every past finding.
 *
 * Each libFuzzer target in tests/fuzz/ is #included here with its entry
 * point renamed (fuzz.h), and fed every file of tests/fuzz/corpus/TARGET
 * (the seeds) and tests/fuzz/regressions/TARGET (inputs that once crashed
 * or broke a property: a fix keeps them here for good). A regression aborts
 * the binary, which tests/run-all.sh counts as a failure; under `make
 * check` ASan and UBSan watch the replay as they watch the fuzzer.
 *
 * Run from the repository root (as run-all.sh does), or set FUZZ_DIR.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_ENTRY fuzz_request_one
#include "../fuzz/fuzz_request.c"
#undef FUZZ_ENTRY
#define FUZZ_ENTRY fuzz_capability_one
#include "../fuzz/fuzz_capability.c"
#undef FUZZ_ENTRY
#define FUZZ_ENTRY fuzz_config_one
#include "../fuzz/fuzz_config.c"
#undef FUZZ_ENTRY
#define FUZZ_ENTRY fuzz_form_one
#include "../fuzz/fuzz_form.c"
#undef FUZZ_ENTRY
#define FUZZ_ENTRY fuzz_frame_one
#include "../fuzz/fuzz_frame.c"
#undef FUZZ_ENTRY
#define FUZZ_ENTRY fuzz_policy_one
#include "../fuzz/fuzz_policy.c"
#include "unit.h"
#undef FUZZ_ENTRY

typedef int (*fuzz_fn)(const uint8_t *, size_t);

/* Feed every regular file of dir to fn; returns how many. */
static int
replay_dir(const char *dir, fuzz_fn fn)
{
	DIR *d = opendir(dir);
	struct dirent *ent;
	int n = 0;

	if (d == NULL)
		return 0;
	while ((ent = readdir(d)) != NULL) {
		char path[1024];
		FILE *f;
		uint8_t *data;
		long len;

		if (ent->d_name[0] == '.')
			continue;
		(void)snprintf(path, sizeof(path), "%s/%s", dir, ent->d_name);
		f = fopen(path, "rb");
		assert_non_null(f);
		assert_int_equal(fseek(f, 0, SEEK_END), 0);
		len = ftell(f);
		assert_true(len >= 0);
		rewind(f);
		data = malloc((size_t)len + 1);
		assert_non_null(data);
		assert_int_equal(fread(data, 1, (size_t)len, f), (size_t)len);
		fclose(f);
		fn(data, (size_t)len);
		free(data);
		n++;
	}
	closedir(d);
	return n;
}

static void
replay(const char *target, fuzz_fn fn)
{
	const char *base = getenv("FUZZ_DIR") ? getenv("FUZZ_DIR") : "tests/fuzz";
	char dir[512];
	int seeds, found;

	(void)snprintf(dir, sizeof(dir), "%s/corpus/%s", base, target);
	seeds = replay_dir(dir, fn);
	(void)snprintf(dir, sizeof(dir), "%s/regressions/%s", base, target);
	found = replay_dir(dir, fn);
	print_message("%s: %d seeds, %d past findings replayed\n", target,
	    seeds, found);
	/* No seeds means the wrong directory, not a pass. */
	assert_true(seeds > 0);
}

static void test_request(void **state) { (void)state; replay("request", fuzz_request_one); }
static void test_capability(void **state) { (void)state; replay("capability", fuzz_capability_one); }
static void test_config(void **state) { (void)state; replay("config", fuzz_config_one); }
static void test_form(void **state) { (void)state; replay("form", fuzz_form_one); }
static void test_frame(void **state) { (void)state; replay("frame", fuzz_frame_one); }
static void test_policy(void **state) { (void)state; replay("policy", fuzz_policy_one); }

UNIT_MAIN("fuzz_regress",
    cmocka_unit_test(test_request),
    cmocka_unit_test(test_capability),
    cmocka_unit_test(test_config),
    cmocka_unit_test(test_form),
    cmocka_unit_test(test_frame),
    cmocka_unit_test(test_policy))
