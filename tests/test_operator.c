/*
 * test_operator.c - what an operator meets on an installed system: the
 * history store's owner and modes, the run lock as `run --once` and the
 * service report it. The real binary, real SQLite and MariaDB, real loopback
 * HTTP.
 */
#include "helpers.h"
#include "db/lock.h"
#include "th_http.h"
#include "th_svc.h"

#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define FIXTURE_STEP "  - plugin: fixture\n"

static mode_t mode_of(const char *path)
{
    struct stat st;
    cr_assert_eq(stat(path, &st), 0, "stat %s: %s", path, strerror(errno));
    return st.st_mode & 07777;
}

static uid_t owner_of(const char *path)
{
    struct stat st;
    cr_assert_eq(stat(path, &st), 0, "stat %s: %s", path, strerror(errno));
    return st.st_uid;
}

/* A pipeline whose history store is FOLDER/history.db (FOLDER not created here). */
static void setup_in_folder(svc *s, th_db *t, const char *folder)
{
    svc_setup(s, t, 1, "", "", FIXTURE_STEP);
    char *text = th_read(s->yaml), *p = strstr(text, s->hist), *edited = NULL;
    cr_assert_not_null(p);
    char *hist = th_path(folder, "history.db");
    cr_assert_neq(asprintf(&edited, "%.*s%s%s", (int)(p - text), text, hist,
                           p + strlen(s->hist)), -1);
    th_write(s->yaml, edited);
    free(s->hist);
    s->hist = hist;
    free(edited);
    free(text);
}

/* Every file reconciler creates is its own: the store 0600, its folder 0700. */
Test(operator, history_store_is_private, .timeout = 30)
{
    th_db t;
    svc s;
    char abs[PATH_MAX], *out = NULL, *err = NULL;
    migrated(DB_SQLITE, &t);
    cr_assert_not_null(realpath(th_tmpdir(), abs));
    char *folder = th_path(abs, "state");
    setup_in_folder(&s, &t, folder);
    int rc = run_once(&s, 1, &out, &err);
    cr_assert_eq(rc, 0, "exit %d: %s", rc, err);
    cr_assert_eq(mode_of(folder), 0700, "folder mode %04o", mode_of(folder));
    cr_assert_eq(mode_of(s.hist), 0600, "store mode %04o", mode_of(s.hist));
    char *wal = NULL;
    cr_assert_neq(asprintf(&wal, "%s-wal", s.hist), -1);
    if (access(wal, F_OK) == 0)
        cr_assert_eq(mode_of(wal), 0600, "wal mode %04o", mode_of(wal));
    free(wal);
    free(out);
    free(err);
    free(folder);
    svc_free(&s);
    th_db_destroy(&t);
}

/* Root's first `run --once` in the service's folder leaves the store to the service's user. */
Test(operator, root_creates_the_store_for_the_folder_owner, .timeout = 30)
{
    th_db t;
    svc s;
    char abs[PATH_MAX], *out = NULL, *err = NULL;
    if (geteuid() != 0)
        cr_skip_test("needs root");
    struct passwd *nobody = getpwnam("nobody");
    cr_assert_not_null(nobody);
    migrated(DB_SQLITE, &t);
    cr_assert_not_null(realpath(th_tmpdir(), abs));
    char *folder = th_path(abs, "svcstate");
    cr_assert_eq(mkdir(folder, 0700), 0);
    cr_assert_eq(chown(folder, nobody->pw_uid, nobody->pw_gid), 0);
    setup_in_folder(&s, &t, folder);
    int rc = run_once(&s, 1, &out, &err);
    cr_assert_eq(rc, 0, "exit %d: %s", rc, err);
    cr_assert_eq(owner_of(s.hist), nobody->pw_uid, "the store belongs to uid %u",
                 (unsigned)owner_of(s.hist));
    cr_assert_eq(mode_of(s.hist), 0600);
    free(out);
    free(err);
    free(folder);
    svc_free(&s);
    th_db_destroy(&t);
}

/*
 * A store that belongs to root, met by a process of another user (the
 * packaged service after a root `run --once` of an older version): exit 5,
 * naming the owner and the chown that fixes it.
 */
Test(operator, store_of_another_user_names_owner_and_fix, .timeout = 30)
{
    th_db t;
    svc s;
    char abs[PATH_MAX], *out = NULL, *err = NULL;
    if (geteuid() != 0)
        cr_skip_test("needs root");
    migrated(DB_SQLITE, &t);
    cr_assert_not_null(realpath(th_tmpdir(), abs));
    char *folder = th_path(abs, "rootstate");
    cr_assert_eq(mkdir(folder, 0755), 0);
    setup_in_folder(&s, &t, folder);
    cr_assert_eq(chmod(t.url + strlen("sqlite:"), 0666), 0);
    int rc = run_once(&s, 1, &out, &err);
    cr_assert_eq(rc, 0, "exit %d: %s", rc, err);
    free(out);
    free(err);

    /* The same run as nobody (setpriv): the bot's database is writable, the store is not. */
    char *bin = th_path(th_build(), "reconciler");
    const char *const args[] = { "--reuid=nobody", "--regid=nogroup", "--clear-groups", bin,
                                 "run", "--once", "-c", s.yaml, NULL };
    rc = th_run_prog("/usr/bin/setpriv", args, NULL, &out, &err);
    cr_assert_eq(rc, 5, "exit %d: %s", rc, err);
    char want[PATH_MAX + 64];
    snprintf(want, sizeof want, "`chown nobody:nogroup %s`", s.hist);
    cr_assert_not_null(strstr(err, "belongs to root"), "%s", err);
    cr_assert_not_null(strstr(err, "runs as nobody"), "%s", err);
    cr_assert_not_null(strstr(err, want), "%s", err);
    cr_assert_not_null(strstr(err, "mode 0600"), "%s", err);
    free(bin);
    free(out);
    free(err);
    free(folder);
    svc_free(&s);
    th_db_destroy(&t);
}
