/* SPDX-License-Identifier: MIT */
/* supervisor.c - see supervisor.h. */
#include "engine/supervisor.h"
#include "base/exitcode.h"
#include "base/json.h"
#include "base/log.h"
#include "base/paths.h"
#include "base/stop.h"
#include "base/util.h"
#include "config/options.h"
#include "db/library.h"
#include "engine/proto.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h> /* O_CLOEXEC */
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

/* Why the supervisor asked a worker to stop, if it did. */
typedef enum stop_why {
    WHY_NONE, WHY_SHUTDOWN, WHY_LOCK, WHY_STEP_TIMEOUT, WHY_RUN_TIMEOUT
} stop_why;

typedef struct worker {
    pid_t pid;             /* 0: none; also its process group's id */
    char label[96];        /* what it runs, for the log: "step NAME", "probes" */
    int to;                /* its standard input: the assignment, then commands */
    proto_in in;           /* its replies */
    int64_t conn_id;       /* its MySQL connection, to KILL on the server */
    stop_why asked;        /* why we sent SIGTERM */
    int64_t asked_at;      /* when (monotonic ms) */
    int killed;            /* we sent SIGKILL */
    int oversized;         /* killed because its reply passed PROTO_MAX_LINE */
    int64_t memory_limit;  /* its step's steps[].memory_limit (bytes), 0: none */
    int out_of_memory;     /* it said it died for want of memory (worker.c's on_fatal) */
} worker;

/* ----------------------------------------------------------- starting one */

/*
 * The binary to start: this same one. In a test build only, RECONCILER_WORKER
 * names another (the test suite's own binary is not reconciler, so it points
 * at the real one); the installed binary has no such variable (base/paths.h).
 */
static const char *worker_exe(void)
{
    const char *e = rc_worker_env[0] ? getenv(rc_worker_env) : NULL;
    return e && *e ? e : "/proc/self/exe";
}

/*
 * The worker's assignment: the first line on its standard input (worker.h).
 * The keys the table hands to workers (CFG_WORKER: the database settings,
 * as bound at start or given by --db) travel by name, as the table says.
 */
static json_t *assignment_of(const config *cfg, const char *mode, int dry_run,
                             const db_clock *clock)
{
    rc_log_level level;
    log_format format;
    log_get(&level, &format);
    return jx(json_pack("{s:i, s:s, s:{s:s, s:s}, s:o, s:{s:i, s:i}, s:b, s:{s:I, s:i, s:s, s:s}}",
                        "v", PROTO_VERSION, "mode", mode,
                        "config", "path", cfg->path, "text", cfg->text ? cfg->text : "",
                        "keys", config_keys_json(cfg, CFG_WORKER),
                        "log", "level", (int)level, "format", (int)format,
                        "dryRun", dry_run,
                        "clock", "unix", (json_int_t)(clock ? clock->unix_s : 0),
                        "offset", clock ? clock->offset_s : 0,
                        "text", clock ? clock->text : "", "zone", clock ? clock->zone : ""));
}

/*
 * fork + exec through posix_spawn, which is safe in a process with threads:
 * the worker starts clean, with default signal handling and an empty mask
 * (an HTTP thread that spawns a probe blocks the stop signals), and with no
 * descriptor of ours but its pipes (closefrom: not the API's sockets). It
 * leads a process group of its own: whatever a plugin starts (system(),
 * fork()) is in it, and is killed with it (kill_group).
 */
static int spawn(worker *w, json_t *assignment, char *err, size_t errlen)
{
    int to[2] = { -1, -1 }, from[2] = { -1, -1 }, rc = -1;
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    sigset_t none, defaults;
    char *const argv[] = { (char *)"reconciler", (char *)WORKER_COMMAND, NULL };

    char label[sizeof w->label];
    memcpy(label, w->label, sizeof label);
    memset(w, 0, sizeof *w);
    memcpy(w->label, label, sizeof label);
    w->to = -1;
    w->in.fd = -1;
    if (pipe2(to, O_CLOEXEC) != 0 || pipe2(from, O_CLOEXEC) != 0) {
        snprintf(err, errlen, "cannot create a pipe for a step worker: %s", strerror(errno));
        goto out;
    }
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, to[0], 0);
    posix_spawn_file_actions_adddup2(&fa, from[1], WORKER_REPLY_FD);
    posix_spawn_file_actions_addclosefrom_np(&fa, WORKER_REPLY_FD + 1);
    posix_spawnattr_init(&attr);
    sigemptyset(&none);
    sigemptyset(&defaults);
    sigaddset(&defaults, SIGTERM);
    sigaddset(&defaults, SIGINT);
    sigaddset(&defaults, SIGHUP);
    sigaddset(&defaults, SIGPIPE);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &defaults);
    posix_spawnattr_setpgroup(&attr, 0);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF |
                                        POSIX_SPAWN_SETPGROUP);
    int e = posix_spawn(&w->pid, worker_exe(), &fa, &attr, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    if (e != 0) {
        w->pid = 0;
        snprintf(err, errlen, "cannot start a step worker (%s): %s", worker_exe(), strerror(e));
        goto out;
    }
    w->to = to[1];
    w->in.fd = from[0];
    to[1] = from[0] = -1;
    if (proto_write(w->to, assignment) != 0) {
        assignment = NULL;
        snprintf(err, errlen, "cannot hand the assignment to the step worker");
        goto out;
    }
    assignment = NULL;
    rc = 0;
out:
    json_decref(assignment);
    for (int i = 0; i < 2; i++) {
        if (to[i] >= 0)
            close(to[i]);
        if (from[i] >= 0)
            close(from[i]);
    }
    return rc;
}

