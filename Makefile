# ably-token-fcgi: plain GNU make. `make` builds build/ably-token;
# `make test` installs what is missing, then runs every test;
# `make run` starts the demo on http://localhost:3000/.

PKGS     = fcgi libcurl json-c libcrypto
WARN     = -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wstrict-prototypes \
           -Wmissing-prototypes -Wwrite-strings
CFLAGS  ?= -O2 -g
# User CFLAGS never remove the warnings or the hardening.
ALL_CFLAGS = -std=c11 -D_GNU_SOURCE -pthread $(WARN) $(CFLAGS) -D_FORTIFY_SOURCE=2 \
             -fstack-protector-strong -MMD -MP \
             $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
LDLIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null) -pthread
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

# Unit tests link the library objects, the fake web server and the helpers
# (unit.c) they share
# (tests that need a module's static functions #include its .c instead,
# and are built without that object).
UNIT_FAKE = tests/unit/fake_source.c tests/unit/unit.c
# A test that defines a module's public functions itself (a fake) names the
# module in UNIT_FAKES_<test> and is linked without its object:
# test_ably_rest runs the call state machine on a fake transport.
UNIT_FAKES_test_ably_rest = upstream ably_handles
$(BUILD)/tests/%: tests/unit/%.c $(UNIT_FAKE) tests/unit/fake_source.h tests/unit/unit.h $(LIB_OBJS) | $(BUILD)/tests
	$(CC) $(ALL_CFLAGS) -Ifcgi -o $@ $< $(UNIT_FAKE) \
	    $(filter-out $(UNIT_FAKES_$*:%=$(BUILD)/obj/%.o),$(LIB_OBJS)) $(LDFLAGS) $(LDLIBS) \
	    $(shell pkg-config --libs cmocka)

$(BUILD)/obj $(BUILD)/tests:
	mkdir -p $@

unit: $(UNIT_BINS)

deps:
	@scripts/install-deps.sh

# Only what building, installing and running need (no test tools): for a
# production host (doc/deploy-nginx.md).
deps-build:
	@scripts/install-deps.sh --build

# Every suite, one closing line "N passed, N failed".
test: deps
	$(MAKE) all unit
	@tests/run-all.sh $(BUILD)

# The same suites against an ASan+UBSan build. (A worker is one thread, its
# event loop: there is no ThreadSanitizer pass any more.)
check: deps
	$(MAKE) BUILD=build-asan CFLAGS="-O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all" LDFLAGS="-fsanitize=address,undefined" all unit
	@ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	    tests/run-all.sh build-asan

run: deps all
	@scripts/run-demo.sh

