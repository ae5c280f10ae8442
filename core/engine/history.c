/* SPDX-License-Identifier: MIT */
/* history.c - see history.h. */
#include "engine/history.h"
#include "engine/page_memo.h"
#include "db/db.h"
#include "base/json.h"
#include "base/log.h"
#include "base/strbuf.h"
#include "base/util.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdint.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/*
 * One connection, shared by the threads that use this handle (the API's HTTP
 * threads share one): mu serialises them. The last error is the calling
 * thread's own, so that one thread's failure is never read as another's.
 */
/*
 * The run-id floor of one history file, shared by the handles this process
 * has on it (history_share_ids): the highest run id seen or handed out, so
 * that an id handed out while the store could not be written is never given
 * again, and a later recorded run starts above it. A handle's, not the
 * process's: two services in one process, on two files, each have theirs.
 */
typedef struct id_floor {
    pthread_mutex_t mu;
    atomic_int refs;
    int64_t floor;          /* highest id seen or handed out */
    int64_t unrecorded_max; /* highest id handed out without a row, or 0 */
} id_floor;

struct history {
    pthread_mutex_t mu;
    id_floor *ids;   /* never NULL; shared with history_share_ids */
    db *conn;
    char *path;
    int64_t keep_runs;
    int read_only;
    int has_jobs; /* runs has the job and scheduled_for columns */
    int counted; /* the file keeps its runs' count (run_count): pages need no COUNT(*) */
    int wal_pending; /* a write failed: the WAL is to be checkpointed and truncated */
    page_memo *pages; /* the last pages read, while the store is unchanged (page_memo.h) */
};

static _Thread_local char tl_err[512];

/*
 * Process-wide, whatever the handle (they are the process's /metrics and
 * /readyz): the failed writes and the last one's message.
 */
static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static atomic_uint_fast64_t g_write_errors;
static char g_last_error[512];    /* "" while the last write succeeded */
static int64_t g_error_since_ms;

static id_floor *ids_new(void)
{
    id_floor *f = xcalloc(1, sizeof *f);
    pthread_mutex_init(&f->mu, NULL);
    atomic_init(&f->refs, 1);
    return f;
}

static void ids_release(id_floor *f)
{
    if (!f || atomic_fetch_sub(&f->refs, 1) != 1)
        return;
    pthread_mutex_destroy(&f->mu);
    free(f);
}

static void note_id(history *h, int64_t id)
{
    pthread_mutex_lock(&h->ids->mu);
    if (id > h->ids->floor)
        h->ids->floor = id;
    pthread_mutex_unlock(&h->ids->mu);
}

/* Every write ends here: counted and remembered for /metrics and /readyz. */
static int wrote(int rc)
{
    pthread_mutex_lock(&g_mu);
    if (rc != 0) {
        atomic_fetch_add(&g_write_errors, 1);
        if (!g_last_error[0])
            g_error_since_ms = util_wall_ms();
        snprintf(g_last_error, sizeof g_last_error, "%s", tl_err);
    } else {
        g_last_error[0] = '\0';
        g_error_since_ms = 0;
    }
    pthread_mutex_unlock(&g_mu);
    return rc;
}

/*
 * Who recorded a run: "PID:START", START being the process's start time in
 * clock ticks since boot (/proc/PID/stat field 22), so that a pid reused by
 * another process is not taken for the one that recorded the run.
 */
static int proc_start(long pid, unsigned long long *start)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')'); /* the command name may hold spaces and parentheses */
    if (!p)
        return -1;
    /* After ") ": field 3 (state) ... field 22 (starttime): skip 19 fields. */
    p += 2;
    for (int i = 0; i < 19 && p; i++) {
        p = strchr(p, ' ');
        if (p)
            p++;
    }
    return p && sscanf(p, "%llu", start) == 1 ? 0 : -1;
}

static void my_owner(char *out, size_t outlen)
{
    unsigned long long start = 0;
    proc_start((long)getpid(), &start);
    snprintf(out, outlen, "%ld:%llu", (long)getpid(), start);
}

/* Is the process that wrote owner still running? Unknown owners count as ended. */
static int owner_alive(const char *owner)
{
    long pid;
    unsigned long long start, now;
    if (!owner || sscanf(owner, "%ld:%llu", &pid, &start) != 2 || pid <= 0)
        return 0;
    if (kill((pid_t)pid, 0) != 0 && errno == ESRCH)
        return 0;
    return proc_start(pid, &now) == 0 && now == start;
}

static const char *const schema[] = {
    "CREATE TABLE IF NOT EXISTS runs ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " started_at TEXT NOT NULL,"
    " finished_at TEXT,"
    " trigger TEXT NOT NULL,"
    " dry_run INTEGER NOT NULL DEFAULT 0,"
    " status TEXT NOT NULL,"
    " duration_ms INTEGER,"
    " result TEXT,"
    " owner TEXT)",
    "CREATE TABLE IF NOT EXISTS run_steps ("
    " run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,"
    " seq INTEGER NOT NULL,"
    " name TEXT NOT NULL,"
    " plugin TEXT NOT NULL,"
    " status TEXT NOT NULL,"
    " duration_ms INTEGER NOT NULL,"
    " error TEXT,"
    " PRIMARY KEY (run_id, seq))",
    /* Webhook deliveries (service/webhook.c), one row per target told about a run. Its own
     * table: a history file from before it simply gains it, and runs keep their shape. */
    "CREATE TABLE IF NOT EXISTS run_notifications ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,"
    " target TEXT NOT NULL,"
    " event TEXT NOT NULL,"
    " status TEXT NOT NULL,"
    " http_code INTEGER,"
    " attempts INTEGER NOT NULL,"
    " error TEXT,"
    " at TEXT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS run_notifications_run ON run_notifications (run_id)",
    /* The service's last figure snapshot (service/figures.c), one row, so that the console
     * shows figures at once after a restart, with their age. */
    "CREATE TABLE IF NOT EXISTS figures ("
    " id INTEGER PRIMARY KEY CHECK (id = 1),"
    " as_of_ms INTEGER NOT NULL,"
    " reference_time TEXT NOT NULL,"
    " body TEXT NOT NULL)",
};

static int set_err(history *h, const char *what)
{
    snprintf(tl_err, sizeof tl_err, "history %s: %s: %s", h->path, what, db_errmsg(h->conn));
    return -1;
}

static int ignore_row(void *user, const rc_value *cols, size_t n)
{
    (void)user; (void)cols; (void)n;
    return 0;
}