/* ------------------------------------------------------------ its death */

/*
 * Has it ended? Asked of its pid, never of its pipe: a process it started
 * may hold a copy of the pipe (before exec) long after it is gone. Not
 * reaped yet (WNOWAIT): while it is a zombie its pid, which is also its
 * group's id, cannot be reused, so killing the group cannot hit a stranger.
 */
static int has_ended(const worker *w)
{
    siginfo_t si;
    si.si_pid = 0;
    if (waitid(P_PID, (id_t)w->pid, &si, WEXITED | WNOHANG | WNOWAIT) != 0)
        return errno == ECHILD;
    return si.si_pid == w->pid;
}

/* The processes still in the worker's group, besides itself (at most max, by pid). */
static size_t group_members(pid_t pgid, pid_t *out, size_t max)
{
    size_t n = 0;
    DIR *dir = opendir("/proc");
    struct dirent *e;
    if (!dir)
        return 0;
    while ((e = readdir(dir)) && n < max) {
        char path[64], buf[512];
        long pid = strtol(e->d_name, NULL, 10);
        if (pid <= 0 || pid == pgid)
            continue;
        snprintf(path, sizeof path, "/proc/%ld/stat", pid);
        FILE *f = fopen(path, "re");
        if (!f)
            continue;
        size_t len = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[len] = '\0';
        /* "pid (comm) state ppid pgrp ...": comm may hold anything, so after its last ')'. */
        char *rp = strrchr(buf, ')');
        char state;
        long ppid, pgrp;
        if (rp && sscanf(rp + 1, " %c %ld %ld", &state, &ppid, &pgrp) == 3 && pgrp == pgid &&
            state != 'Z')
            out[n++] = (pid_t)pid;
    }
    closedir(dir);
    return n;
}

/*
 * Kill the worker's process group: the worker if it still runs, and what a
 * plugin started in it (`sleep 30 &`), which must not outlive its step,
 * hold the run's time or write afterwards; those are named in the log.
 * Called while the worker is alive or a zombie (see has_ended).
 */
static void kill_group(const worker *w)
{
    pid_t left[8];
    size_t n = group_members(w->pid, left, sizeof left / sizeof left[0]);
    if (n) {
        char pids[128] = "";
        size_t off = 0;
        for (size_t i = 0; i < n && off < sizeof pids; i++)
            off += (size_t)snprintf(pids + off, sizeof pids - off, "%s%ld", i ? ", " : "",
                                    (long)left[i]);
        log_warn("%s: its worker (pid %ld) is gone or going, killed with its process group "
                 "with what a plugin started in it (pid %s%s)",
                 w->label[0] ? w->label : "step worker", (long)w->pid, pids,
                 n == sizeof left / sizeof left[0] ? ", ..." : "");
    }
    kill(-w->pid, SIGKILL);
}

/*
 * Wait up to ms for it to end. A pidfd is readable when its process ends:
 * no polling interval added to every step; without one (an old kernel),
 * look every 10 ms.
 */
static void wait_end(const worker *w, int ms)
{
    int fd = (int)syscall(SYS_pidfd_open, w->pid, 0);
    if (fd >= 0) {
        struct pollfd p = { .fd = fd, .events = POLLIN };
        int64_t end = util_mono_ms() + ms;
        while (!has_ended(w) && util_mono_ms() < end)
            poll(&p, 1, (int)(end - util_mono_ms()));
        close(fd);
        return;
    }
    for (int i = 0; i < ms / 10 && !has_ended(w); i++) {
        struct timespec ts = { 0, 10 * 1000000L };
        nanosleep(&ts, NULL);
    }
}

/* Reap it: wait up to 1 s for its end, then kill its group; its wait status. */
static int reap(worker *w)
{
    int st = 0;
    struct rusage ru;
    memset(&ru, 0, sizeof ru);
    wait_end(w, 1000);
    if (!has_ended(w))
        w->killed = 1;
    /* Before the worker is reaped: its group's id stays its own until then. */
    kill_group(w);
    wait4(w->pid, &st, 0, &ru);
    /* make bench reads this line: a worker's memory is not the supervisor's. */
    log_debug("step worker %ld ended, peak RSS %ld KiB", (long)w->pid, ru.ru_maxrss);
    w->pid = 0;
    return st;
}

static void close_worker(worker *w)
{
    if (w->to >= 0)
        close(w->to);
    if (w->in.fd >= 0)
        close(w->in.fd);
    proto_in_free(&w->in);
    w->to = w->in.fd = -1;
}

/* What happened to a worker that ended without answering: the step's error. */
static char *death_message(const worker *w, int st, int64_t step_timeout, int64_t run_limit)
{
    char lim[48];
    switch (w->asked) {
    case WHY_STEP_TIMEOUT:
        duration_format(step_timeout, lim, sizeof lim);
        return xasprintf("killed after timeout %s (steps[].timeout)", lim);
    case WHY_RUN_TIMEOUT:
        duration_format(run_limit, lim, sizeof lim);
        return xasprintf("killed after schedule.max_run_time %s", lim);
    case WHY_SHUTDOWN:
        if (w->killed)
            return xasprintf("killed: reconciler was stopping and the step did not stop "
                             "within %d ms", SUPERVISOR_GRACE_MS);
        break;
    case WHY_LOCK:
        if (w->killed)
            return xstrdup("killed: the run lock may be lost and the step did not stop in time");
        break;
    case WHY_NONE:
        break;
    }
    if (w->oversized)
        return xasprintf("killed by the supervisor: reply larger than %d MiB",
                         PROTO_MAX_LINE / (1024 * 1024));
    if (w->out_of_memory && w->memory_limit > 0) {
        int64_t m = w->memory_limit;
        const char *unit = m % (INT64_C(1) << 40) == 0 ? "TiB" : m % (1 << 30) == 0 ? "GiB"
                           : m % (1 << 20) == 0 ? "MiB" : "KiB";
        int shift = unit[0] == 'T' ? 40 : unit[0] == 'G' ? 30 : unit[0] == 'M' ? 20 : 10;
        return xasprintf("exceeded its memory limit (%lld%s, steps[].memory_limit)%s%s",
                         (long long)(m >> shift), unit, WIFSIGNALED(st) ? ": " : "",
                         WIFSIGNALED(st) ? strsignal(WTERMSIG(st)) : "");
    }
    if (WIFSIGNALED(st))
        return xasprintf("crashed: signal %d (%s)", WTERMSIG(st), strsignal(WTERMSIG(st)));
    if (WIFEXITED(st))
        return xasprintf("exited with status %d before reporting", WEXITSTATUS(st));
    return xstrdup("ended before reporting");
}

