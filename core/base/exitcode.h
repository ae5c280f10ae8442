/* SPDX-License-Identifier: MIT */
/*
 * exitcode.h - the process exit codes, a contract with the bot that runs us
 * (docs/operations.md, "Exit codes"). Every layer that can decide one returns these.
 */
#ifndef RC_EXITCODE_H
#define RC_EXITCODE_H

enum {
    EXIT_OK = 0,          /* every step ok */
    EXIT_STEP_FAILED = 1, /* the run was partial or failed; doctor: a check failed */
    EXIT_USAGE = 2,       /* usage, pipeline file or plugin error */
    EXIT_DATABASE = 3,    /* database unreachable, or failed outside a step */
    EXIT_LOCKED = 4,      /* another instance holds the run lock */
    EXIT_LOCAL = 5,       /* the local history store failed */
    EXIT_SERVICE = 6      /* status/trigger/reload: the service cannot be reached through its API */
};

#endif
