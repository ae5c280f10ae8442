/* service.c - see service.h. */
#include "service.h"
#include "http.h"
#include "log.h"
#include "notify.h"
#include "schedule.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The plugins the API runs as probes (read-only) for its live endpoints. */
static const char *const probe_names[] = { "queue", "metrics", "followups", "orders" };

/* Backoff while the database cannot be reached: 1 s, 2 s, 4 s ... at most this. */
#define BACKOFF_MAX_MS 60000

static int g_wake_fd = -1;              /* the signal handlers write here */
static volatile sig_atomic_t g_reload;

static void on_stop(int sig)
{
    (void)sig;
    runner_request_stop();
    if (g_wake_fd >= 0) {
        int saved = errno;
        (void)!write(g_wake_fd, "s", 1);
        errno = saved;
    }
}

static void on_hup(int sig)
{
    (void)sig;
    g_reload = 1;
    if (g_wake_fd >= 0) {
        int saved = errno;
        (void)!write(g_wake_fd, "h", 1);
        errno = saved;
    }
}

void service_wake(service *s)
{
    (void)!write(s->wake_w, "m", 1);
}

int service_db(service *s, db **out, char *err, size_t errlen)
{
    return cli_open_db(s->cfg, out, err, errlen);
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

/* Connect the run's connection and the lock's: EXIT_OK, or an exit code with err. */
static int connect_all(service *s, db **d, char *err, size_t errlen)
{
    int rc = EXIT_OK;
    if (!*d && (rc = cli_open_db(s->cfg, d, err, errlen)) != EXIT_OK)
        return rc;
    if (!s->g) {
        guard *g;
        if ((rc = guard_open(s->cfg, &g, err, errlen)) != EXIT_OK)
            return rc;
        pthread_mutex_lock(&s->mu); /* /metrics reads s->g */
        s->g = g;
        pthread_mutex_unlock(&s->mu);
    }
    return EXIT_OK;
}

/*
 * Connect, retrying with capped exponential backoff while the database cannot
 * be reached; the service (and its /healthz) stays up meanwhile. A bad URL or
 * password source is a configuration error: no point retrying.
 */
static int connect_with_backoff(service *s, int wake_r, db **d)
{
    char err[2048];
    int64_t delay = 1000;
    for (;;) {
        int rc = connect_all(s, d, err, sizeof err);
        if (rc == EXIT_OK)
            return EXIT_OK;
        if (rc != EXIT_DATABASE) {
            log_error("%s", err);
            return rc;
        }
        log_error("%s; retrying in %lld s", err, (long long)(delay / 1000));
        wait_until(wake_r, util_mono_ms() + delay);
        if (runner_shutting_down())
            return EXIT_OK;
        delay = delay * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : delay * 2;
    }
}

const char *const svc_status_names[SVC_N_STATUS] = { "success", "partial", "failed", "skipped" };

static int status_index(const char *status)
{
    for (int i = 0; i < SVC_N_STATUS; i++)
        if (status && strcmp(status, svc_status_names[i]) == 0)
            return i;
    return SVC_FAILED;
}

/* Record a finished (or not run) run in the shared state; takes r. */
static void record(service *s, json_t *r)
{
    static const double bounds[SVC_N_BUCKETS] = SVC_DURATION_BUCKETS;
    int st = status_index(json_string_value(json_object_get(r, "status")));
    double secs = (double)json_integer_value(json_object_get(r, "durationMs")) / 1000.0;
    double now = (double)util_wall_ms() / 1000.0;
    int dry = json_is_true(json_object_get(r, "dryRun"));

    pthread_mutex_lock(&s->mu);
    s->stats.runs[st]++;
    if (st != SVC_SKIPPED) {
        size_t b = 0;
        while (b < SVC_N_BUCKETS && secs > bounds[b])
            b++;
        s->stats.duration[b]++;
        s->stats.duration_sum += secs;
        s->stats.last_run_s = now;
        if (st == SVC_SUCCESS) {
            s->stats.last_success_s = now;
            if (!dry)
                s->succeeded = 1;
        }
        json_decref(s->last_result);
        s->last_result = r;
        r = NULL;
    }
    s->running = 0;
    s->running_id = 0;
    pthread_mutex_unlock(&s->mu);
    json_decref(r);
}

typedef struct run_plan {
    const char *trigger;
    int dry_run;
    int64_t run_id;   /* a queued manual run's id, else 0 */
    int64_t wait_ms;  /* how long to wait for the run lock */
    int64_t hold_ms;  /* keep the lock this long after the run's start */
} run_plan;

/*
 * One run: take the lock (a dry run writes nothing and needs none), run,
 * let go, record. Returns EXIT_LOCKED when the lock stayed taken for the whole
 * wait (the caller decides whether that ends the service), else EXIT_OK.
 */
static int do_run(service *s, history *h, db **d, const run_plan *plan)
{
    char err[2048], reason[2400];
    lock_info other = { "", "" };
    json_t *r = NULL;
    int64_t run_id = plan->run_id;

    /* Recorded before anything else, so that a 409 names this run's id. */
    if (!run_id && h && history_begin(h, plan->trigger, plan->dry_run, util_wall_ms(),
                                      &run_id) != 0) {
        log_error("%s (the run goes on without a history record)", history_error(h));
        run_id = 0;
    }
    pthread_mutex_lock(&s->mu);
    s->running = 1;
    s->running_id = run_id;
    pthread_mutex_unlock(&s->mu);

    /* A server restarted since the last run closed our session: reopen it
     * now rather than fail this run on it. */
    if (*d && db_ping(*d) != 0) {
        log_info("the database connection was lost (%s); reconnecting", db_errmsg(*d));
        db_close(*d);
        *d = NULL;
    }
    if (connect_all(s, d, err, sizeof err) != EXIT_OK) {
        snprintf(reason, sizeof reason, "not run: %s", err);
        log_error("%s run: %s", plan->trigger, reason);
        record(s, runner_not_run(h, plan->trigger, plan->dry_run, run_id, "failed", reason));
        return EXIT_OK;
    }
    if (!plan->dry_run) {
        int got = guard_acquire(s->g, plan->wait_ms, &other, err, sizeof err);
        if (got == GUARD_STOPPED) {
            record(s, runner_not_run(h, plan->trigger, plan->dry_run, run_id, "skipped",
                                     "not run: reconciler is stopping"));
            return EXIT_OK;
        }
        if (got != GUARD_TAKEN) {
            int busy = got == GUARD_BUSY;
            if (busy)
                snprintf(reason, sizeof reason,
                         "skipped: another instance holds the run lock: %s (until %s UTC)",
                         other.holder, other.until);
            else
                snprintf(reason, sizeof reason, "not run: the run lock: %s", err);
            /* A scheduled tick that finds another instance running is routine. */
            log_msg(busy && !plan->wait_ms ? RC_LOG_INFO : RC_LOG_ERROR, NULL, "%s run %s",
                    plan->trigger, reason);
            record(s, runner_not_run(h, plan->trigger, plan->dry_run, run_id,
                                     busy ? "skipped" : "failed", reason));
            return busy ? EXIT_LOCKED : EXIT_OK;
        }
    }

    run_request req = { .trigger = plan->trigger, .dry_run = plan->dry_run, .run_id = run_id };
    runner_run(s->p, *d, h, &req, &r);
    if (!plan->dry_run)
        guard_release(s->g, runner_shutting_down() ? 0 : plan->hold_ms);
    char *summary = runner_summary(r);
    log_info("%s", summary ? summary : "run finished");
    free(summary);
    if (db_lost(*d)) {
        /* Reconnect before the next run rather than fail it too. */
        db_close(*d);
        *d = NULL;
    }
    record(s, r);
    return EXIT_OK;
}

/* The keys that are bound at start; a reload keeps their running values. */
static void keep_bound(config *old, config *nc)
{
    struct { const char *key; char **o, **n; } bound[] = {
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

/* Build a pipeline and its probes; a probe plugin that is missing only disables its endpoint. */
static int build(config *cfg, pipeline **out, char *err, size_t errlen)
{
    char why[1024];
    if (pipeline_build(cfg, out, err, errlen) != 0)
        return -1;
    for (size_t i = 0; i < sizeof probe_names / sizeof probe_names[0]; i++)
        if (pipeline_add_probe(*out, probe_names[i], why, sizeof why) != 0)
            log_warn("%s; the API endpoints that use it answer 503", why);
    return 0;
}

/* SIGHUP: re-read the pipeline file; a bad one is reported and the running one kept. */
static void reload(service *s)
{
    config *nc = NULL;
    pipeline *np = NULL;
    char err[2048];

    log_info("reload: reading %s", s->cfg->path);
    if (cli_load_config(s->common, 1, &nc) != EXIT_OK) {
        log_error("reload: %s is not valid (see above); keeping the running pipeline",
                  s->cfg->path);
        return;
    }
    if (build(nc, &np, err, sizeof err) != 0) {
        log_error("reload: %s; keeping the running pipeline", err);
        config_free(nc);
        return;
    }
    keep_bound(s->cfg, nc);
    pthread_rwlock_wrlock(&s->pl_lock);
    config *oc = s->cfg;
    pipeline *op = s->p;
    s->cfg = nc;
    s->p = np;
    pthread_rwlock_unlock(&s->pl_lock);
    if (s->g)
        guard_set_config(s->g, nc);
    pipeline_free(op);
    config_free(oc);
    log_info("reload: %s: %zu step%s in force", nc->path, np->n, np->n == 1 ? "" : "s");
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
}

/* Is there a queued manual run? Take it (the main thread runs it next). */
static int take_queued(service *s, int64_t *id, int *dry)
{
    pthread_mutex_lock(&s->mu);
    *id = s->queued_id;
    *dry = s->queued_dry;
    s->queued_id = 0;
    if (*id) {
        /* Running from this moment, so that no second POST slips in before do_run. */
        s->running = 1;
        s->running_id = *id;
    }
    pthread_mutex_unlock(&s->mu);
    return *id != 0;
}

static int schedule_loop(service *s, history *h, db **d, int wake_r)
{
    schedule sch;
    schedule_init(&sch, util_mono_ms(), s->cfg->schedule_interval_ms, pick_jitter(s->cfg));

    while (!runner_shutting_down()) {
        int64_t id;
        int dry;
        if (g_reload) {
            g_reload = 0;
            reload(s);
            schedule_set_interval(&sch, s->cfg->schedule_interval_ms, pick_jitter(s->cfg));
            continue;
        }
        if (take_queued(s, &id, &dry)) {
            run_plan plan = { "manual", dry, id, s->cfg->schedule_lock_wait_ms, 0 };
            do_run(s, h, d, &plan);
            continue;
        }
        if (util_mono_ms() < schedule_due(&sch)) {
            wait_until(wake_r, schedule_due(&sch));
            continue;
        }
        int64_t start = util_mono_ms();
        /* After a scheduled run the lock stays ours for about one interval
         * from its start, so N instances make one run per interval, not N. */
        run_plan plan = { "scheduled", 0, 0, 0, sch.interval };
        do_run(s, h, d, &plan);
        int64_t took = util_mono_ms() - start;
        int64_t missed = schedule_after_run(&sch, took, util_mono_ms(), pick_jitter(s->cfg));
        if (missed)
            log_warn("the run took %lld ms, longer than schedule.interval (%lld ms); "
                     "skipping %lld tick%s", (long long)took, (long long)sch.interval,
                     (long long)missed, missed == 1 ? "" : "s");
    }
    return EXIT_OK;
}

int service_run(const cli_common *common, config *cfg)
{
    service s = { .common = common, .cfg = cfg };
    http_server *http = NULL;
    history *h = NULL;
    db *d = NULL;
    int wake[2] = { -1, -1 }, rc;
    char err[2048];

    pthread_rwlock_init(&s.pl_lock, NULL);
    pthread_mutex_init(&s.mu, NULL);
    pthread_mutex_init(&s.hist_mu, NULL);
    if (pipe2(wake, O_CLOEXEC | O_NONBLOCK) != 0) {
        log_error("cannot create a pipe: %s", strerror(errno));
        rc = EXIT_LOCAL;
        goto out;
    }
    s.wake_w = wake[1];
    g_wake_fd = wake[1];
    install_signals();

    if (build(cfg, &s.p, err, sizeof err) != 0) {
        fprintf(stderr, "%s\n", err);
        rc = EXIT_USAGE;
        goto out;
    }
    if (history_open(cfg->history_path, cfg->history_keep_runs, &h, err, sizeof err) != 0 ||
        history_open(cfg->history_path, cfg->history_keep_runs, &s.api_hist, err,
                     sizeof err) != 0) {
        log_error("%s", err);
        rc = EXIT_LOCAL;
        goto out;
    }
    if (cfg->http_token_env) {
        const char *t = getenv(cfg->http_token_env);
        if (t && *t)
            s.token = xstrdup(t);
        else
            log_warn("http.token_env names %s, which is not set: the API asks for no token",
                     cfg->http_token_env);
    }
    if (!s.token && strncmp(cfg->http_listen, "127.", 4) != 0 &&
        strncmp(cfg->http_listen, "[::1]:", 6) != 0 && strncmp(cfg->http_listen, "localhost:", 10) != 0)
        log_warn("http.listen %s is not a loopback address and no token is required "
                 "(http.token_env): anyone who can reach it can read the dashboard and "
                 "start runs", cfg->http_listen);
    if (api_start(&s, &http, err, sizeof err) != 0) {
        log_error("%s", err);
        rc = EXIT_USAGE;
        goto out;
    }
    log_info("service: %s, %zu step%s, every %lld ms (+ up to %lld ms), API on %s%s",
             cfg->path, s.p->n, s.p->n == 1 ? "" : "s", (long long)cfg->schedule_interval_ms,
             (long long)cfg->schedule_jitter_ms, cfg->http_listen,
             s.token ? " (bearer token required)" : "");

    if ((rc = connect_with_backoff(&s, wake[0], &d)) != EXIT_OK || runner_shutting_down())
        goto out;
    log_info("service: run lock holder id %s", guard_holder(s.g));
    if (s.cfg->schedule_on_startup) {
        run_plan plan = { "startup", 0, 0, s.cfg->schedule_lock_wait_ms, 0 };
        if (do_run(&s, h, &d, &plan) == EXIT_LOCKED) {
            log_error("the startup run waited %lld ms for the run lock and gave up",
                      (long long)s.cfg->schedule_lock_wait_ms);
            rc = EXIT_LOCKED;
            goto out;
        }
    }
    notify_send("READY=1\nSTATUS=startup reconciliation done; running on schedule");
    rc = schedule_loop(&s, h, &d, wake[0]);

out:
    notify_send("STOPPING=1");
    pthread_mutex_lock(&s.mu);
    s.stopping = 1;
    pthread_mutex_unlock(&s.mu);
    http_stop(http);
    guard_close(s.g);
    db_close(d);
    history_close(h);
    history_close(s.api_hist);
    json_decref(s.last_result);
    pipeline_free(s.p);
    config_free(s.cfg);
    g_wake_fd = -1;
    if (wake[0] >= 0) {
        close(wake[0]);
        close(wake[1]);
    }
    if (s.token) {
        explicit_bzero(s.token, strlen(s.token));
        free(s.token);
    }
    pthread_rwlock_destroy(&s.pl_lock);
    pthread_mutex_destroy(&s.mu);
    pthread_mutex_destroy(&s.hist_mu);
    log_info("service: stopped");
    return rc;
}