/* ------------------------------------------------- bounded statements */

typedef struct bounded {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int done, abandoned, rc;
    db *d;
    char *sql;
    rc_value *params;
    char **texts;
    size_t n;
} bounded;

static void bounded_free(bounded *b)
{
    for (size_t i = 0; i < b->n; i++)
        free(b->texts[i]);
    free(b->texts);
    free(b->params);
    free(b->sql);
    pthread_cond_destroy(&b->cv);
    pthread_mutex_destroy(&b->mu);
    free(b);
}

static void *bounded_main(void *arg)
{
    bounded *b = arg;
    int rc = b->n ? db_exec(b->d, b->sql, b->params, b->n, NULL) : db_exec_script(b->d, b->sql);
    pthread_mutex_lock(&b->mu);
    b->done = 1;
    b->rc = rc;
    int abandoned = b->abandoned;
    pthread_cond_signal(&b->cv);
    pthread_mutex_unlock(&b->mu);
    if (abandoned) { /* the caller gave up on us: the connection is ours to close */
        db_close(b->d);
        bounded_free(b);
    }
    db_library_release(); /* taken for us by supervise_bounded */
    return NULL;
}

int supervise_bounded(db **d, const char *sql, const rc_value *params, size_t n,
                      int64_t timeout_ms)
{
    pthread_condattr_t ca;
    pthread_t t;
    bounded *b = xcalloc(1, sizeof *b);
    b->d = *d;
    b->sql = xstrdup(sql);
    b->n = n;
    b->params = xcalloc(n ? n : 1, sizeof *b->params);
    b->texts = xcalloc(n ? n : 1, sizeof *b->texts);
    for (size_t i = 0; i < n; i++) {
        b->params[i] = params[i];
        if (params[i].type == RC_TEXT && params[i].s) /* the caller's text may not outlive us */
            b->params[i].s = b->texts[i] = xstrdup(params[i].s);
    }
    pthread_mutex_init(&b->mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&b->cv, &ca);
    pthread_condattr_destroy(&ca);
    /*
     * The thread may outlive us (abandoned on a hung server): it owns copies
     * of the statement and its values, and then the connection, and holds
     * the client library until it has closed it (db/library.h).
     */
    db_library_hold();
    if (util_thread_start(&t, NULL, bounded_main, b) != 0) {
        db_library_release();
        bounded_free(b);
        return -1;
    }
    pthread_detach(t);
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    int64_t ns = until.tv_nsec + (timeout_ms % 1000) * 1000000;
    until.tv_sec += (time_t)(timeout_ms / 1000 + ns / 1000000000);
    until.tv_nsec = (long)(ns % 1000000000);
    pthread_mutex_lock(&b->mu);
    while (!b->done)
        if (pthread_cond_timedwait(&b->cv, &b->mu, &until) == ETIMEDOUT)
            break;
    int done = b->done, rc = b->rc;
    if (!done)
        b->abandoned = 1;
    pthread_mutex_unlock(&b->mu);
    if (!done) {
        *d = NULL; /* the thread owns it now */
        return -2;
    }
    bounded_free(b);
    return rc == 0 ? 0 : -1;
}

/* Kill a killed worker's connection on the server: its statement must not hold locks. */
static void kill_connection(db **d, const worker *w)
{
    char sql[64];
    if (!*d || w->conn_id <= 0)
        return;
    snprintf(sql, sizeof sql, "KILL %lld", (long long)w->conn_id);
    int rc = supervise_bounded(d, sql, NULL, 0, 1000);
    if (rc == -2)
        log_warn("the database does not answer: could not kill the step worker's connection "
                 "%lld on the server", (long long)w->conn_id);
    else if (rc != 0 && *d)
        log_debug("KILL %lld: %s", (long long)w->conn_id, db_errmsg(*d));
}

/* -------------------------------------------------------- waiting on one */

typedef struct limits {
    runlock *rl;
    int64_t step_deadline, run_deadline; /* monotonic ms; 0: none */
} limits;

/* Should the worker stop now, and why? */
static stop_why must_stop(const limits *l)
{
    int64_t now = util_mono_ms();
    if (stop_requested())
        return WHY_SHUTDOWN;
    if (l->rl && runlock_must_stop(l->rl))
        return WHY_LOCK;
    if (l->run_deadline && now >= l->run_deadline)
        return WHY_RUN_TIMEOUT;
    if (l->step_deadline && now >= l->step_deadline)
        return WHY_STEP_TIMEOUT;
    return WHY_NONE;
}

/*
 * Wait for the worker's next message, enforcing the limits: ask it to stop
 * (SIGTERM) when one passes, kill it (and its server connection) when the
 * grace passes too. 1 with *msg, -1 when it ended without one.
 */
