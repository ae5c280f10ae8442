/* SPDX-License-Identifier: MIT */
/* th_http.c - see th_http.h. */
#include "th_http.h"
#include "helpers.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

int th_connect_from(int port, const char *src)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    struct timeval tv = { 5, 0 };
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct sockaddr_in from = { .sin_family = AF_INET, .sin_port = 0 };
    if (src && (inet_pton(AF_INET, src, &from.sin_addr) != 1
                || bind(fd, (struct sockaddr *)&from, sizeof from) != 0)) {
        close(fd);
        return -1;
    }
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

int th_connect(int port)
{
    return th_connect_from(port, NULL);
}

int th_send_get(int port, const char *path)
{
    char req[256];
    int fd = th_connect(port);
    cr_assert_geq(fd, 0, "cannot connect to port %d", port);
    int n = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                     "Connection: close\r\n\r\n", path);
    cr_assert_eq(write(fd, req, (size_t)n), n);
    return fd;
}

/* Status line, headers and body from a whole response in buf (len bytes); 0 or -1. */
static int parse_response(const char *buf, th_response *out)
{
    const char *end = strstr(buf, "\r\n\r\n");
    if (!end || sscanf(buf, "HTTP/1.%*d %d", &out->status) != 1)
        return -1;
    const char *eol = strstr(buf, "\r\n");
    out->headers = strndup(eol + 2, (size_t)(end + 2 - (eol + 2)));
    out->body = strdup(end + 4);
    return 0;
}

int th_exchange(int fd, const char *request, th_response *out)
{
    memset(out, 0, sizeof *out);
    size_t len = strlen(request);
    for (size_t off = 0; off < len;) {
        ssize_t n = send(fd, request + off, len - off, MSG_NOSIGNAL);
        if (n <= 0)
            return -1;
        off += (size_t)n;
    }
    size_t cap = 4096, got = 0, want = 0;
    char *buf = malloc(cap);
    while (buf && (!want || got < want)) {
        if (cap - got < 2) {
            char *bigger = realloc(buf, cap *= 2);
            if (!bigger)
                free(buf);
            buf = bigger;
            if (!buf)
                break;
        }
        ssize_t n = recv(fd, buf + got, cap - got - 1, 0);
        if (n <= 0)
            break;
        got += (size_t)n;
        buf[got] = '\0';
        const char *end = strstr(buf, "\r\n\r\n");
        if (!want && end) {
            th_response head = { 0, NULL, NULL };
            char *hdr = strndup(buf, (size_t)(end + 4 - buf));
            char *clen = NULL;
            if (hdr && parse_response(hdr, &head) == 0)
                clen = th_header(&head, "Content-Length");
            want = (size_t)(end + 4 - buf) + (clen ? strtoul(clen, NULL, 10) : 0);
            free(clen);
            th_response_free(&head);
            free(hdr);
        }
    }
    int rc = buf && want && got >= want ? parse_response(buf, out) : -1;
    free(buf);
    return rc;
}

int th_closed_within(int fd, int ms)
{
    struct pollfd p = { .fd = fd, .events = POLLIN };
    if (poll(&p, 1, ms) <= 0)
        return 0;
    char c;
    ssize_t n = recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
    return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
}

int th_http_raw(int port, const char *request, size_t len, th_response *out)
{
    memset(out, 0, sizeof *out);
    int fd = th_connect(port);
    if (fd < 0)
        return -1;
    /* A server may answer and close before taking the whole request (413): read anyway. */
    for (size_t off = 0; off < len;) {
        ssize_t n = send(fd, request + off, len - off, MSG_NOSIGNAL);
        if (n <= 0)
            break;
        off += (size_t)n;
    }
    size_t cap = 4096, got = 0;
    char *buf = malloc(cap);
    ssize_t n;
    while (buf && (n = recv(fd, buf + got, cap - got - 1, 0)) > 0) {
        got += (size_t)n;
        if (cap - got < 2) {
            char *bigger = realloc(buf, cap *= 2);
            if (!bigger)
                free(buf);
            buf = bigger;
        }
    }
    close(fd);
    int rc = buf ? (buf[got] = '\0', parse_response(buf, out)) : -1;
    free(buf);
    return rc;
}

int th_http(int port, const char *method, const char *path, const char *extra_headers,
            const char *body, th_response *out)
{
    char *req = NULL;
    char clen[48] = "";
    if (body)
        snprintf(clen, sizeof clen, "Content-Length: %zu\r\n", strlen(body));
    int len = asprintf(&req,
                       "%s %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nConnection: close\r\n%s%s\r\n%s",
                       method, path, port, extra_headers ? extra_headers : "", clen,
                       body ? body : "");
    if (len < 0)
        return -1;
    int rc = th_http_raw(port, req, (size_t)len, out);
    free(req);
    return rc;
}

void th_response_free(th_response *r)
{
    free(r->headers);
    free(r->body);
    r->headers = r->body = NULL;
}

/* 1 when nothing listens on (or holds) 127.0.0.1:port. */
static int port_bindable(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int ok = fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0;
    if (fd >= 0)
        close(fd);
    return ok;
}

/*
 * Why not bind port 0 and hand that out: the port is free only until it is
 * closed, and in a suite run with -j2 (or two suites at once) another test's
 * service, or any outgoing connection, may take it before our service binds
 * it. So: ports below the kernel's ephemeral range (32768 and up by default:
 * no outgoing connection is given one), each reserved for this test process
 * by an flock on BUILD/tmp/ports/PORT that it holds until it exits, and
 * checked to be free of anything else on the machine.
 */
#define PORT_FIRST 20000
#define PORT_COUNT 10000

int th_free_port(void)
{
    static unsigned calls;
    char dir[PATH_MAX], path[PATH_MAX + 16];
    snprintf(dir, sizeof dir, "%s/tmp", th_build());
    mkdir(dir, 0755);
    snprintf(dir, sizeof dir, "%s/tmp/ports", th_build());
    mkdir(dir, 0755);
    unsigned start = ((unsigned)getpid() * 7919u + calls++ * 104729u) % PORT_COUNT;
    for (unsigned i = 0; i < PORT_COUNT; i++) {
        int port = PORT_FIRST + (int)((start + i) % PORT_COUNT);
        snprintf(path, sizeof path, "%s/%d", dir, port);
        int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
        if (fd < 0)
            return -1;
        if (flock(fd, LOCK_EX | LOCK_NB) == 0 && port_bindable(port))
            return port; /* fd stays open: the reservation lasts as long as this process */
        close(fd);
    }
    return -1;
}

char *th_header(const th_response *r, const char *name)
{
    size_t nlen = strlen(name);
    for (const char *line = r->headers; line && *line;) {
        const char *eol = strstr(line, "\r\n");
        if (!eol)
            break;
        if ((size_t)(eol - line) > nlen && strncasecmp(line, name, nlen) == 0
            && line[nlen] == ':') {
            const char *v = line + nlen + 1;
            while (*v == ' ')
                v++;
            return strndup(v, (size_t)(eol - v));
        }
        line = eol + 2;
    }
    return NULL;
}
