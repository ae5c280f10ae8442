# SPDX-License-Identifier: MIT
# reconciler - see README.md.
#
# The public targets first make sure the Debian packages are there
# (tools/install-deps, quick when nothing is missing), then re-run make so that
# pkg-config is asked only once the libraries are installed.

# `make` alone builds (all). The .mk files included below declare rules
# before `all` does, and the first rule make reads is otherwise the default
# goal: it was _bench, a 1M-row benchmark (tests/test_make.c checks this).
.DEFAULT_GOAL := all

BUILD    ?= build
CC       ?= cc

PKGS      = libmariadb yaml-0.1 sqlite3 jansson libmicrohttpd libcurl libcrypto
CPPFLAGS += -Iinclude -Icore -D_GNU_SOURCE
# CFLAGS is the caller's (optimisation, debug info). The language, warning and
# sanitizer flags are appended with `override`, so that `make CFLAGS=-O0` on
# the command line cannot drop them (it used to: `make asan` built without
# -fsanitize and without -Werror).
CFLAGS   ?= -O2 -g
WARNINGS  = -std=c11 -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes \
            -Wmissing-prototypes -Wno-missing-field-initializers
# ASAN=1 (what `make asan` sets) builds everything under AddressSanitizer and
# UndefinedBehaviorSanitizer, and the build checks that it really did.
ASAN_FLAGS = -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
override CFLAGS += $(WARNINGS)
ifeq ($(ASAN),1)
override CFLAGS += $(ASAN_FLAGS)
endif
# pkg-config is asked once, on first use, and the answer kept (the eval
# turns each variable into a simple `:=` one). Not at parse time: `make all`
# on a fresh machine reads this file before tools/install-deps has installed
# pkg-config and the libraries, and only the make it starts then uses them.
pkg_config = $(shell pkg-config $(1))$(if $(filter 0,$(.SHELLSTATUS)),,$(error \
    pkg-config $(1) failed; tools/install-deps installs what is missing))
PKG_CFLAGS = $(eval PKG_CFLAGS := $$(call pkg_config,--cflags $$(PKGS)))$(PKG_CFLAGS)
PKG_LIBS   = $(eval PKG_LIBS := $$(call pkg_config,--libs $$(PKGS)))$(PKG_LIBS)
CRIT_LIBS  = $(eval CRIT_LIBS := $$(call pkg_config,--libs criterion))$(CRIT_LIBS)
LDLIBS    = $(PKG_LIBS) -ldl -lpthread -lm

# The version, in one place: the binary prints it (-DRC_VERSION), the
# package is named after it (tools/make/install.mk).
VERSION  := $(strip $(file <VERSION))

# Each object's header dependencies come from the compiler (-MMD -MP writes
# $(BUILD)/obj/X.d beside X.o, included at the end of this file).
DEPFLAGS  = -MMD -MP