static int next_message(worker *w, db **d, const limits *l, json_t **msg)
{
    for (;;) {
        int got = proto_read(&w->in, msg, 100);
        if (got == -1 && w->in.too_long && !w->killed) {
            /* A reply this long is a broken or hostile peer: it ends here. */
            kill_group(w);
            w->killed = w->oversized = 1;
            kill_connection(d, w);
        }
        if (got != 0)
            return got;
        if (has_ended(w))
            /* Its end is its pid's: what it wrote before it ended is read, then no more. */
            return proto_read(&w->in, msg, 0) == 1 ? 1 : -1;
        if (w->asked == WHY_NONE) {
            w->asked = must_stop(l);
            if (w->asked != WHY_NONE) {
                w->asked_at = util_mono_ms();
                kill(w->pid, SIGTERM);
            }
        } else if (!w->killed &&
                   util_mono_ms() - w->asked_at >= (w->asked == WHY_LOCK
                                                        ? SUPERVISOR_LOCK_GRACE_MS
                                                        : SUPERVISOR_GRACE_MS)) {
            kill_group(w); /* what the plugin started goes too */
            w->killed = 1;
            kill_connection(d, w);
        }
    }
}

/* Wait for a spawned worker's hello; 0, or -1 with err (it is reaped). */
static int await_hello(worker *w, db **d, const limits *l, int64_t t0, char *err,
                       size_t errlen)
{
    json_t *hello = NULL;
    int got = next_message(w, d, l, &hello);
    const char *type = got == 1 ? json_string_value(json_object_get(hello, "type")) : NULL;
    int said = 0; /* err already says why: the worker's fatal, or a hello we refuse */
    if (type && strcmp(type, "hello") == 0) {
        /* Its version and fields checked: a missing connection id never reads as 0. */
        proto_reader r = { hello, "the step worker's hello", "" };
        json_int_t conn = 0;
        if (proto_version_ok(&r)) {
            (void)proto_int(&r, "pid", 0);
            conn = proto_int(&r, "connectionId", 0);
        }
        if (!r.err[0]) {
            w->conn_id = conn;
            json_decref(hello);
            /* make bench reads this line: the cost of a step's worker (its "ready in" is a
             * step worker's alone; the plugin inspection's is said otherwise). */
            if (strncmp(w->label, "step ", 5) == 0)
                log_debug("step worker %ld ready in %lld ms", (long)w->pid,
                          (long long)(util_mono_ms() - t0));
            else
                log_debug("%s: worker %ld up after %lld ms", w->label, (long)w->pid,
                          (long long)(util_mono_ms() - t0));
            return 0;
        }
        snprintf(err, errlen, "%s (worker %s)", r.err, worker_exe());
        said = 1;
    } else if (type && strcmp(type, "fatal") == 0) {
        const char *e = json_string_value(json_object_get(hello, "error"));
        snprintf(err, errlen, "%s", e ? e : "the step worker failed and did not say why");
        said = 1;
    }
    json_decref(hello); /* type pointed into it: used up above */
    close(w->to);
    w->to = -1;
    if (!said) {
        int st = reap(w);
        char *why = death_message(w, st, 0, 0);
        snprintf(err, errlen, "the step worker %s while starting", why);
        free(why);
    } else {
        reap(w);
    }
    close_worker(w);
    return -1;
}

static int start(worker *w, json_t *assignment, db **d, const limits *l, char *err, size_t errlen)
{
    if (spawn(w, assignment, err, errlen) != 0) {
        if (w->pid)
            reap(w);
        close_worker(w);
        return -1;
    }
    return await_hello(w, d, l, util_mono_ms(), err, errlen);
}

/*
 * How a worker ended after its last reply, when not cleanly, said in the
 * log: it changes no outcome there, but it is what a worker that corrupted
 * its heap, or (under LeakSanitizer, which then exits non-zero) leaked,
 * looks like from here.
 */
static void say_unclean_end(const worker *w, long pid, int st)
{
    if (w->asked != WHY_NONE)
        ; /* we stopped it: its end is already the step's outcome */
    else if (w->killed)
        log_warn("step worker %ld did not exit within 1 s of its last step: killed", pid);
    else if (WIFSIGNALED(st))
        log_warn("step worker %ld ended with signal %d (%s) after its last step", pid,
                 WTERMSIG(st), strsignal(WTERMSIG(st)));
    else if (WIFEXITED(st) && WEXITSTATUS(st) != 0)
        log_warn("step worker %ld exited with status %d after its last step", pid,
                 WEXITSTATUS(st));
}

/* Done with it: end of input makes it exit; reaped (killed if it lingers); its pipes closed. */
static void finish(worker *w)
{
    if (w->pid) {
        if (w->to >= 0)
            close(w->to);
        w->to = -1;
        long pid = (long)w->pid;
        int st = reap(w);
        say_unclean_end(w, pid, st);
    }
    close_worker(w);
}

/* ------------------------------------------------------------ the run */

