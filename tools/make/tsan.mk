# SPDX-License-Identifier: MIT
# make tsan: the tests whose code runs on several threads (the service, the
# HTTP server, webhook delivery, trace export, the figures' refresher, a stop
# with a hung database)
# with the service under ThreadSanitizer (docs/tests.md, "make tsan"). Not a
# stage of `make test`.
#
# What is instrumented: the reconciler binary and the plugins, built in
# $(BUILD)/tsan with -fsanitize=thread; the tests start that binary
# (RECONCILER_BUILD), so every thread of the service runs under TSan. The
# test driver itself is the ordinary $(BUILD)/tests/unit: Criterion cannot
# run under TSan (its runner maps a shared arena at random addresses in the
# range TSan reserves for its shadow memory, and aborts with "Could not
# initialize inheritable arena"; Snaipe/Criterion issue 274), so what a test
# runs in its own process (test_http.c's in-process server) is not covered.
#
# Every report goes to a file under $(TSAN_BUILD)/tsan-reports/ (log_path):
# the target fails, showing them, when there is any, whatever the tests said;
# also when a test failed (a service that found a race exits 66, TSan's
# exitcode, so its test fails too: the report shows why).
# tests/tsan.supp silences only reports from inside libraries that are not
# instrumented (each line says why); a race in our code is fixed, never
# suppressed.
PUBLIC += tsan

TSAN_BUILD   = $(BUILD)/tsan
TSAN_FLAGS   = -fsanitize=thread -fno-omit-frame-pointer
# Less the three service tests that assert the product's own pace, which the
# instrumented binary (several times slower: a run of four steps, a worker
# each, takes over a second) misses on a loaded machine whatever the tests'
# deadlines: heartbeat_keeps_a_long_run_locked_* (1 s between the lock's
# release and the exit), overrun_skips_covered_ticks (runs 1.8 to 2.4 s
# apart) and startup_then_interval_runs_* (runs 0.7 to 1.4 s apart at a 1 s
# interval). Their threads (the heartbeat, the schedule) run instrumented in
# the other tests.
TSAN_FILTER ?= @(service|http|http_edge|http_conns|webhook|trace|trace_service|shutdown_hung|figures|figures_run)/!(heartbeat_keeps_a_long_run_locked_*|overrun_skips_covered_ticks|startup_then_interval_runs_*)
TSAN_JOBS   ?= 2
# The tests' deadlines (th_wait.h: TH_WAIT, wait_for, svc_term's 5 s, each
# Criterion .timeout) times this: the instrumented service starts and runs
# several times slower, more so on a shared machine. Deadlines only: a test
# still waits on its fact, and ends as soon as it holds.
TSAN_TIME_SCALE ?= 3
TSAN_REPORTS = $(TSAN_BUILD)/tsan-reports
ifeq ($(TSAN),1)
override CFLAGS += $(TSAN_FLAGS)
endif

.PHONY: _tsan-bins
# What the tests start and load, instrumented (run with BUILD=$(TSAN_BUILD) TSAN=1).
_tsan-bins: $(BUILD)/reconciler $(PLUGINS) $(FIXTURES) $(BUILD)/locale/de_DE.UTF-8/LC_NUMERIC

_tsan: _all
	@$(MAKE) --no-print-directory _tsan-bins BUILD=$(TSAN_BUILD) TSAN=1 CFLAGS="-O1 -g"
	@rm -rf $(TSAN_REPORTS) && mkdir -p $(TSAN_REPORTS)
	@TSAN_OPTIONS="suppressions=$(CURDIR)/tests/tsan.supp log_path=$(CURDIR)/$(TSAN_REPORTS)/report second_deadlock_stack=1 $(TSAN_OPTIONS)" \
	    TH_TIME_SCALE=$(TSAN_TIME_SCALE) RECONCILER_BUILD=$(TSAN_BUILD) tests/with-mariadb $(TSAN_BUILD) \
	    $(BUILD)/tests/unit --jobs $(TSAN_JOBS) --filter '$(TSAN_FILTER)'; tests_rc=$$?; \
	if [ -n "$$(ls -A $(TSAN_REPORTS))" ]; then cat $(TSAN_REPORTS)/*; \
	    echo "make tsan: ThreadSanitizer reported (above; files in $(TSAN_REPORTS))" >&2; \
	    exit 1; fi; \
	if [ $$tests_rc -ne 0 ]; then echo "make tsan: tests failed, no ThreadSanitizer report" >&2; \
	    exit 1; fi
	@echo "make tsan: no ThreadSanitizer report"