/* The highest id in the file (pruned ones included), so that fallback ids start above it. */
static void read_floor(history *h)
{
    int64_t seq = 0;
    if (db_query(h->conn, "SELECT MAX(COALESCE((SELECT seq FROM sqlite_sequence WHERE "
                 "name = 'runs'), 0), COALESCE((SELECT MAX(id) FROM runs), 0))", NULL, 0,
                 rc__count_row, &seq) == 0)
        note_id(h, seq);
}

/* A file made before runs had an owner gains the column. */
static int add_owner(history *h)
{
    if (db_query(h->conn, "SELECT owner FROM runs LIMIT 0", NULL, 0, ignore_row, NULL) == 0)
        return 0;
    return db_exec(h->conn, "ALTER TABLE runs ADD COLUMN owner TEXT", NULL, 0, NULL);
}

/* The name of user uid (or its number), and of its primary group, for messages. */
static void user_names(uid_t uid, char *user, size_t ulen, char *group, size_t glen)
{
    struct passwd pw, *pp = NULL;
    struct group gr, *gp = NULL;
    char buf[4096];
    gid_t gid = (gid_t)-1;
    if (getpwuid_r(uid, &pw, buf, sizeof buf, &pp) == 0 && pp) {
        snprintf(user, ulen, "%s", pp->pw_name);
        gid = pp->pw_gid;
    } else {
        snprintf(user, ulen, "%lu", (unsigned long)uid);
    }
    if (gid != (gid_t)-1 && getgrgid_r(gid, &gr, buf, sizeof buf, &gp) == 0 && gp)
        snprintf(group, glen, "%s", gp->gr_name);
    else if (gid != (gid_t)-1)
        snprintf(group, glen, "%lu", (unsigned long)gid);
    else
        snprintf(group, glen, "%s", user);
}

/*
 * The usual cause of a store that cannot be written is a first run as root
 * before the service ran as its own user: say who owns it, who we are, and
 * the chown that fixes it.
 */
static void owner_hint(const char *what, const char *path, char *out, size_t outlen)
{
    struct stat st;
    char owner[64], ogroup[64], me[64], mygroup[64];
    out[0] = '\0';
    if (stat(path, &st) != 0 || st.st_uid == geteuid())
        return;
    user_names(st.st_uid, owner, sizeof owner, ogroup, sizeof ogroup);
    user_names(geteuid(), me, sizeof me, mygroup, sizeof mygroup);
    snprintf(out, outlen, "; %s belongs to %s (mode %04o) and reconciler runs as %s: "
             "`chown %s:%s %s` fixes it", what, owner, (unsigned)(st.st_mode & 07777), me, me,
             mygroup, path);
}

/*
 * Jobs (issue 19): runs gain the job they belong to and the slot they were
 * scheduled for. Versioned with PRAGMA user_version, so that each step runs
 * once per file; rows from before keep NULL (the job they were: reconcile).
 */
#define HISTORY_VERSION_JOBS 1

static int add_job_columns(history *h)
{
    int64_t v = 0;
    if (db_query(h->conn, "PRAGMA user_version", NULL, 0, rc__count_row, &v) != 0)
        return -1;
    if (v >= HISTORY_VERSION_JOBS)
        return 0;
    /* A column already there (a run of the same build that died before the pragma) stays. */
    if (db_query(h->conn, "SELECT job FROM runs LIMIT 0", NULL, 0, ignore_row, NULL) != 0 &&
        db_exec(h->conn, "ALTER TABLE runs ADD COLUMN job TEXT", NULL, 0, NULL) != 0)
        return -1;
    if (db_query(h->conn, "SELECT scheduled_for FROM runs LIMIT 0", NULL, 0, ignore_row,
                 NULL) != 0 &&
        db_exec(h->conn, "ALTER TABLE runs ADD COLUMN scheduled_for TEXT", NULL, 0, NULL) != 0)
        return -1;
    if (db_exec(h->conn, "CREATE INDEX IF NOT EXISTS runs_job ON runs (job, id)", NULL, 0,
                NULL) != 0)
        return -1;
    return db_exec(h->conn, "PRAGMA user_version = 1", NULL, 0, NULL);
}

/*
 * The runs' count, kept by triggers in the file itself (whoever writes:
 * `run --once` beside the service too), so that a page of the history
 * costs the same at a million runs as at ten: COUNT(*) read every run.
 * Made in one write transaction with its first value, so that no run
 * written meanwhile by another process is missed. A file that cannot take
 * it now (locked, full) opens all the same: its pages count, as before.
 */
static int has_count(history *h)
{
    int64_t n = 0;
    return db_query(h->conn, "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND "
                    "name = 'run_count'", NULL, 0, rc__count_row, &n) == 0 && n > 0;
}

static void add_count(history *h)
{
    static const char script[] =
        "BEGIN IMMEDIATE;"
        "CREATE TABLE IF NOT EXISTS run_count (id INTEGER PRIMARY KEY CHECK (id = 1),"
        " n INTEGER NOT NULL);"
        "INSERT OR IGNORE INTO run_count (id, n) SELECT 1, COUNT(*) FROM runs;"
        "CREATE TRIGGER IF NOT EXISTS runs_counted_in AFTER INSERT ON runs"
        " BEGIN UPDATE run_count SET n = n + 1 WHERE id = 1; END;"
        "CREATE TRIGGER IF NOT EXISTS runs_counted_out AFTER DELETE ON runs"
        " BEGIN UPDATE run_count SET n = n - 1 WHERE id = 1; END;"
        "COMMIT;";
    if (has_count(h)) {
        h->counted = 1;
    } else if (db_exec_script(h->conn, script) == 0) {
        h->counted = 1;
    } else {
        log_warn("history %s: cannot keep the runs' count yet (%s); pages count them",
                 h->path, db_errmsg(h->conn));
        (void)db_exec(h->conn, "ROLLBACK", NULL, 0, NULL);
    }
}

/*
 * Can the store (or, while it does not exist, its folder) be written? SQLite
 * alone would say "unable to open database file" on a read-only filesystem.
 */
static int writable(const char *path, char *err, size_t errlen)
{
    char *copy = xstrdup(path), *slash = strrchr(copy, '/');
    const char *dir = slash ? (slash == copy ? "/" : (*slash = '\0', copy)) : ".";
    char hint[1024];
    int exists = access(path, F_OK) == 0, ok = 0;
    if (exists && access(path, W_OK) != 0) {
        int e = errno, readable = access(path, R_OK) == 0;
        owner_hint("the file", path, hint, sizeof hint);
        snprintf(err, errlen, "history %s: the file cannot be written: %s%s%s", path,
                 strerror(e), hint, readable ? " (`reconciler history` can still read it)" : "");
    } else if (access(dir, W_OK) != 0) { /* WAL mode keeps PATH-wal and PATH-shm beside it */
        int e = errno;
        owner_hint("the folder", dir, hint, sizeof hint);
        snprintf(err, errlen, "history %s: its folder %s cannot be written: %s%s%s", path, dir,
                 strerror(e), hint,
                 exists && access(path, R_OK) == 0
                     ? " (`reconciler history` can still read the file)" : "");
    } else {
        ok = 1;
    }
    free(copy);
    return ok;
}

