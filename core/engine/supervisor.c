/* supervisor.c - see supervisor.h. */
#include "engine/supervisor.h"
#include "base/json.h"
#include "base/log.h"
#include "base/stop.h"
#include "base/util.h"
#include "config/options.h"
#include "engine/proto.h"

#include <errno.h>
#include <fcntl.h> /* O_CLOEXEC */
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

/* Why the supervisor asked a worker to stop, if it did. */
typedef enum stop_why {
    WHY_NONE, WHY_SHUTDOWN, WHY_LOCK, WHY_STEP_TIMEOUT, WHY_RUN_TIMEOUT
} stop_why;

typedef struct worker {
    pid_t pid;             /* 0: none */
    int to;                /* its standard input: the assignment, then commands */
    proto_in in;           /* its replies */
    int64_t conn_id;       /* its MySQL connection, to KILL on the server */
    stop_why asked;        /* why we sent SIGTERM */
    int64_t asked_at;      /* when (monotonic ms) */
    int killed;            /* we sent SIGKILL */
} worker;

/* ----------------------------------------------------------- starting one */

/*
 * The binary to start: this same one. RECONCILER_WORKER names another (the
 * test suite's own binary is not reconciler, so it points at the real one).
 */
static const char *worker_exe(void)
{
    const char *e = getenv("RECONCILER_WORKER");
    return e && *e ? e : "/proc/self/exe";
}

