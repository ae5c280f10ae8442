# SPDX-License-Identifier: MIT
# calendar.mk - the differential test of the calendar (core/calendar/,
# issue 19): random cron expressions and start instants, the fire times of
# `reconciler __calendar-batch` compared with a brute-force walk over
# Python's zoneinfo and with Debian's python3-croniter
# (tests/calendar/diff.py prints the counts).
#
#   make test                    the calendar stage: CAL_TEST_CASES cases, fixed seed
#   make calendar-diff           CAL_CASES cases (default 20000), CAL_SEED (default 19)
#   make calendar-diff CAL_CASES=100000 CAL_SEED=7
TEST_STAGES += calendar
PUBLIC      += calendar-diff

CAL_TEST_CASES ?= 2500
CAL_CASES      ?= 20000
CAL_SEED       ?= 19

.PHONY: _test-calendar _calendar-diff

_test-calendar: $(BUILD)/reconciler
	@/usr/bin/python3 tests/calendar/diff.py --bin $(BUILD)/reconciler --cases $(CAL_TEST_CASES) --seed 19

_calendar-diff: $(BUILD)/reconciler
	@/usr/bin/python3 tests/calendar/diff.py --bin $(BUILD)/reconciler --cases $(CAL_CASES) --seed $(CAL_SEED)
