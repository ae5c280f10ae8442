/* service.c - see service.h. */
#include "service/service.h"
#include "base/exitcode.h"
#include "base/log.h"
#include "base/stop.h"
#include "base/util.h"
#include "engine/runlock.h"
#include "engine/history.h"
#include "engine/run.h"
#include "engine/supervisor.h"
#include "service/api.h"
#include "service/dbwatch.h"
#include "service/figures.h"
#include "service/http.h"
#include "service/notify.h"
#include "service/reload_state.h"
#include "service/run_state.h"
#include "service/schedule.h"
#include "service/snapshot.h"
#include "service/webhook.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Backoff while the database cannot be reached: 1 s, 2 s, 4 s ... at most this. */
#define BACKOFF_MAX_MS 60000

/* How long the API's history handle waits for a writer's lock: it must answer within 1 s. */
#define API_HISTORY_BUSY_MS 500

static int g_wake_fd = -1;              /* the signal handlers write here */
static volatile sig_atomic_t g_reload;  /* written by the SIGHUP handler */

typedef struct service {
    snapshots snaps;        /* the pipeline in force */
    snapshot *boot;         /* the first one, held for good: its database settings
                               (bound at start) serve every connection */
    service_loader load;
    void *load_user;
    run_state rs;
    reload_state cfgs;      /* the file in force and the last reload's outcome, for the API */
    history *h;             /* the main thread's history handle */
    history *api_hist;      /* the API's own */
    history *fig_hist;      /* the figures' own: saving a snapshot never holds up the API */
    runlock *rl;
    webhook *wh;            /* the notify: deliveries' thread */
    dbwatch *watch;
    figures *fig;           /* the live figures' snapshot and its refresh thread */
    db *d;                  /* the run's connection */
    char *token;            /* the API's bearer token, or NULL */
    int wake_r;
} service;

static void wake(void)
{
    if (g_wake_fd >= 0) {
        int saved = errno;
        (void)!write(g_wake_fd, "w", 1);
        errno = saved;
    }
}

static void on_stop(int sig)
{
    (void)sig;
    stop_request();
    wake();
}

static void on_hup(int sig)
{
    (void)sig;
    g_reload = 1;
    wake();
}

/* Sleep until deadline (monotonic ms) or a wake-up byte arrives; drains the pipe. */
static void wait_until(int wake_r, int64_t deadline)
{
    int64_t left = deadline - util_mono_ms();
    if (left < 0)
        left = 0;
    struct pollfd pfd = { .fd = wake_r, .events = POLLIN };
    if (poll(&pfd, 1, left > 3600000 ? 3600000 : (int)left) > 0) {
        char buf[64];
        while (read(wake_r, buf, sizeof buf) > 0)
            ;
    }
}

static int64_t pick_jitter(const config *cfg)
{
    return cfg->schedule_jitter_ms > 0
               ? (int64_t)(util_random_u64() % (uint64_t)(cfg->schedule_jitter_ms + 1)) : 0;
}

/*
 * Connect the run's connection, retrying with capped exponential backoff
 * while the database cannot be reached; the service (and its /healthz) stays
 * up meanwhile. A bad URL or password source is a configuration error: no
 * point retrying.
 */
static int connect_with_backoff(service *s)
{
    char err[2048];
    int64_t delay = 1000;
    for (;;) {
        int rc = run_connect(s->boot->cfg, &s->d, err, sizeof err);
        if (rc == EXIT_OK)
            return EXIT_OK;
        if (rc != EXIT_DATABASE) {
            log_error("%s", err);
            return rc;
        }
        log_error("%s; retrying in %lld s", err, (long long)(delay / 1000));
        wait_until(s->wake_r, util_mono_ms() + delay);
        if (stop_requested())
            return EXIT_OK;
        delay = delay * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : delay * 2;
    }
}

static void run_started(void *user, int64_t run_id)
{
    run_state_running(user, run_id);
}

/*
 * One run with the pipeline in force (held by reference for the run: a
 * reload meanwhile takes effect from the next one). Returns run_execute's
 * exit code.
 */