/* The worker's assignment: the first line on its standard input (worker.h). */
static json_t *assignment_of(const config *cfg, const char *mode, int dry_run,
                             const db_clock *clock)
{
    rc_log_level level;
    log_format format;
    log_get(&level, &format);
    return jx(json_pack("{s:i, s:s, s:{s:s, s:s}, s:{s:o, s:i, s:i, s:o, s:o, s:o, s:I, s:I, s:I},"
                        " s:{s:i, s:i}, s:b, s:{s:I, s:i, s:s, s:s}}",
                        "v", 1, "mode", mode,
                        "config", "path", cfg->path, "text", cfg->text ? cfg->text : "",
                        "db", "url", jx_text(cfg->db_url), "urlLine", cfg->db_url_line,
                        "urlCol", cfg->db_url_col,
                        "passwordEnv", jx_text(cfg->db_password_env),
                        "passwordFile", jx_text(cfg->db_password_file),
                        "timeZone", jx_text(cfg->db_time_zone),
                        "connectMs", (json_int_t)cfg->db_connect_timeout_ms,
                        "readMs", (json_int_t)cfg->db_read_timeout_ms,
                        "writeMs", (json_int_t)cfg->db_write_timeout_ms,
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
 * descriptor of ours but its pipes (closefrom: not the API's sockets).
 */
static int spawn(worker *w, json_t *assignment, char *err, size_t errlen)
{
    int to[2] = { -1, -1 }, from[2] = { -1, -1 }, rc = -1;
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    sigset_t none, defaults;
    char *const argv[] = { (char *)"reconciler", (char *)WORKER_COMMAND, NULL };

    memset(w, 0, sizeof *w);
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
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
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

/* Reap it: wait up to 1 s after its replies ended, then kill. Its wait status. */
static int reap(worker *w)
{
    int st = 0;
    struct rusage ru;
    memset(&ru, 0, sizeof ru);
    for (int i = 0; i < 100; i++) {
        pid_t r = wait4(w->pid, &st, WNOHANG, &ru);
        if (r == w->pid || (r < 0 && errno == ECHILD))
            goto done;
        struct timespec ts = { 0, 10 * 1000000L };
        nanosleep(&ts, NULL);
    }
    kill(w->pid, SIGKILL);
    w->killed = 1;
    wait4(w->pid, &st, 0, &ru);
done:
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
    if (pthread_create(&t, NULL, bounded_main, b) != 0) {
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
        if (got != 0)
            return got;
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
            kill(w->pid, SIGKILL);
            w->killed = 1;
            kill_connection(d, w);
        }
    }
}

/* Start a worker and read its hello; 0, or -1 with err (it is reaped). */
static int start(worker *w, json_t *assignment, db **d, const limits *l, char *err, size_t errlen)
{
    json_t *hello = NULL;
    int64_t t0 = util_mono_ms();
    if (spawn(w, assignment, err, errlen) != 0) {
        if (w->pid)
            reap(w);
        close_worker(w);
        return -1;
    }
    int got = next_message(w, d, l, &hello);
    const char *type = got == 1 ? json_string_value(json_object_get(hello, "type")) : NULL;
    if (type && strcmp(type, "hello") == 0) {
        w->conn_id = json_integer_value(json_object_get(hello, "connectionId"));
        json_decref(hello);
        /* make bench reads this line: the cost of a worker per run. */
        log_debug("step worker %ld ready in %lld ms", (long)w->pid,
                  (long long)(util_mono_ms() - t0));
        return 0;
    }
    if (type && strcmp(type, "fatal") == 0)
        snprintf(err, errlen, "%s", json_string_value(json_object_get(hello, "error")));
    json_decref(hello);
    close(w->to);
    w->to = -1;
    if (!type || strcmp(type, "fatal") != 0) {
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

/* Done with it: end of input makes it exit; reaped (killed if it lingers); its pipes closed. */
static void finish(worker *w)
{
    if (w->pid) {
        if (w->to >= 0)
            close(w->to);
        w->to = -1;
        reap(w);
    }
    close_worker(w);
}

/* ------------------------------------------------------------ the run */

static void outcome_of(json_t *reply, step_outcome *o)
{
    int st = step_status_parse(json_string_value(json_object_get(reply, "status")));
    const char *e = json_string_value(json_object_get(reply, "error"));
    json_t *res = json_object_get(reply, "results");
    o->status = st < 0 ? STEP_FAILED : st;
    o->ms = json_integer_value(json_object_get(reply, "durationMs"));
    o->rows_changed = json_integer_value(json_object_get(reply, "rowsChanged"));
    o->retries = json_integer_value(json_object_get(reply, "retries"));
    o->results = json_is_object(res) ? json_incref(res) : jx(json_object());
    o->error = e ? xstrdup(e) : st < 0 ? xstrdup("the step worker sent an unknown status") : NULL;
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
static void run_one(worker *w, json_t *(*assignment)(void *), void *assignment_user, db **d,
                    size_t i, const pipeline_step *ps, limits *l, int64_t run_limit,
                    step_outcome *o)
{
    char err[2048];
    json_t *reply = NULL;
    int64_t t0 = util_mono_ms();

    memset(o, 0, sizeof *o);
    l->step_deadline = t0 + ps->cfg->timeout_ms;
    if (!w->pid && start(w, assignment(assignment_user), d, l, err, sizeof err) != 0) {
        o->status = STEP_FAILED;
        o->error = xasprintf("cannot run: %s", err);
        o->ms = util_mono_ms() - t0;
        return;
    }
    w->asked = WHY_NONE;
    w->killed = 0;
    if (proto_write(w->to, jx(json_pack("{s:I}", "run", (json_int_t)i))) == 0) {
        while (next_message(w, d, l, &reply) == 1) {
            const char *type = json_string_value(json_object_get(reply, "type"));
            if (type && strcmp(type, "step") == 0 &&
                json_integer_value(json_object_get(reply, "index")) == (json_int_t)i)
                break;
            json_decref(reply); /* anything else is noise from a confused peer */
            reply = NULL;
        }
    }
    if (reply) {
        outcome_of(reply, o);
        json_decref(reply);
        limit_outcome(w, ps, run_limit, o);
        /* Asked to stop, a worker stays stopped: the next step gets a fresh one. */
        if (w->asked != WHY_NONE)
            finish(w);
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
} run_assignment_args;

static json_t *make_run_assignment(void *user)
{
    const run_assignment_args *a = user;
    return assignment_of(a->cfg, "run", a->dry_run, a->clock);
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
    worker w = { .to = -1, .in = { .fd = -1 } };
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
    run_assignment_args pa = { cfg, req->dry_run, &clock };

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
            run_one(&w, make_run_assignment, &pa, d, i, ps, &l, max_run, &o);
            if (o.status == STEP_FAILED && ps->cfg->on_error == CFG_ON_ERROR_ABORT)
                aborted = 1;
        }
        if (req->trace) {
            /* The chunks' spans need the worker to report them (trace_chunks_json in its
             * step reply): until it does, steps have no chunk spans. */
            trace_step_facts f = { step_status_name(o.status), trace_now_ns(), o.rows_changed,
                                   o.retries, o.error };
            trace_run_step_end(req->trace, span, &f, NULL);
        }
        run_result_step(&rr, ps, &o);
        if (req->trace)
            log_set_trace(tc.trace_id, tc.span_id);
    }
    finish(&w);

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
        const char *e = json_string_value(json_object_get(reply, "error"));
        json_t *res = json_object_get(reply, "results");
        if (e || !json_is_object(res)) {
            snprintf(err, errlen, "%s", e ? e : "a probe answered no figures");
            json_decref(reply);
            goto out;
        }
        results[i] = json_incref(res);
        snprintf(now, RC_TIME_TEXT_SIZE, "%s", json_string_value(json_object_get(reply, "now")) ?
                 json_string_value(json_object_get(reply, "now")) : "");
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