/* A step's reply, its fields checked: one missing or of another type fails the step. */
static void outcome_of(json_t *reply, step_outcome *o)
{
    proto_reader r = { reply, "the step worker's reply", "" };
    (void)proto_int(&r, "index", 0);
    const char *status = proto_str(&r, "status", 0);
    json_t *e = proto_get(&r, "error", PROTO_STRING_OR_NULL, 0);
    json_t *res = proto_get(&r, "results", PROTO_OBJECT, 0);
    o->ms = proto_int(&r, "durationMs", 0);
    o->rows_changed = proto_int(&r, "rowsChanged", 0);
    o->retries = proto_int(&r, "retries", 0);
    o->changes_recorded = proto_int(&r, "changesRecorded", 0);
    o->unrecorded_changes = proto_int(&r, "unrecordedChanges", 0);
    o->would_record = proto_int(&r, "wouldRecordChanges", 1); /* a dry run's only */
    int st = r.err[0] ? -1 : step_status_parse(status);
    o->status = st < 0 ? STEP_FAILED : st;
    o->results = res ? json_incref(res) : jx(json_object());
    /* tracing: a reply without chunks (or a confused one) costs only the chunk spans. */
    json_t *ch = json_object_get(reply, "chunks");
    if (ch) {
        o->chunks = xcalloc(1, sizeof *o->chunks);
        if (trace_chunks_from_json(ch, o->chunks) != 0)
            log_debug("a step reply's chunks are not what trace_chunks_json writes: ignored");
    }
    if (r.err[0])
        o->error = xstrdup(r.err);
    else if (json_is_string(e))
        o->error = xstrdup(json_string_value(e));
    else
        o->error = st < 0 ? xasprintf("the step worker sent an unknown status '%.32s'", status)
                          : NULL;
}

/* A step that answered after we asked it to stop for a limit is no success. */
static void limit_outcome(const worker *w, const pipeline_step *ps, int64_t run_limit,
                          step_outcome *o)
{
    char lim[48];
    if (w->asked != WHY_STEP_TIMEOUT && w->asked != WHY_RUN_TIMEOUT)
        return;
    duration_format(w->asked == WHY_STEP_TIMEOUT ? ps->cfg->timeout_ms : run_limit, lim, sizeof lim);
    free(o->error);
    o->error = w->asked == WHY_STEP_TIMEOUT
                   ? xasprintf("stopped after timeout %s (steps[].timeout)", lim)
                   : xasprintf("stopped after schedule.max_run_time %s", lim);
    o->status = STEP_FAILED;
}

/* Run step i in *w (started when it has none); the outcome in o. */
/*
 * Run step i in a worker of its own: the spare started during the previous
 * step when there is one (its start-up, ~10-20 ms of exec, loading and
 * connecting, overlaps that step), else a new one. With more to come
 * (more), the next step's spare is started before this step runs.
 */
static void run_one(worker *w, worker *spare, int more, json_t *(*assignment)(void *),
                    void *assignment_user, db **d, size_t i, const pipeline_step *ps,
                    limits *l, int64_t run_limit, const trace_context *tc, step_outcome *o)
{
    char err[2048];
    json_t *reply = NULL;
    int64_t t0 = util_mono_ms();

    memset(o, 0, sizeof *o);
    l->step_deadline = t0 + ps->cfg->timeout_ms;
    if (spare->pid) {
        *w = *spare;
        memset(spare, 0, sizeof *spare);
        spare->to = spare->in.fd = -1;
        snprintf(w->label, sizeof w->label, "step %s", ps->cfg->name);
        if (await_hello(w, d, l, t0, err, sizeof err) != 0)
            log_warn("step %s: the spare step worker failed (%s); starting another",
                     ps->cfg->name, err);
    }
    snprintf(w->label, sizeof w->label, "step %s", ps->cfg->name);
    if (!w->pid && start(w, assignment(assignment_user), d, l, err, sizeof err) != 0) {
        o->status = STEP_FAILED;
        o->error = xasprintf("cannot run: %s", err);
        o->ms = util_mono_ms() - t0;
        return;
    }
    if (more && spare->pid == 0 &&
        spawn(spare, assignment(assignment_user), err, sizeof err) != 0) {
        log_debug("no spare step worker: %s", err); /* the next step starts its own */
        if (spare->pid)
            reap(spare);
        close_worker(spare);
    }
    w->asked = WHY_NONE;
    w->killed = 0;
    w->memory_limit = ps->cfg->memory_limit;
    json_t *cmd = jx(json_pack("{s:I}", "run", (json_int_t)i));
    if (tc) /* tracing: the step's span, for the worker's log lines */
        json_object_set_new(cmd, "trace", jx(json_pack("{s:s, s:s}", "traceId", tc->trace_id,
                                                       "spanId", tc->span_id)));
    if (proto_write(w->to, cmd) == 0) {
        while (next_message(w, d, l, &reply) == 1) {
            const char *type = json_string_value(json_object_get(reply, "type"));
            json_t *index = json_object_get(reply, "index");
            /* Its reply; one whose index is no integer is too, and outcome_of refuses it. */
            if (type && strcmp(type, "step") == 0 &&
                (!json_is_integer(index) || json_integer_value(index) == (json_int_t)i))
                break;
            if (type && strcmp(type, "oom") == 0)
                w->out_of_memory = 1;
            json_decref(reply); /* anything else is noise from a confused peer */
            reply = NULL;
        }
    }
    if (reply) {
        outcome_of(reply, o);
        json_decref(reply);
        limit_outcome(w, ps, run_limit, o);
        /* Each step has a worker of its own, which ends now: however it ends is this
         * step's (a plugin thread that crashes after the step reported ok). */
        close(w->to);
        w->to = -1;
        long pid = (long)w->pid;
        int st = reap(w);
        if (w->asked == WHY_NONE && !w->killed && WIFSIGNALED(st)) {
            /* A crash after its reply (a thread the plugin left) is still this step's. */
            char *why = xasprintf("crashed after reporting: signal %d (%s)", WTERMSIG(st),
                                  strsignal(WTERMSIG(st)));
            log_error("step %s: the step worker %s", ps->cfg->name, why);
            if (o->status == STEP_OK) {
                o->status = STEP_FAILED;
                free(o->error);
                o->error = why;
            } else {
                free(why);
            }
        } else {
            say_unclean_end(w, pid, st); /* an exit status (atexit, LeakSanitizer) is said */
        }
        close_worker(w);
        return;
    }
    /* It ended without answering: the step is failed, the worker gone. */
    close(w->to);
    w->to = -1;
    int st = reap(w);
    o->status = STEP_FAILED;
    o->error = death_message(w, st, ps->cfg->timeout_ms, run_limit);
    o->ms = util_mono_ms() - t0;
    close_worker(w);
    log_error("step %s: the step worker %s", ps->cfg->name, o->error);
}

