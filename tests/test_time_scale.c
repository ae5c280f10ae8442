/* SPDX-License-Identifier: MIT */
/*
 * test_time_scale.c - TH_TIME_SCALE (tests/th_wait.h): the tests' deadlines
 * as a slower run (make tsan) allows them. Only whole numbers 1 to 20 count.
 */
#include "helpers.h"
#include "th_wait.h"

#include <stdlib.h>

Test(time_scale, a_whole_number_from_1_to_20_scales_deadlines)
{
    unsetenv("TH_TIME_SCALE");
    cr_assert_eq(th_ms(5000), 5000);
    setenv("TH_TIME_SCALE", "3", 1);
    cr_assert_eq(th_ms(5000), 15000);
    setenv("TH_TIME_SCALE", "20", 1);
    cr_assert_eq(th_time_scale(), 20);
    setenv("TH_TIME_SCALE", "1", 1);
    cr_assert_eq(th_ms(5000), 5000);
}

Test(time_scale, anything_else_is_1)
{
    const char *bad[] = { "", "0", "21", "-2", "2.5", "3x", "x" };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        setenv("TH_TIME_SCALE", bad[i], 1);
        cr_assert_eq(th_time_scale(), 1, "TH_TIME_SCALE=\"%s\"", bad[i]);
    }
    setenv("TH_TIME_SCALE", "20", 1);
    cr_assert_eq(th_ms(2000000000), 2147483647, "capped, not overflowed");
}