static int do_run(service *s, const char *trigger, int dry_run, int64_t run_id, int64_t wait_ms,
                  int64_t hold_ms)
{
    json_t *r = NULL;
    snapshot *snap = snapshots_hold(&s->snaps);
    /* The snapshot's config: its steps' file text, with the bound database settings. */
    run_env env = { snap->cfg, snap->p, s->h, s->rl, &s->d };
    run_spec spec = { .trigger = trigger, .dry_run = dry_run, .run_id = run_id,
                      .wait_ms = wait_ms, .hold_ms = hold_ms, .started = run_started,
                      .user = &s->rs };
    run_state_running(&s->rs, run_id);
    figures_run_begins(s->fig);
    int rc = run_execute(&env, &spec, &r);
    /* Queued only: the delivery thread sends, so no receiver can hold up the schedule. */
    webhook_after_run(s->wh, snap->cfg, r, snap->cfg->http_listen);
    snapshot_release(snap);
    run_state_finish(&s->rs, r);
    /* The run changed the tables: the figures follow at once (within their budget). */
    figures_kick(s->fig);
    return rc;
}

/* The keys that are bound at start; a reload keeps their running values. */
static void keep_bound(const config *old, config *nc)
{
    struct { const char *key; char *const *o; char **n; } bound[] = {
        { "database.url", &old->db_url, &nc->db_url },
        { "database.password_env", &old->db_password_env, &nc->db_password_env },
        { "database.password_file", &old->db_password_file, &nc->db_password_file },
        { "database.time_zone", &old->db_time_zone, &nc->db_time_zone },
        { "history.path", &old->history_path, &nc->history_path },
        { "http.listen", &old->http_listen, &nc->http_listen },
        { "http.token_env", &old->http_token_env, &nc->http_token_env },
    };
    for (size_t i = 0; i < sizeof bound / sizeof bound[0]; i++) {
        const char *o = *bound[i].o ? *bound[i].o : "", *n = *bound[i].n ? *bound[i].n : "";
        if (strcmp(o, n) == 0)
            continue;
        log_warn("reload: %s changed; it takes effect when reconciler restarts", bound[i].key);
        free(*bound[i].n);
        *bound[i].n = *bound[i].o ? xstrdup(*bound[i].o) : NULL;
        if (bound[i].o == &old->db_url) { /* messages about it cite where it was read */
            nc->db_url_line = old->db_url_line;
            nc->db_url_col = old->db_url_col;
        }
    }
    nc->db_connect_timeout_ms = old->db_connect_timeout_ms;
    nc->db_read_timeout_ms = old->db_read_timeout_ms;
    nc->db_write_timeout_ms = old->db_write_timeout_ms;
}

/*
 * Build a pipeline and its probes; a probe plugin that is missing only
 * disables its endpoint. The plugins are loaded and checked in a worker:
 * one that crashes there (a reload adding it) is refused, the service stays.
 */
static int build(config *cfg, pipeline **out, char *err, size_t errlen)
{
    int crashed;
    return supervise_inspect(cfg, 1, 0, out, &crashed, err, errlen) == EXIT_OK ? 0 : -1;
}

/* The API's POST /v1/service/reload: the same as a SIGHUP. */
static void request_reload(void)
{
    g_reload = 1;
    wake();
}

/*
 * SIGHUP: re-read the pipeline file; a bad one is refused, logged (in the
 * log's format) and kept for the API, and the running one kept.
 */
static void reload(service *s)
{
    config *nc = NULL;
    pipeline *np = NULL;
    char err[2048] = "";

    log_info("reload: reading %s", s->boot->cfg->path);
    if (s->load(s->load_user, &nc, err, sizeof err) != 0 || build(nc, &np, err, sizeof err) != 0) {
        log_error("reload: refused: %s; keeping the running pipeline", err);
        reload_state_refused(&s->cfgs, s->boot->cfg->path, err);
        config_free(nc);
        return;
    }
    keep_bound(s->boot->cfg, nc);
    runlock_set_ttl(s->rl, nc->schedule_lock_ttl_ms);
    runlock_set_max_skew(s->rl, nc->schedule_max_clock_skew_ms);
    log_info("reload: %s: %zu step%s in force", nc->path, np->n, np->n == 1 ? "" : "s");
    reload_state_loaded(&s->cfgs, nc, 1);
    snapshots_swap(&s->snaps, nc, np);
    /* Its probes or their options may differ: the figures follow the pipeline in force. */
    figures_kick(s->fig);
}