typedef struct run_assignment_args {
    const config *cfg;
    int dry_run;
    const db_clock *clock;
    runlock *rl;
    int64_t run_id; /* for the change records */
    const char *job;
} run_assignment_args;

/* A run that holds the run lock tells its worker whose lease fences its writes. */
static json_t *make_run_assignment(void *user)
{
    const run_assignment_args *a = user;
    json_t *j = assignment_of(a->cfg, "run", a->dry_run, a->clock);
    /* The lock's own row (a job's is named as the job): fencing against another row
     * found no lease of ours and refused every write of a named job ("lease lost"); its
     * lease is the job's lock_ttl, which a fence that renews (SQLite) must not stretch. */
    if (a->rl && !a->dry_run)
        json_object_set_new(j, "lock", jx(json_pack("{s:s, s:s, s:I}", "name",
                                                    runlock_name(a->rl), "holder",
                                                    runlock_holder(a->rl), "ttlMs",
                                                    (json_int_t)runlock_ttl(a->rl))));
    json_object_set_new(j, "runId", jx(json_integer(a->run_id)));
    json_object_set_new(j, "job", jx_text(a->job ? a->job : ""));
    return j;
}

static const char *stop_reason(stop_why why, runlock *rl, int64_t max_run_time_ms, char *buf,
                               size_t buflen)
{
    char lim[48];
    switch (why) {
    case WHY_SHUTDOWN:
        return "interrupted: reconciler was asked to stop";
    case WHY_LOCK:
        return runlock_stop_reason(rl);
    case WHY_RUN_TIMEOUT:
        duration_format(max_run_time_ms, lim, sizeof lim);
        snprintf(buf, buflen, "interrupted: the run took longer than schedule.max_run_time (%s)",
                 lim);
        return buf;
    default:
        return NULL;
    }
}

run_status supervise_run(pipeline *p, const config *cfg, db **d, runlock *rl,
                         const run_request *req, json_t **result)
{
    run_result rr;
    db_clock clock;
    worker w = { .to = -1, .in = { .fd = -1 } }, spare = { .to = -1, .in = { .fd = -1 } };
    int64_t max_run = req->max_run_time_ms > 0 ? req->max_run_time_ms
                                               : cfg->schedule_max_run_time_ms;
    size_t from = req->step_to ? req->step_from : 0, to = req->step_to ? req->step_to : p->n;
    limits l = { .rl = rl, .run_deadline = util_mono_ms() + max_run };
    /* The run's own limits, without a step's deadline: between steps and at the end. */
    const limits run_only = { .rl = rl, .run_deadline = l.run_deadline };
    char why_buf[160];
    int clock_ok, aborted = 0;
    run_status st;

    run_result_init(&rr, req);
    if (req->reference_time)
        clock_ok = db_clock_from_text(req->reference_time, 0, &clock) == 0;
    else
        clock_ok = *d && db_now(*d, &clock) == 0;
    if (clock_ok) {
        run_result_clock(&rr, &clock);
    } else {
        char *why = xasprintf("cannot read the database clock: %s", db_errmsg(*d));
        run_result_error(&rr, NULL, why);
        log_error("%s", why);
        free(why);
    }
    run_assignment_args pa = { cfg, req->dry_run, &clock, rl, req->run_id, req->job };

    for (size_t i = from; i < to && i < p->n; i++) {
        pipeline_step *ps = &p->steps[i];
        step_outcome o = { .status = STEP_SKIPPED };
        stop_why now_why = must_stop(&run_only);
        /* tracing: the step's span, open while it runs (the supervisor's lines carry it) */
        char span_id[SPAN_ID_HEX + 1];
        trace_context tc = { 0 };
        size_t span = 0;
        if (req->trace) {
            trace_run_context(req->trace, &tc);
            span = trace_run_step_begin(req->trace, ps->cfg->name, ps->cfg->plugin,
                                        trace_now_ns(), span_id);
            log_set_trace(tc.trace_id, span_id);
        }
        if (!ps->cfg->enabled) {
            log_debug("step %s: disabled", ps->cfg->name);
        } else if (!clock_ok || aborted) {
            o.error = xstrdup(!clock_ok ? "not run: the database clock could not be read"
                                        : "not run: an earlier step failed with on_error: abort");
        } else if (now_why != WHY_NONE && now_why != WHY_STEP_TIMEOUT) {
            o.error = xstrdup(now_why == WHY_SHUTDOWN ? "not run: reconciler is stopping"
                              : now_why == WHY_LOCK ? "not run: the run lock may be lost"
                                                    : "not run: schedule.max_run_time passed");
            run_result_error(&rr, ps->cfg->name, o.error);
        } else {
            log_debug("step %s (%s): start", ps->cfg->name, ps->cfg->plugin);
            int more = 0;
            for (size_t k = i + 1; k < to && k < p->n && !more; k++)
                more = p->steps[k].cfg->enabled;
            trace_context step_tc = tc;
            memcpy(step_tc.span_id, span_id, sizeof step_tc.span_id);
            run_one(&w, &spare, more, make_run_assignment, &pa, d, i, ps, &l, max_run,
                    req->trace ? &step_tc : NULL, &o);
            if (o.status == STEP_FAILED && ps->cfg->on_error == CFG_ON_ERROR_ABORT)
                aborted = 1;
        }
        if (req->trace) {
            /* The chunks' spans: as the worker reported them in its step reply. */
            trace_step_facts f = { step_status_name(o.status), trace_now_ns(), o.rows_changed,
                                   o.retries, o.error };
            trace_run_step_end(req->trace, span, &f, o.chunks);
        }
        run_result_step(&rr, ps, &o);
        if (req->trace)
            log_set_trace(tc.trace_id, tc.span_id);
    }
    finish(&w);
    /* A spare no step took (a later step was skipped or never reached): it ran nothing of
     * a step, so it goes at once rather than after a wait for its hello. */
    if (spare.pid) {
        kill_group(&spare);
        reap(&spare);
    }
    close_worker(&spare);

    /* A run cut short by a stop request did not do all its work: never "success". */
    stop_why why = must_stop(&run_only);
    *result = run_result_finish(&rr, stop_reason(why, rl, max_run, why_buf, sizeof why_buf), &st);
    return st;
}

