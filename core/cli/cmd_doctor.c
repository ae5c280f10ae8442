/* SPDX-License-Identifier: MIT */
/*
 * cmd_doctor.c - `reconciler doctor`: what an installed system needs to run,
 * checked as the service's user would meet it. Each check ends in one line:
 * ok, warn or FAIL (or skip, when it cannot be made here), with a fix.
 *
 *   user        the service's user exists (--user, else the unit's User=, else
 *               "reconciler")
 *   store       the history store, its -wal/-shm and its folder: owned by, and
 *               writable for, that user; nothing readable by others
 *   secrets     database.password_file readable by that user and not by others;
 *               the unit's EnvironmentFile= not readable by others
 *   unit        systemd-analyze security --offline=true on the unit: exposure
 *   variables   every variable the pipeline file names (database.password_env,
 *               http.token_env, ...) is set in the unit's Environment= or
 *               EnvironmentFile=: the service's environment, not this shell's
 *   database    the pipeline file's database answers
 *   migrations  none pending (migrate --status)
 *   grants      MariaDB: SHOW GRANTS holds what the core's statements and the
 *               steps' recorded changes need; SQLite: the file is writable
 *   statements  every step's prepare() compiles its statements (validate --db):
 *               MariaDB refuses a statement on a table the user may not touch
 */
#include "cli/cli.h"
#include "db/connect.h"
#include "db/migrate.h"
#include "engine/pipeline.h"
#include "engine/supervisor.h"
#include "base/json.h"
#include "base/paths.h"
#include "base/strbuf.h"
#include "base/util.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <libgen.h>
#include <limits.h>
#include <pwd.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

typedef enum { CK_OK, CK_WARN, CK_FAIL, CK_SKIP } ck_status;
static const char *const ck_text[] = { "ok", "warn", "FAIL", "skip" };
static const char *const ck_json[] = { "ok", "warn", "fail", "skip" };

typedef struct doctor {
    int as_json;
    json_t *checks;
    int n_fail, n_warn;
    const char *user;       /* the service's user, by name */
    struct passwd pw;       /* valid when has_user */
    char pwbuf[4096];
    char group[64];         /* the name of its primary group */
    int has_user;
    gid_t groups[64];
    int n_groups;
} doctor;

/* One check's line: status, what was checked, what was found, and how to fix it (or NULL). */
static void say(doctor *dr, ck_status st, const char *check, const char *fix, const char *fmt,
                ...) __attribute__((format(printf, 5, 6)));
static void say(doctor *dr, ck_status st, const char *check, const char *fix, const char *fmt,
                ...)
{
    char detail[1536];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    dr->n_fail += st == CK_FAIL;
    dr->n_warn += st == CK_WARN;
    if (dr->as_json) {
        json_array_append_new(dr->checks,
                              jx(json_pack("{s:s, s:s, s:s, s:o}", "check", check, "status",
                                           ck_json[st], "detail", detail, "fix",
                                           fix ? jx_text(fix) : json_null())));
        return;
    }
    printf("%-4s  %-10s  %s%s%s\n", ck_text[st], check, detail, fix ? "; fix: " : "",
           fix ? fix : "");
}

/* ------------------------------------------------------------------ the user */

/* Whether the service's user may access st as want asks (R_OK|W_OK|X_OK bits). */
static int user_may(const doctor *dr, const struct stat *st, int want)
{
    mode_t m = st->st_mode;
    if (dr->pw.pw_uid == 0)
        return 1;
    int bits;
    if (st->st_uid == dr->pw.pw_uid) {
        bits = (m >> 6) & 7;
    } else {
        int member = 0;
        for (int i = 0; i < dr->n_groups; i++)
            member |= dr->groups[i] == st->st_gid;
        bits = member ? (m >> 3) & 7 : m & 7;
    }
    return (bits & want) == want;
}

static const char *owner_name(uid_t uid, char *buf, size_t n)
{
    struct passwd pw, *pp = NULL;
    char b[2048];
    if (getpwuid_r(uid, &pw, b, sizeof b, &pp) == 0 && pp)
        snprintf(buf, n, "%s", pp->pw_name);
    else
        snprintf(buf, n, "uid %u", (unsigned)uid);
    return buf;
}