/*
 * Create a missing store 0600 (it holds the bot's figures and errors; SQLite
 * would create it 0644 under the usual umask). Root creating it in a folder
 * that belongs to another user (the service's) gives it to that user, so a
 * first `run --once` as root does not lock the service out of its own store.
 * SQLite gives PATH-wal and PATH-shm the store's owner and mode.
 */
static int create_private(const char *path, char *err, size_t errlen)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        if (errno == EEXIST)
            return 0;
        snprintf(err, errlen, "history %s: cannot create the file: %s", path, strerror(errno));
        return -1;
    }
    char *copy = xstrdup(path), *slash = strrchr(copy, '/');
    const char *dir = slash ? (slash == copy ? "/" : (*slash = '\0', copy)) : ".";
    struct stat st;
    int rc = 0;
    if (geteuid() == 0 && stat(dir, &st) == 0 && st.st_uid != 0 &&
        fchown(fd, st.st_uid, st.st_gid) != 0) {
        snprintf(err, errlen, "history %s: cannot give the file to its folder's owner (uid "
                 "%lu): %s", path, (unsigned long)st.st_uid, strerror(errno));
        rc = -1;
    }
    close(fd);
    free(copy);
    return rc;
}

int history_open_read(const char *path, history **out, char *err, size_t errlen)
{
    history *h = xcalloc(1, sizeof *h);
    db_url u = { .kind = DB_SQLITE, .path = (char *)path };
    db_options o = { .read_only = 1 };
    *out = NULL;
    pthread_mutex_init(&h->mu, NULL);
    h->pages = page_memo_new();
    h->ids = ids_new();
    h->path = xstrdup(path);
    h->read_only = 1;
    if (db_open(&u, &o, &h->conn, err, errlen) != DB_OK) {
        history_close(h);
        return -1;
    }
    h->has_jobs = db_query(h->conn, "SELECT job FROM runs LIMIT 0", NULL, 0, ignore_row,
                           NULL) == 0;
    h->counted = has_count(h);
    *out = h;
    return 0;
}

int history_open(const char *path, int64_t keep_runs, int busy_ms, history **out, char *err,
                 size_t errlen)
{
    history *h = xcalloc(1, sizeof *h);
    db_url u = { .kind = DB_SQLITE, .path = (char *)path };
    db_options o = { .busy_timeout_ms = busy_ms };
    *out = NULL;

    pthread_mutex_init(&h->mu, NULL);
    h->pages = page_memo_new();
    h->ids = ids_new();
    h->path = xstrdup(path);
    h->keep_runs = keep_runs > 0 ? keep_runs : 1000;
    if (util_mkdir_parent(path) != 0) {
        snprintf(err, errlen, "history %s: cannot create its folder: %s", path, strerror(errno));
        goto fail;
    }
    if (!writable(path, err, errlen) || create_private(path, err, errlen) != 0)
        goto fail;
    if (db_open(&u, &o, &h->conn, err, errlen) != DB_OK)
        goto fail;
    /* WAL: readers (the history command, the HTTP API) never block a run. */
    if (db_query(h->conn, "PRAGMA journal_mode=WAL", NULL, 0, ignore_row, NULL) != 0) {
        set_err(h, "journal mode");
        goto fail_msg;
    }
    for (size_t i = 0; i < sizeof schema / sizeof schema[0]; i++) {
        if (db_exec(h->conn, schema[i], NULL, 0, NULL) != 0) {
            set_err(h, "create tables");
            goto fail_msg;
        }
    }
    if (add_owner(h) != 0) {
        set_err(h, "add the owner column");
        goto fail_msg;
    }
    if (add_job_columns(h) != 0) {
        set_err(h, "add the job columns");
        goto fail_msg;
    }
    h->has_jobs = 1;
    add_count(h);
    read_floor(h);
    *out = h;
    return 0;

fail_msg:
    snprintf(err, errlen, "%s", tl_err);
fail:
    history_close(h);
    return -1;
}

void history_close(history *h)
{
    if (!h)
        return;
    db_close(h->conn);
    page_memo_free(h->pages);
    ids_release(h->ids);
    pthread_mutex_destroy(&h->mu);
    free(h->path);
    free(h);
}

void history_share_ids(history *h, history *with)
{
    pthread_mutex_lock(&with->ids->mu);
    int64_t floor = with->ids->floor, unrecorded = with->ids->unrecorded_max;
    pthread_mutex_unlock(&with->ids->mu);
    atomic_fetch_add(&with->ids->refs, 1);
    id_floor *own = h->ids;
    h->ids = with->ids;
    note_id(h, floor > own->floor ? floor : own->floor);
    pthread_mutex_lock(&h->ids->mu);
    if (own->unrecorded_max > unrecorded)
        h->ids->unrecorded_max = own->unrecorded_max;
    pthread_mutex_unlock(&h->ids->mu);
    ids_release(own);
}

const char *history_error(const history *h)
{
    (void)h;
    return tl_err;
}

/* Above every id handed out without a row (NULL: the file's own next id). */
static rc_value id_above_unrecorded(history *h)
{
    pthread_mutex_lock(&h->ids->mu);
    int64_t above = h->ids->unrecorded_max ? h->ids->floor + 1 : 0;
    pthread_mutex_unlock(&h->ids->mu);
    return above ? rc_int(above) : rc_null();
}

static int locked_begin(history *h, const char *job, const char *scheduled_for,
                        const char *trigger, int dry_run, int64_t started_ms, int64_t *run_id)
{
    char ts[32], owner[64];
    util_iso_time(started_ms, ts, sizeof ts);
    my_owner(owner, sizeof owner);
    rc_value above = id_above_unrecorded(h);
    /* An explicit id larger than the file's sequence moves the sequence past it. */
    rc_value p[] = { above, above, rc_text(ts), rc_text(trigger), rc_int(dry_run ? 1 : 0),
                     rc_text(owner), job ? rc_text(job) : rc_null(),
                     scheduled_for ? rc_text(scheduled_for) : rc_null() };
    if (db_exec(h->conn, "INSERT INTO runs (id, started_at, trigger, dry_run, status, owner, "
                "job, scheduled_for) VALUES (CASE WHEN ? > COALESCE((SELECT seq FROM "
                "sqlite_sequence WHERE name = 'runs'), 0) THEN ? END, ?, ?, ?, 'running', ?, ?, "
                "?)", p, 8, NULL) != 0)
        return set_err(h, "record run start");
    if (db_query(h->conn, "SELECT last_insert_rowid()", NULL, 0, rc__count_row, run_id) != 0)
        return set_err(h, "read run id");
    note_id(h, *run_id);
    return 0;
}

