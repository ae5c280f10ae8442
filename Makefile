# reconciler - see README.md.
#
# The public targets first make sure the Debian packages are there
# (tools/install-deps, quick when nothing is missing), then re-run make so that
# pkg-config is asked only once the libraries are installed.

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
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS))
PKG_LIBS   = $(shell pkg-config --libs $(PKGS))
LDLIBS    = $(PKG_LIBS) -ldl -lpthread -lm
CRIT_LIBS = $(shell pkg-config --libs criterion)

CORE_SRC  = $(filter-out core/cli/main.c,$(wildcard core/*/*.c))
CORE_OBJ  = $(CORE_SRC:%.c=$(BUILD)/obj/%.o) $(BUILD)/obj/gen/migrations.o \
            $(BUILD)/obj/gen/figure_defaults.o
SQL_FILES = $(sort $(wildcard sql/mysql/*.sql)) $(sort $(wildcard sql/sqlite/*.sql))
PLUGINS   = $(patsubst plugins/%.c,$(BUILD)/plugins/%.so,$(wildcard plugins/*.c))
FIXTURES  = $(patsubst tests/fixtures/%.c,$(BUILD)/tests/plugins/%.so,$(wildcard tests/fixtures/*.c)) \
            $(patsubst tests/fixtures/crashprobe/%.c,$(BUILD)/tests/crashprobe/%.so,$(wildcard tests/fixtures/crashprobe/*.c))
TEST_SRC  = $(wildcard tests/test_*.c) $(wildcard tests/th_*.c) tests/helpers.c
TEST_OBJ  = $(TEST_SRC:%.c=$(BUILD)/obj/%.o)

PUBLIC = all demo test asan bench
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
_test: _all $(BUILD)/locale/de_DE.UTF-8/LC_NUMERIC
	@tools/check-layers
	@RECONCILER_BUILD=$(BUILD) tests/with-mariadb $(BUILD) $(BUILD)/tests/unit
	@for s in $(TEST_STAGES); do \
	    $(MAKE) --no-print-directory _test-$$s || exit 1; done

# A comma-decimal locale for the tests that check numbers never follow the
# locale (LOCPATH points at it: no root, nothing outside build/).
$(BUILD)/locale/de_DE.UTF-8/LC_NUMERIC:
	@mkdir -p $(BUILD)/locale
	@localedef -c -i de_DE -f UTF-8 $(BUILD)/locale/de_DE.UTF-8 2>/dev/null || \
	    test -f $@

# The same tests under AddressSanitizer + UndefinedBehaviorSanitizer. The
# binaries are checked for the sanitizers' symbols first: a build that
# silently lost -fsanitize fails here instead of passing unchecked.
_asan:
	@$(MAKE) --no-print-directory _all BUILD=build/asan ASAN=1 CFLAGS="-O1 -g"
	@tools/check-asan build/asan
	@LSAN_OPTIONS=suppressions=$(CURDIR)/tests/lsan.supp \
	    $(MAKE) --no-print-directory _test BUILD=build/asan ASAN=1 CFLAGS="-O1 -g"

_bench: _all
	@tools/bench $(BUILD)

$(BUILD)/reconciler: $(BUILD)/obj/core/cli/main.o $(BUILD)/libcore.a
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/reconciler-scenario-check: $(BUILD)/obj/tools/scenario_check.o $(BUILD)/libcore.a
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/libcore.a: $(CORE_OBJ)
	@mkdir -p $(@D)
	$(AR) rcs $@ $^

$(BUILD)/obj/%.o: %.c $(wildcard include/*.h core/*/*.h tests/*.h)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(PKG_CFLAGS) $(CFLAGS) -c -o $@ $<

# Migrations are compiled into the binary: an installed reconciler needs no sql/.
$(BUILD)/gen/migrations.c: $(SQL_FILES) tools/embed-sql
	@mkdir -p $(@D)
	tools/embed-sql $@ $(SQL_FILES)

# The live figures' defaults (conf/figures.yaml), compiled in (CORE_OBJ: above).
$(BUILD)/gen/figure_defaults.c: conf/figures.yaml tools/embed-text
	@mkdir -p $(@D)
	tools/embed-text $@ config/figure_defaults.h figure_defaults_yaml=conf/figures.yaml

$(BUILD)/obj/gen/figure_defaults.o: $(BUILD)/gen/figure_defaults.c core/config/figure_defaults.h
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

$(BUILD)/obj/gen/migrations.o: $(BUILD)/gen/migrations.c core/db/migrate.h core/db/db.h
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

# Plugins see only include/: no core header, no core symbol.
PLUGIN_CFLAGS = -Iinclude $(CFLAGS) -fPIC -shared -fvisibility=hidden

$(BUILD)/plugins/%.so: plugins/%.c include/reconciler.h
	@mkdir -p $(@D)
	$(CC) $(PLUGIN_CFLAGS) -o $@ $< -lm

$(BUILD)/tests/plugins/%.so: tests/fixtures/%.c include/reconciler.h
	@mkdir -p $(@D)
	$(CC) $(PLUGIN_CFLAGS) -o $@ $< -lm

$(BUILD)/tests/crashprobe/%.so: tests/fixtures/crashprobe/%.c include/reconciler.h
	@mkdir -p $(@D)
	$(CC) $(PLUGIN_CFLAGS) -o $@ $< -lm

$(BUILD)/tests/unit: $(TEST_OBJ) $(BUILD)/libcore.a
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -o $@ $^ $(CRIT_LIBS) $(LDLIBS)

clean:
	rm -rf build