static void check_user(doctor *dr)
{
    struct passwd *pp = NULL;
    char fix[256];
    if (getpwnam_r(dr->user, &dr->pw, dr->pwbuf, sizeof dr->pwbuf, &pp) != 0 || !pp) {
        snprintf(fix, sizeof fix, "name the service's user with --user NAME, or create "
                 "'%s' (the package does: adduser --system --group %s)", dr->user, dr->user);
        say(dr, CK_FAIL, "user", fix, "no user '%s' on this host: the files' owners and "
            "modes are checked for nobody", dr->user);
        return;
    }
    dr->has_user = 1;
    struct group gr, *gp = NULL;
    char grbuf[4096];
    if (getgrgid_r(dr->pw.pw_gid, &gr, grbuf, sizeof grbuf, &gp) == 0 && gp)
        snprintf(dr->group, sizeof dr->group, "%s", gp->gr_name);
    else
        snprintf(dr->group, sizeof dr->group, "%u", (unsigned)dr->pw.pw_gid);
    dr->n_groups = (int)(sizeof dr->groups / sizeof dr->groups[0]);
    if (getgrouplist(dr->pw.pw_name, dr->pw.pw_gid, dr->groups, &dr->n_groups) < 0)
        dr->n_groups = 0;
    say(dr, CK_OK, "user", NULL, "the service runs as %s (uid %u)", dr->user,
        (unsigned)dr->pw.pw_uid);
}

/* ------------------------------------------------------------------ files */

/* One file of the history store: the user reads and writes it; others read nothing. */
static void check_store_file(doctor *dr, const char *path, int must_exist)
{
    struct stat st;
    char fix[PATH_MAX * 2 + 128], who[64];
    if (stat(path, &st) != 0) {
        if (errno == ENOENT && !must_exist)
            return;
        if (errno == ENOENT) {
            say(dr, CK_OK, "store", NULL, "%s does not exist yet: the service creates it "
                "(mode 0600)", path);
            return;
        }
        say(dr, CK_FAIL, "store", "look at the folders above it", "%s: %s", path,
            strerror(errno));
        return;
    }
    unsigned mode = (unsigned)(st.st_mode & 07777);
    owner_name(st.st_uid, who, sizeof who);
    if (dr->has_user && !user_may(dr, &st, R_OK | W_OK)) {
        snprintf(fix, sizeof fix, "chown %s:%s %s", dr->pw.pw_name, dr->group, path);
        say(dr, CK_FAIL, "store", fix, "%s is owned by %s (mode %04o): the service's user %s "
            "cannot write it", path, who, mode, dr->pw.pw_name);
    } else if (st.st_mode & S_IROTH) {
        snprintf(fix, sizeof fix, "chmod 0600 %s", path);
        say(dr, CK_WARN, "store", fix, "%s is readable by every user (mode %04o, owner %s): "
            "it holds every run's results", path, mode, who);
    } else {
        say(dr, CK_OK, "store", NULL, "%s: owner %s, mode %04o", path, who, mode);
    }
}

/* The store's folder: the user creates files in it (the store, its -wal and -shm). */
static void check_store_dir(doctor *dr, const char *dir)
{
    struct stat st;
    char fix[PATH_MAX * 2 + 128], who[64];
    int found = stat(dir, &st) == 0;
    if (!found && errno == ENOENT) {
        /* The service makes a missing folder (0700), when it may write the nearest one
         * that exists above it. */
        char up[PATH_MAX];
        snprintf(up, sizeof up, "%s", dir);
        struct stat ust;
        int exists = 0;
        while (!exists && strcmp(up, "/") != 0 && strcmp(up, ".") != 0) {
            const char *parent = dirname(up); /* in up, or a constant "/" or "." */
            memmove(up, parent, strlen(parent) + 1);
            exists = stat(up, &ust) == 0;
        }
        if (exists && (!dr->has_user || user_may(dr, &ust, W_OK | X_OK))) {
            say(dr, CK_OK, "store", NULL, "folder %s does not exist yet: the service creates "
                "it (mode 0700) in %s", dir, up);
            return;
        }
        errno = ENOENT;
    }
    if (!found || !S_ISDIR(st.st_mode)) {
        snprintf(fix, sizeof fix, "install -d -m 0700 -o %s -g %s %s", dr->user,
                 dr->has_user ? dr->group : dr->user, dir);
        say(dr, CK_FAIL, "store", fix, "the history store's folder %s: %s", dir,
            found ? "not a folder" : strerror(errno));
        return;
    }
    unsigned mode = (unsigned)(st.st_mode & 07777);
    owner_name(st.st_uid, who, sizeof who);
    if (dr->has_user && !user_may(dr, &st, W_OK | X_OK)) {
        snprintf(fix, sizeof fix, "chown %s:%s %s && chmod 0700 %s", dr->pw.pw_name,
                 dr->group, dir, dir);
        say(dr, CK_FAIL, "store", fix, "the history store's folder %s is owned by %s (mode "
            "%04o): the service's user %s cannot create files in it", dir, who, mode,
            dr->pw.pw_name);
    } else if (st.st_mode & (S_IROTH | S_IXOTH)) {
        snprintf(fix, sizeof fix, "chmod 0700 %s", dir);
        say(dr, CK_WARN, "store", fix, "the history store's folder %s can be listed by every "
            "user (mode %04o, owner %s)", dir, mode, who);
    } else {
        say(dr, CK_OK, "store", NULL, "folder %s: owner %s, mode %04o", dir, who, mode);
    }
}