# `make install PREFIX=/usr/local DESTDIR=`: the binary, its man page, the
# systemd units, the config and server examples and the static page; the
# install list in doc/install.md names every file. Paths naming the install
# location in the units and the Apache example follow PREFIX.
MANDIR         ?= $(PREFIX)/share/man
SYSTEMDUNITDIR ?= $(PREFIX)/lib/systemd/system
DATADIR         = $(PREFIX)/share/ably-token
WWW_FILES       = $(wildcard $(addprefix www/*.,html css js svg png ico))
ABLY_JS         = $(firstword $(wildcard www/vendor/ably.min.js node_modules/ably/build/ably.min.js))
PREFIX_SED      = sed -e 's|/usr/local/bin/ably-token|$(PREFIX)/bin/ably-token|g' \
                      -e 's|/usr/local/share/ably-token|$(DATADIR)|g'

# ABLY_JS=FILE installs another copy of ably.min.js; without one, install
# stops (a page without ably-js cannot work). The directories install makes
# are listed in $(DATADIR)/installed-dirs for uninstall.
INSTALL_DIRS    = $(PREFIX)/bin $(MANDIR)/man8 $(SYSTEMDUNITDIR) $(DATADIR)/www/vendor
install: all
	@[ -n "$(ABLY_JS)" ] && [ -f "$(ABLY_JS)" ] || { \
	    echo "make install: no ably.min.js for the page: run npm ci first (scripts/install-deps.sh --build does), or give ABLY_JS=/path/to/ably.min.js" >&2; \
	    exit 1; }
	DESTDIR=$(DESTDIR) scripts/install-dirs.sh create $(DATADIR)/installed-dirs $(INSTALL_DIRS)
	install -m 0755 $(BUILD)/ably-token $(DESTDIR)$(PREFIX)/bin/ably-token
	install -m 0644 doc/ably-token.8 $(DESTDIR)$(MANDIR)/man8/ably-token.8
	install -m 0644 conf/ably-token.conf conf/htaccess.example $(DESTDIR)$(DATADIR)/
	$(PREFIX_SED) nginx.conf.example >$(DESTDIR)$(DATADIR)/nginx.conf.example
	$(PREFIX_SED) conf/apache-fcgid.conf.example >$(DESTDIR)$(DATADIR)/apache-fcgid.conf.example
	$(PREFIX_SED) conf/ably-token.socket >$(DESTDIR)$(SYSTEMDUNITDIR)/ably-token.socket
	$(PREFIX_SED) conf/ably-token.service >$(DESTDIR)$(SYSTEMDUNITDIR)/ably-token.service
	chmod 0644 $(DESTDIR)$(DATADIR)/nginx.conf.example $(DESTDIR)$(DATADIR)/apache-fcgid.conf.example \
	    $(DESTDIR)$(SYSTEMDUNITDIR)/ably-token.socket $(DESTDIR)$(SYSTEMDUNITDIR)/ably-token.service
	install -m 0644 $(WWW_FILES) $(DESTDIR)$(DATADIR)/www/
	install -m 0644 $(ABLY_JS) $(DESTDIR)$(DATADIR)/www/vendor/ably.min.js

# Removes exactly what install put there, the directories it made included
# (DATADIR is ours alone).
uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/ably-token $(DESTDIR)$(MANDIR)/man8/ably-token.8 \
	    $(DESTDIR)$(SYSTEMDUNITDIR)/ably-token.socket $(DESTDIR)$(SYSTEMDUNITDIR)/ably-token.service
	DESTDIR=$(DESTDIR) scripts/install-dirs.sh remove $(DATADIR)/installed-dirs $(DATADIR)

# For hosts where you cannot install libraries (shared hosting): libfcgi,
# json-c and OpenSSL's libcrypto linked in, with their symbols kept private;
# only glibc and libcurl (with what it needs) come from the host. Debian ships
# no static Kerberos/GSSAPI library, which its libcurl.a needs, so a fully
# static binary would need a libcurl built without GSSAPI (doc/shared-hosting.md).
STATIC_LDLIBS = -Wl,--as-needed -Wl,--exclude-libs,ALL \
                -Wl,-Bstatic -lfcgi -ljson-c -lcrypto -Wl,-Bdynamic -lcurl -ldl -pthread

static: $(BUILD)/ably-token-static

$(BUILD)/ably-token-static: $(BUILD)/obj/main.o $(LIB_OBJS)
	$(CC) $(ALL_CFLAGS) -o $@ $^ $(LDFLAGS) $(STATIC_LDLIBS)

.PHONY: uninstall static

# `make bench`: the signing micro-benchmark, then wrk against nginx + the
# binary, the trivial libfcgi responder and the Node baseline, all started on
# loopback and stopped by tests/bench/run.mjs (tests/bench/README.md).
# BENCH_ARGS passes options to it, e.g. BENCH_ARGS="--rounds 5".
BENCH_BINS = $(BUILD)/bench/fixed_responder $(BUILD)/bench/sign_bench

bench: deps
	$(MAKE) all $(BENCH_BINS)
	@node tests/bench/run.mjs --build $(BUILD) $(BENCH_ARGS)

$(BUILD)/bench/fixed_responder: tests/bench/fixed_responder.c | $(BUILD)/bench
	$(CC) $(ALL_CFLAGS) -o $@ $< $(LDFLAGS) $(LDLIBS)

# Links the library objects, like the unit tests.
$(BUILD)/bench/sign_bench: tests/bench/sign_bench.c $(LIB_OBJS) | $(BUILD)/bench
	$(CC) $(ALL_CFLAGS) -Ifcgi -o $@ $< $(LIB_OBJS) $(LDFLAGS) $(LDLIBS)

$(BUILD)/bench:
	mkdir -p $@

.PHONY: bench

# `make fuzz`: every libFuzzer target in tests/fuzz/ for FUZZ_SECONDS (60)
# seconds each, built with clang from fcgi/*.c (not main.c) under
# -fsanitize=fuzzer,address,undefined into build-fuzz/. The corpus grows in
# build-fuzz/corpus/ from the seeds in tests/fuzz/corpus/; a crash is saved in
# build-fuzz/artifacts/ (tests/fuzz/README.md says what to do with it).
# tests/fuzz/run.sh installs clang and libclang-rt-14-dev when they are
# missing: only fuzzing needs them, so `make deps` does not.
FUZZ_BUILD    = build-fuzz
FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 60
FUZZ_CFLAGS   = -std=c11 -D_GNU_SOURCE -g -O1 -fno-omit-frame-pointer \
                -fsanitize=address,undefined -fno-sanitize-recover=undefined \
                -MMD -MP $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
FUZZ_OBJS     = $(LIB_SRCS:fcgi/%.c=$(FUZZ_BUILD)/obj/%.o)
FUZZ_BINS     = $(patsubst tests/fuzz/%.c,$(FUZZ_BUILD)/%,$(wildcard tests/fuzz/fuzz_*.c))

fuzz: deps
	@tests/fuzz/run.sh --seconds $(FUZZ_SECONDS)

fuzz-build: $(FUZZ_BINS)

$(FUZZ_BUILD)/obj/%.o: fcgi/%.c | $(FUZZ_BUILD)/obj
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c -o $@ $<

$(FUZZ_BUILD)/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_OBJS)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -Ifcgi -o $@ $< $(FUZZ_OBJS) $(LDLIBS)

$(FUZZ_BUILD)/obj:
	mkdir -p $@

-include $(wildcard $(FUZZ_BUILD)/obj/*.d $(FUZZ_BUILD)/*.d)

# `make reliability`: faults under load (a worker killed, the Ably primary
# failing, nginx reloaded), the 200,000-request soak per mode with RSS and
# descriptor checks, valgrind, and the secret scan over every answer and log
# line; prints the table and writes tests/reliability/results/latest.txt
# (tests/reliability/README.md). RELIABILITY_ARGS passes options to it,
# e.g. RELIABILITY_ARGS="--soak 20000".
reliability: deps
	$(MAKE) all
	@node tests/reliability/run.mjs --build $(BUILD) $(RELIABILITY_ARGS)

.PHONY: fuzz fuzz-build reliability

clean:
	rm -rf build build-*/

.PHONY: all unit deps deps-build test check run install clean
.SECONDARY:

-include $(wildcard $(BUILD)/obj/*.d $(BUILD)/tests/*.d)
