/* SPDX-License-Identifier: MIT */
/*
 * test_shutdown_hung.c - lifetimes at shutdown (docs/ARCHITECTURE.md,
 * "Processes and threads"): SIGTERM while the database is frozen (SIGSTOP of
 * a private server, tests/th_server.c) and a webhook receiver hangs (a
 * listening socket that never accepts). The run lock's close and the
 * database watch are left behind on the hung server, the delivery is cut
 * short; the service still exits 0 within 5 s, and a sanitizer build
 * (make asan, make tsan) reports nothing: no thread left behind touches
 * what the main thread freed, nor the client library after its tear-down.
 */
#include "helpers.h"
#include "th_server.h"
#include "th_svc.h"

#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static pid_t g_server; /* thawed and killed whatever happens to the test */

static void thaw_server(void)
{
    if (g_server > 0) {
        kill(g_server, SIGCONT);
        kill(g_server, SIGKILL);
    }
}

/* A receiver that hangs: the kernel takes the connection, nobody ever reads or answers. */
static int hanging_receiver(int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof a;
    cr_assert_geq(fd, 0);
    cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    cr_assert_eq(listen(fd, 8), 0);
    cr_assert_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    *port = ntohs(a.sin_port);
    return fd;
}

/* A connection waits on the receiver's backlog: a delivery is in flight. */
static int delivery_waiting(int fd)
{
    struct pollfd p = { .fd = fd, .events = POLLIN };
    return poll(&p, 1, 0) == 1;
}

static const char *const sanitizer_words[] = { "AddressSanitizer", "LeakSanitizer",
                                               "ThreadSanitizer", "runtime error:", NULL };

Test(shutdown_hung, sigterm_with_a_frozen_database_and_a_hanging_receiver, .timeout = 90,
     .fini = thaw_server)
{
    th_server srv;
    th_db t = { .kind = DB_MYSQL };
    svc s;
    char notify[512];
    int port, rx = hanging_receiver(&port);

    th_server_start(&srv, NULL);
    g_server = srv.pid;
    t.url = th_server_db(&srv, "bot");
    char err[512];
    db_url u;
    cr_assert_eq(db_url_parse(t.url, NULL, &u, err, sizeof err), 0, "%s", err);
    cr_assert_eq(db_open(&u, NULL, &t.conn, err, sizeof err), DB_OK, "%s", err);
    db_url_free(&u);
    th_db_migrate(&t);
    snprintf(notify, sizeof notify, "notify:\n  - url: http://127.0.0.1:%d/\n    name: stuck\n"
             "    on: success\n    timeout: 30s\n", port);
    svc_setup(&s, &t, 1, notify, "", "  - plugin: orders\n");
    svc_start(&s, NULL);
    json_decref(wait_for(&s, "/readyz", 200, 30000));
    TH_WAIT(delivery_waiting(rx), 20000, "the startup run's alert never came:\n%s",
            th_read(s.errlog));

    cr_assert_eq(kill(srv.pid, SIGSTOP), 0);
    /* The database watch has seen it: its ping is stuck on the frozen server. */
    json_decref(wait_for(&s, "/readyz", 503, 20000));

    int64_t t0 = mono_ms();
    kill(s.pid, SIGTERM);
    int rc = svc_wait_exit(&s, 10000);
    int64_t took = mono_ms() - t0;
    kill(srv.pid, SIGCONT);
    char *log = th_read(s.errlog);
    cr_assert_neq(rc, -1, "still running 10 s after SIGTERM:\n%s", log);
    cr_assert_eq(rc, 0, "exit %d:\n%s", rc, log);
    cr_assert_lt(took, 5000, "exit %lld ms after SIGTERM:\n%s", (long long)took, log);
    for (size_t i = 0; sanitizer_words[i]; i++)
        cr_assert_null(strstr(log, sanitizer_words[i]), "a sanitizer spoke:\n%s", log);
    cr_assert(strstr(log, "service: stopped"), "%s", log);
    cr_log_info("shutdown_hung: exit %d, %lld ms after SIGTERM", rc, (long long)took);
    free(log);
    close(rx);
    svc_free(&s);
    db_close(t.conn);
    free(t.url);
    th_server_destroy(&srv);
    g_server = 0;
}
