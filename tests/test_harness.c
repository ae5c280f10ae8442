/* SPDX-License-Identifier: MIT */
/*
 * test_harness.c - the test harness's own promises that parallel runs rest
 * on: a port th_free_port() hands out is reserved for its process until that
 * process exits (no other test process, in this run or a parallel one, gets
 * it), and a test's temp folder is its own.
 */
#include "helpers.h"
#include "th_http.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

Test(harness, ports_are_reserved_per_process, .timeout = 30)
{
    int fds[2];
    cr_assert_eq(pipe(fds), 0);
    pid_t pid = fork();
    cr_assert_neq(pid, -1);
    if (pid == 0) { /* another test process: reserve 20 ports, say which, hold them */
        close(fds[0]);
        int ports[20];
        for (int i = 0; i < 20; i++)
            ports[i] = th_free_port();
        if (write(fds[1], ports, sizeof ports) != (ssize_t)sizeof ports)
            _exit(1);
        pause();
        _exit(0);
    }
    close(fds[1]);
    int theirs[20];
    cr_assert_eq(read(fds[0], theirs, sizeof theirs), (ssize_t)sizeof theirs);
    close(fds[0]);
    /* Below the ephemeral range, and never one of theirs nor twice the same. */
    int mine[200];
    for (int i = 0; i < 200; i++) {
        mine[i] = th_free_port();
        cr_assert(mine[i] >= 20000 && mine[i] < 30000, "port %d", mine[i]);
        for (int j = 0; j < 20; j++)
            cr_assert_neq(mine[i], theirs[j], "port %d handed out twice", mine[i]);
        for (int j = 0; j < i; j++)
            cr_assert_neq(mine[i], mine[j], "port %d handed out twice", mine[i]);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
}

Test(harness, temp_folder_is_fresh_and_per_process)
{
    const char *dir = th_tmpdir();
    char *mark = th_path(dir, "mark");
    th_write(mark, "x");
    cr_assert_str_eq(th_tmpdir(), dir, "the same folder for the whole test");
    int fds[2];
    cr_assert_eq(pipe(fds), 0);
    pid_t pid = fork();
    cr_assert_neq(pid, -1);
    if (pid == 0) { /* a forked child keeps its parent's folder (it is the same test) */
        close(fds[0]);
        const char *d = th_tmpdir();
        ssize_t n = write(fds[1], d, strlen(d) + 1);
        _exit(n > 0 ? 0 : 1);
    }
    close(fds[1]);
    char got[4096] = "";
    cr_assert_gt(read(fds[0], got, sizeof got - 1), 0);
    close(fds[0]);
    waitpid(pid, NULL, 0);
    cr_assert_str_eq(got, dir);
    char want[64];
    snprintf(want, sizeof want, "/tmp/t%ld", (long)getpid());
    cr_assert(strstr(dir, want), "%s is not named by this process (%s)", dir, want);
    free(mark);
}
