# reconciler - see README.md.
#
# The public targets first make sure the Debian packages are there
# (tools/install-deps, quick when nothing is missing), then re-run make so that
# pkg-config is asked only once the libraries are installed.

BUILD    ?= build
SANITIZE ?=
CC       ?= cc

PKGS      = libmariadb yaml-0.1 sqlite3 jansson libmicrohttpd
CPPFLAGS += -Iinclude -Icore -D_GNU_SOURCE
CFLAGS   ?= -O2 -g
CFLAGS   += -std=c11 -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes \
            -Wmissing-prototypes -Wno-missing-field-initializers $(SANITIZE)
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS))
PKG_LIBS   = $(shell pkg-config --libs $(PKGS))
LDLIBS    = $(PKG_LIBS) -ldl -lpthread -lm
CRIT_LIBS = $(shell pkg-config --libs criterion)

CORE_SRC  = $(filter-out core/main.c,$(wildcard core/*.c))
CORE_OBJ  = $(CORE_SRC:%.c=$(BUILD)/obj/%.o) $(BUILD)/obj/gen/migrations.o
SQL_FILES = $(sort $(wildcard sql/mysql/*.sql)) $(sort $(wildcard sql/sqlite/*.sql))
PLUGINS   = $(patsubst plugins/%.c,$(BUILD)/plugins/%.so,$(wildcard plugins/*.c))
FIXTURES  = $(patsubst tests/fixtures/%.c,$(BUILD)/tests/plugins/%.so,$(wildcard tests/fixtures/*.c))
TEST_SRC  = $(wildcard tests/test_*.c) tests/helpers.c tests/th_http.c
TEST_OBJ  = $(TEST_SRC:%.c=$(BUILD)/obj/%.o)

PUBLIC = all demo test asan bench install-deps
.PHONY: $(PUBLIC) $(addprefix _,$(PUBLIC)) clean

all demo test asan bench:
	@tools/install-deps
	@$(MAKE) --no-print-directory _$@

install-deps:
	@tools/install-deps

_all: $(BUILD)/reconciler $(BUILD)/reconciler-validate $(PLUGINS) $(FIXTURES) $(BUILD)/tests/unit

# One run of the pipeline on an SQLite demo database that it creates.
_demo: _all
	@tools/demo $(BUILD)

# Every test: Criterion unit and integration tests on SQLite and on a real
# MariaDB server that tests/with-mariadb starts under $(BUILD) and stops.
_test: _all
	@tests/with-mariadb $(BUILD) $(BUILD)/tests/unit

# The same tests under AddressSanitizer + UndefinedBehaviorSanitizer.
_asan:
	@$(MAKE) --no-print-directory _test BUILD=build/asan \
	    SANITIZE="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all" \
	    CFLAGS="-O1 -g"

_bench: _all
	@tools/bench $(BUILD)

$(BUILD)/reconciler: $(BUILD)/obj/core/main.o $(BUILD)/libcore.a
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/reconciler-validate: $(BUILD)/obj/tools/validate.o $(BUILD)/libcore.a
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/libcore.a: $(CORE_OBJ)
	@mkdir -p $(@D)
	$(AR) rcs $@ $^

$(BUILD)/obj/%.o: %.c $(wildcard include/*.h core/*.h tests/*.h)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(PKG_CFLAGS) $(CFLAGS) -c -o $@ $<

# Migrations are compiled into the binary: an installed reconciler needs no sql/.
$(BUILD)/gen/migrations.c: $(SQL_FILES) tools/embed-sql
	@mkdir -p $(@D)
	tools/embed-sql $@ $(SQL_FILES)

$(BUILD)/obj/gen/migrations.o: $(BUILD)/gen/migrations.c core/migrate.h core/db.h
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

$(BUILD)/tests/unit: $(TEST_OBJ) $(BUILD)/libcore.a
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -o $@ $^ $(CRIT_LIBS) $(LDLIBS)

clean:
	rm -rf build