static int locked_started(history *h, int64_t run_id, int64_t started_ms)
{
    char ts[32];
    util_iso_time(started_ms, ts, sizeof ts);
    rc_value p[] = { rc_text(ts), rc_int(run_id) };
    return db_exec(h->conn, "UPDATE runs SET started_at = ? WHERE id = ?", p, 2, NULL) == 0
               ? 0 : set_err(h, "record run start");
}

static int insert_steps(history *h, int64_t run_id, const json_t *steps)
{
    size_t i;
    json_t *s;
    json_array_foreach(steps, i, s) {
        const char *error = json_string_value(json_object_get(s, "error"));
        rc_value p[] = {
            rc_int(run_id), rc_int((int64_t)i),
            rc_text(json_string_value(json_object_get(s, "name"))),
            rc_text(json_string_value(json_object_get(s, "plugin"))),
            rc_text(json_string_value(json_object_get(s, "status"))),
            rc_int(json_integer_value(json_object_get(s, "durationMs"))),
            error ? rc_text(error) : rc_null(),
        };
        if (!p[2].s || !p[3].s || !p[4].s) {
            snprintf(tl_err, sizeof tl_err, "history: step %zu lacks name, plugin or status", i);
            return -1;
        }
        if (db_exec(h->conn, "INSERT INTO run_steps (run_id, seq, name, plugin, status, "
                    "duration_ms, error) VALUES (?, ?, ?, ?, ?, ?, ?)", p, 7, NULL) != 0)
            return set_err(h, "record step");
    }
    return 0;
}

static int insert_whole(history *h, int64_t run_id, const char *finished, const char *status,
                        const char *text, const json_t *result)
{
    char owner[64];
    const char *started = json_string_value(json_object_get(result, "timestamp"));
    const char *trigger = json_string_value(json_object_get(result, "trigger"));
    my_owner(owner, sizeof owner);
    const char *job = json_string_value(json_object_get(result, "job"));
    const char *slot = json_string_value(json_object_get(result, "scheduledFor"));
    rc_value p[] = { rc_int(run_id), rc_text(started ? started : finished),
                     rc_text(finished), rc_text(trigger ? trigger : "unknown"),
                     rc_int(json_is_true(json_object_get(result, "dryRun"))), rc_text(status),
                     rc_int(json_integer_value(json_object_get(result, "durationMs"))),
                     rc_text(text), rc_text(owner), job ? rc_text(job) : rc_null(),
                     slot ? rc_text(slot) : rc_null() };
    if (db_exec(h->conn, "INSERT INTO runs (id, started_at, finished_at, trigger, dry_run, "
                "status, duration_ms, result, owner, job, scheduled_for) VALUES (?, ?, ?, ?, ?, "
                "?, ?, ?, ?, ?, ?)", p, 11, NULL) != 0)
        return set_err(h, "record run");
    return 0;
}

static int locked_finish(history *h, int64_t run_id, int64_t finished_ms, const json_t *result,
                         int64_t all_keep_runs, int64_t keep_runs)
{
    char ts[32];
    char *text = util_json_dump(result, 0);
    const char *status = json_string_value(json_object_get(result, "status"));
    int rc = -1;

    util_iso_time(finished_ms, ts, sizeof ts);
    if (!text || !status) {
        snprintf(tl_err, sizeof tl_err, "history: result has no status");
        goto out;
    }
    if (db_begin(h->conn) != 0) {
        set_err(h, "begin");
        goto out;
    }
    const char *job = json_string_value(json_object_get(result, "job"));
    const char *slot = json_string_value(json_object_get(result, "scheduledFor"));
    rc_value p[] = { rc_text(ts), rc_text(status),
                     rc_int(json_integer_value(json_object_get(result, "durationMs"))),
                     rc_text(text), job ? rc_text(job) : rc_null(),
                     slot ? rc_text(slot) : rc_null(), rc_int(run_id) };
    int64_t changed = 0;
    if (db_exec(h->conn, "UPDATE runs SET finished_at = ?, status = ?, duration_ms = ?, "
                "result = ?, job = COALESCE(?, job), scheduled_for = COALESCE(?, scheduled_for) "
                "WHERE id = ?", p, 7, &changed) != 0) {
        set_err(h, "record run");
        goto rollback;
    }
    /* Its start could not be recorded (the id was handed out without a row): the whole row now. */
    if (changed == 0 && insert_whole(h, run_id, ts, status, text, result) != 0)
        goto rollback;
    if (insert_steps(h, run_id, json_object_get(result, "steps")) != 0)
        goto rollback;
    /* Prune: keep the newest keep_runs; steps go with their run (cascade). */
    rc_value keep[] = { rc_int(all_keep_runs > 0 ? all_keep_runs : h->keep_runs) };
    if (db_exec(h->conn, "DELETE FROM runs WHERE id <= (SELECT id FROM runs ORDER BY id DESC "
                "LIMIT 1 OFFSET ?)", keep, 1, NULL) != 0) {
        set_err(h, "prune");
        goto rollback;
    }
    /* A job's own keep_runs: its runs beyond it go, the other jobs' stay. */
    rc_value keep_job[] = { job ? rc_text(job) : rc_null(), job ? rc_text(job) : rc_null(),
                            rc_int(keep_runs) };
    if (job && keep_runs > 0 &&
        db_exec(h->conn, "DELETE FROM runs WHERE job = ? AND id <= (SELECT id FROM runs WHERE "
                "job = ? ORDER BY id DESC LIMIT 1 OFFSET ?)", keep_job, 3, NULL) != 0) {
        set_err(h, "prune the job's runs");
        goto rollback;
    }
    if (db_commit(h->conn) != 0) {
        set_err(h, "commit");
        goto rollback;
    }
    rc = 0;
    goto out;
rollback:
    db_rollback(h->conn);
out:
    free(text);
    return rc;
}

typedef struct list_state {
    json_t *runs;
    int paged;     /* history_page: rowsChanged too */
    int64_t total; /* every run in the store (the query's last column), -1: no row came */
} list_state;

static json_t *int_or_null(const rc_value *v)
{
    return v->type == RC_INT ? jx(json_integer(v->i)) : json_null();
}

