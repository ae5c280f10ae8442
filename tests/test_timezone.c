/* SPDX-License-Identifier: MIT */
/*
 * test_timezone.c - T is the bot's clock in the bot's zone. Private MariaDB
 * servers whose default zone is not UTC (-05:00, +03:00); a bot-like session
 * (no time_zone of its own) writes leases and cooldowns with NOW(); a run
 * repairs exactly the expired ones. With database.time_zone set to another
 * zone than the bot's, the documented misjudgement shows.
 */
#include "helpers.h"
#include "db/lock.h"
#include "db/migrate.h"
#include "engine/runner.h"
#include "engine/supervisor.h"
#include "th_server.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct tz_rig {
    th_server srv;
    char *url;
    db *bot;      /* a session as the bot opens it: the server's default zone */
    db *rec;      /* reconciler's session, with the time_zone under test */
    char *yaml;
    config *cfg;
    pipeline *p;
} tz_rig;

static db *open_url(const char *url, const char *tz, char *err, size_t errlen)
{
    db_url u;
    db *d = NULL;
    cr_assert_eq(db_url_parse(url, NULL, &u, err, errlen), 0, "%s", err);
    db_options o = { .time_zone = tz };
    int rc = db_open(&u, &o, &d, err, errlen);
    db_url_free(&u);
    return rc == DB_OK ? d : NULL;
}

static void bot_exec(db *d, const char *sql)
{
    cr_assert_eq(db_exec(d, sql, NULL, 0, NULL), 0, "%s: %s", sql, db_errmsg(d));
}

static void tz_up(tz_rig *r, const char *server_zone, const char *session_tz)
{
    char opt[64], err[1024], *text = NULL, abs[4096];
    snprintf(opt, sizeof opt, "--default-time-zone=%s", server_zone);
    const char *extra[] = { opt, NULL };
    memset(r, 0, sizeof *r);
    th_server_start(&r->srv, extra);
    r->url = th_server_db(&r->srv, "bot");
    r->bot = open_url(r->url, NULL, err, sizeof err);
    cr_assert_not_null(r->bot, "%s", err);
    cr_assert_geq(migrate_apply(r->bot, err, sizeof err), 0, "%s", err);
    r->rec = open_url(r->url, session_tz, err, sizeof err);
    cr_assert_not_null(r->rec, "%s", err);

    /* The bot's own writes, in its own session: NOW() is the server's zone. */
    bot_exec(r->bot, "INSERT INTO processing_jobs (id, job_type, status, attempts, locked_by, "
             "locked_until) VALUES "
             "(1, 'live', 'processing', 1, 'w-live', NOW() + INTERVAL 5 MINUTE), "
             "(2, 'expired', 'processing', 1, 'w-dead', NOW() - INTERVAL 1 MINUTE)");
    bot_exec(r->bot, "INSERT INTO user_sessions (user_id, follow_up_attempts, cooldown_until, "
             "last_activity) VALUES "
             "('ended', 2, NOW() - INTERVAL 1 MINUTE, NOW()), "
             "('future', 2, NOW() + INTERVAL 1 HOUR, NOW()), "
             "('fresh', 0, NULL, DATE_SUB(NOW(), INTERVAL 365 DAY) + INTERVAL 1 HOUR), "
             "('stale', 0, NULL, DATE_SUB(NOW(), INTERVAL 365 DAY) - INTERVAL 1 HOUR)");

    cr_assert_not_null(realpath(th_build(), abs));
    cr_assert_neq(asprintf(&text, "database:\n  url: \"%s\"\nhistory:\n  path: hist.db\n"
                           "plugin_dir: %s/plugins\nsteps:\n  - plugin: leases\n"
                           "  - plugin: followups\n", r->url, abs), -1);
    r->yaml = th_path(th_tmpdir(), "tz.yaml");
    th_write(r->yaml, text);
    free(text);
    cr_assert_eq(config_load(r->yaml, &r->cfg, err, sizeof err), 0, "%s", err);
    cr_assert_eq(pipeline_build(r->cfg, &r->p, err, sizeof err), 0, "%s", err);
}

static void tz_down(tz_rig *r)
{
    pipeline_free(r->p);
    config_free(r->cfg);
    db_close(r->bot);
    db_close(r->rec);
    free(r->url);
    free(r->yaml);
    th_server_destroy(&r->srv);
}

static json_t *tz_run(tz_rig *r)
{
    json_t *res = NULL;
    run_request req = { .trigger = "startup" };
    supervise_run(r->p, r->cfg, &r->rec, NULL, &req, &res);
    cr_assert_str_eq(json_string_value(json_object_get(res, "status")), "success");
    return res;
}

static int64_t num(json_t *res, const char *key)
{
    return json_integer_value(json_object_get(json_object_get(res, "results"), key));
}