static void check_store(doctor *dr, const config *cfg)
{
    char dir[PATH_MAX], side[PATH_MAX + 8];
    snprintf(dir, sizeof dir, "%s", cfg->history_path);
    check_store_dir(dr, dirname(dir));
    check_store_file(dr, cfg->history_path, 1);
    snprintf(side, sizeof side, "%s-wal", cfg->history_path);
    check_store_file(dr, side, 0);
    snprintf(side, sizeof side, "%s-shm", cfg->history_path);
    check_store_file(dr, side, 0);
}

/* A file of secrets: needed says whether the service's user must read it itself. */
static void check_secret(doctor *dr, const char *what, const char *path, int needed)
{
    struct stat st;
    char fix[PATH_MAX * 2 + 128], who[64];
    if (stat(path, &st) != 0) {
        if (!needed && errno == ENOENT) {
            say(dr, CK_OK, "secrets", NULL, "%s %s: none", what, path);
            return;
        }
        snprintf(fix, sizeof fix, "write the password into %s (chmod 0640, group %s)", path,
                 dr->user);
        say(dr, CK_FAIL, "secrets", fix, "%s %s: %s", what, path, strerror(errno));
        return;
    }
    unsigned mode = (unsigned)(st.st_mode & 07777);
    owner_name(st.st_uid, who, sizeof who);
    if (needed && dr->has_user && !user_may(dr, &st, R_OK)) {
        snprintf(fix, sizeof fix, "chown root:%s %s && chmod 0640 %s", dr->group, path, path);
        say(dr, CK_FAIL, "secrets", fix, "%s %s (owner %s, mode %04o) cannot be read by the "
            "service's user %s", what, path, who, mode, dr->pw.pw_name);
    } else if (st.st_mode & S_IROTH) {
        snprintf(fix, sizeof fix, "chmod 0640 %s", path);
        say(dr, CK_WARN, "secrets", fix, "%s %s is readable by every user (mode %04o)", what,
            path, mode);
    } else {
        say(dr, CK_OK, "secrets", NULL, "%s %s: owner %s, mode %04o", what, path, who, mode);
    }
}

/* ------------------------------------------------------------------ the unit */

/* The unit file: --unit, else the first of the places systemd reads it from. */
static const char *find_unit(const char *given)
{
    static const char *const places[] = {
        "/etc/systemd/system/reconciler.service",
        "/usr/local/lib/systemd/system/reconciler.service",
        "/lib/systemd/system/reconciler.service",
        "/usr/lib/systemd/system/reconciler.service",
    };
    if (given)
        return given;
    for (size_t i = 0; i < sizeof places / sizeof places[0]; i++)
        if (access(places[i], R_OK) == 0)
            return places[i];
    return NULL;
}

/*
 * The value of the unit's last KEY= line (malloc'd), or NULL. For EnvironmentFile= the
 * "-" that makes the file optional is dropped.
 */
static char *unit_value(const char *unit, const char *key)
{
    FILE *f = unit ? fopen(unit, "r") : NULL;
    char line[1024], *val = NULL;
    size_t klen = strlen(key);
    if (!f)
        return NULL;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, key, klen) != 0 || line[klen] != '=')
            continue;
        char *v = line + klen + 1;
        v[strcspn(v, "\r\n")] = '\0';
        if (*v == '-')
            v++;
        free(val);
        val = xstrdup(v);
    }
    fclose(f);
    return val;
}

/* Run argv with stdout and stderr into out (malloc'd): its exit status, or -1. */
static int capture(char *const *argv, char **out)
{
    int fds[2], status = -1;
    pid_t pid;
    posix_spawn_file_actions_t fa;
    strbuf b = STRBUF_INIT;
    *out = NULL;
    if (pipe2(fds, O_CLOEXEC) != 0)
        return -1;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
    posix_spawn_file_actions_adddup2(&fa, fds[1], 2);
    int rc = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(fds[1]);
    if (rc == 0) {
        char buf[4096];
        ssize_t n;
        while ((n = read(fds[0], buf, sizeof buf)) > 0 || (n < 0 && errno == EINTR))
            if (n > 0)
                sb_printf(&b, "%.*s", (int)n, buf);
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
            ;
        status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    }
    close(fds[0]);
    *out = sb_take(&b);
    return status;
}