static json_t *text_or_null(const rc_value *v)
{
    /* The file is ours, but a damaged one must not drop a run: repaired text. */
    return v->type == RC_TEXT ? jx_text(v->s) : json_null();
}

/*
 * A run's steps or notifications as the query built them (a JSON array in
 * text), or NULL when that text cannot be read (bytes that are not UTF-8 in
 * an error message): the caller reads those rows one by one then, repaired.
 */
static json_t *array_or_null(const rc_value *v)
{
    json_t *a = v->type == RC_TEXT ? json_loads(v->s, JSON_DECODE_ANY, NULL) : NULL;
    if (json_is_array(a))
        return a;
    json_decref(a);
    return NULL;
}

static int list_row(void *user, const rc_value *c, size_t n)
{
    list_state *st = user;
    if (n < 13)
        return 1;
    json_t *steps = array_or_null(&c[8]), *notes = array_or_null(&c[9]);
    json_t *run = jx(json_pack("{s:o, s:o, s:b, s:o, s:o, s:o, s:o, s:o}",
                            "runId", int_or_null(&c[0]), "trigger", text_or_null(&c[1]),
                            "dryRun", c[2].type == RC_INT && c[2].i != 0,
                            "status", text_or_null(&c[3]), "startedAt", text_or_null(&c[4]),
                            "finishedAt", text_or_null(&c[5]),
                            "durationMs", int_or_null(&c[6]),
                            "steps", steps ? steps : jx(json_null())));
    if (st->paged)
        json_object_set_new(run, "rowsChanged", int_or_null(&c[7]));
    json_object_set_new(run, "notifications", notes ? notes : json_null());
    if (c[10].type == RC_INT)
        st->total = c[10].i;
    /* Runs from before jobs were the one job there was. */
    json_object_set_new(run, "job", c[11].type == RC_TEXT ? jx_text(c[11].s)
                                                          : jx_text("reconcile"));
    json_object_set_new(run, "scheduledFor", text_or_null(&c[12]));
    /* tracing: the run's trace, for the console's link (only a traced run has one). */
    if (n > 13 && c[13].type == RC_TEXT)
        json_object_set_new(run, "traceId", jx_text(c[13].s));
    json_array_append_new(st->runs, run);
    return 0;
}

static int step_row(void *user, const rc_value *c, size_t n)
{
    json_t *steps = user;
    if (n < 5)
        return 1;
    json_array_append_new(steps, jx(json_pack("{s:o, s:o, s:o, s:o, s:o}",
                                           "name", text_or_null(&c[0]),
                                           "plugin", text_or_null(&c[1]),
                                           "status", text_or_null(&c[2]),
                                           "durationMs", int_or_null(&c[3]),
                                           "error", text_or_null(&c[4]))));
    return 0;
}

static int notification_row(void *user, const rc_value *c, size_t n)
{
    json_t *list = user;
    if (n < 6)
        return 1;
    json_array_append_new(list, jx(json_pack("{s:o, s:o, s:o, s:o, s:o, s:o}",
                                             "target", text_or_null(&c[0]),
                                             "event", text_or_null(&c[1]),
                                             "status", text_or_null(&c[2]),
                                             "httpCode", int_or_null(&c[3]),
                                             "attempts", int_or_null(&c[4]),
                                             "error", text_or_null(&c[5]))));
    return 0;
}

/* run's "notifications": [{target, event, status, httpCode, attempts, error}], oldest first. */
static int add_notifications(history *h, int64_t run_id, json_t *run)
{
    json_t *list = jx(json_array());
    rc_value id[] = { rc_int(run_id) };
    if (db_query(h->conn, "SELECT target, event, status, http_code, attempts, error FROM "
                 "run_notifications WHERE run_id = ? ORDER BY id", id, 1, notification_row,
                 list) != 0) {
        json_decref(list);
        return set_err(h, "list notifications");
    }
    json_object_set_new(run, "notifications", list);
    return 0;
}

/*
 * A page of runs in one query (a page of 1000 runs used to take 2001): each
 * run's steps and notifications come as JSON arrays built by SQLite, and
 * the count of all runs as the last column. Only a run whose arrays cannot
 * be read back (an error message that is not UTF-8) costs its own queries.
 */
/* The count of all runs, as an SQL expression: kept by the file, or counted (an older file read only). */
static const char *count_sql(const history *h)
{
    return h->counted ? "(SELECT n FROM run_count WHERE id = 1)" : "(SELECT COUNT(*) FROM runs)";
}

/* The runs f lets through: " AND ..." with 10 placeholders, and their values into p. */
static void filter_sql(const history *h, const history_filter *f, char *out, size_t n,
                       rc_value *p)
{
    const char *v[5] = { f->job, f->status, f->trigger, f->since, f->until };
    for (int i = 0; i < 5; i++)
        p[2 * i] = p[2 * i + 1] = v[i] ? rc_text(v[i]) : rc_null();
    snprintf(out, n, " AND (? IS NULL OR %s = ?) AND (? IS NULL OR r.status = ?) AND "
             "(? IS NULL OR r.trigger = ?) AND (? IS NULL OR r.started_at >= ?) AND "
             "(? IS NULL OR r.started_at < ?)",
             h->has_jobs ? "COALESCE(r.job, 'reconcile')" : "'reconcile'");
}

static int filtered(const history_filter *f)
{
    return f->job || f->status || f->trigger || f->since || f->until;
}

