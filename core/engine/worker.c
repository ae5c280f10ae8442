/* SPDX-License-Identifier: MIT */
/* worker.c - see worker.h. */
#include "engine/worker.h"
#include "base/exitcode.h"
#include "base/json.h"
#include "base/log.h"
#include "base/stop.h"
#include "base/util.h"
#include "db/connect.h"
#include "db/lock.h"
#include "engine/plugin.h"
#include "engine/proto.h"
#include "engine/run.h"
#include "engine/runner.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

static void on_stop(int sig)
{
    (void)sig;
    stop_request();
}

static int fatal(const char *msg, int code)
{
    log_error("step worker: %s", msg);
    proto_write(WORKER_REPLY_FD, jx(json_pack("{s:s, s:o}", "type", "fatal", "error",
                                              jx_text(msg))));
    return code;
}

static const char *str(json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

/*
 * The supervisor's pipeline: the file's text as it loaded it, with the keys
 * the key table hands to workers (CFG_WORKER: the database settings it has
 * bound; a reload may have changed the file since, --db may override the
 * url), checked by name and type. A password from database.password_env or
 * password_file (or RECONCILER_DB_PASSWORD) is read here, from the same
 * variable or file, and is not sent. A password written into database.url
 * does travel through the pipe, in the url and in the file's text: the pipe
 * is private to the supervisor and this worker (never argv, never a file).
 */
static int load_assignment_config(json_t *assignment, config **out, char *err, size_t errlen)
{
    proto_reader r = { assignment, "the assignment", "" };
    const char *path = proto_str(&r, "config.path", 0), *text = proto_str(&r, "config.text", 0);
    json_t *keys = proto_get(&r, "keys", PROTO_OBJECT, 0);
    char why[512];
    *out = NULL;
    if (r.err[0]) {
        snprintf(err, errlen, "%s", r.err);
        return EXIT_USAGE;
    }
    if (config_load_text(path, text, out, err, errlen) != 0)
        return EXIT_USAGE;
    if (config_keys_take(*out, keys, CFG_WORKER, why, sizeof why) != 0) {
        snprintf(err, errlen, "the assignment: %s", why);
        config_free(*out);
        *out = NULL;
        return EXIT_USAGE;
    }
    return EXIT_OK;
}

/* The run's clock (modes run and probe); -1 with r->err when a field is missing or wrong. */
static int clock_of(proto_reader *r, db_clock *c)
{
    memset(c, 0, sizeof *c);
    c->unix_s = proto_int(r, "clock.unix", 0);
    c->offset_s = (int)proto_int(r, "clock.offset", 0);
    const char *text = proto_str(r, "clock.text", 0), *zone = proto_str(r, "clock.zone", 0);
    snprintf(c->text, sizeof c->text, "%s", text ? text : "");
    snprintf(c->zone, sizeof c->zone, "%s", zone ? zone : "");
    return r->err[0] ? -1 : 0;
}

static json_t *step_reply(json_int_t index, step_outcome *o)
{
    json_t *r = jx(json_pack("{s:s, s:I, s:s, s:I, s:I, s:I, s:o, s:o}", "type", "step",
                             "index", index, "status", step_status_name(o->status),
                             "durationMs", (json_int_t)o->ms,
                             "rowsChanged", (json_int_t)o->rows_changed,
                             "retries", (json_int_t)o->retries, "results",
                             o->results ? o->results : jx(json_object()),
                             "error", jx_text(o->error)));
    json_object_set_new(r, "changesRecorded", jx(json_integer(o->changes_recorded)));
    json_object_set_new(r, "unrecordedChanges", jx(json_integer(o->unrecorded_changes)));
    json_object_set_new(r, "wouldRecordChanges", jx(json_integer(o->would_record)));
    /* tracing: its chunks, for their spans (at most 100 and a sum: a reply of a few kB). */
    if (o->chunks && trace_chunks_count(o->chunks))
        json_object_set_new(r, "chunks", trace_chunks_json(o->chunks));
    o->results = NULL;
    step_outcome_clear(o);
    return r;
}

static json_t *probe_reply(const pipeline *p, db *d, const char *name)
{
    char err[2048], now[RC_TIME_TEXT_SIZE] = "";
    json_t *results = NULL;
    if (runner_probe(p, name, d, &results, now, err, sizeof err) != 0)
        return jx(json_pack("{s:s, s:s, s:o}", "type", "probe", "name", name, "error",
                            jx_text(err)));
    return jx(json_pack("{s:s, s:s, s:o, s:s}", "type", "probe", "name", name, "results",
                        results, "now", now));
}

/* The supervisor hears what plugin code is about to run here, to name it if we die. */
static void note(const char *name, const char *path, const char *what, const char *step)
{
    proto_write(WORKER_REPLY_FD, jx(json_pack("{s:s, s:o, s:o, s:s, s:o}", "type", "at",
                                              "plugin", jx_text(name), "path", jx_text(path),
                                              "what", what, "step", jx_text(step))));
}

static int hello(int64_t connection_id)
{
    return proto_write(WORKER_REPLY_FD, jx(json_pack("{s:s, s:i, s:I, s:I}", "type", "hello",
                                                     "v", PROTO_VERSION, "pid",
                                                     (json_int_t)getpid(), "connectionId",
                                                     (json_int_t)(connection_id > 0
                                                                      ? connection_id : 0))));
}

/*
 * mode "inspect": build the pipeline (every plugin loaded, every check()
 * called; with "prepare", every prepare() against the database too) and
 * send what the supervisor needs of it, as data: the plugins' descriptors
 * and the probes that loaded. One reply {"type":"inspected","code":N,
 * "error":...,"plugins":[...],"probes":[...]}; the exit code is 0 either way.
 */
static int inspect(json_t *assignment)
{
    config *cfg = NULL;
    pipeline *p = NULL;
    db *d = NULL;
    char err[2048] = "";
    int rc;
    proto_reader r = { assignment, "the assignment", "" };
    int with_probes = (int)proto_int(&r, "probes", 1), prepare = proto_bool(&r, "prepare", 1);
    if (r.err[0])
        return fatal(r.err, EXIT_USAGE);
    if (hello(0) != 0)
        return EXIT_OK;
    plugin_set_observer(note);
    if ((rc = load_assignment_config(assignment, &cfg, err, sizeof err)) == EXIT_OK &&
        (rc = run_prepare(cfg, with_probes, &p, err, sizeof err)) == EXIT_OK && prepare) {
        db_clock clock;
        if ((rc = connect_open(cfg, NULL, &d, err, sizeof err)) != EXIT_OK) {
            /* err says why */
        } else if (db_now(d, &clock) != 0) {
            snprintf(err, sizeof err, "cannot read the database clock: %s", db_errmsg(d));
            rc = EXIT_DATABASE;
        } else if (runner_prepare(p, d, &clock, err, sizeof err) != 0) {
            rc = EXIT_USAGE;
        }
    }
    plugin_set_observer(NULL);
    json_t *plugins = jx(json_array()), *probes = jx(json_array());
    for (size_t i = 0; p && i < p->reg.n; i++)
        json_array_append_new(plugins, jx(plugin_description(p->reg.items[i])));
    for (size_t i = 0; p && i < p->n_probes; i++)
        json_array_append_new(probes, jx_text(p->probes[i].plugin->name));
    proto_write(WORKER_REPLY_FD, jx(json_pack("{s:s, s:i, s:o, s:o, s:o}", "type", "inspected",
                                              "code", rc, "error",
                                              rc == EXIT_OK ? json_null() : jx_text(err),
                                              "plugins", plugins, "probes", probes)));
    db_close(d);
    pipeline_free(p);
    config_free(cfg);
    return EXIT_OK;
}

/*
 * mode "describe": commands {"describe":PATH,"name":NAME}, each answered
 * {"type":"plugin","plugin":{...}} or {"type":"plugin","error":...}: what
 * `plugins` and the doc generator print, loaded here rather than there.
 */
static int describe(proto_in *in)
{
    if (hello(0) != 0)
        return EXIT_OK;
    plugin_set_observer(note);
    for (;;) {
        json_t *cmd = NULL, *reply;
        char err[2048];
        plugin *pl = NULL;
        if (proto_read(in, &cmd, -1) != 1)
            return EXIT_OK;
        const char *path = str(cmd, "describe"), *name = str(cmd, "name");
        if (!path || !name)
            reply = jx(json_pack("{s:s, s:s}", "type", "plugin", "error",
                                 "a describe command without a path or name"));
        else if (plugin_load_file(path, name, &pl, err, sizeof err) != 0)
            reply = jx(json_pack("{s:s, s:o}", "type", "plugin", "error", jx_text(err)));
        else
            reply = jx(json_pack("{s:s, s:o}", "type", "plugin", "plugin",
                                 jx(plugin_description(pl))));
        plugin_free(pl);
        json_decref(cmd);
        if (proto_write(WORKER_REPLY_FD, reply) != 0)
            return EXIT_OK;
    }
}

/* The line a worker that dies for want of memory leaves its supervisor (see on_fatal). */
static const char oom_line[] = "{\"type\":\"oom\"}\n";

/*
 * A fatal signal while the memory limit holds: when the last failed call
 * says ENOMEM (a plugin that used what malloc returned without looking),
 * tell the supervisor, so that it reports the limit rather than a bare
 * signal; then die of the signal as before. Only async-signal-safe calls.
 */
static void on_fatal(int sig)
{
    if (errno == ENOMEM) {
        ssize_t n = write(WORKER_REPLY_FD, oom_line, sizeof oom_line - 1);
        (void)n;
    }
    signal(sig, SIG_DFL);
    raise(sig);
}

/*
 * steps[].memory_limit: this worker runs one step, so its whole address
 * space is the step's (RLIMIT_AS, which a process can only lower).
 */
static void apply_memory_limit(const pipeline_step *ps)
{
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
    /* AddressSanitizer and ThreadSanitizer reserve terabytes of shadow memory: any limit
     * would stop them (make asan, make tsan). */
    (void)ps;
    (void)on_fatal;
#else
    struct rlimit r = { (rlim_t)ps->cfg->memory_limit, (rlim_t)ps->cfg->memory_limit };
    if (setrlimit(RLIMIT_AS, &r) != 0) {
        log_warn("step %s: cannot set its memory limit: %s", ps->cfg->name, strerror(errno));
        return;
    }
    struct sigaction sa = { .sa_handler = on_fatal };
    sigemptyset(&sa.sa_mask);
    sigaction(SIGSEGV, &sa, NULL);
    sigaction(SIGBUS, &sa, NULL);
    sigaction(SIGABRT, &sa, NULL);
#endif
}

/*
 * Threads a plugin left running after its step returned: they would run,
 * and might crash, after the step reported. Waits up to 1 s for them to
 * end (a crash meanwhile is still this step's); how many are left.
 */
static int stray_threads(void)
{
    for (int i = 0;; i++) {
        int n = -1;
        DIR *dir = opendir("/proc/self/task");
        struct dirent *e;
        if (!dir)
            return 0; /* cannot tell: trust it */
        while ((e = readdir(dir)))
            n += e->d_name[0] != '.';
        closedir(dir);
        if (n <= 0 || i == 100)
            return n < 0 ? 0 : n;
        struct timespec t = { 0, 10 * 1000000L };
        nanosleep(&t, NULL);
    }
}

/* Answer commands until the supervisor closes our input. */
static int serve(int dry, const db_clock *clock, pipeline *p, db *d, proto_in *in)
{
    for (;;) {
        json_t *cmd = NULL;
        int got = proto_read(in, &cmd, -1);
        if (got != 1)
            return EXIT_OK; /* end of input: the supervisor is done with us */
        json_t *run = json_object_get(cmd, "run");
        const char *probe = str(cmd, "probe");
        json_t *reply;
        if (json_is_integer(run) && json_integer_value(run) >= 0 &&
            (size_t)json_integer_value(run) < p->n) {
            step_outcome o = { 0 };
            /* tracing: the worker's lines carry the step's span, as the supervisor's do. */
            json_t *tr = json_object_get(cmd, "trace");
            const char *tid = str(tr, "traceId"), *sid = str(tr, "spanId");
            log_set_trace(tid && trace_id_valid(tid, TRACE_ID_HEX) ? tid : NULL,
                          sid && trace_id_valid(sid, SPAN_ID_HEX) ? sid : NULL);
            apply_memory_limit(&p->steps[json_integer_value(run)]);
            runner_step(&p->steps[json_integer_value(run)], p->cfg->path, d, clock, dry,
                        &o);
            int stray = stray_threads();
            if (stray && o.status == STEP_OK) {
                o.status = STEP_FAILED;
                free(o.error);
                o.error = xasprintf("its plugin left %d thread%s running after the step "
                                    "returned: a step's threads must end before its run() "
                                    "or fini() returns", stray, stray == 1 ? "" : "s");
            }
            reply = step_reply(json_integer_value(run), &o);
        } else if (probe) {
            reply = probe_reply(p, d, probe);
        } else {
            /* Say what was wrong with it: the field, its type, or a step it does not have. */
            char why[256];
            if (run)
                snprintf(why, sizeof why, "the command: field 'run' must be a step's index, 0 "
                         "to %zu, got %s%s", p->n ? p->n - 1 : 0, jx_type_name(run),
                         json_is_integer(run) ? " out of range" : "");
            else
                snprintf(why, sizeof why, "a command the worker does not know: neither 'run' "
                         "(an integer) nor 'probe' (a string)");
            json_decref(cmd);
            return fatal(why, EXIT_USAGE);
        }
        json_decref(cmd);
        if (proto_write(WORKER_REPLY_FD, reply) != 0)
            return EXIT_OK; /* the supervisor is gone */
    }
}

int worker_main(void)
{
    proto_in in = { .fd = 0 };
    json_t *assignment = NULL;
    config *cfg = NULL;
    pipeline *p = NULL;
    db *d = NULL;
    char err[2048];
    int rc;

    /* Dies with the supervisor; a plugin's printf goes to the log, never the replies. */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    dup2(2, 1);
    /* Our pipes are not for a plugin's children (system(), fork + exec): one that held
     * them would keep them open after we are gone. The supervisor judges our end by our
     * pid anyway, and kills our process group with us. */
    fcntl(0, F_SETFD, FD_CLOEXEC);
    fcntl(WORKER_REPLY_FD, F_SETFD, FD_CLOEXEC);
    struct sigaction sa = { .sa_handler = on_stop };
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    if (proto_read(&in, &assignment, -1) != 1) {
        rc = fatal("no assignment on standard input", EXIT_USAGE);
        goto out;
    }
    /* Every field is checked before it is used: a missing one never reads as 0. */
    proto_reader r = { assignment, "the assignment", "" };
    json_int_t level = 0, format = 0;
    const char *mode = NULL;
    if (proto_version_ok(&r)) {
        level = proto_int(&r, "log.level", 0);
        format = proto_int(&r, "log.format", 0);
        mode = proto_str(&r, "mode", 0);
    }
    if (!r.err[0] && (level < RC_LOG_ERROR || level > RC_LOG_DEBUG))
        snprintf(r.err, sizeof r.err, "the assignment: field 'log.level' must be %d to %d, got "
                 "%lld", RC_LOG_ERROR, RC_LOG_DEBUG, (long long)level);
    if (!r.err[0] && format != LOG_TEXT && format != LOG_JSON)
        snprintf(r.err, sizeof r.err, "the assignment: field 'log.format' must be %d or %d, got "
                 "%lld", LOG_TEXT, LOG_JSON, (long long)format);
    if (!r.err[0] && strcmp(mode, "run") != 0 && strcmp(mode, "probe") != 0 &&
        strcmp(mode, "inspect") != 0 && strcmp(mode, "describe") != 0)
        snprintf(r.err, sizeof r.err, "the assignment: field 'mode' must be run, probe, inspect "
                 "or describe, got '%.64s'", mode);
    if (r.err[0]) {
        rc = fatal(r.err, EXIT_USAGE);
        goto out;
    }
    log_setup((rc_log_level)level, (log_format)format);
    if (strcmp(mode, "inspect") == 0) {
        rc = inspect(assignment);
        goto out;
    }
    if (strcmp(mode, "describe") == 0) {
        rc = describe(&in);
        goto out;
    }
    /* Modes run and probe: what the steps are run with, then the pipeline and connection. */
    db_clock clock;
    int dry = proto_bool(&r, "dryRun", 0);
    json_int_t run_id = proto_int(&r, "runId", 1);
    const char *job = proto_str(&r, "job", 1);
    lock_ident lock = { "", "", 0 };
    if (proto_get(&r, "lock", PROTO_OBJECT, 1)) { /* a real run under its run lock */
        const char *name = proto_str(&r, "lock.name", 0), *holder = proto_str(&r, "lock.holder", 0);
        snprintf(lock.name, sizeof lock.name, "%s", name ? name : "");
        snprintf(lock.holder, sizeof lock.holder, "%s", holder ? holder : "");
        lock.ttl_ms = (int64_t)proto_int(&r, "lock.ttlMs", 0);
    }
    if (clock_of(&r, &clock) != 0) {
        rc = fatal(r.err, EXIT_USAGE);
        goto out;
    }
    runner_set_change_owner(run_id, job);
    /* The worker's JSON lines carry the run and job, as the supervisor's do. */
    log_set_run(run_id);
    log_set_job(job);
    if ((rc = load_assignment_config(assignment, &cfg, err, sizeof err)) != EXIT_OK ||
        (rc = run_prepare(cfg, strcmp(mode, "probe") == 0 ? RUN_PROBES_QUIET : 0, &p, err,
                          sizeof err)) != EXIT_OK ||
        (rc = connect_open(cfg, NULL, &d, err, sizeof err)) != EXIT_OK) {
        rc = fatal(err, rc);
        goto out;
    }
    /* A run's writes are fenced by its run lock's lease (db_set_fence). */
    if (lock.name[0])
        db_set_fence(d, lock_fence, &lock);
    if (hello(db_connection_id(d)) != 0) {
        rc = EXIT_OK;
        goto out;
    }
    rc = serve(dry, &clock, p, d, &in);
out:
    db_close(d);
    pipeline_free(p);
    config_free(cfg);
    json_decref(assignment);
    proto_in_free(&in);
    return rc;
}