/* The unit's hardening, as systemd-analyze scores it: at most 2.0 is what the package ships. */
#define UNIT_EXPOSURE_MAX 2.0
static void check_unit(doctor *dr, const char *unit)
{
    char *out = NULL, fix[PATH_MAX + 128];
    if (!unit) {
        say(dr, CK_SKIP, "unit", NULL, "no reconciler.service in /etc/systemd/system, "
            "/usr/local/lib/systemd/system or /lib/systemd/system (--unit FILE names one)");
        return;
    }
    char *argv[] = { "systemd-analyze", "security", "--offline=true", (char *)unit, NULL };
    int rc = capture(argv, &out);
    const char *at = out ? strstr(out, "Overall exposure level") : NULL;
    const char *colon = at ? strchr(at, ':') : NULL;
    if (rc < 0 || !colon) {
        char first[200];
        snprintf(first, sizeof first, "%s", out ? out : "");
        first[strcspn(first, "\n")] = '\0';
        say(dr, CK_SKIP, "unit", NULL, "%s: systemd-analyze security --offline=true %s%s%s",
            unit, rc < 0 && !*first ? "cannot run here (systemd-analyze not found)" :
                                      "gave no exposure",
            *first ? ": " : "", first);
        free(out);
        return;
    }
    double exposure = util_strtod(colon + 1, NULL);
    snprintf(fix, sizeof fix, "restore the package's hardening in %s (systemctl cat reconciler; "
             "docs/operations.md)", unit);
    if (exposure > UNIT_EXPOSURE_MAX)
        say(dr, CK_WARN, "unit", fix, "%s: exposure %.1f in systemd-analyze security, above "
            "the package's %.1f", unit, exposure, UNIT_EXPOSURE_MAX);
    else
        say(dr, CK_OK, "unit", NULL, "%s: exposure %.1f (systemd-analyze security, at most "
            "%.1f)", unit, exposure, UNIT_EXPOSURE_MAX);
    free(out);
}

/* ------------------------------------------------------------------ the environment */

/* Names set by the unit: its Environment= assignments and its EnvironmentFile= lines. */
typedef struct env_names {
    char **v;
    size_t n, cap;
} env_names;

static void env_add(env_names *e, const char *name, size_t len)
{
    if (!len)
        return;
    if (e->n == e->cap) {
        e->cap = e->cap ? e->cap * 2 : 16;
        e->v = xrealloc(e->v, e->cap * sizeof *e->v);
    }
    e->v[e->n++] = xstrndup(name, len);
}

static int env_has(const env_names *e, const char *name)
{
    for (size_t i = 0; i < e->n; i++)
        if (strcmp(e->v[i], name) == 0)
            return 1;
    return 0;
}

/*
 * Read the names, never the values: Environment=A=1 "B=2 3" lines of the unit and
 * KEY=VALUE lines of its environment file (# and ; start comments, as systemd reads them).
 */
static void env_read(env_names *e, const char *unit, const char *env_file)
{
    char line[4096];
    FILE *f = unit ? fopen(unit, "r") : NULL;
    while (f && fgets(line, sizeof line, f)) {
        if (strncmp(line, "Environment=", 12) != 0)
            continue;
        for (char *p = line + 12; *p && *p != '\n';) {
            while (*p == ' ' || *p == '\t')
                p++;
            char quote = *p == '"' || *p == '\'' ? *p++ : 0;
            env_add(e, p, strcspn(p, "="));
            while (*p && *p != '\n' && (quote ? *p != quote : *p != ' '))
                p++;
            if (quote && *p == quote)
                p++;
        }
    }
    if (f)
        fclose(f);
    f = env_file ? fopen(env_file, "r") : NULL;
    while (f && fgets(line, sizeof line, f)) {
        char *p = line + strspn(line, " \t");
        if (*p == '#' || *p == ';' || !strchr(p, '='))
            continue;
        env_add(e, p, strcspn(p, "= \t"));
    }
    if (f)
        fclose(f);
}

/* What check_var needs for each variable the file names. */
typedef struct var_check {
    doctor *dr;
    const env_names *e;
    const char *where;
} var_check;

static void check_var(void *user, const char *key, const char *var)
{
    const var_check *vc = user;
    char fix[512];
    if (env_has(vc->e, var)) {
        say(vc->dr, CK_OK, "variables", NULL, "%s: %s is set for the service", key, var);
        return;
    }
    snprintf(fix, sizeof fix, "add %.128s=... to %.256s", var, vc->where);
    say(vc->dr, CK_WARN, "variables", fix, "%s names %s, which the unit does not set (neither "
        "Environment= nor its EnvironmentFile=)", key, var);
}

/*
 * The variables the file names (the key table's CFG_ENVNAME keys), against
 * the service's environment as the unit sets it.
 */