static void assert_correct(tz_rig *r, json_t *res, const char *zone)
{
    cr_assert_str_eq(json_string_value(json_object_get(res, "referenceTimeZone")), zone);
    cr_assert_eq(num(res, "leasesRepaired"), 1, "only the expired lease");
    cr_assert_eq(num(res, "jobsRequeued"), 1);
    cr_assert_eq(th_count(r->bot, "SELECT COUNT(*) FROM processing_jobs WHERE id = 1 AND "
                          "status = 'processing' AND locked_by = 'w-live'"), 1,
                 "the live lease is its worker's still");
    cr_assert_eq(th_count(r->bot, "SELECT COUNT(*) FROM processing_jobs WHERE id = 2 AND "
                          "status = 'retry' AND locked_by IS NULL"), 1);
    cr_assert_eq(num(res, "cooldownsCleared"), 1, "only the ended cooldown");
    cr_assert_eq(th_count(r->bot, "SELECT COUNT(*) FROM user_sessions WHERE user_id = 'future' "
                          "AND cooldown_until IS NOT NULL"), 1);
    /* ended (reset) and fresh (364 days 23 h idle) are candidates; stale is not. */
    cr_assert_eq(num(res, "followUpCandidates"), 2, "T - 365 days in the bot's zone");
    /* referenceTime is the database's own text: the bot's NOW(), to a second or two. */
    char sql[160];
    snprintf(sql, sizeof sql, "SELECT ABS(TIMESTAMPDIFF(SECOND, NOW(), '%s'))",
             json_string_value(json_object_get(res, "referenceTime")));
    cr_assert_leq(th_count(r->bot, sql), 5, "referenceTime %s is the bot's clock",
                  json_string_value(json_object_get(res, "referenceTime")));
}

Test(timezone, server_behind_utc_takes_no_live_lease, .timeout = 60)
{
    tz_rig r;
    tz_up(&r, "-05:00", NULL);
    json_t *res = tz_run(&r);
    assert_correct(&r, res, "-05:00");
    json_decref(res);
    tz_down(&r);
}

Test(timezone, server_ahead_of_utc_repairs_expired_leases, .timeout = 60)
{
    tz_rig r;
    tz_up(&r, "+03:00", "server");
    json_t *res = tz_run(&r);
    assert_correct(&r, res, "+03:00");
    json_decref(res);
    tz_down(&r);
}

/*
 * database.time_zone set to a zone the bot does not write in: T is in that
 * zone, and docs/configuration.md ("Time zone") says what follows. Behind UTC, live leases look
 * expired; ahead of it, expired ones look live.
 */
Test(timezone, explicit_utc_on_a_server_behind_utc_misjudges_as_documented, .timeout = 60)
{
    tz_rig r;
    tz_up(&r, "-05:00", "+00:00");
    json_t *res = tz_run(&r);
    cr_assert_str_eq(json_string_value(json_object_get(res, "referenceTimeZone")), "+00:00");
    cr_assert_eq(num(res, "leasesRepaired"), 2, "T is 5 h ahead of the bot's text");
    cr_assert_eq(num(res, "cooldownsCleared"), 2);
    json_decref(res);
    tz_down(&r);
}

Test(timezone, explicit_utc_on_a_server_ahead_of_utc_misjudges_as_documented, .timeout = 60)
{
    tz_rig r;
    tz_up(&r, "+03:00", "+00:00");
    json_t *res = tz_run(&r);
    cr_assert_eq(num(res, "leasesRepaired"), 0, "T is 3 h behind the bot's text");
    cr_assert_eq(num(res, "cooldownsCleared"), 0);
    json_decref(res);
    tz_down(&r);
}

/* The lock row is UTC whatever the session's zone: two zones agree on it. */
Test(timezone, lock_is_utc_whatever_the_session_zone, .timeout = 60)
{
    tz_rig r;
    tz_up(&r, "-05:00", NULL);
    char err[1024];
    db *utc = open_url(r.url, "+00:00", err, sizeof err);
    cr_assert_not_null(utc, "%s", err);
    cr_assert_eq(lock_try(r.rec, LOCK_NAME, "a", 60000, NULL, err, sizeof err), 1, "%s", err);
    /* From a session 5 h apart, the lease still runs: refused. */
    cr_assert_eq(lock_try(utc, LOCK_NAME, "b", 60000, NULL, err, sizeof err), 0, "%s", err);
    cr_assert_eq(th_count(r.bot, "SELECT ABS(TIMESTAMPDIFF(SECOND, locked_at, UTC_TIMESTAMP())) "
                          "FROM reconciler_locks"), 0, "locked_at is UTC");
    db_close(utc);
    tz_down(&r);
}

