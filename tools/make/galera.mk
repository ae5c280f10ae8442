# SPDX-License-Identifier: MIT
# galera.mk - reconciler on a three-node MariaDB Galera cluster (issue 13).
#
# `make test-galera` (and `make test`, as a stage) starts the cluster on
# loopback under $(BUILD)/galera/ (tests/galera/cluster), runs the Galera
# suite against it, and stops every node whatever happens. The suite is its
# own Criterion binary: the unit suite never needs a cluster.
TEST_STAGES += galera
PUBLIC += test-galera

GALERA_OBJ = $(BUILD)/obj/tests/galera/test_galera.o $(BUILD)/obj/tests/galera/test_galera_jobs.o \
             $(BUILD)/obj/tests/galera/th_galera.o \
             $(BUILD)/obj/tests/helpers.o \
             $(BUILD)/obj/tests/th_svc.o $(BUILD)/obj/tests/th_http.o \
             $(BUILD)/obj/tests/th_wait.o $(BUILD)/obj/tests/th_race.o

# The suite includes the shared test helpers' headers as the unit tests do.
$(BUILD)/obj/tests/galera/test_galera.o $(BUILD)/obj/tests/galera/test_galera_jobs.o \
$(BUILD)/obj/tests/galera/th_galera.o: CPPFLAGS += -Itests

$(BUILD)/tests/galera: $(GALERA_OBJ) $(BUILD)/libcore.a
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -o $@ $^ $(CRIT_LIBS) $(LDLIBS)

# One test at a time (they share the cluster; --verbose prints the figures
# each measured), then the fencing loop (tests/faults/fence-loop: node 1
# frozen past the lease twice, each time once the cluster has it back), node_killed_mid_run last: it leaves
# two nodes.
_test-galera: _all $(BUILD)/tests/galera
	@RECONCILER_BUILD=$(BUILD) RECONCILER_WORKER=$(CURDIR)/$(BUILD)/reconciler \
	    tests/galera/cluster $(BUILD) sh -c '\
	    $(BUILD)/tests/galera --jobs 1 --verbose --filter "galera/[!n]*" && \
	    tests/faults/fence-loop $(BUILD) 2'
	@# A cluster of its own: the fencing loop may leave one without a primary component.
	@RECONCILER_BUILD=$(BUILD) RECONCILER_WORKER=$(CURDIR)/$(BUILD)/reconciler \
	    tests/galera/cluster $(BUILD) $(BUILD)/tests/galera --jobs 1 --verbose \
	    --filter "galera/node_killed_mid_run"