/* ---------------------------------------------------------- the probes */

int supervise_probes(const config *cfg, const char *const *names, json_t **results,
                     char now[static RC_TIME_TEXT_SIZE], int64_t timeout_ms, char *err, size_t errlen)
{
    worker w = { .to = -1, .in = { .fd = -1 } };
    limits l = { .step_deadline = util_mono_ms() + timeout_ms };
    db *none = NULL; /* a probe's connection is not killed on the server: it only reads */
    char why[2048];
    size_t i;
    int rc = -1;

    for (i = 0; names[i]; i++)
        results[i] = NULL;
    snprintf(w.label, sizeof w.label, "probes");
    if (start(&w, assignment_of(cfg, "probe", 1, NULL), &none, &l, why, sizeof why) != 0) {
        snprintf(err, errlen, "%s", why);
        return -1;
    }
    for (i = 0; names[i]; i++) {
        json_t *reply = NULL;
        if (proto_write(w.to, jx(json_pack("{s:s}", "probe", names[i]))) != 0 ||
            next_message(&w, &none, &l, &reply) != 1) {
            close(w.to);
            w.to = -1;
            int st = reap(&w);
            char *d = death_message(&w, st, timeout_ms, 0);
            if (w.asked == WHY_STEP_TIMEOUT)
                snprintf(err, errlen, "probe %s: no answer within %lld ms", names[i],
                         (long long)timeout_ms);
            else
                snprintf(err, errlen, "probe %s: the plugin's worker %s", names[i], d);
            free(d);
            goto out;
        }
        /* An error, or the figures and when they were read: each field checked. */
        proto_reader r = { reply, "the probe worker's reply", "" };
        const char *e = json_string_value(proto_get(&r, "error", PROTO_STRING, 1));
        json_t *res = e ? NULL : proto_get(&r, "results", PROTO_OBJECT, 0);
        const char *at = e ? NULL : proto_str(&r, "now", 0);
        if (e || r.err[0]) {
            snprintf(err, errlen, "%s", e ? e : r.err);
            json_decref(reply);
            goto out;
        }
        results[i] = json_incref(res);
        snprintf(now, RC_TIME_TEXT_SIZE, "%s", at);
        json_decref(reply);
    }
    rc = 0;
out:
    if (rc != 0)
        for (i = 0; names[i]; i++) {
            json_decref(results[i]);
            results[i] = NULL;
        }
    finish(&w);
    return rc;
}

/* ------------------------------------------------ inspecting plugins */

/*
 * What the last "at" note said: the plugin code a worker was running, to
 * name it when the worker dies there.
 */
typedef struct at_note {
    char plugin[80], path[1024], what[16], step[80];
} at_note;

static void take_note(json_t *msg, at_note *at)
{
    const char *v;
    snprintf(at->plugin, sizeof at->plugin, "%s",
             (v = json_string_value(json_object_get(msg, "plugin"))) ? v : "");
    snprintf(at->path, sizeof at->path, "%s",
             (v = json_string_value(json_object_get(msg, "path"))) ? v : "");
    snprintf(at->what, sizeof at->what, "%s",
             (v = json_string_value(json_object_get(msg, "what"))) ? v : "");
    snprintf(at->step, sizeof at->step, "%s",
             (v = json_string_value(json_object_get(msg, "step"))) ? v : "");
}

/* A worker that died in plugin code: the plugin, where, and how it died. */
static void blame(const config *cfg, const at_note *at, const char *death, char *err,
                  size_t errlen)
{
    const cfg_step *cs = NULL;
    for (size_t i = 0; cfg && at->step[0] && i < cfg->n_steps && !cs; i++)
        if (strcmp(cfg->steps[i].name, at->step) == 0)
            cs = &cfg->steps[i];
    if (!at->plugin[0])
        snprintf(err, errlen, "the worker that inspects the plugins %s", death);
    else if (strcmp(at->what, "loading") == 0)
        snprintf(err, errlen, "%s: plugin '%s' could not be loaded: the worker loading it %s "
                 "(its constructor or a library it needs)", at->path, at->plugin, death);
    else if (cs)
        snprintf(err, errlen, "%s:%d:%d: step '%s': plugin '%s': the worker running its %s %s",
                 cfg->path, cs->line, cs->col, cs->name, at->plugin, at->what, death);
    else
        snprintf(err, errlen, "plugin '%s' (%s): the worker running its %s %s", at->plugin,
                 at->path, at->what, death);
}

