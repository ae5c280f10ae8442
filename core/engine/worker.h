/* SPDX-License-Identifier: MIT */
/*
 * worker.h - a step worker: this same binary, started as `reconciler
 * __worker` by a supervisor (engine/supervisor.c) with fork + exec, so it
 * inherits no thread, lock or library state from the service.
 *
 * The protocol, lines of JSON (engine/proto.h):
 *   stdin  <- the assignment (what to run and how):
 *             {"v":PROTO_VERSION, "mode":"run"|"probe"|"inspect"|"describe",
 *             "config":{"path","text"}, "keys":{"values":{KEY:VALUE},"at":{KEY:[L,C]}}
 *             (the key table's CFG_WORKER keys, config_keys_json), "log":{"level",
 *             "format"}, "dryRun":bool, "clock":{"unix","offset","text","zone"}}
 *             and for a real run "lock":{"name","holder","ttlMs"}, "runId", "job";
 *             then commands: {"run":I} (pipeline step I) or {"probe":"NAME"}
 *             End of input: the worker exits 0. Each side checks the version and
 *             the JSON type of every field it reads (proto_reader): a field
 *             missing or of another type is refused with its name, never read as 0.
 *   fd 3   -> {"type":"hello","v":PROTO_VERSION,"pid":N,"connectionId":N}, then one reply per
 *             command: {"type":"step","index":I,"status":"ok"|"failed"|
 *             "interrupted","durationMs":N,"results":{...},"error":...} or
 *             {"type":"probe","name":...,"results":{...},"now":...,"error":...};
 *             a setup failure: {"type":"fatal","error":...} and exit 3.
 *             Before plugin code runs in modes inspect and describe:
 *             {"type":"at","plugin","path","what":"loading"|"check()"|
 *             "prepare()","step"}; then {"type":"inspected","code","error",
 *             "plugins":[descriptors],"probes":[names]} (inspect: the
 *             pipeline built and checked, "prepare":true also prepare()
 *             against the database), or per {"describe":PATH,"name":N}
 *             command {"type":"plugin","plugin"|"error"} (describe).
 *             A worker that dies of a fatal signal after a failed
 *             allocation under steps[].memory_limit first writes
 *             {"type":"oom"}.
 *   stdout and stderr go to the supervisor's stderr (the log).
 * SIGTERM or SIGINT make interrupted() true: the step returns at its next
 * chunk. The worker dies with its supervisor (PR_SET_PDEATHSIG). It leads
 * its own process group, which the supervisor kills with it, and its stdin
 * and fd 3 are close-on-exec: a process a plugin starts holds neither pipe,
 * and is killed with the worker (the supervisor logs its pid).
 */
#ifndef RC_WORKER_H
#define RC_WORKER_H

#include "engine/proto.h"

/* The worker's whole life; returns its exit code. */
int worker_main(void);

#endif
