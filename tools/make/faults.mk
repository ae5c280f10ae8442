# SPDX-License-Identifier: MIT
# Faults, repeated and measured (tests/faults/kill-loop): SIGKILL at random
# moments of runs over a large MariaDB data set, then convergence against an
# uninterrupted run. `make faults`: 50 kills over 200k jobs; `make test`: 10
# kills over 100k jobs (its budget is 90 s). Then tests/faults/fence-loop:
# two instances writing while the server is frozen past their lease, no row
# written under a dead lease (about 40 s; `make faults`: 10 freezes).
PUBLIC += faults
TEST_STAGES += faults

_faults: _all
	@tests/faults/kill-loop $(BUILD) 50
	@tests/faults/fence-loop $(BUILD) 10

_test-faults: _all
	@FAULTS_JOBS=100000 FAULTS_BATCH=250 tests/faults/kill-loop $(BUILD) 10
	@tests/faults/fence-loop $(BUILD) 5