static void check_environment(doctor *dr, const config *cfg, const char *unit,
                              const char *env_file)
{
    env_names e = { 0 };
    if (!unit) {
        say(dr, CK_SKIP, "variables", NULL, "no unit: the service's environment is not "
            "known here (validate checks this shell's)");
        return;
    }
    env_read(&e, unit, env_file);
    /* Where to add one: the unit's environment file, else an Environment= of the unit. */
    var_check vc = { dr, &e, env_file ? env_file : unit };
    if (config_each_env_name(cfg, check_var, &vc) == 0)
        say(dr, CK_OK, "variables", NULL, "the pipeline file names no variable");
    for (size_t i = 0; i < e.n; i++)
        free(e.v[i]);
    free(e.v);
}

/* ------------------------------------------------------------------ the database */

/* The privileges checked: what the core and the steps' writes use. */
enum { P_SELECT = 1, P_INSERT = 2, P_UPDATE = 4, P_DELETE = 8 };
static const char *const priv_names[] = { "SELECT", "INSERT", "UPDATE", "DELETE" };

typedef struct need {
    char table[65];
    unsigned privs;
    char why[160];
} need;

typedef struct needs {
    need *v;
    size_t n, cap;
} needs;

static void need_add(needs *ns, const char *table, unsigned privs, const char *why)
{
    for (size_t i = 0; i < ns->n; i++)
        if (strcmp(ns->v[i].table, table) == 0) {
            ns->v[i].privs |= privs;
            size_t len = strlen(ns->v[i].why);
            if (!strstr(ns->v[i].why, why) && len + strlen(why) + 3 < sizeof ns->v[i].why)
                snprintf(ns->v[i].why + len, sizeof ns->v[i].why - len, ", %s", why);
            return;
        }
    if (ns->n == ns->cap) {
        ns->cap = ns->cap ? ns->cap * 2 : 16;
        ns->v = xrealloc(ns->v, ns->cap * sizeof *ns->v);
    }
    need *nd = &ns->v[ns->n++];
    snprintf(nd->table, sizeof nd->table, "%s", table);
    nd->privs = privs;
    snprintf(nd->why, sizeof nd->why, "%s", why);
}

/* One grant of SHOW GRANTS: privileges on db.table ("*" for any). */
typedef struct grant {
    char db[129], table[129];
    unsigned privs;
} grant;

typedef struct grants {
    grant *v;
    size_t n, cap;
    int unparsed;
} grants;

/* `name` or name into out: the next identifier at *p, which moves past it. */
static void take_ident(const char **p, char *out, size_t n)
{
    size_t k = 0;
    const char *s = *p;
    if (*s == '`') {
        for (s++; *s && !(*s == '`' && s[1] != '`'); s++) {
            if (*s == '`')
                s++; /* `` inside a quoted name */
            if (k + 1 < n)
                out[k++] = *s;
        }
        if (*s == '`')
            s++;
    } else {
        for (; *s && *s != '.' && *s != ' '; s++)
            if (k + 1 < n)
                out[k++] = *s;
    }
    out[k] = '\0';
    *p = s;
}