static void install_signals(void)
{
    struct sigaction stop = { .sa_handler = on_stop }, hup = { .sa_handler = on_hup },
                     ign = { .sa_handler = SIG_IGN };
    /* No SA_RESTART: poll() returns at once and the loop looks at the flags. */
    sigemptyset(&stop.sa_mask);
    sigemptyset(&hup.sa_mask);
    sigemptyset(&ign.sa_mask);
    sigaction(SIGTERM, &stop, NULL);
    sigaction(SIGINT, &stop, NULL);
    sigaction(SIGHUP, &hup, NULL);
    sigaction(SIGPIPE, &ign, NULL);
    /* A stop cuts every wait on a database that does not answer (frozen). */
    db_cut_waits_on_stop(DB_STOP_GRACE_MS);
}

/* The schedule of the pipeline in force (a copy: a reload may swap the snapshot). */
static void current_schedule(service *s, int64_t *interval, int64_t *jitter, int64_t *lock_wait)
{
    snapshot *snap = snapshots_hold(&s->snaps);
    *interval = snap->cfg->schedule_interval_ms;
    *jitter = pick_jitter(snap->cfg);
    *lock_wait = snap->cfg->schedule_lock_wait_ms;
    snapshot_release(snap);
}

static int schedule_loop(service *s)
{
    int64_t interval, jitter, lock_wait;
    schedule sch;
    current_schedule(s, &interval, &jitter, &lock_wait);
    schedule_init(&sch, util_mono_ms(), interval, jitter);

    while (!stop_requested()) {
        int64_t id;
        int dry;
        if (g_reload) {
            g_reload = 0;
            reload(s);
            current_schedule(s, &interval, &jitter, &lock_wait);
            schedule_set_interval(&sch, interval, jitter);
            continue;
        }
        if (run_state_take_queued(&s->rs, &id, &dry)) {
            if (do_run(s, "manual", dry, id, lock_wait, 0) == EXIT_DATABASE)
                connect_with_backoff(s);
            continue;
        }
        if (util_mono_ms() < schedule_due(&sch)) {
            run_state_next(&s->rs, util_wall_ms() + (schedule_due(&sch) - util_mono_ms()));
            wait_until(s->wake_r, schedule_due(&sch));
            continue;
        }
        int64_t start = util_mono_ms();
        /* After a scheduled run the lock stays ours for about one interval
         * from its start, so N instances make one run per interval, not N. */
        int rc = do_run(s, "scheduled", 0, 0, 0, sch.interval);
        /* The database went away: reconnect with backoff rather than fail every tick. */
        if (rc == EXIT_DATABASE && connect_with_backoff(s) != EXIT_OK)
            log_error("service: cannot reconnect (see above); trying again at the next run");
        int64_t took = util_mono_ms() - start;
        current_schedule(s, &interval, &jitter, &lock_wait);
        int64_t missed = schedule_after_run(&sch, took, util_mono_ms(), jitter);
        if (missed)
            log_warn("the run took %lld ms, longer than schedule.interval (%lld ms); "
                     "skipping %lld tick%s", (long long)took, (long long)sch.interval,
                     (long long)missed, missed == 1 ? "" : "s");
    }
    return EXIT_OK;
}

/* The bearer token from http.token_env, and a warning for an open API beyond loopback. */
static void read_token(service *s, const config *cfg)
{
    if (cfg->http_token_env) {
        const char *t = getenv(cfg->http_token_env);
        if (t && *t)
            s->token = xstrdup(t);
        else
            log_warn("http.token_env names %s, which is not set: the API asks for no token",
                     cfg->http_token_env);
    }
    if (!s->token && strncmp(cfg->http_listen, "127.", 4) != 0 &&
        strncmp(cfg->http_listen, "[::1]:", 6) != 0 &&
        strncmp(cfg->http_listen, "localhost:", 10) != 0)
        log_warn("http.listen %s is not a loopback address and no token is required "
                 "(http.token_env): anyone who can reach it can read the dashboard and "
                 "start runs", cfg->http_listen);
}

