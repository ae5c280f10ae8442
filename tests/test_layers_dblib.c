/* SPDX-License-Identifier: MIT */
/*
 * test_layers_dblib.c - tools/check-layers keeps the database client
 * libraries in core/db (db/library.h owns their set-up and tear-down): an
 * include of <mysql.h>, <mysql/...>, <mariadb/...> or <sqlite3.h> anywhere
 * else in core/, or in a tool linked with the core, fails with FILE:LINE; a
 * stand-alone tool (no core header, as tools/bench-worker.c) may.
 */
#include "helpers.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Write root/rel (rel's folders are made). */
static void plant(const char *root, const char *rel, const char *text)
{
    char *p = th_path(root, rel);
    for (char *s = p + strlen(root) + 1; (s = strchr(s, '/')); s++) {
        *s = '\0';
        cr_assert(mkdir(p, 0755) == 0 || errno == EEXIST, "mkdir %s: %s", p, strerror(errno));
        *s = '/';
    }
    th_write(p, text);
    free(p);
}

/* A tree whose db layer uses both libraries, and a stand-alone tool that uses one. */
static char *dblib_tree(const char *name)
{
    char *root = th_path(th_tmpdir(), name);
    cr_assert_eq(mkdir(root, 0755), 0, "mkdir %s: %s", root, strerror(errno));
    plant(root, "include/reconciler.h", "#define RECONCILER_H\n");
    plant(root, "core/base/util.h", "#include <stddef.h>\n");
    plant(root, "core/db/library.h", "#include \"base/util.h\"\n");
    plant(root, "core/db/library.c",
          "#include \"db/library.h\"\n#include <mysql.h>\n#include <sqlite3.h>\n");
    plant(root, "core/db/db_mysql.c", "#include <mariadb/errmsg.h>\n#include <mysql/errmsg.h>\n");
    plant(root, "core/cli/main.c", "#include \"db/library.h\"\n#include <stdio.h>\n");
    plant(root, "tools/bench-worker.c", "#include <stdio.h>\n#include <mysql.h>\n");
    return root;
}

static int check_layers(const char *root, char **out, char **err)
{
    const char *args[] = { root, NULL };
    return th_run_prog("tools/check-layers", args, NULL, out, err);
}

Test(layers_dblib, db_layer_and_standalone_tool_may)
{
    char *root = dblib_tree("dblib_ok"), *out, *err;
    cr_assert_eq(check_layers(root, &out, &err), 0, "stdout:\n%s\nstderr:\n%s", out, err);
    free(out); free(err); free(root);
}

Test(layers_dblib, elsewhere_is_refused)
{
    char *root = dblib_tree("dblib_bad"), *out, *err;
    plant(root, "core/cli/main.c", "#include \"db/library.h\"\n#include <stdio.h>\n#include <mysql.h>\n");
    plant(root, "core/base/util.c", "#include \"base/util.h\"\n# include <sqlite3.h>\n");
    plant(root, "core/base/err.c", "#include <mysql/errmsg.h>\n");
    plant(root, "tools/scenario_check.c", "#include \"db/library.h\"\n#include <mariadb/mysql.h>\n");
    plant(root, "plugins/orders.c", "#include <sqlite3.h>\n");
    cr_assert_eq(check_layers(root, &out, &err), 1, "stdout:\n%s\nstderr:\n%s", out, err);
    cr_assert(strstr(err, "core/cli/main.c:3: includes <mysql.h> outside core/db"), "%s", err);
    cr_assert(strstr(err, "core/base/util.c:2: includes <sqlite3.h> outside core/db"), "%s", err);
    cr_assert(strstr(err, "core/base/err.c:1: includes <mysql/errmsg.h> outside core/db"), "%s", err);
    cr_assert(strstr(err, "tools/scenario_check.c:2: includes <mariadb/mysql.h> outside core/db"),
              "%s", err);
    cr_assert(strstr(err, "plugins/orders.c:1: includes <sqlite3.h> outside core/db"), "%s", err);
    cr_assert(strstr(err, "check-layers: 5 problems"), "%s", err);
    free(out); free(err); free(root);
}
