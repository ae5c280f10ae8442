# Faults, repeated and measured (tests/faults/kill-loop): SIGKILL at random
# moments of runs over a large MariaDB data set, then convergence against an
# uninterrupted run. `make faults`: 50 kills over 200k jobs; `make test`: 10
# kills over 100k jobs (its budget is 90 s).
PUBLIC += faults
TEST_STAGES += faults

_faults: _all
	@tests/faults/kill-loop $(BUILD) 50

_test-faults: _all
	@FAULTS_JOBS=100000 FAULTS_BATCH=250 tests/faults/kill-loop $(BUILD) 10
