# ably-token-fcgi: plain GNU make. `make` builds build/ably-token;
# `make test` installs what is missing, then runs every test;
# `make run` starts the demo on http://localhost:3000/.

PKGS     = fcgi libcurl json-c libcrypto
WARN     = -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wstrict-prototypes \
           -Wmissing-prototypes -Wwrite-strings
CFLAGS  ?= -O2 -g
# User CFLAGS never remove the warnings or the hardening.
ALL_CFLAGS = -std=c11 -D_GNU_SOURCE $(WARN) $(CFLAGS) -D_FORTIFY_SOURCE=2 \
             -fstack-protector-strong -MMD -MP \
             $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
LDLIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null)
PREFIX  ?= /usr/local

BUILD   ?= build
SRCS     = $(wildcard fcgi/*.c)
LIB_SRCS = $(filter-out fcgi/main.c,$(SRCS))
LIB_OBJS = $(LIB_SRCS:fcgi/%.c=$(BUILD)/obj/%.o)
UNIT_SRCS = $(wildcard tests/unit/test_*.c)
UNIT_BINS = $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/%)

all: $(BUILD)/ably-token

$(BUILD)/ably-token: $(BUILD)/obj/main.o $(LIB_OBJS)
	$(CC) $(ALL_CFLAGS) -o $@ $^ $(LDFLAGS) $(LDLIBS)

$(BUILD)/obj/%.o: fcgi/%.c | $(BUILD)/obj
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

# Unit tests link the library objects (tests that need a module's static
# functions #include its .c instead, and are built without that object).
$(BUILD)/tests/%: tests/unit/%.c $(LIB_OBJS) | $(BUILD)/tests
	$(CC) $(ALL_CFLAGS) -Ifcgi -o $@ $< $(LIB_OBJS) $(LDFLAGS) $(LDLIBS) \
	    $(shell pkg-config --libs cmocka)

$(BUILD)/obj $(BUILD)/tests:
	mkdir -p $@

unit: $(UNIT_BINS)

deps:
	@scripts/install-deps.sh

# Every suite, one closing line "N passed, N failed".
test: deps
	$(MAKE) all unit
	@tests/run-all.sh $(BUILD)

# The same suites against an ASan+UBSan build.
check: deps
	$(MAKE) BUILD=build-asan CFLAGS="-O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all" LDFLAGS="-fsanitize=address,undefined" all unit
	@ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	    tests/run-all.sh build-asan

run: deps all
	@scripts/run-demo.sh

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/ably-token
	install -m 0755 $(BUILD)/ably-token $(DESTDIR)$(PREFIX)/bin/ably-token
	install -m 0644 conf/ably-token.conf nginx.conf.example \
	    $(DESTDIR)$(PREFIX)/share/ably-token/

clean:
	rm -rf build build-*/

.PHONY: all unit deps test check run install clean
.SECONDARY:

-include $(wildcard $(BUILD)/obj/*.d $(BUILD)/tests/*.d)
