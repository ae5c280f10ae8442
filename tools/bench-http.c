/* SPDX-License-Identifier: MIT */
/*
 * bench-http - concurrent GETs for `make bench`: CLIENTS threads, each
 * sending REQUESTS requests one after another to 127.0.0.1:PORT PATH (a new
 * connection each, Connection: close, as a scraper or a browser tab does),
 * timing each from connect to the answer's end.
 *
 *   bench-http PORT PATH CLIENTS REQUESTS [SECONDS]
 *
 * With SECONDS, each client also stops once that long has passed (to
 * hammer an endpoint for a fixed time). Prints one line:
 *   requests N errors E p50 X p99 Y max Z   (milliseconds)
 * An answer that is not 200 counts as an error (and in the times): past the
 * server's 32 connections it answers 503 to some (docs/http-api.md).
 */
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int g_port, g_requests;
static double g_until; /* monotonic ms; 0: no time limit */
static const char *g_path;

typedef struct client {
    pthread_t th;
    double *ms;     /* g_requests latencies */
    int n;          /* requests made */
    int src;        /* its loopback address's last byte */
    int errors;
} client;

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/*
 * One GET from 127.0.0.SRC (each client its own loopback address, as 50
 * people are 50 addresses: the server caps connections per address): 0
 * when the answer was a whole 200, else -1.
 */
static int get_once(int src)
{
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)g_port) };
    char req[512], buf[16384], head[16] = "";
    int fd = socket(AF_INET, SOCK_STREAM, 0), rc = -1;
    size_t got = 0;
    if (fd < 0)
        return -1;
    struct sockaddr_in from = { .sin_family = AF_INET };
    from.sin_addr.s_addr = htonl(0x7f000000u | (uint32_t)src);
    (void)bind(fd, (struct sockaddr *)&from, sizeof from);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int n = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                     "Connection: close\r\n\r\n", g_path);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) == 0 && write(fd, req, (size_t)n) == n) {
        ssize_t r;
        while ((r = read(fd, buf, sizeof buf)) > 0) {
            if (got < sizeof head - 1) {
                size_t k = (size_t)r < sizeof head - 1 - got ? (size_t)r : sizeof head - 1 - got;
                memcpy(head + got, buf, k);
                head[got + k] = '\0';
            }
            got += (size_t)r;
        }
        rc = r == 0 && strncmp(head, "HTTP/1.1 200", 12) == 0 ? 0 : -1;
    }
    close(fd);
    return rc;
}

static void *run_client(void *arg)
{
    client *c = arg;
    for (int i = 0; i < g_requests && (g_until == 0 || now_ms() < g_until); i++) {
        double t0 = now_ms();
        if (get_once(c->src) != 0)
            c->errors++;
        c->ms[c->n++] = now_ms() - t0;
    }
    return NULL;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    if (argc != 5 && argc != 6) {
        fprintf(stderr, "usage: bench-http PORT PATH CLIENTS REQUESTS [SECONDS]\n");
        return 2;
    }
    g_port = atoi(argv[1]);
    g_path = argv[2];
    int clients = atoi(argv[3]);
    g_requests = atoi(argv[4]);
    if (argc == 6)
        g_until = now_ms() + atof(argv[5]) * 1e3;
    if (g_port <= 0 || clients <= 0 || clients > 1000 || g_requests <= 0) {
        fprintf(stderr, "bench-http: bad arguments\n");
        return 2;
    }
    client *cs = calloc((size_t)clients, sizeof *cs);
    size_t total = (size_t)clients * (size_t)g_requests, k = 0;
    double *all = malloc(total * sizeof *all);
    int errors = 0, started = 0;
    if (!cs || !all)
        return 1;
    for (int i = 0; i < clients; i++) {
        cs[i].ms = all + (size_t)i * (size_t)g_requests;
        cs[i].src = 2 + i % 250;
        started += pthread_create(&cs[i].th, NULL, run_client, &cs[i]) == 0;
    }
    if (started != clients) {
        fprintf(stderr, "bench-http: only %d threads of %d\n", started, clients);
        return 1;
    }
    for (int i = 0; i < clients; i++) {
        pthread_join(cs[i].th, NULL);
        errors += cs[i].errors;
        /* Close the gaps a time limit left: the made requests side by side. */
        memmove(all + k, cs[i].ms, (size_t)cs[i].n * sizeof *all);
        k += (size_t)cs[i].n;
    }
    if (k == 0) {
        printf("requests 0 errors %d p50 0 p99 0 max 0\n", errors);
        return 0;
    }
    qsort(all, k, sizeof *all, cmp);
    printf("requests %zu errors %d p50 %.2f p99 %.2f max %.2f\n", k, errors, all[k / 2],
           all[(k * 99) / 100 < k ? (k * 99) / 100 : k - 1], all[k - 1]);
    free(all);
    free(cs);
    return 0;
}