Test(timezone, a_zone_the_server_lacks_is_named, .timeout = 60)
{
    char err[1024];
    th_db t;
    th_db_create(DB_MYSQL, &t);
    db_url u;
    db *d = NULL;
    cr_assert_eq(db_url_parse(t.url, NULL, &u, err, sizeof err), 0, "%s", err);
    db_options o = { .password = t.password, .time_zone = "Mars/Olympus_Mons" };
    cr_assert_eq(db_open(&u, &o, &d, err, sizeof err), DB_ERROR);
    cr_assert(strstr(err, "Mars/Olympus_Mons") && strstr(err, "mariadb-tzinfo-to-sql"), "%s", err);
    o.time_zone = "+02:30";
    cr_assert_eq(db_open(&u, &o, &d, err, sizeof err), DB_OK, "%s", err);
    db_clock c;
    cr_assert_eq(db_now(d, &c), 0, "%s", db_errmsg(d));
    cr_assert_eq(c.offset_s, 2 * 3600 + 1800);
    cr_assert_str_eq(c.zone, "+02:30");
    db_close(d);
    o.time_zone = "x'; DROP TABLE y; --";
    cr_assert_eq(db_open(&u, &o, &d, err, sizeof err), DB_ERROR, "quotes never reach SET");
    db_url_free(&u);
    th_db_destroy(&t);
}

Test(timezone, sqlite_offsets_and_no_names)
{
    char err[1024], *url = NULL;
    cr_assert_neq(asprintf(&url, "sqlite:%s/tz.db", th_tmpdir()), -1);
    db *d = open_url(url, "-03:30", err, sizeof err);
    cr_assert_not_null(d, "%s", err);
    db_clock c, utc;
    cr_assert_eq(db_now(d, &c), 0, "%s", db_errmsg(d));
    cr_assert_eq(c.offset_s, -(3 * 3600 + 1800));
    cr_assert_str_eq(c.zone, "-03:30");
    db_close(d);
    d = open_url(url, NULL, err, sizeof err);
    cr_assert_eq(db_now(d, &utc), 0);
    cr_assert_eq(utc.offset_s, 0, "SQLite's 'now' is UTC");
    db_close(d);
    cr_assert_null(open_url(url, "Europe/Berlin", err, sizeof err));
    cr_assert(strstr(err, "SQLite knows no named zones"), "%s", err);
    free(url);
}

Test(timezone, offsets_parse_on_both_sides_of_the_bounds)
{
    int off;
    cr_assert_eq(db_parse_offset("+14:00", &off), 0);
    cr_assert_eq(off, 14 * 3600);
    cr_assert_eq(db_parse_offset("+14:01", &off), -1);
    cr_assert_eq(db_parse_offset("-12:59", &off), 0);
    cr_assert_eq(off, -(12 * 3600 + 59 * 60));
    cr_assert_eq(db_parse_offset("+5:30", &off), 0);
    cr_assert_eq(off, 5 * 3600 + 1800);
    cr_assert_eq(db_parse_offset("+05:60", &off), -1);
    cr_assert_eq(db_parse_offset("05:00", &off), -1);
    cr_assert_eq(db_parse_offset("+05:0", &off), -1);
    cr_assert_eq(db_parse_offset("+105:00", &off), -1);
    char text[8];
    db_offset_text(-(3 * 3600 + 1800), text);
    cr_assert_str_eq(text, "-03:30");
    db_offset_text(0, text);
    cr_assert_str_eq(text, "+00:00");
}

/* database.time_zone in the pipeline file reaches the session: T is written in it. */
DB_TEST(timezone, pipeline_key_sets_the_session_zone, .timeout = 30)
{
    th_db t;
    char *text = NULL, abs[4096], *out = NULL, *err = NULL, *pw = NULL;
    th_db_create(kind, &t);
    th_db_migrate(&t);
    cr_assert_not_null(realpath(th_build(), abs));
    cr_assert_neq(asprintf(&text, "database:\n  url: \"%s\"\n  time_zone: '+02:30'\n"
                           "history:\n  path: hist.db\nplugin_dir: %s/tests/plugins\n"
                           "steps:\n  - plugin: fixture\n", t.url, abs), -1);
    char *yaml = th_path(th_tmpdir(), "tzkey.yaml");
    th_write(yaml, text);
    if (t.password)
        cr_assert_neq(asprintf(&pw, "RECONCILER_DB_PASSWORD=%s", t.password), -1);
    const char *args[] = { "run", "--once", "--json", "-c", yaml, NULL };
    const char *env[] = { pw, NULL };
    cr_assert_eq(th_run_cli(args, env, &out, &err), 0, "%s", err);
    json_t *res = json_loads(out, 0, NULL);
    cr_assert_not_null(res, "%s", out);
    cr_assert_str_eq(json_string_value(json_object_get(res, "referenceTimeZone")), "+02:30");
    /* referenceTime is 2 h 30 min ahead of UTC, to a few seconds. */
    int64_t ref, utc_now = (int64_t)time(NULL);
    cr_assert_eq(db_parse_time(json_string_value(json_object_get(res, "referenceTime")), &ref), 0);
    cr_assert_leq(llabs((long long)(ref - 9000 - utc_now)), 5, "referenceTime %s",
                  json_string_value(json_object_get(res, "referenceTime")));
    json_decref(res);
    free(out);
    free(err);
    free(pw);
    free(yaml);
    free(text);
    th_db_destroy(&t);
}