/* f: only the runs it lets through; then the count column is NULL (the caller counts). */
static json_t *locked_list(history *h, const history_filter *f, int64_t limit,
                           int64_t before_id, int paged, int64_t *total)
{
    list_state st = { jx(json_array()), paged, -1 };
    rc_value p[12];
    char sql[2560], where[400];
    p[0] = rc_int(before_id > 0 ? before_id : INT64_MAX);
    filter_sql(h, f, where, sizeof where, p + 1);
    p[11] = rc_int(limit);
    /* A file that `reconciler history` reads and no service upgraded has no job column. */
    const char *job_cols = h->has_jobs ? "r.job, r.scheduled_for" : "NULL, NULL";
    /* rowsChanged stays in the result JSON: no column, so no schema change. */
    snprintf(sql, sizeof sql, "SELECT r.id, r.trigger, r.dry_run, r.status, r.started_at, "
                 "r.finished_at, r.duration_ms, CASE WHEN json_valid(r.result) THEN "
                 "json_extract(r.result, '$.rowsChanged') END, "
                 "(SELECT json_group_array(json_object('name', name, 'plugin', plugin, "
                 "'status', status, 'durationMs', duration_ms, 'error', error)) FROM "
                 "(SELECT * FROM run_steps s WHERE s.run_id = r.id ORDER BY s.seq)), "
                 "(SELECT json_group_array(json_object('target', target, 'event', event, "
                 "'status', status, 'httpCode', http_code, 'attempts', attempts, 'error', "
                 "error)) FROM (SELECT * FROM run_notifications n WHERE n.run_id = r.id "
                 "ORDER BY n.id)), "
                 "%s, %s, CASE WHEN json_valid(r.result) THEN json_extract(r.result, "
                 "'$.traceId') END FROM runs r WHERE r.id < ?%s "
                 "ORDER BY r.id DESC LIMIT ?", filtered(f) ? "NULL" : count_sql(h), job_cols,
                 where);
    if (db_query(h->conn, sql, p, 12, list_row, &st) != 0) {
        set_err(h, "list runs");
        json_decref(st.runs);
        return NULL;
    }
    size_t i;
    json_t *run;
    json_array_foreach(st.runs, i, run) {
        rc_value id[] = { rc_int(json_integer_value(json_object_get(run, "runId"))) };
        if (json_is_null(json_object_get(run, "steps"))) {
            json_object_set_new(run, "steps", jx(json_array()));
            if (db_query(h->conn, "SELECT name, plugin, status, duration_ms, error FROM "
                         "run_steps WHERE run_id = ? ORDER BY seq", id, 1, step_row,
                         json_object_get(run, "steps")) != 0) {
                set_err(h, "list steps");
                json_decref(st.runs);
                return NULL;
            }
        }
        if (json_is_null(json_object_get(run, "notifications")) &&
            add_notifications(h, id[0].i, run) != 0) {
            json_decref(st.runs);
            return NULL;
        }
    }
    if (total)
        *total = st.total;
    return st.runs;
}

/*
 * A finished run's stored result. One bad value never makes the run
 * unreadable: a number too large for a double is kept as its text, and a
 * result that is not JSON at all gives way to the run's own columns; either
 * way the run says so in "salvaged".
 */
static int result_row(void *user, const rc_value *c, size_t n)
{
    json_t **out = user;
    size_t quoted = 0;
    if (n < 12 || c[0].type != RC_TEXT)
        return 1;
    *out = util_json_load_stored(c[0].s, &quoted);
    char note[128];
    if (*out && quoted) {
        snprintf(note, sizeof note, "%zu number%s out of range for a double, kept as text",
                 quoted, quoted == 1 ? "" : "s");
        json_object_set_new(*out, "salvaged", jx(json_string(note)));
    } else if (!json_is_object(*out)) {
        json_decref(*out);
        /* The columns after the result are list_row's (steps, notifications NULL). */
        list_state st = { jx(json_array()), 0, -1 };
        list_row(&st, c + 1, n - 1);
        *out = json_incref(json_array_get(st.runs, 0));
        json_decref(st.runs);
        if (*out)
            json_object_set_new(*out, "salvaged", jx(json_string(
                "its stored result is not readable JSON: only the run's own columns are shown")));
    }
    return 1;
}

static int locked_get(history *h, int64_t run_id, json_t **out)
{
    json_t *result = NULL;
    rc_value p[] = { rc_int(run_id) };
    *out = NULL;
    /* The columns list_row reads (for a result that is not JSON), after the result. */
    if (db_query(h->conn, h->has_jobs
                 ? "SELECT result, id, trigger, dry_run, status, started_at, finished_at, "
                   "duration_ms, NULL, NULL, NULL, NULL, job, scheduled_for FROM runs "
                   "WHERE id = ? AND result IS NOT NULL"
                 : "SELECT result, id, trigger, dry_run, status, started_at, finished_at, "
                   "duration_ms, NULL, NULL, NULL, NULL, NULL, NULL FROM runs "
                   "WHERE id = ? AND result IS NOT NULL",
                 p, 1, result_row, &result) != 0) {
        json_decref(result);
        return set_err(h, "read run");
    }
    if (!json_is_object(result)) {
        json_decref(result);
        return 0;
    }
    if (add_notifications(h, run_id, result) != 0) {
        json_decref(result);
        return -1;
    }
    *out = result;
    return 1;
}

static int locked_notified(history *h, int64_t run_id, const history_notification *n)
{
    char ts[32];
    util_iso_time(util_wall_ms(), ts, sizeof ts);
    rc_value p[] = { rc_int(run_id), rc_text(n->target), rc_text(n->event), rc_text(n->status),
                     n->http_code ? rc_int(n->http_code) : rc_null(), rc_int(n->attempts),
                     n->error ? rc_text(n->error) : rc_null(), rc_text(ts) };
    return db_exec(h->conn, "INSERT INTO run_notifications (run_id, target, event, status, "
                   "http_code, attempts, error, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", p, 8,
                   NULL) == 0 ? 0 : set_err(h, "record notification");
}

static int status_row(void *user, const rc_value *c, size_t n)
{
    char *out = user;
    if (n >= 1 && c[0].type == RC_TEXT)
        snprintf(out, HISTORY_STATUS_MAX, "%s", c[0].s);
    return 1;
}

static int locked_last_status(history *h, const char *job, int64_t before_id, char *out)
{
    /* Runs that ran: a skipped one did no work, a running one has no outcome yet. */
    rc_value p[] = { rc_int(before_id), rc_int(before_id), job ? rc_text(job) : rc_null(),
                     job ? rc_text(job) : rc_null() };
    out[0] = '\0';
    if (!h->has_jobs)
        p[2] = p[3] = rc_null();
    if (db_query(h->conn, "SELECT status FROM runs WHERE dry_run = 0 AND status IN "
                 "('success', 'partial', 'failed') AND (? = 0 OR id < ?) AND (? IS NULL OR "
                 "COALESCE(job, 'reconcile') = ?) ORDER BY id DESC LIMIT 1", p, 4, status_row,
                 out) != 0)
        return set_err(h, "read the last run's status");
    return out[0] ? 1 : 0;
}

/*
 * After a failed write (a full disk, say) the WAL keeps the space it grew
 * into, and SQLite only reuses it after a checkpoint. So: checkpoint into
 * the file and truncate the WAL to nothing, giving its space back. On a disk
 * that is still full the checkpoint fails too (the file cannot grow); it is
 * tried again before each later write until one succeeds, so the store
 * recovers by itself once space is freed. A write that failed because
 * another process held the file (busy, locked) grew nothing: no checkpoint
 * then, which would only wait on that process again and make a request that
 * must not wait (a manual run's POST) wait twice. Under h->mu.
 */