/* Read a worker's messages up to one of type want (1, *msg), noting "at" notes; -1: it died. */
static int inspect_reply(worker *w, const limits *l, const char *want, at_note *at,
                         json_t **msg)
{
    db *none = NULL;
    for (;;) {
        if (next_message(w, &none, l, msg) != 1)
            return -1;
        const char *type = json_string_value(json_object_get(*msg, "type"));
        if (type && strcmp(type, want) == 0)
            return 1;
        if (type && strcmp(type, "at") == 0)
            take_note(*msg, at);
        json_decref(*msg);
        *msg = NULL;
    }
}

/* The worker ended without its answer: what happened, in err. */
static void inspect_death(worker *w, const config *cfg, const at_note *at, int64_t timeout_ms,
                          char *err, size_t errlen)
{
    char *death;
    if (w->to >= 0)
        close(w->to);
    w->to = -1;
    int st = reap(w);
    if (w->asked == WHY_STEP_TIMEOUT)
        death = xasprintf("did not finish within %lld ms", (long long)timeout_ms);
    else
        death = death_message(w, st, 0, 0);
    blame(cfg, at, death, err, errlen);
    free(death);
    close_worker(w);
}

int supervise_inspect(const config *cfg, int with_probes, int prepare, pipeline **out,
                      int *crashed, char *err, size_t errlen)
{
    worker w = { .to = -1, .in = { .fd = -1 } };
    int64_t timeout = prepare ? SUPERVISOR_INSPECT_DB_MS : SUPERVISOR_INSPECT_MS;
    limits l = { .step_deadline = util_mono_ms() + timeout };
    at_note at = { "", "", "", "" };
    json_t *reply = NULL, *a = assignment_of(cfg, "inspect", 1, NULL);
    char why[2048];
    db *none = NULL;
    int rc = EXIT_USAGE;

    *out = NULL;
    *crashed = 0;
    json_object_set_new(a, "probes", jx(json_integer(with_probes)));
    json_object_set_new(a, "prepare", jx(json_boolean(prepare)));
    snprintf(w.label, sizeof w.label, "plugin inspection");
    if (start(&w, a, &none, &l, why, sizeof why) != 0) {
        snprintf(err, errlen, "%s", why);
        *crashed = 1;
        return EXIT_USAGE;
    }
    if (inspect_reply(&w, &l, "inspected", &at, &reply) != 1) {
        inspect_death(&w, cfg, &at, timeout, err, errlen);
        *crashed = 1;
        return EXIT_USAGE;
    }
    finish(&w);
    proto_reader r = { reply, "the plugin inspection's reply", "" };
    rc = (int)proto_int(&r, "code", 0);
    const char *e = json_string_value(proto_get(&r, "error", PROTO_STRING_OR_NULL, 0));
    json_t *plugins = proto_get(&r, "plugins", PROTO_ARRAY, 0);
    (void)proto_get(&r, "probes", PROTO_ARRAY, 0);
    if (r.err[0]) {
        snprintf(err, errlen, "%s", r.err);
        rc = EXIT_USAGE;
        goto done;
    }
    if (rc != EXIT_OK) {
        snprintf(err, errlen, "%s", e ? e : "the plugins were refused");
        goto done;
    }
    size_t n = json_array_size(plugins), k = 0;
    plugin **described = xcalloc(n ? n : 1, sizeof *described);
    rc = EXIT_USAGE;
    for (k = 0; k < n; k++)
        if (plugin_described(json_array_get(plugins, k), &described[k], err, errlen) != 0)
            break;
    if (k < n) {
        for (size_t i = 0; i < k; i++)
            plugin_free(described[i]);
        free(described);
        goto done;
    }
    int built = pipeline_build_described(cfg, described, n, out, err, errlen);
    free(described);
    if (built != 0)
        goto done;
    size_t i;
    json_t *name;
    json_array_foreach(json_object_get(reply, "probes"), i, name)
        if (pipeline_add_probe(*out, json_string_value(name), why, sizeof why) != 0)
            log_warn("%s", why);
    rc = EXIT_OK;
done:
    json_decref(reply);
    return rc;
}

int supervise_describe(const char *path, const char *name, plugin **out, char *err,
                       size_t errlen)
{
    worker w = { .to = -1, .in = { .fd = -1 } };
    limits l = { .step_deadline = util_mono_ms() + SUPERVISOR_INSPECT_MS };
    at_note at = { "", "", "", "" };
    rc_log_level level;
    log_format format;
    json_t *reply = NULL;
    db *none = NULL;
    char why[2048];
    int rc = -1;

    *out = NULL;
    log_get(&level, &format);
    snprintf(w.label, sizeof w.label, "plugin %s", name);
    if (start(&w, jx(json_pack("{s:i, s:s, s:{s:i, s:i}}", "v", PROTO_VERSION, "mode", "describe", "log",
                               "level", (int)level, "format", (int)format)),
              &none, &l, why, sizeof why) != 0) {
        snprintf(err, errlen, "%s: %s", path, why);
        return -1;
    }
    if (proto_write(w.to, jx(json_pack("{s:s, s:s}", "describe", path, "name", name))) != 0 ||
        inspect_reply(&w, &l, "plugin", &at, &reply) != 1) {
        inspect_death(&w, NULL, &at, SUPERVISOR_INSPECT_MS, err, errlen);
        return -1;
    }
    finish(&w);
    const char *e = json_string_value(json_object_get(reply, "error"));
    if (e)
        snprintf(err, errlen, "%s", e);
    else
        rc = plugin_described(json_object_get(reply, "plugin"), out, err, errlen);
    json_decref(reply);
    return rc;
}
