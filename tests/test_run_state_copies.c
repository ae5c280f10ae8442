/* SPDX-License-Identifier: MIT */
/*
 * test_run_state_copies.c - what the run state hands the HTTP threads is
 * their own: the last result (in brief, whole, per job) is a deep copy,
 * never a reference into the result the next run's record frees on the job
 * thread (make tsan: /v1/service/state's dump raced with that free, since
 * jansson's reference counts do not order it).
 */
#include "helpers.h"
#include "service/run_state.h"
#include "base/json.h"

static json_t *result(int64_t id, const char *status)
{
    return jx(json_pack("{s:I, s:s, s:s, s:b, s:s, s:I, s:s, s:[]}", "runId", (json_int_t)id,
                        "status", status, "trigger", "scheduled", "dryRun", 0, "timestamp",
                        "2030-01-01T00:00:00.000Z", "durationMs", (json_int_t)5, "job", "reconcile",
                        "steps"));
}

/* Is v one of r's values (recursively)? true, false and null are jansson's singletons. */
static int shares(const json_t *v, const json_t *r)
{
    if (v == r && !json_is_boolean(v) && !json_is_null(v))
        return 1;
    const char *k;
    json_t *m;
    json_object_foreach((json_t *)r, k, m)
        if (shares(v, m))
            return 1;
    size_t i;
    json_array_foreach(r, i, m)
        if (shares(v, m))
            return 1;
    return 0;
}

static int any_shared(const json_t *out, const json_t *r)
{
    if (shares(out, r))
        return 1;
    const char *k;
    json_t *m;
    json_object_foreach((json_t *)out, k, m)
        if (any_shared(m, r))
            return 1;
    return 0;
}

Test(run_state_copies, every_result_handed_out_is_a_copy)
{
    run_state rs;
    run_state_init(&rs, NULL, -1);
    run_state_record(&rs, result(1, "success"));
    const json_t *kept = rs.last_result;
    cr_assert_not_null(kept);

    json_t *brief = run_state_last_brief(&rs);
    cr_assert_eq(json_integer_value(json_object_get(brief, "runId")), 1);
    cr_assert_str_eq(json_string_value(json_object_get(brief, "status")), "success");
    cr_assert_not(any_shared(brief, kept), "the brief holds a value of the kept result");

    run_stats st;
    json_t *last = NULL;
    run_state_stats(&rs, &st, &last);
    cr_assert_not_null(last);
    cr_assert_not(any_shared(last, kept), "run_state_stats shares the kept result");

    run_job_stats js[RS_MAX_JOBS];
    size_t n = run_state_job_stats(&rs, js, RS_MAX_JOBS);
    cr_assert_eq(n, 1);
    cr_assert_not(any_shared(js[0].last_result, kept), "a job's last result is shared");

    /* The next run frees the kept one; the copies live on. */
    run_state_record(&rs, result(2, "failed"));
    cr_assert_str_eq(json_string_value(json_object_get(brief, "status")), "success");
    cr_assert_eq(json_integer_value(json_object_get(last, "runId")), 1);
    cr_assert_eq(json_integer_value(json_object_get(js[0].last_result, "runId")), 1);
    json_decref(brief);
    json_decref(last);
    json_decref(js[0].last_result);
    run_state_destroy(&rs);
}
