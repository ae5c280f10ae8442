/* SPDX-License-Identifier: MIT */
/*
 * test_build.c - the build checks itself: tools/check-asan, which `make asan`
 * runs, refuses binaries built without the sanitizers (a planted one here),
 * and passes this very build exactly when it is the sanitizer build.
 */
#include "helpers.h"

#include <stdlib.h>
#include <string.h>

static int check_asan(const char *dir, char **err)
{
    const char *args[] = { dir, NULL };
    return th_run_prog("tools/check-asan", args, NULL, NULL, err);
}

Test(build, check_asan_refuses_an_unsanitized_build)
{
    char cmd[1024], *err = NULL;
    const char *d = th_tmpdir();
    snprintf(cmd, sizeof cmd, "mkdir -p %s/fake/tests %s/fake/plugins && cp /bin/true %s/fake/reconciler "
             "&& cp /bin/true %s/fake/tests/unit && cp /bin/true %s/fake/plugins/leases.so",
             d, d, d, d, d);
    cr_assert_eq(system(cmd), 0);
    char *fake = th_path(d, "fake");
    cr_assert_eq(check_asan(fake, &err), 1, "%s", err);
    cr_assert(strstr(err, "fake/reconciler has no AddressSanitizer symbols"), "%s", err);
    cr_assert(strstr(err, "fake/plugins/leases.so has no UndefinedBehaviorSanitizer"), "%s", err);
    free(err);
    free(fake);
}

Test(build, this_build_is_sanitized_exactly_when_it_should_be)
{
    char *err = NULL;
    int rc = check_asan(th_build(), &err);
#ifdef __SANITIZE_ADDRESS__
    cr_assert_eq(rc, 0, "the sanitizer build lacks sanitizers: %s", err);
#else
    cr_assert_eq(rc, 1, "a plain build passed check-asan: %s", err);
#endif
    free(err);
}
