/* fuzz.h: what the libFuzzer targets in tests/fuzz share.
 *
 * Each target defines its entry point as FUZZ_ENTRY. Built by `make fuzz`
 * it is LLVMFuzzerTestOneInput; tests/unit/test_fuzz_regress.c defines
 * FUZZ_ENTRY to a name of its own and #includes every target, so the saved
 * corpus and every past finding (tests/fuzz/regressions/) replay as a plain
 * unit test in `make test` and under ASan in `make check`.
 *
 * A target aborts (FUZZ_CHECK) when a property it checks does not hold;
 * libFuzzer reports that as a crash and saves the input.
 */
#ifndef TOK_FUZZ_H
#define TOK_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#ifndef FUZZ_ENTRY
#define FUZZ_ENTRY LLVMFuzzerTestOneInput
#endif

/* A property that must hold for every input. */
#define FUZZ_CHECK(cond, what) do {                                      \
	if (!(cond)) {                                                   \
		fprintf(stderr, "fuzz property violated: %s (%s:%d)\n",  \
		    (what), __FILE__, __LINE__);                         \
		abort();                                                 \
	}                                                                \
} while (0)

#endif