int service_run(config *cfg, service_loader load, void *load_user)
{
    service s = { .load = load, .load_user = load_user, .wake_r = -1 };
    http_server *http = NULL;
    pipeline *p = NULL;
    int wake_fds[2] = { -1, -1 }, rc;
    char err[2048];

    reload_state_init(&s.cfgs);
    if (build(cfg, &p, err, sizeof err) != 0) {
        log_error("%s", err);
        reload_state_destroy(&s.cfgs);
        config_free(cfg);
        return EXIT_USAGE;
    }
    reload_state_loaded(&s.cfgs, cfg, 0);
    snapshots_init(&s.snaps, cfg, p);
    s.boot = snapshots_hold(&s.snaps);
    run_state_init(&s.rs, NULL, -1);
    if (pipe2(wake_fds, O_CLOEXEC | O_NONBLOCK) != 0) {
        log_error("cannot create a pipe: %s", strerror(errno));
        rc = EXIT_LOCAL;
        goto out;
    }
    s.wake_r = wake_fds[0];
    s.rs.wake_fd = g_wake_fd = wake_fds[1];
    install_signals();

    if (history_open(cfg->history_path, cfg->history_keep_runs, HISTORY_BUSY_DEFAULT_MS, &s.h,
                     err, sizeof err) != 0 ||
        history_open(cfg->history_path, cfg->history_keep_runs, API_HISTORY_BUSY_MS,
                     &s.api_hist, err, sizeof err) != 0 ||
        history_open(cfg->history_path, cfg->history_keep_runs, API_HISTORY_BUSY_MS,
                     &s.fig_hist, err, sizeof err) != 0) {
        log_error("%s", err);
        rc = EXIT_LOCAL;
        goto out;
    }
    history_share_ids(s.api_hist, s.h); /* one file, one run-id floor */
    int64_t closed;
    if (history_abandon(s.h, &closed) != 0)
        log_error("%s", history_error(s.h));
    s.rs.h = s.api_hist;
    s.wh = webhook_start(s.h);
    s.rl = runlock_open(cfg);
    s.watch = dbwatch_start(cfg);
    read_token(&s, cfg);
    s.fig = figures_start(&s.snaps, s.fig_hist, cfg->schedule_on_startup);
    api_deps deps = { .rs = &s.rs, .snaps = &s.snaps, .h = s.api_hist, .rl = s.rl,
                      .watch = s.watch, .boot = cfg, .listen = cfg->http_listen,
                      .token = s.token, .wh = s.wh, .cfgs = &s.cfgs,
                      .reload = request_reload, .fig = s.fig };
    if (api_start(&deps, &http, err, sizeof err) != 0) {
        log_error("%s", err);
        rc = EXIT_USAGE;
        goto out;
    }
    log_info("service: %s, %zu step%s, every %lld ms (+ up to %lld ms), API on %s%s",
             cfg->path, p->n, p->n == 1 ? "" : "s", (long long)cfg->schedule_interval_ms,
             (long long)cfg->schedule_jitter_ms, cfg->http_listen,
             s.token ? " (bearer token required)" : "");

    if ((rc = connect_with_backoff(&s)) != EXIT_OK || stop_requested())
        goto out;
    log_info("service: run lock holder id %s", runlock_holder(s.rl));
    if (cfg->schedule_on_startup &&
        do_run(&s, "startup", 0, 0, cfg->schedule_lock_wait_ms, 0) == EXIT_LOCKED) {
        log_error("the startup run waited %lld ms for the run lock and gave up",
                  (long long)cfg->schedule_lock_wait_ms);
        rc = EXIT_LOCKED;
        goto out;
    }
    notify_send("READY=1\nSTATUS=startup reconciliation done; running on schedule");
    rc = schedule_loop(&s);

out:
    notify_send("STOPPING=1");
    run_state_stop(&s.rs);
    figures_halt(s.fig); /* before http_stop: no handler may wait for a refresh then */
    http_stop(http);
    figures_stop(s.fig);
    /* What is still queued (the last run's alert) gets a bounded moment, within SIGTERM's 5 s. */
    webhook_finish(s.wh, util_mono_ms() + WEBHOOK_STOP_BUDGET_MS, 0);
    dbwatch_stop(s.watch);
    runlock_close(s.rl);
    db_close(s.d);
    run_state_destroy(&s.rs);
    reload_state_destroy(&s.cfgs);
    history_close(s.h);
    history_close(s.api_hist);
    history_close(s.fig_hist);
    snapshot_release(s.boot);
    snapshots_destroy(&s.snaps);
    g_wake_fd = -1;
    if (wake_fds[0] >= 0) {
        close(wake_fds[0]);
        close(wake_fds[1]);
    }
    util_free_secret(s.token);
    log_info("service: stopped");
    return rc;
}
