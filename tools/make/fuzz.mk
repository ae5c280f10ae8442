# SPDX-License-Identifier: MIT
# Fuzzing: libFuzzer harnesses (tests/fuzz/NAME.c, one per target) linked
# with the core built a second time, by clang under ASan + UBSan with
# coverage, into $(BUILD)/fuzz/ (the gcc build is not touched). See
# docs/tests.md, "Fuzzing".
#
#   make fuzz                  each harness FUZZ_TIME seconds (default 180), one at a time
#   make fuzz FUZZ_TIME=600 FUZZ_ONLY="config url"
#   make test                  runs _test-fuzz: each harness FUZZ_TEST_TIME (10) seconds
#
# Each run starts from a copy of tests/fuzz/corpus/NAME/ under
# $(BUILD)/fuzz/; what the fuzzer finds stays there (copy an entry into the
# tree by hand to keep it). A crash, leak, UBSan report or failed property
# fails the run and leaves the input in $(BUILD)/fuzz/crashes/NAME/.

PUBLIC      += fuzz
TEST_STAGES += fuzz

FUZZ_CC        = clang
FUZZ_TIME     ?= 180
FUZZ_TEST_TIME ?= 10
FUZZ_DIR       = $(BUILD)/fuzz
FUZZ_SAN       = -fsanitize=address,undefined -fno-sanitize-recover=undefined \
                 -fno-omit-frame-pointer
FUZZ_CFLAGS    = -g -O1 $(WARNINGS) $(FUZZ_SAN)
FUZZ_NAMES     = $(sort $(basename $(notdir $(wildcard tests/fuzz/*.c))))
FUZZ_ONLY     ?= $(FUZZ_NAMES)
FUZZ_BINS      = $(FUZZ_NAMES:%=$(FUZZ_DIR)/bin/%)
# The generated sources the core links (the Makefile's CORE_GEN), compiled again.
FUZZ_CORE      = $(CORE_SRC:%.c=$(FUZZ_DIR)/obj/%.o) $(CORE_GEN:%=$(FUZZ_DIR)/obj/gen/%.o)
# The built-in plugins are compiled in, each entry renamed fuzz_plugin_NAME,
# and listed in a table (builtins.c) that fz_plugin() searches.
FUZZ_PLUGINS   = $(sort $(basename $(notdir $(wildcard plugins/*.c))))
FUZZ_SUPPORT   = $(FUZZ_DIR)/obj/tests/fuzz/lib/fuzz.o $(FUZZ_DIR)/obj/builtins.o \
                 $(FUZZ_PLUGINS:%=$(FUZZ_DIR)/obj/plugins/%.o)
# Header dependencies from the compiler, as in the Makefile (DEPFLAGS): each
# object's .d beside it, each .d named as a target so a missing one counts
# as new. clang writes the .d after the object: each rule touches the
# object last, or it would always look older than its .d.
FUZZ_DEPFILES  = $(patsubst %.o,%.d,$(FUZZ_CORE) $(filter %.o,$(FUZZ_SUPPORT)) \
                     $(FUZZ_NAMES:%=$(FUZZ_DIR)/obj/tests/fuzz/%.o))

.PHONY: _test-fuzz _fuzz-bins
# Kept between runs: only what changed is built again.
.SECONDARY: $(FUZZ_SUPPORT) $(FUZZ_NAMES:%=$(FUZZ_DIR)/obj/tests/fuzz/%.o) $(FUZZ_DIR)/builtins.c

_fuzz: _fuzz-bins
	@tests/fuzz/run $(FUZZ_DIR) $(FUZZ_TIME) $(FUZZ_ONLY)

_test-fuzz: _fuzz-bins
	@tests/fuzz/run --test $(FUZZ_DIR) $(FUZZ_TEST_TIME) $(FUZZ_NAMES)

_fuzz-bins: $(FUZZ_BINS)

$(FUZZ_DIR)/obj/core/%.o: core/%.c $(FUZZ_DIR)/obj/core/%.d
	@mkdir -p $(@D)
	@$(FUZZ_CC) $(CPPFLAGS) $(DEPFLAGS) $(PKG_CFLAGS) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c -o $@ $<
	@touch $@

$(FUZZ_DIR)/obj/gen/%.o: $(BUILD)/gen/%.c $(FUZZ_DIR)/obj/gen/%.d
	@mkdir -p $(@D)
	@$(FUZZ_CC) $(CPPFLAGS) $(DEPFLAGS) $(FUZZ_CFLAGS) -c -o $@ $<
	@touch $@

$(FUZZ_DIR)/obj/plugins/%.o: plugins/%.c $(FUZZ_DIR)/obj/plugins/%.d
	@mkdir -p $(@D)
	@$(FUZZ_CC) -Iinclude $(DEPFLAGS) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link \
	    -Dreconciler_plugin=fuzz_plugin_$* -c -o $@ $<
	@touch $@

$(FUZZ_DIR)/builtins.c: $(wildcard plugins/*.c) tools/make/fuzz.mk
	@mkdir -p $(@D)
	@{ echo '/* Made by tools/make/fuzz.mk from plugins/NAME.c. */'; \
	   echo '#include "fuzz.h"'; \
	   for p in $(FUZZ_PLUGINS); do echo "const rc_plugin *fuzz_plugin_$$p(void);"; done; \
	   echo 'const fz_builtin fz_builtins[] = {'; \
	   for p in $(FUZZ_PLUGINS); do echo "    { \"$$p\", fuzz_plugin_$$p },"; done; \
	   echo '    { NULL, NULL }'; \
	   echo '};'; \
	   echo 'const size_t fz_n_builtins = sizeof fz_builtins / sizeof fz_builtins[0] - 1;'; \
	 } > $@

$(FUZZ_DIR)/obj/builtins.o: $(FUZZ_DIR)/builtins.c $(FUZZ_DIR)/obj/builtins.d
	@mkdir -p $(@D)
	@$(FUZZ_CC) $(CPPFLAGS) $(DEPFLAGS) -Itests/fuzz/lib $(FUZZ_CFLAGS) -c -o $@ $<
	@touch $@

$(FUZZ_DIR)/obj/tests/fuzz/%.o: tests/fuzz/%.c $(FUZZ_DIR)/obj/tests/fuzz/%.d
	@mkdir -p $(@D)
	@$(FUZZ_CC) $(CPPFLAGS) $(DEPFLAGS) $(PKG_CFLAGS) -Itests/fuzz/lib $(FUZZ_CFLAGS) -fsanitize=fuzzer \
	    -c -o $@ $<
	@touch $@

$(FUZZ_DIR)/libcore.a: $(FUZZ_CORE)
	@rm -f $@
	@$(AR) rcs $@ $^

$(FUZZ_DIR)/bin/%: $(FUZZ_DIR)/obj/tests/fuzz/%.o $(FUZZ_SUPPORT) $(FUZZ_DIR)/libcore.a
	@mkdir -p $(@D)
	@echo "fuzz: linking $@"
	@$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $^ $(LDLIBS)

$(FUZZ_DEPFILES):
-include $(wildcard $(FUZZ_DEPFILES))