static void settle_wal(history *h, int failed)
{
    int64_t busy = 1, timeout_ms = 0;
    char sql[64];
    h->wal_pending |= failed && !db_retryable(h->conn);
    if (!h->wal_pending)
        return;
    /* Without waiting: another process holding the file must not make this
     * wait the busy timeout before the write itself does; the next try does. */
    if (db_query(h->conn, "PRAGMA busy_timeout", NULL, 0, rc__count_row, &timeout_ms) != 0)
        return;
    db_exec(h->conn, "PRAGMA busy_timeout = 0", NULL, 0, NULL);
    if (db_query(h->conn, "PRAGMA wal_checkpoint(TRUNCATE)", NULL, 0, rc__count_row, &busy) == 0
        && busy == 0)
        h->wal_pending = 0;
    snprintf(sql, sizeof sql, "PRAGMA busy_timeout = %lld", (long long)timeout_ms);
    db_exec(h->conn, sql, NULL, 0, NULL);
}

/* The public calls: each one under the handle's mutex. */

int history_begin(history *h, const char *trigger, int dry_run, int64_t started_ms,
                  int64_t *run_id)
{
    return history_begin_job(h, NULL, NULL, trigger, dry_run, started_ms, run_id);
}

int history_begin_job(history *h, const char *job, const char *scheduled_for,
                      const char *trigger, int dry_run, int64_t started_ms, int64_t *run_id)
{
    pthread_mutex_lock(&h->mu);
    settle_wal(h, 0);
    int rc = locked_begin(h, job, scheduled_for, trigger, dry_run, started_ms, run_id);
    settle_wal(h, rc != 0);
    pthread_mutex_unlock(&h->mu);
    return wrote(rc);
}

int history_started(history *h, int64_t run_id, int64_t started_ms)
{
    pthread_mutex_lock(&h->mu);
    settle_wal(h, 0);
    int rc = locked_started(h, run_id, started_ms);
    settle_wal(h, rc != 0);
    pthread_mutex_unlock(&h->mu);
    return wrote(rc);
}

int history_finish(history *h, int64_t run_id, int64_t finished_ms, const json_t *result)
{
    return history_finish_keep(h, run_id, finished_ms, result, 0, 0);
}

int history_finish_keep(history *h, int64_t run_id, int64_t finished_ms, const json_t *result,
                        int64_t keep_runs, int64_t job_keep_runs)
{
    pthread_mutex_lock(&h->mu);
    settle_wal(h, 0);
    int rc = locked_finish(h, run_id, finished_ms, result, keep_runs, job_keep_runs);
    settle_wal(h, rc != 0);
    pthread_mutex_unlock(&h->mu);
    return wrote(rc);
}

json_t *history_list(history *h, int64_t limit)
{
    return history_list_job(h, NULL, limit);
}

json_t *history_list_job(history *h, const char *job, int64_t limit)
{
    pthread_mutex_lock(&h->mu);
    history_filter f = { .job = job };
    json_t *runs = locked_list(h, &f, limit, 0, 0, NULL);
    pthread_mutex_unlock(&h->mu);
    return runs;
}

json_t *history_page(history *h, int64_t limit, int64_t before_id, int64_t *total)
{
    return history_page_job(h, NULL, limit, before_id, total);
}

json_t *history_page_job(history *h, const char *job, int64_t limit, int64_t before_id,
                         int64_t *total)
{
    history_filter f = { .job = job };
    return history_page_filter(h, &f, limit, before_id, total);
}

/* A page's identity: its limit, its before and each filter (absent and empty differ). */
static char *page_key(const history_filter *f, int64_t limit, int64_t before_id)
{
    const char *v[] = { f->job, f->status, f->trigger, f->since, f->until };
    strbuf sb = STRBUF_INIT;
    sb_printf(&sb, "%lld %lld", (long long)limit, (long long)before_id);
    for (size_t i = 0; i < sizeof v / sizeof *v; i++)
        sb_printf(&sb, "\x1f%c%s", v[i] ? '=' : '-', v[i] ? v[i] : "");
    return sb_take(&sb);
}

static int stamp_row(void *user, const rc_value *c, size_t n)
{
    page_stamp *s = user;
    if (n < 2 || c[0].type != RC_INT || c[1].type != RC_INT)
        return 1;
    s->own_changes = c[0].i;
    s->data_version = c[1].i;
    return 0;
}

/* What the store looks like now (page_stamp): 0, or -1 (then no memo is used). */
static int store_stamp(history *h, page_stamp *out)
{
    out->own_changes = out->data_version = -1;
    if (db_query(h->conn, "SELECT total_changes(), (SELECT data_version FROM "
                 "pragma_data_version)", NULL, 0, stamp_row, out) != 0)
        return -1;
    return out->data_version >= 0 ? 0 : -1;
}

json_t *history_page_filter(history *h, const history_filter *filter, int64_t limit,
                            int64_t before_id, int64_t *total)
{
    static const history_filter none = { 0 };
    const history_filter *f = filter ? filter : &none;
    pthread_mutex_lock(&h->mu);
    /*
     * The same page of an unchanged store is answered from the memo. The
     * stamp is read first: a write that lands while the page is read makes
     * the next stamp differ, never a stale page look current.
     */
    page_stamp stamp;
    char *key = page_key(f, limit, before_id);
    int stamped = store_stamp(h, &stamp) == 0;
    json_t *runs = NULL;
    if (stamped && page_memo_get(h->pages, key, &stamp, &runs, total)) {
        pthread_mutex_unlock(&h->mu);
        free(key);
        return runs;
    }
    int64_t counted = -1;
    runs = locked_list(h, f, limit, before_id, 1, &counted);
    *total = counted;
    /* An empty page has no row to carry the count, and a filtered page counts its own. */
    char sql[600], where[400];
    rc_value p[10];
    if (filtered(f)) {
        filter_sql(h, f, where, sizeof where, p);
        snprintf(sql, sizeof sql, "SELECT COUNT(*) FROM runs r WHERE 1%s", where);
    } else {
        snprintf(sql, sizeof sql, "SELECT %s", count_sql(h));
    }
    if (runs && counted < 0 && db_query(h->conn, sql, p, filtered(f) ? 10 : 0, rc__count_row,
                                        total) != 0) {
        set_err(h, "count runs");
        json_decref(runs);
        runs = NULL;
    }
    if (runs && stamped)
        page_memo_put(h->pages, key, &stamp, runs, *total);
    pthread_mutex_unlock(&h->mu);
    free(key);
    return runs;
}

int history_notified(history *h, int64_t run_id, const history_notification *n)
{
    pthread_mutex_lock(&h->mu);
    int rc = locked_notified(h, run_id, n);
    pthread_mutex_unlock(&h->mu);
    return wrote(rc);
}

