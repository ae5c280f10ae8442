/* SPDX-License-Identifier: MIT */
/* th_http.h - a test-only HTTP/1.1 client over plain sockets to 127.0.0.1. */
#ifndef RC_TH_HTTP_H
#define RC_TH_HTTP_H

#include <stddef.h>

/* status, the raw header lines ("K: V\r\n..." without the status line) and the body; malloc'd. */
typedef struct th_response {
    int status;
    char *headers;
    char *body;
} th_response;

/*
 * One request to 127.0.0.1:port with "Connection: close"; extra_headers NULL
 * or "K: V\r\n..."; body may be NULL (else sent with its Content-Length).
 * Returns 0, or -1 if it could not connect or no response came back (a
 * connection closed without an answer). Reads time out after 5 s.
 */
int th_http(int port, const char *method, const char *path, const char *extra_headers,
            const char *body, th_response *out);
/* The same with the raw request bytes, sent as they are. */
int th_http_raw(int port, const char *request, size_t len, th_response *out);
void th_response_free(th_response *r);

/* A socket connected to 127.0.0.1:port that has sent nothing, or -1. */
int th_connect(int port);
/* The same from local address src (any of 127.0.0.0/8, e.g. "127.0.0.2"): another client. */
int th_connect_from(int port, const char *src);

/* A GET of path sent on a connection of its own, to be answered later (or never): the
 * socket, which the caller reads and closes. Fails the test when it cannot connect. */
int th_send_get(int port, const char *path);

/*
 * Send request (raw bytes, NUL-terminated) on the open connection fd and
 * read one response, its body as long as its Content-Length says; fd stays
 * open (keep-alive). 0, or -1 if the connection closed before a whole
 * response came.
 */
int th_exchange(int fd, const char *request, th_response *out);

/* 1 if the server closed fd (end of file or reset) within ms milliseconds, else 0. */
int th_closed_within(int fd, int ms);

/*
 * A free TCP port on 127.0.0.1, reserved for this test process until it
 * exits (no other test of this or a parallel suite run gets it); -1 if none.
 */
int th_free_port(void);

/* "Name" header value from r->headers (malloc'd, case-insensitive name) or NULL. */
char *th_header(const th_response *r, const char *name);

#endif