CORE_SRC  = $(filter-out core/cli/main.c,$(wildcard core/*/*.c))
# The generated sources the core links, each made by its own rule
# (migrations and figure_defaults here, console_files in console.mk, paths
# and skeleton in install.mk), listed here once: fuzz.mk builds the same list.
CORE_GEN  = migrations figure_defaults console_files paths skeleton
CORE_OBJ  = $(CORE_SRC:%.c=$(BUILD)/obj/%.o) $(CORE_GEN:%=$(BUILD)/obj/gen/%.o)
SQL_FILES = $(sort $(wildcard sql/mysql/*.sql)) $(sort $(wildcard sql/sqlite/*.sql))
PLUGINS   = $(patsubst plugins/%.c,$(BUILD)/plugins/%.so,$(wildcard plugins/*.c))
FIXTURES  = $(patsubst tests/fixtures/%.c,$(BUILD)/tests/plugins/%.so,$(wildcard tests/fixtures/*.c)) \
            $(patsubst tests/fixtures/crashprobe/%.c,$(BUILD)/tests/crashprobe/%.so,$(wildcard tests/fixtures/crashprobe/*.c)) \
            $(patsubst tests/fixtures/hostile/%.c,$(BUILD)/tests/hostile/%.so,$(wildcard tests/fixtures/hostile/*.c))
TEST_SRC  = $(wildcard tests/test_*.c) $(wildcard tests/th_*.c) tests/helpers.c
TEST_OBJ  = $(TEST_SRC:%.c=$(BUILD)/obj/%.o)

PUBLIC = all demo test check asan bench
# Further test stages that `make test` runs after the unit suite, each a
# target `_test-NAME` declared in its own file under tools/make/ (one job per
# file: install, faults, cluster, fuzz, browser...). Such a file may also add
# public targets to PUBLIC.
TEST_STAGES =
include $(sort $(wildcard tools/make/*.mk))

.PHONY: $(PUBLIC) $(addprefix _,$(PUBLIC)) install-deps clean

$(PUBLIC):
	@tools/install-deps
	@$(MAKE) --no-print-directory _$@

install-deps:
	@tools/install-deps

_all: $(BUILD)/reconciler $(BUILD)/reconciler-scenario-check $(PLUGINS) $(FIXTURES) $(BUILD)/tests/unit

# One run of the pipeline on an SQLite demo database that it creates.
_demo: _all
	@tools/demo $(BUILD)

# Every test: Criterion unit and integration tests on SQLite and on a real
# MariaDB server that tests/with-mariadb starts under $(BUILD) and stops.
#
# The unit suite runs UNIT_JOBS tests at a time (twice the cores, as make
# check), then the suites whose tests race threads, servers, signals and
# child processes (UNIT_AGAIN, a Criterion glob) run once more: a second
# interleaving, proof that they share nothing (each reserves its ports, has
# its own temp folder and databases) and wait on facts, not on time. Both
# passes together take less than the one pass two at a time did (3.5 min
# against 4 here). `make asan` runs two at a time (the sanitizers' slower
# tests); UNIT_TWICE=1 runs the whole suite twice.
UNIT_JOBS  ?= $(CHECK_JOBS)
UNIT_AGAIN ?= @(service|http|http_edge|http_conns|jobs_service|reload_*|trace_service|shutdown_hung|lifetimes|workers)/*
UNIT_TWICE ?= 0
_test: _all $(BUILD)/locale/de_DE.UTF-8/LC_NUMERIC
	@tools/check-layers
	@RECONCILER_BUILD=$(BUILD) tests/with-mariadb $(BUILD) $(BUILD)/tests/unit --jobs $(UNIT_JOBS)
	@if [ "$(UNIT_TWICE)" = 1 ]; then echo "unit suite, second run"; \
	    RECONCILER_BUILD=$(BUILD) tests/with-mariadb $(BUILD) $(BUILD)/tests/unit --jobs $(UNIT_JOBS); \
	else echo "unit suite, second run of $(UNIT_AGAIN)"; \
	    RECONCILER_BUILD=$(BUILD) tests/with-mariadb $(BUILD) $(BUILD)/tests/unit --jobs $(UNIT_JOBS) \
	        --filter '$(UNIT_AGAIN)'; fi
	@for s in $(TEST_STAGES); do \
	    $(MAKE) --no-print-directory _test-$$s || exit 1; done

# The edit-compile-test loop (docs/tests.md, "make check"): the same suite
# on SQLite and MariaDB, without the layer check and the stages, its tests
# CHECK_JOBS at a time (most of them wait on servers and child processes,
# so twice the cores keeps the CPUs busy); CHECK_FILTER, a Criterion glob
# on suite/test, runs some of them (make check CHECK_FILTER='sql_step/*').
CHECK_JOBS   ?= $(shell echo $$(( $$(nproc) * 2 )))
CHECK_FILTER ?=
_check: _all $(BUILD)/locale/de_DE.UTF-8/LC_NUMERIC
	@RECONCILER_BUILD=$(BUILD) tests/with-mariadb $(BUILD) $(BUILD)/tests/unit \
	    --jobs $(CHECK_JOBS) $(if $(CHECK_FILTER),--filter '$(CHECK_FILTER)')

# A comma-decimal locale for the tests that check numbers never follow the
# locale (LOCPATH points at it: no root, nothing outside build/).
$(BUILD)/locale/de_DE.UTF-8/LC_NUMERIC:
	@mkdir -p $(BUILD)/locale
	@localedef -c -i de_DE -f UTF-8 $(BUILD)/locale/de_DE.UTF-8 2>/dev/null || \
	    test -f $@

# The same tests under AddressSanitizer + UndefinedBehaviorSanitizer. The
# binaries are checked for the sanitizers' symbols first: a build that
# silently lost -fsanitize fails here instead of passing unchecked.
ASAN_BUILD = $(BUILD)/asan
_asan:
	@$(MAKE) --no-print-directory _all BUILD=$(ASAN_BUILD) ASAN=1 CFLAGS="-O1 -g"
	@tools/check-asan $(ASAN_BUILD)
	@LSAN_OPTIONS=suppressions=$(CURDIR)/tests/lsan.supp \
	    $(MAKE) --no-print-directory _test BUILD=$(ASAN_BUILD) ASAN=1 CFLAGS="-O1 -g" UNIT_JOBS=2

_bench: _all
	@tools/bench $(BUILD)

$(BUILD)/reconciler: $(BUILD)/obj/core/cli/main.o $(BUILD)/libcore.a
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/reconciler-scenario-check: $(BUILD)/obj/tools/scenario_check.o $(BUILD)/libcore.a
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# Made afresh: `ar r` on an old archive keeps the members of deleted
# sources and appends new ones after the old, so the archive (and the
# binary linked from it) would depend on the build's history.
$(BUILD)/libcore.a: $(CORE_OBJ)
	@mkdir -p $(@D)
	@rm -f $@
	$(AR) rcs $@ $^

# An object without its .d yet (a build from before -MMD) is made again
# once: each .d is named as a target with no recipe, so a missing one
# counts as new (a pattern rule would make it an intermediate file, which
# make does not remake for its own sake).
DEPFILES = $(patsubst %.c,$(BUILD)/obj/%.d,$(CORE_SRC) core/cli/main.c tools/scenario_check.c \
               $(TEST_SRC) tests/galera/test_galera.c tests/galera/test_galera_jobs.c \
               tests/galera/th_galera.c)
$(BUILD)/obj/%.o: %.c $(BUILD)/obj/%.d
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(DEPFLAGS) $(PKG_CFLAGS) $(CFLAGS) -c -o $@ $<
$(DEPFILES):

$(BUILD)/obj/core/cli/main.o: override CPPFLAGS += -DRC_VERSION='"$(VERSION)"'
$(BUILD)/obj/core/cli/main.o: VERSION

# Migrations are compiled into the binary: an installed reconciler needs no sql/.
$(BUILD)/gen/migrations.c: $(SQL_FILES) tools/embed-sql
	@mkdir -p $(@D)
	tools/embed-sql $@ $(SQL_FILES)

# The live figures' defaults (conf/figures.yaml), compiled in (CORE_GEN: above).
$(BUILD)/gen/figure_defaults.c: conf/figures.yaml tools/embed-text
	@mkdir -p $(@D)
	tools/embed-text $@ config/figure_defaults.h figure_defaults_yaml=conf/figures.yaml

$(BUILD)/obj/gen/figure_defaults.o: $(BUILD)/gen/figure_defaults.c core/config/figure_defaults.h
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(DEPFLAGS) $(CFLAGS) -c -o $@ $<

$(BUILD)/obj/gen/migrations.o: $(BUILD)/gen/migrations.c core/db/migrate.h core/db/db.h
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(DEPFLAGS) $(CFLAGS) -c -o $@ $<

# Plugins see only include/: no core header, no core symbol.
PLUGIN_CFLAGS = -Iinclude $(CFLAGS) -fPIC -shared -fvisibility=hidden

$(BUILD)/plugins/%.so: plugins/%.c include/reconciler.h
	@mkdir -p $(@D)
	$(CC) $(PLUGIN_CFLAGS) $(LDFLAGS) -o $@ $< -lm
	@chmod go-w $(@D) $@ # plugin.c refuses what others may write (StrictModes)

$(BUILD)/tests/plugins/%.so: tests/fixtures/%.c include/reconciler.h
	@mkdir -p $(@D)
	$(CC) $(PLUGIN_CFLAGS) -o $@ $< -lm
	@chmod go-w $(@D) $@ # plugin.c refuses what others may write (StrictModes)

$(BUILD)/tests/crashprobe/%.so: tests/fixtures/crashprobe/%.c include/reconciler.h
	@mkdir -p $(@D)
	$(CC) $(PLUGIN_CFLAGS) -o $@ $< -lm
	@chmod go-w $(@D) $@ # plugin.c refuses what others may write (StrictModes)

# Plugins that attack the worker model (tests/test_hostile.c): a folder of their own, since
# loading one (its constructor) crashes.
$(BUILD)/tests/hostile/%.so: tests/fixtures/hostile/%.c include/reconciler.h
	@mkdir -p $(@D)
	$(CC) $(PLUGIN_CFLAGS) -o $@ $< -lm
	@chmod go-w $(@D) $@ # plugin.c refuses what others may write (StrictModes)

$(BUILD)/tests/unit: $(TEST_OBJ) $(BUILD)/libcore.a
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -o $@ $^ $(CRIT_LIBS) $(LDLIBS)

clean:
	rm -rf $(BUILD)

# The header dependencies the compiler wrote (see DEPFLAGS).
-include $(wildcard $(DEPFILES) $(BUILD)/obj/gen/*.d)