int history_last_status(history *h, int64_t before_id, char out[HISTORY_STATUS_MAX])
{
    return history_last_status_job(h, NULL, before_id, out);
}

int history_last_status_job(history *h, const char *job, int64_t before_id,
                            char out[HISTORY_STATUS_MAX])
{
    pthread_mutex_lock(&h->mu);
    int rc = locked_last_status(h, job, before_id, out);
    pthread_mutex_unlock(&h->mu);
    return rc;
}

int history_get(history *h, int64_t run_id, json_t **out)
{
    pthread_mutex_lock(&h->mu);
    int rc = locked_get(h, run_id, out);
    pthread_mutex_unlock(&h->mu);
    return rc;
}

/* ------------------------------------------------ the figure snapshot */

static int locked_figures_save(history *h, int64_t as_of_ms, const char *reference_time,
                               const json_t *figures)
{
    char *body = util_json_dump(figures, 0);
    rc_value p[] = { rc_int(as_of_ms), rc_text(reference_time), rc_text(body ? body : "{}") };
    int rc = db_exec(h->conn, "INSERT OR REPLACE INTO figures (id, as_of_ms, reference_time, "
                     "body) VALUES (1, ?, ?, ?)", p, 3, NULL) == 0
                 ? 0 : set_err(h, "save the figures");
    free(body);
    return rc;
}

int history_figures_save(history *h, int64_t as_of_ms, const char *reference_time,
                         const json_t *figures)
{
    pthread_mutex_lock(&h->mu);
    int rc = locked_figures_save(h, as_of_ms, reference_time, figures);
    pthread_mutex_unlock(&h->mu);
    return wrote(rc);
}

typedef struct figures_row {
    int64_t *as_of_ms;
    char *reference_time;
    size_t reflen;
    json_t *body;
} figures_row;

static int read_figures_row(void *user, const rc_value *c, size_t n)
{
    figures_row *r = user;
    if (n < 3 || c[0].type != RC_INT || c[1].type != RC_TEXT || c[2].type != RC_TEXT)
        return 1;
    *r->as_of_ms = c[0].i;
    snprintf(r->reference_time, r->reflen, "%s", c[1].s);
    r->body = json_loads(c[2].s, 0, NULL);
    return 1;
}

json_t *history_figures_load(history *h, int64_t *as_of_ms, char *reference_time,
                             size_t reflen)
{
    figures_row r = { as_of_ms, reference_time, reflen, NULL };
    pthread_mutex_lock(&h->mu);
    if (db_query(h->conn, "SELECT as_of_ms, reference_time, body FROM figures WHERE id = 1",
                 NULL, 0, read_figures_row, &r) != 0)
        set_err(h, "read the figures");
    pthread_mutex_unlock(&h->mu);
    /* A damaged row is no snapshot: the first refresh writes a new one. */
    if (r.body && !json_is_object(r.body)) {
        json_decref(r.body);
        r.body = NULL;
    }
    return r.body;
}

/* ------------------------------------------------ runs left behind */

typedef struct left_row {
    int64_t id;
    char *owner;
} left_row;

typedef struct left_list {
    left_row *rows;
    size_t n, cap;
} left_list;

static int left_of(void *user, const rc_value *c, size_t n)
{
    left_list *l = user;
    if (n < 2 || c[0].type != RC_INT)
        return 0;
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 8;
        l->rows = xrealloc(l->rows, l->cap * sizeof *l->rows);
    }
    l->rows[l->n].id = c[0].i;
    l->rows[l->n].owner = c[1].type == RC_TEXT ? xstrdup(c[1].s) : NULL;
    l->n++;
    return 0;
}

static int locked_abandon(history *h, int64_t *closed)
{
    left_list l = { 0 };
    char me[64];
    int rc = 0;
    my_owner(me, sizeof me);
    *closed = 0;
    if (db_query(h->conn, "SELECT id, owner FROM runs WHERE status = 'running' ORDER BY id",
                 NULL, 0, left_of, &l) != 0) {
        free(l.rows);
        return set_err(h, "find runs left running");
    }
    for (size_t i = 0; i < l.n && rc == 0; i++) {
        if ((l.rows[i].owner && strcmp(l.rows[i].owner, me) == 0) || owner_alive(l.rows[i].owner))
            continue;
        long pid = l.rows[i].owner ? strtol(l.rows[i].owner, NULL, 10) : 0;
        char *why = pid > 0 ? xasprintf("abandoned: the process that made this run (pid %ld) "
                                        "ended before recording its end (killed, or the "
                                        "machine stopped)", pid)
                            : xstrdup("abandoned: the process that made this run ended before "
                                      "recording its end");
        json_t *r = jx(json_pack("{s:s, s:b, s:I, s:[s]}", "status", "abandoned", "success", 0,
                                 "runId", (json_int_t)l.rows[i].id, "errors", why));
        char *text = util_json_dump(r, 0);
        rc_value p[] = { rc_text(text), rc_int(l.rows[i].id) };
        /* Only while still running: the owner may have finished it just now. */
        int64_t changed = 0;
        if (db_exec(h->conn, "UPDATE runs SET status = 'abandoned', result = ? "
                    "WHERE id = ? AND status = 'running'", p, 2, &changed) != 0)
            rc = set_err(h, "record an abandoned run");
        else if (changed)
            log_warn("history %s: run %lld was left running by a process that ended (%s); "
                     "recorded as abandoned", h->path, (long long)l.rows[i].id,
                     l.rows[i].owner ? l.rows[i].owner : "owner unknown");
        *closed += changed;
        free(text);
        free(why);
        json_decref(r);
    }
    for (size_t i = 0; i < l.n; i++)
        free(l.rows[i].owner);
    free(l.rows);
    return rc;
}

int history_abandon(history *h, int64_t *closed)
{
    pthread_mutex_lock(&h->mu);
    int rc = locked_abandon(h, closed);
    pthread_mutex_unlock(&h->mu);
    return wrote(rc);
}

int64_t history_fallback_id(history *h)
{
    pthread_mutex_lock(&h->ids->mu);
    int64_t id = ++h->ids->floor;
    h->ids->unrecorded_max = id;
    pthread_mutex_unlock(&h->ids->mu);
    return id;
}

uint64_t history_write_errors(void)
{
    return atomic_load(&g_write_errors);
}

int history_write_failing(char *why, size_t whylen, int64_t *since_ms)
{
    pthread_mutex_lock(&g_mu);
    int failing = g_last_error[0] != '\0';
    snprintf(why, whylen, "%s", g_last_error);
    *since_ms = g_error_since_ms;
    pthread_mutex_unlock(&g_mu);
    return failing;
}