/* Parse "GRANT priv, priv (cols) ON `db`.`t` TO ..."; roles and routines grant no table. */
static void grant_parse(grants *gs, const char *line)
{
    if (strncmp(line, "GRANT ", 6) != 0)
        return;
    const char *on = strstr(line, " ON ");
    if (!on)
        return; /* GRANT role TO user */
    grant g = { .privs = 0 };
    char list[1024];
    snprintf(list, sizeof list, "%.*s", (int)(on - line - 6), line + 6);
    if (strncmp(list, "ALL", 3) == 0)
        g.privs = P_SELECT | P_INSERT | P_UPDATE | P_DELETE;
    char *save = NULL;
    for (char *t = strtok_r(list, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        while (*t == ' ')
            t++;
        /* A column privilege ("UPDATE (status)") counts as the table's: the statements'
         * columns are not known here. */
        for (size_t i = 0; i < 4; i++) {
            size_t l = strlen(priv_names[i]);
            if (strncmp(t, priv_names[i], l) == 0 && (t[l] == '\0' || t[l] == ' '))
                g.privs |= 1u << i;
        }
    }
    const char *p = on + 4;
    if (strncmp(p, "PROCEDURE ", 10) == 0 || strncmp(p, "FUNCTION ", 9) == 0 ||
        strncmp(p, "PACKAGE ", 8) == 0)
        return;
    take_ident(&p, g.db, sizeof g.db);
    if (*p != '.') {
        gs->unparsed++;
        return;
    }
    p++;
    take_ident(&p, g.table, sizeof g.table);
    if (gs->n == gs->cap) {
        gs->cap = gs->cap ? gs->cap * 2 : 8;
        gs->v = xrealloc(gs->v, gs->cap * sizeof *gs->v);
    }
    gs->v[gs->n++] = g;
}

/* MariaDB's database-level grants match by LIKE (app\_% ); \ escapes. */
static int like(const char *pat, const char *s)
{
    for (; *pat; pat++, s++) {
        if (*pat == '%') {
            for (const char *t = s;; t++) {
                if (like(pat + 1, t))
                    return 1;
                if (!*t)
                    return 0;
            }
        }
        if (!*s)
            return 0;
        if (*pat == '\\' && pat[1])
            pat++;
        else if (*pat == '_')
            continue;
        if (*pat != *s)
            return 0;
    }
    return *s == '\0';
}

static unsigned granted(const grants *gs, const char *dbname, const char *table)
{
    unsigned privs = 0;
    for (size_t i = 0; i < gs->n; i++) {
        const grant *g = &gs->v[i];
        int db_ok = strcmp(g->db, "*") == 0 || like(g->db, dbname);
        int t_ok = strcmp(g->table, "*") == 0 || strcmp(g->table, table) == 0;
        if (db_ok && t_ok)
            privs |= g->privs;
    }
    return privs;
}

static int grant_row(void *user, const rc_value *cols, size_t n)
{
    /* The line may carry the password's hash: parsed here, never printed. */
    if (n >= 1 && cols[0].type == RC_TEXT)
        grant_parse(user, cols[0].s);
    return 0;
}

static int change_row(void *user, const rc_value *cols, size_t n)
{
    char why[160];
    if (n < 2 || cols[0].type != RC_TEXT || cols[1].type != RC_TEXT)
        return 0;
    snprintf(why, sizeof why, "step %.60s", cols[0].s);
    /* Change records are made for UPDATEs, whose WHERE reads the table too. */
    need_add(user, cols[1].s, P_SELECT | P_UPDATE, why);
    return 0;
}

/* What the core's own statements use (core/db/lock.c, jobstate.c, changes.c, run.c). */
static void core_needs(needs *ns, const config *cfg)
{
    int records = 0;
    for (size_t i = 0; i < cfg->n_steps; i++)
        records |= cfg->steps[i].record_changes;
    need_add(ns, "reconciler_locks", P_SELECT | P_INSERT | P_UPDATE, "the run lock");
    need_add(ns, "reconciler_job_slots", P_SELECT | P_INSERT | P_UPDATE | P_DELETE,
             "the jobs' slots");
    need_add(ns, "reconciler_job_pauses", P_SELECT | P_INSERT | P_UPDATE, "pause and resume");
    need_add(ns, "processing_job_logs", P_INSERT, "each run's log row");
    need_add(ns, "schema_migrations", P_SELECT, "the migrations' check");
    if (records) {
        need_add(ns, "reconciler_change_sets", P_SELECT | P_INSERT | P_UPDATE | P_DELETE,
                 "change records, their keying and pruning");
        need_add(ns, "reconciler_change_keys", P_SELECT | P_INSERT | P_DELETE,
                 "change records' keying and pruning");
    }
}

static void privs_text(unsigned privs, char *out, size_t n)
{
    size_t k = 0;
    out[0] = '\0';
    for (size_t i = 0; i < 4; i++)
        if (privs & (1u << i))
            k += (size_t)snprintf(out + k, k < n ? n - k : 0, "%s%s", k ? ", " : "",
                                  priv_names[i]);
}

static void check_grants_mysql(doctor *dr, const config *cfg, db *d, const db_url *u)
{
    grants gs = { 0 };
    needs ns = { 0 };
    char fix[512], have[64], miss[64];
    if (db_query(d, "SHOW GRANTS", NULL, 0, grant_row, &gs) != 0) {
        say(dr, CK_WARN, "grants", "run doctor as a user that may run SHOW GRANTS",
            "SHOW GRANTS failed: %s", db_errmsg(d));
        return;
    }
    core_needs(&ns, cfg);
    /* The tables the steps' declared changes were recorded for (migration 009); a database
     * without that table yet has none to tell. */
    (void)db_query(d, "SELECT DISTINCT step, table_name FROM reconciler_change_sets", NULL, 0,
                   change_row, &ns);
    size_t missing = 0;
    for (size_t i = 0; i < ns.n; i++) {
        unsigned got = granted(&gs, u->database, ns.v[i].table);
        unsigned lack = ns.v[i].privs & ~got;
        if (!lack)
            continue;
        missing++;
        privs_text(lack, miss, sizeof miss);
        privs_text(got & ns.v[i].privs, have, sizeof have);
        snprintf(fix, sizeof fix, "GRANT %s ON `%s`.`%s` TO '%s'@'...'", miss, u->database,
                 ns.v[i].table, u->user ? u->user : "USER");
        say(dr, CK_FAIL, "grants", fix, "table %s lacks %s for %s (granted: %s)",
            ns.v[i].table, miss, ns.v[i].why, *have ? have : "none of them");
    }
    if (!missing)
        say(dr, CK_OK, "grants", NULL, "%s has what the core and the steps' recorded changes "
            "use on %zu tables of %s", u->user ? u->user : "the user", ns.n, u->database);
    free(gs.v);
    free(ns.v);
}

static void check_sqlite_file(doctor *dr, const db_url *u)
{
    struct stat st;
    char fix[PATH_MAX * 2 + 64], dir[PATH_MAX], who[64];
    snprintf(dir, sizeof dir, "%s", u->path);
    dirname(dir);
    if (stat(u->path, &st) != 0) {
        say(dr, CK_FAIL, "grants", "check database.url", "%s: %s", u->path, strerror(errno));
        return;
    }
    owner_name(st.st_uid, who, sizeof who);
    struct stat dst;
    if (dr->has_user && !user_may(dr, &st, R_OK | W_OK)) {
        snprintf(fix, sizeof fix, "chown %s %s", dr->pw.pw_name, u->path);
        say(dr, CK_FAIL, "grants", fix, "the database file %s (owner %s, mode %04o) cannot "
            "be written by %s", u->path, who, (unsigned)(st.st_mode & 07777), dr->pw.pw_name);
    } else if (dr->has_user && stat(dir, &dst) == 0 && !user_may(dr, &dst, W_OK | X_OK)) {
        snprintf(fix, sizeof fix, "chown %s %s", dr->pw.pw_name, dir);
        say(dr, CK_FAIL, "grants", fix, "the database's folder %s cannot be written by %s "
            "(SQLite writes its journal beside the file)", dir, dr->pw.pw_name);
    } else {
        say(dr, CK_OK, "grants", NULL, "the database file %s can be written (owner %s, mode "
            "%04o)", u->path, who, (unsigned)(st.st_mode & 07777));
    }
}

static void show_none(void *user, const migration *m, const char *applied_at)
{
    strbuf *pending = user;
    if (!applied_at)
        sb_printf(pending, "%s%s", pending->len ? ", " : "", m->name);
}

static void check_database(doctor *dr, const config *cfg)
{
    static const connect_timeouts t = { 5, 5, 5, 1000 };
    db_url u = { 0 };
    db *d = NULL;
    char err[2048], fix[PATH_MAX + 64];
    strbuf pending = STRBUF_INIT;
    if (connect_parse_url(cfg, &u, err, sizeof err) != EXIT_OK) {
        say(dr, CK_FAIL, "database", "correct database.url", "%s", err);
        goto out;
    }
    if (connect_open(cfg, &t, &d, err, sizeof err) != EXIT_OK) {
        say(dr, CK_FAIL, "database", "check database.url, the password source and that the "
            "server runs", "%s", err);
        goto out;
    }
    say(dr, CK_OK, "database", NULL, "%s answers (%s)",
        u.kind == DB_MYSQL ? (u.host ? u.host : u.socket ? u.socket : "localhost") : u.path,
        db_driver_name(d));
    int n = migrate_status(d, show_none, &pending, err, sizeof err);
    snprintf(fix, sizeof fix, "reconciler migrate -c %s", cfg->path);
    if (n < 0)
        say(dr, CK_FAIL, "migrations", fix, "cannot read them: %s", err);
    else if (n > 0)
        say(dr, CK_FAIL, "migrations", fix, "%d pending: %s", n, pending.s);
    else
        say(dr, CK_OK, "migrations", NULL, "all applied");
    if (u.kind == DB_MYSQL)
        check_grants_mysql(dr, cfg, d, &u);
    else
        check_sqlite_file(dr, &u);

    /* The statements each step prepares, compiled by the database as validate --db has
     * them: MariaDB checks the user's privileges on every table they name. */
    pipeline *p = NULL;
    int crashed = 0;
    if (supervise_inspect(cfg, 0, 1, &p, &crashed, err, sizeof err) != EXIT_OK)
        say(dr, CK_FAIL, "statements", "grant what the message names, or correct the step",
            "%s", err);
    else
        say(dr, CK_OK, "statements", NULL, "every step's prepared statements compile (%zu "
            "step%s)", p->n, p->n == 1 ? "" : "s");
    pipeline_free(p);
out:
    sb_free(&pending);
    db_close(d);
    db_url_free(&u);
}

/* ------------------------------------------------------------------ the command */

static const char doctor_help[] =
    "Usage: reconciler doctor [--user NAME] [--unit FILE] [--json] [-c FILE] [--db URL]\n"
    "Check an installed system as the service will meet it, one line per check\n"
    "(ok, warn, FAIL or skip) with a fix: the history store and its folder owned by\n"
    "and writable for the service's user and not readable by others; the password\n"
    "file and the unit's EnvironmentFile= likewise; the unit's exposure in\n"
    "`systemd-analyze security --offline=true` (skipped without it); every\n"
    "variable the file names (database.password_env, http.token_env, ...) set by\n"
    "the unit (Environment=, EnvironmentFile=); the database\n"
    "answers; no migration pending; the grants the core's statements and the steps'\n"
    "recorded changes need (MariaDB: SHOW GRANTS; SQLite: the file is writable);\n"
    "every step's prepared statements compile.\n"
    "Exit 0 when no check failed (warnings allowed), 1 when one did, 2 for a bad\n"
    "option or pipeline file.\n\n"
    "      --user NAME      the service's user (default: the unit's User=, else\n"
    "                       reconciler)\n"
    "      --unit FILE      the systemd unit (default: reconciler.service where\n"
    "                       systemd looks)\n"
    "      --json           {checks: [{check, status, detail, fix}], failed, warnings}\n"
    CLI_COMMON_HELP;

int cmd_doctor(int argc, char **argv)
{
    enum { OPT_USER = 2000, OPT_UNIT, OPT_JSON };
    static const struct option longopts[] = {
        { "user", required_argument, NULL, OPT_USER },
        { "unit", required_argument, NULL, OPT_UNIT },
        { "json", no_argument, NULL, OPT_JSON },
        CLI_COMMON_LONGOPTS,
        { NULL, 0, NULL, 0 }
    };
    cli_common common = { 0 };
    doctor dr = { 0 };
    config *cfg = NULL;
    const char *unit_arg = NULL;
    char *unit_user = NULL, *env_file = NULL, *unit_env = NULL;
    int ch, rc;

    optind = 1;
    while ((ch = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
        if (cli_common_opt(ch, optarg, &common))
            continue;
        switch (ch) {
        case OPT_USER: dr.user = optarg; break;
        case OPT_UNIT: unit_arg = optarg; break;
        case OPT_JSON: dr.as_json = 1; break;
        case 'h': fputs(doctor_help, stdout); return EXIT_OK;
        default: fputs(doctor_help, stderr); return EXIT_USAGE;
        }
    }
    if (optind < argc) {
        cli_error("unexpected argument '%s'", argv[optind]);
        return EXIT_USAGE;
    }
    if (unit_arg && access(unit_arg, R_OK) != 0) {
        cli_error("doctor: --unit %s: %s", unit_arg, strerror(errno));
        return EXIT_USAGE;
    }
    if ((rc = cli_load_config(&common, 1, &cfg)) != EXIT_OK)
        return rc;
    const char *unit = find_unit(unit_arg);
    unit_user = unit_value(unit, "User");
    if (!dr.user)
        dr.user = unit_user && *unit_user ? unit_user : "reconciler";
    dr.checks = jx(json_array());

    check_user(&dr);
    check_store(&dr, cfg);
    if (cfg->db_password_file)
        check_secret(&dr, "database.password_file", cfg->db_password_file, 1);
    /* systemd reads EnvironmentFile= as root, before it drops to User=: only others'
     * access matters. Without a unit, the one beside the default pipeline file. */
    unit_env = unit_value(unit, "EnvironmentFile");
    if (unit_env) {
        env_file = xstrdup(unit_env);
    } else {
        char dir[PATH_MAX];
        snprintf(dir, sizeof dir, "%s", rc_default_config);
        env_file = xasprintf("%s/reconciler.env", dirname(dir));
    }
    check_secret(&dr, "environment file", env_file, 0);
    check_unit(&dr, unit);
    check_environment(&dr, cfg, unit, unit_env);
    check_database(&dr, cfg);

    if (dr.as_json) {
        json_t *o = jx(json_pack("{s:O, s:i, s:i, s:s}", "checks", dr.checks, "failed",
                                 dr.n_fail, "warnings", dr.n_warn, "user", dr.user));
        char *text = json_dumps(o, JSON_INDENT(2));
        printf("%s\n", text ? text : "{}");
        free(text);
        json_decref(o);
    } else {
        printf("%d failed, %d warning%s\n", dr.n_fail, dr.n_warn, dr.n_warn == 1 ? "" : "s");
    }
    json_decref(dr.checks);
    free(unit_user);
    free(env_file);
    free(unit_env);
    config_free(cfg);
    return dr.n_fail ? EXIT_STEP_FAILED : EXIT_OK;
}
