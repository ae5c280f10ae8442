/* SPDX-License-Identifier: MIT */
/*
 * proto.h - the supervisor and its step workers talk in lines of JSON over
 * pipes: one object per line (jansson never writes a raw newline inside one).
 * Reads are buffered and time out, so a supervisor can wait for a worker and
 * still keep its own deadlines.
 */
#ifndef RC_PROTO_H
#define RC_PROTO_H

#include <jansson.h>
#include <stddef.h>

/* The file descriptor a step worker writes its replies on (engine/worker.h). */
#define WORKER_REPLY_FD 3

/* The step worker's subcommand: internal, not in `reconciler --help`. */
#define WORKER_COMMAND "__worker"

/* A line reader on fd; zero it, set fd, use, then proto_in_free. */
typedef struct proto_in {
    int fd;
    char *buf;
    size_t len, cap;
    int eof;
    int too_long; /* the stream ended in a line longer than PROTO_MAX_LINE */
} proto_in;

/* Longest line accepted (a step's results, a pipeline file): larger is a broken peer. */
#define PROTO_MAX_LINE (16 * 1024 * 1024)

/*
 * The next message: 1 with *msg (new reference), 0 when nothing complete
 * arrived within timeout_ms (-1: wait as long as it takes; 0: only what is
 * already there), -1 at the end of the stream or on an error (a line that
 * is no JSON object, one too long: in->too_long).
 */
int proto_read(proto_in *in, json_t **msg, int timeout_ms);
void proto_in_free(proto_in *in);

/* Write msg (stolen) as one line. 0, or -1 when the peer is gone. */
int proto_write(int fd, json_t *msg);

/*
 * The protocol's version: the assignment's "v" and the worker's hello's.
 * Supervisor and worker are the same binary, so they differ only when a
 * test build points RECONCILER_WORKER at another; either side refuses a
 * message of another version, saying both.
 */
#define PROTO_VERSION 2

/*
 * Reading a message's fields, checked: each read names the field when it is
 * missing or of another JSON type, and the first such error sticks in err
 * (later reads return NULL / 0), so a reader checks err once at the end.
 * A missing field never reads as 0.
 */
typedef enum proto_type {
    PROTO_STRING,         /* const char * */
    PROTO_STRING_OR_NULL, /* const char * or NULL */
    PROTO_INT,
    PROTO_BOOL,
    PROTO_OBJECT,
    PROTO_ARRAY,
} proto_type;

typedef struct proto_reader {
    const json_t *msg;
    const char *what; /* "the assignment", "the step worker's hello": messages start with it */
    char err[512];    /* "" while every field read was there with its type */
} proto_reader;

/* The field at path ("clock.unix": a member of an object member), of type t; NULL
 * when absent and optional (no error), or when wrong (err set). */
json_t *proto_get(proto_reader *r, const char *path, proto_type t, int optional);
const char *proto_str(proto_reader *r, const char *path, int optional);
json_int_t proto_int(proto_reader *r, const char *path, int optional);
int proto_bool(proto_reader *r, const char *path, int optional);
/* "v" is PROTO_VERSION: else err "... speaks protocol version N; this reconciler speaks M". */
int proto_version_ok(proto_reader *r);

#endif
